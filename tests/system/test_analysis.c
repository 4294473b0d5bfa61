/*
 * Project analysis end to end with Gemini played by the fake Gemini server:
 * POST /projects answers 202 "analyzing", tm-projects' worker asks the AI
 * layer and stores the analysis, tasks and estimates. Retries, the cache, the
 * schema check with one more try, the circuit breaker and the local fallback
 * are all seen from the outside; the API key never reaches a log.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../support/sql.h"
#include "../support/fake_gemini.h"
#include "../support/http.h"
#include "../support/stack.h"
#include "tm/buf.h"
#include "tm/db.h"
#include "tm/util.h"

static struct tm_test_stack stack;
static struct fake_gemini *gemini;
static char token[1024], other[1024];

/* Six tasks: T1 <- T2 <- (T3, T4) <- T5 <- T6; hours and levels chosen so the
 * budget is easy to check: 10 junior + 20*3 mid + (8 + 4) senior. */
static const char good_reply[] =
	"{\"summary\":\"A handmade-goods marketplace\",\"projectType\":\"marketplace\","
	"\"complexity\":\"medium\",\"requiredSkills\":[\"reactjs\",\"postgres\",\"stripe\"],"
	"\"features\":[\"payments\",\"admin_dashboard\"],\"risks\":[\"PCI scope\"],\"tasks\":["
	"{\"key\":\"T1\",\"title\":\"Setup\",\"description\":\"Repo and CI\",\"skills\":[],"
	"\"hours\":10,\"priority\":\"high\",\"level\":\"junior\",\"dependsOn\":[]},"
	"{\"key\":\"T2\",\"title\":\"Schema\",\"description\":\"Tables\",\"skills\":[\"postgres\"],"
	"\"hours\":20,\"priority\":\"high\",\"level\":\"mid\",\"dependsOn\":[\"T1\"]},"
	"{\"key\":\"T3\",\"title\":\"API\",\"description\":\"Endpoints\",\"skills\":[],"
	"\"hours\":20,\"priority\":\"high\",\"level\":\"mid\",\"dependsOn\":[\"T2\"]},"
	"{\"key\":\"T4\",\"title\":\"UI\",\"description\":\"Pages\",\"skills\":[\"react\"],"
	"\"hours\":20,\"priority\":\"medium\",\"level\":\"mid\",\"dependsOn\":[\"T2\"]},"
	"{\"key\":\"T5\",\"title\":\"Payments\",\"description\":\"Stripe checkout\","
	"\"skills\":[\"stripe\"],\"hours\":8,\"priority\":\"high\",\"level\":\"senior\","
	"\"dependsOn\":[\"T3\",\"T4\"]},"
	"{\"key\":\"T6\",\"title\":\"Launch\",\"description\":\"Go live\",\"skills\":[],"
	"\"hours\":4,\"priority\":\"medium\",\"level\":\"senior\",\"dependsOn\":[\"T5\"]}]}";
#define GOOD_BUDGET_CENTS (10 * 3500 + 60 * 6000 + 12 * 9500)

static int setup(void **state)
{
	char uid[TM_UUID_LEN + 1];
	(void)state;
	const char *url = fake_gemini_start(&gemini);
	if (!url || fake_gemini_set_reply_text(gemini, good_reply) != 0)
		return -1;
	setenv("TM_AI_PROVIDER", "gemini", 1);
	setenv("GEMINI_API_KEY", FAKE_GEMINI_API_KEY, 1);
	setenv("TM_GEMINI_BASE_URL", url, 1);
	setenv("TM_GEMINI_MODEL", FAKE_GEMINI_MODEL, 1);
	setenv("TM_GEMINI_TIMEOUT_MS", "2000", 1);
	setenv("TM_GEMINI_ATTEMPTS", "3", 1);
	setenv("TM_ANALYSIS_POLL_MS", "50", 1);
	setenv("TM_ANALYSIS_ATTEMPTS", "2", 1); /* one retry, then analysis_failed */
	if (tm_test_stack_start(&stack, false) != 0)
		return -1;
	tm_uuid_v4(uid);
	http_mint_token(stack.jwt_secret, uid, "client", token, sizeof(token));
	tm_uuid_v4(uid);
	http_mint_token(stack.jwt_secret, uid, "client", other, sizeof(other));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int rc = tm_test_stack_stop(&stack);
	fake_gemini_stop(gemini);
	return rc == 0 ? 0 : -1;
}

