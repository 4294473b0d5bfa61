/*
 * Test support: a fake GitHub on a free 127.0.0.1 port that speaks GitHub's
 * wire format, errors included:
 *   POST /login/oauth/access_token  form body; JSON reply when Accept asks
 *        for application/json, else form-encoded, as GitHub does; a bad
 *        client id/secret or an unknown (or used) code is a 200 with an
 *        "error" object; codes are single use
 *   GET  /user                      Bearer (or "token") → the user; else 401
 *   GET  /user/emails               → [{"email","primary","verified","visibility"}]
 * Faults on demand (the next N requests, optionally to one path only), and a
 * record of every request (method, raw URI, headers, body) for the test to
 * check what the client sent.
 *
 * libmicrohttpd with its internal polling thread and a thread per connection,
 * so a delayed answer holds up no other request; all state sits behind one
 * mutex, so tests read records from their own thread. Memory is bounded: a
 * fixed number of users, codes and kept records, each of fixed size.
 */
#ifndef TM_TEST_FAKE_GITHUB_H
#define TM_TEST_FAKE_GITHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_GITHUB_CLIENT_ID "Iv1.fake0client0id"
#define FAKE_GITHUB_CLIENT_SECRET "fake-client-secret-4f1c9e0b7a2d"
#define FAKE_GITHUB_USERS_MAX 8	       /* registered users */
#define FAKE_GITHUB_CODES_MAX 16       /* registered OAuth codes */
#define FAKE_GITHUB_EMAILS_MAX 4       /* addresses of one user */
#define FAKE_GITHUB_RECORDS_MAX 64     /* requests kept; later ones are only counted */
#define FAKE_GITHUB_URI_MAX 2048       /* bytes of a kept URI */
#define FAKE_GITHUB_HEADERS_MAX 4096   /* bytes of a kept header block */
#define FAKE_GITHUB_BODY_MAX 4096      /* bytes of a request body; more is a 413 */
#define FAKE_GITHUB_DELAY_MS 3000      /* FAKE_GITHUB_DELAY default */
#define FAKE_GITHUB_RETRY_AFTER_S 42   /* FAKE_GITHUB_TOO_MANY default retry-after */
#define FAKE_GITHUB_RESET_IN_S 600     /* FAKE_GITHUB_RATE_LIMIT default reset - now */
#define FAKE_GITHUB_HUGE_BYTES 2097152 /* FAKE_GITHUB_HUGE_BODY: 2 MiB */
#define FAKE_GITHUB_CONNECTIONS_MAX 32 /* concurrent connections (one thread each) */

enum fake_github_fault {
	FAKE_GITHUB_OK = 0,	     /* no fault: the normal answer */
	FAKE_GITHUB_500,	     /* 500 {"message":"Server Error"} */
	FAKE_GITHUB_503,	     /* 503 {"message":"Service Unavailable"} */
	FAKE_GITHUB_BAD_JSON,	     /* 200 with a body cut inside a JSON string */
	FAKE_GITHUB_WRONG_SHAPE,     /* 200 with JSON of the wrong types for the path */
	FAKE_GITHUB_DELAY,	     /* the normal answer, after delay_ms */
	FAKE_GITHUB_RATE_LIMIT,	     /* 403, x-ratelimit-remaining: 0, x-ratelimit-reset */
	FAKE_GITHUB_TOO_MANY,	     /* 429 with retry-after */
	FAKE_GITHUB_SECONDARY_LIMIT, /* 403 {"message":"...secondary rate limit..."}, no headers */
	FAKE_GITHUB_REDIRECT,	     /* 302 to location */
	FAKE_GITHUB_HUGE_BODY,	     /* 200 with FAKE_GITHUB_HUGE_BYTES of JSON */
};

struct fake_github_fault_spec {
	enum fake_github_fault fault;
	int count;	      /* requests it applies to */
	const char *path;     /* only requests to this path ("/user/emails"); NULL: any */
	int delay_ms;	      /* DELAY; 0: FAKE_GITHUB_DELAY_MS */
	int retry_after_s;    /* TOO_MANY; 0: FAKE_GITHUB_RETRY_AFTER_S */
	int reset_in_s;	      /* RATE_LIMIT; 0: FAKE_GITHUB_RESET_IN_S */
	const char *location; /* REDIRECT; NULL: <url>/elsewhere */
};

struct fake_github_email {
	const char *email;
	bool primary;
	bool verified;
	const char *visibility; /* "public", "private"; NULL is JSON null */
};

struct fake_github_user {
	const char *token; /* the access token that names this user */
	int64_t id;
	const char *login;
	const char *name; /* NULL is JSON null */
	struct fake_github_email emails[FAKE_GITHUB_EMAILS_MAX];
	int n_emails;
};

/* One request as it arrived. */
struct fake_github_request {
	char method[16];
	char uri[FAKE_GITHUB_URI_MAX];	       /* raw request target, query included */
	char headers[FAKE_GITHUB_HEADERS_MAX]; /* "Name: value\n" per header */
	char body[FAKE_GITHUB_BODY_MAX + 1];   /* NUL-terminated */
	size_t body_len;
	bool truncated; /* the URI or the headers did not fit */
};

struct fake_github;

/* Starts a fake with no users or codes, expecting FAKE_GITHUB_CLIENT_ID and
 * FAKE_GITHUB_CLIENT_SECRET. Returns its base URL "http://127.0.0.1:PORT"
 * (valid until fake_github_stop), or NULL after printing why. */
const char *fake_github_start(struct fake_github **fg);
/* Stops it (cutting delayed answers short) and frees everything. NULL is fine. */
void fake_github_stop(struct fake_github *fg);
const char *fake_github_url(const struct fake_github *fg);

/* Registers a user (strings are copied). Returns 0, or -1 when full or too long. */
int fake_github_add_user(struct fake_github *fg, const struct fake_github_user *u);
/* Registers a code that exchanges (once) for token; a non-NULL redirect_uri
 * must then match the exchange's. Returns 0 or -1. */
int fake_github_add_code(struct fake_github *fg, const char *code, const char *token,
			 const char *redirect_uri);
/* Arms a fault (replacing any armed one). */
void fake_github_fail(struct fake_github *fg, const struct fake_github_fault_spec *spec);
/* The next n requests, whatever their path, get fault with its defaults. */
void fake_github_fail_next(struct fake_github *fg, int n, enum fake_github_fault fault);

/* Requests received so far, kept or not. */
int fake_github_request_count(struct fake_github *fg);
/* A copy of the i-th kept request (0-based). Returns 0, or -1 if none. */
int fake_github_request(struct fake_github *fg, int i, struct fake_github_request *out);
/* Kept requests whose path (the URI before '?') is path. */
int fake_github_path_count(struct fake_github *fg, const char *path);
/* The value of header name (case-insensitive) of a kept request into out;
 * 0 if present (the first one), -1 if not. */
int fake_github_header(const struct fake_github_request *r, const char *name, char *out,
		       size_t outlen);

#endif
