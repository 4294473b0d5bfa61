/* One outbound HTTP request over libcurl with the safe defaults; see tm/outbound.h. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "tm/buf.h"
#include "tm/outbound.h"

_Static_assert(TM_OUTBOUND_ERROR_MAX >= CURL_ERROR_SIZE + 64,
	       "libcurl's message and the name of its error fit");

/* What the callbacks of one transfer see. */
struct ob_transfer {
	const struct tm_outbound_request *q;
	struct tm_outbound_response *r;
	size_t n_capture; /* names in q->capture */
	bool too_large;	  /* the body went past q->body_max */
};

static void set_error(struct tm_outbound_response *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct tm_outbound_response *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

/* ---- callbacks ---------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct ob_transfer *t = ud;
	size_t len = size * n;

	assert(t->r->body.len <= t->q->body_max);
	if (len > t->q->body_max - t->r->body.len) {
		t->too_large = true;
		return 0; /* aborts the transfer */
	}
	tm_buf_append(&t->r->body, data, len);
	return t->r->body.failed ? 0 : len;
}

/* Keeps the value of header `name` (any case) into out if line (len bytes, not
 * NUL-terminated) is that header. A value that does not fit is ignored. */
static void keep_header(const char *line, size_t len, const char *name,
			char out[TM_OUTBOUND_VALUE_MAX])
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - v) >= TM_OUTBOUND_VALUE_MAX)
		return;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct ob_transfer *t = ud;
	size_t len = size * n;
	bool status_line = len >= 5 && strncmp(data, "HTTP/", 5) == 0;

	for (size_t i = 0; i < t->n_capture; i++) {
		if (status_line) /* a new response (after a 1xx): forget the last one's */
			t->r->captured[i][0] = '\0';
		else
			keep_header(data, len, t->q->capture[i], t->r->captured[i]);
	}
	return len;
}

/* ---- the request -------------------------------------------------------------------------- */

/* True if s can go into a header as it is: no CR or LF to start another line. */
static bool one_line(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* True if the URL's scheme is one q allows (https; http when allow_http). */
static bool scheme_ok(const struct tm_outbound_request *q)
{
	return q->url && (strncasecmp(q->url, "https://", 8) == 0 ||
			  (q->allow_http && strncasecmp(q->url, "http://", 7) == 0));
}

/* Checks q before anything is allocated; *n_capture gets the number of header
 * names to keep. Returns false with r->error. */
static bool request_ok(const struct tm_outbound_request *q, struct tm_outbound_response *r,
		       size_t *n_capture)
{
	bool get = q->method && strcmp(q->method, "GET") == 0;
	bool post = q->method && strcmp(q->method, "POST") == 0;
	size_t n;

	r->curl_code = CURLE_BAD_FUNCTION_ARGUMENT; /* unless it is the URL */
	if (!(get || post) || (get && q->body)) {
		set_error(r, "not sent: the method is not GET or POST, or a GET has a body");
		return false;
	}
	if (!scheme_ok(q)) {
		r->curl_code = CURLE_UNSUPPORTED_PROTOCOL;
		set_error(r, "not sent: the URL is not https%s", q->allow_http ? " or http" : "");
		return false;
	}
	if (q->timeout_ms < 1 || q->body_max < 1) {
		set_error(r, "not sent: no time (%d ms) or no room (%zu bytes) for the reply",
			  q->timeout_ms, q->body_max);
		return false;
	}
	for (n = 0; q->headers && q->headers[n]; n++) {
		if (n == TM_OUTBOUND_HEADERS_MAX || !one_line(q->headers[n])) {
			set_error(r, "not sent: more than %d header lines, or one with CR or LF",
				  TM_OUTBOUND_HEADERS_MAX);
			return false;
		}
	}
	if (q->user_agent && !one_line(q->user_agent)) {
		set_error(r, "not sent: the User-Agent holds CR or LF");
		return false;
	}
	for (n = 0; q->capture && q->capture[n]; n++) {
		if (n == TM_OUTBOUND_CAPTURE_MAX || !q->capture[n][0]) {
			set_error(r,
				  "not sent: more than %d reply headers to keep, or an empty name",
				  TM_OUTBOUND_CAPTURE_MAX);
			return false;
		}
	}
	*n_capture = n;
	r->curl_code = CURLE_OK;
	return true;
}

/* Wipes the header lines libcurl got (they may hold a token or a key), then frees them. */
static void free_headers(struct curl_slist *hl)
{
	for (struct curl_slist *t = hl; t; t = t->next)
		explicit_bzero(t->data, strlen(t->data));
	curl_slist_free_all(hl);
}

/* The caller's header lines and "Expect:" as a libcurl list; NULL if out of memory. */
static struct curl_slist *header_list(const struct tm_outbound_request *q)
{
	struct curl_slist *hl = NULL, *t;

	for (size_t i = 0; q->headers && q->headers[i]; i++) {
		t = curl_slist_append(hl, q->headers[i]);
		if (!t) {
			free_headers(hl);
			return NULL;
		}
		hl = t;
	}
	t = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip before a body */
	if (!t)
		free_headers(hl);
	return t;
}

static bool set_options(CURL *c, struct ob_transfer *t, struct curl_slist *hl, char *cerr)
{
	const struct tm_outbound_request *q = t->q;
	const char *protocols = q->allow_http ? "https,http" : "https";
	bool ok = true;

	ok &= curl_easy_setopt(c, CURLOPT_URL, q->url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols) == CURLE_OK;
#else
	long mask = CURLPROTO_HTTPS | (q->allow_http ? CURLPROTO_HTTP : 0);
	(void)protocols;
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS, mask) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, mask) == CURLE_OK;
#endif
	ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)q->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)q->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->body_max) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT,
			       q->user_agent ? q->user_agent : TM_OUTBOUND_USER_AGENT) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, t) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HEADERDATA, t) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr) == CURLE_OK;
	if (strcmp(q->method, "POST") == 0) {
		ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "") == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				       (curl_off_t)(q->body ? q->body_len : 0)) == CURLE_OK;
	} else {
		ok &= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	}
	return ok;
}

