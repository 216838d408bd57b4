// link: daemon/http_server.c daemon/http_auth.c daemon/web_config.c daemon/config_error.c daemon/http_encoding.c daemon/http_body.c daemon/render_json.c daemon/render_prom.c daemon/vm_naming.c daemon/host_view.c daemon/log.c
// SPDX-License-Identifier: GPL-2.0
/*
 * The real HTTP server on 127.0.0.1, port 0, spoken to over plain sockets.
 * The view function is test data: a host with one VM whose steal grows by
 * one second on every call, so each answer shows whether it was read anew.
 * gzip answers are inflated with zlib.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "http_encoding.h"
#include "http_server.h"

struct fake_host {
	int calls;
	int fail;      /* negative errno to return, 0 to succeed */
	size_t nvcpus; /* of the VM; 0 is 1 */
};

struct reply {
	int status;
	char *raw;        /* whole answer, NUL-terminated */
	const char *body; /* inside raw */
	size_t body_len;
};

struct fixture {
	struct http_server *srv;
	struct fake_host host;
	int port;
};

/* --- the view: one VM "4021" with one vCPU (or nvcpus) ---------------------- */

static int fake_view(void *ctx, const char *vm_id, struct host_view *out)
{
	struct fake_host *host = ctx;
	struct vm_view *vm;

	host->calls++;
	if (host->fail)
		return host->fail;
	if (vm_id && strcmp(vm_id, "4021")) {
		*out = (struct host_view){ 0 };
		return 0;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->nvcpus = host->nvcpus ? host->nvcpus : 1;
	vm->vcpus = calloc(vm->nvcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(vm);
		return -ENOMEM;
	}
	strcpy(vm->id, "4021");
	strcpy(vm->name, "web01");
	strcpy(vm->comm, "qemu-system-x86");
	vm->pid = 4021;
	for (size_t i = 0; i < vm->nvcpus; i++) {
		vm->vcpus[i].index = (uint32_t)i;
		vm->vcpus[i].tid = 4030 + (int)i;
		vm->vcpus[i].steal_ns = (uint64_t)host->calls * 1000000000;
	}
	*out = (struct host_view){ .nvms = 1, .vms = vm };
	return 0;
}

/* --- a minimal HTTP client --------------------------------------------------- */

static int connect_to(int family, const void *addr, int port)
{
	struct timeval tv = { .tv_sec = 5 };
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd;

	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
		len = sizeof(*sin6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static char *recv_all(int fd, size_t *out_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	assert_non_null(buf);
	while ((n = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += (size_t)n;
		if (cap - len < 1024) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	assert_true(n == 0); /* EOF, not a timeout */
	buf[len] = '\0';
	*out_len = len;
	return buf;
}

/* Sends a raw request over a fresh IPv4 loopback connection and reads the whole answer. */
static struct reply exchange_raw(int port, const char *request)
{
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct reply r = { 0 };
	size_t len;
	char *sep;
	int fd = connect_to(AF_INET, &lo, port);

	assert_true(fd >= 0);
	send_all(fd, request, strlen(request));
	r.raw = recv_all(fd, &len);
	close(fd);
	assert_int_equal(sscanf(r.raw, "HTTP/1.%*d %d", &r.status), 1);
	sep = strstr(r.raw, "\r\n\r\n");
	assert_non_null(sep);
	r.body = sep + 4;
	r.body_len = len - (size_t)(r.body - r.raw); /* a gzip body may hold NUL bytes */
	return r;
}

static struct reply exchange(int port, const char *method, const char *path)
{
	char req[512];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
		 method, path);
	return exchange_raw(port, req);
}

/* Value of a response header (case-insensitive name), malloc'd; NULL when absent. */
static char *header(const struct reply *r, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(r->raw, "\r\n"); p && p + 2 < r->body; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *v = p + 3 + n, *end = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(end - v));
		}
	}
	return NULL;
}

static void assert_header(const struct reply *r, const char *name, const char *value)
{
	char *v = header(r, name);

	if (!v)
		fail_msg("no %s header in:\n%s", name, r->raw);
	assert_string_equal(v, value);
	free(v);
}

/* The "error" member of a JSON error body. */
static void assert_json_error(const struct reply *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

	assert_non_null(j);
	assert_true(json_is_string(json_object_get(j, "error")));
	assert_true(strlen(json_string_value(json_object_get(j, "error"))) > 0);
	json_decref(j);
	assert_header(r, "Content-Type", "application/json");
}

static void reply_free(struct reply *r)
{
	free(r->raw);
}

#define GZIP "Accept-Encoding: gzip\r\n"

/* method path with the given header lines ("" for none, each ending in CRLF). */
static struct reply exchange_encoding(int port, const char *method, const char *path,
				      const char *fields)
{
	char req[512];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n",
		 method, path, fields);
	return exchange_raw(port, req);
}

