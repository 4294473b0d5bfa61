/*
 * Identity: accounts, tokens and GitHub sign-in, owned by tm-gateway (schema
 * "identity"). The handlers run on the gateway's identity workers — an RPC
 * server on an in-process nng address — so password hashing and PostgreSQL
 * never block the HTTP threads, and the number of workers bounds how many
 * Argon2id hashes (19 MiB each) run at once.
 */
#ifndef TM_GATEWAY_IDENTITY_H
#define TM_GATEWAY_IDENTITY_H

#include <stdint.h>

#include "denylist.h"
#include "taskmesh/v1/identity.pb-c.h"
#include "tm/breaker.h"
#include "tm/github.h"
#include "tm/password.h"
#include "tm/rpc_server.h"

#define IDENTITY_URL "inproc://tm-identity"
#define IDENTITY_LOGIN_MAX_FAILURES 5	  /* failures in the window before throttling */
#define IDENTITY_LOGIN_WINDOW_S (15 * 60) /* the window failures are counted in */
#define IDENTITY_LOGIN_BLOCK_FIRST_S 30	  /* first wait; doubles with each further failure */
#define IDENTITY_LOGIN_BLOCK_MAX_S (15 * 60)
#define IDENTITY_OAUTH_STATE_TTL_S 600

struct identity {
	const char *jwt_secret;		  /* TM_JWT_SECRET */
	int64_t access_ttl_s;		  /* TM_ACCESS_TOKEN_TTL_S */
	int64_t refresh_ttl_s;		  /* TM_REFRESH_TOKEN_TTL_S */
	struct tm_argon2_params argon2;	  /* at least OWASP's first choice */
	struct gw_denylist *denylist;	  /* shared with the HTTP threads */
	struct tm_github_config github;	  /* client_id "" = GitHub sign-in off */
	const char *github_redirect_url;  /* TM_GITHUB_REDIRECT_URL: the frontend's callback page */
	struct tm_breaker github_breaker; /* GitHub failing: answer 503 at once */
};

/* The identity methods, for the in-process RPC server. */
extern const struct tm_rpc_method identity_methods[];
extern const size_t identity_nmethods;

/* Loads the revoked tokens still valid into the denylist (at start). */
int identity_load_denylist(struct identity *id, const char *conninfo, char *err, size_t errlen);

struct new_user;
/* Creates an account, its UserRegistered event and its first tokens in the
 * caller's transaction (registration, first GitHub sign-in). */
enum tm_code identity_create_account(struct tm_rpc_call *call, const struct new_user *nu,
				     Taskmesh__V1__AuthReply **out);
/* Tokens for an existing account (sign-in paths other than the password). */
enum tm_code identity_issue_for(struct tm_rpc_call *call, Taskmesh__V1__User *u,
				Taskmesh__V1__AuthReply **out);

/* identity_github.c */
enum tm_code rpc_github_authorize(struct tm_rpc_call *call, const ProtobufCMessage *in,
				  ProtobufCMessage **out);
enum tm_code rpc_github_callback(struct tm_rpc_call *call, const ProtobufCMessage *in,
				 ProtobufCMessage **out);

/* `tm-gateway create-admin`: the only way to make an admin account. */
int identity_create_admin(int argc, char **argv);

#endif
