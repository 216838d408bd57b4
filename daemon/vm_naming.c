// SPDX-License-Identifier: GPL-2.0
/*
 * VM names from VMM command lines and libvirt's cgroup scopes.
 *
 * QEMU's -name takes an option list (util/qemu-option.c):
 * "guest=NAME,process=P,debug-threads=on", where a first element without
 * "=" is the guest name itself, and ",," stands for a literal comma inside
 * a value. Firecracker names its VM with --id; cloud-hypervisor has no
 * name option, so its API socket's file name stands in for one.
 *
 * libvirt runs each domain in a systemd scope named by systemd-machined:
 * "machine-" + the unit-name escape of "qemu-ID-NAME" + ".scope", where
 * the escape (systemd's unit_name_escape) writes '-' and every byte
 * outside [A-Za-z0-9:_.] as "\xHH".
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vm_naming.h"

#define UUID_LEN 36
#define CGROUP_NAME_MAX 255 /* NAME_MAX: the longest cgroup directory name */
#define SCOPE_PREFIX "machine-"
#define SCOPE_SUFFIX ".scope"
#define LIBVIRT_QEMU_PREFIX "qemu-"

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

/* match_option for an option that only exists as "--OPT" / "--OPT=V". */
static bool match_long_option(const struct arg *a, const char *opt, struct arg *val,
			      bool *inline_value)
{
	if (a->len < 2 || a->p[0] != '-' || a->p[1] != '-')
		return false;
	return match_option(a, opt, val, inline_value);
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

/* n bytes of p (no NUL among them) as a name: cut to fit at a character boundary, sanitized. */
static void set_text(const char *p, size_t n, char *name, size_t name_len)
{
	bool cut = n >= name_len;

	if (cut)
		n = name_len - 1;
	memcpy(name, p, n);
	name[n] = '\0';
	if (cut)
		trim_cut_char(name, n);
	vm_naming_sanitize(name);
}

static void set_qemu_name(const struct arg *v, char *name, size_t name_len)
{
	if (qemu_guest_name(v, name, name_len))
		trim_cut_char(name, strlen(name));
	vm_naming_sanitize(name);
}

/*
 * The socket path of a cloud-hypervisor --api-socket value: an element
 * "path=PATH", or a first element without '=' (the plain form). Elements
 * are separated by ','. False when there is none (fd=N).
 */
static bool api_socket_path(const struct arg *v, struct arg *path)
{
	const char *p = v->p, *end = v->p + v->len;
	bool first = true;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);

		if (n > 5 && memcmp(p, "path=", 5) == 0) {
			*path = (struct arg){ p + 5, n - 5 };
			return true;
		}
		if (first && n && !memchr(p, '=', n)) {
			*path = (struct arg){ p, n };
			return true;
		}
		first = false;
		p += n + 1;
	}
	return false;
}

/* The last component of the API socket's path, up to its last '.' (a leading one stays). */
static void set_api_socket_name(const struct arg *v, char *name, size_t name_len)
{
	struct arg path;
	const char *base, *dot;
	size_t n;

	if (!api_socket_path(v, &path))
		return;
	base = path.p + path.len;
	while (base > path.p && base[-1] != '/')
		base--;
	n = (size_t)(path.p + path.len - base);
	dot = n ? memrchr(base, '.', n) : NULL;
	if (dot && dot > base)
		n = (size_t)(dot - base);
	set_text(base, n, name, name_len);
}

static void set_uuid(const struct arg *v, char *uuid, size_t uuid_len)
{
	if (!uuid_valid(v) || uuid_len <= UUID_LEN)
		return;
	for (size_t i = 0; i < UUID_LEN; i++)
		uuid[i] = (char)tolower((unsigned char)v->p[i]);
	uuid[UUID_LEN] = '\0';
}

/* The values of the options naming a VM; the last of each kind wins. */
struct cmdline_names {
	struct arg qemu_name;  /* -name */
	struct arg uuid;       /* -uuid */
	struct arg fc_id;      /* Firecracker --id */
	struct arg api_socket; /* cloud-hypervisor --api-socket */
};

/*
 * Stores the value of a naming option at a into *n (from a itself or the
 * next argument). Returns false when the command line ends before it.
 */
