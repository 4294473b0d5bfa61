/*
 * The reliability patterns of every service against a real PostgreSQL and
 * tm-devkafka: the transactional outbox and its relay, the inbox, and the
 * consumer loop that dedupes through it. Each test has its own schema
 * ("obx_<random>", common migrations only) and its own topic (3 partitions),
 * so no test sees another's rows or records. Relays, consumer loops and Kafka
 * clients live in the fixture and are stopped by the per-test teardown on
 * every path; a broker taken down is brought up again there too.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "itest.h"
#include "taskmesh/v1/envelope.pb-c.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/consumer.h"
#include "tm/inbox.h"
#include "tm/outbox.h"
#include "tm/service.h"
#include "tm/stats.h"

#define WAIT_MS 30000		     /* bound of every wait for Kafka or the relay */
#define QUIET_MS 1000		     /* "no further record" is watched this long */
#define RELAY_IDLE_POLL_MS 200	     /* relay wake-up without a NOTIFY */
#define RELAY_DELIVERY_MS 5000	     /* relay message.timeout.ms, broker up */
#define RELAY_FAULT_DELIVERY_MS 1000 /* relay message.timeout.ms while the broker is down */
#define CLAIM_BLOCK_MS 300	     /* how long a concurrent claim is held waiting */
#define ORDER_EVENTS 20
#define ORDER_BATCH 5 /* relay batch_max: the 20 events take four rounds */
#define RECORDS_MAX 32
#define SOURCE "tm-itest"
#define PROJECT_TYPE "taskmesh.v1.ProjectCreated"

/* One record as a test consumer saw it. */
struct rec {
	int32_t partition;
	int64_t offset;
	char key[80];
	bool has_value;
	uint8_t value[2048];
	size_t len;
	char ce_specversion[16], ce_id[48], ce_type[80], ce_source[48], ce_subject[80], ce_time[48],
		content_type[48];
};

/* A second connection claiming an event id in a thread. */
struct claimer {
	struct tm_db *db;
	char event_id[TM_UUID_LEN + 1];
	pthread_t thread;
	bool started;
	atomic_int rc; /* tm_inbox_claim's result; 99 until it returned */
	atomic_bool done;
	int64_t blocked_ms; /* how long tm_inbox_claim took */
};

struct fixture {
	char schema[ITEST_NAME_MAX];
	char topic[ITEST_NAME_MAX];
	char service[ITEST_NAME_MAX]; /* consumer loop: group "tm-<service>" */
	struct tm_db *db;	      /* search_path = schema */
	struct tm_outbox_relay *relay;
	struct tm_consumer_loop *loop;
	rd_kafka_t *consumer; /* a plain group consumer of the topic */
	rd_kafka_t *producer; /* a plain idempotent producer */
	bool broker_down;
	bool faults_set; /* broker-rtt / push-errors to undo in teardown */
	struct claimer claimer;
	struct rec recs[RECORDS_MAX];
};

static struct fixture fx;

/* ---- handlers of the consumer loop ------------------------------------------------- */

/* What the handler does is chosen by the event's title:
 *   "ok..."     insert the effect, succeed
 *   "flaky..."  insert the effect, fail the first two attempts, then succeed
 *   "poison..." insert the effect, fail every attempt
 * Every attempt inserts first, so a rolled-back attempt would show as an extra row. */
#define TITLES_MAX 16
#define FLAKY_FAILURES 2

struct handler_log {
	pthread_mutex_t lock;
	int n;
	char title[TITLES_MAX][48];
	int calls[TITLES_MAX];
	int db_errors; /* effect inserts that failed (should stay 0) */
};

static struct handler_log hlog = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Counts a call for title; returns the number of calls so far, this one included. */
static int count_call(const char *title)
{
	int n = 0;

	pthread_mutex_lock(&hlog.lock);
	int i = 0;
	while (i < hlog.n && strcmp(hlog.title[i], title) != 0)
		i++;
	if (i == hlog.n && hlog.n < TITLES_MAX) {
		snprintf(hlog.title[i], sizeof(hlog.title[i]), "%s", title);
		hlog.n++;
	}
	if (i < TITLES_MAX)
		n = ++hlog.calls[i];
	pthread_mutex_unlock(&hlog.lock);
	return n;
}

static int calls_of(const char *title)
{
	int n = 0;
	pthread_mutex_lock(&hlog.lock);
	for (int i = 0; i < hlog.n; i++)
		if (strcmp(hlog.title[i], title) == 0)
			n = hlog.calls[i];
	pthread_mutex_unlock(&hlog.lock);
	return n;
}

static int on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body)
{
	const Taskmesh__V1__ProjectCreated *pc = (const Taskmesh__V1__ProjectCreated *)body;
	int call = count_call(pc->title);

	if (tsql(ctx->db, NULL,
		 "INSERT INTO effects (event_id, project_id, title) VALUES ($1, $2, $3)", 3,
		 ITEST_PARAMS(ctx->event->id, pc->project_id, pc->title)) != TM_DB_OK) {
		pthread_mutex_lock(&hlog.lock);
		hlog.db_errors++;
		pthread_mutex_unlock(&hlog.lock);
		return -1;
	}
	if (strncmp(pc->title, "poison", 6) == 0)
		return -1;
	if (strncmp(pc->title, "flaky", 5) == 0 && call <= FLAKY_FAILURES)
		return -1;
	return 0;
}

static const struct tm_event_handler handlers[] = {
	{&taskmesh__v1__project_created__descriptor, on_project_created},
};

/* ---- fixtures ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	return itest_start();
}

static int group_teardown(void **state)
{
	return itest_stop();
}

static int test_setup(void **state)
{
	char cmd[160], sql[256];

	memset(&fx, 0, sizeof(fx));
	pthread_mutex_lock(&hlog.lock);
	hlog.n = 0;
	hlog.db_errors = 0;
	memset(hlog.calls, 0, sizeof(hlog.calls));
	pthread_mutex_unlock(&hlog.lock);
	itest_name("obx_", fx.schema, sizeof(fx.schema));
	itest_name("itest.obx.", fx.topic, sizeof(fx.topic));
	itest_name("itest", fx.service, sizeof(fx.service));
	itest_migrate_common(fx.schema);
	fx.db = itest_connect(fx.schema);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE \"%s\".effects (event_id uuid NOT NULL, project_id text NOT NULL, "
		 "title text NOT NULL)",
		 fx.schema);
	itest_exec(fx.db, sql, 0, NULL);
	snprintf(cmd, sizeof(cmd), "create-topic %s 3", fx.topic);
	if (tm_test_kafka_ctl(&itest.stack, cmd) != 0) {
		print_message("tm-devkafka ctl %s failed\n", cmd);
		return -1;
	}
	return 0;
}

static int test_teardown(void **state)
{
	if (fx.broker_down && tm_test_kafka_ctl(&itest.stack, "broker-up 1") == 0)
		fx.broker_down = false;
	if (fx.faults_set && tm_test_kafka_ctl(&itest.stack, "broker-rtt 1 0") == 0 &&
	    tm_test_kafka_ctl(&itest.stack, "clear-errors 0") == 0)
		fx.faults_set = false;
	bool still_down = fx.broker_down || fx.faults_set;
	tm_consumer_loop_stop(fx.loop, tm_mono_ms() + 10000);
	fx.loop = NULL;
	tm_outbox_relay_stop(fx.relay, tm_mono_ms() + 10000);
	fx.relay = NULL;
	if (fx.claimer.started) {
		/* the holder's transaction ends with its connection: the claimer returns */
		tm_db_close(fx.db);
		fx.db = NULL;
		pthread_join(fx.claimer.thread, NULL);
	}
	tm_db_close(fx.claimer.db);
	if (fx.consumer) {
		rd_kafka_consumer_close(fx.consumer);
		rd_kafka_destroy(fx.consumer);
	}
	if (fx.producer) {
		rd_kafka_flush(fx.producer, 5000);
		rd_kafka_destroy(fx.producer);
	}
	tm_db_close(fx.db);
	itest_drop_schema(fx.schema);
	memset(&fx, 0, sizeof(fx));
	if (still_down)
		print_message("cannot undo the injected Kafka faults: later tests will fail\n");
	return still_down ? -1 : 0;
}

