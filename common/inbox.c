/* The idempotent-consumer inbox; see tm/inbox.h. */
#include "tm/inbox.h"
#include "tm/log.h"

enum tm_inbox_rc tm_inbox_claim(struct tm_db *db, const char *event_id, const char *type,
				const char *source)
{
	const char *p[] = {event_id, type, source};
	PGresult *r = NULL;

	if (!tm_db_in_tx(db)) {
		tm_error("tm_inbox_claim outside a transaction (bug)");
		return TM_INBOX_ERROR;
	}
	/* concurrent deliveries of one id: the second waits for the first to commit */
	if (tm_db_query(db, &r,
			"INSERT INTO inbox (event_id, type, source) VALUES ($1, $2, $3) "
			"ON CONFLICT (event_id) DO NOTHING",
			3, p) != TM_DB_OK)
		return TM_INBOX_ERROR;
	enum tm_inbox_rc rc = PQcmdTuples(r)[0] == '1' ? TM_INBOX_NEW : TM_INBOX_DUPLICATE;
	PQclear(r);
	return rc;
}

int tm_inbox_dead_letter(struct tm_db *db, const char *event_id, const char *type,
			 const char *source, const char *error)
{
	const char *p[] = {event_id, type, source, error};
	return tm_db_query(db, NULL,
			   "INSERT INTO inbox (event_id, type, source, status, error) "
			   "VALUES ($1, $2, $3, 'dead', $4) "
			   "ON CONFLICT (event_id) DO UPDATE SET status = 'dead', error = $4",
			   4, p) == TM_DB_OK ?
		       0 :
		       -1;
}
