// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP API on libmicrohttpd. One access handler checks the method and
 * the absence of a body, then routes to handler_<route>(); every answer
 * goes out through queue_body(), which counts the body bytes sent by
 * coding. Bodies of HTTP_GZIP_MIN_BYTES or more are gzip-compressed for
 * requests whose Accept-Encoding allows it: by respond() when held whole
 * (one VM, errors, with respond_error() a {"error":"..."} body), as they
 * are written by respond_view() for those of every VM (/metrics,
 * /v1/vms: http_body.h). No request has a body, so there is no
 * per-request state to keep or free.
 *
 * A site is one libmicrohttpd daemon with what it serves with (TLS
 * credentials, the basic auth users). A reload that changes them starts a
 * new site on a duplicate of the listening socket, then quiesces and
 * stops the old one: the socket itself is never closed, so nothing is
 * refused meanwhile (connections wait in its backlog).
 */
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_auth.h"
#include "http_body.h"
#include "http_encoding.h"
#include "http_server.h"
#include "log.h"
#include "render_json.h"
#include "render_prom.h"

#define CONTENT_TYPE_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_JSON "application/json"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"
#define VMS_PREFIX "/v1/vms/"

struct http_site {
	struct http_server *srv;
	struct MHD_Daemon *mhd;
	struct http_auth *auth; /* NULL: no authentication */
	char *cert_pem, *key_pem; /* NULL: plain HTTP */
};

struct http_server {
	struct http_site *site; /* the one serving; replaced only by the thread that reconfigures */
	int listen_fd;          /* a duplicate of the sites' socket, kept for the next site */
	host_view_fn view;
	void *view_ctx;
	atomic_uint_least64_t requests;
	atomic_uint_least64_t errors;
	atomic_uint_least64_t bytes_gzip;     /* response bodies sent, compressed */
	atomic_uint_least64_t bytes_identity; /* and as they are */
};

/* The request being answered: who serves it, on which connection. */
struct request {
	struct http_server *srv;
	struct http_site *site;
	struct MHD_Connection *conn;
	bool head; /* the answer's headers only: its body is not sent */
};

/* A listen address split into numeric host and port. */
struct listen_spec {
	char host[64];
	char port[8];
};

/* --- listen address --------------------------------------------------- */

static int copy_part(char *dst, size_t dst_len, const char *src, size_t n)
{
	if (n >= dst_len)
		return -EINVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static bool port_valid(const char *port)
{
	char *end;
	unsigned long val;

	if (!*port || strspn(port, "0123456789") != strlen(port))
		return false;
	errno = 0;
	val = strtoul(port, &end, 10);
	return !errno && val <= 65535;
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" (IPv4 any) */
static int parse_listen(const char *listen, struct listen_spec *spec)
{
	const char *host = listen, *colon;
	size_t host_len;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host = listen + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
			return -EINVAL; /* none, or an IPv6 address without brackets */
		host_len = (size_t)(colon - listen);
	}
	if (host_len == 0) {
		host = "0.0.0.0";
		host_len = strlen(host);
	}
	if (copy_part(spec->host, sizeof(spec->host), host, host_len) ||
	    copy_part(spec->port, sizeof(spec->port), colon + 1, strlen(colon + 1)) ||
	    !port_valid(spec->port))
		return -EINVAL;
	return 0;
}

static int resolve_listen(const char *listen, struct sockaddr_storage *ss)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *res;
	struct listen_spec spec;
	int rc;

	if (parse_listen(listen, &spec))
		return log_errno(-EINVAL, "bad listen address '%s' (HOST:PORT, [V6]:PORT or :PORT)",
				 listen);
	rc = getaddrinfo(spec.host, spec.port, &hints, &res);
	if (rc)
		return log_errno(-EINVAL, "bad listen address '%s' (%s)", listen, gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* IPv6 wildcard: serve IPv4 too */
static bool is_ipv6_any(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* --- responses ------------------------------------------------------------ */

static enum MHD_Result append_accept_encoding(void *cls, enum MHD_ValueKind kind,
					      const char *key, const char *value)
{
	if (strcasecmp(key, MHD_HTTP_HEADER_ACCEPT_ENCODING) == 0)
		fprintf(cls, "%s,", value ? value : "");
	return MHD_YES;
}

/* Whether the request's Accept-Encoding fields, joined into one list, allow gzip. */
static bool accepts_gzip(struct MHD_Connection *conn)
{
	char *list = NULL;
	size_t len = 0;
	bool yes = false;
	FILE *f = open_memstream(&list, &len);

	if (!f)
		return false;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, append_accept_encoding, f);
	if (fclose(f) == 0)
		yes = http_gzip_accepted(list);
	free(list);
	return yes;
}

/* Replaces *body by its gzip form; false, *body untouched, when that cannot be done. */
static bool gzip_body(void **body, size_t *len, enum MHD_ResponseMemoryMode *mode)
{
	size_t gz_len;
	void *gz;
	int err = http_gzip(*body, *len, &gz, &gz_len);

	if (err) {
		log_warning("HTTP: a %zu-byte answer goes out uncompressed: %s", *len,
			    strerror(-err));
		return false;
	}
	if (*mode == MHD_RESPMEM_MUST_FREE)
		free(*body);
	*body = gz;
	*len = gz_len;
	*mode = MHD_RESPMEM_MUST_FREE;
	return true;
}

/*
 * Queues status with body (freed by MHD when mode is MHD_RESPMEM_MUST_FREE, also on failure),
 * gzip-compressed already when gzip is true. Every answer says Vary: Accept-Encoding, since
 * its coding depends on it.
 */
static enum MHD_Result queue_body(struct request *req, unsigned int status,
				  const char *content_type, void *body, size_t len,
				  enum MHD_ResponseMemoryMode mode, bool gzip)
{
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;

	resp = MHD_create_response_from_buffer(len, body, mode);
	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		goto out;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) == MHD_YES &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
				    MHD_HTTP_HEADER_ACCEPT_ENCODING) == MHD_YES &&
	    (!gzip ||
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") == MHD_YES) &&
	    (status != MHD_HTTP_METHOD_NOT_ALLOWED ||
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_YES) &&
	    (status != MHD_HTTP_UNAUTHORIZED ||
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				     "Basic realm=\"" HTTP_AUTH_REALM "\", charset=\"UTF-8\"") == MHD_YES))
		ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
