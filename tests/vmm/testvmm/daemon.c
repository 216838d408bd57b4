// SPDX-License-Identifier: GPL-2.0
/*
 * testvmm: stealtimed through libstealtime-vmm: registration and records,
 * --try-rw-mmap, --snapshot-out, --request, --cycles, reconnecting on SIGHUP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "testvmm.h"

static int register_failed(struct vm *vm, const char *stage, int vcpu, int err)
{
	const char *why = vm->st && *st_vmm_error(vm->st) ? st_vmm_error(vm->st) : strerror(-err);
	json_t *ev;

	fprintf(stderr, "testvmm: %s: %s\n", stage, why);
	ev = json_pack("{s:s, s:b, s:s, s:s, s:s}", "event", "register", "ok", 0,
		       "stage", stage, "errno", errno_name(err), "error", why);
	if (ev && vcpu >= 0)
		json_object_set_new(ev, "vcpu", json_integer(vcpu));
	report_emit(&vm->report, ev);
	return err;
}

int set_ipas(struct vm *vm)
{
	const struct options *opt = vm->opt;
	unsigned int i;
	uint64_t ipa;
	int err;

	for (i = 0; opt->set_ipa && i < opt->vcpus; i++) {
		ipa = opt->region_ipa + (uint64_t)i * ST_VMM_RECORD_SIZE;
		if (opt->has_initial)
			err = st_vmm_set_ipa_initial(vm->st, i, ipa, opt->initial_ns);
		else
			err = st_vmm_set_ipa(vm->st, i, ipa);
		if (err)
			return register_failed(vm, "set_ipa", (int)i, err);
	}
	return 0;
}

/* Connects, registers and maps the region read-only at region_ipa. */
int register_vm(struct vm *vm)
{
	const struct options *opt = vm->opt;
	uint64_t t0 = now_ns(), t1;
	const void *map;
	int err;

	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return register_failed(vm, "kvm", -1, -ENOTSUP);
	err = st_vmm_connect(&vm->st, opt->control);
	if (err)
		return register_failed(vm, "connect", -1, err);
	err = st_vmm_register(vm->st, opt->region_ipa);
	t1 = now_ns();
	if (err)
		return register_failed(vm, "register", -1, err);
	err = st_vmm_map_region(vm->st, &map);
	if (err)
		return register_failed(vm, "map", -1, err);
	err = set_memslot(vm, SLOT_REGION, KVM_MEM_READONLY, opt->region_ipa,
			  ST_VMM_REGION_SIZE, map);
	if (err)
		return register_failed(vm, "memslot", -1, err);
	report_emit(&vm->report, json_pack("{s:s, s:b, s:s, s:o, s:o}", "event", "register", "ok", 1,
					   "vm", st_vmm_vm_id(vm->st),
					   "region_ipa", json_u64(opt->region_ipa),
					   "connect_register_us", json_u64((t1 - t0) / 1000)));
	return 0;
}

/*
 * --control-rounds N: N snapshot requests (the daemon takes its table lock
 * for each), one after another; each reply's wait in microseconds is
 * reported, and how many failed (a timeout of the library included).
 */
void time_control_rounds(struct vm *vm)
{
	struct st_vmm_value vals[MAX_VCPUS];
	json_t *us = json_array();
	unsigned int failed = 0;

	for (unsigned int i = 0; us && i < vm->opt->control_rounds; i++) {
		uint64_t t0 = now_ns();

		if (st_vmm_snapshot(vm->st, vals, MAX_VCPUS) < 0)
			failed++;
		json_array_append_new(us, json_u64((now_ns() - t0) / 1000));
	}
	report_emit(&vm->report, json_pack("{s:s, s:o*, s:i}", "event", "control_rounds", "us", us,
					   "failed", (int)failed));
}

/* True when a writable mapping of the region is refused (errno name in *name). */
static bool rw_mmap_fails(int fd, const char **name)
{
	void *p = mmap(NULL, ST_VMM_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		*name = errno_name(errno);
		return true;
	}
	munmap(p, ST_VMM_REGION_SIZE);
	return false;
}

