// SPDX-License-Identifier: GPL-2.0
/*
 * Control protocol text: parsing one request message and building the
 * replies (docs/control-protocol.md). No I/O here, so every byte a peer
 * can send is reachable from the unit tests and the fuzzer.
 *
 * Two classes of parse errors: -EPROTO when the message is not one JSON
 * object (syntax, trailing bytes, NUL bytes, duplicate keys, not an
 * object), -EINVAL when it is one but its fields are wrong. Both name what
 * is wrong in the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "stealtime_proto_errno.h"

#define ECHO_MAX 32      /* bytes of a peer's key or op name echoed in a reason */
#define REASON_MAX 256   /* bytes of a reason in an error reply (escaped: < 1024) */
/* "\u0000" in strings is refused too: jansson only takes it with JSON_ALLOW_NUL */
#define LOAD_FLAGS JSON_REJECT_DUPLICATES

/* --- parsing ----------------------------------------------------------- */

struct perr {
	char *buf;
	size_t len;
};

static int __attribute__((format(printf, 3, 4))) fail(struct perr *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (e->buf && e->len) {
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* A peer's string, cut and reduced to printable ASCII, for echoing in a reason. */
static void echo(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
	if (src[i] && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

static int field_u64(json_t *root, const char *name, bool required, uint64_t max, bool *present,
		     uint64_t *out, struct perr *e)
{
	json_t *v = json_object_get(root, name);
	json_int_t n;

	if (present)
		*present = v != NULL;
	if (!v)
		return required ? fail(e, -EINVAL, "missing field \"%s\"", name) : 0;
	if (!json_is_integer(v))
		return fail(e, -EINVAL, "field \"%s\" must be an integer", name);
	n = json_integer_value(v);
	if (n < 0)
		return fail(e, -EINVAL, "field \"%s\" must not be negative", name);
	if ((uint64_t)n > max)
		return fail(e, -EINVAL, "field \"%s\" must be at most %" PRIu64, name, max);
	*out = (uint64_t)n;
	return 0;
}

static int field_vcpu(json_t *root, struct control_request *req, struct perr *e)
{
	uint64_t v;
	int r = field_u64(root, "vcpu", true, CONTROL_MAX_VCPU, NULL, &v, e);

	if (r == 0)
		req->vcpu = (uint32_t)v;
	return r;
}

/* Every key of root must be "op" or one of keys (NULL-terminated). */
static int check_keys(json_t *root, const char *op, const char *const *keys, struct perr *e)
{
	char name[ECHO_MAX];
	const char *key;
	json_t *v;

	json_object_foreach(root, key, v) {
		const char *const *k;

		if (strcmp(key, "op") == 0)
			continue;
		for (k = keys; *k; k++)
			if (strcmp(key, *k) == 0)
				break;
		if (!*k) {
			echo(name, sizeof(name), key);
			return fail(e, -EINVAL, "unknown field \"%s\" for op \"%s\"", name, op);
		}
	}
	return 0;
}

static int parse_register(json_t *root, struct control_request *req, struct perr *e)
{
	static const char *const keys[] = { "region_ipa", NULL };
	int r = check_keys(root, "register", keys, e);

	if (r == 0)
		r = field_u64(root, "region_ipa", true, INT64_MAX, NULL, &req->region_ipa, e);
	if (r == 0 && req->region_ipa % CONTROL_REGION_ALIGN)
		r = fail(e, -EINVAL, "field \"region_ipa\" must be 64 KiB aligned");
	return r;
}

static int parse_set_ipa(json_t *root, struct control_request *req, struct perr *e)
{
	static const char *const keys[] = { "vcpu", "ipa", "initial_ns", NULL };
	int r = check_keys(root, "set_ipa", keys, e);

	if (r == 0)
		r = field_vcpu(root, req, e);
	if (r == 0)
		r = field_u64(root, "ipa", true, INT64_MAX, NULL, &req->ipa, e);
	if (r == 0 && req->ipa % CONTROL_RECORD_ALIGN)
		r = fail(e, -EINVAL, "field \"ipa\" must be 64-byte aligned");
	if (r == 0)
		r = field_u64(root, "initial_ns", false, INT64_MAX, &req->has_initial,
			      &req->initial_ns, e);
	return r;
}

static int parse_smccc(json_t *root, struct control_request *req, struct perr *e)
{
	static const char *const keys[] = { "vcpu", "function", "arg", NULL };
	int r = check_keys(root, "smccc", keys, e);

	if (r == 0)
		r = field_vcpu(root, req, e);
	if (r == 0)
		r = field_u64(root, "function", true, UINT32_MAX, NULL, &req->function, e);
	if (r == 0)
		r = field_u64(root, "arg", false, INT64_MAX, NULL, &req->arg, e);
	return r;
}

static int parse_snapshot(json_t *root, struct control_request *req, struct perr *e)
{
	static const char *const keys[] = { NULL };

	return check_keys(root, "snapshot", keys, e);
}

static int parse_unregister(json_t *root, struct control_request *req, struct perr *e)
{
	static const char *const keys[] = { NULL };

	return check_keys(root, "unregister", keys, e);
}

static const struct {
	const char *name;
	enum control_op op;
	int (*parse)(json_t *root, struct control_request *req, struct perr *e);
} op_table[] = {
	{ "register", CONTROL_OP_REGISTER, parse_register },
	{ "set_ipa", CONTROL_OP_SET_IPA, parse_set_ipa },
	{ "smccc", CONTROL_OP_SMCCC, parse_smccc },
	{ "snapshot", CONTROL_OP_SNAPSHOT, parse_snapshot },
	{ "unregister", CONTROL_OP_UNREGISTER, parse_unregister },
};

static int parse_object(json_t *root, struct control_request *req, struct perr *e)
{
	json_t *op = json_object_get(root, "op");
	char name[ECHO_MAX];

	if (!op)
		return fail(e, -EINVAL, "missing field \"op\"");
	if (!json_is_string(op))
		return fail(e, -EINVAL, "field \"op\" must be a string");
	for (size_t i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++) {
		if (strcmp(json_string_value(op), op_table[i].name) == 0) {
			req->op = op_table[i].op;
			return op_table[i].parse(root, req, e);
		}
	}
	echo(name, sizeof(name), json_string_value(op));
	return fail(e, -EINVAL, "field \"op\": unknown op \"%s\"", name);
}

/*
 * jansson refuses integers outside int64 with a syntax error that names no
 * field. Parse again with integers as reals to find the field to name.
 */
static int out_of_range(const char *buf, size_t len, const json_error_t *jerr, struct perr *e)
{
	json_t *root = json_loadb(buf, len, LOAD_FLAGS | JSON_DECODE_INT_AS_REAL, NULL);
	const char *key;
	json_t *v;
	int r = fail(e, -EPROTO, "not a JSON object: %s at byte %d", jerr->text, jerr->position);

	if (json_is_object(root)) {
		json_object_foreach(root, key, v) {
			char name[ECHO_MAX];
			double d = json_real_value(v);

			if (!json_is_real(v) || (d < 0x1p63 && d > -0x1p63))
				continue;
			echo(name, sizeof(name), key);
			r = fail(e, -EINVAL, "field \"%s\" is out of range", name);
			break;
		}
	}
	json_decref(root);
	return r;
}

int control_parse_request(const char *buf, size_t len, struct control_request *req, char *err,
			  size_t errlen)
{
	struct perr e = { err, errlen };
	json_error_t jerr;
	json_t *root;
	int r;

	if (err && errlen)
		err[0] = '\0';
	memset(req, 0, sizeof(*req));
	if (len > CONTROL_MAX_MSG)
		return fail(&e, -EMSGSIZE, "message larger than %d bytes", CONTROL_MAX_MSG);
	if (len == 0)
		return fail(&e, -EPROTO, "empty message");
	if (memchr(buf, '\0', len))
		return fail(&e, -EPROTO, "message contains a NUL byte");
	root = json_loadb(buf, len, LOAD_FLAGS, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_numeric_overflow)
			return out_of_range(buf, len, &jerr, &e);
		return fail(&e, -EPROTO, "not a JSON object: %s at byte %d", jerr.text,
			    jerr.position);
	}
	if (json_is_object(root))
		r = parse_object(root, req, &e);
	else
		r = fail(&e, -EPROTO, "message is not a JSON object");
	json_decref(root);
	return r;
}

/* --- replies ----------------------------------------------------------- */

const char *control_errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ST_PROTO_NERRNOS; i++)
		if (st_proto_errnos[i].err == err)
			return st_proto_errnos[i].name;
	return "EIO";
}

/* Dumps and frees obj. */
static int dump(json_t *obj, char *buf, size_t size)
{
	size_t n;

	if (!obj)
		return -ENOMEM;
	n = json_dumpb(obj, buf, size, JSON_COMPACT);
	json_decref(obj);
	if (n == 0)
		return -ENOMEM;
	if (n > size || n > INT32_MAX)
		return -EMSGSIZE;
	return (int)n;
}

/* json_integer of a u64, held at INT64_MAX: JSON readers take int64 */
static json_t *json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

int control_reply_error(char *buf, size_t size, int err, const char *reason)
{
	char text[REASON_MAX];

	echo(text, sizeof(text), reason && reason[0] ? reason : strerror(err < 0 ? -err : err));
	return dump(json_pack("{s:b, s:s, s:s}", "ok", 0, "errno", control_errno_name(err),
			      "error", text),
		    buf, size);
}

int control_reply_ok(char *buf, size_t size)
{
	return dump(json_pack("{s:b}", "ok", 1), buf, size);
}

int control_reply_register(char *buf, size_t size, const struct control_reg *reg)
{
	char raw[sizeof(reg->vm_id) + 1], id[sizeof(raw)];

	/* vm_id may fill its array without a NUL */
	memcpy(raw, reg->vm_id, sizeof(reg->vm_id));
	raw[sizeof(reg->vm_id)] = '\0';
	echo(id, sizeof(id), raw);
	return dump(json_pack("{s:b, s:s, s:I}", "ok", 1, "vm", id, "region_size",
			      (json_int_t)reg->region_size),
		    buf, size);
}

int control_reply_smccc(char *buf, size_t size, int64_t ret)
{
	return dump(json_pack("{s:b, s:I}", "ok", 1, "ret", (json_int_t)ret), buf, size);
}

int control_reply_snapshot(char *buf, size_t size, const struct control_vcpu_value *vals, size_t n)
{
	json_t *arr = json_array();
	json_t *obj = json_pack("{s:b, s:o}", "ok", 1, "vcpus", arr);

	if (!obj)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_pack("{s:I, s:o}", "vcpu", (json_int_t)vals[i].vcpu, "stolen_ns",
				      json_u64(vals[i].stolen_ns));

		if (json_array_append_new(arr, v) < 0) {
			json_decref(obj);
			return -ENOMEM;
		}
	}
	return dump(obj, buf, size);
}
