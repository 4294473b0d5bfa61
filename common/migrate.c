/* The migration runner; see tm/migrate.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tm/buf.h"
#include "tm/log.h"
#include "tm/migrate.h"
#include "tm/util.h"

#define MIGRATIONS_MAX 1000	       /* files per directory */
#define MIGRATION_BYTES_MAX (4u << 20) /* one file */
#define COMMON_DIR "common"	       /* templates applied to every schema */

/* NNNN_name.sql: four digits, underscore, [a-z0-9_]+, ".sql". */
static bool valid_name(const char *n)
{
	size_t l = strlen(n);
	if (l < 10 || l >= 100 || strcmp(n + l - 4, ".sql") != 0 || n[4] != '_')
		return false;
	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)n[i]))
			return false;
	for (size_t i = 5; i < l - 4; i++)
		if (!islower((unsigned char)n[i]) && !isdigit((unsigned char)n[i]) && n[i] != '_')
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file (bounded). Returns a malloc'd NUL-terminated text or NULL. */
static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	struct stat st;

	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)MIGRATION_BYTES_MAX) {
		snprintf(err, errlen, "%s: unreadable or larger than %u bytes", path,
			 MIGRATION_BYTES_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text || fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		snprintf(err, errlen, "cannot read %s", path);
		free(text);
		text = NULL;
		goto out;
	}
	text[st.st_size] = '\0';
out:
	fclose(f);
	return text;
}

/* Replaces every "{{schema}}" in text with schema. Returns malloc'd text or NULL. */
static char *apply_template(const char *text, const char *schema)
{
	static const char tag[] = "{{schema}}";
	struct tm_buf b;

	tm_buf_init(&b);
	for (const char *p = text;;) {
		const char *hit = strstr(p, tag);
		if (!hit) {
			tm_buf_puts(&b, p);
			break;
		}
		tm_buf_append(&b, p, (size_t)(hit - p));
		tm_buf_puts(&b, schema);
		p = hit + sizeof(tag) - 1;
	}
	return tm_buf_steal(&b, NULL);
}

