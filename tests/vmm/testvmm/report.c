// SPDX-License-Identifier: GPL-2.0
/* testvmm: the JSON-lines report (--report) and the events it gets */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testvmm.h"

/* u64 as a JSON integer, or as its decimal digits above INT64_MAX */
json_t *json_u64(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

int report_open(struct report *r, const char *path)
{
	pthread_mutex_init(&r->lock, NULL);
	r->fd = -1;
	if (!path)
		return 0;
	r->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return r->fd < 0 ? error_at(-errno, "open %s", path) : 0;
}

void report_close(struct report *r)
{
	if (r->fd >= 0)
		close(r->fd);
	pthread_mutex_destroy(&r->lock);
}

/* Appends obj as one line (one write, so lines never interleave); takes obj. */
void report_emit(struct report *r, json_t *obj)
{
	char *line;
	size_t len;

	if (!obj)
		return;
	if (r->fd >= 0) {
		line = json_dumps(obj, JSON_COMPACT);
		if (line) {
			len = strlen(line);
			line[len] = '\n';
			pthread_mutex_lock(&r->lock);
			if (write(r->fd, line, len + 1) != (ssize_t)(len + 1))
				fprintf(stderr, "testvmm: report write failed\n");
			pthread_mutex_unlock(&r->lock);
			free(line);
		}
	}
	json_decref(obj);
}

/* --- guest events ----------------------------------------------------------------- */

void emit_guest_read(struct vcpu *v)
{
	const struct guest_read *g = &v->last;

	report_emit(&v->vm->report,
		    json_pack("{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:o}", "event", "guest",
			      "vcpu", (json_int_t)v->index, "tid", (json_int_t)v->tid,
			      "t_ns", json_u64(g->t_ns), "stolen_ns", json_u64(g->stolen_ns),
			      "revision", (json_int_t)g->revision,
			      "attributes", (json_int_t)g->attributes,
			      "iterations", json_u64(g->iterations)));
	v->last_unreported = false;
	v->last_event_ns = g->t_ns;
}

void emit_probe(struct vcpu *v)
{
	report_emit(&v->vm->report,
		    json_pack("{s:s, s:I, s:I, s:I, s:I}", "event", "probe",
			      "vcpu", (json_int_t)v->index,
			      "arch_features", (json_int_t)v->probe[0],
			      "pv_time_features", (json_int_t)v->probe[1],
			      "pv_time_st", (json_int_t)v->probe[2]));
}

void emit_pause(struct vcpu *v, const char *event)
{
	report_emit(&v->vm->report,
		    json_pack("{s:s, s:I, s:o}", "event", event, "vcpu", (json_int_t)v->index,
			      "t_ns", json_u64(now_ns())));
}

/* --- run events ------------------------------------------------------------------- */

void emit_start(struct vm *vm)
{
	json_t *arr = json_array();
	unsigned int i;

	for (i = 0; arr && i < vm->opt->vcpus; i++)
		json_array_append_new(arr, json_pack("{s:I, s:I}", "index", (json_int_t)i,
						     "tid", (json_int_t)vm->vcpus[i].tid));
	report_emit(&vm->report, json_pack("{s:s, s:I, s:o}", "event", "start",
					   "pid", (json_int_t)getpid(), "vcpus", arr));
}

void emit_exit(struct vm *vm)
{
	json_t *its = json_array(), *reads = json_array(), *dec = json_array();
	unsigned int i;

	for (i = 0; i < vm->opt->vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->last_unreported)
			emit_guest_read(v);
		json_array_append_new(its, json_u64(v->iterations));
		json_array_append_new(reads, json_u64(v->reads));
		json_array_append_new(dec, json_u64(v->decreases));
	}
	report_emit(&vm->report, json_pack("{s:s, s:o, s:o, s:o}", "event", "exit",
					   "iterations", its, "guest_reads", reads,
					   "guest_decreases", dec));
}
