/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types shared by the BPF programs (bpf/stealtime.bpf.c) and stealtimed.
 * Plain structs of __u32/__u64 only; the design is explained at the top of
 * bpf/stealtime.bpf.c.
 */
#ifndef STEALTIME_H
#define STEALTIME_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ST_HIST_SLOTS 32         /* log2(ns) buckets of single waits */
#define ST_MAX_VCPUS 16384       /* vCPU slots (per host): about 400 B each */
#define ST_MAX_CPUS 8192         /* cpu_waiting's default size (the daemon sizes it to the host) */
#define ST_MAX_REGIONS 4096      /* registered VMs with a guest record region */
#define ST_RECORDS_PER_REGION 1024
#define ST_RECORD_SIZE 64
#define ST_REGION_SIZE (ST_RECORDS_PER_REGION * ST_RECORD_SIZE) /* 64 KiB */
#define ST_SLOT_NONE 0xffffffffu

/* the BPF side masks histogram and log indices with SIZE - 1 */
_Static_assert((ST_HIST_SLOTS & (ST_HIST_SLOTS - 1)) == 0, "ST_HIST_SLOTS must be a power of 2");

/*
 * The layout of the pinned state: bumped by a release that changes the key
 * or value of a pinned map. The pinned "layout" map holds it; older pins
 * have none, daemon/pin_layout.c tells theirs from the binding map's value
 * size. Layouts (stealtime_layouts.h keeps the older structs):
 *   1  struct st_task without wait_carry_ns (32 bytes), no "layout" map
 *   2  struct st_task with wait_carry_ns (40 bytes); the "layout" map
 *      from the release that introduced it on
 *   3  struct st_task with wait_cpu (48 bytes), its reserved word now
 *      last_event; the "cpu_waiting" map (created at zero on an upgrade)
 */
#define ST_LAYOUT 3

/* the "settings" array */
#define ST_SETTING_COOKIE_KEY 0
#define ST_SETTING_GENERATION 1
#define ST_NR_SETTINGS 2

/*
 * The one value of the "id_key" array: the secret SipHash-2-4 key of VM ids
 * (daemon/vm_table.c), chosen once by the daemon. No program reads it.
 */
struct st_id_key {
	__u8 bytes[16];
};

/* struct st_task.flags */
#define ST_TASK_NEEDS_BASE 0x1u   /* first event after binding: compute offsets */
#define ST_TASK_RESCAN_ASKED 0x2u /* unknown KVM thread, rescan requested */
#define ST_TASK_SEEN_SET 0x4u     /* *_seen taken when the thread first ran a vCPU */

/* struct st_vcpu.commit_flags */
#define ST_COMMIT_ON 0x1u           /* write the guest record at switch-in */

/* struct st_vcpu.state */
#define ST_VCPU_FREE 0u
#define ST_VCPU_USED 1u

/* Arm DEN0057 stolen-time record: little-endian, one per vCPU. */
struct st_record {
	__u32 revision;   /* 0 */
	__u32 attributes; /* 0 */
	__u64 stolen_ns;
	__u64 reserved[6];
};

/*
 * Per-thread binding, in BPF task storage: which vCPU slot the thread runs
 * and the offsets that turn its scheduler counters into the vCPU's.
 */
struct st_task {
	__u32 slot;
	__u32 flags;
	__u32 gen;       /* the slot's st_vcpu.gen when bound: a reused slot is not this one */
	__u32 last_event; /* the last event handled (first_to_handle in stealtime.bpf.c) */
	/*
	 * What of the thread's own counters has been added to the vCPU's:
	 * each event adds what grew since, so threads that share a vCPU add
	 * up, and a vCPU's first thread counts from 0 (its whole run_delay).
	 */
	__u64 steal_seen; /* run_delay, with the wait ending at switch-in */
	__u64 run_seen;   /* se.sum_exec_runtime */
	/*
	 * The parts of the current wait spent queued on other CPUs before
	 * migrations moved the thread (on_migrate): the histogram counts the
	 * wait once, whole, at switch-in.
	 */
	__u64 wait_carry_ns;
	__u32 wait_cpu;  /* 1 + the CPU whose cpu_waiting counts this thread's wait, 0: none */
	__u32 reserved;
};

/*
 * A request to bind a thread to a slot (or to unbind it), in the hash
 * "bind_reqs" keyed by tid. The daemon queues them and runs the
 * bind_threads task iterator, which carries them out and writes result:
 * a thread that is not a group leader has a pidfd only from Linux 6.9 on,
 * a task iterator works on every kernel with task storage.
 */
struct st_bind_req {
	__u32 slot;
	__u32 op;     /* ST_BIND_OP_* */
	__u32 result; /* ST_BIND_* (the iterator's) */
	__u32 gen;    /* the slot's generation (bind) */
};

#define ST_BIND_OP_BIND 1u
#define ST_BIND_OP_UNBIND 2u
#define ST_BIND_PENDING 0u    /* no such thread (any more) */
#define ST_BIND_DONE 1u
#define ST_BIND_NO_STORAGE 2u /* task storage could not be allocated */
#define ST_BIND_CONTENDED 3u  /* a rescan marker took its place: tried again next rescan */

/*
 * One vCPU, in the BPF_F_MMAPABLE array "vcpus" indexed by slot. The
 * daemon owns identity and commit fields, BPF the counters.
 */
