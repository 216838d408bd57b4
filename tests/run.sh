#!/usr/bin/env bash
# Runs every test: unit tests (cmocka binaries build/tests/test_*), then the
# kernel/KVM/end-to-end scripts tests/integration/*.sh. A script exits 0
# (pass), 77 (skip, with its reason on stderr) or anything else (fail).
# Under CI=true a skip counts as a failure: every test must run.
#
# A script that calls need_kvm needs /dev/kvm. Where this machine has none
# (its kernel may itself be a guest), those scripts run in VMs of
# tests/vm/run.sh (a Debian kernel, KVM inside, this file system), VM_JOBS
# (default 2) at a time, after the others have run here. A script with a
# "# vm: OPTIONS" line (e.g. --systemd) gets a VM of its own, booted with
# those options of tests/vm/run.sh.
#
# The kernel matrix: for each kernel series in KERNELS (e.g. "6.1 6.12"),
# the kernel-sensitive scripts (KERNEL_TESTS, or KERNEL_TESTS_6_1 for 6.1
# where set) run again in a VM of that kernel, named NAME@SERIES. Every result counts in the one summary.
#
# KERNELS_ONLY=1 runs the matrix alone (make check-kernels).
# TESTS="name ..." runs only those (unit binary or script basename).
# VM_KERNEL picks the VMs' kernel for the KVM suites (default 6.12);
# VM_TIMEOUT the limit of one VM (seconds).
# Used inside a VM: RESULTS=FILE appends "name status seconds" lines to
# FILE and leaves the summary to the caller; NAME_SUFFIX is added to names.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
VM_JOBS=${VM_JOBS:-2}
KERNEL_TESTS=${KERNEL_TESTS:-"kernel_support vmm_smoke qemu_discovery steal_accuracy guest_commit restart_continuity upgrade_layout upgrade_interrupted vcpu_handoff attribution_qemu throttle_cgroup throttle_vcpu_cgroups throttle_attribution unbound_vcpu migration_split kvm_late_load"}
# per kernel, where it differs: KERNEL_TESTS_<series with _ for .>
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

# count NAME STATUS: STATUS is the exit status, or "lost"
count() {
	if [ "$2" = 0 ]; then
		pass=$((pass + 1))
	elif [ "$2" = 77 ] && [ "${CI:-}" != true ]; then
		skip=$((skip + 1))
	else
		fail=$((fail + 1)); failed+=("$1")
	fi
}

run_one() { # name cmd...
	local name=$1${NAME_SUFFIX:-}; shift
	local log=$logdir/$name.log start=$SECONDS rc verdict
	"$@" >"$log" 2>&1
	rc=$?
	local took=$((SECONDS - start))
	[ -n "${RESULTS:-}" ] && echo "$name $rc $took" >>"$RESULTS"
	count "$name" $rc
	if [ $rc -eq 0 ]; then
		verdict="ok (${took}s)"
	elif [ $rc -eq 77 ] && [ "${CI:-}" != true ]; then
		verdict="SKIP: $(tail -n 1 "$log")"
	elif [ $rc -eq 77 ]; then
		verdict="FAIL (skipped under CI=true)"
	else
		verdict="FAIL (rc=$rc, ${took}s)"
	fi
	# one write per result: VMs running side by side share the terminal
	{
		printf '%-40s %s\n' "$name" "$verdict"
		[ $rc -eq 0 ] || [ "${verdict#SKIP}" != "$verdict" ] || sed 's/^/    | /' "$log" | tail -n 40
	} | { out=$(cat); printf '%s\n' "$out"; }
}

needs_vm() { # script: needs KVM this machine does not have
	[ -z "${STEALTIME_VM:-}" ] && [ ! -w /dev/kvm ] && grep -q '^[^#]*need_kvm' "$1"
}

