// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the /proc/PID/cgroup and cpu.stat parsers
 * (daemon/cgroup_stat.c). The first byte chooses the parser.
 * fuzz-sources: daemon/cgroup_stat.c
 * fuzz-corpus: tests/fuzz/corpus/cgroup
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cgroup_stat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	uint64_t ns;
	bool v2;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (cgroup_cpu_path((const char *)data + 1, size - 1, path, sizeof(path), &v2) == 0 &&
		    strlen(path) >= sizeof(path))
			__builtin_trap();
	} else {
		cgroup_throttled_ns((const char *)data + 1, size - 1, data[0] & 2, &ns);
	}
	return 0;
}
