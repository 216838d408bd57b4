// link: daemon/pvtime.c
// SPDX-License-Identifier: GPL-2.0
/*
 * The DEN0057 rules the daemon answers guests with: SMCCC PV_TIME_* return
 * values and the record address checks of set_ipa.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pvtime.h"
#include "stealtime.h"

#define REGION 0x40000000ull   /* a 64 KiB aligned region_ipa */
#define RECORD_IPA (REGION + 3 * ST_RECORD_SIZE)
/* SMC32/HVC32 forms: bit 30 (SMC64) clear */
#define SMC32(fn) ((fn) & ~0x40000000u)

static int64_t smccc(uint64_t function, uint64_t arg)
{
	return pvtime_smccc(function, arg, true, true, RECORD_IPA);
}

/* --- pvtime_smccc ---------------------------------------------------------- */

static void arch_features__asked_for_pv_time_features__success(void **state)
{
	assert_int_equal(smccc(PV_SMCCC_ARCH_FEATURES, PV_TIME_FEATURES), PV_SMCCC_SUCCESS);
}

static void arch_features__asked_for_other_functions__not_supported(void **state)
{
	assert_int_equal(smccc(PV_SMCCC_ARCH_FEATURES, PV_TIME_ST), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(PV_SMCCC_ARCH_FEATURES, PV_SMCCC_ARCH_FEATURES),
			 PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(PV_SMCCC_ARCH_FEATURES, SMC32(PV_TIME_FEATURES)),
			 PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(PV_SMCCC_ARCH_FEATURES, 0), PV_SMCCC_NOT_SUPPORTED);
}

static void pv_time_features__asked_for_pv_time_st__success(void **state)
{
	assert_int_equal(smccc(PV_TIME_FEATURES, PV_TIME_ST), PV_SMCCC_SUCCESS);
}

static void pv_time_features__asked_for_other_functions__not_supported(void **state)
{
	assert_int_equal(smccc(PV_TIME_FEATURES, PV_TIME_FEATURES), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(PV_TIME_FEATURES, SMC32(PV_TIME_ST)), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(PV_TIME_FEATURES, 0xC5000022u), PV_SMCCC_NOT_SUPPORTED);
}

static void pv_time_st__record_set__its_ipa(void **state)
{
	assert_int_equal(smccc(PV_TIME_ST, 0), (int64_t)RECORD_IPA);
	/* the argument (a vCPU index in some VMMs) does not change the answer */
	assert_int_equal(smccc(PV_TIME_ST, 7), (int64_t)RECORD_IPA);
}

static void pv_time_st__no_record__not_supported(void **state)
{
	assert_int_equal(pvtime_smccc(PV_TIME_ST, 0, true, false, RECORD_IPA),
			 PV_SMCCC_NOT_SUPPORTED);
}

