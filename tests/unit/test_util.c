/*
 * Small helpers: UUIDs, RFC 3339 formatting and parsing, strict integers,
 * SHA-256, backoff bounds, UTF-8 checks and base64url (RFC 4648 §5).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tm/util.h"

#define UUID_SAMPLES 1000
#define BACKOFF_SAMPLES 200

/* ---- UUIDs ----------------------------------------------------------------------- */

static int is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_uuid_v4_has_canonical_form_version_and_variant(void **state)
{
	for (int n = 0; n < 100; n++) {
		char u[TM_UUID_LEN + 1];
		memset(u, 'X', sizeof(u));
		assert_int_equal(tm_uuid_v4(u), 0);
		assert_int_equal(strlen(u), TM_UUID_LEN);
		for (int i = 0; i < TM_UUID_LEN; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(u[i], '-');
			else
				assert_true(is_lower_hex(u[i]));
		}
		assert_int_equal(u[14], '4');		/* version nibble */
		assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
		assert_true(tm_uuid_valid(u));
	}
}

static int cmp_uuid(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_uuid_v4_gives_1000_distinct_values(void **state)
{
	char(*u)[TM_UUID_LEN + 1] = calloc(UUID_SAMPLES, sizeof(*u));

	assert_non_null(u);
	for (int i = 0; i < UUID_SAMPLES; i++)
		assert_int_equal(tm_uuid_v4(u[i]), 0);
	qsort(u, UUID_SAMPLES, sizeof(*u), cmp_uuid);
	for (int i = 1; i < UUID_SAMPLES; i++)
		assert_string_not_equal(u[i - 1], u[i]);
	free(u);
}

static void test_uuid_valid_accepts_canonical_forms(void **state)
{
	assert_true(tm_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(tm_uuid_valid("00000000-0000-0000-0000-000000000000"));
	assert_true(tm_uuid_valid("FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF"));
	assert_true(tm_uuid_valid("f47ac10b-58cc-4372-A567-0e02b2c3d479"));
}

static void test_uuid_valid_refuses_other_forms(void **state)
{
	static const char *const bad[] = {
		"",
		"123e4567-e89b-12d3-a456-42661417400",	 /* 35 chars */
		"123e4567-e89b-12d3-a456-4266141740000", /* 37 chars */
		"123e4567e89b12d3a456426614174000",	 /* no dashes */
		"123e4567-e89b-12d3-a456_426614174000",	 /* wrong separator */
		"123e456-7e89b-12d3-a456-426614174000",	 /* dash moved */
		"123e4567-e89b-12d3-a456-42661417400g",	 /* not hex */
		"{23e4567-e89b-12d3-a456-426614174000}",
		" 23e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-426614174000\n",
		"123e4567-e89b-12d3-a456-42661417400 ",
		"------------------------------------",
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_false(tm_uuid_valid(bad[i]));
	assert_false(tm_uuid_valid(NULL));
}

/* ---- RFC 3339 --------------------------------------------------------------------- */

static void assert_rfc3339(int64_t ms, const char *want)
{
	char out[32];
	memset(out, 'X', sizeof(out));
	tm_rfc3339(ms, out);
	assert_string_equal(out, want);
}

static void test_rfc3339_formats_utc_with_milliseconds(void **state)
{
	assert_rfc3339(0, "1970-01-01T00:00:00.000Z");
	assert_rfc3339(1, "1970-01-01T00:00:00.001Z");
	assert_rfc3339(999, "1970-01-01T00:00:00.999Z");
	assert_rfc3339(1700000000123, "2023-11-14T22:13:20.123Z");
	assert_rfc3339(951782400000, "2000-02-29T00:00:00.000Z");
	assert_rfc3339(-1, "1969-12-31T23:59:59.999Z");
	assert_rfc3339(-1000, "1969-12-31T23:59:59.000Z");
	assert_rfc3339(253402300799999, "9999-12-31T23:59:59.999Z");
}

static int64_t parse_ok(const char *s)
{
	int64_t t = -42;
	assert_int_equal(tm_parse_rfc3339(s, &t), 0);
	return t;
}

static void assert_parse_fails(const char *s)
{
	int64_t t = -42;
	assert_int_equal(tm_parse_rfc3339(s, &t), -1);
	assert_int_equal(t, -42);
}

static void test_parse_rfc3339_round_trips_formatted_times(void **state)
{
	static const int64_t fixed[] = {
		0, 1, 999, 1000, 1700000000123, 951782400000, -1, 253402300799999, 4102444800000};
	char s[32];

	for (size_t i = 0; i < TM_ARRAY_LEN(fixed); i++) {
		tm_rfc3339(fixed[i], s);
		assert_int_equal(parse_ok(s), fixed[i]);
	}
	for (int i = 0; i < 2000; i++) {
		uint64_t r;
		assert_int_equal(tm_random_bytes(&r, sizeof(r)), 0);
		int64_t ms = (int64_t)(r % 253402300800000u);
		tm_rfc3339(ms, s);
		assert_int_equal(parse_ok(s), ms);
	}
}

static void test_parse_rfc3339_z_and_offsets(void **state)
{
	int64_t utc = parse_ok("2024-03-10T06:30:00Z");

	assert_int_equal(utc, 1710052200000);
	assert_int_equal(parse_ok("2024-03-10T12:00:00+05:30"), utc);
	assert_int_equal(parse_ok("2024-03-09T22:30:00-08:00"), utc);
	assert_int_equal(parse_ok("2024-03-10T06:30:00+00:00"), utc);
	assert_int_equal(parse_ok("2024-03-10T06:30:00-00:00"), utc);
	assert_int_equal(parse_ok("2024-03-10t06:30:00z"), utc);
	/* an offset that moves the time across the epoch and a day */
	assert_int_equal(parse_ok("1970-01-01T00:00:00+01:00"), -3600000);
	assert_int_equal(parse_ok("1969-12-31T23:00:00-01:00"), 0);
	assert_int_equal(parse_ok("2024-03-10T23:59:59+23:59"), 1710115199000 - 86340000);
}

static void test_parse_rfc3339_fractional_seconds_of_1_to_9_digits(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} cases[] = {
		{"2024-03-10T06:30:00.1Z", 100},
		{"2024-03-10T06:30:00.12Z", 120},
		{"2024-03-10T06:30:00.123Z", 123},
		{"2024-03-10T06:30:00.1234Z", 123},
		{"2024-03-10T06:30:00.12345Z", 123},
		{"2024-03-10T06:30:00.123456Z", 123},
		{"2024-03-10T06:30:00.1234567Z", 123},
		{"2024-03-10T06:30:00.12345678Z", 123},
		{"2024-03-10T06:30:00.123456789Z", 123},
		{"2024-03-10T06:30:00.999999999Z", 999},
		{"2024-03-10T06:30:00.000000001Z", 0},
		{"2024-03-10T06:30:00.5+05:30", 500 - 19800000},
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++)
		assert_int_equal(parse_ok(cases[i].s), 1710052200000 + cases[i].ms);
}

static void test_parse_rfc3339_refuses_bad_fractions(void **state)
{
	assert_parse_fails("2024-03-10T06:30:00.1234567890Z"); /* 10 digits */
	assert_parse_fails("2024-03-10T06:30:00.Z");
	assert_parse_fails("2024-03-10T06:30:00.");
	assert_parse_fails("2024-03-10T06:30:00,5Z");
	assert_parse_fails("2024-03-10T06:30:00.5.5Z");
}

static void test_parse_rfc3339_leap_day_rules(void **state)
{
	assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800000);
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400000); /* divisible by 400 */
	assert_int_equal(parse_ok("2400-02-29T00:00:00Z"), 13574563200000);
	assert_parse_fails("2023-02-29T00:00:00Z");
	assert_parse_fails("1900-02-29T00:00:00Z"); /* divisible by 100, not 400 */
	assert_parse_fails("2100-02-29T00:00:00Z");
	assert_parse_fails("2024-02-30T00:00:00Z");
	assert_int_equal(parse_ok("2023-02-28T00:00:00Z") + 86400000,
			 parse_ok("2023-03-01T00:00:00Z"));
}

