// link: daemon/render_prom.c daemon/vm_naming.c daemon/host_view.c daemon/log.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Prometheus text of small host views, checked line by line.
 * "test_render_prom --dump-sample" prints the sample view's text instead
 * (tests/integration/prom_format.sh feeds it to promtool).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render_prom.h"

#define S(ns) ((uint64_t)(ns) * 1000000000ull)

/* --- helpers ------------------------------------------------------------- */

static char *render(const struct host_view *hv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(render_prom(hv, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *seconds(uint64_t ns)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	prom_write_seconds(f, ns);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *label_value(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	prom_write_label_value(f, s);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Lines of text equal to line. */
static int count_lines(const char *text, const char *line)
{
	size_t n = strlen(line);
	int count = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			count++;
		p += len + (nl != NULL);
	}
	return count;
}

/* Lines of text starting with prefix. */
static int count_prefixed(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	int count = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, n) == 0)
			count++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return count;
}

static void assert_line(const char *text, const char *line)
{
	if (count_lines(text, line) != 1)
		fail_msg("expected the line once:\n%s\nin:\n%s", line, text);
}

static void assert_before(const char *text, const char *first, const char *second)
{
	const char *a = strstr(text, first), *b = strstr(text, second);

	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
}

/* --- the sample view ------------------------------------------------------------- */

static struct vcpu_view web_vcpus[2];
static struct vcpu_view anon_vcpus[1];
static struct culprit_view web_culprits[6];
static struct vm_view sample_vms[2];
static struct host_view sample;

static void fill_sample(void)
{
	memset(web_vcpus, 0, sizeof(web_vcpus));
	memset(anon_vcpus, 0, sizeof(anon_vcpus));
	memset(sample_vms, 0, sizeof(sample_vms));
	memset(web_culprits, 0, sizeof(web_culprits));

	web_vcpus[0] = (struct vcpu_view){
		.index = 0, .tid = 4030, .steal_ns = S(1) + 1, .run_ns = S(1),
		.waits = 10, .preemptions = 3, .commit_enabled = true, .bound = true,
		.record_ipa = 0x90000000, .committed_ns = S(1), .commits = 5,
		.wakeups = 8, .max_wait_ns = S(2) + 5,
	};
	/* slots 0, 9 | 10, 11 | 12 | 20 | 30 | 31 */
	web_vcpus[0].hist[0] = 1;
	web_vcpus[0].throttled_known = true; /* vCPU 0 in a cgroup of its own, vCPU 1 not */
	web_vcpus[0].throttled_ns = 125000000;
	web_vcpus[0].hist[9] = 1;
	web_vcpus[0].hist[10] = 1;
	web_vcpus[0].hist[11] = 1;
	web_vcpus[0].hist[12] = 1;
	web_vcpus[0].hist[20] = 2;
	web_vcpus[0].hist[30] = 1;
	web_vcpus[0].hist[31] = 2;
	web_vcpus[1] = (struct vcpu_view){
		.index = 1, .tid = 4031, .steal_ns = UINT64_MAX, .run_ns = 0, .waits = 0,
		.wait_sum_ns = UINT64_MAX,
	};
	anon_vcpus[0] = (struct vcpu_view){ .index = 7, .tid = 4101, .bound = true, .steal_ns = 1,
					    .waits = 1 };
	anon_vcpus[0].hist[0] = 1;

	strcpy(sample_vms[0].id, "4021");
	strcpy(sample_vms[0].name, "web01");
	strcpy(sample_vms[0].uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	strcpy(sample_vms[0].comm, "qemu-system-x86");
	sample_vms[0].pid = 4021;
	sample_vms[0].registered = true;
	sample_vms[0].region_ipa = 0x90000000;
	sample_vms[0].nvcpus = 2;
	sample_vms[0].vcpus = web_vcpus;
	sample_vms[0].throttled_known = true;
	sample_vms[0].throttled_ns = 250000000;
	web_culprits[0] = (struct culprit_view){ .kind = CULPRIT_VM, .name = "db \"02\"",
						 .vm_id = "5000", .pid = 5000, .ns = S(3) };
	web_culprits[1] = (struct culprit_view){ .kind = CULPRIT_PROCESS, .name = "gzip",
						 .pid = 777, .cgroup = "/user.slice", .ns = S(1) };
	web_culprits[2] = (struct culprit_view){ .kind = CULPRIT_KERNEL, .name = "kworker/3:1",
						 .pid = 99, .ns = 1000 };
	web_culprits[3] = (struct culprit_view){ .kind = CULPRIT_PROCESS, .name = "gzip",
						 .pid = 778, .ns = 500000000 };
	web_culprits[4] = (struct culprit_view){ .kind = CULPRIT_OTHER, .name = "other", .ns = 1 };
	web_culprits[5] = (struct culprit_view){ .kind = CULPRIT_KERNEL, .name = "gzip",
						 .pid = 98, .ns = 2 };
	sample_vms[0].nculprits = 6;
	sample_vms[0].culprits = web_culprits;

	strcpy(sample_vms[1].id, "4100");
	strcpy(sample_vms[1].comm, "qemu-kvm");
	sample_vms[1].pid = 4100;
	sample_vms[1].nvcpus = 1;
	sample_vms[1].vcpus = anon_vcpus;

	sample = (struct host_view){
		.nvms = 2,
		.vms = sample_vms,
		.stats = { .rescans = 11, .rescan_requests = 12, .ringbuf_drops = 13,
			   .bad_slot = 14, .region_missing = 15, .discovery_errors = 16,
			   .slots_exhausted = 17, .http_requests = 18, .http_errors = 19,
			   .control_requests = 20, .control_errors = 21, .attribution_drops = 22,
			   .bind_failures = 23, .http_bytes_gzip = 24, .http_bytes_identity = 25,
			   .stale_binding = 26, .bind_retries = 27, .process_rescans = 28,
			   .rescan_apply_ns = 1500000000, .rescan_apply_max_ns = 250000000 },
	};
}

static const char *const families[] = {
	"stealtime_vcpu_steal_seconds_total",
	"stealtime_vcpu_run_seconds_total",
	"stealtime_vcpu_waits_total",
	"stealtime_vcpu_preemptions_total",
	"stealtime_vcpu_wakeups_total",
	"stealtime_vcpu_max_wait_seconds",
	"stealtime_vcpu_committed_seconds_total",
	"stealtime_vcpu_commits_total",
	"stealtime_vm_info",
	"stealtime_vm_stolen_by_seconds_total",
	"stealtime_vm_throttled_seconds_total",
	"stealtime_vcpu_throttled_seconds_total",
	"stealtime_vcpus_seeded",
	"stealtime_vcpus_unbound",
	"stealtime_vm_wait_seconds",
	"stealtime_vms",
	"stealtime_vcpus",
	"stealtime_daemon_rescans_total",
	"stealtime_daemon_process_rescans_total",
	"stealtime_daemon_rescan_requests_total",
	"stealtime_daemon_discovery_errors_total",
	"stealtime_daemon_slots_exhausted_total",
	"stealtime_daemon_bind_failures_total",
	"stealtime_daemon_bind_retries_total",
	"stealtime_daemon_http_requests_total",
	"stealtime_daemon_http_errors_total",
	"stealtime_daemon_http_response_bytes_total",
	"stealtime_daemon_rescan_apply_seconds_total",
	"stealtime_daemon_rescan_apply_max_seconds",
	"stealtime_daemon_control_requests_total",
	"stealtime_daemon_control_errors_total",
	"stealtime_bpf_ringbuf_drops_total",
	"stealtime_bpf_bad_slot_total",
	"stealtime_bpf_stale_binding_total",
	"stealtime_bpf_region_missing_total",
	"stealtime_bpf_attribution_drops_total",
};

/* --- seconds and label values ----------------------------------------------------- */

static void seconds__one_ns__nine_decimals(void **state)
{
	char *s = seconds(1);

	assert_string_equal(s, "0.000000001");
	free(s);
}

static void seconds__one_s__no_fraction(void **state)
{
	char *s = seconds(S(1));

	assert_string_equal(s, "1");
	free(s);
}

static void seconds__uint64_max__exact_digits(void **state)
{
	char *s = seconds(UINT64_MAX);

	assert_string_equal(s, "18446744073.709551615");
	free(s);
}

static void seconds__trailing_zeros__trimmed(void **state)
{
	char *a = seconds(S(1) + 500000000), *b = seconds(0), *c = seconds(1024);

	assert_string_equal(a, "1.5");
	assert_string_equal(b, "0");
	assert_string_equal(c, "0.000001024");
	free(a);
	free(b);
	free(c);
}

static void label_value__quote_backslash_newline__escaped(void **state)
{
	char *s = label_value("a\"b\\c\nd");

	assert_string_equal(s, "a\\\"b\\\\c\\nd");
	free(s);
}

static void label_value__utf8__kept(void **state)
{
	char *s = label_value("caf\xc3\xa9 \xe2\x82\xac");

	assert_string_equal(s, "caf\xc3\xa9 \xe2\x82\xac");
	free(s);
}

static void label_value__invalid_utf8__replacement_char(void **state)
{
	char *s = label_value("a\xff" "b\xc3");

	assert_string_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	free(s);
}

/* --- families ---------------------------------------------------------------------- */

static void render__sample__each_family_has_one_help_and_type(void **state)
{
	char *out = render(&sample);
	char prefix[128];

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(prefix, sizeof(prefix), "# HELP %s ", families[i]);
		assert_int_equal(count_prefixed(out, prefix), 1);
		snprintf(prefix, sizeof(prefix), "# TYPE %s ", families[i]);
		assert_int_equal(count_prefixed(out, prefix), 1);
	}
	assert_int_equal(count_prefixed(out, "# TYPE "), sizeof(families) / sizeof(families[0]));
	free(out);
}

static void render__empty_view__families_and_zero_gauges(void **state)
{
	struct host_view empty = { 0 };
	char *out = render(&empty);

	assert_int_equal(count_prefixed(out, "# TYPE "), sizeof(families) / sizeof(families[0]));
	assert_line(out, "# TYPE stealtime_vcpu_steal_seconds_total counter");
	assert_line(out, "# TYPE stealtime_vm_wait_seconds histogram");
	assert_int_equal(count_prefixed(out, "# TYPE stealtime_vcpu_wait_seconds"), 0);
	assert_line(out, "stealtime_vms 0");
	assert_line(out, "stealtime_vcpus 0");
	assert_line(out, "stealtime_vcpus_unbound 0");
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_"), 0);
	free(out);
}

static void render__vcpu_counters__exact_lines(void **state)
{
	char *out = render(&sample);

	assert_line(out, "stealtime_vcpu_steal_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 1.000000001");
	assert_line(out, "stealtime_vcpu_steal_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"1\"} 18446744073.709551615");
	assert_line(out, "stealtime_vcpu_run_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 1");
	assert_line(out, "stealtime_vcpu_run_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"1\"} 0");
	assert_line(out, "stealtime_vcpu_waits_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 10");
	assert_line(out, "stealtime_vcpu_preemptions_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 3");
	assert_line(out, "stealtime_vcpu_wakeups_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 8");
	assert_line(out, "stealtime_vcpu_max_wait_seconds{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 2.000000005");
	assert_line(out, "# TYPE stealtime_vcpu_max_wait_seconds gauge");
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_steal_seconds_total{"), 3);
	free(out);
}

static void render__vcpu_minimal__steal_and_run_only_per_vcpu(void **state)
{
	struct host_view hv = sample;
	char *full = render(&sample), *out;

	hv.vcpu_minimal = true;
	out = render(&hv);
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_steal_seconds_total{"), 3);
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_run_seconds_total{"), 3);
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_"), 6);
	assert_true(count_prefixed(full, "stealtime_vcpu_") > 6);
	assert_int_equal(count_prefixed(out, "# TYPE stealtime_vcpu_waits_total"), 0);
	assert_int_equal(count_prefixed(out, "# TYPE stealtime_vcpu_throttled_seconds_total"), 0);
	assert_int_equal(count_prefixed(out, "# TYPE stealtime_vcpu_committed_seconds_total"), 0);
	/* per-VM series stay whole */
	assert_int_equal(count_prefixed(out, "stealtime_vm_"), count_prefixed(full, "stealtime_vm_"));
	assert_line(out, "stealtime_vcpu_steal_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 1.000000001");
	free(out);
	free(full);
}

static void render__vm_without_name__vm_label_is_comm(void **state)
{
	char *out = render(&sample);

	assert_line(out, "stealtime_vcpu_steal_seconds_total{vm=\"qemu-kvm\",vm_id=\"4100\",vcpu=\"7\"} 0.000000001");
	free(out);
}

static void render__name_with_quotes_backslash_newline__escaped_in_every_series(void **state)
{
	struct vcpu_view v = { .index = 0, .steal_ns = 2 };
	struct vm_view vm = { .id = "x1", .name = "a \"b\"\\c\nd", .nvcpus = 1, .vcpus = &v };
	struct host_view hv = { .nvms = 1, .vms = &vm };
	char *out = render(&hv);

	assert_line(out, "stealtime_vcpu_steal_seconds_total{vm=\"a \\\"b\\\"\\\\c\\nd\",vm_id=\"x1\",vcpu=\"0\"} 0.000000002");
	assert_line(out, "stealtime_vm_info{vm=\"a \\\"b\\\"\\\\c\\nd\",vm_id=\"x1\",uuid=\"\",pid=\"0\",registered=\"false\"} 1");
	/* no raw newline inside a series */
	assert_int_equal(count_prefixed(out, "d\""), 0);
	free(out);
}

/* 255 invalid bytes escape to 765 bytes of U+FFFD: longer than a series is built in at once */
static void render__longest_name_invalid_utf8__whole_series(void **state)
{
	struct vcpu_view v[2] = { { .index = 0, .steal_ns = S(3) }, { .index = 41, .run_ns = 7 } };
	struct vm_view vm = { .id = "4021", .nvcpus = 2, .vcpus = v };
	struct host_view hv = { .nvms = 1, .vms = &vm };
	char *want = malloc(1024), *p = want, *out;

	assert_non_null(want);
	memset(vm.name, 0xff, sizeof(vm.name) - 1);
	p += sprintf(p, "stealtime_vcpu_steal_seconds_total{vm=\"");
	for (size_t i = 0; i < sizeof(vm.name) - 1; i++)
		p += sprintf(p, "\xef\xbf\xbd");
	sprintf(p, "\",vm_id=\"4021\",vcpu=\"0\"} 3");
	out = render(&hv);
	assert_line(out, want);
	memcpy(want, "stealtime_vcpu_run_seconds_total{", strlen("stealtime_vcpu_run_seconds_total{"));
	memmove(want + strlen("stealtime_vcpu_run_seconds_total{"),
		want + strlen("stealtime_vcpu_steal_seconds_total{"),
		strlen(want) - strlen("stealtime_vcpu_steal_seconds_total{") + 1);
	strcpy(strstr(want, "vcpu=\"0\"} 3"), "vcpu=\"41\"} 0.000000007");
	assert_line(out, want);
	free(out);
	free(want);
}

static void render__histogram__cumulative_buckets(void **state)
{
	char *out = render(&sample);

#define BUCKET(le, n) "stealtime_vm_wait_seconds_bucket{vm=\"web01\",vm_id=\"4021\",le=\"" le "\"} " #n
	assert_line(out, BUCKET("0.000001024", 2)); /* slots 0, 9 */
	assert_line(out, BUCKET("0.000004096", 4)); /* + 10, 11 */
	assert_line(out, BUCKET("0.000016384", 5)); /* + 12 */
	assert_line(out, BUCKET("0.000065536", 5));
	assert_line(out, BUCKET("0.000262144", 5));
	assert_line(out, BUCKET("0.001048576", 5));
	assert_line(out, BUCKET("0.004194304", 7)); /* + 20 (2) */
	assert_line(out, BUCKET("0.016777216", 7));
	assert_line(out, BUCKET("0.067108864", 7));
	assert_line(out, BUCKET("0.268435456", 7));
	assert_line(out, BUCKET("1.073741824", 7));
	assert_line(out, BUCKET("2.147483648", 8)); /* + 30 */
	assert_line(out, BUCKET("+Inf", 10));       /* + 31 (2), = waits */
#undef BUCKET
	/* vCPU 1's waits sum to UINT64_MAX ns: the VM's sum saturates */
	assert_line(out, "stealtime_vm_wait_seconds_sum{vm=\"web01\",vm_id=\"4021\"} 18446744073.709551615");
	assert_line(out, "stealtime_vm_wait_seconds_count{vm=\"web01\",vm_id=\"4021\"} 10");
	assert_int_equal(count_prefixed(out, "stealtime_vm_wait_seconds_bucket{vm=\"web01\",vm_id=\"4021\","), 13);
	assert_before(out, "le=\"0.000001024\"", "le=\"0.000004096\"");
	assert_before(out, "le=\"2.147483648\"", "le=\"+Inf\"");
	free(out);
}

static void render__histogram_ahead_of_waits__buckets_capped_at_count(void **state)
{
	struct vcpu_view v = { .index = 0, .waits = 2 };
	struct vm_view vm = { .id = "r", .name = "race", .nvcpus = 1, .vcpus = &v };
	struct host_view hv = { .nvms = 1, .vms = &vm };
	char *out;

	v.hist[0] = 3; /* BPF counted the slot, not yet the wait */
	out = render(&hv);
	assert_line(out, "stealtime_vm_wait_seconds_bucket{vm=\"race\",vm_id=\"r\",le=\"0.000001024\"} 2");
	assert_line(out, "stealtime_vm_wait_seconds_bucket{vm=\"race\",vm_id=\"r\",le=\"+Inf\"} 2");
	assert_line(out, "stealtime_vm_wait_seconds_count{vm=\"race\",vm_id=\"r\"} 2");
	free(out);
}

static void render__commit_series__only_vcpus_with_a_record(void **state)
{
	char *out = render(&sample);

	assert_line(out, "stealtime_vcpu_committed_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 1");
	assert_line(out, "stealtime_vcpu_commits_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 5");
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_committed_seconds_total{"), 1);
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_commits_total{"), 1);
	free(out);
}

static void render__vm_info__one_series_per_vm(void **state)
{
	char *out = render(&sample);

	assert_line(out, "stealtime_vm_info{vm=\"web01\",vm_id=\"4021\",uuid=\"c7a5fdbd-cdaf-9455-926a-d65c16db1809\",pid=\"4021\",registered=\"true\"} 1");
	assert_line(out, "stealtime_vm_info{vm=\"qemu-kvm\",vm_id=\"4100\",uuid=\"\",pid=\"4100\",registered=\"false\"} 1");
	assert_line(out, "stealtime_vms 2");
	assert_line(out, "stealtime_vcpus 3");
	assert_line(out, "stealtime_vcpus_unbound 1"); /* web01's vCPU 1 */
	free(out);
}

#define STOLEN_BY(kind, culprit) \
	"stealtime_vm_stolen_by_seconds_total{vm=\"web01\",vm_id=\"4021\",culprit_kind=\"" kind \
	"\",culprit=\"" culprit "\"} "

static void render__culprits__merged_by_kind_and_name(void **state)
{
	char *out = render(&sample);

	assert_line(out, STOLEN_BY("vm", "db \\\"02\\\"") "3");
	assert_line(out, STOLEN_BY("process", "gzip") "1.5"); /* pids 777 and 778 */
	assert_line(out, STOLEN_BY("kernel", "kworker/3:1") "0.000001");
	assert_line(out, STOLEN_BY("kernel", "gzip") "0.000000002"); /* same name, other kind */
	assert_line(out, STOLEN_BY("other", "other") "0.000000001");
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{vm=\"web01\""), 5);
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{"), 6);
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{vm=\"web01\",vm_id=\"4021\",culprit_kind=\""), 5);
	/* largest first */
	assert_before(out, STOLEN_BY("vm", "db \\\"02\\\""), STOLEN_BY("process", "gzip"));
	assert_before(out, STOLEN_BY("process", "gzip"), STOLEN_BY("kernel", "kworker/3:1"));
	assert_before(out, STOLEN_BY("kernel", "gzip"), STOLEN_BY("other", "other"));
	assert_null(strstr(out, "culprit_pid"));
	free(out);
}

static void render__culprits_beyond_top__summed_into_other(void **state)
{
	struct host_view hv = sample;
	char *out;

	hv.top_culprits = 2;
	out = render(&hv);
	assert_line(out, STOLEN_BY("vm", "db \\\"02\\\"") "3");
	assert_line(out, STOLEN_BY("process", "gzip") "1.5");
	/* kworker 1000 ns + kernel gzip 2 ns + kind other 1 ns */
	assert_line(out, STOLEN_BY("other", "other") "0.000001003");
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{vm=\"web01\""), 3);
	free(out);
}

static void render__exported_set__only_its_members_get_series(void **state)
{
	/* the daemon chose "slow" earlier; "fast" grew larger since: still other */
	struct culprit_view c[2] = {
		{ .kind = CULPRIT_PROCESS, .name = "fast", .pid = 1, .ns = 5000000000ULL },
		{ .kind = CULPRIT_PROCESS, .name = "slow", .pid = 2, .ns = 1000000000ULL },
	};
	struct culprit_key keep[1] = { { .kind = CULPRIT_PROCESS, .name = "slow" } };
	struct vm_view vm = { .id = "x", .name = "x", .nculprits = 2, .culprits = c,
			      .nexported = 1, .exported = keep };
	struct host_view hv = { .nvms = 1, .vms = &vm, .top_culprits = 5 };
	char *out = render(&hv);

	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"x\",vm_id=\"x\","
			 "culprit_kind=\"process\",culprit=\"slow\"} 1");
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"x\",vm_id=\"x\","
			 "culprit_kind=\"other\",culprit=\"other\"} 5");
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{vm=\"x\""), 2);
	free(out);
}

static void render__culprits_top_zero__five_and_other(void **state)
{
	struct culprit_view c[8];
	struct vm_view vm = { .id = "t", .name = "t", .nculprits = 8, .culprits = c };
	struct host_view hv = { .nvms = 1, .vms = &vm, .top_culprits = 0 };
	char *out;

	memset(c, 0, sizeof(c));
	for (int i = 0; i < 8; i++) {
		c[i].kind = CULPRIT_PROCESS;
		c[i].pid = 100 + i;
		c[i].ns = (uint64_t)(i + 1) * 10;
		snprintf(c[i].name, sizeof(c[i].name), "p%d", i);
	}
	c[7].kind = (enum culprit_kind)42; /* unknown kind: counted as other */
	out = render(&hv);
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{"), 6);
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"t\",vm_id=\"t\",culprit_kind=\"process\",culprit=\"p6\"} 0.00000007");
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"t\",vm_id=\"t\",culprit_kind=\"process\",culprit=\"p2\"} 0.00000003");
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{vm=\"t\",vm_id=\"t\",culprit_kind=\"process\",culprit=\"p1\"}"), 0);
	/* p0 10 + p1 20 + the unknown kind's 80 */
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"t\",vm_id=\"t\",culprit_kind=\"other\",culprit=\"other\"} 0.00000011");
	free(out);
}

