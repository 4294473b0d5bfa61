/* Test support: a fake GitHub over libmicrohttpd; see fake_github.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "fake_github.h"
#include "http.h"
#include "mhd_reply.h"

#define FG_TOKEN_MAX 256	   /* bytes of a registered token */
#define FG_TEXT_MAX 512		   /* bytes of a registered login, name, e-mail, code, URL */
#define FG_URL_MAX 64		   /* "http://127.0.0.1:PORT" */
#define FG_CONNECTION_TIMEOUT_S 30 /* idle connections are closed after this */
#define FG_DOCS "https://docs.github.com/rest"
#define FG_OAUTH_DOCS                                       \
	"https://docs.github.com/apps/managing-oauth-apps/" \
	"troubleshooting-oauth-app-access-token-request-errors"

struct fg_email {
	char email[FG_TEXT_MAX];
	bool primary;
	bool verified;
	char visibility[32]; /* "" is JSON null */
};

struct fg_user {
	char token[FG_TOKEN_MAX];
	int64_t id;
	char login[FG_TEXT_MAX];
	char name[FG_TEXT_MAX];
	bool name_null;
	struct fg_email emails[FAKE_GITHUB_EMAILS_MAX];
	int n_emails;
};

struct fg_code {
	char code[FG_TEXT_MAX];
	char token[FG_TOKEN_MAX];
	char redirect_uri[FG_TEXT_MAX]; /* "" accepts any */
	bool used;
};

/* The armed fault, copied out for one request. */
struct fg_fault {
	enum fake_github_fault fault;
	int delay_ms;
	int retry_after_s;
	int reset_in_s;
	char location[FG_TEXT_MAX];
};

struct fake_github {
	struct MHD_Daemon *daemon;
	char url[FG_URL_MAX];
	pthread_mutex_t mu;
	pthread_cond_t stop_cv; /* CLOCK_MONOTONIC; broadcast when stopping */
	bool stopping;		/* delayed answers return at once */
	struct fg_user users[FAKE_GITHUB_USERS_MAX];
	int n_users;
	struct fg_code codes[FAKE_GITHUB_CODES_MAX];
	int n_codes;
	struct fg_fault armed;
	int armed_left;		      /* requests the armed fault still applies to */
	char armed_path[FG_TEXT_MAX]; /* "" matches any path */
	struct fake_github_request records[FAKE_GITHUB_RECORDS_MAX];
	int n_kept;
	int n_seen;
};

/* One request being received (MHD's per-request context). */
struct fg_req {
	char uri[FAKE_GITHUB_URI_MAX];
	bool uri_cut;
	bool started; /* the access handler has seen the headers */
	char body[FAKE_GITHUB_BODY_MAX + 1];
	size_t body_len;
	bool body_too_big;
};

/* Copies s into a fixed field; -1 if it does not fit. */
static int copy_field(char *out, size_t outlen, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len >= outlen)
		return -1;
	memcpy(out, s ? s : "", len + 1);
	return 0;
}

/* ---- test controls ----------------------------------------------------------------------- */

int fake_github_add_user(struct fake_github *fg, const struct fake_github_user *u)
{
	struct fg_user nu;
	int rc = -1;

	memset(&nu, 0, sizeof(nu));
	if (!u->token || !u->login || u->n_emails < 0 || u->n_emails > FAKE_GITHUB_EMAILS_MAX ||
	    copy_field(nu.token, sizeof(nu.token), u->token) != 0 ||
	    copy_field(nu.login, sizeof(nu.login), u->login) != 0 ||
	    copy_field(nu.name, sizeof(nu.name), u->name) != 0)
		return -1;
	nu.id = u->id;
	nu.name_null = u->name == NULL;
	for (int i = 0; i < u->n_emails; i++) {
		const struct fake_github_email *e = &u->emails[i];
		if (!e->email || copy_field(nu.emails[i].email, FG_TEXT_MAX, e->email) != 0 ||
		    copy_field(nu.emails[i].visibility, sizeof(nu.emails[i].visibility),
			       e->visibility) != 0)
			return -1;
		nu.emails[i].primary = e->primary;
		nu.emails[i].verified = e->verified;
	}
	nu.n_emails = u->n_emails;
	pthread_mutex_lock(&fg->mu);
	if (fg->n_users < FAKE_GITHUB_USERS_MAX) {
		fg->users[fg->n_users++] = nu;
		rc = 0;
	}
	pthread_mutex_unlock(&fg->mu);
	return rc;
}

