/*
 * common/outbound.c against a tiny HTTP server of its own (libmicrohttpd on a
 * free 127.0.0.1 port, started per test). The server records the last request
 * it got (method, URI, headers, body) and counts connections and requests, so
 * the tests can tell what went out and that nothing went out when a request
 * was refused. Routes:
 *   /echo             200 "hello"
 *   /status/<n>       status n, body "status <n>"
 *   /bytes/<n>        200 with n bytes (Content-Length)
 *   /chunked/<n>      200 with n bytes, chunked (no length known in advance)
 *   /headers          200 with Retry-After, x-ratelimit-* and a long X-Long
 *   /slow             200 after SLOW_ANSWER_MS (sooner when the server stops)
 *   /redirect         302 to the location the test set
 * The only clock checks are generous bounds on the timeout case.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>

#include "../support/http.h"
#include "../support/mhd_reply.h"
#include "tm/buf.h"
#include "tm/outbound.h"
#include "tm/util.h"

#define CALL_TIMEOUT_MS 10000  /* requests that should be answered */
#define SHORT_TIMEOUT_MS 300   /* the timeout case */
#define SLOW_ANSWER_MS 5000    /* /slow's delay (> SHORT_TIMEOUT_MS) */
#define TIMEOUT_SLACK_MS 3000  /* generous: sanitizers, a loaded machine */
#define WAIT_EARLY_MS 50       /* clock granularity allowed on the timeout */
#define POLL_STEP_MS 10	       /* /slow looks whether the server stops this often */
#define BODY_MAX 1024	       /* body_max of most tests */
#define BIG_BYTES (64 * 1024)  /* a reply far over BODY_MAX */
#define REPLY_MAX (256 * 1024) /* bytes /bytes and /chunked serve at most */
#define URI_MAX 256
#define HEADERS_MAX 4096		    /* bytes of the recorded request headers */
#define RECORD_BODY_MAX 8192		    /* bytes of a request body the server keeps */
#define EXPECT_BODY_BYTES (1024 * 1024 + 1) /* libcurl asks for 100-continue over 1 MiB */
#define LOCATION_MAX 256
#define URL_MAX 64
#define THREADS 8	   /* concurrent callers */
#define CALLS_PER_THREAD 4 /* requests of each */
#define SECRET "Bearer s3cr3t-token-never-in-an-error"

/* One server and what it saw. */
struct server {
	struct MHD_Daemon *daemon;
	char url[URL_MAX]; /* "http://127.0.0.1:PORT" */
	pthread_mutex_t mu;
	bool stopping;		     /* /slow returns at once */
	int connections;	     /* TCP connections accepted */
	int requests;		     /* requests answered */
	char method[16];	     /* of the last request */
	char uri[URI_MAX];	     /* of the last request */
	char headers[HEADERS_MAX];   /* of the last request: "Name: value\n" lines */
	char body[RECORD_BODY_MAX];  /* of the last request */
	size_t body_len;	     /* bytes of body */
	size_t body_seen;	     /* bytes of the last request's body, kept or not */
	char location[LOCATION_MAX]; /* where /redirect points */
};

/* One request being received (MHD's per-request context). */
struct req {
	char body[RECORD_BODY_MAX];
	size_t body_len;
	size_t body_seen; /* bytes received, kept or not */
};

/* A chunked reply being sent: n bytes of 'c'. */
struct chunked {
	size_t left;
};

static struct server *srv;

/* ---- the server ---------------------------------------------------------------------------- */

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct server *s = cls;
	(void)kind;
	if (mhd_header_line(s->headers, sizeof(s->headers), key, value))
		return MHD_YES;
	return MHD_NO;
}