static void render__culprits_equal_time__stable_order(void **state)
{
	struct culprit_view c[3] = {
		{ .kind = CULPRIT_PROCESS, .name = "b", .pid = 1, .ns = 5 },
		{ .kind = CULPRIT_PROCESS, .name = "a", .pid = 2, .ns = 5 },
		{ .kind = CULPRIT_VM, .name = "z", .pid = 3, .ns = 5 },
	};
	struct vm_view vm = { .id = "e", .name = "e", .nculprits = 3, .culprits = c };
	struct host_view hv = { .nvms = 1, .vms = &vm, .top_culprits = 2 };
	char *out = render(&hv);

	/* ties by kind (vm before process), then name */
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"e\",vm_id=\"e\",culprit_kind=\"vm\",culprit=\"z\"} 0.000000005");
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"e\",vm_id=\"e\",culprit_kind=\"process\",culprit=\"a\"} 0.000000005");
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"e\",vm_id=\"e\",culprit_kind=\"other\",culprit=\"other\"} 0.000000005");
	free(out);
}

static void render__throttled_spans__own_series_never_ranked(void **state)
{
	/* the throttled spans outgrow every culprit, yet top_culprits = 1 still shows "big" */
	struct culprit_view c[3] = {
		{ .kind = CULPRIT_THROTTLED, .name = "throttled", .ns = 9000000000ULL },
		{ .kind = CULPRIT_PROCESS, .name = "big", .pid = 1, .ns = 2000000000ULL },
		{ .kind = CULPRIT_PROCESS, .name = "small", .pid = 2, .ns = 1000000000ULL },
	};
	struct vm_view vm = { .id = "q", .name = "q", .nculprits = 3, .culprits = c };
	struct host_view hv = { .nvms = 1, .vms = &vm, .top_culprits = 1 };
	char *out = render(&hv);

	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"q\",vm_id=\"q\","
			 "culprit_kind=\"process\",culprit=\"big\"} 2");
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"q\",vm_id=\"q\","
			 "culprit_kind=\"throttled\",culprit=\"throttled\"} 9");
	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"q\",vm_id=\"q\","
			 "culprit_kind=\"other\",culprit=\"other\"} 1");
	assert_int_equal(count_prefixed(out, "stealtime_vm_stolen_by_seconds_total{vm=\"q\""), 3);
	free(out);
}

