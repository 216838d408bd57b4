/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libstealtime-vmm: what a VMM needs to give its guests stolen time
 * through stealtimed (Arm DEN0057 records, see README.md "Integrating a
 * VMM").
 *
 *   st_vmm_connect()        connect to the control socket
 *   st_vmm_register()       get this process's VM region fd (64 KiB)
 *   st_vmm_map_region()     mmap it PROT_READ, to hand to KVM as a
 *                           KVM_MEM_READONLY memslot at region_ipa
 *   st_vmm_set_ipa()        per vCPU: where its record lives
 *   st_vmm_smccc()          forward a guest's PV_TIME_* call
 *   st_vmm_snapshot()       per-vCPU values, for migration
 *   st_vmm_reconnect()      a new connection (after -ENOTCONN or a daemon
 *                           restart), same region and records
 *   st_vmm_close()          unregisters
 *
 * Every call returns 0 (or a value) or a negative errno; st_vmm_error()
 * gives the daemon's reason for the last failure ("EEXIST: reason").
 * Values are sent as JSON integers: a u64 above INT64_MAX is refused with
 * -ERANGE. Requests are serialized inside, so vCPU threads may forward
 * SMCCC calls concurrently.
 */
#ifndef STEALTIME_VMM_H
#define STEALTIME_VMM_H

#include <stddef.h>
#include <stdint.h>

#define ST_VMM_DEFAULT_SOCKET "/run/stealtimed/control.sock"
#define ST_VMM_REGION_SIZE 65536u
#define ST_VMM_RECORD_SIZE 64u

/* SMCCC function IDs (DEN0057, SMCCC 1.1) */
#define ST_SMCCC_ARCH_FEATURES 0x80000001u
#define ST_PV_TIME_FEATURES 0xC5000020u
#define ST_PV_TIME_ST 0xC5000021u
#define ST_SMCCC_SUCCESS 0
#define ST_SMCCC_NOT_SUPPORTED (-1)

struct st_vmm;

struct st_vmm_value {
	uint32_t vcpu;
	uint64_t stolen_ns;
};

/* path NULL: ST_VMM_DEFAULT_SOCKET */
int st_vmm_connect(struct st_vmm **out, const char *path);
/* region_ipa: 64 KiB aligned guest physical address of the region */
int st_vmm_register(struct st_vmm *c, uint64_t region_ipa);
int st_vmm_region_fd(const struct st_vmm *c);
const char *st_vmm_vm_id(const struct st_vmm *c);
/* mmap(PROT_READ, MAP_SHARED) of the region; *out stays valid until st_vmm_close */
int st_vmm_map_region(struct st_vmm *c, const void **out);
/* initial_ns: value the record starts from (migration); pass 0 for a new VM */
int st_vmm_set_ipa(struct st_vmm *c, uint32_t vcpu, uint64_t ipa);
int st_vmm_set_ipa_initial(struct st_vmm *c, uint32_t vcpu, uint64_t ipa, uint64_t initial_ns);
/* *ret: the SMCCC return value for the guest's x0 */
int st_vmm_smccc(struct st_vmm *c, uint32_t vcpu, uint32_t function, uint64_t arg, int64_t *ret);
/* fills up to max values; returns how many */
int st_vmm_snapshot(struct st_vmm *c, struct st_vmm_value *vals, size_t max);
int st_vmm_unregister(struct st_vmm *c);
/*
 * The registration belongs to this process, not to the connection: this
 * opens a new connection (path as for st_vmm_connect) and registers again,
 * getting the same region back, its records still set and committed, and
 * the mapping from st_vmm_map_region() still valid. After -ECONNRESET, or
 * when stealtimed restarted (a request that got -ETIMEDOUT leaves the
 * connection usable: the late reply is dropped at the next request). -ESTALE: the daemon had lost
 * the registration (its pinned state was removed) and gave a new region:
 * the region fd changed, the old mapping is gone; map it again and set the
 * records again.
 */
int st_vmm_reconnect(struct st_vmm *c, const char *path);
/*
 * Sends len bytes as one message on this connection and gives back the
 * daemon's reply text in *reply (malloc'd, NUL-terminated; an fd that comes
 * with it is closed). For operations this library does not wrap.
 */
int st_vmm_request_raw(struct st_vmm *c, const void *msg, size_t len, char **reply);
/* errno name and reason of the last failed request, "" if none */
const char *st_vmm_error(const struct st_vmm *c);
void st_vmm_close(struct st_vmm *c);

#endif
