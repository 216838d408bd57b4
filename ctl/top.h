/* SPDX-License-Identifier: GPL-2.0 */
/* stealtimectl top: the VMs with the most stolen time, refreshed like top(1). */
#ifndef STEALTIMECTL_TOP_H
#define STEALTIMECTL_TOP_H

#include "ctl.h"

/* Runs top as o asks; returns the exit status (0, or 1 when the daemon failed). */
int cmd_top(const struct options *o);

#endif
