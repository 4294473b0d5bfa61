/* The nng RPC server of a service; see tm/rpc_server.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "tm_version.h"
#include "taskmesh/v1/ops.pb-c.h"
#include "tm/idempotency.h"
#include "tm/log.h"
#include "tm/outbox.h"
#include "tm/rpc_server.h"
#include "tm/stats.h"
#include "tm/util.h"

#define RPC_WORKERS_MAX 256	      /* upper bound of cfg->workers */
#define RPC_ARENA_LIMIT (64u << 20)   /* memory one call may use */
#define RPC_RECV_MAX_BYTES (4u << 20) /* largest request accepted off the wire */
#define RPC_TX_ATTEMPTS 3	      /* serialization failures / deadlocks are retried */
#define RPC_SLOTS_PER_WORKER \
	8 /* contexts receiving per worker: requests wait in our queue, \
					the workers never idle while work is queued */

/* A context's place in RECV -> (inline | QUEUED -> WORK) -> SEND -> RECV. */
enum slot_state { S_IDLE, S_RECV, S_QUEUED, S_WORK, S_SEND };

/* One nng context and its aio, driven by aio callbacks (never blocking). */
struct slot {
	struct tm_rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *msg;		       /* the request, reused for the reply */
	struct tm_arena *arena;	       /* the request's memory until its reply is sent */
	Taskmesh__V1__RpcRequest *req; /* decoded on receipt */
	enum slot_state state;	       /* guarded by srv->lock */
	struct slot *next;	       /* work queue link */
};

/* A thread that runs database-bound methods, with its own connection. */
struct worker {
	struct tm_rpc_server *srv;
	pthread_t thread;
	struct tm_db *db;
};

struct method_stats {
	struct tm_stat *calls, *errors;
};

struct tm_rpc_server {
	struct tm_rpc_server_config cfg;
	nng_socket sock;
	struct slot *slots;
	int nslots;
	struct worker *workers;
	int nworkers;
	struct method_stats *mstats; /* one per cfg.methods row */
	pthread_mutex_t lock;
	pthread_cond_t work; /* a slot was queued, or stopping */
	pthread_cond_t idle; /* a slot went idle */
	struct slot *queue_head, *queue_tail;
	int busy; /* slots not idle */
	bool stopping;
	bool given_up; /* the stop's deadline passed with requests in hand: workers quit */
	int64_t started_mono_ms;
};

enum tm_code tm_rpc_fail(struct tm_rpc_call *call, enum tm_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
	call->code = code;
	return code;
}

enum tm_code tm_rpc_field_error(struct tm_rpc_call *call, const char *field, const char *fmt, ...)
{
	va_list ap;
	char desc[192];

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	if (call->ndetails < TM_RPC_MAX_DETAILS) {
		Taskmesh__V1__ErrorDetail *d = &call->details[call->ndetails++];
		taskmesh__v1__error_detail__init(d);
		d->field = tm_arena_strdup(call->arena, field);
		d->description = tm_arena_strdup(call->arena, desc);
		if (!d->field || !d->description)
			call->ndetails--;
	}
	if (call->code != TM_E_VALIDATION_FAILED) {
		call->code = TM_E_VALIDATION_FAILED;
		snprintf(call->message, sizeof(call->message), "%s: %s", field, desc);
	}
	return TM_E_VALIDATION_FAILED;
}

enum tm_code tm_rpc_db_fail(struct tm_rpc_call *call)
{
	tm_error("database error: %s", tm_db_error(call->db));
	if (!tm_db_healthy())
		return tm_rpc_fail(call, TM_E_SERVICE_UNAVAILABLE, "the database is unavailable");
	return tm_rpc_fail(call, TM_E_INTERNAL, "internal error");
}

/* Packs an RpcReply into malloc'd bytes. */
static int pack_reply(const Taskmesh__V1__RpcReply *rep, void **out, size_t *len)
{
	*len = taskmesh__v1__rpc_reply__get_packed_size(rep);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return -1;
	taskmesh__v1__rpc_reply__pack(rep, *out);
	return 0;
}