/* ---- helpers: events and the outbox ----------------------------------------------------- */

static void project(Taskmesh__V1__ProjectCreated *pc, const char *project_id, const char *title,
		    int64_t budget_cents)
{
	taskmesh__v1__project_created__init(pc);
	pc->project_id = (char *)project_id;
	pc->client_id = "4d7c1f7e-1111-4a4a-8b8b-000000000001";
	pc->title = (char *)title;
	pc->description = "built by an integration test";
	pc->budget_cap_cents = budget_cents;
	pc->currency = "EUR";
	pc->created_at = "2026-01-02T03:04:05.000Z";
}

/* Adds a ProjectCreated to the outbox in its own committed transaction. */
static void add_committed(const char *subject, const char *title, int64_t budget_cents,
			  char event_id[TM_UUID_LEN + 1])
{
	Taskmesh__V1__ProjectCreated pc;

	project(&pc, subject, title, budget_cents);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_outbox_add(fx.db, fx.topic, subject, &pc.base, SOURCE, "req-itest",
				       event_id),
			 TM_DB_OK);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
}

static int64_t outbox_count(struct tm_db *db, const char *event_id)
{
	return itest_int(db, "SELECT count(*) FROM outbox WHERE event_id = $1", 1,
			 ITEST_PARAMS(event_id));
}

struct sent_wait {
	const char *event_id;
	int64_t want; /* rows of the event with sent_at set */
};

static bool rows_sent(void *arg)
{
	struct sent_wait *w = arg;
	return itest_int(fx.db,
			 "SELECT count(*) FROM outbox WHERE event_id = $1 AND sent_at IS NOT NULL",
			 1, ITEST_PARAMS(w->event_id)) >= w->want;
}

/* Waits until `want` rows of event_id are marked sent; fails the test after WAIT_MS. */
static int64_t wait_sent(const char *event_id, int64_t want)
{
	struct sent_wait w = {event_id, want};
	int64_t ms = itest_wait(rows_sent, &w, WAIT_MS);
	if (ms < 0)
		fail_msg("outbox event %s not marked sent within %d ms", event_id, WAIT_MS);
	return ms;
}

static void relay_start(int delivery_timeout_ms, int idle_poll_ms, int batch_max)
{
	char err[256];
	struct tm_outbox_relay_config cfg = {
		.conninfo = itest.stack.database_url,
		.schema = fx.schema,
		.brokers = itest.stack.kafka_brokers,
		.client_id = "tm-itest-relay",
		.batch_max = batch_max,
		.idle_poll_ms = idle_poll_ms,
		.delivery_timeout_ms = delivery_timeout_ms,
	};
	if (tm_outbox_relay_start(&fx.relay, &cfg, err, sizeof(err)) != 0)
		fail_msg("tm_outbox_relay_start: %s", err);
}

/* An Event copied out of protobuf-c, so that a failing assert leaks nothing. */
struct event_copy {
	bool ok; /* the bytes decoded as a taskmesh.v1.Event */
	char id[48], type[80], source[48], subject[80], time[48], trace_id[64];
	uint8_t body[1024];
	size_t body_len;
};

static struct event_copy decode_event(const void *data, size_t len)
{
	struct event_copy c;
	Taskmesh__V1__Event *ev = taskmesh__v1__event__unpack(NULL, len, data);

	memset(&c, 0, sizeof(c));
	if (!ev)
		return c;
	c.ok = ev->body.len <= sizeof(c.body);
	snprintf(c.id, sizeof(c.id), "%s", ev->id);
	snprintf(c.type, sizeof(c.type), "%s", ev->type);
	snprintf(c.source, sizeof(c.source), "%s", ev->source);
	snprintf(c.subject, sizeof(c.subject), "%s", ev->subject);
	snprintf(c.time, sizeof(c.time), "%s", ev->time);
	snprintf(c.trace_id, sizeof(c.trace_id), "%s", ev->trace_id);
	if (c.ok && ev->body.len > 0) {
		memcpy(c.body, ev->body.data, ev->body.len);
		c.body_len = ev->body.len;
	}
	taskmesh__v1__event__free_unpacked(ev, NULL);
	return c;
}

/* The ProjectCreated in an Event's body (budget and title), or false. */
static bool decode_project(const struct event_copy *e, char *title, size_t titlelen,
			   int64_t *budget_cents, char *project_id, size_t idlen)
{
	Taskmesh__V1__ProjectCreated *pc =
		taskmesh__v1__project_created__unpack(NULL, e->body_len, e->body);
	if (!pc)
		return false;
	snprintf(title, titlelen, "%s", pc->title);
	snprintf(project_id, idlen, "%s", pc->project_id);
	*budget_cents = pc->budget_cap_cents;
	taskmesh__v1__project_created__free_unpacked(pc, NULL);
	return true;
}

/* ---- helpers: plain Kafka clients --------------------------------------------------------- */

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (getenv("TM_TEST_KAFKA_LOG"))
		fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

static rd_kafka_conf_t *conf_new(const char *const *kv)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set_log_cb(conf, quiet_log);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", itest.stack.kafka_brokers, err,
			      sizeof(err)) != RD_KAFKA_CONF_OK)
		fail_msg("bootstrap.servers: %s", err);
	for (int i = 0; kv[i]; i += 2)
		if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
			fail_msg("%s=%s: %s", kv[i], kv[i + 1], err);
	return conf;
}

