/*
 * The Gemini client of common/gemini.c against tests/support/fake_gemini.c, a
 * real HTTP server on a free 127.0.0.1 port speaking Gemini's REST wire
 * format. Each test gets a fresh fake; faults are armed per test. Besides the
 * result codes, the tests read what the fake recorded: the JSON the client
 * sent (parsed back), that the API key travelled only in the x-goog-api-key
 * header (checked after every test, in teardown), and how many attempts were
 * made. The only clock checks are a lower bound where a wait was asked for and
 * generous upper bounds on the timeout cases.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "../support/fake_gemini.h"
#include "../support/http.h"
#include "tm/buf.h"
#include "tm/gemini.h"
#include "tm/util.h"

#define CALL_TIMEOUT_MS 10000 /* calls that should be answered */
#define ATTEMPTS 3	      /* max_attempts of the fixture */
#define BACKOFF_BASE_MS 10    /* small: the retry tests stay fast */
#define BACKOFF_CAP_MS 300    /* named waits up to 4 x 300 ms are honoured */
#define SHORT_TIMEOUT_MS 500  /* the timeout cases */
#define SLOW_ANSWER_MS 4000   /* the fake's delay in the timeout cases (> SHORT_TIMEOUT_MS) */
#define TIMEOUT_SLACK_MS 3000 /* generous: sanitizers, a loaded machine */
#define WAIT_EARLY_MS 50      /* clock granularity allowed on a honoured wait */
#define DIMS 64		      /* embedding size of most tests */
#define THREADS 8	      /* concurrent callers */
#define CALLS_PER_THREAD 4    /* generate calls of each */
#define ERR_MAX 512
#define NORM_EPSILON 1e-5

#define SYSTEM "You are a project analyst. Answer with JSON only."
#define PROMPT "Analyse the project \"Shop\": 3 tasks, 2 overdue."
#define SCHEMA                                                                                \
	"{\"type\":\"OBJECT\",\"properties\":{\"summary\":{\"type\":\"STRING\"},"             \
	"\"risks\":{\"type\":\"ARRAY\",\"items\":{\"type\":\"STRING\"}},\"score\":{\"type\":" \
	"\"NUMBER\"}},\"required\":[\"summary\",\"risks\",\"score\"]}"
#define GENERATE_PATH "/models/" FAKE_GEMINI_MODEL ":generateContent"
#define BATCH_PATH "/models/" FAKE_GEMINI_EMBED_MODEL ":batchEmbedContents"

struct fixture {
	struct fake_gemini *fg;
	const char *url; /* the fake's base URL */
	struct tm_gemini_config cfg;
	struct tm_buf out;
	bool key_in_uri_on_purpose; /* the test itself put the key in a URL */
};

static struct fixture fx;
static struct fake_gemini_request rec; /* large: one copy at a time */

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.url = fake_gemini_start(&fx.fg);
	if (!fx.url)
		return -1;
	fx.cfg.base_url = fx.url;
	fx.cfg.api_key = FAKE_GEMINI_API_KEY;
	fx.cfg.model = FAKE_GEMINI_MODEL;
	fx.cfg.embed_model = FAKE_GEMINI_EMBED_MODEL;
	fx.cfg.timeout_ms = CALL_TIMEOUT_MS;
	fx.cfg.max_attempts = ATTEMPTS;
	fx.cfg.backoff_base_ms = BACKOFF_BASE_MS;
	fx.cfg.backoff_cap_ms = BACKOFF_CAP_MS;
	tm_buf_init(&fx.out);
	return 0;
}

/* Every request kept the key in the x-goog-api-key header: none in a URI, none
 * in a body, and no other header holding it. Fails the test if not. */
static int teardown(void **state)
{
	int rc = 0;
	char v[512];

	for (int i = 0; fake_gemini_request(fx.fg, i, &rec) == 0; i++) {
		const char *at = strstr(rec.headers, FAKE_GEMINI_API_KEY);
		bool in_header = fake_gemini_header(&rec, "x-goog-api-key", v, sizeof(v)) == 0 &&
				 strcmp(v, FAKE_GEMINI_API_KEY) == 0;
		if ((!fx.key_in_uri_on_purpose && strstr(rec.uri, FAKE_GEMINI_API_KEY)) ||
		    strstr(rec.body, FAKE_GEMINI_API_KEY) ||
		    (at && (!in_header || strstr(at + 1, FAKE_GEMINI_API_KEY)))) {
			print_message("request %d carried the API key outside its header\n", i);
			rc = -1;
		}
	}
	if (!fx.key_in_uri_on_purpose && fake_gemini_keys_in_uri(fx.fg) != 0) {
		print_message("%d request(s) carried an API key in the URL\n",
			      fake_gemini_keys_in_uri(fx.fg));
		rc = -1;
	}
	fake_gemini_stop(fx.fg);
	fx.fg = NULL;
	tm_buf_free(&fx.out);
	return rc;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void assert_no_key(const char *s)
{
	if (strstr(s, FAKE_GEMINI_API_KEY))
		fail_msg("\"%s\" holds the API key", s);
}

static enum tm_gemini_rc generate(int *attempts, char *err)
{
	return tm_gemini_generate_json(&fx.cfg, SYSTEM, PROMPT, SCHEMA, &fx.out, attempts, err,
				       ERR_MAX);
}

/* The body of the i-th kept request, parsed (the caller deletes it). */
static cJSON *request_json(int i)
{
	cJSON *j;

	assert_int_equal(fake_gemini_request(fx.fg, i, &rec), 0);
	assert_false(rec.body_cut);
	j = cJSON_ParseWithLength(rec.body, rec.body_len);
	if (!j)
		fail_msg("request %d is not JSON: %.200s", i, rec.body);
	return j;
}

/* The string at a path of object keys and array indexes ("contents", "0", "parts", ...). */
static const cJSON *at(const cJSON *j, const char *const *path)
{
	for (; j && *path; path++)
		j = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, atoi(*path)) :
				       cJSON_GetObjectItemCaseSensitive(j, *path);
	return j;
}

