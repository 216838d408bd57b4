// link: daemon/http_auth.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Basic-auth checks against bcrypt hashes: made by htpasswd (apache2-utils,
 * $2y$) and by crypt_gensalt(3) ($2b$), checked by crypt_r(3); the cache
 * of successes, and which checks pay a bcrypt (counted, not timed).
 */
#include <crypt.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_auth.h"

#define ALICE "$2y$04$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK" /* secret */
#define BOB "$2y$04$LQYkCXGzA6dItd.FhX0TOemfbwCxGAUFzdm3BhdU6FXA4zSTDQGMW"   /* pa:ss word */

static struct http_auth *two_users(void)
{
	struct web_user users[] = { { "alice", ALICE }, { "bob", BOB } };
	struct http_auth *a = NULL;

	assert_int_equal(http_auth_new(&a, users, 2), 0);
	return a;
}

static void counts(struct http_auth *a, unsigned long cached, unsigned long bcrypt)
{
	unsigned long c, b;

	http_auth_stats(a, &c, &b);
	if (c != cached || b != bcrypt)
		fail_msg("cached %lu bcrypt %lu, expected %lu and %lu", c, b, cached, bcrypt);
}

/* A bcrypt hash of password made by libcrypt itself ($2b$, cost 4) */
static char *hash_of(const char *password)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd = { 0 };

	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	assert_non_null(crypt_r(password, salt, &cd));
	return strdup(cd.output);
}

static void right_password__each_user__accepted(void **state)
{
	struct http_auth *a = two_users();

	assert_true(http_auth_check(a, "alice", "secret"));
	assert_true(http_auth_check(a, "bob", "pa:ss word"));
	http_auth_free(a);
}

static void wrong_credentials__each_kind__refused(void **state)
{
	struct http_auth *a = two_users();

	assert_false(http_auth_check(a, "alice", "Secret"));
	assert_false(http_auth_check(a, "alice", "secret "));
	assert_false(http_auth_check(a, "alice", ""));
	assert_false(http_auth_check(a, "alice", "pa:ss word")); /* bob's */
	assert_false(http_auth_check(a, "bob", "secret"));       /* alice's */
	assert_false(http_auth_check(a, "Alice", "secret"));
	assert_false(http_auth_check(a, "mallory", "secret"));
	assert_false(http_auth_check(a, "", "secret"));
	assert_false(http_auth_check(a, NULL, "secret"));
	assert_false(http_auth_check(a, "alice", NULL));
	assert_false(http_auth_check(NULL, "alice", "secret"));
	http_auth_free(a);
}

static void libcrypt_hash__2b__accepted(void **state)
{
	char *hash = hash_of("hunter2");
	struct web_user u = { "carol", hash };
	struct http_auth *a;

	assert_memory_equal(hash, "$2b$04$", 7);
	assert_int_equal(http_auth_new(&a, &u, 1), 0);
	assert_true(http_auth_check(a, "carol", "hunter2"));
	assert_false(http_auth_check(a, "carol", "hunter3"));
	http_auth_free(a);
	free(hash);
}

static void repeated_success__second_check__from_the_cache(void **state)
{
	struct http_auth *a = two_users();

	counts(a, 0, 0);
	assert_true(http_auth_check(a, "alice", "secret"));
	counts(a, 0, 1);
	for (int i = 0; i < 5; i++)
		assert_true(http_auth_check(a, "alice", "secret"));
	counts(a, 5, 1);
	/* the cache knows alice's password, not alice: bob and a wrong one are checked */
	assert_true(http_auth_check(a, "bob", "pa:ss word"));
	assert_false(http_auth_check(a, "alice", "secret2"));
	assert_false(http_auth_check(a, "bob", "secret"));
	counts(a, 5, 4);
	http_auth_free(a);
}

static void failures__repeated__each_pays_bcrypt(void **state)
{
	struct http_auth *a = two_users();

	for (int i = 0; i < 3; i++)
		assert_false(http_auth_check(a, "alice", "guess"));
	counts(a, 0, 3);
	http_auth_free(a);
}

static void unknown_user__checked__pays_bcrypt_too(void **state)
{
	struct http_auth *a = two_users();

	/* the same work as a known user's: the time taken does not tell who exists */
	assert_false(http_auth_check(a, "mallory", "secret"));
	assert_false(http_auth_check(a, "mallory", "secret")); /* and never cached */
	counts(a, 0, 2);
	http_auth_free(a);
}

static void cache__more_successes_than_entries__oldest_checked_again(void **state)
{
	enum { N = HTTP_AUTH_CACHE_ENTRIES + 1 };
	struct web_user users[N];
	char names[N][16], passwords[N][16];
	struct http_auth *a;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "user%d", i);
		snprintf(passwords[i], sizeof(passwords[i]), "pw%d", i);
		users[i] = (struct web_user){ names[i], hash_of(passwords[i]) };
	}
	assert_int_equal(http_auth_new(&a, users, N), 0);
	for (int i = 0; i < N; i++)
		assert_true(http_auth_check(a, names[i], passwords[i]));
	counts(a, 0, N);
	/* user0's entry was the one replaced by the last; the others are all there */
	for (int i = 1; i < N; i++)
		assert_true(http_auth_check(a, names[i], passwords[i]));
	counts(a, N - 1, N);
	assert_true(http_auth_check(a, names[0], passwords[0]));
	counts(a, N - 1, N + 1);
	http_auth_free(a);
	for (int i = 0; i < N; i++)
		free(users[i].hash);
}

static void new__no_users__einval(void **state)
{
	struct http_auth *a = NULL;

	assert_int_equal(http_auth_new(&a, NULL, 0), -EINVAL);
	assert_null(a);
	http_auth_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(right_password__each_user__accepted),
		cmocka_unit_test(wrong_credentials__each_kind__refused),
		cmocka_unit_test(libcrypt_hash__2b__accepted),
		cmocka_unit_test(repeated_success__second_check__from_the_cache),
		cmocka_unit_test(failures__repeated__each_pays_bcrypt),
		cmocka_unit_test(unknown_user__checked__pays_bcrypt_too),
		cmocka_unit_test(cache__more_successes_than_entries__oldest_checked_again),
		cmocka_unit_test(new__no_users__einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
