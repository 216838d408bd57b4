// link: daemon/render_json.c daemon/http_body.c daemon/http_encoding.c daemon/vm_naming.c daemon/host_view.c daemon/log.c
// SPDX-License-Identifier: GPL-2.0
/*
 * render_vms: the body of GET /v1/vms for a synthetic view of VMS x VCPUS
 * (default 256 x 64: random counters and histograms, three culprits a VM),
 * natively, to be run under valgrind (massif: peak heap; callgrind:
 * instructions) or alone (peak RSS).
 *
 *   render_vms [--tree] [--gzip] [--trim] [--out FILE] [VMS [VCPUS]]
 *
 * --tree: as one jansson tree, json_dumps()'d, then http_gzip()'d whole
 * (without the trailing newline); else one VM at a time through
 * http_body_render(). --trim: malloc_trim(0) once the body is freed.
 * Prints the view's size, the body's, the time taken, peak RSS, and what
 * malloc holds (in use, free) and RSS once the body and view are freed.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "http_body.h"
#include "http_encoding.h"
#include "render_json.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_vcpu(struct vcpu_view *v, uint32_t index)
{
	v->index = index;
	v->tid = (int32_t)(10000 + rnd() % 100000);
	v->bound = true;
	v->steal_ns = rnd() % 100000000000;
	v->run_ns = rnd() % 1000000000000;
	v->waits = rnd() % 1000000;
	v->preemptions = rnd() % 100000;
	v->wakeups = rnd() % 1000000;
	for (int i = 0; i < ST_HIST_SLOTS; i++)
		v->hist[i] = i < 24 ? rnd() % 50000 : 0;
	v->max_wait_ns = rnd() % 10000000;
	v->wait_sum_ns = rnd() % 10000000000;
	v->throttled_known = true;
	v->throttled_ns = rnd() % 1000;
}

static int fill_vm(struct vm_view *vm, size_t i, size_t nvcpus)
{
	static const enum culprit_kind kinds[] = { CULPRIT_VM, CULPRIT_PROCESS, CULPRIT_OTHER };

	snprintf(vm->id, sizeof(vm->id), "%016llx", (unsigned long long)rnd());
	snprintf(vm->name, sizeof(vm->name), "guest-%04zu", i);
	snprintf(vm->uuid, sizeof(vm->uuid), "6c0ffee0-0000-4000-8000-%012x", (unsigned)i);
	strcpy(vm->comm, "qemu-system-x86");
	vm->pid = (int32_t)(1000 + i);
	snprintf(vm->cgroup, sizeof(vm->cgroup),
		 "/machine.slice/machine-qemu\\x2d%zu\\x2dguest\\x2d%04zu.scope", i + 1, i);
	vm->throttled_known = true;
	vm->vcpus = calloc(nvcpus ? nvcpus : 1, sizeof(*vm->vcpus));
	vm->culprits = calloc(3, sizeof(*vm->culprits));
	if (!vm->vcpus || !vm->culprits)
		return -1;
	vm->nvcpus = nvcpus;
	for (size_t j = 0; j < nvcpus; j++) {
		fill_vcpu(&vm->vcpus[j], (uint32_t)j);
		if (vm->vcpus[j].max_wait_ns > vm->max_wait_ns)
			vm->max_wait_ns = vm->vcpus[j].max_wait_ns;
	}
	vm->nculprits = 3;
	for (size_t k = 0; k < 3; k++) {
		struct culprit_view *c = &vm->culprits[k];

		c->kind = kinds[k];
		snprintf(c->name, sizeof(c->name), k == 2 ? "other" : "culprit-%zu", k);
		c->pid = k == 2 ? 0 : (int32_t)(2000 + k);
		c->ns = rnd() % 1000000000 / (k + 1);
	}
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kib(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%*s %ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The body as the tree was rendered: one tree, its text, then compressed whole. */
__attribute__((noinline)) static int render_tree(const struct host_view *hv, bool gzip, struct http_body *body)
{
	json_t *j = render_vms_json(hv);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	void *gz;
	size_t gz_len;

	json_decref(j);
	if (!text)
		return -1;
	*body = (struct http_body){ .data = text, .len = strlen(text) };
	if (!gzip || body->len < HTTP_GZIP_MIN_BYTES || http_gzip(text, body->len, &gz, &gz_len))
		return 0;
	free(text);
	*body = (struct http_body){ .data = gz, .len = gz_len, .gzip = true };
	return 0;
}

int main(int argc, char **argv)
{
	bool tree = false, gzip = false, trim = false;
	const char *out = NULL;
	size_t nvms = 256, nvcpus = 64, view_bytes;
	struct host_view hv = { 0 };
	struct http_body body;
	struct rusage ru;
	struct mallinfo2 mi;
	double t0, ms;
	int i, err;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--tree"))
			tree = true;
		else if (!strcmp(argv[i], "--gzip"))
			gzip = true;
		else if (!strcmp(argv[i], "--trim"))
			trim = true;
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else
			return fprintf(stderr, "usage: %s [--tree] [--gzip] [--trim] [--out FILE] "
				       "[VMS [VCPUS]]\n", argv[0]), 2;
	}
	if (i < argc)
		nvms = strtoul(argv[i++], NULL, 10);
	if (i < argc)
		nvcpus = strtoul(argv[i], NULL, 10);
	hv.vms = calloc(nvms ? nvms : 1, sizeof(*hv.vms));
	if (!hv.vms)
		return 1;
	for (hv.nvms = 0; hv.nvms < nvms; hv.nvms++)
		if (fill_vm(&hv.vms[hv.nvms], hv.nvms, nvcpus))
			return 1;
	view_bytes = nvms * (sizeof(struct vm_view) + 3 * sizeof(struct culprit_view) +
			     nvcpus * sizeof(struct vcpu_view));
	t0 = now_ms();
	err = tree ? render_tree(&hv, gzip, &body) : http_body_render(&hv, render_vms_write, gzip, &body);
	ms = now_ms() - t0;
	if (err)
		return fprintf(stderr, "render failed: %d\n", err), 1;
	if (out) {
		FILE *f = fopen(out, "w");

		if (!f || fwrite(body.data, 1, body.len, f) != body.len || fclose(f))
			return perror(out), 1;
	}
	printf("%s%s: %zu VMs x %zu vCPUs, view %zu B (%zu B a vCPU), body %zu B%s, %.1f ms\n",
	       tree ? "tree" : "stream", gzip ? " gzip" : "", nvms, nvcpus, view_bytes,
	       nvms && nvcpus ? view_bytes / (nvms * nvcpus) : 0, body.len,
	       body.gzip ? " gzip" : "", ms);
	free(body.data);
	host_view_free(&hv);
	if (trim)
		malloc_trim(0);
	mi = mallinfo2();
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS %ld KiB; after: malloc in use %zu KiB, free %zu KiB, RSS %ld KiB%s\n",
	       ru.ru_maxrss, (mi.uordblks + mi.hblkhd) / 1024, mi.fordblks / 1024, rss_kib(),
	       trim ? " (trimmed)" : "");
	return 0;
}
