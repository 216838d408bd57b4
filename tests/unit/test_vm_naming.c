// link: daemon/vm_naming.c
// SPDX-License-Identifier: GPL-2.0
/* VM names and UUIDs from QEMU command lines as /proc/PID/cmdline holds them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm_naming.h"

/* sizeof of a string literal with embedded NULs, including its final NUL */
#define CMDLINE(s) (s), sizeof(s)

struct naming {
	char name[256];
	char uuid[40];
};

static struct naming parse(const char *cmdline, size_t len)
{
	struct naming n;

	memset(&n, 'X', sizeof(n)); /* must be overwritten */
	vm_naming_from_cmdline(cmdline, len, n.name, sizeof(n.name), n.uuid, sizeof(n.uuid));
	return n;
}

static const char libvirt_cmdline[] =
	"/usr/bin/qemu-system-x86_64\0"
	"-name\0guest=web01,debug-threads=on\0"
	"-S\0"
	"-object\0{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\"}\0"
	"-machine\0pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off\0"
	"-accel\0kvm\0"
	"-m\0size=4194304k\0"
	"-smp\0" "4,sockets=4,cores=1,threads=1\0"
	"-uuid\0C7A5FDBD-CDAF-9455-926A-D65C16DB1809\0"
	"-no-user-config\0"
	"-nodefaults\0";

