/*
 * The GitHub client of common/github.c against tests/support/fake_github.c, a
 * real HTTP server on a free 127.0.0.1 port speaking GitHub's wire format.
 * Each test gets a fresh fake with two users (one with a primary verified
 * address, one without) and one code; faults are armed per test. Besides the
 * result codes, the tests read what the fake recorded: the headers the client
 * sent, that the secret travels only in the POST body and the token only in
 * the Authorization header, that nothing was retried and that no redirect was
 * followed. The only clock checks are generous bounds on the timeout cases.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "../support/http.h"
#include "../support/fake_github.h"
#include "tm/github.h"
#include "tm/util.h"

#define CALL_TIMEOUT_MS 10000 /* calls that should be answered */
#define SHORT_TIMEOUT_MS 800  /* the timeout cases */
#define SLOW_ANSWER_MS 5000   /* the fake's delay in the timeout cases (> SHORT_TIMEOUT_MS) */
#define TIMEOUT_SLACK_MS 3000 /* generous: sanitizers, a loaded machine */
#define RATE_RESET_IN_S 600   /* x-ratelimit-reset - now in the 403 case */
#define RESET_SKEW_S 15	      /* clock steps between the fake's time() and the client's */
#define THREADS 8	      /* concurrent callers */
#define CALLS_PER_THREAD 4    /* get_user calls of each */
#define AUTH_URL_MAX 4096     /* bytes of an authorize URL in these tests */
#define ERR_MAX 512
#define PARAM_MAX 1024

#define OCTO_TOKEN "gho_16C7e42F292c6912E7710c838347Ae178B4a"
#define NOMAIL_TOKEN "gho_NoMail0000000000000000000000000000001"
#define OCTO_CODE "4f1c0de5aa2b09e1d3c7"
#define OCTO_ID 583231
#define REDIRECT_URI "https://app.taskmesh.test/auth/github/callback?next=/projects&x=1"

struct fixture {
	struct fake_github *fg;
	const char *url; /* the fake's base URL, both api_url and oauth_url */
	struct tm_github_config cfg;
};

static struct fixture fx;

