/*
 * A service's projection of project membership (<schema>.project_members),
 * kept from events, so a service can answer "may this caller see project X?"
 * on its own — the overview fan-out stays correct while tm-projects is down.
 */
#ifndef TM_MEMBERS_H
#define TM_MEMBERS_H

#include "taskmesh/v1/events.pb-c.h"
#include "tm/rpc_server.h"
#include "tm/service.h"

/* Event handler for taskmesh.v1.ProjectCreated: the client becomes the owner. */
int tm_members_on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

/* taskmesh.v1.ProposalApproved: the senior developer and every developer of the
 * approved team become members. */
int tm_members_on_proposal_approved(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* taskmesh.v1.TaskAccepted: the developer who took a task becomes a member
 * (a developer offered a task after a decline joins this way). */
int tm_members_on_task_accepted(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

/* The two handlers above, as rows of a service's handler table. */
/* clang-format off */
#define TM_MEMBERS_HANDLERS                                                               \
	{&taskmesh__v1__proposal_approved__descriptor, tm_members_on_proposal_approved},  \
	{&taskmesh__v1__task_accepted__descriptor, tm_members_on_task_accepted}
/* clang-format on */

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
