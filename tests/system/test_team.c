/*
 * After the analysis: a team proposal from matching (the test plays matching
 * by writing TeamProposed into matching's outbox, which its relay publishes
 * on tm.matching.v1), the client's approval, developers accepting, declining
 * and working on tasks, progress weighted by hours, MilestoneReached at
 * 25/50/75/100 % exactly once, and ProjectCompleted.
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

#include "../support/http.h"
#include "../support/stack.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/db.h"
#include "tm/outbox.h"
#include "tm/util.h"

#define MAX_TASKS 40

static struct tm_test_stack stack;
static char client_id[TM_UUID_LEN + 1], dev_a[TM_UUID_LEN + 1], dev_b[TM_UUID_LEN + 1];
static char client_tok[1024], dev_a_tok[1024], dev_b_tok[1024], stranger_tok[1024];
static char project[TM_UUID_LEN + 1];
static char task_ids[MAX_TASKS][TM_UUID_LEN + 1];
static int task_hours[MAX_TASKS], ntasks;

static int setup(void **state)
{
	char who[TM_UUID_LEN + 1];
	(void)state;
	setenv("TM_ANALYSIS_POLL_MS", "50", 1);
	if (tm_test_stack_start(&stack, false) != 0)
		return -1;
	tm_uuid_v4(client_id);
	tm_uuid_v4(dev_a);
	tm_uuid_v4(dev_b);
	tm_uuid_v4(who);
	http_mint_token(stack.jwt_secret, client_id, "client", client_tok, sizeof(client_tok));
	http_mint_token(stack.jwt_secret, dev_a, "developer", dev_a_tok, sizeof(dev_a_tok));
	http_mint_token(stack.jwt_secret, dev_b, "developer", dev_b_tok, sizeof(dev_b_tok));
	http_mint_token(stack.jwt_secret, who, "developer", stranger_tok, sizeof(stranger_tok));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tm_test_stack_stop(&stack) == 0 ? 0 : -1;
}

static cJSON *call(const char *method, const char *path, const char *tok, const char *body,
		   long want)
{
	struct http_resp r;
	char u[512], auth[1100];
	snprintf(u, sizeof(u), "%s%s", stack.gateway_url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	const char *h[] = {auth, body ? "Content-Type: application/json" : NULL, NULL};
	assert_int_equal(http_do(method, u, h, body, body ? strlen(body) : 0, &r), 0);
	if (r.status != want)
		fail_msg("%s %s: expected %ld, got %ld: %.300s", method, path, want, r.status,
			 r.body);
	cJSON *j = r.len ? cJSON_ParseWithLength(r.body, r.len) : NULL;
	http_resp_free(&r);
	return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* TeamProposed into matching's outbox: its relay publishes it, tm-projects consumes it. */
static void propose(const char *senior)
{
	struct tm_db *db;
	char err[256], proposal[TM_UUID_LEN + 1];
	Taskmesh__V1__TeamProposed ev = TASKMESH__V1__TEAM_PROPOSED__INIT;
	Taskmesh__V1__TeamAssignment as[MAX_TASKS], *ap[MAX_TASKS];
	char *roles[] = {"senior developer", "full-stack developer"};

	tm_uuid_v4(proposal);
	for (int i = 0; i < ntasks; i++) {
		taskmesh__v1__team_assignment__init(&as[i]);
		as[i].task_id = task_ids[i];
		as[i].developer_id = i % 2 ? dev_b : dev_a;
		as[i].match_score = 0.8;
		ap[i] = &as[i];
	}
	ev.project_id = project;
	ev.proposal_id = proposal;
	ev.senior_developer_id = (char *)senior;
	ev.n_assignments = (size_t)ntasks;
	ev.assignments = ap;
	ev.total_cost_cents = 1000003; /* odd, so the milestone remainder shows */
	ev.currency = "USD";
	ev.timeline_days = 30;
	ev.n_roles = 2;
	ev.roles = roles;
	assert_int_equal(tm_db_open(&db, stack.database_url, "matching", err, sizeof(err)), 0);
	assert_int_equal(tm_db_begin(db), 0);
	assert_int_equal(tm_outbox_add(db, "tm.matching.v1", project, &ev.base, "tm-matching", NULL,
				       NULL),
			 0);
	assert_int_equal(tm_db_commit(db), 0);
	tm_db_close(db);
}

