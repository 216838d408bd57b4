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
 *   stealtime_vcpu_max_wait_seconds         gauge      longest single wait
 *   stealtime_vcpu_wait_seconds             histogram  single waits (+ label le)
 *   stealtime_vcpu_committed_seconds_total  counter    last value written to the
 *                                                      guest record (only vCPUs
 *                                                      with a record)
 *   stealtime_vcpu_commits_total            counter    guest record writes (same)
 *
 * Per VM:
 *   stealtime_vm_info  gauge, always 1  {vm, vm_id, uuid, pid, registered}
 *   stealtime_vm_stolen_by_seconds_total  counter  {vm, vm_id, kind, culprit,
 *       culprit_pid}: time the VM's vCPUs waited while this culprit ran on
 *       their CPU; kind is "vm", "process", "kernel" or "other" (idle,
 *       interrupts, not seen), culprit its name; every culprit of the
 *       view (the view is where their number is bounded)
 *   stealtime_vm_cpu_throttled_seconds_total  counter  {vm, vm_id}: CPU
 *       quota throttling of the VMM's cgroup (cpu.stat), when readable
 *
 * Host and daemon:
 *   stealtime_vms                               gauge    VMs seen
 *   stealtime_vcpus                             gauge    vCPUs seen
 *   stealtime_daemon_rescans_total              counter  discovery scans run
 *   stealtime_daemon_rescan_requests_total      counter  scans asked for by BPF
 *                                                        (unknown KVM thread)
 *   stealtime_daemon_discovery_errors_total     counter  failed discovery scans
 *   stealtime_daemon_slots_exhausted_total      counter  vCPUs left untracked: no
 *                                                        free slot
 *   stealtime_daemon_http_requests_total        counter  HTTP requests
 *   stealtime_daemon_http_errors_total          counter  HTTP requests answered
 *                                                        with 4xx/5xx
 *   stealtime_daemon_control_requests_total     counter  control socket requests
 *   stealtime_daemon_control_errors_total       counter  control requests refused
 *   stealtime_bpf_ringbuf_drops_total           counter  rescan requests lost to a
 *                                                        full ring buffer
 *   stealtime_bpf_bad_slot_total                counter  BPF events naming an
 *                                                        invalid vCPU slot
 *   stealtime_bpf_region_missing_total          counter  guest record writes
 *                                                        skipped: no region map
 *   stealtime_bpf_attribution_drops_total       counter  who-ran-instead updates
 *                                                        that did not fit (their
 *                                                        time counts as "other")
 *
 * The histogram comes from the BPF log2 slots: hist[i] counts waits with
 * 2^i <= ns < 2^(i+1) (slot 0 also 0 ns, the last slot everything above).
 * Bucket le=2^k ns counts slots i < k, for k = 10, 12, ..., 30 and 31; a
 * bound past 2^31 ns would need the open-ended last slot, so the next
 * bucket is +Inf. _count is the waits counter and _sum the steal counter:
 * stolen time is the sum of the waits (it also holds the wait that just
 * ended before it is counted, so the two can differ by one wait). Buckets
 * are capped at _count so that a read racing BPF stays monotonic.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>

#include "render_prom.h"
#include "vm_naming.h"

#define NSEC_PER_SEC UINT64_C(1000000000)

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
	  VCPU_FIELD(steal_ns), PROM_SECONDS, false },
	{ "stealtime_vcpu_run_seconds_total", "counter", "Time the vCPU thread ran on a CPU.",
	  VCPU_FIELD(run_ns), PROM_SECONDS, false },
	{ "stealtime_vcpu_waits_total", "counter",
	  "Runqueue waits of the vCPU thread that ended on a CPU.",
	  VCPU_FIELD(waits), PROM_COUNT, false },
	{ "stealtime_vcpu_preemptions_total", "counter",
	  "Times the vCPU thread was switched out while still runnable.",
	  VCPU_FIELD(preemptions), PROM_COUNT, false },
	{ "stealtime_vcpu_wakeups_total", "counter", "Wakeups of the vCPU thread.",
	  VCPU_FIELD(wakeups), PROM_COUNT, false },
	{ "stealtime_vcpu_max_wait_seconds", "gauge",
	  "Longest single runqueue wait of the vCPU thread so far.",
	  VCPU_FIELD(max_wait_ns), PROM_SECONDS, false },
};

static const struct vcpu_metric commit_counters[] = {
	{ "stealtime_vcpu_committed_seconds_total", "counter",
	  "Stolen time last written to the guest's stolen-time record (vCPUs with a record).",
	  VCPU_FIELD(committed_ns), PROM_SECONDS, true },
	{ "stealtime_vcpu_commits_total", "counter",
	  "Writes to the guest's stolen-time record (vCPUs with a record).",
	  VCPU_FIELD(commits), PROM_COUNT, true },
};

