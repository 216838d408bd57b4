// SPDX-License-Identifier: GPL-2.0
/*
 * stealtime: per-vCPU stolen time, measured and committed into the guest.
 *
 * Design
 * ------
 * A vCPU is a slot in "vcpus", an mmapable array the daemon reads and
 * writes directly. A thread that runs a vCPU carries a task-storage binding
 * (struct st_task) naming its slot; everything else on the host has no
 * binding, so a context switch that involves no vCPU costs two task-storage
 * lookups that find nothing.
 *
 *  discover (iter/task_file)   every "kvm-vcpu:N" file: VM, vcpu_id, the
 *                              thread that runs it (vcpu->pid). The daemon
 *                              allocates slots and queues thread bindings.
 *  bind_threads (iter/task)    creates and removes the bindings the daemon
 *                              queued in bind_reqs (task storage).
 *  on_kvm_exit                 a KVM_RUN return by a thread with no binding
 *                              asks the daemon to rescan, once per thread.
 *  on_switch (sched_switch)    switch-out: run time, preemptions.
 *                              switch-in: steal = the kernel's own
 *                              sched_info.run_delay plus the wait that is
 *                              ending right now (rq->clock - last_queued:
 *                              the tracepoint fires before
 *                              sched_info_arrive() adds it), then the
 *                              guest record commit.
 *  on_wakeup                   wakeups of vCPU threads.
 *  on_exit                     tells the daemon a bound thread is gone.
 *
 * Counters never decrease: a binding carries offsets so that when KVM runs
 * a vCPU on a new thread, the vCPU's counters continue from where the old
 * thread left them (the first thread of a vCPU has offset 0, so steal_ns is
 * exactly that thread's run_delay).
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

#define TASK_RUNNING 0

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ST_MAX_VCPUS);
	__type(key, __u32);
	__type(value, struct st_vcpu);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct st_task);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpu_task SEC(".maps");

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
 * once by the daemon); settings[ST_SETTING_GENERATION]: the generation of
 * programs that may act. Links are pinned, so programs keep working while
 * the daemon is down; a new daemon attaches its own programs, then flips
 * the generation: old ones stop at once, nothing is counted twice.
 */
const volatile __u64 generation = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_NR_SETTINGS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings SEC(".maps");

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

static __always_inline void emit(__u32 type, struct task_struct *t, __u32 slot)
{
	struct st_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat_inc(ST_STAT_RINGBUF_DROPS);
		return;
	}
	e->type = type;
	e->pid = t->tgid;
	e->tid = t->pid;
	e->slot = slot;
	bpf_ringbuf_submit(e, 0);
}

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
	return v;
}

/*
 * First event after the daemon bound this thread: choose offsets so the
 * vCPU's counters continue (or, for its first thread, equal the thread's).
 */
static __always_inline void bind_thread(struct st_task *b, struct st_vcpu *v,
					struct task_struct *t, __u64 run_delay,
					__u64 exec_runtime)
{
	if (v->threads == 0) {
		b->steal_off = 0;
		b->run_off = 0;
	} else {
		b->steal_off = v->steal_ns - run_delay;
		b->run_off = v->run_ns - exec_runtime;
	}
	v->threads++;
	v->tid = t->pid;
	if (v->commit_flags & ST_COMMIT_BASE_PENDING) {
		v->commit_base = run_delay + b->steal_off;
		__sync_fetch_and_and(&v->commit_flags, ~ST_COMMIT_BASE_PENDING);
	}
	b->flags &= ~ST_TASK_NEEDS_BASE;
}

