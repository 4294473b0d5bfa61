/* Test support: a real stack per test binary; see stack.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack.h"
#include "tm/util.h"

const char *tm_test_source_dir(void)
{
	const char *d = getenv("TM_SOURCE_DIR");
	return d && *d ? d : TM_SOURCE_DIR_DEFAULT;
}

const char *tm_test_bin_dir(void)
{
	static char buf[512];
	const char *d = getenv("TM_BIN_DIR");
	if (d && *d)
		return d;
	snprintf(buf, sizeof(buf), "%s/build/rel/bin", tm_test_source_dir());
	return buf;
}

static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

int tm_test_free_ports(int span)
{
	for (int attempt = 0; attempt < 200; attempt++) {
		uint32_t r = 0;
		tm_random_bytes(&r, sizeof(r));
		/* below Linux's ephemeral range (32768-60999), so no outgoing connection
		 * takes the port between this check and the server's bind */
		int base = 10000 + (int)(r % 22000);
		bool ok = true;
		for (int i = 0; i < span && ok; i++)
			ok = port_free(base + i);
		if (ok)
			return base;
	}
	return -1;
}

/* Runs deploy/devstack <verb> with the stack's environment; returns its status. */
static int devstack(const struct tm_test_stack *s, const char *verb, bool infra_only)
{
	char script[600], port[16];
	snprintf(script, sizeof(script), "%s/deploy/devstack", tm_test_source_dir());
	snprintf(port, sizeof(port), "%d", s->port_base);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("TM_RUN_DIR", s->run_dir, 1);
		setenv("TM_PORT_BASE", port, 1);
		setenv("TM_BIN_DIR", tm_test_bin_dir(), 1);
		setenv("TM_PG_FSYNC", "off", 1);
		setenv("TM_STACK_INFRA_ONLY", infra_only ? "1" : "0", 1);
		unsetenv("TM_DATABASE_URL");
		unsetenv("TM_KAFKA_BROKERS");
		unsetenv("TM_JWT_SECRET");
		execl("/bin/bash", "bash", script, verb, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads KEY=value lines of stack.env into the struct. */
static void read_state(struct tm_test_stack *s)
{
	char path[400], line[1024];
	snprintf(path, sizeof(path), "%s/stack.env", s->run_dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(line, "TM_GATEWAY_URL") == 0)
			snprintf(s->gateway_url, sizeof(s->gateway_url), "%s", v);
		else if (strcmp(line, "TM_DATABASE_URL") == 0)
			snprintf(s->database_url, sizeof(s->database_url), "%s", v);
		else if (strcmp(line, "TM_KAFKA_BROKERS") == 0)
			snprintf(s->kafka_brokers, sizeof(s->kafka_brokers), "%s", v);
		else if (strcmp(line, "KAFKA_CONTROL") == 0)
			snprintf(s->kafka_control, sizeof(s->kafka_control), "%s", v);
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/jwt_secret", s->run_dir);
	if ((f = fopen(path, "r"))) {
		if (fgets(s->jwt_secret, sizeof(s->jwt_secret), f))
			s->jwt_secret[strcspn(s->jwt_secret, "\n")] = '\0';
		fclose(f);
	}
}

/*
 * A test killed by SIGTERM/SIGINT (the `timeout` of tests/run.sh) or stopped
 * by a sanitizer report never reaches its cmocka teardown; these hooks stop
 * the stack anyway, with async-signal-safe calls only (fork, execve, waitpid),
 * from argv/envp prepared when the stack started.
 */
static struct {
	const struct tm_test_stack *stack;
	char script[600], env_run[400], env_path[1200];
	char *argv[4], *envp[3];
} emergency;

extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void emergency_stop(void)
{
	if (!emergency.stack || !emergency.stack->running)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		execve("/bin/bash", emergency.argv, emergency.envp);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

static void on_fatal_signal(int sig)
{
	emergency_stop();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm_emergency_stop(const struct tm_test_stack *s)
{
	const char *path = getenv("PATH");
	snprintf(emergency.script, sizeof(emergency.script), "%s/deploy/devstack",
		 tm_test_source_dir());
	snprintf(emergency.env_run, sizeof(emergency.env_run), "TM_RUN_DIR=%s", s->run_dir);
	snprintf(emergency.env_path, sizeof(emergency.env_path), "PATH=%s",
		 path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	emergency.argv[0] = "bash";
	emergency.argv[1] = emergency.script;
	emergency.argv[2] = "stop";
	emergency.argv[3] = NULL;
	emergency.envp[0] = emergency.env_run;
	emergency.envp[1] = emergency.env_path;
	emergency.envp[2] = NULL;
	emergency.stack = s;
	signal(SIGTERM, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(emergency_stop);
}

int tm_test_stack_start(struct tm_test_stack *s, bool infra_only)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->run_dir, sizeof(s->run_dir), "/tmp/tm-test-XXXXXX");
	if (!mkdtemp(s->run_dir) || chmod(s->run_dir, 0755) != 0) {
		perror("mkdtemp");
		return -1;
	}
	if ((s->port_base = tm_test_free_ports(12)) < 0) {
		fprintf(stderr, "no free ports\n");
		return -1;
	}
	s->running = true;
	arm_emergency_stop(s);
	if (devstack(s, "start", infra_only) != 0) {
		fprintf(stderr, "devstack start failed (logs in %s/logs)\n", s->run_dir);
		tm_test_stack_stop(s);
		return -1;
	}
	read_state(s);
	return 0;
}

int tm_test_stack_stop(struct tm_test_stack *s)
{
	char cmd[400];
	if (!s->running)
		return 0;
	s->running = false;
	int rc = devstack(s, "stop", false);
	if (emergency.stack == s) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		emergency.stack = NULL;
	}
	if (rc == 0 && !getenv("TM_TEST_KEEP_RUN_DIR")) {
		/* all clean: nothing to look at; a failed stop keeps its logs */
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->run_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->run_dir);
	}
	return rc;
}

int tm_test_kafka_ctl(const struct tm_test_stack *s, const char *command)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s/tm-devkafka' ctl '%s' %s >/dev/null 2>&1",
		 tm_test_bin_dir(), s->kafka_control, command);
	return system(cmd) == 0 ? 0 : -1;
}

int tm_test_stack_pid(const struct tm_test_stack *s, const char *daemon)
{
	char path[400], line[256], want[64];
	int pid = -1;
	snprintf(path, sizeof(path), "%s/stack.env", s->run_dir);
	snprintf(want, sizeof(want), "PID_%s=", daemon);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int64_t v;
		char *val = line + strlen(want);
		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		val[strcspn(val, "\n")] = '\0';
		if (tm_parse_int64(val, &v) == 0)
			pid = (int)v;
	}
	fclose(f);
	return pid;
}

void tm_test_stack_log(const struct tm_test_stack *s, const char *daemon, char *out, int outlen)
{
	snprintf(out, (size_t)outlen, "%s/logs/tm-%s.log", s->run_dir, daemon);
}
