/* Tests' SQL with text parameters (the way a person writes them in a test):
 * tsql(db, &res, "SELECT ... WHERE id = $1", 1, (const char *const[]){id}).
 * res NULL: the result is dropped. Returns what tm_db_rows returns. */
#ifndef TM_TEST_SQL_H
#define TM_TEST_SQL_H

#include "tm/db.h"

int tsql(struct tm_db *db, PGresult **res, const char *sql, int n, const char *const *params);

#endif
