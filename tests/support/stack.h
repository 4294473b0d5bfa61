/*
 * Test support: starts a real stack with deploy/devstack on free loopback
 * ports in a private run directory, and stops it again. Every test binary
 * that needs servers uses this; nothing is left running afterwards.
 */
#ifndef TM_TEST_STACK_H
#define TM_TEST_STACK_H

#include <stdbool.h>

struct tm_test_stack {
	char run_dir[256];    /* private TM_RUN_DIR */
	int port_base;	      /* gateway; services +1..+5; PostgreSQL +10 */
	char gateway_url[64]; /* "http://127.0.0.1:PORT" ("" when infra only) */
	char database_url[256];
	char kafka_brokers[256];
	char kafka_control[300]; /* tm-devkafka's fault-injection socket */
	char jwt_secret[128];
	bool running;
};

/* Starts PostgreSQL + tm-devkafka, and the six daemons unless infra_only.
 * Returns 0, or -1 after printing why (the devstack output). */
int tm_test_stack_start(struct tm_test_stack *s, bool infra_only);
/* Stops everything; returns devstack's exit status (3: sanitizer reports in
 * the daemons' logs). Safe to call twice. */
int tm_test_stack_stop(struct tm_test_stack *s);

/* Sends one fault-injection command to tm-devkafka ("broker-down 1").
 * Returns 0 when it answered "ok". */
int tm_test_kafka_ctl(const struct tm_test_stack *s, const char *command);

/* The pid of a running daemon of the stack ("projects"), or -1. */
int tm_test_stack_pid(const struct tm_test_stack *s, const char *daemon);

/* Path of a daemon's log file into out. */
void tm_test_stack_log(const struct tm_test_stack *s, const char *daemon, char *out, int outlen);

/* The repository root (TM_SOURCE_DIR, else the compile-time source dir). */
const char *tm_test_source_dir(void);
/* Where the daemons are (TM_BIN_DIR, else <source>/build/rel/bin). */
const char *tm_test_bin_dir(void);

/* A base port p such that p..p+span-1 are free on 127.0.0.1. */
int tm_test_free_ports(int span);

#endif
