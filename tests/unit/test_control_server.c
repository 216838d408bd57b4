// link: daemon/control.c daemon/control_proto.c daemon/log.c daemon/peer_identity.c daemon/feature_env.c daemon/rate_limit.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Control socket server (daemon/control.c) on a real sd-event loop and a
 * real socket in a temporary directory. The ops are in-memory fakes that
 * record their calls; each region is a memfd so the fd a client receives
 * can be checked. The client side is non-blocking and the test thread runs
 * the loop between client steps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "control.h"
#include "log.h"
#include "peer_identity.h"

#define GROUP 4242        /* allowed_gid of the fixture's server */
#define NOBODY 65534
#define BAD_IPA 0xdead0000ull /* register_vm refuses it with ENOSPC */
#define PV_TIME_ST 0xC5000021u
#define MAX_VMS 512

struct vm {
	int fd;
	uint64_t ipa;
	char id[24];
};

struct fixture {
	char dir[64];
	char path[128];
	sd_event *ev;
	struct control_server *srv;
	/* recorded by the fake ops */
	int registers, unregisters, disconnects, set_ipas, smcccs, snapshots;
	struct control_peer last_peer;
	uint32_t last_vcpu;
	uint64_t last_ipa, last_initial;
	bool last_has_initial;
	uint64_t last_function, last_arg;
	size_t snap_n;
	struct vm *vms[MAX_VMS]; /* live registrations */
};

/* --- fake ops ------------------------------------------------------------ */

static int fake_register(void *ctx, struct control_peer *peer, uint64_t region_ipa,
			 struct control_reg *out, char *err, size_t errlen)
{
	struct fixture *f = ctx;
	struct vm *vm;
	size_t slot;

	if (region_ipa == BAD_IPA) {
		snprintf(err, errlen, "no region left");
		return -ENOSPC;
	}
	for (slot = 0; slot < MAX_VMS && f->vms[slot]; slot++)
		;
	if (slot == MAX_VMS)
		return -ENOSPC;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->fd = memfd_create("region", MFD_CLOEXEC);
	if (vm->fd < 0 || ftruncate(vm->fd, 65536) < 0) {
		free(vm);
		return -EIO;
	}
	vm->ipa = region_ipa;
	snprintf(vm->id, sizeof(vm->id), "vm-%d", ++f->registers);
	f->vms[slot] = vm;
	f->last_peer = *peer;
	peer->vm = vm;
	memcpy(out->vm_id, vm->id, sizeof(vm->id));
	out->region_fd = vm->fd;
	out->region_size = 65536;
	return 0;
}

static void vm_free(struct fixture *f, struct vm *vm)
{
	for (size_t i = 0; i < MAX_VMS; i++)
		if (f->vms[i] == vm)
			f->vms[i] = NULL;
	close(vm->fd);
	free(vm);
}

static void fake_unregister(void *ctx, struct control_peer *peer)
{
	struct fixture *f = ctx;

	f->unregisters++;
	vm_free(f, peer->vm);
}

/* the daemon keeps the registration; the fake has nothing to keep it for */
static void fake_disconnect(void *ctx, struct control_peer *peer)
{
	struct fixture *f = ctx;

	f->disconnects++;
	vm_free(f, peer->vm);
}

static int fake_set_ipa(void *ctx, struct control_peer *peer, uint32_t vcpu, uint64_t ipa,
			bool has_initial, uint64_t initial_ns, char *err, size_t errlen)
{
	struct fixture *f = ctx;
	struct vm *vm = peer->vm;

	f->set_ipas++;
	if (vcpu == 7) {
		snprintf(err, errlen, "vcpu 7 record already set");
		return -EEXIST;
	}
	if (vcpu == 9)
		return -ENXIO; /* no reason: the reply carries strerror */
	if (vcpu == 10) {
		snprintf(err, errlen, "odd failure");
		return -EDOM;
	}
	if (ipa < vm->ipa || ipa >= vm->ipa + 65536) {
		snprintf(err, errlen, "ipa outside the region");
		return -EINVAL;
	}
	f->last_vcpu = vcpu;
	f->last_ipa = ipa;
	f->last_has_initial = has_initial;
	f->last_initial = initial_ns;
	return 0;
}

static int fake_smccc(void *ctx, struct control_peer *peer, uint32_t vcpu, uint64_t function,
		      uint64_t arg, int64_t *ret, char *err, size_t errlen)
{
	struct fixture *f = ctx;
	struct vm *vm = peer->vm;

	f->smcccs++;
	f->last_function = function;
	f->last_arg = arg;
	if (function == PV_TIME_ST)
		*ret = (int64_t)(vm->ipa + vcpu * 64);
	else if (function == 0x1234)
		*ret = INT64_MIN;
	else
		*ret = -1;
	return 0;
}

