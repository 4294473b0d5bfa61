/* tm-projects' SQL for analyses, tasks and the analysis queue; see store.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "tm/buf.h"
#include "tm/util.h"

#define RFC3339(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

char *store_text_array(char *const *names, size_t n, struct tm_arena *a)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++) {
		tm_buf_puts(&b, i ? ",\"" : "\"");
		for (const char *c = names[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				tm_buf_putc(&b, '\\');
			tm_buf_putc(&b, *c);
		}
		tm_buf_putc(&b, '"');
	}
	tm_buf_putc(&b, '}');
	char *s = b.failed ? NULL : tm_arena_strdup(a, b.data);
	tm_buf_free(&b);
	return s;
}

/* A JSON array of strings (array_to_json of a text[] column) into the arena. */
int store_json_strings(const char *json, struct tm_arena *a, char ***out, size_t *n)
{
	cJSON *arr = cJSON_Parse(json);
	const cJSON *v;
	int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
	*n = 0;
	*out = tm_arena_alloc(a, ((size_t)count + 1) * sizeof(char *));
	if (!*out) {
		cJSON_Delete(arr);
		return -1;
	}
	cJSON_ArrayForEach(v, arr) if (cJSON_IsString(v) &&
				       ((*out)[*n] = tm_arena_strdup(a, v->valuestring)))(*n)++;
	cJSON_Delete(arr);
	return 0;
}

int store_load_analysis(struct tm_db *db, Taskmesh__V1__Project *p, struct tm_arena *a)
{
	PGresult *r = NULL;
	const char *params[] = {p->id};
	int rc = tm_db_query(
		db, &r,
		"SELECT summary, project_type, complexity, array_to_json(required_skills), "
		"array_to_json(risks), source, array_to_json(features), model, "
		"fallback_reason, " RFC3339("analyzed_at") " FROM analyses WHERE project_id = $1",
		1, params);
	if (rc != TM_DB_OK || PQntuples(r) == 0) {
		PQclear(r);
		return rc;
	}
	Taskmesh__V1__ProjectAnalysis *an = tm_arena_alloc(a, sizeof(*an));
	if (!an) {
		PQclear(r);
		return TM_DB_ERR;
	}
	taskmesh__v1__project_analysis__init(an);
	an->summary = tm_arena_strdup(a, PQgetvalue(r, 0, 0));
	an->project_type = tm_arena_strdup(a, PQgetvalue(r, 0, 1));
	an->complexity = tm_arena_strdup(a, PQgetvalue(r, 0, 2));
	an->source = tm_arena_strdup(a, PQgetvalue(r, 0, 5));
	an->model = tm_arena_strdup(a, PQgetvalue(r, 0, 7));
	an->fallback_reason = tm_arena_strdup(a, PQgetvalue(r, 0, 8));
	an->analyzed_at = tm_arena_strdup(a, PQgetvalue(r, 0, 9));
	if (store_json_strings(PQgetvalue(r, 0, 3), a, &an->required_skills,
			       &an->n_required_skills) ||
	    store_json_strings(PQgetvalue(r, 0, 4), a, &an->risks, &an->n_risks) ||
	    store_json_strings(PQgetvalue(r, 0, 6), a, &an->features, &an->n_features) ||
	    !an->summary || !an->project_type || !an->complexity || !an->source || !an->model ||
	    !an->fallback_reason || !an->analyzed_at)
		rc = TM_DB_ERR;
	else
		p->analysis = an;
	PQclear(r);
	return rc;
}

static Taskmesh__V1__TaskStatus task_status(const char *s)
{
	static const char *const names[] = {
		"", "pending", "offered", "assigned", "in_progress", "review", "done"};
	for (size_t i = 1; i < TM_ARRAY_LEN(names); i++)
		if (strcmp(names[i], s) == 0)
			return (Taskmesh__V1__TaskStatus)i;
	return TASKMESH__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED;
}

