/* Budget and timeline estimates; see estimate.h. */
#include <string.h>

#include "estimate.h"

#define PARALLELISM_MAX 32

static int64_t rate_of(const char *level, const struct estimate_rates *r)
{
	if (strcmp(level, "junior") == 0)
		return r->junior_cents;
	if (strcmp(level, "mid") == 0)
		return r->mid_cents;
	if (strcmp(level, "senior") == 0)
		return r->senior_cents;
	return -1;
}

int64_t estimate_budget_cents(const struct tm_ai_task *tasks, size_t n,
			      const struct estimate_rates *r)
{
	int64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t rate = rate_of(tasks[i].level, r);
		int64_t cost;
		if (rate < 0 || tasks[i].hours < 0 ||
		    __builtin_mul_overflow(rate, (int64_t)tasks[i].hours, &cost) ||
		    __builtin_add_overflow(sum, cost, &sum))
			return -1;
	}
	return sum;
}

static int index_of(const struct tm_ai_task *tasks, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tasks[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Earliest finish (hours) of every task in `order`, given when each could
 * start: with `parallelism` developers, or unlimited when parallelism <= 0. */
static int64_t schedule(const struct tm_ai_task *tasks, size_t n, const size_t *order,
			int parallelism)
{
	int64_t finish[TM_AI_TASKS_MAX] = {0}, free_at[PARALLELISM_MAX] = {0}, makespan = 0;
	for (size_t o = 0; o < n; o++) {
		size_t t = order[o];
		int64_t ready = 0;
		for (size_t d = 0; d < tasks[t].ndepends; d++) {
			int k = index_of(tasks, n, tasks[t].depends_on[d]);
			if (k >= 0 && finish[k] > ready)
				ready = finish[k];
		}
		int64_t start = ready;
		if (parallelism > 0) { /* the developer free earliest takes it */
			int w = 0;
			for (int i = 1; i < parallelism; i++)
				if (free_at[i] < free_at[w])
					w = i;
			if (free_at[w] > start)
				start = free_at[w];
			free_at[w] = start + tasks[t].hours;
		}
		finish[t] = start + tasks[t].hours;
		if (finish[t] > makespan)
			makespan = finish[t];
	}
	return makespan;
}

int64_t estimate_critical_path_hours(const struct tm_ai_task *tasks, size_t n)
{
	size_t order[TM_AI_TASKS_MAX];
	if (n > TM_AI_TASKS_MAX || tm_ai_check_graph(tasks, n, order))
		return -1;
	return schedule(tasks, n, order, 0);
}

int32_t estimate_timeline_days(const struct tm_ai_task *tasks, size_t n,
			       const struct estimate_team *team)
{
	size_t order[TM_AI_TASKS_MAX];
	int p = team->parallelism < 1		    ? 1 :
		team->parallelism > PARALLELISM_MAX ? PARALLELISM_MAX :
						      team->parallelism;
	int64_t hours_per_day = team->weekly_hours >= 5 ? team->weekly_hours / 5 : 1;

	if (n > TM_AI_TASKS_MAX || tm_ai_check_graph(tasks, n, order))
		return -1;
	int64_t makespan = schedule(tasks, n, order, p);
	int64_t working_days = (makespan + hours_per_day - 1) / hours_per_day;
	return (int32_t)((working_days * 7 + 4) / 5); /* ceil(working days * 7 / 5) */
}
