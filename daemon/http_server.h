/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP API (libmicrohttpd, its own polling thread): GET /metrics,
 * /v1/vms, /v1/vms/{id}, /healthz. Every request asks host_view_fn for a
 * fresh view read from the BPF maps.
 */
#ifndef STEALTIMED_HTTP_SERVER_H
#define STEALTIMED_HTTP_SERVER_H

#include "host_view.h"

struct http_server;

/*
 * listen: "HOST:PORT" ("127.0.0.1:9477", "[::1]:9477", ":9477" for any),
 * ignored when listen_fd >= 0 (a socket handed over by systemd).
 * Returns 0 or a negative errno (and logs why).
 */
int http_server_start(struct http_server **out, const char *listen, int listen_fd,
		      host_view_fn view, void *view_ctx);
/* Port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);
/* Requests served and failed so far (for the daemon's own metrics). */
void http_server_counters(const struct http_server *srv, uint64_t *requests, uint64_t *errors);
void http_server_stop(struct http_server *srv);

#endif
