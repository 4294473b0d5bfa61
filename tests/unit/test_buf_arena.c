/*
 * tm_buf (growth, printf, JSON string escaping, steal, the failed state) and
 * tm_arena (alignment, zeroing, the limit, reset, strings, protobuf allocator).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "taskmesh/v1/projects.pb-c.h"
#include "tm/arena.h"
#include "tm/buf.h"
#include "tm/util.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- tm_buf ------------------------------------------------------------------------ */

static void test_new_buffer_is_empty(void **state)
{
	struct tm_buf b;

	memset(&b, 0x55, sizeof(b));
	tm_buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_false(b.failed);
	tm_buf_free(&b); /* freeing an empty buffer is fine */
	assert_null(b.data);
}

static void test_append_grows_past_256_bytes_one_byte_at_a_time(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	for (int i = 0; i < 1000; i++) {
		tm_buf_putc(&b, (char)('a' + i % 26));
		assert_int_equal(b.len, (size_t)i + 1);
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], '\0');
	}
	for (int i = 0; i < 1000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_false(b.failed);
	tm_buf_free(&b);
}

static void test_append_exactly_fills_and_then_grows(void **state)
{
	struct tm_buf b;
	char chunk[256];

	memset(chunk, 'x', sizeof(chunk));
	tm_buf_init(&b);
	tm_buf_append(&b, chunk, 255); /* 255 + NUL fills 256 */
	assert_int_equal(b.len, 255);
	assert_true(b.cap >= 256);
	tm_buf_append(&b, chunk, 1);
	assert_int_equal(b.len, 256);
	assert_true(b.cap >= 257);
	assert_int_equal(b.data[256], '\0');
	assert_int_equal(strspn(b.data, "x"), 256);
	tm_buf_free(&b);
}

static void test_append_grows_past_64_kib(void **state)
{
	struct tm_buf b;
	size_t total = 64 * KIB + 4000;
	char *big = malloc(total);

	assert_non_null(big);
	for (size_t i = 0; i < total; i++)
		big[i] = (char)(i * 7 + 3);
	tm_buf_init(&b);
	for (size_t off = 0; off < total; off += 1000)
		tm_buf_append(&b, big + off, total - off < 1000 ? total - off : 1000);
	assert_false(b.failed);
	assert_int_equal(b.len, total);
	assert_true(b.cap > total);
	assert_memory_equal(b.data, big, total);
	assert_int_equal(b.data[total], '\0');

	/* one append much larger than the current capacity */
	tm_buf_reset(&b);
	tm_buf_puts(&b, "head:");
	tm_buf_append(&b, big, total);
	assert_int_equal(b.len, 5 + total);
	assert_memory_equal(b.data, "head:", 5);
	assert_memory_equal(b.data + 5, big, total);
	tm_buf_free(&b);
	free(big);
}

static void test_append_of_zero_bytes_keeps_the_buffer(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_puts(&b, "abc");
	tm_buf_append(&b, NULL, 0);
	tm_buf_puts(&b, "");
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	tm_buf_free(&b);
}

static void test_append_keeps_embedded_nul_bytes(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_append(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 4);
	tm_buf_free(&b);
}

static void test_printf_formats_and_appends(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_puts(&b, "n=");
	tm_buf_printf(&b, "%d,%s,%lld", 42, "x", (long long)INT64_MIN);
	assert_string_equal(b.data, "n=42,x,-9223372036854775808");
	assert_int_equal(b.len, strlen(b.data));
	tm_buf_printf(&b, "%s", "");
	assert_int_equal(b.len, strlen("n=42,x,-9223372036854775808"));
	tm_buf_free(&b);
}

/* printf goes through a 256-byte scratch buffer first: test both sides of it. */
static void test_printf_around_the_256_byte_scratch_size(void **state)
{
	static const size_t sizes[] = {254, 255, 256, 257, 300, 4096};
	char *s = malloc(5000);

	assert_non_null(s);
	for (size_t k = 0; k < TM_ARRAY_LEN(sizes); k++) {
		struct tm_buf b;
		memset(s, 'q', sizes[k]);
		s[sizes[k]] = '\0';
		s[0] = '<';
		s[sizes[k] - 1] = '>';
		tm_buf_init(&b);
		tm_buf_puts(&b, "pre");
		tm_buf_printf(&b, "%s", s);
		tm_buf_puts(&b, "post");
		assert_false(b.failed);
		assert_int_equal(b.len, 3 + sizes[k] + 4);
		assert_memory_equal(b.data, "pre", 3);
		assert_memory_equal(b.data + 3, s, sizes[k]);
		assert_string_equal(b.data + 3 + sizes[k], "post");
		tm_buf_free(&b);
	}
	free(s);
}

