#!/usr/bin/env bash
# cost: 12 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The test VMM runs a real KVM guest without a daemon: one thread per vCPU
# named "CPU n/KVM" (as QEMU names them), the start event's tids are those
# threads, every vCPU ran its guest loop, and it exits 0 on time (8 s: long
# enough for its threads to be read in a slow VM).
source "$(dirname "$0")/../lib.sh"

need_kvm
command -v jq >/dev/null || skip "needs jq"
VMM=$BUILD/tests/vmm/testvmm
[ -x "$VMM" ] || fail "$VMM is not built (make build/tests/vmm/testvmm)"

REPORT=$TMP/report.json
MIN_ITERATIONS=10 # about 400 per second here; 0 means a vCPU never ran

"$VMM" --vcpus 2 --seconds 8 --name vmmsmoke --report "$REPORT" 2>"$TMP/vmm.err" &
pid=$!
PIDS+=("$pid")

wait_for 10 grep -q '"event":"start"' "$REPORT" 2>/dev/null || fail "no start event"

# thread names while it runs: tid -> comm
declare -A comm
for t in /proc/"$pid"/task/*; do
	c=$(cat "$t/comm" 2>/dev/null) && comm[${t##*/}]=$c
done
proc_comm=$(cat "/proc/$pid/comm" 2>/dev/null)

wait "$pid"
rc=$?
PIDS=()
[ "$rc" -eq 0 ] || { cat "$TMP/vmm.err" >&2; fail "testvmm exited with $rc"; }
[ "$proc_comm" = vmmsmoke ] || fail "process comm is '$proc_comm', not vmmsmoke"

for i in 0 1; do
	want="CPU $i/KVM"
	n=0
	for tid in "${!comm[@]}"; do [ "${comm[$tid]}" = "$want" ] && n=$((n + 1)); done
	[ "$n" -eq 1 ] || fail "$n threads named '$want' (want 1)"
	tid=$(jq -r "select(.event == \"start\") | .vcpus[] | select(.index == $i) | .tid" "$REPORT")
	[ -n "$tid" ] || fail "start event has no vCPU $i"
	[ "${comm[$tid]:-}" = "$want" ] ||
		fail "start event says vCPU $i is tid $tid, whose comm is '${comm[$tid]:-none}'"
	note "vCPU $i: tid $tid"
done

[ "$(jq -s '[.[] | select(.event == "start")] | length' "$REPORT")" -eq 1 ] ||
	fail "want exactly one start event"
[ "$(jq -s '[.[] | select(.event == "start")][0].pid' "$REPORT")" -eq "$pid" ] ||
	fail "start event pid is not $pid"
its=$(jq -c 'select(.event == "exit") | .iterations' "$REPORT")
[ -n "$its" ] || fail "no exit event"
note "iterations: $its"
jq -e --argjson min "$MIN_ITERATIONS" \
	'select(.event == "exit") | .iterations | length == 2 and all(. >= $min)' \
	"$REPORT" >/dev/null || fail "a vCPU did fewer than $MIN_ITERATIONS iterations: $its"
exit 0
