// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_engine.h"
#include "feature_env.h"
#include "kernel_features.h"
#include "layout_migration.h"
#include "log.h"
#include "pin_layout.h"
#include "stealtime.skel.h"

static const char *const pinned_maps[] = { "vcpus",    "vcpu_task", "vcpu_tid", "vcpu_runner",
					   "regions",  "settings",  "id_key",   "stats",
					   "stolen_by", "cpu_waiting", "layout" };

/* a pin's name while a take-over is under way (renamed over the pin at its end) */
#define NEXT_SUFFIX "_next" /* bpffs refuses names with a dot */

/*
 * The programs whose links are pinned (they keep working while the daemon
 * is down), pinned under the name of their role whichever twin the kernel
 * got.
 */
enum link_role {
	ROLE_SWITCH,
	ROLE_WAKEUP,
	ROLE_WAKEUP_NEW,
	ROLE_KVM_EXIT,
	ROLE_EXIT,
	ROLE_MIGRATE,
	ROLE_UNTHROTTLE,
	ROLE_UNTHROTTLE_START,
	NR_ROLES
};

static const char *const role_names[NR_ROLES] = { "on_switch",   "on_wakeup", "on_wakeup_new",
						   "on_kvm_exit", "on_exit",   "on_migrate",
						   "on_unthrottle", "on_unthrottle_start" };

/* The link of the twin that plays the role, or NULL (none loaded) */
static struct bpf_link *role_link(const struct stealtime_bpf *s, enum link_role role)
{
	struct bpf_link *twins[NR_ROLES][3] = {
		[ROLE_SWITCH] = { s->links.on_switch, s->links.on_switch_nostate,
				  s->links.on_switch_tid },
		[ROLE_WAKEUP] = { s->links.on_wakeup, s->links.on_wakeup_tid },
		[ROLE_WAKEUP_NEW] = { s->links.on_wakeup_new, s->links.on_wakeup_new_tid },
		[ROLE_KVM_EXIT] = { s->links.on_kvm_exit, s->links.on_vcpu_entry },
		[ROLE_EXIT] = { s->links.on_exit, s->links.on_exit_tid },
		[ROLE_MIGRATE] = { s->links.on_migrate, s->links.on_migrate_local,
				   s->links.on_migrate_tid },
		[ROLE_UNTHROTTLE] = { s->links.on_unthrottle },
		[ROLE_UNTHROTTLE_START] = { s->links.on_unthrottle_start },
	};

	for (int i = 0; i < 3; i++)
		if (twins[role][i])
			return twins[role][i];
	return NULL;
}

#define LIBBPF_LOG_LINES 400 /* of one message: a verifier's log, whose end says why */

/* libbpf's messages, a log line each of their lines (a program's load log is one message) */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int prio = level == LIBBPF_WARN ? 4 : 7;
	size_t nlines = 0, skip;
	char *text, *line, *next;

	if (level == LIBBPF_DEBUG && log_max_level < 7)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = text; *line; line++)
		nlines += *line == '\n' || !line[1];
	skip = nlines > LIBBPF_LOG_LINES ? nlines - LIBBPF_LOG_LINES : 0;
	if (skip)
		log_at(prio, "libbpf: (the first %zu of %zu lines left out)", skip, nlines);
	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (skip) {
			skip--;
			continue;
		}
		log_at(prio, "libbpf: %.*s", (int)(next - line - (next[-1] == '\n')), line);
	}
	free(text);
	return 0;
}

static bool pins_exist(const char *pin_dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/vcpus", pin_dir);
	return access(path, F_OK) == 0;
}

/* The generation of the programs now attached (0: none), from the pinned settings */
static __u64 pinned_generation(const char *pin_dir)
{
	__u32 k = ST_SETTING_GENERATION;
	char path[512];
	__u64 gen = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/settings", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(fd, &k, &gen))
		gen = 0;
	close(fd);
	return gen;
}

static void link_paths(char *path, char *next, size_t len, const char *pin_dir,
		       enum link_role role)
{
	snprintf(path, len, "%s/links/%s", pin_dir, role_names[role]);
	snprintf(next, len, "%s/links/%s" NEXT_SUFFIX, pin_dir, role_names[role]);
}

