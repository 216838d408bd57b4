// SPDX-License-Identifier: GPL-2.0
/*
 * hookcost: the cost per event of stealtimed's sched_switch hook next to an
 * empty tp_btf/sched_switch program (one atomic add), both attached during
 * the same workload, from the kernel's own bpf_stats (run_time_ns/run_cnt).
 *
 *   hookcost [--competitor] PROG_NAME -- WORKLOAD...
 *   hookcost --empty-only -- WORKLOAD...
 *
 * PROG_NAME is the name of an already attached program (on_switch when
 * stealtimed runs), or the path of its pinned link (PIN_DIR/links/on_switch:
 * that daemon's, whatever other daemons run). Prints one line per program and the ratio. With
 * --competitor, another tool's sched_switch program that keeps a hash
 * (bpf/bench_competitor.bpf.c) runs beside them. With --empty-only it just
 * keeps the empty program attached (no bpf_stats) while the workload runs:
 * the throughput baseline of "any hook at all".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_competitor.skel.h"
#include "bench_empty.skel.h"

struct prog_stats {
	__u64 run_time_ns;
	__u64 run_cnt;
};

static int prog_stats(int fd, struct prog_stats *s)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	s->run_time_ns = info.run_time_ns;
	s->run_cnt = info.run_cnt;
	return 0;
}

/* the program of the link pinned at path */
static int linked_prog(const char *path)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path), err;

	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	return err ? err : bpf_prog_get_fd_by_id(info.prog_id);
}

/* newest loaded program called name (a restarted daemon leaves none behind) */
static int find_prog(const char *name)
{
	__u32 id = 0, best = 0;

	if (name[0] == '/')
		return linked_prog(name);

	while (bpf_prog_get_next_id(id, &id) == 0) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && strcmp(info.name, name) == 0)
			best = id;
		close(fd);
	}
	return best ? bpf_prog_get_fd_by_id(best) : -ENOENT;
}

static int run_workload(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static double per_event(const struct prog_stats *a, const struct prog_stats *b)
{
	__u64 n = b->run_cnt - a->run_cnt;

	return n ? (double)(b->run_time_ns - a->run_time_ns) / n : 0;
}

int main(int argc, char **argv)
{
	struct bench_competitor_bpf *competitor = NULL;
	struct prog_stats e0, e1, s0, s1;
	struct bench_empty_bpf *skel;
	int stats_fd, prog_fd, err;
	double empty, ours;
	const char *name;

	if (argc > 1 && strcmp(argv[1], "--competitor") == 0) {
		competitor = bench_competitor_bpf__open_and_load();
		if (!competitor || bench_competitor_bpf__attach(competitor)) {
			fprintf(stderr, "hookcost: cannot load the competitor program\n");
			return 1;
		}
		argv++;
		argc--;
	}
	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: hookcost [--competitor] PROG_NAME -- WORKLOAD...\n");
		return 2;
	}
	if (strcmp(argv[1], "--empty-only") == 0) {
		skel = bench_empty_bpf__open_and_load();
		if (!skel || bench_empty_bpf__attach(skel)) {
			fprintf(stderr, "hookcost: cannot load the empty program\n");
			return 1;
		}
		err = run_workload(&argv[3]);
		bench_empty_bpf__destroy(skel);
		bench_competitor_bpf__destroy(competitor);
		return err ? 1 : 0;
	}
	prog_fd = find_prog(argv[1]);
	if (prog_fd < 0) {
		fprintf(stderr, "hookcost: no loaded BPF program named %s\n", argv[1]);
		return 1;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "hookcost: cannot enable bpf_stats: %s\n", strerror(errno));
		return 1;
	}
	skel = bench_empty_bpf__open_and_load();
	if (!skel || bench_empty_bpf__attach(skel)) {
		fprintf(stderr, "hookcost: cannot load the empty program\n");
		return 1;
	}
	prog_stats(bpf_program__fd(skel->progs.empty_switch), &e0);
	prog_stats(prog_fd, &s0);
	err = run_workload(&argv[3]);
	prog_stats(bpf_program__fd(skel->progs.empty_switch), &e1);
	prog_stats(prog_fd, &s1);
	bench_empty_bpf__destroy(skel);
	bench_competitor_bpf__destroy(competitor);
	close(stats_fd);
	if (err) {
		fprintf(stderr, "hookcost: workload failed\n");
		return 1;
	}
	empty = per_event(&e0, &e1);
	ours = per_event(&s0, &s1);
	printf("empty program  %8.1f ns/event  (%llu events)\n", empty,
	       (unsigned long long)(e1.run_cnt - e0.run_cnt));
	name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
	printf("%-14s %8.1f ns/event  (%llu events)\n", name, ours,
	       (unsigned long long)(s1.run_cnt - s0.run_cnt));
	printf("ratio %.2f\n", empty > 0 ? ours / empty : 0);
	close(prog_fd);
	return 0;
}
