/*
 * The list contract of every list route (API.md): `limit` 1..100 (default 20)
 * and an opaque `cursor` from the previous page in; `items` and `nextCursor`
 * ("" on the last page) out. A list request message has `int32 limit` and
 * `string cursor`, its reply `repeated items` and `string next_cursor`; the
 * gateway refuses to start with a list route that breaks this, and a system
 * test walks every one.
 *
 * A cursor holds the keyset position of the last row shown: an integer key
 * (a time in microseconds, a position, an offset into a ranked list) and, where
 * the key alone is not unique, the row's UUID as the tie-breaker;
 * base64url-encoded so clients treat it as opaque.
 */
#ifndef TM_LIST_H
#define TM_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "tm/arena.h"
#include "tm/rpc_server.h"
#include "tm/util.h"

#define TM_LIST_LIMIT_DEFAULT 20
#define TM_LIST_LIMIT_MAX 100
#define TM_LIST_CURSOR_MAX 128 /* bytes of a cursor's text */

/* The page a list request asks for. */
struct tm_page {
	int limit;		  /* rows to show, 1..TM_LIST_LIMIT_MAX */
	bool after;		  /* a cursor was given: start after (key, id) */
	int64_t key;		  /* the keyset position of the last row shown */
	char id[TM_UUID_LEN + 1]; /* and its id ("" for a cursor made without one) */
};

/* Reads limit and cursor of a list request into *page: TM_OK, or
 * VALIDATION_FAILED with the field set on the call. */
enum tm_code tm_list_page(struct tm_rpc_call *call, int32_t limit, const char *cursor,
			  struct tm_page *page);
/* The cursor of the page after the row (key, id); id may be NULL. In the arena (NULL on OOM). */
char *tm_list_cursor(struct tm_arena *a, int64_t key, const char *id);
/* Decodes a cursor; 0, or -1 when it is not one this API made. */
int tm_list_cursor_parse(const char *cursor, int64_t *key, char id[TM_UUID_LEN + 1]);

#endif
