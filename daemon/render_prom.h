/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prometheus text exposition format 0.0.4, from a host_view. The metric
 * families and their labels are listed at the top of render_prom.c.
 */
#ifndef STEALTIMED_RENDER_PROM_H
#define STEALTIMED_RENDER_PROM_H

#include <stdint.h>
#include <stdio.h>

#include "host_view.h"

/*
 * Writes every metric family to f; returns 0 or a negative errno (-EIO when
 * f failed, -ENOMEM), after which what f holds is incomplete. f is written
 * with the _unlocked stdio calls: no other thread may use it meanwhile.
 */
int render_prom(const struct host_view *hv, FILE *f);
/*
 * Writes s as a label value, escaping \\, " and newline; bytes that are not
 * valid UTF-8 become U+FFFD.
 */
void prom_write_label_value(FILE *f, const char *s);
/* Writes ns as exact decimal seconds: "0.000000001", "1", "18446744073.709551615". */
void prom_write_seconds(FILE *f, uint64_t ns);

#endif
