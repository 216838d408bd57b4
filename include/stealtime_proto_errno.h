/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The errno names of the control protocol ({"ok":false,"errno":"EINVAL"}),
 * one table for both ends: stealtimed writes them (an errno outside the
 * table goes out as "EIO"), the VMM library reads them back (a name
 * outside it comes back as -EPROTO).
 */
#ifndef STEALTIME_PROTO_ERRNO_H
#define STEALTIME_PROTO_ERRNO_H

#include <errno.h>

static const struct st_proto_errno {
	int err;
	const char *name;
} st_proto_errnos[] = {
	{ EINVAL, "EINVAL" }, { EEXIST, "EEXIST" },     { ENXIO, "ENXIO" },   { EPERM, "EPERM" },
	{ EACCES, "EACCES" }, { ENOENT, "ENOENT" },     { EBUSY, "EBUSY" },   { ENOSPC, "ENOSPC" },
	{ ERANGE, "ERANGE" }, { EPROTO, "EPROTO" },     { ENOMSG, "ENOMSG" }, { E2BIG, "E2BIG" },
	{ ESRCH, "ESRCH" },   { EMSGSIZE, "EMSGSIZE" }, { ENOMEM, "ENOMEM" }, { EIO, "EIO" },
	{ EAGAIN, "EAGAIN" },
};

#define ST_PROTO_NERRNOS (sizeof(st_proto_errnos) / sizeof(st_proto_errnos[0]))

#endif
