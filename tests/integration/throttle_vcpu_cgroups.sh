#!/usr/bin/env bash
# cost: 40 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Throttling read where the vCPU threads are, as libvirt lays them out on
# cgroup v2: VM/libvirt/{emulator,vcpu0,vcpu1} threaded, each vCPU thread of
# the test VMM in its vcpuN, its other threads in emulator, a 30% quota on
# vcpu0 only. The daemon's throttled time of vCPU 0 and of the VM is
# vcpu0's own cpu.stat throttled_usec (read just before and after), vCPU 1's
# is vcpu1's; moving vCPU 0's thread away and back, then the whole VMM to
# another cgroup, never makes a counter go down nor count vcpu0 twice.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf

cgroup2_cpu_root # R: libvirt's threaded vCPU cgroups are cgroup v2

VM=$R/stealtime-vm-$$
OTHER=$R/stealtime-other-$$
L=$VM/libvirt
remove_cgroups() {
	local d
	for d in "$L/vcpu0" "$L/vcpu1" "$L/vcpu0-moved" "$L/emulator" "$L" "$VM" "$OTHER"; do
		rmdir "$d" 2>/dev/null
	done
}
trap 'cleanup; sleep 0.2; remove_cgroups' EXIT
mkdir "$VM" "$L" "$OTHER" || fail "cannot create cgroups under $R"
echo +cpu >"$VM/cgroup.subtree_control" && echo +cpu >"$L/cgroup.subtree_control" ||
	fail "cannot enable the cpu controller in $VM"
for d in emulator vcpu0 vcpu1 vcpu0-moved; do
	mkdir "$L/$d" && echo threaded >"$L/$d/cgroup.type" || fail "cannot make $L/$d threaded"
done
echo "30000 100000" >"$L/vcpu0/cpu.max" || fail "cannot set a quota on vcpu0"

# throttled CGROUP -> its cpu.stat throttled_usec in ns
throttled() { awk '/^throttled_usec / {printf "%.0f\n", $2 * 1000}' "$1/cpu.stat"; }

start_daemon
start_testvmm --vcpus 2 --seconds 600
read -r tid0 tid1 <<<"$VMM_TIDS"
# as libvirt does: the process into emulator, then each vCPU thread into its vcpuN
echo "$VMM_PID" >"$L/emulator/cgroup.procs" || fail "cannot move the VMM into $L/emulator"
echo "$tid0" >"$L/vcpu0/cgroup.threads" && echo "$tid1" >"$L/vcpu1/cgroup.threads" ||
	fail "cannot move the vCPU threads into vcpu0 and vcpu1"
grep -q "::${L#"$R"}/vcpu0$" "/proc/$VMM_PID/task/$tid0/cgroup" || fail "vCPU 0's thread not in vcpu0"

vm_field() { vm_json "$VMM_PID" | jq -r "$1"; }
vcpu_throttled() { vm_field ".vcpus[] | select(.index == $1) | .throttled_ns"; }
wait_for 10 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus[0].throttled_ns != null and .vcpus[1].throttled_ns != null" ||
	fail "no per-vCPU throttled_ns for vCPUs in cgroups of their own: $(vm_json "$VMM_PID" | jq -c '[.throttled_ns, .cgroup, [.vcpus[].throttled_ns]]')"
sleep 3

# 1. vCPU 0 and the VM against vcpu0's own counter, vCPU 1 against vcpu1's
for i in 1 2 3; do
	b0=$(throttled "$L/vcpu0"); b1=$(throttled "$L/vcpu1")
	vm=$(vm_json "$VMM_PID")
	a0=$(throttled "$L/vcpu0"); a1=$(throttled "$L/vcpu1")
	v0=$(jq -r '.vcpus[] | select(.index == 0) | .throttled_ns' <<<"$vm")
	v1=$(jq -r '.vcpus[] | select(.index == 1) | .throttled_ns' <<<"$vm")
	total=$(jq -r .throttled_ns <<<"$vm")
	note "vcpu0 cpu.stat $b0..$a0 ns: vCPU 0 $v0, VM $total; vcpu1 cpu.stat $b1..$a1 ns: vCPU 1 $v1"
	[ "$b0" -gt 100000000 ] || fail "the quota on vcpu0 did not throttle ($b0 ns)"
	[ "$v0" != null ] && [ "$v0" -ge "$b0" ] && [ "$v0" -le "$a0" ] ||
		fail "vCPU 0 throttled_ns $v0 not within vcpu0's cpu.stat [$b0, $a0]"
	[ "$total" != null ] && [ "$total" -ge "$b0" ] && [ "$total" -le $((a0 + a1)) ] ||
		fail "VM throttled_ns $total not within [$b0, $((a0 + a1))] (vcpu0 and vcpu1)"
	[ "$v1" != null ] && [ "$v1" -ge "$b1" ] && [ "$v1" -le "$a1" ] ||
		fail "vCPU 1 throttled_ns $v1 not within vcpu1's cpu.stat [$b1, $a1]"
	sleep 0.5
