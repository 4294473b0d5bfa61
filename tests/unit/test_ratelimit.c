/*
 * Token-bucket rate limiter: the burst and the Retry-After that follows,
 * refill to the millisecond, separate keys and classes, rule parsing, eviction
 * at max_keys (idle longest first), time going backwards, invalid rules, and
 * threads sharing one bucket or many. Every time is a fixed value passed in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>
#include <pthread.h>

#include "tm/ratelimit.h"
#include "tm/util.h"

#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z in ms */
#define THREADS 8
#define TAKES_PER_THREAD 500
#define KEYS_PER_THREAD 3000

static struct tm_ratelimit *new_table(size_t max_keys)
{
	struct tm_ratelimit *rl = NULL;
	assert_int_equal(tm_ratelimit_new(&rl, max_keys), 0);
	assert_non_null(rl);
	return rl;
}

static struct tm_rate_rule rule(const char *text)
{
	struct tm_rate_rule r;
	assert_int_equal(tm_rate_rule_parse(text, &r), 0);
	return r;
}

/* Takes n times at now_ms and returns how many were allowed. */
static int take_n(struct tm_ratelimit *rl, const char *key, const struct tm_rate_rule *r, int n,
		  int64_t now_ms)
{
	int allowed = 0;
	for (int i = 0; i < n; i++)
		allowed += tm_ratelimit_take(rl, "auth", key, r, now_ms) == 0;
	return allowed;
}

/* ---- burst and refill ---------------------------------------------------------------- */

static void test_burst_is_allowed_then_refused_with_retry_after(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule ten_a_minute = rule("10/60"), five_a_second = rule("300/60:50");
	struct tm_rate_rule one_an_hour = rule("1/3600");

	for (int i = 0; i < 10; i++)
		assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &ten_a_minute, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &ten_a_minute, T0), 6);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &ten_a_minute, T0), 6);

	assert_int_equal(take_n(rl, "b", &five_a_second, 50, T0), 50);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "b", &five_a_second, T0), 1);

	assert_int_equal(tm_ratelimit_take(rl, "auth", "c", &one_an_hour, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "c", &one_an_hour, T0), 3600);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "c", &one_an_hour, T0 + 3599001), 1);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "c", &one_an_hour, T0 + 3600000), 0);
	tm_ratelimit_free(rl);
}

static void test_refill_restores_tokens_exactly_per_the_rate(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule r = rule("10/60"); /* one token every 6 s */

	assert_int_equal(take_n(rl, "a", &r, 11, T0), 10);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 + 5999), 1);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 + 6000), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 + 6000), 6);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 + 9000), 3); /* half a token */
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 + 12000), 0);
	/* a long idle refills to the burst and no further */
	assert_int_equal(take_n(rl, "a", &r, 20, T0 + 12000 + 3600000), 10);

	struct tm_rate_rule f = rule("300/60:50"); /* 5 per second, burst 50 */
	assert_int_equal(take_n(rl, "b", &f, 60, T0), 50);
	assert_int_equal(take_n(rl, "b", &f, 10, T0 + 1000), 5);
	assert_int_equal(take_n(rl, "b", &f, 10, T0 + 1200), 1);
	assert_int_equal(take_n(rl, "b", &f, 10, T0 + 1399), 0);
	tm_ratelimit_free(rl);
}

static void test_millisecond_steps_allow_exactly_one_token_per_interval(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule r = rule("10/60");
	int allowed = 0;

	assert_int_equal(take_n(rl, "a", &r, 10, T0), 10);
	for (int64_t ms = 1; ms <= 60000; ms++) {
		int rc = tm_ratelimit_take(rl, "auth", "a", &r, T0 + ms);
		if (rc == 0) {
			assert_int_equal(ms % 6000, 0); /* no float drift moves the instant */
			allowed++;
		} else {
			assert_int_equal(rc, (int)((6000 - ms % 6000 + 999) / 1000));
		}
	}
	assert_int_equal(allowed, 10);
	tm_ratelimit_free(rl);
}

static void test_smaller_burst_caps_a_fuller_bucket(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule big = rule("100/60"), small = rule("100/60:3");

	assert_int_equal(take_n(rl, "a", &big, 1, T0), 1);
	assert_int_equal(take_n(rl, "a", &small, 10, T0), 3);
	tm_ratelimit_free(rl);
}

static void test_rate_zero_refuses_with_the_longest_retry_after(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	const struct tm_rate_rule never = {.per_second = 0, .burst = 2};

	assert_int_equal(take_n(rl, "a", &never, 2, T0), 2);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &never, T0 + 86400000),
			 TM_RATELIMIT_RETRY_MAX_S);
	tm_ratelimit_free(rl);
}

