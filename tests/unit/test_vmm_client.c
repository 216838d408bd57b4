// link: vmmlib/stealtime_vmm.c
// SPDX-License-Identifier: GPL-2.0
/*
 * libstealtime-vmm against a scripted daemon: a real SOCK_SEQPACKET socket
 * in a temporary directory, served by a thread that records each request
 * and answers with the next scripted reply (and fd, if any).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "stealtime_vmm.h"

#define MAX_STEPS 32

struct step {
	const char *reply; /* NULL: close the connection instead of replying */
	int fd;            /* sent with the reply when >= 0 */
	unsigned delay_ms; /* before the reply */
	char got[4096];    /* the request received */
};

struct server {
	char dir[64];
	char path[96];
	int listen_fd;
	pthread_t thread;
	sem_t accepted;      /* the server holds its end: fd counts are stable */
	struct step steps[MAX_STEPS];
	size_t nsteps;
	size_t served;
};

static int send_with_fd(int sock, const char *text, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	char scratch[4096];
	struct step *st;
	ssize_t n;
	int conn;

	conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	sem_post(&s->accepted);
	if (conn < 0)
		return NULL;
	for (; s->served < s->nsteps; s->served++) {
		st = &s->steps[s->served];
		n = recv(conn, st->got, sizeof(st->got) - 1, 0);
		if (n <= 0)
			break;
		st->got[n] = '\0';
		if (st->delay_ms)
			usleep(st->delay_ms * 1000);
		if (!st->reply || send_with_fd(conn, st->reply, st->fd))
			break;
	}
	/* out of script: hold the connection until the client's next request or hang-up */
	if (s->served == s->nsteps)
		recv(conn, scratch, sizeof(scratch), 0);
	close(conn);
	return NULL;
}

static struct server *server_start(void)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	assert_non_null(s);
	sem_init(&s->accepted, 0, 0);
	strcpy(s->dir, "/tmp/test_vmm_client.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/control.sock", s->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s->path);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(s->listen_fd >= 0);
	assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(s->listen_fd, 1), 0);
	return s;
}

/* Scripts the next reply; fd (if >= 0) is owned by the test, not the server. */
static void server_expect(struct server *s, const char *reply, int fd)
{
	assert_true(s->nsteps < MAX_STEPS);
	s->steps[s->nsteps].reply = reply;
	s->steps[s->nsteps].fd = fd;
	s->nsteps++;
}

static void server_run(struct server *s)
{
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

/* Joins the thread (call after st_vmm_close) and removes the socket. */
static void server_finish(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
	rmdir(s->dir);
	sem_destroy(&s->accepted);
}

static struct st_vmm *client_for(struct server *s)
{
	struct st_vmm *c = NULL;

	server_run(s);
	assert_int_equal(st_vmm_connect(&c, s->path), 0);
	assert_non_null(c);
	sem_wait(&s->accepted);
	return c;
}

/* The recorded request n as JSON (caller decrefs). */
static json_t *request(struct server *s, size_t n)
{
	json_t *j;

	assert_true(n < s->served);
	j = json_loads(s->steps[n].got, 0, NULL);
	assert_non_null(j);
	return j;
}

static void assert_request_op(struct server *s, size_t n, const char *op)
{
	json_t *j = request(s, n);

	assert_string_equal(json_string_value(json_object_get(j, "op")), op);
	json_decref(j);
}

static json_int_t request_int(struct server *s, size_t n, const char *key)
{
	json_t *j = request(s, n);
	json_t *v = json_object_get(j, key);
	json_int_t r;

	assert_true(json_is_integer(v));
	r = json_integer_value(v);
	json_decref(j);
	return r;
}

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* The permissions ("r--s") of the mapping that holds addr, from /proc/self/maps. */
static void mapping_perms(const void *addr, char perms[5])
{
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[512], p[5];
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	perms[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && a >= lo && a < hi)
			memcpy(perms, p, 5);
	fclose(f);
}

/* A 64 KiB memfd whose record 1 holds a recognizable stolen_ns. */
static int region_memfd(void)
{
	uint64_t v = 0x1122334455667788ull;
	int fd = memfd_create("region", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ST_VMM_REGION_SIZE), 0);
	assert_int_equal(pwrite(fd, &v, sizeof(v), ST_VMM_RECORD_SIZE + 8), (ssize_t)sizeof(v));
	return fd;
}

/* --- register ------------------------------------------------------------- */

