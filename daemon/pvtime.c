// SPDX-License-Identifier: GPL-2.0
#include <errno.h>

#include "pvtime.h"
#include "stealtime.h"

int64_t pvtime_smccc(uint64_t function, uint64_t arg, bool enabled, bool has_record,
		     uint64_t record_ipa)
{
	if (!enabled)
		return PV_SMCCC_NOT_SUPPORTED;
	switch (function) {
	case PV_SMCCC_ARCH_FEATURES:
		return arg == PV_TIME_FEATURES ? PV_SMCCC_SUCCESS : PV_SMCCC_NOT_SUPPORTED;
	case PV_TIME_FEATURES:
		return arg == PV_TIME_ST ? PV_SMCCC_SUCCESS : PV_SMCCC_NOT_SUPPORTED;
	case PV_TIME_ST:
		return has_record ? (int64_t)record_ipa : PV_SMCCC_NOT_SUPPORTED;
	default:
		/* includes the SMC32/HVC32 forms: DEN0057 is 64-bit only */
		return PV_SMCCC_NOT_SUPPORTED;
	}
}

int pvtime_check_ipa(uint64_t ipa, uint64_t region_ipa, uint64_t region_size, uint32_t *record)
{
	if (ipa % ST_RECORD_SIZE)
		return -EINVAL;
	if (ipa < region_ipa || ipa - region_ipa >= region_size)
		return -EINVAL;
	*record = (uint32_t)((ipa - region_ipa) / ST_RECORD_SIZE);
	return 0;
}
