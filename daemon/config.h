/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stealtimed's configuration file (JSON, default /etc/stealtimed/stealtimed.json;
 * every key is described in stealtimed(8) and docs/configuration.md).
 *
 * A file is parsed over a struct that starts from the defaults (or from the
 * running configuration), validated whole into a copy, and only copied back
 * when every key is valid: a failed load or reload leaves *c untouched.
 */
#ifndef STEALTIMED_CONFIG_H
#define STEALTIMED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH "/etc/stealtimed/stealtimed.json"
#define CONFIG_MAX_FILE_SIZE (1 << 20) /* larger files are refused */
#define CONFIG_DEFAULT_INITIAL_STEAL_S 315360000u /* 10 years of 365 days */

struct config {
	char listen[128];                 /* "127.0.0.1:9477" (HOST:PORT, [V6]:PORT, :PORT) */
	char web_config_file[256];        /* "" = plain HTTP, no auth; else TLS and basic auth (web_config.h) */
	unsigned http_timeout_s;          /* 10, 1..3600: an idle or slow HTTP connection is closed */
	unsigned http_max_conns;          /* 64, 1..4096: HTTP connections at once */
	unsigned http_max_conns_per_addr; /* 16, 1..4096: from one client address */
	char control_socket[108];         /* "/run/stealtimed/control.sock" (absolute) */
	char control_group[64];           /* "" = root only */
	char pin_dir[256];                /* "/sys/fs/bpf/stealtimed" (absolute) */
	char state_dir[256];              /* "/var/lib/stealtimed" (absolute, or "" for none) */
	unsigned rescan_interval_s;       /* 5, 1..3600 */
	bool commit;                      /* true: offer stolen time to guests */
	bool count_wakeups;               /* false: no sched_wakeup hooks (they cost switch-heavy hosts ~3%) */
	unsigned max_vms;                 /* 4096, 1..4096 (ST_MAX_REGIONS) */
	unsigned max_vcpus;               /* 16384, 1..16384 (ST_MAX_VCPUS) */
	unsigned reserved_percent;        /* 6, 0..50: of max_vms and max_vcpus, kept for registered VMs */
	unsigned max_attribution_entries; /* 4096, 16..65536 */
	unsigned max_initial_steal_s;     /* 315360000 (10 years), 0..UINT_MAX: most set_ipa initial_ns */
	unsigned top_culprits;            /* 5, 1..50: culprits per VM in /metrics */
	bool vcpu_detail;                 /* true; false: per-vCPU series in /metrics are steal and run only */
	int log_level;                    /* LOG_INFO (<syslog.h>) */
};

void config_defaults(struct config *c);

/*
 * Parses the JSON file at path over *c. Returns 0, -EINVAL for an invalid
 * file, or another negative errno when it cannot be read. On any error *c is
 * left untouched and err (when errlen > 0) holds one line:
 * "FILE:LINE:COLUMN: message" (syntax errors at jansson's position; unknown
 * keys at the key, wrong types and out-of-range values at the value), or
 * "FILE: message" when the file cannot be read.
 */
int config_load_file(const char *path, struct config *c, char *err, size_t errlen);

/* The same on len bytes at buf (need not be NUL-terminated); name is used in messages. */
int config_load_buffer(const char *name, const char *buf, size_t len, struct config *c, char *err,
		       size_t errlen);

/* Writes *c as a JSON configuration file (every key, in the shipped order) to f: 0 or -EIO. */
int config_dump(const struct config *c, FILE *f);

#endif
