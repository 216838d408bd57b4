// link: daemon/vm_table.c daemon/rescan_reads.c daemon/culprit_reads.c daemon/table_hooks.c daemon/siphash.c daemon/vm_view.c daemon/attribution.c daemon/guest_records.c daemon/pvtime.c daemon/cgroup_stat.c daemon/vm_throttle.c daemon/throttle_reads.c daemon/throttle_acc.c daemon/vm_naming.c daemon/host_view.c daemon/log.c tests/unit/fake_bpf_engine.c daemon/peer_identity.c daemon/feature_env.c daemon/rate_limit.c
// SPDX-License-Identifier: GPL-2.0
/*
 * The VM table kept in step with discovery (VMs, vCPUs, slots, thread
 * bindings, limits), rebuilt from pinned slots, and its views (vm_view.c),
 * on a double of the bpf_engine functions (tests/unit/fake_bpf_engine.c).
 * VMs get pids no process can have (above the kernel's PID_MAX_LIMIT), so
 * their names are the fallback "vm-PID".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_bpf_engine.h"
#include "table_hooks.h"
#include "host_view.h"
#include "log.h"
#include "vm_table.h"
#include "cgroup_stat.h"
#include "rescan_reads.h"

#define PID_A 5000001
#define PID_B 5000002
#define COOKIE_A 0xffff888112345000ull
#define COOKIE_B 0xffff888112346000ull

static void rescan(struct fake_env *env)
{
	assert_int_equal(vm_table_rescan(&env->t), 0);
}

/* VM A with vCPUs 0 and 1 on threads 101 and 102 */
static struct vm_entry *vm_a_with_two_vcpus(struct fake_env *env)
{
	fake_disc(env->f, COOKIE_A, PID_A, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 101);
	fake_disc(env->f, COOKIE_A, PID_A, 1, 102);
	rescan(env);
	assert_int_equal(env->t.nvms, 1);
	return env->t.vms[0];
}

/* --- discovery ------------------------------------------------------------- */

static void init__no_pinned_slots__empty_table(void **state)
{
	struct fake_env *env = *state;

	assert_int_equal(env->t.nvms, 0);
	assert_int_equal(env->t.nslots, 0);
	assert_int_equal(env->t.max_vms, 8);
	assert_int_equal(env->t.max_vcpus, 16);
	assert_int_equal(env->f->forget_calls, 0);
}

static void init__max_vcpus_above_slots__capped(void **state)
{
	struct fake_env *env = *state;
	struct vm_table t;

	vm_table_init(&t, &env->f->e, &daemon_table_hooks, 1, ST_MAX_VCPUS + 1);
	assert_int_equal(t.max_vcpus, ST_MAX_VCPUS);
	vm_table_free(&t);
}

static void rescan__new_vm_and_vcpus__slots_taken_and_threads_bound(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm = vm_a_with_two_vcpus(env);
	struct st_vcpu *s0, *s1;

	assert_int_equal(vm->pid, PID_A);
	assert_true(vm->cookie == COOKIE_A);
	assert_string_equal(vm->name, "vm-5000001");
	assert_false(vm->cgroup_known);
	assert_int_equal(vm->nvcpus, 2);
	assert_int_equal(env->t.nslots, 2);
	assert_int_equal(vm_entry_vcpu(vm, 0)->slot, 0);
	assert_int_equal(vm_entry_vcpu(vm, 1)->slot, 1);
	s0 = vm_table_slot(&env->t, 0);
	s1 = vm_table_slot(&env->t, 1);
	assert_int_equal(s0->state, ST_VCPU_USED);
	assert_true(s0->vm_cookie == COOKIE_A);
	assert_int_equal(s0->vm_pid, PID_A);
	assert_int_equal(s1->vcpu_id, 1);
	assert_int_equal(vm_table_slot(&env->t, 2)->state, ST_VCPU_FREE);
	/* bindings queued, run once, and taken as done */
	assert_int_equal(fake_bind_of(env->f, 101)->slot, 0);
	assert_true(fake_bind_of(env->f, 101)->bind);
	assert_int_equal(fake_bind_of(env->f, 102)->slot, 1);
	assert_int_equal(env->f->bind_runs, 1);
	assert_int_equal(vm_entry_vcpu(vm, 0)->tid, 101);
	assert_int_equal(vm_entry_vcpu(vm, 1)->tid, 102);
	assert_int_equal(vm_entry_vcpu(vm, 0)->pending_tid, 0);
	assert_int_equal(env->t.rescans, 1);
	assert_int_equal(env->t.discovery_errors, 0);
}

static void rescan__vcpu_before_first_run__tracked_not_bound(void **state)
{
	struct fake_env *env = *state;

	fake_disc(env->f, COOKIE_A, PID_A, 3, 0);
	rescan(env);
	assert_int_equal(env->t.nvms, 1);
	assert_int_equal(env->t.vms[0]->nvcpus, 1);
	assert_int_equal(vm_entry_vcpu(env->t.vms[0], 3)->tid, 0);
	assert_int_equal(env->f->nbinds, 0);
}

static void rescan__same_vm_again__nothing_changes(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm = vm_a_with_two_vcpus(env);

	rescan(env);
	assert_int_equal(env->t.nvms, 1);
	assert_ptr_equal(env->t.vms[0], vm);
	assert_int_equal(vm->nvcpus, 2);
	assert_int_equal(env->t.nslots, 2);
	assert_int_equal(env->f->nbinds, 2); /* no binding queued again */
	assert_int_equal(env->f->forget_calls, 0);
	assert_int_equal(env->t.rescans, 2);
}

