// SPDX-License-Identifier: GPL-2.0
#include "attribution.h"
#include "guest_records.h"
#include "table_hooks.h"

const struct vm_table_hooks daemon_table_hooks = {
	.vcpu_adopted = guest_records_adopt,
	.vm_retired = guest_records_release,
	.slots_freed = attribution_forget_slots,
	.fill_culprits = attribution_fill,
	.exported_changed = attribution_save,
	.rescan_read = attribution_read,
	.rescanned = attribution_fold,
	.table_freed = attribution_free,
};
