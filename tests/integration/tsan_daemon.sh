#!/usr/bin/env bash
# cost: 45 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A ThreadSanitizer build of the daemon (make tsan) driven from every side
# at once: scrapes of /metrics, /v1/vms and one VM from parallel clients
# (the HTTP server's threads), VMMs registering, setting records,
# reconnecting and churning connections on the control socket, rescans
# every second and asked for by BPF, a configuration reload; then SIGTERM.
# Any data race TSan sees fails the test.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v clang >/dev/null || skip "clang not installed"

make -C "$ROOT" -s BUILD="$BUILD" tsan >"$TMP/build.log" 2>&1 ||
	{ tail -n 30 "$TMP/build.log"; fail "TSan build failed"; }
# halt_on_error=0: every report, not only the first; exitcode: a report
# makes the exit status 66
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1"

port=$(free_port); URL=http://127.0.0.1:$port
CONTROL_SOCK=$TMP/control.sock; PIN_DIR=/sys/fs/bpf/stealtime-test-$$
# setarch -R: TSan's fixed shadow layout does not fit every randomized mmap base
setarch -R "$BUILD/tsan/stealtimed" --listen "127.0.0.1:$port" --control-socket "$CONTROL_SOCK" \
	--pin-dir "$PIN_DIR" --rescan-interval 1 >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!; PIDS+=($DAEMON_PID)
wait_for 30 curl -fsS "$URL/healthz" >/dev/null 2>&1 || { cat "$TMP/daemon.log"; fail "TSan daemon did not start"; }

scrape() { # until the stop file exists
	while [ ! -e "$TMP/stop" ]; do
		curl -fsS --compressed "$URL/metrics" >/dev/null || echo "scrape failed" >>"$TMP/errors"
		curl -fsS "$URL/v1/vms" >/dev/null || echo "scrape failed" >>"$TMP/errors"
		id=$(curl -fsS "$URL/v1/vms" | jq -r '.vms[0].id // empty')
		[ -n "$id" ] && curl -s -o /dev/null "$URL/v1/vms/$id"
	done
}
bg scrape; s1=$!
bg scrape; s2=$!
vmms=()
for i in 1 2 3; do
	start_testvmm --vcpus 2 --seconds 600 --control "$CONTROL_SOCK" --cycles 10
	vmms+=("$VMM_PID")
done
for p in "${vmms[@]}"; do
	wait_for 30 vms_hold ".vms[] | select(.pid == $p) | .registered" ||
		fail "VMM $p not registered"
done
for p in "${vmms[@]}"; do kill -HUP "$p"; done # reconnects
kill -HUP "$DAEMON_PID"                          # reload
"$BUILD/tests/vmm/ctlsend" "$CONTROL_SOCK" 'x' '{"op":"snapshot"}' >/dev/null || true
sleep 3
kill -9 "${vmms[0]}"                             # a dead VMM, retired by a rescan
sleep 2
touch "$TMP/stop"; wait "$s1" "$s2"
[ ! -s "$TMP/errors" ] || fail "$(sort "$TMP/errors" | uniq -c)"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?
n=$(grep -c "WARNING: ThreadSanitizer" "$TMP/daemon.log")
if [ "$rc" -ne 0 ] || [ "$n" -gt 0 ]; then
	grep -v '^<' "$TMP/daemon.log" | head -n 80
	fail "stealtimed under TSan: exit $rc, $n reports"
fi
echo "ThreadSanitizer: no data race with scrapes, control traffic, rescans and a reload at once"