/* A group consumer (random group) of the fixture's topic, from the earliest offset. */
static void consumer_open(void)
{
	char group[ITEST_NAME_MAX], err[256];

	itest_name("itest-", group, sizeof(group));
	rd_kafka_conf_t *conf = conf_new(ITEST_PARAMS("group.id", group, "auto.offset.reset",
						      "earliest", "fetch.wait.max.ms", "5",
						      "enable.auto.commit", "false", NULL));
	fx.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!fx.consumer)
		fail_msg("rd_kafka_new: %s", err);
	rd_kafka_poll_set_consumer(fx.consumer);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, fx.topic, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(fx.consumer, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(sub);
}

static void header(rd_kafka_headers_t *h, const char *name, char *out, size_t outlen)
{
	const void *v = NULL;
	size_t n = 0;

	if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v)
		snprintf(out, outlen, "%.*s", (int)n, (const char *)v);
	else
		snprintf(out, outlen, "<absent>");
}

/* Polls the test consumer until `want` more records arrived or timeout_ms
 * passed; stores them from recs[first]. Returns how many arrived. */
static int consume(int first, int want, int64_t timeout_ms)
{
	int64_t end = tm_mono_ms() + timeout_ms;
	int got = 0;

	while (got < want && first + got < RECORDS_MAX && tm_mono_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(fx.consumer, 100);
		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				print_message("consumer: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		struct rec *r = &fx.recs[first + got++];
		rd_kafka_headers_t *h = NULL;
		memset(r, 0, sizeof(*r));
		r->partition = m->partition;
		r->offset = m->offset;
		snprintf(r->key, sizeof(r->key), "%.*s", (int)m->key_len, (const char *)m->key);
		r->has_value = m->payload != NULL;
		r->len = m->len < sizeof(r->value) ? m->len : sizeof(r->value);
		if (m->payload)
			memcpy(r->value, m->payload, r->len);
		if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
			h = NULL;
		header(h, "ce_specversion", r->ce_specversion, sizeof(r->ce_specversion));
		header(h, "ce_id", r->ce_id, sizeof(r->ce_id));
		header(h, "ce_type", r->ce_type, sizeof(r->ce_type));
		header(h, "ce_source", r->ce_source, sizeof(r->ce_source));
		header(h, "ce_subject", r->ce_subject, sizeof(r->ce_subject));
		header(h, "ce_time", r->ce_time, sizeof(r->ce_time));
		header(h, "content-type", r->content_type, sizeof(r->content_type));
		rd_kafka_message_destroy(m);
	}
	return got;
}

static void producer_open(void)
{
	char err[256];
	rd_kafka_conf_t *conf =
		conf_new(ITEST_PARAMS("enable.idempotence", "true", "linger.ms", "1", NULL));
	fx.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!fx.producer)
		fail_msg("rd_kafka_new: %s", err);
}