static void test_printf_grows_past_64_kib(void **state)
{
	struct tm_buf b;
	size_t n = 70000;
	char *s = malloc(n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('A' + i % 23);
	s[n] = '\0';
	tm_buf_init(&b);
	tm_buf_printf(&b, "[%s][%d]", s, 7);
	assert_false(b.failed);
	assert_int_equal(b.len, n + 5);
	assert_int_equal(b.data[0], '[');
	assert_memory_equal(b.data + 1, s, n);
	assert_string_equal(b.data + 1 + n, "][7]");
	tm_buf_free(&b);
	free(s);
}

static void test_reset_empties_but_keeps_the_allocation(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_puts(&b, "hello world");
	char *data = b.data;
	size_t cap = b.cap;
	tm_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_string_equal(b.data, "");
	tm_buf_puts(&b, "again");
	assert_string_equal(b.data, "again");
	tm_buf_free(&b);
}

static void test_reset_clears_the_failed_state(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	b.failed = true;
	tm_buf_reset(&b);
	assert_false(b.failed);
	tm_buf_puts(&b, "ok");
	assert_string_equal(b.data, "ok");
	tm_buf_free(&b);
}

static void test_failed_buffer_ignores_appends(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_puts(&b, "abc");
	b.failed = true;
	tm_buf_puts(&b, "def");
	tm_buf_putc(&b, 'g');
	tm_buf_printf(&b, "%d", 12345);
	tm_buf_printf(&b, "%300s", "x");
	tm_buf_json_str(&b, "h", 1);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	tm_buf_free(&b);
}

static void test_append_of_an_impossible_length_sets_failed(void **state)
{
	struct tm_buf b;
	char dummy = 'x';

	tm_buf_init(&b);
	tm_buf_puts(&b, "abc");
	tm_buf_append(&b, &dummy, SIZE_MAX / 2); /* refused before any copy */
	assert_true(b.failed);
	assert_int_equal(b.len, 3);
	tm_buf_puts(&b, "more");
	assert_int_equal(b.len, 3);
	tm_buf_free(&b);
}

static void test_steal_hands_over_the_data_and_empties_the_buffer(void **state)
{
	struct tm_buf b;
	size_t len = 0;

	tm_buf_init(&b);
	tm_buf_puts(&b, "payload");
	char *p = tm_buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 7);
	assert_string_equal(p, "payload");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_false(b.failed);
	tm_buf_puts(&b, "new"); /* the buffer is usable again */
	assert_string_equal(b.data, "new");
	tm_buf_free(&b);
	free(p);
}

static void test_steal_of_an_empty_buffer_gives_an_empty_string(void **state)
{
	struct tm_buf b;
	size_t len = 99;

	tm_buf_init(&b);
	char *p = tm_buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	char first = p[0];
	free(p);
	assert_int_equal(first, '\0'); /* a C string, not uninitialized bytes */

	tm_buf_init(&b);
	p = tm_buf_steal(&b, NULL); /* len is optional */
	assert_non_null(p);
	free(p);
}

static void test_steal_of_a_failed_buffer_is_null_and_frees(void **state)
{
	struct tm_buf b;
	size_t len = 99;

	tm_buf_init(&b);
	tm_buf_puts(&b, "partial");
	b.failed = true;
	assert_null(tm_buf_steal(&b, &len));
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_false(b.failed);
}

/* The escape the JSON writer must produce for byte c (of a one-byte string). */
static const char *expected_escape(unsigned char c, char tmp[8])
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(tmp, 8, "\\u%04x", c);
		return tmp;
	}
	tmp[0] = (char)c;
	tmp[1] = '\0';
	return tmp;
}

static void test_json_str_escapes_every_control_character(void **state)
{
	for (int c = 0; c < 0x80; c++) {
		struct tm_buf b;
		char tmp[8], want[16];
		char in = (char)c;

		snprintf(want, sizeof(want), "\"%s\"", expected_escape((unsigned char)c, tmp));
		tm_buf_init(&b);
		tm_buf_json_str(&b, &in, 1);
		assert_int_equal(b.len, strlen(want));
		assert_string_equal(b.data, want);
		for (size_t i = 0; i < b.len; i++)
			assert_true((unsigned char)b.data[i] >= 0x20);
		tm_buf_free(&b);
	}
}

