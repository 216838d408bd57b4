// SPDX-License-Identifier: GPL-2.0
/*
 * schedstat_read: what a poller of the kernel's own per-thread numbers
 * costs, the yardstick of a scrape. Reads the files named on stdin (one
 * /proc/PID/task/TID/schedstat a line) ROUNDS times, each time opening,
 * reading and closing every file, and prints the CPU time it took:
 *
 *   files=N rounds=R cpu_ns=T ns_per_file=T/(N*R) bytes=B
 *
 *   schedstat_read ROUNDS < FILES
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	char line[256], buf[256], **files = NULL;
	size_t n = 0, cap = 0;
	uint64_t bytes = 0, t0, t1;
	long rounds;

	if (argc != 2 || (rounds = strtol(argv[1], NULL, 10)) < 1) {
		fprintf(stderr, "usage: schedstat_read ROUNDS < FILES\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			files = realloc(files, cap * sizeof(*files));
			if (!files)
				return 1;
		}
		files[n] = strdup(line);
		if (!files[n++])
			return 1;
	}
	t0 = cpu_ns();
	for (long r = 0; r < rounds; r++) {
		for (size_t i = 0; i < n; i++) {
			int fd = open(files[i], O_RDONLY | O_CLOEXEC);
			ssize_t got;

			if (fd < 0)
				continue; /* a thread that exited: a poller moves on too */
			got = read(fd, buf, sizeof(buf));
			if (got > 0)
				bytes += (uint64_t)got;
			close(fd);
		}
	}
	t1 = cpu_ns();
	printf("files=%zu rounds=%ld cpu_ns=%llu ns_per_file=%.0f bytes=%llu\n", n, rounds,
	       (unsigned long long)(t1 - t0), n ? (double)(t1 - t0) / ((double)n * rounds) : 0.0,
	       (unsigned long long)bytes);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return 0;
}