#define AT(j, ...) at((j), (const char *const[]){__VA_ARGS__, NULL})

static void assert_json_string(const cJSON *v, const char *want)
{
	if (!cJSON_IsString(v))
		fail_msg("expected the string \"%s\", got none", want);
	assert_string_equal(v->valuestring, want);
}

/* Arms one 429 with the wait named as hint says. */
static void fail_429(int count, int retry_after_s, enum fake_gemini_hint hint)
{
	struct fake_gemini_fault_spec spec = {.fault = FAKE_GEMINI_429,
					      .count = count,
					      .retry_after_s = retry_after_s,
					      .hint = hint};

	fake_gemini_fail(fx.fg, &spec);
}

/* fault on the next request: rc after exactly one attempt, out untouched, a clean err. */
static void assert_generate_fails_once(enum fake_gemini_fault fault, enum tm_gemini_rc want,
				       const char *in_err)
{
	char err[ERR_MAX];
	int attempts = -1;

	fake_gemini_fail_next(fx.fg, ATTEMPTS, fault);
	assert_int_equal(generate(&attempts, err), want);
	assert_int_equal(attempts, 1);
	assert_int_equal(fake_gemini_request_count(fx.fg), 1);
	assert_int_equal(fx.out.len, 0);
	if (!strstr(err, in_err))
		fail_msg("err \"%s\" does not mention %s", err, in_err);
	assert_no_key(err);
}

