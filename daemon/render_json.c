// SPDX-License-Identifier: GPL-2.0
/*
 * JSON documents of the HTTP API. Each builder returns a new reference or
 * NULL; json_object_set_new()/json_array_append_new() take the value even
 * when it is NULL or they fail, so a builder collects failures in one int
 * and drops its object once at the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render_json.h"
#include "vm_naming.h"

/* jansson's integers are signed: clamp at INT64_MAX. */
static json_t *json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* A JSON string of s; bytes that are not valid UTF-8 become '?'. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	vm_naming_sanitize(copy);
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *finish(json_t *obj, int err)
{
	if (err) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* s, or null when it is empty */
static json_t *json_text_or_null(const char *s)
{
	return s[0] ? json_text(s) : json_null();
}

static json_t *render_commit_json(const struct vcpu_view *v)
{
	json_t *obj;
	int err = 0;

	if (!v->commit_enabled)
		return json_null();
	obj = json_object();
	err |= json_object_set_new(obj, "record_ipa", json_u64(v->record_ipa));
	err |= json_object_set_new(obj, "committed_ns", json_u64(v->committed_ns));
	err |= json_object_set_new(obj, "commits", json_u64(v->commits));
	err |= json_object_set_new(obj, "seeded_ns", json_u64(v->seeded_ns));
	return finish(obj, err);
}

static json_t *render_hist_json(const uint64_t *hist)
{
	json_t *arr = json_array();
	int err = 0;

	for (size_t i = 0; i < ST_HIST_SLOTS; i++)
		err |= json_array_append_new(arr, json_u64(hist[i]));
	return finish(arr, err);
}

static json_t *render_vcpu_json(const struct vcpu_view *v, bool hist)
{
	json_t *obj = json_object();
	int err = 0;

	err |= json_object_set_new(obj, "index", json_integer(v->index));
	err |= json_object_set_new(obj, "tid", json_integer(v->tid));
	err |= json_object_set_new(obj, "bound", json_boolean(v->bound));
	err |= json_object_set_new(obj, "steal_ns", json_u64(v->steal_ns));
	err |= json_object_set_new(obj, "run_ns", json_u64(v->run_ns));
	err |= json_object_set_new(obj, "waits", json_u64(v->waits));
	err |= json_object_set_new(obj, "preemptions", json_u64(v->preemptions));
	err |= json_object_set_new(obj, "wakeups", json_u64(v->wakeups));
	err |= json_object_set_new(obj, "max_wait_ns", json_u64(v->max_wait_ns));
	err |= json_object_set_new(obj, "wait_sum_ns", json_u64(v->wait_sum_ns));
	err |= json_object_set_new(obj, "throttled_ns", v->throttled_known ?
						json_u64(v->throttled_ns) : json_null());
	if (hist)
		err |= json_object_set_new(obj, "wait_hist", render_hist_json(v->hist));
	err |= json_object_set_new(obj, "commit", render_commit_json(v));
	return finish(obj, err);
}

static json_t *render_vcpus_json(const struct vm_view *vm, bool hist)
{
	json_t *arr = json_array();
	int err = 0;

	for (size_t i = 0; i < vm->nvcpus; i++)
		err |= json_array_append_new(arr, render_vcpu_json(&vm->vcpus[i], hist));
	return finish(arr, err);
}

static json_t *render_culprit_json(const struct culprit_view *c)
{
	json_t *obj = json_object();
	int err = 0;

	err |= json_object_set_new(obj, "kind", json_string(culprit_kind_name(c->kind)));
	err |= json_object_set_new(obj, "name", json_text(c->name));
	err |= json_object_set_new(obj, "ns", json_u64(c->ns));
	err |= json_object_set_new(obj, "pid", json_integer(c->kind == CULPRIT_OTHER ? 0 : c->pid));
	if (c->kind == CULPRIT_VM)
		err |= json_object_set_new(obj, "vm_id", json_text_or_null(c->vm_id));
	if (c->kind == CULPRIT_PROCESS)
		err |= json_object_set_new(obj, "cgroup", json_text_or_null(c->cgroup));
	return finish(obj, err);
}

static json_t *render_stolen_by_json(const struct vm_view *vm)
{
	json_t *arr = json_array();
	int err = 0;

	for (size_t i = 0; i < vm->nculprits; i++)
		err |= json_array_append_new(arr, render_culprit_json(&vm->culprits[i]));
	return finish(arr, err);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ceil(count * pct / 100) without overflow */
static uint64_t rank_of(uint64_t count, unsigned int pct)
{
	return count / 100 * pct + (count % 100 * pct + 99) / 100;
}

uint64_t render_wait_percentile(const uint64_t *hist, size_t nslots, unsigned int pct,
				uint64_t max_ns)
{
	uint64_t count = 0, cum = 0, rank;

	for (size_t i = 0; i < nslots; i++)
		count = add_sat(count, hist[i]);
	if (!count || !nslots)
		return 0;
	rank = rank_of(count, pct ? pct : 1);
	for (size_t i = 0; i + 1 < nslots && i < 63; i++) {
		cum = add_sat(cum, hist[i]);
		if (cum >= rank)
			return UINT64_C(1) << (i + 1);
	}
	if (nslots - 1 >= 64)
		return UINT64_MAX;
	return max_ns > UINT64_C(1) << (nslots - 1) ? max_ns : UINT64_C(1) << (nslots - 1);
}

static json_t *json_percentile(const uint64_t *hist, uint64_t count, unsigned int pct,
			       uint64_t max_ns)
{
	if (!count)
		return json_null();
	return json_u64(render_wait_percentile(hist, ST_HIST_SLOTS, pct, max_ns));
}

/* {"p50_ns","p99_ns","max_ns","count","hist"} over the sum of the vCPUs' histograms */
static json_t *render_wait_json(const struct vm_view *vm)
{
	uint64_t hist[ST_HIST_SLOTS] = { 0 }, count = 0;
	json_t *obj = json_object();
	int err = 0;

	for (size_t i = 0; i < vm->nvcpus; i++)
		for (size_t j = 0; j < ST_HIST_SLOTS; j++)
			hist[j] = add_sat(hist[j], vm->vcpus[i].hist[j]);
	for (size_t j = 0; j < ST_HIST_SLOTS; j++)
		count = add_sat(count, hist[j]);
	err |= json_object_set_new(obj, "p50_ns", json_percentile(hist, count, 50, vm->max_wait_ns));
	err |= json_object_set_new(obj, "p99_ns", json_percentile(hist, count, 99, vm->max_wait_ns));
	err |= json_object_set_new(obj, "max_ns", json_u64(vm->max_wait_ns));
	err |= json_object_set_new(obj, "count", json_u64(count));
	err |= json_object_set_new(obj, "hist", render_hist_json(hist));
	return finish(obj, err);
}

static json_t *vm_json(const struct vm_view *vm, bool vcpu_hists)
{
	json_t *obj = json_object();
	int err = 0;

	err |= json_object_set_new(obj, "id", json_text(vm->id));
	err |= json_object_set_new(obj, "name", json_text(vm->name));
	err |= json_object_set_new(obj, "pid", json_integer(vm->pid));
	err |= json_object_set_new(obj, "uuid", json_text_or_null(vm->uuid));
	err |= json_object_set_new(obj, "comm", json_text(vm->comm));
	err |= json_object_set_new(obj, "registered", json_boolean(vm->registered));
	if (vm->registered)
		err |= json_object_set_new(obj, "region_ipa", json_u64(vm->region_ipa));
	err |= json_object_set_new(obj, "cgroup", json_text_or_null(vm->cgroup));
	err |= json_object_set_new(obj, "throttled_ns", vm->throttled_known ?
						json_u64(vm->throttled_ns) : json_null());
	err |= json_object_set_new(obj, "max_wait_ns", json_u64(vm->max_wait_ns));
	err |= json_object_set_new(obj, "wait", render_wait_json(vm));
	err |= json_object_set_new(obj, "stolen_by", render_stolen_by_json(vm));
	err |= json_object_set_new(obj, "vcpus", render_vcpus_json(vm, vcpu_hists));
	return finish(obj, err);
}

json_t *render_vm_json(const struct vm_view *vm)
{
	return vm_json(vm, true);
}

json_t *render_vms_json(const struct host_view *hv)
{
	json_t *obj = json_object(), *arr = json_array();
	int err = 0;

	for (size_t i = 0; i < hv->nvms; i++)
		err |= json_array_append_new(arr, vm_json(&hv->vms[i], false));
	err |= json_object_set_new(obj, "vms", arr);
	return finish(obj, err);
}

int render_vms_write(const struct host_view *hv, FILE *f)
{
	if (fputs("{\"vms\":[", f) == EOF)
		return -EIO;
	for (size_t i = 0; i < hv->nvms; i++) {
		json_t *vm = vm_json(&hv->vms[i], false);
		/* one string, one write: json_dumpf() would write each token apart */
		char *text = vm ? json_dumps(vm, JSON_COMPACT) : NULL;
		int err = !text ? -ENOMEM :
			  (i && fputc(',', f) == EOF) || fputs(text, f) == EOF ? -EIO : 0;

		json_decref(vm);
		free(text);
		if (err)
			return err;
	}
	return fputs("]}\n", f) == EOF ? -EIO : 0;
}
