// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_records.h"
#include "log.h"
#include "peer_identity.h"
#include "pvtime.h"

#define fail(err, ...) (snprintf(errbuf, errlen, __VA_ARGS__), (err))

/* The VM this connection registered; NULL when none (or it is gone). */
static struct vm_entry *owned_vm(struct vm_table *t, const struct control_peer *peer)
{
	for (size_t i = 0; i < t->nvms; i++)
		if (t->vms[i]->registered && t->vms[i]->owner == peer)
			return t->vms[i];
	return NULL;
}

static int region_create(struct vm_table *t, uint32_t *idx)
{
	uint32_t i;
	int fd;

	for (i = 0; i < ST_MAX_REGIONS && t->region_used[i]; i++)
		;
	if (i == ST_MAX_REGIONS)
		return -ENOSPC;
	fd = bpf_engine_region_add(t->bpf, i);
	if (fd < 0)
		return fd;
	t->region_used[i] = true;
	*idx = i;
	return fd;
}

/*
 * A rescan of peer's process (of the host before 6.1) on its behalf (a VM or vCPU it names is not known yet),
 * if the rescan limits allow one now: 0, or -EAGAIN with the wait in errbuf.
 */
static int rescan_for(struct guest_records_config *cfg, struct control_peer *peer, char *errbuf,
		      size_t errlen)
{
	static const struct rate def_proc = GUEST_RECORDS_RESCANS_PER_PROCESS;
	static const struct rate def_total = GUEST_RECORDS_RESCANS_TOTAL;
	const struct rate *proc = cfg->rescans_per_process.per_s ? &cfg->rescans_per_process : &def_proc;
	const struct rate *total = cfg->rescans_total.per_s ? &cfg->rescans_total : &def_total;
	uint64_t now = cfg->now_ns ? cfg->now_ns() : monotonic_ns();
	uint64_t wait = token_bucket_wait(&cfg->rescans, total, now);
	uint64_t wait_proc = peer->rescans ? token_bucket_wait(peer->rescans, proc, now) : 0;
	const char *which = "for all peers";

	if (wait_proc > wait) {
		wait = wait_proc;
		which = "for this process";
	}
	if (wait) {
		atomic_fetch_add_explicit(&cfg->rescans_refused, 1, memory_order_relaxed);
		return fail(-EAGAIN, "rescan rate limit %s: retry in %" PRIu64 " ms", which,
			    (wait + 999999) / 1000000);
	}
	token_bucket_take(&cfg->rescans);
	if (peer->rescans)
		token_bucket_take(peer->rescans);
	vm_table_rescan_pid_locked(cfg->table, peer->pid);
	return 0;
}

static int do_register(struct guest_records_config *cfg, struct control_peer *peer,
		       uint64_t region_ipa, struct control_reg *out, char *errbuf, size_t errlen)
{
	struct vm_table *t = cfg->table;
	struct vm_entry *vm;
	uint32_t idx = 0;
	int fd, err;

	if (owned_vm(t, peer))
		return fail(-EEXIST, "this connection already registered a VM");
	if (region_ipa % ST_REGION_SIZE)
		return fail(-EINVAL, "region_ipa 0x%" PRIx64 " is not 64 KiB aligned", region_ipa);
	vm = vm_table_find_pid(t, peer->pid);
	if (!vm) { /* a VM newer than the last rescan: it may take the reserve */
		t->registering_pid = peer->pid;
		err = rescan_for(cfg, peer, errbuf, errlen);
		t->registering_pid = 0;
		if (err)
			return err;
		vm = vm_table_find_pid(t, peer->pid);
	}
	if (!vm)
		return fail(-ESRCH, "process %d has no KVM VM", peer->pid);
	if (vm->registered && vm->owner) {
		struct control_peer *owner = vm->owner;

		/*
		 * Two live processes never share a pid: an owner with this pid
		 * that is not this process has exited, and the VM found under
		 * its pid is not this process's.
		 */
		if (!peer_same_process(owner, peer))
			return fail(-EBUSY, "VM %s is held by a connection of an exited process "
				    "with pid %d", vm->id, peer->pid);
		/* the VM is this process's: its newer connection takes it over */
		log_info("VM %s: pid %d registers again on a new connection, which takes it over",
			 vm->id, peer->pid);
		owner->vm = NULL;
		vm->owner = NULL;
	}
	if (vm->registered) {
		/* kept across a closed connection or a daemon restart: the VMM takes it back */
		if (vm->region_ipa != region_ipa)
			return fail(-EINVAL, "VM %s has its region at 0x%" PRIx64, vm->id,
				    vm->region_ipa);
	} else {
		fd = region_create(t, &idx);
		if (fd < 0)
			return fail(fd, "no region available: %s", strerror(-fd));
		vm->region = idx;
		vm->region_fd = fd;
		vm->region_ipa = region_ipa;
		vm->registered = true;
	}
	vm->owner = peer;
	peer->vm = vm;
	snprintf(out->vm_id, sizeof(out->vm_id), "%s", vm->id);
	out->region_fd = vm->region_fd;
	out->region_size = ST_REGION_SIZE;
	log_info("VM %s (%s) registered by pid %d, region %u at 0x%" PRIx64, vm->id, vm->name,
		 peer->pid, vm->region, vm->region_ipa);
	return 0;
}

