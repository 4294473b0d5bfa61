/*
 * A service's projection of project membership (<schema>.project_members),
 * kept from events, so a service can answer "may this caller see project X?"
 * on its own — the overview fan-out stays correct while tm-projects is down.
 */
#ifndef TM_MEMBERS_H
#define TM_MEMBERS_H

#include "tm/rpc_server.h"
#include "tm/service.h"

/* Event handler for taskmesh.v1.ProjectCreated: the client becomes the owner. */
int tm_members_on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

/* May the caller see the project? Admins see every project; others must be
 * members. Returns 1 yes, 0 no (answer 404, never 403), < 0 a database error. */
int tm_members_can_see(struct tm_rpc_call *call, const char *project_id);

/* tm_members_can_see as a handler's guard: TM_OK, or NOT_FOUND / a database
 * failure already set on the call. */
enum tm_code tm_members_require(struct tm_rpc_call *call, const char *project_id);

/* A GetProjectOverview handler for a service whose part has nothing to show
 * yet: the part (the method's reply message) empty, for members only. */
enum tm_code tm_members_overview_part(struct tm_rpc_call *call, const ProtobufCMessage *in,
				      ProtobufCMessage **out);

#endif
