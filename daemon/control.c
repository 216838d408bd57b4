// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket server: listener, access check at accept, one
 * connection per VMM, one reply per request message. Parsing and reply
 * text live in control_proto.c, what a request does in the control_ops.
 *
 * Everything runs on the daemon's sd-event loop and never blocks: a peer
 * that does not read its replies is dropped once its socket buffer is full,
 * rather than stalling the daemon. A registration belongs to the VMM
 * process, not to the connection: closing one (or being dropped) leaves it
 * for the process to take back; only "unregister" (or the VM's end) ends it.
 *
 * A peer is the process that connected, pinned by a pidfd at accept
 * (peer_identity.h): once it has exited its connections are refused every
 * request (ESRCH), whoever holds them now and whoever has its pid. The
 * connections of one process share a record (struct proc): how many it
 * holds (at most conns_per_process) and the rescans it asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "peer_identity.h"
#include "rate_limit.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define REASON_LEN 256
#define PASSED_FDS_MAX 16 /* room for fds a peer sends; the kernel drops the rest */

/* One process's connections: keyed by pid and start time, freed with its last one */
struct proc {
	struct proc *next;
	pid_t pid;
	uint64_t start_time;
	unsigned nconns;
	struct token_bucket rescans;
};

struct conn {
	struct control_server *srv;
	struct conn *prev, *next;
	int fd;
	sd_event_source *src;
	struct control_peer peer;
	struct proc *proc;
	bool registered;
};

struct control_server {
	sd_event *ev;
	sd_event_source *listen_src;
	int listen_fd;
	char *path;
	bool bound; /* path is our socket: unlink it at stop */
	dev_t dev;
	ino_t ino;
	gid_t allowed_gid;
	const struct control_ops *ops;
	void *ctx;
	struct conn *conns;
	size_t nconns;
	struct proc *procs;
	unsigned conns_per_process;
	size_t nregistered;        /* conns with registered set */
	unsigned max_registered;
	bool accept_paused; /* out of fds: listener off until a connection goes */
	uint64_t next_conn_id;
	atomic_uint_least64_t requests; /* read by the HTTP threads */
	atomic_uint_least64_t errors;
	char rx[CONTROL_MAX_MSG];
	char tx[CONTROL_MAX_REPLY];
	struct control_vcpu_value vals[CONTROL_MAX_SNAPSHOT];
};

/* --- sending ------------------------------------------------------------- */

/* One message, with fd attached (SCM_RIGHTS) when fd >= 0. Never blocks. */
static int send_msg(int sock, const char *buf, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof(ctl.b);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	if (sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

/*
 * Closes a peer's socket so that the peer reads what was sent to it, then
 * EOF. A plain close with requests still queued would give the peer
 * ECONNRESET before the queued replies. SHUT_RD makes the peer's further
 * sends fail (EPIPE), then the queue is drained: fds passed with those
 * messages are released by the kernel, as no room is given for them.
 */
static void close_peer(int sock)
{
	char byte;

	shutdown(sock, SHUT_RD);
	for (int i = 0; i < 1024; i++)
		if (recv(sock, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) < 0)
			break;
	close(sock);
}

/* Error reply on a socket about to be closed; best effort. */
static void refuse(int sock, pid_t pid, int err, const char *reason)
{
	char buf[1024];
	int n = control_reply_error(buf, sizeof(buf), err, reason);

	log_warning("control: refused pid %d: %s", (int)pid, reason);
	if (n > 0)
		send_msg(sock, buf, (size_t)n, -1);
	close_peer(sock);
}

/* --- connections --------------------------------------------------------- */

static void conn_unregister(struct conn *c)
{
	struct control_server *srv = c->srv;

	if (!c->registered)
		return;
	srv->ops->unregister(srv->ctx, &c->peer);
	c->registered = false;
	srv->nregistered--;
	c->peer.vm = NULL;
	log_info("control: pid %d unregistered", (int)c->peer.pid);
}

/* The record of the process with pid and start time, or NULL. */
static struct proc *proc_find(struct control_server *srv, pid_t pid, uint64_t start_time)
{
	for (struct proc *p = srv->procs; p; p = p->next)
		if (p->pid == pid && p->start_time == start_time)
			return p;
	return NULL;
}

static struct proc *proc_get(struct control_server *srv, const struct control_peer *peer)
{
	struct proc *p = proc_find(srv, peer->pid, peer->start_time);

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		p->pid = peer->pid;
		p->start_time = peer->start_time;
		p->next = srv->procs;
		srv->procs = p;
	}
	p->nconns++;
	return p;
}

static void proc_put(struct control_server *srv, struct proc *p)
{
	struct proc **pp;

	if (!p || --p->nconns)
		return;
	for (pp = &srv->procs; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	free(p);
}

/* Frees c; tells ops->disconnect first when disconnect is set. */
static void conn_free(struct conn *c, bool disconnect)
{
	struct control_server *srv = c->srv;

	if (disconnect && c->registered) {
		srv->ops->disconnect(srv->ctx, &c->peer);
		log_info("control: pid %d closed its registered connection", (int)c->peer.pid);
	}
	if (c->registered)
		srv->nregistered--;
	sd_event_source_disable_unref(c->src);
	close_peer(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	proc_put(srv, c->proc);
	peer_identity_release(&c->peer);
	free(c);
	if (srv->accept_paused && srv->listen_src) {
		srv->accept_paused = false;
		sd_event_source_set_enabled(srv->listen_src, SD_EVENT_ON);
	}
}

static int do_register(struct conn *c, const struct control_request *req, int *fd, char *err,
		       size_t errlen)
{
	struct control_server *srv = c->srv;
	struct control_reg reg = { .region_fd = -1 };
	int r;

	if (c->registered) {
		snprintf(err, errlen, "already registered on this connection");
		return -EEXIST;
	}
	if (srv->nregistered >= srv->max_registered) {
		snprintf(err, errlen, "%u connections already hold a registration (limits.vms)",
			 srv->max_registered);
		return -EBUSY;
	}
	r = srv->ops->register_vm(srv->ctx, &c->peer, req->region_ipa, &reg, err, errlen);
	if (r < 0)
		return r;
	c->registered = true;
	srv->nregistered++;
	reg.vm_id[sizeof(reg.vm_id) - 1] = '\0';
	r = reg.region_fd < 0 ? -EIO : control_reply_register(srv->tx, sizeof(srv->tx), &reg);
	if (r < 0) {
		srv->ops->disconnect(srv->ctx, &c->peer); /* the registration stays */
		c->registered = false;
		srv->nregistered--;
		c->peer.vm = NULL;
		snprintf(err, errlen, "registration could not be returned");
		return r;
	}
	*fd = reg.region_fd;
	log_info("control: pid %d registered VM %s, region at 0x%llx", (int)c->peer.pid,
		 reg.vm_id, (unsigned long long)req->region_ipa);
	return r;
}

static int do_snapshot(struct conn *c, char *err, size_t errlen)
{
	struct control_server *srv = c->srv;
	int n = srv->ops->snapshot(srv->ctx, &c->peer, srv->vals, CONTROL_MAX_SNAPSHOT, err, errlen);

	if (n < 0)
		return n;
	if (n > CONTROL_MAX_SNAPSHOT)
		n = CONTROL_MAX_SNAPSHOT;
	return control_reply_snapshot(srv->tx, sizeof(srv->tx), srv->vals, (size_t)n);
}

/*
 * Runs one parsed request; writes the success reply into srv->tx and
 * returns its length (and the fd to attach), or a negative errno with a
 * reason in err.
 */
static int dispatch(struct conn *c, const struct control_request *req, int *fd, char *err,
		    size_t errlen)
{
	struct control_server *srv = c->srv;
	const struct control_ops *ops = srv->ops;
	int64_t ret = 0;
	int r;

	if (!peer_alive(&c->peer)) {
		snprintf(err, errlen, "the process that connected (pid %d) has exited",
			 (int)c->peer.pid);
		return -ESRCH;
	}
	if (req->op == CONTROL_OP_REGISTER)
		return do_register(c, req, fd, err, errlen);
	if (!c->registered) {
		snprintf(err, errlen, "not registered");
		return -ENOENT;
	}
	switch (req->op) {
	case CONTROL_OP_SET_IPA:
		r = ops->set_ipa(srv->ctx, &c->peer, req->vcpu, req->ipa, req->has_initial,
				 req->initial_ns, err, errlen);
		return r < 0 ? r : control_reply_ok(srv->tx, sizeof(srv->tx));
	case CONTROL_OP_SMCCC:
		r = ops->smccc(srv->ctx, &c->peer, req->vcpu, req->function, req->arg, &ret, err,
			       errlen);
		return r < 0 ? r : control_reply_smccc(srv->tx, sizeof(srv->tx), ret);
	case CONTROL_OP_SNAPSHOT:
		return do_snapshot(c, err, errlen);
	case CONTROL_OP_UNREGISTER:
		conn_unregister(c);
		return control_reply_ok(srv->tx, sizeof(srv->tx));
	default:
		snprintf(err, errlen, "field \"op\": unknown op");
		return -EINVAL;
	}
}

/* Handles one received message; returns 0, or a negative errno if c must go. */
static int conn_request(struct conn *c, size_t len, bool truncated)
{
	struct control_server *srv = c->srv;
	struct control_request req;
	char err[REASON_LEN] = "";
	int fd = -1;
	int r;

	atomic_fetch_add_explicit(&srv->requests, 1, memory_order_relaxed);
	if (truncated) {
		snprintf(err, sizeof(err), "message larger than %d bytes", CONTROL_MAX_MSG);
		r = -EMSGSIZE;
	} else {
		r = control_parse_request(srv->rx, len, &req, err, sizeof(err));
	}
	if (r == 0)
		r = dispatch(c, &req, &fd, err, sizeof(err));
	if (r < 0) {
		atomic_fetch_add_explicit(&srv->errors, 1, memory_order_relaxed);
		log_debug("control: pid %d: %s: %s", (int)c->peer.pid, control_errno_name(r), err);
		r = control_reply_error(srv->tx, sizeof(srv->tx), r, err);
		if (r < 0)
			return r;
	}
	r = send_msg(c->fd, srv->tx, (size_t)r, fd);
	if (r < 0)
		log_warning("control: pid %d: reply not sent (%s), dropping the connection",
			    (int)c->peer.pid, strerror(-r));
	return r;
}

/* Closes every fd a peer passed: the protocol takes none from peers. */
static void close_passed_fds(struct msghdr *msg, pid_t pid)
{
	struct cmsghdr *cmsg;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
		size_t n;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			close(fd);
		}
		log_debug("control: pid %d sent %zu fds, closed them", (int)pid, n);
	}
}

/* One message into srv->rx: its length, or a negative errno (-EAGAIN: none). */
static ssize_t conn_recv(struct conn *c, bool *truncated)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(PASSED_FDS_MAX * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = c->srv->rx, .iov_len = sizeof(c->srv->rx) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.b,
		.msg_controllen = sizeof(ctl.b),
	};
	ssize_t n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n < 0)
		return -errno;
	close_passed_fds(&msg, c->peer.pid);
	*truncated = msg.msg_flags & MSG_TRUNC;
	return n;
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn *c = userdata;
	bool hup = revents & (EPOLLHUP | EPOLLRDHUP | EPOLLERR);
	bool truncated = false;
	ssize_t n = conn_recv(c, &truncated);

	if (n == -EAGAIN && !hup)
		return 0;
	/*
	 * SEQPACKET: 0 bytes is an empty message, unless the peer hung up,
	 * which is also the only way to 0 bytes with EPOLLRDHUP set.
	 */
	if (n < 0 || (n == 0 && hup)) {
		log_debug("control: pid %d closed the connection", (int)c->peer.pid);
		conn_free(c, true);
		return 0;
	}
	if (conn_request(c, (size_t)n, truncated) < 0)
		conn_free(c, true);
	return 0;
}