/* The body of a gzip answer inflated (one gzip member, nothing after it), NUL-terminated. */
static char *gunzip(const struct reply *r, size_t *out_len)
{
	size_t cap = 1 << 16;
	char *out = malloc(cap);
	z_stream zs = { 0 };
	int rc;

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK); /* gzip only */
	zs.next_in = (Bytef *)r->body;
	zs.avail_in = (uInt)r->body_len;
	do {
		if (zs.total_out + 1 >= cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		zs.next_out = (Bytef *)out + zs.total_out;
		zs.avail_out = (uInt)(cap - 1 - zs.total_out);
		rc = inflate(&zs, Z_NO_FLUSH);
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END)
		fail_msg("not a gzip body (inflate %d) in:\n%.200s", rc, r->raw);
	assert_int_equal(zs.avail_in, 0);
	out[zs.total_out] = '\0';
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return out;
}

static void assert_no_header(const struct reply *r, const char *name)
{
	char *v = header(r, name);

	if (v)
		fail_msg("%s: %s in:\n%.300s", name, v, r->raw);
}

/* --- fixture ---------------------------------------------------------------- */

/* The daemon's default limits, plain HTTP */
static int start_server(struct http_server **srv, const char *listen, int fd,
			struct fake_host *host)
{
	struct http_settings s = { .listen = listen, .listen_fd = fd, .timeout_s = 10,
				   .max_conns = 64, .max_conns_per_addr = 16 };

	return http_server_start(srv, &s, fake_view, host);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || start_server(&fx->srv, "127.0.0.1:0", -1, &fx->host))
		return -1;
	fx->port = http_server_port(fx->srv);
	if (fx->port <= 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	http_server_stop(fx->srv);
	free(fx);
	return 0;
}

/* --- routes ------------------------------------------------------------------ */

static void metrics__get__200_prometheus_text(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "GET", "/metrics");

	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "# TYPE stealtime_vcpu_steal_seconds_total counter\n"));
	assert_non_null(strstr(r.body, "\nstealtime_vcpu_steal_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 1\n"));
	reply_free(&r);
}

static void vms__get__200_json_list(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "GET", "/v1/vms");
	json_t *j, *vm;

	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	j = json_loadb(r.body, r.body_len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "vms")), 1);
	vm = json_array_get(json_object_get(j, "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(vm, "id")), "4021");
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(vm, "vcpus"), 0), "steal_ns")),
			 1000000000);
	json_decref(j);
	reply_free(&r);
}

static void vm__known_id__200_that_vm(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "GET", "/v1/vms/4021");
	json_t *j;

	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	j = json_loadb(r.body, r.body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "4021");
	assert_string_equal(json_string_value(json_object_get(j, "name")), "web01");
	json_decref(j);
	reply_free(&r);
}

static void vm__unknown_id__404_json_error(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "GET", "/v1/vms/9999");

	assert_int_equal(r.status, 404);
	assert_json_error(&r);
	assert_int_equal(fx->host.calls, 1);
	reply_free(&r);
}

/* "/v1/vms/" and an id of n characters from [A-Za-z0-9._-] */
static void long_id_path(char *path, size_t size, size_t n)
{
	static const char chars[] = "Az09._-";
	size_t len = strlen("/v1/vms/");

	assert_true(len + n < size);
	memcpy(path, "/v1/vms/", len);
	for (size_t i = 0; i < n; i++)
		path[len + i] = chars[i % (sizeof(chars) - 1)];
	path[len + n] = '\0';
}

