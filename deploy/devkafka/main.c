/*
 * tm-devkafka: runs librdkafka's mock cluster (the real Kafka wire protocol on
 * 127.0.0.1) with the suite's topics until SIGTERM/SIGINT.
 *   start: arguments -> logging -> cluster -> topics -> control socket ->
 *          "bootstrap=..." on stdout -> bootstrap file (atomic);
 *   run:   the main thread waits for a signal, the control thread serves faults;
 *   stop:  control socket, bootstrap file, cluster, handle; exit 0.
 * Exit status: 0 after a signal, 1 if the cluster cannot start, 2 on bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devkafka.h"
#include "tm/config.h"
#include "tm/log.h"
#include "tm/util.h"

#define DK_EXTRA_TOPICS_MAX 64 /* --topic given more often than this is refused */
#define DK_DEFAULT_BROKERS 1
#define DK_DEFAULT_PARTITIONS 3

/* The topics of the suite, one per publishing daemon (ARCHITECTURE.md, section 1). */
static const char *const suite_topics[] = {
	"tm.identity.v1", "tm.projects.v1",  "tm.matching.v1",
	"tm.payments.v1", "tm.messaging.v1", "tm.learning.v1",
};

struct dk_options {
	int64_t brokers;			 /* --brokers, 1..DK_BROKERS_MAX */
	int64_t partitions;			 /* --partitions of every topic created at start */
	const char *topics[DK_EXTRA_TOPICS_MAX]; /* --topic, in order given */
	int ntopics;
	const char *bootstrap_file; /* --bootstrap-file or NULL */
	const char *control_url;    /* --control or NULL */
	const char *log_level;	    /* --log-level, else TM_LOG_LEVEL */
	const char *log_format;	    /* TM_LOG_FORMAT */
};

static void usage(void)
{
	printf("usage: tm-devkafka [options]\n"
	       "       tm-devkafka ctl URL command [args...]\n"
	       "\n"
	       "Runs librdkafka's mock Kafka cluster on 127.0.0.1 with the taskmesh topics until\n"
	       "SIGTERM or SIGINT. Prints one line \"bootstrap=HOST:PORT,...\" on stdout.\n"
	       "\n"
	       "options:\n"
	       "  --brokers N            brokers in the cluster, 1..%d (default %d)\n"
	       "  --partitions P         partitions of each topic, 1..%d (default %d)\n"
	       "  --topic NAME           one more topic to create (repeatable)\n"
	       "  --bootstrap-file PATH  write the bootstrap address to PATH once the topics\n"
	       "                         exist (atomically); removed again on exit\n"
	       "  --control URL          serve fault-injection commands on an nng REP socket\n"
	       "                         (tcp://127.0.0.1:PORT or ipc:///path)\n"
	       "  --log-level LEVEL      debug|info|warn|error (default TM_LOG_LEVEL or info)\n"
	       "  --help                 this text\n"
	       "\n"
	       "control commands (one line each; answer \"ok ...\" or \"error ...\"):\n"
	       "  ping | bootstraps | broker-down <id> | broker-up <id> | broker-rtt <id> <ms>\n"
	       "  push-errors <ApiKey> <count> <errcode> | clear-errors <ApiKey>\n"
	       "  topic-error <topic> <errcode> | create-topic <name> <partitions>\n"
	       "  (broker ids are 1..N, -1 means all; errcode is numeric, e.g. 6 or -195)\n"
	       "\n"
	       "environment: TM_LOG_LEVEL (info), TM_LOG_FORMAT (json|text, default json)\n"
	       "exit status: 0 after SIGTERM/SIGINT, 1 if the cluster cannot start,\n"
	       "2 on bad arguments; ctl: 0 on \"ok\", 1 otherwise\n",
	       DK_BROKERS_MAX, DK_DEFAULT_BROKERS, DK_PARTITIONS_MAX, DK_DEFAULT_PARTITIONS);
}