static void render__no_throttled_span__no_throttled_series(void **state)
{
	char *out = render(&sample);

	assert_null(strstr(out, "culprit_kind=\"throttled\""));
	free(out);
}

static void render__vm_without_culprits__other_at_zero(void **state)
{
	char *out = render(&sample);

	assert_line(out, "stealtime_vm_stolen_by_seconds_total{vm=\"qemu-kvm\",vm_id=\"4100\",culprit_kind=\"other\",culprit=\"other\"} 0");
	free(out);
}
#undef STOLEN_BY

static void render__throttling__only_when_known(void **state)
{
	char *out = render(&sample);

	assert_line(out, "# TYPE stealtime_vm_throttled_seconds_total counter");
	assert_line(out, "stealtime_vm_throttled_seconds_total{vm=\"web01\",vm_id=\"4021\"} 0.25");
	assert_int_equal(count_prefixed(out, "stealtime_vm_throttled_seconds_total{"), 1);
	assert_null(strstr(out, "vm_cpu_throttled"));
	free(out);
}

static void render__vcpu_throttling__only_vcpus_with_a_cgroup_of_their_own(void **state)
{
	char *out = render(&sample);

	assert_line(out, "# TYPE stealtime_vcpu_throttled_seconds_total counter");
	assert_line(out, "stealtime_vcpu_throttled_seconds_total{vm=\"web01\",vm_id=\"4021\",vcpu=\"0\"} 0.125");
	assert_int_equal(count_prefixed(out, "stealtime_vcpu_throttled_seconds_total{"), 1);
	free(out);
}

