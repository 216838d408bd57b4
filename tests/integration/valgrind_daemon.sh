#!/usr/bin/env bash
# cost: 112 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The end-to-end daemon path under valgrind: discovery, a registered VMM
# with a guest reading its record, HTTP scrapes, bad control messages, a
# VMM killed mid-session, SIGTERM. No invalid access, no definite leak.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v valgrind >/dev/null || skip "valgrind not installed"

VG=(valgrind --quiet --error-exitcode=9 --suppressions="$ROOT/tests/valgrind.supp" --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --track-fds=no)
port=$(free_port); URL=http://127.0.0.1:$port
CONTROL_SOCK=$TMP/control.sock; PIN_DIR=/sys/fs/bpf/stealtime-test-$$
"${VG[@]}" "$BUILD/stealtimed" --listen "127.0.0.1:$port" --control-socket "$CONTROL_SOCK" \
	--pin-dir "$PIN_DIR" --rescan-interval 1 >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!; PIDS+=($DAEMON_PID)
wait_for 60 curl -fsS "$URL/healthz" >/dev/null || { cat "$TMP/daemon.log"; fail "daemon under valgrind did not start"; }

start_testvmm --vcpus 2 --seconds 600 --control "$CONTROL_SOCK"
wait_for 20 grep -q '"event":"guest"' "$VMM_REPORT" || fail "guest reported nothing"
wait_for 20 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus | length == 2 and all(.bound)" ||
	fail "vCPU threads not bound under valgrind: $(vm_json "$VMM_PID" | jq -c '[.vcpus[] | {index, tid, bound}]')"
for i in 1 2 3; do
	curl -fsS "$URL/metrics" >/dev/null || fail "/metrics"
	curl -fsS "$URL/v1/vms" >/dev/null || fail "/v1/vms"
	id=$(vm_json "$VMM_PID" | jq -r .id)
	curl -fsS "$URL/v1/vms/$id" >/dev/null || fail "/v1/vms/$id"
	curl -s -o /dev/null "$URL/nope"; curl -s -o /dev/null -X DELETE "$URL/v1/vms"
done
"$BUILD/tests/vmm/ctlsend" "$CONTROL_SOCK" 'garbage' '{"op":"register","region_ipa":1}' '@big:9000' \
	'{"op":"snapshot"}' >/dev/null || fail "ctlsend"
kill -9 "$VMM_PID"
wait_for 20 sh -c "! curl -fsS $URL/v1/vms | jq -e '.vms[] | select(.pid == $VMM_PID)' >/dev/null" || fail "VM not retired"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"; rc=$?
cat "$TMP/daemon.log" | grep -v '^<[0-9]>' | head -n 60
[ $rc -eq 0 ] || fail "stealtimed under valgrind exited $rc"
echo "valgrind: clean"
