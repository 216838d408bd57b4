// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "layout_migration.h"
#include "log.h"
#include "stealtime.h"
#include "stealtime.skel.h"

#define NEXT_SUFFIX "_next" /* bpffs refuses names with a dot */

static void next_path(char *path, size_t len, const struct layout_migration *m, const char *pin_dir)
{
	snprintf(path, len, "%s/%s" NEXT_SUFFIX, pin_dir, m->bindings_name);
}

/*
 * A migration to this layout that stopped after its flip (a crash before
 * the renames) left its new binding map pinned under the temporary name,
 * and the old one still pinned: the new map's bindings hold what was
 * counted since the flip, the old ones' offsets are from before it. The
 * new map is taken over as it is, and only the threads it has no binding
 * for are copied from the old map (migrate_binding skips bound ones), so
 * that nothing counted since that flip is counted again. A map of another
 * value size is of another release's layout: it is left to be replaced.
 */
static int resume_interrupted(struct layout_migration *m, const char *pin_dir)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[512];
	int fd, err;

	next_path(path, sizeof(path), m, pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : log_errno(-errno, "open %s", path);
	err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	if (!err && (info.type != bpf_map__type(m->bindings) ||
		     info.value_size != bpf_map__value_size(m->bindings))) {
		log_warning("%s holds %u-byte bindings, not this layout's %u: replaced, and the "
			    "bindings are migrated from %s again", path, info.value_size,
			    bpf_map__value_size(m->bindings), m->bindings_name);
	} else if (!err) {
		err = bpf_map__reuse_fd(m->bindings, fd);
		m->resumed = !err;
		if (!err)
			log_notice("%s is left by a migration that stopped after its flip: its "
				   "bindings are kept, the threads it lacks are copied", path);
	}
	close(fd);
	return err ? log_errno(err, "take over %s", path) : 0;
}

int layout_migration_prepare(struct layout_migration *m, struct stealtime_bpf *s,
			     const char *pin_dir, int from, bool task_storage)
{
	struct bpf_map *old_map = task_storage ? s->maps.vcpu_task_v1 : s->maps.vcpu_tid_v1;
	char path[512];
	int fd, err;

	m->from = from;
	m->task_storage = task_storage;
	m->bindings = NULL;
	m->resumed = false;
	m->bindings_name = task_storage ? "vcpu_task" : "vcpu_tid";
	bpf_map__set_autocreate(s->maps.vcpu_task_v1, false);
	bpf_map__set_autocreate(s->maps.vcpu_tid_v1, false);
	bpf_program__set_autoload(s->progs.migrate_bindings, false);
	bpf_program__set_autoload(s->progs.migrate_bindings_tid, false);
	if (from >= ST_LAYOUT)
		return 0;
	/*
	 * layouts 1 and 2 differ from 3 in struct st_task only (and cpu_waiting,
	 * a new map, created at zero): the first 32 bytes of each binding are
	 * copied (struct st_task_v1)
	 */
	snprintf(path, sizeof(path), "%s/%s", pin_dir, m->bindings_name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return log_errno(-errno, "open %s (layout %d) to migrate it", path, from);
	err = bpf_map__reuse_fd(old_map, fd);
	close(fd);
	if (err)
		return log_errno(err, "reuse %s (layout %d)", path, from);
	bpf_map__set_autocreate(old_map, true);
	bpf_program__set_autoload(task_storage ? s->progs.migrate_bindings
					       : s->progs.migrate_bindings_tid, true);
	m->bindings = task_storage ? s->maps.vcpu_task : s->maps.vcpu_tid;
	/* a new map, not the pinned one (libbpf would refuse it: another value size) */
	err = bpf_map__set_pin_path(m->bindings, NULL);
	if (err)
		return log_errno(err, "unpin %s from the object", m->bindings_name);
	log_notice("the state pinned under %s has layout %d: its thread bindings are migrated "
		   "to layout %d, everything else is adopted as it is", pin_dir, from, ST_LAYOUT);
	return resume_interrupted(m, pin_dir);
}

int layout_migration_pin_next(struct layout_migration *m, const char *pin_dir)
{
	char path[512];

	if (!m->bindings)
		return 0;
	next_path(path, sizeof(path), m, pin_dir);
	/* left by a take-over that was interrupted: the old bindings are still pinned */
	if (unlink(path) && errno != ENOENT)
		return log_errno(-errno, "unlink %s", path);
	if (bpf_obj_pin(bpf_map__fd(m->bindings), path))
		return log_errno(-errno, "pin %s", path);
	return 0;
}

void layout_migration_unpin_next(struct layout_migration *m, const char *pin_dir)
{
	char path[512];

	if (!m->bindings)
		return;
	next_path(path, sizeof(path), m, pin_dir);
	if (unlink(path) && errno != ENOENT)
		log_errno(-errno, "unlink %s", path);
}

/*
 * Tracing programs run inside an RCU read-side section, and an update of
 * an array of maps from user space returns only after a grace period
 * (maybe_wait_bpf_programs() in kernel/bpf/syscall.c, since 4.20).
 */
int wait_for_programs_in_flight(void)
{
	int inner, outer, err = 0;
	__u32 zero = 0;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "st_quiesce", 4, 4, 1, NULL);
	if (inner < 0)
		return log_errno(-errno, "create a map to wait for programs");
	LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = inner);
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "st_quiesce_o", 4, 4, 1, &opts);
	if (outer < 0)
		err = log_errno(-errno, "create a map to wait for programs");
	else if (bpf_map_update_elem(outer, &zero, &inner, BPF_ANY))
		err = log_errno(-errno, "wait for programs");
	if (outer >= 0)
		close(outer);
	close(inner);
	return err;
}

/* Runs the migration iterator; the number of bindings copied or negative errno */
static int copy_bindings(struct layout_migration *m, struct stealtime_bpf *s)
{
	struct bpf_program *p = m->task_storage ? s->progs.migrate_bindings
						: s->progs.migrate_bindings_tid;
	struct bpf_link *link = bpf_program__attach_iter(p, NULL);
	__u32 tids[64];
	int fd, n = 0;
	ssize_t r;

	if (!link)
		return log_errno(-errno, "attach the migration iterator");
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		n = log_errno(-errno, "create the migration iterator");
		goto out;
	}
	while ((r = read(fd, tids, sizeof(tids))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			n += (int)(r / sizeof(tids[0]));
	if (r < 0)
		n = log_errno(-errno, "run the migration iterator");
	close(fd);
out:
	bpf_link__destroy(link);
	return n;
}

int layout_migration_finish(struct layout_migration *m, struct stealtime_bpf *s,
			    const char *pin_dir)
{
	char from[512], to[512];
	int n, err;

	if (!m->bindings)
		return 0;
	/* an old program that passed its generation check before the flip may still run */
	err = wait_for_programs_in_flight();
	if (err)
		return err;
	n = copy_bindings(m, s);
	if (n < 0)
		return n;
	next_path(from, sizeof(from), m, pin_dir);
	snprintf(to, sizeof(to), "%s/%s", pin_dir, m->bindings_name);
	if (rename(from, to))
		return log_errno(-errno, "rename %s to %s", from, to);
	log_notice("%d thread bindings migrated from layout %d to %d%s", n, m->from, ST_LAYOUT,
		   m->resumed ? " (the others kept from the interrupted migration)" : "");
	return 0;
}
