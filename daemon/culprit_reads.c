// SPDX-License-Identifier: GPL-2.0
/* What the fold of culprits reads, read before it: see culprit_reads.h */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup_stat.h"
#include "culprit_reads.h"

void culprit_read_comm(int32_t pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

void culprit_read_cgroup(int32_t pid, char *cgroup, size_t len)
{
	bool v2;

	cgroup[0] = '\0';
	if (cgroup_process_path(pid, cgroup, len, &v2))
		cgroup[0] = '\0';
}

static bool pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static bool folded_kind(uint32_t kind)
{
	return kind == ST_CULPRIT_VCPU || kind == ST_CULPRIT_PROCESS || kind == ST_CULPRIT_KERNEL;
}

static int cmp_key(const void *a, const void *b)
{
	const struct st_attrib_key *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return (x->slot > y->slot) - (x->slot < y->slot);
}

int culprit_reads_group(struct culprit_reads *r)
{
	r->nculprits = 0;
	r->culprits = calloc(r->nkeys ? r->nkeys : 1, sizeof(*r->culprits));
	if (!r->culprits)
		return -ENOMEM;
	if (r->nkeys) /* keys is NULL when the map is empty */
		qsort(r->keys, r->nkeys, sizeof(*r->keys), cmp_key);
	for (size_t i = 0, j; i < r->nkeys; i = j) {
		struct culprit_read *c;

		for (j = i + 1; j < r->nkeys && r->keys[j].kind == r->keys[i].kind &&
				r->keys[j].id == r->keys[i].id; j++)
			;
		if (!folded_kind(r->keys[i].kind))
			continue;
		c = &r->culprits[r->nculprits++];
		c->kind = r->keys[i].kind;
		c->pid = (int32_t)r->keys[i].id;
		c->first = i;
		c->n = j - i;
	}
	return 0;
}

struct culprit_reads *culprit_reads_read(struct bpf_engine *bpf, int *err)
{
	struct culprit_reads *r = calloc(1, sizeof(*r));
	struct timespec ts;
	uint64_t *vals = NULL;

	*err = -ENOMEM;
	if (!r)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->read_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	*err = bpf_engine_attrib_read(bpf, &r->keys, &vals, &r->nkeys);
	free(vals);
	if (!*err)
		*err = culprit_reads_group(r);
	if (*err) {
		culprit_reads_free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->nculprits; i++) {
		struct culprit_read *c = &r->culprits[i];

		c->alive = pid_alive(c->pid);
		culprit_read_comm(c->pid, c->comm, sizeof(c->comm));
		culprit_read_cgroup(c->pid, c->cgroup, sizeof(c->cgroup));
	}
	return r;
}

void culprit_reads_free(struct culprit_reads *r)
{
	if (!r)
		return;
	free(r->keys);
	free(r->culprits);
	free(r);
}

enum fold_verdict culprit_fold_verdict(const char *known, uint64_t named_ns, bool alive,
				       const char *fresh, uint64_t read_ns)
{
	if (named_ns > read_ns)
		return FOLD_LATER;
	if (!alive)
		return FOLD_GONE;
	return strcmp(fresh, known) ? FOLD_RENAMED : FOLD_KEEP;
}
