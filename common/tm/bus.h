/*
 * The Kafka bus over librdkafka.
 * Producer: idempotent (enable.idempotence=true, hence acks=all), records keyed
 * by aggregate id, value = serialized taskmesh.v1.Event, CloudEvents binary-mode
 * headers (ce_specversion, ce_id, ce_type, ce_source, ce_time, ce_subject,
 * content-type: application/protobuf).
 * Consumer: one group per service, enable.auto.offset.store=false, offsets
 * stored (offset + 1) only after the handler's transaction committed, and
 * committed by the auto-commit timer and on close.
 */
#ifndef TM_BUS_H
#define TM_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "taskmesh/v1/envelope.pb-c.h"
#include "tm/arena.h"

struct tm_producer;
struct tm_consumer;

/* Called from tm_producer_poll/flush for each delivery: err 0 = stored by all in-sync replicas. */
typedef void (*tm_delivery_fn)(void *opaque, rd_kafka_resp_err_t err, void *ud);

/* `extra` are additional "key=value" librdkafka properties (NULL-terminated; may be NULL). */
int tm_producer_open(struct tm_producer **out, const char *brokers, const char *client_id,
		     tm_delivery_fn on_delivery, void *ud, const char *const *extra, char *err,
		     size_t errlen);
/* Queues one event record (value = packed `ev`); `opaque` comes back in on_delivery.
 * Returns 0, or a librdkafka error code (queue full, fatal error). */
int tm_producer_send(struct tm_producer *p, const char *topic, const Taskmesh__V1__Event *ev,
		     const void *value, size_t value_len, void *opaque);
int tm_producer_poll(struct tm_producer *p, int timeout_ms);
/* Waits until every queued record is delivered or failed. Returns 0 or -1 on timeout. */
int tm_producer_flush(struct tm_producer *p, int timeout_ms);
/* Non-zero after a fatal producer error (idempotence broken): the daemon must exit. */
int tm_producer_fatal(struct tm_producer *p, char *err, size_t errlen);
/* Flushes (at most flush_timeout_ms) and destroys. Returns 0, or -1 when
 * records were left undelivered (dropped: their rows stay in the outbox). */
int tm_producer_close(struct tm_producer *p, int flush_timeout_ms);

int tm_consumer_open(struct tm_consumer **out, const char *brokers, const char *group_id,
		     const char *const *topics, size_t ntopics, int fetch_wait_ms,
		     const char *const *extra, char *err, size_t errlen);
/* Returns the next record (caller destroys it with rd_kafka_message_destroy),
 * NULL on timeout. Records carrying a broker/partition error are logged and skipped. */
rd_kafka_message_t *tm_consumer_poll(struct tm_consumer *c, int timeout_ms);
/* Stores msg->offset + 1 for commit. Returns 0 or a librdkafka error code
 * (e.g. _STATE when the partition was revoked meanwhile; harmless). */
int tm_consumer_store(struct tm_consumer *c, const rd_kafka_message_t *msg);
/* Commits stored offsets, leaves the group and destroys the consumer, by
 * deadline_ms (tm_mono_ms). Returns 0, or -1 when the close did not finish
 * in time (one line says so; the handle is left alone, for the process to
 * exit). */
int tm_consumer_close(struct tm_consumer *c, int64_t deadline_ms);

/* Startup check: fetches cluster metadata, retrying until `timeout_ms` passes.
 * Returns 0, or -1 with a one-line reason. */
int tm_kafka_wait_ready(const char *brokers, int timeout_ms, char *err, size_t errlen);

/* Decodes a record value into an Event allocated in `arena`. NULL if malformed. */
Taskmesh__V1__Event *tm_event_decode(const rd_kafka_message_t *msg, struct tm_arena *arena);

#endif