static const struct daemon_counter daemon_counters[] = {
	{ "stealtime_daemon_rescans_total", "Discovery scans of KVM vCPUs run.",
	  STATS_FIELD(rescans) },
	{ "stealtime_daemon_rescan_requests_total",
	  "Discovery scans asked for by BPF after an unknown KVM thread ran.",
	  STATS_FIELD(rescan_requests) },
	{ "stealtime_daemon_discovery_errors_total", "Discovery scans that failed.",
	  STATS_FIELD(discovery_errors) },
	{ "stealtime_daemon_slots_exhausted_total",
	  "vCPUs left untracked because every vCPU slot was in use.",
	  STATS_FIELD(slots_exhausted) },
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
	{ "stealtime_bpf_region_missing_total",
	  "Guest record writes BPF skipped because the VM's region map was missing.",
	  STATS_FIELD(region_missing) },
	{ "stealtime_bpf_attribution_drops_total",
	  "Who-ran-instead updates BPF could not store; their time counts as kind other.",
	  STATS_FIELD(attribution_drops) },
};

static const char *const culprit_kinds[] = {
	[CULPRIT_OTHER] = "other",
	[CULPRIT_VM] = "vm",
	[CULPRIT_PROCESS] = "process",
	[CULPRIT_KERNEL] = "kernel",
};

/* log2(ns) of the finite histogram bounds; each must leave the open-ended last slot out. */
#define HIST_TOP_LOG2 31
_Static_assert(HIST_TOP_LOG2 <= ST_HIST_SLOTS - 1, "histogram bound beyond the last closed slot");
static const unsigned int hist_bounds_log2[] = { 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
						 HIST_TOP_LOG2 };

#define HIST_NAME "stealtime_vcpu_wait_seconds"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void prom_write_seconds(FILE *f, uint64_t ns)
{
	uint64_t frac = ns % NSEC_PER_SEC;
	int digits = 9;

	fprintf(f, "%" PRIu64, ns / NSEC_PER_SEC);
	if (!frac)
		return;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	fprintf(f, ".%0*" PRIu64, digits, frac);
}

static void write_label_char(FILE *f, char c)
{
	switch (c) {
	case '\\':
		fputs("\\\\", f);
		break;
	case '"':
		fputs("\\\"", f);
		break;
	case '\n':
		fputs("\\n", f);
		break;
	default:
		fputc(c, f);
	}
}

void prom_write_label_value(FILE *f, const char *s)
{
	while (*s) {
		size_t n = vm_naming_utf8_len(s);

		if (n == 0) {
			fputs("\xef\xbf\xbd", f); /* U+FFFD */
			s++;
		} else if (n == 1) {
			write_label_char(f, *s++);
		} else {
			fwrite(s, 1, n, f);
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
	fputs("vm=\"", f);
	prom_write_label_value(f, vm_label(vm));
	fputs("\",vm_id=\"", f);
	prom_write_label_value(f, vm->id);
	fputc('"', f);
}

/* NAME{vm="...",vm_id="...",vcpu="N" without the closing brace */
static void write_vcpu_series(FILE *f, const char *name, const struct vm_view *vm,
			      const struct vcpu_view *v)
{
	fprintf(f, "%s{", name);
	write_vm_labels(f, vm);
	fprintf(f, ",vcpu=\"%" PRIu32 "\"", v->index);
}

static void write_value(FILE *f, uint64_t val, enum prom_unit unit)
{
	if (unit == PROM_SECONDS)
		prom_write_seconds(f, val);
	else
		fprintf(f, "%" PRIu64, val);
	fputc('\n', f);
}

static uint64_t vcpu_field(const struct vcpu_view *v, size_t offset)
{
	return *(const uint64_t *)((const char *)v + offset);
}

static void write_vcpu_metric(FILE *f, const struct host_view *hv, const struct vcpu_metric *c)
{
	write_header(f, c->name, c->type, c->help);
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		for (size_t j = 0; j < vm->nvcpus; j++) {
			const struct vcpu_view *v = &vm->vcpus[j];

			if (c->commit_only && !v->commit_enabled)
				continue;
			write_vcpu_series(f, c->name, vm, v);
			fputs("} ", f);
			write_value(f, vcpu_field(v, c->offset), c->unit);
		}
	}
}

static void write_vcpu_metrics(FILE *f, const struct host_view *hv,
				const struct vcpu_metric *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		write_vcpu_metric(f, hv, &c[i]);
}

static void write_bucket(FILE *f, const struct vm_view *vm, const struct vcpu_view *v,
			 unsigned int k, uint64_t count)
{
	write_vcpu_series(f, HIST_NAME "_bucket", vm, v);
	fputs(",le=\"", f);
	if (k < 64)
		prom_write_seconds(f, UINT64_C(1) << k);
	else
		fputs("+Inf", f);
	fprintf(f, "\"} %" PRIu64 "\n", count);
}

static void write_vcpu_hist(FILE *f, const struct vm_view *vm, const struct vcpu_view *v)
{
	uint64_t cum = 0;
	unsigned int slot = 0;

	for (size_t b = 0; b < ARRAY_SIZE(hist_bounds_log2); b++) {
		unsigned int k = hist_bounds_log2[b];

		while (slot < k)
			cum += v->hist[slot++];
		write_bucket(f, vm, v, k, cum < v->waits ? cum : v->waits);
	}
	write_bucket(f, vm, v, 64, v->waits);
	write_vcpu_series(f, HIST_NAME "_sum", vm, v);
	fputs("} ", f);
	write_value(f, v->steal_ns, PROM_SECONDS);
	write_vcpu_series(f, HIST_NAME "_count", vm, v);
	fputs("} ", f);
	write_value(f, v->waits, PROM_COUNT);
}

static void write_hist_family(FILE *f, const struct host_view *hv)
{
	write_header(f, HIST_NAME, "histogram",
		     "Single runqueue waits of the vCPU thread; _sum is the stolen time, "
		     "which is the sum of the waits.");
	for (size_t i = 0; i < hv->nvms; i++)
		for (size_t j = 0; j < hv->vms[i].nvcpus; j++)
			write_vcpu_hist(f, &hv->vms[i], &hv->vms[i].vcpus[j]);
}

static void write_vm_info(FILE *f, const struct host_view *hv)
{
	write_header(f, "stealtime_vm_info", "gauge",
		     "A VM seen on this host (always 1): uuid and pid of its VMM, and whether "
		     "the VMM registered a guest record region.");
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		fputs("stealtime_vm_info{", f);
		write_vm_labels(f, vm);
		fputs(",uuid=\"", f);
		prom_write_label_value(f, vm->uuid);
		fprintf(f, "\",pid=\"%" PRId32 "\",registered=\"%s\"} 1\n", vm->pid,
			vm->registered ? "true" : "false");
	}
}

