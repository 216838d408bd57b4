// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's competitor: another tool's tp_btf/sched_switch program
 * beside stealtimed's, as BCC's runqlat keeps one: a hash keyed by pid
 * updated on every switch (the time a task left the CPU still runnable;
 * the time it waited when it comes back, into a log2 histogram). It
 * evicts cache lines the hook would otherwise find warm (see tests/bench/).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bits.bpf.h"

#define SLOTS 32

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

__u64 hist[SLOTS];

SEC("tp_btf/sched_switch")
int BPF_PROG(competitor_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns(), *ts, slot;
	__u32 pid = prev->pid;

	bpf_map_update_elem(&start, &pid, &now, BPF_ANY);
	pid = next->pid;
	ts = bpf_map_lookup_elem(&start, &pid);
	if (!ts)
		return 0;
	slot = log2l_clamped(now - *ts, SLOTS - 1);
	barrier_var(slot);
	__sync_fetch_and_add(&hist[slot & (SLOTS - 1)], 1);
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