/* --- accepting ----------------------------------------------------------- */

static bool gid_in(const gid_t *groups, size_t n, gid_t gid)
{
	for (size_t i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* Supplementary groups at connect() time: 1 member, 0 not, or a negative errno. */
static int peer_groups_sockopt(int sock, gid_t gid)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *groups = NULL;
	int r = -ERANGE;

	for (int tries = 0; tries < 2 && r == -ERANGE; tries++) {
		gid_t *g = realloc(groups, len ? len : sizeof(gid_t));

		if (!g) {
			r = -ENOMEM;
			break;
		}
		groups = g;
		if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			r = -errno;
		else
			r = gid_in(groups, len / sizeof(gid_t), gid);
	}
	free(groups);
	return r;
}

/* Supplementary groups from /proc/PID/status "Groups:": 1, 0 or a negative errno. */
static int peer_groups_proc(pid_t pid, gid_t gid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *p, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		r = 0;
		for (p = line + 7;; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (g == gid) {
				r = 1;
				break;
			}
		}
		break;
	}
	free(line);
	fclose(f);
	return r;
}

static bool peer_allowed(const struct control_server *srv, int sock, const struct ucred *cred)
{
	int r;

	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (srv->allowed_gid == (gid_t)-1)
		return false;
	if (cred->gid == srv->allowed_gid)
		return true;
	r = peer_groups_sockopt(sock, srv->allowed_gid);
	if (r == -ENOPROTOOPT)
		r = peer_groups_proc(cred->pid, srv->allowed_gid);
	return r == 1;
}