# ---- VM jobs: KERNEL NAME-SUFFIX "RUN.SH OPTIONS" TESTS..., VM_JOBS at a time
jobs_names=() jobs_results=() jobs_pids=()
vm_job() {
	local kernel=$1 suffix=$2 opts=$3; shift 3
	local res; res=$(mktemp "$BUILD/vm-results.XXXXXX")
	# the kernel fetched and its initramfs built before VMs run side by side
	local kdir; kdir=$(bash tests/vm/kernel.sh "$kernel") && bash tests/vm/initramfs.sh "$kdir" ||
		echo "# kernel $kernel: not available (its VM will fail)"
	while [ "$(jobs -rp | wc -l)" -ge "$VM_JOBS" ]; do wait -n; done
	echo "# VM (Debian kernel $kernel, KVM inside${opts:+, $opts}): $*"
	# shellcheck disable=SC2086 # opts: words of run.sh options
	TESTS="$*" RESULTS=$res NAME_SUFFIX=$suffix bash tests/vm/run.sh --kernel "$kernel" $opts \
		--timeout "${VM_TIMEOUT:-2400}" -- bash tests/run.sh &
	jobs_pids+=($!)
	local n; for n in "$@"; do jobs_names+=("$n$suffix"); jobs_results+=("$res"); done
}
vm_jobs_collect() {
	local i name line rc
	for i in "${jobs_pids[@]}"; do wait "$i"; done
	for i in "${!jobs_names[@]}"; do
		name=${jobs_names[$i]}
		line=$(grep "^$name " "${jobs_results[$i]}" 2>/dev/null | tail -n 1)
		if [ -n "$line" ]; then
			read -r _ rc _ <<<"$line"
			count "$name" "$rc"
		else
			printf '%-40s FAIL (not run: its VM failed, see above)\n' "$name"
			count "$name" lost
		fi
	done
	printf '%s\n' "${jobs_results[@]}" | sort -u | xargs -r rm -f
}

[ -n "${STEALTIME_VM:-}" ] && KERNELS= && KERNELS_ONLY=
[ -n "${KERNELS_ONLY:-}" ] && TESTS=${TESTS:-$KERNEL_TESTS} && skip_main=1

# ---- this machine ----------------------------------------------------------
[ -z "${skip_main:-}" ] && for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	wanted "$(basename "$t")" && run_one "$(basename "$t")" "$t"
done
in_vm=()
[ -z "${skip_main:-}" ] && for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	wanted "$name" || continue
	if needs_vm "$t"; then in_vm+=("$name"); continue; fi
	run_one "$name" bash "$t"
done

# ---- in VMs -----------------------------------------------------------------
# deal KERNEL SUFFIX NAMES...: the scripts dealt round-robin over VM_JOBS VMs
# of KERNEL, longest first (each script's "# cost:" line); those with a
# "# vm:" line each in a VM of their own, first
deal() {
	local kernel=$1 suffix=$2 i j n opts names=() group; shift 2
	for n in "$@"; do
		opts=$(sed -n '1,/^[^#]/s/^# vm: //p' "tests/integration/$n.sh")
		if [ -n "$opts" ]; then vm_job "$kernel" "$suffix" "$opts" "$n"; else names+=("$n"); fi
	done
	mapfile -t names < <(for n in "${names[@]}"; do
		echo "$(grep -m1 -o '^# cost: [0-9]*' "tests/integration/$n.sh" | grep -o '[0-9]*$' || echo 1) $n"
	done | sort -rn | awk '{print $2}')
	for ((j = 0; j < VM_JOBS && j < ${#names[@]}; j++)); do
		group=()
		for ((i = j; i < ${#names[@]}; i += VM_JOBS)); do group+=("${names[$i]}"); done
		vm_job "$kernel" "$suffix" "" "${group[@]}"
	done
}
if [ ${#in_vm[@]} -gt 0 ]; then
	echo "# no /dev/kvm here: ${#in_vm[@]} suites run in VMs"
	deal "${VM_KERNEL:-6.12}" "" "${in_vm[@]}"
fi
for k in ${KERNELS:-}; do
	group=()
	var=KERNEL_TESTS_${k//./_}
	for n in ${!var:-$KERNEL_TESTS}; do
		wanted "$n" || continue
		# the kernel the KVM suites just ran on has been proven by those
		[ "$k" = "${VM_KERNEL:-6.12}" ] && [[ " ${in_vm[*]} " == *" $n "* ]] && continue
		group+=("$n")
	done
	[ ${#group[@]} -gt 0 ] && deal "$k" "@$k" "${group[@]}"
done
[ ${#jobs_pids[@]} -gt 0 ] && vm_jobs_collect

[ -n "${RESULTS:-}" ] && exit 0
echo
# each failure's reason again, next to the summary (a long log scrolls away)
for n in "${failed[@]}"; do
	reason=$(grep -h -m1 -B2 '^FAIL:' "$logdir/$n.log" 2>/dev/null || tail -n 3 "$logdir/$n.log" 2>/dev/null)
	printf '%s:\n%s\n' "$n" "$(sed 's/^/    | /' <<<"${reason:-no log}")"
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
