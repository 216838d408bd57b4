/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP basic authentication against the bcrypt hashes of the web
 * configuration (web_config.h), as exporter-toolkit checks them.
 *
 * A bcrypt check costs tens of milliseconds by design (cost 10: ~60 ms
 * here), far more than a scrape. Credentials that passed are remembered in
 * a small cache keyed by an HMAC-SHA-256, under a random key drawn at
 * creation, of the user name and password (never the password itself), so
 * a scraper that sends the same credentials every 15 s pays once. Failures
 * are not cached: each costs a full bcrypt check, which slows guessing.
 * An unknown user is checked against a real hash all the same, so the time
 * taken does not tell which user names exist. The cache lives and dies with
 * the struct: a reload that changes the users makes a new one.
 */
#ifndef STEALTIMED_HTTP_AUTH_H
#define STEALTIMED_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "web_config.h"

#define HTTP_AUTH_CACHE_ENTRIES 64

struct http_auth;

/* Copies users (n >= 1); 0, -EINVAL for n == 0, or -ENOMEM */
int http_auth_new(struct http_auth **out, const struct web_user *users, size_t n);
/* Whether user and password (NUL-terminated; NULL is a failure) match. Thread-safe. */
bool http_auth_check(struct http_auth *a, const char *user, const char *password);
/* Checks answered from the cache, and with bcrypt, so far (for tests) */
void http_auth_stats(struct http_auth *a, unsigned long *cached, unsigned long *bcrypt);
void http_auth_free(struct http_auth *a);

#endif
