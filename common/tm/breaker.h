/*
 * A circuit breaker for calls to outside APIs (GitHub, Gemini, the payment
 * provider, SMTP): after `threshold` consecutive failures it opens for
 * `cooldown_ms` and calls fail at once; then one probe call is let through
 * (half-open): its success closes the breaker, its failure opens it again.
 * Thread-safe. Times are the caller's clock (tests pass fixed values).
 */
#ifndef TM_BREAKER_H
#define TM_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct tm_breaker {
	pthread_mutex_t lock;
	int threshold;	       /* consecutive failures that open it */
	int64_t cooldown_ms;   /* how long it stays open */
	int failures;	       /* consecutive failures so far */
	int64_t open_until_ms; /* 0 when closed */
	bool probing;	       /* half-open: one call is out */
};

void tm_breaker_init(struct tm_breaker *b, int threshold, int64_t cooldown_ms);
void tm_breaker_destroy(struct tm_breaker *b);
/* May a call go out at now_ms? When false, *retry_after_ms (if not NULL)
 * says how long until the next probe. */
bool tm_breaker_allow(struct tm_breaker *b, int64_t now_ms, int64_t *retry_after_ms);
void tm_breaker_success(struct tm_breaker *b);
void tm_breaker_failure(struct tm_breaker *b, int64_t now_ms);
bool tm_breaker_is_open(struct tm_breaker *b, int64_t now_ms);

#endif
