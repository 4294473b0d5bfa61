/*
 * After the analysis: matching's proposal (TeamProposed), the client's
 * approval (ProposalApproved with the escrow basis), developers taking,
 * refusing and working on tasks, and progress with its milestones
 * (MilestoneReached at 25/50/75/100 %, each exactly once; ProjectCompleted).
 */
#include <stdio.h>
#include <string.h>

#include "project.h"
#include "projects.h"
#include "rpc.h"
#include "store.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/log.h"
#include "tm/outbox.h"
#include "tm/util.h"

#define PROJECTS_TOPIC "tm.projects.v1"
#define PROJECTS_SOURCE "tm-projects"

static int announce(struct tm_rpc_call *call, const char *project_id, const ProtobufCMessage *ev)
{
	return tm_outbox_add(call->db, PROJECTS_TOPIC, project_id, ev, PROJECTS_SOURCE,
			     call->req->request_id, NULL);
}

int on_team_proposed(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TeamProposed *ev = (const Taskmesh__V1__TeamProposed *)body;
	int rc = store_proposal_save(ctx->db, ev);
	if (rc < 0)
		return -1;
	if (rc == 1) /* a proposal that does not fit the project is recorded, not retried */
		tm_warn("proposal %s for project %s does not fit it (state or tasks); ignored",
			ev->proposal_id, ev->project_id);
	else
		tm_info("project %s: team proposed (%zu assignments)", ev->project_id,
			ev->n_assignments);
	return 0;
}

/* The project by id if the caller may see it; NOT_FOUND otherwise. */
static enum tm_code visible_project(struct tm_rpc_call *call, const char *id,
				    Taskmesh__V1__Project **p)
{
	int rc = store_get_project(call->db, id, call->arena, p);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1 || !rpc_may_see(call, *p))
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s", id);
	return TM_OK;
}

enum tm_code rpc_get_proposal(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			      ProtobufCMessage **out)
{
	const Taskmesh__V1__GetProposalRequest *in =
		(const Taskmesh__V1__GetProposalRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	Taskmesh__V1__Proposal *pr = NULL;
	enum tm_code code = visible_project(call, in->id, &p);

	if (code != TM_OK)
		return code;
	if (strcmp(call->role, "admin") != 0 && strcmp(p->client_id, call->user_id) != 0)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s",
				   in->id); /* owner, admin */
	int rc = store_proposal_get(call->db, in->id, call->arena, &pr);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no proposal for project %s yet", in->id);
	*out = &pr->base;
	return TM_OK;
}

/* ProposalApproved: the team, the budget and its four escrow milestones. */
static int announce_approval(struct tm_rpc_call *call, const Taskmesh__V1__Project *p,
			     const Taskmesh__V1__Proposal *pr)
{
	Taskmesh__V1__ProposalApproved ev = TASKMESH__V1__PROPOSAL_APPROVED__INIT;
	Taskmesh__V1__MilestonePlan plans[4], *pp[4];
	Taskmesh__V1__TeamAssignment *as =
		tm_arena_alloc(call->arena, (pr->n_assignments + 1) * sizeof(*as));
	Taskmesh__V1__TeamAssignment **ap =
		tm_arena_alloc(call->arena, (pr->n_assignments + 1) * sizeof(*ap));
	int64_t amounts[4];
	char now[32];

	if (!as || !ap)
		return TM_DB_ERR;
	project_milestone_amounts(pr->total_cost_cents, amounts);
	for (int i = 0; i < 4; i++) {
		taskmesh__v1__milestone_plan__init(&plans[i]);
		plans[i].percentage = 25 * (i + 1);
		plans[i].amount_cents = amounts[i];
		pp[i] = &plans[i];
	}
	for (size_t i = 0; i < pr->n_assignments; i++) {
		taskmesh__v1__team_assignment__init(&as[i]);
		as[i].task_id = pr->assignments[i]->task_id;
		as[i].developer_id = pr->assignments[i]->developer_id;
		as[i].match_score = pr->assignments[i]->match_score;
		ap[i] = &as[i];
	}
	tm_rfc3339(tm_now_ms(), now);
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.proposal_id = pr->proposal_id;
	ev.senior_developer_id = pr->senior_developer_id;
	ev.n_assignments = pr->n_assignments;
	ev.assignments = ap;
	ev.budget_cents = pr->total_cost_cents;
	ev.currency = pr->currency;
	ev.n_milestones = 4;
	ev.milestones = pp;
	ev.approved_at = now;
	return announce(call, p->id, &ev.base);
}

