// SPDX-License-Identifier: GPL-2.0
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
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "stealtime_vmm.h"

#define MAX_VCPUS 64
#define GUEST_RAM_SIZE 0x10000u     /* RAM: GPA 0 .. 64 KiB */
#define GUEST_CODE_GPA 0x1000u
#define GUEST_STACK_TOP 0xfff0u     /* vCPU i: SP = top - i * GUEST_STACK_SIZE */
#define GUEST_STACK_SIZE 0x100u
#define GUEST_SPIN 2000             /* dec/jnz iterations between heartbeats */
#define REGION_IPA_DEFAULT 0x80000u
#define REGION_IPA_MAX 0xf0000u     /* a real-mode segment must reach the region */
#define SLOT_RAM 0
#define SLOT_REGION 1
#define GUEST_EVENT_INTERVAL_NS 50000000ull
#define PAUSE_POLL_NS 10000000L
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

/* SMCCC function ids as the assembler wants them (no C suffixes) */
#define GUEST_ARCH_FEATURES 0x80000001
#define GUEST_PV_TIME_FEATURES 0xC5000020
#define GUEST_PV_TIME_ST 0xC5000021
_Static_assert(GUEST_ARCH_FEATURES == ST_SMCCC_ARCH_FEATURES, "ARCH_FEATURES id");
_Static_assert(GUEST_PV_TIME_FEATURES == ST_PV_TIME_FEATURES, "PV_TIME_FEATURES id");
_Static_assert(GUEST_PV_TIME_ST == ST_PV_TIME_ST, "PV_TIME_ST id");

#define XSTR(x) STR(x)
#define STR(x) #x

/*
 * The guest, assembled with the rest of this file (16-bit real mode,
 * CS = DS = ES = SS = 0, loaded at GUEST_CODE_GPA, position independent).
 * The VMM starts a vCPU at guest_plain or guest_pvtime with BP = its index
 * and SP = its own stack.
 */
__asm__(
	".pushsection .rodata.testvmm_guest, \"a\"\n"
	".code16\n"
	"guest_code:\n"
	/* plain loop: spin, heartbeat, again */
	"guest_plain:\n"
	"	mov $" XSTR(GUEST_SPIN) ", %cx\n"           /* spin count */
	"1:	dec %cx\n"
	"	jnz 1b\n"
	"	mov %bp, %ax\n"                              /* heartbeat value: vCPU index */
	"	mov $" XSTR(PORT_HEARTBEAT) ", %dx\n"
	"	out %ax, %dx\n"
	"	jmp guest_plain\n"

	/* stolen time: probe, then read the record on every heartbeat */
	"guest_pvtime:\n"
	"	mov $" XSTR(GUEST_ARCH_FEATURES) ", %eax\n" /* ARCH_FEATURES(...) */
	"	mov $" XSTR(GUEST_PV_TIME_FEATURES) ", %ecx\n"    /* ...PV_TIME_FEATURES) */
	"	call smccc\n"
	"	mov $" XSTR(PORT_PROBE_ARCH) ", %dx\n"
	"	call report64\n"
	"	mov $" XSTR(GUEST_PV_TIME_FEATURES) ", %eax\n"    /* PV_TIME_FEATURES(...) */
	"	mov $" XSTR(GUEST_PV_TIME_ST) ", %ecx\n"          /* ...PV_TIME_ST) */
	"	call smccc\n"
	"	mov $" XSTR(PORT_PROBE_FEATURES) ", %dx\n"
	"	call report64\n"
	"	mov $" XSTR(GUEST_PV_TIME_ST) ", %eax\n"          /* PV_TIME_ST(0): record IPA */
	"	xor %ecx, %ecx\n"
	"	call smccc\n"
	"	mov $" XSTR(PORT_PROBE_ST) ", %dx\n"
	"	call report64\n"
	"	test %esi, %esi\n"                           /* -1, or above 4 GiB: */
	"	jnz guest_plain\n"                           /*   no record, plain loop */
	"	cmp $0x100000, %edi\n"                       /* out of real-mode reach */
	"	jae guest_plain\n"
	"	mov %edi, %eax\n"
	"	shr $4, %eax\n"
	"	mov %ax, %es\n"                              /* ES = IPA >> 4 */
	"	and $0xf, %di\n"                             /* DI = IPA & 15: ES:DI -> record */
	"record_loop:\n"
	"	mov $" XSTR(GUEST_SPIN) ", %cx\n"            /* spin count */
	"2:	dec %cx\n"
	"	jnz 2b\n"
	"	mov %bp, %ax\n"                              /* heartbeat value: vCPU index */
	"	mov $" XSTR(PORT_HEARTBEAT) ", %dx\n"
	"	out %ax, %dx\n"
	"	mov %es:0(%di), %eax\n"                      /* revision */
	"	mov $" XSTR(PORT_REC_REVISION) ", %dx\n"
	"	out %eax, %dx\n"
	"	mov %es:4(%di), %eax\n"                      /* attributes */
	"	mov $" XSTR(PORT_REC_ATTRIBUTES) ", %dx\n"
	"	out %eax, %dx\n"
	"3:	mov %es:12(%di), %ebx\n"                     /* stolen_ns bits 63:32 */
	"	mov %es:8(%di), %eax\n"                      /* stolen_ns bits 31:0 */
	"	cmp %es:12(%di), %ebx\n"                     /* high half changed meanwhile: */
	"	jne 3b\n"                                    /*   read again */
	"	mov $" XSTR(PORT_REC_STOLEN_LO) ", %dx\n"
	"	out %eax, %dx\n"
	"	mov %ebx, %eax\n"
	"	mov $" XSTR(PORT_REC_STOLEN_HI) ", %dx\n"
	"	out %eax, %dx\n"
	"	jmp record_loop\n"

	/* smccc: EAX function, ECX argument -> EDI result 31:0, ESI result 63:32 */
	"smccc:\n"
	"	mov $" XSTR(PORT_SMCCC_FUNCTION) ", %dx\n"
	"	out %eax, %dx\n"                             /* function id */
	"	mov %ecx, %eax\n"
	"	mov $" XSTR(PORT_SMCCC_ARG) ", %dx\n"
	"	out %eax, %dx\n"                             /* argument */
	"	mov $" XSTR(PORT_SMCCC_RET_LO) ", %dx\n"
	"	in %dx, %eax\n"                              /* the call; result 31:0 */
	"	mov %eax, %edi\n"
	"	mov $" XSTR(PORT_SMCCC_RET_HI) ", %dx\n"
	"	in %dx, %eax\n"                              /* result 63:32 */
	"	mov %eax, %esi\n"
	"	ret\n"

	/* report64: EDI to port DX, ESI to port DX + 4 */
	"report64:\n"
	"	mov %edi, %eax\n"
	"	out %eax, %dx\n"
	"	add $4, %dx\n"
	"	mov %esi, %eax\n"
	"	out %eax, %dx\n"
	"	ret\n"
	"guest_code_end:\n"
	".code64\n"
	".popsection\n");

