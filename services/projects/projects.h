/* tm-projects' state and the names its files share: settings, the taxonomy,
 * the AI layer, the analysis worker. */
#ifndef TM_PROJECTS_H
#define TM_PROJECTS_H

#include <pthread.h>
#include <stdatomic.h>

#include "estimate.h"
#include "tm/ai.h"
#include "tm/service.h"
#include "tm/taxonomy.h"

#define PROJECTS_TOPIC "tm.projects.v1" /* what tm-projects publishes */
#define PROJECTS_SOURCE "tm-projects"	/* Event.source of its events */
#define PROJECTS_SCHEMA "projects"

struct projects_config {
	const char *ai_provider;	/* TM_AI_PROVIDER: local | gemini */
	const char *gemini_key;		/* GEMINI_API_KEY (secret) */
	const char *gemini_base_url;	/* TM_GEMINI_BASE_URL */
	const char *gemini_model;	/* TM_GEMINI_MODEL */
	const char *gemini_embed_model; /* TM_GEMINI_EMBED_MODEL */
	int64_t gemini_timeout_ms;	/* TM_GEMINI_TIMEOUT_MS, per attempt */
	int64_t gemini_attempts;	/* TM_GEMINI_ATTEMPTS */
	int64_t gemini_backoff_ms;	/* TM_GEMINI_BACKOFF_MS: first pause between attempts */
	int64_t gemini_backoff_max_ms;	/* TM_GEMINI_BACKOFF_MAX_MS */
	int64_t rate_junior_cents, rate_mid_cents, rate_senior_cents; /* TM_HOURLY_RATE_*_CENTS */
	int64_t team_parallelism;				      /* TM_TEAM_PARALLELISM */
	int64_t weekly_hours;					      /* TM_WEEKLY_HOURS */
	int64_t analysis_poll_ms;	 /* TM_ANALYSIS_POLL_MS: the worker's look when idle */
	int64_t analysis_attempts;	 /* TM_ANALYSIS_ATTEMPTS before analysis_failed */
	int64_t analysis_backoff_ms;	 /* TM_ANALYSIS_BACKOFF_MS: first retry pause */
	int64_t analysis_backoff_max_ms; /* TM_ANALYSIS_BACKOFF_MAX_MS */
	int64_t analysis_workers;	 /* TM_ANALYSIS_WORKERS: threads analyzing */
};

#define PROJECTS_ANALYSIS_WORKERS_MAX 16

struct projects {
	struct projects_config cfg;
	const char *conninfo;
	const struct tm_taxonomy *taxonomy; /* the daemon's (tm_service_def.taxonomy) */
	struct tm_ai ai;
	struct estimate_rates rates;
	struct estimate_team team;
	pthread_t workers[PROJECTS_ANALYSIS_WORKERS_MAX];
	int nworkers; /* started */
	atomic_bool stopping;
	/* wakes the analysis workers when a job is queued in this process */
	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	atomic_uint queued; /* jobs queued since the workers last looked */
};

/* analysis.c: the analysis workers. */
int analysis_workers_start(struct projects *p, char *err, size_t errlen);
void analysis_workers_stop(struct projects *p);
/* A job was queued (after its transaction committed): a worker takes it now. */
void analysis_kick(struct projects *p);

#endif
