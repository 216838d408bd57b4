// SPDX-License-Identifier: GPL-2.0
/*
 * libstealtime-vmm: the VMM side of stealtimed's control socket (unix
 * SOCK_SEQPACKET, one JSON object per message, one reply per request).
 * The protocol and an integration walkthrough are in vmmlib/README.md.
 *
 * Requests are serialized by a lock, so vCPU threads may forward their
 * SMCCC calls concurrently; st_vmm_error() describes the last failure of
 * any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stealtime_proto_errno.h"
#include "stealtime_vmm.h"

#define ST_VMM_MAX_REPLY 65536   /* a snapshot of 1024 vCPUs fits */
#define ST_VMM_MAX_FDS 4         /* room to notice (and close) extra fds */
#define ST_VMM_TIMEOUT_SEC 5     /* a request the daemon never answers */
#define ST_VMM_REGISTER_WAIT_SEC 30 /* register: off the guest's path, worth a longer wait */
#define ST_VMM_ERRLEN 256
#define ST_VMM_RETRY_MS 50       /* EAGAIN whose reply names no wait */

struct st_vmm {
	int sock;
	int region_fd;
	uint32_t region_size;
	uint64_t region_ipa;
	const void *map;
	bool registered;
	unsigned owed;           /* replies still due to requests whose wait ended */
	pthread_mutex_t lock;
	char vm_id[64];
	char err[ST_VMM_ERRLEN];
	char reply[ST_VMM_MAX_REPLY]; /* under lock */
};

/* --- errors --------------------------------------------------------------- */

/* "EINVAL" -> -EINVAL; anything unknown -> -EPROTO */
static int errno_from_name(const char *name)
{
	size_t i;

	for (i = 0; name && i < ST_PROTO_NERRNOS; i++)
		if (!strcmp(name, st_proto_errnos[i].name))
			return -st_proto_errnos[i].err;
	return -EPROTO;
}

static const char *errno_name(int err)
{
	const char *name = strerrorname_np(-err);

	return name ? name : "EUNKNOWN";
}

/* Records "ENAME: reason" for st_vmm_error() and returns err. */
__attribute__((format(printf, 3, 4)))
static int fail(struct st_vmm *c, int err, const char *fmt, ...)
{
	int n;
	va_list ap;

	n = snprintf(c->err, sizeof(c->err), "%s: ", errno_name(err));
	if (n < 0 || (size_t)n >= sizeof(c->err))
		return err;
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - n, fmt, ap);
	va_end(ap);
	return err;
}

/* --- messages -------------------------------------------------------------- */

/* jansson integers are int64: a u64 above INT64_MAX cannot be sent */
static int set_u64(struct st_vmm *c, json_t *obj, const char *key, uint64_t v)
{
	if (v > INT64_MAX)
		return fail(c, -ERANGE, "%s 0x%" PRIx64 " does not fit a JSON integer", key, v);
	if (json_object_set_new(obj, key, json_integer((json_int_t)v)))
		return fail(c, -ENOMEM, "building %s", key);
	return 0;
}

static int send_request(struct st_vmm *c, json_t *req)
{
	char *text;
	ssize_t n;
	size_t len;
	int err = 0;

	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		return fail(c, -ENOMEM, "encoding the request");
	len = strlen(text);
	n = send(c->sock, text, len, MSG_NOSIGNAL);
	if (n < 0)
		err = fail(c, -errno, "sending to stealtimed: %s", strerror(errno));
	else if ((size_t)n != len)
		err = fail(c, -EPROTO, "short send to stealtimed");
	free(text);
	return err;
}

