// SPDX-License-Identifier: GPL-2.0
/*
 * stealtimectl: asks stealtimed's HTTP API (GET /v1/vms, /v1/vms/{id}) and
 * prints the stolen time of the host's vCPUs as tables of at most 80
 * columns, or the daemon's JSON as it came. top lives in top.c.
 *
 * Exit status: 0 success, 1 the daemon could not be reached, answered with
 * an error, or VM names no VM, 2 invalid command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api.h"
#include "ctl.h"
#include "format.h"
#include "top.h"

#ifndef STEALTIME_VERSION
#define STEALTIME_VERSION "0.1"
#endif

#define DEFAULT_SERVER "http://127.0.0.1:9477"
#define DEFAULT_INTERVAL_S 2.0
#define MIN_INTERVAL_S 0.1
#define MAX_INTERVAL_S 86400.0
#define SHOW_CULPRITS 10
#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* One vCPU row of a table, read from the API's JSON. */
struct vcpu_row {
	const char *vm;
	int64_t index;
	int64_t tid;
	uint64_t steal_ns;
	uint64_t run_ns;
	uint64_t waits;
	uint64_t preemptions;
};

/* --- talking to the daemon ------------------------------------------------- */

static void print_error(const char *err)
{
	fprintf(stderr, "stealtimectl: %s\n", err);
}

static int get_vms(const struct options *o, json_t **doc)
{
	char err[1024];
	int rc = api_get_vms(o, doc, err, sizeof(err));

	if (rc)
		print_error(err);
	return rc;
}

static void print_json(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

/* --- reading the JSON -------------------------------------------------------- */

static struct vcpu_row vcpu_row(const json_t *vm, const json_t *v)
{
	return (struct vcpu_row){
		.vm = json_vm_label(vm),
		.index = json_integer_value(json_object_get(v, "index")),
		.tid = json_integer_value(json_object_get(v, "tid")),
		.steal_ns = json_u64_at(v, "steal_ns"),
		.run_ns = json_u64_at(v, "run_ns"),
		.waits = json_u64_at(v, "waits"),
		.preemptions = json_u64_at(v, "preemptions"),
	};
}

/* --- tables -------------------------------------------------------------------- */

/* "  VCPU      TID       STEAL s         RUN s  STEAL%        WAITS" and its rows */
#define VCPU_HEAD "  %-6s %8s %13s %13s %7s %12s"
#define VCPU_ROW "  %-6s %8s %13s %13s %7s %12" PRIu64

static void print_vcpu_header(void)
{
	printf(VCPU_HEAD "\n", "VCPU", "TID", "STEAL s", "RUN s", "STEAL%", "WAITS");
}

/* A vCPU row without its newline (show appends a column); total: the "all" row. */
static void print_vcpu_row(const struct vcpu_row *r, bool total)
{
	char label[24] = "all", tid[24] = "", steal[32], run[32], pct[16];

	if (!total) {
		snprintf(label, sizeof(label), "%" PRId64, r->index);
		snprintf(tid, sizeof(tid), "%" PRId64, r->tid);
	}
	fmt_seconds_ms(steal, sizeof(steal), r->steal_ns);
	fmt_seconds_ms(run, sizeof(run), r->run_ns);
	fmt_percent(pct, sizeof(pct), r->steal_ns, r->run_ns);
	printf(VCPU_ROW, label, tid, steal, run, pct, r->waits);
}

/* "web01  id 1a2b  pid 4021  2 vCPUs  registered", the name cut to keep 80 columns */
static void print_vm_line(const json_t *vm)
{
	char rest[160], name[300];
	size_t nvcpus = json_array_size(json_object_get(vm, "vcpus"));
	int n;

	n = snprintf(rest, sizeof(rest), "  id %s  pid %" JSON_INTEGER_FORMAT "  %zu vCPU%s%s",
		     json_str_at(vm, "id"), json_integer_value(json_object_get(vm, "pid")), nvcpus,
		     nvcpus == 1 ? "" : "s",
		     json_is_true(json_object_get(vm, "registered")) ? "  registered" : "");
	fit_text(name, sizeof(name), json_vm_label(vm), n < 60 ? 80 - (size_t)n : 20);
	printf("%s%s\n", name, rest);
}

static void print_vm_vcpus(const json_t *vm)
{
	struct vcpu_row total = { 0 };
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(vm, "vcpus"), i, v) {
		struct vcpu_row r = vcpu_row(vm, v);

		print_vcpu_row(&r, false);
		putchar('\n');
		total.steal_ns += r.steal_ns;
		total.run_ns += r.run_ns;
		total.waits += r.waits;
	}
	if (i > 1) {
		print_vcpu_row(&total, true);
		putchar('\n');
	}
}