static void register__daemon_attaches_memfd__fd_received_and_maps_read_only(void **state)
{
	struct server *s = server_start();
	int memfd = region_memfd();
	const void *map = NULL;
	struct st_vmm *c;
	char perms[5];
	uint64_t v;
	int fd;

	server_expect(s, "{\"ok\":true,\"vm\":\"vm-7\",\"region_size\":65536}", memfd);
	c = client_for(s);
	assert_int_equal(st_vmm_register(c, 0x80000), 0);
	fd = st_vmm_region_fd(c);
	assert_true(fd >= 0);
	assert_int_not_equal(fd, memfd);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_string_equal(st_vmm_vm_id(c), "vm-7");
	assert_int_equal(st_vmm_map_region(c, &map), 0);
	memcpy(&v, (const char *)map + ST_VMM_RECORD_SIZE + 8, sizeof(v));
	assert_true(v == 0x1122334455667788ull);
	mapping_perms(map, perms);
	assert_string_equal(perms, "r--s");
	st_vmm_close(c); /* also tries to unregister: the server has hung up */
	server_finish(s);
	assert_request_op(s, 0, "register");
	assert_int_equal(request_int(s, 0, "region_ipa"), 0x80000);
	free(s);
	close(memfd);
}

static void register__ok_reply_without_fd__eproto(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;

	server_expect(s, "{\"ok\":true,\"vm\":\"vm-1\",\"region_size\":65536}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_register(c, 0x80000), -EPROTO);
	assert_non_null(strstr(st_vmm_error(c), "fd"));
	assert_int_equal(st_vmm_region_fd(c), -ENOENT);
	st_vmm_close(c);
	server_finish(s);
	free(s);
}

static void register__refused_with_fd_attached__fd_closed_and_errno_returned(void **state)
{
	struct server *s = server_start();
	int memfd = region_memfd();
	struct st_vmm *c;
	int before;

	server_expect(s, "{\"ok\":false,\"errno\":\"EBUSY\",\"error\":\"VM already registered\"}",
		      memfd);
	c = client_for(s);
	before = count_open_fds();
	assert_int_equal(st_vmm_register(c, 0x80000), -EBUSY);
	assert_int_equal(count_open_fds(), before);
	st_vmm_close(c);
	server_finish(s);
	free(s);
	close(memfd);
}

/* --- error replies ------------------------------------------------------------ */

static void set_ipa__daemon_says_eexist__minus_eexist_and_reason_kept(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;

	server_expect(s, "{\"ok\":false,\"errno\":\"EEXIST\",\"error\":\"record already set\"}", -1);
	c = client_for(s);
	assert_string_equal(st_vmm_error(c), "");
	assert_int_equal(st_vmm_set_ipa(c, 3, 0x800c0), -EEXIST);
	assert_string_equal(st_vmm_error(c), "EEXIST: record already set");
	st_vmm_close(c);
	server_finish(s);
	assert_request_op(s, 0, "set_ipa");
	assert_int_equal(request_int(s, 0, "vcpu"), 3);
	assert_int_equal(request_int(s, 0, "ipa"), 0x800c0);
	free(s);
}

static void set_ipa__daemon_says_eagain_twice__sent_again_until_ok(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;

	server_expect(s, "{\"ok\":false,\"errno\":\"EAGAIN\","
			 "\"error\":\"rescan rate limit for all peers: retry in 3 ms\"}", -1);
	server_expect(s, "{\"ok\":false,\"errno\":\"EAGAIN\",\"error\":\"busy\"}", -1);
	server_expect(s, "{\"ok\":true}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_set_ipa(c, 3, 0x800c0), 0);
	st_vmm_close(c);
	server_finish(s);
	assert_true(s->served >= 3);
	for (int i = 0; i < 3; i++) { /* the same request each time */
		assert_request_op(s, i, "set_ipa");
		assert_int_equal(request_int(s, i, "vcpu"), 3);
		assert_int_equal(request_int(s, i, "ipa"), 0x800c0);
	}
	free(s);
}

static const struct {
	const char *name;
	int err;
} names[] = {
	{ "EINVAL", -EINVAL }, { "EEXIST", -EEXIST }, { "ENXIO", -ENXIO },
	{ "EPERM", -EPERM },   { "EACCES", -EACCES }, { "ENOENT", -ENOENT },
	{ "EBUSY", -EBUSY },   { "ENOSPC", -ENOSPC }, { "ERANGE", -ERANGE },
	{ "EPROTO", -EPROTO }, { "ENOMSG", -ENOMSG }, { "E2BIG", -E2BIG },
	{ "ESRCH", -ESRCH },   { "EMSGSIZE", -EMSGSIZE }, { "ENOMEM", -ENOMEM },
	{ "EIO", -EIO },       { "EWHATEVER", -EPROTO },
};

static void smccc__each_errno_name__mapped_to_its_negative_value(void **state)
{
	char replies[sizeof(names) / sizeof(names[0])][128];
	struct server *s = server_start();
	struct st_vmm *c;
	int64_t ret = 42;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(replies[i], sizeof(replies[i]),
			 "{\"ok\":false,\"errno\":\"%s\",\"error\":\"no %zu\"}", names[i].name, i);
		server_expect(s, replies[i], -1);
	}
	c = client_for(s);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char want[64];

		assert_int_equal(st_vmm_smccc(c, 0, ST_PV_TIME_ST, 0, &ret), names[i].err);
		if (names[i].err == -EPROTO && strcmp(names[i].name, "EPROTO"))
			snprintf(want, sizeof(want), "EPROTO: no %zu (errno %s)", i, names[i].name);
		else
			snprintf(want, sizeof(want), "%s: no %zu", names[i].name, i);
		assert_string_equal(st_vmm_error(c), want);
	}
	assert_int_equal(ret, 42);
	st_vmm_close(c);
	server_finish(s);
	free(s);
}

