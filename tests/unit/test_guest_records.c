// link: daemon/guest_records.c daemon/pvtime.c daemon/vm_table.c daemon/rescan_reads.c daemon/culprit_reads.c daemon/table_hooks.c daemon/siphash.c daemon/vm_view.c daemon/attribution.c daemon/cgroup_stat.c daemon/vm_throttle.c daemon/throttle_reads.c daemon/throttle_acc.c daemon/vm_naming.c daemon/host_view.c daemon/log.c tests/unit/fake_bpf_engine.c daemon/peer_identity.c daemon/feature_env.c daemon/rate_limit.c
// SPDX-License-Identifier: GPL-2.0
/*
 * The control operations of guest records (register, set_ipa, smccc,
 * snapshot, unregister, disconnect) on a VM table over a double of
 * bpf_engine (tests/unit/fake_bpf_engine.c): regions, records and vCPU
 * slots are memory the tests read back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "fake_bpf_engine.h"
#include "table_hooks.h"
#include "guest_records.h"
#include "log.h"
#include "pvtime.h"

#define PID_A 5000001 /* a VM with vCPUs 0 and 1 */
#define PID_B 5000002
#define PID_C 5000003 /* a process that never registers */
#define COOKIE_A 0xffff888112345000ull
#define REGION 0x40000000ull
#define REC(n) (REGION + (n) * ST_RECORD_SIZE)

struct gr {
	struct fake_env *env;
	struct guest_records_config cfg;
	struct control_peer peer; /* a connection of VM A's process */
	struct vm_entry *vm;
	char err[256];
};

static int setup(void **state)
{
	struct gr *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	fake_env_setup((void **)&g->env);
	g->cfg.table = &g->env->t;
	g->cfg.commit_enabled = true;
	g->cfg.max_initial_steal_s = CONFIG_DEFAULT_INITIAL_STEAL_S;
	g->peer.pid = PID_A;
	g->peer.pidfd = -1; /* no process behind: taken as alive (see peer_identity.h) */
	fake_disc(g->env->f, COOKIE_A, PID_A, 0, 101);
	fake_disc(g->env->f, COOKIE_A, PID_A, 1, 102);
	assert_int_equal(vm_table_rescan(&g->env->t), 0);
	g->vm = vm_table_find_pid(&g->env->t, PID_A);
	assert_non_null(g->vm);
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	struct gr *g = *state;

	fake_env_teardown((void **)&g->env);
	free(g);
	return 0;
}

static int reg(struct gr *g, struct control_peer *peer, uint64_t region_ipa)
{
	struct control_reg out = { .region_fd = -1 };
	int err;

	g->err[0] = '\0';
	err = guest_records_ops.register_vm(&g->cfg, peer, region_ipa, &out, g->err,
					    sizeof(g->err));
	if (!err) {
		assert_string_equal(out.vm_id, g->vm->id);
		assert_int_equal(out.region_fd, g->vm->region_fd);
		assert_int_equal(out.region_size, ST_REGION_SIZE);
	}
	return err;
}

static int set_ipa(struct gr *g, uint32_t vcpu, uint64_t ipa, uint64_t initial_ns)
{
	g->err[0] = '\0';
	return guest_records_ops.set_ipa(&g->cfg, &g->peer, vcpu, ipa, true, initial_ns, g->err,
					 sizeof(g->err));
}

static int64_t smccc(struct gr *g, uint32_t vcpu, uint64_t function, uint64_t arg, int *err)
{
	int64_t ret = 12345;

	*err = guest_records_ops.smccc(&g->cfg, &g->peer, vcpu, function, arg, &ret, g->err,
				       sizeof(g->err));
	return ret;
}

static struct st_vcpu *slot_of(struct gr *g, uint32_t vcpu)
{
	return vm_table_slot(&g->env->t, vm_entry_vcpu(g->vm, vcpu)->slot);
}

static void registered(struct gr *g)
{
	assert_int_equal(reg(g, &g->peer, REGION), 0);
}

/* --- register ---------------------------------------------------------------- */

