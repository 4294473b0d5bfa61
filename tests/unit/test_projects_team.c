/*
 * tm-projects' team rules (services/projects/project.c): progress weighted by
 * task hours, the four escrow milestones of an approved budget, and the task
 * status moves a developer may make.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/projects/project.h"
#include "tm/util.h"

static void test_progress_is_weighted_by_hours(void **state)
{
	(void)state;
	/* 10 h done, 30 h untouched: a quarter, not a half */
	const int32_t h1[] = {10, 30}, c1[] = {100, 0};
	assert_int_equal(project_progress_percent(h1, c1, 2), 25);
	/* 8 h at 50 %, 2 h at 100 %: (400 + 200) / 10 */
	const int32_t h2[] = {8, 2}, c2[] = {50, 100};
	assert_int_equal(project_progress_percent(h2, c2, 2), 60);
	const int32_t h3[] = {5, 5, 5}, c3[] = {100, 100, 100};
	assert_int_equal(project_progress_percent(h3, c3, 3), 100);
}

static void test_progress_rounds_down_so_100_means_everything(void **state)
{
	(void)state;
	/* 299 of 300 hours done is 99.67 %: not complete */
	const int32_t h[] = {299, 1}, c[] = {100, 0};
	assert_int_equal(project_progress_percent(h, c, 2), 99);
	/* one third of an hour's worth: 33, never 34 */
	const int32_t h2[] = {1, 1, 1}, c2[] = {100, 0, 0};
	assert_int_equal(project_progress_percent(h2, c2, 3), 33);
}

static void test_progress_of_nothing_is_zero(void **state)
{
	(void)state;
	assert_int_equal(project_progress_percent(NULL, NULL, 0), 0);
	const int32_t h[] = {0, 0}, c[] = {100, 100}; /* no hours to weigh */
	assert_int_equal(project_progress_percent(h, c, 2), 0);
}

static void test_progress_does_not_overflow_on_large_hours(void **state)
{
	(void)state;
	/* Σ hours × completion exceeds 32 bits */
	const int32_t h[] = {INT32_MAX / 2, INT32_MAX / 2}, c[] = {100, 50};
	assert_int_equal(project_progress_percent(h, c, 2), 75);
}

static void assert_milestones(int64_t total, int64_t q, int64_t last)
{
	int64_t m[4];
	project_milestone_amounts(total, m);
	assert_int_equal(m[0], q);
	assert_int_equal(m[1], q);
	assert_int_equal(m[2], q);
	assert_int_equal(m[3], last);
	assert_int_equal(m[0] + m[1] + m[2] + m[3], total);
}

static void test_milestones_sum_to_the_budget_exactly(void **state)
{
	(void)state;
	assert_milestones(1000000, 250000, 250000);
	assert_milestones(1000003, 250000, 250003); /* the remainder on the last */
	assert_milestones(1000001, 250000, 250001);
	assert_milestones(3, 0, 3);
	assert_milestones(0, 0, 0);
	assert_milestones(INT64_C(9223372036854775807), INT64_C(2305843009213693951),
			  INT64_C(2305843009213693954));
}

static void test_a_developer_moves_a_task_forward(void **state)
{
	(void)state;
	assert_true(project_task_transition_ok("assigned", "in_progress"));
	assert_true(project_task_transition_ok("in_progress", "review"));
	assert_true(project_task_transition_ok("review", "done"));
	assert_true(project_task_transition_ok("in_progress", "done"));
	assert_true(project_task_transition_ok("review", "in_progress")); /* rework */
	/* the same status: a progress update */
	assert_true(project_task_transition_ok("in_progress", "in_progress"));
	assert_true(project_task_transition_ok("assigned", "assigned"));
}

static void test_moves_that_skip_or_undo_are_refused(void **state)
{
	(void)state;
	assert_false(project_task_transition_ok("assigned", "done"));
	assert_false(project_task_transition_ok("assigned", "review"));
	assert_false(project_task_transition_ok("in_progress", "assigned"));
	assert_false(project_task_transition_ok("review", "assigned"));
	/* done is final, even "done -> done" */
	assert_false(project_task_transition_ok("done", "in_progress"));
	assert_false(project_task_transition_ok("done", "done"));
	/* pending and offered tasks are not the developer's to move: accept first */
	assert_false(project_task_transition_ok("pending", "in_progress"));
	assert_false(project_task_transition_ok("offered", "in_progress"));
	assert_false(project_task_transition_ok("offered", "offered"));
	/* unknown names */
	assert_false(project_task_transition_ok("in_progress", "finished"));
	assert_false(project_task_transition_ok("", ""));
	assert_false(project_task_transition_ok("in_progress", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_is_weighted_by_hours),
		cmocka_unit_test(test_progress_rounds_down_so_100_means_everything),
		cmocka_unit_test(test_progress_of_nothing_is_zero),
		cmocka_unit_test(test_progress_does_not_overflow_on_large_hours),
		cmocka_unit_test(test_milestones_sum_to_the_budget_exactly),
		cmocka_unit_test(test_a_developer_moves_a_task_forward),
		cmocka_unit_test(test_moves_that_skip_or_undo_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
