// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for VM naming from a VMM's command line
 * (/proc/PID/cmdline, NUL-separated, maybe unterminated) and from a
 * cgroup path (daemon/vm_naming.c).
 * fuzz-sources: daemon/vm_naming.c daemon/log.c
 * fuzz-corpus: tests/fuzz/corpus/cmdline
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm_naming.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[64], uuid[40];

	vm_naming_from_cmdline((const char *)data, size, name, sizeof(name), uuid, sizeof(uuid));
	if (strlen(name) >= sizeof(name) || strlen(uuid) >= sizeof(uuid))
		__builtin_trap();
	return 0;
}
