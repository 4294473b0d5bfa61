/* Growable byte buffer; see tm/buf.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm/buf.h"

void tm_buf_init(struct tm_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void tm_buf_free(struct tm_buf *b)
{
	free(b->data);
	tm_buf_init(b);
}

void tm_buf_reset(struct tm_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the NUL. Returns 0 or -1. */
static int reserve(struct tm_buf *b, size_t extra)
{
	if (b->failed)
		return -1;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return -1;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void tm_buf_append(struct tm_buf *b, const void *data, size_t len)
{
	if (reserve(b, len) != 0)
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void tm_buf_puts(struct tm_buf *b, const char *s)
{
	tm_buf_append(b, s, strlen(s));
}

void tm_buf_putc(struct tm_buf *b, char c)
{
	tm_buf_append(b, &c, 1);
}

void tm_buf_printf(struct tm_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		tm_buf_append(b, small, (size_t)n);
		return;
	}
	if (reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void tm_buf_json_str(struct tm_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	tm_buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];

		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c < 0x20 || c == 0x7f) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		if (esc) {
			tm_buf_append(b, s + start, i - start);
			tm_buf_puts(b, esc);
			start = i + 1;
		}
	}
	tm_buf_append(b, s + start, len - start);
	tm_buf_putc(b, '"');
}

char *tm_buf_steal(struct tm_buf *b, size_t *len)
{
	if (b->failed) {
		tm_buf_free(b);
		return NULL;
	}
	if (!b->data) {
		if (reserve(b, 0) != 0)
			return NULL;
		b->data[0] = '\0';
	}
	char *p = b->data;
	if (len)
		*len = b->len;
	tm_buf_init(b);
	return p;
}
