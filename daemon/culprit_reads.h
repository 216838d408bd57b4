/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the fold of culprits (attribution_fold) reads: the keys of the
 * stolen_by map, and of each culprit in them whether it lives, its comm
 * and its CPU cgroup. Read without the table lock (the walker's thread
 * reads them after its walk); the fold compares them with the names
 * culprits are shown under, and folds, with the lock held.
 *
 * What was read may be older than the table: the fold moves what an entry
 * holds when it runs (not the value read), a key gone meanwhile is skipped,
 * and a culprit whose name was read after these reads is compared at the
 * next fold (culprit_fold_verdict). A culprit is at worst folded one
 * rescan later; its time is neither lost nor counted twice.
 */
#ifndef STEALTIMED_CULPRIT_READS_H
#define STEALTIMED_CULPRIT_READS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf_engine.h"

/* A culprit of stolen_by (kinds vCPU, process, kernel) as read */
struct culprit_read {
	uint32_t kind;
	int32_t pid;
	bool alive;
	char comm[32];    /* "" when unreadable (exited) */
	char cgroup[128]; /* its CPU cgroup, "" when unreadable */
	size_t first, n;  /* its keys: keys[first .. first + n) */
};

struct culprit_reads {
	uint64_t read_ns; /* CLOCK_MONOTONIC before the map was read */
	struct st_attrib_key *keys; /* sorted by culprit (kind, id), then slot */
	size_t nkeys;
	struct culprit_read *culprits; /* in the order of keys */
	size_t nculprits;
};

/* A process's comm, and its CPU cgroup, read now ("" when unreadable) */
void culprit_read_comm(int32_t pid, char *comm, size_t len);
void culprit_read_cgroup(int32_t pid, char *cgroup, size_t len);

/*
 * Reads stolen_by and its culprits now (any thread); NULL: no memory, or
 * the map unreadable (*err)
 */
struct culprit_reads *culprit_reads_read(struct bpf_engine *bpf, int *err);
/*
 * Sorts r->keys and lists their culprits of the kinds folded into
 * r->culprits (nothing read of them yet): 0 or -ENOMEM
 */
int culprit_reads_group(struct culprit_reads *r);
void culprit_reads_free(struct culprit_reads *r);

enum fold_verdict {
	FOLD_KEEP,    /* alive, its name unchanged */
	FOLD_LATER,   /* its name was read after this reading: compared at the next fold */
	FOLD_GONE,    /* exited: its entries go to its name's series */
	FOLD_RENAMED, /* its entries go to its old name's series, then it takes fresh */
};

/*
 * What the fold does with a culprit shown under known since named_ns (when
 * that name was read), given this reading (alive, and its name now: fresh,
 * unused when not alive) taken at read_ns
 */
enum fold_verdict culprit_fold_verdict(const char *known, uint64_t named_ns, bool alive,
				       const char *fresh, uint64_t read_ns);

#endif