/* Our links' and new maps' temporary pins removed: the old programs stay as they are */
static void unpin_next(struct layout_migration *m, const char *pin_dir)
{
	char path[512], next[512];

	for (int i = 0; i < NR_ROLES; i++) {
		link_paths(path, next, sizeof(path), pin_dir, i);
		if (unlink(next) && errno != ENOENT)
			log_errno(-errno, "unlink %s", next);
	}
	layout_migration_unpin_next(m, pin_dir);
}

/*
 * Our programs take over from those of an earlier daemon, in three steps
 * so that the old programs go on acting until ours do:
 *  1. our links and any map that replaces a pinned one are pinned under
 *     temporary names. A failure removes them: the old programs stay
 *     attached and active, and this daemon exits.
 *  2. the generation is flipped: the old programs stop acting at that
 *     instant, ours start (first_to_handle in stealtime.bpf.c says why an
 *     event under way then is counted once), then a migrated map is filled.
 *  3. each temporary pin is renamed over the old one, which detaches the
 *     old program (rename(2) of bpffs replaces the target). A role this
 *     daemon does not play loses its old link.
 * Ours stay attached through the pins when this daemon stops or dies, so
 * guest records keep being committed. A failure after the flip leaves our
 * programs attached and active through their temporary pins; the next
 * daemon removes those before its own step 1 (no program acts until its
 * flip: each binding's first event after it adds the growth since the
 * last one counted, only the waits that ended in between are not in the
 * histogram).
 */
static int take_over(struct bpf_engine *e, struct layout_migration *m, const char *pin_dir)
{
	__u32 k = ST_SETTING_GENERATION;
	__u64 gen = e->skel->rodata->generation;
	char path[512], next[512];
	int err = 0;

	snprintf(path, sizeof(path), "%s/links", pin_dir);
	if (mkdir(path, 0700) && errno != EEXIST)
		return log_errno(-errno, "mkdir %s", path);
	for (int i = 0; i < NR_ROLES && !err; i++) {
		struct bpf_link *link = role_link(e->skel, i);

		link_paths(path, next, sizeof(path), pin_dir, i);
		if (unlink(next) && errno != ENOENT) /* an interrupted take-over's */
			err = log_errno(-errno, "unlink %s", next);
		else if (link && bpf_obj_pin(bpf_link__fd(link), next))
			err = log_errno(-errno, "pin %s", next);
	}
	if (!err)
		err = layout_migration_pin_next(m, pin_dir);
	if (!err && bpf_map_update_elem(bpf_map__fd(e->skel->maps.settings), &k, &gen, BPF_ANY))
		err = log_errno(-errno, "activate programs");
	if (err) {
		unpin_next(m, pin_dir);
		return err;
	}
	err = layout_migration_finish(m, e->skel, pin_dir);
	for (int i = 0; i < NR_ROLES && !err; i++) {
		link_paths(path, next, sizeof(path), pin_dir, i);
		if (!role_link(e->skel, i)) { /* not loaded (count_wakeups off, or no kvm BTF) */
			if (unlink(path) && errno != ENOENT)
				err = log_errno(-errno, "unpin %s", path);
		} else if (rename(next, path)) {
			err = log_errno(-errno, "rename %s to %s", next, path);
		}
	}
	if (!err)
		err = pin_layout_write(bpf_map__fd(e->skel->maps.layout), ST_LAYOUT);
	return err;
}

/* The VM cookie key is chosen once and kept in the pinned settings map. */
static int ensure_cookie_key(struct bpf_engine *e)
{
	int fd = bpf_map__fd(e->skel->maps.settings);
	__u32 zero = ST_SETTING_COOKIE_KEY;
	__u64 key = 0;

	if (bpf_map_lookup_elem(fd, &zero, &key))
		return log_errno(-errno, "read settings map");
	if (key)
		return 0;
	if (getrandom(&key, sizeof(key), 0) != sizeof(key))
		return log_errno(-errno, "getrandom");
	key |= 1;
	if (bpf_map_update_elem(fd, &zero, &key, BPF_ANY))
		return log_errno(-errno, "write settings map");
	return 0;
}

/*
 * The secret key of VM ids is chosen once and kept in the pinned id_key
 * map (all zero: not chosen yet), so ids stay the same across restarts.
 */