static void render__vm_histogram__sum_of_its_vcpus(void **state)
{
	struct vcpu_view v[2] = {
		{ .index = 0, .steal_ns = 7, .waits = 1, .wait_sum_ns = 1000 },
		{ .index = 1, .steal_ns = 9, .waits = 3, .wait_sum_ns = S(3) },
	};
	struct vm_view vm = { .id = "h", .name = "hist", .nvcpus = 2, .vcpus = v };
	struct host_view hv = { .nvms = 1, .vms = &vm };
	char *out;

	v[0].hist[9] = 1;  /* 512 ns */
	v[1].hist[12] = 2; /* 4..8 us */
	v[1].hist[31] = 1; /* beyond 2^31 ns */
	out = render(&hv);
	assert_line(out, "# TYPE stealtime_vm_wait_seconds histogram");
#define VM_BUCKET(le, n) "stealtime_vm_wait_seconds_bucket{vm=\"hist\",vm_id=\"h\",le=\"" le "\"} " #n
	assert_line(out, VM_BUCKET("0.000001024", 1));
	assert_line(out, VM_BUCKET("0.000004096", 1));
	assert_line(out, VM_BUCKET("0.000016384", 3));
	assert_line(out, VM_BUCKET("0.000065536", 3));
	assert_line(out, VM_BUCKET("1.073741824", 3));
	assert_line(out, VM_BUCKET("2.147483648", 3));
	assert_line(out, VM_BUCKET("+Inf", 4));
#undef VM_BUCKET
	assert_line(out, "stealtime_vm_wait_seconds_sum{vm=\"hist\",vm_id=\"h\"} 3.000001");
	assert_line(out, "stealtime_vm_wait_seconds_count{vm=\"hist\",vm_id=\"h\"} 4");
	assert_int_equal(count_prefixed(out, "stealtime_vm_wait_seconds_bucket{"), 13);
	assert_before(out, "stealtime_vm_wait_seconds_bucket{vm=\"hist\",vm_id=\"h\",le=\"2.147483648\"}",
		      "stealtime_vm_wait_seconds_bucket{vm=\"hist\",vm_id=\"h\",le=\"+Inf\"}");
	free(out);
}

