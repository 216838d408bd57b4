/* SPDX-License-Identifier: GPL-2.0 */
/* A VM's name and UUID from its VMM's command line (/proc/PID/cmdline). */
#ifndef STEALTIMED_VM_NAMING_H
#define STEALTIMED_VM_NAMING_H

#include <stddef.h>

/*
 * cmdline: NUL-separated arguments, len bytes (as read from /proc).
 * Understands QEMU's "-name NAME", "-name guest=NAME,debug-threads=on"
 * (also "--name", "-name=..."), and "-uuid U" (also "--uuid").
 * name/uuid are set to "" when not found. Never reads past len.
 */
void vm_naming_from_cmdline(const char *cmdline, size_t len, char *name, size_t name_len,
			    char *uuid, size_t uuid_len);

#endif
