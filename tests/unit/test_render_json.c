// link: daemon/render_json.c daemon/vm_naming.c daemon/host_view.c daemon/log.c
// SPDX-License-Identifier: GPL-2.0
/* JSON documents of the HTTP API: shape, values, clamping, text hygiene, wait percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render_json.h"

static struct vcpu_view vcpus[2];
static struct culprit_view culprits[3];
static struct vm_view vms[2];
static struct host_view hv;

static int setup(void **state)
{
	memset(vcpus, 0, sizeof(vcpus));
	memset(vms, 0, sizeof(vms));
	memset(culprits, 0, sizeof(culprits));
	vcpus[0] = (struct vcpu_view){
		.index = 0, .tid = 4030, .bound = true, .steal_ns = 1500000000, .run_ns = 7000000000,
		.waits = 12, .preemptions = 4, .commit_enabled = true,
		.record_ipa = 0x90000040, .committed_ns = 1400000000, .commits = 9,
		.seeded_ns = 100, .wakeups = 13, .max_wait_ns = 2000000, .wait_sum_ns = 6000000,
	};
	vcpus[0].hist[0] = 2;
	vcpus[0].throttled_known = true;
	vcpus[0].throttled_ns = 4000;
	vcpus[0].hist[13] = 10;
	vcpus[0].hist[ST_HIST_SLOTS - 1] = 1;
	vcpus[1] = (struct vcpu_view){ .index = 3, .tid = 0, .steal_ns = UINT64_MAX,
				       .run_ns = (uint64_t)INT64_MAX + 1, .waits = INT64_MAX };

	strcpy(vms[0].id, "4021");
	strcpy(vms[0].name, "web01");
	strcpy(vms[0].uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	strcpy(vms[0].comm, "qemu-system-x86");
	vms[0].pid = 4021;
	vms[0].registered = true;
	vms[0].region_ipa = 0x90000000;
	vms[0].nvcpus = 2;
	vms[0].vcpus = vcpus;
	strcpy(vms[0].cgroup, "/machine.slice/machine-qemu\\x2d1\\x2dweb01.scope");
	vms[0].throttled_known = true;
	vms[0].throttled_ns = 5000;
	vms[0].max_wait_ns = 2000000;
	culprits[0] = (struct culprit_view){ .kind = CULPRIT_VM, .name = "db02", .vm_id = "5000",
					     .pid = 5000, .ns = 900 };
	culprits[1] = (struct culprit_view){ .kind = CULPRIT_PROCESS, .name = "gzip", .pid = 777,
					     .ns = 80 };
	culprits[2] = (struct culprit_view){ .kind = CULPRIT_OTHER, .name = "other", .ns = 7 };
	vms[0].nculprits = 3;
	vms[0].culprits = culprits;

	strcpy(vms[1].id, "4100");
	strcpy(vms[1].comm, "qemu-kvm");
	vms[1].pid = 4100;

	hv = (struct host_view){ .nvms = 2, .vms = vms };
	return 0;
}

static json_int_t int_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static const char *str_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

static void vms__two_vms__array_in_view_order(void **state)
{
	json_t *doc = render_vms_json(&hv);
	json_t *arr = json_object_get(doc, "vms");

	assert_true(json_is_array(arr));
	assert_int_equal(json_object_size(doc), 1);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(str_at(json_array_get(arr, 0), "id"), "4021");
	assert_string_equal(str_at(json_array_get(arr, 1), "id"), "4100");
	/* the list leaves per-vCPU histograms to /v1/vms/{id}; the VM's own stays */
	assert_null(json_object_get(json_array_get(json_object_get(json_array_get(arr, 0), "vcpus"), 0),
				    "wait_hist"));
	assert_non_null(json_object_get(json_object_get(json_array_get(arr, 0), "wait"), "hist"));
	json_decref(doc);
}

static void vms__empty_view__empty_array(void **state)
{
	struct host_view empty = { 0 };
	json_t *doc = render_vms_json(&empty);
	char *text = json_dumps(doc, JSON_COMPACT);

	assert_string_equal(text, "{\"vms\":[]}");
	free(text);
	json_decref(doc);
}

static void vm__registered__identity_fields(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);

	assert_string_equal(str_at(vm, "id"), "4021");
	assert_string_equal(str_at(vm, "name"), "web01");
	assert_int_equal(int_at(vm, "pid"), 4021);
	assert_string_equal(str_at(vm, "uuid"), "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	assert_string_equal(str_at(vm, "comm"), "qemu-system-x86");
	assert_true(json_is_true(json_object_get(vm, "registered")));
	assert_int_equal(int_at(vm, "region_ipa"), 0x90000000);
	assert_string_equal(str_at(vm, "cgroup"), "/machine.slice/machine-qemu\\x2d1\\x2dweb01.scope");
	assert_int_equal(int_at(vm, "throttled_ns"), 5000);
	assert_int_equal(int_at(vm, "max_wait_ns"), 2000000);
	assert_int_equal(json_array_size(json_object_get(vm, "vcpus")), 2);
	assert_null(json_object_get(vm, "culprits"));
	assert_int_equal(json_object_size(vm), 13);
	json_decref(vm);
}

