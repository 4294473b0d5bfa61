/* The life of a daemon; see tm/service.h. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tm_version.h"
#include "tm/bus.h"
#include "tm/log.h"
#include "tm/migrate.h"
#include "tm/service.h"
#include "tm/util.h"

#define DAEMON_CFG_MAX 64 /* settings per daemon, common ones included */

static void common_items(struct tm_daemon_config *c, struct tm_cfg_item *it, size_t *n)
{
	const struct tm_cfg_item items[] = {
		{"TM_DATABASE_URL", TM_CFG_STRING, "postgresql://taskmesh@127.0.0.1:55432/taskmesh",
		 &c->database_url, 1, 4096, NULL, true, "PostgreSQL (libpq conninfo or URI)"},
		{"TM_KAFKA_BROKERS", TM_CFG_STRING, "127.0.0.1:9092", &c->kafka_brokers, 1, 4096,
		 NULL, false, "Kafka bootstrap servers, host:port[,host:port]"},
		{"TM_LOG_LEVEL", TM_CFG_ENUM, "info", &c->log_level, 0, 0, "debug|info|warn|error",
		 false, "minimum level logged"},
		{"TM_LOG_FORMAT", TM_CFG_ENUM, "json", &c->log_format, 0, 0, "json|text", false,
		 "json lines, or text for humans"},
		{"TM_MIGRATIONS_DIR", TM_CFG_STRING, TM_DEFAULT_MIGRATIONS_DIR, &c->migrations_dir,
		 1, 4000, NULL, false, "where migrations/<schema>/*.sql live"},
		{"TM_STARTUP_TIMEOUT_MS", TM_CFG_INT, "30000", &c->startup_timeout_ms, 0, 600000,
		 NULL, false, "how long to retry PostgreSQL and Kafka at start"},
		{"TM_KAFKA_FETCH_WAIT_MS", TM_CFG_INT, "100", &c->kafka_fetch_wait_ms, 1, 10000,
		 NULL, false, "consumer fetch.wait.max.ms (the dev stack uses 20)"},
		{"TM_KAFKA_SESSION_TIMEOUT_MS", TM_CFG_INT, "45000", &c->kafka_session_timeout_ms,
		 3500, 300000, NULL, false,
		 "consumer session.timeout.ms; a restarted consumer waits this long for its partitions"},
		{"TM_SHUTDOWN_TIMEOUT_MS", TM_CFG_INT, "10000", &c->shutdown_timeout_ms, 100,
		 600000, NULL, false, "one deadline for the whole stop (SIGTERM, SIGINT, SIGHUP)"},
	};
	memcpy(it, items, sizeof(items));
	*n = TM_ARRAY_LEN(items);
}

/* Combines the common settings and a daemon's own into one table. */
static size_t all_items(struct tm_daemon *d, const struct tm_cfg_item *extra, size_t nextra,
			struct tm_cfg_item *out)
{
	size_t n = 0;
	common_items(&d->cfg, out, &n);
	for (size_t i = 0; i < nextra && n < DAEMON_CFG_MAX; i++)
		out[n++] = extra[i];
	return n;
}

static bool has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

/* The signals that stop a daemon: SIGTERM, SIGINT, and SIGHUP (the terminal
 * closed) unless the daemon was started with it ignored (nohup). Blocked
 * signals reach sigwait even when ignored, so an ignored SIGHUP stays out. */
static sigset_t stop_signals;

