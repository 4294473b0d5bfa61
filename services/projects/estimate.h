/* Budget and timeline estimates from an analysis's tasks: plain functions,
 * no I/O, so unit tests reach them directly. */
#ifndef TM_PROJECTS_ESTIMATE_H
#define TM_PROJECTS_ESTIMATE_H

#include <stddef.h>
#include <stdint.h>

#include "tm/ai.h"

struct estimate_rates {
	int64_t junior_cents; /* per hour, in the project's currency */
	int64_t mid_cents;
	int64_t senior_cents;
};

struct estimate_team {
	int parallelism;  /* developers working at once */
	int weekly_hours; /* each one's capacity; a working day is a fifth of it */
};

/* Σ hours × the rate of the task's level, in cents. -1 if a level is unknown
 * or the sum would overflow. */
int64_t estimate_budget_cents(const struct tm_ai_task *tasks, size_t n,
			      const struct estimate_rates *r);

/*
 * Calendar days to finish: the tasks are scheduled in dependency order on
 * `parallelism` developers (each task starts when its dependencies are done
 * and a developer is free), the makespan in hours becomes working days of
 * weekly_hours/5 hours, and working days become calendar days (5 of 7).
 * At least the critical path, at most the serial sum. -1 if the graph is
 * invalid.
 */
int32_t estimate_timeline_days(const struct tm_ai_task *tasks, size_t n,
			       const struct estimate_team *team);

/* The length in hours of the longest dependency chain (unlimited developers). */
int64_t estimate_critical_path_hours(const struct tm_ai_task *tasks, size_t n);

#endif
