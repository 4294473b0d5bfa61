/*
 * Shared by the identity system tests (test_identity.c, test_limits.c): the
 * stack of the test binary, requests to its gateway that check every reply
 * for leaked secrets, and checks of the API error format (docs/api.md).
 * Static functions only: each test binary includes this once.
 */
#ifndef TM_SYSTEM_API_CLIENT_H
#define TM_SYSTEM_API_CLIENT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../support/http.h"
#include "../support/stack.h"
#include "tm/util.h"

/* Every password the tests send contains this; no reply may ever carry it. */
#define PASSWORD_MARKER "Tr0ub4dor"
#define API_EXTRA_HEADERS_MAX 8

static struct tm_test_stack stack;

static inline void api_url(char *out, size_t len, const char *path)
{
	snprintf(out, len, "%s%s", stack.gateway_url, path);
}

/*
 * No reply (body or headers), error or not, may carry a password hash, the
 * hash column's name or a password the test sent; a successful reply may not
 * even mention a password. Error replies may: they name the "password" field
 * and say "invalid email or password".
 */
static inline void assert_no_secrets(const char *method, const char *path,
				     const struct http_resp *r)
{
	const char *what = NULL;
	if (strcasestr(r->body, "argon2") || strcasestr(r->headers, "argon2"))
		what = "an Argon2 hash";
	else if (strcasestr(r->body, "password_hash") || strcasestr(r->headers, "password_hash"))
		what = "the hash column";
	else if (strstr(r->body, PASSWORD_MARKER) || strstr(r->headers, PASSWORD_MARKER))
		what = "a password the test sent";
	else if (r->status >= 200 && r->status < 300 && strcasestr(r->body, "password"))
		what = "the word \"password\" in a successful reply";
	if (what)
		fail_msg("%s %s -> %ld carries %s: %.400s", method, path, r->status, what, r->body);
}

/*
 * One request to the gateway: `token` (may be NULL) as the bearer, `json`
 * (may be NULL) as an application/json body, `extra` a NULL-terminated list
 * of more header lines (may be NULL). Fails the test if no reply came, or if
 * the reply leaks a secret.
 */
static inline void api_do(const char *method, const char *path, const char *token, const char *json,
			  const char *const *extra, struct http_resp *r)
{
	char u[2048];
	char *auth = NULL;
	const char *h[API_EXTRA_HEADERS_MAX + 3];
	size_t n = 0;

	api_url(u, sizeof(u), path);
	if (json)
		h[n++] = "Content-Type: application/json";
	if (token) {
		size_t al = strlen(token) + 32;
		auth = malloc(al);
		assert_non_null(auth);
		snprintf(auth, al, "Authorization: Bearer %s", token);
		h[n++] = auth;
	}
	for (size_t i = 0; extra && extra[i]; i++) {
		assert_true(i < API_EXTRA_HEADERS_MAX);
		h[n++] = extra[i];
	}
	h[n] = NULL;
	int rc = http_do(method, u, h, json, json ? strlen(json) : 0, r);
	free(auth);
	if (rc != 0) {
		http_resp_free(r);
		fail_msg("%s %s: no reply", method, path);
	}
	assert_no_secrets(method, path, r);
}

static inline void api_get(const char *path, const char *token, struct http_resp *r)
{
	api_do("GET", path, token, NULL, NULL, r);
}

static inline void api_post(const char *path, const char *token, const char *json,
			    struct http_resp *r)
{
	api_do("POST", path, token, json, NULL, r);
}

/* Parses a reply body as JSON (the test fails if it is not). */
static inline cJSON *json_of(const struct http_resp *r)
{
	cJSON *j = cJSON_ParseWithLength(r->body, r->len);
	if (!j)
		fail_msg("not JSON (%ld): %.300s", r->status, r->body);
	return j;
}