/* Polls a project path until a string field has a value (bounded). */
static void wait_field(const char *path, const char *tok, const char *field, const char *want)
{
	for (int i = 0; i < 300; i++) {
		cJSON *j = call("GET", path, tok, NULL, 200);
		bool ok = strcmp(jstr(j, field), want) == 0;
		cJSON_Delete(j);
		if (ok)
			return;
		tm_sleep_ms(50);
	}
	fail_msg("%s: %s never became %s", path, field, want);
}

/* Events of a type in tm-projects' outbox for the project (what it announced). */
static int announced(const char *type)
{
	struct tm_db *db;
	PGresult *r = NULL;
	char err[256];
	const char *p[] = {project, type};
	assert_int_equal(tm_db_open(&db, stack.database_url, "projects", err, sizeof(err)), 0);
	assert_int_equal(tm_db_query(db, &r,
				     "SELECT count(*) FROM outbox WHERE subject = $1 AND type = $2",
				     2, p),
			 0);
	int n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	tm_db_close(db);
	return n;
}

static void test_an_analyzed_project_has_tasks(void **state)
{
	char path[2048];
	(void)state;
	cJSON *p = call("POST", "/api/v1/projects", client_tok,
			"{\"title\":\"Bakery shop\",\"description\":\"An online shop for a bakery "
			"with React, Stripe payments and an admin dashboard.\"}",
			202);
	snprintf(project, sizeof(project), "%s", jstr(p, "id"));
	cJSON_Delete(p);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
	wait_field(path, client_tok, "status", "analyzed");
	snprintf(path, sizeof(path), "/api/v1/projects/%s/tasks", project);
	cJSON *t = call("GET", path, client_tok, NULL, 200);
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(t, "items"), *it;
	cJSON_ArrayForEach(it, items)
	{
		snprintf(task_ids[ntasks], sizeof(task_ids[0]), "%s", jstr(it, "id"));
		task_hours[ntasks++] =
			cJSON_GetObjectItemCaseSensitive(it, "estimatedHours")->valueint;
	}
	cJSON_Delete(t);
	assert_true(ntasks >= 5);
	/* no proposal yet: nothing to read, nothing to approve */
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal", project);
	cJSON_Delete(call("GET", path, client_tok, NULL, 404));
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal/approve", project);
	cJSON_Delete(call("POST", path, client_tok, NULL, 409));
}

static void test_a_proposal_from_matching_offers_every_task(void **state)
{
	char path[2048];
	(void)state;
	propose(dev_a);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
	wait_field(path, client_tok, "status", "proposed");
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal", project);
	cJSON *pr = call("GET", path, client_tok, NULL, 200);
	assert_string_equal(jstr(pr, "status"), "proposed");
	assert_string_equal(jstr(pr, "seniorDeveloperId"), dev_a);
	assert_string_equal(jstr(pr, "totalCostCents"), "1000003");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pr, "assignments")),
			 ntasks);
	cJSON_Delete(pr);
	cJSON_Delete(call("GET", path, dev_a_tok, NULL, 403)); /* owner and admin only */
	/* the proposed developers now see the project; a stranger does not */
	snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
	cJSON_Delete(call("GET", path, dev_b_tok, NULL, 200));
	cJSON_Delete(call("GET", path, stranger_tok, NULL, 404));
	cJSON *list = call("GET", "/api/v1/projects", dev_a_tok, NULL, 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 1);
	cJSON_Delete(list);
}

static void test_the_client_approves_once_with_the_escrow_basis(void **state)
{
	char path[2048];
	(void)state;
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal/approve", project);
	cJSON *p = call("POST", path, client_tok, NULL, 200);
	assert_string_equal(jstr(p, "status"), "approved");
	cJSON_Delete(p);
	cJSON_Delete(call("POST", path, client_tok, NULL, 409)); /* twice */
	assert_int_equal(announced("taskmesh.v1.ProposalApproved"), 1);
}