static void render__vm_histogram__capped_and_saturated_like_its_vcpus(void **state)
{
	char *out = render(&sample);

	/* web01: vCPU 0 as in its own histogram, vCPU 1 has no waits */
	assert_line(out, "stealtime_vm_wait_seconds_bucket{vm=\"web01\",vm_id=\"4021\",le=\"0.000001024\"} 2");
	assert_line(out, "stealtime_vm_wait_seconds_bucket{vm=\"web01\",vm_id=\"4021\",le=\"+Inf\"} 10");
	assert_line(out, "stealtime_vm_wait_seconds_count{vm=\"web01\",vm_id=\"4021\"} 10");
	/* 1.000000001 s + UINT64_MAX ns saturates */
	assert_line(out, "stealtime_vm_wait_seconds_sum{vm=\"web01\",vm_id=\"4021\"} 18446744073.709551615");
	assert_line(out, "stealtime_vm_wait_seconds_bucket{vm=\"qemu-kvm\",vm_id=\"4100\",le=\"0.000001024\"} 1");
	free(out);
}

static void render__empty_vm__zero_histogram(void **state)
{
	struct vm_view vm = { .id = "z", .name = "none" };
	struct host_view hv = { .nvms = 1, .vms = &vm };
	char *out = render(&hv);

	assert_line(out, "stealtime_vm_wait_seconds_bucket{vm=\"none\",vm_id=\"z\",le=\"+Inf\"} 0");
	assert_line(out, "stealtime_vm_wait_seconds_count{vm=\"none\",vm_id=\"z\"} 0");
	assert_line(out, "stealtime_vm_wait_seconds_sum{vm=\"none\",vm_id=\"z\"} 0");
	free(out);
}

