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

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bpf_engine.h"
#include "control.h"
#include "guest_records.h"
#include "http_server.h"
#include "log.h"
#include "vm_table.h"

#define DEFAULT_LISTEN "127.0.0.1:9477"
#define DEFAULT_CONTROL "/run/stealtimed/control.sock"
#define DEFAULT_PIN_DIR "/sys/fs/bpf/stealtimed"

struct options {
	const char *listen;
	const char *control_socket;
	const char *control_group;
	const char *pin_dir;
	unsigned rescan_interval_s;
	bool commit;
	bool cleanup;
};

struct daemon {
	struct options opt;
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
		"  --listen HOST:PORT         HTTP API address (default " DEFAULT_LISTEN ")\n"
		"  --control-socket PATH      VMM control socket (default " DEFAULT_CONTROL ")\n"
		"  --control-group GROUP      group allowed on the control socket (default: root only)\n"
		"  --pin-dir DIR              where the BPF maps are pinned (default " DEFAULT_PIN_DIR ")\n"
		"  --rescan-interval SECONDS  periodic VM discovery (default 5)\n"
		"  --no-commit                do not offer stolen time to guests\n"
		"  --log-level LEVEL          debug, info, notice, warning, err (default info)\n"
		"  --cleanup                  remove the pinned maps and exit\n"
		"  -h, --help\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
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
	char *end;
	long v;
	int c;

	*o = (struct options){ .listen = DEFAULT_LISTEN, .control_socket = DEFAULT_CONTROL,
			       .pin_dir = DEFAULT_PIN_DIR, .rescan_interval_s = 5, .commit = true };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 'c': o->control_socket = optarg; break;
		case 'g': o->control_group = optarg; break;
		case 'p': o->pin_dir = optarg; break;
		case 'n': o->commit = false; break;
		case 'C': o->cleanup = true; break;
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 3600) {
				fprintf(stderr, "stealtimed: --rescan-interval: 1..3600 seconds\n");
				return -EINVAL;
			}
			o->rescan_interval_s = v;
			break;
		case 'L':
			if (log_level_from_string(optarg) < 0) {
				fprintf(stderr, "stealtimed: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			log_max_level = log_level_from_string(optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "stealtimed: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int view(void *ctx, struct host_view *out)
{
	struct daemon *d = ctx;
	int err = vm_table_view(&d->table, out);

	if (err)
		return err;
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
	return sd_event_source_set_time(s, usec + d->opt.rescan_interval_s * 1000000ULL);
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
	    (err = sd_event_add_signal(d->ev, NULL, SIGINT, on_signal, d)) < 0)
		return log_errno(err, "signals");
	bpf_engine_set_event_handler(&d->bpf, on_bpf_event, d);
	err = sd_event_add_io(d->ev, NULL, bpf_engine_ringbuf_fd(&d->bpf), EPOLLIN, on_ringbuf, d);
	if (err < 0)
		return log_errno(err, "ring buffer source");
	sd_event_now(d->ev, CLOCK_MONOTONIC, &now);
	err = sd_event_add_time(d->ev, &d->rescan_timer, CLOCK_MONOTONIC,
				now + d->opt.rescan_interval_s * 1000000ULL, 100000, on_rescan_timer,
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

	err = resolve_group(d->opt.control_group, &gid);
	if (err)
		return err;
	err = bpf_engine_open(&d->bpf, d->opt.pin_dir);
	if (err)
		return err;
	vm_table_init(&d->table, &d->bpf);
	rescan(d);
	err = setup_loop(d);
	if (err)
		return err;
	d->records = (struct guest_records_config){ .table = &d->table, .commit_enabled = d->opt.commit };
	err = control_server_start(&d->control, d->ev, d->opt.control_socket, gid,
				   &guest_records_ops, &d->records);
	if (err)
		return log_errno(err, "control socket %s", d->opt.control_socket);
	err = http_server_start(&d->http, d->opt.listen, activated_socket(), view, d);
	if (err)
		return log_errno(err, "HTTP API on %s", d->opt.listen);
	sd_notify(0, "READY=1");
	update_status(d);
	log_info("ready: HTTP %s, control %s", d->opt.listen, d->opt.control_socket);
	return sd_event_loop(d->ev);
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	int err;

	if (parse_options(argc, argv, &d.opt))
		return 2;
	if (d.opt.cleanup)
		return bpf_engine_unpin(d.opt.pin_dir) ? 1 : 0;
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
