/* tm-projects' SQL for proposals, offers, task work and progress; see store.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "project.h"
#include "store.h"
#include "tm/members.h"
#include "tm/util.h"

#define CANDIDATES_MAX 17 /* the proposed developer and up to 16 alternates per task */

/* A match score held to 0..1. */
static double score_of(double v)
{
	return isnan(v) || v < 0 ? 0 : v > 1 ? 1 : v;
}

int store_candidates_set(struct tm_db *db, const char *task_id, Taskmesh__V1__Candidate *const *c,
			 size_t n)
{
	struct tm_arena *a = tm_arena_new(0);
	char *devs[CANDIDATES_MAX], *scores[CANDIDATES_MAX];
	int rc = TM_DB_ERR;

	if (n > CANDIDATES_MAX)
		n = CANDIDATES_MAX;
	for (size_t i = 0; i < n; i++)
		if (!tm_uuid_valid(c[i]->developer_id)) {
			tm_arena_free(a);
			return TM_DB_NONE;
		}
	for (size_t i = 0; a && i < n; i++) {
		devs[i] = c[i]->developer_id;
		scores[i] = tm_arena_printf(a, "%.6f", score_of(c[i]->match_score));
	}
	char *dl = a ? tm_db_array_literal(devs, n, a) : NULL;
	char *sl = a ? tm_db_array_literal(scores, n, a) : NULL;
	if (dl && sl)
		rc = tm_db_exec(
			db,
			"DELETE FROM task_candidates WHERE task_id = $1 AND declined_at IS NULL",
			TM_PARAMS(TM_P_TEXT(task_id)));
	/* the rank is the order given; a developer who declined the task stays declined */
	if (rc == TM_DB_OK && n > 0)
		rc = tm_db_exec(
			db,
			"INSERT INTO task_candidates (task_id, developer_id, rank, match_score) "
			"SELECT $1, c.dev, c.rank - 1, c.score FROM unnest($2::uuid[], "
			"$3::double precision[]) WITH ORDINALITY AS c(dev, score, rank) "
			"ON CONFLICT DO NOTHING",
			TM_PARAMS(TM_P_TEXT(task_id), TM_P_TEXT(dl), TM_P_TEXT(sl)));
	tm_arena_free(a);
	return rc;
}

int store_offer_next(struct tm_db *db, const char *project_id, const char *task_id,
		     char next[TM_UUID_LEN + 1])
{
	PGresult *r = NULL;

	next[0] = '\0';
	int rc = tm_db_maybe_one(
		db, &r,
		"SELECT developer_id, match_score FROM task_candidates WHERE task_id = "
		"$1 AND declined_at IS NULL ORDER BY rank, developer_id LIMIT 1",
		TM_PARAMS(TM_P_TEXT(task_id)));
	if (rc == TM_DB_NONE) /* no one left: the task waits for matching's TaskCandidates */
		return tm_db_exec(db,
				  "DELETE FROM proposal_assignments WHERE project_id = $1 AND "
				  "task_id = $2",
				  TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id)));
	if (rc != TM_DB_OK)
		return rc;
	snprintf(next, TM_UUID_LEN + 1, "%s", tm_db_text(r, 0, 0));
	double score = tm_db_float(r, 0, 1);
	PQclear(r);
	rc = tm_db_exec_n(db,
			  "UPDATE tasks SET status = 'offered', assigned_developer_id = $3, "
			  "updated_at = now() WHERE id = $2 AND project_id = $1 AND status = "
			  "'pending'",
			  TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id), TM_P_TEXT(next)), 1);
	if (rc == TM_DB_OK) /* the proposal shows who holds each task now */
		rc = tm_db_exec(db,
				"INSERT INTO proposal_assignments (project_id, task_id, "
				"developer_id, match_score) SELECT $1::uuid, $2::uuid, $3::uuid, "
				"$4::double precision FROM proposals "
				"WHERE project_id = $1 ON CONFLICT (project_id, task_id) DO UPDATE "
				"SET developer_id = $3, match_score = $4",
				TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id),
					  TM_P_TEXT(next), TM_P_FLOAT(score)));
	if (rc == TM_DB_OK)
		rc = tm_members_offer(db, project_id, task_id, next);
	if (rc != TM_DB_OK)
		next[0] = '\0';
	return rc;
}

