/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012): a keyed hash whose 64-bit output tells nothing of its input to
 * whoever lacks the 128-bit key. The daemon derives VM ids with it.
 */
#ifndef STEALTIMED_SIPHASH_H
#define STEALTIMED_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* key: 16 bytes (k0, k1 little-endian, as in the reference code) */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *msg, size_t len);

#endif