static void register__vm_of_the_process__region_given(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_true(g->vm->registered);
	assert_int_equal(g->vm->region, 0);
	assert_int_equal(g->vm->region_ipa, REGION);
	assert_true(g->vm->region_fd >= 0);
	assert_int_equal(g->vm->region_fd, g->env->f->region_fds[0]);
	assert_true(g->env->t.region_used[0]);
	assert_ptr_equal(g->vm->owner, &g->peer);
	assert_ptr_equal(g->peer.vm, g->vm);
	assert_true(guest_records_ops.is_registered(&g->cfg, PID_A));
	assert_false(guest_records_ops.is_registered(&g->cfg, PID_B));
}

static void register__twice_on_one_connection__eexist(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(reg(g, &g->peer, REGION), -EEXIST);
	assert_non_null(strstr(g->err, "already registered"));
}

static void register__region_not_64k_aligned__einval(void **state)
{
	struct gr *g = *state;

	assert_int_equal(reg(g, &g->peer, REGION + 0x1000), -EINVAL);
	assert_non_null(strstr(g->err, "0x40001000"));
	assert_false(g->vm->registered);
	assert_false(g->env->t.region_used[0]);
}

static void register__process_without_vm__esrch_after_one_rescan(void **state)
{
	struct gr *g = *state;
	struct control_peer other = { .pid = PID_B, .pidfd = -1 };

	assert_int_equal(reg(g, &other, REGION), -ESRCH);
	assert_non_null(strstr(g->err, "5000002"));
	assert_int_equal(g->env->t.rescans, 2);
}

static void register__vm_newer_than_last_rescan__found(void **state)
{
	struct gr *g = *state;
	struct control_peer other = { .pid = PID_B, .pidfd = -1 };

	fake_disc(g->env->f, 0x1000, PID_B, ST_DISC_VM, 0);
	g->err[0] = '\0';
	assert_int_equal(guest_records_ops.register_vm(&g->cfg, &other, REGION,
						       &(struct control_reg){ 0 }, g->err,
						       sizeof(g->err)), 0);
	assert_true(vm_table_find_pid(&g->env->t, PID_B)->registered);
	assert_false(g->vm->registered);
}

static void register__vm_newer_than_last_rescan__only_its_process_walked(void **state)
{
	struct gr *g = *state;
	struct control_peer other = { .pid = PID_B, .pidfd = -1 };
	uint64_t rescans = g->env->t.rescans;

	g->env->f->e.discover_by_pid = true;
	fake_disc(g->env->f, 0x1000, PID_B, ST_DISC_VM, 0);
	assert_int_equal(guest_records_ops.register_vm(&g->cfg, &other, REGION,
						       &(struct control_reg){ 0 }, g->err,
						       sizeof(g->err)), 0);
	assert_true(vm_table_find_pid(&g->env->t, PID_B)->registered);
	assert_int_equal(g->env->f->pid_discoveries, 1);
	assert_int_equal(g->env->t.rescans, rescans);
}

static void register__tables_full_of_unregistered_vms__reserve_taken(void **state)
{
	struct gr *g = *state;
	struct control_peer other = { .pid = PID_B, .pidfd = -1 };
	struct vm_entry *b;

	/* of 8 VMs and 16 vCPUs, what processes that never register may take: VM A's */
	vm_table_reserve(&g->env->t, 7, 14);
	fake_disc(g->env->f, 0x2000, PID_C, ST_DISC_VM, 0);
	fake_disc(g->env->f, 0x2000, PID_C, 0, 301);
	fake_disc(g->env->f, 0x1000, PID_B, ST_DISC_VM, 0);
	fake_disc(g->env->f, 0x1000, PID_B, 0, 201);
	fake_disc(g->env->f, 0x1000, PID_B, 1, 202);
	assert_int_equal(vm_table_rescan(&g->env->t), 0);
	assert_null(vm_table_find_pid(&g->env->t, PID_B));
	assert_null(vm_table_find_pid(&g->env->t, PID_C));
	assert_int_equal(guest_records_ops.register_vm(&g->cfg, &other, REGION,
						       &(struct control_reg){ 0 }, g->err,
						       sizeof(g->err)), 0);
	b = vm_table_find_pid(&g->env->t, PID_B);
	assert_non_null(b);
	assert_true(b->registered);
	assert_int_equal(b->nvcpus, 2);
	assert_int_equal(g->env->t.registering_pid, 0);
	/* the process that never registered stays out */
	assert_int_equal(vm_table_rescan(&g->env->t), 0);
	assert_null(vm_table_find_pid(&g->env->t, PID_C));
	assert_int_equal(g->env->t.nslots, 4);
}

