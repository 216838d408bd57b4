#!/usr/bin/env bash
# The monitoring kit in monitoring/: the alerting rules pass `promtool check
# rules` and their unit tests (`promtool test rules`), and those tests fail
# when a threshold, a "for" or the absent() case is changed; the Grafana
# dashboard is valid JSON with a Prometheus data source variable; every
# metric the rules and the dashboard use is one render_prom exports.
. "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null || skip "no promtool"
command -v jq >/dev/null || skip "no jq"
KIT=$ROOT/monitoring
RULES=$KIT/stealtime-alerts.yml
DASH=$KIT/stealtime-dashboard.json

# --- alerting rules ---------------------------------------------------------------
promtool check rules "$RULES" >"$TMP/check.out" 2>&1 || { cat "$TMP/check.out"; fail "promtool check rules"; }
for a in StealtimeVMStealHigh StealtimeVMWaitP99High StealtimeDaemonDown; do
	grep -q "alert: $a\$" "$RULES" || fail "no alert $a"
done
(cd "$KIT" && promtool test rules stealtime-alerts.test.yml) >"$TMP/test.out" 2>&1 ||
	{ cat "$TMP/test.out"; fail "promtool test rules"; }
note "rules: $(grep -c 'alert:' "$RULES") alerts, unit tests pass"

# the unit tests notice a changed rule
mkdir "$TMP/mut"
cp "$KIT/stealtime-alerts.test.yml" "$TMP/mut/"
mutations=(
	's/> 0\.10$/> 0.20/'                                 # steal threshold up: web01 (15%) no longer fires
	's/> 0\.10$/> 0.08/'                                 # steal threshold down: ci (9%) fires too
	's/> 0\.050$/> 0.070/'                               # p99 threshold up: web01 (66 ms) no longer fires
	'0,/for: 10m/s//for: 1m/'                            # steal alert fires before 10 minutes
	's/ or absent(up{job="stealtime"})//'                # no alert without a target
)
for m in "${mutations[@]}"; do
	sed "$m" "$RULES" >"$TMP/mut/stealtime-alerts.yml"
	cmp -s "$RULES" "$TMP/mut/stealtime-alerts.yml" && fail "mutation '$m' changed nothing"
	promtool check rules "$TMP/mut/stealtime-alerts.yml" >/dev/null 2>&1 || fail "mutation '$m' broke the rules"
	(cd "$TMP/mut" && promtool test rules stealtime-alerts.test.yml) >/dev/null 2>&1 &&
		fail "the rule tests pass with '$m'"
done
note "rule tests fail on ${#mutations[@]} of ${#mutations[@]} changed rules"

# --- dashboard ------------------------------------------------------------------------
jq -e . "$DASH" >/dev/null || fail "dashboard is not valid JSON"
jq -e '.schemaVersion >= 36 and (.title | length > 0) and (.uid | length > 0)' "$DASH" >/dev/null ||
	fail "dashboard: schemaVersion, title or uid"
jq -e '[.templating.list[] | select(.name == "datasource" and .type == "datasource" and .query == "prometheus")] | length == 1' \
	"$DASH" >/dev/null || fail "dashboard has no Prometheus datasource variable"
jq -e '[.panels[] | .datasource.uid == "${datasource}" and ([.targets[].datasource.uid] | all(. == "${datasource}"))] | all' \
	"$DASH" >/dev/null || fail "a panel does not use the datasource variable"
for t in "Steal % per VM" "Top culprits per VM" "p99 wait per VM" "Throttled by its own CPU quota" "Daemon errors and drops"; do
	jq -e --arg t "$t" '[.panels[] | select(.title == $t and (.targets | length > 0))] | length == 1' "$DASH" >/dev/null ||
		fail "dashboard has no panel '$t'"
done
jq -e '[.panels[] | .id] | length == (unique | length)' "$DASH" >/dev/null || fail "panel ids repeat"

# --- metric names -------------------------------------------------------------------------
grep -o '"stealtime_[a-z0-9_]*"' "$ROOT/daemon/render_prom.c" | tr -d '"' | sort -u >"$TMP/exported"
[ -s "$TMP/exported" ] || fail "no metric names found in daemon/render_prom.c"
grep -oh 'stealtime_[a-z0-9_]*' "$RULES" "$DASH" | sort -u >"$TMP/used"
sample=$BUILD/tests/test_render_prom
[ -x "$sample" ] && "$sample" --dump-sample >"$TMP/sample.prom"
while read -r m; do
	base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$m")
	grep -qx "$m" "$TMP/exported" || grep -qx "$base" "$TMP/exported" ||
		fail "$m is used but daemon/render_prom.c does not export it"
	if [ -s "$TMP/sample.prom" ]; then
		# a series name, or a histogram's family name
		grep -Eq "^$m[{ ]|^# TYPE $m histogram\$" "$TMP/sample.prom" ||
			fail "$m is not in render_prom's output"
	fi
done <"$TMP/used"
note "metrics used by the kit: $(wc -l <"$TMP/used"), all exported"
echo "monitoring kit ok"
