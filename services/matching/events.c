/* tm-matching's event handlers. Each runs inside the transaction that also
 * records the event in the inbox, so its effects happen once per event. */
#include "events.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/log.h"
#include "tm/members.h"

/* A new project is demand: remember it for matching and market trends; its
 * client becomes a member (the owner) in matching's projection. */
int on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProjectCreated *ev = (const Taskmesh__V1__ProjectCreated *)body;
	if (tm_db_exec(ctx->db,
		       "INSERT INTO open_projects (project_id, client_id, title, created_at) "
		       "VALUES ($1, $2, $3, $4) ON CONFLICT (project_id) DO NOTHING",
		       TM_PARAMS(TM_P_TEXT(ev->project_id), TM_P_TEXT(ev->client_id),
				 TM_P_TEXT(ev->title), TM_P_TEXT(ev->created_at))) != TM_DB_OK) {
		tm_warn("cannot record project %s: %s", ev->project_id, tm_db_error(ctx->db));
		return -1;
	}
	if (tm_members_on_project_created(ctx, body) != 0)
		return -1;
	tm_info("project %s is open for matching", ev->project_id);
	return 0;
}