static void record(struct server *s, struct MHD_Connection *c, const char *method, const char *url,
		   const struct req *rq)
{
	pthread_mutex_lock(&s->mu);
	s->requests++;
	snprintf(s->method, sizeof(s->method), "%s", method);
	snprintf(s->uri, sizeof(s->uri), "%s", url);
	s->headers[0] = '\0';
	MHD_get_connection_values(c, MHD_HEADER_KIND, keep_header, s);
	memcpy(s->body, rq->body, rq->body_len);
	s->body_len = rq->body_len;
	s->body_seen = rq->body_seen;
	pthread_mutex_unlock(&s->mu);
}

static bool stopping(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	bool yes = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return yes;
}

static ssize_t chunk(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct chunked *ch = cls;
	size_t n = ch->left < max ? ch->left : max;

	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n > 1000)
		n = 1000; /* several chunks */
	memset(buf, 'c', n);
	ch->left -= n;
	return (ssize_t)n;
}

/* The n of "/<prefix>/<n>", or -1. */
static int64_t path_number(const char *url, const char *prefix)
{
	size_t pl = strlen(prefix);
	int64_t n;

	if (strncmp(url, prefix, pl) != 0 || tm_parse_int64(url + pl, &n) != 0)
		return -1;
	return n;
}

static enum MHD_Result route(struct server *s, struct MHD_Connection *c, const char *url)
{
	struct MHD_Response *r;
	char line[64];
	int64_t n;

	if (strcmp(url, "/echo") == 0)
		return mhd_send_reply(c, 200, mhd_text("hello", NULL));
	if ((n = path_number(url, "/status/")) >= 100 && n < 600) {
		snprintf(line, sizeof(line), "status %lld", (long long)n);
		return mhd_send_reply(c, (unsigned int)n, mhd_text(line, NULL));
	}
	if ((n = path_number(url, "/bytes/")) >= 0 && n <= REPLY_MAX) {
		char *b = malloc((size_t)n + 1);
		if (!b)
			return MHD_NO;
		memset(b, 'b', (size_t)n);
		return mhd_send_reply(c, 200,
				      MHD_create_response_from_buffer((size_t)n, b,
								      MHD_RESPMEM_MUST_FREE));
	}
	if ((n = path_number(url, "/chunked/")) >= 0 && n <= REPLY_MAX) {
		struct chunked *ch = malloc(sizeof(*ch));
		if (!ch)
			return MHD_NO;
		ch->left = (size_t)n;
		return mhd_send_reply(c, 200,
				      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
									chunk, ch, free));
	}
	if (strcmp(url, "/headers") == 0) {
		char long_value[TM_OUTBOUND_VALUE_MAX + 8];
		memset(long_value, 'v', sizeof(long_value) - 1);
		long_value[sizeof(long_value) - 1] = '\0';
		r = mhd_text("ok", NULL);
		if (r) {
			MHD_add_response_header(r, "Retry-After", "7");
			MHD_add_response_header(r, "X-RateLimit-Remaining", "0");
			MHD_add_response_header(r, "x-ratelimit-reset", "1700000000");
			MHD_add_response_header(r, "X-Long", long_value);
		}
		return mhd_send_reply(c, 200, r);
	}
	if (strcmp(url, "/slow") == 0) {
		for (int waited = 0; waited < SLOW_ANSWER_MS && !stopping(s);
		     waited += POLL_STEP_MS)
			tm_sleep_ms(POLL_STEP_MS);
		return mhd_send_reply(c, 200, mhd_text("late", NULL));
	}
	if (strcmp(url, "/redirect") == 0) {
		r = mhd_text("", NULL);
		pthread_mutex_lock(&s->mu);
		if (r)
			MHD_add_response_header(r, "Location", s->location);
		pthread_mutex_unlock(&s->mu);
		return mhd_send_reply(c, 302, r);
	}
	return mhd_send_reply(c, 404, mhd_text("not found", NULL));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct server *s = cls;
	struct req *rq = *req_cls;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		*req_cls = rq;
		return rq ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		rq->body_seen += n;
		if (n > sizeof(rq->body) - rq->body_len)
			n = sizeof(rq->body) - rq->body_len;
		memcpy(rq->body + rq->body_len, upload_data, n);
		rq->body_len += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	record(s, c, method, url, rq);
	return route(s, c, url);
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls,
		    enum MHD_RequestTerminationCode toe)
{
	free(*req_cls);
	*req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct server *s = cls;

	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	pthread_mutex_lock(&s->mu);
	s->connections++;
	pthread_mutex_unlock(&s->mu);
}

