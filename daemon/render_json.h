/* SPDX-License-Identifier: GPL-2.0 */
/* JSON (jansson) documents of the HTTP API, from a host_view. */
#ifndef STEALTIMED_RENDER_JSON_H
#define STEALTIMED_RENDER_JSON_H

#include <jansson.h>

#include "host_view.h"

/* {"vms":[vm, ...]} */
json_t *render_vms_json(const struct host_view *hv);
/* {"id","name","pid","uuid","comm","registered","vcpus":[{"index","tid","steal_ns","run_ns","waits","preemptions","commit":{...}|null}]} */
json_t *render_vm_json(const struct vm_view *vm);

#endif
