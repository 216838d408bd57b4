// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_stat.h"

/* Is "cpu" one of the comma-separated controllers in [s, s+n)? */
static bool has_cpu_controller(const char *s, size_t n)
{
	while (n) {
		const char *comma = memchr(s, ',', n);
		size_t k = comma ? (size_t)(comma - s) : n;

		if (k == 3 && memcmp(s, "cpu", 3) == 0)
			return true;
		if (!comma)
			break;
		n -= k + 1;
		s = comma + 1;
	}
	return false;
}

static void copy_path(char *dst, size_t dst_len, const char *src, size_t n)
{
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int cgroup_cpu_path(const char *text, size_t len, char *path, size_t path_len, bool *v2)
{
	const char *line = text, *end = text + len;
	bool found_v2 = false;

	if (!path_len)
		return -EINVAL;
	while (line < end) {
		const char *nl = memchr(line, '\n', end - line);
		const char *le = nl ? nl : end;
		const char *c1 = memchr(line, ':', le - line);
		const char *c2 = c1 ? memchr(c1 + 1, ':', le - c1 - 1) : NULL;

		if (c2) {
			size_t ctl_len = c2 - c1 - 1;

			if (has_cpu_controller(c1 + 1, ctl_len)) {
				copy_path(path, path_len, c2 + 1, le - c2 - 1);
				*v2 = false;
				return 0;
			}
			if (ctl_len == 0 && c1 - line == 1 && line[0] == '0') {
				copy_path(path, path_len, c2 + 1, le - c2 - 1);
				found_v2 = true;
			}
		}
		line = le + 1;
	}
	if (!found_v2)
		return -ENOENT;
	*v2 = true;
	return 0;
}

int cgroup_throttled_ns(const char *text, size_t len, bool v2, uint64_t *ns)
{
	const char *key = v2 ? "throttled_usec " : "throttled_time ";
	size_t klen = strlen(key);
	const char *line = text, *end = text + len;

	while (line < end) {
		const char *nl = memchr(line, '\n', end - line);
		const char *le = nl ? nl : end;

		if ((size_t)(le - line) > klen && memcmp(line, key, klen) == 0) {
			uint64_t v = 0;
			const char *p = line + klen;

			if (p == le)
				return -ENOENT;
			for (; p < le; p++) {
				if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
					return -ENOENT;
				v = v * 10 + (*p - '0');
			}
			*ns = v2 ? v * 1000 : v;
			return 0;
		}
		line = le + 1;
	}
	return -ENOENT;
}

static ssize_t read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size, f);
	fclose(f);
	return (ssize_t)n;
}

static int cgroup_file_path(const char *file, char *path, size_t path_len, bool *v2)
{
	char buf[4096];
	ssize_t n = read_small(file, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return cgroup_cpu_path(buf, n, path, path_len, v2);
}

int cgroup_process_path(pid_t pid, char *path, size_t path_len, bool *v2)
{
	char file[64];

	snprintf(file, sizeof(file), "/proc/%d/cgroup", pid);
	return cgroup_file_path(file, path, path_len, v2);
}

int cgroup_thread_path(pid_t pid, pid_t tid, char *path, size_t path_len, bool *v2)
{
	char file[64];

	snprintf(file, sizeof(file), "/proc/%d/task/%d/cgroup", pid, tid);
	return cgroup_file_path(file, path, path_len, v2);
}

/* The directory of the cgroup at path, as cgroup_open_cpu_stat finds it; 0 or -errno */
static int cgroup_dir(const char *cgroup_root, const char *path, bool v2, char *dir, size_t len)
{
	snprintf(dir, len, "%s/%s%s", cgroup_root, v2 ? "unified" : "cpu", path);
	if (access(dir, F_OK) == 0)
		return 0;
	if (!v2)
		return -errno;
	snprintf(dir, len, "%s%s", cgroup_root, path);
	return access(dir, F_OK) == 0 ? 0 : -errno;
}

/* Every thread listed in file (one id a line) is a thread of pid */
static bool threads_all_of(const char *file, pid_t pid, unsigned *budget)
{
	FILE *f = fopen(file, "re");
	char task[64];
	long tid;
	bool all = f != NULL;

	while (all && fscanf(f, "%ld", &tid) == 1) {
		snprintf(task, sizeof(task), "/proc/%d/task/%ld", pid, tid);
		all = *budget > 0 && access(task, F_OK) == 0;
		if (*budget)
			(*budget)--;
	}
	if (f)
		fclose(f);
	return all;
}

static bool subtree_only(const char *dir, bool v2, pid_t pid, unsigned depth, unsigned *budget)
{
	char file[PATH_MAX];
	struct dirent *e;
	bool only;
	DIR *d;

	snprintf(file, sizeof(file), "%s/%s", dir, v2 ? "cgroup.threads" : "tasks");
	if (!threads_all_of(file, pid, budget))
		return false;
	d = opendir(dir);
	if (!d)
		return false;
	only = true;
	while (only && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
		only = depth > 0 && subtree_only(file, v2, pid, depth - 1, budget);
	}
	closedir(d);
	return only;
}

bool cgroup_holds_only(const char *cgroup_root, const char *path, bool v2, pid_t pid)
{
	/* bounded: a shared cgroup can be large, and is then not the VM's own anyway */
	unsigned budget = 4096;
	char dir[PATH_MAX];

	if (strcmp(path, "/") == 0 || cgroup_dir(cgroup_root, path, v2, dir, sizeof(dir)))
		return false;
	return subtree_only(dir, v2, pid, 8, &budget);
}

int cgroup_open_cpu_stat(const char *cgroup_root, const char *path, bool v2)
{
	char file[512];
	int fd;

	/* v1: <root>/cpu/<path>; v2: <root>/unified/<path> or <root>/<path> */
	snprintf(file, sizeof(file), "%s/%s%s/cpu.stat", cgroup_root, v2 ? "unified" : "cpu", path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && v2) {
		snprintf(file, sizeof(file), "%s%s/cpu.stat", cgroup_root, path);
		fd = open(file, O_RDONLY | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

int cgroup_read_throttled_fd(int fd, bool v2, uint64_t *ns)
{
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf), 0); /* cgroupfs regenerates it at offset 0 */

	if (n < 0)
		return -errno;
	return cgroup_throttled_ns(buf, n, v2, ns);
}

int cgroup_read_throttled(const char *cgroup_root, const char *path, bool v2, uint64_t *ns)
{
	char file[512], buf[4096];
	ssize_t n;

	/* v1: <root>/cpu/<path>; v2: <root>/unified/<path> or <root>/<path> */
	snprintf(file, sizeof(file), "%s/%s%s/cpu.stat", cgroup_root, v2 ? "unified" : "cpu", path);
	n = read_small(file, buf, sizeof(buf));
	if (n < 0 && v2) {
		snprintf(file, sizeof(file), "%s%s/cpu.stat", cgroup_root, path);
		n = read_small(file, buf, sizeof(buf));
	}
	if (n < 0)
		return (int)n;
	return cgroup_throttled_ns(buf, n, v2, ns);
}

int cgroup_process_throttled(pid_t pid, const char *cgroup_root, char *path, size_t path_len,
			     uint64_t *ns)
{
	bool v2;
	int err = cgroup_process_path(pid, path, path_len, &v2);

	return err ? err : cgroup_read_throttled(cgroup_root, path, v2, ns);
}
