/* The AI layer's provider-independent parts: graph checks, JSON validation,
 * the local analyzer's invariants and determinism, local embeddings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/seed.h"
#include "tm/ai.h"
#include "tm/buf.h"

static struct tm_taxonomy *tax;

static int setup(void **state)
{
	(void)state;
	tax = tm_test_seed_taxonomy();
	return tax ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tm_taxonomy_free(tax);
	return 0;
}

/* A valid analysis JSON with `ntasks` tasks chained T1 <- T2 <- ...; `extra`
 * is spliced into the last task (e.g. a bad field). */
static char *analysis_json(int ntasks, const char *last_deps)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_puts(
		&b,
		"{\"summary\":\"A shop\",\"projectType\":\"ecommerce\",\"complexity\":\"medium\","
		"\"requiredSkills\":[\"reactjs\",\"Postgres\",\"NoSuchSkill\",\"React\"],"
		"\"features\":[\"payments\"],\"risks\":[\"PCI\"],\"tasks\":[");
	for (int i = 1; i <= ntasks; i++) {
		char deps[64];
		if (i == ntasks && last_deps)
			snprintf(deps, sizeof(deps), "%s", last_deps);
		else if (i == 1)
			snprintf(deps, sizeof(deps), "[]");
		else
			snprintf(deps, sizeof(deps), "[\"T%d\"]", i - 1);
		tm_buf_printf(&b,
			      "%s{\"key\":\"T%d\",\"title\":\"Task %d\",\"description\":\"Do %d\","
			      "\"skills\":[\"react\"],\"hours\":%d,\"priority\":\"high\","
			      "\"level\":\"mid\",\"dependsOn\":%s}",
			      i > 1 ? "," : "", i, i, i, 4 * i, deps);
	}
	tm_buf_puts(&b, "]}");
	return tm_buf_steal(&b, NULL);
}

static int parse(const char *json, struct tm_ai_analysis **an, char *err, struct tm_arena *a)
{
	return tm_ai_analysis_from_json(tax, json, strlen(json), a, an, err, 256);
}

static void test_a_valid_analysis_is_parsed_and_skills_normalized(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *an;
	char err[256];
	char *json = analysis_json(6, NULL);
	(void)state;
	assert_int_equal(parse(json, &an, err, a), 0);
	assert_int_equal(an->ntasks, 6);
	assert_string_equal(an->project_type, "ecommerce");
	/* aliases become canonical names, duplicates and unknown names drop out */
	assert_int_equal(an->nskills, 2);
	assert_string_equal(an->required_skills[0], "React");
	assert_string_equal(an->tasks[5].depends_on[0], "T5");
	assert_int_equal(an->tasks[2].hours, 12);
	/* and it survives the round trip through the cache's JSON */
	struct tm_buf b;
	struct tm_ai_analysis *again;
	tm_buf_init(&b);
	assert_int_equal(tm_ai_analysis_to_json(an, &b), 0);
	assert_int_equal(tm_ai_analysis_from_json(tax, b.data, b.len, a, &again, err, sizeof(err)),
			 0);
	assert_int_equal(again->ntasks, 6);
	assert_string_equal(again->tasks[3].title, "Task 4");
	tm_buf_free(&b);
	free(json);
	tm_arena_free(a);
}

static void test_invalid_analyses_are_refused(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *an;
	char err[256];
	struct {
		int ntasks;
		const char *deps;
		const char *why;
	} cases[] = {
		{4, NULL, "tasks"},		 /* too few */
		{41, NULL, "tasks"},		 /* too many */
		{6, "[\"T9\"]", "unknown key"},	 /* unknown dependency */
		{6, "[\"T6\"]", "itself"},	 /* self dependency */
		{6, "[\"T5\",\"T5\"]", "twice"}, /* duplicate dependency */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *json = analysis_json(cases[i].ntasks, cases[i].deps);
		assert_int_equal(parse(json, &an, err, a), -1);
		if (!strstr(err, cases[i].why))
			fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, cases[i].why);
		free(json);
	}
	/* a cycle: T1 depends on T6 which (through the chain) depends on T1 */
	char *json = analysis_json(6, NULL);
	char *p = strstr(json, "\"dependsOn\":[]");
	assert_non_null(p);
	char *fixed = malloc(strlen(json) + 16);
	snprintf(fixed, strlen(json) + 16, "%.*s\"dependsOn\":[\"T6\"]%s", (int)(p - json), json,
		 p + strlen("\"dependsOn\":[]"));
	assert_int_equal(parse(fixed, &an, err, a), -1);
	assert_non_null(strstr(err, "cycle"));
	free(fixed);
	free(json);
	const char *bad[] = {
		"", "[]", "{\"summary\":1}", "not json",
		"{\"summary\":\"x\",\"projectType\":\"spaceship\",\"complexity\":\"low\","
		"\"requiredSkills\":[],\"risks\":[],\"tasks\":[]}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &an, err, a), -1);
	tm_arena_free(a);
}

static void test_hours_out_of_range_are_refused(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *an;
	char err[256];
	char *json = analysis_json(5, NULL);
	(void)state;
	char *h = strstr(json, "\"hours\":4,");
	memcpy(h, "\"hours\":0,", 10);
	assert_int_equal(parse(json, &an, err, a), -1);
	free(json);
	tm_arena_free(a);
}

