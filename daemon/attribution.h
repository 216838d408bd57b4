/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who ran instead: the BPF "stolen_by" map (see bpf/attribution.bpf.h)
 * read at request time, summed per VM and named (VMs, processes with their
 * cgroup, kernel threads). Names of culprits that have exited are
 * remembered from when they were alive.
 */
#ifndef STEALTIMED_ATTRIBUTION_H
#define STEALTIMED_ATTRIBUTION_H

#include "host_view.h"
#include "vm_table.h"

/*
 * Fills each VM view's culprits (largest first). slot_vm[slot] is the
 * index in hv->vms of the VM owning the slot, -1 for none. Called with
 * the table lock held.
 */
int attribution_fill(struct vm_table *t, struct host_view *hv, const int *slot_vm);

/* Deletes the entries of freed vCPU slots (forget[slot]), so new vCPUs start clean */
void attribution_forget_slots(struct vm_table *t, const bool *forget);

#endif
