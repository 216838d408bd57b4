// link: daemon/control_proto.c daemon/log.c
// SPDX-License-Identifier: GPL-2.0
/* Control protocol: request parsing and reply text (daemon/control_proto.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "control.h"

#define ERRLEN 256

static char err[ERRLEN];
static struct control_request req;

static int parse(const char *msg)
{
	return control_parse_request(msg, strlen(msg), &req, err, sizeof(err));
}

/* The message is refused with errno want and a reason that contains needle. */
static void rejected(const char *msg, int want, const char *needle)
{
	int r = parse(msg);

	if (r != want || !strstr(err, needle))
		fail_msg("%s: got %d \"%s\", want %d with \"%s\"", msg, r, err, want, needle);
}

static void accepted(const char *msg, enum control_op op)
{
	int r = parse(msg);

	if (r != 0)
		fail_msg("%s: got %d \"%s\"", msg, r, err);
	assert_int_equal(req.op, op);
}

/* --- register ------------------------------------------------------------ */

static void register__aligned_ipa__parsed(void **state)
{
	accepted("{\"op\":\"register\",\"region_ipa\":65536}", CONTROL_OP_REGISTER);
	assert_int_equal(req.region_ipa, 65536);
	accepted("{\"region_ipa\":0,\"op\":\"register\"}", CONTROL_OP_REGISTER);
	assert_int_equal(req.region_ipa, 0);
	accepted(" {\"op\" : \"register\", \"region_ipa\": 1099511627776}\n", CONTROL_OP_REGISTER);
	assert_int_equal(req.region_ipa, 1ULL << 40);
}

static void register__highest_aligned_ipa__parsed(void **state)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "{\"op\":\"register\",\"region_ipa\":%lld",
		 (long long)(INT64_MAX & ~0xffffLL));
	strcat(msg, "}");
	accepted(msg, CONTROL_OP_REGISTER);
	assert_int_equal(req.region_ipa, (uint64_t)(INT64_MAX & ~0xffffLL));
}

static void register__unaligned_ipa__einval(void **state)
{
	rejected("{\"op\":\"register\",\"region_ipa\":65537}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":32768}", -EINVAL, "64 KiB aligned");
	rejected("{\"op\":\"register\",\"region_ipa\":9223372036854775807}", -EINVAL, "region_ipa");
}

static void register__bad_ipa_types__einval(void **state)
{
	rejected("{\"op\":\"register\"}", -EINVAL, "missing field \"region_ipa\"");
	rejected("{\"op\":\"register\",\"region_ipa\":-65536}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":65536.0}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":\"65536\"}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":true}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":null}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":[65536]}", -EINVAL, "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":1e5}", -EINVAL, "region_ipa");
}

static void register__beyond_int64__einval_naming_field(void **state)
{
	rejected("{\"op\":\"register\",\"region_ipa\":9223372036854775808}", -EINVAL,
		 "\"region_ipa\" is out of range");
	rejected("{\"op\":\"register\",\"region_ipa\":18446744073709551616}", -EINVAL,
		 "region_ipa");
	rejected("{\"op\":\"register\",\"region_ipa\":-9223372036854775809}", -EINVAL,
		 "region_ipa");
}

static void register__beyond_int64_nested__eproto(void **state)
{
	rejected("{\"op\":\"register\",\"x\":[99999999999999999999]}", -EPROTO, "too big");
}

static void register__unknown_key__einval_naming_key(void **state)
{
	rejected("{\"op\":\"register\",\"region_ipa\":0,\"vcpu\":1}", -EINVAL,
		 "unknown field \"vcpu\" for op \"register\"");
	rejected("{\"op\":\"register\",\"region_ipa\":0,\"\":1}", -EINVAL, "unknown field \"\"");
}

/* --- set_ipa ------------------------------------------------------------- */

static void set_ipa__without_initial__parsed(void **state)
{
	accepted("{\"op\":\"set_ipa\",\"vcpu\":3,\"ipa\":65728}", CONTROL_OP_SET_IPA);
	assert_int_equal(req.vcpu, 3);
	assert_int_equal(req.ipa, 65728);
	assert_false(req.has_initial);
	assert_int_equal(req.initial_ns, 0);
}

