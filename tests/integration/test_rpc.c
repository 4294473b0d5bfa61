/*
 * The nng RPC server and client of common/ talking to each other over
 * 127.0.0.1 in one process, with a method table of the test's own and the
 * workers' connections on a real PostgreSQL (a schema "rpc_<random>" with the
 * common migrations and a table of the test). Each test gets a fresh server on
 * a free port and a client; the per-test teardown closes both on every path.
 * Requests and replies are taskmesh.test.v1.Leaf {name, level}.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "itest.h"
#include "taskmesh/test/v1/alltypes.pb-c.h"
#include "taskmesh/v1/envelope.pb-c.h"
#include "taskmesh/v1/ops.pb-c.h"
#include "tm/errors.h"
#include "tm/idempotency.h"
#include "tm/rpc_client.h"
#include "tm/rpc_server.h"

#define WORKERS 8	      /* server pool in these tests */
#define CALL_TIMEOUT_MS 10000 /* every call that should be answered */
#define STARTED_WAIT_MS 5000  /* a handler must have started within this */
#define IDEM_SLOW_MS 500      /* the first of two concurrent idempotent calls */
#define STOP_SLOW_MS 300      /* the call in flight while the server stops */
#define GIVE_UP_SLOW_MS 1500  /* a call still running at the stop's deadline ... */
#define GIVE_UP_AFTER_MS 300  /* ... which is this far off */
#define CONCURRENT_THREADS 8
#define CONCURRENT_PER_THREAD 25
#define CONCURRENT_CALLS (CONCURRENT_THREADS * CONCURRENT_PER_THREAD)
#define DEAD_PORT_TIMEOUT_MS 300 /* a call to a port nobody listens on */
#define LISTEN_ATTEMPTS 5	 /* free ports tried for the server */
#define USER_A "a0a0a0a0-0000-4000-8000-00000000000a"
#define USER_B "b0b0b0b0-0000-4000-8000-00000000000b"
#define LEAF_TYPE "taskmesh.test.v1.Leaf"

/* What the handlers did (the handlers run on the server's worker threads). */
struct counters {
	atomic_int echo, slow, fail, insert, create, retry;
	atomic_bool slow_started, slow_finished, create_started;
	atomic_bool custom_check_ok;
};

static struct counters cnt;

struct fixture {
	char url[64];
	struct tm_rpc_server *server;
	struct tm_rpc_client *client;
};

static struct fixture fx;
static char schema[ITEST_NAME_MAX];

/* ---- handlers -------------------------------------------------------------------------- */

/* A Leaf reply in the call's arena. */
static enum tm_code leaf_reply(struct tm_rpc_call *call, const char *name, int32_t level,
			       ProtobufCMessage **out)
{
	Taskmesh__Test__V1__Leaf *r = tm_arena_alloc(call->arena, sizeof(*r));
	if (!r)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	taskmesh__test__v1__leaf__init(r);
	r->name = tm_arena_strdup(call->arena, name);
	r->level = level;
	if (!r->name)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	*out = &r->base;
	return TM_OK;
}

/* Echo: the request back; level = milliseconds to sleep first. */
static enum tm_code echo(struct tm_rpc_call *call, const ProtobufCMessage *in,
			 ProtobufCMessage **out)
{
	const Taskmesh__Test__V1__Leaf *req = (const Taskmesh__Test__V1__Leaf *)in;
	atomic_fetch_add(&cnt.echo, 1);
	if (req->level > 0 && req->level < 100)
		tm_sleep_ms(req->level);
	return leaf_reply(call, req->name, req->level, out);
}

/* Slow: sleeps `level` ms, flagging start and end, then echoes. */
static enum tm_code slow(struct tm_rpc_call *call, const ProtobufCMessage *in,
			 ProtobufCMessage **out)
{
	const Taskmesh__Test__V1__Leaf *req = (const Taskmesh__Test__V1__Leaf *)in;
	atomic_fetch_add(&cnt.slow, 1);
	atomic_store(&cnt.slow_started, true);
	tm_sleep_ms(req->level);
	atomic_store(&cnt.slow_finished, true);
	return leaf_reply(call, req->name, req->level, out);
}

/* Fail: fails with the code `level`; VALIDATION_FAILED with two field errors. */
static enum tm_code fail_on_purpose(struct tm_rpc_call *call, const ProtobufCMessage *in,
				    ProtobufCMessage **out)
{
	const Taskmesh__Test__V1__Leaf *req = (const Taskmesh__Test__V1__Leaf *)in;
	atomic_fetch_add(&cnt.fail, 1);
	if (req->level == TM_E_VALIDATION_FAILED) {
		tm_rpc_field_error(call, "title", "must not be empty");
		return tm_rpc_field_error(call, "skills[0].level", "must be 1..%d", 5);
	}
	return tm_rpc_fail(call, (enum tm_code)req->level, "failed on purpose: %s", req->name);
}

