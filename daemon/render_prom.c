// SPDX-License-Identifier: GPL-2.0
/*
 * Prometheus text exposition format 0.0.4.
 *
 * Every family below is written once, with its HELP and TYPE lines, also
 * when it has no series. Times are exact decimal seconds printed from the
 * u64 nanoseconds (no float rounding on our side).
 *
 * Per vCPU, labels {vm, vm_id, vcpu}; vm is the VM's name, or its VMM's
 * comm when it has none; vm_id is the daemon's key of the VM:
 *   stealtime_vcpu_steal_seconds_total      counter    runnable, waiting for a CPU
 *   stealtime_vcpu_run_seconds_total        counter    on a CPU
 *   stealtime_vcpu_waits_total              counter    runqueue waits that ended
 *   stealtime_vcpu_preemptions_total        counter    switched out while runnable
 *   stealtime_vcpu_wakeups_total            counter    wakeups of the thread
 *                                                      (with count_wakeups)
 *   stealtime_vcpu_max_wait_seconds         gauge      longest single wait
 *   stealtime_vcpu_committed_seconds_total  counter    last value written to the
 *                                                      guest record (only vCPUs
 *                                                      with a record)
 *   stealtime_vcpu_commits_total            counter    guest record writes (same)
 *   stealtime_vcpu_throttled_seconds_total  counter    CPU quota throttling of the
 *                                                      thread's own cgroup (only
 *                                                      vCPUs that have had one,
 *                                                      libvirt's vcpuN)
 *
 * Per VM, labels {vm, vm_id}:
 *   stealtime_vm_info  gauge, always 1  (+ uuid, pid, registered)
 *   stealtime_vm_stolen_by_seconds_total  counter  (+ culprit_kind, culprit):
 *       time the VM's vCPUs waited while this culprit ran on their CPU;
 *       culprit_kind is "vm", "process", "kernel", "throttled" or "other",
 *       culprit its name. Culprits of one kind and name are merged (all "bash"
 *       processes are one series); the culprits in vm->exported (the
 *       daemon picks the largest when first seen, up to top_culprits, and
 *       keeps them for the VM's life; without that state, the largest
 *       hv->top_culprits, 5 when 0) get a series each, and one series
 *       {culprit_kind="other",culprit="other"}, always written, holds the
 *       rest together with the time of kind other (idle, interrupts, not
 *       seen). {culprit_kind="throttled",culprit="throttled"}, written once
 *       it is not 0, holds the spans of waits during which the vCPU
 *       threads' own cgroups were throttled (kernels where the daemon sees
 *       throttling end). At most top_culprits + 2 series per VM; since
 *       membership never changes, "other" never goes down.
 *   stealtime_vm_throttled_seconds_total  counter: time the VM lost to
 *       its own CPU quota (cpu.stat of its vCPU threads' cgroups up to the
 *       VM's own, vm_throttle.h), when readable
 *   stealtime_vm_wait_seconds  histogram (+ le): single waits of all its
 *       vCPUs (per-vCPU histograms only in the JSON API: 16 series per vCPU
 *       would dominate a host's scrape)
 *
 * Host and daemon:
 *   stealtime_vms                               gauge    VMs seen
 *   stealtime_vcpus                             gauge    vCPUs seen
 *   stealtime_vcpus_seeded                      gauge    vCPUs whose record was
 *                                                        seeded (initial_ns > 0)
 *   stealtime_vcpus_unbound                     gauge    vCPUs seen whose thread is
 *                                                        not measured now
 *   stealtime_daemon_rescans_total              counter  discovery scans run
 *   stealtime_daemon_process_rescans_total      counter  scans of one process's files
 *   stealtime_daemon_rescan_requests_total      counter  scans asked for by BPF
 *                                                        (unknown KVM thread)
 *   stealtime_daemon_discovery_errors_total     counter  failed discovery scans
 *   stealtime_daemon_slots_exhausted_total      counter  vCPUs left untracked: no
 *                                                        free slot
 *   stealtime_daemon_bind_failures_total        counter  vCPU threads found but
 *                                                        not bound
 *   stealtime_daemon_bind_retries_total         counter  bindings that lost a race
 *                                                        with BPF, tried again
 *   stealtime_daemon_http_requests_total        counter  HTTP requests
 *   stealtime_daemon_http_errors_total          counter  HTTP requests answered
 *                                                        with 4xx/5xx
 *   stealtime_daemon_http_response_bytes_total  counter  HTTP response body bytes
 *                                                        sent, by encoding: "gzip"
 *                                                        (as compressed) and
 *                                                        "identity"
 *   stealtime_daemon_control_requests_total     counter  control socket requests
 *   stealtime_daemon_control_errors_total       counter  control requests refused
 *   stealtime_daemon_rescan_apply_seconds_total counter  time whole rescans' updates
 *                                                        held the VM table's lock
 *   stealtime_daemon_rescan_apply_max_seconds   gauge    the longest such hold
 *   stealtime_bpf_ringbuf_drops_total           counter  rescan requests lost to a
 *                                                        full ring buffer
 *   stealtime_bpf_bad_slot_total                counter  BPF events naming an
 *                                                        invalid vCPU slot
 *   stealtime_bpf_stale_binding_total           counter  BPF events of a thread
 *                                                        bound to a slot since
 *                                                        given to another vCPU
 *   stealtime_bpf_region_missing_total          counter  guest record writes
 *                                                        skipped: no region map
 *   stealtime_bpf_attribution_drops_total       counter  who-ran-instead updates
 *                                                        that did not fit (their
 *                                                        time counts as "other")
 *
 * The histograms come from the BPF log2 slots: hist[i] counts waits with
 * 2^i <= ns < 2^(i+1) (slot 0 also 0 ns, the last slot everything above).
 * Bucket le=2^k ns counts slots i < k, for k = 10, 12, ..., 30 and 31; a
 * bound past 2^31 ns would need the open-ended last slot, so the next
 * bucket is +Inf. _count is the waits counter and _sum the sum of those
 * same waits, so _sum/_count is a mean wait (steal also holds time never
 * observed as one wait: waits split by a migration, a thread's waits
 * before it was bound). Buckets are capped at _count so that a read
 * racing BPF stays monotonic.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "render_prom.h"
#include "vm_naming.h"

#define NSEC_PER_SEC UINT64_C(1000000000)
#define DEFAULT_TOP_CULPRITS 5

enum prom_unit {
	PROM_COUNT,
	PROM_SECONDS, /* the field holds nanoseconds */
};

