/*
 * tm-projects' SQL: every statement the service runs, parameterized and
 * prepared (tm/db.h). Results follow tm/db.h's convention: TM_DB_OK done or
 * found, TM_DB_NONE not found / not in the state asked for, < 0 a failure.
 * Functions that change several rows run inside the caller's transaction.
 */
#ifndef TM_PROJECTS_STORE_H
#define TM_PROJECTS_STORE_H

#include "project.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/ai.h"
#include "tm/arena.h"
#include "tm/db.h"
#include "tm/list.h"
#include "tm/util.h"

/* ---- projects (store.c) ---- */

/* Stores a new project ("analyzing"), its owner and its analysis job, in one
 * statement; *out is the project as stored. */
int store_project_insert(struct tm_db *db, const char *client_id, const struct new_project *np,
			 struct tm_arena *a, Taskmesh__V1__Project **out);
/* A project with its analysis (p->analysis NULL when there is none), in one
 * round trip. With `viewer` (a user id, or NULL) *visible says whether the
 * membership rule (tm/members.h) lets them see it (admins aside). */
int store_project_get(struct tm_db *db, const char *id, const char *viewer, struct tm_arena *a,
		      Taskmesh__V1__Project **out, bool *visible);
/* One page, newest first: a client's projects, those a developer may see by the
 * membership rule, or every project (admin: both NULL). */
int store_projects_list(struct tm_db *db, const char *client_id, const char *developer_id,
			const struct tm_page *page, struct tm_arena *a,
			Taskmesh__V1__ListProjectsReply *out);
/* Locks the project row until the transaction ends (the task moves of one
 * project happen one at a time); TM_DB_NONE when there is no such project. */
int store_project_lock(struct tm_db *db, const char *project_id);
/* Moves a project from one status to another; TM_DB_NONE when it was not in `from`. */
int store_project_move(struct tm_db *db, const char *project_id, const char *from, const char *to);

/* ---- analyses, tasks and the analysis queue (store_analysis.c) ---- */

/* A project's tasks in plan order: one page (page NULL: every task). */
int store_tasks_list(struct tm_db *db, const char *project_id, const struct tm_page *page,
		     struct tm_arena *a, Taskmesh__V1__ListTasksReply *out);

/* Queues an analysis (new, or again): run as soon as a worker is free. */
int store_job_enqueue(struct tm_db *db, const char *project_id);
/* Leases up to `max` due jobs for 10 minutes (SKIP LOCKED: workers and replicas
 * never take the same one); their ids and attempt counts into ids/attempts,
 * their number into *n. */
int store_jobs_claim(struct tm_db *db, int max, char ids[][TM_UUID_LEN + 1], int *attempts, int *n);
/* Gives leased jobs back untouched (a worker stopping before it ran them). */
int store_jobs_release(struct tm_db *db, char ids[][TM_UUID_LEN + 1], int n);
int store_job_done(struct tm_db *db, const char *project_id);
int store_job_retry_later(struct tm_db *db, const char *project_id, int64_t delay_ms,
			  const char *error);

/* Replaces the analysis and tasks of a project still "analyzing", moves it to
 * "analyzed" with its estimates and drops its job; fills the task ids (plan
 * order) into ids[]. TM_DB_NONE when the project is no longer analyzing (the
 * job is dropped all the same). Inside a transaction. */
int store_analysis_save(struct tm_db *db, const char *project_id, const struct tm_ai_analysis *an,
			int64_t budget_cents, int32_t timeline_days, char ids[][TM_UUID_LEN + 1]);
/* "analyzing" -> "analysis_failed" with the reason, job dropped; TM_DB_NONE
 * when not analyzing. */
int store_analysis_fail(struct tm_db *db, const char *project_id, const char *reason);
/* "analyzed", "analysis_failed" or "analyzing" -> "analyzing" with a job
 * queued; TM_DB_NONE when a team was proposed already. */
