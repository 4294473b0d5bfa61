/* tm-gateway: the HTTP front of taskmesh. Wiring only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tm_version.h"
#include <curl/curl.h>

#include "gateway.h"
#include "identity.h"
#include "tm/jwt.h"
#include "tm/log.h"
#include "tm/util.h"

#define GW_CFG_ITEMS_MAX 64	     /* the gateway's settings, the common ones included */
#define GW_ROUTES_MAX 96	     /* rows of the route table (checked at start) */
#define GW_ROUTE_LABEL_MAX 96	     /* "METHOD pattern" of a route */
#define GW_RATE_BUCKETS 100000	     /* callers the rate limiter tracks at once */
#define GW_GITHUB_TIMEOUT_MS 5000    /* one call to GitHub (sign-in) */
#define GW_GITHUB_BREAKER_FAILURES 5 /* GitHub failures in a row that open the breaker */
#define GW_GITHUB_BREAKER_OPEN_MS 30000

static char route_labels[GW_ROUTES_MAX][GW_ROUTE_LABEL_MAX]; /* for the hits metric */

static size_t config_items(struct gw_config *c, struct tm_cfg_item *it)
{
	static const char *const envs[GW_NSERVICES] = {"TM_PROJECTS_RPC", "TM_MATCHING_RPC",
						       "TM_PAYMENTS_RPC", "TM_MESSAGING_RPC",
						       "TM_LEARNING_RPC"};
	static const char *const defs[GW_NSERVICES] = {
		TM_RPC_DEFAULT_PROJECTS, TM_RPC_DEFAULT_MATCHING, TM_RPC_DEFAULT_PAYMENTS,
		TM_RPC_DEFAULT_MESSAGING, TM_RPC_DEFAULT_LEARNING};
	size_t n = 0;

	it[n++] = (struct tm_cfg_item){"TM_HTTP_ADDR",
				       TM_CFG_HOSTPORT,
				       "127.0.0.1:8080",
				       &c->http_addr,
				       0,
				       0,
				       NULL,
				       false,
				       "HTTP listen address ip:port"};
	for (int i = 0; i < GW_NSERVICES; i++)
		it[n++] = (struct tm_cfg_item){envs[i],
					       TM_CFG_URL,
					       defs[i],
					       &c->rpc_urls[i],
					       0,
					       0,
					       NULL,
					       false,
					       "where the service serves RPC"};
	it[n++] =
		(struct tm_cfg_item){"TM_JWT_SECRET",
				     TM_CFG_STRING,
				     NULL,
				     &c->jwt_secret,
				     TM_JWT_SECRET_MIN_BYTES,
				     4096,
				     NULL,
				     true,
				     "HS256 key, at least 32 bytes (the dev stack generates one)"};
	const struct tm_cfg_item ints[] = {
		{"TM_HTTP_THREADS", TM_CFG_INT, "4", &c->http_threads, 1, 64, NULL, false,
		 "HTTP event-loop threads (epoll)"},
		{"TM_HTTP_MAX_CONNECTIONS", TM_CFG_INT, "2000", &c->max_connections, 1, 100000,
		 NULL, false, "open connections at most"},
		{"TM_HTTP_MAX_CONNECTIONS_PER_IP", TM_CFG_INT, "0", &c->max_connections_per_ip, 0,
		 100000, NULL, false, "per client address; 0 = no limit"},
		{"TM_HTTP_TIMEOUT_S", TM_CFG_INT, "30", &c->conn_timeout_s, 1, 3600, NULL, false,
		 "idle/read timeout per connection"},
		{"TM_HTTP_MAX_BODY_BYTES", TM_CFG_INT, "1048576", &c->max_body_bytes, 1024,
		 64 << 20, NULL, false, "request body limit (413 beyond)"},
		{"TM_HTTP_MAX_HEADER_BYTES", TM_CFG_INT, "16384", &c->max_header_bytes, 1024, 49152,
		 NULL, false, "request header limit (431 beyond)"},
		{"TM_HTTP_MAX_URL_BYTES", TM_CFG_INT, "8192", &c->max_url_bytes, 256, 49152, NULL,
		 false, "path + query limit (414 beyond)"},
		{"TM_RPC_TIMEOUT_MS", TM_CFG_INT, "5000", &c->rpc_timeout_ms, 10, 120000, NULL,
		 false, "deadline of a call to a service"},
		{"TM_FANOUT_TIMEOUT_MS", TM_CFG_INT, "1000", &c->fanout_timeout_ms, 10, 60000, NULL,
		 false, "deadline of /readyz and /metrics fan-outs"},
		{"TM_JSON_MAX_DEPTH", TM_CFG_INT, "32", &c->json_max_depth, 2, 256, NULL, false,
		 "nesting limit of request bodies"},
	};
	memcpy(&it[n], ints, sizeof(ints));
	return n + TM_ARRAY_LEN(ints);
}

