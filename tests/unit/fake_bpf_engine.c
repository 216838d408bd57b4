// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_bpf_engine.h"
#include "table_hooks.h"

#define FAKE(e) ((struct fake_bpf *)(e))

/* bpf_engine_read_record() has only an fd: the double in use */
static struct fake_bpf *fake_of_fds;

struct fake_bpf *fake_bpf_new(void)
{
	struct fake_bpf *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->e.vcpus = calloc(ST_MAX_VCPUS, sizeof(*f->e.vcpus));
	assert_non_null(f->e.vcpus);
	f->e.vcpus_len = ST_MAX_VCPUS * sizeof(*f->e.vcpus);
	for (int i = 0; i < 16; i++) /* the key of SipHash's reference vectors */
		f->e.id_key.bytes[i] = (uint8_t)i;
	for (int i = 0; i < FAKE_REGIONS; i++)
		f->region_fds[i] = -1;
	fake_of_fds = f;
	return f;
}

/* The fds the code under test holds are its own to close. */
void fake_bpf_free(struct fake_bpf *f)
{
	fake_of_fds = NULL;
	free(f->e.vcpus);
	free(f);
}

void fake_disc(struct fake_bpf *f, uint64_t cookie, pid_t pid, uint32_t vcpu, pid_t tid)
{
	assert_true(f->ndisc < FAKE_MAX);
	f->disc[f->ndisc++] = (struct st_disc){ .vm_cookie = cookie, .pid = (uint32_t)pid,
						.vcpu_id = vcpu, .tid = (uint32_t)tid };
}

void fake_attrib(struct fake_bpf *f, uint32_t slot, uint32_t kind, uint64_t id, uint64_t ns)
{
	assert_true(f->nattrib < FAKE_MAX);
	f->keys[f->nattrib] = (struct st_attrib_key){ .slot = slot, .kind = kind, .id = id };
	f->vals[f->nattrib++] = ns;
}

/* A real fd (the code under test closes it) standing for region idx */
static int region_fd_new(struct fake_bpf *f, uint32_t idx)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0 && fd < FAKE_FDS);
	f->fd_region[fd] = (int)idx + 1;
	return fd;
}

void fake_pin_region(struct fake_bpf *f, uint32_t idx)
{
	assert_true(idx < FAKE_REGIONS);
	f->region_fds[idx] = region_fd_new(f, idx);
}

const struct fake_bind *fake_bind_of(const struct fake_bpf *f, pid_t tid)
{
	for (size_t i = f->nbinds; i-- > 0;)
		if (f->binds[i].tid == tid)
			return &f->binds[i];
	return NULL;
}

int fake_env_setup(void **state)
{
	struct fake_env *env = calloc(1, sizeof(*env));

	assert_non_null(env);
	env->f = fake_bpf_new();
	assert_int_equal(vm_table_init(&env->t, &env->f->e, &daemon_table_hooks, 8, 16), 0);
	*state = env;
	return 0;
}

int fake_env_teardown(void **state)
{
	struct fake_env *env = *state;

	vm_table_free(&env->t);
	fake_bpf_free(env->f);
	free(env);
	return 0;
}

/* --- the doubled bpf_engine functions -------------------------------------- */

int bpf_engine_discover(struct bpf_engine *e, struct st_disc **out, size_t *n)
{
	struct fake_bpf *f = FAKE(e);

	*out = NULL;
	*n = 0;
	if (f->discover_err)
		return f->discover_err;
	*out = malloc(sizeof(f->disc));
	assert_non_null(*out);
	memcpy(*out, f->disc, f->ndisc * sizeof(f->disc[0]));
	*n = f->ndisc;
	return 0;
}

int bpf_engine_discover_pid(struct bpf_engine *e, pid_t pid, struct st_disc **out, size_t *n)
{
	struct fake_bpf *f = FAKE(e);

	*out = NULL;
	*n = 0;
	if (!e->discover_by_pid)
		return -EOPNOTSUPP;
	f->pid_discoveries++;
	if (f->discover_err)
		return f->discover_err;
	*out = malloc(sizeof(f->disc));
	assert_non_null(*out);
	for (size_t i = 0; i < f->ndisc; i++)
		if ((pid_t)f->disc[i].pid == pid)
			(*out)[(*n)++] = f->disc[i];
	return 0;
}

int bpf_engine_bind_queue(struct bpf_engine *e, pid_t tid, uint32_t slot, bool bind)
{
	struct fake_bpf *f = FAKE(e);

	if (tid <= 0)
		return -EINVAL;
	assert_true(f->nbinds < FAKE_MAX);
	f->binds[f->nbinds++] = (struct fake_bind){ .tid = tid, .slot = slot, .bind = bind,
						    .gen = e->vcpus[slot].gen };
	return 0;
}

int bpf_engine_bind_run(struct bpf_engine *e, pid_t pid)
{
	FAKE(e)->bind_runs++;
	return FAKE(e)->bind_run_err;
}

