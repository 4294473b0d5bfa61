/* tm-projects' SQL for analyses, tasks and the analysis queue; see store.h. */
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "tm/util.h"

#define JOB_LEASE "interval '10 minutes'" /* a claimed job runs again after this if not done */
#define TASKS_ALL (TM_AI_TASKS_MAX * 2)	  /* more tasks than a project can have */

/* A task from one row of the task query. */
static Taskmesh__V1__Task *row_to_task(PGresult *r, int i, struct tm_arena *a)
{
	Taskmesh__V1__Task *t = tm_arena_alloc(a, sizeof(*t));
	if (!t)
		return NULL;
	taskmesh__v1__task__init(t);
	t->id = tm_db_strdup(r, i, 0, a);
	t->key = tm_db_strdup(r, i, 1, a);
	t->title = tm_db_strdup(r, i, 2, a);
	t->description = tm_db_strdup(r, i, 3, a);
	t->estimated_hours = (int32_t)tm_db_int(r, i, 5);
	t->priority = tm_db_strdup(r, i, 6, a);
	t->assigned_developer_id = tm_db_strdup(r, i, 8, a);
	t->status = project_task_status_from_db(tm_db_text(r, i, 9));
	t->completion_percentage = (int32_t)tm_db_int(r, i, 10);
	t->level = tm_db_strdup(r, i, 11, a);
	t->project_id = tm_db_strdup(r, i, 12, a);
	if (tm_db_text_array(r, i, 4, a, &t->required_skills, &t->n_required_skills) ||
	    tm_db_text_array(r, i, 7, a, &t->depends_on, &t->n_depends_on) || !t->id || !t->key ||
	    !t->title || !t->description || !t->priority || !t->assigned_developer_id ||
	    !t->level || !t->project_id)
		return NULL;
	return t;
}

int store_tasks_list(struct tm_db *db, const char *project_id, const struct tm_page *page,
		     struct tm_arena *a, Taskmesh__V1__ListTasksReply *out)
{
	PGresult *r = NULL;
	int limit = page ? page->limit : TASKS_ALL;
	int64_t after = page && page->after ? page->key : -1;

	out->next_cursor = "";
	int rc = tm_db_rows(
		db, &r,
		"SELECT id, key, title, description, required_skills, estimated_hours, priority, "
		"depends_on, coalesce(assigned_developer_id::text, ''), status, "
		"completion_percentage, level, project_id, position FROM tasks "
		"WHERE project_id = $1 AND position > $2 ORDER BY position LIMIT $3",
		TM_PARAMS(TM_P_TEXT(project_id), TM_P_INT(after), TM_P_INT(limit + 1)));
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r), shown = n > limit ? limit : n;
	out->items = tm_arena_alloc(a, ((size_t)shown + 1) * sizeof(*out->items));
	for (int i = 0; out->items && i < shown; i++)
		if (!(out->items[out->n_items++] = row_to_task(r, i, a)))
			out->items = NULL;
	if (out->items && n > limit)
		out->next_cursor =
			tm_list_cursor(a, tm_db_int(r, shown - 1, 13), out->items[shown - 1]->id);
	rc = out->items && out->next_cursor ? TM_DB_OK : TM_DB_ERR;
	if (rc != TM_DB_OK)
		out->n_items = 0;
	PQclear(r);
	return rc;
}

int store_job_enqueue(struct tm_db *db, const char *project_id)
{
	return tm_db_exec(
		db,
		"INSERT INTO analysis_jobs (project_id) VALUES ($1) ON CONFLICT (project_id) "
		"DO UPDATE SET attempts = 0, run_after = now(), last_error = NULL",
		TM_PARAMS(TM_P_TEXT(project_id)));
}

int store_jobs_claim(struct tm_db *db, int max, char ids[][TM_UUID_LEN + 1], int *attempts, int *n)
{
	PGresult *r = NULL;

	*n = 0;
	int rc = tm_db_rows(db, &r,
			    "UPDATE analysis_jobs SET attempts = attempts + 1, "
			    "run_after = now() + " JOB_LEASE " WHERE project_id IN ("
			    "SELECT project_id FROM analysis_jobs WHERE run_after <= now() "
			    "ORDER BY run_after, created_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
			    "RETURNING project_id, attempts",
			    TM_PARAMS(TM_P_INT(max)));
	for (int i = 0; rc == TM_DB_OK && i < PQntuples(r) && i < max; i++) {
		snprintf(ids[i], TM_UUID_LEN + 1, "%s", tm_db_text(r, i, 0));
		attempts[i] = (int)tm_db_int(r, i, 1);
		(*n)++;
	}
	PQclear(r);
	return rc;
}