extern const uint8_t guest_code[], guest_code_end[], guest_plain[], guest_pvtime[];

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
	uint64_t idle_us;        /* sleep after each heartbeat (idle vCPUs) */
	double reconnect_after;  /* connect and register again after this many seconds */
	double handoff_after;    /* vCPU 0 moves to a new thread after this many seconds */
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
	struct st_vmm *st_again; /* --reconnect-after: the second connection */
	struct report report;
	pthread_t main_thread;
	atomic_bool stop;

	pthread_mutex_t gate_lock; /* vCPU threads wait here until all have a tid */
	pthread_cond_t gate_cond;
	unsigned int ready;
	bool go;

	struct vcpu vcpus[MAX_VCPUS];
};

/* --- small helpers ------------------------------------------------------------ */

__attribute__((format(printf, 2, 3)))
static int error_at(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("testvmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(-err));
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "EUNKNOWN";
}

/* u64 as a JSON integer, or as its decimal digits above INT64_MAX */
static json_t *json_u64(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static bool stopping(struct vm *vm)
{
	return atomic_load(&vm->stop);
}

/* --- report -------------------------------------------------------------------- */

static int report_open(struct report *r, const char *path)
{
	pthread_mutex_init(&r->lock, NULL);
	r->fd = -1;
	if (!path)
		return 0;
	r->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return r->fd < 0 ? error_at(-errno, "open %s", path) : 0;
}

static void report_close(struct report *r)
{
	if (r->fd >= 0)
		close(r->fd);
	pthread_mutex_destroy(&r->lock);
}

/* Appends obj as one line (one write, so lines never interleave); takes obj. */
static void report_emit(struct report *r, json_t *obj)
{
	char *line;
	size_t len;

	if (!obj)
		return;
	if (r->fd >= 0) {
		line = json_dumps(obj, JSON_COMPACT);
		if (line) {
			len = strlen(line);
			line[len] = '\n';
			pthread_mutex_lock(&r->lock);
			if (write(r->fd, line, len + 1) != (ssize_t)(len + 1))
				fprintf(stderr, "testvmm: report write failed\n");
			pthread_mutex_unlock(&r->lock);
			free(line);
		}
	}
	json_decref(obj);
}

/* --- guest events ----------------------------------------------------------------- */

static void emit_guest_read(struct vcpu *v)
{
	const struct guest_read *g = &v->last;

	report_emit(&v->vm->report,
		    json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:o}", "event", "guest",
			      "vcpu", (json_int_t)v->index, "tid", (json_int_t)v->tid,
			      "t_ns", json_u64(g->t_ns), "stolen_ns", json_u64(g->stolen_ns),
			      "revision", (json_int_t)g->revision,
			      "attributes", (json_int_t)g->attributes,
			      "iterations", json_u64(g->iterations)));
	v->last_unreported = false;
	v->last_event_ns = g->t_ns;
}

/* A complete record read by the guest: counted always, reported every 50 ms. */
static void guest_read_done(struct vcpu *v, uint32_t stolen_hi)
{
	v->cur.stolen_ns = (uint64_t)stolen_hi << 32 | v->cur.stolen_ns;
	v->cur.t_ns = now_ns();
	v->cur.iterations = v->iterations;
	if (v->reads && v->cur.stolen_ns < v->last.stolen_ns)
		v->decreases++;
	v->reads++;
	v->last = v->cur;
	v->last_unreported = true;
	if (v->reads == 1 || v->last.t_ns - v->last_event_ns >= GUEST_EVENT_INTERVAL_NS)
		emit_guest_read(v);
}

