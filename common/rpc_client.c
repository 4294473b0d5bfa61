/* The nng RPC client; see tm/rpc_client.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "tm/log.h"
#include "tm/rpc_client.h"
#include "tm/util.h"

#define RPC_CLIENT_RECV_MAX_BYTES (16u << 20) /* largest reply accepted */
#define RPC_CLIENT_RECONNECT_MIN_MS 50	      /* redial quickly after a service restarts */
#define RPC_CLIENT_RECONNECT_MAX_MS 1000

enum call_phase { PHASE_SEND, PHASE_RECV };

/* One in-flight call; recycled through the client's free list, never freed
 * from its own callback. */
struct call {
	struct tm_rpc_client *client;
	nng_ctx ctx;
	nng_aio *aio;
	enum call_phase phase;
	int64_t deadline_mono_ms;
	tm_rpc_done_fn done;
	void *arg;
	struct call *next_free;
};

struct tm_rpc_client {
	char service[32];
	nng_socket sock;
	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when inflight drops to 0 */
	struct call *free_list;
	struct call **all; /* every call object, for close */
	int ncalls, inflight;
	bool closing;
};

const char *tm_rpc_client_service(const struct tm_rpc_client *c)
{
	return c->service;
}

static void release(struct call *k)
{
	struct tm_rpc_client *c = k->client;
	pthread_mutex_lock(&c->lock);
	k->next_free = c->free_list;
	c->free_list = k;
	if (--c->inflight == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

/* Finishes a call: decode, hand to the caller, recycle. Runs on an nng thread. */
static void finish(struct call *k, int rv, nng_msg *msg)
{
	Taskmesh__V1__RpcReply *rep = NULL;
	tm_rpc_done_fn done = k->done;
	void *arg = k->arg;

	if (rv == 0) {
		rep = taskmesh__v1__rpc_reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		if (!rep)
			rv = TM_RPC_EBADREPLY;
	}
	if (msg)
		nng_msg_free(msg);
	done(arg, rv, rep);
	if (rep)
		taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);
	release(k);
}

static void call_cb(void *arg)
{
	struct call *k = arg;
	int rv = nng_aio_result(k->aio);

	if (k->phase == PHASE_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(k->aio));
			finish(k, rv, NULL);
			return;
		}
		int64_t left = k->deadline_mono_ms - tm_mono_ms();
		k->phase = PHASE_RECV;
		nng_aio_set_timeout(k->aio, left > 0 ? (nng_duration)left : 1);
		nng_ctx_recv(k->ctx, k->aio);
		return;
	}
	finish(k, rv, rv == 0 ? nng_aio_get_msg(k->aio) : NULL);
}

/* A call object from the pool, or a new one. NULL when the bound is reached. */
static struct call *acquire(struct tm_rpc_client *c, int *err)
{
	struct call *k = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		*err = NNG_ECLOSED;
	} else if (c->free_list) {
		k = c->free_list;
		c->free_list = k->next_free;
	} else if (c->ncalls < TM_RPC_CLIENT_MAX_INFLIGHT && (k = calloc(1, sizeof(*k)))) {
		k->client = c;
		int rv = nng_ctx_open(&k->ctx, c->sock);
		if (rv == 0 && (rv = nng_aio_alloc(&k->aio, call_cb, k)) != 0)
			nng_ctx_close(k->ctx);
		if (rv != 0) {
			*err = rv;
			free(k);
			k = NULL;
		} else {
			c->all[c->ncalls++] = k;
		}
	} else {
		*err = NNG_ENOMEM;
	}
	if (k)
		c->inflight++;
	pthread_mutex_unlock(&c->lock);
	return k;
}

