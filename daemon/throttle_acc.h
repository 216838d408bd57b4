/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CPU quota throttling of a VM as counters that never go down, whatever
 * cgroups its vCPU threads are in over time (vm_throttle.c finds them).
 *
 * A source is one cgroup whose cpu.stat throttled time counts for the VM.
 * Each source keeps the reading its growth is counted from; every reading
 * adds only the growth since the last one to the counters it feeds, so a
 * source that stops being one (its threads moved, the cgroup removed)
 * leaves behind what it gave, and a new source adds nothing at once but
 * what the baseline rule lets it:
 *   - a cgroup that is a source of this VM for the first time counts from
 *     0 when it holds only this VM's threads (a cgroup of the VM's own,
 *     such as libvirt's vcpuN or the machine scope: its throttling was the
 *     VM's all along), otherwise from its reading then (a shared cgroup:
 *     what it was throttled before the VM came is not the VM's);
 *   - a cgroup that was a source before, left and comes back counts from
 *     its reading then (throttled meanwhile, it did not hold the VM).
 * Pure bookkeeping: no file is read here.
 */
#ifndef STEALTIMED_THROTTLE_ACC_H
#define STEALTIMED_THROTTLE_ACC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_PATH_LEN 256
/* distinct cgroups a VM remembers (live ones always stay) */
#define THROTTLE_MAX_SOURCES 4096

struct throttle_src {
	char path[THROTTLE_PATH_LEN];
	bool v2;
	bool live;     /* a source since the last rescan */
	bool seen;     /* named by the rescan under way */
	bool has_base; /* last holds a reading (or the 0 of an own cgroup) */
	uint64_t last; /* the reading growth is counted from */
	int fd;        /* its cpu.stat while live and readable, else -1 (vm_throttle.c) */
	uint64_t join_id; /* tells this stay as a source from its others (vm_throttle.c) */
	bool read;     /* read by the last collect (vm_throttle.c), which found it grew: */
	uint64_t grew;
};

/* A counter fed by sources: never decreases. */
struct throttle_counter {
	uint64_t ns;
	bool known; /* a source of it has been read once: the counter exists from then on */
};

struct throttle_set {
	struct throttle_src *src;
	size_t n, cap;
};

/* A rescan begins: no source is seen yet. */
void throttle_set_begin(struct throttle_set *s);
/*
 * path is a source of the rescan under way. *index: its place in s->src
 * (stable until the next throttle_set_use of an unknown path). *joined:
 * it was not live before (the caller opens it and calls throttle_src_join);
 * *first: never a source of this VM before. -ENOMEM, or -ENOSPC when
 * THROTTLE_MAX_SOURCES are live.
 */
int throttle_set_use(struct throttle_set *s, const char *path, bool v2, size_t *index,
		     bool *joined, bool *first);
/*
 * The source joins: its baseline by the rule above. has_reading false:
 * unreadable now (its first reading later is then its baseline, unless
 * owned and first).
 */
void throttle_src_join(struct throttle_src *src, bool first, bool owned, bool has_reading,
		       uint64_t reading);
/*
 * A reading of a live source: the growth to add to the counters it feeds
 * (0 for the first reading of a source that had none, or for a reading
 * below the last one, which becomes the new baseline).
 */
uint64_t throttle_src_growth(struct throttle_src *src, uint64_t reading);
/*
 * The same for a reading that an earlier one may have been taken after (a
 * rescan's, read without the table lock): when older than the last, 0, and
 * the last stays (the growth it held is counted once)
 */
uint64_t throttle_src_growth_since(struct throttle_src *src, uint64_t reading);
/* The rescan ends: sources not seen stop being live; each gets on_leave first (may be NULL). */
void throttle_set_end(struct throttle_set *s, void (*on_leave)(struct throttle_src *src));
void throttle_set_free(struct throttle_set *s);

void throttle_counter_add(struct throttle_counter *c, uint64_t ns);

#endif