static void set_ipa__with_initial__parsed(void **state)
{
	accepted("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0,\"initial_ns\":0}", CONTROL_OP_SET_IPA);
	assert_true(req.has_initial);
	assert_int_equal(req.initial_ns, 0);
	accepted("{\"op\":\"set_ipa\",\"vcpu\":1,\"ipa\":64,\"initial_ns\":9223372036854775807}",
		 CONTROL_OP_SET_IPA);
	assert_true(req.has_initial);
	assert_int_equal(req.initial_ns, INT64_MAX);
}

static void set_ipa__vcpu_bounds__4095_ok_4096_einval(void **state)
{
	accepted("{\"op\":\"set_ipa\",\"vcpu\":4095,\"ipa\":0}", CONTROL_OP_SET_IPA);
	assert_int_equal(req.vcpu, 4095);
	rejected("{\"op\":\"set_ipa\",\"vcpu\":4096,\"ipa\":0}", -EINVAL,
		 "\"vcpu\" must be at most 4095");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":4294967296,\"ipa\":0}", -EINVAL, "vcpu");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":9223372036854775807,\"ipa\":0}", -EINVAL, "vcpu");
}

static void set_ipa__bad_vcpu__einval(void **state)
{
	rejected("{\"op\":\"set_ipa\",\"ipa\":0}", -EINVAL, "missing field \"vcpu\"");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":-1,\"ipa\":0}", -EINVAL, "\"vcpu\" must not be negative");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":1.5,\"ipa\":0}", -EINVAL, "\"vcpu\" must be an integer");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":1.0,\"ipa\":0}", -EINVAL, "vcpu");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":\"1\",\"ipa\":0}", -EINVAL, "vcpu");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":false,\"ipa\":0}", -EINVAL, "vcpu");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":{},\"ipa\":0}", -EINVAL, "vcpu");
}

static void set_ipa__bad_ipa__einval(void **state)
{
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0}", -EINVAL, "missing field \"ipa\"");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":65568}", -EINVAL,
		 "\"ipa\" must be 64-byte aligned");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":-64}", -EINVAL, "ipa");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":\"0x10000\"}", -EINVAL, "ipa");
}

static void set_ipa__bad_initial__einval(void **state)
{
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0,\"initial_ns\":-1}", -EINVAL,
		 "\"initial_ns\" must not be negative");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0,\"initial_ns\":1.25}", -EINVAL,
		 "\"initial_ns\" must be an integer");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0,\"initial_ns\":null}", -EINVAL,
		 "initial_ns");
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0,\"initial_ns\":9223372036854775808}",
		 -EINVAL, "initial_ns");
}

static void set_ipa__unknown_key__einval_naming_key(void **state)
{
	rejected("{\"op\":\"set_ipa\",\"vcpu\":0,\"ipa\":0,\"initial\":5}", -EINVAL,
		 "unknown field \"initial\"");
}

/* --- smccc --------------------------------------------------------------- */

static void smccc__all_fields__parsed(void **state)
{
	accepted("{\"op\":\"smccc\",\"vcpu\":2,\"function\":3305111585,\"arg\":7}", CONTROL_OP_SMCCC);
	assert_int_equal(req.vcpu, 2);
	assert_int_equal(req.function, 0xC5000021u);
	assert_int_equal(req.arg, 7);
}

static void smccc__no_arg__arg_zero(void **state)
{
	accepted("{\"op\":\"smccc\",\"vcpu\":0,\"function\":2147483649}", CONTROL_OP_SMCCC);
	assert_int_equal(req.function, 0x80000001u);
	assert_int_equal(req.arg, 0);
}

static void smccc__function_bounds__u32_only(void **state)
{
	accepted("{\"op\":\"smccc\",\"vcpu\":0,\"function\":4294967295}", CONTROL_OP_SMCCC);
	assert_int_equal(req.function, UINT32_MAX);
	rejected("{\"op\":\"smccc\",\"vcpu\":0,\"function\":4294967296}", -EINVAL,
		 "\"function\" must be at most 4294967295");
	rejected("{\"op\":\"smccc\",\"vcpu\":0,\"function\":-1}", -EINVAL, "function");
	rejected("{\"op\":\"smccc\",\"vcpu\":0}", -EINVAL, "missing field \"function\"");
}

