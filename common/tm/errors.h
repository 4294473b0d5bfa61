/*
 * The error-code table shared by every daemon: code <-> HTTP status <-> message.
 * One row per code in common/errors.c; the gateway renders
 * {"error": {"code", "message", "details", "requestId", "timestamp"}} from it.
 */
#ifndef TM_ERRORS_H
#define TM_ERRORS_H

enum tm_code {
	TM_OK = 0,
	TM_E_VALIDATION_FAILED,	     /* 400 */
	TM_E_UNAUTHENTICATED,	     /* 401 */
	TM_E_FORBIDDEN,		     /* 403 */
	TM_E_NOT_FOUND,		     /* 404 */
	TM_E_METHOD_NOT_ALLOWED,     /* 405 */
	TM_E_CONFLICT,		     /* 409 */
	TM_E_PAYLOAD_TOO_LARGE,	     /* 413 */
	TM_E_URI_TOO_LONG,	     /* 414 */
	TM_E_UNSUPPORTED_MEDIA_TYPE, /* 415 */
	TM_E_IDEMPOTENCY_KEY_REUSED, /* 422 */
	TM_E_RATE_LIMITED,	     /* 429 */
	TM_E_HEADERS_TOO_LARGE,	     /* 431 */
	TM_E_INTERNAL,		     /* 500 */
	TM_E_UPSTREAM_FAILED,	     /* 502 */
	TM_E_SERVICE_UNAVAILABLE,    /* 503 */
	TM_E__COUNT
};

struct tm_code_info {
	enum tm_code code;
	const char *name;    /* wire name, e.g. "VALIDATION_FAILED" */
	int http_status;     /* HTTP status the gateway answers with */
	const char *message; /* default human message */
};

/* The row for `code`; the INTERNAL row for an out-of-range value. */
const struct tm_code_info *tm_code_info(enum tm_code code);

/* Looks a wire name up. Returns 0 and sets *out, or -1 if unknown. */
int tm_code_from_name(const char *name, enum tm_code *out);

/* The code a service should report for an HTTP status (used for replies that
 * carry only a status); TM_E_INTERNAL for unknown error statuses. */
enum tm_code tm_code_from_http_status(int http_status);

#endif
