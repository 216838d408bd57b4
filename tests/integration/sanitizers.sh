#!/usr/bin/env bash
# cost: 60 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# An ASan+UBSan build (clang) of the daemon, the CLI and the unit tests:
# every unit test, then the daemon end to end (discovery, a registered
# guest reading its record, scrapes, bad control messages, a killed VMM,
# SIGTERM) with no sanitizer report and no leak.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v clang >/dev/null || skip "clang not installed"

ASAN_BUILD=$BUILD/asan
make -C "$ROOT" -s BUILD="$BUILD" asan >"$TMP/build.log" 2>&1 ||
	{ tail -n 30 "$TMP/build.log"; fail "ASan build failed"; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

for t in "$ASAN_BUILD"/tests/test_*; do
	"$t" >"$TMP/unit.log" 2>&1 || { tail -n 30 "$TMP/unit.log"; fail "$(basename "$t") failed under ASan/UBSan"; }
	note "$(basename "$t"): clean"
done

port=$(free_port); URL=http://127.0.0.1:$port
CONTROL_SOCK=$TMP/control.sock; PIN_DIR=/sys/fs/bpf/stealtime-test-$$
"$ASAN_BUILD/stealtimed" --listen "127.0.0.1:$port" --control-socket "$CONTROL_SOCK" \
	--pin-dir "$PIN_DIR" --rescan-interval 1 >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!; PIDS+=($DAEMON_PID)
wait_for 20 curl -fsS "$URL/healthz" >/dev/null || { cat "$TMP/daemon.log"; fail "ASan daemon did not start"; }
start_testvmm --vcpus 2 --seconds 600 --control "$CONTROL_SOCK"
wait_for 10 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus[0].commit.commits > 0" ||
	fail "no commit under ASan"
for i in 1 2 3; do
	curl -fsS "$URL/metrics" >/dev/null && curl -fsS "$URL/v1/vms" >/dev/null || fail "scrape"
	curl -fsS --compressed "$URL/metrics" >/dev/null || fail "gzip scrape"
	curl -s -o /dev/null "$URL/v1/vms/%2e%2e"; curl -s -o /dev/null -X PUT "$URL/metrics"
done
"$ASAN_BUILD/stealtimectl" --server "$URL" list >/dev/null || fail "stealtimectl list under ASan"
"$BUILD/tests/vmm/ctlsend" "$CONTROL_SOCK" 'x' '{"op":"smccc"}' '@big:70000' >/dev/null || fail "ctlsend"
kill -9 "$VMM_PID"
wait_for 10 sh -c "! curl -fsS $URL/v1/vms | jq -e '.vms[] | select(.pid == $VMM_PID)' >/dev/null" || fail "VM not retired"
kill -HUP "$DAEMON_PID"; sleep 0.3
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?
if [ $rc -ne 0 ] || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/daemon.log"; then
	grep -v '^<' "$TMP/daemon.log" | head -n 60
	fail "stealtimed under ASan/UBSan: exit $rc"
fi
echo "ASan/UBSan: unit tests and the daemon end to end are clean"
