/*
 * tm_ai_embed (common/ai.c): embeddings through the AI layer's one interface,
 * against the fake Gemini (tests/support/fake_gemini.c) and a real PostgreSQL
 * for the cache (tests/integration/itest.h). What is checked: which space the
 * rows are in and that one call never mixes two; that a text Gemini embedded
 * once is served from ai_cache; that a failing Gemini falls back to the local
 * embedding for every row and opens the breaker; the input rules.
 */
#include <math.h>
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

#include "../support/fake_gemini.h"
#include "itest.h"
#include "tm/ai.h"

#define DIMS TM_AI_EMBED_DIMS
#define WHY_MAX 512
#define EPS 1e-5
#define GEMINI_SPACE "gemini/" FAKE_GEMINI_EMBED_MODEL "/256"
#define LOCAL_SPACE "local/" TM_AI_LOCAL_EMBED_MODEL "/256"

static struct {
	struct fake_gemini *fg;
	const char *url;
	char schema[ITEST_NAME_MAX];
	struct tm_db *db;
	struct tm_ai ai;
	char space[TM_AI_EMBED_SPACE_MAX], why[WHY_MAX];
} fx;

static const char *const TEXTS[] = {
	"Senior React developer, TypeScript and GraphQL, five years of e-commerce frontends",
	"Data engineer: Airflow pipelines, dbt models, PostgreSQL and BigQuery",
	"Build the checkout page with Stripe card payments",
};

static int group_setup(void **state)
{
	(void)state;
	return itest_start();
}

static int group_teardown(void **state)
{
	(void)state;
	return itest_stop();
}

/* A fresh fake, schema (with ai_cache) and AI layer for each test. */
static void start(const char *provider, const char *key)
{
	fx.url = fake_gemini_start(&fx.fg);
	assert_non_null(fx.url);
	itest_name("aiemb_", fx.schema, sizeof(fx.schema));
	itest_migrate_common(fx.schema);
	fx.db = itest_connect(fx.schema);
	struct tm_ai_config c = {.provider = provider,
				 .gemini = {.base_url = fx.url,
					    .api_key = key,
					    .model = FAKE_GEMINI_MODEL,
					    .embed_model = FAKE_GEMINI_EMBED_MODEL,
					    .timeout_ms = 5000,
					    .max_attempts = 2,
					    .backoff_base_ms = 5,
					    .backoff_cap_ms = 50}};
	tm_ai_init(&fx.ai, &c);
}

static int teardown(void **state)
{
	(void)state;
	tm_ai_destroy(&fx.ai);
	tm_db_close(fx.db);
	fx.db = NULL;
	itest_drop_schema(fx.schema);
	fake_gemini_stop(fx.fg);
	fx.fg = NULL;
	return 0;
}

static int embed(const char *const *texts, size_t n, float *out)
{
	return tm_ai_embed(&fx.ai, fx.db, texts, n, "RETRIEVAL_DOCUMENT", out, fx.space, fx.why,
			   sizeof(fx.why));
}

static double dot(const float *a, const float *b)
{
	double s = 0;
	for (int i = 0; i < DIMS; i++)
		s += (double)a[i] * b[i];
	return s;
}

static void assert_unit_rows(const float *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_float_equal(dot(rows + i * DIMS, rows + i * DIMS), 1.0, 1e-4);
}

static void assert_rows_equal(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n * DIMS; i++)
		assert_float_equal(a[i], b[i], EPS);
}

/* The local rows of texts, computed directly. */
static void local_rows(const char *const *texts, size_t n, float *out)
{
	for (size_t i = 0; i < n; i++)
		tm_ai_local_embed(texts[i], DIMS, out + i * DIMS);
}

static int64_t cached_rows(void)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".ai_cache", fx.schema);
	return itest_int(itest.admin, sql, 0, NULL);
}

static void test_local_provider_embeds_locally_and_deterministically(void **state)
{
	float a[3 * DIMS], b[3 * DIMS], want[3 * DIMS];
	(void)state;
	start("local", "");
	assert_int_equal(embed(TEXTS, 3, a), 0);
	assert_string_equal(fx.space, LOCAL_SPACE);
	assert_string_equal(fx.why, ""); /* the configured provider answered */
	assert_unit_rows(a, 3);
	local_rows(TEXTS, 3, want);
	assert_rows_equal(a, want, 3);
	assert_int_equal(embed(TEXTS, 3, b), 0);
	assert_rows_equal(a, b, 3);
	assert_int_equal(fake_gemini_request_count(fx.fg), 0);
	assert_int_equal(cached_rows(), 0); /* local rows cost nothing: not cached */
	/* related texts are closer than unrelated ones */
	const char *const pair[] = {"React TypeScript frontend developer",
				    "frontend developer with React and TypeScript"};
	float p[2 * DIMS];
	assert_int_equal(embed(pair, 2, p), 0);
	assert_true(dot(p, p + DIMS) > dot(p, a + 1 * DIMS) + 0.2);
}