/* Insert (TX): inserts `name`, then fails with code `level` unless it is 0. */
static enum tm_code insert(struct tm_rpc_call *call, const ProtobufCMessage *in,
			   ProtobufCMessage **out)
{
	const Taskmesh__Test__V1__Leaf *req = (const Taskmesh__Test__V1__Leaf *)in;
	atomic_fetch_add(&cnt.insert, 1);
	if (!tm_db_in_tx(call->db))
		return tm_rpc_fail(call, TM_E_INTERNAL, "not in a transaction");
	if (tm_db_exec(call->db, "INSERT INTO items (name) VALUES ($1)",
		       TM_PARAMS(TM_P_TEXT(req->name))) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	if (req->level != 0)
		return tm_rpc_fail(call, (enum tm_code)req->level, "refused after the insert");
	return leaf_reply(call, req->name, 0, out);
}

/*
 * Create (IDEMPOTENT): sleeps `level` ms, then by name: "invalid" -> a field
 * error, "taken" -> CONFLICT, "crash" -> INTERNAL; otherwise inserts a row and
 * answers 201 with the new row's id as name and the run count as level.
 */
static enum tm_code create(struct tm_rpc_call *call, const ProtobufCMessage *in,
			   ProtobufCMessage **out)
{
	const Taskmesh__Test__V1__Leaf *req = (const Taskmesh__Test__V1__Leaf *)in;
	int run = atomic_fetch_add(&cnt.create, 1) + 1;
	PGresult *r = NULL;

	atomic_store(&cnt.create_started, true);
	if (req->level > 0)
		tm_sleep_ms(req->level);
	if (strcmp(req->name, "invalid") == 0)
		return tm_rpc_field_error(call, "name", "must not be \"invalid\"");
	if (strcmp(req->name, "taken") == 0)
		return tm_rpc_fail(call, TM_E_CONFLICT, "the name is taken");
	if (strcmp(req->name, "crash") == 0)
		return tm_rpc_fail(call, TM_E_INTERNAL, "crashed on purpose");
	if (tm_db_one(call->db, &r, "INSERT INTO items (name, caller) VALUES ($1, $2) RETURNING id",
		      TM_PARAMS(TM_P_TEXT(req->name), TM_P_TEXT(call->user_id))) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	enum tm_code code = leaf_reply(call, PQgetvalue(r, 0, 0), run, out);
	PQclear(r);
	call->status = 201;
	return code;
}

/* Retry (TX): inserts `name`, then fails with a serialization failure (40001)
 * on its first `level` runs. */
static enum tm_code retry(struct tm_rpc_call *call, const ProtobufCMessage *in,
			  ProtobufCMessage **out)
{
	const Taskmesh__Test__V1__Leaf *req = (const Taskmesh__Test__V1__Leaf *)in;
	int run = atomic_fetch_add(&cnt.retry, 1) + 1;

	if (tm_db_exec(call->db, "INSERT INTO items (name) VALUES ($1)",
		       TM_PARAMS(TM_P_TEXT(req->name))) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	if (run <= req->level &&
	    tm_db_exec(call->db,
		       "DO $$ BEGIN RAISE EXCEPTION 'could not serialize (test)' "
		       "USING ERRCODE = '40001'; END $$",
		       NULL, 0) != TM_DB_OK)
		return tm_rpc_db_fail(call);
	return leaf_reply(call, req->name, run, out);
}

static const struct tm_rpc_method methods[] = {
	{"Echo", &taskmesh__test__v1__leaf__descriptor, &taskmesh__test__v1__leaf__descriptor, echo,
	 0},
	{"Slow", &taskmesh__test__v1__leaf__descriptor, &taskmesh__test__v1__leaf__descriptor, slow,
	 0},
	{"Fail", &taskmesh__test__v1__leaf__descriptor, &taskmesh__test__v1__leaf__descriptor,
	 fail_on_purpose, 0},
	{"Insert", &taskmesh__test__v1__leaf__descriptor, &taskmesh__test__v1__leaf__descriptor,
	 insert, TM_RPC_TX},
	{"Create", &taskmesh__test__v1__leaf__descriptor, &taskmesh__test__v1__leaf__descriptor,
	 create, TM_RPC_IDEMPOTENT},
	{"Retry", &taskmesh__test__v1__leaf__descriptor, &taskmesh__test__v1__leaf__descriptor,
	 retry, TM_RPC_TX},
};

static int ping_checks(void *state, Taskmesh__V1__HealthCheck *checks, struct tm_arena *a)
{
	checks[0].name = "custom";
	checks[0].ok = atomic_load(&cnt.custom_check_ok);
	checks[0].detail = checks[0].ok ? "" : "the custom check failed";
	return 1;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	char sql[256];

	if (itest_start() != 0)
		return -1;
	itest_name("rpc_", schema, sizeof(schema));
	itest_migrate_common(schema);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE \"%s\".items (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
		 "name text NOT NULL, caller text NOT NULL DEFAULT '')",
		 schema);
	itest_exec(itest.admin, sql, 0, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	itest_drop_schema(schema);
	return itest_stop();
}

/* Starts the fixture's server on fx.url. Returns 0, or -1 with the reason in err. */
static int server_start(char *err, size_t errlen)
{
	struct tm_rpc_server_config cfg = {
		.service = "itest",
		.url = fx.url,
		.conninfo = itest.stack.database_url,
		.schema = schema,
		.workers = WORKERS,
		.methods = methods,
		.nmethods = TM_ARRAY_LEN(methods),
		.ping_checks = ping_checks,
	};
	return tm_rpc_server_start(&fx.server, &cfg, err, errlen);
}

static int test_setup(void **state)
{
	char err[256], sql[256];

	memset(&fx, 0, sizeof(fx));
	atomic_store(&cnt.echo, 0);
	atomic_store(&cnt.slow, 0);
	atomic_store(&cnt.fail, 0);
	atomic_store(&cnt.insert, 0);
	atomic_store(&cnt.create, 0);
	atomic_store(&cnt.retry, 0);
	atomic_store(&cnt.slow_started, false);
	atomic_store(&cnt.slow_finished, false);
	atomic_store(&cnt.create_started, false);
	atomic_store(&cnt.custom_check_ok, true);
	snprintf(sql, sizeof(sql), "TRUNCATE \"%s\".items, \"%s\".idempotency_keys", schema,
		 schema);
	itest_exec(itest.admin, sql, 0, NULL);
	/* a port found free can be taken before we listen (tm_test_free_ports draws from
	 * 20000-49999, which overlaps Linux's ephemeral range 32768-60999): try another */
	for (int attempt = 0; !fx.server && attempt < LISTEN_ATTEMPTS; attempt++) {
		int port = tm_test_free_ports(1);
		if (port < 0)
			return -1;
		snprintf(fx.url, sizeof(fx.url), "tcp://127.0.0.1:%d", port);
		if (server_start(err, sizeof(err)) != 0)
			print_message("tm_rpc_server_start(%s): %s\n", fx.url, err);
	}
	if (!fx.server)
		return -1;
	if (tm_rpc_client_open(&fx.client, "itest", fx.url, err, sizeof(err)) != 0) {
		print_message("tm_rpc_client_open: %s\n", err);
		return -1;
	}
	return 0;
}

static int test_teardown(void **state)
{
	tm_rpc_client_close(fx.client);
	tm_rpc_server_stop(fx.server, tm_mono_ms() + 10000);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

/* ---- calls --------------------------------------------------------------------------------- */

/* A reply, copied out of protobuf-c so that a failing assert leaks nothing. */
struct reply {
	int rv; /* 0 or an nng error */
	int status;
	char code[40]; /* error.code, "" without an error */
	char message[256];
	int ndetails;
	char field[4][64], description[4][128];
	bool has_leaf; /* body decoded as a Leaf */
	char name[80];
	int level;
	uint8_t bytes[1024]; /* the RpcReply packed again: equal replies, equal bytes */
	size_t len;
	uint8_t body[1024];
	size_t body_len;
};

static void copy_reply(struct reply *out, int rv, const Taskmesh__V1__RpcReply *rep)
{
	memset(out, 0, sizeof(*out));
	out->rv = rv;
	if (rv != 0 || !rep)
		return;
	out->status = rep->status;
	if (rep->error) {
		snprintf(out->code, sizeof(out->code), "%s", rep->error->code);
		snprintf(out->message, sizeof(out->message), "%s", rep->error->message);
		out->ndetails = (int)rep->error->n_details;
		for (size_t i = 0; i < rep->error->n_details && i < 4; i++) {
			snprintf(out->field[i], sizeof(out->field[i]), "%s",
				 rep->error->details[i]->field);
			snprintf(out->description[i], sizeof(out->description[i]), "%s",
				 rep->error->details[i]->description);
		}
	}
	size_t len = taskmesh__v1__rpc_reply__get_packed_size(rep);
	if (len <= sizeof(out->bytes)) {
		out->len = len;
		taskmesh__v1__rpc_reply__pack(rep, out->bytes);
	}
	if (rep->body.len > 0 && rep->body.len <= sizeof(out->body)) {
		out->body_len = rep->body.len;
		memcpy(out->body, rep->body.data, rep->body.len);
	}
	if (rep->status < 400) {
		Taskmesh__Test__V1__Leaf *leaf =
			taskmesh__test__v1__leaf__unpack(NULL, rep->body.len, rep->body.data);
		if (leaf) {
			out->has_leaf = true;
			snprintf(out->name, sizeof(out->name), "%s", leaf->name);
			out->level = leaf->level;
			taskmesh__test__v1__leaf__free_unpacked(leaf, NULL);
		}
	}
}

struct call_spec {
	const char *method;
	const char *name;     /* Leaf.name */
	int level;	      /* Leaf.level */
	const void *raw_body; /* instead of the Leaf when set */
	size_t raw_len;
	const char *user; /* caller.user_id, NULL: anonymous */
	const char *key;  /* idempotency key, NULL: none */
	int64_t deadline_unix_ms;
};

/* Packs the request of a spec into req (body in buf). */
static void build_request(const struct call_spec *s, Taskmesh__V1__RpcRequest *req,
			  Taskmesh__V1__Caller *caller, uint8_t *buf, size_t buflen)
{
	Taskmesh__Test__V1__Leaf leaf = TASKMESH__TEST__V1__LEAF__INIT;

	taskmesh__v1__rpc_request__init(req);
	taskmesh__v1__caller__init(caller);
	req->method = (char *)s->method;
	req->request_id = "itest-request";
	req->deadline_unix_ms = s->deadline_unix_ms;
	if (s->user) {
		caller->user_id = (char *)s->user;
		caller->role = "client";
		req->caller = caller;
	}
	req->idempotency_key = (char *)(s->key ? s->key : "");
	if (s->raw_body) {
		assert_true(s->raw_len <= buflen);
		memcpy(buf, s->raw_body, s->raw_len);
		req->body.len = s->raw_len;
	} else {
		leaf.name = (char *)(s->name ? s->name : "");
		leaf.level = s->level;
		req->body.len = taskmesh__test__v1__leaf__get_packed_size(&leaf);
		assert_true(req->body.len <= buflen);
		taskmesh__test__v1__leaf__pack(&leaf, buf);
	}
	req->body.data = buf;
}

/* A blocking call through the fixture's client. */
static void call(const struct call_spec *s, struct reply *out)
{
	Taskmesh__V1__RpcRequest req;
	Taskmesh__V1__Caller caller;
	Taskmesh__V1__RpcReply *rep = NULL;
	uint8_t buf[512];

	build_request(s, &req, &caller, buf, sizeof(buf));
	int rv = tm_rpc_call_sync(fx.client, &req, CALL_TIMEOUT_MS, &rep);
	copy_reply(out, rv, rep);
	if (rep)
		taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);
}

/* One asynchronous call and its outcome. */
struct pending {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	struct reply reply;
};

static void pending_done(void *arg, int rv, const Taskmesh__V1__RpcReply *rep)
{
	struct pending *p = arg;
	pthread_mutex_lock(&p->lock);
	copy_reply(&p->reply, rv, rep);
	p->done = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void call_async(const struct call_spec *s, struct pending *p)
{
	Taskmesh__V1__RpcRequest req;
	Taskmesh__V1__Caller caller;
	uint8_t buf[512];

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->done = false;
	build_request(s, &req, &caller, buf, sizeof(buf));
	assert_int_equal(tm_rpc_call(fx.client, &req, CALL_TIMEOUT_MS, pending_done, p), 0);
}

/* Waits (bounded) for an asynchronous call. Returns false on timeout. */
static bool pending_wait(struct pending *p, int64_t timeout_ms)
{
	struct timespec until;
	bool done;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while (!p->done && pthread_cond_timedwait(&p->cond, &p->lock, &until) == 0)
		;
	done = p->done;
	pthread_mutex_unlock(&p->lock);
	return done;
}

static void pending_destroy(struct pending *p)
{
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

static bool flag_set(void *arg)
{
	return atomic_load((atomic_bool *)arg);
}

static void wait_flag(atomic_bool *flag, const char *what)
{
	if (itest_wait(flag_set, flag, STARTED_WAIT_MS) < 0)
		fail_msg("%s did not happen within %d ms", what, STARTED_WAIT_MS);
}

static int64_t items_named(const char *name)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".items WHERE name = $1", schema);
	return itest_int(itest.admin, sql, 1, ITEST_PARAMS(name));
}

static int64_t items_total(void)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".items", schema);
	return itest_int(itest.admin, sql, 0, NULL);
}

/* ---- built-in methods --------------------------------------------------------------------- */

/* A built-in method's reply body (PingReply, StatsReply), unpacked; caller frees. */
static Taskmesh__V1__RpcReply *call_builtin(const char *method)
{
	Taskmesh__V1__RpcRequest req = TASKMESH__V1__RPC_REQUEST__INIT;
	Taskmesh__V1__RpcReply *rep = NULL;

	req.method = (char *)method;
	req.request_id = "itest-builtin";
	assert_int_equal(tm_rpc_call_sync(fx.client, &req, CALL_TIMEOUT_MS, &rep), 0);
	assert_non_null(rep);
	return rep;
}

static void test_ping_reports_ready_with_service_version_and_every_check(void **state)
{
	Taskmesh__V1__RpcReply *rep = call_builtin("Ping");
	int status = rep->status;
	Taskmesh__V1__PingReply *ping =
		taskmesh__v1__ping_reply__unpack(NULL, rep->body.len, rep->body.data);
	taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);

	assert_int_equal(status, 200);
	assert_non_null(ping);
	assert_string_equal(ping->service, "itest");
	/* the version compiled into common/rpc_server.o (not this file: an incremental
	 * build keeps an older `git describe` there) */
	assert_true(strlen(ping->version) > 0);
	assert_true(ping->ready);
	assert_in_range(ping->uptime_seconds, 0, 60);
	assert_int_equal(ping->n_checks, 3);
	assert_string_equal(ping->checks[0]->name, "database");
	assert_true(ping->checks[0]->ok);
	assert_string_equal(ping->checks[1]->name, "kafka");
	assert_true(ping->checks[1]->ok);
	assert_string_equal(ping->checks[2]->name, "custom");
	assert_true(ping->checks[2]->ok);
	taskmesh__v1__ping_reply__free_unpacked(ping, NULL);
}

