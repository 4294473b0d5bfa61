/* tm-learning: learning paths, courses, credits, shadowing, community events. Wiring only; its methods and handlers arrive with its issue. */
#include "tm/service.h"
#include "tm/util.h"

static const char *const topics[] = {"tm.projects.v1", "tm.matching.v1"};

static const struct tm_service_def def = {
	.name = "learning",
	.rpc_default = "tcp://127.0.0.1:7105",
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
};

int main(int argc, char **argv)
{
	return tm_service_main(&def, argc, argv);
}
