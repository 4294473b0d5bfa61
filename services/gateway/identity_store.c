/* The identity schema's SQL; see identity_store.h. */
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "identity_store.h"
#include "tm/util.h"

/* The columns every user read selects, in row_to_user's order. */
#define USER_COLUMNS \
	"id, email, role, display_name, github_username, is_verified, created_at, password_hash"

static Taskmesh__V1__Role role_of(const char *s)
{
	if (strcmp(s, "client") == 0)
		return TASKMESH__V1__ROLE__ROLE_CLIENT;
	if (strcmp(s, "developer") == 0)
		return TASKMESH__V1__ROLE__ROLE_DEVELOPER;
	if (strcmp(s, "admin") == 0)
		return TASKMESH__V1__ROLE__ROLE_ADMIN;
	return TASKMESH__V1__ROLE__ROLE_UNSPECIFIED;
}

/* A User from one row of USER_COLUMNS; the hash (column 7) to *hash if asked. */
static Taskmesh__V1__User *row_to_user(PGresult *r, struct tm_arena *a, char **hash)
{
	Taskmesh__V1__User *u = tm_arena_alloc(a, sizeof(*u));
	if (!u)
		return NULL;
	taskmesh__v1__user__init(u);
	u->id = tm_db_strdup(r, 0, 0, a);
	u->email = tm_db_strdup(r, 0, 1, a);
	u->role = role_of(tm_db_text(r, 0, 2));
	u->display_name = tm_db_strdup(r, 0, 3, a);
	u->github_username = tm_db_strdup(r, 0, 4, a);
	u->is_verified = tm_db_bool(r, 0, 5);
	u->created_at = tm_db_time(r, 0, 6, a, NULL);
	if (hash)
		*hash = tm_db_isnull(r, 0, 7) ? NULL : tm_db_strdup(r, 0, 7, a);
	if (!u->id || !u->email || !u->display_name || !u->github_username || !u->created_at)
		return NULL;
	return u;
}

/* Runs a query expected to return zero or one user row. */
static int one_user(struct tm_db *db, const char *sql, const struct tm_dbp *p, int n,
		    struct tm_arena *a, Taskmesh__V1__User **out, char **hash)
{
	PGresult *r = NULL;
	*out = NULL;
	int rc = tm_db_maybe_one(db, &r, sql, p, n);
	if (rc == TM_DB_OK && !(*out = row_to_user(r, a, hash)))
		rc = TM_DB_ERR;
	PQclear(r);
	return rc;
}

int store_user_insert(struct tm_db *db, const struct new_user *nu, struct tm_arena *a,
		      Taskmesh__V1__User **out)
{
	return one_user(db,
			"INSERT INTO users (email, password_hash, role, display_name, github_id, "
			"github_username, is_verified) VALUES ($1, $2, $3, $4, $5, $6, $7) "
			"RETURNING " USER_COLUMNS,
			TM_PARAMS(TM_P_TEXT(nu->email), TM_P_TEXT(nu->password_hash),
				  TM_P_TEXT(nu->role), TM_P_TEXT(nu->display_name),
				  TM_P_INT_IF(nu->github_id != 0, nu->github_id),
				  TM_P_TEXT(nu->github_username ? nu->github_username : ""),
				  TM_P_BOOL(nu->is_verified)),
			a, out, NULL);
}

int store_user_by_email(struct tm_db *db, const char *email, struct tm_arena *a,
			Taskmesh__V1__User **out, char **hash)
{
	return one_user(db, "SELECT " USER_COLUMNS " FROM users WHERE email = $1",
			TM_PARAMS(TM_P_TEXT(email)), a, out, hash);
}

int store_user_by_id(struct tm_db *db, const char *id, struct tm_arena *a, Taskmesh__V1__User **out)
{
	*out = NULL;
	if (!tm_uuid_valid(id))
		return TM_DB_NONE;
	return one_user(db, "SELECT " USER_COLUMNS " FROM users WHERE id = $1",
			TM_PARAMS(TM_P_TEXT(id)), a, out, NULL);
}