static void test_developers_accept_and_decline_only_their_offers(void **state)
{
	char path[2048];
	(void)state;
	/* dev_a's offers are the even tasks, dev_b's the odd ones */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/accept", task_ids[1]);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 404)); /* not offered to dev_a */
	for (int i = 0; i < ntasks; i++) {
		snprintf(path, sizeof(path), "/api/v1/tasks/%s/accept", task_ids[i]);
		cJSON *t = call("POST", path, i % 2 ? dev_b_tok : dev_a_tok, NULL, 200);
		assert_string_equal(jstr(t, "status"), "assigned");
		cJSON_Delete(t);
	}
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/accept", task_ids[0]);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 409)); /* not offered any more */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/decline", task_ids[0]);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 409));
	assert_int_equal(announced("taskmesh.v1.TaskAccepted"), ntasks);
}

static void test_bad_task_updates_are_refused(void **state)
{
	char path[2048];
	(void)state;
	snprintf(path, sizeof(path), "/api/v1/tasks/%s", task_ids[0]);
	cJSON_Delete(call("PATCH", path, dev_b_tok, "{\"status\":\"in_progress\"}", 404));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"done\",\"x\":1}", 400));
	cJSON_Delete(
		call("PATCH", path, dev_a_tok, "{\"status\":\"review\"}", 400)); /* skips a step */
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"completionPercentage\":101}", 400));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"pending\"}", 400));
}

static void test_progress_is_weighted_by_hours_and_milestones_are_announced_once(void **state)
{
	char path[2048], progress_path[2048];
	int total = 0, done_hours = 0;
	(void)state;
	for (int i = 0; i < ntasks; i++)
		total += task_hours[i];
	snprintf(progress_path, sizeof(progress_path), "/api/v1/projects/%s/progress", project);
	for (int i = 0; i < ntasks; i++) {
		const char *tok = i % 2 ? dev_b_tok : dev_a_tok;
		snprintf(path, sizeof(path), "/api/v1/tasks/%s", task_ids[i]);
		cJSON_Delete(call("PATCH", path, tok,
				  "{\"status\":\"in_progress\","
				  "\"completionPercentage\":50}",
				  200));
		cJSON_Delete(call("PATCH", path, tok, "{\"status\":\"review\"}", 200));
		cJSON *t = call("PATCH", path, tok, "{\"status\":\"done\"}", 200);
		assert_int_equal(
			cJSON_GetObjectItemCaseSensitive(t, "completionPercentage")->valueint, 100);
		cJSON_Delete(t);
		done_hours += task_hours[i];
		cJSON *pg = call("GET", progress_path, client_tok, NULL, 200);
		assert_int_equal(
			cJSON_GetObjectItemCaseSensitive(pg, "completionPercentage")->valueint,
			done_hours * 100 / total);
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(pg, "tasksDone")->valueint,
				 i + 1);
		cJSON_Delete(pg);
		if (i == 0) {
			snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
			cJSON *p = call("GET", path, client_tok, NULL, 200);
			assert_string_equal(jstr(p, "status"), "in_progress");
			cJSON_Delete(p);
		}
	}
	cJSON *pg = call("GET", progress_path, client_tok, NULL, 200);
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(pg, "milestonesReached");
	assert_int_equal(cJSON_GetArraySize(ms), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(cJSON_GetArrayItem(ms, i)->valueint, 25 * (i + 1));
	cJSON_Delete(pg);
	assert_int_equal(announced("taskmesh.v1.MilestoneReached"), 4);
	assert_int_equal(announced("taskmesh.v1.ProjectCompleted"), 1);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
	cJSON *p = call("GET", path, client_tok, NULL, 200);
	assert_string_equal(jstr(p, "status"), "completed");
	cJSON_Delete(p);
	/* done is final */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s", task_ids[0]);
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"in_progress\"}", 400));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_analyzed_project_has_tasks),
		cmocka_unit_test(test_a_proposal_from_matching_offers_every_task),
		cmocka_unit_test(test_the_client_approves_once_with_the_escrow_basis),
		cmocka_unit_test(test_developers_accept_and_decline_only_their_offers),
		cmocka_unit_test(test_bad_task_updates_are_refused),
		cmocka_unit_test(
			test_progress_is_weighted_by_hours_and_milestones_are_announced_once),
	};
	return cmocka_run_group_tests_name("system: proposal, tasks, progress", tests, setup,
					   teardown);
}
