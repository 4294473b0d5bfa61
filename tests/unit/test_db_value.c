/* The store layer's value codecs (common/db_value.c): timestamps as PostgreSQL
 * prints them in a UTC/ISO session, text[] in and out, and the list cursor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tm/db.h"
#include "tm/list.h"
#include "tm/util.h"

static void test_time_with_microseconds_is_exact(void **state)
{
	int64_t us = 0;
	(void)state;
	assert_int_equal(tm_db_parse_time("2026-11-29 08:19:54.123456+00", &us), 0);
	/* 2026-11-29T08:19:54Z is 1795940394 */
	assert_true(us == 1795940394LL * 1000000 + 123456);
}

static void test_time_fraction_digits_vary(void **state)
{
	int64_t us = 0;
	(void)state;
	assert_int_equal(tm_db_parse_time("1970-01-01 00:00:00+00", &us), 0);
	assert_true(us == 0);
	assert_int_equal(tm_db_parse_time("1970-01-01 00:00:01.5+00", &us), 0);
	assert_true(us == 1500000);
	assert_int_equal(tm_db_parse_time("2000-02-29 23:59:59.000001+00", &us), 0);
	assert_true(us == 951868799000001LL);
	/* digits past the microsecond are not PostgreSQL's, but are cut, not rounded */
	assert_int_equal(tm_db_parse_time("1970-01-01 00:00:00.1234569+00", &us), 0);
	assert_true(us == 123456);
}

static void test_time_before_the_epoch(void **state)
{
	int64_t us = 0;
	(void)state;
	assert_int_equal(tm_db_parse_time("1969-12-31 23:59:59.5+00", &us), 0);
	assert_true(us == -500000);
}

