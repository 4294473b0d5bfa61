/*
 * Token-bucket rate limiting per (route class, client key), thread-safe and of
 * bounded memory: a table of max_keys buckets allocated up front, split into
 * shards with a mutex each, keyed by SipHash-2-4 under a random per-table key
 * (so clients cannot choose colliding keys). When a shard is full the bucket
 * idle longest is evicted; an evicted client comes back with a full bucket.
 * Time is the caller's (milliseconds, any clock that only moves forward).
 */
#ifndef TM_RATELIMIT_H
#define TM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define TM_RATE_COUNT_MAX 1000000	 /* largest N and B in a rule */
#define TM_RATE_PERIOD_MAX_S 86400	 /* largest S in a rule */
#define TM_RATELIMIT_KEYS_MAX (1u << 20) /* largest max_keys (about 200 MiB of buckets) */
#define TM_RATELIMIT_SHARDS 16		 /* mutexes per table, for tables of 1024+ keys */
#define TM_RATELIMIT_CLASS_MAX_BYTES 31	 /* longer classes... */
#define TM_RATELIMIT_KEY_MAX_BYTES 128	 /* ...or keys are stored as their SHA-256 */
#define TM_RATELIMIT_RETRY_MAX_S 86400	 /* Retry-After ceiling, also for rate 0 */

struct tm_rate_rule {
	double per_second; /* refill, tokens per second; >= 0 */
	double burst;	   /* capacity, tokens; >= 1 */
};

/* Parses "N/S" (N requests per S seconds, burst N) or "N/S:B" (burst B), e.g.
 * "10/60", "300/60:50": decimal integers, N and B in 1..TM_RATE_COUNT_MAX, S in
 * 1..TM_RATE_PERIOD_MAX_S, nothing else. Returns 0, or -1 leaving *out as is. */
int tm_rate_rule_parse(const char *text, struct tm_rate_rule *out);

struct tm_ratelimit;

/* A table of at most max_keys buckets (1..TM_RATELIMIT_KEYS_MAX), all allocated
 * here. Returns 0 or -1. */
int tm_ratelimit_new(struct tm_ratelimit **out, size_t max_keys);
void tm_ratelimit_free(struct tm_ratelimit *rl);

/* Takes one token from the bucket of (cls, key) at time now_ms; a new bucket
 * starts full. `cls` separates route classes ("auth", "write", "read"), `key`
 * is a user id or a client IP; NULL counts as "". Time going backwards adds no
 * tokens. Returns 0 when allowed, else the whole seconds until a token is
 * available (1..TM_RATELIMIT_RETRY_MAX_S, rounded up) for Retry-After. A NULL
 * table or an invalid rule refuses with TM_RATELIMIT_RETRY_MAX_S. */
int tm_ratelimit_take(struct tm_ratelimit *rl, const char *cls, const char *key,
		      const struct tm_rate_rule *rule, int64_t now_ms);

/* Number of buckets held, at most max_keys (for tests and metrics). */
size_t tm_ratelimit_keys(struct tm_ratelimit *rl);

#endif
