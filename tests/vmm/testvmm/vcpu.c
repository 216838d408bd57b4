// SPDX-License-Identifier: GPL-2.0
/*
 * testvmm: vCPU threads: the KVM_RUN loop and its exits, the start gate,
 * --pause-file, --handoff-after, and stopping them all.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "testvmm.h"

#define PAUSE_POLL_NS 10000000L

static bool stopping(struct vm *vm)
{
	return atomic_load(&vm->stop);
}

/* --- exits ---------------------------------------------------------------------- */

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

/* The calling thread's run_delay (ns), from the kernel's schedstat; 0 if unreadable. */
static unsigned long long own_run_delay(void)
{
	unsigned long long run = 0, delay = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &delay) != 2)
		delay = 0;
	fclose(f);
	return delay;
}

/*
 * The thread that took a vCPU over says what it waited before its first
 * return from KVM_RUN: kvm_userspace_exit is where a later thread starts to
 * count, so its waits before are nobody's steal.
 */
static void report_first_exit(struct vcpu *v)
{
	if (!v->handed_off || v->first_exit_reported)
		return;
	v->first_exit_reported = true;
	report_emit(&v->vm->report, json_pack("{s:s, s:i, s:i, s:I}", "event", "handoff_first_exit",
					      "vcpu", v->index, "tid", v->tid, "run_delay_ns",
					      (json_int_t)own_run_delay()));
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
			if (errno == EINTR || errno == EAGAIN) {
				report_first_exit(v);
				continue;
			}
			return error_at(-errno, "vCPU %u: KVM_RUN", v->index);
		}
		report_first_exit(v);
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

void gate_open(struct vm *vm, bool go)
{
	pthread_mutex_lock(&vm->gate_lock);
	vm->go = go;
	if (!go)
		atomic_store(&vm->stop, true);
	pthread_cond_broadcast(&vm->gate_cond);
	pthread_mutex_unlock(&vm->gate_lock);
}

static void *vcpu_thread_next(void *arg);

/*
 * A thread that handed its vCPU off lives on, asleep with no wakeups (its
 * run_delay holds still), until the VM stops.
 */
static void linger(struct vm *vm)
{
	pthread_mutex_lock(&vm->gate_lock);
	while (!atomic_load(&vm->stop))
		pthread_cond_wait(&vm->gate_cond, &vm->gate_lock);
	pthread_mutex_unlock(&vm->gate_lock);
}

/* This thread leaves its vCPU; a new one runs it (KVM rebinds vcpu->pid). */
static int hand_off(struct vcpu *v)
{
	pid_t old = v->tid;
	/* what the old thread waited as the vCPU's thread: none of its later waits need be */
	unsigned long long waited = own_run_delay();
	int err;

	v->handed_off = true;
	if (v->vm->opt->handoff_exit) { /* KVM keeps this thread as vcpu->pid */
		report_emit(&v->vm->report, json_pack("{s:s, s:i, s:i}", "event", "handoff_exit",
						      "vcpu", v->index, "old_tid", old));
		return 0;
	}
	err = -pthread_create(&v->next_thread, NULL, vcpu_thread_next, v);
	if (err)
		return error_at(err, "vCPU %u: hand-off thread", v->index);
	v->next_started = true;
	report_emit(&v->vm->report, json_pack("{s:s, s:i, s:i, s:I}", "event", "handoff", "vcpu",
					      v->index, "old_tid", old, "old_run_delay_ns",
					      (json_int_t)waited));
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
	if (err == HANDOFF) {
		err = hand_off(v);
		if (!err && !v->vm->opt->handoff_exit)
			linger(v->vm);
	}
	if (err) {
		v->err = err;
		pthread_kill(v->vm->main_thread, SIGUSR2);
	}
	return NULL;
}

/* Stops every vCPU thread: no new KVM_RUN, and a signal for those inside. */
void kick_all(struct vm *vm)
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

void join_all(struct vm *vm)
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

int start_threads(struct vm *vm)
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