static void emit_probe(struct vcpu *v)
{
	report_emit(&v->vm->report,
		    json_pack("{s:s, s:I, s:I, s:I, s:I}", "event", "probe",
			      "vcpu", (json_int_t)v->index,
			      "arch_features", (json_int_t)v->probe[0],
			      "pv_time_features", (json_int_t)v->probe[1],
			      "pv_time_st", (json_int_t)v->probe[2]));
}

static void emit_pause(struct vcpu *v, const char *event)
{
	report_emit(&v->vm->report,
		    json_pack("{s:s, s:I, s:o}", "event", event, "vcpu", (json_int_t)v->index,
			      "t_ns", json_u64(now_ns())));
}

/* --- the I/O-port conduit and reports ------------------------------------------------ */

static int64_t smccc_call(struct vcpu *v)
{
	struct st_vmm *st = v->vm->st;
	int64_t ret = ST_SMCCC_NOT_SUPPORTED;
	int err;

	if (!st)
		return ret;
	err = st_vmm_smccc(st, v->index, v->smccc_function, v->smccc_arg, &ret);
	if (err) {
		fprintf(stderr, "testvmm: vCPU %u: smccc 0x%x: %s\n", v->index,
			v->smccc_function, st_vmm_error(st));
		ret = ST_SMCCC_NOT_SUPPORTED;
	}
	return ret;
}

static int port_in(struct vcpu *v, uint16_t port, uint32_t *val)
{
	switch (port) {
	case PORT_SMCCC_RET_LO:
		v->smccc_ret = smccc_call(v);
		*val = (uint32_t)v->smccc_ret;
		return 0;
	case PORT_SMCCC_RET_HI:
		*val = (uint32_t)((uint64_t)v->smccc_ret >> 32);
		return 0;
	}
	return error_at(-EPROTO, "vCPU %u: in from port 0x%x", v->index, port);
}

static int heartbeat(struct vcpu *v, uint32_t val)
{
	if (val != v->index)
		return error_at(-EPROTO, "vCPU %u: heartbeat from guest index %u", v->index, val);
	v->iterations++;
	if (v->vm->opt->idle_us) {
		struct timespec ts = { .tv_sec = v->vm->opt->idle_us / 1000000,
				       .tv_nsec = (v->vm->opt->idle_us % 1000000) * 1000 };

		nanosleep(&ts, NULL);
	}
	return 0;
}

/* 64-bit probe results arrive as lo (port) and hi (port + 4) */
static void probe_half(struct vcpu *v, unsigned int i, bool hi, uint32_t val)
{
	if (!hi) {
		v->latch_lo = val;
		return;
	}
	v->probe[i] = (uint64_t)val << 32 | v->latch_lo;
	if (i == 2)
		emit_probe(v);
}

static int port_out(struct vcpu *v, uint16_t port, uint32_t val)
{
	switch (port) {
	case PORT_HEARTBEAT:
		return heartbeat(v, val);
	case PORT_SMCCC_FUNCTION:
		v->smccc_function = val;
		v->smccc_arg = 0;
		return 0;
	case PORT_SMCCC_ARG:
		v->smccc_arg = val;
		return 0;
	case PORT_PROBE_ARCH:
	case PORT_PROBE_ARCH + 4:
	case PORT_PROBE_FEATURES:
	case PORT_PROBE_FEATURES + 4:
	case PORT_PROBE_ST:
	case PORT_PROBE_ST + 4:
		probe_half(v, (port - PORT_PROBE_ARCH) / 8, port & 4, val);
		return 0;
	case PORT_REC_REVISION:
		v->cur.revision = val;
		return 0;
	case PORT_REC_ATTRIBUTES:
		v->cur.attributes = val;
		return 0;
	case PORT_REC_STOLEN_LO:
		v->cur.stolen_ns = val;
		return 0;
	case PORT_REC_STOLEN_HI:
		guest_read_done(v, val);
		return 0;
	}
	return error_at(-EPROTO, "vCPU %u: out 0x%x to port 0x%x", v->index, val, port);
}

static int handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t val = 0;
	int err;

	if (run->io.count != 1 || run->io.size > sizeof(val))
		return error_at(-EPROTO, "vCPU %u: string I/O on port 0x%x", v->index,
				run->io.port);
	if (run->io.direction == KVM_EXIT_IO_OUT) {
		memcpy(&val, data, run->io.size);
		return port_out(v, run->io.port, val);
	}
	err = port_in(v, run->io.port, &val);
	memcpy(data, &val, run->io.size);
	return err;
}

static int handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v);
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_MMIO:
		return error_at(-EFAULT, "vCPU %u: guest %s at unbacked GPA 0x%llx", v->index,
				run->mmio.is_write ? "write" : "read", run->mmio.phys_addr);
	case KVM_EXIT_INTERNAL_ERROR:
		return error_at(-EIO, "vCPU %u: KVM internal error, suberror %u", v->index,
				run->internal.suberror);
	case KVM_EXIT_FAIL_ENTRY:
		return error_at(-EIO, "vCPU %u: entry failed, reason 0x%llx", v->index,
				run->fail_entry.hardware_entry_failure_reason);
	}
	return error_at(-EIO, "vCPU %u: unexpected exit reason %u", v->index, run->exit_reason);
}

/* --- vCPU threads ----------------------------------------------------------------- */