static void rescan__cookie_reused_by_another_process__another_vm(void **state)
{
	struct fake_env *env = *state;

	fake_disc(env->f, COOKIE_A, PID_A, 0, 0);
	fake_disc(env->f, COOKIE_A, PID_B, 0, 0);
	rescan(env);
	assert_int_equal(env->t.nvms, 2);
	assert_ptr_equal(vm_table_find_pid(&env->t, PID_A), env->t.vms[0]);
	assert_ptr_equal(vm_table_find_pid(&env->t, PID_B), env->t.vms[1]);
	assert_string_not_equal(env->t.vms[0]->id, env->t.vms[1]->id);
	assert_int_equal(env->t.nslots, 2);
}

static void rescan__vcpu_on_another_thread__old_unbound_new_bound(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm = vm_a_with_two_vcpus(env);

	env->f->disc[1].tid = 201; /* vCPU 0 */
	rescan(env);
	assert_false(fake_bind_of(env->f, 101)->bind);
	assert_int_equal(fake_bind_of(env->f, 101)->slot, 0);
	assert_true(fake_bind_of(env->f, 201)->bind);
	assert_int_equal(fake_bind_of(env->f, 201)->slot, 0);
	assert_int_equal(vm_entry_vcpu(vm, 0)->tid, 201);
	assert_int_equal(vm_entry_vcpu(vm, 1)->tid, 102);
}

static void rescan__vcpu_gone__slot_freed_unbound_attribution_forgotten(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm = vm_a_with_two_vcpus(env);

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, 7, 100);
	fake_attrib(env->f, 1, ST_CULPRIT_PROCESS, 7, 200);
	env->f->ndisc = 2; /* vCPU 1 gone */
	rescan(env);
	assert_int_equal(vm->nvcpus, 1);
	assert_null(vm_entry_vcpu(vm, 1));
	assert_int_equal(env->t.nslots, 1);
	assert_int_equal(vm_table_slot(&env->t, 1)->state, ST_VCPU_FREE);
	assert_false(fake_bind_of(env->f, 102)->bind);
	/* slot 1's stolen_by entries deleted, slot 0's kept; the list is empty again */
	assert_int_equal(env->f->forget_calls, 1);
	assert_int_equal(env->f->nattrib, 1);
	assert_int_equal(env->f->keys[0].slot, 0);
	assert_int_equal(env->t.nforget, 0);
	assert_false(env->t.forget[1]);
}

static void rescan__freed_slot__reused_by_next_vcpu(void **state)
{
	struct fake_env *env = *state;

	vm_a_with_two_vcpus(env);
	env->f->ndisc = 2;
	rescan(env);
	fake_disc(env->f, COOKIE_A, PID_A, 5, 0);
	rescan(env);
	assert_int_equal(vm_entry_vcpu(env->t.vms[0], 5)->slot, 1);
	assert_int_equal(vm_table_slot(&env->t, 1)->vcpu_id, 5);
	assert_int_equal(env->t.nslots, 2);
	/* a thread still bound to the slot's first use no longer counts there */
	assert_int_equal(vm_table_slot(&env->t, 0)->gen, 1);
	assert_int_equal(vm_table_slot(&env->t, 1)->gen, 2);
}

static void rescan__binding__names_the_slot_generation(void **state)
{
	struct fake_env *env = *state;

	vm_a_with_two_vcpus(env);
	assert_int_equal(fake_bind_of(env->f, 102)->slot, 1);
	assert_int_equal(fake_bind_of(env->f, 102)->gen, vm_table_slot(&env->t, 1)->gen);
	assert_int_not_equal(fake_bind_of(env->f, 102)->gen, 0);
}

static void rescan__vm_gone__retired_with_its_slots(void **state)
{
	struct fake_env *env = *state;

	vm_a_with_two_vcpus(env);
	fake_disc(env->f, COOKIE_B, PID_B, 0, 301);
	rescan(env);
	assert_int_equal(env->t.nvms, 2);
	memmove(env->f->disc, env->f->disc + 3, sizeof(env->f->disc[0]));
	env->f->ndisc = 1; /* only VM B */
	rescan(env);
	assert_int_equal(env->t.nvms, 1);
	assert_int_equal(env->t.vms[0]->pid, PID_B);
	assert_null(vm_table_find_pid(&env->t, PID_A));
	assert_int_equal(env->t.nslots, 1);
	assert_int_equal(vm_table_slot(&env->t, 0)->state, ST_VCPU_FREE);
	assert_int_equal(vm_table_slot(&env->t, 1)->state, ST_VCPU_FREE);
	assert_int_equal(vm_table_slot(&env->t, 2)->state, ST_VCPU_USED);
	assert_false(fake_bind_of(env->f, 101)->bind);
	assert_false(fake_bind_of(env->f, 102)->bind);
	assert_true(fake_bind_of(env->f, 301)->bind);
}

static void rescan__discovery_fails__error_counted_table_kept(void **state)
{
	struct fake_env *env = *state;

	vm_a_with_two_vcpus(env);
	env->f->discover_err = -EIO;
	assert_int_equal(vm_table_rescan(&env->t), -EIO);
	assert_int_equal(env->t.discovery_errors, 1);
	assert_int_equal(env->t.rescans, 1);
	assert_int_equal(env->t.nvms, 1);
	assert_int_equal(env->t.vms[0]->nvcpus, 2);
}

static void rescan__max_vcpus_reached__vcpu_not_tracked_and_counted(void **state)
{
	struct fake_env *env = *state;

	env->t.max_vcpus = 2;
	vm_a_with_two_vcpus(env);
	fake_disc(env->f, COOKIE_A, PID_A, 2, 103);
	rescan(env);
	assert_int_equal(env->t.vms[0]->nvcpus, 2);
	assert_null(vm_entry_vcpu(env->t.vms[0], 2));
	assert_int_equal(env->t.nslots, 2);
	assert_int_equal(env->t.slots_exhausted, 1);
	assert_int_equal(env->t.discovery_errors, 1);
	assert_null(fake_bind_of(env->f, 103));
}

