// link: daemon/vm_naming.c
// SPDX-License-Identifier: GPL-2.0
/*
 * VM names and UUIDs from VMM command lines as /proc/PID/cmdline holds them
 * (QEMU, Firecracker, cloud-hypervisor), and from libvirt's cgroup scopes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* --- Firecracker and cloud-hypervisor ------------------------------------------ */

static void firecracker__id__is_the_name(void **state)
{
	struct naming a = parse(CMDLINE("/usr/bin/firecracker\0--api-sock\0/run/fc.sock\0--id\0fc-7\0--boot-timer\0"));
	struct naming b = parse(CMDLINE("firecracker\0--id=fc-8\0"));

	assert_string_equal(a.name, "fc-7");
	assert_string_equal(a.uuid, "");
	assert_string_equal(b.name, "fc-8");
}

static void firecracker__jailer_cmdline__id_found(void **state)
{
	struct naming n = parse(CMDLINE("jailer\0--id\0" "551e7604-e35c-42b3-b825-416853441234\0"
					"--exec-file\0/usr/bin/firecracker\0--uid\0" "123\0--gid\0" "100\0"));

	assert_string_equal(n.name, "551e7604-e35c-42b3-b825-416853441234");
	assert_string_equal(n.uuid, ""); /* an id is not a -uuid */
}

static void firecracker__single_dash_or_longer_option__not_an_id(void **state)
{
	struct naming a = parse(CMDLINE("vmm\0-id\0x\0"));
	struct naming b = parse(CMDLINE("vmm\0--idle\0y\0--id-file\0z\0"));

	assert_string_equal(a.name, "");
	assert_string_equal(b.name, "");
}

static void firecracker__id_without_value_or_nul__ignored(void **state)
{
	static const char cut[] = "firecracker\0--id\0fc-long-na";
	struct naming a = parse(CMDLINE("firecracker\0--id\0"));
	struct naming b = parse(cut, sizeof(cut) - 1); /* no final NUL */

	assert_string_equal(a.name, "");
	assert_string_equal(b.name, "");
}

static void firecracker__hostile_id__sanitized_and_cut(void **state)
{
	static const char cmd[] = "firecracker\0--id\0a\x1b]0;pwn\x07\xff\xc3\xa9xyz\0";
	char name[9];
	struct naming n = parse(cmd, sizeof(cmd));

	assert_string_equal(n.name, "a?]0;pwn??\xc3\xa9xyz");
	vm_naming_from_cmdline(cmd, sizeof(cmd), name, sizeof(name), NULL, 0);
	assert_string_equal(name, "a?]0;pwn"); /* 8 bytes, then NUL */
}

static void cloud_hypervisor__api_socket_path__basename_without_extension(void **state)
{
	struct naming a = parse(CMDLINE("cloud-hypervisor\0--cpus\0boot=2\0--api-socket\0/run/ch/web01.sock\0"));
	struct naming b = parse(CMDLINE("cloud-hypervisor\0--api-socket\0path=/run/ch/db.v2.sock\0"));
	struct naming c = parse(CMDLINE("cloud-hypervisor\0--api-socket=path=/tmp/ci-3.api,fd=7\0"));
	struct naming d = parse(CMDLINE("cloud-hypervisor\0--api-socket\0/run/noext\0"));
	struct naming e = parse(CMDLINE("cloud-hypervisor\0--api-socket\0fd=4,path=/x/y/z.sock\0"));

	assert_string_equal(a.name, "web01");
	assert_string_equal(b.name, "db.v2");
	assert_string_equal(c.name, "ci-3");
	assert_string_equal(d.name, "noext");
	assert_string_equal(e.name, "z");
}

static void cloud_hypervisor__no_usable_path__no_name(void **state)
{
	struct naming a = parse(CMDLINE("cloud-hypervisor\0--api-socket\0fd=3\0"));
	struct naming b = parse(CMDLINE("cloud-hypervisor\0--api-socket\0/run/ch/\0"));
	struct naming c = parse(CMDLINE("cloud-hypervisor\0--api-socket\0path=\0"));
	struct naming d = parse(CMDLINE("cloud-hypervisor\0--api-socket\0/run/ch/.sock\0"));

	assert_string_equal(a.name, "");
	assert_string_equal(b.name, "");
	assert_string_equal(c.name, "");
	assert_string_equal(d.name, ".sock"); /* a leading dot is no extension */
}

