/*
 * How daemons start and stop: a bad setting, an unreachable PostgreSQL or
 * Kafka, or a changed migration stops them with one clear line on stderr and
 * a non-zero status; SIGTERM stops each of the six cleanly with status 0.
 * Uses the real PostgreSQL and tm-devkafka of a private infrastructure stack.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/stack.h"
#include "tm/util.h"

static struct tm_test_stack stack;

static int setup(void **state)
{
	(void)state;
	return tm_test_stack_start(&stack, true);
}

static int teardown(void **state)
{
	(void)state;
	return tm_test_stack_stop(&stack) == 0 ? 0 : -1;
}

struct run {
	pid_t pid;
	int err_fd; /* read end of the child's stderr */
};

/* Starts tm-<daemon> with the stack's settings plus "NAME=value" overrides. */
static struct run start(const char *daemon, const char *const *env)
{
	char path[600], port[16];
	int fds[2];
	struct run r = {-1, -1};

	snprintf(path, sizeof(path), "%s/tm-%s", tm_test_bin_dir(), daemon);
	if (pipe(fds) != 0)
		return r;
	r.pid = fork();
	if (r.pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(fds[1], 2);
		close(fds[0]);
		setenv("TM_DATABASE_URL", stack.database_url, 1);
		setenv("TM_KAFKA_BROKERS", stack.kafka_brokers, 1);
		setenv("TM_KAFKA_FETCH_WAIT_MS", "5", 1);
		setenv("TM_JWT_SECRET", "a-test-secret-that-is-long-enough-for-hs256", 1);
		setenv("TM_STARTUP_TIMEOUT_MS", "1500", 1);
		/* private ports so nothing collides with other tests */
		const char *names[] = {"TM_PROJECTS_RPC", "TM_MATCHING_RPC", "TM_PAYMENTS_RPC",
				       "TM_MESSAGING_RPC", "TM_LEARNING_RPC"};
		for (int i = 0; i < 5; i++) {
			char u[64];
			snprintf(u, sizeof(u), "tcp://127.0.0.1:%d", stack.port_base + 1 + i);
			setenv(names[i], u, 1);
		}
		snprintf(port, sizeof(port), "127.0.0.1:%d", stack.port_base);
		setenv("TM_HTTP_ADDR", port, 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	r.err_fd = fds[0];
	return r;
}

/* Waits (bounded) for the child; returns its exit status, or -1 after killing it. */
static int wait_exit(struct run *r, int timeout_ms)
{
	int st = 0;
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		pid_t w = waitpid(r->pid, &st, WNOHANG);
		if (w == r->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		tm_sleep_ms(20);
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &st, 0);
	return -1;
}

static void read_stderr(struct run *r, char *out, size_t len)
{
	size_t n = 0;
	ssize_t k;
	while (n + 1 < len && (k = read(r->err_fd, out + n, len - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(r->err_fd);
}

/* Exactly one line, naming `what`. */
static void assert_one_line(const char *text, const char *what)
{
	size_t n = strlen(text);
	if (n == 0 || text[n - 1] != '\n' || strchr(text, '\n') != text + n - 1 ||
	    !strstr(text, what))
		fail_msg("expected one line naming \"%s\", got: %s", what, text);
}

static void test_bad_setting_is_one_line_and_status_2(void **state)
{
	const char *env[] = {"TM_RPC_WORKERS=abc", NULL};
	char err[2048];
	(void)state;
	struct run r = start("projects", env);
	assert_int_equal(wait_exit(&r, 5000), 2);
	read_stderr(&r, err, sizeof(err));
	assert_one_line(err, "TM_RPC_WORKERS");
}

static void test_short_jwt_secret_stops_the_gateway(void **state)
{
	const char *env[] = {"TM_JWT_SECRET=short", NULL};
	char err[2048];
	(void)state;
	struct run r = start("gateway", env);
	assert_int_equal(wait_exit(&r, 5000), 2);
	read_stderr(&r, err, sizeof(err));
	assert_one_line(err, "TM_JWT_SECRET");
	assert_null(strstr(err, "short")); /* a secret is never echoed */
}

static void test_unreachable_postgres_is_one_line_and_status_1(void **state)
{
	char db[128], err[2048];
	(void)state;
	snprintf(db, sizeof(db), "TM_DATABASE_URL=postgresql://taskmesh@127.0.0.1:%d/taskmesh",
		 tm_test_free_ports(1));
	const char *env[] = {db, NULL};
	int64_t t0 = tm_mono_ms();
	struct run r = start("matching", env);
	assert_int_equal(wait_exit(&r, 15000), 1);
	assert_true(tm_mono_ms() - t0 >= 1000); /* it retried before giving up */
	read_stderr(&r, err, sizeof(err));
	assert_one_line(err, "PostgreSQL");
}

static void test_unreachable_kafka_is_one_line_and_status_1(void **state)
{
	char k[64], err[2048];
	(void)state;
	snprintf(k, sizeof(k), "TM_KAFKA_BROKERS=127.0.0.1:%d", tm_test_free_ports(1));
	const char *env[] = {k, NULL};
	struct run r = start("payments", env);
	assert_int_equal(wait_exit(&r, 15000), 1);
	read_stderr(&r, err, sizeof(err));
	assert_one_line(err, "Kafka");
}

static void test_changed_migration_refuses_to_start(void **state)
{
	char dir[] = "/tmp/tm-mig-XXXXXX", cmd[1400], env_dir[600], err[2048];
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp -r '%s/migrations/.' '%s/'", tm_test_source_dir(), dir);
	assert_int_equal(system(cmd), 0);
	snprintf(env_dir, sizeof(env_dir), "TM_MIGRATIONS_DIR=%s", dir);
	const char *env[] = {env_dir, NULL};
	/* first start applies the copy (the same files as the stack's), then stops */
	struct run r = start("learning", env);
	tm_sleep_ms(1500);
	kill(r.pid, SIGTERM);
	assert_int_equal(wait_exit(&r, 10000), 0);
	close(r.err_fd);
	snprintf(cmd, sizeof(cmd), "echo '-- edited' >> '%s/common/0001_outbox_inbox.sql'", dir);
	assert_int_equal(system(cmd), 0);
	r = start("learning", env);
	assert_int_equal(wait_exit(&r, 10000), 1);
	read_stderr(&r, err, sizeof(err));
	assert_one_line(err, "changed");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_a_broken_taxonomy_is_one_line_and_status_1(void **state)
{
	char dir[] = "/tmp/tm-tax-XXXXXX", cmd[1400], env_dir[600], err[2048];
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "cp '%s/migrations/seed/skills.tsv' '%s/migrations/seed/skill_edges.tsv' '%s/' && "
		 "printf 'React\\tNo Such Skill\\trequires\\t0.5\\n' >> '%s/skill_edges.tsv'",
		 tm_test_source_dir(), tm_test_source_dir(), dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(env_dir, sizeof(env_dir), "TM_TAXONOMY_DIR=%s", dir);
	const char *env[] = {env_dir, NULL};
	const char *daemons[] = {"projects", "matching", "learning"}; /* the ones that load it */
	for (int i = 0; i < 3; i++) {
		struct run r = start(daemons[i], env);
		assert_int_equal(wait_exit(&r, 10000), 1);
		read_stderr(&r, err, sizeof(err));
		assert_one_line(err, "skill_edges.tsv:");
		assert_non_null(strstr(err, "No Such Skill"));
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_the_taxonomy_is_found_beside_the_migrations(void **state)
{
	char dir[] = "/tmp/tm-mig-XXXXXX", cmd[1400], env_dir[600], err[2048], where[700];
	(void)state;
	/* a copy of the migrations whose seed is broken: without TM_TAXONOMY_DIR the
	 * daemon reads <TM_MIGRATIONS_DIR>/seed (so an installed image finds it),
	 * not the build tree's */
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "cp -r '%s/migrations/.' '%s/' && "
		 "printf 'React\\tNo Such Skill\\trequires\\t0.5\\n' >> '%s/seed/skill_edges.tsv'",
		 tm_test_source_dir(), dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(env_dir, sizeof(env_dir), "TM_MIGRATIONS_DIR=%s", dir);
	const char *env[] = {env_dir, NULL};
	struct run r = start("matching", env);
	assert_int_equal(wait_exit(&r, 10000), 1);
	read_stderr(&r, err, sizeof(err));
	snprintf(where, sizeof(where), "%s/seed/skill_edges.tsv:", dir);
	assert_one_line(err, where);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_sigterm_stops_every_daemon_with_status_0(void **state)
{
	const char *daemons[] = {"projects",  "matching", "payments",
				 "messaging", "learning", "gateway"};
	struct run runs[6];
	(void)state;
	for (int i = 0; i < 6; i++)
		runs[i] = start(daemons[i], NULL);
	tm_sleep_ms(2500); /* up and serving (consumers joined their groups) */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(waitpid(runs[i].pid, NULL, WNOHANG), 0); /* still running */
		kill(runs[i].pid, SIGTERM);
	}
	for (int i = 0; i < 6; i++) {
		char err[2048];
		int st = wait_exit(&runs[i], 15000);
		read_stderr(&runs[i], err, sizeof(err));
		if (st != 0)
			fail_msg("tm-%s exited with %d: %s", daemons[i], st, err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_setting_is_one_line_and_status_2),
		cmocka_unit_test(test_short_jwt_secret_stops_the_gateway),
		cmocka_unit_test(test_unreachable_postgres_is_one_line_and_status_1),
		cmocka_unit_test(test_unreachable_kafka_is_one_line_and_status_1),
		cmocka_unit_test(test_changed_migration_refuses_to_start),
		cmocka_unit_test(test_a_broken_taxonomy_is_one_line_and_status_1),
		cmocka_unit_test(test_the_taxonomy_is_found_beside_the_migrations),
		cmocka_unit_test(test_sigterm_stops_every_daemon_with_status_0),
	};
	return cmocka_run_group_tests_name("system: daemon start and stop", tests, setup, teardown);
}
