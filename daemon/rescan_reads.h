/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What applying a whole rescan reads from /proc: each VMM's names and CPU
 * cgroup, the CPU cgroup of each vCPU thread found, and what the
 * culprits' fold reads (culprit_reads.h). The walker's
 * thread reads them right after its walk, without the table lock, so that
 * the table's update (on the event loop, lock held) reads no file for
 * them; a VM that a later discovery of its process found is read again
 * there instead (what the walker read is older).
 */
#ifndef STEALTIMED_RESCAN_READS_H
#define STEALTIMED_RESCAN_READS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bpf_engine.h"
#include "throttle_acc.h"

struct culprit_reads;
struct throttle_reads;

/* A VMM process: how it is named and the CPU cgroup it is in */
struct vm_names {
	char name[256];
	char uuid[40];
	char comm[32];
	char cgroup[256];
	bool cgroup_v2;
	bool cgroup_known;
};

struct proc_read {
	pid_t pid;
	struct vm_names names;
};

/* A thread's CPU cgroup */
struct thread_read {
	pid_t pid, tid;
	char path[THROTTLE_PATH_LEN];
	bool v2;
	bool known;
};

struct rescan_reads {
	struct proc_read *procs;     /* sorted by pid */
	size_t nprocs;
	struct thread_read *threads; /* sorted by pid, then tid */
	size_t nthreads;
	struct culprit_reads *culprits; /* for the culprits' fold (vm_table_hooks.rescan_read) */
	struct throttle_reads *throttle; /* the throttling sources' cpu.stat (vm_throttle.c) */
};

/* Process pid's names and cgroup, read now (cgroup_known false: unreadable) */
void vm_names_read(pid_t pid, struct vm_names *out);
/* Only the CPU cgroup of vm_names_read */
void vm_names_read_cgroup(pid_t pid, struct vm_names *out);

/* Reads what the n records of a walk name; NULL: no memory (the update reads them) */
struct rescan_reads *rescan_reads_walked(const struct st_disc *d, size_t n);
/* What was read of process pid / thread tid of pid; NULL: not read (r may be NULL) */
const struct vm_names *rescan_reads_proc(const struct rescan_reads *r, pid_t pid);
const struct thread_read *rescan_reads_thread(const struct rescan_reads *r, pid_t pid, pid_t tid);
/* Frees r (NULL: nothing) and what it holds */
void rescan_reads_free(struct rescan_reads *r);

#endif