int fake_github_add_code(struct fake_github *fg, const char *code, const char *token,
			 const char *redirect_uri)
{
	struct fg_code nc;
	int rc = -1;

	memset(&nc, 0, sizeof(nc));
	if (!code || !token || copy_field(nc.code, sizeof(nc.code), code) != 0 ||
	    copy_field(nc.token, sizeof(nc.token), token) != 0 ||
	    copy_field(nc.redirect_uri, sizeof(nc.redirect_uri), redirect_uri) != 0)
		return -1;
	pthread_mutex_lock(&fg->mu);
	if (fg->n_codes < FAKE_GITHUB_CODES_MAX) {
		fg->codes[fg->n_codes++] = nc;
		rc = 0;
	}
	pthread_mutex_unlock(&fg->mu);
	return rc;
}

void fake_github_fail(struct fake_github *fg, const struct fake_github_fault_spec *spec)
{
	struct fg_fault f;

	memset(&f, 0, sizeof(f));
	f.fault = spec->fault;
	f.delay_ms = spec->delay_ms > 0 ? spec->delay_ms : FAKE_GITHUB_DELAY_MS;
	f.retry_after_s = spec->retry_after_s > 0 ? spec->retry_after_s : FAKE_GITHUB_RETRY_AFTER_S;
	f.reset_in_s = spec->reset_in_s > 0 ? spec->reset_in_s : FAKE_GITHUB_RESET_IN_S;
	if (!spec->location || copy_field(f.location, sizeof(f.location), spec->location) != 0)
		snprintf(f.location, sizeof(f.location), "%s/elsewhere", fg->url);
	pthread_mutex_lock(&fg->mu);
	fg->armed = f;
	fg->armed_left = spec->count > 0 ? spec->count : 0;
	if (!spec->path || copy_field(fg->armed_path, sizeof(fg->armed_path), spec->path) != 0)
		fg->armed_path[0] = '\0';
	pthread_mutex_unlock(&fg->mu);
}

void fake_github_fail_next(struct fake_github *fg, int n, enum fake_github_fault fault)
{
	struct fake_github_fault_spec spec = {.fault = fault, .count = n};

	fake_github_fail(fg, &spec);
}

/* The fault for a request to path: the armed one while it lasts, else OK. */
static struct fg_fault take_fault(struct fake_github *fg, const char *path)
{
	struct fg_fault f;

	memset(&f, 0, sizeof(f));
	pthread_mutex_lock(&fg->mu);
	if (fg->armed_left > 0 && (!fg->armed_path[0] || strcmp(fg->armed_path, path) == 0)) {
		f = fg->armed;
		fg->armed_left--;
	}
	pthread_mutex_unlock(&fg->mu);
	return f;
}

/* ---- records ----------------------------------------------------------------------------- */

int fake_github_request_count(struct fake_github *fg)
{
	pthread_mutex_lock(&fg->mu);
	int n = fg->n_seen;
	pthread_mutex_unlock(&fg->mu);
	return n;
}

int fake_github_request(struct fake_github *fg, int i, struct fake_github_request *out)
{
	int rc = -1;

	pthread_mutex_lock(&fg->mu);
	if (i >= 0 && i < fg->n_kept) {
		*out = fg->records[i];
		rc = 0;
	}
	pthread_mutex_unlock(&fg->mu);
	return rc;
}

int fake_github_path_count(struct fake_github *fg, const char *path)
{
	size_t pl = strlen(path);
	int n = 0;

	pthread_mutex_lock(&fg->mu);
	for (int i = 0; i < fg->n_kept; i++) {
		const char *u = fg->records[i].uri;
		if (strncmp(u, path, pl) == 0 && (u[pl] == '\0' || u[pl] == '?'))
			n++;
	}
	pthread_mutex_unlock(&fg->mu);
	return n;
}

int fake_github_header(const struct fake_github_request *r, const char *name, char *out,
		       size_t outlen)
{
	return http_header_find(r->headers, name, out, outlen);
}

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct fake_github_request *r = cls;
	(void)kind;
	if (mhd_header_line(r->headers, sizeof(r->headers), key, value))
		return MHD_YES;
	r->truncated = true;
	return MHD_NO;
}

