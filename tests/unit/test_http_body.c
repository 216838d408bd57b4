// link: daemon/http_body.c daemon/http_encoding.c daemon/render_json.c daemon/vm_naming.c daemon/host_view.c daemon/log.c tests/unit/gzip_check.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Bodies rendered through a stream: GET /v1/vms one VM at a time gives the
 * text of the whole jansson tree, byte for byte, as it is and gzip'd
 * (inflated back with zlib); short texts go out as they are; a failed
 * rendering leaves no body.
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

#include "gzip_check.h"
#include "http_body.h"
#include "http_encoding.h"
#include "render_json.h"

#define MANY_VCPUS 300 /* text of well over 64 KiB: several deflate() calls */

static struct vcpu_view vcpus[MANY_VCPUS];
static struct culprit_view culprits[] = {
	{ .kind = CULPRIT_VM, .name = "db\"02", .pid = 5000, .ns = 900 },
	{ .kind = CULPRIT_PROCESS, .name = "gzip", .pid = 777, .cgroup = "/user.slice", .ns = 80 },
	{ .kind = CULPRIT_OTHER, .name = "other", .ns = 7 },
};
static struct vm_view vms[] = {
	{ .id = "4021", .name = "web\xff" "01" /* not UTF-8: sanitized */, .pid = 4021,
	  .uuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809", .comm = "qemu-system-x86",
	  .cgroup = "/machine.slice/machine-qemu\\x2d1\\x2dweb01.scope", .registered = true,
	  .region_ipa = 0x90000000, .max_wait_ns = 2000000, .nvcpus = 2, .vcpus = vcpus,
	  .nculprits = 3, .culprits = culprits },
	{ .id = "4100", .comm = "qemu-kvm", .pid = 4100 }, /* no vCPU, no culprit */
	{ .id = "4200", .name = "big", .nvcpus = MANY_VCPUS, .vcpus = vcpus },
};

static void setup_vcpus(void)
{
	memset(vcpus, 0, sizeof(vcpus));
	for (uint32_t i = 0; i < MANY_VCPUS; i++) {
		vcpus[i] = (struct vcpu_view){
			.index = i, .tid = (int32_t)(5000 + i), .bound = i % 3 != 0,
			.steal_ns = 1000003ULL * i, .run_ns = UINT64_MAX - i, .waits = i * 7,
			.commit_enabled = i % 2, .record_ipa = 0x90000000 + 64 * i,
			.throttled_known = i % 5 == 0, .throttled_ns = i,
		};
		vcpus[i].hist[i % ST_HIST_SLOTS] = i + 1;
	}
}

/* The tree's text, as GET /v1/vms sent it: json_dumps() of it and a newline */
static char *tree_text(const struct host_view *hv, size_t *len)
{
	json_t *j = render_vms_json(hv);
	char *text, *body;

	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(text);
	*len = strlen(text);
	body = malloc(*len + 1);
	assert_non_null(body);
	memcpy(body, text, *len);
	body[(*len)++] = '\n';
	free(text);
	return body;
}

static void assert_streams_as_tree(size_t first, size_t nvms)
{
	struct host_view hv = { .nvms = nvms, .vms = vms + first };
	struct http_body plain, gz;
	size_t len;
	char *want;

	setup_vcpus();
	want = tree_text(&hv, &len);
	assert_int_equal(http_body_render(&hv, render_vms_write, false, &plain), 0);
	assert_false(plain.gzip);
	assert_int_equal(plain.len, len);
	assert_memory_equal(plain.data, want, len);
	assert_int_equal(http_body_render(&hv, render_vms_write, true, &gz), 0);
	assert_int_equal(gz.gzip, len >= HTTP_GZIP_MIN_BYTES);
	if (gz.gzip)
		assert_inflates_to(gz.data, gz.len, want, len);
	else
		assert_memory_equal(gz.data, want, len);
	free(plain.data);
	free(gz.data);
	free(want);
}

static void vms__empty_host__tree_text_as_it_is(void **state)
{
	assert_streams_as_tree(0, 0);
}

static void vms__vm_without_vcpus__tree_text(void **state)
{
	assert_streams_as_tree(1, 1);
}

static void vms__several_vms__tree_text_plain_and_gzip(void **state)
{
	assert_streams_as_tree(0, 2);
	assert_streams_as_tree(0, 3);
}

static int render_fails(const struct host_view *hv, FILE *f)
{
	fputs("{\"vms\":[", f);
	return -ENOMEM;
}

static void render__fails__error_and_no_body(void **state)
{
	struct host_view hv = { 0 };
	struct http_body body;

	for (int gzip = 0; gzip < 2; gzip++) {
		assert_int_equal(http_body_render(&hv, render_fails, gzip, &body), -ENOMEM);
		assert_null(body.data);
		assert_int_equal(body.len, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vms__empty_host__tree_text_as_it_is),
		cmocka_unit_test(vms__vm_without_vcpus__tree_text),
		cmocka_unit_test(vms__several_vms__tree_text_plain_and_gzip),
		cmocka_unit_test(render__fails__error_and_no_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
