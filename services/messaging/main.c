/* tm-messaging: project chat, direct messages, notifications, e-mail. Wiring only; its methods and handlers arrive with its issue. */
#include "tm/service.h"
#include "tm/util.h"

static const char *const topics[] = {"tm.identity.v1", "tm.projects.v1", "tm.payments.v1"};

static const struct tm_service_def def = {
	.name = "messaging",
	.rpc_default = "tcp://127.0.0.1:7104",
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
};

int main(int argc, char **argv)
{
	return tm_service_main(&def, argc, argv);
}
