/*
 * After the analysis: a team proposal from matching (the test plays matching
 * by writing TeamProposed into matching's outbox, which its relay publishes
 * on tm.matching.v1), the client's approval, developers accepting, declining
 * (a decline hands the task to the next match; when none is left matching's
 * TaskCandidates does) and working on tasks, progress weighted by hours,
 * MilestoneReached at 25/50/75/100 % exactly once, and ProjectCompleted.
 */
#include <pthread.h>
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
#include "../support/http.h"
#include "../support/stack.h"
#include "taskmesh/v1/envelope.pb-c.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/db.h"
#include "tm/outbox.h"
#include "tm/util.h"

#define MAX_TASKS 40

static struct tm_test_stack stack;
static char client_id[TM_UUID_LEN + 1], dev_a[TM_UUID_LEN + 1], dev_b[TM_UUID_LEN + 1],
	dev_c[TM_UUID_LEN + 1];
static char client_tok[1024], dev_a_tok[1024], dev_b_tok[1024], dev_c_tok[1024], stranger_tok[1024];
static char project[TM_UUID_LEN + 1], proposal[TM_UUID_LEN + 1];
static char task_ids[MAX_TASKS][TM_UUID_LEN + 1];
static int task_hours[MAX_TASKS], ntasks;
static const char *holder[MAX_TASKS]; /* the token of the developer each task is offered to */

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
	tm_uuid_v4(dev_c);
	tm_uuid_v4(who);
	http_mint_token(stack.jwt_secret, client_id, "client", client_tok, sizeof(client_tok));
	http_mint_token(stack.jwt_secret, dev_a, "developer", dev_a_tok, sizeof(dev_a_tok));
	http_mint_token(stack.jwt_secret, dev_b, "developer", dev_b_tok, sizeof(dev_b_tok));
	http_mint_token(stack.jwt_secret, dev_c, "developer", dev_c_tok, sizeof(dev_c_tok));
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

/* An event into matching's outbox, as matching would: its relay publishes it on
 * tm.matching.v1 and tm-projects consumes it. Returns once tm-projects has
 * taken it (its inbox has the event). */
static void as_matching_on(const char *subject, const ProtobufCMessage *ev)
{
	struct tm_db *db;
	PGresult *r = NULL;
	char err[256], id[TM_UUID_LEN + 1];
	assert_int_equal(tm_db_open(&db, stack.database_url, "matching", err, sizeof(err)), 0);
	assert_int_equal(tm_db_begin(db), 0);
	assert_int_equal(tm_outbox_add(db, "tm.matching.v1", subject, ev, "tm-matching", NULL, id),
			 0);
	assert_int_equal(tm_db_commit(db), 0);
	const char *p[] = {id};
	for (int i = 0; i < 300; i++) {
		assert_int_equal(tsql(db, &r,
				      "SELECT count(*) FROM projects.inbox WHERE event_id = $1", 1,
				      p),
				 0);
		bool taken = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
		PQclear(r);
		if (taken)
			break;
		tm_sleep_ms(50);
	}
	tm_db_close(db);
}

static void as_matching(const ProtobufCMessage *ev)
{
	as_matching_on(project, ev);
}

/* How a proposal does not fit the project. */
enum misfit {
	FITS,
	UNKNOWN_TASK,	/* one assignment names a task of no project */
	OTHER_CURRENCY, /* priced in another currency than the project's */
};

/* TeamProposed: dev_a the even tasks, dev_b the odd ones; task 0 has dev_b as
 * its alternate. */
