/*
 * tm_migrate against a real PostgreSQL: migration directories written by the
 * test under a mkdtemp dir (common/ templates and a directory of the schema),
 * a schema of its own per test ("mig_<random>"), the record checked in
 * <schema>.schema_migrations with checksums computed here with OpenSSL.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "itest.h"

#define RACE_TIMEOUT_MS 30000 /* both concurrent runners must finish within this */
#define RACE_SLOW_FILE_MS 300 /* pg_sleep in the first file: the other runner must wait */

struct fixture {
	char dir[64];		     /* the migrations directory (mkdtemp) */
	char schema[ITEST_NAME_MAX]; /* "mig_<random>" */
	struct tm_db *db;	     /* search_path = schema */
	char err[512];		     /* tm_migrate's reason */
};

static struct fixture fx;

/* ---- files ---------------------------------------------------------------------- */

/* Replaces every "@" of text with the schema name (schema files are not
 * templated by tm_migrate, so the test writes the name itself). */
static void with_schema(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = text; *p; p++) {
		int n = *p == '@' ? snprintf(out + o, outlen - o, "%s", fx.schema) :
				    snprintf(out + o, outlen - o, "%c", *p);
		assert_true(n > 0 && (size_t)n < outlen - o);
		o += (size_t)n;
	}
	out[o] = '\0';
}

/* Writes <dir>/common/<name> as given (a template). */
static void put_common(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/common/%s", fx.dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Writes <dir>/<schema>/<name> with "@" replaced by the schema name. */
static void put_own(const char *name, const char *text)
{
	char path[256], body[4096];
	with_schema(text, body, sizeof(body));
	snprintf(path, sizeof(path), "%s/%s/%s", fx.dir, fx.schema, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(body, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void remove_own(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s/%s", fx.dir, fx.schema, name);
	assert_int_equal(unlink(path), 0);
}

/* "<schema>/<file>": how a file of the schema's own directory is recorded. */
static const char *own(const char *file)
{
	static char names[8][160];
	static int next;
	char *out = names[next++ % 8];
	snprintf(out, sizeof(names[0]), "%s/%s", fx.schema, file);
	return out;
}

/* Hex SHA-256 (OpenSSL, independent of the code under test). */
static void sha256_hex(const char *text, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)text, strlen(text), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- the record ------------------------------------------------------------------- */

static int64_t recorded_count(void)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".schema_migrations", fx.schema);
	return itest_int(itest.admin, sql, 0, NULL);
}

static int64_t recorded(const char *name)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".schema_migrations WHERE name = $1",
		 fx.schema);
	return itest_int(itest.admin, sql, 1, ITEST_PARAMS(name));
}

static void recorded_checksum(const char *name, char *out, size_t outlen)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT checksum FROM \"%s\".schema_migrations WHERE name = $1",
		 fx.schema);
	itest_text(itest.admin, out, outlen, sql, 1, ITEST_PARAMS(name));
}

