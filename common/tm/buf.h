/*
 * A growable byte buffer for building replies and log lines. An allocation
 * failure sets `failed` and turns later appends into no-ops, so callers check
 * once at the end instead of after every append.
 */
#ifndef TM_BUF_H
#define TM_BUF_H

#include <stddef.h>
#include <stdbool.h>

struct tm_buf {
	char *data;  /* NUL-terminated when len > 0 */
	size_t len;  /* bytes used, excluding the NUL */
	size_t cap;  /* bytes allocated */
	bool failed; /* an allocation failed; contents are incomplete */
};

void tm_buf_init(struct tm_buf *b);
void tm_buf_free(struct tm_buf *b);
void tm_buf_reset(struct tm_buf *b); /* len = 0, keeps the allocation */
void tm_buf_append(struct tm_buf *b, const void *data, size_t len);
void tm_buf_puts(struct tm_buf *b, const char *s);
void tm_buf_putc(struct tm_buf *b, char c);
void tm_buf_printf(struct tm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (len bytes) as a JSON string literal with quotes, escaping '"',
 * '\\' and control characters (so CR/LF can never split a log line). */
void tm_buf_json_str(struct tm_buf *b, const char *s, size_t len);
/* Takes the data out (caller frees); the buffer is left empty. NULL if failed. */
char *tm_buf_steal(struct tm_buf *b, size_t *len);

#endif
