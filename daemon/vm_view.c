// SPDX-License-Identifier: GPL-2.0
/*
 * host_view_fn of the VM table: a fresh view of every VM, read from the
 * BPF maps (and the cpu.stat of the vCPU threads' cgroups) at request time, under the table lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm_table.h"
#include "vm_throttle.h"

static void fill_vcpu_view(struct vm_table *t, const struct vcpu_entry *c, struct vcpu_view *o)
{
	const volatile struct st_vcpu *v = vm_table_slot(t, c->slot);

	o->index = c->vcpu_id;
	o->tid = v->tid;
	o->bound = c->tid != 0;
	o->steal_ns = v->steal_ns;
	o->run_ns = v->run_ns;
	o->waits = v->waits;
	o->preemptions = v->preemptions;
	for (int i = 0; i < ST_HIST_SLOTS; i++)
		o->hist[i] = v->hist[i];
	o->commit_enabled = (v->commit_flags & ST_COMMIT_ON) != 0;
	o->record_ipa = v->record_ipa;
	o->committed_ns = v->committed_ns;
	o->commits = v->commits;
	o->seeded_ns = v->commit_init;
	o->wakeups = v->wakeups;
	o->max_wait_ns = v->max_wait_ns;
	o->wait_sum_ns = v->wait_sum_ns;
	o->throttled_known = c->throttled.known;
	o->throttled_ns = c->throttled.ns;
}

static int cmp_vcpu(const void *a, const void *b)
{
	const struct vcpu_view *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

static int cmp_vm(const void *a, const void *b)
{
	const struct vm_view *x = a, *y = b;

	return strcmp(x->id, y->id);
}

static int fill_vm_view(struct vm_table *t, struct vm_entry *vm, struct vm_view *o)
{
	memcpy(o->id, vm->id, sizeof(o->id));
	memcpy(o->name, vm->name, sizeof(o->name));
	memcpy(o->uuid, vm->uuid, sizeof(o->uuid));
	memcpy(o->comm, vm->comm, sizeof(o->comm));
	o->pid = vm->pid;
	o->registered = vm->registered;
	o->region_ipa = vm->region_ipa;
	o->vcpus = calloc(vm->nvcpus ? vm->nvcpus : 1, sizeof(*o->vcpus));
	if (!o->vcpus)
		return -ENOMEM;
	o->nvcpus = vm->nvcpus;
	vm_throttle_collect(vm);
	for (size_t i = 0; i < vm->nvcpus; i++) {
		fill_vcpu_view(t, &vm->vcpus[i], &o->vcpus[i]);
		if (o->vcpus[i].max_wait_ns > o->max_wait_ns)
			o->max_wait_ns = o->vcpus[i].max_wait_ns;
	}
	qsort(o->vcpus, o->nvcpus, sizeof(*o->vcpus), cmp_vcpu);
	if (vm->thr_top[0])
		memcpy(o->cgroup, vm->thr_top, sizeof(o->cgroup));
	else if (vm->cgroup_known)
		memcpy(o->cgroup, vm->cgroup, sizeof(o->cgroup));
	o->throttled_known = vm->throttled.known;
	o->throttled_ns = vm->throttled.ns;
	return 0;
}

static bool is_exported(const struct vm_entry *vm, enum culprit_kind kind, const char *name)
{
	for (size_t i = 0; i < vm->nexported; i++)
		if (vm->exported[i].kind == kind && strcmp(vm->exported[i].name, name) == 0)
			return true;
	return false;
}

/* o gets a copy of the VM's exported culprits: attribution names folded entries by them */
static int copy_exported(const struct vm_entry *vm, struct vm_view *o)
{
	if (!vm->nexported)
		return 0;
	o->exported = malloc(vm->nexported * sizeof(*o->exported));
	if (!o->exported)
		return -ENOMEM;
	memcpy(o->exported, vm->exported, vm->nexported * sizeof(*o->exported));
	o->nexported = vm->nexported;
	return 0;
}

/*
 * Culprits join the VM's exported set, largest first (o->culprits is
 * sorted so), while it has room; once in, they stay, also across restarts
 * (hooks->exported_changed: attribution saves them). Then o gets a copy.
 */