static void register__same_process_new_connection__takes_it_over(void **state)
{
	struct gr *g = *state;
	struct control_peer again = { .pid = PID_A, .pidfd = -1 };
	int fd;

	registered(g);
	fd = g->vm->region_fd;
	assert_int_equal(reg(g, &again, REGION), 0);
	assert_null(g->peer.vm);
	assert_ptr_equal(again.vm, g->vm);
	assert_ptr_equal(g->vm->owner, &again);
	assert_int_equal(g->vm->region_fd, fd); /* the same region */
	assert_false(g->env->t.region_used[1]);
}

static void register__owner_another_process_same_pid__ebusy_not_taken(void **state)
{
	struct gr *g = *state;
	struct control_peer impostor = { .pid = PID_A, .pidfd = -1, .start_time = 1 };

	registered(g);
	/* the pid of the owner's process, but another start time: not that process */
	assert_int_equal(reg(g, &impostor, REGION), -EBUSY);
	assert_non_null(strstr(g->err, "exited process"));
	assert_ptr_equal(g->vm->owner, &g->peer);
	assert_ptr_equal(g->peer.vm, g->vm);
	assert_null(impostor.vm);
}

static void register__after_disconnect__same_region_back_other_ipa_refused(void **state)
{
	struct gr *g = *state;
	struct control_peer again = { .pid = PID_A, .pidfd = -1 };

	registered(g);
	guest_records_ops.disconnect(&g->cfg, &g->peer);
	assert_int_equal(reg(g, &again, REGION + ST_REGION_SIZE), -EINVAL);
	assert_non_null(strstr(g->err, "0x40000000"));
	assert_null(again.vm);
	assert_int_equal(reg(g, &again, REGION), 0);
	assert_ptr_equal(g->vm->owner, &again);
	assert_int_equal(g->vm->region, 0);
}

static void register__every_region_used__enospc(void **state)
{
	struct gr *g = *state;

	memset(g->env->t.region_used, 1, sizeof(g->env->t.region_used));
	assert_int_equal(reg(g, &g->peer, REGION), -ENOSPC);
	assert_non_null(strstr(g->err, "no region available"));
	assert_false(g->vm->registered);
	assert_null(g->peer.vm);
}

static void register__first_regions_used__next_free_one(void **state)
{
	struct gr *g = *state;

	g->env->t.region_used[0] = g->env->t.region_used[1] = true;
	registered(g);
	assert_int_equal(g->vm->region, 2);
	assert_int_equal(g->vm->region_fd, g->env->f->region_fds[2]);
}

static void register__region_creation_fails__its_error(void **state)
{
	struct gr *g = *state;

	g->env->f->region_add_err = -EPERM;
	assert_int_equal(reg(g, &g->peer, REGION), -EPERM);
	assert_false(g->vm->registered);
	assert_false(g->env->t.region_used[0]);
}

/* --- set_ipa ----------------------------------------------------------------- */

static void set_ipa__record_of_the_region__slot_set_and_record_seeded(void **state)
{
	struct gr *g = *state;
	struct st_vcpu *v;

	registered(g);
	v = slot_of(g, 1);
	v->steal_ns = 777;
	assert_int_equal(set_ipa(g, 1, REC(3), 5000), 0);
	assert_int_equal(v->commit_flags, ST_COMMIT_ON);
	assert_int_equal(v->region, 0);
	assert_int_equal(v->record, 3);
	assert_int_equal(v->record_ipa, REC(3));
	assert_int_equal(v->region_ipa, REGION);
	assert_int_equal(v->commit_init, 5000);
	assert_int_equal(v->committed_ns, 5000);
	assert_int_equal(v->commit_base, 777);
	assert_int_equal(v->base_pending, 1); /* no thread bound yet */
	assert_int_equal(g->env->f->stolen[0][3], 5000);
	assert_int_equal(slot_of(g, 0)->commit_flags, 0);
}

