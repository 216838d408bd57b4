// link: daemon/web_config.c daemon/config_error.c
// SPDX-License-Identifier: GPL-2.0
/*
 * The web configuration file (exporter-toolkit's subset): good files, and
 * each kind of bad one refused with its key and place. The certificates in
 * tests/unit/data/web are self-signed test material (EC P-256, CN
 * localhost, valid for 100 years): cert.pem with key.pem, and other-key.pem
 * that belongs to no certificate here. The bcrypt hashes were made by
 * htpasswd -nbB -C 4 (apache2-utils), so not by the library that checks them.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "web_config.h"

#define DATA "tests/unit/data/web"
#define ALICE "$2y$04$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK" /* secret */
#define BOB "$2y$04$LQYkCXGzA6dItd.FhX0TOemfbwCxGAUFzdm3BhdU6FXA4zSTDQGMW"   /* pa:ss word */

struct result {
	int ret;
	struct web_config w;
	char err[512];
};

/* Loads text as the file t.yml in the repository's test data folder */
static struct result load(const char *text)
{
	struct result r;

	memset(r.err, 'X', sizeof(r.err));
	memset(&r.w, 'X', sizeof(r.w));
	r.ret = web_config_load_buffer("t.yml", DATA, text, strlen(text), &r.w, r.err,
				       sizeof(r.err));
	return r;
}

static void assert_accepted(struct result *r)
{
	if (r->ret)
		fail_msg("rejected (%d): %s", r->ret, r->err);
	assert_string_equal(r->err, "");
}

/* -EINVAL, an error starting with prefix on one line, and nothing kept */
static void assert_rejected(struct result *r, const char *prefix)
{
	assert_int_equal(r->ret, -EINVAL);
	if (strncmp(r->err, prefix, strlen(prefix)))
		fail_msg("error \"%s\" does not start with \"%s\"", r->err, prefix);
	assert_null(strchr(r->err, '\n'));
	assert_null(r->w.cert_pem);
	assert_null(r->w.key_pem);
	assert_null(r->w.users);
	assert_int_equal(r->w.nusers, 0);
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static char *file_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 16) - 1, f) > 0);
	fclose(f);
	return buf;
}

/* --- good files ----------------------------------------------------------------- */

static void full_file__tls_and_users__all_loaded_in_order(void **state)
{
	struct result r = load("# exporter-toolkit web configuration\n"
			       "tls_server_config:\n"
			       "  cert_file: cert.pem\n"
			       "  key_file: key.pem\n"
			       "  client_auth_type: NoClientCert\n"
			       "basic_auth_users:\n"
			       "  alice: " ALICE "\n"
			       "  'bob': '" BOB "'\n");
	char *cert = file_text(DATA "/cert.pem"), *key = file_text(DATA "/key.pem");

	assert_accepted(&r);
	assert_string_equal(r.w.cert_pem, cert);
	assert_string_equal(r.w.key_pem, key);
	assert_int_equal(r.w.nusers, 2);
	assert_string_equal(r.w.users[0].name, "alice");
	assert_string_equal(r.w.users[0].hash, ALICE);
	assert_string_equal(r.w.users[1].name, "bob");
	assert_string_equal(r.w.users[1].hash, BOB);
	web_config_free(&r.w);
	assert_null(r.w.users);
	free(cert);
	free(key);
}

static void empty_forms__nothing_configured__plain_http_without_auth(void **state)
{
	static const char *const texts[] = {
		"", "# nothing\n", "{}", "---\n", "tls_server_config:\nbasic_auth_users:\n",
		"tls_server_config: ~\nbasic_auth_users: {}\n", "tls_server_config: null\n",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct result r = load(texts[i]);

		assert_accepted(&r);
		assert_null(r.w.cert_pem);
		assert_null(r.w.key_pem);
		assert_int_equal(r.w.nusers, 0);
		web_config_free(&r.w);
	}
}

static void users_only__no_tls__users_loaded(void **state)
{
	struct result r = load("basic_auth_users: {alice: \"" ALICE "\"}\n");

	assert_accepted(&r);
	assert_null(r.w.cert_pem);
	assert_int_equal(r.w.nusers, 1);
	web_config_free(&r.w);
}

static void tls_only__absolute_paths__no_users(void **state)
{
	char cwd[PATH_MAX], text[3 * PATH_MAX];
	struct result r;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(text, sizeof(text),
		 "tls_server_config: {cert_file: %s/" DATA "/cert.pem, key_file: %s/" DATA
		 "/key.pem}\n", cwd, cwd);
	r = load(text);
	assert_accepted(&r);
	assert_non_null(r.w.cert_pem);
	assert_int_equal(r.w.nusers, 0);
	web_config_free(&r.w);
}

