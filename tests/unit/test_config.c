// link: daemon/config.c daemon/config_error.c daemon/log.c
// SPDX-License-Identifier: GPL-2.0
/* The configuration file: defaults, every key, and errors placed at FILE:LINE:COLUMN. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"

#define ERRLEN 512

struct result {
	int ret;
	struct config before, after;
	char err[ERRLEN];
};

/* A configuration different from the defaults in every field */
static void config_other(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->listen, "[::1]:1");
	strcpy(c->web_config_file, "/other/web.yml");
	c->http_timeout_s = 3;
	c->http_max_conns = 33;
	c->http_max_conns_per_addr = 4;
	strcpy(c->control_socket, "/other/control");
	strcpy(c->control_group, "other");
	strcpy(c->pin_dir, "/other/pins");
	c->rescan_interval_s = 77;
	c->commit = false;
	c->count_wakeups = true;
	c->max_vms = 7;
	c->max_vcpus = 77;
	c->max_attribution_entries = 777;
	c->max_initial_steal_s = 7777;
	c->reserved_percent = 27;
	c->top_culprits = 17;
	c->vcpu_detail = false;
	c->log_level = LOG_DEBUG;
}

static struct result load_over(const struct config *start, const char *text)
{
	struct result r;

	memcpy(&r.before, start, sizeof(r.before));
	memcpy(&r.after, start, sizeof(r.after));
	memset(r.err, 'X', sizeof(r.err));
	r.ret = config_load_buffer("t.json", text, strlen(text), &r.after, r.err, sizeof(r.err));
	return r;
}

static struct result load(const char *text)
{
	struct config c;

	config_defaults(&c);
	return load_over(&c, text);
}

static void assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->listen, b->listen);
	assert_string_equal(a->web_config_file, b->web_config_file);
	assert_int_equal(a->http_timeout_s, b->http_timeout_s);
	assert_int_equal(a->http_max_conns, b->http_max_conns);
	assert_int_equal(a->http_max_conns_per_addr, b->http_max_conns_per_addr);
	assert_string_equal(a->control_socket, b->control_socket);
	assert_string_equal(a->control_group, b->control_group);
	assert_string_equal(a->pin_dir, b->pin_dir);
	assert_int_equal(a->rescan_interval_s, b->rescan_interval_s);
	assert_int_equal(a->commit, b->commit);
	assert_int_equal(a->count_wakeups, b->count_wakeups);
	assert_int_equal(a->max_vms, b->max_vms);
	assert_int_equal(a->max_vcpus, b->max_vcpus);
	assert_int_equal(a->max_attribution_entries, b->max_attribution_entries);
	assert_int_equal(a->max_initial_steal_s, b->max_initial_steal_s);
	assert_int_equal(a->reserved_percent, b->reserved_percent);
	assert_int_equal(a->top_culprits, b->top_culprits);
	assert_int_equal(a->vcpu_detail, b->vcpu_detail);
	assert_int_equal(a->log_level, b->log_level);
}

