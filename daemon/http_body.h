/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The body of an answer rendered from a host_view into a stream: into a
 * growing buffer as it is, or gzip-compressed as it is written, so that a
 * compressed body's text is never held whole.
 */
#ifndef STEALTIMED_HTTP_BODY_H
#define STEALTIMED_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "host_view.h"

/* Writes hv's text to f; 0 or a negative errno. */
typedef int (*http_render_fn)(const struct host_view *hv, FILE *f);

struct http_body {
	char *data;  /* malloc'd */
	size_t len;
	bool gzip;   /* data is one gzip member of the text */
};

/*
 * render's text of hv into *body: gzip-compressed when gzip is true and
 * the text has HTTP_GZIP_MIN_BYTES or more (a shorter one is rendered
 * again, as it is). Returns 0 or a negative errno (*body empty then).
 */
int http_body_render(const struct host_view *hv, http_render_fn render, bool gzip,
		     struct http_body *body);

#endif
