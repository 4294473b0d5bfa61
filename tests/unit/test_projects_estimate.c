/* Budget and timeline estimates (services/projects/estimate.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../services/projects/estimate.h"

static const struct estimate_rates rates = {3500, 6000, 9500};

/* A task with `deps` as a space-separated list of keys (at most 8). */
static void task(struct tm_ai_task *t, const char *key, int hours, const char *level,
		 const char *deps, char storage[8][TM_AI_KEY_MAX], char **ptrs)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->key, sizeof(t->key), "%s", key);
	snprintf(t->level, sizeof(t->level), "%s", level);
	t->hours = hours;
	t->depends_on = ptrs;
	for (const char *p = deps; *p && t->ndepends < 8;) {
		size_t l = strcspn(p, " ");
		snprintf(storage[t->ndepends], TM_AI_KEY_MAX, "%.*s", (int)l, p);
		ptrs[t->ndepends] = storage[t->ndepends];
		t->ndepends++;
		p += l + (p[l] == ' ');
	}
}

struct plan {
	struct tm_ai_task t[8];
	char storage[8][8][TM_AI_KEY_MAX];
	char *ptrs[8][8];
};

static void test_budget_is_hours_times_the_level_rate(void **state)
{
	struct plan p;
	(void)state;
	task(&p.t[0], "T1", 10, "junior", "", p.storage[0], p.ptrs[0]);
	task(&p.t[1], "T2", 20, "mid", "T1", p.storage[1], p.ptrs[1]);
	task(&p.t[2], "T3", 3, "senior", "T2", p.storage[2], p.ptrs[2]);
	assert_int_equal(estimate_budget_cents(p.t, 3, &rates), 10 * 3500 + 20 * 6000 + 3 * 9500);
	snprintf(p.t[2].level, sizeof(p.t[2].level), "lead");
	assert_int_equal(estimate_budget_cents(p.t, 3, &rates), -1);
}

static void test_budget_overflow_is_refused(void **state)
{
	struct plan p;
	struct estimate_rates huge = {INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2};
	(void)state;
	task(&p.t[0], "T1", 3, "mid", "", p.storage[0], p.ptrs[0]);
	assert_int_equal(estimate_budget_cents(p.t, 1, &huge), -1);
}

static void test_a_chain_takes_the_sum_of_its_hours(void **state)
{
	struct plan p;
	struct estimate_team team = {3, 40}; /* 8-hour days */
	(void)state;
	task(&p.t[0], "T1", 8, "mid", "", p.storage[0], p.ptrs[0]);
	task(&p.t[1], "T2", 16, "mid", "T1", p.storage[1], p.ptrs[1]);
	task(&p.t[2], "T3", 16, "mid", "T2", p.storage[2], p.ptrs[2]);
	assert_int_equal(estimate_critical_path_hours(p.t, 3), 40);
	/* 40 h = 5 working days = 7 calendar days, whatever the parallelism */
	assert_int_equal(estimate_timeline_days(p.t, 3, &team), 7);
}

static void test_independent_tasks_run_in_parallel_up_to_the_team_size(void **state)
{
	struct plan p;
	(void)state;
	for (int i = 0; i < 4; i++) {
		char key[16];
		snprintf(key, sizeof(key), "T%d", i + 1);
		task(&p.t[i], key, 40, "mid", "", p.storage[i], p.ptrs[i]);
	}
	assert_int_equal(estimate_critical_path_hours(p.t, 4), 40);
	struct estimate_team four = {4, 40}, two = {2, 40}, one = {1, 40};
	assert_int_equal(estimate_timeline_days(p.t, 4, &four), 7); /* 5 working days */
	assert_int_equal(estimate_timeline_days(p.t, 4, &two), 14); /* 10 working days */
	assert_int_equal(estimate_timeline_days(p.t, 4, &one), 28); /* 20 working days */
}

static void test_the_timeline_respects_dependencies_with_a_big_team(void **state)
{
	struct plan p;
	struct estimate_team team = {8, 40};
	(void)state;
	/* T1 -> (T2, T3) -> T4: 8 + max(24, 8) + 8 = 40 h */
	task(&p.t[0], "T1", 8, "mid", "", p.storage[0], p.ptrs[0]);
	task(&p.t[1], "T2", 24, "mid", "T1", p.storage[1], p.ptrs[1]);
	task(&p.t[2], "T3", 8, "mid", "T1", p.storage[2], p.ptrs[2]);
	task(&p.t[3], "T4", 8, "mid", "T2 T3", p.storage[3], p.ptrs[3]);
	assert_int_equal(estimate_critical_path_hours(p.t, 4), 40);
	assert_int_equal(estimate_timeline_days(p.t, 4, &team), 7);
}

static void test_weekly_capacity_changes_the_day_length(void **state)
{
	struct plan p;
	struct estimate_team part_time = {1, 20}; /* 4-hour days */
	(void)state;
	task(&p.t[0], "T1", 40, "mid", "", p.storage[0], p.ptrs[0]);
	assert_int_equal(estimate_timeline_days(p.t, 1, &part_time), 14); /* 10 working days */
}

static void test_an_invalid_graph_has_no_timeline(void **state)
{
	struct plan p;
	struct estimate_team team = {2, 40};
	(void)state;
	task(&p.t[0], "T1", 8, "mid", "T2", p.storage[0], p.ptrs[0]);
	task(&p.t[1], "T2", 8, "mid", "T1", p.storage[1], p.ptrs[1]);
	assert_int_equal(estimate_timeline_days(p.t, 2, &team), -1);
	assert_int_equal(estimate_critical_path_hours(p.t, 2), -1);
	task(&p.t[1], "T2", 8, "mid", "T9", p.storage[1], p.ptrs[1]);
	assert_int_equal(estimate_timeline_days(p.t, 2, &team), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_is_hours_times_the_level_rate),
		cmocka_unit_test(test_budget_overflow_is_refused),
		cmocka_unit_test(test_a_chain_takes_the_sum_of_its_hours),
		cmocka_unit_test(test_independent_tasks_run_in_parallel_up_to_the_team_size),
		cmocka_unit_test(test_the_timeline_respects_dependencies_with_a_big_team),
		cmocka_unit_test(test_weekly_capacity_changes_the_day_length),
		cmocka_unit_test(test_an_invalid_graph_has_no_timeline),
	};
	return cmocka_run_group_tests_name("projects: estimates", tests, NULL, NULL);
}
