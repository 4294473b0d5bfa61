/* RPC routes: JSON -> request message -> RpcRequest -> service -> RpcReply -> JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "gateway.h"
#include "tm/json_pb.h"
#include "tm/list.h"
#include "tm/log.h"
#include "tm/util.h"

#define IDEMPOTENCY_KEY_MAX 255

const char *const gw_service_names[GW_NTARGETS] = {"projects",	"matching", "payments",
						   "messaging", "learning", "identity"};

/* ---- fan-out ---- */

/* Keeps what the finishing thread needs from one reply. Runs on an nng thread. */
static void keep_reply(struct gw_call *c, const Taskmesh__V1__RpcReply *rep)
{
	c->status = rep->status;
	c->retry_after_s = rep->retry_after_seconds;
	if (rep->body.len > 0 && (c->body.data = malloc(rep->body.len))) {
		memcpy(c->body.data, rep->body.data, rep->body.len);
		c->body.len = rep->body.len;
	}
	if (!rep->error)
		return;
	c->error_code = strdup(rep->error->code ? rep->error->code : "INTERNAL");
	c->error_message = strdup(rep->error->message ? rep->error->message : "");
	tm_buf_putc(&c->error_details, '[');
	for (size_t i = 0; i < rep->error->n_details; i++) {
		const Taskmesh__V1__ErrorDetail *d = rep->error->details[i];
		tm_buf_puts(&c->error_details, i ? ",{\"field\":" : "{\"field\":");
		tm_buf_json_str(&c->error_details, d->field, strlen(d->field));
		tm_buf_puts(&c->error_details, ",\"description\":");
		tm_buf_json_str(&c->error_details, d->description, strlen(d->description));
		tm_buf_putc(&c->error_details, '}');
	}
	tm_buf_putc(&c->error_details, ']');
}

static void call_done(void *arg, int rv, const Taskmesh__V1__RpcReply *rep)
{
	struct gw_call *c = arg;
	struct gw_request *r = c->req;

	c->rv = rv;
	if (rv == 0)
		keep_reply(c, rep);
	else
		tm_stat_add(r->gw->st_rpc_fail[c->service], 1);
	if (atomic_fetch_sub(&r->pending, 1) != 1)
		return;
	tm_log_set_request_id(r->request_id);
	r->finish(r);
	tm_log_set_request_id(NULL);
	r->state = GW_DONE;
	MHD_resume_connection(r->conn);
}

void gw_fanout(struct gw *g, struct gw_request *r, Taskmesh__V1__RpcRequest *reqs, int timeout_ms,
	       void (*finish)(struct gw_request *r))
{
	int n = r->ncalls;

	r->finish = finish;
	r->state = GW_WAITING;
	r->suspended = true;
	atomic_store(&r->pending, n);
	/* suspend first: a completion may resume the connection before we return */
	MHD_suspend_connection(r->conn);
	for (int i = 0; i < n; i++) {
		r->calls[i].req = r;
		reqs[i].deadline_unix_ms = tm_now_ms() + timeout_ms;
		tm_rpc_call(g->clients[r->calls[i].service], &reqs[i], timeout_ms, call_done,
			    &r->calls[i]);
	}
}

/* The envelope of a call on behalf of the request's caller. */
void gw_envelope(struct gw_request *r, Taskmesh__V1__RpcRequest *req, Taskmesh__V1__Caller *caller,
		 const char *method)
{
	taskmesh__v1__rpc_request__init(req);
	taskmesh__v1__caller__init(caller);
	caller->user_id = r->caller_id;
	caller->role = r->caller_role;
	caller->client_ip = r->client_ip;
	caller->user_agent = r->user_agent;
	caller->token_id = r->token_id;
	req->caller = caller;
	req->method = (char *)method;
	req->request_id = r->request_id;
}

/* ---- one RPC route ---- */

