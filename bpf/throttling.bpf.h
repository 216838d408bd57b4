/* SPDX-License-Identifier: GPL-2.0 */
/*
 * When a vCPU thread's cgroups were throttled during its wait. The kernel
 * counts throttled time in run_delay, while the thread could not run: the
 * task that ran meanwhile (often alone on the CPU, without a switch) did
 * not keep it off. Each end of a throttling (unthrottle_cfs_rq, traced on
 * return) is kept in a small ring per CPU: the group runqueue whose quota
 * came back, and when its throttling began and ended (rq clock). When a
 * vCPU thread comes back after a wait, a throttling that ended within the
 * wait, of its own group runqueue or of one above it, is the span of the
 * wait the log does not place (attribution.bpf.h): it has a culprit of
 * its own, ST_CULPRIT_THROTTLED.
 *
 * Its start is the kernel's throttled_clock, which up to 6.5 stays set
 * after the end; later kernels clear it at the end ("sched: add throttled
 * time stat for throttled children"), and the span then starts with the
 * wait. Both are the same for the common case, a vCPU thread throttled as
 * it leaves the CPU (its wait starts at the same rq clock).
 */
#ifndef STEALTIME_THROTTLING_BPF_H
#define STEALTIME_THROTTLING_BPF_H

#define UNTHROTTLE_RING 4 /* per CPU: the runqueues of a few cgroups ending their throttling at once */
#define CGROUP_DEPTH 8	  /* group runqueues looked at above a thread's own */

struct st_unthrottle {
	__u64 cfs_rq; /* the group runqueue (its address) */
	__u64 start;  /* 0: not known */
	__u64 end;
};

struct st_cpu_unthrottles {
	__u32 head;
	__u32 reserved;
	struct st_unthrottle e[UNTHROTTLE_RING];
	__u64 pad[3]; /* two cache lines each: CPUs do not share one */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct st_cpu_unthrottles);
} unthrottles SEC(".maps");

/*
 * The throttling of cfs_rq ended on its CPU now (the caller holds that
 * runqueue's lock, which the switch that reads the ring holds too). A
 * group runqueue that is still throttled from above is not running yet.
 */
static __always_inline void note_unthrottle(struct cfs_rq *cfs_rq)
{
	struct rq *rq = cfs_rq->rq;
	struct st_cpu_unthrottles *r;
	__u64 start, end;
	__u32 cpu, h;

	if (cfs_rq->throttle_count)
		return;
	cpu = rq->cpu;
	r = bpf_map_lookup_elem(&unthrottles, &cpu);
	if (!r)
		return;
	end = rq->clock;
	start = cfs_rq->throttled_clock;
	h = (r->head + 1) & (UNTHROTTLE_RING - 1);
	r->e[h].cfs_rq = (__u64)cfs_rq;
	r->e[h].start = start <= end ? start : 0;
	r->e[h].end = end;
	r->head = h;
}

/*
 * The span of the wait [queued, now] on cpu during which t's group
 * runqueue, or one above it, was throttled: [*lo, *hi], empty (lo == hi)
 * if none ended within the wait. The latest such end counts.
 */
static __always_inline void throttled_span(struct task_struct *t, __u32 cpu, __u64 queued,
					   __u64 now, __u64 *lo, __u64 *hi)
{
	struct st_cpu_unthrottles *r = bpf_map_lookup_elem(&unthrottles, &cpu);
	struct sched_entity *se;
	struct st_unthrottle *u;
	__u32 h;

	*lo = *hi = 0;
	if (!r)
		return;
	h = r->head;
	for (int i = 0; i < UNTHROTTLE_RING; i++) {
		u = &r->e[(h - i) & (UNTHROTTLE_RING - 1)];
		if (u->end <= queued || u->end > now)
			continue;
		se = &t->se;
		for (int d = 0; d < CGROUP_DEPTH && se; d++) {
			if ((__u64)se->cfs_rq == u->cfs_rq) {
				*lo = u->start > queued ? u->start : queued;
				*hi = u->end;
				return;
			}
			se = se->parent;
		}
	}
}

#endif
