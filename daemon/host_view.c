// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "host_view.h"

void host_view_free(struct host_view *hv)
{
	if (!hv)
		return;
	for (size_t i = 0; i < hv->nvms; i++) {
		free(hv->vms[i].vcpus);
		free(hv->vms[i].culprits);
		free(hv->vms[i].exported);
	}
	free(hv->vms);
	hv->vms = NULL;
	hv->nvms = 0;
}

const struct vm_view *host_view_find_vm(const struct host_view *hv, const char *id)
{
	for (size_t i = 0; i < hv->nvms; i++)
		if (strcmp(hv->vms[i].id, id) == 0)
			return &hv->vms[i];
	return NULL;
}

const char *culprit_kind_name(enum culprit_kind kind)
{
	switch (kind) {
	case CULPRIT_VM:
		return "vm";
	case CULPRIT_PROCESS:
		return "process";
	case CULPRIT_KERNEL:
		return "kernel";
	case CULPRIT_THROTTLED:
		return "throttled";
	default:
		return "other";
	}
}
