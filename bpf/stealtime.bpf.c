// SPDX-License-Identifier: GPL-2.0
/*
 * stealtime: per-vCPU stolen time, measured and committed into the guest.
 *
 * Design
 * ------
 * A vCPU is a slot in "vcpus", an mmapable array the daemon reads and
 * writes directly. A thread that runs a vCPU carries a binding (struct
 * st_task) naming its slot, in task storage (or, on 5.10, a tid-keyed hash:
 * bindings.bpf.h); everything else on the host has no binding, so a context
 * switch that involves no vCPU costs one load per task that finds nothing,
 * and a read of the CPU's count of waiting vCPUs (waiting.bpf.h): the
 * switch log is written only where one waits.
 *
 *  discover (iter/task_file)   every "kvm-vcpu:N" file: VM, vcpu_id, the
 *                              thread that runs it (discover.bpf.h). The
 *                              daemon allocates slots and queues thread
 *                              bindings.
 *  bind_threads (iter/task)    creates and removes the bindings the daemon
 *                              queued in bind_reqs.
 *  on_kvm_exit / on_vcpu_entry a thread that runs a vCPU with no binding
 *                              asks the daemon to rescan, once per thread.
 *  on_switch (sched_switch)    switch-out: run time, preemptions.
 *                              switch-in: steal = the kernel's own
 *                              sched_info.run_delay plus the wait that is
 *                              ending right now (rq->clock - last_queued:
 *                              the tracepoint fires before
 *                              sched_info_arrive() adds it), then the
 *                              guest record commit.
 *  on_migrate (sched_migrate_task)
 *                              a queued vCPU thread moved to another CPU:
 *                              the scheduler has just added its wait on
 *                              the CPU it leaves to run_delay
 *                              (sched_info_dequeue()), and its wait goes
 *                              on from zero on the new CPU. That part
 *                              is added to steal and stolen_by now, and
 *                              carried to the switch-in, whose histogram
 *                              counts the wait once, whole.
 *  on_wakeup                   a vCPU thread starts waiting (waiting.bpf.h);
 *                              its wakeups, with count_wakeups.
 *  on_exit                     tells the daemon a bound thread is gone.
 *  on_unthrottle_start, on_unthrottle (fentry, fexit of unthrottle_cfs_rq)
 *                              a cgroup's quota throttling ended on a CPU:
 *                              kept so that a vCPU's wait gives its
 *                              throttled span to "throttled", not to the
 *                              culprits (throttling.bpf.h).
 *
 * Programs that depend on the kernel come in twins (core_fixes.bpf.h says
 * why); the daemon loads one of each (daemon/kernel_features.c).
 *
 * Counters never decrease: a binding remembers how much of its thread's
 * run_delay and run time it has added to the vCPU, and each event adds
 * what grew since (atomically: two threads of one vCPU add up, never
 * merge). A vCPU's first thread counts from 0, so steal_ns is exactly
 * that thread's run_delay; a thread KVM later runs the vCPU on counts from
 * when it was first seen running it (bind_thread). Whatever steal grew by
 * is in stolen_by as well, so a vCPU's entries there add up to its steal:
 * growth that no wait seen explains (the thread's waits before it was
 * bound, an event missed) is "other".
 *
 * Commit: when the daemon has set a record for the vCPU (set_ipa), each
 * switch-in stores commit_init + (steal_ns - commit_base) into the vCPU's
 * DEN0057 record with one aligned 64-bit store. Records live in per-VM
 * 64 KiB mmapable arrays held by "regions"; the VMM maps its own one
 * read-only (the daemon freezes it before handing it out).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "stealtime.h"
#include "bits.bpf.h"
#include "core_fixes.bpf.h"

#define TASK_RUNNING 0

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, val) (*(volatile typeof(x) *)&(x) = (val))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ST_MAX_VCPUS);
	__type(key, __u32);
	__type(value, struct st_vcpu);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpus SEC(".maps");

/* keeps the full record type in BTF (the region maps' value type) */
const volatile struct st_record record_layout = {};

struct region_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ST_RECORDS_PER_REGION);
	__type(key, __u32);
	__type(value, struct st_record);
} region_template SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ST_MAX_REGIONS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct region_map);
} regions SEC(".maps");

