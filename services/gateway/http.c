/*
 * The HTTP front on libmicrohttpd: epoll internal threads, connection and
 * header limits, per-connection timeouts, suspend while a request's RPCs are
 * in flight and resume from their completion.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gateway.h"
#include "tm/log.h"
#include "tm/util.h"

#define GW_MHD_MEMORY_LIMIT (32u << 10) /* per-connection pool: headers + read buffer */
#define GW_LISTEN_BACKLOG 1024

/* The peer's address as text ("127.0.0.1", "::1"). */
static void client_address(struct MHD_Connection *conn, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)len);
}

static struct gw_request *request_new(struct gw *g, struct MHD_Connection *conn, const char *url,
				      const char *method)
{
	struct gw_request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (!(r->arena = tm_arena_new(0))) {
		free(r);
		return NULL;
	}
	r->gw = g;
	r->conn = conn;
	r->method = tm_arena_strdup(r->arena, method);
	r->url = tm_arena_strdup(r->arena, url);
	r->started_mono_ms = tm_mono_ms();
	client_address(conn, r->client_ip, sizeof(r->client_ip));
	const char *ua =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
	snprintf(r->user_agent, sizeof(r->user_agent), "%s", ua ? ua : "");
	tm_buf_init(&r->body);
	for (int i = 0; i < GW_MAX_FANOUT; i++)
		tm_buf_init(&r->calls[i].error_details);
	atomic_fetch_add(&g->inflight, 1);
	tm_stat_add(g->st_inflight, 1);
	return r;
}

static void request_free(struct gw_request *r)
{
	if (r->response)
		MHD_destroy_response(r->response);
	for (int i = 0; i < GW_MAX_FANOUT; i++) {
		tm_buf_free(&r->calls[i].error_details);
		free(r->calls[i].body.data);
		free(r->calls[i].error_code);
		free(r->calls[i].error_message);
	}
	tm_buf_free(&r->body);
	tm_arena_free(r->arena);
	atomic_fetch_sub(&r->gw->inflight, 1);
	tm_stat_add(r->gw->st_inflight, -1);
	free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	if (*con_cls)
		request_free(*con_cls);
	*con_cls = NULL;
}

/* Uses a well-formed X-Request-Id from the client, or makes one. */
static void assign_request_id(struct gw_request *r)
{
	const char *in = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
	size_t n = in ? strlen(in) : 0;
	bool ok = n >= 8 && n < sizeof(r->request_id);
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)in[i]) || in[i] == '-' || in[i] == '_' || in[i] == '.';
	if (ok)
		memcpy(r->request_id, in, n + 1);
	else if (tm_uuid_v4(r->request_id) != 0)
		snprintf(r->request_id, sizeof(r->request_id), "unknown");
}

struct sizes {
	size_t bytes;
};

static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct sizes *s = cls;
	(void)kind;
	s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static size_t kind_bytes(struct MHD_Connection *c, enum MHD_ValueKind kind)
{
	struct sizes s = {0};
	MHD_get_connection_values(c, kind, add_size, &s);
	return s.bytes;
}

/* The media type is application/json (parameters such as charset allowed). */
static bool is_json(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	char next = ct[sizeof(want) - 1];
	return next == '\0' || next == ';' || next == ' ';
}

/* Checks what can be judged from the request line and headers alone. Sets an
 * error reply (queued at once, before any body is read) or returns true. */
static bool admit(struct gw *g, struct gw_request *r)
{
	struct gw_config *c = &g->cfg;
	bool path_matched = false;
	struct tm_buf allow;
	const char *why = NULL;

	if (kind_bytes(r->conn, MHD_HEADER_KIND) > (size_t)c->max_header_bytes) {
		gw_reply_error(r, TM_E_HEADERS_TOO_LARGE, NULL, NULL);
		return false;
	}
	if (strlen(r->url) + kind_bytes(r->conn, MHD_GET_ARGUMENT_KIND) >
	    (size_t)c->max_url_bytes) {
		gw_reply_error(r, TM_E_URI_TOO_LONG, NULL, NULL);
		return false;
	}
	if (gw_cors_preflight(g, r))
		return false; /* answered: 204 for an allowed origin, 403 otherwise */
	tm_buf_init(&allow);
	r->route = gw_route_match(r->method, r->url, r, &path_matched, &allow);
	if (!r->route) {
		if (path_matched) {
			gw_reply_error(r, TM_E_METHOD_NOT_ALLOWED, NULL, NULL);
			if (r->response && !allow.failed)
				MHD_add_response_header(r->response, MHD_HTTP_HEADER_ALLOW,
							allow.data);
		} else {
			gw_reply_error(r, TM_E_NOT_FOUND, "no such route", NULL);
		}
		tm_buf_free(&allow);
		return false;
	}
	tm_buf_free(&allow);
	tm_stat_add(r->route->hits, 1);
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	int64_t clen = 0;
	if (cl && (tm_parse_int64(cl, &clen) != 0 || clen < 0))
		clen = 0; /* MHD has already refused a malformed Content-Length */
	if (clen > c->max_body_bytes) {
		gw_reply_error(r, TM_E_PAYLOAD_TOO_LARGE, NULL, NULL);
		return false;
	}
	bool has_body = clen > 0 || te;
	if (has_body && !(r->route->flags & GW_BODY)) {
		gw_reply_error(r, TM_E_VALIDATION_FAILED, "this route takes no request body", NULL);
		return false;
	}
	if (has_body && !is_json(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_TYPE))) {
		gw_reply_error(r, TM_E_UNSUPPORTED_MEDIA_TYPE, NULL, NULL);
		return false;
	}
	if (r->route->roles != GW_PUBLIC) {
		enum tm_code code = gw_authenticate(g, r, &why);
		if (code != TM_OK) {
			gw_reply_error(r, code, why, NULL);
			if (r->response && code == TM_E_UNAUTHENTICATED)
				MHD_add_response_header(r->response,
							MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
			return false;
		}
	}
	int wait_s = gw_rate_limit(g, r);
	if (wait_s > 0) {
		tm_stat_add(g->st_429, 1);
		gw_reply_error(r, TM_E_RATE_LIMITED, NULL, NULL);
		gw_reply_retry_after(r, wait_s);
		return false;
	}
	return true;
}

