/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Adopting pins of an earlier layout (ST_LAYOUT in stealtime.h) without
 * detaching anything: the maps whose layout changed are created anew,
 * pinned under a temporary name, filled from the old ones once the old
 * programs have stopped, then renamed over the old pins. Every other map
 * (the vCPUs' counters, the regions and the very region maps VMMs have
 * mapped, settings, keys, stolen_by) is adopted as it is. A migration
 * that stopped after its flip is resumed from where it stopped: its new
 * map is kept, and only what it lacks is copied from the old one.
 */
#ifndef STEALTIMED_LAYOUT_MIGRATION_H
#define STEALTIMED_LAYOUT_MIGRATION_H

#include <stdbool.h>

struct stealtime_bpf;
struct bpf_map;

struct layout_migration {
	int from;                  /* the pins' layout */
	struct bpf_map *bindings;  /* the new binding map, when it replaces the pinned one */
	const char *bindings_name; /* its pin name */
	bool task_storage;         /* bindings in task storage (else the tid hash) */
	bool resumed;              /* the new map is an interrupted migration's */
};

/*
 * Between open and load: the pins under pin_dir are of layout from
 * (ST_LAYOUT: nothing to migrate; the migration's maps and programs are
 * not loaded).
 */
int layout_migration_prepare(struct layout_migration *m, struct stealtime_bpf *s,
			     const char *pin_dir, int from, bool task_storage);

/* Before the programs take over: the new maps pinned under temporary names */
int layout_migration_pin_next(struct layout_migration *m, const char *pin_dir);
/* Their temporary pins removed (a take-over that failed before the flip) */
void layout_migration_unpin_next(struct layout_migration *m, const char *pin_dir);

/*
 * Once the generation is flipped: waits until no old program runs, copies
 * the old bindings into the new map, and renames its pin over the old one.
 */
int layout_migration_finish(struct layout_migration *m, struct stealtime_bpf *s,
			    const char *pin_dir);

/* Waits until every BPF program that runs now has returned (an RCU grace period) */
int wait_for_programs_in_flight(void);

#endif
