#!/usr/bin/env bash
# cost: 82 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Two QEMU VMs and a host CPU hog share one CPU: VM A's stolen_by names VM
# B and the hog process, with shares within 10 percentage points of what
# /proc says independently (run time of the competing threads over the same
# interval, from their schedstat).
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

spin_bios "$TMP/spin.bin"
qemu() { # NAME
	bg qemu-system-x86_64 -enable-kvm -name "guest=$1,debug-threads=on" -smp 1 -m 32 \
		-display none -nodefaults -no-user-config -bios "$TMP/spin.bin"
}
vcpu_thread() { # PID
	local t
	for t in /proc/$1/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 0/KVM" ] && { basename "$t"; return 0; }
	done
	return 1
}
qemu stt-attr-a; qa=$!
qemu stt-attr-b; qb=$!
wait_for 10 vcpu_thread "$qa" >/dev/null || fail "QEMU A has no vCPU thread"
wait_for 10 vcpu_thread "$qb" >/dev/null || fail "QEMU B has no vCPU thread"
ta=$(vcpu_thread "$qa"); tb=$(vcpu_thread "$qb")
# every thread of both QEMUs on CPU 1, with the hog
for t in /proc/$qa/task/* /proc/$qb/task/*; do taskset -pc 1 "$(basename "$t")" >/dev/null; done
hog 1; hogpid=$!

start_daemon
wait_for 10 vms_hold "[.vms[] | select(.pid == $qa or .pid == $qb) | .vcpus[0].tid] | all(. > 0) and length == 2" ||
	fail "QEMU VMs not bound"
ida=$(vm_json "$qa" | jq -r .id)
sleep 1

runtime() { awk '{print $1}' "/proc/$1/schedstat"; }
by() { # JSON KIND NAME -> ns
	jq -r --arg k "$2" --arg n "$3" '[.stolen_by[] | select(.kind == $k and .name == $n) | .ns] | add // 0' <<<"$1"
}
# A's run_delay read just before and after each reading of the daemon: a
# wait that ends in between (long ones, on a loaded host) is on one side
ba0=$(run_delay "$ta"); a0=$(api "/v1/vms/$ida"); rb0=$(runtime "$tb"); rh0=$(runtime "$hogpid"); ra0=$(run_delay "$ta")
sleep 4
ba1=$(run_delay "$ta"); a1=$(api "/v1/vms/$ida"); rb1=$(runtime "$tb"); rh1=$(runtime "$hogpid"); ra1=$(run_delay "$ta")

dB=$(( $(by "$a1" vm stt-attr-b) - $(by "$a0" vm stt-attr-b) ))
dH=$(( $(by "$a1" process bash) - $(by "$a0" process bash) ))
dAll=$(( $(jq '[.stolen_by[].ns] | add' <<<"$a1") - $(jq '[.stolen_by[].ns] | add' <<<"$a0") ))
pB=$(( rb1 - rb0 )); pH=$(( rh1 - rh0 )); lo=$(( ba1 - ra0 )); hi=$(( ra1 - ba0 ))
note "stolen_by over 4 s: B $dB ns, hog $dH ns, all $dAll ns; run_delay grew $lo to $hi ns"
note "/proc over 4 s: B ran $pB ns, hog ran $pH ns"
[ "$dAll" -gt 1000000000 ] || fail "only $dAll ns attributed in 4 s"
# attribution covers the waits: its total tracks run_delay growth
[ "$dAll" -ge $(( lo * 9 / 10 )) ] && [ "$dAll" -le $(( hi * 11 / 10 )) ] ||
	fail "attributed $dAll ns vs run_delay growth $lo to $hi ns"
shareB=$(( dB * 100 / dAll )); shareH=$(( dH * 100 / dAll ))
procB=$(( pB * 100 / (pB + pH) )); procH=$(( pH * 100 / (pB + pH) ))
note "shares: daemon B ${shareB}% hog ${shareH}%; /proc B ${procB}% hog ${procH}%"
[ $(( shareB > procB ? shareB - procB : procB - shareB )) -le 10 ] || fail "VM B's share ${shareB}% vs /proc ${procB}%"
[ $(( shareH > procH ? shareH - procH : procH - shareH )) -le 10 ] || fail "the hog's share ${shareH}% vs /proc ${procH}%"
# the culprit VM is named with its id
jq_true "$a1" '[.stolen_by[] | select(.kind == "vm" and .name == "stt-attr-b") | .vm_id] | .[0] | length > 0' ||
	fail "culprit VM has no vm_id"
curl -fsS "$URL/metrics" | grep -q "stealtime_vm_stolen_by_seconds_total{.*culprit=\"stt-attr-b\"" ||
	fail "/metrics has no stolen_by series for VM B"
echo "attribution: B ${shareB}% (proc ${procB}%), hog ${shareH}% (proc ${procH}%)"
