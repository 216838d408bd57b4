// link: daemon/attribution.c daemon/vm_table.c daemon/rescan_reads.c daemon/culprit_reads.c daemon/table_hooks.c daemon/siphash.c daemon/vm_view.c daemon/guest_records.c daemon/pvtime.c daemon/cgroup_stat.c daemon/vm_throttle.c daemon/throttle_reads.c daemon/throttle_acc.c daemon/vm_naming.c daemon/host_view.c daemon/log.c tests/unit/fake_bpf_engine.c daemon/peer_identity.c daemon/feature_env.c daemon/rate_limit.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Who ran instead: stolen_by entries (from a double of bpf_engine, see
 * tests/unit/fake_bpf_engine.c) summed per VM, merged, named and ranked.
 * Pids above the kernel's PID_MAX_LIMIT stand for processes that never
 * existed; this test's own pid for a live one.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "attribution.h"
#include "cgroup_stat.h"
#include "culprit_reads.h"
#include "fake_bpf_engine.h"
#include "table_hooks.h"
#include "log.h"

#define PID_A 5000001   /* a VM in the table */
#define PID_GONE 5000002
#define COOKIE_A 0xffff888112345000ull

/*
 * A view of two VMs as vm_table_view() makes it before attribution: slots
 * 0 and 1 belong to the first, slot 2 to the second, slot 3 to none.
 */
struct fill {
	struct host_view hv;
	int slot_vm[ST_MAX_VCPUS];
};

static struct fill *fill(struct fake_env *env, int want_err)
{
	struct fill *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->hv.nvms = 2;
	x->hv.vms = calloc(2, sizeof(*x->hv.vms));
	assert_non_null(x->hv.vms);
	for (int i = 0; i < ST_MAX_VCPUS; i++)
		x->slot_vm[i] = -1;
	x->slot_vm[0] = x->slot_vm[1] = 0;
	x->slot_vm[2] = 1;
	assert_int_equal(attribution_fill(&env->t, &x->hv, x->slot_vm, NULL), want_err);
	return x;
}

static void fill_free(struct fill *x)
{
	host_view_free(&x->hv);
	free(x);
}

static const struct culprit_view *culprit(const struct fill *x, size_t vm, size_t i)
{
	assert_true(i < x->hv.vms[vm].nculprits);
	return &x->hv.vms[vm].culprits[i];
}

/* --- sums and ranking ------------------------------------------------------- */

static void fill__same_culprit_on_two_vcpus__merged(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 100);
	fake_attrib(env->f, 1, ST_CULPRIT_PROCESS, PID_GONE, 250);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 1);
	assert_int_equal(culprit(x, 0, 0)->ns, 350);
	assert_int_equal(culprit(x, 0, 0)->pid, PID_GONE);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_PROCESS);
	assert_int_equal(x->hv.vms[1].nculprits, 0);
	fill_free(x);
}

static void fill__same_id_other_kind__not_merged(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 100);
	fake_attrib(env->f, 1, ST_CULPRIT_KERNEL, PID_GONE, 200);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 2);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_KERNEL);
	assert_int_equal(culprit(x, 0, 1)->kind, CULPRIT_PROCESS);
	fill_free(x);
}

static void fill__slots_of_two_vms__each_vm_its_own(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 100);
	fake_attrib(env->f, 2, ST_CULPRIT_PROCESS, PID_GONE, 40);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 1);
	assert_int_equal(culprit(x, 0, 0)->ns, 100);
	assert_int_equal(x->hv.vms[1].nculprits, 1);
	assert_int_equal(culprit(x, 1, 0)->ns, 40);
	fill_free(x);
}

static void fill__slot_of_no_vm_or_out_of_range__ignored(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 3, ST_CULPRIT_PROCESS, PID_GONE, 100);
	fake_attrib(env->f, ST_MAX_VCPUS, ST_CULPRIT_PROCESS, PID_GONE, 100);
	fake_attrib(env->f, ST_SLOT_NONE, ST_CULPRIT_PROCESS, PID_GONE, 100);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 0);
	assert_int_equal(x->hv.vms[1].nculprits, 0);
	fill_free(x);
}