static void wake_handler(int sig)
{
	(void)sig;
}

/* While the pause file exists: no KVM_RUN, sleep. */
static void wait_while_paused(struct vcpu *v)
{
	const char *path = v->vm->opt->pause_file;
	struct timespec ts = { .tv_nsec = PAUSE_POLL_NS };

	if (!path || access(path, F_OK))
		return;
	emit_pause(v, "pause");
	while (!stopping(v->vm) && !access(path, F_OK))
		nanosleep(&ts, NULL);
	emit_pause(v, "resume");
}

#define HANDOFF 1

/* --handoff-after: time for vCPU 0 to continue on a new thread? */
static bool handoff_due(struct vcpu *v, uint64_t start_ns)
{
	double after = v->vm->opt->handoff_after;

	return after > 0 && v->index == 0 && !v->handed_off &&
	       now_ns() - start_ns >= (uint64_t)(after * 1e9);
}

/* 0 when stopped, HANDOFF when another thread must take over, or -errno */
static int vcpu_loop(struct vcpu *v)
{
	uint64_t start = now_ns();
	int err;

	while (!stopping(v->vm)) {
		if (handoff_due(v, start))
			return HANDOFF;
		wait_while_paused(v);
		if (stopping(v->vm))
			break;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return error_at(-errno, "vCPU %u: KVM_RUN", v->index);
		}
		err = handle_exit(v);
		if (err)
			return err;
	}
	return 0;
}

static int vcpu_thread_setup(struct vcpu *v)
{
	char name[16];
	cpu_set_t set;
	sigset_t wake;

	snprintf(name, sizeof(name), "CPU %u/KVM", v->index);
	pthread_setname_np(pthread_self(), name);
	v->tid = gettid();
	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	if (v->vm->opt->cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(v->vm->opt->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return error_at(-errno, "vCPU %u: pin to CPU %d", v->index, v->vm->opt->cpu);
	return 0;
}

/* Counts this thread in and waits for the start; false: stop instead. */
static bool gate_wait(struct vm *vm)
{
	bool go;

	pthread_mutex_lock(&vm->gate_lock);
	vm->ready++;
	pthread_cond_broadcast(&vm->gate_cond);
	while (!vm->go && !stopping(vm))
		pthread_cond_wait(&vm->gate_cond, &vm->gate_lock);
	go = vm->go && !stopping(vm);
	pthread_mutex_unlock(&vm->gate_lock);
	return go;
}

static void gate_open(struct vm *vm, bool go)
{
	pthread_mutex_lock(&vm->gate_lock);
	vm->go = go;
	if (!go)
		atomic_store(&vm->stop, true);
	pthread_cond_broadcast(&vm->gate_cond);
	pthread_mutex_unlock(&vm->gate_lock);
}

static void *vcpu_thread_next(void *arg);

/* This thread leaves; a new one runs the same vCPU (KVM rebinds vcpu->pid). */
static int hand_off(struct vcpu *v)
{
	pid_t old = v->tid;
	int err;

	v->handed_off = true;
	err = -pthread_create(&v->next_thread, NULL, vcpu_thread_next, v);
	if (err)
		return error_at(err, "vCPU %u: hand-off thread", v->index);
	v->next_started = true;
	report_emit(&v->vm->report, json_pack("{s:s, s:i, s:i}", "event", "handoff", "vcpu", v->index,
					      "old_tid", old));
	return 0;
}

static void *vcpu_thread_next(void *arg)
{
	struct vcpu *v = arg;
	int err = vcpu_thread_setup(v);

	report_emit(&v->vm->report, json_pack("{s:s, s:i, s:i}", "event", "handoff_started",
					      "vcpu", v->index, "tid", v->tid));
	if (!err)
		err = vcpu_loop(v);
	if (err < 0) {
		v->err = err;
		pthread_kill(v->vm->main_thread, SIGUSR2);
	}
	return NULL;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	int err;

	err = vcpu_thread_setup(v);
	if (gate_wait(v->vm) && !err)
		err = vcpu_loop(v);
	if (err == HANDOFF)
		err = hand_off(v);
	if (err) {
		v->err = err;
		pthread_kill(v->vm->main_thread, SIGUSR2);
	}
	return NULL;
}

/* Stops every vCPU thread: no new KVM_RUN, and a signal for those inside. */
static void kick_all(struct vm *vm)
{
	unsigned int i;

	gate_open(vm, false);
	for (i = 0; i < vm->opt->vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->thread_started)
			continue;
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, SIGUSR1);
		if (v->next_started)
			pthread_kill(v->next_thread, SIGUSR1);
	}
}

static void join_all(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->opt->vcpus; i++) {
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
		if (vm->vcpus[i].next_started)
			pthread_join(vm->vcpus[i].next_thread, NULL);
		vm->vcpus[i].next_started = false;
	}
}

static int start_threads(struct vm *vm)
{
	unsigned int i;
	int err;

	for (i = 0; i < vm->opt->vcpus; i++) {
		err = -pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (err)
			return error_at(err, "create vCPU thread %u", i);
		vm->vcpus[i].thread_started = true;
	}
	pthread_mutex_lock(&vm->gate_lock);
	while (vm->ready < vm->opt->vcpus)
		pthread_cond_wait(&vm->gate_cond, &vm->gate_lock);
	pthread_mutex_unlock(&vm->gate_lock);
	return 0;
}