static int fake_snapshot(void *ctx, struct control_peer *peer, struct control_vcpu_value *vals,
			 size_t max, char *err, size_t errlen)
{
	struct fixture *f = ctx;
	size_t n = f->snap_n < max ? f->snap_n : max;

	f->snapshots++;
	for (size_t i = 0; i < n; i++)
		vals[i] = (struct control_vcpu_value){ (uint32_t)i, i * 1000 };
	return (int)n;
}

/* the one pid the fake says holds a registration (a VMM reconnecting) */
static pid_t registered_pid;

static bool fake_is_registered(void *ctx, pid_t pid)
{
	return pid == registered_pid;
}

static const struct control_ops fake_ops = {
	.register_vm = fake_register,
	.set_ipa = fake_set_ipa,
	.smccc = fake_smccc,
	.snapshot = fake_snapshot,
	.unregister = fake_unregister,
	.disconnect = fake_disconnect,
	.is_registered = fake_is_registered,
};

/* --- fixture ------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/test_control.XXXXXX");
	if (!mkdtemp(f->dir) || chmod(f->dir, 0755) < 0)
		return -1;
	/* "run/" does not exist yet: the server creates it */
	snprintf(f->path, sizeof(f->path), "%s/run/control.sock", f->dir);
	if (sd_event_new(&f->ev) < 0)
		return -1;
	if (control_server_start(&f->srv, f->ev, f->path, GROUP, &fake_ops, f) < 0)
		return -1;
	control_server_set_max_registered(f->srv, 4);
	registered_pid = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char run[160];

	control_server_stop(f->srv);
	for (size_t i = 0; i < MAX_VMS; i++)
		if (f->vms[i])
			vm_free(f, f->vms[i]);
	sd_event_unref(f->ev);
	unlink(f->path);
	snprintf(run, sizeof(run), "%s/run", f->dir);
	rmdir(run);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* --- client helpers ------------------------------------------------------ */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int client_connect(struct fixture *f)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

/* Sends one message with nfds fds attached (SCM_RIGHTS). */
static void client_send_fds(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(64 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	assert_true(nfds <= 64);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

static void client_send(int fd, const void *buf, size_t len, int pass_fd)
{
	client_send_fds(fd, buf, len, &pass_fd, pass_fd >= 0 ? 1 : 0);
}

/* The write end of a pipe is closed everywhere iff its read end sees EOF. */
static void assert_pipe_eof(int rd)
{
	struct pollfd pfd = { .fd = rd, .events = POLLIN };
	char c;

	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_int_equal(read(rd, &c, 1), 0);
}

/*
 * Runs the loop until a message arrives on fd; returns its length (0 on
 * EOF, -errno on error), NUL-terminates it, and hands back a passed fd.
 */
static ssize_t client_recv(struct fixture *f, int fd, char *buf, size_t size, int *rx_fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg;

	if (rx_fd)
		*rx_fd = -1;
	for (int i = 0; i < 5000; i++) {
		ssize_t n;

		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof(ctl.b);
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EAGAIN) {
			assert_true(sd_event_run(f->ev, 1000) >= 0);
			continue;
		}
		if (n < 0)
			return -errno;
		assert_false(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
		buf[n] = '\0';
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			assert_int_equal(c->cmsg_type, SCM_RIGHTS);
			assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));
			assert_non_null(rx_fd);
			memcpy(rx_fd, CMSG_DATA(c), sizeof(int));
		}
		return n;
	}
	fail_msg("no reply within 5 s");
	return -ETIMEDOUT;
}

static char reply[CONTROL_MAX_REPLY + 1];

