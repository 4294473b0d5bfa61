/*
 * PostgreSQL access: the store layer every service builds on.
 *
 * One connection per thread (never shared). Every statement is parameterized
 * and prepared once per connection (the statement cache below), so the server
 * parses and plans it once, not on every call. Typed parameters (TM_P_*) say
 * what each $n is; the result helpers decode columns in C (timestamps as
 * RFC 3339, text[] arrays) so the SQL need not format anything.
 *
 * Every connection's search_path is the owning service's schema (shared SQL
 * such as the outbox names bare tables), its TimeZone is UTC and its DateStyle
 * ISO. Outside a transaction a dropped connection is reopened and the
 * statement retried once.
 *
 * Return values, here and in every store built on this (one convention):
 *   TM_DB_OK   (0)  done: the statement ran, the row was found, the rows changed
 *   TM_DB_NONE (1)  nothing matched: no such row, no row changed
 *   < 0             a failure, one of enum tm_db_rc (tm_db_error says what)
 */
#ifndef TM_DB_H
#define TM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "tm/arena.h"

enum tm_db_rc {
	TM_DB_NONE = 1,		      /* nothing matched (not an error) */
	TM_DB_OK = 0,		      /* done */
	TM_DB_ERR = -1,		      /* statement failed (see tm_db_sqlstate / tm_db_error) */
	TM_DB_ERR_CONN = -2,	      /* connection lost and could not be re-established */
	TM_DB_ERR_UNIQUE = -3,	      /* unique_violation (23505) */
	TM_DB_ERR_SERIALIZATION = -4, /* 40001 / 40P01: retry the transaction */
};

#define TM_DB_PARAMS_MAX 32	 /* parameters of one statement */
#define TM_DB_STATEMENTS_MAX 256 /* prepared statements kept per connection */

struct tm_db;

/* ---- connections and transactions ---- */

/* Connects and sets search_path to `schema` (NULL: leave the default).
 * Returns 0, or -1 with a one-line reason in err. */
int tm_db_open(struct tm_db **out, const char *conninfo, const char *schema, char *err,
	       size_t errlen);
void tm_db_close(struct tm_db *db);

/* Retries tm_db_open until it succeeds or `timeout_ms` passes (startup). */
int tm_db_open_retry(struct tm_db **out, const char *conninfo, const char *schema, int timeout_ms,
		     char *err, size_t errlen);

int tm_db_begin(struct tm_db *db);
/* Commits; a transaction that had failed answers COMMIT with ROLLBACK, which is
 * reported as TM_DB_ERR ("the transaction was rolled back"), never as done. */
int tm_db_commit(struct tm_db *db);
/* Never fails from the caller's point of view; a broken connection is reset. */
void tm_db_rollback(struct tm_db *db);
bool tm_db_in_tx(const struct tm_db *db);
/* Runs fn(arg) once the current transaction has committed (never when it
 * rolls back); outside a transaction, at once. A repeated (fn, arg) runs once.
 * For work that must not start before the data is visible: waking the outbox
 * relay, the analysis workers. TM_DB_ERR when TM_DB_HOOKS_MAX are pending. */
int tm_db_after_commit(struct tm_db *db, void (*fn)(void *arg), void *arg);
#define TM_DB_HOOKS_MAX 8

/* ---- typed parameters ---- */

enum tm_db_ptype { TM_DBP_NULL, TM_DBP_TEXT, TM_DBP_INT, TM_DBP_BOOL, TM_DBP_FLOAT, TM_DBP_BYTES };

struct tm_dbp {
	enum tm_db_ptype type;
	union {
		const char *s; /* TM_DBP_TEXT (NULL is SQL NULL) */
		int64_t i;
		bool b;
		double f;
		struct {
			const void *data;
			size_t len;
		} bytes; /* TM_DBP_BYTES: sent in binary (a bytea parameter) */
	} v;
};

#define TM_P_NULL ((struct tm_dbp){.type = TM_DBP_NULL})
#define TM_P_TEXT(x) ((struct tm_dbp){.type = TM_DBP_TEXT, .v.s = (x)})
#define TM_P_INT(x) ((struct tm_dbp){.type = TM_DBP_INT, .v.i = (int64_t)(x)})
#define TM_P_BOOL(x) ((struct tm_dbp){.type = TM_DBP_BOOL, .v.b = (x)})
#define TM_P_FLOAT(x) ((struct tm_dbp){.type = TM_DBP_FLOAT, .v.f = (x)})
#define TM_P_BYTES(d, n) ((struct tm_dbp){.type = TM_DBP_BYTES, .v.bytes = {(d), (n)}})
/* An integer when `has`, else SQL NULL. */
#define TM_P_INT_IF(has, x) ((has) ? TM_P_INT(x) : TM_P_NULL)