static void rescan__max_vms_reached__vm_dropped_and_counted(void **state)
{
	struct fake_env *env = *state;

	env->t.max_vms = 1;
	fake_disc(env->f, COOKIE_A, PID_A, 0, 0);
	fake_disc(env->f, COOKIE_B, PID_B, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_B, PID_B, 0, 0);
	rescan(env);
	assert_int_equal(env->t.nvms, 1);
	assert_null(vm_table_find_pid(&env->t, PID_B));
	assert_int_equal(env->t.vms_dropped, 2);
	assert_int_equal(env->t.discovery_errors, 2);
	assert_int_equal(env->t.nslots, 1);
}

static void rescan__reserve_reached__registered_vm_only_takes_the_rest(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm;

	vm_table_reserve(&env->t, 7, 15); /* an unregistered VM gets 1 VM and 1 vCPU slot */
	vm = vm_a_with_two_vcpus(env);
	assert_int_equal(vm->nvcpus, 1);
	assert_int_equal(env->t.slots_exhausted, 1);
	fake_disc(env->f, COOKIE_B, PID_B, ST_DISC_VM, 0);
	rescan(env);
	assert_null(vm_table_find_pid(&env->t, PID_B));
	assert_int_equal(env->t.vms_dropped, 1);
	vm->registered = true; /* what guest_records does at register */
	rescan(env);
	assert_int_equal(vm->nvcpus, 2);
	assert_int_equal(vm_entry_vcpu(vm, 1)->tid, 102);
	assert_int_equal(env->t.nslots, 2);
	/* a reserve that leaves nothing to others is not applied */
	vm_table_reserve(&env->t, 8, 16);
	assert_int_equal(env->t.reserved_vms, 0);
	assert_int_equal(env->t.reserved_vcpus, 0);
}

static void rescan_pid__kernel_walks_one_process__only_its_vms_added_nothing_retired(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *b;

	env->f->e.discover_by_pid = true;
	vm_a_with_two_vcpus(env);
	env->f->ndisc = 0; /* VM A gone from the kernel's view, VM B new */
	fake_disc(env->f, COOKIE_B, PID_B, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_B, PID_B, 0, 201);
	pthread_mutex_lock(&env->t.lock);
	assert_int_equal(vm_table_rescan_pid_locked(&env->t, PID_B), 0);
	pthread_mutex_unlock(&env->t.lock);
	assert_int_equal(env->f->pid_discoveries, 1);
	assert_int_equal(env->t.rescans, 1); /* only vm_a_with_two_vcpus's */
	assert_int_equal(env->t.process_rescans, 1);
	assert_int_equal(env->t.nvms, 2); /* A stays until a whole rescan */
	b = vm_table_find_pid(&env->t, PID_B);
	assert_non_null(b);
	assert_int_equal(vm_entry_vcpu(b, 0)->tid, 201);
	assert_int_equal(env->t.rescan_seq % 2, 0);
	rescan(env);
	assert_null(vm_table_find_pid(&env->t, PID_A));
}

/* A copy of the double's records now, as a walk that began now hands them back */
static struct st_disc *walk_now(struct fake_env *env, size_t *n)
{
	struct st_disc *d;

	assert_int_equal(bpf_engine_discover(&env->f->e, &d, n), 0);
	return d;
}

static void apply_walk__process_found_since_the_walk_began__kept_with_its_thread(void **state)
{
	struct fake_env *env = *state;
	uint64_t began;
	struct st_disc *d;
	struct vm_entry *b;
	size_t n;

	env->f->e.discover_by_pid = true;
	vm_a_with_two_vcpus(env);
	began = vm_table_clock_ns();
	d = walk_now(env, &n); /* VM A only */
	/* meanwhile VM B registers (found alone), and VM A's vCPU 0 moves to thread 111 */
	env->f->ndisc = 0;
	fake_disc(env->f, COOKIE_A, PID_A, 0, 111);
	fake_disc(env->f, COOKIE_A, PID_A, 1, 102);
	fake_disc(env->f, COOKIE_B, PID_B, 0, 201);
	pthread_mutex_lock(&env->t.lock);
	assert_int_equal(vm_table_rescan_pid_locked(&env->t, PID_B), 0);
	assert_int_equal(vm_table_rescan_pid_locked(&env->t, PID_A), 0);
	pthread_mutex_unlock(&env->t.lock);
	assert_int_equal(vm_entry_vcpu(env->t.vms[0], 0)->tid, 111);
	/* the walk's older records: B not retired, vCPU 0 not sent back to thread 101 */
	assert_int_equal(vm_table_apply_walk(&env->t, d, n, NULL, 0, began), 0);
	b = vm_table_find_pid(&env->t, PID_B);
	assert_non_null(b);
	assert_int_equal(b->nvcpus, 1);
	assert_int_equal(vm_entry_vcpu(vm_table_find_pid(&env->t, PID_A), 0)->tid, 111);
	assert_int_equal(fake_bind_of(env->f, 111)->bind, true);
	assert_int_equal(env->t.rescans, 2);
	/* a walk older than the last one applied changes nothing */
	env->f->ndisc = 0;
	d = walk_now(env, &n);
	assert_int_equal(vm_table_apply_walk(&env->t, d, n, NULL, 0, began - 1), 0);
	assert_int_equal(env->t.nvms, 2);
	assert_int_equal(env->t.rescans, 2);
	/* a newer one with nothing in it retires both */
	d = walk_now(env, &n);
	assert_int_equal(vm_table_apply_walk(&env->t, d, n, NULL, 0, vm_table_clock_ns()), 0);
	assert_int_equal(env->t.nvms, 0);
}

