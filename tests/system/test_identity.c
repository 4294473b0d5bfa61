/*
 * Identity end to end over HTTP, and the OWASP API Security Top 10 (2023)
 * items that apply to it: one real stack (PostgreSQL, tm-devkafka, the five
 * services, the gateway) with a fake GitHub in this process, a generous auth
 * rate limit so only the tests about throttling are throttled (the per-client
 * rate limits are in test_limits.c, on their own stack).
 *
 * Every reply any test gets passes through api_do, which fails the test if it
 * carries a password hash, a password sent, or (when successful) the word
 * "password". Accounts use unique e-mails, so tests do not depend on each
 * other; the GitHub breaker test is last (it leaves the breaker open).
 *
 * All requests come from 127.0.0.1. The gateway counts failed logins per
 * account and per client address, so each test starts by clearing the
 * client's count (forget_client_failures): otherwise failures of one test
 * would throttle the logins of the next. The per-client count has its own
 * test (test_a_successful_login_does_not_reset_the_client_failure_count).
 */
#include "api_client.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/sql.h"
#include "../support/fake_github.h"
#include "tm/db.h"
#include "tm/jwt.h"

#define MAX_BODY_BYTES 16384 /* TM_HTTP_MAX_BODY_BYTES of this stack */
#define JSON_MAX_DEPTH 8     /* TM_JSON_MAX_DEPTH of this stack */
#define ACCESS_TTL_S 900     /* the default TM_ACCESS_TOKEN_TTL_S */
#define LOGIN_MAX_FAILURES 5 /* failures before an account or client is throttled */
#define LOGIN_FIRST_BLOCK_S 30
#define GOOD_PASSWORD PASSWORD_MARKER "-correct-horse-battery"
#define WRONG_PASSWORD PASSWORD_MARKER "-wrong-horse-battery"
#define REDIRECT_URL "https://app.taskmesh.test/auth/github/callback"
#define REDIRECT_URL_ENCODED "https%3A%2F%2Fapp.taskmesh.test%2Fauth%2Fgithub%2Fcallback"
#define OVERVIEW_WAIT_MS 20000 /* the services learn of a project through Kafka */
#define GITHUB_BREAKER_THRESHOLD 5

static struct fake_github *fg;
static const char *fg_url;
static struct tm_db *db; /* the identity schema, for checks the API cannot show */

struct account {
	char id[TM_UUID_LEN + 1];
	char email[160];
	char access[TM_JWT_MAX_BYTES];
	char refresh[128];
};

static const char *const token_reply_keys[] = {"user", "accessToken", "refreshToken", "expiresIn",
					       NULL};
static const char *const user_keys[] = {
	"id", "email", "role", "displayName", "githubUsername", "isVerified", "createdAt", NULL};

/* ---- fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	char err[256];
	(void)state;
	signal(SIGPIPE, SIG_IGN); /* a dead create-admin child must fail a test, not kill it */
	if (!(fg_url = fake_github_start(&fg)))
		return -1;
	/* inherited by the daemons */
	setenv("TM_RATE_AUTH", "1000/60", 1);
	setenv("TM_HTTP_MAX_BODY_BYTES", "16384", 1);
	setenv("TM_JSON_MAX_DEPTH", "8", 1);
	setenv("TM_GITHUB_CLIENT_ID", FAKE_GITHUB_CLIENT_ID, 1);
	setenv("TM_GITHUB_CLIENT_SECRET", FAKE_GITHUB_CLIENT_SECRET, 1);
	setenv("TM_GITHUB_API_URL", fg_url, 1);
	setenv("TM_GITHUB_OAUTH_URL", fg_url, 1);
	setenv("TM_GITHUB_REDIRECT_URL", REDIRECT_URL, 1);
	if (tm_test_stack_start(&stack, false) != 0) {
		fake_github_stop(fg);
		return -1;
	}
	if (tm_db_open(&db, stack.database_url, "identity", err, sizeof(err)) != 0) {
		fprintf(stderr, "identity database: %s\n", err);
		tm_test_stack_stop(&stack);
		fake_github_stop(fg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tm_db_close(db);
	int rc = tm_test_stack_stop(&stack);
	fake_github_stop(fg);
	return rc == 0 ? 0 : -1;
}

/* Forgets the failed logins counted against 127.0.0.1 (see the top comment). */
static void clear_client_failures(void)
{
	assert_int_equal(tsql(db, NULL, "DELETE FROM login_failures WHERE key LIKE 'ip:%'", 0,
			      NULL),
			 TM_DB_OK);
}

static int forget_client_failures(void **state)
{
	(void)state;
	clear_client_failures();
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void unique_email(char *out, size_t len, const char *tag)
{
	char t[13];
	random_tag(t);
	snprintf(out, len, "%s-%s@example.com", tag, t);
}

/* A register body; NULL leaves a field out. cJSON_free the result. */
static char *account_json(const char *email, const char *password, const char *role,
			  const char *name)
{
	cJSON *o = cJSON_CreateObject();
	if (email)
		cJSON_AddStringToObject(o, "email", email);
	if (password)
		cJSON_AddStringToObject(o, "password", password);
	if (role)
		cJSON_AddStringToObject(o, "role", role);
	if (name)
		cJSON_AddStringToObject(o, "displayName", name);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	assert_non_null(s);
	return s;
}

static void post_register(const char *email, const char *password, const char *role,
			  const char *name, struct http_resp *r)
{
	char *body = account_json(email, password, role, name);
	api_post("/api/v1/auth/register", NULL, body, r);
	cJSON_free(body);
}

static void post_login(const char *email, const char *password, struct http_resp *r)
{
	char *body = account_json(email, password, NULL, NULL);
	api_post("/api/v1/auth/login", NULL, body, r);
	cJSON_free(body);
}

static void post_refresh(const char *refresh, struct http_resp *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "refreshToken", refresh);
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	api_post("/api/v1/auth/refresh", NULL, body, r);
	cJSON_free(body);
}

static void post_logout(const char *access, const char *refresh, struct http_resp *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "refreshToken", refresh);
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	api_post("/api/v1/auth/logout", access, body, r);
	cJSON_free(body);
}

/* Takes the user id and the token pair of a token reply (checking its shape). */
static void take_tokens(const struct http_resp *r, struct account *a)
{
	cJSON *j = json_of(r);
	assert_keys(j, token_reply_keys);
	const cJSON *u = jget(j, "user");
	assert_keys(u, user_keys);
	assert_true(tm_uuid_valid(jstr(u, "id")));
	assert_non_null(jstr(j, "accessToken"));
	assert_non_null(jstr(j, "refreshToken"));
	assert_int_equal(cJSON_GetNumberValue(jget(j, "expiresIn")), ACCESS_TTL_S);
	snprintf(a->id, sizeof(a->id), "%s", jstr(u, "id"));
	snprintf(a->email, sizeof(a->email), "%s", jstr(u, "email"));
	snprintf(a->access, sizeof(a->access), "%s", jstr(j, "accessToken"));
	snprintf(a->refresh, sizeof(a->refresh), "%s", jstr(j, "refreshToken"));
	cJSON_Delete(j);
}

/* Registers a fresh account (GOOD_PASSWORD) with a unique e-mail. */
static void register_as(struct account *a, const char *tag, const char *role)
{
	char email[160];
	struct http_resp r;
	unique_email(email, sizeof(email), tag);
	post_register(email, GOOD_PASSWORD, role, "Test User", &r);
	if (r.status != 201)
		fail_msg("register %s: %ld %.300s", email, r.status, r.body);
	take_tokens(&r, a);
	http_resp_free(&r);
}

/* Logs in with GOOD_PASSWORD (must succeed); a new pair into *a. */
static void login_as(struct account *a)
{
	struct http_resp r;
	post_login(a->email, GOOD_PASSWORD, &r);
	if (r.status != 200)
		fail_msg("login %s: %ld %.300s", a->email, r.status, r.body);
	take_tokens(&r, a);
	http_resp_free(&r);
}

static long login_status(const char *email, const char *password)
{
	struct http_resp r;
	post_login(email, password, &r);
	long st = r.status;
	if (st == 401)
		assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
	return st;
}

/* GET /me with `token`: 200, or a 401 in the error format with WWW-Authenticate. */
static long me_status(const char *token)
{
	struct http_resp r;
	api_get("/api/v1/me", token, &r);
	long st = r.status;
	if (st == 401)
		assert_error(&r, 401, "UNAUTHENTICATED");
	else if (st != 200)
		fail_msg("GET /me: %ld %.300s", st, r.body);
	http_resp_free(&r);
	return st;
}

