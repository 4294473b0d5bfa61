/* tm-projects' RPC methods: which handler serves which method, and the one
 * guard every project-scoped handler uses. */
#include <string.h>

#include "rpc.h"
#include "store.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/members.h"
#include "tm/util.h"

#define PB(m) &taskmesh__v1__##m##__descriptor
const struct tm_rpc_method projects_methods[] = {
	{"CreateProject", PB(create_project_request), PB(project), rpc_create_project,
	 TM_RPC_IDEMPOTENT},
	{"GetProject", PB(get_project_request), PB(project), rpc_get_project, 0},
	{"ListProjects", PB(list_projects_request), PB(list_projects_reply), rpc_list_projects, 0},
	{"ListTasks", PB(list_tasks_request), PB(list_tasks_reply), rpc_list_tasks, 0},
	{"AnalyzeProject", PB(analyze_project_request), PB(project), rpc_analyze_project,
	 TM_RPC_TX},
	{"GetProjectOverview", PB(project_overview_request), PB(projects_overview_part),
	 rpc_project_overview, 0},
	{"GetProposal", PB(get_proposal_request), PB(proposal), rpc_get_proposal, 0},
	{"ApproveProposal", PB(approve_proposal_request), PB(project), rpc_approve_proposal,
	 TM_RPC_IDEMPOTENT},
	{"AcceptTask", PB(task_action_request), PB(task), rpc_accept_task, TM_RPC_TX},
	{"DeclineTask", PB(task_action_request), PB(task), rpc_decline_task, TM_RPC_TX},
	{"UpdateTask", PB(update_task_request), PB(task), rpc_update_task, TM_RPC_TX},
	{"GetProgress", PB(get_progress_request), PB(progress), rpc_get_progress, 0},
};
const size_t projects_nmethods = TM_ARRAY_LEN(projects_methods);

enum tm_code rpc_visible_project(struct tm_rpc_call *call, const char *id,
				 Taskmesh__V1__Project **p)
{
	bool visible = false;
	int rc = store_project_get(call->db, id, tm_members_viewer(call), call->arena, p, &visible);
	/* invisible and absent look the same: no probing for other clients' ids; a
	 * database error is neither (503) */
	return tm_members_verdict(
		call, id, rc < 0 ? rc : rc == TM_DB_OK && (visible || tm_members_is_admin(call)));
}

enum tm_code rpc_owned_project(struct tm_rpc_call *call, const char *id, bool admin_too,
			       Taskmesh__V1__Project **p)
{
	enum tm_code code = rpc_visible_project(call, id, p);
	if (code != TM_OK)
		return code;
	if (strcmp((*p)->client_id, call->user_id) == 0 || (admin_too && tm_members_is_admin(call)))
		return TM_OK;
	return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %.40s", id);
}