static void smccc__bad_arg__einval(void **state)
{
	accepted("{\"op\":\"smccc\",\"vcpu\":0,\"function\":1,\"arg\":9223372036854775807}",
		 CONTROL_OP_SMCCC);
	assert_int_equal(req.arg, INT64_MAX);
	rejected("{\"op\":\"smccc\",\"vcpu\":0,\"function\":1,\"arg\":-1}", -EINVAL, "\"arg\"");
	rejected("{\"op\":\"smccc\",\"vcpu\":0,\"function\":1,\"arg\":\"x\"}", -EINVAL, "\"arg\"");
	rejected("{\"op\":\"smccc\",\"vcpu\":4096,\"function\":1}", -EINVAL, "vcpu");
	rejected("{\"op\":\"smccc\",\"vcpu\":0,\"function\":1,\"ipa\":0}", -EINVAL,
		 "unknown field \"ipa\"");
}

/* --- snapshot, unregister ------------------------------------------------ */

static void snapshot_unregister__bare__parsed(void **state)
{
	accepted("{\"op\":\"snapshot\"}", CONTROL_OP_SNAPSHOT);
	accepted("{\"op\":\"unregister\"}", CONTROL_OP_UNREGISTER);
}

static void snapshot_unregister__extra_key__einval(void **state)
{
	rejected("{\"op\":\"snapshot\",\"vcpu\":0}", -EINVAL, "unknown field \"vcpu\" for op \"snapshot\"");
	rejected("{\"op\":\"unregister\",\"force\":true}", -EINVAL, "unknown field \"force\"");
}

/* --- op ------------------------------------------------------------------ */

static void op__missing_or_not_string__einval(void **state)
{
	rejected("{}", -EINVAL, "missing field \"op\"");
	rejected("{\"region_ipa\":0}", -EINVAL, "missing field \"op\"");
	rejected("{\"op\":1}", -EINVAL, "\"op\" must be a string");
	rejected("{\"op\":null}", -EINVAL, "\"op\" must be a string");
	rejected("{\"op\":[\"register\"]}", -EINVAL, "\"op\"");
}

static void op__unknown__einval_naming_it(void **state)
{
	rejected("{\"op\":\"reboot\"}", -EINVAL, "unknown op \"reboot\"");
	rejected("{\"op\":\"Register\",\"region_ipa\":0}", -EINVAL, "unknown op");
	rejected("{\"op\":\"\"}", -EINVAL, "unknown op \"\"");
	rejected("{\"op\":\"register \",\"region_ipa\":0}", -EINVAL, "unknown op");
}

static void op__long_unprintable_name__echo_cut(void **state)
{
	rejected("{\"op\":\"\\u00e9\\n0123456789012345678901234567890123456789\"}", -EINVAL,
		 "unknown op \"???0123");
	assert_non_null(strstr(err, "...\""));
	assert_true(strlen(err) < 80);
}

/* --- not one JSON object ------------------------------------------------- */

static void message__not_json__eproto(void **state)
{
	rejected("hello", -EPROTO, "not a JSON object");
	rejected("{\"op\":\"snapshot\"", -EPROTO, "not a JSON object");
	rejected("{'op':'snapshot'}", -EPROTO, "not a JSON object");
	rejected("\xff\xfe", -EPROTO, "not a JSON object");
	rejected("{\"op\":\"snap\xc3\"}", -EPROTO, "not a JSON object");
}

static void message__not_object__eproto(void **state)
{
	rejected("[]", -EPROTO, "not a JSON object");
	rejected("[{\"op\":\"snapshot\"}]", -EPROTO, "not a JSON object");
	rejected("42", -EPROTO, "not a JSON object");
	rejected("\"snapshot\"", -EPROTO, "not a JSON object");
	rejected("null", -EPROTO, "not a JSON object");
}