int tm_rpc_call(struct tm_rpc_client *c, const Taskmesh__V1__RpcRequest *req, int timeout_ms,
		tm_rpc_done_fn done, void *arg)
{
	int err = 0;
	nng_msg *msg = NULL;
	struct call *k = acquire(c, &err);

	if (!k) {
		done(arg, err, NULL);
		return err;
	}
	size_t len = taskmesh__v1__rpc_request__get_packed_size(req);
	if ((err = nng_msg_alloc(&msg, len)) != 0) {
		release(k);
		done(arg, err, NULL);
		return err;
	}
	taskmesh__v1__rpc_request__pack(req, nng_msg_body(msg));
	k->done = done;
	k->arg = arg;
	k->phase = PHASE_SEND;
	k->deadline_mono_ms = tm_mono_ms() + timeout_ms;
	nng_aio_set_msg(k->aio, msg);
	nng_aio_set_timeout(k->aio, timeout_ms > 0 ? timeout_ms : 1);
	nng_ctx_send(k->ctx, k->aio);
	return 0;
}

int tm_rpc_client_open(struct tm_rpc_client **out, const char *service, const char *url, char *err,
		       size_t errlen)
{
	struct tm_rpc_client *c = calloc(1, sizeof(*c));
	int rv;

	*out = NULL;
	if (!c || !(c->all = calloc(TM_RPC_CLIENT_MAX_INFLIGHT, sizeof(*c->all)))) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return -1;
	}
	snprintf(c->service, sizeof(c->service), "%s", service);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		snprintf(err, errlen, "nng: %s", nng_strerror(rv));
		goto fail;
	}
	/* no resends: a deadline bounds every call, and a request whose connection
	 * dropped fails with NNG_ECONNRESET rather than maybe running a handler twice */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RPC_CLIENT_RECV_MAX_BYTES);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, RPC_CLIENT_RECONNECT_MIN_MS);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, RPC_CLIENT_RECONNECT_MAX_MS);
	if ((rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		snprintf(err, errlen, "cannot dial %s at %s: %s", service, url, nng_strerror(rv));
		nng_close(c->sock);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c->all);
	free(c);
	return -1;
}

void tm_rpc_client_close(struct tm_rpc_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	nng_close(c->sock); /* in-flight calls complete with NNG_ECLOSED */
	pthread_mutex_lock(&c->lock);
	while (c->inflight > 0)
		pthread_cond_wait(&c->idle, &c->lock);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->ncalls; i++) {
		nng_aio_free(c->all[i]->aio); /* waits for a callback still returning */
		free(c->all[i]);
	}
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c->all);
	free(c);
}

struct sync_call {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rv;
	Taskmesh__V1__RpcReply *reply;
};

static void sync_done(void *arg, int rv, const Taskmesh__V1__RpcReply *rep)
{
	struct sync_call *sc = arg;
	Taskmesh__V1__RpcReply *copy = NULL;

	if (rv == 0) { /* the reply dies with the callback: keep a copy */
		size_t len = taskmesh__v1__rpc_reply__get_packed_size(rep);
		uint8_t *buf = malloc(len ? len : 1);
		if (buf) {
			taskmesh__v1__rpc_reply__pack(rep, buf);
			copy = taskmesh__v1__rpc_reply__unpack(NULL, len, buf);
			free(buf);
		}
		if (!copy)
			rv = NNG_ENOMEM;
	}
	pthread_mutex_lock(&sc->lock);
	sc->rv = rv;
	sc->reply = copy;
	sc->done = true;
	pthread_cond_signal(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
}

int tm_rpc_call_sync(struct tm_rpc_client *c, const Taskmesh__V1__RpcRequest *req, int timeout_ms,
		     Taskmesh__V1__RpcReply **reply)
{
	struct sync_call sc = {.done = false};

	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cond, NULL);
	tm_rpc_call(c, req, timeout_ms, sync_done, &sc);
	pthread_mutex_lock(&sc.lock);
	while (!sc.done)
		pthread_cond_wait(&sc.cond, &sc.lock);
	pthread_mutex_unlock(&sc.lock);
	pthread_cond_destroy(&sc.cond);
	pthread_mutex_destroy(&sc.lock);
	*reply = sc.reply;
	return sc.rv;
}
