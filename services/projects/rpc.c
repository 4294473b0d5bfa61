/* tm-projects' RPC handlers: parse and authorize, then call the store. */
#include <stdio.h>
#include <string.h>

#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "project.h"
#include "rpc.h"
#include "store.h"
#include "tm/outbox.h"
#include "tm/util.h"

#define PROJECTS_TOPIC "tm.projects.v1"
#define PROJECTS_SOURCE "tm-projects"

static bool is_admin(const struct tm_rpc_call *call)
{
	return strcmp(call->role, "admin") == 0;
}

static bool is_client(const struct tm_rpc_call *call)
{
	return strcmp(call->role, "client") == 0;
}

/* Who may see a project: its client, admins, and the developers it was offered
 * to or who work on it (its senior developer included). */
bool rpc_may_see(struct tm_rpc_call *call, const Taskmesh__V1__Project *p)
{
	if (is_admin(call) || (is_client(call) && strcmp(p->client_id, call->user_id) == 0))
		return true;
	return strcmp(call->role, "developer") == 0 &&
	       store_is_team_member(call->db, p->id, call->user_id) == 1;
}

/* The ProjectCreated event of a freshly stored project, into the outbox. */
static int announce_created(struct tm_rpc_call *call, const Taskmesh__V1__Project *p)
{
	Taskmesh__V1__ProjectCreated ev = TASKMESH__V1__PROJECT_CREATED__INIT;
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.title = p->title;
	ev.description = p->description;
	ev.budget_cap_cents = p->budget_cap_case ? p->budget_cap_cents : 0;
	ev.currency = p->currency;
	ev.deadline = p->deadline;
	ev.created_at = p->created_at;
	return tm_outbox_add(call->db, PROJECTS_TOPIC, p->id, &ev.base, PROJECTS_SOURCE,
			     call->req->request_id, NULL);
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
	if (store_insert_project(call->db, call->user_id, &np, call->arena, &p) != TM_DB_OK ||
	    announce_created(call, p) != TM_DB_OK)
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

	int rc = store_get_project(call->db, in->id, call->arena, &p);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	/* invisible and absent look the same: no probing for other clients' ids */
	if (rc == 1 || !rpc_may_see(call, p))
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s", in->id);
	if (store_load_analysis(call->db, p, call->arena) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	*out = &p->base;
	return TM_OK;
}

/* Parses "<micros>.<uuid>" from a previous page. Returns 0 or -1. */
static int parse_cursor(const char *cursor, int64_t *micros, char id[TM_UUID_LEN + 1])
{
	const char *dot = strchr(cursor, '.');
	char num[24];
	if (!dot || (size_t)(dot - cursor) >= sizeof(num) || !tm_uuid_valid(dot + 1))
		return -1;
	memcpy(num, cursor, (size_t)(dot - cursor));
	num[dot - cursor] = '\0';
	memcpy(id, dot + 1, TM_UUID_LEN + 1);
	return tm_parse_int64(num, micros);
}

enum tm_code rpc_list_projects(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			       ProtobufCMessage **out)
{
	const Taskmesh__V1__ListProjectsRequest *in =
		(const Taskmesh__V1__ListProjectsRequest *)in_msg;
	Taskmesh__V1__ListProjectsReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	char after_id[TM_UUID_LEN + 1];
	int64_t after_micros = 0;
	int limit = project_list_limit(in->limit);

	if (!rep)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__list_projects_reply__init(rep);
	if (limit < 0)
		return tm_rpc_field_error(call, "limit", "must be between 1 and %d",
					  PROJECT_LIST_LIMIT_MAX);
	if (in->cursor[0] && parse_cursor(in->cursor, &after_micros, after_id) != 0)
		return tm_rpc_field_error(call, "cursor", "is not a cursor this API returned");
	*out = &rep->base;
	if (store_list_projects(call->db, is_client(call) ? call->user_id : NULL,
				is_admin(call) || is_client(call) ? NULL : call->user_id, limit,
				after_micros, in->cursor[0] ? after_id : NULL, call->arena,
				rep) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	return TM_OK;
}

enum tm_code rpc_project_overview(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				  ProtobufCMessage **out)
{
	const Taskmesh__V1__ProjectOverviewRequest *in =
		(const Taskmesh__V1__ProjectOverviewRequest *)in_msg;
	Taskmesh__V1__ProjectsOverviewPart *part = tm_arena_alloc(call->arena, sizeof(*part));
	Taskmesh__V1__Project *p = NULL;

	if (!part)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	int rc = store_get_project(call->db, in->id, call->arena, &p);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1 || !rpc_may_see(call, p))
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s", in->id);
	Taskmesh__V1__ListTasksReply tasks = TASKMESH__V1__LIST_TASKS_REPLY__INIT;
	char *status = tm_arena_alloc(call->arena, 16);
	taskmesh__v1__projects_overview_part__init(part);
	if (!status)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	if (store_load_analysis(call->db, p, call->arena) != TM_DB_OK ||
	    store_list_tasks(call->db, in->id, call->arena, &tasks) != TM_DB_OK ||
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

enum tm_code rpc_list_tasks(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			    ProtobufCMessage **out)
{
	const Taskmesh__V1__ListTasksRequest *in = (const Taskmesh__V1__ListTasksRequest *)in_msg;
	Taskmesh__V1__ListTasksReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	Taskmesh__V1__Project *p = NULL;

	if (!rep)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__list_tasks_reply__init(rep);
	int rc = store_get_project(call->db, in->id, call->arena, &p);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1 || !rpc_may_see(call, p))
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s", in->id);
	if (store_list_tasks(call->db, in->id, call->arena, rep) != TM_DB_OK)
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

	int rc = store_get_project(call->db, in->id, call->arena, &p);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1 || !rpc_may_see(call, p) || strcmp(p->client_id, call->user_id) != 0)
		return tm_rpc_fail(call, TM_E_NOT_FOUND, "no project %s", in->id);
	if ((rc = store_restart_analysis(call->db, in->id)) < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1)
		return tm_rpc_fail(call, TM_E_CONFLICT,
				   "a project is re-analyzed only before a team is proposed");
	if (store_get_project(call->db, in->id, call->arena, &p) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	call->status = 202;
	*out = &p->base;
	return TM_OK;
}