int store_jobs_release(struct tm_db *db, char ids[][TM_UUID_LEN + 1], int n)
{
	struct tm_arena *a = tm_arena_new(0);
	char **list = a ? tm_arena_alloc(a, ((size_t)n + 1) * sizeof(char *)) : NULL;
	char *lit = NULL;
	for (int i = 0; list && i < n; i++)
		list[i] = ids[i];
	if (list)
		lit = tm_db_array_literal(list, (size_t)n, a);
	int rc = lit ? tm_db_exec(db,
				  "UPDATE analysis_jobs SET run_after = now(), attempts = "
				  "greatest(attempts - 1, 0) WHERE project_id = ANY($1::uuid[])",
				  TM_PARAMS(TM_P_TEXT(lit))) :
		       TM_DB_ERR;
	tm_arena_free(a);
	return rc;
}

int store_job_done(struct tm_db *db, const char *project_id)
{
	return tm_db_exec(db, "DELETE FROM analysis_jobs WHERE project_id = $1",
			  TM_PARAMS(TM_P_TEXT(project_id)));
}

int store_job_retry_later(struct tm_db *db, const char *project_id, int64_t delay_ms,
			  const char *error)
{
	return tm_db_exec(db,
			  "UPDATE analysis_jobs SET run_after = now() + $2::bigint * interval "
			  "'1 millisecond', last_error = $3 WHERE project_id = $1",
			  TM_PARAMS(TM_P_TEXT(project_id), TM_P_INT(delay_ms), TM_P_TEXT(error)));
}

/* The tasks of an analysis as one array parameter per column (unnest in SQL);
 * each task's skills and dependencies are array literals inside an array. */
struct task_columns {
	char *keys, *titles, *descriptions, *skills, *hours, *priorities, *levels, *depends;
};

static int task_columns(const struct tm_ai_analysis *an, struct tm_arena *a, struct task_columns *c)
{
	size_t n = an->ntasks;
	char **k = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **ti = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **de = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **sk = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **ho = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **pr = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **le = tm_arena_alloc(a, (n + 1) * sizeof(char *)),
	     **dp = tm_arena_alloc(a, (n + 1) * sizeof(char *));
	if (!k || !ti || !de || !sk || !ho || !pr || !le || !dp)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct tm_ai_task *t = &an->tasks[i];
		k[i] = (char *)t->key;
		ti[i] = t->title;
		de[i] = t->description;
		pr[i] = (char *)t->priority;
		le[i] = (char *)t->level;
		if (!(sk[i] = tm_db_array_literal(t->skills, t->nskills, a)) ||
		    !(dp[i] = tm_db_array_literal(t->depends_on, t->ndepends, a)) ||
		    !(ho[i] = tm_arena_printf(a, "%d", t->hours)))
			return -1;
	}
	c->keys = tm_db_array_literal(k, n, a);
	c->titles = tm_db_array_literal(ti, n, a);
	c->descriptions = tm_db_array_literal(de, n, a);
	c->skills = tm_db_array_literal(sk, n, a);
	c->hours = tm_db_array_literal(ho, n, a);
	c->priorities = tm_db_array_literal(pr, n, a);
	c->levels = tm_db_array_literal(le, n, a);
	c->depends = tm_db_array_literal(dp, n, a);
	return c->keys && c->titles && c->descriptions && c->skills && c->hours && c->priorities &&
			       c->levels && c->depends ?
		       0 :
		       -1;
}