int store_task_waiting(struct tm_db *db, const char *project_id, const char *task_id)
{
	if (!tm_uuid_valid(project_id) || !tm_uuid_valid(task_id))
		return TM_DB_NONE;
	return tm_db_exists(
		db,
		"SELECT 1 FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = $2 AND "
		"t.project_id = $1 AND t.status = 'pending' AND t.assigned_developer_id IS NULL "
		"AND p.status IN ('proposed', 'approved', 'in_progress')",
		TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id)));
}

/* The live offers of a project (task -> developer) into changes[].before. */
static int offers_before(struct tm_db *db, const char *project_id, struct offer_change *changes,
			 size_t *n)
{
	PGresult *r = NULL;
	int rc =
		tm_db_rows(db, &r,
			   "SELECT task_id, developer_id FROM project_offers WHERE project_id = $1 "
			   "ORDER BY task_id",
			   TM_PARAMS(TM_P_TEXT(project_id)));
	*n = 0;
	for (int i = 0; rc == TM_DB_OK && i < PQntuples(r) && *n < STORE_OFFER_CHANGES_MAX; i++) {
		struct offer_change *c = &changes[(*n)++];
		snprintf(c->task_id, sizeof(c->task_id), "%s", tm_db_text(r, i, 0));
		snprintf(c->before, sizeof(c->before), "%s", tm_db_text(r, i, 1));
		c->after[0] = '\0';
	}
	PQclear(r);
	return rc;
}

/* Records the new offer of a task in changes (a task not there yet is added). */
static void offer_after(struct offer_change *changes, size_t *n, const char *task_id,
			const char *developer_id)
{
	size_t i = 0;
	while (i < *n && strcmp(changes[i].task_id, task_id) != 0)
		i++;
	if (i == *n) {
		if (*n == STORE_OFFER_CHANGES_MAX)
			return;
		snprintf(changes[i].task_id, sizeof(changes[i].task_id), "%s", task_id);
		changes[i].before[0] = '\0';
		(*n)++;
	}
	snprintf(changes[i].after, sizeof(changes[i].after), "%s", developer_id);
}

/* Keeps only the offers that changed. */
static void offers_changed(struct offer_change *changes, size_t *n)
{
	size_t k = 0;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(changes[i].before, changes[i].after) != 0)
			changes[k++] = changes[i];
	*n = k;
}

/* The status of a task of the project; TM_DB_NONE when the project has no such task. */
static int task_status(struct tm_db *db, const char *project_id, const char *task_id,
		       char status[16])
{
	PGresult *r = NULL;
	if (!tm_uuid_valid(task_id))
		return TM_DB_NONE;
	int rc = tm_db_maybe_one(db, &r,
				 "SELECT status FROM tasks WHERE id = $2 AND project_id = $1",
				 TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id)));
	if (rc == TM_DB_OK)
		snprintf(status, 16, "%s", tm_db_text(r, 0, 0));
	PQclear(r);
	return rc;
}