static void test_ping_is_not_ready_when_a_service_check_fails(void **state)
{
	atomic_store(&cnt.custom_check_ok, false);
	Taskmesh__V1__RpcReply *rep = call_builtin("Ping");
	Taskmesh__V1__PingReply *ping =
		taskmesh__v1__ping_reply__unpack(NULL, rep->body.len, rep->body.data);
	int status = rep->status;
	taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);

	assert_int_equal(status, 200);
	assert_non_null(ping);
	assert_false(ping->ready);
	assert_int_equal(ping->n_checks, 3);
	assert_true(ping->checks[0]->ok);
	assert_false(ping->checks[2]->ok);
	assert_string_equal(ping->checks[2]->detail, "the custom check failed");
	taskmesh__v1__ping_reply__free_unpacked(ping, NULL);
}

/* The value of metric `name` with label method=`method` (-1 when absent). */
static double metric(const char *name, const char *method)
{
	Taskmesh__V1__RpcReply *rep = call_builtin("Stats");
	Taskmesh__V1__StatsReply *stats =
		taskmesh__v1__stats_reply__unpack(NULL, rep->body.len, rep->body.data);
	int status = rep->status;
	double v = -1;

	taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);
	assert_int_equal(status, 200);
	assert_non_null(stats);
	bool service_ok = strcmp(stats->service, "itest") == 0;
	for (size_t i = 0; i < stats->n_metrics; i++) {
		const Taskmesh__V1__Metric *m = stats->metrics[i];
		if (strcmp(m->name, name) == 0 && m->n_labels == 1 &&
		    strcmp(m->labels[0]->name, "method") == 0 &&
		    strcmp(m->labels[0]->value, method) == 0 &&
		    m->type == TASKMESH__V1__METRIC_TYPE__METRIC_TYPE_COUNTER)
			v = m->value;
	}
	taskmesh__v1__stats_reply__free_unpacked(stats, NULL);
	assert_true(service_ok);
	return v;
}

