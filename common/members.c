/* Project membership projection; see tm/members.h. */
#include <string.h>

#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/log.h"
#include "tm/members.h"
#include "tm/util.h"

int tm_members_on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProjectCreated *ev = (const Taskmesh__V1__ProjectCreated *)body;
	const char *p[] = {ev->project_id, ev->client_id};

	if (!tm_uuid_valid(ev->project_id) || !tm_uuid_valid(ev->client_id)) {
		tm_warn("ProjectCreated without valid ids; membership not recorded");
		return 0; /* nothing to record, nothing to retry */
	}
	return tm_db_query(ctx->db, NULL,
			   "INSERT INTO project_members (project_id, user_id, role) "
			   "VALUES ($1, $2, 'owner') ON CONFLICT DO NOTHING",
			   2, p) == TM_DB_OK ?
		       0 :
		       -1;
}

/* Adds a developer to a project; 0, or -1 to retry. Bad ids are skipped. */
static int add_developer(struct tm_event_ctx *ctx, const char *project_id, const char *user_id)
{
	const char *p[] = {project_id, user_id};
	if (!tm_uuid_valid(project_id) || !tm_uuid_valid(user_id)) {
		tm_warn("%s: a member id is not a UUID; skipped", ctx->event->type);
		return 0;
	}
	/* an owner stays the owner */
	return tm_db_query(ctx->db, NULL,
			   "INSERT INTO project_members (project_id, user_id, role) "
			   "VALUES ($1, $2, 'developer') ON CONFLICT DO NOTHING",
			   2, p) == TM_DB_OK ?
		       0 :
		       -1;
}

int tm_members_on_proposal_approved(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProposalApproved *ev = (const Taskmesh__V1__ProposalApproved *)body;

	if (ev->senior_developer_id[0] &&
	    add_developer(ctx, ev->project_id, ev->senior_developer_id) != 0)
		return -1;
	for (size_t i = 0; i < ev->n_assignments; i++)
		if (add_developer(ctx, ev->project_id, ev->assignments[i]->developer_id) != 0)
			return -1;
	return 0;
}

int tm_members_on_task_accepted(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskAccepted *ev = (const Taskmesh__V1__TaskAccepted *)body;
	return add_developer(ctx, ev->project_id, ev->developer_id);
}

int tm_members_can_see(struct tm_rpc_call *call, const char *project_id)
{
	PGresult *r = NULL;
	const char *p[] = {project_id, call->user_id};

	if (strcmp(call->role, "admin") == 0)
		return 1;
	if (!tm_uuid_valid(project_id) || !tm_uuid_valid(call->user_id))
		return 0;
	if (tm_db_query(call->db, &r,
			"SELECT 1 FROM project_members WHERE project_id = $1 AND user_id = $2", 2,
			p) != TM_DB_OK)
		return -1;
	int yes = PQntuples(r) == 1;
	PQclear(r);
	return yes;
}

enum tm_code tm_members_require(struct tm_rpc_call *call, const char *project_id)
{
	int yes = tm_members_can_see(call, project_id);
	if (yes < 0)
		return tm_rpc_db_fail(call);
	if (!yes)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %.40s", project_id);
	return TM_OK;
}

enum tm_code tm_members_overview_part(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				      ProtobufCMessage **out)
{
	const Taskmesh__V1__ProjectOverviewRequest *in =
		(const Taskmesh__V1__ProjectOverviewRequest *)in_msg;
	const ProtobufCMessageDescriptor *d = call->method->out;
	ProtobufCMessage *part = tm_arena_alloc(call->arena, d->sizeof_message);

	if (!part)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	enum tm_code code = tm_members_require(call, in->id);
	if (code != TM_OK)
		return code;
	protobuf_c_message_init(d, part);
	*out = part;
	return TM_OK;
}
