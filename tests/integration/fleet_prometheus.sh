#!/usr/bin/env bash
# cost: 90 (seconds, here: it boots two VMs itself)
# A fleet of two hosts: two VMs of tests/vm/run.sh side by side, each
# running stealtimed (listening on all addresses, forwarded to a loopback
# port here) and a KVM guest of the test VMM beside a CPU hog. Debian's
# Prometheus server here finds both through file_sd, relabelled to the
# instances host-a and host-b, with monitoring/'s rules loaded: one query
# sees the VMs of both hosts, the fleet recording rules keep the host, the
# host alert (its threshold and "for" lowered) fires for each host and its
# annotation names it, all with the per-vCPU series the README's fleet
# section drops on dense hosts dropped (metric_relabel_configs). Prints the series of /metrics per host, VM and vCPU
# (host-a's scrape is kept in build/test-logs/fleet_prometheus.host-a.prom).
source "$(dirname "$0")/../lib.sh"
need_root
cd "$ROOT" || fail "no $ROOT"
GUEST_PORT=9477

if [ -n "${FLEET_HOST:-}" ]; then
	# one host of the fleet, in its VM; FLEET_DIR is shared with the test
	[ -w /dev/kvm ] || skip "no usable /dev/kvm in the VM"
	need_btf
	DAEMON_LISTEN=0.0.0.0:$GUEST_PORT start_daemon
	hog 0
	start_testvmm --vcpus 2 --cpu 0 --seconds 900 --name "$FLEET_HOST-vm" --control "$CONTROL_SOCK"
	wait_for 30 vms_hold '.vms | length == 1' || fail "$FLEET_HOST: the VM is not listed: $(api /v1/vms)"
	echo "$VMM_PID" >"$FLEET_DIR/$FLEET_HOST.ready"
	for _ in $(seq 1 600); do
		[ -e "$FLEET_DIR/done" ] && exit 0
		sleep 1
	done
	fail "$FLEET_HOST: the test never said done"
fi

[ -z "${STEALTIME_VM:-}" ] || skip "it starts VMs of its own: run it on the host, not in a VM"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed"
command -v prometheus >/dev/null || skip "prometheus not installed"
FLEET_DIR=$(mktemp -d "$BUILD/fleet.XXXXXX") # in the project folder: the VMs see it
HOSTS=(host-a host-b)
declare -A PORT VM_PID
# at exit the VMs are told to stop and awaited before the usual cleanup
fleet_cleanup() {
	local h
	touch "$FLEET_DIR/done"
	for h in "${HOSTS[@]}"; do
		[ -n "${VM_PID[$h]:-}" ] && wait_for 90 eval "! kill -0 ${VM_PID[$h]} 2>/dev/null"
	done
	rm -rf "$FLEET_DIR"
	cleanup
}
trap fleet_cleanup EXIT

for h in "${HOSTS[@]}"; do
	PORT[$h]=$(free_port)
	bg bash tests/vm/run.sh --mem 2G --timeout 600 --forward "${PORT[$h]}:$GUEST_PORT" -- \
		env BUILD="$BUILD" FLEET_HOST="$h" FLEET_DIR="$FLEET_DIR" bash "$ROOT/tests/integration/fleet_prometheus.sh" \
		>"$TMP/$h.log" 2>&1
	VM_PID[$h]=$!
done
[ "${PORT[host-a]}" != "${PORT[host-b]}" ] || fail "the same port twice"
# both hosts up, each with its VM running (a VM that ends early fails the test)
hosts_ready() {
	local h
	for h in "${HOSTS[@]}"; do
		kill -0 "${VM_PID[$h]}" 2>/dev/null || { sed 's/^/    | /' "$TMP/$h.log" >&2; fail "the VM of $h ended"; }
	done
	for h in "${HOSTS[@]}"; do [ -e "$FLEET_DIR/$h.ready" ] || return 1; done
}
start=$SECONDS
wait_for 300 hosts_ready || fail "the hosts were not ready in 300 s"
note "both hosts ready after $((SECONDS - start)) s"
for h in "${HOSTS[@]}"; do
	curl -fsS "http://127.0.0.1:${PORT[$h]}/metrics" >"$TMP/$h.prom" ||
		fail "no /metrics of $h through 127.0.0.1:${PORT[$h]}"
