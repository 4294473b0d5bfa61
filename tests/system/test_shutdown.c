/*
 * Ctrl-C that stops: a `make run`-style stack (deploy/devstack run, leading a
 * process group of its own, as a terminal's foreground job would) gets SIGINT
 * on its whole group, and every process of the stack — each daemon,
 * tm-devkafka, the postmaster and its children, the script and its children —
 * is gone within 5 s, stopped in order (the gateway's HTTP front, the
 * services, Kafka, PostgreSQL) and cleanly. With tm-devkafka killed first,
 * the daemons are still gone within TM_SHUTDOWN_TIMEOUT_MS and a margin.
 * Every process a test starts, its teardown stops, even on failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/stack.h"
#include "tm/util.h"

#define UP_TIMEOUT_MS 180000   /* the stack starts (initdb, migrations, sanitizers) */
#define CTRL_C_BUDGET_MS 5000  /* an idle stack is gone this long after Ctrl-C */
#define SHORT_SHUTDOWN_MS 2000 /* TM_SHUTDOWN_TIMEOUT_MS with Kafka killed */
#define DAEMON_MARGIN_MS 1500  /* ... and what the daemons may take beyond it */
#define STACK_MARGIN_MS 3000   /* ... and the whole stack (tm-devkafka, PostgreSQL) */
#define WATCH_MAX_MS 40000     /* how long the test watches survivors before failing */
#define CLEANUP_WAIT_MS 25000  /* teardown: the script's own ordered stop */
#define PROCS_MAX 256	       /* processes of one stack */
#define LOG_MAX (8u << 20)     /* bytes of one log read */
#define POLL_MS 20

static const char *const daemons[] = {"gateway",  "projects",  "matching",
				      "payments", "messaging", "learning"};
#define NDAEMONS 6

struct proc {
	int pid;
	unsigned long long start; /* /proc/<pid>/stat starttime: a reused pid is another */
	char comm[32];
	int64_t gone_ms; /* after Ctrl-C; -1 while running */
};

struct run_stack {
	char run_dir[256];
	int port_base;
	pid_t script; /* deploy/devstack run, leader of its process group */
	bool reaped;
	int script_status;
	char pg_data[512], pg_user[64];
	int postmaster, devkafka, daemon_pid[NDAEMONS];
	struct proc procs[PROCS_MAX];
	int nprocs;
	bool passed;
};

static struct run_stack rs;

/* ---- /proc ---- */

/* ppid, state, starttime and comm of a process; -1 when it does not exist. */
static int proc_stat(int pid, int *ppid, char *state, unsigned long long *start, char *comm,
		     size_t commlen)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
	if (!open_p || !close_p)
		return -1;
	if (comm)
		snprintf(comm, commlen, "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	/* after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads itreal start */
	char *p = close_p + 2;
	*state = *p;
	unsigned long long v[20] = {0};
	char *end = p + 1;
	for (int i = 0; i < 20; i++)
		v[i] = strtoull(end, &end, 10);
	*ppid = (int)v[0];
	*start = v[18];
	return 0;
}

static bool gone(const struct proc *p)
{
	int ppid;
	char st;
	unsigned long long start;
	return proc_stat(p->pid, &ppid, &st, &start, NULL, 0) != 0 || st == 'Z' ||
	       start != p->start;
}

static void add_proc(int pid)
{
	struct proc *p = &rs.procs[rs.nprocs];
	int ppid;
	char st;
	for (int i = 0; i < rs.nprocs; i++)
		if (rs.procs[i].pid == pid)
			return;
	if (rs.nprocs >= PROCS_MAX ||
	    proc_stat(pid, &ppid, &st, &p->start, p->comm, sizeof(p->comm)) != 0 || st == 'Z')
		return;
	p->pid = pid;
	p->gone_ms = -1;
	rs.nprocs++;
}

/* Adds every descendant of the processes already listed (a few passes over /proc). */
static void add_descendants(void)
{
	for (int pass = 0; pass < 6; pass++) {
		int before = rs.nprocs;
		DIR *d = opendir("/proc");
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			int64_t pid;
			int ppid;
			char st;
			unsigned long long start;
			if (tm_parse_int64(e->d_name, &pid) != 0 ||
			    proc_stat((int)pid, &ppid, &st, &start, NULL, 0) != 0)
				continue;
			for (int i = 0; i < rs.nprocs; i++)
				if (rs.procs[i].pid == ppid)
					add_proc((int)pid);
		}
		if (d)
			closedir(d);
		if (rs.nprocs == before)
			break;
	}
}

static const struct proc *find_proc(int pid)
{
	for (int i = 0; i < rs.nprocs; i++)
		if (rs.procs[i].pid == pid)
			return &rs.procs[i];
	return NULL;
}

/* ---- the stack ---- */

