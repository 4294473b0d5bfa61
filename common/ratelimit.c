/* Token buckets in a sharded, fixed-size table; see tm/ratelimit.h. */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tm/ratelimit.h"
#include "tm/util.h"

#define NIL UINT32_MAX	  /* no bucket */
#define SHARD_MIN_KEYS 64 /* smaller tables use fewer shards, so eviction is exact LRU */
#define SHA256_HEX_LEN 64
/* cls NUL key, or the SHA-256 hex of cls then of key when either is too long */
#define IDENT_MAX (TM_RATELIMIT_CLASS_MAX_BYTES + 1 + TM_RATELIMIT_KEY_MAX_BYTES)
#define RULE_DIGITS_MAX 7  /* enough for TM_RATE_COUNT_MAX and TM_RATE_PERIOD_MAX_S */
#define TOKEN_EPSILON 1e-9 /* float slack when comparing token counts */

struct bucket {
	uint64_t hash;		/* SipHash of ident */
	int64_t last_refill_ms; /* caller's clock; never moves backwards */
	double tokens;		/* 0..burst */
	uint32_t chain_next;	/* next bucket with the same head, or NIL */
	uint32_t lru_prev;	/* more recently used, or NIL */
	uint32_t lru_next;	/* less recently used, or NIL */
	uint8_t ident_len;	/* bytes of ident */
	char ident[IDENT_MAX];
};

struct shard {
	pthread_mutex_t mu;
	struct bucket *buckets; /* cap of them, the first `used` in use */
	uint32_t *heads;	/* chain heads, head_mask + 1 of them */
	uint32_t cap, used, head_mask;
	uint32_t lru_first, lru_last; /* most and least recently used, or NIL */
	bool mu_ready;		      /* mu was initialised */
};

struct tm_ratelimit {
	uint64_t sip_k0, sip_k1; /* random SipHash key */
	uint32_t nshards;
	struct shard shards[TM_RATELIMIT_SHARDS];
};

/* ---- rules ------------------------------------------------------------------------ */

/* Reads a decimal integer in [min, max] at *s and moves *s past it. */
static int read_count(const char **s, int64_t min, int64_t max, int64_t *out)
{
	const char *q = *s;
	int64_t v = 0;
	int n = 0;

	while (q[n] >= '0' && q[n] <= '9') {
		if (n == RULE_DIGITS_MAX)
			return -1;
		v = v * 10 + (q[n] - '0');
		n++;
	}
	if (n == 0 || v < min || v > max)
		return -1;
	*s = q + n;
	*out = v;
	return 0;
}

int tm_rate_rule_parse(const char *text, struct tm_rate_rule *out)
{
	const char *s = text;
	int64_t count, period_s, burst;

	if (!s || !out)
		return -1;
	if (read_count(&s, 1, TM_RATE_COUNT_MAX, &count) != 0 || *s++ != '/' ||
	    read_count(&s, 1, TM_RATE_PERIOD_MAX_S, &period_s) != 0)
		return -1;
	burst = count;
	if (*s == ':') {
		s++;
		if (read_count(&s, 1, TM_RATE_COUNT_MAX, &burst) != 0)
			return -1;
	}
	if (*s != '\0')
		return -1;
	out->per_second = (double)count / (double)period_s;
	out->burst = (double)burst;
	return 0;
}

static bool rule_valid(const struct tm_rate_rule *r)
{
	return r && isfinite(r->per_second) && r->per_second >= 0 && isfinite(r->burst) &&
	       r->burst >= 1;
}

/* ---- keys ------------------------------------------------------------------------- */

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                     \
	do {                         \
		v0 += v1;            \
		v1 = ROTL64(v1, 13); \
		v1 ^= v0;            \
		v0 = ROTL64(v0, 32); \
		v2 += v3;            \
		v3 = ROTL64(v3, 16); \
		v3 ^= v2;            \
		v0 += v3;            \
		v3 = ROTL64(v3, 21); \
		v3 ^= v0;            \
		v2 += v1;            \
		v1 = ROTL64(v1, 17); \
		v1 ^= v2;            \
		v2 = ROTL64(v2, 32); \
	} while (0)

/* SipHash-2-4 (Aumasson and Bernstein, 2012) of m under the key (k0, k1). */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const unsigned char *m, size_t len)
{
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575), v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261), v3 = k1 ^ UINT64_C(0x7465646279746573);
	uint64_t last = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = 0;
		for (int k = 0; k < 8; k++)
			w |= (uint64_t)m[i + (size_t)k] << (8 * k);
		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	for (size_t k = 0; i + k < len; k++)
		last |= (uint64_t)m[i + k] << (8 * k);
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The identity of a bucket into out[IDENT_MAX]: cls NUL key, or when either is
 * too long the SHA-256 hex of cls then that of key (no NUL, so the two forms
 * never meet). Returns its length. */