/* Produces one record (value may be NULL) to the fixture's topic and waits for it. */
static void produce_raw(const char *key, const void *value, size_t len)
{
	if (!fx.producer)
		producer_open();
	assert_int_equal(rd_kafka_producev(fx.producer, RD_KAFKA_V_TOPIC(fx.topic),
					   RD_KAFKA_V_KEY(key, strlen(key)),
					   RD_KAFKA_V_VALUE((void *)value, len),
					   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					   RD_KAFKA_V_END),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(rd_kafka_flush(fx.producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Produces an Event (id, type) with `body` bytes, keyed by subject. */
static void produce_event_bytes(const char *id, const char *type, const char *subject,
				const void *body, size_t body_len)
{
	Taskmesh__V1__Event ev = TASKMESH__V1__EVENT__INIT;
	uint8_t buf[2048];

	ev.id = (char *)id;
	ev.type = (char *)type;
	ev.source = "tm-itest-producer";
	ev.subject = (char *)subject;
	ev.time = "2026-01-02T03:04:05.000Z";
	ev.body.data = (uint8_t *)body;
	ev.body.len = body_len;
	size_t len = taskmesh__v1__event__get_packed_size(&ev);
	assert_true(len <= sizeof(buf));
	taskmesh__v1__event__pack(&ev, buf);
	produce_raw(subject, buf, len);
}

/* Produces a ProjectCreated event with the given id and title. */
static void produce_project(const char *id, const char *subject, const char *title)
{
	Taskmesh__V1__ProjectCreated pc;
	uint8_t body[1024];

	project(&pc, subject, title, 100);
	size_t len = protobuf_c_message_get_packed_size(&pc.base);
	assert_true(len <= sizeof(body));
	protobuf_c_message_pack(&pc.base, body);
	produce_event_bytes(id, PROJECT_TYPE, subject, body, len);
}

static void new_id(char id[TM_UUID_LEN + 1])
{
	assert_int_equal(tm_uuid_v4(id), 0);
}

/* ---- helpers: the consumer loop ----------------------------------------------------------- */

static void loop_start(void)
{
	char err[256];
	const char *topics[] = {fx.topic};
	struct tm_consumer_loop_config cfg = {
		.service = fx.service,
		.conninfo = itest.stack.database_url,
		.schema = fx.schema,
		.brokers = itest.stack.kafka_brokers,
		.fetch_wait_ms = 5,
		.topics = topics,
		.ntopics = 1,
		.handlers = handlers,
		.nhandlers = TM_ARRAY_LEN(handlers),
	};
	if (tm_consumer_loop_start(&fx.loop, &cfg, err, sizeof(err)) != 0)
		fail_msg("tm_consumer_loop_start: %s", err);
}

static bool effect_present(void *arg)
{
	return itest_int(fx.db, "SELECT count(*) FROM effects WHERE event_id = $1", 1,
			 ITEST_PARAMS((const char *)arg)) > 0;
}

static void wait_effect(const char *event_id)
{
	int64_t ms = itest_wait(effect_present, (void *)event_id, WAIT_MS);
	if (ms < 0)
		fail_msg("event %s not applied within %d ms", event_id, WAIT_MS);
	print_message("event applied after %lld ms\n", (long long)ms);
}

static int64_t effects_of(const char *event_id)
{
	return itest_int(fx.db, "SELECT count(*) FROM effects WHERE event_id = $1", 1,
			 ITEST_PARAMS(event_id));
}

static void inbox_status(const char *event_id, char *out, size_t outlen)
{
	itest_text(fx.db, out, outlen,
		   "SELECT status || '|' || coalesce(error, '') FROM inbox WHERE event_id = $1", 1,
		   ITEST_PARAMS(event_id));
}

/* Every applied inbox row has its effect and every effect its applied inbox row. */
static void assert_effects_match_inbox(void)
{
	assert_int_equal(
		itest_int(
			fx.db,
			"SELECT count(*) FROM inbox i FULL JOIN effects e ON e.event_id = i.event_id "
			"WHERE (i.status = 'applied' AND e.event_id IS NULL) OR "
			"(e.event_id IS NOT NULL AND (i.event_id IS NULL OR i.status <> 'applied'))",
			0, NULL),
		0);
	pthread_mutex_lock(&hlog.lock);
	int db_errors = hlog.db_errors;
	pthread_mutex_unlock(&hlog.lock);
	assert_int_equal(db_errors, 0);
}

static int64_t stat_value(const char *name)
{
	return tm_stat_get(tm_stat_register(name, "", TM_STAT_COUNTER, NULL, NULL));
}

/* ---- outbox ------------------------------------------------------------------------------ */

static void test_outbox_add_outside_a_transaction_is_refused(void **state)
{
	Taskmesh__V1__ProjectCreated pc;
	char id[TM_UUID_LEN + 1] = "";

	project(&pc, "p-1", "ok", 1);
	assert_int_equal(tm_outbox_add(fx.db, fx.topic, "p-1", &pc.base, SOURCE, NULL, id),
			 TM_DB_ERR);
	assert_string_equal(id, "");
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM outbox", 0, NULL), 0);
}

static void test_outbox_add_writes_a_row_holding_the_packed_event(void **state)
{
	char id[TM_UUID_LEN + 1], text[256];
	Taskmesh__V1__ProjectCreated pc;
	const char *subject = "7b0f5f8e-2222-4c4c-9d9d-000000000002";

	project(&pc, subject, "Build a ledger", 123456);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	int64_t before_ms = tm_now_ms();
	assert_int_equal(tm_outbox_add(fx.db, fx.topic, subject, &pc.base, SOURCE, "req-42", id),
			 TM_DB_OK);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
	assert_true(tm_uuid_valid(id));

	itest_text(fx.db, text, sizeof(text),
		   "SELECT topic || '|' || subject || '|' || type || '|' || attempts || '|' || "
		   "(sent_at IS NULL) || '|' || coalesce(last_error, '<null>') FROM outbox "
		   "WHERE event_id = $1",
		   1, ITEST_PARAMS(id));
	char want[256];
	snprintf(want, sizeof(want), "%s|%s|%s|0|true|<null>", fx.topic, subject, PROJECT_TYPE);
	assert_string_equal(text, want);

	/* payload: a taskmesh.v1.Event whose body decodes as the message */
	PGresult *r = NULL;
	assert_int_equal(tsql(fx.db, &r, "SELECT payload FROM outbox WHERE event_id = $1", 1,
			      ITEST_PARAMS(id)),
			 TM_DB_OK);
	assert_int_equal(PQntuples(r), 1);
	size_t len = 0;
	unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &len);
	PQclear(r);
	assert_non_null(raw);
	struct event_copy ev = decode_event(raw, len);
	PQfreemem(raw);
	assert_true(ev.ok);
	assert_string_equal(ev.id, id);
	assert_string_equal(ev.type, PROJECT_TYPE);
	assert_string_equal(ev.source, SOURCE);
	assert_string_equal(ev.subject, subject);
	assert_string_equal(ev.trace_id, "req-42");
	int64_t t_ms = 0;
	assert_int_equal(tm_parse_rfc3339(ev.time, &t_ms), 0);
	assert_in_range(t_ms, before_ms - 1000, tm_now_ms() + 1000);
	char title[64], project_id[64];
	int64_t budget = 0;
	assert_true(
		decode_project(&ev, title, sizeof(title), &budget, project_id, sizeof(project_id)));
	assert_string_equal(project_id, subject);
	assert_string_equal(title, "Build a ledger");
	assert_int_equal(budget, 123456);
}

static void test_outbox_row_is_invisible_to_others_until_commit(void **state)
{
	char id[TM_UUID_LEN + 1];
	Taskmesh__V1__ProjectCreated pc;
	struct tm_db *other = itest_connect(fx.schema);

	project(&pc, "p-2", "ok", 1);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_outbox_add(fx.db, fx.topic, "p-2", &pc.base, SOURCE, NULL, id),
			 TM_DB_OK);
	int64_t seen_inside = outbox_count(fx.db, id);
	int64_t seen_before = outbox_count(other, id);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
	int64_t seen_after = outbox_count(other, id);
	tm_db_close(other);

	assert_int_equal(seen_inside, 1);
	assert_int_equal(seen_before, 0);
	assert_int_equal(seen_after, 1);
}

static void test_outbox_row_is_gone_after_rollback(void **state)
{
	char id[TM_UUID_LEN + 1];
	Taskmesh__V1__ProjectCreated pc;

	project(&pc, "p-3", "ok", 1);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_outbox_add(fx.db, fx.topic, "p-3", &pc.base, SOURCE, NULL, id),
			 TM_DB_OK);
	assert_int_equal(outbox_count(fx.db, id), 1);
	tm_db_rollback(fx.db);
	assert_int_equal(outbox_count(fx.db, id), 0);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM outbox", 0, NULL), 0);
}

/* ---- relay ------------------------------------------------------------------------------- */

/* Checks that recs[i] is the record of event `id` as the relay publishes it. */
static void assert_cloudevent(const struct rec *r, const char *id, const char *subject)
{
	assert_true(r->has_value);
	assert_string_equal(r->key, subject);
	struct event_copy ev = decode_event(r->value, r->len);
	assert_true(ev.ok);
	assert_string_equal(ev.id, id);
	assert_string_equal(ev.type, PROJECT_TYPE);
	assert_string_equal(r->ce_specversion, "1.0");
	assert_string_equal(r->ce_id, id);
	assert_string_equal(r->ce_type, PROJECT_TYPE);
	assert_string_equal(r->ce_source, SOURCE);
	assert_string_equal(r->ce_subject, subject);
	assert_string_equal(r->ce_time, ev.time);
	assert_string_equal(r->content_type, "application/protobuf");
}

static void
test_relay_publishes_a_committed_row_with_cloudevents_headers_and_marks_it_sent(void **state)
{
	char id[TM_UUID_LEN + 1], text[128];
	const char *subject = "0c1d2e3f-3333-4e4e-8f8f-000000000003";

	consumer_open();
	add_committed(subject, "ok", 1, id);
	relay_start(RELAY_DELIVERY_MS, RELAY_IDLE_POLL_MS, 100);
	print_message("marked sent after %lld ms\n", (long long)wait_sent(id, 1));
	itest_text(fx.db, text, sizeof(text),
		   "SELECT attempts || '|' || coalesce(last_error, '<null>') FROM outbox "
		   "WHERE event_id = $1",
		   1, ITEST_PARAMS(id));
	assert_string_equal(text, "1|<null>");

	assert_int_equal(consume(0, 1, WAIT_MS), 1);
	assert_cloudevent(&fx.recs[0], id, subject);
	/* published once: nothing else arrives */
	assert_int_equal(consume(1, 1, QUIET_MS), 0);
	assert_true(tm_outbox_kafka_healthy());
}

static void test_relay_wakes_on_the_commit_notify_without_waiting_for_idle_poll(void **state)
{
	char id[TM_UUID_LEN + 1];

	relay_start(RELAY_DELIVERY_MS, 60000, 100);
	tm_sleep_ms(500); /* the relay did its first (empty) round and sleeps */
	add_committed("p-notify", "ok", 1, id);
	int64_t ms = wait_sent(id, 1);
	print_message("marked sent %lld ms after the commit\n", (long long)ms);
	assert_true(ms < 5000);
}

static void
test_relay_keeps_a_row_unsent_while_the_broker_is_down_and_delivers_it_after(void **state)
{
	char warm[TM_UUID_LEN + 1], id[TM_UUID_LEN + 1], text[256];
	const char *subject = "p-outage";

	relay_start(RELAY_FAULT_DELIVERY_MS, RELAY_IDLE_POLL_MS, 100);
	add_committed(subject, "ok-before", 1, warm);
	wait_sent(warm, 1);

	assert_int_equal(tm_test_kafka_ctl(&itest.stack, "broker-down 1"), 0);
	fx.broker_down = true;
	add_committed(subject, "ok-during", 2, id);

	/* failed rounds: attempts grow, the error is kept, the row stays pending */
	int64_t end = tm_mono_ms() + WAIT_MS;
	int64_t attempts = 0;
	while (tm_mono_ms() < end &&
	       (attempts = itest_int(fx.db, "SELECT attempts FROM outbox WHERE event_id = $1", 1,
				     ITEST_PARAMS(id))) < 2)
		tm_sleep_ms(50);
	assert_true(attempts >= 2);
	itest_text(fx.db, text, sizeof(text),
		   "SELECT (sent_at IS NULL) || '|' || coalesce(last_error, '<null>') FROM outbox "
		   "WHERE event_id = $1",
		   1, ITEST_PARAMS(id));
	/* librdkafka's timeout, or the relay's own when the report came after the round */
	char timed_out[160];
	snprintf(timed_out, sizeof(timed_out), "true|%s",
		 rd_kafka_err2str(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
	if (strcmp(text, timed_out) != 0 && strcmp(text, "true|no delivery report") != 0)
		fail_msg("while the broker is down: sent_at IS NULL|last_error = \"%s\"", text);
	assert_false(tm_outbox_kafka_healthy());

	assert_int_equal(tm_test_kafka_ctl(&itest.stack, "broker-up 1"), 0);
	fx.broker_down = false;
	print_message("delivered %lld ms after broker-up\n", (long long)wait_sent(id, 1));
	assert_true(itest_int(fx.db, "SELECT attempts FROM outbox WHERE event_id = $1", 1,
			      ITEST_PARAMS(id)) >= 3);

	/* no loss: both events are on the topic, in order (a consumer that joins
	 * now: one that lived through the outage waits for its old session on the mock) */
	consumer_open();
	int got = consume(0, 2, WAIT_MS);
	int warm_at = -1, at = -1;
	for (int extra = 1; got < RECORDS_MAX && extra > 0; got += extra)
		extra = consume(got, 1, QUIET_MS); /* a redelivery would be allowed: count it */
	for (int i = 0; i < got; i++) {
		struct event_copy ev = decode_event(fx.recs[i].value, fx.recs[i].len);
		assert_true(ev.ok);
		if (strcmp(ev.id, warm) == 0 && warm_at < 0)
			warm_at = i;
		if (strcmp(ev.id, id) == 0 && at < 0)
			at = i;
	}
	print_message("%d record(s) on the topic\n", got);
	assert_true(warm_at >= 0);
	assert_true(at > warm_at); /* after the earlier event of the same subject */
	assert_cloudevent(&fx.recs[at], id, subject);
	/* the next successful round reports Kafka healthy again */
	char again[TM_UUID_LEN + 1];
	add_committed(subject, "ok-after", 3, again);
	wait_sent(again, 1);
	assert_true(tm_outbox_kafka_healthy());
}

static void test_relay_keeps_the_order_of_twenty_events_of_one_subject(void **state)
{
	char ids[ORDER_EVENTS][TM_UUID_LEN + 1], title[32];
	const char *subject = "5e6f7a8b-4444-4f4f-9a9a-000000000004";

	consumer_open();
	for (int i = 0; i < ORDER_EVENTS; i++) {
		snprintf(title, sizeof(title), "ok-%02d", i);
		add_committed(subject, title, i + 1, ids[i]);
	}
	relay_start(RELAY_DELIVERY_MS, RELAY_IDLE_POLL_MS, ORDER_BATCH);
	wait_sent(ids[ORDER_EVENTS - 1], 1);
	assert_int_equal(
		itest_int(fx.db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0, NULL), 0);

	assert_int_equal(consume(0, ORDER_EVENTS, WAIT_MS), ORDER_EVENTS);
	assert_int_equal(consume(ORDER_EVENTS, 1, QUIET_MS), 0);
	for (int i = 0; i < ORDER_EVENTS; i++) {
		const struct rec *r = &fx.recs[i];
		assert_int_equal(r->partition, fx.recs[0].partition); /* one key, one partition */
		if (i > 0)
			assert_true(r->offset > fx.recs[i - 1].offset);
		struct event_copy ev = decode_event(r->value, r->len);
		char got_title[64], project_id[64];
		int64_t budget = 0;
		assert_true(ev.ok);
		assert_string_equal(ev.id, ids[i]);
		assert_true(decode_project(&ev, got_title, sizeof(got_title), &budget, project_id,
					   sizeof(project_id)));
		snprintf(title, sizeof(title), "ok-%02d", i);
		assert_string_equal(got_title, title);
		assert_int_equal(budget, i + 1);
	}
}

/* A row that does not hold an Event (written by hand) is dead-lettered: never
 * sent, never fetched again, and it holds up neither the others nor the
 * health flag (it is not a Kafka outage). */
static void test_relay_dead_letters_a_row_that_is_not_an_event_and_publishes_the_rest(void **state)
{
	char id[TM_UUID_LEN + 1], text[256];

	itest_exec(fx.db,
		   "INSERT INTO outbox (event_id, topic, subject, type, payload) "
		   "VALUES ('00000000-0000-4000-8000-00000000dead', $1, 'p-bad', 'x.Bad', "
		   "'\\x0a7f'::bytea)",
		   1, ITEST_PARAMS(fx.topic));
	add_committed("p-good", "ok", 1, id);
	relay_start(RELAY_DELIVERY_MS, RELAY_IDLE_POLL_MS, 100);
	wait_sent(id, 1);

	itest_text(fx.db, text, sizeof(text),
		   "SELECT (sent_at IS NULL) || '|' || (dead_at IS NOT NULL) || '|' || attempts "
		   "|| '|' || coalesce(last_error, '<null>') FROM outbox "
		   "WHERE event_id = '00000000-0000-4000-8000-00000000dead'",
		   0, NULL);
	assert_string_equal(text, "true|true|0|the payload is not a taskmesh.v1.Event");
	/* Kafka took every record it was given: the health flag must say so */
	if (!tm_outbox_kafka_healthy())
		fail_msg("tm_outbox_kafka_healthy() is false although Kafka is up and delivered "
			 "everything; only an undecodable outbox row failed");
}

/* How many records of event `id` a topic (3 partitions) holds: reads every
 * partition from the beginning to its end (bounded by WAIT_MS). */
static int records_of_event(const char *topic, const char *id)
{
	char group[ITEST_NAME_MAX], err[256];
	int found = 0, eofs = 0;

	itest_name("itest-scan-", group, sizeof(group));
	rd_kafka_conf_t *conf = conf_new(ITEST_PARAMS("group.id", group, "enable.partition.eof",
						      "true", "fetch.wait.max.ms", "5",
						      "enable.auto.commit", "false", NULL));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		fail_msg("rd_kafka_new: %s", err);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
	for (int p = 0; p < 3; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	int64_t end = tm_mono_ms() + WAIT_MS;
	while (e == RD_KAFKA_RESP_ERR_NO_ERROR && eofs < 3 && tm_mono_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eofs++;
		} else if (!m->err && m->payload) {
			Taskmesh__V1__Event *ev =
				taskmesh__v1__event__unpack(NULL, m->len, m->payload);
			if (ev && strcmp(ev->id, id) == 0)
				found++;
			if (ev)
				taskmesh__v1__event__free_unpacked(ev, NULL);
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
	if (eofs < 3)
		print_message("scan of %s: only %d of 3 partitions read to the end\n", topic, eofs);
	return found;
}

/* Prints the outbox rows (for the record of a failure). */
static void print_outbox(void)
{
	PGresult *r = NULL;
	if (tsql(fx.db, &r,
		 "SELECT id, subject, attempts, coalesce(last_error, '-'), "
		 "coalesce((extract(epoch FROM sent_at - created_at) * 1000)::bigint::text, "
		 "'unsent') FROM outbox ORDER BY id",
		 0, NULL) != TM_DB_OK)
		return;
	for (int i = 0; i < PQntuples(r); i++)
		print_message("  outbox row %s: attempts %s, last_error %s, sent after %s ms\n",
			      PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
			      PQgetvalue(r, i, 4));
	PQclear(r);
}

#define LATE_REPORT_CYCLES 3	  /* outage cycles; the race below shows in most of them */
#define LATE_REPORT_DOWN_MS 5000  /* broker down: several rounds give up on their reports */
#define LATE_REPORT_WATCH_MS 4000 /* how long B is watched after A went out */

/*
 * A delivery report that arrives after its round gave up on it must not be
 * credited to the row that sits in the same slot of a later round. While the
 * broker is down, reports come later than a round waits for them; B's topic
 * refuses every record (a topic error in the metadata), so B can never be
 * delivered and must never be marked sent. batch_max 1: A and B take turns in
 * slot 0. Whether a late report is outstanding when B gets its turn is a race,
 * so the outage is repeated up to LATE_REPORT_CYCLES times.
 */
static void test_relay_never_marks_sent_a_row_whose_topic_refuses_every_record(void **state)
{
	char warm[TM_UUID_LEN + 1], a[TM_UUID_LEN + 1], b[TM_UUID_LEN + 1], cmd[160];
	char bad_topic[ITEST_NAME_MAX], text[256];
	Taskmesh__V1__ProjectCreated pc;

	itest_name("itest.obx.refused.", bad_topic, sizeof(bad_topic));
	snprintf(cmd, sizeof(cmd), "create-topic %s 3", bad_topic);
	assert_int_equal(tm_test_kafka_ctl(&itest.stack, cmd), 0);
	snprintf(cmd, sizeof(cmd), "topic-error %s 3", bad_topic); /* UNKNOWN_TOPIC_OR_PART */
	assert_int_equal(tm_test_kafka_ctl(&itest.stack, cmd), 0);

	relay_start(RELAY_FAULT_DELIVERY_MS, RELAY_IDLE_POLL_MS, 1);
	add_committed("p-a", "ok-warm", 1, warm);
	wait_sent(warm, 1);

	for (int cycle = 1; cycle <= LATE_REPORT_CYCLES; cycle++) {
		assert_int_equal(tm_test_kafka_ctl(&itest.stack, "broker-down 1"), 0);
		fx.broker_down = true;
		add_committed("p-a", "ok-a", 2, a);
		project(&pc, "p-b", "ok-b", 3);
		assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
		assert_int_equal(tm_outbox_add(fx.db, bad_topic, "p-b", &pc.base, SOURCE, NULL, b),
				 TM_DB_OK);
		assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
		tm_sleep_ms(LATE_REPORT_DOWN_MS);
		assert_int_equal(tm_test_kafka_ctl(&itest.stack, "broker-up 1"), 0);
		fx.broker_down = false;
		wait_sent(a, 1);

		/* B's records all fail: it stays pending however long the relay tries */
		tm_sleep_ms(LATE_REPORT_WATCH_MS);
		print_outbox();
		itest_text(fx.db, text, sizeof(text),
			   "SELECT (sent_at IS NULL) || '|' || (attempts > 0) FROM outbox "
			   "WHERE event_id = $1",
			   1, ITEST_PARAMS(b));
		if (strcmp(text, "true|true") != 0) {
			int on_topic = records_of_event(bad_topic, b);
			fail_msg(
				"cycle %d: event B (%s) is marked sent (%s) but its topic %s holds %d "
				"record(s) of it: the relay credited it with another record's "
				"delivery report",
				cycle, b, text, bad_topic, on_topic);
		}
		/* B would block slot 0 for ever: take it out for the next cycle */
		itest_exec(fx.db, "DELETE FROM outbox WHERE event_id = $1", 1, ITEST_PARAMS(b));
	}
}

/* ---- inbox -------------------------------------------------------------------------------- */

static void test_inbox_claim_outside_a_transaction_is_refused(void **state)
{
	char id[TM_UUID_LEN + 1];

	new_id(id);
	assert_int_equal(tm_inbox_claim(fx.db, id, PROJECT_TYPE, SOURCE), TM_INBOX_ERROR);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox", 0, NULL), 0);
}

static void test_inbox_claim_is_new_then_duplicate_after_commit(void **state)
{
	char id[TM_UUID_LEN + 1], text[256];

	new_id(id);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_inbox_claim(fx.db, id, PROJECT_TYPE, SOURCE), TM_INBOX_NEW);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);

	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_inbox_claim(fx.db, id, PROJECT_TYPE, SOURCE), TM_INBOX_DUPLICATE);
	tm_db_rollback(fx.db);

	itest_text(
		fx.db, text, sizeof(text),
		"SELECT type || '|' || source || '|' || status || '|' || coalesce(error, '<null>') "
		"FROM inbox WHERE event_id = $1",
		1, ITEST_PARAMS(id));
	assert_string_equal(text, PROJECT_TYPE "|" SOURCE "|applied|<null>");
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox", 0, NULL), 1);
}

static void test_inbox_claim_rolled_back_is_new_again(void **state)
{
	char id[TM_UUID_LEN + 1];

	new_id(id);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_inbox_claim(fx.db, id, PROJECT_TYPE, SOURCE), TM_INBOX_NEW);
	tm_db_rollback(fx.db);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_inbox_claim(fx.db, id, PROJECT_TYPE, SOURCE), TM_INBOX_NEW);
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox", 0, NULL), 1);
}