static void register_stats(struct gw *g)
{
	for (size_t i = 0; i < gw_nroutes; i++) {
		snprintf(route_labels[i], sizeof(route_labels[i]), "%s %s", gw_routes[i].method,
			 gw_routes[i].pattern);
		gw_routes[i].hits = tm_stat_register("tm_http_requests_total",
						     "HTTP requests by route", TM_STAT_COUNTER,
						     "route", route_labels[i]);
	}
	g->st_inflight = tm_stat_register("tm_http_inflight_requests", "HTTP requests in progress",
					  TM_STAT_GAUGE, NULL, NULL);
	g->st_2xx = tm_stat_register("tm_http_responses_total", "HTTP responses by class",
				     TM_STAT_COUNTER, "class", "2xx");
	g->st_4xx = tm_stat_register("tm_http_responses_total", "HTTP responses by class",
				     TM_STAT_COUNTER, "class", "4xx");
	g->st_5xx = tm_stat_register("tm_http_responses_total", "HTTP responses by class",
				     TM_STAT_COUNTER, "class", "5xx");
	g->st_429 = tm_stat_register("tm_http_rate_limited_total", "Requests refused with 429",
				     TM_STAT_COUNTER, NULL, NULL);
	for (int i = 0; i < GW_NTARGETS; i++)
		g->st_rpc_fail[i] =
			tm_stat_register("tm_gateway_rpc_failures_total",
					 "Calls that got no reply (timeout, unreachable)",
					 TM_STAT_COUNTER, "target", gw_service_names[i]);
}

/* Lets the process hold as many sockets as the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Identity and abuse-limit settings (README lists them). */
static size_t identity_items(struct gw *g, struct identity *id, struct tm_cfg_item *it,
			     int64_t *workers, int64_t *argon_m, int64_t *argon_t)
{
	const struct tm_cfg_item items[] = {
		{"TM_IDENTITY_WORKERS", TM_CFG_INT, "4", workers, 1, 64, NULL, false,
		 "identity workers = Argon2id hashes at once (19 MiB each)"},
		{"TM_ACCESS_TOKEN_TTL_S", TM_CFG_INT, "900", &id->access_ttl_s, 60, 3600, NULL,
		 false, "access token lifetime"},
		{"TM_REFRESH_TOKEN_TTL_S", TM_CFG_INT, "2592000", &id->refresh_ttl_s, 3600,
		 31536000, NULL, false, "refresh token lifetime"},
		{"TM_ARGON2_MEMORY_KIB", TM_CFG_INT, "19456", argon_m, 19456, 4194304, NULL, false,
		 "Argon2id memory per hash (OWASP: at least 19 MiB)"},
		{"TM_ARGON2_ITERATIONS", TM_CFG_INT, "2", argon_t, 2, 64, NULL, false,
		 "Argon2id passes (OWASP: at least 2 at 19 MiB)"},
		{"TM_GITHUB_CLIENT_ID", TM_CFG_STRING, "", &id->github.client_id, 0, 256, NULL,
		 false, "GitHub OAuth app; empty turns GitHub sign-in off"},
		{"TM_GITHUB_CLIENT_SECRET", TM_CFG_STRING, "", &id->github.client_secret, 0, 256,
		 NULL, true, "GitHub OAuth app secret"},
		{"TM_GITHUB_API_URL", TM_CFG_STRING, "https://api.github.com", &id->github.api_url,
		 1, 512, NULL, false, "GitHub REST API"},
		{"TM_GITHUB_OAUTH_URL", TM_CFG_STRING, "https://github.com", &id->github.oauth_url,
		 1, 512, NULL, false, "GitHub OAuth endpoints"},
		{"TM_GITHUB_REDIRECT_URL", TM_CFG_STRING,
		 "http://localhost:3000/auth/github/callback", &id->github_redirect_url, 1, 512,
		 NULL, false, "the frontend page GitHub sends the browser back to"},
		{"TM_CORS_ORIGINS", TM_CFG_STRING, "", &g->cfg.cors_origins, 0, 4096, NULL, false,
		 "comma-separated origins allowed to call the API from a browser"},
		{"TM_RATE_AUTH", TM_CFG_STRING, "20/60", &g->cfg.rate_auth, 3, 64, NULL, false,
		 "sign-up/login/refresh per client: N/seconds[:burst]"},
		{"TM_RATE_WRITE", TM_CFG_STRING, "120/60", &g->cfg.rate_write, 3, 64, NULL, false,
		 "other POST/PUT/PATCH/DELETE per caller"},
		{"TM_RATE_READ", TM_CFG_STRING, "1200/60", &g->cfg.rate_read, 3, 64, NULL, false,
		 "GET per caller"},
	};
	memcpy(it, items, sizeof(items));
	return TM_ARRAY_LEN(items);
}

/* Parses the three rate rules; 0 or -1 after one line on stderr. */
static int parse_rules(struct gw_config *c)
{
	const char *names[] = {"TM_RATE_AUTH", "TM_RATE_WRITE", "TM_RATE_READ"};
	const char *texts[] = {c->rate_auth, c->rate_write, c->rate_read};
	struct tm_rate_rule *rules[] = {&c->rule_auth, &c->rule_write, &c->rule_read};
	for (int i = 0; i < 3; i++) {
		if (tm_rate_rule_parse(texts[i], rules[i]) != 0) {
			fprintf(stderr,
				"tm-gateway: %s=%s: expected N/SECONDS or N/SECONDS:BURST\n",
				names[i], texts[i]);
			return -1;
		}
	}
	return 0;
}

