/* GitHub sign-in: the OAuth authorization-code flow with a state bound to the
 * client that asked for it. See identity.h. */
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "identity_store.h"
#include "tm/log.h"
#include "tm/util.h"

#define STATE_BYTES 32

/* SHA-256 of the client's address and User-Agent: a state only works for the
 * client it was made for. */
static void binding_of(const struct tm_rpc_call *call, char out[65])
{
	const Taskmesh__V1__Caller *c = call->req->caller;
	char buf[512];
	snprintf(buf, sizeof(buf), "%s\n%s", c && c->client_ip ? c->client_ip : "",
		 c && c->user_agent ? c->user_agent : "");
	tm_sha256_hex(buf, strlen(buf), out);
}

static enum tm_code not_configured(struct tm_rpc_call *call)
{
	return tm_rpc_fail(call, TM_E_SERVICE_UNAVAILABLE, "GitHub sign-in is not configured");
}

enum tm_code rpc_github_authorize(struct tm_rpc_call *call, const ProtobufCMessage *in,
				  ProtobufCMessage **out)
{
	struct identity *id = call->service;
	unsigned char raw[STATE_BYTES];
	char state[64], hash[65], binding[65];
	Taskmesh__V1__GithubAuthorizeReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	char *url = tm_arena_alloc(call->arena, 2048);

	if (!id->github.client_id[0])
		return not_configured(call);
	if (!rep || !url || tm_random_bytes(raw, sizeof(raw)) != 0 ||
	    tm_base64url_encode(raw, sizeof(raw), state, sizeof(state)) < 0 ||
	    tm_github_authorize_url(&id->github, id->github_redirect_url, state, url, 2048) != 0)
		return tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
	tm_sha256_hex(state, strlen(state), hash);
	binding_of(call, binding);
	if (store_oauth_state_insert(call->db, hash, binding, IDENTITY_OAUTH_STATE_TTL_S) !=
	    TM_DB_OK)
		return tm_rpc_db_fail(call);
	taskmesh__v1__github_authorize_reply__init(rep);
	rep->url = url;
	rep->state = tm_arena_strdup(call->arena, state);
	*out = &rep->base;
	return rep->state ? TM_OK : tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
}

/* Maps a GitHub failure to the reply, feeding the breaker. */
static enum tm_code github_failed(struct tm_rpc_call *call, enum tm_github_rc rc, int retry_s,
				  const char *err)
{
	struct identity *id = call->service;
	switch (rc) {
	case TM_GITHUB_BAD_CODE:
		tm_breaker_success(&id->github_breaker); /* GitHub answered */
		return tm_rpc_field_error(call, "code",
					  "GitHub refused the code (expired or used)");
	case TM_GITHUB_RATE_LIMITED:
		call->retry_after_s = retry_s > 0 ? retry_s : 60;
		return tm_rpc_fail(call, TM_E_SERVICE_UNAVAILABLE, "GitHub is rate limiting us");
	default:
		tm_breaker_failure(&id->github_breaker, tm_mono_ms());
		tm_warn("GitHub sign-in failed: %s", err);
		return tm_rpc_fail(call, TM_E_UPSTREAM_FAILED, "GitHub did not answer properly");
	}
}

/* Talks to GitHub (no transaction is open meanwhile). */
static enum tm_code fetch_github_user(struct tm_rpc_call *call, const char *code,
				      struct tm_github_user *gu)
{
	struct identity *id = call->service;
	char token[256], err[256];
	int retry = 0;
	int64_t wait_ms = 0;

	if (!tm_breaker_allow(&id->github_breaker, tm_mono_ms(), &wait_ms)) {
		call->retry_after_s = (int)(wait_ms / 1000) + 1;
		return tm_rpc_fail(call, TM_E_SERVICE_UNAVAILABLE,
				   "GitHub is failing; sign-in is paused for a moment");
	}
	enum tm_github_rc rc = tm_github_exchange_code(&id->github, code, id->github_redirect_url,
						       token, sizeof(token), &retry, err,
						       sizeof(err));
	if (rc == TM_GITHUB_OK)
		rc = tm_github_get_user(&id->github, token, gu, &retry, err, sizeof(err));
	if (rc != TM_GITHUB_OK)
		return github_failed(call,
				     rc == TM_GITHUB_UNAUTHORIZED ? TM_GITHUB_UNAVAILABLE : rc,
				     retry, err);
	tm_breaker_success(&id->github_breaker);
	if (!gu->email_verified || !gu->email[0])
		return tm_rpc_field_error(call, "code",
					  "the GitHub account has no verified primary e-mail");
	return TM_OK;
}

/* Signs in the GitHub user: the account linked to it, else the account with
 * its verified e-mail (linked now), else a new developer account. */
static enum tm_code sign_in(struct tm_rpc_call *call, const struct tm_github_user *gu,
			    Taskmesh__V1__AuthReply **rep)
{
	Taskmesh__V1__User *u = NULL;
	char email[260];
	int rc = store_user_by_github(call->db, gu->id, call->arena, &u);
	if (rc == 1) {
		snprintf(email, sizeof(email), "%s", gu->email);
		for (char *p = email; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		rc = store_user_by_email(call->db, email, call->arena, &u, NULL);
		if (rc == 0 &&
		    store_user_link_github(call->db, u->id, gu->id, gu->login) != TM_DB_OK)
			rc = TM_DB_ERR;
		if (rc == 0) { /* the reply outlives `gu`: copy into the call's arena */
			u->github_username = tm_arena_strdup(call->arena, gu->login);
			u->is_verified = true;
			if (!u->github_username)
				return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
		}
		if (rc == 1) {
			struct new_user nu = {.email = email,
					      .role = "developer",
					      .display_name = gu->name[0] ? gu->name : gu->login,
					      .github_id = gu->id,
					      .github_username = gu->login,
					      .is_verified = true};
			enum tm_code code = identity_create_account(call, &nu, rep);
			call->status = 200; /* a sign-in, even when it creates the account */
			return code;
		}
	}
	if (rc < 0)
		return tm_rpc_db_fail(call);
	return identity_issue_for(call, u, rep);
}

enum tm_code rpc_github_callback(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
				 ProtobufCMessage **out)
{
	const Taskmesh__V1__GithubCallbackRequest *in =
		(const Taskmesh__V1__GithubCallbackRequest *)in_msg;
	struct identity *id = call->service;
	struct tm_github_user gu;
	char hash[65], binding[65];
	Taskmesh__V1__AuthReply *rep = NULL;

	if (!id->github.client_id[0])
		return not_configured(call);
	if (!in->code[0] || strlen(in->code) > 256)
		return tm_rpc_field_error(call, "code", "must be the code GitHub returned");
	tm_sha256_hex(in->state, strlen(in->state), hash);
	binding_of(call, binding);
	int rc = store_oauth_state_consume(call->db, hash, binding);
	if (rc < 0)
		return tm_rpc_db_fail(call);
	if (rc == 1)
		return tm_rpc_field_error(
			call, "state",
			"unknown, expired, already used, or made for another client");
	enum tm_code code = fetch_github_user(call, in->code, &gu);
	if (code != TM_OK)
		return code;
	if (tm_db_begin(call->db) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	if ((code = sign_in(call, &gu, &rep)) != TM_OK) {
		tm_db_rollback(call->db);
		return code;
	}
	if (tm_db_commit(call->db) != TM_DB_OK) {
		code = tm_rpc_db_fail(call);
		tm_db_rollback(call->db);
		return code;
	}
	*out = &rep->base;
	return TM_OK;
}
