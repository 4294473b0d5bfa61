/* tm-projects: projects, their analysis, tasks and progress. Wiring only. */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "projects.h"
#include "rpc.h"
#include "taskmesh/v1/events.pb-c.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "taskmesh/v1/projects.pb-c.h"
#include "tm/service.h"
#include "tm/util.h"

#define PB(m) &taskmesh__v1__##m##__descriptor
static const struct tm_rpc_method methods[] = {
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

/* Its own ProjectCreated queues the analysis; matching's TeamProposed arrives here too. */
static const char *const topics[] = {"tm.projects.v1", "tm.matching.v1"};

static const struct tm_event_handler handlers[] = {
	{PB(project_created), on_project_created},
	{PB(team_proposed), on_team_proposed},
	{PB(task_candidates), on_task_candidates},
};

static struct projects state;

static const struct tm_cfg_item config[] = {
	{"TM_AI_PROVIDER", TM_CFG_ENUM, "local", &state.cfg.ai_provider, 0, 0, "local|gemini",
	 false, "who analyzes briefs; gemini needs GEMINI_API_KEY and falls back to local"},
	{"GEMINI_API_KEY", TM_CFG_STRING, "", &state.cfg.gemini_key, 0, 512, NULL, true,
	 "Google Gemini API key (sent only in a header)"},
	{"TM_GEMINI_BASE_URL", TM_CFG_STRING, "https://generativelanguage.googleapis.com/v1beta",
	 &state.cfg.gemini_base_url, 1, 512, NULL, false, "Gemini REST endpoint"},
	{"TM_GEMINI_MODEL", TM_CFG_STRING, "gemini-2.0-flash", &state.cfg.gemini_model, 1, 128,
	 NULL, false, "model for analyses"},
	{"TM_GEMINI_TIMEOUT_MS", TM_CFG_INT, "30000", &state.cfg.gemini_timeout_ms, 1000, 300000,
	 NULL, false, "per attempt"},
	{"TM_GEMINI_ATTEMPTS", TM_CFG_INT, "3", &state.cfg.gemini_attempts, 1, 10, NULL, false,
	 "attempts on 429/5xx, with backoff"},
	{"TM_HOURLY_RATE_JUNIOR_CENTS", TM_CFG_INT, "3500", &state.cfg.rate_junior_cents, 1,
	 10000000, NULL, false, "estimate rate of junior tasks, per hour"},
	{"TM_HOURLY_RATE_MID_CENTS", TM_CFG_INT, "6000", &state.cfg.rate_mid_cents, 1, 10000000,
	 NULL, false, "estimate rate of mid-level tasks"},
	{"TM_HOURLY_RATE_SENIOR_CENTS", TM_CFG_INT, "9500", &state.cfg.rate_senior_cents, 1,
	 10000000, NULL, false, "estimate rate of senior tasks"},
	{"TM_TEAM_PARALLELISM", TM_CFG_INT, "3", &state.cfg.team_parallelism, 1, 32, NULL, false,
	 "developers working at once in timeline estimates"},
	{"TM_WEEKLY_HOURS", TM_CFG_INT, "40", &state.cfg.weekly_hours, 5, 80, NULL, false,
	 "each developer's weekly capacity in estimates"},
	{"TM_ANALYSIS_POLL_MS", TM_CFG_INT, "250", &state.cfg.analysis_poll_ms, 10, 60000, NULL,
	 false, "how often the analysis worker looks for queued projects"},
	{"TM_ANALYSIS_ATTEMPTS", TM_CFG_INT, "3", &state.cfg.analysis_attempts, 1, 20, NULL, false,
	 "attempts before a project becomes analysis_failed"},
};

static int init(struct tm_daemon *d, void **out, char *err, size_t errlen)
{
	struct projects *p = &state;
	p->conninfo = d->cfg.database_url;
	p->taxonomy = d->taxonomy;
	struct tm_ai_config ac = {.provider = p->cfg.ai_provider,
				  .gemini = {.base_url = p->cfg.gemini_base_url,
					     .api_key = p->cfg.gemini_key,
					     .model = p->cfg.gemini_model,
					     .embed_model = "text-embedding-004",
					     .timeout_ms = (int)p->cfg.gemini_timeout_ms,
					     .max_attempts = (int)p->cfg.gemini_attempts,
					     .backoff_base_ms = 500,
					     .backoff_cap_ms = 8000},
				  .taxonomy = p->taxonomy};
	tm_ai_init(&p->ai, &ac);
	p->rates = (struct estimate_rates){p->cfg.rate_junior_cents, p->cfg.rate_mid_cents,
					   p->cfg.rate_senior_cents};
	p->team = (struct estimate_team){(int)p->cfg.team_parallelism, (int)p->cfg.weekly_hours};
	if (analysis_worker_start(p, err, errlen) != 0)
		return -1;
	*out = p;
	return 0;
}

static void fini(void *s)
{
	struct projects *p = s;
	analysis_worker_stop(p);
	tm_ai_destroy(&p->ai);
}

static const struct tm_service_def def = {
	.name = "projects",
	.rpc_default = "tcp://127.0.0.1:7101",
	.methods = methods,
	.nmethods = TM_ARRAY_LEN(methods),
	.subscribe = topics,
	.nsubscribe = TM_ARRAY_LEN(topics),
	.handlers = handlers,
	.nhandlers = TM_ARRAY_LEN(handlers),
	.taxonomy = true,
	.config = config,
	.nconfig = TM_ARRAY_LEN(config),
	.init = init,
	.fini = fini,
};

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = tm_service_main(&def, argc, argv);
	curl_global_cleanup();
	return rc;
}
