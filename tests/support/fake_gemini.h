/*
 * Test support: a fake Google Gemini API on a free 127.0.0.1 port that speaks
 * the REST wire format (v1beta), errors included. Its base URL stands for
 * https://generativelanguage.googleapis.com/v1beta (a "/v1beta" prefix of the
 * path is accepted too):
 *   POST /models/{model}:generateContent     → {"candidates": [{"content": {"role": "model",
 *        "parts": [{"text": ...}, ...]}, "finishReason": "STOP", "index": 0}],
 *        "usageMetadata": {...}, "modelVersion", "responseId"} with the configured text
 *   POST /models/{model}:embedContent        → {"embedding": {"values": [...]}}
 *   POST /models/{model}:batchEmbedContents  → {"embeddings": [{"values": [...]}, ...]}
 * Embeddings are deterministic: a unit vector of the model's full size drawn
 * from a hash of the text, cut to outputDimensionality (so, as with Gemini, a
 * cut vector is not unit length). Same text, same vector, whatever the call.
 *
 * Requests are checked as Gemini checks them: the x-goog-api-key header must
 * hold the configured key (else 403 PERMISSION_DENIED); an API key in the URL
 * (a "key" query parameter, or the key anywhere in the URI) is counted and
 * answered 400; unknown models are 404 NOT_FOUND; bodies that are not JSON or
 * not the method's request shape are 400 INVALID_ARGUMENT. Errors are
 * {"error": {"code", "message", "status", "details"?}}.
 *
 * Faults on demand for the next N requests that pass the key check, and a
 * record of every request (method, raw URI, headers, body) for the test to
 * check what the client sent. libmicrohttpd with a thread per connection, so a
 * delayed answer holds up no other request; all state sits behind one mutex,
 * so tests read records from their own thread. Memory is bounded: a fixed
 * number of kept records, each of fixed size.
 */
#ifndef TM_TEST_FAKE_GEMINI_H
#define TM_TEST_FAKE_GEMINI_H

#include <stdbool.h>
#include <stddef.h>

#define FAKE_GEMINI_API_KEY "AIzaSyFake-gemini-key-0123456789abcdefg"
#define FAKE_GEMINI_MODEL "gemini-2.0-flash"		     /* generateContent */
#define FAKE_GEMINI_EMBED_MODEL "text-embedding-004"	     /* 768 dimensions */
#define FAKE_GEMINI_EMBED_MODEL_LARGE "gemini-embedding-001" /* 3072 dimensions */
#define FAKE_GEMINI_REPLY_DEFAULT "{\"summary\":\"fake analysis\",\"risks\":[],\"score\":0.5}"
#define FAKE_GEMINI_REPLY_PARTS_MAX 8		 /* parts of the configured answer */
#define FAKE_GEMINI_REPLY_MAX 65536		 /* bytes of the configured answer, all parts */
#define FAKE_GEMINI_RECORDS_MAX 64		 /* requests kept; later ones are only counted */
#define FAKE_GEMINI_URI_MAX 2048		 /* bytes of a kept URI */
#define FAKE_GEMINI_HEADERS_MAX 4096		 /* bytes of a kept header block */
#define FAKE_GEMINI_RECORD_BODY_MAX 65536	 /* bytes of a body kept in a record */
#define FAKE_GEMINI_BODY_MAX (8 * 1024 * 1024)	 /* bytes of a request body; more is a 413 */
#define FAKE_GEMINI_BATCH_MAX 100		 /* requests of one batchEmbedContents */
#define FAKE_GEMINI_DELAY_MS 3000		 /* FAKE_GEMINI_DELAY default */
#define FAKE_GEMINI_RETRY_AFTER_S 1		 /* 429 default wait (Retry-After, RetryInfo) */
#define FAKE_GEMINI_HUGE_BYTES (5 * 1024 * 1024) /* FAKE_GEMINI_HUGE_BODY: over 4 MiB */
#define FAKE_GEMINI_CONNECTIONS_MAX 32		 /* concurrent connections (one thread each) */

