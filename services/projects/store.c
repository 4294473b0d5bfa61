/* tm-projects' SQL for projects; see store.h. */
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "tm/members.h"
#include "tm/util.h"

/* The columns every project read selects (table alias p), in row_to_project's order. */
#define PROJECT_COLUMNS                                                          \
	"p.id, p.client_id, p.title, p.description, p.status, p.status_reason, " \
	"p.budget_cap_cents, p.currency, p.deadline, p.budget_estimate_cents, "  \
	"p.timeline_estimate_days, coalesce(p.senior_developer_id::text, ''), p.created_at"
#define PROJECT_NCOLUMNS 13
/* The analysis columns that follow them in a project read (alias an; NULL when none). */
#define ANALYSIS_COLUMNS                                                                       \
	"an.project_id IS NOT NULL, an.summary, an.project_type, an.complexity, "              \
	"an.required_skills, an.risks, an.source, an.features, an.model, an.fallback_reason, " \
	"an.analyzed_at"

/* Builds a Project from one row of PROJECT_COLUMNS; NULL when out of memory.
 * *micros (may be NULL) gets its creation time, the keyset of lists. */
static Taskmesh__V1__Project *row_to_project(PGresult *r, int row, struct tm_arena *a,
					     int64_t *micros)
{
	Taskmesh__V1__Project *p = tm_arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	taskmesh__v1__project__init(p);
	p->id = tm_db_strdup(r, row, 0, a);
	p->client_id = tm_db_strdup(r, row, 1, a);
	p->title = tm_db_strdup(r, row, 2, a);
	p->description = tm_db_strdup(r, row, 3, a);
	p->status = project_status_from_db(tm_db_text(r, row, 4));
	p->status_reason = tm_db_strdup(r, row, 5, a);
	if (!tm_db_isnull(r, row, 6)) {
		p->budget_cap_case = TASKMESH__V1__PROJECT__BUDGET_CAP_BUDGET_CAP_CENTS;
		p->budget_cap_cents = tm_db_int(r, row, 6);
	}
	p->currency = tm_db_strdup(r, row, 7, a);
	p->deadline = tm_db_time(r, row, 8, a, NULL);
	p->budget_estimate_cents = tm_db_int(r, row, 9);
	p->timeline_estimate_days = (int32_t)tm_db_int(r, row, 10);
	p->senior_developer_id = tm_db_strdup(r, row, 11, a);
	p->created_at = tm_db_time(r, row, 12, a, micros);
	if (!p->id || !p->client_id || !p->title || !p->description || !p->status_reason ||
	    !p->currency || !p->deadline || !p->senior_developer_id || !p->created_at)
		return NULL;
	return p;
}

/* The analysis from ANALYSIS_COLUMNS starting at column c into p->analysis
 * (left NULL when the project has none). Returns 0, or -1 when out of memory. */
static int row_to_analysis(PGresult *r, int c, struct tm_arena *a, Taskmesh__V1__Project *p)
{
	if (!tm_db_bool(r, 0, c))
		return 0;
	Taskmesh__V1__ProjectAnalysis *an = tm_arena_alloc(a, sizeof(*an));
	if (!an)
		return -1;
	taskmesh__v1__project_analysis__init(an);
	an->summary = tm_db_strdup(r, 0, c + 1, a);
	an->project_type = tm_db_strdup(r, 0, c + 2, a);
	an->complexity = tm_db_strdup(r, 0, c + 3, a);
	an->source = tm_db_strdup(r, 0, c + 6, a);
	an->model = tm_db_strdup(r, 0, c + 8, a);
	an->fallback_reason = tm_db_strdup(r, 0, c + 9, a);
	an->analyzed_at = tm_db_time(r, 0, c + 10, a, NULL);
	if (tm_db_text_array(r, 0, c + 4, a, &an->required_skills, &an->n_required_skills) ||
	    tm_db_text_array(r, 0, c + 5, a, &an->risks, &an->n_risks) ||
	    tm_db_text_array(r, 0, c + 7, a, &an->features, &an->n_features) || !an->summary ||
	    !an->project_type || !an->complexity || !an->source || !an->model ||
	    !an->fallback_reason || !an->analyzed_at)
		return -1;
	p->analysis = an;
	return 0;
}

int store_project_insert(struct tm_db *db, const char *client_id, const struct new_project *np,
			 struct tm_arena *a, Taskmesh__V1__Project **out)
{
	PGresult *r = NULL;
	char deadline[32];