static void *claim_in_thread(void *arg)
{
	struct claimer *c = arg;
	int rc = TM_INBOX_ERROR;

	if (tm_db_begin(c->db) == TM_DB_OK) {
		int64_t t0 = tm_mono_ms();
		rc = tm_inbox_claim(c->db, c->event_id, PROJECT_TYPE, SOURCE);
		c->blocked_ms = tm_mono_ms() - t0;
		if (rc == TM_INBOX_NEW)
			tm_db_commit(c->db);
		else
			tm_db_rollback(c->db);
	}
	atomic_store(&c->rc, rc);
	atomic_store(&c->done, true);
	return NULL;
}

static bool claimer_done(void *arg)
{
	return atomic_load(&fx.claimer.done);
}

/* Holds a claim of a fresh id on fx.db and starts a second claim of it in a
 * thread; checks the thread is still waiting after CLAIM_BLOCK_MS. */
static void start_blocked_claimer(void)
{
	new_id(fx.claimer.event_id);
	fx.claimer.db = itest_connect(fx.schema);
	atomic_store(&fx.claimer.rc, 99);
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_inbox_claim(fx.db, fx.claimer.event_id, PROJECT_TYPE, SOURCE),
			 TM_INBOX_NEW);
	assert_int_equal(pthread_create(&fx.claimer.thread, NULL, claim_in_thread, &fx.claimer), 0);
	fx.claimer.started = true;
	tm_sleep_ms(CLAIM_BLOCK_MS);
	assert_false(atomic_load(&fx.claimer.done)); /* waits for the first transaction */
}