/* True when a read-only mapping cannot be made writable (errno name in *name). */
static bool mprotect_rw_fails(int fd, const char **name)
{
	void *p = mmap(NULL, ST_VMM_REGION_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	bool failed = true;

	if (p == MAP_FAILED) {
		*name = errno_name(errno);
		return true;
	}
	if (mprotect(p, ST_VMM_REGION_SIZE, PROT_READ | PROT_WRITE))
		*name = errno_name(errno);
	else
		failed = false;
	munmap(p, ST_VMM_REGION_SIZE);
	return failed;
}

void try_rw_mmap(struct vm *vm)
{
	int fd = st_vmm_region_fd(vm->st);
	const char *mmap_errno = NULL, *mprotect_errno = NULL;
	bool mmap_failed = rw_mmap_fails(fd, &mmap_errno);
	bool mprotect_failed = mprotect_rw_fails(fd, &mprotect_errno);

	report_emit(&vm->report,
		    json_pack("{s:s, s:b, s:s?, s:b, s:s?}", "event", "rw_mmap",
			      "failed", mmap_failed, "errno", mmap_errno,
			      "mprotect_failed", mprotect_failed, "mprotect_errno", mprotect_errno));
}

int write_snapshot(struct vm *vm)
{
	struct st_vmm_value vals[MAX_VCPUS];
	json_t *arr, *doc;
	int n, i, err;

	n = st_vmm_snapshot(vm->st, vals, MAX_VCPUS);
	if (n < 0) {
		fprintf(stderr, "testvmm: snapshot: %s\n", st_vmm_error(vm->st));
		return n;
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:I, s:o}", "vcpu", (json_int_t)vals[i].vcpu,
						     "stolen_ns", json_u64(vals[i].stolen_ns)));
	doc = json_pack("{s:s, s:o}", "vm", st_vmm_vm_id(vm->st), "vcpus", arr);
	if (!doc)
		return error_at(-ENOMEM, "snapshot");
	err = json_dump_file(doc, vm->opt->snapshot_out, JSON_COMPACT) ? -EIO : 0;
	json_decref(doc);
	return err ? error_at(err, "write %s", vm->opt->snapshot_out) : 0;
}

/* The kernel's id of the BPF map behind fd (/proc/self/fdinfo), 0 if none */
static unsigned long map_id_of(int fd)
{
	char path[64], line[128];
	unsigned long id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "map_id: %lu", &id) == 1)
			break;
	fclose(f);
	return id;
}

/*
 * SIGHUP: what a VMM does when its connection broke (a timeout) or
 * stealtimed restarted under it: st_vmm_reconnect() closes the connection
 * and registers on a new one. It must get the same region back (its guest
 * keeps the mapping it has), with its vCPUs' records still set.
 */
void reconnect(struct vm *vm)
{
	const struct options *opt = vm->opt;
	unsigned long before = map_id_of(st_vmm_region_fd(vm->st));
	int err, set_err = 0;
	json_t *ev;

	err = st_vmm_reconnect(vm->st, opt->control);
	if (!err)
		set_err = st_vmm_set_ipa(vm->st, 0, opt->region_ipa);
	ev = json_pack("{s:s, s:b, s:s}", "event", "reregister", "ok", !err, "errno",
		       err ? errno_name(err) : "");
	if (ev && !err) {
		json_object_set_new(ev, "vm", json_string(st_vmm_vm_id(vm->st)));
		json_object_set_new(ev, "same_region",
				    json_boolean(before && map_id_of(st_vmm_region_fd(vm->st)) == before));
		json_object_set_new(ev, "set_ipa_again", json_string(set_err ? errno_name(set_err) : "ok"));
	}
	report_emit(&vm->report, ev);
}

/* --request: raw messages on the registered connection, replies reported */
void send_requests(struct vm *vm)
{
	const struct options *opt = vm->opt;

	for (unsigned int i = 0; i < opt->nrequests; i++) {
		char *reply = NULL;
		int err = st_vmm_request_raw(vm->st, opt->requests[i], strlen(opt->requests[i]),
					     &reply);
		json_t *ev = json_pack("{s:s, s:s}", "event", "reply", "request", opt->requests[i]);
		json_t *r = reply ? json_loads(reply, 0, NULL) : NULL;

		if (ev && r)
			json_object_set_new(ev, "reply", r);
		else if (ev)
			json_object_set_new(ev, "error", json_string(err ? errno_name(err) : "bad reply"));
		report_emit(&vm->report, ev);
		free(reply);
	}
}

/* --cycles N: connect, register, close N times (the daemon must not leak) */
int register_cycles(struct vm *vm)
{
	const struct options *opt = vm->opt;
	int fails = 0;

	for (unsigned int i = 0; i < opt->cycles; i++) {
		struct st_vmm *c;

		if (st_vmm_connect(&c, opt->control)) {
			fails++;
			continue;
		}
		if (st_vmm_register(c, opt->region_ipa))
			fails++;
		st_vmm_close(c);
	}
	report_emit(&vm->report,
		    json_pack("{s:s, s:i, s:i}", "event", "cycles", "done", opt->cycles, "failed", fails));
	return fails ? EXIT_REGISTER : 0;
}