/* ---- keys and classes ---------------------------------------------------------------- */

static void test_separate_keys_and_classes_do_not_share_buckets(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule one = rule("1/60");

	assert_int_equal(tm_ratelimit_take(rl, "auth", "10.0.0.1", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "10.0.0.1", &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "10.0.0.2", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "write", "10.0.0.1", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "read", "10.0.0.1", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "write", "10.0.0.1", &one, T0), 60);
	/* the class/key boundary is part of the identity */
	assert_int_equal(tm_ratelimit_take(rl, "ab", "c", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "a", "bc", &one, T0), 0);
	/* NULL counts as "" */
	assert_int_equal(tm_ratelimit_take(rl, "auth", NULL, &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "", &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, NULL, "k", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "", "k", &one, T0), 60);
	assert_int_equal(tm_ratelimit_keys(rl), 8);
	tm_ratelimit_free(rl);
}

static void test_long_keys_and_classes_are_told_apart(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule one = rule("1/60");
	char k128[129], k129[130], k4k[4097], k4k_other[4097], cls64[65];

	memset(k128, 'k', 128);
	k128[128] = '\0';
	memset(k129, 'k', 129);
	k129[129] = '\0';
	memset(k4k, 'k', 4096);
	k4k[4096] = '\0';
	memcpy(k4k_other, k4k, sizeof(k4k));
	k4k_other[4095] = 'K'; /* differs past every length limit */
	memset(cls64, 'c', 64);
	cls64[64] = '\0';

	assert_int_equal(tm_ratelimit_take(rl, "auth", k128, &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k129, &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k4k, &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k4k_other, &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, cls64, k4k, &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, cls64, "k", &one, T0), 0);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k128, &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k129, &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k4k, &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, "auth", k4k_other, &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, cls64, k4k, &one, T0), 60);
	assert_int_equal(tm_ratelimit_take(rl, cls64, "k", &one, T0), 60);
	assert_int_equal(tm_ratelimit_keys(rl), 6);
	tm_ratelimit_free(rl);
}

/* ---- rules --------------------------------------------------------------------------- */

static void test_rule_parse_reads_rate_and_burst(void **state)
{
	struct tm_rate_rule r;

	assert_int_equal(tm_rate_rule_parse("10/60", &r), 0);
	assert_true(fabs(r.per_second - 10.0 / 60.0) < 1e-12);
	assert_true(r.burst == 10.0);
	assert_int_equal(tm_rate_rule_parse("300/60:50", &r), 0);
	assert_true(r.per_second == 5.0);
	assert_true(r.burst == 50.0);
	assert_int_equal(tm_rate_rule_parse("1/1", &r), 0);
	assert_true(r.per_second == 1.0 && r.burst == 1.0);
	assert_int_equal(tm_rate_rule_parse("1000000/86400:1000000", &r), 0);
	assert_true(r.burst == 1000000.0);
	assert_int_equal(tm_rate_rule_parse("5/60:100", &r), 0); /* burst above the count */
	assert_true(r.burst == 100.0);
}

static void test_rule_parse_refuses_zero_garbage_and_huge_numbers(void **state)
{
	static const char *const bad[] = {
		"0/60",
		"10/0",
		"10/60:0",
		"x/y",
		"10/60x",
		"10/60:5x",
		"10/60:",
		"10/60 ",
		" 10/60",
		"10 /60",
		"/60",
		"10/",
		"10",
		"",
		"/",
		":",
		"+10/60",
		"-10/60",
		"10/-60",
		"10/60:-1",
		"1e3/60",
		"10.5/60",
		"0x10/60",
		"10//60",
		"10/60:5:5",
		"99999999999999999999/60",
		"10/99999999999999999999",
		"1000001/60",
		"10/86401",
		"10/60:1000001",
		"10/60\n",
	};
	struct tm_rate_rule r = {.per_second = 42, .burst = 43};

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		assert_int_equal(tm_rate_rule_parse(bad[i], &r), -1);
		assert_true(r.per_second == 42 && r.burst == 43); /* left as is */
	}
	assert_int_equal(tm_rate_rule_parse(NULL, &r), -1);
	assert_int_equal(tm_rate_rule_parse("10/60", NULL), -1);
}