	if (np->has_deadline)
		tm_rfc3339(np->deadline_unix_ms, deadline);
	/* the project, its owner and its analysis job together */
	int rc = tm_db_one(
		db, &r,
		"WITH p AS (INSERT INTO projects (client_id, title, description, budget_cap_cents, "
		"currency, deadline) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *), "
		"m AS (INSERT INTO project_members (project_id, user_id, role) "
		"SELECT id, client_id, 'owner' FROM p), "
		"j AS (INSERT INTO analysis_jobs (project_id) SELECT id FROM p) "
		"SELECT " PROJECT_COLUMNS " FROM p",
		TM_PARAMS(TM_P_TEXT(client_id), TM_P_TEXT(np->title), TM_P_TEXT(np->description),
			  TM_P_INT_IF(np->has_budget_cap, np->budget_cap_cents),
			  TM_P_TEXT(np->currency), TM_P_TEXT(np->has_deadline ? deadline : NULL)));
	if (rc == TM_DB_OK && !(*out = row_to_project(r, 0, a, NULL)))
		rc = TM_DB_ERR;
	PQclear(r);
	return rc;
}

int store_project_get(struct tm_db *db, const char *id, const char *viewer, struct tm_arena *a,
		      Taskmesh__V1__Project **out, bool *visible)
{
	PGresult *r = NULL;

	*out = NULL;
	*visible = false;
	if (!tm_uuid_valid(id))
		return TM_DB_NONE;
	int rc = tm_db_maybe_one(
		db, &r,
		"SELECT " PROJECT_COLUMNS ", " ANALYSIS_COLUMNS ", " TM_MEMBERS_SEE_ROW_SQL(
			"$2::uuid") " FROM projects p "
				    "LEFT JOIN analyses an ON an.project_id = p.id WHERE p.id = $1",
		TM_PARAMS(TM_P_TEXT(id), TM_P_TEXT(viewer)));
	if (rc == TM_DB_OK) {
		*out = row_to_project(r, 0, a, NULL);
		if (!*out || row_to_analysis(r, PROJECT_NCOLUMNS, a, *out) != 0)
			rc = TM_DB_ERR;
		*visible = tm_db_bool(r, 0, PROJECT_NCOLUMNS + 11);
	}
	PQclear(r);
	return rc;
}

int store_projects_list(struct tm_db *db, const char *client_id, const char *developer_id,
			const struct tm_page *page, struct tm_arena *a,
			Taskmesh__V1__ListProjectsReply *out)
{
	PGresult *r = NULL;
	int64_t micros = 0;

	/* one row more than asked tells whether another page exists */
	int rc = tm_db_rows(
		db, &r,
		"SELECT " PROJECT_COLUMNS " FROM projects p "
		"WHERE ($1::uuid IS NULL OR p.client_id = $1::uuid) "
		"AND ($5::uuid IS NULL OR " TM_MEMBERS_SEE_SQL(
			"p.id",
			"$5::uuid") ") "
				    "AND ($3::uuid IS NULL OR (p.created_at, p.id) < "
				    "(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::uuid)) "
				    "ORDER BY p.created_at DESC, p.id DESC LIMIT $4::int",
		TM_PARAMS(TM_P_TEXT(client_id), TM_P_INT(page->key),
			  TM_P_TEXT(page->after ? page->id : NULL), TM_P_INT(page->limit + 1),
			  TM_P_TEXT(developer_id)));
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	int shown = n > page->limit ? page->limit : n;
	out->items = tm_arena_alloc(a, (size_t)(shown + 1) * sizeof(*out->items));
	for (int i = 0; out->items && i < shown; i++)
		if (!(out->items[i] = row_to_project(r, i, a, &micros)))
			out->items = NULL;
	out->n_items = out->items ? (size_t)shown : 0;
	out->next_cursor = "";
	if (out->items && n > page->limit &&
	    !(out->next_cursor = tm_list_cursor(a, micros, out->items[shown - 1]->id)))
		out->items = NULL;
	rc = out->items ? TM_DB_OK : TM_DB_ERR;
	PQclear(r);
	return rc;
}

int store_project_lock(struct tm_db *db, const char *project_id)
{
	return tm_db_exists(db, "SELECT 1 FROM projects WHERE id = $1 FOR UPDATE",
			    TM_PARAMS(TM_P_TEXT(project_id)));
}

int store_project_move(struct tm_db *db, const char *project_id, const char *from, const char *to)
{
	return tm_db_exec_n(db,
			    "UPDATE projects SET status = $3, updated_at = now() WHERE id = $1 AND "
			    "status = $2",
			    TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(from), TM_P_TEXT(to)), 1);
}
