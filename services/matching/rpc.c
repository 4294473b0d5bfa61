/* tm-matching's RPC handlers. */
#include "rpc.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/members.h"

/* Its part of GET /projects/{id}/overview, for members (and admins) only. */
enum tm_code rpc_project_overview(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				  ProtobufCMessage **out)
{
	const Taskmesh__V1__ProjectOverviewRequest *in =
		(const Taskmesh__V1__ProjectOverviewRequest *)in_msg;
	Taskmesh__V1__MatchingOverviewPart *part = tm_arena_alloc(call->arena, sizeof(*part));

	if (!part)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	enum tm_code code = tm_members_require(call, in->id);
	if (code != TM_OK)
		return code;
	taskmesh__v1__matching_overview_part__init(part);
	*out = &part->base;
	return TM_OK;
}
