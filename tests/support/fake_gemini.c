/* Test support: a fake Google Gemini API over libmicrohttpd; see fake_gemini.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "fake_gemini.h"
#include "http.h"
#include "mhd_reply.h"

#define FGM_KEY_MAX 256		    /* bytes of the expected API key */
#define FGM_URL_MAX 64		    /* "http://127.0.0.1:PORT" */
#define FGM_NAME_MAX 128	    /* bytes of a model or method name in a path */
#define FGM_MESSAGE_MAX 512	    /* bytes of an error message */
#define FGM_CONNECTION_TIMEOUT_S 30 /* idle connections are closed after this */
#define FGM_BODY_CHUNK 65536	    /* first allocation of a request body */
#define FGM_DOCS "https://ai.google.dev/gemini-api/docs/rate-limits"

/* A model the fake knows, and what it serves. */
struct fgm_model {
	const char *name;
	bool generate; /* generateContent; else the two embedding methods */
	int dims;      /* full embedding size */
};

static const struct fgm_model models[] = {
	{FAKE_GEMINI_MODEL, true, 0},
	{"gemini-2.5-flash", true, 0},
	{FAKE_GEMINI_EMBED_MODEL, false, 768},
	{FAKE_GEMINI_EMBED_MODEL_LARGE, false, 3072},
};

static const char *const task_types[] = {
	"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY",   "RETRIEVAL_DOCUMENT",
	"SEMANTIC_SIMILARITY",	 "CLASSIFICATION",    "CLUSTERING",
	"QUESTION_ANSWERING",	 "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY",
};

/* The armed fault, copied out for one request. */
struct fgm_fault {
	enum fake_gemini_fault fault;
	int delay_ms;
	int retry_after_s;
	enum fake_gemini_hint hint;
};

struct fake_gemini {
	struct MHD_Daemon *daemon;
	char url[FGM_URL_MAX];
	pthread_mutex_t mu;
	pthread_cond_t stop_cv; /* CLOCK_MONOTONIC; broadcast when stopping */
	bool stopping;		/* delayed answers return at once */
	char key[FGM_KEY_MAX];
	char reply[FAKE_GEMINI_REPLY_MAX + 1]; /* the parts, one after the other */
	size_t part_len[FAKE_GEMINI_REPLY_PARTS_MAX];
	int n_parts;
	struct fgm_fault armed;
	int armed_left; /* requests the armed fault still applies to */
	struct fake_gemini_request records[FAKE_GEMINI_RECORDS_MAX];
	int n_kept;
	int n_seen;
	int n_key_in_uri;
};

/* One request being received (MHD's per-request context). */
struct fgm_req {
	char uri[FAKE_GEMINI_URI_MAX];
	bool uri_cut;
	bool started; /* the access handler has seen the headers */
	char *body;   /* NUL-terminated; NULL until data came */
	size_t body_len;
	size_t body_cap;
	bool body_too_big;
	bool failed; /* out of memory */
	bool key_in_uri;
};

/* What a handler needs of one request. */
struct fgm_call {
	const struct fgm_model *model;
	const cJSON *json; /* the parsed body */
	struct fgm_fault fault;
};

/* ---- test controls ----------------------------------------------------------------------- */

int fake_gemini_set_api_key(struct fake_gemini *fg, const char *key)
{
	size_t len = key ? strlen(key) : 0;

	if (len == 0 || len >= FGM_KEY_MAX)
		return -1;
	pthread_mutex_lock(&fg->mu);
	memcpy(fg->key, key, len + 1);
	pthread_mutex_unlock(&fg->mu);
	return 0;
}

int fake_gemini_set_reply(struct fake_gemini *fg, const char *const *parts, int n)
{
	size_t total = 0;

	if (n < 1 || n > FAKE_GEMINI_REPLY_PARTS_MAX)
		return -1;
	for (int i = 0; i < n; i++) {
		if (!parts[i] || strlen(parts[i]) > FAKE_GEMINI_REPLY_MAX - total)
			return -1;
		total += strlen(parts[i]);
	}
	pthread_mutex_lock(&fg->mu);
	total = 0;
	for (int i = 0; i < n; i++) {
		fg->part_len[i] = strlen(parts[i]);
		memcpy(fg->reply + total, parts[i], fg->part_len[i]);
		total += fg->part_len[i];
	}
	fg->reply[total] = '\0';
	fg->n_parts = n;
	pthread_mutex_unlock(&fg->mu);
	return 0;
}

int fake_gemini_set_reply_text(struct fake_gemini *fg, const char *text)
{
	return fake_gemini_set_reply(fg, &text, 1);
}

