// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "instance_lock.h"
#include "log.h"

/* The pid holding a flock on the file st describes, from /proc/locks; 0 if unknown */
static int lock_holder(const struct stat *st)
{
	char want[64], line[256], type[16], dev[64];
	int pid, holder = 0;
	FILE *f;

	snprintf(want, sizeof(want), "%02x:%02x:%llu", major(st->st_dev), minor(st->st_dev),
		 (unsigned long long)st->st_ino);
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF" */
	while (!holder && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d: %15s %*s %*s %d %63s", type, &pid, dev) == 3 &&
		    strcmp(type, "FLOCK") == 0 && strcmp(dev, want) == 0)
			holder = pid;
	fclose(f);
	return holder;
}

int instance_lock(const char *pin_dir)
{
	struct stat st;
	int fd, pid;

	if (mkdir(pin_dir, 0700) && errno != EEXIST)
		return log_errno(-errno, "mkdir %s", pin_dir);
	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "open %s", pin_dir);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno != EWOULDBLOCK) {
		int err = log_errno(-errno, "lock %s", pin_dir);

		close(fd);
		return err;
	}
	pid = fstat(fd, &st) == 0 ? lock_holder(&st) : 0;
	close(fd);
	if (pid > 0)
		log_error("stealtimed (pid %d) already runs on %s: not touching its pins", pid,
			  pin_dir);
	else
		log_error("another stealtimed already runs on %s: not touching its pins", pin_dir);
	return -EBUSY;
}
