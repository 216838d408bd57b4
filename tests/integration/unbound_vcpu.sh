#!/usr/bin/env bash
# cost: 30 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# No silent zero: a vCPU whose thread cannot be bound (its last thread
# exited and no thread runs it yet, so KVM still names the dead thread) is
# listed with "bound": false and in the gauge stealtime_vcpus_unbound;
# where KVM names the dead thread (kvm's BTF), its failed binding is logged
# once and counted once in stealtime_daemon_bind_failures_total. The VM's
# other vCPU is bound and measures its thread's run_delay.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf

# --idle-us: vCPU 1's thread sleeps between guest heartbeats, so it is
# switched in (and measured) often, whatever else the CPU runs
start_testvmm --vcpus 2 --seconds 600 --handoff-after 1 --handoff-exit --idle-us 1000
wait_for 20 grep -q '"event":"handoff_exit"' "$VMM_REPORT" || fail "vCPU 0's thread did not exit"
old=$(grep -m1 '"event":"handoff_exit"' "$VMM_REPORT" | jq .old_tid)
wait_for 10 test ! -e "/proc/$VMM_PID/task/$old" || fail "thread $old still exists"
tid1=$(grep -m1 '"event":"start"' "$VMM_REPORT" | jq '.vcpus[] | select(.index == 1) | .tid')

start_daemon
wait_for 10 vm_json "$VMM_PID" >/dev/null || fail "VM of pid $VMM_PID not in /v1/vms"
wait_for 30 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus[] | select(.index == 1) | .bound and .tid == $tid1" ||
	fail "vCPU 1 not bound and measured: $(vm_json "$VMM_PID" | jq -c .vcpus)"
sleep 2 # a few more rescans (every second): still counted once
v=$(vm_json "$VMM_PID")
note "$(jq -c '[.vcpus[] | {index, tid, bound, steal_ns}]' <<<"$v")"
jq_true "$v" '.vcpus | length == 2' || fail "want 2 vCPUs: $v"
jq_true "$v" '.vcpus[] | select(.index == 0) | .bound == false and .tid == 0 and .steal_ns == 0' ||
	fail "vCPU 0 (thread gone) is not shown as unbound"
jq_true "$v" ".vcpus[] | select(.index == 1) | .bound == true and .tid == $tid1" ||
	fail "vCPU 1 is not bound to its thread $tid1"
metrics=$(api /metrics)
unbound=$(awk '$1 == "stealtime_vcpus_unbound" {print $2}' <<<"$metrics")
failures=$(awk '$1 == "stealtime_daemon_bind_failures_total" {print $2}' <<<"$metrics")
note "stealtime_vcpus_unbound $unbound, stealtime_daemon_bind_failures_total $failures"
[ "$unbound" = 1 ] || fail "stealtime_vcpus_unbound is $unbound, want 1"
if grep -q "vCPU threads from kvm_entry" "$TMP/daemon.log"; then
	# no kvm BTF: the dead thread was never seen entering the guest, so
	# there is no thread to bind (tid 0), nothing failed
	[ "$failures" = 0 ] || fail "bind failures counted $failures times, want none"
else
	# KVM names the dead thread: its binding fails, once
	[ "$failures" = 1 ] || { cat "$TMP/daemon.log" >&2; fail "bind failures counted $failures times, want once"; }
	grep -q "vCPU 0 of VM .*thread $old not bound" "$TMP/daemon.log" || { cat "$TMP/daemon.log" >&2; fail "no log line"; }
fi

# the bound vCPU is measured: its steal equals its thread's run_delay
before=$(run_delay "$tid1")
s=$(vm_json "$VMM_PID" | jq '.vcpus[] | select(.index == 1) | .steal_ns')
after=$(run_delay "$tid1")
ns_between "$before" "$s" "$after" 1000000 || fail "vCPU 1 steal_ns $s not within [$before, $after]"
echo "unbound vCPU shown, logged and counted once; its sibling measured"