static void load_file__relative_paths__from_the_files_folder(void **state)
{
	char dir[] = "/tmp/test_web_config.XXXXXX", path[64], target[PATH_MAX], link[128];
	struct web_config w;
	char err[512];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "key.pem" : "cert.pem";

		snprintf(link, sizeof(link), "%s/%s", dir, name);
		snprintf(path, sizeof(path), DATA "/%s", name);
		assert_non_null(realpath(path, target));
		assert_int_equal(symlink(target, link), 0);
	}
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("tls_server_config:\n  cert_file: cert.pem\n  key_file: ./key.pem\n", f);
	fclose(f);
	if (web_config_load_file(path, &w, err, sizeof(err)))
		fail_msg("%s", err);
	assert_non_null(w.cert_pem);
	web_config_free(&w);
	for (const char *name = "cert.pem"; name; name = strcmp(name, "cert.pem") ? NULL : "key.pem") {
		snprintf(link, sizeof(link), "%s/%s", dir, name);
		unlink(link);
	}
	unlink(path);
	rmdir(dir);
}

static void load_file__missing__errno_and_path(void **state)
{
	struct web_config w;
	char err[512];

	assert_int_equal(web_config_load_file("/nonexistent/web.yml", &w, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent/web.yml: No such file or directory");
	assert_null(w.users);
}

/* --- bad files ------------------------------------------------------------------- */

static void bad_yaml__syntax__line_and_column(void **state)
{
	struct result r = load("basic_auth_users:\n  alice: [unclosed\n");

	assert_rejected(&r, "t.yml:3:1: invalid YAML: ");
	r = load("tls_server_config:\n\tcert_file: x\n");
	assert_rejected(&r, "t.yml:2:1: invalid YAML: found character that cannot start any token");
}

static void bad_yaml__two_documents__rejected(void **state)
{
	struct result r = load("basic_auth_users: {}\n---\nbasic_auth_users: {}\n");

	assert_rejected(&r, "t.yml:3:1: more than one YAML document");
}

static void unknown_key__top_level__named_with_its_place(void **state)
{
	struct result r = load("basic_auth_users: {}\nhttp_server_config:\n  http2: true\n");

	assert_rejected(&r, "t.yml:3:3: http_server_config: not supported by stealtimed (it "
			    "reads only tls_server_config and basic_auth_users)");
	r = load("tls_server_configs: {}\n");
	assert_rejected(&r, "t.yml:1:21: tls_server_configs: not supported");
}

static void unknown_key__in_tls_server_config__named(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
			       "  min_version: TLS13\n");

	assert_rejected(&r, "t.yml:4:16: tls_server_config.min_version: not supported by "
			    "stealtimed (it reads only cert_file, key_file and client_auth_type: "
			    "NoClientCert)");
	r = load("tls_server_config:\n  client_ca_file: ca.pem\n");
	assert_rejected(&r, "t.yml:2:19: tls_server_config.client_ca_file: not supported");
}

static void client_auth_type__other_than_none__refused(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
			       "  client_auth_type: RequireAndVerifyClientCert\n");

	assert_rejected(&r, "t.yml:4:21: tls_server_config.client_auth_type: "
			    "'RequireAndVerifyClientCert' is not supported");
}

static void cert_file__missing__path_and_reason(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: nope.pem\n  key_file: key.pem\n");

	assert_rejected(&r, "t.yml:2:14: tls_server_config.cert_file: " DATA
			    "/nope.pem: No such file or directory");
}

static void tls__one_file_of_two__refused(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: cert.pem\n");

	assert_rejected(&r, "t.yml:2:3: tls_server_config: key_file missing");
	r = load("tls_server_config:\n  key_file: key.pem\n");
	assert_rejected(&r, "t.yml:2:3: tls_server_config: cert_file missing");
	r = load("tls_server_config: {}\n");
	assert_rejected(&r, "t.yml:1:20: tls_server_config: cert_file missing");
}

static void tls__key_of_another_certificate__refused(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: cert.pem\n"
			       "  key_file: other-key.pem\n");

	assert_rejected(&r, "t.yml:2:3: tls_server_config: cert_file and key_file cannot serve TLS: ");
}

static void tls__not_pem__refused(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: key.pem\n  key_file: cert.pem\n");

	assert_rejected(&r, "t.yml:2:3: tls_server_config: cert_file and key_file cannot serve TLS: ");
}

static void tls__empty_path__refused(void **state)
{
	struct result r = load("tls_server_config:\n  cert_file: ''\n  key_file: key.pem\n");

	assert_rejected(&r, "t.yml:2:14: tls_server_config.cert_file: empty path");
}

static void hash__not_bcrypt__refused_at_the_user(void **state)
{
	static const char *const bad[] = {
		"secret",                                             /* a password, not a hash */
		"$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.", /* sha512crypt */
		"$1$salt$qJH7.N4xYta3aEG/dfqo/0",                    /* md5crypt */
		"$2y$03$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK", /* cost 3 */
		"$2y$32$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK", /* cost 32 */
		"$2x$04$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK", /* the buggy $2x$ */
		"$2y$04$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjS",  /* one short */
		"$2y$04$VdNeUWaMbEvso9g4w.rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK=", /* one more */
		"$2y$04$VdNeUWaMbEvso9g4w+rkReNFfc8VTzor8XHi5S0Cl0yeVbaZtTjSK", /* not bcrypt base64 */
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct result r;

		snprintf(text, sizeof(text), "basic_auth_users:\n  alice: '%s'\n", bad[i]);
		r = load(text);
		assert_rejected(&r, "t.yml:2:10: basic_auth_users.alice: not a bcrypt hash");
		assert_false(web_bcrypt_hash_valid(bad[i]));
	}
}