static void set_ipa__thread_bound__base_not_pending(void **state)
{
	struct gr *g = *state;

	registered(g);
	slot_of(g, 0)->threads = 1;
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
	assert_int_equal(slot_of(g, 0)->base_pending, 0);
}

static void set_ipa__no_initial_value__starts_at_zero(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(guest_records_ops.set_ipa(&g->cfg, &g->peer, 0, REC(1), false, 999,
						   g->err, sizeof(g->err)), 0);
	assert_int_equal(slot_of(g, 0)->commit_init, 0);
	assert_int_equal(g->env->f->seeds, 1);
}

static void set_ipa__disabled__enxio(void **state)
{
	struct gr *g = *state;

	registered(g);
	g->cfg.commit_enabled = false;
	assert_int_equal(set_ipa(g, 0, REC(0), 0), -ENXIO);
	assert_int_equal(slot_of(g, 0)->commit_flags, 0);
}

static void set_ipa__not_registered__enoent(void **state)
{
	struct gr *g = *state;

	assert_int_equal(set_ipa(g, 0, REC(0), 0), -ENOENT);
	assert_non_null(strstr(g->err, "not registered"));
}

static void set_ipa__unknown_vcpu__einval_after_one_rescan(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(set_ipa(g, 7, REC(0), 0), -EINVAL);
	assert_non_null(strstr(g->err, "no vCPU 7"));
	assert_int_equal(g->env->t.rescans, 2);
}

static void set_ipa__vcpu_newer_than_last_rescan__found(void **state)
{
	struct gr *g = *state;

	registered(g);
	fake_disc(g->env->f, COOKIE_A, PID_A, 2, 0);
	assert_int_equal(set_ipa(g, 2, REC(2), 0), 0);
	assert_int_equal(slot_of(g, 2)->record, 2);
}

static void set_ipa__outside_region_or_misaligned__einval(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(set_ipa(g, 0, REGION - ST_RECORD_SIZE, 0), -EINVAL);
	assert_int_equal(set_ipa(g, 0, REGION + ST_REGION_SIZE, 0), -EINVAL);
	assert_int_equal(set_ipa(g, 0, REC(1) + 8, 0), -EINVAL);
	assert_non_null(strstr(g->err, "not a record of the region"));
	assert_int_equal(slot_of(g, 0)->commit_flags, 0);
	assert_int_equal(g->env->f->seeds, 0);
}

static void set_ipa__twice__eexist(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
	assert_int_equal(set_ipa(g, 0, REC(5), 0), -EEXIST);
	assert_int_equal(slot_of(g, 0)->record, 0);
}

static void set_ipa__another_vcpus_record__eexist(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(set_ipa(g, 0, REC(4), 0), 0);
	assert_int_equal(set_ipa(g, 1, REC(4), 0), -EEXIST);
	assert_non_null(strstr(g->err, "vCPU 0's record"));
	assert_int_equal(slot_of(g, 1)->commit_flags, 0);
}

static void set_ipa__initial_below_the_record__einval_equal_accepted(void **state)
{
	struct gr *g = *state;

	registered(g);
	g->env->f->stolen[0][3] = 500;
	assert_int_equal(set_ipa(g, 0, REC(3), 499), -EINVAL);
	assert_non_null(strstr(g->err, "below the record's 500"));
	assert_int_equal(set_ipa(g, 0, REC(3), 500), 0);
}

static void set_ipa__initial_above_the_configured_bound__einval(void **state)
{
	struct gr *g = *state;

	registered(g);
	g->cfg.max_initial_steal_s = 3600;
	assert_int_equal(set_ipa(g, 0, REC(0), 3600000000001ull), -EINVAL);
	assert_non_null(strstr(g->err, "at most 3600000000000"));
	assert_non_null(strstr(g->err, "limits.initial_steal_seconds 3600"));
	assert_int_equal(slot_of(g, 0)->commit_flags, 0);
	assert_int_equal(g->env->f->seeds, 0);
	assert_int_equal(set_ipa(g, 0, REC(0), 3600000000000ull), 0);
	assert_int_equal(slot_of(g, 0)->commit_init, 3600000000000ull);
}

