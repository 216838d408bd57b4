// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration file: one table (keys[]) names every key, its type, its
 * range and where it lands in struct config; the parser, the validation and
 * config_dump() all walk that table.
 *
 * jansson keeps no positions of values, so errors about a key or a value are
 * placed by a small scanner (locate()) that walks the text, which jansson has
 * already accepted as valid JSON, down the path of keys to the offending one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <jansson.h>

#include "config.h"
#include "config_error.h"
#include "stealtime.h"
#include "log.h"

enum key_type { KEY_STRING, KEY_UINT, KEY_BOOL, KEY_LOG_LEVEL, KEY_OBJECT };

struct key_spec {
	const char *name;
	enum key_type type;
	size_t offset;                       /* in struct config */
	size_t size;                         /* KEY_STRING: buffer size, NUL included */
	unsigned min, max;                   /* KEY_UINT */
	const char *(*check)(const char *s); /* KEY_STRING: NULL, or why s is invalid */
	const struct key_spec *members;      /* KEY_OBJECT: ends with a NULL name */
};

#define STRING_KEY(n, field, chk)                                                          \
	{ .name = (n), .type = KEY_STRING, .offset = offsetof(struct config, field),       \
	  .size = sizeof(((struct config *)0)->field), .check = (chk) }
#define UINT_KEY(n, field, lo, hi)                                                         \
	{ .name = (n), .type = KEY_UINT, .offset = offsetof(struct config, field),         \
	  .min = (lo), .max = (hi) }

static const char *check_listen(const char *s);
static const char *check_absolute(const char *s);
static const char *check_absolute_or_empty(const char *s);

static const struct key_spec http_keys[] = {
	UINT_KEY("connection_timeout_seconds", http_timeout_s, 1, 3600),
	UINT_KEY("max_connections", http_max_conns, 1, 4096),
	UINT_KEY("max_connections_per_address", http_max_conns_per_addr, 1, 4096),
	{ 0 },
};

static const struct key_spec limit_keys[] = {
	UINT_KEY("vms", max_vms, 1, ST_MAX_REGIONS),
	UINT_KEY("vcpus", max_vcpus, 1, ST_MAX_VCPUS),
	UINT_KEY("attribution_entries", max_attribution_entries, 16, 65536),
	UINT_KEY("initial_steal_seconds", max_initial_steal_s, 0, UINT_MAX),
	UINT_KEY("reserved_percent", reserved_percent, 0, 50),
	{ 0 },
};

static const struct key_spec keys[] = {
	STRING_KEY("listen", listen, check_listen),
	STRING_KEY("web_config_file", web_config_file, check_absolute_or_empty),
	{ .name = "http", .type = KEY_OBJECT, .members = http_keys },
	STRING_KEY("control_socket", control_socket, check_absolute),
	STRING_KEY("control_group", control_group, NULL),
	STRING_KEY("pin_dir", pin_dir, check_absolute),
	STRING_KEY("state_dir", state_dir, check_absolute_or_empty),
	UINT_KEY("rescan_interval_seconds", rescan_interval_s, 1, 3600),
	{ .name = "commit", .type = KEY_BOOL, .offset = offsetof(struct config, commit) },
	{ .name = "count_wakeups", .type = KEY_BOOL, .offset = offsetof(struct config, count_wakeups) },
	{ .name = "limits", .type = KEY_OBJECT, .members = limit_keys },
	UINT_KEY("top_culprits", top_culprits, 1, 50),
	{ .name = "vcpu_detail", .type = KEY_BOOL, .offset = offsetof(struct config, vcpu_detail) },
	{ .name = "log_level", .type = KEY_LOG_LEVEL, .offset = offsetof(struct config, log_level) },
	{ 0 },
};

/* The names config_dump() writes; log_level_from_string() reads them (and "error") */
static const struct {
	const char *name;
	int level;
} log_levels[] = {
	{ "debug", LOG_DEBUG },     { "info", LOG_INFO }, { "notice", LOG_NOTICE },
	{ "warning", LOG_WARNING }, { "err", LOG_ERR },
};

void config_defaults(struct config *c)
{
	*c = (struct config){
		.listen = "127.0.0.1:9477",
		.web_config_file = "",
		.http_timeout_s = 10,
		.http_max_conns = 64,
		.http_max_conns_per_addr = 16,
		.control_socket = "/run/stealtimed/control.sock",
		.control_group = "",
		.pin_dir = "/sys/fs/bpf/stealtimed",
		.state_dir = "/var/lib/stealtimed",
		.rescan_interval_s = 5,
		.commit = true,
		.count_wakeups = false,
		.max_vms = ST_MAX_REGIONS,
		.max_vcpus = ST_MAX_VCPUS,
		.reserved_percent = 6,
		.max_attribution_entries = 4096,
		.max_initial_steal_s = CONFIG_DEFAULT_INITIAL_STEAL_S,
		.top_culprits = 5,
		.vcpu_detail = true,
		.log_level = LOG_INFO,
	};
}

