/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The web configuration file (--web-config-file, the configuration's
 * web_config_file): the subset of the Prometheus exporter-toolkit's YAML
 * format that stealtimed serves, so that one file can serve it and the
 * node exporter alike:
 *
 *   tls_server_config:
 *     cert_file: server.crt        # PEM, the chain may follow the certificate
 *     key_file: server.key         # PEM, unencrypted
 *     client_auth_type: NoClientCert   # the only value accepted
 *   basic_auth_users:
 *     alice: $2y$10$...            # bcrypt ($2a$, $2b$, $2y$), cost 4..31
 *
 * Both sections are optional (an empty file is plain HTTP without
 * authentication). Relative paths are relative to the file's directory.
 * Any other key (min_version, client_ca_file, http_server_config, ...) is
 * refused by name rather than ignored: a file written for another exporter
 * never silently means less here. The certificate and key are read and
 * checked (they must parse and belong together) when the file is loaded.
 */
#ifndef STEALTIMED_WEB_CONFIG_H
#define STEALTIMED_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define WEB_CONFIG_MAX_FILE_SIZE (1 << 20) /* the file, the certificate, the key */
#define WEB_CONFIG_MAX_USERS 1024
#define WEB_CONFIG_MAX_USER_LEN 255

struct web_user {
	char *name;
	char *hash; /* bcrypt, 60 characters */
};

struct web_config {
	char *cert_pem, *key_pem; /* NUL-terminated PEM text; both NULL: plain HTTP */
	struct web_user *users;   /* nusers == 0: no authentication */
	size_t nusers;
};

/*
 * Reads the file at path into *out (which the caller frees with
 * web_config_free). Returns 0, -EINVAL for an invalid file, or another
 * negative errno when it cannot be read. On error *out is empty and err
 * (when errlen > 0) holds one line: "FILE:LINE:COLUMN: key: message", or
 * "FILE: message".
 */
int web_config_load_file(const char *path, struct web_config *out, char *err, size_t errlen);

/* The same on len bytes at buf; name is used in messages, dir resolves relative paths. */
int web_config_load_buffer(const char *name, const char *dir, const char *buf, size_t len,
			   struct web_config *out, char *err, size_t errlen);

void web_config_free(struct web_config *w);

/* Whether a and b serve the same: same certificate, key and users */
bool web_config_equal(const struct web_config *a, const struct web_config *b);

/* Whether s looks like a bcrypt hash crypt(3) checks: $2[aby]$CC$ and 53 characters of ./A-Za-z0-9 */
bool web_bcrypt_hash_valid(const char *s);

#endif