static int ensure_id_key(struct bpf_engine *e)
{
	static const struct st_id_key unset;
	int fd = bpf_map__fd(e->skel->maps.id_key);
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &e->id_key))
		return log_errno(-errno, "read id_key map");
	if (memcmp(&e->id_key, &unset, sizeof(unset)))
		return 0;
	if (getrandom(&e->id_key, sizeof(e->id_key), 0) != sizeof(e->id_key))
		return log_errno(-errno, "getrandom");
	if (bpf_map_update_elem(fd, &zero, &e->id_key, BPF_ANY))
		return log_errno(-errno, "write id_key map");
	return 0;
}

static int ringbuf_cb(void *ctx, void *data, size_t size)
{
	struct bpf_engine *e = ctx;

	if (size >= sizeof(struct st_event) && e->event_fn)
		e->event_fn(e->event_ctx, data);
	return 0;
}

/*
 * stolen_by is sized by the configuration when it is created; a pinned one
 * keeps its size (changing it takes stealtimed --cleanup).
 */
static void size_stolen_by(struct bpf_engine *e, const char *pin_dir, unsigned want)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/stolen_by", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.max_entries != want) {
		log_notice("pinned stolen_by keeps %u entries (limits.attribution_entries %u "
			   "applies after stealtimed --cleanup)", info.max_entries, want);
		want = info.max_entries;
	}
	if (fd >= 0)
		close(fd);
	bpf_map__set_max_entries(e->skel->maps.stolen_by, want);
}

/* One twin of each kernel-dependent program, and only the maps they use */
static void choose_twins(struct stealtime_bpf *s, const struct kernel_features *f,
			 bool count_wakeups)
{
	bool storage = f->task_storage, kvm_tp = f->kvm_btf && f->task_storage;

	bpf_program__set_autoload(s->progs.on_switch, storage && f->prev_state);
	bpf_program__set_autoload(s->progs.on_switch_nostate, storage && !f->prev_state);
	bpf_program__set_autoload(s->progs.on_switch_tid, !storage);
	/* the start of a vCPU thread's wait (waiting.bpf.h); wakeups counted if asked */
	s->rodata->count_wakeups = count_wakeups;
	bpf_program__set_autoload(s->progs.on_wakeup, storage);
	bpf_program__set_autoload(s->progs.on_wakeup_new, storage && count_wakeups);
	bpf_program__set_autoload(s->progs.on_wakeup_tid, !storage);
	bpf_program__set_autoload(s->progs.on_wakeup_new_tid, !storage && count_wakeups);
	bpf_program__set_autoload(s->progs.on_exit, storage);
	bpf_program__set_autoload(s->progs.on_exit_tid, !storage);
	bpf_program__set_autoload(s->progs.on_migrate, storage && f->percpu_lookup);
	bpf_program__set_autoload(s->progs.on_migrate_local, storage && !f->percpu_lookup);
	bpf_program__set_autoload(s->progs.on_migrate_tid, !storage);
	bpf_program__set_autoload(s->progs.bind_threads, storage);
	bpf_program__set_autoload(s->progs.bind_threads_tid, !storage);
	bpf_program__set_autoload(s->progs.on_kvm_exit, kvm_tp);
	bpf_program__set_autoload(s->progs.on_vcpu_entry, !kvm_tp);
	bpf_program__set_autoattach(s->progs.on_vcpu_entry, false); /* only if kvm is there */
	bpf_program__set_autoload(s->progs.on_unthrottle, f->unthrottle);
	bpf_program__set_autoload(s->progs.on_unthrottle_start, f->unthrottle);
	bpf_program__set_autoload(s->progs.discover, f->kvm_btf);
	bpf_program__set_autoload(s->progs.discover_nobtf, !f->kvm_btf);
	bpf_program__set_autoattach(s->progs.seed_record, false); /* test runs only */
	bpf_map__set_autocreate(s->maps.vcpu_task, storage);
	bpf_map__set_autocreate(s->maps.vcpu_tid, !storage);
	bpf_map__set_autocreate(s->maps.vcpu_runner, !kvm_tp || !f->kvm_btf);
}

