/*
 * Structured logging: tm_log_format_line yields one JSON object (parsed back
 * with cJSON) or one escaped text line; the request id is per thread; tm_vlog
 * writes one line to fd 1 even for over-long messages (captured with dup2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "tm/log.h"
#include "tm/util.h"

#define LINE_BYTES 16384    /* larger than any line the logger makes */
#define CAPTURE_BYTES 65536 /* stdout captured around one tm_vlog call */
#define LONG_MSG_BYTES 5000

static int setup_json(void **state)
{
	tm_log_set_request_id(NULL);
	return tm_log_init("projects", "debug", "json");
}

static int setup_text(void **state)
{
	tm_log_set_request_id(NULL);
	return tm_log_init("projects", "debug", "text");
}

static int teardown(void **state)
{
	tm_log_set_request_id(NULL);
	return tm_log_init("taskmesh", "info", "json");
}

/* Formats msg and parses the line; fails the test unless it is one JSON object. */
static cJSON *format_json(enum tm_log_level level, const char *msg, char *line)
{
	int n = tm_log_format_line(line, LINE_BYTES, level, msg);
	assert_int_equal(n, (int)strlen(line));
	assert_null(memchr(line, '\n', (size_t)n));
	assert_null(memchr(line, '\r', (size_t)n));
	for (int i = 0; i < n; i++)
		assert_true((unsigned char)line[i] >= 0x20);
	assert_int_equal(line[0], '{');
	assert_int_equal(line[n - 1], '}');
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithOpts(line, &end, 1);
	assert_non_null(j);
	assert_true(cJSON_IsObject(j));
	return j;
}

static const char *str_field(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	if (!cJSON_IsString(v))
		return NULL;
	return v->valuestring;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" within a few seconds of now. */
static void assert_log_time(const char *ts)
{
	int64_t t;
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_int_equal(tm_parse_rfc3339(ts, &t), 0);
	int64_t now = tm_now_ms();
	assert_true(t <= now && t > now - 5000);
}

/* ---- JSON format ------------------------------------------------------------------- */

static void test_json_line_has_time_level_service_and_msg(void **state)
{
	char line[LINE_BYTES];
	cJSON *j = format_json(TM_LOG_INFO, "listening on tcp://127.0.0.1:7001", line);

	assert_log_time(str_field(j, "time"));
	assert_string_equal(str_field(j, "level"), "info");
	assert_string_equal(str_field(j, "service"), "projects");
	assert_string_equal(str_field(j, "msg"), "listening on tcp://127.0.0.1:7001");
	assert_int_equal(cJSON_GetArraySize(j), 4);
	assert_int_equal(strncmp(line, "{\"time\":\"", 9), 0);
	cJSON_Delete(j);
}

static void test_json_line_names_each_level(void **state)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char line[LINE_BYTES];

	for (int lv = TM_LOG_DEBUG; lv <= TM_LOG_ERROR; lv++) {
		cJSON *j = format_json((enum tm_log_level)lv, "x", line);
		assert_string_equal(str_field(j, "level"), names[lv]);
		cJSON_Delete(j);
	}
}

static void test_request_id_is_absent_when_unset(void **state)
{
	char line[LINE_BYTES];
	cJSON *j = format_json(TM_LOG_INFO, "no request", line);

	assert_null(cJSON_GetObjectItemCaseSensitive(j, "request_id"));
	assert_null(strstr(line, "request_id"));
	assert_string_equal(tm_log_request_id(), "");
	cJSON_Delete(j);
}

static void test_request_id_is_present_when_set_and_gone_when_cleared(void **state)
{
	char line[LINE_BYTES];
	cJSON *j;

	tm_log_set_request_id("3f2b8c1e-0000-4000-8000-000000000001");
	j = format_json(TM_LOG_WARN, "with request", line);
	assert_string_equal(str_field(j, "request_id"), "3f2b8c1e-0000-4000-8000-000000000001");
	assert_int_equal(cJSON_GetArraySize(j), 5);
	cJSON_Delete(j);

	tm_log_set_request_id(NULL);
	j = format_json(TM_LOG_WARN, "cleared", line);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "request_id"));
	cJSON_Delete(j);

	tm_log_set_request_id("abc");
	tm_log_set_request_id("");
	j = format_json(TM_LOG_WARN, "cleared by empty", line);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "request_id"));
	cJSON_Delete(j);
}