static bool take_option(const char *buf, size_t len, size_t *pos, const struct arg *a,
			struct cmdline_names *n)
{
	struct arg val, *dst;
	bool inline_value;

	if (match_option(a, "name", &val, &inline_value))
		dst = &n->qemu_name;
	else if (match_option(a, "uuid", &val, &inline_value))
		dst = &n->uuid;
	else if (match_long_option(a, "id", &val, &inline_value))
		dst = &n->fc_id;
	else if (match_long_option(a, "api-socket", &val, &inline_value))
		dst = &n->api_socket;
	else
		return true;
	if (!inline_value && !next_arg(buf, len, pos, &val))
		return false;
	*dst = val;
	return true;
}

static void set_name(const struct cmdline_names *n, char *name, size_t name_len)
{
	if (n->qemu_name.p)
		set_qemu_name(&n->qemu_name, name, name_len);
	else if (n->fc_id.p)
		set_text(n->fc_id.p, n->fc_id.len, name, name_len);
	else if (n->api_socket.p)
		set_api_socket_name(&n->api_socket, name, name_len);
}

void vm_naming_from_cmdline(const char *cmdline, size_t len, char *name, size_t name_len,
			    char *uuid, size_t uuid_len)
{
	struct cmdline_names names = { 0 };
	struct arg a;
	size_t pos = 0;

	if (name_len)
		name[0] = '\0';
	if (uuid_len)
		uuid[0] = '\0';
	while (next_arg(cmdline, len, &pos, &a))
		if (!take_option(cmdline, len, &pos, &a, &names))
			break;
	if (name_len)
		set_name(&names, name, name_len);
	if (names.uuid.p)
		set_uuid(&names.uuid, uuid, uuid_len);
}

/* ---- libvirt machine scopes ------------------------------------------------ */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Undoes systemd's unit-name escape of the n bytes at p into out (at
 * least n + 1 bytes). Returns the length, or -EINVAL for a malformed or
 * NUL escape.
 */
static int unit_unescape(const char *p, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; o++) {
		int hi, lo;

		if (p[i] != '\\') {
			out[o] = p[i++];
			continue;
		}
		if (n - i < 4 || p[i + 1] != 'x')
			return -EINVAL;
		hi = hex_value(p[i + 2]);
		lo = hex_value(p[i + 3]);
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return -EINVAL;
		out[o] = (char)(hi << 4 | lo);
		i += 4;
	}
	out[o] = '\0';
	return (int)o;
}

/* The domain name in "qemu-ID-NAME" (or the old "qemu-NAME"), NULL when s is not one. */
static const char *libvirt_domain_name(const char *s)
{
	const char *p;

	if (strncmp(s, LIBVIRT_QEMU_PREFIX, strlen(LIBVIRT_QEMU_PREFIX)) != 0)
		return NULL;
	s += strlen(LIBVIRT_QEMU_PREFIX);
	for (p = s; isdigit((unsigned char)*p); p++)
		;
	if (p > s && *p == '-')
		s = p + 1;
	return *s ? s : NULL;
}

/* The domain name of one path component (n bytes at p) into name; false when it is none. */
static bool scope_name(const char *p, size_t n, char *name, size_t len)
{
	size_t plen = strlen(SCOPE_PREFIX), slen = strlen(SCOPE_SUFFIX);
	char buf[CGROUP_NAME_MAX + 1];
	const char *dom;
	int m;

	if (n > CGROUP_NAME_MAX || n <= plen + slen || memcmp(p, SCOPE_PREFIX, plen) != 0 ||
	    memcmp(p + n - slen, SCOPE_SUFFIX, slen) != 0)
		return false;
	m = unit_unescape(p + plen, n - plen - slen, buf);
	if (m < 0)
		return false;
	dom = libvirt_domain_name(buf);
	if (!dom)
		return false;
	set_text(dom, strlen(dom), name, len);
	return true;
}

int vm_naming_from_cgroup(const char *cgroup_path, char *name, size_t len)
{
	const char *p = cgroup_path;
	bool found = false;

	if (!len)
		return -EINVAL;
	name[0] = '\0';
	while (*p) {
		size_t n = strcspn(p, "/");

		if (scope_name(p, n, name, len))
			found = true; /* a deeper one overrides */
		p += n;
		p += *p == '/';
	}
	return found ? 0 : -ENOENT;
}