/* A per-vCPU counter or gauge: one uint64_t field of struct vcpu_view. */
struct vcpu_metric {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
	enum prom_unit unit;
	bool commit_only; /* only vCPUs with a guest record */
	bool detail;      /* left out under vcpu_detail false (host_view's vcpu_minimal) */
};

/* A host-wide counter: one uint64_t field of struct daemon_stats_view. */
struct daemon_counter {
	const char *name;
	const char *help;
	size_t offset;
};

#define VCPU_FIELD(f) offsetof(struct vcpu_view, f)
#define STATS_FIELD(f) offsetof(struct daemon_stats_view, f)

static const struct vcpu_metric vcpu_metrics[] = {
	{ "stealtime_vcpu_steal_seconds_total", "counter",
	  "Time the vCPU thread was runnable but waiting for a CPU (its kernel run_delay).",
	  VCPU_FIELD(steal_ns), PROM_SECONDS, false, false },
	{ "stealtime_vcpu_run_seconds_total", "counter", "Time the vCPU thread ran on a CPU.",
	  VCPU_FIELD(run_ns), PROM_SECONDS, false, false },
	{ "stealtime_vcpu_waits_total", "counter",
	  "Runqueue waits of the vCPU thread that ended on a CPU.",
	  VCPU_FIELD(waits), PROM_COUNT, false, true },
	{ "stealtime_vcpu_preemptions_total", "counter",
	  "Times the vCPU thread was switched out while still runnable.",
	  VCPU_FIELD(preemptions), PROM_COUNT, false, true },
	{ "stealtime_vcpu_wakeups_total", "counter",
	  "Wakeups of the vCPU thread (counted only with count_wakeups on).",
	  VCPU_FIELD(wakeups), PROM_COUNT, false, true },
	{ "stealtime_vcpu_max_wait_seconds", "gauge",
	  "Longest single runqueue wait of the vCPU thread so far.",
	  VCPU_FIELD(max_wait_ns), PROM_SECONDS, false, true },
};

