// SPDX-License-Identifier: GPL-2.0
/*
 * stealtimectl top: one row per VM, computed from two fetches of
 * GET /v1/vms an interval apart.
 *
 *   STEAL%       delta steal / (delta steal + delta run), both summed over
 *                the VM's vCPUs: the share of the time its vCPUs wanted a
 *                CPU that they spent waiting for one
 *   P99 WAIT     99th percentile of the single waits that ended in the
 *                interval, from the difference of the vCPUs' log2
 *                histograms: an upper bound, within a factor 2
 *                (render_wait_percentile)
 *   TOP CULPRIT  the "stolen_by" entry whose time grew the most
 *
 * Frame 0 has no earlier fetch: it is shown at once with the figures since
 * each VM started, as top(1) does for CPU usage. So is a VM that appeared
 * since the previous fetch, or whose counters went back.
 *
 * On a terminal (standard input and output), without -b or --json, frames
 * replace each other on the alternate screen and keys act at once;
 * otherwise each frame is printed after the previous one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "format.h"
#include "http_get.h"
#include "render_json.h"
#include "term.h"
#include "top.h"

#define MAX_SLOTS 64
#define FIXED_COLUMNS 25 /* VCPUS, STEAL%, P99 WAIT and their spaces */
#define CULPRIT_COLUMNS 25
#define MIN_NAME_COLUMNS 8
#define BATCH_WIDTH 79   /* one less than 80: no terminal wraps it */
#define HEADER_LINES 4    /* the two lines of a frame's head, keys or a blank, columns */

static const char *const sort_names[] = {
	[TOP_SORT_STEAL] = "steal",
	[TOP_SORT_NAME] = "name",
	[TOP_SORT_P99] = "p99",
};

/* One VM of a fetch, summed over its vCPUs. */
struct top_vm {
	const char *id;
	const char *name;
	size_t nvcpus;
	uint64_t steal_ns;
	uint64_t run_ns;
	uint64_t max_wait_ns;
	uint64_t hist[MAX_SLOTS];
	size_t nslots;
	const json_t *stolen_by;
};

/* One fetch of /v1/vms; the strings above point into doc. */
struct top_sample {
	json_t *doc;
	struct top_vm *vms;
	size_t nvms;
	struct timespec at;
};

struct top_row {
	const struct top_vm *vm;
	uint64_t steal_ns; /* over the interval */
	uint64_t run_ns;
	bool has_pct;
	double steal_pct;
	bool has_p99;
	uint64_t p99_ns;
	const json_t *culprit; /* a "stolen_by" entry, NULL: none grew */
	uint64_t culprit_ns;
};

struct top_frame {
	unsigned long number;
	double interval_s; /* 0: frame 0, figures since start */
	struct top_row *rows;
	size_t nrows;
	enum top_sort sort;
};

/* --- samples --------------------------------------------------------------- */

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void sample_free(struct top_sample *s)
{
	free(s->vms);
	json_decref(s->doc);
	memset(s, 0, sizeof(*s));
}

static void vm_of_json(const json_t *j, struct top_vm *vm)
{
	const json_t *v, *count;
	size_t i, k;

	vm->id = json_str_at(j, "id");
	vm->name = json_vm_label(j);
	vm->max_wait_ns = json_u64_at(j, "max_wait_ns");
	vm->stolen_by = json_object_get(j, "stolen_by");
	vm->nvcpus = json_array_size(json_object_get(j, "vcpus"));
	json_array_foreach(json_object_get(j, "vcpus"), i, v) {
		vm->steal_ns += json_u64_at(v, "steal_ns");
		vm->run_ns += json_u64_at(v, "run_ns");
	}
	/* the VM's own histogram: the sum of its vCPUs' */
	json_array_foreach(json_object_get(json_object_get(j, "wait"), "hist"), k, count) {
		if (k >= MAX_SLOTS)
			break;
		if (json_integer_value(count) > 0)
			vm->hist[k] += (uint64_t)json_integer_value(count);
		if (k + 1 > vm->nslots)
			vm->nslots = k + 1;
	}
}