/* What a walker read of VM A (pid PID_A, threads 101 and 102): names, and cgroups of its own */
static struct rescan_reads *reads_of_vm_a(void)
{
	struct rescan_reads *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->procs = calloc(1, sizeof(*r->procs));
	r->threads = calloc(2, sizeof(*r->threads));
	assert_non_null(r->procs);
	assert_non_null(r->threads);
	r->nprocs = 1;
	r->procs[0].pid = PID_A;
	snprintf(r->procs[0].names.name, sizeof(r->procs[0].names.name), "read-by-walker");
	snprintf(r->procs[0].names.cgroup, sizeof(r->procs[0].names.cgroup), "/machine.slice/a");
	r->procs[0].names.cgroup_v2 = true;
	r->procs[0].names.cgroup_known = true;
	r->nthreads = 2;
	for (int i = 0; i < 2; i++) {
		r->threads[i].pid = PID_A;
		r->threads[i].tid = 101 + i;
		r->threads[i].v2 = true;
		r->threads[i].known = true;
		snprintf(r->threads[i].path, sizeof(r->threads[i].path), "/machine.slice/a/vcpu%d", i);
	}
	return r;
}

static void apply_walk__reads_given__names_and_cgroups_from_them(void **state)
{
	struct fake_env *env = *state;
	uint64_t began = vm_table_clock_ns();
	struct st_disc *d;
	struct vm_entry *vm;
	size_t n;

	fake_disc(env->f, COOKIE_A, PID_A, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 101);
	fake_disc(env->f, COOKIE_A, PID_A, 1, 102);
	d = walk_now(env, &n);
	/* no process has pid PID_A: anything read under the lock would be "vm-PID", no cgroup */
	assert_int_equal(vm_table_apply_walk(&env->t, d, n, reads_of_vm_a(), 0, began), 0);
	vm = vm_table_find_pid(&env->t, PID_A);
	assert_non_null(vm);
	assert_string_equal(vm->name, "read-by-walker");
	assert_true(vm->cgroup_known);
	assert_string_equal(vm->cgroup, "/machine.slice/a");
	/* the threads' cgroups: each vCPU's own, under the VM's */
	assert_string_equal(vm->thr_top, "/machine.slice/a");
	assert_true(vm_entry_vcpu(vm, 0)->thr_src >= 0);
	assert_true(vm_entry_vcpu(vm, 1)->thr_src >= 0);
	assert_true(vm_entry_vcpu(vm, 0)->thr_src != vm_entry_vcpu(vm, 1)->thr_src);
}

static void apply_walk__vm_found_since_the_walk_began__its_reads_not_used(void **state)
{
	struct fake_env *env = *state;
	uint64_t began;
	struct st_disc *d;
	struct vm_entry *vm;
	size_t n;

	env->f->e.discover_by_pid = true;
	vm_a_with_two_vcpus(env);
	began = vm_table_clock_ns();
	d = walk_now(env, &n);
	pthread_mutex_lock(&env->t.lock);
	assert_int_equal(vm_table_rescan_pid_locked(&env->t, PID_A), 0);
	pthread_mutex_unlock(&env->t.lock);
	/* what the walker read is older than that discovery: read again (nothing to read) */
	assert_int_equal(vm_table_apply_walk(&env->t, d, n, reads_of_vm_a(), 0, began), 0);
	vm = vm_table_find_pid(&env->t, PID_A);
	assert_false(vm->cgroup_known);
	assert_string_equal(vm->thr_top, "");
	assert_int_equal(vm_entry_vcpu(vm, 0)->thr_src, -1);
}

static void reads_walked__own_process__names_and_thread_cgroup(void **state)
{
	struct st_disc d[3] = {
		{ .pid = (uint32_t)getpid(), .vcpu_id = ST_DISC_VM },
		{ .pid = (uint32_t)getpid(), .vcpu_id = 0, .tid = (uint32_t)gettid() },
		{ .pid = (uint32_t)getpid(), .vcpu_id = 1, .tid = (uint32_t)gettid() },
	};
	struct rescan_reads *r = rescan_reads_walked(d, 3);
	const struct thread_read *t;
	char path[THROTTLE_PATH_LEN];
	bool v2;

	(void)state;
	assert_non_null(r);
	assert_int_equal(r->nprocs, 1);
	assert_int_equal(r->nthreads, 1);
	assert_non_null(rescan_reads_proc(r, getpid()));
	assert_string_equal(rescan_reads_proc(r, getpid())->comm, "test_vm_table");
	assert_null(rescan_reads_proc(r, PID_A));
	t = rescan_reads_thread(r, getpid(), gettid());
	assert_non_null(t);
	assert_int_equal(t->known, cgroup_thread_path(getpid(), gettid(), path, sizeof(path), &v2) == 0);
	if (t->known)
		assert_string_equal(t->path, path);
	assert_null(rescan_reads_thread(r, getpid(), gettid() + 1));
	assert_null(rescan_reads_thread(NULL, getpid(), gettid()));
	rescan_reads_free(r);
}

static void rescan_pid__kernel_cannot__whole_rescan(void **state)
{
	struct fake_env *env = *state;

	env->f->e.discover_by_pid = false;
	vm_a_with_two_vcpus(env);
	fake_disc(env->f, COOKIE_B, PID_B, 0, 201);
	pthread_mutex_lock(&env->t.lock);
	assert_int_equal(vm_table_rescan_pid_locked(&env->t, PID_A), 0);
	pthread_mutex_unlock(&env->t.lock);
	assert_int_equal(env->t.rescans, 2);
	assert_int_equal(env->t.process_rescans, 0);
	assert_non_null(vm_table_find_pid(&env->t, PID_B));
}

static void rescan__binding_fails__counted_once_until_it_works(void **state)
{
	struct fake_env *env = *state;
	struct vcpu_entry *c;

	env->f->bind_fail_tid = 102;
	env->f->bind_fail_result = ST_BIND_NO_STORAGE;
	c = vm_entry_vcpu(vm_a_with_two_vcpus(env), 1);
	assert_int_equal(c->tid, 0);
	assert_true(c->bind_failed);
	assert_int_equal(env->t.bind_failures, 1);
	rescan(env); /* tried again, still failing: not counted again */
	assert_int_equal(env->f->nbinds, 3);
	assert_int_equal(env->t.bind_failures, 1);
	env->f->bind_fail_tid = 0;
	rescan(env);
	assert_int_equal(c->tid, 102);
	assert_false(c->bind_failed);
	assert_int_equal(env->t.bind_failures, 1);
}

