/* SPDX-License-Identifier: GPL-2.0 */
/*
 * testvmm: a small real KVM VMM for the test suite (x86-64 host).
 *
 * One thread per vCPU, named "CPU n/KVM" like QEMU's, runs a real-mode
 * guest out of 64 KiB of RAM at GPA 0. The guest spins (GUEST_SPIN
 * iterations of dec/jnz) and then writes a heartbeat to an I/O port, for
 * ever. With --control the VMM registers with stealtimed, maps the VM's
 * stolen-time region read-only at --region-ipa as a KVM_MEM_READONLY
 * memslot and gives each vCPU its record (region_ipa + 64 * index). The
 * guest then probes for PV_TIME_ST through the I/O-port conduit below,
 * reads its own record with ordinary loads and reports what it read, so
 * the report shows what the guest saw, not what the VMM could read.
 *
 * I/O-port SMCCC conduit (x86 has no SMC/HVC; vmmlib/README.md):
 *   out 0x0570 (32 bit)  function id; also resets the argument to 0
 *   out 0x0574 (32 bit)  argument, bits 31:0 (zero-extended)
 *   in  0x0578 (32 bit)  makes the call; result bits 31:0
 *   in  0x057C (32 bit)  result bits 63:32 of the last call
 * The VMM forwards each call with st_vmm_smccc(); without a daemon every
 * call returns NOT_SUPPORTED (-1).
 *
 * Ports private to this VMM (guest -> VMM reports):
 *   0x0500 (16 bit)      heartbeat, value = the vCPU index from BP
 *   0x0520/0x0524        ARCH_FEATURES(PV_TIME_FEATURES) result lo/hi
 *   0x0528/0x052C        PV_TIME_FEATURES(PV_TIME_ST) result lo/hi
 *   0x0530/0x0534        PV_TIME_ST result lo/hi (completes the probe)
 *   0x0540/0x0544        record revision, attributes
 *   0x0548/0x054C        record stolen_ns lo/hi (completes a read)
 *
 * Report: JSON lines appended to --report, see usage().
 *
 * Files:
 *   main.c     options, signals, main()
 *   vm.c       set up, run and tear down the VM
 *   kvm.c      /dev/kvm, the VM, memslots, vCPU fds
 *   guest.c    the guest code, its RAM and initial registers
 *   vcpu.c     vCPU threads: KVM_RUN loop, exits, pause, hand-off
 *   conduit.c  the guest's I/O ports: SMCCC conduit, probe, record reads
 *   daemon.c   stealtimed: registration, requests, cycles, reconnect
 *   report.c   the JSON-lines report and its events
 *   util.c     small helpers
 */
#ifndef TESTVMM_H
#define TESTVMM_H

#include <jansson.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "stealtime_vmm.h"

#define MAX_VCPUS 64
#define GUEST_RAM_SIZE 0x10000u     /* RAM: GPA 0 .. 64 KiB */
#define GUEST_CODE_GPA 0x1000u
#define GUEST_STACK_TOP 0xfff0u     /* vCPU i: SP = top - i * GUEST_STACK_SIZE */
#define GUEST_STACK_SIZE 0x100u
#define REGION_IPA_DEFAULT 0x80000u
#define REGION_IPA_MAX 0xf0000u     /* a real-mode segment must reach the region */
#define SLOT_RAM 0
#define SLOT_REGION 1
#define EXIT_REGISTER 2
#define EXIT_USAGE 64

#define PORT_HEARTBEAT 0x0500
#define PORT_PROBE_ARCH 0x0520
#define PORT_PROBE_FEATURES 0x0528
#define PORT_PROBE_ST 0x0530
#define PORT_REC_REVISION 0x0540
#define PORT_REC_ATTRIBUTES 0x0544
#define PORT_REC_STOLEN_LO 0x0548
#define PORT_REC_STOLEN_HI 0x054c
#define PORT_SMCCC_FUNCTION 0x0570
#define PORT_SMCCC_ARG 0x0574
#define PORT_SMCCC_RET_LO 0x0578
#define PORT_SMCCC_RET_HI 0x057c

#define MAX_REQUESTS 16

