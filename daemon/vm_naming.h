/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM's name and UUID from its VMM's command line (/proc/PID/cmdline), and
 * the text hygiene every name needs before it is shown (valid UTF-8, no
 * control characters).
 */
#ifndef STEALTIMED_VM_NAMING_H
#define STEALTIMED_VM_NAMING_H

#include <stddef.h>

/*
 * cmdline: NUL-separated arguments, len bytes (as read from /proc).
 * Understands QEMU's "-name NAME", "-name guest=NAME,debug-threads=on",
 * "-name NAME,process=P" (",," is a literal comma), also spelled "--name"
 * or "-name=...", and "-uuid U" / "--uuid U" / "-uuid=U" (a 36-character
 * UUID, stored in lower case; anything else is ignored). The last one
 * given wins, as in QEMU. A final argument without its terminating NUL is
 * taken as cut short by the reader and ignored.
 * name/uuid are set to "" when not found (each may be NULL when its length
 * is 0). The name is sanitized (vm_naming_sanitize) and cut at a character
 * boundary to fit. Never reads past len.
 */
void vm_naming_from_cmdline(const char *cmdline, size_t len, char *name, size_t name_len,
			    char *uuid, size_t uuid_len);

/*
 * Length (1..4) of the well-formed UTF-8 character at s, or 0 when s does
 * not start one (stray continuation byte, overlong form, surrogate, cut
 * sequence). s must be NUL-terminated.
 */
size_t vm_naming_utf8_len(const char *s);

/* Replaces, in place, every byte that is not valid UTF-8 and every ASCII control character by '?'. */
void vm_naming_sanitize(char *s);

#endif