/* Inserts the analysis and its tasks (one statement); task ids into ids[] by position. */
static int insert_analysis(struct tm_db *db, const char *project_id,
			   const struct tm_ai_analysis *an, struct tm_arena *a,
			   char ids[][TM_UUID_LEN + 1])
{
	struct task_columns c;
	PGresult *r = NULL;
	char *skills = tm_db_array_literal(an->required_skills, an->nskills, a);
	char *risks = tm_db_array_literal(an->risks, an->nrisks, a);
	char *features = tm_db_array_literal(an->features, an->nfeatures, a);

	if (!skills || !risks || !features || task_columns(an, a, &c) != 0)
		return TM_DB_ERR;
	int rc = tm_db_rows(
		db, &r,
		"WITH an AS (INSERT INTO analyses (project_id, summary, project_type, complexity, "
		"required_skills, features, risks, source, model, fallback_reason) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)) "
		"INSERT INTO tasks (project_id, key, position, title, description, "
		"required_skills, estimated_hours, priority, level, depends_on) "
		"SELECT $1, t.key, t.pos, t.title, t.description, t.skills::text[], t.hours, "
		"t.priority, t.level, t.depends::text[] FROM unnest($11::text[], $12::text[], "
		"$13::text[], $14::text[], $15::int[], $16::text[], $17::text[], $18::text[]) "
		"WITH ORDINALITY AS t(key, title, description, skills, hours, priority, level, "
		"depends, pos) RETURNING id, position",
		TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(an->summary),
			  TM_P_TEXT(an->project_type), TM_P_TEXT(an->complexity), TM_P_TEXT(skills),
			  TM_P_TEXT(features), TM_P_TEXT(risks), TM_P_TEXT(an->source),
			  TM_P_TEXT(an->model), TM_P_TEXT(an->fallback_reason), TM_P_TEXT(c.keys),
			  TM_P_TEXT(c.titles), TM_P_TEXT(c.descriptions), TM_P_TEXT(c.skills),
			  TM_P_TEXT(c.hours), TM_P_TEXT(c.priorities), TM_P_TEXT(c.levels),
			  TM_P_TEXT(c.depends)));
	if (rc == TM_DB_OK && PQntuples(r) != (int)an->ntasks)
		rc = TM_DB_ERR;
	for (int i = 0; rc == TM_DB_OK && i < PQntuples(r); i++) {
		int64_t pos = tm_db_int(r, i, 1);
		if (pos < 1 || pos > (int64_t)an->ntasks) {
			rc = TM_DB_ERR;
			break;
		}
		snprintf(ids[pos - 1], TM_UUID_LEN + 1, "%s", tm_db_text(r, i, 0));
	}
	PQclear(r);
	return rc;
}

int store_analysis_save(struct tm_db *db, const char *project_id, const struct tm_ai_analysis *an,
			int64_t budget_cents, int32_t timeline_days, char ids[][TM_UUID_LEN + 1])
{
	struct tm_arena *a = tm_arena_new(0);
	PGresult *r = NULL;

	if (!a)
		return TM_DB_ERR;
	/* the old analysis and tasks go first: a re-analysis reuses task keys */
	int rc = tm_db_one(
		db, &r,
		"WITH p AS (UPDATE projects SET status = 'analyzed', status_reason = '', "
		"budget_estimate_cents = $2, timeline_estimate_days = $3, updated_at = now() "
		"WHERE id = $1 AND status = 'analyzing' RETURNING id), "
		"t AS (DELETE FROM tasks WHERE project_id IN (SELECT id FROM p)), "
		"an AS (DELETE FROM analyses WHERE project_id IN (SELECT id FROM p)), "
		"j AS (DELETE FROM analysis_jobs WHERE project_id = $1) "
		"SELECT count(*) FROM p",
		TM_PARAMS(TM_P_TEXT(project_id), TM_P_INT(budget_cents), TM_P_INT(timeline_days)));
	if (rc == TM_DB_OK && tm_db_int(r, 0, 0) != 1)
		rc = TM_DB_NONE; /* cancelled or moved on meanwhile: this result is stale */
	PQclear(r);
	if (rc == TM_DB_OK)
		rc = insert_analysis(db, project_id, an, a, ids);
	tm_arena_free(a);
	return rc;
}

int store_analysis_fail(struct tm_db *db, const char *project_id, const char *reason)
{
	int rc = tm_db_exec_n(db,
			      "UPDATE projects SET status = 'analysis_failed', status_reason = $2, "
			      "updated_at = now() WHERE id = $1 AND status = 'analyzing'",
			      TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(reason)), 1);
	return rc < 0 ? rc : store_job_done(db, project_id) == TM_DB_OK ? rc : TM_DB_ERR;
}

int store_analysis_restart(struct tm_db *db, const char *project_id)
{
	int rc = tm_db_exec_n(db,
			      "UPDATE projects SET status = 'analyzing', status_reason = '', "
			      "updated_at = now() WHERE id = $1 AND status IN ('analyzed', "
			      "'analysis_failed', 'analyzing')",
			      TM_PARAMS(TM_P_TEXT(project_id)), 1);
	return rc == TM_DB_OK ? store_job_enqueue(db, project_id) : rc;
}
