/*
 * tm_config_load against a fake environment (a table in the test): defaults,
 * required items, each type's parsing and range rules, secrets kept out of
 * error text, and the one-line error of the first bad item.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tm/config.h"
#include "tm/util.h"

#define FAKE_ENV_MAX 16 /* variables one test sets */
#define ERR_BYTES 256

struct fake_env {
	const char *name[FAKE_ENV_MAX];
	const char *value[FAKE_ENV_MAX];
	int n;
	int lookups;				 /* calls to fake_getenv */
	const char *looked_up[FAKE_ENV_MAX * 2]; /* names asked for, in order */
};

static const char *fake_getenv(const char *name, void *ud)
{
	struct fake_env *e = ud;
	if (e->lookups < (int)TM_ARRAY_LEN(e->looked_up))
		e->looked_up[e->lookups] = name;
	e->lookups++;
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return e->value[i];
	return NULL;
}

static void env_set(struct fake_env *e, const char *name, const char *value)
{
	assert_true(e->n < FAKE_ENV_MAX);
	e->name[e->n] = name;
	e->value[e->n] = value;
	e->n++;
}

/* Loads one item with the variable set to `value` (NULL: unset). */
static int load1(const struct tm_cfg_item *it, const char *value, char *err)
{
	struct fake_env e = {0};
	if (value)
		env_set(&e, it->env, value);
	err[0] = '\0';
	return tm_config_load(it, 1, fake_getenv, &e, err, ERR_BYTES);
}

/* A macro, so a failure points at the calling test's line. */
#define assert_one_line(err)                      \
	do {                                      \
		assert_true((err)[0] != '\0');    \
		assert_null(strchr((err), '\n')); \
		assert_null(strchr((err), '\r')); \
	} while (0)

/* ---- defaults and required items ------------------------------------------- */

struct all_types {
	const char *s, *en, *url, *hp;
	int64_t i;
	bool b;
};

static void fill_items(struct tm_cfg_item items[6], struct all_types *t)
{
	struct tm_cfg_item v[6] = {
		{.env = "TM_S", .type = TM_CFG_STRING, .def = "hello", .out = &t->s, .min = 1},
		{.env = "TM_I", .type = TM_CFG_INT, .def = "8", .out = &t->i, .min = 1, .max = 64},
		{.env = "TM_B", .type = TM_CFG_BOOL, .def = "true", .out = &t->b},
		{.env = "TM_E",
		 .type = TM_CFG_ENUM,
		 .def = "json",
		 .out = &t->en,
		 .choices = "json|text"},
		{.env = "TM_U", .type = TM_CFG_URL, .def = "tcp://127.0.0.1:5555", .out = &t->url},
		{.env = "TM_H", .type = TM_CFG_HOSTPORT, .def = "localhost:9092", .out = &t->hp},
	};
	memcpy(items, v, sizeof(v));
}

static void test_unset_variables_take_defaults(void **state)
{
	struct tm_cfg_item items[6];
	struct all_types t = {.i = -1};
	struct fake_env e = {0};
	char err[ERR_BYTES] = "";

	fill_items(items, &t);
	assert_int_equal(tm_config_load(items, 6, fake_getenv, &e, err, sizeof(err)), 0);
	assert_string_equal(t.s, "hello");
	assert_int_equal(t.i, 8);
	assert_true(t.b);
	assert_string_equal(t.en, "json");
	assert_string_equal(t.url, "tcp://127.0.0.1:5555");
	assert_string_equal(t.hp, "localhost:9092");
	assert_int_equal(e.lookups, 6);
	assert_string_equal(e.looked_up[0], "TM_S");
	assert_string_equal(e.looked_up[5], "TM_H");
}

