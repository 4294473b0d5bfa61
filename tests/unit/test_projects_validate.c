/*
 * tm-projects' rules (services/projects/project.c): validation and
 * normalization of CreateProjectRequest, list limits, status names.
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

#include "../../services/projects/project.h"
#include "tm/util.h"

#define NOW_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define MAX_ERRS 8
#define E_ACUTE "\xc3\xa9" /* é: one character, two bytes */

struct req {
	Taskmesh__V1__CreateProjectRequest in;
	struct new_project out;
	struct field_error errs[MAX_ERRS];
	int nerr;
};

static void set_str(char **field, const char *value)
{
	*field = strdup(value);
	assert_non_null(*field);
}

/* A valid request; strings are strdup'd because validation trims in place. */
static struct req *new_req(void)
{
	struct req *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	taskmesh__v1__create_project_request__init(&r->in);
	set_str(&r->in.title, "Build a marketplace");
	set_str(&r->in.description, "Escrow, milestones and a chat for small teams.");
	set_str(&r->in.currency, "");
	set_str(&r->in.deadline, "");
	return r;
}

static void free_req(struct req *r)
{
	free(r->in.title);
	free(r->in.description);
	free(r->in.currency);
	free(r->in.deadline);
	free(r);
}

static void replace(char **field, const char *value)
{
	free(*field);
	set_str(field, value);
}

/* A string of n copies of unit. */
static char *repeat(const char *unit, size_t n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * n + 1);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

static int validate(struct req *r)
{
	memset(r->errs, 0, sizeof(r->errs));
	r->nerr = project_validate_create(&r->in, NOW_MS, &r->out, r->errs, MAX_ERRS);
	return r->nerr;
}

/* Exactly one error, on `field`. */
static void assert_one_error(struct req *r, const char *field)
{
	assert_int_equal(validate(r), 1);
	assert_non_null(r->errs[0].field);
	assert_string_equal(r->errs[0].field, field);
	assert_non_null(r->errs[0].description);
	assert_true(strlen(r->errs[0].description) > 0);
}

/* ---- the valid request ------------------------------------------------------------------- */

static void test_valid_request_is_accepted_with_defaults(void **state)
{
	struct req *r = new_req();

	assert_int_equal(validate(r), 0);
	assert_string_equal(r->out.title, "Build a marketplace");
	assert_string_equal(r->out.description, "Escrow, milestones and a chat for small teams.");
	assert_false(r->out.has_budget_cap);
	assert_string_equal(r->out.currency, "USD");
	assert_false(r->out.has_deadline);
	free_req(r);
}

static void test_title_and_description_are_trimmed_in_place(void **state)
{
	struct req *r = new_req();

	replace(&r->in.title, " \t\n  Build a marketplace \r\n\v\f ");
	replace(&r->in.description, "\n\n  Escrow\n\nand chat  \t");
	assert_int_equal(validate(r), 0);
	assert_string_equal(r->out.title, "Build a marketplace");
	assert_string_equal(r->in.title, "Build a marketplace");
	assert_ptr_equal(r->out.title, r->in.title);
	assert_string_equal(r->out.description, "Escrow\n\nand chat"); /* inner whitespace kept */
	free_req(r);
}

static void test_project_trim_edges(void **state)
{
	char a[] = "", b[] = "   ", c[] = "x", d[] = "  x  y  ", e[] = "\t\r\n";

	assert_string_equal(project_trim(a), "");
	assert_string_equal(project_trim(b), "");
	assert_string_equal(project_trim(c), "x");
	assert_string_equal(project_trim(d), "x  y");
	assert_ptr_equal(project_trim(e), e);
	assert_string_equal(e, "");
}

/* ---- title and description ----------------------------------------------------------------- */

static void test_empty_title_is_an_error_naming_title(void **state)
{
	struct req *r = new_req();

	replace(&r->in.title, "");
	assert_one_error(r, "title");
	free_req(r);
}

static void test_whitespace_only_title_is_an_error_naming_title(void **state)
{
	struct req *r = new_req();

	replace(&r->in.title, " \t \r\n ");
	assert_one_error(r, "title");
	free_req(r);
}

static void test_empty_description_is_an_error_naming_description(void **state)
{
	struct req *r = new_req();

	replace(&r->in.description, "");
	assert_one_error(r, "description");
	free_req(r);
}

static void test_whitespace_only_description_is_an_error_naming_description(void **state)
{
	struct req *r = new_req();

	replace(&r->in.description, "\n\n\t   \n");
	assert_one_error(r, "description");
	free_req(r);
}

