// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attribution.h"
#include "cgroup_stat.h"

/*
 * Remembered names of culprit processes, so exited ones keep a name; a live
 * one's name is read again after NAME_TTL_NS (processes rename themselves).
 */
#define NAME_CACHE 1024
#define NAME_TTL_NS (5 * 1000000000ULL)

struct name_entry {
	int32_t pid;
	uint64_t read_ns;
	char comm[32];
	char cgroup[128];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static struct name_entry names[NAME_CACHE];

static void read_comm(int32_t pid, char *comm, size_t len)
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

/* comm and cgroup of pid: fresh while it lives, remembered after */
static const struct name_entry *culprit_names(int32_t pid)
{
	struct name_entry *e = &names[(uint32_t)pid % NAME_CACHE];
	uint64_t ns, now = mono_ns();
	char comm[32];

	if (e->pid == pid && now - e->read_ns < NAME_TTL_NS)
		return e;
	read_comm(pid, comm, sizeof(comm));
	if (comm[0]) {
		e->read_ns = now;
		if (e->pid != pid || strcmp(e->comm, comm)) {
			e->pid = pid;
			memcpy(e->comm, comm, sizeof(e->comm));
			e->cgroup[0] = '\0';
			cgroup_process_throttled(pid, "/sys/fs/cgroup", e->cgroup, sizeof(e->cgroup),
						 &ns);
		}
		return e;
	}
	return e->pid == pid ? e : NULL;
}

static void name_culprit(struct vm_table *t, const struct st_attrib_key *k, struct culprit_view *c)
{
	const struct name_entry *n;
	struct vm_entry *vm;

	c->pid = (int32_t)k->id;
	switch (k->kind) {
	case ST_CULPRIT_VCPU:
		c->kind = CULPRIT_VM;
		vm = vm_table_find_pid(t, c->pid);
		if (vm) {
			snprintf(c->name, sizeof(c->name), "%.*s", (int)sizeof(c->name) - 1, vm->name);
			snprintf(c->vm_id, sizeof(c->vm_id), "%s", vm->id);
			return;
		}
		break;
	case ST_CULPRIT_PROCESS:
		c->kind = CULPRIT_PROCESS;
		break;
	case ST_CULPRIT_KERNEL:
		c->kind = CULPRIT_KERNEL;
		break;
	default:
		c->kind = CULPRIT_OTHER;
		c->pid = 0;
		snprintf(c->name, sizeof(c->name), "other");
		return;
	}
	n = culprit_names(c->pid);
	if (n) {
		snprintf(c->name, sizeof(c->name), "%s", n->comm);
		if (c->kind == CULPRIT_PROCESS)
			snprintf(c->cgroup, sizeof(c->cgroup), "%s", n->cgroup);
	} else {
		snprintf(c->name, sizeof(c->name), "pid %d", c->pid);
	}
}

/* Adds ns for (kind, id) to the VM's list, merging the same culprit of several vCPUs. */
static int add_culprit(struct vm_table *t, struct vm_view *vm, size_t *cap,
		       const struct st_attrib_key *k, uint64_t ns)
{
	uint64_t id = k->kind == ST_CULPRIT_OTHER ? 0 : k->id;
	struct culprit_view *c;

	for (size_t i = 0; i < vm->nculprits; i++) {
		c = &vm->culprits[i];
		if (c->pid == (int32_t)id && (int)c->kind == (int)k->kind) {
			c->ns += ns;
			return 0;
		}
	}
	if (vm->nculprits == *cap) {
		size_t n = *cap ? *cap * 2 : 8;
		struct culprit_view *nc = realloc(vm->culprits, n * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		vm->culprits = nc;
		*cap = n;
	}
	c = &vm->culprits[vm->nculprits++];
	memset(c, 0, sizeof(*c));
	c->kind = (enum culprit_kind)k->kind; /* same numbering, named below */
	c->pid = (int32_t)id;
	c->ns = ns;
	return 0;
}

static int cmp_culprit(const void *a, const void *b)
{
	const struct culprit_view *x = a, *y = b;

	return (x->ns < y->ns) - (x->ns > y->ns);
}

int attribution_fill(struct vm_table *t, struct host_view *hv, const int *slot_vm)
{
	size_t *caps = calloc(hv->nvms ? hv->nvms : 1, sizeof(*caps));
	struct st_attrib_key *keys;
	uint64_t *vals;
	size_t n;
	int err;

	if (!caps)
		return -ENOMEM;
	err = bpf_engine_attrib_read(t->bpf, &keys, &vals, &n);
	for (size_t i = 0; i < n && !err; i++) {
		int vm = keys[i].slot < ST_MAX_VCPUS ? slot_vm[keys[i].slot] : -1;

		if (vm >= 0)
			err = add_culprit(t, &hv->vms[vm], &caps[vm], &keys[i], vals[i]);
	}
	free(keys);
	free(vals);
	free(caps);
	for (size_t i = 0; i < hv->nvms; i++) {
		struct vm_view *vm = &hv->vms[i];

		for (size_t j = 0; j < vm->nculprits; j++) {
			struct st_attrib_key k = { .kind = (uint32_t)vm->culprits[j].kind,
						   .id = (uint64_t)vm->culprits[j].pid };

			name_culprit(t, &k, &vm->culprits[j]);
		}
		if (vm->culprits) /* NULL when none: qsort's base must not be */
			qsort(vm->culprits, vm->nculprits, sizeof(*vm->culprits), cmp_culprit);
	}
	return err;
}

void attribution_forget_slots(struct vm_table *t, const bool *forget)
{
	bpf_engine_attrib_forget(t->bpf, forget);
}