static void test_request_id_is_cut_at_63_bytes(void **state)
{
	char id[100], line[LINE_BYTES];

	memset(id, 'r', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	tm_log_set_request_id(id);
	assert_int_equal(strlen(tm_log_request_id()), 63);
	cJSON *j = format_json(TM_LOG_INFO, "x", line);
	assert_int_equal(strlen(str_field(j, "request_id")), 63);
	cJSON_Delete(j);
}

static void test_request_id_with_control_bytes_is_escaped(void **state)
{
	char line[LINE_BYTES];

	tm_log_set_request_id("req\n\"1\"\\");
	cJSON *j = format_json(TM_LOG_INFO, "x", line);
	assert_string_equal(str_field(j, "request_id"), "req\n\"1\"\\");
	cJSON_Delete(j);
}

struct thread_view {
	char line[LINE_BYTES];
	char id_seen_first[64]; /* the thread's request id before it set one */
};

static void *other_thread(void *arg)
{
	struct thread_view *v = arg;
	snprintf(v->id_seen_first, sizeof(v->id_seen_first), "%s", tm_log_request_id());
	tm_log_format_line(v->line, LINE_BYTES, TM_LOG_INFO, "from another thread");
	tm_log_set_request_id("req-thread");
	return NULL;
}

static void test_request_id_is_thread_local(void **state)
{
	static struct thread_view v; /* too big for a thread-unfriendly stack */
	pthread_t t;
	char line[LINE_BYTES];

	tm_log_set_request_id("req-main");
	assert_int_equal(pthread_create(&t, NULL, other_thread, &v), 0);
	assert_int_equal(pthread_join(t, NULL), 0);

	assert_string_equal(v.id_seen_first, "");
	cJSON *j = cJSON_Parse(v.line);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "request_id"));
	assert_string_equal(str_field(j, "msg"), "from another thread");
	cJSON_Delete(j);

	/* the other thread's set did not reach this one */
	assert_string_equal(tm_log_request_id(), "req-main");
	j = format_json(TM_LOG_INFO, "main", line);
	assert_string_equal(str_field(j, "request_id"), "req-main");
	cJSON_Delete(j);
}

static void test_cr_lf_quotes_and_backslashes_are_escaped(void **state)
{
	static const char msg[] = "line1\nline2\r\n\"quoted\" back\\slash\ttab";
	char line[LINE_BYTES];
	cJSON *j = format_json(TM_LOG_ERROR, msg, line);

	assert_string_equal(str_field(j, "msg"), msg);
	assert_non_null(
		strstr(line, "\"msg\":\"line1\\nline2\\r\\n\\\"quoted\\\" back\\\\slash\\ttab\""));
	cJSON_Delete(j);
}

static void test_every_control_byte_is_escaped(void **state)
{
	char msg[40], line[LINE_BYTES];
	int k = 0;

	for (int c = 1; c < 0x20; c++)
		msg[k++] = (char)c;
	msg[k++] = 0x7f;
	msg[k] = '\0';
	cJSON *j = format_json(TM_LOG_INFO, msg, line); /* checks no raw byte < 0x20 */
	assert_string_equal(str_field(j, "msg"), msg);
	assert_null(strchr(line, 0x7f));
	assert_non_null(strstr(line, "\\u0001"));
	assert_non_null(strstr(line, "\\u001f"));
	assert_non_null(strstr(line, "\\u007f"));
	cJSON_Delete(j);
}

static void test_utf8_message_passes_through(void **state)
{
	static const char msg[] = "projet créé — 価格 😀";
	char line[LINE_BYTES];
	cJSON *j = format_json(TM_LOG_INFO, msg, line);

	assert_string_equal(str_field(j, "msg"), msg);
	assert_non_null(strstr(line, msg));
	cJSON_Delete(j);
}

static void test_empty_message_gives_an_empty_msg(void **state)
{
	char line[LINE_BYTES];
	cJSON *j = format_json(TM_LOG_INFO, "", line);

	assert_string_equal(str_field(j, "msg"), "");
	cJSON_Delete(j);
}

