/*
 * The store layer (common/db.c) against a real PostgreSQL: statements
 * prepared once per connection and again after a reconnect, typed parameters,
 * the row-count helpers, COMMIT answering ROLLBACK, after-commit hooks, and
 * timestamps decoded in C as the server would format them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "itest.h"

struct fixture {
	char schema[ITEST_NAME_MAX];
	struct tm_db *db; /* search_path = schema, with a table t (id, name) */
};

static struct fixture fx;

static int group_setup(void **state)
{
	return itest_start();
}

static int group_teardown(void **state)
{
	return itest_stop();
}

static int test_setup(void **state)
{
	char sql[256];
	itest_name("db_", fx.schema, sizeof(fx.schema));
	snprintf(sql, sizeof(sql),
		 "CREATE SCHEMA %s; CREATE TABLE %s.t (id int PRIMARY KEY, name text NOT NULL)",
		 fx.schema, fx.schema);
	assert_int_equal(tm_db_script(itest.admin, sql), TM_DB_OK);
	fx.db = itest_connect(fx.schema);
	return 0;
}

static int test_teardown(void **state)
{
	tm_db_close(fx.db);
	fx.db = NULL;
	itest_drop_schema(fx.schema);
	return 0;
}

/* Statements the server holds for this connection (pg_prepared_statements). */
static int64_t server_prepared(void)
{
	PGresult *r = NULL;
	assert_int_equal(tm_db_one(fx.db, &r, "SELECT count(*) FROM pg_prepared_statements", NULL,
				   0),
			 TM_DB_OK);
	int64_t n = tm_db_int(r, 0, 0);
	PQclear(r);
	return n;
}

static void test_a_statement_is_prepared_once_per_connection(void **state)
{
	for (int i = 0; i < 50; i++)
		assert_int_equal(tm_db_exec(fx.db, "INSERT INTO t (id, name) VALUES ($1, $2)",
					    TM_PARAMS(TM_P_INT(i), TM_P_TEXT("x"))),
				 TM_DB_OK);
	assert_int_equal(tm_db_prepared_count(fx.db), 1);
	/* the count query itself is the second statement */
	assert_int_equal(server_prepared(), 2);
	assert_int_equal(tm_db_prepared_count(fx.db), 2);
	/* the same text from another buffer is the same statement */
	char sql[64];
	snprintf(sql, sizeof(sql), "%s", "INSERT INTO t (id, name) VALUES ($1, $2)");
	assert_int_equal(tm_db_exec(fx.db, sql, TM_PARAMS(TM_P_INT(99), TM_P_TEXT("y"))), TM_DB_OK);
	assert_int_equal(tm_db_prepared_count(fx.db), 2);
}

static void test_typed_parameters_round_trip(void **state)
{
	static const unsigned char bytes[] = {0, 1, 2, 0xff, 0};
	PGresult *r = NULL;
	assert_int_equal(
		tm_db_one(fx.db, &r,
			  "SELECT $1::bigint, $2::text, $3::boolean, $4::float8, "
			  "encode($5::bytea, 'hex'), $6::text IS NULL, $7::bigint IS NULL, $8::int",
			  TM_PARAMS(TM_P_INT(INT64_MIN), TM_P_TEXT("é'\"\\ ; DROP TABLE t"),
				    TM_P_BOOL(true), TM_P_FLOAT(0.1),
				    TM_P_BYTES(bytes, sizeof(bytes)), TM_P_TEXT(NULL),
				    TM_P_INT_IF(false, 7), TM_P_INT_IF(true, 7))),
		TM_DB_OK);
	assert_true(tm_db_int(r, 0, 0) == INT64_MIN);
	assert_string_equal(tm_db_text(r, 0, 1), "é'\"\\ ; DROP TABLE t");
	assert_true(tm_db_bool(r, 0, 2));
	assert_true(tm_db_float(r, 0, 3) == 0.1); /* %.17g reads back exactly */
	assert_string_equal(tm_db_text(r, 0, 4), "000102ff00");
	assert_true(tm_db_bool(r, 0, 5));
	assert_true(tm_db_bool(r, 0, 6));
	assert_int_equal(tm_db_int(r, 0, 7), 7);
	PQclear(r);
}