/*
 * settings[ST_SETTING_COOKIE_KEY]: key that makes VM cookies opaque (set
 * once by the daemon; cookies stay inside it, VM ids being a keyed hash of
 * cookie and pid: id_key); settings[ST_SETTING_GENERATION]: the generation of
 * programs that may act. Links are pinned, so programs keep working while
 * the daemon is down; a new daemon attaches its own programs, then flips
 * the generation: old ones stop at once, nothing is counted twice.
 */
const volatile __u64 generation = 0;
/* count_wakeups: sched_wakeup also counts wakeups of vCPU threads */
const volatile bool count_wakeups = false;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_NR_SETTINGS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings SEC(".maps");

/* pinned state for the daemon only: ST_LAYOUT, written once the state has it */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} layout SEC(".maps");

/* pinned state for the daemon only: the secret key of VM ids (struct st_id_key) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_id_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} id_key SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_ST_STATS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline bool active(void)
{
	__u32 key = ST_SETTING_GENERATION;
	__u64 *gen = bpf_map_lookup_elem(&settings, &key);

	return gen && *gen == generation;
}

static __always_inline void stat_inc(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &which);

	if (c)
		(*c)++;
}

#include "attribution.bpf.h"
#include "throttling.bpf.h"
#include "waiting.bpf.h"
#include "bindings.bpf.h"
#include "discover.bpf.h"
#include "layout_migration.bpf.h"

static __always_inline struct st_vcpu *bound_vcpu(struct st_task *b)
{
	__u32 slot = b->slot;
	struct st_vcpu *v;

	if (slot == ST_SLOT_NONE)
		return NULL;
	v = bpf_map_lookup_elem(&vcpus, &slot);
	if (!v || v->state != ST_VCPU_USED) {
		stat_inc(ST_STAT_BAD_SLOT);
		return NULL;
	}
	/* the slot was freed and given to another vCPU: not this thread's */
	if (v->gen != b->gen) {
		stat_inc(ST_STAT_STALE_BINDING);
		return NULL;
	}
	return v;
}

/*
 * The record's base is the vCPU's steal when the record was set. The daemon
 * asks for it (base_pending, a word of its own: plain stores on both sides,
 * no read-modify-write to race with) when no thread has been bound yet; it
 * is taken at the vCPU's next event, whichever comes first.
 */
static __always_inline void take_commit_base(struct st_vcpu *v, __u64 steal)
{
	v->commit_base = steal;
	WRITE_ONCE(v->base_pending, 0);
}

/*
 * First event after the daemon bound this thread: where its counters start
 * to count for the vCPU. A vCPU's first thread counts from 0, so the
 * vCPU's steal is exactly that thread's run_delay. A later thread counts
 * from its first exit to user space (the rescan marker on_kvm_exit left),
 * so the waits between KVM's switch to it and the rescan that bound it
 * count too; with no marker (no kvm BTF: on_vcpu_entry leaves none), from
 * now.
 */
static __always_inline void bind_thread(struct st_task *b, struct st_vcpu *v,
					struct task_struct *t, __u64 run_delay,
					__u64 exec_runtime)
{
	if (v->threads == 0) {
		b->steal_seen = 0;
		b->run_seen = 0;
	} else if (!(b->flags & ST_TASK_SEEN_SET) || b->steal_seen > run_delay ||
		   b->run_seen > exec_runtime) {
		b->steal_seen = run_delay;
		b->run_seen = exec_runtime;
	}
	v->threads++;
	v->tid = t->pid;
	/* the steal the vCPU has as of now, this thread's past included */
	if (READ_ONCE(v->base_pending))
		take_commit_base(v, v->steal_ns + (run_delay - b->steal_seen));
	b->flags &= ~(ST_TASK_NEEDS_BASE | ST_TASK_SEEN_SET);
}

/*
 * Adds what the thread's counter grew since its last event. Threads of one
 * vCPU on other CPUs may add at the same time: an atomic add, whose result
 * is not used (BPF_XADD, on every kernel).
 */
static __always_inline void add_growth(__u64 *counter, __u64 *seen, __u64 now)
{
	if (now <= *seen)
		return;
	__sync_fetch_and_add(counter, now - *seen);
	*seen = now;
}