/* Without kvm's tracepoint in BTF, its raw tracepoint kvm_entry finds vCPU threads. */
static void attach_vcpu_entry(struct bpf_engine *e, const struct kernel_features *f)
{
	struct bpf_program *p = e->skel->progs.on_vcpu_entry;
	struct bpf_link *link;

	if (!bpf_program__autoload(p))
		return;
	if (!f->kvm_loaded) {
		log_warning("kvm is not loaded: vCPU threads are found at VM entry once it is "
			    "(stealtimed attaches to its kvm_entry tracepoint at the first rescan "
			    "after kvm loads)");
		return;
	}
	link = bpf_program__attach(p);
	if (!link) {
		log_warning("cannot attach to kvm's kvm_entry tracepoint (%s): vCPU threads stay "
			    "unbound (stealtime_daemon_bind_failures_total)", strerror(errno));
		return;
	}
	e->skel->links.on_vcpu_entry = link;
}

int bpf_engine_attach_kvm(struct bpf_engine *e, const char *pin_dir)
{
	struct bpf_program *p = e->skel->progs.on_vcpu_entry;
	struct bpf_link *link;
	char path[512];
	int err;

	if (!bpf_program__autoload(p) || e->skel->links.on_vcpu_entry || e->kvm_attach_failed)
		return 0;
	if (access("/sys/module/kvm", F_OK))
		return 0;
	link = bpf_program__attach(p);
	if (!link) {
		/* kvm's module may be there before its tracepoints: try again next time */
		err = -errno;
		if (++e->kvm_attach_tries < 3)
			return 0;
		e->kvm_attach_failed = true;
		return log_errno(err, "kvm is loaded but its kvm_entry tracepoint cannot be attached "
				      "to: vCPU threads stay unbound (stealtime_daemon_bind_failures_total)");
	}
	e->skel->links.on_vcpu_entry = link;
	snprintf(path, sizeof(path), "%s/links/%s", pin_dir, role_names[ROLE_KVM_EXIT]);
	unlink(path); /* none: no program played the role */
	err = bpf_link__pin(link, path);
	if (err)
		log_errno(err, "pin %s (the link lasts while stealtimed runs)", path);
	log_notice("kvm was loaded: vCPU threads are now found at VM entry (kvm_entry)");
	return 1;
}

/* A link of task iterator prog that walks process pid's tasks only; NULL (errno set) if the kernel cannot */
static struct bpf_link *process_iter(struct bpf_program *prog, pid_t pid)
{
	union bpf_iter_link_info info = { .task.pid = (__u32)pid };
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));

	return bpf_program__attach_iter(prog, &opts);
}

/* Task iterators that take a pid ("bpf: Parameterize task iterators.", 6.1) */
static bool probe_discover_by_pid(struct bpf_program *prog)
{
	struct bpf_link *link = process_iter(prog, getpid());

	if (!link)
		return false;
	bpf_link__destroy(link);
	return true;
}