static double norm(const float *v, int dims)
{
	double s = 0;

	for (int i = 0; i < dims; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

static void assert_unit_rows(const float *v, size_t n, int dims)
{
	for (size_t i = 0; i < n; i++)
		if (fabs(norm(v + i * (size_t)dims, dims) - 1.0) > NORM_EPSILON)
			fail_msg("row %zu has length %f", i, norm(v + i * (size_t)dims, dims));
}

static void assert_all_zero(const float *v, size_t count)
{
	for (size_t i = 0; i < count; i++)
		assert_true(v[i] == 0.0f);
}

/* ---- generateContent: the happy path ----------------------------------------------------- */

static void test_generate_sends_the_documented_request_and_returns_the_answer(void **state)
{
	char err[ERR_MAX], v[512];
	int attempts = -1;
	cJSON *schema = cJSON_Parse(SCHEMA);

	assert_int_equal(generate(&attempts, err), TM_GEMINI_OK);
	assert_string_equal(err, "");
	assert_int_equal(attempts, 1);
	assert_string_equal(fx.out.data, FAKE_GEMINI_REPLY_DEFAULT);
	assert_int_equal(fake_gemini_request_count(fx.fg), 1);

	cJSON *j = request_json(0);
	assert_string_equal(rec.method, "POST");
	assert_string_equal(rec.uri, GENERATE_PATH); /* no query: no key in the URL */
	assert_int_equal(fake_gemini_header(&rec, "x-goog-api-key", v, sizeof(v)), 0);
	assert_string_equal(v, FAKE_GEMINI_API_KEY);
	assert_int_equal(fake_gemini_header(&rec, "Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "application/json");
	assert_json_string(AT(j, "systemInstruction", "parts", "0", "text"), SYSTEM);
	assert_int_equal(cJSON_GetArraySize(AT(j, "contents")), 1);
	assert_json_string(AT(j, "contents", "0", "role"), "user");
	assert_json_string(AT(j, "contents", "0", "parts", "0", "text"), PROMPT);
	assert_json_string(AT(j, "generationConfig", "responseMimeType"), "application/json");
	assert_true(cJSON_Compare(AT(j, "generationConfig", "responseSchema"), schema, true));
	const cJSON *t = AT(j, "generationConfig", "temperature");
	assert_true(cJSON_IsNumber(t) && fabs(t->valuedouble - 0.2) < 1e-9);
	cJSON_Delete(j);
	cJSON_Delete(schema);
}

static void test_answer_is_appended_and_out_is_untouched_on_failure(void **state)
{
	char err[ERR_MAX];

	tm_buf_puts(&fx.out, "before:");
	assert_int_equal(generate(NULL, err), TM_GEMINI_OK);
	assert_string_equal(fx.out.data, "before:" FAKE_GEMINI_REPLY_DEFAULT);
	fake_gemini_fail_next(fx.fg, 1, FAKE_GEMINI_400);
	assert_int_equal(generate(NULL, err), TM_GEMINI_BAD_REQUEST);
	assert_string_equal(fx.out.data, "before:" FAKE_GEMINI_REPLY_DEFAULT);
}

static void test_answer_in_several_parts_is_concatenated(void **state)
{
	const char *parts[] = {"{\"summary\":\"split ", "in three\",\"risks\":[\"late\"],",
			       "\"score\":0.25}"};
	char err[ERR_MAX];

	assert_int_equal(fake_gemini_set_reply(fx.fg, parts, 3), 0);
	assert_int_equal(generate(NULL, err), TM_GEMINI_OK);
	assert_string_equal(fx.out.data,
			    "{\"summary\":\"split in three\",\"risks\":[\"late\"],\"score\":0.25}");
}

static void test_answer_that_breaks_the_schema_is_returned_for_the_caller_to_check(void **state)
{
	char err[ERR_MAX];

	assert_int_equal(fake_gemini_set_reply_text(fx.fg, "{\"summary\":42}"), 0);
	assert_int_equal(generate(NULL, err), TM_GEMINI_OK);
	assert_string_equal(fx.out.data, "{\"summary\":42}");
	tm_buf_reset(&fx.out);
	assert_int_equal(fake_gemini_set_reply_text(fx.fg, "not json at all"), 0);
	assert_int_equal(generate(NULL, err), TM_GEMINI_OK);
	assert_string_equal(fx.out.data, "not json at all");
}

static void test_prompt_with_quotes_newlines_unicode_and_control_chars_arrives_intact(void **state)
{
	const char *prompt = "say \"hi\" \\ back\\slash\nline 2\r\ttab \x01\x08\x0c\x1f\x7f "
			     "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80 \xe2\x80\xa8 "
			     "</script>{\"}]";
	const char *system = "rules:\n\"1\"\t\x02";
	char err[ERR_MAX];

	assert_int_equal(tm_gemini_generate_json(&fx.cfg, system, prompt, SCHEMA, &fx.out, NULL,
						 err, sizeof(err)),
			 TM_GEMINI_OK); /* the fake parsed it, or it would have answered 400 */
	cJSON *j = request_json(0);
	assert_json_string(AT(j, "contents", "0", "parts", "0", "text"), prompt);
	assert_json_string(AT(j, "systemInstruction", "parts", "0", "text"), system);
	for (size_t i = 0; i < rec.body_len; i++) /* raw control characters never go out */
		assert_true((unsigned char)rec.body[i] >= 0x20 && rec.body[i] != 0x7f);
	cJSON_Delete(j);
}

static void test_system_instruction_may_be_left_out(void **state)
{
	char err[ERR_MAX];

	assert_int_equal(tm_gemini_generate_json(&fx.cfg, NULL, PROMPT, SCHEMA, &fx.out, NULL, err,
						 sizeof(err)),
			 TM_GEMINI_OK);
	assert_int_equal(tm_gemini_generate_json(&fx.cfg, "", PROMPT, SCHEMA, &fx.out, NULL, err,
						 sizeof(err)),
			 TM_GEMINI_OK);
	for (int i = 0; i < 2; i++) {
		cJSON *j = request_json(i);
		assert_null(AT(j, "systemInstruction"));
		cJSON_Delete(j);
	}
}

static void test_prompt_at_the_limit_is_sent_and_one_byte_more_is_refused(void **state)
{
	char *prompt = malloc(TM_GEMINI_PROMPT_MAX + 2);
	char err[ERR_MAX];
	int attempts = -1;

	assert_non_null(prompt);
	memset(prompt, '"', TM_GEMINI_PROMPT_MAX); /* each one escaped: twice the bytes */
	prompt[TM_GEMINI_PROMPT_MAX] = '\0';
	assert_int_equal(tm_gemini_generate_json(&fx.cfg, SYSTEM, prompt, SCHEMA, &fx.out,
						 &attempts, err, sizeof(err)),
			 TM_GEMINI_OK);
	assert_int_equal(fake_gemini_request(fx.fg, 0, &rec), 0);
	assert_true(rec.body_len > 2 * TM_GEMINI_PROMPT_MAX);
	prompt[TM_GEMINI_PROMPT_MAX] = 'x';
	prompt[TM_GEMINI_PROMPT_MAX + 1] = '\0';
	assert_int_equal(tm_gemini_generate_json(&fx.cfg, SYSTEM, prompt, SCHEMA, &fx.out,
						 &attempts, err, sizeof(err)),
			 TM_GEMINI_BAD_REQUEST);
	assert_int_equal(attempts, 0);
	assert_int_equal(fake_gemini_request_count(fx.fg), 1);
	free(prompt);
}

static void test_base_url_slash_and_models_prefix_are_tolerated(void **state)
{
	char base[128], err[ERR_MAX];

	snprintf(base, sizeof(base), "%s/", fx.url);
	fx.cfg.base_url = base;
	fx.cfg.model = "models/" FAKE_GEMINI_MODEL;
	assert_int_equal(generate(NULL, err), TM_GEMINI_OK);
	assert_int_equal(fake_gemini_request(fx.fg, 0, &rec), 0);
	assert_string_equal(rec.uri, GENERATE_PATH);
}

/* ---- retries ----------------------------------------------------------------------------- */

static void test_two_500s_then_ok_is_ok_after_three_attempts(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fake_gemini_fail_next(fx.fg, 2, FAKE_GEMINI_500);
	assert_int_equal(generate(&attempts, err), TM_GEMINI_OK);
	assert_int_equal(attempts, 3);
	assert_int_equal(fake_gemini_request_count(fx.fg), 3);
	assert_string_equal(fx.out.data, FAKE_GEMINI_REPLY_DEFAULT);
}

static void test_503_until_the_attempts_run_out_is_unavailable(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fake_gemini_fail_next(fx.fg, 10, FAKE_GEMINI_503);
	assert_int_equal(generate(&attempts, err), TM_GEMINI_UNAVAILABLE);
	assert_int_equal(attempts, ATTEMPTS);
	assert_int_equal(fake_gemini_request_count(fx.fg), ATTEMPTS);
	assert_non_null(strstr(err, "503 UNAVAILABLE"));
	assert_non_null(strstr(err, "after 3 attempts"));
	assert_no_key(err);
}

static void test_max_attempts_is_clamped(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fx.cfg.max_attempts = 0;
	fake_gemini_fail_next(fx.fg, 100, FAKE_GEMINI_500);
	assert_int_equal(generate(&attempts, err), TM_GEMINI_UNAVAILABLE);
	assert_int_equal(attempts, 1);
	fx.cfg.max_attempts = 1000;
	fx.cfg.backoff_base_ms = fx.cfg.backoff_cap_ms = 1;
	assert_int_equal(generate(&attempts, err), TM_GEMINI_UNAVAILABLE);
	assert_int_equal(attempts, TM_GEMINI_ATTEMPTS_MAX);
	assert_int_equal(fake_gemini_request_count(fx.fg), 1 + TM_GEMINI_ATTEMPTS_MAX);
}

static void test_429_with_retry_after_is_waited_for_then_ok(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fail_429(1, 1, FAKE_GEMINI_HINT_HEADER);
	int64_t t0 = tm_mono_ms();
	assert_int_equal(generate(&attempts, err), TM_GEMINI_OK);
	int64_t took = tm_mono_ms() - t0;
	assert_int_equal(attempts, 2);
	assert_true(took >= 1000 - WAIT_EARLY_MS);
	assert_true(took < 1000 + TIMEOUT_SLACK_MS);
}

static void test_429_retry_info_in_the_body_is_waited_for_without_the_header(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fail_429(1, 1, FAKE_GEMINI_HINT_BODY);
	int64_t t0 = tm_mono_ms();
	assert_int_equal(generate(&attempts, err), TM_GEMINI_OK);
	assert_int_equal(attempts, 2);
	assert_true(tm_mono_ms() - t0 >= 1000 - WAIT_EARLY_MS);
}

static void test_429_asking_for_more_than_four_backoff_caps_is_not_waited_for(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fail_429(ATTEMPTS, 60, FAKE_GEMINI_HINT_BOTH);
	int64_t t0 = tm_mono_ms();
	assert_int_equal(generate(&attempts, err), TM_GEMINI_RATE_LIMITED);
	assert_true(tm_mono_ms() - t0 < 1000);
	assert_int_equal(attempts, 1);
	assert_non_null(strstr(err, "60000 ms"));
	assert_non_null(strstr(err, "PerMinute"));
}

static void test_429_until_the_attempts_run_out_is_rate_limited(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fail_429(10, 0, FAKE_GEMINI_HINT_NONE); /* no named wait: full-jitter backoff */
	assert_int_equal(generate(&attempts, err), TM_GEMINI_RATE_LIMITED);
	assert_int_equal(attempts, ATTEMPTS);
	assert_int_equal(fake_gemini_request_count(fx.fg), ATTEMPTS);
	assert_non_null(strstr(err, "429 RESOURCE_EXHAUSTED"));
}

static void test_per_day_quota_is_rate_limited_after_one_attempt(void **state)
{
	/* the fake names a 1 s wait too: still not worth a retry */
	assert_generate_fails_once(FAKE_GEMINI_429_PER_DAY, TM_GEMINI_RATE_LIMITED, "PerDay");
}

static void test_answer_slower_than_the_timeout_is_unavailable_in_time(void **state)
{
	struct fake_gemini_fault_spec spec = {
		.fault = FAKE_GEMINI_DELAY, .count = 10, .delay_ms = SLOW_ANSWER_MS};
	char err[ERR_MAX];
	int attempts = -1;

	fx.cfg.timeout_ms = SHORT_TIMEOUT_MS;
	fake_gemini_fail(fx.fg, &spec);
	int64_t t0 = tm_mono_ms();
	assert_int_equal(generate(&attempts, err), TM_GEMINI_UNAVAILABLE);
	int64_t took = tm_mono_ms() - t0;
	assert_int_equal(attempts, ATTEMPTS);
	assert_true(took >= ATTEMPTS * SHORT_TIMEOUT_MS - WAIT_EARLY_MS);
	assert_true(took < ATTEMPTS * (SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS));
	assert_non_null(strstr(err, "no answer within"));
}

static void test_refused_connection_is_unavailable_after_the_attempts(void **state)
{
	struct fake_gemini *gone = NULL;
	char url[64], err[ERR_MAX];
	int attempts = -1;
	const char *u = fake_gemini_start(&gone);

	assert_non_null(u);
	snprintf(url, sizeof(url), "%s", u);
	fake_gemini_stop(gone); /* nothing listens there any more */
	fx.cfg.base_url = url;
	assert_int_equal(generate(&attempts, err), TM_GEMINI_UNAVAILABLE);
	assert_int_equal(attempts, ATTEMPTS);
	assert_no_key(err);
}

/* ---- errors that are not retried --------------------------------------------------------- */

static void test_400_is_bad_request_and_not_retried(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_400, TM_GEMINI_BAD_REQUEST, "400 INVALID_ARGUMENT");
}

static void test_wrong_key_is_bad_request_after_one_attempt(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fx.cfg.api_key = "AIzaSyWrong-key-000000000000000000000000";
	assert_int_equal(generate(&attempts, err), TM_GEMINI_BAD_REQUEST);
	assert_int_equal(attempts, 1);
	assert_non_null(strstr(err, "403 PERMISSION_DENIED"));
	assert_null(strstr(err, fx.cfg.api_key));
	assert_no_key(err);
}

static void test_key_quoted_back_in_err_is_masked(void **state)
{
	char err[ERR_MAX];

	fx.cfg.api_key = "generateContent"; /* a key that err would quote: the path holds it */
	assert_int_equal(generate(NULL, err), TM_GEMINI_BAD_REQUEST);
	assert_null(strstr(err, "generateContent"));
	assert_non_null(strstr(err, "***************"));
}

static void test_unknown_model_is_bad_request_after_one_attempt(void **state)
{
	char err[ERR_MAX];
	int attempts = -1;

	fx.cfg.model = "gemini-0.1-nonexistent";
	assert_int_equal(generate(&attempts, err), TM_GEMINI_BAD_REQUEST);
	assert_int_equal(attempts, 1);
	assert_non_null(strstr(err, "404 NOT_FOUND"));
}

static void test_blocked_prompt_is_blocked(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_BLOCKED_PROMPT, TM_GEMINI_BLOCKED,
				   "blockReason SAFETY");
}

static void test_finish_reason_safety_is_blocked(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_FINISH_SAFETY, TM_GEMINI_BLOCKED,
				   "finishReason SAFETY");
}

static void test_answer_cut_at_the_token_limit_is_bad_response(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_FINISH_MAX_TOKENS, TM_GEMINI_BAD_RESPONSE,
				   "MAX_TOKENS");
}