static int gr_register(void *ctx, struct control_peer *peer, uint64_t region_ipa,
		       struct control_reg *out, char *errbuf, size_t errlen)
{
	struct guest_records_config *cfg = ctx;
	int err;

	pthread_mutex_lock(&cfg->table->lock);
	err = do_register(cfg, peer, region_ipa, out, errbuf, errlen);
	pthread_mutex_unlock(&cfg->table->lock);
	return err;
}

/* The vCPU of the peer's VM, rescanning once (rate limits allowing) if it is not known yet. */
static struct vcpu_entry *peer_vcpu(struct guest_records_config *cfg, struct control_peer *peer,
				    uint32_t id, struct vm_entry **vmp, char *errbuf, size_t errlen,
				    int *err)
{
	struct vm_table *t = cfg->table;
	struct vm_entry *vm = owned_vm(t, peer);
	struct vcpu_entry *c;

	*err = 0;
	if (!vm) {
		*err = fail(-ENOENT, "not registered (or the VM is gone)");
		return NULL;
	}
	c = vm_entry_vcpu(vm, id);
	if (!c) {
		*err = rescan_for(cfg, peer, errbuf, errlen);
		if (*err)
			return NULL;
		vm = owned_vm(t, peer);
		c = vm ? vm_entry_vcpu(vm, id) : NULL;
	}
	if (!c)
		*err = fail(-EINVAL, "the VM has no vCPU %u", id);
	*vmp = vm;
	return c;
}

/*
 * The most a migrated vCPU can have accumulated: no more than its VM has
 * lived, which is taken to be at most max_initial_steal_s, and never more
 * than the wall-clock time since the Unix epoch (no guest is older).
 */
static uint64_t initial_bound_ns(const struct guest_records_config *cfg)
{
	struct timespec ts;
	uint64_t cap = cfg->max_initial_steal_s * 1000000000ull;
	uint64_t epoch = 0;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 0)
		epoch = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return cap < epoch ? cap : epoch;
}

/* The record starts at initial_ns; a seed below what it holds is refused. */
static int seed_record(struct vm_table *t, struct vm_entry *vm, uint32_t record,
		       uint64_t initial_ns, char *errbuf, size_t errlen)
{
	struct st_record cur;
	int err;

	err = bpf_engine_read_record(vm->region_fd, record, &cur);
	if (err)
		return fail(err, "read record %u: %s", record, strerror(-err));
	if (initial_ns < cur.stolen_ns)
		return fail(-EINVAL, "initial_ns %" PRIu64 " is below the record's %" PRIu64,
			    initial_ns, (uint64_t)cur.stolen_ns);
	err = bpf_engine_seed_record(t->bpf, vm->region, record, initial_ns);
	if (err)
		return fail(err, "cannot write the record: %s", strerror(-err));
	return 0;
}

