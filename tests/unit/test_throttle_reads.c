// link: daemon/throttle_reads.c daemon/cgroup_stat.c
// SPDX-License-Identifier: GPL-2.0
/*
 * The throttling sources' cpu.stat read before a rescan's update
 * (daemon/throttle_reads.c), from a table built by hand whose sources'
 * fds are files of this test holding a cpu.stat's text.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "throttle_reads.h"
#include "vm_table.h"

/* An fd of an unlinked file holding text */
static int stat_file(const char *text)
{
	FILE *f = tmpfile();
	int fd;

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fflush(f);
	fd = dup(fileno(f));
	fclose(f);
	assert_true(fd >= 0);
	return fd;
}

static void src(struct throttle_src *s, bool live, int fd, uint64_t join_id)
{
	memset(s, 0, sizeof(*s));
	s->v2 = true;
	s->live = live;
	s->fd = fd;
	s->join_id = join_id;
}

static void take__live_readable_sources__read_sorted_fds_kept(void **state)
{
	struct throttle_src a[3], b[1];
	struct vm_entry va = { .cookie = 9, .pid = 40, .thr = { .src = a, .n = 3 } };
	struct vm_entry vb = { .cookie = 2, .pid = 41, .thr = { .src = b, .n = 1 } };
	struct vm_entry *vms[] = { &va, &vb };
	struct vm_table t = { .vms = vms, .nvms = 2 };
	const struct throttle_read *r;
	struct throttle_reads *got;

	(void)state;
	pthread_mutex_init(&t.lock, NULL);
	src(&a[0], true, stat_file("usage_usec 1\nthrottled_usec 7\n"), 11);
	src(&a[1], false, -1, 12);                            /* left */
	src(&a[2], true, stat_file("usage_usec 1\n"), 13);    /* no throttled count */
	src(&b[0], true, stat_file("throttled_usec 3\n"), 14);
	got = throttle_reads_take(&t);
	assert_non_null(got);
	assert_int_equal(got->n, 2);
	assert_int_equal(got->r[0].cookie, 2); /* sorted */
	r = throttle_reads_find(got, 9, 40, 0);
	assert_non_null(r);
	assert_int_equal(r->ns, 7000);
	assert_int_equal(r->join_id, 11);
	r = throttle_reads_find(got, 2, 41, 0);
	assert_non_null(r);
	assert_int_equal(r->ns, 3000);
	assert_null(throttle_reads_find(got, 9, 40, 1));
	assert_null(throttle_reads_find(got, 9, 40, 2));
	assert_null(throttle_reads_find(got, 9, 41, 0));
	assert_null(throttle_reads_find(NULL, 9, 40, 0));
	/* the sources' own fds stay open: only the duplicates were closed */
	assert_true(fcntl(a[0].fd, F_GETFD) >= 0);
	throttle_reads_free(got);
	close(a[0].fd);
	close(a[2].fd);
	close(b[0].fd);
	pthread_mutex_destroy(&t.lock);
}

static void take__no_vm__empty(void **state)
{
	struct vm_table t = { 0 };
	struct throttle_reads *got;

	(void)state;
	pthread_mutex_init(&t.lock, NULL);
	got = throttle_reads_take(&t);
	assert_non_null(got);
	assert_int_equal(got->n, 0);
	assert_null(throttle_reads_find(got, 1, 1, 0));
	throttle_reads_free(got);
	pthread_mutex_destroy(&t.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(take__live_readable_sources__read_sorted_fds_kept),
		cmocka_unit_test(take__no_vm__empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
