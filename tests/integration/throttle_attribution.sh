#!/usr/bin/env bash
# cost: 60 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A vCPU under a 30% quota of its own cgroup shares CPU 1 with a hog: its
# wait is partly the hog's (while the vCPU could run) and partly its own
# quota's (throttled, while the hog runs alone). Over 4 s, against /proc and
# cpu.stat: the VM's stolen_by adds up to the vCPU's run_delay growth; the
# hog is charged at least what it took while the vCPU could run (run_delay
# less throttled time) and never more than it ran; where the kernel takes
# fexit programs (the daemon sees the throttling end) the throttled spans
# are the culprit "throttled", not the hog's: the hog is charged no more
# than it took while the vCPU could run, "throttled" within 10% of the
# throttled time (also as a /metrics series); elsewhere "throttled" stays
# empty. What the hog is not charged is "throttled", "other" or the
# kernel's threads.
# Then two vCPUs (of two VMs) under one quota on one CPU beside the hog:
# each is throttled while it waits (behind the other or the hog), and the
# span starts there, not with the wait (the kernel's own throttling
# start, which 6.5 and later clear as the throttling ends); a wait can
# hold several throttlings. Each VM's "throttled" is no more than the
# quota's throttled time (what its vCPU thread slept, neither running nor
# waiting, is printed).
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

cgroup2_cpu_root # R
VM=$R/stealtime-vm-$$ VM2=$R/stealtime-vm2-$$
trap 'cleanup; sleep 0.2; rmdir "$VM/vcpu0" "$VM/emulator" "$VM" "$VM2/a" "$VM2/s" "$VM2" 2>/dev/null' EXIT
mkdir "$VM" && echo +cpu >"$VM/cgroup.subtree_control" || fail "cannot create $VM"
for d in emulator vcpu0; do
	mkdir "$VM/$d" && echo threaded >"$VM/$d/cgroup.type" || fail "cannot make $VM/$d threaded"
done
echo "30000 100000" >"$VM/vcpu0/cpu.max" || fail "cannot set a quota on vcpu0"
throttled() { awk '/^throttled_usec / {printf "%.0f\n", $2 * 1000}' "${1:-$VM/vcpu0}/cpu.stat"; }
runtime() { awk '{print $1}' "/proc/$1/schedstat"; }

start_daemon
start_testvmm --vcpus 1 --cpu 1 --seconds 600
tid=${VMM_TIDS%% *}
echo "$VMM_PID" >"$VM/emulator/cgroup.procs" && echo "$tid" >"$VM/vcpu0/cgroup.threads" ||
	fail "cannot move the VMM into $VM"
# a move into a cgroup may reset the thread's CPUs to its cpuset's
taskset -pc 1 "$tid" >/dev/null || fail "cannot pin vCPU 0's thread to CPU 1"
hog 1; hogpid=$!
wait_for 10 vms_hold ".vms[] | select(.pid == $VMM_PID) | .vcpus[0].throttled_ns != null" ||
	fail "no throttled_ns for vCPU 0: $(vm_json "$VMM_PID" | jq -c .vcpus)"
sleep 2
# where the kernel lets the daemon trace unthrottle_cfs_rq (fexit), the
# spans its cgroup was throttled are "throttled"; else the hog is charged
# for them (it ran instead)
ends_seen=no
grep -q "throttling ends seen" "$TMP/daemon.log" && ends_seen=yes
note "throttling ends seen: $ends_seen"
# Debian's kernels take them (this runs in a VM of tests/vm/ on those)
[ -z "${STEALTIME_VM:-}" ] || [ "$ends_seen" = yes ] ||
	fail "the daemon does not see throttling end in a Debian kernel: $(grep -m1 'BPF programs attached' "$TMP/daemon.log")"

