// SPDX-License-Identifier: GPL-2.0
/* Basic authentication: bcrypt through crypt_r(3) (libxcrypt), a cache of HMACs (http_auth.h). */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "http_auth.h"

#define TAG_LEN 32 /* SHA-256 */

struct http_auth {
	struct web_user *users;
	size_t nusers;
	uint8_t key[32]; /* the HMAC's */
	pthread_mutex_t lock; /* the cache and the counters */
	uint8_t cache[HTTP_AUTH_CACHE_ENTRIES][TAG_LEN];
	bool used[HTTP_AUTH_CACHE_ENTRIES];
	unsigned next; /* the entry the next success replaces */
	unsigned long hits, checks;
};

/* a == b over n bytes, in a time that depends on n only */
static bool same_bytes(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

static bool bcrypt_matches(const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *out;
	bool ok = false;

	if (!cd)
		return false;
	out = crypt_r(password, hash, cd);
	/* a failure is NULL or a string starting with '*', never the 60-character hash */
	if (out && strlen(out) == strlen(hash))
		ok = same_bytes(out, hash, strlen(hash));
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* HMAC-SHA-256(key, len(user) || user || password) */
static int credentials_tag(const struct http_auth *a, const char *user, const char *password,
			   uint8_t tag[TAG_LEN])
{
	size_t ulen = strlen(user), plen = strlen(password), n = sizeof(uint32_t) + ulen + plen;
	uint32_t ulen32 = (uint32_t)ulen;
	uint8_t *msg = malloc(n);
	int rc;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, &ulen32, sizeof(ulen32));
	memcpy(msg + sizeof(ulen32), user, ulen);
	memcpy(msg + sizeof(ulen32) + ulen, password, plen);
	rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->key, sizeof(a->key), msg, n, tag);
	explicit_bzero(msg, n);
	free(msg);
	return rc < 0 ? -EIO : 0;
}

/* Looks at every entry, whatever matches */
static bool cache_has(const struct http_auth *a, const uint8_t tag[TAG_LEN])
{
	bool hit = false;

	for (unsigned i = 0; i < HTTP_AUTH_CACHE_ENTRIES; i++)
		hit |= a->used[i] & same_bytes(a->cache[i], tag, TAG_LEN);
	return hit;
}

bool http_auth_check(struct http_auth *a, const char *user, const char *password)
{
	uint8_t tag[TAG_LEN];
	const char *hash;
	bool known = false, ok, tagged, hit = false;
	size_t i;

	if (!a || !user || !password)
		return false;
	tagged = credentials_tag(a, user, password, tag) == 0;
	if (tagged) {
		pthread_mutex_lock(&a->lock);
		hit = cache_has(a, tag);
		a->hits += hit;
		a->checks += !hit;
		pthread_mutex_unlock(&a->lock);
	}
	if (hit) {
		explicit_bzero(tag, sizeof(tag));
		return true;
	}
	hash = a->users[0].hash; /* an unknown user costs a bcrypt check too */
	for (i = 0; i < a->nusers; i++) {
		if (!strcmp(a->users[i].name, user)) {
			hash = a->users[i].hash;
			known = true;
		}
	}
	ok = bcrypt_matches(password, hash) && known;
	if (ok && tagged) {
		pthread_mutex_lock(&a->lock);
		memcpy(a->cache[a->next], tag, TAG_LEN);
		a->used[a->next] = true;
		a->next = (a->next + 1) % HTTP_AUTH_CACHE_ENTRIES;
		pthread_mutex_unlock(&a->lock);
	}
	explicit_bzero(tag, sizeof(tag));
	return ok;
}

void http_auth_stats(struct http_auth *a, unsigned long *cached, unsigned long *bcrypt)
{
	pthread_mutex_lock(&a->lock);
	*cached = a->hits;
	*bcrypt = a->checks;
	pthread_mutex_unlock(&a->lock);
}

int http_auth_new(struct http_auth **out, const struct web_user *users, size_t n)
{
	struct http_auth *a;

	if (!n)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	if (getrandom(a->key, sizeof(a->key), 0) != sizeof(a->key)) {
		http_auth_free(a);
		return -EIO;
	}
	a->users = calloc(n, sizeof(*a->users));
	if (!a->users) {
		http_auth_free(a);
		return -ENOMEM;
	}
	for (a->nusers = 0; a->nusers < n; a->nusers++) {
		struct web_user *u = &a->users[a->nusers];

		u->name = strdup(users[a->nusers].name);
		u->hash = strdup(users[a->nusers].hash);
		if (!u->name || !u->hash) {
			a->nusers++;
			http_auth_free(a);
			return -ENOMEM;
		}
	}
	*out = a;
	return 0;
}

void http_auth_free(struct http_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nusers; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
	pthread_mutex_destroy(&a->lock);
	explicit_bzero(a, sizeof(*a));
	free(a);
}
