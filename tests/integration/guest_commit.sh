#!/usr/bin/env bash
# cost: 33 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A real KVM guest reads its own stolen time from a DEN0057 record that the
# BPF commit hook keeps current: the test VMM registers, maps the region
# read-only as a KVM_MEM_READONLY memslot, the guest asks PV_TIME_ST for
# its record's address and reports what it reads. Compared against the
# kernel's run_delay of the vCPU thread.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK" --region-ipa 0x80000
tid=${VMM_TIDS%% *}
wait_for 10 grep -q '"event":"guest"' "$VMM_REPORT" || { cat "$VMM_REPORT.out" >&2; fail "the guest reported nothing"; }

# the guest's SMCCC probes, answered by the daemon
probe=$(grep -m1 '"event":"probe"' "$VMM_REPORT") || fail "no probe report"
note "$probe"
jq_true "$probe" '.arch_features == 0 and .pv_time_features == 0 and .pv_time_st == 524288' ||
	fail "SMCCC answers wrong: $probe"

now() { date +%s%N; }

# no competitor: the record grows slowly (what the host's own tasks take)
g0=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"
t0=$(now); sleep 2
g1=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"
t1=$(now); alone=$(( (g1 - g0) * 1000 / (t1 - t0) ))
note "alone: guest value $g0 -> $g1 ($alone per mille of elapsed time)"

# a hog on the vCPU's CPU: the guest's value tracks run_delay growth
hog 1
sleep 0.5
ra1=$(run_delay "$tid"); ga=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"; ra2=$(run_delay "$tid")
t0=$(now); sleep 3
rb1=$(run_delay "$tid"); gb=$(next_guest_value "$VMM_REPORT" 0) || fail "no guest value"; rb2=$(run_delay "$tid")
dg=$((gb - ga)); lo=$((rb1 - ra2)); hi=$((rb2 - ra1))
slack=$((hi / 100 + 20000000))
note "guest grew $dg ns; run_delay grew between $lo and $hi ns (slack $slack)"
ns_between "$lo" "$dg" "$hi" "$slack" || fail "guest-read growth $dg outside run_delay growth [$lo, $hi] +- $slack"
t1=$(now); hogged=$((dg * 1000 / (t1 - t0)))
note "beside a hog: $hogged per mille of elapsed time"
[ "$dg" -gt 1000000000 ] || fail "guest saw only $dg ns stolen in 3 s beside a hog"
[ "$hogged" -ge $((2 * alone)) ] ||
	fail "guest stolen time grew $hogged per mille beside a hog, not twice the $alone per mille alone"
[ "$gb" -le "$rb2" ] || fail "guest value $gb exceeds the thread's whole run_delay $rb2"

# every value the guest read: revision 0, attributes 0, never decreasing
guest_lines "$VMM_REPORT" 0 | jq -s -e '
	all(.[]; .revision == 0 and .attributes == 0) and
	([.[].stolen_ns] as $v | all(range(1; $v | length); $v[.] >= $v[. - 1]))' >/dev/null ||
	fail "a guest read had a non-zero revision/attributes or a decreasing value"

# the API shows the commit, and it is at least what the guest last read
c=$(vm_json "$VMM_PID" | jq '.vcpus[0].commit')
note "commit: $c"
jq_true "$c" ".committed_ns >= $gb and .record_ipa == 524288 and .commits > 0" ||
	fail "API commit state wrong: $c"
echo "guest read $dg ns of stolen time for a run_delay growth of $lo..$hi ns"