static cJSON *json_of(const struct http_resp *r)
{
	cJSON *j = cJSON_ParseWithLength(r->body, r->len);
	if (!j)
		fail_msg("not JSON: %.200s", r->body);
	return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Creates a project with this brief as `bearer`; returns its id. */
static void create(const char *bearer, const char *title, const char *brief,
		   char id[TM_UUID_LEN + 1])
{
	struct http_resp r;
	char u[256];
	struct tm_buf body;
	tm_buf_init(&body);
	tm_buf_puts(&body, "{\"title\":");
	tm_buf_json_str(&body, title, strlen(title));
	tm_buf_puts(&body, ",\"description\":");
	tm_buf_json_str(&body, brief, strlen(brief));
	tm_buf_putc(&body, '}');
	snprintf(u, sizeof(u), "%s/api/v1/projects", stack.gateway_url);
	assert_int_equal(http_post_json(u, bearer, body.data, &r), 0);
	if (r.status != 202)
		fail_msg("create: %ld %s", r.status, r.body);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(j, "status"), "analyzing");
	snprintf(id, TM_UUID_LEN + 1, "%s", jstr(j, "id"));
	cJSON_Delete(j);
	http_resp_free(&r);
	tm_buf_free(&body);
}

/* Waits (bounded) until the project leaves "analyzing"; returns it (caller deletes). */
static cJSON *wait_analyzed(const char *bearer, const char *id)
{
	char u[256];
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s", stack.gateway_url, id);
	for (int i = 0; i < 600; i++) {
		struct http_resp r;
		assert_int_equal(http_get(u, bearer, &r), 0);
		assert_int_equal(r.status, 200);
		cJSON *j = json_of(&r);
		http_resp_free(&r);
		if (strcmp(jstr(j, "status"), "analyzing") != 0)
			return j;
		cJSON_Delete(j);
		tm_sleep_ms(50);
	}
	fail_msg("project %s still analyzing after 30 s", id);
	return NULL;
}

static const char *source_of(const cJSON *project)
{
	return jstr(cJSON_GetObjectItemCaseSensitive(project, "analysis"), "source");
}

static void test_a_project_is_analyzed_by_gemini_with_tasks_and_estimates(void **state)
{
	char id[TM_UUID_LEN + 1], u[256];
	struct http_resp r;
	int before = fake_gemini_request_count(gemini);
	(void)state;
	create(token, "Handmade market", "Sellers list handmade goods; buyers pay by card.", id);
	cJSON *p = wait_analyzed(token, id);
	assert_string_equal(jstr(p, "status"), "analyzed");
	assert_string_equal(source_of(p), "gemini");
	const cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "analysis");
	assert_string_equal(jstr(an, "projectType"), "marketplace");
	/* skills come back canonical: aliases normalized through the taxonomy */
	const cJSON *skills = cJSON_GetObjectItemCaseSensitive(an, "requiredSkills");
	assert_string_equal(cJSON_GetArrayItem(skills, 0)->valuestring, "React");
	char want[32];
	snprintf(want, sizeof(want), "%d", GOOD_BUDGET_CENTS);
	assert_string_equal(jstr(p, "budgetEstimateCents"), want);
	/* 10 + 20 + 20 + 8 + 4 = 62 h on the critical path (T3 and T4 in parallel):
	 * 8 working days of 8 h = 12 calendar days */
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "timelineEstimateDays")->valueint, 12);
	cJSON_Delete(p);
	assert_true(fake_gemini_request_count(gemini) == before + 1);

	snprintf(u, sizeof(u), "%s/api/v1/projects/%s/tasks", stack.gateway_url, id);
	assert_int_equal(http_get(u, token, &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *t = json_of(&r);
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(t, "items");
	assert_int_equal(cJSON_GetArraySize(items), 6);
	const cJSON *t5 = cJSON_GetArrayItem(items, 4);
	assert_string_equal(jstr(t5, "key"), "T5");
	assert_string_equal(jstr(t5, "status"), "pending");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t5, "dependsOn")), 2);
	assert_true(tm_uuid_valid(jstr(t5, "id")));
	cJSON_Delete(t);
	http_resp_free(&r);
	/* another client sees neither the project nor its tasks */
	assert_int_equal(http_get(u, other, &r), 0);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);
}

static void test_a_repeated_brief_is_answered_from_the_cache(void **state)
{
	char id[TM_UUID_LEN + 1];
	(void)state;
	create(token, "Cached", "The very same words, twice.", id);
	cJSON *p = wait_analyzed(token, id);
	cJSON_Delete(p);
	int before = fake_gemini_request_count(gemini);
	create(other, "Cached", "The very same words, twice.", id);
	p = wait_analyzed(other, id);
	assert_string_equal(source_of(p), "gemini");
	cJSON_Delete(p);
	assert_int_equal(fake_gemini_request_count(gemini), before); /* nothing asked */
}