/* A connection for peer (whose pidfd it takes over on success). */
static int conn_new(struct control_server *srv, int sock, const struct control_peer *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->srv = srv;
	c->fd = sock;
	c->peer = *peer;
	c->peer.conn_id = ++srv->next_conn_id;
	c->proc = proc_get(srv, peer);
	if (!c->proc) {
		free(c);
		return -ENOMEM;
	}
	c->peer.rescans = &c->proc->rescans;
	r = sd_event_add_io(srv->ev, &c->src, sock, EPOLLIN | EPOLLRDHUP, on_conn, c);
	if (r < 0) {
		proc_put(srv, c->proc);
		free(c);
		return r;
	}
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	log_debug("control: pid %d connected (uid %u)", (int)peer->pid, (unsigned)peer->uid);
	return 0;
}

/* 0, or -EBUSY with a reason when the peer's process holds its share of connections */
static int check_proc_quota(struct control_server *srv, const struct control_peer *peer,
			    char *reason, size_t len)
{
	struct proc *p = proc_find(srv, peer->pid, peer->start_time);

	if (!p || p->nconns < srv->conns_per_process)
		return 0;
	snprintf(reason, len, "process %d already holds %u connections", (int)peer->pid,
		 p->nconns);
	return -EBUSY;
}

static void accept_one(struct control_server *srv, int sock)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct control_peer peer = { .pidfd = -1 };
	char reason[128];
	int r;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_errno(-errno, "control: SO_PEERCRED");
		close(sock);
		return;
	}
	if (!peer_allowed(srv, sock, &cred)) {
		snprintf(reason, sizeof(reason), "uid %u is not root and not in group %d",
			 (unsigned)cred.uid, (int)srv->allowed_gid);
		refuse(sock, cred.pid, EACCES, reason);
		return;
	}
	if (srv->nconns - srv->nregistered >= CONTROL_SPARE_CONNS &&
	    (srv->nconns >= srv->max_registered + CONTROL_SPARE_CONNS ||
	     !srv->ops->is_registered(srv->ctx, cred.pid))) {
		snprintf(reason, sizeof(reason), "too many connections not registered (%d)",
			 CONTROL_SPARE_CONNS);
		refuse(sock, cred.pid, EBUSY, reason);
		return;
	}
	peer.pid = cred.pid;
	peer.uid = cred.uid;
	peer.gid = cred.gid;
	r = peer_identity_take(&peer, sock);
	if (r == -ESRCH)
		snprintf(reason, sizeof(reason), "the process that connected (pid %d) has exited",
			 (int)cred.pid);
	else if (r < 0)
		snprintf(reason, sizeof(reason), "no pidfd for pid %d: %s", (int)cred.pid,
			 strerror(-r));
	else
		r = check_proc_quota(srv, &peer, reason, sizeof(reason));
	if (r == 0) {
		r = conn_new(srv, sock, &peer);
		if (r < 0)
			snprintf(reason, sizeof(reason), "connection could not be set up");
	}
	if (r < 0) {
		peer_identity_release(&peer);
		refuse(sock, cred.pid, -r, reason);
	}
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct control_server *srv = userdata;
	int sock = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (sock >= 0) {
		accept_one(srv, sock);
		return 0;
	}
	if ((errno == EMFILE || errno == ENFILE) && srv->nconns > 0) {
		/* level-triggered: pause instead of spinning until an fd is freed */
		log_warning("control: out of file descriptors, accepting again after a close");
		srv->accept_paused = true;
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	} else if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
		log_errno(-errno, "control: accept");
	}
	return 0;
}