static void test_invalid_rule_or_table_refuses_with_the_longest_retry_after(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	const struct tm_rate_rule bad[] = {
		{.per_second = -1, .burst = 10},       {.per_second = NAN, .burst = 10},
		{.per_second = INFINITY, .burst = 10}, {.per_second = 1, .burst = 0.5},
		{.per_second = 1, .burst = NAN},       {.per_second = 1, .burst = INFINITY},
	};
	struct tm_rate_rule ok = rule("10/60");

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &bad[i], T0),
				 TM_RATELIMIT_RETRY_MAX_S);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", NULL, T0), TM_RATELIMIT_RETRY_MAX_S);
	assert_int_equal(tm_ratelimit_take(NULL, "auth", "a", &ok, T0), TM_RATELIMIT_RETRY_MAX_S);
	assert_int_equal(tm_ratelimit_keys(rl), 0);
	tm_ratelimit_free(rl);
}

/* ---- bounded memory ------------------------------------------------------------------ */

static void test_new_refuses_zero_or_too_many_keys(void **state)
{
	static char sentinel;
	struct tm_ratelimit *rl = (struct tm_ratelimit *)&sentinel; /* must be reset to NULL */

	assert_int_equal(tm_ratelimit_new(&rl, 0), -1);
	assert_null(rl);
	assert_int_equal(tm_ratelimit_new(&rl, (size_t)TM_RATELIMIT_KEYS_MAX + 1), -1);
	assert_null(rl);
	tm_ratelimit_free(NULL);
	assert_int_equal(tm_ratelimit_keys(NULL), 0);
}

static void test_ten_thousand_keys_in_64_slots_all_get_fresh_buckets(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule one = rule("1/3600");
	char key[32];

	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "198.51.100.%d:%d", i % 256, i);
		assert_int_equal(tm_ratelimit_take(rl, "read", key, &one, T0 + i), 0);
		assert_true(tm_ratelimit_keys(rl) <= 64);
	}
	assert_int_equal(tm_ratelimit_keys(rl), 64);
	/* the last key is still held and empty; the first was evicted long ago */
	assert_int_equal(tm_ratelimit_take(rl, "read", key, &one, T0 + 10000), 3600);
	assert_int_equal(tm_ratelimit_take(rl, "read", "198.51.100.0:0", &one, T0 + 10000), 0);
	tm_ratelimit_free(rl);
}

static void test_eviction_takes_the_bucket_idle_longest(void **state)
{
	struct tm_ratelimit *rl = new_table(3);
	struct tm_rate_rule one = rule("1/3600");

	assert_int_equal(take_n(rl, "a", &one, 1, T0), 1);
	assert_int_equal(take_n(rl, "b", &one, 1, T0), 1);
	assert_int_equal(take_n(rl, "c", &one, 1, T0), 1);
	assert_int_equal(take_n(rl, "a", &one, 1, T0), 0); /* a is used again: b is oldest */
	assert_int_equal(take_n(rl, "d", &one, 1, T0), 1); /* evicts b */
	assert_int_equal(take_n(rl, "a", &one, 1, T0), 0); /* kept */
	assert_int_equal(take_n(rl, "c", &one, 1, T0), 0); /* kept; now d is oldest */
	assert_int_equal(take_n(rl, "b", &one, 1, T0), 1); /* fresh again; evicts d */
	assert_int_equal(take_n(rl, "d", &one, 1, T0), 1); /* fresh again; evicts a */
	assert_int_equal(take_n(rl, "c", &one, 1, T0), 0);
	assert_int_equal(tm_ratelimit_keys(rl), 3);
	tm_ratelimit_free(rl);

	rl = new_table(1);
	assert_int_equal(take_n(rl, "x", &one, 2, T0), 1);
	assert_int_equal(take_n(rl, "y", &one, 2, T0), 1);
	assert_int_equal(take_n(rl, "x", &one, 2, T0), 1);
	assert_int_equal(tm_ratelimit_keys(rl), 1);
	tm_ratelimit_free(rl);
}

static void test_sharded_table_holds_exactly_max_keys(void **state)
{
	static const size_t sizes[] = {1000, 1024, 5003};
	struct tm_rate_rule one = rule("1/3600");
	char key[32];

	for (size_t s = 0; s < TM_ARRAY_LEN(sizes); s++) {
		struct tm_ratelimit *rl = new_table(sizes[s]);
		for (int i = 0; i < 20 * (int)sizes[s]; i++) {
			snprintf(key, sizeof(key), "user-%d", i);
			assert_int_equal(tm_ratelimit_take(rl, "write", key, &one, T0), 0);
		}
		assert_int_equal(tm_ratelimit_keys(rl), sizes[s]);
		tm_ratelimit_free(rl);
	}
}

