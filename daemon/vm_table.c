// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup_stat.h"
#include "log.h"
#include "rescan_reads.h"
#include "siphash.h"
#include "throttle_reads.h"
#include "vm_naming.h"
#include "vm_table.h"
#include "vm_throttle.h"

struct st_vcpu *vm_table_slot(struct vm_table *t, uint32_t slot)
{
	return slot < ST_MAX_VCPUS ? &t->bpf->vcpus[slot] : NULL;
}

/* ---- threads ------------------------------------------------------------ */

/*
 * Thread bindings are queued while a rescan walks what it found and carried
 * out together at its end (finish_bindings): the BPF bind_threads iterator
 * creates them, on every kernel with task storage.
 */
static void bind_thread(struct vm_table *t, struct vcpu_entry *c, pid_t tid)
{
	if (bpf_engine_bind_queue(t->bpf, tid, c->slot, true) == 0)
		c->pending_tid = tid;
}

/* Removes thread tid's binding to slot, if the thread still exists. */
static void unbind_thread(struct vm_table *t, pid_t tid, uint32_t slot)
{
	if (tid > 0)
		bpf_engine_bind_queue(t->bpf, tid, slot, false);
}

static const char *bind_error(uint32_t result)
{
	return result == ST_BIND_NO_STORAGE ? "no task storage" : "thread not found";
}

/* pid: the process whose threads alone were queued, 0 for any */
static void finish_bindings(struct vm_table *t, pid_t pid)
{
	int err = bpf_engine_bind_run(t->bpf, pid);

	for (size_t i = 0; i < t->nvms; i++) {
		struct vm_entry *vm = t->vms[i];

		for (size_t j = 0; j < vm->nvcpus; j++) {
			struct vcpu_entry *c = &vm->vcpus[j];
			uint32_t result;

			if (!c->pending_tid)
				continue;
			result = err ? ST_BIND_PENDING : bpf_engine_bind_result(t->bpf, c->pending_tid);
			if (result == ST_BIND_DONE) {
				c->tid = c->pending_tid;
				c->bind_failed = false;
				c->adopted = false;
			} else if (result == ST_BIND_CONTENDED) {
				/* lost twice to a rescan marker: c->tid stays, the next rescan binds it */
				t->bind_retries++;
				log_debug("vCPU %u of VM %s: thread %d's binding contended, retried "
					  "at the next rescan", c->vcpu_id, vm->id, c->pending_tid);
			} else if (!c->bind_failed || c->failed_tid != c->pending_tid) {
				/* once per thread until it works */
				c->bind_failed = true;
				c->failed_tid = c->pending_tid;
				t->bind_failures++;
				log_warning("vCPU %u of VM %s (pid %d): thread %d not bound (%s); "
					    "it is not measured until a rescan binds it "
					    "(stealtime_daemon_bind_failures_total)",
					    c->vcpu_id, vm->id, vm->pid, c->pending_tid,
					    err ? strerror(-err) : bind_error(result));
			}
			c->pending_tid = 0;
		}
	}
	bpf_engine_bind_clear(t->bpf);
}

/* ---- slots -------------------------------------------------------------- */

/* May vm (or the VM of pid) take what is kept for registered VMs? */
static bool may_use_reserve(const struct vm_table *t, const struct vm_entry *vm, pid_t pid)
{
	return t->adopting || (vm && vm->registered) || (pid > 0 && pid == t->registering_pid);
}