int bpf_engine_open(struct bpf_engine *e, const char *pin_dir, unsigned attribution_entries,
		    bool count_wakeups)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct layout_migration migration;
	struct kernel_features f;
	int err, ncpus, layout;

	memset(e, 0, sizeof(*e));
	e->bind_reqs_fd = e->bind_link_fd = e->regions_fd = e->stats_fd = -1;
	libbpf_set_print(libbpf_log);
	err = kernel_features_check(&f);
	if (err)
		return err;
	e->adopted = pins_exist(pin_dir);
	/* before libbpf reuses any pin: it would refuse a map of another layout */
	layout = pin_layout_read(pin_dir);
	if (layout < 0)
		return layout;
	if (layout > ST_LAYOUT) {
		log_error("the state pinned under %s has layout %d, newer than this release's (%d): "
			  "not touching it (run the newer release, or stealtimed --cleanup)",
			  pin_dir, layout, ST_LAYOUT);
		return -EPROTO;
	}

	e->skel = stealtime_bpf__open_opts(&opts);
	if (!e->skel)
		return log_errno(-errno, "open BPF object");
	size_stolen_by(e, pin_dir, attribution_entries);
	ncpus = libbpf_num_possible_cpus();
	/* the same on every start: possible CPUs are fixed at boot */
	if (ncpus > 0) {
		bpf_map__set_max_entries(e->skel->maps.cpu_waiting, ncpus);
		bpf_map__set_max_entries(e->skel->maps.unthrottles, ncpus);
	}
	e->skel->rodata->generation = pinned_generation(pin_dir) + 1;
	choose_twins(e->skel, &f, count_wakeups);
	err = layout_migration_prepare(&migration, e->skel, pin_dir, layout ? layout : ST_LAYOUT,
				       f.task_storage);
	if (err)
		return err;
	err = stealtime_bpf__load(e->skel);
	if (err)
		return log_errno(err, "load BPF programs (pins under %s)", pin_dir);
	err = ensure_cookie_key(e);
	if (!err)
		err = ensure_id_key(e);
	if (err)
		return err;
	err = stealtime_bpf__attach(e->skel);
	if (err)
		return log_errno(err, "attach BPF programs");
	attach_vcpu_entry(e, &f);
	err = take_over(e, &migration, pin_dir);
	if (err)
		return err;

	e->bind_reqs_fd = bpf_map__fd(e->skel->maps.bind_reqs);
	e->bind_link_fd = bpf_link__fd(f.task_storage ? e->skel->links.bind_threads
						      : e->skel->links.bind_threads_tid);
	e->bind_prog = f.task_storage ? e->skel->progs.bind_threads : e->skel->progs.bind_threads_tid;
	e->regions_fd = bpf_map__fd(e->skel->maps.regions);
	e->stats_fd = bpf_map__fd(e->skel->maps.stats);
	e->discover_link_fd = bpf_link__fd(f.kvm_btf ? e->skel->links.discover
						     : e->skel->links.discover_nobtf);
	e->discover_prog = f.kvm_btf ? e->skel->progs.discover : e->skel->progs.discover_nobtf;
	e->discover_by_pid = !feature_env_without("discover_pid") && probe_discover_by_pid(e->discover_prog);
	e->vcpus_len = sizeof(struct st_vcpu) * ST_MAX_VCPUS;
	e->vcpus = mmap(NULL, e->vcpus_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(e->skel->maps.vcpus), 0);
	if (e->vcpus == MAP_FAILED) {
		e->vcpus = NULL;
		return log_errno(-errno, "mmap vcpus map");
	}
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.events), ringbuf_cb, e, NULL);
	if (!e->rb)
		return log_errno(-errno, "ring buffer");
	log_info("BPF programs attached (generation %llu; %s; %s); maps %s under %s",
		 (unsigned long long)e->skel->rodata->generation, kernel_features_describe(&f),
		 e->discover_by_pid ? "a VMM's VM found by walking its own files"
				    : "a VMM's VM found by walking every process's files (before 6.1)",
		 e->adopted ? "adopted" : "pinned", pin_dir);
	return 0;
}

void bpf_engine_close(struct bpf_engine *e)
{
	if (e->rb)
		ring_buffer__free(e->rb);
	e->rb = NULL;
	if (e->vcpus)
		munmap(e->vcpus, e->vcpus_len);
	e->vcpus = NULL;
	stealtime_bpf__destroy(e->skel);
	e->skel = NULL;
}

int bpf_engine_unpin(const char *pin_dir)
{
	char path[512];
	int err = 0;

	/* links first: that detaches the programs (an interrupted take-over's too) */
	for (int i = 0; i < NR_ROLES; i++) {
		char next[512];

		link_paths(path, next, sizeof(path), pin_dir, i);
		if (unlink(path) && errno != ENOENT)
			err = log_errno(-errno, "unlink %s", path);
		if (unlink(next) && errno != ENOENT)
			err = log_errno(-errno, "unlink %s", next);
	}
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	if (rmdir(path) && errno != ENOENT)
		err = log_errno(-errno, "rmdir %s", path);
	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, pinned_maps[i]);
		if (unlink(path) && errno != ENOENT)
			err = log_errno(-errno, "unlink %s", path);
		snprintf(path, sizeof(path), "%s/%s" NEXT_SUFFIX, pin_dir, pinned_maps[i]);
		if (unlink(path) && errno != ENOENT)
			err = log_errno(-errno, "unlink %s", path);
	}
	if (rmdir(pin_dir) && errno != ENOENT && errno != ENOTEMPTY)
		err = log_errno(-errno, "rmdir %s", pin_dir);
	return err;
}

int bpf_engine_bind_queue(struct bpf_engine *e, pid_t tid, uint32_t slot, bool bind)
{
	struct st_bind_req r = { .slot = slot, .op = bind ? ST_BIND_OP_BIND : ST_BIND_OP_UNBIND };
	__u32 key = (__u32)tid;

	if (tid <= 0 || slot >= ST_MAX_VCPUS)
		return -EINVAL;
	/* the binding names this use of the slot: after a reuse it is ignored */
	r.gen = __atomic_load_n(&e->vcpus[slot].gen, __ATOMIC_RELAXED);
	if (bpf_map_update_elem(e->bind_reqs_fd, &key, &r, bind ? BPF_ANY : BPF_NOEXIST)) {
		if (!bind && errno == EEXIST)
			return 0;
		return log_errno(-errno, "queue %s of thread %d", bind ? "binding" : "unbinding", tid);
	}
	e->bind_queued++;
	return 0;
}

