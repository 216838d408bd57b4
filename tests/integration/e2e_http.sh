#!/usr/bin/env bash
# cost: 49 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# End to end: the daemon serves /metrics that promtool accepts, the JSON
# API, /healthz, 404 and 405, and stealtimectl lists the VM; a reload with
# "vcpu_detail": false leaves steal and run time as the only per-vCPU series.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v promtool >/dev/null || skip "promtool not installed"

echo '{ "vcpu_detail": true }' >"$TMP/config.json"
start_daemon --config "$TMP/config.json"
start_testvmm --vcpus 2 --seconds 600 --name e2e-vmm
wait_for 5 vm_json "$VMM_PID" >/dev/null || fail "VM not listed"

curl -fsS "$URL/metrics" >"$TMP/metrics" || fail "GET /metrics"
promtool check metrics <"$TMP/metrics" 2>&1 | tee "$TMP/promtool.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "promtool check metrics rejected /metrics"
for m in stealtime_vcpu_steal_seconds_total stealtime_vcpu_run_seconds_total \
	stealtime_vcpu_waits_total stealtime_vm_wait_seconds_bucket stealtime_vms stealtime_vcpus; do
	grep -q "^$m" "$TMP/metrics" || fail "metric $m missing"
done
n=$(grep -c "^stealtime_vcpu_steal_seconds_total{.*vcpu=" "$TMP/metrics")
[ "$n" -ge 2 ] || fail "expected >= 2 vCPU steal series, got $n"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$URL/healthz")" = 200 ] || fail "/healthz"
[ "$(code "$URL/nope")" = 404 ] || fail "unknown path is not 404"
[ "$(code -X POST "$URL/metrics")" = 405 ] || fail "POST is not 405"
[ "$(code "$URL/v1/vms/doesnotexist")" = 404 ] || fail "unknown VM is not 404"

id=$(vm_json "$VMM_PID" | jq -r .id)
jq_true "$(api "/v1/vms/$id")" '.vcpus | length == 2' || fail "/v1/vms/$id"

# values come from the maps at request time: run time grows between scrapes
r0=$(vm_json "$VMM_PID" | jq '[.vcpus[].run_ns] | add'); sleep 1
r1=$(vm_json "$VMM_PID" | jq '[.vcpus[].run_ns] | add')
[ "$r1" -gt "$r0" ] || fail "run_ns did not grow ($r0 -> $r1)"

"$BUILD/stealtimectl" --server "$URL" list >"$TMP/ctl.out" || fail "stealtimectl list failed"
cat "$TMP/ctl.out"
grep -q "$id\|e2e-vmm\|testvmm" "$TMP/ctl.out" || fail "stealtimectl list does not show the VM"
"$BUILD/stealtimectl" --server http://127.0.0.1:1 list >/dev/null 2>"$TMP/ctl.err" && fail "stealtimectl succeeded without a daemon"
grep -qi "cannot reach" "$TMP/ctl.err" || fail "no clear message when the daemon is down"

# dense hosts: per-vCPU series cut to steal and run time on reload
vcpu_families() { api /metrics | grep -o '^stealtime_vcpu_[a-z_]*{' | sort -u | tr -d '{' | tr '\n' ' '; }
full=$(vcpu_families)
echo '{ "vcpu_detail": false }' >"$TMP/config.json"
kill -HUP "$DAEMON_PID"
wait_for 5 grep -q "configuration reloaded" "$TMP/daemon.log" || fail "reload not applied"
minimal=$(vcpu_families)
note "per-vCPU families: detail: $full; without: $minimal"
[ "$minimal" = "stealtime_vcpu_run_seconds_total stealtime_vcpu_steal_seconds_total " ] ||
	fail "vcpu_detail false left: $minimal"
[ "$(wc -w <<<"$full")" -gt 2 ] || fail "vcpu_detail true gave only: $full"
api /metrics | grep -q "^stealtime_vm_wait_seconds_count{.*vm_id=\"$id\"" || fail "per-VM series gone"
echo "e2e ok"
