/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VM's name and UUID from its VMM's command line (/proc/PID/cmdline) or
 * from the cgroup libvirt put it in, and the text hygiene every name needs
 * before it is shown (valid UTF-8, no control characters).
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
 * given wins, as in QEMU.
 * Without a -name, the name is Firecracker's "--id ID" (also "--id=ID",
 * as the jailer passes it on), else cloud-hypervisor's API socket, which
 * is the only per-VM name its command line has: "--api-socket PATH",
 * "--api-socket path=PATH[,...]" (or "=..."), the name being PATH's last
 * component without its extension ("/run/ch/web01.sock" -> "web01"; an
 * "fd=N" socket gives none). Both are long options (two dashes) only.
 * A final argument without its terminating NUL is taken as cut short by
 * the reader and ignored.
 * name/uuid are set to "" when not found (each may be NULL when its length
 * is 0). The name is sanitized (vm_naming_sanitize) and cut at a character
 * boundary to fit. Never reads past len.
 */
void vm_naming_from_cmdline(const char *cmdline, size_t len, char *name, size_t name_len,
			    char *uuid, size_t uuid_len);

/*
 * The VM name in a libvirt machine scope anywhere in cgroup_path (cgroup
 * v1 or v2): the component "machine-qemu\x2dN\x2dNAME.scope", as in
 * "/machine.slice/machine-qemu\x2d3\x2dweb01.scope/libvirt/vcpu0". The
 * part after "machine-" is unescaped as systemd escapes unit names ("\xHH"
 * is the byte HH, so "\x2d" is '-'), then "qemu-" and libvirt's domain id
 * "N-" are stripped (old libvirt wrote "qemu-NAME": taken whole when no
 * id follows). NAME is what libvirt put in the scope, which may be a
 * shortened form of the domain name; prefer -name when the command line
 * has it. The deepest such component wins. A component with a malformed
 * escape ("\x2", "\xZZ", "\q"), an escaped NUL, an empty NAME, or longer
 * than a cgroup name can be (255 bytes) is not a match.
 * name is sanitized (vm_naming_sanitize) and cut at a character boundary
 * to fit; it is "" when nothing matched. Returns 0, -ENOENT when no
 * component matched, -EINVAL when len is 0.
 */
int vm_naming_from_cgroup(const char *cgroup_path, char *name, size_t len);

/*
 * Length (1..4) of the well-formed UTF-8 character at s, or 0 when s does
 * not start one (stray continuation byte, overlong form, surrogate, cut
 * sequence). s must be NUL-terminated.
 */
size_t vm_naming_utf8_len(const char *s);

/* Replaces, in place, every byte that is not valid UTF-8 and every ASCII control character by '?'. */
void vm_naming_sanitize(char *s);

#endif