uint32_t bpf_engine_bind_result(struct bpf_engine *e, pid_t tid)
{
	struct fake_bpf *f = FAKE(e);

	for (size_t i = f->bind_first; i < f->nbinds; i++)
		if (f->binds[i].tid == tid && f->binds[i].bind)
			return tid == f->bind_fail_tid ? f->bind_fail_result : ST_BIND_DONE;
	return ST_BIND_PENDING;
}

void bpf_engine_bind_clear(struct bpf_engine *e)
{
	FAKE(e)->bind_first = FAKE(e)->nbinds;
}

int bpf_engine_region_add(struct bpf_engine *e, uint32_t idx)
{
	struct fake_bpf *f = FAKE(e);

	if (f->region_add_err)
		return f->region_add_err;
	assert_true(idx < FAKE_REGIONS);
	assert_int_equal(f->region_fds[idx], -1);
	memset(f->stolen[idx], 0, sizeof(f->stolen[idx]));
	f->region_fds[idx] = region_fd_new(f, idx);
	return f->region_fds[idx];
}

int bpf_engine_region_remove(struct bpf_engine *e, uint32_t idx)
{
	struct fake_bpf *f = FAKE(e);

	if (idx >= FAKE_REGIONS || f->region_fds[idx] < 0)
		return -ENOENT;
	f->region_fds[idx] = -1;
	return 0;
}

int bpf_engine_region_fd(struct bpf_engine *e, uint32_t idx)
{
	struct fake_bpf *f = FAKE(e);

	if (idx >= FAKE_REGIONS || f->region_fds[idx] < 0)
		return -ENOENT;
	return region_fd_new(f, idx);
}

int bpf_engine_read_record(int region_fd, uint32_t record, struct st_record *out)
{
	struct fake_bpf *f = fake_of_fds;

	if (!f || region_fd < 0 || region_fd >= FAKE_FDS || !f->fd_region[region_fd] ||
	    record >= ST_RECORDS_PER_REGION)
		return -EBADF;
	memset(out, 0, sizeof(*out));
	out->stolen_ns = f->stolen[f->fd_region[region_fd] - 1][record];
	return 0;
}

int bpf_engine_seed_record(struct bpf_engine *e, uint32_t region, uint32_t record, uint64_t value)
{
	struct fake_bpf *f = FAKE(e);

	assert_true(region < FAKE_REGIONS && record < ST_RECORDS_PER_REGION);
	f->stolen[region][record] = value;
	f->seeds++;
	return 0;
}

int bpf_engine_attrib_read(struct bpf_engine *e, struct st_attrib_key **keys, uint64_t **vals,
			   size_t *n)
{
	struct fake_bpf *f = FAKE(e);

	*keys = calloc(FAKE_MAX, sizeof(**keys));
	*vals = calloc(FAKE_MAX, sizeof(**vals));
	*n = 0;
	assert_true(*keys && *vals);
	if (f->attrib_read_err)
		return f->attrib_read_err;
	memcpy(*keys, f->keys, f->nattrib * sizeof(f->keys[0]));
	memcpy(*vals, f->vals, f->nattrib * sizeof(f->vals[0]));
	*n = f->nattrib;
	f->attrib_reads++;
	if (f->after_attrib_read)
		f->after_attrib_read(f, f->after_attrib_read_arg);
	return 0;
}

void bpf_engine_attrib_forget(struct bpf_engine *e, const bool *forget)
{
	struct fake_bpf *f = FAKE(e);
	size_t kept = 0;

	f->forget_calls++;
	for (size_t i = 0; i < f->nattrib; i++) {
		if (f->keys[i].slot < ST_MAX_VCPUS && forget[f->keys[i].slot])
			continue;
		f->keys[kept] = f->keys[i];
		f->vals[kept++] = f->vals[i];
	}
	f->nattrib = kept;
}

static ssize_t fake_attrib_find(const struct fake_bpf *f, const struct st_attrib_key *k)
{
	for (size_t i = 0; i < f->nattrib; i++)
		if (f->keys[i].slot == k->slot && f->keys[i].kind == k->kind && f->keys[i].id == k->id)
			return (ssize_t)i;
	return -1;
}

/* As the fold_culprit program: the destination made first, then the move */
int bpf_engine_attrib_fold(struct bpf_engine *e, const struct st_attrib_key *from,
			   const struct st_attrib_key *to)
{
	struct fake_bpf *f = FAKE(e);
	ssize_t src = fake_attrib_find(f, from), dst;

	f->folds++;
	if (f->attrib_fold_err)
		return f->attrib_fold_err;
	if (src < 0)
		return -ENOENT;
	assert_int_equal(from->slot, to->slot);
	dst = fake_attrib_find(f, to);
	if (dst < 0) {
		if (f->nattrib == FAKE_MAX)
			return -ENOSPC;
		f->keys[f->nattrib] = *to;
		f->vals[f->nattrib] = 0;
		dst = (ssize_t)f->nattrib++;
	}
	f->vals[dst] += f->vals[src];
	f->keys[src] = f->keys[f->nattrib - 1];
	f->vals[src] = f->vals[f->nattrib - 1];
	f->nattrib--;
	return 0;
}

uint64_t bpf_engine_stat(struct bpf_engine *e, enum st_stat which)
{
	return FAKE(e)->stats[which];
}