/* Sends msg, returns the parsed reply (caller json_decref). */
static json_t *request(struct fixture *f, int fd, const char *msg, int *rx_fd)
{
	json_error_t jerr;
	ssize_t n;
	json_t *j;

	client_send(fd, msg, strlen(msg), -1);
	n = client_recv(f, fd, reply, sizeof(reply), rx_fd);
	assert_true(n > 0);
	j = json_loadb(reply, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		fail_msg("reply is not JSON: %s: %s", jerr.text, reply);
	assert_true(json_is_boolean(json_object_get(j, "ok")));
	return j;
}

static void expect_ok(struct fixture *f, int fd, const char *msg)
{
	json_t *j = request(f, fd, msg, NULL);

	if (!json_is_true(json_object_get(j, "ok")))
		fail_msg("%s: %s", msg, reply);
	json_decref(j);
}

/* The reply to msg is {"ok":false,"errno":name,"error":...needle...}. */
static void expect_error(struct fixture *f, int fd, const char *msg, const char *name,
			 const char *needle)
{
	json_t *j = request(f, fd, msg, NULL);
	const char *e = json_string_value(json_object_get(j, "errno"));
	const char *text = json_string_value(json_object_get(j, "error"));

	if (!json_is_false(json_object_get(j, "ok")) || !e || strcmp(e, name) != 0 || !text ||
	    !strstr(text, needle))
		fail_msg("%.60s: got %s, want %s with \"%s\"", msg, reply, name, needle);
	assert_int_equal(json_object_size(j), 3);
	json_decref(j);
}

/* Registers on fd; returns the received region fd. */
static int do_register(struct fixture *f, int fd, uint64_t ipa)
{
	char msg[96];
	int rx_fd;
	json_t *j;

	snprintf(msg, sizeof(msg), "{\"op\":\"register\",\"region_ipa\":%llu}",
		 (unsigned long long)ipa);
	j = request(f, fd, msg, &rx_fd);
	if (!json_is_true(json_object_get(j, "ok")))
		fail_msg("register: %s", reply);
	assert_int_equal(json_integer_value(json_object_get(j, "region_size")), 65536);
	assert_non_null(json_string_value(json_object_get(j, "vm")));
	assert_true(rx_fd >= 0);
	json_decref(j);
	return rx_fd;
}

static void wait_for(struct fixture *f, const int *counter, int want)
{
	for (int i = 0; i < 5000 && *counter != want; i++)
		assert_true(sd_event_run(f->ev, 1000) >= 0);
	assert_int_equal(*counter, want);
}

/* --- tests --------------------------------------------------------------- */

static void start__fresh_path__dir_0755_socket_0660_group(void **state)
{
	struct fixture *f = *state;
	char run[160];
	struct stat st;

	snprintf(run, sizeof(run), "%s/run", f->dir);
	assert_int_equal(stat(run, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, GROUP);
}

static void start__no_group__socket_0600(void **state)
{
	struct fixture *f = *state;
	struct control_server *srv;
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/root.sock", f->dir);
	assert_int_equal(control_server_start(&srv, f->ev, path, (gid_t)-1, &fake_ops, f), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	control_server_stop(srv);
	/* stop removes the socket file it created */
	assert_int_equal(stat(path, &st), -1);
}

static void start__live_socket__eaddrinuse(void **state)
{
	struct fixture *f = *state;
	struct control_server *srv;

	assert_int_equal(control_server_start(&srv, f->ev, f->path, GROUP, &fake_ops, f),
			 -EADDRINUSE);
	assert_null(srv);
}

static void start__stale_socket__replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct control_server *srv;
	char path[160];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	strcpy(addr.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd); /* bound, never listened: what a crashed daemon leaves */
	assert_int_equal(control_server_start(&srv, f->ev, path, GROUP, &fake_ops, f), 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	control_server_stop(srv);
}

static void start__path_not_socket__eexist(void **state)
{
	struct fixture *f = *state;
	struct control_server *srv;
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/file", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(control_server_start(&srv, f->ev, path, GROUP, &fake_ops, f), -EEXIST);
	unlink(path);
}

static void register__first__region_fd_received(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	struct stat got, want;
	int rx_fd = do_register(f, fd, 0x40000000);

	assert_int_equal(f->registers, 1);
	assert_int_equal(f->last_peer.pid, getpid());
	assert_int_equal(f->last_peer.uid, getuid());
	assert_int_equal(fstat(rx_fd, &got), 0);
	assert_int_equal(fstat(f->vms[0]->fd, &want), 0);
	assert_int_equal(got.st_size, 65536);
	assert_int_equal(got.st_ino, want.st_ino); /* the very region the ops handed out */
	assert_int_equal(got.st_dev, want.st_dev);
	assert_true(fcntl(rx_fd, F_GETFD) & FD_CLOEXEC);
	close(rx_fd);
	close(fd);
}

static void register__twice__eexist_without_ops(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);

	close(do_register(f, fd, 0x40000000));
	expect_error(f, fd, "{\"op\":\"register\",\"region_ipa\":65536}", "EEXIST",
		     "already registered");
	assert_int_equal(f->registers, 1);
	close(fd);
}

static void register__ops_fails__error_and_no_fd(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	int rx_fd;
	char msg[96];
	json_t *j;

	snprintf(msg, sizeof(msg), "{\"op\":\"register\",\"region_ipa\":%llu}", BAD_IPA);
	j = request(f, fd, msg, &rx_fd);
	assert_int_equal(rx_fd, -1);
	assert_string_equal(json_string_value(json_object_get(j, "errno")), "ENOSPC");
	assert_string_equal(json_string_value(json_object_get(j, "error")), "no region left");
	json_decref(j);
	/* not registered: a later register works */
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	close(do_register(f, fd, 0));
	close(fd);
}

static void requests__before_register__enoent_without_ops(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);

	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0}", "ENOENT", "not registered");
	expect_error(f, fd, "{\"op\":\"smccc\",\"vcpu\":0,\"function\":1}", "ENOENT",
		     "not registered");
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	expect_error(f, fd, "{\"op\":\"unregister\"}", "ENOENT", "not registered");
	assert_int_equal(f->set_ipas + f->smcccs + f->snapshots + f->unregisters, 0);
	close(fd);
}

