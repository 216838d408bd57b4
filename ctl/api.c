// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "api.h"
#include "http_get.h"

/* The "error" member of an error body, or "" */
static const char *error_of(json_t *doc)
{
	const char *msg = json_string_value(json_object_get(doc, "error"));

	return msg ? msg : "";
}

int api_get_json(const struct options *o, const char *path, bool allow_404, json_t **doc,
		 char *err, size_t err_len)
{
	struct http_answer ans;
	json_error_t jerr;
	char url[1024], why[512];

	*doc = NULL;
	snprintf(url, sizeof(url), "%s%s", o->server, path);
	if (http_get(url, &ans, why, sizeof(why))) {
		snprintf(err, err_len, "cannot reach stealtimed at %s: %s", o->server, why);
		return 1;
	}
	*doc = json_loadb(ans.body, ans.len, 0, &jerr);
	http_answer_free(&ans);
	if (ans.status == 200 && *doc)
		return 0;
	if (ans.status == 404 && allow_404) {
		json_decref(*doc);
		*doc = NULL;
		return 0;
	}
	if (ans.status != 200)
		snprintf(err, err_len, "%s: HTTP %ld%s%s", url, ans.status,
			 error_of(*doc)[0] ? ": " : "", error_of(*doc));
	else
		snprintf(err, err_len, "%s: not a stealtimed answer: %s", url, jerr.text);
	json_decref(*doc);
	*doc = NULL;
	return 1;
}

int api_get_vms(const struct options *o, json_t **doc, char *err, size_t err_len)
{
	int rc = api_get_json(o, "/v1/vms", false, doc, err, err_len);

	if (!rc && !json_is_array(json_object_get(*doc, "vms"))) {
		snprintf(err, err_len, "%s/v1/vms: no \"vms\" array", o->server);
		json_decref(*doc);
		*doc = NULL;
		return 1;
	}
	return rc;
}

uint64_t json_u64_at(const json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return v > 0 ? (uint64_t)v : 0;
}

const char *json_str_at(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

const char *json_vm_label(const json_t *vm)
{
	const char *name = json_str_at(vm, "name");

	return name[0] ? name : json_str_at(vm, "comm");
}