static void test_row_counts_say_none_or_refuse(void **state)
{
	PGresult *r = NULL;
	itest_exec(fx.db, "INSERT INTO t VALUES (1, 'a'), (2, 'b')", 0, NULL);
	const char *upd = "UPDATE t SET name = 'z' WHERE id = $1";
	assert_int_equal(tm_db_exec_n(fx.db, upd, TM_PARAMS(TM_P_INT(1)), 1), TM_DB_OK);
	assert_int_equal(tm_db_exec_n(fx.db, upd, TM_PARAMS(TM_P_INT(3)), 1), TM_DB_NONE);
	/* changing two rows where one was meant is an error, not a success */
	assert_int_equal(tm_db_exec_n(fx.db, "UPDATE t SET name = 'y' WHERE id > $1",
				      TM_PARAMS(TM_P_INT(0)), 1),
			 TM_DB_ERR);
	assert_non_null(strstr(tm_db_error(fx.db), "changed 2"));

	const char *sel = "SELECT name FROM t WHERE id >= $1 ORDER BY id";
	assert_int_equal(tm_db_maybe_one(fx.db, &r, sel, TM_PARAMS(TM_P_INT(2))), TM_DB_OK);
	assert_string_equal(tm_db_text(r, 0, 0), "y");
	PQclear(r);
	assert_int_equal(tm_db_maybe_one(fx.db, &r, sel, TM_PARAMS(TM_P_INT(9))), TM_DB_NONE);
	assert_null(r);
	assert_int_equal(tm_db_maybe_one(fx.db, &r, sel, TM_PARAMS(TM_P_INT(1))), TM_DB_ERR);
	assert_null(r);
	assert_int_equal(tm_db_one(fx.db, &r, sel, TM_PARAMS(TM_P_INT(9))), TM_DB_ERR);
	assert_int_equal(tm_db_exists(fx.db, sel, TM_PARAMS(TM_P_INT(1))), TM_DB_OK);
	assert_int_equal(tm_db_exists(fx.db, sel, TM_PARAMS(TM_P_INT(9))), TM_DB_NONE);
	assert_int_equal(tm_db_rows(fx.db, &r, sel, TM_PARAMS(TM_P_INT(9))), TM_DB_OK);
	assert_int_equal(PQntuples(r), 0);
	PQclear(r);
}

static void test_unique_violation_is_its_own_code(void **state)
{
	itest_exec(fx.db, "INSERT INTO t VALUES (1, 'a')", 0, NULL);
	assert_int_equal(tm_db_exec(fx.db, "INSERT INTO t VALUES ($1, 'b')",
				    TM_PARAMS(TM_P_INT(1))),
			 TM_DB_ERR_UNIQUE);
	assert_string_equal(tm_db_sqlstate(fx.db), "23505");
}

static void test_commit_answering_rollback_is_a_failure(void **state)
{
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_db_exec(fx.db, "INSERT INTO t VALUES (1, 'a')", NULL, 0), TM_DB_OK);
	/* a failed statement the caller ignores aborts the transaction */
	assert_true(tm_db_exec(fx.db, "INSERT INTO t VALUES (1, 'again')", NULL, 0) < 0);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_ERR);
	assert_non_null(strstr(tm_db_error(fx.db), "rolled back"));
	assert_false(tm_db_in_tx(fx.db));
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM t", 0, NULL), 0);
}

static int hook_runs;
static void hook(void *arg)
{
	hook_runs += *(int *)arg;
}

static void test_after_commit_hooks_run_once_and_only_on_commit(void **state)
{
	int one = 1, ten = 10;
	hook_runs = 0;
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_db_after_commit(fx.db, hook, &one), TM_DB_OK);
	assert_int_equal(tm_db_after_commit(fx.db, hook, &one), TM_DB_OK); /* the same: once */
	assert_int_equal(tm_db_after_commit(fx.db, hook, &ten), TM_DB_OK);
	assert_int_equal(hook_runs, 0); /* not before the data is visible */
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
	assert_int_equal(hook_runs, 11);

	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_db_after_commit(fx.db, hook, &one), TM_DB_OK);
	tm_db_rollback(fx.db);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
	assert_int_equal(hook_runs, 11); /* a rolled-back transaction's hooks are gone */

	/* a failed commit runs none */
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_db_after_commit(fx.db, hook, &one), TM_DB_OK);
	assert_true(tm_db_exec(fx.db, "SELECT 1/0", NULL, 0) < 0);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_ERR);
	assert_int_equal(hook_runs, 11);

	/* outside a transaction: at once */
	assert_int_equal(tm_db_after_commit(fx.db, hook, &one), TM_DB_OK);
	assert_int_equal(hook_runs, 12);
}

static void terminate_backend(void)
{
	PGresult *r = NULL;
	assert_int_equal(tm_db_one(fx.db, &r, "SELECT pg_backend_pid()", NULL, 0), TM_DB_OK);
	int64_t pid = tm_db_int(r, 0, 0);
	PQclear(r);
	assert_int_equal(tm_db_exec(itest.admin, "SELECT pg_terminate_backend($1::int)",
				    TM_PARAMS(TM_P_INT(pid))),
			 TM_DB_OK);
	tm_sleep_ms(100);
}