done

# series per host, per VM and per vCPU, from host-a's /metrics (one VM, 2 vCPUs)
prom=$TMP/host-a.prom
vm_id=$(sed -n 's/^stealtime_vm_info{.*vm_id="\([^"]*\)".*/\1/p' "$prom" | head -n 1)
[ -n "$vm_id" ] || fail "no stealtime_vm_info in host-a's /metrics"
grep -v '^#' "$prom" >"$TMP/series"
per_vcpu=$(grep -c "vm_id=\"$vm_id\".*vcpu=\"0\"" "$TMP/series")
per_vcpu1=$(grep -c "vm_id=\"$vm_id\".*vcpu=\"1\"" "$TMP/series")
per_vm=$(grep "vm_id=\"$vm_id\"" "$TMP/series" | grep -v 'vcpu="' | grep -vc '^stealtime_vm_stolen_by_seconds_total')
culprits=$(grep -c "^stealtime_vm_stolen_by_seconds_total{.*vm_id=\"$vm_id\"" "$TMP/series")
per_host=$(grep -vc 'vm_id="' "$TMP/series")
total=$(wc -l <"$TMP/series")
[ "$per_vcpu" -gt 0 ] && [ "$per_vcpu" -eq "$per_vcpu1" ] ||
	fail "vCPUs 0 and 1 have $per_vcpu and $per_vcpu1 series"
[ $((2 * per_vcpu + per_vm + culprits + per_host)) -eq "$total" ] ||
	fail "series do not add up: 2 x $per_vcpu + $per_vm + $culprits + $per_host != $total"
mkdir -p "$BUILD/test-logs" && cp "$prom" "$BUILD/test-logs/fleet_prometheus.host-a.prom" # kept for the record
note "/metrics of a host with 1 VM of 2 vCPUs: $total series = $per_host per host + $per_vm per VM + $culprits stolen_by of the VM + $per_vcpu per vCPU x 2"

# Prometheus here, its targets from a file, relabelled to a host name; per
# vCPU only steal and run kept, as on a dense host (README, Fleet)
DENSE_DROP='stealtime_vcpu_(waits|preemptions|wakeups|commits|committed_seconds|throttled_seconds)_total|stealtime_vcpu_max_wait_seconds'
cat >"$TMP/targets.json" <<EOT
[
  {"targets": ["127.0.0.1:${PORT[host-a]}"], "labels": {"__host": "host-a"}},
  {"targets": ["127.0.0.1:${PORT[host-b]}"], "labels": {"__host": "host-b"}}
]
EOT
# the host alert as shipped, but firing at any steal, at once
sed -e 's/> 0\.05$/> 0/' -e 's/for: 15m/for: 0s/' monitoring/stealtime-alerts.yml >"$TMP/alerts.yml"
[ "$(diff monitoring/stealtime-alerts.yml "$TMP/alerts.yml" | grep -c '^>')" -eq 2 ] ||
	fail "the host alert's threshold or for: not found in stealtime-alerts.yml"
cat >"$TMP/prometheus.yml" <<EOC
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 1s
rule_files:
  - $TMP/alerts.yml
  - $ROOT/monitoring/stealtime-fleet-rules.yml
scrape_configs:
  - job_name: stealtime
    file_sd_configs:
      - files: ['$TMP/targets.json']
    relabel_configs:
      - source_labels: [__host]
        target_label: instance
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: $DENSE_DROP
        action: drop
EOC
start_prometheus "$TMP/prometheus.yml"
# the instances a query's series carry, sorted, on one line
instances() { jq -r '[.data.result[].metric.instance] | sort | join(" ")' <<<"$r"; }

wait_for 60 query_holds 'up{job="stealtime"} == 1' '.data.result | length == 2' ||
	fail "Prometheus does not see both hosts up: $(query 'up'; tail -n 5 "$TMP/prometheus.log")"