static void propose(const char *senior, enum misfit how, char id[TM_UUID_LEN + 1])
{
	Taskmesh__V1__TeamProposed ev = TASKMESH__V1__TEAM_PROPOSED__INIT;
	Taskmesh__V1__TeamAssignment as[MAX_TASKS], *ap[MAX_TASKS];
	Taskmesh__V1__Candidate alt = TASKMESH__V1__CANDIDATE__INIT, *alts[] = {&alt};
	char *roles[] = {"senior developer", "full-stack developer"}, unknown[TM_UUID_LEN + 1];

	tm_uuid_v4(id);
	tm_uuid_v4(unknown);
	alt.developer_id = dev_b;
	alt.match_score = 0.7;
	for (int i = 0; i < ntasks; i++) {
		taskmesh__v1__team_assignment__init(&as[i]);
		as[i].task_id = how == UNKNOWN_TASK && i == ntasks - 1 ? unknown : task_ids[i];
		as[i].developer_id = i % 2 ? dev_b : dev_a;
		as[i].match_score = 0.8;
		if (i == 0) {
			as[i].n_alternates = 1;
			as[i].alternates = alts;
		}
		ap[i] = &as[i];
	}
	ev.project_id = project;
	ev.proposal_id = id;
	ev.senior_developer_id = (char *)senior;
	ev.n_assignments = (size_t)ntasks;
	ev.assignments = ap;
	ev.total_cost_cents = 1000003; /* odd, so the milestone remainder shows */
	ev.currency = how == OTHER_CURRENCY ? "EUR" : "USD";
	ev.timeline_days = 30;
	ev.n_roles = 2;
	ev.roles = roles;
	as_matching(&ev.base);
}

/* The task as its project's task list shows it to the client. */
static cJSON *task_of_project(int i)
{
	char path[2048];
	snprintf(path, sizeof(path), "/api/v1/projects/%s/tasks", project);
	cJSON *list = call("GET", path, client_tok, NULL, 200), *it, *found = NULL;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		if (strcmp(jstr(it, "id"), task_ids[i]) == 0)
			found = cJSON_Duplicate(it, true);
	}
	cJSON_Delete(list);
	assert_non_null(found);
	return found;
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

/* Polls a path until it answers with status want (bounded). */
static void wait_answer(const char *path, const char *tok, long want)
{
	char u[512], auth[1100];
	long got = 0;
	snprintf(u, sizeof(u), "%s%s", stack.gateway_url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	const char *h[] = {auth, NULL};
	for (int i = 0; i < 300 && got != want; i++) {
		struct http_resp r;
		assert_int_equal(http_do("GET", u, h, NULL, 0, &r), 0);
		got = r.status;
		http_resp_free(&r);
		if (got != want)
			tm_sleep_ms(50);
	}
	if (got != want)
		fail_msg("GET %s never answered %ld (last %ld)", path, want, got);
}

/* Runs sql ($1 the project, $2 the event type) on tm-projects' schema; the
 * caller clears the result and closes *db. */
static PGresult *outbox_query_on(const char *sql, const char *project_id, const char *type,
				 struct tm_db **db)
{
	PGresult *r = NULL;
	char err[256];
	const char *p[] = {project_id, type};
	assert_int_equal(tm_db_open(db, stack.database_url, "projects", err, sizeof(err)), 0);
	assert_int_equal(tsql(*db, &r, sql, 2, p), 0);
	return r;
}

static PGresult *outbox_query(const char *sql, const char *type, struct tm_db **db)
{
	return outbox_query_on(sql, project, type, db);
}

/* The body of the last event of a type tm-projects announced for the project. */
static Taskmesh__V1__Event *last_announced(const char *type)
{
	struct tm_db *db;
	PGresult *r = outbox_query("SELECT encode(payload, 'hex') FROM outbox WHERE subject = $1 "
				   "AND type = $2 ORDER BY id DESC LIMIT 1",
				   type, &db);
	assert_int_equal(PQntuples(r), 1);
	const char *hex = PQgetvalue(r, 0, 0);
	size_t n = strlen(hex) / 2;
	uint8_t *bytes = malloc(n + 1);
	assert_non_null(bytes);
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		bytes[i] = (uint8_t)v;
	}
	Taskmesh__V1__Event *ev = taskmesh__v1__event__unpack(NULL, n, bytes);
	free(bytes);
	PQclear(r);
	tm_db_close(db);
	assert_non_null(ev);
	return ev;
}

