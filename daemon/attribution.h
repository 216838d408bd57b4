/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who ran instead: the BPF "stolen_by" map (see bpf/attribution.bpf.h)
 * read at request time, summed per VM and named (VMs, processes with their
 * cgroup, kernel threads).
 *
 * Numbers that keep their meaning:
 * - A culprit keeps the name it was first shown under (VM name, comm) for
 *   as long as it has entries: a culprit VM that exits or a process that
 *   renames itself does not move its history to another series. A rename
 *   is seen by the fold pass, which first folds what the old name holds.
 * - Entries of culprits that have exited are folded at each rescan
 *   (attribution_fold) into an aggregate of their slot: the VM's exported
 *   series they were counted in (kind ST_CULPRIT_EXITED), or else the
 *   slot's "other". Process churn therefore cannot fill the map, and no
 *   /metrics series ever goes down.
 * - The exported culprits of each VM, and the names of live culprits
 *   counted in them, are saved in a state file (attribution_restore reads
 *   it at start), so a restart keeps every series.
 */
#ifndef STEALTIMED_ATTRIBUTION_H
#define STEALTIMED_ATTRIBUTION_H

#include "host_view.h"
#include "vm_table.h"

/* The state file under a state directory */
#define ATTRIBUTION_STATE_FILE "culprits"

/*
 * Fills each VM view's culprits (largest first) from the stolen_by entries
 * in pre (read before the lock was taken, still valid: vm_view.c), or read
 * now when pre is NULL. slot_vm[slot] is the index in hv->vms of the VM
 * owning the slot, -1 for none; a view's exported culprits (when set) name
 * the folded entries. Called with the table lock held.
 */
int attribution_fill(struct vm_table *t, struct host_view *hv, const int *slot_vm,
		     const struct attrib_entries *pre);

/* Deletes the entries of freed vCPU slots (forget[slot]), so new vCPUs start clean */
void attribution_forget_slots(struct vm_table *t, const bool *forget);

/*
 * What the fold pass reads (culprit_reads.h), read without the table lock
 * (any thread); NULL when unreadable (logged)
 */
struct culprit_reads *attribution_read(struct bpf_engine *bpf);
/*
 * The fold pass (after each rescan, table lock held): entries of culprits
 * that have exited, or renamed, move to their series' aggregate; culprits
 * no longer in the map are forgotten; the state file is saved if it
 * changed. pre: what attribution_read() returned, NULL to read it now.
 */
void attribution_fold(struct vm_table *t, const struct culprit_reads *pre);

/*
 * The state file: attribution_restore() names it (path "" for none) and
 * gives the table's VMs (adopted at start) their saved exported culprits;
 * attribution_save() writes it (atomically: a new file renamed over the
 * old) when its content changed. 0 or a negative errno (a missing file is 0).
 */
int attribution_restore(struct vm_table *t, const char *path);
void attribution_save(struct vm_table *t);

/* Frees what attribution keeps for the table */
void attribution_free(struct vm_table *t);

#endif