static void set_ipa__reply_carries_unexpected_fd__eproto_and_fd_closed(void **state)
{
	struct server *s = server_start();
	int memfd = region_memfd();
	struct st_vmm *c;
	int before;

	server_expect(s, "{\"ok\":true}", memfd);
	c = client_for(s);
	before = count_open_fds();
	assert_int_equal(st_vmm_set_ipa(c, 0, 0x80000), -EPROTO);
	assert_int_equal(count_open_fds(), before);
	st_vmm_close(c);
	server_finish(s);
	free(s);
	close(memfd);
}

/* --- values that JSON integers cannot carry ------------------------------------ */

static void requests__u64_above_int64_max__erange_and_nothing_sent(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;
	int64_t ret;

	server_expect(s, "{\"ok\":true}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_register(c, 1ull << 63), -ERANGE);
	assert_int_equal(st_vmm_set_ipa(c, 0, UINT64_MAX), -ERANGE);
	assert_non_null(strstr(st_vmm_error(c), "ERANGE"));
	assert_int_equal(st_vmm_set_ipa_initial(c, 0, 0x80000, (uint64_t)INT64_MAX + 1), -ERANGE);
	assert_int_equal(st_vmm_smccc(c, 0, ST_PV_TIME_FEATURES, 1ull << 63, &ret), -ERANGE);
	/* the connection is still in step: the first message the server saw is this one */
	assert_int_equal(st_vmm_set_ipa_initial(c, 1, 0x80040, INT64_MAX), 0);
	st_vmm_close(c);
	server_finish(s);
	assert_request_op(s, 0, "set_ipa");
	assert_int_equal(request_int(s, 0, "vcpu"), 1);
	assert_int_equal(request_int(s, 0, "initial_ns"), INT64_MAX);
	free(s);
}

/* --- malformed replies ------------------------------------------------------------ */

static void smccc__reply_is_malformed_json__eproto(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;
	int64_t ret = 7;

	server_expect(s, "{\"ok\":tru", -1);
	server_expect(s, "[1,2]", -1);
	server_expect(s, "{\"ok\":true}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_smccc(c, 0, ST_PV_TIME_ST, 0, &ret), -EPROTO);
	assert_non_null(strstr(st_vmm_error(c), "malformed"));
	assert_int_equal(st_vmm_smccc(c, 0, ST_PV_TIME_ST, 0, &ret), -EPROTO);
	assert_int_equal(st_vmm_smccc(c, 0, ST_PV_TIME_ST, 0, &ret), -EPROTO); /* no "ret" */
	assert_int_equal(ret, 7);
	st_vmm_close(c);
	server_finish(s);
	free(s);
}

static void request__daemon_hangs_up__econnreset(void **state)
{
	struct server *s = server_start();
	struct st_vmm_value v[1];
	struct st_vmm *c;

	server_expect(s, NULL, -1);
	c = client_for(s);
	assert_int_equal(st_vmm_snapshot(c, v, 1), -ECONNRESET);
	st_vmm_close(c);
	server_finish(s);
	free(s);
}

/* --- successful requests ------------------------------------------------------------ */

static void set_ipa__reply_later_than_5_s__etimedout_then_next_request_gets_its_own_reply(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;

	server_expect(s, "{\"ok\":true}", -1);
	s->steps[0].delay_ms = 5600;
	server_expect(s, "{\"ok\":false,\"errno\":\"EEXIST\",\"error\":\"record already set\"}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_set_ipa(c, 3, 0x800c0), -ETIMEDOUT);
	usleep(1000 * 1000); /* the late reply has come */
	/* not broken: the late reply is dropped, this request's own is read */
	assert_int_equal(st_vmm_set_ipa(c, 4, 0x80100), -EEXIST);
	assert_string_equal(st_vmm_error(c), "EEXIST: record already set");
	st_vmm_close(c);
	server_finish(s);
	assert_int_equal(request_int(s, 1, "vcpu"), 4);
	free(s);
}

static void smccc__daemon_returns_minus_one__signed_ret_and_request_fields(void **state)
{
	struct server *s = server_start();
	struct st_vmm *c;
	int64_t ret = 0;

	server_expect(s, "{\"ok\":true,\"ret\":-1}", -1);
	server_expect(s, "{\"ok\":true,\"ret\":524352}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_smccc(c, 2, ST_SMCCC_ARCH_FEATURES, ST_PV_TIME_FEATURES, &ret), 0);
	assert_int_equal(ret, -1);
	assert_int_equal(st_vmm_smccc(c, 1, ST_PV_TIME_ST, 0, &ret), 0);
	assert_int_equal(ret, 0x80040);
	st_vmm_close(c);
	server_finish(s);
	assert_request_op(s, 0, "smccc");
	assert_int_equal(request_int(s, 0, "vcpu"), 2);
	assert_int_equal(request_int(s, 0, "function"), ST_SMCCC_ARCH_FEATURES);
	assert_int_equal(request_int(s, 0, "arg"), ST_PV_TIME_FEATURES);
	free(s);
}

static void snapshot__three_vcpus_max_two__first_two_values(void **state)
{
	struct server *s = server_start();
	struct st_vmm_value v[2];
	struct st_vmm *c;

	server_expect(s, "{\"ok\":true,\"vcpus\":[{\"vcpu\":0,\"stolen_ns\":5},"
			 "{\"vcpu\":1,\"stolen_ns\":9007199254740993},{\"vcpu\":2,\"stolen_ns\":0}]}",
		      -1);
	server_expect(s, "{\"ok\":true,\"vcpus\":[{\"vcpu\":0,\"stolen_ns\":-5}]}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_snapshot(c, v, 2), 2);
	assert_int_equal(v[0].vcpu, 0);
	assert_int_equal(v[0].stolen_ns, 5);
	assert_int_equal(v[1].vcpu, 1);
	assert_true(v[1].stolen_ns == 9007199254740993ull);
	assert_int_equal(st_vmm_snapshot(c, v, 2), -EPROTO);
	st_vmm_close(c);
	server_finish(s);
	assert_request_op(s, 0, "snapshot");
	free(s);
}

static void close__after_register__unregister_is_last_request(void **state)
{
	struct server *s = server_start();
	int memfd = region_memfd();
	struct st_vmm *c;

	server_expect(s, "{\"ok\":true,\"vm\":\"vm-3\",\"region_size\":65536}", memfd);
	server_expect(s, "{\"ok\":true}", -1);
	server_expect(s, "{\"ok\":true}", -1);
	c = client_for(s);
	assert_int_equal(st_vmm_register(c, 0x90000), 0);
	st_vmm_close(c);
	server_finish(s);
	assert_int_equal(s->served, 2); /* register, unregister, then the client hung up */
	assert_request_op(s, 1, "unregister");
	free(s);
	close(memfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(register__daemon_attaches_memfd__fd_received_and_maps_read_only),
		cmocka_unit_test(register__ok_reply_without_fd__eproto),
		cmocka_unit_test(register__refused_with_fd_attached__fd_closed_and_errno_returned),
		cmocka_unit_test(set_ipa__daemon_says_eexist__minus_eexist_and_reason_kept),
		cmocka_unit_test(set_ipa__daemon_says_eagain_twice__sent_again_until_ok),
		cmocka_unit_test(smccc__each_errno_name__mapped_to_its_negative_value),
		cmocka_unit_test(set_ipa__reply_carries_unexpected_fd__eproto_and_fd_closed),
		cmocka_unit_test(requests__u64_above_int64_max__erange_and_nothing_sent),
		cmocka_unit_test(smccc__reply_is_malformed_json__eproto),
		cmocka_unit_test(request__daemon_hangs_up__econnreset),
		cmocka_unit_test(set_ipa__reply_later_than_5_s__etimedout_then_next_request_gets_its_own_reply),
		cmocka_unit_test(smccc__daemon_returns_minus_one__signed_ret_and_request_fields),
		cmocka_unit_test(snapshot__three_vcpus_max_two__first_two_values),
		cmocka_unit_test(close__after_register__unregister_is_last_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