/* Failed with -EINVAL, err starts with prefix, and the struct is byte for byte unchanged */
static void assert_rejected(const struct result *r, const char *prefix)
{
	assert_int_equal(r->ret, -EINVAL);
	if (strncmp(r->err, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", r->err, prefix);
	assert_memory_equal(&r->before, &r->after, sizeof(r->after));
}

static void assert_accepted(const struct result *r)
{
	if (r->ret != 0)
		fail_msg("rejected (%d): %s", r->ret, r->err);
	assert_string_equal(r->err, "");
}

static void defaults__fresh_struct__documented_values(void **state)
{
	struct config c;

	memset(&c, 'X', sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.listen, "127.0.0.1:9477");
	assert_string_equal(c.web_config_file, "");
	assert_int_equal(c.http_timeout_s, 10);
	assert_int_equal(c.http_max_conns, 64);
	assert_int_equal(c.http_max_conns_per_addr, 16);
	assert_string_equal(c.control_socket, "/run/stealtimed/control.sock");
	assert_string_equal(c.control_group, "");
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/stealtimed");
	assert_int_equal(c.rescan_interval_s, 5);
	assert_true(c.commit);
	assert_int_equal(c.max_vms, 4096);
	assert_int_equal(c.max_vcpus, 16384);
	assert_int_equal(c.max_attribution_entries, 4096);
	assert_int_equal(c.reserved_percent, 6);
	assert_int_equal(c.top_culprits, 5);
	assert_int_equal(c.log_level, LOG_INFO);
}

static void shipped_file__loaded_over_other_values__exactly_the_defaults(void **state)
{
	struct config c, defaults;
	char err[ERRLEN] = "";
	int ret;

	config_other(&c);
	config_defaults(&defaults);
	ret = config_load_file("config/stealtimed.json", &c, err, sizeof(err));
	if (ret)
		fail_msg("config/stealtimed.json (run from the repository root): %d %s", ret, err);
	assert_config_equal(&c, &defaults);
}

static void every_key__overridden__every_field_set(void **state)
{
	struct result r = load("{\n"
			       "  \"listen\": \"[::1]:1\",\n"
			       "  \"web_config_file\": \"/other/web.yml\",\n"
			       "  \"http\": { \"connection_timeout_seconds\": 3, \"max_connections\": 33,\n"
			       "            \"max_connections_per_address\": 4 },\n"
			       "  \"control_socket\": \"/other/control\",\n"
			       "  \"control_group\": \"other\",\n"
			       "  \"pin_dir\": \"/other/pins\",\n"
			       "  \"rescan_interval_seconds\": 77,\n"
			       "  \"commit\": false,\n"
			       "  \"count_wakeups\": true,\n"
			       "  \"limits\": { \"vms\": 7, \"vcpus\": 77, \"attribution_entries\": 777,\n"
			       "              \"initial_steal_seconds\": 7777, \"reserved_percent\": 27 },\n"
			       "  \"top_culprits\": 17,\n"
			       "  \"vcpu_detail\": false,\n"
			       "  \"log_level\": \"debug\"\n"
			       "}\n");
	struct config other;

	config_other(&other);
	assert_accepted(&r);
	assert_config_equal(&r.after, &other);
}

static void partial_file__some_keys__others_kept(void **state)
{
	struct config other;
	struct result r;

	config_other(&other);
	r = load_over(&other, "{\"limits\": {\"vcpus\": 8}, \"commit\": true}");
	assert_accepted(&r);
	other.max_vcpus = 8;
	other.commit = true;
	assert_config_equal(&r.after, &other);
}

static void empty_object__loaded__nothing_changes(void **state)
{
	struct config other;
	struct result r;

	config_other(&other);
	r = load_over(&other, " { } ");
	assert_accepted(&r);
	assert_config_equal(&r.after, &other);
}

static void unknown_key__top_level__error_at_the_key(void **state)
{
	struct result r = load("{\n"
			       "  \"listen\": \"127.0.0.1:1\",\n"
			       "    \"colour\": 3\n"
			       "}\n");

	assert_rejected(&r, "t.json:3:5: colour: unknown key");
}

static void unknown_key__inside_limits__error_at_the_key(void **state)
{
	struct result r = load("{\n"
			       "  \"limits\": {\n"
			       "    \"vms\": 4,\n"
			       "    \"cpus\": 4\n"
			       "  }\n"
			       "}\n");

	assert_rejected(&r, "t.json:4:5: limits.cpus: unknown key");
}

static void unknown_key__same_line_as_others__column_of_the_key(void **state)
{
	struct result r = load("{\"limits\": {\"vms\": 4, \"vm\": 1}}");

	assert_rejected(&r, "t.json:1:23: limits.vm: unknown key");
}

static void unknown_key__comment_style_key__rejected(void **state)
{
	struct result r = load("{\"_comment\": \"defaults\"}");

	assert_rejected(&r, "t.json:1:2: _comment: unknown key");
}

static void wrong_type__string_for_integer__error_at_the_value(void **state)
{
	struct result r = load("{\n  \"top_culprits\":   \"5\"\n}");

	assert_rejected(&r, "t.json:2:21: top_culprits: expected an integer, got a string");
}

static void wrong_type__each_kind__rejected(void **state)
{
	static const struct {
		const char *text, *prefix;
	} cases[] = {
		{ "{\"listen\": 9477}", "t.json:1:12: listen: expected a string, got an integer" },
		{ "{\"commit\": \"yes\"}", "t.json:1:12: commit: expected true or false, got a string" },
		{ "{\"commit\": null}", "t.json:1:12: commit: expected true or false, got null" },
		{ "{\"limits\": [1]}", "t.json:1:12: limits: expected an object, got an array" },
		{ "{\"limits\": {\"vms\": 1.0}}",
		  "t.json:1:20: limits.vms: expected an integer, got a number" },
		{ "{\"log_level\": 6}", "t.json:1:15: log_level: expected a string, got an integer" },
		{ "{\"pin_dir\": {\"a\": 1}}", "t.json:1:13: pin_dir: expected a string, got an object" },
		{ "[]", "t.json:1:1: the configuration must be a JSON object" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = load(cases[i].text);

		assert_rejected(&r, cases[i].prefix);
	}
}

static void out_of_range__each_integer__bounds_accepted_and_beyond_rejected(void **state)
{
	/* each text has its value at line 2, column "column" */
	static const struct {
		const char *text_fmt;
		const char *key;
		unsigned column;
		long min, max;
	} keys[] = {
		{ "{\n  \"rescan_interval_seconds\": %ld}", "rescan_interval_seconds", 30, 1, 3600 },
		{ "{\n  \"top_culprits\": %ld}", "top_culprits", 19, 1, 50 },
		{ "{\n  \"limits\": {\"vms\": %ld}}", "limits.vms", 21, 1, 4096 },
		{ "{\n  \"limits\": {\"vcpus\": %ld}}", "limits.vcpus", 23, 1, 16384 },
		{ "{\n  \"limits\": {\"attribution_entries\": %ld}}", "limits.attribution_entries",
		  37, 16, 65536 },
		{ "{\n  \"limits\": {\"reserved_percent\": %ld}}", "limits.reserved_percent", 34, 0, 50 },
		{ "{\n  \"http\": {\"connection_timeout_seconds\": %ld}}",
		  "http.connection_timeout_seconds", 42, 1, 3600 },
		{ "{\n  \"http\": {\"max_connections\": %ld}}", "http.max_connections", 31, 1, 4096 },
		{ "{\n  \"http\": {\"max_connections_per_address\": %ld}}",
		  "http.max_connections_per_address", 43, 1, 4096 },
	};
	char text[128], prefix[128];
	struct result r;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const long ok[] = { keys[i].min, keys[i].max };
		const long bad[] = { keys[i].min - 1, keys[i].max + 1, -1, 4294967297L };

		for (size_t j = 0; j < 2; j++) {
			snprintf(text, sizeof(text), keys[i].text_fmt, ok[j]);
			r = load(text);

			assert_accepted(&r);
		}
		for (size_t j = 0; j < 4; j++) {
			snprintf(text, sizeof(text), keys[i].text_fmt, bad[j]);
			snprintf(prefix, sizeof(prefix), "t.json:2:%u: %s: %ld is out of range %ld..%ld",
				 keys[i].column, keys[i].key, bad[j], keys[i].min, keys[i].max);
			r = load(text);

			assert_rejected(&r, prefix);
		}
	}
}

static void out_of_range__limits_set__values_stored(void **state)
{
	struct result r = load("{\"limits\": {\"vms\": 1, \"vcpus\": 4096, \"attribution_entries\": 16}}");

	assert_accepted(&r);
	assert_int_equal(r.after.max_vms, 1);
	assert_int_equal(r.after.max_vcpus, 4096);
	assert_int_equal(r.after.max_attribution_entries, 16);
}

static void syntax_error__missing_value__jansson_line_and_column(void **state)
{
	struct result r = load("{\n  \"listen\": \"127.0.0.1:1\",\n  \"commit\": ,\n}\n");

	assert_rejected(&r, "t.json:3:13: unexpected token near ','");
}

static void syntax_error__trailing_garbage__rejected(void **state)
{
	struct result r = load("{}\nx");

	assert_rejected(&r, "t.json:2:1: end of file expected near 'x'");
}

static void syntax_error__empty_text__line_1(void **state)
{
	struct result r = load("");

	assert_rejected(&r, "t.json:1:1: ");
}

static void syntax_error__integer_too_big__rejected(void **state)
{
	struct result r = load("{\"top_culprits\": 99999999999999999999999}");

	assert_rejected(&r, "t.json:1:40: too big integer");
}

static void duplicate_key__top_level__rejected_at_the_second(void **state)
{
	struct result r = load("{\n  \"commit\": true,\n  \"commit\": false\n}");

	assert_rejected(&r, "t.json:3:10: duplicate object key");
}

static void duplicate_key__inside_limits__rejected(void **state)
{
	struct result r = load("{\"limits\": {\"vms\": 1, \"vms\": 2}}");

	assert_rejected(&r, "t.json:1:27: duplicate object key");
}

static void error__after_valid_keys__struct_unchanged(void **state)
{
	struct config other;
	struct result r;

	config_other(&other);
	r = load_over(&other, "{\"listen\": \"127.0.0.1:2\", \"commit\": true, \"limits\": "
			      "{\"vms\": 2, \"vcpus\": 0}}");
	assert_rejected(&r, "t.json:1:73: limits.vcpus: 0 is out of range 1..16384");
	assert_config_equal(&r.after, &other);
}

static void string__longest_that_fits__accepted_one_more_rejected(void **state)
{
	char path[200], text[300];
	struct result r;

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0'; /* 107 bytes + NUL = sizeof(sun_path) */
	snprintf(text, sizeof(text), "{\"control_socket\": \"%s\"}", path);
	r = load(text);
	assert_accepted(&r);
	assert_string_equal(r.after.control_socket, path);

	path[107] = 'a';
	path[108] = '\0';
	snprintf(text, sizeof(text), "{\"control_socket\": \"%s\"}", path);
	r = load(text);
	assert_rejected(&r, "t.json:1:20: control_socket: longer than 107 bytes");

	r = load("{\"control_group\": \"0123456789012345678901234567890123456789"
		 "012345678901234567890123\"}");
	assert_rejected(&r, "t.json:1:19: control_group: longer than 63 bytes");
}

static void path__relative__rejected(void **state)
{
	struct result r = load("{\"pin_dir\": \"sys/fs/bpf/x\"}");

	assert_rejected(&r, "t.json:1:13: pin_dir: must be an absolute path");
	r = load("{\"control_socket\": \"\"}");
	assert_rejected(&r, "t.json:1:20: control_socket: must be an absolute path");
	r = load("{\"web_config_file\": \"web.yml\"}");
	assert_rejected(&r, "t.json:1:21: web_config_file: must be an absolute path");
	r = load("{\"web_config_file\": \"\"}"); /* empty: no web configuration */
	assert_accepted(&r);
}

static void listen__accepted_forms__stored(void **state)
{
	static const char *const good[] = {
		"127.0.0.1:9477", "0.0.0.0:80", ":9477", "[::1]:9477", "[::]:1", "[fe80::1]:65535",
	};
	char text[128];
	struct result r;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "{\"listen\": \"%s\"}", good[i]);
		r = load(text);

		assert_accepted(&r);
		assert_string_equal(r.after.listen, good[i]);
	}
}

