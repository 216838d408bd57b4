// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "kernel_features.h"
#include "log.h"

/* sched_switch's tracepoint has prev_state (its 4th argument) since 5.18 */
static bool sched_switch_has_prev_state(const struct btf *btf)
{
	const struct btf_type *t;
	int id = btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);

	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);             /* typedef */
	t = t ? btf__type_by_id(btf, t->type) : NULL; /* pointer */
	t = t ? btf__type_by_id(btf, t->type) : NULL; /* func proto: (void *, args...) */
	return t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
}

int kernel_features_check(void)
{
	char missing[512] = "";
	struct utsname u;
	struct btf *btf;
	size_t n = 0;

#define MISSING(what)                                                                  \
	n += (size_t)snprintf(missing + n, n < sizeof(missing) ? sizeof(missing) - n : 0, \
			      "%s%s", n ? ", " : "", what)
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		MISSING("BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)");
	} else {
		if (!sched_switch_has_prev_state(btf))
			MISSING("sched_switch's prev_state (Linux 5.18)");
		btf__free(btf);
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) != 1)
		MISSING("BPF task-local storage (Linux 5.11)");
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL) != 1)
		MISSING("BPF_PROG_TYPE_SYSCALL (Linux 5.14)");
#undef MISSING
	if (!n)
		return 0;
	if (uname(&u))
		strcpy(u.release, "?");
	log_error("kernel %s lacks %s: stealtime needs Linux 5.18 or later", u.release, missing);
	return -EOPNOTSUPP;
}