int store_user_by_github(struct tm_db *db, int64_t github_id, struct tm_arena *a,
			 Taskmesh__V1__User **out)
{
	return one_user(db, "SELECT " USER_COLUMNS " FROM users WHERE github_id = $1",
			TM_PARAMS(TM_P_INT(github_id)), a, out, NULL);
}

int store_user_set_hash(struct tm_db *db, const char *id, const char *hash)
{
	return tm_db_exec(db,
			  "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
			  TM_PARAMS(TM_P_TEXT(id), TM_P_TEXT(hash)));
}

int store_user_link_github(struct tm_db *db, const char *id, int64_t github_id, const char *login)
{
	return tm_db_exec(
		db,
		"UPDATE users SET github_id = $2, github_username = $3, is_verified = true, "
		"updated_at = now() WHERE id = $1",
		TM_PARAMS(TM_P_TEXT(id), TM_P_INT(github_id), TM_P_TEXT(login)));
}

int store_refresh_insert(struct tm_db *db, const char *family_id, const char *user_id,
			 const char *token_hash, const char *access_jti, int64_t ttl_s)
{
	return tm_db_exec(
		db,
		"INSERT INTO refresh_tokens (family_id, user_id, token_hash, access_jti, "
		"expires_at) VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 second')",
		TM_PARAMS(TM_P_TEXT(family_id), TM_P_TEXT(user_id), TM_P_TEXT(token_hash),
			  TM_P_TEXT(access_jti), TM_P_INT(ttl_s)));
}

int store_refresh_take(struct tm_db *db, const char *token_hash, struct refresh_row *out)
{
	PGresult *r = NULL;
	int rc = tm_db_maybe_one(
		db, &r,
		"SELECT id, family_id, user_id, expires_at <= now(), used_at IS NOT NULL, "
		"revoked_at IS NOT NULL FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
		TM_PARAMS(TM_P_TEXT(token_hash)));
	if (rc == TM_DB_OK) {
		out->id = tm_db_int(r, 0, 0);
		snprintf(out->family_id, sizeof(out->family_id), "%s", tm_db_text(r, 0, 1));
		snprintf(out->user_id, sizeof(out->user_id), "%s", tm_db_text(r, 0, 2));
		out->expired = tm_db_bool(r, 0, 3);
		out->used = tm_db_bool(r, 0, 4);
		out->revoked = tm_db_bool(r, 0, 5);
	}
	PQclear(r);
	return rc;
}

int store_refresh_mark_used(struct tm_db *db, int64_t id)
{
	return tm_db_exec(db, "UPDATE refresh_tokens SET used_at = now() WHERE id = $1",
			  TM_PARAMS(TM_P_INT(id)));
}

int store_family_revoke(struct tm_db *db, const char *family_id, int64_t access_ttl_s,
			struct tm_arena *a, char ***jtis, int *njtis)
{
	PGresult *r = NULL;
	*jtis = NULL;
	*njtis = 0;
	/* every access token the family issued may still be live: deny them all */
	int rc = tm_db_rows(
		db, &r,
		"WITH revoked AS (UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
		"WHERE family_id = $1 RETURNING access_jti, created_at) "
		"INSERT INTO revoked_tokens (jti, expires_at) "
		"SELECT access_jti, created_at + $2::bigint * interval '1 second' FROM revoked "
		"WHERE created_at + $2::bigint * interval '1 second' > now() "
		"ON CONFLICT (jti) DO NOTHING RETURNING jti",
		TM_PARAMS(TM_P_TEXT(family_id), TM_P_INT(access_ttl_s)));
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	*jtis = tm_arena_alloc(a, (size_t)(n + 1) * sizeof(char *));
	for (int i = 0; *jtis && i < n; i++)
		if (((*jtis)[i] = tm_db_strdup(r, i, 0, a)))
			(*njtis)++;
	PQclear(r);
	return *jtis ? TM_DB_OK : TM_DB_ERR;
}