/* Keeps a finished request (if there is room) and counts it. */
static void record(struct fake_github *fg, struct MHD_Connection *c, const char *method,
		   const struct fg_req *rq)
{
	pthread_mutex_lock(&fg->mu);
	fg->n_seen++;
	if (fg->n_kept < FAKE_GITHUB_RECORDS_MAX) {
		struct fake_github_request *r = &fg->records[fg->n_kept++];
		memset(r, 0, sizeof(*r));
		snprintf(r->method, sizeof(r->method), "%s", method);
		memcpy(r->uri, rq->uri, sizeof(r->uri));
		r->truncated = rq->uri_cut;
		MHD_get_connection_values(c, MHD_HEADER_KIND, keep_header, r);
		memcpy(r->body, rq->body, rq->body_len + 1);
		r->body_len = rq->body_len;
	}
	pthread_mutex_unlock(&fg->mu);
}

/* ---- replies ----------------------------------------------------------------------------- */

static struct MHD_Response *text_response(const char *body, const char *content_type)
{
	struct MHD_Response *r = mhd_text(body, content_type);

	if (r)
		MHD_add_response_header(r, "Server", "GitHub.com");
	return r;
}

/* The REST API's rate-limit headers: a full budget, or none left until reset. */
static void rate_headers(struct MHD_Response *r, bool exhausted, int reset_in_s)
{
	char v[32];

	if (!r)
		return;
	MHD_add_response_header(r, "x-ratelimit-limit", "5000");
	MHD_add_response_header(r, "x-ratelimit-remaining", exhausted ? "0" : "4999");
	MHD_add_response_header(r, "x-ratelimit-used", exhausted ? "5000" : "1");
	snprintf(v, sizeof(v), "%lld", (long long)time(NULL) + reset_in_s);
	MHD_add_response_header(r, "x-ratelimit-reset", v);
	MHD_add_response_header(r, "x-ratelimit-resource", "core");
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned int status, cJSON *j, bool api)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	struct MHD_Response *r = s ? text_response(s, "application/json; charset=utf-8") : NULL;

	if (api)
		rate_headers(r, false, 3600);
	cJSON_free(s);
	cJSON_Delete(j);
	return mhd_send_reply(c, status, r);
}

/* {"message": m, "documentation_url": ...} with status. */
static enum MHD_Result send_message(struct MHD_Connection *c, unsigned int status, const char *m)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "message", m);
	cJSON_AddStringToObject(j, "documentation_url", FG_DOCS);
	return send_json(c, status, j, true);
}

/* A body of FAKE_GITHUB_HUGE_BYTES: one long JSON string in an array. */
static enum MHD_Result send_huge(struct MHD_Connection *c)
{
	char *b = malloc(FAKE_GITHUB_HUGE_BYTES);

	if (!b)
		return MHD_NO;
	memset(b, 'a', FAKE_GITHUB_HUGE_BYTES);
	memcpy(b, "[\"", 2);
	memcpy(b + FAKE_GITHUB_HUGE_BYTES - 2, "\"]", 2);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(FAKE_GITHUB_HUGE_BYTES, b, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(b);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	return mhd_send_reply(c, 200, r);
}

/* JSON of the wrong types for what the path should answer. */
static const char *wrong_shape(const char *path)
{
	if (strcmp(path, "/login/oauth/access_token") == 0)
		return "{\"access_token\":12345,\"token_type\":\"bearer\",\"scope\":\"read:user\"}";
	if (strcmp(path, "/user") == 0)
		return "[{\"id\":\"7\",\"login\":7,\"name\":false}]";
	if (strcmp(path, "/user/emails") == 0)
		return "{\"email\":\"octo@example.com\",\"primary\":\"yes\",\"verified\":1}";
	return "[]";
}

static enum MHD_Result send_fault(struct MHD_Connection *c, const struct fg_fault *f,
				  const char *path)
{
	struct MHD_Response *r;
	char v[32];

	switch (f->fault) {
	case FAKE_GITHUB_500:
		return send_message(c, 500, "Server Error");
	case FAKE_GITHUB_503:
		return send_message(c, 503, "Service Unavailable");
	case FAKE_GITHUB_BAD_JSON:
		return mhd_send_reply(c, 200,
				      text_response("{\"login\":\"octo", "application/json"));
	case FAKE_GITHUB_WRONG_SHAPE:
		return mhd_send_reply(c, 200, text_response(wrong_shape(path), "application/json"));
	case FAKE_GITHUB_RATE_LIMIT:
		r = text_response("{\"message\":\"API rate limit exceeded for user ID 1.\","
				  "\"documentation_url\":\"" FG_DOCS "\"}",
				  "application/json; charset=utf-8");
		rate_headers(r, true, f->reset_in_s);
		return mhd_send_reply(c, 403, r);
	case FAKE_GITHUB_TOO_MANY:
		r = text_response("{\"message\":\"You have exceeded a secondary rate limit. Please "
				  "wait a few minutes before you try again.\"}",
				  "application/json; charset=utf-8");
		snprintf(v, sizeof(v), "%d", f->retry_after_s);
		if (r)
			MHD_add_response_header(r, "retry-after", v);
		return mhd_send_reply(c, 429, r);
	case FAKE_GITHUB_SECONDARY_LIMIT:
		return mhd_send_reply(
			c, 403,
			text_response("{\"message\":\"You have exceeded a secondary rate "
				      "limit. Please wait a few minutes before you try "
				      "again.\"}",
				      "application/json; charset=utf-8"));
	case FAKE_GITHUB_REDIRECT:
		r = text_response("", "text/html; charset=utf-8");
		if (r)
			MHD_add_response_header(r, "Location", f->location);
		return mhd_send_reply(c, 302, r);
	case FAKE_GITHUB_HUGE_BODY:
		return send_huge(c);
	case FAKE_GITHUB_OK:
	case FAKE_GITHUB_DELAY:
		break;
	}
	return MHD_NO;
}

/* Waits ms, or less if the fake is stopping. */
static void delay(struct fake_github *fg, int ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fg->mu);
	while (!fg->stopping && pthread_cond_timedwait(&fg->stop_cv, &fg->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&fg->mu);
}

/* ---- endpoints --------------------------------------------------------------------------- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The decoded value of key in an x-www-form-urlencoded body into out.
 * Returns 0 if present, -1 if absent or too long. */
static int form_value(const char *body, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);