static void set_ipa__ops_result__reply_and_errno_mapped(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);

	close(do_register(f, fd, 0x40000000));
	expect_ok(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":3,\"ipa\":1073742016}");
	assert_int_equal(f->last_vcpu, 3);
	assert_int_equal(f->last_ipa, 0x40000000 + 192);
	assert_false(f->last_has_initial);
	expect_ok(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":4,\"ipa\":1073742080,\"initial_ns\":123}");
	assert_true(f->last_has_initial);
	assert_int_equal(f->last_initial, 123);
	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":7,\"ipa\":1073741824}", "EEXIST",
		     "already set");
	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":1,\"ipa\":64}", "EINVAL",
		     "outside the region");
	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":9,\"ipa\":1073741824}", "ENXIO",
		     "No such device or address");
	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":10,\"ipa\":1073741824}", "EIO",
		     "odd failure");
	/* refused by the parser: ops not called */
	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":4096,\"ipa\":1073741824}", "EINVAL",
		     "vcpu");
	assert_int_equal(f->set_ipas, 6);
	close(fd);
}

static void smccc__ret__signed_int64(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	json_t *j;

	close(do_register(f, fd, 0x40000000));
	j = request(f, fd, "{\"op\":\"smccc\",\"vcpu\":2,\"function\":3305111585}", NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "ret")), 0x40000000 + 128);
	assert_int_equal(f->last_arg, 0);
	json_decref(j);
	j = request(f, fd, "{\"op\":\"smccc\",\"vcpu\":2,\"function\":4660,\"arg\":5}", NULL);
	assert_true(json_integer_value(json_object_get(j, "ret")) == INT64_MIN);
	assert_int_equal(f->last_function, 0x1234);
	assert_int_equal(f->last_arg, 5);
	json_decref(j);
	close(fd);
}

static void snapshot__values__listed_in_full(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	json_t *j, *arr;

	close(do_register(f, fd, 0));
	f->snap_n = 3;
	j = request(f, fd, "{\"op\":\"snapshot\"}", NULL);
	assert_string_equal(reply, "{\"ok\":true,\"vcpus\":[{\"vcpu\":0,\"stolen_ns\":0},"
				   "{\"vcpu\":1,\"stolen_ns\":1000},{\"vcpu\":2,\"stolen_ns\":2000}]}");
	json_decref(j);
	f->snap_n = 5000; /* more than a reply holds: cut at CONTROL_MAX_SNAPSHOT */
	j = request(f, fd, "{\"op\":\"snapshot\"}", NULL);
	arr = json_object_get(j, "vcpus");
	assert_int_equal(json_array_size(arr), CONTROL_MAX_SNAPSHOT);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1023), "stolen_ns")),
			 1023000);
	json_decref(j);
	close(fd);
}

static void unregister__request__ops_called_and_register_again(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);

	close(do_register(f, fd, 0));
	expect_ok(f, fd, "{\"op\":\"unregister\"}");
	assert_int_equal(f->unregisters, 1);
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	close(do_register(f, fd, 65536));
	assert_int_equal(f->registers, 2);
	close(fd);
	wait_for(f, &f->disconnects, 1);
	assert_int_equal(f->unregisters, 1);
}

static void message__oversized__emsgsize_then_usable(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	char *big = malloc(5000);

	assert_non_null(big);
	memset(big, ' ', 5000);
	memcpy(big, "{\"op\":\"snapshot\"}", 17);
	client_send(fd, big, 5000, -1);
	assert_true(client_recv(f, fd, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "\"errno\":\"EMSGSIZE\""));
	assert_non_null(strstr(reply, "larger than 4096"));
	free(big);
	close(do_register(f, fd, 0));
	expect_ok(f, fd, "{\"op\":\"snapshot\"}");
	close(fd);
}

