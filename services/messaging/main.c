/* tm-messaging: project chat, direct messages, notifications, e-mail. Wiring only. */
#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/members.h"
#include "tm/service.h"
#include "tm/util.h"

static const struct tm_rpc_method methods[] = {
	{"GetProjectOverview", &taskmesh__v1__project_overview_request__descriptor,
	 &taskmesh__v1__messaging_overview_part__descriptor, tm_members_overview_part, 0},
};

static const char *const topics[] = {"tm.identity.v1", "tm.projects.v1", "tm.payments.v1"};

static const struct tm_event_handler handlers[] = {
	{&taskmesh__v1__project_created__descriptor, tm_members_on_project_created},
	TM_MEMBERS_HANDLERS,
};

static const struct tm_service_def def = {
	.name = "messaging",
	.rpc_default = TM_RPC_DEFAULT_MESSAGING,
	.methods = methods,
	.nmethods = TM_ARRAY_LEN(methods),
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
	.handlers = handlers,
	.nhandlers = TM_ARRAY_LEN(handlers),
};

int main(int argc, char **argv)
{
	return tm_service_main(&def, argc, argv);
}