static int update_exported(struct vm_table *t, struct vm_entry *vm, struct vm_view *o)
{
	unsigned top = t->top_culprits ? t->top_culprits : 5;
	size_t before = vm->nexported;

	for (size_t i = 0; i < o->nculprits && vm->nexported < top; i++) {
		const struct culprit_view *c = &o->culprits[i];
		struct culprit_key *n;

		if (c->kind == CULPRIT_OTHER || c->kind == CULPRIT_THROTTLED ||
		    is_exported(vm, c->kind, c->name))
			continue;
		n = realloc(vm->exported, (vm->nexported + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		vm->exported = n;
		n[vm->nexported].kind = c->kind;
		memcpy(n[vm->nexported].name, c->name, sizeof(n->name));
		vm->nexported++;
	}
	if (vm->nexported != before && t->hooks->exported_changed)
		t->hooks->exported_changed(t);
	free(o->exported);
	o->exported = calloc(vm->nexported ? vm->nexported : 1, sizeof(*o->exported));
	if (!o->exported)
		return -ENOMEM;
	if (vm->nexported) /* vm->exported is NULL before the first */
		memcpy(o->exported, vm->exported, vm->nexported * sizeof(*o->exported));
	o->nexported = vm->nexported;
	return 0;
}

int vm_table_view(void *table, struct host_view *out)
{
	return vm_table_view_of(table, NULL, out);
}

/*
 * stolen_by read before the table lock is taken (its many system calls keep
 * neither the control socket nor rescans waiting); *seq says what the
 * table's rescan_seq was. Nothing read (pre->keys NULL) on failure.
 */
static void pre_read_culprits(struct vm_table *t, struct attrib_entries *pre, unsigned *seq)
{
	*seq = __atomic_load_n(&t->rescan_seq, __ATOMIC_SEQ_CST);
	if ((*seq & 1) || bpf_engine_attrib_read(t->bpf, &pre->keys, &pre->vals, &pre->n)) {
		free(pre->keys);
		free(pre->vals);
		*pre = (struct attrib_entries){ 0 };
	}
}

int vm_table_view_of(void *table, const char *vm_id, struct host_view *out)
{
	struct vm_table *t = table;
	int *slot_vm = malloc(ST_MAX_VCPUS * sizeof(*slot_vm));
	struct attrib_entries pre = { 0 };
	struct vm_entry **vms, *one[1];
	unsigned seq = 0;
	size_t nvms;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!slot_vm)
		return -ENOMEM;
	for (int i = 0; i < ST_MAX_VCPUS; i++)
		slot_vm[i] = -1;
	if (t->hooks->fill_culprits)
		pre_read_culprits(t, &pre, &seq);
	pthread_mutex_lock(&t->lock);
	/* a rescan since (slots reused, entries folded): what was read is stale */
	if (pre.keys && __atomic_load_n(&t->rescan_seq, __ATOMIC_SEQ_CST) != seq) {
		free(pre.keys);
		free(pre.vals);
		pre = (struct attrib_entries){ 0 };
	}
	vms = t->vms;
	nvms = t->nvms;
	if (vm_id) { /* one VM: only its slots are read */
		vms = one;
		nvms = 0;
		for (size_t i = 0; i < t->nvms && !nvms; i++)
			if (strcmp(t->vms[i]->id, vm_id) == 0)
				one[nvms++] = t->vms[i];
	}
	out->vms = calloc(nvms ? nvms : 1, sizeof(*out->vms));
	if (!out->vms) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nvms && !err; i++) {
		err = fill_vm_view(t, vms[i], &out->vms[i]);
		out->nvms = i + 1;
		if (!err)
			err = copy_exported(vms[i], &out->vms[i]);
		for (size_t j = 0; j < vms[i]->nvcpus; j++)
			slot_vm[vms[i]->vcpus[j].slot] = (int)i;
	}
	if (!err && out->nvms && t->hooks->fill_culprits)
		err = t->hooks->fill_culprits(t, out, slot_vm, pre.keys ? &pre : NULL);
	for (size_t i = 0; i < out->nvms && !err; i++)
		err = update_exported(t, vms[i], &out->vms[i]);
	out->stats.rescans = t->rescans;
	out->stats.process_rescans = t->process_rescans;
	out->stats.rescan_requests = t->rescan_requests;
	out->stats.discovery_errors = t->discovery_errors;
	out->stats.slots_exhausted = t->slots_exhausted + t->vms_dropped;
	out->stats.bind_failures = t->bind_failures;
	out->stats.bind_retries = t->bind_retries;
	out->stats.rescan_apply_ns = t->apply_lock_ns;
	out->stats.rescan_apply_max_ns = t->apply_lock_max_ns;
	out->top_culprits = t->top_culprits;
	out->vcpu_minimal = t->vcpu_minimal;
out:
	pthread_mutex_unlock(&t->lock);
	free(pre.keys);
	free(pre.vals);
	free(slot_vm);
	if (err) {
		host_view_free(out);
		return err;
	}
	out->stats.attribution_drops = bpf_engine_stat(t->bpf, ST_STAT_ATTRIB_DROPS);
	out->stats.ringbuf_drops = bpf_engine_stat(t->bpf, ST_STAT_RINGBUF_DROPS);
	out->stats.bad_slot = bpf_engine_stat(t->bpf, ST_STAT_BAD_SLOT);
	out->stats.stale_binding = bpf_engine_stat(t->bpf, ST_STAT_STALE_BINDING);
	out->stats.region_missing = bpf_engine_stat(t->bpf, ST_STAT_REGION_MISSING);
	qsort(out->vms, out->nvms, sizeof(*out->vms), cmp_vm);
	return 0;
}
