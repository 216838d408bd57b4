/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-visible stolen time: per-VM regions of DEN0057 records (frozen
 * mmapable BPF arrays), and the control_ops that VMMs drive over the
 * control socket (register, set_ipa, smccc, snapshot, unregister).
 */
#ifndef STEALTIMED_GUEST_RECORDS_H
#define STEALTIMED_GUEST_RECORDS_H

#include "control.h"
#include "vm_table.h"

struct guest_records_config {
	struct vm_table *table;
	bool commit_enabled; /* false: set_ipa answers ENXIO, PV_TIME_FEATURES NOT_SUPPORTED */
};

extern const struct control_ops guest_records_ops; /* ctx: struct guest_records_config * */

/* called by vm_table with its lock held */
void guest_records_release(struct vm_table *t, struct vm_entry *vm);
void guest_records_adopt(struct vm_table *t, struct vm_entry *vm, struct vcpu_entry *c,
			 const struct st_vcpu *v);

#endif