static void test_server_errors_are_retried_then_gemini_answers(void **state)
{
	char id[TM_UUID_LEN + 1];
	int before = fake_gemini_request_count(gemini);
	(void)state;
	fake_gemini_fail_next(gemini, 2, FAKE_GEMINI_500);
	create(token, "Retried", "Two failures and then an answer.", id);
	cJSON *p = wait_analyzed(token, id);
	assert_string_equal(source_of(p), "gemini");
	cJSON_Delete(p);
	assert_int_equal(fake_gemini_request_count(gemini), before + 3);
}

static void test_a_reply_breaking_the_schema_is_asked_again_then_local_answers(void **state)
{
	char id[TM_UUID_LEN + 1];
	int before = fake_gemini_request_count(gemini);
	(void)state;
	/* two tasks: valid JSON, but not a valid plan */
	assert_int_equal(fake_gemini_set_reply_text(
				 gemini,
				 "{\"summary\":\"x\",\"projectType\":\"api\",\"complexity\":"
				 "\"low\",\"requiredSkills\":[],\"risks\":[],\"tasks\":[]}"),
			 0);
	create(token, "Schema", "An API for a bakery with React and Node.js.", id);
	cJSON *p = wait_analyzed(token, id);
	assert_int_equal(fake_gemini_set_reply_text(gemini, good_reply), 0);
	assert_string_equal(jstr(p, "status"), "analyzed");
	assert_string_equal(source_of(p), "local");
	assert_non_null(
		strstr(jstr(cJSON_GetObjectItemCaseSensitive(p, "analysis"), "fallbackReason"),
		       "validation"));
	cJSON_Delete(p);
	assert_int_equal(fake_gemini_request_count(gemini), before + 2); /* asked once more */
}

static void test_the_owner_can_ask_for_a_new_analysis(void **state)
{
	char id[TM_UUID_LEN + 1], u[256];
	struct http_resp r;
	(void)state;
	create(token, "Again", "Analyze me twice please, a shop with Vue.", id);
	cJSON_Delete(wait_analyzed(token, id));
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s/analyze", stack.gateway_url, id);
	assert_int_equal(http_do("POST", u, (const char *const[]){NULL}, NULL, 0, &r), 0);
	assert_int_equal(r.status, 401); /* needs a token */
	http_resp_free(&r);
	char auth[1100];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", other);
	const char *h_other[] = {auth, NULL};
	assert_int_equal(http_do("POST", u, h_other, NULL, 0, &r), 0);
	assert_int_equal(r.status, 404); /* not theirs */
	http_resp_free(&r);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	const char *h[] = {auth, NULL};
	assert_int_equal(http_do("POST", u, h, NULL, 0, &r), 0);
	assert_int_equal(r.status, 202);
	http_resp_free(&r);
	cJSON *p = wait_analyzed(token, id);
	assert_string_equal(jstr(p, "status"), "analyzed");
	cJSON_Delete(p);
}

static void test_bad_briefs_name_the_field(void **state)
{
	struct http_resp r;
	char u[256];
	size_t n = 20001;
	struct tm_buf body;
	(void)state;
	snprintf(u, sizeof(u), "%s/api/v1/projects", stack.gateway_url);
	tm_buf_init(&body);
	tm_buf_puts(&body, "{\"title\":\"Long\",\"description\":\"");
	for (size_t i = 0; i < n; i++)
		tm_buf_putc(&body, 'a');
	tm_buf_puts(&body, "\"}");
	assert_int_equal(http_post_json(u, token, body.data, &r), 0);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"field\":\"description\""));
	http_resp_free(&r);
	tm_buf_free(&body);
	assert_int_equal(
		http_post_json(u, token, "{\"title\":\"t\",\"description\":\" \\n\\t \"}", &r), 0);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"field\":\"description\""));
	http_resp_free(&r);
	assert_int_equal(
		http_post_json(u, token,
			       "{\"title\":\"t\",\"description\":\"d\",\"budgetCapCents\":\"-5\"}",
			       &r),
		0);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"field\":\"budgetCapCents\""));
	http_resp_free(&r);
}

/* Runs SQL on the stack's database as its owner. */
static void sql(const char *q)
{
	struct tm_db *db;
	char err[256];
	assert_int_equal(tm_db_open(&db, stack.database_url, NULL, err, sizeof(err)), 0);
	if (tsql(db, NULL, q, 0, NULL) != TM_DB_OK)
		fail_msg("%s: %s", q, tm_db_error(db));
	tm_db_close(db);
}

