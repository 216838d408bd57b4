// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "log.h"
#include "pin_layout.h"
#include "stealtime.h"
#include "stealtime_layouts.h"

_Static_assert(ST_LAYOUT != 3 || sizeof(struct st_task) == ST_TASK_V3_SIZE,
	      "struct st_task changed: a new layout (ST_LAYOUT) and its migration are due");

/* The value size of the map pinned at pin_dir/name; -ENOENT if none */
static int pinned_value_size(const char *pin_dir, const char *name)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[512];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	ret = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : (int)info.value_size;
	close(fd);
	return ret;
}

/* The value the "layout" map holds (0: not written yet); -ENOENT if no such map */
static int pinned_layout_value(const char *pin_dir)
{
	__u32 zero = 0;
	__u64 value = 0;
	char path[512];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/layout", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	ret = bpf_map_lookup_elem(fd, &zero, &value) ? -errno : (int)value;
	close(fd);
	return ret;
}

int pin_layout_read(const char *pin_dir)
{
	int layout, size;

	layout = pinned_layout_value(pin_dir);
	if (layout > 0)
		return layout;
	if (layout < 0 && layout != -ENOENT)
		return log_errno(layout, "read %s/layout", pin_dir);
	/* one binding map is pinned, the one of the kernel's home for bindings */
	size = pinned_value_size(pin_dir, "vcpu_task");
	if (size == -ENOENT)
		size = pinned_value_size(pin_dir, "vcpu_tid");
	if (size == -ENOENT) /* "vcpus" is pinned first: nothing or a state with no binding map */
		return pinned_value_size(pin_dir, "vcpus") == -ENOENT ? 0 : ST_LAYOUT;
	if (size < 0)
		return log_errno(size, "read the binding map pinned under %s", pin_dir);
	if (size == sizeof(struct st_task_v1))
		return 1;
	if (size == ST_TASK_V2_SIZE)
		return 2; /* the first layout with wait_carry_ns, before the "layout" map */
	if (size == sizeof(struct st_task) && layout == 0)
		return ST_LAYOUT; /* a migration that stopped after renaming its bindings */
	log_error("the binding map pinned under %s holds %d-byte values, a layout this release "
		  "does not know", pin_dir, size);
	return -EPROTO;
}

int pin_layout_write(int layout_fd, int layout)
{
	__u64 value = (__u64)layout;
	__u32 zero = 0;

	if (bpf_map_update_elem(layout_fd, &zero, &value, BPF_ANY))
		return log_errno(-errno, "write the layout map");
	return 0;
}
