/*
 * Shared fixture of the component tests in tests/integration/ (header only:
 * the Makefile builds every test_*.c with tests/support linked in, and this
 * file is included by those that need PostgreSQL and tm-devkafka).
 *
 * itest_start() runs the infrastructure of the dev stack (a private PostgreSQL
 * and tm-devkafka on free loopback ports) and opens an admin connection;
 * itest_stop() stops both (tests/support/stack.c also stops them when the
 * process is killed or a sanitizer ends it).
 *
 * Include <cmocka.h> (with its prerequisites) before this file.
 */
#ifndef TM_ITEST_H
#define TM_ITEST_H

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/sql.h"
#include "../support/stack.h"
#include "tm/db.h"
#include "tm/log.h"
#include "tm/migrate.h"
#include "tm/util.h"

#define ITEST_UNUSED __attribute__((unused))
#define ITEST_NAME_MAX 64     /* schema, topic and group names made by itest_name */
#define ITEST_POLL_STEP_MS 20 /* pause between two looks of a bounded wait */
#define ITEST_PARAMS(...) ((const char *const[]){__VA_ARGS__})

struct itest {
	struct tm_test_stack stack;
	struct tm_db *admin; /* no search_path: names are schema-qualified */
	bool started;	     /* itest_start succeeded: itest_stop cleans up */
};

static struct itest itest;

