/* Circuit breaker; see tm/breaker.h. */
#include "tm/breaker.h"

void tm_breaker_init(struct tm_breaker *b, int threshold, int64_t cooldown_ms)
{
	pthread_mutex_init(&b->lock, NULL);
	b->threshold = threshold > 0 ? threshold : 1;
	b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 1;
	b->failures = 0;
	b->open_until_ms = 0;
	b->probing = false;
}

void tm_breaker_destroy(struct tm_breaker *b)
{
	pthread_mutex_destroy(&b->lock);
}

bool tm_breaker_allow(struct tm_breaker *b, int64_t now_ms, int64_t *retry_after_ms)
{
	bool ok;
	pthread_mutex_lock(&b->lock);
	if (b->open_until_ms == 0) {
		ok = true; /* closed */
	} else if (now_ms < b->open_until_ms || b->probing) {
		ok = false; /* open, or half-open with the probe still out */
		if (retry_after_ms)
			*retry_after_ms = b->open_until_ms > now_ms ? b->open_until_ms - now_ms :
								      b->cooldown_ms;
	} else {
		ok = b->probing = true; /* half-open: this call is the probe */
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

void tm_breaker_success(struct tm_breaker *b)
{
	pthread_mutex_lock(&b->lock);
	b->failures = 0;
	b->open_until_ms = 0;
	b->probing = false;
	pthread_mutex_unlock(&b->lock);
}

void tm_breaker_failure(struct tm_breaker *b, int64_t now_ms)
{
	pthread_mutex_lock(&b->lock);
	if (b->probing || ++b->failures >= b->threshold) {
		b->open_until_ms = now_ms + b->cooldown_ms;
		b->failures = 0;
	}
	b->probing = false;
	pthread_mutex_unlock(&b->lock);
}

bool tm_breaker_is_open(struct tm_breaker *b, int64_t now_ms)
{
	pthread_mutex_lock(&b->lock);
	bool open = b->open_until_ms != 0 && (now_ms < b->open_until_ms || b->probing);
	pthread_mutex_unlock(&b->lock);
	return open;
}