/* Every row "name checksum applied_at" in apply order, one per line. */
static void record_snapshot(char *out, size_t outlen)
{
	char sql[300];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(string_agg(name || ' ' || checksum || ' ' || applied_at::text, "
		 "E'\\n' ORDER BY applied_at, name), '') FROM \"%s\".schema_migrations",
		 fx.schema);
	itest_text(itest.admin, out, outlen, sql, 0, NULL);
}

/* True if schema.table exists. */
static bool table_exists(const char *table)
{
	char qualified[160];
	snprintf(qualified, sizeof(qualified), "%s.%s", fx.schema, table);
	return itest_int(itest.admin, "SELECT count(*) FROM pg_class WHERE oid = to_regclass($1)",
			 1, ITEST_PARAMS(qualified)) == 1;
}

static int migrate(void)
{
	fx.err[0] = '\0';
	return tm_migrate(fx.db, fx.dir, fx.schema, fx.err, sizeof(fx.err));
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
	return itest_start();
}

static int group_teardown(void **state)
{
	return itest_stop();
}

static int test_setup(void **state)
{
	char path[256];

	memset(&fx, 0, sizeof(fx));
	itest_name("mig_", fx.schema, sizeof(fx.schema));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/tm-mig-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(path, sizeof(path), "%s/common", fx.dir);
	if (mkdir(path, 0755) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", fx.dir, fx.schema);
	if (mkdir(path, 0755) != 0)
		return -1;
	fx.db = itest_connect(fx.schema);
	return 0;
}

static int test_teardown(void **state)
{
	tm_db_close(fx.db);
	fx.db = NULL;
	itest_rm_tree(fx.dir);
	itest_drop_schema(fx.schema);
	return 0;
}

/* The files of the first tests: two templates, three files of the schema,
 * each depending on the ones before it (so the order is proven by success). */
#define BASE_SQL "CREATE TABLE {{schema}}.base (id int PRIMARY KEY, note text);\n"
#define BASE_NOTE_SQL                                         \
	"ALTER TABLE {{schema}}.base ADD COLUMN extra int;\n" \
	"COMMENT ON TABLE {{schema}}.base IS 'lives in {{schema}}';\n"
#define ITEMS_SQL "CREATE TABLE @.items (id int PRIMARY KEY REFERENCES @.base (id));\n"
#define ITEMS_MORE_SQL "ALTER TABLE @.items ADD COLUMN qty int NOT NULL DEFAULT 0;\n"
#define ITEMS_SEED_SQL                                                 \
	"INSERT INTO @.base (id, note, extra) VALUES (1, 'one', 2);\n" \
	"INSERT INTO @.items (id, qty) VALUES (1, 5);\n"

static void write_standard_set(void)
{
	put_common("0001_base.sql", BASE_SQL);
	put_common("0002_base_note.sql", BASE_NOTE_SQL);
	put_own("0001_items.sql", ITEMS_SQL);
	put_own("0002_items_more.sql", ITEMS_MORE_SQL);
	put_own("0010_items_seed.sql", ITEMS_SEED_SQL);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_first_run_applies_every_file_in_order_and_records_sha256(void **state)
{
	char text[4096], want[65], got[80], snapshot[4096], expect[4096];

	write_standard_set();
	put_own("notes.txt", "not a migration: ignored\n");

	assert_int_equal(migrate(), 5);
	assert_string_equal(fx.err, "");

	/* apply order: common/ first (templates), then the schema's own, by number */
	const char *order[] = {"common/0001_base.sql", "common/0002_base_note.sql",
			       own("0001_items.sql"), own("0002_items_more.sql"),
			       own("0010_items_seed.sql")};
	char sql[300];
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(name, ',' ORDER BY applied_at) FROM \"%s\".schema_migrations",
		 fx.schema);
	snprintf(expect, sizeof(expect), "%s,%s,%s,%s,%s", order[0], order[1], order[2], order[3],
		 order[4]);
	itest_text(itest.admin, snapshot, sizeof(snapshot), sql, 0, NULL);
	assert_string_equal(snapshot, expect);
	assert_int_equal(recorded_count(), 5);

	/* checksums: SHA-256 of the text as applied ({{schema}} replaced everywhere) */
	char templated[512];
	snprintf(templated, sizeof(templated),
		 "CREATE TABLE %s.base (id int PRIMARY KEY, note text);\n", fx.schema);
	sha256_hex(templated, want);
	recorded_checksum("common/0001_base.sql", got, sizeof(got));
	assert_string_equal(got, want);
	snprintf(templated, sizeof(templated),
		 "ALTER TABLE %s.base ADD COLUMN extra int;\n"
		 "COMMENT ON TABLE %s.base IS 'lives in %s';\n",
		 fx.schema, fx.schema, fx.schema);
	sha256_hex(templated, want);
	recorded_checksum("common/0002_base_note.sql", got, sizeof(got));
	assert_string_equal(got, want);
	with_schema(ITEMS_SEED_SQL, text, sizeof(text));
	sha256_hex(text, want);
	recorded_checksum(own("0010_items_seed.sql"), got, sizeof(got));
	assert_string_equal(got, want);

	/* the effects are there, the template was applied to every occurrence */
	char qualified[160];
	snprintf(qualified, sizeof(qualified), "%s.base", fx.schema);
	itest_text(itest.admin, got, sizeof(got),
		   "SELECT obj_description(to_regclass($1), 'pg_class')", 1,
		   ITEST_PARAMS(qualified));
	snprintf(expect, sizeof(expect), "lives in %s", fx.schema);
	assert_string_equal(got, expect);
	snprintf(sql, sizeof(sql), "SELECT qty FROM \"%s\".items WHERE id = 1", fx.schema);
	assert_int_equal(itest_int(itest.admin, sql, 0, NULL), 5);
}

static void test_second_run_applies_nothing_and_leaves_the_record_alone(void **state)
{
	char before[4096], after[4096];

	write_standard_set();
	assert_int_equal(migrate(), 5);
	record_snapshot(before, sizeof(before));

	assert_int_equal(migrate(), 0);
	assert_string_equal(fx.err, "");
	record_snapshot(after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(recorded_count(), 5);
}

static void test_new_file_is_applied_alone(void **state)
{
	char before[4096], after[4096], want[65], got[80], text[512];

	write_standard_set();
	assert_int_equal(migrate(), 5);
	record_snapshot(before, sizeof(before));

	put_own("0011_items_flag.sql", "ALTER TABLE @.items ADD COLUMN flag bool;\n");
	assert_int_equal(migrate(), 1);
	assert_string_equal(fx.err, "");
	assert_int_equal(recorded_count(), 6);
	assert_int_equal(recorded(own("0011_items_flag.sql")), 1);
	with_schema("ALTER TABLE @.items ADD COLUMN flag bool;\n", text, sizeof(text));
	sha256_hex(text, want);
	recorded_checksum(own("0011_items_flag.sql"), got, sizeof(got));
	assert_string_equal(got, want);

	/* a template added later sorts before the applied schema files: applied alone too */
	put_common("0003_base_flag.sql", "ALTER TABLE {{schema}}.base ADD COLUMN flag bool;\n");
	assert_int_equal(migrate(), 1);
	assert_int_equal(recorded("common/0003_base_flag.sql"), 1);
	assert_int_equal(recorded_count(), 7);

	/* the earlier rows are untouched (same checksum, same applied_at) */
	char sql[300];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(string_agg(name || ' ' || checksum || ' ' || applied_at::text, "
		 "E'\\n' ORDER BY applied_at, name), '') FROM \"%s\".schema_migrations "
		 "WHERE name NOT IN ($1, $2)",
		 fx.schema);
	itest_text(itest.admin, after, sizeof(after), sql, 2,
		   ITEST_PARAMS(own("0011_items_flag.sql"), "common/0003_base_flag.sql"));
	assert_string_equal(after, before);
}

static void test_changed_applied_file_is_refused_naming_it(void **state)
{
	char before[4096], after[4096];

	write_standard_set();
	assert_int_equal(migrate(), 5);
	record_snapshot(before, sizeof(before));

	put_common("0002_base_note.sql", BASE_NOTE_SQL "-- an edit after the fact\n");
	assert_int_equal(migrate(), -1);
	assert_non_null(strstr(fx.err, "migration common/0002_base_note.sql changed"));
	record_snapshot(after, sizeof(after));
	assert_string_equal(after, before);

	/* a file of the schema's own directory is held to the same rule */
	put_common("0002_base_note.sql", BASE_NOTE_SQL);
	put_own("0002_items_more.sql",
		"ALTER TABLE @.items ADD COLUMN qty bigint NOT NULL DEFAULT 0;\n");
	assert_int_equal(migrate(), -1);
	char want[200];
	snprintf(want, sizeof(want), "migration %s changed", own("0002_items_more.sql"));
	assert_non_null(strstr(fx.err, want));
	record_snapshot(after, sizeof(after));
	assert_string_equal(after, before);
}

/* A run that finds a changed file must not apply anything first: the set of
 * files is inconsistent and forward-only means stop before changing state. */
static void test_changed_file_is_refused_before_any_pending_file_is_applied(void **state)
{
	put_common("0001_base.sql", BASE_SQL);
	put_own("0001_items.sql", ITEMS_SQL);
	assert_int_equal(migrate(), 2);

	/* a new template (it sorts before the schema's files) and an edited applied file */
	put_common("0002_base_later.sql", "CREATE TABLE {{schema}}.later (id int);\n");
	put_own("0001_items.sql", ITEMS_SQL "-- edited\n");
	assert_int_equal(migrate(), -1);
	char want[200];
	snprintf(want, sizeof(want), "migration %s changed", own("0001_items.sql"));
	assert_non_null(strstr(fx.err, want));
	if (recorded("common/0002_base_later.sql") != 0 || table_exists("later"))
		fail_msg(
			"common/0002_base_later.sql was applied before the run refused the changed "
			"file (%s)",
			fx.err);
	assert_int_equal(recorded_count(), 2);
}

static void test_deleted_applied_file_is_refused_naming_it(void **state)
{
	char before[4096], after[4096], want[200];

	write_standard_set();
	assert_int_equal(migrate(), 5);
	record_snapshot(before, sizeof(before));

	remove_own("0002_items_more.sql");
	put_own("0011_items_flag.sql", "ALTER TABLE @.items ADD COLUMN flag bool;\n");
	assert_int_equal(migrate(), -1);
	snprintf(want, sizeof(want), "migration %s was applied but its file is gone",
		 own("0002_items_more.sql"));
	assert_non_null(strstr(fx.err, want));
	/* nothing else ran: the new file stays pending */
	record_snapshot(after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(recorded(own("0011_items_flag.sql")), 0);
}

static void test_failing_file_rolls_back_whole_and_keeps_earlier_files_recorded(void **state)
{
	char want[200];

	put_common("0001_base.sql", BASE_SQL);
	put_own("0001_items.sql", ITEMS_SQL);
	put_own("0002_broken.sql", "CREATE TABLE @.half (id int);\n"
				   "INSERT INTO @.half VALUES (1);\n"
				   "INSERT INTO @.no_such_table VALUES (1);\n");
	put_own("0003_after.sql", "CREATE TABLE @.after (id int);\n");

	assert_int_equal(migrate(), -1);
	snprintf(want, sizeof(want), "migration %s failed: ", own("0002_broken.sql"));
	assert_non_null(strstr(fx.err, want));
	assert_non_null(strstr(fx.err, "no_such_table"));
	assert_false(tm_db_in_tx(fx.db));

	/* the failing file left nothing behind; the ones before it stay; none after ran */
	assert_false(table_exists("half"));
	assert_false(table_exists("after"));
	assert_true(table_exists("items"));
	assert_int_equal(recorded_count(), 2);
	assert_int_equal(recorded("common/0001_base.sql"), 1);
	assert_int_equal(recorded(own("0001_items.sql")), 1);
	assert_int_equal(recorded(own("0002_broken.sql")), 0);

	/* fixed, the same connection carries on where it stopped */
	put_own("0002_broken.sql",
		"CREATE TABLE @.half (id int);\nINSERT INTO @.half VALUES (1);\n");
	assert_int_equal(migrate(), 2);
	assert_true(table_exists("half"));
	assert_true(table_exists("after"));
	assert_int_equal(recorded_count(), 4);
}

static void test_misnamed_file_stops_the_run_before_anything_is_applied(void **state)
{
	put_common("0001_base.sql", BASE_SQL);
	put_own("1_items.sql", ITEMS_SQL);

	assert_int_equal(migrate(), -1);
	assert_non_null(strstr(fx.err, "1_items.sql: migration files are named NNNN_name.sql"));
	assert_false(table_exists("base"));
}

static void test_missing_common_directory_is_an_error(void **state)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/common", fx.dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(migrate(), -1);
	assert_non_null(strstr(fx.err, "cannot open migrations directory"));
	assert_non_null(strstr(fx.err, "/common"));
}

struct runner {
	struct tm_db *db;
	pthread_barrier_t *go;
	int applied; /* tm_migrate's result */
	char err[512];
	int64_t took_ms;
};

static void *run_migrate(void *arg)
{
	struct runner *r = arg;

	pthread_barrier_wait(r->go);
	int64_t t0 = tm_mono_ms();
	r->applied = tm_migrate(r->db, fx.dir, fx.schema, r->err, sizeof(r->err));
	r->took_ms = tm_mono_ms() - t0;
	return NULL;
}

static void test_two_concurrent_runners_apply_each_file_exactly_once(void **state)
{
	struct runner r[2] = {0};
	pthread_t t[2];
	pthread_barrier_t go;
	char slow[200];

	/* plain CREATE TABLE: applying a file twice would fail */
	put_common("0001_base.sql", BASE_SQL);
	snprintf(slow, sizeof(slow), "SELECT pg_sleep(%g);\nCREATE TABLE @.slow (id int);\n",
		 RACE_SLOW_FILE_MS / 1000.0);
	put_own("0001_slow.sql", slow);
	put_own("0002_more.sql", "CREATE TABLE @.more (id int);\n");

	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++) {
		r[i].db = itest_connect(fx.schema);
		r[i].go = &go;
		r[i].applied = -2;
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, run_migrate, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 2; i++)
		tm_db_close(r[i].db);

	print_message("runners: %d applied in %lld ms, %d applied in %lld ms\n", r[0].applied,
		      (long long)r[0].took_ms, r[1].applied, (long long)r[1].took_ms);
	assert_string_equal(r[0].err, "");
	assert_string_equal(r[1].err, "");
	/* one applied all three, the other waited for the lock and found nothing to do */
	assert_true((r[0].applied == 3 && r[1].applied == 0) ||
		    (r[0].applied == 0 && r[1].applied == 3));
	int waiter = r[0].applied == 0 ? 0 : 1;
	assert_true(r[waiter].took_ms >= RACE_SLOW_FILE_MS - 50);
	assert_true(r[0].took_ms < RACE_TIMEOUT_MS && r[1].took_ms < RACE_TIMEOUT_MS);
	assert_int_equal(recorded_count(), 3);
	assert_int_equal(recorded("common/0001_base.sql"), 1);
	assert_int_equal(recorded(own("0001_slow.sql")), 1);
	assert_int_equal(recorded(own("0002_more.sql")), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
	const struct CMUnitTest tests[] = {
		T(test_first_run_applies_every_file_in_order_and_records_sha256),
		T(test_second_run_applies_nothing_and_leaves_the_record_alone),
		T(test_new_file_is_applied_alone),
		T(test_changed_applied_file_is_refused_naming_it),
		T(test_changed_file_is_refused_before_any_pending_file_is_applied),
		T(test_deleted_applied_file_is_refused_naming_it),
		T(test_failing_file_rolls_back_whole_and_keeps_earlier_files_recorded),
		T(test_misnamed_file_stops_the_run_before_anything_is_applied),
		T(test_missing_common_directory_is_an_error),
		T(test_two_concurrent_runners_apply_each_file_exactly_once),
	};
#undef T
	itest_filter();
	return cmocka_run_group_tests_name("migrate_pg", tests, group_setup, group_teardown);
}