static void set_ipa__initial_older_than_1970__einval_whatever_the_bound(void **state)
{
	struct gr *g = *state;

	registered(g);
	g->cfg.max_initial_steal_s = UINT32_MAX; /* 136 years */
	/* 100 years: more than any guest has run */
	assert_int_equal(set_ipa(g, 0, REC(0), 100ull * 365 * 86400 * 1000000000), -EINVAL);
	assert_non_null(strstr(g->err, "since 1970"));
	/* the 292 years of a u64 */
	assert_int_equal(set_ipa(g, 1, REC(1), UINT64_MAX), -EINVAL);
	g->cfg.max_initial_steal_s = 0; /* no seeds */
	assert_int_equal(set_ipa(g, 0, REC(0), 1), -EINVAL);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
}

/* --- rescan limits ----------------------------------------------------------- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void limited(struct gr *g)
{
	g->cfg.now_ns = fake_clock;
	g->cfg.rescans_per_process = (struct rate){ .per_s = 5, .burst = 10 };
	g->cfg.rescans_total = (struct rate){ .per_s = 20, .burst = 20 };
	fake_now = 1000000000;
}

static void rescans__process_burst_spent__eagain_without_rescan_then_refilled(void **state)
{
	struct gr *g = *state;
	struct token_bucket bucket = { 0 };
	struct control_peer other = { .pid = PID_B, .pidfd = -1, .rescans = &bucket };
	uint64_t rescans;

	limited(g);
	for (int i = 0; i < 10; i++)
		assert_int_equal(reg(g, &other, REGION), -ESRCH);
	rescans = g->env->t.rescans;
	assert_int_equal(reg(g, &other, REGION), -EAGAIN);
	assert_non_null(strstr(g->err, "rescan rate limit for this process: retry in 200 ms"));
	assert_int_equal(g->env->t.rescans, rescans);
	assert_int_equal(atomic_load(&g->cfg.rescans_refused), 1);
	/* 200 ms later: one token back (5 a second) */
	fake_now += 199999999;
	assert_int_equal(reg(g, &other, REGION), -EAGAIN);
	assert_non_null(strstr(g->err, "retry in 1 ms"));
	fake_now += 1;
	assert_int_equal(reg(g, &other, REGION), -ESRCH);
	assert_int_equal(g->env->t.rescans, rescans + 1);
	/* a request that needs no rescan is never limited */
	assert_int_equal(reg(g, &g->peer, REGION), 0);
}

static void rescans__total_spent__eagain_for_every_process(void **state)
{
	struct gr *g = *state;
	struct token_bucket buckets[3] = { 0 };
	struct control_peer others[3];

	limited(g);
	for (int p = 0; p < 3; p++)
		others[p] = (struct control_peer){ .pid = PID_B + p, .pidfd = -1,
						   .rescans = &buckets[p] };
	/* 10 + 10 of the 20 in all; the third process gets none */
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < 10; i++)
			assert_int_equal(reg(g, &others[p], REGION), -ESRCH);
	assert_int_equal(reg(g, &others[2], REGION), -EAGAIN);
	assert_non_null(strstr(g->err, "rescan rate limit for all peers: retry in 50 ms"));
	/* its own bucket was not spent by the refusal */
	fake_now += 50000000;
	assert_int_equal(reg(g, &others[2], REGION), -ESRCH);
	assert_int_equal(buckets[2].credit, 9 * 1000000000ull);
}

static void rescans__unknown_vcpu__limited_like_register(void **state)
{
	struct gr *g = *state;
	struct token_bucket bucket = { 0 };
	int64_t ret;

	limited(g);
	g->peer.rescans = &bucket;
	registered(g);
	for (int i = 0; i < 10; i++)
		assert_int_equal(set_ipa(g, 7, REC(7), 0), -EINVAL);
	assert_int_equal(set_ipa(g, 7, REC(7), 0), -EAGAIN);
	assert_int_equal(guest_records_ops.smccc(&g->cfg, &g->peer, 7, 0xC5000021u, 0, &ret,
						 g->err, sizeof(g->err)), -EAGAIN);
	assert_non_null(strstr(g->err, "rescan rate limit"));
	/* known vCPUs are answered all the same */
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
}

/* --- smccc ------------------------------------------------------------------- */

