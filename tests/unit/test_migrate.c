/*
 * The pure parts of the migration runner: tm_migration_check (the checksum
 * rule) and tm_migrations_load over a temporary directory made per test
 * (templating of common/, apply order, file naming, checksums).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tm/migrate.h"
#include "tm/util.h"

#define ERR_BYTES 512

struct fixture {
	char dir[64]; /* the temporary migrations directory */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/tm-test-migrate-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

static void make_dir(struct fixture *f, const char *sub)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	assert_int_equal(mkdir(path, 0700), 0);
}

static void write_file(struct fixture *f, const char *rel, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
}

static void remove_file(struct fixture *f, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	assert_int_equal(unlink(path), 0);
}

/* Loads and expects success; returns the count. */
static int load_ok(struct fixture *f, const char *schema, struct tm_migration **m)
{
	char err[ERR_BYTES] = "";
	int n = tm_migrations_load(f->dir, schema, m, err, sizeof(err));
	if (n < 0)
		fail_msg("tm_migrations_load failed: %s", err);
	return n;
}

static void sha256_of(const char *text, char out[65])
{
	tm_sha256_hex(text, strlen(text), out);
}

/* ---- tm_migration_check ---------------------------------------------------------------- */

static struct tm_migration migration(const char *name, const char *checksum)
{
	struct tm_migration m;
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.checksum, sizeof(m.checksum), "%s", checksum);
	return m;
}

#define SUM_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SUM_B "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_unrecorded_migration_is_pending(void **state)
{
	struct tm_migration m = migration("projects/0002_budget.sql", SUM_A);
	const char *names[] = {"common/0001_outbox.sql", "projects/0001_init.sql"};
	const char *sums[] = {SUM_A, SUM_A};

	assert_int_equal(tm_migration_check(&m, names, sums, 2), TM_MIG_PENDING);
	assert_int_equal(tm_migration_check(&m, NULL, NULL, 0), TM_MIG_PENDING);
}

static void test_recorded_with_the_same_checksum_is_applied(void **state)
{
	struct tm_migration m = migration("projects/0001_init.sql", SUM_A);
	const char *names[] = {"common/0001_outbox.sql", "projects/0001_init.sql"};
	const char *sums[] = {SUM_B, SUM_A};

	assert_int_equal(tm_migration_check(&m, names, sums, 2), TM_MIG_APPLIED);
}

