/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cpu.stat readings of the VMs' throttling sources that a whole
 * rescan's update needs (vm_throttle_refresh), read before it without the
 * table lock: the lock is held only to duplicate each live source's open
 * cpu.stat (so a source closed meanwhile is still read from its own
 * file), the reads are done after it is released.
 *
 * A reading names its source by the VM (cookie, pid), the source's index
 * and the join it was read in (throttle_src.join_id): a source that left
 * and joined again since is another. The update counts a reading only
 * when it is not older than what the source counted since
 * (throttle_src_growth_since): a view's reading in between wins, and the
 * growth after the reading is counted at the next reading.
 */
#ifndef STEALTIMED_THROTTLE_READS_H
#define STEALTIMED_THROTTLE_READS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm_table;

struct throttle_read {
	uint64_t cookie;
	pid_t pid;
	uint32_t src;
	uint64_t join_id;
	uint64_t ns;
};

struct throttle_reads {
	struct throttle_read *r; /* sorted by cookie, pid, src: the readable ones */
	size_t n;
};

/* Reads every live source of t's VMs (takes t's lock for the duplicates); NULL: no memory */
struct throttle_reads *throttle_reads_take(struct vm_table *t);
/* The reading of source src of VM (cookie, pid) in r (may be NULL), NULL for none */
const struct throttle_read *throttle_reads_find(const struct throttle_reads *r, uint64_t cookie,
						pid_t pid, uint32_t src);
void throttle_reads_free(struct throttle_reads *r);

#endif
