/* The consumer loop of a service; see tm/consumer.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm/bus.h"
#include "tm/consumer.h"
#include "tm/inbox.h"
#include "tm/log.h"
#include "tm/stats.h"
#include "tm/util.h"

#define CONSUMER_POLL_MS 200 /* how often the stop flag is looked at */
#define CONSUMER_BACKOFF_BASE_MS 100
#define CONSUMER_BACKOFF_CAP_MS 3000
#define CONSUMER_FAILED_START_CLOSE_MS 5000 /* bound on closing after a failed start */

struct tm_consumer_loop {
	struct tm_consumer_loop_config cfg;
	struct tm_consumer *kc;
	struct tm_db *db;
	struct tm_arena *arena;
	pthread_t thread;
	atomic_bool stopping;
	char why[160]; /* the database's error of the last failed attempt, or "" */
	struct tm_stat *received, *applied, *duplicates, *ignored, *dead;
};

static const struct tm_event_handler *find_handler(struct tm_consumer_loop *l, const char *type)
{
	for (size_t i = 0; i < l->cfg.nhandlers; i++)
		if (strcmp(l->cfg.handlers[i].type->name, type) == 0)
			return &l->cfg.handlers[i];
	return NULL;
}

/* One attempt: claim + effects in one transaction. Returns 1 applied,
 * 0 duplicate, -1 failed (rolled back). */
static int attempt(struct tm_consumer_loop *l, const struct tm_event_handler *h,
		   const Taskmesh__V1__Event *ev, const ProtobufCMessage *body)
{
	struct tm_event_ctx ctx = {
		.event = ev, .db = l->db, .arena = l->arena, .service = l->cfg.state};

	if (tm_db_begin(l->db) != TM_DB_OK)
		return -1;
	enum tm_inbox_rc claim = tm_inbox_claim(l->db, ev->id, ev->type, ev->source);
	if (claim == TM_INBOX_DUPLICATE) {
		tm_db_rollback(l->db);
		return 0;
	}
	if (claim == TM_INBOX_NEW && h->fn(&ctx, body) == 0 && tm_db_commit(l->db) == TM_DB_OK)
		return 1;
	snprintf(l->why, sizeof(l->why), "%s", tm_db_error(l->db)); /* before the rollback */
	tm_db_rollback(l->db);
	return -1;
}

/* Dead-letters an event; keeps trying while the database is away. Returns
 * false only when the loop is stopping. */
static bool dead_letter(struct tm_consumer_loop *l, const Taskmesh__V1__Event *ev, const char *why)
{
	tm_error("event %s (%s) dead-lettered: %s", ev->id, ev->type, why);
	for (int n = 1; !atomic_load(&l->stopping); n++) {
		if (tm_inbox_dead_letter(l->db, ev->id, ev->type, ev->source ? ev->source : "",
					 why) == 0) {
			tm_stat_add(l->dead, 1);
			return true;
		}
		tm_sleep_ms(tm_backoff_ms(n, CONSUMER_BACKOFF_BASE_MS, CONSUMER_BACKOFF_CAP_MS));
	}
	return false;
}

/*
 * Handles one event. A handler failure is retried TM_CONSUMER_ATTEMPTS times,
 * then dead-lettered; while the database is unreachable nothing counts as an
 * attempt and the event is retried until it comes back, so no later offset is
 * ever stored past an event that was not applied. Returns true when the
 * offset may be stored, false only when the loop is stopping.
 */
static bool process(struct tm_consumer_loop *l, const Taskmesh__V1__Event *ev)
{
	const struct tm_event_handler *h = find_handler(l, ev->type);
	ProtobufCAllocator al = tm_arena_pb_allocator(l->arena);

	if (!h) {
		tm_stat_add(l->ignored, 1);
		return true;
	}
	if (!tm_uuid_valid(ev->id)) {
		tm_warn("event of type %s without a valid id; ignored", ev->type);
		tm_stat_add(l->ignored, 1);
		return true;
	}
	ProtobufCMessage *body =
		protobuf_c_message_unpack(h->type, &al, ev->body.len, ev->body.data);
	if (!body)
		return dead_letter(l, ev, "the body does not decode as its type");
	for (int n = 1, pause = 1; n <= TM_CONSUMER_ATTEMPTS; pause++) {
		int rc = attempt(l, h, ev, body);
		if (rc >= 0) {
			tm_stat_add(rc ? l->applied : l->duplicates, 1);
			if (rc == 0)
				tm_info("event %s (%s) already applied; skipped", ev->id, ev->type);
			return true;
		}
		if (atomic_load(&l->stopping))
			return false; /* not stored: redelivered after the restart */
		bool db_down = PQstatus(tm_db_conn(l->db)) != CONNECTION_OK;
		tm_warn("event %s (%s): attempt %d failed: %s%s%s", ev->id, ev->type, n,
			db_down ? "the database is unreachable" : "the handler reported an error",
			!db_down && l->why[0] ? ": " : "", !db_down ? l->why : "");
		if (!db_down)
			n++;
		tm_sleep_ms(
			tm_backoff_ms(pause, CONSUMER_BACKOFF_BASE_MS, CONSUMER_BACKOFF_CAP_MS));
		if (db_down) /* the next query reconnects */
			tm_db_exec(l->db, "SELECT 1", NULL, 0);
	}
	return dead_letter(l, ev, "the handler failed on every attempt");
}

