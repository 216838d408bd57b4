// SPDX-License-Identifier: GPL-2.0
/* A VM's CPU quota throttling from the cgroups of its vCPU threads: see vm_throttle.h */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_stat.h"
#include "log.h"
#include "rescan_reads.h"
#include "throttle_reads.h"
#include "vm_throttle.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Numbers each source's joins, table lock held: a reading names the stay it was read in */
static uint64_t join_seq;

/* A vCPU thread's cgroup as the rescan found it */
struct thread_cgroup {
	char path[THROTTLE_PATH_LEN];
	bool v2;
	bool known;
};

/* pre's reading of source i of vm, if of its current stay */
static const struct throttle_read *pre_reading(const struct vm_entry *vm,
					       const struct throttle_reads *pre, size_t i)
{
	const struct throttle_read *r = throttle_reads_find(pre, vm->cookie, vm->pid, (uint32_t)i);

	return r && r->join_id == vm->thr.src[i].join_id ? r : NULL;
}

/*
 * Every live source's growth: from its reading in pre (taken before the
 * lock; from_pre[i] set), else read now. One pass over the sources, one
 * over the vCPUs: a view of a large VM stays linear.
 */
static void collect(struct vm_entry *vm, const struct throttle_reads *pre, bool *from_pre)
{
	for (size_t i = 0; i < vm->thr.n; i++) {
		struct throttle_src *src = &vm->thr.src[i];
		const struct throttle_read *r = src->live && src->fd >= 0 ? pre_reading(vm, pre, i)
									: NULL;
		uint64_t ns;

		if (r) {
			from_pre[i] = src->read = true;
			src->grew = throttle_src_growth_since(src, r->ns);
		} else {
			src->read = src->live && src->fd >= 0 &&
				    cgroup_read_throttled_fd(src->fd, src->v2, &ns) == 0;
			if (!src->read)
				continue;
			src->grew = throttle_src_growth(src, ns);
		}
		throttle_counter_add(&vm->throttled, src->grew);
	}
	for (size_t j = 0; j < vm->nvcpus; j++) {
		struct vcpu_entry *c = &vm->vcpus[j];

		if (c->thr_src >= 0 && (size_t)c->thr_src < vm->thr.n && vm->thr.src[c->thr_src].read)
			throttle_counter_add(&c->throttled, vm->thr.src[c->thr_src].grew);
	}
}

void vm_throttle_collect(struct vm_entry *vm)
{
	collect(vm, NULL, NULL);
}

/* Length of the path of the deepest cgroup that holds both a and b ("/" at least) */
static size_t common_ancestor(const char *a, const char *b)
{
	size_t last = 1;

	for (size_t i = 0;; i++) {
		bool a_end = a[i] == '\0' || a[i] == '/', b_end = b[i] == '\0' || b[i] == '/';

		if (a_end && b_end && i > 0)
			last = i;
		if (a[i] != b[i] || a[i] == '\0')
			return last;
	}
}

/* path without its last component ("/" stays "/") */
static void cut_last(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash)
		slash[slash == path] = '\0';
}

