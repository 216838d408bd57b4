/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loads and attaches bpf/stealtime.bpf.c (design at the top of that file),
 * pins its maps under pin_dir so counters and guest records outlive the
 * daemon, and exposes what the rest of the daemon needs.
 */
#ifndef STEALTIMED_BPF_ENGINE_H
#define STEALTIMED_BPF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stealtime.h"

struct ring_buffer;
struct stealtime_bpf;

struct bpf_engine {
	struct stealtime_bpf *skel;
	struct st_vcpu *vcpus;  /* mmap of the vcpus array, ST_MAX_VCPUS slots */
	size_t vcpus_len;
	int bind_reqs_fd;       /* bind_reqs: thread bindings queued for bind_threads */
	int bind_link_fd;       /* the bind_threads iterator */
	unsigned bind_queued;   /* requests in bind_reqs */
	int regions_fd;         /* array of region maps */
	int stats_fd;
	int discover_link_fd;
	struct bpf_program *discover_prog; /* the discovery program this kernel runs */
	struct bpf_program *bind_prog;     /* the binding program this kernel runs */
	bool discover_by_pid;   /* it can walk one process only (6.1: a task iterator's pid) */
	bool adopted;           /* maps were found pinned (daemon restart) */
	unsigned kvm_attach_tries; /* kvm loaded after the start: failed attaches */
	bool kvm_attach_failed;    /* ... given up */
	struct st_id_key id_key; /* secret key of VM ids, from the pinned id_key map */
	struct ring_buffer *rb; /* struct st_event from the programs */
	void (*event_fn)(void *ctx, const struct st_event *ev);
	void *event_ctx;
};

int bpf_engine_open(struct bpf_engine *e, const char *pin_dir, unsigned attribution_entries,
		    bool count_wakeups);
void bpf_engine_close(struct bpf_engine *e);
/*
 * kvm loaded after the daemon started: attaches the kvm_entry program that
 * finds vCPU threads (and pins its link). 1 if it did now, 0 if there is
 * nothing to do (or not yet), a negative errno once it gives up.
 */
int bpf_engine_attach_kvm(struct bpf_engine *e, const char *pin_dir);
/* removes the pins under pin_dir (stealtimed --cleanup) */
int bpf_engine_unpin(const char *pin_dir);

/* Runs the discovery iterator: *out (malloc'd) holds *n records. */
int bpf_engine_discover(struct bpf_engine *e, struct st_disc **out, size_t *n);
/*
 * The same records, for process pid only: its files alone are walked.
 * -EOPNOTSUPP where the kernel's task iterators take no pid (before 6.1).
 */
int bpf_engine_discover_pid(struct bpf_engine *e, pid_t pid, struct st_disc **out, size_t *n);
/*
 * Thread bindings: bpf_engine_bind_queue() queues one (bind=false: remove
 * tid's binding to slot; a bind queued for the same tid wins),
 * bpf_engine_bind_run() carries out all queued ones in one pass of the
 * bind_threads iterator (over process pid's threads only, where the
 * kernel allows it, when pid > 0 and all are its threads), then
 * bpf_engine_bind_result() tells how each went (ST_BIND_*) until
 * bpf_engine_bind_clear().
 */
int bpf_engine_bind_queue(struct bpf_engine *e, pid_t tid, uint32_t slot, bool bind);
int bpf_engine_bind_run(struct bpf_engine *e, pid_t pid);
uint32_t bpf_engine_bind_result(struct bpf_engine *e, pid_t tid);
void bpf_engine_bind_clear(struct bpf_engine *e);
/*
 * Guest record regions: bpf_engine_region_add() creates region idx, frozen
 * (only PROT_READ mmaps), in the regions map: its fd or a negative errno.
 * bpf_engine_region_fd(): a new fd of the region the regions map holds at
 * idx (a restarted daemon's).
 */
int bpf_engine_region_add(struct bpf_engine *e, uint32_t idx);
int bpf_engine_region_remove(struct bpf_engine *e, uint32_t idx);
int bpf_engine_region_fd(struct bpf_engine *e, uint32_t idx);
/* Reads a record of the region map region_fd: 0 or a negative errno */
int bpf_engine_read_record(int region_fd, uint32_t record, struct st_record *out);
/* Writes value into a record of a (frozen) region, through the seed_record program */
int bpf_engine_seed_record(struct bpf_engine *e, uint32_t region, uint32_t record, uint64_t value);
/*
 * Who ran instead (stolen_by): every entry, *n of them in *keys and *vals
 * (malloc'd, for the caller to free, also on error); the entries of the
 * slots with forget[slot] deleted.
 */
int bpf_engine_attrib_read(struct bpf_engine *e, struct st_attrib_key **keys, uint64_t **vals,
			   size_t *n);
void bpf_engine_attrib_forget(struct bpf_engine *e, const bool *forget);
/*
 * Moves the value of entry *from into entry *to of the same slot (made if
 * missing) and deletes *from, in one run of the fold_culprit program:
 * 0, -ENOENT (no *from), -ENOSPC (no room for *to) or another negative errno.
 */
int bpf_engine_attrib_fold(struct bpf_engine *e, const struct st_attrib_key *from,
			   const struct st_attrib_key *to);
/* Sum of the per-CPU counter over all CPUs */
uint64_t bpf_engine_stat(struct bpf_engine *e, enum st_stat which);
/* Ring buffer of struct st_event; fd to poll for it */
int bpf_engine_ringbuf_fd(struct bpf_engine *e);
int bpf_engine_ringbuf_consume(struct bpf_engine *e);
void bpf_engine_set_event_handler(struct bpf_engine *e,
				  void (*fn)(void *ctx, const struct st_event *ev), void *ctx);

#endif