static void test_a_lost_connection_is_reopened_and_statements_prepared_again(void **state)
{
	const char *ins = "INSERT INTO t (id, name) VALUES ($1, $2)";
	assert_int_equal(tm_db_exec(fx.db, ins, TM_PARAMS(TM_P_INT(1), TM_P_TEXT("a"))), TM_DB_OK);
	unsigned long before = tm_db_reconnects();
	terminate_backend();
	/* outside a transaction: reconnected, re-prepared, done */
	assert_int_equal(tm_db_exec(fx.db, ins, TM_PARAMS(TM_P_INT(2), TM_P_TEXT("b"))), TM_DB_OK);
	assert_int_equal(tm_db_reconnects(), before + 1);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM t", 0, NULL), 2);
	/* the new session is UTC and in the schema again */
	char tz[64];
	itest_text(fx.db, tz, sizeof(tz), "SHOW TimeZone", 0, NULL);
	assert_string_equal(tz, "UTC");

	/* inside a transaction a lost connection is the transaction's failure */
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	terminate_backend();
	assert_int_equal(tm_db_exec(fx.db, ins, TM_PARAMS(TM_P_INT(3), TM_P_TEXT("c"))),
			 TM_DB_ERR_CONN);
	tm_db_rollback(fx.db);
	assert_int_equal(tm_db_exec(fx.db, ins, TM_PARAMS(TM_P_INT(3), TM_P_TEXT("c"))), TM_DB_OK);
}

static void test_timestamps_decode_as_the_server_formats_them(void **state)
{
	PGresult *r = NULL;
	struct tm_arena *a = tm_arena_new(0);
	int64_t us = 0;
	assert_int_equal(
		tm_db_one(fx.db, &r,
			  "SELECT x, to_char(x AT TIME ZONE 'UTC', "
			  "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), (extract(epoch FROM x) * 1000000)"
			  "::bigint, NULL::timestamptz FROM (VALUES (now()), (timestamptz "
			  "'1969-07-20 20:17:40.000009+00'), (timestamptz '2038-01-19 "
			  "03:14:08+00')) v(x)",
			  NULL, 0),
		TM_DB_ERR); /* three rows: not one */
	assert_int_equal(
		tm_db_rows(fx.db, &r,
			   "SELECT x, to_char(x AT TIME ZONE 'UTC', "
			   "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), (extract(epoch FROM x) * "
			   "1000000)::bigint, NULL::timestamptz FROM (VALUES (now()), "
			   "(timestamptz '1969-07-20 20:17:40.000009+00'), (timestamptz "
			   "'2038-01-19 03:14:08+00')) v(x)",
			   NULL, 0),
		TM_DB_OK);
	for (int i = 0; i < PQntuples(r); i++) {
		char *t = tm_db_time(r, i, 0, a, &us);
		assert_non_null(t);
		assert_string_equal(t, tm_db_text(r, i, 1));
		assert_true(us == tm_db_int(r, i, 2));
	}
	assert_string_equal(tm_db_time(r, 1, 0, a, NULL), "1969-07-20T20:17:40.000Z");
	assert_string_equal(tm_db_time(r, 0, 3, a, &us), "");
	PQclear(r);
	tm_arena_free(a);
}

static void test_more_statements_than_the_cache_still_run(void **state)
{
	char sql[TM_DB_STATEMENTS_MAX + 20][48];
	for (int i = 0; i < TM_DB_STATEMENTS_MAX + 20; i++) {
		PGresult *r = NULL;
		snprintf(sql[i], sizeof(sql[i]), "SELECT %d + $1::int", i);
		assert_int_equal(tm_db_one(fx.db, &r, sql[i], TM_PARAMS(TM_P_INT(1))), TM_DB_OK);
		assert_int_equal(tm_db_int(r, 0, 0), i + 1);
		PQclear(r);
	}
	assert_int_equal(tm_db_prepared_count(fx.db), TM_DB_STATEMENTS_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_statement_is_prepared_once_per_connection,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_typed_parameters_round_trip, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_row_counts_say_none_or_refuse, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_unique_violation_is_its_own_code, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_commit_answering_rollback_is_a_failure,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_after_commit_hooks_run_once_and_only_on_commit,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_lost_connection_is_reopened_and_statements_prepared_again,
			test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_timestamps_decode_as_the_server_formats_them,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_more_statements_than_the_cache_still_run,
						test_setup, test_teardown),
	};
	itest_filter();
	return cmocka_run_group_tests_name("db", tests, group_setup, group_teardown);
}