void fake_gemini_fail(struct fake_gemini *fg, const struct fake_gemini_fault_spec *spec)
{
	struct fgm_fault f;

	memset(&f, 0, sizeof(f));
	f.fault = spec->fault;
	f.delay_ms = spec->delay_ms > 0 ? spec->delay_ms : FAKE_GEMINI_DELAY_MS;
	f.retry_after_s = spec->retry_after_s > 0 ? spec->retry_after_s : FAKE_GEMINI_RETRY_AFTER_S;
	f.hint = spec->hint;
	pthread_mutex_lock(&fg->mu);
	fg->armed = f;
	fg->armed_left = spec->count > 0 ? spec->count : 0;
	pthread_mutex_unlock(&fg->mu);
}

void fake_gemini_fail_next(struct fake_gemini *fg, int n, enum fake_gemini_fault fault)
{
	struct fake_gemini_fault_spec spec = {.fault = fault, .count = n};

	fake_gemini_fail(fg, &spec);
}

/* The fault for one request: the armed one while it lasts, else OK. */
static struct fgm_fault take_fault(struct fake_gemini *fg)
{
	struct fgm_fault f;

	memset(&f, 0, sizeof(f));
	pthread_mutex_lock(&fg->mu);
	if (fg->armed_left > 0) {
		f = fg->armed;
		fg->armed_left--;
	}
	pthread_mutex_unlock(&fg->mu);
	return f;
}

/* ---- records ----------------------------------------------------------------------------- */

int fake_gemini_request_count(struct fake_gemini *fg)
{
	pthread_mutex_lock(&fg->mu);
	int n = fg->n_seen;
	pthread_mutex_unlock(&fg->mu);
	return n;
}

int fake_gemini_keys_in_uri(struct fake_gemini *fg)
{
	pthread_mutex_lock(&fg->mu);
	int n = fg->n_key_in_uri;
	pthread_mutex_unlock(&fg->mu);
	return n;
}

int fake_gemini_request(struct fake_gemini *fg, int i, struct fake_gemini_request *out)
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

int fake_gemini_header(const struct fake_gemini_request *r, const char *name, char *out,
		       size_t outlen)
{
	return http_header_find(r->headers, name, out, outlen);
}

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct fake_gemini_request *r = cls;
	(void)kind;
	if (mhd_header_line(r->headers, sizeof(r->headers), key, value))
		return MHD_YES;
	r->truncated = true;
	return MHD_NO;
}

/* Keeps a finished request (if there is room) and counts it. */
static void record(struct fake_gemini *fg, struct MHD_Connection *c, const char *method,
		   const struct fgm_req *rq)
{
	pthread_mutex_lock(&fg->mu);
	fg->n_seen++;
	if (rq->key_in_uri)
		fg->n_key_in_uri++;
	if (fg->n_kept < FAKE_GEMINI_RECORDS_MAX) {
		struct fake_gemini_request *r = &fg->records[fg->n_kept++];
		size_t keep = rq->body_len < FAKE_GEMINI_RECORD_BODY_MAX ?
				      rq->body_len :
				      FAKE_GEMINI_RECORD_BODY_MAX;
		memset(r, 0, sizeof(*r));
		snprintf(r->method, sizeof(r->method), "%s", method);
		memcpy(r->uri, rq->uri, sizeof(r->uri));
		r->truncated = rq->uri_cut;
		r->key_in_uri = rq->key_in_uri;
		MHD_get_connection_values(c, MHD_HEADER_KIND, keep_header, r);
		if (keep)
			memcpy(r->body, rq->body, keep);
		r->body[keep] = '\0';
		r->body_len = rq->body_len;
		r->body_cut = keep < rq->body_len;
	}
	pthread_mutex_unlock(&fg->mu);
}

/* ---- replies ----------------------------------------------------------------------------- */

/* Sends j (deleted here) as the JSON body, with an optional Retry-After. */
static enum MHD_Result send_json_wait(struct MHD_Connection *c, unsigned int status, cJSON *j,
				      int retry_after_s)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	struct MHD_Response *r = s ? mhd_text(s, "application/json; charset=UTF-8") : NULL;
	char v[32];

	if (r && retry_after_s > 0) {
		snprintf(v, sizeof(v), "%d", retry_after_s);
		MHD_add_response_header(r, "Retry-After", v);
	}
	cJSON_free(s);
	cJSON_Delete(j);
	return mhd_send_reply(c, status, r);
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned int status, cJSON *j)
{
	return send_json_wait(c, status, j, 0);
}

