/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One form for the errors of every configuration file the daemon reads
 * (config.c's JSON, web_config.c's YAML): "FILE:LINE:COLUMN: KEY: MESSAGE",
 * control characters of the file's own text shown as '?'.
 */
#ifndef STEALTIMED_CONFIG_ERROR_H
#define STEALTIMED_CONFIG_ERROR_H

#include <stddef.h>

/* Writes the error into err (errlen bytes); key may be "" */
void config_error_format(char *err, size_t errlen, const char *file, unsigned long line,
			 unsigned long column, const char *key, const char *msg);

#endif