# culprit JSON -> "KIND PID NS" lines
culprits() { jq -r '.stolen_by[] | "\(.kind) \(.pid) \(.ns)"' <<<"$1"; }
grew() { # BEFORE AFTER KIND [PID] -> growth of that culprit's ns (all of the kind without PID)
	local b a p=${4:-}
	b=$(culprits "$1" | awk -v k="$3" -v p="$p" '$1 == k && (p == "" || $2 == p) {s += $3} END {printf "%.0f\n", s}')
	a=$(culprits "$2" | awk -v k="$3" -v p="$p" '$1 == k && (p == "" || $2 == p) {s += $3} END {printf "%.0f\n", s}')
	echo $((a - b))
}
sum() { culprits "$1" | awk '{s += $3} END {printf "%.0f\n", s}'; }
for round in 1 2; do
	d0=$(run_delay "$tid"); t0=$(throttled); h0=$(runtime "$hogpid")
	v0=$(vm_json "$VMM_PID")
	sleep 4
	v1=$(vm_json "$VMM_PID")
	d1=$(run_delay "$tid"); t1=$(throttled); h1=$(runtime "$hogpid")
	D=$(($(jq '.vcpus[0].steal_ns' <<<"$v1") - $(jq '.vcpus[0].steal_ns' <<<"$v0")))
	S=$(($(sum "$v1") - $(sum "$v0")))
	T=$(($(jq '.vcpus[0].throttled_ns' <<<"$v1") - $(jq '.vcpus[0].throttled_ns' <<<"$v0")))
	H=$(grew "$v0" "$v1" process "$hogpid")
	O=$(grew "$v0" "$v1" other)
	X=$(grew "$v0" "$v1" throttled)
	K=$(grew "$v0" "$v1" kernel)
	ran=$((h1 - h0))
	mw=$(jq -r '.vcpus[0].max_wait_ns' <<<"$v1")
	note "round $round, 4 s: run_delay $((d1 - d0)), steal $D, stolen_by $S; throttled $T (cpu.stat $((t1 - t0))); hog charged $H, ran $ran; throttled spans $X, other $O, kernel threads $K (ns; longest wait $mw)"
	note "culprits' growth: $(jq -c -n --argjson a "$v0" --argjson b "$v1" '
		def ns(v): [v.stolen_by[] | {key: "\(.kind) \(.name) \(.pid)", value: .ns}] | from_entries;
		ns($a) as $x | ns($b) | to_entries | map({c: .key, ns: (.value - ($x[.key] // 0))}) |
		map(select(.ns > 0)) | sort_by(-.ns)')"
	[ "$T" -gt 400000000 ] || fail "the quota did not throttle: $T ns in 4 s"
	# the window takes in, or leaves out, up to one wait at each end
	slack=$((2 * mw + 20000000))
	[ $((S > D ? S - D : D - S)) -le "$slack" ] || fail "stolen_by grew $S ns, steal $D ns"
	ns_between $((d0)) "$((d0 + D))" "$d1" "$slack" || fail "steal grew $D ns, run_delay $((d1 - d0)) ns"
	[ "$H" -ge $(((D - T) * 8 / 10 - slack)) ] ||
		fail "the hog is charged $H ns, less than it took while the vCPU could run ($((D - T)) ns)"
	[ "$H" -le $((ran + slack)) ] || fail "the hog is charged $H ns, more than it ran ($ran ns)"
	if [ "$ends_seen" = yes ]; then
		# the throttled spans are "throttled", not the hog's
		[ "$H" -le $(((D - T) * 11 / 10 + slack)) ] ||
			fail "the hog is charged $H ns, more than it took while the vCPU could run ($((D - T)) ns)"
		[ "$X" -ge $((T * 9 / 10 - slack)) ] && [ "$X" -le $((T * 11 / 10 + slack)) ] ||
			fail "throttled spans $X ns, against $T ns throttled"
	else
		[ "$X" -eq 0 ] || fail "throttled spans $X ns where the daemon does not see throttling end"
	fi
	[ $((H + X + O + K)) -ge $((S - slack)) ] ||
		fail "stolen_by has culprits besides the hog, throttled, other and kernel threads"
done
# /metrics: the VM's throttled series only where the spans are seen
id=$(jq -r '.id' <<<"$v1")
series=$(api /metrics | grep "^stealtime_vm_stolen_by_seconds_total{.*vm_id=\"$id\".*culprit_kind=\"throttled\"")
note "throttled series: ${series:-none}"
if [ "$ends_seen" = yes ]; then
	[ "$(grep -c 'culprit="throttled"' <<<"$series")" -eq 1 ] || fail "no single throttled series in /metrics"
	awk -v x="$(jq '[.stolen_by[] | select(.kind == "throttled") | .ns] | add' <<<"$v1")" \
		'{exit !($NF * 1e9 >= x - 1000)}' <<<"$series" || fail "the throttled series is below the JSON's: $series"
else
	[ -z "$series" ] || fail "a throttled series where the daemon does not see throttling end: $series"
fi
echo "throttled vCPU: hog charged $H ns of $D ns steal ($T ns throttled), throttled spans $X ns, other $O ns"

# --- two vCPUs under one quota: throttled while they wait -----------------------------
# Two VMs of one vCPU each (two vCPUs of one test VMM would share its
# report's lock, and one would sleep on it while the other is throttled).
kill "$VMM_PID"
mkdir "$VM2" && echo +cpu >"$VM2/cgroup.subtree_control" && mkdir "$VM2/a" "$VM2/s" ||
	fail "cannot create $VM2"
echo "30000 100000" >"$VM2/cpu.max" || fail "cannot set a quota on $VM2"
start_testvmm --vcpus 1 --cpu 1 --seconds 600
pa=$VMM_PID ta=${VMM_TIDS%% *}
start_testvmm --vcpus 1 --cpu 1 --seconds 600
ps=$VMM_PID ts=${VMM_TIDS%% *}
# bound first, so that stolen_by has every wait under the quota
wait_for 10 vms_hold "[.vms[] | select(.pid == $pa or .pid == $ps) | .vcpus[0].bound] == [true, true]" ||
	fail "the two VMs' vCPUs not bound"
# all their threads on CPU 1, where the quota is then throttled (and on no other CPU)
taskset -apc 1 "$pa" >/dev/null && taskset -apc 1 "$ps" >/dev/null || fail "cannot pin the VMMs to CPU 1"
echo "$pa" >"$VM2/a/cgroup.procs" && echo "$ps" >"$VM2/s/cgroup.procs" || fail "cannot move the VMMs into $VM2"
# from here on: what each vCPU thread ran and waited
w0=$(date +%s%N); ra0=$(runtime "$ta"); da0=$(run_delay "$ta"); rs0=$(runtime "$ts"); ds0=$(run_delay "$ts")
taskset -apc 1 "$pa" >/dev/null && taskset -apc 1 "$ps" >/dev/null || fail "cannot pin the VMMs to CPU 1"
sleep 4
va=$(vm_json "$pa"); vs=$(vm_json "$ps")
# read after the daemon's: a throttling under way counts here first, never in stolen_by first
t1=$(throttled "$VM2")
ra1=$(runtime "$ta"); da1=$(run_delay "$ta"); rs1=$(runtime "$ts"); ds1=$(run_delay "$ts"); w1=$(date +%s%N)
# slept: neither ran nor waited (give or take the run or wait under way at each end)
sa=$((w1 - w0 - (ra1 - ra0) - (da1 - da0))) ss=$((w1 - w0 - (rs1 - rs0) - (ds1 - ds0)))
xa=$(jq '[.stolen_by[] | select(.kind == "throttled") | .ns] | add // 0' <<<"$va")
xs=$(jq '[.stolen_by[] | select(.kind == "throttled") | .ns] | add // 0' <<<"$vs")
mw=$(jq -s '[.[].vcpus[0].max_wait_ns] | max' <<<"$va$vs")
note "two VMs under one quota, since they joined it: throttled $t1; throttled spans $xa and $xs; vCPU threads slept $sa and $ss (ns; longest wait $mw)"
for v in "$va" "$vs"; do
	note "culprits: $(jq -c '[.stolen_by[] | {kind, name, ns}]' <<<"$v")"
	D=$(jq '.vcpus[0].steal_ns' <<<"$v") S=$(sum "$v")
	[ $((S > D ? S - D : D - S)) -le $((mw + 20000000)) ] || fail "stolen_by $S ns, steal $D ns"
done
[ "$t1" -gt 1000000000 ] || fail "the vCPUs did not use up their quota: $t1 ns throttled"
if [ "$ends_seen" = yes ]; then
	# Each vCPU waits through the throttlings, unless its thread sleeps
	# (a vCPU thread of a nested guest does, now and then, and 6.1 counts
	# throttled time apart from queued tasks): no more than the quota's
	# throttled time, each span once however many a wait holds
	for x in "$xa" "$xs"; do
		[ "$x" -gt 0 ] && [ "$x" -le $((t1 * 102 / 100 + 10000000)) ] ||
			fail "throttled spans $x ns, against the quota's $t1 ns throttled"
	done
fi
echo "two vCPUs throttled by their quota while waiting: throttled spans $xa and $xs ns of $t1 ns"
