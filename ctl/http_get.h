/* SPDX-License-Identifier: GPL-2.0 */
/* One HTTP GET with libcurl, the body kept in memory. */
#ifndef STEALTIMECTL_HTTP_GET_H
#define STEALTIMECTL_HTTP_GET_H

#include <signal.h>
#include <stddef.h>

#define HTTP_GET_MAX_BODY (256u << 20) /* larger answers are refused */

struct http_answer {
	long status;
	char *body; /* NUL-terminated, malloc'd; free with http_answer_free */
	size_t len;
};

/*
 * GETs url. Returns 0 with *ans filled (any HTTP status), or -1 when no
 * answer came, with the reason in err.
 */
int http_get(const char *url, struct http_answer *ans, char *err, size_t err_len);
void http_answer_free(struct http_answer *ans);
/*
 * From now on, a transfer in progress gives up soon after *flag becomes
 * non-zero (set by a signal handler); NULL: never.
 */
void http_get_abort_on(const volatile sig_atomic_t *flag);

#endif
