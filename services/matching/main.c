/* tm-matching: developer profiles, the hybrid matcher, team proposals. Wiring only. */
#include "events.h"
#include "skills.h"
#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/members.h"
#include "tm/service.h"
#include "tm/util.h"

static const struct tm_rpc_method methods[] = {
	{"GetProjectOverview", &taskmesh__v1__project_overview_request__descriptor,
	 &taskmesh__v1__matching_overview_part__descriptor, tm_members_overview_part, 0},
	/* in memory only: answered on the receiving thread */
	{"SearchSkills", &taskmesh__v1__search_skills_request__descriptor,
	 &taskmesh__v1__search_skills_reply__descriptor, rpc_search_skills, TM_RPC_INLINE},
};

static const char *const topics[] = {"tm.projects.v1", "tm.identity.v1", "tm.learning.v1"};

static const struct tm_event_handler handlers[] = {
	{&taskmesh__v1__project_created__descriptor, on_project_created},
	TM_MEMBERS_HANDLERS,
};

static struct matching state;

static int init(struct tm_daemon *d, void **out, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	state.taxonomy = d->taxonomy;
	*out = &state;
	return 0;
}

static const struct tm_service_def def = {
	.name = "matching",
	.rpc_default = TM_RPC_DEFAULT_MATCHING,
	.methods = methods,
	.nmethods = TM_ARRAY_LEN(methods),
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
	.handlers = handlers,
	.nhandlers = TM_ARRAY_LEN(handlers),
	.taxonomy = true,
	.init = init,
};

int main(int argc, char **argv)
{
	return tm_service_main(&def, argc, argv);
}