static void test_gemini_rows_are_in_gemini_space_and_cached(void **state)
{
	float a[3 * DIMS], b[3 * DIMS], direct[3 * DIMS];
	char err[256];
	(void)state;
	start("gemini", FAKE_GEMINI_API_KEY);
	assert_int_equal(embed(TEXTS, 3, a), 0);
	assert_string_equal(fx.space, GEMINI_SPACE);
	assert_string_equal(fx.why, "");
	assert_unit_rows(a, 3);
	assert_int_equal(fake_gemini_request_count(fx.fg), 1); /* one batch */
	/* the same rows as the Gemini client gives */
	assert_int_equal(tm_gemini_embed(&fx.ai.cfg.gemini, TEXTS, 3, "RETRIEVAL_DOCUMENT", DIMS,
					 direct, NULL, err, sizeof(err)),
			 TM_GEMINI_OK);
	assert_rows_equal(a, direct, 3);
	assert_int_equal(cached_rows(), 3);

	/* again: every row from the cache, no request */
	int before = fake_gemini_request_count(fx.fg);
	assert_int_equal(embed(TEXTS, 3, b), 0);
	assert_string_equal(fx.space, GEMINI_SPACE);
	assert_rows_equal(a, b, 3);
	assert_int_equal(fake_gemini_request_count(fx.fg), before);

	/* a new text with two known ones: only the new one is sent */
	const char *const mixed[] = {TEXTS[2], "Kubernetes operator in Go", TEXTS[0]};
	float m[3 * DIMS];
	assert_int_equal(embed(mixed, 3, m), 0);
	assert_int_equal(fake_gemini_request_count(fx.fg), before + 1);
	struct fake_gemini_request *rec = malloc(sizeof(*rec));
	assert_non_null(rec);
	assert_int_equal(fake_gemini_request(fx.fg, before, rec), 0);
	assert_non_null(strstr(rec->body, "Kubernetes operator in Go"));
	assert_null(strstr(rec->body, "Stripe")); /* the cached ones were not sent */
	free(rec);
	assert_rows_equal(m, a + 2 * DIMS, 1);
	assert_rows_equal(m + 2 * DIMS, a, 1);
	assert_int_equal(cached_rows(), 4);
}

static void test_the_task_type_is_part_of_the_cache_key(void **state)
{
	float a[DIMS];
	(void)state;
	start("gemini", FAKE_GEMINI_API_KEY);
	assert_int_equal(embed(TEXTS, 1, a), 0);
	assert_int_equal(tm_ai_embed(&fx.ai, fx.db, TEXTS, 1, "RETRIEVAL_QUERY", a, fx.space,
				     fx.why, sizeof(fx.why)),
			 0);
	assert_string_equal(fx.space, GEMINI_SPACE); /* query and document compare */
	assert_int_equal(fake_gemini_request_count(fx.fg), 2);
	assert_int_equal(cached_rows(), 2);
}

static void test_a_failing_gemini_falls_back_for_every_row_and_opens_the_breaker(void **state)
{
	float a[3 * DIMS], cached[DIMS], want[3 * DIMS];
	(void)state;
	start("gemini", FAKE_GEMINI_API_KEY);
	assert_int_equal(embed(TEXTS, 1, cached), 0); /* TEXTS[0] is cached in Gemini space */
	fake_gemini_fail_next(fx.fg, 1000, FAKE_GEMINI_503);
	for (int call = 0; call < 3; call++) { /* the breaker opens after 3 failed calls */
		assert_int_equal(embed(TEXTS, 3, a), 0);
		assert_string_equal(fx.space, LOCAL_SPACE);
		assert_non_null(strstr(fx.why, "unavailable"));
		/* one call never mixes spaces: the cached Gemini row is not used */
		local_rows(TEXTS, 3, want);
		assert_rows_equal(a, want, 3);
	}
	int sent = fake_gemini_request_count(fx.fg);
	assert_int_equal(embed(TEXTS, 3, a), 0);
	assert_string_equal(fx.space, LOCAL_SPACE);
	assert_non_null(strstr(fx.why, "circuit breaker is open"));
	assert_int_equal(fake_gemini_request_count(fx.fg), sent); /* nothing sent */
	/* rows all in the cache need no call, so they are still served from it */
	assert_int_equal(embed(TEXTS, 1, a), 0);
	assert_string_equal(fx.space, GEMINI_SPACE);
	assert_rows_equal(a, cached, 1);
}