enum fake_gemini_fault {
	FAKE_GEMINI_OK = 0,	       /* no fault: the normal answer */
	FAKE_GEMINI_429,	       /* 429 RESOURCE_EXHAUSTED, QuotaFailure with a per-minute
					  quotaId, the wait as the spec's hint says */
	FAKE_GEMINI_429_PER_DAY,       /* the same with a PerDay quotaId */
	FAKE_GEMINI_400,	       /* 400 INVALID_ARGUMENT */
	FAKE_GEMINI_500,	       /* 500 INTERNAL */
	FAKE_GEMINI_503,	       /* 503 UNAVAILABLE ("The model is overloaded") */
	FAKE_GEMINI_DELAY,	       /* the normal answer, after delay_ms */
	FAKE_GEMINI_BAD_JSON,	       /* 200 with a body cut inside a JSON string */
	FAKE_GEMINI_WRONG_SHAPE,       /* 200 with JSON of the wrong types for the method */
	FAKE_GEMINI_BLOCKED_PROMPT,    /* 200, promptFeedback.blockReason SAFETY, no candidates */
	FAKE_GEMINI_FINISH_SAFETY,     /* 200, one candidate, finishReason SAFETY, no content */
	FAKE_GEMINI_FINISH_MAX_TOKENS, /* 200, the answer cut short, finishReason MAX_TOKENS */
	FAKE_GEMINI_WRONG_COUNT,       /* batchEmbedContents: one embedding fewer than asked */
	FAKE_GEMINI_WRONG_DIMS,	       /* embeddings: one value more than asked */
	FAKE_GEMINI_REDIRECT,	       /* 302 to <url>/elsewhere */
	FAKE_GEMINI_HUGE_BODY,	       /* 200 with FAKE_GEMINI_HUGE_BYTES of JSON */
};

/* How a 429 names its wait. */
enum fake_gemini_hint {
	FAKE_GEMINI_HINT_BOTH = 0, /* Retry-After header and google.rpc.RetryInfo in the body */
	FAKE_GEMINI_HINT_HEADER,   /* the Retry-After header only */
	FAKE_GEMINI_HINT_BODY,	   /* RetryInfo only (what Gemini itself sends) */
	FAKE_GEMINI_HINT_NONE,	   /* neither */
};

struct fake_gemini_fault_spec {
	enum fake_gemini_fault fault;
	int count;		    /* requests it applies to */
	int delay_ms;		    /* DELAY; 0: FAKE_GEMINI_DELAY_MS */
	int retry_after_s;	    /* 429s; 0: FAKE_GEMINI_RETRY_AFTER_S */
	enum fake_gemini_hint hint; /* 429s */
};

/* One request as it arrived. */
struct fake_gemini_request {
	char method[16];
	char uri[FAKE_GEMINI_URI_MAX];		    /* raw request target, query included */
	char headers[FAKE_GEMINI_HEADERS_MAX];	    /* "Name: value\n" per header */
	char body[FAKE_GEMINI_RECORD_BODY_MAX + 1]; /* NUL-terminated, maybe cut */
	size_t body_len;			    /* the whole body's length */
	bool body_cut;				    /* body holds only the first bytes */
	bool truncated;				    /* the URI or the headers did not fit */
	bool key_in_uri;			    /* an API key travelled in the URI */
};

struct fake_gemini;

/* Starts a fake expecting FAKE_GEMINI_API_KEY and answering
 * FAKE_GEMINI_REPLY_DEFAULT. Returns its base URL "http://127.0.0.1:PORT"
 * (valid until fake_gemini_stop), or NULL after printing why. */
const char *fake_gemini_start(struct fake_gemini **fg);
/* Stops it (cutting delayed answers short) and frees everything. NULL is fine. */
void fake_gemini_stop(struct fake_gemini *fg);
const char *fake_gemini_url(const struct fake_gemini *fg);

/* The key the fake expects (copied). Returns 0, or -1 if empty or too long. */
int fake_gemini_set_api_key(struct fake_gemini *fg, const char *key);
/* The text generateContent answers, as n parts (1..FAKE_GEMINI_REPLY_PARTS_MAX;
 * copied). Returns 0, or -1 if they do not fit. */
int fake_gemini_set_reply(struct fake_gemini *fg, const char *const *parts, int n);
int fake_gemini_set_reply_text(struct fake_gemini *fg, const char *text);
/* Arms a fault (replacing any armed one). */
void fake_gemini_fail(struct fake_gemini *fg, const struct fake_gemini_fault_spec *spec);
/* The next n requests get fault with its defaults. */
void fake_gemini_fail_next(struct fake_gemini *fg, int n, enum fake_gemini_fault fault);

/* Requests received so far, kept or not. */
int fake_gemini_request_count(struct fake_gemini *fg);
/* Requests that carried an API key in the URI (kept or not). */
int fake_gemini_keys_in_uri(struct fake_gemini *fg);
/* A copy of the i-th kept request (0-based). Returns 0, or -1 if none. */
int fake_gemini_request(struct fake_gemini *fg, int i, struct fake_gemini_request *out);
/* The value of header name (case-insensitive) of a kept request into out;
 * 0 if present (the first one), -1 if not. */
int fake_gemini_header(const struct fake_gemini_request *r, const char *name, char *out,
		       size_t outlen);

#endif