static void render__daemon_stats__one_counter_each(void **state)
{
	char *out = render(&sample);

	assert_line(out, "stealtime_daemon_rescans_total 11");
	assert_line(out, "stealtime_daemon_process_rescans_total 28");
	assert_line(out, "stealtime_daemon_rescan_requests_total 12");
	assert_line(out, "stealtime_bpf_ringbuf_drops_total 13");
	assert_line(out, "stealtime_bpf_bad_slot_total 14");
	assert_line(out, "stealtime_bpf_stale_binding_total 26");
	assert_line(out, "stealtime_bpf_region_missing_total 15");
	assert_line(out, "stealtime_daemon_discovery_errors_total 16");
	assert_line(out, "stealtime_daemon_slots_exhausted_total 17");
	assert_line(out, "stealtime_daemon_http_requests_total 18");
	assert_line(out, "stealtime_daemon_http_errors_total 19");
	assert_line(out, "stealtime_daemon_control_requests_total 20");
	assert_line(out, "stealtime_daemon_control_errors_total 21");
	assert_line(out, "stealtime_bpf_attribution_drops_total 22");
	assert_line(out, "stealtime_daemon_bind_failures_total 23");
	assert_line(out, "stealtime_daemon_bind_retries_total 27");
	assert_line(out, "stealtime_daemon_rescan_apply_seconds_total 1.5");
	assert_line(out, "stealtime_daemon_rescan_apply_max_seconds 0.25");
	assert_line(out, "# TYPE stealtime_daemon_rescan_apply_max_seconds gauge");
	assert_line(out, "stealtime_daemon_http_response_bytes_total{encoding=\"gzip\"} 24");
	assert_line(out, "stealtime_daemon_http_response_bytes_total{encoding=\"identity\"} 25");
	assert_line(out, "# TYPE stealtime_bpf_ringbuf_drops_total counter");
	free(out);
}