static void test_service_name_is_escaped_and_cut_at_31_bytes(void **state)
{
	char line[LINE_BYTES];
	cJSON *j;

	assert_int_equal(tm_log_init("svc\"x\\", "info", "json"), 0);
	j = format_json(TM_LOG_INFO, "x", line);
	assert_string_equal(str_field(j, "service"), "svc\"x\\");
	cJSON_Delete(j);

	assert_int_equal(tm_log_init("0123456789012345678901234567890123456789", "info", "json"),
			 0);
	j = format_json(TM_LOG_INFO, "x", line);
	assert_string_equal(str_field(j, "service"), "0123456789012345678901234567890");
	cJSON_Delete(j);
}

static void test_line_is_cut_to_a_small_buffer(void **state)
{
	char line[16];

	memset(line, 'X', sizeof(line));
	assert_int_equal(tm_log_format_line(line, (int)sizeof(line), TM_LOG_INFO, "hello"), 15);
	assert_int_equal(line[15], '\0');
	assert_int_equal(strncmp(line, "{\"time\":\"", 9), 0);
}

/* ---- text format -------------------------------------------------------------------- */

static void test_text_line_is_time_level_service_message(void **state)
{
	char line[LINE_BYTES];
	int n = tm_log_format_line(line, LINE_BYTES, TM_LOG_WARN, "disk almost full");

	assert_int_equal(n, (int)strlen(line));
	assert_int_equal(line[24], ' ');
	line[24] = '\0';
	assert_log_time(line);
	assert_string_equal(line + 25, "warn  projects disk almost full");
}

static void test_text_line_shows_the_request_id(void **state)
{
	char line[LINE_BYTES];

	tm_log_set_request_id("req-42");
	tm_log_format_line(line, LINE_BYTES, TM_LOG_INFO, "hi");
	assert_string_equal(line + 25, "info  projects [req-42] hi");
}

static void test_text_format_escapes_control_bytes(void **state)
{
	char line[LINE_BYTES];
	int n = tm_log_format_line(line, LINE_BYTES, TM_LOG_ERROR,
				   "a\nb\rc\x01"
				   "d\x1f\x7f\te");

	assert_null(memchr(line, '\n', (size_t)n));
	assert_null(memchr(line, '\r', (size_t)n));
	for (int i = 0; i < n; i++)
		assert_true((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] != 0x7f);
	assert_string_equal(line + 25, "error projects a\\x0ab\\x0dc\\x01d\\x1f\\x7f\\x09e");
}

static void test_text_format_keeps_quotes_backslashes_and_utf8(void **state)
{
	char line[LINE_BYTES];

	tm_log_format_line(line, LINE_BYTES, TM_LOG_INFO, "say \"hi\" \\ créé");
	assert_string_equal(line + 25, "info  projects say \"hi\" \\ créé");
}

/* The request id can come from another process (the RPC envelope): a newline
 * in it must not split a text line either. */
static void test_text_format_escapes_control_bytes_in_the_request_id(void **state)
{
	char line[LINE_BYTES];

	tm_log_set_request_id("req\nFORGED error line");
	int n = tm_log_format_line(line, LINE_BYTES, TM_LOG_INFO, "hi");
	assert_null(memchr(line, '\n', (size_t)n));
}

/* ---- tm_log_init ---------------------------------------------------------------------- */

static void test_unknown_level_is_refused(void **state)
{
	static const char *const bad[] = {"verbose", "INFO", "Info", "warning", "err", "", "info "};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_int_equal(tm_log_init("projects", bad[i], "json"), -1);
	assert_int_equal(tm_log_init("projects", NULL, "json"), -1);
}

static void test_unknown_format_is_refused(void **state)
{
	static const char *const bad[] = {"xml", "JSON", "Text", "", "json ", "logfmt"};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_int_equal(tm_log_init("projects", "info", bad[i]), -1);
	assert_int_equal(tm_log_init("projects", "info", NULL), -1);
}

static void test_every_known_level_and_format_is_accepted(void **state)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < TM_ARRAY_LEN(levels); i++) {
		assert_int_equal(tm_log_init("projects", levels[i], "json"), 0);
		assert_int_equal(tm_log_init("projects", levels[i], "text"), 0);
	}
}

