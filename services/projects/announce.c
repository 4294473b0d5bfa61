/* tm-projects' events into the outbox; see announce.h. */
#include <string.h>

#include "announce.h"
#include "project.h"
#include "projects.h"
#include "tm/outbox.h"
#include "tm/util.h"

/* Every event of tm-projects is keyed by its project, so one project's events stay in order. */
static int put(struct tm_db *db, const char *project_id, const ProtobufCMessage *ev,
	       const char *trace)
{
	return tm_outbox_add(db, PROJECTS_TOPIC, project_id, ev, PROJECTS_SOURCE, trace, NULL);
}

int announce_project_created(struct tm_db *db, const Taskmesh__V1__Project *p, const char *trace)
{
	Taskmesh__V1__ProjectCreated ev = TASKMESH__V1__PROJECT_CREATED__INIT;
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.title = p->title;
	ev.description = p->description;
	ev.budget_cap_cents = p->budget_cap_case ? p->budget_cap_cents : 0;
	ev.currency = p->currency;
	ev.deadline = p->deadline;
	ev.created_at = p->created_at;
	return put(db, p->id, &ev.base, trace);
}

int announce_project_analyzed(struct tm_db *db, const Taskmesh__V1__Project *p,
			      const struct tm_ai_analysis *an, char ids[][TM_UUID_LEN + 1],
			      struct tm_arena *a)
{
	Taskmesh__V1__ProjectAnalyzed ev = TASKMESH__V1__PROJECT_ANALYZED__INIT;
	Taskmesh__V1__TaskSpec **specs = tm_arena_alloc(a, (an->ntasks + 1) * sizeof(*specs));
	Taskmesh__V1__TaskSpec *s = tm_arena_alloc(a, (an->ntasks + 1) * sizeof(*s));

	if (!specs || !s)
		return TM_DB_ERR;
	for (size_t i = 0; i < an->ntasks; i++) {
		const struct tm_ai_task *t = &an->tasks[i];
		taskmesh__v1__task_spec__init(&s[i]);
		s[i].task_id = ids[i];
		s[i].key = (char *)t->key;
		s[i].title = t->title;
		s[i].n_required_skills = t->nskills;
		s[i].required_skills = t->skills;
		s[i].estimated_hours = t->hours;
		s[i].priority = (char *)t->priority;
		s[i].level = (char *)t->level;
		s[i].n_depends_on = t->ndepends;
		s[i].depends_on = t->depends_on;
		specs[i] = &s[i];
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
	return put(db, p->id, &ev.base, NULL);
}

int announce_analysis_failed(struct tm_db *db, const Taskmesh__V1__Project *p, const char *reason)
{
	Taskmesh__V1__ProjectAnalysisFailed ev = TASKMESH__V1__PROJECT_ANALYSIS_FAILED__INIT;
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.reason = (char *)reason;
	return put(db, p->id, &ev.base, NULL);
}

int announce_proposal_approved(struct tm_db *db, const Taskmesh__V1__Project *p,
			       const Taskmesh__V1__Proposal *pr, const char *trace,
			       struct tm_arena *a)
{
	Taskmesh__V1__ProposalApproved ev = TASKMESH__V1__PROPOSAL_APPROVED__INIT;
	Taskmesh__V1__MilestonePlan plans[4], *pp[4];
	Taskmesh__V1__TeamAssignment *as = tm_arena_alloc(a, (pr->n_assignments + 1) * sizeof(*as));
	Taskmesh__V1__TeamAssignment **ap =
		tm_arena_alloc(a, (pr->n_assignments + 1) * sizeof(*ap));
	int64_t amounts[4];
	char now[32];