static void block_signals(void)
{
	struct sigaction hup;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
		sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Starts the infrastructure in order; returns 0 or an exit status after one line on stderr. */
static int bring_up(struct tm_daemon *d)
{
	char err[512];
	struct tm_db *db = NULL;

	if (tm_db_open_retry(&db, d->cfg.database_url, d->schema, (int)d->cfg.startup_timeout_ms,
			     err, sizeof(err)) != 0) {
		fprintf(stderr,
			"%s: cannot connect to PostgreSQL: %s — set TM_DATABASE_URL or run make run\n",
			d->daemon_name, err);
		return 1;
	}
	if (tm_kafka_wait_ready(d->cfg.kafka_brokers, (int)d->cfg.startup_timeout_ms, err,
				sizeof(err)) != 0) {
		fprintf(stderr,
			"%s: cannot reach Kafka: %s — set TM_KAFKA_BROKERS or run make run\n",
			d->daemon_name, err);
		tm_db_close(db);
		return 1;
	}
	int applied = tm_migrate(db, d->cfg.migrations_dir, d->schema, err, sizeof(err));
	tm_db_close(db);
	if (applied < 0) {
		fprintf(stderr, "%s: %s\n", d->daemon_name, err);
		return 1;
	}
	char client_id[64];
	snprintf(client_id, sizeof(client_id), "%s-relay", d->daemon_name);
	struct tm_outbox_relay_config rc = {.conninfo = d->cfg.database_url,
					    .schema = d->schema,
					    .brokers = d->cfg.kafka_brokers,
					    .client_id = client_id,
					    .batch_max = 500,
					    .idle_poll_ms = 1000,
					    .delivery_timeout_ms = 10000};
	if (tm_outbox_relay_start(&d->relay, &rc, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot start the outbox relay: %s\n", d->daemon_name, err);
		return 1;
	}
	return 0;
}

int tm_daemon_start(struct tm_daemon *d, const char *name, const struct tm_cfg_item *extra,
		    size_t nextra, int argc, char **argv)
{
	struct tm_cfg_item items[DAEMON_CFG_MAX];
	char err[512];

	block_signals(); /* before any thread exists: only tm_daemon_wait_signal takes them */
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->started_mono_ms = tm_mono_ms();
	snprintf(d->daemon_name, sizeof(d->daemon_name), "tm-%s", name);
	d->schema = strcmp(name, "gateway") == 0 ? "identity" : name;
	snprintf(d->topic, sizeof(d->topic), "tm.%s.v1", d->schema);
	size_t n = all_items(d, extra, nextra, items);
	if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
		printf("usage: %s [--help] [--version]\nsettings (environment variables):\n",
		       d->daemon_name);
		tm_config_print_help(items, n);
		return -1;
	}
	if (has_flag(argc, argv, "--version")) {
		printf("%s %s\n", d->daemon_name, TM_VERSION);
		return -1;
	}
	if (tm_config_load(items, n, tm_config_getenv, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", d->daemon_name, err);
		return 2;
	}
	tm_log_init(d->name, d->cfg.log_level, d->cfg.log_format);
	return bring_up(d);
}

int tm_daemon_wait_signal(struct tm_daemon *d)
{
	int sig = 0;
	while (sigwait(&stop_signals, &sig) != 0)
		;
	d->stop_deadline_ms = tm_mono_ms() + d->cfg.shutdown_timeout_ms;
	return sig;
}

int64_t tm_daemon_deadline(struct tm_daemon *d)
{
	if (d->stop_deadline_ms == 0)
		d->stop_deadline_ms = tm_mono_ms() + d->cfg.shutdown_timeout_ms;
	return d->stop_deadline_ms;
}

void tm_daemon_stop(struct tm_daemon *d)
{
	if (tm_outbox_relay_stop(d->relay, tm_daemon_deadline(d)) != 0)
		d->abandoned++;
	d->relay = NULL;
}

void tm_daemon_exit_if_abandoned(const struct tm_daemon *d)
{
	if (d->abandoned == 0)
		return;
	tm_warn("stopped with %d part(s) of the stop given up on (see above; bound "
		"TM_SHUTDOWN_TIMEOUT_MS=%lld); exiting with status 1",
		d->abandoned, (long long)d->cfg.shutdown_timeout_ms);
	_exit(1);
}

const char *tm_type_name(const ProtobufCMessageDescriptor *desc)
{
	return desc->name;
}

/* ---- services ---- */

#include "tm/consumer.h"
#include "tm/rpc_client.h"
#include "tm/stats.h"
#include "tm/taxonomy.h"

struct service_settings {
	const char *rpc_url;
	int64_t rpc_workers;
	const char *taxonomy_dir;
};

/* TM_<NAME>_RPC and TM_RPC_WORKERS, then the service's own settings. */
static size_t service_items(const struct tm_service_def *def, struct service_settings *ss,
			    char *rpc_env, size_t envlen, struct tm_cfg_item *out)
{
	size_t n = 0;
	snprintf(rpc_env, envlen, "TM_%s_RPC", def->name);
	for (char *p = rpc_env; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	out[n++] = (struct tm_cfg_item){rpc_env,      TM_CFG_URL, def->rpc_default,
					&ss->rpc_url, 0,	  0,
					NULL,	      false,	  "RPC listen address (nng URL)"};
	out[n++] = (struct tm_cfg_item){"TM_RPC_WORKERS",
					TM_CFG_INT,
					"8",
					&ss->rpc_workers,
					1,
					256,
					NULL,
					false,
					"RPC worker threads, each with a PostgreSQL connection"};
	if (def->taxonomy)
		out[n++] = (struct tm_cfg_item){"TM_TAXONOMY_DIR",
						TM_CFG_STRING,
						"",
						&ss->taxonomy_dir,
						0,
						4000,
						NULL,
						false,
						"skill taxonomy: skills.tsv and skill_edges.tsv "
						"(empty: TM_MIGRATIONS_DIR/seed)"};
	for (size_t i = 0; i < def->nconfig && n < DAEMON_CFG_MAX - 16; i++)
		out[n++] = def->config[i];
	return n;
}

/* --ping: asks the running daemon (at its configured address) whether it is ready. */
static int ping_self(const char *name, const char *url)
{
	struct tm_rpc_client *c = NULL;
	Taskmesh__V1__RpcRequest req = TASKMESH__V1__RPC_REQUEST__INIT;
	Taskmesh__V1__RpcReply *rep = NULL;
	char err[256];
	int status = 1;

	char local[300];
	req.method = "Ping";
	req.request_id = "ping";
	/* a daemon listening on every address is pinged on loopback */
	if (strncmp(url, "tcp://0.0.0.0:", 14) == 0) {
		snprintf(local, sizeof(local), "tcp://127.0.0.1:%s", url + 14);
		url = local;
	}
	if (tm_rpc_client_open(&c, name, url, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-%s: %s\n", name, err);
		return 1;
	}
	int rv = tm_rpc_call_sync(c, &req, 2000, &rep);
	if (rv != 0) {
		fprintf(stderr, "tm-%s: no answer at %s\n", name, url);
	} else {
		Taskmesh__V1__PingReply *p =
			taskmesh__v1__ping_reply__unpack(NULL, rep->body.len, rep->body.data);
		status = p && p->ready ? 0 : 1;
		printf("tm-%s at %s: %s\n", name, url, status == 0 ? "ready" : "not ready");
		if (p)
			taskmesh__v1__ping_reply__free_unpacked(p, NULL);
		taskmesh__v1__rpc_reply__free_unpacked(rep, NULL);
	}
	tm_rpc_client_close(c);
	return status;
}

/* A service's fini, run on a thread of its own (one per process). */
static struct {
	const struct tm_service_def *def;
	void *state;
} fini_run;

static void *fini_main(void *arg)
{
	(void)arg;
	fini_run.def->fini(fini_run.state);
	return NULL;
}

/* Runs def->fini bounded by the stop's deadline. Returns 0, or -1 when it was
 * still busy then (it is left running, the state in place). */
static int fini_until(struct tm_daemon *d, const struct tm_service_def *def, void *state)
{
	pthread_t t;

	fini_run.def = def;
	fini_run.state = state;
	if (pthread_create(&t, NULL, fini_main, NULL) != 0) {
		def->fini(state); /* no thread to spare: unbounded, as before */
		return 0;
	}
	if (tm_join_until(t, tm_daemon_deadline(d)) != 0) {
		tm_warn("the service's own workers were still busy at the shutdown deadline; given "
			"up on (their transactions roll back when the process exits)");
		return -1;
	}
	return 0;
}

/* The taxonomy for d, with its size as gauges; prints why on failure. */
static int load_taxonomy(struct tm_daemon *d, const char *dir, struct tm_taxonomy **out)
{
	char err[512], seed[4096];
	if (!dir[0]) { /* the reference data ships beside the migrations */
		snprintf(seed, sizeof(seed), "%s/seed", d->cfg.migrations_dir);
		dir = seed;
	}
	if (tm_taxonomy_load(out, dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot load the skill taxonomy: %s\n", d->daemon_name, err);
		return -1;
	}
	d->taxonomy = *out;
	tm_stat_set(tm_stat_register("tm_taxonomy_skills", "Skills in the loaded taxonomy",
				     TM_STAT_GAUGE, NULL, NULL),
		    (int64_t)tm_taxonomy_count(*out));
	tm_stat_set(tm_stat_register("tm_taxonomy_edges", "Edges in the loaded taxonomy",
				     TM_STAT_GAUGE, NULL, NULL),
		    (int64_t)tm_taxonomy_edge_count(*out));
	tm_info("skill taxonomy: %zu skills, %zu edges from %s", tm_taxonomy_count(*out),
		tm_taxonomy_edge_count(*out), dir);
	return 0;
}

int tm_service_main(const struct tm_service_def *def, int argc, char **argv)
{
	struct tm_daemon d;
	struct service_settings ss = {0};
	struct tm_cfg_item items[DAEMON_CFG_MAX];
	char rpc_env[64], err[512];
	struct tm_rpc_server *rpc = NULL;
	struct tm_consumer_loop *loop = NULL;
	void *state = NULL;
	struct tm_taxonomy *taxonomy = NULL;
	int status = 1;

	size_t n = service_items(def, &ss, rpc_env, sizeof(rpc_env), items);
	if (has_flag(argc, argv, "--ping")) {
		if (tm_config_load(items, n, tm_config_getenv, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "tm-%s: %s\n", def->name, err);
			return 2;
		}
		return ping_self(def->name, ss.rpc_url);
	}
	int rc = tm_daemon_start(&d, def->name, items, n, argc, argv);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (def->taxonomy && load_taxonomy(&d, ss.taxonomy_dir, &taxonomy) != 0)
		goto out_daemon;
	if (def->init && def->init(&d, &state, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-%s: %s\n", def->name, err);
		goto out_daemon;
	}
	struct tm_rpc_server_config rcfg = {.service = def->name,
					    .url = ss.rpc_url,
					    .conninfo = d.cfg.database_url,
					    .schema = d.schema,
					    .workers = (int)ss.rpc_workers,
					    .methods = def->methods,
					    .nmethods = def->nmethods,
					    .service_state = state};
	if (tm_rpc_server_start(&rpc, &rcfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-%s: %s\n", def->name, err);
		goto out_state;
	}
	struct tm_consumer_loop_config ccfg = {.service = def->name,
					       .conninfo = d.cfg.database_url,
					       .schema = d.schema,
					       .brokers = d.cfg.kafka_brokers,
					       .fetch_wait_ms = (int)d.cfg.kafka_fetch_wait_ms,
					       .session_timeout_ms =
						       (int)d.cfg.kafka_session_timeout_ms,
					       .topics = def->subscribe,
					       .ntopics = def->nsubscribe,
					       .handlers = def->handlers,
					       .nhandlers = def->nhandlers,
					       .state = state};
	if (def->nsubscribe > 0 && tm_consumer_loop_start(&loop, &ccfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-%s: cannot start the consumer: %s\n", def->name, err);
		goto out_rpc;
	}
	tm_info("tm-%s %s ready: rpc %s, publishes %s, consumes %zu topic(s)", def->name,
		TM_VERSION, ss.rpc_url, d.topic, def->nsubscribe);
	int sig = tm_daemon_wait_signal(&d);
	tm_info("signal %d: shutting down (within %lld ms)", sig,
		(long long)d.cfg.shutdown_timeout_ms);
	status = 0;
	if (tm_consumer_loop_stop(loop, tm_daemon_deadline(&d)) != 0)
		d.abandoned++;
out_rpc:
	if (tm_rpc_server_stop(rpc, tm_daemon_deadline(&d)) != 0)
		d.abandoned++;
out_state:
	/* a handler given up on may still use the state: then it stays */
	if (def->fini && state && !d.abandoned && fini_until(&d, def, state) != 0)
		d.abandoned++;
out_daemon:
	if (!d.abandoned)
		tm_taxonomy_free(taxonomy);
	tm_daemon_stop(&d); /* last: publishes what the drain committed */
	tm_daemon_exit_if_abandoned(&d);
	if (status == 0)
		tm_info("stopped");
	return status;
}