/* What curl_easy_perform's result cc comes to, with r->error for a failure. */
static enum tm_outbound_rc verdict(CURLcode cc, const struct ob_transfer *t, const char *cerr)
{
	struct tm_outbound_response *r = t->r;

	r->curl_code = (int)cc;
	if (cc == CURLE_OK) {
		assert(!t->too_large && !r->body.failed); /* on_body would have stopped it */
		return TM_OUTBOUND_OK;
	}
	if (t->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		set_error(r, "reply body larger than %zu bytes", t->q->body_max);
		return TM_OUTBOUND_TOO_LARGE;
	}
	if (r->body.failed || cc == CURLE_OUT_OF_MEMORY) {
		set_error(r, "out of memory");
		return TM_OUTBOUND_LOCAL;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		set_error(r, "no answer within %d ms", t->q->timeout_ms);
		return TM_OUTBOUND_TIMEOUT;
	}
	set_error(r, "%s%s%s", curl_easy_strerror(cc), cerr[0] ? ": " : "", cerr);
	return TM_OUTBOUND_TRANSPORT;
}

enum tm_outbound_rc tm_outbound_do(const struct tm_outbound_request *q,
				   struct tm_outbound_response *r)
{
	struct ob_transfer t = {.q = q, .r = r};
	char cerr[CURL_ERROR_SIZE] = "";
	enum tm_outbound_rc rc = TM_OUTBOUND_LOCAL;
	struct curl_slist *hl = NULL;
	CURL *c = NULL;
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	tm_buf_init(&r->body);
	if (!request_ok(q, r, &t.n_capture))
		return TM_OUTBOUND_LOCAL;
	c = curl_easy_init();
	hl = c ? header_list(q) : NULL;
	if (!hl) {
		r->curl_code = CURLE_OUT_OF_MEMORY;
		set_error(r, "out of memory (no curl handle or header list)");
		goto out;
	}
	if (!set_options(c, &t, hl, cerr)) {
		r->curl_code = CURLE_FAILED_INIT;
		set_error(r, "libcurl refused an option (is it older than 7.85?)");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK)
		r->status = 0;
	rc = verdict(cc, &t, cerr);
out:
	if (rc != TM_OUTBOUND_OK) { /* what came of the body may hold a secret */
		if (r->body.data)
			explicit_bzero(r->body.data, r->body.cap);
		tm_buf_free(&r->body);
	}
	free_headers(hl);
	curl_easy_cleanup(c);
	return rc;
}
