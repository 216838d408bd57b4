// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

_Atomic int log_max_level = LOG_INFO;

static void vlog(int level, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "<%d>%s\n", level, buf);
}

void log_at(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int log_errno(int err, const char *fmt, ...)
{
	va_list ap;
	char buf[900];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_at(LOG_ERR, "%s: %s", buf, strerror(err < 0 ? -err : err));
	return err;
}

int log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "debug", LOG_DEBUG },     { "info", LOG_INFO }, { "notice", LOG_NOTICE },
		{ "warning", LOG_WARNING }, { "err", LOG_ERR },   { "error", LOG_ERR },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -EINVAL;
}