static void test_the_local_analyzer_plans_a_marketplace(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *an;
	char err[256];
	(void)state;
	assert_int_equal(
		tm_ai_local_analyze(tax, "Handmade marketplace",
				    "I need a marketplace web app where sellers list "
				    "handmade goods, buyers pay by card, with an admin "
				    "dashboard and a mobile-friendly UI. We like React and "
				    "PostgreSQL.",
				    a, &an, err, sizeof(err)),
		0);
	assert_string_equal(an->source, "local");
	assert_string_equal(an->project_type, "marketplace");
	assert_true(an->ntasks >= TM_AI_TASKS_MIN && an->ntasks <= TM_AI_TASKS_MAX);
	assert_null(tm_ai_check_graph(an->tasks, an->ntasks, NULL));
	bool payments = false, admin = false, react = false;
	for (size_t i = 0; i < an->nfeatures; i++) {
		payments = payments || strcmp(an->features[i], "payments") == 0;
		admin = admin || strcmp(an->features[i], "admin_dashboard") == 0;
	}
	for (size_t i = 0; i < an->nskills; i++)
		react = react || strcmp(an->required_skills[i], "React") == 0;
	assert_true(payments && admin && react);
	for (size_t i = 0; i < an->ntasks; i++) {
		assert_true(an->tasks[i].hours >= 1 && an->tasks[i].hours <= TM_AI_TASK_HOURS_MAX);
		assert_true(an->tasks[i].title[0] != '\0');
	}
	assert_true(an->nrisks >= 1);
	tm_arena_free(a);
}

static void test_the_local_analyzer_is_deterministic(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *x, *y;
	struct tm_buf bx, by;
	char err[256];
	const char *brief = "mobile app for booking yoga classes, ios and android, with push "
			    "reminders, payments via stripe and a calendar. flutter preferred";
	(void)state;
	assert_int_equal(tm_ai_local_analyze(tax, "Yoga", brief, a, &x, err, sizeof(err)), 0);
	assert_int_equal(tm_ai_local_analyze(tax, "Yoga", brief, a, &y, err, sizeof(err)), 0);
	tm_buf_init(&bx);
	tm_buf_init(&by);
	assert_int_equal(tm_ai_analysis_to_json(x, &bx), 0);
	assert_int_equal(tm_ai_analysis_to_json(y, &by), 0);
	assert_string_equal(bx.data, by.data);
	assert_string_equal(x->project_type, "mobile_app");
	tm_buf_free(&bx);
	tm_buf_free(&by);
	tm_arena_free(a);
}

static void test_a_one_line_brief_still_gets_a_valid_plan(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *an;
	char err[256];
	(void)state;
	assert_int_equal(tm_ai_local_analyze(tax, "x", "a website", a, &an, err, sizeof(err)), 0);
	assert_true(an->ntasks >= TM_AI_TASKS_MIN);
	assert_null(tm_ai_check_graph(an->tasks, an->ntasks, NULL));
	assert_string_equal(an->complexity, "low");
	bool short_risk = false;
	for (size_t i = 0; i < an->nrisks; i++)
		short_risk = short_risk || strstr(an->risks[i], "short") != NULL;
	assert_true(short_risk);
	/* and its JSON form validates like a provider's would */
	struct tm_buf b;
	struct tm_ai_analysis *again;
	tm_buf_init(&b);
	assert_int_equal(tm_ai_analysis_to_json(an, &b), 0);
	assert_int_equal(tm_ai_analysis_from_json(tax, b.data, b.len, a, &again, err, sizeof(err)),
			 0);
	tm_buf_free(&b);
	tm_arena_free(a);
}

static double dot(const float *x, const float *y, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += (double)x[i] * y[i];
	return s;
}

static void test_local_embeddings_are_unit_vectors_that_rank_similar_texts_closer(void **state)
{
	float a[TM_AI_EMBED_DIMS], b[TM_AI_EMBED_DIMS], c[TM_AI_EMBED_DIMS], d[TM_AI_EMBED_DIMS];
	(void)state;
	tm_ai_local_embed("senior react developer, typescript and node.js", TM_AI_EMBED_DIMS, a);
	tm_ai_local_embed("React developer with TypeScript and Node.js", TM_AI_EMBED_DIMS, b);
	tm_ai_local_embed("embedded firmware for stm32 microcontrollers", TM_AI_EMBED_DIMS, c);
	tm_ai_local_embed("senior react developer, typescript and node.js", TM_AI_EMBED_DIMS, d);
	assert_true(fabs(dot(a, a, TM_AI_EMBED_DIMS) - 1.0) < 1e-5);
	assert_true(dot(a, b, TM_AI_EMBED_DIMS) > dot(a, c, TM_AI_EMBED_DIMS) + 0.2);
	assert_memory_equal(a, d, sizeof(a)); /* deterministic */
	float z[8];
	tm_ai_local_embed("", 8, z); /* nothing to hash: the zero vector, no NaN */
	for (int i = 0; i < 8; i++)
		assert_true(z[i] == 0.0f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_valid_analysis_is_parsed_and_skills_normalized),
		cmocka_unit_test(test_invalid_analyses_are_refused),
		cmocka_unit_test(test_hours_out_of_range_are_refused),
		cmocka_unit_test(test_the_local_analyzer_plans_a_marketplace),
		cmocka_unit_test(test_the_local_analyzer_is_deterministic),
		cmocka_unit_test(test_a_one_line_brief_still_gets_a_valid_plan),
		cmocka_unit_test(
			test_local_embeddings_are_unit_vectors_that_rank_similar_texts_closer),
	};
	return cmocka_run_group_tests_name("ai", tests, setup, teardown);
}