static void message__trailing_bytes__eproto(void **state)
{
	rejected("{\"op\":\"snapshot\"}x", -EPROTO, "not a JSON object");
	rejected("{\"op\":\"snapshot\"}{\"op\":\"snapshot\"}", -EPROTO, "not a JSON object");
	rejected("{\"op\":\"snapshot\"},", -EPROTO, "not a JSON object");
	/* trailing whitespace is part of JSON text */
	accepted("{\"op\":\"snapshot\"}\n\t ", CONTROL_OP_SNAPSHOT);
}

static void message__nul_bytes__eproto(void **state)
{
	static const char mid[] = "{\"op\":\"snap\0shot\"}";
	static const char end[] = "{\"op\":\"snapshot\"}";

	assert_int_equal(control_parse_request(mid, sizeof(mid) - 1, &req, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "NUL byte"));
	/* a C string sent with its terminator */
	assert_int_equal(control_parse_request(end, sizeof(end), &req, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "NUL byte"));
	rejected("{\"op\":\"snap\\u0000shot\"}", -EPROTO, "not a JSON object");
}

static void message__duplicate_key__eproto(void **state)
{
	rejected("{\"op\":\"snapshot\",\"op\":\"unregister\"}", -EPROTO, "duplicate");
	rejected("{\"op\":\"register\",\"region_ipa\":0,\"region_ipa\":65536}", -EPROTO,
		 "duplicate");
}

static void message__empty__eproto(void **state)
{
	assert_int_equal(control_parse_request("", 0, &req, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "empty"));
	rejected("   ", -EPROTO, "not a JSON object");
}

static void message__size_limit__max_ok_one_more_emsgsize(void **state)
{
	char *buf = malloc(CONTROL_MAX_MSG + 1);
	static const char op[] = "{\"op\":\"snapshot\"}";

	assert_non_null(buf);
	memset(buf, ' ', CONTROL_MAX_MSG + 1);
	memcpy(buf, op, sizeof(op) - 1);
	assert_int_equal(control_parse_request(buf, CONTROL_MAX_MSG, &req, err, sizeof(err)), 0);
	assert_int_equal(control_parse_request(buf, CONTROL_MAX_MSG + 1, &req, err, sizeof(err)),
			 -EMSGSIZE);
	assert_non_null(strstr(err, "larger than 4096"));
	free(buf);
}