static void every_function__disabled__not_supported(void **state)
{
	assert_int_equal(pvtime_smccc(PV_SMCCC_ARCH_FEATURES, PV_TIME_FEATURES, false, true,
				      RECORD_IPA), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(pvtime_smccc(PV_TIME_FEATURES, PV_TIME_ST, false, true, RECORD_IPA),
			 PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(pvtime_smccc(PV_TIME_ST, 0, false, true, RECORD_IPA),
			 PV_SMCCC_NOT_SUPPORTED);
}

static void smc32_forms__any_argument__not_supported(void **state)
{
	assert_int_equal(SMC32(PV_TIME_FEATURES), 0x85000020u);
	assert_int_equal(smccc(SMC32(PV_TIME_FEATURES), PV_TIME_ST), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(SMC32(PV_TIME_ST), 0), PV_SMCCC_NOT_SUPPORTED);
}

static void unknown_function__enabled__not_supported(void **state)
{
	assert_int_equal(smccc(0xC5000022u, 0), PV_SMCCC_NOT_SUPPORTED);
	assert_int_equal(smccc(0, 0), PV_SMCCC_NOT_SUPPORTED);
	/* function ids are 32-bit: bits above 31 set make no PV_TIME_ST */
	assert_int_equal(smccc(0x1C5000021ull, 0), PV_SMCCC_NOT_SUPPORTED);
}

/* --- pvtime_check_ipa ------------------------------------------------------- */

static void check_ipa__first_and_last_record__their_index(void **state)
{
	uint32_t record = 99;

	assert_int_equal(pvtime_check_ipa(REGION, REGION, ST_REGION_SIZE, &record), 0);
	assert_int_equal(record, 0);
	assert_int_equal(pvtime_check_ipa(REGION + ST_REGION_SIZE - ST_RECORD_SIZE, REGION,
					  ST_REGION_SIZE, &record), 0);
	assert_int_equal(record, ST_RECORDS_PER_REGION - 1);
}

static void check_ipa__record_inside__index_is_offset_over_64(void **state)
{
	uint32_t record = 0;

	assert_int_equal(pvtime_check_ipa(RECORD_IPA, REGION, ST_REGION_SIZE, &record), 0);
	assert_int_equal(record, 3);
	assert_int_equal(pvtime_check_ipa(REGION + 0x8000, REGION, ST_REGION_SIZE, &record), 0);
	assert_int_equal(record, 512);
}

static void check_ipa__misaligned__einval_record_untouched(void **state)
{
	uint32_t record = 77;

	assert_int_equal(pvtime_check_ipa(REGION + 8, REGION, ST_REGION_SIZE, &record), -EINVAL);
	assert_int_equal(pvtime_check_ipa(REGION + 63, REGION, ST_REGION_SIZE, &record), -EINVAL);
	assert_int_equal(pvtime_check_ipa(REGION + 32, REGION, ST_REGION_SIZE, &record), -EINVAL);
	assert_int_equal(record, 77);
}

static void check_ipa__below_region__einval(void **state)
{
	uint32_t record = 77;

	assert_int_equal(pvtime_check_ipa(REGION - ST_RECORD_SIZE, REGION, ST_REGION_SIZE,
					  &record), -EINVAL);
	assert_int_equal(pvtime_check_ipa(0, REGION, ST_REGION_SIZE, &record), -EINVAL);
	assert_int_equal(record, 77);
}

static void check_ipa__at_or_past_region_end__einval(void **state)
{
	uint32_t record = 77;

	assert_int_equal(pvtime_check_ipa(REGION + ST_REGION_SIZE, REGION, ST_REGION_SIZE,
					  &record), -EINVAL);
	assert_int_equal(pvtime_check_ipa(REGION + 2 * ST_REGION_SIZE, REGION, ST_REGION_SIZE,
					  &record), -EINVAL);
	assert_int_equal(pvtime_check_ipa(UINT64_MAX - 63, REGION, ST_REGION_SIZE, &record),
			 -EINVAL);
	assert_int_equal(record, 77);
}

static void check_ipa__smaller_region__its_size_is_the_limit(void **state)
{
	uint32_t record = 0;

	assert_int_equal(pvtime_check_ipa(REGION + 128, REGION, 192, &record), 0);
	assert_int_equal(record, 2);
	assert_int_equal(pvtime_check_ipa(REGION + 192, REGION, 192, &record), -EINVAL);
}

static void check_ipa__region_at_zero__first_record_valid(void **state)
{
	uint32_t record = 9;

	assert_int_equal(pvtime_check_ipa(0, 0, ST_REGION_SIZE, &record), 0);
	assert_int_equal(record, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(arch_features__asked_for_pv_time_features__success),
		cmocka_unit_test(arch_features__asked_for_other_functions__not_supported),
		cmocka_unit_test(pv_time_features__asked_for_pv_time_st__success),
		cmocka_unit_test(pv_time_features__asked_for_other_functions__not_supported),
		cmocka_unit_test(pv_time_st__record_set__its_ipa),
		cmocka_unit_test(pv_time_st__no_record__not_supported),
		cmocka_unit_test(every_function__disabled__not_supported),
		cmocka_unit_test(smc32_forms__any_argument__not_supported),
		cmocka_unit_test(unknown_function__enabled__not_supported),
		cmocka_unit_test(check_ipa__first_and_last_record__their_index),
		cmocka_unit_test(check_ipa__record_inside__index_is_offset_over_64),
		cmocka_unit_test(check_ipa__misaligned__einval_record_untouched),
		cmocka_unit_test(check_ipa__below_region__einval),
		cmocka_unit_test(check_ipa__at_or_past_region_end__einval),
		cmocka_unit_test(check_ipa__smaller_region__its_size_is_the_limit),
		cmocka_unit_test(check_ipa__region_at_zero__first_record_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