/* GET /v1/vms into *s; 1 with the reason in err. */
static int sample_fetch(const struct options *o, struct top_sample *s, char *err, size_t err_len)
{
	const json_t *vms, *j;
	size_t i;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &s->at);
	if (api_get_vms(o, &s->doc, err, err_len))
		return 1;
	vms = json_object_get(s->doc, "vms");
	s->vms = calloc(json_array_size(vms) + 1, sizeof(*s->vms));
	if (!s->vms) {
		snprintf(err, err_len, "out of memory");
		sample_free(s);
		return 1;
	}
	json_array_foreach(vms, i, j)
		vm_of_json(j, &s->vms[s->nvms++]);
	return 0;
}

static const struct top_vm *sample_find(const struct top_sample *s, const char *id)
{
	for (size_t i = 0; s && i < s->nvms; i++)
		if (!strcmp(s->vms[i].id, id))
			return &s->vms[i];
	return NULL;
}

/* --- rows -------------------------------------------------------------------- */

static bool same_culprit(const json_t *a, const json_t *b)
{
	return !strcmp(json_str_at(a, "kind"), json_str_at(b, "kind")) &&
	       !strcmp(json_str_at(a, "name"), json_str_at(b, "name")) &&
	       json_integer_value(json_object_get(a, "pid")) ==
		       json_integer_value(json_object_get(b, "pid"));
}

/* The time c had in the earlier list (0 when it was not there or more than now). */
static uint64_t culprit_before(const json_t *earlier, const json_t *c)
{
	const json_t *e;
	size_t i;

	json_array_foreach(earlier, i, e) {
		if (same_culprit(e, c)) {
			uint64_t ns = json_u64_at(e, "ns");

			return ns <= json_u64_at(c, "ns") ? ns : 0;
		}
	}
	return 0;
}

static void row_culprit(struct top_row *r, const struct top_vm *prev)
{
	const json_t *c;
	size_t i;

	json_array_foreach(r->vm->stolen_by, i, c) {
		uint64_t ns = json_u64_at(c, "ns");

		if (prev)
			ns -= culprit_before(prev->stolen_by, c);
		if (ns > r->culprit_ns) {
			r->culprit = c;
			r->culprit_ns = ns;
		}
	}
}

static void row_of(struct top_row *r, const struct top_vm *vm, const struct top_vm *prev)
{
	uint64_t hist[MAX_SLOTS] = { 0 }, waits = 0;

	if (prev && (prev->steal_ns > vm->steal_ns || prev->run_ns > vm->run_ns))
		prev = NULL; /* not the VM we saw: since it started */
	memset(r, 0, sizeof(*r));
	r->vm = vm;
	r->steal_ns = vm->steal_ns - (prev ? prev->steal_ns : 0);
	r->run_ns = vm->run_ns - (prev ? prev->run_ns : 0);
	r->has_pct = r->steal_ns + r->run_ns > 0;
	if (r->has_pct)
		r->steal_pct = 100.0 * (double)r->steal_ns / ((double)r->steal_ns + (double)r->run_ns);
	for (size_t k = 0; k < vm->nslots; k++) {
		uint64_t before = prev && k < prev->nslots ? prev->hist[k] : 0;

		hist[k] = vm->hist[k] >= before ? vm->hist[k] - before : vm->hist[k];
		waits += hist[k];
	}
	r->has_p99 = waits > 0;
	if (r->has_p99)
		r->p99_ns = render_wait_percentile(hist, vm->nslots, 99, vm->max_wait_ns);
	row_culprit(r, prev);
}

