/* PostgreSQL access: connections, transactions, prepared statements; see tm/db.h.
 * Column decoding (timestamps, arrays) is in db_value.c. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm/db.h"
#include "tm/log.h"
#include "tm/util.h"

#define DB_CONNECT_TIMEOUT_S "5" /* libpq connect_timeout per attempt */
#define DB_RETRY_STEP_MS 250	 /* first pause between startup attempts */
#define DB_NUM_BYTES 32		 /* text of one integer or double parameter */
/* the statement cache is an open-addressing table at most half full */
#define DB_CACHE_SLOTS (2 * TM_DB_STATEMENTS_MAX)

/* A statement prepared on this connection, found by its SQL text. */
struct stmt {
	uint64_t hash; /* FNV-1a of the SQL; 0 = empty slot */
	char *sql;     /* a copy, to confirm a hash match */
	char name[16]; /* "tm_<n>" */
	int nparams;
};

struct tm_db {
	PGconn *conn;
	char *conninfo;
	char schema[64];
	bool in_tx;
	char error[256];
	char sqlstate[6];
	struct {
		void (*fn)(void *arg);
		void *arg;
	} hooks[TM_DB_HOOKS_MAX]; /* tm_db_after_commit, for the open transaction */
	int nhooks;
	struct stmt cache[DB_CACHE_SLOTS];
	int nprepared;
	bool cache_full_logged;
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

/* Forgets every prepared statement (the connection that had them is gone). */
static void cache_clear(struct tm_db *db)
{
	for (int i = 0; i < DB_CACHE_SLOTS; i++) {
		free(db->cache[i].sql);
		db->cache[i] = (struct stmt){0};
	}
	db->nprepared = 0;
}

/* Opens db->conn and sets the session: search path, UTC, ISO dates.
 * Returns 0 or -1 (db->error set). */
static int connect_now(struct tm_db *db)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {db->conninfo, DB_CONNECT_TIMEOUT_S, "taskmesh", NULL};
	char sql[200];

