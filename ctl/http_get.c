// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http_get.h"

#define CONNECT_TIMEOUT_S 5L
#define TIMEOUT_S 30L

static const volatile sig_atomic_t *abort_flag;

void http_get_abort_on(const volatile sig_atomic_t *flag)
{
	abort_flag = flag;
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return abort_flag && *abort_flag;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_answer *ans = userdata;
	size_t n = size * nmemb;
	char *body;

	if (n > HTTP_GET_MAX_BODY - ans->len - 1)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	body = realloc(ans->body, ans->len + n + 1);
	if (!body)
		return 0;
	memcpy(body + ans->len, data, n);
	ans->len += n;
	body[ans->len] = '\0';
	ans->body = body;
	return n;
}

static void set_options(CURL *curl, const char *url, struct http_answer *ans, char *errbuf)
{
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "stealtimectl");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, ans);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

int http_get(const char *url, struct http_answer *ans, char *err, size_t err_len)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *curl = curl_easy_init();
	CURLcode rc;

	memset(ans, 0, sizeof(*ans));
	if (!curl) {
		snprintf(err, err_len, "cannot initialize libcurl");
		return -1;
	}
	set_options(curl, url, ans, errbuf);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ans->status);
	else
		snprintf(err, err_len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		http_answer_free(ans);
		return -1;
	}
	if (!ans->body) {
		ans->body = strdup("");
		if (!ans->body) {
			snprintf(err, err_len, "out of memory");
			return -1;
		}
	}
	return 0;
}

void http_answer_free(struct http_answer *ans)
{
	free(ans->body);
	ans->body = NULL;
	ans->len = 0;
}