static void message__garbage__eproto_then_usable(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	static const char bin[] = "\x01\xff{\"op\0";

	client_send(fd, bin, sizeof(bin), -1);
	assert_true(client_recv(f, fd, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "\"errno\":\"EPROTO\""));
	client_send(fd, "", 0, -1);
	assert_true(client_recv(f, fd, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "empty message"));
	expect_error(f, fd, "not json", "EPROTO", "not a JSON object");
	expect_error(f, fd, "[1,2]", "EPROTO", "not a JSON object");
	expect_error(f, fd, "{\"op\":\"register\"}", "EINVAL", "region_ipa");
	expect_error(f, fd, "{\"op\":\"register\",\"region_ipa\":4097}", "EINVAL", "region_ipa");
	expect_error(f, fd, "{\"op\":\"x\"}", "EINVAL", "unknown op");
	assert_int_equal(f->registers, 0);
	close(do_register(f, fd, 0));
	close(fd);
}

static void peer_fd__passed_with_request__closed_not_leaked(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	int p[2], before;

	/* a round trip first, so the server's end of fd is counted too */
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	before = count_fds();
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	client_send(fd, "{\"op\":\"snapshot\"}", 17, p[1]);
	close(p[1]);
	assert_true(client_recv(f, fd, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "ENOENT"));
	/* the server's copy of the write end is gone */
	assert_pipe_eof(p[0]);
	close(p[0]);
	assert_int_equal(count_fds(), before);
	close(fd);
}

static void peer_fd__more_than_buffer_holds__all_released(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	int p[2], fds[40], before;

	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	before = count_fds();
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	for (size_t i = 0; i < 40; i++)
		fds[i] = p[1];
	client_send_fds(fd, "garbage", 7, fds, 40);
	close(p[1]);
	assert_true(client_recv(f, fd, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "EPROTO"));
	assert_pipe_eof(p[0]);
	close(p[0]);
	assert_int_equal(count_fds(), before);
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	close(fd);
}

static void close__registered__disconnect_not_unregister(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);

	close(do_register(f, fd, 0));
	close(fd);
	wait_for(f, &f->disconnects, 1);
	assert_int_equal(f->unregisters, 0);
	assert_null(f->vms[0]);
}

static void close__not_registered__no_unregister(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);

	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	close(fd);
	for (int i = 0; i < 20; i++)
		sd_event_run(f->ev, 1000);
	assert_int_equal(f->unregisters + f->disconnects, 0);
}

static void cycles__100_register_close__fd_count_unchanged(void **state)
{
	struct fixture *f = *state;
	int before = count_fds();

	for (int i = 0; i < 100; i++) {
		int fd = client_connect(f);

		close(do_register(f, fd, (uint64_t)i << 16));
		close(fd);
		wait_for(f, &f->disconnects, i + 1);
	}
	assert_int_equal(f->registers, 100);
	assert_int_equal(count_fds(), before);
}