static void server_stop(struct server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	if (s->daemon)
		MHD_stop_daemon(s->daemon); /* joins the connection threads */
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* A server on a free 127.0.0.1 port, or NULL. */
static struct server *server_start(void)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	if (!s || pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0; /* the kernel picks a free port */
	s->daemon = MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
		NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
	info = s->daemon ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info || info->port == 0) {
		server_stop(s);
		return NULL;
	}
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", (unsigned int)info->port);
	return s;
}

static int counts(struct server *s, int *requests)
{
	pthread_mutex_lock(&s->mu);
	int n = s->connections;
	if (requests)
		*requests = s->requests;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* The value of header name (any case) of the last request into out; 0 if it came. */
static int sent_header(const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	int rc = -1;

	pthread_mutex_lock(&srv->mu);
	for (const char *p = srv->headers; *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll >= nl + 2 && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			snprintf(out, outlen, "%.*s", (int)(ll - nl - 2), p + nl + 2);
			rc = 0;
			break;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	pthread_mutex_unlock(&srv->mu);
	return rc;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
	srv = server_start();
	return srv ? 0 : -1;
}

static int teardown(void **state)
{
	server_stop(srv);
	srv = NULL;
	return 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* A request to path on the server: GET, http allowed, CALL_TIMEOUT_MS, BODY_MAX. */
static struct tm_outbound_request request(const char *path, char *url, size_t urllen)
{
	snprintf(url, urllen, "%s%s", srv->url, path);
	return (struct tm_outbound_request){
		.method = "GET",
		.url = url,
		.allow_http = true,
		.timeout_ms = CALL_TIMEOUT_MS,
		.body_max = BODY_MAX,
	};
}

/* q was refused before anything was sent: LOCAL with curl_code, an error, no connection. */
static void assert_refused_without_a_connection(const struct tm_outbound_request *q, int curl_code)
{
	struct tm_outbound_response r;

	assert_int_equal(tm_outbound_do(q, &r), TM_OUTBOUND_LOCAL);
	assert_int_equal(r.curl_code, curl_code);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.body.len, 0);
	assert_null(r.body.data);
	assert_true(r.error[0] != '\0');
	assert_int_equal(counts(srv, NULL), 0);
}

/* ---- round trips ------------------------------------------------------------------------- */

static void test_get_round_trip(void **state)
{
	char url[URL_MAX + URI_MAX], v[256];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 5);
	assert_string_equal(r.body.data, "hello");
	assert_int_equal(r.curl_code, CURLE_OK);
	assert_string_equal(r.error, "");
	assert_string_equal(srv->method, "GET");
	assert_string_equal(srv->uri, "/echo");
	assert_int_equal(srv->body_len, 0);
	assert_int_equal(sent_header("User-Agent", v, sizeof(v)), 0);
	assert_string_equal(v, TM_OUTBOUND_USER_AGENT);
	tm_buf_free(&r.body);
}

static void test_post_round_trip_sends_the_body_as_is(void **state)
{
	static const char body[] = "{\"a\":1,\n\"nul\":\"\0 inside\"}";
	char url[URL_MAX + URI_MAX], v[256];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	q.method = "POST";
	q.body = body;
	q.body_len = sizeof(body) - 1; /* the NUL inside goes too */
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.data, "hello");
	assert_string_equal(srv->method, "POST");
	assert_int_equal(srv->body_len, sizeof(body) - 1);
	assert_memory_equal(srv->body, body, sizeof(body) - 1);
	/* no Content-Type line given: libcurl's form default */
	assert_int_equal(sent_header("Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "application/x-www-form-urlencoded");
	tm_buf_free(&r.body);
}

static void test_post_without_a_body_sends_an_empty_one(void **state)
{
	char url[URL_MAX + URI_MAX], v[64];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	q.method = "POST";
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_string_equal(srv->method, "POST");
	assert_int_equal(srv->body_len, 0);
	assert_int_equal(sent_header("Content-Length", v, sizeof(v)), 0);
	assert_string_equal(v, "0");
	tm_buf_free(&r.body);
}

static void test_header_lines_and_user_agent_are_sent(void **state)
{
	const char *const headers[] = {"Authorization: " SECRET, "Content-Type: application/json",
				       "X-Custom: a b", NULL};
	char url[URL_MAX + URI_MAX], v[256];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	q.method = "POST";
	q.body = "{}";
	q.body_len = 2;
	q.headers = headers;
	q.user_agent = "taskmesh-test/1";
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_int_equal(sent_header("Authorization", v, sizeof(v)), 0);
	assert_string_equal(v, SECRET);
	assert_int_equal(sent_header("Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "application/json");
	assert_int_equal(sent_header("X-Custom", v, sizeof(v)), 0);
	assert_string_equal(v, "a b");
	assert_int_equal(sent_header("User-Agent", v, sizeof(v)), 0);
	assert_string_equal(v, "taskmesh-test/1");
	tm_buf_free(&r.body);
}

static void test_large_post_body_goes_without_expect_100_continue(void **state)
{
	char url[URL_MAX + URI_MAX], v[64], *body = malloc(EXPECT_BODY_BYTES);
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	assert_non_null(body);
	memset(body, 'x', EXPECT_BODY_BYTES);
	q.method = "POST";
	q.body = body;
	q.body_len = EXPECT_BODY_BYTES;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_int_equal(sent_header("Expect", v, sizeof(v)), -1);
	assert_int_equal(srv->body_seen, EXPECT_BODY_BYTES);
	tm_buf_free(&r.body);
	free(body);
}

static void test_error_status_is_a_reply_like_any_other(void **state)
{
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/status/503", url, sizeof(url));
	struct tm_outbound_response r;

	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body.data, "status 503");
	assert_string_equal(r.error, "");
	tm_buf_free(&r.body);
}

/* ---- reply headers ------------------------------------------------------------------------ */

static void test_reply_headers_are_captured_whatever_their_case(void **state)
{
	const char *const capture[] = {"retry-after", "X-RATELIMIT-REMAINING", "X-RateLimit-Reset",
				       "x-absent", NULL};
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/headers", url, sizeof(url));
	struct tm_outbound_response r;

	q.capture = capture;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_string_equal(r.captured[0], "7");
	assert_string_equal(r.captured[1], "0");
	assert_string_equal(r.captured[2], "1700000000");
	assert_string_equal(r.captured[3], "");
	tm_buf_free(&r.body);
}

static void test_header_value_that_does_not_fit_is_left_empty(void **state)
{
	const char *const capture[] = {"x-long", "retry-after", NULL};
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/headers", url, sizeof(url));
	struct tm_outbound_response r;

	q.capture = capture;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_string_equal(r.captured[0], "");
	assert_string_equal(r.captured[1], "7");
	tm_buf_free(&r.body);
}

/* ---- limits ------------------------------------------------------------------------------- */

static void test_body_of_exactly_body_max_is_taken(void **state)
{
	char url[URL_MAX + URI_MAX], path[64];
	const char *kinds[] = {"/bytes/%d", "/chunked/%d"};
	struct tm_outbound_response r;

	for (size_t i = 0; i < TM_ARRAY_LEN(kinds); i++) {
		snprintf(path, sizeof(path), kinds[i], BODY_MAX);
		struct tm_outbound_request q = request(path, url, sizeof(url));
		assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
		assert_int_equal(r.body.len, BODY_MAX);
		tm_buf_free(&r.body);
	}
}

static void test_body_over_body_max_is_too_large(void **state)
{
	char url[URL_MAX + URI_MAX], path[64];
	const char *kinds[] = {"/bytes/%d", "/chunked/%d"}; /* length known in advance, or not */
	const int sizes[] = {BODY_MAX + 1, BIG_BYTES};
	struct tm_outbound_response r;

	for (size_t i = 0; i < TM_ARRAY_LEN(kinds); i++) {
		for (size_t k = 0; k < TM_ARRAY_LEN(sizes); k++) {
			snprintf(path, sizeof(path), kinds[i], sizes[k]);
			struct tm_outbound_request q = request(path, url, sizeof(url));
			if (tm_outbound_do(&q, &r) != TM_OUTBOUND_TOO_LARGE)
				fail_msg("%s was taken", path);
			assert_int_equal(r.body.len, 0);
			assert_null(r.body.data);
			assert_true(r.curl_code != CURLE_OK);
			assert_non_null(strstr(r.error, "larger than 1024 bytes"));
		}
	}
}

static void test_answer_slower_than_the_timeout_times_out_in_time(void **state)
{
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/slow", url, sizeof(url));
	struct tm_outbound_response r;

	q.timeout_ms = SHORT_TIMEOUT_MS;
	int64_t t0 = tm_mono_ms();
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_TIMEOUT);
	int64_t took = tm_mono_ms() - t0;
	if (took < SHORT_TIMEOUT_MS - WAIT_EARLY_MS || took > SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS)
		fail_msg("gave up after %lld ms", (long long)took);
	assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "no answer within 300 ms"));
}

