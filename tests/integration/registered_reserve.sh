#!/usr/bin/env bash
# cost: 40 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A local user who can open /dev/kvm fills the tables with VMs that never
# register: a VMM that registers afterwards still gets its VM and vCPUs
# tracked (limits.reserved_percent keeps the last of each limit for
# registered VMs), and its guest's record moves with its thread's run_delay.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

# 4 VMs, 6 vCPU slots; half of each is kept: others may take 2 VMs, 3 vCPUs
echo '{ "limits": { "vms": 4, "vcpus": 6, "reserved_percent": 50 } }' >"$TMP/reserve.json"
start_daemon --config "$TMP/reserve.json"

squatters=()
for i in 1 2 3 4; do
	start_testvmm --vcpus 2 --seconds 600 --idle-us 1000 --name "squat-$i"; squatters+=("$VMM_PID")
	sleep 0.3
done
sleep 2
v=$(api /v1/vms)
note "squatters: $(jq -c '[.vms[] | {name, vcpus: (.vcpus | length)}]' <<<"$v")"
jq_true "$v" '[.vms[] | select(.name | startswith("squat-"))] | length == 2' ||
	fail "processes that never register took more than limits.vms - reserve: $v"
jq_true "$v" '[.vms[] | select(.name | startswith("squat-")) | .vcpus[]] | length == 3' ||
	fail "processes that never register took more than limits.vcpus - reserve: $v"
grep -q "VMs are kept for registered VMs (limits.reserved_percent" "$TMP/daemon.log" ||
	fail "no log line for the VMs kept"
grep -q "vCPU slots are kept for registered VMs (limits.reserved_percent" "$TMP/daemon.log" ||
	fail "no log line for the vCPU slots kept"

# the VMM that registers gets its VM and both vCPUs, measured and committed
hog 1
start_testvmm --vcpus 2 --cpu 1 --seconds 600 --name reg --control "$CONTROL_SOCK" --region-ipa 0x80000
wait_for 20 grep -q '"event":"guest"' "$VMM_REPORT" ||
	{ cat "$VMM_REPORT.out" "$TMP/daemon.log" >&2; fail "the registered guest reported nothing"; }
wait_for 20 vms_hold ".vms[] | select(.pid == $VMM_PID) | .registered and (.vcpus | length == 2) and all(.vcpus[]; .bound)" ||
	fail "the registered VM is not tracked whole: $(vm_json "$VMM_PID")"
tid=${VMM_TIDS%% *}
g0=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"
r0=$(run_delay "$tid")
sleep 2
r1=$(run_delay "$tid")
g1=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"
note "guest record grew $((g1 - g0)) ns; run_delay grew $((r1 - r0)) ns"
[ $((g1 - g0)) -gt $(((r1 - r0) / 2)) ] || fail "the guest's record did not follow run_delay"

# the squatters still do not get the reserve
v=$(api /v1/vms)
jq_true "$v" '[.vms[] | select(.name | startswith("squat-"))] | length == 2' || fail "a squatter took the reserve: $v"
echo "registered VM tracked and committed with the tables full of unregistered VMs"