static void *loop_main(void *arg)
{
	struct tm_consumer_loop *l = arg;

	while (!atomic_load(&l->stopping)) {
		rd_kafka_message_t *m = tm_consumer_poll(l->kc, CONSUMER_POLL_MS);
		if (!m)
			continue;
		tm_stat_add(l->received, 1);
		Taskmesh__V1__Event *ev = tm_event_decode(m, l->arena);
		bool done = true;
		if (!ev) {
			tm_warn("record at %s[%d]@%lld is not a taskmesh Event; skipped",
				rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset);
			tm_stat_add(l->ignored, 1);
		} else {
			tm_log_set_request_id(ev->trace_id);
			done = process(l, ev);
			tm_log_set_request_id(NULL);
		}
		if (done)
			tm_consumer_store(l->kc, m);
		rd_kafka_message_destroy(m);
		tm_arena_reset(l->arena);
	}
	return NULL;
}

static void register_stats(struct tm_consumer_loop *l)
{
	l->received = tm_stat_register("tm_events_received_total", "Kafka records received",
				       TM_STAT_COUNTER, NULL, NULL);
	l->applied = tm_stat_register("tm_events_applied_total",
				      "Events whose handler committed (first delivery)",
				      TM_STAT_COUNTER, NULL, NULL);
	l->duplicates = tm_stat_register("tm_events_duplicate_total",
					 "Events skipped because the inbox had them",
					 TM_STAT_COUNTER, NULL, NULL);
	l->ignored = tm_stat_register("tm_events_ignored_total",
				      "Records of types this service does not handle",
				      TM_STAT_COUNTER, NULL, NULL);
	l->dead = tm_stat_register("tm_events_dead_lettered_total",
				   "Events given up on after every attempt failed", TM_STAT_COUNTER,
				   NULL, NULL);
}

int tm_consumer_loop_start(struct tm_consumer_loop **out, const struct tm_consumer_loop_config *cfg,
			   char *err, size_t errlen)
{
	struct tm_consumer_loop *l = calloc(1, sizeof(*l));
	char group[64], session[48], heartbeat[48];

	*out = NULL;
	if (!l || !(l->arena = tm_arena_new(0))) {
		snprintf(err, errlen, "out of memory");
		free(l);
		return -1;
	}
	l->cfg = *cfg;
	register_stats(l);
	int session_ms = cfg->session_timeout_ms > 0 ? cfg->session_timeout_ms : 45000;
	snprintf(session, sizeof(session), "session.timeout.ms=%d", session_ms);
	snprintf(heartbeat, sizeof(heartbeat), "heartbeat.interval.ms=%d", session_ms / 3);
	const char *const extra[] = {session, heartbeat, NULL};
	snprintf(group, sizeof(group), "tm-%s", cfg->service);
	if (tm_db_open(&l->db, cfg->conninfo, cfg->schema, err, errlen) != 0 ||
	    tm_consumer_open(&l->kc, cfg->brokers, group, cfg->topics, cfg->ntopics,
			     cfg->fetch_wait_ms, extra, err, errlen) != 0)
		goto fail;
	if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
		snprintf(err, errlen, "cannot start the consumer thread");
		goto fail;
	}
	*out = l;
	return 0;
fail:
	if (l->kc)
		tm_consumer_close(l->kc, tm_mono_ms() + CONSUMER_FAILED_START_CLOSE_MS);
	tm_db_close(l->db);
	tm_arena_free(l->arena);
	free(l);
	return -1;
}

int tm_consumer_loop_stop(struct tm_consumer_loop *l, int64_t deadline_ms)
{
	if (!l)
		return 0;
	atomic_store(&l->stopping, true);
	if (tm_join_until(l->thread, deadline_ms) != 0) {
		tm_warn("consumer: an event was still being handled at the shutdown deadline; given "
			"up on (its transaction rolls back, the event comes again)");
		return -1; /* the thread still uses the consumer, the connection, the arena */
	}
	int rc = tm_consumer_close(l->kc, deadline_ms);
	tm_db_close(l->db);
	tm_arena_free(l->arena);
	free(l);
	return rc;
}
