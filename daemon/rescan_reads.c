// SPDX-License-Identifier: GPL-2.0
/* The /proc reads of a whole rescan, done before its update: see rescan_reads.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_stat.h"
#include "culprit_reads.h"
#include "rescan_reads.h"
#include "throttle_reads.h"
#include "vm_naming.h"

#define CMDLINE_MAX 65536

void vm_names_read_cgroup(pid_t pid, struct vm_names *out)
{
	char path[sizeof(out->cgroup)];
	bool v2;

	if (cgroup_process_path(pid, path, sizeof(path), &v2)) {
		out->cgroup_known = false;
		return;
	}
	memcpy(out->cgroup, path, sizeof(path));
	out->cgroup_v2 = v2;
	out->cgroup_known = true;
}

void vm_names_read(pid_t pid, struct vm_names *out)
{
	char path[64], *buf = malloc(CMDLINE_MAX);
	size_t len = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(out->comm, sizeof(out->comm), f))
			out->comm[strcspn(out->comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = buf ? fopen(path, "re") : NULL;
	if (f) {
		len = fread(buf, 1, CMDLINE_MAX, f);
		fclose(f);
		vm_naming_from_cmdline(buf, len, out->name, sizeof(out->name), out->uuid,
				       sizeof(out->uuid));
	}
	free(buf);
	vm_names_read_cgroup(pid, out);
	if (!out->name[0] && out->cgroup_known)
		vm_naming_from_cgroup(out->cgroup, out->name, sizeof(out->name));
	if (!out->name[0])
		snprintf(out->name, sizeof(out->name), "%s-%d", out->comm[0] ? out->comm : "vm",
			 pid);
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static int cmp_thread(const void *a, const void *b)
{
	const struct thread_read *x = a, *y = b;

	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* The distinct pids and (pid, tid) pairs of d, sorted, into r (nothing read yet) */
static int collect(struct rescan_reads *r, const struct st_disc *d, size_t n)
{
	pid_t *pids = malloc((n ? n : 1) * sizeof(*pids));
	size_t npids = 0;

	r->procs = calloc(n ? n : 1, sizeof(*r->procs));
	r->threads = calloc(n ? n : 1, sizeof(*r->threads));
	if (!pids || !r->procs || !r->threads) {
		free(pids);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		pids[npids++] = (pid_t)d[i].pid;
		if (d[i].vcpu_id != ST_DISC_VM && d[i].tid) {
			r->threads[r->nthreads].pid = (pid_t)d[i].pid;
			r->threads[r->nthreads++].tid = (pid_t)d[i].tid;
		}
	}
	qsort(pids, npids, sizeof(*pids), cmp_pid);
	for (size_t i = 0; i < npids; i++)
		if (!r->nprocs || r->procs[r->nprocs - 1].pid != pids[i])
			r->procs[r->nprocs++].pid = pids[i];
	free(pids);
	qsort(r->threads, r->nthreads, sizeof(*r->threads), cmp_thread);
	if (r->nthreads) {
		size_t k = 1;

		for (size_t i = 1; i < r->nthreads; i++)
			if (cmp_thread(&r->threads[i], &r->threads[k - 1]))
				r->threads[k++] = r->threads[i];
		r->nthreads = k;
	}
	return 0;
}

struct rescan_reads *rescan_reads_walked(const struct st_disc *d, size_t n)
{
	struct rescan_reads *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (collect(r, d, n)) {
		rescan_reads_free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->nprocs; i++)
		vm_names_read(r->procs[i].pid, &r->procs[i].names);
	for (size_t i = 0; i < r->nthreads; i++) {
		struct thread_read *t = &r->threads[i];

		t->known = cgroup_thread_path(t->pid, t->tid, t->path, sizeof(t->path), &t->v2) == 0;
	}
	return r;
}

const struct vm_names *rescan_reads_proc(const struct rescan_reads *r, pid_t pid)
{
	const struct proc_read *p;

	if (!r || !r->nprocs)
		return NULL;
	p = bsearch(&pid, r->procs, r->nprocs, sizeof(*r->procs), cmp_pid);
	return p ? &p->names : NULL;
}

const struct thread_read *rescan_reads_thread(const struct rescan_reads *r, pid_t pid, pid_t tid)
{
	struct thread_read key = { .pid = pid, .tid = tid };

	if (!r || !r->nthreads)
		return NULL;
	return bsearch(&key, r->threads, r->nthreads, sizeof(*r->threads), cmp_thread);
}

void rescan_reads_free(struct rescan_reads *r)
{
	if (!r)
		return;
	free(r->procs);
	free(r->threads);
	culprit_reads_free(r->culprits);
	throttle_reads_free(r->throttle);
	free(r);
}
