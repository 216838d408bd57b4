// SPDX-License-Identifier: GPL-2.0
/*
 * stealtimectl: asks stealtimed's HTTP API (GET /v1/vms, /v1/vms/{id}) and
 * prints the stolen time of the host's vCPUs as tables of at most 80
 * columns, or the daemon's JSON as it came.
 *
 * Exit status: 0 success, 1 the daemon could not be reached, answered with
 * an error, or VM names no VM, 2 invalid command line.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "format.h"
#include "http_get.h"

#ifndef STEALTIME_VERSION
#define STEALTIME_VERSION "0.1"
#endif

#define DEFAULT_SERVER "http://127.0.0.1:9477"
#define TOP_ROWS 20
#define EXIT_USAGE 2
#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

struct options {
	char *server; /* without a trailing '/' */
	bool json;
};

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

/* The "error" member of an error body, or "" */
static const char *error_of(json_t *doc)
{
	const char *msg = json_string_value(json_object_get(doc, "error"));

	return msg ? msg : "";
}

/*
 * GETs server + path as JSON. Returns 0 with *doc, 1 after printing why
 * not. A 404 is returned as such (*status) when allow_404.
 */
static int get_json(const struct options *o, const char *path, bool allow_404, long *status,
		    json_t **doc)
{
	struct http_answer ans;
	json_error_t jerr;
	char url[1024], err[512];

	snprintf(url, sizeof(url), "%s%s", o->server, path);
	if (http_get(url, &ans, err, sizeof(err))) {
		fprintf(stderr, "stealtimectl: cannot reach stealtimed at %s: %s\n", o->server, err);
		return 1;
	}
	*status = ans.status;
	*doc = json_loadb(ans.body, ans.len, 0, &jerr);
	http_answer_free(&ans);
	if (ans.status == 200 && *doc)
		return 0;
	if (ans.status == 404 && allow_404) {
		json_decref(*doc);
		*doc = NULL;
		return 0;
	}
	if (ans.status != 200)
		fprintf(stderr, "stealtimectl: %s: HTTP %ld%s%s\n", url, ans.status,
			error_of(*doc)[0] ? ": " : "", error_of(*doc));
	else
		fprintf(stderr, "stealtimectl: %s: not a stealtimed answer: %s\n", url, jerr.text);
	json_decref(*doc);
	*doc = NULL;
	return 1;
}

static int get_vms(const struct options *o, json_t **doc)
{
	long status;
	int rc = get_json(o, "/v1/vms", false, &status, doc);

	if (!rc && !json_is_array(json_object_get(*doc, "vms"))) {
		fprintf(stderr, "stealtimectl: %s/v1/vms: no \"vms\" array\n", o->server);
		json_decref(*doc);
		return 1;
	}
	return rc;
}

