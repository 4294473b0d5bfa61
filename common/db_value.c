/* Decoding result columns and encoding array parameters; see tm/db.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tm/buf.h"
#include "tm/db.h"
#include "tm/util.h"

#define DB_ARRAY_ITEMS_MAX 100000 /* elements of one decoded text[] */

bool tm_db_isnull(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) != 0;
}

const char *tm_db_text(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col); /* "" for NULL */
}

char *tm_db_strdup(const PGresult *r, int row, int col, struct tm_arena *a)
{
	return tm_arena_strndup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

int64_t tm_db_int(const PGresult *r, int row, int col)
{
	int64_t v = 0;
	if (PQgetisnull(r, row, col) || tm_parse_int64(PQgetvalue(r, row, col), &v) != 0)
		return 0;
	return v;
}

bool tm_db_bool(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col)[0] == 't';
}

double tm_db_float(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

/* Reads exactly n decimal digits; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int tm_db_parse_time(const char *s, int64_t *micros)
{
	/* "YYYY-MM-DD HH:MM:SS[.ffffff]+00" (ISO DateStyle, UTC session) */
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || s[4] != '-' || mo < 1 || mo > 12 || s[7] != '-' || d < 1 || d > 31 ||
	    s[10] != ' ')
		return -1;
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (h < 0 || h > 23 || s[13] != ':' || mi < 0 || mi > 59 || s[16] != ':' || sec < 0 ||
	    sec > 60)
		return -1;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 6)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 6; n++)
			frac *= 10;
	}
	if (strcmp(p, "+00") != 0)
		return -1; /* another time zone: the session was not set to UTC */
	int64_t days = days_from_civil(y, mo, d);
	*micros = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + frac;
	return 0;
}

char *tm_db_time(const PGresult *r, int row, int col, struct tm_arena *a, int64_t *micros)
{
	int64_t us = 0;
	char out[32];

	if (micros)
		*micros = 0;
	if (PQgetisnull(r, row, col))
		return tm_arena_strdup(a, "");
	if (tm_db_parse_time(PQgetvalue(r, row, col), &us) != 0)
		return NULL;
	if (micros)
		*micros = us;
	/* floor to the millisecond, also before 1970 */
	int64_t ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
	tm_rfc3339(ms, out);
	return tm_arena_strdup(a, out);
}

/* One element of an array's text form at *s (quoted or not) into the buffer;
 * *is_null for an unquoted NULL. Advances *s past it. Returns 0 or -1. */
static int array_item(const char **s, struct tm_buf *b, bool *is_null)
{
	const char *p = *s;
	tm_buf_reset(b);
	*is_null = false;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			tm_buf_putc(b, *p);
		}
		if (*p != '"')
			return -1;
		p++;
	} else {
		const char *start = p;
		while (*p && *p != ',' && *p != '}' && *p != '{' && *p != '"')
			p++;
		if (p == start || *p == '{' || *p == '"')
			return -1;
		tm_buf_append(b, start, (size_t)(p - start));
		*is_null = b->len == 4 && strncasecmp(b->data, "NULL", 4) == 0;
	}
	*s = p;
	return b->failed ? -1 : 0;
}

int tm_db_text_array(const PGresult *r, int row, int col, struct tm_arena *a, char ***out,
		     size_t *n)
{
	return tm_db_parse_text_array(PQgetisnull(r, row, col) ? "{}" : PQgetvalue(r, row, col), a,
				      out, n);
}

int tm_db_parse_text_array(const char *s, struct tm_arena *a, char ***out, size_t *n)
{
	size_t count = 1, cap;
	struct tm_buf b;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (s[0] == '[') /* explicit bounds, "[0:1]={...}" */
		s = strchr(s, '=') ? strchr(s, '=') + 1 : s;
	if (s[0] != '{')
		return -1;
	for (const char *p = s; *p; p++) /* an upper bound: every comma may separate */
		count += *p == ',';
	cap = count < DB_ARRAY_ITEMS_MAX ? count : DB_ARRAY_ITEMS_MAX;
	if (!(*out = tm_arena_alloc(a, (cap + 1) * sizeof(char *))))
		return -1;
	tm_buf_init(&b);
	s++;
	if (*s == '}' && s[1] == '\0') {
		rc = 0;
		goto out;
	}
	for (;;) {
		bool is_null;
		if (array_item(&s, &b, &is_null) != 0 || *n >= cap)
			goto out;
		if (!is_null) {
			if (!((*out)[*n] = tm_arena_strndup(a, b.data ? b.data : "", b.len)))
				goto out;
			(*n)++;
		}
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == '}' && s[1] == '\0')
			rc = 0;
		break;
	}
out:
	tm_buf_free(&b);
	return rc;
}

char *tm_db_array_literal(char *const *items, size_t n, struct tm_arena *a)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++) {
		tm_buf_puts(&b, i ? ",\"" : "\"");
		for (const char *c = items[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				tm_buf_putc(&b, '\\');
			tm_buf_putc(&b, *c);
		}
		tm_buf_putc(&b, '"');
	}
	tm_buf_putc(&b, '}');
	char *s = b.failed ? NULL : tm_arena_strdup(a, b.data);
	tm_buf_free(&b);
	return s;
}