static void test_time_that_is_not_utc_iso_is_refused(void **state)
{
	int64_t us = 0;
	(void)state;
	const char *bad[] = {
		"",
		"2026-11-29T08:19:54Z",	   /* RFC 3339: not what the session prints */
		"2026-11-29 08:19:54+01",  /* another zone */
		"2026-11-29 08:19:54.+00", /* a dot without digits */
		"2026-13-29 08:19:54+00",  /* month 13 */
		"2026-11-29 24:00:00+00",  /* hour 24 */
		"infinity",
		"2026-11-29 08:19:54 BC+00",
		"Sun Nov 29 08:19:54 2026 UTC", /* Postgres DateStyle */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tm_db_parse_time(bad[i], &us) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void parse(const char *text, size_t want_n, const char *const *want)
{
	struct tm_arena *a = tm_arena_new(0);
	char **items = NULL;
	size_t n = 99;
	assert_int_equal(tm_db_parse_text_array(text, a, &items, &n), 0);
	assert_int_equal(n, want_n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(items[i], want[i]);
	tm_arena_free(a);
}

static void test_array_plain_quoted_and_null(void **state)
{
	(void)state;
	parse("{}", 0, NULL);
	parse("{React}", 1, (const char *[]){"React"});
	parse("{React,\"Node.js\",PostgreSQL}", 3,
	      (const char *[]){"React", "Node.js", "PostgreSQL"});
	parse("{\"a b\",\"c,d\",\"e\\\"f\",\"g\\\\h\",\"\"}", 5,
	      (const char *[]){"a b", "c,d", "e\"f", "g\\h", ""});
	/* NULL elements are skipped; the quoted word "NULL" is text */
	parse("{NULL,x,null,\"NULL\"}", 2, (const char *[]){"x", "NULL"});
	parse("[0:1]={a,b}", 2, (const char *[]){"a", "b"});
	parse("{\"C++\",\"Ä Ü\"}", 2, (const char *[]){"C++", "Ä Ü"});
}

static void test_array_that_is_malformed_is_refused(void **state)
{
	const char *bad[] = {"", "a,b", "{a,b", "{\"a}", "{{a},{b}}", "{a,}", "{,a}", "{a}x"};
	struct tm_arena *a = tm_arena_new(0);
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **items;
		size_t n;
		if (tm_db_parse_text_array(bad[i], a, &items, &n) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	tm_arena_free(a);
}

static void test_array_literal_reads_back(void **state)
{
	char *in[] = {"plain",	  "with space", "quote\"in", "back\\slash",
		      "{braces}", "a,b",	"",	     "NULL"};
	struct tm_arena *a = tm_arena_new(0);
	char **out = NULL;
	size_t n = 0;
	(void)state;
	char *lit = tm_db_array_literal(in, 8, a);
	assert_non_null(lit);
	assert_int_equal(tm_db_parse_text_array(lit, a, &out, &n), 0);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(out[i], in[i]);
	/* an array of array literals (each task's skills inside the tasks' column) */
	char *inner[] = {tm_db_array_literal(in, 3, a), tm_db_array_literal(in + 3, 2, a)};
	char *outer = tm_db_array_literal(inner, 2, a);
	assert_int_equal(tm_db_parse_text_array(outer, a, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], inner[0]);
	assert_string_equal(out[1], inner[1]);
	tm_arena_free(a);
}

static void test_cursor_round_trip_and_forgery(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	char id[TM_UUID_LEN + 1], back[TM_UUID_LEN + 1];
	int64_t key = 0;
	(void)state;
	assert_int_equal(tm_uuid_v4(id), 0);
	char *c = tm_list_cursor(a, 1795940394123456LL, id);
	assert_non_null(c);
	assert_null(strchr(c, '.')); /* opaque: not the keyset in plain sight */
	assert_int_equal(tm_list_cursor_parse(c, &key, back), 0);
	assert_true(key == 1795940394123456LL);
	assert_string_equal(back, id);
	assert_non_null((c = tm_list_cursor(a, -5, id)));
	assert_int_equal(tm_list_cursor_parse(c, &key, back), 0);
	assert_true(key == -5);
	/* an offset into a ranked list needs no id */
	assert_non_null((c = tm_list_cursor(a, 40, NULL)));
	assert_int_equal(tm_list_cursor_parse(c, &key, back), 0);
	assert_true(key == 40);
	assert_string_equal(back, "");
	const char *bad[] = {
		"",
		"x",
		"1795940394123456.0b9a7e2c-6a8b-4cf8-9d7e-2f1f0b0c8a11",
		"MS4xMjMuNDU2", /* "1.123.456": not a UUID */
		"MS4",		/* "1.": no key */
		"Mi4xLjBiOWE3ZTJjLTZhOGItNGNmOC05ZDdlLTJmMWYwYjBjOGExMQ"}; /* version 2 */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tm_list_cursor_parse(bad[i], &key, back) == 0)
			fail_msg("accepted cursor \"%s\"", bad[i]);
	tm_arena_free(a);
}

static void test_list_page_limits(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	struct tm_rpc_call call = {.arena = a, .user_id = "", .role = ""};
	struct tm_page page;
	(void)state;
	assert_int_equal(tm_list_page(&call, 0, "", &page), TM_OK);
	assert_int_equal(page.limit, TM_LIST_LIMIT_DEFAULT);
	assert_false(page.after);
	for (int32_t l = 1; l <= TM_LIST_LIMIT_MAX; l++) {
		assert_int_equal(tm_list_page(&call, l, NULL, &page), TM_OK);
		assert_int_equal(page.limit, l);
	}
	const int32_t bad[] = {-1, TM_LIST_LIMIT_MAX + 1, 1000, INT32_MAX, INT32_MIN};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call.ndetails = 0;
		assert_int_equal(tm_list_page(&call, bad[i], "", &page), TM_E_VALIDATION_FAILED);
		assert_string_equal(call.details[0].field, "limit");
	}
	call.ndetails = 0;
	assert_int_equal(tm_list_page(&call, 5, "not-a-cursor", &page), TM_E_VALIDATION_FAILED);
	assert_string_equal(call.details[0].field, "cursor");
	tm_arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_with_microseconds_is_exact),
		cmocka_unit_test(test_time_fraction_digits_vary),
		cmocka_unit_test(test_time_before_the_epoch),
		cmocka_unit_test(test_time_that_is_not_utc_iso_is_refused),
		cmocka_unit_test(test_array_plain_quoted_and_null),
		cmocka_unit_test(test_array_that_is_malformed_is_refused),
		cmocka_unit_test(test_array_literal_reads_back),
		cmocka_unit_test(test_cursor_round_trip_and_forgery),
		cmocka_unit_test(test_list_page_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
