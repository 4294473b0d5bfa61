/* Identity handlers: register, login, refresh, logout, me. See identity.h. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "identity_store.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/jwt.h"
#include "tm/log.h"
#include "tm/outbox.h"
#include "tm/util.h"

#define IDENTITY_TOPIC "tm.identity.v1"
#define IDENTITY_SOURCE "tm-gateway"
#define EMAIL_MAX 254
#define DISPLAY_NAME_MAX_CHARS 100
#define REFRESH_TOKEN_BYTES 32 /* random bytes of an opaque refresh token */
#define BAD_CREDENTIALS "invalid email or password"
#define BAD_REFRESH "the refresh token is invalid, expired or revoked"

static struct identity *ident(struct tm_rpc_call *call)
{
	return call->service;
}

static const char *role_name(Taskmesh__V1__Role r)
{
	switch (r) {
	case TASKMESH__V1__ROLE__ROLE_CLIENT:
		return "client";
	case TASKMESH__V1__ROLE__ROLE_DEVELOPER:
		return "developer";
	case TASKMESH__V1__ROLE__ROLE_ADMIN:
		return "admin";
	default:
		return "";
	}
}

/*
 * Normalizes an e-mail (trimmed, lower-cased) into out[EMAIL_MAX + 1] and
 * checks its shape: one '@', a non-empty local part, a domain with a dot,
 * no spaces or control bytes. Returns NULL or the reason.
 */
static const char *normalize_email(const char *in, char *out)
{
	size_t n = strlen(in), start = 0;
	while (start < n && isspace((unsigned char)in[start]))
		start++;
	while (n > start && isspace((unsigned char)in[n - 1]))
		n--;
	if (n - start == 0)
		return "must not be empty";
	if (n - start > EMAIL_MAX)
		return "must be at most 254 characters";
	for (size_t i = start; i < n; i++)
		out[i - start] = (char)tolower((unsigned char)in[i]);
	out[n - start] = '\0';
	const char *at = strchr(out, '@');
	if (!at || at == out || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
	    out[strlen(out) - 1] == '.')
		return "must be an e-mail address";
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "must be an e-mail address";
	return NULL;
}

/* Records a revoked access token in the table (in the caller's statement flow)
 * and, once that succeeded, in the gateway's memory. */
static int deny_access_token(struct tm_rpc_call *call, const char *jti, int64_t exp_s)
{
	if (!jti || !jti[0])
		return TM_DB_OK;
	int rc = store_revoked_insert(call->db, jti, exp_s);
	if (rc == TM_DB_OK &&
	    gw_denylist_add(ident(call)->denylist, jti, exp_s, tm_now_ms() / 1000))
		tm_warn("the in-memory token denylist is full; %s is revoked in the database only",
			jti);
	return rc;
}

/*
 * Issues an access token and a refresh token for `user`; `family` continues a
 * refresh family (NULL starts one). The refresh token is stored only as its
 * SHA-256. Fills *out in the call's arena. Returns TM_OK or an error code.
 */
static enum tm_code issue_tokens(struct tm_rpc_call *call, Taskmesh__V1__User *user,
				 const char *family, Taskmesh__V1__AuthReply **out)
{
	struct identity *id = ident(call);
	struct tm_jwt_claims c = {0};
	unsigned char raw[REFRESH_TOKEN_BYTES];
	char refresh[64], hash[65], fam[TM_UUID_LEN + 1];
	char *access = tm_arena_alloc(call->arena, TM_JWT_MAX_BYTES);
	Taskmesh__V1__AuthReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));

	if (!access || !rep || tm_uuid_v4(c.jti) != 0 || tm_random_bytes(raw, sizeof(raw)) != 0 ||
	    (!family && tm_uuid_v4(fam) != 0))
		return tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
	snprintf(c.sub, sizeof(c.sub), "%s", user->id);
	snprintf(c.role, sizeof(c.role), "%s", role_name(user->role));
	c.iat = tm_now_ms() / 1000;
	c.exp = c.iat + id->access_ttl_s;
	if (tm_jwt_sign(id->jwt_secret, strlen(id->jwt_secret), &c, access, TM_JWT_MAX_BYTES) < 0 ||
	    tm_base64url_encode(raw, sizeof(raw), refresh, sizeof(refresh)) < 0)
		return tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
	tm_sha256_hex(refresh, strlen(refresh), hash);
	if (store_refresh_insert(call->db, family ? family : fam, user->id, hash, c.jti,
				 id->refresh_ttl_s) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	taskmesh__v1__auth_reply__init(rep);
	rep->user = user;
	rep->access_token = access;
	rep->refresh_token = tm_arena_strdup(call->arena, refresh);
	rep->expires_in = (int32_t)id->access_ttl_s;
	*out = rep;
	return rep->refresh_token ? TM_OK : tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
}

