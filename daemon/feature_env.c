// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "feature_env.h"

bool feature_env_without(const char *name)
{
	const char *list = getenv("STEALTIMED_WITHOUT"), *p;
	size_t n = strlen(name);

	for (p = list; p && *p; p += strcspn(p, ",")) {
		p += *p == ',';
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}
