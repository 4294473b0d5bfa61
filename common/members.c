/* Who may see a project; see tm/members.h. */
#include <string.h>

#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/log.h"
#include "tm/members.h"
#include "tm/util.h"

/* ---- the facts ---- */

int tm_members_add(struct tm_db *db, const char *project_id, const char *user_id, const char *role)
{
	/* an owner stays the owner */
	return tm_db_exec(db,
			  "INSERT INTO project_members (project_id, user_id, role) "
			  "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			  TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(user_id), TM_P_TEXT(role)));
}

int tm_members_offer(struct tm_db *db, const char *project_id, const char *task_id,
		     const char *developer_id)
{
	return tm_db_exec(db,
			  "INSERT INTO project_offers (project_id, task_id, developer_id) "
			  "VALUES ($1, $2, $3) ON CONFLICT (project_id, task_id) DO UPDATE SET "
			  "developer_id = $3, offered_at = now()",
			  TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id),
				    TM_P_TEXT(developer_id)));
}

int tm_members_offer_end(struct tm_db *db, const char *project_id, const char *task_id,
			 const char *developer_id)
{
	return tm_db_exec(db,
			  "DELETE FROM project_offers WHERE project_id = $1 AND task_id = $2 AND "
			  "($3::uuid IS NULL OR developer_id = $3::uuid)",
			  TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(task_id),
				    TM_P_TEXT(developer_id)));
}

/* ---- event handlers ---- */

/* True when every id is a UUID; else the event is logged and skipped (there
 * is nothing to record, and nothing a retry would change). */
static bool ids_ok(struct tm_event_ctx *ctx, const char *a, const char *b, const char *c)
{
	if (tm_uuid_valid(a) && tm_uuid_valid(b) && (!c || tm_uuid_valid(c)))
		return true;
	tm_warn("%s %s: an id is not a UUID; membership not recorded", ctx->event->type,
		ctx->event->id);
	return false;
}

static int handled(int rc)
{
	return rc == TM_DB_OK ? 0 : -1;
}

int tm_members_on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProjectCreated *ev = (const Taskmesh__V1__ProjectCreated *)body;
	if (!ids_ok(ctx, ev->project_id, ev->client_id, NULL))
		return 0;
	return handled(tm_members_add(ctx->db, ev->project_id, ev->client_id, "owner"));
}

int tm_members_on_proposal_approved(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProposalApproved *ev = (const Taskmesh__V1__ProposalApproved *)body;

	if (ev->senior_developer_id[0] &&
	    ids_ok(ctx, ev->project_id, ev->senior_developer_id, NULL) &&
	    tm_members_add(ctx->db, ev->project_id, ev->senior_developer_id, "developer") !=
		    TM_DB_OK)
		return -1;
	for (size_t i = 0; i < ev->n_assignments; i++) {
		const char *dev = ev->assignments[i]->developer_id;
		if (ids_ok(ctx, ev->project_id, dev, NULL) &&
		    tm_members_add(ctx->db, ev->project_id, dev, "developer") != TM_DB_OK)
			return -1;
	}
	return 0;
}

int tm_members_on_task_accepted(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskAccepted *ev = (const Taskmesh__V1__TaskAccepted *)body;
	if (!ids_ok(ctx, ev->project_id, ev->task_id, ev->developer_id))
		return 0;
	if (tm_members_offer_end(ctx->db, ev->project_id, ev->task_id, ev->developer_id) !=
	    TM_DB_OK)
		return -1;
	return handled(tm_members_add(ctx->db, ev->project_id, ev->developer_id, "developer"));
}

int tm_members_on_task_offered(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskOffered *ev = (const Taskmesh__V1__TaskOffered *)body;
	if (!ids_ok(ctx, ev->project_id, ev->task_id, ev->developer_id))
		return 0;
	return handled(tm_members_offer(ctx->db, ev->project_id, ev->task_id, ev->developer_id));
}

int tm_members_on_task_declined(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskDeclined *ev = (const Taskmesh__V1__TaskDeclined *)body;
	if (!ids_ok(ctx, ev->project_id, ev->task_id, ev->developer_id))
		return 0;
	/* the next offer, if any, comes as its own TaskOffered */
	return handled(
		tm_members_offer_end(ctx->db, ev->project_id, ev->task_id, ev->developer_id));
}

int tm_members_on_task_offer_withdrawn(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__TaskOfferWithdrawn *ev = (const Taskmesh__V1__TaskOfferWithdrawn *)body;
	if (!ids_ok(ctx, ev->project_id, ev->task_id, ev->developer_id))
		return 0;
	return handled(
		tm_members_offer_end(ctx->db, ev->project_id, ev->task_id, ev->developer_id));
}

/* ---- checks ---- */

bool tm_members_is_admin(const struct tm_rpc_call *call)
{
	return strcmp(call->role, "admin") == 0;
}

const char *tm_members_viewer(const struct tm_rpc_call *call)
{
	return tm_uuid_valid(call->user_id) ? call->user_id : NULL;
}

int tm_members_can_see(struct tm_rpc_call *call, const char *project_id)
{
	if (tm_members_is_admin(call))
		return 1;
	if (!tm_uuid_valid(project_id) || !tm_members_viewer(call))
		return 0;
	int rc = tm_db_exists(call->db,
			      "SELECT 1 WHERE " TM_MEMBERS_SEE_SQL("$1::uuid", "$2::uuid"),
			      TM_PARAMS(TM_P_TEXT(project_id), TM_P_TEXT(call->user_id)));
	return rc < 0 ? rc : rc == TM_DB_OK;
}

enum tm_code tm_members_verdict(struct tm_rpc_call *call, const char *project_id, int visible)
{
	if (visible < 0) {
		tm_error("cannot check who may see project %.40s: %s", project_id,
			 tm_db_error(call->db));
		return tm_rpc_fail(call, TM_E_SERVICE_UNAVAILABLE,
				   "cannot check access to the project right now; try again");
	}
	if (!visible)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %.40s", project_id);
	return TM_OK;
}

enum tm_code tm_members_require(struct tm_rpc_call *call, const char *project_id)
{
	return tm_members_verdict(call, project_id, tm_members_can_see(call, project_id));
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