int store_revoked_insert(struct tm_db *db, const char *jti, int64_t exp_s)
{
	return tm_db_exec(
		db,
		"INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, to_timestamp($2)) "
		"ON CONFLICT (jti) DO NOTHING",
		TM_PARAMS(TM_P_TEXT(jti), TM_P_INT(exp_s)));
}

int store_revoked_live(struct tm_db *db, PGresult **res)
{
	return tm_db_rows(db, res,
			  "SELECT jti, extract(epoch FROM expires_at)::bigint FROM revoked_tokens "
			  "WHERE expires_at > now()",
			  NULL, 0);
}

int store_revoked_prune(struct tm_db *db)
{
	return tm_db_exec(db, "DELETE FROM revoked_tokens WHERE expires_at <= now()", NULL, 0);
}

int store_login_blocked_s(struct tm_db *db, const char *key, int64_t *wait_s)
{
	PGresult *r = NULL;
	*wait_s = 0;
	int rc = tm_db_maybe_one(db, &r,
				 "SELECT ceil(extract(epoch FROM blocked_until - now()))::bigint "
				 "FROM login_failures WHERE key = $1 AND blocked_until > now()",
				 TM_PARAMS(TM_P_TEXT(key)));
	if (rc == TM_DB_OK)
		*wait_s = tm_db_int(r, 0, 0);
	PQclear(r);
	return rc < 0 ? rc : TM_DB_OK;
}

/* A failure in the window counts; from the 5th on each one blocks for
 * 30 s * 2^(failures - 5), at most 15 minutes. A failure after the window
 * starts a new one. */
int store_login_failure(struct tm_db *db, const char *key)
{
	return tm_db_exec(
		db,
		"INSERT INTO login_failures AS f (key, failures, window_started_at) "
		"VALUES ($1, 1, now()) ON CONFLICT (key) DO UPDATE SET "
		"failures = CASE WHEN f.window_started_at < now() - $3::int * interval '1 second' "
		"  THEN 1 ELSE f.failures + 1 END, "
		"window_started_at = CASE WHEN f.window_started_at < now() - $3::int * interval '1 second' "
		"  THEN now() ELSE f.window_started_at END, "
		"blocked_until = CASE WHEN f.window_started_at >= now() - $3::int * interval '1 second' "
		"  AND f.failures + 1 >= $2::int THEN now() + least($5::int, $4::int * "
		"  power(2, least(f.failures + 1 - $2::int, 16)))::int * interval '1 second' "
		"  ELSE NULL END",
		TM_PARAMS(TM_P_TEXT(key), TM_P_INT(IDENTITY_LOGIN_MAX_FAILURES),
			  TM_P_INT(IDENTITY_LOGIN_WINDOW_S), TM_P_INT(IDENTITY_LOGIN_BLOCK_FIRST_S),
			  TM_P_INT(IDENTITY_LOGIN_BLOCK_MAX_S)));
}

int store_login_reset(struct tm_db *db, const char *key)
{
	return tm_db_exec(db, "DELETE FROM login_failures WHERE key = $1",
			  TM_PARAMS(TM_P_TEXT(key)));
}

int store_oauth_state_insert(struct tm_db *db, const char *state_hash, const char *binding,
			     int64_t ttl_s)
{
	return tm_db_exec(db,
			  "INSERT INTO oauth_states (state_hash, binding, expires_at) "
			  "VALUES ($1, $2, now() + $3::bigint * interval '1 second')",
			  TM_PARAMS(TM_P_TEXT(state_hash), TM_P_TEXT(binding), TM_P_INT(ttl_s)));
}

int store_oauth_state_consume(struct tm_db *db, const char *state_hash, const char *binding)
{
	return tm_db_exec_n(db,
			    "UPDATE oauth_states SET consumed_at = now() WHERE state_hash = $1 "
			    "AND binding = $2 AND consumed_at IS NULL AND expires_at > now()",
			    TM_PARAMS(TM_P_TEXT(state_hash), TM_P_TEXT(binding)), 1);
}
