/* Building replies: JSON bodies, the error format, the headers every reply carries. */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "tm/log.h"
#include "tm/util.h"

void gw_add_common_headers(struct gw_request *r, struct MHD_Response *resp)
{
	gw_cors_headers(r->gw, r, resp);
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy", "frame-ancestors 'none'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

void gw_reply_text(struct gw_request *r, int status, const char *content_type, const char *text,
		   size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return; /* out of memory: the connection is closed without a reply */
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	gw_add_common_headers(r, resp);
	if (r->response) /* a second reply is a bug; keep the first */
		MHD_destroy_response(resp);
	else {
		r->response = resp;
		r->status = status;
	}
}

void gw_reply_retry_after(struct gw_request *r, int seconds)
{
	char v[16];
	if (!r->response)
		return;
	snprintf(v, sizeof(v), "%d", seconds > 0 ? seconds : 1);
	MHD_add_response_header(r->response, MHD_HTTP_HEADER_RETRY_AFTER, v);
}

void gw_reply_json(struct gw_request *r, int status, const char *json, size_t len)
{
	gw_reply_text(r, status, "application/json", json, len);
}

void gw_reply_error(struct gw_request *r, enum tm_code code, const char *message,
		    const char *details_json)
{
	const struct tm_code_info *ci = tm_code_info(code);
	char ts[32];
	struct tm_buf b;

	if (!message || !message[0])
		message = ci->message;
	tm_rfc3339(tm_now_ms(), ts);
	tm_buf_init(&b);
	tm_buf_puts(&b, "{\"error\":{\"code\":");
	tm_buf_json_str(&b, ci->name, strlen(ci->name));
	tm_buf_puts(&b, ",\"message\":");
	tm_buf_json_str(&b, message, strlen(message));
	tm_buf_puts(&b, ",\"details\":");
	tm_buf_puts(&b, details_json && details_json[0] ? details_json : "[]");
	tm_buf_puts(&b, ",\"requestId\":");
	tm_buf_json_str(&b, r->request_id, strlen(r->request_id));
	tm_buf_printf(&b, ",\"timestamp\":\"%s\"}}", ts);
	if (b.failed) {
		tm_buf_free(&b);
		return;
	}
	gw_reply_json(r, ci->http_status, b.data, b.len);
	tm_buf_free(&b);
	if (ci->http_status >= 500)
		tm_warn("%s %s -> %d %s: %s", r->method, r->url, ci->http_status, ci->name,
			message);
}