static void print_json(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

/* --- reading the JSON -------------------------------------------------------- */

static uint64_t u64_at(const json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return v > 0 ? (uint64_t)v : 0;
}

static const char *str_at(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* The VM's name, or its VMM's command name when it has none. */
static const char *vm_label(const json_t *vm)
{
	const char *name = str_at(vm, "name");

	return name[0] ? name : str_at(vm, "comm");
}

static struct vcpu_row vcpu_row(const json_t *vm, const json_t *v)
{
	return (struct vcpu_row){
		.vm = vm_label(vm),
		.index = json_integer_value(json_object_get(v, "index")),
		.tid = json_integer_value(json_object_get(v, "tid")),
		.steal_ns = u64_at(v, "steal_ns"),
		.run_ns = u64_at(v, "run_ns"),
		.waits = u64_at(v, "waits"),
		.preemptions = u64_at(v, "preemptions"),
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
		     str_at(vm, "id"), json_integer_value(json_object_get(vm, "pid")), nvcpus,
		     nvcpus == 1 ? "" : "s",
		     json_is_true(json_object_get(vm, "registered")) ? "  registered" : "");
	fit_text(name, sizeof(name), vm_label(vm), n < 60 ? 80 - (size_t)n : 20);
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

static int cmp_steal(const void *a, const void *b)
{
	const struct vcpu_row *x = a, *y = b;

	return (y->steal_ns > x->steal_ns) - (y->steal_ns < x->steal_ns);
}

/* Every vCPU of doc, biggest steal first; *n rows, NULL when out of memory. */
static struct vcpu_row *sorted_vcpus(json_t *doc, size_t *n)
{
	struct vcpu_row *rows = NULL;
	json_t *vm, *v;
	size_t i, j, cap = 0;

	*n = 0;
	json_array_foreach(json_object_get(doc, "vms"), i, vm)
		cap += json_array_size(json_object_get(vm, "vcpus"));
	rows = calloc(cap ? cap : 1, sizeof(*rows));
	if (!rows)
		return NULL;
	json_array_foreach(json_object_get(doc, "vms"), i, vm)
		json_array_foreach(json_object_get(vm, "vcpus"), j, v)
			rows[(*n)++] = vcpu_row(vm, v);
	qsort(rows, *n, sizeof(*rows), cmp_steal);
	return rows;
}

static void print_top(const struct vcpu_row *rows, size_t n)
{
	printf("%-22s" VCPU_HEAD "\n", "VM", "VCPU", "TID", "STEAL s", "RUN s", "STEAL%", "WAITS");
	for (size_t i = 0; i < n && i < TOP_ROWS; i++) {
		print_cell(stdout, rows[i].vm, 22);
		print_vcpu_row(&rows[i], false);
		putchar('\n');
	}
}

static int cmd_top(const struct options *o)
{
	struct vcpu_row *rows;
	json_t *doc;
	size_t n;

	if (get_vms(o, &doc))
		return 1;
	if (o->json) {
		print_json(doc);
		json_decref(doc);
		return 0;
	}
	rows = sorted_vcpus(doc, &n);
	if (rows)
		print_top(rows, n);
	else
		fprintf(stderr, "stealtimectl: out of memory\n");
	free(rows);
	json_decref(doc);
	return rows ? 0 : 1;
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
	long status;
	int rc;

	if (arg[0] && strspn(arg, ID_CHARS) == strlen(arg) && strlen(arg) <= 64) {
		char path[128];

		snprintf(path, sizeof(path), "/v1/vms/%s", arg);
		if (get_json(o, path, true, &status, vm))
			return 1;
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

/* "Cgroup      /machine.slice/..., throttled 1.234 s" */
static void print_cgroup(const json_t *vm)
{
	const json_t *throttled = json_object_get(vm, "throttled_ns");
	char cgroup[80], secs[32];

	fit_text(cgroup, sizeof(cgroup), str_at(vm, "cgroup"), 50);
	if (!cgroup[0])
		return;
	printf("Cgroup      %s", cgroup);
	if (json_is_integer(throttled)) {
		fmt_seconds_ms(secs, sizeof(secs), u64_at(vm, "throttled_ns"));
		printf(", throttled %s s", secs);
	}
	putchar('\n');
}

static void print_vm_details(const json_t *vm)
{
	const char *uuid = str_at(vm, "uuid");
	char name[300], comm[64];

	fit_text(name, sizeof(name), vm_label(vm), 68);
	fit_text(comm, sizeof(comm), str_at(vm, "comm"), 40);
	printf("VM          %s\n", name);
	printf("ID          %s\n", str_at(vm, "id"));
	printf("PID         %" JSON_INTEGER_FORMAT " (%s)\n",
	       json_integer_value(json_object_get(vm, "pid")), comm);
	printf("UUID        %s\n", uuid[0] ? uuid : "-");
	print_cgroup(vm);
	if (json_is_true(json_object_get(vm, "registered")))
		printf("Records     registered, region at IPA 0x%" PRIx64 "\n",
		       u64_at(vm, "region_ipa"));
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
		fmt_seconds_ms(committed, sizeof(committed), u64_at(c, "committed_ns"));
		printf("  %-6" JSON_INTEGER_FORMAT " %#18" PRIx64 " %13s %12" PRIu64 "\n",
		       json_integer_value(json_object_get(v, "index")), u64_at(c, "record_ipa"),
		       committed, u64_at(c, "commits"));
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
		sum += u64_at(v, "steal_ns");
	return sum;
}

/* Who ran while the vCPUs waited, with the share of the VM's stolen time. */
static void print_culprits(const json_t *vm)
{
	const json_t *culprits = json_object_get(vm, "stolen_by"), *c;
	uint64_t steal = vm_steal_ns(vm);
	size_t i;

	if (!json_array_size(culprits))
		return;
	printf("\n  %-24s %-8s %8s %13s %7s\n", "WHO RAN INSTEAD", "KIND", "PID", "TIME s",
	       "SHARE%");
	json_array_foreach(culprits, i, c) {
		char secs[32], share[16] = "-";

		fmt_seconds_ms(secs, sizeof(secs), u64_at(c, "ns"));
		if (steal)
			snprintf(share, sizeof(share), "%.1f",
				 100.0 * (double)u64_at(c, "ns") / (double)steal);
		printf("  ");
		print_cell(stdout, str_at(c, "name"), 24);
		printf(" ");
		print_cell(stdout, str_at(c, "kind"), 8);
		printf(" %8" JSON_INTEGER_FORMAT " %13s %7s\n",
		       json_integer_value(json_object_get(c, "pid")), secs, share);
	}
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
		"Usage: stealtimectl [--server URL] [--json] COMMAND\n"
		"\n"
		"Shows the stolen time of KVM vCPUs measured by stealtimed.\n"
		"\n"
		"Commands:\n"
		"  list      every VM and the steal, run time and waits of its vCPUs\n"
		"  show VM   one VM (by id, name or VMM pid): vCPUs, guest records,\n"
		"            who ran instead, single waits\n"
		"  top       the %d vCPUs with the most stolen time\n"
		"\n"
		"Options:\n"
		"  -s, --server URL  stealtimed's HTTP API (default %s)\n"
		"  -j, --json        print the daemon's JSON instead of a table\n"
		"  -h, --help        print this help\n"
		"  -V, --version     print the version\n"
		"\n"
		"Times are in seconds; STEAL%% is steal / (steal + run).\n",
		TOP_ROWS, DEFAULT_SERVER);
}

/* Parses options into *o; returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = DEFAULT_SERVER;
	int c;

	while ((c = getopt_long(argc, argv, "s:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("stealtimectl %s\n", STEALTIME_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'stealtimectl --help'.\n");
			return EXIT_USAGE;
		}
	}
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
