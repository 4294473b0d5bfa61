/*
 * A Google Gemini client over libcurl (the REST API, v1beta): JSON generation
 * constrained by a schema (models.generateContent with responseMimeType
 * "application/json" and a responseSchema) and text embeddings in batches
 * (models.batchEmbedContents). Blocking, retries and waits included: call
 * these from worker threads, never from an HTTP handler or an nng callback.
 * Each call uses its own curl handle, so threads may call concurrently.
 *
 * curl_global_init(CURL_GLOBAL_DEFAULT) is the caller's business: call it once
 * at start, before any thread uses these functions (and curl_global_cleanup
 * once at exit).
 *
 * Retries. Only 429, 408, 5xx and transport failures (timeout, refused or
 * broken connection) are retried, up to max_attempts HTTP attempts in all.
 * Between two attempts the client waits what the server named, the
 * Retry-After header (seconds or an HTTP date) or else, in a 429 body, the
 * google.rpc.RetryInfo retryDelay; a named wait longer than
 * TM_GEMINI_NAMED_WAIT_FACTOR * backoff_cap_ms ends the call at once instead.
 * Otherwise it waits a full-jitter backoff, random in
 * [0, min(backoff_cap_ms, backoff_base_ms * 2^(attempt-1))]. A 429 whose
 * google.rpc.QuotaFailure names a per-day quota (a quotaId containing
 * "PerDay") is never retried: it resets at midnight Pacific time, not in
 * seconds. A call therefore lasts at most about
 *   max_attempts * timeout_ms + (max_attempts - 1) * 4 * backoff_cap_ms.
 * The circuit breaker (tm/breaker.h) is the caller's: count RATE_LIMITED and
 * UNAVAILABLE as failures; BAD_REQUEST, BLOCKED and BAD_RESPONSE say nothing
 * about Gemini's health.
 *
 * Limits. Inputs are checked before anything is sent (a violation is
 * BAD_REQUEST, with no request made): the limits below, valid UTF-8 for every
 * text (control characters are allowed and escaped), a model name of
 * letters, digits, '.', '-' and '_', an API key of visible ASCII. Reply bodies
 * are capped at TM_GEMINI_BODY_MAX (more is BAD_RESPONSE), and every field
 * taken from a reply is type-checked: a malformed reply is BAD_RESPONSE, never
 * a crash.
 *
 * Security. Redirects are never followed; the only protocol allowed is https,
 * and http when base_url itself is http (tests). The API key is sent only in
 * the x-goog-api-key header: never in a URL, and never in `err` (a server
 * message that quotes it is masked). Nothing here logs.
 */
#ifndef TM_GEMINI_H
#define TM_GEMINI_H

#include <stddef.h>

#include "tm/buf.h"

#define TM_GEMINI_BASE_URL_DEFAULT "https://generativelanguage.googleapis.com/v1beta"
#define TM_GEMINI_TIMEOUT_MS_DEFAULT 30000    /* per attempt, when timeout_ms <= 0 */
#define TM_GEMINI_BACKOFF_BASE_MS_DEFAULT 500 /* when backoff_base_ms <= 0 */
#define TM_GEMINI_BACKOFF_CAP_MS_DEFAULT 8000 /* when backoff_cap_ms <= 0 */
#define TM_GEMINI_ATTEMPTS_MAX 10	      /* max_attempts is clamped to 1..this */
#define TM_GEMINI_NAMED_WAIT_FACTOR 4	      /* named waits up to this * cap are honoured */
#define TM_GEMINI_BODY_MAX (4 * 1024 * 1024)  /* bytes of a reply body */
#define TM_GEMINI_PROMPT_MAX 100000	      /* bytes of a prompt or system instruction */
#define TM_GEMINI_SCHEMA_MAX 32768	      /* bytes of a response schema (JSON text) */
#define TM_GEMINI_EMBED_BATCH_MAX 100	      /* texts of one tm_gemini_embed call */
#define TM_GEMINI_EMBED_TEXT_MAX 8000	      /* bytes of one text to embed (~2048 tokens) */
#define TM_GEMINI_EMBED_DIMS_MAX 3072	      /* dimensions (gemini-embedding-001's full size) */
#define TM_GEMINI_EMBED_VALUES_MAX 131072     /* n * dims of a call (reply <= 32 bytes a value) */
#define TM_GEMINI_API_KEY_MAX 256	      /* bytes of an API key, NUL excluded */
#define TM_GEMINI_MODEL_MAX 128		      /* bytes of a model name, NUL excluded */
#define TM_GEMINI_TASK_TYPE_MAX 64	      /* bytes of a task type, NUL excluded */