static void test_title_of_200_characters_is_accepted(void **state)
{
	struct req *r = new_req();

	free(r->in.title);
	r->in.title = repeat("t", 200);
	assert_int_equal(validate(r), 0);
	free(r->in.title);
	r->in.title = repeat(E_ACUTE, 200); /* 400 bytes, 200 characters */
	assert_int_equal(validate(r), 0);
	free(r->in.title);
	r->in.title = repeat("\xf0\x9f\x98\x80", 200); /* 800 bytes */
	assert_int_equal(validate(r), 0);
	free_req(r);
}

static void test_title_of_201_characters_is_an_error(void **state)
{
	struct req *r = new_req();

	free(r->in.title);
	r->in.title = repeat("t", 201);
	assert_one_error(r, "title");
	free(r->in.title);
	r->in.title = repeat(E_ACUTE, 201);
	assert_one_error(r, "title");
	free_req(r);
}

static void test_title_length_is_counted_after_trimming(void **state)
{
	struct req *r = new_req();
	char *core = repeat("t", 200);
	char *padded = malloc(strlen(core) + 11);

	assert_non_null(padded);
	snprintf(padded, strlen(core) + 11, "     %s     ", core);
	free(r->in.title);
	r->in.title = padded;
	assert_int_equal(validate(r), 0);
	assert_int_equal(strlen(r->out.title), 200);
	free(core);
	free_req(r);
}

static void test_description_of_20000_characters_is_accepted(void **state)
{
	struct req *r = new_req();

	free(r->in.description);
	r->in.description = repeat("d", 20000);
	assert_int_equal(validate(r), 0);
	free(r->in.description);
	r->in.description = repeat(E_ACUTE, 20000); /* 40000 bytes */
	assert_int_equal(validate(r), 0);
	free_req(r);
}

static void test_description_of_20001_characters_is_an_error(void **state)
{
	struct req *r = new_req();

	free(r->in.description);
	r->in.description = repeat("d", 20001);
	assert_one_error(r, "description");
	free(r->in.description);
	r->in.description = repeat(E_ACUTE, 20001);
	assert_one_error(r, "description");
	free_req(r);
}

/* ---- budget cap -------------------------------------------------------------------------- */

static void test_budget_cap_absent_is_accepted(void **state)
{
	struct req *r = new_req();

	r->in.budget_cap_case = TASKMESH__V1__CREATE_PROJECT_REQUEST__BUDGET_CAP__NOT_SET;
	r->in.budget_cap_cents = -5; /* ignored when not set */
	assert_int_equal(validate(r), 0);
	assert_false(r->out.has_budget_cap);
	free_req(r);
}

static void test_positive_budget_cap_is_kept(void **state)
{
	struct req *r = new_req();

	r->in.budget_cap_case = TASKMESH__V1__CREATE_PROJECT_REQUEST__BUDGET_CAP_BUDGET_CAP_CENTS;
	r->in.budget_cap_cents = 1;
	assert_int_equal(validate(r), 0);
	assert_true(r->out.has_budget_cap);
	assert_int_equal(r->out.budget_cap_cents, 1);
	r->in.budget_cap_cents = INT64_MAX;
	assert_int_equal(validate(r), 0);
	assert_true(r->out.budget_cap_cents == INT64_MAX);
	free_req(r);
}

static void test_zero_or_negative_budget_cap_is_an_error(void **state)
{
	static const int64_t bad[] = {0, -5, -1, INT64_MIN};
	struct req *r = new_req();

	r->in.budget_cap_case = TASKMESH__V1__CREATE_PROJECT_REQUEST__BUDGET_CAP_BUDGET_CAP_CENTS;
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		r->in.budget_cap_cents = bad[i];
		assert_one_error(r, "budgetCapCents");
	}
	free_req(r);
}

/* ---- currency ---------------------------------------------------------------------------- */

static void test_currency_defaults_to_usd(void **state)
{
	struct req *r = new_req();

	assert_int_equal(validate(r), 0);
	assert_string_equal(r->out.currency, "USD");
	free_req(r);
}

static void test_three_upper_case_letters_are_a_currency(void **state)
{
	static const char *const ok[] = {"EUR", "GBP", "JPY", "USD"};
	struct req *r = new_req();

	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++) {
		replace(&r->in.currency, ok[i]);
		assert_int_equal(validate(r), 0);
		assert_string_equal(r->out.currency, ok[i]);
	}
	free_req(r);
}