static void listen__malformed__rejected_at_the_value(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1",     "localhost:9477", "::1:9477",      "[::1]9477", "[::1:9477",
		"127.0.0.1:",    "127.0.0.1:x",    "1.2.3.4:65536", "[]:80",     "[1.2.3.4]:80",
		"1.2.3.4:-1",    "",               "1.2.3:80",      ":123456",
	};
	char text[128];
	struct result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"listen\": \"%s\"}", bad[i]);
		r = load(text);

		assert_rejected(&r, "t.json:1:12: listen: expected HOST:PORT");
	}
}

static void log_level__every_name__its_syslog_level(void **state)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "debug", LOG_DEBUG },     { "info", LOG_INFO }, { "notice", LOG_NOTICE },
		{ "warning", LOG_WARNING }, { "err", LOG_ERR },
	};
	char text[64];
	struct result r;

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(text, sizeof(text), "{\"log_level\": \"%s\"}", levels[i].name);
		r = load(text);

		assert_accepted(&r);
		assert_int_equal(r.after.log_level, levels[i].level);
	}
}

static void log_level__unknown_name__rejected(void **state)
{
	struct result r = load("{\"log_level\": \"verbose\"}");

	assert_rejected(&r, "t.json:1:15: log_level: expected one of debug, info");
}

