/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the running kernel offers the BPF side, found before loading it:
 * which twin of each kernel-dependent program it gets (the twins are
 * explained in bpf/core_fixes.bpf.h), or, for a kernel older than 5.10,
 * one line naming each missing feature and the Linux version that brought
 * it, never a verifier dump.
 *
 * STEALTIMED_WITHOUT (a comma-separated list of the feature names below)
 * makes the daemon act as if the kernel lacked them: how the twins made for
 * older kernels are tested on a new one.
 */
#ifndef STEALTIMED_KERNEL_FEATURES_H
#define STEALTIMED_KERNEL_FEATURES_H

#include <stdbool.h>

struct kernel_features {
	bool prev_state;   /* "prev_state": sched_switch passes it (5.18) */
	bool task_storage; /* "task_storage": BPF task-local storage (5.11) */
	bool kvm_btf;      /* "kvm_btf": kvm's types and tracepoints in BTF (built in,
			      or kvm.ko loaded with module BTF, 5.11) */
	bool kvm_loaded;   /* kvm is there to probe (built in or loaded) */
	bool percpu_lookup; /* "percpu_lookup": bpf_map_lookup_percpu_elem, another
			       CPU's value of a per-CPU map (5.19) */
	bool unthrottle;   /* "unthrottle": unthrottle_cfs_rq in BTF, traced where a
			      cgroup's CPU quota throttling ends (CONFIG_CFS_BANDWIDTH) */
};

/* 0 and *f filled, or -EOPNOTSUPP after logging what is missing */
int kernel_features_check(struct kernel_features *f);
/* One line for the log: the twins chosen */
const char *kernel_features_describe(const struct kernel_features *f);

#endif
