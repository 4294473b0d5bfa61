/* Transactional outbox and its relay; see tm/outbox.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tm/buf.h"
#include "tm/bus.h"
#include "tm/log.h"
#include "tm/outbox.h"
#include "tm/stats.h"
#include "tm/util.h"

#define RELAY_BATCH_MAX 1000		       /* upper bound of cfg->batch_max */
#define RELAY_RETRY_PAUSE_MAX_MS 5000	       /* pause after failed rounds grows to this */
#define RELAY_HOUSEKEEPING_MS (10 * 60 * 1000) /* how often old rows are pruned */
#define OUTBOX_SENT_RETENTION "7 days"	       /* sent rows kept for inspection */
#define IDEMPOTENCY_RETENTION "24 hours"       /* keys replay for this long */
#define RELAY_STOP_RESERVE_MS 300 /* before the stop's deadline: record the round, close */

void tm_outbox_channel(const char *schema, char *out, size_t outlen)
{
	snprintf(out, outlen, "tm_outbox_%s", schema);
}

int tm_outbox_add(struct tm_db *db, const char *topic, const char *subject,
		  const ProtobufCMessage *body, const char *source, const char *trace_id,
		  char event_id[TM_UUID_LEN + 1])
{
	char id[TM_UUID_LEN + 1], ts[32], channel[96];
	Taskmesh__V1__Event ev = TASKMESH__V1__EVENT__INIT;
	int rc = TM_DB_ERR;

	if (!tm_db_in_tx(db)) {
		tm_error("tm_outbox_add outside a transaction (bug)");
		return TM_DB_ERR;
	}
	if (tm_uuid_v4(id) != 0)
		return TM_DB_ERR;
	tm_rfc3339(tm_now_ms(), ts);
	ev.id = id;
	ev.type = (char *)body->descriptor->name;
	ev.source = (char *)source;
	ev.subject = (char *)subject;
	ev.time = ts;
	ev.trace_id = (char *)(trace_id ? trace_id : "");
	ev.body.len = protobuf_c_message_get_packed_size(body);
	ev.body.data = malloc(ev.body.len ? ev.body.len : 1);
	if (!ev.body.data)
		return TM_DB_ERR;
	protobuf_c_message_pack(body, ev.body.data);
	size_t len = taskmesh__v1__event__get_packed_size(&ev);
	uint8_t *payload = malloc(len ? len : 1);
	if (!payload)
		goto out_body;
	taskmesh__v1__event__pack(&ev, payload);

	rc = tm_db_exec(db,
			"INSERT INTO outbox (event_id, topic, subject, type, payload) "
			"VALUES ($1, $2, $3, $4, $5)",
			TM_PARAMS(TM_P_TEXT(id), TM_P_TEXT(topic), TM_P_TEXT(subject),
				  TM_P_TEXT(ev.type), TM_P_BYTES(payload, len)));
	if (rc == TM_DB_OK) {
		tm_outbox_channel(tm_db_schema(db), channel, sizeof(channel));
		/* delivered at commit, so the relay wakes only for committed rows */
		rc = tm_db_exec(db, "SELECT pg_notify($1, '')", TM_PARAMS(TM_P_TEXT(channel)));
	}
	if (rc == TM_DB_OK && event_id)
		memcpy(event_id, id, sizeof(id));
	free(payload);
out_body:
	free(ev.body.data);
	return rc;
}

/* One record of a relay round: its row id and the delivery outcome. Slots are
 * in id order (the fetch is ORDER BY id), so a report finds its slot by binary
 * search on the row id it carries as opaque. */
struct slot {
	int64_t id;
	rd_kafka_resp_err_t err;
	bool done;	  /* delivery report received (or the row was never produced) */
	bool undecodable; /* the payload is not an Event: dead-lettered, not a Kafka failure */
};

#define RELAY_LATE_MAX 1024 /* late successes remembered until the next round records them */

struct tm_outbox_relay {
	struct tm_outbox_relay_config cfg;
	struct tm_db *db;
	struct tm_producer *producer;
	pthread_t thread;
	int stop_fd; /* eventfd: written once to stop */
	atomic_bool stopping;
	_Atomic int64_t stop_deadline_ms; /* tm_mono_ms when the stop gives up; 0 = running */
	bool last_round_ok;		  /* the stop's last round delivered what it found */
	unsigned long listen_epoch; /* tm_db_reconnects() when LISTEN was issued; ~0 = never */
	int64_t next_housekeeping_ms;
	struct slot slots[RELAY_BATCH_MAX];
	int nslots, pending_reports;
	/* Successful reports that came after their round gave up on them: the
	 * record is in Kafka, so the next round marks its row sent. */
	int64_t late_ok[RELAY_LATE_MAX];
	int nlate;
	struct tm_stat *published, *failed, *pending_gauge;
};