static void test_json_str_of_all_ascii_parses_back_to_the_same_bytes(void **state)
{
	char in[128];
	struct tm_buf b;

	for (int c = 0; c < 128; c++)
		in[c] = (char)(c == 0 ? 1 : c); /* cJSON strings stop at NUL */
	tm_buf_init(&b);
	tm_buf_json_str(&b, in, sizeof(in));
	cJSON *j = cJSON_Parse(b.data);
	assert_non_null(j);
	assert_true(cJSON_IsString(j));
	assert_int_equal(strlen(j->valuestring), sizeof(in));
	assert_memory_equal(j->valuestring, in, sizeof(in));
	cJSON_Delete(j);
	tm_buf_free(&b);
}

static void test_json_str_keeps_utf8_and_slashes_and_escapes_nul(void **state)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_json_str(&b, "caf\xc3\xa9 / \xf0\x9f\x98\x80 a\0b", 16);
	assert_string_equal(b.data, "\"caf\xc3\xa9 / \xf0\x9f\x98\x80 a\\u0000b\"");
	tm_buf_reset(&b);
	tm_buf_json_str(&b, "", 0);
	assert_string_equal(b.data, "\"\"");
	tm_buf_reset(&b);
	tm_buf_json_str(&b, "say \"hi\"\r\n", 10);
	assert_string_equal(b.data, "\"say \\\"hi\\\"\\r\\n\"");
	tm_buf_free(&b);
}

static void test_json_str_of_a_long_string_grows_correctly(void **state)
{
	struct tm_buf b;
	size_t n = 70000;
	char *s = malloc(n);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = i % 10 == 0 ? '\n' : 'z';
	tm_buf_init(&b);
	tm_buf_json_str(&b, s, n);
	assert_false(b.failed);
	assert_int_equal(b.len, 2 + n + n / 10);
	cJSON *j = cJSON_Parse(b.data);
	assert_non_null(j);
	assert_memory_equal(j->valuestring, s, n);
	cJSON_Delete(j);
	tm_buf_free(&b);
	free(s);
}

/* ---- tm_arena ------------------------------------------------------------------------ */

static void test_arena_allocations_are_16_byte_aligned(void **state)
{
	struct tm_arena *a = tm_arena_new(0);

	assert_non_null(a);
	for (size_t size = 1; size <= 200; size++) {
		void *p = tm_arena_alloc(a, size);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
	}
	void *big = tm_arena_alloc(a, 100000); /* its own block */
	assert_non_null(big);
	assert_int_equal((uintptr_t)big % 16, 0);
	tm_arena_free(a);
}

static void test_arena_memory_is_zeroed_even_when_reused(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	unsigned char zero[1000] = {0};

	assert_non_null(a);
	unsigned char *p = tm_arena_alloc(a, sizeof(zero));
	assert_non_null(p);
	assert_memory_equal(p, zero, sizeof(zero));
	memset(p, 0xa5, sizeof(zero));
	tm_arena_reset(a);
	unsigned char *q = tm_arena_alloc(a, sizeof(zero));
	assert_ptr_equal(q, p); /* the first block is reused */
	assert_memory_equal(q, zero, sizeof(zero));
	tm_arena_free(a);
}

static void test_arena_allocations_do_not_overlap(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	enum { N = 5000, SIZE = 24 };
	unsigned char **p = calloc(N, sizeof(*p));

	assert_non_null(a);
	assert_non_null(p);
	for (int i = 0; i < N; i++) { /* spans many blocks */
		p[i] = tm_arena_alloc(a, SIZE);
		assert_non_null(p[i]);
		memset(p[i], i & 0xff, SIZE);
	}
	for (int i = 0; i < N; i++)
		for (int k = 0; k < SIZE; k++)
			assert_int_equal(p[i][k], i & 0xff);
	assert_int_equal(tm_arena_used(a), (size_t)N * 32); /* 24 rounds up to 32 */
	free(p);
	tm_arena_free(a);
}

static void test_arena_limit_is_enforced(void **state)
{
	struct tm_arena *a = tm_arena_new(1024);

	assert_non_null(a);
	assert_null(tm_arena_alloc(a, 1025));
	assert_int_equal(tm_arena_used(a), 0);
	assert_non_null(tm_arena_alloc(a, 1000)); /* rounds to 1008 */
	assert_int_equal(tm_arena_used(a), 1008);
	assert_null(tm_arena_alloc(a, 17));
	assert_non_null(tm_arena_alloc(a, 16)); /* exactly to the limit */
	assert_int_equal(tm_arena_used(a), 1024);
	assert_null(tm_arena_alloc(a, 1));
	assert_int_equal(tm_arena_used(a), 1024);
	tm_arena_free(a);
}

