/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One daemon per pin directory: the pinned programs, maps and generation
 * are one daemon's at a time. The lock is a flock on the pin directory
 * itself, released by the kernel when the daemon exits however it exits.
 */
#ifndef STEALTIMED_INSTANCE_LOCK_H
#define STEALTIMED_INSTANCE_LOCK_H

/*
 * Creates pin_dir if needed and locks it: an fd to keep open for the
 * process's life, or -EBUSY after logging which process holds it (or
 * another negative errno).
 */
int instance_lock(const char *pin_dir);

#endif