out:
	if (ret != MHD_YES || status >= 400)
		atomic_fetch_add_explicit(&req->srv->errors, 1, memory_order_relaxed);
	if (ret == MHD_YES && !req->head)
		atomic_fetch_add_explicit(gzip ? &req->srv->bytes_gzip : &req->srv->bytes_identity,
					  len, memory_order_relaxed);
	return ret;
}

/* queue_body(), gzip-compressing body when it is long enough and the request accepts gzip. */
static enum MHD_Result respond(struct request *req, unsigned int status, const char *content_type,
			       void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	bool gzip = false;

	if (len >= HTTP_GZIP_MIN_BYTES && accepts_gzip(req->conn))
		gzip = gzip_body(&body, &len, &mode);
	return queue_body(req, status, content_type, body, len, mode, gzip);
}

/* Compact JSON text of j plus a newline, malloc'd; NULL when out of memory. */
static char *json_body(const json_t *j, size_t *len)
{
	char *text, *body;

	if (!j)
		return NULL;
	text = json_dumps(j, JSON_COMPACT);
	if (!text)
		return NULL;
	*len = strlen(text);
	body = realloc(text, *len + 2);
	if (!body) {
		free(text);
		return NULL;
	}
	body[(*len)++] = '\n';
	body[*len] = '\0';
	return body;
}

/* Takes j; 500 when it could not be built. */
static enum MHD_Result respond_json(struct request *req, unsigned int status, json_t *j)
{
	size_t len = 0;
	char *body = json_body(j, &len);