/* --- checks of string values ------------------------------------------------ */

static const char *check_absolute(const char *s)
{
	return s[0] == '/' ? NULL : "must be an absolute path";
}

static const char *check_absolute_or_empty(const char *s)
{
	return s[0] ? check_absolute(s) : NULL;
}

static bool numeric_port(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n >= 1 && n <= 5 && !s[n] && strtoul(s, NULL, 10) <= 65535;
}

/* What the HTTP server accepts: "HOST:PORT", "[V6]:PORT", ":PORT", numeric hosts only */
static const char *check_listen(const char *s)
{
	static const char *why = "expected HOST:PORT, [IPV6]:PORT or :PORT with a numeric host";
	char host[INET6_ADDRSTRLEN];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *colon, *start = s;
	int family = AF_INET;
	size_t n;

	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return why;
		start = s + 1;
		family = AF_INET6;
		n = (size_t)(colon - start);
		colon++;
	} else {
		colon = strchr(s, ':');
		if (!colon || strchr(colon + 1, ':'))
			return why;
		n = (size_t)(colon - s);
	}
	if (!numeric_port(colon + 1) || n >= sizeof(host) || (n == 0 && family == AF_INET6))
		return why;
	if (n == 0)
		return NULL;
	memcpy(host, start, n);
	host[n] = '\0';
	return inet_pton(family, host, addr) == 1 ? NULL : why;
}

/* --- positions in the text ---------------------------------------------------- */

struct cursor {
	const char *p, *end;
	const char *line_start;
	unsigned line;
};

struct text_pos {
	unsigned line, column;
};

static bool at(const struct cursor *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static void advance(struct cursor *c)
{
	if (*c->p++ == '\n') {
		c->line++;
		c->line_start = c->p;
	}
}

/* Columns count characters from 1, not bytes, as jansson's do */
static struct text_pos cursor_pos(const struct cursor *c)
{
	struct text_pos pos = { .line = c->line, .column = 1 };

	for (const char *q = c->line_start; q < c->p && q < c->end; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			pos.column++;
	return pos;
}

/* Whitespace, and what ends a number, true, false or null */
static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool ends_scalar(char ch)
{
	return is_space(ch) || ch == ',' || ch == '}' || ch == ']';
}

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && is_space(*c->p))
		advance(c);
}

static int skip_string(struct cursor *c)
{
	if (!at(c, '"'))
		return -EINVAL;
	advance(c);
	while (c->p < c->end) {
		if (*c->p == '"') {
			advance(c);
			return 0;
		}
		if (*c->p == '\\' && c->p + 1 < c->end)
			advance(c);
		advance(c);
	}
	return -EINVAL;
}

/* Any value, however deeply nested, without recursion */
static int skip_value(struct cursor *c)
{
	unsigned long depth = 0;

	while (c->p < c->end) {
		char ch = *c->p;

		if (ch == '"') {
			if (skip_string(c))
				return -EINVAL;
			if (!depth)
				return 0;
			continue;
		}
		if (!depth && ends_scalar(ch))
			return 0;
		if (ch == '{' || ch == '[') {
			depth++;
		} else if ((ch == '}' || ch == ']') && --depth == 0) {
			advance(c);
			return 0;
		}
		advance(c);
	}
	return depth ? -EINVAL : 0;
}

/* Whether the string token [tok, end) decodes to key */
static bool token_is(const char *tok, const char *end, const char *key)
{
	json_t *s = json_loadb(tok, (size_t)(end - tok), JSON_DECODE_ANY, NULL);
	bool same = json_is_string(s) && strcmp(json_string_value(s), key) == 0 &&
		    json_string_length(s) == strlen(key);

	json_decref(s);
	return same;
}

/*
 * At the '{' of an object: moves to the value of member key and stores the
 * position of the key in *key_pos.
 */
