/*
 * The transactional outbox. tm_outbox_add writes an event into <schema>.outbox
 * inside the caller's transaction (so the change and its announcement commit
 * together) and NOTIFYs the relay. The relay thread publishes pending rows in
 * id order with the idempotent producer and marks a row sent only after its
 * delivery report succeeded; a crash in between publishes it again, which
 * consumers absorb through their inbox.
 */
#ifndef TM_OUTBOX_H
#define TM_OUTBOX_H

#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "tm/db.h"
#include "tm/util.h"

/*
 * Adds an event to the outbox. `topic` e.g. "tm.projects.v1"; `subject` the
 * aggregate id (Kafka key); `body` the event message (its descriptor's full
 * name becomes Event.type); `source` e.g. "tm-projects"; `trace_id` the request
 * id or NULL. Writes the event id to event_id (may be NULL). Must run inside a
 * transaction. Returns 0 or a tm_db_rc.
 */
int tm_outbox_add(struct tm_db *db, const char *topic, const char *subject,
		  const ProtobufCMessage *body, const char *source, const char *trace_id,
		  char event_id[TM_UUID_LEN + 1]);

/* The NOTIFY channel of a schema's outbox: "tm_outbox_<schema>". */
void tm_outbox_channel(const char *schema, char *out, size_t outlen);

struct tm_outbox_relay;
struct tm_producer;

struct tm_outbox_relay_config {
	const char *conninfo;
	const char *schema;
	const char *brokers;
	const char *client_id;	 /* e.g. "tm-projects-relay" */
	int batch_max;		 /* rows per round; 1..1000 */
	int idle_poll_ms;	 /* wake-up without a NOTIFY (safety net) */
	int delivery_timeout_ms; /* wait for delivery reports per round */
};

/* Starts the relay thread (own connection, own producer). Returns 0 or -1. */
int tm_outbox_relay_start(struct tm_outbox_relay **out, const struct tm_outbox_relay_config *cfg,
			  char *err, size_t errlen);
/* Publishes what is pending, flushes the producer and joins the thread, all
 * by deadline_ms (tm_mono_ms). Returns 0, or -1 when events were left in the
 * outbox for the next start (one line says so). NULL: returns 0. */
int tm_outbox_relay_stop(struct tm_outbox_relay *r, int64_t deadline_ms);

/* False after the last relay round failed to deliver (Kafka unreachable). */
bool tm_outbox_kafka_healthy(void);

#endif
