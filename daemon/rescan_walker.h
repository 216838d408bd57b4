/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The walk of every process's files that a whole rescan starts with, done
 * on a thread of its own: on a host with many processes it takes long
 * (hundreds of milliseconds), and the event loop, which answers VMMs on
 * the control socket, must not wait for it. The same thread then reads
 * what the table's update needs of the processes and threads found, what
 * the culprits' fold reads and the throttling sources' cpu.stat
 * (vm_table_read_walk), and both are handed back on the event loop, where
 * the table applies them.
 */
#ifndef STEALTIMED_RESCAN_WALKER_H
#define STEALTIMED_RESCAN_WALKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "bpf_engine.h"

struct rescan_walker;
struct vm_table;

struct rescan_reads;

/*
 * On the event loop: a walk's records and what was read of them (the
 * callee frees d and reads; reads may be NULL), or err (d NULL);
 * started_ns: vm_table_clock_ns() when the walk began
 */
typedef void (*rescan_walked_fn)(void *ctx, struct st_disc *d, size_t n,
				 struct rescan_reads *reads, int err, uint64_t started_ns);

/* table: walked and read for (vm_table_read_walk), its lock taken only for a moment */
int rescan_walker_start(struct rescan_walker **out, sd_event *ev, struct vm_table *table,
			rescan_walked_fn walked, void *ctx);
/* A walk, started now or, if one runs, once it ends: requests meanwhile are one */
void rescan_walker_request(struct rescan_walker *w);
/* Waits for a walk under way to end; its records and reads are dropped */
void rescan_walker_stop(struct rescan_walker *w);

#endif
