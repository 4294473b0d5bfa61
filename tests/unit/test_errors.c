/*
 * The error-code table: every code's wire name and HTTP status as API.md fixes
 * them, name <-> code round trips, and the fallbacks for unknown input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tm/errors.h"
#include "tm/util.h"

/* The contract: API.md's table plus the transport codes the gateway adds. */
static const struct {
	enum tm_code code;
	const char *name;
	int http_status;
} want[] = {
	{TM_OK, "OK", 200},
	{TM_E_VALIDATION_FAILED, "VALIDATION_FAILED", 400},
	{TM_E_UNAUTHENTICATED, "UNAUTHENTICATED", 401},
	{TM_E_FORBIDDEN, "FORBIDDEN", 403},
	{TM_E_NOT_FOUND, "NOT_FOUND", 404},
	{TM_E_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 405},
	{TM_E_CONFLICT, "CONFLICT", 409},
	{TM_E_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", 413},
	{TM_E_URI_TOO_LONG, "URI_TOO_LONG", 414},
	{TM_E_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", 415},
	{TM_E_IDEMPOTENCY_KEY_REUSED, "IDEMPOTENCY_KEY_REUSED", 422},
	{TM_E_RATE_LIMITED, "RATE_LIMITED", 429},
	{TM_E_HEADERS_TOO_LARGE, "HEADERS_TOO_LARGE", 431},
	{TM_E_INTERNAL, "INTERNAL", 500},
	{TM_E_UPSTREAM_FAILED, "UPSTREAM_FAILED", 502},
	{TM_E_SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", 503},
};

static void test_every_code_is_covered_by_this_test(void **state)
{
	/* a new code must be added to `want` (and to API.md) */
	assert_int_equal(TM_E__COUNT, TM_ARRAY_LEN(want));
	for (size_t i = 0; i < TM_ARRAY_LEN(want); i++)
		assert_int_equal(want[i].code, (int)i);
}

static void test_api_md_status_pairs_are_exact(void **state)
{
	assert_int_equal(tm_code_info(TM_E_VALIDATION_FAILED)->http_status, 400);
	assert_int_equal(tm_code_info(TM_E_UNAUTHENTICATED)->http_status, 401);
	assert_int_equal(tm_code_info(TM_E_FORBIDDEN)->http_status, 403);
	assert_int_equal(tm_code_info(TM_E_NOT_FOUND)->http_status, 404);
	assert_int_equal(tm_code_info(TM_E_CONFLICT)->http_status, 409);
	assert_int_equal(tm_code_info(TM_E_PAYLOAD_TOO_LARGE)->http_status, 413);
	assert_int_equal(tm_code_info(TM_E_IDEMPOTENCY_KEY_REUSED)->http_status, 422);
	assert_int_equal(tm_code_info(TM_E_RATE_LIMITED)->http_status, 429);
	assert_int_equal(tm_code_info(TM_E_SERVICE_UNAVAILABLE)->http_status, 503);
}

static void test_every_row_has_its_name_status_and_a_message(void **state)
{
	for (size_t i = 0; i < TM_ARRAY_LEN(want); i++) {
		const struct tm_code_info *ci = tm_code_info(want[i].code);
		assert_non_null(ci);
		assert_int_equal(ci->code, want[i].code);
		assert_string_equal(ci->name, want[i].name);
		assert_int_equal(ci->http_status, want[i].http_status);
		assert_non_null(ci->message);
		assert_true(strlen(ci->message) > 0);
	}
}

static void test_names_and_statuses_are_unique(void **state)
{
	for (int i = 0; i < TM_E__COUNT; i++)
		for (int k = i + 1; k < TM_E__COUNT; k++) {
			assert_string_not_equal(tm_code_info(i)->name, tm_code_info(k)->name);
			assert_int_not_equal(tm_code_info(i)->http_status,
					     tm_code_info(k)->http_status);
		}
}

static void test_name_to_code_round_trips_for_every_code(void **state)
{
	for (int i = 0; i < TM_E__COUNT; i++) {
		enum tm_code c = (enum tm_code) - 5;
		assert_int_equal(tm_code_from_name(tm_code_info(i)->name, &c), 0);
		assert_int_equal(c, i);
		assert_ptr_equal(tm_code_info(c), tm_code_info(i));
	}
}

static void test_unknown_name_is_refused(void **state)
{
	static const char *const bad[] = {"",
					  "validation_failed",
					  "VALIDATION_FAILED ",
					  " NOT_FOUND",
					  "NOT_FOUN",
					  "NOT_FOUNDX",
					  "ERROR",
					  "TM_OK",
					  "E_INTERNAL",
					  "400"};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		enum tm_code c = TM_E_CONFLICT;
		assert_int_equal(tm_code_from_name(bad[i], &c), -1);
		assert_int_equal(c, TM_E_CONFLICT); /* untouched */
	}
}

static void test_null_name_is_refused(void **state)
{
	enum tm_code c = TM_E_CONFLICT;
	assert_int_equal(tm_code_from_name(NULL, &c), -1);
	assert_int_equal(c, TM_E_CONFLICT);
}

static void test_out_of_range_code_gives_the_internal_row(void **state)
{
	const struct tm_code_info *internal = tm_code_info(TM_E_INTERNAL);

	assert_string_equal(internal->name, "INTERNAL");
	assert_int_equal(internal->http_status, 500);
	assert_ptr_equal(tm_code_info(TM_E__COUNT), internal);
	assert_ptr_equal(tm_code_info((enum tm_code)(TM_E__COUNT + 1)), internal);
	assert_ptr_equal(tm_code_info((enum tm_code) - 1), internal);
	assert_ptr_equal(tm_code_info((enum tm_code)1000000), internal);
	/* the last real code is still itself */
	assert_string_equal(tm_code_info(TM_E__COUNT - 1)->name, "SERVICE_UNAVAILABLE");
	assert_string_equal(tm_code_info(TM_OK)->name, "OK");
}

static void test_each_error_status_maps_back_to_its_code(void **state)
{
	for (size_t i = 1; i < TM_ARRAY_LEN(want); i++)
		assert_int_equal(tm_code_from_http_status(want[i].http_status), want[i].code);
}

static void test_success_statuses_map_to_ok(void **state)
{
	static const int ok[] = {200, 201, 202, 204, 301, 302, 304, 399};
	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++)
		assert_int_equal(tm_code_from_http_status(ok[i]), TM_OK);
}

static void test_unknown_error_statuses_map_to_internal(void **state)
{
	static const int unknown[] = {402, 406, 408, 410, 418, 499, 501, 504, 599, 600, 0, -1};
	for (size_t i = 0; i < TM_ARRAY_LEN(unknown); i++)
		assert_int_equal(tm_code_from_http_status(unknown[i]), TM_E_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_is_covered_by_this_test),
		cmocka_unit_test(test_api_md_status_pairs_are_exact),
		cmocka_unit_test(test_every_row_has_its_name_status_and_a_message),
		cmocka_unit_test(test_names_and_statuses_are_unique),
		cmocka_unit_test(test_name_to_code_round_trips_for_every_code),
		cmocka_unit_test(test_unknown_name_is_refused),
		cmocka_unit_test(test_null_name_is_refused),
		cmocka_unit_test(test_out_of_range_code_gives_the_internal_row),
		cmocka_unit_test(test_each_error_status_maps_back_to_its_code),
		cmocka_unit_test(test_success_statuses_map_to_ok),
		cmocka_unit_test(test_unknown_error_statuses_map_to_internal),
	};
	return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
