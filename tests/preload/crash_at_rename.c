// SPDX-License-Identifier: GPL-2.0
/*
 * crash_at_rename.so, preloaded (LD_PRELOAD) into a program: its rename(2)
 * of a path whose last component is $CRASH_AT_RENAME waits
 * $CRASH_DELAY_MS milliseconds (default 0) and kills the process
 * (SIGKILL) before renaming. A test makes a daemon die between two steps
 * of its start with it, at the same place on every run.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void crash_if_asked(const char *from)
{
	const char *name = getenv("CRASH_AT_RENAME"), *delay = getenv("CRASH_DELAY_MS");
	const char *base = strrchr(from, '/');
	long ms = delay ? strtol(delay, NULL, 10) : 0;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	if (!name || strcmp(base ? base + 1 : from, name))
		return;
	fprintf(stderr, "crash_at_rename: killed at the rename of %s\n", from);
	while (nanosleep(&ts, &ts))
		;
	raise(SIGKILL);
}

int rename(const char *from, const char *to)
{
	int (*real)(const char *, const char *) =
		(int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");

	crash_if_asked(from);
	return real(from, to);
}