static void rescan__another_thread_fails__counted_again(void **state)
{
	struct fake_env *env = *state;
	struct vcpu_entry *c;

	env->f->bind_fail_tid = 102;
	env->f->bind_fail_result = ST_BIND_PENDING; /* gone, KVM still names it */
	c = vm_entry_vcpu(vm_a_with_two_vcpus(env), 1);
	rescan(env);
	rescan(env);
	assert_int_equal(env->t.bind_failures, 1);
	env->f->ndisc = 0; /* vCPU 1 now names thread 103, gone too */
	fake_disc(env->f, COOKIE_A, PID_A, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 101);
	fake_disc(env->f, COOKIE_A, PID_A, 1, 103);
	env->f->bind_fail_tid = 103;
	rescan(env);
	rescan(env);
	assert_int_equal(c->tid, 0);
	assert_int_equal(env->t.bind_failures, 2);
}

static void rescan__binding_contended__retried_next_rescan_not_a_failure(void **state)
{
	struct fake_env *env = *state;
	struct vcpu_entry *c;

	env->f->bind_fail_tid = 102;
	env->f->bind_fail_result = ST_BIND_CONTENDED;
	c = vm_entry_vcpu(vm_a_with_two_vcpus(env), 1);
	assert_int_equal(c->tid, 0);
	assert_false(c->bind_failed);
	assert_int_equal(env->t.bind_failures, 0);
	assert_int_equal(env->t.bind_retries, 1);
	env->f->bind_fail_tid = 0;
	rescan(env); /* asked again, and bound */
	assert_int_equal(env->f->nbinds, 3);
	assert_int_equal(c->tid, 102);
	assert_int_equal(env->t.bind_failures, 0);
	assert_int_equal(env->t.bind_retries, 1);
}

static void rescan__binding_run_fails__every_new_binding_failed(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm;

	env->f->bind_run_err = -ENOMEM;
	vm = vm_a_with_two_vcpus(env);
	assert_int_equal(vm_entry_vcpu(vm, 0)->tid, 0);
	assert_int_equal(vm_entry_vcpu(vm, 1)->tid, 0);
	assert_int_equal(env->t.bind_failures, 2);
}

/* --- ids, lookups ----------------------------------------------------------- */

static void vm_id__cookie_and_pid__fixed_hash_without_the_pointer(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm = vm_a_with_two_vcpus(env);

	/*
	 * SipHash-2-4 of cookie and pid (little-endian, 12 bytes) under the key
	 * 00..0f, computed apart; a restarted daemon gives the same id
	 */
	assert_string_equal(vm->id, "c23b7fdcb773e2a4");
	assert_null(strstr(vm->id, "112345"));
}

static void vm_id__small_cookie__sixteen_hex_digits(void **state)
{
	struct fake_env *env = *state;

	fake_disc(env->f, 0x1000, 42, ST_DISC_VM, 0);
	rescan(env);
	assert_string_equal(env->t.vms[0]->id, "aac2273b27a43e89");
}

static void vm_table_slot__out_of_range__null(void **state)
{
	struct fake_env *env = *state;

	assert_ptr_equal(vm_table_slot(&env->t, ST_MAX_VCPUS - 1),
			 &env->f->e.vcpus[ST_MAX_VCPUS - 1]);
	assert_null(vm_table_slot(&env->t, ST_MAX_VCPUS));
	assert_null(vm_table_slot(&env->t, ST_SLOT_NONE));
}

static void find__unknown_pid_or_vcpu__null(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm = vm_a_with_two_vcpus(env);

	assert_null(vm_table_find_pid(&env->t, PID_B));
	assert_null(vm_entry_vcpu(vm, 2));
	assert_int_equal(vm_entry_vcpu(vm, 1)->vcpu_id, 1);
}

static void names__live_process__comm_and_comm_pid_name(void **state)
{
	struct fake_env *env = *state;
	char want[64];
	struct vm_entry *vm;

	fake_disc(env->f, COOKIE_A, getpid(), ST_DISC_VM, 0);
	rescan(env);
	vm = env->t.vms[0];
	assert_string_equal(vm->comm, "test_vm_table");
	/* no VMM command line, no libvirt scope: comm-pid */
	snprintf(want, sizeof(want), "test_vm_table-%d", getpid());
	assert_string_equal(vm->name, want);
	assert_true(vm->cgroup_known);
	assert_int_equal(vm->cgroup[0], '/');
}

/*
 * This process as a VM, its main thread running vCPUs 0 and 1 one after the
 * other: the VM's cgroup is the process's, a source of throttling when its
 * cpu.stat has a throttled count; the vCPUs share it, so neither has a
 * counter of its own until vCPU 1 is gone. No view ever goes down.
 */
