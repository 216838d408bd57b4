// link: daemon/http_encoding.c tests/unit/gzip_check.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Accept-Encoding as clients send it (curl, Prometheus, browsers) and as
 * they may: weights, wildcards, case, spacing, empty list elements, and
 * malformed values, which never get gzip. gzip bodies are inflated back
 * with zlib.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gzip_check.h"
#include "http_encoding.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void assert_each(const char *const *values, size_t n, bool want)
{
	for (size_t i = 0; i < n; i++)
		if (http_gzip_accepted(values[i]) != want)
			fail_msg("Accept-Encoding '%s': want %s", values[i],
				 want ? "gzip" : "no gzip");
}

/* --- Accept-Encoding ------------------------------------------------------- */

static void accepted__gzip_named__yes(void **state)
{
	static const char *const v[] = {
		"gzip",                         /* Prometheus */
		"deflate, gzip, br, zstd",      /* curl --compressed */
		"gzip, deflate, br",            /* browsers */
		"GZip", "x-gzip", "X-GZIP",
		"gzip;q=1", "gzip;q=1.000", "gzip ; q=0.001", "gzip;Q=0.5", "gzip\t;\tq=1.",
		", ,gzip,,", "identity;q=0, gzip",
	};

	assert_each(v, ARRAY_SIZE(v), true);
}

static void accepted__gzip_weight_zero__no(void **state)
{
	static const char *const v[] = {
		"gzip;q=0", "gzip;q=0.", "gzip; q=0.000", "x-gzip;q=0", "gzip;q=0, deflate",
		"gzip;q=0, *", "*, gzip;q=0", "gzip;q=0, *;q=1",
	};

	assert_each(v, ARRAY_SIZE(v), false);
}

static void accepted__wildcard__unless_gzip_named(void **state)
{
	static const char *const yes[] = { "*", "*;q=0.1", "identity, *;q=0.5", "br, *" };
	static const char *const no[] = { "*;q=0", "br, *;q=0.000" };

	assert_each(yes, ARRAY_SIZE(yes), true);
	assert_each(no, ARRAY_SIZE(no), false);
	assert_true(http_gzip_accepted("*;q=0, gzip"));
}

static void accepted__gzip_named_twice__largest_weight(void **state)
{
	assert_true(http_gzip_accepted("gzip;q=0, gzip;q=0.5"));
	assert_true(http_gzip_accepted("x-gzip;q=0.2, gzip;q=0"));
	assert_false(http_gzip_accepted("gzip;q=0, x-gzip;q=0"));
}

static void accepted__other_codings_only__no(void **state)
{
	static const char *const v[] = {
		"identity", "deflate", "br, zstd", "deflate;q=1, identity;q=0.5",
		"gzipx", "xgzip", "gzip-1", "gzi", "",
		"   ", ",", " , ,",
	};

	assert_each(v, ARRAY_SIZE(v), false);
	assert_false(http_gzip_accepted(NULL));
}

static void accepted__malformed__no(void **state)
{
	static const char *const v[] = {
		"gzip;q=1.5", "gzip;q=2", "gzip;q=1.001", "gzip;q=0.5555", "gzip;q=.5",
		"gzip;q=", "gzip;q", "gzip;", "gzip;level=9", "gzip;q=0.5;q=1", "gzip;q=0.5x",
		"gzip q=1", "gz ip", "\"gzip\"", "gzip/1", ";q=1, gzip", "gzip;q=-1",
		"gzip, de(flate", "gzip\n",
	};

	assert_each(v, ARRAY_SIZE(v), false);
}

/* --- compression ------------------------------------------------------------ */

static void gzip__metrics_text__smaller_and_inflates_back(void **state)
{
	static const char line[] = "stealtime_vcpu_steal_seconds_total{vm=\"web01\",vm_id=\"4021\","
				   "vcpu=\"%d\"} %d.%09d\n";
	size_t len = 0, cap = 1 << 20, gz_len = 0;
	char *text = malloc(cap);
	void *gz = NULL;

	assert_non_null(text);
	for (int i = 0; len + 256 < cap; i++)
		len += (size_t)snprintf(text + len, cap - len, line, i, i * 7,
					i * 7919 % 1000000000);
	assert_int_equal(http_gzip(text, len, &gz, &gz_len), 0);
	assert_true(gz_len > 18);
	assert_int_equal(((unsigned char *)gz)[0], 0x1f); /* gzip magic */
	assert_int_equal(((unsigned char *)gz)[1], 0x8b);
	assert_true(gz_len * 4 < len);
	assert_inflates_to(gz, gz_len, text, len);
	free(gz);
	free(text);
}