static void vm__invalid_id__400_without_reading_the_view(void **state)
{
	static char too_long[128];
	const char *const paths[] = {
		"/v1/vms/", "/v1/vms/a%20b", "/v1/vms/a/b", "/v1/vms/%22x%22", "/v1/vms/x%0ay",
		too_long,
	};
	struct fixture *fx = *state;

	long_id_path(too_long, sizeof(too_long), HTTP_MAX_ID_LEN + 1);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r = exchange(fx->port, "GET", paths[i]);

		if (r.status != 400)
			fail_msg("%s: %d", paths[i], r.status);
		assert_json_error(&r);
		reply_free(&r);
	}
	assert_int_equal(fx->host.calls, 0);
}

static void vm__longest_valid_id__looked_up(void **state)
{
	struct fixture *fx = *state;
	char path[128];
	struct reply r;

	long_id_path(path, sizeof(path), HTTP_MAX_ID_LEN);
	r = exchange(fx->port, "GET", path);
	assert_int_equal(r.status, 404);
	assert_int_equal(fx->host.calls, 1);
	reply_free(&r);
}

static void healthz__get__200_ok(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "GET", "/healthz");

	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	reply_free(&r);
}

static void unknown_path__get__404_json_error(void **state)
{
	static const char *const paths[] = { "/", "/metrics/", "/v1", "/v1/vmsx", "/healthz2" };
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r = exchange(fx->port, "GET", paths[i]);

		if (r.status != 404)
			fail_msg("%s: %d", paths[i], r.status);
		assert_json_error(&r);
		reply_free(&r);
	}
}

static void query_string__metrics__ignored(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "GET", "/metrics?name[]=x");

	assert_int_equal(r.status, 200);
	reply_free(&r);
}

/* --- methods and bodies --------------------------------------------------------- */

static void other_methods__any_path__405_with_allow(void **state)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE", "OPTIONS", "PATCH" };
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		struct reply r = exchange(fx->port, methods[i], "/metrics");

		if (r.status != 405)
			fail_msg("%s: %d", methods[i], r.status);
		assert_header(&r, "Allow", "GET, HEAD");
		assert_json_error(&r);
		reply_free(&r);
	}
	assert_int_equal(fx->host.calls, 0);
}

static void head__metrics__200_headers_only(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange(fx->port, "HEAD", "/metrics");
	char *len;

	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(r.body_len, 0);
	len = header(&r, "Content-Length");
	assert_non_null(len);
	assert_true(atoi(len) > 0);
	free(len);
	reply_free(&r);
}

static void get_with_body__metrics__400(void **state)
{
	struct fixture *fx = *state;
	struct reply a = exchange_raw(fx->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n"
					       "Connection: close\r\nContent-Length: 5\r\n\r\nhello");
	struct reply b = exchange_raw(fx->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n"
					       "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
					       "5\r\nhello\r\n0\r\n\r\n");

	assert_int_equal(a.status, 400);
	assert_json_error(&a);
	assert_int_equal(b.status, 400);
	assert_int_equal(fx->host.calls, 0);
	reply_free(&a);
	reply_free(&b);
}

static void get_with_empty_body__metrics__200(void **state)
{
	struct fixture *fx = *state;
	struct reply r = exchange_raw(fx->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n"
					       "Connection: close\r\nContent-Length: 0\r\n\r\n");

	assert_int_equal(r.status, 200);
	reply_free(&r);
}

/* Reads one answer with a Content-Length from a connection that stays open; returns its body. */
static char *recv_one(int fd)
{
	char buf[8192], *end = NULL, *len_hdr;
	size_t len = 0;
	long body_len;

	while (!end) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		assert_true(n > 0);
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	len_hdr = strcasestr(buf, "\r\nContent-Length:");
	assert_non_null(len_hdr);
	body_len = strtol(len_hdr + strlen("\r\nContent-Length:"), NULL, 10);
	while (len < (size_t)(end + 4 - buf) + (size_t)body_len) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		assert_true(n > 0);
		len += (size_t)n;
	}
	buf[len] = '\0';
	return strdup(end + 4);
}