/* {"error": {"code", "message", "status"}}; *error (if not NULL) gets the inner object. */
static cJSON *error_body(unsigned int code, const char *status, const char *message, cJSON **error)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(j, "error");

	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddStringToObject(e, "status", status);
	if (error)
		*error = e;
	return j;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned int code, const char *status,
				  const char *message)
{
	return send_json(c, code, error_body(code, status, message, NULL));
}

/* A 429 RESOURCE_EXHAUSTED as Gemini sends it: QuotaFailure, Help and RetryInfo details. */
static enum MHD_Result send_quota(struct MHD_Connection *c, const struct fgm_fault *f,
				  const char *model, bool gen)
{
	bool day = f->fault == FAKE_GEMINI_429_PER_DAY;
	char id[160], metric[160], wait[32];
	cJSON *e, *j = error_body(
			  429, "RESOURCE_EXHAUSTED",
			  "You exceeded your current quota, please check your plan and "
			  "billing details. For more information on this error, head to: " FGM_DOCS,
			  &e);
	cJSON *details = cJSON_AddArrayToObject(e, "details");
	cJSON *qf = cJSON_CreateObject(), *v = cJSON_CreateObject(), *help = cJSON_CreateObject();
	cJSON *dim = cJSON_AddObjectToObject(v, "quotaDimensions");
	cJSON *link = cJSON_CreateObject();

	snprintf(id, sizeof(id), "%sRequestsPer%sPerProjectPerModel-FreeTier",
		 gen ? "Generate" : "EmbedContent", day ? "Day" : "Minute");
	snprintf(metric, sizeof(metric), "generativelanguage.googleapis.com/%s_free_tier_requests",
		 gen ? "generate_content" : "embed_content");
	cJSON_AddStringToObject(qf, "@type", "type.googleapis.com/google.rpc.QuotaFailure");
	cJSON_AddStringToObject(v, "quotaMetric", metric);
	cJSON_AddStringToObject(v, "quotaId", id);
	cJSON_AddStringToObject(dim, "location", "global");
	cJSON_AddStringToObject(dim, "model", model);
	cJSON_AddStringToObject(v, "quotaValue", day ? "200" : "15");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(qf, "violations"), v);
	cJSON_AddItemToArray(details, qf);
	cJSON_AddStringToObject(help, "@type", "type.googleapis.com/google.rpc.Help");
	cJSON_AddStringToObject(link, "description", "Learn more about Gemini API quotas");
	cJSON_AddStringToObject(link, "url", FGM_DOCS);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(help, "links"), link);
	cJSON_AddItemToArray(details, help);
	if (f->hint == FAKE_GEMINI_HINT_BOTH || f->hint == FAKE_GEMINI_HINT_BODY) {
		cJSON *ri = cJSON_CreateObject();
		snprintf(wait, sizeof(wait), "%ds", f->retry_after_s);
		cJSON_AddStringToObject(ri, "@type", "type.googleapis.com/google.rpc.RetryInfo");
		cJSON_AddStringToObject(ri, "retryDelay", wait);
		cJSON_AddItemToArray(details, ri);
	}
	return send_json_wait(c, 429, j,
			      f->hint == FAKE_GEMINI_HINT_BOTH ||
					      f->hint == FAKE_GEMINI_HINT_HEADER ?
				      f->retry_after_s :
				      0);
}

/* A body of FAKE_GEMINI_HUGE_BYTES: one long JSON string in an array. */
static enum MHD_Result send_huge(struct MHD_Connection *c)
{
	char *b = malloc(FAKE_GEMINI_HUGE_BYTES);

	if (!b)
		return MHD_NO;
	memset(b, 'a', FAKE_GEMINI_HUGE_BYTES);
	memcpy(b, "[\"", 2);
	memcpy(b + FAKE_GEMINI_HUGE_BYTES - 2, "\"]", 2);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(FAKE_GEMINI_HUGE_BYTES, b, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(b);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json; charset=UTF-8");
	return mhd_send_reply(c, 200, r);
}

/* JSON of the wrong types for what the method should answer. */
static const char *wrong_shape(const char *method)
{
	if (strcmp(method, "batchEmbedContents") == 0)
		return "{\"embeddings\":[{\"values\":\"0.1,0.2,0.3\"}]}";
	if (strcmp(method, "embedContent") == 0)
		return "{\"embedding\":[0.1,0.2,0.3]}";
	return "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":42}]},"
	       "\"finishReason\":\"STOP\",\"index\":0}]}";
}

/* usageMetadata of a reply to prompt_bytes of prompt and answer_bytes of answer. */
static void add_usage(cJSON *j, size_t prompt_bytes, size_t answer_bytes, const char *model)
{
	cJSON *u = cJSON_AddObjectToObject(j, "usageMetadata");
	double p = (double)(prompt_bytes / 4 + 1), a = (double)(answer_bytes / 4);

	cJSON_AddNumberToObject(u, "promptTokenCount", p);
	if (a > 0)
		cJSON_AddNumberToObject(u, "candidatesTokenCount", a);
	cJSON_AddNumberToObject(u, "totalTokenCount", p + a);
	cJSON_AddStringToObject(j, "modelVersion", model);
}

