/* The identity schema's SQL: every statement identity runs, parameterized. */
#ifndef TM_GATEWAY_IDENTITY_STORE_H
#define TM_GATEWAY_IDENTITY_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "taskmesh/v1/identity.pb-c.h"
#include "tm/arena.h"
#include "tm/db.h"

/* Results as tm/db.h has them: TM_DB_OK found/done, TM_DB_NONE not found, < 0 a failure. */

struct new_user {
	const char *email, *password_hash; /* hash NULL: GitHub-only account */
	const char *role, *display_name;
	int64_t github_id; /* 0: none */
	const char *github_username;
	bool is_verified;
};

int store_user_insert(struct tm_db *db, const struct new_user *nu, struct tm_arena *a,
		      Taskmesh__V1__User **out);
/* By e-mail, id or GitHub id; *hash (may be NULL) gets the password hash or NULL. */
int store_user_by_email(struct tm_db *db, const char *email, struct tm_arena *a,
			Taskmesh__V1__User **out, char **hash);
int store_user_by_id(struct tm_db *db, const char *id, struct tm_arena *a,
		     Taskmesh__V1__User **out);
int store_user_by_github(struct tm_db *db, int64_t github_id, struct tm_arena *a,
			 Taskmesh__V1__User **out);
int store_user_set_hash(struct tm_db *db, const char *id, const char *hash);
int store_user_link_github(struct tm_db *db, const char *id, int64_t github_id, const char *login);

struct refresh_row {
	int64_t id;
	char family_id[40], user_id[40];
	bool expired, used, revoked;
};
int store_refresh_insert(struct tm_db *db, const char *family_id, const char *user_id,
			 const char *token_hash, const char *access_jti, int64_t ttl_s);
/* Locks the row of a token hash for the rest of the transaction. */
int store_refresh_take(struct tm_db *db, const char *token_hash, struct refresh_row *out);
int store_refresh_mark_used(struct tm_db *db, int64_t id);
/* Revokes a family; every access token issued in it is recorded as revoked
 * until now + access_ttl_s. Writes the jtis to *jtis (arena) and their count. */
int store_family_revoke(struct tm_db *db, const char *family_id, int64_t access_ttl_s,
			struct tm_arena *a, char ***jtis, int *njtis);
int store_revoked_insert(struct tm_db *db, const char *jti, int64_t exp_s);
/* The revoked tokens still live: (jti, expiry in epoch seconds) rows in *res. */
int store_revoked_live(struct tm_db *db, PGresult **res);
/* Forgets revoked tokens that have expired anyway. */
int store_revoked_prune(struct tm_db *db);

/* Login throttling by key ("email:..." or "ip:..."). */
int store_login_blocked_s(struct tm_db *db, const char *key, int64_t *wait_s);
int store_login_failure(struct tm_db *db, const char *key);
int store_login_reset(struct tm_db *db, const char *key);

int store_oauth_state_insert(struct tm_db *db, const char *state_hash, const char *binding,
			     int64_t ttl_s);
/* Consumes a live, unused state with this binding: 0 when it was, 1 otherwise. */
int store_oauth_state_consume(struct tm_db *db, const char *state_hash, const char *binding);

#endif