static void fill__many_culprits__largest_first(void **state)
{
	struct fake_env *env = *state;
	static const uint64_t ns[] = { 30, 500, 7, 500, 90, 1000, 1, 64, 65, 2 };
	struct fill *x;

	/* more than the first allocation (8) */
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		fake_attrib(env->f, i % 2, ST_CULPRIT_PROCESS, PID_GONE + i, ns[i]);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 10);
	assert_int_equal(culprit(x, 0, 0)->ns, 1000);
	assert_int_equal(culprit(x, 0, 0)->pid, PID_GONE + 5);
	assert_int_equal(culprit(x, 0, 1)->ns, 500);
	assert_int_equal(culprit(x, 0, 2)->ns, 500);
	assert_int_equal(culprit(x, 0, 3)->ns, 90);
	assert_int_equal(culprit(x, 0, 9)->ns, 1);
	for (size_t i = 1; i < 10; i++)
		assert_true(culprit(x, 0, i - 1)->ns >= culprit(x, 0, i)->ns);
	fill_free(x);
}

static void fill__other_kind__ids_dropped_one_entry(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_OTHER, 3, 10);
	fake_attrib(env->f, 1, ST_CULPRIT_OTHER, 4, 20);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 1);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_OTHER);
	assert_int_equal(culprit(x, 0, 0)->pid, 0);
	assert_int_equal(culprit(x, 0, 0)->ns, 30);
	assert_string_equal(culprit(x, 0, 0)->name, "other");
	fill_free(x);
}

static void fill__throttled_spans__one_entry_of_their_own(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_THROTTLED, 0, 30);
	fake_attrib(env->f, 1, ST_CULPRIT_THROTTLED, 0, 50);
	fake_attrib(env->f, 1, ST_CULPRIT_OTHER, 0, 20);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 2);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_THROTTLED);
	assert_int_equal(culprit(x, 0, 0)->pid, 0);
	assert_int_equal(culprit(x, 0, 0)->ns, 80);
	assert_string_equal(culprit(x, 0, 0)->name, "throttled");
	assert_int_equal(culprit(x, 0, 1)->kind, CULPRIT_OTHER);
	assert_int_equal(culprit(x, 0, 1)->ns, 20);
	fill_free(x);
}

static void fill__unknown_kind__counted_as_other(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, 9, PID_GONE, 10);
	x = fill(env, 0);
	assert_int_equal(x->hv.vms[0].nculprits, 1);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_OTHER);
	assert_int_equal(culprit(x, 0, 0)->pid, 0);
	assert_string_equal(culprit(x, 0, 0)->name, "other");
	fill_free(x);
}

static void fill__read_fails__error_and_no_culprits(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 100);
	env->f->attrib_read_err = -EPERM;
	x = fill(env, -EPERM);
	assert_int_equal(x->hv.vms[0].nculprits, 0);
	fill_free(x);
}

/* --- names ------------------------------------------------------------------ */

static void name__vcpu_of_known_vm__vm_name_and_id(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_disc(env->f, COOKIE_A, PID_A, 0, 0);
	assert_int_equal(vm_table_rescan(&env->t), 0);
	fake_attrib(env->f, 0, ST_CULPRIT_VCPU, PID_A, 10);
	x = fill(env, 0);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_VM);
	assert_int_equal(culprit(x, 0, 0)->pid, PID_A);
	assert_string_equal(culprit(x, 0, 0)->name, "vm-5000001");
	assert_string_equal(culprit(x, 0, 0)->vm_id, env->t.vms[0]->id);
	assert_string_equal(culprit(x, 0, 0)->cgroup, "");
	fill_free(x);
}

static void name__vcpu_of_gone_vm__pid_no_vm_id(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_VCPU, PID_GONE, 10);
	x = fill(env, 0);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_VM);
	assert_string_equal(culprit(x, 0, 0)->name, "pid 5000002");
	assert_string_equal(culprit(x, 0, 0)->vm_id, "");
	fill_free(x);
}