static void keep_alive__two_requests__one_connection(void **state)
{
	static const char first[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char second[] = "GET /v1/vms HTTP/1.1\r\nHost: t\r\n\r\n";
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct fixture *fx = *state;
	int fd = connect_to(AF_INET, &lo, fx->port);
	char *a, *b;

	assert_true(fd >= 0);
	send_all(fd, first, strlen(first));
	a = recv_one(fd);
	send_all(fd, second, strlen(second));
	b = recv_one(fd);
	close(fd);
	assert_string_equal(a, "ok\n");
	assert_non_null(strstr(b, "\"vms\":["));
	assert_int_equal(fx->host.calls, 1);
	free(a);
	free(b);
}

/* --- content coding --------------------------------------------------------------- */

static void metrics__accepts_gzip__compressed_same_text(void **state)
{
	struct fixture *fx = *state;
	struct reply plain = exchange(fx->port, "GET", "/metrics");
	struct reply gz = exchange_encoding(fx->port, "GET", "/metrics", GZIP);
	size_t len;
	char *text;

	assert_int_equal(gz.status, 200);
	assert_header(&gz, "Content-Encoding", "gzip");
	assert_header(&gz, "Vary", "Accept-Encoding");
	assert_header(&gz, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_true(plain.body_len >= HTTP_GZIP_MIN_BYTES);
	assert_true(gz.body_len * 2 < plain.body_len);
	text = gunzip(&gz, &len);
	/* the same families; the view read anew (steal 2 s) and the HTTP counters moved */
	assert_true(len > plain.body_len - 64 && len < plain.body_len + 64);
	assert_non_null(strstr(text, "# TYPE stealtime_vcpu_steal_seconds_total counter\n"));
	assert_non_null(strstr(text, "\nstealtime_vcpu_steal_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 2\n"));
	assert_non_null(strstr(text, "\nstealtime_daemon_http_requests_total 2\n"));
	free(text);
	reply_free(&plain);
	reply_free(&gz);
}

static void metrics__gzip_not_accepted__identity(void **state)
{
	static const char *const fields[] = {
		"", "Accept-Encoding: identity\r\n", "Accept-Encoding: gzip;q=0\r\n",
		"Accept-Encoding: deflate, br\r\n", "Accept-Encoding: *;q=0\r\n",
		"Accept-Encoding: gzip;q=2\r\n", "Accept-Encoding:\r\n",
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct reply r = exchange_encoding(fx->port, "GET", "/metrics", fields[i]);

		assert_int_equal(r.status, 200);
		assert_no_header(&r, "Content-Encoding");
		assert_header(&r, "Vary", "Accept-Encoding");
		if (strncmp(r.body, "# HELP ", 7))
			fail_msg("'%s': not plain text", fields[i]);
		reply_free(&r);
	}
}

static void metrics__accept_encoding_in_two_fields__joined(void **state)
{
	struct fixture *fx = *state;
	struct reply a = exchange_encoding(fx->port, "GET", "/metrics",
					   "Accept-Encoding: br\r\naccept-encoding: GZIP\r\n");
	struct reply b = exchange_encoding(fx->port, "GET", "/metrics",
					   "Accept-Encoding: *\r\nAccept-Encoding: gzip;q=0\r\n");

	assert_header(&a, "Content-Encoding", "gzip");
	assert_no_header(&b, "Content-Encoding");
	reply_free(&a);
	reply_free(&b);
}

static void vms__accepts_gzip__json_compressed(void **state)
{
	struct fixture *fx = *state;
	struct reply list, one;
	json_t *j, *vm;
	size_t len;
	char *text;

	fx->host.nvcpus = 16; /* a body of several KiB */
	list = exchange_encoding(fx->port, "GET", "/v1/vms", GZIP);
	one = exchange_encoding(fx->port, "GET", "/v1/vms/4021",
				"Accept-Encoding: x-gzip;q=0.5\r\n");
	assert_header(&list, "Content-Encoding", "gzip");
	assert_header(&list, "Content-Type", "application/json");
	text = gunzip(&list, &len);
	j = json_loadb(text, len, 0, NULL);
	assert_non_null(j);
	vm = json_array_get(json_object_get(j, "vms"), 0);
	assert_int_equal(json_array_size(json_object_get(vm, "vcpus")), 16);
	json_decref(j);
	free(text);
	assert_header(&one, "Content-Encoding", "gzip");
	text = gunzip(&one, &len);
	j = json_loadb(text, len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "4021");
	json_decref(j);
	free(text);
	reply_free(&list);
	reply_free(&one);
}

static void small_bodies__accepts_gzip__identity(void **state)
{
	static const char *const paths[] = { "/healthz", "/v1/vms/4021", "/nope" };
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r = exchange_encoding(fx->port, "GET", paths[i], GZIP);

		if (r.body_len >= HTTP_GZIP_MIN_BYTES)
			fail_msg("%s: %zu bytes, not a small body", paths[i], r.body_len);
		assert_no_header(&r, "Content-Encoding");
		reply_free(&r);
	}
}

static void head__accepts_gzip__compressed_length(void **state)
{
	struct fixture *fx = *state;
	struct reply get = exchange_encoding(fx->port, "GET", "/metrics", GZIP);
	struct reply head = exchange_encoding(fx->port, "HEAD", "/metrics", GZIP);
	char *len = header(&head, "Content-Length");

	assert_header(&head, "Content-Encoding", "gzip");
	assert_int_equal(head.body_len, 0);
	assert_non_null(len);
	/* the same text but for a steal of 2 s instead of 1 and the counters: within a few bytes */
	assert_true(labs(atol(len) - (long)get.body_len) < 16);
	free(len);
	reply_free(&get);
	reply_free(&head);
}

static void counters__response_bytes__by_encoding(void **state)
{
	struct fixture *fx = *state;
	struct reply plain = exchange(fx->port, "GET", "/metrics");
	struct reply gz = exchange_encoding(fx->port, "GET", "/metrics", GZIP);
	struct reply head = exchange(fx->port, "HEAD", "/metrics");
	struct reply err = exchange_encoding(fx->port, "GET", "/nope", GZIP);
	struct daemon_stats_view stats = { 0 };
	struct reply scrape;
	char line[128];

	http_server_counters(fx->srv, &stats);
	assert_int_equal(stats.http_bytes_gzip, gz.body_len);
	assert_int_equal(stats.http_bytes_identity, plain.body_len + err.body_len); /* HEAD: none */
	/* and in /metrics, as they were before this answer */
	scrape = exchange(fx->port, "GET", "/metrics");
	snprintf(line, sizeof(line),
		 "\nstealtime_daemon_http_response_bytes_total{encoding=\"gzip\"} %zu\n", gz.body_len);
	assert_non_null(strstr(scrape.body, line));
	snprintf(line, sizeof(line),
		 "\nstealtime_daemon_http_response_bytes_total{encoding=\"identity\"} %zu\n",
		 plain.body_len + err.body_len);
	assert_non_null(strstr(scrape.body, line));
	reply_free(&plain);
	reply_free(&gz);
	reply_free(&head);
	reply_free(&err);
	reply_free(&scrape);
}

/* --- the view ----------------------------------------------------------------- */

static void each_request__reads_a_fresh_view(void **state)
{
	struct fixture *fx = *state;
	struct reply a = exchange(fx->port, "GET", "/metrics");
	struct reply b = exchange(fx->port, "GET", "/metrics");
	struct reply c = exchange(fx->port, "GET", "/v1/vms/4021");

	assert_int_equal(fx->host.calls, 3);
	assert_non_null(strstr(a.body, "vcpu=\"0\"} 1\n"));
	assert_non_null(strstr(b.body, "vcpu=\"0\"} 2\n"));
	assert_non_null(strstr(c.body, "\"steal_ns\":3000000000"));
	reply_free(&a);
	reply_free(&b);
	reply_free(&c);
}

static void view_fails__data_routes__503_json_error(void **state)
{
	static const char *const paths[] = { "/metrics", "/v1/vms", "/v1/vms/4021" };
	struct fixture *fx = *state;

	fx->host.fail = -EIO;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r = exchange(fx->port, "GET", paths[i]);

		if (r.status != 503)
			fail_msg("%s: %d", paths[i], r.status);
		assert_json_error(&r);
		reply_free(&r);
	}
	assert_int_equal(fx->host.calls, 3);
}

