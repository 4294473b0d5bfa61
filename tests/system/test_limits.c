/*
 * The gateway's abuse limits and browser-facing headers over HTTP, on a stack
 * of their own with tight limits: 5 auth requests a minute per client, 30
 * reads and 10 writes a minute per user, CORS for one origin. Each test uses
 * its own users (tokens minted with the stack's key), so the limits one test
 * exhausts do not reach another; only the auth test sends auth requests.
 */
#include "api_client.h"

#include "tm/jwt.h"

#define RATE_AUTH_N 5
#define RATE_READ_N 30
#define RATE_WRITE_N 10
#define ALLOWED_ORIGIN "https://app.example.com"
#define EVIL_ORIGIN "https://evil.example"
#define RATE_LIMITED_SERIES "tm_http_rate_limited_total{service=\"gateway\"}"
#define FAILED_LOGIN_MESSAGE "too many failed logins"

static int setup(void **state)
{
	(void)state;
	/* inherited by the daemons */
	setenv("TM_RATE_AUTH", "5/60", 1);
	setenv("TM_RATE_READ", "30/60", 1);
	setenv("TM_RATE_WRITE", "10/60", 1);
	setenv("TM_CORS_ORIGINS", ALLOWED_ORIGIN, 1);
	return tm_test_stack_start(&stack, false) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return tm_test_stack_stop(&stack) == 0 ? 0 : -1;
}

/* A token for a new user of `role` (no account needed for these routes). */
static void new_user_token(const char *role, char *out, size_t len)
{
	char sub[TM_UUID_LEN + 1];
	tm_uuid_v4(sub);
	http_mint_token(stack.jwt_secret, sub, role, out, len);
}

