#!/usr/bin/env bash
# Control replies while the API is scraped, measured side by side in one
# run: with CONTROL_BENCH_VMS test VMMs of CONTROL_BENCH_VCPUS idle vCPUs
# tracked (100 x 8 = 800), a wave of CONTROL_BENCH_VMMS VMMs (50) starts
# at once; each registers, sets its record and sends CONTROL_BENCH_ROUNDS
# (20) snapshot requests, timing each reply. One wave with no scrape, one
# while /metrics and /v1/vms are scraped in a loop. Prints the p50/p99 of
# both waves' replies, the ratio of the p99s (the goal: at most 2), the
# VMMs whose requests failed (a library timeout is 5 s) and scrape errors,
# then how long whole rescans' updates held the VM table's lock (the
# daemon's stealtime_daemon_rescan_apply_* metrics: what a control request
# may wait behind, whatever the host's speed).
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
NBG=${CONTROL_BENCH_VMS:-100}
NBGV=${CONTROL_BENCH_VCPUS:-8}
NV=${CONTROL_BENCH_VMMS:-50}
ROUNDS=${CONTROL_BENCH_ROUNDS:-20}

start_daemon ${CONTROL_BENCH_DAEMON_ARGS:-}
tracked() { curl -fsS "$URL/v1/vms" | jq '[.vms[].vcpus[]] | length'; }
for i in $(seq 1 "$NBG"); do
	bg "$BUILD/tests/vmm/testvmm" --vcpus "$NBGV" --seconds 3600 --idle-us 10000000 --name "idle-$i" \
		--report /dev/null
	[ $((i % 25)) -eq 0 ] && sleep 1
done
wait_for 300 sh -c "[ \$(curl -fsS $URL/v1/vms | jq '[.vms[].vcpus[]] | length') -ge $((NBG * NBGV)) ]" ||
	fail "$(tracked) of $((NBG * NBGV)) vCPUs tracked"

# wave NAME: NV VMMs at once; every reply's wait (us) in $TMP/NAME.us,
# registrations' in $TMP/NAME.reg, VMMs with a failed request in $TMP/NAME.failed
wave() {
	local name=$1 pids=() i t0=$SECONDS done
	for i in $(seq 1 "$NV"); do
		"$BUILD/tests/vmm/testvmm" --vcpus 1 --seconds 3600 --idle-us 10000000 --name "$name-$i" \
			--control "$CONTROL_SOCK" --control-rounds "$ROUNDS" \
			--report "$TMP/$name-$i.jsonl" >/dev/null 2>&1 &
		pids+=($!); PIDS+=($!)
	done
	while :; do
		done=$(cat "$TMP/$name"-*.jsonl 2>/dev/null |
			grep -c '"event":"control_rounds"\|"event":"register","ok":false')
		[ "$done" -ge "$NV" ] && break
		[ $((SECONDS - t0)) -lt 600 ] || fail "wave $name: $done of $NV VMMs done after 600 s"
		sleep 0.5
	done
	cat "$TMP/$name"-*.jsonl | jq -r 'select(.event == "control_rounds") | .us[]' >"$TMP/$name.us"
	cat "$TMP/$name"-*.jsonl | jq -r 'select(.event == "register" and .ok) | .connect_register_us' >"$TMP/$name.reg"
	cat "$TMP/$name"-*.jsonl | jq -r 'select((.event == "control_rounds" and .failed > 0) or
		(.event == "register" and (.ok | not))) | .event' | wc -l >"$TMP/$name.failed"
	cat "$TMP/$name"-*.jsonl | grep -m3 '"event":"register","ok":false\|"failed":[1-9]' | sed "s/^/# $name: /"
	kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	wait_for 60 sh -c "! curl -fsS $URL/v1/vms | jq -e '.vms[] | select(.name | startswith(\"$name-\"))' >/dev/null" ||
		fail "wave $name's VMs not retired"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
pct() { sort -n "$1" | awk -v p="$2" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i] + 0}'; }

c0=$(cpu_ticks); t0=$(date +%s%N)
wave quiet
c1=$(cpu_ticks); t1=$(date +%s%N)
note "quiet wave: $(( (t1 - t0) / 1000000 )) ms, daemon CPU $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms"
scrape_loop() {
	while [ ! -e "$TMP/stop" ]; do
		if curl -fsS --compressed -o /dev/null "$URL$1"; then echo ok; else echo err; fi
	done >>"$TMP/scrapes.$2"
}
bg scrape_loop /metrics metrics
bg scrape_loop /v1/vms vms
sleep 1
c0=$(cpu_ticks); t0=$(date +%s%N)
wave scraped
c1=$(cpu_ticks); t1=$(date +%s%N)
touch "$TMP/stop"
note "scraped wave: $(( (t1 - t0) / 1000000 )) ms, daemon CPU $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms"
sleep 1

echo "== control replies (snapshot) with $(tracked) vCPUs tracked: $NV VMMs x $ROUNDS requests a wave"
for w in quiet scraped; do
	echo "$w: replies p50 $(pct "$TMP/$w.us" 50) us, p99 $(pct "$TMP/$w.us" 99) us, max $(pct "$TMP/$w.us" 100) us;" \
		"connect+register p50 $(pct "$TMP/$w.reg" 50) us, p99 $(pct "$TMP/$w.reg" 99) us;" \
		"VMMs with a failed request: $(cat "$TMP/$w.failed")"
done
scrapes=$(cat "$TMP"/scrapes.* | grep -c ok); errors=$(cat "$TMP"/scrapes.* | grep -c err)
echo "scrapes during the second wave: $scrapes (/metrics $(grep -c ok "$TMP/scrapes.metrics"), /v1/vms $(grep -c ok "$TMP/scrapes.vms")), errors $errors"
awk -v a="$(pct "$TMP/scraped.us" 99)" -v b="$(pct "$TMP/quiet.us" 99)" \
	'BEGIN { printf "p99 of control replies while scraping / with no scrape: %.2f (goal <= 2)\n", a / (b ? b : 1) }'
metric() { curl -fsS "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
awk -v n="$(metric stealtime_daemon_rescans_total)" -v sum="$(metric stealtime_daemon_rescan_apply_seconds_total)" \
	-v max="$(metric stealtime_daemon_rescan_apply_max_seconds)" \
	'BEGIN { if (sum == "") { print "table lock held by whole rescans: not reported by this daemon"; exit }
		printf "table lock held by whole rescans: %d rescans, mean %.1f ms, longest %.1f ms\n",
			n, n ? sum * 1000 / n : 0, max * 1000 }'
if [ -n "${CONTROL_BENCH_DAEMON_ARGS:-}" ]; then
	grep -E "rescan" "$TMP/daemon.log" | tail -n 60
fi
