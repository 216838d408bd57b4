// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the configuration parser (daemon/config.c): any input is either
 * rejected with a one-line message and the struct untouched, or accepted and
 * then survives a config_dump() and reload unchanged.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Idaemon tests/fuzz/fuzz_config.c daemon/config.c daemon/config_error.c daemon/log.c -ljansson -lsystemd
 * ./a.out -max_total_time=30 -dict=tests/fuzz/config.dict tests/fuzz/corpus/config
 * fuzz-sources: daemon/config.c daemon/config_error.c daemon/log.c
 * fuzz-corpus: tests/fuzz/corpus/config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

static int same(const struct config *a, const struct config *b)
{
	return !strcmp(a->listen, b->listen) && !strcmp(a->web_config_file, b->web_config_file) &&
	       a->http_timeout_s == b->http_timeout_s && a->http_max_conns == b->http_max_conns &&
	       a->http_max_conns_per_addr == b->http_max_conns_per_addr &&
	       !strcmp(a->control_socket, b->control_socket) &&
	       !strcmp(a->control_group, b->control_group) && !strcmp(a->pin_dir, b->pin_dir) &&
	       a->rescan_interval_s == b->rescan_interval_s && a->commit == b->commit &&
	       a->max_vms == b->max_vms && a->max_vcpus == b->max_vcpus &&
	       a->max_attribution_entries == b->max_attribution_entries &&
	       a->max_initial_steal_s == b->max_initial_steal_s &&
	       a->top_culprits == b->top_culprits && a->log_level == b->log_level;
}

static void round_trip(const struct config *c)
{
	struct config back;
	char *text = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	check(f != NULL);
	check(config_dump(c, f) == 0);
	fclose(f);
	config_defaults(&back);
	check(config_load_buffer("dump", text, len, &back, err, sizeof(err)) == 0);
	check(same(&back, c));
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, before;
	char err[512];
	int ret;

	config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	ret = config_load_buffer("fuzz.json", (const char *)data, size, &c, err, sizeof(err));
	check(strnlen(err, sizeof(err)) < sizeof(err) && !strchr(err, '\n'));
	if (ret) {
		check(ret < 0 && memcmp(&c, &before, sizeof(c)) == 0);
		check(strncmp(err, "fuzz.json:", 10) == 0);
		return 0;
	}
	check(err[0] == '\0');
	round_trip(&c);
	return 0;
}