/* 200 with a blocked prompt, or a candidate withheld for safety. */
static enum MHD_Result send_blocked(struct MHD_Connection *c, bool prompt, const char *model)
{
	cJSON *j = cJSON_CreateObject(), *rating = cJSON_CreateObject();

	if (prompt) {
		cJSON *pf = cJSON_AddObjectToObject(j, "promptFeedback");
		cJSON_AddStringToObject(pf, "blockReason", "SAFETY");
		cJSON_AddStringToObject(rating, "category", "HARM_CATEGORY_DANGEROUS_CONTENT");
		cJSON_AddStringToObject(rating, "probability", "HIGH");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(pf, "safetyRatings"), rating);
	} else {
		cJSON *cand = cJSON_CreateObject();
		cJSON_AddStringToObject(cand, "finishReason", "SAFETY");
		cJSON_AddNumberToObject(cand, "index", 0);
		cJSON_AddStringToObject(rating, "category", "HARM_CATEGORY_HARASSMENT");
		cJSON_AddStringToObject(rating, "probability", "HIGH");
		cJSON_AddBoolToObject(rating, "blocked", true);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(cand, "safetyRatings"), rating);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "candidates"), cand);
	}
	add_usage(j, 40, 0, model);
	return send_json(c, 200, j);
}

/* Faults answered before the request is looked at; MHD_YES in *handled if it was one. */
static enum MHD_Result send_fault(struct fake_gemini *fg, struct MHD_Connection *c,
				  const struct fgm_fault *f, const char *model, const char *method,
				  bool *handled)
{
	char location[FGM_URL_MAX + 16];
	struct MHD_Response *r;
	bool gen = strcmp(method, "generateContent") == 0;

	*handled = true;
	switch (f->fault) {
	case FAKE_GEMINI_429:
	case FAKE_GEMINI_429_PER_DAY:
		return send_quota(c, f, model, gen);
	case FAKE_GEMINI_400:
		return send_error(c, 400, "INVALID_ARGUMENT",
				  "Request contains an invalid argument.");
	case FAKE_GEMINI_500:
		return send_error(c, 500, "INTERNAL",
				  "An internal error has occurred. Please retry or report in "
				  "https://developers.generativeai.google/guide/troubleshooting");
	case FAKE_GEMINI_503:
		return send_error(c, 503, "UNAVAILABLE",
				  "The model is overloaded. Please try again later.");
	case FAKE_GEMINI_BAD_JSON:
		return mhd_send_reply(
			c, 200,
			mhd_text("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
				 "\"{\\\"summ",
				 "application/json; charset=UTF-8"));
	case FAKE_GEMINI_WRONG_SHAPE:
		return mhd_send_reply(
			c, 200, mhd_text(wrong_shape(method), "application/json; charset=UTF-8"));
	case FAKE_GEMINI_BLOCKED_PROMPT:
		return send_blocked(c, true, model);
	case FAKE_GEMINI_FINISH_SAFETY:
		return send_blocked(c, false, model);
	case FAKE_GEMINI_REDIRECT:
		snprintf(location, sizeof(location), "%s/elsewhere", fg->url);
		r = mhd_text("", "text/html; charset=UTF-8");
		if (r)
			MHD_add_response_header(r, "Location", location);
		return mhd_send_reply(c, 302, r);
	case FAKE_GEMINI_HUGE_BODY:
		return send_huge(c);
	case FAKE_GEMINI_OK:
	case FAKE_GEMINI_DELAY:
	case FAKE_GEMINI_FINISH_MAX_TOKENS:
	case FAKE_GEMINI_WRONG_COUNT:
	case FAKE_GEMINI_WRONG_DIMS:
		break;
	}
	*handled = false;
	return MHD_YES;
}

/* Waits ms, or less if the fake is stopping. */
static void delay(struct fake_gemini *fg, int ms)
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

/* ---- request checks ---------------------------------------------------------------------- */

/* A Content {"role"?, "parts": [{"text"}, ...]}: the length of its texts into *bytes.
 * Returns NULL, or what is wrong with it. */