static const struct vcpu_metric commit_counters[] = {
	{ "stealtime_vcpu_committed_seconds_total", "counter",
	  "Stolen time last written to the guest's stolen-time record (vCPUs with a record).",
	  VCPU_FIELD(committed_ns), PROM_SECONDS, true, true },
	{ "stealtime_vcpu_commits_total", "counter",
	  "Writes to the guest's stolen-time record (vCPUs with a record).",
	  VCPU_FIELD(commits), PROM_COUNT, true, true },
};

static const struct daemon_counter daemon_counters[] = {
	{ "stealtime_daemon_rescans_total", "Discovery scans of every process's files run.",
	  STATS_FIELD(rescans) },
	{ "stealtime_daemon_process_rescans_total",
	  "Discovery scans of one process's files (a VMM's register, a vCPU thread BPF saw).",
	  STATS_FIELD(process_rescans) },
	{ "stealtime_daemon_rescan_requests_total",
	  "Discovery scans asked for by BPF after an unknown KVM thread ran.",
	  STATS_FIELD(rescan_requests) },
	{ "stealtime_daemon_discovery_errors_total", "Discovery scans that failed.",
	  STATS_FIELD(discovery_errors) },
	{ "stealtime_daemon_slots_exhausted_total",
	  "vCPUs left untracked because every vCPU slot was in use.",
	  STATS_FIELD(slots_exhausted) },
	{ "stealtime_daemon_bind_failures_total",
	  "vCPUs whose thread was found but could not be bound (not measured until it is).",
	  STATS_FIELD(bind_failures) },
	{ "stealtime_daemon_bind_retries_total",
	  "Thread bindings that lost a race with a rescan marker, tried again at the next rescan.",
	  STATS_FIELD(bind_retries) },
	{ "stealtime_daemon_http_requests_total", "HTTP requests received.",
	  STATS_FIELD(http_requests) },
	{ "stealtime_daemon_http_errors_total", "HTTP requests answered with a 4xx or 5xx status.",
	  STATS_FIELD(http_errors) },
	{ "stealtime_daemon_control_requests_total", "Control socket requests received.",
	  STATS_FIELD(control_requests) },
	{ "stealtime_daemon_control_errors_total", "Control socket requests refused.",
	  STATS_FIELD(control_errors) },
	{ "stealtime_bpf_ringbuf_drops_total",
	  "Rescan requests BPF lost because the ring buffer was full.",
	  STATS_FIELD(ringbuf_drops) },
	{ "stealtime_bpf_bad_slot_total", "BPF events whose thread named an invalid vCPU slot.",
	  STATS_FIELD(bad_slot) },
	{ "stealtime_bpf_stale_binding_total",
	  "BPF events of a thread bound to a vCPU slot since given to another vCPU (ignored).",
	  STATS_FIELD(stale_binding) },
	{ "stealtime_bpf_region_missing_total",
	  "Guest record writes BPF skipped because the VM's region map was missing.",
	  STATS_FIELD(region_missing) },
	{ "stealtime_bpf_attribution_drops_total",
	  "Who-ran-instead updates BPF could not store; their time counts as kind other.",
	  STATS_FIELD(attribution_drops) },
};

/* log2(ns) of the finite histogram bounds; each must leave the open-ended last slot out. */
#define HIST_TOP_LOG2 31
_Static_assert(HIST_TOP_LOG2 <= ST_HIST_SLOTS - 1, "histogram bound beyond the last closed slot");
static const unsigned int hist_bounds_log2[] = { 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
						 HIST_TOP_LOG2 };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HIST_BUCKETS (ARRAY_SIZE(hist_bounds_log2) + 1) /* the finite ones and +Inf */

#define VM_HIST_NAME "stealtime_vm_wait_seconds"
#define STOLEN_BY_NAME "stealtime_vm_stolen_by_seconds_total"
#define THROTTLED_NAME "stealtime_vm_throttled_seconds_total"
#define VCPU_THROTTLED_NAME "stealtime_vcpu_throttled_seconds_total"
#define HTTP_BYTES_NAME "stealtime_daemon_http_response_bytes_total"

