// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attribution.h"
#include "culprit_reads.h"
#include "log.h"

/*
 * Remembered names of culprit processes, so exited ones keep a name; a live
 * one's name is read again after NAME_TTL_NS (processes rename themselves).
 */
#define NAME_CACHE 1024
#define NAME_TTL_NS (5 * 1000000000ULL)

struct name_entry {
	int32_t pid;
	uint64_t read_ns;
	char comm[32];
	char cgroup[128];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static struct name_entry names[NAME_CACHE];

/*
 * comm and cgroup of pid: fresh while it lives, remembered after. pre: as
 * the fold's reads found them (the cache's own reading when newer), NULL:
 * read now unless read less than NAME_TTL_NS ago.
 */
static const struct name_entry *culprit_names(int32_t pid, const struct culprit_read *pre,
					      uint64_t read_ns)
{
	struct name_entry *e = &names[(uint32_t)pid % NAME_CACHE];
	uint64_t now = pre ? read_ns : mono_ns();
	char comm[32];

	if (e->pid == pid && (pre ? e->read_ns >= read_ns : now - e->read_ns < NAME_TTL_NS))
		return e;
	if (pre)
		memcpy(comm, pre->comm, sizeof(comm));
	else
		culprit_read_comm(pid, comm, sizeof(comm));
	if (comm[0]) {
		e->read_ns = now;
		if (e->pid != pid || strcmp(e->comm, comm)) {
			e->pid = pid;
			memcpy(e->comm, comm, sizeof(e->comm));
			if (pre)
				memcpy(e->cgroup, pre->cgroup, sizeof(e->cgroup));
			else
				culprit_read_cgroup(pid, e->cgroup, sizeof(e->cgroup));
		}
		return e;
	}
	return e->pid == pid ? e : NULL;
}

/*
 * The names culprits were shown under, kept while they have entries in
 * stolen_by (sorted by kind and pid): the name is read once, and changed
 * only by the fold pass, after it folded what the old name holds.
 */
struct known {
	uint32_t kind;
	int32_t pid;
	uint64_t seen_ns;  /* CLOCK_MONOTONIC: named, or last found in stolen_by by a fold */
	uint64_t named_ns; /* when its name was read */
	char name[96];
	char cgroup[128];
};

struct attribution_state {
	struct known *known;
	size_t nknown, cap;
	char path[4096];  /* the state file, "" for none */
	char *saved;      /* its content as last written */
	bool save_failed; /* logged once until a save works */
	uint64_t fold_errors;
};

static struct attribution_state *state_of(struct vm_table *t)
{
	if (!t->attrib)
		t->attrib = calloc(1, sizeof(*t->attrib));
	return t->attrib;
}

void attribution_free(struct vm_table *t)
{
	if (!t->attrib)
		return;
	free(t->attrib->known);
	free(t->attrib->saved);
	free(t->attrib);
	t->attrib = NULL;
}

static int cmp_known(uint32_t kind, int32_t pid, const struct known *k)
{
	if (kind != k->kind)
		return kind < k->kind ? -1 : 1;
	return (pid > k->pid) - (pid < k->pid);
}

/* Index of (kind, pid), or where it would go (*found false) */
static size_t known_pos(const struct attribution_state *s, uint32_t kind, int32_t pid, bool *found)
{
	size_t lo = 0, hi = s->nknown;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_known(kind, pid, &s->known[mid]);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

static struct known *known_insert(struct attribution_state *s, uint32_t kind, int32_t pid)
{
	bool found;
	size_t i = known_pos(s, kind, pid, &found);

	if (found)
		return &s->known[i];
	if (s->nknown == s->cap) {
		size_t n = s->cap ? s->cap * 2 : 64;
		struct known *nk = realloc(s->known, n * sizeof(*nk));

		if (!nk)
			return NULL;
		s->known = nk;
		s->cap = n;
	}
	memmove(&s->known[i + 1], &s->known[i], (s->nknown - i) * sizeof(*s->known));
	s->nknown++;
	memset(&s->known[i], 0, sizeof(s->known[i]));
	s->known[i].kind = kind;
	s->known[i].pid = pid;
	return &s->known[i];
}

/*
 * The name a culprit has now: its VM's, its comm (remembered after it
 * exits), or "pid N"; pre and read_ns as for culprit_names()
 */
static void fresh_name(struct vm_table *t, uint32_t kind, int32_t pid,
		       const struct culprit_read *pre, uint64_t read_ns, struct known *out)
{
	const struct name_entry *n;
	struct vm_entry *vm;

	out->cgroup[0] = '\0';
	if (kind == ST_CULPRIT_VCPU) {
		vm = vm_table_find_pid(t, pid);
		if (vm) {
			snprintf(out->name, sizeof(out->name), "%.*s", (int)sizeof(out->name) - 1,
				 vm->name);
			return;
		}
	}
	n = culprit_names(pid, pre, read_ns);
	if (!n) {
		snprintf(out->name, sizeof(out->name), "pid %d", pid);
		return;
	}
	snprintf(out->name, sizeof(out->name), "%s", n->comm);
	if (kind == ST_CULPRIT_PROCESS)
		snprintf(out->cgroup, sizeof(out->cgroup), "%s", n->cgroup);
}

/*
 * The remembered names of (kind, pid), named now if it has none (NULL: no
 * memory): as the fold read it (pre, at read_ns), or read now (pre NULL)
 */
static struct known *known_names(struct vm_table *t, uint32_t kind, int32_t pid,
				 const struct culprit_read *pre, uint64_t read_ns)
{
	struct attribution_state *s = state_of(t);
	bool found;
	size_t i;
	struct known *k;

	if (!s)
		return NULL;
	i = known_pos(s, kind, pid, &found);
	if (found)
		return &s->known[i];
	k = known_insert(s, kind, pid);
	if (k) {
		fresh_name(t, kind, pid, pre, read_ns, k);
		k->named_ns = pre ? read_ns : mono_ns();
		k->seen_ns = k->named_ns;
	}
	return k;
}

static void name_culprit(struct vm_table *t, struct culprit_view *c)
{
	const struct known *k;
	struct known fresh;
	struct vm_entry *vm;

	if (c->kind == CULPRIT_THROTTLED) {
		c->pid = 0;
		snprintf(c->name, sizeof(c->name), "throttled");
		return;
	}
	if (c->kind == CULPRIT_OTHER || (c->kind > CULPRIT_KERNEL)) {
		c->kind = CULPRIT_OTHER;
		c->pid = 0;
		snprintf(c->name, sizeof(c->name), "other");
		return;
	}
	if (c->kind == CULPRIT_VM) {
		vm = vm_table_find_pid(t, c->pid);
		if (vm)
			snprintf(c->vm_id, sizeof(c->vm_id), "%s", vm->id);
	}
	k = known_names(t, (uint32_t)c->kind, c->pid, NULL, 0);
	if (!k) {
		fresh_name(t, (uint32_t)c->kind, c->pid, NULL, 0, &fresh);
		k = &fresh;
	}
	snprintf(c->name, sizeof(c->name), "%s", k->name);
	snprintf(c->cgroup, sizeof(c->cgroup), "%s", k->cgroup);
}

/*
 * Adds ns for (kind, pid) to the VM's list, merging the same culprit of
 * several vCPUs; name: a folded series' aggregate (pid 0), already named.
 */
static int add_culprit(struct vm_view *vm, size_t *cap, enum culprit_kind kind, int32_t pid,
		       const char *name, uint64_t ns)
{
	struct culprit_view *c;

	for (size_t i = 0; i < vm->nculprits; i++) {
		c = &vm->culprits[i];
		if (c->pid == pid && c->kind == kind && (!name || !strcmp(c->name, name))) {
			c->ns += ns;
			return 0;
		}
	}
	if (vm->nculprits == *cap) {
		size_t n = *cap ? *cap * 2 : 8;
		struct culprit_view *nc = realloc(vm->culprits, n * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		vm->culprits = nc;
		*cap = n;
	}
	c = &vm->culprits[vm->nculprits++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->pid = pid;
	if (name)
		snprintf(c->name, sizeof(c->name), "%s", name);
	c->ns = ns;
	return 0;
}

/* An entry of stolen_by into the view of the VM owning its slot */
static int add_entry(struct vm_view *vm, size_t *cap, const struct st_attrib_key *k, uint64_t ns)
{
	uint32_t kind = (uint32_t)(k->id >> 32), idx = (uint32_t)k->id;

	switch (k->kind) {
	case ST_CULPRIT_VCPU:
	case ST_CULPRIT_PROCESS:
	case ST_CULPRIT_KERNEL:
		return add_culprit(vm, cap, (enum culprit_kind)k->kind, (int32_t)k->id, NULL, ns);
	case ST_CULPRIT_EXITED:
		if (idx < vm->nexported && (uint32_t)vm->exported[idx].kind == kind)
			return add_culprit(vm, cap, vm->exported[idx].kind, 0,
					   vm->exported[idx].name, ns);
		break; /* no series known for it (no saved state): other */
	case ST_CULPRIT_THROTTLED:
		return add_culprit(vm, cap, CULPRIT_THROTTLED, 0, NULL, ns);
	}
	return add_culprit(vm, cap, CULPRIT_OTHER, 0, NULL, ns);
}

static int cmp_culprit(const void *a, const void *b)
{
	const struct culprit_view *x = a, *y = b;

	return (x->ns < y->ns) - (x->ns > y->ns);
}

int attribution_fill(struct vm_table *t, struct host_view *hv, const int *slot_vm,
		     const struct attrib_entries *pre)
{
	size_t *caps = calloc(hv->nvms ? hv->nvms : 1, sizeof(*caps));
	struct attrib_entries now = { 0 };
	const struct attrib_entries *e = pre ? pre : &now;
	int err = 0;

	if (!caps)
		return -ENOMEM;
	if (!pre)
		err = bpf_engine_attrib_read(t->bpf, &now.keys, &now.vals, &now.n);
	for (size_t i = 0; i < e->n && !err; i++) {
		int vm = e->keys[i].slot < ST_MAX_VCPUS ? slot_vm[e->keys[i].slot] : -1;

		if (vm >= 0)
			err = add_entry(&hv->vms[vm], &caps[vm], &e->keys[i], e->vals[i]);
	}
	free(now.keys);
	free(now.vals);
	free(caps);
	for (size_t i = 0; i < hv->nvms; i++) {
		struct vm_view *vm = &hv->vms[i];

		for (size_t j = 0; j < vm->nculprits; j++)
			if (vm->culprits[j].pid || vm->culprits[j].kind == CULPRIT_OTHER ||
			    vm->culprits[j].kind == CULPRIT_THROTTLED)
				name_culprit(t, &vm->culprits[j]);
		if (vm->culprits) /* NULL when none: qsort's base must not be */
			qsort(vm->culprits, vm->nculprits, sizeof(*vm->culprits), cmp_culprit);
	}
	return err;
}

/* ---- folding ------------------------------------------------------------- */

/* Where the time of a culprit named (kind, name) goes in slot: its series, or other */
static struct st_attrib_key series_of(const struct vm_entry *vm, uint32_t slot, uint32_t kind,
				      const char *name)
{
	for (size_t i = 0; i < vm->nexported; i++)
		if ((uint32_t)vm->exported[i].kind == kind && !strcmp(vm->exported[i].name, name))
			return (struct st_attrib_key){ .slot = slot, .kind = ST_CULPRIT_EXITED,
						       .id = (uint64_t)kind << 32 | i };
	return (struct st_attrib_key){ .slot = slot, .kind = ST_CULPRIT_OTHER };
}

/* Folds the entries keys[0..n) of one culprit into the series named by k: 0 or the first error */
static int fold_group(struct vm_table *t, struct vm_entry *const *slot_vm,
		      const struct st_attrib_key *keys, size_t n, const struct known *k)
{
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		const struct vm_entry *vm = keys[i].slot < ST_MAX_VCPUS ? slot_vm[keys[i].slot] : NULL;
		struct st_attrib_key to;
		int e;

		if (!vm)
			continue; /* a freed slot: forgotten soon */
		to = series_of(vm, keys[i].slot, k->kind, k->name);
		e = bpf_engine_attrib_fold(t->bpf, &keys[i], &to);
		if (e && e != -ENOENT && !err)
			err = e;
	}
	return err;
}

/* Folds the culprits of pre that exited or renamed, and forgets those with no entry left */
static void fold(struct vm_table *t, struct attribution_state *s, struct vm_entry *const *slot_vm,
		 const struct culprit_reads *pre)
{
	uint64_t folded = 0, failed = 0;
	size_t kept = 0;

	for (size_t i = 0; i < pre->nculprits; i++) {
		const struct culprit_read *c = &pre->culprits[i];
		enum fold_verdict v;
		struct known *k, fresh = { .name = "" };

		k = known_names(t, c->kind, c->pid, c, pre->read_ns);
		if (!k)
			continue;
		if (k->seen_ns < pre->read_ns)
			k->seen_ns = pre->read_ns;
		if (c->alive && k->named_ns <= pre->read_ns)
			fresh_name(t, c->kind, c->pid, c, pre->read_ns, &fresh);
		v = culprit_fold_verdict(k->name, k->named_ns, c->alive, fresh.name, pre->read_ns);
		if (v == FOLD_KEEP || v == FOLD_LATER)
			continue;
		/* exited, or renamed: what its name holds stays with that name's series */
		if (fold_group(t, slot_vm, &pre->keys[c->first], c->n, k)) {
			failed++;
			continue;
		}
		folded++;
		if (v == FOLD_GONE) {
			k->seen_ns = 0; /* forgotten below */
		} else {
			memcpy(k->name, fresh.name, sizeof(k->name));
			memcpy(k->cgroup, fresh.cgroup, sizeof(k->cgroup));
			k->named_ns = pre->read_ns;
		}
	}
	/* culprits with no entry left (folded, or their slots forgotten), unless named since */
	for (size_t i = 0; i < s->nknown; i++)
		if (s->known[i].seen_ns >= pre->read_ns)
			s->known[kept++] = s->known[i];
	s->nknown = kept;
	if (failed && !s->fold_errors)
		log_warning("fold of exited culprits: %" PRIu64 " could not be folded (stolen_by "
			    "full?); they are tried again at the next rescan", failed);
	s->fold_errors += failed;
	if (folded)
		log_debug("folded the entries of %" PRIu64 " exited or renamed culprits", folded);
}

struct culprit_reads *attribution_read(struct bpf_engine *bpf)
{
	int err;
	struct culprit_reads *r = culprit_reads_read(bpf, &err);

	if (!r)
		log_warning("fold of exited culprits: cannot read stolen_by: %s", strerror(-err));
	return r;
}

void attribution_fold(struct vm_table *t, const struct culprit_reads *pre)
{
	struct attribution_state *s = state_of(t);
	struct vm_entry **slot_vm = calloc(ST_MAX_VCPUS, sizeof(*slot_vm));
	struct culprit_reads *now = NULL;

	if (!s || !slot_vm)
		goto out;
	if (!pre)
		pre = now = attribution_read(t->bpf);
	if (!pre)
		goto out;
	for (size_t i = 0; i < t->nvms; i++)
		for (size_t j = 0; j < t->vms[i]->nvcpus; j++)
			slot_vm[t->vms[i]->vcpus[j].slot] = t->vms[i];
	fold(t, s, slot_vm, pre);
	attribution_save(t);
out:
	culprit_reads_free(now);
	free(slot_vm);
}

/* ---- the state file ------------------------------------------------------ */

/* A name as one word: bytes outside '!'..'~', and '%', as %XX */
static void write_word(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '%')
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes word (write_word's form) into out: 0 or -EINVAL */
static int read_word(const char *word, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = word; *p; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;

			if (lo < 0)
				return -EINVAL;
			c = hi << 4 | lo;
			p += 2;
		}
		if (o + 1 >= len || c == 0)
			return -EINVAL;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static bool is_exported_anywhere(const struct vm_table *t, uint32_t kind, const char *name)
{
	for (size_t i = 0; i < t->nvms; i++)
		for (size_t j = 0; j < t->vms[i]->nexported; j++)
			if ((uint32_t)t->vms[i]->exported[j].kind == kind &&
			    !strcmp(t->vms[i]->exported[j].name, name))
				return true;
	return false;
}

/*
 * The state: each VM's exported culprits (by VM id, in order: folded
 * entries name them by index), and the names of the culprits counted in
 * one of them, so that one that exits while no daemon runs keeps its series.
 */
static char *state_text(const struct vm_table *t, const struct attribution_state *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("stealtimed-culprits 1\n", f);
	for (size_t i = 0; i < t->nvms; i++) {
		const struct vm_entry *vm = t->vms[i];

		if (!vm->nexported)
			continue;
		fprintf(f, "vm %s\n", vm->id);
		for (size_t j = 0; j < vm->nexported; j++) {
			fprintf(f, "export %u ", (unsigned)vm->exported[j].kind);
			write_word(f, vm->exported[j].name);
			fputc('\n', f);
		}
	}
	for (size_t i = 0; i < s->nknown; i++) {
		const struct known *k = &s->known[i];

		if (!is_exported_anywhere(t, k->kind, k->name))
			continue;
		fprintf(f, "name %u %" PRId32 " ", k->kind, k->pid);
		write_word(f, k->name);
		fputc('\n', f);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int write_file(const char *path, const char *text)
{
	char tmp[4200];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd))
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

void attribution_save(struct vm_table *t)
{
	struct attribution_state *s = state_of(t);
	char *text;
	int err;

	if (!s || !s->path[0])
		return;
	text = state_text(t, s);
	if (!text) {
		err = -ENOMEM;
	} else if (s->saved && !strcmp(text, s->saved)) {
		free(text);
		return;
	} else {
		err = write_file(s->path, text);
	}
	if (err) {
		if (!s->save_failed)
			log_warning("cannot save %s: %s (the culprits with a series of their own "
				    "may change at the next start)", s->path, strerror(-err));
		s->save_failed = true;
		free(text);
		return;
	}
	if (s->save_failed)
		log_info("saved %s", s->path);
	s->save_failed = false;
	free(s->saved);
	s->saved = text;
}

static int restore_line(struct vm_table *t, struct attribution_state *s, char *line,
			struct vm_entry **vm)
{
	char word[4][300], name[96];
	unsigned kind;
	int32_t pid;
	int n = sscanf(line, "%299s %299s %299s %299s", word[0], word[1], word[2], word[3]);

	if (n >= 2 && !strcmp(word[0], "vm")) {
		*vm = NULL;
		for (size_t i = 0; i < t->nvms; i++)
			if (!strcmp(t->vms[i]->id, word[1]))
				*vm = t->vms[i];
		if (*vm) /* the saved set replaces what is there */
			(*vm)->nexported = 0;
		return 0;
	}
	if (n >= 2 && !strcmp(word[0], "export") && sscanf(word[1], "%u", &kind) == 1) {
		struct culprit_key *k;

		if (kind < CULPRIT_VM || kind > CULPRIT_KERNEL)
			return -EINVAL;
		if (!*vm)
			return 0; /* a VM that is gone */
		k = realloc((*vm)->exported, ((*vm)->nexported + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
		(*vm)->exported = k;
		k += (*vm)->nexported;
		k->kind = (enum culprit_kind)kind;
		if (read_word(n >= 3 ? word[2] : "", k->name, sizeof(k->name)))
			return -EINVAL;
		(*vm)->nexported++;
		return 0;
	}
	if (n >= 3 && !strcmp(word[0], "name") && sscanf(word[1], "%u", &kind) == 1 &&
	    sscanf(word[2], "%" SCNd32, &pid) == 1) {
		struct known *k;

		if (kind < ST_CULPRIT_VCPU || kind > ST_CULPRIT_KERNEL ||
		    read_word(n >= 4 ? word[3] : "", name, sizeof(name)))
			return -EINVAL;
		k = known_insert(s, kind, pid);
		if (!k)
			return -ENOMEM;
		memcpy(k->name, name, sizeof(k->name));
		k->seen_ns = mono_ns();
		return 0;
	}
	return -EINVAL;
}

int attribution_restore(struct vm_table *t, const char *path)
{
	struct attribution_state *s = state_of(t);
	struct vm_entry *vm = NULL;
	char line[1024];
	unsigned lineno = 0;
	int err = 0;
	FILE *f;

	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (!path[0])
		return 0;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : log_errno(-errno, "open %s", path);
	if (!fgets(line, sizeof(line), f) || strcmp(line, "stealtimed-culprits 1\n")) {
		fclose(f);
		return log_errno(-EINVAL, "%s: not a culprits file of this version", path);
	}
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		err = restore_line(t, s, line, &vm);
	}
	fclose(f);
	if (err)
		return log_errno(err, "%s:%u: cannot restore", path, lineno + 1);
	s->saved = state_text(t, s);
	return 0;
}

void attribution_forget_slots(struct vm_table *t, const bool *forget)
{
	bpf_engine_attrib_forget(t->bpf, forget);
}
