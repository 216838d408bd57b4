/* SPDX-License-Identifier: GPL-2.0 */
/* stealtimed's HTTP API as JSON documents, and reading values out of them. */
#ifndef STEALTIMECTL_API_H
#define STEALTIMECTL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl.h"

/*
 * GETs server + path as JSON into *doc (a new reference). Returns 0, or 1
 * with the reason in err ("cannot reach stealtimed at URL: ...", an HTTP
 * error, not JSON). A 404 leaves *doc NULL and returns 0 when allow_404.
 */
int api_get_json(const struct options *o, const char *path, bool allow_404, json_t **doc,
		 char *err, size_t err_len);
/* GET /v1/vms, checked to hold a "vms" array; as api_get_json. */
int api_get_vms(const struct options *o, json_t **doc, char *err, size_t err_len);

/* obj[key] as a u64: 0 when missing, not an integer or negative */
uint64_t json_u64_at(const json_t *obj, const char *key);
/* obj[key] as a string, "" when missing or not a string */
const char *json_str_at(const json_t *obj, const char *key);
/* The VM's name, or its VMM's command name when it has none. */
const char *json_vm_label(const json_t *vm);

#endif