static void smccc__record_set__pv_time_answers(void **state)
{
	struct gr *g = *state;
	int err;

	registered(g);
	assert_int_equal(set_ipa(g, 1, REC(9), 0), 0);
	assert_int_equal(smccc(g, 1, PV_TIME_ST, 0, &err), (int64_t)REC(9));
	assert_int_equal(err, 0);
	assert_int_equal(smccc(g, 1, PV_TIME_FEATURES, PV_TIME_ST, &err), PV_SMCCC_SUCCESS);
	assert_int_equal(smccc(g, 0, PV_TIME_ST, 0, &err), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(err, 0);
}

static void smccc__disabled__not_supported(void **state)
{
	struct gr *g = *state;
	int err;

	registered(g);
	assert_int_equal(set_ipa(g, 1, REC(9), 0), 0);
	g->cfg.commit_enabled = false;
	assert_int_equal(smccc(g, 1, PV_TIME_ST, 0, &err), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(g, 1, PV_SMCCC_ARCH_FEATURES, PV_TIME_FEATURES, &err),
			 PV_SMCCC_NOT_SUPPORTED);
}

static void smccc__not_registered__enoent_no_answer(void **state)
{
	struct gr *g = *state;
	int err;

	assert_int_equal(smccc(g, 0, PV_TIME_ST, 0, &err), 12345);
	assert_int_equal(err, -ENOENT);
}

static void smccc__unknown_vcpu__einval_no_answer(void **state)
{
	struct gr *g = *state;
	int err;

	registered(g);
	assert_int_equal(smccc(g, 9, PV_TIME_FEATURES, PV_TIME_ST, &err), 12345);
	assert_int_equal(err, -EINVAL);
}

/* --- snapshot ---------------------------------------------------------------- */

static void snapshot__vcpus_with_a_record__their_committed_ns(void **state)
{
	struct gr *g = *state;
	struct control_vcpu_value vals[4];

	registered(g);
	assert_int_equal(set_ipa(g, 1, REC(1), 10), 0);
	slot_of(g, 1)->committed_ns = 1234;
	assert_int_equal(guest_records_ops.snapshot(&g->cfg, &g->peer, vals, 4, g->err,
						    sizeof(g->err)), 1);
	assert_int_equal(vals[0].vcpu, 1);
	assert_int_equal(vals[0].stolen_ns, 1234);
}

static void snapshot__more_than_max__cut_at_max(void **state)
{
	struct gr *g = *state;
	struct control_vcpu_value vals[2] = { { 0 } };

	registered(g);
	assert_int_equal(set_ipa(g, 0, REC(0), 5), 0);
	assert_int_equal(set_ipa(g, 1, REC(1), 6), 0);
	assert_int_equal(guest_records_ops.snapshot(&g->cfg, &g->peer, vals, 1, g->err,
						    sizeof(g->err)), 1);
	assert_int_equal(vals[1].stolen_ns, 0);
	assert_int_equal(guest_records_ops.snapshot(&g->cfg, &g->peer, vals, 2, g->err,
						    sizeof(g->err)), 2);
}

static void snapshot__not_registered__enoent(void **state)
{
	struct gr *g = *state;
	struct control_vcpu_value vals[2];

	assert_int_equal(guest_records_ops.snapshot(&g->cfg, &g->peer, vals, 2, g->err,
						    sizeof(g->err)), -ENOENT);
}

/* --- the end of a registration ----------------------------------------------- */

static void unregister__registered__region_released_records_off(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
	guest_records_ops.unregister(&g->cfg, &g->peer);
	assert_false(g->vm->registered);
	assert_null(g->vm->owner);
	assert_null(g->peer.vm);
	assert_int_equal(g->vm->region_fd, -1);
	assert_false(g->env->t.region_used[0]);
	assert_int_equal(g->env->f->region_fds[0], -1);
	assert_int_equal(slot_of(g, 0)->commit_flags, 0);
	assert_int_equal(slot_of(g, 0)->record_ipa, 0);
	assert_false(guest_records_ops.is_registered(&g->cfg, PID_A));
	/* the next registration starts afresh */
	registered(g);
	assert_int_equal(g->vm->region, 0);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
}

static void disconnect__registered__kept_for_the_process(void **state)
{
	struct gr *g = *state;

	registered(g);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
	guest_records_ops.disconnect(&g->cfg, &g->peer);
	assert_null(g->peer.vm);
	assert_null(g->vm->owner);
	assert_true(g->vm->registered);
	assert_true(g->env->t.region_used[0]);
	assert_int_equal(slot_of(g, 0)->commit_flags, ST_COMMIT_ON);
	assert_true(guest_records_ops.is_registered(&g->cfg, PID_A));
	/* the closed connection no longer owns it */
	assert_int_equal(set_ipa(g, 1, REC(1), 0), -ENOENT);
}

static void vm_gone__registered__region_released(void **state)
{
	struct gr *g = *state;

	registered(g);
	g->env->f->ndisc = 0;
	assert_int_equal(vm_table_rescan(&g->env->t), 0);
	assert_int_equal(g->env->t.nvms, 0);
	assert_false(g->env->t.region_used[0]);
	assert_int_equal(g->env->f->region_fds[0], -1);
	assert_int_equal(vm_table_slot(&g->env->t, 0)->commit_flags, 0);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), -ENOENT);
}