static void throttle__live_process__its_cgroup_shared_then_own(void **state)
{
	struct fake_env *env = *state;
	struct host_view hv;
	char path[256];
	uint64_t ns, first;
	bool v2, readable;

	assert_int_equal(cgroup_process_path(getpid(), path, sizeof(path), &v2), 0);
	readable = cgroup_read_throttled("/sys/fs/cgroup", path, v2, &ns) == 0;
	fake_disc(env->f, COOKIE_A, getpid(), ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, getpid(), 0, getpid());
	fake_disc(env->f, COOKIE_A, getpid(), 1, getpid());
	rescan(env);
	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_string_equal(hv.vms[0].cgroup, path);
	assert_int_equal(hv.vms[0].throttled_known, readable);
	assert_false(hv.vms[0].vcpus[0].throttled_known);
	assert_false(hv.vms[0].vcpus[1].throttled_known);
	first = hv.vms[0].throttled_ns;
	host_view_free(&hv);

	env->f->ndisc = 0; /* vCPU 1 gone: vCPU 0's cgroup is its own */
	fake_disc(env->f, COOKIE_A, getpid(), ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, getpid(), 0, getpid());
	rescan(env);
	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_int_equal(hv.vms[0].nvcpus, 1);
	assert_int_equal(hv.vms[0].vcpus[0].throttled_known, readable);
	assert_true(hv.vms[0].throttled_ns >= first);
	assert_true(hv.vms[0].vcpus[0].throttled_ns <= hv.vms[0].throttled_ns);
	host_view_free(&hv);
}

/* --- start-up from pinned slots ------------------------------------------- */

static void pin_slot(struct fake_env *env, uint32_t slot, uint64_t cookie, pid_t pid,
		     uint32_t vcpu, pid_t tid)
{
	struct st_vcpu *v = &env->f->e.vcpus[slot];

	v->state = ST_VCPU_USED;
	v->vm_cookie = cookie;
	v->vm_pid = (uint32_t)pid;
	v->vcpu_id = vcpu;
	v->tid = (uint32_t)tid;
}

static void init__pinned_slots__vms_and_vcpus_adopted(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *a, *b;
	struct vm_table t;

	pin_slot(env, 5, COOKIE_A, PID_A, 0, 101);
	pin_slot(env, 9, COOKIE_A, PID_A, 1, 102);
	pin_slot(env, 12, COOKIE_B, PID_B, 0, 0);
	vm_table_init(&t, &env->f->e, &daemon_table_hooks, 8, 16);
	assert_int_equal(t.nvms, 2);
	assert_int_equal(t.nslots, 3);
	a = vm_table_find_pid(&t, PID_A);
	b = vm_table_find_pid(&t, PID_B);
	assert_int_equal(a->nvcpus, 2);
	assert_int_equal(vm_entry_vcpu(a, 0)->slot, 5);
	assert_int_equal(vm_entry_vcpu(a, 0)->tid, 101);
	assert_int_equal(vm_entry_vcpu(a, 1)->slot, 9);
	assert_int_equal(vm_entry_vcpu(b, 0)->slot, 12);
	assert_false(a->registered);
	assert_int_equal(env->f->forget_calls, 0);
	vm_table_free(&t);
}

static void init__pinned_beyond_max_vms__dropped_threads_unbound(void **state)
{
	struct fake_env *env = *state;
	struct vm_table t;

	pin_slot(env, 5, COOKIE_A, PID_A, 0, 101);
	pin_slot(env, 9, COOKIE_B, PID_B, 0, 301);
	vm_table_init(&t, &env->f->e, &daemon_table_hooks, 1, 16);
	assert_int_equal(t.nvms, 1);
	assert_int_equal(t.nslots, 1);
	assert_int_equal(env->f->e.vcpus[9].state, ST_VCPU_FREE);
	/* the freed slot's thread lets go: it must not count into the slot's next use */
	assert_non_null(fake_bind_of(env->f, 301));
	assert_false(fake_bind_of(env->f, 301)->bind);
	assert_int_equal(fake_bind_of(env->f, 301)->slot, 9);
	assert_null(fake_bind_of(env->f, 101));
	vm_table_free(&t);
}

static void init__adopted_binding__checked_at_the_first_rescan_only(void **state)
{
	struct fake_env *env = *state;
	struct vm_table t;

	pin_slot(env, 5, COOKIE_A, PID_A, 0, 101);
	env->f->e.vcpus[5].gen = 7;
	vm_table_init(&t, &env->f->e, &daemon_table_hooks, 8, 16);
	fake_disc(env->f, COOKIE_A, PID_A, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 101);
	assert_int_equal(vm_table_rescan(&t), 0);
	/* same thread: queued again, BPF keeps it if it names generation 7 */
	assert_true(fake_bind_of(env->f, 101)->bind);
	assert_int_equal(fake_bind_of(env->f, 101)->slot, 5);
	assert_int_equal(fake_bind_of(env->f, 101)->gen, 7);
	env->f->nbinds = env->f->bind_first = 0;
	assert_int_equal(vm_table_rescan(&t), 0);
	assert_null(fake_bind_of(env->f, 101));
	vm_table_free(&t);
}

static void init__adopted_binding_contended__asked_again_until_done(void **state)
{
	struct fake_env *env = *state;
	struct vm_table t;

	pin_slot(env, 5, COOKIE_A, PID_A, 0, 101);
	env->f->e.vcpus[5].gen = 7;
	vm_table_init(&t, &env->f->e, &daemon_table_hooks, 8, 16);
	env->f->bind_fail_tid = 101;
	env->f->bind_fail_result = ST_BIND_CONTENDED;
	fake_disc(env->f, COOKIE_A, PID_A, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 101);
	assert_int_equal(vm_table_rescan(&t), 0);
	assert_int_equal(t.bind_retries, 1);
	/* the pinned binding may name an older use of the slot: asked again */
	env->f->bind_fail_tid = 0;
	env->f->nbinds = env->f->bind_first = 0;
	assert_int_equal(vm_table_rescan(&t), 0);
	assert_true(fake_bind_of(env->f, 101)->bind);
	assert_int_equal(fake_bind_of(env->f, 101)->gen, 7);
	env->f->nbinds = env->f->bind_first = 0;
	assert_int_equal(vm_table_rescan(&t), 0);
	assert_null(fake_bind_of(env->f, 101));
	assert_int_equal(vm_table_find_pid(&t, PID_A)->vcpus[0].tid, 101);
	vm_table_free(&t);
}

