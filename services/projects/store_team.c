/* tm-projects' SQL for proposals, task work and progress; see store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "project.h"
#include "store.h"
#include "tm/buf.h"
#include "tm/util.h"

static bool changed_one(PGresult *r)
{
	return strcmp(PQcmdTuples(r), "1") == 0;
}

/* Runs a statement that should change exactly one row; 1 when it changed none. */
static int exec_one(struct tm_db *db, const char *sql, int n, const char *const *p)
{
	PGresult *r = NULL;
	int rc = tm_db_query(db, &r, sql, n, p);
	if (rc == TM_DB_OK && !changed_one(r))
		rc = 1;
	PQclear(r);
	return rc;
}

/* Runs a query that should find a row (or lock one); 1 when it finds none. */
static int select_any(struct tm_db *db, const char *sql, int n, const char *const *p)
{
	PGresult *r = NULL;
	int rc = tm_db_query(db, &r, sql, n, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	PQclear(r);
	return rc;
}

/* A match score as SQL text, held to 0..1. */
static void score_text(double v, char out[32])
{
	snprintf(out, 32, "%.6f", v < 0 ? 0 : v > 1 ? 1 : v);
}

int store_candidates_set(struct tm_db *db, const char *task_id, Taskmesh__V1__Candidate *const *c,
			 size_t n)
{
	const char *p0[] = {task_id};
	for (size_t i = 0; i < n; i++)
		if (!tm_uuid_valid(c[i]->developer_id))
			return 1;
	int rc = tm_db_query(
		db, NULL, "DELETE FROM task_candidates WHERE task_id = $1 AND declined_at IS NULL",
		1, p0);
	for (size_t i = 0; rc == TM_DB_OK && i < n; i++) {
		char rank[24], score[32];
		snprintf(rank, sizeof(rank), "%zu", i);
		score_text(c[i]->match_score, score);
		const char *p[] = {task_id, c[i]->developer_id, rank, score};
		/* a developer who declined the task stays declined */
		rc = tm_db_query(db, NULL,
				 "INSERT INTO task_candidates (task_id, developer_id, rank, "
				 "match_score) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
				 4, p);
	}
	return rc;
}

int store_candidate_decline(struct tm_db *db, const char *task_id, const char *developer_id)
{
	const char *p[] = {task_id, developer_id};
	return tm_db_query(db, NULL,
			   "INSERT INTO task_candidates (task_id, developer_id, rank, match_score, "
			   "declined_at) VALUES ($1, $2, 2147483647, 0, now()) ON CONFLICT "
			   "(task_id, developer_id) DO UPDATE SET declined_at = now()",
			   2, p);
}

int store_offer_next(struct tm_db *db, const char *project_id, const char *task_id,
		     char next[TM_UUID_LEN + 1])
{
	PGresult *r = NULL;
	const char *p[] = {project_id, task_id};
	next[0] = '\0';
	int rc =
		tm_db_query(db, &r,
			    "SELECT developer_id, match_score FROM task_candidates WHERE task_id = "
			    "$1 AND declined_at IS NULL ORDER BY rank, developer_id LIMIT 1",
			    1, (const char *const[]){task_id});
	if (rc != TM_DB_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		/* no one left: the task waits for matching's TaskCandidates */
		return tm_db_query(db, NULL,
				   "DELETE FROM proposal_assignments WHERE project_id = $1 AND "
				   "task_id = $2",
				   2, p);
	}
	snprintf(next, TM_UUID_LEN + 1, "%s", PQgetvalue(r, 0, 0));
	const char *q[] = {project_id, task_id, next, PQgetvalue(r, 0, 1)};
	rc = exec_one(db,
		      "UPDATE tasks SET status = 'offered', assigned_developer_id = $3, "
		      "updated_at = now() WHERE id = $2 AND project_id = $1 AND status = 'pending'",
		      3, q);
	if (rc == TM_DB_OK) /* the proposal shows who holds each task now */
		rc = tm_db_query(
			db, NULL,
			"INSERT INTO proposal_assignments (project_id, task_id, "
			"developer_id, match_score) SELECT $1::uuid, $2::uuid, $3::uuid, "
			"$4::double precision FROM proposals "
			"WHERE project_id = $1 ON CONFLICT (project_id, task_id) DO UPDATE "
			"SET developer_id = $3, match_score = $4",
			4, q);
	PQclear(r);
	if (rc == 1)
		next[0] = '\0';
	return rc;
}

int store_task_waiting(struct tm_db *db, const char *project_id, const char *task_id)
{
	const char *p[] = {project_id, task_id};
	if (!tm_uuid_valid(project_id) || !tm_uuid_valid(task_id))
		return 1;
	return select_any(
		db,
		"SELECT 1 FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = $2 AND "
		"t.project_id = $1 AND t.status = 'pending' AND t.assigned_developer_id IS NULL "
		"AND p.status IN ('proposed', 'approved', 'in_progress')",
		2, p);
}

/* The status of a task of the project; 1 when the project has no such task. */
static int task_status(struct tm_db *db, const char *project_id, const char *task_id,
		       char status[16])
{
	PGresult *r = NULL;
	const char *p[] = {project_id, task_id};
	if (!tm_uuid_valid(task_id))
		return 1;
	int rc = tm_db_query(db, &r, "SELECT status FROM tasks WHERE id = $2 AND project_id = $1",
			     2, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	if (rc == TM_DB_OK)
		snprintf(status, 16, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

static int store_assignments(struct tm_db *db, const Taskmesh__V1__TeamProposed *ev)
{
	const char *p0[] = {ev->project_id};
	/* tasks not yet taken are offered afresh; a task a developer accepted stays theirs */
	int rc = tm_db_query(db, NULL,
			     "DELETE FROM proposal_assignments a USING tasks t WHERE a.project_id "
			     "= $1 AND t.id = a.task_id AND t.status IN ('pending', 'offered')",
			     1, p0);
	if (rc == TM_DB_OK)
		rc = tm_db_query(
			db, NULL,
			"UPDATE tasks SET status = 'pending', assigned_developer_id = NULL, "
			"updated_at = now() WHERE project_id = $1 AND status IN ('pending', "
			"'offered')",
			1, p0);
	for (size_t i = 0; rc == TM_DB_OK && i < ev->n_assignments; i++) {
		const Taskmesh__V1__TeamAssignment *a = ev->assignments[i];
		Taskmesh__V1__Candidate first = TASKMESH__V1__CANDIDATE__INIT;
		Taskmesh__V1__Candidate *c[1 + 16];
		char status[16], next[TM_UUID_LEN + 1];
		size_t n = 0;

		if ((rc = task_status(db, ev->project_id, a->task_id, status)) != TM_DB_OK)
			break;
		if (strcmp(status, "pending") != 0)
			continue; /* accepted before this proposal */
		first.developer_id = a->developer_id;
		first.match_score = a->match_score;
		c[n++] = &first;
		for (size_t k = 0; k < a->n_alternates && n < TM_ARRAY_LEN(c); k++)
			c[n++] = a->alternates[k];
		rc = store_candidates_set(db, a->task_id, c, n);
		if (rc == TM_DB_OK)
			rc = store_offer_next(db, ev->project_id, a->task_id, next);
	}
	return rc;
}

int store_proposal_save(struct tm_db *db, const Taskmesh__V1__TeamProposed *ev)
{
	struct tm_arena *a = tm_arena_new(0);
	char cost[24], days[16], *roles = NULL;
	int rc;

	if (!a || !tm_uuid_valid(ev->project_id) || !tm_uuid_valid(ev->proposal_id) ||
	    !tm_uuid_valid(ev->senior_developer_id) || ev->total_cost_cents < 0 ||
	    ev->timeline_days < 0 || strlen(ev->currency) != 3) {
		tm_arena_free(a);
		return 1;
	}
	roles = store_text_array(ev->roles, ev->n_roles, a);
	/* a proposal that does not fit leaves nothing behind (the inbox row stays) */
	if (tm_db_query(db, NULL, "SAVEPOINT proposal", 0, NULL) != TM_DB_OK) {
		tm_arena_free(a);
		return TM_DB_ERR;
	}
	snprintf(cost, sizeof(cost), "%lld", (long long)ev->total_cost_cents);
	snprintf(days, sizeof(days), "%d", ev->timeline_days);
	const char *p[] = {ev->project_id, ev->proposal_id, ev->senior_developer_id,
			   cost,	   ev->currency,    days,
			   roles};
	/* priced in the project's currency, or it does not fit (escrow is in one) */
	rc = roles ? exec_one(db,
			      "UPDATE projects SET status = 'proposed', senior_developer_id = $2, "
			      "updated_at = now() WHERE id = $1 AND status IN ('analyzed', "
			      "'proposed') AND currency = $3",
			      3,
			      (const char *const[]){ev->project_id, ev->senior_developer_id,
						    ev->currency}) :
		     TM_DB_ERR;
	if (rc == TM_DB_OK)
		rc = tm_db_query(
			db, NULL,
			"INSERT INTO proposals (project_id, proposal_id, senior_developer_id, "
			"total_cost_cents, currency, timeline_days, roles) VALUES ($1, $2, $3, "
			"$4, $5, $6, $7) ON CONFLICT (project_id) DO UPDATE SET proposal_id = $2, "
			"senior_developer_id = $3, total_cost_cents = $4, currency = $5, "
			"timeline_days = $6, roles = $7, received_at = now()",
			7, p);
	if (rc == TM_DB_OK)
		rc = store_assignments(db, ev);
	if (rc == 1 && tm_db_query(db, NULL, "ROLLBACK TO SAVEPOINT proposal", 0, NULL) != TM_DB_OK)
		rc = TM_DB_ERR;
	if (rc >= 0 && tm_db_query(db, NULL, "RELEASE SAVEPOINT proposal", 0, NULL) != TM_DB_OK)
		rc = TM_DB_ERR;
	tm_arena_free(a);
	return rc;
}

int store_proposal_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Proposal **out)
{
	PGresult *r = NULL, *ra = NULL;
	const char *p[] = {project_id};
	Taskmesh__V1__Proposal *pr = tm_arena_alloc(a, sizeof(*pr));
	Taskmesh__V1__TeamStructure *ts = tm_arena_alloc(a, sizeof(*ts));
	int64_t v = 0;

	*out = NULL;
	if (!pr || !ts)
		return TM_DB_ERR;
	int rc = tm_db_query(db, &r,
			     "SELECT proposal_id, status, senior_developer_id, total_cost_cents, "
			     "currency, timeline_days, array_to_json(roles) FROM proposals "
			     "WHERE project_id = $1",
			     1, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	if (rc == TM_DB_OK)
		rc = tm_db_query(
			db, &ra,
			"SELECT task_id, developer_id, match_score FROM proposal_assignments "
			"WHERE project_id = $1 ORDER BY task_id",
			1, p);
	if (rc != TM_DB_OK)
		goto out;
	taskmesh__v1__proposal__init(pr);
	taskmesh__v1__team_structure__init(ts);
	pr->proposal_id = tm_arena_strdup(a, PQgetvalue(r, 0, 0));
	pr->status = strcmp(PQgetvalue(r, 0, 1), "approved") == 0 ?
			     TASKMESH__V1__PROPOSAL_STATUS__PROPOSAL_STATUS_APPROVED :
			     TASKMESH__V1__PROPOSAL_STATUS__PROPOSAL_STATUS_PROPOSED;
	pr->senior_developer_id = tm_arena_strdup(a, PQgetvalue(r, 0, 2));
	tm_parse_int64(PQgetvalue(r, 0, 3), &pr->total_cost_cents);
	pr->currency = tm_arena_strdup(a, PQgetvalue(r, 0, 4));
	tm_parse_int64(PQgetvalue(r, 0, 5), &v);
	pr->timeline_days = (int32_t)v;
	pr->team_structure = ts;
	int n = PQntuples(ra);
	pr->assignments = tm_arena_alloc(a, ((size_t)n + 1) * sizeof(*pr->assignments));
	for (int i = 0; pr->assignments && i < n; i++) {
		Taskmesh__V1__ProposalAssignment *as = tm_arena_alloc(a, sizeof(*as));
		if (!as)
			break;
		taskmesh__v1__proposal_assignment__init(as);
		as->task_id = tm_arena_strdup(a, PQgetvalue(ra, i, 0));
		as->developer_id = tm_arena_strdup(a, PQgetvalue(ra, i, 1));
		as->match_score = strtod(PQgetvalue(ra, i, 2), NULL);
		pr->assignments[pr->n_assignments++] = as;
	}
	if (store_json_strings(PQgetvalue(r, 0, 6), a, &ts->roles, &ts->n_roles) != 0 ||
	    !pr->assignments || !pr->proposal_id || !pr->senior_developer_id || !pr->currency)
		rc = TM_DB_ERR;
	else
		*out = pr;
out:
	PQclear(r);
	PQclear(ra);
	return rc;
}

int store_proposal_approve(struct tm_db *db, const char *project_id)
{
	const char *p[] = {project_id};
	int rc = exec_one(db,
			  "UPDATE proposals SET status = 'approved', approved_at = now() "
			  "WHERE project_id = $1 AND status = 'proposed'",
			  1, p);
	if (rc == TM_DB_OK)
		rc = store_project_move(db, project_id, "proposed", "approved");
	return rc;
}

int store_task_get(struct tm_db *db, const char *task_id, struct tm_arena *a, struct task_row *out)
{
	PGresult *r = NULL;
	const char *p[] = {task_id};
	Taskmesh__V1__ListTasksReply one = TASKMESH__V1__LIST_TASKS_REPLY__INIT;

	if (!tm_uuid_valid(task_id))
		return 1;
	int rc = tm_db_query(db, &r,
			     "SELECT t.project_id, p.status, p.client_id, t.status FROM tasks t "
			     "JOIN projects p ON p.id = t.project_id WHERE t.id = $1",
			     1, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	if (rc == TM_DB_OK) {
		snprintf(out->project_status, sizeof(out->project_status), "%s",
			 PQgetvalue(r, 0, 1));
		snprintf(out->client_id, sizeof(out->client_id), "%s", PQgetvalue(r, 0, 2));
		snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(r, 0, 3));
		rc = store_list_tasks(db, PQgetvalue(r, 0, 0), a, &one);
	}
	for (size_t i = 0; rc == TM_DB_OK && i < one.n_items; i++)
		if (strcmp(one.items[i]->id, task_id) == 0)
			out->task = one.items[i];
	if (rc == TM_DB_OK && !out->task)
		rc = 1;
	PQclear(r);
	return rc;
}

int store_task_lock_project(struct tm_db *db, const char *task_id)
{
	const char *p[] = {task_id};
	if (!tm_uuid_valid(task_id))
		return 1;
	return select_any(db,
			  "SELECT 1 FROM projects p JOIN tasks t ON t.project_id = p.id WHERE "
			  "t.id = $1 FOR UPDATE OF p",
			  1, p);
}

int store_project_lock(struct tm_db *db, const char *project_id)
{
	const char *p[] = {project_id};
	return select_any(db, "SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", 1, p);
}

int store_task_set(struct tm_db *db, const char *task_id, const char *status,
		   const char *developer_id, int completion)
{
	char c[16];
	snprintf(c, sizeof(c), "%d", completion);
	const char *p[] = {task_id, status, developer_id, c};
	return exec_one(db,
			"UPDATE tasks SET status = $2, assigned_developer_id = $3, "
			"completion_percentage = $4, updated_at = now() WHERE id = $1",
			4, p);
}

int store_progress(struct tm_db *db, const char *project_id, int *percent, int *done, int *total)
{
	PGresult *r = NULL;
	const char *p[] = {project_id};
	int rc = tm_db_query(
		db, &r,
		"SELECT estimated_hours, completion_percentage, status = 'done' FROM tasks "
		"WHERE project_id = $1 ORDER BY position",
		1, p);
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	int32_t hours[TM_AI_TASKS_MAX * 2], completion[TM_AI_TASKS_MAX * 2];
	*done = 0;
	*total = n;
	for (int i = 0; i < n && i < TM_AI_TASKS_MAX * 2; i++) {
		int64_t h = 0, c = 0;
		tm_parse_int64(PQgetvalue(r, i, 0), &h);
		tm_parse_int64(PQgetvalue(r, i, 1), &c);
		hours[i] = (int32_t)h;
		completion[i] = (int32_t)c;
		*done += strcmp(PQgetvalue(r, i, 2), "t") == 0;
	}
	*percent = project_progress_percent(
		hours, completion, (size_t)(n < TM_AI_TASKS_MAX * 2 ? n : TM_AI_TASKS_MAX * 2));
	PQclear(r);
	return TM_DB_OK;
}

int store_milestone_mark(struct tm_db *db, const char *project_id, int percentage)
{
	char pct[8];
	snprintf(pct, sizeof(pct), "%d", percentage);
	const char *p[] = {project_id, pct};
	return exec_one(db,
			"INSERT INTO milestones_reached (project_id, percentage) VALUES ($1, $2) "
			"ON CONFLICT DO NOTHING",
			2, p);
}

int store_milestones(struct tm_db *db, const char *project_id, int32_t out[4], size_t *n)
{
	PGresult *r = NULL;
	const char *p[] = {project_id};
	*n = 0;
	int rc = tm_db_query(db, &r,
			     "SELECT percentage FROM milestones_reached WHERE project_id = $1 "
			     "ORDER BY percentage",
			     1, p);
	for (int i = 0; rc == TM_DB_OK && i < PQntuples(r) && *n < 4; i++) {
		int64_t v = 0;
		tm_parse_int64(PQgetvalue(r, i, 0), &v);
		out[(*n)++] = (int32_t)v;
	}
	PQclear(r);
	return rc;
}

int store_progress_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Progress **out)
{
	Taskmesh__V1__Progress *pg = tm_arena_alloc(a, sizeof(*pg));
	int32_t *ms = tm_arena_alloc(a, 4 * sizeof(int32_t));
	int pct = 0, done = 0, total = 0;

	if (!pg || !ms)
		return TM_DB_ERR;
	taskmesh__v1__progress__init(pg);
	int rc = store_progress(db, project_id, &pct, &done, &total);
	if (rc == TM_DB_OK)
		rc = store_milestones(db, project_id, ms, &pg->n_milestones_reached);
	pg->completion_percentage = pct;
	pg->milestones_reached = ms;
	pg->tasks_done = done;
	pg->tasks_total = total;
	*out = pg;
	return rc;
}

int store_proposal_status(struct tm_db *db, const char *project_id, char status[16])
{
	PGresult *r = NULL;
	const char *p[] = {project_id};
	status[0] = '\0';
	int rc = tm_db_query(db, &r, "SELECT status FROM proposals WHERE project_id = $1", 1, p);
	if (rc == TM_DB_OK && PQntuples(r) == 1)
		snprintf(status, 16, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

int store_project_move(struct tm_db *db, const char *project_id, const char *from, const char *to)
{
	const char *p[] = {project_id, from, to};
	return exec_one(db,
			"UPDATE projects SET status = $3, updated_at = now() WHERE id = $1 AND "
			"status = $2",
			3, p);
}

int store_is_team_member(struct tm_db *db, const char *project_id, const char *user_id)
{
	PGresult *r = NULL;
	const char *p[] = {project_id, user_id};
	if (!tm_uuid_valid(user_id))
		return 0;
	int rc = tm_db_query(
		db, &r,
		"SELECT 1 FROM tasks WHERE project_id = $1 AND assigned_developer_id = $2 "
		"UNION SELECT 1 FROM projects WHERE id = $1 AND senior_developer_id = $2 "
		"LIMIT 1",
		2, p);
	if (rc != TM_DB_OK)
		return rc;
	rc = PQntuples(r) > 0;
	PQclear(r);
	return rc;
}
