#!/usr/bin/env bash
# Runs every test: unit tests (cmocka binaries build/tests/test_*), then the
# kernel/KVM/end-to-end scripts tests/integration/*.sh. A script exits 0
# (pass), 77 (skip, with its reason on stderr) or anything else (fail).
# Under CI=true a skip counts as a failure: every test must run.
#
# A script that calls need_kvm needs /dev/kvm. Where this machine has none
# (its kernel may itself be a guest), those scripts run in one VM of
# tests/vm/run.sh (a Debian kernel, KVM inside, this file system), after
# the others have run here; their results count in the same summary.
#
# TESTS="name ..." runs only those (unit binary or script basename).
# VM_KERNEL picks the VM's kernel (tests/vm/run.sh); VM_TIMEOUT its limit.
# RESULTS=FILE (used by the VM run) appends "name status seconds" lines
# to FILE and leaves the summary to the caller.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0 fail=0 skip=0
failed=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

wanted() {
	local t
	[ -z "${TESTS:-}" ] && return 0
	for t in $TESTS; do [ "$t" = "$1" ] && return 0; done
	return 1
}

# count NAME STATUS SECONDS LOG: STATUS is the exit status, or "lost"
count() {
	local name=$1 rc=$2 took=$3 log=$4
	[ -n "${RESULTS:-}" ] && echo "$name $rc $took" >>"$RESULTS"
	if [ "$rc" = 0 ]; then
		pass=$((pass + 1))
	elif [ "$rc" = 77 ] && [ "${CI:-}" != true ]; then
		skip=$((skip + 1))
	else
		fail=$((fail + 1)); failed+=("$name")
	fi
}

run_one() { # name cmd...
	local name=$1; shift
	wanted "$name" || return 0
	local log=$logdir/$name.log start=$SECONDS rc
	printf '%-40s ' "$name"
	"$@" >"$log" 2>&1
	rc=$?
	local took=$((SECONDS - start))
	count "$name" $rc $took "$log"
	if [ $rc -eq 0 ]; then
		echo "ok (${took}s)"
	elif [ $rc -eq 77 ] && [ "${CI:-}" != true ]; then
		echo "SKIP: $(tail -n 1 "$log")"
	else
		[ $rc -eq 77 ] && echo "FAIL (skipped under CI=true)" || echo "FAIL (rc=$rc, ${took}s)"
		sed 's/^/    | /' "$log" | tail -n 40
	fi
}

needs_vm() { # script: needs KVM this machine does not have
	[ -z "${STEALTIME_VM:-}" ] && [ ! -w /dev/kvm ] && grep -q '^[^#]*need_kvm' "$1"
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
in_vm=()
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	wanted "$name" || continue
	if needs_vm "$t"; then in_vm+=("$name"); continue; fi
	run_one "$name" bash "$t"
done

if [ ${#in_vm[@]} -gt 0 ]; then
	kernel=${VM_KERNEL:-6.12}
	echo "# no /dev/kvm here: ${#in_vm[@]} suites run in a VM (Debian kernel $kernel, KVM inside)"
	vmres=$(mktemp "$BUILD/vm-results.XXXXXX")
	start=$SECONDS
	TESTS="${in_vm[*]}" RESULTS=$vmres bash tests/vm/run.sh --kernel "$kernel" \
		--timeout "${VM_TIMEOUT:-3000}" -- bash tests/run.sh
	vmrc=$?
	for name in "${in_vm[@]}"; do
		line=$(grep "^$name " "$vmres" | tail -n 1)
		if [ -n "$line" ]; then
			read -r _ rc took <<<"$line"
			count "$name" "$rc" "$took" "$logdir/$name.log"
		else
			printf '%-40s FAIL (not run: the VM exited %s)\n' "$name" "$vmrc"
			count "$name" lost $((SECONDS - start)) /dev/null
		fi
	done
	rm -f "$vmres"
fi

[ -n "${RESULTS:-}" ] && exit 0
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
