/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's table of VMs and their vCPUs: kept in step with what the
 * discovery iterator finds, each vCPU owning a slot of the BPF "vcpus"
 * array and each vCPU thread bound to it. The table is rebuilt from the
 * pinned slots when the daemon restarts. One mutex: the HTTP thread reads
 * views, the event loop changes the table.
 */
#ifndef STEALTIMED_VM_TABLE_H
#define STEALTIMED_VM_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf_engine.h"
#include "host_view.h"
#include "throttle_acc.h"

struct vcpu_entry {
	uint32_t vcpu_id;
	uint32_t slot;
	pid_t tid;  /* thread bound to the slot, 0 before the vCPU first ran */
	pid_t pending_tid; /* binding queued by the current rescan */
	bool bind_failed;  /* its thread could not be bound (logged, counted once) */
	pid_t failed_tid; /* that thread: another one that fails counts again */
	bool seen;  /* found by the current rescan */
	uint64_t seen_ns; /* when the newest discovery that found it began */
	bool adopted; /* from the pinned slots: its thread's binding not yet checked */
	/* throttling of its thread's own cgroup (vm_throttle.c) */
	int thr_src; /* index in vm_entry.thr, -1: in no cgroup of its own now */
	struct throttle_counter throttled;
};

struct vm_entry {
	uint64_t cookie;
	pid_t pid;
	char id[24];
	char name[256];
	char uuid[40];
	char comm[32];
	char cgroup[256];  /* the VMM's CPU cgroup, read when found and at each rescan */
	bool cgroup_v2;
	bool cgroup_known;
	/* CPU quota throttling from the cgroups of its vCPU threads (vm_throttle.c) */
	char thr_top[THROTTLE_PATH_LEN]; /* the VM's own cgroup, the highest source; "" unknown */
	struct throttle_set thr;
	struct throttle_counter throttled;
	struct vcpu_entry *vcpus;
	size_t nvcpus, cap;
	bool seen;
	uint64_t seen_ns; /* when the newest discovery that found it began */
	/* guest records (see guest_records.h) */
	bool registered;
	uint32_t region;
	int region_fd;
	uint64_t region_ipa;
	void *owner; /* the control connection holding its registration (NULL: none now) */
	/* culprits with a series of their own in /metrics (see struct vm_view) */
	struct culprit_key *exported;
	size_t nexported;
};

struct attribution_state;
struct culprit_reads;

/* stolen_by's entries, as bpf_engine_attrib_read() returns them */
struct attrib_entries {
	struct st_attrib_key *keys;
	uint64_t *vals;
	size_t n;
};

struct vm_table {
	pthread_mutex_t lock;
	struct bpf_engine *bpf;
	const struct vm_table_hooks *hooks;
	struct vm_entry **vms;
	size_t nvms, cap;
	bool region_used[ST_MAX_REGIONS];
	unsigned max_vms, max_vcpus; /* configuration limits */
	/* of those, kept for VMs whose VMM registered (vm_table_reserve) */
	unsigned reserved_vms, reserved_vcpus;
	pid_t registering_pid; /* the VMM whose register asked for this rescan */
	bool adopting;         /* taking back pinned slots: no reserve applies */
	/*
	 * Odd while a rescan may change slots or stolen_by (it holds the lock);
	 * a view that read stolen_by before taking the lock uses what it read
	 * only if this did not change meanwhile (__atomic, read without the lock).
	 */
	unsigned rescan_seq;
	uint64_t whole_ns; /* when the walk of the last whole rescan applied began */
	unsigned top_culprits;       /* culprits per VM with a series of their own */
	bool vcpu_minimal;           /* /metrics: per-vCPU series are steal and run only (!vcpu_detail) */
	unsigned nslots;             /* vCPU slots in use */
	bool forget[ST_MAX_VCPUS];   /* freed slots whose attribution is still to delete */
	unsigned nforget;
	struct attribution_state *attrib; /* the attribution listener's own (attribution.c) */
	/* counters, monotonic */
	uint64_t rescans;
	uint64_t process_rescans;  /* of one process (vm_table_rescan_pid_locked) */
	uint64_t rescan_requests;
	uint64_t discovery_errors;
	uint64_t slots_exhausted;  /* vCPUs not tracked: max_vcpus reached */
	uint64_t vms_dropped;      /* VMs not tracked: max_vms reached */
	uint64_t bind_failures;    /* vCPU threads found but not bound */
	uint64_t bind_retries;     /* bindings lost to a rescan marker, tried again */
	/* how long whole rescans' applies held the lock: in all, and the longest */
	uint64_t apply_lock_ns, apply_lock_max_ns;
};

