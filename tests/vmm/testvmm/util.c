// SPDX-License-Identifier: GPL-2.0
/* testvmm: small helpers */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testvmm.h"

__attribute__((format(printf, 2, 3)))
int error_at(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("testvmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(-err));
	return err;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *errno_name(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "EUNKNOWN";
}
