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

/* ---- analysis (store_analysis.c) ---- */
#include "tm/ai.h"

/* Loads the project's analysis into p->analysis (left NULL when none). */
int store_load_analysis(struct tm_db *db, Taskmesh__V1__Project *p, struct tm_arena *a);
/* The project's tasks in plan order. */
int store_list_tasks(struct tm_db *db, const char *project_id, struct tm_arena *a,
		     Taskmesh__V1__ListTasksReply *out);

/* Queues an analysis (new, or again): run as soon as a worker is free. */
int store_job_enqueue(struct tm_db *db, const char *project_id);
/* Leases the next due job for 10 minutes; 1 when none is due. */
int store_job_claim(struct tm_db *db, char project_id[40], int *attempts);
int store_job_done(struct tm_db *db, const char *project_id);
int store_job_retry_later(struct tm_db *db, const char *project_id, int64_t delay_s,
			  const char *error);

/* Replaces the analysis and tasks of a project still "analyzing" and moves it
 * to "analyzed" with its estimates; fills task ids into ids[]. Returns 0, 1
 * when the project is no longer analyzing, < 0 on error. Inside a transaction. */
int store_save_analysis(struct tm_db *db, const char *project_id, const struct tm_ai_analysis *an,
			int64_t budget_cents, int32_t timeline_days, char ids[][40]);
/* "analyzing" -> "analysis_failed" with the reason. 1 when not analyzing. */
int store_fail_analysis(struct tm_db *db, const char *project_id, const char *reason);
/* "analyzed" or "analysis_failed" -> "analyzing" (a new analysis). 1 if not allowed. */
int store_restart_analysis(struct tm_db *db, const char *project_id);
