/* tm-projects' SQL: every statement the service runs, parameterized. */
#ifndef TM_PROJECTS_STORE_H
#define TM_PROJECTS_STORE_H

#include "project.h"
#include "tm/arena.h"
#include "tm/db.h"
#include "tm/util.h"

/* Results: 0 found/done, 1 not found, < 0 a tm_db_rc. */

int store_insert_project(struct tm_db *db, const char *client_id, const struct new_project *np,
			 struct tm_arena *a, Taskmesh__V1__Project **out);
int store_get_project(struct tm_db *db, const char *id, struct tm_arena *a,
		      Taskmesh__V1__Project **out);

/* One page, newest first: a client's projects, or those a developer works on
 * (offered or assigned tasks, or senior), or every project (admin: both NULL).
 * after_micros/after_id: the keyset position from a cursor (after_id NULL for
 * the first page). */
int store_list_projects(struct tm_db *db, const char *client_id, const char *developer_id,
			int limit, int64_t after_micros, const char *after_id, struct tm_arena *a,
			Taskmesh__V1__ListProjectsReply *out);

#endif

/* ---- analysis (store_analysis.c) ---- */
#include "tm/ai.h"

/* A PostgreSQL text[] literal ({"a","b"}, quotes and backslashes escaped) in the arena. */
char *store_text_array(char *const *names, size_t n, struct tm_arena *a);
/* A JSON array of strings (array_to_json of a text[] column) into the arena. */
int store_json_strings(const char *json, struct tm_arena *a, char ***out, size_t *n);

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

/* ---- proposals, task work, progress (store_team.c) ---- */
#include "taskmesh/v1/events.pb-c.h"

/* Stores a TeamProposed for an analyzed (or already proposed, unapproved)
 * project: offers each task not yet accepted to its developer (or the first
 * alternate who has not declined it), status "proposed". Returns 0, or 1 when
 * the proposal does not fit the project (state, unknown tasks, bad ids, another
 * currency than the project's): then nothing of it is kept. */
int store_proposal_save(struct tm_db *db, const Taskmesh__V1__TeamProposed *ev);
int store_proposal_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Proposal **out);
/* Replaces a task's candidates (best first) by c, keeping those who declined
 * it (they are never offered it again); 1 when a developer id is not a UUID. */
int store_candidates_set(struct tm_db *db, const char *task_id, Taskmesh__V1__Candidate *const *c,
			 size_t n);
/* Records that the developer declined the task. */
int store_candidate_decline(struct tm_db *db, const char *task_id, const char *developer_id);
/* Offers a pending task to its best candidate who has not declined it and
 * records them in the proposal; next is "" when no one is left (the task
 * stays pending, out of the proposal). */
int store_offer_next(struct tm_db *db, const char *project_id, const char *task_id,
		     char next[TM_UUID_LEN + 1]);
/* Is the task of this project pending with no one offered it, in a project
 * that has a team (proposed, approved or in progress)? 0 yes, 1 no. */
int store_task_waiting(struct tm_db *db, const char *project_id, const char *task_id);
/* proposed -> approved for the proposal and the project; 1 if there is no
 * proposal waiting for approval. */
int store_proposal_approve(struct tm_db *db, const char *project_id);

/* A task with its project's status and client; 1 when none. */
struct task_row {
	Taskmesh__V1__Task *task;
	char project_status[24];
	char client_id[40];
	char status[16]; /* the task's status as stored */
};
int store_task_get(struct tm_db *db, const char *task_id, struct tm_arena *a, struct task_row *out);
/* Locks the project of a task until the transaction ends, so the task moves of
 * one project happen one at a time (progress and milestones see them all);
 * 1 when there is no such task. */
int store_task_lock_project(struct tm_db *db, const char *task_id);
/* The same for a project by its id (approval reads the team under it). */
int store_project_lock(struct tm_db *db, const char *project_id);
/* Sets a task's status, developer (NULL clears it) and completion. */
int store_task_set(struct tm_db *db, const char *task_id, const char *status,
		   const char *developer_id, int completion);
int store_progress(struct tm_db *db, const char *project_id, int *percent, int *done, int *total);
/* Records a milestone; 1 when it was already recorded (announce nothing). */
int store_milestone_mark(struct tm_db *db, const char *project_id, int percentage);
int store_milestones(struct tm_db *db, const char *project_id, int32_t out[4], size_t *n);
/* The progress of a project (GET /progress, the overview), in a. */
int store_progress_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Progress **out);
/* "" (no proposal yet), "proposed" or "approved". */
int store_proposal_status(struct tm_db *db, const char *project_id, char status[16]);
/* Moves a project from one status to another; 1 when it was not in `from`. */
int store_project_move(struct tm_db *db, const char *project_id, const char *from, const char *to);
/* Is the user a developer on one of the project's tasks (offered or assigned)? */
int store_is_team_member(struct tm_db *db, const char *project_id, const char *user_id);
