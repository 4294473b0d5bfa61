/* The Kafka bus over librdkafka; see tm/bus.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm/bus.h"
#include "tm/log.h"
#include "tm/util.h"

#define BUS_WAIT_STEP_MS 250 /* first pause between startup metadata attempts */

struct tm_producer {
	rd_kafka_t *rk;
	tm_delivery_fn on_delivery;
	void *ud;
};

struct tm_consumer {
	rd_kafka_t *rk;
};

/* Sets "key=value" properties; returns 0 or -1 with the reason. */
static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kv, char *err, size_t errlen)
{
	for (size_t i = 0; kv && kv[i]; i++) {
		char key[128];
		const char *eq = strchr(kv[i], '=');
		if (!eq || (size_t)(eq - kv[i]) >= sizeof(key)) {
			snprintf(err, errlen, "bad Kafka property \"%s\"", kv[i]);
			return -1;
		}
		memcpy(key, kv[i], (size_t)(eq - kv[i]));
		key[eq - kv[i]] = '\0';
		if (rd_kafka_conf_set(conf, key, eq + 1, err, errlen) != RD_KAFKA_CONF_OK)
			return -1;
	}
	return 0;
}

/* librdkafka's own log lines, through ours. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	enum tm_log_level l = level <= 3 ? TM_LOG_ERROR :
			      level <= 4 ? TM_LOG_WARN :
			      level <= 6 ? TM_LOG_INFO :
					   TM_LOG_DEBUG;
	tm_log(l, "kafka %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		tm_error("kafka fatal error: %s", reason);
	else
		tm_warn("kafka: %s (%s)", reason, rd_kafka_err2name(err));
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct tm_producer *p = opaque;
	(void)rk;
	if (p->on_delivery)
		p->on_delivery(m->_private, m->err, p->ud);
}

static rd_kafka_conf_t *base_conf(const char *brokers, const char *client_id, char *err,
				  size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *kv[] = {
		"client.id", client_id, "bootstrap.servers", brokers, "socket.keepalive.enable",
		"true",	     NULL};
	for (int i = 0; kv[i]; i += 2) {
		if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, errlen) != RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	return conf;
}

int tm_producer_open(struct tm_producer **out, const char *brokers, const char *client_id,
		     tm_delivery_fn on_delivery, void *ud, const char *const *extra, char *err,
		     size_t errlen)
{
	/* idempotence implies acks=all, bounded in-flight, infinite retries, fifo order */
	static const char *const no_loss[] = {"enable.idempotence=true", "acks=all", "linger.ms=1",
					      NULL};
	struct tm_producer *p = calloc(1, sizeof(*p));
	rd_kafka_conf_t *conf;

	*out = NULL;
	if (!p || !(conf = base_conf(brokers, client_id, err, errlen))) {
		free(p);
		return -1;
	}
	if (conf_set_all(conf, no_loss, err, errlen) != 0 ||
	    conf_set_all(conf, extra, err, errlen) != 0) {
		rd_kafka_conf_destroy(conf);
		free(p);
		return -1;
	}
	p->on_delivery = on_delivery;
	p->ud = ud;
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
	if (!p->rk) { /* conf is freed by rd_kafka_new only on success */
		rd_kafka_conf_destroy(conf);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int tm_producer_send(struct tm_producer *p, const char *topic, const Taskmesh__V1__Event *ev,
		     const void *value, size_t value_len, void *opaque)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
	rd_kafka_header_add(h, "ce_id", -1, ev->id, -1);
	rd_kafka_header_add(h, "ce_type", -1, ev->type, -1);
	rd_kafka_header_add(h, "ce_source", -1, ev->source, -1);
	rd_kafka_header_add(h, "ce_time", -1, ev->time, -1);
	if (ev->subject && ev->subject[0])
		rd_kafka_header_add(h, "ce_subject", -1, ev->subject, -1);
	rd_kafka_header_add(h, "content-type", -1, "application/protobuf", -1);

	rd_kafka_resp_err_t e = rd_kafka_producev(
		p->rk, RD_KAFKA_V_TOPIC(topic),
		RD_KAFKA_V_KEY(ev->subject, ev->subject ? strlen(ev->subject) : 0),
		RD_KAFKA_V_VALUE((void *)value, value_len),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
		RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_kafka_headers_destroy(h); /* ownership passes only on success */
	return (int)e;
}

int tm_producer_poll(struct tm_producer *p, int timeout_ms)
{
	return rd_kafka_poll(p->rk, timeout_ms);
}

int tm_producer_flush(struct tm_producer *p, int timeout_ms)
{
	return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

int tm_producer_fatal(struct tm_producer *p, char *err, size_t errlen)
{
	return (int)rd_kafka_fatal_error(p->rk, err, errlen);
}

int tm_producer_close(struct tm_producer *p, int flush_timeout_ms)
{
	int rc = 0;
	if (!p)
		return 0;
	if (rd_kafka_flush(p->rk, flush_timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		tm_warn("kafka producer closed with %d records undelivered (they stay in the outbox)",
			rd_kafka_outq_len(p->rk));
		/* so that destroy does not wait for them */
		rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rc = -1;
	}
	rd_kafka_destroy(p->rk);
	free(p);
	return rc;
}

int tm_consumer_open(struct tm_consumer **out, const char *brokers, const char *group_id,
		     const char *const *topics, size_t ntopics, int fetch_wait_ms,
		     const char *const *extra, char *err, size_t errlen)
{
	/* at-least-once: we store offsets ourselves after the handler committed */
	static const char *const at_least_once[] = {"enable.auto.offset.store=false",
						    "enable.auto.commit=true",
						    "auto.commit.interval.ms=1000",
						    "auto.offset.reset=earliest", NULL};
	struct tm_consumer *c = calloc(1, sizeof(*c));
	char fw[64], gid[160];
	rd_kafka_conf_t *conf;

	*out = NULL;
	if (!c || !(conf = base_conf(brokers, group_id, err, errlen))) {
		free(c);
		return -1;
	}
	snprintf(fw, sizeof(fw), "fetch.wait.max.ms=%d", fetch_wait_ms);
	snprintf(gid, sizeof(gid), "group.id=%s", group_id);
	const char *const mine[] = {fw, gid, NULL};
	if (conf_set_all(conf, at_least_once, err, errlen) != 0 ||
	    conf_set_all(conf, mine, err, errlen) != 0 ||
	    conf_set_all(conf, extra, err, errlen) != 0) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return -1;
	}
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (!c->rk) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return -1;
	}
	rd_kafka_poll_set_consumer(c->rk);
	rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)ntopics);
	for (size_t i = 0; i < ntopics; i++)
		rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "cannot subscribe: %s", rd_kafka_err2str(e));
		rd_kafka_destroy(c->rk);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