/* UserRegistered into the outbox, in the caller's transaction. */
static int announce_user(struct tm_rpc_call *call, const Taskmesh__V1__User *u)
{
	Taskmesh__V1__UserRegistered ev = TASKMESH__V1__USER_REGISTERED__INIT;
	ev.user_id = u->id;
	ev.email = u->email;
	ev.role = (char *)role_name(u->role);
	ev.display_name = u->display_name;
	ev.github_username = u->github_username;
	ev.is_verified = u->is_verified;
	ev.created_at = u->created_at;
	return tm_outbox_add(call->db, IDENTITY_TOPIC, u->id, &ev.base, IDENTITY_SOURCE,
			     call->req->request_id, NULL);
}

/* Creates an account and its first tokens, announcing it, in the caller's
 * transaction. Shared by registration and first GitHub sign-in. */
enum tm_code identity_create_account(struct tm_rpc_call *call, const struct new_user *nu,
				     Taskmesh__V1__AuthReply **out)
{
	Taskmesh__V1__User *u = NULL;
	int rc = store_user_insert(call->db, nu, call->arena, &u);
	if (rc == TM_DB_ERR_UNIQUE)
		return tm_rpc_fail(call, TM_E_CONFLICT,
				   "an account with this e-mail already exists");
	if (rc != TM_DB_OK || announce_user(call, u) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	enum tm_code code = issue_tokens(call, u, NULL, out);
	if (code == TM_OK)
		call->status = 201;
	return code;
}

enum tm_code identity_issue_for(struct tm_rpc_call *call, Taskmesh__V1__User *u,
				Taskmesh__V1__AuthReply **out)
{
	return issue_tokens(call, u, NULL, out);
}

static enum tm_code rpc_register(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				 ProtobufCMessage **out)
{
	const Taskmesh__V1__RegisterRequest *in = (const Taskmesh__V1__RegisterRequest *)in_msg;
	char email[EMAIL_MAX + 1], hash[TM_PASSWORD_ENCODED_MAX];
	const char *why;
	Taskmesh__V1__AuthReply *rep = NULL;

	if ((why = normalize_email(in->email, email)))
		tm_rpc_field_error(call, "email", "%s", why);
	if ((why = tm_password_policy(in->password, strlen(in->password))))
		tm_rpc_field_error(call, "password", "%s", why);
	if (in->role == TASKMESH__V1__ROLE__ROLE_ADMIN)
		tm_rpc_field_error(call, "role", "admin accounts are created by an operator");
	else if (in->role != TASKMESH__V1__ROLE__ROLE_CLIENT &&
		 in->role != TASKMESH__V1__ROLE__ROLE_DEVELOPER)
		tm_rpc_field_error(call, "role", "must be client or developer");
	char *name = tm_arena_strdup(call->arena, in->display_name);
	size_t nl = name ? strlen(name) : 0;
	while (nl && isspace((unsigned char)name[nl - 1]))
		name[--nl] = '\0';
	while (name && isspace((unsigned char)*name))
		name++;
	if (!name || !*name || tm_utf8_len(name, strlen(name)) > DISPLAY_NAME_MAX_CHARS)
		tm_rpc_field_error(call, "displayName", "must be 1 to 100 characters");
	if (call->ndetails > 0)
		return TM_E_VALIDATION_FAILED;
	if (tm_password_hash(in->password, strlen(in->password), &ident(call)->argon2, hash) !=
	    TM_PASSWORD_OK)
		return tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
	struct new_user nu = {.email = email,
			      .password_hash = hash,
			      .role = role_name(in->role),
			      .display_name = name};
	enum tm_code code = identity_create_account(call, &nu, &rep);
	if (code == TM_OK)
		*out = &rep->base;
	return code;
}

/* Refuses a login attempt while its account or its client is throttled. */
static enum tm_code check_throttle(struct tm_rpc_call *call, const char *email_key,
				   const char *ip_key)
{
	int64_t wait_email = 0, wait_ip = 0;
	if (store_login_blocked_s(call->db, email_key, &wait_email) != TM_DB_OK ||
	    (ip_key[3] && store_login_blocked_s(call->db, ip_key, &wait_ip) != TM_DB_OK))
		return tm_rpc_db_fail(call);
	int64_t wait = wait_email > wait_ip ? wait_email : wait_ip;
	if (wait <= 0)
		return TM_OK;
	call->retry_after_s = (int)(wait < 1 ? 1 : wait);
	return tm_rpc_fail(call, TM_E_RATE_LIMITED,
			   "too many failed logins; try again in %lld seconds", (long long)wait);
}

static enum tm_code rpc_login(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			      ProtobufCMessage **out)
{
	const Taskmesh__V1__LoginRequest *in = (const Taskmesh__V1__LoginRequest *)in_msg;
	struct identity *id = ident(call);
	char email[EMAIL_MAX + 1], email_key[EMAIL_MAX + 8], ip_key[80];
	Taskmesh__V1__User *u = NULL;
	Taskmesh__V1__AuthReply *rep = NULL;
	char *hash = NULL;
	size_t plen = strnlen(in->password, TM_PASSWORD_MAX_CHARS * 4 + 1);

	if (normalize_email(in->email, email) || plen > TM_PASSWORD_MAX_CHARS * 4) {
		tm_password_dummy_verify(in->password, plen); /* same time as a wrong password */
		return tm_rpc_fail(call, TM_E_UNAUTHENTICATED, BAD_CREDENTIALS);
	}
	snprintf(email_key, sizeof(email_key), "email:%s", email);
	snprintf(ip_key, sizeof(ip_key), "ip:%s",
		 call->req->caller && call->req->caller->client_ip ? call->req->caller->client_ip :
								     "");
	enum tm_code code = check_throttle(call, email_key, ip_key);
	if (code != TM_OK)
		return code;
	int rc = store_user_by_email(call->db, email, call->arena, &u, &hash);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	bool ok = false;
	if (rc == 0 && hash)
		ok = tm_password_verify(hash, in->password, plen) == TM_PASSWORD_OK;
	else
		tm_password_dummy_verify(in->password, plen);
	if (!ok) {
		if (store_login_failure(call->db, email_key) != TM_DB_OK ||
		    (ip_key[3] && store_login_failure(call->db, ip_key) != TM_DB_OK))
			return tm_rpc_db_fail(call);
		return tm_rpc_fail(call, TM_E_UNAUTHENTICATED, BAD_CREDENTIALS);
	}
	if (store_login_reset(call->db, email_key) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	/* an older, cheaper hash is upgraded while the password is at hand */
	char fresh[TM_PASSWORD_ENCODED_MAX];
	if (tm_password_needs_rehash(hash, &id->argon2) &&
	    tm_password_hash(in->password, plen, &id->argon2, fresh) == TM_PASSWORD_OK &&
	    store_user_set_hash(call->db, u->id, fresh) != TM_DB_OK)
		tm_warn("could not upgrade the password hash of %s: %s", u->id,
			tm_db_error(call->db));
	if ((code = issue_tokens(call, u, NULL, &rep)) == TM_OK)
		*out = &rep->base;
	return code;
}

/* Revokes a refresh family and denies its access tokens in memory, in the
 * caller's transaction (the memory update follows the commit). */
static int revoke_family(struct tm_rpc_call *call, const char *family, char ***jtis, int *n)
{
	return store_family_revoke(call->db, family, ident(call)->access_ttl_s, call->arena, jtis,
				   n);
}

static void deny_in_memory(struct tm_rpc_call *call, char **jtis, int n)
{
	int64_t now = tm_now_ms() / 1000;
	for (int i = 0; i < n; i++)
		gw_denylist_add(ident(call)->denylist, jtis[i], now + ident(call)->access_ttl_s,
				now);
}

/*
 * Rotation: a live token is marked used and a new pair issued in its family.
 * A used or revoked token presented again means it leaked: the whole family
 * is revoked (committed even though the reply is 401).
 */
static enum tm_code rpc_refresh(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				ProtobufCMessage **out)
{
	const Taskmesh__V1__RefreshRequest *in = (const Taskmesh__V1__RefreshRequest *)in_msg;
	struct refresh_row row;
	char hash[65], **jtis = NULL;
	int njtis = 0;
	Taskmesh__V1__User *u = NULL;
	Taskmesh__V1__AuthReply *rep = NULL;
	enum tm_code code;

	tm_sha256_hex(in->refresh_token, strlen(in->refresh_token), hash);
	if (tm_db_begin(call->db) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	int rc = store_refresh_take(call->db, hash, &row);
	if (rc == 0 && (row.used || row.revoked)) {
		if (revoke_family(call, row.family_id, &jtis, &njtis) != TM_DB_OK ||
		    tm_db_commit(call->db) != TM_DB_OK)
			goto db_fail;
		deny_in_memory(call, jtis, njtis);
		tm_warn("refresh token reuse: family %s of user %s revoked", row.family_id,
			row.user_id);
		return tm_rpc_fail(call, TM_E_UNAUTHENTICATED, BAD_REFRESH);
	}
	if (rc < 0)
		goto db_fail;
	if (rc == 1 || row.expired) {
		tm_db_rollback(call->db);
		return tm_rpc_fail(call, TM_E_UNAUTHENTICATED, BAD_REFRESH);
	}
	rc = store_user_by_id(call->db, row.user_id, call->arena, &u);
	if (rc < 0 || store_refresh_mark_used(call->db, row.id) != TM_DB_OK)
		goto db_fail;
	if (rc == 1) {
		tm_db_rollback(call->db);
		return tm_rpc_fail(call, TM_E_UNAUTHENTICATED, BAD_REFRESH);
	}
	if ((code = issue_tokens(call, u, row.family_id, &rep)) != TM_OK) {
		tm_db_rollback(call->db);
		return code;
	}
	if (tm_db_commit(call->db) != TM_DB_OK)
		goto db_fail;
	*out = &rep->base;
	return TM_OK;
db_fail:
	code = tm_rpc_db_fail(call);
	tm_db_rollback(call->db);
	return code;
}

/* Ends the session: the refresh token's family (if it is the caller's) and the
 * access token used for this call are revoked. Always 204. */
static enum tm_code rpc_logout(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			       ProtobufCMessage **out)
{
	const Taskmesh__V1__LogoutRequest *in = (const Taskmesh__V1__LogoutRequest *)in_msg;
	const Taskmesh__V1__Caller *caller = call->req->caller;
	struct refresh_row row;
	char hash[65], **jtis = NULL;
	int njtis = 0;

	tm_sha256_hex(in->refresh_token, strlen(in->refresh_token), hash);
	if (tm_db_begin(call->db) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	int rc = store_refresh_take(call->db, hash, &row);
	if (rc < 0 ||
	    (rc == 0 && strcmp(row.user_id, call->user_id) == 0 &&
	     revoke_family(call, row.family_id, &jtis, &njtis) != TM_DB_OK) ||
	    (caller &&
	     deny_access_token(call, caller->token_id,
			       tm_now_ms() / 1000 + ident(call)->access_ttl_s) != TM_DB_OK) ||
	    tm_db_commit(call->db) != TM_DB_OK) {
		enum tm_code code = tm_rpc_db_fail(call);
		tm_db_rollback(call->db);
		return code;
	}
	deny_in_memory(call, jtis, njtis);
	call->status = 204;
	*out = NULL;
	return TM_OK;
}

static enum tm_code rpc_me(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			   ProtobufCMessage **out)
{
	Taskmesh__V1__User *u = NULL;
	int rc = store_user_by_id(call->db, call->user_id, call->arena, &u);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1)
		return tm_rpc_fail(call, TM_E_UNAUTHENTICATED, "the account no longer exists");
	*out = &u->base;
	return TM_OK;
}

#define PB(m) &taskmesh__v1__##m##__descriptor
const struct tm_rpc_method identity_methods[] = {
	{"RegisterAccount", PB(register_request), PB(auth_reply), rpc_register, TM_RPC_IDEMPOTENT},
	{"Login", PB(login_request), PB(auth_reply), rpc_login, 0},
	{"Refresh", PB(refresh_request), PB(auth_reply), rpc_refresh, 0},
	{"Logout", PB(logout_request), PB(empty), rpc_logout, 0},
	{"Me", PB(me_request), PB(user), rpc_me, 0},
	{"GithubAuthorize", PB(github_authorize_request), PB(github_authorize_reply),
	 rpc_github_authorize, 0},
	{"GithubCallback", PB(github_callback_request), PB(auth_reply), rpc_github_callback, 0},
};
const size_t identity_nmethods = TM_ARRAY_LEN(identity_methods);

int identity_load_denylist(struct identity *id, const char *conninfo, char *err, size_t errlen)
{
	struct tm_db *db = NULL;
	PGresult *r = NULL;
	int64_t now = tm_now_ms() / 1000;
	if (tm_db_open(&db, conninfo, "identity", err, errlen) != 0)
		return -1;
	int rc = store_revoked_live(db, &r);
	for (int i = 0; rc == TM_DB_OK && i < PQntuples(r); i++)
		gw_denylist_add(id->denylist, tm_db_text(r, i, 0), tm_db_int(r, i, 1), now);
	if (rc != TM_DB_OK)
		snprintf(err, errlen, "cannot read revoked tokens: %s", tm_db_error(db));
	store_revoked_prune(db);
	PQclear(r);
	tm_db_close(db);
	return rc == TM_DB_OK ? 0 : -1;
}