static void finish_claimer(void)
{
	if (itest_wait(claimer_done, NULL, 10000) < 0)
		fail_msg(
			"the second claim did not return within 10 s of the first transaction's end");
	pthread_join(fx.claimer.thread, NULL);
	fx.claimer.started = false;
	assert_true(fx.claimer.blocked_ms >= CLAIM_BLOCK_MS - 50);
}

static void test_concurrent_claim_waits_for_the_first_commit_then_is_duplicate(void **state)
{
	start_blocked_claimer();
	assert_int_equal(tm_db_commit(fx.db), TM_DB_OK);
	finish_claimer();
	assert_int_equal(atomic_load(&fx.claimer.rc), TM_INBOX_DUPLICATE);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox WHERE event_id = $1", 1,
				   ITEST_PARAMS(fx.claimer.event_id)),
			 1);
}

static void test_concurrent_claim_after_the_first_rolls_back_is_new(void **state)
{
	start_blocked_claimer();
	tm_db_rollback(fx.db);
	finish_claimer();
	assert_int_equal(atomic_load(&fx.claimer.rc), TM_INBOX_NEW);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox WHERE event_id = $1", 1,
				   ITEST_PARAMS(fx.claimer.event_id)),
			 1);
}

static void test_dead_letter_records_status_dead_with_the_error(void **state)
{
	char id[TM_UUID_LEN + 1], text[256];

	new_id(id);
	assert_int_equal(
		tm_inbox_dead_letter(fx.db, id, PROJECT_TYPE, SOURCE, "boom: no such project"), 0);
	assert_false(tm_db_in_tx(fx.db));
	inbox_status(id, text, sizeof(text));
	assert_string_equal(text, "dead|boom: no such project");
	/* a dead-lettered event is not tried again */
	assert_int_equal(tm_db_begin(fx.db), TM_DB_OK);
	assert_int_equal(tm_inbox_claim(fx.db, id, PROJECT_TYPE, SOURCE), TM_INBOX_DUPLICATE);
	tm_db_rollback(fx.db);
}

