/* The circuit breaker: closed, open, half-open with one probe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tm/breaker.h"

static void test_failures_below_the_threshold_keep_it_closed(void **state)
{
	struct tm_breaker b;
	(void)state;
	tm_breaker_init(&b, 3, 1000);
	tm_breaker_failure(&b, 0);
	tm_breaker_failure(&b, 0);
	assert_true(tm_breaker_allow(&b, 10, NULL));
	tm_breaker_success(&b); /* a success resets the count */
	tm_breaker_failure(&b, 20);
	tm_breaker_failure(&b, 20);
	assert_true(tm_breaker_allow(&b, 30, NULL));
	assert_false(tm_breaker_is_open(&b, 30));
	tm_breaker_destroy(&b);
}

static void test_threshold_opens_it_for_the_cooldown(void **state)
{
	struct tm_breaker b;
	int64_t wait = 0;
	(void)state;
	tm_breaker_init(&b, 3, 1000);
	for (int i = 0; i < 3; i++)
		tm_breaker_failure(&b, 100);
	assert_true(tm_breaker_is_open(&b, 100));
	assert_false(tm_breaker_allow(&b, 400, &wait));
	assert_int_equal(wait, 700);
	assert_false(tm_breaker_allow(&b, 1099, &wait));
	assert_int_equal(wait, 1);
	tm_breaker_destroy(&b);
}

static void test_after_the_cooldown_one_probe_goes_out(void **state)
{
	struct tm_breaker b;
	(void)state;
	tm_breaker_init(&b, 1, 1000);
	tm_breaker_failure(&b, 0);
	assert_true(tm_breaker_allow(&b, 1000, NULL));	/* the probe */
	assert_false(tm_breaker_allow(&b, 1001, NULL)); /* others wait for it */
	tm_breaker_success(&b);
	assert_true(tm_breaker_allow(&b, 1002, NULL));
	assert_true(tm_breaker_allow(&b, 1003, NULL));
	tm_breaker_destroy(&b);
}

static void test_a_failed_probe_opens_it_again(void **state)
{
	struct tm_breaker b;
	int64_t wait = 0;
	(void)state;
	tm_breaker_init(&b, 5, 1000);
	for (int i = 0; i < 5; i++)
		tm_breaker_failure(&b, 0);
	assert_true(tm_breaker_allow(&b, 1500, NULL));
	tm_breaker_failure(&b, 1500); /* one failure is enough while half-open */
	assert_false(tm_breaker_allow(&b, 2000, &wait));
	assert_int_equal(wait, 500);
	assert_true(tm_breaker_allow(&b, 2500, NULL));
	tm_breaker_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failures_below_the_threshold_keep_it_closed),
		cmocka_unit_test(test_threshold_opens_it_for_the_cooldown),
		cmocka_unit_test(test_after_the_cooldown_one_probe_goes_out),
		cmocka_unit_test(test_a_failed_probe_opens_it_again),
	};
	return cmocka_run_group_tests_name("breaker", tests, NULL, NULL);
}