static void vm__unregistered_without_uuid__uuid_null_and_no_region(void **state)
{
	json_t *vm = render_vm_json(&vms[1]);

	assert_true(json_is_null(json_object_get(vm, "uuid")));
	assert_true(json_is_false(json_object_get(vm, "registered")));
	assert_null(json_object_get(vm, "region_ipa"));
	assert_true(json_is_null(json_object_get(vm, "cgroup")));
	assert_true(json_is_null(json_object_get(vm, "throttled_ns")));
	assert_true(json_is_array(json_object_get(vm, "stolen_by")));
	assert_int_equal(json_array_size(json_object_get(vm, "stolen_by")), 0);
	assert_string_equal(str_at(vm, "name"), "");
	assert_true(json_is_array(json_object_get(vm, "vcpus")));
	assert_int_equal(json_array_size(json_object_get(vm, "vcpus")), 0);
	json_decref(vm);
}

static void vcpu__counters__integer_nanoseconds(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	json_t *v = json_array_get(json_object_get(vm, "vcpus"), 0);
	json_t *hist = json_object_get(v, "wait_hist");

	assert_int_equal(int_at(v, "index"), 0);
	assert_int_equal(int_at(v, "tid"), 4030);
	assert_true(json_is_true(json_object_get(v, "bound")));
	assert_int_equal(int_at(v, "steal_ns"), 1500000000);
	assert_int_equal(int_at(v, "run_ns"), 7000000000);
	assert_int_equal(int_at(v, "waits"), 12);
	assert_int_equal(int_at(v, "preemptions"), 4);
	assert_int_equal(int_at(v, "wakeups"), 13);
	assert_int_equal(int_at(v, "max_wait_ns"), 2000000);
	assert_int_equal(int_at(v, "wait_sum_ns"), 6000000);
	assert_int_equal(int_at(v, "throttled_ns"), 4000);
	assert_int_equal(json_array_size(hist), ST_HIST_SLOTS);
	for (size_t i = 0; i < ST_HIST_SLOTS; i++)
		assert_int_equal(json_integer_value(json_array_get(hist, i)), vcpus[0].hist[i]);
	assert_int_equal(json_object_size(v), 13);
	json_decref(vm);
}

static void vcpu__commit_enabled__commit_object(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	json_t *c = json_object_get(json_array_get(json_object_get(vm, "vcpus"), 0), "commit");

	assert_true(json_is_object(c));
	assert_int_equal(int_at(c, "record_ipa"), 0x90000040);
	assert_int_equal(int_at(c, "committed_ns"), 1400000000);
	assert_int_equal(int_at(c, "commits"), 9);
	assert_int_equal(int_at(c, "seeded_ns"), 100);
	assert_int_equal(json_object_size(c), 4);
	json_decref(vm);
}

static void vcpu__commit_disabled__commit_null(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	json_t *v = json_array_get(json_object_get(vm, "vcpus"), 1);

	assert_non_null(json_object_get(v, "commit"));
	assert_true(json_is_null(json_object_get(v, "commit")));
	json_decref(vm);
}

static void vm__stolen_by__kinds_and_kind_specific_members(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	json_t *arr = json_object_get(vm, "stolen_by");
	json_t *a = json_array_get(arr, 0), *b = json_array_get(arr, 1), *c = json_array_get(arr, 2);

	assert_int_equal(json_array_size(arr), 3);
	assert_string_equal(str_at(a, "kind"), "vm");
	assert_string_equal(str_at(a, "name"), "db02");
	assert_string_equal(str_at(a, "vm_id"), "5000");
	assert_int_equal(int_at(a, "pid"), 5000);
	assert_int_equal(int_at(a, "ns"), 900);
	assert_null(json_object_get(a, "cgroup"));
	assert_string_equal(str_at(b, "kind"), "process");
	assert_true(json_is_null(json_object_get(b, "cgroup"))); /* unknown */
	assert_null(json_object_get(b, "vm_id"));
	assert_string_equal(str_at(c, "kind"), "other");
	assert_string_equal(str_at(c, "name"), "other");
	assert_int_equal(int_at(c, "pid"), 0);
	assert_int_equal(int_at(c, "ns"), 7);
	assert_int_equal(json_object_size(c), 4);
	json_decref(vm);
}

