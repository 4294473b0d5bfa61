/*
 * tm-projects' RPC handlers after the analysis: the proposal and its approval,
 * developers taking, refusing and working on tasks, and progress with its
 * milestones (MilestoneReached at 25/50/75/100 %, each exactly once;
 * ProjectCompleted).
 */
#include <string.h>

#include "announce.h"
#include "project.h"
#include "rpc.h"
#include "store.h"
#include "tm/members.h"
#include "tm/util.h"

enum tm_code rpc_get_proposal(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			      ProtobufCMessage **out)
{
	const Taskmesh__V1__GetProposalRequest *in =
		(const Taskmesh__V1__GetProposalRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	Taskmesh__V1__Proposal *pr = NULL;
	enum tm_code code = rpc_owned_project(call, in->id, true, &p);

	if (code != TM_OK)
		return code;
	int rc = store_proposal_get(call->db, in->id, call->arena, &pr);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == TM_DB_NONE)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no proposal for project %s yet", in->id);
	*out = &pr->base;
	return TM_OK;
}

enum tm_code rpc_approve_proposal(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				  ProtobufCMessage **out)
{
	const Taskmesh__V1__ApproveProposalRequest *in =
		(const Taskmesh__V1__ApproveProposalRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	Taskmesh__V1__Proposal *pr = NULL;
	enum tm_code code = rpc_owned_project(call, in->id, false, &p);

	if (code != TM_OK)
		return code;
	/* the team as it stands: no decline or re-proposal may slip in between
	 * reading it and approving it */
	int rc = store_project_lock(call->db, in->id);
	if (rc == TM_DB_OK)
		rc = store_proposal_get(call->db, in->id, call->arena, &pr);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == TM_DB_NONE)
		return tm_rpc_fail(call, TM_E_CONFLICT, "there is no proposal to approve yet");
	if ((rc = store_proposal_approve(call->db, in->id, pr)) < 0)
		return tm_rpc_db_fail(call);
	if (rc == TM_DB_NONE)
		return tm_rpc_fail(call, TM_E_CONFLICT, "the proposal is already approved");
	if (announce_proposal_approved(call->db, p, pr, call->req->request_id, call->arena) !=
	    TM_DB_OK)
		return tm_rpc_db_fail(call);
	if ((code = rpc_visible_project(call, in->id, &p)) != TM_OK)
		return code;
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
	if (rc == TM_DB_NONE || strcmp(row->task->assigned_developer_id, call->user_id) != 0)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no task %s", id);
	return TM_OK;
}

/* My task, which must be offered to me (accept, decline). */
static enum tm_code my_offer(struct tm_rpc_call *call, const char *id, struct task_row *row)
{
	enum tm_code code = my_task(call, id, row);
	if (code == TM_OK && strcmp(row->status, "offered") != 0)
		return tm_rpc_fail(call, TM_E_CONFLICT, "the task is %s, not offered", row->status);
	return code;
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
	struct task_row row;
	enum tm_code code = my_offer(call, in->id, &row);

	if (code != TM_OK)
		return code;
	if (store_task_accept(call->db, row.task->project_id, in->id, call->user_id) != TM_DB_OK ||
	    announce_task_accepted(call->db, row.task, call->user_id, call->req->request_id) !=
		    TM_DB_OK)
		return tm_rpc_db_fail(call);
	return reply_task(call, in->id, out);
}

enum tm_code rpc_decline_task(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			      ProtobufCMessage **out)
{
	const Taskmesh__V1__TaskActionRequest *in = (const Taskmesh__V1__TaskActionRequest *)in_msg;
	const char *trace = call->req->request_id;
	struct task_row row;
	char next[TM_UUID_LEN + 1];
	enum tm_code code = my_offer(call, in->id, &row);

	if (code != TM_OK)
		return code;
	/* to the next candidate who has not declined it, or back to pending for matching */
	if (store_task_decline(call->db, row.task->project_id, in->id, call->user_id) != TM_DB_OK ||
	    store_offer_next(call->db, row.task->project_id, in->id, next) != TM_DB_OK ||
	    announce_task_declined(call->db, row.task, call->user_id, next, trace) != TM_DB_OK ||
	    (next[0] && announce_task_offered(call->db, row.task->project_id, in->id, next,
					      trace) != TM_DB_OK))
		return tm_rpc_db_fail(call);
	return reply_task(call, in->id, out);
}

/* Announces each milestone the progress has reached, once; completes the
 * project at 100 %. In the caller's transaction. */
static int record_progress(struct tm_rpc_call *call, const char *project_id, const char *client)
{
	const char *trace = call->req->request_id;
	int pct = 0, done = 0, total = 0;
	char now[32];
	if (store_progress(call->db, project_id, &pct, &done, &total) != TM_DB_OK)
		return TM_DB_ERR;
	tm_rfc3339(tm_now_ms(), now);
	for (int m = 25; m <= 100 && m <= pct; m += 25) {
		int rc = store_milestone_mark(call->db, project_id, m);
		if (rc < 0)
			return rc;
		if (rc == TM_DB_NONE)
			continue; /* announced before */
		if (announce_milestone_reached(call->db, project_id, m, now, trace) != TM_DB_OK)
			return TM_DB_ERR;
		if (m == 100 &&
		    (store_project_move(call->db, project_id, "in_progress", "completed") < 0 ||
		     announce_project_completed(call->db, project_id, client, now, trace) !=
			     TM_DB_OK))
			return TM_DB_ERR;
	}
	return TM_DB_OK;
}

enum tm_code rpc_update_task(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			     ProtobufCMessage **out)
{
	const Taskmesh__V1__UpdateTaskRequest *in = (const Taskmesh__V1__UpdateTaskRequest *)in_msg;
	struct task_row row;
	enum tm_code code = my_task(call, in->id, &row);

	if (code != TM_OK)
		return code;
	const char *to = in->status ? project_task_status_name(in->status) : row.status;
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
	if (store_task_update(call->db, in->id, to, completion) != TM_DB_OK ||
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
	enum tm_code code = rpc_visible_project(call, in->id, &p);

	if (code != TM_OK)
		return code;
	if (store_progress_get(call->db, in->id, call->arena, &pg) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &pg->base;
	return TM_OK;
}
