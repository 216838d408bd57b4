/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A double of the kernel-facing bpf_engine_* functions for unit tests of
 * the daemon's VM table, attribution and guest records: the vcpus array is
 * plain memory, discovery returns what a test put in, bindings, regions
 * and stolen_by entries live in this struct. Nothing else is replaced.
 * Link it with "// link: ... tests/unit/fake_bpf_engine.c".
 */
#ifndef STEALTIME_FAKE_BPF_ENGINE_H
#define STEALTIME_FAKE_BPF_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf_engine.h"
#include "vm_table.h"

#define FAKE_REGIONS 8 /* regions whose records the double keeps */
#define FAKE_MAX 64    /* discovery records, bind requests, stolen_by entries */
#define FAKE_FDS 1024

struct fake_bind {
	pid_t tid;
	uint32_t slot;
	uint32_t gen; /* the slot's generation when queued (what bpf_engine sends) */
	bool bind; /* false: an unbind */
};

struct fake_bpf {
	struct bpf_engine e; /* first: the engine the code under test gets */
	/* bpf_engine_discover */
	struct st_disc disc[FAKE_MAX];
	size_t ndisc;
	int discover_err;
	unsigned pid_discoveries; /* bpf_engine_discover_pid calls (when e.discover_by_pid) */
	/* bindings: every request ever queued; those since the last clear from bind_first */
	struct fake_bind binds[FAKE_MAX];
	size_t nbinds, bind_first;
	unsigned bind_runs;
	int bind_run_err;
	pid_t bind_fail_tid;   /* a thread whose binding ends in bind_fail_result */
	uint32_t bind_fail_result;
	/* regions: fd of region idx (-1 none), the region of each fd, record values */
	int region_fds[FAKE_REGIONS];
	int fd_region[FAKE_FDS]; /* idx + 1, 0: not a region */
	uint64_t stolen[FAKE_REGIONS][ST_RECORDS_PER_REGION];
	int region_add_err;
	unsigned seeds;
	/* stolen_by */
	struct st_attrib_key keys[FAKE_MAX];
	uint64_t vals[FAKE_MAX];
	size_t nattrib;
	int attrib_read_err;
	unsigned attrib_reads;
	/* called after each bpf_engine_attrib_read has copied the entries */
	void (*after_attrib_read)(struct fake_bpf *f, void *arg);
	void *after_attrib_read_arg;
	unsigned forget_calls;
	unsigned folds;      /* bpf_engine_attrib_fold calls */
	int attrib_fold_err; /* what they return instead of folding */
	uint64_t stats[NR_ST_STATS];
};

struct fake_bpf *fake_bpf_new(void);
void fake_bpf_free(struct fake_bpf *f);
/* a discovery record: vcpu ST_DISC_VM for the VM file */
void fake_disc(struct fake_bpf *f, uint64_t cookie, pid_t pid, uint32_t vcpu, pid_t tid);
void fake_attrib(struct fake_bpf *f, uint32_t slot, uint32_t kind, uint64_t id, uint64_t ns);
/* region idx as a restarted daemon finds it pinned */
void fake_pin_region(struct fake_bpf *f, uint32_t idx);
/* the last bind request for tid (NULL: none) */
const struct fake_bind *fake_bind_of(const struct fake_bpf *f, pid_t tid);

/* A cmocka fixture: *state is a struct fake_env with an empty table on a double */
struct fake_env {
	struct fake_bpf *f;
	struct vm_table t;
};
int fake_env_setup(void **state);
int fake_env_teardown(void **state);

#endif
