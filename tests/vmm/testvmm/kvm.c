// SPDX-License-Identifier: GPL-2.0
/* testvmm: /dev/kvm, the VM, memslots and vCPU fds */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "testvmm.h"

int kvm_open(struct vm *vm)
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

int set_memslot(struct vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
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

int vcpu_create(struct vm *vm, unsigned int index)
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
	return vcpu_regs_setup(v);
}
