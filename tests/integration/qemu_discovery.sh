#!/usr/bin/env bash
# cost: 76 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Debian's QEMU: the daemon finds the VM with its -name and -uuid, both
# vCPUs with the right threads ("CPU n/KVM"), and vCPU 0's steal beside a
# CPU hog equals its thread's run_delay.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"

uuid=6c0ffee0-1234-4abc-8def-0123456789ab
spin_bios "$TMP/spin.bin"
bg qemu-system-x86_64 -enable-kvm -name guest=stt-qemu-a,debug-threads=on -uuid "$uuid" \
	-smp 2 -m 64 -display none -nodefaults -no-user-config -bios "$TMP/spin.bin"
qpid=$!

thread_of() { # "CPU n/KVM" -> tid
	local t
	for t in /proc/$qpid/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "CPU $1/KVM" ] && { basename "$t"; return 0; }
	done
	return 1
}
wait_for 10 thread_of 1 >/dev/null || fail "QEMU has no thread 'CPU 1/KVM'"
tid0=$(thread_of 0); tid1=$(thread_of 1)
taskset -pc 1 "$tid0" >/dev/null

start_daemon
wait_for 5 vm_json "$qpid" >/dev/null || fail "QEMU VM (pid $qpid) not in /v1/vms"
vm=$(vm_json "$qpid")
note "$vm"
[ "$(jq -r .name <<<"$vm")" = stt-qemu-a ] || fail "name: $(jq -r .name <<<"$vm")"
[ "$(jq -r .uuid <<<"$vm")" = "$uuid" ] || fail "uuid: $(jq -r .uuid <<<"$vm")"
[ "$(jq '.vcpus | length' <<<"$vm")" -eq 2 ] || fail "vCPU count"
# With a BIOS that never wakes the APs, vCPU 1 never enters KVM_RUN: the
# kernel knows no thread for it yet, and the API says tid 0.
wait_for 10 vms_hold ".vms[] | select(.pid == $qpid) | .vcpus[0].tid == $tid0 and (.vcpus[1].tid == $tid1 or .vcpus[1].tid == 0)" ||
	fail "vCPU threads: want $tid0 $tid1, got $(vm_json "$qpid" | jq -c '[.vcpus[].tid]')"

# QEMU with its own SeaBIOS wakes every vCPU: each is bound to its thread.
bg qemu-system-x86_64 -enable-kvm -name guest=stt-qemu-b,debug-threads=on -smp 2 -m 64 \
	-display none -nodefaults -no-user-config
qpid_b=$!
qpid_save=$qpid; qpid=$qpid_b
wait_for 10 thread_of 1 >/dev/null || fail "QEMU B has no thread 'CPU 1/KVM'"
b0=$(thread_of 0); b1=$(thread_of 1)
qpid=$qpid_save
wait_for 60 vms_hold ".vms[] | select(.pid == $qpid_b) | .vcpus[0].tid == $b0 and .vcpus[1].tid == $b1" ||
	fail "QEMU B vCPU threads: want $b0 $b1, got $(vm_json "$qpid_b" | jq -c '[.vcpus[].tid]')"
[ "$(vm_json "$qpid_b" | jq -r .name)" = stt-qemu-b ] || fail "QEMU B name"
kill "$qpid_b"
wait_for 10 sh -c "! curl -fsS $URL/v1/vms | jq -e '.vms[] | select(.pid == $qpid_b)' >/dev/null" ||
	fail "QEMU B still listed after it exited"

id=$(jq -r .id <<<"$vm")
jq_true "$(api "/v1/vms/$id")" '.name == "stt-qemu-a"' || fail "/v1/vms/$id"
# /metrics carries the VM's name as the vm label
curl -fsS "$URL/metrics" | grep -q "stealtime_vcpu_steal_seconds_total{.*vm=\"stt-qemu-a\"" ||
	fail "no steal series for stt-qemu-a in /metrics"

hog 1
sleep 2
for i in 1 2 3 4 5; do
	before=$(run_delay "$tid0")
	s=$(vm_json "$qpid" | jq -r '.vcpus[] | select(.index == 0) | .steal_ns')
	after=$(run_delay "$tid0")
	note "vCPU 0: run_delay $before .. $after, steal_ns $s"
	ns_between "$before" "$s" "$after" 1000000 || fail "steal_ns $s outside [$before, $after]"
	sleep 0.3
done
[ "$s" -gt 500000000 ] || fail "vCPU 0 steal $s ns beside a hog is too small"
echo "QEMU VM found with name, uuid, 2 vCPUs and their threads; steal matches run_delay"