/* Events of a type in tm-projects' outbox for the project (what it announced). */
static int announced_on(const char *project_id, const char *type)
{
	struct tm_db *db;
	PGresult *r =
		outbox_query_on("SELECT count(*) FROM outbox WHERE subject = $1 AND type = $2",
				project_id, type, &db);
	int n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	tm_db_close(db);
	return n;
}

static int announced(const char *type)
{
	return announced_on(project, type);
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
	propose(dev_a, FITS, proposal);
	for (int i = 0; i < ntasks; i++)
		holder[i] = i % 2 ? dev_b_tok : dev_a_tok;
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
	snprintf(path, sizeof(path), "/api/v1/projects/%s/overview", project);
	cJSON *ov = call("GET", path, client_tok, NULL, 200);
	assert_string_equal(jstr(ov, "proposalStatus"), "proposed");
	assert_int_equal(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ov, "progress"),
						 "completionPercentage")
			->valueint,
		0);
	cJSON_Delete(ov);
	/* the proposed developers now see the project; a stranger does not */
	snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
	cJSON_Delete(call("GET", path, dev_b_tok, NULL, 200));
	cJSON_Delete(call("GET", path, stranger_tok, NULL, 404));
	cJSON *list = call("GET", "/api/v1/projects", dev_a_tok, NULL, 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 1);
	cJSON_Delete(list);
}

static void test_a_proposal_that_does_not_fit_changes_nothing(void **state)
{
	char path[2048], other[TM_UUID_LEN + 1];
	(void)state;
	const enum misfit misfits[] = {UNKNOWN_TASK, OTHER_CURRENCY};
	for (size_t k = 0; k < TM_ARRAY_LEN(misfits); k++) {
		propose(dev_b, misfits[k], other);
		snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal", project);
		cJSON *pr = call("GET", path, client_tok, NULL, 200);
		assert_string_equal(jstr(pr, "proposalId"), proposal);
		assert_string_equal(jstr(pr, "seniorDeveloperId"), dev_a);
		assert_string_equal(jstr(pr, "currency"), "USD");
		assert_int_equal(
			cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pr, "assignments")),
			ntasks);
		cJSON_Delete(pr);
		cJSON *t = task_of_project(ntasks - 1);
		assert_string_equal(jstr(t, "status"), "offered");
		assert_string_equal(jstr(t, "assignedDeveloperId"), dev_b);
		cJSON_Delete(t);
	}
}

static void test_a_decline_offers_the_task_to_the_next_match(void **state)
{
	char path[2048];
	(void)state;
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/decline", task_ids[0]);
	cJSON *t = call("POST", path, dev_a_tok, NULL, 200);
	assert_string_equal(jstr(t, "status"), "offered");
	assert_string_equal(jstr(t, "assignedDeveloperId"), dev_b); /* the alternate */
	cJSON_Delete(t);
	Taskmesh__V1__Event *e = last_announced("taskmesh.v1.TaskDeclined");
	Taskmesh__V1__TaskDeclined *d =
		taskmesh__v1__task_declined__unpack(NULL, e->body.len, e->body.data);
	assert_non_null(d);
	assert_string_equal(d->developer_id, dev_a);
	assert_string_equal(d->offered_to, dev_b);
	cJSON *t0 = task_of_project(0); /* matching gets the skills to match on */
	assert_int_equal(d->n_required_skills, cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
						       t0, "requiredSkills")));
	cJSON_Delete(t0);
	taskmesh__v1__task_declined__free_unpacked(d, NULL);
	taskmesh__v1__event__free_unpacked(e, NULL);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 404)); /* not dev_a's any more */

	/* the alternate declines too: no one is left, the task waits for matching */
	t = call("POST", path, dev_b_tok, NULL, 200);
	assert_string_equal(jstr(t, "status"), "pending");
	assert_string_equal(jstr(t, "assignedDeveloperId"), "");
	cJSON_Delete(t);
	e = last_announced("taskmesh.v1.TaskDeclined");
	d = taskmesh__v1__task_declined__unpack(NULL, e->body.len, e->body.data);
	assert_string_equal(d->offered_to, "");
	taskmesh__v1__task_declined__free_unpacked(d, NULL);
	taskmesh__v1__event__free_unpacked(e, NULL);
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal", project);
	cJSON *pr = call("GET", path, client_tok, NULL, 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pr, "assignments")),
			 ntasks - 1);
	cJSON_Delete(pr);

	/* matching's fresh candidates: those who declined are passed over */
	Taskmesh__V1__TaskCandidates tc = TASKMESH__V1__TASK_CANDIDATES__INIT;
	Taskmesh__V1__Candidate c[3], *cp[3];
	const char *who[] = {dev_a, dev_b, dev_c};
	for (int i = 0; i < 3; i++) {
		taskmesh__v1__candidate__init(&c[i]);
		c[i].developer_id = (char *)who[i];
		c[i].match_score = 0.9 - 0.1 * i;
		cp[i] = &c[i];
	}
	tc.project_id = project;
	tc.task_id = task_ids[0];
	tc.n_candidates = 3;
	tc.candidates = cp;
	as_matching(&tc.base);
	t = task_of_project(0);
	assert_string_equal(jstr(t, "status"), "offered");
	assert_string_equal(jstr(t, "assignedDeveloperId"), dev_c);
	cJSON_Delete(t);
	holder[0] = dev_c_tok;
	/* every offer is announced: the proposal's, and the two after the declines */
	assert_int_equal(announced("taskmesh.v1.TaskOffered"), ntasks + 2);
	assert_int_equal(announced("taskmesh.v1.TaskDeclined"), 2);
}

