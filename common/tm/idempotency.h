/*
 * Idempotency keys for RPC methods that create or pay (rpc_server.c uses it).
 * A key is scoped to (caller, method); an anonymous caller's keys are also
 * scoped to the request, so strangers can never replay each other's replies.
 * Claim -> handler transaction -> finish (stored with the effects) or release.
 */
#ifndef TM_IDEMPOTENCY_H
#define TM_IDEMPOTENCY_H

#include <protobuf-c/protobuf-c.h>

#include "tm/arena.h"
#include "tm/db.h"
#include "tm/errors.h"

#define TM_IDEM_CLAIM_TTL_S 60 /* an in_progress claim older than this may be taken over */

struct tm_idem {
	char caller[160];
	char method[64];
	const char *key;
	char hash[65]; /* SHA-256 hex of method and body */
};

enum tm_idem_outcome {
	TM_IDEM_PROCEED, /* claimed: run the handler, then tm_idem_finish or tm_idem_release */
	TM_IDEM_REPLAY,	 /* *stored holds the first reply (a packed RpcReply) */
	TM_IDEM_REJECT,	 /* *code: IDEMPOTENCY_KEY_REUSED (other body) or CONFLICT (in flight) */
	TM_IDEM_DB_ERROR,
};

void tm_idem_init(struct tm_idem *k, const char *user_id, const char *method, const char *key,
		  const void *body, size_t body_len);
/* Claims the key in its own transaction. */
enum tm_idem_outcome tm_idem_claim(struct tm_db *db, const struct tm_idem *k, struct tm_arena *a,
				   ProtobufCBinaryData *stored, enum tm_code *code);
/* Stores the reply; inside the handler's transaction for successes, alone for errors. */
int tm_idem_finish(struct tm_db *db, const struct tm_idem *k, const void *reply, size_t len);
/* Forgets the claim so a retry runs again (the handler failed without effects). */
void tm_idem_release(struct tm_db *db, const struct tm_idem *k);

#endif
