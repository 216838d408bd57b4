#!/usr/bin/env bash
# cost: 30 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A registration belongs to the VMM process, not to its connection: a VMM
# whose connection closes (a timeout, its own reconnect) and that registers
# again on a new one gets the same VM, region and records, and its guest's
# stolen time never stops growing: not while no connection is open, not
# after. Twice, to show the second connection is as good as the first.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK"
hog 1
wait_for 10 grep -q '"event":"guest"' "$VMM_REPORT" || fail "guest reported nothing"
id=$(vm_json "$VMM_PID" | jq -r .id)
g0=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"

for round in 1 2; do
	kill -HUP "$VMM_PID" # st_vmm_reconnect(): close, connect, register again
	wait_for 10 sh -c "[ \$(grep -c '\"event\":\"reregister\"' $VMM_REPORT) -ge $round ]" ||
		fail "round $round: the VMM did not reconnect"
	rr=$(grep '"event":"reregister"' "$VMM_REPORT" | sed -n "${round}p")
	note "round $round: $rr"
	jq_true "$rr" ".ok and .vm == \"$id\" and .same_region and .set_ipa_again == \"EEXIST\"" ||
		fail "round $round: the VMM did not get its VM, region and records back: $rr"
	vm_json "$VMM_PID" | jq -e '.registered and .vcpus[0].commit != null' >/dev/null ||
		fail "round $round: the VM is no longer registered"
	sleep 1
	g1=$(next_guest_value "$VMM_REPORT" 0) || fail "round $round: no guest value"
	note "round $round: guest value $g0 -> $g1 ns"
	[ "$g1" -gt $((g0 + 200000000)) ] || fail "round $round: the guest's stolen time stopped ($g0 -> $g1)"
	g0=$g1
done
# the old connection's end, or, where the new one's register came first, the
# take-over (either order is the event loop's to choose)
[ "$(grep -Ec "connection closed; the registration stays|registers again on a new connection" \
	"$TMP/daemon.log")" -ge 2 ] || fail "the daemon did not log each closed connection or take-over"

! grep -q "region .* released" "$TMP/daemon.log" || fail "a region was released"
guest_lines "$VMM_REPORT" 0 | jq -s -e '[.[].stolen_ns] as $v | all(range(1; $v | length); $v[.] >= $v[. - 1])' >/dev/null ||
	fail "the guest saw its stolen time decrease"
echo "two reconnects: same VM $id and region, the guest's stolen time kept growing"
