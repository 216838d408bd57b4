// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/filter.h>

#include "feature_env.h"
#include "kernel_features.h"
#include "log.h"

/* The arguments of a tracepoint's BTF prototype (btf_trace_NAME), or -1 */
static int tracepoint_args(const struct btf *btf, const char *tp)
{
	const struct btf_type *t;
	char name[128];
	int id;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);             /* typedef */
	t = t ? btf__type_by_id(btf, t->type) : NULL; /* pointer */
	t = t ? btf__type_by_id(btf, t->type) : NULL; /* func proto: (void *, args...) */
	return t && btf_is_func_proto(t) ? btf_vlen(t) - 1 : -1;
}

/* kvm's types and tracepoints: in vmlinux when built in, else in kvm.ko's BTF */
static bool kvm_has_btf(struct btf *vmlinux)
{
	struct btf *kvm;
	bool ok;

	if (tracepoint_args(vmlinux, "kvm_userspace_exit") >= 0)
		return btf__find_by_name_kind(vmlinux, "kvm_vcpu", BTF_KIND_STRUCT) >= 0;
	kvm = btf__load_module_btf("kvm", vmlinux);
	if (!kvm)
		return false;
	ok = tracepoint_args(kvm, "kvm_userspace_exit") >= 0 &&
	     btf__find_by_name_kind(kvm, "kvm_vcpu", BTF_KIND_STRUCT) >= 0;
	btf__free(kvm);
	return ok;
}

/* BPF_PROG_TEST_RUN of a raw tracepoint program (5.10): how records are seeded */
static bool raw_tp_test_run(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	__u64 args[1] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
	int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "st_probe", "GPL", insns, 2, NULL);
	bool ok;

	if (fd < 0)
		return false;
	ok = bpf_prog_test_run_opts(fd, &opts) == 0;
	close(fd);
	return ok;
}

/*
 * A program on the entry or return (type: fentry, fexit) of vmlinux's
 * function btf_id loads: some kernels refuse those (EPERM) while they take
 * tp_btf ones
 */
static bool trampoline_loads(int btf_id, enum bpf_attach_type type)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type,
		    .attach_btf_id = (__u32)btf_id);
	int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "st_probe", "GPL", insns, 2, &opts);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int kernel_features_check(struct kernel_features *f)
{
	char missing[512] = "";
	struct utsname u;
	struct btf *btf;
	size_t n = 0;
	int id;

#define MISSING(what)                                                                  \
	n += (size_t)snprintf(missing + n, n < sizeof(missing) ? sizeof(missing) - n : 0, \
			      "%s%s", n ? ", " : "", what)
	memset(f, 0, sizeof(*f));
	btf = feature_env_without("btf") ? NULL : btf__load_vmlinux_btf();
	if (!btf) {
		MISSING("BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)");
	} else {
		if (btf__find_by_name_kind(btf, "bpf_iter_task_file", BTF_KIND_FUNC) < 0)
			MISSING("BPF task iterators (Linux 5.8)");
		f->prev_state = tracepoint_args(btf, "sched_switch") >= 4 &&
				!feature_env_without("prev_state");
		f->kvm_btf = kvm_has_btf(btf) && !feature_env_without("kvm_btf");
		id = btf__find_by_name_kind(btf, "unthrottle_cfs_rq", BTF_KIND_FUNC);
		f->unthrottle = id >= 0 && !feature_env_without("unthrottle") &&
				trampoline_loads(id, BPF_TRACE_FENTRY) &&
				trampoline_loads(id, BPF_TRACE_FEXIT);
		btf__free(btf);
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1)
		MISSING("BPF ring buffers (Linux 5.8)");
	if (!raw_tp_test_run())
		MISSING("test runs of raw tracepoint programs (Linux 5.10)");
	f->task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1 &&
			  !feature_env_without("task_storage");
	f->kvm_loaded = access("/sys/module/kvm", F_OK) == 0;
	f->percpu_lookup = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT,
						   BPF_FUNC_map_lookup_percpu_elem, NULL) == 1 &&
			   !feature_env_without("percpu_lookup");
#undef MISSING
	if (!n)
		return 0;
	if (uname(&u))
		strcpy(u.release, "?");
	log_error("kernel %s lacks %s: stealtime needs Linux 5.10 or later", u.release, missing);
	return -EOPNOTSUPP;
}

const char *kernel_features_describe(const struct kernel_features *f)
{
	static char buf[288];

	snprintf(buf, sizeof(buf),
		 "sched_switch %s, bindings in %s, vCPU threads from %s, migrations read %s, "
		 "throttling %s",
		 f->prev_state ? "with prev_state" : "reading prev's state",
		 f->task_storage ? "task storage" : "a tid hash",
		 f->kvm_btf && f->task_storage ? "kvm's BTF" : "kvm_entry",
		 f->percpu_lookup && f->task_storage ? "any CPU's log" : "their own CPU's log",
		 f->unthrottle ? "ends seen" : "ends not seen");
	return buf;
}