/* --- KVM setup ----------------------------------------------------------------- */

static int kvm_open(struct vm *vm)
{
	int n;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return error_at(-errno, "open /dev/kvm");
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return error_at(-ENOTSUP, "KVM API version");
	n = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n < (int)sizeof(struct kvm_run))
		return error_at(n < 0 ? -errno : -EPROTO, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)n;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return error_at(-errno, "KVM_CREATE_VM");
	/* Intel needs a TSS for real mode; the address is QEMU's, above our GPAs */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		return error_at(-errno, "KVM_SET_TSS_ADDR");
	return 0;
}

static int set_memslot(struct vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		       uint64_t size, const void *host)
{
	struct kvm_userspace_memory_region mr = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		return error_at(-errno, "memslot %u at GPA 0x%" PRIx64, slot, gpa);
	return 0;
}

static int guest_ram_setup(struct vm *vm)
{
	size_t code_size = (size_t)(guest_code_end - guest_code);
	void *p;

	p = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return error_at(-errno, "guest RAM");
	vm->ram = p;
	memcpy(vm->ram + GUEST_CODE_GPA, guest_code, code_size);
	return set_memslot(vm, SLOT_RAM, 0, 0, GUEST_RAM_SIZE, vm->ram);
}

/* Real mode, all segments 0, entry at the chosen label, BP = index. */
static int vcpu_regs_setup(struct vcpu *v, const uint8_t *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = GUEST_CODE_GPA + (uint64_t)(entry - guest_code),
		.rsp = GUEST_STACK_TOP - v->index * GUEST_STACK_SIZE,
		.rbp = v->index,
		.rflags = 0x2,
	};

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return error_at(-errno, "vCPU %u: KVM_GET_SREGS", v->index);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.ss.type = 3;  /* data, read/write, accessed */
	sregs.fs.type = sregs.gs.type = 3;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return error_at(-errno, "vCPU %u: KVM_SET_SREGS", v->index);
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return error_at(-errno, "vCPU %u: KVM_SET_REGS", v->index);
	return 0;
}

static int vcpu_create(struct vm *vm, unsigned int index)
{
	struct vcpu *v = &vm->vcpus[index];
	void *run;

	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return error_at(-errno, "KVM_CREATE_VCPU %u", index);
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED)
		return error_at(-errno, "vCPU %u: mmap kvm_run", index);
	v->run = run;
	return vcpu_regs_setup(v, vm->st ? guest_pvtime : guest_plain);
}

/* --- stealtimed ----------------------------------------------------------------- */

static int register_failed(struct vm *vm, const char *stage, int vcpu, int err)
{
	const char *why = vm->st && *st_vmm_error(vm->st) ? st_vmm_error(vm->st) : strerror(-err);
	json_t *ev;

	fprintf(stderr, "testvmm: %s: %s\n", stage, why);
	ev = json_pack("{s:s, s:b, s:s, s:s, s:s}", "event", "register", "ok", 0,
		       "stage", stage, "errno", errno_name(err), "error", why);
	if (ev && vcpu >= 0)
		json_object_set_new(ev, "vcpu", json_integer(vcpu));
	report_emit(&vm->report, ev);
	return err;
}

static int set_ipas(struct vm *vm)
{
	const struct options *opt = vm->opt;
	unsigned int i;
	uint64_t ipa;
	int err;

	for (i = 0; opt->set_ipa && i < opt->vcpus; i++) {
		ipa = opt->region_ipa + (uint64_t)i * ST_VMM_RECORD_SIZE;
		if (opt->has_initial)
			err = st_vmm_set_ipa_initial(vm->st, i, ipa, opt->initial_ns);
		else
			err = st_vmm_set_ipa(vm->st, i, ipa);
		if (err)
			return register_failed(vm, "set_ipa", (int)i, err);
	}
	return 0;
}

/* Connects, registers and maps the region read-only at region_ipa. */
static int register_vm(struct vm *vm)
{
	const struct options *opt = vm->opt;
	const void *map;
	int err;

	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return register_failed(vm, "kvm", -1, -ENOTSUP);
	err = st_vmm_connect(&vm->st, opt->control);
	if (err)
		return register_failed(vm, "connect", -1, err);
	err = st_vmm_register(vm->st, opt->region_ipa);
	if (err)
		return register_failed(vm, "register", -1, err);
	err = st_vmm_map_region(vm->st, &map);
	if (err)
		return register_failed(vm, "map", -1, err);
	err = set_memslot(vm, SLOT_REGION, KVM_MEM_READONLY, opt->region_ipa,
			  ST_VMM_REGION_SIZE, map);
	if (err)
		return register_failed(vm, "memslot", -1, err);
	report_emit(&vm->report, json_pack("{s:s, s:b, s:s, s:o}", "event", "register", "ok", 1,
					   "vm", st_vmm_vm_id(vm->st),
					   "region_ipa", json_u64(opt->region_ipa)));
	return 0;
}

/* True when a writable mapping of the region is refused (errno name in *name). */
static bool rw_mmap_fails(int fd, const char **name)
{
	void *p = mmap(NULL, ST_VMM_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		*name = errno_name(errno);
		return true;
	}
	munmap(p, ST_VMM_REGION_SIZE);
	return false;
}