static const char *const secrets[] = {FAKE_GITHUB_CLIENT_SECRET, OCTO_TOKEN, NOMAIL_TOKEN};

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
	const struct fake_github_user octo = {
		.token = OCTO_TOKEN,
		.id = OCTO_ID,
		.login = "octocat",
		.name = "The Octocat",
		.emails = {{"octocat@users.noreply.github.com", false, true, NULL},
			   {"octocat@github.com", true, true, "public"},
			   {"old@example.com", false, false, "private"}},
		.n_emails = 3,
	};
	const struct fake_github_user nomail = {
		.token = NOMAIL_TOKEN,
		.id = 2,
		.login = "no-mail_user",
		.name = NULL,
		.emails = {{"new@example.com", true, false, "private"},
			   {"verified-but-not-primary@example.com", false, true, NULL}},
		.n_emails = 2,
	};

	memset(&fx, 0, sizeof(fx));
	fx.url = fake_github_start(&fx.fg);
	if (!fx.url)
		return -1;
	fx.cfg.api_url = fx.url;
	fx.cfg.oauth_url = fx.url;
	fx.cfg.client_id = FAKE_GITHUB_CLIENT_ID;
	fx.cfg.client_secret = FAKE_GITHUB_CLIENT_SECRET;
	fx.cfg.timeout_ms = CALL_TIMEOUT_MS;
	if (fake_github_add_user(fx.fg, &octo) != 0 || fake_github_add_user(fx.fg, &nomail) != 0 ||
	    fake_github_add_code(fx.fg, OCTO_CODE, OCTO_TOKEN, REDIRECT_URI) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	fake_github_stop(fx.fg);
	fx.fg = NULL;
	return 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* err (or any text) holds neither the client secret nor a token. */
static void assert_no_secret(const char *s)
{
	for (size_t i = 0; i < TM_ARRAY_LEN(secrets); i++)
		if (strstr(s, secrets[i]))
			fail_msg("\"%s\" holds a secret", s);
}

/* Every request the fake got kept the secret in the POST body and the token in
 * the Authorization header: none in a URI, none elsewhere. */
static void assert_secrets_stayed_in_place(struct fake_github *fg)
{
	struct fake_github_request r;
	char auth[512];

	for (int i = 0; fake_github_request(fg, i, &r) == 0; i++) {
		assert_no_secret(r.uri);
		assert_null(strstr(r.headers, FAKE_GITHUB_CLIENT_SECRET));
		for (size_t t = 1; t < TM_ARRAY_LEN(secrets); t++) {
			assert_null(strstr(r.body, secrets[t]));
			const char *at = strstr(r.headers, secrets[t]);
			if (!at)
				continue;
			assert_int_equal(
				fake_github_header(&r, "Authorization", auth, sizeof(auth)), 0);
			assert_true(strncmp(auth, "Bearer ", 7) == 0 &&
				    strcmp(auth + 7, secrets[t]) == 0);
			assert_null(strstr(at + 1, secrets[t])); /* once: in that line only */
		}
	}
}

static enum tm_github_rc exchange(const char *code, char *token, int *retry_s, char *err)
{
	return tm_github_exchange_code(&fx.cfg, code, REDIRECT_URI, token, TM_GITHUB_TOKEN_MAX,
				       retry_s, err, ERR_MAX);
}

static enum tm_github_rc get_user(const char *token, struct tm_github_user *u, int *retry_s,
				  char *err)
{
	return tm_github_get_user(&fx.cfg, token, u, retry_s, err, ERR_MAX);
}

/* Arms fault for the next request to path only. */
static void fail_path(const char *path, enum fake_github_fault fault)
{
	struct fake_github_fault_spec spec = {.fault = fault, .count = 1, .path = path};

	fake_github_fail(fx.fg, &spec);
}

/* Calls the endpoint at path (the exchange, or get_user for the two others)
 * with a fresh code or the good token. */
static enum tm_github_rc call_path(const char *path, int *retry_s, char *err)
{
	char token[TM_GITHUB_TOKEN_MAX];
	struct tm_github_user u;

	if (strcmp(path, "/login/oauth/access_token") == 0) {
		char code[64];
		static int n;
		snprintf(code, sizeof(code), "fresh-code-%d", ++n);
		assert_int_equal(fake_github_add_code(fx.fg, code, OCTO_TOKEN, NULL), 0);
		return exchange(code, token, retry_s, err);
	}
	return get_user(OCTO_TOKEN, &u, retry_s, err);
}

static const char *const paths[] = {"/login/oauth/access_token", "/user", "/user/emails"};

/* fault on each endpoint in turn is UNAVAILABLE after exactly one request
 * there (nothing retried), with a clean err and no wait. */
static void assert_unavailable_everywhere(enum fake_github_fault fault)
{
	char err[ERR_MAX];
	int retry_s = -1;

	for (size_t i = 0; i < TM_ARRAY_LEN(paths); i++) {
		int before = fake_github_path_count(fx.fg, paths[i]);
		fail_path(paths[i], fault);
		assert_int_equal(call_path(paths[i], &retry_s, err), TM_GITHUB_UNAVAILABLE);
		assert_int_equal(fake_github_path_count(fx.fg, paths[i]), before + 1);
		assert_int_equal(retry_s, 0);
		assert_true(err[0] != '\0');
		assert_no_secret(err);
	}
	assert_secrets_stayed_in_place(fx.fg);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* The percent-decoded value of key in the query of url; fails the test if it
 * is absent or badly encoded. */
static void query_param(const char *url, const char *key, char *out, size_t outlen)
{
	const char *q = strchr(url, '?');
	size_t kl = strlen(key);

	assert_non_null(q);
	for (const char *p = q + 1; p && *p;) {
		const char *end = strchr(p, '&');
		size_t pl = end ? (size_t)(end - p) : strlen(p);
		if (pl > kl && p[kl] == '=' && strncmp(p, key, kl) == 0) {
			size_t n = 0;
			for (size_t i = kl + 1; i < pl; i++) {
				char ch = p[i];
				if (ch == '%') {
					assert_true(i + 2 < pl);
					assert_true(hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0);
					ch = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
					i += 2;
				}
				assert_true(n + 1 < outlen);
				out[n++] = ch;
			}
			out[n] = '\0';
			return;
		}
		p = end ? end + 1 : NULL;
	}
	fail_msg("%s has no %s", url, key);
}

/* ---- the happy path ---------------------------------------------------------------------- */

static void test_code_exchange_then_user_gives_the_primary_verified_email(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];
	struct tm_github_user u;
	int retry_s = -1;

	assert_int_equal(exchange(OCTO_CODE, token, &retry_s, err), TM_GITHUB_OK);
	assert_string_equal(token, OCTO_TOKEN);
	assert_string_equal(err, "");
	assert_int_equal(retry_s, 0);
	assert_int_equal(get_user(token, &u, &retry_s, err), TM_GITHUB_OK);
	assert_string_equal(err, "");
	assert_int_equal(u.id, OCTO_ID);
	assert_string_equal(u.login, "octocat");
	assert_string_equal(u.name, "The Octocat");
	assert_string_equal(u.email, "octocat@github.com");
	assert_true(u.email_verified);
	assert_int_equal(fake_github_request_count(fx.fg), 3);
	assert_int_equal(fake_github_path_count(fx.fg, "/user/emails"), 1);
}

static void test_every_request_names_the_client_and_the_media_type_it_accepts(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX], v[256];
	struct fake_github_request r;
	struct tm_github_user u;

	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_OK);
	assert_int_equal(get_user(token, &u, NULL, err), TM_GITHUB_OK);

	assert_int_equal(fake_github_request(fx.fg, 0, &r), 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.uri, "/login/oauth/access_token");
	assert_int_equal(fake_github_header(&r, "User-Agent", v, sizeof(v)), 0);
	assert_string_equal(v, TM_GITHUB_USER_AGENT);
	assert_int_equal(fake_github_header(&r, "Accept", v, sizeof(v)), 0);
	assert_string_equal(v, "application/json");
	assert_int_equal(fake_github_header(&r, "Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "application/x-www-form-urlencoded");
	assert_int_equal(fake_github_header(&r, "Authorization", v, sizeof(v)), -1);

	for (int i = 1; i <= 2; i++) {
		assert_int_equal(fake_github_request(fx.fg, i, &r), 0);
		assert_string_equal(r.method, "GET");
		assert_string_equal(r.uri, i == 1 ? "/user" : "/user/emails?per_page=100");
		assert_int_equal(r.body_len, 0);
		assert_int_equal(fake_github_header(&r, "User-Agent", v, sizeof(v)), 0);
		assert_string_equal(v, TM_GITHUB_USER_AGENT);
		assert_int_equal(fake_github_header(&r, "Accept", v, sizeof(v)), 0);
		assert_string_equal(v, "application/vnd.github+json");
		assert_int_equal(fake_github_header(&r, "X-GitHub-Api-Version", v, sizeof(v)), 0);
		assert_string_equal(v, "2022-11-28");
		assert_int_equal(fake_github_header(&r, "Authorization", v, sizeof(v)), 0);
		assert_string_equal(v, "Bearer " OCTO_TOKEN);
	}
}

static void test_secret_only_in_the_post_body_and_token_only_in_authorization(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];
	struct fake_github_request r;
	struct tm_github_user u;

	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_OK);
	assert_int_equal(get_user(token, &u, NULL, err), TM_GITHUB_OK);
	assert_secrets_stayed_in_place(fx.fg);

	/* the form carries all four fields, the secret among them */
	assert_int_equal(fake_github_request(fx.fg, 0, &r), 0);
	assert_non_null(strstr(r.body, "client_id=Iv1.fake0client0id"));
	assert_non_null(strstr(r.body, "&client_secret=" FAKE_GITHUB_CLIENT_SECRET));
	assert_non_null(strstr(r.body, "&code=" OCTO_CODE));
	assert_non_null(strstr(r.body, "&redirect_uri=https%3A%2F%2Fapp.taskmesh.test%2F"));
}

