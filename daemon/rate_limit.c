// SPDX-License-Identifier: GPL-2.0
#include <time.h>

#include "rate_limit.h"

#define TOKEN 1000000000ull /* credit units of one token */

uint64_t token_bucket_wait(struct token_bucket *b, const struct rate *r, uint64_t now_ns)
{
	uint64_t full = (uint64_t)r->burst * TOKEN;
	uint64_t elapsed;

	if (!b->started) {
		b->started = true;
		b->credit = full;
		b->last_ns = now_ns;
	}
	elapsed = now_ns > b->last_ns ? now_ns - b->last_ns : 0;
	b->last_ns = now_ns > b->last_ns ? now_ns : b->last_ns;
	/* elapsed * per_s credit units, capped before it can overflow */
	if (elapsed >= full / r->per_s)
		b->credit = full;
	else if (b->credit + elapsed * r->per_s > full)
		b->credit = full;
	else
		b->credit += elapsed * r->per_s;
	if (b->credit >= TOKEN)
		return 0;
	return (TOKEN - b->credit + r->per_s - 1) / r->per_s;
}

void token_bucket_take(struct token_bucket *b)
{
	b->credit = b->credit >= TOKEN ? b->credit - TOKEN : 0;
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