/* One histogram's series: cumulative buckets (the last is +Inf), _sum, _count. */
struct hist_series {
	uint64_t buckets[HIST_BUCKETS];
	uint64_t sum_ns;
	uint64_t count;
};

/* Culprits of one kind and name, merged. */
struct culprit_sum {
	enum culprit_kind kind;
	const char *name;
	uint64_t ns;
};

/*
 * v in decimal at p, at least min_digits (zero-padded); returns the end. At most
 * U64_DIGITS bytes: hot enough to skip printf.
 */
#define U64_DIGITS 20
static char *fmt_u64(char *p, uint64_t v, int min_digits)
{
	char buf[U64_DIGITS];
	int n = 0;

	do {
		buf[sizeof(buf) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v || n < min_digits);
	memcpy(p, buf + sizeof(buf) - n, (size_t)n);
	return p + n;
}

/* ns as exact decimal seconds at p; returns the end. At most SECONDS_BYTES bytes. */
#define SECONDS_BYTES (U64_DIGITS + 1)
static char *fmt_seconds(char *p, uint64_t ns)
{
	uint64_t frac = ns % NSEC_PER_SEC;
	int digits = 9;

	p = fmt_u64(p, ns / NSEC_PER_SEC, 1);
	if (!frac)
		return p;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	*p++ = '.';
	return fmt_u64(p, frac, digits);
}

static void write_u64(FILE *f, uint64_t v, int min_digits)
{
	char buf[U64_DIGITS];

	fwrite_unlocked(buf, 1, (size_t)(fmt_u64(buf, v, min_digits) - buf), f);
}

void prom_write_seconds(FILE *f, uint64_t ns)
{
	char buf[SECONDS_BYTES];

	fwrite_unlocked(buf, 1, (size_t)(fmt_seconds(buf, ns) - buf), f);
}

static void write_label_char(FILE *f, char c)
{
	switch (c) {
	case '\\':
		fputs_unlocked("\\\\", f);
		break;
	case '"':
		fputs_unlocked("\\\"", f);
		break;
	case '\n':
		fputs_unlocked("\\n", f);
		break;
	default:
		fputc_unlocked(c, f);
	}
}

/* Bytes that go out as they are: printable ASCII but the two escaped ones */
static bool plain_label_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '\\' && c != '"';
}

void prom_write_label_value(FILE *f, const char *s)
{
	while (*s) {
		size_t run = 0, n;

		while (plain_label_byte((unsigned char)s[run]))
			run++;
		if (run) { /* the common case: one write for the whole run */
			fwrite_unlocked(s, 1, run, f);
			s += run;
			continue;
		}
		n = vm_naming_utf8_len(s);
		if (n == 0) {
			fputs_unlocked("\xef\xbf\xbd", f); /* U+FFFD */
			s++;
		} else if (n == 1) {
			write_label_char(f, *s++);
		} else {
			fwrite_unlocked(s, 1, n, f);
			s += n;
		}
	}
}

static void write_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *vm_label(const struct vm_view *vm)
{
	return vm->name[0] ? vm->name : vm->comm;
}