rd_kafka_message_t *tm_consumer_poll(struct tm_consumer *c, int timeout_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
	if (!m)
		return NULL;
	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			tm_warn("kafka consumer: %s", rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
		return NULL;
	}
	return m;
}

int tm_consumer_store(struct tm_consumer *c, const rd_kafka_message_t *msg)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	/* rd_kafka_offsets_store stores .offset as given: the next offset to read */
	rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(msg->rkt), msg->partition)->offset =
		msg->offset + 1;
	rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err)
		e = l->elems[0].err;
	rd_kafka_topic_partition_list_destroy(l);
	return (int)e;
}

int tm_consumer_close(struct tm_consumer *c, int64_t deadline_ms)
{
	if (!c)
		return 0;
	/* the close of rd_kafka_consumer_close, served here so it can be bounded */
	rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
	rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, q);
	if (e) {
		tm_warn("kafka consumer close: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	while (!e && !rd_kafka_consumer_closed(c->rk) && tm_mono_ms() < deadline_ms) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
		if (ev)
			rd_kafka_event_destroy(ev);
	}
	if (!e && !rd_kafka_consumer_closed(c->rk)) {
		/* rd_kafka_destroy would wait for the close: the handle stays */
		tm_warn("kafka consumer: offsets not committed, group not left by the shutdown "
			"deadline (broker unreachable); given up on: the group rebalances after "
			"its session timeout and events since the last commit come again");
		return -1;
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(c->rk);
	free(c);
	return 0;
}

int tm_kafka_wait_ready(const char *brokers, int timeout_ms, char *err, size_t errlen)
{
	int64_t end = tm_mono_ms() + timeout_ms;
	rd_kafka_conf_t *conf = base_conf(brokers, "taskmesh-startup-check", err, errlen);
	rd_kafka_t *rk;
	int rc = -1;

	if (!conf)
		return -1;
	rd_kafka_conf_set_log_cb(conf, NULL); /* the retry loop reports; no per-attempt noise */
	rd_kafka_conf_set_error_cb(conf, NULL);
	if (rd_kafka_conf_set(conf, "log_level", "0", err, errlen) != RD_KAFKA_CONF_OK ||
	    !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen))) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	for (;;) {
		const struct rd_kafka_metadata *md = NULL;
		int64_t left = end - tm_mono_ms();
		rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md,
							  (int)(left < 1000 ? 1000 :
								left < 5000 ? left :
									      5000));
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_metadata_destroy(md);
			rc = 0;
			break;
		}
		int64_t remaining = end - tm_mono_ms();
		if (remaining <= 0) {
			snprintf(err, errlen, "no Kafka broker answered at %s: %s", brokers,
				 rd_kafka_err2str(e));
			break;
		}
		tm_sleep_ms(remaining < BUS_WAIT_STEP_MS ? remaining : BUS_WAIT_STEP_MS);
	}
	rd_kafka_destroy(rk);
	return rc;
}

Taskmesh__V1__Event *tm_event_decode(const rd_kafka_message_t *msg, struct tm_arena *arena)
{
	ProtobufCAllocator al = tm_arena_pb_allocator(arena);
	if (!msg->payload)
		return NULL;
	return taskmesh__v1__event__unpack(&al, msg->len, msg->payload);
}
