#!/usr/bin/env bash
# cost: 110 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# Two registered VMs at once: each guest reads only its own record, the
# region cannot be mapped writable, a process without a VM cannot
# register, and every control error comes back where it should.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"

start_daemon
# VM A beside a hog on CPU 1, its record seeded with 1000 s (as after a
# migration), so that its values are ones B could never come by honestly;
# VM B on CPU 0; both use record 0 of their region
SEED=1000000000000
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK" --try-rw-mmap --initial-ns $SEED
A=$VMM_PID; A_REPORT=$VMM_REPORT
start_testvmm --vcpus 1 --cpu 0 --seconds 600 --control "$CONTROL_SOCK"
B=$VMM_PID; B_REPORT=$VMM_REPORT
hog 1
wait_for 10 grep -q '"event":"guest"' "$B_REPORT" || fail "VM B's guest reported nothing"
sleep 3
ta=${VMM_TIDS%% *}
tb=$(grep -m1 '"event":"start"' "$B_REPORT" | jq -r '.vcpus[0].tid')
ta=$(grep -m1 '"event":"start"' "$A_REPORT" | jq -r '.vcpus[0].tid')
ga=$(next_guest_value "$A_REPORT" 0) || fail "no value from A"
gb=$(next_guest_value "$B_REPORT" 0) || fail "no value from B"
ra=$(run_delay "$ta"); rb=$(run_delay "$tb")
note "guest A read $ga ns (thread run_delay $ra), guest B read $gb ns (run_delay $rb)"
# a guest's value can never exceed its own seed plus its vCPU thread's whole run_delay
[ "$ga" -ge "$SEED" ] && [ "$ga" -le $((SEED + ra + 20000000)) ] ||
	fail "VM A read $ga ns, not its seed $SEED plus at most its thread's run_delay $ra"
[ "$gb" -le $((rb + 20000000)) ] || fail "VM B read $gb ns, more than its thread's run_delay $rb: not its own record"
# and A's value is one B could not have come by honestly, so the check above means something
[ "$ga" -gt $((rb + 20000000)) ] || fail "VM A read only $ga ns (B's run_delay $rb): no contrast"
ida=$(grep -m1 '"event":"register"' "$A_REPORT" | jq -r .vm)
idb=$(grep -m1 '"event":"register"' "$B_REPORT" | jq -r .vm)
[ "$ida" != "$idb" ] || fail "both VMMs got VM $ida"
[ "$(vm_json "$A" | jq -r .id)" = "$ida" ] || fail "A registered a VM that is not its own"

# the region fd can only be mapped read-only
rw=$(grep -m1 '"event":"rw_mmap"' "$A_REPORT") || fail "no rw_mmap report"
note "$rw"
jq_true "$rw" '.failed == true and .mprotect_failed == true' || fail "region mapped writable: $rw"

# a process that created no VM cannot register one
out=$("$BUILD/tests/vmm/ctlsend" "$CONTROL_SOCK" '{"op":"register","region_ipa":524288}')
note "ctlsend register: $out"
jq_true "$out" '.ok == false and .errno == "ESRCH"' || fail "a peer without a VM registered: $out"

# the error codes, on a VM of its own
R=(
	'{"op":"set_ipa","vcpu":0,"ipa":524353}'            # not 64-byte aligned
	'{"op":"set_ipa","vcpu":0,"ipa":589824}'            # outside the region
	'{"op":"set_ipa","vcpu":7,"ipa":524288}'            # no such vCPU
	'{"op":"smccc","vcpu":0,"function":3305111585}'     # PV_TIME_ST before set_ipa
	'{"op":"set_ipa","vcpu":0,"ipa":524352}'            # record 1: ok
	'{"op":"set_ipa","vcpu":0,"ipa":524416}'            # again: EEXIST
	'{"op":"set_ipa","vcpu":1,"ipa":524352}'            # vCPU 1 on vCPU 0's record
	'{"op":"smccc","vcpu":0,"function":3305111585}'     # PV_TIME_ST: 0x80040
	'{"op":"smccc","vcpu":0,"function":2147483649,"arg":3305111584}' # ARCH_FEATURES(PV_TIME_FEATURES)
	'{"op":"smccc","vcpu":0,"function":3305111584,"arg":3305111585}' # PV_TIME_FEATURES(PV_TIME_ST)
	'{"op":"smccc","vcpu":0,"function":3305111584,"arg":1}'          # PV_TIME_FEATURES(other)
	'{"op":"smccc","vcpu":0,"function":2231369761}'     # SMC32 PV_TIME_ST: 64-bit only
	'{"op":"register","region_ipa":524288}'             # twice on one connection
	'{"op":"snapshot"}'
)
args=()
for r in "${R[@]}"; do args+=(--request "$r"); done
start_testvmm --vcpus 2 --cpu 0 --seconds 600 --control "$CONTROL_SOCK" --no-set-ipa "${args[@]}"
C_REPORT=$VMM_REPORT
mapfile -t replies < <(grep '"event":"reply"' "$C_REPORT" | jq -c .reply)
[ "${#replies[@]}" -eq "${#R[@]}" ] || fail "got ${#replies[@]} replies for ${#R[@]} requests"
expect() { # index jq-condition
	jq_true "${replies[$1]}" "$2" || fail "request ${R[$1]}: reply ${replies[$1]}, want $2"
	note "${R[$1]} -> ${replies[$1]}"
}
expect 0 '.ok == false and .errno == "EINVAL"'
expect 1 '.ok == false and .errno == "EINVAL"'
expect 2 '.ok == false and .errno == "EINVAL"'
expect 3 '.ok == true and .ret == -1'
expect 4 '.ok == true'
expect 5 '.ok == false and .errno == "EEXIST"'
expect 6 '.ok == false and .errno == "EEXIST"'
expect 7 '.ok == true and .ret == 524352'
expect 8 '.ok == true and .ret == 0'
expect 9 '.ok == true and .ret == 0'
expect 10 '.ok == true and .ret == -1'
expect 11 '.ok == true and .ret == -1'
expect 12 '.ok == false and .errno == "EEXIST"'
expect 13 '.ok == true and (.vcpus | length) == 1 and .vcpus[0].vcpu == 0'

# with commit disabled, set_ipa says ENXIO and PV_TIME_FEATURES NOT_SUPPORTED
stop_daemon
start_daemon --no-commit
start_testvmm --vcpus 1 --seconds 600 --control "$CONTROL_SOCK" --no-set-ipa \
	--request '{"op":"set_ipa","vcpu":0,"ipa":524288}' \
	--request '{"op":"smccc","vcpu":0,"function":2147483649,"arg":3305111584}'
mapfile -t replies < <(grep '"event":"reply"' "$VMM_REPORT" | jq -c .reply)
R=(set_ipa arch_features)
expect 0 '.ok == false and .errno == "ENXIO"'
expect 1 '.ok == true and .ret == -1'
echo "isolation and error codes ok"