static void test_recorded_with_another_checksum_is_changed(void **state)
{
	struct tm_migration m = migration("projects/0001_init.sql", SUM_A);
	const char *names[] = {"projects/0001_init.sql"};
	const char *sums[] = {SUM_B};
	const char *almost[] = {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae"};
	const char *upper[] = {"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"};

	assert_int_equal(tm_migration_check(&m, names, sums, 1), TM_MIG_CHANGED);
	assert_int_equal(tm_migration_check(&m, names, almost, 1), TM_MIG_CHANGED);
	assert_int_equal(tm_migration_check(&m, names, upper, 1), TM_MIG_CHANGED);
}

static void test_check_matches_whole_names_only(void **state)
{
	struct tm_migration m = migration("projects/0001_init.sql", SUM_A);
	const char *names[] = {"common/0001_init.sql", "projects/0001_init", "0001_init.sql",
			       "projects/0001_init.sql.bak", "payments/0001_init.sql"};
	const char *sums[] = {SUM_B, SUM_B, SUM_B, SUM_B, SUM_B};

	assert_int_equal(tm_migration_check(&m, names, sums, 5), TM_MIG_PENDING);
}

static void test_check_looks_only_at_the_first_nrecorded(void **state)
{
	struct tm_migration m = migration("projects/0001_init.sql", SUM_A);
	const char *names[] = {"common/0001_outbox.sql", "projects/0001_init.sql"};
	const char *sums[] = {SUM_A, SUM_B};

	assert_int_equal(tm_migration_check(&m, names, sums, 1), TM_MIG_PENDING);
	assert_int_equal(tm_migration_check(&m, names, sums, 2), TM_MIG_CHANGED);
}

/* ---- tm_migrations_load ------------------------------------------------------------------ */

static void test_common_templates_get_the_schema_name(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;

	make_dir(f, "common");
	write_file(f, "common/0001_outbox.sql",
		   "CREATE TABLE {{schema}}.outbox (id bigserial);\n"
		   "-- owned by {{schema}}{{schema}}; not tags: {{schema} {{ schema }} {schema}\n");
	assert_int_equal(load_ok(f, "projects", &m), 1);
	assert_string_equal(m[0].name, "common/0001_outbox.sql");
	assert_string_equal(
		m[0].sql,
		"CREATE TABLE projects.outbox (id bigserial);\n"
		"-- owned by projectsprojects; not tags: {{schema} {{ schema }} {schema}\n");
	tm_migrations_free(m, 1);
}

static void test_schema_files_are_not_templated(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;

	make_dir(f, "common");
	make_dir(f, "projects");
	write_file(f, "projects/0001_init.sql", "SELECT '{{schema}}';");
	assert_int_equal(load_ok(f, "projects", &m), 1);
	assert_string_equal(m[0].name, "projects/0001_init.sql");
	assert_string_equal(m[0].sql, "SELECT '{{schema}}';");
	tm_migrations_free(m, 1);
}

static void test_files_come_in_name_order_with_common_first(void **state)
{
	static const char *const want[] = {
		"common/0001_outbox.sql",  "common/0002_inbox.sql",    "common/0010_idem.sql",
		"projects/0001_init.sql",  "projects/0002_budget.sql", "projects/0010_status.sql",
		"projects/0011_index.sql",
	};
	struct fixture *f = *state;
	struct tm_migration *m = NULL;

	make_dir(f, "common");
	make_dir(f, "projects");
	/* written out of order so directory order cannot be relied on */
	write_file(f, "projects/0010_status.sql", "p10");
	write_file(f, "common/0010_idem.sql", "c10");
	write_file(f, "projects/0001_init.sql", "p1");
	write_file(f, "common/0002_inbox.sql", "c2");
	write_file(f, "projects/0011_index.sql", "p11");
	write_file(f, "common/0001_outbox.sql", "c1");
	write_file(f, "projects/0002_budget.sql", "p2");
	int n = load_ok(f, "projects", &m);
	assert_int_equal(n, TM_ARRAY_LEN(want));
	for (int i = 0; i < n; i++)
		assert_string_equal(m[i].name, want[i]);
	assert_string_equal(m[0].sql, "c1");
	assert_string_equal(m[6].sql, "p11");
	tm_migrations_free(m, n);
}

static void test_non_sql_files_are_ignored(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;

	make_dir(f, "common");
	make_dir(f, "projects");
	write_file(f, "common/README.md", "# notes");
	write_file(f, "common/0001_outbox.sql", "c1");
	write_file(f, "common/0002_x.sql.bak", "backup");
	write_file(f, "projects/notes.txt", "text");
	write_file(f, "projects/0001_init.SQL", "upper-case extension");
	write_file(f, "projects/0001_init.sql~", "editor backup");
	write_file(f, "projects/sql", "no dot");
	write_file(f, "projects/0001_init.sql", "p1");
	make_dir(f, "projects/0099_subdir"); /* a directory, not a .sql file */
	int n = load_ok(f, "projects", &m);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].name, "common/0001_outbox.sql");
	assert_string_equal(m[1].name, "projects/0001_init.sql");
	tm_migrations_free(m, n);
}

static void test_badly_named_sql_file_is_an_error(void **state)
{
	static const char *const bad[] = {
		"1_init.sql",	  "001_init.sql", "00001_init.sql", "0001-init.sql",
		"0001_Init.sql",  "0001_.sql",	  "abcd_init.sql",  "0001_in-it.sql",
		"0001_in it.sql", "init.sql",	  ".sql",	    "0001_init.v2.sql",
	};
	struct fixture *f = *state;
	char err[ERR_BYTES], rel[128];

	make_dir(f, "common");
	make_dir(f, "projects");
	write_file(f, "projects/0001_init.sql", "ok");
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		static struct tm_migration sentinel;
		struct tm_migration *m = &sentinel; /* must be reset to NULL */
		snprintf(rel, sizeof(rel), "projects/%s", bad[i]);
		write_file(f, rel, "SELECT 1;");
		err[0] = '\0';
		assert_int_equal(tm_migrations_load(f->dir, "projects", &m, err, sizeof(err)), -1);
		assert_null(m);
		assert_non_null(strstr(err, bad[i]));
		assert_non_null(strstr(err, "NNNN_name.sql"));
		assert_null(strchr(err, '\n'));
		remove_file(f, rel);
	}
}