/* --- commands ---------------------------------------------------------------------- */

static int cmd_list(const struct options *o)
{
	json_t *doc, *vm;
	size_t i;

	if (get_vms(o, &doc))
		return 1;
	if (o->json) {
		print_json(doc);
	} else if (!json_array_size(json_object_get(doc, "vms"))) {
		printf("no VMs\n");
	} else {
		print_vcpu_header();
		json_array_foreach(json_object_get(doc, "vms"), i, vm) {
			print_vm_line(vm);
			print_vm_vcpus(vm);
		}
	}
	json_decref(doc);
	return 0;
}

/* The one VM of doc named by arg: its id, else its name, else its VMM's pid. */
static int find_vm(json_t *doc, const char *arg, json_t **found)
{
	static const char *const keys[] = { "id", "name", "pid" };
	json_t *vm;
	size_t i;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		int matches = 0;

		json_array_foreach(json_object_get(doc, "vms"), i, vm) {
			json_t *val = json_object_get(vm, keys[k]);
			char pid[24];

			snprintf(pid, sizeof(pid), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
			if (json_is_string(val) ? !strcmp(json_string_value(val), arg) :
						  !strcmp(pid, arg)) {
				*found = vm;
				matches++;
			}
		}
		if (matches == 1)
			return 0;
		if (matches > 1) {
			fprintf(stderr, "stealtimectl: %d VMs have the %s '%s'; name one by its id\n",
				matches, keys[k], arg);
			return 1;
		}
	}
	fprintf(stderr, "stealtimectl: no VM '%s'\n", arg);
	return 1;
}

/*
 * The VM named by arg as a new reference: GET /v1/vms/{arg} when arg can
 * be an id, else (or on 404) looked up in /v1/vms by name or pid.
 */
static int get_vm(const struct options *o, const char *arg, json_t **vm)
{
	json_t *doc, *found;
	int rc;

	if (arg[0] && strspn(arg, ID_CHARS) == strlen(arg) && strlen(arg) <= 64) {
		char path[128], err[1024];

		snprintf(path, sizeof(path), "/v1/vms/%s", arg);
		if (api_get_json(o, path, true, vm, err, sizeof(err))) {
			print_error(err);
			return 1;
		}
		if (*vm)
			return 0;
	}
	if (get_vms(o, &doc))
		return 1;
	rc = find_vm(doc, arg, &found);
	*vm = rc ? NULL : json_incref(found);
	json_decref(doc);
	return rc;
}

/* "Cgroup      /machine.slice/...", "Throttled   1.234 s" */
static void print_cgroup(const json_t *vm)
{
	const json_t *throttled = json_object_get(vm, "throttled_ns");
	char cgroup[80], secs[32];

	fit_text(cgroup, sizeof(cgroup), json_str_at(vm, "cgroup"), 66);
	printf("Cgroup      %s\n", cgroup[0] ? cgroup : "-");
	if (json_is_integer(throttled)) {
		fmt_seconds_ms(secs, sizeof(secs), json_u64_at(vm, "throttled_ns"));
		printf("Throttled   %s s by its CPU quota\n", secs);
	} else {
		printf("Throttled   - (no readable cpu.stat)\n");
	}
}