int store_analysis_restart(struct tm_db *db, const char *project_id);

/* ---- proposals, offers, task work, progress (store_team.c) ---- */

/* The offer of one task, as it was and as it is after a change. */
struct offer_change {
	char task_id[TM_UUID_LEN + 1];
	char before[TM_UUID_LEN + 1]; /* "" when no one held it */
	char after[TM_UUID_LEN + 1];  /* "" when no one holds it now */
};
#define STORE_OFFER_CHANGES_MAX (TM_AI_TASKS_MAX * 2)

/* Stores a TeamProposed for an analyzed (or proposed, unapproved) project:
 * offers each task not yet accepted to its developer (or the first alternate
 * who has not declined it), status "proposed". The offers that changed go to
 * changes[] (to announce). TM_DB_NONE when the proposal does not fit
 * the project (state, unknown tasks, bad ids, another currency than the
 * project's): then nothing of it is kept. */
int store_proposal_save(struct tm_db *db, const Taskmesh__V1__TeamProposed *ev,
			struct offer_change *changes, size_t *nchanges);
int store_proposal_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Proposal **out);
/* "" (no proposal yet), "proposed" or "approved". */
int store_proposal_status(struct tm_db *db, const char *project_id, char status[16]);
/* proposed -> approved for the proposal and the project, the team recorded as
 * members; TM_DB_NONE if there is no proposal waiting for approval. */
int store_proposal_approve(struct tm_db *db, const char *project_id,
			   const Taskmesh__V1__Proposal *pr);

/* Replaces a task's candidates (best first) by c, keeping those who declined
 * it (they are never offered it again); TM_DB_NONE when a developer id is not a UUID. */
int store_candidates_set(struct tm_db *db, const char *task_id, Taskmesh__V1__Candidate *const *c,
			 size_t n);
/* Offers a pending task to its best candidate who has not declined it and
 * records them in the proposal and as the live offer; next is "" when no one
 * is left (the task stays pending, out of the proposal). */
int store_offer_next(struct tm_db *db, const char *project_id, const char *task_id,
		     char next[TM_UUID_LEN + 1]);
/* Is the task of this project pending with no one offered it, in a project
 * that has a team (proposed, approved or in progress)? TM_DB_OK yes, TM_DB_NONE no. */
int store_task_waiting(struct tm_db *db, const char *project_id, const char *task_id);

/* A task with its project's status and client; TM_DB_NONE when none. */
struct task_row {
	Taskmesh__V1__Task *task;
	char project_status[24];
	char client_id[TM_UUID_LEN + 1];
	char status[16]; /* the task's status as stored */
};
int store_task_get(struct tm_db *db, const char *task_id, struct tm_arena *a, struct task_row *out);
/* store_project_lock for the project of a task; TM_DB_NONE when there is no such task. */
int store_task_lock_project(struct tm_db *db, const char *task_id);
/* The developer takes an offered task: assigned, a member, the offer ended. */
int store_task_accept(struct tm_db *db, const char *project_id, const char *task_id,
		      const char *developer_id);
/* The developer refuses an offered task: recorded (never offered it again),
 * the task pending, the offer ended. */
int store_task_decline(struct tm_db *db, const char *project_id, const char *task_id,
		       const char *developer_id);
/* Sets a task's status and completion (its developer stays). */
int store_task_update(struct tm_db *db, const char *task_id, const char *status, int completion);

/* Progress weighted by hours, and the tasks done of all. */
int store_progress(struct tm_db *db, const char *project_id, int *percent, int *done, int *total);
/* Records a milestone; TM_DB_NONE when it was already recorded (announce nothing). */
int store_milestone_mark(struct tm_db *db, const char *project_id, int percentage);
/* The progress of a project (GET /progress, the overview), in a. */
int store_progress_get(struct tm_db *db, const char *project_id, struct tm_arena *a,
		       Taskmesh__V1__Progress **out);

#endif