static atomic_bool kafka_healthy = true;

bool tm_outbox_kafka_healthy(void)
{
	return atomic_load(&kafka_healthy);
}

static struct slot *find_slot(struct tm_outbox_relay *r, int64_t id)
{
	int lo = 0, hi = r->nslots - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (r->slots[mid].id == id)
			return &r->slots[mid];
		if (r->slots[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * A delivery report (from tm_producer_poll/flush, on the relay thread). It may
 * belong to an earlier round that stopped waiting for it: then its row is not
 * in this round, or is in it again as a second send. A success always counts
 * for the row; a round's counter drops once per slot.
 */
static void on_delivery(void *opaque, rd_kafka_resp_err_t err, void *ud)
{
	struct tm_outbox_relay *r = ud;
	int64_t id = (int64_t)(intptr_t)opaque;
	struct slot *s = find_slot(r, id);

	if (!s) {
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && r->nlate < RELAY_LATE_MAX)
			r->late_ok[r->nlate++] = id;
		return;
	}
	if (!s->done) {
		s->done = true;
		s->err = err;
		r->pending_reports--;
	} else if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->err = err; /* an earlier send of this row got through after all */
	}
}

/* (Re)issues LISTEN after start or a reconnect. */
static void ensure_listen(struct tm_outbox_relay *r)
{
	char channel[96], sql[128];

	if (r->listen_epoch == tm_db_reconnects())
		return;
	tm_outbox_channel(r->cfg.schema, channel, sizeof(channel));
	snprintf(sql, sizeof(sql), "LISTEN %s", channel); /* schema validated: plain identifier */
	if (tm_db_script(r->db, sql) == TM_DB_OK)
		r->listen_epoch = tm_db_reconnects();
}

/* Sleeps until a NOTIFY, the stop signal, or timeout_ms. */
static void wait_for_work(struct tm_outbox_relay *r, int timeout_ms)
{
	PGconn *c = tm_db_conn(r->db);
	struct pollfd fds[2] = {{.fd = r->stop_fd, .events = POLLIN},
				{.fd = PQsocket(c), .events = POLLIN}};
	int nfds = fds[1].fd >= 0 ? 2 : 1;

	if (poll(fds, (nfds_t)nfds, timeout_ms) > 0 && nfds == 2 && (fds[1].revents & POLLIN)) {
		PQconsumeInput(c);
		PGnotify *n;
		while ((n = PQnotifies(c)) != NULL)
			PQfreemem(n);
	}
}

/* Produces the rows of one round; returns the number queued. */
static int produce_rows(struct tm_outbox_relay *r, PGresult *res, struct tm_arena *arena)
{
	int queued = 0;
	ProtobufCAllocator al = tm_arena_pb_allocator(arena);

	r->nslots = 0;
	r->pending_reports = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		struct slot *s = &r->slots[r->nslots++];
		s->done = false;
		s->undecodable = false;
		s->err = RD_KAFKA_RESP_ERR_NO_ERROR;
		tm_parse_int64(PQgetvalue(res, i, 0), &s->id);
	}
	for (int i = 0; i < r->nslots; i++) {
		struct slot *s = &r->slots[i];
		size_t len = 0;
		unsigned char *payload =
			PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 2), &len);
		Taskmesh__V1__Event *ev = payload ? taskmesh__v1__event__unpack(&al, len, payload) :
						    NULL;
		if (!ev) {
			tm_error("outbox row %lld does not hold a taskmesh.v1.Event; dead-lettered",
				 (long long)s->id);
			s->undecodable = true;
			s->done = true;
		} else if (tm_producer_send(r->producer, PQgetvalue(res, i, 1), ev, payload, len,
					    (void *)(intptr_t)s->id) != 0) {
			s->err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
			s->done = true;
		} else {
			r->pending_reports++;
			queued++;
		}
		PQfreemem(payload);
	}
	return queued;
}

/* Appends one id to a PostgreSQL array literal being built ("{1,2,3}"). */
static void put_id(struct tm_buf *b, int64_t id)
{
	tm_buf_printf(b, "%s%lld", b->len > 1 ? "," : "", (long long)id);
}

/* Runs `sql` with the array literal of b as $1 (and `extra` as $2) unless b is empty. */
static int update_ids(struct tm_outbox_relay *r, struct tm_buf *b, const char *sql,
		      const char *extra)
{
	tm_buf_putc(b, '}');
	if (b->failed)
		return -1;
	if (b->len <= 2)
		return 0;
	const struct tm_dbp p[] = {TM_P_TEXT(b->data), TM_P_TEXT(extra)};
	return tm_db_exec(r->db, sql, p, extra ? 2 : 1) == TM_DB_OK ? 0 : -1;
}