static void position__key_text_elsewhere__finds_the_member(void **state)
{
	/* "vms" occurs first as a string value and inside a skipped nested value */
	struct result r = load("{\"control_group\": \"vms\",\n"
			       " \"listen\": \":1\", \"limits\": {\"vcpus\": 2,\n"
			       "   \"vms\": 0}}");

	assert_rejected(&r, "t.json:3:11: limits.vms: 0 is out of range");
}

static void position__escaped_key__found(void **state)
{
	struct result r = load("{\"limits\": {\"v\\u006ds\": 0}}");

	assert_rejected(&r, "t.json:1:25: limits.vms: 0 is out of range");
}

static void position__multibyte_text_before__columns_count_characters(void **state)
{
	/* "é" is 2 bytes, "€" 3: one column each, as jansson counts */
	struct result r = load("{\"control_group\": \"é€\", \"top_culprits\": 0}");

	assert_rejected(&r, "t.json:1:41: top_culprits: 0 is out of range");
	r = load("{\"control_group\": \"é€\", \"top_culprits\": }");
	assert_rejected(&r, "t.json:1:41: unexpected token");
}

static void position__control_character_in_key__printed_safely(void **state)
{
	struct result r = load("{\"a\\nb\": 1}");

	assert_rejected(&r, "t.json:1:2: a?b: unknown key");
}