static int slot_alloc(struct vm_table *t, const struct vm_entry *vm, uint32_t vcpu_id)
{
	if (!may_use_reserve(t, vm, vm->pid) && t->nslots + t->reserved_vcpus >= t->max_vcpus &&
	    t->nslots < t->max_vcpus) {
		if (t->slots_exhausted++ % 100 == 0)
			log_warning("vCPU %u of VM %s not tracked: the last %u vCPU slots are kept "
				    "for registered VMs (limits.reserved_percent; "
				    "stealtime_daemon_slots_exhausted_total)", vcpu_id, vm->id,
				    t->reserved_vcpus);
		return -ENOSPC;
	}
	if (t->nslots >= t->max_vcpus) {
		if (t->slots_exhausted++ % 100 == 0)
			log_warning("limits.vcpus (%u) reached: vCPU %u of VM %s not tracked "
				    "(stealtime_daemon_slots_exhausted_total)", t->max_vcpus, vcpu_id,
				    vm->id);
		return -ENOSPC;
	}
	for (uint32_t i = 0; i < ST_MAX_VCPUS; i++) {
		struct st_vcpu *v = &t->bpf->vcpus[i];

		uint32_t gen;

		if (v->state != ST_VCPU_FREE || t->forget[i])
			continue;
		/* a thread still bound to the slot's last use no longer counts here */
		gen = v->gen + 1 ? v->gen + 1 : 1;
		memset(v, 0, sizeof(*v));
		v->gen = gen;
		v->vm_cookie = vm->cookie;
		v->vm_pid = vm->pid;
		v->vcpu_id = vcpu_id;
		__atomic_store_n(&v->state, ST_VCPU_USED, __ATOMIC_RELEASE);
		t->nslots++;
		return (int)i;
	}
	t->slots_exhausted++;
	return -ENOSPC;
}

static void slot_free(struct vm_table *t, uint32_t slot)
{
	struct st_vcpu *v = vm_table_slot(t, slot);

	if (!v)
		return;
	__atomic_store_n(&v->commit_flags, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&v->state, ST_VCPU_FREE, __ATOMIC_RELEASE);
	/* its stolen_by entries go in one pass over the map (forget_freed_slots) */
	if (!t->forget[slot]) {
		t->forget[slot] = true;
		t->nforget++;
	}
	t->nslots--;
}

/* ---- VMs ---------------------------------------------------------------- */

/*
 * The VMM's CPU cgroup (its name; the throttling sources are vm_throttle's):
 * pre, read by a walker, or read now (pre NULL)
 */
static void refresh_cgroup(struct vm_entry *vm, const struct vm_names *pre)
{
	struct vm_names now;

	if (!pre) {
		vm_names_read_cgroup(vm->pid, &now);
		pre = &now;
	}
	vm->cgroup_known = pre->cgroup_known;
	if (pre->cgroup_known) {
		memcpy(vm->cgroup, pre->cgroup, sizeof(vm->cgroup));
		vm->cgroup_v2 = pre->cgroup_v2;
	}
}

/* A VMM's names and CPU cgroup, pre as for refresh_cgroup() */
static void set_names(struct vm_entry *vm, const struct vm_names *pre)
{
	struct vm_names now;

	if (!pre) {
		vm_names_read(vm->pid, &now);
		pre = &now;
	}
	memcpy(vm->name, pre->name, sizeof(vm->name));
	memcpy(vm->uuid, pre->uuid, sizeof(vm->uuid));
	memcpy(vm->comm, pre->comm, sizeof(vm->comm));
	refresh_cgroup(vm, pre);
}

/*
 * A VM is its KVM instance in its process: the kernel may reuse a freed
 * VM's memory (so its cookie) for another process's new VM.
 */
static struct vm_entry *find_vm(struct vm_table *t, uint64_t cookie, pid_t pid)
{
	for (size_t i = 0; i < t->nvms; i++)
		if (t->vms[i]->cookie == cookie && t->vms[i]->pid == pid)
			return t->vms[i];
	return NULL;
}

/*
 * The VM's public id: SipHash-2-4 of cookie and pid (little-endian, 12
 * bytes) under the pinned secret key, so it is stable across daemon
 * restarts and tells nothing of the kernel's addresses.
 */
