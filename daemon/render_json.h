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

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "host_view.h"

/* {"vms":[vm, ...]}: each VM as below but without the per-vCPU wait_hist */
json_t *render_vms_json(const struct host_view *hv);
/*
 * The text json_dumps(render_vms_json(hv), JSON_COMPACT) gives and a
 * newline (the body of GET /v1/vms), written to f one VM at a time: only
 * one VM's tree is held at once. Returns 0,
 * -ENOMEM (a VM's tree could not be built) or -EIO (f failed); on failure
 * f holds a part of the text.
 */
int render_vms_write(const struct host_view *hv, FILE *f);
/*
 * {"id","name","pid","uuid" (null when unknown),"comm","registered",
 *  "region_ipa" (only when registered),
 *  "cgroup" (the VM's own cgroup: the deepest holding the VMM and its vCPU
 *            threads, libvirt's machine scope; the VMM's before its vCPUs run;
 *            null when unknown),
 *  "throttled_ns" (CPU quota throttling of the cgroups of its vCPU threads
 *                  up to that one, never decreasing (vm_throttle.h); null
 *                  when none was readable),
 *  "max_wait_ns" (longest single wait of any vCPU),
 *  "wait":{"p50_ns","p99_ns","max_ns","count","hist":[ST_HIST_SLOTS]}
 *         (single waits of all its vCPUs: the sum of their wait_hist; percentiles as
 *          render_wait_percentile gives them, null when count is 0;
 *          max_ns is max_wait_ns),
 *  "stolen_by":[{"kind":"vm"|"process"|"kernel"|"other","name","ns","pid",
 *                "vm_id" (kind vm only, null when that VM is gone),
 *                "cgroup" (kind process only, null when unknown)}]
 *              (who ran while the vCPUs waited, largest first; pid is 0
 *              for kind other),
 *  "vcpus":[{"index","tid","steal_ns","run_ns","waits","preemptions",
 *            "wakeups","max_wait_ns","wait_sum_ns",
 *            "throttled_ns" (its thread's own cgroup's quota throttling, null
 *                            until it has a cgroup of its own),
 *            "wait_hist":[ST_HIST_SLOTS counts],
 *            "commit":null | {"record_ipa","committed_ns","commits",
 *                             "seeded_ns"}}]}
 */
json_t *render_vm_json(const struct vm_view *vm);

/*
 * The pct-th percentile (1..100) of the waits counted in a log2 histogram
 * (hist[i]: waits of 2^i to 2^(i+1) ns, the last of nslots slots open
 * ended), as an upper bound: 2^(i+1) ns for the slot i where the
 * cumulative count first reaches the rank ceil(count * pct / 100). The
 * true percentile is at most that and more than half of it (within a
 * factor 2). In the open-ended last slot the bound is max_ns (the longest
 * wait seen), or 2^i when that is smaller. 0 when hist counts nothing.
 */
uint64_t render_wait_percentile(const uint64_t *hist, size_t nslots, unsigned int pct,
				uint64_t max_ns);

#endif
