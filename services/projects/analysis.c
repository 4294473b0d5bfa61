/*
 * The analysis workers of tm-projects: take queued projects (queued with the
 * project itself, or by POST /projects/{id}/analyze), ask the AI layer outside
 * any transaction, then store the analysis, its tasks, the estimates and a
 * ProjectAnalyzed event in one transaction. A worker sleeps until a job is
 * queued in this process (analysis_kick, after the commit) or its next look
 * (TM_ANALYSIS_POLL_MS: jobs queued by another replica, retries falling due).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "announce.h"
#include "projects.h"
#include "store.h"
#include "tm/log.h"
#include "tm/util.h"

#define ANALYSIS_CLAIM_MAX 16	  /* jobs a worker leases at once: one round trip for many */
#define ANALYSIS_DB_RETRY_MS 5000 /* a job whose project could not be read runs again after */

/* Stores a finished analysis with its estimates and event, in one transaction.
 * Returns TM_DB_OK, TM_DB_NONE (the project moved on: result dropped) or < 0. */
static int save(struct projects *pr, struct tm_db *db, Taskmesh__V1__Project *p,
		const struct tm_ai_analysis *an, struct tm_arena *a)
{
	char ids[TM_AI_TASKS_MAX][TM_UUID_LEN + 1];
	int64_t budget = estimate_budget_cents(an->tasks, an->ntasks, &pr->rates);
	int32_t days = estimate_timeline_days(an->tasks, an->ntasks, &pr->team);
	if (budget < 0 || days < 0)
		return TM_DB_ERR; /* validated graphs and rates make this unreachable */
	if (tm_db_begin(db) != TM_DB_OK)
		return TM_DB_ERR;
	int rc = store_analysis_save(db, p->id, an, budget, days, ids);
	p->budget_estimate_cents = budget;
	p->timeline_estimate_days = days;
	if (rc == TM_DB_OK)
		rc = announce_project_analyzed(db, p, an, ids, a);
	if (rc < 0 || tm_db_commit(db) != TM_DB_OK) {
		tm_db_rollback(db);
		return TM_DB_ERR;
	}
	return rc;
}

/* Gives up on a project's analysis: analysis_failed with the reason, announced. */
static void give_up(struct tm_db *db, const Taskmesh__V1__Project *p, const char *reason)
{
	if (tm_db_begin(db) != TM_DB_OK)
		return;
	int rc = store_analysis_fail(db, p->id, reason);
	if (rc < 0 || (rc == TM_DB_OK && announce_analysis_failed(db, p, reason) != TM_DB_OK) ||
	    tm_db_commit(db) != TM_DB_OK)
		tm_db_rollback(db);
	tm_warn("analysis of project %s failed: %s", p->id, reason);
}

/* A failed attempt: again after a backoff, or analysis_failed after the last one. */
static void failed_attempt(struct projects *pr, struct tm_db *db, const Taskmesh__V1__Project *p,
			   int attempts, const char *client_reason, const char *log_reason)
{
	if (attempts >= pr->cfg.analysis_attempts) {
		give_up(db, p, client_reason);
		return;
	}
	store_job_retry_later(db, p->id,
			      tm_backoff_ms(attempts, pr->cfg.analysis_backoff_ms,
					    pr->cfg.analysis_backoff_max_ms) +
				      pr->cfg.analysis_backoff_ms / 2,
			      log_reason);
}

/* One job: analyze, store or retry. */
static void run_job(struct projects *pr, struct tm_db *db, const char *project_id, int attempts,
		    struct tm_arena *a)
{
	Taskmesh__V1__Project *p = NULL;
	struct tm_ai_analysis *an = NULL;
	bool visible;
	char err[320];