/*
 * The daemon fills a vCPU's record fields (region, record, commit_init,
 * commit_base, base_pending), then sets ST_COMMIT_ON with a release store.
 * Read through the address this returns, they are ordered after the load
 * of flags on every architecture: the address depends on that load (arm64
 * keeps address dependencies; BPF's own load-acquire arrived only in
 * 6.15). It is v plus flags times a zero the compiler cannot see through
 * and the verifier knows to be 0.
 */
static __always_inline struct st_vcpu *after_flags(struct st_vcpu *v, __u32 flags)
{
	__u64 zero = 0;

	barrier_var(zero);
	return (void *)v + (flags & zero);
}

static __always_inline void commit(struct st_vcpu *v)
{
	__u32 flags = READ_ONCE(v->commit_flags);
	struct st_record *rec;
	__u32 region, record;
	void *inner;
	__u64 val;

	if (!(flags & ST_COMMIT_ON))
		return;
	v = after_flags(v, flags);
	if (READ_ONCE(v->base_pending)) /* set while this thread was being bound */
		take_commit_base(v, v->steal_ns);
	region = v->region;
	record = v->record;
	inner = bpf_map_lookup_elem(&regions, &region);
	if (!inner) {
		stat_inc(ST_STAT_REGION_MISSING);
		return;
	}
	rec = bpf_map_lookup_elem(inner, &record);
	if (!rec)
		return;
	val = v->commit_init + (v->steal_ns - v->commit_base);
	if (val < v->committed_ns) /* never backwards, whatever the config did */
		val = v->committed_ns;
	*(volatile __u64 *)&rec->stolen_ns = val; /* one aligned store */
	v->committed_ns = val;
	v->commits++;
}

/*
 * How prev left the CPU: from sched_switch's prev_state where the kernel
 * passes it (5.18), else read from prev as older kernels' tracepoint did.
 */
enum prev_state_src { STATE_FROM_ARG, STATE_FROM_TASK };

static __always_inline void switch_out(struct st_task *b, struct task_struct *t, bool preempt,
				       unsigned int prev_state, enum prev_state_src src, __u32 cpu)
{
	struct st_vcpu *v;
	__u64 exec;

	/*
	 * Still runnable (the state as sched_info_depart() reads it, after
	 * __schedule() set a task with a signal pending running again): it
	 * waits on this CPU from now.
	 */
	if (preempt || task_state(t) == TASK_RUNNING)
		wait_begin(b, cpu);
	v = bound_vcpu(b);
	if (!v)
		return;
	exec = t->se.sum_exec_runtime;
	if (b->flags & ST_TASK_NEEDS_BASE)
		bind_thread(b, v, t, t->sched_info.run_delay, exec);
	add_growth(&v->run_ns, &b->run_seen, exec);
	if (src == STATE_FROM_TASK && !preempt)
		prev_state = task_state(t);
	/* still runnable: it was preempted, not blocked */
	if (preempt || prev_state == TASK_RUNNING)
		v->preemptions++;
}

static __always_inline void switch_in(struct st_task *b, struct task_struct *t, __u64 now,
				      __u32 cpu)
{
	/* the log covers the wait only if it was counted on this CPU */
	bool logged = wait_end(b) == cpu + 1;
	struct st_vcpu *v = bound_vcpu(b);
	__u64 queued, run_delay, wait = 0, whole, slot, throttled;
	struct st_spans *x;

	if (!v)
		return;
	run_delay = t->sched_info.run_delay;
	if (b->flags & ST_TASK_NEEDS_BASE)
		bind_thread(b, v, t, run_delay, t->se.sum_exec_runtime);
	/* steal that no wait seen explains: in stolen_by all the same */
	if (run_delay > b->steal_seen)
		attrib_add(b->slot, ST_CULPRIT_OTHER, 0, run_delay - b->steal_seen);
	queued = t->sched_info.last_queued;
	if (queued || b->wait_carry_ns) {
		if (queued && now > queued)
			wait = now - queued;
		/* with its parts on the CPUs migrations moved it off */
		whole = wait + b->wait_carry_ns;
		b->wait_carry_ns = 0;
		v->waits++;
		/*
		 * The clamp is done in 32-bit registers, whose bounds 6.1's
		 * verifier does not carry to 64 bits: mask the index in 64 bits,
		 * behind a barrier so that clang keeps the (redundant) mask.
		 */
		slot = log2l_clamped(whole, ST_HIST_SLOTS - 1);
		barrier_var(slot);
		v->hist[slot & (ST_HIST_SLOTS - 1)]++;
		if (whole > v->max_wait_ns)
			v->max_wait_ns = whole;
		v->wait_sum_ns += whole;
		/* this CPU's part: by its log, or whole to other where not logged here */
		if (queued && logged && (x = spans_here())) {
			throttled = throttled_spans(t, cpu, queued, now, x);
			attribute_wait(b->slot, queued, now, x, throttled);
		} else if (queued && now > queued)
			attrib_add(b->slot, ST_CULPRIT_OTHER, 0, now - queued);
	}
	/* run_delay gets this wait in sched_info_arrive(), after the tracepoint */
	add_growth(&v->steal_ns, &b->steal_seen, run_delay + wait);
	v->tid = t->pid;
	commit(v);
}