	for (const char *p = body; p && *p;) {
		const char *end = strchr(p, '&');
		size_t pl = end ? (size_t)(end - p) : strlen(p);
		if (pl > kl && p[kl] == '=' && strncmp(p, key, kl) == 0) {
			size_t n = 0;
			for (size_t i = kl + 1; i < pl; i++) {
				char ch = p[i];
				if (ch == '+') {
					ch = ' ';
				} else if (ch == '%' && i + 2 < pl && hexval(p[i + 1]) >= 0 &&
					   hexval(p[i + 2]) >= 0) {
					ch = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
					i += 2;
				}
				if (n + 1 >= outlen)
					return -1;
				out[n++] = ch;
			}
			out[n] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -1;
}

/* The OAuth reply in the format Accept asks for: JSON or form-encoded. */
static enum MHD_Result send_oauth(struct MHD_Connection *c, bool json, const char *const *kv)
{
	cJSON *j = cJSON_CreateObject();
	char form[2048];
	size_t used = 0;

	for (int i = 0; kv[i]; i += 2) {
		cJSON_AddStringToObject(j, kv[i], kv[i + 1]);
		int n = snprintf(form + used, sizeof(form) - used, "%s%s=%s", used ? "&" : "",
				 kv[i], kv[i + 1]); /* values here need no escaping but spaces */
		if (n < 0 || (size_t)n >= sizeof(form) - used)
			break;
		used += (size_t)n;
	}
	if (json)
		return send_json(c, 200, j, false);
	cJSON_Delete(j);
	for (char *p = form; *p; p++)
		if (*p == ' ')
			*p = '+';
	return mhd_send_reply(c, 200, text_response(form, "application/x-www-form-urlencoded"));
}

static enum MHD_Result oauth_token(struct fake_github *fg, struct MHD_Connection *c,
				   const struct fg_req *rq)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	bool json = accept && strstr(accept, "application/json");
	char id[FG_TEXT_MAX], secret[FG_TEXT_MAX], code[FG_TEXT_MAX], uri[FG_TEXT_MAX];
	char token[FG_TOKEN_MAX] = "";
	const char *error = "bad_verification_code";

	if (form_value(rq->body, "client_id", id, sizeof(id)) != 0 ||
	    form_value(rq->body, "client_secret", secret, sizeof(secret)) != 0 ||
	    strcmp(id, FAKE_GITHUB_CLIENT_ID) != 0 ||
	    strcmp(secret, FAKE_GITHUB_CLIENT_SECRET) != 0)
		return send_oauth(
			c, json,
			(const char *const[]){
				"error", "incorrect_client_credentials", "error_description",
				"The client_id and/or client_secret passed are "
				"incorrect.",
				"error_uri", FG_OAUTH_DOCS "#incorrect-client-credentials", NULL});
	if (form_value(rq->body, "redirect_uri", uri, sizeof(uri)) != 0)
		uri[0] = '\0';
	if (form_value(rq->body, "code", code, sizeof(code)) == 0) {
		pthread_mutex_lock(&fg->mu);
		for (int i = 0; i < fg->n_codes; i++) {
			struct fg_code *k = &fg->codes[i];
			if (k->used || strcmp(k->code, code) != 0)
				continue;
			if (k->redirect_uri[0] && strcmp(k->redirect_uri, uri) != 0) {
				error = "redirect_uri_mismatch";
				break;
			}
			k->used = true;
			snprintf(token, sizeof(token), "%s", k->token);
			break;
		}
		pthread_mutex_unlock(&fg->mu);
	}
	if (token[0])
		return send_oauth(c, json,
				  (const char *const[]){"access_token", token, "token_type",
							"bearer", "scope", "read:user,user:email",
							NULL});
	if (strcmp(error, "redirect_uri_mismatch") == 0)
		return send_oauth(
			c, json,
			(const char *const[]){"error", error, "error_description",
					      "The redirect_uri MUST match the registered "
					      "callback URL for this application.",
					      "error_uri", FG_OAUTH_DOCS, NULL});
	return send_oauth(c, json,
			  (const char *const[]){"error", error, "error_description",
						"The code passed is incorrect or expired.",
						"error_uri", FG_OAUTH_DOCS "#bad-verification-code",
						NULL});
}

/* The user named by the Authorization header ("Bearer t" or "token t") into
 * *out. Returns 0, or -1 after queueing the 401. */
static int find_user(struct fake_github *fg, struct MHD_Connection *c, struct fg_user *out,
		     enum MHD_Result *ret)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *t = NULL;
	int rc = -1;