/* ---- the authorize URL ------------------------------------------------------------------- */

static void
test_authorize_url_carries_every_parameter_encoded_and_the_state_round_trips(void **state)
{
	const char *st = "s t&a=t/e?\xc3\xa9#1%+";
	char url[AUTH_URL_MAX], prefix[256], v[PARAM_MAX];

	assert_int_equal(tm_github_authorize_url(&fx.cfg, REDIRECT_URI, st, url, sizeof(url)), 0);
	snprintf(prefix, sizeof(prefix), "%s/login/oauth/authorize?", fx.url);
	assert_true(strncmp(url, prefix, strlen(prefix)) == 0);
	/* encoded values leave the four separators and nothing else */
	const char *q = url + strlen(prefix);
	assert_null(strpbrk(q, " #?+/:\"<>"));
	int amps = 0;
	for (const char *p = q; *p; p++)
		amps += *p == '&';
	assert_int_equal(amps, 3);

	query_param(url, "client_id", v, sizeof(v));
	assert_string_equal(v, FAKE_GITHUB_CLIENT_ID);
	query_param(url, "redirect_uri", v, sizeof(v));
	assert_string_equal(v, REDIRECT_URI);
	query_param(url, "state", v, sizeof(v));
	assert_string_equal(v, st);
	query_param(url, "scope", v, sizeof(v));
	assert_string_equal(v, "read:user user:email");
	assert_no_secret(url);

	/* no oauth_url configured: github.com */
	struct tm_github_config dflt = fx.cfg;
	dflt.oauth_url = NULL;
	assert_int_equal(tm_github_authorize_url(&dflt, REDIRECT_URI, "x", url, sizeof(url)), 0);
	assert_true(strncmp(url, "https://github.com/login/oauth/authorize?client_id=", 51) == 0);
}

