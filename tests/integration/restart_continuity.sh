#!/usr/bin/env bash
# cost: 60 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# SIGKILL and restart of the daemon with a registered VM under contention:
# the programs' links are pinned, so the guest's record keeps being
# committed while no daemon runs; the maps are pinned and adopted, so the
# guest-read value never decreases and keeps tracking run_delay, the
# per-vCPU counters continue, the VM keeps its id (a keyed hash under the
# pinned id_key), and the restarted daemon's programs replace the old ones
# (one of each attached). Then 4 more restarts beside the hog: steal_ns
# grows by exactly what run_delay grows by (read with the vCPU at rest).
# --cleanup then removes every pin.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
# the VMM connects and registers again on SIGHUP, after the restart below
registered_guest_beside_hog
[ -e "$PIN_DIR/id_key" ] || fail "no id_key pinned under $PIN_DIR"
steal_metric() { curl -fsS "$URL/metrics" | awk -v id="$id" '/^stealtime_vcpu_steal_seconds_total\{/ && index($0, "vm_id=\"" id "\"") {print $2}'; }
m0=$(steal_metric); [ -n "$m0" ] || fail "no steal series for VM $id"
g0=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"

kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
note "daemon killed at steal $m0 s, guest value $g0 ns"
sleep 1.5
gd=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value while the daemon is down"
note "1.5 s later, no daemon running: guest value $gd ns"
[ "$gd" -gt $((g0 + 300000000)) ] || fail "the record was not committed while the daemon was down ($g0 -> $gd)"
# restart on the same pins
"$BUILD/stealtimed" --listen "${URL#http://}" --control-socket "$CONTROL_SOCK" --pin-dir "$PIN_DIR" \
	--rescan-interval 1 >"$TMP/daemon2.log" 2>&1 &
DAEMON_PID=$!; PIDS+=($DAEMON_PID)
wait_for 10 curl -fsS "$URL/healthz" >/dev/null || { cat "$TMP/daemon2.log" >&2; fail "restarted daemon not answering"; }
grep -q "adopted" "$TMP/daemon2.log" || fail "restarted daemon did not adopt the pinned maps"
# on_switch or its twin for older kernels (on_switch_tid, on_switch_nostate)
switch_progs() { bpftool -j prog show | jq '[.[] | select(.name | startswith("on_switch"))] | length'; }
one_on_switch() { [ "$(switch_progs)" -eq 1 ]; }
wait_for 5 one_on_switch ||
	fail "$(switch_progs) on_switch programs loaded after the restart (the old one should be gone)"
[ "$(vm_json "$VMM_PID" | jq -r .id)" = "$id" ] || fail "VM id changed across the restart"
vm_json "$VMM_PID" | jq -e '.registered and .vcpus[0].commit != null' >/dev/null || fail "registration lost"

sleep 2
m1=$(steal_metric)
ra1=$(run_delay "$tid"); g1=$(next_guest_value "$VMM_REPORT" 0) || exit 1; ra2=$(run_delay "$tid")
note "after restart: steal $m1 s, guest value $g1 ns, run_delay $ra1..$ra2"
awk -v a="$m0" -v b="$m1" 'BEGIN {exit !(b > a + 1)}' || fail "steal counter did not continue: $m0 -> $m1"
[ "$g1" -gt $((g0 + 1000000000)) ] || fail "guest value did not keep growing: $g0 -> $g1"
# the steal series equals run_delay still (counters were not restarted from 0)
r0=$(run_delay "$tid"); s=$(vm_json "$VMM_PID" | jq .vcpus[0].steal_ns); r1=$(run_delay "$tid")
ns_between "$r0" "$s" "$r1" 1000000 || fail "steal_ns $s not within run_delay [$r0, $r1] +-1ms after restart"
guest_lines "$VMM_REPORT" 0 | jq -s -e '[.[].stolen_ns] as $v | all(range(1; $v | length); $v[.] >= $v[. - 1])' >/dev/null ||
	fail "the guest saw its stolen time decrease"
grep -q '"guest_decreases":\[0\]' "$VMM_REPORT" 2>/dev/null || true
# the VMM reconnects to the new daemon and gets its own VM and region back
kill -HUP "$VMM_PID"
wait_for 10 grep -q '"event":"reregister"' "$VMM_REPORT" || fail "the VMM did not reconnect"
rr=$(grep -m1 '"event":"reregister"' "$VMM_REPORT")
note "$rr"
jq_true "$rr" ".ok and .vm == \"$id\" and .same_region and .set_ipa_again == \"EEXIST\"" ||
	fail "reconnecting VMM did not get its VM, region and records back: $rr"
g2=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value after the reconnect"
[ "$g2" -ge "$g1" ] || fail "guest value went back after the reconnect: $g1 -> $g2"

# restarts under a steady load, counted exactly: with the vCPU thread at
# rest (its VMM stopped) steal_ns equals its run_delay to the nanosecond,
# before and after 4 restarts (SIGTERM and SIGKILL in turn) beside the hog
read -r s0 r0 < <(vcpu_at_rest "$VMM_PID" "$tid"); kill -CONT "$VMM_PID"
[ -n "$s0" ] && [ "$s0" = "$r0" ] || fail "at rest before the restarts: steal_ns $s0, run_delay $r0"
for n in 1 2 3 4; do
	sig=TERM; [ $((n % 2)) -eq 0 ] && sig=KILL
	kill -$sig "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	"$BUILD/stealtimed" --listen "${URL#http://}" --control-socket "$CONTROL_SOCK" --pin-dir "$PIN_DIR" \
		--rescan-interval 1 >"$TMP/daemon-r$n.log" 2>&1 &
	DAEMON_PID=$!; PIDS+=($DAEMON_PID)
	wait_for 20 curl -fsS "$URL/healthz" >/dev/null 2>&1 || { cat "$TMP/daemon-r$n.log" >&2; fail "restart $n not answering"; }
	sleep 0.5
done
read -r s1 r1 < <(vcpu_at_rest "$VMM_PID" "$tid"); kill -CONT "$VMM_PID"
note "4 restarts beside the hog: steal_ns grew $((s1 - s0)) ns, run_delay $((r1 - r0)) ns"
[ $((r1 - r0)) -gt 500000000 ] || fail "the hog made no wait to count ($r0 -> $r1)"
[ $((s1 - s0)) -eq $((r1 - r0)) ] || fail "steal_ns grew $((s1 - s0)) ns over 4 restarts, run_delay $((r1 - r0)) ns"

kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
"$BUILD/stealtimed" --cleanup --pin-dir "$PIN_DIR" || fail "--cleanup failed"
[ ! -e "$PIN_DIR" ] || fail "--cleanup left pins: $(ls -R "$PIN_DIR" | tr '\n' ' ')"
echo "restart lost nothing: steal $m0 -> $m1 s, guest $g0 -> $g1 ns, VM id $id"
