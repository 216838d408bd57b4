// SPDX-License-Identifier: GPL-2.0
/*
 * Bodies rendered through a FILE: open_memstream() as they are,
 * http_gzip_open() compressed. Only this thread writes the FILE, so stdio
 * does not lock it.
 */
#include <errno.h>
#include <stdio_ext.h>
#include <stdlib.h>

#include "http_body.h"
#include "http_encoding.h"

/* One rendering into *body; *text_len: the bytes render wrote. */
static int render_once(const struct host_view *hv, http_render_fn render, bool gzip,
		       struct http_body *body, size_t *text_len)
{
	struct http_gzip_result gz;
	FILE *f = gzip ? http_gzip_open(&gz) : open_memstream(&body->data, &body->len);
	int err;

	if (!f)
		return -errno;
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	err = render(hv, f);
	if (fclose(f) && !err)
		err = gzip && gz.err ? gz.err : gzip ? -EIO : -ENOMEM;
	if (gzip) {
		body->data = gz.data;
		body->len = gz.len;
	}
	body->gzip = gzip;
	*text_len = gzip ? gz.in_len : body->len;
	return err;
}

int http_body_render(const struct host_view *hv, http_render_fn render, bool gzip,
		     struct http_body *body)
{
	size_t text_len;
	int err;

	*body = (struct http_body){ 0 };
	err = render_once(hv, render, gzip, body, &text_len);
	if (!err && gzip && text_len < HTTP_GZIP_MIN_BYTES) {
		free(body->data);
		*body = (struct http_body){ 0 };
		err = render_once(hv, render, false, body, &text_len);
	}
	if (err) {
		free(body->data);
		*body = (struct http_body){ 0 };
	}
	return err;
}
