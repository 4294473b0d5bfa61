/*
 * GET /api/v1/projects/{id}/overview: asks the five services for their part in
 * parallel under one deadline and merges the parts' fields into one object.
 * Each service authorizes the caller on its own, so a service that does not
 * answer is only named in "degraded"; any answering service that does not
 * know the project (or may not show it) makes the whole reply 404.
 */
#include <string.h>

#include <nng/nng.h>

#include "gateway.h"
#include "taskmesh/v1/overview.pb-c.h"
#include "tm/json_pb.h"
#include "tm/util.h"

static const ProtobufCMessageDescriptor *const parts[GW_NSERVICES] = {
	[GW_PROJECTS] = &taskmesh__v1__projects_overview_part__descriptor,
	[GW_MATCHING] = &taskmesh__v1__matching_overview_part__descriptor,
	[GW_PAYMENTS] = &taskmesh__v1__payments_overview_part__descriptor,
	[GW_MESSAGING] = &taskmesh__v1__messaging_overview_part__descriptor,
	[GW_LEARNING] = &taskmesh__v1__learning_overview_part__descriptor,
};

/* Appends the fields of one part (its JSON object without the braces). */
static int merge_part(struct gw_request *r, struct gw_call *c, struct tm_buf *out)
{
	ProtobufCAllocator al = tm_arena_pb_allocator(r->arena);
	ProtobufCMessage *m =
		protobuf_c_message_unpack(parts[c->service], &al, c->body.len, c->body.data);
	struct tm_buf part;
	int rc = -1;

	if (!m)
		return -1;
	tm_buf_init(&part);
	if (tm_pb_to_json(m, &part) == 0 && part.len >= 2) {
		if (part.len > 2) { /* "{...}" -> "..." */
			tm_buf_puts(out, out->len > 1 ? "," : "");
			tm_buf_append(out, part.data + 1, part.len - 2);
		}
		rc = 0;
	}
	tm_buf_free(&part);
	return rc;
}

static void finish_overview(struct gw_request *r)
{
	struct tm_buf b, degraded;
	int answered = 0;

	for (int i = 0; i < r->ncalls; i++) {
		struct gw_call *c = &r->calls[i];
		if (c->rv == 0 && c->status >= 400 && c->status < 500) {
			enum tm_code code;
			if (!c->error_code || tm_code_from_name(c->error_code, &code) != 0)
				code = tm_code_from_http_status(c->status);
			gw_reply_error(r, code, c->error_message, c->error_details.data);
			return; /* 404 from any part: the project is not the caller's to see */
		}
	}
	tm_buf_init(&b);
	tm_buf_init(&degraded);
	tm_buf_putc(&b, '{');
	for (int i = 0; i < r->ncalls; i++) {
		struct gw_call *c = &r->calls[i];
		if (c->rv == 0 && c->status < 400 && merge_part(r, c, &b) == 0) {
			answered++;
			continue;
		}
		tm_buf_puts(&degraded, degraded.len ? "," : "");
		tm_buf_json_str(&degraded, gw_service_names[c->service],
				strlen(gw_service_names[c->service]));
	}
	tm_buf_puts(&b, b.len > 1 ? ",\"degraded\":[" : "\"degraded\":[");
	tm_buf_append(&b, degraded.data ? degraded.data : "", degraded.len);
	tm_buf_puts(&b, "]}");
	if (answered == 0)
		gw_reply_error(r, TM_E_SERVICE_UNAVAILABLE, "no service answered", NULL);
	else if (b.failed)
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
	else
		gw_reply_json(r, 200, b.data, b.len);
	tm_buf_free(&b);
	tm_buf_free(&degraded);
}

void gw_overview(struct gw *g, struct gw_request *r)
{
	Taskmesh__V1__RpcRequest reqs[GW_NSERVICES];
	Taskmesh__V1__Caller callers[GW_NSERVICES];
	Taskmesh__V1__ProjectOverviewRequest in = TASKMESH__V1__PROJECT_OVERVIEW_REQUEST__INIT;
	uint8_t *body;

	in.id = r->params[0].value;
	size_t len = taskmesh__v1__project_overview_request__get_packed_size(&in);
	if (!(body = tm_arena_alloc(r->arena, len ? len : 1))) {
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
		return;
	}
	taskmesh__v1__project_overview_request__pack(&in, body);
	r->ncalls = GW_NSERVICES;
	for (int i = 0; i < GW_NSERVICES; i++) {
		gw_envelope(r, &reqs[i], &callers[i], "GetProjectOverview");
		reqs[i].body.data = body;
		reqs[i].body.len = len;
		r->calls[i].service = (enum gw_service)i;
	}
	gw_fanout(g, r, reqs, (int)g->cfg.fanout_timeout_ms, finish_overview);
}
