// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "throttle_acc.h"

void throttle_set_begin(struct throttle_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->src[i].seen = false;
}

static struct throttle_src *find_src(struct throttle_set *s, const char *path, bool v2)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->src[i].v2 == v2 && strcmp(s->src[i].path, path) == 0)
			return &s->src[i];
	return NULL;
}

/*
 * A place for a new source: a new entry while under the bound, else the
 * place of a source that is not live (forgotten: should it come back, it
 * counts as first seen).
 */
static struct throttle_src *new_src(struct throttle_set *s)
{
	if (s->n < THROTTLE_MAX_SOURCES) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 4;
			struct throttle_src *n = realloc(s->src, cap * sizeof(*n));

			if (!n)
				return NULL;
			s->src = n;
			s->cap = cap;
		}
		return &s->src[s->n++];
	}
	for (size_t i = 0; i < s->n; i++)
		if (!s->src[i].live && !s->src[i].seen)
			return &s->src[i];
	return NULL;
}

int throttle_set_use(struct throttle_set *s, const char *path, bool v2, size_t *index,
		     bool *joined, bool *first)
{
	struct throttle_src *src = find_src(s, path, v2);

	*first = src == NULL;
	if (!src) {
		src = new_src(s);
		if (!src)
			return s->n < THROTTLE_MAX_SOURCES ? -ENOMEM : -ENOSPC;
		memset(src, 0, sizeof(*src));
		strncpy(src->path, path, sizeof(src->path) - 1);
		src->v2 = v2;
		src->fd = -1;
	}
	*joined = !src->live;
	src->seen = true;
	src->live = true;
	*index = (size_t)(src - s->src);
	return 0;
}

void throttle_src_join(struct throttle_src *src, bool first, bool owned, bool has_reading,
		       uint64_t reading)
{
	if (first && owned) {
		src->last = 0;
		src->has_base = true;
		return;
	}
	src->last = reading;
	src->has_base = has_reading;
}

uint64_t throttle_src_growth(struct throttle_src *src, uint64_t reading)
{
	uint64_t growth = 0;

	if (src->has_base && reading >= src->last)
		growth = reading - src->last;
	src->last = reading;
	src->has_base = true;
	return growth;
}

uint64_t throttle_src_growth_since(struct throttle_src *src, uint64_t reading)
{
	if (src->has_base && reading < src->last)
		return 0;
	return throttle_src_growth(src, reading);
}

void throttle_set_end(struct throttle_set *s, void (*on_leave)(struct throttle_src *src))
{
	for (size_t i = 0; i < s->n; i++) {
		struct throttle_src *src = &s->src[i];

		if (src->seen || !src->live)
			continue;
		if (on_leave)
			on_leave(src);
		src->live = false;
	}
}

void throttle_set_free(struct throttle_set *s)
{
	free(s->src);
	memset(s, 0, sizeof(*s));
}

void throttle_counter_add(struct throttle_counter *c, uint64_t ns)
{
	c->ns = c->ns > UINT64_MAX - ns ? UINT64_MAX : c->ns + ns;
	c->known = true;
}