static void test_empty_variables_take_defaults(void **state)
{
	struct tm_cfg_item items[6];
	struct all_types t = {.i = -1};
	struct fake_env e = {0};
	char err[ERR_BYTES] = "";

	fill_items(items, &t);
	for (int i = 0; i < 6; i++)
		env_set(&e, items[i].env, "");
	assert_int_equal(tm_config_load(items, 6, fake_getenv, &e, err, sizeof(err)), 0);
	assert_string_equal(t.s, "hello");
	assert_int_equal(t.i, 8);
	assert_true(t.b);
	assert_string_equal(t.en, "json");
	assert_string_equal(t.url, "tcp://127.0.0.1:5555");
	assert_string_equal(t.hp, "localhost:9092");
}

static void test_set_variables_override_defaults(void **state)
{
	struct tm_cfg_item items[6];
	struct all_types t = {.i = -1};
	struct fake_env e = {0};
	char err[ERR_BYTES] = "";

	fill_items(items, &t);
	env_set(&e, "TM_S", "world");
	env_set(&e, "TM_I", "64");
	env_set(&e, "TM_B", "off");
	env_set(&e, "TM_E", "text");
	env_set(&e, "TM_U", "ipc:///tmp/tm.sock");
	env_set(&e, "TM_H", "db.internal:5432");
	assert_int_equal(tm_config_load(items, 6, fake_getenv, &e, err, sizeof(err)), 0);
	assert_string_equal(t.s, "world");
	assert_int_equal(t.i, 64);
	assert_false(t.b);
	assert_string_equal(t.en, "text");
	assert_string_equal(t.url, "ipc:///tmp/tm.sock");
	assert_string_equal(t.hp, "db.internal:5432");
}

static void test_user_data_reaches_the_lookup_function(void **state)
{
	const char *s = NULL;
	struct tm_cfg_item it = {.env = "TM_S", .type = TM_CFG_STRING, .out = &s, .min = 1};
	struct fake_env e = {0};
	char err[ERR_BYTES];

	env_set(&e, "TM_S", "from-table");
	assert_int_equal(tm_config_load(&it, 1, fake_getenv, &e, err, sizeof(err)), 0);
	assert_string_equal(s, "from-table");
	assert_int_equal(e.lookups, 1);
}

static void test_missing_required_item_is_an_error_naming_the_variable(void **state)
{
	const char *s = "untouched";
	struct tm_cfg_item it = {
		.env = "TM_DATABASE_URL", .type = TM_CFG_STRING, .out = &s, .min = 1};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, NULL, err), -1);
	assert_string_equal(err, "TM_DATABASE_URL is required but not set");
	assert_string_equal(s, "untouched");
}

static void test_empty_required_item_is_an_error_naming_the_variable(void **state)
{
	int64_t n = 7;
	struct tm_cfg_item it = {
		.env = "TM_RPC_WORKERS", .type = TM_CFG_INT, .out = &n, .min = 1, .max = 64};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "", err), -1);
	assert_string_equal(err, "TM_RPC_WORKERS is required but not set");
	assert_int_equal(n, 7);
}

static void test_zero_items_load_successfully(void **state)
{
	struct fake_env e = {0};
	char err[ERR_BYTES] = "";

	assert_int_equal(tm_config_load(NULL, 0, fake_getenv, &e, err, sizeof(err)), 0);
	assert_int_equal(e.lookups, 0);
}

/* ---- INT ----------------------------------------------------------------------- */

static const struct tm_cfg_item *workers_item(int64_t *out)
{
	static struct tm_cfg_item it;
	it = (struct tm_cfg_item){.env = "TM_RPC_WORKERS",
				  .type = TM_CFG_INT,
				  .out = out,
				  .min = 1,
				  .max = 64,
				  .def = "4"};
	return &it;
}

static void test_int_that_is_not_a_number_is_refused(void **state)
{
	static const char *const bad[] = {"abc", "12x", " 5", "5 ", "\t5", "0x10",
					  "1.5", "1e3", "-",  "+",  "--1", "5\n"};
	int64_t n = 99;
	char err[ERR_BYTES], want[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		char shown[16];
		size_t k = 0;
		/* control bytes are shown as '?' so the error stays one line */
		for (; bad[i][k]; k++)
			shown[k] = (unsigned char)bad[i][k] < 0x20 ? '?' : bad[i][k];
		shown[k] = '\0';
		assert_int_equal(load1(workers_item(&n), bad[i], err), -1);
		snprintf(want, sizeof(want), "TM_RPC_WORKERS=%s: not an integer", shown);
		assert_string_equal(err, want);
		assert_int_equal(n, 99);
	}
}