/*
 * Records a round in its transaction: delivered rows (and late successes of
 * earlier rounds) sent, failed ones attempted with the error, undecodable ones
 * dead. Returns the Kafka failures, or -1 when the database refused.
 */
static int record_outcome(struct tm_outbox_relay *r, int *sent)
{
	struct tm_buf ok, bad, dead;
	const char *last_error = "no delivery report";
	int failures = 0, rc = 0;

	*sent = 0;
	tm_buf_init(&ok);
	tm_buf_init(&bad);
	tm_buf_init(&dead);
	tm_buf_putc(&ok, '{');
	tm_buf_putc(&bad, '{');
	tm_buf_putc(&dead, '{');
	for (int i = 0; i < r->nslots; i++) {
		struct slot *s = &r->slots[i];
		if (s->undecodable) {
			put_id(&dead, s->id);
		} else if (s->done && s->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			put_id(&ok, s->id);
			(*sent)++;
		} else {
			put_id(&bad, s->id);
			failures++;
			if (s->done)
				last_error = rd_kafka_err2str(s->err);
		}
	}
	for (int i = 0; i < r->nlate; i++)
		put_id(&ok, r->late_ok[i]);
	if (update_ids(r, &ok,
		       "UPDATE outbox SET sent_at = now(), attempts = attempts + 1 "
		       "WHERE id = ANY($1::bigint[]) AND sent_at IS NULL",
		       NULL) != 0 ||
	    update_ids(r, &bad,
		       "UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
		       "WHERE id = ANY($1::bigint[])",
		       last_error) != 0 ||
	    update_ids(r, &dead,
		       "UPDATE outbox SET dead_at = now(), last_error = $2 "
		       "WHERE id = ANY($1::bigint[])",
		       "the payload is not a taskmesh.v1.Event") != 0)
		rc = -1;
	else
		r->nlate = 0;
	tm_buf_free(&ok);
	tm_buf_free(&bad);
	tm_buf_free(&dead);
	return rc < 0 ? -1 : failures;
}

/* True once the stop's deadline is near: a round stops waiting for reports,
 * leaving RELAY_STOP_RESERVE_MS to record what it got and close the producer. */
static bool past_stop_deadline(struct tm_outbox_relay *r)
{
	int64_t d = atomic_load(&r->stop_deadline_ms);
	return d > 0 && tm_mono_ms() >= d - RELAY_STOP_RESERVE_MS;
}

/*
 * One round: lock up to batch_max pending rows (SKIP LOCKED lets a second relay
 * of the same schema take others), produce them, wait for every delivery
 * report (bounded by the producer's message.timeout.ms), record the outcome.
 * Returns the rows fetched, or -1 when the round failed.
 */
static int relay_round(struct tm_outbox_relay *r)
{
	PGresult *res = NULL;
	int fetched = -1, sent = 0;
	struct tm_arena *arena = tm_arena_new(0);

	if (!arena || tm_db_begin(r->db) != TM_DB_OK)
		goto out;
	if (tm_db_rows(
		    r->db, &res,
		    "SELECT id, topic, payload FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL "
		    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
		    TM_PARAMS(TM_P_INT(r->cfg.batch_max))) != TM_DB_OK)
		goto out_rollback;
	fetched = PQntuples(res);
	if (fetched == 0) {
		tm_db_rollback(r->db);
		goto out;
	}
	produce_rows(r, res, arena);
	int64_t give_up = tm_mono_ms() + r->cfg.delivery_timeout_ms + 2000;
	while (r->pending_reports > 0 && tm_mono_ms() < give_up && !past_stop_deadline(r))
		tm_producer_poll(r->producer, 50);
	int failures = record_outcome(r, &sent);
	if (failures < 0 || tm_db_commit(r->db) != TM_DB_OK) {
		tm_warn("outbox relay: cannot record deliveries (%s); they will be sent again",
			tm_db_error(r->db));
		fetched = -1;
		goto out_rollback;
	}
	tm_stat_add(r->published, sent);
	tm_stat_add(r->failed, failures);
	atomic_store(&kafka_healthy, failures == 0);
	if (failures > 0) {
		tm_warn("outbox relay: %d of %d events not delivered%s", failures, fetched,
			atomic_load(&r->stopping) ? "" : "; retrying");
		fetched = -1;
	}
	goto out;
out_rollback:
	tm_db_rollback(r->db);
out:
	PQclear(res);
	tm_arena_free(arena);
	return fetched;
}

