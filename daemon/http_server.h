/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP API (libmicrohttpd, its own polling thread): GET /metrics,
 * /v1/vms, /v1/vms/{id}, /healthz (HEAD too). Every request for data asks
 * host_view_fn for a fresh view read from the BPF maps; /healthz answers
 * without one. The view function runs on the server's thread, one request
 * at a time. Answers are gzip-compressed for requests whose Accept-Encoding
 * allows it (http_encoding.h).
 */
#ifndef STEALTIMED_HTTP_SERVER_H
#define STEALTIMED_HTTP_SERVER_H

#include <stdint.h>

#include "host_view.h"

#define HTTP_MAX_CONNECTIONS 64
#define HTTP_CONNECTION_TIMEOUT_S 10
#define HTTP_THREADS 2 /* requests rendered at once */
#define HTTP_MAX_ID_LEN 64 /* longest VM id accepted in a path */

struct http_server;

/*
 * listen: "HOST:PORT" with a numeric host ("127.0.0.1:9477", "[::1]:9477"),
 * ":PORT" for any IPv4 address, "[::]:PORT" for any address, IPv4 and IPv6.
 * Ignored when listen_fd >= 0 (a listening socket handed over by systemd,
 * closed by http_server_stop).
 * Returns 0 or a negative errno (and logs why): -EINVAL for a bad listen.
 */
int http_server_start(struct http_server **out, const char *listen, int listen_fd,
		      host_view_fn view, void *view_ctx);
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
