/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Finding VMs and the threads that run their vCPUs.
 *
 * discover (iter/task_file) reports every KVM VM file and "kvm-vcpu:N"
 * file. Where kvm's types are in BTF (KVM built in, or kvm.ko with module
 * BTF, 5.11), it reads the VM and the vCPU's thread (vcpu->pid) from
 * struct kvm_vcpu, and on_kvm_exit (tp_btf/kvm_userspace_exit) asks the
 * daemon to rescan when a thread nobody knows returns from KVM_RUN.
 *
 * Without kvm's BTF (5.10, whose modules have none), discover_nobtf takes
 * the vCPU id from the file's name and the VM from the vCPU's first field,
 * and the thread from vcpu_runner, which on_vcpu_entry (raw tracepoint
 * kvm_entry) fills; it asks for a rescan whenever a vCPU is entered by a
 * thread it has not seen run it.
 */
#ifndef STEALTIME_DISCOVER_BPF_H
#define STEALTIME_DISCOVER_BPF_H

static __always_inline void emit(__u32 type, __u32 tgid, __u32 tid, __u32 slot)
{
	struct st_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat_inc(ST_STAT_RINGBUF_DROPS);
		return;
	}
	e->type = type;
	e->pid = tgid;
	e->tid = tid;
	e->slot = slot;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(on_kvm_exit, __u32 reason, int err)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct st_task init = { .slot = ST_SLOT_NONE,
				.flags = ST_TASK_RESCAN_ASKED | ST_TASK_SEEN_SET };

	if (binding_of(t, IN_TASK_STORAGE) || !active())
		return 0;
	/* where the thread's waits start to count, if it becomes a vCPU's later thread */
	init.steal_seen = t->sched_info.run_delay;
	init.run_seen = t->se.sum_exec_runtime;
	if (!bpf_task_storage_get(&vcpu_task, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE)) {
		stat_inc(ST_STAT_STORAGE_FULL);
		return 0;
	}
	stat_inc(ST_STAT_RESCAN_ASKS);
	emit(ST_EVENT_UNKNOWN_VCPU, t->tgid, t->pid, ST_SLOT_NONE);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 2 * ST_MAX_VCPUS);
	__type(key, __u64);   /* struct kvm_vcpu address */
	__type(value, __u32); /* the thread that last entered the guest on it */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpu_runner SEC(".maps");

/*
 * Every VM entry passes here, so a vCPU that never leaves KVM_RUN (a guest
 * that does not exit to user space) is found too: a hash lookup per entry,
 * only on kernels without kvm's BTF. x86's kvm_entry has taken the vCPU as
 * its first argument since 5.9 ("KVM: x86: Add RIP to the kvm_entry, i.e.
 * VM-Enter, tracepoint"). A raw tracepoint link can be pinned, unlike a
 * kprobe's before 5.15.
 */
SEC("raw_tp/kvm_entry")
int BPF_PROG(on_vcpu_entry, void *vcpu)
{
	__u64 id = bpf_get_current_pid_tgid(), key = (__u64)vcpu;
	__u32 tid = (__u32)id, *known;

	known = bpf_map_lookup_elem(&vcpu_runner, &key);
	if (known && *known == tid)
		return 0;
	if (!active())
		return 0;
	if (bpf_map_update_elem(&vcpu_runner, &key, &tid, BPF_ANY)) {
		stat_inc(ST_STAT_STORAGE_FULL);
		return 0;
	}
	stat_inc(ST_STAT_RESCAN_ASKS);
	emit(ST_EVENT_UNKNOWN_VCPU, id >> 32, tid, ST_SLOT_NONE);
	return 0;
}

static __always_inline __u64 mix64(__u64 x)
{
	/* splitmix64 finalizer */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

enum kvm_file { NOT_KVM, KVM_VM_FILE, KVM_VCPU_FILE };

#define VCPU_NAME_LEN 9 /* "kvm-vcpu:" */

/* KVM's anonymous inodes are named "kvm-vm" and "kvm-vcpu:N" */
static __always_inline enum kvm_file kvm_file_kind(const char *name)
{
	if (name[0] != 'k' || name[1] != 'v' || name[2] != 'm' || name[3] != '-')
		return NOT_KVM;
	if (name[4] == 'v' && name[5] == 'm' && name[6] == '\0')
		return KVM_VM_FILE;
	if (name[4] == 'v' && name[5] == 'c' && name[6] == 'p' && name[7] == 'u' && name[8] == ':')
		return KVM_VCPU_FILE;
	return NOT_KVM;
}

/* N of "kvm-vcpu:N" (KVM names the file after vcpu->vcpu_id) */
static __always_inline __u32 vcpu_id_of_name(const char *name)
{
	__u32 id = 0;

#pragma unroll
	for (int i = VCPU_NAME_LEN; i < VCPU_NAME_LEN + 10; i++) {
		if (name[i] < '0' || name[i] > '9')
			break;
		id = id * 10 + (name[i] - '0');
	}
	return id;
}

static __always_inline __u64 vm_cookie(__u64 kvm)
{
	__u32 zero = ST_SETTING_COOKIE_KEY;
	__u64 *key = bpf_map_lookup_elem(&settings, &zero);

	return mix64(kvm ^ (key ? *key : 0));
}

static __always_inline int discover_file(struct bpf_iter__task_file *ctx, bool kvm_btf)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct st_disc rec = {};
	char name[VCPU_NAME_LEN + 11] = {};
	struct kvm_vcpu *vcpu;
	enum kvm_file kind;
	struct pid *pid;
	__u32 *runner;
	__u64 key;

	if (!task || !file)
		return 0;
	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry,
									  d_name.name)) < 0)
		return 0;
	kind = kvm_file_kind(name);
	if (kind == NOT_KVM)
		return 0;
	rec.pid = task->tgid;
	rec.fd = ctx->fd;
	if (kind == KVM_VM_FILE) {
		/* a VM, perhaps with no vCPU yet */
		rec.vm_cookie = vm_cookie((__u64)BPF_CORE_READ(file, private_data));
		rec.vcpu_id = ST_DISC_VM;
		bpf_seq_write(seq, &rec, sizeof(rec));
		return 0;
	}
	vcpu = (struct kvm_vcpu *)BPF_CORE_READ(file, private_data);
	if (!vcpu)
		return 0;
	if (kvm_btf) {
		rec.vm_cookie = vm_cookie((__u64)BPF_CORE_READ(vcpu, kvm));
		rec.vcpu_id = BPF_CORE_READ(vcpu, vcpu_id);
		pid = BPF_CORE_READ(vcpu, pid);
		rec.tid = pid ? BPF_CORE_READ(pid, numbers[0].nr) : 0;
	} else {
		rec.vm_cookie = vm_cookie(vcpu_kvm_nobtf(vcpu));
		rec.vcpu_id = vcpu_id_of_name(name);
		key = (__u64)vcpu;
		runner = bpf_map_lookup_elem(&vcpu_runner, &key);
		rec.tid = runner ? *runner : 0;
	}
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}

SEC("iter/task_file")
int discover(struct bpf_iter__task_file *ctx)
{
	return discover_file(ctx, true);
}

SEC("iter/task_file")
int discover_nobtf(struct bpf_iter__task_file *ctx)
{
	return discover_file(ctx, false);
}

#endif
