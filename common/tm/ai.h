/*
 * The AI layer: one interface, two providers.
 *   gemini — Google Gemini over REST (common/gemini.c): generateContent with a
 *            responseSchema for the analysis, batchEmbedContents for vectors
 *            (tm_ai_embed);
 *   local  — a deterministic analyzer (common/ai_local.c): skill extraction
 *            against the taxonomy, project-type and feature detection, tasks
 *            from feature templates, and hashed n-gram embeddings.
 * tm_ai_analyze runs the configured provider behind a circuit breaker; a
 * reply that fails validation is asked for once more, then the local analyzer
 * answers (and `source` says so). Results are cached in <schema>.ai_cache by
 * the SHA-256 of (provider, model, prompt), so a repeated brief costs nothing.
 */
#ifndef TM_AI_H
#define TM_AI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tm/arena.h"
#include "tm/breaker.h"
#include "tm/buf.h"
#include "tm/db.h"
#include "tm/gemini.h"
#include "tm/taxonomy.h"

#define TM_AI_TASKS_MIN 5
#define TM_AI_TASKS_MAX 40
#define TM_AI_TASK_HOURS_MAX 400 /* one task; larger work is split */
#define TM_AI_SKILLS_MAX 64	 /* per analysis and per task */
#define TM_AI_RISKS_MAX 16
#define TM_AI_KEY_MAX 16     /* "T12" */
#define TM_AI_EMBED_DIMS 256 /* local embeddings; Gemini's are asked for the same size */

struct tm_ai_task {
	char key[TM_AI_KEY_MAX]; /* "T1", unique in the analysis */
	char *title, *description;
	char **skills; /* canonical taxonomy names */
	size_t nskills;
	int32_t hours;	   /* 1..TM_AI_TASK_HOURS_MAX */
	char priority[8];  /* high | medium | low */
	char level[8];	   /* junior | mid | senior: the rate it is priced at */
	char **depends_on; /* keys of other tasks */
	size_t ndepends;
};

struct tm_ai_analysis {
	char *summary;
	char project_type[32]; /* web_app | mobile_app | api | data_pipeline | ml | ecommerce |
				      devops | game | marketplace | other */
	char complexity[8];    /* low | medium | high */
	char **required_skills;
	size_t nskills;
	char **features; /* detected features (auth, payments, ...) */
	size_t nfeatures;
	char **risks;
	size_t nrisks;
	struct tm_ai_task *tasks;
	size_t ntasks;
	char source[16];	   /* gemini | local */
	char model[64];		   /* the model that answered ("local-v1" for local) */
	char fallback_reason[320]; /* why the local analyzer answered instead; "" otherwise */
};

struct tm_ai_config {
	const char *provider; /* TM_AI_PROVIDER: "gemini" | "local" */
	struct tm_gemini_config gemini;
	const struct tm_taxonomy *taxonomy;
};

struct tm_ai {
	struct tm_ai_config cfg;
	struct tm_breaker breaker; /* Gemini failing: go local at once */
};

void tm_ai_init(struct tm_ai *ai, const struct tm_ai_config *cfg);
void tm_ai_destroy(struct tm_ai *ai);

/*
 * Analyzes a brief. `db` (in the caller's schema, no transaction needed) holds
 * the cache. Always produces an analysis unless the local analyzer itself
 * fails (then -1 with the reason); Gemini failures fall back to local.
 */
int tm_ai_analyze(struct tm_ai *ai, struct tm_db *db, const char *title, const char *description,
		  struct tm_arena *a, struct tm_ai_analysis **out, char *err, size_t errlen);

/* The deterministic local analyzer alone. */
int tm_ai_local_analyze(const struct tm_taxonomy *t, const char *title, const char *description,
			struct tm_arena *a, struct tm_ai_analysis **out, char *err, size_t errlen);

/* Parses and validates an analysis in the JSON shape of tm_ai_analysis_schema
 * (as Gemini returns it, and as the cache stores it): required fields, types,
 * bounds, task keys unique, dependencies known, no self-dependency, no cycle,
 * skills normalized through the taxonomy (unknown ones dropped). Returns 0 or
 * -1 with the first problem in err. */
int tm_ai_analysis_from_json(const struct tm_taxonomy *t, const char *json, size_t len,
			     struct tm_arena *a, struct tm_ai_analysis **out, char *err,
			     size_t errlen);
/* The analysis as JSON (the cache's form). */
int tm_ai_analysis_to_json(const struct tm_ai_analysis *an, struct tm_buf *out);
/* The responseSchema sent to Gemini (an OpenAPI-subset schema object). */
extern const char tm_ai_analysis_schema[];

/* Checks the dependency graph: known keys, no self edges, acyclic. Returns
 * NULL or the problem. Fills order[] (indices, dependencies first) if given. */
const char *tm_ai_check_graph(const struct tm_ai_task *tasks, size_t n, size_t *order);

#define TM_AI_EMBED_BATCH_MAX 100		      /* texts of one tm_ai_embed call */
#define TM_AI_EMBED_TEXT_MAX TM_GEMINI_EMBED_TEXT_MAX /* longer texts are cut there */
#define TM_AI_EMBED_SPACE_MAX 160
#define TM_AI_LOCAL_EMBED_MODEL "hash-ngram-v1"

/*
 * Embeddings of n texts (1..TM_AI_EMBED_BATCH_MAX, each non-empty UTF-8; one
 * longer than TM_AI_EMBED_TEXT_MAX bytes is cut there, at a character
 * boundary) into out: n rows of TM_AI_EMBED_DIMS floats, row i for texts[i],
 * each L2-normalized (a text without a word is the zero vector locally).
 *
 * Vectors are comparable only within one space, written to `space`:
 * "gemini/<embed model>/<dims>" or "local/hash-ngram-v1/<dims>"; callers store
 * it beside the vectors and compare within a space only. All rows of one call
 * are in one space: Gemini's when the provider is gemini with a key and its
 * circuit breaker lets calls through (each row cached in ai_cache by
 * (provider, model, dims, task type, text), so a text is embedded once), else -
 * and when Gemini fails - the local embedding for every row, with the reason
 * in why ("" when the configured provider answered). task_type is passed to
 * Gemini (RETRIEVAL_DOCUMENT for what is searched, RETRIEVAL_QUERY for what
 * searches, ...; NULL for its default) and does not change the space. db may
 * be NULL (no cache). Returns 0, or -1 when the inputs are refused (why says
 * which; nothing was sent).
 */
int tm_ai_embed(struct tm_ai *ai, struct tm_db *db, const char *const *texts, size_t n,
		const char *task_type, float *out, char space[TM_AI_EMBED_SPACE_MAX], char *why,
		size_t whylen);

/* Deterministic hashed n-gram embedding (word unigrams and bigrams, character
 * trigrams, signed feature hashing), L2-normalized, dims floats. */
void tm_ai_local_embed(const char *text, int dims, float *out);

#endif