/* "Waits       p50 <= 16.4 us, p99 <= 2.1 ms, max 2.0 ms (13 waits)" */
static void print_wait_summary(const json_t *vm)
{
	const json_t *w = json_object_get(vm, "wait");
	char p50[32], p99[32], max[32];
	uint64_t count = json_u64_at(w, "count");

	if (!count) {
		printf("Waits       none\n");
		return;
	}
	fmt_duration(p50, sizeof(p50), json_u64_at(w, "p50_ns"));
	fmt_duration(p99, sizeof(p99), json_u64_at(w, "p99_ns"));
	fmt_duration(max, sizeof(max), json_u64_at(w, "max_ns"));
	printf("Waits       p50 <= %s, p99 <= %s, max %s (%" PRIu64 " wait%s)\n", p50, p99, max,
	       count, count == 1 ? "" : "s");
}

static void print_vm_details(const json_t *vm)
{
	const char *uuid = json_str_at(vm, "uuid");
	char name[300], comm[64];

	fit_text(name, sizeof(name), json_vm_label(vm), 68);
	fit_text(comm, sizeof(comm), json_str_at(vm, "comm"), 40);
	printf("VM          %s\n", name);
	printf("ID          %s\n", json_str_at(vm, "id"));
	printf("PID         %" JSON_INTEGER_FORMAT " (%s)\n",
	       json_integer_value(json_object_get(vm, "pid")), comm);
	printf("UUID        %s\n", uuid[0] ? uuid : "-");
	print_cgroup(vm);
	print_wait_summary(vm);
	if (json_is_true(json_object_get(vm, "registered")))
		printf("Records     registered, region at IPA 0x%" PRIx64 "\n",
		       json_u64_at(vm, "region_ipa"));
	else
		printf("Records     not registered\n");
}

static void print_vm_table(const json_t *vm)
{
	const json_t *v;
	size_t i;

	printf("\n" VCPU_HEAD " %8s\n", "VCPU", "TID", "STEAL s", "RUN s", "STEAL%", "WAITS",
	       "PREEMPT");
	json_array_foreach(json_object_get(vm, "vcpus"), i, v) {
		struct vcpu_row r = vcpu_row(vm, v);

		print_vcpu_row(&r, false);
		printf(" %8" PRIu64 "\n", r.preemptions);
	}
}

static void print_commits(const json_t *vm)
{
	const json_t *v;
	bool head = false;
	size_t i;

	json_array_foreach(json_object_get(vm, "vcpus"), i, v) {
		const json_t *c = json_object_get(v, "commit");
		char committed[32];

		if (!json_is_object(c))
			continue;
		if (!head)
			printf("\n  %-6s %18s %13s %12s\n", "VCPU", "RECORD IPA", "COMMITTED s",
			       "COMMITS");
		head = true;
		fmt_seconds_ms(committed, sizeof(committed), json_u64_at(c, "committed_ns"));
		printf("  %-6" JSON_INTEGER_FORMAT " %#18" PRIx64 " %13s %12" PRIu64 "\n",
		       json_integer_value(json_object_get(v, "index")), json_u64_at(c, "record_ipa"),
		       committed, json_u64_at(c, "commits"));
	}
}

/* Single waits of all vCPUs by log2 slot: "  1.0 us .. 2.0 us   123" */
static void print_wait_hist(const json_t *vm)
{
	uint64_t sum[64] = { 0 };
	const json_t *v, *count;
	size_t i, j, nslots = 0;

	json_array_foreach(json_object_get(vm, "vcpus"), i, v) {
		json_array_foreach(json_object_get(v, "wait_hist"), j, count) {
			if (j < 64)
				sum[j] += json_integer_value(count) > 0 ? json_integer_value(count) : 0;
		}
		if (j > nslots)
			nslots = j < 64 ? j : 64;
	}
	printf("\n  %-22s %12s\n", "SINGLE WAITS", "COUNT");
	if (!nslots)
		printf("  none\n");
	for (i = 0; i < nslots; i++) {
		char lo[24], hi[24], range[56];

		if (!sum[i])
			continue;
		fmt_duration(lo, sizeof(lo), i ? UINT64_C(1) << i : 0);
		fmt_duration(hi, sizeof(hi), UINT64_C(1) << (i + 1));
		if (i + 1 == nslots)
			snprintf(range, sizeof(range), ">= %s", lo);
		else
			snprintf(range, sizeof(range), "%s .. %s", lo, hi);
		printf("  %-22s %12" PRIu64 "\n", range, sum[i]);
	}
}

