#!/usr/bin/env bash
# cost: 130 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A QEMU VM's vCPU shares CPU 1 with a long-lived hog and with many times
# more short-lived processes than a stolen_by map of 64 entries holds
# (thousands on a real host; hundreds under TCG, where a fork and exec
# takes about a second): the exited
# ones are folded, so the map does not fill (no drops beyond a rare one,
# below); once the churn is over the hog is the VM's largest
# culprit, its time equal to its run time in /proc; no stolen_by series of
# the VM (nor their sum) ever goes down across scrapes, also across a
# daemon restart in the middle, which keeps the same series.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

spin_bios "$TMP/spin.bin"
bg qemu-system-x86_64 -enable-kvm -name "guest=stt-churn,debug-threads=on" -smp 1 -m 32 \
	-display none -nodefaults -no-user-config -bios "$TMP/spin.bin"
qa=$!
vcpu_thread() {
	local t
	for t in /proc/$qa/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 0/KVM" ] && { basename "$t"; return 0; }
	done
	return 1
}
wait_for 10 vcpu_thread >/dev/null || fail "QEMU has no vCPU thread"
for t in /proc/$qa/task/*; do taskset -pc 1 "$(basename "$t")" >/dev/null; done
hog 1; hogpid=$!

# 64: room for the culprits that stay alive (kernel threads that ran on
# CPU 1 keep an entry each) and for a few seconds of churn between folds
# (a rescan of a loaded TCG VM can take that long)
echo '{"limits": {"attribution_entries": 64}}' >"$TMP/small.json"
start_daemon --config "$TMP/small.json"
wait_for 10 vms_hold ".vms[] | select(.pid == $qa) | .vcpus[0].tid > 0" ||
	fail "QEMU VM not bound"
id=$(vm_json "$qa" | jq -r .id)

# scrape: every stolen_by series of the VM (labels value), checked against the last scrape
touch "$TMP/prev"
scrape() {
	curl -fsS "$URL/metrics" | grep "^stealtime_vm_stolen_by_seconds_total{.*vm_id=\"$id\"" |
		sed 's/^[^{]*{\(.*\)} \(.*\)$/\1 \2/' | sort >"$TMP/now"
	[ -s "$TMP/now" ] || fail "no stolen_by series for the VM"
	awk 'FILENAME == ARGV[1] { prev[$1] = $2; next } { now[$1] = $2; sum += $2 }
	     END {
		for (k in prev) {
			if (!(k in now)) { print "series gone: " k; bad = 1 }
			else if (now[k] + 1e-9 < prev[k]) { print "series down: " k " " prev[k] " -> " now[k]; bad = 1 }
			psum += prev[k]
		}
		if (sum + 1e-9 < psum) { print "sum down: " psum " -> " sum; bad = 1 }
		exit bad
	     }' "$TMP/prev" "$TMP/now" || fail "stolen_by went backwards"
	mv "$TMP/now" "$TMP/prev"
	echo "$SECONDS $(drops)" >>"$TMP/drops"
}
drops() { curl -fsS "$URL/metrics" | awk '/^stealtime_bpf_attribution_drops_total/ { print $2 }'; }

# the churn: short-lived processes on CPU 1, spawned from CPU 0, counted in
# a file; each of the 4 churners runs 50 s and until it has spawned 48 (3
# times the map's 64 entries in all: a loaded TCG VM can take 1.5 s a
# spawn), at most 200 s
churn() {
	local n=0 start=$SECONDS
	while [ $((SECONDS - start)) -lt 50 ] || [ $n -lt 48 ]; do
		[ $((SECONDS - start)) -lt 200 ] || break
		taskset -c 1 true
		n=$((n + 1))
	done
	echo "$n" >>"$TMP/spawned"
}
: >"$TMP/spawned"
bg taskset -c 0 bash -c "$(declare -f churn); TMP=$TMP; churn"; c1=$!
bg taskset -c 0 bash -c "$(declare -f churn); TMP=$TMP; churn"; c2=$!
bg taskset -c 0 bash -c "$(declare -f churn); TMP=$TMP; churn"; c3=$!
bg taskset -c 0 bash -c "$(declare -f churn); TMP=$TMP; churn"; c4=$!
for i in $(seq 1 10); do sleep 2; scrape; done

# a restart in the middle: the same series, none lower
series_set() { awk '{ print $1 }' "$TMP/prev"; }
series_set >"$TMP/set_before"
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
start_daemon --config "$TMP/small.json"
scrape
series_set >"$TMP/set_after"
comm -23 "$TMP/set_before" "$TMP/set_after" | grep . && fail "series lost across the restart"
note "series before the restart: $(wc -l <"$TMP/set_before"), after: $(wc -l <"$TMP/set_after")"
churning() { local c; for c in "$c1" "$c2" "$c3" "$c4"; do kill -0 "$c" 2>/dev/null && return 0; done; return 1; }
while churning; do sleep 1; scrape; done
spawned=$(awk '{ s += $1 } END { print s }' "$TMP/spawned")
note "$spawned short-lived processes on CPU 1"
[ "$spawned" -ge 192 ] || fail "only $spawned processes spawned (3 times the map's 64 entries wanted)"
sleep 3; scrape

# after the churn: the hog's time against /proc, and it is the largest culprit
runtime() { awk '{print $1}' "/proc/$1/schedstat"; }
hog_ns() { jq -r --argjson p "$hogpid" '[.stolen_by[] | select(.pid == $p) | .ns] | add // 0' <<<"$1"; }
a0=$(api "/v1/vms/$id"); rh0=$(runtime "$hogpid")
sleep 4
a1=$(api "/v1/vms/$id"); rh1=$(runtime "$hogpid")
scrape
dH=$(( $(hog_ns "$a1") - $(hog_ns "$a0") )); pH=$(( rh1 - rh0 ))
# a wait is credited whole when it ends: the window may take in, or leave
# out, up to one wait at each end beyond the 10%
mw=$(jq -r '.max_wait_ns' <<<"$a1")
note "over 4 s: the hog ran $pH ns, stolen_by gave it $dH ns (longest wait $mw ns)"
[ "$pH" -gt 0 ] && [ $(( dH > pH ? dH - pH : pH - dH )) -le $(( pH / 10 + 2 * mw )) ] ||
	fail "the hog's stolen_by $dH ns vs its run time $pH ns (longest wait $mw ns)"
# largest over the window: the whole test's totals also hold the churn
# ("other" or an exited aggregate), which grows with how long it ran
growth=$(jq -c -n --argjson a "$a0" --argjson b "$a1" '
	def ns(v): [v.stolen_by[] | {key: "\(.kind) \(.name) \(.pid)", value: .ns}] | from_entries;
	ns($a) as $x | ns($b) | to_entries | map({culprit: .key, ns: (.value - ($x[.key] // 0))}) |
	sort_by(-.ns)')
note "stolen_by growth over the 4 s: $(jq -c '.[:3]' <<<"$growth")"
jq -e --arg k "process bash $hogpid" '.[0].culprit == $k' <<<"$growth" >/dev/null ||
	fail "the hog is not the largest culprit over the 4 s: $(jq -c '.[:3]' <<<"$growth")"
grep -q 'culprit_kind="process",culprit="bash"' "$TMP/prev" || fail "the hog has no series of its own"
# the map's entries by kind (0 other, 1 vCPU, 2 process, 3 kernel thread, 4 exited aggregate)
kinds() { bpftool -j map dump pinned "$PIN_DIR/stolen_by" 2>/dev/null |
	jq -c '[.[] | (.formatted.key // .key).kind] | group_by(.) | map("\(.[0]):\(length)") | join(" ")'; }
d=$(drops)
note "attribution drops: $d; entries now: $(jq '.stolen_by | length' <<<"$a1") culprits; the map's by kind: $(kinds)"
# A full map drops hundreds. A single drop was seen once in 5 runs under
# TCG with this 64-entry map, 13 entries at the end; its cause is not
# found (its time went to "other", the sum stays exact), so up to 2 are
# let pass, and printed.
[ "${d:-x}" -le 2 ] 2>/dev/null || { grep -v "^#" "$TMP/daemon.log" | tail -n 15 >&2
	fail "$d stolen_by updates dropped (map full); drops by second of the test: $(tr '\n' ',' <"$TMP/drops")"; }
[ -s "$TMP/state/culprits" ] || fail "no state file"
echo "culprit churn: $spawned processes, hog $dH ns vs /proc $pH ns, $d drops, no series down"
