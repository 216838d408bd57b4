// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "web_config.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: stealtimed [OPTIONS]\n"
		"Measures KVM vCPU stolen time with BPF and serves it.\n\n"
		"  --config FILE              configuration (default " CONFIG_DEFAULT_PATH ", optional)\n"
		"  --check-config FILE        validate FILE and exit\n"
		"  --listen HOST:PORT         HTTP API address (default 127.0.0.1:9477)\n"
		"  --web-config-file FILE     TLS and basic auth of the HTTP API (exporter-toolkit's\n"
		"                             web configuration, YAML; default: none, plain HTTP)\n"
		"  --control-socket PATH      VMM control socket (default /run/stealtimed/control.sock)\n"
		"  --control-group GROUP      group allowed on the control socket (default: root only)\n"
		"  --pin-dir DIR              where the BPF maps are pinned (default /sys/fs/bpf/stealtimed)\n"
		"  --state-dir DIR            where the culprits with a series survive restarts\n"
		"                             (default /var/lib/stealtimed; \"\" for nowhere)\n"
		"  --rescan-interval SECONDS  periodic VM discovery (default 5)\n"
		"  --no-commit                do not offer stolen time to guests\n"
		"  --log-level LEVEL          debug, info, notice, warning, err (default info)\n"
		"  --cleanup                  remove the pinned maps and exit\n"
		"  -h, --help\n");
}

static int copy_arg(char *dst, size_t len, const char *arg, const char *what)
{
	if (strlen(arg) >= len) {
		fprintf(stderr, "stealtimed: %s: too long\n", what);
		return -EINVAL;
	}
	strcpy(dst, arg);
	return 0;
}

static int parse_cli_option(struct cli *o, int c, const char *arg)
{
	struct config *v = &o->values;
	char *end;
	long n;

	switch (c) {
	case 'f': o->config_path = arg; o->config_explicit = true; return 0;
	case 'K': o->check_config = arg; return 0;
	case 'C': o->cleanup = true; return 0;
	case 'n': v->commit = false; o->set |= CLI_COMMIT; return 0;
	case 'l': o->set |= CLI_LISTEN; return copy_arg(v->listen, sizeof(v->listen), arg, "--listen");
	case 'w':
		o->set |= CLI_WEB_CONFIG;
		return copy_arg(v->web_config_file, sizeof(v->web_config_file), arg,
				"--web-config-file");
	case 'c':
		o->set |= CLI_CONTROL_SOCKET;
		return copy_arg(v->control_socket, sizeof(v->control_socket), arg, "--control-socket");
	case 'g':
		o->set |= CLI_CONTROL_GROUP;
		return copy_arg(v->control_group, sizeof(v->control_group), arg, "--control-group");
	case 'p': o->set |= CLI_PIN_DIR; return copy_arg(v->pin_dir, sizeof(v->pin_dir), arg, "--pin-dir");
	case 's':
		if (arg[0] && arg[0] != '/') {
			fprintf(stderr, "stealtimed: --state-dir: must be an absolute path or empty\n");
			return -EINVAL;
		}
		o->set |= CLI_STATE_DIR;
		return copy_arg(v->state_dir, sizeof(v->state_dir), arg, "--state-dir");
	case 'r':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n < 1 || n > 3600) {
			fprintf(stderr, "stealtimed: --rescan-interval: 1..3600 seconds\n");
			return -EINVAL;
		}
		v->rescan_interval_s = n;
		o->set |= CLI_RESCAN;
		return 0;
	case 'L':
		v->log_level = log_level_from_string(arg);
		if (v->log_level < 0) {
			fprintf(stderr, "stealtimed: unknown log level '%s'\n", arg);
			return -EINVAL;
		}
		o->set |= CLI_LOG_LEVEL;
		return 0;
	}
	return -EINVAL;
}

int cli_parse(int argc, char **argv, struct cli *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "check-config", required_argument, NULL, 'K' },
		{ "listen", required_argument, NULL, 'l' },
		{ "web-config-file", required_argument, NULL, 'w' },
		{ "control-socket", required_argument, NULL, 'c' },
		{ "control-group", required_argument, NULL, 'g' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "rescan-interval", required_argument, NULL, 'r' },
		{ "no-commit", no_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	config_defaults(&o->values);
	o->config_path = CONFIG_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?' || parse_cli_option(o, c, optarg)) {
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "stealtimed: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void apply_cli(const struct cli *o, struct config *c)
{
	const struct config *v = &o->values;

	if (o->set & CLI_LISTEN)
		memcpy(c->listen, v->listen, sizeof(c->listen));
	if (o->set & CLI_WEB_CONFIG)
		memcpy(c->web_config_file, v->web_config_file, sizeof(c->web_config_file));
	if (o->set & CLI_CONTROL_SOCKET)
		memcpy(c->control_socket, v->control_socket, sizeof(c->control_socket));
	if (o->set & CLI_CONTROL_GROUP)
		memcpy(c->control_group, v->control_group, sizeof(c->control_group));
	if (o->set & CLI_PIN_DIR)
		memcpy(c->pin_dir, v->pin_dir, sizeof(c->pin_dir));
	if (o->set & CLI_STATE_DIR)
		memcpy(c->state_dir, v->state_dir, sizeof(c->state_dir));
	if (o->set & CLI_RESCAN)
		c->rescan_interval_s = v->rescan_interval_s;
	if (o->set & CLI_COMMIT)
		c->commit = v->commit;
	if (o->set & CLI_LOG_LEVEL)
		c->log_level = v->log_level;
}

int cli_load_config(const struct cli *o, struct config *out)
{
	struct config c;
	char err[512];
	int r;

	config_defaults(&c);
	if (o->config_explicit || access(o->config_path, F_OK) == 0) {
		r = config_load_file(o->config_path, &c, err, sizeof(err));
		if (r) {
			log_error("%s", err);
			return r;
		}
	}
	apply_cli(o, &c);
	*out = c;
	return 0;
}

int cli_check_config(const char *path)
{
	struct web_config web;
	struct config c;
	char err[512];

	config_defaults(&c);
	if (config_load_file(path, &c, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (c.web_config_file[0]) {
		if (web_config_load_file(c.web_config_file, &web, err, sizeof(err))) {
			fprintf(stderr, "web configuration: %s\n", err);
			return 1;
		}
		web_config_free(&web);
		printf("%s: ok\n", c.web_config_file);
	}
	printf("%s: ok\n", path);
	return 0;
}