static void test_authorize_url_that_does_not_fit_is_refused(void **state)
{
	char url[AUTH_URL_MAX];

	assert_int_equal(tm_github_authorize_url(&fx.cfg, REDIRECT_URI, "st", url, sizeof(url)), 0);
	size_t len = strlen(url);
	assert_int_equal(tm_github_authorize_url(&fx.cfg, REDIRECT_URI, "st", url, len + 1), 0);
	assert_int_equal(strlen(url), len);
	assert_int_equal(tm_github_authorize_url(&fx.cfg, REDIRECT_URI, "st", url, len), -1);
	assert_string_equal(url, "");
	/* no state, no URL: it is the CSRF check of the callback */
	assert_int_equal(tm_github_authorize_url(&fx.cfg, REDIRECT_URI, "", url, sizeof(url)), -1);
	assert_int_equal(tm_github_authorize_url(&fx.cfg, REDIRECT_URI, NULL, url, sizeof(url)),
			 -1);
}

/* ---- codes and tokens -------------------------------------------------------------------- */

static void test_unknown_code_is_bad_code(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];
	int retry_s = -1;

	assert_int_equal(exchange("0123456789abcdef0123", token, &retry_s, err),
			 TM_GITHUB_BAD_CODE);
	assert_string_equal(token, "");
	assert_int_equal(retry_s, 0);
	assert_non_null(strstr(err, "bad_verification_code"));
	assert_no_secret(err);
	assert_int_equal(fake_github_request_count(fx.fg), 1);
}

static void test_code_exchanges_only_once(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];

	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_OK);
	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_BAD_CODE);
	assert_string_equal(token, "");
}

static void test_empty_oversized_or_multiline_code_is_bad_code_without_a_request(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX], big[400];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(exchange("", token, NULL, err), TM_GITHUB_BAD_CODE);
	assert_int_equal(exchange(big, token, NULL, err), TM_GITHUB_BAD_CODE);
	assert_int_equal(exchange("abc\r\nX-Injected: 1", token, NULL, err), TM_GITHUB_BAD_CODE);
	assert_int_equal(exchange(NULL, token, NULL, err), TM_GITHUB_BAD_CODE);
	assert_int_equal(fake_github_request_count(fx.fg), 0);
}

static void test_wrong_client_secret_is_unavailable_not_bad_code(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];
	const char *wrong = "wrong-secret-do-not-log-me";

	fx.cfg.client_secret = wrong;
	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_UNAVAILABLE);
	assert_non_null(strstr(err, "incorrect_client_credentials"));
	assert_null(strstr(err, wrong));
	assert_no_secret(err);
	/* the code was not spent on it */
	fx.cfg.client_secret = FAKE_GITHUB_CLIENT_SECRET;
	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_OK);
}

