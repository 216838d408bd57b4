/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP API (libmicrohttpd, its own polling thread): GET /metrics,
 * /v1/vms, /v1/vms/{id}, /healthz (HEAD too). Every request for data asks
 * host_view_fn for a fresh view read from the BPF maps; /healthz answers
 * without one. The view function runs on the server's thread, one request
 * at a time. Answers are gzip-compressed for requests whose Accept-Encoding
 * allows it (http_encoding.h).
 *
 * With a web configuration (web_config.h) it serves HTTPS and asks for
 * HTTP basic authentication on every path, /healthz included, as
 * exporter-toolkit does. Slow clients cannot hold the API: connections are
 * limited in all and per client address, and one that sends nothing for
 * timeout_s seconds (a request trickled in, a TLS handshake left half
 * done) is closed; requests are served by HTTP_THREADS event-driven
 * threads, never one thread per connection.
 */
#ifndef STEALTIMED_HTTP_SERVER_H
#define STEALTIMED_HTTP_SERVER_H

#include <stdint.h>

#include "host_view.h"
#include "web_config.h"

#define HTTP_THREADS 2 /* requests rendered at once */
#define HTTP_MAX_ID_LEN 64 /* longest VM id accepted in a path */
#define HTTP_AUTH_REALM "stealtimed"
/* TLS 1.2 and 1.3 only (exporter-toolkit's default min_version is TLS 1.2) */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http_server;

struct http_settings {
	const char *listen; /* see http_server_start */
	int listen_fd;      /* or a listening socket, >= 0 */
	unsigned timeout_s;          /* a connection idle this long is closed (the configuration's 10) */
	unsigned max_conns;          /* connections at once (64) */
	unsigned max_conns_per_addr; /* from one client address (16) */
	const struct web_config *web; /* NULL: plain HTTP, no authentication; copied */
};

/*
 * listen: "HOST:PORT" with a numeric host ("127.0.0.1:9477", "[::1]:9477"),
 * ":PORT" for any IPv4 address, "[::]:PORT" for any address, IPv4 and IPv6.
 * Ignored when listen_fd >= 0 (a listening socket handed over by systemd,
 * closed by http_server_stop).
 * Returns 0 or a negative errno (and logs why): -EINVAL for a bad listen,
 * -EOPNOTSUPP for TLS with a libmicrohttpd built without it.
 */
int http_server_start(struct http_server **out, const struct http_settings *s,
		      host_view_fn view, void *view_ctx);
/*
 * Serves on the same socket with new limits and web configuration (listen
 * and listen_fd are ignored): a new libmicrohttpd daemon starts on it, then
 * the old one stops (requests in flight on it are cut). Returns 0, or a
 * negative errno (logged) with the old settings still serving.
 */
int http_server_reconfigure(struct http_server *srv, const struct http_settings *s);
/* Port actually bound (useful with port 0), or a negative errno. */
int http_server_port(const struct http_server *srv);
/*
 * The http_* counters of stats (the daemon's own metrics): requests received, those answered
 * with 4xx/5xx, and response body bytes sent gzip-compressed and as they are, so far.
 */
void http_server_counters(const struct http_server *srv, struct daemon_stats_view *stats);
/* Stops serving and frees srv (NULL is fine). */
void http_server_stop(struct http_server *srv);

#endif
