/* tm-projects' SQL; see store.h. */
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "tm/util.h"

/* The columns every project read selects, in row_to_project's order. */
#define PROJECT_COLUMNS                                                                            \
	"id, client_id, title, description, status, status_reason, budget_cap_cents, currency, "   \
	"to_char(deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "              \
	"budget_estimate_cents, timeline_estimate_days, coalesce(senior_developer_id::text, ''), " \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "            \
	"(extract(epoch FROM created_at) * 1000000)::bigint"

static char *col(PGresult *r, int row, int c, struct tm_arena *a)
{
	return tm_arena_strdup(a, PQgetvalue(r, row, c));
}

/* Builds a Project from one row of PROJECT_COLUMNS; NULL when out of memory. */
static Taskmesh__V1__Project *row_to_project(PGresult *r, int row, struct tm_arena *a)
{
	Taskmesh__V1__Project *p = tm_arena_alloc(a, sizeof(*p));
	int64_t v = 0;

	if (!p)
		return NULL;
	taskmesh__v1__project__init(p);
	p->id = col(r, row, 0, a);
	p->client_id = col(r, row, 1, a);
	p->title = col(r, row, 2, a);
	p->description = col(r, row, 3, a);
	p->status = project_status_from_db(PQgetvalue(r, row, 4));
	p->status_reason = col(r, row, 5, a);
	if (!PQgetisnull(r, row, 6) && tm_parse_int64(PQgetvalue(r, row, 6), &v) == 0) {
		p->budget_cap_case = TASKMESH__V1__PROJECT__BUDGET_CAP_BUDGET_CAP_CENTS;
		p->budget_cap_cents = v;
	}
	p->currency = col(r, row, 7, a);
	p->deadline = col(r, row, 8, a);
	tm_parse_int64(PQgetvalue(r, row, 9), &p->budget_estimate_cents);
	if (tm_parse_int64(PQgetvalue(r, row, 10), &v) == 0)
		p->timeline_estimate_days = (int32_t)v;
	p->senior_developer_id = col(r, row, 11, a);
	p->created_at = col(r, row, 12, a);
	if (!p->id || !p->client_id || !p->title || !p->description || !p->status_reason ||
	    !p->currency || !p->deadline || !p->senior_developer_id || !p->created_at)
		return NULL;
	return p;
}

int store_insert_project(struct tm_db *db, const char *client_id, const struct new_project *np,
			 struct tm_arena *a, Taskmesh__V1__Project **out)
{
	char cap[24], deadline[32];
	PGresult *r = NULL;

	snprintf(cap, sizeof(cap), "%lld", (long long)np->budget_cap_cents);
	if (np->has_deadline)
		tm_rfc3339(np->deadline_unix_ms, deadline);
	const char *p[] = {client_id,	    np->title,
			   np->description, np->has_budget_cap ? cap : NULL,
			   np->currency,    np->has_deadline ? deadline : NULL};
	int rc = tm_db_query(
		db, &r,
		"INSERT INTO projects (client_id, title, description, budget_cap_cents, "
		"currency, deadline) VALUES ($1, $2, $3, $4, $5, $6) "
		"RETURNING " PROJECT_COLUMNS,
		6, p);
	if (rc == TM_DB_OK) {
		*out = row_to_project(r, 0, a);
		rc = *out ? TM_DB_OK : TM_DB_ERR;
	}
	PQclear(r);
	return rc;
}

int store_get_project(struct tm_db *db, const char *id, struct tm_arena *a,
		      Taskmesh__V1__Project **out)
{
	PGresult *r = NULL;
	const char *p[] = {id};

	*out = NULL;
	if (!tm_uuid_valid(id))
		return 1;
	int rc =
		tm_db_query(db, &r, "SELECT " PROJECT_COLUMNS " FROM projects WHERE id = $1", 1, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	else if (rc == TM_DB_OK && !(*out = row_to_project(r, 0, a)))
		rc = TM_DB_ERR;
	PQclear(r);
	return rc;
}

int store_list_projects(struct tm_db *db, const char *client_id, const char *developer_id,
			int limit, int64_t after_micros, const char *after_id, struct tm_arena *a,
			Taskmesh__V1__ListProjectsReply *out)
{
	char lim[16], micros[24];
	PGresult *r = NULL;

	/* one row more than asked tells whether another page exists */
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	snprintf(micros, sizeof(micros), "%lld", (long long)after_micros);
	const char *p[] = {client_id, after_id ? micros : NULL, after_id, lim, developer_id};
	int rc = tm_db_query(
		db, &r,
		"SELECT " PROJECT_COLUMNS " FROM projects "
		"WHERE ($1::uuid IS NULL OR client_id = $1::uuid) "
		"AND ($5::uuid IS NULL OR senior_developer_id = $5::uuid OR id IN "
		"(SELECT project_id FROM tasks WHERE assigned_developer_id = $5::uuid)) "
		"AND ($3::uuid IS NULL OR (created_at, id) < "
		"(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::uuid)) "
		"ORDER BY created_at DESC, id DESC LIMIT $4::int",
		5, p);
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	int shown = n > limit ? limit : n;
	out->items = tm_arena_alloc(a, (size_t)(shown + 1) * sizeof(*out->items));
	for (int i = 0; out->items && i < shown; i++)
		if (!(out->items[i] = row_to_project(r, i, a)))
			out->items = NULL;
	out->n_items = out->items ? (size_t)shown : 0;
	if (out->items && n > limit) {
		int last = shown - 1;
		out->next_cursor = tm_arena_printf(a, "%s.%s", PQgetvalue(r, last, 13),
						   PQgetvalue(r, last, 0));
	}
	rc = out->items ? TM_DB_OK : TM_DB_ERR;
	PQclear(r);
	return rc;
}
