/*
 * The whole suite over HTTP: the real stack (PostgreSQL, tm-devkafka, the
 * five services, the gateway) started on free ports by deploy/devstack.
 * Proves the path HTTP -> gateway -> nng -> tm-projects -> PostgreSQL row +
 * outbox row -> Kafka -> tm-matching (another service) -> an effect seen
 * through the gateway, and that a redelivered event is applied once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../support/sql.h"
#include "../support/http.h"
#include "../support/stack.h"
#include "tm/db.h"
#include "tm/util.h"

static struct tm_test_stack stack;
static char client_a[TM_UUID_LEN + 1], client_b[TM_UUID_LEN + 1], developer[TM_UUID_LEN + 1];
static char token_a[1024], token_b[1024], token_dev[1024];

#define HTTP_TIMEOUT_S "2"	/* the stack's idle/read timeout, short for the tests */
#define HTTP_MAX_CONNECTIONS 64 /* the stack's connection limit */

static int setup(void **state)
{
	(void)state;
	setenv("TM_HTTP_TIMEOUT_S", HTTP_TIMEOUT_S, 1); /* inherited by the gateway */
	setenv("TM_HTTP_MAX_CONNECTIONS", "64", 1);
	if (tm_test_stack_start(&stack, false) != 0)
		return -1;
	tm_uuid_v4(client_a);
	tm_uuid_v4(client_b);
	tm_uuid_v4(developer);
	http_mint_token(stack.jwt_secret, client_a, "client", token_a, sizeof(token_a));
	http_mint_token(stack.jwt_secret, client_b, "client", token_b, sizeof(token_b));
	http_mint_token(stack.jwt_secret, developer, "developer", token_dev, sizeof(token_dev));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tm_test_stack_stop(&stack) == 0 ? 0 : -1;
}

static void url(char *out, size_t len, const char *path)
{
	snprintf(out, len, "%s%s", stack.gateway_url, path);
}

/* Parses a reply body as JSON (the test fails if it is not). */
static cJSON *json_of(const struct http_resp *r)
{
	cJSON *j = cJSON_ParseWithLength(r->body, r->len);
	if (!j)
		fail_msg("not JSON: %.200s", r->body);
	return j;
}

static const char *jstr(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Asserts the API error format with `code`, and returns the error object's details. */
static void assert_error(const struct http_resp *r, long status, const char *code)
{
	char rid[80];
	if (r->status != status)
		fail_msg("expected %ld, got %ld: %.300s", status, r->status, r->body);
	cJSON *j = json_of(r);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	assert_non_null(e);
	assert_string_equal(jstr(e, "code"), code);
	assert_non_null(jstr(e, "message"));
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(e, "details")));
	int64_t ts;
	assert_int_equal(tm_parse_rfc3339(jstr(e, "timestamp"), &ts), 0);
	assert_int_equal(http_header(r, "X-Request-Id", rid, sizeof(rid)), 0);
	assert_string_equal(jstr(e, "requestId"), rid);
	cJSON_Delete(j);
}

/* The first error detail's field, into out. */
static void first_detail_field(const struct http_resp *r, char *out, size_t len)
{
	cJSON *j = json_of(r);
	const cJSON *d =
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
					   cJSON_GetObjectItemCaseSensitive(j, "error"), "details"),
				   0);
	snprintf(out, len, "%s", d && jstr(d, "field") ? jstr(d, "field") : "");
	cJSON_Delete(j);
}

static void test_healthz_answers_with_security_headers(void **state)
{
	struct http_resp r;
	char u[256], h[128];
	(void)state;
	url(u, sizeof(u), "/healthz");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(j, "status"), "ok");
	cJSON_Delete(j);
	assert_int_equal(http_header(&r, "X-Content-Type-Options", h, sizeof(h)), 0);
	assert_string_equal(h, "nosniff");
	assert_int_equal(http_header(&r, "Cache-Control", h, sizeof(h)), 0);
	assert_string_equal(h, "no-store");
	assert_int_equal(http_header(&r, "X-Request-Id", h, sizeof(h)), 0);
	assert_true(tm_uuid_valid(h));
	http_resp_free(&r);
}

static void test_client_request_id_is_echoed(void **state)
{
	struct http_resp r;
	char u[256], h[128];
	const char *hdr[] = {"X-Request-Id: trace-abc-123", NULL};
	(void)state;
	url(u, sizeof(u), "/healthz");
	assert_int_equal(http_do("GET", u, hdr, NULL, 0, &r), 0);
	assert_int_equal(http_header(&r, "X-Request-Id", h, sizeof(h)), 0);
	assert_string_equal(h, "trace-abc-123");
	http_resp_free(&r);
}

