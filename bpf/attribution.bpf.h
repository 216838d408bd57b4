/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who ran instead of a waiting vCPU. Every switch on a CPU where a vCPU
 * thread waits and can run (waiting.bpf.h, handle_switch) appends the task
 * that is leaving the CPU to a per-CPU log (when it came, when it left, who
 * it was). Each entry covers [its start, its end], and never starts before
 * the end of the entry before it: a switch that was not logged leaves a
 * gap. When a vCPU thread comes back after a wait [last_queued, now], the
 * log is walked backwards and the overlap of each entry with the wait is
 * added to stolen_by[vCPU, culprit], less the spans its cgroups were
 * throttled (throttling.bpf.h), which go to ST_CULPRIT_THROTTLED. What
 * the log no longer covers, gaps, idle time and anything that cannot be
 * placed go to ST_CULPRIT_OTHER, so the entries of a vCPU add up to its
 * waits.
 *
 * A wait that a migration splits has its part on the CPU the thread left
 * placed when it leaves (attribute_moved): from that CPU's log, read
 * under the scheduler's lock of its runqueue, and the task running there
 * since its last switch.
 */
#ifndef STEALTIME_ATTRIBUTION_BPF_H
#define STEALTIME_ATTRIBUTION_BPF_H

#define PF_KTHREAD 0x00200000

struct st_cpu_log {
	__u32 head;
	__u32 reserved;
	struct st_log_entry e[ST_LOG_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_cpu_log);
} cpu_log SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_ATTRIB);
	__type(key, struct st_attrib_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stolen_by SEC(".maps");

/* What kind of culprit t is (ST_CULPRIT_*; its id is its tgid) */
static __always_inline __u32 culprit_kind(struct task_struct *t, bool is_vcpu)
{
	if (t->pid == 0)
		return ST_CULPRIT_OTHER; /* idle */
	if (is_vcpu)
		return ST_CULPRIT_VCPU;
	if (t->flags & PF_KTHREAD)
		return ST_CULPRIT_KERNEL;
	return ST_CULPRIT_PROCESS;
}

/* When t came on its CPU: sched_info_arrive()'s rq clock (the idle task has none: 0) */
static __always_inline __u64 arrived_at(struct task_struct *t)
{
	return t->pid ? t->sched_info.last_arrival : 0;
}

/* The task leaving the CPU at clock now, as a culprit. */
static __always_inline void log_switch(struct task_struct *prev, bool prev_is_vcpu, __u64 now)
{
	__u32 zero = 0, h;
	struct st_cpu_log *l = bpf_map_lookup_elem(&cpu_log, &zero);
	struct st_log_entry *e;

	if (!l)
		return;
	h = (l->head + 1) & (ST_LOG_LEN - 1);
	e = &l->e[h];
	e->start = arrived_at(prev);
	e->end = now;
	e->id = prev->tgid;
	e->kind = culprit_kind(prev, prev_is_vcpu);
	l->head = h;
}

/*
 * Clock arithmetic without branches, for values below 2^63: the walk of
 * the log below does it for every entry and span, and a branch there
 * would fork the verifier's states beyond its limit. The mask is hidden
 * from clang (barrier_var), which would turn it back into a branch.
 */
static __always_inline __u64 sign_mask(__u64 d)
{
	__u64 m = (__u64)((__s64)d >> 63);

	barrier_var(m);
	return m;
}

static __always_inline __u64 clock_max(__u64 a, __u64 b)
{
	__u64 d = a - b;

	return a - (d & sign_mask(d));
}

static __always_inline __u64 clock_min(__u64 a, __u64 b)
{
	__u64 d = a - b;

	return b + (d & sign_mask(d));
}

/* d if it is positive, else 0 */
static __always_inline __u64 clock_pos(__u64 d)
{
	return d & ~sign_mask(d);
}

/* Spans of a wait, disjoint; an empty one has lo == hi */
#define ST_SPANS 16
struct st_spans {
	__u64 lo[ST_SPANS];
	__u64 hi[ST_SPANS];
};

/* this CPU's spans of the wait that ends now, too large for the stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_spans);
} wait_spans SEC(".maps");

static __always_inline struct st_spans *spans_here(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&wait_spans, &zero);
}

static __always_inline bool attrib_try(struct st_attrib_key *key, __u64 ns)
{
	__u64 *val = bpf_map_lookup_elem(&stolen_by, key);

	if (!val) {
		if (bpf_map_update_elem(&stolen_by, key, &ns, BPF_NOEXIST) == 0)
			return true;
		val = bpf_map_lookup_elem(&stolen_by, key); /* another CPU added it */
		if (!val)
			return false;
	}
	__sync_fetch_and_add(val, ns);
	return true;
}

static __always_inline void attrib_add(__u32 slot, __u32 kind, __u64 id, __u64 ns)
{
	struct st_attrib_key key = { .slot = slot, .kind = kind, .id = kind ? id : 0 };

	if (attrib_try(&key, ns))
		return;
	stat_inc(ST_STAT_ATTRIB_DROPS);
	if (kind == ST_CULPRIT_OTHER)
		return;
	key.kind = ST_CULPRIT_OTHER;
	key.id = 0;
	attrib_try(&key, ns);
}

/*
 * Adds what of [queued, now] the log l covers, less the spans x (its
 * cgroups throttled: throttling.bpf.h; NULL: none), to the slot's
 * culprits; returns it
 */
