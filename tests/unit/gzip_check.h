/* SPDX-License-Identifier: GPL-2.0 */
/* Checks of gzip bodies for the unit tests, by inflating them with zlib. */
#ifndef STEALTIME_TESTS_GZIP_CHECK_H
#define STEALTIME_TESTS_GZIP_CHECK_H

#include <stddef.h>

/* gz[0..gz_len) is one gzip member, nothing after it, of exactly want[0..len) */
void assert_inflates_to(const void *gz, size_t gz_len, const void *want, size_t len);

#endif
