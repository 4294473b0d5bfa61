/* tm-projects' SQL: every statement the service runs, parameterized. */
#ifndef TM_PROJECTS_STORE_H
#define TM_PROJECTS_STORE_H

#include "project.h"
#include "tm/arena.h"
#include "tm/db.h"

/* Results: 0 found/done, 1 not found, < 0 a tm_db_rc. */

int store_insert_project(struct tm_db *db, const char *client_id, const struct new_project *np,
			 struct tm_arena *a, Taskmesh__V1__Project **out);
int store_get_project(struct tm_db *db, const char *id, struct tm_arena *a,
		      Taskmesh__V1__Project **out);

/* One page, newest first. client_id NULL lists every project (admin).
 * after_micros/after_id: the keyset position from a cursor (after_id NULL for
 * the first page). */
int store_list_projects(struct tm_db *db, const char *client_id, int limit, int64_t after_micros,
			const char *after_id, struct tm_arena *a,
			Taskmesh__V1__ListProjectsReply *out);

#endif
