// SPDX-License-Identifier: GPL-2.0
/*
 * ctlsend: speaks raw messages to stealtimed's control socket, for tests.
 *
 *   ctlsend SOCKET MESSAGE...
 *
 * Sends each MESSAGE as one SOCK_SEQPACKET message on one connection and
 * prints each reply on its own line, followed by " +fd" when a file
 * descriptor came with it (then also " rw-mmap=EPERM" or similar: what a
 * PROT_WRITE mmap of it gave). A MESSAGE of "@big:N" sends N bytes of 'x'.
 * Exits 1 when the socket cannot be reached or a reply does not come.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void describe_fd(int fd)
{
	void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		printf(" +fd rw-mmap=%s", strerrorname_np(errno));
	} else {
		printf(" +fd rw-mmap=ok");
		munmap(p, 65536);
	}
	close(fd);
}

static int exchange(int sock, const char *msg, size_t len)
{
	char buf[8192], cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	if (send(sock, msg, len, MSG_NOSIGNAL) < 0)
		return -errno;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return n < 0 ? -errno : -ECONNRESET;
	buf[n] = '\0';
	printf("%s", buf);
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				describe_fd(((int *)CMSG_DATA(c))[i]);
	printf("\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int sock, err = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: ctlsend SOCKET MESSAGE...\n");
		return 2;
	}
	sock = connect_to(argv[1]);
	if (sock < 0) {
		fprintf(stderr, "ctlsend: %s: %s\n", argv[1], strerror(-sock));
		return 1;
	}
	for (int i = 2; i < argc && !err; i++) {
		if (strncmp(argv[i], "@big:", 5) == 0) {
			size_t n = strtoul(argv[i] + 5, NULL, 10);
			char *big = malloc(n ? n : 1);

			if (!big)
				return 1;
			memset(big, 'x', n);
			err = exchange(sock, big, n);
			free(big);
		} else {
			err = exchange(sock, argv[i], strlen(argv[i]));
		}
	}
	close(sock);
	if (err) {
		fprintf(stderr, "ctlsend: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
