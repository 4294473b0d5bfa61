/*
 * PostgreSQL access: one connection per thread (never shared), parameterized
 * statements only, explicit transactions, and a reconnect when a connection
 * dropped outside a transaction. Every connection's search_path is the
 * owning service's schema, so shared SQL (outbox, inbox) names bare tables.
 */
#ifndef TM_DB_H
#define TM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

/* Results of tm_db_query; negative values are failures. */
enum tm_db_rc {
	TM_DB_OK = 0,
	TM_DB_ERR = -1,		      /* statement failed (see tm_db_sqlstate / tm_db_error) */
	TM_DB_ERR_CONN = -2,	      /* connection lost and could not be re-established */
	TM_DB_ERR_UNIQUE = -3,	      /* unique_violation (23505) */
	TM_DB_ERR_SERIALIZATION = -4, /* 40001 / 40P01: retry the transaction */
};

struct tm_db;

/* Connects and sets search_path to `schema` (NULL: leave the default).
 * Returns 0, or -1 with a one-line reason in err. */
int tm_db_open(struct tm_db **out, const char *conninfo, const char *schema, char *err,
	       size_t errlen);
void tm_db_close(struct tm_db *db);

/* Retries tm_db_open until it succeeds or `timeout_ms` passes (startup). */
int tm_db_open_retry(struct tm_db **out, const char *conninfo, const char *schema, int timeout_ms,
		     char *err, size_t errlen);

/*
 * Runs one parameterized statement (text parameters; NULL entries are SQL
 * NULL). On success returns TM_DB_OK and, if `res` is non-NULL, the result
 * (caller PQclear()s it). Outside a transaction a dropped connection is
 * reopened and the statement retried once.
 */
int tm_db_query(struct tm_db *db, PGresult **res, const char *sql, int nparams,
		const char *const *params);

/* Like tm_db_query, with explicit lengths and formats (1 = binary) per parameter. */
int tm_db_query_bin(struct tm_db *db, PGresult **res, const char *sql, int nparams,
		    const char *const *values, const int *lengths, const int *formats);

int tm_db_begin(struct tm_db *db);
int tm_db_commit(struct tm_db *db);
/* Never fails from the caller's point of view; a broken connection is reset. */
void tm_db_rollback(struct tm_db *db);
bool tm_db_in_tx(const struct tm_db *db);

const char *tm_db_error(const struct tm_db *db);    /* last error, one line; "" since
							  tm_db_begin when none */
const char *tm_db_sqlstate(const struct tm_db *db); /* last SQLSTATE or "" */
PGconn *tm_db_conn(struct tm_db *db);		    /* for LISTEN/notify waits */
const char *tm_db_schema(const struct tm_db *db);   /* the search_path schema or "" */
unsigned long tm_db_reconnects(void);		    /* process-wide count */

/* A process-wide health flag other threads update (last connection outcome). */
bool tm_db_healthy(void);

#endif
