/* The identity schema's SQL; see identity_store.h. */
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "identity_store.h"
#include "tm/util.h"

#define USER_COLUMNS                                                    \
	"id, email, role, display_name, github_username, is_verified, " \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), password_hash"

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
	u->id = tm_arena_strdup(a, PQgetvalue(r, 0, 0));
	u->email = tm_arena_strdup(a, PQgetvalue(r, 0, 1));
	u->role = role_of(PQgetvalue(r, 0, 2));
	u->display_name = tm_arena_strdup(a, PQgetvalue(r, 0, 3));
	u->github_username = tm_arena_strdup(a, PQgetvalue(r, 0, 4));
	u->is_verified = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
	u->created_at = tm_arena_strdup(a, PQgetvalue(r, 0, 6));
	if (hash)
		*hash = PQgetisnull(r, 0, 7) ? NULL : tm_arena_strdup(a, PQgetvalue(r, 0, 7));
	if (!u->id || !u->email || !u->display_name || !u->github_username || !u->created_at)
		return NULL;
	return u;
}

/* Runs a query expected to return zero or one user row. */
static int one_user(struct tm_db *db, const char *sql, int n, const char *const *p,
		    struct tm_arena *a, Taskmesh__V1__User **out, char **hash)
{
	PGresult *r = NULL;
	*out = NULL;
	int rc = tm_db_query(db, &r, sql, n, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	else if (rc == TM_DB_OK && !(*out = row_to_user(r, a, hash)))
		rc = TM_DB_ERR;
	PQclear(r);
	return rc;
}

int store_user_insert(struct tm_db *db, const struct new_user *nu, struct tm_arena *a,
		      Taskmesh__V1__User **out)
{
	char gid[24];
	snprintf(gid, sizeof(gid), "%lld", (long long)nu->github_id);
	const char *p[] = {nu->email,
			   nu->password_hash,
			   nu->role,
			   nu->display_name,
			   nu->github_id ? gid : NULL,
			   nu->github_username ? nu->github_username : "",
			   nu->is_verified ? "true" : "false"};
	return one_user(db,
			"INSERT INTO users (email, password_hash, role, display_name, github_id, "
			"github_username, is_verified) VALUES ($1, $2, $3, $4, $5, $6, $7) "
			"RETURNING " USER_COLUMNS,
			7, p, a, out, NULL);
}

int store_user_by_email(struct tm_db *db, const char *email, struct tm_arena *a,
			Taskmesh__V1__User **out, char **hash)
{
	const char *p[] = {email};
	return one_user(db, "SELECT " USER_COLUMNS " FROM users WHERE email = $1", 1, p, a, out,
			hash);
}

int store_user_by_id(struct tm_db *db, const char *id, struct tm_arena *a, Taskmesh__V1__User **out)
{
	const char *p[] = {id};
	if (!tm_uuid_valid(id))
		return 1;
	return one_user(db, "SELECT " USER_COLUMNS " FROM users WHERE id = $1", 1, p, a, out, NULL);
}

int store_user_by_github(struct tm_db *db, int64_t github_id, struct tm_arena *a,
			 Taskmesh__V1__User **out)
{
	char gid[24];
	snprintf(gid, sizeof(gid), "%lld", (long long)github_id);
	const char *p[] = {gid};
	return one_user(db, "SELECT " USER_COLUMNS " FROM users WHERE github_id = $1", 1, p, a, out,
			NULL);
}

int store_user_set_hash(struct tm_db *db, const char *id, const char *hash)
{
	const char *p[] = {id, hash};
	return tm_db_query(db, NULL,
			   "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
			   2, p);
}

int store_user_link_github(struct tm_db *db, const char *id, int64_t github_id, const char *login)
{
	char gid[24];
	snprintf(gid, sizeof(gid), "%lld", (long long)github_id);
	const char *p[] = {id, gid, login};
	return tm_db_query(
		db, NULL,
		"UPDATE users SET github_id = $2, github_username = $3, is_verified = true, "
		"updated_at = now() WHERE id = $1",
		3, p);
}

int store_refresh_insert(struct tm_db *db, const char *family_id, const char *user_id,
			 const char *token_hash, const char *access_jti, int64_t ttl_s)
{
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
	const char *p[] = {family_id, user_id, token_hash, access_jti, ttl};
	return tm_db_query(
		db, NULL,
		"INSERT INTO refresh_tokens (family_id, user_id, token_hash, access_jti, "
		"expires_at) VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 second')",
		5, p);
}

int store_refresh_take(struct tm_db *db, const char *token_hash, struct refresh_row *out)
{
	PGresult *r = NULL;
	const char *p[] = {token_hash};
	int rc = tm_db_query(
		db, &r,
		"SELECT id, family_id, user_id, expires_at <= now(), used_at IS NOT NULL, "
		"revoked_at IS NOT NULL FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
		1, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	if (rc == TM_DB_OK) {
		tm_parse_int64(PQgetvalue(r, 0, 0), &out->id);
		snprintf(out->family_id, sizeof(out->family_id), "%s", PQgetvalue(r, 0, 1));
		snprintf(out->user_id, sizeof(out->user_id), "%s", PQgetvalue(r, 0, 2));
		out->expired = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
		out->used = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
		out->revoked = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
	}
	PQclear(r);
	return rc;
}

int store_refresh_mark_used(struct tm_db *db, int64_t id)
{
	char sid[24];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	const char *p[] = {sid};
	return tm_db_query(db, NULL, "UPDATE refresh_tokens SET used_at = now() WHERE id = $1", 1,
			   p);
}

int store_family_revoke(struct tm_db *db, const char *family_id, int64_t access_ttl_s,
			struct tm_arena *a, char ***jtis, int *njtis)
{
	PGresult *r = NULL;
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%lld", (long long)access_ttl_s);
	const char *p[] = {family_id, ttl};
	*jtis = NULL;
	*njtis = 0;
	/* every access token the family issued may still be live: deny them all */
	int rc = tm_db_query(
		db, &r,
		"WITH revoked AS (UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
		"WHERE family_id = $1 RETURNING access_jti, created_at) "
		"INSERT INTO revoked_tokens (jti, expires_at) "
		"SELECT access_jti, created_at + $2::bigint * interval '1 second' FROM revoked "
		"WHERE created_at + $2::bigint * interval '1 second' > now() "
		"ON CONFLICT (jti) DO NOTHING RETURNING jti",
		2, p);
	if (rc != TM_DB_OK)
		return rc;
	int n = PQntuples(r);
	*jtis = tm_arena_alloc(a, (size_t)(n + 1) * sizeof(char *));
	for (int i = 0; *jtis && i < n; i++)
		if (((*jtis)[i] = tm_arena_strdup(a, PQgetvalue(r, i, 0))))
			(*njtis)++;
	PQclear(r);
	return TM_DB_OK;
}

int store_revoked_insert(struct tm_db *db, const char *jti, int64_t exp_s)
{
	char exp[24];
	snprintf(exp, sizeof(exp), "%lld", (long long)exp_s);
	const char *p[] = {jti, exp};
	return tm_db_query(
		db, NULL,
		"INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, to_timestamp($2)) "
		"ON CONFLICT (jti) DO NOTHING",
		2, p);
}

int store_login_blocked_s(struct tm_db *db, const char *key, int64_t *wait_s)
{
	PGresult *r = NULL;
	const char *p[] = {key};
	*wait_s = 0;
	int rc = tm_db_query(db, &r,
			     "SELECT ceil(extract(epoch FROM blocked_until - now()))::bigint "
			     "FROM login_failures WHERE key = $1 AND blocked_until > now()",
			     1, p);
	if (rc == TM_DB_OK && PQntuples(r) == 1)
		tm_parse_int64(PQgetvalue(r, 0, 0), wait_s);
	PQclear(r);
	return rc;
}

/* A failure in the window counts; from the 5th on each one blocks for
 * 30 s * 2^(failures - 5), at most 15 minutes. A failure after the window
 * starts a new one. */
int store_login_failure(struct tm_db *db, const char *key)
{
	char max[16], window[16], first[16], cap[16];
	snprintf(max, sizeof(max), "%d", IDENTITY_LOGIN_MAX_FAILURES);
	snprintf(window, sizeof(window), "%d", IDENTITY_LOGIN_WINDOW_S);
	snprintf(first, sizeof(first), "%d", IDENTITY_LOGIN_BLOCK_FIRST_S);
	snprintf(cap, sizeof(cap), "%d", IDENTITY_LOGIN_BLOCK_MAX_S);
	const char *p[] = {key, max, window, first, cap};
	return tm_db_query(
		db, NULL,
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
		5, p);
}

int store_login_reset(struct tm_db *db, const char *key)
{
	const char *p[] = {key};
	return tm_db_query(db, NULL, "DELETE FROM login_failures WHERE key = $1", 1, p);
}

int store_oauth_state_insert(struct tm_db *db, const char *state_hash, const char *binding,
			     int64_t ttl_s)
{
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
	const char *p[] = {state_hash, binding, ttl};
	return tm_db_query(db, NULL,
			   "INSERT INTO oauth_states (state_hash, binding, expires_at) "
			   "VALUES ($1, $2, now() + $3::bigint * interval '1 second')",
			   3, p);
}

int store_oauth_state_consume(struct tm_db *db, const char *state_hash, const char *binding)
{
	PGresult *r = NULL;
	const char *p[] = {state_hash, binding};
	int rc = tm_db_query(db, &r,
			     "UPDATE oauth_states SET consumed_at = now() WHERE state_hash = $1 "
			     "AND binding = $2 AND consumed_at IS NULL AND expires_at > now() "
			     "RETURNING 1",
			     2, p);
	if (rc == TM_DB_OK && PQntuples(r) == 0)
		rc = 1;
	PQclear(r);
	return rc;
}
