#!/usr/bin/env bash
# cost: 43 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The control socket survives bad peers: malformed, oversized, truncated
# and out-of-order messages get an error reply and the daemon keeps
# serving; a VMM killed mid-session frees its region; 100 register/close
# cycles leave the daemon's fd count where it was.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf

start_daemon
fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }

# bad messages, all on one connection: each gets {"ok":false,...}
bad=(
	'not json'
	'{"op":"register","region_ipa":'
	'[1,2,3]'
	'{"op":"reboot"}'
	'{"op":"set_ipa","vcpu":0,"ipa":524288}'
	'{"op":"smccc","vcpu":0,"function":3305111585}'
	'{"op":"snapshot"}'
	'{"op":"register","region_ipa":-65536}'
	'{"op":"register","region_ipa":1234}'
	'{"op":"register","region_ipa":"0x80000"}'
	'{"op":"set_ipa","vcpu":"zero","ipa":0}'
	'{"op":"register","region_ipa":524288,"extra":1}'
	'{"op":"register","op":"register","region_ipa":524288}'
	'@big:5000'
	'{"op":"unregister"}'
)
"$BUILD/tests/vmm/ctlsend" "$CONTROL_SOCK" "${bad[@]}" >"$TMP/bad.out" || fail "ctlsend lost the connection"
[ "$(wc -l <"$TMP/bad.out")" -eq "${#bad[@]}" ] || fail "$(wc -l <"$TMP/bad.out") replies for ${#bad[@]} messages"
i=0
while read -r reply; do
	note "${bad[$i]:0:60} -> $reply"
	jq_true "$reply" '.ok == false and (.errno | type == "string") and (.error | length > 0)' ||
		fail "message ${bad[$i]:0:60} got $reply"
	i=$((i + 1))
done <"$TMP/bad.out"
grep -q EMSGSIZE "$TMP/bad.out" || fail "no EMSGSIZE for a 5000-byte message"
curl -fsS "$URL/healthz" >/dev/null || fail "daemon stopped answering after bad messages"

# a VMM killed while registered: its VM and region go away
start_testvmm --vcpus 2 --seconds 600 --control "$CONTROL_SOCK"
wait_for 5 vms_hold ".vms[] | select(.pid == $VMM_PID and .registered)" ||
	fail "VM not registered"
kill -9 "$VMM_PID"
wait_for 10 sh -c "! curl -fsS $URL/v1/vms | jq -e '.vms[] | select(.pid == $VMM_PID)' >/dev/null" ||
	fail "killed VMM's VM is still listed"
grep -q "region .* released" "$TMP/daemon.log" || fail "region of the killed VMM not released"

# VMMs killed at random points of their registration: nothing stale, no leak
sleep 0.5
before=$(fds)
killed=()
for i in $(seq 1 20); do
	"$BUILD/tests/vmm/testvmm" --vcpus 2 --seconds 600 --control "$CONTROL_SOCK" >/dev/null 2>&1 &
	p=$!; killed+=("$p")
	sleep "0.0$((RANDOM % 10))"
	kill -9 "$p"; wait "$p" 2>/dev/null
done
pids_json=$(printf '%s\n' "${killed[@]}" | jq -s -c .)
stale() { curl -fsS "$URL/v1/vms" | jq --argjson k "$pids_json" '[.vms[] | select(.pid as $p | $k | index($p))] | length'; }
wait_for 10 sh -c "[ \$(curl -fsS $URL/v1/vms | jq --argjson k '$pids_json' '[.vms[] | select(.pid as \$p | \$k | index(\$p))] | length') -eq 0 ]" ||
	fail "$(stale) VMs of killed VMMs still listed"
after=$(fds)
note "20 VMMs killed while registering: daemon fds $before -> $after"
[ "$after" -eq "$before" ] || fail "daemon fd count went from $before to $after"
curl -fsS "$URL/healthz" >/dev/null || fail "daemon not answering"

# 100 register/close cycles: no fd leak in the daemon
sleep 0.5
before=$(fds)
start_testvmm --vcpus 1 --seconds 1 --control "$CONTROL_SOCK" --cycles 100
wait "$VMM_PID"; rc=$?
[ $rc -eq 0 ] || fail "testvmm --cycles exited $rc"
grep -q '"event":"cycles","done":100,"failed":0' "$VMM_REPORT" || fail "cycles: $(grep cycles "$VMM_REPORT")"
wait_for 10 sh -c "! curl -fsS $URL/v1/vms | jq -e '.vms[] | select(.pid == $VMM_PID)' >/dev/null" || fail "VM still listed"
after=$(fds)
note "daemon fds: $before before, $after after 100 register/close cycles"
[ "$after" -eq "$before" ] || fail "daemon fd count went from $before to $after"

# and it still serves a new VMM
start_testvmm --vcpus 1 --seconds 600 --control "$CONTROL_SOCK"
wait_for 10 grep -q '"event":"guest"' "$VMM_REPORT" || fail "a new VMM after all that got nothing"
echo "control socket robust"