/* vm="...",vm_id="..." without braces */
static void write_vm_labels(FILE *f, const struct vm_view *vm)
{
	fputs_unlocked("vm=\"", f);
	prom_write_label_value(f, vm_label(vm));
	fputs_unlocked("\",vm_id=\"", f);
	prom_write_label_value(f, vm->id);
	fputc_unlocked('"', f);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* NAME{vm="...",vm_id="..." without the closing brace */
static void write_series(FILE *f, const char *name, const struct vm_view *vm)
{
	fputs_unlocked(name, f);
	fputc_unlocked('{', f);
	write_vm_labels(f, vm);
}

static void write_value(FILE *f, uint64_t val, enum prom_unit unit)
{
	if (unit == PROM_SECONDS)
		prom_write_seconds(f, val);
	else
		write_u64(f, val, 1);
	fputc_unlocked('\n', f);
}

static uint64_t vcpu_field(const struct vcpu_view *v, size_t offset)
{
	return *(const uint64_t *)((const char *)v + offset);
}

/*
 * Each VM's per-vCPU series labels up to the vCPU's number, {vm="...",vm_id="...",vcpu=" ,
 * escaped once per render rather than once a series.
 */
struct vcpu_prefix {
	char *s;
	size_t len;
};

static void free_prefixes(struct vcpu_prefix *pre, size_t n)
{
	for (size_t i = 0; pre && i < n; i++)
		free(pre[i].s);
	free(pre);
}

/* hv's prefixes, in the order of hv->vms, into *out; 0 or -ENOMEM. */
static int build_prefixes(const struct host_view *hv, struct vcpu_prefix **out)
{
	struct vcpu_prefix *pre = calloc(hv->nvms ? hv->nvms : 1, sizeof(*pre));

	if (!pre)
		return -ENOMEM;
	for (size_t i = 0; i < hv->nvms; i++) {
		FILE *f = open_memstream(&pre[i].s, &pre[i].len);
		bool failed;

		if (!f)
			goto fail;
		__fsetlocking(f, FSETLOCKING_BYCALLER);
		fputc_unlocked('{', f);
		write_vm_labels(f, &hv->vms[i]);
		fputs_unlocked(",vcpu=\"", f);
		failed = ferror(f);
		if (fclose(f) || failed)
			goto fail;
	}
	*out = pre;
	return 0;
fail:
	free_prefixes(pre, hv->nvms);
	return -ENOMEM;
}

/* NAME{vm="...",vm_id="...",vcpu="N"} VALUE and a newline, in one write when it fits */
#define VCPU_LINE_BYTES 512
#define VCPU_TAIL_BYTES (U64_DIGITS + 3 + SECONDS_BYTES + 1) /* N"} VALUE\n */
static void write_vcpu_line(FILE *f, const char *name, size_t name_len,
			    const struct vcpu_prefix *pre, uint32_t index, uint64_t val,
			    enum prom_unit unit)
{
	char line[VCPU_LINE_BYTES];
	char *p = line;

	if (name_len + pre->len + VCPU_TAIL_BYTES <= sizeof(line)) {
		memcpy(p, name, name_len);
		p += name_len;
		memcpy(p, pre->s, pre->len);
		p += pre->len;
	} else { /* a long VM name: the prefix goes out apart */
		fwrite_unlocked(name, 1, name_len, f);
		fwrite_unlocked(pre->s, 1, pre->len, f);
	}
	p = fmt_u64(p, index, 1);
	memcpy(p, "\"} ", 3);
	p += 3;
	p = unit == PROM_SECONDS ? fmt_seconds(p, val) : fmt_u64(p, val, 1);
	*p++ = '\n';
	fwrite_unlocked(line, 1, (size_t)(p - line), f);
}

static void write_vcpu_metric(FILE *f, const struct host_view *hv, const struct vcpu_prefix *pre,
			      const struct vcpu_metric *c)
{
	size_t name_len = strlen(c->name);

	if (c->detail && hv->vcpu_minimal)
		return;
	write_header(f, c->name, c->type, c->help);
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		for (size_t j = 0; j < vm->nvcpus; j++) {
			const struct vcpu_view *v = &vm->vcpus[j];

			if (c->commit_only && !v->commit_enabled)
				continue;
			write_vcpu_line(f, c->name, name_len, &pre[i], v->index,
					vcpu_field(v, c->offset), c->unit);
		}
	}
}

static void write_vcpu_metrics(FILE *f, const struct host_view *hv, const struct vcpu_prefix *pre,
			       const struct vcpu_metric *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		write_vcpu_metric(f, hv, pre, &c[i]);
}

/* The vCPU's histogram; buckets are capped at its waits, so a read racing BPF stays monotonic. */
static void vcpu_hist(const struct vcpu_view *v, struct hist_series *h)
{
	uint64_t cum = 0;
	unsigned int slot = 0;

	for (size_t b = 0; b < ARRAY_SIZE(hist_bounds_log2); b++) {
		while (slot < hist_bounds_log2[b])
			cum += v->hist[slot++];
		h->buckets[b] = cum < v->waits ? cum : v->waits;
	}
	h->buckets[HIST_BUCKETS - 1] = v->waits;
	h->sum_ns = v->wait_sum_ns;
	h->count = v->waits;
}

/* The sum of the VM's vCPU histograms. */
static void vm_hist(const struct vm_view *vm, struct hist_series *h)
{
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < vm->nvcpus; i++) {
		struct hist_series v;

		vcpu_hist(&vm->vcpus[i], &v);
		for (size_t b = 0; b < HIST_BUCKETS; b++)
			h->buckets[b] = add_sat(h->buckets[b], v.buckets[b]);
		h->sum_ns = add_sat(h->sum_ns, v.sum_ns);
		h->count = add_sat(h->count, v.count);
	}
}

