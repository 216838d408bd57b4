/* SPDX-License-Identifier: GPL-2.0 */
/*
 * When a vCPU thread's cgroups were throttled during its wait. The kernel
 * counts throttled time in run_delay, while the thread could not run: the
 * task that ran meanwhile (often alone on the CPU, without a switch) did
 * not keep it off. Each end of a throttling (unthrottle_cfs_rq, traced on
 * return) is kept in a small ring per CPU: the group runqueue whose quota
 * came back, and when its throttling began and ended (rq clock). When a
 * vCPU thread comes back after a wait, each throttling that ended within
 * the wait, of its own group runqueue or of one above it, is a span of
 * the wait the log does not place (attribution.bpf.h): they have a
 * culprit of their own, ST_CULPRIT_THROTTLED.
 *
 * Its start is the kernel's throttled_clock, read as unthrottle_cfs_rq
 * begins (fentry): from 6.5 on ("sched: add throttled time stat for
 * throttled children") the kernel clears it before it returns. Read on
 * return where only that program runs (a daemon of an earlier release
 * attached it), it is 0 from 6.5 on, and the span then starts with the
 * wait: the same for the common case, a vCPU thread throttled as it
 * leaves the CPU (its wait starts at the same rq clock), not for one
 * throttled while it waited (a sibling used up the quota).
 */
#ifndef STEALTIME_THROTTLING_BPF_H
#define STEALTIME_THROTTLING_BPF_H

#define UNTHROTTLE_RING 16 /* per CPU: the throttlings of a long wait, of a few cgroups */
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
	__u64 begun_cfs_rq; /* the unthrottle under way (fentry to fexit) */
	__u64 begun_start;  /* its throttled_clock as it began */
	__u64 pad[5];       /* whole cache lines each: CPUs do not share one */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct st_cpu_unthrottles);
} unthrottles SEC(".maps");

_Static_assert(sizeof(struct st_cpu_unthrottles) % 64 == 0, "whole cache lines per CPU");

/* The ring of the CPU whose runqueue cfs_rq is on */
static __always_inline struct st_cpu_unthrottles *ring_of(struct cfs_rq *cfs_rq)
{
	__u32 cpu = cfs_rq->rq->cpu;

	return bpf_map_lookup_elem(&unthrottles, &cpu);
}

/*
 * The throttling of cfs_rq is about to end: when it began. The caller
 * holds that runqueue's lock from here to note_unthrottle(), so no other
 * unthrottle of that CPU comes between.
 */
static __always_inline void note_unthrottle_begins(struct cfs_rq *cfs_rq)
{
	struct st_cpu_unthrottles *r = ring_of(cfs_rq);

	if (!r)
		return;
	r->begun_cfs_rq = (__u64)cfs_rq;
	r->begun_start = cfs_rq->throttled_clock;
}

/*
 * The throttling of cfs_rq ended on its CPU now (the caller holds that
 * runqueue's lock, which the switch that reads the ring holds too). A
 * group runqueue that is still throttled from above is not running yet.
 */
static __always_inline void note_unthrottle(struct cfs_rq *cfs_rq)
{
	struct st_cpu_unthrottles *r = ring_of(cfs_rq);
	__u64 start, end;
	__u32 h;

	if (!r)
		return;
	/* loaded apart: the verifier refuses one load from a map value or a cfs_rq */
	start = cfs_rq->throttled_clock;
	barrier_var(start);
	if (r->begun_cfs_rq == (__u64)cfs_rq)
		start = r->begun_start;
	r->begun_cfs_rq = 0;
	if (cfs_rq->throttle_count)
		return;
	end = cfs_rq->rq->clock;
	h = (r->head + 1) & (UNTHROTTLE_RING - 1);
	r->e[h].cfs_rq = (__u64)cfs_rq;
	r->e[h].start = start <= end ? start : 0;
	r->e[h].end = end;
	r->head = h;
}

_Static_assert(UNTHROTTLE_RING <= ST_SPANS, "a span for each end the ring keeps");

/* Does the throttling u belong to t's group runqueue or one above it? */
static __always_inline bool throttles(struct st_unthrottle *u, struct task_struct *t)
{
	struct sched_entity *se = &t->se;

	for (int d = 0; d < CGROUP_DEPTH && se; d++) {
		if ((__u64)se->cfs_rq == u->cfs_rq)
			return true;
		se = se->parent;
	}
	return false;
}

/*
 * The spans of the wait [queued, now] on cpu during which t's group
 * runqueue, or one above it, was throttled, in *x: those of the ends the
 * ring still holds, made disjoint (a group and one above it can be
 * throttled at once). The ring's ends are in the order of the CPU's
 * clock: walked from the latest, each span ends where the later one
 * starts, at the latest. Returns their length in all.
 */
static __always_inline __u64 throttled_spans(struct task_struct *t, __u32 cpu, __u64 queued,
					    __u64 now, struct st_spans *x)
{
	struct st_cpu_unthrottles *r = bpf_map_lookup_elem(&unthrottles, &cpu);
	__u64 lo, hi, until = now, sum = 0;
	struct st_unthrottle *u;
	__u32 h = r ? r->head : 0;

	/* unrolled: each of x's slots written, whether a span or none */
#pragma unroll
	for (int i = 0; i < UNTHROTTLE_RING; i++) {
		x->lo[i] = x->hi[i] = 0;
		if (!r)
			continue;
		u = &r->e[(h - i) & (UNTHROTTLE_RING - 1)];
		if (u->end <= queued || u->end > now || !throttles(u, t))
			continue;
		lo = u->start > queued ? u->start : queued;
		hi = u->end < until ? u->end : until;
		if (hi <= lo)
			continue;
		x->lo[i] = lo;
		x->hi[i] = hi;
		sum += hi - lo;
		until = lo;
	}
	return sum;
}

#endif
