/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's listeners of the VM table: guest records are taken back
 * and released with their VMs, attribution forgets freed slots and names
 * each view's culprits. The table knows neither (vm_table.h).
 */
#ifndef STEALTIMED_TABLE_HOOKS_H
#define STEALTIMED_TABLE_HOOKS_H

#include "vm_table.h"

extern const struct vm_table_hooks daemon_table_hooks;

#endif