enum tm_code rpc_approve_proposal(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				  ProtobufCMessage **out)
{
	const Taskmesh__V1__ApproveProposalRequest *in =
		(const Taskmesh__V1__ApproveProposalRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	Taskmesh__V1__Proposal *pr = NULL;
	enum tm_code code = visible_project(call, in->id, &p);

	if (code != TM_OK)
		return code;
	if (strcmp(p->client_id, call->user_id) != 0)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s", in->id);
	/* the team as it stands: no decline or re-proposal may slip in between
	 * reading it and approving it */
	int rc = store_project_lock(call->db, in->id);
	if (rc == TM_DB_OK)
		rc = store_proposal_get(call->db, in->id, call->arena, &pr);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1)
		return tm_rpc_fail(call, TM_E_CONFLICT, "there is no proposal to approve yet");
	if ((rc = store_proposal_approve(call->db, in->id)) < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1)
		return tm_rpc_fail(call, TM_E_CONFLICT, "the proposal is already approved");
	if (announce_approval(call, p, pr) != TM_DB_OK ||
	    store_get_project(call->db, in->id, call->arena, &p) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &p->base;
	return TM_OK;
}

/* The task if it is offered to, or worked on by, the caller; NOT_FOUND
 * otherwise. Its project stays locked until the call's transaction ends: two
 * developers finishing the last two tasks at once must not each see the other's
 * task unfinished (and the 100 % milestone never announced). */
static enum tm_code my_task(struct tm_rpc_call *call, const char *id, struct task_row *row)
{
	memset(row, 0, sizeof(*row));
	int rc = store_task_lock_project(call->db, id);
	if (rc == TM_DB_OK)
		rc = store_task_get(call->db, id, call->arena, row);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1 || strcmp(row->task->assigned_developer_id, call->user_id) != 0)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no task %s", id);
	return TM_OK;
}

/* Reads the task back after a change, for the reply. */
static enum tm_code reply_task(struct tm_rpc_call *call, const char *id, ProtobufCMessage **out)
{
	struct task_row row = {0};
	if (store_task_get(call->db, id, call->arena, &row) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &row.task->base;
	return TM_OK;
}

enum tm_code rpc_accept_task(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			     ProtobufCMessage **out)
{
	const Taskmesh__V1__TaskActionRequest *in = (const Taskmesh__V1__TaskActionRequest *)in_msg;
	Taskmesh__V1__TaskAccepted ev = TASKMESH__V1__TASK_ACCEPTED__INIT;
	struct task_row row;
	enum tm_code code = my_task(call, in->id, &row);

	if (code != TM_OK)
		return code;
	if (strcmp(row.status, "offered") != 0)
		return tm_rpc_fail(call, TM_E_CONFLICT, "the task is %s, not offered", row.status);
	ev.project_id = row.task->project_id;
	ev.task_id = row.task->id;
	ev.developer_id = (char *)call->user_id;
	if (store_task_set(call->db, in->id, "assigned", call->user_id, 0) != TM_DB_OK ||
	    announce(call, row.task->project_id, &ev.base) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	return reply_task(call, in->id, out);
}

/* TaskOffered: a task went to its next candidate (after a decline, or from
 * matching's fresh candidates). */
static int announce_offer(struct tm_db *db, const char *project_id, const char *task_id,
			  const char *developer_id, const char *trace_id)
{
	Taskmesh__V1__TaskOffered ev = TASKMESH__V1__TASK_OFFERED__INIT;
	ev.project_id = (char *)project_id;
	ev.task_id = (char *)task_id;
	ev.developer_id = (char *)developer_id;
	return tm_outbox_add(db, PROJECTS_TOPIC, project_id, &ev.base, PROJECTS_SOURCE, trace_id,
			     NULL);
}

enum tm_code rpc_decline_task(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			      ProtobufCMessage **out)
{
	const Taskmesh__V1__TaskActionRequest *in = (const Taskmesh__V1__TaskActionRequest *)in_msg;
	Taskmesh__V1__TaskDeclined ev = TASKMESH__V1__TASK_DECLINED__INIT;
	struct task_row row;
	char next[TM_UUID_LEN + 1];
	enum tm_code code = my_task(call, in->id, &row);

