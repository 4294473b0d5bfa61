/*
 * tm-projects' events, built and written to the outbox inside the caller's
 * transaction (tm/outbox.h): one function per event type it publishes on
 * tm.projects.v1. `trace` is the request id that caused the change (may be
 * NULL). Each returns TM_DB_OK or a failure.
 */
#ifndef TM_PROJECTS_ANNOUNCE_H
#define TM_PROJECTS_ANNOUNCE_H

#include "store.h"
#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/projects.pb-c.h"
#include "tm/ai.h"
#include "tm/arena.h"
#include "tm/db.h"

int announce_project_created(struct tm_db *db, const Taskmesh__V1__Project *p, const char *trace);
/* With the tasks as stored (ids[] in plan order). */
int announce_project_analyzed(struct tm_db *db, const Taskmesh__V1__Project *p,
			      const struct tm_ai_analysis *an, char ids[][TM_UUID_LEN + 1],
			      struct tm_arena *a);
int announce_analysis_failed(struct tm_db *db, const Taskmesh__V1__Project *p, const char *reason);
/* The team as it stands, the budget and its four escrow milestones. */
int announce_proposal_approved(struct tm_db *db, const Taskmesh__V1__Project *p,
			       const Taskmesh__V1__Proposal *pr, const char *trace,
			       struct tm_arena *a);
int announce_task_accepted(struct tm_db *db, const Taskmesh__V1__Task *t, const char *developer_id,
			   const char *trace);
/* next: the developer now offered the task, "" when no one is left. */
int announce_task_declined(struct tm_db *db, const Taskmesh__V1__Task *t, const char *developer_id,
			   const char *next, const char *trace);
int announce_task_offered(struct tm_db *db, const char *project_id, const char *task_id,
			  const char *developer_id, const char *trace);
/* Every offer that changed: TaskOfferWithdrawn for the old holder, TaskOffered for the new one. */
int announce_offer_changes(struct tm_db *db, const char *project_id,
			   const struct offer_change *changes, size_t n, const char *trace);
int announce_milestone_reached(struct tm_db *db, const char *project_id, int percentage,
			       const char *when, const char *trace);
int announce_project_completed(struct tm_db *db, const char *project_id, const char *client_id,
			       const char *when, const char *trace);

#endif
