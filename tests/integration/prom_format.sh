#!/usr/bin/env bash
# The Prometheus text of render_prom, for a sample view with escaped names,
# per-vCPU and per-VM histograms, culprits beyond the top, guest records
# and u64 extremes, passes `promtool check metrics`
# (format and naming lint). The daemon's own /metrics is checked end to end
# elsewhere.
. "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null || skip "no promtool"
bin=$BUILD/tests/test_render_prom
[ -x "$bin" ] || fail "$bin not built (make tests)"

"$bin" --dump-sample >"$TMP/sample.prom" || fail "render_prom failed"
grep -q '^stealtime_vm_wait_seconds_bucket{.*le="+Inf"}' "$TMP/sample.prom" ||
	fail "no histogram in the sample"
grep -q '^stealtime_vm_wait_seconds_bucket{vm="web01",vm_id="4021",le="+Inf"} ' "$TMP/sample.prom" ||
	fail "no per-VM histogram in the sample"
grep -q '^stealtime_vm_stolen_by_seconds_total{vm="web01",vm_id="4021",culprit_kind="other",culprit="other"} ' "$TMP/sample.prom" ||
	fail "no stolen_by series in the sample"
grep -q '^stealtime_vm_throttled_seconds_total{' "$TMP/sample.prom" || fail "no throttled series in the sample"
if ! promtool check metrics <"$TMP/sample.prom" >"$TMP/promtool.out" 2>&1; then
	cat "$TMP/promtool.out"
	fail "promtool check metrics"
fi
note "promtool: $(wc -l <"$TMP/sample.prom") lines accepted"
