/* tm-payments: escrowed milestone payments, payouts, disputes, the ledger. Wiring only; its methods and handlers arrive with its issue. */
#include "tm/service.h"
#include "tm/util.h"

static const char *const topics[] = {"tm.projects.v1"};

static const struct tm_service_def def = {
	.name = "payments",
	.rpc_default = "tcp://127.0.0.1:7103",
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
};

int main(int argc, char **argv)
{
	return tm_service_main(&def, argc, argv);
}