static void write_hist(FILE *f, const char *name, const struct vm_view *vm,
		       const struct hist_series *h)
{
	char series[64];

	snprintf(series, sizeof(series), "%s_bucket", name);
	for (size_t b = 0; b < HIST_BUCKETS; b++) {
		write_series(f, series, vm);
		fputs_unlocked(",le=\"", f);
		if (b < ARRAY_SIZE(hist_bounds_log2))
			prom_write_seconds(f, UINT64_C(1) << hist_bounds_log2[b]);
		else
			fputs_unlocked("+Inf", f);
		fprintf(f, "\"} %" PRIu64 "\n", h->buckets[b]);
	}
	snprintf(series, sizeof(series), "%s_sum", name);
	write_series(f, series, vm);
	fputs_unlocked("} ", f);
	write_value(f, h->sum_ns, PROM_SECONDS);
	snprintf(series, sizeof(series), "%s_count", name);
	write_series(f, series, vm);
	fputs_unlocked("} ", f);
	write_value(f, h->count, PROM_COUNT);
}

static void write_vm_hist_family(FILE *f, const struct host_view *hv)
{
	write_header(f, VM_HIST_NAME, "histogram",
		     "Single runqueue waits of the VM's vCPU threads (per vCPU in the JSON "
		     "API's wait_hist); _sum/_count is the mean wait.");
	for (size_t i = 0; i < hv->nvms; i++) {
		struct hist_series h;

		vm_hist(&hv->vms[i], &h);
		write_hist(f, VM_HIST_NAME, &hv->vms[i], &h);
	}
}

static void write_vm_info(FILE *f, const struct host_view *hv)
{
	write_header(f, "stealtime_vm_info", "gauge",
		     "A VM seen on this host (always 1): uuid and pid of its VMM, and whether "
		     "the VMM registered a guest record region.");
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		fputs_unlocked("stealtime_vm_info{", f);
		write_vm_labels(f, vm);
		fputs_unlocked(",uuid=\"", f);
		prom_write_label_value(f, vm->uuid);
		fprintf(f, "\",pid=\"%" PRId32 "\",registered=\"%s\"} 1\n", vm->pid,
			vm->registered ? "true" : "false");
	}
}

/* A kind whose culprits can have series of their own */
static bool known_kind(enum culprit_kind kind)
{
	return kind == CULPRIT_VM || kind == CULPRIT_PROCESS || kind == CULPRIT_KERNEL;
}

static int cmp_kind_name(const void *a, const void *b)
{
	const struct culprit_sum *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Largest first; ties by kind and name, so that the output is stable. */
static int cmp_largest(const void *a, const void *b)
{
	const struct culprit_sum *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? 1 : -1;
	return cmp_kind_name(a, b);
}

/*
 * The VM's culprits of a known kind merged by (kind, name), largest first,
 * into *out (malloc'd, *n entries); the time of kind throttled into
 * *throttled_ns, of kind other into *other_ns. Returns 0 or -ENOMEM.
 */
static int merge_culprits(const struct vm_view *vm, struct culprit_sum **out, size_t *n,
			  uint64_t *throttled_ns, uint64_t *other_ns)
{
	struct culprit_sum *s = calloc(vm->nculprits ? vm->nculprits : 1, sizeof(*s));
	size_t m = 0;

	*throttled_ns = *other_ns = 0;
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < vm->nculprits; i++) {
		const struct culprit_view *c = &vm->culprits[i];

		if (known_kind(c->kind))
			s[m++] = (struct culprit_sum){ c->kind, c->name, c->ns };
		else if (c->kind == CULPRIT_THROTTLED)
			*throttled_ns = add_sat(*throttled_ns, c->ns);
		else
			*other_ns = add_sat(*other_ns, c->ns);
	}
	qsort(s, m, sizeof(*s), cmp_kind_name);
	*n = 0;
	for (size_t i = 0; i < m; i++) {
		if (*n && !cmp_kind_name(&s[*n - 1], &s[i]))
			s[*n - 1].ns = add_sat(s[*n - 1].ns, s[i].ns);
		else
			s[(*n)++] = s[i];
	}
	qsort(s, *n, sizeof(*s), cmp_largest);
	*out = s;
	return 0;
}