static void test_arena_refuses_sizes_that_overflow(void **state)
{
	struct tm_arena *a = tm_arena_new(0);

	assert_non_null(a);
	assert_null(tm_arena_alloc(a, SIZE_MAX));
	assert_null(tm_arena_alloc(a, SIZE_MAX - 8));
	assert_null(tm_arena_alloc(a, SIZE_MAX / 2));
	assert_int_equal(tm_arena_used(a), 0);
	assert_non_null(tm_arena_alloc(a, 1)); /* still usable */
	tm_arena_free(a);
}

static void test_arena_default_limit_is_64_mib(void **state)
{
	struct tm_arena *a = tm_arena_new(0);

	assert_non_null(a);
	assert_null(tm_arena_alloc(a, 64 * MIB + 1));
	assert_non_null(tm_arena_alloc(a, 32 * MIB));
	assert_non_null(tm_arena_alloc(a, 32 * MIB));
	assert_int_equal(tm_arena_used(a), 64 * MIB);
	assert_null(tm_arena_alloc(a, 1));
	tm_arena_free(a);
}

static void test_arena_reset_forgets_everything_and_keeps_working(void **state)
{
	struct tm_arena *a = tm_arena_new(64 * KIB);

	assert_non_null(a);
	for (int round = 0; round < 5; round++) {
		size_t got = 0;
		while (tm_arena_alloc(a, 1000) != NULL) /* fill to the limit, many blocks */
			got++;
		assert_int_equal(got, (64 * KIB) / 1008);
		assert_int_equal(tm_arena_used(a), got * 1008);
		tm_arena_reset(a);
		assert_int_equal(tm_arena_used(a), 0);
	}
	char *s = tm_arena_strdup(a, "after reset");
	assert_string_equal(s, "after reset");
	tm_arena_free(a);
}

static void test_arena_reset_of_an_unused_arena(void **state)
{
	struct tm_arena *a = tm_arena_new(0);

	assert_non_null(a);
	tm_arena_reset(a);
	assert_int_equal(tm_arena_used(a), 0);
	assert_non_null(tm_arena_alloc(a, 10));
	tm_arena_free(a);
	tm_arena_free(NULL);
}

static void test_arena_strdup_strndup_and_printf(void **state)
{
	struct tm_arena *a = tm_arena_new(0);

	assert_non_null(a);
	assert_string_equal(tm_arena_strdup(a, "hello"), "hello");
	assert_string_equal(tm_arena_strdup(a, ""), "");
	assert_string_equal(tm_arena_strndup(a, "hello", 3), "hel");
	assert_string_equal(tm_arena_strndup(a, "hello", 0), "");
	char *p = tm_arena_printf(a, "%s-%d-%05.1f", "id", -7, 3.14159);
	assert_string_equal(p, "id--7-003.1");
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_string_equal(tm_arena_printf(a, "%s", ""), "");

	char *big = malloc(20001);
	assert_non_null(big);
	memset(big, 'w', 20000);
	big[20000] = '\0';
	char *copy = tm_arena_printf(a, "<%s>", big);
	assert_non_null(copy);
	assert_int_equal(strlen(copy), 20002);
	assert_memory_equal(copy + 1, big, 20000);
	free(big);
	tm_arena_free(a);
}

static void test_arena_strings_past_the_limit_are_null(void **state)
{
	struct tm_arena *a = tm_arena_new(32);

	assert_non_null(a);
	assert_null(tm_arena_strdup(a, "0123456789012345678901234567890123456789"));
	assert_null(tm_arena_printf(a, "%040d", 1));
	assert_non_null(tm_arena_strdup(a, "0123456789012345678901234567890")); /* 31 + NUL */
	assert_null(tm_arena_strdup(a, ""));
	tm_arena_free(a);
}

/* Pack a request, then unpack it with the arena's allocator. */
static size_t pack_request(uint8_t **out)
{
	Taskmesh__V1__CreateProjectRequest req;

	taskmesh__v1__create_project_request__init(&req);
	req.title = "Build a marketplace";
	req.description = "Escrow, milestones and a chat";
	req.currency = "EUR";
	req.budget_cap_case = TASKMESH__V1__CREATE_PROJECT_REQUEST__BUDGET_CAP_BUDGET_CAP_CENTS;
	req.budget_cap_cents = 1250000;
	size_t n = taskmesh__v1__create_project_request__get_packed_size(&req);
	*out = malloc(n);
	assert_non_null(*out);
	assert_int_equal(taskmesh__v1__create_project_request__pack(&req, *out), n);
	return n;
}