static void peer_not_reading__dropped_and_disconnected(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	ssize_t n = 1;

	close(do_register(f, fd, 0));
	f->snap_n = CONTROL_MAX_SNAPSHOT; /* ~40 KB replies fill the socket buffer fast */
	for (int i = 0; i < 200 && f->disconnects == 0; i++) {
		if (send(fd, "{\"op\":\"snapshot\"}", 17, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			assert_true(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
		sd_event_run(f->ev, 1000);
	}
	assert_int_equal(f->disconnects, 1);
	assert_int_equal(f->unregisters, 0);
	/* the replies sent so far, then the end of the connection */
	while (n > 0)
		n = client_recv(f, fd, reply, sizeof(reply), NULL);
	assert_int_equal(n, 0);
	close(fd);
}

/*
 * Opens every spare connection (each accepted: a round trip) into fds,
 * then checks that one more is refused with EBUSY and closed.
 */
static void fill_spare_conns(struct fixture *f, int *fds)
{
	int last;

	/* all from this one process: lift its own quota */
	control_server_set_conns_per_process(f->srv, CONTROL_SPARE_CONNS + 8);
	for (int i = 0; i < CONTROL_SPARE_CONNS; i++) {
		fds[i] = client_connect(f);
		expect_error(f, fds[i], "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	}
	last = client_connect(f);
	assert_true(client_recv(f, last, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "\"errno\":\"EBUSY\""));
	assert_int_equal(client_recv(f, last, reply, sizeof(reply), NULL), 0);
	close(last);
}

static void connections__over_limit__ebusy_and_closed(void **state)
{
	struct fixture *f = *state;
	int fds[CONTROL_SPARE_CONNS];

	fill_spare_conns(f, fds);
	/* a freed slot is usable again */
	close(fds[0]);
	for (int i = 0; i < 20; i++)
		sd_event_run(f->ev, 1000);
	fds[0] = client_connect(f);
	expect_error(f, fds[0], "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	for (int i = 0; i < CONTROL_SPARE_CONNS; i++)
		close(fds[i]);
}

static void connections__spare_full__registered_vmm_still_connects(void **state)
{
	struct fixture *f = *state;
	int fds[CONTROL_SPARE_CONNS];
	int vmm;

	fill_spare_conns(f, fds);
	/* a VMM whose VM holds a registration (reconnecting) is let in all the same */
	registered_pid = getpid();
	vmm = client_connect(f);
	close(do_register(f, vmm, 0));
	close(vmm);
	for (int i = 0; i < CONTROL_SPARE_CONNS; i++)
		close(fds[i]);
}

static void register__over_max_registered__ebusy(void **state)
{
	struct fixture *f = *state;
	int fds[5];

	for (int i = 0; i < 4; i++) {
		fds[i] = client_connect(f);
		close(do_register(f, fds[i], (uint64_t)i << 16));
	}
	fds[4] = client_connect(f);
	expect_error(f, fds[4], "{\"op\":\"register\",\"region_ipa\":0}", "EBUSY", "limits.vms");
	/* one unregisters: room again */
	expect_ok(f, fds[0], "{\"op\":\"unregister\"}");
	close(do_register(f, fds[4], 0x50000));
	for (int i = 0; i < 5; i++)
		close(fds[i]);
}

static void counters__requests_and_errors__counted(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	uint64_t requests, errors;

	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	expect_error(f, fd, "nope", "EPROTO", "not a JSON object");
	close(do_register(f, fd, 0));
	expect_ok(f, fd, "{\"op\":\"snapshot\"}");
	control_server_counters(f->srv, &requests, &errors);
	assert_int_equal(requests, 4);
	assert_int_equal(errors, 2);
	close(fd);
}

static void stop__registered_peer__no_unregister(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	struct stat st;

	close(do_register(f, fd, 0));
	control_server_stop(f->srv);
	f->srv = NULL;
	assert_int_equal(f->unregisters + f->disconnects, 0);
	assert_non_null(f->vms[0]); /* still registered: the VM stays committed */
	assert_int_equal(client_recv(f, fd, reply, sizeof(reply), NULL), 0);
	assert_int_equal(stat(f->path, &st), -1);
	close(fd);
}

static void stop__unread_request_with_fd__fd_released(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f);
	int p[2];

	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* queued, never read by the server: stop drains it */
	client_send(fd, "{\"op\":\"snapshot\"}", 17, p[1]);
	close(p[1]);
	control_server_stop(f->srv);
	f->srv = NULL;
	assert_pipe_eof(p[0]);
	close(p[0]);
	/* EOF, not ECONNRESET, although a request was left unread */
	assert_int_equal(recv(fd, reply, sizeof(reply), MSG_DONTWAIT), 0);
	close(fd);
}

/*
 * A child process with the given credentials sends a snapshot request and
 * exits 0 if the reply's errno is want (then EOF when want is EACCES).
 */
static int child_request(const char *path, uid_t uid, gid_t gid, const gid_t *groups, size_t n,
			 const char *want)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	char buf[1024];
	ssize_t len;
	int fd;

	if (setgroups(n, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return 10;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	strcpy(addr.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return 11;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, "{\"op\":\"snapshot\"}", 17, MSG_NOSIGNAL) < 0 && strcmp(want, "EACCES") != 0)
		return 12;
	len = recv(fd, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
		return 13;
	buf[len] = '\0';
	if (!strstr(buf, want))
		return 14;
	if (strcmp(want, "EACCES") == 0 && recv(fd, buf, sizeof(buf), 0) != 0)
		return 15;
	return 0;
}

static int run_child(struct fixture *f, uid_t uid, gid_t gid, const gid_t *groups, size_t n,
		     const char *want)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_request(f->path, uid, gid, groups, n, want));
	for (int i = 0; i < 10000 && waitpid(pid, &status, WNOHANG) == 0; i++)
		sd_event_run(f->ev, 1000);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void access__group_member_allowed_stranger_refused(void **state)
{
	struct fixture *f = *state;
	const gid_t member[] = { 100, GROUP };

	if (geteuid() != 0)
		skip();
	/* open the file so a stranger reaches the daemon's own check */
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_int_equal(run_child(f, NOBODY, GROUP, NULL, 0, "ENOENT"), 0);
	assert_int_equal(run_child(f, NOBODY, NOBODY, member, 2, "ENOENT"), 0);
	assert_int_equal(run_child(f, NOBODY, NOBODY, NULL, 0, "EACCES"), 0);
	/* with the file's own mode, a stranger cannot even connect */
	assert_int_equal(chmod(f->path, 0660), 0);
	assert_int_equal(run_child(f, NOBODY, NOBODY, NULL, 0, "EACCES"), 11);
	assert_int_equal(f->registers, 0);
}

static void connections__per_process_quota__ebusy_beyond_then_room_again(void **state)
{
	struct fixture *f = *state;
	int fds[CONTROL_CONNS_PER_PROCESS], last;

	for (int i = 0; i < CONTROL_CONNS_PER_PROCESS; i++) {
		fds[i] = client_connect(f);
		expect_error(f, fds[i], "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	}
	last = client_connect(f);
	assert_true(client_recv(f, last, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "\"errno\":\"EBUSY\""));
	assert_non_null(strstr(reply, "already holds 8 connections"));
	assert_int_equal(client_recv(f, last, reply, sizeof(reply), NULL), 0);
	close(last);
	/* one closes: the process gets one back */
	close(fds[0]);
	for (int i = 0; i < 20; i++)
		sd_event_run(f->ev, 1000);
	fds[0] = client_connect(f);
	expect_error(f, fds[0], "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	for (int i = 0; i < CONTROL_CONNS_PER_PROCESS; i++)
		close(fds[i]);
}

/* Receives one fd sent with SCM_RIGHTS on sock (blocking). */
static int recv_fd(int sock)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	int fd = -1;

	assert_int_equal(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC), 1);
	assert_non_null(CMSG_FIRSTHDR(&msg));
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	return fd;
}

/*
 * A child connects, hands its connection to this process over pair, then
 * exits once it reads a byte (at once when wait_for_go is false). Returns
 * the connection; *child is the child's pid, not yet reaped.
 */
static int connect_in_child(struct fixture *f, bool wait_for_go, int *pair_out, pid_t *child)
{
	int pair[2], fd;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	*child = fork();
	assert_true(*child >= 0);
	if (*child == 0) {
		char c;

		close(pair[0]);
		fd = client_connect(f);
		client_send(pair[1], "x", 1, fd);
		if (wait_for_go && read(pair[1], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(pair[1]);
	fd = recv_fd(pair[0]);
	*pair_out = pair[0];
	return fd;
}

static void reap(pid_t child)
{
	int status;

	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void peer__exited_after_accept__every_request_esrch(void **state)
{
	struct fixture *f = *state;
	int pair, fd;
	pid_t child;

	fd = connect_in_child(f, true, &pair, &child);
	/* accepted while the child lives: its requests are served */
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ENOENT", "not registered");
	assert_int_equal(write(pair, "g", 1), 1);
	reap(child);
	/* the socket lives on here; the process that connected does not */
	expect_error(f, fd, "{\"op\":\"register\",\"region_ipa\":0}", "ESRCH",
		     "the process that connected");
	expect_error(f, fd, "{\"op\":\"snapshot\"}", "ESRCH", "has exited");
	assert_int_equal(f->registers + f->snapshots, 0);
	close(pair);
	close(fd);
}

static void peer_exited_before_accept__refused(struct fixture *f)
{
	int pair, fd;
	pid_t child;

	fd = connect_in_child(f, false, &pair, &child);
	reap(child); /* before the server has even accepted */
	assert_true(client_recv(f, fd, reply, sizeof(reply), NULL) > 0);
	assert_non_null(strstr(reply, "\"errno\":\"ESRCH\""));
	assert_non_null(strstr(reply, "has exited"));
	assert_int_equal(client_recv(f, fd, reply, sizeof(reply), NULL), 0);
	close(pair);
	close(fd);
	assert_int_equal(f->registers, 0);
}

static void peer__exited_before_accept__refused_esrch(void **state)
{
	peer_exited_before_accept__refused(*state);
}

static void peer__exited_before_accept_without_peerpidfd__refused_esrch(void **state)
{
	setenv("STEALTIMED_WITHOUT", "peerpidfd", 1);
	peer_exited_before_accept__refused(*state);
	unsetenv("STEALTIMED_WITHOUT");
}

static void peer__registered_then_exited__later_requests_esrch(void **state)
{
	struct fixture *f = *state;
	int pair, fd;
	pid_t child;

	fd = connect_in_child(f, true, &pair, &child);
	close(do_register(f, fd, 0));
	assert_int_equal(write(pair, "g", 1), 1);
	reap(child);
	expect_error(f, fd, "{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0}", "ESRCH", "has exited");
	expect_error(f, fd, "{\"op\":\"smccc\",\"vcpu\":0,\"function\":1}", "ESRCH", "has exited");
	assert_int_equal(f->set_ipas + f->smcccs, 0);
	close(pair);
	close(fd);
	wait_for(f, &f->disconnects, 1);
}

/* A connected socketpair's end as a control peer would see it */
static void take_identity(int sock, struct control_peer *peer, bool fallback)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	assert_int_equal(getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
	*peer = (struct control_peer){ .pid = cred.pid, .pidfd = -1 };
	if (fallback)
		assert_int_equal(peer_identity_take_fallback(peer, sock), 0);
	else
		assert_int_equal(peer_identity_take(peer, sock), 0);
	assert_true(peer->pidfd >= 0);
}

static void identity__both_ways__this_process_same_start_time(void **state)
{
	struct control_peer a, b;
	uint64_t start;
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	take_identity(sp[0], &a, false);
	take_identity(sp[0], &b, true);
	assert_int_equal(a.pid, getpid());
	assert_int_equal(peer_pidfd_pid(a.pidfd), getpid());
	assert_int_equal(peer_pidfd_pid(b.pidfd), getpid());
	assert_int_equal(peer_start_time(getpid(), &start), 0);
	assert_true(start > 0);
	assert_int_equal(a.start_time, start);
	assert_int_equal(b.start_time, start);
	assert_true(peer_alive(&a));
	assert_true(peer_same_process(&a, &b));
	/* another start time under the same pid is another process */
	b.start_time++;
	assert_false(peer_same_process(&a, &b));
	peer_identity_release(&a);
	peer_identity_release(&b);
	assert_int_equal(a.pidfd, -1);
	close(sp[0]);
	close(sp[1]);
}

static void identity__child_exits__not_alive_pid_gone(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct control_peer child, same;
	uint64_t start, mine;
	int lsock, sock;
	pid_t pid;

	/* a listener of the test's own: the child connects to it */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/id.sock", f->dir);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lsock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lsock, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		char c;

		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			_exit(3);
		_exit(read(fd, &c, 1) == 1 ? 0 : 2); /* until told */
	}
	sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	assert_true(sock >= 0);
	take_identity(sock, &child, false);
	take_identity(sock, &same, true);
	assert_int_equal(child.pid, pid);
	assert_int_equal(peer_start_time(getpid(), &mine), 0);
	assert_true(child.start_time >= mine);
	assert_int_equal(same.start_time, child.start_time);
	assert_true(peer_same_process(&child, &same));
	assert_int_equal(send(sock, "g", 1, MSG_NOSIGNAL), 1);
	/* exited, not reaped yet: a zombie is not alive either */
	for (int i = 0; i < 500 && peer_alive(&child); i++)
		usleep(10000);
	assert_false(peer_alive(&child));
	assert_false(peer_same_process(&child, &same));
	reap(pid);
	assert_int_equal(peer_pidfd_pid(child.pidfd), -1);
	assert_int_equal(peer_start_time(pid, &start), -ESRCH);
	peer_identity_release(&child);
	peer_identity_release(&same);
	close(sock);
	close(lsock);
	unlink(addr.sun_path);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(start__fresh_path__dir_0755_socket_0660_group),
		T(start__no_group__socket_0600),
		T(start__live_socket__eaddrinuse),
		T(start__stale_socket__replaced),
		T(start__path_not_socket__eexist),
		T(register__first__region_fd_received),
		T(register__twice__eexist_without_ops),
		T(register__ops_fails__error_and_no_fd),
		T(requests__before_register__enoent_without_ops),
		T(set_ipa__ops_result__reply_and_errno_mapped),
		T(smccc__ret__signed_int64),
		T(snapshot__values__listed_in_full),
		T(unregister__request__ops_called_and_register_again),
		T(message__oversized__emsgsize_then_usable),
		T(message__garbage__eproto_then_usable),
		T(peer_fd__passed_with_request__closed_not_leaked),
		T(peer_fd__more_than_buffer_holds__all_released),
		T(close__registered__disconnect_not_unregister),
		T(close__not_registered__no_unregister),
		T(cycles__100_register_close__fd_count_unchanged),
		T(peer_not_reading__dropped_and_disconnected),
		T(connections__over_limit__ebusy_and_closed),
		T(connections__spare_full__registered_vmm_still_connects),
		T(register__over_max_registered__ebusy),
		T(counters__requests_and_errors__counted),
		T(stop__registered_peer__no_unregister),
		T(stop__unread_request_with_fd__fd_released),
		T(access__group_member_allowed_stranger_refused),
		T(connections__per_process_quota__ebusy_beyond_then_room_again),
		T(peer__exited_after_accept__every_request_esrch),
		T(peer__exited_before_accept__refused_esrch),
		T(peer__exited_before_accept_without_peerpidfd__refused_esrch),
		T(peer__registered_then_exited__later_requests_esrch),
		T(identity__both_ways__this_process_same_start_time),
		T(identity__child_exits__not_alive_pid_gone),
	};
#undef T

	log_max_level = LOG_NOTICE;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
