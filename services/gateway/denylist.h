/*
 * Access tokens revoked before they expire (logout, refresh-token reuse), by
 * jti. Checked on every authenticated request from the HTTP threads, so it
 * lives in memory (a bounded hash set under one mutex, lookups only hash and
 * compare); identity.revoked_tokens keeps it across restarts.
 */
#ifndef TM_GATEWAY_DENYLIST_H
#define TM_GATEWAY_DENYLIST_H

#include <stdbool.h>
#include <stdint.h>

#define GW_DENYLIST_MAX 65536 /* revocations held at once (tokens live 15 minutes) */

struct gw_denylist;

int gw_denylist_new(struct gw_denylist **out);
void gw_denylist_free(struct gw_denylist *d);
/* Remembers jti until exp_s (seconds since the epoch). Returns 0, or -1 when
 * full even after dropping expired entries (the caller logs; the row in
 * identity.revoked_tokens still holds). */
int gw_denylist_add(struct gw_denylist *d, const char *jti, int64_t exp_s, int64_t now_s);
bool gw_denylist_contains(struct gw_denylist *d, const char *jti, int64_t now_s);

#endif