/* Offers every task of the proposal not yet accepted afresh. */
static int store_assignments(struct tm_db *db, const Taskmesh__V1__TeamProposed *ev,
			     struct offer_change *changes, size_t *nchanges)
{
	const struct tm_dbp p0[] = {TM_P_TEXT(ev->project_id)};
	/* tasks not yet taken are offered afresh; a task a developer accepted stays theirs */
	int rc = offers_before(db, ev->project_id, changes, nchanges);
	if (rc == TM_DB_OK)
		rc = tm_db_exec(
			db,
			"DELETE FROM proposal_assignments a USING tasks t WHERE a.project_id "
			"= $1 AND t.id = a.task_id AND t.status IN ('pending', 'offered')",
			p0, 1);
	if (rc == TM_DB_OK)
		rc = tm_db_exec(db, "DELETE FROM project_offers WHERE project_id = $1", p0, 1);
	if (rc == TM_DB_OK)
		rc = tm_db_exec(
			db,
			"UPDATE tasks SET status = 'pending', assigned_developer_id = NULL, "
			"updated_at = now() WHERE project_id = $1 AND status IN ('pending', "
			"'offered')",
			p0, 1);
	for (size_t i = 0; rc == TM_DB_OK && i < ev->n_assignments; i++) {
		const Taskmesh__V1__TeamAssignment *as = ev->assignments[i];
		Taskmesh__V1__Candidate first = TASKMESH__V1__CANDIDATE__INIT;
		Taskmesh__V1__Candidate *c[CANDIDATES_MAX];
		char status[16], next[TM_UUID_LEN + 1];
		size_t n = 0;

		if ((rc = task_status(db, ev->project_id, as->task_id, status)) != TM_DB_OK)
			break;
		if (strcmp(status, "pending") != 0)
			continue; /* accepted before this proposal */
		first.developer_id = as->developer_id;
		first.match_score = as->match_score;
		c[n++] = &first;
		for (size_t k = 0; k < as->n_alternates && n < TM_ARRAY_LEN(c); k++)
			c[n++] = as->alternates[k];
		rc = store_candidates_set(db, as->task_id, c, n);
		if (rc == TM_DB_OK)
			rc = store_offer_next(db, ev->project_id, as->task_id, next);
		if (rc == TM_DB_OK && next[0])
			offer_after(changes, nchanges, as->task_id, next);
	}
	offers_changed(changes, nchanges);
	return rc;
}

int store_proposal_save(struct tm_db *db, const Taskmesh__V1__TeamProposed *ev,
			struct offer_change *changes, size_t *nchanges)
{
	struct tm_arena *a = tm_arena_new(0);
	char *roles = NULL;
	int rc;

	*nchanges = 0;
	if (!a || !tm_uuid_valid(ev->project_id) || !tm_uuid_valid(ev->proposal_id) ||
	    !tm_uuid_valid(ev->senior_developer_id) || ev->total_cost_cents < 0 ||
	    ev->timeline_days < 0 || strlen(ev->currency) != 3) {
		tm_arena_free(a);
		return a ? TM_DB_NONE : TM_DB_ERR;
	}
	roles = tm_db_array_literal(ev->roles, ev->n_roles, a);
	/* a proposal that does not fit leaves nothing behind (the inbox row stays) */
	if (tm_db_exec(db, "SAVEPOINT proposal", NULL, 0) != TM_DB_OK) {
		tm_arena_free(a);
		return TM_DB_ERR;
	}
	/* priced in the project's currency, or it does not fit (escrow is in one) */
	rc = roles ? tm_db_exec_n(
			     db,
			     "UPDATE projects SET status = 'proposed', senior_developer_id = $2, "
			     "updated_at = now() WHERE id = $1 AND status IN ('analyzed', "
			     "'proposed') AND currency = $3",
			     TM_PARAMS(TM_P_TEXT(ev->project_id),
				       TM_P_TEXT(ev->senior_developer_id), TM_P_TEXT(ev->currency)),
			     1) :
		     TM_DB_ERR;
	if (rc == TM_DB_OK)
		rc = tm_db_exec(
			db,
			"INSERT INTO proposals (project_id, proposal_id, senior_developer_id, "
			"total_cost_cents, currency, timeline_days, roles) VALUES ($1, $2, $3, "
			"$4, $5, $6, $7) ON CONFLICT (project_id) DO UPDATE SET proposal_id = $2, "
			"senior_developer_id = $3, total_cost_cents = $4, currency = $5, "
			"timeline_days = $6, roles = $7, received_at = now()",
			TM_PARAMS(TM_P_TEXT(ev->project_id), TM_P_TEXT(ev->proposal_id),
				  TM_P_TEXT(ev->senior_developer_id),
				  TM_P_INT(ev->total_cost_cents), TM_P_TEXT(ev->currency),
				  TM_P_INT(ev->timeline_days), TM_P_TEXT(roles)));
	if (rc == TM_DB_OK)
		rc = store_assignments(db, ev, changes, nchanges);
	if (rc == TM_DB_NONE) {
		*nchanges = 0;
		if (tm_db_exec(db, "ROLLBACK TO SAVEPOINT proposal", NULL, 0) != TM_DB_OK)
			rc = TM_DB_ERR;
	}
	if (rc >= 0 && tm_db_exec(db, "RELEASE SAVEPOINT proposal", NULL, 0) != TM_DB_OK)
		rc = TM_DB_ERR;
	tm_arena_free(a);
	return rc;
}

