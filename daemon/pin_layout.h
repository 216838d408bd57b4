/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The layout of the state pinned under a pin directory (ST_LAYOUT in
 * stealtime.h), read before libbpf is asked to reuse any pin.
 */
#ifndef STEALTIMED_PIN_LAYOUT_H
#define STEALTIMED_PIN_LAYOUT_H

/*
 * The layout of the pins under pin_dir: 0 when nothing is pinned there,
 * the "layout" map's value, or (older pins, with no such map or before its
 * value was written) the one the binding map's value size tells. Negative
 * errno when it cannot be told (-EPROTO: a binding map of no known size).
 */
int pin_layout_read(const char *pin_dir);

/* Records layout in the "layout" map (fd): the pins hold it from now on. */
int pin_layout_write(int layout_fd, int layout);

#endif