static const char *culprit_kind(enum culprit_kind kind)
{
	if ((size_t)kind < ARRAY_SIZE(culprit_kinds) && culprit_kinds[kind])
		return culprit_kinds[kind];
	return "other";
}

static void write_culprit(FILE *f, const struct vm_view *vm, const struct culprit_view *c)
{
	fputs("stealtime_vm_stolen_by_seconds_total{", f);
	write_vm_labels(f, vm);
	fprintf(f, ",kind=\"%s\",culprit=\"", culprit_kind(c->kind));
	prom_write_label_value(f, c->name);
	fprintf(f, "\",culprit_pid=\"%" PRId32 "\"} ", c->pid);
	write_value(f, c->ns, PROM_SECONDS);
}

static void write_culprits(FILE *f, const struct host_view *hv)
{
	write_header(f, "stealtime_vm_stolen_by_seconds_total", "counter",
		     "Time the VM's vCPUs waited while this culprit ran on their CPU "
		     "(kind vm, process, kernel, or other: idle, interrupts, not seen).");
	for (size_t i = 0; i < hv->nvms; i++)
		for (size_t j = 0; j < hv->vms[i].nculprits; j++)
			write_culprit(f, &hv->vms[i], &hv->vms[i].culprits[j]);
}

static void write_throttled(FILE *f, const struct host_view *hv)
{
	write_header(f, "stealtime_vm_cpu_throttled_seconds_total", "counter",
		     "CPU quota throttling of the VMM's cgroup (cpu.stat throttled_usec).");
	for (size_t i = 0; i < hv->nvms; i++) {
		const struct vm_view *vm = &hv->vms[i];

		if (!vm->throttled_known)
			continue;
		fputs("stealtime_vm_cpu_throttled_seconds_total{", f);
		write_vm_labels(f, vm);
		fputs("} ", f);
		write_value(f, vm->throttled_ns, PROM_SECONDS);
	}
}

static void write_host_gauges(FILE *f, const struct host_view *hv)
{
	size_t nvcpus = 0;

	for (size_t i = 0; i < hv->nvms; i++)
		nvcpus += hv->vms[i].nvcpus;
	write_header(f, "stealtime_vms", "gauge", "VMs seen on this host.");
	fprintf(f, "stealtime_vms %zu\n", hv->nvms);
	write_header(f, "stealtime_vcpus", "gauge", "vCPUs seen on this host.");
	fprintf(f, "stealtime_vcpus %zu\n", nvcpus);
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

int render_prom(const struct host_view *hv, FILE *f)
{
	write_vcpu_metrics(f, hv, vcpu_metrics, ARRAY_SIZE(vcpu_metrics));
	write_hist_family(f, hv);
	write_vcpu_metrics(f, hv, commit_counters, ARRAY_SIZE(commit_counters));
	write_vm_info(f, hv);
	write_culprits(f, hv);
	write_throttled(f, hv);
	write_host_gauges(f, hv);
	write_daemon_counters(f, &hv->stats);
	return ferror(f) ? -EIO : 0;
}