	if (!as || !ap)
		return TM_DB_ERR;
	project_milestone_amounts(pr->total_cost_cents, amounts);
	for (int i = 0; i < 4; i++) {
		taskmesh__v1__milestone_plan__init(&plans[i]);
		plans[i].percentage = 25 * (i + 1);
		plans[i].amount_cents = amounts[i];
		pp[i] = &plans[i];
	}
	for (size_t i = 0; i < pr->n_assignments; i++) {
		taskmesh__v1__team_assignment__init(&as[i]);
		as[i].task_id = pr->assignments[i]->task_id;
		as[i].developer_id = pr->assignments[i]->developer_id;
		as[i].match_score = pr->assignments[i]->match_score;
		ap[i] = &as[i];
	}
	tm_rfc3339(tm_now_ms(), now);
	ev.project_id = p->id;
	ev.client_id = p->client_id;
	ev.proposal_id = pr->proposal_id;
	ev.senior_developer_id = pr->senior_developer_id;
	ev.n_assignments = pr->n_assignments;
	ev.assignments = ap;
	ev.budget_cents = pr->total_cost_cents;
	ev.currency = pr->currency;
	ev.n_milestones = 4;
	ev.milestones = pp;
	ev.approved_at = now;
	return put(db, p->id, &ev.base, trace);
}

int announce_task_accepted(struct tm_db *db, const Taskmesh__V1__Task *t, const char *developer_id,
			   const char *trace)
{
	Taskmesh__V1__TaskAccepted ev = TASKMESH__V1__TASK_ACCEPTED__INIT;
	ev.project_id = t->project_id;
	ev.task_id = t->id;
	ev.developer_id = (char *)developer_id;
	return put(db, t->project_id, &ev.base, trace);
}

int announce_task_declined(struct tm_db *db, const Taskmesh__V1__Task *t, const char *developer_id,
			   const char *next, const char *trace)
{
	Taskmesh__V1__TaskDeclined ev = TASKMESH__V1__TASK_DECLINED__INIT;
	ev.project_id = t->project_id;
	ev.task_id = t->id;
	ev.developer_id = (char *)developer_id;
	ev.n_required_skills = t->n_required_skills;
	ev.required_skills = t->required_skills;
	ev.offered_to = (char *)next;
	return put(db, t->project_id, &ev.base, trace);
}

int announce_task_offered(struct tm_db *db, const char *project_id, const char *task_id,
			  const char *developer_id, const char *trace)
{
	Taskmesh__V1__TaskOffered ev = TASKMESH__V1__TASK_OFFERED__INIT;
	ev.project_id = (char *)project_id;
	ev.task_id = (char *)task_id;
	ev.developer_id = (char *)developer_id;
	return put(db, project_id, &ev.base, trace);
}

int announce_offer_changes(struct tm_db *db, const char *project_id,
			   const struct offer_change *changes, size_t n, const char *trace)
{
	int rc = TM_DB_OK;
	for (size_t i = 0; rc == TM_DB_OK && i < n; i++) {
		const struct offer_change *c = &changes[i];
		if (c->before[0]) {
			Taskmesh__V1__TaskOfferWithdrawn ev =
				TASKMESH__V1__TASK_OFFER_WITHDRAWN__INIT;
			ev.project_id = (char *)project_id;
			ev.task_id = (char *)c->task_id;
			ev.developer_id = (char *)c->before;
			rc = put(db, project_id, &ev.base, trace);
		}
		if (rc == TM_DB_OK && c->after[0])
			rc = announce_task_offered(db, project_id, c->task_id, c->after, trace);
	}
	return rc;
}

int announce_milestone_reached(struct tm_db *db, const char *project_id, int percentage,
			       const char *when, const char *trace)
{
	Taskmesh__V1__MilestoneReached ev = TASKMESH__V1__MILESTONE_REACHED__INIT;
	ev.project_id = (char *)project_id;
	ev.percentage = percentage;
	ev.reached_at = (char *)when;
	return put(db, project_id, &ev.base, trace);
}

int announce_project_completed(struct tm_db *db, const char *project_id, const char *client_id,
			       const char *when, const char *trace)
{
	Taskmesh__V1__ProjectCompleted ev = TASKMESH__V1__PROJECT_COMPLETED__INIT;
	ev.project_id = (char *)project_id;
	ev.client_id = (char *)client_id;
	ev.completed_at = (char *)when;
	return put(db, project_id, &ev.base, trace);
}
