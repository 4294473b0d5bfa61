/* Operations routes: /healthz, /readyz, /readyz/{service}, /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "tm_version.h"
#include "gateway.h"
#include "taskmesh/v1/ops.pb-c.h"
#include "tm/stats.h"
#include "tm/util.h"

#define METRICS_MAX 2048 /* series per scrape, all services together */

void gw_healthz(struct gw *g, struct gw_request *r)
{
	char body[160];
	int n = snprintf(body, sizeof(body),
			 "{\"status\":\"ok\",\"service\":\"gateway\",\"version\":\"%s\"}",
			 TM_VERSION);
	(void)g;
	gw_reply_json(r, 200, body, (size_t)n);
}

/* Starts `method` on each service in svcs[] under the fan-out deadline. */
static void fan_ops(struct gw *g, struct gw_request *r, const char *method, const int *svcs, int n,
		    void (*finish)(struct gw_request *r))
{
	Taskmesh__V1__RpcRequest reqs[GW_MAX_FANOUT];
	Taskmesh__V1__Caller callers[GW_MAX_FANOUT];

	r->ncalls = n;
	for (int i = 0; i < n; i++) {
		gw_envelope(r, &reqs[i], &callers[i], method);
		r->calls[i].service = (enum gw_service)svcs[i];
	}
	gw_fanout(g, r, reqs, (int)g->cfg.fanout_timeout_ms, finish);
}

/* Why a Ping call does not count as ready, or NULL when it does. */
static const char *not_ready(struct gw_request *r, struct gw_call *c, Taskmesh__V1__PingReply **out)
{
	ProtobufCAllocator al = tm_arena_pb_allocator(r->arena);
	*out = NULL;
	if (c->rv == NNG_ETIMEDOUT)
		return "did not answer before the deadline";
	if (c->rv != 0)
		return "is unreachable";
	if (c->status != 200)
		return "answered with an error";
	*out = taskmesh__v1__ping_reply__unpack(&al, c->body.len, c->body.data);
	if (!*out)
		return "sent a malformed reply";
	if (!(*out)->ready) {
		for (size_t i = 0; i < (*out)->n_checks; i++)
			if (!(*out)->checks[i]->ok)
				return tm_arena_printf(r->arena, "is not ready: %s",
						       (*out)->checks[i]->detail);
		return "is not ready";
	}
	return NULL;
}

static void finish_readyz(struct gw_request *r)
{
	struct tm_buf ok, bad, names;

	tm_buf_init(&ok);
	tm_buf_init(&bad);
	tm_buf_init(&names);
	for (int i = 0; i < r->ncalls; i++) {
		struct gw_call *c = &r->calls[i];
		const char *svc = gw_service_names[c->service];
		Taskmesh__V1__PingReply *p;
		const char *why = not_ready(r, c, &p);
		if (why) {
			tm_buf_puts(&bad, bad.len ? ",{\"field\":" : "[{\"field\":");
			tm_buf_json_str(&bad, svc, strlen(svc));
			tm_buf_puts(&bad, ",\"description\":");
			tm_buf_json_str(&bad, why, strlen(why));
			tm_buf_putc(&bad, '}');
			tm_buf_printf(&names, "%s%s", names.len ? ", " : "", svc);
		} else {
			tm_buf_printf(&ok, "%s{\"service\":\"%s\",\"version\":", ok.len ? "," : "",
				      svc);
			tm_buf_json_str(&ok, p->version, strlen(p->version));
			tm_buf_printf(&ok, ",\"uptimeSeconds\":\"%lld\"}",
				      (long long)p->uptime_seconds);
		}
	}
	if (bad.len) {
		tm_buf_putc(&bad, ']');
		char *msg = tm_arena_printf(r->arena, "not ready: %s", names.data);
		gw_reply_error(r, TM_E_SERVICE_UNAVAILABLE, msg, bad.failed ? NULL : bad.data);
	} else if (r->gw && atomic_load(&r->gw->draining)) {
		gw_reply_error(r, TM_E_SERVICE_UNAVAILABLE, "the gateway is shutting down", NULL);
	} else {
		struct tm_buf b;
		tm_buf_init(&b);
		tm_buf_puts(&b, "{\"status\":\"ready\",\"services\":[");
		tm_buf_append(&b, ok.data ? ok.data : "", ok.len);
		tm_buf_puts(&b, "]}");
		gw_reply_json(r, 200, b.data, b.len);
		tm_buf_free(&b);
	}
	tm_buf_free(&ok);
	tm_buf_free(&bad);
	tm_buf_free(&names);
}

void gw_readyz(struct gw *g, struct gw_request *r)
{
	int svcs[GW_NSERVICES];
	for (int i = 0; i < GW_NSERVICES; i++)
		svcs[i] = i;
	fan_ops(g, r, "Ping", svcs, GW_NSERVICES, finish_readyz);
}

