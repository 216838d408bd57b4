/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where a thread's binding (struct st_task) lives. From 5.11 on, in task
 * storage ("bpf: Implement task local storage"): it goes with the thread,
 * and a task that has none costs one load. On 5.10, in a hash keyed by tid,
 * which on_exit_tid empties when a thread exits. The daemon creates only
 * the map its kernel gets; every program that touches a binding comes in a
 * twin for each home, chosen at load time.
 */
#ifndef STEALTIME_BINDINGS_BPF_H
#define STEALTIME_BINDINGS_BPF_H

enum binding_home { IN_TASK_STORAGE, IN_TID_HASH };

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct st_task);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpu_task SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * ST_MAX_VCPUS); /* bound threads and rescan markers */
	__type(key, __u32);                    /* tid */
	__type(value, struct st_task);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpu_tid SEC(".maps");

/*
 * The thread's binding, or NULL. Hot path: with task storage, a task that
 * has none at all (almost every task on a host) costs one load, not a
 * helper call.
 */
static __always_inline struct st_task *binding_of(struct task_struct *t, enum binding_home home)
{
	__u32 tid;

	if (home == IN_TID_HASH) {
		tid = t->pid;
		return bpf_map_lookup_elem(&vcpu_tid, &tid);
	}
	if (!t->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&vcpu_task, t, 0, 0);
}

/* Creates t's binding, replacing any; NULL if the map is full. */
static __always_inline struct st_task *binding_create(struct task_struct *t, struct st_task *init,
						     enum binding_home home)
{
	__u32 tid;

	if (home == IN_TID_HASH) {
		tid = t->pid;
		if (bpf_map_update_elem(&vcpu_tid, &tid, init, BPF_ANY))
			return NULL;
		return bpf_map_lookup_elem(&vcpu_tid, &tid);
	}
	bpf_task_storage_delete(&vcpu_task, t);
	return bpf_task_storage_get(&vcpu_task, t, init, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

static __always_inline void binding_delete(struct task_struct *t, enum binding_home home)
{
	__u32 tid;

	if (home == IN_TID_HASH) {
		tid = t->pid;
		bpf_map_delete_elem(&vcpu_tid, &tid);
		return;
	}
	bpf_task_storage_delete(&vcpu_task, t);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);  /* empty between rescans */
	__uint(max_entries, 2 * ST_MAX_VCPUS); /* a bind and an unbind per vCPU */
	__type(key, __u32);                /* tid */
	__type(value, struct st_bind_req);
} bind_reqs SEC(".maps");

static __always_inline bool binding_is(const struct st_task *b, const struct st_task *want)
{
	return b->slot == want->slot && b->gen == want->gen;
}

/*
 * Run by the daemon (read to the end) after it queued bind_reqs: binds and
 * unbinds the threads named there. A new binding is created whole, with its
 * slot and ST_TASK_NEEDS_BASE, so a switch on another CPU sees either the
 * old binding or the new one.
 */
static __always_inline int bind_requested(struct task_struct *t, enum binding_home home)
{
	struct st_task init = { .flags = ST_TASK_NEEDS_BASE };
	struct st_bind_req *r;
	struct st_task *b;
	__u32 tid;

	if (!t)
		return 0;
	tid = t->pid;
	r = bpf_map_lookup_elem(&bind_reqs, &tid);
	if (!r)
		return 0;
	b = binding_of(t, home);
	if (r->op == ST_BIND_OP_UNBIND) {
		if (b && b->slot == r->slot) {
			wait_end(b); /* a wait under way no longer counts here */
			binding_delete(t, home);
		}
		r->result = ST_BIND_DONE;
		return 0;
	}
	/* a restarted daemon's, for the same vCPU: keep its offsets */
	if (b && b->slot == r->slot && b->gen == r->gen) {
		r->result = ST_BIND_DONE;
		return 0;
	}
	init.slot = r->slot;
	init.gen = r->gen;
	if (b) /* a wait under way stays counted where it is, by the new binding */
		init.wait_cpu = b->wait_cpu;
	if (b && b->slot == ST_SLOT_NONE && (b->flags & ST_TASK_SEEN_SET)) {
		/* the rescan marker says when the thread first ran a vCPU */
		init.steal_seen = b->steal_seen;
		init.run_seen = b->run_seen;
		init.flags |= ST_TASK_SEEN_SET;
	}
	b = binding_create(t, &init, home);
	/*
	 * on_kvm_exit, on another CPU, may leave its rescan marker between
	 * the delete and the create: the create then returns the marker, or
	 * NULL if the marker was published while the create allocated (its
	 * insert finds one: -EEXIST, or -EAGAIN for a task's first storage).
	 * Once more; a second loss is retried at the next rescan.
	 */
	if (!b || !binding_is(b, &init))
		b = binding_create(t, &init, home);
	if (b)
		r->result = binding_is(b, &init) ? ST_BIND_DONE : ST_BIND_CONTENDED;
	else if ((b = binding_of(t, home)) && b->slot == ST_SLOT_NONE)
		r->result = ST_BIND_CONTENDED; /* a marker won: not a failure */
	else
		r->result = ST_BIND_NO_STORAGE;
	return 0;
}

SEC("iter/task")
int bind_threads(struct bpf_iter__task *ctx)
{
	return bind_requested(ctx->task, IN_TASK_STORAGE);
}

SEC("iter/task")
int bind_threads_tid(struct bpf_iter__task *ctx)
{
	return bind_requested(ctx->task, IN_TID_HASH);
}

#endif