int bpf_engine_bind_run(struct bpf_engine *e, pid_t pid)
{
	struct bpf_link *link = NULL;
	char buf[64];
	ssize_t r;
	int fd;

	if (!e->bind_queued)
		return 0;
	if (pid > 0 && e->discover_by_pid) { /* that process's threads only */
		link = process_iter(e->bind_prog, pid);
		if (!link)
			return log_errno(-errno, "binding iterator of process %d", (int)pid);
	}
	fd = bpf_iter_create(link ? bpf_link__fd(link) : e->bind_link_fd);
	if (fd < 0) {
		r = log_errno(-errno, "create binding iterator");
		goto out;
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		;
	if (r < 0)
		r = log_errno(-errno, "run binding iterator");
	close(fd);
out:
	bpf_link__destroy(link);
	return (int)r;
}

uint32_t bpf_engine_bind_result(struct bpf_engine *e, pid_t tid)
{
	struct st_bind_req r;
	__u32 key = (__u32)tid;

	if (bpf_map_lookup_elem(e->bind_reqs_fd, &key, &r))
		return ST_BIND_PENDING;
	return r.result;
}

void bpf_engine_bind_clear(struct bpf_engine *e)
{
	__u32 key, next;

	if (!e->bind_queued)
		return;
	while (bpf_map_get_next_key(e->bind_reqs_fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(e->bind_reqs_fd, &key))
			break;
	}
	e->bind_queued = 0;
}

/* The records of discovery link link_fd */
static int read_discovery(int link_fd, struct st_disc **out, size_t *n)
{
	size_t cap = 64 * sizeof(struct st_disc), len = 0;
	char *buf = malloc(cap);
	int fd, err = 0;
	ssize_t r;

	*out = NULL;
	*n = 0;
	if (!buf)
		return -ENOMEM;
	fd = bpf_iter_create(link_fd);
	if (fd < 0) {
		free(buf);
		return log_errno(-errno, "create discovery iterator");
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = log_errno(-errno, "read discovery iterator");
			break;
		}
		if (r == 0)
			break;
		len += r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = (struct st_disc *)buf;
	*n = len / sizeof(struct st_disc);
	return 0;
}

int bpf_engine_discover(struct bpf_engine *e, struct st_disc **out, size_t *n)
{
	return read_discovery(e->discover_link_fd, out, n);
}

int bpf_engine_discover_pid(struct bpf_engine *e, pid_t pid, struct st_disc **out, size_t *n)
{
	struct bpf_link *link;
	int err;

	*out = NULL;
	*n = 0;
	if (!e->discover_by_pid)
		return -EOPNOTSUPP;
	if (pid <= 0)
		return -EINVAL;
	link = process_iter(e->discover_prog, pid);
	if (!link)
		return log_errno(-errno, "discovery iterator of process %d", (int)pid);
	err = read_discovery(bpf_link__fd(link), out, n);
	bpf_link__destroy(link);
	return err;
}


/*
 * A new region map, defined as the regions map's inner template, BTF
 * included: some kernels (Debian's 6.1) refuse an inner map whose BTF
 * differs from the template's.
 */
static int create_region(struct bpf_engine *e)
{
	const struct bpf_map *tpl = e->skel->maps.region_template;
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(tpl),
		    .btf_fd = bpf_object__btf_fd(e->skel->obj),
		    .btf_key_type_id = bpf_map__btf_key_type_id(tpl),
		    .btf_value_type_id = bpf_map__btf_value_type_id(tpl));
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "st_region", bpf_map__key_size(tpl),
			    bpf_map__value_size(tpl), bpf_map__max_entries(tpl), &opts);
	if (fd < 0)
		return log_errno(-errno, "create region map");
	return fd;
}