/*
 * A take-over (daemon/bpf_engine.c) flips the generation while events are
 * under way. Programs attached to one tracepoint run one after the other
 * on the CPU where it fires, each checking active() when it starts: for an
 * event that straddles the flip, the old program may have passed the check
 * before it and the new one after it, both with the same binding. Each
 * marks the binding with the event it handled (the rq clock the scheduler
 * holds fixed through the event, and its kind), and the second one to run
 * finds the mark and leaves the event alone. Steal and run time would come
 * out right anyway (each adds the growth since the binding's *_seen, which
 * the first moved), the wait's histogram, waits, preemptions and wakeups
 * would not. Two events of one kind on one thread have one of another kind
 * between them, so a mark equals the next event's only if their clocks
 * differ by a multiple of 2^30 ns exactly (that event's non-growth
 * counters would be skipped). With a binding map migrated to a new layout
 * the old programs have bindings of their own, and the new programs' are
 * copied only once none of the old programs still runs (layout_migration.c).
 */
enum event_kind { EVENT_SWITCH_OUT, EVENT_SWITCH_IN, EVENT_WAKEUP };

static __always_inline bool first_to_handle(struct st_task *b, __u64 clock, enum event_kind kind)
{
	__u32 mark = (__u32)(clock << 2) | kind;

	if (READ_ONCE(b->last_event) == mark)
		return false;
	WRITE_ONCE(b->last_event, mark);
	return true;
}

static __always_inline int handle_switch(bool preempt, struct task_struct *prev,
					 struct task_struct *next, unsigned int prev_state,
					 enum prev_state_src src, enum binding_home home)
{
	struct st_task *bp = binding_of(prev, home), *bn = binding_of(next, home);
	__u32 cpu = bpf_get_smp_processor_id();
	bool vcpu_prev = bp, vcpu_next = bn, log = false;
	__u64 *waiting, now;

	/* bools of their own: clang would OR the two pointers, which the verifier refuses */
	barrier_var(vcpu_prev);
	barrier_var(vcpu_next);
	/*
	 * A vCPU thread that waits here is queued beside next: where nothing
	 * is but next and a preempted prev, the CPU's waiting count (a cache
	 * line the scheduler does not touch) is not read. The rare counted wait
	 * that is not runnable (throttled, being moved here) leaves a gap in
	 * the log, which the walk gives to "other" (attribution.bpf.h); a
	 * throttled span the daemon sees end is placed whole, logged or not,
	 * under "throttled" (throttling.bpf.h).
	 */
	if (vcpu_prev || vcpu_next || others_runnable(prev, next) > 0) {
		waiting = waiting_on(cpu);
		log = waiting && *waiting;
	}
	/* neither task runs a vCPU and none waits here: nothing to do */
	if (!vcpu_prev && !vcpu_next && !log)
		return 0;
	if (!active())
		return 0;
	/* the rq clock, which sched_info_arrive() is about to use too */
	now = next->se.cfs_rq->rq->clock;
	if (bp && first_to_handle(bp, now, EVENT_SWITCH_OUT))
		switch_out(bp, prev, preempt, prev_state, src, cpu);
	if (log)
		log_switch(prev, bp && bp->slot != ST_SLOT_NONE, now);
	if (bn && first_to_handle(bn, now, EVENT_SWITCH_IN))
		switch_in(bn, next, now, cpu);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return handle_switch(preempt, prev, next, prev_state, STATE_FROM_ARG, IN_TASK_STORAGE);
}

