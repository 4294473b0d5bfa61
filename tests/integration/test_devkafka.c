/*
 * tm-devkafka as the suite uses it: the built binary runs as a child process,
 * real librdkafka clients talk to it over 127.0.0.1, faults go through its
 * control socket with `tm-devkafka ctl`. The binary comes from $TM_BIN_DIR
 * (default build/rel/bin). The group teardown stops the child on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "tm/util.h"

#define STARTUP_TIMEOUT_MS 10000  /* bootstrap file must appear within this */
#define CONSUME_TIMEOUT_MS 30000  /* group join on the mock takes seconds; bound the wait */
#define FLUSH_TIMEOUT_MS 10000	  /* a produce that should succeed */
#define CTL_TIMEOUT_MS 10000	  /* one `tm-devkafka ctl` run */
#define STOP_TIMEOUT_MS 5000	  /* SIGTERM to exit */
#define FAULT_MSG_TIMEOUT_MS 2000 /* message.timeout.ms while the broker is down */
#define ROUND_TRIP_RECORDS 10
#define ROUND_TRIP_KEYS 3
#define ANSWER_MAX 1024

static const char *const suite_topics[] = {
	"tm.identity.v1", "tm.projects.v1",  "tm.matching.v1",
	"tm.payments.v1", "tm.messaging.v1", "tm.learning.v1",
};
#define SUITE_PARTITIONS 3 /* the daemon's default --partitions */
#define ROUND_TRIP_TOPIC "tm.projects.v1"
#define FAULT_TOPIC "test.faults.v1" /* created with --topic */

struct fixture {
	char dir[64];	    /* private temporary directory */
	char bin[PATH_MAX]; /* the tm-devkafka binary */
	char bootstrap_file[PATH_MAX];
	char log_file[PATH_MAX]; /* the child's stdout and stderr */
	char ctl_path[PATH_MAX]; /* <dir>/ctl, the control socket */
	char ctl_url[PATH_MAX];	 /* ipc://<dir>/ctl */
	char bootstraps[1024];	 /* "127.0.0.1:PORT,..." as read from the file */
	pid_t pid;		 /* the running child, 0 once reaped */
};

static struct fixture fx;

/* ---- child processes ------------------------------------------------------- */

/* Forks and execs argv with stdout to out_fd (or the log file when -1) and
 * stderr to the log file. The child dies with the test process. Returns the pid or -1. */
static pid_t spawn(char *const argv[], int out_fd)
{
	int log_fd = open(fx.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls until exec */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out_fd >= 0 ? out_fd : log_fd, STDOUT_FILENO);
		dup2(log_fd, STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(log_fd);
	return pid;
}

/* Waits up to timeout_ms for pid. Returns its wait status, or -1 on timeout. */
static int wait_bounded(pid_t pid, int64_t timeout_ms)
{
	int64_t deadline = tm_mono_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (tm_mono_ms() >= deadline)
			return -1;
		tm_sleep_ms(10);
	}
}

/* Kills and reaps pid if it is still running. */
static void kill_and_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Runs `tm-devkafka ctl URL words...` (NULL-terminated words) and returns its
 * exit status (-1 if it did not finish); its answer line goes into answer. */