static const char *check_content(const cJSON *content, size_t *bytes)
{
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(content, "role");
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(content, "parts");
	const cJSON *p;

	if (!cJSON_IsObject(content))
		return "content must be an object";
	if (role && (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") != 0 &&
					       strcmp(role->valuestring, "model") != 0)))
		return "Please use a valid role: user, model.";
	if (!cJSON_IsArray(parts) || cJSON_GetArraySize(parts) == 0)
		return "contents.parts must not be empty.";
	cJSON_ArrayForEach(p, parts)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
		if (!cJSON_IsObject(p) || !cJSON_IsString(t))
			return "Invalid value at 'parts': each part needs a string \"text\" (fake)";
		*bytes += strlen(t->valuestring);
	}
	return NULL;
}

/* Is s one of the MIME types responseMimeType takes? */
static bool mime_ok(const char *s)
{
	return strcmp(s, "text/plain") == 0 || strcmp(s, "application/json") == 0 ||
	       strcmp(s, "text/x.enum") == 0;
}

/* A GenerateContentRequest: NULL, or what is wrong; prompt bytes into *bytes. */
static const char *check_generate(const cJSON *j, size_t *bytes)
{
	const cJSON *contents = cJSON_GetObjectItemCaseSensitive(j, "contents");
	const cJSON *si = cJSON_GetObjectItemCaseSensitive(j, "systemInstruction");
	const cJSON *gc = cJSON_GetObjectItemCaseSensitive(j, "generationConfig");
	const cJSON *mime = cJSON_GetObjectItemCaseSensitive(gc, "responseMimeType");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(gc, "responseSchema");
	const cJSON *temp = cJSON_GetObjectItemCaseSensitive(gc, "temperature");
	const cJSON *x;
	const char *why;

	if (!cJSON_IsArray(contents) || cJSON_GetArraySize(contents) == 0)
		return "* GenerateContentRequest.contents: contents is not specified";
	cJSON_ArrayForEach(x, contents)
	{
		if ((why = check_content(x, bytes)))
			return why;
	}
	if (si && (why = check_content(si, bytes)))
		return why;
	if (gc && !cJSON_IsObject(gc))
		return "generationConfig must be an object";
	if (mime && (!cJSON_IsString(mime) || !mime_ok(mime->valuestring)))
		return "* GenerateContentRequest.generation_config.response_mime_type: allowed "
		       "mimetypes are `text/plain`, `application/json` and `text/x.enum`.";
	if (schema &&
	    (!cJSON_IsObject(schema) || !mime || strcmp(mime->valuestring, "text/plain") == 0))
		return "* GenerateContentRequest.generation_config.response_schema: a schema "
		       "object needs response_mime_type application/json or text/x.enum.";
	if (temp && (!cJSON_IsNumber(temp) || temp->valuedouble < 0 || temp->valuedouble > 2))
		return "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]";
	return NULL;
}

/* An EmbedContentRequest for model m (the "model" field required in a batch):
 * NULL, or what is wrong. Its text (parts concatenated) into *text (malloc'd)
 * and its dimensions into *dims. */
static const char *check_embed(const cJSON *r, const struct fgm_model *m, bool batch, char **text,
			       int *dims)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(r, "model");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(r, "content");
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(content, "parts");
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(r, "taskType");
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(r, "title");
	const cJSON *od = cJSON_GetObjectItemCaseSensitive(r, "outputDimensionality");
	const cJSON *p;
	size_t bytes = 0, used = 0;
	const char *why;
	bool task_ok = !task;

	*text = NULL;
	if (!cJSON_IsObject(r))
		return "each request must be an object";
	if (batch || model) {
		if (!cJSON_IsString(model) || strncmp(model->valuestring, "models/", 7) != 0 ||
		    strcmp(model->valuestring + 7, m->name) != 0)
			return "Model names in the requests must match the model in the URL "
			       "(models/<name>).";
	}
	if ((why = check_content(content, &bytes)))
		return why;
	for (size_t i = 0;
	     task && cJSON_IsString(task) && i < sizeof(task_types) / sizeof(*task_types); i++)
		task_ok |= strcmp(task->valuestring, task_types[i]) == 0;
	if (!task_ok)
		return "Invalid value at 'task_type': not a TaskType";
	if (title && (!cJSON_IsString(title) || !task ||
		      strcmp(task->valuestring, "RETRIEVAL_DOCUMENT") != 0))
		return "title is only allowed with task type RETRIEVAL_DOCUMENT";
	*dims = m->dims;
	if (od) {
		if (!cJSON_IsNumber(od) || od->valuedouble != floor(od->valuedouble) ||
		    od->valuedouble < 1 || od->valuedouble > m->dims)
			return "outputDimensionality must be an integer from 1 to the model's size";
		*dims = (int)od->valuedouble;
	}
	if (!(*text = malloc(bytes + 1)))
		return "out of memory (fake)";
	cJSON_ArrayForEach(p, parts)
	{
		const char *t = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
		memcpy(*text + used, t, strlen(t));
		used += strlen(t);
	}
	(*text)[used] = '\0';
	return NULL;
}