static int cmp_name(const struct top_row *x, const struct top_row *y)
{
	int c = strcmp(x->vm->name, y->vm->name);

	return c ? c : strcmp(x->vm->id, y->vm->id);
}

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct top_row *x = a, *y = b;
	enum top_sort sort = *(const enum top_sort *)arg;

	if (sort == TOP_SORT_STEAL) {
		if (x->has_pct != y->has_pct)
			return x->has_pct ? -1 : 1;
		if (x->steal_pct != y->steal_pct)
			return x->steal_pct > y->steal_pct ? -1 : 1;
	} else if (sort == TOP_SORT_P99) {
		if (x->has_p99 != y->has_p99)
			return x->has_p99 ? -1 : 1;
		if (x->p99_ns != y->p99_ns)
			return x->p99_ns > y->p99_ns ? -1 : 1;
	}
	return cmp_name(x, y);
}

static void frame_sort(struct top_frame *fr, enum top_sort sort)
{
	fr->sort = sort;
	qsort_r(fr->rows, fr->nrows, sizeof(*fr->rows), cmp_rows, &fr->sort);
}

/* The rows of cur against prev (NULL: frame 0); 1 when out of memory. */
static int frame_build(struct top_frame *fr, const struct top_sample *prev,
		       const struct top_sample *cur, enum top_sort sort, char *err, size_t err_len)
{
	free(fr->rows);
	fr->rows = calloc(cur->nvms + 1, sizeof(*fr->rows));
	if (!fr->rows) {
		snprintf(err, err_len, "out of memory");
		return 1;
	}
	fr->nrows = cur->nvms;
	fr->interval_s = prev ? seconds_between(&prev->at, &cur->at) : 0;
	for (size_t i = 0; i < cur->nvms; i++)
		row_of(&fr->rows[i], &cur->vms[i], prev ? sample_find(prev, cur->vms[i].id) : NULL);
	frame_sort(fr, sort);
	return 0;
}

/* --- text frames ---------------------------------------------------------------- */

static size_t frame_vcpus(const struct top_frame *fr)
{
	size_t n = 0;

	for (size_t i = 0; i < fr->nrows; i++)
		n += fr->rows[i].vm->nvcpus;
	return n;
}

/* Writes line cut to width columns; on a terminal also clears the rest of the row. */
static void put_line(const char *line, size_t width, bool tty)
{
	char buf[1024];

	fit_text(buf, sizeof(buf), line, width);
	fputs(buf, stdout);
	fputs(tty ? "\x1b[K\n" : "\n", stdout);
}

static void cell(char *buf, size_t len, const char *s, size_t width)
{
	char text[512];
	size_t n = strlen(buf);

	fit_text(text, sizeof(text), s, width);
	snprintf(buf + n, len - n, "%s%*s", text, (int)(width - text_width(text)), "");
}

static const char *culprit_label(const struct top_row *r)
{
	if (!r->culprit)
		return "-";
	return json_str_at(r->culprit, "name");
}

static void put_row(const struct top_row *r, size_t name_w, size_t width, bool tty)
{
	char line[1024] = "", pct[16] = "-", p99[32] = "-";

	if (r->has_pct)
		snprintf(pct, sizeof(pct), "%.1f", r->steal_pct);
	if (r->has_p99)
		fmt_duration(p99, sizeof(p99), r->p99_ns);
	cell(line, sizeof(line), r->vm->name, name_w);
	snprintf(line + strlen(line), sizeof(line) - strlen(line), " %5zu %7s %9s ",
		 r->vm->nvcpus, pct, p99);
	cell(line, sizeof(line), culprit_label(r), CULPRIT_COLUMNS);
	for (size_t n = strlen(line); n > 0 && line[n - 1] == ' '; n--)
		line[n - 1] = '\0';
	put_line(line, width, tty);
}

