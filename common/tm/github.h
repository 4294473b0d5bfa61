/*
 * A small GitHub client over libcurl: the OAuth web flow (the authorize URL
 * and the code exchange) and the signed-in user with the primary verified
 * e-mail. Blocking: call these from worker threads, never from an HTTP handler
 * or an nng callback. Each call uses its own curl handle, so threads may call
 * concurrently.
 *
 * curl_global_init(CURL_GLOBAL_DEFAULT) is the caller's business: call it once
 * at start, before any thread uses these functions (and curl_global_cleanup
 * once at exit).
 *
 * Nothing here retries: RATE_LIMITED says how long to wait, UNAVAILABLE says
 * "later", and the caller decides. Redirects are never followed; the only
 * protocols allowed are https, and http when the configured URL is http.
 * Response bodies are capped at TM_GITHUB_BODY_MAX, and every field taken from
 * a response is checked for type, length and characters: a malformed answer is
 * UNAVAILABLE, never a crash. The client secret goes only in the POST body and
 * the access token only in the Authorization header; neither ever appears in
 * a URL, in `err` or in a log line.
 */
#ifndef TM_GITHUB_H
#define TM_GITHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_GITHUB_API_URL_DEFAULT "https://api.github.com"
#define TM_GITHUB_OAUTH_URL_DEFAULT "https://github.com"
#define TM_GITHUB_TIMEOUT_MS_DEFAULT 5000   /* when timeout_ms <= 0 */
#define TM_GITHUB_BODY_MAX (1024 * 1024)    /* bytes of a response body; more is UNAVAILABLE */
#define TM_GITHUB_TOKEN_MAX 256		    /* bytes of an access token, NUL included */
#define TM_GITHUB_RETRY_AFTER_MAX_S 3600    /* cap on a server-supplied wait */
#define TM_GITHUB_SECONDARY_LIMIT_WAIT_S 60 /* a rate limit that names no wait */
#define TM_GITHUB_USER_AGENT "taskmesh"

struct tm_github_config {
	const char *api_url;	   /* TM_GITHUB_API_URL; NULL or "" is the default */
	const char *oauth_url;	   /* TM_GITHUB_OAUTH_URL; NULL or "" is the default */
	const char *client_id;	   /* OAuth app client id */
	const char *client_secret; /* never logged, never in a URL */
	int timeout_ms;		   /* bound on one call, all its requests included */
};

struct tm_github_user {
	int64_t id; /* GitHub's numeric user id (> 0) */
	char login[64];
	char name[128];	 /* display name, "" if none; cut at a code point if longer */
	char email[256]; /* the primary, verified e-mail; "" if none */
	bool email_verified;
};

enum tm_github_rc {
	TM_GITHUB_OK = 0,
	TM_GITHUB_BAD_CODE,	/* the code was refused (OAuth error "bad_verification_code" etc.):
				   a client error */
	TM_GITHUB_UNAUTHORIZED, /* the access token was refused (401, or a 403 that is not a
				   rate limit) */
	TM_GITHUB_RATE_LIMITED, /* 403/429 with x-ratelimit-remaining: 0 or retry-after (or any
				   429); *retry_after_s set */
	TM_GITHUB_UNAVAILABLE,	/* 5xx, other unexpected status, timeout, connection failure,
				   malformed or unexpected JSON, bad configuration: retry later */
};

/* The URL the browser is sent to:
 * <oauth_url>/login/oauth/authorize?client_id=..&redirect_uri=..&state=..&scope=..
 * with the scope "read:user user:email" and every value percent-encoded (all
 * but RFC 3986 unreserved characters). Returns 0, or -1 if out is too small or
 * the configuration is unusable. */
int tm_github_authorize_url(const struct tm_github_config *c, const char *redirect_uri,
			    const char *state, char *out, size_t outlen);

/* POST <oauth_url>/login/oauth/access_token with Accept: application/json and
 * a form body (client_id, client_secret, code, redirect_uri); the access token
 * into token[tokenlen]. An OAuth error about the code (bad_verification_code
 * and the like) is BAD_CODE; one about the app's own credentials or redirect
 * URI is UNAVAILABLE (a configuration fault the end user cannot fix).
 * retry_after_s (set when RATE_LIMITED, else 0) and err may be NULL. */
enum tm_github_rc tm_github_exchange_code(const struct tm_github_config *c, const char *code,
					  const char *redirect_uri, char *token, size_t tokenlen,
					  int *retry_after_s, char *err, size_t errlen);

/* GET <api_url>/user and GET <api_url>/user/emails with the token as Bearer
 * → the user, with the entry of /user/emails that is primary and verified as
 * the e-mail (none: email "" and email_verified false). *u is only complete
 * when OK. retry_after_s and err may be NULL. */
enum tm_github_rc tm_github_get_user(const struct tm_github_config *c, const char *token,
				     struct tm_github_user *u, int *retry_after_s, char *err,
				     size_t errlen);

/* "ok", "bad_code", "unauthorized", "rate_limited", "unavailable". */
const char *tm_github_rc_name(enum tm_github_rc rc);

#endif
