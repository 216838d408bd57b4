#!/usr/bin/env bash
# cost: 60 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# kvm loaded after the daemon started (distribution kernels build it as a
# module): the daemon says so at start, attaches to kvm's kvm_entry
# tracepoint at the first rescan after kvm loads and pins that link; a VM
# started then is found, both vCPU threads bound, and each vCPU's steal is
# its thread's run_delay. The pinned link holds kvm: `modprobe -r kvm` is
# refused while the programs are attached, and works after --cleanup.
# kvm is unloaded and loaded here, so this runs in a throwaway VM of
# tests/vm/run.sh (its own, or that of tests/run.sh).
source "$(dirname "$0")/../lib.sh"
need_root
cd "$ROOT" || fail "no $ROOT"
if [ -z "${STEALTIME_VM:-}" ]; then
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed"
	bash tests/vm/run.sh --timeout 600 -- env BUILD="$BUILD" bash "$0"
	exit $?
fi
need_kvm; need_btf

# the modules of this kernel: the tree tests/vm/kernel.sh unpacked
kroot=
for d in "$BUILD"/vm/kernels/* "$ROOT"/build/vm/kernels/*; do
	[ "$(cat "$d/version" 2>/dev/null)" = "$(uname -r)" ] && kroot=$d/root && break
done
[ -n "$kroot" ] || fail "no unpacked modules of kernel $(uname -r) under $BUILD/vm/kernels"
kmod() { modprobe -d "$kroot" "$@"; }

vendor=$(awk '$1 == "kvm_amd" || $1 == "kvm_intel" {print $1}' /proc/modules)
[ -n "$vendor" ] || fail "kvm is not a module here (no kvm_amd/kvm_intel in /proc/modules)"
kmod -r "$vendor" kvm || fail "cannot unload $vendor and kvm"
[ ! -e /sys/module/kvm ] || fail "kvm still loaded after modprobe -r"

start_daemon
grep -q "kvm is not loaded" "$TMP/daemon.log" || { cat "$TMP/daemon.log" >&2; fail "no word at start that kvm is missing"; }
[ ! -e "$PIN_DIR/links/on_kvm_exit" ] || fail "a kvm link is pinned before kvm is loaded"

kmod "$vendor" || fail "cannot load $vendor"
[ -e /dev/kvm ] || mknod /dev/kvm c 10 232
wait_for 10 grep -q "kvm was loaded" "$TMP/daemon.log" ||
	{ cat "$TMP/daemon.log" >&2; fail "the daemon did not attach to kvm after it loaded"; }
[ -e "$PIN_DIR/links/on_kvm_exit" ] || fail "the kvm_entry link is not pinned"

hog 0
start_testvmm --vcpus 2 --cpu 0 --seconds 600
read -r tid0 tid1 <<<"$VMM_TIDS"
wait_for 30 vms_hold ".vms[] | select(.pid == $VMM_PID) | [.vcpus[] | select(.bound)] | length == 2" ||
	fail "vCPUs not bound: $(vm_json "$VMM_PID" | jq -c .vcpus)"
v=$(vm_json "$VMM_PID")
jq_true "$v" "[.vcpus[].tid] | sort == ([$tid0, $tid1] | sort)" || fail "vCPU threads are not $tid0 $tid1: $v"
sleep 2
for tid in $tid0 $tid1; do
	before=$(run_delay "$tid")
	s=$(vm_json "$VMM_PID" | jq --argjson t "$tid" '.vcpus[] | select(.tid == $t) | .steal_ns')
	after=$(run_delay "$tid")
	note "thread $tid: run_delay $before..$after, steal_ns $s"
	[ "$s" -gt 0 ] || fail "thread $tid: no steal beside a hog"
	ns_between "$before" "$s" "$after" 1000000 || fail "thread $tid: steal_ns $s not within [$before, $after]"
done

# the pinned kvm_entry link holds kvm while the programs stay attached
kill "$VMM_PID"; wait "$VMM_PID" 2>/dev/null
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
kmod -r "$vendor" || fail "cannot unload $vendor with no VM running"
if kmod -r kvm 2>"$TMP/rmmod.err"; then
	fail "kvm unloaded while the pinned kvm_entry link is attached"
fi
note "modprobe -r kvm with the programs attached: $(tr '\n' ' ' <"$TMP/rmmod.err")"
"$BUILD/stealtimed" --cleanup --pin-dir "$PIN_DIR" || fail "--cleanup failed"
wait_for 5 kmod -r kvm || fail "kvm cannot be unloaded after --cleanup"
kmod "$vendor"
echo "kvm loaded after the start: attached, pinned, vCPUs bound and measured; --cleanup lets kvm go"