/* Appends the migrations of one directory to *list. `sub` is "common" or the schema. */
static int load_dir(const char *dir, const char *sub, const char *schema,
		    struct tm_migration **list, int *n, char *err, size_t errlen)
{
	char path[4096];
	char *names[MIGRATIONS_MAX];
	int nn = 0, rc = -1;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	DIR *d = opendir(path);
	if (!d) {
		if (errno == ENOENT && strcmp(sub, COMMON_DIR) != 0)
			return 0; /* a schema without migrations of its own */
		snprintf(err, errlen, "cannot open migrations directory %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 4 || strcmp(de->d_name + l - 4, ".sql") != 0)
			continue;
		if (!valid_name(de->d_name)) {
			snprintf(err, errlen, "%s/%s: migration files are named NNNN_name.sql",
				 path, de->d_name);
			goto out;
		}
		if (nn == MIGRATIONS_MAX) {
			snprintf(err, errlen, "%s: more than %d migrations", path, MIGRATIONS_MAX);
			goto out;
		}
		if (!(names[nn++] = strdup(de->d_name)))
			goto out;
	}
	qsort(names, (size_t)nn, sizeof(char *), cmp_str);
	if (nn > 0) {
		struct tm_migration *grown = realloc(*list, sizeof(**list) * (size_t)(*n + nn));
		if (!grown) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		*list = grown;
	}
	for (int i = 0; i < nn; i++) {
		struct tm_migration *m = &(*list)[*n];
		char file[4200];
		snprintf(file, sizeof(file), "%s/%s", path, names[i]);
		char *text = read_file(file, err, errlen);
		if (!text)
			goto out;
		m->sql = strcmp(sub, COMMON_DIR) == 0 ? apply_template(text, schema) : text;
		if (m->sql != text)
			free(text);
		if (!m->sql) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		snprintf(m->name, sizeof(m->name), "%s/%s", sub, names[i]);
		tm_sha256_hex(m->sql, strlen(m->sql), m->checksum);
		(*n)++;
	}
	rc = 0;
out:
	for (int i = 0; i < nn; i++)
		free(names[i]);
	closedir(d);
	return rc;
}

int tm_migrations_load(const char *dir, const char *schema, struct tm_migration **out, char *err,
		       size_t errlen)
{
	struct tm_migration *list = NULL;
	int n = 0;

	*out = NULL;
	if (load_dir(dir, COMMON_DIR, schema, &list, &n, err, errlen) != 0 ||
	    load_dir(dir, schema, schema, &list, &n, err, errlen) != 0) {
		tm_migrations_free(list, n);
		return -1;
	}
	*out = list;
	return n;
}

void tm_migrations_free(struct tm_migration *m, int n)
{
	for (int i = 0; m && i < n; i++)
		free(m[i].sql);
	free(m);
}

enum tm_migration_check tm_migration_check(const struct tm_migration *m, const char *const *names,
					   const char *const *checksums, int nrecorded)
{
	for (int i = 0; i < nrecorded; i++)
		if (strcmp(names[i], m->name) == 0)
			return strcmp(checksums[i], m->checksum) == 0 ? TM_MIG_APPLIED :
									TM_MIG_CHANGED;
	return TM_MIG_PENDING;
}

/* Creates the schema and its migration record table. */
static int ensure_bookkeeping(struct tm_db *db, const char *schema, char *err, size_t errlen)
{
	char sql[512];

	/* the schema name was validated by tm_db_open (plain identifier) */
	snprintf(sql, sizeof(sql),
		 "CREATE SCHEMA IF NOT EXISTS \"%s\";"
		 "CREATE TABLE IF NOT EXISTS \"%s\".schema_migrations ("
		 " name text PRIMARY KEY, checksum text NOT NULL,"
		 " applied_at timestamptz NOT NULL DEFAULT now())",
		 schema, schema);
	if (tm_db_script(db, sql) != TM_DB_OK) {
		snprintf(err, errlen, "cannot create schema %s: %s", schema, tm_db_error(db));
		return -1;
	}
	return 0;
}

/* Runs one pending migration and records it, in one transaction. */
static int apply_one(struct tm_db *db, const char *schema, const struct tm_migration *m, char *err,
		     size_t errlen)
{
	char sql[256];

	if (tm_db_begin(db) != TM_DB_OK) {
		snprintf(err, errlen, "%s: %s", m->name, tm_db_error(db));
		return -1;
	}
	/* a migration file holds several statements and no values: simple protocol */
	if (tm_db_script(db, m->sql) != TM_DB_OK) {
		snprintf(err, errlen, "migration %s failed: %.200s", m->name, tm_db_error(db));
		tm_db_rollback(db);
		return -1;
	}
	snprintf(sql, sizeof(sql),
		 "INSERT INTO \"%s\".schema_migrations (name, checksum) VALUES ($1, $2)", schema);
	if (tm_db_exec(db, sql, TM_PARAMS(TM_P_TEXT(m->name), TM_P_TEXT(m->checksum))) !=
		    TM_DB_OK ||
	    tm_db_commit(db) != TM_DB_OK) {
		snprintf(err, errlen, "migration %s: cannot record: %s", m->name, tm_db_error(db));
		tm_db_rollback(db);
		return -1;
	}
	tm_info("applied migration %s", m->name);
	return 0;
}

/* Compares the record with the files; applies what is pending. */
static int reconcile(struct tm_db *db, const char *schema, struct tm_migration *files, int nfiles,
		     char *err, size_t errlen)
{
	char sql[256];
	PGresult *r = NULL;
	int applied = 0;

	snprintf(sql, sizeof(sql), "SELECT name, checksum FROM \"%s\".schema_migrations", schema);
	if (tm_db_rows(db, &r, sql, NULL, 0) != TM_DB_OK) {
		snprintf(err, errlen, "cannot read %s.schema_migrations: %s", schema,
			 tm_db_error(db));
		return -1;
	}
	int nrec = PQntuples(r);
	const char **names = calloc((size_t)nrec + 1, sizeof(char *));
	const char **sums = calloc((size_t)nrec + 1, sizeof(char *));
	if (!names || !sums) {
		snprintf(err, errlen, "out of memory");
		applied = -1;
		goto out;
	}
	for (int i = 0; i < nrec; i++) {
		names[i] = PQgetvalue(r, i, 0);
		sums[i] = PQgetvalue(r, i, 1);
		bool present = false;
		for (int k = 0; k < nfiles && !present; k++)
			present = strcmp(files[k].name, names[i]) == 0;
		if (!present) {
			snprintf(err, errlen,
				 "migration %s was applied but its file is gone; migrations are "
				 "forward-only: restore the file",
				 names[i]);
			applied = -1;
			goto out;
		}
	}
	/* refuse a changed file before anything is applied */
	for (int k = 0; k < nfiles; k++) {
		if (tm_migration_check(&files[k], names, sums, nrec) == TM_MIG_CHANGED) {
			snprintf(err, errlen,
				 "migration %s changed after it was applied; migrations are "
				 "forward-only: add a new file instead",
				 files[k].name);
			applied = -1;
			goto out;
		}
	}
	for (int k = 0; k < nfiles; k++) {
		if (tm_migration_check(&files[k], names, sums, nrec) == TM_MIG_PENDING) {
			if (apply_one(db, schema, &files[k], err, errlen) != 0) {
				applied = -1;
				goto out;
			}
			applied++;
		}
	}
out:
	free(names);
	free(sums);
	PQclear(r);
	return applied;
}

int tm_migrate(struct tm_db *db, const char *dir, const char *schema, char *err, size_t errlen)
{
	struct tm_migration *files = NULL;
	int rc = -1;

	int nfiles = tm_migrations_load(dir, schema, &files, err, errlen);
	if (nfiles < 0)
		return -1;
	/* one migrator per schema at a time, across processes */
	if (tm_db_exec(db, "SELECT pg_advisory_lock(hashtext('tm_migrate:' || $1))",
		       TM_PARAMS(TM_P_TEXT(schema))) != TM_DB_OK) {
		snprintf(err, errlen, "cannot take the migration lock: %s", tm_db_error(db));
		goto out_free;
	}
	if (ensure_bookkeeping(db, schema, err, errlen) == 0)
		rc = reconcile(db, schema, files, nfiles, err, errlen);
	tm_db_exec(db, "SELECT pg_advisory_unlock(hashtext('tm_migrate:' || $1))",
		   TM_PARAMS(TM_P_TEXT(schema)));
out_free:
	tm_migrations_free(files, nfiles);
	return rc;
}