static size_t make_ident(const char *cls, const char *key, char out[IDENT_MAX])
{
	size_t cls_len = strnlen(cls, TM_RATELIMIT_CLASS_MAX_BYTES + 1);
	size_t key_len = strnlen(key, TM_RATELIMIT_KEY_MAX_BYTES + 1);
	char hex[SHA256_HEX_LEN + 1];

	if (cls_len <= TM_RATELIMIT_CLASS_MAX_BYTES && key_len <= TM_RATELIMIT_KEY_MAX_BYTES) {
		memcpy(out, cls, cls_len);
		out[cls_len] = '\0';
		memcpy(out + cls_len + 1, key, key_len);
		return cls_len + 1 + key_len;
	}
	tm_sha256_hex(cls, strlen(cls), hex);
	memcpy(out, hex, SHA256_HEX_LEN);
	tm_sha256_hex(key, strlen(key), hex);
	memcpy(out + SHA256_HEX_LEN, hex, SHA256_HEX_LEN);
	return 2 * SHA256_HEX_LEN;
}

_Static_assert(2 * SHA256_HEX_LEN <= IDENT_MAX, "a hashed identity fits");
_Static_assert(IDENT_MAX <= UINT8_MAX, "ident_len is a uint8_t");

/* ---- one shard: chained hash index and LRU list over a fixed bucket array --------- */

static void lru_unlink(struct shard *s, uint32_t i)
{
	struct bucket *b = &s->buckets[i];

	if (b->lru_prev != NIL)
		s->buckets[b->lru_prev].lru_next = b->lru_next;
	else
		s->lru_first = b->lru_next;
	if (b->lru_next != NIL)
		s->buckets[b->lru_next].lru_prev = b->lru_prev;
	else
		s->lru_last = b->lru_prev;
	b->lru_prev = b->lru_next = NIL;
}

static void lru_push_first(struct shard *s, uint32_t i)
{
	struct bucket *b = &s->buckets[i];

	b->lru_prev = NIL;
	b->lru_next = s->lru_first;
	if (s->lru_first != NIL)
		s->buckets[s->lru_first].lru_prev = i;
	s->lru_first = i;
	if (s->lru_last == NIL)
		s->lru_last = i;
}

/* The bucket holding ident, or NIL. */
static uint32_t shard_find(const struct shard *s, uint64_t hash, const char *ident, size_t len)
{
	for (uint32_t i = s->heads[hash & s->head_mask]; i != NIL; i = s->buckets[i].chain_next) {
		const struct bucket *b = &s->buckets[i];
		if (b->hash == hash && b->ident_len == len && memcmp(b->ident, ident, len) == 0)
			return i;
	}
	return NIL;
}

/* Takes bucket i out of its hash chain. */
static void chain_unlink(struct shard *s, uint32_t i)
{
	uint32_t *link = &s->heads[s->buckets[i].hash & s->head_mask];

	while (*link != i) {
		assert(*link != NIL); /* i is in the chain of its hash */
		link = &s->buckets[*link].chain_next;
	}
	*link = s->buckets[i].chain_next;
	s->buckets[i].chain_next = NIL;
}

/* A full bucket for ident at now_ms: a free slot while there is one, else the
 * slot of the bucket used longest ago. Returns its index. */
static uint32_t shard_insert(struct shard *s, uint64_t hash, const char *ident, size_t len,
			     double burst, int64_t now_ms)
{
	uint32_t i;

	if (s->used < s->cap) {
		i = s->used++;
	} else {
		i = s->lru_last;
		assert(i != NIL);
		chain_unlink(s, i);
		lru_unlink(s, i);
	}
	struct bucket *b = &s->buckets[i];
	b->hash = hash;
	b->last_refill_ms = now_ms;
	b->tokens = burst;
	b->ident_len = (uint8_t)len;
	memcpy(b->ident, ident, len);
	b->chain_next = s->heads[hash & s->head_mask];
	s->heads[hash & s->head_mask] = i;
	lru_push_first(s, i);
	return i;
}

/* Seconds until `deficit` tokens (0 < deficit <= 1) refill at `per_second`. */
static int retry_after_s(double deficit, double per_second)
{
	if (per_second <= 0)
		return TM_RATELIMIT_RETRY_MAX_S;
	double wait_s = ceil(deficit / per_second - TOKEN_EPSILON);
	if (wait_s < 1)
		return 1;
	if (wait_s >= TM_RATELIMIT_RETRY_MAX_S)
		return TM_RATELIMIT_RETRY_MAX_S;
	return (int)wait_s;
}

