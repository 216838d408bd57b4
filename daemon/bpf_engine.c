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
#include "kernel_features.h"
#include "log.h"
#include "stealtime.skel.h"

static const char *const pinned_maps[] = { "vcpus", "vcpu_task", "regions", "settings", "stats",
					   "stolen_by" };

/* The programs whose links are pinned (they keep working while the daemon is down) */
static const char *const pinned_links[] = { "on_switch", "on_wakeup", "on_wakeup_new",
					    "on_kvm_exit", "on_exit" };
#define NR_PINNED_LINKS (int)(sizeof(pinned_links) / sizeof(pinned_links[0]))

static struct bpf_link *skel_link(struct stealtime_bpf *skel, int i)
{
	struct bpf_link *links[] = { skel->links.on_switch, skel->links.on_wakeup,
				     skel->links.on_wakeup_new, skel->links.on_kvm_exit,
				     skel->links.on_exit };

	return links[i];
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (level == LIBBPF_DEBUG && log_max_level < 7)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_at(level == LIBBPF_WARN ? 4 : 7, "libbpf: %s", buf);
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

/*
 * Our programs take over from those of an earlier daemon: activate ours
 * (the old ones stop at the same instant), then replace the pinned links,
 * which detaches the old programs. Ours stay attached through the pins when
 * this daemon stops or dies, so guest records keep being committed.
 */
static int take_over(struct bpf_engine *e, const char *pin_dir)
{
	__u32 k = ST_SETTING_GENERATION;
	__u64 gen = e->skel->rodata->generation;
	char path[512];
	int err;

	if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.settings), &k, &gen, BPF_ANY))
		return log_errno(-errno, "activate programs");
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	if (mkdir(path, 0700) && errno != EEXIST)
		return log_errno(-errno, "mkdir %s", path);
	for (int i = 0; i < NR_PINNED_LINKS; i++) {
		struct bpf_link *link = skel_link(e->skel, i);

		snprintf(path, sizeof(path), "%s/links/%s", pin_dir, pinned_links[i]);
		if (unlink(path) && errno != ENOENT)
			return log_errno(-errno, "unpin %s", path);
		if (!link)
			continue; /* not loaded (count_wakeups off) */
		err = bpf_link__pin(link, path);
		if (err)
			return log_errno(err, "pin %s", path);
	}
	return 0;
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

int bpf_engine_open(struct bpf_engine *e, const char *pin_dir, unsigned attribution_entries,
		    bool count_wakeups)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	int err;

	memset(e, 0, sizeof(*e));
	e->bind_reqs_fd = e->bind_link_fd = e->regions_fd = e->stats_fd = -1;
	libbpf_set_print(libbpf_log);
	err = kernel_features_check();
	if (err)
		return err;
	e->adopted = pins_exist(pin_dir);

	e->skel = stealtime_bpf__open_opts(&opts);
	if (!e->skel)
		return log_errno(-errno, "open BPF object");
	size_stolen_by(e, pin_dir, attribution_entries);
	e->skel->rodata->generation = pinned_generation(pin_dir) + 1;
	/* steal needs no wakeup hook; counting wakeups costs switch-heavy hosts ~3% */
	bpf_program__set_autoload(e->skel->progs.on_wakeup, count_wakeups);
	bpf_program__set_autoload(e->skel->progs.on_wakeup_new, count_wakeups);
	err = stealtime_bpf__load(e->skel);
	if (err)
		return log_errno(err, "load BPF programs (pins under %s)", pin_dir);
	err = ensure_cookie_key(e);
	if (err)
		return err;
	err = stealtime_bpf__attach(e->skel);
	if (err)
		return log_errno(err, "attach BPF programs");
	err = take_over(e, pin_dir);
	if (err)
		return err;

	e->bind_reqs_fd = bpf_map__fd(e->skel->maps.bind_reqs);
	e->bind_link_fd = bpf_link__fd(e->skel->links.bind_threads);
	e->regions_fd = bpf_map__fd(e->skel->maps.regions);
	e->stats_fd = bpf_map__fd(e->skel->maps.stats);
	e->discover_link_fd = bpf_link__fd(e->skel->links.discover);
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
	log_info("BPF programs attached (generation %llu); maps %s under %s",
		 (unsigned long long)e->skel->rodata->generation, e->adopted ? "adopted" : "pinned",
		 pin_dir);
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

	/* links first: that detaches the programs */
	for (int i = 0; i < NR_PINNED_LINKS; i++) {
		snprintf(path, sizeof(path), "%s/links/%s", pin_dir, pinned_links[i]);
		if (unlink(path) && errno != ENOENT)
			err = log_errno(-errno, "unlink %s", path);
	}
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	if (rmdir(path) && errno != ENOENT)
		err = log_errno(-errno, "rmdir %s", path);
	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, pinned_maps[i]);
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

	if (tid <= 0)
		return -EINVAL;
	if (bpf_map_update_elem(e->bind_reqs_fd, &key, &r, bind ? BPF_ANY : BPF_NOEXIST)) {
		if (!bind && errno == EEXIST)
			return 0;
		return log_errno(-errno, "queue %s of thread %d", bind ? "binding" : "unbinding", tid);
	}
	e->bind_queued++;
	return 0;
}

int bpf_engine_bind_run(struct bpf_engine *e)
{
	char buf[64];
	ssize_t r;
	int fd;

	if (!e->bind_queued)
		return 0;
	fd = bpf_iter_create(e->bind_link_fd);
	if (fd < 0)
		return log_errno(-errno, "create binding iterator");
	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		;
	if (r < 0)
		r = log_errno(-errno, "run binding iterator");
	close(fd);
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

int bpf_engine_discover(struct bpf_engine *e, struct st_disc **out, size_t *n)
{
	size_t cap = 64 * sizeof(struct st_disc), len = 0;
	char *buf = malloc(cap);
	int fd, err = 0;
	ssize_t r;

	*out = NULL;
	*n = 0;
	if (!buf)
		return -ENOMEM;
	fd = bpf_iter_create(e->discover_link_fd);
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

int bpf_engine_create_region(struct bpf_engine *e)
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

int bpf_engine_seed_record(struct bpf_engine *e, uint32_t region, uint32_t record, uint64_t value)
{
	struct st_seed seed = { .region = region, .record = record, .value = value };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &seed, .ctx_size_in = sizeof(seed));

	if (bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.seed_record), &opts))
		return log_errno(-errno, "run seed_record");
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