static uint64_t vm_steal_ns(const json_t *vm)
{
	const json_t *v;
	uint64_t sum = 0;
	size_t i;

	json_array_foreach(json_object_get(vm, "vcpus"), i, v)
		sum += json_u64_at(v, "steal_ns");
	return sum;
}

/* ns as a share of steal in percent, one decimal; "-" without steal */
static void fmt_share(char *buf, size_t len, uint64_t ns, uint64_t steal)
{
	if (steal)
		snprintf(buf, len, "%.1f", 100.0 * (double)ns / (double)steal);
	else
		snprintf(buf, len, "-");
}

/*
 * Who ran while the vCPUs waited, largest first, with the share of the
 * VM's stolen time: the first SHOW_CULPRITS, then the rest in one line.
 */
static void print_culprits(const json_t *vm)
{
	const json_t *culprits = json_object_get(vm, "stolen_by"), *c;
	uint64_t steal = vm_steal_ns(vm), rest = 0;
	char secs[32], share[16];
	size_t i;

	if (!json_array_size(culprits))
		return;
	printf("\n  %-24s %-9s %8s %13s %7s\n", "WHO RAN INSTEAD", "KIND", "PID", "TIME s",
	       "SHARE%");
	json_array_foreach(culprits, i, c) {
		if (i >= SHOW_CULPRITS) {
			rest += json_u64_at(c, "ns");
			continue;
		}
		fmt_seconds_ms(secs, sizeof(secs), json_u64_at(c, "ns"));
		fmt_share(share, sizeof(share), json_u64_at(c, "ns"), steal);
		printf("  ");
		print_cell(stdout, json_str_at(c, "name"), 24);
		printf(" ");
		print_cell(stdout, json_str_at(c, "kind"), 9);
		printf(" %8" JSON_INTEGER_FORMAT " %13s %7s\n",
		       json_integer_value(json_object_get(c, "pid")), secs, share);
	}
	if (i <= SHOW_CULPRITS)
		return;
	fmt_seconds_ms(secs, sizeof(secs), rest);
	fmt_share(share, sizeof(share), rest, steal);
	printf("  %-24s %-9s %8s %13s %7s\n", "(the other ones)", "", "", secs, share);
}

static int cmd_show(const struct options *o, const char *arg)
{
	json_t *vm;

	if (get_vm(o, arg, &vm))
		return 1;
	if (o->json) {
		print_json(vm);
	} else {
		print_vm_details(vm);
		print_vm_table(vm);
		print_commits(vm);
		print_culprits(vm);
		print_wait_hist(vm);
	}
	json_decref(vm);
	return 0;
}