static void close_fds(const int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* Collects the SCM_RIGHTS fds of msg into fds; returns how many. */
static size_t take_fds(struct msghdr *msg, int *fds, size_t max)
{
	struct cmsghdr *cm;
	size_t n = 0, k, i;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

/*
 * Receives one reply into buf (NUL-terminated). An fd that comes with it
 * goes to *fd when fd is not NULL; any other fd is closed and the reply
 * refused.
 */
static int recv_reply(struct st_vmm *c, char *buf, size_t size, int *fd)
{
	union {
		char buf[CMSG_SPACE(ST_VMM_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	int fds[ST_VMM_MAX_FDS];
	size_t nfds;
	ssize_t n;

	do
		n = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return fail(c, -ETIMEDOUT, "no reply from stealtimed in %d s", ST_VMM_TIMEOUT_SEC);
	if (n < 0)
		return fail(c, -errno, "receiving from stealtimed: %s", strerror(errno));
	nfds = take_fds(&msg, fds, ST_VMM_MAX_FDS);
	if (n == 0) {
		close_fds(fds, nfds);
		return fail(c, -ECONNRESET, "stealtimed closed the connection");
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, nfds);
		return fail(c, -EPROTO, "reply truncated");
	}
	if (nfds > (fd ? 1u : 0u)) {
		close_fds(fds, nfds);
		return fail(c, -EPROTO, "reply carries %zu unexpected fd(s)", nfds);
	}
	if (fd)
		*fd = nfds ? fds[0] : -1;
	buf[n] = '\0';
	return (int)n;
}

/* An {"ok":false,...} reply: its errno as a negative value, its reason kept. */
static int reply_error(struct st_vmm *c, json_t *reply)
{
	const char *name = json_string_value(json_object_get(reply, "errno"));
	const char *text = json_string_value(json_object_get(reply, "error"));
	int err = errno_from_name(name);

	if (!text)
		text = "request refused";
	if (err == -EPROTO && (!name || strcmp(name, "EPROTO")))
		return fail(c, err, "%s (errno %s)", text, name ? name : "missing");
	return fail(c, err, "%s", text);
}

static int parse_reply(struct st_vmm *c, const char *buf, size_t len, json_t **out)
{
	json_error_t jerr;
	json_t *reply, *ok;
	int err;

	reply = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!reply)
		return fail(c, -EPROTO, "malformed reply: %s", jerr.text);
	ok = json_object_get(reply, "ok");
	if (!json_is_object(reply) || !json_is_boolean(ok)) {
		json_decref(reply);
		return fail(c, -EPROTO, "reply without a boolean \"ok\"");
	}
	if (json_is_false(ok)) {
		err = reply_error(c, reply);
		json_decref(reply);
		return err;
	}
	*out = reply;
	return 0;
}

/*
 * The daemon answers a connection's requests in order: the replies still
 * due to requests whose wait ended (a daemon busy for seconds) come first,
 * and are dropped, so that the connection stays usable. -ETIMEDOUT if one
 * is still late.
 */
static int settle_owed(struct st_vmm *c)
{
	int n, rfd;

	while (c->owed) {
		rfd = -1;
		n = recv_reply(c, c->reply, sizeof(c->reply), &rfd);
		if (rfd >= 0)
			close(rfd);
		if (n == -ETIMEDOUT)
			return fail(c, -ETIMEDOUT, "stealtimed has not answered an earlier request "
				    "yet (%u owed)", c->owed);
		if (n < 0)
			return n;
		c->owed--;
	}
	return 0;
}

/* One reply, waited for up to wait_s seconds; a reply not come by then is owed */
static int recv_reply_within(struct st_vmm *c, int *fd, int wait_s)
{
	int n;

	for (int waited = 0;; waited += ST_VMM_TIMEOUT_SEC) {
		n = recv_reply(c, c->reply, sizeof(c->reply), fd);
		if (n != -ETIMEDOUT)
			return n;
		if (waited + ST_VMM_TIMEOUT_SEC >= wait_s)
			break;
	}
	c->owed++;
	return fail(c, -ETIMEDOUT, "no reply from stealtimed in %d s", wait_s);
}

/*
 * One request, one reply, waited for up to wait_s seconds. Takes ownership
 * of req. On success *reply is an {"ok":true,...} object (caller decrefs);
 * fd as in recv_reply().
 */
static int transact_locked(struct st_vmm *c, json_t *req, json_t **reply, int *fd, int wait_s)
{
	int n, err, rfd = -1;

	if (fd)
		*fd = -1;
	err = settle_owed(c);
	if (err) {
		json_decref(req);
		return err;
	}
	err = send_request(c, req);
	json_decref(req);
	if (err)
		return err;
	n = recv_reply_within(c, fd ? &rfd : NULL, wait_s);
	err = n < 0 ? n : parse_reply(c, c->reply, (size_t)n, reply);
	if (err && rfd >= 0)
		close(rfd);
	else if (fd)
		*fd = rfd;
	return err;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The wait an EAGAIN reply asks for ("... retry in N ms"), within 1..1000 ms. */
static unsigned retry_ms(const struct st_vmm *c)
{
	const char *at = strstr(c->err, "retry in ");
	unsigned ms = ST_VMM_RETRY_MS;

	if (at && sscanf(at, "retry in %u ms", &ms) != 1)
		ms = ST_VMM_RETRY_MS;
	return ms < 1 ? 1 : ms > 1000 ? 1000 : ms;
}

/*
 * A request the daemon turned down for now (EAGAIN: its rescan rate limit
 * in a boot storm) is sent again after the wait its reply names, for up
 * to ST_VMM_TIMEOUT_SEC in all.
 */
static int transact_within(struct st_vmm *c, json_t *req, json_t **reply, int *fd, int wait_s)
{
	uint64_t end = monotonic_ms() + (uint64_t)wait_s * 1000;
	unsigned ms;
	int err;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		err = transact_locked(c, json_incref(req), reply, fd, wait_s);
		if (err != -EAGAIN)
			break;
		ms = retry_ms(c);
		if (monotonic_ms() + ms > end)
			break;
		usleep(ms * 1000);
	}
	pthread_mutex_unlock(&c->lock);
	json_decref(req);
	return err;
}

static int transact(struct st_vmm *c, json_t *req, json_t **reply, int *fd)
{
	return transact_within(c, req, reply, fd, ST_VMM_TIMEOUT_SEC);
}

/* A request whose reply is just {"ok":true}. */
static int transact_simple(struct st_vmm *c, json_t *req)
{
	json_t *reply = NULL;
	int err;

	err = transact(c, req, &reply, NULL);
	json_decref(reply);
	return err;
}

static json_t *new_request(struct st_vmm *c, const char *op)
{
	json_t *req = json_pack("{s:s}", "op", op);

	if (!req)
		fail(c, -ENOMEM, "building %s", op);
	return req;
}

/* --- connection ------------------------------------------------------------ */

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = ST_VMM_TIMEOUT_SEC };
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int st_vmm_connect(struct st_vmm **out, const char *path)
{
	struct st_vmm *c;
	int fd;

	*out = NULL;
	fd = connect_socket(path ? path : ST_VMM_DEFAULT_SOCKET);
	if (fd < 0)
		return fd;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->sock = fd;
	c->region_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

/* --- register ----------------------------------------------------------------- */

/* "vm" is the daemon's key: a string (or an integer, kept as its digits) */
static int take_vm_id(struct st_vmm *c, json_t *vm)
{
	int n;

	if (json_is_string(vm))
		n = snprintf(c->vm_id, sizeof(c->vm_id), "%s", json_string_value(vm));
	else if (json_is_integer(vm))
		n = snprintf(c->vm_id, sizeof(c->vm_id), "%" JSON_INTEGER_FORMAT,
			     json_integer_value(vm));
	else
		return fail(c, -EPROTO, "register reply without \"vm\"");
	if (n < 0 || (size_t)n >= sizeof(c->vm_id))
		return fail(c, -EPROTO, "register reply: \"vm\" too long");
	return 0;
}

static int take_registration(struct st_vmm *c, json_t *reply, int fd)
{
	json_t *size = json_object_get(reply, "region_size");
	int err;

	if (fd < 0)
		return fail(c, -EPROTO, "register reply without a region fd");
	if (!json_is_integer(size) || json_integer_value(size) != ST_VMM_REGION_SIZE)
		return fail(c, -EPROTO, "register reply: region_size is not %u",
			    ST_VMM_REGION_SIZE);
	err = take_vm_id(c, json_object_get(reply, "vm"));
	if (err)
		return err;
	c->region_fd = fd;
	c->region_size = ST_VMM_REGION_SIZE;
	c->registered = true;
	return 0;
}

int st_vmm_register(struct st_vmm *c, uint64_t region_ipa)
{
	json_t *req, *reply = NULL;
	int err, fd;

	if (c->region_fd >= 0)
		return fail(c, -EALREADY, "already registered");
	req = new_request(c, "register");
	if (!req)
		return -ENOMEM;
	err = set_u64(c, req, "region_ipa", region_ipa);
	if (err) {
		json_decref(req);
		return err;
	}
	err = transact_within(c, req, &reply, &fd, ST_VMM_REGISTER_WAIT_SEC);
	if (err)
		return err;
	err = take_registration(c, reply, fd);
	if (err && fd >= 0)
		close(fd);
	if (!err)
		c->region_ipa = region_ipa;
	json_decref(reply);
	return err;
}

/* The id of the BPF map behind fd (from its fdinfo), 0 if unknown */
static unsigned long map_id_of(int fd)
{
	char path[64], line[128];
	unsigned long id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "map_id: %lu", &id) == 1)
			break;
	fclose(f);
	return id;
}

int st_vmm_reconnect(struct st_vmm *c, const char *path)
{
	int sock, err, old_fd = c->region_fd;
	unsigned long old_id;
	const void *old_map = c->map;

	if (!c->registered || old_fd < 0)
		return fail(c, -ENOENT, "not registered");
	sock = connect_socket(path ? path : ST_VMM_DEFAULT_SOCKET);
	if (sock < 0)
		return fail(c, sock, "connecting to stealtimed: %s", strerror(-sock));
	pthread_mutex_lock(&c->lock);
	close(c->sock);
	c->sock = sock;
	c->owed = 0;
	pthread_mutex_unlock(&c->lock);
	old_id = map_id_of(old_fd);
	c->region_fd = -1;
	c->map = NULL;
	err = st_vmm_register(c, c->region_ipa);
	if (err) {
		c->region_fd = old_fd; /* keep what the guest maps: a later try may work */
		c->map = old_map;
		return err;
	}
	if (old_id && map_id_of(c->region_fd) == old_id) {
		close(c->region_fd);
		c->region_fd = old_fd;
		c->map = old_map;
		return 0;
	}
	if (old_map)
		munmap((void *)old_map, c->region_size);
	close(old_fd);
	return fail(c, -ESTALE, "stealtimed gave a new region: map it and set the records again");
}

int st_vmm_region_fd(const struct st_vmm *c)
{
	return c->region_fd >= 0 ? c->region_fd : -ENOENT;
}

const char *st_vmm_vm_id(const struct st_vmm *c)
{
	return c->vm_id;
}

int st_vmm_map_region(struct st_vmm *c, const void **out)
{
	void *p;

	if (c->region_fd < 0)
		return fail(c, -ENOENT, "not registered");
	if (!c->map) {
		p = mmap(NULL, c->region_size, PROT_READ, MAP_SHARED, c->region_fd, 0);
		if (p == MAP_FAILED)
			return fail(c, -errno, "mmap of the region: %s", strerror(errno));
		c->map = p;
	}
	*out = c->map;
	return 0;
}

/* --- per-vCPU requests ---------------------------------------------------------- */

static int set_ipa(struct st_vmm *c, uint32_t vcpu, uint64_t ipa, bool has_initial,
		   uint64_t initial_ns)
{
	json_t *req;
	int err;

	req = new_request(c, "set_ipa");
	if (!req)
		return -ENOMEM;
	err = set_u64(c, req, "vcpu", vcpu);
	if (!err)
		err = set_u64(c, req, "ipa", ipa);
	if (!err && has_initial)
		err = set_u64(c, req, "initial_ns", initial_ns);
	if (err) {
		json_decref(req);
		return err;
	}
	return transact_simple(c, req);
}

int st_vmm_set_ipa(struct st_vmm *c, uint32_t vcpu, uint64_t ipa)
{
	return set_ipa(c, vcpu, ipa, false, 0);
}

int st_vmm_set_ipa_initial(struct st_vmm *c, uint32_t vcpu, uint64_t ipa, uint64_t initial_ns)
{
	return set_ipa(c, vcpu, ipa, true, initial_ns);
}

int st_vmm_smccc(struct st_vmm *c, uint32_t vcpu, uint32_t function, uint64_t arg, int64_t *ret)
{
	json_t *req, *reply = NULL, *r;
	int err;

	req = new_request(c, "smccc");
	if (!req)
		return -ENOMEM;
	err = set_u64(c, req, "vcpu", vcpu);
	if (!err)
		err = set_u64(c, req, "function", function);
	if (!err)
		err = set_u64(c, req, "arg", arg);
	if (err) {
		json_decref(req);
		return err;
	}
	err = transact(c, req, &reply, NULL);
	if (err)
		return err;
	r = json_object_get(reply, "ret");
	if (json_is_integer(r))
		*ret = json_integer_value(r);
	else
		err = fail(c, -EPROTO, "smccc reply without an integer \"ret\"");
	json_decref(reply);
	return err;
}

static int parse_value(struct st_vmm *c, json_t *item, struct st_vmm_value *v)
{
	json_t *vcpu = json_object_get(item, "vcpu");
	json_t *ns = json_object_get(item, "stolen_ns");

	if (!json_is_integer(vcpu) || !json_is_integer(ns) ||
	    json_integer_value(vcpu) < 0 || json_integer_value(vcpu) > UINT32_MAX ||
	    json_integer_value(ns) < 0)
		return fail(c, -EPROTO, "snapshot reply: bad vCPU entry");
	v->vcpu = (uint32_t)json_integer_value(vcpu);
	v->stolen_ns = (uint64_t)json_integer_value(ns);
	return 0;
}

int st_vmm_snapshot(struct st_vmm *c, struct st_vmm_value *vals, size_t max)
{
	json_t *req, *reply = NULL, *arr;
	size_t i, n;
	int err;

	req = new_request(c, "snapshot");
	if (!req)
		return -ENOMEM;
	err = transact(c, req, &reply, NULL);
	if (err)
		return err;
	arr = json_object_get(reply, "vcpus");
	if (!json_is_array(arr)) {
		json_decref(reply);
		return fail(c, -EPROTO, "snapshot reply without a \"vcpus\" array");
	}
	n = json_array_size(arr);
	if (n > max)
		n = max;
	if (n > INT32_MAX)
		n = INT32_MAX;
	for (i = 0; i < n && !err; i++)
		err = parse_value(c, json_array_get(arr, i), &vals[i]);
	json_decref(reply);
	return err ? err : (int)n;
}

int st_vmm_unregister(struct st_vmm *c)
{
	json_t *req;
	int err;

	if (!c->registered)
		return fail(c, -ENOENT, "not registered");
	req = new_request(c, "unregister");
	if (!req)
		return -ENOMEM;
	err = transact_simple(c, req);
	if (!err)
		c->registered = false;
	return err;
}

int st_vmm_request_raw(struct st_vmm *c, const void *msg, size_t len, char **reply)
{
	ssize_t n;
	int rfd = -1, err = 0;

	*reply = NULL;
	pthread_mutex_lock(&c->lock);
	err = settle_owed(c);
	if (err)
		goto out;
	n = send(c->sock, msg, len, MSG_NOSIGNAL);
	if (n < 0) {
		err = fail(c, -errno, "sending to stealtimed: %s", strerror(errno));
		goto out;
	}
	n = recv_reply_within(c, &rfd, ST_VMM_TIMEOUT_SEC);
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	if (rfd >= 0)
		close(rfd); /* a raw caller has no use for it */
	*reply = strdup(c->reply);
	if (!*reply)
		err = -ENOMEM;
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

const char *st_vmm_error(const struct st_vmm *c)
{
	return c ? c->err : "";
}

void st_vmm_close(struct st_vmm *c)
{
	if (!c)
		return;
	if (c->registered)
		st_vmm_unregister(c);
	if (c->map)
		munmap((void *)c->map, c->region_size);
	if (c->region_fd >= 0)
		close(c->region_fd);
	close(c->sock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
