#!/usr/bin/env bash
# make bench: figures measured side by side in one run.
#  0. the hook on a busy host, natively (hook_busy.sh: no /dev/kvm needed);
#  1. cost per sched_switch event of stealtimed's hook vs an empty program
#     (both attached at once, kernel bpf_stats), while a test VM runs;
#  2. context-switch throughput (perf bench sched pipe, both tasks on CPU 0)
#     with the daemon attached vs detached, interleaved rounds.
#  3. control replies with and without scrapes (control_latency.sh);
#  4. scrapes at 16,384 vCPUs against a C reader of their schedstat files,
#     sizes and RSS (scrape_scale.sh; SCALE_VMS x SCALE_VCPUS_PER_VM).
source "$(dirname "$0")/../lib.sh"
bash "$(dirname "$0")/hook_busy.sh" || [ $? -eq 77 ] || fail "hook_busy.sh failed"
need_root; need_kvm; need_btf
command -v perf >/dev/null || skip "perf not installed"
ROUNDS=${ROUNDS:-5}
LOOPS=${LOOPS:-200000}

pipe_ops() { taskset -c 0 perf bench sched pipe -l "$LOOPS" 2>/dev/null | awk '/ops\/sec/ {print $1}'; }

start_daemon
start_testvmm --vcpus 2 --cpu 1 --seconds 3600  # vCPU switches on CPU 1, the pipe on CPU 0
sleep 1
echo "== hook cost per event (bpf_stats), non-vCPU switches from perf bench sched pipe"
"$BUILD/tests/bench/hookcost" "$PIN_DIR/links/on_switch" -- taskset -c 0 perf bench sched pipe -l "$LOOPS" >"$TMP/hook.out" 2>&1 ||
	{ cat "$TMP/hook.out"; fail "hookcost failed"; }
grep -E "ns/event|ratio" "$TMP/hook.out"

echo "== perf bench sched pipe, $LOOPS loops on CPU 0, $ROUNDS interleaved rounds"
echo "   (detached: no program; empty: only a one-add sched_switch program; daemon: stealtimed)"
on=() off=() empty=()
empty_ops() { "$BUILD/tests/bench/hookcost" --empty-only -- taskset -c 0 perf bench sched pipe -l "$LOOPS" 2>/dev/null | awk '/ops\/sec/ {print $1}'; }
for r in $(seq 1 "$ROUNDS"); do
	stop_daemon
	off+=("$(pipe_ops)")
	empty+=("$(empty_ops)")
	start_daemon
	on+=("$(pipe_ops)")
	echo "round $r: detached ${off[-1]}, empty ${empty[-1]}, daemon ${on[-1]} ops/s"
done
mo=$(median "${off[@]}"); me=$(median "${empty[@]}"); mn=$(median "${on[@]}")
echo "median ops/s: detached $mo, empty program $me, daemon $mn"
awk -v a="$mn" -v b="$mo" -v e="$me" 'BEGIN {
	printf "throughput with the daemon: %.1f%% of detached, %.1f%% of an empty program\n", 100 * a / b, 100 * a / e
	printf "an empty sched_switch program alone: %.1f%% of detached\n", 100 * e / b }'
stop_daemon

echo "== one scrape vs reading /proc/PID/task/TID/schedstat of the same vCPU threads"
NB=${SCRAPE_VMS:-25}; NV=${SCRAPE_VCPUS:-4}; N=${SCRAPES:-200}
start_daemon
vm_pids=()
for i in $(seq 1 "$NB"); do
	"$BUILD/tests/vmm/testvmm" --vcpus "$NV" --seconds 600 --idle-us 10000000 >/dev/null 2>&1 &
	vm_pids+=($!); PIDS+=($!)
done
wait_for 30 sh -c "[ \$(curl -fsS $URL/v1/vms | jq '[.vms[].vcpus[] | select(.tid > 0)] | length') -ge $((NB * NV)) ]" ||
	fail "VMs not tracked"
files=$(curl -fsS "$URL/v1/vms" | jq -r '.vms[] | .pid as $p | .vcpus[] | "/proc/\($p)/task/\(.tid)/schedstat"')
nfiles=$(wc -w <<<"$files")
per_op() { # N CMD... -> microseconds per run
	local n=$1 t0 t1; shift
	t0=$(date +%s%N)
	for i in $(seq 1 "$n"); do "$@" >/dev/null 2>&1; done
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / n / 1000 ))
}
sc=$(per_op "$N" curl -s -o /dev/null "$URL/metrics")
sc0=$(per_op "$N" curl -s -o /dev/null "$URL/healthz")
pr=$(per_op "$N" cat $files)
pr0=$(per_op "$N" cat /dev/null)
echo "$nfiles vCPUs, per run: /metrics ${sc} us (curl on /healthz ${sc0} us), cat of their schedstat files ${pr} us (cat /dev/null ${pr0} us)"
awk -v a="$((sc - sc0))" -v b="$((pr - pr0))" -v n="$nfiles" 'BEGIN {
	printf "net of process start: scrape %d us, schedstat reads %d us (%.1f us per vCPU); ratio %.2f\n", a, b, b / n, a / b }'
stop_daemon
bash "$(dirname "$0")/control_latency.sh"
bash "$(dirname "$0")/scrape_scale.sh"