static __always_inline void commit(struct st_vcpu *v)
{
	__u32 flags = v->commit_flags;
	struct st_record *rec;
	__u32 region, record;
	void *inner;
	__u64 val;

	if (!(flags & ST_COMMIT_ON) || (flags & ST_COMMIT_BASE_PENDING))
		return;
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

static __always_inline void switch_out(struct st_task *b, struct task_struct *t, bool preempt,
				       unsigned int prev_state)
{
	struct st_vcpu *v = bound_vcpu(b);
	__u64 exec = t->se.sum_exec_runtime, run;

	if (!v)
		return;
	if (b->flags & ST_TASK_NEEDS_BASE)
		bind_thread(b, v, t, t->sched_info.run_delay, exec);
	run = exec + b->run_off;
	if (run > v->run_ns)
		v->run_ns = run;
	/* still runnable: it was preempted, not blocked */
	if (preempt || prev_state == TASK_RUNNING)
		v->preemptions++;
}

static __always_inline void switch_in(struct st_task *b, struct task_struct *t, __u64 now)
{
	struct st_vcpu *v = bound_vcpu(b);
	__u64 queued, run_delay, wait = 0, steal, slot;

	if (!v)
		return;
	run_delay = t->sched_info.run_delay;
	if (b->flags & ST_TASK_NEEDS_BASE)
		bind_thread(b, v, t, run_delay, t->se.sum_exec_runtime);
	queued = t->sched_info.last_queued;
	if (queued) {
		if (now > queued)
			wait = now - queued;
		v->waits++;
		/*
		 * The clamp is done in 32-bit registers, whose bounds 6.1's
		 * verifier does not carry to 64 bits: mask the index in 64 bits,
		 * behind a barrier so that clang keeps the (redundant) mask.
		 */
		slot = log2l_clamped(wait, ST_HIST_SLOTS - 1);
		barrier_var(slot);
		v->hist[slot & (ST_HIST_SLOTS - 1)]++;
		if (wait > v->max_wait_ns)
			v->max_wait_ns = wait;
		attribute_wait(b->slot, queued, now);
	}
	steal = run_delay + wait + b->steal_off;
	if (steal > v->steal_ns)
		v->steal_ns = steal;
	v->tid = t->pid;
	commit(v);
}

/*
 * The thread's binding, or NULL. Hot path: a task with no task-local
 * storage at all (almost every task on a host) costs one load, not a
 * helper call.
 */
static __always_inline struct st_task *binding_of(struct task_struct *t)
{
	if (!t->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&vcpu_task, t, 0, 0);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	bool prev_is_vcpu = false;
	struct st_task *b;
	__u64 now;

	if (!active())
		return 0;
	/* the rq clock, which sched_info_arrive() is about to use too */
	now = next->se.cfs_rq->rq->clock;
	b = binding_of(prev);
	if (b) {
		prev_is_vcpu = b->slot != ST_SLOT_NONE;
		switch_out(b, prev, preempt, prev_state);
	}
	log_switch(prev, prev_is_vcpu, now);
	b = binding_of(next);
	if (b)
		switch_in(b, next, now);
	return 0;
}

static __always_inline int handle_wakeup(struct task_struct *t)
{
	struct st_task *b;
	struct st_vcpu *v;

	b = binding_of(t);
	if (!b || !active())
		return 0;
	v = bound_vcpu(b);
	if (v)
		v->wakeups++;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *t)
{
	return handle_wakeup(t);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *t)
{
	return handle_wakeup(t);
}

SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(on_kvm_exit, __u32 reason, int err)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct st_task init = { .slot = ST_SLOT_NONE, .flags = ST_TASK_RESCAN_ASKED };

	if (binding_of(t) || !active())
		return 0;
	if (!bpf_task_storage_get(&vcpu_task, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE)) {
		stat_inc(ST_STAT_STORAGE_FULL);
		return 0;
	}
	stat_inc(ST_STAT_RESCAN_ASKS);
	emit(ST_EVENT_UNKNOWN_VCPU, t, ST_SLOT_NONE);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *t)
{
	struct st_task *b = binding_of(t);

	if (b && b->slot != ST_SLOT_NONE && active())
		emit(ST_EVENT_VCPU_EXIT, t, b->slot);
	return 0;
}

