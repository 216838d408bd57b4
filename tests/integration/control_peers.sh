#!/usr/bin/env bash
# cost: 30 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Peers of the control socket are the process that connected: a socket
# handed to a child whose parent (the process that connected) has exited
# gets ESRCH, with SO_PEERPIDFD and with the pidfd_open() fallback of
# kernels before 6.5. A set_ipa seed above what a guest could have
# accumulated is refused. A burst of requests that rescan the host gets
# EAGAIN beyond the per-process limit, and a well-behaved VMM registers
# all the same; one process holds at most 8 connections.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v python3 >/dev/null || skip "needs python3"
PEER=(python3 "$ROOT/tests/tools/control_peer.py")

errnos() { jq -r '.errno // "ok"' "$1" | tr '\n' ' '; }

# a socket passed on by a process that exited: ESRCH, whoever holds it
orphan_refused() {
	"${PEER[@]}" "$CONTROL_SOCK" orphan >"$TMP/orphan.out" || fail "control_peer orphan failed"
	wait_for 5 sh -c "[ \$(wc -l <'$TMP/orphan.out') -eq 3 ]" || fail "orphan: $(cat "$TMP/orphan.out")"
	note "orphan ($1): $(errnos "$TMP/orphan.out")"
	[ "$(errnos "$TMP/orphan.out")" = "ENOENT ESRCH ESRCH " ] ||
		fail "orphan ($1): $(cat "$TMP/orphan.out")"
	grep -q "the process that connected" "$TMP/orphan.out" || fail "orphan: no reason given"
}

for mode in peerpidfd fallback; do
	if [ "$mode" = fallback ]; then
		STEALTIMED_WITHOUT=peerpidfd start_daemon
	else
		start_daemon
	fi
	orphan_refused "$mode"
	stop_daemon
done

start_daemon

# initial_ns: 10 years is the default bound; 100 years is older than 1970
ten_years=$((315360000 * 1000000000))
"${PEER[@]}" "$CONTROL_SOCK" seed $((ten_years + 1)) $((100 * 365 * 86400 * 1000000000)) \
	5000000000 >"$TMP/seed.out" || fail "control_peer seed failed: $(cat "$TMP/seed.out")"
note "seeds: $(errnos "$TMP/seed.out")"
[ "$(errnos "$TMP/seed.out")" = "ok EINVAL EINVAL ok " ] || fail "seeds: $(cat "$TMP/seed.out")"
grep -q "limits.initial_steal_seconds 315360000" "$TMP/seed.out" || fail "bound not named"
grep -q "since 1970" "$TMP/seed.out" || fail "epoch bound not named"

# a burst of rescanning requests: 10 rescans, then EAGAIN without one
rescans_before=$(api /metrics | awk '/^stealtime_daemon_rescans_total/ {print $2}')
"${PEER[@]}" "$CONTROL_SOCK" burst 40 >"$TMP/burst.out" || fail "control_peer burst failed"
rescans_after=$(api /metrics | awk '/^stealtime_daemon_rescans_total/ {print $2}')
esrch=$(grep -c '"ESRCH"' "$TMP/burst.out")
eagain=$(grep -c '"EAGAIN"' "$TMP/burst.out")
note "burst of 40 registers without a VM: $esrch ESRCH (rescanned), $eagain EAGAIN;" \
	"rescans $rescans_before -> $rescans_after (the periodic ones included)"
[ "$esrch" -ge 10 ] && [ "$eagain" -ge 20 ] || fail "$esrch of 40 rescanned, $eagain EAGAIN"
[ $((esrch + eagain)) -eq 40 ] || fail "burst: $(sort "$TMP/burst.out" | uniq -c)"
grep -q "rescan rate limit for this process: retry in [0-9]* ms" "$TMP/burst.out" ||
	fail "EAGAIN without its wait: $(grep -m1 EAGAIN "$TMP/burst.out")"

# ... while a well-behaved VMM registers and commits
start_testvmm --vcpus 1 --seconds 600 --control "$CONTROL_SOCK"
wait_for 10 vms_hold ".vms[] | select(.pid == $VMM_PID and .registered)" ||
	fail "the VMM did not register after the burst: $(cat "$VMM_REPORT.out")"

# one process, 9 connections: the 9th is refused
"${PEER[@]}" "$CONTROL_SOCK" conns 9 >"$TMP/conns.out" || fail "control_peer conns failed"
note "9 connections of one process: $(errnos "$TMP/conns.out")"
[ "$(grep -c '"ENOENT"' "$TMP/conns.out")" -eq 8 ] || fail "conns: $(cat "$TMP/conns.out")"
grep -q '"EBUSY".*already holds 8 connections' "$TMP/conns.out" || fail "conns: $(cat "$TMP/conns.out")"
curl -fsS "$URL/healthz" >/dev/null || fail "daemon not answering"
exit 0