static void name__live_process__comm_and_cgroup(void **state)
{
	struct fake_env *env = *state;
	char cgroup[256];
	bool v2;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, (uint64_t)getpid(), 10);
	x = fill(env, 0);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_PROCESS);
	assert_int_equal(culprit(x, 0, 0)->pid, getpid());
	assert_string_equal(culprit(x, 0, 0)->name, "test_attributio"); /* comm: 15 bytes */
	assert_int_equal(cgroup_process_path(getpid(), cgroup, sizeof(cgroup), &v2), 0);
	assert_string_equal(culprit(x, 0, 0)->cgroup, cgroup);
	fill_free(x);
}

static void name__kernel_thread__comm_no_cgroup(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_KERNEL, (uint64_t)getpid(), 10);
	x = fill(env, 0);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_KERNEL);
	assert_string_equal(culprit(x, 0, 0)->name, "test_attributio");
	assert_string_equal(culprit(x, 0, 0)->cgroup, "");
	fill_free(x);
}

static void name__never_seen_process__pid(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 10);
	x = fill(env, 0);
	assert_string_equal(culprit(x, 0, 0)->name, "pid 5000002");
	assert_string_equal(culprit(x, 0, 0)->cgroup, "");
	fill_free(x);
}

/* A child named "culprit-kid" that waits for a byte on *fds: its pid */
static pid_t named_child(int fds[2])
{
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[1]);
		prctl(PR_SET_NAME, "culprit-kid");
		_exit(read(fds[0], &c, 1) == 1 ? 0 : 1);
	}
	close(fds[0]);
	return pid;
}

static void name__process_exited_after_seen__name_remembered(void **state)
{
	struct fake_env *env = *state;
	char path[64], comm[32] = "";
	int fds[2], st;
	struct fill *x;
	pid_t pid = named_child(fds);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	for (int i = 0; i < 1000 && strcmp(comm, "culprit-kid\n"); i++) {
		f = fopen(path, "re");
		assert_non_null(f);
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		usleep(1000);
	}
	assert_string_equal(comm, "culprit-kid\n");
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, (uint64_t)pid, 10);
	x = fill(env, 0);
	assert_string_equal(culprit(x, 0, 0)->name, "culprit-kid");
	fill_free(x);

	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(access(path, F_OK), -1);
	x = fill(env, 0);
	assert_string_equal(culprit(x, 0, 0)->name, "culprit-kid");
	fill_free(x);
	close(fds[1]);
}

/* --- folding exited culprits ----------------------------------------------- */

/* VM A with vCPU 0 in slot 0: its index in the table */
static void vm_a(struct fake_env *env)
{
	fake_disc(env->f, COOKIE_A, PID_A, ST_DISC_VM, 0);
	fake_disc(env->f, COOKIE_A, PID_A, 0, 101);
	assert_int_equal(vm_table_rescan(&env->t), 0);
	assert_int_equal(env->t.nvms, 1);
}

/* What /metrics shows of VM A: its exported series' values, then other, and the sum */
struct series {
	size_t n;
	struct culprit_key key[8];
	uint64_t ns[8];
	uint64_t other, sum;
};

static struct series scrape(struct fake_env *env)
{
	struct host_view hv;
	struct series s = { 0 };
	const struct vm_view *vm;

	assert_int_equal(vm_table_view(&env->t, &hv), 0);
	assert_int_equal(hv.nvms, 1);
	vm = &hv.vms[0];
	assert_true(vm->nexported <= 8);
	s.n = vm->nexported;
	for (size_t i = 0; i < vm->nexported; i++)
		s.key[i] = vm->exported[i];
	for (size_t j = 0; j < vm->nculprits; j++) {
		const struct culprit_view *c = &vm->culprits[j];
		size_t i;

		for (i = 0; i < s.n; i++)
			if (s.key[i].kind == c->kind && !strcmp(s.key[i].name, c->name))
				break;
		if (i < s.n)
			s.ns[i] += c->ns;
		else
			s.other += c->ns;
		s.sum += c->ns;
	}
	host_view_free(&hv);
	return s;
}