static void load_file__missing__enoent_and_the_path(void **state)
{
	struct config c, before;
	char err[ERRLEN];

	config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(config_load_file("/nonexistent/stealtimed.json", &c, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent/stealtimed.json: No such file or directory");
	assert_memory_equal(&c, &before, sizeof(c));
}

static void load_file__syntax_error__file_name_in_message(void **state)
{
	char path[] = "/tmp/test_config.XXXXXX", err[ERRLEN];
	struct config c;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	fputs("{\n  \"commit\": tru\n}\n", f);
	fclose(f);
	config_defaults(&c);
	assert_int_equal(config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_string_equal(err + strlen(path), ":2:15: invalid token near 'tru'");
}

static void load__no_error_buffer__still_rejects(void **state)
{
	struct config c;

	config_defaults(&c);
	assert_int_equal(config_load_buffer("x", "{\"y\": 1}", 8, &c, NULL, 0), -EINVAL);
	assert_int_equal(config_load_buffer("x", "{", 1, &c, NULL, 0), -EINVAL);
}

static void load__buffer_not_terminated__only_len_bytes_read(void **state)
{
	const char text[] = "{\"top_culprits\": 7}GARBAGE";
	struct config c;
	char err[ERRLEN];

	config_defaults(&c);
	assert_int_equal(config_load_buffer("x", text, strlen(text) - strlen("GARBAGE"), &c, err, sizeof(err)), 0);
	assert_int_equal(c.top_culprits, 7);
}

static void dump__then_load__same_configuration(void **state)
{
	struct config other, back;
	char *text = NULL, err[ERRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	config_other(&other);
	assert_int_equal(config_dump(&other, f), 0);
	fclose(f);
	config_defaults(&back);
	assert_int_equal(config_load_buffer("dump", text, len, &back, err, sizeof(err)), 0);
	assert_config_equal(&back, &other);
	free(text);
}

/* The same keys in the same order with the same values */
static void assert_same_document(const json_t *a, const json_t *b)
{
	void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);

	assert_true(json_equal((json_t *)a, (json_t *)b));
	for (; ia && ib; ia = json_object_iter_next((json_t *)a, ia),
			 ib = json_object_iter_next((json_t *)b, ib)) {
		assert_string_equal(json_object_iter_key(ia), json_object_iter_key(ib));
		if (json_is_object(json_object_iter_value(ia)))
			assert_same_document(json_object_iter_value(ia), json_object_iter_value(ib));
	}
	assert_null(ia);
	assert_null(ib);
}

static void dump__defaults__the_shipped_file(void **state)
{
	json_t *shipped = json_load_file("config/stealtimed.json", JSON_REJECT_DUPLICATES, NULL);
	json_t *dumped;
	struct config c;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(shipped);
	config_defaults(&c);
	assert_int_equal(config_dump(&c, f), 0);
	fclose(f);
	dumped = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(dumped);
	assert_same_document(dumped, shipped);
	json_decref(dumped);
	json_decref(shipped);
	free(text);
}

static void dump__unknown_log_level__error(void **state)
{
	struct config c;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	config_defaults(&c);
	c.log_level = 42;
	assert_int_equal(config_dump(&c, f), -EINVAL);
	fclose(f);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults__fresh_struct__documented_values),
		cmocka_unit_test(shipped_file__loaded_over_other_values__exactly_the_defaults),
		cmocka_unit_test(every_key__overridden__every_field_set),
		cmocka_unit_test(partial_file__some_keys__others_kept),
		cmocka_unit_test(empty_object__loaded__nothing_changes),
		cmocka_unit_test(unknown_key__top_level__error_at_the_key),
		cmocka_unit_test(unknown_key__inside_limits__error_at_the_key),
		cmocka_unit_test(unknown_key__same_line_as_others__column_of_the_key),
		cmocka_unit_test(unknown_key__comment_style_key__rejected),
		cmocka_unit_test(wrong_type__string_for_integer__error_at_the_value),
		cmocka_unit_test(wrong_type__each_kind__rejected),
		cmocka_unit_test(out_of_range__each_integer__bounds_accepted_and_beyond_rejected),
		cmocka_unit_test(out_of_range__limits_set__values_stored),
		cmocka_unit_test(syntax_error__missing_value__jansson_line_and_column),
		cmocka_unit_test(syntax_error__trailing_garbage__rejected),
		cmocka_unit_test(syntax_error__empty_text__line_1),
		cmocka_unit_test(syntax_error__integer_too_big__rejected),
		cmocka_unit_test(duplicate_key__top_level__rejected_at_the_second),
		cmocka_unit_test(duplicate_key__inside_limits__rejected),
		cmocka_unit_test(error__after_valid_keys__struct_unchanged),
		cmocka_unit_test(string__longest_that_fits__accepted_one_more_rejected),
		cmocka_unit_test(path__relative__rejected),
		cmocka_unit_test(listen__accepted_forms__stored),
		cmocka_unit_test(listen__malformed__rejected_at_the_value),
		cmocka_unit_test(log_level__every_name__its_syslog_level),
		cmocka_unit_test(log_level__unknown_name__rejected),
		cmocka_unit_test(position__key_text_elsewhere__finds_the_member),
		cmocka_unit_test(position__escaped_key__found),
		cmocka_unit_test(position__multibyte_text_before__columns_count_characters),
		cmocka_unit_test(position__control_character_in_key__printed_safely),
		cmocka_unit_test(load_file__missing__enoent_and_the_path),
		cmocka_unit_test(load_file__syntax_error__file_name_in_message),
		cmocka_unit_test(load__no_error_buffer__still_rejects),
		cmocka_unit_test(load__buffer_not_terminated__only_len_bytes_read),
		cmocka_unit_test(dump__then_load__same_configuration),
		cmocka_unit_test(dump__defaults__the_shipped_file),
		cmocka_unit_test(dump__unknown_log_level__error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