/* ---- time ---------------------------------------------------------------------------- */

static void test_time_going_backwards_adds_no_tokens(void **state)
{
	struct tm_ratelimit *rl = new_table(64);
	struct tm_rate_rule r = rule("10/60");

	assert_int_equal(take_n(rl, "a", &r, 10, T0), 10);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 - 60000), 6);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, 0), 6);
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, INT64_MIN), 6);
	/* refill counts from the latest time seen, once */
	assert_int_equal(tm_ratelimit_take(rl, "auth", "a", &r, T0 + 5999), 1);
	assert_int_equal(take_n(rl, "a", &r, 3, T0 + 6000), 1);
	assert_int_equal(take_n(rl, "a", &r, 3, T0 + 3000), 0);

	/* the extremes of the clock do not overflow */
	assert_int_equal(take_n(rl, "b", &r, 10, INT64_MIN), 10);
	assert_int_equal(take_n(rl, "b", &r, 20, INT64_MAX), 10);
	assert_int_equal(take_n(rl, "b", &r, 20, INT64_MIN), 0);
	tm_ratelimit_free(rl);
}

/* ---- threads ------------------------------------------------------------------------- */

struct worker {
	struct tm_ratelimit *rl;
	const struct tm_rate_rule *rule;
	int id;
	int allowed; /* out */
};

static void *take_one_key(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < TAKES_PER_THREAD; i++)
		w->allowed += tm_ratelimit_take(w->rl, "write", "shared", w->rule, T0) == 0;
	return NULL;
}

static void test_eight_threads_on_one_key_take_exactly_the_burst(void **state)
{
	struct tm_ratelimit *rl = new_table(4096);
	const struct tm_rate_rule r = {.per_second = 0, .burst = 1000};
	struct worker w[THREADS];
	pthread_t th[THREADS];
	int total = 0;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.rl = rl, .rule = &r, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, take_one_key, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		total += w[i].allowed;
	}
	assert_true(THREADS * TAKES_PER_THREAD > 1000);
	assert_int_equal(total, 1000);
	tm_ratelimit_free(rl);
}

static void *take_own_keys(void *arg)
{
	struct worker *w = arg;
	char key[32];
	for (int i = 0; i < KEYS_PER_THREAD; i++) {
		snprintf(key, sizeof(key), "t%d-k%d", w->id, i);
		w->allowed += tm_ratelimit_take(w->rl, "read", key, w->rule, T0 + i) == 0;
	}
	return NULL;
}

static void test_threads_on_distinct_keys_under_eviction_each_get_a_fresh_bucket(void **state)
{
	struct tm_ratelimit *rl = new_table(1024);
	struct tm_rate_rule one = rule("1/3600");
	struct worker w[THREADS];
	pthread_t th[THREADS];

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.rl = rl, .rule = &one, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, take_own_keys, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].allowed, KEYS_PER_THREAD);
	}
	assert_int_equal(tm_ratelimit_keys(rl), 1024);
	tm_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_is_allowed_then_refused_with_retry_after),
		cmocka_unit_test(test_refill_restores_tokens_exactly_per_the_rate),
		cmocka_unit_test(test_millisecond_steps_allow_exactly_one_token_per_interval),
		cmocka_unit_test(test_smaller_burst_caps_a_fuller_bucket),
		cmocka_unit_test(test_rate_zero_refuses_with_the_longest_retry_after),
		cmocka_unit_test(test_separate_keys_and_classes_do_not_share_buckets),
		cmocka_unit_test(test_long_keys_and_classes_are_told_apart),
		cmocka_unit_test(test_rule_parse_reads_rate_and_burst),
		cmocka_unit_test(test_rule_parse_refuses_zero_garbage_and_huge_numbers),
		cmocka_unit_test(test_invalid_rule_or_table_refuses_with_the_longest_retry_after),
		cmocka_unit_test(test_new_refuses_zero_or_too_many_keys),
		cmocka_unit_test(test_ten_thousand_keys_in_64_slots_all_get_fresh_buckets),
		cmocka_unit_test(test_eviction_takes_the_bucket_idle_longest),
		cmocka_unit_test(test_sharded_table_holds_exactly_max_keys),
		cmocka_unit_test(test_time_going_backwards_adds_no_tokens),
		cmocka_unit_test(test_eight_threads_on_one_key_take_exactly_the_burst),
		cmocka_unit_test(
			test_threads_on_distinct_keys_under_eviction_each_get_a_fresh_bucket),
	};
	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