/* Refills bucket b up to now_ms (never for time going backwards) and takes one
 * token. Returns 0 or the Retry-After seconds. */
static int bucket_take(struct bucket *b, const struct tm_rate_rule *r, int64_t now_ms)
{
	if (now_ms > b->last_refill_ms) {
		double elapsed_s = ((double)now_ms - (double)b->last_refill_ms) / 1000.0;
		b->tokens += elapsed_s * r->per_second;
		b->last_refill_ms = now_ms;
	}
	if (b->tokens > r->burst) /* also when the rule shrank since the last take */
		b->tokens = r->burst;
	if (b->tokens + TOKEN_EPSILON >= 1.0) {
		b->tokens = b->tokens >= 1.0 ? b->tokens - 1.0 : 0.0;
		return 0;
	}
	return retry_after_s(1.0 - b->tokens, r->per_second);
}

/* ---- table -------------------------------------------------------------------------- */

/* Allocates shard s for cap buckets (index at most half full). Returns 0 or -1. */
static int shard_init(struct shard *s, uint32_t cap)
{
	uint32_t heads = 1;

	while (heads < 2 * cap)
		heads <<= 1;
	s->cap = cap;
	s->used = 0;
	s->head_mask = heads - 1;
	s->lru_first = s->lru_last = NIL;
	s->buckets = calloc(cap, sizeof(*s->buckets));
	s->heads = malloc(heads * sizeof(*s->heads));
	if (!s->buckets || !s->heads)
		return -1;
	memset(s->heads, 0xff, heads * sizeof(*s->heads)); /* all NIL */
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return -1;
	s->mu_ready = true;
	return 0;
}

int tm_ratelimit_new(struct tm_ratelimit **out, size_t max_keys)
{
	struct tm_ratelimit *rl;
	uint64_t key[2];

	*out = NULL;
	if (max_keys < 1 || max_keys > TM_RATELIMIT_KEYS_MAX)
		return -1;
	if (tm_random_bytes(key, sizeof(key)) != 0)
		return -1;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -1;
	rl->sip_k0 = key[0];
	rl->sip_k1 = key[1];
	rl->nshards = (uint32_t)(max_keys / SHARD_MIN_KEYS);
	if (rl->nshards < 1)
		rl->nshards = 1;
	if (rl->nshards > TM_RATELIMIT_SHARDS)
		rl->nshards = TM_RATELIMIT_SHARDS;
	for (uint32_t i = 0; i < rl->nshards; i++) {
		/* the first max_keys % nshards shards take one more, so the sum is max_keys */
		uint32_t cap = (uint32_t)(max_keys / rl->nshards) + (i < max_keys % rl->nshards);
		if (shard_init(&rl->shards[i], cap) != 0)
			goto out_free_rl;
	}
	*out = rl;
	return 0;

out_free_rl:
	tm_ratelimit_free(rl);
	return -1;
}

void tm_ratelimit_free(struct tm_ratelimit *rl)
{
	if (!rl)
		return;
	for (uint32_t i = 0; i < rl->nshards; i++) {
		struct shard *s = &rl->shards[i];
		if (s->mu_ready)
			pthread_mutex_destroy(&s->mu);
		free(s->buckets);
		free(s->heads);
	}
	free(rl);
}

int tm_ratelimit_take(struct tm_ratelimit *rl, const char *cls, const char *key,
		      const struct tm_rate_rule *rule, int64_t now_ms)
{
	char ident[IDENT_MAX];

	if (!rl || !rule_valid(rule))
		return TM_RATELIMIT_RETRY_MAX_S;
	size_t len = make_ident(cls ? cls : "", key ? key : "", ident);
	uint64_t hash = siphash24(rl->sip_k0, rl->sip_k1, (const unsigned char *)ident, len);
	/* high bits pick the shard, low bits the chain */
	struct shard *s = &rl->shards[(uint32_t)(hash >> 32) % rl->nshards];

	if (pthread_mutex_lock(&s->mu) != 0)
		return TM_RATELIMIT_RETRY_MAX_S;
	uint32_t i = shard_find(s, hash, ident, len);
	if (i == NIL) {
		i = shard_insert(s, hash, ident, len, rule->burst, now_ms);
	} else {
		lru_unlink(s, i);
		lru_push_first(s, i);
	}
	int retry_s = bucket_take(&s->buckets[i], rule, now_ms);
	pthread_mutex_unlock(&s->mu);
	return retry_s;
}

size_t tm_ratelimit_keys(struct tm_ratelimit *rl)
{
	size_t n = 0;

	if (!rl)
		return 0;
	for (uint32_t i = 0; i < rl->nshards; i++) {
		struct shard *s = &rl->shards[i];
		if (pthread_mutex_lock(&s->mu) != 0)
			continue;
		n += s->used;
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}