static void test_redirect_uri_mismatch_is_a_configuration_fault_not_bad_code(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];

	assert_int_equal(tm_github_exchange_code(&fx.cfg, OCTO_CODE, "https://evil.test/cb", token,
						 sizeof(token), NULL, err, sizeof(err)),
			 TM_GITHUB_UNAVAILABLE);
	assert_non_null(strstr(err, "redirect_uri_mismatch"));
}

static void test_missing_client_credentials_are_refused_without_a_request(void **state)
{
	char token[TM_GITHUB_TOKEN_MAX], err[ERR_MAX];

	fx.cfg.client_secret = "";
	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_UNAVAILABLE);
	fx.cfg.client_secret = FAKE_GITHUB_CLIENT_SECRET;
	fx.cfg.client_id = NULL;
	assert_int_equal(exchange(OCTO_CODE, token, NULL, err), TM_GITHUB_UNAVAILABLE);
	assert_int_equal(fake_github_request_count(fx.fg), 0);
}

static void test_token_that_does_not_fit_the_callers_buffer_is_unavailable(void **state)
{
	char token[8], err[ERR_MAX];

	assert_int_equal(tm_github_exchange_code(&fx.cfg, OCTO_CODE, REDIRECT_URI, token,
						 sizeof(token), NULL, err, sizeof(err)),
			 TM_GITHUB_UNAVAILABLE);
	assert_string_equal(token, "");
	assert_no_secret(err);
}

static void test_unknown_token_is_unauthorized(void **state)
{
	char err[ERR_MAX];
	struct tm_github_user u;
	const char *bad = "gho_ThisTokenWasRevoked00000000000000000";

	assert_int_equal(get_user(bad, &u, NULL, err), TM_GITHUB_UNAUTHORIZED);
	assert_null(strstr(err, bad));
	assert_non_null(strstr(err, "401"));
	assert_int_equal(u.id, 0);
	assert_int_equal(fake_github_request_count(fx.fg), 1); /* not /user/emails */
}

static void test_token_with_a_line_break_is_unauthorized_without_a_request(void **state)
{
	char err[ERR_MAX], big[TM_GITHUB_TOKEN_MAX + 8];
	struct tm_github_user u;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(get_user(OCTO_TOKEN "\r\nX-Injected: 1", &u, NULL, err),
			 TM_GITHUB_UNAUTHORIZED);
	assert_int_equal(get_user("has space", &u, NULL, err), TM_GITHUB_UNAUTHORIZED);
	assert_int_equal(get_user("", &u, NULL, err), TM_GITHUB_UNAUTHORIZED);
	assert_int_equal(get_user(big, &u, NULL, err), TM_GITHUB_UNAUTHORIZED);
	assert_no_secret(err);
	assert_int_equal(fake_github_request_count(fx.fg), 0);
}

/* ---- e-mail choice and field checks ------------------------------------------------------ */

static void test_user_without_a_verified_primary_email_is_ok_with_no_email(void **state)
{
	char err[ERR_MAX];
	struct tm_github_user u;

	assert_int_equal(get_user(NOMAIL_TOKEN, &u, NULL, err), TM_GITHUB_OK);
	assert_int_equal(u.id, 2);
	assert_string_equal(u.login, "no-mail_user");
	assert_string_equal(u.name, ""); /* null */
	assert_string_equal(u.email, "");
	assert_false(u.email_verified);
}

static void test_long_name_is_cut_at_a_code_point(void **state)
{
	char name[401], err[ERR_MAX];
	struct tm_github_user u;
	struct fake_github_user lu = {.token = "gho_long", .id = 77, .login = "long"};

	for (int i = 0; i < 200; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2); /* é */
	name[400] = '\0';
	lu.name = name;
	assert_int_equal(fake_github_add_user(fx.fg, &lu), 0);
	assert_int_equal(get_user("gho_long", &u, NULL, err), TM_GITHUB_OK);
	assert_int_equal(strlen(u.name), 126);
	assert_true(tm_utf8_valid(u.name, strlen(u.name)));
}