static void message__deep_nesting__refused_without_crash(void **state)
{
	char buf[CONTROL_MAX_MSG];
	size_t n = 0, depth = 2000;

	n += (size_t)sprintf(buf, "{\"op\":\"snapshot\",\"x\":");
	for (size_t i = 0; i < depth; i++)
		buf[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	assert_true(control_parse_request(buf, n, &req, err, sizeof(err)) < 0);
}

static void parse__error_buffer_small_or_null__safe(void **state)
{
	char small[8];

	memset(small, 'x', sizeof(small));
	assert_int_equal(control_parse_request("{}", 2, &req, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "missing");
	assert_int_equal(control_parse_request("{}", 2, &req, NULL, 0), -EINVAL);
	assert_int_equal(control_parse_request("x", 1, &req, NULL, 0), -EPROTO);
}

static void parse__after_error__request_cleared(void **state)
{
	accepted("{\"op\":\"set_ipa\",\"vcpu\":3,\"ipa\":64,\"initial_ns\":1}", CONTROL_OP_SET_IPA);
	accepted("{\"op\":\"set_ipa\",\"vcpu\":4,\"ipa\":128}", CONTROL_OP_SET_IPA);
	assert_false(req.has_initial);
	assert_int_equal(req.initial_ns, 0);
}

/* --- replies ------------------------------------------------------------- */

static char out[CONTROL_MAX_REPLY + 1];

static void reply_is(int n, const char *want)
{
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, want);
}

static void errno_name__table__names_or_eio(void **state)
{
	static const struct {
		int err;
		const char *name;
	} t[] = {
		{ EINVAL, "EINVAL" }, { EEXIST, "EEXIST" }, { ENXIO, "ENXIO" },
		{ EPERM, "EPERM" },   { EACCES, "EACCES" }, { ENOENT, "ENOENT" },
		{ EBUSY, "EBUSY" },   { ENOSPC, "ENOSPC" }, { ERANGE, "ERANGE" },
		{ EPROTO, "EPROTO" }, { EMSGSIZE, "EMSGSIZE" }, { ESRCH, "ESRCH" },
		{ ENOMEM, "ENOMEM" }, { ENOMSG, "ENOMSG" }, { E2BIG, "E2BIG" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_string_equal(control_errno_name(-t[i].err), t[i].name);
		assert_string_equal(control_errno_name(t[i].err), t[i].name);
	}
	assert_string_equal(control_errno_name(-EDOM), "EIO");
	assert_string_equal(control_errno_name(-EIO), "EIO");
	assert_string_equal(control_errno_name(0), "EIO");
}

static void reply_ok_error__exact_text(void **state)
{
	reply_is(control_reply_ok(out, sizeof(out)), "{\"ok\":true}");
	reply_is(control_reply_error(out, sizeof(out), -ENOENT, "not registered"),
		 "{\"ok\":false,\"errno\":\"ENOENT\",\"error\":\"not registered\"}");
	reply_is(control_reply_error(out, sizeof(out), -EINVAL, "field \"vcpu\" \\ x"),
		 "{\"ok\":false,\"errno\":\"EINVAL\",\"error\":\"field \\\"vcpu\\\" \\\\ x\"}");
	reply_is(control_reply_error(out, sizeof(out), -EDOM, "big"),
		 "{\"ok\":false,\"errno\":\"EIO\",\"error\":\"big\"}");
}

static void reply_error__no_reason__strerror(void **state)
{
	reply_is(control_reply_error(out, sizeof(out), -ENXIO, NULL),
		 "{\"ok\":false,\"errno\":\"ENXIO\",\"error\":\"No such device or address\"}");
	reply_is(control_reply_error(out, sizeof(out), -ENXIO, ""),
		 "{\"ok\":false,\"errno\":\"ENXIO\",\"error\":\"No such device or address\"}");
}

static void reply_error__hostile_reason__valid_bounded_json(void **state)
{
	char reason[5000];
	json_t *j;
	int n;

	memset(reason, '"', sizeof(reason) - 1);
	reason[0] = (char)0xc3; /* a cut UTF-8 sequence */
	reason[1] = '\n';
	reason[sizeof(reason) - 1] = '\0';
	n = control_reply_error(out, 1024, -EINVAL, reason);
	assert_true(n > 0 && n <= 1024);
	j = json_loadb(out, (size_t)n, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "errno")), "EINVAL");
	assert_memory_equal(json_string_value(json_object_get(j, "error")), "??\"\"", 4);
	json_decref(j);
}

static void reply_register__exact_text(void **state)
{
	struct control_reg reg = { .vm_id = "vm-42", .region_fd = 3, .region_size = 65536 };

	reply_is(control_reply_register(out, sizeof(out), &reg),
		 "{\"ok\":true,\"vm\":\"vm-42\",\"region_size\":65536}");
}

static void reply_register__unterminated_id__cut_safely(void **state)
{
	struct control_reg reg = { .region_fd = 3, .region_size = 65536 };

	memset(reg.vm_id, 'a', sizeof(reg.vm_id));
	reply_is(control_reply_register(out, sizeof(out), &reg),
		 "{\"ok\":true,\"vm\":\"aaaaaaaaaaaaaaaaaaaaaaaa\",\"region_size\":65536}");
}

static void reply_smccc__signed_extremes__exact(void **state)
{
	reply_is(control_reply_smccc(out, sizeof(out), -1), "{\"ok\":true,\"ret\":-1}");
	reply_is(control_reply_smccc(out, sizeof(out), INT64_MIN),
		 "{\"ok\":true,\"ret\":-9223372036854775808}");
	reply_is(control_reply_smccc(out, sizeof(out), INT64_MAX),
		 "{\"ok\":true,\"ret\":9223372036854775807}");
}