/* Starts `deploy/devstack run` leading a new process group, as a shell starts
 * a foreground job; its output goes to run.out. */
static int run_start(const char *shutdown_timeout_ms)
{
	char script[600], port[16], out[400];

	memset(&rs, 0, sizeof(rs));
	snprintf(rs.run_dir, sizeof(rs.run_dir), "/tmp/tm-shutdown-XXXXXX");
	if (!mkdtemp(rs.run_dir) || chmod(rs.run_dir, 0755) != 0)
		return -1;
	if ((rs.port_base = tm_test_free_ports(12)) < 0)
		return -1;
	snprintf(script, sizeof(script), "%s/deploy/devstack", tm_test_source_dir());
	snprintf(port, sizeof(port), "%d", rs.port_base);
	snprintf(out, sizeof(out), "%s/run.out", rs.run_dir);
	rs.script = fork();
	if (rs.script < 0)
		return -1;
	if (rs.script == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		setpgid(0, 0);
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int devnull = open("/dev/null", O_RDONLY);
		if (fd < 0 || devnull < 0)
			_exit(127);
		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("TM_RUN_DIR", rs.run_dir, 1);
		setenv("TM_PORT_BASE", port, 1);
		setenv("TM_BIN_DIR", tm_test_bin_dir(), 1);
		setenv("TM_PG_FSYNC", "off", 1);
		setenv("TM_STACK_INFRA_ONLY", "0", 1);
		if (shutdown_timeout_ms)
			setenv("TM_SHUTDOWN_TIMEOUT_MS", shutdown_timeout_ms, 1);
		else
			unsetenv("TM_SHUTDOWN_TIMEOUT_MS");
		unsetenv("TM_DATABASE_URL");
		unsetenv("TM_KAFKA_BROKERS");
		unsetenv("TM_JWT_SECRET");
		execl("/bin/bash", "bash", script, "run", (char *)NULL);
		_exit(127);
	}
	setpgid(rs.script, rs.script); /* whichever of the two runs first */
	return 0;
}