static void view_fails__healthz__still_200(void **state)
{
	struct fixture *fx = *state;
	struct reply r;

	fx->host.fail = -EIO;
	r = exchange(fx->port, "GET", "/healthz");
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void counters__after_ok_and_errors__counted(void **state)
{
	struct fixture *fx = *state;
	struct reply a = exchange(fx->port, "GET", "/metrics");
	struct reply b = exchange(fx->port, "GET", "/nope");
	struct reply c = exchange(fx->port, "POST", "/metrics");
	struct daemon_stats_view stats = { 0 };

	http_server_counters(fx->srv, &stats);
	assert_int_equal(stats.http_requests, 3);
	assert_int_equal(stats.http_errors, 2);
	reply_free(&a);
	reply_free(&b);
	reply_free(&c);
}

/* --- starting ------------------------------------------------------------------ */

static void start__bad_listen__einval(void **state)
{
	static const char *const bad[] = {
		"", "9477", "localhost:9477", "::1:9477", "[::1]9477", "[::1:9477",
		"127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http", "1.2.3:80x",
	};
	struct fake_host host = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_server *srv = NULL;

		if (start_server(&srv, bad[i], -1, &host) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(srv);
	}
}

static void start__port_in_use__error(void **state)
{
	struct fixture *fx = *state;
	struct fake_host host = { 0 };
	struct http_server *srv = NULL;
	char listen[32];

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", fx->port);
	assert_true(start_server(&srv, listen, -1, &host) < 0);
	assert_null(srv);
}

static void start__listen_fd__serves_on_it(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct fake_host host = { 0 };
	struct http_server *srv;
	struct reply r;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(start_server(&srv, "ignored", fd, &host), 0);
	assert_int_equal(http_server_port(srv), ntohs(sin.sin_port));
	r = exchange(ntohs(sin.sin_port), "GET", "/v1/vms");
	assert_int_equal(r.status, 200);
	assert_int_equal(host.calls, 1);
	reply_free(&r);
	http_server_stop(srv);
}

static void start__ipv6_any__serves_ipv4_and_ipv6(void **state)
{
	struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct fake_host host = { 0 };
	struct http_server *srv;
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int probe = socket(AF_INET6, SOCK_STREAM, 0), fd;

	if (probe < 0 || bind(probe, (struct sockaddr *)&any6, sizeof(any6))) {
		if (probe >= 0)
			close(probe);
		skip(); /* no IPv6 on this host */
	}
	close(probe);
	assert_int_equal(start_server(&srv, "[::]:0", -1, &host), 0);
	fd = connect_to(AF_INET6, &lo6, http_server_port(srv));
	if (fd == -EADDRNOTAVAIL || fd == -ENETUNREACH) {
		http_server_stop(srv);
		skip(); /* no ::1 on this host */
	}
	assert_true(fd >= 0);
	close(fd);
	fd = connect_to(AF_INET, &lo, http_server_port(srv));
	assert_true(fd >= 0);
	close(fd);
	http_server_stop(srv);
}

/* --- basic auth, reconfiguration, slow clients ---------------------------------- */

#define ALICE_HASH "$2y$04$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK" /* secret */
#define HEALTHZ_REQ "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
#define HALF_REQ "GET /metrics HTTP/1.1\r\nHost: t\r\n" /* no end of headers */
#define AUTH_CHALLENGE "Basic realm=\"stealtimed\", charset=\"UTF-8\""

static struct web_user alice = { "alice", ALICE_HASH };
static const struct web_config users_only = { .users = &alice, .nusers = 1 };

static struct http_settings limits(unsigned timeout_s, unsigned per_addr,
				   const struct web_config *web)
{
	return (struct http_settings){ .listen = "127.0.0.1:0", .listen_fd = -1,
				       .timeout_s = timeout_s, .max_conns = 64,
				       .max_conns_per_addr = per_addr, .web = web };
}

/* GET path with an Authorization header of value auth (NULL: none) */
static struct reply get_auth(int port, const char *path, const char *auth)
{
	char fields[256] = "";

	if (auth)
		snprintf(fields, sizeof(fields), "Authorization: %s\r\n", auth);
	return exchange_encoding(port, "GET", path, fields);
}

static void auth__no_or_bad_credentials__401_with_challenge(void **state)
{
	static const char *const bad[] = {
		NULL,
		"Basic YWxpY2U6d3Jvbmc=",     /* alice:wrong */
		"Basic bWFsbG9yeTpzZWNyZXQ=", /* mallory:secret */
		"Basic YWxpY2U=",             /* alice, no colon */
		"Basic !!!",
		"Bearer YWxpY2U6c2VjcmV0",
	};
	struct http_settings s = limits(10, 16, &users_only);
	struct fake_host host = { 0 };
	struct http_server *srv;

	assert_int_equal(http_server_start(&srv, &s, fake_view, &host), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int healthz = 0; healthz < 2; healthz++) {
			struct reply r = get_auth(http_server_port(srv),
						  healthz ? "/healthz" : "/metrics", bad[i]);

			if (r.status != 401)
				fail_msg("%s: %d for %s", healthz ? "/healthz" : "/metrics",
					 r.status, bad[i] ? bad[i] : "no credentials");
			assert_header(&r, "WWW-Authenticate", AUTH_CHALLENGE);
			reply_free(&r);
		}
	}
	assert_int_equal(host.calls, 0); /* nothing was read for them */
	http_server_stop(srv);
}