	if (!auth) {
		*ret = send_message(c, 401, "Requires authentication");
		return -1;
	}
	if (strncasecmp(auth, "Bearer ", 7) == 0)
		t = auth + 7;
	else if (strncasecmp(auth, "token ", 6) == 0)
		t = auth + 6;
	pthread_mutex_lock(&fg->mu);
	for (int i = 0; t && i < fg->n_users; i++) {
		if (strcmp(fg->users[i].token, t) == 0) {
			*out = fg->users[i];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&fg->mu);
	if (rc != 0)
		*ret = send_message(c, 401, "Bad credentials");
	return rc;
}

static enum MHD_Result get_user(struct fake_github *fg, struct MHD_Connection *c)
{
	struct fg_user u;
	enum MHD_Result ret = MHD_NO;
	const char *public_email = NULL;
	char avatar[128];

	if (find_user(fg, c, &u, &ret) != 0)
		return ret;
	for (int i = 0; i < u.n_emails; i++)
		if (u.emails[i].primary && strcmp(u.emails[i].visibility, "public") == 0)
			public_email = u.emails[i].email;
	snprintf(avatar, sizeof(avatar), "https://avatars.githubusercontent.com/u/%lld?v=4",
		 (long long)u.id);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "login", u.login);
	cJSON_AddNumberToObject(j, "id", (double)u.id);
	cJSON_AddStringToObject(j, "node_id", "MDQ6VXNlcjE=");
	cJSON_AddStringToObject(j, "avatar_url", avatar);
	cJSON_AddStringToObject(j, "type", "User");
	cJSON_AddBoolToObject(j, "site_admin", false);
	if (u.name_null)
		cJSON_AddNullToObject(j, "name");
	else
		cJSON_AddStringToObject(j, "name", u.name);
	if (public_email)
		cJSON_AddStringToObject(j, "email", public_email);
	else
		cJSON_AddNullToObject(j, "email");
	cJSON_AddStringToObject(j, "created_at", "2011-01-25T18:44:36Z");
	return send_json(c, 200, j, true);
}

static enum MHD_Result get_emails(struct fake_github *fg, struct MHD_Connection *c)
{
	struct fg_user u;
	enum MHD_Result ret = MHD_NO;

	if (find_user(fg, c, &u, &ret) != 0)
		return ret;
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < u.n_emails; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "email", u.emails[i].email);
		cJSON_AddBoolToObject(e, "primary", u.emails[i].primary);
		cJSON_AddBoolToObject(e, "verified", u.emails[i].verified);
		if (u.emails[i].visibility[0])
			cJSON_AddStringToObject(e, "visibility", u.emails[i].visibility);
		else
			cJSON_AddNullToObject(e, "visibility");
		cJSON_AddItemToArray(a, e);
	}
	return send_json(c, 200, a, true);
}

