/* The error-code table: one row per code. API.md fixes the status/code pairs. */
#include <string.h>

#include "tm/errors.h"

static const struct tm_code_info codes[TM_E__COUNT] = {
	[TM_OK] = {TM_OK, "OK", 200, "ok"},
	[TM_E_VALIDATION_FAILED] = {TM_E_VALIDATION_FAILED, "VALIDATION_FAILED", 400,
				    "the request is not valid"},
	[TM_E_UNAUTHENTICATED] = {TM_E_UNAUTHENTICATED, "UNAUTHENTICATED", 401,
				  "authentication is required"},
	[TM_E_FORBIDDEN] = {TM_E_FORBIDDEN, "FORBIDDEN", 403, "you are not allowed to do this"},
	[TM_E_NOT_FOUND] = {TM_E_NOT_FOUND, "NOT_FOUND", 404, "no such resource"},
	[TM_E_METHOD_NOT_ALLOWED] = {TM_E_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 405,
				     "this method is not allowed on this resource"},
	[TM_E_CONFLICT] = {TM_E_CONFLICT, "CONFLICT", 409,
			   "the resource's state does not allow this"},
	[TM_E_PAYLOAD_TOO_LARGE] = {TM_E_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", 413,
				    "the request body is too large"},
	[TM_E_URI_TOO_LONG] = {TM_E_URI_TOO_LONG, "URI_TOO_LONG", 414, "the URL is too long"},
	[TM_E_UNSUPPORTED_MEDIA_TYPE] = {TM_E_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", 415,
					 "the body must be application/json"},
	[TM_E_IDEMPOTENCY_KEY_REUSED] = {TM_E_IDEMPOTENCY_KEY_REUSED, "IDEMPOTENCY_KEY_REUSED", 422,
					 "this Idempotency-Key was used with a different request"},
	[TM_E_RATE_LIMITED] = {TM_E_RATE_LIMITED, "RATE_LIMITED", 429, "too many requests"},
	[TM_E_HEADERS_TOO_LARGE] = {TM_E_HEADERS_TOO_LARGE, "HEADERS_TOO_LARGE", 431,
				    "the request headers are too large"},
	[TM_E_INTERNAL] = {TM_E_INTERNAL, "INTERNAL", 500, "internal error"},
	[TM_E_UPSTREAM_FAILED] = {TM_E_UPSTREAM_FAILED, "UPSTREAM_FAILED", 502,
				  "an outside service failed"},
	[TM_E_SERVICE_UNAVAILABLE] = {TM_E_SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", 503,
				      "a needed service did not answer in time"},
};

const struct tm_code_info *tm_code_info(enum tm_code code)
{
	if ((int)code < 0 || code >= TM_E__COUNT)
		return &codes[TM_E_INTERNAL];
	return &codes[code];
}

int tm_code_from_name(const char *name, enum tm_code *out)
{
	if (!name)
		return -1;
	for (int i = 0; i < TM_E__COUNT; i++) {
		if (strcmp(codes[i].name, name) == 0) {
			*out = codes[i].code;
			return 0;
		}
	}
	return -1;
}

enum tm_code tm_code_from_http_status(int http_status)
{
	if (http_status >= 200 && http_status < 400)
		return TM_OK;
	for (int i = 1; i < TM_E__COUNT; i++)
		if (codes[i].http_status == http_status)
			return codes[i].code;
	return TM_E_INTERNAL;
}
