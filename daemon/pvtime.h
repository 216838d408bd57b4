/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest-facing rules of Arm DEN0057 stolen time (shared/seeds): SMCCC
 * PV_TIME_* answers and KVM_ARM_VCPU_PVTIME_IPA checks. Pure functions.
 */
#ifndef STEALTIMED_PVTIME_H
#define STEALTIMED_PVTIME_H

#include <stdbool.h>
#include <stdint.h>

#define PV_SMCCC_ARCH_FEATURES 0x80000001u
#define PV_TIME_FEATURES 0xC5000020u
#define PV_TIME_ST 0xC5000021u
#define PV_SMCCC_SUCCESS 0
#define PV_SMCCC_NOT_SUPPORTED (-1)

/*
 * The SMCCC return value for function(arg) from a vCPU whose record is at
 * record_ipa (has_record false: not set). enabled: stolen time offered.
 */
int64_t pvtime_smccc(uint64_t function, uint64_t arg, bool enabled, bool has_record,
		     uint64_t record_ipa);

/*
 * KVM_ARM_VCPU_PVTIME_IPA checks for a record at ipa in a region of
 * region_size bytes at region_ipa: 0, -EINVAL (not 64-byte aligned or
 * outside the region). *record gets the record index.
 */
int pvtime_check_ipa(uint64_t ipa, uint64_t region_ipa, uint64_t region_size, uint32_t *record);

#endif