static void test_the_client_approves_once_with_the_escrow_basis(void **state)
{
	char path[2048];
	struct http_resp r;
	(void)state;
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal/approve", project);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 403)); /* clients approve */
	/* a retry with the same Idempotency-Key replays the approval */
	char u[2200], auth[1100];
	snprintf(u, sizeof(u), "%s%s", stack.gateway_url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", client_tok);
	const char *h[] = {auth, "Idempotency-Key: approve-1", NULL};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(http_do("POST", u, h, NULL, 0, &r), 0);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "\"status\":\"approved\""));
		http_resp_free(&r);
	}
	cJSON_Delete(call("POST", path, client_tok, NULL, 409)); /* approving again */
	assert_int_equal(announced("taskmesh.v1.ProposalApproved"), 1);

	Taskmesh__V1__Event *e = last_announced("taskmesh.v1.ProposalApproved");
	Taskmesh__V1__ProposalApproved *a =
		taskmesh__v1__proposal_approved__unpack(NULL, e->body.len, e->body.data);
	assert_non_null(a);
	assert_string_equal(a->client_id, client_id);
	assert_string_equal(a->proposal_id, proposal);
	assert_int_equal(a->budget_cents, 1000003);
	assert_int_equal(a->n_milestones, 4);
	int64_t sum = 0;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(a->milestones[i]->percentage, 25 * (int)(i + 1));
		sum += a->milestones[i]->amount_cents;
	}
	assert_int_equal(a->milestones[0]->amount_cents, 250000);
	assert_int_equal(a->milestones[3]->amount_cents, 250003);
	assert_int_equal(sum, 1000003);
	assert_int_equal(a->n_assignments, (size_t)ntasks);
	bool dev_c_on_team = false; /* the team as it stands, after the declines */
	for (size_t i = 0; i < a->n_assignments; i++)
		dev_c_on_team = dev_c_on_team ||
				(strcmp(a->assignments[i]->task_id, task_ids[0]) == 0 &&
				 strcmp(a->assignments[i]->developer_id, dev_c) == 0);
	assert_true(dev_c_on_team);
	taskmesh__v1__proposal_approved__free_unpacked(a, NULL);
	taskmesh__v1__event__free_unpacked(e, NULL);
}

