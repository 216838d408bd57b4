// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "config_error.h"

void config_error_format(char *err, size_t errlen, const char *file, unsigned long line,
			 unsigned long column, const char *key, const char *msg)
{
	snprintf(err, errlen, "%s:%lu:%lu: %s%s%s", file, line, column, key, *key ? ": " : "",
		 msg);
	for (char *s = err; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}