static void test_badly_named_common_file_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;
	char err[ERR_BYTES] = "";

	make_dir(f, "common");
	write_file(f, "common/0001_outbox.sql", "ok");
	write_file(f, "common/2_inbox.sql", "bad");
	assert_int_equal(tm_migrations_load(f->dir, "projects", &m, err, sizeof(err)), -1);
	assert_null(m);
	assert_non_null(strstr(err, "common/2_inbox.sql"));
}

static void test_missing_schema_directory_gives_only_common_files(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;

	make_dir(f, "common");
	make_dir(f, "payments");
	write_file(f, "common/0001_outbox.sql", "CREATE TABLE {{schema}}.outbox ();");
	write_file(f, "payments/0001_init.sql", "payments only");
	int n = load_ok(f, "projects", &m);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].name, "common/0001_outbox.sql");
	assert_string_equal(m[0].sql, "CREATE TABLE projects.outbox ();");
	tm_migrations_free(m, n);
}

static void test_missing_common_directory_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;
	char err[ERR_BYTES] = "";

	make_dir(f, "projects");
	write_file(f, "projects/0001_init.sql", "p1");
	assert_int_equal(tm_migrations_load(f->dir, "projects", &m, err, sizeof(err)), -1);
	assert_null(m);
	assert_non_null(strstr(err, "common"));
}

static void test_missing_migrations_directory_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;
	char err[ERR_BYTES] = "", dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/does-not-exist", f->dir);
	assert_int_equal(tm_migrations_load(dir, "projects", &m, err, sizeof(err)), -1);
	assert_null(m);
	assert_non_null(strstr(err, "does-not-exist"));
}

/* cmocka catches SIGSEGV and friends to carry on with the next test; a forked
 * child must instead die of them so the parent sees what happened. */
