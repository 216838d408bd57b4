// SPDX-License-Identifier: GPL-2.0
/* The identity of control peers: see peer_identity.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "feature_env.h"
#include "peer_identity.h"

int peer_start_time(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* comm may hold anything, ')' included: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	/* ") " then field 3 (state); p ends on the space before field 22 */
	for (int field = 3; field <= 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	errno = 0;
	*start = strtoull(p + 1, NULL, 10);
	return errno ? -errno : 0;
}

int peer_pidfd_pid(int pidfd)
{
	char path[64], line[128];
	int pid = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid:\t%d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static bool pidfd_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	/* readable: the thread group has exited (zombie or reaped) */
	return poll(&p, 1, 0) == 0;
}

bool peer_alive(const struct control_peer *peer)
{
	return peer->pidfd < 0 || pidfd_alive(peer->pidfd);
}

bool peer_same_process(const struct control_peer *a, const struct control_peer *b)
{
	return a->pid == b->pid && a->start_time == b->start_time && peer_alive(a) &&
	       peer_alive(b);
}

void peer_identity_release(struct control_peer *peer)
{
	if (peer->pidfd >= 0)
		close(peer->pidfd);
	peer->pidfd = -1;
}

/*
 * The start time of the process pidfd names, which has pid: read from
 * /proc, then the pidfd checked alive, so that the pid was still its own
 * when /proc was read.
 */
static int start_time_of(int pidfd, pid_t pid, uint64_t *start)
{
	int r = peer_start_time(pid, start);

	if (r < 0)
		return r;
	return pidfd_alive(pidfd) ? 0 : -ESRCH;
}

int peer_identity_take_fallback(struct control_peer *peer, int sock)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uint64_t before, after;
	int fd, r;

	peer->pidfd = -1;
	r = peer_start_time(peer->pid, &before);
	if (r < 0)
		return r;
	fd = (int)syscall(SYS_pidfd_open, peer->pid, 0);
	if (fd < 0)
		return errno == EINVAL ? -ESRCH : -errno;
	r = start_time_of(fd, peer->pid, &after);
	if (r == 0 && getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		r = -errno;
	else if (r == 0 && (cred.pid != peer->pid || before != after))
		r = -ESRCH; /* another process has the pid now */
	if (r < 0) {
		close(fd);
		return r;
	}
	peer->pidfd = fd;
	peer->start_time = after;
	return 0;
}

int peer_identity_take(struct control_peer *peer, int sock)
{
	socklen_t len = sizeof(int);
	int fd = -1, r;

	peer->pidfd = -1;
	if (feature_env_without("peerpidfd"))
		return peer_identity_take_fallback(peer, sock);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) < 0) {
		if (errno == ENOPROTOOPT)
			return peer_identity_take_fallback(peer, sock);
		/* the connecting process is gone (EINVAL before 6.9, ESRCH after) */
		return errno == EINVAL || errno == ESRCH ? -ESRCH : -errno;
	}
	/* a pidfd of the very process that connected: it must still have the pid */
	r = peer_pidfd_pid(fd);
	if (r == -1 || (r >= 0 && r != peer->pid))
		r = -ESRCH; /* reaped (-1), or not the pid SO_PEERCRED gave */
	if (r >= 0)
		r = start_time_of(fd, peer->pid, &peer->start_time);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	peer->pidfd = fd;
	return 0;
}