/* Every series of now is the one of before (same culprit, same place), not lower */
static void assert_grown(const struct series *before, const struct series *now)
{
	assert_true(now->n >= before->n);
	for (size_t i = 0; i < before->n; i++) {
		assert_int_equal(now->key[i].kind, before->key[i].kind);
		assert_string_equal(now->key[i].name, before->key[i].name);
		assert_true(now->ns[i] >= before->ns[i]);
	}
	assert_true(now->other >= before->other);
	assert_true(now->sum >= before->sum);
}

static void fold__churn_of_exited_culprits__map_bounded_series_never_decrease(void **state)
{
	struct fake_env *env = *state;
	struct series before = { 0 }, now;
	uint64_t added = 0, hog = 0;
	int32_t next = 5000100;

	env->t.top_culprits = 2;
	vm_a(env);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, (uint64_t)getpid(), 0); /* the live hog */
	for (int round = 0; round < 100; round++) {
		/* 40 short-lived culprits a round, 4,000 in all: the double holds 64 */
		for (int i = 0; i < 40; i++, next++) {
			fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, (uint64_t)next, 7);
			added += 7;
		}
		env->f->vals[0] += 50; /* the hog's entry stays first: it never moves */
		hog += 50;
		added += 50;
		now = scrape(env);
		assert_int_equal(now.sum, added);
		assert_grown(&before, &now);
		before = now;
		assert_int_equal(vm_table_rescan(&env->t), 0); /* folds the exited ones */
		now = scrape(env);
		assert_int_equal(now.sum, added);
		assert_grown(&before, &now);
		before = now;
		assert_true(env->f->nattrib <= 4); /* hog, other, one aggregate */
	}
	/* the hog is still named, with all of its time */
	assert_int_equal(now.key[0].kind, CULPRIT_PROCESS);
	assert_string_equal(now.key[0].name, "test_attributio");
	assert_int_equal(now.ns[0], hog);
	/* the first churner joined the set: its series kept its own 7 ns */
	assert_int_equal(strncmp(now.key[1].name, "pid 50001", 9), 0);
	assert_int_equal(now.ns[1], 7);
	assert_int_equal(now.other, added - hog - 7);
}

static void fold__exported_culprit_exits__series_frozen_entry_gone(void **state)
{
	struct fake_env *env = *state;
	struct series before, now;
	int fds[2], st;
	pid_t pid = named_child(fds);

	vm_a(env);
	while (access("/proc/self", F_OK) == 0) { /* until the child is named */
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		f = fopen(path, "re");
		assert_non_null(f);
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (!strcmp(comm, "culprit-kid\n"))
			break;
		usleep(1000);
	}
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, (uint64_t)pid, 300);
	fake_attrib(env->f, 0, ST_CULPRIT_OTHER, 0, 20);
	before = scrape(env);
	assert_int_equal(before.n, 1);
	assert_string_equal(before.key[0].name, "culprit-kid");

	assert_int_equal(vm_table_rescan(&env->t), 0); /* alive: not folded */
	assert_int_equal(env->f->nattrib, 2);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(fds[1]);
	assert_int_equal(vm_table_rescan(&env->t), 0);
	assert_int_equal(env->f->nattrib, 2);
	for (size_t i = 0; i < env->f->nattrib; i++)
		assert_int_not_equal(env->f->keys[i].id, (uint64_t)pid);
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(now.ns[0], 300);
	assert_int_equal(now.other, 20);
}

static void fold__unexported_culprit_exits__into_other(void **state)
{
	struct fake_env *env = *state;
	struct series before, now;

	env->t.top_culprits = 1;
	vm_a(env);
	fake_attrib(env->f, 0, ST_CULPRIT_KERNEL, (uint64_t)getpid(), 500);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 40);
	before = scrape(env);
	assert_int_equal(before.n, 1);
	assert_int_equal(before.other, 40);
	assert_int_equal(vm_table_rescan(&env->t), 0);
	assert_int_equal(env->f->nattrib, 2); /* the kernel thread, other */
	assert_int_equal(env->f->keys[1].kind, ST_CULPRIT_OTHER);
	assert_int_equal(env->f->vals[1], 40);
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(now.other, 40);
}

