/* Structured logging; see tm/log.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tm/buf.h"
#include "tm/log.h"
#include "tm/util.h"

#define LOG_MSG_MAX 1280  /* bytes of message; longer messages are cut */
#define LOG_LINE_MAX 8192 /* bytes per line: a message escaped 6x still fits */

static char log_service[32] = "taskmesh";
static enum tm_log_level log_min = TM_LOG_INFO;
static int log_text;
static _Thread_local char log_request_id[64];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int tm_log_init(const char *service, const char *level, const char *format)
{
	int lv = -1;

	for (int i = 0; i < 4; i++)
		if (level && strcmp(level, level_names[i]) == 0)
			lv = i;
	if (lv < 0)
		return -1;
	if (!format || (strcmp(format, "json") != 0 && strcmp(format, "text") != 0))
		return -1;
	snprintf(log_service, sizeof(log_service), "%s", service);
	log_min = (enum tm_log_level)lv;
	log_text = strcmp(format, "text") == 0;
	return 0;
}

void tm_log_set_request_id(const char *request_id)
{
	snprintf(log_request_id, sizeof(log_request_id), "%s", request_id ? request_id : "");
}

const char *tm_log_request_id(void)
{
	return log_request_id;
}

/* Text format: control bytes escaped, so a line stays one line. */
static void put_text(struct tm_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			tm_buf_printf(b, "\\x%02x", c);
		else
			tm_buf_putc(b, (char)c);
	}
}

int tm_log_format_line(char *out, int outlen, enum tm_log_level level, const char *msg)
{
	char ts[32];
	struct tm_buf b;

	tm_rfc3339(tm_now_ms(), ts);
	tm_buf_init(&b);
	if (log_text) {
		/* text: human-friendly, but still one line: control bytes escaped */
		tm_buf_printf(&b, "%s %-5s %s", ts, level_names[level], log_service);
		if (log_request_id[0]) {
			tm_buf_puts(&b, " [");
			put_text(&b, log_request_id);
			tm_buf_putc(&b, ']');
		}
		tm_buf_putc(&b, ' ');
		put_text(&b, msg);
	} else {
		tm_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"service\":", ts,
			      level_names[level]);
		tm_buf_json_str(&b, log_service, strlen(log_service));
		if (log_request_id[0]) {
			tm_buf_puts(&b, ",\"request_id\":");
			tm_buf_json_str(&b, log_request_id, strlen(log_request_id));
		}
		tm_buf_puts(&b, ",\"msg\":");
		tm_buf_json_str(&b, msg, strlen(msg));
		tm_buf_putc(&b, '}');
	}
	int n = 0;
	if (!b.failed && b.len > 0) {
		n = (int)(b.len < (size_t)outlen ? b.len : (size_t)outlen - 1);
		memcpy(out, b.data, (size_t)n);
	}
	out[n] = '\0';
	tm_buf_free(&b);
	return n;
}

void tm_vlog(enum tm_log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	char line[LOG_LINE_MAX];

	if (level < log_min)
		return;
	int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (mlen >= (int)sizeof(msg)) {
		/* cut on a UTF-8 boundary so the line stays valid JSON */
		size_t end = sizeof(msg) - 1, lead = end;
		while (lead > 0 && ((unsigned char)msg[lead - 1] & 0xc0) == 0x80)
			lead--;
		if (lead > 0 && (unsigned char)msg[lead - 1] >= 0xc0) {
			unsigned char c = (unsigned char)msg[lead - 1];
			size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (end - (lead - 1) < want)
				msg[lead - 1] = '\0';
		}
	}
	int n = tm_log_format_line(line, (int)sizeof(line) - 1, level, msg);
	line[n++] = '\n';
	/* one write per line; a short write on a pipe is finished, never interleaved by us */
	for (int off = 0; off < n;) {
		ssize_t w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (int)w;
	}
}

void tm_log(enum tm_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tm_vlog(level, fmt, ap);
	va_end(ap);
}
