/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-visible stolen time: per-VM regions of DEN0057 records (frozen
 * mmapable BPF arrays), and the control_ops that VMMs drive over the
 * control socket (register, set_ipa, smccc, snapshot, unregister).
 */
#ifndef STEALTIMED_GUEST_RECORDS_H
#define STEALTIMED_GUEST_RECORDS_H

#include <stdatomic.h>

#include "control.h"
#include "rate_limit.h"
#include "vm_table.h"

/* Host rescans that requests may cause (a VM or vCPU not known yet) */
#define GUEST_RECORDS_RESCANS_PER_PROCESS ((struct rate){ .per_s = 5, .burst = 10 })
#define GUEST_RECORDS_RESCANS_TOTAL ((struct rate){ .per_s = 20, .burst = 20 })

struct guest_records_config {
	struct vm_table *table;
	bool commit_enabled; /* false: set_ipa answers ENXIO, PV_TIME_FEATURES NOT_SUPPORTED */
	/*
	 * set_ipa's initial_ns is at most this many seconds (and never more
	 * than the time since the Unix epoch): limits.initial_steal_seconds.
	 * 0: every seed above 0 is refused.
	 */
	uint64_t max_initial_steal_s;
	/*
	 * Requests that need a rescan: at most per_process for the connections
	 * of one process (control_peer.rescans), total for all; beyond, EAGAIN.
	 * Zero rates (a config not set up) are taken as the defaults above.
	 */
	struct rate rescans_per_process, rescans_total;
	struct token_bucket rescans; /* all peers' */
	uint64_t (*now_ns)(void);    /* monotonic clock; NULL: monotonic_ns() */
	atomic_uint_least64_t rescans_refused; /* requests answered EAGAIN; read by HTTP threads */
};

extern const struct control_ops guest_records_ops; /* ctx: struct guest_records_config * */

/* called by vm_table with its lock held */
void guest_records_release(struct vm_table *t, struct vm_entry *vm);
void guest_records_adopt(struct vm_table *t, struct vm_entry *vm, struct vcpu_entry *c,
			 const struct st_vcpu *v);

#endif
