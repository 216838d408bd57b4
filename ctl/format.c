// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "format.h"

#define NSEC_PER_SEC UINT64_C(1000000000)
#define NSEC_PER_MSEC UINT64_C(1000000)

void fmt_seconds_ms(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%" PRIu64 ".%03" PRIu64, ns / NSEC_PER_SEC,
		 ns % NSEC_PER_SEC / NSEC_PER_MSEC);
}

void fmt_percent(char *buf, size_t len, uint64_t part, uint64_t rest)
{
	double total = (double)part + (double)rest;

	if (total == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", 100.0 * (double)part / total);
}

void fmt_duration(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < NSEC_PER_SEC)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
}

/* Bytes of the UTF-8 character at s (a lead byte and its continuation bytes). */
static size_t char_len(const char *s)
{
	size_t n = 1;

	while (((unsigned char)s[n] & 0xc0) == 0x80)
		n++;
	return n;
}

size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s += char_len(s))
		n++;
	return n;
}

/* Appends the first chars characters of s to buf, control characters as '?'. */
static size_t copy_chars(char *buf, size_t len, const char *s, size_t chars)
{
	size_t used = 0;

	for (; *s && chars; chars--) {
		size_t n = char_len(s);
		unsigned char c = (unsigned char)*s;

		if (used + n + 1 > len)
			break;
		if (c < 0x20 || c == 0x7f)
			buf[used] = '?';
		else
			memcpy(buf + used, s, n);
		used += (c < 0x20 || c == 0x7f) ? 1 : n;
		s += n;
	}
	buf[used] = '\0';
	return used;
}

void fit_text(char *buf, size_t len, const char *s, size_t width)
{
	bool too_long = text_width(s) > width;
	size_t used;

	if (!len)
		return;
	used = copy_chars(buf, len, s, too_long && width ? width - 1 : width);
	if (too_long && width && used + 2 <= len) {
		buf[used] = '~';
		buf[used + 1] = '\0';
	}
}

void print_cell(FILE *f, const char *s, size_t width)
{
	char buf[1024];
	size_t n;

	fit_text(buf, sizeof(buf), s, width);
	fputs(buf, f);
	for (n = text_width(buf); n < width; n++)
		fputc(' ', f);
}