static int ctl(char *answer, size_t anslen, ...)
{
	char *argv[16] = {fx.bin, "ctl", fx.ctl_url};
	int argc = 3, fds[2];
	size_t got = 0;
	va_list ap;

	va_start(ap, anslen);
	for (char *w = va_arg(ap, char *); w && argc < 15; w = va_arg(ap, char *))
		argv[argc++] = w;
	va_end(ap);
	argv[argc] = NULL;
	answer[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = spawn(argv, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	int64_t deadline = tm_mono_ms() + CTL_TIMEOUT_MS;
	for (;;) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		int64_t left = deadline - tm_mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t n = read(fds[0], answer + got, anslen - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == anslen - 1)
			break;
	}
	close(fds[0]);
	answer[got] = '\0';
	answer[strcspn(answer, "\n")] = '\0';
	int status = wait_bounded(pid, CTL_TIMEOUT_MS);
	if (status < 0) {
		kill_and_reap(pid);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Prints the child's log; called when something went wrong. */
static void dump_log(void)
{
	char buf[4096];
	FILE *f = fopen(fx.log_file, "r");

	if (!f)
		return;
	print_message("---- %s ----\n", fx.log_file);
	while (fgets(buf, sizeof(buf), f))
		print_message("%s", buf);
	fclose(f);
}

/* Reads the bootstrap file once it exists. Returns 0, or -1 when the child died or time ran out. */
static int wait_bootstrap_file(void)
{
	int64_t deadline = tm_mono_ms() + STARTUP_TIMEOUT_MS;

	while (tm_mono_ms() < deadline) {
		FILE *f = fopen(fx.bootstrap_file, "r");
		if (f) {
			char *ok = fgets(fx.bootstraps, sizeof(fx.bootstraps), f);
			fclose(f);
			if (!ok)
				return -1;
			fx.bootstraps[strcspn(fx.bootstraps, "\n")] = '\0';
			return 0;
		}
		int status;
		if (waitpid(fx.pid, &status, WNOHANG) == fx.pid) {
			print_message("tm-devkafka exited early (status 0x%x)\n", status);
			fx.pid = 0;
			return -1;
		}
		tm_sleep_ms(20);
	}
	print_message("no bootstrap file after %d ms\n", STARTUP_TIMEOUT_MS);
	return -1;
}

static void remove_dir(const char *path)
{
	char file[PATH_MAX];
	DIR *d = opendir(path);

	if (!d)
		return;
	for (struct dirent *e = readdir(d); e; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(file, sizeof(file), "%s/%s", path, e->d_name) < (int)sizeof(file))
			unlink(file);
	}
	closedir(d);
	rmdir(path);
}

static int group_teardown(void **state)
{
	kill_and_reap(fx.pid);
	fx.pid = 0;
	if (fx.dir[0])
		remove_dir(fx.dir);
	fx.dir[0] = '\0';
	return 0;
}

/* SIGTERM/SIGINT (e.g. from `timeout` in tests/run.sh) skip the teardown: stop
 * the child and remove the known files with async-signal-safe calls, then die
 * of the same signal. The child also has PR_SET_PDEATHSIG. */
static void on_stop_signal(int sig)
{
	const char *const files[] = {fx.bootstrap_file, fx.log_file, fx.ctl_path};

	if (fx.pid > 0)
		kill(fx.pid, SIGKILL);
	for (size_t i = 0; i < TM_ARRAY_LEN(files); i++)
		if (files[i][0])
			unlink(files[i]);
	if (fx.dir[0])
		rmdir(fx.dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int group_setup(void **state)
{
	const char *bindir = getenv("TM_BIN_DIR");

	snprintf(fx.bin, sizeof(fx.bin), "%s/tm-devkafka",
		 bindir && *bindir ? bindir : "build/rel/bin");
	if (access(fx.bin, X_OK) != 0) {
		print_message("%s: %s; build it or set TM_BIN_DIR\n", fx.bin, strerror(errno));
		return -1;
	}
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/tm-devkafka-test.XXXXXX");
	if (!mkdtemp(fx.dir)) {
		fx.dir[0] = '\0';
		return -1;
	}
	snprintf(fx.bootstrap_file, sizeof(fx.bootstrap_file), "%s/bootstrap", fx.dir);
	snprintf(fx.log_file, sizeof(fx.log_file), "%s/devkafka.log", fx.dir);
	snprintf(fx.ctl_path, sizeof(fx.ctl_path), "%s/ctl", fx.dir);
	snprintf(fx.ctl_url, sizeof(fx.ctl_url), "ipc://%s/ctl", fx.dir);
	signal(SIGTERM, on_stop_signal);
	signal(SIGINT, on_stop_signal);

	char *argv[] = {fx.bin,	    "--bootstrap-file", fx.bootstrap_file, "--control",
			fx.ctl_url, "--topic",		FAULT_TOPIC,	   NULL};
	fx.pid = spawn(argv, -1);
	if (fx.pid < 0 || wait_bootstrap_file() != 0) {
		dump_log();
		group_teardown(state);
		return -1;
	}
	return 0;
}

/* ---- librdkafka clients ------------------------------------------------------ */

struct delivery {
	int ok;			  /* delivered records */
	int failed;		  /* records that failed */
	rd_kafka_resp_err_t last; /* error of the last failed record */
};

/* Client logs stay quiet unless TM_TEST_KAFKA_LOG is set: the fault test makes
 * librdkafka report refused connections, which is the point of it. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (getenv("TM_TEST_KAFKA_LOG"))
		fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct delivery *d = opaque;

	if (m->err) {
		d->failed++;
		d->last = m->err;
	} else {
		d->ok++;
	}
}

/* A client handle on the fixture's cluster; extra is a NULL-terminated list of
 * name, value pairs. Fails the test on a bad setting. */
static rd_kafka_t *client_new(rd_kafka_type_t type, void *opaque, ...)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	va_list ap;

	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_conf_set_opaque(conf, opaque);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", fx.bootstraps, err,
					   sizeof(err)),
			 RD_KAFKA_CONF_OK);
	va_start(ap, opaque);
	for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
			fail_msg("%s=%s: %s", k, v, err);
	}
	va_end(ap);
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
	if (!rk)
		fail_msg("rd_kafka_new: %s", err);
	return rk;
}