static void put_header(const struct top_frame *fr, size_t name_w, size_t width, bool tty)
{
	char line[512], when[48] = "since start";
	size_t nvcpus = frame_vcpus(fr);

	if (fr->interval_s > 0)
		snprintf(when, sizeof(when), "last %.2f s", fr->interval_s);
	snprintf(line, sizeof(line), "stealtimectl top - %zu VM%s, %zu vCPU%s - %s - sort: %s",
		 fr->nrows, fr->nrows == 1 ? "" : "s", nvcpus, nvcpus == 1 ? "" : "s", when,
		 sort_names[fr->sort]);
	put_line(line, width, tty);
	put_line("STEAL% = steal / (steal + run) of its vCPUs; 99% of waits <= P99 WAIT",
		 width, tty);
	put_line(tty ? "keys: s sort by steal, n by name, p by p99 wait, q quit" : "", width, tty);
	line[0] = '\0';
	cell(line, sizeof(line), "VM", name_w);
	snprintf(line + strlen(line), sizeof(line) - strlen(line), " %5s %7s %9s %s", "VCPUS",
		 "STEAL%", "P99 WAIT", "TOP CULPRIT");
	put_line(line, width, tty);
}

/* One frame as text: on a terminal over the previous one, cut to its size. */
static void print_frame_text(const struct top_frame *fr, bool tty)
{
	unsigned int cols = BATCH_WIDTH + 1, rows = 0;
	size_t width, name_w, nrows = fr->nrows;

	if (tty) {
		term_size(&cols, &rows);
		fputs("\x1b[H", stdout);
	}
	width = cols > 1 ? cols - 1 : 1;
	if (width > BATCH_WIDTH && !tty)
		width = BATCH_WIDTH;
	name_w = width > FIXED_COLUMNS + CULPRIT_COLUMNS + MIN_NAME_COLUMNS ?
			 width - FIXED_COLUMNS - CULPRIT_COLUMNS : MIN_NAME_COLUMNS;
	if (tty)
		nrows = rows > HEADER_LINES + 1 ? rows - HEADER_LINES - 1 : 0;
	put_header(fr, name_w, width, tty);
	for (size_t i = 0; i < fr->nrows && i < nrows; i++)
		put_row(&fr->rows[i], name_w, width, tty);
	fputs(tty ? "\x1b[J" : "\n", stdout);
	fflush(stdout);
}

/* --- JSON frames ------------------------------------------------------------------ */

/* v >= 0 rounded to the given number of decimals (no libm) */
static double round_to(double v, double scale)
{
	return (double)(uint64_t)(v * scale + 0.5) / scale;
}

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *row_json(const struct top_row *r)
{
	json_t *c = json_null();

	if (r->culprit)
		c = json_pack("{s:s, s:s, s:I, s:o}", "kind", json_str_at(r->culprit, "kind"),
			      "name", json_str_at(r->culprit, "name"), "pid",
			      json_integer_value(json_object_get(r->culprit, "pid")), "ns",
			      json_u64(r->culprit_ns));
	return json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", r->vm->id, "name",
			 r->vm->name, "vcpus", (json_int_t)r->vm->nvcpus, "steal_pct",
			 r->has_pct ? json_real(round_to(r->steal_pct, 100)) : json_null(),
			 "steal_ns", json_u64(r->steal_ns), "run_ns", json_u64(r->run_ns),
			 "p99_wait_ns", r->has_p99 ? json_u64(r->p99_ns) : json_null(),
			 "top_culprit", c ? c : json_null());
}

/* One line: {"frame","since_start","interval_s","sort","vms":[row,...]} */
static int print_frame_json(const struct top_frame *fr)
{
	json_t *doc, *rows = json_array();
	int err = 0;

	for (size_t i = 0; i < fr->nrows; i++)
		err |= json_array_append_new(rows, row_json(&fr->rows[i]));
	doc = json_pack("{s:I, s:b, s:o, s:s, s:o}", "frame", (json_int_t)fr->number,
			"since_start", fr->interval_s <= 0, "interval_s",
			fr->interval_s > 0 ? json_real(round_to(fr->interval_s, 1000)) : json_null(),
			"sort", sort_names[fr->sort], "vms", rows);
	if (!doc || err) {
		json_decref(doc);
		return 1;
	}
	json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	putchar('\n');
	fflush(stdout);
	json_decref(doc);
	return 0;
}

/* --- the loop -------------------------------------------------------------------------- */

