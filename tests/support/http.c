/* Test support: blocking HTTP client; see http.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "tm/buf.h"
#include "tm/jwt.h"
#include "tm/util.h"

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
	tm_buf_append(ud, data, size * n);
	return size * n;
}

int http_do(const char *method, const char *url, const char *const *headers, const char *body,
	    size_t body_len, struct http_resp *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct tm_buf b, h;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!c)
		return -1;
	tm_buf_init(&b);
	tm_buf_init(&h);
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
		rc = 0;
	}
	tm_buf_putc(&b, '\0');
	tm_buf_putc(&h, '\0');
	out->body = tm_buf_steal(&b, &out->len);
	if (out->len)
		out->len--; /* the NUL we added */
	out->headers = tm_buf_steal(&h, NULL);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc;
}

static void auth_header(const char *bearer, char *out, size_t outlen)
{
	snprintf(out, outlen, "Authorization: Bearer %s", bearer ? bearer : "");
}

int http_get(const char *url, const char *bearer, struct http_resp *out)
{
	char auth[4200];
	auth_header(bearer, auth, sizeof(auth));
	const char *h[] = {bearer ? auth : NULL, NULL};
	return http_do("GET", url, h, NULL, 0, out);
}

int http_post_json(const char *url, const char *bearer, const char *json, struct http_resp *out)
{
	char auth[4200];
	auth_header(bearer, auth, sizeof(auth));
	const char *h[] = {"Content-Type: application/json", bearer ? auth : NULL, NULL};
	return http_do("POST", url, h, json, strlen(json), out);
}

int http_header_find(const char *block, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	for (const char *p = block; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(ll - (size_t)(v - p)), v);
			return 0;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return -1;
}

int http_header(const struct http_resp *r, const char *name, char *out, size_t outlen)
{
	return http_header_find(r->headers, name, out, outlen);
}

void http_resp_free(struct http_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

void http_mint_token(const char *secret, const char *sub, const char *role, char *out,
		     size_t outlen)
{
	struct tm_jwt_claims c = {0};
	snprintf(c.sub, sizeof(c.sub), "%s", sub);
	snprintf(c.role, sizeof(c.role), "%s", role);
	tm_uuid_v4(c.jti);
	c.iat = tm_now_ms() / 1000;
	c.exp = c.iat + 900;
	tm_jwt_sign(secret, strlen(secret), &c, out, outlen);
}

int http_group_setup(void **state)
{
	(void)state;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int http_group_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}