/* 5.11 to 5.17: task storage, no prev_state */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch_nostate, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(preempt, prev, next, 0, STATE_FROM_TASK, IN_TASK_STORAGE);
}

/* 5.10 */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch_tid, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(preempt, prev, next, 0, STATE_FROM_TASK, IN_TID_HASH);
}

/*
 * A queued vCPU thread that the scheduler moves to another CPU (load
 * balancing, an affinity change): it has just been dequeued from the CPU
 * it leaves, where sched_info_dequeue() added its wait so far to run_delay
 * and zeroed last_queued; the enqueue on the new CPU starts last_queued
 * again, so the switch-in there sees only the last part. The tracepoint
 * fires in set_task_cpu(), after the dequeue on every kernel since 5.10
 * (move_queued_task, detach_task, __migrate_swap_task), while the thread
 * still points at the old CPU's runqueue (__set_task_cpu() follows).
 * What run_delay grew by since the thread's last event is that part:
 * added to steal, placed in stolen_by from the old CPU's log (whose
 * runqueue lock the scheduler holds), and carried to the switch-in.
 * A waking thread (not queued) moves with no wait under way.
 */
#define TASK_ON_RQ_MIGRATING 2

/*
 * The task running on the CPU a thread leaves (rq->curr), as a culprit.
 * Its binding says whether it runs a vCPU, but newer verifiers (6.18's,
 * for one) give task storage helpers only trusted task pointers, and
 * rq->curr, walked to from the runqueue, is not one: unless it is the task
 * this runs in, a task with task storage (a binding, maybe) is "other",
 * not a culprit that may be the wrong one.
 */
static __always_inline __u32 running_culprit(struct task_struct *cur, enum binding_home home)
{
	struct task_struct *me;
	struct st_task *b;

	if (home == IN_TID_HASH) {
		b = binding_of(cur, home);
		return culprit_kind(cur, b && b->slot != ST_SLOT_NONE);
	}
	me = bpf_get_current_task_btf();
	/* by pid: for equal pointers, clang may well pass the untrusted one */
	if (cur->pid == me->pid) {
		b = binding_of(me, home);
		return culprit_kind(me, b && b->slot != ST_SLOT_NONE);
	}
	return cur->bpf_storage ? ST_CULPRIT_OTHER : culprit_kind(cur, false);
}

static __always_inline int handle_migrate(struct task_struct *t, __u32 dest_cpu,
					  enum binding_home home, enum cpu_reach reach)
{
	struct task_struct *cur;
	__u64 run_delay, part, now;
	struct st_cpu_log *l;
	struct st_task *b;
	struct st_vcpu *v;
	__u32 zero = 0;
	struct rq *rq;
	bool logged;

	b = binding_of(t, home);
	if (!b || !active())
		return 0;
	if (t->on_rq != TASK_ON_RQ_MIGRATING)
		return 0;
	rq = t->se.cfs_rq->rq;
	/* its wait goes on on dest_cpu, counted there from now */
	logged = wait_end(b) == rq->cpu + 1;
	wait_begin(b, dest_cpu);
	/* a binding's first event is a switch (bind_thread takes its offsets) */
	if (b->flags & ST_TASK_NEEDS_BASE)
		return 0;
	v = bound_vcpu(b);
	if (!v)
		return 0;
	run_delay = t->sched_info.run_delay;
	if (run_delay <= b->steal_seen)
		return 0;
	part = run_delay - b->steal_seen;
	now = rq->clock; /* the clock sched_info_dequeue() just used */
	add_growth(&v->steal_ns, &b->steal_seen, run_delay);
	b->wait_carry_ns += part;
	cur = rq->curr;
	l = logged ? percpu_value(&cpu_log, &zero, rq->cpu, reach) : NULL;
	attribute_moved(l, b->slot, now, part, running_culprit(cur, home), cur->tgid,
			arrived_at(cur));
	return 0;
}