int store_list_tasks(struct tm_db *db, const char *project_id, struct tm_arena *a,
		     Taskmesh__V1__ListTasksReply *out)
{
	PGresult *r = NULL;
	const char *p[] = {project_id};
	int rc = tm_db_query(
		db, &r,
		"SELECT id, key, title, description, array_to_json(required_skills), "
		"estimated_hours, priority, array_to_json(depends_on), "
		"coalesce(assigned_developer_id::text, ''), status, completion_percentage, "
		"level, project_id FROM tasks WHERE project_id = $1 ORDER BY position",
		1, p);
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	out->items = tm_arena_alloc(a, ((size_t)n + 1) * sizeof(*out->items));
	for (int i = 0; out->items && i < n; i++) {
		Taskmesh__V1__Task *t = tm_arena_alloc(a, sizeof(*t));
		int64_t v = 0;
		if (!t) {
			rc = TM_DB_ERR;
			break;
		}
		taskmesh__v1__task__init(t);
		t->id = tm_arena_strdup(a, PQgetvalue(r, i, 0));
		t->key = tm_arena_strdup(a, PQgetvalue(r, i, 1));
		t->title = tm_arena_strdup(a, PQgetvalue(r, i, 2));
		t->description = tm_arena_strdup(a, PQgetvalue(r, i, 3));
		tm_parse_int64(PQgetvalue(r, i, 5), &v);
		t->estimated_hours = (int32_t)v;
		t->priority = tm_arena_strdup(a, PQgetvalue(r, i, 6));
		t->assigned_developer_id = tm_arena_strdup(a, PQgetvalue(r, i, 8));
		t->status = task_status(PQgetvalue(r, i, 9));
		tm_parse_int64(PQgetvalue(r, i, 10), &v);
		t->completion_percentage = (int32_t)v;
		t->level = tm_arena_strdup(a, PQgetvalue(r, i, 11));
		t->project_id = tm_arena_strdup(a, PQgetvalue(r, i, 12));
		if (store_json_strings(PQgetvalue(r, i, 4), a, &t->required_skills,
				       &t->n_required_skills) ||
		    store_json_strings(PQgetvalue(r, i, 7), a, &t->depends_on, &t->n_depends_on) ||
		    !t->id || !t->key || !t->title || !t->description || !t->priority ||
		    !t->assigned_developer_id || !t->level || !t->project_id) {
			rc = TM_DB_ERR;
			break;
		}
		out->items[out->n_items++] = t;
	}
	if (!out->items)
		rc = TM_DB_ERR;
	out->next_cursor = "";
	PQclear(r);
	return rc;
}

int store_job_enqueue(struct tm_db *db, const char *project_id)
{
	const char *p[] = {project_id};
	return tm_db_query(
		db, NULL,
		"INSERT INTO analysis_jobs (project_id) VALUES ($1) ON CONFLICT (project_id) "
		"DO UPDATE SET attempts = 0, run_after = now(), last_error = NULL",
		1, p);
}

int store_job_claim(struct tm_db *db, char project_id[40], int *attempts)
{
	PGresult *r = NULL;
	int64_t n = 0;
	/* SKIP LOCKED: several workers (or replicas) never take the same job */
	int rc = tm_db_query(db, &r,
			     "UPDATE analysis_jobs SET attempts = attempts + 1, "
			     "run_after = now() + interval '10 minutes' WHERE project_id = ("
			     "SELECT project_id FROM analysis_jobs WHERE run_after <= now() "
			     "ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
			     "RETURNING project_id, attempts",
			     0, NULL);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	if (rc == TM_DB_OK) {
		snprintf(project_id, 40, "%s", PQgetvalue(r, 0, 0));
		tm_parse_int64(PQgetvalue(r, 0, 1), &n);
		*attempts = (int)n;
	}
	PQclear(r);
	return rc;
}

int store_job_done(struct tm_db *db, const char *project_id)
{
	const char *p[] = {project_id};
	return tm_db_query(db, NULL, "DELETE FROM analysis_jobs WHERE project_id = $1", 1, p);
}

int store_job_retry_later(struct tm_db *db, const char *project_id, int64_t delay_s,
			  const char *error)
{
	char d[24];
	snprintf(d, sizeof(d), "%lld", (long long)delay_s);
	const char *p[] = {project_id, d, error};
	return tm_db_query(db, NULL,
			   "UPDATE analysis_jobs SET run_after = now() + $2::bigint * interval "
			   "'1 second', last_error = $3 WHERE project_id = $1",
			   3, p);
}

