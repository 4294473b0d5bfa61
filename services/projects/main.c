/* tm-projects: projects, their analysis, tasks and progress. Wiring only:
 * settings here, methods in rpc.c, event handlers in events.c. */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "events.h"
#include "projects.h"
#include "rpc.h"
#include "tm/service.h"
#include "tm/util.h"

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
	{"TM_GEMINI_EMBED_MODEL", TM_CFG_STRING, "text-embedding-004",
	 &state.cfg.gemini_embed_model, 1, 128, NULL, false, "model for embeddings"},
	{"TM_GEMINI_TIMEOUT_MS", TM_CFG_INT, "30000", &state.cfg.gemini_timeout_ms, 1000, 300000,
	 NULL, false, "per attempt"},
	{"TM_GEMINI_ATTEMPTS", TM_CFG_INT, "3", &state.cfg.gemini_attempts, 1, 10, NULL, false,
	 "attempts on 429/5xx, with backoff"},
	{"TM_GEMINI_BACKOFF_MS", TM_CFG_INT, "500", &state.cfg.gemini_backoff_ms, 10, 60000, NULL,
	 false, "first pause between Gemini attempts (doubles, with jitter)"},
	{"TM_GEMINI_BACKOFF_MAX_MS", TM_CFG_INT, "8000", &state.cfg.gemini_backoff_max_ms, 10,
	 600000, NULL, false, "longest pause between Gemini attempts"},
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
	{"TM_ANALYSIS_WORKERS", TM_CFG_INT, "2", &state.cfg.analysis_workers, 1,
	 PROJECTS_ANALYSIS_WORKERS_MAX, NULL, false,
	 "analysis threads, each with a PostgreSQL connection (one per core: the local "
	 "analyzer is quick, the database round trips are what a second one overlaps)"},
	{"TM_ANALYSIS_POLL_MS", TM_CFG_INT, "250", &state.cfg.analysis_poll_ms, 10, 60000, NULL,
	 false, "how often an idle worker looks for jobs it was not told of (retries, replicas)"},
	{"TM_ANALYSIS_ATTEMPTS", TM_CFG_INT, "3", &state.cfg.analysis_attempts, 1, 20, NULL, false,
	 "attempts before a project becomes analysis_failed"},
	{"TM_ANALYSIS_BACKOFF_MS", TM_CFG_INT, "2000", &state.cfg.analysis_backoff_ms, 10, 600000,
	 NULL, false, "first pause before a failed analysis is tried again (doubles, with jitter)"},
	{"TM_ANALYSIS_BACKOFF_MAX_MS", TM_CFG_INT, "60000", &state.cfg.analysis_backoff_max_ms, 10,
	 3600000, NULL, false, "longest pause before a failed analysis is tried again"},
};

static int init(struct tm_daemon *d, void **out, char *err, size_t errlen)
{
	struct projects *p = &state;
	const struct projects_config *c = &p->cfg;
	p->conninfo = d->cfg.database_url;
	p->taxonomy = d->taxonomy;
	struct tm_ai_config ac = {.provider = c->ai_provider,
				  .gemini = {.base_url = c->gemini_base_url,
					     .api_key = c->gemini_key,
					     .model = c->gemini_model,
					     .embed_model = c->gemini_embed_model,
					     .timeout_ms = (int)c->gemini_timeout_ms,
					     .max_attempts = (int)c->gemini_attempts,
					     .backoff_base_ms = (int)c->gemini_backoff_ms,
					     .backoff_cap_ms = (int)c->gemini_backoff_max_ms},
				  .taxonomy = p->taxonomy};
	tm_ai_init(&p->ai, &ac);
	p->rates = (struct estimate_rates){c->rate_junior_cents, c->rate_mid_cents,
					   c->rate_senior_cents};
	p->team = (struct estimate_team){(int)c->team_parallelism, (int)c->weekly_hours};
	if (analysis_workers_start(p, err, errlen) != 0)
		return -1;
	*out = p;
	return 0;
}

static void fini(void *s)
{
	struct projects *p = s;
	analysis_workers_stop(p);
	tm_ai_destroy(&p->ai);
}

int main(int argc, char **argv)
{
	const struct tm_service_def def = {
		.name = PROJECTS_SCHEMA,
		.rpc_default = TM_RPC_DEFAULT_PROJECTS,
		.methods = projects_methods,
		.nmethods = projects_nmethods,
		.subscribe = projects_topics,
		.nsubscribe = projects_ntopics,
		.handlers = projects_handlers,
		.nhandlers = projects_nhandlers,
		.taxonomy = true,
		.config = config,
		.nconfig = TM_ARRAY_LEN(config),
		.init = init,
		.fini = fini,
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = tm_service_main(&def, argc, argv);
	curl_global_cleanup();
	return rc;
}