note "up: $(instances)"
wait_for 10 query_holds 'count by (instance) (stealtime_vm_info)' \
	'[.data.result[] | {(.metric.instance): .value[1]}] | add == {"host-a": "1", "host-b": "1"}' ||
	fail "count by (instance) (stealtime_vm_info) is not one VM on each of host-a and host-b: $r"
note "count by (instance) (stealtime_vm_info): $(jq -c '[.data.result[] | [.metric.instance, .value[1]]]' <<<"$r")"
for h in "${HOSTS[@]}"; do
	query_holds "stealtime_vm_info{instance=\"$h\"}" ".data.result[0].metric.vm == \"$h-vm\"" ||
		fail "the VM of $h is not $h-vm: $r"
done

query_holds 'count by (instance) ({__name__=~"stealtime_vcpu_.+"})' \
	'[.data.result[] | {(.metric.instance): .value[1]}] | add == {"host-a": "4", "host-b": "4"}' ||
	fail "not 2 series per vCPU (steal, run) on each host after metric_relabel_configs: $r"
query_holds 'scrape_samples_post_metric_relabeling{instance="host-a"}' '.data.result | length == 1' ||
	fail "no scrape_samples_post_metric_relabeling: $r"
note "host-a: $(jq -r '.data.result[0].value[1]' <<<"$r") series kept of $total"

# the recording rules: each host's VM and the host itself, with its instance
both='([.data.result[].metric.instance] | sort == ["host-a", "host-b"])'
wait_for 60 query_holds 'instance_vm:stealtime_steal_ratio:rate5m > 0' "$both" ||
	fail "instance_vm:stealtime_steal_ratio:rate5m is not positive on both hosts: $r"
note "instance_vm:stealtime_steal_ratio:rate5m: $(jq -c '[.data.result[] | [.metric.instance, .metric.vm, (.value[1] | tonumber * 1000 | round / 1000)]]' <<<"$r")"
query_holds 'fleet:stealtime_vm_steal_ratio:top10' "$both"' and ([.data.result[].metric.vm] | sort == ["host-a-vm", "host-b-vm"])' ||
	fail "fleet:stealtime_vm_steal_ratio:top10 does not rank both hosts' VMs by host: $r"
wait_for 30 query_holds 'fleet:stealtime_host_steal_ratio:top10 > 0' "$both" ||
	fail "fleet:stealtime_host_steal_ratio:top10 does not rank both hosts: $r"
wait_for 30 query_holds 'count by (instance) (fleet:stealtime_culprit_stolen_seconds:top10)' "$both" ||
	fail "fleet:stealtime_culprit_stolen_seconds:top10 does not name culprits of both hosts: $r"
query_holds 'fleet:stealtime_culprit_stolen_seconds:top10' '[.data.result[].metric.culprit_kind] | index("other") == null' ||
	fail "\"other\" is ranked as a culprit: $r"
note "culprits: $(jq -c '[.data.result[] | [.metric.instance, .metric.culprit_kind, .metric.culprit]]' <<<"$(query 'fleet:stealtime_culprit_stolen_seconds:top10')")"

# the host alert fires for each host and its annotation names it
alerts_name_hosts() {
	r=$(curl -fsS "$P/api/v1/alerts" 2>/dev/null) && jq_true "$r" '
		[.data.alerts[] | select(.labels.alertname == "StealtimeHostStealHigh" and .state == "firing")
		 | select(.labels.instance as $i | .annotations.summary | startswith("Host \($i):"))
		 | .labels.instance] | sort == ["host-a", "host-b"]'
}
wait_for 30 alerts_name_hosts || fail "StealtimeHostStealHigh does not fire naming host-a and host-b: $r"
note "$(jq -r '.data.alerts[] | select(.labels.alertname == "StealtimeHostStealHigh") | .annotations.summary' <<<"$r" | sort | paste -sd ';')"
jq_true "$(curl -fsS "$P/api/v1/rules")" '[.data.groups[].rules[]] | length >= 13' || fail "the rules are not all loaded"
echo "a fleet of two hosts in one Prometheus: VMs, rankings and alerts by host"
