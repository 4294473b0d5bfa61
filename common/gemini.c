/* Google Gemini generateContent and batchEmbedContents over libcurl; see tm/gemini.h. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "tm/buf.h"
#include "tm/gemini.h"
#include "tm/outbound.h"
#include "tm/util.h"

#define GM_URL_MAX 1024			 /* bytes of a configured base URL */
#define GM_WHAT_MAX 192			 /* bytes of "POST /models/<model>:<method>" */
#define GM_MESSAGE_MAX 200		 /* bytes of Gemini's error message quoted in err */
#define GM_STATUS_MAX 48		 /* bytes of Gemini's error status ("RESOURCE_EXHAUSTED") */
#define GM_QUOTA_ID_MAX 128		 /* bytes of a quotaId quoted in err */
#define GM_REASON_MAX 48		 /* bytes of a blockReason or finishReason quoted in err */
#define GM_DETAILS_MAX 16		 /* error.details[] entries looked at */
#define GM_VIOLATIONS_MAX 16		 /* violations[] of one QuotaFailure looked at */
#define GM_PARTS_MAX 256		 /* parts of a candidate; more is BAD_RESPONSE */
#define GM_WAIT_S_MAX 86400		 /* named waits are read up to a day (over any bound) */
#define GM_REQUEST_MAX (8 * 1024 * 1024) /* bytes of a request; the input limits stay under */
#define GM_TEMPERATURE "0.2"

/* Finish reasons that mean the answer was withheld, not merely cut. */
static const char *const blocked_finish_reasons[] = {
	"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
};

/* One call, checked and ready to send (at most max_attempts times). */
struct gm_call {
	char what[GM_WHAT_MAX];		    /* "POST /models/m:generateContent": names it in err */
	char url[GM_URL_MAX + GM_WHAT_MAX]; /* base URL + path; never holds the key */
	bool http;	  /* the configured base is http: allow it besides https */
	const char *key;  /* the API key, checked by key_ok */
	const char *body; /* the JSON request */
	size_t body_len;
	int timeout_ms;	  /* per attempt */
	int max_attempts; /* 1..TM_GEMINI_ATTEMPTS_MAX */
	int base_ms;	  /* backoff */
	int cap_ms;
};

/* What one attempt came to. */
struct gm_verdict {
	enum tm_gemini_rc rc;
	bool retry;	 /* another attempt may do better */
	int64_t wait_ms; /* the wait the server named before the next one; -1 if none */
};