static void auth__right_credentials__200(void **state)
{
	struct http_settings s = limits(10, 16, &users_only);
	struct fake_host host = { 0 };
	struct http_server *srv;
	struct reply r;

	assert_int_equal(http_server_start(&srv, &s, fake_view, &host), 0);
	for (int i = 0; i < 3; i++) {
		r = get_auth(http_server_port(srv), "/v1/vms", "Basic YWxpY2U6c2VjcmV0");
		assert_int_equal(r.status, 200);
		reply_free(&r);
	}
	assert_int_equal(host.calls, 3);
	http_server_stop(srv);
}

static void reconfigure__users_on_and_off__same_port(void **state)
{
	struct http_settings plain = limits(10, 16, NULL), authed = limits(10, 16, &users_only);
	struct fake_host host = { 0 };
	struct http_server *srv;
	struct reply r;
	int port;

	assert_int_equal(http_server_start(&srv, &plain, fake_view, &host), 0);
	port = http_server_port(srv);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(http_server_reconfigure(srv, &authed), 0);
		assert_int_equal(http_server_port(srv), port);
		r = get_auth(port, "/healthz", NULL);
		assert_int_equal(r.status, 401);
		reply_free(&r);
		r = get_auth(port, "/healthz", "Basic YWxpY2U6c2VjcmV0");
		assert_int_equal(r.status, 200);
		reply_free(&r);
		assert_int_equal(http_server_reconfigure(srv, &plain), 0);
		r = get_auth(port, "/healthz", NULL);
		assert_int_equal(r.status, 200);
		reply_free(&r);
	}
	http_server_stop(srv);
}