static void vm__stolen_by__exact_text_in_view_order(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	char *text = json_dumps(json_object_get(vm, "stolen_by"), JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_string_equal(text,
		"[{\"kind\":\"vm\",\"name\":\"db02\",\"ns\":900,\"pid\":5000,\"vm_id\":\"5000\"},"
		"{\"kind\":\"process\",\"name\":\"gzip\",\"ns\":80,\"pid\":777,\"cgroup\":null},"
		"{\"kind\":\"other\",\"name\":\"other\",\"ns\":7,\"pid\":0}]");
	free(text);
	json_decref(vm);
}

static void vm__stolen_by_gone_vm_and_known_cgroup__null_and_path(void **state)
{
	struct culprit_view c[2] = {
		{ .kind = CULPRIT_VM, .name = "old", .pid = 12, .ns = 5 },
		{ .kind = CULPRIT_PROCESS, .name = "tar", .pid = 13, .cgroup = "/user.slice", .ns = 4 },
	};
	struct vm_view v = { .id = "9", .name = "x", .nculprits = 2, .culprits = c };
	json_t *vm = render_vm_json(&v);
	json_t *arr = json_object_get(vm, "stolen_by");

	assert_true(json_is_null(json_object_get(json_array_get(arr, 0), "vm_id")));
	assert_string_equal(str_at(json_array_get(arr, 1), "cgroup"), "/user.slice");
	json_decref(vm);
}

static void vm__stolen_by_throttled__kind_throttled_no_pid(void **state)
{
	struct culprit_view c[1] = {
		{ .kind = CULPRIT_THROTTLED, .name = "throttled", .ns = 6 },
	};
	struct vm_view v = { .id = "9", .name = "x", .nculprits = 1, .culprits = c };
	json_t *vm = render_vm_json(&v);
	char *text = json_dumps(json_object_get(vm, "stolen_by"), JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_string_equal(text, "[{\"kind\":\"throttled\",\"name\":\"throttled\",\"ns\":6,\"pid\":0}]");
	free(text);
	json_decref(vm);
}

/* --- wait distribution ----------------------------------------------------------- */

static void vm__wait__percentiles_from_summed_histograms(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	json_t *w = json_object_get(vm, "wait");

	/* 13 waits: 2 in slot 0, 10 in slot 13, 1 in the open-ended last slot */
	assert_int_equal(int_at(w, "count"), 13);
	assert_int_equal(int_at(w, "p50_ns"), 16384);      /* rank 7 in slot 13: 2^14 */
	assert_int_equal(int_at(w, "p99_ns"), 2147483648); /* rank 13: last slot, 2^31 > max */
	assert_int_equal(int_at(w, "max_ns"), 2000000);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(w, "hist"), 13)), 10);
	assert_int_equal(json_object_size(w), 5);
	json_decref(vm);
}

static void vm__wait__vcpus_summed(void **state)
{
	struct vcpu_view v[2] = { { .index = 0 }, { .index = 1 } };
	struct vm_view vm = { .id = "s", .nvcpus = 2, .vcpus = v, .max_wait_ns = 3000 };
	json_t *j, *w;

	v[0].hist[10] = 60; /* 1024..2048 ns */
	v[1].hist[10] = 38;
	v[1].hist[11] = 2;  /* 2048..4096 ns */
	j = render_vm_json(&vm);
	w = json_object_get(j, "wait");
	assert_int_equal(int_at(w, "count"), 100);
	assert_int_equal(int_at(w, "p50_ns"), 2048);
	assert_int_equal(int_at(w, "p99_ns"), 4096); /* rank 99 > 98 in slot 10 */
	assert_int_equal(int_at(w, "max_ns"), 3000);
	json_decref(j);
}

static void vm__wait__no_waits__null_percentiles(void **state)
{
	json_t *vm = render_vm_json(&vms[1]);
	json_t *w = json_object_get(vm, "wait");

	assert_true(json_is_null(json_object_get(w, "p50_ns")));
	assert_true(json_is_null(json_object_get(w, "p99_ns")));
	assert_int_equal(int_at(w, "max_ns"), 0);
	assert_int_equal(int_at(w, "count"), 0);
	json_decref(vm);
}

static void percentile__rank_reached_exactly__that_slot(void **state)
{
	uint64_t h[ST_HIST_SLOTS] = { 0 };

	h[10] = 99;
	h[20] = 1;
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 99, 0), 2048);
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 100, 0), 2097152);
	h[10] = 98;
	h[20] = 2;
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 99, 0), 2097152);
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 50, 0), 2048);
}

static void percentile__slot_zero_and_empty__bounds(void **state)
{
	uint64_t h[ST_HIST_SLOTS] = { 0 };

	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 50, 77), 0);
	h[0] = 1; /* 0..1 ns */
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 50, 77), 2);
}