/* Runs the request once its body is in. */
static void dispatch(struct gw *g, struct gw_request *r)
{
	if (r->body_too_large) {
		gw_reply_error(r, TM_E_PAYLOAD_TOO_LARGE, NULL, NULL);
		return;
	}
	if (r->route->local)
		r->route->local(g, r);
	else
		gw_proxy(g, r);
}

static enum MHD_Result queue_reply(struct gw *g, struct gw_request *r)
{
	if (!r->response)
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
	if (!r->response)
		return MHD_NO; /* out of memory: close */
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, r->response);
	MHD_destroy_response(r->response);
	r->response = NULL;
	tm_stat_add(r->status >= 500 ? g->st_5xx : r->status >= 400 ? g->st_4xx : g->st_2xx, 1);
	return ret;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct gw *g = cls;
	struct gw_request *r = *con_cls;
	(void)version;

	if (r)
		tm_log_set_request_id(r->request_id); /* every log line of the request carries it */
	if (!r) {
		if (!(r = request_new(g, conn, url, method)))
			return MHD_NO;
		*con_cls = r;
		assign_request_id(r);
		tm_log_set_request_id(r->request_id);
		if (!admit(g, r)) {
			r->state = GW_DONE;
			return queue_reply(g, r); /* before the body: MHD closes after replying */
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!r->body_too_large &&
		    r->body.len + *upload_data_size <= (size_t)g->cfg.max_body_bytes)
			tm_buf_append(&r->body, upload_data, *upload_data_size);
		else
			r->body_too_large = true; /* keep reading, keep nothing */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->state == GW_READING) {
		dispatch(g, r);
		if (r->suspended)
			return MHD_YES; /* the last RPC completion resumes us, in state GW_DONE */
		r->state = GW_DONE;
	}
	if (r->state != GW_DONE)
		return MHD_YES;
	return queue_reply(g, r);
}

/* MHD's access handler: one request's step, with its request id in the log. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	enum MHD_Result rc = handle_request(cls, conn, url, method, version, upload_data,
					    upload_data_size, con_cls);
	tm_log_set_request_id(NULL);
	return rc;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	tm_warn("http: %s", line);
}

/* Parses TM_HTTP_ADDR ("127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080"). */
static int parse_addr(const char *hostport, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[128];
	const char *colon = strrchr(hostport, ':');
	size_t hl = colon ? (size_t)(colon - hostport) : 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *res = NULL;

	if (!colon || hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "TM_HTTP_ADDR=%s: expected ip:port", hostport);
		return -1;
	}
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) {
		snprintf(err, errlen, "TM_HTTP_ADDR=%s: expected a numeric ip:port", hostport);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int gw_http_start(struct gw *g, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags;

	if (parse_addr(g->cfg.http_addr, &ss, err, errlen) != 0)
		return -1;
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
		MHD_USE_TURBO | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	struct MHD_OptionItem opts[] = {
		{MHD_OPTION_SOCK_ADDR, 0, &ss},
		{MHD_OPTION_CONNECTION_LIMIT, (intptr_t)g->cfg.max_connections, NULL},
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)g->cfg.max_connections_per_ip, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)g->cfg.conn_timeout_s, NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)GW_MHD_MEMORY_LIMIT, NULL},
		{MHD_OPTION_LISTEN_BACKLOG_SIZE, GW_LISTEN_BACKLOG, NULL},
		{MHD_OPTION_END, 0, NULL},
	};
	if (g->cfg.http_threads > 1)
		g->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, g, MHD_OPTION_ARRAY,
					  opts, MHD_OPTION_THREAD_POOL_SIZE,
					  (unsigned)g->cfg.http_threads,
					  MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
					  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, g, MHD_OPTION_END);
	else
		g->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, g, MHD_OPTION_ARRAY,
					  opts, MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
					  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, g, MHD_OPTION_END);
	if (!g->mhd) {
		snprintf(err, errlen, "cannot listen on %s (address in use or not permitted)",
			 g->cfg.http_addr);
		return -1;
	}
	return 0;
}

/* Stops accepting, lets in-flight requests finish by the stop's deadline, then
 * stops. Requests still open then are given up on (counted in
 * g->daemon.abandoned): the daemon is left as it is, for the process to exit. */
void gw_http_stop(struct gw *g)
{
	int64_t give_up = tm_daemon_deadline(&g->daemon);
	MHD_socket lsock = MHD_quiesce_daemon(g->mhd);

	atomic_store(&g->draining, true);
	while (atomic_load(&g->inflight) > 0 && tm_mono_ms() < give_up)
		tm_sleep_ms(20);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	if (atomic_load(&g->inflight) > 0) {
		tm_warn("http: %d request(s) still open at the shutdown deadline; given up on",
			atomic_load(&g->inflight));
		g->daemon.abandoned++;
		return;
	}
	MHD_stop_daemon(g->mhd);
	g->mhd = NULL;
	tm_info("http: stopped"); /* deploy/devstack stops the services after this line */
}