static void test_gemini_without_a_key_embeds_locally_and_says_why(void **state)
{
	float a[DIMS];
	(void)state;
	start("gemini", "");
	assert_int_equal(embed(TEXTS, 1, a), 0);
	assert_string_equal(fx.space, LOCAL_SPACE);
	assert_non_null(strstr(fx.why, "GEMINI_API_KEY"));
	assert_int_equal(fake_gemini_request_count(fx.fg), 0);
}

static void test_a_long_text_is_cut_at_a_character_boundary(void **state)
{
	size_t len = TM_AI_EMBED_TEXT_MAX + 500;
	char *text = malloc(len + 1);
	float a[DIMS];
	(void)state;
	assert_non_null(text);
	memset(text, 'a', len);
	for (size_t i = 100; i + 2 < len; i += 9) { /* "é" (2 bytes) across the cut */
		text[i] = ' ';
		text[i + 1] = (char)0xc3;
		text[i + 2] = (char)0xa9;
	}
	text[TM_AI_EMBED_TEXT_MAX - 1] = (char)0xc3; /* a character straddles the limit */
	text[TM_AI_EMBED_TEXT_MAX] = (char)0xa9;
	text[len] = '\0';
	start("gemini", FAKE_GEMINI_API_KEY);
	const char *const one[] = {text};
	assert_int_equal(embed(one, 1, a), 0);
	assert_string_equal(fx.space, GEMINI_SPACE);
	struct fake_gemini_request *rec = malloc(sizeof(*rec));
	assert_non_null(rec);
	assert_int_equal(fake_gemini_request(fx.fg, 0, rec), 0);
	cJSON *j = cJSON_ParseWithLength(rec->body, rec->body_len);
	assert_non_null(j);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(
					cJSON_GetArrayItem(
						cJSON_GetObjectItemCaseSensitive(j, "requests"), 0),
					"content"),
				"parts"),
			0),
		"text");
	assert_true(cJSON_IsString(t));
	assert_int_equal(strlen(t->valuestring), TM_AI_EMBED_TEXT_MAX - 1);
	assert_true(tm_utf8_valid(t->valuestring, strlen(t->valuestring)));
	cJSON_Delete(j);
	free(rec);
	free(text);
}

static void test_bad_inputs_are_refused_without_a_request(void **state)
{
	float a[2 * DIMS];
	static float big[(TM_AI_EMBED_BATCH_MAX + 1) * DIMS];
	const char *many[TM_AI_EMBED_BATCH_MAX + 1];
	(void)state;
	start("gemini", FAKE_GEMINI_API_KEY);
	for (size_t i = 0; i < TM_ARRAY_LEN(many); i++)
		many[i] = "Go developer";
	assert_int_equal(embed(many, 0, a), -1);
	assert_non_null(strstr(fx.why, "1 to 100"));
	assert_int_equal(embed(many, TM_AI_EMBED_BATCH_MAX + 1, big), -1);
	const char *const empty[] = {"fine", ""};
	assert_int_equal(embed(empty, 2, a), -1);
	assert_non_null(strstr(fx.why, "text 1"));
	const char *const nul[] = {NULL};
	assert_int_equal(embed(nul, 1, a), -1);
	const char *const bad_utf8[] = {"caf\xc3", "ok"};
	assert_int_equal(embed(bad_utf8, 2, a), -1);
	assert_non_null(strstr(fx.why, "not UTF-8"));
	assert_string_equal(fx.space, "");
	assert_int_equal(fake_gemini_request_count(fx.fg), 0);
	/* the most one call takes is fine */
	assert_int_equal(embed(many, TM_AI_EMBED_BATCH_MAX, big), 0);
	assert_int_equal(fake_gemini_request_count(fx.fg), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
	const struct CMUnitTest tests[] = {
		T(test_local_provider_embeds_locally_and_deterministically),
		T(test_gemini_rows_are_in_gemini_space_and_cached),
		T(test_the_task_type_is_part_of_the_cache_key),
		T(test_a_failing_gemini_falls_back_for_every_row_and_opens_the_breaker),
		T(test_gemini_without_a_key_embeds_locally_and_says_why),
		T(test_a_long_text_is_cut_at_a_character_boundary),
		T(test_bad_inputs_are_refused_without_a_request),
	};
	itest_filter();
	return cmocka_run_group_tests_name("ai_embed", tests, group_setup, group_teardown);
}
