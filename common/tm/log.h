/*
 * Structured logging: one JSON object per line on stdout
 * {"time","level","service","request_id","msg"}; TM_LOG_FORMAT=text for humans.
 * Each line is written with a single write(2), so lines from threads never mix.
 * Never pass secrets (passwords, tokens, keys) to these functions.
 */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <stdarg.h>

enum tm_log_level { TM_LOG_DEBUG = 0, TM_LOG_INFO, TM_LOG_WARN, TM_LOG_ERROR };

/* Sets the service name, minimum level ("debug"|"info"|"warn"|"error") and
 * format ("json"|"text"). Returns 0, or -1 if level or format is unknown. */
int tm_log_init(const char *service, const char *level, const char *format);

/* The request id of the calling thread, copied (at most 63 bytes); NULL clears. */
void tm_log_set_request_id(const char *request_id);
const char *tm_log_request_id(void);

void tm_log(enum tm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tm_vlog(enum tm_log_level level, const char *fmt, va_list ap);

/* Formats one line into buf (no trailing newline written past len-1); used by
 * tm_vlog and by tests. Returns the length written. */
int tm_log_format_line(char *buf, int len, enum tm_log_level level, const char *msg);

#define tm_debug(...) tm_log(TM_LOG_DEBUG, __VA_ARGS__)
#define tm_info(...) tm_log(TM_LOG_INFO, __VA_ARGS__)
#define tm_warn(...) tm_log(TM_LOG_WARN, __VA_ARGS__)
#define tm_error(...) tm_log(TM_LOG_ERROR, __VA_ARGS__)

#endif