static void make_vm_id(const struct vm_table *t, struct vm_entry *vm)
{
	uint8_t msg[12];

	for (int i = 0; i < 8; i++)
		msg[i] = (uint8_t)(vm->cookie >> (8 * i));
	for (int i = 0; i < 4; i++)
		msg[8 + i] = (uint8_t)((uint32_t)vm->pid >> (8 * i));
	snprintf(vm->id, sizeof(vm->id), "%016" PRIx64,
		 siphash24(t->bpf->id_key.bytes, msg, sizeof(msg)));
}

struct vm_entry *vm_table_find_pid(struct vm_table *t, pid_t pid)
{
	for (size_t i = 0; i < t->nvms; i++)
		if (t->vms[i]->pid == pid)
			return t->vms[i];
	return NULL;
}

static struct vm_entry *add_vm(struct vm_table *t, uint64_t cookie, pid_t pid,
			       const struct vm_names *pre)
{
	struct vm_entry *vm;

	if (!may_use_reserve(t, NULL, pid) && t->nvms + t->reserved_vms >= t->max_vms &&
	    t->nvms < t->max_vms) {
		if (t->vms_dropped++ % 100 == 0)
			log_warning("VM of pid %d not tracked: the last %u VMs are kept for registered "
				    "VMs (limits.reserved_percent; stealtime_daemon_slots_exhausted_total)",
				    pid, t->reserved_vms);
		return NULL;
	}
	if (t->nvms >= t->max_vms) {
		if (t->vms_dropped++ % 100 == 0)
			log_warning("limits.vms (%u) reached: VM of pid %d not tracked "
				    "(stealtime_daemon_slots_exhausted_total)", t->max_vms, pid);
		return NULL;
	}
	if (t->nvms == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct vm_entry **n = realloc(t->vms, cap * sizeof(*n));

		if (!n)
			return NULL;
		t->vms = n;
		t->cap = cap;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->cookie = cookie;
	vm->pid = pid;
	vm->region_fd = -1;
	make_vm_id(t, vm);
	set_names(vm, pre);
	t->vms[t->nvms++] = vm;
	log_info("VM %s (%s, pid %d) found", vm->id, vm->name, pid);
	return vm;
}

struct vcpu_entry *vm_entry_vcpu(struct vm_entry *vm, uint32_t vcpu_id)
{
	for (size_t i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].vcpu_id == vcpu_id)
			return &vm->vcpus[i];
	return NULL;
}

static struct vcpu_entry *add_vcpu(struct vm_table *t, struct vm_entry *vm, uint32_t vcpu_id,
				   int slot)
{
	struct vcpu_entry *c;

	if (slot < 0)
		slot = slot_alloc(t, vm, vcpu_id);
	if (slot < 0)
		return NULL;
	if (vm->nvcpus == vm->cap) {
		size_t cap = vm->cap ? vm->cap * 2 : 4;
		struct vcpu_entry *n = realloc(vm->vcpus, cap * sizeof(*n));

		if (!n) {
			slot_free(t, slot);
			return NULL;
		}
		vm->vcpus = n;
		vm->cap = cap;
	}
	c = &vm->vcpus[vm->nvcpus++];
	memset(c, 0, sizeof(*c));
	c->vcpu_id = vcpu_id;
	c->slot = slot;
	c->thr_src = -1;
	return c;
}

static void retire_vcpu(struct vm_table *t, struct vcpu_entry *c)
{
	unbind_thread(t, c->tid, c->slot);
	slot_free(t, c->slot);
}

static void retire_vm(struct vm_table *t, size_t idx)
{
	struct vm_entry *vm = t->vms[idx];

	log_info("VM %s (%s, pid %d) gone", vm->id, vm->name, vm->pid);
	if (t->hooks->vm_retired)
		t->hooks->vm_retired(t, vm);
	for (size_t i = 0; i < vm->nvcpus; i++)
		retire_vcpu(t, &vm->vcpus[i]);
	vm_throttle_free(vm);
	free(vm->exported);
	free(vm->vcpus);
	free(vm);
	t->vms[idx] = t->vms[--t->nvms];
}