/* Produces one record and waits for its delivery report (bounded by flush_ms). */
static void produce_one(rd_kafka_t *rk, const char *topic, const char *key, const char *value,
			int flush_ms)
{
	rd_kafka_resp_err_t err =
		rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
				  RD_KAFKA_V_VALUE((void *)value, strlen(value)),
				  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_flush(rk, flush_ms);
}

/* ---- tests --------------------------------------------------------------- */

static void test_start_creates_the_six_suite_topics_and_extra_topic(void **state)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, NULL, NULL);

	assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
	for (size_t i = 0; i <= TM_ARRAY_LEN(suite_topics); i++) {
		const char *want = i < TM_ARRAY_LEN(suite_topics) ? suite_topics[i] : FAULT_TOPIC;
		int found = 0;
		for (int t = 0; t < md->topic_cnt; t++) {
			if (strcmp(md->topics[t].topic, want) != 0)
				continue;
			found = 1;
			assert_int_equal(md->topics[t].err, RD_KAFKA_RESP_ERR_NO_ERROR);
			assert_int_equal(md->topics[t].partition_cnt, SUITE_PARTITIONS);
		}
		if (!found)
			fail_msg("topic %s missing from metadata", want);
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
}

/* Consumes ROUND_TRIP_RECORDS records, checking order per key and storing
 * offset + 1 after each. Returns how many arrived. */
