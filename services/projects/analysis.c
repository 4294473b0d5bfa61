/*
 * The analysis worker of tm-projects: takes queued projects (from their own
 * ProjectCreated event, or POST /projects/{id}/analyze), asks the AI layer
 * outside any transaction, then stores the analysis, its tasks, the estimates
 * and a ProjectAnalyzed event in one transaction.
 */
#include <stdio.h>
#include <string.h>

#include "projects.h"
#include "store.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/log.h"
#include "tm/outbox.h"
#include "tm/util.h"

#define PROJECTS_TOPIC "tm.projects.v1"
#define PROJECTS_SOURCE "tm-projects"

int on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProjectCreated *ev = (const Taskmesh__V1__ProjectCreated *)body;
	return store_job_enqueue(ctx->db, ev->project_id) == TM_DB_OK ? 0 : -1;
}

/* ProjectAnalyzed with the tasks as stored, into the outbox. */
static int announce(struct tm_db *db, const Taskmesh__V1__Project *p,
		    const struct tm_ai_analysis *an, char ids[][40], struct tm_arena *a)
{
	Taskmesh__V1__ProjectAnalyzed ev = TASKMESH__V1__PROJECT_ANALYZED__INIT;
	Taskmesh__V1__TaskSpec **specs = tm_arena_alloc(a, (an->ntasks + 1) * sizeof(*specs));
	if (!specs)
		return TM_DB_ERR;
	for (size_t i = 0; i < an->ntasks; i++) {
		const struct tm_ai_task *t = &an->tasks[i];
		Taskmesh__V1__TaskSpec *s = tm_arena_alloc(a, sizeof(*s));
		if (!s)
			return TM_DB_ERR;
		taskmesh__v1__task_spec__init(s);
		s->task_id = ids[i];
		s->key = (char *)t->key;
		s->title = t->title;
		s->n_required_skills = t->nskills;
		s->required_skills = t->skills;
		s->estimated_hours = t->hours;
		s->priority = (char *)t->priority;
		s->level = (char *)t->level;
		s->n_depends_on = t->ndepends;
		s->depends_on = t->depends_on;
		specs[i] = s;
	}
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.summary = an->summary;
	ev.project_type = (char *)an->project_type;
	ev.complexity = (char *)an->complexity;
	ev.n_required_skills = an->nskills;
	ev.required_skills = an->required_skills;
	ev.n_tasks = an->ntasks;
	ev.tasks = specs;
	ev.budget_estimate_cents = p->budget_estimate_cents;
	ev.currency = p->currency;
	ev.timeline_estimate_days = p->timeline_estimate_days;
	ev.source = (char *)an->source;
	return tm_outbox_add(db, PROJECTS_TOPIC, p->id, &ev.base, PROJECTS_SOURCE, NULL, NULL);
}

/* Stores a finished analysis with its estimates and event, in one transaction. */
static int save(struct projects *pr, struct tm_db *db, Taskmesh__V1__Project *p,
		const struct tm_ai_analysis *an, struct tm_arena *a)
{
	char ids[TM_AI_TASKS_MAX][40];
	int64_t budget = estimate_budget_cents(an->tasks, an->ntasks, &pr->rates);
	int32_t days = estimate_timeline_days(an->tasks, an->ntasks, &pr->team);
	if (budget < 0 || days < 0)
		return TM_DB_ERR; /* validated graphs and rates make this unreachable */
	if (tm_db_begin(db) != TM_DB_OK)
		return TM_DB_ERR;
	int rc = store_save_analysis(db, p->id, an, budget, days, ids);
	p->budget_estimate_cents = budget;
	p->timeline_estimate_days = days;
	if (rc == TM_DB_OK)
		rc = announce(db, p, an, ids, a);
	if (rc == TM_DB_OK || rc == 1)
		rc = store_job_done(db, p->id) == TM_DB_OK ? rc : TM_DB_ERR;
	if (rc < 0 || tm_db_commit(db) != TM_DB_OK) {
		tm_db_rollback(db);
		return TM_DB_ERR;
	}
	return rc;
}

