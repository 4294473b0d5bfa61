/* tm-projects' RPC handlers for projects and their analysis. */
#include <string.h>

#include "announce.h"
#include "project.h"
#include "projects.h"
#include "rpc.h"
#include "store.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/list.h"
#include "tm/members.h"
#include "tm/util.h"

static bool is_client(const struct tm_rpc_call *call)
{
	return strcmp(call->role, "client") == 0;
}

/* After the commit: a worker takes the new job at once instead of at its next look. */
static void kick_analysis(void *service)
{
	analysis_kick(service);
}

enum tm_code rpc_create_project(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				ProtobufCMessage **out)
{
	Taskmesh__V1__CreateProjectRequest *in = (Taskmesh__V1__CreateProjectRequest *)in_msg;
	struct field_error errs[8];
	struct new_project np;
	Taskmesh__V1__Project *p = NULL;

	if (!is_client(call))
		return tm_rpc_fail(call, TM_E_FORBIDDEN, "only clients create projects");
	int nerr = project_validate_create(in, tm_now_ms(), &np, errs, (int)TM_ARRAY_LEN(errs));
	for (int i = 0; i < nerr && i < (int)TM_ARRAY_LEN(errs); i++)
		tm_rpc_field_error(call, errs[i].field, "%s", errs[i].description);
	if (nerr > 0)
		return TM_E_VALIDATION_FAILED;
	/* the project, its owner, its analysis job and ProjectCreated commit together */
	if (store_project_insert(call->db, call->user_id, &np, call->arena, &p) != TM_DB_OK ||
	    announce_project_created(call->db, p, call->req->request_id) != TM_DB_OK ||
	    tm_db_after_commit(call->db, kick_analysis, call->service) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	call->status = 202; /* analysis follows asynchronously */
	*out = &p->base;
	return TM_OK;
}

enum tm_code rpc_get_project(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			     ProtobufCMessage **out)
{
	const Taskmesh__V1__GetProjectRequest *in = (const Taskmesh__V1__GetProjectRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	enum tm_code code = rpc_visible_project(call, in->id, &p);

	if (code == TM_OK)
		*out = &p->base;
	return code;
}

enum tm_code rpc_list_projects(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			       ProtobufCMessage **out)
{
	const Taskmesh__V1__ListProjectsRequest *in =
		(const Taskmesh__V1__ListProjectsRequest *)in_msg;
	Taskmesh__V1__ListProjectsReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	struct tm_page page;
	enum tm_code code = tm_list_page(call, in->limit, in->cursor, &page);

	if (code != TM_OK)
		return code;
	if (!rep)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__list_projects_reply__init(rep);
	/* a client: its own projects; an admin: all; a developer: those they may see */
	bool all = tm_members_is_admin(call) || is_client(call);
	if (store_projects_list(call->db, is_client(call) ? call->user_id : NULL,
				all ? NULL : tm_members_viewer(call), &page, call->arena,
				rep) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &rep->base;
	return TM_OK;
}

enum tm_code rpc_list_tasks(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			    ProtobufCMessage **out)
{
	const Taskmesh__V1__ListTasksRequest *in = (const Taskmesh__V1__ListTasksRequest *)in_msg;
	Taskmesh__V1__ListTasksReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	Taskmesh__V1__Project *p = NULL;
	struct tm_page page;
	enum tm_code code = tm_list_page(call, in->limit, in->cursor, &page);

	if (code != TM_OK)
		return code;
	if (!rep)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__list_tasks_reply__init(rep);
	if ((code = rpc_visible_project(call, in->id, &p)) != TM_OK)
		return code;
	if (store_tasks_list(call->db, in->id, &page, call->arena, rep) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &rep->base;
	return TM_OK;
}

/* POST /projects/{id}/analyze: the owner asks for a new analysis (after a
 * failure, or to redo one) while no team has been proposed yet. */
enum tm_code rpc_analyze_project(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				 ProtobufCMessage **out)
{
	const Taskmesh__V1__AnalyzeProjectRequest *in =
		(const Taskmesh__V1__AnalyzeProjectRequest *)in_msg;
	Taskmesh__V1__Project *p = NULL;
	enum tm_code code = rpc_owned_project(call, in->id, false, &p);

	if (code != TM_OK)
		return code;
	int rc = store_analysis_restart(call->db, in->id);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == TM_DB_NONE)
		return tm_rpc_fail(call, TM_E_CONFLICT,
				   "a project is re-analyzed only before a team is proposed");
	if ((code = rpc_visible_project(call, in->id, &p)) != TM_OK)
		return code;
	if (tm_db_after_commit(call->db, kick_analysis, call->service) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	call->status = 202;
	*out = &p->base;
	return TM_OK;
}

enum tm_code rpc_project_overview(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				  ProtobufCMessage **out)
{
	const Taskmesh__V1__ProjectOverviewRequest *in =
		(const Taskmesh__V1__ProjectOverviewRequest *)in_msg;
	Taskmesh__V1__ProjectsOverviewPart *part = tm_arena_alloc(call->arena, sizeof(*part));
	Taskmesh__V1__ListTasksReply tasks = TASKMESH__V1__LIST_TASKS_REPLY__INIT;
	char *status = tm_arena_alloc(call->arena, 16);
	Taskmesh__V1__Project *p = NULL;

	if (!part || !status)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__projects_overview_part__init(part);
	enum tm_code code = rpc_visible_project(call, in->id, &p);
	if (code != TM_OK)
		return code;
	if (store_tasks_list(call->db, in->id, NULL, call->arena, &tasks) != TM_DB_OK ||
	    store_proposal_status(call->db, in->id, status) != TM_DB_OK ||
	    store_progress_get(call->db, in->id, call->arena, &part->progress) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	part->project = p;
	part->n_tasks = tasks.n_items;
	part->tasks = tasks.items;
	part->proposal_status = status;
	*out = &part->base;
	return TM_OK;
}