static void test_other_currency_forms_are_errors(void **state)
{
	static const char *const bad[] = {"usd", "Usd", "US",	"USDX", "U",
					  "US1", "U$D", " USD", "USD ", "\xc3\x89UR"};
	struct req *r = new_req();

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		replace(&r->in.currency, bad[i]);
		assert_one_error(r, "currency");
		assert_string_equal(r->out.currency, "");
	}
	free_req(r);
}

/* ---- deadline ---------------------------------------------------------------------------- */

static void test_future_deadline_is_accepted(void **state)
{
	struct req *r = new_req();

	replace(&r->in.deadline, "2027-03-01T00:00:00Z");
	assert_int_equal(validate(r), 0);
	assert_true(r->out.has_deadline);
	assert_int_equal(r->out.deadline_unix_ms, 1803859200000);
	replace(&r->in.deadline, "2026-01-01T00:00:00.001Z"); /* 1 ms after now */
	assert_int_equal(validate(r), 0);
	assert_int_equal(r->out.deadline_unix_ms, NOW_MS + 1);
	replace(&r->in.deadline, "2026-01-01T05:30:01+05:30"); /* 1 s after now */
	assert_int_equal(validate(r), 0);
	assert_int_equal(r->out.deadline_unix_ms, NOW_MS + 1000);
	free_req(r);
}

static void test_deadline_now_is_an_error(void **state)
{
	struct req *r = new_req();

	replace(&r->in.deadline, "2026-01-01T00:00:00Z");
	assert_one_error(r, "deadline");
	replace(&r->in.deadline, "2026-01-01T05:30:00+05:30");
	assert_one_error(r, "deadline");
	free_req(r);
}

static void test_deadline_in_the_past_is_an_error(void **state)
{
	struct req *r = new_req();

	replace(&r->in.deadline, "2025-12-31T23:59:59.999Z");
	assert_one_error(r, "deadline");
	replace(&r->in.deadline, "2000-01-01T00:00:00Z");
	assert_one_error(r, "deadline");
	free_req(r);
}

static void test_deadline_that_is_not_rfc3339_is_an_error(void **state)
{
	static const char *const bad[] = {"tomorrow",
					  "2027-03-01",
					  "2027-03-01T00:00:00",
					  "2027-02-30T00:00:00Z",
					  "1803859200000",
					  "2027-03-01T00:00:00Z ",
					  " "};
	struct req *r = new_req();

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		replace(&r->in.deadline, bad[i]);
		assert_one_error(r, "deadline");
		assert_true(r->out.has_deadline);
	}
	free_req(r);
}

/* ---- several errors at once -------------------------------------------------------------------- */

static void test_every_bad_field_is_reported_in_order(void **state)
{
	struct req *r = new_req();

	replace(&r->in.title, "  ");
	replace(&r->in.description, "");
	r->in.budget_cap_case = TASKMESH__V1__CREATE_PROJECT_REQUEST__BUDGET_CAP_BUDGET_CAP_CENTS;
	r->in.budget_cap_cents = 0;
	replace(&r->in.currency, "usd");
	replace(&r->in.deadline, "yesterday");
	assert_int_equal(validate(r), 5);
	assert_string_equal(r->errs[0].field, "title");
	assert_string_equal(r->errs[1].field, "description");
	assert_string_equal(r->errs[2].field, "budgetCapCents");
	assert_string_equal(r->errs[3].field, "currency");
	assert_string_equal(r->errs[4].field, "deadline");
	free_req(r);
}

static void test_errors_beyond_maxerrs_are_counted_not_written(void **state)
{
	struct req *r = new_req();
	struct field_error errs[2];

	replace(&r->in.title, "");
	replace(&r->in.description, "");
	replace(&r->in.currency, "x");
	memset(errs, 0, sizeof(errs));
	assert_int_equal(project_validate_create(&r->in, NOW_MS, &r->out, errs, 2), 3);
	assert_string_equal(errs[0].field, "title");
	assert_string_equal(errs[1].field, "description");
	assert_int_equal(project_validate_create(&r->in, NOW_MS, &r->out, NULL, 0), 3);
	free_req(r);
}

/* cmocka catches SIGSEGV and friends to carry on with the next test; a forked
 * child must instead die of them so the parent sees what happened. */