/* The parts of a Google error body {"error": {code, message, status, details}} we use. */
struct gm_error {
	char status[GM_STATUS_MAX];	/* "" when absent */
	char message[GM_MESSAGE_MAX];	/* control characters blanked, cut; "" when absent */
	char quota_id[GM_QUOTA_ID_MAX]; /* the per-day violation if any, else the first */
	bool per_day;			/* a QuotaFailure violation names a per-day quota */
	int64_t retry_delay_ms;		/* google.rpc.RetryInfo retryDelay; -1 if none */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_err(char *err, size_t errlen, const char *fmt, ...)
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

/* Appends to err when the caller gave one (cut when full). */
static void add_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (!err || errlen == 0)
		return;
	used = strnlen(err, errlen - 1);
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

/* Overwrites every copy of the key in err with '*' (a server message might quote it). */
static void mask_key(char *err, size_t errlen, const char *key)
{
	size_t kl = key ? strnlen(key, TM_GEMINI_API_KEY_MAX + 1) : 0;

	if (!err || errlen == 0 || kl == 0)
		return;
	err[errlen - 1] = '\0';
	for (char *p = strstr(err, key); p; p = strstr(p + kl, key))
		memset(p, '*', kl);
}

const char *tm_gemini_rc_name(enum tm_gemini_rc rc)
{
	switch (rc) {
	case TM_GEMINI_OK:
		return "ok";
	case TM_GEMINI_BAD_REQUEST:
		return "bad_request";
	case TM_GEMINI_RATE_LIMITED:
		return "rate_limited";
	case TM_GEMINI_UNAVAILABLE:
		return "unavailable";
	case TM_GEMINI_BLOCKED:
		return "blocked";
	case TM_GEMINI_BAD_RESPONSE:
		return "bad_response";
	}
	return "unknown";
}

/* ---- input checks ---------------------------------------------------------------------- */

/* True if s is 1..max bytes of valid UTF-8 (control characters allowed: they are escaped). */
static bool utf8_text_ok(const char *s, size_t max)
{
	size_t len = s ? strnlen(s, max + 1) : 0;

	return len > 0 && len <= max && tm_utf8_valid(s, len);
}

/* The API key goes into a header line: 1..TM_GEMINI_API_KEY_MAX visible ASCII, no spaces. */
static bool key_ok(const char *s)
{
	size_t len = s ? strnlen(s, TM_GEMINI_API_KEY_MAX + 1) : 0;

	if (len == 0 || len > TM_GEMINI_API_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* A name that goes into the URL path: letters, digits, '.', '-', '_'; 1..max bytes. */
static bool name_ok(const char *s, size_t max)
{
	size_t len = s ? strnlen(s, max + 1) : 0;

	if (len == 0 || len > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* A task type: upper-case letters and '_', 1..TM_GEMINI_TASK_TYPE_MAX bytes. */
static bool task_type_ok(const char *s)
{
	size_t len = strnlen(s, TM_GEMINI_TASK_TYPE_MAX + 1);

	if (len == 0 || len > TM_GEMINI_TASK_TYPE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
			return false;
	return true;
}

/*
 * The configured base URL (or the default when NULL or "") into out, without
 * a trailing '/'. It must be http(s), fit, and hold no spaces, control
 * characters, query or fragment. *http tells whether the scheme is http.
 * Returns 0 or -1.
 */
static int base_url(const char *configured, char *out, size_t outlen, bool *http)
{
	const char *u = configured && *configured ? configured : TM_GEMINI_BASE_URL_DEFAULT;
	size_t len = strnlen(u, outlen);

	if (len == 0 || len >= outlen || !tm_utf8_valid(u, len) || strpbrk(u, " ?#"))
		return -1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
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

/*
 * Checks the configuration shared by both calls and fills q for
 * POST <base>/models/<model>:<method> (a "models/" prefix of the model name
 * is accepted). Returns OK or BAD_REQUEST with err.
 */
static enum tm_gemini_rc setup_call(const struct tm_gemini_config *c, const char *model,
				    const char *method, struct gm_call *q, char *err, size_t errlen)
{
	char base[GM_URL_MAX];
	int n;

	memset(q, 0, sizeof(*q));
	if (!c || base_url(c->base_url, base, sizeof(base), &q->http) != 0) {
		set_err(err, errlen, "TM_GEMINI_BASE_URL is not an http(s) URL without a query");
		return TM_GEMINI_BAD_REQUEST;
	}
	if (!key_ok(c->api_key)) {
		set_err(err, errlen,
			"GEMINI_API_KEY is empty, longer than %d bytes or not visible ASCII; set it",
			TM_GEMINI_API_KEY_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	if (model && strncmp(model, "models/", 7) == 0)
		model += 7;
	if (!name_ok(model, TM_GEMINI_MODEL_MAX)) {
		set_err(err, errlen,
			"the %s model name is empty, longer than %d bytes or not letters, digits, "
			"'.', '-' and '_'; check the configuration",
			method, TM_GEMINI_MODEL_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	snprintf(q->what, sizeof(q->what), "POST /models/%s:%s", model, method);
	n = snprintf(q->url, sizeof(q->url), "%s/models/%s:%s", base, model, method);
	assert(n > 0 && (size_t)n < sizeof(q->url)); /* base and model are bounded above */
	q->key = c->api_key;
	q->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : TM_GEMINI_TIMEOUT_MS_DEFAULT;
	q->max_attempts = c->max_attempts < 1			   ? 1 :
			  c->max_attempts > TM_GEMINI_ATTEMPTS_MAX ? TM_GEMINI_ATTEMPTS_MAX :
								     c->max_attempts;
	q->base_ms = c->backoff_base_ms > 0 ? c->backoff_base_ms :
					      TM_GEMINI_BACKOFF_BASE_MS_DEFAULT;
	q->cap_ms = c->backoff_cap_ms > 0 ? c->backoff_cap_ms : TM_GEMINI_BACKOFF_CAP_MS_DEFAULT;
	if (q->cap_ms < q->base_ms)
		q->cap_ms = q->base_ms;
	return TM_GEMINI_OK;
}

/* ---- one attempt ------------------------------------------------------------------------ */

/* The reply header every attempt keeps: captured[0]. */
static const char *const gm_capture[] = {"retry-after", NULL};

/* Copies s into out with control characters blanked, cut at a code point;
 * "" if s is not valid UTF-8. */
static void copy_text(char *out, size_t outlen, const char *s)
{
	size_t len = strlen(s);

	out[0] = '\0';
	if (!tm_utf8_valid(s, len))
		return;
	if (len >= outlen) {
		len = outlen - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	out[len] = '\0';
}

/* A protobuf Duration in JSON ("23s", "0.250s") in ms, rounded up; -1 if it is not one. */
static int64_t duration_ms(const char *s)
{
	int64_t whole = 0, frac_ms = 0;
	int digits = 0, fdigits = 0;
	bool rest = false; /* non-zero digits past the milliseconds */

	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if (whole <= GM_WAIT_S_MAX)
			whole = whole * 10 + (*s - '0');
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, fdigits++) {
			if (fdigits < 3)
				frac_ms = frac_ms * 10 + (*s - '0');
			else if (*s != '0')
				rest = true;
		}
	if (digits == 0 || s[0] != 's' || s[1] != '\0' || fdigits > 9)
		return -1;
	for (int i = fdigits; i < 3; i++)
		frac_ms *= 10;
	if (whole > GM_WAIT_S_MAX)
		whole = GM_WAIT_S_MAX;
	return whole * 1000 + frac_ms + (rest ? 1 : 0);
}

/* The QuotaFailure violations and RetryInfo of error.details[] into e. */
static void parse_details(const cJSON *details, struct gm_error *e)
{
	const cJSON *d, *v;
	int nd = 0;

	cJSON_ArrayForEach(d, details)
	{
		if (nd++ == GM_DETAILS_MAX)
			break;
		const cJSON *delay = cJSON_GetObjectItemCaseSensitive(d, "retryDelay");
		const cJSON *violations = cJSON_GetObjectItemCaseSensitive(d, "violations");
		int nv = 0;
		if (cJSON_IsString(delay) && e->retry_delay_ms < 0)
			e->retry_delay_ms = duration_ms(delay->valuestring);
		if (!cJSON_IsArray(violations))
			continue;
		cJSON_ArrayForEach(v, violations)
		{
			if (nv++ == GM_VIOLATIONS_MAX)
				break;
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "quotaId");
			if (!cJSON_IsString(id) || e->per_day)
				continue;
			bool day = strstr(id->valuestring, "PerDay") != NULL;
			if (day || !e->quota_id[0])
				copy_text(e->quota_id, sizeof(e->quota_id), id->valuestring);
			e->per_day = day;
		}
	}
}

/* Whatever of a Google error body can be used; fields stay empty when absent or malformed. */
static void parse_error(const struct tm_outbound_response *r, struct gm_error *e)
{
	cJSON *j = r->body.len ? cJSON_ParseWithLength(r->body.data, r->body.len) : NULL;
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
	const cJSON *message = cJSON_GetObjectItemCaseSensitive(o, "message");
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(o, "details");

	memset(e, 0, sizeof(*e));
	e->retry_delay_ms = -1;
	if (cJSON_IsString(status))
		copy_text(e->status, sizeof(e->status), status->valuestring);
	if (cJSON_IsString(message))
		copy_text(e->message, sizeof(e->message), message->valuestring);
	if (cJSON_IsArray(details))
		parse_details(details, e);
	cJSON_Delete(j);
}

/* The wait a Retry-After header names, in ms; -1 if none or unreadable. */
static int64_t retry_after_ms(const struct tm_outbound_response *r)
{
	const char *retry_after = r->captured[0];
	int64_t v;

	if (!retry_after[0])
		return -1;
	if (tm_parse_int64(retry_after, &v) == 0)
		return v < 0 ? -1 : (v > GM_WAIT_S_MAX ? GM_WAIT_S_MAX : v) * 1000;
	time_t t = curl_getdate(retry_after, NULL);
	if (t == (time_t)-1)
		return -1;
	v = (int64_t)t - (int64_t)time(NULL);
	return (v < 0 ? 0 : v > GM_WAIT_S_MAX ? GM_WAIT_S_MAX : v) * 1000;
}

/* The verdict on a non-200 status, with err saying why. */
static struct gm_verdict judge_status(const struct gm_call *q, const struct tm_outbound_response *r,
				      char *err, size_t errlen)
{
	struct gm_verdict v = {.rc = TM_GEMINI_BAD_RESPONSE, .wait_ms = -1};
	char hint[GM_QUOTA_ID_MAX + 64] = "";
	struct gm_error e;

	parse_error(r, &e);
	if (r->status == 429 && e.per_day) {
		v.rc = TM_GEMINI_RATE_LIMITED;
		set_err(err, errlen,
			"%s: Gemini's per-day quota %s is used up (429); it resets at midnight "
			"Pacific time, so the call was not retried",
			q->what, e.quota_id);
		return v;
	}
	if (r->status == 429) {
		v.rc = TM_GEMINI_RATE_LIMITED;
		v.retry = true;
		v.wait_ms = retry_after_ms(r);
		if (v.wait_ms < 0)
			v.wait_ms = e.retry_delay_ms;
		if (e.quota_id[0])
			snprintf(hint, sizeof(hint), " (quota %s)", e.quota_id);
	} else if (r->status == 408 || (r->status >= 500 && r->status < 600)) {
		v.rc = TM_GEMINI_UNAVAILABLE;
		v.retry = true;
		v.wait_ms = retry_after_ms(r);
	} else if (r->status >= 400 && r->status < 500) {
		v.rc = TM_GEMINI_BAD_REQUEST;
		if (r->status == 401 || r->status == 403)
			snprintf(hint, sizeof(hint), "; check GEMINI_API_KEY");
		else if (r->status == 404)
			snprintf(hint, sizeof(hint),
				 "; check the model name and TM_GEMINI_BASE_URL");
	} else if (r->status >= 300 && r->status < 400) {
		snprintf(hint, sizeof(hint), " (redirects are not followed)");
	}
	set_err(err, errlen, "%s: Gemini answered %ld%s%s%s%s%s", q->what, r->status,
		e.status[0] ? " " : "", e.status, e.message[0] ? ": " : "", e.message, hint);
	return v;
}

/*
 * Sends the request once and judges the reply: OK with *json set (the
 * caller deletes it) for a 200 that is JSON, else a verdict with err.
 * headers are the request's header lines, NULL-terminated.
 */
static struct gm_verdict gm_attempt(const struct gm_call *q, const char *const *headers,
				    cJSON **json, char *err, size_t errlen)
{
	const struct tm_outbound_request oq = {
		.method = "POST",
		.url = q->url,
		.allow_http = q->http,
		.headers = headers,
		.body = q->body,
		.body_len = q->body_len,
		.timeout_ms = q->timeout_ms,
		.body_max = TM_GEMINI_BODY_MAX,
		.capture = gm_capture,
	};
	struct gm_verdict v = {.rc = TM_GEMINI_UNAVAILABLE, .wait_ms = -1};
	struct tm_outbound_response r;
	enum tm_outbound_rc orc = tm_outbound_do(&oq, &r);

	if (orc != TM_OUTBOUND_OK) {
		set_err(err, errlen, "%s: %s", q->what, r.error);
		if (orc == TM_OUTBOUND_TOO_LARGE)
			v.rc = TM_GEMINI_BAD_RESPONSE;
		v.retry = orc == TM_OUTBOUND_TIMEOUT || orc == TM_OUTBOUND_TRANSPORT;
	} else if (r.status != 200) {
		v = judge_status(q, &r, err, errlen);
	} else if (!(*json = r.body.len ? cJSON_ParseWithLength(r.body.data, r.body.len) : NULL)) {
		set_err(err, errlen, "%s: the reply is not JSON", q->what);
		v.rc = TM_GEMINI_BAD_RESPONSE;
	} else {
		v.rc = TM_GEMINI_OK;
	}
	tm_buf_free(&r.body);
	return v;
}

/*
 * POSTs q->body up to q->max_attempts times (see the retry rules in
 * tm/gemini.h): OK with *json set (the caller deletes it), or the last
 * attempt's result with err. *attempts is the number of attempts made.
 */
static enum tm_gemini_rc gm_post(const struct gm_call *q, cJSON **json, int *attempts, char *err,
				 size_t errlen)
{
	char key_header[TM_GEMINI_API_KEY_MAX + 32];
	const char *const headers[] = {"Content-Type: application/json", "Accept: application/json",
				       key_header, NULL};
	struct gm_verdict v = {.rc = TM_GEMINI_UNAVAILABLE, .wait_ms = -1};
	int64_t named_max_ms = (int64_t)TM_GEMINI_NAMED_WAIT_FACTOR * q->cap_ms;

	*json = NULL;
	*attempts = 0;
	snprintf(key_header, sizeof(key_header), "x-goog-api-key: %s", q->key);
	for (int n = 1; n <= q->max_attempts; n++) {
		*attempts = n;
		v = gm_attempt(q, headers, json, err, errlen);
		if (!v.retry || n == q->max_attempts)
			break;
		if (v.wait_ms > named_max_ms) {
			add_err(err, errlen,
				"; Gemini asks to wait %lld ms, more than the %lld ms allowed "
				"(%d x the backoff cap): not retried",
				(long long)v.wait_ms, (long long)named_max_ms,
				TM_GEMINI_NAMED_WAIT_FACTOR);
			break;
		}
		tm_sleep_ms(v.wait_ms >= 0 ? v.wait_ms :
					     tm_backoff_ms(n - 1, q->base_ms, q->cap_ms));
	}
	if (v.rc != TM_GEMINI_OK && *attempts > 1)
		add_err(err, errlen, " (after %d attempts)", *attempts);
	explicit_bzero(key_header, sizeof(key_header));
	return v.rc;
}

/* ---- generateContent -------------------------------------------------------------------- */

/* Checks the inputs of a generate call; *schema gets the schema re-printed compactly
 * (the caller frees it with cJSON_free). Returns OK, or BAD_REQUEST (UNAVAILABLE when
 * out of memory) with err. */
static enum tm_gemini_rc check_generate(const char *system_instruction, const char *prompt,
					const char *schema_json, struct tm_buf *out, char **schema,
					char *err, size_t errlen)
{
	cJSON *s;

	*schema = NULL;
	if (!out) {
		set_err(err, errlen, "no buffer for the answer");
		return TM_GEMINI_BAD_REQUEST;
	}
	if (!utf8_text_ok(prompt, TM_GEMINI_PROMPT_MAX)) {
		set_err(err, errlen, "the prompt is empty, longer than %d bytes or not UTF-8",
			TM_GEMINI_PROMPT_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	if (system_instruction && system_instruction[0] &&
	    !utf8_text_ok(system_instruction, TM_GEMINI_PROMPT_MAX)) {
		set_err(err, errlen, "the system instruction is longer than %d bytes or not UTF-8",
			TM_GEMINI_PROMPT_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	if (!utf8_text_ok(schema_json, TM_GEMINI_SCHEMA_MAX)) {
		set_err(err, errlen,
			"the response schema is empty, longer than %d bytes or not UTF-8",
			TM_GEMINI_SCHEMA_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	s = cJSON_Parse(schema_json);
	if (!cJSON_IsObject(s)) {
		cJSON_Delete(s);
		set_err(err, errlen, "the response schema is not a JSON object");
		return TM_GEMINI_BAD_REQUEST;
	}
	*schema = cJSON_PrintUnformatted(s);
	cJSON_Delete(s);
	if (!*schema) {
		set_err(err, errlen, "out of memory");
		return TM_GEMINI_UNAVAILABLE;
	}
	return TM_GEMINI_OK;
}

/* The generateContent request (see tm/gemini.h) into b; false if out of memory. */
static bool generate_body(struct tm_buf *b, const char *system_instruction, const char *prompt,
			  const char *schema)
{
	tm_buf_putc(b, '{');
	if (system_instruction && system_instruction[0]) {
		tm_buf_puts(b, "\"systemInstruction\":{\"parts\":[{\"text\":");
		tm_buf_json_str(b, system_instruction, strlen(system_instruction));
		tm_buf_puts(b, "}]},");
	}
	tm_buf_puts(b, "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":");
	tm_buf_json_str(b, prompt, strlen(prompt));
	tm_buf_puts(b, "}]}],\"generationConfig\":{\"responseMimeType\":\"application/json\","
		       "\"responseSchema\":");
	tm_buf_puts(b, schema);
	tm_buf_puts(b, ",\"temperature\":" GM_TEMPERATURE "}}");
	assert(b->failed || b->len <= GM_REQUEST_MAX);
	return !b->failed;
}

/* BLOCKED when the prompt feedback names a block reason; OK otherwise. */
static enum tm_gemini_rc prompt_feedback(const struct gm_call *q, const cJSON *j, char *err,
					 size_t errlen)
{
	const cJSON *pf = cJSON_GetObjectItemCaseSensitive(j, "promptFeedback");
	const cJSON *br = cJSON_GetObjectItemCaseSensitive(pf, "blockReason");
	char reason[GM_REASON_MAX];

	if (pf && (!cJSON_IsObject(pf) || (br && !cJSON_IsString(br)))) {
		set_err(err, errlen, "%s: malformed promptFeedback in the reply", q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	if (br && strcmp(br->valuestring, "BLOCK_REASON_UNSPECIFIED") != 0) {
		copy_text(reason, sizeof(reason), br->valuestring);
		set_err(err, errlen, "%s: Gemini blocked the prompt (blockReason %s)", q->what,
			reason);
		return TM_GEMINI_BLOCKED;
	}
	return TM_GEMINI_OK;
}

/* BLOCKED or BAD_RESPONSE for a finish reason that withheld or cut the answer. */
static enum tm_gemini_rc finish_reason(const struct gm_call *q, const cJSON *cand, char *err,
				       size_t errlen)
{
	const cJSON *fr = cJSON_GetObjectItemCaseSensitive(cand, "finishReason");
	char reason[GM_REASON_MAX];

	if (!fr)
		return TM_GEMINI_OK;
	if (!cJSON_IsString(fr)) {
		set_err(err, errlen, "%s: finishReason is not a string", q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	copy_text(reason, sizeof(reason), fr->valuestring);
	for (size_t i = 0; i < TM_ARRAY_LEN(blocked_finish_reasons); i++) {
		if (strcmp(fr->valuestring, blocked_finish_reasons[i]) == 0) {
			set_err(err, errlen, "%s: Gemini withheld the answer (finishReason %s)",
				q->what, reason);
			return TM_GEMINI_BLOCKED;
		}
	}
	if (strcmp(fr->valuestring, "MAX_TOKENS") == 0) {
		set_err(err, errlen, "%s: the answer was cut at the output token limit (%s)",
			q->what, reason);
		return TM_GEMINI_BAD_RESPONSE;
	}
	return TM_GEMINI_OK;
}

/* The text parts of a candidate's content, concatenated into text (thoughts skipped). */
static enum tm_gemini_rc candidate_text(const struct gm_call *q, const cJSON *cand,
					struct tm_buf *text, char *err, size_t errlen)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(cand, "content");
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(content, "role");
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(content, "parts");
	const cJSON *p;
	int n = 0;

	if (!cJSON_IsObject(content) || (role && !cJSON_IsString(role)) || !cJSON_IsArray(parts)) {
		set_err(err, errlen, "%s: candidates[0] has no content with parts", q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	cJSON_ArrayForEach(p, parts)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
		const cJSON *thought = cJSON_GetObjectItemCaseSensitive(p, "thought");
		if (n++ == GM_PARTS_MAX || !cJSON_IsObject(p) || (t && !cJSON_IsString(t)) ||
		    (thought && !cJSON_IsBool(thought))) {
			set_err(err, errlen, "%s: part %d of candidates[0] is malformed", q->what,
				n);
			return TM_GEMINI_BAD_RESPONSE;
		}
		if (t && !cJSON_IsTrue(thought))
			tm_buf_puts(text, t->valuestring);
	}
	if (text->failed) {
		set_err(err, errlen, "%s: out of memory", q->what);
		return TM_GEMINI_UNAVAILABLE;
	}
	if (text->len == 0 || !tm_utf8_valid(text->data, text->len)) {
		set_err(err, errlen, "%s: candidates[0] holds no text, or text that is not UTF-8",
			q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	return TM_GEMINI_OK;
}

/* A generateContent reply into text: OK, BLOCKED or BAD_RESPONSE with err. */
static enum tm_gemini_rc parse_generate(const struct gm_call *q, const cJSON *j,
					struct tm_buf *text, char *err, size_t errlen)
{
	const cJSON *cands = cJSON_GetObjectItemCaseSensitive(j, "candidates");
	enum tm_gemini_rc rc;

	if (!cJSON_IsObject(j)) {
		set_err(err, errlen, "%s: the reply is not a JSON object", q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	rc = prompt_feedback(q, j, err, errlen);
	if (rc != TM_GEMINI_OK)
		return rc;
	if (!cands || (cJSON_IsArray(cands) && cJSON_GetArraySize(cands) == 0)) {
		set_err(err, errlen, "%s: no candidates in the reply (blocked without a reason)",
			q->what);
		return TM_GEMINI_BLOCKED;
	}
	if (!cJSON_IsArray(cands) || !cJSON_IsObject(cands->child)) {
		set_err(err, errlen, "%s: candidates is not an array of objects", q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	rc = finish_reason(q, cands->child, err, errlen);
	if (rc != TM_GEMINI_OK)
		return rc;
	return candidate_text(q, cands->child, text, err, errlen);
}

enum tm_gemini_rc tm_gemini_generate_json(const struct tm_gemini_config *c,
					  const char *system_instruction, const char *prompt,
					  const char *response_schema_json, struct tm_buf *out,
					  int *attempts_used, char *err, size_t errlen)
{
	struct gm_call q;
	struct tm_buf body, text;
	char *schema = NULL;
	cJSON *j = NULL;
	int attempts = 0;
	enum tm_gemini_rc rc;

	set_err(err, errlen, "%s", "");
	tm_buf_init(&body);
	tm_buf_init(&text);
	rc = setup_call(c, c ? c->model : NULL, "generateContent", &q, err, errlen);
	if (rc == TM_GEMINI_OK)
		rc = check_generate(system_instruction, prompt, response_schema_json, out, &schema,
				    err, errlen);
	if (rc != TM_GEMINI_OK)
		goto out;
	if (!generate_body(&body, system_instruction, prompt, schema)) {
		set_err(err, errlen, "%s: out of memory", q.what);
		rc = TM_GEMINI_UNAVAILABLE;
		goto out;
	}
	q.body = body.data;
	q.body_len = body.len;
	rc = gm_post(&q, &j, &attempts, err, errlen);
	if (rc == TM_GEMINI_OK)
		rc = parse_generate(&q, j, &text, err, errlen);
	if (rc == TM_GEMINI_OK) {
		size_t before = out->len;
		tm_buf_append(out, text.data, text.len);
		if (out->failed) {
			out->len = before;
			set_err(err, errlen, "%s: out of memory", q.what);
			rc = TM_GEMINI_UNAVAILABLE;
		}
	}
out:
	cJSON_Delete(j);
	cJSON_free(schema);
	tm_buf_free(&text);
	tm_buf_free(&body);
	if (attempts_used)
		*attempts_used = attempts;
	mask_key(err, errlen, c ? c->api_key : NULL);
	return rc;
}

/* ---- batchEmbedContents ----------------------------------------------------------------- */

/* Checks the inputs of an embed call. Returns OK or BAD_REQUEST with err. */
static enum tm_gemini_rc check_embed(const char *const *texts, size_t n, const char *task_type,
				     int dims, const float *out, char *err, size_t errlen)
{
	if (n < 1 || n > TM_GEMINI_EMBED_BATCH_MAX || !texts) {
		set_err(err, errlen, "%zu texts to embed; one call takes 1 to %d", n,
			TM_GEMINI_EMBED_BATCH_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	if (dims < 1 || dims > TM_GEMINI_EMBED_DIMS_MAX || !out) {
		set_err(err, errlen, "%d dimensions asked (1 to %d) or no room for the vectors",
			dims, TM_GEMINI_EMBED_DIMS_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	if (n * (size_t)dims > TM_GEMINI_EMBED_VALUES_MAX) {
		set_err(err, errlen,
			"%zu texts of %d dimensions make %zu values, more than the %d one reply "
			"may hold; split the batch",
			n, dims, n * (size_t)dims, TM_GEMINI_EMBED_VALUES_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	if (task_type && !task_type_ok(task_type)) {
		set_err(err, errlen, "the task type is not 1 to %d upper-case letters and '_'",
			TM_GEMINI_TASK_TYPE_MAX);
		return TM_GEMINI_BAD_REQUEST;
	}
	for (size_t i = 0; i < n; i++) {
		if (!utf8_text_ok(texts[i], TM_GEMINI_EMBED_TEXT_MAX)) {
			set_err(err, errlen,
				"text %zu to embed is empty, longer than %d bytes or not UTF-8", i,
				TM_GEMINI_EMBED_TEXT_MAX);
			return TM_GEMINI_BAD_REQUEST;
		}
	}
	return TM_GEMINI_OK;
}

/* The batchEmbedContents request (see tm/gemini.h) into b; false if out of memory. */
static bool embed_body(struct tm_buf *b, const char *model, const char *const *texts, size_t n,
		       const char *task_type, int dims)
{
	if (strncmp(model, "models/", 7) == 0)
		model += 7;
	tm_buf_puts(b, "{\"requests\":[");
	for (size_t i = 0; i < n; i++) {
		tm_buf_puts(b, i ? ",{\"model\":\"models/" : "{\"model\":\"models/");
		tm_buf_puts(b, model); /* name_ok: nothing to escape */
		tm_buf_puts(b, "\",\"content\":{\"parts\":[{\"text\":");
		tm_buf_json_str(b, texts[i], strlen(texts[i]));
		tm_buf_puts(b, "}]}");
		if (task_type)
			tm_buf_printf(b, ",\"taskType\":\"%s\"", task_type); /* task_type_ok */
		tm_buf_printf(b, ",\"outputDimensionality\":%d}", dims);
	}
	tm_buf_puts(b, "]}");
	assert(b->failed || b->len <= GM_REQUEST_MAX);
	return !b->failed;
}

/* One embeddings[i] entry, L2-normalized, into row[dims]. */
static enum tm_gemini_rc embed_row(const struct gm_call *q, const cJSON *e, size_t i, int dims,
				   float *row, char *err, size_t errlen)
{
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
	const cJSON *v;
	double sum = 0, norm;
	int k = 0;

	if (!cJSON_IsObject(e) || !cJSON_IsArray(values)) {
		set_err(err, errlen, "%s: embeddings[%zu] has no values array", q->what, i);
		return TM_GEMINI_BAD_RESPONSE;
	}
	cJSON_ArrayForEach(v, values)
	{
		if (k == dims || !cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
			set_err(err, errlen,
				"%s: embeddings[%zu] has more than %d values or one not a number",
				q->what, i, dims);
			return TM_GEMINI_BAD_RESPONSE;
		}
		sum += v->valuedouble * v->valuedouble;
		k++;
	}
	norm = sqrt(sum);
	if (k != dims || !(norm > 0) || !isfinite(norm)) {
		set_err(err, errlen, "%s: embeddings[%zu] has %d values, not %d, or no length",
			q->what, i, k, dims);
		return TM_GEMINI_BAD_RESPONSE;
	}
	k = 0;
	cJSON_ArrayForEach(v, values)
	{
		row[k++] = (float)(v->valuedouble / norm);
	}
	return TM_GEMINI_OK;
}

/* A batchEmbedContents reply into out[n * dims]: OK or BAD_RESPONSE with err. */
static enum tm_gemini_rc parse_embed(const struct gm_call *q, const cJSON *j, size_t n, int dims,
				     float *out, char *err, size_t errlen)
{
	const cJSON *embs = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
	const cJSON *e;
	size_t i = 0;

	if (!cJSON_IsObject(j) || !cJSON_IsArray(embs)) {
		set_err(err, errlen, "%s: the reply has no embeddings array", q->what);
		return TM_GEMINI_BAD_RESPONSE;
	}
	if ((size_t)cJSON_GetArraySize(embs) != n) {
		set_err(err, errlen, "%s: %d embeddings in the reply for %zu texts", q->what,
			cJSON_GetArraySize(embs), n);
		return TM_GEMINI_BAD_RESPONSE;
	}
	cJSON_ArrayForEach(e, embs)
	{
		enum tm_gemini_rc rc =
			embed_row(q, e, i, dims, out + i * (size_t)dims, err, errlen);
		if (rc != TM_GEMINI_OK)
			return rc;
		i++;
	}
	return TM_GEMINI_OK;
}

enum tm_gemini_rc tm_gemini_embed(const struct tm_gemini_config *c, const char *const *texts,
				  size_t n, const char *task_type, int dims, float *out,
				  int *attempts_used, char *err, size_t errlen)
{
	struct gm_call q;
	struct tm_buf body;
	cJSON *j = NULL;
	int attempts = 0;
	enum tm_gemini_rc rc;

	set_err(err, errlen, "%s", "");
	tm_buf_init(&body);
	rc = check_embed(texts, n, task_type, dims, out, err, errlen);
	if (rc != TM_GEMINI_OK)
		goto out_no_vectors;
	memset(out, 0, n * (size_t)dims * sizeof(*out));
	rc = setup_call(c, c ? c->embed_model : NULL, "batchEmbedContents", &q, err, errlen);
	if (rc != TM_GEMINI_OK)
		goto out;
	if (!embed_body(&body, c->embed_model, texts, n, task_type, dims)) {
		set_err(err, errlen, "%s: out of memory", q.what);
		rc = TM_GEMINI_UNAVAILABLE;
		goto out;
	}
	q.body = body.data;
	q.body_len = body.len;
	rc = gm_post(&q, &j, &attempts, err, errlen);
	if (rc == TM_GEMINI_OK)
		rc = parse_embed(&q, j, n, dims, out, err, errlen);
out:
	if (rc != TM_GEMINI_OK)
		memset(out, 0, n * (size_t)dims * sizeof(*out));
out_no_vectors:
	cJSON_Delete(j);
	tm_buf_free(&body);
	if (attempts_used)
		*attempts_used = attempts;
	mask_key(err, errlen, c ? c->api_key : NULL);
	return rc;
}