/* ---- consumer loop -------------------------------------------------------------------------- */

static void test_consumer_applies_an_event_once_when_the_outbox_publishes_it_twice(void **state)
{
	char id[TM_UUID_LEN + 1], last[TM_UUID_LEN + 1];
	const char *subject = "p-twice";
	int64_t dups_before = stat_value("tm_events_duplicate_total");

	add_committed(subject, "ok-twice", 1, id);
	/* a relay that crashed between publishing and marking would send it again */
	itest_exec(fx.db,
		   "INSERT INTO outbox (event_id, topic, subject, type, payload) "
		   "SELECT event_id, topic, subject, type, payload FROM outbox WHERE event_id = $1",
		   1, ITEST_PARAMS(id));
	add_committed(subject, "ok-last", 2, last);
	loop_start();
	relay_start(RELAY_DELIVERY_MS, RELAY_IDLE_POLL_MS, 100);
	wait_sent(id, 2);
	wait_effect(last); /* same subject, same partition: both copies came before it */

	assert_int_equal(effects_of(id), 1);
	assert_int_equal(calls_of("ok-twice"), 1);
	assert_int_equal(calls_of("ok-last"), 1);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox", 0, NULL), 2);
	assert_int_equal(stat_value("tm_events_duplicate_total") - dups_before, 1);
	assert_effects_match_inbox();
}

static void test_consumer_applies_a_redelivered_event_once(void **state)
{
	char id[TM_UUID_LEN + 1], last[TM_UUID_LEN + 1];

	new_id(id);
	new_id(last);
	loop_start();
	produce_project(id, "p-redeliver", "ok-first");
	produce_project(id, "p-redeliver", "ok-first");
	produce_project(last, "p-redeliver", "ok-last");
	wait_effect(last);

	assert_int_equal(effects_of(id), 1);
	assert_int_equal(calls_of("ok-first"), 1);
	assert_effects_match_inbox();
}

static void test_consumer_retries_a_failing_handler_and_applies_once(void **state)
{
	char id[TM_UUID_LEN + 1], text[256];

	new_id(id);
	loop_start();
	produce_project(id, "p-flaky", "flaky");
	wait_effect(id);

	assert_int_equal(calls_of("flaky"), FLAKY_FAILURES + 1);
	/* each failed attempt inserted too: rolled back with its inbox claim */
	assert_int_equal(effects_of(id), 1);
	inbox_status(id, text, sizeof(text));
	assert_string_equal(text, "applied|");
	assert_effects_match_inbox();
}