static void test_malformed_user_fields_are_unavailable(void **state)
{
	char err[ERR_MAX], long_login[80];
	struct tm_github_user u;
	struct fake_github_user bad[] = {
		{.token = "gho_id0", .id = 0, .login = "zero"},
		{.token = "gho_idneg", .id = -5, .login = "negative"},
		{.token = "gho_space", .id = 9, .login = "has space"},
		{.token = "gho_longlogin", .id = 10, .login = long_login},
		{.token = "gho_ctrlname", .id = 11, .login = "ctrl", .name = "a\x1b[2Jb"},
		{.token = "gho_bademail",
		 .id = 12,
		 .login = "bademail",
		 .emails = {{"not-an-address", true, true, "private"}},
		 .n_emails = 1},
	};

	memset(long_login, 'l', sizeof(long_login) - 1);
	long_login[sizeof(long_login) - 1] = '\0';
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		assert_int_equal(fake_github_add_user(fx.fg, &bad[i]), 0);
		if (get_user(bad[i].token, &u, NULL, err) != TM_GITHUB_UNAVAILABLE)
			fail_msg("user %zu (%s) was accepted", i, bad[i].login);
		assert_int_equal(u.id, 0); /* nothing half-filled */
		assert_true(err[0] != '\0');
	}
}

/* ---- failures ---------------------------------------------------------------------------- */

static void test_500_is_unavailable_and_not_retried(void **state)
{
	assert_unavailable_everywhere(FAKE_GITHUB_500);
}

static void test_503_is_unavailable_and_not_retried(void **state)
{
	assert_unavailable_everywhere(FAKE_GITHUB_503);
}

static void test_invalid_json_is_unavailable(void **state)
{
	assert_unavailable_everywhere(FAKE_GITHUB_BAD_JSON);
}

static void test_json_of_the_wrong_shape_is_unavailable(void **state)
{
	assert_unavailable_everywhere(FAKE_GITHUB_WRONG_SHAPE);
}

static void test_body_over_the_cap_is_unavailable(void **state)
{
	char err[ERR_MAX];

	for (size_t i = 0; i < TM_ARRAY_LEN(paths); i++) {
		fail_path(paths[i], FAKE_GITHUB_HUGE_BODY);
		assert_int_equal(call_path(paths[i], NULL, err), TM_GITHUB_UNAVAILABLE);
		assert_non_null(strstr(err, "larger than"));
	}
}

/* A call whose answer comes after SLOW_ANSWER_MS, with SHORT_TIMEOUT_MS. */
static void assert_times_out(const char *path)
{
	char err[ERR_MAX];
	struct fake_github_fault_spec spec = {
		.fault = FAKE_GITHUB_DELAY, .count = 1, .path = path, .delay_ms = SLOW_ANSWER_MS};

	fx.cfg.timeout_ms = SHORT_TIMEOUT_MS;
	fake_github_fail(fx.fg, &spec);
	int64_t start = tm_mono_ms();
	assert_int_equal(call_path(path, NULL, err), TM_GITHUB_UNAVAILABLE);
	int64_t took_ms = tm_mono_ms() - start;
	if (took_ms > SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS)
		fail_msg("%s: gave up after %lld ms", path, (long long)took_ms);
	assert_true(err[0] != '\0');
	assert_no_secret(err);
}

static void test_answer_slower_than_the_timeout_is_unavailable_in_time(void **state)
{
	assert_times_out("/login/oauth/access_token");
	assert_times_out("/user");
}

static void test_timeout_bounds_both_requests_of_get_user_together(void **state)
{
	assert_times_out("/user/emails"); /* /user answered at once; the emails did not */
	assert_int_equal(fake_github_path_count(fx.fg, "/user"), 1);
}

static void test_refused_connection_is_unavailable(void **state)
{
	struct fake_github *gone = NULL;
	char url[64], err[ERR_MAX];
	struct tm_github_user u;

	const char *u0 = fake_github_start(&gone);
	assert_non_null(u0);
	snprintf(url, sizeof(url), "%s", u0);
	fake_github_stop(gone);
	fx.cfg.api_url = url;
	assert_int_equal(get_user(OCTO_TOKEN, &u, NULL, err), TM_GITHUB_UNAVAILABLE);
	assert_true(err[0] != '\0');
	assert_no_secret(err);
}

/* ---- rate limits ------------------------------------------------------------------------- */