/* Renders a transcoder error as the API's details array. */
static void reply_json_error(struct gw_request *r, enum tm_code code, const struct tm_json_error *e)
{
	struct tm_buf d;
	char msg[400];

	tm_buf_init(&d);
	tm_buf_puts(&d, "[{\"field\":");
	tm_buf_json_str(&d, e->field, strlen(e->field));
	tm_buf_puts(&d, ",\"description\":");
	tm_buf_json_str(&d, e->description, strlen(e->description));
	tm_buf_puts(&d, "}]");
	if (e->field[0])
		snprintf(msg, sizeof(msg), "%s: %s", e->field, e->description);
	else
		snprintf(msg, sizeof(msg), "%s", e->description);
	gw_reply_error(r, code, msg, d.failed ? NULL : d.data);
	tm_buf_free(&d);
}

/* One query parameter as a JSON member. With their decoded sizes, so a %00
 * reaches the transcoder (which refuses U+0000, naming the field) instead of
 * cutting the value short. */
static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_size, const char *value, size_t value_size)
{
	struct tm_buf *b = cls;
	(void)kind;
	tm_buf_putc(b, b->len > 1 ? ',' : ' ');
	tm_buf_json_str(b, key, key_size);
	tm_buf_putc(b, ':');
	tm_buf_json_str(b, value ? value : "", value ? value_size : 0);
	return MHD_YES;
}

/* Sets the route's {params} on the request message (string fields by name). */
static int set_path_params(struct gw_request *r, ProtobufCMessage *msg, struct tm_json_error *e)
{
	for (int i = 0; i < r->nparams; i++) {
		char name[64];
		size_t l = r->params[i].name_len < sizeof(name) - 1 ? r->params[i].name_len :
								      sizeof(name) - 1;
		memcpy(name, r->params[i].name, l);
		name[l] = '\0';
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
		if (!f || f->type != PROTOBUF_C_TYPE_STRING ||
		    f->label == PROTOBUF_C_LABEL_REPEATED) {
			tm_error("route %s: {%s} is not a string field of %s (route table bug)",
				 r->route->pattern, name, msg->descriptor->name);
			return -1;
		}
		char **slot = (char **)((char *)msg + f->offset);
		if (*slot && (*slot)[0]) {
			snprintf(e->field, sizeof(e->field), "%s", name);
			snprintf(e->description, sizeof(e->description),
				 "is taken from the URL; leave it out of the body");
			return 1;
		}
		*slot = r->params[i].value;
	}
	return 0;
}

/* The list contract (tm/list.h): a `limit` that is given must be 1..100; 0 is
 * refused too (the transcoded field cannot tell it from no limit). True after
 * the error reply. */
static bool list_limit_refused(struct gw_request *r, const ProtobufCMessage *msg)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "limit");
	int32_t limit = *(const int32_t *)((const char *)msg + f->offset);
	if (!MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit") ||
	    (limit >= 1 && limit <= TM_LIST_LIMIT_MAX))
		return false;
	char msgtext[96], details[160];
	snprintf(msgtext, sizeof(msgtext), "limit: must be between 1 and %d", TM_LIST_LIMIT_MAX);
	snprintf(details, sizeof(details),
		 "[{\"field\":\"limit\",\"description\":\"must be between 1 and %d\"}]",
		 TM_LIST_LIMIT_MAX);
	gw_reply_error(r, TM_E_VALIDATION_FAILED, msgtext, details);
	return true;
}

/* Builds the request message from the body or the query string, plus path params. */
static ProtobufCMessage *build_message(struct gw *g, struct gw_request *r)
{
	struct tm_json_limits lim = tm_json_default_limits;
	struct tm_json_error e = {{0}, {0}};
	ProtobufCMessage *msg = NULL;
	struct tm_buf q;
	enum tm_code code;

	lim.max_bytes = (size_t)g->cfg.max_body_bytes;
	lim.max_depth = (int)g->cfg.json_max_depth;
	if (r->route->flags & GW_BODY) {
		code = tm_json_to_pb(r->route->in, r->body.data ? r->body.data : "", r->body.len,
				     &lim, r->arena, &msg, &e);
	} else {
		tm_buf_init(&q);
		tm_buf_putc(&q, '{');
		MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, add_query, &q);
		tm_buf_putc(&q, '}');
		code = q.failed ?
			       TM_E_INTERNAL :
			       tm_json_to_pb(r->route->in, q.data, q.len, &lim, r->arena, &msg, &e);
		tm_buf_free(&q);
	}
	if (code != TM_OK) {
		reply_json_error(r, code, &e);
		return NULL;
	}
	if (gw_route_is_list(r->route) && list_limit_refused(r, msg))
		return NULL;
	int rc = set_path_params(r, msg, &e);
	if (rc != 0) {
		if (rc > 0)
			reply_json_error(r, TM_E_VALIDATION_FAILED, &e);
		else
			gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
		return NULL;
	}
	return msg;
}

