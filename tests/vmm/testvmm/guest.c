// SPDX-License-Identifier: GPL-2.0
/* testvmm: the guest code, its RAM and initial registers */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "testvmm.h"

#define GUEST_SPIN 2000             /* dec/jnz iterations between heartbeats */

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

/* The guest's RAM with the guest code in it, as memslot SLOT_RAM at GPA 0. */
int guest_ram_setup(struct vm *vm)
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

/*
 * Real mode, all segments 0, BP = index; entry at guest_pvtime when
 * registered with stealtimed, else at guest_plain.
 */
int vcpu_regs_setup(struct vcpu *v)
{
	const uint8_t *entry = v->vm->st ? guest_pvtime : guest_plain;
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
