/* tm-projects: projects, their analysis, tasks and progress. Wiring only. */
#include "rpc.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "taskmesh/v1/projects.pb-c.h"
#include "tm/service.h"
#include "tm/util.h"

static const struct tm_rpc_method methods[] = {
	{"CreateProject", &taskmesh__v1__create_project_request__descriptor,
	 &taskmesh__v1__project__descriptor, rpc_create_project, TM_RPC_IDEMPOTENT},
	{"GetProject", &taskmesh__v1__get_project_request__descriptor,
	 &taskmesh__v1__project__descriptor, rpc_get_project, 0},
	{"ListProjects", &taskmesh__v1__list_projects_request__descriptor,
	 &taskmesh__v1__list_projects_reply__descriptor, rpc_list_projects, 0},
	{"GetProjectOverview", &taskmesh__v1__project_overview_request__descriptor,
	 &taskmesh__v1__projects_overview_part__descriptor, rpc_project_overview, 0},
};

/* Its own events drive analysis (the project-analysis issue); matching's
 * TeamProposed arrives here too. */
static const char *const topics[] = {"tm.projects.v1", "tm.matching.v1"};

static const struct tm_service_def def = {
	.name = "projects",
	.rpc_default = "tcp://127.0.0.1:7101",
	.methods = methods,
	.nmethods = TM_ARRAY_LEN(methods),
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
};

int main(int argc, char **argv)
{
	return tm_service_main(&def, argc, argv);
}