static void hash__each_bcrypt_variant__valid(void **state)
{
	assert_true(web_bcrypt_hash_valid(ALICE));
	assert_true(web_bcrypt_hash_valid("$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"));
	assert_true(web_bcrypt_hash_valid("$2a$31$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"));
}

static void users__bad_names_and_shapes__refused(void **state)
{
	static const struct {
		const char *text, *prefix;
	} cases[] = {
		{ "basic_auth_users:\n  'a:b': " ALICE "\n",
		  "t.yml:2:10: basic_auth_users.a:b: a user name is 1..255 bytes without ':'" },
		{ "basic_auth_users:\n  '': " ALICE "\n",
		  "t.yml:2:7: basic_auth_users.: a user name is 1..255 bytes" },
		{ "basic_auth_users:\n  alice: " ALICE "\n  alice: " BOB "\n",
		  "t.yml:3:3: basic_auth_users: duplicate key 'alice'" },
		{ "basic_auth_users:\n  - alice\n",
		  "t.yml:2:3: basic_auth_users: expected a mapping, got a sequence" },
		{ "basic_auth_users: alice\n",
		  "t.yml:1:19: basic_auth_users: expected a mapping, got a scalar" },
		{ "basic_auth_users:\n  alice:\n",
		  "t.yml:2:9: basic_auth_users.alice: expected a string, got null" },
		{ "basic_auth_users:\n  alice: {hash: x}\n",
		  "t.yml:2:10: basic_auth_users.alice: expected a string, got a mapping" },
		{ "basic_auth_users:\n  [alice]: " ALICE "\n",
		  "t.yml:2:3: basic_auth_users: keys must be strings" },
		{ "- basic_auth_users\n", "t.yml:1:1: expected a mapping, got a sequence" },
		{ "tls_server_config:\n  cert_file: [a]\n  key_file: key.pem\n",
		  "t.yml:2:14: tls_server_config.cert_file: expected a string, got a sequence" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = load(cases[i].text);

		assert_rejected(&r, cases[i].prefix);
	}
}

static void error__control_characters__one_printable_line(void **state)
{
	struct result r = load("\"bad\\nkey\\u0007\": 1\n");

	assert_rejected(&r, "t.yml:1:19: bad?key?: not supported");
	assert_contains(r.err, "tls_server_config and basic_auth_users");
}

static void equal__same_and_changed__told_apart(void **state)
{
	struct result a = load("tls_server_config: {cert_file: cert.pem, key_file: key.pem}\n"
			       "basic_auth_users: {alice: '" ALICE "'}\n");
	struct result b = load("tls_server_config: {cert_file: ./cert.pem, key_file: key.pem}\n"
			       "basic_auth_users: {alice: '" ALICE "'}\n");
	struct result c = load("tls_server_config: {cert_file: cert.pem, key_file: key.pem}\n"
			       "basic_auth_users: {alice: '" BOB "'}\n");
	struct result d = load("basic_auth_users: {alice: '" ALICE "'}\n");

	assert_accepted(&a);
	assert_accepted(&b);
	assert_accepted(&c);
	assert_accepted(&d);
	assert_true(web_config_equal(&a.w, &b.w));
	assert_false(web_config_equal(&a.w, &c.w));
	assert_false(web_config_equal(&a.w, &d.w));
	web_config_free(&a.w);
	web_config_free(&b.w);
	web_config_free(&c.w);
	web_config_free(&d.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_file__tls_and_users__all_loaded_in_order),
		cmocka_unit_test(empty_forms__nothing_configured__plain_http_without_auth),
		cmocka_unit_test(users_only__no_tls__users_loaded),
		cmocka_unit_test(tls_only__absolute_paths__no_users),
		cmocka_unit_test(load_file__relative_paths__from_the_files_folder),
		cmocka_unit_test(load_file__missing__errno_and_path),
		cmocka_unit_test(bad_yaml__syntax__line_and_column),
		cmocka_unit_test(bad_yaml__two_documents__rejected),
		cmocka_unit_test(unknown_key__top_level__named_with_its_place),
		cmocka_unit_test(unknown_key__in_tls_server_config__named),
		cmocka_unit_test(client_auth_type__other_than_none__refused),
		cmocka_unit_test(cert_file__missing__path_and_reason),
		cmocka_unit_test(tls__one_file_of_two__refused),
		cmocka_unit_test(tls__key_of_another_certificate__refused),
		cmocka_unit_test(tls__not_pem__refused),
		cmocka_unit_test(tls__empty_path__refused),
		cmocka_unit_test(hash__not_bcrypt__refused_at_the_user),
		cmocka_unit_test(hash__each_bcrypt_variant__valid),
		cmocka_unit_test(users__bad_names_and_shapes__refused),
		cmocka_unit_test(error__control_characters__one_printable_line),
		cmocka_unit_test(equal__same_and_changed__told_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
