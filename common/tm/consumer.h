/*
 * The consumer loop of a service: polls its consumer group, dedupes each event
 * through the inbox in the same transaction as the handler's effects, stores
 * the offset only after the commit, retries a failing handler with backoff and
 * dead-letters it after TM_CONSUMER_ATTEMPTS so one poison event cannot stall
 * a partition forever.
 */
#ifndef TM_CONSUMER_H
#define TM_CONSUMER_H

#include "tm/service.h"

#define TM_CONSUMER_ATTEMPTS 5 /* handler attempts before an event is dead-lettered */

struct tm_consumer_loop;

struct tm_consumer_loop_config {
	const char *service; /* "matching": group "tm-matching", source of dead letters */
	const char *conninfo;
	const char *schema;
	const char *brokers;
	int fetch_wait_ms;
	int session_timeout_ms; /* consumer group session timeout (heartbeats every third of it) */
	const char *const *topics;
	size_t ntopics;
	const struct tm_event_handler *handlers;
	size_t nhandlers;
	void *state; /* tm_event_ctx.service */
};

int tm_consumer_loop_start(struct tm_consumer_loop **out, const struct tm_consumer_loop_config *cfg,
			   char *err, size_t errlen);
/* Finishes the event in hand, commits stored offsets, leaves the group, all by
 * deadline_ms (tm_mono_ms). Returns 0, or -1 when it gave up on part of it
 * (one line says what; the process must exit). NULL: returns 0. */
int tm_consumer_loop_stop(struct tm_consumer_loop *l, int64_t deadline_ms);

#endif
