#!/usr/bin/env bash
# cost: 81 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# KVM runs a vCPU on a new thread while its first thread lives on asleep:
# the daemon binds the new thread, the vCPU's counters continue (never
# backwards), its steal keeps tracking the new thread's run_delay, and the
# guest's record never decreases. The vCPU's steal is the sum of both
# threads' waits: the old thread's whole run_delay plus the new thread's
# from when it first left the guest (where kvm's BTF shows that; else from
# its binding), none lost to the rescan that binds it.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
hog 1
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK" --handoff-after 2
old=${VMM_TIDS%% *}
samples=()
for i in $(seq 1 25); do
	samples+=("$(vm_json "$VMM_PID" | jq -c '[.vcpus[0].tid, .vcpus[0].steal_ns, .vcpus[0].run_ns]')")
	sleep 0.2
done
new=$(grep -m1 '"event":"handoff_started"' "$VMM_REPORT" | jq -r .tid)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "no hand-off to a new thread (old $old, new '$new')"
note "vCPU 0 moved from thread $old to $new"
printf '%s\n' "${samples[@]}" | jq -s -e --argjson new "$new" '
	(map(.[1]) as $s | all(range(1; $s | length); $s[.] >= $s[. - 1])) and
	(map(.[2]) as $r | all(range(1; $r | length); $r[.] >= $r[. - 1])) and
	(.[-1][0] == $new)' >/dev/null || { printf '%s\n' "${samples[@]}"; fail "counters went backwards or the new thread is not bound"; }

# after the hand-off, steal grows as the new thread's run_delay does (beside
# the hog, by a good part of the time), read between two reads of it
steal() { vm_json "$VMM_PID" | jq .vcpus[0].steal_ns; }
t0=$(date +%s%N); ra0=$(run_delay "$new"); s0=$(steal); rb0=$(run_delay "$new")
sleep 2
ra1=$(run_delay "$new"); s1=$(steal); rb1=$(run_delay "$new"); t1=$(date +%s%N)
note "new thread: steal grew $((s1 - s0)) ns in $(( (t1 - t0) / 1000000 )) ms, its run_delay $((ra1 - rb0))..$((rb1 - ra0)) ns"
[ $(( (s1 - s0) * 4 )) -gt $((t1 - t0)) ] || fail "steal stopped growing after the hand-off"
ns_between $((ra1 - rb0)) $((s1 - s0)) $((rb1 - ra0)) 1000000 ||
	fail "steal growth $((s1 - s0)) not within the new thread's run_delay growth [$((ra1 - rb0)), $((rb1 - ra0))]"

# the sum, with the VMM stopped (SIGSTOP: its threads wait for no CPU, so
# run_delay and steal hold still): the old thread's run_delay plus the new
# thread's. The old thread's is read before the stop: SIGSTOP wakes it, and
# what it waits then, no longer a vCPU's thread, is nobody's steal. Nor
# need be what it waited after it left KVM_RUN for good (from 6.1 the new
# thread's first exit has it unbound at once): it said what it had waited
# as it left.
old_rd=$(run_delay "$old")
old_left=$(grep -m1 '"event":"handoff"' "$VMM_REPORT" | jq -r .old_run_delay_ns)
kill -STOP "$VMM_PID"
sleep 0.5
rd=$(run_delay "$new"); s=$(steal); rd2=$(run_delay "$new")
note "the old thread's run_delay: $old_left as it left the vCPU, $old_rd before the stop, $(run_delay "$old") after"
kill -CONT "$VMM_PID"
[ "${old_rd:-0}" -gt 0 ] || fail "no run_delay for the old thread $old"
[ "$rd" = "$rd2" ] || fail "the stopped thread still waits ($rd -> $rd2)"
want=$((old_rd + rd))
note "stopped: steal $s ns; old thread $old_rd + new thread $rd = $want ns (steal short by $((want - s)) ns)"
# short by the new thread's waits before it first left the guest (kvm's
# BTF: what it waited up to its first return from KVM_RUN, as it said
# then) or before its binding (without it); never above
[ "$s" -le "$want" ] || fail "steal $s above both threads' run_delay $want (counted twice?)"
if grep -q "vCPU threads from kvm's BTF" "$TMP/daemon.log"; then
	first=$(grep -m1 '"event":"handoff_first_exit"' "$VMM_REPORT" | jq -r .run_delay_ns)
	[ -n "$first" ] && [ "$first" != null ] || fail "the new thread did not say what it waited before its first exit"
	note "the new thread waited $first ns before its first return from KVM_RUN"
	least=$((old_left + rd - first))
	[ "$s" -ge $((least - 2000000)) ] ||
		fail "steal $s short of the old thread's run_delay as it left plus the new thread's after its first exit, $least, by $((least - s)) ns"
else
	note "no kvm BTF: the new thread counts from its binding"
	[ "$s" -ge $((want - 1000000000)) ] || fail "steal $s short of both threads' run_delay $want by $((want - s)) ns"
fi
guest_lines "$VMM_REPORT" 0 | jq -s -e '[.[].stolen_ns] as $v | all(range(1; $v | length); $v[.] >= $v[. - 1])' >/dev/null ||
	fail "the guest's record decreased across the hand-off"
echo "hand-off to thread $new: counters continuous"
