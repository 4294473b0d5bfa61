/*
 * Who may see a project: the one rule, used by every service and the overview.
 *
 *   admins see every project;
 *   the owner (the client of ProjectCreated);
 *   the approved team: the senior developer and the developers of the approved
 *   proposal (ProposalApproved), and whoever accepts a task (TaskAccepted);
 *   a developer with a live offer: a task is offered to them (TaskOffered) and
 *   they have neither declined it (TaskDeclined) nor lost it to a new proposal
 *   (TaskOfferWithdrawn) — they must see what they are asked to accept.
 *
 * Every service keeps the facts in its own schema (<schema>.project_members
 * and <schema>.project_offers, templates migrations/common/0002 and 0004):
 * tm-projects writes them in the same transactions as the changes they follow
 * (it is the source of those events), the other services from the events, with
 * the handlers below. So a service answers "may this caller see project X?" on
 * its own, and the overview stays right while tm-projects is down.
 *
 * Project-scoped reads answer 404 to anyone else (never 403: no probing for
 * ids), and 503 when the rule cannot be checked (a database error is never a
 * 404).
 */
#ifndef TM_MEMBERS_H
#define TM_MEMBERS_H

#include "taskmesh/v1/events.pb-c.h"
#include "tm/rpc_server.h"
#include "tm/service.h"

/* The rule as an SQL condition on this schema's tables: may user `user` (a
 * uuid expression, NULL for none) see project `project`? Admins are not in it
 * (the caller's role is not in the database): test them first. */
#define TM_MEMBERS_SEE_SQL(project, user)                                             \
	"(EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = " project      \
	" AND m.user_id = " user ") OR EXISTS (SELECT 1 FROM project_offers o WHERE " \
	"o.project_id = " project " AND o.developer_id = " user "))"
/* The same where the project row (alias p, with client_id) is at hand: its
 * owner is known without a look-up (the common case, and a third cheaper). */
#define TM_MEMBERS_SEE_ROW_SQL(user) \
	"(p.client_id = " user " OR " TM_MEMBERS_SEE_SQL("p.id", user) ")"

/* ---- the facts (inside the caller's transaction) ---- */

/* Records a member: role "owner" or "developer" (an owner stays the owner). */
int tm_members_add(struct tm_db *db, const char *project_id, const char *user_id, const char *role);
/* The live offer of a task is now to developer_id (replacing any other). */
int tm_members_offer(struct tm_db *db, const char *project_id, const char *task_id,
		     const char *developer_id);
/* The offer of a task to developer_id ended (declined, accepted, withdrawn);
 * developer_id NULL: whoever held it. */
int tm_members_offer_end(struct tm_db *db, const char *project_id, const char *task_id,
			 const char *developer_id);

/* ---- event handlers of the services that project the facts ---- */

/* taskmesh.v1.ProjectCreated: the client becomes the owner. */
int tm_members_on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* taskmesh.v1.ProposalApproved: the senior developer and the developers of the
 * approved proposal become members. */
int tm_members_on_proposal_approved(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* taskmesh.v1.TaskAccepted: the developer who took a task becomes a member. */
int tm_members_on_task_accepted(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* taskmesh.v1.TaskOffered / TaskDeclined / TaskOfferWithdrawn: live offers. */
int tm_members_on_task_offered(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
int tm_members_on_task_declined(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
int tm_members_on_task_offer_withdrawn(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

/* The handlers above but ProjectCreated (a service combines that one with its
 * own), as rows of a service's handler table. */
/* clang-format off */
#define TM_MEMBERS_HANDLERS                                                                    \
	{&taskmesh__v1__proposal_approved__descriptor, tm_members_on_proposal_approved},       \
	{&taskmesh__v1__task_accepted__descriptor, tm_members_on_task_accepted},               \
	{&taskmesh__v1__task_offered__descriptor, tm_members_on_task_offered},                 \
	{&taskmesh__v1__task_declined__descriptor, tm_members_on_task_declined},               \
	{&taskmesh__v1__task_offer_withdrawn__descriptor, tm_members_on_task_offer_withdrawn}
/* clang-format on */

/* ---- checks ---- */

/* May the caller see the project? Returns 1 yes, 0 no, < 0 a database error. */
int tm_members_can_see(struct tm_rpc_call *call, const char *project_id);

/* As a handler's guard: TM_OK, or NOT_FOUND (not visible), or
 * SERVICE_UNAVAILABLE (the rule could not be checked), already set on the call. */
enum tm_code tm_members_require(struct tm_rpc_call *call, const char *project_id);
/* The answer for a visibility the caller worked out itself (1, 0 or < 0). */
enum tm_code tm_members_verdict(struct tm_rpc_call *call, const char *project_id, int visible);

/* The caller's id as a query parameter of TM_MEMBERS_SEE_SQL: NULL (no one)
 * unless it is a UUID. */
const char *tm_members_viewer(const struct tm_rpc_call *call);
bool tm_members_is_admin(const struct tm_rpc_call *call);

/* A GetProjectOverview handler for a service whose part has nothing to show
 * yet: the part (the method's reply message) empty, for members only. */
enum tm_code tm_members_overview_part(struct tm_rpc_call *call, const ProtobufCMessage *in,
				      ProtobufCMessage **out);

#endif
