// SPDX-License-Identifier: GPL-2.0
/*
 * The web configuration file (web_config.h says which subset of
 * exporter-toolkit's format). libyaml loads the whole document into a
 * node tree; the tree is walked with the path of keys kept, so that every
 * error names the key and its place, as the JSON configuration's do.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <yaml.h>

#include "config_error.h"
#include "web_config.h"

#define MAX_DEPTH 2

struct parser {
	const char *name; /* the file, for messages */
	const char *dir;  /* relative paths start here */
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	const char *path[MAX_DEPTH];
	unsigned depth;
};

/* Control characters (from keys or values) would break the one-line message */
static int __attribute__((format(printf, 3, 4)))
fail(const struct parser *p, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[384], key[128] = "";
	size_t n = 0;
	va_list ap;

	if (!p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (unsigned i = 0; i < p->depth && n < sizeof(key); i++)
		n += (size_t)snprintf(key + n, sizeof(key) - n, "%s%s", i ? "." : "", p->path[i]);
	config_error_format(p->err, p->errlen, p->name, at ? at->start_mark.line + 1 : 1,
			    at ? at->start_mark.column + 1 : 1, key, msg);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A plain ~, null or nothing: YAML's null */
static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		!strcmp(s, "NULL"));
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a sequence";
	default: return is_null(n) ? "null" : "a scalar";
	}
}

/* A string value: a scalar that is not null; NULL after failing */
static const char *string_value(struct parser *p, const yaml_node_t *v, int *err)
{
	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		*err = fail(p, v, "expected a string, got %s", node_kind(v));
		return NULL;
	}
	if (strlen(scalar(v)) != v->data.scalar.length) {
		*err = fail(p, v, "holds a NUL character");
		return NULL;
	}
	return scalar(v);
}

/* --- bcrypt hashes ---------------------------------------------------------- */

bool web_bcrypt_hash_valid(const char *s)
{
	static const char b64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned cost;

	if (strlen(s) != 60 || s[0] != '$' || s[1] != '2' || !strchr("aby", s[2]) || s[3] != '$' ||
	    s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' || s[6] != '$')
		return false;
	cost = (unsigned)(s[4] - '0') * 10 + (unsigned)(s[5] - '0');
	return cost >= 4 && cost <= 31 && strspn(s + 7, b64) == 53;
}

/* --- files -------------------------------------------------------------------- */

/* The whole file at path, NUL-terminated, at most WEB_CONFIG_MAX_FILE_SIZE bytes */
static int read_text(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nbuf;
	int ret = 0;

	if (!f)
		return -errno;
	for (;;) {
		nbuf = realloc(buf, cap + 1);
		if (!nbuf) {
			ret = -ENOMEM;
			break;
		}
		buf = nbuf;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		if (cap > WEB_CONFIG_MAX_FILE_SIZE) {
			ret = -EFBIG;
			break;
		}
		cap *= 2;
	}
	if (!ret && ferror(f))
		ret = -EIO;
	fclose(f);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static const char *read_error(int err)
{
	return err == -EFBIG ? "larger than 1 MiB" : strerror(-err);
}

/* cert_file or key_file: the file's text into *pem; the path resolved against p->dir */
static int load_pem(struct parser *p, const yaml_node_t *v, char **pem)
{
	char full[4096];
	const char *path;
	size_t len;
	int err = 0;

	path = string_value(p, v, &err);
	if (!path)
		return err;
	if (!*path)
		return fail(p, v, "empty path");
	if (path[0] == '/' || !p->dir || !*p->dir)
		err = snprintf(full, sizeof(full), "%s", path) >= (int)sizeof(full);
	else
		err = snprintf(full, sizeof(full), "%s/%s", p->dir, path) >= (int)sizeof(full);
	if (err)
		return fail(p, v, "path too long");
	free(*pem);
	*pem = NULL;
	err = read_text(full, pem, &len);
	if (err)
		return fail(p, v, "%s: %s", full, read_error(err));
	if (strlen(*pem) != len)
		return fail(p, v, "%s: not a PEM file (holds a NUL byte)", full);
	return 0;
}

/* Both PEM texts parse, and the key is the certificate's */
static int check_key_pair(struct parser *p, const yaml_node_t *at, const struct web_config *w)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = { (unsigned char *)w->cert_pem, (unsigned)strlen(w->cert_pem) };
	gnutls_datum_t key = { (unsigned char *)w->key_pem, (unsigned)strlen(w->key_pem) };
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return fail(p, at, "out of memory");
	rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0)
		return fail(p, at, "cert_file and key_file cannot serve TLS: %s", gnutls_strerror(rc));
	return 0;
}