int store_proposal_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Proposal **out)
{
	PGresult *r = NULL, *ra = NULL;
	Taskmesh__V1__Proposal *pr = tm_arena_alloc(a, sizeof(*pr));
	Taskmesh__V1__TeamStructure *ts = tm_arena_alloc(a, sizeof(*ts));

	*out = NULL;
	if (!pr || !ts)
		return TM_DB_ERR;
	int rc = tm_db_maybe_one(
		db, &r,
		"SELECT proposal_id, status, senior_developer_id, total_cost_cents, "
		"currency, timeline_days, roles FROM proposals WHERE project_id = $1",
		TM_PARAMS(TM_P_TEXT(project_id)));
	if (rc == TM_DB_OK)
		rc = tm_db_rows(
			db, &ra,
			"SELECT task_id, developer_id, match_score FROM proposal_assignments "
			"WHERE project_id = $1 ORDER BY task_id",
			TM_PARAMS(TM_P_TEXT(project_id)));
	if (rc != TM_DB_OK)
		goto out;
	taskmesh__v1__proposal__init(pr);
	taskmesh__v1__team_structure__init(ts);
	pr->proposal_id = tm_db_strdup(r, 0, 0, a);
	pr->status = strcmp(tm_db_text(r, 0, 1), "approved") == 0 ?
			     TASKMESH__V1__PROPOSAL_STATUS__PROPOSAL_STATUS_APPROVED :
			     TASKMESH__V1__PROPOSAL_STATUS__PROPOSAL_STATUS_PROPOSED;
	pr->senior_developer_id = tm_db_strdup(r, 0, 2, a);
	pr->total_cost_cents = tm_db_int(r, 0, 3);
	pr->currency = tm_db_strdup(r, 0, 4, a);
	pr->timeline_days = (int32_t)tm_db_int(r, 0, 5);
	pr->team_structure = ts;
	int n = PQntuples(ra);
	pr->assignments = tm_arena_alloc(a, ((size_t)n + 1) * sizeof(*pr->assignments));
	for (int i = 0; pr->assignments && i < n; i++) {
		Taskmesh__V1__ProposalAssignment *as = tm_arena_alloc(a, sizeof(*as));
		if (!as) {
			pr->assignments = NULL;
			break;
		}
		taskmesh__v1__proposal_assignment__init(as);
		as->task_id = tm_db_strdup(ra, i, 0, a);
		as->developer_id = tm_db_strdup(ra, i, 1, a);
		as->match_score = tm_db_float(ra, i, 2);
		pr->assignments[pr->n_assignments++] = as;
	}
	if (tm_db_text_array(r, 0, 6, a, &ts->roles, &ts->n_roles) != 0 || !pr->assignments ||
	    !pr->proposal_id || !pr->senior_developer_id || !pr->currency)
		rc = TM_DB_ERR;
	else
		*out = pr;
out:
	PQclear(r);
	PQclear(ra);
	return rc;
}

