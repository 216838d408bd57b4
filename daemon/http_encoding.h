/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Content coding of HTTP answers: whether a request's Accept-Encoding lets
 * the answer be gzip-compressed, and the compression itself (zlib), of a
 * buffer or of a stream.
 */
#ifndef STEALTIMED_HTTP_ENCODING_H
#define STEALTIMED_HTTP_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Bodies shorter than this go out as they are: gzip would barely shrink them. */
#define HTTP_GZIP_MIN_BYTES 1024

/*
 * Whether an Accept-Encoding field value (RFC 9110 12.5.3: a list of
 * codings, each with an optional ";q=" weight from 0 to 1) lets the answer
 * be gzip-compressed: "gzip" (or its alias "x-gzip") with a weight above 0,
 * or, when neither is named, "*" with a weight above 0. Named more than
 * once, the largest weight counts. NULL (no such field), an empty value or
 * a malformed one (a bad token, weight or parameter anywhere): no. Several
 * Accept-Encoding fields are one value joined with commas.
 */
bool http_gzip_accepted(const char *accept_encoding);

/*
 * in[0..len) as one gzip member (RFC 1952) in a malloc'd *out of *out_len
 * bytes. Returns 0, -ENOMEM, or -EFBIG when len does not fit zlib's
 * 32-bit counts; *out is untouched on failure.
 */
int http_gzip(const void *in, size_t len, void **out, size_t *out_len);

/* What a stream of http_gzip_open() holds once closed. */
struct http_gzip_result {
	void *data;    /* malloc'd gzip member, NULL when the stream failed */
	size_t len;    /* its bytes */
	size_t in_len; /* bytes written to the stream, as they were */
	int err;       /* 0 or -ENOMEM (no data then) */
};

/*
 * A FILE whose bytes are compressed as they are written, into one gzip
 * member (the same as http_gzip() of them all), so that the text itself is
 * never held whole. fclose() fills *res (which must outlive the FILE) and
 * returns EOF when res->err is set. NULL, errno set, when it cannot be
 * opened.
 */
FILE *http_gzip_open(struct http_gzip_result *res);

#endif
