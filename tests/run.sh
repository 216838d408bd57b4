#!/usr/bin/env bash
# Runs every test: unit tests (cmocka binaries build/tests/test_*), then the
# kernel/KVM/end-to-end scripts tests/integration/*.sh. A script exits 0
# (pass), 77 (skip, with its reason on stderr) or anything else (fail).
# Under CI=true a skip counts as a failure: CI machines have BPF and KVM.
# TESTS="name ..." runs only those (unit binary or script basename).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0 fail=0 skip=0
failed=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

wanted() {
	[ -z "${TESTS:-}" ] && return 0
	for t in $TESTS; do [ "$t" = "$1" ] && return 0; done
	return 1
}

run_one() { # name cmd...
	local name=$1; shift
	wanted "$name" || return 0
	local log=$logdir/$name.log start=$SECONDS rc
	printf '%-40s ' "$name"
	"$@" >"$log" 2>&1
	rc=$?
	local took=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "ok (${took}s)"
	elif [ $rc -eq 77 ] && [ "${CI:-}" != true ]; then
		skip=$((skip + 1)); echo "SKIP: $(tail -n 1 "$log")"
	else
		fail=$((fail + 1)); failed+=("$name")
		[ $rc -eq 77 ] && echo "FAIL (skipped under CI=true)" || echo "FAIL (rc=$rc, ${took}s)"
		sed 's/^/    | /' "$log" | tail -n 40
	fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	run_one "$(basename "$t" .sh)" bash "$t"
done

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
