/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pinned structs of earlier layouts (ST_LAYOUT in stealtime.h), as
 * their releases pinned them: a new daemon reads them to migrate the
 * pinned state (daemon/layout_migration.c, bpf/layout_migration.bpf.h).
 */
#ifndef STEALTIME_LAYOUTS_H
#define STEALTIME_LAYOUTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
/* the value size of vcpu_task and vcpu_tid in layout 2 (struct st_task then) */
#define ST_TASK_V2_SIZE 40

#endif

/*
 * struct st_task of layout 1: no wait_carry_ns (vcpu_task, vcpu_tid); of
 * layout 2, the first 32 bytes, all that a migration copies (wait_carry_ns,
 * the part of a wait that a CPU migration split off just before the
 * upgrade, is not carried)
 */
struct st_task_v1 {
	__u32 slot;
	__u32 flags;
	__u32 gen;
	__u32 reserved;
	__u64 steal_seen;
	__u64 run_seen;
};

/* the value size of vcpu_task and vcpu_tid in layout 2 (struct st_task then) */
#define ST_TASK_V2_SIZE 40
/* ... and in layout 3 */
#define ST_TASK_V3_SIZE 48

#endif