static void test_an_analysis_that_cannot_be_stored_fails_then_is_retried(void **state)
{
	char id[TM_UUID_LEN + 1], u[256], auth[1100];
	struct http_resp r;
	(void)state;
	/* the tasks of this one project cannot be written, as with a full disk */
	sql("CREATE FUNCTION projects.test_refuse_tasks() RETURNS trigger LANGUAGE plpgsql AS "
	    "$$BEGIN IF (SELECT title FROM projects.projects WHERE id = NEW.project_id) = "
	    "'Unstorable' THEN RAISE EXCEPTION 'could not extend file (test)'; END IF; "
	    "RETURN NEW; END$$");
	sql("CREATE TRIGGER test_refuse_tasks BEFORE INSERT ON projects.tasks FOR EACH ROW "
	    "EXECUTE FUNCTION projects.test_refuse_tasks()");
	create(token, "Unstorable", "An inventory app in Django with PostgreSQL and Celery.", id);
	cJSON *p = wait_analyzed(token, id); /* two attempts, then it gives up */
	assert_string_equal(jstr(p, "status"), "analysis_failed");
	assert_non_null(strstr(jstr(p, "statusReason"), "could not be stored"));
	assert_null(strstr(jstr(p, "statusReason"), "extend file")); /* not the database's words */
	cJSON_Delete(p);
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s/tasks", stack.gateway_url, id);
	assert_int_equal(http_get(u, token, &r), 0);
	assert_non_null(strstr(r.body, "\"items\":[]")); /* nothing half-stored */
	http_resp_free(&r);

	/* the disk has room again: the owner asks for a new analysis */
	sql("DROP TRIGGER test_refuse_tasks ON projects.tasks");
	sql("DROP FUNCTION projects.test_refuse_tasks()");
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s/analyze", stack.gateway_url, id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	const char *h[] = {auth, NULL};
	assert_int_equal(http_do("POST", u, h, NULL, 0, &r), 0);
	assert_int_equal(r.status, 202);
	assert_non_null(strstr(r.body, "\"status\":\"analyzing\""));
	http_resp_free(&r);
	p = wait_analyzed(token, id);
	assert_string_equal(jstr(p, "status"), "analyzed");
	assert_string_equal(jstr(p, "statusReason"), "");
	cJSON_Delete(p);
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s/tasks", stack.gateway_url, id);
	assert_int_equal(http_get(u, token, &r), 0);
	cJSON *j = json_of(&r);
	assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")) >= 5);
	cJSON_Delete(j);
	http_resp_free(&r);
}

static void test_the_breaker_opens_and_the_local_analyzer_answers(void **state)
{
	char id[TM_UUID_LEN + 1], title[32];
	(void)state;
	fake_gemini_fail_next(gemini, 1000, FAKE_GEMINI_503);
	for (int i = 0; i < 3; i++) { /* three analyses fail over to local: the breaker opens */
		snprintf(title, sizeof(title), "Outage %d", i);
		create(token, title, "Gemini is down; a React app with PostgreSQL anyway.", id);
		cJSON *p = wait_analyzed(token, id);
		assert_string_equal(source_of(p), "local");
		cJSON_Delete(p);
	}
	int before = fake_gemini_request_count(gemini);
	create(token, "While open", "No call goes out while the breaker is open: Flutter app.", id);
	cJSON *p = wait_analyzed(token, id);
	assert_string_equal(source_of(p), "local");
	assert_non_null(
		strstr(jstr(cJSON_GetObjectItemCaseSensitive(p, "analysis"), "fallbackReason"),
		       "breaker"));
	cJSON_Delete(p);
	assert_int_equal(fake_gemini_request_count(gemini), before);
	fake_gemini_fail_next(gemini, 0, FAKE_GEMINI_OK);
}

static void test_the_api_key_never_reaches_a_log_or_a_url(void **state)
{
	const char *daemons[] = {"gateway",  "projects",  "matching",
				 "payments", "messaging", "learning"};
	(void)state;
	assert_int_equal(fake_gemini_keys_in_uri(gemini), 0);
	for (size_t i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
		char path[512], line[8192];
		tm_test_stack_log(&stack, daemons[i], path, sizeof(path));
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			if (strstr(line, FAKE_GEMINI_API_KEY))
				fail_msg("the Gemini key appears in %s: %s", path, line);
		fclose(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_project_is_analyzed_by_gemini_with_tasks_and_estimates),
		cmocka_unit_test(test_a_repeated_brief_is_answered_from_the_cache),
		cmocka_unit_test(test_server_errors_are_retried_then_gemini_answers),
		cmocka_unit_test(
			test_a_reply_breaking_the_schema_is_asked_again_then_local_answers),
		cmocka_unit_test(test_the_owner_can_ask_for_a_new_analysis),
		cmocka_unit_test(test_an_analysis_that_cannot_be_stored_fails_then_is_retried),
		cmocka_unit_test(test_bad_briefs_name_the_field),
		cmocka_unit_test(test_the_breaker_opens_and_the_local_analyzer_answers),
		cmocka_unit_test(test_the_api_key_never_reaches_a_log_or_a_url),
	};
	return cmocka_run_group_tests_name("system: project analysis", tests, setup, teardown);
}