/* --- listening ----------------------------------------------------------- */

static int make_parent_dir(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			r = log_errno(-errno, "control: mkdir %s", dir);
	}
	free(dir);
	return r;
}

/* Removes a socket file nobody listens on; refuses a live one or a non-socket. */
static int remove_stale(const struct sockaddr_un *addr)
{
	struct stat st;
	int probe, r;

	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : log_errno(-errno, "control: %s", addr->sun_path);
	if (!S_ISSOCK(st.st_mode))
		return log_errno(-EEXIST, "control: %s exists and is not a socket", addr->sun_path);
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return log_errno(-errno, "control: socket");
	r = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
	if (r == 0 || errno == EAGAIN)
		r = log_errno(-EADDRINUSE, "control: %s: another daemon listens", addr->sun_path);
	else if (unlink(addr->sun_path) < 0 && errno != ENOENT)
		r = log_errno(-errno, "control: unlink %s", addr->sun_path);
	else
		r = 0;
	close(probe);
	return r;
}

static int set_access(struct control_server *srv)
{
	bool group = srv->allowed_gid != (gid_t)-1;
	struct stat st;

	if (group && chown(srv->path, (uid_t)-1, srv->allowed_gid) < 0)
		return log_errno(-errno, "control: chown %s", srv->path);
	if (chmod(srv->path, group ? 0660 : 0600) < 0)
		return log_errno(-errno, "control: chmod %s", srv->path);
	if (stat(srv->path, &st) < 0)
		return log_errno(-errno, "control: stat %s", srv->path);
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	return 0;
}