static void percentile__open_ended_last_slot__max_wait(void **state)
{
	uint64_t h[ST_HIST_SLOTS] = { 0 };

	h[ST_HIST_SLOTS - 1] = 1;
	assert_true(render_wait_percentile(h, ST_HIST_SLOTS, 99, 5000000000ull) == 5000000000ull);
	assert_true(render_wait_percentile(h, ST_HIST_SLOTS, 99, 1) == 1ull << (ST_HIST_SLOTS - 1));
}

static void percentile__huge_counts__no_overflow(void **state)
{
	uint64_t h[ST_HIST_SLOTS] = { 0 };

	h[3] = UINT64_MAX / 4 * 3;
	h[4] = UINT64_MAX / 4;
	h[5] = 10; /* the count saturates */
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 50, 0), 16);
	assert_int_equal(render_wait_percentile(h, ST_HIST_SLOTS, 99, 0), 32);
}

static void vcpu__above_int64_max__clamped(void **state)
{
	json_t *vm = render_vm_json(&vms[0]);
	json_t *v = json_array_get(json_object_get(vm, "vcpus"), 1);

	assert_int_equal(int_at(v, "index"), 3);
	assert_true(int_at(v, "steal_ns") == INT64_MAX);
	assert_true(int_at(v, "run_ns") == INT64_MAX);
	assert_true(int_at(v, "waits") == INT64_MAX);
	json_decref(vm);
}

static void vm__invalid_utf8_name__sanitized_not_dropped(void **state)
{
	struct vm_view vm = { .id = "7", .name = "bad\xff" "name", .comm = "q\xc3" };
	json_t *j = render_vm_json(&vm);

	assert_non_null(j);
	assert_string_equal(str_at(j, "name"), "bad?name");
	assert_string_equal(str_at(j, "comm"), "q?");
	json_decref(j);
}

static void vm__minimal__exact_text(void **state)
{
	struct vcpu_view v = { .index = 1, .tid = 9, .steal_ns = 5, .run_ns = 6, .waits = 1 };
	struct vm_view vm = { .id = "1", .name = "a\"b", .pid = 2, .comm = "q", .nvcpus = 1,
			      .vcpus = &v };
	json_t *j;
	char *text;

	v.hist[2] = 1;
	j = render_vm_json(&vm);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text,
		"{\"id\":\"1\",\"name\":\"a\\\"b\",\"pid\":2,\"uuid\":null,\"comm\":\"q\","
		"\"registered\":false,\"cgroup\":null,\"throttled_ns\":null,\"max_wait_ns\":0,"
		"\"wait\":{\"p50_ns\":8,\"p99_ns\":8,\"max_ns\":0,\"count\":1,"
		"\"hist\":[0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},"
		"\"stolen_by\":[],\"vcpus\":[{\"index\":1,\"tid\":9,\"bound\":false,\"steal_ns\":5,"
		"\"run_ns\":6,\"waits\":1,\"preemptions\":0,\"wakeups\":0,\"max_wait_ns\":0,\"wait_sum_ns\":0,"
		"\"throttled_ns\":null,\"wait_hist\":[0,0,1,0,0,0,0,0,"
		"0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],\"commit\":null}]}");
	free(text);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(vms__two_vms__array_in_view_order, setup),
		cmocka_unit_test_setup(vms__empty_view__empty_array, setup),
		cmocka_unit_test_setup(vm__registered__identity_fields, setup),
		cmocka_unit_test_setup(vm__unregistered_without_uuid__uuid_null_and_no_region, setup),
		cmocka_unit_test_setup(vcpu__counters__integer_nanoseconds, setup),
		cmocka_unit_test_setup(vcpu__commit_enabled__commit_object, setup),
		cmocka_unit_test_setup(vcpu__commit_disabled__commit_null, setup),
		cmocka_unit_test_setup(vm__stolen_by__kinds_and_kind_specific_members, setup),
		cmocka_unit_test_setup(vm__stolen_by__exact_text_in_view_order, setup),
		cmocka_unit_test_setup(vm__stolen_by_gone_vm_and_known_cgroup__null_and_path, setup),
		cmocka_unit_test_setup(vm__stolen_by_throttled__kind_throttled_no_pid, setup),
		cmocka_unit_test_setup(vm__wait__percentiles_from_summed_histograms, setup),
		cmocka_unit_test_setup(vm__wait__vcpus_summed, setup),
		cmocka_unit_test_setup(vm__wait__no_waits__null_percentiles, setup),
		cmocka_unit_test(percentile__rank_reached_exactly__that_slot),
		cmocka_unit_test(percentile__slot_zero_and_empty__bounds),
		cmocka_unit_test(percentile__open_ended_last_slot__max_wait),
		cmocka_unit_test(percentile__huge_counts__no_overflow),
		cmocka_unit_test_setup(vcpu__above_int64_max__clamped, setup),
		cmocka_unit_test_setup(vm__invalid_utf8_name__sanitized_not_dropped, setup),
		cmocka_unit_test_setup(vm__minimal__exact_text, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
