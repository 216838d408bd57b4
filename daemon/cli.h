/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stealtimed's command line, and the configuration it makes with the file:
 * built-in defaults < configuration file < command-line options (which
 * also win over the file at each reload).
 */
#ifndef STEALTIMED_CLI_H
#define STEALTIMED_CLI_H

#include <stdbool.h>

#include "config.h"

/* command-line values override the file's, also across reloads */
enum cli_key {
	CLI_LISTEN = 1 << 0,
	CLI_CONTROL_SOCKET = 1 << 1,
	CLI_CONTROL_GROUP = 1 << 2,
	CLI_PIN_DIR = 1 << 3,
	CLI_RESCAN = 1 << 4,
	CLI_COMMIT = 1 << 5,
	CLI_LOG_LEVEL = 1 << 6,
	CLI_WEB_CONFIG = 1 << 7,
	CLI_STATE_DIR = 1 << 8,
};

struct cli {
	struct config values; /* the keys given on the command line */
	unsigned set;         /* which: enum cli_key */
	const char *config_path;
	bool config_explicit;
	const char *check_config;
	bool cleanup;
};

/* 0, 1 when --help was printed, or a negative errno (the reason printed) */
int cli_parse(int argc, char **argv, struct cli *o);
/* defaults < file < command line, into *out (untouched on error, which is logged) */
int cli_load_config(const struct cli *o, struct config *out);
/* --check-config FILE: 0 when valid, 1 with the reason on stderr */
int cli_check_config(const char *path);

#endif
