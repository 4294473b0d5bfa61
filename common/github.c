/* GitHub OAuth web flow and the signed-in user over libcurl; see tm/github.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "tm/buf.h"
#include "tm/github.h"
#include "tm/outbound.h"
#include "tm/util.h"

#define GH_URL_MAX 1024		     /* bytes of a configured base URL and a path */
#define GH_CODE_MAX 256		     /* bytes of an OAuth code passed on */
#define GH_PARAM_MAX 1024	     /* bytes of a redirect_uri, state or client id */
#define GH_OAUTH_ERROR_MAX 64	     /* bytes of an OAuth error code quoted in err */
#define GH_OAUTH_DESC_MAX 160	     /* bytes of an OAuth error description quoted in err */
#define GH_EMAILS_MAX 100	     /* entries of /user/emails looked at: one page */
#define GH_ID_MAX 9007199254740992.0 /* 2^53: larger ids do not survive a JSON double */
#define GH_API_VERSION "2022-11-28"
#define GH_SCOPE "read:user user:email"

struct gh_request {
	const char *what;    /* "GET /user": names the request in err */
	const char *url;     /* base URL + path; never holds a secret */
	bool http;	     /* the configured base is http: allow it besides https */
	bool rest;	     /* the REST API (media type and version) rather than OAuth */
	const char *auth;    /* "Authorization: Bearer ..." or NULL */
	const char *form;    /* POST body (x-www-form-urlencoded); NULL for GET */
	int64_t deadline_ms; /* tm_mono_ms() by which the whole call must be over */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats into err when the caller gave one. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *tm_github_rc_name(enum tm_github_rc rc)
{
	switch (rc) {
	case TM_GITHUB_OK:
		return "ok";
	case TM_GITHUB_BAD_CODE:
		return "bad_code";
	case TM_GITHUB_UNAUTHORIZED:
		return "unauthorized";
	case TM_GITHUB_RATE_LIMITED:
		return "rate_limited";
	case TM_GITHUB_UNAVAILABLE:
		return "unavailable";
	}
	return "unknown";
}

/* ---- text checks ------------------------------------------------------------------------ */

/* True if s is 1..max bytes of valid UTF-8 without control characters (C0, DEL). */
static bool text_ok(const char *s, size_t max)
{
	size_t len = s ? strnlen(s, max + 1) : 0;

	if (len == 0 || len > max || !tm_utf8_valid(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* An access token goes into a header line: visible ASCII only, no spaces. */
static bool token_ok(const char *s)
{
	size_t len = s ? strnlen(s, TM_GITHUB_TOKEN_MAX) : 0;

	if (len == 0 || len >= TM_GITHUB_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* A GitHub login: letters, digits, '-' and '_' (managed users); fits size bytes. */
static bool login_ok(const char *s, size_t size)
{
	size_t len = strnlen(s, size);

	if (len == 0 || len >= size)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* An address as /user/emails gives it: text without spaces, one '@' inside;
 * fits size bytes. */
static bool email_ok(const char *s, size_t size)
{
	const char *at;

	if (!text_ok(s, size - 1) || strchr(s, ' '))
		return false;
	at = strchr(s, '@');
	return at && at != s && at[1] != '\0' && !strchr(at + 1, '@');
}

/* Copies valid UTF-8 s into out, cut at a code point boundary if it is longer. */
static void copy_utf8_cut(char *out, size_t outlen, const char *s)
{
	size_t len = strlen(s);

	if (len >= outlen) {
		len = outlen - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(out, s, len);
	out[len] = '\0';
}

/* Appends s percent-encoded: everything but RFC 3986 unreserved characters. */
static void pct_encode(struct tm_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			tm_buf_putc(b, (char)*p);
		} else {
			tm_buf_putc(b, '%');
			tm_buf_putc(b, hex[*p >> 4]);
			tm_buf_putc(b, hex[*p & 15]);
		}
	}
}

/* Wipes a buffer that held a secret, then frees it. */
static void buf_wipe_free(struct tm_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	tm_buf_free(b);
}

/*
 * The configured base URL (or the default when NULL or "") into out, without
 * a trailing '/'. It must be http(s), fit, and hold no spaces, control
 * characters, query or fragment. *http tells whether the scheme is http.
 * Returns 0 or -1.
 */
static int base_url(const char *configured, const char *dflt, char *out, size_t outlen, bool *http)
{
	const char *u = configured && *configured ? configured : dflt;
	size_t len = strnlen(u, outlen);

	if (len == 0 || len >= outlen || !text_ok(u, len) || strpbrk(u, " ?#"))
		return -1;
	if (strncasecmp(u, "https://", 8) == 0 && len > 8)
		*http = false;
	else if (strncasecmp(u, "http://", 7) == 0 && len > 7)
		*http = true;
	else
		return -1;
	memcpy(out, u, len);
	while (len > 0 && out[len - 1] == '/')
		len--;
	out[len] = '\0';
	return 0;
}

/* ---- one request ------------------------------------------------------------------------ */

/* The reply headers every request keeps, at these indexes of captured[]. */
enum { GH_RETRY_AFTER, GH_REMAINING, GH_RESET };
static const char *const gh_capture[] = {"retry-after", "x-ratelimit-remaining",
					 "x-ratelimit-reset", NULL};

/*
 * Sends one request and collects the reply (any status) into *r, which the
 * caller initialized. Returns OK when a response came, else UNAVAILABLE with
 * err saying why (timeout, connection, body too large). tm_outbound_do wipes
 * its copy of the header line that holds the token.
 */
static enum tm_github_rc gh_perform(const struct gh_request *q, struct tm_outbound_response *r,
				    char *err, size_t errlen)
{
	const char *headers[4];
	size_t n = 0;
	int64_t left_ms = q->deadline_ms - tm_mono_ms();

	if (left_ms <= 0) {
		set_err(err, errlen, "%s: timed out before the request was sent", q->what);
		return TM_GITHUB_UNAVAILABLE;
	}
	headers[n++] = q->rest ? "Accept: application/vnd.github+json" : "Accept: application/json";
	if (q->rest)
		headers[n++] = "X-GitHub-Api-Version: " GH_API_VERSION;
	if (q->auth)
		headers[n++] = q->auth;
	headers[n] = NULL;
	const struct tm_outbound_request oq = {
		.method = q->form ? "POST" : "GET",
		.url = q->url,
		.allow_http = q->http,
		.user_agent = TM_GITHUB_USER_AGENT,
		.headers = headers,
		.body = q->form,
		.body_len = q->form ? strlen(q->form) : 0,
		.timeout_ms = (int)left_ms, /* at most the configured timeout_ms */
		.body_max = TM_GITHUB_BODY_MAX,
		.capture = gh_capture,
	};
	enum tm_outbound_rc orc = tm_outbound_do(&oq, r);
	if (orc == TM_OUTBOUND_OK)
		return TM_GITHUB_OK;
	if (orc == TM_OUTBOUND_TOO_LARGE)
		set_err(err, errlen, "%s: response body larger than %d bytes", q->what,
			TM_GITHUB_BODY_MAX);
	else
		set_err(err, errlen, "%s: %s", q->what, r->error);
	return TM_GITHUB_UNAVAILABLE;
}

/* ---- status and rate limits ------------------------------------------------------------- */

static int clamp_wait_s(int64_t s)
{
	if (s < 1)
		return 1;
	return s > TM_GITHUB_RETRY_AFTER_MAX_S ? TM_GITHUB_RETRY_AFTER_MAX_S : (int)s;
}

/* The wait a rate-limit reply asks for: retry-after (seconds or an HTTP date),
 * else x-ratelimit-reset when x-ratelimit-remaining is 0. -1 if it names none. */
static int named_wait_s(const struct tm_outbound_response *r)
{
	const char *retry_after = r->captured[GH_RETRY_AFTER];
	const char *remaining = r->captured[GH_REMAINING], *reset = r->captured[GH_RESET];
	int64_t now = (int64_t)time(NULL), v;

	if (retry_after[0]) {
		if (tm_parse_int64(retry_after, &v) == 0 && v >= 0)
			return clamp_wait_s(v);
		time_t t = curl_getdate(retry_after, NULL);
		if (t != (time_t)-1)
			return clamp_wait_s((int64_t)t - now);
	}
	if (remaining[0] && tm_parse_int64(remaining, &v) == 0 && v == 0) {
		if (reset[0] && tm_parse_int64(reset, &v) == 0)
			return clamp_wait_s(v - now);
		return TM_GITHUB_SECONDARY_LIMIT_WAIT_S;
	}
	return -1;
}

/* True if the body is {"message": "... rate limit ..."} (a secondary limit). */
static bool says_rate_limit(const struct tm_outbound_response *r)
{
	cJSON *j = r->body.len ? cJSON_ParseWithLength(r->body.data, r->body.len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	bool yes = cJSON_IsString(m) && strcasestr(m->valuestring, "rate limit") != NULL;

	cJSON_Delete(j);
	return yes;
}

/*
 * Maps a reply's status to a result: 200 is OK; 401 UNAUTHORIZED; 429, and a
 * 403 that names a wait or says "rate limit", RATE_LIMITED with *wait_s; any
 * other 403 UNAUTHORIZED; everything else (3xx included: redirects are not
 * followed) UNAVAILABLE.
 */
static enum tm_github_rc status_rc(const struct gh_request *q, const struct tm_outbound_response *r,
				   int *wait_s, char *err, size_t errlen)
{
	if (r->status == 200)
		return TM_GITHUB_OK;
	if (r->status == 401) {
		set_err(err, errlen, "%s: GitHub refused the access token (401)", q->what);
		return TM_GITHUB_UNAUTHORIZED;
	}
	if (r->status == 403 || r->status == 429) {
		int s = named_wait_s(r);
		if (s < 0 && (r->status == 429 || says_rate_limit(r)))
			s = TM_GITHUB_SECONDARY_LIMIT_WAIT_S;
		if (s >= 0) {
			*wait_s = s;
			set_err(err, errlen, "%s: rate limited by GitHub (%ld); retry in %d s",
				q->what, r->status, s);
			return TM_GITHUB_RATE_LIMITED;
		}
		set_err(err, errlen, "%s: GitHub refused the access token (403)", q->what);
		return TM_GITHUB_UNAUTHORIZED;
	}
	if (r->status >= 300 && r->status < 400)
		set_err(err, errlen, "%s: GitHub answered %ld (redirects are not followed)",
			q->what, r->status);
	else
		set_err(err, errlen, "%s: GitHub answered %ld", q->what, r->status);
	return TM_GITHUB_UNAVAILABLE;
}

/*
 * One request, its status mapped, and its body parsed: OK with *json set (the
 * caller deletes it), or another result with err. The reply body is wiped
 * before it is freed, since it may hold a token.
 */
static enum tm_github_rc gh_call(const struct gh_request *q, cJSON **json, int *wait_s, char *err,
				 size_t errlen)
{
	struct tm_outbound_response r;
	enum tm_github_rc rc;

	memset(&r, 0, sizeof(r));
	tm_buf_init(&r.body);
	*json = NULL;
	rc = gh_perform(q, &r, err, errlen);
	if (rc == TM_GITHUB_OK)
		rc = status_rc(q, &r, wait_s, err, errlen);
	if (rc == TM_GITHUB_OK) {
		*json = r.body.len ? cJSON_ParseWithLength(r.body.data, r.body.len) : NULL;
		if (!*json) {
			set_err(err, errlen, "%s: the response is not JSON", q->what);
			rc = TM_GITHUB_UNAVAILABLE;
		}
	}
	buf_wipe_free(&r.body);
	return rc;
}

/* ---- the OAuth web flow ----------------------------------------------------------------- */

int tm_github_authorize_url(const struct tm_github_config *c, const char *redirect_uri,
			    const char *state, char *out, size_t outlen)
{
	char base[GH_URL_MAX];
	struct tm_buf b;
	bool http;
	int rc = -1;

	if (!out || outlen == 0)
		return -1;
	out[0] = '\0';
	if (!c ||
	    base_url(c->oauth_url, TM_GITHUB_OAUTH_URL_DEFAULT, base, sizeof(base), &http) != 0 ||
	    !text_ok(c->client_id, GH_PARAM_MAX) || !text_ok(redirect_uri, GH_PARAM_MAX) ||
	    !text_ok(state, GH_PARAM_MAX))
		return -1;
	tm_buf_init(&b);
	tm_buf_puts(&b, base);
	tm_buf_puts(&b, "/login/oauth/authorize?client_id=");
	pct_encode(&b, c->client_id);
	tm_buf_puts(&b, "&redirect_uri=");
	pct_encode(&b, redirect_uri);
	tm_buf_puts(&b, "&state=");
	pct_encode(&b, state);
	tm_buf_puts(&b, "&scope=");
	pct_encode(&b, GH_SCOPE);
	if (!b.failed && b.len < outlen) {
		memcpy(out, b.data, b.len + 1);
		rc = 0;
	}
	tm_buf_free(&b);
	return rc;
}

/* The access token out of an access_token reply, or the OAuth error mapped. */
static enum tm_github_rc parse_token(const cJSON *j, char *token, size_t tokenlen, char *err,
				     size_t errlen)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	const cJSON *tt = cJSON_GetObjectItemCaseSensitive(j, "token_type");

	if (!cJSON_IsObject(j)) {
		set_err(err, errlen,
			"POST /login/oauth/access_token: the response is not an "
			"object");
		return TM_GITHUB_UNAVAILABLE;
	}
	if (e) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "error_description");
		char code[GH_OAUTH_ERROR_MAX], desc[GH_OAUTH_DESC_MAX];
		if (!cJSON_IsString(e) || !text_ok(e->valuestring, sizeof(code) - 1)) {
			set_err(err, errlen, "POST /login/oauth/access_token: malformed error");
			return TM_GITHUB_UNAVAILABLE;
		}
		snprintf(code, sizeof(code), "%s", e->valuestring);
		desc[0] = '\0';
		if (cJSON_IsString(d) && text_ok(d->valuestring, strlen(d->valuestring)))
			copy_utf8_cut(desc, sizeof(desc), d->valuestring);
		if (strcmp(code, "incorrect_client_credentials") == 0 ||
		    strcmp(code, "redirect_uri_mismatch") == 0) {
			set_err(err, errlen,
				"GitHub refused the OAuth app's settings: %s (%s); check "
				"TM_GITHUB_CLIENT_ID, TM_GITHUB_CLIENT_SECRET and the callback URL",
				code, desc);
			return TM_GITHUB_UNAVAILABLE;
		}
		set_err(err, errlen, "GitHub refused the code: %s (%s)", code, desc);
		return TM_GITHUB_BAD_CODE;
	}
	if (!cJSON_IsString(t) || !token_ok(t->valuestring) ||
	    (tt && (!cJSON_IsString(tt) || strcasecmp(tt->valuestring, "bearer") != 0))) {
		set_err(err, errlen,
			"POST /login/oauth/access_token: no usable bearer "
			"access_token in the response");
		return TM_GITHUB_UNAVAILABLE;
	}
	if (strlen(t->valuestring) >= tokenlen) {
		set_err(err, errlen, "the access token does not fit %zu bytes", tokenlen);
		return TM_GITHUB_UNAVAILABLE;
	}
	memcpy(token, t->valuestring, strlen(t->valuestring) + 1);
	return TM_GITHUB_OK;
}

/* Builds the form body of the code exchange; false if out of memory. */
static bool exchange_form(struct tm_buf *form, const struct tm_github_config *c, const char *code,
			  const char *redirect_uri)
{
	tm_buf_puts(form, "client_id=");
	pct_encode(form, c->client_id);
	tm_buf_puts(form, "&client_secret=");
	pct_encode(form, c->client_secret);
	tm_buf_puts(form, "&code=");
	pct_encode(form, code);
	if (redirect_uri) {
		tm_buf_puts(form, "&redirect_uri=");
		pct_encode(form, redirect_uri);
	}
	return !form->failed;
}

enum tm_github_rc tm_github_exchange_code(const struct tm_github_config *c, const char *code,
					  const char *redirect_uri, char *token, size_t tokenlen,
					  int *retry_after_s, char *err, size_t errlen)
{
	char base[GH_URL_MAX], url[GH_URL_MAX + 64];
	struct gh_request q = {.what = "POST /login/oauth/access_token", .url = url};
	struct tm_buf form;
	cJSON *j = NULL;
	int wait_s = 0;
	enum tm_github_rc rc;

	set_err(err, errlen, "%s", "");
	if (retry_after_s)
		*retry_after_s = 0;
	if (!token || tokenlen == 0) {
		set_err(err, errlen, "no buffer for the access token");
		return TM_GITHUB_UNAVAILABLE;
	}
	token[0] = '\0';
	if (!c || !text_ok(c->client_id, GH_PARAM_MAX) ||
	    !text_ok(c->client_secret, GH_PARAM_MAX) ||
	    base_url(c->oauth_url, TM_GITHUB_OAUTH_URL_DEFAULT, base, sizeof(base), &q.http) != 0 ||
	    (redirect_uri && !text_ok(redirect_uri, GH_PARAM_MAX))) {
		set_err(err, errlen,
			"GitHub OAuth is not configured: set TM_GITHUB_CLIENT_ID, "
			"TM_GITHUB_CLIENT_SECRET and an http(s) TM_GITHUB_OAUTH_URL");
		return TM_GITHUB_UNAVAILABLE;
	}
	if (!text_ok(code, GH_CODE_MAX)) {
		set_err(err, errlen, "the OAuth code is empty, longer than %d bytes or not text",
			GH_CODE_MAX);
		return TM_GITHUB_BAD_CODE;
	}
	snprintf(url, sizeof(url), "%s/login/oauth/access_token", base);
	tm_buf_init(&form);
	if (!exchange_form(&form, c, code, redirect_uri)) {
		set_err(err, errlen, "%s: out of memory", q.what);
		rc = TM_GITHUB_UNAVAILABLE;
		goto out_wipe_form;
	}
	q.form = form.data;
	q.deadline_ms =
		tm_mono_ms() + (c->timeout_ms > 0 ? c->timeout_ms : TM_GITHUB_TIMEOUT_MS_DEFAULT);
	rc = gh_call(&q, &j, &wait_s, err, errlen);
	if (rc == TM_GITHUB_UNAUTHORIZED) /* no token was sent: GitHub refused the app */
		rc = TM_GITHUB_UNAVAILABLE;
	else if (rc == TM_GITHUB_OK)
		rc = parse_token(j, token, tokenlen, err, errlen);
	if (rc == TM_GITHUB_RATE_LIMITED && retry_after_s)
		*retry_after_s = wait_s;
	cJSON_Delete(j); /* cJSON frees without wiping; the reply body already was */
out_wipe_form:
	buf_wipe_free(&form);
	return rc;
}

/* ---- the user ----------------------------------------------------------------------------- */

/* id, login and name of a GET /user reply into u. */
static enum tm_github_rc parse_user(const cJSON *j, struct tm_github_user *u, char *err,
				    size_t errlen)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *login = cJSON_GetObjectItemCaseSensitive(j, "login");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");

	if (!cJSON_IsObject(j) || !cJSON_IsNumber(id) || !(id->valuedouble >= 1) ||
	    id->valuedouble > GH_ID_MAX || floor(id->valuedouble) != id->valuedouble) {
		set_err(err, errlen, "GET /user: no numeric id in the response");
		return TM_GITHUB_UNAVAILABLE;
	}
	if (!cJSON_IsString(login) || !login_ok(login->valuestring, sizeof(u->login))) {
		set_err(err, errlen, "GET /user: no valid login in the response");
		return TM_GITHUB_UNAVAILABLE;
	}
	if (name && !cJSON_IsNull(name) &&
	    (!cJSON_IsString(name) ||
	     (name->valuestring[0] && !text_ok(name->valuestring, strlen(name->valuestring))))) {
		set_err(err, errlen, "GET /user: the name is not text");
		return TM_GITHUB_UNAVAILABLE;
	}
	u->id = (int64_t)id->valuedouble;
	snprintf(u->login, sizeof(u->login), "%s", login->valuestring);
	if (cJSON_IsString(name))
		copy_utf8_cut(u->name, sizeof(u->name), name->valuestring);
	return TM_GITHUB_OK;
}

/* The primary verified address of a GET /user/emails reply into u. Every
 * entry looked at must have the documented types. */
static enum tm_github_rc parse_emails(const cJSON *j, struct tm_github_user *u, char *err,
				      size_t errlen)
{
	const cJSON *e;
	int n = 0;

	if (!cJSON_IsArray(j)) {
		set_err(err, errlen, "GET /user/emails: the response is not an array");
		return TM_GITHUB_UNAVAILABLE;
	}
	cJSON_ArrayForEach(e, j)
	{
		if (n++ == GH_EMAILS_MAX)
			break;
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(e, "email");
		const cJSON *primary = cJSON_GetObjectItemCaseSensitive(e, "primary");
		const cJSON *verified = cJSON_GetObjectItemCaseSensitive(e, "verified");
		const cJSON *vis = cJSON_GetObjectItemCaseSensitive(e, "visibility");
		if (!cJSON_IsObject(e) || !cJSON_IsString(addr) || !cJSON_IsBool(primary) ||
		    !cJSON_IsBool(verified) ||
		    (vis && !cJSON_IsString(vis) && !cJSON_IsNull(vis))) {
			set_err(err, errlen, "GET /user/emails: entry %d is malformed", n);
			return TM_GITHUB_UNAVAILABLE;
		}
		if (!cJSON_IsTrue(primary) || !cJSON_IsTrue(verified) || u->email_verified)
			continue;
		if (!email_ok(addr->valuestring, sizeof(u->email))) {
			set_err(err, errlen, "GET /user/emails: the primary address is malformed");
			return TM_GITHUB_UNAVAILABLE;
		}
		snprintf(u->email, sizeof(u->email), "%s", addr->valuestring);
		u->email_verified = true;
	}
	return TM_GITHUB_OK;
}

enum tm_github_rc tm_github_get_user(const struct tm_github_config *c, const char *token,
				     struct tm_github_user *u, int *retry_after_s, char *err,
				     size_t errlen)
{
	char base[GH_URL_MAX], url[GH_URL_MAX + 64], auth[TM_GITHUB_TOKEN_MAX + 32];
	struct gh_request q = {.url = url, .rest = true, .auth = auth};
	cJSON *j = NULL;
	int wait_s = 0;
	enum tm_github_rc rc;

	set_err(err, errlen, "%s", "");
	if (retry_after_s)
		*retry_after_s = 0;
	if (!u) {
		set_err(err, errlen, "no user to fill");
		return TM_GITHUB_UNAVAILABLE;
	}
	memset(u, 0, sizeof(*u));
	if (!c ||
	    base_url(c->api_url, TM_GITHUB_API_URL_DEFAULT, base, sizeof(base), &q.http) != 0) {
		set_err(err, errlen, "TM_GITHUB_API_URL is not an http(s) URL without a query");
		return TM_GITHUB_UNAVAILABLE;
	}
	if (!token_ok(token)) {
		set_err(err, errlen, "the access token is empty, too long or not visible ASCII");
		return TM_GITHUB_UNAUTHORIZED;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	q.deadline_ms =
		tm_mono_ms() + (c->timeout_ms > 0 ? c->timeout_ms : TM_GITHUB_TIMEOUT_MS_DEFAULT);
	q.what = "GET /user";
	snprintf(url, sizeof(url), "%s/user", base);
	rc = gh_call(&q, &j, &wait_s, err, errlen);
	if (rc == TM_GITHUB_OK)
		rc = parse_user(j, u, err, errlen);
	cJSON_Delete(j);
	j = NULL;
	if (rc != TM_GITHUB_OK)
		goto out;
	q.what = "GET /user/emails";
	snprintf(url, sizeof(url), "%s/user/emails?per_page=%d", base, GH_EMAILS_MAX);
	rc = gh_call(&q, &j, &wait_s, err, errlen);
	if (rc == TM_GITHUB_OK)
		rc = parse_emails(j, u, err, errlen);
	cJSON_Delete(j);
out:
	explicit_bzero(auth, sizeof(auth));
	if (rc == TM_GITHUB_RATE_LIMITED && retry_after_s)
		*retry_after_s = wait_s;
	if (rc != TM_GITHUB_OK)
		memset(u, 0, sizeof(*u));
	return rc;
}