static void fold__map_full__entry_kept_and_tried_again(void **state)
{
	struct fake_env *env = *state;
	struct series before, now;

	vm_a(env);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 40);
	before = scrape(env);
	env->f->attrib_fold_err = -ENOSPC;
	assert_int_equal(vm_table_rescan(&env->t), 0);
	assert_int_equal(env->f->nattrib, 1);
	now = scrape(env);
	assert_grown(&before, &now);
	env->f->attrib_fold_err = 0;
	assert_int_equal(vm_table_rescan(&env->t), 0);
	assert_int_equal(env->f->keys[0].kind, ST_CULPRIT_EXITED);
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(now.ns[0], 40);
}

/* The fold of what pre read, as a rescan's update runs it */
static void fold_read(struct fake_env *env, struct culprit_reads *pre)
{
	pthread_mutex_lock(&env->t.lock);
	attribution_fold(&env->t, pre);
	pthread_mutex_unlock(&env->t.lock);
	culprit_reads_free(pre);
}

static void fold__culprit_named_after_the_reads__folded_one_rescan_later(void **state)
{
	struct fake_env *env = *state;
	struct culprit_reads *pre;
	struct series before, now;

	vm_a(env);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 40);
	pre = attribution_read(env->t.bpf);
	assert_non_null(pre);
	before = scrape(env); /* names it after the reads */
	fold_read(env, pre);
	assert_int_equal(env->f->nattrib, 1);
	assert_int_equal(env->f->keys[0].kind, ST_CULPRIT_PROCESS);
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(vm_table_rescan(&env->t), 0); /* its reads are newer than its name */
	assert_int_equal(env->f->nattrib, 1);
	assert_int_equal(env->f->keys[0].kind, ST_CULPRIT_EXITED);
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(now.sum, 40);
}

static void fold__entry_deleted_since_the_reads__skipped(void **state)
{
	struct fake_env *env = *state;
	struct culprit_reads *pre;

	vm_a(env);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 40);
	pre = attribution_read(env->t.bpf);
	assert_non_null(pre);
	env->f->nattrib = 0; /* its slot forgotten meanwhile */
	fake_attrib(env->f, 0, ST_CULPRIT_KERNEL, (uint64_t)getpid(), 5);
	fold_read(env, pre);
	assert_int_equal(env->f->nattrib, 1);
	assert_int_equal(env->f->keys[0].kind, ST_CULPRIT_KERNEL);
	assert_int_equal(env->f->vals[0], 5);
}

static void fold__map_unreadable__nothing_folded(void **state)
{
	struct fake_env *env = *state;

	vm_a(env);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 40);
	env->f->attrib_read_err = -EPERM;
	assert_int_equal(vm_table_rescan(&env->t), 0); /* read before the update, and in it */
	env->f->attrib_read_err = 0;
	assert_int_equal(env->f->nattrib, 1);
	assert_int_equal(env->f->keys[0].kind, ST_CULPRIT_PROCESS);
	assert_int_equal(vm_table_rescan(&env->t), 0);
	assert_int_equal(env->f->keys[0].kind, ST_CULPRIT_OTHER);
}

static void fill__folded_aggregate_without_its_series__other(void **state)
{
	struct fake_env *env = *state;
	struct fill *x;

	fake_attrib(env->f, 0, ST_CULPRIT_EXITED, (uint64_t)ST_CULPRIT_PROCESS << 32 | 3, 70);
	x = fill(env, 0); /* the view knows no exported culprits */
	assert_int_equal(x->hv.vms[0].nculprits, 1);
	assert_int_equal(culprit(x, 0, 0)->kind, CULPRIT_OTHER);
	assert_int_equal(culprit(x, 0, 0)->ns, 70);
	fill_free(x);
}

/* A path for a state file that does not exist yet */
static void state_path(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/test_attribution.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
}