void gw_readyz_one(struct gw *g, struct gw_request *r)
{
	for (int i = 0; i < GW_NSERVICES; i++) {
		if (strcmp(gw_service_names[i], r->params[0].value) == 0) {
			int svc = i;
			fan_ops(g, r, "Ping", &svc, 1, finish_readyz);
			return;
		}
	}
	gw_reply_error(r, TM_E_NOT_FOUND, "no such service", NULL);
}

/* ---- /metrics ---- */

struct series {
	const char *name, *help, *service, *label_name, *label_value;
	bool counter;
	double value;
};

static int by_name(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->service, y->service);
}

/* Prometheus label values escape backslash, double quote and newline. */
static void put_label_value(struct tm_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tm_buf_putc(b, '\\');
		if (*v == '\n')
			tm_buf_puts(b, "\\n");
		else
			tm_buf_putc(b, *v);
	}
}

/* HELP text escapes backslash and newline. */
static void put_help(struct tm_buf *b, const char *h)
{
	for (; *h; h++) {
		if (*h == '\\')
			tm_buf_puts(b, "\\\\");
		else if (*h == '\n')
			tm_buf_puts(b, "\\n");
		else
			tm_buf_putc(b, *h);
	}
}

static void render(struct tm_buf *b, struct series *s, int n)
{
	qsort(s, (size_t)n, sizeof(*s), by_name);
	for (int i = 0; i < n; i++) {
		if (i == 0 || strcmp(s[i].name, s[i - 1].name) != 0) {
			tm_buf_printf(b, "# HELP %s ", s[i].name);
			put_help(b, s[i].help);
			tm_buf_printf(b, "\n# TYPE %s %s\n", s[i].name,
				      s[i].counter ? "counter" : "gauge");
		}
		tm_buf_printf(b, "%s{service=\"", s[i].name);
		put_label_value(b, s[i].service);
		if (s[i].label_name) {
			tm_buf_printf(b, "\",%s=\"", s[i].label_name);
			put_label_value(b, s[i].label_value);
		}
		tm_buf_printf(b, "\"} %.17g\n", s[i].value);
	}
}

static int add_local(struct gw_request *r, struct series *s, int n)
{
	struct tm_stat_view *views = tm_arena_alloc(r->arena, TM_STATS_MAX * sizeof(*views));
	int k = views ? tm_stats_snapshot(views, TM_STATS_MAX) : 0;
	for (int i = 0; i < k && n < METRICS_MAX; i++, n++)
		s[n] = (struct series){views[i].name,
				       views[i].help,
				       "gateway",
				       views[i].label_name,
				       views[i].label_value,
				       views[i].kind == TM_STAT_COUNTER,
				       (double)views[i].value};
	return n;
}

static int add_remote(struct gw_request *r, struct gw_call *c, struct series *s, int n)
{
	ProtobufCAllocator al = tm_arena_pb_allocator(r->arena);
	const char *svc = gw_service_names[c->service];
	Taskmesh__V1__StatsReply *rep =
		c->rv == 0 && c->status == 200 ?
			taskmesh__v1__stats_reply__unpack(&al, c->body.len, c->body.data) :
			NULL;

	if (n < METRICS_MAX)
		s[n++] = (struct series){"tm_up",    "1 if the service answered this scrape",
					 svc,	     NULL,
					 NULL,	     false,
					 rep ? 1 : 0};
	for (size_t i = 0; rep && i < rep->n_metrics && n < METRICS_MAX; i++) {
		Taskmesh__V1__Metric *m = rep->metrics[i];
		bool one = m->n_labels == 1;
		s[n++] = (struct series){m->name,
					 m->help,
					 svc,
					 one ? m->labels[0]->name : NULL,
					 one ? m->labels[0]->value : NULL,
					 m->type == TASKMESH__V1__METRIC_TYPE__METRIC_TYPE_COUNTER,
					 m->value};
	}
	return n;
}

static void finish_metrics(struct gw_request *r)
{
	struct series *s = tm_arena_alloc(r->arena, METRICS_MAX * sizeof(*s));
	struct tm_buf b;
	int n = 0;

	if (!s) {
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
		return;
	}
	n = add_local(r, s, n);
	for (int i = 0; i < r->ncalls; i++)
		n = add_remote(r, &r->calls[i], s, n);
	tm_buf_init(&b);
	render(&b, s, n);
	if (b.failed)
		gw_reply_error(r, TM_E_INTERNAL, NULL, NULL);
	else
		gw_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	tm_buf_free(&b);
}

void gw_metrics(struct gw *g, struct gw_request *r)
{
	int svcs[GW_NSERVICES];
	for (int i = 0; i < GW_NSERVICES; i++)
		svcs[i] = i;
	fan_ops(g, r, "Stats", svcs, GW_NSERVICES, finish_metrics);
}
