/*
 * One outbound HTTP request to an outside API (GitHub, Gemini, the payment
 * provider, an e-mail API) over libcurl, with the safe defaults every such
 * client needs, so that none of them sets a curl option itself:
 *
 *  - https only; http besides when allow_http (a configured http base URL:
 *    tests and fakes). Another URL is refused before anything is sent, and
 *    libcurl is restricted to the same protocols.
 *  - Redirects are never followed: a 3xx is a reply like any other, for the
 *    caller to judge.
 *  - timeout_ms bounds the whole request, the connection included.
 *  - At most body_max bytes of the reply body are taken; a larger body ends
 *    the transfer (TOO_LARGE).
 *  - A few reply headers are kept by name (Retry-After, x-ratelimit-*).
 *  - No signals (CURLOPT_NOSIGNAL), a User-Agent always, and "Expect:" so a
 *    POST body goes at once (no 100-continue round trip).
 *  - Header lines are checked for CR and LF (no header injection), and the
 *    copies libcurl gets are wiped before they are freed: they hold tokens
 *    and keys.
 *
 * Secrets belong in a header line or the body, never in the URL: `error`
 * quotes libcurl's messages, which may name the host, never a header or the
 * body. Nothing here logs or retries; the status is the caller's to judge.
 *
 * Blocking: call it from worker threads, never from an HTTP handler or an
 * nng callback. Each call uses its own curl handle, so threads may call
 * concurrently. curl_global_init(CURL_GLOBAL_DEFAULT) is the caller's
 * business: once at start, before any thread calls this.
 */
#ifndef TM_OUTBOUND_H
#define TM_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "tm/buf.h"

#define TM_OUTBOUND_HEADERS_MAX 16 /* header lines of one request */
#define TM_OUTBOUND_CAPTURE_MAX 4  /* reply headers one request keeps */
#define TM_OUTBOUND_VALUE_MAX 64   /* bytes of a kept header value, NUL included */
#define TM_OUTBOUND_ERROR_MAX 384  /* bytes of error: libcurl's message (256) and its cause */
#define TM_OUTBOUND_USER_AGENT "taskmesh" /* when user_agent is NULL */

struct tm_outbound_request {
	const char *method;	    /* "GET" or "POST" */
	const char *url;	    /* https://... (or http://... when allow_http); no secret */
	bool allow_http;	    /* http besides https (a configured http base URL: tests) */
	const char *user_agent;	    /* NULL is TM_OUTBOUND_USER_AGENT */
	const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
	const char *body;	    /* POST body, not copied; NULL is empty; a GET has none */
	size_t body_len;	    /* bytes of body (it may hold NULs) */
	int timeout_ms;		    /* the whole request, connection included; >= 1 */
	size_t body_max;	    /* bytes of reply body taken; more is TOO_LARGE; >= 1 */
	/* Reply header names to keep (any case), NULL-terminated, at most
	 * TM_OUTBOUND_CAPTURE_MAX; may be NULL. */
	const char *const *capture;
};

struct tm_outbound_response {
	long status;	    /* HTTP status of the reply; 0 when no status line came */
	struct tm_buf body; /* the reply body on OK (the caller frees it); empty otherwise */
	/* The values of the capture headers, in their order, spaces trimmed; "" when
	 * absent or longer than TM_OUTBOUND_VALUE_MAX - 1 bytes. A repeated header
	 * keeps its last value. */
	char captured[TM_OUTBOUND_CAPTURE_MAX][TM_OUTBOUND_VALUE_MAX];
	int curl_code; /* CURLE_OK on OK, else the failure's libcurl code: a URL refused
			  before sending is CURLE_UNSUPPORTED_PROTOCOL, another refused
			  request CURLE_BAD_FUNCTION_ARGUMENT */
	char error[TM_OUTBOUND_ERROR_MAX]; /* "" on OK, else what went wrong, without
					      naming the request (the caller does) */
};

enum tm_outbound_rc {
	TM_OUTBOUND_OK = 0,    /* a reply came, whatever its status */
	TM_OUTBOUND_TOO_LARGE, /* the reply body went past body_max */
	TM_OUTBOUND_TIMEOUT,   /* no whole reply within timeout_ms */
	TM_OUTBOUND_TRANSPORT, /* refused, reset, name or TLS failure...: curl_code says which;
				  may do better later */
	TM_OUTBOUND_LOCAL,     /* our side: a request refused before sending (see above), out
				  of memory, or a libcurl that lacks an option; will not do
				  better later */
};

/*
 * Sends q and collects the reply into *r, which is overwritten (free a body
 * it held before). Returns OK when a reply came, whatever its status, else
 * the failure with r->error saying what it was; r->body is then empty (what
 * had come of it was wiped and freed). Refused before anything is sent
 * (LOCAL): a method other than GET and POST, a GET with a body, a URL of
 * another scheme, timeout_ms or body_max under 1, more than
 * TM_OUTBOUND_HEADERS_MAX header lines, a header line or User-Agent with CR
 * or LF, more than TM_OUTBOUND_CAPTURE_MAX names to keep or an empty one.
 */
enum tm_outbound_rc tm_outbound_do(const struct tm_outbound_request *q,
				   struct tm_outbound_response *r);

#endif