static void test_stats_counts_requests_and_5xx_errors_per_method(void **state)
{
	struct reply r;
	double echo_before = metric("tm_rpc_requests_total", "Echo");
	double fail_before = metric("tm_rpc_requests_total", "Fail");
	double err_before = metric("tm_rpc_errors_total", "Fail");

	/* registered at server start: present (0 or more) before any call */
	assert_true(echo_before >= 0 && fail_before >= 0 && err_before >= 0);
	for (int i = 0; i < 3; i++) {
		call(&(struct call_spec){.method = "Echo", .name = "x"}, &r);
		assert_int_equal(r.status, 200);
	}
	call(&(struct call_spec){.method = "Fail", .level = TM_E_INTERNAL}, &r);
	assert_int_equal(r.status, 500);
	call(&(struct call_spec){.method = "Fail", .level = TM_E_NOT_FOUND}, &r);
	assert_int_equal(r.status, 404);

	assert_true(metric("tm_rpc_requests_total", "Echo") == echo_before + 3);
	assert_true(metric("tm_rpc_requests_total", "Fail") == fail_before + 2);
	assert_true(metric("tm_rpc_errors_total", "Fail") == err_before + 1); /* 5xx only */
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_unknown_method_is_404_not_found(void **state)
{
	struct reply r;

	call(&(struct call_spec){.method = "NoSuchMethod", .name = "x"}, &r);
	assert_int_equal(r.rv, 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.code, "NOT_FOUND");
	assert_string_equal(r.message, "unknown method NoSuchMethod");
	assert_int_equal(r.body_len, 0);
}

static void test_passed_deadline_is_503_without_running_the_handler(void **state)
{
	struct reply r;

	call(&(struct call_spec){.method = "Echo",
				 .name = "late",
				 .deadline_unix_ms = tm_now_ms() - 1000},
	     &r);
	assert_int_equal(r.rv, 0);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.code, "SERVICE_UNAVAILABLE");
	assert_string_equal(r.message, "the deadline passed before Echo started");
	assert_int_equal(atomic_load(&cnt.echo), 0);

	/* a deadline still ahead runs */
	call(&(struct call_spec){.method = "Echo",
				 .name = "in time",
				 .deadline_unix_ms = tm_now_ms() + 5000},
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.name, "in time");
	assert_int_equal(atomic_load(&cnt.echo), 1);
}