static void test_int_overflow_is_refused(void **state)
{
	int64_t n = 99;
	struct tm_cfg_item it = {
		.env = "TM_BIG", .type = TM_CFG_INT, .out = &n, .min = INT64_MIN, .max = INT64_MAX};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "99999999999999999999", err), -1);
	assert_string_equal(err, "TM_BIG=99999999999999999999: not an integer");
	assert_int_equal(load1(&it, "-99999999999999999999", err), -1);
	assert_string_equal(err, "TM_BIG=-99999999999999999999: not an integer");
	assert_int_equal(load1(&it, "9223372036854775808", err), -1);
	assert_int_equal(n, 99);
}

static void test_int64_extremes_load(void **state)
{
	int64_t n = 99;
	struct tm_cfg_item it = {
		.env = "TM_BIG", .type = TM_CFG_INT, .out = &n, .min = INT64_MIN, .max = INT64_MAX};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "9223372036854775807", err), 0);
	assert_true(n == INT64_MAX);
	assert_int_equal(load1(&it, "-9223372036854775808", err), 0);
	assert_true(n == INT64_MIN);
}

static void test_int_range_edges_are_inclusive(void **state)
{
	int64_t n = 0;
	char err[ERR_BYTES];

	assert_int_equal(load1(workers_item(&n), "1", err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(load1(workers_item(&n), "64", err), 0);
	assert_int_equal(n, 64);
}

static void test_int_out_of_range_is_refused(void **state)
{
	int64_t n = 99;
	char err[ERR_BYTES];

	assert_int_equal(load1(workers_item(&n), "0", err), -1);
	assert_string_equal(err, "TM_RPC_WORKERS=0: must be between 1 and 64");
	assert_int_equal(load1(workers_item(&n), "65", err), -1);
	assert_string_equal(err, "TM_RPC_WORKERS=65: must be between 1 and 64");
	assert_int_equal(load1(workers_item(&n), "-1", err), -1);
	assert_string_equal(err, "TM_RPC_WORKERS=-1: must be between 1 and 64");
	assert_int_equal(n, 99);
}

static void test_negative_int_within_range_loads(void **state)
{
	int64_t n = 0;
	struct tm_cfg_item it = {
		.env = "TM_OFFSET", .type = TM_CFG_INT, .out = &n, .min = -10, .max = 10};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "-10", err), 0);
	assert_int_equal(n, -10);
	assert_int_equal(load1(&it, "-11", err), -1);
	assert_string_equal(err, "TM_OFFSET=-11: must be between -10 and 10");
}

static void test_bad_int_default_is_reported_like_a_bad_value(void **state)
{
	int64_t n = 99;
	struct tm_cfg_item it = {.env = "TM_RPC_WORKERS",
				 .type = TM_CFG_INT,
				 .out = &n,
				 .min = 1,
				 .max = 64,
				 .def = "100"};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, NULL, err), -1);
	assert_string_equal(err, "TM_RPC_WORKERS=100: must be between 1 and 64");
}

/* ---- BOOL ---------------------------------------------------------------------- */

static void test_bool_true_forms_load_as_true(void **state)
{
	static const char *const forms[] = {"1", "true", "yes", "on", "TRUE", "Yes", "ON", "tRuE"};
	bool b;
	struct tm_cfg_item it = {.env = "TM_FLAG", .type = TM_CFG_BOOL, .out = &b};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(forms); i++) {
		b = false;
		assert_int_equal(load1(&it, forms[i], err), 0);
		assert_true(b);
	}
}