/* The reply of a call, from its outcome. `out` is the handler's reply message. */
static int build_reply(struct tm_rpc_call *call, enum tm_code code, const ProtobufCMessage *out,
		       void **bytes, size_t *len)
{
	Taskmesh__V1__RpcReply rep = TASKMESH__V1__RPC_REPLY__INIT;
	Taskmesh__V1__Error err = TASKMESH__V1__ERROR__INIT;
	Taskmesh__V1__ErrorDetail *details[TM_RPC_MAX_DETAILS];

	if (code != TM_OK) {
		const struct tm_code_info *ci = tm_code_info(code);
		rep.status = ci->http_status;
		err.code = (char *)ci->name;
		err.message = call->message[0] ? call->message : (char *)ci->message;
		for (int i = 0; i < call->ndetails; i++)
			details[i] = &call->details[i];
		err.n_details = (size_t)call->ndetails;
		err.details = details;
		rep.error = &err;
		rep.retry_after_seconds = call->retry_after_s;
		return pack_reply(&rep, bytes, len);
	}
	rep.status = call->status ? call->status : 200;
	if (out) {
		rep.body.len = protobuf_c_message_get_packed_size(out);
		rep.body.data = tm_arena_alloc(call->arena, rep.body.len ? rep.body.len : 1);
		if (!rep.body.data)
			return -1;
		protobuf_c_message_pack(out, rep.body.data);
	}
	return pack_reply(&rep, bytes, len);
}

/* ---- built-in methods ---- */

static enum tm_code ping(struct tm_rpc_call *call, const ProtobufCMessage *in,
			 ProtobufCMessage **out)
{
	struct tm_rpc_server *s = call->server;
	Taskmesh__V1__PingReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	Taskmesh__V1__HealthCheck *checks = tm_arena_alloc(call->arena, 6 * sizeof(*checks));
	Taskmesh__V1__HealthCheck **ptrs = tm_arena_alloc(call->arena, 6 * sizeof(*ptrs));
	int n = 0;

	if (!rep || !checks || !ptrs)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__ping_reply__init(rep);
	for (int i = 0; i < 6; i++)
		taskmesh__v1__health_check__init(&checks[i]);
	/* inline: no connection of its own; the process-wide flags are kept current by
	 * every connection and by the outbox relay, which polls once a second */
	checks[n].name = "database";
	checks[n].ok = tm_db_healthy();
	checks[n].detail = checks[n].ok ? "" : "PostgreSQL is unreachable";
	n++;
	checks[n].name = "kafka";
	checks[n].ok = tm_outbox_kafka_healthy();
	checks[n].detail = checks[n].ok ? "" : "the last outbox delivery failed";
	n++;
	if (s->cfg.ping_checks)
		n += s->cfg.ping_checks(s->cfg.service_state, &checks[n], call->arena);
	rep->service = (char *)s->cfg.service;
	rep->version = TM_VERSION;
	rep->uptime_seconds = (tm_mono_ms() - s->started_mono_ms) / 1000;
	rep->ready = true;
	for (int i = 0; i < n; i++) {
		ptrs[i] = &checks[i];
		rep->ready = rep->ready && checks[i].ok;
	}
	rep->n_checks = (size_t)n;
	rep->checks = ptrs;
	*out = &rep->base;
	return TM_OK;
}

static enum tm_code stats(struct tm_rpc_call *call, const ProtobufCMessage *in,
			  ProtobufCMessage **out)
{
	struct tm_stat_view views[TM_STATS_MAX];
	int n = tm_stats_snapshot(views, TM_STATS_MAX);
	Taskmesh__V1__StatsReply *rep = tm_arena_alloc(call->arena, sizeof(*rep));
	Taskmesh__V1__Metric *ms = tm_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*ms));
	Taskmesh__V1__Metric **ptrs = tm_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*ptrs));
	Taskmesh__V1__MetricLabel *labels =
		tm_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*labels));
	Taskmesh__V1__MetricLabel **lptrs =
		tm_arena_alloc(call->arena, (size_t)(n + 1) * sizeof(*lptrs));

	if (!rep || !ms || !ptrs || !labels || !lptrs)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__v1__stats_reply__init(rep);
	rep->service = (char *)call->server->cfg.service;
	for (int i = 0; i < n; i++) {
		Taskmesh__V1__Metric *m = &ms[i];
		taskmesh__v1__metric__init(m);
		m->name = (char *)views[i].name;
		m->help = (char *)views[i].help;
		m->type = views[i].kind == TM_STAT_COUNTER ?
				  TASKMESH__V1__METRIC_TYPE__METRIC_TYPE_COUNTER :
				  TASKMESH__V1__METRIC_TYPE__METRIC_TYPE_GAUGE;
		m->value = (double)views[i].value;
		if (views[i].label_name) {
			taskmesh__v1__metric_label__init(&labels[i]);
			labels[i].name = (char *)views[i].label_name;
			labels[i].value = (char *)views[i].label_value;
			lptrs[i] = &labels[i];
			m->n_labels = 1;
			m->labels = &lptrs[i];
		}
		ptrs[i] = m;
	}
	rep->n_metrics = (size_t)n;
	rep->metrics = ptrs;
	*out = &rep->base;
	return TM_OK;
}