/* ---- rescan ------------------------------------------------------------- */

uint64_t vm_table_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/*
 * One record of a discovery that began at stamp. A whole walk is done off
 * the event loop, so a discovery of one process that began later may have
 * seen the same vCPU already: what it found (a newer thread) is kept.
 * reads: what the walker read of the processes (NULL: read here); not
 * used for a VM that a newer discovery found (older than that).
 */
static void apply_disc(struct vm_table *t, const struct st_disc *d, uint64_t stamp,
		       const struct rescan_reads *reads)
{
	struct vm_entry *vm = find_vm(t, d->vm_cookie, d->pid);
	const struct vm_names *pre = rescan_reads_proc(reads, (pid_t)d->pid);
	bool added = false;
	struct vcpu_entry *c;

	if (!vm) {
		vm = add_vm(t, d->vm_cookie, d->pid, pre);
		if (vm) {
			vm->seen_ns = stamp;
			added = true; /* its cgroup read with its names */
		}
	}
	if (!vm) {
		t->discovery_errors++;
		return;
	}
	if (!vm->seen && !added) /* once per rescan: the VMM may have been moved (libvirt does) */
		refresh_cgroup(vm, vm->seen_ns > stamp ? NULL : pre);
	vm->seen = true;
	if (stamp > vm->seen_ns)
		vm->seen_ns = stamp;
	if (d->vcpu_id == ST_DISC_VM)
		return;
	c = vm_entry_vcpu(vm, d->vcpu_id);
	if (!c) {
		c = add_vcpu(t, vm, d->vcpu_id, -1);
		if (c)
			c->seen_ns = stamp;
	}
	if (!c) {
		t->discovery_errors++;
		return;
	}
	c->seen = true;
	if (c->seen_ns > stamp)
		return; /* a newer discovery found it: its thread stands */
	c->seen_ns = stamp;
	if (d->tid && (pid_t)d->tid != c->tid) {
		/* first run, or KVM now runs this vCPU on another thread */
		unbind_thread(t, c->tid, c->slot);
		bind_thread(t, c, d->tid);
	} else if (d->tid && c->adopted) {
		/*
		 * bound by an earlier daemon: kept if it names this use of the
		 * slot; asked again at each rescan until a binding is done
		 */
		bind_thread(t, c, d->tid);
	}
}

/* Retires what a whole walk that began at stamp did not find, unless found since */
static void drop_unseen(struct vm_table *t, uint64_t stamp)
{
	for (size_t i = t->nvms; i-- > 0;) {
		struct vm_entry *vm = t->vms[i];

		if (!vm->seen && vm->seen_ns < stamp) {
			retire_vm(t, i);
			continue;
		}
		for (size_t j = vm->nvcpus; j-- > 0;) {
			if (vm->vcpus[j].seen || vm->vcpus[j].seen_ns >= stamp)
				continue;
			retire_vcpu(t, &vm->vcpus[j]);
			vm->vcpus[j] = vm->vcpus[--vm->nvcpus];
		}
	}
}

/* The stolen_by entries of the slots freed since the last time, in one pass */
static void forget_freed_slots(struct vm_table *t)
{
	if (!t->nforget)
		return;
	if (t->hooks->slots_freed)
		t->hooks->slots_freed(t, t->forget);
	memset(t->forget, 0, sizeof(t->forget));
	t->nforget = 0;
}

/*
 * Applies a whole walk's records d (freed here) that began at stamp, and
 * what was read of them (reads, may be NULL), lock held; a walk older than
 * the last one applied is dropped.
 */
