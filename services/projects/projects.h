/* tm-projects' state: settings, the taxonomy, the AI layer and the analysis worker. */
#ifndef TM_PROJECTS_H
#define TM_PROJECTS_H

#include <pthread.h>
#include <stdatomic.h>

#include "estimate.h"
#include "tm/ai.h"
#include "tm/service.h"
#include "tm/taxonomy.h"

struct projects_config {
	const char *ai_provider;     /* TM_AI_PROVIDER: local | gemini */
	const char *gemini_key;	     /* GEMINI_API_KEY (secret) */
	const char *gemini_base_url; /* TM_GEMINI_BASE_URL */
	const char *gemini_model;    /* TM_GEMINI_MODEL */
	int64_t gemini_timeout_ms;   /* TM_GEMINI_TIMEOUT_MS, per attempt */
	int64_t gemini_attempts;     /* TM_GEMINI_ATTEMPTS */
	int64_t rate_junior_cents, rate_mid_cents, rate_senior_cents; /* TM_HOURLY_RATE_*_CENTS */
	int64_t team_parallelism;				      /* TM_TEAM_PARALLELISM */
	int64_t weekly_hours;					      /* TM_WEEKLY_HOURS */
	int64_t analysis_poll_ms;				      /* TM_ANALYSIS_POLL_MS */
	int64_t analysis_attempts; /* TM_ANALYSIS_ATTEMPTS before analysis_failed */
};

struct projects {
	struct projects_config cfg;
	const char *conninfo;
	const struct tm_taxonomy *taxonomy; /* the daemon's (tm_service_def.taxonomy) */
	struct tm_ai ai;
	struct estimate_rates rates;
	struct estimate_team team;
	pthread_t worker;
	bool worker_started;
	atomic_bool stopping;
};

/* analysis.c */
int analysis_worker_start(struct projects *p, char *err, size_t errlen);
void analysis_worker_stop(struct projects *p);
/* Event handler: a new project queues its analysis. */
int on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* team.c: matching proposed a team. */
int on_team_proposed(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* Matching's fresh candidates for a task no one is left to take: offered to the best. */
int on_task_candidates(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

#endif
