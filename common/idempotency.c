/* Idempotency keys; see tm/idempotency.h. */
#include <stdio.h>
#include <string.h>

#include "tm/buf.h"
#include "tm/idempotency.h"
#include "tm/log.h"
#include "tm/util.h"

#define TTL_SQL "interval '60 seconds'" /* TM_IDEM_CLAIM_TTL_S */
_Static_assert(TM_IDEM_CLAIM_TTL_S == 60, "keep TTL_SQL in step");

void tm_idem_init(struct tm_idem *k, const char *user_id, const char *method, const char *key,
		  const void *body, size_t body_len)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_puts(&b, method);
	tm_buf_putc(&b, '\n');
	tm_buf_append(&b, body, body_len);
	tm_sha256_hex(b.data ? b.data : "", b.len, k->hash);
	tm_buf_free(&b);
	if (user_id && user_id[0])
		snprintf(k->caller, sizeof(k->caller), "%s", user_id);
	else
		snprintf(k->caller, sizeof(k->caller), "anonymous:%s", k->hash);
	snprintf(k->method, sizeof(k->method), "%s", method);
	k->key = key;
}

/* Reads the existing row and decides. Runs inside the claim transaction. */
static enum tm_idem_outcome judge_existing(struct tm_db *db, const struct tm_idem *k,
					   struct tm_arena *a, ProtobufCBinaryData *stored,
					   enum tm_code *code)
{
	PGresult *r = NULL;
	enum tm_idem_outcome out = TM_IDEM_DB_ERROR;

	int rc = tm_db_maybe_one(
		db, &r,
		"SELECT request_hash, state, reply, locked_until < now() FROM idempotency_keys "
		"WHERE caller_id = $1 AND method = $2 AND key = $3 FOR UPDATE",
		TM_PARAMS(TM_P_TEXT(k->caller), TM_P_TEXT(k->method), TM_P_TEXT(k->key)));
	if (rc < 0)
		return TM_IDEM_DB_ERROR;
	if (rc == TM_DB_NONE) { /* pruned meanwhile: the caller retries the claim */
		*code = TM_E_CONFLICT;
		out = TM_IDEM_REJECT;
	} else if (strcmp(PQgetvalue(r, 0, 0), k->hash) != 0) {
		*code = TM_E_IDEMPOTENCY_KEY_REUSED;
		out = TM_IDEM_REJECT;
	} else if (strcmp(PQgetvalue(r, 0, 1), "done") == 0) {
		size_t len = 0;
		unsigned char *raw =
			PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 2), &len);
		stored->data = raw ? tm_arena_alloc(a, len ? len : 1) : NULL;
		if (stored->data) {
			memcpy(stored->data, raw, len);
			stored->len = len;
			out = TM_IDEM_REPLAY;
		}
		PQfreemem(raw);
	} else if (strcmp(PQgetvalue(r, 0, 3), "t") == 0) {
		/* an abandoned claim (its worker died): take it over */
		out = tm_db_exec(db,
				 "UPDATE idempotency_keys SET locked_until = now() + " TTL_SQL
				 " WHERE caller_id = $1 AND method = $2 AND key = $3",
				 TM_PARAMS(TM_P_TEXT(k->caller), TM_P_TEXT(k->method),
					   TM_P_TEXT(k->key))) == TM_DB_OK ?
			      TM_IDEM_PROCEED :
			      TM_IDEM_DB_ERROR;
	} else {
		*code = TM_E_CONFLICT;
		out = TM_IDEM_REJECT;
	}
	PQclear(r);
	return out;
}

enum tm_idem_outcome tm_idem_claim(struct tm_db *db, const struct tm_idem *k, struct tm_arena *a,
				   ProtobufCBinaryData *stored, enum tm_code *code)
{
	enum tm_idem_outcome out;

	if (tm_db_begin(db) != TM_DB_OK)
		return TM_IDEM_DB_ERROR;
	int rc = tm_db_exec_n(
		db,
		"INSERT INTO idempotency_keys (caller_id, method, key, request_hash, state, "
		"locked_until) VALUES ($1, $2, $3, $4, 'in_progress', now() + " TTL_SQL ") "
		"ON CONFLICT DO NOTHING",
		TM_PARAMS(TM_P_TEXT(k->caller), TM_P_TEXT(k->method), TM_P_TEXT(k->key),
			  TM_P_TEXT(k->hash)),
		1);
	if (rc < 0) {
		tm_db_rollback(db);
		return TM_IDEM_DB_ERROR;
	}
	out = rc == TM_DB_OK ? TM_IDEM_PROCEED : judge_existing(db, k, a, stored, code);
	if (out == TM_IDEM_DB_ERROR || tm_db_commit(db) != TM_DB_OK) {
		tm_db_rollback(db);
		return TM_IDEM_DB_ERROR;
	}
	return out;
}

int tm_idem_finish(struct tm_db *db, const struct tm_idem *k, const void *reply, size_t len)
{
	return tm_db_exec(db,
			  "UPDATE idempotency_keys SET state = 'done', reply = $4, "
			  "locked_until = NULL WHERE caller_id = $1 AND method = $2 AND key = $3",
			  TM_PARAMS(TM_P_TEXT(k->caller), TM_P_TEXT(k->method), TM_P_TEXT(k->key),
				    TM_P_BYTES(reply, len))) == TM_DB_OK ?
		       0 :
		       -1;
}

void tm_idem_release(struct tm_db *db, const struct tm_idem *k)
{
	if (tm_db_exec(db,
		       "DELETE FROM idempotency_keys WHERE caller_id = $1 AND method = $2 AND "
		       "key = $3 AND state = 'in_progress'",
		       TM_PARAMS(TM_P_TEXT(k->caller), TM_P_TEXT(k->method), TM_P_TEXT(k->key))) !=
	    TM_DB_OK)
		tm_warn("cannot release idempotency key claim: %s (it expires by itself)",
			tm_db_error(db));
}
