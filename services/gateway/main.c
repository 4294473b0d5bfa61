/* tm-gateway: the HTTP front of taskmesh. Wiring only. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "tm_version.h"
#include "gateway.h"
#include "tm/jwt.h"
#include "tm/log.h"
#include "tm/util.h"

static char route_labels[64][96]; /* "METHOD pattern" per route, for the hits metric */

static size_t config_items(struct gw_config *c, struct tm_cfg_item *it)
{
	static const char *const envs[GW_NSERVICES] = {"TM_PROJECTS_RPC", "TM_MATCHING_RPC",
						       "TM_PAYMENTS_RPC", "TM_MESSAGING_RPC",
						       "TM_LEARNING_RPC"};
	static const char *const defs[GW_NSERVICES] = {
		"tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102", "tcp://127.0.0.1:7103",
		"tcp://127.0.0.1:7104", "tcp://127.0.0.1:7105"};
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
	for (size_t i = 0; i < gw_nroutes && i < TM_ARRAY_LEN(route_labels); i++) {
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
	for (int i = 0; i < GW_NSERVICES; i++)
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

int main(int argc, char **argv)
{
	static struct gw g;
	struct tm_cfg_item items[32];
	char err[512];
	int status = 1;

	size_t n = config_items(&g.cfg, items);
	int rc = tm_daemon_start(&g.daemon, "gateway", items, n, argc, argv);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	raise_fd_limit();
	register_stats(&g);
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
	int sig = tm_daemon_wait_signal();
	tm_info("signal %d: shutting down", sig);
	gw_http_stop(&g);
	status = 0;
out:
	for (int i = 0; i < GW_NSERVICES; i++)
		tm_rpc_client_close(g.clients[i]);
	tm_daemon_stop(&g.daemon);
	if (status == 0)
		tm_info("stopped");
	return status;
}