/* Reaps the script if it ended; true once it has. */
static bool script_reaped(void)
{
	int st;
	if (!rs.reaped && waitpid(rs.script, &st, WNOHANG) == rs.script) {
		rs.reaped = true;
		rs.script_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	return rs.reaped;
}

static bool file_has(const char *path, const char *needle)
{
	char buf[4096];
	bool found = false;
	FILE *f = fopen(path, "r");
	while (f && !found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Reads stack.env: the pids, and where PostgreSQL keeps its data. */
static void read_state(void)
{
	char path[600], line[1024];
	snprintf(path, sizeof(path), "%s/stack.env", rs.run_dir);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		int64_t v = -1;
		if (!eq)
			continue;
		*eq = '\0';
		tm_parse_int64(eq + 1, &v);
		if (strcmp(line, "PG_DATA") == 0)
			snprintf(rs.pg_data, sizeof(rs.pg_data), "%s", eq + 1);
		else if (strcmp(line, "PG_USER") == 0)
			snprintf(rs.pg_user, sizeof(rs.pg_user), "%s", eq + 1);
		else if (strcmp(line, "PID_devkafka") == 0)
			rs.devkafka = (int)v;
		for (int i = 0; i < NDAEMONS; i++) {
			char want[32];
			snprintf(want, sizeof(want), "PID_%s", daemons[i]);
			if (strcmp(line, want) == 0)
				rs.daemon_pid[i] = (int)v;
		}
	}
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/postmaster.pid", rs.pg_data);
	if ((f = fopen(path, "r"))) {
		int64_t v;
		if (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (tm_parse_int64(line, &v) == 0)
				rs.postmaster = (int)v;
		}
		fclose(f);
	}
}

/* Waits until the stack is up, then lists its processes. */
static void wait_up_and_list(void)
{
	char out[400];
	snprintf(out, sizeof(out), "%s/run.out", rs.run_dir);
	int64_t end = tm_mono_ms() + UP_TIMEOUT_MS;
	while (!file_has(out, "taskmesh is up")) {
		if (script_reaped())
			fail_msg("devstack run exited with %d before the stack was up; see %s",
				 rs.script_status, out);
		if (tm_mono_ms() > end)
			fail_msg("the stack was not up after %d ms; see %s", UP_TIMEOUT_MS, out);
		tm_sleep_ms(100);
	}
	read_state();
	add_proc(rs.script);
	if (rs.postmaster > 0)
		add_proc(rs.postmaster);
	add_descendants();
	assert_true(rs.postmaster > 0 && find_proc(rs.postmaster));
	assert_true(rs.devkafka > 0 && find_proc(rs.devkafka));
	for (int i = 0; i < NDAEMONS; i++)
		if (rs.daemon_pid[i] <= 0 || !find_proc(rs.daemon_pid[i]))
			fail_msg("tm-%s is not running", daemons[i]);
	int pg_children = 0;
	for (int i = 0; i < rs.nprocs; i++)
		pg_children += strcmp(rs.procs[i].comm, "postgres") == 0;
	assert_true(pg_children >= 3); /* the postmaster, its workers, the daemons' backends */
	print_message("the stack is up: %d processes\n", rs.nprocs);
}

/* Ctrl-C: SIGINT to the whole group. Watches every process until it is gone
 * (or WATCH_MAX_MS); returns when the last one went. */
static int64_t ctrl_c_and_watch(void)
{
	int left = rs.nprocs;
	int64_t t0 = tm_mono_ms();

	assert_int_equal(kill(-rs.script, SIGINT), 0);
	while (left > 0 && tm_mono_ms() - t0 < WATCH_MAX_MS) {
		script_reaped();
		left = 0;
		for (int i = 0; i < rs.nprocs; i++) {
			struct proc *p = &rs.procs[i];
			if (p->gone_ms < 0 && gone(p))
				p->gone_ms = tm_mono_ms() - t0;
			left += p->gone_ms < 0;
		}
		tm_sleep_ms(POLL_MS);
	}
	int64_t last = 0;
	for (int i = 0; i < rs.nprocs; i++) {
		const struct proc *p = &rs.procs[i];
		if (p->gone_ms < 0)
			print_message("still running: %d %s\n", p->pid, p->comm);
		else if (p->gone_ms > last)
			last = p->gone_ms;
	}
	if (left > 0)
		fail_msg("%d process(es) of the stack still ran %d ms after Ctrl-C", left,
			 WATCH_MAX_MS);
	while (!script_reaped() && tm_mono_ms() - t0 < WATCH_MAX_MS)
		tm_sleep_ms(POLL_MS);
	return last;
}

static int64_t gone_ms_of(int pid)
{
	const struct proc *p = find_proc(pid);
	return p ? p->gone_ms : -1;
}

/* ---- logs ---- */

/* The daemon's whole log (caller frees), "" when missing. */
static char *read_log(const char *name)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/logs/tm-%s.log", rs.run_dir, name);
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, LOG_MAX + 1);
	assert_non_null(buf);
	size_t n = f ? fread(buf, 1, LOG_MAX, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	return buf;
}

/* The time (unix ms) of the first line whose message starts with msg; -1 if none. */
static int64_t log_time(const char *name, const char *msg)
{
	char needle[160];
	int64_t t = -1;
	char *log = read_log(name);
	snprintf(needle, sizeof(needle), "\"msg\":\"%s", msg);
	char *hit = strstr(log, needle);
	if (hit) {
		char *line = hit;
		while (line > log && line[-1] != '\n')
			line--;
		char *ts = strstr(line, "\"time\":\"");
		char when[40];
		if (ts && ts < hit && sscanf(ts + 8, "%39[^\"]", when) == 1)
			tm_parse_rfc3339(when, &t);
	}
	free(log);
	return t;
}

/* The daemon logged a clean stop: SIGTERM from the script (not the
 * terminal's SIGINT), then "stopped", nothing given up on. */
static void assert_clean_stop(const char *name)
{
	char *log = read_log(name);
	bool term = strstr(log, "\"msg\":\"signal 15: shutting down") != NULL;
	bool intr = strstr(log, "\"msg\":\"signal 2: shutting down") != NULL;
	bool stopped = strstr(log, "\"msg\":\"stopped\"") != NULL;
	bool gave_up = strstr(log, "given up on") != NULL;
	free(log);
	if (!term || intr || !stopped || gave_up)
		fail_msg("tm-%s did not log a clean stop on SIGTERM (SIGTERM %d, SIGINT %d, "
			 "stopped %d, gave up %d); see %s/logs",
			 name, term, intr, stopped, gave_up, rs.run_dir);
}

/* ---- cleanup, also when a test failed or the binary is killed ---- */

static void kill_survivors(void)
{
	for (int i = 0; i < rs.nprocs; i++)
		if (!gone(&rs.procs[i]))
			kill(rs.procs[i].pid, SIGKILL);
	if (rs.script > 0)
		kill(-rs.script, SIGKILL);
}

static void on_fatal_signal(int sig)
{
	if (rs.script > 0 && !rs.reaped) {
		kill(-rs.script, SIGTERM); /* its own ordered stop; run.sh allows 10 s */
		struct timespec step = {.tv_nsec = 20 * 1000000};
		for (int i = 0; i < 400 && waitpid(rs.script, NULL, WNOHANG) == 0; i++)
			nanosleep(&step, NULL);
	}
	kill_survivors();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGTERM, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	return 0;
}

static int teardown(void **state)
{
	char cmd[900], env[400];
	(void)state;
	if (rs.script <= 0)
		return 0;
	if (!script_reaped()) { /* a failed test: the script stops the stack itself */
		kill(-rs.script, SIGTERM);
		for (int64_t end = tm_mono_ms() + CLEANUP_WAIT_MS;
		     !script_reaped() && tm_mono_ms() < end;)
			tm_sleep_ms(50);
	}
	kill_survivors();
	if (!script_reaped())
		waitpid(rs.script, NULL, 0);
	/* a start that failed half-way may leave its state behind */
	snprintf(env, sizeof(env), "%s/stack.env", rs.run_dir);
	if (access(env, F_OK) == 0) {
		snprintf(cmd, sizeof(cmd), "TM_RUN_DIR='%s' bash '%s/deploy/devstack' stop",
			 rs.run_dir, tm_test_source_dir());
		if (system(cmd) != 0)
			fprintf(stderr, "devstack stop failed for %s\n", rs.run_dir);
	}
	if (rs.passed && !getenv("TM_TEST_KEEP_RUN_DIR")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rs.run_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", rs.run_dir);
	} else {
		fprintf(stderr, "logs kept in %s/logs\n", rs.run_dir);
	}
	rs.script = 0;
	return 0;
}

/* ---- tests ---- */

static void test_ctrl_c_stops_an_idle_stack_in_order_within_5_s(void **state)
{
	(void)state;
	assert_int_equal(run_start(NULL), 0);
	wait_up_and_list();
	int64_t took = ctrl_c_and_watch();
	print_message("every process gone %lld ms after Ctrl-C\n", (long long)took);
	assert_true(took <= CTRL_C_BUDGET_MS);
	assert_int_equal(rs.script_status, 0); /* 3: sanitizer reports in the logs */

	for (int i = 0; i < NDAEMONS; i++)
		assert_clean_stop(daemons[i]);
	/* tm-devkafka stopped on the script's SIGTERM, not on the terminal's SIGINT */
	assert_true(log_time("devkafka", "stopping on SIGTERM") > 0);
	/* in order: the gateway's HTTP front, the services, Kafka, PostgreSQL */
	int64_t http_done = log_time("gateway", "http: stopped");
	int64_t kafka_stop = log_time("devkafka", "stopping on SIGTERM");
	assert_true(http_done > 0);
	for (int i = 0; i < NDAEMONS; i++) {
		int64_t began = log_time(daemons[i], "signal 15: shutting down");
		int64_t ended = log_time(daemons[i], "stopped");
		if (i > 0 && began < http_done)
			fail_msg("tm-%s began stopping before the gateway's HTTP front",
				 daemons[i]);
		if (ended > kafka_stop)
			fail_msg("tm-devkafka stopped before tm-%s had", daemons[i]);
		assert_true(gone_ms_of(rs.daemon_pid[i]) <= gone_ms_of(rs.devkafka));
	}
	assert_true(gone_ms_of(rs.devkafka) <= gone_ms_of(rs.postmaster));
	rs.passed = true;
}

static void test_ctrl_c_with_kafka_killed_stops_within_the_shutdown_timeout(void **state)
{
	char timeout[16];
	(void)state;
	snprintf(timeout, sizeof(timeout), "%d", SHORT_SHUTDOWN_MS);
	assert_int_equal(run_start(timeout), 0);
	wait_up_and_list();
	assert_int_equal(kill(rs.devkafka, SIGKILL), 0);
	for (int i = 0; i < 100 && !gone(find_proc(rs.devkafka)); i++)
		tm_sleep_ms(POLL_MS);
	tm_sleep_ms(500); /* the daemons notice the broker is gone */
	int64_t took = ctrl_c_and_watch();
	int64_t daemons_ms = 0;
	for (int i = 0; i < NDAEMONS; i++) {
		int64_t g = gone_ms_of(rs.daemon_pid[i]);
		daemons_ms = g > daemons_ms ? g : daemons_ms;
		/* each logged its stop, clean or with what it gave up on */
		assert_true(log_time(daemons[i], "signal 15: shutting down") > 0);
	}
	print_message("daemons gone %lld ms, everything %lld ms after Ctrl-C\n",
		      (long long)daemons_ms, (long long)took);
	assert_true(daemons_ms <= SHORT_SHUTDOWN_MS + DAEMON_MARGIN_MS);
	assert_true(took <= SHORT_SHUTDOWN_MS + STACK_MARGIN_MS);
	assert_int_equal(rs.script_status, 0);
	rs.passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ctrl_c_stops_an_idle_stack_in_order_within_5_s,
					  teardown),
		cmocka_unit_test_teardown(
			test_ctrl_c_with_kafka_killed_stops_within_the_shutdown_timeout, teardown),
	};
	return cmocka_run_group_tests_name("system: Ctrl-C stops the stack", tests, setup, NULL);
}