static int insert_task(struct tm_db *db, const char *project_id, const struct tm_ai_task *t,
		       int position, struct tm_arena *a, char id[40])
{
	PGresult *r = NULL;
	char pos[16], hours[16];
	snprintf(pos, sizeof(pos), "%d", position);
	snprintf(hours, sizeof(hours), "%d", t->hours);
	char *skills = store_text_array(t->skills, t->nskills, a);
	char *deps = store_text_array(t->depends_on, t->ndepends, a);
	if (!skills || !deps)
		return TM_DB_ERR;
	const char *p[] = {project_id, t->key, pos,	    t->title, t->description,
			   skills,     hours,  t->priority, t->level, deps};
	int rc =
		tm_db_query(db, &r,
			    "INSERT INTO tasks (project_id, key, position, title, description, "
			    "required_skills, estimated_hours, priority, level, depends_on) VALUES "
			    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
			    10, p);
	if (rc == TM_DB_OK)
		snprintf(id, 40, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

int store_save_analysis(struct tm_db *db, const char *project_id, const struct tm_ai_analysis *an,
			int64_t budget_cents, int32_t timeline_days, char ids[][40])
{
	struct tm_arena *a = tm_arena_new(0);
	PGresult *r = NULL;
	char budget[24], days[16];
	int rc = TM_DB_ERR;

	if (!a)
		return TM_DB_ERR;
	snprintf(budget, sizeof(budget), "%lld", (long long)budget_cents);
	snprintf(days, sizeof(days), "%d", timeline_days);
	const char *p1[] = {project_id, budget, days};
	rc = tm_db_query(
		db, &r,
		"UPDATE projects SET status = 'analyzed', status_reason = '', "
		"budget_estimate_cents = $2, timeline_estimate_days = $3, updated_at = now() "
		"WHERE id = $1 AND status = 'analyzing'",
		3, p1);
	if (rc == TM_DB_OK && strcmp(PQcmdTuples(r), "1") != 0)
		rc = 1; /* cancelled or re-queued meanwhile: this result is stale */
	PQclear(r);
	const char *p2[] = {project_id};
	if (rc == TM_DB_OK)
		rc = tm_db_query(db, NULL, "DELETE FROM tasks WHERE project_id = $1", 1, p2);
	if (rc == TM_DB_OK)
		rc = tm_db_query(db, NULL, "DELETE FROM analyses WHERE project_id = $1", 1, p2);
	char *skills = store_text_array(an->required_skills, an->nskills, a);
	char *risks = store_text_array(an->risks, an->nrisks, a);
	char *features = store_text_array(an->features, an->nfeatures, a);
	const char *p3[] = {
		project_id, an->summary, an->project_type, an->complexity, skills,
		features,   risks,	 an->source,	   an->model,	   an->fallback_reason};
	if (rc == TM_DB_OK && (!skills || !risks || !features))
		rc = TM_DB_ERR;
	if (rc == TM_DB_OK)
		rc = tm_db_query(
			db, NULL,
			"INSERT INTO analyses (project_id, summary, project_type, complexity, "
			"required_skills, features, risks, source, model, fallback_reason) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			10, p3);
	for (size_t i = 0; rc == TM_DB_OK && i < an->ntasks; i++)
		rc = insert_task(db, project_id, &an->tasks[i], (int)i + 1, a, ids[i]);
	tm_arena_free(a);
	return rc;
}

int store_fail_analysis(struct tm_db *db, const char *project_id, const char *reason)
{
	PGresult *r = NULL;
	const char *p[] = {project_id, reason};
	int rc = tm_db_query(db, &r,
			     "UPDATE projects SET status = 'analysis_failed', status_reason = $2, "
			     "updated_at = now() WHERE id = $1 AND status = 'analyzing'",
			     2, p);
	if (rc == TM_DB_OK && strcmp(PQcmdTuples(r), "1") != 0)
		rc = 1;
	PQclear(r);
	return rc;
}

int store_restart_analysis(struct tm_db *db, const char *project_id)
{
	PGresult *r = NULL;
	const char *p[] = {project_id};
	int rc = tm_db_query(db, &r,
			     "UPDATE projects SET status = 'analyzing', status_reason = '', "
			     "updated_at = now() WHERE id = $1 AND status IN ('analyzed', "
			     "'analysis_failed', 'analyzing')",
			     1, p);
	if (rc == TM_DB_OK && strcmp(PQcmdTuples(r), "1") != 0)
		rc = 1;
	PQclear(r);
	return rc == TM_DB_OK ? store_job_enqueue(db, project_id) : rc;
}