/* Parses the integer value of option `name`. Returns 0, or -1 after one line on stderr. */
static int opt_int(const char *name, const char *s, int64_t min, int64_t max, int64_t *v)
{
	if (tm_parse_int64(s, v) != 0 || *v < min || *v > max) {
		fprintf(stderr, "tm-devkafka: --%s '%s': must be an integer from %lld to %lld\n",
			name, s, (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

static int opt_topic(struct dk_options *o, const char *name)
{
	if (!dk_topic_name_valid(name)) {
		fprintf(stderr,
			"tm-devkafka: --topic '%s': a topic name is 1..%d of [a-zA-Z0-9._-]\n",
			name, DK_TOPIC_NAME_MAX);
		return -1;
	}
	if (o->ntopics == DK_EXTRA_TOPICS_MAX) {
		fprintf(stderr, "tm-devkafka: --topic given more than %d times\n",
			DK_EXTRA_TOPICS_MAX);
		return -1;
	}
	o->topics[o->ntopics++] = name;
	return 0;
}

/* Reads the environment defaults, then the options. Returns 0, 2 on bad
 * arguments (one line on stderr), or -1 after --help. */
static int parse_args(struct dk_options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"brokers", required_argument, NULL, 'b'},
		{"partitions", required_argument, NULL, 'p'},
		{"topic", required_argument, NULL, 't'},
		{"bootstrap-file", required_argument, NULL, 'f'},
		{"control", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct tm_cfg_item env[] = {
		{"TM_LOG_LEVEL", TM_CFG_ENUM, "info", &o->log_level, 0, 0, "debug|info|warn|error",
		 false, "minimum log level"},
		{"TM_LOG_FORMAT", TM_CFG_ENUM, "json", &o->log_format, 0, 0, "json|text", false,
		 "log line format"},
	};
	char err[256];
	int ch;

	o->brokers = DK_DEFAULT_BROKERS;
	o->partitions = DK_DEFAULT_PARTITIONS;
	if (tm_config_load(env, TM_ARRAY_LEN(env), tm_config_getenv, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-devkafka: %s\n", err);
		return 2;
	}
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int rc = 0;
		switch (ch) {
		case 'b':
			rc = opt_int("brokers", optarg, 1, DK_BROKERS_MAX, &o->brokers);
			break;
		case 'p':
			rc = opt_int("partitions", optarg, 1, DK_PARTITIONS_MAX, &o->partitions);
			break;
		case 't':
			rc = opt_topic(o, optarg);
			break;
		case 'f':
			o->bootstrap_file = optarg;
			break;
		case 'c':
			o->control_url = optarg;
			break;
		case 'l':
			o->log_level = optarg;
			break;
		case 'h':
			usage();
			return -1;
		case ':':
			fprintf(stderr, "tm-devkafka: %s needs a value; see --help\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "tm-devkafka: unknown option '%s'; see --help\n",
				argv[optind - 1]);
			return 2;
		}
		if (rc != 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "tm-devkafka: unexpected argument '%s'; see --help\n",
			argv[optind]);
		return 2;
	}
	if (o->bootstrap_file && !o->bootstrap_file[0]) {
		fprintf(stderr, "tm-devkafka: --bootstrap-file needs a path\n");
		return 2;
	}
	if (tm_log_init("devkafka", o->log_level, o->log_format) != 0) {
		fprintf(stderr,
			"tm-devkafka: --log-level '%s': must be debug, info, warn or error\n",
			o->log_level);
		return 2;
	}
	return 0;
}

int dk_topic_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DK_TOPIC_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int dk_topic_create(struct dk_cluster *c, const char *name, int partitions, char *err,
		    size_t errlen)
{
	int rf = c->brokers < DK_REPLICATION_MAX ? c->brokers : DK_REPLICATION_MAX;
	rd_kafka_resp_err_t kerr;

	if (!dk_topic_name_valid(name)) {
		snprintf(err, errlen, "'%.*s' is not a topic name (1..%d of [a-zA-Z0-9._-])",
			 DK_TOPIC_NAME_MAX, name, DK_TOPIC_NAME_MAX);
		return -1;
	}
	if (partitions < 1 || partitions > DK_PARTITIONS_MAX) {
		snprintf(err, errlen, "partitions %d out of range 1..%d", partitions,
			 DK_PARTITIONS_MAX);
		return -1;
	}
	kerr = rd_kafka_mock_topic_create(c->mc, name, partitions, rf);
	if (kerr) {
		snprintf(err, errlen, "cannot create topic %s: %s", name, rd_kafka_err2str(kerr));
		return -1;
	}
	tm_info("topic %s created: %d partitions, replication factor %d", name, partitions, rf);
	return 0;
}

/* librdkafka's log lines (syslog levels) into ours. */
static void rk_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum tm_log_level lv = level <= 3 ? TM_LOG_ERROR :
			       level == 4 ? TM_LOG_WARN :
			       level <= 6 ? TM_LOG_INFO :
					    TM_LOG_DEBUG;
	/* the hosting handle never connects anywhere, so this warning is expected */
	if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
		lv = TM_LOG_DEBUG;
	tm_log(lv, "librdkafka %s: %s", fac, buf);
}

/* Creates the hosting handle and the mock cluster. Returns 0 or -1 (logged). */
static int cluster_start(struct dk_cluster *c, int brokers)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set_log_cb(conf, rk_log);
	if (rd_kafka_conf_set(conf, "client.id", "tm-devkafka", err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK) {
		tm_error("cannot configure the hosting handle: %s", err);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)); /* owns conf on success */
	if (!c->rk) {
		tm_error("cannot create the hosting handle: %s", err);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	c->mc = rd_kafka_mock_cluster_new(c->rk, brokers);
	if (!c->mc) {
		tm_error("cannot create a mock cluster of %d brokers: no loopback listener? "
			 "check that 127.0.0.1 is configured",
			 brokers);
		rd_kafka_destroy(c->rk);
		c->rk = NULL;
		return -1;
	}
	c->brokers = brokers;
	return 0;
}

static void cluster_stop(struct dk_cluster *c)
{
	if (c->mc) {
		rd_kafka_mock_cluster_destroy(c->mc);
		tm_debug("mock cluster destroyed");
	}
	if (c->rk) {
		rd_kafka_destroy(c->rk);
		tm_debug("hosting handle destroyed");
	}
	c->mc = NULL;
	c->rk = NULL;
}

/* The suite's topics, then the --topic ones. A repeated name is created once. */
static int topics_create(struct dk_cluster *c, const struct dk_options *o)
{
	const char *names[TM_ARRAY_LEN(suite_topics) + DK_EXTRA_TOPICS_MAX];
	int n = 0;
	char err[512];

	for (size_t i = 0; i < TM_ARRAY_LEN(suite_topics); i++)
		names[n++] = suite_topics[i];
	for (int i = 0; i < o->ntopics; i++)
		names[n++] = o->topics[i];
	for (int i = 0; i < n; i++) {
		int seen = 0;
		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(names[i], names[j]) == 0;
		if (seen)
			continue;
		if (dk_topic_create(c, names[i], (int)o->partitions, err, sizeof(err)) != 0) {
			tm_error("%s", err);
			return -1;
		}
	}
	return 0;
}

/* Writes "addr\n" to path via a temporary file and rename(2), so a reader sees
 * the whole line or no file. Returns 0 or -1 (logged). */
static int write_bootstrap_file(const char *path, const char *addr)
{
	char tmp[PATH_MAX];
	char line[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	int len = snprintf(line, sizeof(line), "%s\n", addr);

	if (n < 0 || (size_t)n >= sizeof(tmp) || len < 0 || (size_t)len >= sizeof(line)) {
		tm_error("bootstrap file path %s or address too long", path);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		tm_error("cannot create %s: %s; check that the directory exists and is writable",
			 tmp, strerror(errno));
		return -1;
	}
	for (int off = 0; off < len;) {
		ssize_t w = write(fd, line + off, (size_t)(len - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			tm_error("cannot write %s: %s", tmp, strerror(errno));
			goto out_unlink;
		}
		off += (int)w;
	}
	int sync_rc = fsync(fd);
	int sync_errno = errno;
	int close_rc = close(fd);
	fd = -1;
	if (sync_rc != 0 || close_rc != 0) {
		tm_error("cannot write %s: %s", tmp, strerror(sync_rc != 0 ? sync_errno : errno));
		goto out_unlink;
	}
	if (rename(tmp, path) != 0) {
		tm_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out_unlink;
	}
	return 0;

out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* Blocks the stop signals in this thread and every thread created after it,
 * for sigwait, and resets their disposition to the default: a shell starts
 * background jobs with SIGINT ignored, and an ignored signal never reaches sigwait. */
static void block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct dk_options opt = {0};
	struct dk_cluster cluster = {0};
	struct dk_control *ctl = NULL;
	char err[512];
	sigset_t stop;
	int sig = 0, status = 1;

	if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
		return dk_ctl_main(argc - 2, argv + 2);
	int rc = parse_args(&opt, argc, argv);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	block_stop_signals(&stop);

	if (cluster_start(&cluster, (int)opt.brokers) != 0)
		return 1;
	if (topics_create(&cluster, &opt) != 0)
		goto out_cluster;
	if (opt.control_url &&
	    dk_control_start(&ctl, opt.control_url, &cluster, err, sizeof(err)) != 0) {
		tm_error("control socket: %s", err);
		goto out_cluster;
	}
	const char *addr = rd_kafka_mock_cluster_bootstraps(cluster.mc);
	printf("bootstrap=%s\n", addr);
	if (fflush(stdout) != 0) {
		tm_error("cannot write the bootstrap line to stdout: %s", strerror(errno));
		goto out_control;
	}
	if (opt.bootstrap_file && write_bootstrap_file(opt.bootstrap_file, addr) != 0)
		goto out_control;
	tm_info("ready: %lld broker(s) at %s, control %s", (long long)opt.brokers, addr,
		opt.control_url ? opt.control_url : "off");

	if (sigwait(&stop, &sig) != 0) {
		tm_error("sigwait failed");
		goto out_file;
	}
	tm_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	status = 0;

out_file:
	if (opt.bootstrap_file)
		unlink(opt.bootstrap_file);
out_control:
	dk_control_stop(ctl);
out_cluster:
	cluster_stop(&cluster);
	if (status == 0)
		tm_info("stopped");
	return status;
}