static int consume_in_order(rd_kafka_t *c, int64_t *join_ms)
{
	int64_t last_seq[ROUND_TRIP_KEYS] = {-1, -1, -1};
	int64_t start = tm_mono_ms();
	int got = 0;

	while (got < ROUND_TRIP_RECORDS && tm_mono_ms() - start < CONSUME_TIMEOUT_MS) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
		if (!m)
			continue;
		if (m->err) {
			print_message("consumer: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		if (got == 0)
			*join_ms = tm_mono_ms() - start;
		char key[16], value[16];
		snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
		snprintf(value, sizeof(value), "%.*s", (int)m->len, (const char *)m->payload);
		int64_t k, seq;
		assert_memory_equal(key, "key-", 4);
		assert_int_equal(tm_parse_int64(key + 4, &k), 0);
		assert_int_equal(tm_parse_int64(value, &seq), 0);
		assert_in_range(k, 0, ROUND_TRIP_KEYS - 1);
		assert_true(seq > last_seq[k]); /* in order per key */
		last_seq[k] = seq;

		rd_kafka_topic_partition_list_t *store = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(store, rd_kafka_topic_name(m->rkt), m->partition)
			->offset = m->offset + 1; /* offsets_store takes the next offset, as is */
		assert_int_equal(rd_kafka_offsets_store(c, store), RD_KAFKA_RESP_ERR_NO_ERROR);
		rd_kafka_topic_partition_list_destroy(store);
		rd_kafka_message_destroy(m);
		got++;
	}
	return got;
}

static void test_idempotent_produce_then_group_consume_keeps_order_per_key(void **state)
{
	struct delivery d = {0};
	char group[64], key[16], value[16];
	int64_t join_ms = -1;

	rd_kafka_t *p = client_new(RD_KAFKA_PRODUCER, &d, "enable.idempotence", "true", NULL);
	for (int i = 0; i < ROUND_TRIP_RECORDS; i++) {
		snprintf(key, sizeof(key), "key-%d", i % ROUND_TRIP_KEYS);
		snprintf(value, sizeof(value), "%d", i);
		assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(ROUND_TRIP_TOPIC),
						   RD_KAFKA_V_KEY(key, strlen(key)),
						   RD_KAFKA_V_VALUE(value, strlen(value)),
						   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						   RD_KAFKA_V_END),
				 RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	assert_int_equal(rd_kafka_flush(p, FLUSH_TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(d.ok, ROUND_TRIP_RECORDS);
	assert_int_equal(d.failed, 0);
	rd_kafka_destroy(p);

	snprintf(group, sizeof(group), "test-devkafka-%ld", (long)getpid());
	rd_kafka_t *c = client_new(RD_KAFKA_CONSUMER, NULL, "group.id", group, "auto.offset.reset",
				   "earliest", "fetch.wait.max.ms", "5", "enable.auto.offset.store",
				   "false", NULL);
	rd_kafka_poll_set_consumer(c);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, ROUND_TRIP_TOPIC, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(c, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(sub);

	assert_int_equal(consume_in_order(c, &join_ms), ROUND_TRIP_RECORDS);
	print_message("first record after %lld ms (group join)\n", (long long)join_ms);

	/* the stored offsets are what gets committed: offset + 1 per partition */
	assert_int_equal(rd_kafka_commit(c, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_t *parts =
		rd_kafka_topic_partition_list_new(SUITE_PARTITIONS);
	for (int i = 0; i < SUITE_PARTITIONS; i++)
		rd_kafka_topic_partition_list_add(parts, ROUND_TRIP_TOPIC, i);
	assert_int_equal(rd_kafka_committed(c, parts, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
	int64_t committed = 0;
	for (int i = 0; i < parts->cnt; i++)
		if (parts->elems[i].offset >= 0)
			committed += parts->elems[i].offset;
	assert_int_equal(committed, ROUND_TRIP_RECORDS);
	rd_kafka_topic_partition_list_destroy(parts);

	assert_int_equal(rd_kafka_consumer_close(c), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(c);
}

static void test_produce_fails_while_broker_down_and_succeeds_after_broker_up(void **state)
{
	struct delivery d = {0};
	char ans[ANSWER_MAX];
	char timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", FAULT_MSG_TIMEOUT_MS);
	rd_kafka_t *p = client_new(RD_KAFKA_PRODUCER, &d, "enable.idempotence", "true",
				   "message.timeout.ms", timeout, "reconnect.backoff.ms", "10",
				   "reconnect.backoff.max.ms", "100", NULL);
	/* connected, with a producer id, before the fault */
	produce_one(p, FAULT_TOPIC, "k", "before", FLUSH_TIMEOUT_MS);
	assert_int_equal(d.ok, 1);

	assert_int_equal(ctl(ans, sizeof(ans), "broker-down", "1", NULL), 0);
	int64_t t0 = tm_mono_ms();
	produce_one(p, FAULT_TOPIC, "k", "during", FAULT_MSG_TIMEOUT_MS * 3);
	print_message("produce while down: %s after %lld ms\n",
		      d.failed ? rd_kafka_err2name(d.last) : "no report",
		      (long long)(tm_mono_ms() - t0));
	assert_int_equal(d.ok, 1);
	assert_int_equal(d.failed, 1);
	assert_int_equal(d.last, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);

	assert_int_equal(ctl(ans, sizeof(ans), "broker-up", "1", NULL), 0);
	t0 = tm_mono_ms();
	produce_one(p, FAULT_TOPIC, "k", "after", FLUSH_TIMEOUT_MS);
	print_message("produce after up: delivered in %lld ms\n", (long long)(tm_mono_ms() - t0));
	assert_int_equal(d.ok, 2);
	assert_int_equal(d.failed, 1);
	rd_kafka_destroy(p);
}

static void test_ctl_ping_answers_ok_pong(void **state)
{
	char ans[ANSWER_MAX];

	assert_int_equal(ctl(ans, sizeof(ans), "ping", NULL), 0);
	assert_string_equal(ans, "ok pong");
}

static void test_ctl_unknown_command_answers_error_and_exits_1(void **state)
{
	char ans[ANSWER_MAX];

	assert_int_equal(ctl(ans, sizeof(ans), "reboot-the-world", NULL), 1);
	assert_memory_equal(ans, "error ", 6);
	assert_int_equal(ctl(ans, sizeof(ans), "broker-down", "99", NULL), 1);
	assert_memory_equal(ans, "error ", 6);
}

static void test_bad_argument_exits_2(void **state)
{
	char *argv[] = {fx.bin, "--brokers", "0", NULL};
	pid_t pid = spawn(argv, -1);

	assert_true(pid > 0);
	int status = wait_bounded(pid, STOP_TIMEOUT_MS);
	if (status < 0) {
		kill_and_reap(pid);
		fail_msg("tm-devkafka --brokers 0 did not exit");
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
}

/* Runs last: it stops the fixture's child. */
static void test_sigterm_exits_0_within_5s_and_removes_bootstrap_file(void **state)
{
	assert_true(fx.pid > 0);
	assert_int_equal(kill(fx.pid, SIGTERM), 0);
	int64_t t0 = tm_mono_ms();
	int status = wait_bounded(fx.pid, STOP_TIMEOUT_MS);
	if (status < 0)
		fail_msg("still running %d ms after SIGTERM", STOP_TIMEOUT_MS);
	fx.pid = 0;
	print_message("exited %lld ms after SIGTERM\n", (long long)(tm_mono_ms() - t0));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(fx.bootstrap_file, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_creates_the_six_suite_topics_and_extra_topic),
		cmocka_unit_test(test_idempotent_produce_then_group_consume_keeps_order_per_key),
		cmocka_unit_test(test_produce_fails_while_broker_down_and_succeeds_after_broker_up),
		cmocka_unit_test(test_ctl_ping_answers_ok_pong),
		cmocka_unit_test(test_ctl_unknown_command_answers_error_and_exits_1),
		cmocka_unit_test(test_bad_argument_exits_2),
		cmocka_unit_test(test_sigterm_exits_0_within_5s_and_removes_bootstrap_file),
	};

	return cmocka_run_group_tests_name("devkafka", tests, group_setup, group_teardown);
}