/* ---- endpoints --------------------------------------------------------------------------- */

static enum MHD_Result generate(struct fake_gemini *fg, struct MHD_Connection *c,
				const struct fgm_call *call)
{
	char answer[FAKE_GEMINI_REPLY_MAX + 1], version[FGM_NAME_MAX + 8], id[32];
	size_t part_len[FAKE_GEMINI_REPLY_PARTS_MAX], prompt = 0, off = 0;
	int n_parts;
	const char *why = check_generate(call->json, &prompt);
	static unsigned int responses;

	if (why)
		return send_error(c, 400, "INVALID_ARGUMENT", why);
	pthread_mutex_lock(&fg->mu);
	memcpy(answer, fg->reply, sizeof(answer));
	memcpy(part_len, fg->part_len, sizeof(part_len));
	n_parts = fg->n_parts;
	snprintf(id, sizeof(id), "fake-%08x", ++responses);
	pthread_mutex_unlock(&fg->mu);
	bool cut = call->fault.fault == FAKE_GEMINI_FINISH_MAX_TOKENS;
	cJSON *j = cJSON_CreateObject(), *cand = cJSON_CreateObject();
	cJSON *content = cJSON_AddObjectToObject(cand, "content");
	cJSON *parts = cJSON_AddArrayToObject(content, "parts");
	for (int i = 0; i < n_parts; i++) {
		size_t len = cut ? part_len[i] / 2 : part_len[i];
		char save = answer[off + len];
		answer[off + len] = '\0';
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "text", answer + off);
		cJSON_AddItemToArray(parts, p);
		answer[off + len] = save;
		off += part_len[i];
		if (cut)
			break;
	}
	cJSON_AddStringToObject(content, "role", "model");
	cJSON_AddStringToObject(cand, "finishReason", cut ? "MAX_TOKENS" : "STOP");
	cJSON_AddNumberToObject(cand, "index", 0);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "candidates"), cand);
	snprintf(version, sizeof(version), "%s-001", call->model->name);
	add_usage(j, prompt, off, version);
	cJSON_AddStringToObject(j, "responseId", id);
	return send_json(c, 200, j);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The embedding of text: the first dims values of a unit vector of full values drawn
 * from the text's FNV-1a hash (extra values after dims as WRONG_DIMS asks). */
static cJSON *embedding(const char *text, int full, int dims, int extra)
{
	uint64_t seed = 0xcbf29ce484222325ULL, s;
	double sum = 0, norm;
	cJSON *a = cJSON_CreateArray();

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		seed = (seed ^ *p) * 0x100000001b3ULL;
	s = seed;
	for (int i = 0; i < full; i++) {
		double v = (double)(splitmix64(&s) >> 11) / 9007199254740992.0 * 2 - 1;
		sum += v * v;
	}
	norm = sqrt(sum);
	s = seed;
	for (int i = 0; a && i < dims + extra; i++) {
		double v = i < full ? ((double)(splitmix64(&s) >> 11) / 9007199254740992.0 * 2 -
				       1) / norm :
				      0.0;
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v));
	}
	return a;
}

static enum MHD_Result embed_one(struct MHD_Connection *c, const struct fgm_call *call)
{
	char *text = NULL;
	int dims = 0;
	const char *why = check_embed(call->json, call->model, false, &text, &dims);

	if (why)
		return send_error(c, 400, "INVALID_ARGUMENT", why);
	cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "embedding");
	cJSON_AddItemToObject(e, "values",
			      embedding(text, call->model->dims, dims,
					call->fault.fault == FAKE_GEMINI_WRONG_DIMS ? 1 : 0));
	free(text);
	return send_json(c, 200, j);
}

static enum MHD_Result embed_batch(struct MHD_Connection *c, const struct fgm_call *call)
{
	const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(call->json, "requests");
	const cJSON *r;
	int n = cJSON_GetArraySize(reqs), i = 0;
	char msg[FGM_MESSAGE_MAX];