	if (code != TM_OK)
		return code;
	if (strcmp(row.status, "offered") != 0)
		return tm_rpc_fail(call, TM_E_CONFLICT, "the task is %s, not offered", row.status);
	/* to the next candidate who has not declined it, or back to pending for matching */
	if (store_candidate_decline(call->db, in->id, call->user_id) != TM_DB_OK ||
	    store_task_set(call->db, in->id, "pending", NULL, 0) != TM_DB_OK ||
	    store_offer_next(call->db, row.task->project_id, in->id, next) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	ev.project_id = row.task->project_id;
	ev.task_id = row.task->id;
	ev.developer_id = (char *)call->user_id;
	ev.n_required_skills = row.task->n_required_skills;
	ev.required_skills = row.task->required_skills;
	ev.offered_to = next;
	if (announce(call, row.task->project_id, &ev.base) != TM_DB_OK ||
	    (next[0] && announce_offer(call->db, row.task->project_id, in->id, next,
				       call->req->request_id) != TM_DB_OK))
		return tm_rpc_db_fail(call);
	return reply_task(call, in->id, out);
}

int on_task_candidates(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskCandidates *ev = (const Taskmesh__V1__TaskCandidates *)body;
	char next[TM_UUID_LEN + 1];
	int rc = store_task_lock_project(ctx->db, ev->task_id); /* against a racing decline */
	if (rc == TM_DB_OK)
		rc = store_task_waiting(ctx->db, ev->project_id, ev->task_id);

	if (rc == 1) { /* offered again already, accepted, or not this project's */
		tm_info("candidates for task %s of project %s: the task is not waiting; ignored",
			ev->task_id, ev->project_id);
		return 0;
	}
	if (rc == TM_DB_OK)
		rc = store_candidates_set(ctx->db, ev->task_id, ev->candidates, ev->n_candidates);
	if (rc == 1) {
		tm_warn("candidates for task %s: a developer id is not a UUID; ignored",
			ev->task_id);
		return 0;
	}
	if (rc == TM_DB_OK)
		rc = store_offer_next(ctx->db, ev->project_id, ev->task_id, next);
	if (rc == TM_DB_OK && next[0])
		rc = announce_offer(ctx->db, ev->project_id, ev->task_id, next,
				    ctx->event->trace_id);
	if (rc != TM_DB_OK)
		return -1;
	if (next[0])
		tm_info("task %s offered to its next candidate", ev->task_id);
	else
		tm_warn("task %s: every candidate has declined it; waiting for more", ev->task_id);
	return 0;
}

/* Announces each milestone the progress has reached, once; completes the
 * project at 100 %. In the caller's transaction. */
static int record_progress(struct tm_rpc_call *call, const char *project_id, const char *client)
{
	int pct = 0, done = 0, total = 0;
	char now[32];
	if (store_progress(call->db, project_id, &pct, &done, &total) != TM_DB_OK)
		return TM_DB_ERR;
	tm_rfc3339(tm_now_ms(), now);
	for (int m = 25; m <= 100 && m <= pct; m += 25) {
		int rc = store_milestone_mark(call->db, project_id, m);
		if (rc < 0)
			return rc;
		if (rc == 1)
			continue; /* announced before */
		Taskmesh__V1__MilestoneReached ev = TASKMESH__V1__MILESTONE_REACHED__INIT;
		ev.project_id = (char *)project_id;
		ev.percentage = m;
		ev.reached_at = now;
		if (announce(call, project_id, &ev.base) != TM_DB_OK)
			return TM_DB_ERR;
		if (m == 100) {
			Taskmesh__V1__ProjectCompleted done_ev =
				TASKMESH__V1__PROJECT_COMPLETED__INIT;
			done_ev.project_id = (char *)project_id;
			done_ev.client_id = (char *)client;
			done_ev.completed_at = now;
			if (store_project_move(call->db, project_id, "in_progress", "completed") <
				    0 ||
			    announce(call, project_id, &done_ev.base) != TM_DB_OK)
				return TM_DB_ERR;
		}
	}
	return TM_DB_OK;
}

static const char *status_name(Taskmesh__V1__TaskStatus s)
{
	static const char *const names[] = {
		"", "pending", "offered", "assigned", "in_progress", "review", "done"};
	return (unsigned)s < TM_ARRAY_LEN(names) ? names[s] : "";
}

enum tm_code rpc_update_task(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			     ProtobufCMessage **out)
{
	const Taskmesh__V1__UpdateTaskRequest *in = (const Taskmesh__V1__UpdateTaskRequest *)in_msg;
	struct task_row row;
	enum tm_code code = my_task(call, in->id, &row);

	if (code != TM_OK)
		return code;
	const char *to = in->status ? status_name(in->status) : row.status;
	int completion = in->completion_case ? in->completion_percentage :
					       row.task->completion_percentage;
	if (in->completion_case && (completion < 0 || completion > 100))
		return tm_rpc_field_error(call, "completionPercentage", "must be 0 to 100");
	if (!to[0] || !project_task_transition_ok(row.status, to))
		return tm_rpc_field_error(call, "status", "cannot go from %s to %s", row.status,
					  to[0] ? to : "?");
	if (strcmp(row.project_status, "approved") != 0 &&
	    strcmp(row.project_status, "in_progress") != 0)
		return tm_rpc_fail(call, TM_E_CONFLICT,
				   "work starts once the proposal is approved");
	if (strcmp(to, "done") == 0)
		completion = 100;
	else if (completion == 100)
		completion = 99; /* 100 % means done; a task in review is not */
	if (store_task_set(call->db, in->id, to, call->user_id, completion) != TM_DB_OK ||
	    store_project_move(call->db, row.task->project_id, "approved", "in_progress") < 0 ||
	    record_progress(call, row.task->project_id, row.client_id) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	return reply_task(call, in->id, out);
}

enum tm_code rpc_get_progress(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			      ProtobufCMessage **out)
{
	const Taskmesh__V1__GetProgressRequest *in =
		(const Taskmesh__V1__GetProgressRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	Taskmesh__V1__Progress *pg = NULL;
	enum tm_code code = visible_project(call, in->id, &p);

	if (code != TM_OK)
		return code;
	if (store_progress_get(call->db, in->id, call->arena, &pg) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &pg->base;
	return TM_OK;
}
