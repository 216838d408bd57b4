/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON (jansson) documents of the HTTP API, from a host_view. Times are
 * integer nanoseconds. jansson's integers are signed 64-bit, so a u64 above
 * INT64_MAX (about 292 years of nanoseconds) is clamped to INT64_MAX.
 * Strings that are not valid UTF-8 are sanitized (vm_naming_sanitize).
 * Both return a new reference, or NULL when out of memory.
 */
#ifndef STEALTIMED_RENDER_JSON_H
#define STEALTIMED_RENDER_JSON_H

#include <jansson.h>

#include "host_view.h"

/* {"vms":[vm, ...]} */
json_t *render_vms_json(const struct host_view *hv);
/*
 * {"id","name","pid","uuid" (null when unknown),"comm","registered",
 *  "region_ipa" (only when registered),
 *  "cgroup" (the VMM's, null when unknown),
 *  "throttled_ns" (CPU quota throttling of that cgroup, null when unknown),
 *  "max_wait_ns" (longest single wait of any vCPU),
 *  "culprits":[{"kind":"vm"|"process"|"kernel"|"other","name","pid",
 *               "vm_id" (kind vm only, null when that VM is gone),
 *               "cgroup" (kind process only, null when unknown),
 *               "ns"}] (who ran while the vCPUs waited, biggest first),
 *  "vcpus":[{"index","tid","steal_ns","run_ns","waits","preemptions",
 *            "wakeups","max_wait_ns","wait_hist":[ST_HIST_SLOTS counts],
 *            "commit":null | {"record_ipa","committed_ns","commits",
 *                             "seeded_ns"}}]}
 */
json_t *render_vm_json(const struct vm_view *vm);

#endif