/* Gives up on a project's analysis: analysis_failed with the reason, announced. */
static void give_up(struct tm_db *db, const Taskmesh__V1__Project *p, const char *reason)
{
	Taskmesh__V1__ProjectAnalysisFailed ev = TASKMESH__V1__PROJECT_ANALYSIS_FAILED__INIT;
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.reason = (char *)reason;
	if (tm_db_begin(db) != TM_DB_OK)
		return;
	int rc = store_fail_analysis(db, p->id, reason);
	if ((rc == TM_DB_OK && tm_outbox_add(db, PROJECTS_TOPIC, p->id, &ev.base, PROJECTS_SOURCE,
					     NULL, NULL) != TM_DB_OK) ||
	    rc < 0 || store_job_done(db, p->id) != TM_DB_OK || tm_db_commit(db) != TM_DB_OK)
		tm_db_rollback(db);
	tm_warn("analysis of project %s failed: %s", p->id, reason);
}

/* One job: analyze, store or retry. */
static void run_job(struct projects *pr, struct tm_db *db, const char *project_id, int attempts)
{
	struct tm_arena *a = tm_arena_new(0);
	Taskmesh__V1__Project *p = NULL;
	struct tm_ai_analysis *an = NULL;
	char err[320];

	if (!a)
		return;
	int rc = store_get_project(db, project_id, a, &p);
	if (rc == 1 ||
	    (rc == 0 && p->status != TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYZING)) {
		store_job_done(db, project_id); /* gone, or no longer waiting for an analysis */
	} else if (rc < 0) {
		store_job_retry_later(db, project_id, 5, tm_db_error(db));
	} else if (tm_ai_analyze(&pr->ai, db, p->title, p->description, a, &an, err, sizeof(err)) !=
		   0) {
		if (attempts >= pr->cfg.analysis_attempts)
			give_up(db, p, err);
		else
			store_job_retry_later(db, project_id,
					      tm_backoff_ms(attempts, 2000, 60000) / 1000 + 1, err);
	} else if (save(pr, db, p, an, a) < 0) {
		/* counted like a failed analysis: a store that keeps failing (a constraint,
		 * a full disk) must not retry for ever; the client is not shown the
		 * database's words, the log is */
		tm_warn("cannot store the analysis of %s (attempt %d of %lld): %s", project_id,
			attempts, (long long)pr->cfg.analysis_attempts, tm_db_error(db));
		if (attempts >= pr->cfg.analysis_attempts)
			give_up(db, p, "the analysis could not be stored; ask for a new one");
		else
			store_job_retry_later(db, project_id,
					      tm_backoff_ms(attempts, 2000, 60000) / 1000 + 1,
					      tm_db_error(db));
	} else {
		tm_info("project %s analyzed by %s (%zu tasks)%s%s", project_id, an->source,
			an->ntasks, an->fallback_reason[0] ? "; fallback: " : "",
			an->fallback_reason);
	}
	tm_arena_free(a);
}

static void *worker_main(void *arg)
{
	struct projects *pr = arg;
	struct tm_db *db = NULL;
	char err[256], project_id[40];
	int attempts = 0;

	if (tm_db_open(&db, pr->conninfo, "projects", err, sizeof(err)) != 0) {
		tm_error("analysis worker: cannot connect: %s", err);
		return NULL;
	}
	while (!atomic_load(&pr->stopping)) {
		int rc = store_job_claim(db, project_id, &attempts);
		if (rc == 0) {
			run_job(pr, db, project_id, attempts);
			continue;
		}
		tm_sleep_ms(rc < 0 ? 1000 : pr->cfg.analysis_poll_ms);
	}
	tm_db_close(db);
	return NULL;
}

int analysis_worker_start(struct projects *p, char *err, size_t errlen)
{
	if (pthread_create(&p->worker, NULL, worker_main, p) != 0) {
		snprintf(err, errlen, "cannot start the analysis worker");
		return -1;
	}
	p->worker_started = true;
	return 0;
}

void analysis_worker_stop(struct projects *p)
{
	atomic_store(&p->stopping, true);
	if (p->worker_started)
		pthread_join(p->worker, NULL);
	p->worker_started = false;
}