static void restore__culprit_exited_while_no_daemon__series_kept(void **state)
{
	struct fake_env *env = *state;
	struct series before, now;
	struct vm_table t2;
	char path[64];
	int fds[2], st;
	pid_t pid = named_child(fds);

	state_path(path, sizeof(path));
	assert_int_equal(attribution_restore(&env->t, path), 0);
	env->t.top_culprits = 1;
	vm_a(env);
	usleep(100000); /* the child names itself */
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, (uint64_t)pid, 300);
	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 20);
	before = scrape(env);
	assert_int_equal(before.n, 1);
	assert_string_equal(before.key[0].name, "culprit-kid");
	assert_int_equal(access(path, F_OK), 0); /* saved when the set changed */

	/* the daemon stops, the culprit exits, the other grows largest, a new daemon */
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(fds[1]);
	env->f->vals[1] = 5000;
	assert_int_equal(vm_table_init(&t2, &env->f->e, &daemon_table_hooks, 8, 16), 0);
	t2.top_culprits = 1;
	assert_int_equal(attribution_restore(&t2, path), 0);
	vm_table_free(&env->t);
	env->t = t2; /* the fixture frees it */
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(now.n, 1);
	assert_int_equal(now.ns[0], 300);
	assert_int_equal(vm_table_rescan(&env->t), 0); /* both folded, into their places */
	now = scrape(env);
	assert_grown(&before, &now);
	assert_int_equal(now.ns[0], 300);
	assert_int_equal(now.other, 5000);
	assert_int_equal(env->f->nattrib, 2);
	unlink(path);
}

static void restore__bad_or_missing_file__start_afresh(void **state)
{
	struct fake_env *env = *state;
	char path[64];
	FILE *f;

	state_path(path, sizeof(path));
	assert_int_equal(attribution_restore(&env->t, path), 0); /* none yet */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("stealtimed-culprits 1\nexport 9 x\n", f);
	fclose(f);
	assert_int_equal(attribution_restore(&env->t, path), -EINVAL);
	unlink(path);
}

/* --- freed slots ------------------------------------------------------------ */

static void forget_slots__flags__their_entries_deleted(void **state)
{
	struct fake_env *env = *state;
	static bool forget[ST_MAX_VCPUS];

	fake_attrib(env->f, 0, ST_CULPRIT_PROCESS, PID_GONE, 1);
	fake_attrib(env->f, 2, ST_CULPRIT_PROCESS, PID_GONE, 2);
	fake_attrib(env->f, 2, ST_CULPRIT_KERNEL, PID_GONE, 3);
	forget[2] = true;
	attribution_forget_slots(&env->t, forget);
	assert_int_equal(env->f->forget_calls, 1);
	assert_int_equal(env->f->nattrib, 1);
	assert_int_equal(env->f->keys[0].slot, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fake_env_setup, fake_env_teardown)
	const struct CMUnitTest tests[] = {
		T(fill__same_culprit_on_two_vcpus__merged),
		T(fill__same_id_other_kind__not_merged),
		T(fill__slots_of_two_vms__each_vm_its_own),
		T(fill__slot_of_no_vm_or_out_of_range__ignored),
		T(fill__many_culprits__largest_first),
		T(fill__other_kind__ids_dropped_one_entry),
		T(fill__throttled_spans__one_entry_of_their_own),
		T(fill__unknown_kind__counted_as_other),
		T(fill__read_fails__error_and_no_culprits),
		T(name__vcpu_of_known_vm__vm_name_and_id),
		T(name__vcpu_of_gone_vm__pid_no_vm_id),
		T(name__live_process__comm_and_cgroup),
		T(name__kernel_thread__comm_no_cgroup),
		T(name__never_seen_process__pid),
		T(name__process_exited_after_seen__name_remembered),
		T(forget_slots__flags__their_entries_deleted),
		T(fold__churn_of_exited_culprits__map_bounded_series_never_decrease),
		T(fold__exported_culprit_exits__series_frozen_entry_gone),
		T(fold__unexported_culprit_exits__into_other),
		T(fold__map_full__entry_kept_and_tried_again),
		T(fold__culprit_named_after_the_reads__folded_one_rescan_later),
		T(fold__entry_deleted_since_the_reads__skipped),
		T(fold__map_unreadable__nothing_folded),
		T(fill__folded_aggregate_without_its_series__other),
		T(restore__culprit_exited_while_no_daemon__series_kept),
		T(restore__bad_or_missing_file__start_afresh),
	};

	log_max_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