/* --- sections ------------------------------------------------------------------- */

typedef int (*member_fn)(struct parser *p, const char *key, const yaml_node_t *v,
			 struct web_config *w);

/*
 * Calls fn for each key of mapping m (a string, unique) in text order, with
 * the key in p->path. A null value stands for an absent section.
 */
static int walk_mapping(struct parser *p, const yaml_node_t *m, member_fn fn,
			struct web_config *w)
{
	int err = 0;

	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return fail(p, m, "expected a mapping, got %s", node_kind(m));
	if (p->depth >= MAX_DEPTH)
		return fail(p, m, "nested too deep");
	for (yaml_node_pair_t *pair = m->data.mapping.pairs.start;
	     !err && pair < m->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const char *key = scalar(k);

		if (!key || !v)
			return fail(p, k, "keys must be strings");
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < pair; q++) {
			const char *other = scalar(yaml_document_get_node(p->doc, q->key));

			if (other && !strcmp(other, key))
				return fail(p, k, "duplicate key '%s'", key);
		}
		p->path[p->depth++] = key;
		err = fn(p, key, v, w);
		p->depth--;
	}
	return err;
}

static int unknown_key(struct parser *p, const yaml_node_t *at, const char *known)
{
	return fail(p, at, "not supported by stealtimed (it reads only %s)", known);
}

static int tls_member(struct parser *p, const char *key, const yaml_node_t *v,
		      struct web_config *w)
{
	const char *s;
	int err = 0;

	if (!strcmp(key, "cert_file"))
		return load_pem(p, v, &w->cert_pem);
	if (!strcmp(key, "key_file"))
		return load_pem(p, v, &w->key_pem);
	if (!strcmp(key, "client_auth_type")) {
		s = string_value(p, v, &err);
		if (!s)
			return err;
		if (strcmp(s, "NoClientCert"))
			return fail(p, v, "'%s' is not supported: stealtimed verifies no client "
				    "certificates (only NoClientCert)", s);
		return 0;
	}
	return unknown_key(p, v, "cert_file, key_file and client_auth_type: NoClientCert");
}

static int user_member(struct parser *p, const char *user, const yaml_node_t *v,
		       struct web_config *w)
{
	struct web_user *users, *u;
	const char *hash;
	int err = 0;

	if (!*user || strlen(user) > WEB_CONFIG_MAX_USER_LEN || strchr(user, ':'))
		return fail(p, v, "a user name is 1..%d bytes without ':'",
			    WEB_CONFIG_MAX_USER_LEN);
	if (w->nusers >= WEB_CONFIG_MAX_USERS)
		return fail(p, v, "more than %d users", WEB_CONFIG_MAX_USERS);
	hash = string_value(p, v, &err);
	if (!hash)
		return err;
	if (!web_bcrypt_hash_valid(hash))
		return fail(p, v, "not a bcrypt hash ($2y$, $2b$ or $2a$, cost 04..31, 60 "
			    "characters; htpasswd -nbB USER PASSWORD makes one)");
	users = realloc(w->users, (w->nusers + 1) * sizeof(*users));
	if (!users)
		return fail(p, v, "out of memory");
	w->users = users;
	u = &users[w->nusers];
	u->name = strdup(user);
	u->hash = strdup(hash);
	if (!u->name || !u->hash) {
		free(u->name);
		free(u->hash);
		return fail(p, v, "out of memory");
	}
	w->nusers++;
	return 0;
}