static void test_field_errors_are_400_validation_failed_with_details(void **state)
{
	struct reply r;

	call(&(struct call_spec){.method = "Fail", .level = TM_E_VALIDATION_FAILED}, &r);
	assert_int_equal(r.rv, 0);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "VALIDATION_FAILED");
	assert_string_equal(r.message, "title: must not be empty");
	assert_int_equal(r.ndetails, 2);
	assert_string_equal(r.field[0], "title");
	assert_string_equal(r.description[0], "must not be empty");
	assert_string_equal(r.field[1], "skills[0].level");
	assert_string_equal(r.description[1], "must be 1..5");
	assert_int_equal(r.body_len, 0);
}

static void test_each_error_code_answers_its_status_and_name(void **state)
{
	static const struct {
		enum tm_code code;
		const char *name;
		int status;
	} want[] = {
		{TM_E_UNAUTHENTICATED, "UNAUTHENTICATED", 401},
		{TM_E_FORBIDDEN, "FORBIDDEN", 403},
		{TM_E_NOT_FOUND, "NOT_FOUND", 404},
		{TM_E_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 405},
		{TM_E_CONFLICT, "CONFLICT", 409},
		{TM_E_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", 413},
		{TM_E_URI_TOO_LONG, "URI_TOO_LONG", 414},
		{TM_E_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", 415},
		{TM_E_IDEMPOTENCY_KEY_REUSED, "IDEMPOTENCY_KEY_REUSED", 422},
		{TM_E_RATE_LIMITED, "RATE_LIMITED", 429},
		{TM_E_HEADERS_TOO_LARGE, "HEADERS_TOO_LARGE", 431},
		{TM_E_INTERNAL, "INTERNAL", 500},
		{TM_E_UPSTREAM_FAILED, "UPSTREAM_FAILED", 502},
		{TM_E_SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", 503},
	};
	struct reply r;

	for (size_t i = 0; i < TM_ARRAY_LEN(want); i++) {
		call(&(struct call_spec){.method = "Fail",
					 .name = want[i].name,
					 .level = (int)want[i].code},
		     &r);
		assert_int_equal(r.rv, 0);
		assert_int_equal(r.status, want[i].status);
		assert_string_equal(r.code, want[i].name);
		char msg[128];
		snprintf(msg, sizeof(msg), "failed on purpose: %s", want[i].name);
		assert_string_equal(r.message, msg);
		assert_int_equal(r.ndetails, 0);
	}
	assert_int_equal(atomic_load(&cnt.fail), (int)TM_ARRAY_LEN(want));
}

static void test_body_that_is_not_the_request_message_is_400_without_running_it(void **state)
{
	static const uint8_t junk[] = {0x0a, 0x7f, 0x01}; /* field 1: 127 bytes, 1 given */
	struct reply r;

	call(&(struct call_spec){.method = "Echo", .raw_body = junk, .raw_len = sizeof(junk)}, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "VALIDATION_FAILED");
	assert_string_equal(r.message, "the request body is not a " LEAF_TYPE);
	assert_int_equal(atomic_load(&cnt.echo), 0);
}

static void test_malformed_request_envelope_is_400(void **state)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff};
	struct tm_db *db = itest_connect(schema);
	void *bytes = NULL;
	size_t len = 0;

	int rc = tm_rpc_server_handle(fx.server, db, junk, sizeof(junk), &bytes, &len);
	tm_db_close(db);
	assert_int_equal(rc, 0);
	assert_non_null(bytes);
	Taskmesh__V1__RpcReply *rep = taskmesh__v1__rpc_reply__unpack(NULL, len, bytes);
	free(bytes);
	struct reply r;
	copy_reply(&r, 0, rep);
	if (rep)
		taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "VALIDATION_FAILED");
	assert_string_equal(r.message, "malformed RpcRequest");
}

/* ---- concurrency and transport ----------------------------------------------------------------- */

struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	struct slot {
		char sent[64]; /* the unique name sent */
		int rv, status;
		char got[64]; /* the name that came back */
	} slots[CONCURRENT_CALLS];
	pthread_barrier_t go;
	int start_errors;
};

static struct batch batch;

struct batch_arg {
	int thread;
};

static void batch_done(void *arg, int rv, const Taskmesh__V1__RpcReply *rep)
{
	struct slot *s = arg;
	s->rv = rv;
	if (rv == 0) {
		s->status = rep->status;
		Taskmesh__Test__V1__Leaf *leaf =
			taskmesh__test__v1__leaf__unpack(NULL, rep->body.len, rep->body.data);
		if (leaf) {
			snprintf(s->got, sizeof(s->got), "%s", leaf->name);
			taskmesh__test__v1__leaf__free_unpacked(leaf, NULL);
		}
	}
	pthread_mutex_lock(&batch.lock);
	batch.done++;
	pthread_cond_broadcast(&batch.cond);
	pthread_mutex_unlock(&batch.lock);
}

/* Starts CONCURRENT_PER_THREAD calls without waiting for any (no cmocka here). */
static void *batch_thread(void *arg)
{
	int t = ((struct batch_arg *)arg)->thread;

	pthread_barrier_wait(&batch.go);
	for (int i = 0; i < CONCURRENT_PER_THREAD; i++) {
		struct slot *s = &batch.slots[t * CONCURRENT_PER_THREAD + i];
		Taskmesh__V1__RpcRequest req = TASKMESH__V1__RPC_REQUEST__INIT;
		Taskmesh__Test__V1__Leaf leaf = TASKMESH__TEST__V1__LEAF__INIT;
		uint8_t buf[128];
		unsigned char rnd[4] = {0};

		tm_random_bytes(rnd, sizeof(rnd));
		snprintf(s->sent, sizeof(s->sent), "t%d-c%d-%02x%02x%02x%02x", t, i, rnd[0], rnd[1],
			 rnd[2], rnd[3]);
		leaf.name = s->sent;
		leaf.level = (t + i) % 5; /* ms the handler sleeps: replies finish out of order */
		req.method = "Echo";
		req.request_id = s->sent;
		req.body.len = taskmesh__test__v1__leaf__pack(&leaf, buf);
		req.body.data = buf;
		if (tm_rpc_call(fx.client, &req, CALL_TIMEOUT_MS, batch_done, s) != 0) {
			pthread_mutex_lock(&batch.lock);
			batch.start_errors++;
			pthread_mutex_unlock(&batch.lock);
		}
	}
	return NULL;
}