/* GET /me with a token the gateway must refuse as unauthenticated. */
static void assert_token_refused(const char *token)
{
	struct http_resp r;
	api_get("/api/v1/me", token, &r);
	assert_error(&r, 401, "UNAUTHENTICATED");
	assert_header(&r, "WWW-Authenticate", "Bearer");
	http_resp_free(&r);
}

/* A token from raw parts: header and payload JSON, HMAC-SHA256 with `secret`
 * over "header.payload" (secret NULL: an empty signature). */
static void build_token(const char *header, const char *payload, const char *secret, char *out,
			size_t len)
{
	char h[512], p[1024], sig[64], input[1600];
	unsigned char mac[32];
	unsigned int maclen = 0;
	assert_true(tm_base64url_encode(header, strlen(header), h, sizeof(h)) > 0);
	assert_true(tm_base64url_encode(payload, strlen(payload), p, sizeof(p)) > 0);
	snprintf(input, sizeof(input), "%s.%s", h, p);
	sig[0] = '\0';
	if (secret) {
		assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret),
				     (const unsigned char *)input, strlen(input), mac, &maclen));
		assert_true(tm_base64url_encode(mac, maclen, sig, sizeof(sig)) > 0);
	}
	snprintf(out, len, "%s.%s", input, sig);
}

/* Claims for `sub` valid from now for the access token lifetime. */
static void claims_json(const char *sub, const char *role, char *out, size_t len)
{
	char jti[TM_UUID_LEN + 1];
	long long now = (long long)(tm_now_ms() / 1000);
	tm_uuid_v4(jti);
	snprintf(out, len,
		 "{\"sub\":\"%s\",\"role\":\"%s\",\"jti\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub,
		 role, jti, now, now + ACCESS_TTL_S);
}

/* The password hash stored for a user id (the test fails if there is none). */
static void stored_hash(const char *id, char *out, size_t len)
{
	PGresult *res = NULL;
	const char *p[] = {id};
	assert_int_equal(tsql(db, &res, "SELECT password_hash FROM users WHERE id = $1", 1, p),
			 TM_DB_OK);
	assert_int_equal(PQntuples(res), 1);
	snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

static long db_count(const char *sql, const char *param)
{
	PGresult *res = NULL;
	const char *p[] = {param};
	assert_int_equal(tsql(db, &res, sql, param ? 1 : 0, param ? p : NULL), TM_DB_OK);
	long n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* POST /projects as `token`; the new project's id. */
static void create_project(const char *token, const char *title, const char *description,
			   char id[TM_UUID_LEN + 1])
{
	struct http_resp r;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "title", title);
	cJSON_AddStringToObject(o, "description", description);
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	api_post("/api/v1/projects", token, body, &r);
	cJSON_free(body);
	if (r.status != 202)
		fail_msg("create project: %ld %.300s", r.status, r.body);
	cJSON *j = json_of(&r);
	assert_true(tm_uuid_valid(jstr(j, "id")));
	assert_string_equal(jstr(j, "title"), title);
	assert_string_equal(jstr(j, "description"), description);
	snprintf(id, TM_UUID_LEN + 1, "%s", jstr(j, "id"));
	cJSON_Delete(j);
	http_resp_free(&r);
}

/* True when GET /projects?limit=100 as `token` lists project `id`. */
static bool list_contains(const char *token, const char *id)
{
	struct http_resp r;
	bool found = false;
	api_get("/api/v1/projects?limit=100", token, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	const cJSON *it;
	cJSON_ArrayForEach(it, jget(j, "items"))
	{
		if (jstr(it, "id") && strcmp(jstr(it, "id"), id) == 0)
			found = true;
	}
	cJSON_Delete(j);
	http_resp_free(&r);
	return found;
}

static void project_path(char *out, size_t len, const char *id, const char *suffix)
{
	snprintf(out, len, "/api/v1/projects/%s%s", id, suffix);
}

/* ---- 1. accounts ------------------------------------------------------------------------ */

static void test_register_returns_201_with_tokens_and_a_normalized_email(void **state)
{
	char t[13], spaced[160], want[160], hash[256], ct[128];
	struct http_resp r;
	struct tm_jwt_claims c;
	(void)state;
	random_tag(t);
	snprintf(spaced, sizeof(spaced), " Alice-%s@Example.COM ", t);
	snprintf(want, sizeof(want), "alice-%s@example.com", t);
	post_register(spaced, GOOD_PASSWORD, "client", "Alice Example", &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(http_header(&r, "Content-Type", ct, sizeof(ct)), 0);
	assert_non_null(strstr(ct, "application/json"));
	cJSON *j = json_of(&r);
	assert_keys(j, token_reply_keys);
	const cJSON *u = jget(j, "user");
	assert_keys(u, user_keys);
	assert_true(tm_uuid_valid(jstr(u, "id")));
	assert_string_equal(jstr(u, "email"), want);
	assert_string_equal(jstr(u, "role"), "client");
	assert_string_equal(jstr(u, "displayName"), "Alice Example");
	assert_string_equal(jstr(u, "githubUsername"), "");
	assert_true(cJSON_IsFalse(jget(u, "isVerified")));
	int64_t created;
	assert_int_equal(tm_parse_rfc3339(jstr(u, "createdAt"), &created), 0);
	assert_int_equal(cJSON_GetNumberValue(jget(j, "expiresIn")), ACCESS_TTL_S);
	/* the access token is an HS256 JWT of the stack's key for this user */
	assert_int_equal(tm_jwt_verify(stack.jwt_secret, strlen(stack.jwt_secret),
				       jstr(j, "accessToken"), tm_now_ms() / 1000, &c),
			 TM_JWT_OK);
	assert_string_equal(c.sub, jstr(u, "id"));
	assert_string_equal(c.role, "client");
	assert_true(c.jti[0] != '\0');
	assert_int_equal(c.exp - c.iat, ACCESS_TTL_S);
	/* the refresh token is opaque, 256 random bits in base64url */
	assert_true(strlen(jstr(j, "refreshToken")) >= 43);
	assert_null(strchr(jstr(j, "refreshToken"), '.'));
	/* stored as Argon2id with OWASP's first-choice parameters, never in clear */
	stored_hash(jstr(u, "id"), hash, sizeof(hash));
	const char *owasp = "$argon2id$v=19$m=19456,t=2,p=1$";
	if (strncmp(hash, owasp, strlen(owasp)) != 0)
		fail_msg("stored hash %.40s... is not Argon2id m=19456,t=2,p=1", hash);
	assert_null(strstr(hash, GOOD_PASSWORD));
	cJSON_Delete(j);
	http_resp_free(&r);
	/* the normalized address logs in, however it is typed */
	assert_int_equal(login_status(want, GOOD_PASSWORD), 200);
	assert_int_equal(login_status(spaced, GOOD_PASSWORD), 200);
}

static void test_register_with_a_taken_email_in_another_case_is_409(void **state)
{
	char t[13], first[160], again[160];
	struct http_resp r;
	(void)state;
	random_tag(t);
	snprintf(first, sizeof(first), "bob-%s@example.com", t);
	snprintf(again, sizeof(again), "  BOB-%s@EXAMPLE.com", t);
	post_register(first, GOOD_PASSWORD, "client", "Bob", &r);
	assert_int_equal(r.status, 201);
	http_resp_free(&r);
	post_register(again, GOOD_PASSWORD "-2", "developer", "Bob Again", &r);
	assert_error(&r, 409, "CONFLICT");
	assert_null(strstr(r.body, "accessToken"));
	http_resp_free(&r);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE email = $1", first), 1);
	/* the first account keeps its password */
	assert_int_equal(login_status(first, GOOD_PASSWORD), 200);
}

static void test_password_must_be_12_to_128_characters(void **state)
{
	char email[160], pw[200];
	struct http_resp r;
	(void)state;
	struct {
		size_t x_count; /* PASSWORD_MARKER (9) + "&3" (2) + x_count 'x' */
		long status;
	} cases[] = {{0, 400}, {1, 201}, {117, 201}, {118, 400}};
	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++) {
		size_t n = (size_t)snprintf(pw, sizeof(pw), "%s&3", PASSWORD_MARKER);
		memset(pw + n, 'x', cases[i].x_count);
		pw[n + cases[i].x_count] = '\0';
		unique_email(email, sizeof(email), "pwlen");
		post_register(email, pw, "client", "Pw Length", &r);
		if (r.status != cases[i].status)
			fail_msg("password of %zu characters: expected %ld, got %ld %.200s",
				 strlen(pw), cases[i].status, r.status, r.body);
		if (cases[i].status == 400)
			assert_field_error(&r, "password");
		http_resp_free(&r);
		if (cases[i].status == 201)
			assert_int_equal(login_status(email, pw), 200);
	}
	/* characters, not bytes: 11 two-byte characters are too few, 12 are enough */
	char accents[64] = "";
	for (int i = 0; i < 11; i++)
		strcat(accents, "\xc3\xa9");
	unique_email(email, sizeof(email), "pwutf8");
	post_register(email, accents, "client", "Pw Utf8", &r);
	assert_field_error(&r, "password");
	http_resp_free(&r);
	strcat(accents, "\xc3\xa9");
	post_register(email, accents, "client", "Pw Utf8", &r);
	assert_int_equal(r.status, 201);
	http_resp_free(&r);
}

static void test_register_refuses_the_admin_role_and_unknown_roles(void **state)
{
	char email[160];
	struct http_resp r;
	const char *roles[] = {"admin", "ROLE_ADMIN", "superuser", "", "client' OR '1'='1", NULL};
	(void)state;
	unique_email(email, sizeof(email), "role");
	for (int i = 0; roles[i]; i++) {
		post_register(email, GOOD_PASSWORD, roles[i], "Would Be Admin", &r);
		assert_field_error(&r, "role");
		http_resp_free(&r);
	}
	post_register(email, GOOD_PASSWORD, NULL, "No Role", &r);
	assert_field_error(&r, "role");
	http_resp_free(&r);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE email = $1", email), 0);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE role = 'admin' AND "
				  "display_name = 'Would Be Admin'",
				  NULL),
			 0);
}