static void test_readyz_is_ready_when_every_service_answers(void **state)
{
	struct http_resp r;
	char u[256];
	(void)state;
	url(u, sizeof(u), "/readyz");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(j, "status"), "ready");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "services")), 5);
	cJSON_Delete(j);
	http_resp_free(&r);
	url(u, sizeof(u), "/readyz/learning");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	url(u, sizeof(u), "/readyz/nosuch");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_error(&r, 404, "NOT_FOUND");
	http_resp_free(&r);
}

static void test_readyz_names_a_service_that_does_not_answer(void **state)
{
	struct http_resp r;
	char u[256];
	int pid = tm_test_stack_pid(&stack, "payments");
	(void)state;
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGSTOP), 0); /* alive but silent */
	url(u, sizeof(u), "/readyz");
	assert_int_equal(http_get(u, NULL, &r), 0);
	kill(pid, SIGCONT);
	assert_error(&r, 503, "SERVICE_UNAVAILABLE");
	assert_non_null(strstr(r.body, "payments"));
	assert_null(strstr(r.body, "\"projects\""));
	http_resp_free(&r);
	/* back to ready once it answers again */
	for (int i = 0; i < 50; i++) {
		assert_int_equal(http_get(u, NULL, &r), 0);
		long st = r.status;
		http_resp_free(&r);
		if (st == 200)
			return;
		tm_sleep_ms(100);
	}
	fail_msg("/readyz did not recover after SIGCONT");
}

static void test_unknown_route_is_404_in_the_error_format(void **state)
{
	struct http_resp r;
	char u[256];
	(void)state;
	url(u, sizeof(u), "/api/v1/nothing-here");
	assert_int_equal(http_get(u, token_a, &r), 0);
	assert_error(&r, 404, "NOT_FOUND");
	http_resp_free(&r);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
	struct http_resp r;
	char u[256], allow[64];
	(void)state;
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_do("DELETE", u, NULL, NULL, 0, &r), 0);
	assert_error(&r, 405, "METHOD_NOT_ALLOWED");
	assert_int_equal(http_header(&r, "Allow", allow, sizeof(allow)), 0);
	assert_non_null(strstr(allow, "POST"));
	assert_non_null(strstr(allow, "GET"));
	http_resp_free(&r);
}

static void test_missing_forged_and_wrong_role_tokens_are_refused(void **state)
{
	struct http_resp r;
	char u[256], forged[1024];
	(void)state;
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_post_json(u, NULL, "{\"title\":\"t\",\"description\":\"d\"}", &r), 0);
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
	http_mint_token("a-different-secret-of-at-least-32-bytes!!", client_a, "client", forged,
			sizeof(forged));
	assert_int_equal(http_post_json(u, forged, "{\"title\":\"t\",\"description\":\"d\"}", &r),
			 0);
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
	assert_int_equal(
		http_post_json(u, token_dev, "{\"title\":\"t\",\"description\":\"d\"}", &r), 0);
	assert_error(&r, 403, "FORBIDDEN");
	http_resp_free(&r);
}

static void test_bad_json_is_400(void **state)
{
	struct http_resp r;
	char u[256], field[64];
	(void)state;
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_post_json(u, token_a, "{\"title\": \"x\",", &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	http_resp_free(&r);
	assert_int_equal(
		http_post_json(u, token_a,
			       "{\"title\":\"t\",\"description\":\"d\",\"role\":\"admin\"}", &r),
		0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "role");
	http_resp_free(&r);
	assert_int_equal(http_post_json(u, token_a, "{\"title\":5,\"description\":\"d\"}", &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "title");
	http_resp_free(&r);
}

static void test_deep_json_is_refused(void **state)
{
	struct http_resp r;
	char u[256];
	char *deep = malloc(20010);
	(void)state;
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	char *body = malloc(20100);
	snprintf(body, 20100, "{\"title\":%s}", deep);
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_post_json(u, token_a, body, &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	http_resp_free(&r);
	free(deep);
	free(body);
}

static void test_oversized_body_is_413(void **state)
{
	struct http_resp r;
	char u[256];
	size_t n = (1u << 20) + 100;
	char *big = malloc(n + 1);
	const char *h[] = {"Content-Type: application/json", NULL, NULL};
	char auth[1100];
	(void)state;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token_a);
	h[1] = auth;
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_do("POST", u, h, big, n, &r), 0);
	assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
	http_resp_free(&r);
	/* chunked: no Content-Length to judge by; the limit applies while reading */
	const char *hc[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", auth,
			    NULL};
	assert_int_equal(http_do("POST", u, hc, big, n, &r), 0);
	assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
	http_resp_free(&r);
	free(big);
}

static void test_wrong_content_type_is_415(void **state)
{
	struct http_resp r;
	char u[256], auth[1100];
	(void)state;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token_a);
	const char *h[] = {"Content-Type: text/xml", auth, NULL};
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_do("POST", u, h, "<x/>", 4, &r), 0);
	assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
	http_resp_free(&r);
}

