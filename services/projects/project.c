/* Project rules; see project.h. */
#include <ctype.h>
#include <string.h>

#include "project.h"
#include "tm/util.h"

char *project_trim(char *s)
{
	size_t n = strlen(s), start = 0;

	if (n == 0)
		return s; /* may be protobuf-c's shared, read-only empty string */
	while (start < n && isspace((unsigned char)s[start]))
		start++;
	while (n > start && isspace((unsigned char)s[n - 1]))
		n--;
	if (start == 0 && n == strlen(s))
		return s;
	memmove(s, s + start, n - start);
	s[n - start] = '\0';
	return s;
}

static int add_error(struct field_error *errs, int n, int max, const char *field, const char *desc)
{
	if (n < max) {
		errs[n].field = field;
		errs[n].description = desc;
	}
	return n + 1;
}

/* Checks one required text field; returns the updated error count. */
static int check_text(char *s, const char *field, size_t max_chars, const char *too_long,
		      struct field_error *errs, int n, int max)
{
	project_trim(s);
	if (!s[0])
		return add_error(errs, n, max, field, "must not be empty");
	if (tm_utf8_len(s, strlen(s)) > max_chars)
		return add_error(errs, n, max, field, too_long);
	return n;
}

int project_validate_create(Taskmesh__V1__CreateProjectRequest *in, int64_t now_ms,
			    struct new_project *out, struct field_error *errs, int maxerrs)
{
	int n = 0;

	memset(out, 0, sizeof(*out));
	n = check_text(in->title, "title", PROJECT_TITLE_MAX_CHARS,
		       "must be at most 200 characters", errs, n, maxerrs);
	n = check_text(in->description, "description", PROJECT_DESCRIPTION_MAX_CHARS,
		       "must be at most 20000 characters", errs, n, maxerrs);
	out->title = in->title;
	out->description = in->description;
	if (in->budget_cap_case ==
	    TASKMESH__V1__CREATE_PROJECT_REQUEST__BUDGET_CAP_BUDGET_CAP_CENTS) {
		out->has_budget_cap = true;
		out->budget_cap_cents = in->budget_cap_cents;
		if (in->budget_cap_cents <= 0)
			n = add_error(errs, n, maxerrs, "budgetCapCents", "must be greater than 0");
	}
	const char *cur = in->currency[0] ? in->currency : "USD";
	if (strlen(cur) != 3 || !isupper((unsigned char)cur[0]) ||
	    !isupper((unsigned char)cur[1]) || !isupper((unsigned char)cur[2]))
		n = add_error(errs, n, maxerrs, "currency",
			      "must be an ISO 4217 code of three upper-case letters");
	else
		memcpy(out->currency, cur, 4);
	if (in->deadline[0]) {
		out->has_deadline = true;
		if (tm_parse_rfc3339(in->deadline, &out->deadline_unix_ms) != 0)
			n = add_error(errs, n, maxerrs, "deadline",
				      "must be an RFC 3339 date-time, e.g. 2027-03-01T00:00:00Z");
		else if (out->deadline_unix_ms <= now_ms)
			n = add_error(errs, n, maxerrs, "deadline", "must be in the future");
	}
	return n;
}

Taskmesh__V1__ProjectStatus project_status_from_db(const char *s)
{
	static const struct {
		const char *name;
		Taskmesh__V1__ProjectStatus v;
	} map[] = {
		{"analyzing", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYZING},
		{"analyzed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYZED},
		{"proposed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_PROPOSED},
		{"approved", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_APPROVED},
		{"in_progress", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_IN_PROGRESS},
		{"completed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_COMPLETED},
		{"analysis_failed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYSIS_FAILED},
		{"cancelled", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_CANCELLED},
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(map); i++)
		if (strcmp(map[i].name, s) == 0)
			return map[i].v;
	return TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_UNSPECIFIED;
}

/* The task statuses as stored, indexed by their enum value. */
static const char *const task_status_names[] = {
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED] = "",
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_PENDING] = "pending",
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_OFFERED] = "offered",
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_ASSIGNED] = "assigned",
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_IN_PROGRESS] = "in_progress",
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_REVIEW] = "review",
	[TASKMESH__V1__TASK_STATUS__TASK_STATUS_DONE] = "done",
};

Taskmesh__V1__TaskStatus project_task_status_from_db(const char *s)
{
	for (size_t i = 1; i < TM_ARRAY_LEN(task_status_names); i++)
		if (strcmp(task_status_names[i], s) == 0)
			return (Taskmesh__V1__TaskStatus)i;
	return TASKMESH__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED;
}

const char *project_task_status_name(Taskmesh__V1__TaskStatus s)
{
	return (unsigned)s < TM_ARRAY_LEN(task_status_names) ? task_status_names[s] : "";
}

int project_progress_percent(const int32_t *hours, const int32_t *completion, size_t n)
{
	int64_t done = 0, total = 0;
	for (size_t i = 0; i < n; i++) {
		total += hours[i];
		done += (int64_t)hours[i] * completion[i];
	}
	return total > 0 ? (int)(done / total) : 0;
}

void project_milestone_amounts(int64_t total_cents, int64_t out[4])
{
	int64_t quarter = total_cents / 4;
	for (int i = 0; i < 3; i++)
		out[i] = quarter;
	out[3] = total_cents - 3 * quarter;
}

bool project_task_transition_ok(const char *from, const char *to)
{
	static const char *const moves[][2] = {
		{"assigned", "in_progress"}, {"in_progress", "review"}, {"review", "done"},
		{"review", "in_progress"},   {"in_progress", "done"},
	};
	static const char *const working[] = {"assigned", "in_progress", "review"};
	bool from_working = false;
	for (size_t i = 0; i < TM_ARRAY_LEN(working); i++)
		from_working = from_working || strcmp(from, working[i]) == 0;
	if (!from_working)
		return false; /* pending/offered tasks are not the developer's yet; done is final */
	if (strcmp(from, to) == 0)
		return true;
	for (size_t i = 0; i < TM_ARRAY_LEN(moves); i++)
		if (strcmp(moves[i][0], from) == 0 && strcmp(moves[i][1], to) == 0)
			return true;
	return false;
}