/* The value of one series in /metrics, or -1 when absent. */
static double metric(const char *series)
{
	struct http_resp r;
	double v = -1;
	api_get("/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	size_t n = strlen(series);
	for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	http_resp_free(&r);
	return v;
}

static void assert_security_headers(const struct http_resp *r)
{
	assert_header(r, "X-Content-Type-Options", "nosniff");
	assert_header(r, "Cache-Control", "no-store");
	assert_header(r, "Content-Security-Policy", "frame-ancestors 'none'");
}

/* ---- rate limits -------------------------------------------------------------------------- */

static void test_sixth_login_from_one_client_within_the_window_is_429(void **state)
{
	char email[160], t[13], body[256], msg[300], tok[TM_JWT_MAX_BYTES];
	struct http_resp r;
	(void)state;
	double before = metric(RATE_LIMITED_SERIES);
	assert_true(before >= 0);
	/* distinct unknown e-mails: no account is throttled, only the client */
	for (int i = 0; i <= RATE_AUTH_N; i++) {
		random_tag(t);
		snprintf(email, sizeof(email), "limit-%d-%s@example.com", i, t);
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s-wrong-pw\"}",
			 email, PASSWORD_MARKER);
		api_post("/api/v1/auth/login", NULL, body, &r);
		if (i < RATE_AUTH_N) {
			if (r.status != 401)
				fail_msg("login %d: expected 401, got %ld %.300s", i + 1, r.status,
					 r.body);
			assert_error(&r, 401, "UNAUTHENTICATED");
		} else {
			assert_rate_limited(&r);
			assert_true(header_long(&r, "Retry-After") <= 60);
			assert_security_headers(&r);
			error_message(&r, msg, sizeof(msg));
			assert_null(strstr(msg, FAILED_LOGIN_MESSAGE)); /* not the login throttle */
		}
		http_resp_free(&r);
	}
	/* the gateway's limiter answered, before the identity workers saw it */
	assert_true(metric(RATE_LIMITED_SERIES) == before + 1);
	/* the other auth routes share the client's budget */
	api_post("/api/v1/auth/register", NULL,
		 "{\"email\":\"late@example.com\",\"password\":\"" PASSWORD_MARKER
		 "-late-pw\",\"role\":\"client\",\"displayName\":\"Late\"}",
		 &r);
	assert_rate_limited(&r);
	http_resp_free(&r);
	/* other classes are not spent by it */
	new_user_token("client", tok, sizeof(tok));
	api_get("/api/v1/projects", tok, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

static void test_reads_beyond_the_limit_are_429_while_another_user_is_served(void **state)
{
	char a[TM_JWT_MAX_BYTES], b[TM_JWT_MAX_BYTES];
	struct http_resp r;
	int served = 0;
	bool limited = false;
	(void)state;
	new_user_token("client", a, sizeof(a));
	new_user_token("client", b, sizeof(b));
	/* a full bucket of RATE_READ_N, refilling at one per 2 s */
	for (int i = 0; i < RATE_READ_N + 10 && !limited; i++) {
		api_get("/api/v1/projects", a, &r);
		if (r.status == 200) {
			served++;
		} else {
			assert_rate_limited(&r);
			assert_security_headers(&r);
			limited = true;
		}
		http_resp_free(&r);
	}
	if (!limited)
		fail_msg("%d reads in a row were served (limit %d/60)", served, RATE_READ_N);
	assert_true(served >= RATE_READ_N);
	api_get("/api/v1/projects", b, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	api_get("/api/v1/projects", a, &r); /* still limited */
	assert_rate_limited(&r);
	http_resp_free(&r);
}

static void test_writes_beyond_the_limit_are_429_while_another_user_is_served(void **state)
{
	char a[TM_JWT_MAX_BYTES], b[TM_JWT_MAX_BYTES];
	struct http_resp r;
	const char *body = "{\"title\":\"Limited\",\"description\":\"write limit check\"}";
	int served = 0;
	bool limited = false;
	(void)state;
	new_user_token("client", a, sizeof(a));
	new_user_token("client", b, sizeof(b));
	for (int i = 0; i < RATE_WRITE_N + 5 && !limited; i++) {
		api_post("/api/v1/projects", a, body, &r);
		if (r.status == 202) {
			served++;
		} else {
			assert_rate_limited(&r);
			limited = true;
		}
		http_resp_free(&r);
	}
	if (!limited)
		fail_msg("%d writes in a row were served (limit %d/60)", served, RATE_WRITE_N);
	assert_true(served >= RATE_WRITE_N);
	api_post("/api/v1/projects", b, body, &r);
	assert_int_equal(r.status, 202);
	http_resp_free(&r);
}

static void test_healthz_is_never_throttled(void **state)
{
	struct http_resp r;
	(void)state;
	for (int i = 0; i < 3 * RATE_READ_N; i++) {
		api_get("/healthz", NULL, &r);
		if (r.status != 200)
			fail_msg("/healthz request %d: %ld %.200s", i + 1, r.status, r.body);
		http_resp_free(&r);
	}
	for (int i = 0; i < RATE_READ_N + 5; i++) {
		api_get("/readyz", NULL, &r);
		assert_int_equal(r.status, 200);
		http_resp_free(&r);
	}
}

/* ---- CORS ------------------------------------------------------------------------------- */

static void preflight(const char *origin, const char *method, struct http_resp *r)
{
	char o[200], m[100];
	snprintf(o, sizeof(o), "Origin: %s", origin);
	snprintf(m, sizeof(m), "Access-Control-Request-Method: %s", method);
	const char *h[] = {o, m, "Access-Control-Request-Headers: authorization, content-type",
			   NULL};
	api_do("OPTIONS", "/api/v1/projects", NULL, NULL, h, r);
}

static void test_cors_preflight_from_the_allowed_origin_is_204_with_its_methods(void **state)
{
	struct http_resp r;
	char v[256];
	(void)state;
	preflight(ALLOWED_ORIGIN, "POST", &r);
	assert_int_equal(r.status, 204);
	assert_header(&r, "Access-Control-Allow-Origin", ALLOWED_ORIGIN);
	assert_int_equal(http_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)), 0);
	assert_non_null(strstr(v, "POST"));
	assert_non_null(strstr(v, "GET"));
	assert_int_equal(http_header(&r, "Access-Control-Allow-Headers", v, sizeof(v)), 0);
	assert_non_null(strcasestr(v, "Authorization"));
	assert_non_null(strcasestr(v, "Content-Type"));
	assert_int_equal(http_header(&r, "Vary", v, sizeof(v)), 0);
	assert_non_null(strstr(v, "Origin"));
	assert_true(header_long(&r, "Access-Control-Max-Age") > 0);
	assert_false(has_header(&r, "Access-Control-Allow-Credentials")); /* bearer tokens only */
	assert_security_headers(&r);
	http_resp_free(&r);
}

static void test_cors_preflight_from_another_origin_is_403_without_allow_origin(void **state)
{
	struct http_resp r;
	(void)state;
	const char *origins[] = {EVIL_ORIGIN, "https://app.example.com.evil.example",
				 "http://app.example.com", "null", NULL};
	for (int i = 0; origins[i]; i++) {
		preflight(origins[i], "POST", &r);
		assert_error(&r, 403, "FORBIDDEN");
		assert_false(has_header(&r, "Access-Control-Allow-Origin"));
		assert_false(has_header(&r, "Access-Control-Allow-Methods"));
		assert_security_headers(&r);
		http_resp_free(&r);
	}
	/* the allowed origin asking for a method the path does not have */
	preflight(ALLOWED_ORIGIN, "DELETE", &r);
	assert_error(&r, 403, "FORBIDDEN");
	assert_false(has_header(&r, "Access-Control-Allow-Methods"));
	http_resp_free(&r);
}

static void test_cors_request_from_the_allowed_origin_carries_allow_origin(void **state)
{
	char tok[TM_JWT_MAX_BYTES], v[256];
	struct http_resp r;
	(void)state;
	new_user_token("client", tok, sizeof(tok));
	const char *allowed[] = {"Origin: " ALLOWED_ORIGIN, NULL};
	api_do("GET", "/api/v1/projects", tok, NULL, allowed, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Access-Control-Allow-Origin", ALLOWED_ORIGIN);
	assert_int_equal(http_header(&r, "Access-Control-Expose-Headers", v, sizeof(v)), 0);
	assert_non_null(strstr(v, "X-Request-Id"));
	assert_non_null(strstr(v, "Retry-After"));
	assert_false(has_header(&r, "Access-Control-Allow-Credentials"));
	http_resp_free(&r);
	/* another origin is served (CORS is the browser's check) but not allowed */
	const char *evil[] = {"Origin: " EVIL_ORIGIN, NULL};
	api_do("GET", "/api/v1/projects", tok, NULL, evil, &r);
	assert_int_equal(r.status, 200);
	assert_false(has_header(&r, "Access-Control-Allow-Origin"));
	http_resp_free(&r);
}

/* ---- security headers ------------------------------------------------------------------ */

static void test_security_headers_are_on_authenticated_and_error_replies(void **state)
{
	char tok[TM_JWT_MAX_BYTES], path[96], id[TM_UUID_LEN + 1];
	struct http_resp r;
	(void)state;
	new_user_token("client", tok, sizeof(tok));
	api_get("/api/v1/projects", tok, &r); /* authenticated, 200 */
	assert_int_equal(r.status, 200);
	assert_security_headers(&r);
	http_resp_free(&r);
	tm_uuid_v4(id);
	snprintf(path, sizeof(path), "/api/v1/projects/%s", id);
	api_get(path, tok, &r); /* authenticated, error */
	assert_error(&r, 404, "NOT_FOUND");
	assert_security_headers(&r);
	http_resp_free(&r);
	api_get("/api/v1/projects", NULL, &r); /* unauthenticated */
	assert_error(&r, 401, "UNAUTHENTICATED");
	assert_security_headers(&r);
	http_resp_free(&r);
	api_post("/api/v1/projects", tok, "{\"title\":", &r); /* malformed */
	assert_error(&r, 400, "VALIDATION_FAILED");
	assert_security_headers(&r);
	http_resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sixth_login_from_one_client_within_the_window_is_429),
		cmocka_unit_test(test_reads_beyond_the_limit_are_429_while_another_user_is_served),
		cmocka_unit_test(test_writes_beyond_the_limit_are_429_while_another_user_is_served),
		cmocka_unit_test(test_healthz_is_never_throttled),
		cmocka_unit_test(
			test_cors_preflight_from_the_allowed_origin_is_204_with_its_methods),
		cmocka_unit_test(
			test_cors_preflight_from_another_origin_is_403_without_allow_origin),
		cmocka_unit_test(test_cors_request_from_the_allowed_origin_carries_allow_origin),
		cmocka_unit_test(test_security_headers_are_on_authenticated_and_error_replies),
	};
	return cmocka_run_group_tests_name("system: rate limits, CORS, security headers", tests,
					   setup, teardown);
}