struct tm_gemini_config {
	const char *base_url;	 /* TM_GEMINI_BASE_URL; NULL or "" is the default; no query */
	const char *api_key;	 /* GEMINI_API_KEY: only ever sent as the x-goog-api-key header */
	const char *model;	 /* "gemini-2.0-flash" → <base>/models/<model>:generateContent */
	const char *embed_model; /* "text-embedding-004" → <base>/models/<m>:batchEmbedContents */
	int timeout_ms;		 /* per attempt, connection included; <= 0 is the default */
	int max_attempts;	 /* HTTP attempts in all, clamped to 1..TM_GEMINI_ATTEMPTS_MAX */
	int backoff_base_ms;	 /* full-jitter backoff: first ceiling; <= 0 is the default */
	int backoff_cap_ms;	 /* ... largest ceiling; also bounds named waits (see above) */
};

enum tm_gemini_rc {
	TM_GEMINI_OK = 0,
	TM_GEMINI_BAD_REQUEST,	/* 400/401/403/404 and other 4xx, or an input or configuration
				   refused before sending: our fault or the key's; never retried */
	TM_GEMINI_RATE_LIMITED, /* 429 still after the attempts, or at once for a per-day quota
				   (or a named wait over the bound) */
	TM_GEMINI_UNAVAILABLE,	/* 5xx, 408, timeout or transport failure still after the
				   attempts (or a named wait over the bound); out of memory */
	TM_GEMINI_BLOCKED,	/* promptFeedback.blockReason, no candidates, or a finishReason
				   of SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII or
				   IMAGE_SAFETY */
	TM_GEMINI_BAD_RESPONSE, /* a reply that is not the JSON shape of the method's answer, a
				   body over TM_GEMINI_BODY_MAX, a redirect or other status, or an
				   answer cut at the output token limit (finishReason MAX_TOKENS) */
};

/*
 * POST <base>/models/<model>:generateContent with
 *   {"systemInstruction": {"parts": [{"text": system_instruction}]},
 *    "contents": [{"role": "user", "parts": [{"text": prompt}]}],
 *    "generationConfig": {"responseMimeType": "application/json",
 *                         "responseSchema": <response_schema_json>, "temperature": 0.2}}
 * system_instruction may be NULL or "" (then left out); prompt is 1..
 * TM_GEMINI_PROMPT_MAX bytes; response_schema_json must be a JSON object (an
 * OpenAPI 3.0 schema subset, as Gemini takes it). On OK appends the text of
 * candidates[0].content.parts[].text, concatenated (thought parts skipped), to
 * `out`; otherwise `out` is left as it was. That text should be JSON per the
 * schema, but checking it is the caller's job. *attempts_used (may be NULL)
 * is the number of HTTP attempts made (0 when refused before sending); err
 * (may be NULL) says what went wrong.
 */
enum tm_gemini_rc tm_gemini_generate_json(const struct tm_gemini_config *c,
					  const char *system_instruction, const char *prompt,
					  const char *response_schema_json, struct tm_buf *out,
					  int *attempts_used, char *err, size_t errlen);

/*
 * Embeddings of n texts (1..TM_GEMINI_EMBED_BATCH_MAX, each 1..
 * TM_GEMINI_EMBED_TEXT_MAX bytes, n * dims <= TM_GEMINI_EMBED_VALUES_MAX: 100
 * texts of 768 dimensions, or 42 of 3072) in one call: POST
 * <base>/models/<embed_model>:batchEmbedContents with
 *   {"requests": [{"model": "models/<embed_model>", "content": {"parts": [{"text": t}]},
 *                  "taskType": task_type, "outputDimensionality": dims}, ...]}
 * → {"embeddings": [{"values": [...]}, ...]}. Writes n * dims floats, row i
 * for texts[i], each row L2-normalized (Gemini truncates vectors to dims
 * without re-normalizing them). task_type is "RETRIEVAL_DOCUMENT",
 * "RETRIEVAL_QUERY", "SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING"...
 * (upper-case letters and '_'), or NULL to leave it out (Gemini's default is
 * RETRIEVAL_QUERY). dims is 1..TM_GEMINI_EMBED_DIMS_MAX. A reply with another
 * count of embeddings, another dimension, a non-finite or all-zero vector is
 * BAD_RESPONSE. out is only complete on OK (zeroed on any failure after the inputs
 * passed their checks).
 * attempts_used and err as above.
 */
enum tm_gemini_rc tm_gemini_embed(const struct tm_gemini_config *c, const char *const *texts,
				  size_t n, const char *task_type, int dims, float *out,
				  int *attempts_used, char *err, size_t errlen);

/* "ok", "bad_request", "rate_limited", "unavailable", "blocked", "bad_response". */
const char *tm_gemini_rc_name(enum tm_gemini_rc rc);

#endif