static void init__pinned_commit__registration_and_region_adopted(void **state)
{
	struct fake_env *env = *state;
	struct vm_entry *vm;
	struct vm_table t;

	pin_slot(env, 0, COOKIE_A, PID_A, 0, 101);
	env->f->e.vcpus[0].commit_flags = ST_COMMIT_ON;
	env->f->e.vcpus[0].region = 3;
	env->f->e.vcpus[0].region_ipa = 0x50000000;
	fake_pin_region(env->f, 3);
	vm_table_init(&t, &env->f->e, &daemon_table_hooks, 8, 16);
	vm = t.vms[0];
	assert_true(vm->registered);
	assert_int_equal(vm->region, 3);
	assert_int_equal(vm->region_ipa, 0x50000000);
	assert_true(t.region_used[3]);
	assert_false(t.region_used[0]);
	assert_true(vm->region_fd >= 0);
	assert_int_not_equal(vm->region_fd, env->f->region_fds[3]); /* its own fd */
	assert_null(vm->owner);
	vm_table_free(&t);
	close(env->f->region_fds[3]);
}

/* --- views ------------------------------------------------------------------ */

static void view__vms_and_vcpus__sorted_with_counters(void **state)
{
	struct fake_env *env = *state;
	struct host_view hv;

	fake_disc(env->f, COOKIE_A, PID_A, 2, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 0);
	fake_disc(env->f, 0x1000, 42, ST_DISC_VM, 0);
	rescan(env);
	env->f->e.vcpus[0].steal_ns = 1000;  /* vCPU 2 */
	env->f->e.vcpus[0].max_wait_ns = 70;
	env->f->e.vcpus[1].max_wait_ns = 90; /* vCPU 0 */
	env->f->e.vcpus[1].hist[4] = 3;
	env->t.slots_exhausted = 2;
	env->t.vms_dropped = 1;
	env->f->stats[ST_STAT_ATTRIB_DROPS] = 6;
	env->f->stats[ST_STAT_BAD_SLOT] = 4;
	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_int_equal(hv.nvms, 2);
	assert_string_equal(hv.vms[0].id, "aac2273b27a43e89"); /* by id */
	assert_string_equal(hv.vms[1].id, "c23b7fdcb773e2a4");
	assert_int_equal(hv.vms[1].nvcpus, 2);
	assert_int_equal(hv.vms[1].vcpus[0].index, 0);
	assert_int_equal(hv.vms[1].vcpus[0].hist[4], 3);
	assert_int_equal(hv.vms[1].vcpus[1].index, 2);
	assert_int_equal(hv.vms[1].vcpus[1].steal_ns, 1000);
	assert_false(hv.vms[1].vcpus[1].bound);
	assert_int_equal(hv.vms[1].max_wait_ns, 90);
	assert_int_equal(hv.vms[0].nvcpus, 0);
	assert_int_equal(hv.stats.rescans, 1);
	assert_int_equal(hv.stats.slots_exhausted, 3);
	assert_int_equal(hv.stats.attribution_drops, 6);
	assert_int_equal(hv.stats.bad_slot, 4);
	host_view_free(&hv);
}

static void view_of__one_id__that_vm_only_with_its_culprits(void **state)
{
	struct fake_env *env = *state;
	struct host_view hv;

	vm_a_with_two_vcpus(env);
	fake_disc(env->f, COOKIE_B, PID_B, 0, 201);
	rescan(env);
	env->f->e.vcpus[2].steal_ns = 1000; /* VM B's vCPU */
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, 77, 500);
	fake_attrib(env->f, 2, ST_CULPRIT_PROCESS, 78, 900);
	assert_int_equal(vm_table_view_of(&env->t, vm_table_find_pid(&env->t, PID_B)->id, &hv), 0);
	assert_int_equal(hv.nvms, 1);
	assert_int_equal(hv.vms[0].pid, PID_B);
	assert_int_equal(hv.vms[0].nvcpus, 1);
	assert_int_equal(hv.vms[0].vcpus[0].steal_ns, 1000);
	assert_int_equal(hv.vms[0].nculprits, 1); /* its own, not VM A's */
	assert_int_equal(hv.vms[0].culprits[0].ns, 900);
	assert_int_equal(hv.stats.rescans, 2);
	host_view_free(&hv);
	assert_int_equal(vm_table_view_of(&env->t, "0000000000000000", &hv), 0);
	assert_int_equal(hv.nvms, 0);
	host_view_free(&hv);
}

/* A rescan's work on stolen_by, between a view's read and its lock: the slot's entry grew */
static void rescan_between(struct fake_bpf *f, void *arg)
{
	struct vm_table *t = arg;

	f->after_attrib_read = NULL;
	__atomic_add_fetch(&t->rescan_seq, 2, __ATOMIC_SEQ_CST);
	f->vals[0] = 700;
}

static void view__culprits_read_before_the_lock__used_unless_a_rescan_came_between(void **state)
{
	struct fake_env *env = *state;
	struct host_view hv;
	unsigned reads;

	vm_a_with_two_vcpus(env);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, 77, 500);
	reads = env->f->attrib_reads; /* the rescan's own */
	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_int_equal(env->f->attrib_reads, reads + 1); /* once, before the lock */
	assert_int_equal(hv.vms[0].culprits[0].ns, 500);
	host_view_free(&hv);
	env->f->after_attrib_read = rescan_between;
	env->f->after_attrib_read_arg = &env->t;
	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_int_equal(env->f->attrib_reads, reads + 3); /* stale: read again under the lock */
	assert_int_equal(hv.vms[0].culprits[0].ns, 700);
	host_view_free(&hv);
	__atomic_add_fetch(&env->t.rescan_seq, 1, __ATOMIC_SEQ_CST); /* a rescan under way */
	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_int_equal(env->f->attrib_reads, reads + 4); /* not before the lock */
	host_view_free(&hv);
}