static void reply_snapshot__values__exact(void **state)
{
	struct control_vcpu_value v[] = { { 0, 5 }, { 4095, UINT64_MAX } };

	reply_is(control_reply_snapshot(out, sizeof(out), v, 0), "{\"ok\":true,\"vcpus\":[]}");
	reply_is(control_reply_snapshot(out, sizeof(out), v, 2),
		 "{\"ok\":true,\"vcpus\":[{\"vcpu\":0,\"stolen_ns\":5},"
		 "{\"vcpu\":4095,\"stolen_ns\":9223372036854775807}]}");
}

static void reply_snapshot__max_values__fit_max_reply(void **state)
{
	struct control_vcpu_value *v = calloc(CONTROL_MAX_SNAPSHOT, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < CONTROL_MAX_SNAPSHOT; i++)
		v[i] = (struct control_vcpu_value){ CONTROL_MAX_VCPU, INT64_MAX };
	assert_true(control_reply_snapshot(out, CONTROL_MAX_REPLY, v, CONTROL_MAX_SNAPSHOT) > 0);
	free(v);
}

static void reply__buffer_too_small__emsgsize(void **state)
{
	assert_int_equal(control_reply_ok(out, 5), -EMSGSIZE);
	assert_int_equal(control_reply_smccc(out, 10, 1), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(register__aligned_ipa__parsed),
		cmocka_unit_test(register__highest_aligned_ipa__parsed),
		cmocka_unit_test(register__unaligned_ipa__einval),
		cmocka_unit_test(register__bad_ipa_types__einval),
		cmocka_unit_test(register__beyond_int64__einval_naming_field),
		cmocka_unit_test(register__beyond_int64_nested__eproto),
		cmocka_unit_test(register__unknown_key__einval_naming_key),
		cmocka_unit_test(set_ipa__without_initial__parsed),
		cmocka_unit_test(set_ipa__with_initial__parsed),
		cmocka_unit_test(set_ipa__vcpu_bounds__4095_ok_4096_einval),
		cmocka_unit_test(set_ipa__bad_vcpu__einval),
		cmocka_unit_test(set_ipa__bad_ipa__einval),
		cmocka_unit_test(set_ipa__bad_initial__einval),
		cmocka_unit_test(set_ipa__unknown_key__einval_naming_key),
		cmocka_unit_test(smccc__all_fields__parsed),
		cmocka_unit_test(smccc__no_arg__arg_zero),
		cmocka_unit_test(smccc__function_bounds__u32_only),
		cmocka_unit_test(smccc__bad_arg__einval),
		cmocka_unit_test(snapshot_unregister__bare__parsed),
		cmocka_unit_test(snapshot_unregister__extra_key__einval),
		cmocka_unit_test(op__missing_or_not_string__einval),
		cmocka_unit_test(op__unknown__einval_naming_it),
		cmocka_unit_test(op__long_unprintable_name__echo_cut),
		cmocka_unit_test(message__not_json__eproto),
		cmocka_unit_test(message__not_object__eproto),
		cmocka_unit_test(message__trailing_bytes__eproto),
		cmocka_unit_test(message__nul_bytes__eproto),
		cmocka_unit_test(message__duplicate_key__eproto),
		cmocka_unit_test(message__empty__eproto),
		cmocka_unit_test(message__size_limit__max_ok_one_more_emsgsize),
		cmocka_unit_test(message__deep_nesting__refused_without_crash),
		cmocka_unit_test(parse__error_buffer_small_or_null__safe),
		cmocka_unit_test(parse__after_error__request_cleared),
		cmocka_unit_test(errno_name__table__names_or_eio),
		cmocka_unit_test(reply_ok_error__exact_text),
		cmocka_unit_test(reply_error__no_reason__strerror),
		cmocka_unit_test(reply_error__hostile_reason__valid_bounded_json),
		cmocka_unit_test(reply_register__exact_text),
		cmocka_unit_test(reply_register__unterminated_id__cut_safely),
		cmocka_unit_test(reply_smccc__signed_extremes__exact),
		cmocka_unit_test(reply_snapshot__values__exact),
		cmocka_unit_test(reply_snapshot__max_values__fit_max_reply),
		cmocka_unit_test(reply__buffer_too_small__emsgsize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
