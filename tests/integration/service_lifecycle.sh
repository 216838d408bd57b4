#!/usr/bin/env bash
# stealtimed as a systemd service: sd_notify READY/STATUS/WATCHDOG/
# RELOADING/STOPPING to a NOTIFY_SOCKET the test owns, the HTTP socket
# handed over by systemd-socket-activate, configuration errors with
# file:line:column, and SIGHUP reloads (a broken file keeps the old
# configuration, a good one is applied).
source "$(dirname "$0")/../lib.sh"
need_root; need_btf
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"

# --check-config: errors name file:line:column
printf '{\n  "listen": "127.0.0.1:9477",\n  "rescan_interval_seconds": "often"\n}\n' >"$TMP/bad.json"
out=$("$BUILD/stealtimed" --check-config "$TMP/bad.json" 2>&1) && fail "a bad file passed --check-config"
note "$out"
[[ "$out" == "$TMP/bad.json:3:"* ]] || fail "error does not start with file:line: $out"
printf '{\n  "commit": true,\n  "colour": "blue"\n}\n' >"$TMP/unknown.json"
out=$("$BUILD/stealtimed" --check-config "$TMP/unknown.json" 2>&1) && fail "an unknown key passed"
[[ "$out" == "$TMP/unknown.json:3:3:"* ]] || fail "unknown key not at 3:3: $out"
"$BUILD/stealtimed" --check-config "$ROOT/config/stealtimed.json" >/dev/null || fail "the shipped config is invalid"
"$BUILD/stealtimed" --config "$TMP/bad.json" --pin-dir /sys/fs/bpf/none 2>/dev/null && fail "started with a bad config"

# sd_notify and socket activation
port=$(free_port)
PIN_DIR=/sys/fs/bpf/stealtime-test-$$
CONTROL_SOCK=$TMP/control.sock
cat >"$TMP/good.json" <<EOC
{ "rescan_interval_seconds": 1, "control_socket": "$CONTROL_SOCK", "pin_dir": "$PIN_DIR", "log_level": "info" }
EOC
cp "$TMP/good.json" "$TMP/stealtimed.json"
"$BUILD/tests/tools/notifyrecv" "$TMP/notify.sock" >"$TMP/notify.out" &
PIDS+=($!)
wait_for 5 test -S "$TMP/notify.sock" || fail "notify socket not created"
NOTIFY_SOCKET=$TMP/notify.sock WATCHDOG_USEC=1000000 \
	systemd-socket-activate -E NOTIFY_SOCKET -E WATCHDOG_USEC -l "127.0.0.1:$port" \
	"$BUILD/stealtimed" --config "$TMP/stealtimed.json" --listen 127.0.0.1:1 >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!; PIDS+=($DAEMON_PID)
URL=http://127.0.0.1:$port
# the first connection makes systemd-socket-activate start the daemon on that socket
curl -fsS --max-time 20 --retry 20 --retry-delay 1 --retry-connrefused "$URL/healthz" >/dev/null || { cat "$TMP/daemon.log" >&2; fail "no answer through the activated socket"; }
curl -fsS "$URL/metrics" | grep -q '^stealtime_vms ' || fail "/metrics through the activated socket"
wait_for 5 grep -q '^READY=1' "$TMP/notify.out" || fail "no READY=1"
grep -q '^STATUS=tracking [0-9]* VMs' "$TMP/notify.out" || fail "no STATUS="
wait_for 3 grep -q '^WATCHDOG=1' "$TMP/notify.out" || fail "no WATCHDOG=1 with WATCHDOG_USEC=1s"
# READY=1 only once the programs are attached and sockets listen
grep -q "ready: HTTP" "$TMP/daemon.log" || fail "daemon did not log readiness"

# SIGHUP with a broken file: keeps serving with the old configuration
cp "$TMP/bad.json" "$TMP/stealtimed.json"
kill -HUP "$DAEMON_PID"
wait_for 5 grep -q "reload failed" "$TMP/daemon.log" || fail "broken reload not reported"
grep -q "bad.json\|stealtimed.json:3:" "$TMP/daemon.log" || fail "reload error does not name file:line"
curl -fsS "$URL/healthz" >/dev/null || fail "daemon stopped serving after a broken reload"
wait_for 5 grep -q '^RELOADING=1' "$TMP/notify.out" || fail "no RELOADING=1"
[ "$(grep -c '^READY=1' "$TMP/notify.out")" -ge 2 ] || fail "no READY=1 after the reload"

# SIGHUP with a good file: applied (commit off -> PV_TIME_FEATURES answers NOT_SUPPORTED)
sed 's/"log_level": "info"/"log_level": "info", "commit": false/' "$TMP/good.json" >"$TMP/stealtimed.json"
kill -HUP "$DAEMON_PID"
wait_for 5 grep -q "configuration reloaded (commit off" "$TMP/daemon.log" || fail "good reload not applied"

# SIGTERM: STOPPING=1 and a clean exit
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"; rc=$?
[ $rc -eq 0 ] || fail "daemon exited $rc on SIGTERM"
wait_for 3 grep -q '^STOPPING=1' "$TMP/notify.out" || fail "no STOPPING=1"
note "$(sort "$TMP/notify.out" | uniq -c | tr '\n' ';')"
echo "service lifecycle ok"