static void test_200_concurrent_calls_from_8_threads_each_get_their_own_reply(void **state)
{
	pthread_t threads[CONCURRENT_THREADS];
	struct batch_arg args[CONCURRENT_THREADS];
	struct timespec until;

	memset(&batch, 0, sizeof(batch));
	pthread_mutex_init(&batch.lock, NULL);
	pthread_cond_init(&batch.cond, NULL);
	pthread_barrier_init(&batch.go, NULL, CONCURRENT_THREADS);
	int64_t t0 = tm_mono_ms();
	for (int t = 0; t < CONCURRENT_THREADS; t++) {
		args[t].thread = t;
		assert_int_equal(pthread_create(&threads[t], NULL, batch_thread, &args[t]), 0);
	}
	for (int t = 0; t < CONCURRENT_THREADS; t++)
		pthread_join(threads[t], NULL);

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CALL_TIMEOUT_MS / 1000 + 5;
	pthread_mutex_lock(&batch.lock);
	while (batch.done < CONCURRENT_CALLS &&
	       pthread_cond_timedwait(&batch.cond, &batch.lock, &until) == 0)
		;
	int done = batch.done;
	pthread_mutex_unlock(&batch.lock);
	print_message("%d calls answered in %lld ms\n", done, (long long)(tm_mono_ms() - t0));

	assert_int_equal(batch.start_errors, 0);
	assert_int_equal(done, CONCURRENT_CALLS);
	for (int i = 0; i < CONCURRENT_CALLS; i++) {
		assert_int_equal(batch.slots[i].rv, 0);
		assert_int_equal(batch.slots[i].status, 200);
		assert_string_equal(batch.slots[i].got, batch.slots[i].sent);
	}
	assert_int_equal(atomic_load(&cnt.echo), CONCURRENT_CALLS);
	pthread_barrier_destroy(&batch.go);
	pthread_cond_destroy(&batch.cond);
	pthread_mutex_destroy(&batch.lock);
}

static void test_call_to_a_port_nobody_listens_on_times_out_within_its_deadline(void **state)
{
	char url[64], err[256];
	struct tm_rpc_client *c = NULL;
	Taskmesh__V1__RpcRequest req = TASKMESH__V1__RPC_REQUEST__INIT;
	Taskmesh__V1__RpcReply *rep = NULL;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tm_test_free_ports(1));
	assert_int_equal(tm_rpc_client_open(&c, "nobody", url, err, sizeof(err)), 0);
	req.method = "Echo";
	int64_t t0 = tm_mono_ms();
	int rv = tm_rpc_call_sync(c, &req, DEAD_PORT_TIMEOUT_MS, &rep);
	int64_t took = tm_mono_ms() - t0;
	tm_rpc_client_close(c);
	if (rep)
		taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);

	print_message("failed with %s after %lld ms\n", nng_strerror(rv), (long long)took);
	assert_int_equal(rv, NNG_ETIMEDOUT);
	assert_null(rep);
	assert_in_range(took, DEAD_PORT_TIMEOUT_MS - 20, DEAD_PORT_TIMEOUT_MS + 500);
}

static void test_client_close_fails_an_in_flight_call_with_eclosed(void **state)
{
	struct pending p;

	call_async(&(struct call_spec){.method = "Slow", .name = "cut", .level = 500}, &p);
	wait_flag(&cnt.slow_started, "the Slow handler start");
	tm_rpc_client_close(fx.client);
	fx.client = NULL;
	/* close waits for the callbacks: it has run */
	pthread_mutex_lock(&p.lock);
	bool done = p.done;
	int rv = p.reply.rv;
	pthread_mutex_unlock(&p.lock);
	pending_destroy(&p);
	print_message("in-flight call failed with %s\n", nng_strerror(rv));
	assert_true(done);
	/* rpc_client.h promises NNG_ECLOSED; nng's REQ fails a request already sent with
	 * NNG_ECONNRESET when its pipe closes first (no resend time set) */
	assert_true(rv == NNG_ECLOSED || rv == NNG_ECONNRESET);
}

static void test_server_stop_lets_the_in_flight_call_finish_and_answer(void **state)
{
	struct pending p;

	call_async(&(struct call_spec){.method = "Slow", .name = "last one", .level = STOP_SLOW_MS},
		   &p);
	wait_flag(&cnt.slow_started, "the Slow handler start");
	int64_t t0 = tm_mono_ms();
	tm_rpc_server_stop(fx.server, tm_mono_ms() + 10000);
	fx.server = NULL;
	int64_t stop_ms = tm_mono_ms() - t0;
	bool finished_before_stop_returned = atomic_load(&cnt.slow_finished);
	bool answered = pending_wait(&p, 5000);
	struct reply r = p.reply;
	pending_destroy(&p);

	print_message("stop returned after %lld ms\n", (long long)stop_ms);
	assert_true(finished_before_stop_returned);
	assert_true(stop_ms >= STOP_SLOW_MS / 2);
	assert_true(answered);
	assert_int_equal(r.rv, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.name, "last one");
}

/* A handler still running at the stop's deadline is given up on: the stop
 * returns -1 at the deadline without waiting for it, the caller's connection
 * drops (no reply), and a later stop, once the handler is done, frees it all. */
static void test_server_stop_gives_up_at_the_deadline_on_a_call_still_running(void **state)
{
	struct pending p;

	call_async(&(struct call_spec){.method = "Slow", .name = "late", .level = GIVE_UP_SLOW_MS},
		   &p);
	wait_flag(&cnt.slow_started, "the Slow handler start");
	int64_t t0 = tm_mono_ms();
	int rc = tm_rpc_server_stop(fx.server, t0 + GIVE_UP_AFTER_MS);
	int64_t stop_ms = tm_mono_ms() - t0;
	bool finished_before_stop_returned = atomic_load(&cnt.slow_finished);
	bool failed = pending_wait(&p, 1000);
	struct reply r = p.reply;
	pending_destroy(&p);
	wait_flag(&cnt.slow_finished, "the Slow handler end");
	int rc_later = tm_rpc_server_stop(fx.server, tm_mono_ms() + 2000);
	fx.server = NULL;

	print_message("stop gave up after %lld ms; the call failed with %s\n", (long long)stop_ms,
		      nng_strerror(r.rv));
	assert_int_equal(rc, -1);
	assert_in_range(stop_ms, GIVE_UP_AFTER_MS - 10, GIVE_UP_AFTER_MS + 300);
	assert_false(finished_before_stop_returned);
	assert_true(failed); /* within a second of the stop, long before the handler ended */
	assert_int_not_equal(r.rv, 0);
	assert_int_equal(rc_later, 0);
}

