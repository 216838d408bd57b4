/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A process's CPU cgroup and the time its CPU quota throttled it, from
 * /proc/PID/cgroup and cpu.stat (cgroup v1 "cpu" controller or v2).
 */
#ifndef STEALTIMED_CGROUP_STAT_H
#define STEALTIMED_CGROUP_STAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * From the text of /proc/PID/cgroup (len bytes): the path of the cgroup
 * that holds the "cpu" controller, *v2 telling whether it is the unified
 * hierarchy ("0::PATH", used when no v1 "cpu" line exists). 0 or -ENOENT.
 */
int cgroup_cpu_path(const char *text, size_t len, char *path, size_t path_len, bool *v2);

/*
 * From the text of a cpu.stat: throttled time in ns ("throttled_time" ns
 * in v1, "throttled_usec" in v2). 0 or -ENOENT.
 */
int cgroup_throttled_ns(const char *text, size_t len, bool v2, uint64_t *ns);

/* The CPU cgroup of a live process (from /proc/PID/cgroup) */
int cgroup_process_path(pid_t pid, char *path, size_t path_len, bool *v2);
/* The CPU cgroup of one thread (from /proc/PID/task/TID/cgroup) */
int cgroup_thread_path(pid_t pid, pid_t tid, char *path, size_t path_len, bool *v2);
/*
 * The cgroup at path and every cgroup below it hold threads of process
 * pid only (cgroup.threads, v1 tasks); false when unsure (unreadable, the
 * root, more than a few thousand threads or 8 levels).
 */
bool cgroup_holds_only(const char *cgroup_root, const char *path, bool v2, pid_t pid);
/* Throttled ns of the cgroup at path; cgroup_root is normally "/sys/fs/cgroup" */
int cgroup_read_throttled(const char *cgroup_root, const char *path, bool v2, uint64_t *ns);
/* An fd of the cgroup's cpu.stat to read again and again, or -errno */
int cgroup_open_cpu_stat(const char *cgroup_root, const char *path, bool v2);
int cgroup_read_throttled_fd(int fd, bool v2, uint64_t *ns);
/* Both, for a live process */
int cgroup_process_throttled(pid_t pid, const char *cgroup_root, char *path, size_t path_len,
			     uint64_t *ns);

#endif
