/*
 * The life of a daemon, shared by the gateway and the five services:
 *   start:    config (environment) -> logging -> PostgreSQL reachable (bounded
 *             retry) -> Kafka reachable (bounded retry) -> migrations -> outbox
 *             relay -> RPC server / HTTP front -> consumer loop;
 *   run:      until SIGTERM, SIGINT or SIGHUP;
 *   shutdown: stop taking work, finish in-flight requests, stop the consumer
 *             (offsets committed), flush the relay's producer, exit 0 — all
 *             parts within one deadline, TM_SHUTDOWN_TIMEOUT_MS after the
 *             signal; a part still busy then is given up on with one line,
 *             and the daemon exits 1.
 * Any start step that fails prints one line saying why and exits non-zero.
 */
#ifndef TM_SERVICE_H
#define TM_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "taskmesh/v1/envelope.pb-c.h"
#include "tm/arena.h"
#include "tm/config.h"
#include "tm/db.h"
#include "tm/outbox.h"
#include "tm/rpc_server.h"

/* Settings every daemon reads (README lists them). */
struct tm_daemon_config {
	const char *database_url;   /* TM_DATABASE_URL (libpq conninfo or URI) */
	const char *kafka_brokers;  /* TM_KAFKA_BROKERS */
	const char *log_level;	    /* TM_LOG_LEVEL */
	const char *log_format;	    /* TM_LOG_FORMAT */
	const char *migrations_dir; /* TM_MIGRATIONS_DIR */
	int64_t startup_timeout_ms; /* TM_STARTUP_TIMEOUT_MS: bounded retry for PostgreSQL and Kafka */
	int64_t kafka_fetch_wait_ms;	  /* TM_KAFKA_FETCH_WAIT_MS */
	int64_t kafka_session_timeout_ms; /* TM_KAFKA_SESSION_TIMEOUT_MS: consumer group liveness */
	int64_t shutdown_timeout_ms;	  /* TM_SHUTDOWN_TIMEOUT_MS: bound on draining work */
};

struct tm_taxonomy;

struct tm_daemon {
	const char *name;     /* "projects" */
	const char *schema;   /* owned schema: the name, "identity" for the gateway */
	char daemon_name[32]; /* "tm-projects" */
	char topic[48];	      /* "tm.projects.v1": the topic it publishes */
	struct tm_daemon_config cfg;
	struct tm_outbox_relay *relay;
	int64_t started_mono_ms;
	int64_t stop_deadline_ms; /* tm_mono_ms by which the stop ends; 0 until it began */
	int abandoned;		  /* parts of the stop that gave up on work at the deadline */
	/* the skill taxonomy, for services whose def asks for it (else NULL);
	 * loaded before init, freed after fini */
	const struct tm_taxonomy *taxonomy;
};

/*
 * Blocks SIGTERM/SIGINT/SIGHUP (SIGHUP unless it is ignored, as under nohup)
 * before any thread exists, handles --help, loads the
 * common settings plus `extra`, initializes logging, waits for PostgreSQL and
 * Kafka, applies the migrations of schema `name`, starts the outbox relay.
 * Returns 0, or prints one line to stderr and returns an exit status (> 0);
 * -1 means --help was printed (exit 0).
 */
int tm_daemon_start(struct tm_daemon *d, const char *name, const struct tm_cfg_item *extra,
		    size_t nextra, int argc, char **argv);
/* Waits for SIGTERM, SIGINT or SIGHUP and starts the stop: every part of it
 * ends by one deadline, TM_SHUTDOWN_TIMEOUT_MS from now. Returns the signal. */
int tm_daemon_wait_signal(struct tm_daemon *d);
/* The stop's deadline (tm_mono_ms); starts the clock if no signal did (a
 * start that failed half-way). */
int64_t tm_daemon_deadline(struct tm_daemon *d);
/* Stops the outbox relay: what committed is published if Kafka takes it
 * before the deadline; the rest stays in the outbox. */
void tm_daemon_stop(struct tm_daemon *d);
/* When a part of the stop gave up on work (d->abandoned > 0): one line, then
 * _exit(1) without exit handlers, because threads given up on may still be
 * running. Returns otherwise. */
void tm_daemon_exit_if_abandoned(const struct tm_daemon *d);

/* ---- services (projects, matching, payments, messaging, learning) ---- */

/* Where each service serves RPC unless TM_<NAME>_RPC says otherwise; the
 * gateway dials the same defaults. */
#define TM_RPC_DEFAULT_PROJECTS "tcp://127.0.0.1:7101"
#define TM_RPC_DEFAULT_MATCHING "tcp://127.0.0.1:7102"
#define TM_RPC_DEFAULT_PAYMENTS "tcp://127.0.0.1:7103"
#define TM_RPC_DEFAULT_MESSAGING "tcp://127.0.0.1:7104"
#define TM_RPC_DEFAULT_LEARNING "tcp://127.0.0.1:7105"

struct tm_event_ctx {
	const Taskmesh__V1__Event *event; /* the envelope */
	struct tm_db *db;	/* in the handler's transaction; the inbox row is claimed */
	struct tm_arena *arena; /* freed after the handler */
	void *service;		/* the service's state */
};

/* Returns 0 when applied, -1 on a failure worth retrying (the transaction is
 * rolled back and the event redelivered after a backoff). */
typedef int (*tm_event_handler_fn)(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

struct tm_event_handler {
	const ProtobufCMessageDescriptor *type; /* body message; its full name is Event.type */
	tm_event_handler_fn fn;
};

struct tm_service_def {
	const char *name;	 /* "projects": schema, topic tm.<name>.v1, TM_<NAME>_RPC */
	const char *rpc_default; /* "tcp://127.0.0.1:7101" */
	const struct tm_rpc_method *methods;
	size_t nmethods;
	const char *const *subscribe; /* topics consumed */
	size_t nsubscribe;
	const struct tm_event_handler *handlers;
	size_t nhandlers;
	/* Loads the skill taxonomy from TM_TAXONOMY_DIR (default: the seed folder
	 * of TM_MIGRATIONS_DIR) before init; a taxonomy that does not load stops
	 * the start with its file:line. */
	bool taxonomy;
	const struct tm_cfg_item *config; /* service-specific settings; may be NULL */
	size_t nconfig;
	/* Builds the service state after the daemon started; may be NULL. */
	int (*init)(struct tm_daemon *d, void **state, char *err, size_t errlen);
	/* Stops what init started and frees the state; may be NULL. It runs on a
	 * thread of its own, bounded by the stop's deadline: a fini still busy
	 * then (a worker waiting on Gemini) is given up on, and so is the state. */
	void (*fini)(void *state);
};

/* Runs a service to completion; returns the process exit status. */
int tm_service_main(const struct tm_service_def *def, int argc, char **argv);

/* The full protobuf name of a message type ("taskmesh.v1.ProjectCreated"). */
const char *tm_type_name(const ProtobufCMessageDescriptor *d);

#endif