/* The Idempotency-Key header as the route wants it; NULL after an error reply. */
static const char *idempotency_key(struct gw_request *r, bool *failed)
{
	const char *k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
	*failed = false;
	if (!(r->route->flags & (GW_IDEMPOTENCY_KEY | GW_IDEMPOTENCY_REQUIRED)))
		return "";
	if (!k) {
		if (!(r->route->flags & GW_IDEMPOTENCY_REQUIRED))
			return "";
		gw_reply_error(r, TM_E_VALIDATION_FAILED, "the Idempotency-Key header is required",
			       "[{\"field\":\"Idempotency-Key\",\"description\":\"is required\"}]");
		*failed = true;
		return NULL;
	}
	size_t n = strlen(k);
	bool ok = n >= 1 && n <= IDEMPOTENCY_KEY_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = k[i] > 0x20 && k[i] < 0x7f;
	if (!ok) {
		gw_reply_error(r, TM_E_VALIDATION_FAILED,
			       "the Idempotency-Key must be 1 to 255 visible ASCII characters",
			       "[{\"field\":\"Idempotency-Key\",\"description\":\"1 to 255 visible "
			       "ASCII characters\"}]");
		*failed = true;
		return NULL;
	}
	return k;
}

/* Replies with what the single call of an RPC route brought back. */
static void finish_proxy(struct gw_request *r)
{
	struct gw_call *c = &r->calls[0];
	const char *svc = gw_service_names[c->service];
	char msg[160];

	if (c->rv != 0) {
		snprintf(msg, sizeof(msg), "tm-%s did not answer%s", svc,
			 c->rv == NNG_ETIMEDOUT ? " before the deadline" : "");
		gw_reply_error(r, TM_E_SERVICE_UNAVAILABLE, msg, NULL);
		return;
	}
	if (c->status >= 400) {
		enum tm_code code;
		if (!c->error_code || tm_code_from_name(c->error_code, &code) != 0)
			code = tm_code_from_http_status(c->status);
		gw_reply_error(r, code, c->error_message, c->error_details.data);
		if (c->retry_after_s > 0)
			gw_reply_retry_after(r, c->retry_after_s);
		return;
	}
	if (c->status == 204) {
		gw_reply_text(r, 204, NULL, "", 0);
		return;
	}
	ProtobufCAllocator al = tm_arena_pb_allocator(r->arena);
	ProtobufCMessage *out =
		protobuf_c_message_unpack(r->route->out, &al, c->body.len, c->body.data);
	struct tm_buf b;
	tm_buf_init(&b);
	if (!out || tm_pb_to_json(out, &b) != 0) {
		tm_error("tm-%s sent a reply that is not a %s", svc, r->route->out->name);
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
	} else {
		gw_reply_json(r, c->status, b.data, b.len);
	}
	tm_buf_free(&b);
}

void gw_proxy(struct gw *g, struct gw_request *r)
{
	Taskmesh__V1__RpcRequest req;
	Taskmesh__V1__Caller caller;
	bool failed;

	ProtobufCMessage *msg = build_message(g, r);
	if (!msg)
		return;
	const char *key = idempotency_key(r, &failed);
	if (failed)
		return;
	gw_envelope(r, &req, &caller, r->route->rpc);
	req.idempotency_key = (char *)key;
	req.body.len = protobuf_c_message_get_packed_size(msg);
	req.body.data = tm_arena_alloc(r->arena, req.body.len ? req.body.len : 1);
	if (!req.body.data) {
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
		return;
	}
	protobuf_c_message_pack(msg, req.body.data);
	r->ncalls = 1;
	r->calls[0].service = r->route->service;
	gw_fanout(g, r, &req, (int)g->cfg.rpc_timeout_ms, finish_proxy);
}