int bpf_engine_region_add(struct bpf_engine *e, uint32_t idx)
{
	int fd = create_region(e);

	if (fd < 0)
		return fd;
	/* from now on only PROT_READ mmaps succeed; BPF can still write */
	if (bpf_map_freeze(fd) || bpf_map_update_elem(e->regions_fd, &idx, &fd, BPF_ANY)) {
		int err = log_errno(-errno, "freeze/insert region %u", idx);

		close(fd);
		return err;
	}
	return fd;
}

int bpf_engine_region_remove(struct bpf_engine *e, uint32_t idx)
{
	if (bpf_map_delete_elem(e->regions_fd, &idx))
		return log_errno(-errno, "remove region %u", idx);
	return 0;
}

int bpf_engine_region_fd(struct bpf_engine *e, uint32_t idx)
{
	__u32 id = 0;
	int fd;

	if (bpf_map_lookup_elem(e->regions_fd, &idx, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? -errno : fd;
}

int bpf_engine_read_record(int region_fd, uint32_t record, struct st_record *out)
{
	return bpf_map_lookup_elem(region_fd, &record, out) ? -errno : 0;
}

int bpf_engine_seed_record(struct bpf_engine *e, uint32_t region, uint32_t record, uint64_t value)
{
	__u64 args[NR_ST_SEED_ARGS] = { [ST_SEED_REGION] = region, [ST_SEED_RECORD] = record,
					[ST_SEED_VALUE] = value };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));

	if (bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.seed_record), &opts))
		return log_errno(-errno, "run seed_record");
	return (int)opts.retval;
}

/* Every entry of stolen_by in a few batch syscalls */
int bpf_engine_attrib_read(struct bpf_engine *e, struct st_attrib_key **keys, uint64_t **vals,
			   size_t *n)
{
	int fd = bpf_map__fd(e->skel->maps.stolen_by);
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), count, batch = 0;
	bool first = true;
	size_t max;
	int err;

	*keys = NULL;
	*vals = NULL;
	*n = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	max = info.max_entries;
	*keys = calloc(max, sizeof(**keys));
	*vals = calloc(max, sizeof(**vals));
	if (!*keys || !*vals)
		return -ENOMEM;
	while (*n < max) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		count = max - *n;
		err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, *keys + *n,
					   *vals + *n, &count, &opts);
		first = false;
		*n += count;
		if (err && errno == ENOENT)
			return 0; /* the end of the map */
		if (err)
			return -errno;
	}
	return 0;
}

void bpf_engine_attrib_forget(struct bpf_engine *e, const bool *forget)
{
	int fd = bpf_map__fd(e->skel->maps.stolen_by);
	struct st_attrib_key kept, next;
	bool have_kept = false;

	/* resume after the last key kept: deleting the current one is then safe */
	while (bpf_map_get_next_key(fd, have_kept ? &kept : NULL, &next) == 0) {
		if (next.slot < ST_MAX_VCPUS && forget[next.slot] &&
		    bpf_map_delete_elem(fd, &next) == 0)
			continue;
		kept = next;
		have_kept = true;
	}
}

int bpf_engine_attrib_fold(struct bpf_engine *e, const struct st_attrib_key *from,
			   const struct st_attrib_key *to)
{
	__u64 args[NR_ST_FOLD_ARGS] = { [ST_FOLD_SLOT] = from->slot,   [ST_FOLD_KIND] = from->kind,
					[ST_FOLD_ID] = from->id,       [ST_FOLD_TO_KIND] = to->kind,
					[ST_FOLD_TO_ID] = to->id };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));

	if (bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.fold_culprit), &opts))
		return log_errno(-errno, "run fold_culprit");
	return (int)opts.retval;
}

uint64_t bpf_engine_stat(struct bpf_engine *e, enum st_stat which)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = which;
	uint64_t sum = 0;
	__u64 *vals;

	if (ncpu <= 0)
		return 0;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return 0;
	if (bpf_map_lookup_elem(e->stats_fd, &key, vals) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

int bpf_engine_ringbuf_fd(struct bpf_engine *e)
{
	return ring_buffer__epoll_fd(e->rb);
}

int bpf_engine_ringbuf_consume(struct bpf_engine *e)
{
	return ring_buffer__consume(e->rb);
}

void bpf_engine_set_event_handler(struct bpf_engine *e,
				  void (*fn)(void *ctx, const struct st_event *ev), void *ctx)
{
	e->event_fn = fn;
	e->event_ctx = ctx;
}
