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
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "attribution.h"
#include "bpf_engine.h"
#include "cli.h"
#include "config.h"
#include "control.h"
#include "guest_records.h"
#include "http_server.h"
#include "instance_lock.h"
#include "log.h"
#include "rescan_walker.h"
#include "table_hooks.h"
#include "vm_table.h"
#include "web_config.h"

#define RESCAN_PIDS 32 /* processes rescanned one by one; more: the whole host */

struct daemon {
	struct cli cli;
	struct config cfg;
	struct web_config web; /* the file cfg.web_config_file names, as the HTTP server serves it */
	struct bpf_engine bpf;
	struct vm_table table;
	struct guest_records_config records;
	struct http_server *http;
	struct control_server *control;
	sd_event *ev;
	sd_event_source *rescan_timer;
	sd_event_source *soon_timer; /* the rescan BPF asked for, coalesced */
	struct rescan_walker *walker; /* whole rescans' walks, off the event loop */
	uint64_t walk_started_us;
	uint64_t last_rescan_us;     /* how long the last rescan took */
	bool rescan_wanted;
	/* the processes BPF asked about since the last rescan; all: too many, or no pid */
	pid_t rescan_pids[RESCAN_PIDS];
	unsigned nrescan_pids;
	bool rescan_all;
};

static int view(void *ctx, const char *vm_id, struct host_view *out)
{
	struct daemon *d = ctx;
	int err = vm_table_view_of(&d->table, vm_id, out);

	if (err)
		return err;
	/* the HTTP server adds its own counters; d->control is set before it starts */
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

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * A whole rescan: the walk of every process's files on the walker's thread
 * (synchronous before the event loop runs), the table's update in
 * on_walked, on the event loop.
 */
static void rescan(struct daemon *d)
{
	uint64_t t0 = now_us();

	if (d->walker) {
		d->walk_started_us = t0;
		rescan_walker_request(d->walker);
		return;
	}
	vm_table_rescan(&d->table);
	d->last_rescan_us = now_us() - t0;
	log_debug("rescan: %zu VMs in %llu us", d->table.nvms, (unsigned long long)d->last_rescan_us);
	update_status(d);
}

static void on_walked(void *ctx, struct st_disc *recs, size_t n, struct rescan_reads *reads,
		      int err, uint64_t started_ns)
{
	struct daemon *d = ctx;
	uint64_t t0 = now_us();

	vm_table_apply_walk(&d->table, recs, n, reads, err, started_ns);
	d->last_rescan_us = now_us() - d->walk_started_us;
	log_debug("rescan: %zu VMs, walked and applied in %llu us (applied in %llu us)",
		  d->table.nvms, (unsigned long long)d->last_rescan_us,
		  (unsigned long long)(now_us() - t0));
	update_status(d);
}

/* The processes BPF asked about, each walked alone where the kernel allows it */
static void rescan_asked(struct daemon *d)
{
	uint64_t t0 = now_us();

	if (d->rescan_all || !d->bpf.discover_by_pid) {
		rescan(d);
	} else {
		pthread_mutex_lock(&d->table.lock);
		for (unsigned i = 0; i < d->nrescan_pids; i++)
			vm_table_rescan_pid_locked(&d->table, d->rescan_pids[i]);
		pthread_mutex_unlock(&d->table.lock);
		log_debug("rescan of %u processes in %llu us", d->nrescan_pids,
			  (unsigned long long)(now_us() - t0));
		update_status(d);
	}
	d->nrescan_pids = 0;
	d->rescan_all = false;
}

static int on_soon_timer(sd_event_source *s, uint64_t usec, void *ctx)
{
	rescan_asked(ctx);
	return 0;
}

static void want_rescan_of(struct daemon *d, pid_t pid)
{
	for (unsigned i = 0; i < d->nrescan_pids; i++)
		if (d->rescan_pids[i] == pid)
			return;
	if (pid <= 0 || d->nrescan_pids == RESCAN_PIDS)
		d->rescan_all = true;
	else
		d->rescan_pids[d->nrescan_pids++] = pid;
}

/*
 * BPF asks for a rescan when a thread nobody knows runs a vCPU: in a boot
 * storm, many times a second. The requests are coalesced: one rescan, 50
 * ms or twice the last whole one's duration after the first request,
 * serves all those made meanwhile, so that rescans leave the event loop
 * (the control socket) most of its time. It walks the files of the
 * processes asked about (from 6.1; up to RESCAN_PIDS), else every
 * process's.
 */
static void rescan_soon(struct daemon *d)
{
	uint64_t delay = d->last_rescan_us * 2 > 50000 ? d->last_rescan_us * 2 : 50000;
	int enabled = SD_EVENT_OFF;

	if (sd_event_source_get_enabled(d->soon_timer, &enabled) < 0 || enabled != SD_EVENT_OFF)
		return;
	if (sd_event_source_set_time_relative(d->soon_timer, delay) < 0 ||
	    sd_event_source_set_enabled(d->soon_timer, SD_EVENT_ONESHOT) < 0)
		rescan_asked(d); /* no timer: at once rather than never */
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *ctx)
{
	struct daemon *d = ctx;

	bpf_engine_attach_kvm(&d->bpf, d->cfg.pin_dir);
	rescan(d);
	d->rescan_all = false; /* a whole rescan serves what was asked so far */
	d->nrescan_pids = 0;
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
	want_rescan_of(d, (pid_t)ev->pid);
	d->rescan_wanted = true;
}

static int on_ringbuf(sd_event_source *s, int fd, uint32_t revents, void *ctx)
{
	struct daemon *d = ctx;

	bpf_engine_ringbuf_consume(&d->bpf);
	if (d->rescan_wanted)
		rescan_soon(d);
	d->rescan_wanted = false;
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	struct daemon *d = ctx;

	log_info("signal %u: stopping", si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(d->ev, 0);
}

/* The web configuration file c names into *web (empty without one); errors logged in one line */
static int load_web_config(const struct config *c, struct web_config *web)
{
	char err[512];
	int ret;

	memset(web, 0, sizeof(*web));
	if (!c->web_config_file[0])
		return 0;
	ret = web_config_load_file(c->web_config_file, web, err, sizeof(err));
	if (ret)
		log_error("web configuration: %s", err);
	return ret;
}

static struct http_settings http_settings(const struct config *c, const struct web_config *web)
{
	return (struct http_settings){
		.listen = c->listen,
		.listen_fd = -1,
		.timeout_s = c->http_timeout_s,
		.max_conns = c->http_max_conns,
		.max_conns_per_addr = c->http_max_conns_per_addr,
		.web = web,
	};
}

/*
 * Reload of the HTTP side: a new web configuration (certificate, key,
 * users) or new connection limits restart the server on its socket. A file
 * that does not load or serve keeps the running settings.
 */
static int reload_http(struct daemon *d, const struct config *c)
{
	struct http_settings s;
	struct web_config web;
	int err = load_web_config(c, &web);

	if (err)
		return err;
	if (web_config_equal(&web, &d->web) && c->http_timeout_s == d->cfg.http_timeout_s &&
	    c->http_max_conns == d->cfg.http_max_conns &&
	    c->http_max_conns_per_addr == d->cfg.http_max_conns_per_addr) {
		web_config_free(&web);
		memcpy(d->cfg.web_config_file, c->web_config_file, sizeof(d->cfg.web_config_file));
		return 0;
	}
	s = http_settings(c, &web);
	err = http_server_reconfigure(d->http, &s);
	if (err) {
		web_config_free(&web);
		return err;
	}
	web_config_free(&d->web);
	d->web = web;
	memcpy(d->cfg.web_config_file, c->web_config_file, sizeof(d->cfg.web_config_file));
	d->cfg.http_timeout_s = c->http_timeout_s;
	d->cfg.http_max_conns = c->http_max_conns;
	d->cfg.http_max_conns_per_addr = c->http_max_conns_per_addr;
	return 0;
}

/* Called with the table lock held, or before any thread runs */
static void apply_reserves(struct daemon *d, const struct config *c)
{
	d->cfg.reserved_percent = c->reserved_percent;
	vm_table_reserve(&d->table, d->cfg.max_vms * c->reserved_percent / 100,
			 d->cfg.max_vcpus * c->reserved_percent / 100);
}

static void warn_restart_only(const struct config *run, const struct config *want)
{
	if (strcmp(run->listen, want->listen) || strcmp(run->control_socket, want->control_socket) ||
	    strcmp(run->control_group, want->control_group) || strcmp(run->pin_dir, want->pin_dir) ||
	    strcmp(run->state_dir, want->state_dir) ||
	    run->max_vms != want->max_vms || run->max_vcpus != want->max_vcpus ||
	    run->max_attribution_entries != want->max_attribution_entries ||
	    run->count_wakeups != want->count_wakeups)
		log_notice("reload: sockets, pin_dir, state_dir, limits.vms, limits.vcpus, "
			   "limits.attribution_entries and count_wakeups change at the next start");
}

/* SIGHUP: reload; an invalid file keeps the running configuration */
static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	struct daemon *d = ctx;
	struct config c;

	sd_notify(0, "RELOADING=1");
	if (cli_load_config(&d->cli, &c) || reload_http(d, &c)) {
		log_error("reload failed: keeping the running configuration");
	} else {
		warn_restart_only(&d->cfg, &c);
		log_max_level = c.log_level;
		d->cfg.log_level = c.log_level;
		d->cfg.rescan_interval_s = c.rescan_interval_s;
		pthread_mutex_lock(&d->table.lock);
		d->cfg.top_culprits = c.top_culprits;
		d->table.top_culprits = c.top_culprits; /* more room: new culprits may join */
		d->cfg.vcpu_detail = c.vcpu_detail;
		d->table.vcpu_minimal = !c.vcpu_detail;
		d->cfg.commit = c.commit;
		d->records.commit_enabled = c.commit;
		d->cfg.max_initial_steal_s = c.max_initial_steal_s;
		d->records.max_initial_steal_s = c.max_initial_steal_s;
		apply_reserves(d, &c);
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
	err = sd_event_add_time(d->ev, &d->soon_timer, CLOCK_MONOTONIC, 0, 10000, on_soon_timer, d);
	if (err < 0)
		return log_errno(err, "rescan timer");
	sd_event_source_set_enabled(d->soon_timer, SD_EVENT_OFF);
	/* WATCHDOG=1 at half of WATCHDOG_USEC when systemd asks for it */
	sd_event_set_watchdog(d->ev, true);
	return 0;
}

/*
 * About 3 fds per registered VM (its region, its VMM's connection, its
 * cgroup's cpu.stat), the spare connections and the daemon's own: the soft
 * limit (1,024 by default) goes up to the hard one (the unit sets it).
 */
static void raise_fd_limit(unsigned max_vms)
{
	rlim_t want = 3 * (rlim_t)max_vms + CONTROL_SPARE_CONNS + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		log_warning("open files limited to %llu, limits.vms %u needs about %llu: raise "
			    "LimitNOFILE=", (unsigned long long)rl.rlim_cur, max_vms,
			    (unsigned long long)want);
}

/* The culprits with a series of their own, as the last daemon left them */
static void restore_culprits(struct daemon *d)
{
	char path[sizeof(d->cfg.state_dir) + sizeof(ATTRIBUTION_STATE_FILE) + 1] = "";

	if (d->cfg.state_dir[0]) {
		if (mkdir(d->cfg.state_dir, 0700) && errno != EEXIST)
			log_errno(-errno, "mkdir %s", d->cfg.state_dir);
		snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, ATTRIBUTION_STATE_FILE);
	}
	if (attribution_restore(&d->table, path))
		log_warning("culprits start afresh: series of /metrics may change");
}

static int run(struct daemon *d)
{
	struct http_settings settings;
	gid_t gid;
	int err;

	err = resolve_group(d->cfg.control_group, &gid);
	if (err)
		return err;
	err = bpf_engine_open(&d->bpf, d->cfg.pin_dir, d->cfg.max_attribution_entries,
			      d->cfg.count_wakeups);
	if (err)
		return err;
	raise_fd_limit(d->cfg.max_vms);
	vm_table_init(&d->table, &d->bpf, &daemon_table_hooks, d->cfg.max_vms, d->cfg.max_vcpus);
	apply_reserves(d, &d->cfg);
	d->table.top_culprits = d->cfg.top_culprits;
	d->table.vcpu_minimal = !d->cfg.vcpu_detail;
	restore_culprits(d);
	rescan(d);
	err = setup_loop(d);
	if (err)
		return err;
	err = rescan_walker_start(&d->walker, d->ev, &d->table, on_walked, d);
	if (err)
		return err;
	d->records.table = &d->table;
	d->records.commit_enabled = d->cfg.commit;
	d->records.max_initial_steal_s = d->cfg.max_initial_steal_s;
	d->records.rescans_per_process = GUEST_RECORDS_RESCANS_PER_PROCESS;
	d->records.rescans_total = GUEST_RECORDS_RESCANS_TOTAL;
	err = control_server_start(&d->control, d->ev, d->cfg.control_socket, gid,
				   &guest_records_ops, &d->records);
	if (err)
		return log_errno(err, "control socket %s", d->cfg.control_socket);
	control_server_set_max_registered(d->control, d->cfg.max_vms);
	settings = http_settings(&d->cfg, &d->web);
	settings.listen_fd = activated_socket();
	err = http_server_start(&d->http, &settings, view, d);
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
	int err, lock_fd;

	/*
	 * A fixed threshold: the bodies and views of a large host (MiBs, made
	 * and freed per request) are mapped and unmapped whole, where glibc's
	 * own threshold would rise to their size after the first is freed and
	 * serve the next ones from the HTTP threads' arenas, which keep them.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	err = cli_parse(argc, argv, &d.cli);
	if (err)
		return err > 0 ? 0 : 2;
	if (d.cli.check_config)
		return cli_check_config(d.cli.check_config);
	log_max_level = d.cli.values.log_level;
	if (cli_load_config(&d.cli, &d.cfg))
		return 1;
	log_max_level = d.cfg.log_level;
	if (!d.cli.cleanup && load_web_config(&d.cfg, &d.web))
		return 1;
	lock_fd = instance_lock(d.cfg.pin_dir);
	if (lock_fd < 0) {
		web_config_free(&d.web);
		return 1;
	}
	if (d.cli.cleanup) {
		err = bpf_engine_unpin(d.cfg.pin_dir);
		close(lock_fd);
		return err ? 1 : 0;
	}
	err = run(&d);
	if (d.http)
		http_server_stop(d.http);
	/* stopping does not unregister VMs: their records keep being committed */
	if (d.control)
		control_server_stop(d.control);
	rescan_walker_stop(d.walker);
	sd_event_source_unref(d.rescan_timer);
	sd_event_source_unref(d.soon_timer);
	sd_event_unref(d.ev);
	if (d.table.bpf)
		vm_table_free(&d.table);
	bpf_engine_close(&d.bpf);
	rmdir(d.cfg.pin_dir); /* only if nothing was pinned (a failed first start) */
	close(lock_fd);
	web_config_free(&d.web);
	if (err < 0) {
		log_error("exiting: %s", strerror(-err));
		return 1;
	}
	return 0;
}
