/* SPDX-License-Identifier: GPL-2.0 */
/* Numbers and text for stealtimectl's tables. */
#ifndef STEALTIMECTL_FORMAT_H
#define STEALTIMECTL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ns as seconds with millisecond precision, truncated: "1.234" */
void fmt_seconds_ms(char *buf, size_t len, uint64_t ns);
/* part / (part + rest) in percent, two decimals: "0.02"; "-" when both are 0 */
void fmt_percent(char *buf, size_t len, uint64_t part, uint64_t rest);
/* A short duration for people: "512 ns", "1.0 us", "16.8 ms", "2.15 s" */
void fmt_duration(char *buf, size_t len, uint64_t ns);
/*
 * Writes s left-aligned in width columns (one per UTF-8 character):
 * control characters become '?', text too long ends in '~'.
 */
void print_cell(FILE *f, const char *s, size_t width);
/* Columns s takes: one per UTF-8 character. */
size_t text_width(const char *s);
/* s fitted as by print_cell, without padding, into buf */
void fit_text(char *buf, size_t len, const char *s, size_t width);

#endif