static void test_403_with_no_requests_left_is_rate_limited_until_the_reset(void **state)
{
	char err[ERR_MAX];
	int retry_s = -1;
	struct fake_github_fault_spec spec = {
		.fault = FAKE_GITHUB_RATE_LIMIT, .count = 1, .reset_in_s = RATE_RESET_IN_S};

	for (size_t i = 0; i < TM_ARRAY_LEN(paths); i++) {
		spec.path = paths[i];
		fake_github_fail(fx.fg, &spec);
		assert_int_equal(call_path(paths[i], &retry_s, err), TM_GITHUB_RATE_LIMITED);
		assert_in_range(retry_s, RATE_RESET_IN_S - RESET_SKEW_S, RATE_RESET_IN_S + 1);
		assert_no_secret(err);
	}
	assert_int_equal(fake_github_request_count(fx.fg), 4); /* /user once more, for emails */
}

static void test_429_with_retry_after_is_rate_limited_for_that_long(void **state)
{
	char err[ERR_MAX];
	int retry_s = -1;

	for (size_t i = 0; i < TM_ARRAY_LEN(paths); i++) {
		fail_path(paths[i], FAKE_GITHUB_TOO_MANY);
		assert_int_equal(call_path(paths[i], &retry_s, err), TM_GITHUB_RATE_LIMITED);
		assert_int_equal(retry_s, FAKE_GITHUB_RETRY_AFTER_S);
	}
}

static void test_403_secondary_limit_without_headers_waits_a_minute(void **state)
{
	char err[ERR_MAX];
	int retry_s = -1;

	fail_path("/user", FAKE_GITHUB_SECONDARY_LIMIT);
	assert_int_equal(call_path("/user", &retry_s, err), TM_GITHUB_RATE_LIMITED);
	assert_int_equal(retry_s, TM_GITHUB_SECONDARY_LIMIT_WAIT_S);
}

static void test_reset_far_in_the_future_is_capped(void **state)
{
	char err[ERR_MAX];
	int retry_s = -1;
	struct fake_github_fault_spec spec = {
		.fault = FAKE_GITHUB_RATE_LIMIT, .count = 1, .reset_in_s = 10 * 86400};

	fake_github_fail(fx.fg, &spec);
	assert_int_equal(call_path("/user", &retry_s, err), TM_GITHUB_RATE_LIMITED);
	assert_int_equal(retry_s, TM_GITHUB_RETRY_AFTER_MAX_S);
}

/* ---- redirects and URLs ------------------------------------------------------------------ */

static void test_redirect_is_not_followed(void **state)
{
	struct fake_github *target = NULL;
	char location[256], err[ERR_MAX];
	struct fake_github_fault_spec spec = {.fault = FAKE_GITHUB_REDIRECT, .count = 1};
	const char *turl = fake_github_start(&target);

	assert_non_null(turl);
	for (size_t i = 0; i < TM_ARRAY_LEN(paths); i++) {
		snprintf(location, sizeof(location), "%s%s", turl, paths[i]);
		spec.path = paths[i];
		spec.location = location;
		fake_github_fail(fx.fg, &spec);
		assert_int_equal(call_path(paths[i], NULL, err), TM_GITHUB_UNAVAILABLE);
		assert_non_null(strstr(err, "302"));
	}
	/* the default location is on the fake itself */
	fail_path("/user", FAKE_GITHUB_REDIRECT);
	assert_int_equal(call_path("/user", NULL, err), TM_GITHUB_UNAVAILABLE);
	int seen = fake_github_request_count(target);
	fake_github_stop(target);
	assert_int_equal(seen, 0);
	assert_int_equal(fake_github_path_count(fx.fg, "/elsewhere"), 0);
}

static void test_url_that_is_not_http_is_refused_without_a_request(void **state)
{
	const char *bad[] = {
		"file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/",
		"127.0.0.1",	      "http://",	  "https://api.github.com/?x=1",
		"http://127.0.0.1/ x"};
	char err[ERR_MAX], url[AUTH_URL_MAX], token[TM_GITHUB_TOKEN_MAX];
	struct tm_github_user u;
	struct tm_github_config c = fx.cfg;

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		c.api_url = c.oauth_url = bad[i];
		assert_int_equal(tm_github_get_user(&c, OCTO_TOKEN, &u, NULL, err, sizeof(err)),
				 TM_GITHUB_UNAVAILABLE);
		assert_int_equal(tm_github_exchange_code(&c, OCTO_CODE, REDIRECT_URI, token,
							 sizeof(token), NULL, err, sizeof(err)),
				 TM_GITHUB_UNAVAILABLE);
		assert_int_equal(tm_github_authorize_url(&c, REDIRECT_URI, "st", url, sizeof(url)),
				 -1);
	}
	assert_int_equal(fake_github_request_count(fx.fg), 0);
}

