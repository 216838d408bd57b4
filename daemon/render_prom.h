/* SPDX-License-Identifier: GPL-2.0 */
/* Prometheus text exposition format 0.0.4, from a host_view. */
#ifndef STEALTIMED_RENDER_PROM_H
#define STEALTIMED_RENDER_PROM_H

#include <stdio.h>

#include "host_view.h"

/* Writes every metric family to f; returns 0 or a negative errno. */
int render_prom(const struct host_view *hv, FILE *f);
/* Writes s as a label value, escaping \\, " and newline. */
void prom_write_label_value(FILE *f, const char *s);

#endif