static void test_parse_rfc3339_refuses_invalid_fields(void **state)
{
	static const char *const bad[] = {
		"2024-00-10T00:00:00Z",	     "2024-13-10T00:00:00Z",	  "2024-01-00T00:00:00Z",
		"2024-01-32T00:00:00Z",	     "2024-04-31T00:00:00Z",	  "2024-06-31T00:00:00Z",
		"2024-09-31T00:00:00Z",	     "2024-11-31T00:00:00Z",	  "2024-01-01T24:00:00Z",
		"2024-01-01T23:60:00Z",	     "2024-01-01T23:59:61Z",	  "2024-01-01T99:00:00Z",
		"2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+05:60",
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_parse_fails(bad[i]);
}

static void test_parse_rfc3339_month_ends_are_valid(void **state)
{
	static const char *const ok[] = {
		"2023-01-31T23:59:59Z", "2023-03-31T00:00:00Z", "2023-04-30T00:00:00Z",
		"2023-12-31T23:59:59Z", "2023-02-28T00:00:00Z", "2023-01-01T00:00:00Z",
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++)
		parse_ok(ok[i]);
}

static void test_parse_rfc3339_refuses_malformed_text(void **state)
{
	static const char *const bad[] = {
		"",
		"2024-03-10",	       /* no time */
		"2024-03-1006:30:00Z", /* missing T */
		"2024-03-10X06:30:00Z",
		"2024-03-10T06:30:00",	    /* no offset */
		"2024-03-10T06:30Z",	    /* no seconds */
		"2024-03-10T06:30:00Zjunk", /* trailing garbage */
		"2024-03-10T06:30:00Z ",
		"2024-03-10T06:30:00+05:30x",
		"2024-03-10T06:30:00+0530",
		"2024-03-10T06:30:00+05",
		"2024-03-10T06:30:00+5:30",
		"2024-3-10T06:30:00Z",
		"24-03-10T06:30:00Z",
		"2024/03/10T06:30:00Z",
		"2024-03-10T6:30:00Z",
		" 2024-03-10T06:30:00Z",
		"+2024-03-10T06:30:00Z",
		"2024-03-10T06:30:00UTC",
		"2024-03-10T06:30:00.5",
		"2024-03-10T06:30:0aZ",
		"now",
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_parse_fails(bad[i]);
	assert_parse_fails(NULL);
}

static void test_parse_rfc3339_leap_second_does_not_reach_the_next_minute(void **state)
{
	int64_t t = parse_ok("2016-12-31T23:59:60Z");
	assert_true(t >= parse_ok("2016-12-31T23:59:59Z"));
	assert_true(t < parse_ok("2017-01-01T00:00:00Z"));
}

/* ---- tm_parse_int64 -------------------------------------------------------------------- */

static void test_parse_int64_accepts_whole_decimals(void **state)
{
	int64_t v;

	assert_int_equal(tm_parse_int64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(tm_parse_int64("-0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(tm_parse_int64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(tm_parse_int64("-17", &v), 0);
	assert_int_equal(v, -17);
	assert_int_equal(tm_parse_int64("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(tm_parse_int64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(tm_parse_int64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
}

static void test_parse_int64_is_strict(void **state)
{
	static const char *const bad[] = {
		"",
		" 5",
		"5 ",
		"\t5",
		"\n5",
		"5\n",
		"12x",
		"x12",
		"0x10",
		"1e3",
		"1.0",
		"-",
		"+",
		"--1",
		"+-1",
		"1_000",
		"1,000",
		"٣",
		"9223372036854775808",
		"-9223372036854775809",
		"99999999999999999999",
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		int64_t v = 1234;
		assert_int_equal(tm_parse_int64(bad[i], &v), -1);
		assert_int_equal(v, 1234);
	}
	int64_t v = 1234;
	assert_int_equal(tm_parse_int64(NULL, &v), -1);
	assert_int_equal(v, 1234);
}

/* ---- SHA-256 ----------------------------------------------------------------------- */

static void test_sha256_hex_known_answers(void **state)
{
	char out[65];
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	tm_sha256_hex("abc", 3, out);
	assert_string_equal(out,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	tm_sha256_hex("", 0, out);
	assert_string_equal(out,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	tm_sha256_hex(two_blocks, strlen(two_blocks), out);
	assert_string_equal(out,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_hex_covers_bytes_after_a_nul(void **state)
{
	char a[65], b[65];
	tm_sha256_hex("ab\0c", 4, a);
	tm_sha256_hex("ab\0d", 4, b);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 64);
}

/* ---- backoff ----------------------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void test_backoff_stays_within_zero_and_the_capped_ceiling(void **state)
{
	static const struct {
		int64_t base, cap;
	} cfg[] = {{100, 10000}, {1, 1000}, {250, 30000}, {1000, 1000}, {500, 300}};

	for (size_t c = 0; c < TM_ARRAY_LEN(cfg); c++)
		for (int attempt = 0; attempt <= 40; attempt++) {
			int64_t ceiling = cfg[c].base;
			for (int i = 0; i < attempt && ceiling < cfg[c].cap; i++)
				ceiling *= 2;
			ceiling = min64(ceiling, cfg[c].cap);
			int64_t hi = -1;
			for (int s = 0; s < BACKOFF_SAMPLES; s++) {
				int64_t v = tm_backoff_ms(attempt, cfg[c].base, cfg[c].cap);
				assert_true(v >= 0 && v <= ceiling);
				if (v > hi)
					hi = v;
			}
			/* jitter spreads over the whole range, not a fixed step */
			if (ceiling >= 4)
				assert_true(hi >= ceiling / 2);
		}
}

static void test_backoff_attempt_zero_is_within_base(void **state)
{
	for (int s = 0; s < BACKOFF_SAMPLES; s++) {
		int64_t v = tm_backoff_ms(0, 100, 10000);
		assert_true(v >= 0 && v <= 100);
	}
}

static void test_backoff_with_zero_base_or_cap_is_zero(void **state)
{
	assert_int_equal(tm_backoff_ms(0, 0, 1000), 0);
	assert_int_equal(tm_backoff_ms(10, 0, 1000), 0);
	assert_int_equal(tm_backoff_ms(3, 100, 0), 0);
}

/* Exit status of the huge-cap check below: 0 ok, 10 a negative delay, 11 no growth. */
static int backoff_huge_cap_status(void)
{
	static const int attempts[] = {50, 53, 54, 60, 63, 64, 100, 1000};

	for (size_t a = 0; a < TM_ARRAY_LEN(attempts); a++) {
		int64_t hi = 0;
		for (int s = 0; s < 50; s++) {
			int64_t v = tm_backoff_ms(attempts[a], 1000, INT64_MAX);
			if (v < 0)
				return 10;
			if (v > hi)
				hi = v;
		}
		if (hi <= INT64_C(1) << 40)
			return 11;
	}
	return 0;
}

/*
 * A large cap must not overflow base * 2^attempt (signed overflow is undefined;
 * in practice the delay collapses to 0). Run in a child process so that the
 * sanitizer build, which stops at undefined behaviour, fails only this test.
 */
static void test_backoff_with_a_huge_cap_does_not_overflow(void **state)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		_exit(backoff_huge_cap_status());
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("tm_backoff_ms(attempt >= 54, 1000, INT64_MAX) died of signal %d",
			 WTERMSIG(status));
	assert_true(WIFEXITED(status));
	switch (WEXITSTATUS(status)) {
	case 0:
		break;
	case 10:
		fail_msg("tm_backoff_ms(attempt >= 54, 1000, INT64_MAX) returned a negative delay");
		break;
	case 11:
		fail_msg(
			"tm_backoff_ms(attempt >= 54, 1000, INT64_MAX) stopped growing (overflow)");
		break;
	default:
		fail_msg("tm_backoff_ms(attempt >= 54, 1000, INT64_MAX) exited %d (sanitizer "
			 "report above)",
			 WEXITSTATUS(status));
	}
}

/* ---- UTF-8 ------------------------------------------------------------------------- */

static void test_utf8_valid_accepts_well_formed_text(void **state)
{
	static const char *const ok[] = {
		"",
		"plain ascii",
		"\x7f",
		"\xc2\x80",	     /* U+0080, first two-byte */
		"\xdf\xbf",	     /* U+07FF */
		"\xc3\xa9t\xc3\xa9", /* été */
		"\xe0\xa0\x80",	     /* U+0800, first three-byte */
		"\xe2\x82\xac",	     /* € */
		"\xed\x9f\xbf",	     /* U+D7FF, before the surrogates */
		"\xee\x80\x80",	     /* U+E000, after them */
		"\xef\xbf\xbf",	     /* U+FFFF */
		"\xf0\x90\x80\x80",  /* U+10000, first four-byte */
		"\xf0\x9f\x98\x80",  /* 😀 */
		"\xf4\x8f\xbf\xbf",  /* U+10FFFF, the last code point */
		"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z",
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++)
		assert_true(tm_utf8_valid(ok[i], strlen(ok[i])));
	assert_true(tm_utf8_valid("a\0b", 3)); /* NUL is a code point */
}

static void test_utf8_valid_refuses_malformed_text(void **state)
{
	static const char *const bad[] = {
		"\x80", /* lone continuation */
		"\xbf",
		"a\x80z",
		"\xc0\x80",		    /* overlong NUL */
		"\xc1\xbf",		    /* overlong U+007F */
		"\xe0\x80\x80",		    /* overlong */
		"\xe0\x9f\xbf",		    /* overlong U+07FF */
		"\xf0\x80\x80\x80",	    /* overlong */
		"\xf0\x8f\xbf\xbf",	    /* overlong U+FFFF */
		"\xed\xa0\x80",		    /* U+D800 */
		"\xed\xbf\xbf",		    /* U+DFFF */
		"\xed\xa0\xbd\xed\xb8\x80", /* a CESU-8 surrogate pair */
		"\xf4\x90\x80\x80",	    /* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf7\xbf\xbf\xbf",
		"\xf8\x88\x80\x80\x80", /* five-byte form */
		"\xfc\x84\x80\x80\x80\x80",
		"\xfe",
		"\xff",
		"\xc3", /* truncated at the end */
		"\xe2\x82",
		"\xf0\x9f\x98",
		"a\xc3",
		"\xc3\x61", /* lead byte then ASCII 'a' */
		"\xe2\x82\x61",
		"\xf0\x9f\x98\x61",
		"\xc3\xc3\xa9",	    /* lead then lead */
		"\xe2\x82\xac\x82", /* one continuation too many */
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_false(tm_utf8_valid(bad[i], strlen(bad[i])));
}

static void test_utf8_valid_respects_the_length(void **state)
{
	/* the first 2 bytes of € are a truncated sequence even though more follow */
	assert_false(tm_utf8_valid("\xe2\x82\xac", 2));
	assert_true(tm_utf8_valid("ab\xff", 2));
	assert_true(tm_utf8_valid("\xff", 0));
}

static void test_utf8_len_counts_code_points(void **state)
{
	assert_int_equal(tm_utf8_len("", 0), 0);
	assert_int_equal(tm_utf8_len("abc", 3), 3);
	assert_int_equal(tm_utf8_len("\xc3\xa9", 2), 1);
	assert_int_equal(tm_utf8_len("\xe2\x82\xac", 3), 1);
	assert_int_equal(tm_utf8_len("\xf0\x9f\x98\x80", 4), 1);
	assert_int_equal(tm_utf8_len("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 11), 5);
	assert_int_equal(tm_utf8_len("h\xc3\xa9llo", 3), 2); /* only the first len bytes */
	assert_int_equal(tm_utf8_len("a\0b", 3), 3);
}

/* ---- base64url ------------------------------------------------------------------------ */

static const struct {
	const char *plain, *encoded;
} rfc4648[] = {
	{"", ""},	    {"f", "Zg"},	  {"fo", "Zm8"},	  {"foo", "Zm9v"},
	{"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_base64url_encodes_rfc4648_vectors_without_padding(void **state)
{
	char out[32];

	for (size_t i = 0; i < TM_ARRAY_LEN(rfc4648); i++) {
		memset(out, 'X', sizeof(out));
		int n = tm_base64url_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), out,
					    sizeof(out));
		assert_int_equal(n, (int)strlen(rfc4648[i].encoded));
		assert_string_equal(out, rfc4648[i].encoded);
	}
}

static void test_base64url_decodes_rfc4648_vectors(void **state)
{
	char out[32];

	for (size_t i = 0; i < TM_ARRAY_LEN(rfc4648); i++) {
		int n = tm_base64url_decode(rfc4648[i].encoded, strlen(rfc4648[i].encoded), out,
					    sizeof(out));
		assert_int_equal(n, (int)strlen(rfc4648[i].plain));
		assert_memory_equal(out, rfc4648[i].plain, (size_t)n);
	}
}

static void test_base64url_uses_the_url_safe_alphabet(void **state)
{
	static const unsigned char raw[] = {0xfb, 0xff, 0xbf};
	char out[8];
	unsigned char back[8];

	assert_int_equal(tm_base64url_encode(raw, 3, out, sizeof(out)), 4);
	assert_string_equal(out, "-_-_");
	assert_int_equal(tm_base64url_encode(raw, 2, out, sizeof(out)), 3);
	assert_string_equal(out, "-_8");
	assert_int_equal(tm_base64url_decode("-_-_", 4, back, sizeof(back)), 3);
	assert_memory_equal(back, raw, 3);
	/* the standard alphabet's + and / are not base64url */
	assert_int_equal(tm_base64url_decode("+/+/", 4, back, sizeof(back)), -1);
	assert_int_equal(tm_base64url_decode("+/8", 3, back, sizeof(back)), -1);
}

static void test_base64url_round_trips_random_bytes_of_0_to_100(void **state)
{
	unsigned char raw[100], back[100];
	char enc[200];

	for (size_t len = 0; len <= 100; len++) {
		assert_int_equal(tm_random_bytes(raw, sizeof(raw)), 0);
		int n = tm_base64url_encode(raw, len, enc, sizeof(enc));
		assert_int_equal(n, (int)((len * 4 + 2) / 3));
		assert_int_equal(strlen(enc), (size_t)n);
		assert_null(strchr(enc, '='));
		memset(back, 0, sizeof(back));
		assert_int_equal(tm_base64url_decode(enc, (size_t)n, back, sizeof(back)), (int)len);
		assert_memory_equal(back, raw, len);
	}
}

static void test_base64url_decode_refuses_invalid_characters(void **state)
{
	static const char *const bad[] = {"Zm9v!", "Zm 9v",	 "Zm9v\n", "Zm9v YmFy",
					  "Zm.v",  "Zm\xc3\xa9", "Zm9v+g"};
	unsigned char out[32];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_int_equal(tm_base64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

static void test_base64url_decode_refuses_padding(void **state)
{
	unsigned char out[32];

	assert_int_equal(tm_base64url_decode("Zg==", 4, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm8=", 4, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm9vYg==", 8, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zg=", 3, out, sizeof(out)), -1);
}

static void test_base64url_decode_refuses_length_one_mod_four(void **state)
{
	unsigned char out[32];

	assert_int_equal(tm_base64url_decode("Z", 1, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("A", 1, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm9vY", 5, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm9vYmFyA", 9, out, sizeof(out)), -1);
}

static void test_base64url_decode_refuses_non_canonical_trailing_bits(void **state)
{
	unsigned char out[32];

	assert_int_equal(tm_base64url_decode("Zh", 2, out, sizeof(out)), -1); /* "Zg" */
	assert_int_equal(tm_base64url_decode("Zv", 2, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm9", 3, out, sizeof(out)), -1); /* "Zm8" */
	assert_int_equal(tm_base64url_decode("Zm-", 3, out, sizeof(out)), -1);
	assert_int_equal(tm_base64url_decode("Zm9vYh", 6, out, sizeof(out)), -1);
	/* the canonical forms next to them decode */
	assert_int_equal(tm_base64url_decode("Zg", 2, out, sizeof(out)), 1);
	assert_int_equal(tm_base64url_decode("Zm8", 3, out, sizeof(out)), 2);
}

static void test_base64url_empty_input_decodes_to_nothing(void **state)
{
	unsigned char out[1];
	assert_int_equal(tm_base64url_decode("", 0, out, sizeof(out)), 0);
	assert_int_equal(tm_base64url_decode("", 0, out, 0), 0);
}

static void test_base64url_encode_output_too_small_is_refused(void **state)
{
	char out[16];

	/* "foobar" needs 8 characters and the NUL */
	memset(out, 'X', sizeof(out));
	assert_int_equal(tm_base64url_encode("foobar", 6, out, 8), -1);
	assert_int_equal(out[8], 'X');
	assert_int_equal(tm_base64url_encode("foobar", 6, out, 9), 8);
	assert_string_equal(out, "Zm9vYmFy");
	assert_int_equal(tm_base64url_encode("fooba", 5, out, 7), -1);
	assert_int_equal(tm_base64url_encode("fooba", 5, out, 8), 7);
	assert_int_equal(tm_base64url_encode("", 0, out, 0), -1);
	assert_int_equal(tm_base64url_encode("", 0, out, 1), 0);
	assert_string_equal(out, "");
}

static void test_base64url_decode_output_too_small_is_refused(void **state)
{
	unsigned char out[16];

	assert_int_equal(tm_base64url_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(tm_base64url_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(tm_base64url_decode("Zm9vYmE", 7, out, 4), -1);
	assert_int_equal(tm_base64url_decode("Zm9vYmE", 7, out, 5), 5);
	assert_int_equal(tm_base64url_decode("Zg", 2, out, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_v4_has_canonical_form_version_and_variant),
		cmocka_unit_test(test_uuid_v4_gives_1000_distinct_values),
		cmocka_unit_test(test_uuid_valid_accepts_canonical_forms),
		cmocka_unit_test(test_uuid_valid_refuses_other_forms),
		cmocka_unit_test(test_rfc3339_formats_utc_with_milliseconds),
		cmocka_unit_test(test_parse_rfc3339_round_trips_formatted_times),
		cmocka_unit_test(test_parse_rfc3339_z_and_offsets),
		cmocka_unit_test(test_parse_rfc3339_fractional_seconds_of_1_to_9_digits),
		cmocka_unit_test(test_parse_rfc3339_refuses_bad_fractions),
		cmocka_unit_test(test_parse_rfc3339_leap_day_rules),
		cmocka_unit_test(test_parse_rfc3339_refuses_invalid_fields),
		cmocka_unit_test(test_parse_rfc3339_month_ends_are_valid),
		cmocka_unit_test(test_parse_rfc3339_refuses_malformed_text),
		cmocka_unit_test(test_parse_rfc3339_leap_second_does_not_reach_the_next_minute),
		cmocka_unit_test(test_parse_int64_accepts_whole_decimals),
		cmocka_unit_test(test_parse_int64_is_strict),
		cmocka_unit_test(test_sha256_hex_known_answers),
		cmocka_unit_test(test_sha256_hex_covers_bytes_after_a_nul),
		cmocka_unit_test(test_backoff_stays_within_zero_and_the_capped_ceiling),
		cmocka_unit_test(test_backoff_attempt_zero_is_within_base),
		cmocka_unit_test(test_backoff_with_zero_base_or_cap_is_zero),
		cmocka_unit_test(test_backoff_with_a_huge_cap_does_not_overflow),
		cmocka_unit_test(test_utf8_valid_accepts_well_formed_text),
		cmocka_unit_test(test_utf8_valid_refuses_malformed_text),
		cmocka_unit_test(test_utf8_valid_respects_the_length),
		cmocka_unit_test(test_utf8_len_counts_code_points),
		cmocka_unit_test(test_base64url_encodes_rfc4648_vectors_without_padding),
		cmocka_unit_test(test_base64url_decodes_rfc4648_vectors),
		cmocka_unit_test(test_base64url_uses_the_url_safe_alphabet),
		cmocka_unit_test(test_base64url_round_trips_random_bytes_of_0_to_100),
		cmocka_unit_test(test_base64url_decode_refuses_invalid_characters),
		cmocka_unit_test(test_base64url_decode_refuses_padding),
		cmocka_unit_test(test_base64url_decode_refuses_length_one_mod_four),
		cmocka_unit_test(test_base64url_decode_refuses_non_canonical_trailing_bits),
		cmocka_unit_test(test_base64url_empty_input_decodes_to_nothing),
		cmocka_unit_test(test_base64url_encode_output_too_small_is_refused),
		cmocka_unit_test(test_base64url_decode_output_too_small_is_refused),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
