/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A point-in-time view of every VM and vCPU, filled from the BPF maps at
 * request time (vm_table_snapshot) and rendered as JSON or Prometheus text.
 */
#ifndef STEALTIMED_HOST_VIEW_H
#define STEALTIMED_HOST_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stealtime.h"

struct vcpu_view {
	uint32_t index;      /* KVM vcpu_id */
	int32_t tid;         /* thread running it, 0 before its first KVM_RUN */
	bool bound;          /* that thread is measured (its binding exists) */
	uint64_t steal_ns;
	uint64_t run_ns;
	uint64_t waits;
	uint64_t preemptions;
	uint64_t hist[ST_HIST_SLOTS]; /* hist[i]: waits with 2^i <= ns < 2^(i+1); [0] holds 0..1, last holds the rest */
	bool commit_enabled; /* a guest record is set (set_ipa) */
	uint64_t record_ipa;
	uint64_t committed_ns;
	uint64_t commits;
	uint64_t seeded_ns;  /* the value set_ipa started the record from (migration) */
	uint64_t wakeups;
	uint64_t max_wait_ns;
	uint64_t wait_sum_ns; /* the waits in hist, summed: wait_sum_ns / waits is a mean wait */
	bool throttled_known; /* its thread has had a cgroup of its own (vm_throttle.h) */
	uint64_t throttled_ns; /* CPU quota throttling of that cgroup, never decreasing */
};

/* Who ran while the VM's vCPUs waited (the "stolen_by" map, summed over vCPUs). */
enum culprit_kind {
	CULPRIT_OTHER,   /* unplaced: idle, interrupts, beyond the per-CPU log */
	CULPRIT_VM,      /* vCPUs of a VM (possibly this one's own siblings) */
	CULPRIT_PROCESS, /* a host process */
	CULPRIT_KERNEL,  /* a kernel thread */
	CULPRIT_THROTTLED, /* none: the VM's own cgroups were throttled (CPU quota) */
};

struct culprit_view {
	enum culprit_kind kind;
	char name[96];   /* VM name, process comm, kernel thread name, "other" */
	char vm_id[24];  /* CULPRIT_VM: the culprit VM's id, "" if it is gone */
	int32_t pid;     /* process / VMM pid, 0 for other */
	char cgroup[128]; /* CULPRIT_PROCESS: its cgroup path, "" unknown */
	uint64_t ns;
};

/* A culprit as /metrics names it: culprits of one kind and name are one series */
struct culprit_key {
	enum culprit_kind kind;
	char name[96];
};

struct vm_view {
	char id[24];         /* daemon's own key, stable for the VM's lifetime */
	char name[256];
	char uuid[40];       /* "" when unknown */
	char comm[32];
	int32_t pid;
	bool registered;     /* a VMM holds a region over the control socket */
	uint64_t region_ipa;
	char cgroup[256];    /* the VM's own cgroup (vm_throttle.h), else the VMM's; "" unknown */
	bool throttled_known;
	uint64_t throttled_ns; /* CPU quota throttling of its vCPUs' cgroups, never decreasing */
	uint64_t max_wait_ns;  /* longest single wait of any vCPU */
	size_t nculprits;
	struct culprit_view *culprits; /* largest first */
	/*
	 * The culprits /metrics gives a series of their own; the rest is
	 * "other". Chosen once (the largest when first seen, up to
	 * top_culprits) and kept for the VM's life, so that "other" never
	 * goes down. NULL: a stateless caller; the largest are taken.
	 */
	size_t nexported;
	struct culprit_key *exported;
	size_t nvcpus;
	struct vcpu_view *vcpus; /* sorted by index */
};

/* Daemon counters, all monotonic. */
struct daemon_stats_view {
	uint64_t rescans;
	uint64_t process_rescans;
	uint64_t rescan_requests;   /* from the BPF ring buffer */
	uint64_t ringbuf_drops;
	uint64_t bad_slot;
	uint64_t stale_binding;
	uint64_t region_missing;
	uint64_t discovery_errors;
	uint64_t slots_exhausted;
	uint64_t bind_failures;
	uint64_t bind_retries;
	uint64_t http_requests;
	uint64_t http_errors;
	uint64_t http_bytes_gzip;     /* response bodies sent gzip-compressed */
	uint64_t http_bytes_identity; /* response bodies sent as they are */
	uint64_t control_requests;
	uint64_t control_errors;
	uint64_t attribution_drops;
	uint64_t rescan_apply_ns;     /* the table lock held by whole rescans' applies, in all */
	uint64_t rescan_apply_max_ns; /* the longest of those holds (a gauge) */
};

struct host_view {
	unsigned top_culprits; /* culprits per VM in /metrics before "other" (configuration) */
	bool vcpu_minimal;     /* per-vCPU series: steal and run only (configuration: !vcpu_detail) */
	size_t nvms;
	struct vm_view *vms;  /* sorted by id */
	struct daemon_stats_view stats;
};

/*
 * Fills *out with every VM, or with the VM of id vm_id only (none if there
 * is no such VM), and the daemon's counters; returns 0 or a negative errno.
 * Free with host_view_free.
 */
typedef int (*host_view_fn)(void *ctx, const char *vm_id, struct host_view *out);

void host_view_free(struct host_view *hv);
const struct vm_view *host_view_find_vm(const struct host_view *hv, const char *id);

/* The kind as the API and /metrics name it: "vm", "process", "kernel", "throttled", "other" */
const char *culprit_kind_name(enum culprit_kind kind);

#endif
