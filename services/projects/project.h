/* Project rules of tm-projects: validation and normalization of what clients
 * send, as plain functions (no I/O) so unit tests reach them directly. */
#ifndef TM_PROJECTS_PROJECT_H
#define TM_PROJECTS_PROJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "taskmesh/v1/projects.pb-c.h"

#define PROJECT_TITLE_MAX_CHARS 200
#define PROJECT_DESCRIPTION_MAX_CHARS 20000

struct field_error {
	const char *field; /* lowerCamelCase JSON name */
	const char *description;
};

/* A validated CreateProjectRequest; strings point into the request (trimmed
 * copies are written to the request's own buffers). */
struct new_project {
	const char *title;
	const char *description;
	bool has_budget_cap;
	int64_t budget_cap_cents;
	char currency[4];
	bool has_deadline;
	int64_t deadline_unix_ms;
};

/*
 * Validates and normalizes a create request at time `now_ms`: title and
 * description trimmed and non-empty within their limits, budget cap > 0 when
 * given, currency three upper-case letters (default USD), deadline an RFC 3339
 * time in the future. Trims `in`'s strings in place. Returns the number of
 * errors written to errs (at most maxerrs); 0 means *out is filled.
 */
int project_validate_create(Taskmesh__V1__CreateProjectRequest *in, int64_t now_ms,
			    struct new_project *out, struct field_error *errs, int maxerrs);

/* Trims ASCII whitespace at both ends of s in place; returns s. */
char *project_trim(char *s);

/* Project status name -> enum ("analyzing" -> PROJECT_STATUS_ANALYZING). */
Taskmesh__V1__ProjectStatus project_status_from_db(const char *s);
/* Task status name <-> enum ("in_progress" <-> TASK_STATUS_IN_PROGRESS); an
 * unknown name is UNSPECIFIED, an unknown value "". */
Taskmesh__V1__TaskStatus project_task_status_from_db(const char *s);
const char *project_task_status_name(Taskmesh__V1__TaskStatus s);

/* Completion of a project in whole percent, weighted by task hours:
 * floor(Σ hours × completion / Σ hours); 0 for no hours. */
int project_progress_percent(const int32_t *hours, const int32_t *completion, size_t n);

/* The escrow basis of an approved budget: four milestones of 25 % each, the
 * rounding remainder on the last, so the amounts sum to total exactly. */
void project_milestone_amounts(int64_t total_cents, int64_t out[4]);

/* May a task go from one status to another by its developer's hand?
 * assigned -> in_progress -> review -> done, review -> in_progress (rework);
 * the same status is allowed (a progress update). */
bool project_task_transition_ok(const char *from, const char *to);

#endif