	int rc = store_project_get(db, project_id, NULL, a, &p, &visible);
	if (rc == TM_DB_NONE ||
	    (rc == TM_DB_OK &&
	     p->status != TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYZING)) {
		store_job_done(db, project_id); /* gone, or no longer waiting for an analysis */
	} else if (rc < 0) {
		store_job_retry_later(db, project_id, ANALYSIS_DB_RETRY_MS, tm_db_error(db));
	} else if (tm_ai_analyze(&pr->ai, db, p->title, p->description, a, &an, err, sizeof(err)) !=
		   0) {
		failed_attempt(pr, db, p, attempts, err, err);
	} else if (save(pr, db, p, an, a) < 0) {
		/* counted like a failed analysis: a store that keeps failing (a constraint,
		 * a full disk) must not retry for ever; the client is not shown the
		 * database's words, the log is */
		tm_warn("cannot store the analysis of %s (attempt %d of %lld): %s", project_id,
			attempts, (long long)pr->cfg.analysis_attempts, tm_db_error(db));
		failed_attempt(pr, db, p, attempts,
			       "the analysis could not be stored; ask for a new one",
			       tm_db_error(db));
	} else {
		tm_debug("project %s analyzed by %s (%zu tasks)%s%s", project_id, an->source,
			 an->ntasks, an->fallback_reason[0] ? "; fallback: " : "",
			 an->fallback_reason);
	}
}

/* Sleeps until a job is queued here, the worker stops, or poll_ms pass. */
static void wait_for_jobs(struct projects *pr, int64_t poll_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += poll_ms / 1000;
	until.tv_nsec += (poll_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pr->wake_lock);
	while (atomic_load(&pr->queued) == 0 && !atomic_load(&pr->stopping))
		if (pthread_cond_timedwait(&pr->wake, &pr->wake_lock, &until) == ETIMEDOUT)
			break;
	atomic_store(&pr->queued, 0);
	pthread_mutex_unlock(&pr->wake_lock);
}

void analysis_kick(struct projects *p)
{
	pthread_mutex_lock(&p->wake_lock);
	atomic_fetch_add(&p->queued, 1);
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->wake_lock);
}

static void *worker_main(void *arg)
{
	struct projects *pr = arg;
	struct tm_db *db = NULL;
	struct tm_arena *a = tm_arena_new(0);
	char err[256], ids[ANALYSIS_CLAIM_MAX][TM_UUID_LEN + 1];
	int attempts[ANALYSIS_CLAIM_MAX];

	if (!a || tm_db_open(&db, pr->conninfo, PROJECTS_SCHEMA, err, sizeof(err)) != 0) {
		tm_error("analysis worker: cannot start: %s", a ? err : "out of memory");
		tm_arena_free(a);
		return NULL;
	}
	while (!atomic_load(&pr->stopping)) {
		int n = 0;
		int rc = store_jobs_claim(db, ANALYSIS_CLAIM_MAX, ids, attempts, &n);
		int done = 0;
		for (; done < n && !atomic_load(&pr->stopping); done++) {
			run_job(pr, db, ids[done], attempts[done], a);
			tm_arena_reset(a);
		}
		if (done < n) /* stopping: the rest of the batch is due again at once */
			store_jobs_release(db, ids + done, n - done);
		if (rc == TM_DB_OK && n == ANALYSIS_CLAIM_MAX)
			continue; /* more may be waiting */
		if (rc != TM_DB_OK)
			tm_sleep_ms(1000);
		else if (n == 0)
			wait_for_jobs(pr, pr->cfg.analysis_poll_ms);
	}
	tm_db_close(db);
	tm_arena_free(a);
	return NULL;
}

int analysis_workers_start(struct projects *p, char *err, size_t errlen)
{
	int want = (int)p->cfg.analysis_workers;
	pthread_mutex_init(&p->wake_lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (want > PROJECTS_ANALYSIS_WORKERS_MAX)
		want = PROJECTS_ANALYSIS_WORKERS_MAX;
	for (p->nworkers = 0; p->nworkers < want; p->nworkers++) {
		if (pthread_create(&p->workers[p->nworkers], NULL, worker_main, p) != 0) {
			snprintf(err, errlen, "cannot start the analysis workers");
			analysis_workers_stop(p);
			return -1;
		}
	}
	return 0;
}

void analysis_workers_stop(struct projects *p)
{
	atomic_store(&p->stopping, true);
	pthread_mutex_lock(&p->wake_lock);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->wake_lock);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	p->nworkers = 0;
}