static void test_bool_false_forms_load_as_false(void **state)
{
	static const char *const forms[] = {"0", "false", "no", "off", "FALSE", "No", "OFF"};
	bool b;
	struct tm_cfg_item it = {.env = "TM_FLAG", .type = TM_CFG_BOOL, .out = &b};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(forms); i++) {
		b = true;
		assert_int_equal(load1(&it, forms[i], err), 0);
		assert_false(b);
	}
}

static void test_bool_other_forms_are_refused(void **state)
{
	static const char *const bad[] = {"2",	 "y",	 "n",	"t",  "f",	"truee",
					  "tru", "yes ", " on", "-1", "enabled"};
	bool b = true;
	struct tm_cfg_item it = {.env = "TM_FLAG", .type = TM_CFG_BOOL, .out = &b};
	char err[ERR_BYTES], want[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		assert_int_equal(load1(&it, bad[i], err), -1);
		snprintf(want, sizeof(want), "TM_FLAG=%s: expected true or false", bad[i]);
		assert_string_equal(err, want);
		assert_true(b);
	}
}

/* ---- ENUM ---------------------------------------------------------------------- */

static void test_enum_accepts_each_choice(void **state)
{
	static const char *const ok[] = {"debug", "info", "warn", "error"};
	const char *v = NULL;
	struct tm_cfg_item it = {.env = "TM_LOG_LEVEL",
				 .type = TM_CFG_ENUM,
				 .out = &v,
				 .choices = "debug|info|warn|error"};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++) {
		assert_int_equal(load1(&it, ok[i], err), 0);
		assert_string_equal(v, ok[i]);
	}
}

static void test_enum_refuses_anything_else(void **state)
{
	static const char *const bad[] = {"INFO", "inf",   "infos", "debug|info",
					  "|",	  "warn ", "rror",  "error|"};
	const char *v = "untouched";
	struct tm_cfg_item it = {.env = "TM_LOG_LEVEL",
				 .type = TM_CFG_ENUM,
				 .out = &v,
				 .choices = "debug|info|warn|error"};
	char err[ERR_BYTES], want[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		assert_int_equal(load1(&it, bad[i], err), -1);
		snprintf(want, sizeof(want),
			 "TM_LOG_LEVEL=%s: expected one of debug|info|warn|error", bad[i]);
		assert_string_equal(err, want);
		assert_string_equal(v, "untouched");
	}
}

static void test_enum_with_one_choice(void **state)
{
	const char *v = NULL;
	struct tm_cfg_item it = {
		.env = "TM_MODE", .type = TM_CFG_ENUM, .out = &v, .choices = "only"};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "only", err), 0);
	assert_string_equal(v, "only");
	assert_int_equal(load1(&it, "onl", err), -1);
	assert_int_equal(load1(&it, "onlyx", err), -1);
}

/* ---- URL and HOSTPORT ---------------------------------------------------------- */

static void test_url_tcp_and_ipc_forms_are_valid(void **state)
{
	static const char *const ok[] = {"tcp://127.0.0.1:5555",
					 "tcp://localhost:1",
					 "tcp://host:65535",
					 "tcp://projects.internal:7001",
					 "ipc:///tmp/tm-projects.sock",
					 "ipc://relative.sock",
					 "inproc://projects"};
	const char *v = NULL;
	struct tm_cfg_item it = {.env = "TM_RPC_URL", .type = TM_CFG_URL, .out = &v};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++) {
		v = NULL;
		assert_int_equal(load1(&it, ok[i], err), 0);
		assert_string_equal(v, ok[i]);
	}
}

static void test_url_with_bad_port_or_scheme_is_refused(void **state)
{
	static const char *const bad[] = {"tcp://host:0",  "tcp://host:70000", "tcp://host:65536",
					  "tcp://host",	   "tcp://host:",      "tcp://:5555",
					  "tcp://host:-1", "tcp://host:55x",   "tcp://host: 80",
					  "ipc://",	   "inproc://",	       "http://host:80",
					  "host:80",	   "tcp:/host:80",     "TCP://host:80",
					  "udp://host:80"};
	const char *v = "untouched";
	struct tm_cfg_item it = {.env = "TM_RPC_URL", .type = TM_CFG_URL, .out = &v};
	char err[ERR_BYTES], want[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		assert_int_equal(load1(&it, bad[i], err), -1);
		snprintf(want, sizeof(want),
			 "TM_RPC_URL=%s: expected tcp://host:port or ipc://path", bad[i]);
		assert_string_equal(err, want);
		assert_string_equal(v, "untouched");
	}
}