static void test_pb_allocator_unpacks_into_the_arena(void **state)
{
	struct tm_arena *a = tm_arena_new(0);
	uint8_t *buf;
	size_t n = pack_request(&buf);

	assert_non_null(a);
	ProtobufCAllocator al = tm_arena_pb_allocator(a);
	Taskmesh__V1__CreateProjectRequest *r =
		taskmesh__v1__create_project_request__unpack(&al, n, buf);
	assert_non_null(r);
	assert_string_equal(r->title, "Build a marketplace");
	assert_string_equal(r->description, "Escrow, milestones and a chat");
	assert_string_equal(r->currency, "EUR");
	assert_int_equal(r->budget_cap_cents, 1250000);
	assert_true(tm_arena_used(a) >= sizeof(*r) + strlen(r->title) + 1);
	size_t used = tm_arena_used(a);
	taskmesh__v1__create_project_request__free_unpacked(r, &al); /* free is a no-op */
	assert_int_equal(tm_arena_used(a), used);
	assert_string_equal(r->title, "Build a marketplace"); /* still readable */
	free(buf);
	tm_arena_free(a); /* everything goes with the arena */
}

static void test_pb_allocator_at_the_limit_makes_unpack_fail(void **state)
{
	struct tm_arena *a = tm_arena_new(32);
	uint8_t *buf;
	size_t n = pack_request(&buf);

	assert_non_null(a);
	ProtobufCAllocator al = tm_arena_pb_allocator(a);
	assert_null(taskmesh__v1__create_project_request__unpack(&al, n, buf));
	free(buf);
	tm_arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_buffer_is_empty),
		cmocka_unit_test(test_append_grows_past_256_bytes_one_byte_at_a_time),
		cmocka_unit_test(test_append_exactly_fills_and_then_grows),
		cmocka_unit_test(test_append_grows_past_64_kib),
		cmocka_unit_test(test_append_of_zero_bytes_keeps_the_buffer),
		cmocka_unit_test(test_append_keeps_embedded_nul_bytes),
		cmocka_unit_test(test_printf_formats_and_appends),
		cmocka_unit_test(test_printf_around_the_256_byte_scratch_size),
		cmocka_unit_test(test_printf_grows_past_64_kib),
		cmocka_unit_test(test_reset_empties_but_keeps_the_allocation),
		cmocka_unit_test(test_reset_clears_the_failed_state),
		cmocka_unit_test(test_failed_buffer_ignores_appends),
		cmocka_unit_test(test_append_of_an_impossible_length_sets_failed),
		cmocka_unit_test(test_steal_hands_over_the_data_and_empties_the_buffer),
		cmocka_unit_test(test_steal_of_an_empty_buffer_gives_an_empty_string),
		cmocka_unit_test(test_steal_of_a_failed_buffer_is_null_and_frees),
		cmocka_unit_test(test_json_str_escapes_every_control_character),
		cmocka_unit_test(test_json_str_of_all_ascii_parses_back_to_the_same_bytes),
		cmocka_unit_test(test_json_str_keeps_utf8_and_slashes_and_escapes_nul),
		cmocka_unit_test(test_json_str_of_a_long_string_grows_correctly),
		cmocka_unit_test(test_arena_allocations_are_16_byte_aligned),
		cmocka_unit_test(test_arena_memory_is_zeroed_even_when_reused),
		cmocka_unit_test(test_arena_allocations_do_not_overlap),
		cmocka_unit_test(test_arena_limit_is_enforced),
		cmocka_unit_test(test_arena_refuses_sizes_that_overflow),
		cmocka_unit_test(test_arena_default_limit_is_64_mib),
		cmocka_unit_test(test_arena_reset_forgets_everything_and_keeps_working),
		cmocka_unit_test(test_arena_reset_of_an_unused_arena),
		cmocka_unit_test(test_arena_strdup_strndup_and_printf),
		cmocka_unit_test(test_arena_strings_past_the_limit_are_null),
		cmocka_unit_test(test_pb_allocator_unpacks_into_the_arena),
		cmocka_unit_test(test_pb_allocator_at_the_limit_makes_unpack_fail),
	};
	return cmocka_run_group_tests_name("buf_arena", tests, NULL, NULL);
}
