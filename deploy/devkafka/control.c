/*
 * The control socket of tm-devkafka: one-line text commands over nng REQ/REP
 * that inject faults into the mock cluster, and the `ctl` client that sends one.
 * Commands are a table, one row each; every argument is parsed and range
 * checked before the mock cluster is touched.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "devkafka.h"
#include "tm/log.h"
#include "tm/util.h"

#define DK_ARGS_MAX 4		/* words of one command, its name included */
#define DK_PUSH_ERRORS_MAX 1000 /* errors pushed by one push-errors command */
#define DK_RTT_MS_MAX 60000	/* largest broker-rtt */
#define DK_CTL_TIMEOUT_MS 5000	/* ctl client: bound on dial, send and receive */
#define DK_RECV_RETRY_MS 10	/* pause after an unexpected receive error */

struct dk_control {
	nng_socket sock;      /* REP socket */
	pthread_t thread;     /* serves the socket */
	struct dk_cluster *c; /* the cluster the commands act on */
};

struct dk_cmd {
	const char *name;  /* first word of the line */
	int argc;	   /* words after the name */
	const char *usage; /* shown when the argument count is wrong */
	int (*run)(struct dk_cluster *c, char **argv, char *out, size_t outlen);
};

/* Parses a whole decimal integer in [min, max]. Returns 0, or -1 with an answer in out. */
static int arg_int(const char *what, const char *s, int64_t min, int64_t max, int64_t *v, char *out,
		   size_t outlen)
{
	if (tm_parse_int64(s, v) != 0) {
		snprintf(out, outlen, "error %s '%s' is not an integer", what, s);
		return -1;
	}
	if (*v < min || *v > max) {
		snprintf(out, outlen, "error %s %lld is out of range %lld..%lld", what,
			 (long long)*v, (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

/* A broker id: -1 for all brokers or 1..brokers. */
static int arg_broker(struct dk_cluster *c, const char *s, int32_t *id, char *out, size_t outlen)
{
	int64_t v;

	if (arg_int("broker id", s, -1, c->brokers, &v, out, outlen) != 0)
		return -1;
	if (v == 0) {
		snprintf(out, outlen, "error no broker 0: broker ids are 1..%d, or -1 for all",
			 c->brokers);
		return -1;
	}
	*id = (int32_t)v;
	return 0;
}

/* A Kafka error code that librdkafka knows (0 included: "no error"). */
static int arg_errcode(const char *s, rd_kafka_resp_err_t *err, char *out, size_t outlen)
{
	const struct rd_kafka_err_desc *descs;
	size_t n;
	int64_t v;

	if (arg_int("error code", s, INT16_MIN, INT16_MAX, &v, out, outlen) != 0)
		return -1;
	rd_kafka_get_err_descs(&descs, &n);
	for (size_t i = 0; i < n; i++) {
		if (descs[i].name && descs[i].code == (rd_kafka_resp_err_t)v) {
			*err = (rd_kafka_resp_err_t)v;
			return 0;
		}
	}
	snprintf(out, outlen, "error unknown error code %lld (e.g. 6 or -195)", (long long)v);
	return -1;
}

static int arg_apikey(const char *s, int16_t *key, char *out, size_t outlen)
{
	int64_t v;

	if (arg_int("ApiKey", s, 0, INT16_MAX, &v, out, outlen) != 0)
		return -1;
	*key = (int16_t)v;
	return 0;
}

/* Writes the answer for a mock call that returned err. */
static int answer(rd_kafka_resp_err_t err, char *out, size_t outlen, const char *ok)
{
	if (err) {
		snprintf(out, outlen, "error %s: %s", rd_kafka_err2name(err),
			 rd_kafka_err2str(err));
		return -1;
	}
	snprintf(out, outlen, "ok %s", ok);
	return 0;
}

static int cmd_ping(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	snprintf(out, outlen, "ok pong");
	return 0;
}

static int cmd_bootstraps(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	snprintf(out, outlen, "ok %s", rd_kafka_mock_cluster_bootstraps(c->mc));
	return 0;
}

static int cmd_broker_down(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	int32_t id;

	if (arg_broker(c, argv[1], &id, out, outlen) != 0)
		return -1;
	return answer(rd_kafka_mock_broker_set_down(c->mc, id), out, outlen, "down");
}

static int cmd_broker_up(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	int32_t id;

	if (arg_broker(c, argv[1], &id, out, outlen) != 0)
		return -1;
	return answer(rd_kafka_mock_broker_set_up(c->mc, id), out, outlen, "up");
}

static int cmd_broker_rtt(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	int32_t id;
	int64_t rtt_ms;

	if (arg_broker(c, argv[1], &id, out, outlen) != 0 ||
	    arg_int("rtt ms", argv[2], 0, DK_RTT_MS_MAX, &rtt_ms, out, outlen) != 0)
		return -1;
	return answer(rd_kafka_mock_broker_set_rtt(c->mc, id, (int)rtt_ms), out, outlen, "rtt set");
}

static int cmd_push_errors(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	/* static: too big for a comfortable stack frame; only the control thread runs commands */
	static rd_kafka_resp_err_t errs[DK_PUSH_ERRORS_MAX];
	int16_t key;
	int64_t cnt;
	rd_kafka_resp_err_t err;

	if (arg_apikey(argv[1], &key, out, outlen) != 0 ||
	    arg_int("count", argv[2], 1, DK_PUSH_ERRORS_MAX, &cnt, out, outlen) != 0 ||
	    arg_errcode(argv[3], &err, out, outlen) != 0)
		return -1;
	for (int64_t i = 0; i < cnt; i++)
		errs[i] = err;
	rd_kafka_mock_push_request_errors_array(c->mc, key, (size_t)cnt, errs);
	snprintf(out, outlen, "ok pushed %lld x %s on ApiKey %d", (long long)cnt,
		 rd_kafka_err2name(err), key);
	return 0;
}

static int cmd_clear_errors(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	int16_t key;

	if (arg_apikey(argv[1], &key, out, outlen) != 0)
		return -1;
	rd_kafka_mock_clear_request_errors(c->mc, key);
	snprintf(out, outlen, "ok cleared ApiKey %d", key);
	return 0;
}

static int cmd_topic_error(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	rd_kafka_resp_err_t err;

	if (!dk_topic_name_valid(argv[1])) {
		snprintf(out, outlen, "error '%.*s' is not a topic name", DK_TOPIC_NAME_MAX,
			 argv[1]);
		return -1;
	}
	if (arg_errcode(argv[2], &err, out, outlen) != 0)
		return -1;
	rd_kafka_mock_topic_set_error(c->mc, argv[1], err);
	snprintf(out, outlen, "ok topic error %s", rd_kafka_err2name(err));
	return 0;
}

static int cmd_create_topic(struct dk_cluster *c, char **argv, char *out, size_t outlen)
{
	char err[256];
	int64_t parts;

	if (arg_int("partitions", argv[2], 1, DK_PARTITIONS_MAX, &parts, out, outlen) != 0)
		return -1;
	if (dk_topic_create(c, argv[1], (int)parts, err, sizeof(err)) != 0) {
		snprintf(out, outlen, "error %s", err);
		return -1;
	}
	snprintf(out, outlen, "ok created");
	return 0;
}

static const struct dk_cmd dk_cmds[] = {
	{"ping", 0, "ping", cmd_ping},
	{"bootstraps", 0, "bootstraps", cmd_bootstraps},
	{"broker-down", 1, "broker-down <id>", cmd_broker_down},
	{"broker-up", 1, "broker-up <id>", cmd_broker_up},
	{"broker-rtt", 2, "broker-rtt <id> <ms>", cmd_broker_rtt},
	{"push-errors", 3, "push-errors <ApiKey> <count> <errcode>", cmd_push_errors},
	{"clear-errors", 1, "clear-errors <ApiKey>", cmd_clear_errors},
	{"topic-error", 2, "topic-error <topic> <errcode>", cmd_topic_error},
	{"create-topic", 2, "create-topic <name> <partitions>", cmd_create_topic},
};

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int dk_command(struct dk_cluster *c, const char *line, char *out, size_t outlen)
{
	char buf[DK_LINE_MAX];
	char *argv[DK_ARGS_MAX];
	int argc = 0;

	if (strlen(line) >= sizeof(buf)) {
		snprintf(out, outlen, "error command longer than %d bytes", DK_LINE_MAX - 1);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *p = buf; *p;) {
		if (is_space(*p)) {
			*p++ = '\0';
			continue;
		}
		if (argc == DK_ARGS_MAX) {
			snprintf(out, outlen, "error too many words (at most %d)", DK_ARGS_MAX);
			return -1;
		}
		argv[argc++] = p;
		while (*p && !is_space(*p))
			p++;
	}
	if (argc == 0) {
		snprintf(out, outlen, "error empty command");
		return -1;
	}
	for (size_t i = 0; i < TM_ARRAY_LEN(dk_cmds); i++) {
		const struct dk_cmd *cmd = &dk_cmds[i];
		if (strcmp(argv[0], cmd->name) != 0)
			continue;
		if (argc - 1 != cmd->argc) {
			snprintf(out, outlen, "error usage: %s", cmd->usage);
			return -1;
		}
		return cmd->run(c, argv, out, outlen);
	}
	snprintf(out, outlen,
		 "error unknown command '%.64s' (ping, bootstraps, broker-down, "
		 "broker-up, broker-rtt, push-errors, clear-errors, topic-error, create-topic)",
		 argv[0]);
	return -1;
}

/* Answers one received message. The message may end in NUL, CR or LF. */
static void control_serve_one(struct dk_control *ctl, const char *msg, size_t len, char *ans,
			      size_t anslen)
{
	char line[DK_LINE_MAX];

	while (len > 0 && (msg[len - 1] == '\0' || msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	if (len >= sizeof(line)) {
		snprintf(ans, anslen, "error command longer than %d bytes", DK_LINE_MAX - 1);
		return;
	}
	if (memchr(msg, '\0', len)) {
		snprintf(ans, anslen, "error command contains a NUL byte");
		return;
	}
	memcpy(line, msg, len);
	line[len] = '\0';
	int rc = dk_command(ctl->c, line, ans, anslen);
	tm_log(rc == 0 ? TM_LOG_INFO : TM_LOG_WARN, "control: %s -> %s", line, ans);
}

/* The control thread: RECV -> WORK -> SEND until the socket is closed. */
static void *control_thread(void *arg)
{
	struct dk_control *ctl = arg;

	for (;;) {
		char *msg = NULL;
		size_t len = 0;
		char ans[DK_LINE_MAX];

		int rv = nng_recv(ctl->sock, &msg, &len, NNG_FLAG_ALLOC);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			tm_warn("control: receive failed: %s", nng_strerror(rv));
			tm_sleep_ms(DK_RECV_RETRY_MS);
			continue;
		}
		control_serve_one(ctl, msg, len, ans, sizeof(ans));
		nng_free(msg, len);
		rv = nng_send(ctl->sock, ans, strlen(ans), 0);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0)
			tm_warn("control: send failed: %s", nng_strerror(rv));
	}
	return NULL;
}

int dk_control_start(struct dk_control **out, const char *url, struct dk_cluster *c, char *err,
		     size_t errlen)
{
	struct dk_control *ctl = calloc(1, sizeof(*ctl));
	int rv;

	if (!ctl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctl->c = c;
	rv = nng_rep0_open(&ctl->sock);
	if (rv != 0) {
		snprintf(err, errlen, "cannot open control socket: %s", nng_strerror(rv));
		goto out_free;
	}
	rv = nng_listen(ctl->sock, url, NULL, 0);
	if (rv != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s (is another tm-devkafka using it?)",
			 url, nng_strerror(rv));
		goto out_close;
	}
	rv = pthread_create(&ctl->thread, NULL, control_thread, ctl);
	if (rv != 0) {
		snprintf(err, errlen, "cannot start control thread: %s", strerror(rv));
		goto out_close;
	}
	*out = ctl;
	return 0;

out_close:
	nng_close(ctl->sock);
out_free:
	free(ctl);
	return -1;
}

void dk_control_stop(struct dk_control *ctl)
{
	if (!ctl)
		return;
	nng_close(ctl->sock); /* the thread's nng_recv returns NNG_ECLOSED */
	pthread_join(ctl->thread, NULL);
	free(ctl);
	tm_debug("control socket closed");
}

/* Joins words into one line. Returns 0, or -1 if it would not fit. */
static int join_words(int argc, char **argv, char *line, size_t len)
{
	size_t off = 0;

	line[0] = '\0';
	for (int i = 0; i < argc; i++) {
		int n = snprintf(line + off, len - off, "%s%s", i ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

int dk_ctl_main(int argc, char **argv)
{
	char line[DK_LINE_MAX];
	nng_socket sock;
	char *reply = NULL;
	size_t len = 0;
	int rv, status = 1;

	if (argc < 2) {
		fprintf(stderr, "tm-devkafka ctl: usage: tm-devkafka ctl URL command [args...]\n");
		return 2;
	}
	if (join_words(argc - 1, argv + 1, line, sizeof(line)) != 0) {
		fprintf(stderr, "tm-devkafka ctl: command longer than %d bytes\n", DK_LINE_MAX - 1);
		return 2;
	}
	rv = nng_req0_open(&sock);
	if (rv != 0) {
		fprintf(stderr, "tm-devkafka ctl: cannot open socket: %s\n", nng_strerror(rv));
		return 1;
	}
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, DK_CTL_TIMEOUT_MS);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, DK_CTL_TIMEOUT_MS);
	rv = nng_dial(sock, argv[0], NULL, 0);
	if (rv != 0) {
		fprintf(stderr,
			"tm-devkafka ctl: cannot reach %s: %s (is tm-devkafka running with "
			"--control %s?)\n",
			argv[0], nng_strerror(rv), argv[0]);
		goto out_close;
	}
	rv = nng_send(sock, line, strlen(line), 0);
	if (rv == 0)
		rv = nng_recv(sock, &reply, &len, NNG_FLAG_ALLOC);
	if (rv != 0) {
		fprintf(stderr, "tm-devkafka ctl: %s: %s\n", line, nng_strerror(rv));
		goto out_close;
	}
	printf("%.*s\n", (int)len, reply);
	if (len >= 2 && memcmp(reply, "ok", 2) == 0 && (len == 2 || reply[2] == ' '))
		status = 0;
	nng_free(reply, len);
out_close:
	nng_close(sock);
	return status;
}