static void test_developers_accept_and_decline_only_their_offers(void **state)
{
	char path[2048];
	(void)state;
	/* dev_a's offers are the even tasks, dev_b's the odd ones */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/accept", task_ids[1]);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 404));	 /* not offered to dev_a */
	cJSON_Delete(call("POST", path, client_tok, NULL, 403)); /* developers only */
	for (int i = 0; i < ntasks; i++) {
		snprintf(path, sizeof(path), "/api/v1/tasks/%s/accept", task_ids[i]);
		cJSON *t = call("POST", path, holder[i], NULL, 200);
		assert_string_equal(jstr(t, "status"), "assigned");
		cJSON_Delete(t);
	}
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/accept", task_ids[2]);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 409)); /* not offered any more */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/decline", task_ids[2]);
	cJSON_Delete(call("POST", path, dev_a_tok, NULL, 409));
	assert_int_equal(announced("taskmesh.v1.TaskAccepted"), ntasks);
}

static void test_bad_task_updates_are_refused(void **state)
{
	char path[2048];
	(void)state;
	snprintf(path, sizeof(path), "/api/v1/tasks/%s", task_ids[2]);
	cJSON_Delete(call("PATCH", path, dev_b_tok, "{\"status\":\"in_progress\"}", 404));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"done\",\"x\":1}", 400));
	cJSON_Delete(
		call("PATCH", path, dev_a_tok, "{\"status\":\"review\"}", 400)); /* skips a step */
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"completionPercentage\":101}", 400));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"completionPercentage\":-1}", 400));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"pending\"}", 400));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"finished\"}", 400));
	cJSON_Delete(call("PATCH", path, dev_a_tok, "[1]", 400));
}

/* One PATCH {"status":"done"} on its own thread (no cmocka asserts here). */
struct finisher {
	pthread_t thread;
	const char *task_id, *token;
	long status;
};

static void *finish_task(void *arg)
{
	struct finisher *f = arg;
	char u[2200], auth[1100];
	struct http_resp r;
	snprintf(u, sizeof(u), "%s/api/v1/tasks/%s", stack.gateway_url, f->task_id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	const char *body = "{\"status\":\"done\"}";
	if (http_do("PATCH", u, h, body, strlen(body), &r) == 0) {
		f->status = r.status;
		http_resp_free(&r);
	}
	return NULL;
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
		const char *tok = holder[i];
		snprintf(path, sizeof(path), "/api/v1/tasks/%s", task_ids[i]);
		cJSON_Delete(call("PATCH", path, tok,
				  "{\"status\":\"in_progress\","
				  "\"completionPercentage\":50}",
				  200));
		cJSON_Delete(call("PATCH", path, tok, "{\"status\":\"review\"}", 200));
		if (i >= ntasks - 2)
			continue; /* the last two are finished at once, below */
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
	/* two developers finish the last two tasks at the same moment: neither
	 * transaction may miss the other's task, so 100 % is still reached */
	struct finisher f[2];
	for (int k = 0; k < 2; k++) {
		f[k].task_id = task_ids[ntasks - 2 + k];
		f[k].token = holder[ntasks - 2 + k];
		f[k].status = 0;
		assert_int_equal(pthread_create(&f[k].thread, NULL, finish_task, &f[k]), 0);
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(pthread_join(f[k].thread, NULL), 0);
		assert_int_equal(f[k].status, 200);
	}
	cJSON *pg = call("GET", progress_path, client_tok, NULL, 200);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(pg, "completionPercentage")->valueint,
			 100);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(pg, "tasksDone")->valueint, ntasks);
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
	/* the overview shows it all to a team member: every service learnt the team
	 * from ProposalApproved / TaskAccepted (asynchronously, hence the wait) */
	snprintf(path, sizeof(path), "/api/v1/projects/%s/overview", project);
	wait_answer(path, holder[1], 200);
	wait_answer(path, dev_c_tok, 200); /* joined after a decline */
	cJSON_Delete(call("GET", path, stranger_tok, NULL, 404));
	cJSON *ov = call("GET", path, holder[1], NULL, 200);
	assert_string_equal(jstr(ov, "proposalStatus"), "approved");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ov, "tasks")), ntasks);
	const cJSON *opg = cJSON_GetObjectItemCaseSensitive(ov, "progress");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(opg, "completionPercentage")->valueint,
			 100);
	assert_int_equal(
		cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(opg, "milestonesReached")), 4);
	assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(ov, "project"), "status"),
			    "completed");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ov, "degraded")), 0);
	cJSON_Delete(ov);
	/* done is final */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s", task_ids[2]);
	cJSON_Delete(call("PATCH", path, dev_a_tok, "{\"status\":\"in_progress\"}", 400));
}

