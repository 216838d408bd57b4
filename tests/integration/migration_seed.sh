#!/usr/bin/env bash
# cost: 37 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Live migration / snapshot restore on one host: VMM A runs a guest under
# contention, pauses it and takes a snapshot of its vCPU's committed value;
# VMM B (another process) registers a new VM, seeds the vCPU's record with
# A's value and resumes: B's guest starts at A's last value, never goes
# backwards, and keeps tracking B's own run_delay.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
hog 1
touch "$TMP/not-paused"
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK" \
	--pause-file "$TMP/pause" --snapshot-out "$TMP/snap.json"
A=$VMM_PID; A_REPORT=$VMM_REPORT
wait_for 10 grep -q '"event":"guest"' "$A_REPORT" || fail "A's guest reported nothing"
sleep 2
touch "$TMP/pause"
wait_for 5 grep -q '"event":"pause"' "$A_REPORT" || fail "A did not pause"
sleep 0.3
kill -TERM "$A"; wait "$A"
snap=$(cat "$TMP/snap.json" 2>/dev/null)
note "A's snapshot: $snap"
sA=$(jq -r '.vcpus[0].stolen_ns' <<<"$snap")
[ -n "$sA" ] && [ "$sA" -gt 100000000 ] || fail "snapshot value '$sA' too small after 2 s beside a hog"
gA=$(guest_lines "$A_REPORT" 0 | tail -n 1 | jq -r .stolen_ns)
[ "$gA" -le "$sA" ] || fail "A's guest last read $gA, above the snapshot $sA"

# B: a different process, same host, seeded with A's value
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK" --initial-ns "$sA" \
	--request "{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":524288,\"initial_ns\":$sA}" \
	--request '{"op":"set_ipa","vcpu":0,"ipa":524352,"initial_ns":-1}' \
	--request '{"op":"set_ipa","vcpu":0,"ipa":524352,"initial_ns":1.5}' \
	--request '{"op":"set_ipa","vcpu":3,"ipa":524352,"initial_ns":5}'
B_REPORT=$VMM_REPORT; tid=${VMM_TIDS%% *}
wait_for 10 grep -q '"event":"guest"' "$B_REPORT" || fail "B's guest reported nothing"
first=$(guest_lines "$B_REPORT" 0 | head -n 1 | jq -r .stolen_ns)
rd=$(run_delay "$tid")
note "B's first guest read $first (seed $sA, B thread run_delay so far $rd)"
[ "$first" -ge "$sA" ] || fail "B's guest started at $first, below A's $sA"
[ $((first - sA)) -le $((rd + 1000000)) ] || fail "B's guest jumped $((first - sA)) ns past the seed (run_delay $rd)"

ra1=$(run_delay "$tid"); ga=$(next_guest_value "$B_REPORT" 0) || exit 1; ra2=$(run_delay "$tid")
sleep 3
rb1=$(run_delay "$tid"); gb=$(next_guest_value "$B_REPORT" 0) || exit 1; rb2=$(run_delay "$tid")
dg=$((gb - ga)); lo=$((rb1 - ra2)); hi=$((rb2 - ra1)); slack=$((hi / 100 + 20000000))
note "B: guest grew $dg ns, run_delay grew $lo..$hi ns"
ns_between "$lo" "$dg" "$hi" "$slack" || fail "B's guest growth $dg outside [$lo, $hi] +- $slack"
guest_lines "$B_REPORT" 0 | jq -s -e '[.[].stolen_ns] as $v | all(range(1; $v | length); $v[.] >= $v[. - 1])' >/dev/null ||
	fail "B's guest saw its stolen time decrease"

# refusals
mapfile -t replies < <(grep '"event":"reply"' "$B_REPORT" | jq -c .reply)
[ "${#replies[@]}" -eq 4 ] || fail "expected 4 replies, got ${#replies[@]}"
jq_true "${replies[0]}" '.ok == false and .errno == "EEXIST"' || fail "re-seeding a set vCPU: ${replies[0]}"
jq_true "${replies[1]}" '.ok == false and .errno == "EINVAL"' || fail "negative seed: ${replies[1]}"
jq_true "${replies[2]}" '.ok == false and .errno == "EINVAL"' || fail "non-integer seed: ${replies[2]}"
jq_true "${replies[3]}" '.ok == false and .errno == "EINVAL"' || fail "seed for a missing vCPU: ${replies[3]}"
# the API says where the value came from
B=$VMM_PID
seed=$(vm_json "$B" | jq '.vcpus[0].commit.seeded_ns')
[ "$seed" = "$sA" ] || fail "API seeded_ns $seed, want $sA"
n=$(curl -fsS "$URL/metrics" | awk '/^stealtime_vcpus_seeded / {print $2}')
[ "${n:-0}" -ge 1 ] || fail "stealtime_vcpus_seeded is '$n'"
echo "migration: B continued from $sA"