static int find_member(struct cursor *c, const char *key, struct text_pos *key_pos)
{
	if (!at(c, '{'))
		return -EINVAL;
	advance(c);
	for (;;) {
		struct cursor tok;
		const char *tok_end;

		skip_ws(c);
		tok = *c;
		if (skip_string(c))
			return -ENOENT;
		tok_end = c->p;
		skip_ws(c);
		if (!at(c, ':'))
			return -EINVAL;
		advance(c);
		skip_ws(c);
		if (token_is(tok.p, tok_end, key)) {
			*key_pos = cursor_pos(&tok);
			return 0;
		}
		if (skip_value(c))
			return -EINVAL;
		skip_ws(c);
		if (!at(c, ','))
			return -ENOENT;
		advance(c);
	}
}

/* --- parsing ------------------------------------------------------------------ */

#define MAX_DEPTH 2

struct parser {
	const char *name; /* file name, for messages */
	const char *text;
	size_t len;
	char *err;
	size_t errlen;
	const char *path[MAX_DEPTH]; /* keys from the top level to the current one */
	unsigned depth;
};

enum spot { AT_KEY, AT_VALUE };

/* Where the current key (or its value) is in the text */
static struct text_pos locate(const struct parser *p, enum spot spot)
{
	struct cursor c = { .p = p->text, .end = p->text + p->len, .line_start = p->text, .line = 1 };
	struct text_pos key_pos = { 1, 1 };

	skip_ws(&c);
	for (unsigned i = 0; i < p->depth; i++) {
		if (find_member(&c, p->path[i], &key_pos))
			return key_pos; /* not found: cannot happen on text jansson accepted */
	}
	return spot == AT_KEY && p->depth ? key_pos : cursor_pos(&c);
}

/* Control characters (from keys, or quoted by jansson) would break the one-line message */
/* "limits.vms", long keys cut */
static void key_path(const struct parser *p, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < p->depth && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "." : "", p->path[i]);
	if (n >= len && len > 4)
		strcpy(buf + len - 4, "...");
}

