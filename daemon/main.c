// SPDX-License-Identifier: GPL-2.0
/*
 * stealtimed: loads the BPF side (bpf/stealtime.bpf.c explains it), keeps
 * the VM table in step with the kernel, serves the HTTP API and the VMM
 * control socket.
 *
 * Threads: the sd-event loop on the main thread owns signals, timers, the
 * BPF ring buffer and the control socket; libmicrohttpd serves HTTP on its
 * own polling thread so that a slow scraper never delays a rescan or a VMM
 * request. Both meet at the VM table's mutex.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bpf_engine.h"
#include "config.h"
#include "control.h"
#include "guest_records.h"
#include "http_server.h"
#include "log.h"
#include "vm_table.h"

/* command-line values override the file's, also across reloads */
enum cli_key {
	CLI_LISTEN = 1 << 0,
	CLI_CONTROL_SOCKET = 1 << 1,
	CLI_CONTROL_GROUP = 1 << 2,
	CLI_PIN_DIR = 1 << 3,
	CLI_RESCAN = 1 << 4,
	CLI_COMMIT = 1 << 5,
	CLI_LOG_LEVEL = 1 << 6,
};

struct cli {
	struct config values; /* the keys given on the command line */
	unsigned set;         /* which: enum cli_key */
	const char *config_path;
	bool config_explicit;
	const char *check_config;
	bool cleanup;
};

struct daemon {
	struct cli cli;
	struct config cfg;
	struct bpf_engine bpf;
	struct vm_table table;
	struct guest_records_config records;
	struct http_server *http;
	struct control_server *control;
	sd_event *ev;
	sd_event_source *rescan_timer;
	bool rescan_wanted;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: stealtimed [OPTIONS]\n"
		"Measures KVM vCPU stolen time with BPF and serves it.\n\n"
		"  --config FILE              configuration (default " CONFIG_DEFAULT_PATH ", optional)\n"
		"  --check-config FILE        validate FILE and exit\n"
		"  --listen HOST:PORT         HTTP API address (default 127.0.0.1:9477)\n"
		"  --control-socket PATH      VMM control socket (default /run/stealtimed/control.sock)\n"
		"  --control-group GROUP      group allowed on the control socket (default: root only)\n"
		"  --pin-dir DIR              where the BPF maps are pinned (default /sys/fs/bpf/stealtimed)\n"
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
	case 'c':
		o->set |= CLI_CONTROL_SOCKET;
		return copy_arg(v->control_socket, sizeof(v->control_socket), arg, "--control-socket");
	case 'g':
		o->set |= CLI_CONTROL_GROUP;
		return copy_arg(v->control_group, sizeof(v->control_group), arg, "--control-group");
	case 'p': o->set |= CLI_PIN_DIR; return copy_arg(v->pin_dir, sizeof(v->pin_dir), arg, "--pin-dir");
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

/* 0, 1 for --help, or a negative errno */
static int parse_options(int argc, char **argv, struct cli *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "check-config", required_argument, NULL, 'K' },
		{ "listen", required_argument, NULL, 'l' },
		{ "control-socket", required_argument, NULL, 'c' },
		{ "control-group", required_argument, NULL, 'g' },
		{ "pin-dir", required_argument, NULL, 'p' },
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
	if (o->set & CLI_CONTROL_SOCKET)
		memcpy(c->control_socket, v->control_socket, sizeof(c->control_socket));
	if (o->set & CLI_CONTROL_GROUP)
		memcpy(c->control_group, v->control_group, sizeof(c->control_group));
	if (o->set & CLI_PIN_DIR)
		memcpy(c->pin_dir, v->pin_dir, sizeof(c->pin_dir));
	if (o->set & CLI_RESCAN)
		c->rescan_interval_s = v->rescan_interval_s;
	if (o->set & CLI_COMMIT)
		c->commit = v->commit;
	if (o->set & CLI_LOG_LEVEL)
		c->log_level = v->log_level;
}

/* defaults < file < command line, into *out (untouched on error) */
static int load_config(const struct cli *o, struct config *out)
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

