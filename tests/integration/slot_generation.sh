#!/usr/bin/env bash
# cost: 60 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A thread's binding names one use of a vCPU slot (its generation), so a
# thread can never count into a vCPU of another VM:
# - a daemon restarted with a lower limits.vms frees the slots of the VMs
#   it drops, and unbinds their threads: they leave no events behind;
# - a thread bound to a slot whose generation moved on (the slot given to
#   another vCPU while the thread stayed bound) is ignored by the pinned
#   programs and counted, and the next rescan binds it again with its
#   counters continuing.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
hog 1
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --name gen-a; A=$VMM_PID; tidA=${VMM_TIDS%% *}
wait_for 10 vm_json "$A" >/dev/null || fail "VM A not listed"
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --name gen-b; B=$VMM_PID; tidB=${VMM_TIDS%% *}
bound() { vm_json "$1" | jq -e --argjson t "$2" '.vcpus[0].tid == $t' >/dev/null; }
wait_for 10 bound "$A" "$tidA" || fail "A's thread not bound"
wait_for 10 bound "$B" "$tidB" || fail "B's thread not bound"
slot=$(python3 tests/tools/vcpu_slot.py "$PIN_DIR" "$tidB") || fail "no slot bound to B's thread $tidB"
note "B: $slot"

metric() { curl -fsS "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
restart() { # ARGS: a new daemon on the same pins
	kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	"$BUILD/stealtimed" --listen "${URL#http://}" --control-socket "$CONTROL_SOCK" \
		--pin-dir "$PIN_DIR" --rescan-interval 1 "$@" >>"$TMP/daemon.log" 2>&1 &
	DAEMON_PID=$!; PIDS+=($DAEMON_PID)
	wait_for 10 curl -fsS "$URL/healthz" >/dev/null || { cat "$TMP/daemon.log" >&2; fail "daemon not answering"; }
}

# 1. restart with room for one VM: B's slot is freed and its thread let go
echo '{ "limits": { "vms": 1 } }' >"$TMP/one.json"
restart --config "$TMP/one.json"
wait_for 5 grep -q "limits.vms (1) reached" "$TMP/daemon.log" || fail "B was not dropped"
vm_json "$B" >/dev/null && fail "B listed beyond limits.vms=1"
sleep 1.5 # the first rescans carry out the unbinding
bad0=$(metric stealtime_bpf_bad_slot_total); st0=$(metric stealtime_bpf_stale_binding_total)
sleep 2
bad1=$(metric stealtime_bpf_bad_slot_total); st1=$(metric stealtime_bpf_stale_binding_total)
note "beside a hog, B's thread dropped: bad_slot $bad0 -> $bad1, stale_binding $st0 -> $st1"
[ "$bad1" = "$bad0" ] && [ "$st1" = "$st0" ] || fail "B's thread still bound to its freed slot"

# 2. back to the default limits; then A's slot's generation moves on
restart
wait_for 10 bound "$B" "$tidB" || fail "B not tracked again"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null # the pinned programs go on
a0=$(python3 tests/tools/vcpu_slot.py "$PIN_DIR" "$tidA" --bump-gen) || fail "no slot for A's thread"
r0=$(run_delay "$tidA")
sleep 2
a1=$(python3 tests/tools/vcpu_slot.py "$PIN_DIR" "$tidA"); r1=$(run_delay "$tidA")
note "A's slot at a new generation: $a0 -> $a1 while A's run_delay grew $((r1 - r0)) ns"
[ $((r1 - r0)) -gt 300000000 ] || fail "A's thread was not kept waiting ($((r1 - r0)) ns)"
[ "$(jq .steal_ns <<<"$a1")" = "$(jq .steal_ns <<<"$a0")" ] || fail "A's thread still counted into a slot of another generation"
s0=$(jq .steal_ns <<<"$a0")
restart
stale=$(metric stealtime_bpf_stale_binding_total)
[ "${stale:-0}" -gt 0 ] || fail "stale binding events not counted ($stale)"
# the rescan binds A's thread again: its counters continue, never backwards
grows() { [ "$(vm_json "$A" | jq '.vcpus[0].steal_ns')" -gt $((s0 + 200000000)) ]; }
wait_for 10 grows || { tail -n 20 "$TMP/daemon.log" >&2
	fail "A's steal does not move after the rebinding ($(vm_json "$A" | jq -c .vcpus[0]);" \
		"bind retries $(metric stealtime_daemon_bind_retries_total)," \
		"failures $(metric stealtime_daemon_bind_failures_total))"; }
s=$(vm_json "$A" | jq '.vcpus[0].steal_ns'); r=$(run_delay "$tidA")
note "rebound: A's steal $s0 -> $s ns, its run_delay $r ns; $stale stale events"
[ "$s" -ge "$s0" ] || fail "A's steal went backwards ($s0 -> $s)"
[ "$s" -le $((r + 50000000)) ] || fail "A's steal $s above its run_delay $r"
echo "slot generations: dropped threads let go, stale bindings ignored and counted"