	if (!cJSON_IsArray(reqs) || n == 0)
		return send_error(
			c, 400, "INVALID_ARGUMENT",
			"* BatchEmbedContentsRequest.requests: requests is not specified");
	if (n > FAKE_GEMINI_BATCH_MAX) {
		snprintf(msg, sizeof(msg),
			 "* BatchEmbedContentsRequest.requests: at most %d requests can be in one "
			 "batch",
			 FAKE_GEMINI_BATCH_MAX);
		return send_error(c, 400, "INVALID_ARGUMENT", msg);
	}
	cJSON *j = cJSON_CreateObject(), *embs = cJSON_AddArrayToObject(j, "embeddings");
	cJSON_ArrayForEach(r, reqs)
	{
		char *text = NULL;
		int dims = 0;
		const char *why = check_embed(r, call->model, true, &text, &dims);
		if (why) {
			cJSON_Delete(j);
			snprintf(msg, sizeof(msg), "* BatchEmbedContentsRequest.requests[%d]: %s",
				 i, why);
			return send_error(c, 400, "INVALID_ARGUMENT", msg);
		}
		if (!(call->fault.fault == FAKE_GEMINI_WRONG_COUNT && i == n - 1)) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddItemToObject(
				e, "values",
				embedding(text, call->model->dims, dims,
					  call->fault.fault == FAKE_GEMINI_WRONG_DIMS ? 1 : 0));
			cJSON_AddItemToArray(embs, e);
		}
		free(text);
		i++;
	}
	return send_json(c, 200, j);
}

/* ---- the server -------------------------------------------------------------------------- */

/* Splits "/models/<model>:<method>" (after an optional "/v1beta"). Returns 0 or -1. */
static int split_path(const char *path, char *model, char *method)
{
	const char *colon;

	if (strncmp(path, "/v1beta/", 8) == 0)
		path += 7;
	if (strncmp(path, "/models/", 8) != 0)
		return -1;
	path += 8;
	colon = strchr(path, ':');
	if (!colon || colon == path || (size_t)(colon - path) >= FGM_NAME_MAX ||
	    strlen(colon + 1) >= FGM_NAME_MAX || memchr(path, '/', (size_t)(colon - path)))
		return -1;
	snprintf(model, FGM_NAME_MAX, "%.*s", (int)(colon - path), path);
	snprintf(method, FGM_NAME_MAX, "%s", colon + 1);
	return 0;
}

static const struct fgm_model *find_model(const char *name)
{
	for (size_t i = 0; i < sizeof(models) / sizeof(*models); i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	return NULL;
}

/* 403 unless the x-goog-api-key header holds the expected key; MHD_YES in *ok if it does. */
static enum MHD_Result check_key(struct fake_gemini *fg, struct MHD_Connection *c, bool *ok)
{
	const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-goog-api-key");

	pthread_mutex_lock(&fg->mu);
	*ok = k && strcmp(k, fg->key) == 0;
	pthread_mutex_unlock(&fg->mu);
	if (*ok)
		return MHD_YES;
	if (!k)
		return send_error(c, 403, "PERMISSION_DENIED",
				  "Method doesn't allow unregistered callers (callers without "
				  "established identity). Please use API Key or other form of API "
				  "consumer identity to call this API.");
	return send_error(c, 403, "PERMISSION_DENIED",
			  "API key not valid. Please pass a valid API key.");
}

static enum MHD_Result dispatch(struct fake_gemini *fg, struct MHD_Connection *c,
				const char *method, struct fgm_call *call)
{
	char msg[FGM_MESSAGE_MAX];
	bool generate_method = strcmp(method, "generateContent") == 0;

	if (!call->model || call->model->generate != generate_method) {
		snprintf(msg, sizeof(msg),
			 "models/%s is not found for API version v1beta, or is not supported for "
			 "%s. Call ListModels to see the list of available models and their "
			 "supported methods.",
			 call->model ? call->model->name : "(unknown)", method);
		return send_error(c, 404, "NOT_FOUND", msg);
	}
	if (generate_method)
		return generate(fg, c, call);
	if (strcmp(method, "embedContent") == 0)
		return embed_one(c, call);
	return embed_batch(c, call);
}

static enum MHD_Result route(struct fake_gemini *fg, struct MHD_Connection *c, const char *verb,
			     const char *path, const struct fgm_req *rq)
{
	char model[FGM_NAME_MAX], method[FGM_NAME_MAX];
	struct fgm_call call = {0};
	enum MHD_Result ret;
	bool ok, handled;

	if (rq->key_in_uri)
		return send_error(c, 400, "INVALID_ARGUMENT",
				  "fake_gemini: an API key travelled in the URL; send it in the "
				  "x-goog-api-key header");
	if (strcmp(verb, "POST") != 0 || split_path(path, model, method) != 0 ||
	    (strcmp(method, "generateContent") != 0 && strcmp(method, "embedContent") != 0 &&
	     strcmp(method, "batchEmbedContents") != 0))
		return send_error(c, 404, "NOT_FOUND", "The requested URL was not found.");
	ret = check_key(fg, c, &ok);
	if (!ok)
		return ret;
	call.fault = take_fault(fg);
	if (call.fault.fault == FAKE_GEMINI_DELAY)
		delay(fg, call.fault.delay_ms);
	ret = send_fault(fg, c, &call.fault, model, method, &handled);
	if (handled)
		return ret;
	if (rq->failed)
		return MHD_NO;
	if (rq->body_too_big)
		return send_error(c, 413, "INVALID_ARGUMENT",
				  "Request payload size exceeds the limit.");
	cJSON *j = rq->body_len ? cJSON_ParseWithLength(rq->body, rq->body_len) : NULL;
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return send_error(c, 400, "INVALID_ARGUMENT",
				  "Invalid JSON payload received. Unexpected token.");
	}
	call.json = j;
	call.model = find_model(model);
	ret = dispatch(fg, c, method, &call);
	cJSON_Delete(j);
	return ret;
}