/* ---- the server -------------------------------------------------------------------------- */

static enum MHD_Result route(struct fake_github *fg, struct MHD_Connection *c, const char *method,
			     const char *path, const struct fg_req *rq)
{
	struct fg_fault f = take_fault(fg, path);

	if (f.fault == FAKE_GITHUB_DELAY)
		delay(fg, f.delay_ms);
	else if (f.fault != FAKE_GITHUB_OK)
		return send_fault(c, &f, path);
	if (rq->body_too_big)
		return send_message(c, 413, "Payload Too Large");
	if (strcmp(method, "POST") == 0 && strcmp(path, "/login/oauth/access_token") == 0)
		return oauth_token(fg, c, rq);
	if (strcmp(method, "GET") == 0 && strcmp(path, "/user") == 0)
		return get_user(fg, c);
	if (strcmp(method, "GET") == 0 && strcmp(path, "/user/emails") == 0)
		return get_emails(fg, c);
	return send_message(c, 404, "Not Found");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct fake_github *fg = cls;
	struct fg_req *rq = *req_cls;
	char path[FAKE_GITHUB_URI_MAX];

	if (!rq)
		return MHD_NO; /* the URI callback ran out of memory */
	if (!rq->started) {
		rq->started = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		if (n > FAKE_GITHUB_BODY_MAX - rq->body_len) {
			rq->body_too_big = true;
			n = FAKE_GITHUB_BODY_MAX - rq->body_len;
		}
		memcpy(rq->body + rq->body_len, upload_data, n);
		rq->body_len += n;
		rq->body[rq->body_len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	record(fg, c, method, rq);
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(rq->uri, "?"), rq->uri);
	return route(fg, c, method, path, rq);
}

/* MHD's URI log callback: the raw request target, before MHD decodes it; its
 * result becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct fg_req *rq = calloc(1, sizeof(*rq));

	if (rq && uri) {
		size_t len = strlen(uri);
		rq->uri_cut = len >= sizeof(rq->uri);
		snprintf(rq->uri, sizeof(rq->uri), "%s", uri);
	}
	return rq;
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls,
		    enum MHD_RequestTerminationCode toe)
{
	free(*req_cls);
	*req_cls = NULL;
}

const char *fake_github_url(const struct fake_github *fg)
{
	return fg->url;
}

static int init_sync(struct fake_github *fg)
{
	pthread_condattr_t ca;
	int rc = -1;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&fg->stop_cv, &ca) == 0) {
		if (pthread_mutex_init(&fg->mu, NULL) == 0)
			rc = 0;
		else
			pthread_cond_destroy(&fg->stop_cv);
	}
	pthread_condattr_destroy(&ca);
	return rc;
}

const char *fake_github_start(struct fake_github **out)
{
	struct fake_github *fg = calloc(1, sizeof(*fg));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	*out = NULL;
	if (!fg || init_sync(fg) != 0) {
		fprintf(stderr, "fake_github: out of memory\n");
		free(fg);
		return NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0; /* the kernel picks a free port */
	fg->daemon = MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
		NULL, NULL, on_request, fg, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)FAKE_GITHUB_CONNECTIONS_MAX,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)FG_CONNECTION_TIMEOUT_S,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, fg, MHD_OPTION_NOTIFY_COMPLETED, on_done, fg,
		MHD_OPTION_END);
	info = fg->daemon ? MHD_get_daemon_info(fg->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info || info->port == 0) {
		fprintf(stderr, "fake_github: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		fake_github_stop(fg);
		return NULL;
	}
	snprintf(fg->url, sizeof(fg->url), "http://127.0.0.1:%u", (unsigned int)info->port);
	*out = fg;
	return fg->url;
}

void fake_github_stop(struct fake_github *fg)
{
	if (!fg)
		return;
	pthread_mutex_lock(&fg->mu);
	fg->stopping = true;
	pthread_cond_broadcast(&fg->stop_cv);
	pthread_mutex_unlock(&fg->mu);
	if (fg->daemon)
		MHD_stop_daemon(fg->daemon); /* joins the connection threads */
	pthread_cond_destroy(&fg->stop_cv);
	pthread_mutex_destroy(&fg->mu);
	free(fg);
}