/* True when a read-only mapping cannot be made writable (errno name in *name). */
static bool mprotect_rw_fails(int fd, const char **name)
{
	void *p = mmap(NULL, ST_VMM_REGION_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	bool failed = true;

	if (p == MAP_FAILED) {
		*name = errno_name(errno);
		return true;
	}
	if (mprotect(p, ST_VMM_REGION_SIZE, PROT_READ | PROT_WRITE))
		*name = errno_name(errno);
	else
		failed = false;
	munmap(p, ST_VMM_REGION_SIZE);
	return failed;
}

static void try_rw_mmap(struct vm *vm)
{
	int fd = st_vmm_region_fd(vm->st);
	const char *mmap_errno = NULL, *mprotect_errno = NULL;
	bool mmap_failed = rw_mmap_fails(fd, &mmap_errno);
	bool mprotect_failed = mprotect_rw_fails(fd, &mprotect_errno);

	report_emit(&vm->report,
		    json_pack("{s:s, s:b, s:s?, s:b, s:s?}", "event", "rw_mmap",
			      "failed", mmap_failed, "errno", mmap_errno,
			      "mprotect_failed", mprotect_failed, "mprotect_errno", mprotect_errno));
}

static int write_snapshot(struct vm *vm)
{
	struct st_vmm_value vals[MAX_VCPUS];
	json_t *arr, *doc;
	int n, i, err;

	n = st_vmm_snapshot(vm->st, vals, MAX_VCPUS);
	if (n < 0) {
		fprintf(stderr, "testvmm: snapshot: %s\n", st_vmm_error(vm->st));
		return n;
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:I, s:o}", "vcpu", (json_int_t)vals[i].vcpu,
						     "stolen_ns", json_u64(vals[i].stolen_ns)));
	doc = json_pack("{s:s, s:o}", "vm", st_vmm_vm_id(vm->st), "vcpus", arr);
	if (!doc)
		return error_at(-ENOMEM, "snapshot");
	err = json_dump_file(doc, vm->opt->snapshot_out, JSON_COMPACT) ? -EIO : 0;
	json_decref(doc);
	return err ? error_at(err, "write %s", vm->opt->snapshot_out) : 0;
}

/* --- run and tear down ------------------------------------------------------------ */

static void emit_start(struct vm *vm)
{
	json_t *arr = json_array();
	unsigned int i;

	for (i = 0; arr && i < vm->opt->vcpus; i++)
		json_array_append_new(arr, json_pack("{s:I, s:I}", "index", (json_int_t)i,
						     "tid", (json_int_t)vm->vcpus[i].tid));
	report_emit(&vm->report, json_pack("{s:s, s:I, s:o}", "event", "start",
					   "pid", (json_int_t)getpid(), "vcpus", arr));
}

static void emit_exit(struct vm *vm)
{
	json_t *its = json_array(), *reads = json_array(), *dec = json_array();
	unsigned int i;

	for (i = 0; i < vm->opt->vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->last_unreported)
			emit_guest_read(v);
		json_array_append_new(its, json_u64(v->iterations));
		json_array_append_new(reads, json_u64(v->reads));
		json_array_append_new(dec, json_u64(v->decreases));
	}
	report_emit(&vm->report, json_pack("{s:s, s:o, s:o, s:o}", "event", "exit",
					   "iterations", its, "guest_reads", reads,
					   "guest_decreases", dec));
}

/* Waits for the run time, SIGTERM/SIGINT, or a failed vCPU (SIGUSR2). */
/* The kernel's id of the BPF map behind fd (/proc/self/fdinfo), 0 if none */
static unsigned long map_id_of(int fd)
{
	char path[64], line[128];
	unsigned long id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "map_id: %lu", &id) == 1)
			break;
	fclose(f);
	return id;
}

/*
 * --reconnect-after: what a VMM does when stealtimed restarted under it:
 * connect and register again. It must get the same region back (its guest
 * keeps the mapping it has), with its vCPUs' records still set.
 */
static void reconnect(struct vm *vm)
{
	const struct options *opt = vm->opt;
	int err, set_err = 0;
	json_t *ev;

	err = st_vmm_connect(&vm->st_again, opt->control);
	if (!err)
		err = st_vmm_register(vm->st_again, opt->region_ipa);
	if (!err)
		set_err = st_vmm_set_ipa(vm->st_again, 0, opt->region_ipa);
	ev = json_pack("{s:s, s:b, s:s}", "event", "reregister", "ok", !err, "errno",
		       err ? errno_name(err) : "");
	if (ev && !err) {
		json_object_set_new(ev, "vm", json_string(st_vmm_vm_id(vm->st_again)));
		json_object_set_new(ev, "same_region",
				    json_boolean(map_id_of(st_vmm_region_fd(vm->st_again)) ==
						 map_id_of(st_vmm_region_fd(vm->st))));
		json_object_set_new(ev, "set_ipa_again", json_string(set_err ? errno_name(set_err) : "ok"));
	}
	report_emit(&vm->report, ev);
}

