// link: daemon/rate_limit.c
// SPDX-License-Identifier: GPL-2.0
/* Token buckets (daemon/rate_limit.c) on a clock the tests move by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rate_limit.h"

#define MS 1000000ull
#define S 1000000000ull

static const struct rate five = { .per_s = 5, .burst = 10 };

/* Takes tokens at now until none is left; returns how many. */
static int drain(struct token_bucket *b, const struct rate *r, uint64_t now)
{
	int n = 0;

	while (token_bucket_wait(b, r, now) == 0 && n < 1000) {
		token_bucket_take(b);
		n++;
	}
	return n;
}

static void bucket__new__full_burst_then_wait_for_one_token(void **state)
{
	struct token_bucket b = { 0 };

	assert_int_equal(drain(&b, &five, 7 * S), 10);
	assert_int_equal(token_bucket_wait(&b, &five, 7 * S), 200 * MS);
	assert_int_equal(token_bucket_wait(&b, &five, 7 * S + 150 * MS), 50 * MS);
	assert_int_equal(token_bucket_wait(&b, &five, 7 * S + 200 * MS), 0);
}

static void bucket__refill__at_the_rate_never_above_burst(void **state)
{
	struct token_bucket b = { 0 };

	drain(&b, &five, S);
	assert_int_equal(drain(&b, &five, S + 600 * MS), 3);
	/* an hour idle: the burst again, not 18,000 tokens */
	assert_int_equal(drain(&b, &five, 3601 * S), 10);
}

static void bucket__clock_going_back__no_credit(void **state)
{
	struct token_bucket b = { 0 };

	drain(&b, &five, 10 * S);
	assert_true(token_bucket_wait(&b, &five, 9 * S) > 0);
	/* time is counted from the latest instant seen */
	assert_int_equal(token_bucket_wait(&b, &five, 10 * S + 200 * MS), 0);
}

static void bucket__wait_without_take__spends_nothing(void **state)
{
	struct token_bucket b = { 0 };

	for (int i = 0; i < 100; i++)
		assert_int_equal(token_bucket_wait(&b, &five, S), 0);
	assert_int_equal(drain(&b, &five, S), 10);
}

static void bucket__largest_rate_and_burst__no_overflow(void **state)
{
	const struct rate big = { .per_s = UINT32_MAX, .burst = UINT32_MAX };
	struct token_bucket b = { 0 };

	assert_int_equal(token_bucket_wait(&b, &big, 0), 0);
	assert_int_equal(b.credit, (uint64_t)UINT32_MAX * S);
	token_bucket_take(&b);
	assert_int_equal(token_bucket_wait(&b, &big, UINT64_MAX), 0);
	assert_int_equal(b.credit, (uint64_t)UINT32_MAX * S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket__new__full_burst_then_wait_for_one_token),
		cmocka_unit_test(bucket__refill__at_the_rate_never_above_burst),
		cmocka_unit_test(bucket__clock_going_back__no_credit),
		cmocka_unit_test(bucket__wait_without_take__spends_nothing),
		cmocka_unit_test(bucket__largest_rate_and_burst__no_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
