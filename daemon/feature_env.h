/* SPDX-License-Identifier: GPL-2.0 */
/*
 * STEALTIMED_WITHOUT: a comma-separated list of kernel features the daemon
 * acts as if it lacked, so that what it does on older kernels is tested on
 * a new one. Names: "btf" and those of kernel_features.h ("prev_state",
 * "task_storage", "kvm_btf"), peer_identity.h's "peerpidfd" and bpf_engine.h's
 * "discover_pid" (task iterators of one process).
 */
#ifndef STEALTIMED_FEATURE_ENV_H
#define STEALTIMED_FEATURE_ENV_H

#include <stdbool.h>

/* true when STEALTIMED_WITHOUT names this feature */
bool feature_env_without(const char *name);

#endif