/* PostgreSQL NOTICEs ("schema already exists, skipping") are not test output. */
static ITEST_UNUSED void itest_quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static ITEST_UNUSED int itest_rm_entry(const char *path, const struct stat *st, int flag,
				       struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Removes a directory tree a test made with mkdtemp. */
static ITEST_UNUSED void itest_rm_tree(const char *path)
{
	if (path && path[0] == '/' && strlen(path) > 5)
		nftw(path, itest_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Group setup: the stack (infrastructure only) and the admin connection. */
static ITEST_UNUSED int itest_start(void)
{
	char err[256];
	const char *level = getenv("TM_LOG_LEVEL");

	tm_log_init("itest", level && *level ? level : "warn", "text");
	if (tm_test_stack_start(&itest.stack, true) != 0)
		return -1; /* the run dir stays, with the logs that say why */
	if (tm_db_open(&itest.admin, itest.stack.database_url, NULL, err, sizeof(err)) != 0) {
		print_message("cannot connect to %s: %s\n", itest.stack.database_url, err);
		tm_test_stack_stop(&itest.stack);
		return -1;
	}
	PQsetNoticeProcessor(tm_db_conn(itest.admin), itest_quiet_notice, NULL);
	itest.started = true;
	return 0;
}

/* Group teardown: stops the stack and removes what it left on disk. */
static ITEST_UNUSED int itest_stop(void)
{
	tm_db_close(itest.admin);
	itest.admin = NULL;
	if (!itest.started)
		return 0;
	itest.started = false;
	/* tm-devkafka must have lived through the tests: if not, keep its log */
	bool kafka_alive = tm_test_kafka_ctl(&itest.stack, "ping") == 0;
	int rc = tm_test_stack_stop(&itest.stack); /* removes the run dir when clean */
	if (rc != 0) {
		print_message("devstack stop exited %d; logs kept in %s/logs\n", rc,
			      itest.stack.run_dir);
		return -1;
	}
	if (!kafka_alive) {
		print_message(
			"tm-devkafka did not answer at the end; its log: %s/logs/tm-devkafka.log\n",
			itest.stack.run_dir);
		return -1;
	}
	return 0;
}

/* "<prefix><12 random hex digits>": unique schema, topic and group names. */
static ITEST_UNUSED void itest_name(const char *prefix, char *out, size_t outlen)
{
	unsigned char r[6];

	assert_int_equal(tm_random_bytes(r, sizeof(r)), 0);
	snprintf(out, outlen, "%s%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3], r[4],
		 r[5]);
}

/* Runs a statement that must succeed; fails the test with the database's error. */
static ITEST_UNUSED void itest_exec(struct tm_db *db, const char *sql, int n,
				    const char *const *params)
{
	if (tsql(db, NULL, sql, n, params) != TM_DB_OK)
		fail_msg("%s: %s", sql, tm_db_error(db));
}

/* The first column of the only row of a query, as an integer. */
static ITEST_UNUSED int64_t itest_int(struct tm_db *db, const char *sql, int n,
				      const char *const *params)
{
	PGresult *r = NULL;
	int64_t v = 0;

	if (tsql(db, &r, sql, n, params) != TM_DB_OK)
		fail_msg("%s: %s", sql, tm_db_error(db));
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
	    tm_parse_int64(PQgetvalue(r, 0, 0), &v) != 0) {
		int rows = PQntuples(r);
		PQclear(r);
		fail_msg("%s: expected one integer, got %d row(s)", sql, rows);
	}
	PQclear(r);
	return v;
}

/* The first column of the only row of a query as text ("<null>" for NULL,
 * "<no row>" when there is none). */
static ITEST_UNUSED void itest_text(struct tm_db *db, char *out, size_t outlen, const char *sql,
				    int n, const char *const *params)
{
	PGresult *r = NULL;

	if (tsql(db, &r, sql, n, params) != TM_DB_OK)
		fail_msg("%s: %s", sql, tm_db_error(db));
	if (PQntuples(r) == 0)
		snprintf(out, outlen, "<no row>");
	else if (PQgetisnull(r, 0, 0))
		snprintf(out, outlen, "<null>");
	else
		snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* Opens a connection of the stack's database with search_path = schema. */
static ITEST_UNUSED struct tm_db *itest_connect(const char *schema)
{
	char err[256];
	struct tm_db *db = NULL;

	if (tm_db_open(&db, itest.stack.database_url, schema, err, sizeof(err)) != 0)
		fail_msg("tm_db_open(%s): %s", schema ? schema : "-", err);
	PQsetNoticeProcessor(tm_db_conn(db), itest_quiet_notice, NULL);
	return db;
}

/* Creates `schema` with the common migrations (outbox, inbox, idempotency
 * keys) the way a daemon does: <source>/migrations, no directory of its own. */
static ITEST_UNUSED void itest_migrate_common(const char *schema)
{
	char dir[512], err[512];
	struct tm_db *db = itest_connect(schema);

	snprintf(dir, sizeof(dir), "%s/migrations", tm_test_source_dir());
	int n = tm_migrate(db, dir, schema, err, sizeof(err));
	tm_db_close(db);
	if (n < 1)
		fail_msg("tm_migrate(%s) = %d: %s", schema, n, err);
}

static ITEST_UNUSED void itest_drop_schema(const char *schema)
{
	char sql[160];

	if (!schema[0] || !itest.admin)
		return;
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS \"%s\" CASCADE", schema);
	if (tsql(itest.admin, NULL, sql, 0, NULL) != TM_DB_OK)
		print_message("%s: %s\n", sql, tm_db_error(itest.admin));
}

/* Polls `done(arg)` every ITEST_POLL_STEP_MS until it is true or timeout_ms
 * passed. Returns the milliseconds waited, or -1 on timeout. */
static ITEST_UNUSED int64_t itest_wait(bool (*done)(void *), void *arg, int64_t timeout_ms)
{
	int64_t start = tm_mono_ms();

	for (;;) {
		if (done(arg))
			return tm_mono_ms() - start;
		if (tm_mono_ms() - start >= timeout_ms)
			return -1;
		tm_sleep_ms(ITEST_POLL_STEP_MS);
	}
}

/* TM_TEST_ONLY=pattern runs the matching tests only (cmocka's filter: '*' wildcards). */
static ITEST_UNUSED void itest_filter(void)
{
	const char *only = getenv("TM_TEST_ONLY");
	if (only && *only)
		cmocka_set_test_filter(only);
}

#endif