	json_decref(j);
	if (!body) {
		static const char oom[] = "{\"error\":\"out of memory\"}\n";

		return respond(req, MHD_HTTP_INTERNAL_SERVER_ERROR, CONTENT_TYPE_JSON,
			       (void *)oom, sizeof(oom) - 1, MHD_RESPMEM_PERSISTENT);
	}
	return respond(req, status, CONTENT_TYPE_JSON, body, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result respond_error(struct request *req, unsigned int status, const char *msg)
{
	return respond_json(req, status, json_pack("{s:s}", "error", msg));
}

/* --- routes --------------------------------------------------------------- */

/*
 * A fresh view into *hv, of every VM or of the VM vm_id only; on failure
 * answers 503 and returns false.
 */
static bool load_view(struct request *req, const char *vm_id, struct host_view *hv,
		      enum MHD_Result *ret)
{
	char msg[128];
	int err;

	memset(hv, 0, sizeof(*hv));
	err = req->srv->view(req->srv->view_ctx, vm_id, hv);
	if (!err) {
		http_server_counters(req->srv, &hv->stats);
		return true;
	}
	log_warning("HTTP: cannot read counters: %s", strerror(err < 0 ? -err : err));
	snprintf(msg, sizeof(msg), "cannot read counters: %s", strerror(err < 0 ? -err : err));
	*ret = respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
	return false;
}

/*
 * 200 with what render makes of *hv (freed here), gzip-compressed as it is written when the
 * request accepts gzip (http_body.h); 500 with "cannot render <what>" when it fails.
 */
static enum MHD_Result respond_view(struct request *req, struct host_view *hv,
				    http_render_fn render, const char *content_type,
				    const char *what)
{
	char msg[64];
	struct http_body body;
	int err = http_body_render(hv, render, accepts_gzip(req->conn), &body);

	host_view_free(hv);
	if (err) {
		snprintf(msg, sizeof(msg), "cannot render %s", what);
		log_errno(err, "HTTP: %s", msg);
		return respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	return queue_body(req, MHD_HTTP_OK, content_type, body.data, body.len,
			  MHD_RESPMEM_MUST_FREE, body.gzip);
}

static enum MHD_Result handler_metrics(struct request *req)
{
	enum MHD_Result ret;
	struct host_view hv;

	if (!load_view(req, NULL, &hv, &ret))
		return ret;
	return respond_view(req, &hv, render_prom, CONTENT_TYPE_PROM, "metrics");
}

/* Views of this many vCPUs or more leave enough freed memory behind to hand back */
#define TRIM_MIN_VCPUS 4096

static size_t host_view_vcpus(const struct host_view *hv)
{
	size_t n = 0;

	for (size_t i = 0; i < hv->nvms; i++)
		n += hv->vms[i].nvcpus;
	return n;
}

static enum MHD_Result handler_vms(struct request *req)
{
	enum MHD_Result ret;
	struct host_view hv;
	size_t nvcpus;

	if (!load_view(req, NULL, &hv, &ret))
		return ret;
	nvcpus = host_view_vcpus(&hv);
	ret = respond_view(req, &hv, render_vms_write, CONTENT_TYPE_JSON, "VMs");
	/*
	 * A large host's view was freed in pieces, and malloc keeps what the
	 * daemon's threads free in their arenas: hand every arena's free
	 * pages back to the system (what it saves at 16,384 vCPUs: README,
	 * Benchmarks). Not for small hosts, whose requests it would only slow.
	 */
	if (nvcpus >= TRIM_MIN_VCPUS)
		malloc_trim(0);
	return ret;
}

/* [A-Za-z0-9._-]{1,HTTP_MAX_ID_LEN} */
static bool vm_id_valid(const char *id)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789._-";
	size_t n = strspn(id, allowed);

	return n > 0 && n <= HTTP_MAX_ID_LEN && id[n] == '\0';
}

static enum MHD_Result handler_vm(struct request *req, const char *id)
{
	const struct vm_view *vm;
	enum MHD_Result ret;
	struct host_view hv;

	if (!vm_id_valid(id))
		return respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid VM id");
	if (!load_view(req, id, &hv, &ret))
		return ret;
	vm = host_view_find_vm(&hv, id);
	if (!vm) {
		host_view_free(&hv);
		return respond_error(req, MHD_HTTP_NOT_FOUND, "no such VM");
	}
	ret = respond_json(req, MHD_HTTP_OK, render_vm_json(vm));
	host_view_free(&hv);
	return ret;
}

static enum MHD_Result handler_healthz(struct request *req)
{
	static const char ok[] = "ok\n";

	return respond(req, MHD_HTTP_OK, CONTENT_TYPE_TEXT, (void *)ok, sizeof(ok) - 1,
		       MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result route(struct request *req, const char *url)
{
	if (strcmp(url, "/metrics") == 0)
		return handler_metrics(req);
	if (strcmp(url, "/v1/vms") == 0)
		return handler_vms(req);
	if (strncmp(url, VMS_PREFIX, strlen(VMS_PREFIX)) == 0)
		return handler_vm(req, url + strlen(VMS_PREFIX));
	if (strcmp(url, "/healthz") == 0)
		return handler_healthz(req);
	return respond_error(req, MHD_HTTP_NOT_FOUND, "not found");
}

/* --- the access handler ----------------------------------------------------- */

static bool has_body(struct MHD_Connection *conn)
{
	const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (len && strspn(len, "0") != strlen(len)) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* Whether the request carries the credentials of a configured user (always, without users) */
static bool authorized(struct request *req)
{
	char *user, *password = NULL;
	bool ok;

	if (!req->site->auth)
		return true;
	user = MHD_basic_auth_get_username_password(req->conn, &password);
	ok = user && password && http_auth_check(req->site->auth, user, password);
	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	if (user)
		MHD_free(user);
	return ok;
}

/*
 * MHD calls this first when the headers are in, then for each piece of a
 * body, then once more at its end. Errors are answered on the first call:
 * an answer queued that early makes MHD skip the body and close the
 * connection. Good requests are answered on the last call, which keeps the
 * connection open for the next one (Prometheus reuses its connections).
 */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	static int headers_seen;
	struct http_site *site = cls;
	struct request req = {
		.srv = site->srv,
		.site = site,
		.conn = conn,
		.head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0,
	};

	if (!*req_cls) {
		*req_cls = &headers_seen;
		atomic_fetch_add_explicit(&req.srv->requests, 1, memory_order_relaxed);
		if (!authorized(&req))
			return respond_error(&req, MHD_HTTP_UNAUTHORIZED, "unauthorized");
		if (strcmp(method, MHD_HTTP_METHOD_GET) && !req.head)
			return respond_error(&req, MHD_HTTP_METHOD_NOT_ALLOWED,
					     "method not allowed");
		if (has_body(conn))
			return respond_error(&req, MHD_HTTP_BAD_REQUEST,
					     "request body not allowed");
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* not announced, still not wanted */
		return MHD_YES;
	}
	return route(&req, url);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_warning("HTTP: %s", buf);
}

/* --- life cycle ------------------------------------------------------------- */

static void site_free(struct http_site *site)
{
	if (!site)
		return;
	http_auth_free(site->auth);
	free(site->cert_pem);
	if (site->key_pem) {
		explicit_bzero(site->key_pem, strlen(site->key_pem));
		free(site->key_pem);
	}
	free(site);
}

/* What site serves with, from the settings */
static int site_copy_web(struct http_site *site, const struct web_config *web)
{
	int err;

	if (!web)
		return 0;
	if (web->cert_pem) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
			return log_errno(-EOPNOTSUPP, "HTTP: this libmicrohttpd was built without "
				       "TLS: cannot serve the web configuration's tls_server_config");
		site->cert_pem = strdup(web->cert_pem);
		site->key_pem = strdup(web->key_pem);
		if (!site->cert_pem || !site->key_pem)
			return log_errno(-ENOMEM, "HTTP: TLS credentials");
	}
	if (web->nusers) {
		err = http_auth_new(&site->auth, web->users, web->nusers);
		if (err)
			return log_errno(err, "HTTP: basic auth users");
	}
	return 0;
}

/* A new site on listen_fd (taken, also on failure), or on the address ss when listen_fd < 0 */
static int site_start(struct http_server *srv, const struct http_settings *s,
		      struct sockaddr_storage *ss, int listen_fd, struct http_site **out)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			     MHD_USE_ITC; /* MHD_quiesce_daemon needs it */
	struct http_site *site = calloc(1, sizeof(*site));
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, s->max_conns, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->max_conns_per_addr, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_s, NULL },
		/* scrapes render at once (a view is built under the table lock, the text outside it) */
		{ MHD_OPTION_THREAD_POOL_SIZE, HTTP_THREADS, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL }, /* or SOCK_ADDR, below */
		{ MHD_OPTION_END, 0, NULL },                   /* the TLS options, when wanted */
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct stat before;
	int err;

	if (!site) {
		if (listen_fd >= 0)
			close(listen_fd);
		return log_errno(-ENOMEM, "HTTP server");
	}
	site->srv = srv;
	err = site_copy_web(site, s->web);
	if (err) {
		if (listen_fd >= 0)
			close(listen_fd);
		site_free(site);
		return err;
	}
	if (listen_fd < 0) {
		opts[5] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, ss };
		if (ss->ss_family == AF_INET6)
			flags |= is_ipv6_any(ss) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	}
	if (site->cert_pem) {
		flags |= MHD_USE_TLS;
		opts[6] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, site->cert_pem };
		opts[7] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, site->key_pem };
		opts[8] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						   (void *)HTTP_TLS_PRIORITIES };
	}
	if (listen_fd >= 0 && fstat(listen_fd, &before))
		listen_fd = -1;
	errno = 0;
	site->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, site, MHD_OPTION_ARRAY,
				     opts, MHD_OPTION_END);
	if (!site->mhd) {
		struct stat now;

		err = errno ? -errno : -EADDRNOTAVAIL;
		/* libmicrohttpd closes a socket passed in on some failures only */
		if (listen_fd >= 0 && !fstat(listen_fd, &now) && now.st_ino == before.st_ino &&
		    now.st_dev == before.st_dev)
			close(listen_fd);
		site_free(site);
		return err;
	}
	*out = site;
	return 0;
}