static void test_consumer_dead_letters_an_always_failing_event_and_goes_on(void **state)
{
	char poison[TM_UUID_LEN + 1], next[TM_UUID_LEN + 1], text[256];
	int64_t dead_before = stat_value("tm_events_dead_lettered_total");

	new_id(poison);
	new_id(next);
	loop_start();
	produce_project(poison, "p-poison", "poison");
	produce_project(next, "p-poison", "ok-after-poison");
	wait_effect(next);

	assert_int_equal(calls_of("poison"), TM_CONSUMER_ATTEMPTS);
	assert_int_equal(calls_of("ok-after-poison"), 1);
	assert_int_equal(effects_of(poison), 0);
	inbox_status(poison, text, sizeof(text));
	assert_string_equal(text, "dead|the handler failed on every attempt");
	inbox_status(next, text, sizeof(text));
	assert_string_equal(text, "applied|");
	assert_int_equal(stat_value("tm_events_dead_lettered_total") - dead_before, 1);
	assert_effects_match_inbox();
}

static void test_consumer_dead_letters_an_event_whose_body_does_not_decode(void **state)
{
	char bad[TM_UUID_LEN + 1], next[TM_UUID_LEN + 1], text[256];
	static const uint8_t not_a_project[] = {0x0a, 0x7f, 0x01}; /* field 1: 127 bytes, 1 given */

	new_id(bad);
	new_id(next);
	loop_start();
	produce_event_bytes(bad, PROJECT_TYPE, "p-body", not_a_project, sizeof(not_a_project));
	produce_project(next, "p-body", "ok-after-bad-body");
	wait_effect(next);

	inbox_status(bad, text, sizeof(text));
	assert_string_equal(text, "dead|the body does not decode as its type");
	assert_int_equal(calls_of("ok-after-bad-body"), 1);
	pthread_mutex_lock(&hlog.lock);
	int handlers_called = hlog.n;
	pthread_mutex_unlock(&hlog.lock);
	assert_int_equal(handlers_called, 1); /* never for the undecodable one */
	assert_effects_match_inbox();
}

/* The committed offsets of group tm-<service> on the fixture's topic, summed. */
static int64_t committed_offsets(void)
{
	char group[ITEST_NAME_MAX + 8], err[256];
	int64_t sum = 0;

	snprintf(group, sizeof(group), "tm-%s", fx.service);
	rd_kafka_conf_t *conf = conf_new(ITEST_PARAMS("group.id", group, NULL));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		fail_msg("rd_kafka_new: %s", err);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
	for (int p = 0; p < 3; p++)
		rd_kafka_topic_partition_list_add(parts, fx.topic, p);
	rd_kafka_resp_err_t e = rd_kafka_committed(rk, parts, 10000);
	for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++)
		if (parts->elems[i].offset >= 0)
			sum += parts->elems[i].offset;
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
	return sum;
}

static void test_consumer_skips_records_that_are_not_events_and_commits_past_them(void **state)
{
	char unknown[TM_UUID_LEN + 1], next[TM_UUID_LEN + 1];
	static const uint8_t garbage[] = {0x0a, 0x7f, 0x41}; /* truncated length-delimited field */
	const char *subject = "p-skip";

	new_id(unknown);
	new_id(next);
	loop_start();
	produce_raw(subject, garbage, sizeof(garbage));
	produce_raw(subject, NULL, 0); /* a tombstone: no value at all */
	produce_event_bytes(unknown, "taskmesh.v1.SomethingElse", subject, "", 0);
	produce_project(next, subject, "ok-after-garbage");
	wait_effect(next);

	assert_int_equal(calls_of("ok-after-garbage"), 1);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox", 0, NULL), 1);
	assert_effects_match_inbox();

	/* stopping commits the stored offsets: past the skipped records too */
	tm_consumer_loop_stop(fx.loop, tm_mono_ms() + 10000);
	fx.loop = NULL;
	assert_int_equal(committed_offsets(), 4);
}

static void test_consumer_effects_and_inbox_rows_commit_together(void **state)
{
	char ids[6][TM_UUID_LEN + 1];
	const char *titles[6] = {"ok-a", "flaky-b", "ok-c", "poison-d", "ok-e", "ok-f"};

	loop_start();
	for (int i = 0; i < 6; i++) {
		new_id(ids[i]);
		produce_project(ids[i], i % 2 ? "p-mixed-odd" : "p-mixed-even", titles[i]);
	}
	for (int i = 0; i < 6; i++)
		if (i != 3)
			wait_effect(ids[i]);
	/* the poison event is done when its dead letter is there */
	int64_t end = tm_mono_ms() + WAIT_MS;
	while (tm_mono_ms() < end &&
	       itest_int(fx.db, "SELECT count(*) FROM inbox WHERE status = 'dead'", 0, NULL) == 0)
		tm_sleep_ms(50);

	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM effects", 0, NULL), 5);
	assert_int_equal(itest_int(fx.db, "SELECT count(*) FROM inbox WHERE status = 'applied'", 0,
				   NULL),
			 5);
	assert_int_equal(
		itest_int(fx.db, "SELECT count(*) FROM inbox WHERE status = 'dead'", 0, NULL), 1);
	assert_effects_match_inbox();
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
	const struct CMUnitTest tests[] = {
		T(test_outbox_add_outside_a_transaction_is_refused),
		T(test_outbox_add_writes_a_row_holding_the_packed_event),
		T(test_outbox_row_is_invisible_to_others_until_commit),
		T(test_outbox_row_is_gone_after_rollback),
		T(test_relay_publishes_a_committed_row_with_cloudevents_headers_and_marks_it_sent),
		T(test_relay_wakes_on_the_commit_notify_without_waiting_for_idle_poll),
		T(test_relay_keeps_a_row_unsent_while_the_broker_is_down_and_delivers_it_after),
		T(test_relay_keeps_the_order_of_twenty_events_of_one_subject),
		T(test_relay_dead_letters_a_row_that_is_not_an_event_and_publishes_the_rest),
		T(test_relay_never_marks_sent_a_row_whose_topic_refuses_every_record),
		T(test_inbox_claim_outside_a_transaction_is_refused),
		T(test_inbox_claim_is_new_then_duplicate_after_commit),
		T(test_inbox_claim_rolled_back_is_new_again),
		T(test_concurrent_claim_waits_for_the_first_commit_then_is_duplicate),
		T(test_concurrent_claim_after_the_first_rolls_back_is_new),
		T(test_dead_letter_records_status_dead_with_the_error),
		T(test_consumer_applies_an_event_once_when_the_outbox_publishes_it_twice),
		T(test_consumer_applies_a_redelivered_event_once),
		T(test_consumer_retries_a_failing_handler_and_applies_once),
		T(test_consumer_dead_letters_an_always_failing_event_and_goes_on),
		T(test_consumer_dead_letters_an_event_whose_body_does_not_decode),
		T(test_consumer_skips_records_that_are_not_events_and_commits_past_them),
		T(test_consumer_effects_and_inbox_rows_commit_together),
	};
#undef T
	itest_filter();
	return cmocka_run_group_tests_name("outbox_inbox", tests, group_setup, group_teardown);
}