static void precedence__name_then_id_then_api_socket(void **state)
{
	struct naming a = parse(CMDLINE("vmm\0--api-socket\0/s/sock.sock\0--id\0fc\0-name\0qemu\0"));
	struct naming b = parse(CMDLINE("vmm\0--api-socket\0/s/sock.sock\0--id\0fc\0"));
	struct naming c = parse(CMDLINE("vmm\0--id\0first\0--id\0second\0"));

	assert_string_equal(a.name, "qemu");
	assert_string_equal(b.name, "fc");
	assert_string_equal(c.name, "second");
}

/* --- libvirt cgroup scopes --------------------------------------------------------- */

struct cg_naming {
	int rc;
	char name[256];
};

static struct cg_naming cg(const char *path)
{
	struct cg_naming n;

	memset(n.name, 'X', sizeof(n.name));
	n.rc = vm_naming_from_cgroup(path, n.name, sizeof(n.name));
	return n;
}

static void assert_cg(const char *path, int rc, const char *name)
{
	struct cg_naming n = cg(path);

	if (n.rc != rc || strcmp(n.name, name) != 0)
		fail_msg("%s: got %d \"%s\", expected %d \"%s\"", path, n.rc, n.name, rc, name);
}

static void cgroup__v2_vcpu_path__domain_name(void **state)
{
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb01.scope/libvirt/vcpu0", 0, "web01");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb01.scope/libvirt/emulator", 0, "web01");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb01.scope", 0, "web01");
}

static void cgroup__v1_paths__domain_name(void **state)
{
	assert_cg("/machine.slice/machine-qemu\\x2d12\\x2ddb02.scope/vcpu1", 0, "db02");
	assert_cg("/sys/fs/cgroup/cpu,cpuacct/machine.slice/machine-qemu\\x2d7\\x2dci.scope/emulator",
		  0, "ci");
}

static void cgroup__escapes_in_name__unescaped(void **state)
{
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d01\\x2eprod.scope", 0, "web-01.prod");
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2dcaf\\xc3\\xa9.scope", 0, "caf\xc3\xa9");
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2dA\\x5cB\\X.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2dx\\x2Dy.scope", 0, "x-y");
}

static void cgroup__id_stripped_only_when_present(void **state)
{
	assert_cg("/machine.slice/machine-qemu-3-web01.scope/x", 0, "web01");        /* unescaped '-' */
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2d42.scope", 0, "42");         /* numeric name */
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2d4\\x2d2.scope", 0, "4-2");
	assert_cg("/machine.slice/machine-qemu\\x2dweb01.scope", 0, "web01");        /* old libvirt */
	assert_cg("/machine.slice/machine-qemu\\x2d17.scope", 0, "17");             /* old, numeric */
}

static void cgroup__not_a_qemu_scope__enoent(void **state)
{
	assert_cg("", -ENOENT, "");
	assert_cg("/", -ENOENT, "");
	assert_cg("/user.slice/user-1000.slice/session-2.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-lxc\\x2d1\\x2dweb.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb01.service", -ENOENT, "");
	assert_cg("/machine.slice/xmachine-qemu\\x2d3\\x2dweb01.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2d.scope", -ENOENT, "");       /* empty name */
	assert_cg("/machine.slice/machine-qemu\\x2d.scope", -ENOENT, "");
}

static void cgroup__malformed_escapes__enoent(void **state)
{
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\x2.scope", -ENOENT, "");   /* cut */
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\x.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\xZZ.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\q41.scope", -ENOENT, "");
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\x00x.scope", -ENOENT, ""); /* NUL */
	assert_cg("/machine.slice/machine-qemu\\x2d3\\x2dweb\\x2", -ENOENT, "");         /* cut path */
	assert_cg("machine-qemu\\x2d3\\x2dweb\\", -ENOENT, "");
}