static void wait_for_end(struct vm *vm)
{
	uint64_t start = now_ns(), end = start + (uint64_t)(vm->opt->seconds * 1e9);
	uint64_t again = vm->opt->reconnect_after > 0 && vm->st ?
			 start + (uint64_t)(vm->opt->reconnect_after * 1e9) : 0;
	struct timespec ts;
	sigset_t set;
	uint64_t now;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	while ((now = now_ns()) < end) {
		uint64_t until = again && again < end ? again : end;

		if (again && now >= again) {
			reconnect(vm);
			again = 0;
			continue;
		}
		ts.tv_sec = (time_t)((until - now) / 1000000000ull);
		ts.tv_nsec = (long)((until - now) % 1000000000ull);
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig > 0)
			return;
	}
}

static int vcpu_errors(const struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->opt->vcpus; i++)
		if (vm->vcpus[i].err)
			return vm->vcpus[i].err;
	return 0;
}

static void vm_init(struct vm *vm, const struct options *opt)
{
	unsigned int i;

	memset(vm, 0, sizeof(*vm));
	vm->opt = opt;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->main_thread = pthread_self();
	pthread_mutex_init(&vm->gate_lock, NULL);
	pthread_cond_init(&vm->gate_cond, NULL);
	for (i = 0; i < MAX_VCPUS; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].index = i;
		vm->vcpus[i].fd = -1;
	}
}