/* ---- what is never done ------------------------------------------------------------------- */

static void test_redirect_is_not_followed(void **state)
{
	const char *const capture[] = {"location", NULL};
	struct server *target = server_start();
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/redirect", url, sizeof(url));
	struct tm_outbound_response r;
	int requests;

	assert_non_null(target);
	snprintf(srv->location, sizeof(srv->location), "%s/echo", target->url);
	q.capture = capture;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	assert_int_equal(r.status, 302);
	assert_string_equal(r.captured[0], srv->location);
	assert_int_equal(counts(target, &requests), 0);
	assert_int_equal(requests, 0);
	counts(srv, &requests);
	assert_int_equal(requests, 1);
	tm_buf_free(&r.body);
	server_stop(target);
}

static void test_http_url_is_refused_unless_allowed(void **state)
{
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	q.allow_http = false;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_LOCAL);
	assert_int_equal(r.curl_code, CURLE_UNSUPPORTED_PROTOCOL);
	assert_int_equal(r.status, 0);
	assert_int_equal(counts(srv, NULL), 0);
}

static void test_url_of_another_scheme_is_refused(void **state)
{
	const char *urls[] = {"ftp://127.0.0.1/",
			      "file:///etc/passwd",
			      "gopher://127.0.0.1:70/",
			      "127.0.0.1/echo",
			      "",
			      NULL};
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));

	for (size_t i = 0; i < TM_ARRAY_LEN(urls); i++) {
		q.url = urls[i];
		assert_refused_without_a_connection(&q, CURLE_UNSUPPORTED_PROTOCOL);
	}
}

