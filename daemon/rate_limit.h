/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Token buckets: rate tokens a second, at most burst saved up. The clock
 * is the caller's (monotonic nanoseconds), so tests drive time by hand.
 * Not thread-safe: each bucket belongs to one thread (the event loop).
 */
#ifndef STEALTIMED_RATE_LIMIT_H
#define STEALTIMED_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rate {
	uint32_t per_s; /* tokens added a second, > 0 */
	uint32_t burst; /* most tokens held, > 0 */
};

struct token_bucket {
	uint64_t credit; /* tokens held, in units of 1/1e9 token */
	uint64_t last_ns;
	bool started;    /* a new bucket starts full */
};

/* Nanoseconds until the bucket holds a token at now_ns (refilled first): 0 if it does. */
uint64_t token_bucket_wait(struct token_bucket *b, const struct rate *r, uint64_t now_ns);
/* Takes one token; only after token_bucket_wait() said 0 at the same now_ns. */
void token_bucket_take(struct token_bucket *b);

/* CLOCK_MONOTONIC in nanoseconds */
uint64_t monotonic_ns(void);

#endif
