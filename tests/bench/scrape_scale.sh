#!/usr/bin/env bash
# Scrapes at scale, measured side by side in one run. SCALE_VMS test VMMs
# of SCALE_VCPUS_PER_VM idle vCPUs each (default 256 x 64 = 16,384, the
# map limit) are tracked; then:
#  1. the daemon's CPU per /metrics scrape (gzip asked, as Prometheus
#     does), per vCPU, net of its own CPU over as long with no scrape,
#     against a C poller (schedstat_read) opening and reading the same
#     threads' /proc/PID/task/TID/schedstat files: the ratio;
#  2. the size of /metrics, identity and gzip;
#  3. the daemon's CPU per /v1/vms/{id} against per /v1/vms;
#  4. the daemon's peak RSS while two scrapers scrape at once;
#  5. the sched_switch hook's cost per event over an empty program's
#     (switches of perf bench sched pipe on CPU BENCH_CPU) with none yet
#     bound, then with every vCPU bound in rounds that alternate: their
#     VMMs stopped (SIGSTOP: no vCPU thread switches, every event is one
#     with no vCPU) and running (their wakeups may add vCPU switches to
#     the average: counted from their schedstat), medians of
#     SCALE_HOOK_ROUNDS.
# CPU is the kernel's own account of every daemon thread (schedstat's
# sum_exec_runtime), in ns. Prints ratios; the bare times only explain them.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
VMS=${SCALE_VMS:-256}; PER=${SCALE_VCPUS_PER_VM:-64}; N=$((VMS * PER)); VMMS=()
SCRAPES=${SCALE_SCRAPES:-10}; READS=${SCALE_READS:-10}
HOOK_ROUNDS=${SCALE_HOOK_ROUNDS:-5} LOOPS=${SCALE_HOOK_LOOPS:-20000} CPU=${BENCH_CPU:-0}
command -v perf >/dev/null || skip "perf not installed"
# hook_round NAME: one round's ratio added to $TMP/NAME, the hook's events in it to $TMP/NAME.events
hook_round() {
	local r
	r=$(hook_ratio); [ -n "$r" ] || fail "no hook measurement"
	echo "$r" >>"$TMP/$1"
	awk '/^on_switch/ {gsub(/[()]/, ""); print $4}' "$TMP/hook.out" >>"$TMP/$1.events"
}
hook_median() { median $(cat "$TMP/$1"); }
# the times the vCPU threads (listed in $TMP/files) were switched in
vcpu_slices() { xargs cat 2>/dev/null <"$TMP/files" | awk '{s += $3} END {printf "%.0f\n", s}'; }

cpu_of() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
peak_rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# the whole map for VMs that never register; a rescan every 10 s until
# every vCPU is bound, then none (reloaded) while measuring
scale_config() {
	echo "{ \"rescan_interval_seconds\": $1,
	  \"limits\": { \"vcpus\": 16384, \"vms\": 4096, \"reserved_percent\": 0 } }" >"$TMP/scale.json"
}
scale_config 10
port=$(free_port)
URL=http://127.0.0.1:$port
PIN_DIR=/sys/fs/bpf/stealtime-test-$$
"$BUILD/stealtimed" --config "$TMP/scale.json" --listen "127.0.0.1:$port" \
	--control-socket "$TMP/control.sock" --pin-dir "$PIN_DIR" --state-dir "$TMP/state" \
	>"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!; PIDS+=($DAEMON_PID)
wait_for 20 curl -fsS "$URL/healthz" >/dev/null 2>&1 || { cat "$TMP/daemon.log" >&2; fail "stealtimed did not start"; }
for _ in $(seq 1 "$HOOK_ROUNDS"); do hook_round none; done

t0=$SECONDS
for i in $(seq 1 "$VMS"); do
	"$BUILD/tests/vmm/testvmm" --vcpus "$PER" --seconds 7200 --idle-us 60000000 --name "scale-$i" \
		>/dev/null 2>&1 &
	PIDS+=($!); VMMS+=($!)
	[ $((i % 16)) -eq 0 ] && sleep 1
done
bound() { curl -fsS "$URL/v1/vms" | jq '[.vms[].vcpus[] | select(.bound and .tid > 0)] | length'; }
while b=$(bound) && [ "${b:-0}" -lt "$N" ]; do
	[ $((SECONDS - t0)) -lt "${SCALE_TIMEOUT:-1800}" ] || fail "${b:-0} of $N vCPUs bound after $((SECONDS - t0)) s"
	[ $(((SECONDS - t0) % 60)) -lt 5 ] && note "$((SECONDS - t0)) s: ${b:-0} of $N vCPUs bound" >&2
	sleep 5
done
note "$N vCPUs of $VMS VMs bound in $((SECONDS - t0)) s"
scale_config 3600
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q "configuration reloaded" "$TMP/daemon.log" || fail "reload failed"
sleep 12 # the last rescan at the old interval

