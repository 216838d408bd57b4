#!/usr/bin/env bash
# cost: 68 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The daemon's steal_ns for a vCPU is the kernel's own run_delay of its
# thread (/proc/PID/task/TID/schedstat), with and without a CPU hog.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
start_testvmm --vcpus 1 --cpu 1 --seconds 600
tid=${VMM_TIDS%% *}
wait_for 5 vm_json "$VMM_PID" >/dev/null || fail "VM of pid $VMM_PID not in /v1/vms"
wait_for 5 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus[0].tid == $tid" ||
	fail "vCPU 0 not bound to thread $tid"

steal() { vm_json "$VMM_PID" | jq -r '.vcpus[0].steal_ns'; }

now() { date +%s%N; }

# 1. alone on its CPU: steal grows slowly (what the host's own tasks take)
s0=$(steal); t0=$(now); sleep 2; s1=$(steal); t1=$(now)
alone=$(( (s1 - s0) * 1000 / (t1 - t0) ))
note "alone: steal grew $(( (s1 - s0) / 1000000 )) ms in $(( (t1 - t0) / 1000000 )) ms ($alone per mille)"

# 2. a CPU hog on the same CPU: steal grows by about half the time
hog 1
sleep 0.5
s0=$(steal); t0=$(now)
sleep 3
s1=$(steal); t1=$(now)
grown=$((s1 - s0)); elapsed=$((t1 - t0)); hogged=$((grown * 1000 / elapsed))
note "with a hog: steal grew $((grown / 1000000)) ms in $((elapsed / 1000000)) ms ($hogged per mille)"
[ "$hogged" -ge 300 ] && [ "$hogged" -le 900 ] ||
	fail "steal grew $grown ns in $elapsed ns beside a hog (expected about half)"
[ "$hogged" -ge $((2 * alone)) ] ||
	fail "steal grew $hogged per mille beside a hog, not twice the $alone per mille alone"

# 3. equal to the kernel's run_delay, read just before and after
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	before=$(run_delay "$tid")
	s=$(steal)
	after=$(run_delay "$tid")
	note "run_delay before $before, steal_ns $s, run_delay after $after"
	ns_between "$before" "$s" "$after" 1000000 || fail "steal_ns $s not within [$before, $after] +-1ms"
	ok=$((ok + 1))
	sleep 0.2
done
[ "$ok" -eq 10 ] || fail "only $ok of 10 comparisons"
[ "$s" -gt 1000000000 ] || fail "steal $s ns after >3 s beside a hog is too small"
echo "steal_ns matched run_delay 10 of 10 times"
