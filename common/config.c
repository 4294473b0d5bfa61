/* Configuration from environment variables; see tm/config.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tm/config.h"
#include "tm/util.h"

const char *tm_config_getenv(const char *name, void *ud)
{
	(void)ud;
	return getenv(name);
}

/* The value as it may appear in an error line: secrets hidden, control bytes
 * replaced so the error stays one line, long values cut. */
static const char *shown(const struct tm_cfg_item *it, const char *v)
{
	static _Thread_local char safe[128];
	size_t i = 0;

	if (it->secret)
		return "<redacted>";
	for (; v[i] && i < sizeof(safe) - 1; i++)
		safe[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
	safe[i] = '\0';
	return safe;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < TM_ARRAY_LEN(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int in_choices(const char *v, const char *choices)
{
	size_t vl = strlen(v);
	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == vl && strncmp(p, v, l) == 0)
			return 1;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 0;
}

/* "host:port" with a non-empty host and a port in 1..65535. */
static int valid_hostport(const char *v)
{
	const char *colon = strrchr(v, ':');
	int64_t port;
	if (!colon || colon == v || tm_parse_int64(colon + 1, &port) != 0)
		return 0;
	return port >= 1 && port <= 65535;
}

static int valid_url(const char *v)
{
	if (strncmp(v, "tcp://", 6) == 0)
		return valid_hostport(v + 6);
	if (strncmp(v, "ipc://", 6) == 0 || strncmp(v, "inproc://", 9) == 0)
		return strchr(v, '/')[2] != '\0';
	return 0;
}

static int load_one(const struct tm_cfg_item *it, const char *v, char *err, size_t errlen)
{
	switch (it->type) {
	case TM_CFG_STRING: {
		size_t l = strlen(v);
		if ((int64_t)l < it->min || (it->max > 0 && (int64_t)l > it->max)) {
			if (it->max > 0)
				snprintf(err, errlen, "%s: must be %lld to %lld bytes long",
					 it->env, (long long)it->min, (long long)it->max);
			else
				snprintf(err, errlen, "%s: must be at least %lld bytes long",
					 it->env, (long long)it->min);
			return -1;
		}
		*(const char **)it->out = v;
		return 0;
	}
	case TM_CFG_INT: {
		int64_t n;
		if (tm_parse_int64(v, &n) != 0) {
			snprintf(err, errlen, "%s=%s: not an integer", it->env, shown(it, v));
			return -1;
		}
		if (n < it->min || n > it->max) {
			snprintf(err, errlen, "%s=%s: must be between %lld and %lld", it->env,
				 shown(it, v), (long long)it->min, (long long)it->max);
			return -1;
		}
		*(int64_t *)it->out = n;
		return 0;
	}
	case TM_CFG_BOOL:
		if (parse_bool(v, it->out) != 0) {
			snprintf(err, errlen, "%s=%s: expected true or false", it->env,
				 shown(it, v));
			return -1;
		}
		return 0;
	case TM_CFG_ENUM:
		if (!in_choices(v, it->choices)) {
			snprintf(err, errlen, "%s=%s: expected one of %s", it->env, shown(it, v),
				 it->choices);
			return -1;
		}
		*(const char **)it->out = v;
		return 0;
	case TM_CFG_URL:
		if (!valid_url(v)) {
			snprintf(err, errlen, "%s=%s: expected tcp://host:port or ipc://path",
				 it->env, shown(it, v));
			return -1;
		}
		*(const char **)it->out = v;
		return 0;
	case TM_CFG_HOSTPORT:
		if (!valid_hostport(v)) {
			snprintf(err, errlen, "%s=%s: expected host:port", it->env, shown(it, v));
			return -1;
		}
		*(const char **)it->out = v;
		return 0;
	}
	snprintf(err, errlen, "%s: unknown setting type", it->env);
	return -1;
}

int tm_config_load(const struct tm_cfg_item *items, size_t n, tm_getenv_fn get, void *ud, char *err,
		   size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const struct tm_cfg_item *it = &items[i];
		const char *v = get(it->env, ud);
		if (!v || !*v)
			v = it->def;
		if (!v) {
			snprintf(err, errlen, "%s is required but not set", it->env);
			return -1;
		}
		if (load_one(it, v, err, errlen) != 0)
			return -1;
	}
	return 0;
}

void tm_config_print_help(const struct tm_cfg_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("  %-26s %-34s %s\n", items[i].env,
		       items[i].secret ? "(secret)" :
		       items[i].def    ? items[i].def :
					 "(required)",
		       items[i].help ? items[i].help : "");
}