int store_proposal_status(struct tm_db *db, const char *project_id, char status[16])
{
	PGresult *r = NULL;
	status[0] = '\0';
	int rc = tm_db_maybe_one(db, &r, "SELECT status FROM proposals WHERE project_id = $1",
				 TM_PARAMS(TM_P_TEXT(project_id)));
	if (rc == TM_DB_OK)
		snprintf(status, 16, "%s", tm_db_text(r, 0, 0));
	PQclear(r);
	return rc < 0 ? rc : TM_DB_OK;
}

int store_proposal_approve(struct tm_db *db, const char *project_id,
			   const Taskmesh__V1__Proposal *pr)
{
	int rc = tm_db_exec_n(db,
			      "UPDATE proposals SET status = 'approved', approved_at = now() "
			      "WHERE project_id = $1 AND status = 'proposed'",
			      TM_PARAMS(TM_P_TEXT(project_id)), 1);
	if (rc == TM_DB_OK)
		rc = store_project_move(db, project_id, "proposed", "approved");
	/* the approved team: the senior developer and the proposal's developers */
	if (rc == TM_DB_OK)
		rc = tm_members_add(db, project_id, pr->senior_developer_id, "developer");
	for (size_t i = 0; rc == TM_DB_OK && i < pr->n_assignments; i++)
		rc = tm_members_add(db, project_id, pr->assignments[i]->developer_id, "developer");
	return rc;
}

int store_task_get(struct tm_db *db, const char *task_id, struct tm_arena *a, struct task_row *out)
{
	PGresult *r = NULL;
	Taskmesh__V1__ListTasksReply all = TASKMESH__V1__LIST_TASKS_REPLY__INIT;

	if (!tm_uuid_valid(task_id))
		return TM_DB_NONE;
	int rc =
		tm_db_maybe_one(db, &r,
				"SELECT t.project_id, p.status, p.client_id, t.status FROM tasks t "
				"JOIN projects p ON p.id = t.project_id WHERE t.id = $1",
				TM_PARAMS(TM_P_TEXT(task_id)));
	if (rc == TM_DB_OK) {
		snprintf(out->project_status, sizeof(out->project_status), "%s",
			 tm_db_text(r, 0, 1));
		snprintf(out->client_id, sizeof(out->client_id), "%s", tm_db_text(r, 0, 2));
		snprintf(out->status, sizeof(out->status), "%s", tm_db_text(r, 0, 3));
		rc = store_tasks_list(db, tm_db_text(r, 0, 0), NULL, a, &all);
	}
	for (size_t i = 0; rc == TM_DB_OK && i < all.n_items; i++)
		if (strcmp(all.items[i]->id, task_id) == 0)
			out->task = all.items[i];
	if (rc == TM_DB_OK && !out->task)
		rc = TM_DB_NONE;
	PQclear(r);
	return rc;
}

int store_task_lock_project(struct tm_db *db, const char *task_id)
{
	if (!tm_uuid_valid(task_id))
		return TM_DB_NONE;
	return tm_db_exists(db,
			    "SELECT 1 FROM projects p JOIN tasks t ON t.project_id = p.id WHERE "
			    "t.id = $1 FOR UPDATE OF p",
			    TM_PARAMS(TM_P_TEXT(task_id)));
}

int store_task_accept(struct tm_db *db, const char *project_id, const char *task_id,
		      const char *developer_id)
{
	int rc = tm_db_exec_n(db,
			      "UPDATE tasks SET status = 'assigned', completion_percentage = 0, "
			      "updated_at = now() WHERE id = $1 AND assigned_developer_id = $2 AND "
			      "status = 'offered'",
			      TM_PARAMS(TM_P_TEXT(task_id), TM_P_TEXT(developer_id)), 1);
	if (rc == TM_DB_OK)
		rc = tm_members_offer_end(db, project_id, task_id, developer_id);
	if (rc == TM_DB_OK)
		rc = tm_members_add(db, project_id, developer_id, "developer");
	return rc;
}

