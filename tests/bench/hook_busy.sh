#!/usr/bin/env bash
# The sched_switch hook on a busy host, natively (no /dev/kvm needed):
# switches that involve no vCPU (perf bench sched pipe on one CPU), the
# cost per event of stealtimed's on_switch over an empty program's (both
# attached at once, kernel bpf_stats) in three conditions, interleaved in
# each round:
#   alone       nothing else on sched_switch;
#   competitor  another tool's program beside it that keeps a hash keyed by
#               pid, updated on every switch (bpf/bench_competitor.bpf.c);
#   cache       stress-ng --cache 2 on the same CPU.
# Programs on a tracepoint run in the order they were attached, and the
# first one pays for what the others then find warm: on a host where each
# cold page costs a TLB miss (a PVM guest), two identical empty programs
# measure about 100 and 28 ns. So a lead (another empty program) is
# attached before the daemon starts, and the two measured programs run
# second (on_switch) and last (the empty one).
# Then perf bench sched pipe's throughput with the daemon vs no program and
# vs an empty sched_switch program (the tracepoint's own floor), interleaved
# rounds. Every result is a ratio of the same run (medians).
source "$(dirname "$0")/../lib.sh"
need_root; need_btf
command -v perf >/dev/null || skip "perf not installed"
command -v stress-ng >/dev/null || skip "stress-ng not installed"
ROUNDS=${ROUNDS:-5}
LOOPS=${LOOPS:-100000}
CPU=${BENCH_CPU:-0}

# ops [CMD...]: the pipe's ops/s, run under CMD (e.g. hookcost --empty-only --)
ops() { "$@" taskset -c "$CPU" perf bench sched pipe -l "$LOOPS" 2>/dev/null | awk '/ops\/sec/ {print $1}'; }
# ratio_ns [--competitor]: hook_ratio's ratio, then the two programs' ns per event
ratio_ns() {
	local r
	r=$(hook_ratio "$@") || return 1
	awk -v r="$r" '/ns\/event/ {v[n++] = $(NF - 3)} END {printf "%s (%s vs %s ns)\n", r, v[1], v[0]}' "$TMP/hook.out"
}
# cache_ratio: ratio with stress-ng --cache 2 on the same CPU (stopped whatever happens)
cache_ratio() {
	local s r rc
	taskset -c "$CPU" stress-ng --cache 2 --quiet --timeout 600 >/dev/null 2>&1 &
	s=$!
	sleep 0.5
	r=$(ratio_ns); rc=$?
	kill "$s"; wait "$s" 2>/dev/null
	[ "$rc" -eq 0 ] && echo "$r"
}

echo "== on_switch per event over an empty sched_switch program (bpf_stats), $LOOPS pipe loops on CPU $CPU, $ROUNDS rounds"
bg "$BUILD/tests/bench/hookcost" --empty-only -- sleep 3600 >/dev/null
lead=$!
sleep 0.5
start_daemon
alone=() comp=() cache=()
for r in $(seq 1 "$ROUNDS"); do
	alone+=("$(ratio_ns)")
	comp+=("$(ratio_ns --competitor)")
	cache+=("$(cache_ratio)")
	[ -n "${alone[-1]}" ] && [ -n "${comp[-1]}" ] && [ -n "${cache[-1]}" ] || fail "round $r: a measurement failed"
	echo "round $r: alone ${alone[-1]}, competitor ${comp[-1]}, cache ${cache[-1]}"
done
echo "median ratio: alone $(median "${alone[@]}"), with a hash-keeping competitor $(median "${comp[@]}"), with stress-ng --cache 2 $(median "${cache[@]}")"
pkill -P "$lead" sleep # its workload ends: the lead detaches
wait "$lead" 2>/dev/null

echo "== perf bench sched pipe throughput: no program, an empty sched_switch program, the daemon; $ROUNDS interleaved rounds"
off=() empty=() on=()
for r in $(seq 1 "$ROUNDS"); do
	stop_daemon
	off+=("$(ops)")
	empty+=("$(ops "$BUILD/tests/bench/hookcost" --empty-only --)")
	start_daemon
	on+=("$(ops)")
	[ -n "${off[-1]}" ] && [ -n "${empty[-1]}" ] && [ -n "${on[-1]}" ] || fail "round $r: a throughput run failed"
	echo "round $r: no program ${off[-1]}, empty program ${empty[-1]}, daemon ${on[-1]} ops/s"
done
stop_daemon
awk -v a="$(median "${on[@]}")" -v b="$(median "${off[@]}")" -v e="$(median "${empty[@]}")" 'BEGIN {
	printf "throughput with the daemon: %.1f%% of no program, %.1f%% of an empty program (which alone gives %.1f%% of no program; medians %d, %d, %d ops/s)\n",
		100 * a / b, 100 * a / e, 100 * e / b, a, e, b }'
