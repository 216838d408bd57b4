#!/usr/bin/env bash
# cost: 47 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Limits reached (limits.vms, limits.vcpus): what does not fit is refused
# with a clear log line and counted in /metrics, nothing else is disturbed,
# and what fits is tracked exactly.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf

echo '{ "limits": { "vms": 3, "vcpus": 5 } }' >"$TMP/limits.json"
start_daemon --config "$TMP/limits.json"
exhausted() { curl -fsS "$URL/metrics" | awk '/^stealtime_daemon_slots_exhausted_total/ {print $2}'; }
[ "$(exhausted)" = 0 ] || fail "drops counted before any VM"

# 4 VMs of 2 vCPUs: 3 VMs fit, 5 vCPU slots
vms=()
for i in 1 2 3 4; do
	start_testvmm --vcpus 2 --seconds 600 --name "lim-$i"; vms+=("$VMM_PID")
	sleep 0.3
done
sleep 2
listed=$(curl -fsS "$URL/v1/vms" | jq '[.vms[] | select(.name | startswith("lim-"))] | length')
vcpus=$(curl -fsS "$URL/v1/vms" | jq '[.vms[] | select(.name | startswith("lim-")) | .vcpus[]] | length')
note "listed $listed VMs with $vcpus vCPUs; exhausted counter $(exhausted)"
[ "$listed" -eq 3 ] || fail "limits.vms=3 but $listed VMs listed"
[ "$vcpus" -eq 5 ] || fail "limits.vcpus=5 but $vcpus vCPUs tracked"
[ "$(exhausted)" -gt 0 ] || fail "refusals not counted"
grep -q "limits.vms (3) reached" "$TMP/daemon.log" || fail "no log line for limits.vms"
grep -q "limits.vcpus (5) reached" "$TMP/daemon.log" || fail "no log line for limits.vcpus"
# the tracked vCPUs are right: steal equals the kernel's run_delay
vm_json "${vms[0]}" | jq -e '.vcpus | length == 2' >/dev/null || fail "the first VM lost a vCPU"

# room again: a VM stops, the one left out is taken in
kill "${vms[0]}"
wait_for 10 vms_hold "[.vms[] | select(.name | startswith(\"lim-\"))] | length == 3 and (map(.pid) | index(${vms[3]}) != null)" ||
	fail "the VM left out was not taken in when room came"
echo "limits enforced and counted"