static __always_inline __u64 attribute_logged(struct st_cpu_log *l, __u32 slot, __u64 queued,
					      __u64 now, const struct st_spans *x)
{
	__u64 placed = 0, end, start, lo, hi, ns;
	__u32 h, idx;

	h = l->head;
	for (int i = 0; i < ST_LOG_LEN - 1; i++) {
		idx = (h - i) & (ST_LOG_LEN - 1);
		end = l->e[idx].end;
		start = l->e[(idx - 1) & (ST_LOG_LEN - 1)].end;
		if (end <= queued || start >= end)
			break;
		/* a gap before it: switches that were not logged */
		if (l->e[idx].start > start)
			start = l->e[idx].start;
		lo = start > queued ? start : queued;
		hi = end < now ? end : now;
		if (hi > lo && l->e[idx].kind != ST_CULPRIT_OTHER) {
			ns = hi - lo;
			if (x) {
#pragma unroll
				for (int k = 0; k < ST_SPANS; k++)
					ns -= clock_pos(clock_min(hi, x->hi[k]) -
							clock_max(lo, x->lo[k]));
			}
			if (ns) {
				attrib_add(slot, l->e[idx].kind, l->e[idx].id, ns);
				placed += ns;
			}
		}
		if (start <= queued)
			break;
	}
	return placed;
}

/*
 * The wait [queued, now] of the vCPU in slot, which ends on this CPU now;
 * its cgroups were throttled during the spans x, within the wait,
 * throttled ns in all.
 */
static __always_inline void attribute_wait(__u32 slot, __u64 queued, __u64 now,
					   const struct st_spans *x, __u64 throttled)
{
	__u32 zero = 0;
	struct st_cpu_log *l = bpf_map_lookup_elem(&cpu_log, &zero);
	__u64 placed;

	if (now <= queued)
		return;
	/* the logged entries leave the spans out (a wait with none: no work per entry) */
	placed = l ? attribute_logged(l, slot, queued, now, throttled ? x : NULL) : 0;
	if (throttled) {
		attrib_add(slot, ST_CULPRIT_THROTTLED, 0, throttled);
		placed += throttled;
	}
	if (now - queued > placed)
		attrib_add(slot, ST_CULPRIT_OTHER, 0, now - queued - placed);
}

/*
 * The len ns of the vCPU's wait that ended at clock now on a CPU the
 * scheduler has just moved it off, all of them added to stolen_by. l is
 * that CPU's log (NULL: this kernel cannot read it from here), which
 * covers up to the CPU's last logged switch; the task cur (a culprit of
 * kind cur_kind) has run there since cur_start (0: not known), and the
 * gap between them, if any, is not placed. The scheduler holds that CPU's
 * runqueue lock, so no switch there changes the log meanwhile.
 */
static __always_inline void attribute_moved(struct st_cpu_log *l, __u32 slot, __u64 now, __u64 len,
					    __u32 cur_kind, __u64 cur_id, __u64 cur_start)
{
	__u64 placed = 0, queued, last, lo;

	if (l && now >= len) {
		queued = now - len;
		last = l->e[l->head & (ST_LOG_LEN - 1)].end;
		if (cur_start > last)
			last = cur_start;
		lo = last > queued ? last : queued;
		if (lo > now) /* not expected: one runqueue's clock */
			lo = now;
		if (now > lo && cur_kind != ST_CULPRIT_OTHER) {
			attrib_add(slot, cur_kind, cur_id, now - lo);
			placed = now - lo;
		}
		if (lo > queued)
			placed += attribute_logged(l, slot, queued, lo, NULL);
	}
	if (len > placed)
		attrib_add(slot, ST_CULPRIT_OTHER, 0, len - placed);
}

/*
 * Run by the daemon (BPF_PROG_TEST_RUN, like seed_record; args: enum
 * st_fold_arg) to fold the entry of a culprit that has exited into an
 * aggregate of the same slot, so that process churn cannot fill stolen_by.
 * The destination is made first (a full map leaves the source alone: -28,
 * -ENOSPC), then the source's value is read, the source deleted and the
 * value added: nothing is counted twice, and a daemon killed meanwhile
 * cannot split the move. Only an add by another CPU to the source between
 * the read and the delete (nanoseconds, and only for a culprit that has
 * exited) can be lost; an add after the delete makes a new source entry.
 */
static __always_inline int fold_entry(const __u64 *args)
{
	struct st_attrib_key from = { .slot = args[ST_FOLD_SLOT], .kind = args[ST_FOLD_KIND],
				      .id = args[ST_FOLD_ID] };
	struct st_attrib_key to = { .slot = args[ST_FOLD_SLOT], .kind = args[ST_FOLD_TO_KIND],
				    .id = args[ST_FOLD_TO_ID] };
	__u64 zero = 0, ns, *src, *dst;

	if (!bpf_map_lookup_elem(&stolen_by, &from))
		return -2; /* -ENOENT */
	dst = bpf_map_lookup_elem(&stolen_by, &to);
	if (!dst) {
		bpf_map_update_elem(&stolen_by, &to, &zero, BPF_NOEXIST);
		dst = bpf_map_lookup_elem(&stolen_by, &to);
		if (!dst)
			return -28; /* -ENOSPC */
	}
	src = bpf_map_lookup_elem(&stolen_by, &from);
	if (!src)
		return -2;
	ns = *(volatile __u64 *)src;
	if (bpf_map_delete_elem(&stolen_by, &from))
		return -2;
	__sync_fetch_and_add(dst, ns);
	return 0;
}

#endif
