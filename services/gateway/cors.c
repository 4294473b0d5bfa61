/* CORS for the configured origins only (TM_CORS_ORIGINS). Bearer tokens, not
 * cookies, carry credentials, so Allow-Credentials is never sent. */
#include <string.h>

#include "gateway.h"
#include "tm/util.h"

#define CORS_MAX_AGE_S "600"
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After"

/* True when `item` is exactly one entry of a comma-separated list. */
static bool list_contains(const char *list, const char *item)
{
	size_t il = strlen(item);
	if (!list || !*list || il == 0)
		return false;
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t l = strcspn(p, ", ");
		if (l == il && strncmp(p, item, l) == 0)
			return true;
		p += l;
	}
	return false;
}

static const char *request_origin(struct gw_request *r)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
}

void gw_cors_headers(struct gw *g, struct gw_request *r, struct MHD_Response *resp)
{
	const char *origin = request_origin(r);
	if (!origin)
		return;
	MHD_add_response_header(resp, "Vary", "Origin");
	if (!list_contains(g->cfg.cors_origins, origin))
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

bool gw_cors_preflight(struct gw *g, struct gw_request *r)
{
	struct tm_buf allow;
	bool path_matched = false;
	const char *origin = request_origin(r);
	const char *want = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						       "Access-Control-Request-Method");

	if (strcmp(r->method, "OPTIONS") != 0 || !origin || !want)
		return false;
	tm_buf_init(&allow);
	gw_route_match("OPTIONS", r->url, NULL, &path_matched, &allow);
	if (!path_matched || !list_contains(g->cfg.cors_origins, origin) || allow.failed ||
	    !list_contains(allow.data, want)) {
		gw_reply_error(r, TM_E_FORBIDDEN, "cross-origin request not allowed", NULL);
		tm_buf_free(&allow);
		return true;
	}
	gw_reply_text(r, 204, NULL, "", 0);
	if (r->response) {
		MHD_add_response_header(r->response, "Access-Control-Allow-Methods", allow.data);
		MHD_add_response_header(r->response, "Access-Control-Allow-Headers",
					CORS_ALLOW_HEADERS);
		MHD_add_response_header(r->response, "Access-Control-Max-Age", CORS_MAX_AGE_S);
	}
	tm_buf_free(&allow);
	return true;
}