struct options {
	unsigned int vcpus;
	int cpu;                /* -1: no pinning */
	double seconds;
	const char *name;
	const char *report;
	const char *control;
	const char *pause_file;
	const char *snapshot_out;
	uint64_t region_ipa;
	bool set_ipa;
	bool has_initial;
	uint64_t initial_ns;
	bool try_rw_mmap;
	const char *requests[MAX_REQUESTS];
	unsigned int nrequests;
	unsigned int cycles;
	unsigned int control_rounds; /* timed snapshot requests after registering */
	uint64_t idle_us;        /* sleep after each heartbeat (idle vCPUs) */
	double handoff_after;    /* vCPU 0 moves to a new thread after this many seconds */
	bool handoff_exit;       /* ... or its thread exits and none takes over */
};

/* What the guest last read from its record, as it reported it. */
struct guest_read {
	uint64_t t_ns;
	uint64_t stolen_ns;
	uint32_t revision;
	uint32_t attributes;
	uint64_t iterations;
};

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	pid_t tid;
	int err;                 /* why the thread stopped early */

	uint64_t iterations;     /* heartbeats */
	uint32_t smccc_function; /* conduit latches */
	uint64_t smccc_arg;
	int64_t smccc_ret;
	uint32_t latch_lo;       /* low half of a 64-bit report */
	uint64_t probe[3];       /* arch_features, pv_time_features, pv_time_st */

	struct guest_read cur;   /* record read in progress */
	struct guest_read last;  /* last complete read */
	bool last_unreported;
	uint64_t last_event_ns;
	uint64_t reads;
	uint64_t decreases;      /* reads lower than the one before */
	pthread_t next_thread;   /* --handoff-after: the thread that took over */
	bool next_started;
	bool handed_off;
	bool first_exit_reported; /* the new thread's first return from KVM_RUN */
};

struct report {
	int fd;                  /* -1: no report */
	pthread_mutex_t lock;
};

struct vm {
	const struct options *opt;
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	uint8_t *ram;
	struct st_vmm *st;
	struct report report;
	pthread_t main_thread;
	atomic_bool stop;

	pthread_mutex_t gate_lock; /* vCPU threads wait here until all have a tid */
	pthread_cond_t gate_cond;
	unsigned int ready;
	bool go;

	struct vcpu vcpus[MAX_VCPUS];
};

/* util.c */
__attribute__((format(printf, 2, 3)))
int error_at(int err, const char *fmt, ...);
uint64_t now_ns(void);
const char *errno_name(int err);

/* report.c */
json_t *json_u64(uint64_t v);
int report_open(struct report *r, const char *path);
void report_close(struct report *r);
void report_emit(struct report *r, json_t *obj);
void emit_guest_read(struct vcpu *v);
void emit_probe(struct vcpu *v);
void emit_pause(struct vcpu *v, const char *event);
void emit_start(struct vm *vm);
void emit_exit(struct vm *vm);

/* guest.c */
int guest_ram_setup(struct vm *vm);
int vcpu_regs_setup(struct vcpu *v);

/* kvm.c */
int kvm_open(struct vm *vm);
int set_memslot(struct vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		uint64_t size, const void *host);
int vcpu_create(struct vm *vm, unsigned int index);

/* conduit.c */
int port_in(struct vcpu *v, uint16_t port, uint32_t *val);
int port_out(struct vcpu *v, uint16_t port, uint32_t val);

/* vcpu.c */
int start_threads(struct vm *vm);
void gate_open(struct vm *vm, bool go);
void kick_all(struct vm *vm);
void join_all(struct vm *vm);

/* daemon.c */
int register_vm(struct vm *vm);
int set_ipas(struct vm *vm);
void try_rw_mmap(struct vm *vm);
void send_requests(struct vm *vm);
int register_cycles(struct vm *vm);
void time_control_rounds(struct vm *vm);
void reconnect(struct vm *vm);
int write_snapshot(struct vm *vm);

/* vm.c */
void vm_init(struct vm *vm, const struct options *opt);
int vm_setup(struct vm *vm);
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif /* TESTVMM_H */
