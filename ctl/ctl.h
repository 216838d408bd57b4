/* SPDX-License-Identifier: GPL-2.0 */
/* stealtimectl's command line, shared by its commands. */
#ifndef STEALTIMECTL_CTL_H
#define STEALTIMECTL_CTL_H

#include <stdbool.h>

#define EXIT_USAGE 2

enum top_sort {
	TOP_SORT_STEAL,
	TOP_SORT_NAME,
	TOP_SORT_P99,
};

struct options {
	char *server;      /* without a trailing '/' */
	bool json;
	/* top only */
	double interval_s; /* -d */
	bool batch;        /* -b */
	unsigned long iterations; /* -n, 0: until stopped */
	enum top_sort sort;
};

#endif
