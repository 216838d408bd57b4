// link: daemon/culprit_reads.c daemon/cgroup_stat.c
// SPDX-License-Identifier: GPL-2.0
/*
 * What the culprits' fold reads before it takes the table lock
 * (daemon/culprit_reads.c): stolen_by's keys grouped by culprit, each
 * culprit read from /proc, and the fold's verdict from a reading that may
 * be older than the name a culprit is shown under. stolen_by is this
 * file's own double of bpf_engine_attrib_read. Pids above the kernel's
 * PID_MAX_LIMIT stand for processes that never existed; this test's own
 * pid for a live one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "culprit_reads.h"

#define PID_GONE 5000002

static struct st_attrib_key map[8];
static size_t nmap;
static int map_err;

int bpf_engine_attrib_read(struct bpf_engine *e, struct st_attrib_key **keys, uint64_t **vals,
			   size_t *n)
{
	(void)e;
	*keys = calloc(8, sizeof(**keys));
	*vals = calloc(8, sizeof(**vals));
	*n = 0;
	assert_true(*keys && *vals);
	if (map_err)
		return map_err;
	memcpy(*keys, map, nmap * sizeof(*map));
	*n = nmap;
	return 0;
}

static void put(uint32_t slot, uint32_t kind, uint64_t id)
{
	map[nmap++] = (struct st_attrib_key){ .slot = slot, .kind = kind, .id = id };
}

static int reset(void **state)
{
	(void)state;
	nmap = 0;
	map_err = 0;
	return 0;
}

static void group__keys_of_one_culprit__together_by_slot(void **state)
{
	struct culprit_reads r = { 0 };

	(void)state;
	r.keys = calloc(6, sizeof(*r.keys));
	assert_non_null(r.keys);
	r.keys[0] = (struct st_attrib_key){ .slot = 3, .kind = ST_CULPRIT_PROCESS, .id = 7 };
	r.keys[1] = (struct st_attrib_key){ .slot = 1, .kind = ST_CULPRIT_KERNEL, .id = 7 };
	r.keys[2] = (struct st_attrib_key){ .slot = 1, .kind = ST_CULPRIT_PROCESS, .id = 7 };
	r.keys[3] = (struct st_attrib_key){ .slot = 2, .kind = ST_CULPRIT_OTHER, .id = 0 };
	r.keys[4] = (struct st_attrib_key){ .slot = 0, .kind = ST_CULPRIT_PROCESS, .id = 9 };
	r.keys[5] = (struct st_attrib_key){ .slot = 2, .kind = ST_CULPRIT_EXITED, .id = 1 };
	r.nkeys = 6;
	assert_int_equal(culprit_reads_group(&r), 0);
	/* other and the folded aggregates are no culprits to fold */
	assert_int_equal(r.nculprits, 3);
	for (size_t i = 0; i < r.nculprits; i++) {
		const struct culprit_read *c = &r.culprits[i];

		for (size_t j = c->first; j < c->first + c->n; j++) {
			assert_int_equal(r.keys[j].kind, c->kind);
			assert_int_equal((int32_t)r.keys[j].id, c->pid);
			if (j > c->first)
				assert_true(r.keys[j].slot > r.keys[j - 1].slot);
		}
	}
	assert_int_equal(r.culprits[0].kind, ST_CULPRIT_PROCESS);
	assert_int_equal(r.culprits[0].pid, 7);
	assert_int_equal(r.culprits[0].n, 2);
	assert_int_equal(r.culprits[1].pid, 9);
	assert_int_equal(r.culprits[1].n, 1);
	assert_int_equal(r.culprits[2].kind, ST_CULPRIT_KERNEL);
	free(r.keys);
	free(r.culprits);
}

static void group__empty_map__no_culprit(void **state)
{
	struct culprit_reads r = { 0 };

	(void)state;
	assert_int_equal(culprit_reads_group(&r), 0);
	assert_int_equal(r.nculprits, 0);
	free(r.culprits);
}

static void read__live_and_gone__alive_comm_cgroup(void **state)
{
	struct culprit_reads *r;
	int err;

	(void)state;
	put(0, ST_CULPRIT_PROCESS, (uint64_t)getpid());
	put(1, ST_CULPRIT_PROCESS, PID_GONE);
	put(1, ST_CULPRIT_OTHER, 0);
	r = culprit_reads_read(NULL, &err);
	assert_non_null(r);
	assert_int_equal(err, 0);
	assert_true(r->read_ns > 0);
	assert_int_equal(r->nkeys, 3);
	assert_int_equal(r->nculprits, 2);
	assert_int_equal(r->culprits[0].pid, getpid());
	assert_true(r->culprits[0].alive);
	assert_string_equal(r->culprits[0].comm, "test_culprit_re");
	assert_int_equal(r->culprits[0].cgroup[0], '/');
	assert_int_equal(r->culprits[1].pid, PID_GONE);
	assert_false(r->culprits[1].alive);
	assert_string_equal(r->culprits[1].comm, "");
	assert_string_equal(r->culprits[1].cgroup, "");
	culprit_reads_free(r);
}

static void read__map_unreadable__null_and_error(void **state)
{
	int err = 0;

	(void)state;
	map_err = -EPERM;
	assert_null(culprit_reads_read(NULL, &err));
	assert_int_equal(err, -EPERM);
}

static void verdict__name_read_after_the_reading__later(void **state)
{
	(void)state;
	/* whatever the reading says: it may predate a rename, or the name */
	assert_int_equal(culprit_fold_verdict("b", 200, true, "a", 100), FOLD_LATER);
	assert_int_equal(culprit_fold_verdict("b", 200, false, "", 100), FOLD_LATER);
}

static void verdict__name_as_old_as_the_reading__compared(void **state)
{
	(void)state;
	assert_int_equal(culprit_fold_verdict("a", 100, true, "a", 100), FOLD_KEEP);
	assert_int_equal(culprit_fold_verdict("a", 50, true, "a", 100), FOLD_KEEP);
	assert_int_equal(culprit_fold_verdict("a", 50, true, "b", 100), FOLD_RENAMED);
	assert_int_equal(culprit_fold_verdict("a", 50, false, "", 100), FOLD_GONE);
	assert_int_equal(culprit_fold_verdict("a", 0, false, NULL, 100), FOLD_GONE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, reset)
	const struct CMUnitTest tests[] = {
		T(group__keys_of_one_culprit__together_by_slot),
		T(group__empty_map__no_culprit),
		T(read__live_and_gone__alive_comm_cgroup),
		T(read__map_unreadable__null_and_error),
		T(verdict__name_read_after_the_reading__later),
		T(verdict__name_as_old_as_the_reading__compared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