static void libvirt__guest_and_uuid__both_found(void **state)
{
	struct naming n = parse(CMDLINE(libvirt_cmdline));

	assert_string_equal(n.name, "web01");
	assert_string_equal(n.uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
}

static void plain_name__first_element__is_the_guest(void **state)
{
	struct naming n = parse(CMDLINE("qemu-system-aarch64\0-name\0db-2\0-m\0" "2048\0"));

	assert_string_equal(n.name, "db-2");
	assert_string_equal(n.uuid, "");
}

static void name_with_process__first_element__is_the_guest(void **state)
{
	struct naming n = parse(CMDLINE("qemu\0-name\0db-2,process=qemu-db-2,debug-threads=on\0"));

	assert_string_equal(n.name, "db-2");
}

static void double_comma__in_name__literal_comma(void **state)
{
	struct naming a = parse(CMDLINE("qemu\0-name\0a,,b,process=p\0"));
	struct naming b = parse(CMDLINE("qemu\0-name\0process=p,guest=x,,y,,\0"));

	assert_string_equal(a.name, "a,b");
	assert_string_equal(b.name, "x,y,");
}

static void guest_later__after_other_keys__found(void **state)
{
	struct naming n = parse(CMDLINE("qemu\0-name\0debug-threads=on,guest=late\0"));

	assert_string_equal(n.name, "late");
}

static void only_other_keys__no_guest__empty(void **state)
{
	struct naming n = parse(CMDLINE("qemu\0-name\0process=p,debug-threads=on\0"));

	assert_string_equal(n.name, "");
}

static void double_dash_and_equals__spellings__understood(void **state)
{
	struct naming a = parse(CMDLINE("qemu\0--name\0vm-a\0--uuid\0" "00000000-0000-0000-0000-000000000001\0"));
	struct naming b = parse(CMDLINE("qemu\0-name=guest=vm-b\0-uuid=00000000-0000-0000-0000-00000000000b\0"));
	struct naming c = parse(CMDLINE("qemu\0--name=vm-c\0"));

	assert_string_equal(a.name, "vm-a");
	assert_string_equal(a.uuid, "00000000-0000-0000-0000-000000000001");
	assert_string_equal(b.name, "vm-b");
	assert_string_equal(b.uuid, "00000000-0000-0000-0000-00000000000b");
	assert_string_equal(c.name, "vm-c");
}

static void similar_options__not_name__ignored(void **state)
{
	struct naming n = parse(CMDLINE("qemu\0-names\0a\0-nam\0b\0name\0c\0-device\0-name\0"));

	/* "-name" as the last argument has no value */
	assert_string_equal(n.name, "");
}

static void repeated_name__last__wins(void **state)
{
	struct naming n = parse(CMDLINE("qemu\0-name\0first\0-name\0guest=second\0"));

	assert_string_equal(n.name, "second");
}

static void bad_uuid__wrong_shape__ignored(void **state)
{
	static const char *const bad[] = {
		"qemu\0-uuid\0c7a5fdbd-cdaf-9455-926a-d65c16db180\0",   /* 35 */
		"qemu\0-uuid\0c7a5fdbd-cdaf-9455-926a-d65c16db18090\0", /* 37 */
		"qemu\0-uuid\0c7a5fdbdxcdaf-9455-926a-d65c16db1809\0",  /* no dash */
		"qemu\0-uuid\0g7a5fdbd-cdaf-9455-926a-d65c16db1809\0",  /* not hex */
		"qemu\0-uuid\0\0",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = 0;

		/* length up to and including the double NUL at the end */
		while (bad[i][len] || bad[i][len + 1])
			len++;
		struct naming n = parse(bad[i], len + 1);

		assert_string_equal(n.uuid, "");
	}
}

static void truncated__name_value_without_nul__ignored(void **state)
{
	static const char buf[] = "qemu\0-uuid\0c7a5fdbd-cdaf-9455-926a-d65c16db1809\0-name\0guest=web";
	struct naming n = parse(buf, sizeof(buf) - 1); /* no final NUL */

	assert_string_equal(n.name, "");
	assert_string_equal(n.uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
}

static void truncated__uuid_cut__ignored_name_kept(void **state)
{
	static const char buf[] = "qemu\0-name\0web01\0-uuid\0c7a5fdbd-cdaf";
	struct naming n = parse(buf, sizeof(buf) - 1);

	assert_string_equal(n.name, "web01");
	assert_string_equal(n.uuid, "");
}

static void truncated__inside_libvirt_cmdline__earlier_name_kept(void **state)
{
	/* every cut of the libvirt line after "-name guest=web01,...\0" keeps the name */
	size_t name_end = strlen("/usr/bin/qemu-system-x86_64") + 1 + strlen("-name") + 1 +
			  strlen("guest=web01,debug-threads=on") + 1;

	for (size_t len = name_end; len < sizeof(libvirt_cmdline); len++) {
		struct naming n = parse(libvirt_cmdline, len);

		assert_string_equal(n.name, "web01");
	}
	for (size_t len = 0; len < name_end; len++) {
		struct naming n = parse(libvirt_cmdline, len);

		assert_string_equal(n.name, "");
	}
}

static void no_nul_at_all__garbage__nothing_found(void **state)
{
	char buf[64];

	memset(buf, 'a', sizeof(buf));
	struct naming n = parse(buf, sizeof(buf));

	assert_string_equal(n.name, "");
	assert_string_equal(n.uuid, "");
}

static void empty__zero_length__empty_strings(void **state)
{
	struct naming n = parse("", 0);

	assert_string_equal(n.name, "");
	assert_string_equal(n.uuid, "");
}

static void small_buffers__long_name__cut_to_fit(void **state)
{
	static const char cmd[] = "qemu\0-name\0abcdefghij\0-uuid\0c7a5fdbd-cdaf-9455-926a-d65c16db1809\0";
	char name[5], uuid[36]; /* one short of a UUID */

	vm_naming_from_cmdline(cmd, sizeof(cmd), name, sizeof(name), uuid, sizeof(uuid));
	assert_string_equal(name, "abcd");
	assert_string_equal(uuid, "");
}

static void small_buffers__multibyte_at_cut__whole_chars_only(void **state)
{
	static const char cmd[] = "qemu\0-name\0ab\xc3\xa9" "cd\0";
	char name[4], name2[5];

	vm_naming_from_cmdline(cmd, sizeof(cmd), name, sizeof(name), NULL, 0);
	vm_naming_from_cmdline(cmd, sizeof(cmd), name2, sizeof(name2), NULL, 0);
	assert_string_equal(name, "ab");
	assert_string_equal(name2, "ab\xc3\xa9");
}

static void hostile_name__control_chars_and_bad_utf8__replaced(void **state)
{
	static const char cmd[] = "qemu\0-name\0a\x1b[31mb\nc\xff\xc2\x9b" "d\xe2\x82\xac\0";
	struct naming n = parse(cmd, sizeof(cmd));

	assert_string_equal(n.name, "a?[31mb?c???d\xe2\x82\xac");
}

static void utf8_len__sequences__validated(void **state)
{
	assert_int_equal(vm_naming_utf8_len("a"), 1);
	assert_int_equal(vm_naming_utf8_len("\xc3\xa9"), 2);
	assert_int_equal(vm_naming_utf8_len("\xe2\x82\xac"), 3);
	assert_int_equal(vm_naming_utf8_len("\xf0\x9f\x98\x80"), 4);
	assert_int_equal(vm_naming_utf8_len("\xc0\xaf"), 0);         /* overlong */
	assert_int_equal(vm_naming_utf8_len("\xe0\x80\xaf"), 0);     /* overlong */
	assert_int_equal(vm_naming_utf8_len("\xed\xa0\x80"), 0);     /* surrogate */
	assert_int_equal(vm_naming_utf8_len("\xf4\x90\x80\x80"), 0); /* > U+10FFFF */
	assert_int_equal(vm_naming_utf8_len("\x80"), 0);             /* stray */
	assert_int_equal(vm_naming_utf8_len("\xe2\x82"), 0);         /* cut */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(libvirt__guest_and_uuid__both_found),
		cmocka_unit_test(plain_name__first_element__is_the_guest),
		cmocka_unit_test(name_with_process__first_element__is_the_guest),
		cmocka_unit_test(double_comma__in_name__literal_comma),
		cmocka_unit_test(guest_later__after_other_keys__found),
		cmocka_unit_test(only_other_keys__no_guest__empty),
		cmocka_unit_test(double_dash_and_equals__spellings__understood),
		cmocka_unit_test(similar_options__not_name__ignored),
		cmocka_unit_test(repeated_name__last__wins),
		cmocka_unit_test(bad_uuid__wrong_shape__ignored),
		cmocka_unit_test(truncated__name_value_without_nul__ignored),
		cmocka_unit_test(truncated__uuid_cut__ignored_name_kept),
		cmocka_unit_test(truncated__inside_libvirt_cmdline__earlier_name_kept),
		cmocka_unit_test(no_nul_at_all__garbage__nothing_found),
		cmocka_unit_test(empty__zero_length__empty_strings),
		cmocka_unit_test(small_buffers__long_name__cut_to_fit),
		cmocka_unit_test(small_buffers__multibyte_at_cut__whole_chars_only),
		cmocka_unit_test(hostile_name__control_chars_and_bad_utf8__replaced),
		cmocka_unit_test(utf8_len__sequences__validated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
