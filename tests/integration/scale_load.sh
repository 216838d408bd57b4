#!/usr/bin/env bash
# cost: 78 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Scale and load: 100 test VMs x 8 vCPUs tracked at once; /metrics and
# /v1/vms under a concurrent load (two wrk, loopback) for 30 s with no
# error and no timeout; requests/s, p50/p99 latency, the daemon's CPU and
# RSS reported (rates depend on the machine: make bench compares them).
# Then all 100 VMs stop and another 100 start and stop: no stale VM in the
# API, fd count back where it was, RSS stable.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v wrk >/dev/null || skip "wrk not installed"
NVMS=${NVMS:-100}; NVCPUS=${NVCPUS:-8}; SECS=${LOAD_SECONDS:-30}

start_daemon --rescan-interval 5  # the default: a host rescans every 5 s
fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
ours() { curl -fsS "$URL/v1/vms" | jq --arg d "$TMP" '[.vms[] | select(.name | startswith("scale-"))] | length'; }

start_vms() { # wave
	VM_PIDS=()
	for i in $(seq 1 "$NVMS"); do
		"$BUILD/tests/vmm/testvmm" --vcpus "$NVCPUS" --seconds 600 --idle-us 10000000 \
			--name "scale-$1-$i" >/dev/null 2>&1 &
		VM_PIDS+=($!); PIDS+=($!)
	done
}
stop_vms() {
	kill "${VM_PIDS[@]}" 2>/dev/null
	wait "${VM_PIDS[@]}" 2>/dev/null
	wait_for 30 sh -c "[ \$(curl -fsS $URL/v1/vms | jq '[.vms[] | select(.name | startswith(\"scale-\"))] | length') -eq 0 ]" ||
		fail "stale VMs in the API after they stopped: $(ours)"
}

sleep 1
fd0=$(fds); rss0=$(rss_kb)
start_vms 1
wait_for 60 sh -c "[ \$(curl -fsS $URL/v1/vms | jq '[.vms[] | select(.name | startswith(\"scale-\")) | .vcpus[] | select(.tid > 0)] | length') -eq $((NVMS * NVCPUS)) ]" ||
	fail "tracking $(curl -fsS "$URL/v1/vms" | jq '[.vms[] | select(.name | startswith("scale-")) | .vcpus[] | select(.tid > 0)] | length') bound vCPUs, want $((NVMS * NVCPUS))"
note "tracking $NVMS VMs x $NVCPUS vCPUs"
bytes_m=$(curl -fsS "$URL/metrics" | wc -c); bytes_j=$(curl -fsS "$URL/v1/vms" | wc -c)
note "/metrics is $bytes_m bytes, /v1/vms $bytes_j bytes"

t0=$(cpu_ticks)
wrk -t1 -c4 -d"${SECS}s" --latency "$URL/metrics" >"$TMP/wrk-metrics.txt" 2>&1 &
w1=$!
wrk -t1 -c4 -d"${SECS}s" --latency "$URL/v1/vms" >"$TMP/wrk-vms.txt" 2>&1 &
w2=$!
wait $w1 $w2
t1=$(cpu_ticks); rss1=$(rss_kb)
hz=$(getconf CLK_TCK)
total=0
for f in metrics vms; do
	r="$TMP/wrk-$f.txt"
	rps=$(awk '/^Requests\/sec/ {print int($2)}' "$r")
	p50=$(awk '$1 == "50%" {print $2}' "$r"); p99=$(awk '$1 == "99%" {print $2}' "$r")
	bad=$(awk '/Non-2xx|Socket errors/' "$r")
	note "/$f: $rps req/s, latency p50 $p50, p99 $p99 ${bad:+($bad)}"
	[ -z "$bad" ] || { cat "$r"; fail "errors under load on /$f"; }
	[ "$rps" -ge 1 ] || { cat "$r"; fail "/$f served no request"; }
	total=$((total + rps))
done
note "served $total requests/s in all"
note "daemon under load: CPU $(( (t1 - t0) * 100 / hz / SECS ))% of one core, RSS $((rss1 / 1024)) MiB"

stop_vms
fd1=$(fds); rss2=$(rss_kb)
start_vms 2
wait_for 60 sh -c "[ \$(curl -fsS $URL/v1/vms | jq '[.vms[] | select(.name | startswith(\"scale-\"))] | length') -eq $NVMS ]" ||
	fail "second wave not tracked"
stop_vms
fd2=$(fds); rss3=$(rss_kb)
note "fds: $fd0 at start, $fd1 after wave 1, $fd2 after wave 2; RSS KiB: $rss0, $rss2, $rss3"
[ "$fd1" -eq "$fd0" ] && [ "$fd2" -eq "$fd0" ] || fail "fd count changed: $fd0 -> $fd1 -> $fd2"
[ $((rss3 - rss2)) -lt 4096 ] || fail "RSS grew by $((rss3 - rss2)) KiB over a second wave of $NVMS VMs"
left=$(bpftool -j map dump pinned "$PIN_DIR/stolen_by" | jq length)
note "who-ran-instead entries left after every VM stopped: $left"
[ "$left" -eq 0 ] || fail "$left stolen_by entries of retired vCPUs left in the map"
echo "scale ok"