static void test_hostport_valid_forms(void **state)
{
	static const char *const ok[] = {"localhost:9092", "h:1", "h:65535", "10.0.0.1:5432",
					 "[::1]:5432"};
	const char *v = NULL;
	struct tm_cfg_item it = {.env = "TM_KAFKA", .type = TM_CFG_HOSTPORT, .out = &v};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++) {
		v = NULL;
		assert_int_equal(load1(&it, ok[i], err), 0);
		assert_string_equal(v, ok[i]);
	}
}

static void test_hostport_invalid_forms_are_refused(void **state)
{
	static const char *const bad[] = {"h:0", "h:65536", "h:70000", ":80",	     "h",
					  "h:",	 "h:8x",    "h:-80",   "tcp://h:80x"};
	const char *v = "untouched";
	struct tm_cfg_item it = {.env = "TM_KAFKA", .type = TM_CFG_HOSTPORT, .out = &v};
	char err[ERR_BYTES], want[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		assert_int_equal(load1(&it, bad[i], err), -1);
		snprintf(want, sizeof(want), "TM_KAFKA=%s: expected host:port", bad[i]);
		assert_string_equal(err, want);
		assert_string_equal(v, "untouched");
	}
}

/* ---- STRING -------------------------------------------------------------------- */

static void test_string_length_limits_are_inclusive(void **state)
{
	const char *v = NULL;
	struct tm_cfg_item it = {
		.env = "TM_NAME", .type = TM_CFG_STRING, .out = &v, .min = 3, .max = 5};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "abc", err), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(load1(&it, "abcde", err), 0);
	assert_string_equal(v, "abcde");
}

static void test_string_too_short_or_too_long_is_refused(void **state)
{
	const char *v = "untouched";
	struct tm_cfg_item it = {
		.env = "TM_NAME", .type = TM_CFG_STRING, .out = &v, .min = 3, .max = 5};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, "ab", err), -1);
	assert_string_equal(err, "TM_NAME: must be 3 to 5 bytes long");
	assert_int_equal(load1(&it, "abcdef", err), -1);
	assert_string_equal(err, "TM_NAME: must be 3 to 5 bytes long");
	assert_string_equal(v, "untouched");
}

static void test_string_without_maximum_has_only_a_minimum(void **state)
{
	static char long_value[10001];
	const char *v = NULL;
	struct tm_cfg_item it = {
		.env = "TM_JWT_SECRET", .type = TM_CFG_STRING, .out = &v, .min = 32};
	char err[ERR_BYTES];

	memset(long_value, 'k', sizeof(long_value) - 1);
	assert_int_equal(load1(&it, long_value, err), 0);
	assert_ptr_equal(v, long_value);
	long_value[31] = '\0';
	assert_int_equal(load1(&it, long_value, err), -1);
	assert_string_equal(err, "TM_JWT_SECRET: must be at least 32 bytes long");
	long_value[31] = 'k';
	long_value[32] = '\0';
	assert_int_equal(load1(&it, long_value, err), 0);
}

static void test_string_with_min_zero_accepts_an_empty_default(void **state)
{
	const char *v = NULL;
	struct tm_cfg_item it = {
		.env = "TM_OPTIONAL", .type = TM_CFG_STRING, .out = &v, .min = 0, .def = ""};
	char err[ERR_BYTES];

	assert_int_equal(load1(&it, NULL, err), 0);
	assert_string_equal(v, "");
}

/* ---- secrets --------------------------------------------------------------------- */

#define SECRET_VALUE "hunter2-SECRET-do-not-print"