static void apply_rescan(struct vm_table *t, struct st_disc *d, size_t n,
			 const struct rescan_reads *reads, uint64_t stamp)
{
	uint64_t at[6]; /* when each step ended, for the debug log */

	if (stamp <= t->whole_ns) {
		free(d);
		return;
	}
	t->whole_ns = stamp;
	at[0] = vm_table_clock_ns();
	/* odd from here to the end: views read without the lock re-read (vm_view.c) */
	__atomic_add_fetch(&t->rescan_seq, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < t->nvms; i++) {
		t->vms[i]->seen = false;
		for (size_t j = 0; j < t->vms[i]->nvcpus; j++)
			t->vms[i]->vcpus[j].seen = false;
	}
	for (size_t i = 0; i < n; i++)
		apply_disc(t, &d[i], stamp, reads);
	free(d);
	drop_unseen(t, stamp);
	at[1] = vm_table_clock_ns();
	finish_bindings(t, 0);
	at[2] = vm_table_clock_ns();
	/*
	 * after the bindings: the threads whose cgroups count are the bound
	 * ones (a thread the walk did not find, or a VM found since, read now)
	 */
	for (size_t i = 0; i < t->nvms; i++)
		vm_throttle_refresh(t->vms[i], t->vms[i]->seen_ns > stamp ? NULL : reads);
	at[3] = vm_table_clock_ns();
	forget_freed_slots(t);
	at[4] = vm_table_clock_ns();
	t->rescans++;
	if (t->hooks->rescanned)
		t->hooks->rescanned(t, reads ? reads->culprits : NULL);
	__atomic_add_fetch(&t->rescan_seq, 1, __ATOMIC_SEQ_CST);
	at[5] = vm_table_clock_ns();
	log_debug("rescan update (us): records %" PRIu64 ", bindings %" PRIu64 ", throttling %"
		  PRIu64 ", freed slots %" PRIu64 ", culprits' fold %" PRIu64,
		  (at[1] - at[0]) / 1000, (at[2] - at[1]) / 1000, (at[3] - at[2]) / 1000,
		  (at[4] - at[3]) / 1000, (at[5] - at[4]) / 1000);
}

int vm_table_rescan_locked(struct vm_table *t)
{
	uint64_t stamp = vm_table_clock_ns();
	struct st_disc *d;
	size_t n;
	int err;

	err = bpf_engine_discover(t->bpf, &d, &n);
	if (err) {
		t->discovery_errors++;
		return err;
	}
	apply_rescan(t, d, n, NULL, stamp);
	return 0;
}

/*
 * Process pid's VMs and vCPUs only, from a walk of its own files where the
 * kernel allows it (else a whole rescan): what a VMM's register or an
 * unknown vCPU of it needs, at the cost of one process. Nothing is retired
 * (the next whole rescan does that); lock held.
 */