static void test_huge_headers_are_431(void **state)
{
	struct http_resp r;
	char u[256];
	char *big = malloc(20000);
	(void)state;
	snprintf(big, 20000, "X-Padding: ");
	memset(big + 11, 'a', 18000);
	big[18011] = '\0';
	const char *h[] = {big, NULL};
	url(u, sizeof(u), "/healthz");
	assert_int_equal(http_do("GET", u, h, NULL, 0, &r), 0);
	assert_error(&r, 431, "HEADERS_TOO_LARGE");
	http_resp_free(&r);
	free(big);
}

static void test_validation_names_the_field(void **state)
{
	struct http_resp r;
	char u[256], field[64];
	(void)state;
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(
		http_post_json(u, token_a, "{\"title\":\"   \",\"description\":\"d\"}", &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "title");
	http_resp_free(&r);
	/* absent on the wire: protobuf-c's shared empty string must not be written to */
	assert_int_equal(http_post_json(u, token_a, "{\"description\":\"d\"}", &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "title");
	http_resp_free(&r);
	assert_int_equal(http_post_json(u, token_a, "{}", &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	http_resp_free(&r);
	assert_int_equal(
		http_post_json(u, token_a,
			       "{\"title\":\"t\",\"description\":\"d\",\"budgetCapCents\":\"0\"}",
			       &r),
		0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "budgetCapCents");
	http_resp_free(&r);
	assert_int_equal(
		http_post_json(
			u, token_a,
			"{\"title\":\"t\",\"description\":\"d\",\"deadline\":\"2001-01-01T00:00:00Z\"}",
			&r),
		0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "deadline");
	http_resp_free(&r);
}

/* The value of one series in /metrics (e.g. tm_events_applied_total{service="matching"}),
 * or -1 when absent. */
static double metric(const char *series)
{
	struct http_resp r;
	char u[256];
	double v = -1;
	url(u, sizeof(u), "/metrics");
	if (http_get(u, NULL, &r) != 0 || r.status != 200) {
		http_resp_free(&r);
		return -1;
	}
	size_t n = strlen(series);
	for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	http_resp_free(&r);
	return v;
}

/* Waits (bounded) until a metric reaches `want`; returns the last value. */
static double wait_metric(const char *series, double want)
{
	double v = -1;
	for (int i = 0; i < 150; i++) {
		v = metric(series);
		if (v >= want)
			return v;
		tm_sleep_ms(100);
	}
	return v;
}

/* Creates a project as `token`; returns the reply (caller frees) and the id. */
static void create_project(const char *token, const char *title, char id[TM_UUID_LEN + 1],
			   struct http_resp *r)
{
	char u[256], body[512];
	url(u, sizeof(u), "/api/v1/projects");
	snprintf(
		body, sizeof(body),
		"{\"title\":\"%s\",\"description\":\"A marketplace where sellers list handmade "
		"goods and buyers pay by card\",\"budgetCapCents\":\"1500000\",\"currency\":\"EUR\"}",
		title);
	assert_int_equal(http_post_json(u, token, body, r), 0);
	if (r->status != 202)
		fail_msg("create: %ld %.300s", r->status, r->body);
	cJSON *j = json_of(r);
	snprintf(id, TM_UUID_LEN + 1, "%s", jstr(j, "id"));
	cJSON_Delete(j);
}

static void test_created_project_reaches_another_service(void **state)
{
	struct http_resp r;
	char id[TM_UUID_LEN + 1], u[256];
	(void)state;
	double before = wait_metric("tm_events_applied_total{service=\"matching\"}", 0);
	assert_true(before >= 0);
	create_project(token_a, "Handmade marketplace", id, &r);
	cJSON *j = json_of(&r);
	assert_true(tm_uuid_valid(id));
	assert_string_equal(jstr(j, "status"), "analyzing");
	assert_string_equal(jstr(j, "clientId"), client_a);
	assert_string_equal(jstr(j, "currency"), "EUR");
	assert_string_equal(jstr(j, "budgetCapCents"), "1500000");
	cJSON_Delete(j);
	http_resp_free(&r);

	/* the owner reads it back; another client cannot tell it exists */
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s", stack.gateway_url, id);
	assert_int_equal(http_get(u, token_a, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_of(&r);
	assert_string_equal(jstr(j, "title"), "Handmade marketplace");
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_int_equal(http_get(u, token_b, &r), 0);
	assert_error(&r, 404, "NOT_FOUND");
	http_resp_free(&r);

	/* ProjectCreated went through the outbox and Kafka into tm-matching */
	double after = wait_metric("tm_events_applied_total{service=\"matching\"}", before + 1);
	assert_true(after == before + 1);
	struct tm_db *db;
	char err[256];
	PGresult *res = NULL;
	const char *p[] = {id};
	assert_int_equal(tm_db_open(&db, stack.database_url, "matching", err, sizeof(err)), 0);
	assert_int_equal(
		tsql(db, &res, "SELECT title FROM open_projects WHERE project_id = $1", 1, p), 0);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0), "Handmade marketplace");
	PQclear(res);
	tm_db_close(db);
}

static void test_redelivered_event_is_applied_once(void **state)
{
	struct http_resp r;
	char id[TM_UUID_LEN + 1], err[256];
	struct tm_db *db;
	PGresult *res = NULL;
	(void)state;
	create_project(token_a, "Redelivery check", id, &r);
	http_resp_free(&r);
	double applied = wait_metric("tm_events_applied_total{service=\"matching\"}", 1);
	/* wait until this project's event is applied, then publish it again */
	assert_int_equal(tm_db_open(&db, stack.database_url, "projects", err, sizeof(err)), 0);
	const char *p[] = {id};
	for (int i = 0; i < 150; i++) {
		assert_int_equal(
			tsql(db, &res,
			     "SELECT count(*) FROM matching.open_projects WHERE project_id = $1", 1,
			     p),
			0);
		bool seen = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
		PQclear(res);
		if (seen)
			break;
		tm_sleep_ms(100);
	}
	applied = metric("tm_events_applied_total{service=\"matching\"}");
	double dups = metric("tm_events_duplicate_total{service=\"matching\"}");
	/* what a relay crash between delivery and marking the row sent leaves behind */
	assert_int_equal(
		tsql(db, NULL,
		     "INSERT INTO outbox (event_id, topic, subject, type, payload) "
		     "SELECT event_id, topic, subject, type, payload FROM outbox WHERE subject = $1",
		     1, p),
		0);
	assert_int_equal(tsql(db, NULL, "SELECT pg_notify('tm_outbox_projects', '')", 0, NULL), 0);
	assert_true(wait_metric("tm_events_duplicate_total{service=\"matching\"}", dups + 1) ==
		    dups + 1);
	assert_true(metric("tm_events_applied_total{service=\"matching\"}") == applied);
	assert_int_equal(tsql(db, &res,
			      "SELECT count(*) FROM matching.open_projects WHERE project_id = $1",
			      1, p),
			 0);
	assert_string_equal(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	tm_db_close(db);
}

static void test_idempotency_key_replays_the_first_reply(void **state)
{
	struct http_resp r1, r2, r3;
	char u[256], auth[1100];
	(void)state;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token_a);
	const char *h[] = {"Content-Type: application/json", auth, "Idempotency-Key: order-7f3a",
			   NULL};
	const char *body = "{\"title\":\"Idempotent\",\"description\":\"once only\"}";
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_do("POST", u, h, body, strlen(body), &r1), 0);
	assert_int_equal(r1.status, 202);
	assert_int_equal(http_do("POST", u, h, body, strlen(body), &r2), 0);
	assert_int_equal(r2.status, 202);
	assert_string_equal(r1.body, r2.body); /* the same project, not a second one */
	const char *other = "{\"title\":\"Idempotent\",\"description\":\"changed\"}";
	assert_int_equal(http_do("POST", u, h, other, strlen(other), &r3), 0);
	assert_error(&r3, 422, "IDEMPOTENCY_KEY_REUSED");
	http_resp_free(&r1);
	http_resp_free(&r2);
	http_resp_free(&r3);
}

static void test_projects_list_pages_with_a_cursor(void **state)
{
	struct http_resp r;
	char u[512], id[TM_UUID_LEN + 1], cursor[128];
	char tok[1024], me[TM_UUID_LEN + 1];
	(void)state;
	tm_uuid_v4(me);
	http_mint_token(stack.jwt_secret, me, "client", tok, sizeof(tok));
	for (int i = 0; i < 3; i++) {
		char title[32];
		snprintf(title, sizeof(title), "Paged %d", i);
		create_project(tok, title, id, &r);
		http_resp_free(&r);
	}
	snprintf(u, sizeof(u), "%s/api/v1/projects?limit=2", stack.gateway_url);
	assert_int_equal(http_get(u, tok, &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")), 2);
	assert_string_equal(
		jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "items"), 0), "title"),
		"Paged 2");
	snprintf(cursor, sizeof(cursor), "%s", jstr(j, "nextCursor"));
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_true(cursor[0] != '\0');
	snprintf(u, sizeof(u), "%s/api/v1/projects?limit=2&cursor=%s", stack.gateway_url, cursor);
	assert_int_equal(http_get(u, tok, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_of(&r);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")), 1);
	assert_string_equal(jstr(j, "nextCursor"), "");
	cJSON_Delete(j);
	http_resp_free(&r);
	snprintf(u, sizeof(u), "%s/api/v1/projects?limit=101", stack.gateway_url);
	assert_int_equal(http_get(u, tok, &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	http_resp_free(&r);
	snprintf(u, sizeof(u), "%s/api/v1/projects?colour=red", stack.gateway_url);
	assert_int_equal(http_get(u, tok, &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	http_resp_free(&r);
}

static void test_overview_names_a_silent_service_and_still_answers(void **state)
{
	struct http_resp r;
	char id[TM_UUID_LEN + 1], u[256];
	int pid = tm_test_stack_pid(&stack, "learning");
	(void)state;
	create_project(token_a, "Overview check", id, &r);
	http_resp_free(&r);
	snprintf(u, sizeof(u), "%s/api/v1/projects/%s/overview", stack.gateway_url, id);
	/* every service learns of the project from ProjectCreated; wait for all parts */
	for (int i = 0; i < 150; i++) {
		assert_int_equal(http_get(u, token_a, &r), 0);
		long st = r.status;
		bool all = st == 200 && strstr(r.body, "\"degraded\":[]");
		http_resp_free(&r);
		if (all)
			break;
		tm_sleep_ms(100);
	}
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(http_get(u, token_a, &r), 0);
	kill(pid, SIGCONT);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	const cJSON *deg = cJSON_GetObjectItemCaseSensitive(j, "degraded");
	assert_int_equal(cJSON_GetArraySize(deg), 1);
	assert_string_equal(cJSON_GetArrayItem(deg, 0)->valuestring, "learning");
	assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(j, "project"), "id"), id);
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_int_equal(http_get(u, token_b, &r), 0); /* not B's project */
	assert_error(&r, 404, "NOT_FOUND");
	http_resp_free(&r);
}

/* Reads a whole log file (bounded) into a malloc'd string. */
static char *read_log(const char *daemon)
{
	char path[512];
	tm_test_stack_log(&stack, daemon, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 8u << 20);
	size_t n = buf ? fread(buf, 1, (8u << 20) - 1, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

static void test_request_id_reaches_the_consuming_service(void **state)
{
	struct http_resp r;
	char u[256], auth[1100];
	const char *body = "{\"title\":\"Traced\",\"description\":\"follow me\"}";
	(void)state;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token_a);
	const char *h[] = {"Content-Type: application/json", auth, "X-Request-Id: e2e-trace-7f3a9",
			   NULL};
	url(u, sizeof(u), "/api/v1/projects");
	assert_int_equal(http_do("POST", u, h, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 202);
	http_resp_free(&r);
	/* tm-matching logs the event it applied with the request id that caused it */
	for (int i = 0; i < 150; i++) {
		char *log = read_log("matching");
		bool found = log && strstr(log, "\"request_id\":\"e2e-trace-7f3a9\"");
		free(log);
		if (found)
			return;
		tm_sleep_ms(100);
	}
	fail_msg("tm-matching never logged request id e2e-trace-7f3a9");
}

static void test_registration_is_announced_as_user_registered(void **state)
{
	struct http_resp r;
	char u[256], body[256], suffix[TM_UUID_LEN + 1], err[256];
	struct tm_db *db;
	PGresult *res = NULL;
	(void)state;
	tm_uuid_v4(suffix);
	snprintf(body, sizeof(body),
		 "{\"email\":\"ann-%.8s@example.com\",\"password\":\"a long passphrase\","
		 "\"role\":\"developer\",\"displayName\":\"Ann\"}",
		 suffix);
	url(u, sizeof(u), "/api/v1/auth/register");
	assert_int_equal(http_post_json(u, NULL, body, &r), 0);
	assert_int_equal(r.status, 201);
	cJSON *j = json_of(&r);
	char id[TM_UUID_LEN + 1];
	snprintf(id, sizeof(id), "%s", jstr(cJSON_GetObjectItemCaseSensitive(j, "user"), "id"));
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_int_equal(tm_db_open(&db, stack.database_url, "identity", err, sizeof(err)), 0);
	const char *p[] = {id};
	for (int i = 0; i < 150; i++) { /* published through the outbox */
		assert_int_equal(tsql(db, &res,
				      "SELECT count(*) FROM outbox WHERE subject = $1 AND "
				      "type = 'taskmesh.v1.UserRegistered' AND sent_at IS NOT NULL",
				      1, p),
				 0);
		bool sent = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
		PQclear(res);
		if (sent) {
			tm_db_close(db);
			return;
		}
		tm_sleep_ms(100);
	}
	tm_db_close(db);
	fail_msg("UserRegistered for %s was not published", id);
}

/* GET /skills: public, tm-matching answers from the shared taxonomy. */
static void test_skills_are_looked_up_by_name_or_alias(void **state)
{
	struct http_resp r;
	char u[512], field[64];
	(void)state;
	url(u, sizeof(u), "/api/v1/skills?q=reactjs&limit=3"); /* no token needed */
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(j, "normalized"), "React");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
	assert_true(cJSON_GetArraySize(items) >= 1 && cJSON_GetArraySize(items) <= 3);
	const cJSON *react = cJSON_GetArrayItem(items, 0);
	assert_string_equal(jstr(react, "name"), "React");
	assert_non_null(jstr(react, "category"));
	bool needs_js = false;
	const cJSON *rel;
	cJSON_ArrayForEach(rel, cJSON_GetObjectItemCaseSensitive(react, "relations"))
	{
		needs_js = needs_js || (strcmp(jstr(rel, "skill"), "JavaScript") == 0 &&
					strcmp(jstr(rel, "type"), "requires") == 0);
	}
	assert_true(needs_js);
	assert_non_null(strstr(r.body, "\"weight\":0.9}")); /* two decimals, as in the file */
	cJSON_Delete(j);
	http_resp_free(&r);

	url(u, sizeof(u), "/api/v1/skills?q=postgres");
	assert_int_equal(http_get(u, token_dev, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_of(&r);
	assert_string_equal(jstr(j, "normalized"), "PostgreSQL");
	cJSON_Delete(j);
	http_resp_free(&r);

	url(u, sizeof(u), "/api/v1/skills?q=no-such-skill-anywhere"); /* nothing: an empty list */
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_of(&r);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")), 0);
	assert_string_equal(jstr(j, "normalized"), "");
	cJSON_Delete(j);
	http_resp_free(&r);

	url(u, sizeof(u), "/api/v1/skills"); /* everything, by name, 20 a page */
	assert_int_equal(http_get(u, NULL, &r), 0);
	j = json_of(&r);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")), 20);
	cJSON_Delete(j);
	http_resp_free(&r);

	const char *bad[][2] = {{"/api/v1/skills?limit=101", "limit"},
				{"/api/v1/skills?limit=-1", "limit"},
				{"/api/v1/skills?limit=ten", "limit"},
				{"/api/v1/skills?color=red", "color"},
				{"/api/v1/skills?q=re%00act", "q"}}; /* not cut at the NUL */
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		url(u, sizeof(u), bad[i][0]);
		assert_int_equal(http_get(u, NULL, &r), 0);
		assert_error(&r, 400, "VALIDATION_FAILED");
		first_detail_field(&r, field, sizeof(field));
		assert_string_equal(field, bad[i][1]);
		http_resp_free(&r);
	}
	char longq[300];
	memset(longq, 'a', 201);
	longq[201] = '\0';
	snprintf(u, sizeof(u), "%s/api/v1/skills?q=%s", stack.gateway_url, longq);
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_error(&r, 400, "VALIDATION_FAILED");
	first_detail_field(&r, field, sizeof(field));
	assert_string_equal(field, "q");
	http_resp_free(&r);
}

static void test_metrics_are_prometheus_text_per_service(void **state)
{
	struct http_resp r;
	char u[256], ct[128];
	(void)state;
	url(u, sizeof(u), "/metrics");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(http_header(&r, "Content-Type", ct, sizeof(ct)), 0);
	assert_non_null(strstr(ct, "text/plain; version=0.0.4"));
	assert_true(r.len > 0 && r.body[r.len - 1] == '\n');
	const char *svcs[] = {"projects", "matching", "payments", "messaging", "learning"};
	for (size_t i = 0; i < 5; i++) {
		char s[96];
		snprintf(s, sizeof(s), "tm_up{service=\"%s\"} 1\n", svcs[i]);
		assert_non_null(strstr(r.body, s));
	}
	assert_non_null(strstr(r.body, "# TYPE tm_events_applied_total counter\n"));
	/* the services that load the skill taxonomy say how big it is */
	assert_non_null(strstr(r.body, "tm_taxonomy_skills{service=\"matching\"} "));
	assert_non_null(strstr(r.body, "tm_taxonomy_edges{service=\"learning\"} "));
	assert_null(strstr(r.body, "tm_taxonomy_skills{service=\"payments\"}"));
	assert_non_null(strstr(
		r.body,
		"tm_http_requests_total{service=\"gateway\",route=\"POST /api/v1/projects\"}"));
	/* every sample line carries the service label */
	for (const char *p = r.body; *p; p = strchr(p, '\n') + 1) {
		if (*p != '#')
			assert_non_null(strstr(p, "{service=\"") ? p : NULL);
		if (!strchr(p, '\n'))
			break;
	}
	http_resp_free(&r);
}

/* Every "$ref" under node points at an existing components/schemas entry. */
static void assert_refs_resolve(const cJSON *node, const cJSON *schemas)
{
	const cJSON *child;
	if (cJSON_IsString(node) && node->string && strcmp(node->string, "$ref") == 0) {
		const char *prefix = "#/components/schemas/";
		assert_memory_equal(node->valuestring, prefix, strlen(prefix));
		if (!cJSON_GetObjectItemCaseSensitive(schemas, node->valuestring + strlen(prefix)))
			fail_msg("unresolved $ref %s", node->valuestring);
	}
	cJSON_ArrayForEach(child, node) assert_refs_resolve(child, schemas);
}

static void test_openapi_describes_every_route(void **state)
{
	struct http_resp r;
	char u[256];
	static const char *const routes[][2] = {
		{"/healthz", "get"},
		{"/readyz", "get"},
		{"/readyz/{service}", "get"},
		{"/metrics", "get"},
		{"/api/v1/openapi.json", "get"},
		{"/api/v1/auth/register", "post"},
		{"/api/v1/auth/login", "post"},
		{"/api/v1/auth/refresh", "post"},
		{"/api/v1/auth/logout", "post"},
		{"/api/v1/auth/github/authorize", "get"},
		{"/api/v1/auth/github/callback", "post"},
		{"/api/v1/me", "get"},
		{"/api/v1/projects", "post"},
		{"/api/v1/projects", "get"},
		{"/api/v1/projects/{id}", "get"},
		{"/api/v1/projects/{id}/overview", "get"},
		{"/api/v1/projects/{id}/tasks", "get"},
		{"/api/v1/projects/{id}/analyze", "post"},
		{"/api/v1/projects/{id}/proposal", "get"},
		{"/api/v1/projects/{id}/proposal/approve", "post"},
		{"/api/v1/projects/{id}/progress", "get"},
		{"/api/v1/tasks/{id}/accept", "post"},
		{"/api/v1/tasks/{id}/decline", "post"},
		{"/api/v1/tasks/{id}", "patch"},
		{"/api/v1/skills", "get"},
	};
	(void)state;
	url(u, sizeof(u), "/api/v1/openapi.json");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	cJSON *doc = json_of(&r);
	assert_string_equal(jstr(doc, "openapi"), "3.1.0");
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
	int operations = 0;
	const cJSON *path, *op;
	cJSON_ArrayForEach(path, paths) cJSON_ArrayForEach(op, path) operations++;
	assert_int_equal(operations, (int)(sizeof(routes) / sizeof(routes[0])));
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(paths, routes[i][0]);
		if (!p || !cJSON_GetObjectItemCaseSensitive(p, routes[i][1]))
			fail_msg("%s %s missing from the OpenAPI document", routes[i][1],
				 routes[i][0]);
	}
	const cJSON *schemas = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "components"), "schemas");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(schemas, "CreateProjectRequest"));
	assert_refs_resolve(doc, schemas);
	cJSON_Delete(doc);
	http_resp_free(&r);
}

/* A raw TCP connection to the gateway (for what curl will not send). */
static int raw_connect(void)
{
	int port = stack.port_base;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until the peer closes or `timeout_ms` passes; returns bytes read, or
 * -1 if the connection was still open at the end. */
static int read_until_closed(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	int64_t end = tm_mono_ms() + timeout_ms;
	for (;;) {
		int left = (int)(end - tm_mono_ms());
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
		ssize_t k = read(fd, buf + n, n + 1 < len ? len - 1 - n : 0);
		if (k <= 0) {
			buf[n] = '\0';
			return (int)n;
		}
		n += (size_t)k;
	}
}

static void test_malformed_request_line_is_400(void **state)
{
	char buf[2048];
	(void)state;
	int fd = raw_connect();
	const char *junk = "THIS IS NOT HTTP\r\n\r\n";
	assert_int_equal(write(fd, junk, strlen(junk)), (ssize_t)strlen(junk));
	assert_true(read_until_closed(fd, buf, sizeof(buf), 5000) > 0);
	assert_non_null(strstr(buf, " 400 "));
	close(fd);
}

static void test_idle_and_stalled_connections_are_closed(void **state)
{
	char buf[512];
	int timeout_ms = atoi(HTTP_TIMEOUT_S) * 1000;
	(void)state;
	int idle = raw_connect();
	int stalled = raw_connect();
	const char *part = "GET /healthz HTTP/1.1\r\nHost: x\r\n"; /* never finished */
	assert_int_equal(write(stalled, part, strlen(part)), (ssize_t)strlen(part));
	/* closed within the timeout (plus scheduling slack), not held forever */
	assert_true(read_until_closed(idle, buf, sizeof(buf), timeout_ms + 3000) >= 0);
	assert_true(read_until_closed(stalled, buf, sizeof(buf), timeout_ms + 3000) >= 0);
	close(idle);
	close(stalled);
}

static void test_connections_beyond_the_limit_are_refused(void **state)
{
	int fds[HTTP_MAX_CONNECTIONS + 8];
	char buf[64];
	int closed = 0;
	(void)state;
	for (int i = 0; i < HTTP_MAX_CONNECTIONS + 8; i++)
		fds[i] = raw_connect(); /* the kernel accepts; the gateway closes the excess */
	for (int i = 0; i < HTTP_MAX_CONNECTIONS + 8; i++)
		if (read_until_closed(fds[i], buf, sizeof(buf), 300) >= 0)
			closed++;
	assert_true(closed >= 8);
	assert_true(closed < HTTP_MAX_CONNECTIONS); /* those within the limit stay open */
	for (int i = 0; i < HTTP_MAX_CONNECTIONS + 8; i++)
		close(fds[i]);
	/* and the gateway still serves afterwards */
	struct http_resp r;
	char u[256];
	url(u, sizeof(u), "/healthz");
	assert_int_equal(http_get(u, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz_answers_with_security_headers),
		cmocka_unit_test(test_skills_are_looked_up_by_name_or_alias),
		cmocka_unit_test(test_client_request_id_is_echoed),
		cmocka_unit_test(test_readyz_is_ready_when_every_service_answers),
		cmocka_unit_test(test_unknown_route_is_404_in_the_error_format),
		cmocka_unit_test(test_wrong_method_is_405_with_allow),
		cmocka_unit_test(test_missing_forged_and_wrong_role_tokens_are_refused),
		cmocka_unit_test(test_bad_json_is_400),
		cmocka_unit_test(test_deep_json_is_refused),
		cmocka_unit_test(test_oversized_body_is_413),
		cmocka_unit_test(test_wrong_content_type_is_415),
		cmocka_unit_test(test_huge_headers_are_431),
		cmocka_unit_test(test_openapi_describes_every_route),
		cmocka_unit_test(test_malformed_request_line_is_400),
		cmocka_unit_test(test_idle_and_stalled_connections_are_closed),
		cmocka_unit_test(test_connections_beyond_the_limit_are_refused),
		cmocka_unit_test(test_validation_names_the_field),
		cmocka_unit_test(test_created_project_reaches_another_service),
		cmocka_unit_test(test_redelivered_event_is_applied_once),
		cmocka_unit_test(test_idempotency_key_replays_the_first_reply),
		cmocka_unit_test(test_projects_list_pages_with_a_cursor),
		cmocka_unit_test(test_metrics_are_prometheus_text_per_service),
		cmocka_unit_test(test_overview_names_a_silent_service_and_still_answers),
		cmocka_unit_test(test_request_id_reaches_the_consuming_service),
		cmocka_unit_test(test_registration_is_announced_as_user_registered),
		cmocka_unit_test(test_readyz_names_a_service_that_does_not_answer),
	};
	return cmocka_run_group_tests_name("system: end to end", tests, setup, teardown);
}