struct st_vcpu {
	/* identity, written by the daemon */
	__u64 vm_cookie; /* opaque VM key from the discovery iterator */
	__u32 state;     /* ST_VCPU_* */
	__u32 vcpu_id;
	__u32 vm_pid;    /* process that created the VM */
	__u32 tid;       /* thread currently bound (BPF keeps it current) */
	__u32 gen;       /* bumped each time the slot is given to a vCPU, never 0 */
	__u32 reserved;

	/* counters, written by BPF, monotonic */
	__u64 steal_ns;      /* run_delay including the wait that just ended */
	__u64 run_ns;        /* on-CPU time (se.sum_exec_runtime) */
	__u64 waits;         /* runqueue waits that ended in a switch-in */
	__u64 preemptions;   /* switched out while still runnable */
	__u64 hist[ST_HIST_SLOTS]; /* waits by log2(ns) */
	__u64 threads;       /* threads bound so far */
	__u64 wakeups;       /* sched_wakeup of the vCPU thread */
	__u64 max_wait_ns;   /* longest single wait */
	__u64 wait_sum_ns;   /* sum of the waits counted in hist */

	/* guest record commit: config by the daemon, progress by BPF */
	__u32 commit_flags;
	__u32 region;        /* index in the "regions" array of maps */
	__u32 record;        /* record index inside the region */
	__u32 base_pending;  /* 1: BPF takes commit_base at the next event */
	__u64 record_ipa;    /* guest physical address of the record */
	__u64 region_ipa;    /* guest physical address of the VM's region */
	__u64 commit_base;   /* steal_ns when the record was set */
	__u64 commit_init;   /* value the record starts from (migration) */
	__u64 committed_ns;  /* last value written to the guest record */
	__u64 commits;       /* number of record writes */
};

/* Output of the discovery iterator (bpf_seq_write), one per VM or vCPU file. */
#define ST_DISC_VM 0xffffffffu /* vcpu_id of a VM file's record */

struct st_disc {
	__u64 vm_cookie;
	__u32 pid;     /* tgid of the process holding the fd */
	__u32 vcpu_id; /* ST_DISC_VM for the VM file itself */
	__u32 tid;     /* thread that runs the vCPU, 0 before its first KVM_RUN */
	__u32 fd;
};

/*
 * Who ran instead ("stolen_by" map): per vCPU slot and culprit, the part
 * of the vCPU's waits during which the culprit ran on that CPU.
 */
#define ST_LOG_LEN 32             /* switches remembered per CPU */
#define ST_MAX_ATTRIB 16384       /* stolen_by entries */
#define ST_CULPRIT_OTHER 0        /* not seen (log too short), idle, interrupts */
#define ST_CULPRIT_VCPU 1         /* a vCPU thread; id = its VMM's tgid */
#define ST_CULPRIT_PROCESS 2      /* a host process; id = tgid */
#define ST_CULPRIT_KERNEL 3       /* a kernel thread; id = its pid */
/*
 * Exited culprits of a /metrics series, folded by the daemon (never written
 * by the switch hook): id = (their ST_CULPRIT_* kind << 32) | the index of
 * the series among the VM's exported culprits. Exited culprits without a
 * series of their own are folded into the slot's ST_CULPRIT_OTHER entry.
 */
#define ST_CULPRIT_EXITED 4
/*
 * The span of a wait during which the vCPU thread's own cgroups were
 * throttled (their CPU quota used up): it could not have run, whoever
 * ran. Written only where the kernel lets the daemon see throttling end
 * (feature "unthrottle"); id 0.
 */
#define ST_CULPRIT_THROTTLED 5

struct st_attrib_key {
	__u32 slot;   /* the waiting vCPU */
	__u32 kind;   /* ST_CULPRIT_* */
	__u64 id;
};

struct st_log_entry {
	__u64 start;  /* rq clock when this task came on the CPU (0: not known) */
	__u64 end;    /* rq clock when this task left the CPU */
	__u64 id;
	__u32 kind;
	__u32 reserved;
};

/* Arguments of the seed_record program (a test run's context) */
enum st_seed_arg { ST_SEED_REGION, ST_SEED_RECORD, ST_SEED_VALUE, NR_ST_SEED_ARGS };

/* Arguments of the fold_culprit program: stolen_by[slot, kind, id] moves to [slot, to_kind, to_id] */
enum st_fold_arg { ST_FOLD_SLOT, ST_FOLD_KIND, ST_FOLD_ID, ST_FOLD_TO_KIND, ST_FOLD_TO_ID, NR_ST_FOLD_ARGS };

/* Ring buffer events for the daemon */
#define ST_EVENT_UNKNOWN_VCPU 1 /* a KVM thread nobody knows returned from KVM_RUN */
#define ST_EVENT_VCPU_EXIT 2    /* a bound vCPU thread exited */

struct st_event {
	__u32 type;
	__u32 pid;
	__u32 tid;
	__u32 slot;
};

/* Per-CPU error/drop counters, summed by the reader. */
enum st_stat {
	ST_STAT_RINGBUF_DROPS,
	ST_STAT_BAD_SLOT,
	ST_STAT_REGION_MISSING,
	ST_STAT_RESCAN_ASKS,
	ST_STAT_STORAGE_FULL,
	ST_STAT_ATTRIB_DROPS,   /* stolen_by full: time counted as "other" */
	ST_STAT_STALE_BINDING,  /* a thread bound to a slot since given to another vCPU */
	NR_ST_STATS,
};

#endif