/* ---- who may see a project: one rule, in every service (common/tm/members.h) ---- */

static char p2[TM_UUID_LEN + 1], p2_tasks[MAX_TASKS][TM_UUID_LEN + 1];
static int p2_ntasks;

/* Whether the developer sees the second project: at once in tm-projects (it
 * keeps the facts in the same transaction as the change), and in the
 * overview of every service (projected from events: a bounded wait). */
static void sees(const char *tok, bool yes)
{
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/projects/%s", p2);
	cJSON_Delete(call("GET", path, tok, NULL, yes ? 200 : 404));
	snprintf(path, sizeof(path), "/api/v1/projects/%s/overview", p2);
	wait_answer(path, tok, yes ? 200 : 404);
	snprintf(path, sizeof(path), "/api/v1/projects/%s/tasks", p2);
	cJSON_Delete(call("GET", path, tok, NULL, yes ? 200 : 404));
}

/* TeamProposed for the second project: task 0 to first (alternate: alt, when
 * given), every other task to rest. */
static void propose_p2(const char *senior, const char *first, const char *alt, const char *rest)
{
	Taskmesh__V1__TeamProposed ev = TASKMESH__V1__TEAM_PROPOSED__INIT;
	Taskmesh__V1__TeamAssignment as[MAX_TASKS], *ap[MAX_TASKS];
	Taskmesh__V1__Candidate c = TASKMESH__V1__CANDIDATE__INIT, *cs[] = {&c};
	char id[TM_UUID_LEN + 1], *roles[] = {"senior developer"};

	tm_uuid_v4(id);
	c.developer_id = (char *)alt;
	c.match_score = 0.6;
	for (int i = 0; i < p2_ntasks; i++) {
		taskmesh__v1__team_assignment__init(&as[i]);
		as[i].task_id = p2_tasks[i];
		as[i].developer_id = (char *)(i == 0 ? first : rest);
		as[i].match_score = 0.8;
		if (i == 0 && alt) {
			as[i].n_alternates = 1;
			as[i].alternates = cs;
		}
		ap[i] = &as[i];
	}
	ev.project_id = p2;
	ev.proposal_id = id;
	ev.senior_developer_id = (char *)senior;
	ev.n_assignments = (size_t)p2_ntasks;
	ev.assignments = ap;
	ev.total_cost_cents = 500000;
	ev.currency = "USD";
	ev.timeline_days = 20;
	ev.n_roles = 1;
	ev.roles = roles;
	as_matching_on(p2, &ev.base);
}

