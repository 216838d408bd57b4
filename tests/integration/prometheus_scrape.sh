#!/usr/bin/env bash
# cost: 58 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The Prometheus server (Debian's), started on loopback with a scrape
# config pointing at the daemon: the target is up, its scrapes are served
# gzip-compressed, and stealtime series of a running VM come back through
# the query API.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v prometheus >/dev/null || skip "prometheus not installed"

start_daemon
start_testvmm --vcpus 2 --seconds 600 --name prom-vm
wait_for 5 vm_json "$VMM_PID" >/dev/null || fail "VM not listed"
id=$(vm_json "$VMM_PID" | jq -r .id)

cat >"$TMP/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/monitoring/stealtime-alerts.yml
scrape_configs:
  - job_name: stealtime
    static_configs:
      - targets: ['${URL#http://}']
EOC
start_prometheus "$TMP/prometheus.yml"
wait_for 60 query_holds 'up{job="stealtime"}' '.data.result[0].value[1] == "1"' ||
	fail "Prometheus does not see the daemon up: $(query 'up' 2>&1)"
note "up{job=\"stealtime\"} == 1"
# Prometheus asks for gzip: its scrapes are counted as gzip bytes (a scrape shows the ones before it)
gzip_q='stealtime_daemon_http_response_bytes_total{job="stealtime",encoding="gzip"}'
wait_for 10 query_holds "$gzip_q" '(.data.result[0].value[1] // 0 | tonumber) > 0' ||
	fail "Prometheus's scrapes were not gzip-compressed: $(query "$gzip_q")"
wait_for 20 query_holds "stealtime_vcpu_run_seconds_total{vm_id=\"$id\"}" '.data.result | length == 2' ||
	fail "no run-time series for VM $id: $(query "stealtime_vcpu_run_seconds_total")"
rate_q="sum(rate(stealtime_vcpu_run_seconds_total{vm_id=\"$id\"}[5s]))"
positive_rate() {
	r=$(query "$rate_q" 2>/dev/null) && jq_true "$r" '.data.result[0].value[1] | tonumber > 0'
}
wait_for 20 positive_rate || fail "no positive run rate for VM $id: $r"
note "VM $id runs $(jq -r '.data.result[0].value[1]' <<<"$r") CPU-seconds per second"
rules=$(curl -fsS "$P/api/v1/rules")
jq_true "$rules" '[.data.groups[].rules[]] | length >= 3' || fail "alert rules not loaded: $rules"
echo "Prometheus scrapes stealtimed"
