/*
 * The nng RPC server of a service: a REP socket with a fixed pool of contexts,
 * each an explicit state machine RECV -> WORK -> SEND -> RECV driven by its
 * aio callback, and a fixed pool of worker threads, each with its own
 * PostgreSQL connection. A received request of a TM_RPC_INLINE method is
 * answered in the callback; any other is queued to the workers, which may
 * block on PostgreSQL because they are never inside an nng callback, and whose
 * reply is sent asynchronously.
 *
 * A method row names the request and reply messages; the server decodes the
 * request into the call's arena, calls the handler, packs the reply and
 * answers. Methods flagged TM_RPC_TX run inside a transaction the server opens
 * and commits (rolled back when the handler fails); TM_RPC_IDEMPOTENT ones
 * also honour RpcRequest.idempotency_key (same key + same body -> the stored
 * reply; other body -> 422; a concurrent call with the key -> 409).
 * nng REQ may resend a request, so handlers must be safe to run twice.
 */
#ifndef TM_RPC_SERVER_H
#define TM_RPC_SERVER_H

#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "taskmesh/v1/envelope.pb-c.h"
#include "taskmesh/v1/ops.pb-c.h"
#include "tm/arena.h"
#include "tm/db.h"
#include "tm/errors.h"

#define TM_RPC_MAX_DETAILS 16 /* field errors kept per reply */

struct tm_rpc_call {
	const Taskmesh__V1__RpcRequest *req; /* decoded envelope */
	const char *user_id;		     /* caller's user id, "" if anonymous */
	const char *role;		     /* caller's role, "" if anonymous */
	struct tm_db *db;	/* the worker's connection; in a transaction for TM_RPC_TX */
	struct tm_arena *arena; /* lives until the reply is sent */
	void *service;		/* the service's state (tm_rpc_server_config.service) */
	int status;		/* HTTP status of a successful reply; default 200 */
	int retry_after_s;	/* > 0: the reply asks the client to wait (429, 503) */
	/* error reply, set through tm_rpc_fail / tm_rpc_field_error */
	enum tm_code code;
	char message[256];
	int ndetails;
	Taskmesh__V1__ErrorDetail details[TM_RPC_MAX_DETAILS];
	struct tm_rpc_server *server;	    /* internal: the server running the call */
	const struct tm_rpc_method *method; /* the method row being run */
};

/* A handler returns TM_OK with *out set to a message in call->arena (or NULL
 * for an empty reply), or an error code after tm_rpc_fail/tm_rpc_field_error. */
typedef enum tm_code (*tm_rpc_handler_fn)(struct tm_rpc_call *call, const ProtobufCMessage *in,
					  ProtobufCMessage **out);

enum {
	TM_RPC_TX = 1 << 0,	    /* run inside a transaction */
	TM_RPC_IDEMPOTENT = 1 << 1, /* honour idempotency keys (implies TX) */
	TM_RPC_INLINE = 1 << 2,	    /* never blocks (no database, no I/O): answered on the
				       receiving nng thread, without a worker hand-off */
};

struct tm_rpc_method {
	const char *name;		       /* "CreateProject" */
	const ProtobufCMessageDescriptor *in;  /* request message */
	const ProtobufCMessageDescriptor *out; /* reply message */
	tm_rpc_handler_fn fn;
	unsigned flags;
};

/* Sets the error of the call; returns `code` for `return tm_rpc_fail(...)`. */
enum tm_code tm_rpc_fail(struct tm_rpc_call *call, enum tm_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Logs the database error of call->db and sets SERVICE_UNAVAILABLE (database
 * down) or INTERNAL; returns that code. */
enum tm_code tm_rpc_db_fail(struct tm_rpc_call *call);
/* Adds a field violation (VALIDATION_FAILED); returns TM_E_VALIDATION_FAILED. */
enum tm_code tm_rpc_field_error(struct tm_rpc_call *call, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct tm_rpc_server;

struct tm_rpc_server_config {
	const char *service;  /* "projects" */
	const char *url;      /* listen address, e.g. "tcp://127.0.0.1:7101" */
	const char *conninfo; /* each worker opens a connection */
	const char *schema;   /* search_path of the workers' connections */
	int workers;	      /* pool size */
	const struct tm_rpc_method *methods;
	size_t nmethods;
	void *service_state; /* becomes tm_rpc_call.service */
	/* Extra checks for Ping (beyond the database); may be NULL. Fills checks,
	 * returns how many (at most 4). */
	int (*ping_checks)(void *service_state, Taskmesh__V1__HealthCheck *checks,
			   struct tm_arena *a);
};

/* Binds and starts the workers. Returns 0, or -1 with a reason in err. */
int tm_rpc_server_start(struct tm_rpc_server **out, const struct tm_rpc_server_config *cfg,
			char *err, size_t errlen);
/* Stops taking requests, lets in-flight ones finish and answer, joins the
 * workers, frees the server; returns 0. Requests still queued or running at
 * deadline_ms (tm_mono_ms) are given up on with one line: the socket closes,
 * their workers are left running and nothing is freed; returns -1, and the
 * process must exit (an unfinished transaction rolls back with its
 * connection; a later stop, once they finished, frees it). NULL: returns 0. */
int tm_rpc_server_stop(struct tm_rpc_server *s, int64_t deadline_ms);

/* Process the request bytes of one call without a socket (tests, benchmarks):
 * returns a packed RpcReply in *reply (malloc'd). */
int tm_rpc_server_handle(struct tm_rpc_server *s, struct tm_db *db, const void *req, size_t len,
			 void **reply, size_t *reply_len);

#endif