static void render__series__grouped_under_their_family(void **state)
{
	char *out = render(&sample);

	assert_before(out, "# TYPE stealtime_vcpu_steal_seconds_total counter",
		      "stealtime_vcpu_steal_seconds_total{");
	assert_before(out, "stealtime_vcpu_steal_seconds_total{vm=\"qemu-kvm\"",
		      "# TYPE stealtime_vcpu_run_seconds_total counter");
	assert_before(out, "stealtime_vm_wait_seconds_count{vm=\"qemu-kvm\"",
		      "# TYPE stealtime_vms gauge");
	free(out);
}

static void render__stream_fails__eio(void **state)
{
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		skip();
	setvbuf(f, NULL, _IONBF, 0);
	assert_int_equal(render_prom(&sample, f), -EIO);
	fclose(f);
}

static int setup(void **state)
{
	fill_sample();
	return 0;
}

/* The sample plus a VM whose name needs every escape, for promtool. */
static int dump_sample(void)
{
	struct vcpu_view v = { .index = 0, .steal_ns = 42, .waits = 1 };
	struct vm_view vms[3];
	struct host_view hv;

	fill_sample();
	v.hist[5] = 1;
	memcpy(vms, sample_vms, sizeof(sample_vms));
	vms[2] = (struct vm_view){ .id = "4200", .name = "a \"quoted\"\\ name\nwith caf\xc3\xa9",
				   .pid = 4200, .nvcpus = 1, .vcpus = &v };
	hv = sample;
	hv.top_culprits = 2;
	hv.nvms = 3;
	hv.vms = vms;
	return render_prom(&hv, stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seconds__one_ns__nine_decimals),
		cmocka_unit_test(seconds__one_s__no_fraction),
		cmocka_unit_test(seconds__uint64_max__exact_digits),
		cmocka_unit_test(seconds__trailing_zeros__trimmed),
		cmocka_unit_test(label_value__quote_backslash_newline__escaped),
		cmocka_unit_test(label_value__utf8__kept),
		cmocka_unit_test(label_value__invalid_utf8__replacement_char),
		cmocka_unit_test(render__sample__each_family_has_one_help_and_type),
		cmocka_unit_test(render__empty_view__families_and_zero_gauges),
		cmocka_unit_test(render__vcpu_counters__exact_lines),
		cmocka_unit_test(render__vcpu_minimal__steal_and_run_only_per_vcpu),
		cmocka_unit_test(render__vm_without_name__vm_label_is_comm),
		cmocka_unit_test(render__name_with_quotes_backslash_newline__escaped_in_every_series),
		cmocka_unit_test(render__longest_name_invalid_utf8__whole_series),
		cmocka_unit_test(render__histogram__cumulative_buckets),
		cmocka_unit_test(render__histogram_ahead_of_waits__buckets_capped_at_count),
		cmocka_unit_test(render__commit_series__only_vcpus_with_a_record),
		cmocka_unit_test(render__vm_info__one_series_per_vm),
		cmocka_unit_test(render__culprits__merged_by_kind_and_name),
		cmocka_unit_test(render__culprits_beyond_top__summed_into_other),
		cmocka_unit_test(render__culprits_top_zero__five_and_other),
		cmocka_unit_test(render__exported_set__only_its_members_get_series),
		cmocka_unit_test(render__culprits_equal_time__stable_order),
		cmocka_unit_test(render__throttled_spans__own_series_never_ranked),
		cmocka_unit_test(render__no_throttled_span__no_throttled_series),
		cmocka_unit_test(render__vm_without_culprits__other_at_zero),
		cmocka_unit_test(render__throttling__only_when_known),
		cmocka_unit_test(render__vcpu_throttling__only_vcpus_with_a_cgroup_of_their_own),
		cmocka_unit_test(render__vm_histogram__sum_of_its_vcpus),
		cmocka_unit_test(render__vm_histogram__capped_and_saturated_like_its_vcpus),
		cmocka_unit_test(render__empty_vm__zero_histogram),
		cmocka_unit_test(render__daemon_stats__one_counter_each),
		cmocka_unit_test(render__series__grouped_under_their_family),
		cmocka_unit_test(render__stream_fails__eio),
	};

	if (argc == 2 && strcmp(argv[1], "--dump-sample") == 0)
		return dump_sample();
	return cmocka_run_group_tests(tests, setup, NULL);
}