static void test_invalid_json_is_bad_response(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_BAD_JSON, TM_GEMINI_BAD_RESPONSE, "not JSON");
}

static void test_json_of_the_wrong_shape_is_bad_response(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_WRONG_SHAPE, TM_GEMINI_BAD_RESPONSE, "malformed");
}

static void test_body_over_the_cap_is_bad_response(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_HUGE_BODY, TM_GEMINI_BAD_RESPONSE, "larger than");
}

static void test_redirect_is_not_followed(void **state)
{
	assert_generate_fails_once(FAKE_GEMINI_REDIRECT, TM_GEMINI_BAD_RESPONSE,
				   "302 (redirects are not followed)");
}

static void test_bad_inputs_are_refused_without_a_request(void **state)
{
	char *big = malloc(TM_GEMINI_PROMPT_MAX + 2), err[ERR_MAX];
	const struct {
		const char *system, *prompt, *schema;
	} in[] = {
		{SYSTEM, "", SCHEMA},
		{SYSTEM, NULL, SCHEMA},
		{SYSTEM, big, SCHEMA},
		{SYSTEM, "bad \xc3\x28 utf-8", SCHEMA},
		{SYSTEM, "surrogate \xed\xa0\x80", SCHEMA},
		{"bad \xff", PROMPT, SCHEMA},
		{SYSTEM, PROMPT, NULL},
		{SYSTEM, PROMPT, ""},
		{SYSTEM, PROMPT, "{\"type\":"},
		{SYSTEM, PROMPT, "[{\"type\":\"OBJECT\"}]"},
		{SYSTEM, PROMPT, "\"OBJECT\""},
	};
	int attempts;

	assert_non_null(big);
	memset(big, 'a', TM_GEMINI_PROMPT_MAX + 1);
	big[TM_GEMINI_PROMPT_MAX + 1] = '\0';
	for (size_t i = 0; i < TM_ARRAY_LEN(in); i++) {
		attempts = -1;
		assert_int_equal(tm_gemini_generate_json(&fx.cfg, in[i].system, in[i].prompt,
							 in[i].schema, &fx.out, &attempts, err,
							 sizeof(err)),
				 TM_GEMINI_BAD_REQUEST);
		assert_int_equal(attempts, 0);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(tm_gemini_generate_json(&fx.cfg, SYSTEM, PROMPT, SCHEMA, NULL, NULL, err,
						 sizeof(err)),
			 TM_GEMINI_BAD_REQUEST);
	assert_int_equal(tm_gemini_generate_json(NULL, SYSTEM, PROMPT, SCHEMA, &fx.out, NULL, err,
						 sizeof(err)),
			 TM_GEMINI_BAD_REQUEST);
	assert_int_equal(fake_gemini_request_count(fx.fg), 0);
	assert_int_equal(fx.out.len, 0);
	free(big);
}

static void test_bad_configuration_is_refused_without_a_request(void **state)
{
	const char *models[] = {NULL, "", "../secret", "gemini 2", "a/b", "models/", "x?key=1"};
	const char *keys[] = {NULL, "", "has space", "line\nbreak", "\x7f"};
	const char *urls[] = {"ftp://127.0.0.1/",
			      "file:///etc/passwd",
			      "127.0.0.1",
			      "http://",
			      "https://example.com/v1beta?key=1",
			      "http://a/ b"};
	struct tm_gemini_config c;
	char err[ERR_MAX];

	for (size_t i = 0; i < TM_ARRAY_LEN(models); i++) {
		c = fx.cfg;
		c.model = models[i];
		assert_int_equal(tm_gemini_generate_json(&c, SYSTEM, PROMPT, SCHEMA, &fx.out, NULL,
							 err, sizeof(err)),
				 TM_GEMINI_BAD_REQUEST);
	}
	for (size_t i = 0; i < TM_ARRAY_LEN(keys); i++) {
		c = fx.cfg;
		c.api_key = keys[i];
		assert_int_equal(tm_gemini_generate_json(&c, SYSTEM, PROMPT, SCHEMA, &fx.out, NULL,
							 err, sizeof(err)),
				 TM_GEMINI_BAD_REQUEST);
		assert_non_null(strstr(err, "GEMINI_API_KEY"));
	}
	for (size_t i = 0; i < TM_ARRAY_LEN(urls); i++) {
		c = fx.cfg;
		c.base_url = urls[i];
		assert_int_equal(tm_gemini_generate_json(&c, SYSTEM, PROMPT, SCHEMA, &fx.out, NULL,
							 err, sizeof(err)),
				 TM_GEMINI_BAD_REQUEST);
		assert_non_null(strstr(err, "TM_GEMINI_BASE_URL"));
	}
	assert_int_equal(fake_gemini_request_count(fx.fg), 0);
}

/* ---- embeddings -------------------------------------------------------------------------- */

static void test_embed_gives_unit_vectors_of_the_requested_size(void **state)
{
	const char *texts[] = {"Build the checkout page", "Fix the login \"bug\"\n",
			       "Traduire l'interface \xe2\x80\x94 fran\xc3\xa7"
			       "ais"};
	float v[3 * DIMS];
	char err[ERR_MAX], h[512];
	int attempts = -1;

	assert_int_equal(tm_gemini_embed(&fx.cfg, texts, 3, "RETRIEVAL_DOCUMENT", DIMS, v,
					 &attempts, err, sizeof(err)),
			 TM_GEMINI_OK);
	assert_int_equal(attempts, 1);
	assert_unit_rows(v, 3, DIMS);
	cJSON *j = request_json(0);
	assert_string_equal(rec.uri, BATCH_PATH);
	assert_int_equal(fake_gemini_header(&rec, "x-goog-api-key", h, sizeof(h)), 0);
	assert_int_equal(cJSON_GetArraySize(AT(j, "requests")), 3);
	for (int i = 0; i < 3; i++) {
		char idx[16];
		snprintf(idx, sizeof(idx), "%d", i);
		assert_json_string(AT(j, "requests", idx, "model"),
				   "models/" FAKE_GEMINI_EMBED_MODEL);
		assert_json_string(AT(j, "requests", idx, "content", "parts", "0", "text"),
				   texts[i]);
		assert_json_string(AT(j, "requests", idx, "taskType"), "RETRIEVAL_DOCUMENT");
		const cJSON *d = AT(j, "requests", idx, "outputDimensionality");
		assert_true(cJSON_IsNumber(d) && d->valueint == DIMS);
	}
	cJSON_Delete(j);
}

static void test_embed_same_text_gives_the_same_vector(void **state)
{
	const char *batch[] = {"alpha", "beta", "alpha"}, *one[] = {"alpha"};
	float v[3 * DIMS], w[DIMS];
	char err[ERR_MAX];

	assert_int_equal(tm_gemini_embed(&fx.cfg, batch, 3, NULL, DIMS, v, NULL, err, sizeof(err)),
			 TM_GEMINI_OK);
	assert_memory_equal(v, v + 2 * DIMS, sizeof(w));
	assert_memory_not_equal(v, v + DIMS, sizeof(w));
	assert_int_equal(tm_gemini_embed(&fx.cfg, one, 1, "SEMANTIC_SIMILARITY", DIMS, w, NULL, err,
					 sizeof(err)),
			 TM_GEMINI_OK);
	assert_memory_equal(v, w, sizeof(w));
	cJSON *j = request_json(0);
	assert_null(AT(j, "requests", "0", "taskType")); /* NULL leaves it out */
	cJSON_Delete(j);
}

static void test_embed_vectors_cut_by_the_server_are_renormalized(void **state)
{
	const char *texts[] = {"alpha"};
	float v[DIMS];
	char err[ERR_MAX], url[256], key[300];
	const char *headers[] = {"Content-Type: application/json", key, NULL};
	const char *body = "{\"content\":{\"parts\":[{\"text\":\"alpha\"}]},"
			   "\"outputDimensionality\":64}";
	struct http_resp r;
	double raw = 0;

	assert_int_equal(tm_gemini_embed(&fx.cfg, texts, 1, NULL, DIMS, v, NULL, err, sizeof(err)),
			 TM_GEMINI_OK);
	/* the fake's embedContent gives the same vector, cut, not unit length */
	snprintf(url, sizeof(url), "%s/models/%s:embedContent", fx.url, FAKE_GEMINI_EMBED_MODEL);
	snprintf(key, sizeof(key), "x-goog-api-key: %s", FAKE_GEMINI_API_KEY);
	assert_int_equal(http_do("POST", url, headers, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *j = cJSON_Parse(r.body);
	const cJSON *vals = AT(j, "embedding", "values");
	assert_int_equal(cJSON_GetArraySize(vals), DIMS);
	for (int i = 0; i < DIMS; i++)
		raw += pow(cJSON_GetArrayItem(vals, i)->valuedouble, 2);
	assert_true(sqrt(raw) < 0.9);
	for (int i = 0; i < DIMS; i++)
		assert_true(fabs(cJSON_GetArrayItem(vals, i)->valuedouble / sqrt(raw) - v[i]) <
			    1e-6);
	cJSON_Delete(j);
	http_resp_free(&r);
}

static void test_embed_wrong_count_or_size_is_bad_response(void **state)
{
	const char *texts[] = {"one", "two"};
	const enum fake_gemini_fault faults[] = {FAKE_GEMINI_WRONG_COUNT, FAKE_GEMINI_WRONG_DIMS,
						 FAKE_GEMINI_WRONG_SHAPE, FAKE_GEMINI_BAD_JSON};
	float v[2 * DIMS];
	char err[ERR_MAX];
	int attempts = -1;

	for (size_t i = 0; i < TM_ARRAY_LEN(faults); i++) {
		memset(v, 0x7f, sizeof(v));
		fake_gemini_fail_next(fx.fg, 1, faults[i]);
		assert_int_equal(tm_gemini_embed(&fx.cfg, texts, 2, NULL, DIMS, v, &attempts, err,
						 sizeof(err)),
				 TM_GEMINI_BAD_RESPONSE);
		assert_int_equal(attempts, 1);
		assert_all_zero(v, TM_ARRAY_LEN(v));
	}
	assert_int_equal(fake_gemini_request_count(fx.fg), TM_ARRAY_LEN(faults));
}

static void test_embed_retries_a_503_and_stops_at_a_per_day_quota(void **state)
{
	const char *texts[] = {"one"};
	float v[DIMS];
	char err[ERR_MAX];
	int attempts = -1;

	fake_gemini_fail_next(fx.fg, 1, FAKE_GEMINI_503);
	assert_int_equal(tm_gemini_embed(&fx.cfg, texts, 1, NULL, DIMS, v, &attempts, err,
					 sizeof(err)),
			 TM_GEMINI_OK);
	assert_int_equal(attempts, 2);
	assert_unit_rows(v, 1, DIMS);
	fake_gemini_fail_next(fx.fg, ATTEMPTS, FAKE_GEMINI_429_PER_DAY);
	assert_int_equal(tm_gemini_embed(&fx.cfg, texts, 1, NULL, DIMS, v, &attempts, err,
					 sizeof(err)),
			 TM_GEMINI_RATE_LIMITED);
	assert_int_equal(attempts, 1);
	assert_non_null(strstr(err, "EmbedContentRequestsPerDay"));
}

/* n texts of TM_GEMINI_EMBED_TEXT_MAX bytes each (distinct) at dims, with the large model. */
static void embed_big(int n, int dims)
{
	const char *texts[TM_GEMINI_EMBED_BATCH_MAX];
	char *buf = malloc((size_t)n * (TM_GEMINI_EMBED_TEXT_MAX + 1));
	float *v = malloc(sizeof(float) * (size_t)n * (size_t)dims);
	char err[ERR_MAX];

	assert_non_null(buf);
	assert_non_null(v);
	for (int i = 0; i < n; i++) {
		char *t = buf + (size_t)i * (TM_GEMINI_EMBED_TEXT_MAX + 1);
		memset(t, 'a' + i % 26, TM_GEMINI_EMBED_TEXT_MAX);
		snprintf(t, TM_GEMINI_EMBED_TEXT_MAX, "%d", i); /* distinct texts */
		t[strlen(t)] = ' ';
		t[TM_GEMINI_EMBED_TEXT_MAX] = '\0';
		texts[i] = t;
	}
	if (tm_gemini_embed(&fx.cfg, texts, (size_t)n, "RETRIEVAL_DOCUMENT", dims, v, NULL, err,
			    sizeof(err)) != TM_GEMINI_OK)
		fail_msg("%d x %d: %s", n, dims, err);
	assert_unit_rows(v, (size_t)n, dims);
	free(v);
	free(buf);
}

static void test_embed_batches_at_the_limits(void **state)
{
	fx.cfg.embed_model = FAKE_GEMINI_EMBED_MODEL_LARGE;
	embed_big(TM_GEMINI_EMBED_BATCH_MAX, 768);
	embed_big(TM_GEMINI_EMBED_VALUES_MAX / TM_GEMINI_EMBED_DIMS_MAX, TM_GEMINI_EMBED_DIMS_MAX);
	assert_int_equal(fake_gemini_request_count(fx.fg), 2);
}

static void test_embed_bad_inputs_are_refused_without_a_request(void **state)
{
	char long_text[TM_GEMINI_EMBED_TEXT_MAX + 2], err[ERR_MAX];
	const char *ok[] = {"fine"}, *empty[] = {""}, *none[] = {NULL}, *too_long[] = {long_text};
	const char *bad_utf8[] = {"\xc0\xaf"}, *many[TM_GEMINI_EMBED_BATCH_MAX + 1];
	float v[DIMS];
	int attempts;
	struct tm_gemini_config c = fx.cfg;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	for (size_t i = 0; i < TM_ARRAY_LEN(many); i++)
		many[i] = "x";
	const struct {
		const char *const *texts;
		size_t n;
		const char *task;
		int dims;
		float *out;
	} in[] = {
		{ok, 0, NULL, DIMS, v},
		{NULL, 1, NULL, DIMS, v},
		{many, TM_ARRAY_LEN(many), NULL, DIMS, v},
		{empty, 1, NULL, DIMS, v},
		{none, 1, NULL, DIMS, v},
		{too_long, 1, NULL, DIMS, v},
		{bad_utf8, 1, NULL, DIMS, v},
		{ok, 1, NULL, 0, v},
		{ok, 1, NULL, TM_GEMINI_EMBED_DIMS_MAX + 1, v},
		{many, TM_GEMINI_EMBED_VALUES_MAX / TM_GEMINI_EMBED_DIMS_MAX + 1, NULL,
		 TM_GEMINI_EMBED_DIMS_MAX, v},
		{ok, 1, "retrieval_query", DIMS, v},
		{ok, 1, "RETRIEVAL QUERY", DIMS, v},
		{ok, 1, "", DIMS, v},
		{ok, 1, NULL, DIMS, NULL},
	};

	for (size_t i = 0; i < TM_ARRAY_LEN(in); i++) {
		attempts = -1;
		assert_int_equal(tm_gemini_embed(&fx.cfg, in[i].texts, in[i].n, in[i].task,
						 in[i].dims, in[i].out, &attempts, err,
						 sizeof(err)),
				 TM_GEMINI_BAD_REQUEST);
		assert_int_equal(attempts, 0);
	}
	c.embed_model = NULL;
	assert_int_equal(tm_gemini_embed(&c, ok, 1, NULL, DIMS, v, NULL, err, sizeof(err)),
			 TM_GEMINI_BAD_REQUEST);
	assert_int_equal(fake_gemini_request_count(fx.fg), 0);
}

/* ---- the fake's own checks --------------------------------------------------------------- */

static void test_fake_counts_a_key_in_the_query_string_and_refuses_it(void **state)
{
	char url[512];
	const char *headers[] = {"Content-Type: application/json", NULL};
	const char *body = "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}";
	struct http_resp r;

	fx.key_in_uri_on_purpose = true;
	snprintf(url, sizeof(url), "%s%s?key=%s", fx.url, GENERATE_PATH, FAKE_GEMINI_API_KEY);
	assert_int_equal(http_do("POST", url, headers, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 400);
	http_resp_free(&r);
	assert_int_equal(fake_gemini_keys_in_uri(fx.fg), 1);
	assert_int_equal(fake_gemini_request(fx.fg, 0, &rec), 0);
	assert_true(rec.key_in_uri);
	/* without any key: 403 PERMISSION_DENIED */
	snprintf(url, sizeof(url), "%s%s", fx.url, GENERATE_PATH);
	assert_int_equal(http_do("POST", url, headers, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "PERMISSION_DENIED"));
	http_resp_free(&r);
	assert_int_equal(fake_gemini_keys_in_uri(fx.fg), 1);
}

/* ---- threads and names ------------------------------------------------------------------- */

static void *caller(void *arg)
{
	int *ok = arg;
	char err[ERR_MAX];

	for (int i = 0; i < CALLS_PER_THREAD; i++) {
		struct tm_buf out;
		tm_buf_init(&out);
		if (tm_gemini_generate_json(&fx.cfg, SYSTEM, PROMPT, SCHEMA, &out, NULL, err,
					    sizeof(err)) == TM_GEMINI_OK &&
		    strcmp(out.data, FAKE_GEMINI_REPLY_DEFAULT) == 0)
			(*ok)++;
		tm_buf_free(&out);
	}
	return NULL;
}

static void test_concurrent_calls_from_worker_threads_all_succeed(void **state)
{
	pthread_t t[THREADS];
	int ok[THREADS] = {0};

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, &ok[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ok[i], CALLS_PER_THREAD);
	}
	assert_int_equal(fake_gemini_request_count(fx.fg), THREADS * CALLS_PER_THREAD);
}

static void test_result_names(void **state)
{
	assert_string_equal(tm_gemini_rc_name(TM_GEMINI_OK), "ok");
	assert_string_equal(tm_gemini_rc_name(TM_GEMINI_BAD_REQUEST), "bad_request");
	assert_string_equal(tm_gemini_rc_name(TM_GEMINI_RATE_LIMITED), "rate_limited");
	assert_string_equal(tm_gemini_rc_name(TM_GEMINI_UNAVAILABLE), "unavailable");
	assert_string_equal(tm_gemini_rc_name(TM_GEMINI_BLOCKED), "blocked");
	assert_string_equal(tm_gemini_rc_name(TM_GEMINI_BAD_RESPONSE), "bad_response");
	assert_string_equal(tm_gemini_rc_name((enum tm_gemini_rc)99), "unknown");
}

int main(void)
{
	const char *only = getenv("TM_TEST_ONLY");
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_generate_sends_the_documented_request_and_returns_the_answer),
		T(test_answer_is_appended_and_out_is_untouched_on_failure),
		T(test_answer_in_several_parts_is_concatenated),
		T(test_answer_that_breaks_the_schema_is_returned_for_the_caller_to_check),
		T(test_prompt_with_quotes_newlines_unicode_and_control_chars_arrives_intact),
		T(test_system_instruction_may_be_left_out),
		T(test_prompt_at_the_limit_is_sent_and_one_byte_more_is_refused),
		T(test_base_url_slash_and_models_prefix_are_tolerated),
		T(test_two_500s_then_ok_is_ok_after_three_attempts),
		T(test_503_until_the_attempts_run_out_is_unavailable),
		T(test_max_attempts_is_clamped),
		T(test_429_with_retry_after_is_waited_for_then_ok),
		T(test_429_retry_info_in_the_body_is_waited_for_without_the_header),
		T(test_429_asking_for_more_than_four_backoff_caps_is_not_waited_for),
		T(test_429_until_the_attempts_run_out_is_rate_limited),
		T(test_per_day_quota_is_rate_limited_after_one_attempt),
		T(test_answer_slower_than_the_timeout_is_unavailable_in_time),
		T(test_refused_connection_is_unavailable_after_the_attempts),
		T(test_400_is_bad_request_and_not_retried),
		T(test_wrong_key_is_bad_request_after_one_attempt),
		T(test_key_quoted_back_in_err_is_masked),
		T(test_unknown_model_is_bad_request_after_one_attempt),
		T(test_blocked_prompt_is_blocked),
		T(test_finish_reason_safety_is_blocked),
		T(test_answer_cut_at_the_token_limit_is_bad_response),
		T(test_invalid_json_is_bad_response),
		T(test_json_of_the_wrong_shape_is_bad_response),
		T(test_body_over_the_cap_is_bad_response),
		T(test_redirect_is_not_followed),
		T(test_bad_inputs_are_refused_without_a_request),
		T(test_bad_configuration_is_refused_without_a_request),
		T(test_embed_gives_unit_vectors_of_the_requested_size),
		T(test_embed_same_text_gives_the_same_vector),
		T(test_embed_vectors_cut_by_the_server_are_renormalized),
		T(test_embed_wrong_count_or_size_is_bad_response),
		T(test_embed_retries_a_503_and_stops_at_a_per_day_quota),
		T(test_embed_batches_at_the_limits),
		T(test_embed_bad_inputs_are_refused_without_a_request),
		T(test_fake_counts_a_key_in_the_query_string_and_refuses_it),
		T(test_concurrent_calls_from_worker_threads_all_succeed),
		T(test_result_names),
#undef T
	};

	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, http_group_setup, http_group_teardown);
}
