// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for an HTTP request's Accept-Encoding value and the
 * gzip compression of a body (daemon/http_encoding.c): an empty list
 * element added at the end changes no answer, and every body inflates
 * back to itself.
 * fuzz-sources: daemon/http_encoding.c
 * fuzz-corpus: tests/fuzz/corpus/accept_encoding
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "http_encoding.h"

static void check_gzip(const uint8_t *data, size_t size)
{
	unsigned char *back = malloc(size + 1);
	size_t gz_len;
	void *gz;
	z_stream zs = { 0 };

	if (!back || http_gzip(data, size, &gz, &gz_len))
		__builtin_trap(); /* only out of memory may fail */
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		__builtin_trap();
	zs.next_in = gz;
	zs.avail_in = (uInt)gz_len;
	zs.next_out = back;
	zs.avail_out = (uInt)size + 1;
	if (inflate(&zs, Z_FINISH) != Z_STREAM_END || zs.avail_in || zs.total_out != size ||
	    memcmp(back, data, size))
		__builtin_trap();
	inflateEnd(&zs);
	free(gz);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 2);

	if (!value)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';
	if (strlen(value) == size) { /* a header value holds no NUL */
		bool yes = http_gzip_accepted(value);

		strcat(value, ",");
		if (http_gzip_accepted(value) != yes)
			__builtin_trap();
	}
	free(value);
	check_gzip(data, size);
	return 0;
}