enum wait_result {
	WAIT_TIME,  /* the interval is over */
	WAIT_QUIT,  /* q, a signal, or the terminal went away */
};

static struct timespec add_seconds(struct timespec t, double s)
{
	time_t whole = (time_t)s;

	t.tv_sec += whole;
	t.tv_nsec += (long)((s - (double)whole) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static int ms_until(const struct timespec *deadline)
{
	struct timespec now;
	double left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = seconds_between(&now, deadline) * 1000;
	return left <= 0 ? 0 : (int)left + 1;
}

/* A key of the interactive top: true when it asks to quit; sort keys redraw at once. */
static bool on_key(int key, struct top_frame *fr)
{
	static const struct { int key; enum top_sort sort; } sort_keys[] = {
		{ 's', TOP_SORT_STEAL }, { 'n', TOP_SORT_NAME }, { 'p', TOP_SORT_P99 },
	};

	if (key == 'q')
		return true;
	for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++) {
		if (key == sort_keys[i].key) {
			frame_sort(fr, sort_keys[i].sort);
			print_frame_text(fr, true);
		}
	}
	return false;
}

static enum wait_result wait_interactive(const struct timespec *deadline, struct top_frame *fr)
{
	for (;;) {
		int ms = ms_until(deadline), key;

		if (term_quit_signal)
			return WAIT_QUIT;
		if (term_resized) {
			term_resized = 0;
			print_frame_text(fr, true);
		}
		if (!ms)
			return WAIT_TIME;
		key = term_read_key(ms);
		if (key < 0 && key != -EINTR)
			return WAIT_QUIT;
		if (key > 0 && on_key(key, fr))
			return WAIT_QUIT;
	}
}

static void wait_batch(const struct timespec *deadline)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL) == EINTR)
		;
}

static int show_frame(const struct options *o, struct top_frame *fr, bool interactive)
{
	if (o->json)
		return print_frame_json(fr);
	print_frame_text(fr, interactive);
	return 0;
}

/* Frames until -n is reached or the user quits; 1 with the reason in err when one failed. */
static int run_frames(const struct options *o, struct top_sample *cur, bool interactive,
		      char *err, size_t err_len)
{
	struct top_sample prev = { 0 };
	struct top_frame fr = { .sort = o->sort };
	int rc = 0;

	for (fr.number = 0;; fr.number++) {
		struct timespec deadline = add_seconds(cur->at, o->interval_s);

		rc = frame_build(&fr, fr.number ? &prev : NULL, cur, fr.sort, err, err_len);
		if (!rc && show_frame(o, &fr, interactive)) {
			snprintf(err, err_len, "out of memory");
			rc = 1;
		}
		if (rc || (o->iterations && fr.number + 1 >= o->iterations))
			break;
		if (interactive && wait_interactive(&deadline, &fr) == WAIT_QUIT)
			break;
		if (!interactive)
			wait_batch(&deadline);
		sample_free(&prev);
		prev = *cur;
		rc = sample_fetch(o, cur, err, err_len);
		if (rc) {
			if (term_quit_signal)
				rc = 0; /* the signal cut the request short */
			break;
		}
	}
	sample_free(&prev);
	free(fr.rows);
	return rc;
}

int cmd_top(const struct options *o)
{
	bool interactive = !o->batch && !o->json && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	struct top_sample cur;
	char err[1024] = "";
	int rc;

	if (sample_fetch(o, &cur, err, sizeof(err))) {
		fprintf(stderr, "stealtimectl: %s\n", err);
		return 1;
	}
	if (interactive && term_enter())
		interactive = false;
	if (interactive) {
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
		http_get_abort_on(&term_quit_signal);
	}
	rc = run_frames(o, &cur, interactive, err, sizeof(err));
	if (interactive) {
		fflush(stdout);
		term_leave();
		http_get_abort_on(NULL);
	}
	sample_free(&cur);
	if (rc)
		fprintf(stderr, "stealtimectl: %s\n", err);
	if (interactive)
		term_reraise();
	return rc;
}
