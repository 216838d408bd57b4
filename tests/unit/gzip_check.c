// SPDX-License-Identifier: GPL-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <zlib.h>

#include "gzip_check.h"

void assert_inflates_to(const void *gz, size_t gz_len, const void *want, size_t len)
{
	unsigned char *out = malloc(len + 1);
	z_stream zs = { 0 };

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK); /* gzip only, no zlib or raw */
	zs.next_in = (Bytef *)gz;
	zs.avail_in = (uInt)gz_len;
	zs.next_out = out;
	zs.avail_out = (uInt)len + 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0); /* one member, nothing after it */
	assert_int_equal(zs.total_out, len);
	assert_memory_equal(out, want, len);
	inflateEnd(&zs);
	free(out);
}