static void child_default_signals(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/* Loads `schema` and frees the result in a child process, so a crash (double
 * free, sanitizer report) fails this test instead of ending the suite.
 * Returns the number of migrations loaded, or -1 if loading failed. */
static int load_and_free_in_child(struct fixture *f, const char *schema)
{
	enum { CHILD_OK_BASE = 50, CHILD_LOAD_FAILED = 49 }; /* exit codes of our own */

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_default_signals();
		struct tm_migration *m = NULL;
		char err[ERR_BYTES];
		int n = tm_migrations_load(f->dir, schema, &m, err, sizeof(err));
		tm_migrations_free(m, n > 0 ? n : 0);
		_exit(n < 0 ? CHILD_LOAD_FAILED : CHILD_OK_BASE + n);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("loading %s killed the process with signal %d", schema, WTERMSIG(status));
	assert_true(WIFEXITED(status));
	int code = WEXITSTATUS(status);
	if (code == CHILD_LOAD_FAILED)
		return -1;
	if (code < CHILD_OK_BASE)
		fail_msg("loading %s exited %d (sanitizer report above)", schema, code);
	return code - CHILD_OK_BASE;
}

static void test_empty_directories_give_no_migrations(void **state)
{
	struct fixture *f = *state;

	make_dir(f, "common");
	assert_int_equal(load_and_free_in_child(f, "projects"), 0); /* no schema dir */
	make_dir(f, "projects");
	write_file(f, "projects/README.md", "nothing to apply yet");
	assert_int_equal(load_and_free_in_child(f, "projects"), 0); /* empty schema dir */
}

static void test_checksum_is_sha256_of_the_text_after_templating(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;
	char want[65];

	make_dir(f, "common");
	make_dir(f, "projects");
	write_file(f, "common/0001_outbox.sql", "CREATE SCHEMA {{schema}};");
	write_file(f, "projects/0001_init.sql", "abc");
	int n = load_ok(f, "projects", &m);
	assert_int_equal(n, 2);
	sha256_of("CREATE SCHEMA projects;", want);
	assert_string_equal(m[0].checksum, want);
	sha256_of("CREATE SCHEMA {{schema}};", want);
	assert_string_not_equal(m[0].checksum, want); /* not the template's */
	/* a known answer, independent of tm_sha256_hex */
	assert_string_equal(m[1].checksum, SUM_A);
	tm_migrations_free(m, n);
}

static void test_same_template_gives_different_checksums_for_two_schemas(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *a = NULL, *b = NULL;

	make_dir(f, "common");
	write_file(f, "common/0001_outbox.sql", "CREATE TABLE {{schema}}.outbox ();");
	assert_int_equal(load_ok(f, "projects", &a), 1);
	assert_int_equal(load_ok(f, "payments", &b), 1);
	assert_string_equal(a[0].name, b[0].name);
	assert_string_not_equal(a[0].checksum, b[0].checksum);
	assert_string_equal(b[0].sql, "CREATE TABLE payments.outbox ();");
	tm_migrations_free(a, 1);
	tm_migrations_free(b, 1);
}

static void test_changing_one_byte_changes_the_checksum(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;
	char before[65];

	make_dir(f, "common");
	make_dir(f, "projects");
	write_file(f, "projects/0001_init.sql", "CREATE TABLE projects.p (id int);");
	assert_int_equal(load_ok(f, "projects", &m), 1);
	memcpy(before, m[0].checksum, sizeof(before));
	tm_migrations_free(m, 1);

	write_file(f, "projects/0001_init.sql", "CREATE TABLE projects.p (id int) ");
	assert_int_equal(load_ok(f, "projects", &m), 1);
	assert_string_not_equal(m[0].checksum, before);

	/* and the rule then calls the recorded file changed */
	const char *names[] = {"projects/0001_init.sql"};
	const char *sums[] = {before};
	assert_int_equal(tm_migration_check(&m[0], names, sums, 1), TM_MIG_CHANGED);
	tm_migrations_free(m, 1);

	write_file(f, "projects/0001_init.sql", "CREATE TABLE projects.p (id int);");
	assert_int_equal(load_ok(f, "projects", &m), 1);
	assert_string_equal(m[0].checksum, before); /* same bytes, same checksum */
	assert_int_equal(tm_migration_check(&m[0], names, sums, 1), TM_MIG_APPLIED);
	tm_migrations_free(m, 1);
}

static void test_empty_migration_file_loads_with_the_empty_checksum(void **state)
{
	struct fixture *f = *state;
	struct tm_migration *m = NULL;

	make_dir(f, "common");
	write_file(f, "common/0001_empty.sql", "");
	assert_int_equal(load_ok(f, "projects", &m), 1);
	assert_string_equal(m[0].sql, "");
	assert_string_equal(m[0].checksum, SUM_B);
	tm_migrations_free(m, 1);
}

static void test_free_accepts_null(void **state)
{
	tm_migrations_free(NULL, 0);
	tm_migrations_free(NULL, 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unrecorded_migration_is_pending),
		cmocka_unit_test(test_recorded_with_the_same_checksum_is_applied),
		cmocka_unit_test(test_recorded_with_another_checksum_is_changed),
		cmocka_unit_test(test_check_matches_whole_names_only),
		cmocka_unit_test(test_check_looks_only_at_the_first_nrecorded),
		T(test_common_templates_get_the_schema_name),
		T(test_schema_files_are_not_templated),
		T(test_files_come_in_name_order_with_common_first),
		T(test_non_sql_files_are_ignored),
		T(test_badly_named_sql_file_is_an_error),
		T(test_badly_named_common_file_is_an_error),
		T(test_missing_schema_directory_gives_only_common_files),
		T(test_missing_common_directory_is_an_error),
		T(test_missing_migrations_directory_is_an_error),
		T(test_empty_directories_give_no_migrations),
		T(test_checksum_is_sha256_of_the_text_after_templating),
		T(test_same_template_gives_different_checksums_for_two_schemas),
		T(test_changing_one_byte_changes_the_checksum),
		T(test_empty_migration_file_loads_with_the_empty_checksum),
		cmocka_unit_test(test_free_accepts_null),
	};
	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