static void write_stolen_by(FILE *f, const struct vm_view *vm, const char *kind,
			    const char *culprit, uint64_t ns)
{
	fputs_unlocked(STOLEN_BY_NAME "{", f);
	write_vm_labels(f, vm);
	fprintf(f, ",culprit_kind=\"%s\",culprit=\"", kind);
	prom_write_label_value(f, culprit);
	fputs_unlocked("\"} ", f);
	write_value(f, ns, PROM_SECONDS);
}

/* Does culprit s get a series of its own? */
static bool exported(const struct vm_view *vm, const struct culprit_sum *s, size_t rank,
		     unsigned int top)
{
	if (!vm->exported) /* no daemon state: the largest */
		return rank < top;
	for (size_t i = 0; i < vm->nexported && i < top; i++)
		if (vm->exported[i].kind == s->kind && strcmp(vm->exported[i].name, s->name) == 0)
			return true;
	return false;
}

static int write_vm_culprits(FILE *f, const struct vm_view *vm, unsigned int top)
{
	struct culprit_sum *s;
	uint64_t throttled_ns, other_ns;
	size_t n;
	int err = merge_culprits(vm, &s, &n, &throttled_ns, &other_ns);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		if (exported(vm, &s[i], i, top))
			write_stolen_by(f, vm, culprit_kind_name(s[i].kind), s[i].name, s[i].ns);
		else
			other_ns = add_sat(other_ns, s[i].ns);
	}
	if (throttled_ns)
		write_stolen_by(f, vm, culprit_kind_name(CULPRIT_THROTTLED), "throttled", throttled_ns);
	write_stolen_by(f, vm, culprit_kind_name(CULPRIT_OTHER), "other", other_ns);
	free(s);
	return 0;
}

static int write_culprits(FILE *f, const struct host_view *hv)
{
	unsigned int top = hv->top_culprits ? hv->top_culprits : DEFAULT_TOP_CULPRITS;
	int err = 0;

	write_header(f, STOLEN_BY_NAME, "counter",
		     "Time the VM's vCPUs waited while this culprit ran on their CPU; the "
		     "largest culprits by kind and name, spans its own cgroups were throttled "
		     "under throttled, the rest under kind and name other.");
	for (size_t i = 0; i < hv->nvms && !err; i++)
		err = write_vm_culprits(f, &hv->vms[i], top);
	return err;
}

static void write_throttled(FILE *f, const struct host_view *hv)
{
	write_header(f, THROTTLED_NAME, "counter",
		     "Time the VM lost to its own CPU quota: throttling (cpu.stat) of the cgroups "
		     "of its vCPU threads up to the VM's own cgroup.");
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		if (!vm->throttled_known)
			continue;
		fputs_unlocked(THROTTLED_NAME "{", f);
		write_vm_labels(f, vm);
		fputs_unlocked("} ", f);
		write_value(f, vm->throttled_ns, PROM_SECONDS);
	}
}

/* Only vCPUs whose thread has had a cgroup of its own: the others have no share of their own */
static void write_vcpu_throttled(FILE *f, const struct host_view *hv,
				 const struct vcpu_prefix *pre)
{
	if (hv->vcpu_minimal)
		return;
	write_header(f, VCPU_THROTTLED_NAME, "counter",
		     "Time the vCPU lost to the CPU quota of its thread's own cgroup (cpu.stat; "
		     "libvirt's vcpu_quota); the VM-wide quota counts in the VM's series.");
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		for (size_t j = 0; j < vm->nvcpus; j++) {
			if (!vm->vcpus[j].throttled_known)
				continue;
			write_vcpu_line(f, VCPU_THROTTLED_NAME, strlen(VCPU_THROTTLED_NAME), &pre[i],
					vm->vcpus[j].index, vm->vcpus[j].throttled_ns, PROM_SECONDS);
		}
	}
}