static inline const char *jstr(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline const cJSON *jget(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* The object has exactly these keys (a NULL-terminated list), no more. */
static inline void assert_keys(const cJSON *obj, const char *const *keys)
{
	int want = 0;
	assert_true(cJSON_IsObject(obj));
	for (; keys[want]; want++)
		if (!jget(obj, keys[want]))
			fail_msg("key \"%s\" missing", keys[want]);
	for (const cJSON *c = obj->child; c; c = c->next) {
		bool known = false;
		for (int i = 0; i < want && !known; i++)
			known = strcmp(c->string, keys[i]) == 0;
		if (!known)
			fail_msg("unexpected key \"%s\"", c->string);
	}
	assert_int_equal(cJSON_GetArraySize(obj), want);
}

/* Asserts the API error format (status, code, message, details, requestId
 * matching X-Request-Id, timestamp). */
static inline void assert_error(const struct http_resp *r, long status, const char *code)
{
	char rid[80];
	if (r->status != status)
		fail_msg("expected %ld %s, got %ld: %.300s", status, code, r->status, r->body);
	cJSON *j = json_of(r);
	const cJSON *e = jget(j, "error");
	assert_non_null(e);
	if (!jstr(e, "code") || strcmp(jstr(e, "code"), code) != 0)
		fail_msg("expected code %s: %.300s", code, r->body);
	assert_non_null(jstr(e, "message"));
	assert_true(cJSON_IsArray(jget(e, "details")));
	int64_t ts;
	assert_int_equal(tm_parse_rfc3339(jstr(e, "timestamp"), &ts), 0);
	assert_int_equal(http_header(r, "X-Request-Id", rid, sizeof(rid)), 0);
	assert_string_equal(jstr(e, "requestId"), rid);
	cJSON_Delete(j);
}

/* The error's message into out. */
static inline void error_message(const struct http_resp *r, char *out, size_t len)
{
	cJSON *j = json_of(r);
	const char *m = jstr(jget(j, "error"), "message");
	snprintf(out, len, "%s", m ? m : "");
	cJSON_Delete(j);
}

/* The first error detail's field into out ("" when there is none). */
static inline void first_detail_field(const struct http_resp *r, char *out, size_t len)
{
	cJSON *j = json_of(r);
	const cJSON *d = cJSON_GetArrayItem(jget(jget(j, "error"), "details"), 0);
	snprintf(out, len, "%s", d && jstr(d, "field") ? jstr(d, "field") : "");
	cJSON_Delete(j);
}

/* A 400 VALIDATION_FAILED naming `field` first. */
static inline void assert_field_error(const struct http_resp *r, const char *field)
{
	char f[128];
	assert_error(r, 400, "VALIDATION_FAILED");
	first_detail_field(r, f, sizeof(f));
	if (strcmp(f, field) != 0)
		fail_msg("expected the field \"%s\", got \"%s\": %.300s", field, f, r->body);
}

/* A header's value as a number, or -1 when absent or not a number. */
static inline long header_long(const struct http_resp *r, const char *name)
{
	char v[64];
	int64_t n;
	if (http_header(r, name, v, sizeof(v)) != 0 || tm_parse_int64(v, &n) != 0)
		return -1;
	return (long)n;
}

static inline bool has_header(const struct http_resp *r, const char *name)
{
	char v[8];
	return http_header(r, name, v, sizeof(v)) == 0;
}

/* Asserts a header is present with exactly `want`. */
static inline void assert_header(const struct http_resp *r, const char *name, const char *want)
{
	char v[512];
	if (http_header(r, name, v, sizeof(v)) != 0)
		fail_msg("%ld reply without %s: %.300s", r->status, name, r->headers);
	if (strcmp(v, want) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", name, want, v);
}

/* A 429 RATE_LIMITED with a Retry-After of at least one second. */
static inline long assert_rate_limited(const struct http_resp *r)
{
	assert_error(r, 429, "RATE_LIMITED");
	long s = header_long(r, "Retry-After");
	if (s < 1)
		fail_msg("429 without a Retry-After >= 1: %.400s", r->headers);
	return s;
}

/* 12 hex characters, for unique e-mails and names. */
static inline void random_tag(char out[13])
{
	char u[TM_UUID_LEN + 1];
	assert_int_equal(tm_uuid_v4(u), 0);
	snprintf(out, 13, "%.8s%.4s", u, u + 9);
}

#endif
