/*
 * Configuration from environment variables, table-driven. Each daemon declares
 * a table of items; tm_config_load fills the targets and validates every
 * value, or reports the first bad one in one line naming the variable.
 */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum tm_cfg_type {
	TM_CFG_STRING,	 /* out: const char ** ; non-empty unless min == 0 */
	TM_CFG_INT,	 /* out: int64_t * ; decimal, within [min, max] */
	TM_CFG_BOOL,	 /* out: bool * ; true|false|1|0|yes|no|on|off */
	TM_CFG_ENUM,	 /* out: const char ** ; one of `choices` ("a|b|c") */
	TM_CFG_URL,	 /* out: const char ** ; nng URL "tcp://host:port" or "ipc://path" */
	TM_CFG_HOSTPORT, /* out: const char ** ; "host:port" with port 1..65535 */
};

struct tm_cfg_item {
	const char *env; /* variable name, e.g. "TM_LOG_LEVEL" */
	enum tm_cfg_type type;
	const char *def; /* default (NULL: required) */
	void *out;	 /* target, typed per `type` */
	int64_t min,
		max; /* INT: range; STRING: min length (0 allows empty), max length (0: no limit) */
	const char *choices; /* ENUM: "json|text" */
	bool secret;	     /* never echo the value in errors or logs */
	const char *help;    /* one line for the README table and --help */
};

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*tm_getenv_fn)(const char *name, void *ud);

/* Loads every item. Unset or empty variables take `def`. Returns 0, or -1 with
 * a one-line reason in err (e.g. "TM_RPC_WORKERS=abc: not an integer"). */
int tm_config_load(const struct tm_cfg_item *items, size_t n, tm_getenv_fn get, void *ud, char *err,
		   size_t errlen);

/* tm_getenv_fn over the process environment. */
const char *tm_config_getenv(const char *name, void *ud);

/* Prints "NAME  default  help" lines for --help. */
void tm_config_print_help(const struct tm_cfg_item *items, size_t n);

#endif
