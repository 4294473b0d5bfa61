/* Revoked access tokens in memory; see denylist.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "denylist.h"

#define JTI_MAX 40 /* bytes of a jti kept (ours are 36-byte UUIDs) */

struct entry {
	char jti[JTI_MAX];
	int64_t exp_s; /* 0: empty slot */
};

struct gw_denylist {
	pthread_mutex_t lock;
	struct entry *slots; /* open addressing, linear probing */
	size_t cap;	     /* power of two, GW_DENYLIST_MAX * 2 */
	size_t used;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int gw_denylist_new(struct gw_denylist **out)
{
	struct gw_denylist *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	d->cap = 1;
	while (d->cap < (size_t)GW_DENYLIST_MAX * 2)
		d->cap <<= 1;
	if (!(d->slots = calloc(d->cap, sizeof(*d->slots)))) {
		free(d);
		return -1;
	}
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	return 0;
}

void gw_denylist_free(struct gw_denylist *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->slots);
	free(d);
}

/* Rebuilds the table without expired entries (linear probing cannot simply
 * clear a slot). Called with the lock held, only when the table is full. */
static void purge_locked(struct gw_denylist *d, int64_t now_s)
{
	struct entry *old = d->slots;
	struct entry *fresh = calloc(d->cap, sizeof(*fresh));
	if (!fresh)
		return;
	d->slots = fresh;
	d->used = 0;
	for (size_t i = 0; i < d->cap; i++) {
		if (old[i].exp_s <= now_s)
			continue;
		size_t k = hash(old[i].jti) & (d->cap - 1);
		while (fresh[k].exp_s)
			k = (k + 1) & (d->cap - 1);
		fresh[k] = old[i];
		d->used++;
	}
	free(old);
}

int gw_denylist_add(struct gw_denylist *d, const char *jti, int64_t exp_s, int64_t now_s)
{
	int rc = 0;
	if (strlen(jti) >= JTI_MAX || exp_s <= now_s)
		return 0; /* not one of ours, or already expired: nothing to remember */
	pthread_mutex_lock(&d->lock);
	if (d->used >= GW_DENYLIST_MAX)
		purge_locked(d, now_s);
	if (d->used >= GW_DENYLIST_MAX) {
		rc = -1;
	} else {
		size_t k = hash(jti) & (d->cap - 1);
		while (d->slots[k].exp_s && strcmp(d->slots[k].jti, jti) != 0)
			k = (k + 1) & (d->cap - 1);
		if (!d->slots[k].exp_s)
			d->used++;
		memcpy(d->slots[k].jti, jti, strlen(jti) + 1);
		d->slots[k].exp_s = exp_s;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

bool gw_denylist_contains(struct gw_denylist *d, const char *jti, int64_t now_s)
{
	bool found = false;
	if (strlen(jti) >= JTI_MAX)
		return false;
	pthread_mutex_lock(&d->lock);
	for (size_t k = hash(jti) & (d->cap - 1); d->slots[k].exp_s; k = (k + 1) & (d->cap - 1)) {
		if (strcmp(d->slots[k].jti, jti) == 0) {
			found = d->slots[k].exp_s > now_s;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return found;
}