static __always_inline __u64 mix64(__u64 x)
{
	/* splitmix64 finalizer */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

enum kvm_file { NOT_KVM, KVM_VM_FILE, KVM_VCPU_FILE };

/* KVM's anonymous inodes are named "kvm-vm" and "kvm-vcpu:N" */
static __always_inline enum kvm_file kvm_file_kind(struct file *file)
{
	const unsigned char *dname = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	char name[10];

	if (bpf_probe_read_kernel(name, sizeof(name), dname))
		return NOT_KVM;
	if (name[0] != 'k' || name[1] != 'v' || name[2] != 'm' || name[3] != '-')
		return NOT_KVM;
	if (name[4] == 'v' && name[5] == 'm' && name[6] == '\0')
		return KVM_VM_FILE;
	if (name[4] == 'v' && name[5] == 'c' && name[6] == 'p' && name[7] == 'u' && name[8] == ':')
		return KVM_VCPU_FILE;
	return NOT_KVM;
}

static __always_inline __u64 vm_cookie(struct kvm *kvm)
{
	__u32 zero = ST_SETTING_COOKIE_KEY;
	__u64 *key = bpf_map_lookup_elem(&settings, &zero);

	return mix64((__u64)kvm ^ (key ? *key : 0));
}

SEC("iter/task_file")
int discover(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct st_disc rec = {};
	struct kvm_vcpu *vcpu;
	enum kvm_file kind;
	struct pid *pid;

	if (!task || !file)
		return 0;
	kind = kvm_file_kind(file);
	if (kind == NOT_KVM)
		return 0;
	rec.pid = task->tgid;
	rec.fd = ctx->fd;
	if (kind == KVM_VM_FILE) {
		/* a VM, perhaps with no vCPU yet */
		rec.vm_cookie = vm_cookie((struct kvm *)BPF_CORE_READ(file, private_data));
		rec.vcpu_id = ST_DISC_VM;
		bpf_seq_write(seq, &rec, sizeof(rec));
		return 0;
	}
	vcpu = (struct kvm_vcpu *)BPF_CORE_READ(file, private_data);
	if (!vcpu)
		return 0;
	rec.vm_cookie = vm_cookie(BPF_CORE_READ(vcpu, kvm));
	rec.vcpu_id = BPF_CORE_READ(vcpu, vcpu_id);
	pid = BPF_CORE_READ(vcpu, pid);
	rec.tid = pid ? BPF_CORE_READ(pid, numbers[0].nr) : 0;
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * ST_MAX_VCPUS); /* a bind and an unbind per vCPU */
	__type(key, __u32);                /* tid */
	__type(value, struct st_bind_req);
} bind_reqs SEC(".maps");

/*
 * Run by the daemon (read to the end) after it queued bind_reqs: binds and
 * unbinds the threads named there. A new binding is created whole, with its
 * slot and ST_TASK_NEEDS_BASE, so a switch on another CPU sees either the
 * old binding or the new one.
 */
SEC("iter/task")
int bind_threads(struct bpf_iter__task *ctx)
{
	struct st_task init = { .flags = ST_TASK_NEEDS_BASE };
	struct task_struct *t = ctx->task;
	struct st_bind_req *r;
	struct st_task *b;
	__u32 tid;

	if (!t)
		return 0;
	tid = t->pid;
	r = bpf_map_lookup_elem(&bind_reqs, &tid);
	if (!r)
		return 0;
	b = bpf_task_storage_get(&vcpu_task, t, 0, 0);
	if (r->op == ST_BIND_OP_UNBIND) {
		if (b && b->slot == r->slot)
			bpf_task_storage_delete(&vcpu_task, t);
		r->result = ST_BIND_DONE;
		return 0;
	}
	if (b && b->slot == r->slot) { /* a restarted daemon's: keep its offsets */
		r->result = ST_BIND_DONE;
		return 0;
	}
	if (b)
		bpf_task_storage_delete(&vcpu_task, t);
	init.slot = r->slot;
	b = bpf_task_storage_get(&vcpu_task, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
	r->result = b ? ST_BIND_DONE : ST_BIND_NO_STORAGE;
	return 0;
}

/*
 * Run by the daemon (BPF_PROG_RUN) to give a record its starting value when
 * a VMM seeds it (migration, restore): user space cannot write a frozen
 * region, programs can.
 */
SEC("syscall")
int seed_record(struct st_seed *a)
{
	struct st_record *rec;
	__u32 region = a->region, record = a->record;
	void *inner;

	inner = bpf_map_lookup_elem(&regions, &region);
	if (!inner)
		return -2; /* -ENOENT */
	rec = bpf_map_lookup_elem(inner, &record);
	if (!rec)
		return -2;
	*(volatile __u64 *)&rec->stolen_ns = a->value;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