static void test_trailing_slash_of_the_base_url_is_ignored(void **state)
{
	char base[128], err[ERR_MAX];
	struct tm_github_user u;

	snprintf(base, sizeof(base), "%s/", fx.url);
	fx.cfg.api_url = base;
	assert_int_equal(get_user(OCTO_TOKEN, &u, NULL, err), TM_GITHUB_OK);
	assert_int_equal(fake_github_path_count(fx.fg, "/user"), 1);
}

/* ---- threads ----------------------------------------------------------------------------- */

static void *caller(void *arg)
{
	int *ok = arg;
	char err[ERR_MAX];

	for (int i = 0; i < CALLS_PER_THREAD; i++) {
		struct tm_github_user u;
		if (tm_github_get_user(&fx.cfg, OCTO_TOKEN, &u, NULL, err, sizeof(err)) ==
			    TM_GITHUB_OK &&
		    strcmp(u.email, "octocat@github.com") == 0)
			(*ok)++;
	}
	return NULL;
}

static void test_concurrent_calls_from_worker_threads_all_succeed(void **state)
{
	pthread_t t[THREADS];
	int ok[THREADS] = {0};

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, &ok[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ok[i], CALLS_PER_THREAD);
	}
	assert_int_equal(fake_github_request_count(fx.fg), THREADS * CALLS_PER_THREAD * 2);
	assert_secrets_stayed_in_place(fx.fg);
}

int main(void)
{
	const char *only = getenv("TM_TEST_ONLY");
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_code_exchange_then_user_gives_the_primary_verified_email),
		T(test_every_request_names_the_client_and_the_media_type_it_accepts),
		T(test_secret_only_in_the_post_body_and_token_only_in_authorization),
		T(test_authorize_url_carries_every_parameter_encoded_and_the_state_round_trips),
		T(test_authorize_url_that_does_not_fit_is_refused),
		T(test_unknown_code_is_bad_code),
		T(test_code_exchanges_only_once),
		T(test_empty_oversized_or_multiline_code_is_bad_code_without_a_request),
		T(test_wrong_client_secret_is_unavailable_not_bad_code),
		T(test_redirect_uri_mismatch_is_a_configuration_fault_not_bad_code),
		T(test_missing_client_credentials_are_refused_without_a_request),
		T(test_token_that_does_not_fit_the_callers_buffer_is_unavailable),
		T(test_unknown_token_is_unauthorized),
		T(test_token_with_a_line_break_is_unauthorized_without_a_request),
		T(test_user_without_a_verified_primary_email_is_ok_with_no_email),
		T(test_long_name_is_cut_at_a_code_point),
		T(test_malformed_user_fields_are_unavailable),
		T(test_500_is_unavailable_and_not_retried),
		T(test_503_is_unavailable_and_not_retried),
		T(test_invalid_json_is_unavailable),
		T(test_json_of_the_wrong_shape_is_unavailable),
		T(test_body_over_the_cap_is_unavailable),
		T(test_answer_slower_than_the_timeout_is_unavailable_in_time),
		T(test_timeout_bounds_both_requests_of_get_user_together),
		T(test_refused_connection_is_unavailable),
		T(test_403_with_no_requests_left_is_rate_limited_until_the_reset),
		T(test_429_with_retry_after_is_rate_limited_for_that_long),
		T(test_403_secondary_limit_without_headers_waits_a_minute),
		T(test_reset_far_in_the_future_is_capped),
		T(test_redirect_is_not_followed),
		T(test_url_that_is_not_http_is_refused_without_a_request),
		T(test_trailing_slash_of_the_base_url_is_ignored),
		T(test_concurrent_calls_from_worker_threads_all_succeed),
#undef T
	};

	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, http_group_setup, http_group_teardown);
}
