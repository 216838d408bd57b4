// SPDX-License-Identifier: GPL-2.0
/*
 * VM names from QEMU command lines. QEMU's -name takes an option list
 * (util/qemu-option.c): "guest=NAME,process=P,debug-threads=on", where a
 * first element without "=" is the guest name itself, and ",," stands for
 * a literal comma inside a value.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "vm_naming.h"

#define UUID_LEN 36

/* One argument of the command line: not NUL-terminated in general. */
struct arg {
	const char *p;
	size_t len;
};

size_t vm_naming_utf8_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	if (s[0] < 0xe0) {
		n = 2;
	} else if (s[0] < 0xf0) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* C0 controls, DEL, and the C1 controls U+0080..U+009F (some terminals act on them). */
static bool is_control(const unsigned char *s, size_t n)
{
	if (n == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	return n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

void vm_naming_sanitize(char *s)
{
	while (*s) {
		size_t n = vm_naming_utf8_len(s);

		if (n == 0) {
			*s++ = '?';
		} else if (is_control((unsigned char *)s, n)) {
			memset(s, '?', n);
			s += n;
		} else {
			s += n;
		}
	}
}

/* After a cut at n bytes: drops a multi-byte character left incomplete at the end. */
static void trim_cut_char(char *s, size_t n)
{
	size_t i = n;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && (unsigned char)s[i - 1] >= 0xc0 && !vm_naming_utf8_len(s + i - 1))
		s[i - 1] = '\0';
}

/* The NUL-terminated argument at *pos; false at the end or when the rest lacks its NUL. */
static bool next_arg(const char *buf, size_t len, size_t *pos, struct arg *a)
{
	const char *nul;

	if (*pos >= len)
		return false;
	nul = memchr(buf + *pos, '\0', len - *pos);
	if (!nul)
		return false;
	a->p = buf + *pos;
	a->len = (size_t)(nul - a->p);
	*pos += a->len + 1;
	return true;
}

/*
 * Whether a is the option "-OPT" or "--OPT" (value in the next argument,
 * *inline_value = false) or "-OPT=V" / "--OPT=V" (V in *val).
 */
static bool match_option(const struct arg *a, const char *opt, struct arg *val, bool *inline_value)
{
	const char *p = a->p;
	size_t n = a->len, olen = strlen(opt);

	if (n >= 2 && p[0] == '-' && p[1] == '-') {
		p++;
		n--;
	}
	if (n < 1 + olen || p[0] != '-' || memcmp(p + 1, opt, olen) != 0)
		return false;
	if (n == 1 + olen) {
		*inline_value = false;
		return true;
	}
	if (p[1 + olen] != '=')
		return false;
	val->p = p + 2 + olen;
	val->len = n - 2 - olen;
	*inline_value = true;
	return true;
}

/*
 * Reads a QEMU option value at *p (up to a single ',', which is skipped;
 * ",," is a literal comma) into out, or skips it when out is NULL.
 * Returns true when out was too small.
 */
static bool opt_value(const char **p, const char *end, char *out, size_t out_len)
{
	size_t n = 0;
	bool cut = false;

	while (*p < end) {
		char ch = *(*p)++;

		if (ch == ',') {
			if (*p < end && **p == ',')
				(*p)++;
			else
				break;
		}
		if (!out)
			continue;
		if (n + 1 < out_len)
			out[n++] = ch;
		else
			cut = true;
	}
	if (out)
		out[n] = '\0';
	return cut;
}

/*
 * The guest name from a -name value into out (out_len > 0); "" when the
 * value names none. Returns true when the name was cut to fit.
 */
static bool qemu_guest_name(const struct arg *v, char *out, size_t out_len)
{
	const char *p = v->p, *end = v->p + v->len;
	bool first = true, cut = false;

	out[0] = '\0';
	while (p < end) {
		size_t klen = 0;

		while (p + klen < end && p[klen] != '=' && p[klen] != ',')
			klen++;
		if (p + klen < end && p[klen] == '=') {
			bool guest = klen == 5 && memcmp(p, "guest", 5) == 0;

			p += klen + 1;
			if (guest)
				cut = opt_value(&p, end, out, out_len);
			else
				opt_value(&p, end, NULL, 0);
		} else if (first) {
			cut = opt_value(&p, end, out, out_len); /* implied "guest=" */
		} else {
			p += klen + (p + klen < end); /* a flag without value */
		}
		first = false;
	}
	return cut;
}

static bool uuid_valid(const struct arg *v)
{
	if (v->len != UUID_LEN)
		return false;
	for (size_t i = 0; i < UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? v->p[i] != '-' : !isxdigit((unsigned char)v->p[i]))
			return false;
	}
	return true;
}

static void set_name(const struct arg *v, char *name, size_t name_len)
{
	if (qemu_guest_name(v, name, name_len))
		trim_cut_char(name, strlen(name));
	vm_naming_sanitize(name);
}

static void set_uuid(const struct arg *v, char *uuid, size_t uuid_len)
{
	if (!uuid_valid(v) || uuid_len <= UUID_LEN)
		return;
	for (size_t i = 0; i < UUID_LEN; i++)
		uuid[i] = (char)tolower((unsigned char)v->p[i]);
	uuid[UUID_LEN] = '\0';
}

void vm_naming_from_cmdline(const char *cmdline, size_t len, char *name, size_t name_len,
			    char *uuid, size_t uuid_len)
{
	struct arg a, val, name_val = { NULL, 0 }, uuid_val = { NULL, 0 };
	size_t pos = 0;
	bool inline_value;

	if (name_len)
		name[0] = '\0';
	if (uuid_len)
		uuid[0] = '\0';
	while (next_arg(cmdline, len, &pos, &a)) {
		if (match_option(&a, "name", &val, &inline_value)) {
			if (!inline_value && !next_arg(cmdline, len, &pos, &val))
				break;
			name_val = val;
		} else if (match_option(&a, "uuid", &val, &inline_value)) {
			if (!inline_value && !next_arg(cmdline, len, &pos, &val))
				break;
			uuid_val = val;
		}
	}
	if (name_val.p && name_len)
		set_name(&name_val, name, name_len);
	if (uuid_val.p)
		set_uuid(&uuid_val, uuid, uuid_len);
}