	cache_clear(db);
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
	/* the schema is validated by schema_ok: a plain identifier */
	int len = snprintf(sql, sizeof(sql), "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'");
	if (db->schema[0])
		snprintf(sql + len, sizeof(sql) - (size_t)len,
			 "; SET search_path TO \"%s\", public", db->schema);
	PGresult *r = PQexec(db->conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		set_error(db, PQresultErrorMessage(r));
	PQclear(r);
	if (!ok)
		return -1;
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
	cache_clear(db);
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

/* A failure of our own making (not the server's): TM_DB_ERR with this error. */
static int fail(struct tm_db *db, const char *msg)
{
	db->sqlstate[0] = '\0';
	set_error(db, msg);
	return TM_DB_ERR;
}

/* ---- the statement cache ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ? h : 1;
}

/* The slot of a statement: the one holding `sql`, or the empty one where it
 * would go. */
static struct stmt *cache_slot(struct tm_db *db, const char *sql, uint64_t h)
{
	for (size_t i = h % DB_CACHE_SLOTS, k = 0; k < DB_CACHE_SLOTS;
	     i = (i + 1) % DB_CACHE_SLOTS, k++) {
		struct stmt *s = &db->cache[i];
		if (s->hash == 0 || (s->hash == h && strcmp(s->sql, sql) == 0))
			return s;
	}
	return NULL; /* unreachable: the table is never more than half full */
}

/*
 * The prepared statement for sql on this connection, prepared now on first
 * use. Returns its name, or NULL when the cache is full (then the statement
 * runs unnamed) or *rc is set to the failure.
 */
static const char *prepared(struct tm_db *db, const char *sql, int n, int *rc)
{
	uint64_t h = fnv1a(sql);
	struct stmt *s = cache_slot(db, sql, h);

	*rc = TM_DB_OK;
	if (s && s->hash)
		return s->nparams == n ? s->name : NULL; /* other count: let the server say */
	if (!s || db->nprepared >= TM_DB_STATEMENTS_MAX) {
		if (!db->cache_full_logged)
			tm_warn("more than %d distinct statements on one connection; the rest "
				"run unprepared",
				TM_DB_STATEMENTS_MAX);
		db->cache_full_logged = true;
		return NULL;
	}
	char name[16];
	snprintf(name, sizeof(name), "tm_%d", db->nprepared);
	PGresult *r = PQprepare(db->conn, name, sql, n, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		*rc = classify(db, r);
		PQclear(r);
		return NULL;
	}
	PQclear(r);
	if (!(s->sql = strdup(sql))) {
		*rc = fail(db, "out of memory");
		return NULL;
	}
	s->hash = h;
	s->nparams = n;
	memcpy(s->name, name, sizeof(name));
	db->nprepared++;
	return s->name;
}

/* ---- running statements ---- */

/* Parameters as libpq wants them: text, except bytes in binary. */
struct encoded {
	const char *values[TM_DB_PARAMS_MAX];
	int lengths[TM_DB_PARAMS_MAX];
	int formats[TM_DB_PARAMS_MAX];
	char num[TM_DB_PARAMS_MAX][DB_NUM_BYTES];
};

static int encode(struct tm_db *db, const struct tm_dbp *p, int n, struct encoded *e)
{
	if (n < 0 || n > TM_DB_PARAMS_MAX)
		return fail(db, "too many statement parameters");
	for (int i = 0; i < n; i++) {
		e->lengths[i] = 0;
		e->formats[i] = 0;
		switch (p[i].type) {
		case TM_DBP_NULL:
			e->values[i] = NULL;
			break;
		case TM_DBP_TEXT:
			e->values[i] = p[i].v.s;
			break;
		case TM_DBP_INT:
			snprintf(e->num[i], DB_NUM_BYTES, "%" PRId64, p[i].v.i);
			e->values[i] = e->num[i];
			break;
		case TM_DBP_BOOL:
			e->values[i] = p[i].v.b ? "t" : "f";
			break;
		case TM_DBP_FLOAT:
			snprintf(e->num[i], DB_NUM_BYTES, "%.17g", p[i].v.f);
			e->values[i] = e->num[i];
			break;
		case TM_DBP_BYTES:
			if (p[i].v.bytes.len > INT32_MAX)
				return fail(db, "a bytes parameter over 2 GiB");
			e->values[i] = p[i].v.bytes.data ? p[i].v.bytes.data : "";
			e->lengths[i] = (int)p[i].v.bytes.len;
			e->formats[i] = 1;
			break;
		}
	}
	return TM_DB_OK;
}

/* One attempt: prepare if needed, execute. */
static int run_once(struct tm_db *db, PGresult **res, const char *sql, int n,
		    const struct encoded *e)
{
	int rc;
	const char *name = prepared(db, sql, n, &rc);
	if (rc != TM_DB_OK)
		return rc;
	PGresult *r =
		name ? PQexecPrepared(db->conn, name, n, e->values, e->lengths, e->formats, 0) :
		       PQexecParams(db->conn, sql, n, NULL, e->values, e->lengths, e->formats, 0);
	ExecStatusType st = PQresultStatus(r);
	if (r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
		db->sqlstate[0] = '\0';
		*res = r;
		return TM_DB_OK;
	}
	rc = classify(db, r);
	PQclear(r);
	return rc;
}

/* Runs one statement; *res is the result (the caller clears it) on TM_DB_OK.
 * Outside a transaction a dropped connection is reopened and the statement
 * retried once. */
static int run(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p, int n)
{
	struct encoded e;
	int rc = encode(db, p, n, &e);

	*res = NULL;
	if (rc != TM_DB_OK)
		return rc;
	rc = run_once(db, res, sql, n, &e);
	/* a dropped connection outside a transaction: reconnect and retry once */
	if (rc != TM_DB_ERR_CONN || db->in_tx)
		return rc;
	atomic_fetch_add(&reconnects, 1);
	tm_warn("database connection lost (%s); reconnecting", db->error);
	if (connect_now(db) != 0)
		return TM_DB_ERR_CONN;
	return run_once(db, res, sql, n, &e);
}

long tm_db_changed(const PGresult *r)
{
	int64_t v = 0;
	const char *t = PQcmdTuples((PGresult *)r);
	return t[0] && tm_parse_int64(t, &v) == 0 ? (long)v : -1;
}

int tm_db_exec(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n)
{
	PGresult *r;
	int rc = run(db, &r, sql, p, n);
	PQclear(r);
	return rc;
}

int tm_db_exec_n(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n, long rows)
{
	PGresult *r;
	int rc = run(db, &r, sql, p, n);
	if (rc == TM_DB_OK) {
		long changed = tm_db_changed(r);
		if (changed == 0 && rows > 0) {
			rc = TM_DB_NONE;
		} else if (changed != rows) {
			char msg[96];
			snprintf(msg, sizeof(msg),
				 "expected %ld changed rows, the statement changed %ld", rows,
				 changed);
			rc = fail(db, msg);
		}
	}
	PQclear(r);
	return rc;
}

/* Runs a query and checks its row count: 0 rows -> `none`, 1 -> OK, more -> error. */
static int rows_checked(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p,
			int n, int none)
{
	int rc = run(db, res, sql, p, n);
	if (rc != TM_DB_OK)
		return rc;
	int rows = PQntuples(*res);
	if (rows == 1)
		return TM_DB_OK;
	PQclear(*res);
	*res = NULL;
	if (rows == 0)
		return none == TM_DB_NONE ? TM_DB_NONE : fail(db, "the statement returned no row");
	return fail(db, "the statement returned more than one row");
}

int tm_db_one(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p, int n)
{
	return rows_checked(db, res, sql, p, n, TM_DB_ERR);
}

int tm_db_maybe_one(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p,
		    int n)
{
	return rows_checked(db, res, sql, p, n, TM_DB_NONE);
}

int tm_db_rows(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p, int n)
{
	return run(db, res, sql, p, n);
}

int tm_db_exists(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n)
{
	PGresult *r;
	int rc = run(db, &r, sql, p, n);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = TM_DB_NONE;
	PQclear(r);
	return rc;
}

int tm_db_script(struct tm_db *db, const char *sql)
{
	for (int attempt = 0;; attempt++) {
		PGresult *r = PQexec(db->conn, sql);
		ExecStatusType st = PQresultStatus(r);
		if (r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
			db->sqlstate[0] = '\0';
			PQclear(r);
			return TM_DB_OK;
		}
		int rc = classify(db, r);
		PQclear(r);
		if (rc != TM_DB_ERR_CONN || db->in_tx || attempt > 0)
			return rc;
		atomic_fetch_add(&reconnects, 1);
		if (connect_now(db) != 0)
			return TM_DB_ERR_CONN;
	}
}

/* ---- transactions ---- */

int tm_db_after_commit(struct tm_db *db, void (*fn)(void *arg), void *arg)
{
	if (!db->in_tx) {
		fn(arg);
		return TM_DB_OK;
	}
	for (int i = 0; i < db->nhooks; i++)
		if (db->hooks[i].fn == fn && db->hooks[i].arg == arg)
			return TM_DB_OK;
	if (db->nhooks == TM_DB_HOOKS_MAX)
		return fail(db, "too many after-commit hooks in one transaction");
	db->hooks[db->nhooks].fn = fn;
	db->hooks[db->nhooks].arg = arg;
	db->nhooks++;
	return TM_DB_OK;
}

int tm_db_begin(struct tm_db *db)
{
	db->error[0] = '\0'; /* a transaction's errors are its own */
	db->sqlstate[0] = '\0';
	db->nhooks = 0;
	int rc = tm_db_exec(db, "BEGIN", NULL, 0);
	db->in_tx = rc == TM_DB_OK;
	return rc;
}

int tm_db_commit(struct tm_db *db)
{
	PGresult *r;
	int rc = run(db, &r, "COMMIT", NULL, 0);
	db->in_tx = false;
	/* COMMIT of a transaction that failed earlier "succeeds" with the tag ROLLBACK */
	if (rc == TM_DB_OK && strcmp(PQcmdStatus(r), "COMMIT") != 0)
		rc = fail(db, "the transaction was rolled back (an earlier statement failed)");
	PQclear(r);
	int n = db->nhooks;
	db->nhooks = 0;
	for (int i = 0; rc == TM_DB_OK && i < n; i++)
		db->hooks[i].fn(db->hooks[i].arg);
	return rc;
}

void tm_db_rollback(struct tm_db *db)
{
	db->nhooks = 0;
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

int tm_db_prepared_count(const struct tm_db *db)
{
	return db->nprepared;
}

unsigned long tm_db_reconnects(void)
{
	return atomic_load(&reconnects);
}

bool tm_db_healthy(void)
{
	return atomic_load(&healthy);
}