/* Stops serving on site: it takes no new connection, then its threads end and it is freed */
static void site_stop(struct http_site *site)
{
	MHD_socket fd;

	if (!site)
		return;
	/* quiesced first: stopping would otherwise shut down the socket the next site uses */
	fd = MHD_quiesce_daemon(site->mhd);
	MHD_stop_daemon(site->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	site_free(site);
}

static void log_site(const struct http_settings *s, const char *what)
{
	bool tls = s->web && s->web->cert_pem;
	size_t users = s->web ? s->web->nusers : 0;

	log_info("HTTP %s: %s, %s, timeout %u s, at most %u connections, %u per address", what,
		 tls ? "TLS" : "plain HTTP", users ? "basic auth" : "no authentication",
		 s->timeout_s, s->max_conns, s->max_conns_per_addr);
	if (users && !tls)
		log_warning("HTTP: basic auth without tls_server_config: passwords cross the "
			    "network in clear");
}

int http_server_start(struct http_server **out, const struct http_settings *s,
		      host_view_fn view, void *view_ctx)
{
	struct sockaddr_storage ss = { 0 };
	const union MHD_DaemonInfo *info;
	struct http_server *srv;
	int err;

	if (s->listen_fd < 0) {
		err = resolve_listen(s->listen ? s->listen : "", &ss);
		if (err)
			return err;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return log_errno(-ENOMEM, "HTTP server");
	srv->view = view;
	srv->view_ctx = view_ctx;
	err = site_start(srv, s, &ss, s->listen_fd, &srv->site);
	if (err) {
		free(srv);
		return log_errno(err, "cannot serve HTTP on %s",
				 s->listen_fd >= 0 ? "the socket passed in" : s->listen);
	}
	info = MHD_get_daemon_info(srv->site->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	srv->listen_fd = info ? fcntl(info->listen_fd, F_DUPFD_CLOEXEC, 3) : -1;
	if (srv->listen_fd < 0)
		log_warning("HTTP: no spare copy of the listening socket: reloads cannot change "
			    "the web configuration");
	log_site(s, "serves");
	*out = srv;
	return 0;
}

int http_server_reconfigure(struct http_server *srv, const struct http_settings *s)
{
	struct http_site *site;
	int fd, err;

	if (srv->listen_fd < 0)
		return log_errno(-EBADF, "HTTP: cannot restart on the listening socket");
	fd = fcntl(srv->listen_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return log_errno(-errno, "HTTP: cannot restart on the listening socket");
	err = site_start(srv, s, NULL, fd, &site);
	if (err)
		return log_errno(err, "HTTP: cannot serve the new settings, the old ones stay");
	site_stop(srv->site);
	srv->site = site;
	log_site(s, "now serves");
	return 0;
}

int http_server_port(const struct http_server *srv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(srv->listen_fd, (struct sockaddr *)&ss, &len))
		return -EBADF;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

void http_server_counters(const struct http_server *srv, struct daemon_stats_view *stats)
{
	stats->http_requests = atomic_load_explicit(&srv->requests, memory_order_relaxed);
	stats->http_errors = atomic_load_explicit(&srv->errors, memory_order_relaxed);
	stats->http_bytes_gzip = atomic_load_explicit(&srv->bytes_gzip, memory_order_relaxed);
	stats->http_bytes_identity =
		atomic_load_explicit(&srv->bytes_identity, memory_order_relaxed);
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->site->mhd);
	site_free(srv->site);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	free(srv);
}