static void test_register_with_unknown_fields_is_400_and_creates_nothing(void **state)
{
	char email[160], id[TM_UUID_LEN + 1];
	struct http_resp r;
	(void)state;
	unique_email(email, sizeof(email), "massassign");
	tm_uuid_v4(id);
	struct {
		const char *field;
		cJSON *value;
	} extra[] = {
		{"isVerified", cJSON_CreateTrue()},
		{"passwordHash", cJSON_CreateString("x")},
		{"id", cJSON_CreateString(id)},
		{"githubUsername", cJSON_CreateString("torvalds")},
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(extra); i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "email", email);
		cJSON_AddStringToObject(o, "password", GOOD_PASSWORD);
		cJSON_AddStringToObject(o, "role", "client");
		cJSON_AddStringToObject(o, "displayName", "Mass Assigner");
		cJSON_AddItemToObject(o, extra[i].field, extra[i].value);
		char *body = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		api_post("/api/v1/auth/register", NULL, body, &r);
		cJSON_free(body);
		assert_field_error(&r, extra[i].field);
		http_resp_free(&r);
	}
	/* nothing was created: no login, and the plain registration is the first */
	assert_int_equal(login_status(email, GOOD_PASSWORD), 401);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE email = $1", email), 0);
	post_register(email, GOOD_PASSWORD, "client", "Mass Assigner", &r);
	assert_int_equal(r.status, 201);
	cJSON *j = json_of(&r);
	const cJSON *u = jget(j, "user");
	assert_true(cJSON_IsFalse(jget(u, "isVerified")));
	assert_string_equal(jstr(u, "githubUsername"), "");
	assert_string_not_equal(jstr(u, "id"), id);
	cJSON_Delete(j);
	http_resp_free(&r);
}

static void test_login_returns_a_new_token_pair_for_the_account(void **state)
{
	struct account reg, in;
	struct http_resp r;
	(void)state;
	register_as(&reg, "login", "developer");
	in = reg;
	login_as(&in);
	assert_string_equal(in.id, reg.id);
	assert_string_not_equal(in.access, reg.access);
	assert_string_not_equal(in.refresh, reg.refresh);
	post_login(reg.email, GOOD_PASSWORD, &r);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(jget(j, "user"), "role"), "developer");
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_int_equal(me_status(in.access), 200);
	assert_int_equal(me_status(reg.access), 200); /* both sessions live */
}

static void test_me_shows_exactly_the_public_account_fields(void **state)
{
	struct account a;
	struct http_resp r;
	(void)state;
	register_as(&a, "me", "developer");
	api_get("/api/v1/me", a.access, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_keys(j, user_keys);
	assert_string_equal(jstr(j, "id"), a.id);
	assert_string_equal(jstr(j, "email"), a.email);
	assert_string_equal(jstr(j, "role"), "developer");
	assert_string_equal(jstr(j, "displayName"), "Test User");
	assert_string_equal(jstr(j, "githubUsername"), "");
	assert_true(cJSON_IsFalse(jget(j, "isVerified")));
	int64_t created;
	assert_int_equal(tm_parse_rfc3339(jstr(j, "createdAt"), &created), 0);
	assert_true(created <= tm_now_ms() + 5000 && created > tm_now_ms() - 600000);
	cJSON_Delete(j);
	http_resp_free(&r);
}

static void test_register_with_an_idempotency_key_replays_the_first_reply(void **state)
{
	char email[160], key[64], t[13];
	struct http_resp r1, r2, r3;
	struct account a;
	(void)state;
	unique_email(email, sizeof(email), "idem");
	random_tag(t);
	snprintf(key, sizeof(key), "Idempotency-Key: signup-%s", t);
	char *body = account_json(email, GOOD_PASSWORD, "client", "Idem Potent");
	const char *h[] = {key, NULL};
	api_do("POST", "/api/v1/auth/register", NULL, body, h, &r1);
	api_do("POST", "/api/v1/auth/register", NULL, body, h, &r2);
	assert_int_equal(r1.status, 201);
	assert_int_equal(r2.status, 201);
	assert_string_equal(r1.body, r2.body); /* the same account and the same tokens */
	take_tokens(&r2, &a);
	assert_int_equal(me_status(a.access), 200);
	/* created once: without the key the address is taken */
	api_post("/api/v1/auth/register", NULL, body, &r3);
	assert_error(&r3, 409, "CONFLICT");
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE email = $1", email), 1);
	cJSON_free(body);
	http_resp_free(&r1);
	http_resp_free(&r2);
	http_resp_free(&r3);
}

/* ---- 2. broken authentication ----------------------------------------------------------- */

static void test_token_signed_with_another_key_or_altered_is_401(void **state)
{
	struct account a;
	char tok[TM_JWT_MAX_BYTES], payload[512], header_b64[128], payload_b64[1024];
	(void)state;
	register_as(&a, "forged", "client");
	http_mint_token(stack.jwt_secret, a.id, "client", tok, sizeof(tok));
	assert_int_equal(me_status(tok), 200); /* control: the stack's key is accepted */
	http_mint_token("a-different-secret-of-at-least-32-bytes!!", a.id, "client", tok,
			sizeof(tok));
	assert_token_refused(tok);
	/* the real signature over other claims: role admin instead of client */
	const char *dot1 = strchr(a.access, '.'), *dot2 = strrchr(a.access, '.');
	snprintf(header_b64, sizeof(header_b64), "%.*s", (int)(dot1 - a.access), a.access);
	claims_json(a.id, "admin", payload, sizeof(payload));
	assert_true(tm_base64url_encode(payload, strlen(payload), payload_b64,
					sizeof(payload_b64)) > 0);
	snprintf(tok, sizeof(tok), "%s.%s%s", header_b64, payload_b64, dot2);
	assert_token_refused(tok);
	/* a flipped signature byte */
	snprintf(tok, sizeof(tok), "%s", a.access);
	size_t n = strlen(tok);
	tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
	assert_token_refused(tok);
}

static void test_expired_token_is_401(void **state)
{
	struct account a;
	struct tm_jwt_claims c = {0};
	char tok[TM_JWT_MAX_BYTES];
	int64_t now = tm_now_ms() / 1000;
	(void)state;
	register_as(&a, "expired", "client");
	snprintf(c.sub, sizeof(c.sub), "%s", a.id);
	snprintf(c.role, sizeof(c.role), "client");
	tm_uuid_v4(c.jti);
	c.iat = now - 1201;
	c.exp = now - 301; /* beyond any clock-skew leeway */
	assert_true(tm_jwt_sign(stack.jwt_secret, strlen(stack.jwt_secret), &c, tok, sizeof(tok)) >
		    0);
	assert_token_refused(tok);
	/* control: the same claims with exp ahead are accepted */
	c.exp = now + 300;
	tm_uuid_v4(c.jti);
	assert_true(tm_jwt_sign(stack.jwt_secret, strlen(stack.jwt_secret), &c, tok, sizeof(tok)) >
		    0);
	assert_int_equal(me_status(tok), 200);
}

static void test_alg_none_token_is_401(void **state)
{
	struct account a;
	char claims[512], tok[TM_JWT_MAX_BYTES], two[TM_JWT_MAX_BYTES];
	(void)state;
	register_as(&a, "algnone", "client");
	claims_json(a.id, "client", claims, sizeof(claims));
	/* control: the hand-built HS256 token is accepted */
	build_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, stack.jwt_secret, tok,
		    sizeof(tok));
	assert_int_equal(me_status(tok), 200);
	const char *none_headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\"}",
				      "{\"alg\":\"NONE\",\"typ\":\"JWT\"}", "{\"typ\":\"JWT\"}",
				      NULL};
	for (int i = 0; none_headers[i]; i++) {
		build_token(none_headers[i], claims, NULL, tok, sizeof(tok)); /* "h.p." */
		assert_token_refused(tok);
		snprintf(two, sizeof(two), "%.*s", (int)(strlen(tok) - 1), tok); /* "h.p" */
		assert_token_refused(two);
		build_token(none_headers[i], claims, stack.jwt_secret, tok, sizeof(tok));
		assert_token_refused(tok);
	}
}

