#!/usr/bin/env bash
# cost: 50 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Waits that migrations split: a vCPU thread kept runnable behind a CPU hog
# on each of two CPUs while its affinity flips between them. Each flip
# moves it off a runqueue with a wait under way: the scheduler adds the part
# so far to run_delay when it dequeues it, and the wait goes on from zero on
# the other CPU. Over the flips, read with the VMM stopped before and after
# (SIGSTOP: its thread then waits for no CPU, so every counter holds still):
# - steal grew by the thread's run_delay (the kernel's own, schedstat);
# - the vCPU's stolen_by entries grew by the same, to the nanosecond:
#   every part of every wait is placed, "other" included;
# - the wait histogram's sum grew by the same too: a split wait counts
#   whole; and once: its count grew by no more than the thread's
#   switch-ins (schedstat field 3).
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
hog 0; hog 1
start_testvmm --vcpus 1 --cpu 0 --seconds 600
tid=${VMM_TIDS%% *}
wait_for 20 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus[0].tid == $tid and .vcpus[0].bound" ||
	fail "vCPU 0 not bound to thread $tid"

# state: the thread's state letter (stat's field after "(comm)", which has spaces)
state() { local l; read -r l <"/proc/$VMM_PID/task/$tid/stat"; l=${l##*) }; echo "${l%% *}"; }
migrations() { awk '$1 == "se.nr_migrations" {print $3}' "/proc/$VMM_PID/task/$tid/sched" 2>/dev/null; }
# a stopped VMM would not die at exit: resume it first
trap 'kill -CONT "$VMM_PID" 2>/dev/null; cleanup' EXIT
# snap: SNAP="steal stolen_by_sum other wait_sum waits hist_count run_delay switch_ins",
# read with the VMM stopped
snap() {
	local j
	kill -STOP "$VMM_PID"
	local end=$((SECONDS + 20))
	while [ "$(state)" != T ]; do
		[ $SECONDS -lt $end ] || fail "thread $tid did not stop (state $(state))"
		sleep 0.1
	done
	j=$(vm_json "$VMM_PID") || fail "no /v1/vms entry for $VMM_PID"
	SNAP="$(jq -r '[.vcpus[0].steal_ns, ([.stolen_by[].ns] | add // 0),
		([.stolen_by[] | select(.kind == "other") | .ns] | add // 0), .vcpus[0].wait_sum_ns,
		.vcpus[0].waits, .wait.count] | @tsv' <<<"$j") $(awk '{print $2, $3}' "/proc/$VMM_PID/task/$tid/schedstat")"
	kill -CONT "$VMM_PID"
}

sleep 1
snap; read -r s0 by0 o0 ws0 w0 h0 rd0 sw0 <<<"$SNAP"
m0=$(migrations)
# one process flips it (under TCG beside the hogs, a taskset each time
# managed one flip a second), real-time so that the hogs do not hold it off
flips=$(chrt -f 10 /usr/bin/python3 -c '
import os, sys, time
tid, end, n = int(sys.argv[1]), time.monotonic() + 6, 0
while time.monotonic() < end:
    os.sched_setaffinity(tid, {n % 2})
    n += 1
    time.sleep(0.01)
os.sched_setaffinity(tid, {0})
print(n)' "$tid") || fail "could not flip the affinity of thread $tid"
sleep 0.5
snap; read -r s1 by1 o1 ws1 w1 h1 rd1 sw1 <<<"$SNAP"
m1=$(migrations)

dS=$((s1 - s0)) dBy=$((by1 - by0)) dWs=$((ws1 - ws0)) dW=$((w1 - w0)) dH=$((h1 - h0))
dRd=$((rd1 - rd0)) dSw=$((sw1 - sw0)) dO=$((o1 - o0))
note "$flips affinity flips, ${m0:-?} -> ${m1:-?} migrations of thread $tid"
note "steal grew $dS ns, run_delay $dRd ns; stolen_by $dBy ns ($((dBy - dS)) off); wait_sum $dWs ns ($((dWs - dS)) off)"
note "waits +$dW, histogram count +$dH, switch-ins +$dSw; other +$dO ns ($((dO * 100 / (dS ? dS : 1)))% of steal)"
[ "$flips" -ge 50 ] || fail "only $flips affinity flips in 6 s"
[ -z "$m0" ] || [ $((m1 - m0)) -ge $((flips / 2)) ] || fail "only $((m1 - m0)) migrations for $flips flips"
[ "$dS" -gt 100000000 ] || fail "steal grew only $dS ns beside the hogs"
[ "$dS" = "$dRd" ] || fail "steal grew $dS ns, the thread's run_delay $dRd ns"
[ "$dBy" = "$dS" ] || fail "stolen_by grew $dBy ns, steal $dS ns: $((dS - dBy)) ns of waits not placed"
[ "$dWs" = "$dS" ] || fail "the histogram's sum grew $dWs ns, steal $dS ns: $((dS - dWs)) ns of waits not in it"
[ "$dH" = "$dW" ] || fail "the histogram counted $dH waits, waits grew by $dW"
[ "$dW" -le "$dSw" ] || fail "$dW waits counted for $dSw switch-ins: a split wait counted twice"
echo "split waits: stolen_by and the histogram's sum grew by steal ($dS ns) over $((m1 - m0)) migrations"