static void test_secret_value_never_appears_in_the_error(void **state)
{
	int64_t n;
	bool b;
	const char *s;
	struct tm_cfg_item items[] = {
		{.env = "TM_SECRET_INT",
		 .type = TM_CFG_INT,
		 .out = &n,
		 .min = 0,
		 .max = 10,
		 .secret = true},
		{.env = "TM_SECRET_STR",
		 .type = TM_CFG_STRING,
		 .out = &s,
		 .min = 64,
		 .max = 100,
		 .secret = true},
		{.env = "TM_SECRET_BOOL", .type = TM_CFG_BOOL, .out = &b, .secret = true},
		{.env = "TM_SECRET_ENUM",
		 .type = TM_CFG_ENUM,
		 .out = &s,
		 .choices = "a|b",
		 .secret = true},
		{.env = "TM_SECRET_URL", .type = TM_CFG_URL, .out = &s, .secret = true},
		{.env = "TM_SECRET_HP", .type = TM_CFG_HOSTPORT, .out = &s, .secret = true},
	};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(items); i++) {
		assert_int_equal(load1(&items[i], SECRET_VALUE, err), -1);
		assert_non_null(strstr(err, items[i].env));
		assert_null(strstr(err, "hunter2"));
		assert_null(strstr(err, "SECRET-do-not"));
		assert_one_line(err);
	}
	/* an out-of-range number is a value too */
	assert_int_equal(load1(&items[0], "12345", err), -1);
	assert_null(strstr(err, "12345"));
	assert_string_equal(err, "TM_SECRET_INT=<redacted>: must be between 0 and 10");
}

/* ---- the first bad item ---------------------------------------------------------- */

static void test_first_bad_item_stops_loading(void **state)
{
	int64_t a = 0, b = 99, c = 99;
	struct tm_cfg_item items[] = {
		{.env = "TM_A", .type = TM_CFG_INT, .out = &a, .min = 0, .max = 10},
		{.env = "TM_B", .type = TM_CFG_INT, .out = &b, .min = 0, .max = 10},
		{.env = "TM_C", .type = TM_CFG_INT, .out = &c, .min = 0, .max = 10},
	};
	struct fake_env e = {0};
	char err[ERR_BYTES];

	env_set(&e, "TM_A", "5");
	env_set(&e, "TM_B", "11");
	env_set(&e, "TM_C", "abc");
	assert_int_equal(tm_config_load(items, 3, fake_getenv, &e, err, sizeof(err)), -1);
	assert_string_equal(err, "TM_B=11: must be between 0 and 10");
	assert_one_line(err);
	assert_int_equal(a, 5);
	assert_int_equal(b, 99);
	assert_int_equal(c, 99);
	assert_int_equal(e.lookups, 2); /* TM_C was never looked at */
}

static void test_error_messages_are_one_line(void **state)
{
	int64_t n;
	bool b;
	const char *s;
	struct {
		struct tm_cfg_item it;
		const char *value;
	} cases[] = {
		{{.env = "TM_I", .type = TM_CFG_INT, .out = &n, .min = 0, .max = 1}, "x"},
		{{.env = "TM_I", .type = TM_CFG_INT, .out = &n, .min = 0, .max = 1}, "2"},
		{{.env = "TM_S", .type = TM_CFG_STRING, .out = &s, .min = 5}, "ab"},
		{{.env = "TM_S", .type = TM_CFG_STRING, .out = &s, .min = 1, .max = 2}, "abc"},
		{{.env = "TM_B", .type = TM_CFG_BOOL, .out = &b}, "maybe"},
		{{.env = "TM_E", .type = TM_CFG_ENUM, .out = &s, .choices = "a|b"}, "c"},
		{{.env = "TM_U", .type = TM_CFG_URL, .out = &s}, "tcp://h:0"},
		{{.env = "TM_H", .type = TM_CFG_HOSTPORT, .out = &s}, "h"},
		{{.env = "TM_R", .type = TM_CFG_STRING, .out = &s, .min = 1}, NULL},
	};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++) {
		assert_int_equal(load1(&cases[i].it, cases[i].value, err), -1);
		assert_non_null(strstr(err, cases[i].it.env));
		assert_one_line(err);
	}
}