static const struct tm_rpc_method builtins[] = {
	{"Ping", &taskmesh__v1__ping_request__descriptor, &taskmesh__v1__ping_reply__descriptor,
	 ping, TM_RPC_INLINE},
	{"Stats", &taskmesh__v1__stats_request__descriptor, &taskmesh__v1__stats_reply__descriptor,
	 stats, TM_RPC_INLINE},
};

/* The method row for a name, and its stats slot (NULL for built-ins). */
static const struct tm_rpc_method *find_method(struct tm_rpc_server *s, const char *name,
					       struct method_stats **ms)
{
	*ms = NULL;
	for (size_t i = 0; i < TM_ARRAY_LEN(builtins); i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	for (size_t i = 0; i < s->cfg.nmethods; i++) {
		if (strcmp(s->cfg.methods[i].name, name) == 0) {
			*ms = &s->mstats[i];
			return &s->cfg.methods[i];
		}
	}
	return NULL;
}

/* ---- one call ---- */

static void reset_outcome(struct tm_rpc_call *call)
{
	call->retry_after_s = 0;
	call->status = 0;
	call->code = TM_OK;
	call->message[0] = '\0';
	call->ndetails = 0;
}

static bool retryable(struct tm_db *db)
{
	const char *st = tm_db_sqlstate(db);
	return strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0;
}

/*
 * Runs a method in a transaction (with an idempotency key when `idem` is not
 * NULL), retrying serialization failures. Produces the packed reply.
 */
static int run_in_tx(struct tm_rpc_call *call, const struct tm_rpc_method *m,
		     const ProtobufCMessage *in, const struct tm_idem *idem, void **bytes,
		     size_t *len)
{
	for (int attempt = 1;; attempt++) {
		ProtobufCMessage *out = NULL;
		enum tm_code code;

		reset_outcome(call);
		if (tm_db_begin(call->db) != TM_DB_OK) {
			code = tm_rpc_db_fail(call);
		} else if ((code = m->fn(call, in, &out)) == TM_OK) {
			if (build_reply(call, TM_OK, out, bytes, len) != 0) {
				tm_db_rollback(call->db);
				return -1;
			}
			if ((!idem || tm_idem_finish(call->db, idem, *bytes, *len) == 0) &&
			    tm_db_commit(call->db) == TM_DB_OK)
				return 0;
			free(*bytes);
			*bytes = NULL;
			tm_db_rollback(call->db);
			code = retryable(call->db) ? TM_E_CONFLICT : tm_rpc_db_fail(call);
		} else {
			tm_db_rollback(call->db);
		}
		if (retryable(call->db) && attempt < RPC_TX_ATTEMPTS) {
			tm_sleep_ms(tm_backoff_ms(attempt, 5, 50));
			continue;
		}
		if (build_reply(call, code, NULL, bytes, len) != 0)
			return -1;
		/* a completed refusal (4xx but a validation failure) is part of the key's
		 * history; validation failures and 5xx let the client retry the key */
		int status = tm_code_info(code)->http_status;
		if (idem && (status >= 500 || code == TM_E_VALIDATION_FAILED ||
			     tm_idem_finish(call->db, idem, *bytes, *len) != 0))
			tm_idem_release(call->db, idem);
		return 0;
	}
}

/* Runs a method under its idempotency key, or replays the stored reply. */
static int run_idempotent(struct tm_rpc_call *call, const struct tm_rpc_method *m,
			  const ProtobufCMessage *in, void **bytes, size_t *len)
{
	const Taskmesh__V1__RpcRequest *req = call->req;
	struct tm_idem k;
	ProtobufCBinaryData stored = {0};
	enum tm_code code = TM_E_CONFLICT;

	tm_idem_init(&k, call->user_id, req->method, req->idempotency_key, req->body.data,
		     req->body.len);
	switch (tm_idem_claim(call->db, &k, call->arena, &stored, &code)) {
	case TM_IDEM_PROCEED:
		return run_in_tx(call, m, in, &k, bytes, len);
	case TM_IDEM_REPLAY:
		*bytes = malloc(stored.len ? stored.len : 1);
		if (!*bytes)
			return -1;
		memcpy(*bytes, stored.data, stored.len);
		*len = stored.len;
		return 0;
	case TM_IDEM_REJECT:
		if (code == TM_E_CONFLICT)
			tm_rpc_fail(call, code,
				    "a request with this Idempotency-Key is in progress");
		return build_reply(call, code, NULL, bytes, len);
	case TM_IDEM_DB_ERROR:
		break;
	}
	return build_reply(call, tm_rpc_db_fail(call), NULL, bytes, len);
}

/* Decodes the method's request and runs it. */
static int run_method(struct tm_rpc_call *call, const struct tm_rpc_method *m, void **bytes,
		      size_t *len)
{
	ProtobufCAllocator al = tm_arena_pb_allocator(call->arena);
	const Taskmesh__V1__RpcRequest *req = call->req;
	ProtobufCMessage *in = protobuf_c_message_unpack(m->in, &al, req->body.len, req->body.data);

	call->method = m;
	if (!in) {
		tm_rpc_fail(call, TM_E_VALIDATION_FAILED, "the request body is not a %s",
			    m->in->name);
		return build_reply(call, TM_E_VALIDATION_FAILED, NULL, bytes, len);
	}
	if (m->flags & TM_RPC_IDEMPOTENT && req->idempotency_key && req->idempotency_key[0])
		return run_idempotent(call, m, in, bytes, len);
	if (m->flags & (TM_RPC_TX | TM_RPC_IDEMPOTENT))
		return run_in_tx(call, m, in, NULL, bytes, len);
	ProtobufCMessage *out = NULL;
	enum tm_code code = m->fn(call, in, &out);
	return build_reply(call, code, out, bytes, len);
}

/* Decodes an envelope into the arena; NULL when malformed. */
static Taskmesh__V1__RpcRequest *decode_request(struct tm_arena *arena, const void *data,
						size_t dlen)
{
	ProtobufCAllocator al = tm_arena_pb_allocator(arena);
	return taskmesh__v1__rpc_request__unpack(&al, dlen, data);
}

/*
 * Runs one decoded request (NULL: malformed) and packs its reply (malloc'd).
 * `db` may be NULL only for TM_RPC_INLINE methods. Returns 0, or -1 when no
 * reply could be built (out of memory).
 */
static int execute(struct tm_rpc_server *s, struct tm_db *db, struct tm_arena *arena,
		   const Taskmesh__V1__RpcRequest *req, void **bytes, size_t *len)
{
	struct tm_rpc_call call = {
		.db = db, .arena = arena, .server = s, .service = s->cfg.service_state};
	struct method_stats *ms = NULL;
	int rc;

	*bytes = NULL;
	if (!req) {
		tm_rpc_fail(&call, TM_E_VALIDATION_FAILED, "malformed RpcRequest");
		return build_reply(&call, TM_E_VALIDATION_FAILED, NULL, bytes, len);
	}
	tm_log_set_request_id(req->request_id);
	call.req = req;
	call.user_id = req->caller && req->caller->user_id ? req->caller->user_id : "";
	call.role = req->caller && req->caller->role ? req->caller->role : "";
	const struct tm_rpc_method *m = find_method(s, req->method, &ms);
	if (!m) {
		tm_rpc_fail(&call, TM_E_NOT_FOUND, "unknown method %.64s", req->method);
		rc = build_reply(&call, TM_E_NOT_FOUND, NULL, bytes, len);
	} else if (req->deadline_unix_ms > 0 && tm_now_ms() > req->deadline_unix_ms) {
		/* the caller has given up: do not start work nobody waits for */
		tm_rpc_fail(&call, TM_E_SERVICE_UNAVAILABLE,
			    "the deadline passed before %s started", m->name);
		rc = build_reply(&call, TM_E_SERVICE_UNAVAILABLE, NULL, bytes, len);
	} else {
		rc = run_method(&call, m, bytes, len);
	}
	if (ms) {
		tm_stat_add(ms->calls, 1);
		if (call.code != TM_OK && tm_code_info(call.code)->http_status >= 500)
			tm_stat_add(ms->errors, 1);
	}
	if (call.code != TM_OK && tm_code_info(call.code)->http_status >= 500)
		tm_warn("%s failed: %s %s", req->method, tm_code_info(call.code)->name,
			call.message);
	tm_log_set_request_id(NULL);
	return rc;
}

/* True when a request can be answered on the receiving nng thread: a
 * malformed envelope, an unknown method, or a TM_RPC_INLINE method. */
static bool answer_inline(struct tm_rpc_server *s, const Taskmesh__V1__RpcRequest *req)
{
	struct method_stats *ms;
	const struct tm_rpc_method *m = req ? find_method(s, req->method, &ms) : NULL;
	return !m || (m->flags & TM_RPC_INLINE);
}

int tm_rpc_server_handle(struct tm_rpc_server *s, struct tm_db *db, const void *data, size_t dlen,
			 void **bytes, size_t *len)
{
	struct tm_arena *arena = tm_arena_new(RPC_ARENA_LIMIT);
	int rc = arena ? execute(s, db, arena, decode_request(arena, data, dlen), bytes, len) : -1;
	tm_arena_free(arena);
	return rc;
}

/* ---- contexts (aio callbacks) and workers ---- */

/* Moves a slot to `st` under the lock, keeping the busy count for shutdown. */
static void set_state_locked(struct slot *sl, enum slot_state st)
{
	struct tm_rpc_server *s = sl->srv;
	if (sl->state == S_IDLE && st != S_IDLE)
		s->busy++;
	else if (sl->state != S_IDLE && st == S_IDLE && --s->busy == 0)
		pthread_cond_broadcast(&s->idle);
	sl->state = st;
}

/* Arms a receive, unless the server is stopping (then the slot goes idle). */
static void arm_recv(struct slot *sl)
{
	struct tm_rpc_server *s = sl->srv;
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		set_state_locked(sl, S_IDLE);
	} else {
		set_state_locked(sl, S_RECV);
		nng_ctx_recv(sl->ctx, sl->aio);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Sends the reply (or, if none could be built, drops the request) and moves on. */
static void send_reply(struct slot *sl, void *bytes, size_t len, int rc)
{
	nng_msg *msg = sl->msg;
	sl->msg = NULL;
	sl->req = NULL;
	tm_arena_reset(sl->arena);
	if (rc != 0 || nng_msg_realloc(msg, 0) != 0 || nng_msg_append(msg, bytes, len) != 0) {
		tm_error("rpc: cannot build a reply (out of memory); dropping the request");
		free(bytes);
		nng_msg_free(msg);
		arm_recv(sl);
		return;
	}
	free(bytes);
	pthread_mutex_lock(&sl->srv->lock);
	set_state_locked(sl, S_SEND);
	pthread_mutex_unlock(&sl->srv->lock);
	nng_aio_set_msg(sl->aio, msg);
	nng_ctx_send(sl->ctx, sl->aio); /* completion re-arms the receive */
}

/* A request arrived: answer it here if it cannot block, else queue it. */
static void on_received(struct slot *sl)
{
	struct tm_rpc_server *s = sl->srv;
	void *bytes = NULL;
	size_t len = 0;

	sl->msg = nng_aio_get_msg(sl->aio);
	sl->req = decode_request(sl->arena, nng_msg_body(sl->msg), nng_msg_len(sl->msg));
	if (answer_inline(s, sl->req)) {
		int rc = execute(s, NULL, sl->arena, sl->req, &bytes, &len);
		send_reply(sl, bytes, len, rc);
		return;
	}
	pthread_mutex_lock(&s->lock);
	set_state_locked(sl, S_QUEUED);
	sl->next = NULL;
	if (s->queue_tail)
		s->queue_tail->next = sl;
	else
		s->queue_head = sl;
	s->queue_tail = sl;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
}

static void slot_cb(void *arg)
{
	struct slot *sl = arg;
	int rv = nng_aio_result(sl->aio);

	if (sl->state == S_SEND) {
		if (rv != 0) {
			tm_warn("rpc: reply not sent: %s", nng_strerror(rv));
			nng_msg_free(nng_aio_get_msg(sl->aio));
		}
		arm_recv(sl);
		return;
	}
	if (rv == NNG_ECANCELED || rv == NNG_ECLOSED) {
		pthread_mutex_lock(&sl->srv->lock);
		set_state_locked(sl, S_IDLE);
		pthread_mutex_unlock(&sl->srv->lock);
		return;
	}
	if (rv != 0) {
		tm_warn("rpc: receive failed: %s", nng_strerror(rv));
		arm_recv(sl);
		return;
	}
	on_received(sl);
}

/* Takes the next queued slot; NULL when stopping and nothing is left, or when
 * the stop gave up on what is left. */
static struct slot *next_job(struct tm_rpc_server *s)
{
	struct slot *sl;
	pthread_mutex_lock(&s->lock);
	while (!s->queue_head && !(s->stopping && s->busy == 0) && !s->given_up)
		pthread_cond_wait(&s->work, &s->lock);
	sl = s->given_up ? NULL : s->queue_head;
	if (sl) {
		s->queue_head = sl->next;
		if (!s->queue_head)
			s->queue_tail = NULL;
		set_state_locked(sl, S_WORK);
	}
	pthread_mutex_unlock(&s->lock);
	return sl;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct slot *sl;

	while ((sl = next_job(w->srv)) != NULL) {
		void *bytes = NULL;
		size_t len = 0;
		int rc = execute(w->srv, w->db, sl->arena, sl->req, &bytes, &len);
		send_reply(sl, bytes, len, rc);
	}
	return NULL;
}

static void register_method_stats(struct tm_rpc_server *s)
{
	for (size_t i = 0; i < s->cfg.nmethods; i++) {
		const char *name = s->cfg.methods[i].name;
		s->mstats[i].calls = tm_stat_register("tm_rpc_requests_total", "RPC calls handled",
						      TM_STAT_COUNTER, "method", name);
		s->mstats[i].errors = tm_stat_register("tm_rpc_errors_total",
						       "RPC calls that failed with a 5xx",
						       TM_STAT_COUNTER, "method", name);
	}
}

static int slot_init(struct tm_rpc_server *s, struct slot *sl, char *err, size_t errlen)
{
	int rv;
	sl->srv = s;
	if ((rv = nng_ctx_open(&sl->ctx, s->sock)) != 0 ||
	    (rv = nng_aio_alloc(&sl->aio, slot_cb, sl)) != 0) {
		snprintf(err, errlen, "nng: %s", nng_strerror(rv));
		return -1;
	}
	if (!(sl->arena = tm_arena_new(RPC_ARENA_LIMIT))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Allocates everything; nothing runs yet. */
static int server_alloc(struct tm_rpc_server *s, char *err, size_t errlen)
{
	int rv;
	s->slots = calloc((size_t)s->nslots, sizeof(*s->slots));
	s->workers = calloc((size_t)s->nworkers, sizeof(*s->workers));
	s->mstats = calloc(s->cfg.nmethods + 1, sizeof(*s->mstats));
	if (!s->slots || !s->workers || !s->mstats) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	register_method_stats(s);
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		snprintf(err, errlen, "nng: %s", nng_strerror(rv));
		return -1;
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, RPC_RECV_MAX_BYTES);
	for (int i = 0; i < s->nslots; i++)
		if (slot_init(s, &s->slots[i], err, errlen) != 0)
			return -1;
	for (int i = 0; i < s->nworkers; i++) {
		s->workers[i].srv = s;
		if (tm_db_open(&s->workers[i].db, s->cfg.conninfo, s->cfg.schema, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* Frees what server_alloc made; the socket is closed and no callback runs. */
static void server_free(struct tm_rpc_server *s)
{
	for (int i = 0; s->slots && i < s->nslots; i++) {
		if (s->slots[i].aio)
			nng_aio_free(s->slots[i].aio);
		tm_arena_free(s->slots[i].arena);
	}
	for (int i = 0; s->workers && i < s->nworkers; i++)
		tm_db_close(s->workers[i].db);
	free(s->slots);
	free(s->workers);
	free(s->mstats);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Waits on cv (with m held) until signalled or deadline_ms (tm_mono_ms); in
 * steps of at most 100 ms, as the condition variable counts in CLOCK_REALTIME. */
static void wait_until(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline_ms)
{
	struct timespec ts;
	int64_t left = deadline_ms - tm_mono_ms();

	if (left <= 0)
		return;
	left = left < 100 ? left : 100;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(left * 1000000);
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(cv, m, &ts);
}

/* Says what the stop gives up on: the requests running and queued. */
static void log_given_up(struct tm_rpc_server *s)
{
	int running = 0, queued = 0;
	for (int i = 0; i < s->nslots; i++) {
		running += s->slots[i].state == S_WORK;
		queued += s->slots[i].state == S_QUEUED;
	}
	tm_warn("rpc: %d request(s) running and %d queued at the shutdown deadline; given up on "
		"(unanswered; their transactions roll back when the process exits)",
		running, queued);
}

/* Stops receiving, waits until every slot is idle (in-flight replies sent) or
 * deadline_ms passes, then lets the workers go. Joins `nthreads` of them and
 * returns 0 when every slot went idle; else returns -1 and joins none (the
 * busy ones may never return). */
static int drain_and_join(struct tm_rpc_server *s, int nthreads, int64_t deadline_ms)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	for (int i = 0; i < s->nslots; i++)
		if (s->slots[i].state == S_RECV)
			nng_aio_cancel(s->slots[i].aio);
	while (s->busy > 0 && tm_mono_ms() < deadline_ms)
		wait_until(&s->idle, &s->lock, deadline_ms);
	s->given_up = s->busy > 0; /* a later stop (tests) finds the workers done */
	if (s->given_up)
		log_given_up(s);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	if (s->given_up)
		return -1;
	for (int i = 0; i < nthreads; i++)
		pthread_join(s->workers[i].thread, NULL);
	return 0;
}

int tm_rpc_server_start(struct tm_rpc_server **out, const struct tm_rpc_server_config *cfg,
			char *err, size_t errlen)
{
	struct tm_rpc_server *s = calloc(1, sizeof(*s));
	int rv, started = 0;

	*out = NULL;
	if (!s)
		return -1;
	s->cfg = *cfg;
	s->nworkers = cfg->workers < 1		     ? 1 :
		      cfg->workers > RPC_WORKERS_MAX ? RPC_WORKERS_MAX :
						       cfg->workers;
	s->nslots = s->nworkers * RPC_SLOTS_PER_WORKER;
	s->started_mono_ms = tm_mono_ms();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	if (server_alloc(s, err, errlen) != 0)
		goto fail;
	if ((rv = nng_listen(s->sock, cfg->url, NULL, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->url, nng_strerror(rv));
		goto fail;
	}
	for (; started < s->nworkers; started++) {
		if (pthread_create(&s->workers[started].thread, NULL, worker_main,
				   &s->workers[started]) != 0) {
			snprintf(err, errlen, "cannot start RPC worker threads");
			goto fail;
		}
	}
	for (int i = 0; i < s->nslots; i++)
		arm_recv(&s->slots[i]);
	tm_info("rpc: serving on %s with %d contexts and %d workers", cfg->url, s->nslots,
		s->nworkers);
	*out = s;
	return 0;
fail:
	drain_and_join(s, started, INT64_MAX); /* nothing was received: no slot is busy */
	nng_close(s->sock);
	server_free(s);
	return -1;
}

int tm_rpc_server_stop(struct tm_rpc_server *s, int64_t deadline_ms)
{
	if (!s)
		return 0;
	int rc = drain_and_join(s, s->nworkers, deadline_ms);
	nng_close(s->sock); /* given up on: callers see the connection drop */
	if (rc != 0)
		return -1; /* workers still running use the slots and connections */
	server_free(s);
	tm_info("rpc: stopped");
	return 0;
}
