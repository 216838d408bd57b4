#!/usr/bin/env bash
# cost: 150 (seconds in a VM under TCG; building the older release counts when it is not built yet)
# An upgrade across a change of the pinned layout detaches nothing. An
# older release (built from this repository's history: on 6.12 the one of
# layout 1, commit 65be705, 32-byte bindings; on the other kernels the
# last of layout 2, 40-byte bindings and no cpu_waiting) runs a registered
# VM beside a CPU hog; this
# release's daemon, started on its pins, migrates the thread bindings and
# adopts everything else. Its steal counter never goes back and still
# equals the kernel's run_delay (the old programs counted until the flip,
# nothing was counted twice), the guest's record never goes back and keeps
# moving, the VM keeps its id, and its VMM gets the very same region back.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
command -v bpftool >/dev/null || skip "needs bpftool"

FROM=${UPGRADE_FROM:-$(case $(uname -r) in 6.12.*) echo 1 ;; *) echo 2 ;; esac)}
OLD_BYTES=$((FROM == 1 ? 32 : 40)); NEW_LAYOUT=3; NEW_BYTES=48
OLD=$BUILD/releases/layout$FROM
rc=0; bash "$ROOT/tests/tools/build_release.sh" "layout$FROM" || rc=$?
[ $rc -eq 77 ] && skip "no git history to build the layout $FROM release from"
[ $rc -eq 0 ] || fail "cannot build the layout $FROM release ($OLD.log)"

port=$(free_port)
URL=http://127.0.0.1:$port
CONTROL_SOCK=$TMP/control.sock
PIN_DIR=/sys/fs/bpf/stealtime-test-$$
run_daemon() { # BINARY LOG
	"$1" --listen "127.0.0.1:$port" --control-socket "$CONTROL_SOCK" --pin-dir "$PIN_DIR" \
		--state-dir "$TMP/state" --rescan-interval 1 >"$2" 2>&1 &
	DAEMON_PID=$!; PIDS+=($DAEMON_PID)
	wait_for 20 curl -fsS "$URL/healthz" >/dev/null 2>&1 || { cat "$2" >&2; fail "$1 not answering"; }
}
# killed_at_rename NAME DELAY_MS LOG: this release's daemon, killed at its rename of NAME
killed_at_rename() {
	local rc=0
	{ CRASH_AT_RENAME=$1 CRASH_DELAY_MS=$2 LD_PRELOAD=$BUILD/tests/preload/crash_at_rename.so \
		timeout 60 "$BUILD/stealtimed" --listen "127.0.0.1:$port" --control-socket "$CONTROL_SOCK" \
		--pin-dir "$PIN_DIR" --state-dir "$TMP/state" --rescan-interval 1 >"$3" 2>&1; } 2>/dev/null || rc=$?
	[ $rc -eq 137 ] && grep -q "killed at the rename of .*/$1\$" "$3" ||
		{ cat "$3" >&2; fail "the daemon was not killed at its rename of $1 (exit $rc)"; }
	note "killed at the rename of $1, after $2 ms there"
}
steal_metric() { curl -fsS "$URL/metrics" | awk -v id="$id" '/^stealtime_vcpu_steal_seconds_total\{/ && index($0, "vm_id=\"" id "\"") {print $2}'; }
# steal_ns of vCPU 0 equals the kernel's run_delay with the vCPU thread at rest
steal_is_run_delay() {
	local s r
	read -r s r < <(vcpu_at_rest "$VMM_PID" "$tid"); kill -CONT "$VMM_PID"
	note "$1, at rest: steal_ns $s, run_delay $r"
	[ -n "$s" ] && [ "$s" = "$r" ]
}

run_daemon "$OLD/stealtimed" "$TMP/old.log"
registered_guest_beside_hog
steal_is_run_delay "layout $FROM release" || fail "the old release's steal is not run_delay"
binding_map=$(ls "$PIN_DIR" | grep -m1 -x 'vcpu_task\|vcpu_tid') || fail "no binding map pinned"
[ "$(bpftool -j map show pinned "$PIN_DIR/$binding_map" | jq .bytes_value)" = "$OLD_BYTES" ] ||
	fail "the old release did not pin $OLD_BYTES-byte bindings (layout $FROM)"
m0=$(steal_metric); [ -n "$m0" ] || fail "no steal series for VM $id"
g0=$(next_guest_value "$VMM_REPORT" 0)

kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
migration_log=$TMP/new.log; migrated="1 thread bindings migrated from layout $FROM to $NEW_LAYOUT"
if [ -n "${UPGRADE_INTERRUPTED:-}" ]; then
	pinned_bytes() { bpftool -j map show pinned "$PIN_DIR/$1" | jq .bytes_value; }
	layout_value() { bpftool -j map dump pinned "$PIN_DIR/layout" | jq '.[0].formatted.value // .[0].value'; }
	# killed while the new programs count and the old bindings are still pinned
	killed_at_rename "${binding_map}_next" 3000 "$TMP/killed1.log"
	[ "$(pinned_bytes "$binding_map")" = "$OLD_BYTES" ] && [ "$(pinned_bytes "${binding_map}_next")" = "$NEW_BYTES" ] ||
		fail "not the state of a migration between its flip and its renames: $(ls "$PIN_DIR" | tr '\n' ' ')"
	# the next resumes it, and is killed after renaming the bindings, before writing the layout
	killed_at_rename on_switch_next 1000 "$TMP/killed2.log"
	[ "$(pinned_bytes "$binding_map")" = "$NEW_BYTES" ] && [ "$(layout_value)" = 0 ] ||
		fail "not the state of a migration between the renames of its bindings and of its links"
	migration_log=$TMP/killed2.log
	migrated="0 thread bindings migrated from layout $FROM to $NEW_LAYOUT (the others kept from the interrupted migration)"
fi
run_daemon "$BUILD/stealtimed" "$TMP/new.log"
grep -q "migrated from layout $FROM to $NEW_LAYOUT" "$migration_log" || { cat "$migration_log" >&2; fail "no migration from layout $FROM"; }
note "$(grep -m1 "bindings migrated" "$migration_log")"
grep -q "[^0-9]$migrated" "$migration_log" || fail "not what the migration should say: $migrated"
[ "$(bpftool -j map dump pinned "$PIN_DIR/layout" | jq '.[0].formatted.value // .[0].value')" = "$NEW_LAYOUT" ] || fail "the pins do not say layout $NEW_LAYOUT"
[ "$(bpftool -j map show pinned "$PIN_DIR/$binding_map" | jq .bytes_value)" = "$NEW_BYTES" ] ||
	fail "$binding_map was not replaced by a map of layout $NEW_LAYOUT"
ls "$PIN_DIR" "$PIN_DIR/links" | grep -q _next && fail "temporary pins left: $(ls -R "$PIN_DIR" | tr '\n' ' ')"
switch_progs() { bpftool -j prog show | jq '[.[] | select(.name | startswith("on_switch"))] | length'; }
one_on_switch() { [ "$(switch_progs)" -eq 1 ]; }
wait_for 5 one_on_switch || fail "$(switch_progs) on_switch programs after the upgrade (the old one should be gone)"
[ "$(vm_json "$VMM_PID" | jq -r .id)" = "$id" ] || fail "VM id changed across the upgrade"

sleep 2
m1=$(steal_metric)
awk -v a="$m0" -v b="$m1" 'BEGIN {exit !(b > a + 1)}' || fail "steal counter did not continue: $m0 -> $m1"
steal_is_run_delay "after the upgrade" || fail "steal_ns is not run_delay after the upgrade (counted twice or lost)"
g1=$(next_guest_value "$VMM_REPORT" 0)
[ "$g1" -gt $((g0 + 1000000000)) ] || fail "guest value did not keep growing: $g0 -> $g1"
guest_lines "$VMM_REPORT" 0 | jq -s -e '[.[].stolen_ns] as $v | all(range(1; $v | length); $v[.] >= $v[. - 1])' >/dev/null ||
	fail "the guest saw its stolen time decrease"
# the VMM reconnects to the new daemon and gets its own VM and the very same region back
kill -HUP "$VMM_PID"
wait_for 10 grep -q '"event":"reregister"' "$VMM_REPORT" || fail "the VMM did not reconnect"
rr=$(grep -m1 '"event":"reregister"' "$VMM_REPORT")
jq_true "$rr" ".ok and .vm == \"$id\" and .same_region" || fail "the VMM did not get its VM and region back: $rr"
g2=$(next_guest_value "$VMM_REPORT" 0)
[ "$g2" -ge "$g1" ] || fail "guest value went back after the reconnect: $g1 -> $g2"
echo "upgrade from layout $FROM lost nothing: steal $m0 -> $m1 s, guest $g0 -> $g2 ns, VM id $id, same region"