/* Prunes sent rows and expired idempotency keys now and then. */
static void housekeeping(struct tm_outbox_relay *r)
{
	PGresult *res = NULL;

	if (tm_mono_ms() < r->next_housekeeping_ms)
		return;
	r->next_housekeeping_ms = tm_mono_ms() + RELAY_HOUSEKEEPING_MS;
	tm_db_exec(r->db,
		   "DELETE FROM outbox WHERE sent_at < now() - interval '" OUTBOX_SENT_RETENTION
		   "'",
		   NULL, 0);
	tm_db_exec(r->db,
		   "DELETE FROM idempotency_keys WHERE created_at < now() - interval "
		   "'" IDEMPOTENCY_RETENTION "'",
		   NULL, 0);
	if (tm_db_one(r->db, &res,
		      "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL", NULL,
		      0) == TM_DB_OK)
		tm_stat_set(r->pending_gauge, tm_db_int(res, 0, 0));
	PQclear(res);
}

static void *relay_main(void *arg)
{
	struct tm_outbox_relay *r = arg;
	int failed_rounds = 0;

	tm_log_set_request_id(NULL);
	while (!atomic_load(&r->stopping)) {
		ensure_listen(r);
		int n = relay_round(r);
		housekeeping(r);
		if (n < 0) {
			failed_rounds++;
			wait_for_work(r, (int)tm_backoff_ms(failed_rounds, 100,
							    RELAY_RETRY_PAUSE_MAX_MS));
			continue;
		}
		failed_rounds = 0;
		if (n < r->cfg.batch_max)
			wait_for_work(r, r->cfg.idle_poll_ms);
	}
	/* last round: what committed before the stop is published if Kafka takes it
	 * before the deadline; what it does not deliver goes out after the restart */
	if (past_stop_deadline(r))
		tm_warn("outbox relay: no time left for a last round at the shutdown deadline; "
			"pending events stay in the outbox");
	else if (!(r->last_round_ok = relay_round(r) >= 0))
		tm_warn("outbox relay: the last round did not deliver everything (Kafka or "
			"PostgreSQL away); pending events stay in the outbox");
	return NULL;
}

int tm_outbox_relay_start(struct tm_outbox_relay **out, const struct tm_outbox_relay_config *cfg,
			  char *err, size_t errlen)
{
	struct tm_outbox_relay *r = calloc(1, sizeof(*r));
	char timeout[48];

	*out = NULL;
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->cfg = *cfg;
	if (r->cfg.batch_max < 1 || r->cfg.batch_max > RELAY_BATCH_MAX)
		r->cfg.batch_max = RELAY_BATCH_MAX;
	r->stop_fd = -1;
	r->listen_epoch = ~0UL;
	/* a round waits for every report: make librdkafka give up within the round */
	snprintf(timeout, sizeof(timeout), "message.timeout.ms=%d", cfg->delivery_timeout_ms);
	const char *const extra[] = {timeout, NULL};
	if (tm_db_open(&r->db, cfg->conninfo, cfg->schema, err, errlen) != 0 ||
	    tm_producer_open(&r->producer, cfg->brokers, cfg->client_id, on_delivery, r, extra, err,
			     errlen) != 0 ||
	    (r->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
		if (r->stop_fd < 0 && r->producer)
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	r->published = tm_stat_register("tm_outbox_published_total",
					"Events published from the outbox", TM_STAT_COUNTER, NULL,
					NULL);
	r->failed = tm_stat_register("tm_outbox_failures_total",
				     "Outbox events whose delivery failed (retried)",
				     TM_STAT_COUNTER, NULL, NULL);
	r->pending_gauge = tm_stat_register("tm_outbox_pending", "Outbox events not yet published",
					    TM_STAT_GAUGE, NULL, NULL);
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		snprintf(err, errlen, "cannot start the outbox relay thread");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	tm_producer_close(r->producer, 0);
	tm_db_close(r->db);
	free(r);
	return -1;
}

int tm_outbox_relay_stop(struct tm_outbox_relay *r, int64_t deadline_ms)
{
	uint64_t one = 1;

	if (!r)
		return 0;
	atomic_store(&r->stop_deadline_ms, deadline_ms);
	atomic_store(&r->stopping, true);
	if (write(r->stop_fd, &one, sizeof(one)) < 0)
		tm_warn("outbox relay: cannot signal stop: %s", strerror(errno));
	if (tm_join_until(r->thread, deadline_ms) != 0) {
		tm_warn("outbox relay: its thread was still busy at the shutdown deadline; given up "
			"on (pending events stay in the outbox)");
		return -1;
	}
	int64_t left = deadline_ms - tm_mono_ms();
	int rc = r->last_round_ok ? 0 : -1;
	if (tm_producer_close(r->producer, left > 0 ? (int)left : 0) != 0)
		rc = -1;
	tm_db_close(r->db);
	close(r->stop_fd);
	free(r);
	return rc;
}
