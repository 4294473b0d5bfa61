/*
 * `tm-gateway create-admin --email E --display-name N`: the only way to make
 * an admin account. The password is read from standard input (one line), so
 * it never shows in a process list or a shell history. Uses TM_DATABASE_URL,
 * applies the identity migrations if needed, and announces the account with
 * UserRegistered through the outbox like any other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "identity_store.h"
#include "taskmesh/v1/events.pb-c.h"
#include "tm/config.h"
#include "tm/log.h"
#include "tm/migrate.h"
#include "tm/outbox.h"
#include "tm/util.h"

static const char *arg_value(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

/* Inserts the admin and its UserRegistered event in one transaction. */
static int insert_admin(struct tm_db *db, const struct new_user *nu, char *id_out, char *err,
			size_t errlen)
{
	struct tm_arena *a = tm_arena_new(0);
	Taskmesh__V1__User *u = NULL;
	Taskmesh__V1__UserRegistered ev = TASKMESH__V1__USER_REGISTERED__INIT;
	int rc = -1;

	if (!a || tm_db_begin(db) != TM_DB_OK)
		goto out;
	int r = store_user_insert(db, nu, a, &u);
	if (r == TM_DB_ERR_UNIQUE) {
		snprintf(err, errlen, "an account with e-mail %s already exists", nu->email);
		goto out_rollback;
	}
	ev.user_id = r == TM_DB_OK ? u->id : "";
	ev.email = (char *)nu->email;
	ev.role = "admin";
	ev.display_name = (char *)nu->display_name;
	ev.github_username = "";
	ev.is_verified = true;
	ev.created_at = r == TM_DB_OK ? u->created_at : "";
	if (r != TM_DB_OK ||
	    tm_outbox_add(db, "tm.identity.v1", u->id, &ev.base, "tm-gateway", NULL, NULL) !=
		    TM_DB_OK ||
	    tm_db_commit(db) != TM_DB_OK) {
		snprintf(err, errlen, "database: %s", tm_db_error(db));
		goto out_rollback;
	}
	snprintf(id_out, TM_UUID_LEN + 1, "%s", u->id);
	rc = 0;
	goto out;
out_rollback:
	tm_db_rollback(db);
out:
	tm_arena_free(a);
	return rc;
}

int identity_create_admin(int argc, char **argv)
{
	const char *email = arg_value(argc, argv, "--email");
	const char *name = arg_value(argc, argv, "--display-name");
	const char *url = getenv("TM_DATABASE_URL");
	const char *dir = getenv("TM_MIGRATIONS_DIR");
	char password[1024], hash[TM_PASSWORD_ENCODED_MAX], err[512], id[TM_UUID_LEN + 1];
	struct tm_db *db = NULL;
	int status = 1;

	tm_log_init("gateway", "warn", "text");
	if (!email || !name) {
		fprintf(stderr, "usage: tm-gateway create-admin --email E --display-name N "
				"(password on standard input)\n");
		return 2;
	}
	if (!fgets(password, sizeof(password), stdin)) {
		fprintf(stderr, "tm-gateway create-admin: no password on standard input\n");
		return 2;
	}
	password[strcspn(password, "\r\n")] = '\0';
	const char *why = tm_password_policy(password, strlen(password));
	if (why) {
		fprintf(stderr, "tm-gateway create-admin: password %s\n", why);
		return 2;
	}
	char lower[256];
	size_t n = strlen(email);
	if (n == 0 || n > 254 || !strchr(email, '@')) {
		fprintf(stderr, "tm-gateway create-admin: --email must be an e-mail address\n");
		return 2;
	}
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] - 'A' + 'a' :
								       email[i]);
	if (tm_password_hash(password, strlen(password), &tm_password_default_params, hash) !=
	    TM_PASSWORD_OK) {
		fprintf(stderr, "tm-gateway create-admin: cannot hash the password\n");
		return 1;
	}
	memset(password, 0, sizeof(password));
	if (tm_db_open(&db, url && *url ? url : "postgresql://taskmesh@127.0.0.1:55432/taskmesh",
		       "identity", err, sizeof(err)) != 0 ||
	    tm_migrate(db, dir && *dir ? dir : TM_DEFAULT_MIGRATIONS_DIR, "identity", err,
		       sizeof(err)) < 0) {
		fprintf(stderr, "tm-gateway create-admin: %s\n", err);
		goto out;
	}
	struct new_user nu = {.email = lower,
			      .password_hash = hash,
			      .role = "admin",
			      .display_name = name,
			      .is_verified = true};
	if (insert_admin(db, &nu, id, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-gateway create-admin: %s\n", err);
		goto out;
	}
	printf("%s\n", id);
	status = 0;
out:
	tm_db_close(db);
	return status;
}
