/*
 * tm-gateway: the HTTP front (libmicrohttpd, epoll, suspend/resume) that
 * authenticates callers, transcodes JSON <-> protobuf and fans requests out
 * over nng to the five services. No thread ever blocks per request: a request
 * that needs services is suspended and resumed from the nng aio completion.
 */
#ifndef TM_GATEWAY_H
#define TM_GATEWAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <microhttpd.h>
#include <protobuf-c/protobuf-c.h>

#include "tm/arena.h"
#include "tm/buf.h"
#include "tm/errors.h"
#include "tm/rpc_client.h"
#include "tm/service.h"
#include "tm/ratelimit.h"
#include "tm/stats.h"

/* The services behind the gateway, in the order of ARCHITECTURE.md's table. */
enum gw_service {
	GW_PROJECTS,
	GW_MATCHING,
	GW_PAYMENTS,
	GW_MESSAGING,
	GW_LEARNING,
	GW_NSERVICES,		    /* the five daemons: /readyz and /metrics fan out to these */
	GW_IDENTITY = GW_NSERVICES, /* the gateway's own in-process identity workers */
	GW_NTARGETS,
	GW_LOCAL = -1
};

#define GW_MAX_PATH_PARAMS 4 /* {name} segments per route pattern */
#define GW_MAX_FANOUT GW_NSERVICES

/* Roles a route admits (bit mask); GW_PUBLIC routes need no token. */
enum {
	GW_PUBLIC = 0,
	GW_CLIENT = 1 << 0,
	GW_DEVELOPER = 1 << 1,
	GW_ADMIN = 1 << 2,
	GW_ANY_ROLE = GW_CLIENT | GW_DEVELOPER | GW_ADMIN
};

/* Route flags. */
enum {
	GW_BODY = 1 << 0,		  /* takes a JSON body (else query parameters) */
	GW_IDEMPOTENCY_KEY = 1 << 1,	  /* accepts an Idempotency-Key */
	GW_IDEMPOTENCY_REQUIRED = 1 << 2, /* ...and requires one (400 without) */
	GW_RATE_AUTH = 1 << 3,		  /* rate-limited in the strict "auth" class */
};

struct gw_request;
struct gw;

/* A route served by the gateway itself; it may answer at once or start RPCs. */
typedef void (*gw_local_fn)(struct gw *g, struct gw_request *r);

struct gw_route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/api/v1/projects/{id}" */
	enum gw_service service;
	const char *rpc; /* RPC method name */
	const ProtobufCMessageDescriptor *in, *out;
	unsigned roles; /* GW_PUBLIC or a mask of GW_CLIENT|GW_DEVELOPER|GW_ADMIN */
	unsigned flags;
	gw_local_fn local;    /* GW_LOCAL routes */
	struct tm_stat *hits; /* tm_http_requests_total{route=...}, set at start */
};

struct gw_param {
	const char *name; /* points into the pattern */
	size_t name_len;
	char *value; /* decoded, in the request arena */
};

/* One outgoing RPC of a request (a fan-out has several). */
/* Completions of a fan-out run concurrently on nng threads, so each call owns
 * its storage (malloc'd, freed with the request); the request's arena is used
 * only by whichever single thread holds the request. */
struct gw_call {
	struct gw_request *req;
	enum gw_service service;
	int rv;				  /* nng error, 0 when a reply arrived */
	int status;			  /* RpcReply.status */
	int retry_after_s;		  /* RpcReply.retry_after_seconds: Retry-After */
	ProtobufCBinaryData body;	  /* reply body (malloc'd copy) */
	char *error_code, *error_message; /* reply error (malloc'd copies) */
	struct tm_buf error_details;	  /* JSON array of the reply's error details */
};

enum gw_state { GW_READING, GW_WAITING, GW_DONE };

struct gw_request {
	struct gw *gw;
	struct MHD_Connection *conn;
	struct tm_arena *arena;
	enum gw_state state; /* GW_DONE is set before the connection resumes */
	bool suspended;	     /* the connection was suspended for RPCs */
	char request_id[65];
	const char *method, *url;
	const struct gw_route *route;
	struct gw_param params[GW_MAX_PATH_PARAMS];
	int nparams;
	struct tm_buf body;
	bool body_too_large;
	char caller_id[64], caller_role[16], token_id[64];
	char client_ip[64];
	char user_agent[257];
	int64_t started_mono_ms;
	/* outgoing calls */
	struct gw_call calls[GW_MAX_FANOUT];
	int ncalls;
	atomic_int pending;
	void (*finish)(struct gw_request *r); /* builds the reply after the last call */
	/* the reply, built on whichever thread finished the work */
	struct MHD_Response *response;
	int status;
};