static void test_rs256_and_other_alg_headers_are_401(void **state)
{
	struct account a;
	char claims[512], tok[TM_JWT_MAX_BYTES];
	(void)state;
	register_as(&a, "algrs", "client");
	claims_json(a.id, "client", claims, sizeof(claims));
	/* each signed with HMAC-SHA256 under the real key: only the header differs */
	const char *headers[] = {"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
				 "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
				 "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
				 "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}", NULL};
	for (int i = 0; headers[i]; i++) {
		build_token(headers[i], claims, stack.jwt_secret, tok, sizeof(tok));
		assert_token_refused(tok);
	}
}

static void test_logout_is_204_and_revokes_the_access_token(void **state)
{
	struct account a, other;
	struct http_resp r;
	(void)state;
	register_as(&a, "logout", "client");
	other = a;
	login_as(&other); /* a second session */
	assert_int_equal(me_status(a.access), 200);
	post_logout(a.access, a.refresh, &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	http_resp_free(&r);
	assert_token_refused(a.access);
	assert_int_equal(me_status(other.access), 200); /* only this session ended */
}

static void test_refresh_token_is_401_after_logout(void **state)
{
	struct account a;
	struct http_resp r;
	(void)state;
	register_as(&a, "logoutrt", "client");
	post_logout(a.access, a.refresh, &r);
	assert_int_equal(r.status, 204);
	http_resp_free(&r);
	post_refresh(a.refresh, &r);
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
}

static void test_refresh_rotates_the_pair_and_the_old_refresh_token_is_401(void **state)
{
	struct account a, b, c;
	struct http_resp r;
	(void)state;
	register_as(&a, "rotate", "client");
	post_refresh(a.refresh, &r);
	assert_int_equal(r.status, 200);
	take_tokens(&r, &b);
	http_resp_free(&r);
	assert_string_equal(b.id, a.id);
	assert_string_not_equal(b.refresh, a.refresh);
	assert_string_not_equal(b.access, a.access);
	assert_int_equal(me_status(b.access), 200); /* the new pair works */
	post_refresh(b.refresh, &r);
	assert_int_equal(r.status, 200);
	take_tokens(&r, &c);
	http_resp_free(&r);
	post_refresh(a.refresh, &r); /* the old one */
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
	post_refresh("not-a-refresh-token", &r);
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
}

static void test_reusing_a_rotated_refresh_token_revokes_the_whole_family(void **state)
{
	struct account a, rotated, other;
	struct http_resp r;
	(void)state;
	register_as(&a, "reuse", "client");
	other = a;
	login_as(&other); /* another family of the same user */
	post_refresh(a.refresh, &r);
	assert_int_equal(r.status, 200);
	take_tokens(&r, &rotated);
	http_resp_free(&r);
	assert_int_equal(me_status(rotated.access), 200);
	post_refresh(a.refresh, &r); /* reuse: the token leaked */
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
	/* the newest refresh token of the family and its access token are dead */
	post_refresh(rotated.refresh, &r);
	assert_error(&r, 401, "UNAUTHENTICATED");
	http_resp_free(&r);
	assert_token_refused(rotated.access);
	assert_token_refused(a.access);
	/* the other family is untouched */
	assert_int_equal(me_status(other.access), 200);
	post_refresh(other.refresh, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

static void test_logout_with_another_users_refresh_token_does_not_end_that_session(void **state)
{
	struct account victim, attacker;
	struct http_resp r;
	(void)state;
	register_as(&victim, "victim", "client");
	register_as(&attacker, "attacker", "client");
	post_logout(attacker.access, victim.refresh, &r);
	assert_int_equal(r.status, 204);
	http_resp_free(&r);
	assert_int_equal(me_status(victim.access), 200);
	post_refresh(victim.refresh, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	assert_token_refused(attacker.access); /* the caller's own token was ended */
}

static void test_oversized_token_is_401(void **state)
{
	struct account a;
	(void)state;
	register_as(&a, "hugetoken", "client");
	size_t n = 5000;
	char *tok = malloc(n + 1);
	assert_non_null(tok);
	const char *dot1 = strchr(a.access, '.'), *dot2 = strrchr(a.access, '.');
	size_t head = (size_t)(dot1 - a.access) + 1, tail = strlen(dot2);
	memcpy(tok, a.access, head);
	memset(tok + head, 'A', n - head - tail);
	memcpy(tok + n - tail, dot2, tail + 1);
	assert_int_equal(strlen(tok), n);
	assert_token_refused(tok);
	free(tok);
}

static void test_authorization_without_the_bearer_scheme_is_401_with_www_authenticate(void **state)
{
	struct account a;
	struct http_resp r;
	char h[TM_JWT_MAX_BYTES + 64];
	(void)state;
	register_as(&a, "noprefix", "client");
	const char *forms[] = {"Authorization: %s",	  "Authorization: Basic %s",
			       "Authorization: Token %s", "Authorization: Bearer%s",
			       "Authorization: JWT %s",	  NULL};
	for (int i = 0; forms[i]; i++) {
		snprintf(h, sizeof(h), forms[i], a.access);
		const char *hl[] = {h, NULL};
		api_do("GET", "/api/v1/me", NULL, NULL, hl, &r);
		assert_error(&r, 401, "UNAUTHENTICATED");
		assert_header(&r, "WWW-Authenticate", "Bearer");
		http_resp_free(&r);
	}
	api_get("/api/v1/me", NULL, &r); /* no Authorization at all */
	assert_error(&r, 401, "UNAUTHENTICATED");
	assert_header(&r, "WWW-Authenticate", "Bearer");
	http_resp_free(&r);
	/* control: the scheme name is case-insensitive (RFC 9110 §11.1) */
	snprintf(h, sizeof(h), "Authorization: bearer %s", a.access);
	const char *hl[] = {h, NULL};
	api_do("GET", "/api/v1/me", NULL, NULL, hl, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

static void test_valid_token_of_an_unknown_account_is_401(void **state)
{
	char sub[TM_UUID_LEN + 1], tok[TM_JWT_MAX_BYTES];
	(void)state;
	tm_uuid_v4(sub);
	http_mint_token(stack.jwt_secret, sub, "client", tok, sizeof(tok));
	assert_int_equal(me_status(tok), 401);
}

/* ---- 3. unknown e-mail vs wrong password ------------------------------------------------ */

static void test_unknown_email_and_wrong_password_get_the_same_401(void **state)
{
	struct account a;
	char unknown[160];
	struct http_resp r_unknown, r_wrong, r_malformed;
	(void)state;
	register_as(&a, "enum", "client");
	unique_email(unknown, sizeof(unknown), "nobody");
	post_login(unknown, GOOD_PASSWORD, &r_unknown);
	post_login(a.email, WRONG_PASSWORD, &r_wrong);
	post_login("not an e-mail", GOOD_PASSWORD, &r_malformed);
	const struct http_resp *rs[] = {&r_unknown, &r_wrong, &r_malformed};
	cJSON *first = NULL;
	for (int i = 0; i < 3; i++) {
		assert_error(rs[i], 401, "UNAUTHENTICATED");
		cJSON *j = json_of(rs[i]);
		const cJSON *e = jget(j, "error");
		if (!first) {
			first = cJSON_Duplicate(e, true);
		} else {
			assert_string_equal(jstr(e, "code"), jstr(first, "code"));
			assert_string_equal(jstr(e, "message"), jstr(first, "message"));
			char *d1 = cJSON_PrintUnformatted(jget(e, "details"));
			char *d2 = cJSON_PrintUnformatted(jget(first, "details"));
			assert_string_equal(d1, d2);
			cJSON_free(d1);
			cJSON_free(d2);
		}
		assert_int_equal(has_header(rs[i], "WWW-Authenticate"),
				 has_header(&r_unknown, "WWW-Authenticate"));
		cJSON_Delete(j);
	}
	cJSON_Delete(first);
	http_resp_free(&r_unknown);
	http_resp_free(&r_wrong);
	http_resp_free(&r_malformed);
}

/* ---- 4. login throttling ------------------------------------------------------------------ */

static void test_five_failed_logins_throttle_the_account_even_with_the_right_password(void **state)
{
	struct account a, b;
	struct http_resp r;
	(void)state;
	register_as(&a, "throttle", "client");
	register_as(&b, "bystander", "client");
	for (int i = 0; i < LOGIN_MAX_FAILURES; i++)
		assert_int_equal(login_status(a.email, WRONG_PASSWORD), 401);
	post_login(a.email, GOOD_PASSWORD, &r);
	long wait = assert_rate_limited(&r);
	assert_true(wait <= LOGIN_FIRST_BLOCK_S);
	http_resp_free(&r);
	/* it is the account that is throttled: with the client's count cleared the
	 * account still is, while another account logs in */
	clear_client_failures();
	post_login(a.email, GOOD_PASSWORD, &r);
	assert_rate_limited(&r);
	http_resp_free(&r);
	assert_int_equal(login_status(b.email, GOOD_PASSWORD), 200);
}

static void test_a_successful_login_resets_the_account_failure_count(void **state)
{
	struct account a;
	(void)state;
	register_as(&a, "reset", "client");
	for (int i = 0; i < LOGIN_MAX_FAILURES - 1; i++)
		assert_int_equal(login_status(a.email, WRONG_PASSWORD), 401);
	assert_int_equal(login_status(a.email, GOOD_PASSWORD), 200);
	/* the client's own count would throttle the next failures (the test below);
	 * cleared, only the account's count is left to judge */
	clear_client_failures();
	for (int i = 0; i < LOGIN_MAX_FAILURES - 1; i++) {
		long st = login_status(a.email, WRONG_PASSWORD);
		if (st != 401)
			fail_msg("failure %d after a successful login: %ld, expected 401", i + 1,
				 st);
	}
	assert_int_equal(login_status(a.email, GOOD_PASSWORD), 200);
}

static void test_a_successful_login_does_not_reset_the_client_failure_count(void **state)
{
	struct account a, b;
	struct http_resp r;
	(void)state;
	register_as(&a, "clientcount", "client");
	register_as(&b, "clientcount2", "client");
	for (int i = 0; i < LOGIN_MAX_FAILURES - 1; i++)
		assert_int_equal(login_status(a.email, WRONG_PASSWORD), 401);
	assert_int_equal(login_status(a.email, GOOD_PASSWORD), 200);
	/* the client's 5th failure (the account's 1st since its reset) */
	assert_int_equal(login_status(a.email, WRONG_PASSWORD), 401);
	/* now the client is throttled, whatever account it tries */
	post_login(b.email, GOOD_PASSWORD, &r);
	assert_true(assert_rate_limited(&r) <= LOGIN_FIRST_BLOCK_S);
	http_resp_free(&r);
}

/* ---- 5. BOLA ------------------------------------------------------------------------------ */

static void test_another_client_cannot_see_or_list_a_project(void **state)
{
	struct account a, b;
	char id[TM_UUID_LEN + 1], path[160];
	struct http_resp r;
	(void)state;
	register_as(&a, "bola-a", "client");
	register_as(&b, "bola-b", "client");
	create_project(a.access, "A's private project", "Nobody else may see this", id);
	project_path(path, sizeof(path), id, "");
	api_get(path, b.access, &r);
	assert_error(&r, 404, "NOT_FOUND");
	assert_null(strstr(r.body, "A's private project"));
	http_resp_free(&r);
	project_path(path, sizeof(path), id, "/overview");
	api_get(path, b.access, &r);
	assert_error(&r, 404, "NOT_FOUND");
	assert_null(strstr(r.body, "A's private project"));
	http_resp_free(&r);
	assert_false(list_contains(b.access, id));
	assert_true(list_contains(a.access, id));
	project_path(path, sizeof(path), id, "");
	api_get(path, a.access, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	/* the owner's overview: every service answers once it learnt of the project */
	project_path(path, sizeof(path), id, "/overview");
	int64_t end = tm_mono_ms() + OVERVIEW_WAIT_MS;
	for (;;) {
		api_get(path, a.access, &r);
		if (r.status == 200 || tm_mono_ms() > end)
			break;
		if (r.status != 404) /* 404: a service has not seen the event yet */
			fail_msg("owner's overview: %ld %.300s", r.status, r.body);
		http_resp_free(&r);
		tm_sleep_ms(200);
	}
	if (r.status != 200)
		fail_msg("owner's overview: %ld %.300s", r.status, r.body);
	cJSON *j = json_of(&r);
	const cJSON *deg = jget(j, "degraded");
	assert_true(cJSON_IsArray(deg));
	if (cJSON_GetArraySize(deg) != 0)
		fail_msg("degraded is not empty: %.300s", r.body);
	assert_string_equal(jstr(jget(j, "project"), "id"), id);
	cJSON_Delete(j);
	http_resp_free(&r);
	/* and still not B's, now that every service knows it */
	api_get(path, b.access, &r);
	assert_error(&r, 404, "NOT_FOUND");
	http_resp_free(&r);
}

static void test_unknown_and_malformed_project_ids_are_404(void **state)
{
	struct account a;
	char rnd[TM_UUID_LEN + 1], path[600], longid[301];
	struct http_resp r;
	(void)state;
	register_as(&a, "badid", "client");
	tm_uuid_v4(rnd);
	memset(longid, '7', 300);
	longid[300] = '\0';
	const char *ids[] = {rnd,
			     "not-a-uuid",
			     "00000000-0000-0000-0000-000000000000",
			     "1'%20OR%20'1'='1",
			     "%27%3B%20DROP%20TABLE%20projects.projects%3B--",
			     "%00",
			     longid,
			     NULL};
	const char *suffixes[] = {"", "/overview"};
	for (int i = 0; ids[i]; i++) {
		for (int s = 0; s < 2; s++) {
			project_path(path, sizeof(path), ids[i], suffixes[s]);
			api_get(path, a.access, &r);
			if (r.status != 404)
				fail_msg("GET %s: expected 404, got %ld %.300s", path, r.status,
					 r.body);
			assert_error(&r, 404, "NOT_FOUND");
			http_resp_free(&r);
		}
	}
}

/* ---- 6. function-level authorization ------------------------------------------------------ */

static void test_developer_cannot_create_a_project(void **state)
{
	struct account dev;
	struct http_resp r;
	(void)state;
	register_as(&dev, "bfla-dev", "developer");
	api_post("/api/v1/projects", dev.access,
		 "{\"title\":\"Not mine to post\",\"description\":\"developers do not post\"}", &r);
	assert_error(&r, 403, "FORBIDDEN");
	http_resp_free(&r);
	/* reading is theirs: the projects they work on (none yet) */
	api_get("/api/v1/projects", dev.access, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_int_equal(cJSON_GetArraySize(jget(j, "items")), 0);
	cJSON_Delete(j);
	http_resp_free(&r);
}

/* Runs `tm-gateway create-admin` with the password on standard input; the new
 * admin's id into id (the test fails if it did not succeed). */
static void create_admin(const char *email, const char *name, const char *password,
			 char id[TM_UUID_LEN + 1])
{
	int in[2], out[2], st = 0;
	char bin[600], buf[256];
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	snprintf(bin, sizeof(bin), "%s/tm-gateway", tm_test_bin_dir());
	setenv("TM_DATABASE_URL", stack.database_url, 1); /* devstack's children unset it */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl(bin, "tm-gateway", "create-admin", "--email", email, "--display-name", name,
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(write(in[1], password, strlen(password)), (ssize_t)strlen(password));
	assert_int_equal(write(in[1], "\n", 1), 1);
	close(in[1]);
	size_t n = 0;
	ssize_t k;
	while (n + 1 < sizeof(buf) && (k = read(out[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("tm-gateway create-admin failed (status %d): %s", st, buf);
	buf[strcspn(buf, "\n")] = '\0';
	assert_true(tm_uuid_valid(buf));
	memcpy(id, buf, TM_UUID_LEN + 1);
}

static void test_admin_made_by_the_operator_sees_a_project_another_client_cannot(void **state)
{
	struct account a, b, admin;
	char id[TM_UUID_LEN + 1], admin_id[TM_UUID_LEN + 1], path[160];
	struct http_resp r;
	(void)state;
	register_as(&a, "owner", "client");
	register_as(&b, "stranger", "client");
	create_project(a.access, "Visible to admins", "and to the owner only", id);
	unique_email(admin.email, sizeof(admin.email), "ops-admin");
	create_admin(admin.email, "Ops Admin", GOOD_PASSWORD, admin_id);
	login_as(&admin);
	assert_string_equal(admin.id, admin_id);
	api_get("/api/v1/me", admin.access, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(j, "role"), "admin");
	cJSON_Delete(j);
	http_resp_free(&r);
	project_path(path, sizeof(path), id, "");
	api_get(path, admin.access, &r);
	assert_int_equal(r.status, 200);
	j = json_of(&r);
	assert_string_equal(jstr(j, "clientId"), a.id);
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_true(list_contains(admin.access, id));
	api_get(path, b.access, &r);
	assert_error(&r, 404, "NOT_FOUND");
	http_resp_free(&r);
	/* posting projects is the client's function, not the admin's */
	api_post("/api/v1/projects", admin.access,
		 "{\"title\":\"Admin post\",\"description\":\"not a client\"}", &r);
	assert_error(&r, 403, "FORBIDDEN");
	http_resp_free(&r);
}

/* ---- 7. injection ------------------------------------------------------------------------- */

static const char *const sql_payloads[] = {
	"'; DROP TABLE identity.users; --",
	"\" OR 1=1 --",
	"\\'",
	"Zo\xc3\xab \xf0\x9f\x9a\x80 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ' OR ''='",
	"Robert'); DROP TABLE projects.projects;--",
	"$1 %s %n \\x00 ::text",
	NULL,
};

static void test_sql_metacharacters_in_account_fields_are_stored_literally(void **state)
{
	char t[13], email[200], password[200];
	struct http_resp r;
	struct account a;
	(void)state;
	for (int i = 0; sql_payloads[i]; i++) {
		random_tag(t);
		snprintf(email, sizeof(email), "o'brien+%s@example.com", t);
		snprintf(password, sizeof(password), "%s-%s-pw", PASSWORD_MARKER, sql_payloads[i]);
		post_register(email, password, "client", sql_payloads[i], &r);
		if (r.status != 201)
			fail_msg("register with %s: %ld %.300s", sql_payloads[i], r.status, r.body);
		take_tokens(&r, &a);
		cJSON *j = json_of(&r);
		assert_string_equal(jstr(jget(j, "user"), "displayName"), sql_payloads[i]);
		assert_string_equal(jstr(jget(j, "user"), "email"), email);
		cJSON_Delete(j);
		http_resp_free(&r);
		api_get("/api/v1/me", a.access, &r);
		j = json_of(&r);
		assert_string_equal(jstr(j, "displayName"), sql_payloads[i]);
		cJSON_Delete(j);
		http_resp_free(&r);
		assert_int_equal(login_status(email, password), 200);
	}
	/* metacharacters in the login's e-mail match nothing */
	assert_int_equal(login_status("' OR 1=1 --", GOOD_PASSWORD), 401);
	assert_int_equal(login_status("x@example.com' OR '1'='1", GOOD_PASSWORD), 401);
	assert_int_equal(login_status("\" OR \"\"=\"@example.com", GOOD_PASSWORD), 401);
	/* the tables are still there, and registration still works */
	assert_int_equal(db_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'identity' "
				  "AND tablename = 'users'",
				  NULL),
			 1);
	register_as(&a, "after-injection", "client");
	assert_int_equal(me_status(a.access), 200);
}

static void test_sql_metacharacters_in_project_fields_are_stored_literally(void **state)
{
	struct account a;
	char id[TM_UUID_LEN + 1], path[160];
	struct http_resp r;
	(void)state;
	register_as(&a, "inject-proj", "client");
	for (int i = 0; sql_payloads[i]; i++) {
		const char *title = sql_payloads[i];
		const char *desc = sql_payloads[i + 1] ? sql_payloads[i + 1] : sql_payloads[0];
		create_project(a.access, title, desc, id);
		project_path(path, sizeof(path), id, "");
		api_get(path, a.access, &r);
		assert_int_equal(r.status, 200);
		cJSON *j = json_of(&r);
		assert_string_equal(jstr(j, "title"), title);
		assert_string_equal(jstr(j, "description"), desc);
		cJSON_Delete(j);
		http_resp_free(&r);
	}
	assert_int_equal(db_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'projects' "
				  "AND tablename = 'projects'",
				  NULL),
			 1);
	assert_true(list_contains(a.access, id));
	create_project(a.access, "After the payloads", "still works", id);
	struct account b;
	register_as(&b, "after-injection-2", "client");
}

/* ---- 8. unrestricted resource consumption ------------------------------------------------- */

/* A register body padded with spaces to exactly `size` bytes (valid JSON). */
static char *padded_register_body(size_t size)
{
	char email[160];
	unique_email(email, sizeof(email), "bigbody");
	char *core = account_json(email, GOOD_PASSWORD, "client", "Big Body");
	size_t cl = strlen(core);
	assert_true(cl + 1 < size);
	char *b = malloc(size + 1);
	assert_non_null(b);
	b[0] = '{';
	memset(b + 1, ' ', size - cl);
	memcpy(b + 1 + (size - cl), core + 1, cl - 1);
	b[size] = '\0';
	assert_int_equal(strlen(b), size);
	cJSON_free(core);
	return b;
}

static void test_body_over_the_limit_is_413(void **state)
{
	struct account a;
	struct http_resp r;
	(void)state;
	register_as(&a, "bodylimit", "client");
	/* exactly the limit is read and served */
	char *at = padded_register_body(MAX_BODY_BYTES);
	api_post("/api/v1/auth/register", NULL, at, &r);
	assert_int_equal(r.status, 201);
	http_resp_free(&r);
	free(at);
	char *over = padded_register_body(MAX_BODY_BYTES + 1);
	api_post("/api/v1/auth/register", NULL, over, &r);
	assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
	http_resp_free(&r);
	api_post("/api/v1/projects", a.access, over, &r);
	assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
	http_resp_free(&r);
	/* chunked: no Content-Length to judge by; the limit applies while reading */
	const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
	api_do("POST", "/api/v1/auth/login", NULL, over, chunked, &r);
	assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
	http_resp_free(&r);
	free(over);
}

/* {"email": [[...]]} nested `depth` levels deep in all (the object is one). */
static char *nested_body(int depth)
{
	int arrays = depth - 1;
	char *b = malloc((size_t)arrays * 2 + 32);
	assert_non_null(b);
	strcpy(b, "{\"email\":");
	size_t n = strlen(b);
	memset(b + n, '[', (size_t)arrays);
	memset(b + n + arrays, ']', (size_t)arrays);
	strcpy(b + n + 2 * (size_t)arrays, "}");
	return b;
}

static void test_json_deeper_than_the_limit_is_400(void **state)
{
	struct http_resp r;
	char msg[300];
	(void)state;
	char *over = nested_body(JSON_MAX_DEPTH + 1);
	api_post("/api/v1/auth/register", NULL, over, &r);
	assert_error(&r, 400, "VALIDATION_FAILED");
	error_message(&r, msg, sizeof(msg));
	if (!strstr(msg, "depth"))
		fail_msg("%d levels: not refused for its depth: %s", JSON_MAX_DEPTH + 1, msg);
	http_resp_free(&r);
	free(over);
	/* at the limit the depth passes (and the wrong type is what is refused) */
	char *at = nested_body(JSON_MAX_DEPTH);
	api_post("/api/v1/auth/register", NULL, at, &r);
	assert_field_error(&r, "email");
	error_message(&r, msg, sizeof(msg));
	assert_null(strstr(msg, "depth"));
	http_resp_free(&r);
	free(at);
	/* a depth bomb within the body limit */
	char *bomb = nested_body(MAX_BODY_BYTES / 2 - 16);
	api_post("/api/v1/auth/login", NULL, bomb, &r);
	assert_error(&r, 400, "VALIDATION_FAILED");
	http_resp_free(&r);
	free(bomb);
}

static void test_list_limit_outside_1_to_100_is_400(void **state)
{
	struct account a;
	struct http_resp r;
	(void)state;
	register_as(&a, "listlimit", "client");
	const char *bad[] = {"100000", "101", "-1", "abc", "99999999999999999999", NULL};
	char path[128];
	for (int i = 0; bad[i]; i++) {
		snprintf(path, sizeof(path), "/api/v1/projects?limit=%s", bad[i]);
		api_get(path, a.access, &r);
		if (r.status != 400)
			fail_msg("limit=%s: expected 400, got %ld %.200s", bad[i], r.status,
				 r.body);
		assert_field_error(&r, "limit");
		http_resp_free(&r);
	}
	api_get("/api/v1/projects?limit=100", a.access, &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

/* ---- 9. GitHub sign-in -------------------------------------------------------------------- */

/* GET /auth/github/authorize (with User-Agent `ua` unless NULL); the state into out. */
static void github_authorize(const char *ua, char *state_out, size_t len)
{
	struct http_resp r;
	char uah[200];
	snprintf(uah, sizeof(uah), "User-Agent: %s", ua ? ua : "");
	const char *h[] = {ua ? uah : NULL, NULL};
	api_do("GET", "/api/v1/auth/github/authorize", NULL, NULL, h, &r);
	if (r.status != 200)
		fail_msg("authorize: %ld %.300s", r.status, r.body);
	cJSON *j = json_of(&r);
	assert_non_null(jstr(j, "state"));
	snprintf(state_out, len, "%s", jstr(j, "state"));
	cJSON_Delete(j);
	http_resp_free(&r);
}

static void github_callback(const char *ua, const char *code, const char *st, struct http_resp *r)
{
	char uah[200];
	snprintf(uah, sizeof(uah), "User-Agent: %s", ua ? ua : "");
	const char *h[] = {ua ? uah : NULL, NULL};
	cJSON *o = cJSON_CreateObject();
	if (code)
		cJSON_AddStringToObject(o, "code", code);
	if (st)
		cJSON_AddStringToObject(o, "state", st);
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	api_do("POST", "/api/v1/auth/github/callback", NULL, body, h, r);
	cJSON_free(body);
}

/* Registers a GitHub user with one primary address and `codes` (NULL-terminated)
 * that exchange for its token. */
static void github_user(int64_t id, const char *login, const char *name, const char *email,
			bool verified, const char *const *codes)
{
	char token[64];
	snprintf(token, sizeof(token), "gho_test_%lld_token", (long long)id);
	struct fake_github_user u = {
		.token = token,
		.id = id,
		.login = login,
		.name = name,
		.emails = {{email, true, verified, "public"},
			   {"noreply-secondary@users.noreply.github.com", false, true, NULL}},
		.n_emails = 2,
	};
	assert_int_equal(fake_github_add_user(fg, &u), 0);
	for (int i = 0; codes[i]; i++)
		assert_int_equal(fake_github_add_code(fg, codes[i], token, REDIRECT_URL), 0);
}

/* Signs in through the fake with `code`; the reply's status (checked by the
 * caller), the account into *a and the reply's user into *user. */
static long github_sign_in(const char *code, struct account *a, cJSON **user)
{
	char st[128];
	struct http_resp r;
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	github_callback("taskmesh-tests/1.0", code, st, &r);
	long status = r.status;
	if (status != 200 && status != 201)
		fail_msg("GitHub callback with %s: %ld %.300s", code, status, r.body);
	take_tokens(&r, a);
	cJSON *j = json_of(&r);
	*user = cJSON_DetachItemFromObject(j, "user");
	cJSON_Delete(j);
	http_resp_free(&r);
	return status;
}

static void test_github_authorize_gives_the_fake_url_with_state_and_client_id(void **state)
{
	struct http_resp r;
	char want[256], s2[128];
	(void)state;
	int before = fake_github_request_count(fg);
	api_get("/api/v1/auth/github/authorize", NULL, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	const char *const keys[] = {"url", "state", NULL};
	assert_keys(j, keys);
	const char *u = jstr(j, "url"), *st = jstr(j, "state");
	snprintf(want, sizeof(want), "%s/login/oauth/authorize?", fg_url);
	if (strncmp(u, want, strlen(want)) != 0)
		fail_msg("url %s does not start with %s", u, want);
	assert_true(strlen(st) >= 43); /* 256 random bits */
	snprintf(want, sizeof(want), "state=%s", st);
	assert_non_null(strstr(u, want));
	assert_non_null(strstr(u, "client_id=" FAKE_GITHUB_CLIENT_ID));
	assert_non_null(strstr(u, "redirect_uri=" REDIRECT_URL_ENCODED));
	assert_null(strstr(u, FAKE_GITHUB_CLIENT_SECRET));
	github_authorize(NULL, s2, sizeof(s2));
	assert_string_not_equal(s2, st); /* a new state every time */
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_int_equal(fake_github_request_count(fg), before); /* GitHub is not called */
}

static void test_github_callback_creates_a_verified_developer(void **state)
{
	char t[13], email[160], lower[160];
	struct account a;
	cJSON *u = NULL;
	(void)state;
	random_tag(t);
	snprintf(email, sizeof(email), "NewDev-%s@Example.com", t);
	snprintf(lower, sizeof(lower), "newdev-%s@example.com", t);
	const char *codes[] = {"code-new-dev", NULL};
	github_user(7001, "new-dev", "New Developer", email, true, codes);
	long status = github_sign_in("code-new-dev", &a, &u);
	assert_string_equal(jstr(u, "email"), lower);
	assert_string_equal(jstr(u, "role"), "developer");
	assert_string_equal(jstr(u, "githubUsername"), "new-dev");
	assert_string_equal(jstr(u, "displayName"), "New Developer");
	assert_true(cJSON_IsTrue(jget(u, "isVerified")));
	cJSON_Delete(u);
	struct http_resp r;
	api_get("/api/v1/me", a.access, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	assert_string_equal(jstr(j, "id"), a.id);
	assert_string_equal(jstr(j, "githubUsername"), "new-dev");
	cJSON_Delete(j);
	http_resp_free(&r);
	/* a GitHub-only account has no password to log in with */
	assert_int_equal(login_status(lower, GOOD_PASSWORD), 401);
	/* docs/api.md: "POST /auth/github/callback ... -> 200 token pair (links or
	 * creates the user)" */
	if (status != 200)
		fail_msg("the sign-in that created the account answered %ld, not 200", status);
}

static void test_github_sign_in_of_the_same_user_gives_the_same_account(void **state)
{
	char t[13], email[160];
	struct account first, second;
	cJSON *u1 = NULL, *u2 = NULL;
	(void)state;
	random_tag(t);
	snprintf(email, sizeof(email), "same-dev-%s@example.com", t);
	const char *codes[] = {"code-same-1", "code-same-2", NULL};
	github_user(7002, "same-dev", NULL, email, true, codes);
	github_sign_in("code-same-1", &first, &u1); /* 200 or 201: the test above */
	assert_int_equal(github_sign_in("code-same-2", &second, &u2), 200);
	assert_string_equal(second.id, first.id);
	assert_string_not_equal(second.refresh, first.refresh);
	assert_string_equal(jstr(u2, "displayName"), "same-dev"); /* no name: the login */
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE github_id = 7002", NULL), 1);
	cJSON_Delete(u1);
	cJSON_Delete(u2);
}

static void test_github_verified_email_links_the_existing_password_account(void **state)
{
	char t[13], email[160], upper[160], st[128];
	struct account pw;
	struct http_resp r, cb;
	(void)state;
	random_tag(t);
	snprintf(email, sizeof(email), "link-%s@example.com", t);
	snprintf(upper, sizeof(upper), "Link-%s@Example.COM", t);
	post_register(email, GOOD_PASSWORD, "client", "Link Me", &r);
	assert_int_equal(r.status, 201);
	take_tokens(&r, &pw);
	http_resp_free(&r);
	const char *codes[] = {"code-link", NULL};
	github_user(7003, "link-dev", "Link Dev", upper, true, codes);
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	github_callback("taskmesh-tests/1.0", "code-link", st, &cb);
	/* what was stored: the password account, linked, its role and name kept;
	 * the password still works */
	post_login(email, GOOD_PASSWORD, &r);
	assert_int_equal(r.status, 200);
	cJSON *j = json_of(&r);
	const cJSON *u = jget(j, "user");
	assert_string_equal(jstr(u, "id"), pw.id);
	assert_string_equal(jstr(u, "githubUsername"), "link-dev");
	assert_true(cJSON_IsTrue(jget(u, "isVerified")));
	assert_string_equal(jstr(u, "role"), "client");
	assert_string_equal(jstr(u, "displayName"), "Link Me");
	cJSON_Delete(j);
	http_resp_free(&r);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE email = $1", email), 1);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE github_id = 7003", NULL), 1);
	/* what the callback answered: the token pair of that same account */
	char why[600] = "";
	if (cb.status != 200) {
		snprintf(why, sizeof(why),
			 "the callback that linked the account answered %ld: %.300s", cb.status,
			 cb.body);
	} else {
		j = json_of(&cb);
		u = jget(j, "user");
		const char *name = jstr(u, "githubUsername");
		if (!jstr(u, "id") || strcmp(jstr(u, "id"), pw.id) != 0)
			snprintf(why, sizeof(why), "the callback reply names another user: %.300s",
				 cb.body);
		else if (!name || strcmp(name, "link-dev") != 0)
			snprintf(
				why, sizeof(why),
				"the callback reply's githubUsername is \"%s\", stored: \"link-dev\"",
				name ? name : "(none)");
		else if (!cJSON_IsTrue(jget(u, "isVerified")))
			snprintf(why, sizeof(why), "the callback reply is not verified: %.300s",
				 cb.body);
		cJSON_Delete(j);
	}
	if (why[0]) {
		http_resp_free(&cb);
		fail_msg("%s", why);
	}
	struct account gh;
	take_tokens(&cb, &gh);
	assert_int_equal(me_status(gh.access), 200);
	http_resp_free(&cb);
}

static void test_github_state_is_single_use(void **state)
{
	char t[13], email[160], st[128];
	struct http_resp r;
	(void)state;
	random_tag(t);
	snprintf(email, sizeof(email), "once-%s@example.com", t);
	const char *codes[] = {"code-once", "code-once-2", NULL};
	github_user(7004, "once-dev", "Once", email, true, codes);
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	github_callback("taskmesh-tests/1.0", "code-once", st, &r);
	if (r.status != 200 && r.status != 201) /* which of the two: see above */
		fail_msg("first use of the state: %ld %.300s", r.status, r.body);
	http_resp_free(&r);
	int before = fake_github_request_count(fg);
	github_callback("taskmesh-tests/1.0", "code-once-2", st, &r);
	assert_field_error(&r, "state");
	http_resp_free(&r);
	github_callback("taskmesh-tests/1.0", "code-once-2", "made-up-state", &r);
	assert_field_error(&r, "state");
	http_resp_free(&r);
	assert_int_equal(fake_github_request_count(fg), before); /* refused before GitHub */
}

static void test_github_state_from_another_user_agent_is_400(void **state)
{
	char st[128];
	struct http_resp r;
	(void)state;
	github_authorize("Mozilla/5.0 (victim)", st, sizeof(st));
	int before = fake_github_request_count(fg);
	github_callback("curl/8.0 (attacker)", "code-any", st, &r);
	assert_field_error(&r, "state");
	http_resp_free(&r);
	github_callback(NULL, "code-any", st, &r);
	assert_field_error(&r, "state");
	http_resp_free(&r);
	assert_int_equal(fake_github_request_count(fg), before);
}

static void test_github_unknown_code_is_400(void **state)
{
	char st[128];
	struct http_resp r;
	(void)state;
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	int before = fake_github_request_count(fg);
	github_callback("taskmesh-tests/1.0", "no-such-code", st, &r);
	assert_field_error(&r, "code");
	http_resp_free(&r);
	assert_int_equal(fake_github_request_count(fg), before + 1); /* one exchange, no retry */
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	github_callback("taskmesh-tests/1.0", NULL, st, &r);
	assert_field_error(&r, "code");
	http_resp_free(&r);
}

static void test_github_account_without_a_verified_email_is_refused(void **state)
{
	char t[13], email[160], st[128];
	struct http_resp r;
	(void)state;
	random_tag(t);
	snprintf(email, sizeof(email), "unverified-%s@example.com", t);
	const char *codes[] = {"code-unverified", NULL};
	github_user(7005, "unverified-dev", "Unverified", email, false, codes);
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	github_callback("taskmesh-tests/1.0", "code-unverified", st, &r);
	assert_field_error(&r, "code");
	http_resp_free(&r);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE github_id = 7005", NULL), 0);
	assert_int_equal(db_count("SELECT count(*) FROM users WHERE email = $1", email), 0);
}

/* Last: it leaves the breaker open for its cool-down. */
static void
test_github_failures_are_502_then_the_breaker_answers_503_without_calling_github(void **state)
{
	char st[128];
	struct http_resp r;
	(void)state;
	struct fake_github_fault_spec spec = {.fault = FAKE_GITHUB_500,
					      .count = GITHUB_BREAKER_THRESHOLD};
	fake_github_fail(fg, &spec);
	int before = fake_github_request_count(fg);
	for (int i = 0; i < GITHUB_BREAKER_THRESHOLD; i++) {
		github_authorize("taskmesh-tests/1.0", st, sizeof(st));
		github_callback("taskmesh-tests/1.0", "code-while-down", st, &r);
		assert_error(&r, 502, "UPSTREAM_FAILED");
		/* nothing of GitHub's side shows: no URL, no secret */
		assert_null(strstr(r.body, fg_url));
		assert_null(strstr(r.body, FAKE_GITHUB_CLIENT_SECRET));
		assert_null(strstr(r.body, "Server Error"));
		http_resp_free(&r);
		assert_int_equal(fake_github_request_count(fg), before + i + 1);
	}
	github_authorize("taskmesh-tests/1.0", st, sizeof(st));
	github_callback("taskmesh-tests/1.0", "code-while-down", st, &r);
	assert_error(&r, 503, "SERVICE_UNAVAILABLE");
	assert_true(header_long(&r, "Retry-After") >= 1);
	http_resp_free(&r);
	assert_int_equal(fake_github_request_count(fg), before + GITHUB_BREAKER_THRESHOLD);
}

#define T(f) cmocka_unit_test_setup(f, forget_client_failures)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* 1. accounts */
		T(test_register_returns_201_with_tokens_and_a_normalized_email),
		T(test_register_with_a_taken_email_in_another_case_is_409),
		T(test_password_must_be_12_to_128_characters),
		T(test_register_refuses_the_admin_role_and_unknown_roles),
		T(test_register_with_unknown_fields_is_400_and_creates_nothing),
		T(test_login_returns_a_new_token_pair_for_the_account),
		T(test_me_shows_exactly_the_public_account_fields),
		T(test_register_with_an_idempotency_key_replays_the_first_reply),
		/* 2. broken authentication */
		T(test_token_signed_with_another_key_or_altered_is_401),
		T(test_expired_token_is_401),
		T(test_alg_none_token_is_401),
		T(test_rs256_and_other_alg_headers_are_401),
		T(test_logout_is_204_and_revokes_the_access_token),
		T(test_refresh_token_is_401_after_logout),
		T(test_refresh_rotates_the_pair_and_the_old_refresh_token_is_401),
		T(test_reusing_a_rotated_refresh_token_revokes_the_whole_family),
		T(test_logout_with_another_users_refresh_token_does_not_end_that_session),
		T(test_oversized_token_is_401),
		T(test_authorization_without_the_bearer_scheme_is_401_with_www_authenticate),
		T(test_valid_token_of_an_unknown_account_is_401),
		/* 3. account enumeration */
		T(test_unknown_email_and_wrong_password_get_the_same_401),
		/* 4. login throttling */
		T(test_five_failed_logins_throttle_the_account_even_with_the_right_password),
		T(test_a_successful_login_resets_the_account_failure_count),
		T(test_a_successful_login_does_not_reset_the_client_failure_count),
		/* 5. BOLA */
		T(test_another_client_cannot_see_or_list_a_project),
		T(test_unknown_and_malformed_project_ids_are_404),
		/* 6. function-level authorization */
		T(test_developer_cannot_create_a_project),
		T(test_admin_made_by_the_operator_sees_a_project_another_client_cannot),
		/* 7. injection */
		T(test_sql_metacharacters_in_account_fields_are_stored_literally),
		T(test_sql_metacharacters_in_project_fields_are_stored_literally),
		/* 8. resource consumption */
		T(test_body_over_the_limit_is_413),
		T(test_json_deeper_than_the_limit_is_400),
		T(test_list_limit_outside_1_to_100_is_400),
		/* 9. GitHub sign-in (the breaker test last) */
		T(test_github_authorize_gives_the_fake_url_with_state_and_client_id),
		T(test_github_callback_creates_a_verified_developer),
		T(test_github_sign_in_of_the_same_user_gives_the_same_account),
		T(test_github_verified_email_links_the_existing_password_account),
		T(test_github_state_is_single_use),
		T(test_github_state_from_another_user_agent_is_400),
		T(test_github_unknown_code_is_400),
		T(test_github_account_without_a_verified_email_is_refused),
		T(test_github_failures_are_502_then_the_breaker_answers_503_without_calling_github),
	};
	return cmocka_run_group_tests_name("system: identity and OWASP API Top 10", tests, setup,
					   teardown);
}