# 2. sizes
plain=$(curl -fsS -o "$TMP/metrics" -w '%{size_download}' "$URL/metrics")
gz=$(curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$URL/metrics")
series=$(grep -vc '^#' "$TMP/metrics")

# 1. scrapes against the idle daemon and the C poller
idle0=$(cpu_of "$DAEMON_PID"); w0=$(date +%s%N)
sleep 5
idle1=$(cpu_of "$DAEMON_PID"); w1=$(date +%s%N)
c0=$(cpu_of "$DAEMON_PID"); s0=$(date +%s%N)
for i in $(seq 1 "$SCRAPES"); do
	curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null "$URL/metrics" || fail "scrape $i failed"
done
c1=$(cpu_of "$DAEMON_PID"); s1=$(date +%s%N)
curl -fsS "$URL/v1/vms" | jq -r '.vms[] | .pid as $p | .vcpus[] | "/proc/\($p)/task/\(.tid)/schedstat"' >"$TMP/files"
reader=$("$BUILD/tests/bench/schedstat_read" "$READS" <"$TMP/files") || fail "schedstat_read failed"
note "schedstat_read: $reader"
files=$(sed 's/.*files=\([0-9]*\).*/\1/' <<<"$reader")
per_read=$(sed 's/.*ns_per_file=\([0-9]*\).*/\1/' <<<"$reader")
[ "$files" -ge "$N" ] || fail "only $files schedstat files for $N vCPUs"

# 3. one VM against all
id=$(curl -fsS "$URL/v1/vms" | jq -r '.vms[0].id')
v0=$(cpu_of "$DAEMON_PID")
for i in $(seq 1 "$SCRAPES"); do curl -fsS -o /dev/null "$URL/v1/vms/$id" || fail "/v1/vms/$id"; done
v1=$(cpu_of "$DAEMON_PID")
for i in $(seq 1 "$SCRAPES"); do curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null "$URL/v1/vms" || fail "/v1/vms"; done
v2=$(cpu_of "$DAEMON_PID")

# 4. two scrapers at once; the peak before them (the /v1/vms polls of the
# binding loop, step 3) is reported apart, then reset (clear_refs 5)
rss_before=$(peak_rss_kb "$DAEMON_PID")
rss_start=$(awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status")
echo 5 >"/proc/$DAEMON_PID/clear_refs" || fail "cannot reset the daemon's peak RSS"
scraper() { for _ in $(seq 1 "$SCRAPES"); do curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null "$URL/metrics" || echo err; done; }
scraper >"$TMP/s1" & a=$!
scraper >"$TMP/s2" & b=$!
wait "$a" "$b"
! grep -q err "$TMP/s1" "$TMP/s2" || fail "a concurrent scrape failed"
rss=$(peak_rss_kb "$DAEMON_PID")

# 5. the hook with every vCPU bound, in rounds that alternate: their VMMs
# stopped, then running again
stop_vmms() {
	local p
	kill -STOP "${VMMS[@]}"
	for p in "${VMMS[@]}"; do
		wait_for 10 grep -q '^State:.*stopped' "/proc/$p/status" || fail "VMM $p did not stop"
	done
}
ran_stopped=0; ran_running=0
for _ in $(seq 1 "$HOOK_ROUNDS"); do
	stop_vmms; sleep 1
	a=$(vcpu_slices); hook_round stopped; b=$(vcpu_slices); ran_stopped=$((ran_stopped + b - a))
	kill -CONT "${VMMS[@]}"; sleep 2
	a=$(vcpu_slices); hook_round running; b=$(vcpu_slices); ran_running=$((ran_running + b - a))
done
[ "$ran_stopped" -eq 0 ] || fail "vCPU threads ran $ran_stopped times while their VMMs were stopped"

awk -v n="$N" -v s="$SCRAPES" -v c="$((c1 - c0))" -v wall="$((s1 - s0))" \
	-v idle="$((idle1 - idle0))" -v iw="$((w1 - w0))" -v r="$per_read" \
	-v plain="$plain" -v gz="$gz" -v series="$series" \
	-v one="$((v1 - v0))" -v all="$((v2 - v1))" -v rss="$rss" -v rss0="$rss_before" -v rss1="$rss_start" \
	-v h0="$(hook_median none)" -v hs="$(hook_median stopped)" -v h1="$(hook_median running)" \
	-v runs="$ran_running" -v ev="$(awk '{s += $1} END {print s}' "$TMP/running.events")" 'BEGIN {
	net = c - idle * wall / iw; if (net < 0) net = 0
	per = net / s / n
	printf "%d vCPUs: /metrics %d series, %d bytes, %d gzip (%.1f%%)\n", n, series, plain, gz, 100 * gz / plain
	printf "daemon CPU per scrape %.1f ms (%.0f ns per vCPU, net of %.1f ms/s idle); C poller %d ns per schedstat file\n",
		net / s / 1e6, per, idle / iw * 1e3, r
	printf "scrape CPU per vCPU / one schedstat read: %.2f (goal <= 1)\n", per / r
	printf "daemon CPU per /v1/vms/{id} %.2f ms, per /v1/vms %.1f ms: ratio %.4f\n", one / s / 1e6, all / s / 1e6, one / all
	printf "daemon peak RSS (VmHWM) before the scrapers (binding, /v1/vms): %.1f MiB\n", rss0 / 1024
	printf "daemon RSS when the scrapers start: %.1f MiB\n", rss1 / 1024
	printf "daemon peak RSS (VmHWM) with two scrapers at once: %.1f MiB (goal <= 64)\n", rss / 1024
	printf "on_switch per event / an empty program: %.2f with no vCPU bound; with %d bound, %.2f with their VMMs stopped (%.2f of none bound), %.2f running (%.2f)\n",
		h0, n, hs, hs / h0, h1, h1 / h0
	printf "while running, the vCPU threads were switched in %d times: %.1f per 1,000 events of the hook\n",
		runs, 1000 * runs / ev
}'