/* The parameter list of a call: TM_PARAMS(TM_P_TEXT(id), TM_P_INT(limit))
 * expands to the array and its length. A statement without parameters passes
 * NULL, 0. */
#define TM_PARAMS(...)                        \
	(const struct tm_dbp[]){__VA_ARGS__}, \
		(int)(sizeof((const struct tm_dbp[]){__VA_ARGS__}) / sizeof(struct tm_dbp))

/* ---- statements (prepared on first use per connection) ---- */

/* Runs a statement; its result is not needed. TM_DB_OK or < 0. */
int tm_db_exec(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n);
/* Runs a statement that must change exactly `rows` rows (INSERT/UPDATE/DELETE
 * by its command tag): TM_DB_OK; TM_DB_NONE when it changed none; TM_DB_ERR
 * when it changed another number (a broken assumption: roll back). */
int tm_db_exec_n(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n, long rows);
/* Runs a query (or INSERT ... RETURNING) that must return exactly one row:
 * TM_DB_OK with *res (the caller PQclear()s it); no row or several are TM_DB_ERR. */
int tm_db_one(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p, int n);
/* A query that returns one row or none: TM_DB_OK with *res, or TM_DB_NONE
 * (*res NULL); several rows are TM_DB_ERR. */
int tm_db_maybe_one(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p,
		    int n);
/* A query with any number of rows: TM_DB_OK with *res (maybe empty). */
int tm_db_rows(struct tm_db *db, PGresult **res, const char *sql, const struct tm_dbp *p, int n);
/* Does the query return a row (or lock one: SELECT ... FOR UPDATE)? TM_DB_OK
 * yes, TM_DB_NONE no. */
int tm_db_exists(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n);

/* Rows a command changed, from its tag (INSERT 0 3 -> 3); -1 when the tag has no count. */
long tm_db_changed(const PGresult *r);

/* Runs SQL text as is, unprepared and without parameters, possibly several
 * statements (migrations, LISTEN). Never for values that come from outside. */
int tm_db_script(struct tm_db *db, const char *sql);

/* ---- columns of a result ---- */

bool tm_db_isnull(const PGresult *r, int row, int col);
/* The text of a column ("" for NULL); valid while r is. */
const char *tm_db_text(const PGresult *r, int row, int col);
/* A copy in the arena; NULL only when the arena is exhausted. */
char *tm_db_strdup(const PGresult *r, int row, int col, struct tm_arena *a);
/* Integers, booleans and doubles; 0 / false for NULL. */
int64_t tm_db_int(const PGresult *r, int row, int col);
bool tm_db_bool(const PGresult *r, int row, int col);
double tm_db_float(const PGresult *r, int row, int col);
/* A timestamptz (as this connection prints it: ISO, UTC) as RFC 3339 with
 * milliseconds ("2026-11-29T08:19:54.123Z") in the arena, "" for NULL; with
 * `micros` (may be NULL) the exact time in microseconds since the epoch.
 * NULL when the arena is exhausted or the text is not a timestamp. */
char *tm_db_time(const PGresult *r, int row, int col, struct tm_arena *a, int64_t *micros);
/* A one-dimensional text[] column into an array of strings in the arena
 * (NULL elements are skipped). Returns 0, or -1 when malformed or out of memory. */
int tm_db_text_array(const PGresult *r, int row, int col, struct tm_arena *a, char ***out,
		     size_t *n);
/* The same from the text PostgreSQL prints for a text[] ("{a,\"b c\",NULL}"). */
int tm_db_parse_text_array(const char *s, struct tm_arena *a, char ***out, size_t *n);
/* A PostgreSQL array literal ({"a","b"}) of n strings, for a text[] parameter;
 * in the arena (NULL when exhausted). */
char *tm_db_array_literal(char *const *items, size_t n, struct tm_arena *a);
/* Parses the timestamp text PostgreSQL prints with DateStyle ISO in UTC
 * ("2026-11-29 08:19:54.123456+00") into microseconds since the epoch. 0 or -1. */
int tm_db_parse_time(const char *s, int64_t *micros);

/* ---- the connection ---- */

const char *tm_db_error(const struct tm_db *db);    /* last error, one line; "" since
							  tm_db_begin when none */
const char *tm_db_sqlstate(const struct tm_db *db); /* last SQLSTATE or "" */
PGconn *tm_db_conn(struct tm_db *db);		    /* for LISTEN/notify waits */
const char *tm_db_schema(const struct tm_db *db);   /* the search_path schema or "" */
unsigned long tm_db_reconnects(void);		    /* process-wide count */
/* Statements this connection has prepared (tests, /metrics). */
int tm_db_prepared_count(const struct tm_db *db);

/* A process-wide health flag other threads update (last connection outcome). */
bool tm_db_healthy(void);

#endif