/*
 * What other modules do when the table changes: they listen, the table
 * does not know them (table_hooks.c wires guest_records and attribution).
 * Called with the table lock held; any may be NULL.
 */
struct vm_table_hooks {
	/* a vCPU taken back from the pinned slots at start */
	void (*vcpu_adopted)(struct vm_table *t, struct vm_entry *vm, struct vcpu_entry *c,
			     const struct st_vcpu *v);
	/* a VM about to be retired, its slots still held */
	void (*vm_retired)(struct vm_table *t, struct vm_entry *vm);
	/* freed[slot]: the slots freed since the last call */
	void (*slots_freed)(struct vm_table *t, const bool *freed);
	/*
	 * each VM view's culprits (vm_table_view); slot_vm[slot]: index in hv->vms or -1;
	 * pre: stolen_by as read before the lock, NULL to read it now
	 */
	int (*fill_culprits)(struct vm_table *t, struct host_view *hv, const int *slot_vm,
			     const struct attrib_entries *pre);
	/* a VM's exported culprits (vm_entry.exported) grew */
	void (*exported_changed)(struct vm_table *t);
	/*
	 * what rescanned needs read, read before a whole rescan's update
	 * without the lock (any thread; only t->bpf is used)
	 */
	struct culprit_reads *(*rescan_read)(struct bpf_engine *bpf);
	/* a rescan ended; pre: what rescan_read returned (NULL: read now) */
	void (*rescanned)(struct vm_table *t, const struct culprit_reads *pre);
	/* the table is being freed */
	void (*table_freed)(struct vm_table *t);
};

/* Takes back what the pinned slots hold (hooks->vcpu_adopted for each). */
int vm_table_init(struct vm_table *t, struct bpf_engine *bpf, const struct vm_table_hooks *hooks,
		  unsigned max_vms, unsigned max_vcpus);
void vm_table_free(struct vm_table *t);
/*
 * Keeps the last vms VMs and vcpus vCPU slots of the limits for VMs whose
 * VMM registered (or is registering: registering_pid), so that processes
 * that open /dev/kvm and never register cannot starve them.
 */
void vm_table_reserve(struct vm_table *t, unsigned vms, unsigned vcpus);

/* Brings the table in line with the kernel: new VMs, vCPUs, threads; gone ones retired. */
int vm_table_rescan(struct vm_table *t);
struct rescan_reads;
/*
 * The same from the records of a walk of every process's files done
 * without the lock (bpf_engine_discover's d, freed here, or its error err)
 * and what was read of them then (rescan_reads_walked; freed here, may be
 * NULL: read under the lock)
 */
int vm_table_apply_walk(struct vm_table *t, struct st_disc *d, size_t n,
			struct rescan_reads *reads, int err, uint64_t started_ns);
/*
 * What applying the n records d of a walk reads (rescan_reads_walked,
 * hooks->rescan_read, throttle_reads_take), read without the lock but for
 * a moment of throttle_reads_take's. NULL: no memory (the update reads them).
 */
struct rescan_reads *vm_table_read_walk(struct vm_table *t, const struct st_disc *d, size_t n);
/* CLOCK_MONOTONIC in ns: when a discovery begins (started_ns) */
uint64_t vm_table_clock_ns(void);
/* The same, with the lock already held */
int vm_table_rescan_locked(struct vm_table *t);
/* Process pid's VMs, vCPUs and threads only (a whole rescan on kernels before 6.1); lock held */
int vm_table_rescan_pid_locked(struct vm_table *t, pid_t pid);

/* A fresh view of every VM read from the maps (vm_view.c) */
int vm_table_view(void *table, struct host_view *out);
/* host_view_fn: the same, or of the VM of id vm_id only (that VM's slots, and one pass over stolen_by) */
int vm_table_view_of(void *table, const char *vm_id, struct host_view *out);

struct vm_entry *vm_table_find_pid(struct vm_table *t, pid_t pid);
struct vcpu_entry *vm_entry_vcpu(struct vm_entry *vm, uint32_t vcpu_id);
struct st_vcpu *vm_table_slot(struct vm_table *t, uint32_t slot);

#endif