int vm_table_rescan_pid_locked(struct vm_table *t, pid_t pid)
{
	uint64_t stamp = vm_table_clock_ns();
	struct st_disc *d;
	size_t n;
	int err;

	err = bpf_engine_discover_pid(t->bpf, pid, &d, &n);
	if (err == -EOPNOTSUPP)
		return vm_table_rescan_locked(t);
	if (err) {
		t->discovery_errors++;
		return err;
	}
	__atomic_add_fetch(&t->rescan_seq, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < n; i++)
		if ((pid_t)d[i].pid == pid) /* what the iterator walked, nothing else */
			apply_disc(t, &d[i], stamp, NULL);
	free(d);
	finish_bindings(t, pid);
	for (size_t i = 0; i < t->nvms; i++)
		if (t->vms[i]->pid == pid)
			vm_throttle_refresh(t->vms[i], NULL);
	t->process_rescans++;
	__atomic_add_fetch(&t->rescan_seq, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/*
 * The walk of every process's files, and the reads of what it found, are
 * done before the lock is taken: scrapes wait only for the table's update.
 * Only the event loop's thread rescans, so no other rescan applies between
 * the walk and the update.
 */
int vm_table_rescan(struct vm_table *t)
{
	uint64_t stamp = vm_table_clock_ns();
	struct rescan_reads *reads = NULL;
	struct st_disc *d;
	size_t n;
	int err;

	err = bpf_engine_discover(t->bpf, &d, &n);
	if (!err)
		reads = vm_table_read_walk(t, d, n);
	return vm_table_apply_walk(t, d, n, reads, err, stamp);
}

struct rescan_reads *vm_table_read_walk(struct vm_table *t, const struct st_disc *d, size_t n)
{
	struct rescan_reads *r = rescan_reads_walked(d, n);

	if (!r)
		return NULL;
	if (t->hooks->rescan_read)
		r->culprits = t->hooks->rescan_read(t->bpf);
	r->throttle = throttle_reads_take(t);
	return r;
}

int vm_table_apply_walk(struct vm_table *t, struct st_disc *d, size_t n,
			struct rescan_reads *reads, int err, uint64_t started_ns)
{
	uint64_t t0, held;

	pthread_mutex_lock(&t->lock);
	t0 = vm_table_clock_ns();
	if (err)
		t->discovery_errors++;
	else
		apply_rescan(t, d, n, reads, started_ns);
	held = vm_table_clock_ns() - t0;
	t->apply_lock_ns += held;
	if (held > t->apply_lock_max_ns)
		t->apply_lock_max_ns = held;
	pthread_mutex_unlock(&t->lock);
	rescan_reads_free(reads);
	return err;
}

/* ---- start-up ----------------------------------------------------------- */

/* A restarted daemon takes the VMs and vCPUs back from the pinned slots. */
static void adopt_slots(struct vm_table *t)
{
	for (uint32_t i = 0; i < ST_MAX_VCPUS; i++) {
		struct st_vcpu *v = &t->bpf->vcpus[i];
		struct vm_entry *vm;
		struct vcpu_entry *c;

		if (v->state != ST_VCPU_USED)
			continue;
		t->nslots++;
		vm = find_vm(t, v->vm_cookie, v->vm_pid);
		if (!vm)
			vm = add_vm(t, v->vm_cookie, v->vm_pid, NULL);
		c = vm ? add_vcpu(t, vm, v->vcpu_id, i) : NULL;
		if (!c) { /* over this start's limits: its thread must let go */
			unbind_thread(t, (pid_t)v->tid, i);
			slot_free(t, i);
			continue;
		}
		c->tid = v->tid;
		c->adopted = true;
		if (t->hooks->vcpu_adopted)
			t->hooks->vcpu_adopted(t, vm, c, v);
	}
}

int vm_table_init(struct vm_table *t, struct bpf_engine *bpf, const struct vm_table_hooks *hooks,
		  unsigned max_vms, unsigned max_vcpus)
{
	static const struct vm_table_hooks none;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->bpf = bpf;
	t->hooks = hooks ? hooks : &none;
	t->max_vms = max_vms;
	t->max_vcpus = max_vcpus > ST_MAX_VCPUS ? ST_MAX_VCPUS : max_vcpus;
	t->adopting = true; /* an earlier daemon's VMs, registered ones included */
	adopt_slots(t);
	t->adopting = false;
	forget_freed_slots(t);
	if (t->nvms)
		log_info("adopted %zu VMs from pinned maps", t->nvms);
	return 0;
}

void vm_table_reserve(struct vm_table *t, unsigned vms, unsigned vcpus)
{
	t->reserved_vms = vms < t->max_vms ? vms : 0;
	t->reserved_vcpus = vcpus < t->max_vcpus ? vcpus : 0;
}

void vm_table_free(struct vm_table *t)
{
	if (t->hooks->table_freed)
		t->hooks->table_freed(t);
	for (size_t i = 0; i < t->nvms; i++) {
		if (t->vms[i]->region_fd >= 0)
			close(t->vms[i]->region_fd);
		vm_throttle_free(t->vms[i]);
		free(t->vms[i]->exported);
		free(t->vms[i]->vcpus);
		free(t->vms[i]);
	}
	free(t->vms);
	t->vms = NULL;
	t->nvms = 0;
	pthread_mutex_destroy(&t->lock);
}
