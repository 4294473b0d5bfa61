/*
 * The migration runner. Files migrations/common/NNNN_name.sql (templates, with
 * {{schema}} replaced by the schema name) and then migrations/<schema>/NNNN_name.sql
 * are applied in order, each in its own transaction, under a PostgreSQL
 * advisory lock keyed by the schema name, and recorded in
 * <schema>.schema_migrations(name, checksum). Forward only: a recorded file
 * whose SHA-256 changed, or that disappeared, stops the daemon.
 */
#ifndef TM_MIGRATE_H
#define TM_MIGRATE_H

#include <stddef.h>
#include "tm/db.h"

struct tm_migration {
	char name[128];	   /* "common/0001_outbox_inbox.sql" or "projects/0001_init.sql" */
	char checksum[65]; /* hex SHA-256 of the text as applied (after templating) */
	char *sql;	   /* the text as applied */
};

/* Reads the migrations of `schema` from `dir` in apply order. Returns the count
 * (>= 0) with *out malloc'd, or -1 with a reason in err. */
int tm_migrations_load(const char *dir, const char *schema, struct tm_migration **out, char *err,
		       size_t errlen);
void tm_migrations_free(struct tm_migration *m, int n);

/* What a recorded migration says against the files (the checksum rule). */
enum tm_migration_check {
	TM_MIG_APPLIED = 0, /* recorded with the same checksum */
	TM_MIG_PENDING,	    /* not recorded yet */
	TM_MIG_CHANGED,	    /* recorded with another checksum: refuse */
};

/* Pure check of one file against the recorded (name, checksum) pairs. */
enum tm_migration_check tm_migration_check(const struct tm_migration *m, const char *const *names,
					   const char *const *checksums, int nrecorded);

/* Applies what is pending. Returns the number applied (>= 0), or -1 with a
 * one-line reason in err (changed/missing file, SQL error with file name). */
int tm_migrate(struct tm_db *db, const char *dir, const char *schema, char *err, size_t errlen);

#endif