/*
 * A value holding a newline (an environment variable can) must not split the
 * error line: the promise is "one line naming the variable".
 */
static void test_value_with_newline_still_gives_a_one_line_error(void **state)
{
	int64_t n;
	bool b;
	const char *s;
	struct tm_cfg_item items[] = {
		{.env = "TM_I", .type = TM_CFG_INT, .out = &n, .min = 0, .max = 10},
		{.env = "TM_B", .type = TM_CFG_BOOL, .out = &b},
		{.env = "TM_E", .type = TM_CFG_ENUM, .out = &s, .choices = "json|text"},
		{.env = "TM_U", .type = TM_CFG_URL, .out = &s},
		{.env = "TM_H", .type = TM_CFG_HOSTPORT, .out = &s},
	};
	char err[ERR_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(items); i++) {
		assert_int_equal(load1(&items[i], "1\nFAKE log line\r", err), -1);
		assert_non_null(strstr(err, items[i].env));
		assert_one_line(err);
	}
}

static void test_error_is_cut_to_the_buffer(void **state)
{
	int64_t n;
	struct tm_cfg_item it = {
		.env = "TM_RPC_WORKERS", .type = TM_CFG_INT, .out = &n, .min = 1, .max = 64};
	struct fake_env e = {0};
	char err[16];

	memset(err, 'X', sizeof(err));
	env_set(&e, "TM_RPC_WORKERS", "abc");
	assert_int_equal(tm_config_load(&it, 1, fake_getenv, &e, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_string_equal(err, "TM_RPC_WORKERS=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_variables_take_defaults),
		cmocka_unit_test(test_empty_variables_take_defaults),
		cmocka_unit_test(test_set_variables_override_defaults),
		cmocka_unit_test(test_user_data_reaches_the_lookup_function),
		cmocka_unit_test(test_missing_required_item_is_an_error_naming_the_variable),
		cmocka_unit_test(test_empty_required_item_is_an_error_naming_the_variable),
		cmocka_unit_test(test_zero_items_load_successfully),
		cmocka_unit_test(test_int_that_is_not_a_number_is_refused),
		cmocka_unit_test(test_int_overflow_is_refused),
		cmocka_unit_test(test_int64_extremes_load),
		cmocka_unit_test(test_int_range_edges_are_inclusive),
		cmocka_unit_test(test_int_out_of_range_is_refused),
		cmocka_unit_test(test_negative_int_within_range_loads),
		cmocka_unit_test(test_bad_int_default_is_reported_like_a_bad_value),
		cmocka_unit_test(test_bool_true_forms_load_as_true),
		cmocka_unit_test(test_bool_false_forms_load_as_false),
		cmocka_unit_test(test_bool_other_forms_are_refused),
		cmocka_unit_test(test_enum_accepts_each_choice),
		cmocka_unit_test(test_enum_refuses_anything_else),
		cmocka_unit_test(test_enum_with_one_choice),
		cmocka_unit_test(test_url_tcp_and_ipc_forms_are_valid),
		cmocka_unit_test(test_url_with_bad_port_or_scheme_is_refused),
		cmocka_unit_test(test_hostport_valid_forms),
		cmocka_unit_test(test_hostport_invalid_forms_are_refused),
		cmocka_unit_test(test_string_length_limits_are_inclusive),
		cmocka_unit_test(test_string_too_short_or_too_long_is_refused),
		cmocka_unit_test(test_string_without_maximum_has_only_a_minimum),
		cmocka_unit_test(test_string_with_min_zero_accepts_an_empty_default),
		cmocka_unit_test(test_secret_value_never_appears_in_the_error),
		cmocka_unit_test(test_first_bad_item_stops_loading),
		cmocka_unit_test(test_error_messages_are_one_line),
		cmocka_unit_test(test_value_with_newline_still_gives_a_one_line_error),
		cmocka_unit_test(test_error_is_cut_to_the_buffer),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