/* Whether the server closed fd: recv sees EOF or a reset before SO_RCVTIMEO (5 s) */
static bool closed_by_server(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, 0);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void per_address_limit__one_more__closed_at_once(void **state)
{
	struct http_settings s = limits(10, 2, NULL);
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct fake_host host = { 0 };
	struct http_server *srv;
	bool answered = false;
	int held[2], extra;

	assert_int_equal(http_server_start(&srv, &s, fake_view, &host), 0);
	for (int i = 0; i < 2; i++) {
		char buf[16] = "";

		held[i] = connect_to(AF_INET, &lo, http_server_port(srv));
		assert_true(held[i] >= 0);
		/* answered, so the server has taken it (not just the kernel), then kept open */
		send_all(held[i], HEALTHZ_REQ, strlen(HEALTHZ_REQ));
		assert_true(recv(held[i], buf, sizeof(buf) - 1, 0) > 0);
		assert_memory_equal(buf, "HTTP/1.1 200", 12);
	}
	extra = connect_to(AF_INET, &lo, http_server_port(srv)); /* the kernel accepts it */
	assert_true(extra >= 0);
	assert_true(closed_by_server(extra));
	close(extra);
	close(held[0]);
	close(held[1]);
	for (int i = 0; i < 100 && !answered; i++) { /* once the server has seen them close */
		char buf[16] = "";
		int fd = connect_to(AF_INET, &lo, http_server_port(srv));

		assert_true(fd >= 0);
		send_all(fd, HEALTHZ_REQ, strlen(HEALTHZ_REQ));
		answered = recv(fd, buf, sizeof(buf) - 1, 0) > 0 && !strncmp(buf, "HTTP/1.1 200", 12);
		close(fd);
		if (!answered)
			usleep(20000);
	}
	assert_true(answered);
	http_server_stop(srv);
}

