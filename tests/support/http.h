/* Test support: a small blocking HTTP client over libcurl, for system tests. */
#ifndef TM_TEST_HTTP_H
#define TM_TEST_HTTP_H

#include <stddef.h>

struct http_resp {
	long status; /* 0 when the request failed at the transport level */
	char *body;  /* NUL-terminated */
	size_t len;
	char *headers; /* raw response headers, NUL-terminated */
};

/* Sends one request. `headers` is a NULL-terminated list of "Name: value"
 * lines (may be NULL); `body` may be NULL. Returns 0 when a response came. */
int http_do(const char *method, const char *url, const char *const *headers, const char *body,
	    size_t body_len, struct http_resp *out);
int http_get(const char *url, const char *bearer, struct http_resp *out);
int http_post_json(const char *url, const char *bearer, const char *json, struct http_resp *out);

/* The value of header `name` (case-insensitive; the first one) in a block of
 * "Name: value" lines ending in "\n" or "\r\n", into out; 0 if found, -1 if not. */
int http_header_find(const char *block, const char *name, char *out, size_t outlen);
/* The value of a response header (case-insensitive name) into out; 0 if found. */
int http_header(const struct http_resp *r, const char *name, char *out, size_t outlen);
void http_resp_free(struct http_resp *r);

/* An access token for (sub, role) signed with `secret` (15 minutes). */
void http_mint_token(const char *secret, const char *sub, const char *role, char *out,
		     size_t outlen);

/* cmocka group setup/teardown for tests that drive libcurl themselves:
 * curl_global_init once before the group, curl_global_cleanup after. */
int http_group_setup(void **state);
int http_group_teardown(void **state);

#endif
