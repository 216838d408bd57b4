/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM's CPU quota throttling, read where its vCPU threads are.
 *
 * The sources (throttle_acc.h) are the cgroups of the VM's bound vCPU
 * threads (/proc/PID/task/TID/cgroup) and each of their ancestors up to
 * the VM's own cgroup: the deepest cgroup holding the VMM's main thread
 * and every vCPU thread, or, when that is libvirt's nested "libvirt"
 * cgroup, the machine scope above it. Throttling of any of these holds
 * the vCPUs back; cgroups above the VM's (machine.slice) are shared with
 * other VMs and not counted, nor the cgroups of other threads (libvirt's
 * emulator).
 *
 * The VM's counter sums the growth of each distinct source once: a
 * cgroup's throttled time (v2 throttled_usec, v1 throttled_time) counts
 * the periods its own quota ran out, summed over CPUs; a child cgroup
 * held back by its parent's quota does not count them again. Only a
 * period in which both a cgroup and its ancestor ran out of quota on the
 * same CPU counts twice.
 *
 * A vCPU's counter is the growth of its thread's cgroup while that cgroup
 * holds no other vCPU of the VM (libvirt's vcpuN and its vcpu_quota): the
 * share of the VM's throttling that is that vCPU's alone. vCPUs that share
 * a cgroup have no counter of their own until they get one.
 *
 * The mapping is refreshed at rescans; each source's cpu.stat is opened
 * when it becomes one and re-read (pread) at each view. A whole rescan's
 * update counts the readings taken before it without the lock
 * (throttle_reads.h), and reads under it only the sources that join, and
 * those that leave or feed other vCPUs from then on (so their growth up to
 * then goes where it went before). Called with the table lock held.
 */
#ifndef STEALTIMED_VM_THROTTLE_H
#define STEALTIMED_VM_THROTTLE_H

#include "vm_table.h"

struct rescan_reads;
/*
 * Finds the VM's sources again (after the rescan's bindings), from the
 * cgroups of its threads as the walker read them, and counts the growth
 * of the sources (reads->throttle) before (reads; a thread or source it
 * did not read, or reads NULL: read now)
 */
void vm_throttle_refresh(struct vm_entry *vm, const struct rescan_reads *reads);
/* Reads every live source and adds its growth to the counters */
void vm_throttle_collect(struct vm_entry *vm);
/* Closes what the VM holds open */
void vm_throttle_free(struct vm_entry *vm);

#endif