done
[ "$(jq -r .cgroup <<<"$vm")" = "${VM#"$R"}" ] || fail "VM cgroup $(jq -r .cgroup <<<"$vm"), not ${VM#"$R"}"
id=$(jq -r .id <<<"$vm")
metrics=$(curl -fsS "$URL/metrics")
grep -E "^stealtime_vcpu_throttled_seconds_total\{.*vm_id=\"$id\",vcpu=\"0\"\} " <<<"$metrics" >/dev/null ||
	fail "no stealtime_vcpu_throttled_seconds_total series of vCPU 0"
grep -E "^stealtime_vm_throttled_seconds_total\{.*vm_id=\"$id\"\} " <<<"$metrics" >/dev/null ||
	fail "no stealtime_vm_throttled_seconds_total series"

# 2. sources change under the daemon (rescans each second): the counters only grow
last_vm=$total last_v0=$v0 scrapes=0
rescans() { curl -fsS "$URL/metrics" | awk '/^stealtime_daemon_rescans_total / {print $2}'; }
# scrape_through WHAT: scrape until two rescans have run since the change (the
# second one saw it whole) and at least 3 times; each value at least the last one
scrape_through() {
	local r0 end=$((SECONDS + 60)) n=0 t v
	r0=$(rescans)
	while [ $n -lt 3 ] || [ "$(rescans)" -lt $((r0 + 2)) ]; do
		[ $SECONDS -lt $end ] || fail "fewer than 2 rescans in 60 s after $1"
		vm=$(vm_json "$VMM_PID") || fail "VM gone from /v1/vms"
		t=$(jq -r .throttled_ns <<<"$vm")
		v=$(jq -r '.vcpus[] | select(.index == 0) | .throttled_ns' <<<"$vm")
		[ "$t" != null ] && [ "$t" -ge "$last_vm" ] || fail "VM throttled_ns went from $last_vm to $t ($1)"
		[ "$v" != null ] && [ "$v" -ge "$last_v0" ] || fail "vCPU 0 throttled_ns went from $last_v0 to $v ($1)"
		last_vm=$t last_v0=$v n=$((n + 1)) scrapes=$((scrapes + 1))
		sleep 0.2
	done
}
echo "$tid0" >"$L/vcpu0-moved/cgroup.threads" || fail "cannot move vCPU 0's thread to vcpu0-moved"
scrape_through "vCPU 0's thread moved to vcpu0-moved"
echo "$tid0" >"$L/vcpu0/cgroup.threads" || fail "cannot move vCPU 0's thread back to vcpu0"
scrape_through "vCPU 0's thread back in vcpu0"
sleep 1
scrape_through "vCPU 0's thread back in vcpu0"
after_back=$(throttled "$L/vcpu0")
note "after moving away and back: VM $last_vm ns, vCPU 0 $last_v0 ns, vcpu0 cpu.stat $after_back ns"
# vcpu0 counted once: all its throttling happened while the thread was in it
[ "$last_v0" -le "$after_back" ] && [ "$last_vm" -le $((after_back + $(throttled "$L/vcpu1"))) ] ||
	fail "vcpu0 counted twice: VM $last_vm, vCPU 0 $last_v0 > vcpu0's cpu.stat $after_back"
[ "$last_v0" -gt "$v0" ] || fail "vCPU 0 did not grow once back in vcpu0 ($v0 -> $last_v0)"
echo "$VMM_PID" >"$OTHER/cgroup.procs" || fail "cannot move the VMM to $OTHER"
scrape_through "the whole VMM moved to $OTHER"
note "after the VMM moved: VM $last_vm ns, vCPU 0 $last_v0 ns ($scrapes scrapes, none went down)"
[ "$(vm_field .cgroup)" = "${OTHER#"$R"}" ] || fail "VM cgroup $(vm_field .cgroup) after the move, not ${OTHER#"$R"}"
echo "throttled time read from the vCPU threads' cgroups, never decreasing"
