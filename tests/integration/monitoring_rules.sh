#!/usr/bin/env bash
# The monitoring kit in monitoring/: the alerting and fleet recording rules
# pass `promtool check rules` and their unit tests (`promtool test rules`),
# and those tests fail when a threshold, a "for", the absent() case, the
# instance of a ranking or its exclusion of "other" is changed; the Grafana
# dashboard is valid JSON with a Prometheus data source variable and a host
# selector that every query uses; every metric the rules and the dashboard
# use is one render_prom exports, every recorded series one the fleet rules
# record.
. "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null || skip "no promtool"
command -v jq >/dev/null || skip "no jq"
KIT=$ROOT/monitoring
RULES=$KIT/stealtime-alerts.yml
FLEET=$KIT/stealtime-fleet-rules.yml
DASH=$KIT/stealtime-dashboard.json

# --- alerting rules ---------------------------------------------------------------
promtool check rules "$RULES" "$FLEET" >"$TMP/check.out" 2>&1 || { cat "$TMP/check.out"; fail "promtool check rules"; }
for a in StealtimeVMStealHigh StealtimeVMWaitP99High StealtimeHostStealHigh StealtimeDaemonDown; do
	grep -q "alert: $a\$" "$RULES" || fail "no alert $a"
done
(cd "$KIT" && promtool test rules stealtime-alerts.test.yml) >"$TMP/test.out" 2>&1 ||
	{ cat "$TMP/test.out"; fail "promtool test rules"; }
note "rules: $(grep -c 'alert:' "$RULES") alerts, $(grep -c 'record:' "$FLEET") fleet recording rules, unit tests pass"
grep -q 'record:' "$RULES" && fail "recording rules belong in $(basename "$FLEET")"
grep -q 'alert:' "$FLEET" && fail "alerts belong in $(basename "$RULES")"

# the unit tests notice a changed rule: FILE:SED, FILE the rules file changed
mkdir "$TMP/mut"
mutations=(
	'stealtime-alerts.yml:s/> 0\.10$/> 0.20/'                  # steal threshold up: web01 (15%) no longer fires
	'stealtime-alerts.yml:s/> 0\.10$/> 0.08/'                  # steal threshold down: ci (9%) fires too
	'stealtime-alerts.yml:s/> 0\.050$/> 0.070/'                # p99 threshold up: web01 (66 ms) no longer fires
	'stealtime-alerts.yml:0,/for: 10m/s//for: 1m/'             # steal alert fires before 10 minutes
	'stealtime-alerts.yml:s/ or absent(up{job="stealtime"})//' # no alert without a target
	'stealtime-alerts.yml:s/> 0\.05$/> 0.15/'                  # host threshold up: h1 (11.7%) no longer fires
	'stealtime-alerts.yml:s/> 0\.05$/> 0.03/'                  # host threshold down: h2 (3.75%) fires too
	'stealtime-alerts.yml:s/for: 15m/for: 5m/'                 # host alert fires before 15 minutes
	'stealtime-fleet-rules.yml:0,/by (instance, vm, vm_id)/s//by (vm, vm_id)/' # rankings lose the host
	'stealtime-fleet-rules.yml:s/topk by (instance) (3,/topk(3,/'            # top 3 of the fleet, not of each host
	'stealtime-fleet-rules.yml:s/{culprit_kind!~"other|throttled"}//'        # "other" ranked as a culprit
	'stealtime-fleet-rules.yml:s/other|throttled/other/'                     # a VM's own quota ranked as a culprit
)
for m in "${mutations[@]}"; do
	f=${m%%:*} sedm=${m#*:}
	cp "$KIT/stealtime-alerts.test.yml" "$RULES" "$FLEET" "$TMP/mut/"
	sed "$sedm" "$KIT/$f" >"$TMP/mut/$f"
	cmp -s "$KIT/$f" "$TMP/mut/$f" && fail "mutation '$m' changed nothing"
	promtool check rules "$TMP/mut/$f" >/dev/null 2>&1 || fail "mutation '$m' broke the rules"
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
for t in "Steal % per VM" "Top culprits per VM" "p99 wait per VM" "Throttled by its own CPU quota" "Daemon errors and drops" \
	"Steal % per host"; do
	jq -e --arg t "$t" '[.panels[] | select(.title == $t and (.targets | length > 0))] | length == 1' "$DASH" >/dev/null ||
		fail "dashboard has no panel '$t'"
done
jq -e '[.panels[] | .id] | length == (unique | length)' "$DASH" >/dev/null || fail "panel ids repeat"
# a host selector, and every query of every panel filtered by it
jq -e '[.templating.list[] | select(.name == "instance" and .type == "query" and
	.query.query == "label_values(stealtime_vms, instance)")] | length == 1' "$DASH" >/dev/null ||
	fail "dashboard has no host variable instance from label_values(stealtime_vms, instance)"
jq -r '.panels[] | .title as $t | .targets[] | select(.expr | contains("instance=~\"$instance\"") | not) | "\($t): \(.expr)"' \
	"$DASH" >"$TMP/unfiltered"
[ -s "$TMP/unfiltered" ] && fail "queries not filtered by the host variable: $(cat "$TMP/unfiltered")"

# --- metric names -------------------------------------------------------------------------
grep -o '"stealtime_[a-z0-9_]*"' "$ROOT/daemon/render_prom.c" | tr -d '"' | sort -u >"$TMP/exported"
[ -s "$TMP/exported" ] || fail "no metric names found in daemon/render_prom.c"
# raw metric names (a recorded series, level:metric:operations, is not one)
grep -ohE '[a-z0-9_:]*stealtime_[a-z0-9_]*:?' "$RULES" "$FLEET" "$DASH" | grep -v : | sort -u >"$TMP/used"
grep -ohE '[a-z0-9_]+:stealtime_[a-z0-9_]*:[a-z0-9_]+' "$RULES" "$FLEET" "$DASH" | sort -u >"$TMP/recorded-used"
while read -r r; do
	grep -q "record: $r\$" "$FLEET" || fail "$r is used but $(basename "$FLEET") does not record it"
done <"$TMP/recorded-used"
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