static void test_header_injection_and_bad_requests_are_refused(void **state)
{
	const char *const split[] = {"X-A: 1\r\nX-Injected: 1", NULL};
	const char *const lf[] = {"X-A: 1\nX-Injected: 1", NULL};
	const char *many[TM_OUTBOUND_HEADERS_MAX + 2];
	const char *const too_many_captures[] = {"a", "b", "c", "d", "e", NULL};
	const char *const empty_capture[] = {"", NULL};
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request base = request("/echo", url, sizeof(url)), q;

	for (size_t i = 0; i < TM_ARRAY_LEN(many) - 1; i++)
		many[i] = "X-Many: 1";
	many[TM_ARRAY_LEN(many) - 1] = NULL;
	q = base, q.headers = split;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.headers = lf;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.headers = many;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.user_agent = "ua\r\nX-Injected: 1";
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.capture = too_many_captures;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.capture = empty_capture;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.method = "PUT";
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.method = NULL;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.body = "a GET has no body";
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.timeout_ms = 0;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	q = base, q.body_max = 0;
	assert_refused_without_a_connection(&q, CURLE_BAD_FUNCTION_ARGUMENT);
	/* at the limits: accepted */
	many[TM_OUTBOUND_HEADERS_MAX] = NULL;
	q = base, q.headers = many, q.capture = too_many_captures + 1;
	struct tm_outbound_response r;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_OK);
	tm_buf_free(&r.body);
}