/* Stops, joins and frees everything; the region last, after the VM is gone. */
static void vm_destroy(struct vm *vm)
{
	unsigned int i;

	kick_all(vm);
	join_all(vm);
	for (i = 0; i < MAX_VCPUS; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	st_vmm_close(vm->st_again);
	st_vmm_close(vm->st);
	if (vm->ram)
		munmap(vm->ram, GUEST_RAM_SIZE);
	report_close(&vm->report);
	pthread_cond_destroy(&vm->gate_cond);
	pthread_mutex_destroy(&vm->gate_lock);
}

/* Signals: SIGTERM/SIGINT/SIGUSR2 for the main thread's sigtimedwait,
 * SIGUSR1 (unblocked in vCPU threads only) to kick a vCPU out of KVM_RUN. */
static void signals_setup(void)
{
	struct sigaction sa = { .sa_handler = wake_handler };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

/* --request: raw messages on the registered connection, replies reported */
static void send_requests(struct vm *vm)
{
	const struct options *opt = vm->opt;

	for (unsigned int i = 0; i < opt->nrequests; i++) {
		char *reply = NULL;
		int err = st_vmm_request_raw(vm->st, opt->requests[i], strlen(opt->requests[i]),
					     &reply);
		json_t *ev = json_pack("{s:s, s:s}", "event", "reply", "request", opt->requests[i]);
		json_t *r = reply ? json_loads(reply, 0, NULL) : NULL;

		if (ev && r)
			json_object_set_new(ev, "reply", r);
		else if (ev)
			json_object_set_new(ev, "error", json_string(err ? errno_name(err) : "bad reply"));
		report_emit(&vm->report, ev);
		free(reply);
	}
}

/* --cycles N: connect, register, close N times (the daemon must not leak) */
static int register_cycles(struct vm *vm)
{
	const struct options *opt = vm->opt;
	int fails = 0;

	for (unsigned int i = 0; i < opt->cycles; i++) {
		struct st_vmm *c;

		if (st_vmm_connect(&c, opt->control)) {
			fails++;
			continue;
		}
		if (st_vmm_register(c, opt->region_ipa))
			fails++;
		st_vmm_close(c);
	}
	report_emit(&vm->report,
		    json_pack("{s:s, s:i, s:i}", "event", "cycles", "done", opt->cycles, "failed", fails));
	return fails ? EXIT_REGISTER : 0;
}

/* 0, or an exit code */
static int vm_setup(struct vm *vm)
{
	const struct options *opt = vm->opt;
	unsigned int i;

	if (report_open(&vm->report, opt->report) || kvm_open(vm) || guest_ram_setup(vm))
		return 1;
	if (opt->control && opt->cycles && register_cycles(vm))
		return EXIT_REGISTER;
	if (opt->control && register_vm(vm))
		return EXIT_REGISTER;
	for (i = 0; i < opt->vcpus; i++)
		if (vcpu_create(vm, i))
			return 1;
	if (vm->st && set_ipas(vm))
		return EXIT_REGISTER;
	if (vm->st && opt->try_rw_mmap)
		try_rw_mmap(vm);
	if (vm->st)
		send_requests(vm);
	return 0;
}

static int vm_run(struct vm *vm)
{
	int rc = 0;

	if (start_threads(vm)) {
		gate_open(vm, false);
		return 1;
	}
	emit_start(vm);
	gate_open(vm, true);
	wait_for_end(vm);
	kick_all(vm);
	join_all(vm);
	if (vcpu_errors(vm))
		rc = 1;
	emit_exit(vm);
	if (vm->st && vm->opt->snapshot_out && write_snapshot(vm))
		rc = 1;
	return rc;
}

/* --- options --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: testvmm [options]\n"
		"  --vcpus N          vCPUs, 1..%d (default 1)\n"
		"  --cpu C            pin every vCPU thread to CPU C\n"
		"  --seconds S        run time (default 10), then exit 0\n"
		"  --name NAME        process name (comm)\n"
		"  --report FILE      append JSON lines (start, register, probe, guest, pause,\n"
		"                     resume, rw_mmap, exit events)\n"
		"  --control PATH     register with stealtimed on this control socket\n"
		"  --region-ipa A     guest physical address of the region (default 0x%x)\n"
		"  --no-set-ipa       register, but give no vCPU a record\n"
		"  --initial-ns V     initial stolen_ns of every record (set_ipa initial_ns)\n"
		"  --try-rw-mmap      try to map the region writable; report the outcome\n"
		"  --pause-file F     while F exists, vCPUs do not run\n"
		"  --snapshot-out F   at exit, write the daemon's per-vCPU values as JSON\n"
		"  --request JSON     after setting up, send JSON raw on the registered\n"
		"                     connection and report the reply (repeatable)\n"
		"  --cycles N         before registering for good, connect/register/close N times\n"
		"  --idle-us N        sleep N us after each guest heartbeat (mostly idle vCPUs)\n"
		"  --handoff-after S  after S seconds vCPU 0 continues on a new thread\n"
		"  --reconnect-after S  after S seconds connect and register again (as after a\n"
		"                     daemon restart); report whether the region is the same\n"
		"exit: 0 ok, 1 error, 2 registration failed, %d bad usage\n",
		MAX_VCPUS, REGION_IPA_DEFAULT, EXIT_USAGE);
}

__attribute__((format(printf, 1, 2)))
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("testvmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

static int parse_option(struct options *o, int c, const char *arg)
{
	uint64_t v;
	char *end;

	switch (c) {
	case 'v':
		if (parse_u64(arg, &v) || v < 1 || v > MAX_VCPUS)
			return -EINVAL;
		o->vcpus = (unsigned int)v;
		return 0;
	case 'c':
		if (parse_u64(arg, &v) || v >= CPU_SETSIZE)
			return -EINVAL;
		o->cpu = (int)v;
		return 0;
	case 's':
		o->seconds = strtod(arg, &end);
		return *end || end == arg || !(o->seconds >= 0 && o->seconds < 1e6) ? -EINVAL : 0;
	case 'n': o->name = arg; return 0;
	case 'r': o->report = arg; return 0;
	case 'C': o->control = arg; return 0;
	case 'p': o->pause_file = arg; return 0;
	case 'o': o->snapshot_out = arg; return 0;
	case 'N': o->set_ipa = false; return 0;
	case 'w': o->try_rw_mmap = true; return 0;
	case 'a':
		return parse_u64(arg, &o->region_ipa);
	case 'i':
		o->has_initial = true;
		return parse_u64(arg, &o->initial_ns);
	case 'R':
		if (o->nrequests == MAX_REQUESTS)
			return -EINVAL;
		o->requests[o->nrequests++] = arg;
		return 0;
	case 'Y':
		if (parse_u64(arg, &v) || v > 100000)
			return -EINVAL;
		o->cycles = (unsigned int)v;
		return 0;
	case 'I':
		return parse_u64(arg, &o->idle_us) || o->idle_us > 10000000 ? -EINVAL : 0;
	case 'A':
		o->reconnect_after = strtod(arg, &end);
		return *end || end == arg || !(o->reconnect_after > 0 && o->reconnect_after < 1e6) ?
			       -EINVAL : 0;
	case 'H':
		o->handoff_after = strtod(arg, &end);
		return *end || end == arg || !(o->handoff_after > 0 && o->handoff_after < 1e6) ? -EINVAL : 0;
	}
	return -EINVAL;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "vcpus", required_argument, NULL, 'v' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "report", required_argument, NULL, 'r' },
		{ "control", required_argument, NULL, 'C' },
		{ "region-ipa", required_argument, NULL, 'a' },
		{ "no-set-ipa", no_argument, NULL, 'N' },
		{ "initial-ns", required_argument, NULL, 'i' },
		{ "try-rw-mmap", no_argument, NULL, 'w' },
		{ "pause-file", required_argument, NULL, 'p' },
		{ "snapshot-out", required_argument, NULL, 'o' },
		{ "request", required_argument, NULL, 'R' },
		{ "cycles", required_argument, NULL, 'Y' },
		{ "idle-us", required_argument, NULL, 'I' },
		{ "handoff-after", required_argument, NULL, 'H' },
		{ "reconnect-after", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, li = 0;

	*o = (struct options){ .vcpus = 1, .cpu = -1, .seconds = 10,
			       .region_ipa = REGION_IPA_DEFAULT, .set_ipa = true };
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?') {
			usage(stderr);
			return -EINVAL;
		}
		if (parse_option(o, c, optarg))
			return bad_usage("bad value for --%s: %s", longopts[li].name, optarg);
	}
	if (optind != argc)
		return bad_usage("unexpected argument %s", argv[optind]);
	if (o->region_ipa % ST_VMM_REGION_SIZE || o->region_ipa < GUEST_RAM_SIZE ||
	    o->region_ipa > REGION_IPA_MAX)
		return bad_usage("--region-ipa must be 64 KiB aligned in [0x%x, 0x%x]",
				 GUEST_RAM_SIZE, REGION_IPA_MAX);
	return 0;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	struct options opt;
	int rc;

	rc = parse_options(&opt, argc, argv);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	if (opt.name && prctl(PR_SET_NAME, opt.name, 0, 0, 0))
		error_at(-errno, "set name %s", opt.name);
	signals_setup();
	vm_init(&vm, &opt);
	rc = vm_setup(&vm);
	if (!rc)
		rc = vm_run(&vm);
	vm_destroy(&vm);
	return rc;
}