static void test_refused_init_changes_nothing(void **state)
{
	char line[LINE_BYTES];

	assert_int_equal(tm_log_init("other", "error", "text"), 0);
	assert_int_equal(tm_log_init("changed", "bogus", "json"), -1);
	assert_int_equal(tm_log_init("changed", "debug", "bogus"), -1);
	tm_log_format_line(line, LINE_BYTES, TM_LOG_INFO, "x");
	assert_string_equal(line + 25, "info  other x"); /* still text, still "other" */
}

/* ---- tm_vlog to stdout -------------------------------------------------------------- */

struct capture {
	int saved_fd;
	FILE *f;
};

static void capture_begin(struct capture *c)
{
	fflush(stdout);
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved_fd = dup(STDOUT_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_int_equal(dup2(fileno(c->f), STDOUT_FILENO), STDOUT_FILENO);
}

/* Restores fd 1 and returns what was written (malloc'd, NUL-terminated). */
static char *capture_end(struct capture *c, size_t *len)
{
	char *out = malloc(CAPTURE_BYTES + 1);

	fflush(stdout);
	assert_int_equal(dup2(c->saved_fd, STDOUT_FILENO), STDOUT_FILENO);
	close(c->saved_fd);
	assert_non_null(out);
	rewind(c->f);
	*len = fread(out, 1, CAPTURE_BYTES, c->f);
	out[*len] = '\0';
	fclose(c->f);
	return out;
}

static void log_via_vlog(enum tm_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tm_vlog(level, fmt, ap);
	va_end(ap);
}

/* Logs msg through tm_vlog and returns the one captured line, parsed. */
static cJSON *vlog_line(const char *msg, size_t *line_len)
{
	struct capture c;
	size_t len;

	capture_begin(&c);
	log_via_vlog(TM_LOG_ERROR, "%s", msg);
	char *out = capture_end(&c, &len);
	assert_true(len > 0);
	assert_int_equal(out[len - 1], '\n');
	assert_ptr_equal(memchr(out, '\n', len), out + len - 1); /* exactly one line */
	out[len - 1] = '\0';
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithOpts(out, &end, 1);
	assert_non_null(j);
	*line_len = len;
	free(out);
	return j;
}

static void test_vlog_writes_one_json_line(void **state)
{
	size_t len;
	cJSON *j = vlog_line("hello\nworld", &len);

	assert_string_equal(str_field(j, "msg"), "hello\nworld");
	assert_string_equal(str_field(j, "level"), "error");
	cJSON_Delete(j);
}

static void test_vlog_formats_its_arguments(void **state)
{
	struct capture c;
	size_t len;

	capture_begin(&c);
	log_via_vlog(TM_LOG_INFO, "applied %d of %s", 3, "migrations");
	char *out = capture_end(&c, &len);
	assert_non_null(strstr(out, "\"msg\":\"applied 3 of migrations\"}\n"));
	free(out);
}

static void test_vlog_below_the_minimum_level_writes_nothing(void **state)
{
	struct capture c;
	size_t len;

	assert_int_equal(tm_log_init("projects", "warn", "json"), 0);
	capture_begin(&c);
	log_via_vlog(TM_LOG_DEBUG, "debug %d", 1);
	log_via_vlog(TM_LOG_INFO, "info %d", 2);
	log_via_vlog(TM_LOG_WARN, "warn %d", 3);
	tm_info("info macro");
	tm_error("error macro");
	char *out = capture_end(&c, &len);
	assert_null(strstr(out, "debug 1"));
	assert_null(strstr(out, "info 2"));
	assert_null(strstr(out, "info macro"));
	assert_non_null(strstr(out, "warn 3"));
	assert_non_null(strstr(out, "error macro"));
	free(out);
}

static void test_vlog_truncates_a_5000_byte_message_to_a_valid_json_line(void **state)
{
	char *msg = malloc(LONG_MSG_BYTES + 1);
	size_t len;

	assert_non_null(msg);
	for (int i = 0; i < LONG_MSG_BYTES; i++)
		msg[i] = (char)('a' + i % 26);
	msg[LONG_MSG_BYTES] = '\0';
	cJSON *j = vlog_line(msg, &len);
	const char *got = str_field(j, "msg");
	assert_non_null(got);
	size_t glen = strlen(got);
	assert_true(glen >= 1000 && glen < LONG_MSG_BYTES);
	assert_memory_equal(got, msg, glen); /* a prefix of what was logged */
	cJSON_Delete(j);
	free(msg);
}

/* A cut in the middle of a multi-byte character would leave invalid UTF-8. */
static void test_vlog_cuts_long_utf8_messages_on_a_character_boundary(void **state)
{
	static const char *const chars[] = {"\xc3\xa9",	 "\xe2\x82\xac",   "\xf0\x9f\x98\x80",
					    "a\xc3\xa9", "ab\xe2\x82\xac", "abc\xf0\x9f\x98\x80"};
	char *msg = malloc(LONG_MSG_BYTES + 8);
	size_t len;

	assert_non_null(msg);
	/* how much of a long ASCII message survives */
	memset(msg, 'a', LONG_MSG_BYTES);
	msg[LONG_MSG_BYTES] = '\0';
	cJSON *ascii = vlog_line(msg, &len);
	size_t ascii_len = strlen(str_field(ascii, "msg"));
	cJSON_Delete(ascii);
	for (size_t c = 0; c < TM_ARRAY_LEN(chars); c++) {
		size_t cl = strlen(chars[c]), k = 0;
		while (k + cl <= LONG_MSG_BYTES) {
			memcpy(msg + k, chars[c], cl);
			k += cl;
		}
		msg[k] = '\0';
		cJSON *j = vlog_line(msg, &len);
		const char *got = str_field(j, "msg");
		assert_non_null(got);
		size_t glen = strlen(got);
		assert_true(glen >= 1000 && glen < k);
		assert_true(tm_utf8_valid(got, glen));
		assert_memory_equal(got, msg, glen);
		assert_true(glen <= ascii_len &&
			    ascii_len - glen < 4); /* at most one character lost */
		cJSON_Delete(j);
	}
	free(msg);
}

/* Every byte escaped six times over still fits one line. */
static void test_vlog_of_5000_control_bytes_is_one_valid_json_line(void **state)
{
	char *msg = malloc(LONG_MSG_BYTES + 1);
	size_t len;

	assert_non_null(msg);
	memset(msg, 0x01, LONG_MSG_BYTES);
	msg[LONG_MSG_BYTES] = '\0';
	tm_log_set_request_id("0123456789012345678901234567890123456789012345678901234567890ab");
	cJSON *j = vlog_line(msg, &len);
	const char *got = str_field(j, "msg");
	assert_non_null(got);
	assert_true(strlen(got) >= 1000 && strlen(got) < LONG_MSG_BYTES);
	assert_true(got[0] == 0x01 && got[strlen(got) - 1] == 0x01);
	cJSON_Delete(j);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_line_has_time_level_service_and_msg,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_json_line_names_each_level, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_id_is_absent_when_unset, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_request_id_is_present_when_set_and_gone_when_cleared, setup_json,
			teardown),
		cmocka_unit_test_setup_teardown(test_request_id_is_cut_at_63_bytes, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_id_with_control_bytes_is_escaped,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_request_id_is_thread_local, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_cr_lf_quotes_and_backslashes_are_escaped,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_every_control_byte_is_escaped, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_utf8_message_passes_through, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_empty_message_gives_an_empty_msg, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_service_name_is_escaped_and_cut_at_31_bytes,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_line_is_cut_to_a_small_buffer, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_text_line_is_time_level_service_message,
						setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_text_line_shows_the_request_id, setup_text,
						teardown),
		cmocka_unit_test_setup_teardown(test_text_format_escapes_control_bytes, setup_text,
						teardown),
		cmocka_unit_test_setup_teardown(test_text_format_keeps_quotes_backslashes_and_utf8,
						setup_text, teardown),
		cmocka_unit_test_setup_teardown(
			test_text_format_escapes_control_bytes_in_the_request_id, setup_text,
			teardown),
		cmocka_unit_test_setup_teardown(test_unknown_level_is_refused, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_format_is_refused, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_known_level_and_format_is_accepted,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_refused_init_changes_nothing, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_vlog_writes_one_json_line, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_vlog_formats_its_arguments, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_vlog_below_the_minimum_level_writes_nothing,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(
			test_vlog_truncates_a_5000_byte_message_to_a_valid_json_line, setup_json,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_vlog_cuts_long_utf8_messages_on_a_character_boundary, setup_json,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_vlog_of_5000_control_bytes_is_one_valid_json_line, setup_json,
			teardown),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