/* --- command line ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: stealtimectl [OPTIONS] COMMAND\n"
		"\n"
		"Shows the stolen time of KVM vCPUs measured by stealtimed.\n"
		"\n"
		"Commands:\n"
		"  list      every VM and the steal, run time and waits of its vCPUs\n"
		"  show VM   one VM (by id, name or VMM pid): vCPUs, throttling, waits,\n"
		"            guest records, who ran instead\n"
		"  top       the VMs by stolen time, refreshed every interval\n"
		"\n"
		"Options:\n"
		"  -s, --server URL      stealtimed's HTTP API (default %s)\n"
		"  -j, --json            print JSON instead of a table (top: one line a frame)\n"
		"  -h, --help            print this help\n"
		"  -V, --version         print the version\n"
		"Options of top:\n"
		"  -d, --delay SECONDS   interval between frames, fractions allowed\n"
		"                        (default %.0f, at least %.1f)\n"
		"  -n, --iterations N    stop after N frames (default: until q or a signal)\n"
		"  -b, --batch           print frames one after the other, no screen or keys\n"
		"  -o, --sort KEY        steal (default), name or p99\n"
		"\n"
		"Times are in seconds; STEAL%% is steal / (steal + run). top's first frame\n"
		"shows the figures since each VM started, the next ones the last interval.\n",
		DEFAULT_SERVER, DEFAULT_INTERVAL_S, MIN_INTERVAL_S);
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "stealtimectl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'stealtimectl --help'.\n");
	return EXIT_USAGE;
}

static int parse_interval(const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= MIN_INTERVAL_S && v <= MAX_INTERVAL_S))
		return bad_usage("bad interval '%s' (seconds, at least 0.1)", arg);
	*out = v;
	return -1;
}

static int parse_iterations(const char *arg, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v == 0)
		return bad_usage("bad number of frames '%s'", arg);
	*out = v;
	return -1;
}

static int parse_sort(const char *arg, enum top_sort *out)
{
	if (!strcmp(arg, "steal"))
		*out = TOP_SORT_STEAL;
	else if (!strcmp(arg, "name"))
		*out = TOP_SORT_NAME;
	else if (!strcmp(arg, "p99"))
		*out = TOP_SORT_P99;
	else
		return bad_usage("bad sort key '%s' (steal, name or p99)", arg);
	return -1;
}

/* One option; returns -1 to go on, else an exit status. *top_only: it is an option of top. */
static int parse_option(int c, struct options *o, const char **server, bool *top_only)
{
	switch (c) {
	case 's':
		*server = optarg;
		return -1;
	case 'j':
		o->json = true;
		return -1;
	case 'h':
		usage(stdout);
		return 0;
	case 'V':
		printf("stealtimectl %s\n", STEALTIME_VERSION);
		return 0;
	case 'd':
		*top_only = true;
		return parse_interval(optarg, &o->interval_s);
	case 'n':
		*top_only = true;
		return parse_iterations(optarg, &o->iterations);
	case 'b':
		*top_only = true;
		o->batch = true;
		return -1;
	case 'o':
		*top_only = true;
		return parse_sort(optarg, &o->sort);
	default:
		fprintf(stderr, "Try 'stealtimectl --help'.\n");
		return EXIT_USAGE;
	}
}

/*
 * Parses options into *o, anywhere on the command line ("--" ends them);
 * returns -1 to go on, else an exit status.
 */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "batch", no_argument, NULL, 'b' },
		{ "sort", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = DEFAULT_SERVER;
	bool top_only = false;
	int c, rc;

	o->interval_s = DEFAULT_INTERVAL_S;
	while ((c = getopt_long(argc, argv, "s:jhVd:n:bo:", longopts, NULL)) != -1) {
		rc = parse_option(c, o, &server, &top_only);
		if (rc >= 0)
			return rc;
	}
	if (top_only && (optind >= argc || strcmp(argv[optind], "top")))
		return bad_usage("%s", "-d, -n, -b and -o are options of top");
	o->server = strdup(server);
	if (!o->server)
		return 1;
	for (size_t n = strlen(o->server); n > 0 && o->server[n - 1] == '/'; n--)
		o->server[n - 1] = '\0';
	return -1;
}

static int run_command(const struct options *o, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : NULL;

	if (cmd && !strcmp(cmd, "list") && argc == 1)
		return cmd_list(o);
	if (cmd && !strcmp(cmd, "top") && argc == 1)
		return cmd_top(o);
	if (cmd && !strcmp(cmd, "show") && argc == 2)
		return cmd_show(o, argv[1]);
	if (!cmd)
		fprintf(stderr, "stealtimectl: no command\n");
	else
		fprintf(stderr, "stealtimectl: bad command line: %s ...\n", cmd);
	fprintf(stderr, "Try 'stealtimectl --help'.\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int rc = parse_options(argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "stealtimectl: cannot initialize libcurl\n");
		free(o.server);
		return 1;
	}
	rc = run_command(&o, argc - optind, argv + optind);
	curl_global_cleanup();
	free(o.server);
	return rc;
}
