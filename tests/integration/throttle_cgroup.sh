#!/usr/bin/env bash
# cost: 30 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A VM whose VMM runs in a cgroup with a 30% CPU quota: the daemon's
# throttled time is the cgroup's own cpu.stat throttled time, and the
# steal it causes shows up in run_delay.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf

if [ -d /sys/fs/cgroup/cpu ] && [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
	CG=/sys/fs/cgroup/cpu/stealtime-test-$$
	mkdir "$CG" || skip "cannot create a cpu cgroup"
	echo 100000 >"$CG/cpu.cfs_period_us"; echo 30000 >"$CG/cpu.cfs_quota_us"
	throttled() { awk '/^throttled_time / {print $2}' "$CG/cpu.stat"; }
elif [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
	CG=/sys/fs/cgroup/stealtime-test-$$
	mkdir "$CG" || skip "cannot create a cgroup"
	echo "30000 100000" >"$CG/cpu.max"
	throttled() { awk '/^throttled_usec / {printf "%.0f\n", $2 * 1000}' "$CG/cpu.stat"; }
else
	skip "no cgroup cpu controller to set a quota with"
fi
trap 'cleanup; sleep 0.2; rmdir "$CG" 2>/dev/null' EXIT

start_daemon
start_testvmm --vcpus 2 --seconds 600
echo "$VMM_PID" >"$CG/cgroup.procs" || fail "cannot move the VMM into $CG"
# cgroup v1 moves one thread at a time (v2 moved them all with the process)
[ -e "$CG/tasks" ] && for t in /proc/$VMM_PID/task/*; do echo "$(basename "$t")" 2>/dev/null >"$CG/tasks"; done
sleep 3
before=$(throttled)
vm=$(vm_json "$VMM_PID")
after=$(throttled)
got=$(jq -r .throttled_ns <<<"$vm")
note "cgroup $(jq -r .cgroup <<<"$vm"): cpu.stat throttled $before..$after ns, API $got ns"
[ "$got" != null ] || fail "API has no throttled_ns for a VM in a quota cgroup"
[ "$before" -gt 100000000 ] || fail "the quota did not throttle ($before ns)"
[ "$got" -ge "$before" ] && [ "$got" -le "$after" ] || fail "throttled_ns $got not within cpu.stat [$before, $after]"
[[ "$(jq -r .cgroup <<<"$vm")" == */stealtime-test-$$ ]] || fail "cgroup path: $(jq -r .cgroup <<<"$vm")"
curl -fsS "$URL/metrics" | grep -E "^stealtime_vm_(cpu_)?throttled_seconds_total\{.*vm_id=\"$(jq -r .id <<<"$vm")\"" >/dev/null ||
	fail "no throttled series in /metrics"
echo "throttled time matches cpu.stat"