static int do_set_ipa(struct guest_records_config *cfg, struct control_peer *peer, uint32_t id,
		      uint64_t ipa, uint64_t initial_ns, char *errbuf, size_t errlen)
{
	struct vm_table *t = cfg->table;
	struct vm_entry *vm;
	struct vcpu_entry *c;
	struct st_vcpu *v;
	uint32_t record;
	int err;

	if (!cfg->commit_enabled)
		return fail(-ENXIO, "stolen time is disabled in the configuration");
	if (initial_ns > initial_bound_ns(cfg))
		return fail(-EINVAL, "initial_ns %" PRIu64 " is more than a guest can have "
			    "accumulated: at most %" PRIu64 " (limits.initial_steal_seconds %" PRIu64
			    ", and no more than the time since 1970)", initial_ns,
			    initial_bound_ns(cfg), cfg->max_initial_steal_s);
	c = peer_vcpu(cfg, peer, id, &vm, errbuf, errlen, &err);
	if (!c)
		return err;
	v = vm_table_slot(t, c->slot);
	if (v->commit_flags & ST_COMMIT_ON)
		return fail(-EEXIST, "vCPU %u already has its record at 0x%" PRIx64, id,
			    (uint64_t)v->record_ipa);
	/* the parser already refused a misaligned ipa */
	if (pvtime_check_ipa(ipa, vm->region_ipa, ST_REGION_SIZE, &record))
		return fail(-EINVAL, "ipa 0x%" PRIx64 " is not a record of the region 0x%" PRIx64
			    "+64KiB", ipa, vm->region_ipa);
	for (size_t i = 0; i < vm->nvcpus; i++) {
		struct st_vcpu *o = vm_table_slot(t, vm->vcpus[i].slot);

		if ((o->commit_flags & ST_COMMIT_ON) && o->record == record)
			return fail(-EEXIST, "ipa 0x%" PRIx64 " is vCPU %u's record", ipa,
				    vm->vcpus[i].vcpu_id);
	}
	err = seed_record(t, vm, record, initial_ns, errbuf, errlen);
	if (err)
		return err;
	v->region = vm->region;
	v->record = record;
	v->record_ipa = ipa;
	v->region_ipa = vm->region_ipa;
	v->commit_init = initial_ns;
	v->committed_ns = initial_ns;
	/* with no thread bound yet, BPF takes the base at the vCPU's next event */
	v->commit_base = v->steal_ns;
	__atomic_store_n(&v->base_pending, v->threads ? 0 : 1, __ATOMIC_RELAXED);
	__atomic_store_n(&v->commit_flags, ST_COMMIT_ON, __ATOMIC_RELEASE);
	log_info("VM %s vCPU %u: record at 0x%" PRIx64 " (starts at %" PRIu64 " ns)", vm->id, id,
		 ipa, initial_ns);
	return 0;
}

static int gr_set_ipa(void *ctx, struct control_peer *peer, uint32_t vcpu, uint64_t ipa,
		      bool has_initial, uint64_t initial_ns, char *errbuf, size_t errlen)
{
	struct guest_records_config *cfg = ctx;
	int err;

	pthread_mutex_lock(&cfg->table->lock);
	err = do_set_ipa(cfg, peer, vcpu, ipa, has_initial ? initial_ns : 0, errbuf, errlen);
	pthread_mutex_unlock(&cfg->table->lock);
	return err;
}

static int gr_smccc(void *ctx, struct control_peer *peer, uint32_t vcpu, uint64_t function,
		    uint64_t arg, int64_t *ret, char *errbuf, size_t errlen)
{
	struct guest_records_config *cfg = ctx;
	struct vm_table *t = cfg->table;
	struct vm_entry *vm;
	struct vcpu_entry *c;
	struct st_vcpu *v;
	int err = 0;

	/*
	 * A guest's call waits for this answer: no lock on the way. The table
	 * changes only on this thread (the event loop's), and the HTTP threads
	 * that take the lock only read what this reads. Only a vCPU not known
	 * yet takes the lock, for the rescan that finds it.
	 */
	vm = owned_vm(t, peer);
	c = vm ? vm_entry_vcpu(vm, vcpu) : NULL;
	if (!c) {
		pthread_mutex_lock(&t->lock);
		c = peer_vcpu(cfg, peer, vcpu, &vm, errbuf, errlen, &err);
		pthread_mutex_unlock(&t->lock);
	}
	if (c) {
		v = vm_table_slot(t, c->slot);
		*ret = pvtime_smccc(function, arg, cfg->commit_enabled,
				    __atomic_load_n(&v->commit_flags, __ATOMIC_ACQUIRE) & ST_COMMIT_ON,
				    v->record_ipa);
	}
	return err;
}

