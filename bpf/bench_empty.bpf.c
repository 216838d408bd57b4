// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's baseline: a tp_btf/sched_switch program that does one
 * atomic add, the least any switch hook costs (see tests/bench/).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 switches;

SEC("tp_btf/sched_switch")
int BPF_PROG(empty_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__sync_fetch_and_add(&switches, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
