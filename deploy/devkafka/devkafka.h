/*
 * tm-devkafka: librdkafka's mock cluster (rdkafka_mock.h) in its own process,
 * the embedded Kafka of the dev stack and of the tests. main.c runs the cluster,
 * control.c serves the fault-injection commands and the `ctl` client mode.
 */
#ifndef TM_DEVKAFKA_H
#define TM_DEVKAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define DK_BROKERS_MAX 16     /* brokers in one mock cluster */
#define DK_PARTITIONS_MAX 256 /* partitions of one topic */
#define DK_REPLICATION_MAX 3  /* replication factor is min(this, brokers) */
#define DK_TOPIC_NAME_MAX 249 /* Kafka's own limit on topic names */
#define DK_LINE_MAX 512	      /* bytes of one control command or answer */

struct dk_cluster {
	rd_kafka_t *rk;		     /* handle that hosts the cluster */
	rd_kafka_mock_cluster_t *mc; /* the mock cluster */
	int brokers;		     /* broker ids are 1..brokers */
};

/* Creates topic `name` with `partitions` partitions and replication factor
 * min(DK_REPLICATION_MAX, brokers). Returns 0, or -1 with a reason in err. */
int dk_topic_create(struct dk_cluster *c, const char *name, int partitions, char *err,
		    size_t errlen);

/* True if `name` is a legal Kafka topic name ([a-zA-Z0-9._-], 1..249, not "." or ".."). */
int dk_topic_name_valid(const char *name);

/* Runs one command line against the cluster and writes the one-line answer
 * ("ok ..." or "error ...", no newline) into out. Returns 0 if the answer is ok. */
int dk_command(struct dk_cluster *c, const char *line, char *out, size_t outlen);

struct dk_control;

/* Listens on `url` (nng REP) and serves commands from a thread of its own.
 * Returns 0, or -1 with a reason in err. */
int dk_control_start(struct dk_control **out, const char *url, struct dk_cluster *c, char *err,
		     size_t errlen);
/* Closes the socket and joins the thread; NULL is a no-op. */
void dk_control_stop(struct dk_control *ctl);

/* Client mode: `tm-devkafka ctl URL command args...`. Sends one command, prints
 * the answer on stdout. Returns the exit status: 0 on "ok", 1 otherwise, 2 on
 * bad usage. */
int dk_ctl_main(int argc, char **argv);

#endif
