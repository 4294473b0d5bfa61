/* tm-projects' event handlers. Each runs inside the transaction that also
 * records the event in the inbox, so its effects happen once per event. */
#include "events.h"
#include "announce.h"
#include "store.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/log.h"
#include "tm/util.h"

#define PB(m) &taskmesh__v1__##m##__descriptor

/* tm-projects is the source of tm.projects.v1; it hears only from matching. */
const char *const projects_topics[] = {"tm.matching.v1"};
const size_t projects_ntopics = TM_ARRAY_LEN(projects_topics);

const struct tm_event_handler projects_handlers[] = {
	{PB(team_proposed), on_team_proposed},
	{PB(task_candidates), on_task_candidates},
};
const size_t projects_nhandlers = TM_ARRAY_LEN(projects_handlers);

int on_team_proposed(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TeamProposed *ev = (const Taskmesh__V1__TeamProposed *)body;
	struct offer_change changes[STORE_OFFER_CHANGES_MAX];
	size_t n = 0;
	int rc = store_proposal_save(ctx->db, ev, changes, &n);

	if (rc < 0)
		return -1;
	if (rc == TM_DB_NONE) { /* a proposal that does not fit is recorded, not retried */
		tm_warn("proposal %s for project %s does not fit it (state or tasks); ignored",
			ev->proposal_id, ev->project_id);
		return 0;
	}
	if (announce_offer_changes(ctx->db, ev->project_id, changes, n, ctx->event->trace_id) !=
	    TM_DB_OK)
		return -1;
	tm_info("project %s: team proposed (%zu assignments, %zu offers changed)", ev->project_id,
		ev->n_assignments, n);
	return 0;
}

int on_task_candidates(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskCandidates *ev = (const Taskmesh__V1__TaskCandidates *)body;
	char next[TM_UUID_LEN + 1];
	int rc = store_task_lock_project(ctx->db, ev->task_id); /* against a racing decline */
	if (rc == TM_DB_OK)
		rc = store_task_waiting(ctx->db, ev->project_id, ev->task_id);

	if (rc == TM_DB_NONE) { /* offered again already, accepted, or not this project's */
		tm_info("candidates for task %s of project %s: the task is not waiting; ignored",
			ev->task_id, ev->project_id);
		return 0;
	}
	if (rc == TM_DB_OK)
		rc = store_candidates_set(ctx->db, ev->task_id, ev->candidates, ev->n_candidates);
	if (rc == TM_DB_NONE) {
		tm_warn("candidates for task %s: a developer id is not a UUID; ignored",
			ev->task_id);
		return 0;
	}
	if (rc == TM_DB_OK)
		rc = store_offer_next(ctx->db, ev->project_id, ev->task_id, next);
	if (rc == TM_DB_OK && next[0])
		rc = announce_task_offered(ctx->db, ev->project_id, ev->task_id, next,
					   ctx->event->trace_id);
	if (rc != TM_DB_OK)
		return -1;
	if (next[0])
		tm_info("task %s offered to its next candidate", ev->task_id);
	else
		tm_warn("task %s: every candidate has declined it; waiting for more", ev->task_id);
	return 0;
}