/* The route table keeps the list contract and fits the metric labels; 0 or -1
 * after one line on stderr (a bug in routes.c, caught before serving). */
static int check_routes(void)
{
	char err[256];
	if (gw_nroutes > GW_ROUTES_MAX) {
		fprintf(stderr, "tm-gateway: %zu routes, more than GW_ROUTES_MAX (%d)\n", gw_nroutes,
			GW_ROUTES_MAX);
		return -1;
	}
	if (gw_routes_check(err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-gateway: %s\n", err);
		return -1;
	}
	return 0;
}

/* The in-process identity workers and the client the routes use to reach them. */
static int start_identity(struct gw *g, int64_t workers, char *err, size_t errlen)
{
	struct tm_rpc_server_config sc = {.service = "identity",
					  .url = IDENTITY_URL,
					  .conninfo = g->daemon.cfg.database_url,
					  .schema = "identity",
					  .workers = (int)workers,
					  .methods = identity_methods,
					  .nmethods = identity_nmethods,
					  .service_state = g->identity};
	if (gw_denylist_new(&g->identity->denylist) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	tm_breaker_init(&g->identity->github_breaker, GW_GITHUB_BREAKER_FAILURES,
			GW_GITHUB_BREAKER_OPEN_MS);
	if (identity_load_denylist(g->identity, g->daemon.cfg.database_url, err, errlen) != 0 ||
	    tm_rpc_server_start(&g->identity_server, &sc, err, errlen) != 0)
		return -1;
	return tm_rpc_client_open(&g->clients[GW_IDENTITY], "identity", IDENTITY_URL, err, errlen);
}

int main(int argc, char **argv)
{
	static struct gw g;
	static struct identity id;
	struct tm_cfg_item items[GW_CFG_ITEMS_MAX];
	int64_t workers = 0, argon_m = 0, argon_t = 0;
	char err[512];
	int status = 1;

	if (argc > 1 && strcmp(argv[1], "create-admin") == 0)
		return identity_create_admin(argc - 1, argv + 1);
	g.identity = &id;
	id.jwt_secret = NULL;
	size_t n = config_items(&g.cfg, items);
	n += identity_items(&g, &id, items + n, &workers, &argon_m, &argon_t);
	int rc = tm_daemon_start(&g.daemon, "gateway", items, n, argc, argv);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (parse_rules(&g.cfg) != 0 || check_routes() != 0)
		goto out;
	id.jwt_secret = g.cfg.jwt_secret;
	id.argon2 = tm_password_default_params;
	id.argon2.m_cost_kib = (uint32_t)argon_m;
	id.argon2.t_cost = (uint32_t)argon_t;
	id.github.timeout_ms = GW_GITHUB_TIMEOUT_MS;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	raise_fd_limit();
	register_stats(&g);
	if (!(g.openapi = gw_openapi_build(&g.openapi_len))) {
		fprintf(stderr, "tm-gateway: cannot build the OpenAPI document\n");
		goto out;
	}
	if (tm_ratelimit_new(&g.ratelimit, GW_RATE_BUCKETS) != 0 ||
	    start_identity(&g, workers, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-gateway: %s\n", err);
		goto out;
	}
	for (int i = 0; i < GW_NSERVICES; i++) {
		if (tm_rpc_client_open(&g.clients[i], gw_service_names[i], g.cfg.rpc_urls[i], err,
				       sizeof(err)) != 0) {
			fprintf(stderr, "tm-gateway: %s\n", err);
			goto out;
		}
	}
	if (gw_http_start(&g, err, sizeof(err)) != 0) {
		fprintf(stderr, "tm-gateway: %s\n", err);
		goto out;
	}
	tm_info("tm-gateway %s ready: http://%s", TM_VERSION, g.cfg.http_addr);
	int sig = tm_daemon_wait_signal(&g.daemon);
	tm_info("signal %d: shutting down (within %lld ms)", sig,
		(long long)g.daemon.cfg.shutdown_timeout_ms);
	gw_http_stop(&g);
	status = 0;
out:
	/* requests or identity calls given up on still use what is freed here */
	if (g.daemon.abandoned)
		goto out_daemon;
	for (int i = 0; i < GW_NTARGETS; i++)
		tm_rpc_client_close(g.clients[i]);
	if (tm_rpc_server_stop(g.identity_server, tm_daemon_deadline(&g.daemon)) != 0) {
		g.daemon.abandoned++;
		goto out_daemon;
	}
	gw_denylist_free(id.denylist);
	tm_ratelimit_free(g.ratelimit);
	free(g.openapi);
out_daemon:
	tm_daemon_stop(&g.daemon);
	tm_daemon_exit_if_abandoned(&g.daemon);
	curl_global_cleanup();
	if (status == 0)
		tm_info("stopped");
	return status;
}