/* Appends an upload chunk to the request body (bounded by FAKE_GEMINI_BODY_MAX). */
static void take_chunk(struct fgm_req *rq, const char *data, size_t n)
{
	if (rq->failed || rq->body_too_big)
		return;
	if (n > FAKE_GEMINI_BODY_MAX - rq->body_len) {
		rq->body_too_big = true;
		return;
	}
	if (rq->body_len + n + 1 > rq->body_cap) {
		size_t cap = rq->body_cap ? rq->body_cap : FGM_BODY_CHUNK;
		while (cap < rq->body_len + n + 1)
			cap *= 2;
		char *b = realloc(rq->body, cap);
		if (!b) {
			rq->failed = true;
			return;
		}
		rq->body = b;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct fake_gemini *fg = cls;
	struct fgm_req *rq = *req_cls;
	char path[FAKE_GEMINI_URI_MAX];

	if (!rq)
		return MHD_NO; /* the URI callback ran out of memory */
	if (!rq->started) {
		rq->started = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		take_chunk(rq, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	record(fg, c, method, rq);
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(rq->uri, "?"), rq->uri);
	return route(fg, c, method, path, rq);
}

/* True if the raw URI carries an API key: a "key" query parameter or the key itself. */
static bool uri_has_key(struct fake_gemini *fg, const char *uri)
{
	const char *q = strchr(uri, '?');
	bool yes = false;

	for (const char *p = q; p && !yes; p = strchr(p + 1, '&'))
		yes = strncmp(p + 1, "key=", 4) == 0;
	pthread_mutex_lock(&fg->mu);
	yes = yes || (fg->key[0] && strstr(uri, fg->key));
	pthread_mutex_unlock(&fg->mu);
	return yes;
}

/* MHD's URI log callback: the raw request target, before MHD decodes it; its
 * result becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct fgm_req *rq = calloc(1, sizeof(*rq));

	if (rq && uri) {
		size_t len = strlen(uri);
		rq->uri_cut = len >= sizeof(rq->uri);
		snprintf(rq->uri, sizeof(rq->uri), "%s", uri);
		rq->key_in_uri = uri_has_key(cls, uri);
	}
	return rq;
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct fgm_req *rq = *req_cls;

	if (rq)
		free(rq->body);
	free(rq);
	*req_cls = NULL;
}

const char *fake_gemini_url(const struct fake_gemini *fg)
{
	return fg->url;
}

static int init_sync(struct fake_gemini *fg)
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

const char *fake_gemini_start(struct fake_gemini **out)
{
	struct fake_gemini *fg = calloc(1, sizeof(*fg));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	*out = NULL;
	if (!fg || init_sync(fg) != 0) {
		fprintf(stderr, "fake_gemini: out of memory\n");
		free(fg);
		return NULL;
	}
	snprintf(fg->key, sizeof(fg->key), "%s", FAKE_GEMINI_API_KEY);
	fg->part_len[0] = strlen(FAKE_GEMINI_REPLY_DEFAULT);
	memcpy(fg->reply, FAKE_GEMINI_REPLY_DEFAULT, fg->part_len[0] + 1);
	fg->n_parts = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0; /* the kernel picks a free port */
	fg->daemon = MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
		NULL, NULL, on_request, fg, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)FAKE_GEMINI_CONNECTIONS_MAX,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)FGM_CONNECTION_TIMEOUT_S,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, fg, MHD_OPTION_NOTIFY_COMPLETED, on_done, fg,
		MHD_OPTION_END);
	info = fg->daemon ? MHD_get_daemon_info(fg->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info || info->port == 0) {
		fprintf(stderr, "fake_gemini: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		fake_gemini_stop(fg);
		return NULL;
	}
	snprintf(fg->url, sizeof(fg->url), "http://127.0.0.1:%u", (unsigned int)info->port);
	*out = fg;
	return fg->url;
}

void fake_gemini_stop(struct fake_gemini *fg)
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