static int gr_snapshot(void *ctx, struct control_peer *peer, struct control_vcpu_value *vals,
		       size_t max, char *errbuf, size_t errlen)
{
	struct guest_records_config *cfg = ctx;
	struct vm_table *t = cfg->table;
	struct vm_entry *vm;
	int n = 0;

	pthread_mutex_lock(&t->lock);
	vm = owned_vm(t, peer);
	if (!vm) {
		n = fail(-ENOENT, "not registered (or the VM is gone)");
		goto out;
	}
	for (size_t i = 0; i < vm->nvcpus && (size_t)n < max; i++) {
		const volatile struct st_vcpu *v = vm_table_slot(t, vm->vcpus[i].slot);

		if (!(v->commit_flags & ST_COMMIT_ON))
			continue;
		vals[n].vcpu = vm->vcpus[i].vcpu_id;
		vals[n].stolen_ns = v->committed_ns;
		n++;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return n;
}

void guest_records_release(struct vm_table *t, struct vm_entry *vm)
{
	uint32_t idx = vm->region;

	if (!vm->registered)
		return;
	for (size_t i = 0; i < vm->nvcpus; i++) {
		struct st_vcpu *v = vm_table_slot(t, vm->vcpus[i].slot);

		__atomic_store_n(&v->commit_flags, 0, __ATOMIC_RELEASE);
		v->record_ipa = 0;
	}
	bpf_engine_region_remove(t->bpf, idx);
	if (vm->region_fd >= 0)
		close(vm->region_fd);
	vm->region_fd = -1;
	t->region_used[idx] = false;
	vm->registered = false;
	vm->owner = NULL;
	log_info("VM %s (%s): region %u released", vm->id, vm->name, idx);
}

static void gr_unregister(void *ctx, struct control_peer *peer)
{
	struct guest_records_config *cfg = ctx;
	struct vm_entry *vm;

	pthread_mutex_lock(&cfg->table->lock);
	vm = owned_vm(cfg->table, peer);
	if (vm)
		guest_records_release(cfg->table, vm);
	peer->vm = NULL;
	pthread_mutex_unlock(&cfg->table->lock);
}

static void gr_disconnect(void *ctx, struct control_peer *peer)
{
	struct guest_records_config *cfg = ctx;
	struct vm_entry *vm;

	pthread_mutex_lock(&cfg->table->lock);
	vm = owned_vm(cfg->table, peer);
	if (vm) {
		vm->owner = NULL;
		log_info("VM %s (%s): its VMM's connection closed; the registration stays until "
			 "the VMM unregisters or the VM ends", vm->id, vm->name);
	}
	peer->vm = NULL;
	pthread_mutex_unlock(&cfg->table->lock);
}

static bool gr_is_registered(void *ctx, pid_t pid)
{
	struct guest_records_config *cfg = ctx;
	struct vm_entry *vm;
	bool yes;

	pthread_mutex_lock(&cfg->table->lock);
	vm = vm_table_find_pid(cfg->table, pid);
	yes = vm && vm->registered;
	pthread_mutex_unlock(&cfg->table->lock);
	return yes;
}

void guest_records_adopt(struct vm_table *t, struct vm_entry *vm, struct vcpu_entry *c,
			 const struct st_vcpu *v)
{
	uint32_t idx = v->region;
	int fd;

	(void)c;
	if (!(v->commit_flags & ST_COMMIT_ON) || idx >= ST_MAX_REGIONS)
		return;
	vm->registered = true;
	vm->region = idx;
	vm->region_ipa = v->region_ipa;
	t->region_used[idx] = true;
	if (vm->region_fd >= 0)
		return;
	fd = bpf_engine_region_fd(t->bpf, idx);
	if (fd >= 0)
		vm->region_fd = fd;
	if (vm->region_fd < 0)
		log_warning("VM %s: region %u not found in the pinned map", vm->id, idx);
}

const struct control_ops guest_records_ops = {
	.register_vm = gr_register,
	.set_ipa = gr_set_ipa,
	.smccc = gr_smccc,
	.snapshot = gr_snapshot,
	.unregister = gr_unregister,
	.disconnect = gr_disconnect,
	.is_registered = gr_is_registered,
};
