/*
 * Process-wide counters and gauges, exported through the Stats RPC and, by the
 * gateway, as Prometheus text. Registration happens at start; updates are
 * lock-free atomics.
 */
#ifndef TM_STATS_H
#define TM_STATS_H

#include <stdint.h>

#define TM_STATS_MAX 128 /* metrics per process; registration beyond it fails */

enum tm_stat_kind { TM_STAT_COUNTER = 1, TM_STAT_GAUGE = 2 };

struct tm_stat; /* handle */

/* Registers (or returns the existing) metric `name` with optional one label
 * pair (label_name NULL for none). NULL when the table is full. */
struct tm_stat *tm_stat_register(const char *name, const char *help, enum tm_stat_kind kind,
				 const char *label_name, const char *label_value);
void tm_stat_add(struct tm_stat *s, int64_t n);
void tm_stat_set(struct tm_stat *s, int64_t v);
int64_t tm_stat_get(const struct tm_stat *s);

struct tm_stat_view {
	const char *name, *help, *label_name, *label_value;
	enum tm_stat_kind kind;
	int64_t value;
};
/* Copies up to `max` metrics; returns the number copied. */
int tm_stats_snapshot(struct tm_stat_view *out, int max);

#endif