static int check_config(const char *path)
{
	struct config c;
	char err[512];

	config_defaults(&c);
	if (config_load_file(path, &c, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: ok\n", path);
	return 0;
}

static int view(void *ctx, struct host_view *out)
{
	struct daemon *d = ctx;
	int err = vm_table_view(&d->table, out);

	if (err)
		return err;
	out->top_culprits = d->cfg.top_culprits;
	if (d->http)
		http_server_counters(d->http, &out->stats.http_requests, &out->stats.http_errors);
	if (d->control)
		control_server_counters(d->control, &out->stats.control_requests,
					&out->stats.control_errors);
	return 0;
}

static void update_status(struct daemon *d)
{
	size_t nvcpus = 0, nvms;

	pthread_mutex_lock(&d->table.lock);
	nvms = d->table.nvms;
	for (size_t i = 0; i < nvms; i++)
		nvcpus += d->table.vms[i]->nvcpus;
	pthread_mutex_unlock(&d->table.lock);
	sd_notifyf(0, "STATUS=tracking %zu VMs, %zu vCPUs", nvms, nvcpus);
}

static void rescan(struct daemon *d)
{
	d->rescan_wanted = false;
	vm_table_rescan(&d->table);
	update_status(d);
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *ctx)
{
	struct daemon *d = ctx;

	rescan(d);
	return sd_event_source_set_time(s, usec + d->cfg.rescan_interval_s * 1000000ULL);
}

static void on_bpf_event(void *ctx, const struct st_event *ev)
{
	struct daemon *d = ctx;

	log_debug("BPF event %u: pid %u tid %u", ev->type, ev->pid, ev->tid);
	if (ev->type == ST_EVENT_UNKNOWN_VCPU) {
		pthread_mutex_lock(&d->table.lock);
		d->table.rescan_requests++;
		pthread_mutex_unlock(&d->table.lock);
	}
	d->rescan_wanted = true;
}

static int on_ringbuf(sd_event_source *s, int fd, uint32_t revents, void *ctx)
{
	struct daemon *d = ctx;

	bpf_engine_ringbuf_consume(&d->bpf);
	if (d->rescan_wanted)
		rescan(d);
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	struct daemon *d = ctx;

	log_info("signal %u: stopping", si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(d->ev, 0);
}

static void warn_restart_only(const struct config *run, const struct config *want)
{
	if (strcmp(run->listen, want->listen) || strcmp(run->control_socket, want->control_socket) ||
	    strcmp(run->control_group, want->control_group) || strcmp(run->pin_dir, want->pin_dir) ||
	    run->max_vms != want->max_vms || run->max_vcpus != want->max_vcpus ||
	    run->max_attribution_entries != want->max_attribution_entries ||
	    run->count_wakeups != want->count_wakeups)
		log_notice("reload: sockets, pin_dir, limits and count_wakeups change at the next start");
}

/* SIGHUP: reload; an invalid file keeps the running configuration */
static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	struct daemon *d = ctx;
	struct config c;

	sd_notify(0, "RELOADING=1");
	if (load_config(&d->cli, &c)) {
		log_error("reload failed: keeping the running configuration");
	} else {
		warn_restart_only(&d->cfg, &c);
		log_max_level = c.log_level;
		d->cfg.log_level = c.log_level;
		d->cfg.rescan_interval_s = c.rescan_interval_s;
		d->cfg.top_culprits = c.top_culprits;
		pthread_mutex_lock(&d->table.lock);
		d->table.top_culprits = c.top_culprits; /* more room: new culprits may join */
		d->cfg.commit = c.commit;
		d->records.commit_enabled = c.commit;
		pthread_mutex_unlock(&d->table.lock);
		log_info("configuration reloaded (commit %s, rescan every %u s)",
			 c.commit ? "on" : "off", c.rescan_interval_s);
	}
	sd_notify(0, "READY=1");
	update_status(d);
	return 0;
}

static int resolve_group(const char *name, gid_t *gid)
{
	struct group *g;

	*gid = (gid_t)-1;
	if (!name || !*name)
		return 0;
	g = getgrnam(name);
	if (!g)
		return log_errno(-ENOENT, "control group '%s'", name);
	*gid = g->gr_gid;
	return 0;
}

/* The HTTP socket handed over by systemd (stealtimed.socket), or -1 */
static int activated_socket(void)
{
	int n = sd_listen_fds(1);

	return n >= 1 ? SD_LISTEN_FDS_START : -1;
}

static int setup_loop(struct daemon *d)
{
	uint64_t now;
	sigset_t mask;
	int err;

	err = sd_event_default(&d->ev);
	if (err < 0)
		return log_errno(err, "sd-event");
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((err = sd_event_add_signal(d->ev, NULL, SIGTERM, on_signal, d)) < 0 ||
	    (err = sd_event_add_signal(d->ev, NULL, SIGINT, on_signal, d)) < 0 ||
	    (err = sd_event_add_signal(d->ev, NULL, SIGHUP, on_reload, d)) < 0)
		return log_errno(err, "signals");
	bpf_engine_set_event_handler(&d->bpf, on_bpf_event, d);
	err = sd_event_add_io(d->ev, NULL, bpf_engine_ringbuf_fd(&d->bpf), EPOLLIN, on_ringbuf, d);
	if (err < 0)
		return log_errno(err, "ring buffer source");
	sd_event_now(d->ev, CLOCK_MONOTONIC, &now);
	err = sd_event_add_time(d->ev, &d->rescan_timer, CLOCK_MONOTONIC,
				now + d->cfg.rescan_interval_s * 1000000ULL, 100000, on_rescan_timer,
				d);
	if (err < 0)
		return log_errno(err, "rescan timer");
	sd_event_source_set_enabled(d->rescan_timer, SD_EVENT_ON);
	/* WATCHDOG=1 at half of WATCHDOG_USEC when systemd asks for it */
	sd_event_set_watchdog(d->ev, true);
	return 0;
}

static int run(struct daemon *d)
{
	gid_t gid;
	int err;

	err = resolve_group(d->cfg.control_group, &gid);
	if (err)
		return err;
	err = bpf_engine_open(&d->bpf, d->cfg.pin_dir, d->cfg.max_attribution_entries,
			      d->cfg.count_wakeups);
	if (err)
		return err;
	vm_table_init(&d->table, &d->bpf, d->cfg.max_vms, d->cfg.max_vcpus);
	d->table.top_culprits = d->cfg.top_culprits;
	rescan(d);
	err = setup_loop(d);
	if (err)
		return err;
	d->records = (struct guest_records_config){ .table = &d->table, .commit_enabled = d->cfg.commit };
	err = control_server_start(&d->control, d->ev, d->cfg.control_socket, gid,
				   &guest_records_ops, &d->records);
	if (err)
		return log_errno(err, "control socket %s", d->cfg.control_socket);
	err = http_server_start(&d->http, d->cfg.listen, activated_socket(), view, d);
	if (err)
		return log_errno(err, "HTTP API on %s", d->cfg.listen);
	sd_notify(0, "READY=1");
	update_status(d);
	log_info("ready: HTTP %s, control %s", d->cfg.listen, d->cfg.control_socket);
	return sd_event_loop(d->ev);
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	int err;

	err = parse_options(argc, argv, &d.cli);
	if (err)
		return err > 0 ? 0 : 2;
	if (d.cli.check_config)
		return check_config(d.cli.check_config);
	log_max_level = d.cli.values.log_level;
	if (load_config(&d.cli, &d.cfg))
		return 1;
	log_max_level = d.cfg.log_level;
	if (d.cli.cleanup)
		return bpf_engine_unpin(d.cfg.pin_dir) ? 1 : 0;
	err = run(&d);
	if (d.http)
		http_server_stop(d.http);
	/* stopping does not unregister VMs: their records keep being committed */
	if (d.control)
		control_server_stop(d.control);
	sd_event_source_unref(d.rescan_timer);
	sd_event_unref(d.ev);
	if (d.table.bpf)
		vm_table_free(&d.table);
	bpf_engine_close(&d.bpf);
	if (err < 0) {
		log_error("exiting: %s", strerror(-err));
		return 1;
	}
	return 0;
}
