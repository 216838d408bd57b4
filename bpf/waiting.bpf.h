/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How many vCPU threads wait on each CPU (queued, not running). The switch
 * log (attribution.bpf.h) is only read for a wait of a vCPU thread, and
 * only the entries written during that wait: a CPU where no vCPU waits
 * need not write it, so a switch that involves no vCPU there costs the
 * two tasks' storage pointers and this CPU's counter, one cache line, and
 * not even that where its runqueue holds no other task ready to run
 * than next and a preempted prev (handle_switch).
 *
 * A bound thread's wait is counted once, on the CPU it waits on
 * (st_task.wait_cpu says which): from its wakeup (sched_wakeup fires
 * under that CPU's runqueue lock, after the enqueue that starts the wait)
 * or its switch-out while still runnable, moved by migrations
 * (sched_migrate_task, before the enqueue on the new CPU), and ended at
 * its switch-in. So every switch on a CPU during a counted wait there, in
 * which the waiting thread can run, is logged; one in which it cannot
 * (its cgroup throttled, or not yet enqueued after a move) may not be,
 * and leaves a gap that goes to "other". The log's entries older than the
 * wait may be stale (written before a stretch with no vCPU waiting),
 * which the walk never reads past (it stops at the entry that ends at or
 * before the wait's start; each entry says when its task came). A wait
 * that was not counted (under way when the thread was bound) is placed in
 * "other" whole. Counting a thread that does not wait (one
 * preempted while going to sleep) only makes its CPU log for nothing.
 *
 * Pinned, like the bindings that say where each wait is counted, so that
 * a restarted daemon's programs go on with the same numbers.
 */
#ifndef STEALTIME_WAITING_BPF_H
#define STEALTIME_WAITING_BPF_H

struct st_cpu_waiting {
	__u64 n;
	__u64 pad[7]; /* a cache line each: CPUs do not share one */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct st_cpu_waiting);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cpu_waiting SEC(".maps");

static __always_inline __u64 *waiting_on(__u32 cpu)
{
	struct st_cpu_waiting *w = bpf_map_lookup_elem(&cpu_waiting, &cpu);

	return w ? &w->n : NULL;
}

/* The bound thread of binding b starts waiting on cpu (counted once) */
static __always_inline void wait_begin(struct st_task *b, __u32 cpu)
{
	__u64 *n;

	if (b->slot == ST_SLOT_NONE || b->wait_cpu)
		return;
	n = waiting_on(cpu);
	if (!n)
		return;
	__sync_fetch_and_add(n, 1);
	b->wait_cpu = cpu + 1;
}

/* Its wait ends (switch-in, migration): 1 + the CPU it was counted on, or 0 */
static __always_inline __u32 wait_end(struct st_task *b)
{
	__u32 counted = b->wait_cpu;
	__u64 *n;

	if (!counted)
		return 0;
	b->wait_cpu = 0;
	n = waiting_on(counted - 1);
	if (n)
		__sync_fetch_and_add(n, (__u64)-1);
	return counted;
}

#endif