static const struct vm_view *view_a(struct fake_env *env, struct host_view *hv)
{
	assert_int_equal(vm_table_view(&env->t, hv), 0);
	assert_int_equal(hv->nvms, 1);
	return &hv->vms[0];
}

static void view__exported_culprits__largest_first_up_to_top_and_kept(void **state)
{
	struct fake_env *env = *state;
	const struct vm_view *vm;
	struct host_view hv;

	env->t.top_culprits = 2;
	vm_a_with_two_vcpus(env);
	fake_attrib(env->f, 0, ST_CULPRIT_OTHER, 0, 900);
	fake_attrib(env->f, 0, ST_CULPRIT_KERNEL, PID_B, 300);
	fake_attrib(env->f, 1, ST_CULPRIT_PROCESS, 5000003, 500);
	fake_attrib(env->f, 1, ST_CULPRIT_PROCESS, 5000004, 100);
	vm = view_a(env, &hv);
	assert_int_equal(vm->nculprits, 4);
	assert_int_equal(vm->nexported, 2); /* "other" is never one of them */
	assert_int_equal(vm->exported[0].kind, CULPRIT_PROCESS);
	assert_string_equal(vm->exported[0].name, "pid 5000003");
	assert_int_equal(vm->exported[1].kind, CULPRIT_KERNEL);
	assert_string_equal(vm->exported[1].name, "pid 5000002");
	host_view_free(&hv);

	/* a culprit grown largest later stays in "other": the set is full */
	env->f->vals[3] = 10000;
	vm = view_a(env, &hv);
	assert_string_equal(vm->culprits[0].name, "pid 5000004");
	assert_int_equal(vm->nexported, 2);
	assert_string_equal(vm->exported[0].name, "pid 5000003");
	assert_string_equal(vm->exported[1].name, "pid 5000002");
	host_view_free(&hv);
}

static void view__exported_set_not_full__newcomers_join(void **state)
{
	struct fake_env *env = *state;
	const struct vm_view *vm;
	struct host_view hv;

	vm_a_with_two_vcpus(env); /* top_culprits 0: 5 */
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, 5000003, 500);
	vm = view_a(env, &hv);
	assert_int_equal(vm->nexported, 1);
	host_view_free(&hv);
	fake_attrib(env->f, 0, ST_CULPRIT_KERNEL, 5000004, 100);
	vm = view_a(env, &hv);
	assert_int_equal(vm->nexported, 2);
	assert_string_equal(vm->exported[1].name, "pid 5000004");
	assert_int_equal(env->t.vms[0]->nexported, 2);
	host_view_free(&hv);
}

static void view__attribution_read_fails__error_and_nothing(void **state)
{
	struct fake_env *env = *state;
	struct host_view hv;

	vm_a_with_two_vcpus(env);
	env->f->attrib_read_err = -EPERM;
	assert_int_equal(vm_table_view(&env->t, &hv), -EPERM);
	assert_int_equal(hv.nvms, 0);
	assert_null(hv.vms);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fake_env_setup, fake_env_teardown)
	const struct CMUnitTest tests[] = {
		T(init__no_pinned_slots__empty_table),
		T(init__max_vcpus_above_slots__capped),
		T(rescan__new_vm_and_vcpus__slots_taken_and_threads_bound),
		T(rescan__vcpu_before_first_run__tracked_not_bound),
		T(rescan__same_vm_again__nothing_changes),
		T(rescan__cookie_reused_by_another_process__another_vm),
		T(rescan__vcpu_on_another_thread__old_unbound_new_bound),
		T(rescan__vcpu_gone__slot_freed_unbound_attribution_forgotten),
		T(rescan__freed_slot__reused_by_next_vcpu),
		T(rescan__vm_gone__retired_with_its_slots),
		T(rescan__discovery_fails__error_counted_table_kept),
		T(rescan__max_vcpus_reached__vcpu_not_tracked_and_counted),
		T(rescan__max_vms_reached__vm_dropped_and_counted),
		T(rescan__reserve_reached__registered_vm_only_takes_the_rest),
		T(rescan_pid__kernel_walks_one_process__only_its_vms_added_nothing_retired),
		T(rescan_pid__kernel_cannot__whole_rescan),
		T(apply_walk__process_found_since_the_walk_began__kept_with_its_thread),
		T(apply_walk__reads_given__names_and_cgroups_from_them),
		T(apply_walk__vm_found_since_the_walk_began__its_reads_not_used),
		T(reads_walked__own_process__names_and_thread_cgroup),
		T(rescan__binding_fails__counted_once_until_it_works),
		T(rescan__another_thread_fails__counted_again),
		T(rescan__binding_contended__retried_next_rescan_not_a_failure),
		T(rescan__binding_run_fails__every_new_binding_failed),
		T(rescan__binding__names_the_slot_generation),
		T(vm_id__cookie_and_pid__fixed_hash_without_the_pointer),
		T(vm_id__small_cookie__sixteen_hex_digits),
		T(vm_table_slot__out_of_range__null),
		T(find__unknown_pid_or_vcpu__null),
		T(names__live_process__comm_and_comm_pid_name),
		T(throttle__live_process__its_cgroup_shared_then_own),
		T(init__pinned_slots__vms_and_vcpus_adopted),
		T(init__pinned_beyond_max_vms__dropped_threads_unbound),
		T(init__adopted_binding__checked_at_the_first_rescan_only),
		T(init__adopted_binding_contended__asked_again_until_done),
		T(init__pinned_commit__registration_and_region_adopted),
		T(view__vms_and_vcpus__sorted_with_counters),
		T(view_of__one_id__that_vm_only_with_its_culprits),
		T(view__culprits_read_before_the_lock__used_unless_a_rescan_came_between),
		T(view__exported_culprits__largest_first_up_to_top_and_kept),
		T(view__exported_set_not_full__newcomers_join),
		T(view__attribution_read_fails__error_and_nothing),
	};

	log_max_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