int store_task_decline(struct tm_db *db, const char *project_id, const char *task_id,
		       const char *developer_id)
{
	int rc =
		tm_db_exec(db,
			   "INSERT INTO task_candidates (task_id, developer_id, rank, match_score, "
			   "declined_at) VALUES ($1, $2, 2147483647, 0, now()) ON CONFLICT "
			   "(task_id, developer_id) DO UPDATE SET declined_at = now()",
			   TM_PARAMS(TM_P_TEXT(task_id), TM_P_TEXT(developer_id)));
	if (rc == TM_DB_OK)
		rc = tm_db_exec_n(
			db,
			"UPDATE tasks SET status = 'pending', assigned_developer_id = NULL, "
			"completion_percentage = 0, updated_at = now() WHERE id = $1 AND "
			"assigned_developer_id = $2 AND status = 'offered'",
			TM_PARAMS(TM_P_TEXT(task_id), TM_P_TEXT(developer_id)), 1);
	if (rc == TM_DB_OK)
		rc = tm_members_offer_end(db, project_id, task_id, developer_id);
	return rc;
}

int store_task_update(struct tm_db *db, const char *task_id, const char *status, int completion)
{
	return tm_db_exec_n(db,
			    "UPDATE tasks SET status = $2, completion_percentage = $3, "
			    "updated_at = now() WHERE id = $1",
			    TM_PARAMS(TM_P_TEXT(task_id), TM_P_TEXT(status), TM_P_INT(completion)),
			    1);
}

int store_progress(struct tm_db *db, const char *project_id, int *percent, int *done, int *total)
{
	PGresult *r = NULL;
	int32_t hours[TM_AI_TASKS_MAX * 2], completion[TM_AI_TASKS_MAX * 2];

	int rc = tm_db_rows(db, &r,
			    "SELECT estimated_hours, completion_percentage, status = 'done' FROM "
			    "tasks WHERE project_id = $1 ORDER BY position",
			    TM_PARAMS(TM_P_TEXT(project_id)));
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	if (n > (int)TM_ARRAY_LEN(hours))
		n = (int)TM_ARRAY_LEN(hours);
	*done = 0;
	*total = n;
	for (int i = 0; i < n; i++) {
		hours[i] = (int32_t)tm_db_int(r, i, 0);
		completion[i] = (int32_t)tm_db_int(r, i, 1);
		*done += tm_db_bool(r, i, 2);
	}
	*percent = project_progress_percent(hours, completion, (size_t)n);
	PQclear(r);
	return TM_DB_OK;
}

int store_milestone_mark(struct tm_db *db, const char *project_id, int percentage)
{
	return tm_db_exec_n(
		db,
		"INSERT INTO milestones_reached (project_id, percentage) VALUES ($1, $2) "
		"ON CONFLICT DO NOTHING",
		TM_PARAMS(TM_P_TEXT(project_id), TM_P_INT(percentage)), 1);
}

int store_progress_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Progress **out)
{
	Taskmesh__V1__Progress *pg = tm_arena_alloc(a, sizeof(*pg));
	int32_t *ms = tm_arena_alloc(a, 4 * sizeof(int32_t));
	PGresult *r = NULL;
	int pct = 0, done = 0, total = 0;

	if (!pg || !ms)
		return TM_DB_ERR;
	taskmesh__v1__progress__init(pg);
	int rc = store_progress(db, project_id, &pct, &done, &total);
	if (rc == TM_DB_OK)
		rc = tm_db_rows(db, &r,
				"SELECT percentage FROM milestones_reached WHERE project_id = $1 "
				"ORDER BY percentage",
				TM_PARAMS(TM_P_TEXT(project_id)));
	for (int i = 0; rc == TM_DB_OK && i < PQntuples(r) && pg->n_milestones_reached < 4; i++)
		ms[pg->n_milestones_reached++] = (int32_t)tm_db_int(r, i, 0);
	PQclear(r);
	pg->completion_percentage = pct;
	pg->milestones_reached = ms;
	pg->tasks_done = done;
	pg->tasks_total = total;
	*out = pg;
	return rc;
}
