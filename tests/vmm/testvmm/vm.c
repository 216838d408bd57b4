// SPDX-License-Identifier: GPL-2.0
/* testvmm: the VM's life: set up, run until the end, tear down */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testvmm.h"

void vm_init(struct vm *vm, const struct options *opt)
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

/* 0, or an exit code */
int vm_setup(struct vm *vm)
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
	if (vm->st && opt->control_rounds)
		time_control_rounds(vm);
	return 0;
}

/*
 * Waits for the run time, SIGTERM/SIGINT, or a failed vCPU (SIGUSR2).
 * SIGHUP, while registered: a new connection, the registration taken
 * back on it (reconnect()).
 */
static void wait_for_end(struct vm *vm)
{
	uint64_t end = now_ns() + (uint64_t)(vm->opt->seconds * 1e9);
	struct timespec ts;
	sigset_t set;
	uint64_t now;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	while ((now = now_ns()) < end) {
		ts.tv_sec = (time_t)((end - now) / 1000000000ull);
		ts.tv_nsec = (long)((end - now) % 1000000000ull);
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGHUP) {
			if (vm->st)
				reconnect(vm);
			continue;
		}
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

int vm_run(struct vm *vm)
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

/* Stops, joins and frees everything; the region last, after the VM is gone. */
void vm_destroy(struct vm *vm)
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
	st_vmm_close(vm->st);
	if (vm->ram)
		munmap(vm->ram, GUEST_RAM_SIZE);
	report_close(&vm->report);
	pthread_cond_destroy(&vm->gate_cond);
	pthread_mutex_destroy(&vm->gate_lock);
}