/* ---- transactions ------------------------------------------------------------------------------- */

static void test_tx_handler_error_rolls_back_its_insert(void **state)
{
	struct reply r;

	call(&(struct call_spec){.method = "Insert", .name = "rolled back", .level = TM_E_CONFLICT},
	     &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(r.message, "refused after the insert");
	assert_int_equal(items_named("rolled back"), 0);

	call(&(struct call_spec){.method = "Insert", .name = "kept"}, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.name, "kept");
	assert_int_equal(items_named("kept"), 1);
	assert_int_equal(items_total(), 1);
	assert_int_equal(atomic_load(&cnt.insert), 2);
}

/* ---- idempotency keys ---------------------------------------------------------------------------- */

static void test_idempotent_same_key_and_body_replays_the_first_reply_and_runs_once(void **state)
{
	struct reply first, again;
	char text[256], sql[256];
	struct call_spec spec = {
		.method = "Create", .name = "project x", .user = USER_A, .key = "key-same"};

	call(&spec, &first);
	call(&spec, &again);
	assert_int_equal(first.status, 201);
	assert_true(first.has_leaf);
	assert_true(tm_uuid_valid(first.name));
	assert_int_equal(again.status, 201);
	assert_int_equal(again.len, first.len);
	assert_memory_equal(again.bytes, first.bytes, first.len);
	assert_int_equal(atomic_load(&cnt.create), 1);
	assert_int_equal(items_named("project x"), 1);
	snprintf(sql, sizeof(sql),
		 "SELECT caller_id || '|' || method || '|' || key || '|' || state FROM "
		 "\"%s\".idempotency_keys",
		 schema);
	itest_text(itest.admin, text, sizeof(text), sql, 0, NULL);
	assert_string_equal(text, USER_A "|Create|key-same|done");
}

static void test_idempotent_same_key_other_body_is_422_key_reused(void **state)
{
	struct reply first, other;

	call(&(struct call_spec){.method = "Create",
				 .name = "body one",
				 .user = USER_A,
				 .key = "key-reused"},
	     &first);
	call(&(struct call_spec){.method = "Create",
				 .name = "body two",
				 .user = USER_A,
				 .key = "key-reused"},
	     &other);
	assert_int_equal(first.status, 201);
	assert_int_equal(other.status, 422);
	assert_string_equal(other.code, "IDEMPOTENCY_KEY_REUSED");
	assert_int_equal(atomic_load(&cnt.create), 1);
	assert_int_equal(items_named("body one"), 1);
	assert_int_equal(items_named("body two"), 0);
}

static void test_idempotent_same_key_while_the_first_runs_is_409_conflict(void **state)
{
	struct pending p;
	struct reply second;
	struct call_spec spec = {.method = "Create",
				 .name = "slow one",
				 .level = IDEM_SLOW_MS,
				 .user = USER_A,
				 .key = "key-busy"};

	call_async(&spec, &p);
	wait_flag(&cnt.create_started, "the first Create's handler start");
	call(&spec, &second);
	bool answered = pending_wait(&p, CALL_TIMEOUT_MS);
	struct reply first = p.reply;
	pending_destroy(&p);

	assert_int_equal(second.status, 409);
	assert_string_equal(second.code, "CONFLICT");
	assert_string_equal(second.message, "a request with this Idempotency-Key is in progress");
	assert_true(answered);
	assert_int_equal(first.status, 201);
	assert_int_equal(atomic_load(&cnt.create), 1);
	assert_int_equal(items_named("slow one"), 1);
}

static void test_idempotent_validation_failure_releases_the_key_for_a_fixed_retry(void **state)
{
	struct reply bad, fixed, again;

	call(
		&(struct call_spec){
			.method = "Create", .name = "invalid", .user = USER_A, .key = "key-retry"},
		&bad);
	assert_int_equal(bad.status, 400);
	assert_string_equal(bad.code, "VALIDATION_FAILED");
	assert_int_equal(bad.ndetails, 1);
	assert_string_equal(bad.field[0], "name");

	call(&(struct call_spec){.method = "Create",
				 .name = "valid now",
				 .user = USER_A,
				 .key = "key-retry"},
	     &fixed);
	assert_int_equal(fixed.status, 201);
	assert_int_equal(atomic_load(&cnt.create), 2);
	assert_int_equal(items_named("valid now"), 1);

	/* from now on the key belongs to the fixed request */
	call(&(struct call_spec){.method = "Create",
				 .name = "valid now",
				 .user = USER_A,
				 .key = "key-retry"},
	     &again);
	assert_int_equal(again.status, 201);
	assert_string_equal(again.name, fixed.name);
	assert_int_equal(atomic_load(&cnt.create), 2);
}

static void test_idempotent_keys_are_per_caller(void **state)
{
	struct reply a, b, a_again;
	struct call_spec spec = {.method = "Create", .name = "shared body", .key = "key-shared"};

	spec.user = USER_A;
	call(&spec, &a);
	spec.user = USER_B;
	call(&spec, &b);
	spec.user = USER_A;
	call(&spec, &a_again);

	assert_int_equal(a.status, 201);
	assert_int_equal(b.status, 201);
	assert_string_not_equal(a.name, b.name);
	assert_string_equal(a_again.name, a.name);
	assert_int_equal(atomic_load(&cnt.create), 2);
	assert_int_equal(items_named("shared body"), 2);
}

static void test_idempotent_completed_refusal_is_replayed_and_5xx_is_retried(void **state)
{
	struct reply taken, taken_again, crash, crash_again;

	call(
		&(struct call_spec){
			.method = "Create", .name = "taken", .user = USER_A, .key = "key-taken"},
		&taken);
	call(
		&(struct call_spec){
			.method = "Create", .name = "taken", .user = USER_A, .key = "key-taken"},
		&taken_again);
	assert_int_equal(taken.status, 409);
	assert_string_equal(taken.message, "the name is taken");
	assert_int_equal(taken_again.len, taken.len);
	assert_memory_equal(taken_again.bytes, taken.bytes, taken.len);
	assert_int_equal(atomic_load(&cnt.create), 1);

	call(
		&(struct call_spec){
			.method = "Create", .name = "crash", .user = USER_A, .key = "key-crash"},
		&crash);
	call(
		&(struct call_spec){
			.method = "Create", .name = "crash", .user = USER_A, .key = "key-crash"},
		&crash_again);
	assert_int_equal(crash.status, 500);
	assert_int_equal(crash_again.status, 500);
	assert_int_equal(atomic_load(&cnt.create), 3); /* the 5xx released the key */
	assert_int_equal(items_total(), 0);
}

static void test_idempotent_method_without_a_key_runs_every_time(void **state)
{
	struct reply first, second;
	struct call_spec spec = {.method = "Create", .name = "no key", .user = USER_A};

	call(&spec, &first);
	call(&spec, &second);
	assert_int_equal(first.status, 201);
	assert_int_equal(second.status, 201);
	assert_string_not_equal(first.name, second.name);
	assert_int_equal(atomic_load(&cnt.create), 2);
	assert_int_equal(items_named("no key"), 2);
}

#define RPC_TX_ATTEMPTS 3 /* common/rpc_server.c: serialization failures are retried */

static void test_tx_serialization_failure_is_retried_in_a_new_transaction(void **state)
{
	struct reply once, always;

	call(&(struct call_spec){.method = "Retry", .name = "second try", .level = 1}, &once);
	assert_int_equal(once.status, 200);
	assert_int_equal(once.level, 2);
	assert_int_equal(items_named("second try"), 1); /* the first attempt's insert rolled back */

	atomic_store(&cnt.retry, 0);
	call(&(struct call_spec){.method = "Retry", .name = "never", .level = 100}, &always);
	assert_int_equal(atomic_load(&cnt.retry), RPC_TX_ATTEMPTS);
	/* the handler's own answer after the last attempt (it reported the database error) */
	assert_int_equal(always.status, 500);
	assert_string_equal(always.code, "INTERNAL");
	assert_int_equal(items_named("never"), 0);
}

static void test_idempotent_abandoned_claim_is_taken_over_and_a_live_one_is_409(void **state)
{
	char sql[400];
	struct reply live, abandoned;

	/* a claim whose worker died (its lock expired) and one still held */
	snprintf(
		sql, sizeof(sql),
		"INSERT INTO \"%s\".idempotency_keys (caller_id, method, key, request_hash, state, "
		"locked_until) VALUES ($1, 'Create', $2, $3, 'in_progress', now() + $4::interval)",
		schema);
	struct tm_idem k;
	Taskmesh__Test__V1__Leaf leaf = TASKMESH__TEST__V1__LEAF__INIT;
	uint8_t body[64];
	leaf.name = "orphan";
	size_t len = taskmesh__test__v1__leaf__pack(&leaf, body);
	tm_idem_init(&k, USER_A, "Create", "key-orphan", body, len);
	itest_exec(itest.admin, sql, 4, ITEST_PARAMS(USER_A, "key-live", k.hash, "60 seconds"));
	itest_exec(itest.admin, sql, 4, ITEST_PARAMS(USER_A, "key-orphan", k.hash, "-1 seconds"));

	call(
		&(struct call_spec){
			.method = "Create", .name = "orphan", .user = USER_A, .key = "key-live"},
		&live);
	assert_int_equal(live.status, 409);
	assert_string_equal(live.code, "CONFLICT");
	call(
		&(struct call_spec){
			.method = "Create", .name = "orphan", .user = USER_A, .key = "key-orphan"},
		&abandoned);
	assert_int_equal(abandoned.status, 201);
	assert_int_equal(atomic_load(&cnt.create), 1);
	assert_int_equal(items_named("orphan"), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
	const struct CMUnitTest tests[] = {
		T(test_ping_reports_ready_with_service_version_and_every_check),
		T(test_ping_is_not_ready_when_a_service_check_fails),
		T(test_stats_counts_requests_and_5xx_errors_per_method),
		T(test_unknown_method_is_404_not_found),
		T(test_passed_deadline_is_503_without_running_the_handler),
		T(test_field_errors_are_400_validation_failed_with_details),
		T(test_each_error_code_answers_its_status_and_name),
		T(test_body_that_is_not_the_request_message_is_400_without_running_it),
		T(test_malformed_request_envelope_is_400),
		T(test_200_concurrent_calls_from_8_threads_each_get_their_own_reply),
		T(test_call_to_a_port_nobody_listens_on_times_out_within_its_deadline),
		T(test_client_close_fails_an_in_flight_call_with_eclosed),
		T(test_server_stop_lets_the_in_flight_call_finish_and_answer),
		T(test_server_stop_gives_up_at_the_deadline_on_a_call_still_running),
		T(test_tx_handler_error_rolls_back_its_insert),
		T(test_tx_serialization_failure_is_retried_in_a_new_transaction),
		T(test_idempotent_same_key_and_body_replays_the_first_reply_and_runs_once),
		T(test_idempotent_same_key_other_body_is_422_key_reused),
		T(test_idempotent_same_key_while_the_first_runs_is_409_conflict),
		T(test_idempotent_validation_failure_releases_the_key_for_a_fixed_retry),
		T(test_idempotent_keys_are_per_caller),
		T(test_idempotent_completed_refusal_is_replayed_and_5xx_is_retried),
		T(test_idempotent_method_without_a_key_runs_every_time),
		T(test_idempotent_abandoned_claim_is_taken_over_and_a_live_one_is_409),
	};
#undef T
	itest_filter();
	return cmocka_run_group_tests_name("rpc", tests, group_setup, group_teardown);
}