static void gzip__incompressible__inflates_back(void **state)
{
	unsigned char data[4096];
	size_t gz_len = 0;
	uint32_t x = 2463534242u;
	void *gz = NULL;

	for (size_t i = 0; i < sizeof(data); i++) { /* xorshift32 */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	assert_int_equal(http_gzip(data, sizeof(data), &gz, &gz_len), 0);
	assert_inflates_to(gz, gz_len, data, sizeof(data));
	free(gz);
}

static void gzip__empty__a_valid_member(void **state)
{
	size_t gz_len = 0;
	void *gz = NULL;

	assert_int_equal(http_gzip("", 0, &gz, &gz_len), 0);
	assert_inflates_to(gz, gz_len, "", 0);
	free(gz);
}

/* data[0..len) through a stream of http_gzip_open(), fwrite() in pieces of 1, 2, ... 4099 bytes */
static void assert_stream_inflates_back(const unsigned char *data, size_t len)
{
	struct http_gzip_result res;
	FILE *f = http_gzip_open(&res);
	size_t off = 0;

	assert_non_null(f);
	for (size_t piece = 1; off < len; piece = piece % 4099 + 1) {
		size_t n = len - off < piece ? len - off : piece;

		assert_int_equal(fwrite(data + off, 1, n, f), n);
		off += n;
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.in_len, len);
	assert_non_null(res.data);
	assert_int_equal(((unsigned char *)res.data)[0], 0x1f); /* gzip magic */
	assert_int_equal(((unsigned char *)res.data)[1], 0x8b);
	assert_inflates_to(res.data, res.len, data, len);
	free(res.data);
}

static void stream__metrics_text_in_pieces__inflates_back(void **state)
{
	static const char line[] = "stealtime_vcpu_run_seconds_total{vm=\"db%d\",vm_id=\"%d\","
				   "vcpu=\"%d\"} %d.%09d\n";
	size_t len = 0, cap = 4 << 20;
	char *text = malloc(cap);

	assert_non_null(text);
	for (int i = 0; len + 256 < cap; i++)
		len += (size_t)snprintf(text + len, cap - len, line, i / 64, i / 64 + 100, i % 64,
					i * 3, i * 7919 % 1000000000);
	assert_stream_inflates_back((unsigned char *)text, len);
	free(text);
}

/* compressed output past its first 64 KiB: it must grow */
static void stream__incompressible__output_grows_and_inflates_back(void **state)
{
	size_t len = 1 << 20;
	unsigned char *data = malloc(len);
	uint32_t x = 2463534242u;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++) { /* xorshift32 */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	assert_stream_inflates_back(data, len);
	free(data);
}

static void stream__nothing_written__a_valid_member(void **state)
{
	struct http_gzip_result res;
	FILE *f = http_gzip_open(&res);

	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.in_len, 0);
	assert_inflates_to(res.data, res.len, "", 0);
	free(res.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted__gzip_named__yes),
		cmocka_unit_test(accepted__gzip_weight_zero__no),
		cmocka_unit_test(accepted__wildcard__unless_gzip_named),
		cmocka_unit_test(accepted__gzip_named_twice__largest_weight),
		cmocka_unit_test(accepted__other_codings_only__no),
		cmocka_unit_test(accepted__malformed__no),
		cmocka_unit_test(gzip__metrics_text__smaller_and_inflates_back),
		cmocka_unit_test(gzip__incompressible__inflates_back),
		cmocka_unit_test(gzip__empty__a_valid_member),
		cmocka_unit_test(stream__metrics_text_in_pieces__inflates_back),
		cmocka_unit_test(stream__incompressible__output_grows_and_inflates_back),
		cmocka_unit_test(stream__nothing_written__a_valid_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