static void write_host_gauges(FILE *f, const struct host_view *hv)
{
	size_t nvcpus = 0, seeded = 0, unbound = 0;

	for (size_t i = 0; i < hv->nvms; i++) {
		nvcpus += hv->vms[i].nvcpus;
		for (size_t j = 0; j < hv->vms[i].nvcpus; j++) {
			seeded += hv->vms[i].vcpus[j].commit_enabled &&
				  hv->vms[i].vcpus[j].seeded_ns > 0;
			unbound += !hv->vms[i].vcpus[j].bound;
		}
	}
	write_header(f, "stealtime_vms", "gauge", "VMs seen on this host.");
	fprintf(f, "stealtime_vms %zu\n", hv->nvms);
	write_header(f, "stealtime_vcpus", "gauge", "vCPUs seen on this host.");
	fprintf(f, "stealtime_vcpus %zu\n", nvcpus);
	write_header(f, "stealtime_vcpus_seeded", "gauge",
		     "vCPUs whose guest record was seeded with a starting value (migration, restore).");
	fprintf(f, "stealtime_vcpus_seeded %zu\n", seeded);
	write_header(f, "stealtime_vcpus_unbound", "gauge",
		     "vCPUs seen whose thread is not measured now (not run yet, gone, or not bound).");
	fprintf(f, "stealtime_vcpus_unbound %zu\n", unbound);
}

static void write_daemon_counters(FILE *f, const struct daemon_stats_view *stats)
{
	for (size_t i = 0; i < ARRAY_SIZE(daemon_counters); i++) {
		const struct daemon_counter *c = &daemon_counters[i];
		uint64_t val = *(const uint64_t *)((const char *)stats + c->offset);

		write_header(f, c->name, "counter", c->help);
		fprintf(f, "%s %" PRIu64 "\n", c->name, val);
	}
}

/* The one labelled daemon counter: a series per content coding. */
static void write_http_bytes(FILE *f, const struct daemon_stats_view *stats)
{
	write_header(f, HTTP_BYTES_NAME, "counter",
		     "HTTP response body bytes sent, by content coding (gzip: as compressed).");
	fprintf(f, HTTP_BYTES_NAME "{encoding=\"gzip\"} %" PRIu64 "\n", stats->http_bytes_gzip);
	fprintf(f, HTTP_BYTES_NAME "{encoding=\"identity\"} %" PRIu64 "\n",
		stats->http_bytes_identity);
}

/* How long whole rescans held the table's lock (control requests wait as long) */
static void write_rescan_apply(FILE *f, const struct daemon_stats_view *stats)
{
	write_header(f, "stealtime_daemon_rescan_apply_seconds_total", "counter",
		     "Time the updates of whole rescans held the VM table's lock.");
	fputs("stealtime_daemon_rescan_apply_seconds_total ", f);
	prom_write_seconds(f, stats->rescan_apply_ns);
	fputc('\n', f);
	write_header(f, "stealtime_daemon_rescan_apply_max_seconds", "gauge",
		     "Longest time one whole rescan's update held the VM table's lock.");
	fputs("stealtime_daemon_rescan_apply_max_seconds ", f);
	prom_write_seconds(f, stats->rescan_apply_max_ns);
	fputc('\n', f);
}

int render_prom(const struct host_view *hv, FILE *f)
{
	struct vcpu_prefix *pre;
	int err = build_prefixes(hv, &pre);

	if (err)
		return err;
	write_vcpu_metrics(f, hv, pre, vcpu_metrics, ARRAY_SIZE(vcpu_metrics));
	write_vcpu_metrics(f, hv, pre, commit_counters, ARRAY_SIZE(commit_counters));
	write_vm_info(f, hv);
	err = write_culprits(f, hv);
	if (!err) {
		write_throttled(f, hv);
		write_vcpu_throttled(f, hv, pre);
	}
	free_prefixes(pre, hv->nvms);
	if (err)
		return err;
	write_vm_hist_family(f, hv);
	write_host_gauges(f, hv);
	write_daemon_counters(f, &hv->stats);
	write_http_bytes(f, &hv->stats);
	write_rescan_apply(f, &hv->stats);
	return ferror(f) ? -EIO : 0;
}
