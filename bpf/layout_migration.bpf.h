/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migration of the thread bindings from an earlier layout of the pinned
 * state (ST_LAYOUT in stealtime.h). The daemon hands the pinned binding map
 * of the old layout in as vcpu_task_v1 or vcpu_tid_v1 (the old home's),
 * creates a new binding map, and runs migrate_bindings once the old
 * programs have stopped (daemon/layout_migration.c): each thread's binding
 * is copied whole, its offsets (*_seen) included, so the first event
 * under the new programs adds exactly what grew since the old programs'
 * last one. A wait a migration split before the copy is carried no
 * further: its histogram entry counts the part since the last migration.
 * The maps and programs are loaded only for a migration.
 */
#ifndef STEALTIME_LAYOUT_MIGRATION_BPF_H
#define STEALTIME_LAYOUT_MIGRATION_BPF_H

#include "stealtime_layouts.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct st_task_v1);
} vcpu_task_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * ST_MAX_VCPUS);
	__type(key, __u32);
	__type(value, struct st_task_v1);
} vcpu_tid_v1 SEC(".maps");

static __always_inline struct st_task_v1 *binding_v1_of(struct task_struct *t,
							enum binding_home home)
{
	__u32 tid;

	if (home == IN_TID_HASH) {
		tid = t->pid;
		return bpf_map_lookup_elem(&vcpu_tid_v1, &tid);
	}
	return bpf_task_storage_get(&vcpu_task_v1, t, 0, 0);
}

/*
 * t's binding in the old layout, copied into the new map. The new programs
 * are active already: on_kvm_exit may have left a rescan marker (it asks
 * for a rescan the old binding makes needless), which the copy replaces; a
 * marker left between the delete and the create of binding_create is
 * replaced once more, as bind_requested does. One __u32 (the thread's tid)
 * is written to the iterator's output per binding copied.
 */
static __always_inline int migrate_binding(struct bpf_iter_meta *meta, struct task_struct *t,
					   enum binding_home home)
{
	struct st_task_v1 *old;
	struct st_task init = {}, *b;
	__u32 tid;

	if (!t)
		return 0;
	old = binding_v1_of(t, home);
	if (!old)
		return 0;
	b = binding_of(t, home);
	if (b && b->slot != ST_SLOT_NONE)
		return 0; /* bound already: by the new daemon, or by an interrupted migration's */
	init.slot = old->slot;
	init.flags = old->flags;
	init.gen = old->gen;
	init.steal_seen = old->steal_seen;
	init.run_seen = old->run_seen;
	b = binding_create(t, &init, home);
	if (b && !binding_is(b, &init))
		b = binding_create(t, &init, home);
	if (!b || !binding_is(b, &init))
		return 0;
	tid = t->pid;
	bpf_seq_write(meta->seq, &tid, sizeof(tid));
	return 0;
}

SEC("iter/task")
int migrate_bindings(struct bpf_iter__task *ctx)
{
	return migrate_binding(ctx->meta, ctx->task, IN_TASK_STORAGE);
}

SEC("iter/task")
int migrate_bindings_tid(struct bpf_iter__task *ctx)
{
	return migrate_binding(ctx->meta, ctx->task, IN_TID_HASH);
}

#endif