static int listen_socket(struct control_server *srv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int r;

	if (strlen(srv->path) >= sizeof(addr.sun_path))
		return log_errno(-ENAMETOOLONG, "control: %s", srv->path);
	strcpy(addr.sun_path, srv->path);
	r = make_parent_dir(srv->path);
	if (r == 0)
		r = remove_stale(&addr);
	if (r < 0)
		return r;
	srv->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->listen_fd < 0)
		return log_errno(-errno, "control: socket");
	if (bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return log_errno(-errno, "control: bind %s", srv->path);
	srv->bound = true;
	/* access is set before listen(): nobody can connect in between */
	r = set_access(srv);
	if (r < 0)
		return r;
	if (listen(srv->listen_fd, SOMAXCONN) < 0)
		return log_errno(-errno, "control: listen %s", srv->path);
	return 0;
}

int control_server_start(struct control_server **out, sd_event *ev, const char *path,
			 gid_t allowed_gid, const struct control_ops *ops, void *ctx)
{
	struct control_server *srv = calloc(1, sizeof(*srv));
	int r;

	*out = NULL;
	if (!srv)
		return -ENOMEM;
	srv->listen_fd = -1;
	srv->conns_per_process = CONTROL_CONNS_PER_PROCESS;
	srv->ev = sd_event_ref(ev);
	srv->allowed_gid = allowed_gid;
	srv->ops = ops;
	srv->ctx = ctx;
	srv->path = strdup(path);
	r = srv->path ? listen_socket(srv) : -ENOMEM;
	if (r == 0)
		r = sd_event_add_io(ev, &srv->listen_src, srv->listen_fd, EPOLLIN, on_listen, srv);
	if (r < 0) {
		control_server_stop(srv);
		return r;
	}
	log_info("control: listening on %s", path);
	*out = srv;
	return 0;
}

void control_server_set_max_registered(struct control_server *srv, unsigned max_registered)
{
	srv->max_registered = max_registered;
}

void control_server_set_conns_per_process(struct control_server *srv, unsigned n)
{
	srv->conns_per_process = n;
}

void control_server_counters(const struct control_server *srv, uint64_t *requests,
			     uint64_t *errors)
{
	*requests = atomic_load_explicit(&srv->requests, memory_order_relaxed);
	*errors = atomic_load_explicit(&srv->errors, memory_order_relaxed);
}

/* Unlinks the socket file unless another instance has replaced it since. */
static void unlink_own(const struct control_server *srv)
{
	struct stat st;

	if (srv->bound && stat(srv->path, &st) == 0 && st.st_dev == srv->dev &&
	    st.st_ino == srv->ino)
		unlink(srv->path);
}

void control_server_stop(struct control_server *srv)
{
	if (!srv)
		return;
	/*
	 * No ops->disconnect here: at daemon shutdown registered VMs stay
	 * committed (the maps are pinned) and their VMMs keep running; the
	 * next daemon takes them over. Only the connections go.
	 */
	while (srv->conns)
		conn_free(srv->conns, false);
	sd_event_source_disable_unref(srv->listen_src);
	srv->listen_src = NULL;
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	unlink_own(srv);
	sd_event_unref(srv->ev);
	free(srv->path);
	free(srv);
}
