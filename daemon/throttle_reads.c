// SPDX-License-Identifier: GPL-2.0
/* Throttling sources read before a rescan's update: see throttle_reads.h */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "cgroup_stat.h"
#include "throttle_reads.h"
#include "vm_table.h"

/* A duplicate of a source's cpu.stat, to read without the lock */
struct pending {
	int fd;
	bool v2;
};

static int cmp_read(const void *a, const void *b)
{
	const struct throttle_read *x = a, *y = b;

	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	return (x->src > y->src) - (x->src < y->src);
}

static size_t count_sources(const struct vm_table *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nvms; i++)
		for (size_t j = 0; j < t->vms[i]->thr.n; j++)
			n += t->vms[i]->thr.src[j].live && t->vms[i]->thr.src[j].fd >= 0;
	return n;
}

/* Under t's lock: each live source's place in r->r and a duplicate of its fd in p */
static void take_sources(const struct vm_table *t, struct throttle_reads *r, struct pending *p,
			 size_t max)
{
	for (size_t i = 0; i < t->nvms; i++) {
		const struct vm_entry *vm = t->vms[i];

		for (size_t j = 0; j < vm->thr.n && r->n < max; j++) {
			const struct throttle_src *src = &vm->thr.src[j];
			int fd;

			if (!src->live || src->fd < 0)
				continue;
			fd = fcntl(src->fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				continue; /* read under the lock by the update */
			r->r[r->n] = (struct throttle_read){ .cookie = vm->cookie, .pid = vm->pid,
							     .src = (uint32_t)j,
							     .join_id = src->join_id };
			p[r->n++] = (struct pending){ .fd = fd, .v2 = src->v2 };
		}
	}
}

struct throttle_reads *throttle_reads_take(struct vm_table *t)
{
	struct throttle_reads *r = calloc(1, sizeof(*r));
	struct pending *p = NULL;
	size_t max, kept = 0;

	if (!r)
		return NULL;
	pthread_mutex_lock(&t->lock);
	max = count_sources(t);
	r->r = calloc(max ? max : 1, sizeof(*r->r));
	p = calloc(max ? max : 1, sizeof(*p));
	if (r->r && p)
		take_sources(t, r, p, max);
	pthread_mutex_unlock(&t->lock);
	if (!r->r || !p) {
		free(p);
		throttle_reads_free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (cgroup_read_throttled_fd(p[i].fd, p[i].v2, &r->r[i].ns) == 0)
			r->r[kept++] = r->r[i];
		close(p[i].fd);
	}
	r->n = kept;
	free(p);
	qsort(r->r, r->n, sizeof(*r->r), cmp_read);
	return r;
}

const struct throttle_read *throttle_reads_find(const struct throttle_reads *r, uint64_t cookie,
						pid_t pid, uint32_t src)
{
	struct throttle_read key = { .cookie = cookie, .pid = pid, .src = src };

	return r && r->n ? bsearch(&key, r->r, r->n, sizeof(*r->r), cmp_read) : NULL;
}

void throttle_reads_free(struct throttle_reads *r)
{
	if (!r)
		return;
	free(r->r);
	free(r);
}