static int __attribute__((format(printf, 3, 4)))
fail(const struct parser *p, enum spot spot, const char *fmt, ...)
{
	struct text_pos pos = locate(p, spot);
	char msg[256], key[80];
	va_list ap;

	if (!p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	key_path(p, key, sizeof(key));
	config_error_format(p->err, p->errlen, p->name, pos.line, pos.column, key, msg);
	return -EINVAL;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static int parse_members(struct parser *p, const json_t *obj, const struct key_spec *specs,
			 struct config *c);

static int parse_string(struct parser *p, const struct key_spec *k, const json_t *v,
			struct config *c)
{
	const char *s = json_string_value(v), *why;

	if (json_string_length(v) >= k->size)
		return fail(p, AT_VALUE, "longer than %zu bytes", k->size - 1);
	if (k->check && (why = k->check(s)))
		return fail(p, AT_VALUE, "%s", why);
	memcpy((char *)c + k->offset, s, json_string_length(v) + 1);
	return 0;
}

static int parse_uint(struct parser *p, const struct key_spec *k, const json_t *v,
		      struct config *c)
{
	json_int_t n = json_integer_value(v);

	if (n < k->min || n > k->max)
		return fail(p, AT_VALUE, "%" JSON_INTEGER_FORMAT " is out of range %u..%u", n,
			    k->min, k->max);
	*(unsigned *)((char *)c + k->offset) = (unsigned)n;
	return 0;
}

static int parse_log_level(struct parser *p, const struct key_spec *k, const json_t *v,
			   struct config *c)
{
	int level = log_level_from_string(json_string_value(v));

	if (level < 0)
		return fail(p, AT_VALUE, "expected one of debug, info, notice, warning, err");
	*(int *)((char *)c + k->offset) = level;
	return 0;
}

static bool type_ok(enum key_type t, const json_t *v)
{
	switch (t) {
	case KEY_STRING:
	case KEY_LOG_LEVEL: return json_is_string(v);
	case KEY_UINT: return json_is_integer(v);
	case KEY_BOOL: return json_is_boolean(v);
	case KEY_OBJECT: return json_is_object(v);
	}
	return false;
}

static const char *const expected_type[] = {
	[KEY_STRING] = "a string",   [KEY_UINT] = "an integer", [KEY_BOOL] = "true or false",
	[KEY_LOG_LEVEL] = "a string", [KEY_OBJECT] = "an object",
};

static int parse_value(struct parser *p, const struct key_spec *k, const json_t *v,
		       struct config *c)
{
	if (!type_ok(k->type, v))
		return fail(p, AT_VALUE, "expected %s, got %s", expected_type[k->type],
			    type_name(v));
	switch (k->type) {
	case KEY_STRING: return parse_string(p, k, v, c);
	case KEY_UINT: return parse_uint(p, k, v, c);
	case KEY_BOOL: *(bool *)((char *)c + k->offset) = json_is_true(v); return 0;
	case KEY_LOG_LEVEL: return parse_log_level(p, k, v, c);
	case KEY_OBJECT: return parse_members(p, v, k->members, c);
	}
	return -EINVAL;
}

static int unknown_key(struct parser *p, const struct key_spec *specs)
{
	char known[256];
	size_t n = 0;

	known[0] = '\0';
	for (const struct key_spec *k = specs; k->name && n < sizeof(known); k++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", k->name);
	return fail(p, AT_KEY, "unknown key (known: %s)", known);
}

static int parse_members(struct parser *p, const json_t *obj, const struct key_spec *specs,
			 struct config *c)
{
	const char *name;
	json_t *v;
	int err = 0;

	if (p->depth >= MAX_DEPTH)
		return -EINVAL;
	/* jansson iterates in text order, so the first bad key is reported */
	json_object_foreach((json_t *)obj, name, v) {
		const struct key_spec *k = specs;

		while (k->name && strcmp(k->name, name))
			k++;
		p->path[p->depth++] = name;
		err = k->name ? parse_value(p, k, v, c) : unknown_key(p, specs);
		p->depth--;
		if (err)
			break;
	}
	return err;
}

static int syntax_error(const struct parser *p, const json_error_t *je)
{
	if (p->errlen)
		config_error_format(p->err, p->errlen, p->name, je->line > 0 ? (unsigned long)je->line : 1,
				    je->column > 0 ? (unsigned long)je->column : 1, "", je->text);
	return -EINVAL;
}

int config_load_buffer(const char *name, const char *buf, size_t len, struct config *c, char *err,
		       size_t errlen)
{
	struct parser p = { .name = name ? name : "<buffer>", .text = buf ? buf : "",
			    .len = buf ? len : 0, .err = err, .errlen = err ? errlen : 0 };
	struct config tmp = *c;
	json_error_t je;
	json_t *root;
	int ret;

	if (p.errlen)
		err[0] = '\0';
	root = json_loadb(p.text, p.len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return syntax_error(&p, &je);
	if (json_is_object(root))
		ret = parse_members(&p, root, keys, &tmp);
	else
		ret = fail(&p, AT_VALUE, "the configuration must be a JSON object");
	json_decref(root);
	if (!ret)
		*c = tmp;
	return ret;
}

static int read_whole(FILE *f, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nbuf;

	errno = 0;
	for (;;) {
		nbuf = realloc(buf, cap);
		if (!nbuf) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap || cap > CONFIG_MAX_FILE_SIZE)
			break;
		cap *= 2;
	}
	if (ferror(f)) {
		free(buf);
		return errno ? -errno : -EIO;
	}
	if (n > CONFIG_MAX_FILE_SIZE) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f)
		return -errno;
	ret = read_whole(f, buf, len);
	fclose(f);
	return ret;
}

int config_load_file(const char *path, struct config *c, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int ret = read_file(path, &buf, &len);

	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path,
				 ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret));
		return ret;
	}
	ret = config_load_buffer(path, buf, len, c, err, errlen);
	free(buf);
	return ret;
}

/* --- dumping ------------------------------------------------------------------- */

static json_t *dump_members(const struct key_spec *specs, const struct config *c);

static json_t *dump_value(const struct key_spec *k, const struct config *c)
{
	const char *field = (const char *)c + k->offset;

	switch (k->type) {
	case KEY_STRING: return json_stringn(field, strnlen(field, k->size));
	case KEY_UINT: return json_integer(*(const unsigned *)field);
	case KEY_BOOL: return json_boolean(*(const bool *)field);
	case KEY_LOG_LEVEL:
		for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
			if (log_levels[i].level == *(const int *)field)
				return json_string(log_levels[i].name);
		return NULL;
	case KEY_OBJECT: return dump_members(k->members, c);
	}
	return NULL;
}

static json_t *dump_members(const struct key_spec *specs, const struct config *c)
{
	json_t *obj = json_object();

	for (const struct key_spec *k = specs; obj && k->name; k++) {
		if (json_object_set_new(obj, k->name, dump_value(k, c))) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

int config_dump(const struct config *c, FILE *f)
{
	json_t *root = dump_members(keys, c);
	int ret = -EINVAL;

	if (!root)
		return ret;
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', f) != EOF)
		ret = fflush(f) ? -EIO : 0;
	else
		ret = -EIO;
	json_decref(root);
	return ret;
}