static void timeout__partial_request__closed_after_it(void **state)
{
	struct http_settings s = limits(1, 16, NULL);
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct fake_host host = { 0 };
	struct http_server *srv;
	struct timespec t0, t1;
	double took;
	int fd;

	assert_int_equal(http_server_start(&srv, &s, fake_view, &host), 0);
	fd = connect_to(AF_INET, &lo, http_server_port(srv));
	assert_true(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	send_all(fd, HALF_REQ, strlen(HALF_REQ));
	assert_true(closed_by_server(fd)); /* within SO_RCVTIMEO's 5 s */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (took < 0.9)
		fail_msg("closed after %.2f s, before the 1 s timeout", took);
	close(fd);
	assert_int_equal(host.calls, 0);
	http_server_stop(srv);
}

static void stop__null__no_op(void **state)
{
	http_server_stop(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(metrics__get__200_prometheus_text),
		T(vms__get__200_json_list),
		T(vm__known_id__200_that_vm),
		T(vm__unknown_id__404_json_error),
		T(vm__invalid_id__400_without_reading_the_view),
		T(vm__longest_valid_id__looked_up),
		T(healthz__get__200_ok),
		T(unknown_path__get__404_json_error),
		T(query_string__metrics__ignored),
		T(other_methods__any_path__405_with_allow),
		T(head__metrics__200_headers_only),
		T(get_with_body__metrics__400),
		T(get_with_empty_body__metrics__200),
		T(keep_alive__two_requests__one_connection),
		T(metrics__accepts_gzip__compressed_same_text),
		T(metrics__gzip_not_accepted__identity),
		T(metrics__accept_encoding_in_two_fields__joined),
		T(vms__accepts_gzip__json_compressed),
		T(small_bodies__accepts_gzip__identity),
		T(head__accepts_gzip__compressed_length),
		T(counters__response_bytes__by_encoding),
		T(each_request__reads_a_fresh_view),
		T(view_fails__data_routes__503_json_error),
		T(view_fails__healthz__still_200),
		T(counters__after_ok_and_errors__counted),
		cmocka_unit_test(start__bad_listen__einval),
		T(start__port_in_use__error),
		cmocka_unit_test(start__listen_fd__serves_on_it),
		cmocka_unit_test(start__ipv6_any__serves_ipv4_and_ipv6),
		cmocka_unit_test(auth__no_or_bad_credentials__401_with_challenge),
		cmocka_unit_test(auth__right_credentials__200),
		cmocka_unit_test(reconfigure__users_on_and_off__same_port),
		cmocka_unit_test(per_address_limit__one_more__closed_at_once),
		cmocka_unit_test(timeout__partial_request__closed_after_it),
		cmocka_unit_test(stop__null__no_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
