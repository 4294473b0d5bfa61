/*
 * The nng RPC client (gateway side). One REQ socket per service; every call
 * uses its own context and aio from a recycled pool, so any number of calls
 * (up to TM_RPC_CLIENT_MAX_INFLIGHT) are in flight at once without mixing
 * replies. Completion runs on an nng thread: the callback must not block.
 */
#ifndef TM_RPC_CLIENT_H
#define TM_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "taskmesh/v1/envelope.pb-c.h"

#define TM_RPC_CLIENT_MAX_INFLIGHT 8192 /* per service; beyond it calls fail at once */

struct tm_rpc_client;

/*
 * Completion of one call. `rv` is 0 with `reply` set (decoded; valid only
 * during the callback), or an nng error (NNG_ETIMEDOUT; NNG_ECONNRESET when
 * the connection dropped with the request on it — nng does not resend it,
 * since a handler may have run; NNG_ECLOSED...) or TM_RPC_EBADREPLY with
 * reply NULL.
 */
#define TM_RPC_EBADREPLY 100000
typedef void (*tm_rpc_done_fn)(void *arg, int rv, const Taskmesh__V1__RpcReply *reply);

/* Opens a REQ socket dialing `url` (non-blocking dial, reconnecting forever). */
int tm_rpc_client_open(struct tm_rpc_client **out, const char *service, const char *url, char *err,
		       size_t errlen);
/* Fails in-flight calls (NNG_ECLOSED, or NNG_ECONNRESET for one already on
 * the wire), waits for their callbacks, frees. */
void tm_rpc_client_close(struct tm_rpc_client *c);
const char *tm_rpc_client_service(const struct tm_rpc_client *c);

/*
 * Starts a call. `req` is packed at once (the caller may free it on return).
 * `timeout_ms` bounds the whole call. `done` runs exactly once, on an nng
 * thread (or inline, before this returns, when the call cannot start: then
 * the return value is that error too). Returns 0 when started.
 */
int tm_rpc_call(struct tm_rpc_client *c, const Taskmesh__V1__RpcRequest *req, int timeout_ms,
		tm_rpc_done_fn done, void *arg);

/* Blocking call for tools and tests: *reply is malloc'd (protobuf_c free). */
int tm_rpc_call_sync(struct tm_rpc_client *c, const Taskmesh__V1__RpcRequest *req, int timeout_ms,
		     Taskmesh__V1__RpcReply **reply);

#endif