static void adopt__commit_on_but_region_not_pinned__registered_without_fd(void **state)
{
	struct gr *g = *state;
	struct vm_table t;

	assert_int_equal(reg(g, &g->peer, REGION), 0);
	assert_int_equal(set_ipa(g, 0, REC(0), 0), 0);
	g->env->f->e.vcpus[0].region = 5; /* as if its region had been lost */
	vm_table_init(&t, &g->env->f->e, &daemon_table_hooks, 8, 16);
	assert_int_equal(t.nvms, 1);
	assert_true(t.vms[0]->registered);
	assert_int_equal(t.vms[0]->region, 5);
	assert_true(t.region_used[5]);
	assert_int_equal(t.vms[0]->region_fd, -1);
	vm_table_free(&t);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(register__vm_of_the_process__region_given),
		T(register__twice_on_one_connection__eexist),
		T(register__region_not_64k_aligned__einval),
		T(register__process_without_vm__esrch_after_one_rescan),
		T(register__vm_newer_than_last_rescan__found),
		T(register__tables_full_of_unregistered_vms__reserve_taken),
		T(register__vm_newer_than_last_rescan__only_its_process_walked),
		T(register__same_process_new_connection__takes_it_over),
		T(register__owner_another_process_same_pid__ebusy_not_taken),
		T(register__after_disconnect__same_region_back_other_ipa_refused),
		T(register__every_region_used__enospc),
		T(register__first_regions_used__next_free_one),
		T(register__region_creation_fails__its_error),
		T(set_ipa__record_of_the_region__slot_set_and_record_seeded),
		T(set_ipa__thread_bound__base_not_pending),
		T(set_ipa__no_initial_value__starts_at_zero),
		T(set_ipa__disabled__enxio),
		T(set_ipa__not_registered__enoent),
		T(set_ipa__unknown_vcpu__einval_after_one_rescan),
		T(set_ipa__vcpu_newer_than_last_rescan__found),
		T(set_ipa__outside_region_or_misaligned__einval),
		T(set_ipa__twice__eexist),
		T(set_ipa__another_vcpus_record__eexist),
		T(set_ipa__initial_below_the_record__einval_equal_accepted),
		T(set_ipa__initial_above_the_configured_bound__einval),
		T(set_ipa__initial_older_than_1970__einval_whatever_the_bound),
		T(rescans__process_burst_spent__eagain_without_rescan_then_refilled),
		T(rescans__total_spent__eagain_for_every_process),
		T(rescans__unknown_vcpu__limited_like_register),
		T(smccc__record_set__pv_time_answers),
		T(smccc__disabled__not_supported),
		T(smccc__not_registered__enoent_no_answer),
		T(smccc__unknown_vcpu__einval_no_answer),
		T(snapshot__vcpus_with_a_record__their_committed_ns),
		T(snapshot__more_than_max__cut_at_max),
		T(snapshot__not_registered__enoent),
		T(unregister__registered__region_released_records_off),
		T(disconnect__registered__kept_for_the_process),
		T(vm_gone__registered__region_released),
		T(adopt__commit_on_but_region_not_pinned__registered_without_fd),
	};

	log_max_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