/* Is path the cgroup top or below it? */
static bool under(const char *path, const char *top)
{
	size_t n = strlen(top);

	if (strcmp(top, "/") == 0)
		return path[0] == '/';
	return strncmp(path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * The VM's own cgroup: the deepest holding the VMM and every vCPU thread;
 * libvirt's nested "libvirt" cgroup stands for its machine scope, the
 * parent (the domain's cgroup; libvirt nests its threads' cgroups in it
 * so that systemd owns the scope's own files).
 */
static bool find_top(const struct vm_entry *vm, const struct thread_cgroup *tc, size_t n,
		     char *top, bool *v2)
{
	bool have = vm->cgroup_known;
	const char *base;

	if (have) {
		memcpy(top, vm->cgroup, THROTTLE_PATH_LEN);
		*v2 = vm->cgroup_v2;
	}
	for (size_t i = 0; i < n; i++) {
		if (!tc[i].known)
			continue;
		if (!have) {
			memcpy(top, tc[i].path, THROTTLE_PATH_LEN);
			*v2 = tc[i].v2;
			have = true;
		} else if (tc[i].v2 == *v2) {
			top[common_ancestor(top, tc[i].path)] = '\0';
		}
	}
	base = have ? strrchr(top, '/') : NULL;
	if (base && base != top && strcmp(base, "/libvirt") == 0)
		cut_last(top);
	return have;
}

/* path is a source of this rescan: a joining one is opened and given its baseline */
static int use_source(struct vm_entry *vm, const char *path, bool v2)
{
	struct throttle_src *src;
	bool joined, first, owned, readable;
	uint64_t ns = 0;
	size_t idx;
	int err = throttle_set_use(&vm->thr, path, v2, &idx, &joined, &first);

	if (err)
		return err;
	src = &vm->thr.src[idx];
	if (src->fd < 0) { /* joining, or not openable before (out of fds): tried again */
		src->fd = cgroup_open_cpu_stat(CGROUP_ROOT, path, v2);
		if (src->fd < 0)
			src->fd = -1;
	}
	if (joined) {
		src->join_id = ++join_seq;
		readable = src->fd >= 0 && cgroup_read_throttled_fd(src->fd, v2, &ns) == 0;
		owned = first && cgroup_holds_only(CGROUP_ROOT, path, v2, vm->pid);
		throttle_src_join(src, first, owned, readable, ns);
	}
	return (int)idx;
}

/* The leaf and each ancestor up to top are sources; the leaf's index, or -errno */
static int use_chain(struct vm_entry *vm, const struct thread_cgroup *tc, const char *top)
{
	char path[THROTTLE_PATH_LEN];
	int leaf = use_source(vm, tc->path, tc->v2);

	if (leaf < 0 || !under(tc->path, top))
		return leaf;
	memcpy(path, tc->path, sizeof(path));
	while (strcmp(path, top) != 0) {
		int err;

		cut_last(path);
		err = use_source(vm, path, tc->v2);
		if (err < 0)
			return err;
	}
	return leaf;
}

/* Does another vCPU's thread share vCPU i's cgroup? */
static bool shared(const struct thread_cgroup *tc, size_t n, size_t i)
{
	for (size_t j = 0; j < n; j++)
		if (j != i && tc[j].known && tc[j].v2 == tc[i].v2 &&
		    strcmp(tc[j].path, tc[i].path) == 0)
			return true;
	return false;
}

static void close_source(struct throttle_src *src)
{
	if (src->fd >= 0)
		close(src->fd);
	src->fd = -1;
}

/* Thread c's cgroup into *tc: as the walker read it, or read now */
static void thread_cgroup(const struct vm_entry *vm, const struct vcpu_entry *c,
			  const struct rescan_reads *reads, struct thread_cgroup *tc)
{
	const struct thread_read *r = c->tid > 0 ? rescan_reads_thread(reads, vm->pid, c->tid) : NULL;

	if (r) {
		tc->known = r->known;
		tc->v2 = r->v2;
		if (r->known)
			memcpy(tc->path, r->path, sizeof(tc->path));
		return;
	}
	tc->known = c->tid > 0 &&
		    cgroup_thread_path(vm->pid, c->tid, tc->path, sizeof(tc->path), &tc->v2) == 0;
}

/* Does source i feed another set of vCPUs now than before (old[j]: vCPU j's source then)? */
static bool feeds_changed(const struct vm_entry *vm, const int *old, size_t i)
{
	for (size_t j = 0; j < vm->nvcpus; j++)
		if ((old[j] == (int)i) != (vm->vcpus[j].thr_src == (int)i))
			return true;
	return false;
}

/*
 * The sources counted from a reading taken before the lock (from_pre) that
 * leave, or feed other vCPUs from now on: their growth since is read now
 * and counted where it went until now (old[j]: vCPU j's source then), as
 * when everything is read under the lock.
 */
static void settle(struct vm_entry *vm, const int *old, const bool *from_pre, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct throttle_src *src = &vm->thr.src[i];
		uint64_t ns, grew;

		if (!from_pre[i] || src->fd < 0 || (src->seen && !feeds_changed(vm, old, i)))
			continue;
		if (cgroup_read_throttled_fd(src->fd, src->v2, &ns))
			continue;
		grew = throttle_src_growth(src, ns);
		throttle_counter_add(&vm->throttled, grew);
		for (size_t j = 0; j < vm->nvcpus; j++)
			if (old[j] == (int)i)
				throttle_counter_add(&vm->vcpus[j].throttled, grew);
	}
}

void vm_throttle_refresh(struct vm_entry *vm, const struct rescan_reads *reads)
{
	size_t nv = vm->nvcpus ? vm->nvcpus : 1, nsrc = vm->thr.n;
	struct thread_cgroup *tc = calloc(nv, sizeof(*tc));
	int *old = malloc(nv * sizeof(*old));
	bool *from_pre = calloc(nsrc ? nsrc : 1, sizeof(*from_pre));
	char top[THROTTLE_PATH_LEN];
	bool v2 = false;
	int err = 0;

	if (!tc || !old || !from_pre) {
		free(tc);
		free(old);
		free(from_pre);
		return; /* the sources stay as they were */
	}
	/* what leaving sources grew counts up to now (settle: those read before the lock) */
	collect(vm, reads ? reads->throttle : NULL, from_pre);
	for (size_t i = 0; i < vm->nvcpus; i++) {
		struct vcpu_entry *c = &vm->vcpus[i];

		old[i] = c->thr_src;
		c->thr_src = -1;
		thread_cgroup(vm, c, reads, &tc[i]);
	}
	throttle_set_begin(&vm->thr);
	vm->thr_top[0] = '\0';
	if (find_top(vm, tc, vm->nvcpus, top, &v2)) {
		memcpy(vm->thr_top, top, sizeof(top));
		err = use_source(vm, top, v2);
	}
	for (size_t i = 0; i < vm->nvcpus && err >= 0; i++) {
		if (!tc[i].known || tc[i].v2 != v2)
			continue;
		err = use_chain(vm, &tc[i], top);
		if (err >= 0 && !shared(tc, vm->nvcpus, i))
			vm->vcpus[i].thr_src = err;
	}
	if (err < 0) /* the sources found stay; the rest waits for the next rescan */
		log_warning("VM %s: throttling sources incomplete (%s)", vm->id, strerror(-err));
	settle(vm, old, from_pre, nsrc);
	throttle_set_end(&vm->thr, close_source);
	free(tc);
	free(old);
	free(from_pre);
}

void vm_throttle_free(struct vm_entry *vm)
{
	for (size_t i = 0; i < vm->thr.n; i++)
		close_source(&vm->thr.src[i]);
	throttle_set_free(&vm->thr);
}
