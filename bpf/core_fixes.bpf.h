/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels stealtime runs on (5.10 and later), one
 * shim each, with the change that made them. Which program variant a kernel
 * gets is decided by the daemon at load time (bpf_program__set_autoload),
 * so no shim branches on the hot path of a kernel that has the feature.
 */
#ifndef STEALTIME_CORE_FIXES_BPF_H
#define STEALTIME_CORE_FIXES_BPF_H

/*
 * "sched: Change task_struct::state" (5.14) renamed the field to __state
 * and made it an unsigned int; before, it was a long called state.
 */
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

/*
 * The state of a task that is being switched out, for kernels whose
 * sched_switch has no prev_state argument: "sched/tracing: Don't re-read
 * p->state when emitting sched_switch event" (5.18) added it. Before 5.18
 * the tracepoint itself read prev's state, as this does.
 */
static __always_inline unsigned int task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (unsigned int)BPF_CORE_READ((struct task_struct___pre_5_14 *)t, state);
}

/*
 * A per-CPU map's value of another CPU: bpf_map_lookup_percpu_elem came
 * with "bpf: add bpf_map_lookup_percpu_elem for percpu map" (5.19). The
 * THIS_CPU_ONLY twins, for older kernels, reach only the CPU they run on
 * (NULL for another); the helper is then not in their code at all.
 */
enum cpu_reach { ANY_CPU, THIS_CPU_ONLY };

static __always_inline void *percpu_value(void *map, const void *key, __u32 cpu,
					  enum cpu_reach reach)
{
	if (cpu == bpf_get_smp_processor_id())
		return bpf_map_lookup_elem(map, key);
	if (reach == THIS_CPU_ONLY)
		return NULL;
	return bpf_map_lookup_percpu_elem(map, key, cpu);
}

/*
 * struct kvm_vcpu starts with its VM ("struct kvm *kvm;") on every kernel
 * since KVM's first release: the one layout fact discovery relies on where
 * kvm's BTF is missing (a module before "bpf: Load and verify kernel module
 * BTFs", 5.11).
 */
static __always_inline __u64 vcpu_kvm_nobtf(const void *vcpu)
{
	__u64 kvm = 0;

	bpf_probe_read_kernel(&kvm, sizeof(kvm), vcpu);
	return kvm;
}

/*
 * How many tasks besides next the runqueue of next's CPU holds ready to
 * run, prev among them if it was preempted. From 6.12 ("sched/fair:
 * Implement delayed dequeue") a task that went to sleep may stay queued,
 * in nr_running, until it is picked or woken again; 6.14 ("sched/fair: Add
 * new cfs_rq.h_nr_runnable") counts those apart (h_nr_queued -
 * h_nr_runnable), and prev is one of them if se.sched_delayed. 6.12 and
 * 6.13 count the others in: a count too high (or wrapped past zero),
 * never one too low. The idle task is queued, yet not in nr_running.
 */
static __always_inline unsigned int others_runnable(struct task_struct *prev,
						     struct task_struct *next)
{
	struct rq *rq = next->se.cfs_rq->rq;
	unsigned int n = rq->nr_running;
	bool delayed_apart = bpf_core_field_exists(rq->cfs.h_nr_runnable);

	if (delayed_apart)
		n -= rq->cfs.h_nr_queued - rq->cfs.h_nr_runnable;
	if (prev->pid && prev->on_rq && !(delayed_apart && prev->se.sched_delayed))
		n--; /* prev, still queued */
	return n - 1; /* next */
}

#endif
