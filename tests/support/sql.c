/* Tests' SQL with text parameters; see sql.h. */
#include "sql.h"

int tsql(struct tm_db *db, PGresult **res, const char *sql, int n, const char *const *params)
{
	struct tm_dbp p[TM_DB_PARAMS_MAX];
	PGresult *r = NULL;

	if (n < 0 || n > TM_DB_PARAMS_MAX)
		return TM_DB_ERR;
	for (int i = 0; i < n; i++)
		p[i] = TM_P_TEXT(params[i]);
	int rc = tm_db_rows(db, &r, sql, p, n);
	if (res)
		*res = r;
	else
		PQclear(r);
	return rc;
}
