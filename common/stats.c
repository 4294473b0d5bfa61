/* Process-wide counters and gauges; see tm/stats.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "tm/stats.h"

struct tm_stat {
	const char *name, *help, *label_name, *label_value; /* static strings */
	enum tm_stat_kind kind;
	_Atomic int64_t value;
};

static struct tm_stat table[TM_STATS_MAX];
static _Atomic int nstats;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

struct tm_stat *tm_stat_register(const char *name, const char *help, enum tm_stat_kind kind,
				 const char *label_name, const char *label_value)
{
	struct tm_stat *s = NULL;

	pthread_mutex_lock(&reg_lock);
	int n = atomic_load(&nstats);
	for (int i = 0; i < n; i++) {
		if (strcmp(table[i].name, name) == 0 && same(table[i].label_name, label_name) &&
		    same(table[i].label_value, label_value)) {
			s = &table[i];
			goto out;
		}
	}
	if (n < TM_STATS_MAX) {
		s = &table[n];
		s->name = name;
		s->help = help;
		s->kind = kind;
		s->label_name = label_name;
		s->label_value = label_value;
		atomic_store(&s->value, 0);
		atomic_store(&nstats, n + 1); /* publish after the row is filled */
	}
out:
	pthread_mutex_unlock(&reg_lock);
	return s;
}

void tm_stat_add(struct tm_stat *s, int64_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void tm_stat_set(struct tm_stat *s, int64_t v)
{
	if (s)
		atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

int64_t tm_stat_get(const struct tm_stat *s)
{
	return s ? atomic_load_explicit(&s->value, memory_order_relaxed) : 0;
}

int tm_stats_snapshot(struct tm_stat_view *out, int max)
{
	int n = atomic_load(&nstats);
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		out[i].name = table[i].name;
		out[i].help = table[i].help;
		out[i].label_name = table[i].label_name;
		out[i].label_value = table[i].label_value;
		out[i].kind = table[i].kind;
		out[i].value = tm_stat_get(&table[i]);
	}
	return n;
}