static void test_one_membership_rule_in_every_service(void **state)
{
	char x[TM_UUID_LEN + 1], y[TM_UUID_LEN + 1], z[TM_UUID_LEN + 1], lead[TM_UUID_LEN + 1];
	char x_tok[1024], y_tok[1024], z_tok[1024], lead_tok[1024], path[256];
	(void)state;
	tm_uuid_v4(x);
	tm_uuid_v4(y);
	tm_uuid_v4(z);
	tm_uuid_v4(lead);
	http_mint_token(stack.jwt_secret, x, "developer", x_tok, sizeof(x_tok));
	http_mint_token(stack.jwt_secret, y, "developer", y_tok, sizeof(y_tok));
	http_mint_token(stack.jwt_secret, z, "developer", z_tok, sizeof(z_tok));
	http_mint_token(stack.jwt_secret, lead, "developer", lead_tok, sizeof(lead_tok));
	cJSON *p = call("POST", "/api/v1/projects", client_tok,
			"{\"title\":\"Booking site\",\"description\":\"A booking site for a yoga "
			"studio with card payments and e-mail reminders.\"}",
			202);
	snprintf(p2, sizeof(p2), "%s", jstr(p, "id"));
	cJSON_Delete(p);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", p2);
	wait_field(path, client_tok, "status", "analyzed");
	snprintf(path, sizeof(path), "/api/v1/projects/%s/tasks?limit=100", p2);
	cJSON *t = call("GET", path, client_tok, NULL, 200), *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(t, "items"))
		snprintf(p2_tasks[p2_ntasks++], sizeof(p2_tasks[0]), "%s", jstr(it, "id"));
	cJSON_Delete(t);
	assert_true(p2_ntasks >= 2);

	/* proposed: the developers offered a task see it; the alternate, the
	 * proposed lead without a task and strangers do not */
	propose_p2(lead, x, y, z);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", p2);
	wait_field(path, client_tok, "status", "proposed");
	sees(x_tok, true);
	sees(z_tok, true);
	sees(y_tok, false);
	sees(lead_tok, false);
	sees(stranger_tok, false);
	assert_int_equal(announced_on(p2, "taskmesh.v1.TaskOffered"), p2_ntasks);
	cJSON *list = call("GET", "/api/v1/projects", x_tok, NULL, 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 1);
	cJSON_Delete(list);

	/* a decline ends the offer: the project is out of sight; the next one sees it */
	snprintf(path, sizeof(path), "/api/v1/tasks/%s/decline", p2_tasks[0]);
	cJSON_Delete(call("POST", path, x_tok, NULL, 200));
	sees(x_tok, false);
	sees(y_tok, true);
	list = call("GET", "/api/v1/projects", x_tok, NULL, 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 0);
	cJSON_Delete(list);

	/* a newer proposal gives task 0 to z: y's offer is withdrawn, announced */
	propose_p2(lead, z, NULL, z);
	assert_int_equal(announced_on(p2, "taskmesh.v1.TaskOfferWithdrawn"), 1);
	sees(y_tok, false);
	sees(z_tok, true);

	/* approved: the lead is on the approved team */
	snprintf(path, sizeof(path), "/api/v1/projects/%s/proposal/approve", p2);
	cJSON_Delete(call("POST", path, client_tok, NULL, 200));
	sees(lead_tok, true);
	sees(x_tok, false);
}

static void test_a_membership_the_database_cannot_tell_is_503_not_404(void **state)
{
	struct tm_db *db;
	char err[256], path[256];
	(void)state;
	assert_int_equal(tm_db_open(&db, stack.database_url, "projects", err, sizeof(err)), 0);
	assert_int_equal(
		tm_db_script(db, "ALTER TABLE projects.project_members RENAME TO members_gone"), 0);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", p2);
	cJSON *e = call("GET", path, client_tok, NULL, 503);
	assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(e, "error"), "code"),
			    "SERVICE_UNAVAILABLE");
	cJSON_Delete(e);
	cJSON_Delete(call("GET", path, stranger_tok, NULL, 503));
	assert_int_equal(
		tm_db_script(db, "ALTER TABLE projects.members_gone RENAME TO project_members"), 0);
	tm_db_close(db);
	cJSON_Delete(call("GET", path, client_tok, NULL, 200));
	cJSON_Delete(call("GET", path, stranger_tok, NULL, 404));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_analyzed_project_has_tasks),
		cmocka_unit_test(test_a_proposal_from_matching_offers_every_task),
		cmocka_unit_test(test_a_proposal_that_does_not_fit_changes_nothing),
		cmocka_unit_test(test_a_decline_offers_the_task_to_the_next_match),
		cmocka_unit_test(test_the_client_approves_once_with_the_escrow_basis),
		cmocka_unit_test(test_developers_accept_and_decline_only_their_offers),
		cmocka_unit_test(test_bad_task_updates_are_refused),
		cmocka_unit_test(
			test_progress_is_weighted_by_hours_and_milestones_are_announced_once),
		cmocka_unit_test(test_one_membership_rule_in_every_service),
		cmocka_unit_test(test_a_membership_the_database_cannot_tell_is_503_not_404),
	};
	return cmocka_run_group_tests_name("system: proposal, tasks, progress", tests, setup,
					   teardown);
}
