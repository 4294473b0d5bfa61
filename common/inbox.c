/* The idempotent-consumer inbox; see tm/inbox.h. */
#include "tm/inbox.h"
#include "tm/log.h"

enum tm_inbox_rc tm_inbox_claim(struct tm_db *db, const char *event_id, const char *type,
				const char *source)
{
	if (!tm_db_in_tx(db)) {
		tm_error("tm_inbox_claim outside a transaction (bug)");
		return TM_INBOX_ERROR;
	}
	/* concurrent deliveries of one id: the second waits for the first to commit */
	int rc = tm_db_exec_n(db,
			      "INSERT INTO inbox (event_id, type, source) VALUES ($1, $2, $3) "
			      "ON CONFLICT (event_id) DO NOTHING",
			      TM_PARAMS(TM_P_TEXT(event_id), TM_P_TEXT(type), TM_P_TEXT(source)),
			      1);
	return rc == TM_DB_OK	? TM_INBOX_NEW :
	       rc == TM_DB_NONE ? TM_INBOX_DUPLICATE :
				  TM_INBOX_ERROR;
}

int tm_inbox_dead_letter(struct tm_db *db, const char *event_id, const char *type,
			 const char *source, const char *error)
{
	return tm_db_exec(db,
			  "INSERT INTO inbox (event_id, type, source, status, error) "
			  "VALUES ($1, $2, $3, 'dead', $4) "
			  "ON CONFLICT (event_id) DO UPDATE SET status = 'dead', error = $4",
			  TM_PARAMS(TM_P_TEXT(event_id), TM_P_TEXT(type), TM_P_TEXT(source),
				    TM_P_TEXT(error))) == TM_DB_OK ?
		       0 :
		       -1;
}
