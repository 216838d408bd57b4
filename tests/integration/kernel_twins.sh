#!/usr/bin/env bash
# cost: 60 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The program twins made for older kernels, run on this one by making the
# daemon act as if the kernel lacked what they replace (STEALTIMED_WITHOUT):
# 5.11-5.17 (no sched_switch prev_state, no bpf_map_lookup_percpu_elem),
# kvm without BTF (threads found at kvm_entry, discovery by file name), and
# 5.10 (bindings in a tid hash as well), the last also without the program
# that sees throttling end. Each set binds the vCPU threads, measures steal equal to the
# kernel's run_delay and counts preemptions beside a hog; with bindings in
# the tid hash, an exited thread leaves no entry behind (tids are reused).
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
command -v bpftool >/dev/null || skip "needs bpftool"

hog 1
for without in prev_state,percpu_lookup kvm_btf task_storage,prev_state,kvm_btf,percpu_lookup,unthrottle; do
	export STEALTIMED_WITHOUT=$without
	start_daemon
	line=$(grep -m1 "BPF programs attached" "$TMP/daemon.log")
	note "without $without: ${line#*generation }"
	case $without in *prev_state*) grep -q "reading prev's state" <<<"$line" || fail "without $without: $line" ;; esac
	case $without in *task_storage*) grep -q "in a tid hash" <<<"$line" || fail "without $without: $line" ;; esac
	case $without in *kvm_btf*) grep -q "from kvm_entry" <<<"$line" || fail "without $without: $line" ;; esac
	case $without in *percpu_lookup*) grep -q "their own CPU's log" <<<"$line" || fail "without $without: $line" ;; esac
	case $without in *unthrottle*) grep -q "throttling ends not seen" <<<"$line" || fail "without $without: $line" ;; esac

	start_testvmm --vcpus 2 --cpu 1 --seconds 600
	read -r tid0 tid1 <<<"$VMM_TIDS"
	wait_for 20 vms_hold ".vms[] | select(.pid == $VMM_PID) |
		.vcpus[0].tid == $tid0 and .vcpus[1].tid == $tid1 and .vcpus[0].bound and .vcpus[1].bound" ||
		{ vm_json "$VMM_PID" >&2; fail "without $without: vCPUs not bound to threads $tid0 $tid1"; }
	sleep 1
	for i in 1 2 3; do
		before=$(run_delay "$tid0")
		s=$(vm_json "$VMM_PID" | jq -r '.vcpus[0].steal_ns')
		after=$(run_delay "$tid0")
		ns_between "$before" "$s" "$after" 1000000 ||
			fail "without $without: steal_ns $s not within [$before, $after] +-1ms"
	done
	v=$(vm_json "$VMM_PID")
	jq_true "$v" '.vcpus | all(.preemptions > 0 and .waits > 0 and .steal_ns > 0)' ||
		fail "without $without: no preemptions or waits beside a hog: $(jq -c '[.vcpus[] | {preemptions, waits, steal_ns}]' <<<"$v")"
	note "without $without: steal_ns $s within [$before, $after]; $(jq -c '[.vcpus[] | {preemptions, waits}]' <<<"$v")"

	kill "$VMM_PID"; wait "$VMM_PID" 2>/dev/null
	if [ -e "$PIN_DIR/vcpu_tid" ]; then
		wait_for 5 sh -c "[ \"\$(bpftool map dump pinned $PIN_DIR/vcpu_tid -j | jq length)\" = 0 ]" ||
			fail "without $without: exited threads left in vcpu_tid: $(bpftool map dump pinned "$PIN_DIR/vcpu_tid" -j | jq -c '[.[].key]')"
		note "without $without: vcpu_tid empty once the VMM exited"
	fi
	stop_daemon
done
unset STEALTIMED_WITHOUT
echo "the older kernels' twins measured steal equal to run_delay"