struct gw_config {
	const char *http_addr; /* TM_HTTP_ADDR host:port */
	const char *rpc_urls[GW_NSERVICES];
	const char *cors_origins; /* TM_CORS_ORIGINS: comma-separated allowed origins */
	const char *rate_auth, *rate_write, *rate_read; /* TM_RATE_*: "N/S[:B]" per caller */
	struct tm_rate_rule rule_auth, rule_write, rule_read;
	const char *jwt_secret;	 /* TM_JWT_SECRET */
	int64_t http_threads;	 /* TM_HTTP_THREADS */
	int64_t max_connections; /* TM_HTTP_MAX_CONNECTIONS */
	int64_t max_connections_per_ip;
	int64_t conn_timeout_s;	   /* TM_HTTP_TIMEOUT_S: idle/read timeout per connection */
	int64_t max_body_bytes;	   /* TM_HTTP_MAX_BODY_BYTES */
	int64_t max_header_bytes;  /* TM_HTTP_MAX_HEADER_BYTES */
	int64_t max_url_bytes;	   /* TM_HTTP_MAX_URL_BYTES */
	int64_t rpc_timeout_ms;	   /* TM_RPC_TIMEOUT_MS */
	int64_t fanout_timeout_ms; /* TM_FANOUT_TIMEOUT_MS: /readyz, /metrics */
	int64_t json_max_depth;	   /* TM_JSON_MAX_DEPTH */
};

struct gw {
	struct gw_config cfg;
	struct tm_daemon daemon;
	struct tm_rpc_client *clients[GW_NTARGETS];
	struct tm_rpc_server *identity_server; /* in-process identity workers */
	struct identity *identity;
	struct tm_ratelimit *ratelimit;
	char *openapi; /* GET /api/v1/openapi.json, built once at start */
	size_t openapi_len;
	struct MHD_Daemon *mhd;
	atomic_int inflight; /* requests accepted and not yet completed */
	atomic_bool draining;
	struct tm_stat *st_inflight, *st_2xx, *st_4xx, *st_5xx, *st_429, *st_rpc_fail[GW_NTARGETS];
};

extern const char *const gw_service_names[GW_NTARGETS];

/* routes.c */
extern struct gw_route gw_routes[];
extern const size_t gw_nroutes;
/* Finds the route for method + path. Returns it and fills r->params, or NULL;
 * *path_matched tells 405 (some route has the path) from 404. */
/* A list route: its reply has repeated `items` and a `next_cursor` (tm/list.h). */
bool gw_route_is_list(const struct gw_route *rt);
/* Every list route's request takes `limit` and `cursor`. 0, or -1 with why in err. */
int gw_routes_check(char *err, size_t errlen);
const struct gw_route *gw_route_match(const char *method, const char *path, struct gw_request *r,
				      bool *path_matched, struct tm_buf *allow);

/* reply.c */
void gw_reply_json(struct gw_request *r, int status, const char *json, size_t len);
void gw_reply_error(struct gw_request *r, enum tm_code code, const char *message,
		    const char *details_json);
void gw_reply_text(struct gw_request *r, int status, const char *content_type, const char *text,
		   size_t len);
/* Adds Retry-After to the reply already built. */
void gw_reply_retry_after(struct gw_request *r, int seconds);
/* Adds the headers every reply carries (request id, security headers). */
void gw_add_common_headers(struct gw_request *r, struct MHD_Response *resp);

/* proxy.c: runs an RPC route. */
void gw_proxy(struct gw *g, struct gw_request *r);
/* Starts r->ncalls calls (filled by the caller) with one deadline; when the
 * last completes, `finish` runs on that thread and the connection resumes. */
void gw_fanout(struct gw *g, struct gw_request *r, Taskmesh__V1__RpcRequest *reqs, int timeout_ms,
	       void (*finish)(struct gw_request *r));

/* Fills an RpcRequest envelope for `method` on behalf of the request's caller. */
void gw_envelope(struct gw_request *r, Taskmesh__V1__RpcRequest *req, Taskmesh__V1__Caller *caller,
		 const char *method);

/* ops.c */
void gw_healthz(struct gw *g, struct gw_request *r);
void gw_readyz(struct gw *g, struct gw_request *r);
void gw_readyz_one(struct gw *g, struct gw_request *r);
void gw_metrics(struct gw *g, struct gw_request *r);

/* openapi.c: the OpenAPI 3.1 document of the route table (malloc'd; NULL on OOM). */
char *gw_openapi_build(size_t *len);
void gw_openapi(struct gw *g, struct gw_request *r);

/* overview.c: GET /api/v1/projects/{id}/overview (fan-out, "degraded"). */
void gw_overview(struct gw *g, struct gw_request *r);

/* auth.c: verifies the bearer token into r->caller_*. Returns TM_OK or an error reply code. */
enum tm_code gw_authenticate(struct gw *g, struct gw_request *r, const char **why);
/* Takes a token from the caller's bucket for the route's class. Returns 0, or
 * the seconds to wait (the reply is then 429 with Retry-After). */
int gw_rate_limit(struct gw *g, struct gw_request *r);

/* cors.c: CORS for the configured origins only. Answers a preflight (OPTIONS)
 * request and returns true, or returns false for any other request. */
bool gw_cors_preflight(struct gw *g, struct gw_request *r);
/* Adds Access-Control-Allow-Origin (and Vary) for an allowed Origin. */
void gw_cors_headers(struct gw *g, struct gw_request *r, struct MHD_Response *resp);

/* http.c */
int gw_http_start(struct gw *g, char *err, size_t errlen);
void gw_http_stop(struct gw *g);

#endif