static int top_member(struct parser *p, const char *key, const yaml_node_t *v,
		      struct web_config *w)
{
	int err;

	if (!strcmp(key, "tls_server_config")) {
		err = walk_mapping(p, v, tls_member, w);
		if (err)
			return err;
		if (is_null(v))
			return 0;
		if (!w->cert_pem || !w->key_pem)
			return fail(p, v, "%s missing (TLS needs both cert_file and key_file)",
				    w->cert_pem ? "key_file" : "cert_file");
		return check_key_pair(p, v, w);
	}
	if (!strcmp(key, "basic_auth_users"))
		return walk_mapping(p, v, user_member, w);
	return unknown_key(p, v, "tls_server_config and basic_auth_users");
}

/* --- loading -------------------------------------------------------------------- */

void web_config_free(struct web_config *w)
{
	if (!w)
		return;
	free(w->cert_pem);
	if (w->key_pem) {
		explicit_bzero(w->key_pem, strlen(w->key_pem));
		free(w->key_pem);
	}
	for (size_t i = 0; i < w->nusers; i++) {
		free(w->users[i].name);
		free(w->users[i].hash);
	}
	free(w->users);
	memset(w, 0, sizeof(*w));
}

static int syntax_error(const struct parser *p, const yaml_parser_t *yp)
{
	char msg[256];

	if (p->errlen) {
		snprintf(msg, sizeof(msg), "invalid YAML: %s%s%s",
			 yp->problem ? yp->problem : "unknown error", yp->context ? " " : "",
			 yp->context ? yp->context : "");
		config_error_format(p->err, p->errlen, p->name, yp->problem_mark.line + 1,
				    yp->problem_mark.column + 1, "", msg);
	}
	return -EINVAL;
}

int web_config_load_buffer(const char *name, const char *dir, const char *buf, size_t len,
			   struct web_config *out, char *err, size_t errlen)
{
	struct parser p = { .name = name ? name : "<buffer>", .dir = dir, .err = err,
			    .errlen = err ? errlen : 0 };
	yaml_document_t doc, extra;
	yaml_parser_t yp;
	yaml_node_t *root;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (p.errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&yp))
		return -ENOMEM;
	yaml_parser_set_input_string(&yp, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
	if (!yaml_parser_load(&yp, &doc)) {
		ret = syntax_error(&p, &yp);
		yaml_parser_delete(&yp);
		return ret;
	}
	p.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root) { /* no document at all: an empty file */
		if (!yaml_parser_load(&yp, &extra))
			ret = syntax_error(&p, &yp);
		else if (yaml_document_get_root_node(&extra))
			ret = fail(&p, yaml_document_get_root_node(&extra),
				   "more than one YAML document");
		else
			ret = walk_mapping(&p, root, top_member, out);
		yaml_document_delete(&extra);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&yp);
	if (ret)
		web_config_free(out);
	return ret;
}

int web_config_load_file(const char *path, struct web_config *out, char *err, size_t errlen)
{
	char *buf = NULL, *dir;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = read_text(path, &buf, &len);
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, read_error(ret));
		return ret;
	}
	dir = strdup(path);
	if (!dir) {
		free(buf);
		return -ENOMEM;
	}
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		strcpy(dir, ".");
	if (!*dir)
		strcpy(dir, "/");
	ret = web_config_load_buffer(path, dir, buf, len, out, err, errlen);
	free(dir);
	free(buf);
	return ret;
}

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool web_config_equal(const struct web_config *a, const struct web_config *b)
{
	if (!str_equal(a->cert_pem, b->cert_pem) || !str_equal(a->key_pem, b->key_pem) ||
	    a->nusers != b->nusers)
		return false;
	for (size_t i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, b->users[i].name) ||
		    strcmp(a->users[i].hash, b->users[i].hash))
			return false;
	return true;
}