static void test_refused_connection_is_a_transport_failure_without_a_status(void **state)
{
	const char *const headers[] = {"Authorization: " SECRET, NULL};
	struct server *gone = server_start();
	char url[URL_MAX + URI_MAX];
	struct tm_outbound_request q = request("/echo", url, sizeof(url));
	struct tm_outbound_response r;

	assert_non_null(gone);
	snprintf(url, sizeof(url), "%s/echo", gone->url);
	server_stop(gone); /* nothing listens there any more */
	q.headers = headers;
	assert_int_equal(tm_outbound_do(&q, &r), TM_OUTBOUND_TRANSPORT);
	assert_int_equal(r.curl_code, CURLE_COULDNT_CONNECT);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.body.len, 0);
	assert_true(r.error[0] != '\0');
	assert_null(strstr(r.error, "s3cr3t"));
}

static void *caller(void *arg)
{
	int *ok = arg;
	char url[URL_MAX + URI_MAX];

	for (int i = 0; i < CALLS_PER_THREAD; i++) {
		struct tm_outbound_request q = request("/echo", url, sizeof(url));
		struct tm_outbound_response r;
		if (tm_outbound_do(&q, &r) == TM_OUTBOUND_OK && r.status == 200 &&
		    strcmp(r.body.data, "hello") == 0)
			(*ok)++;
		tm_buf_free(&r.body);
	}
	return NULL;
}

static void test_concurrent_requests_from_threads_all_succeed(void **state)
{
	pthread_t t[THREADS];
	int ok[THREADS] = {0}, requests;

	for (size_t i = 0; i < TM_ARRAY_LEN(t); i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, &ok[i]), 0);
	for (size_t i = 0; i < TM_ARRAY_LEN(t); i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ok[i], CALLS_PER_THREAD);
	}
	counts(srv, &requests);
	assert_int_equal(requests, THREADS * CALLS_PER_THREAD);
}

int main(void)
{
	const char *only = getenv("TM_TEST_ONLY");
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_get_round_trip),
		T(test_post_round_trip_sends_the_body_as_is),
		T(test_post_without_a_body_sends_an_empty_one),
		T(test_header_lines_and_user_agent_are_sent),
		T(test_large_post_body_goes_without_expect_100_continue),
		T(test_error_status_is_a_reply_like_any_other),
		T(test_reply_headers_are_captured_whatever_their_case),
		T(test_header_value_that_does_not_fit_is_left_empty),
		T(test_body_of_exactly_body_max_is_taken),
		T(test_body_over_body_max_is_too_large),
		T(test_answer_slower_than_the_timeout_times_out_in_time),
		T(test_redirect_is_not_followed),
		T(test_http_url_is_refused_unless_allowed),
		T(test_url_of_another_scheme_is_refused),
		T(test_header_injection_and_bad_requests_are_refused),
		T(test_refused_connection_is_a_transport_failure_without_a_status),
		T(test_concurrent_requests_from_threads_all_succeed),
#undef T
	};

	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, http_group_setup, http_group_teardown);
}