/* 5.19 on: the old CPU's log from any CPU */
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(on_migrate, struct task_struct *t, int dest_cpu)
{
	return handle_migrate(t, dest_cpu, IN_TASK_STORAGE, ANY_CPU);
}

/* 5.11 to 5.18: the old CPU's log where this runs on it, else "other" */
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(on_migrate_local, struct task_struct *t, int dest_cpu)
{
	return handle_migrate(t, dest_cpu, IN_TASK_STORAGE, THIS_CPU_ONLY);
}

/* 5.10 */
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(on_migrate_tid, struct task_struct *t, int dest_cpu)
{
	return handle_migrate(t, dest_cpu, IN_TID_HASH, THIS_CPU_ONLY);
}

static __always_inline int handle_wakeup(struct task_struct *t, enum binding_home home)
{
	struct st_task *b;
	struct st_vcpu *v;

	b = binding_of(t, home);
	if (!b || !active())
		return 0;
	/* enqueued on its CPU (the runqueue lock held); not a running task's wakeup */
	if (!t->on_cpu)
		wait_begin(b, t->se.cfs_rq->rq->cpu);
	if (!count_wakeups)
		return 0;
	v = bound_vcpu(b);
	/* the clock of the runqueue the scheduler locked to wake t */
	if (v && first_to_handle(b, t->se.cfs_rq->rq->clock, EVENT_WAKEUP))
		v->wakeups++;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *t)
{
	return handle_wakeup(t, IN_TASK_STORAGE);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *t)
{
	return handle_wakeup(t, IN_TASK_STORAGE);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup_tid, struct task_struct *t)
{
	return handle_wakeup(t, IN_TID_HASH);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new_tid, struct task_struct *t)
{
	return handle_wakeup(t, IN_TID_HASH);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *t)
{
	struct st_task *b = binding_of(t, IN_TASK_STORAGE);

	if (b && b->slot != ST_SLOT_NONE && active())
		emit(ST_EVENT_VCPU_EXIT, t->tgid, t->pid, b->slot);
	return 0;
}

/* a tid-keyed binding must not outlive its thread: the tid will be reused */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit_tid, struct task_struct *t)
{
	struct st_task *b = binding_of(t, IN_TID_HASH);

	if (!b)
		return 0;
	if (b->slot != ST_SLOT_NONE && active())
		emit(ST_EVENT_VCPU_EXIT, t->tgid, t->pid, b->slot);
	binding_delete(t, IN_TID_HASH);
	return 0;
}

/* when a cgroup's CPU quota throttling that is ending on one CPU began */
SEC("fentry/unthrottle_cfs_rq")
int BPF_PROG(on_unthrottle_start, struct cfs_rq *cfs_rq)
{
	if (active())
		note_unthrottle_begins(cfs_rq);
	return 0;
}

/* the end of a cgroup's CPU quota throttling on one CPU (throttling.bpf.h) */
SEC("fexit/unthrottle_cfs_rq")
int BPF_PROG(on_unthrottle, struct cfs_rq *cfs_rq)
{
	if (active())
		note_unthrottle(cfs_rq);
	return 0;
}

/*
 * Run by the daemon (BPF_PROG_TEST_RUN, args: region, record, value) to
 * give a record its starting value when a VMM seeds it (migration,
 * restore): user space cannot write a frozen region, programs can. A raw
 * tracepoint program, never attached: test runs of those exist from 5.10
 * on ("bpf: Enable BPF_PROG_TEST_RUN for raw_tracepoint").
 */
SEC("raw_tp")
int seed_record(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 region = ctx->args[ST_SEED_REGION], record = ctx->args[ST_SEED_RECORD];
	struct st_record *rec;
	void *inner;

	inner = bpf_map_lookup_elem(&regions, &region);
	if (!inner)
		return -2; /* -ENOENT */
	rec = bpf_map_lookup_elem(inner, &record);
	if (!rec)
		return -2;
	*(volatile __u64 *)&rec->stolen_ns = ctx->args[ST_SEED_VALUE];
	return 0;
}

/* Run by the daemon: folds an exited culprit's entry (fold_entry, attribution.bpf.h) */
SEC("raw_tp")
int fold_culprit(struct bpf_raw_tracepoint_args *ctx)
{
	return fold_entry(ctx->args);
}

char LICENSE[] SEC("license") = "GPL";