static void cgroup__control_and_invalid_bytes__sanitized(void **state)
{
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2da\\x1b\\x5b2Jb\\xff\\x0a.scope", 0, "a?[2Jb??");
}

static void cgroup__deepest_scope__wins(void **state)
{
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2douter.scope/machine-qemu\\x2d2\\x2dinner.scope/vcpu0",
		  0, "inner");
	/* a broken deeper component does not hide a good one */
	assert_cg("/machine.slice/machine-qemu\\x2d1\\x2dgood.scope/machine-qemu\\x2d2\\x2dbad\\x.scope",
		  0, "good");
}

/* "machine-qemu\x2d1\x2d" + fill bytes of c + ".scope", len bytes in all, into comp */
static void long_scope(char *comp, size_t len, char c)
{
	size_t n = (size_t)sprintf(comp, "machine-qemu\\x2d1\\x2d");

	memset(comp + n, c, len - n - strlen(".scope"));
	strcpy(comp + len - strlen(".scope"), ".scope");
}

static void cgroup__long_names__cut_or_refused(void **state)
{
	size_t fill = 255 - strlen("machine-qemu\\x2d1\\x2d") - strlen(".scope");
	char path[600], comp[300], name[8];
	struct cg_naming full;

	/* the longest cgroup name there can be: 255 bytes */
	long_scope(comp, 255, 'a');
	snprintf(path, sizeof(path), "/machine.slice/%s/vcpu0", comp);
	full = cg(path);
	assert_int_equal(full.rc, 0);
	assert_int_equal(strlen(full.name), fill);
	assert_int_equal(full.name[0], 'a');
	assert_int_equal(vm_naming_from_cgroup(path, name, sizeof(name)), 0);
	assert_string_equal(name, "aaaaaaa");

	/* one byte more is no cgroup name */
	long_scope(comp, 256, 'b');
	snprintf(path, sizeof(path), "/machine.slice/%s/vcpu0", comp);
	assert_cg(path, -ENOENT, "");
}

static void cgroup__multibyte_at_cut__whole_chars_only(void **state)
{
	char name[5];

	assert_int_equal(vm_naming_from_cgroup("/machine-qemu\\x2d1\\x2dabc\\xc3\\xa9d.scope", name,
					       sizeof(name)), 0);
	assert_string_equal(name, "abc");
}

static void cgroup__zero_length_buffer__einval(void **state)
{
	assert_int_equal(vm_naming_from_cgroup("/machine-qemu\\x2d1\\x2dweb.scope", NULL, 0), -EINVAL);
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
		cmocka_unit_test(firecracker__id__is_the_name),
		cmocka_unit_test(firecracker__jailer_cmdline__id_found),
		cmocka_unit_test(firecracker__single_dash_or_longer_option__not_an_id),
		cmocka_unit_test(firecracker__id_without_value_or_nul__ignored),
		cmocka_unit_test(firecracker__hostile_id__sanitized_and_cut),
		cmocka_unit_test(cloud_hypervisor__api_socket_path__basename_without_extension),
		cmocka_unit_test(cloud_hypervisor__no_usable_path__no_name),
		cmocka_unit_test(precedence__name_then_id_then_api_socket),
		cmocka_unit_test(cgroup__v2_vcpu_path__domain_name),
		cmocka_unit_test(cgroup__v1_paths__domain_name),
		cmocka_unit_test(cgroup__escapes_in_name__unescaped),
		cmocka_unit_test(cgroup__id_stripped_only_when_present),
		cmocka_unit_test(cgroup__not_a_qemu_scope__enoent),
		cmocka_unit_test(cgroup__malformed_escapes__enoent),
		cmocka_unit_test(cgroup__control_and_invalid_bytes__sanitized),
		cmocka_unit_test(cgroup__deepest_scope__wins),
		cmocka_unit_test(cgroup__long_names__cut_or_refused),
		cmocka_unit_test(cgroup__multibyte_at_cut__whole_chars_only),
		cmocka_unit_test(cgroup__zero_length_buffer__einval),
		cmocka_unit_test(utf8_len__sequences__validated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