static void child_default_signals(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/*
 * A request decoded off the wire without a title or description has those
 * fields pointing at protobuf-c's shared read-only empty string. Validation
 * must report them, not write to that string. Run in a child process so a
 * crash fails this test instead of ending the suite.
 */
static void test_unpacked_request_without_title_or_description_is_an_error(void **state)
{
	Taskmesh__V1__CreateProjectRequest in;
	uint8_t buf[256];

	taskmesh__v1__create_project_request__init(&in);
	in.currency = "EUR"; /* title and description absent on the wire */
	size_t n = taskmesh__v1__create_project_request__pack(&in, buf);
	assert_true(n < sizeof(buf));

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_default_signals();
		struct new_project out;
		struct field_error errs[MAX_ERRS];
		Taskmesh__V1__CreateProjectRequest *r =
			taskmesh__v1__create_project_request__unpack(NULL, n, buf);
		if (!r)
			_exit(90);
		int nerr = project_validate_create(r, NOW_MS, &out, errs, MAX_ERRS);
		int ok = nerr == 2 && strcmp(errs[0].field, "title") == 0 &&
			 strcmp(errs[1].field, "description") == 0;
		taskmesh__v1__create_project_request__free_unpacked(r, NULL);
		_exit(ok ? 0 : 91);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("project_validate_create on an unpacked request died of signal %d",
			 WTERMSIG(status));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 91)
		fail_msg("an unpacked request without title and description did not give exactly "
			 "the errors title, description");
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child exited %d (sanitizer report above?)", WEXITSTATUS(status));
}

/* ---- status names ---------------------------------------------------------------------------- */

static void test_every_status_name_maps_to_its_enum(void **state)
{
	static const struct {
		const char *name;
		Taskmesh__V1__ProjectStatus v;
	} want[] = {
		{"analyzing", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYZING},
		{"analyzed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYZED},
		{"proposed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_PROPOSED},
		{"approved", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_APPROVED},
		{"in_progress", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_IN_PROGRESS},
		{"completed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_COMPLETED},
		{"analysis_failed", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYSIS_FAILED},
		{"cancelled", TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_CANCELLED},
	};
	const ProtobufCEnumDescriptor *d = &taskmesh__v1__project_status__descriptor;

	/* every status but UNSPECIFIED has a database name */
	assert_int_equal(d->n_values, TM_ARRAY_LEN(want) + 1);
	for (size_t i = 0; i < TM_ARRAY_LEN(want); i++) {
		assert_int_equal(project_status_from_db(want[i].name), want[i].v);
		assert_int_not_equal(want[i].v,
				     TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_UNSPECIFIED);
	}
}

static void test_unknown_status_name_is_unspecified(void **state)
{
	static const char *const bad[] = {"",	      "ANALYZING",  "in-progress", "inprogress",
					  "canceled", "analyzing ", "unspecified"};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_int_equal(project_status_from_db(bad[i]),
				 TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_UNSPECIFIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_request_is_accepted_with_defaults),
		cmocka_unit_test(test_title_and_description_are_trimmed_in_place),
		cmocka_unit_test(test_project_trim_edges),
		cmocka_unit_test(test_empty_title_is_an_error_naming_title),
		cmocka_unit_test(test_whitespace_only_title_is_an_error_naming_title),
		cmocka_unit_test(test_empty_description_is_an_error_naming_description),
		cmocka_unit_test(test_whitespace_only_description_is_an_error_naming_description),
		cmocka_unit_test(test_title_of_200_characters_is_accepted),
		cmocka_unit_test(test_title_of_201_characters_is_an_error),
		cmocka_unit_test(test_title_length_is_counted_after_trimming),
		cmocka_unit_test(test_description_of_20000_characters_is_accepted),
		cmocka_unit_test(test_description_of_20001_characters_is_an_error),
		cmocka_unit_test(test_budget_cap_absent_is_accepted),
		cmocka_unit_test(test_positive_budget_cap_is_kept),
		cmocka_unit_test(test_zero_or_negative_budget_cap_is_an_error),
		cmocka_unit_test(test_currency_defaults_to_usd),
		cmocka_unit_test(test_three_upper_case_letters_are_a_currency),
		cmocka_unit_test(test_other_currency_forms_are_errors),
		cmocka_unit_test(test_future_deadline_is_accepted),
		cmocka_unit_test(test_deadline_now_is_an_error),
		cmocka_unit_test(test_deadline_in_the_past_is_an_error),
		cmocka_unit_test(test_deadline_that_is_not_rfc3339_is_an_error),
		cmocka_unit_test(test_every_bad_field_is_reported_in_order),
		cmocka_unit_test(test_errors_beyond_maxerrs_are_counted_not_written),
		cmocka_unit_test(test_unpacked_request_without_title_or_description_is_an_error),
		cmocka_unit_test(test_every_status_name_maps_to_its_enum),
		cmocka_unit_test(test_unknown_status_name_is_unspecified),
	};
	return cmocka_run_group_tests_name("projects_validate", tests, NULL, NULL);
}
