/*
 * The idempotent-consumer inbox: <schema>.inbox(event_id PRIMARY KEY). A
 * handler claims the event id in the same transaction as its effects; a
 * second delivery of the same event finds the row and is skipped.
 */
#ifndef TM_INBOX_H
#define TM_INBOX_H

#include "tm/db.h"

enum tm_inbox_rc {
	TM_INBOX_NEW = 1,	/* first delivery: apply the effects, then commit */
	TM_INBOX_DUPLICATE = 0, /* seen before: skip */
	TM_INBOX_ERROR = -1,
};

/* Records event `event_id` (UUID) of `type` from `source`. Must run inside a
 * transaction. */
enum tm_inbox_rc tm_inbox_claim(struct tm_db *db, const char *event_id, const char *type,
				const char *source);

/* Records an event that failed every attempt (dead letter), in its own
 * transaction, so it is not retried forever. Returns 0 or -1. */
int tm_inbox_dead_letter(struct tm_db *db, const char *event_id, const char *type,
			 const char *source, const char *error);

#endif
