/* PostgreSQL access; see tm/db.h. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm/db.h"
#include "tm/log.h"
#include "tm/util.h"

#define DB_CONNECT_TIMEOUT_S "5" /* libpq connect_timeout per attempt */
#define DB_RETRY_STEP_MS 250	 /* first pause between startup attempts */

struct tm_db {
	PGconn *conn;
	char *conninfo;
	char schema[64];
	bool in_tx;
	char error[256];
	char sqlstate[6];
};

static atomic_ulong reconnects;
static atomic_bool healthy = true;

/* Copies the first line of msg into the error buffer. */
static void set_error(struct tm_db *db, const char *msg)
{
	size_t n = strcspn(msg, "\n");
	if (n >= sizeof(db->error))
		n = sizeof(db->error) - 1;
	memcpy(db->error, msg, n);
	db->error[n] = '\0';
}

/* True if a schema name is a plain lower-case identifier (safe to quote). */
static bool schema_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' ||
		      (i && s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* Server notices (e.g. "relation already exists, skipping") go to our log, not stderr. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	tm_debug("postgres: %.*s", (int)strcspn(message, "\n"), message);
}

/* Opens db->conn and sets the search path. Returns 0 or -1 (db->error set). */
static int connect_now(struct tm_db *db)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {db->conninfo, DB_CONNECT_TIMEOUT_S, "taskmesh", NULL};

	if (db->conn)
		PQfinish(db->conn);
	/* expand_dbname=1: the conninfo string or URI fills the other keys */
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		set_error(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		atomic_store(&healthy, false);
		return -1;
	}
	PQsetNoticeProcessor(db->conn, on_notice, NULL);
	if (db->schema[0]) {
		char sql[160];
		snprintf(sql, sizeof(sql), "SET search_path TO \"%s\", public", db->schema);
		PGresult *r = PQexec(db->conn, sql); /* identifier validated by schema_ok */
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			set_error(db, PQresultErrorMessage(r));
		PQclear(r);
		if (!ok)
			return -1;
	}
	atomic_store(&healthy, true);
	return 0;
}

int tm_db_open(struct tm_db **out, const char *conninfo, const char *schema, char *err,
	       size_t errlen)
{
	struct tm_db *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (!db || !(db->conninfo = strdup(conninfo))) {
		snprintf(err, errlen, "out of memory");
		free(db);
		return -1;
	}
	if (schema) {
		if (!schema_ok(schema)) {
			snprintf(err, errlen, "invalid schema name \"%s\"", schema);
			tm_db_close(db);
			return -1;
		}
		snprintf(db->schema, sizeof(db->schema), "%s", schema);
	}
	if (connect_now(db) != 0) {
		snprintf(err, errlen, "%s", db->error);
		tm_db_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int tm_db_open_retry(struct tm_db **out, const char *conninfo, const char *schema, int timeout_ms,
		     char *err, size_t errlen)
{
	int64_t end = tm_mono_ms() + timeout_ms;
	int64_t pause = DB_RETRY_STEP_MS;

	for (;;) {
		if (tm_db_open(out, conninfo, schema, err, errlen) == 0)
			return 0;
		int64_t left = end - tm_mono_ms();
		if (left <= 0)
			return -1;
		tm_sleep_ms(pause < left ? pause : left);
		if (pause < 2000)
			pause *= 2;
	}
}

void tm_db_close(struct tm_db *db)
{
	if (!db)
		return;
	if (db->conn)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

/* Maps a failed result to a tm_db_rc and records the error. */
static int classify(struct tm_db *db, PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	set_error(db, r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		atomic_store(&healthy, false);
		return TM_DB_ERR_CONN;
	}
	if (state && strcmp(state, "23505") == 0)
		return TM_DB_ERR_UNIQUE;
	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return TM_DB_ERR_SERIALIZATION;
	return TM_DB_ERR;
}

int tm_db_query_bin(struct tm_db *db, PGresult **res, const char *sql, int nparams,
		    const char *const *values, const int *lengths, const int *formats)
{
	if (res)
		*res = NULL;
	for (int attempt = 0;; attempt++) {
		PGresult *r =
			PQexecParams(db->conn, sql, nparams, NULL, values, lengths, formats, 0);
		ExecStatusType st = PQresultStatus(r);
		if (r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
			db->sqlstate[0] = '\0';
			if (res)
				*res = r;
			else
				PQclear(r);
			return TM_DB_OK;
		}
		int rc = classify(db, r);
		PQclear(r);
		/* a dropped connection outside a transaction: reconnect and retry once */
		if (rc != TM_DB_ERR_CONN || db->in_tx || attempt > 0)
			return rc;
		atomic_fetch_add(&reconnects, 1);
		tm_warn("database connection lost (%s); reconnecting", db->error);
		if (connect_now(db) != 0)
			return TM_DB_ERR_CONN;
	}
}

int tm_db_query(struct tm_db *db, PGresult **res, const char *sql, int nparams,
		const char *const *params)
{
	return tm_db_query_bin(db, res, sql, nparams, params, NULL, NULL);
}

int tm_db_begin(struct tm_db *db)
{
	db->error[0] = '\0'; /* a transaction's errors are its own */
	db->sqlstate[0] = '\0';
	int rc = tm_db_query(db, NULL, "BEGIN", 0, NULL);
	db->in_tx = rc == TM_DB_OK;
	return rc;
}

int tm_db_commit(struct tm_db *db)
{
	int rc = tm_db_query(db, NULL, "COMMIT", 0, NULL);
	db->in_tx = false;
	return rc;
}

void tm_db_rollback(struct tm_db *db)
{
	if (!db->in_tx)
		return;
	db->in_tx = false;
	if (PQstatus(db->conn) == CONNECTION_BAD)
		return; /* the server rolled back when the connection died */
	PGresult *r = PQexec(db->conn, "ROLLBACK");
	PQclear(r);
}

bool tm_db_in_tx(const struct tm_db *db)
{
	return db->in_tx;
}

const char *tm_db_error(const struct tm_db *db)
{
	return db->error;
}

const char *tm_db_sqlstate(const struct tm_db *db)
{
	return db->sqlstate;
}

PGconn *tm_db_conn(struct tm_db *db)
{
	return db->conn;
}

const char *tm_db_schema(const struct tm_db *db)
{
	return db->schema;
}

unsigned long tm_db_reconnects(void)
{
	return atomic_load(&reconnects);
}

bool tm_db_healthy(void)
{
	return atomic_load(&healthy);
}
