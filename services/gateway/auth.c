/* Bearer-token authentication and the route's role check. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "denylist.h"
#include "gateway.h"
#include "identity.h"
#include "tm/jwt.h"
#include "tm/util.h"

static unsigned role_bit(const char *role)
{
	if (strcmp(role, "client") == 0)
		return GW_CLIENT;
	if (strcmp(role, "developer") == 0)
		return GW_DEVELOPER;
	if (strcmp(role, "admin") == 0)
		return GW_ADMIN;
	return 0;
}

enum tm_code gw_authenticate(struct gw *g, struct gw_request *r, const char **why)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	struct tm_jwt_claims c;

	*why = "a bearer token is required";
	if (!h)
		return TM_E_UNAUTHENTICATED;
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		*why = "the Authorization header must be \"Bearer <token>\"";
		return TM_E_UNAUTHENTICATED;
	}
	const char *token = h + 7;
	while (*token == ' ')
		token++;
	enum tm_jwt_rc rc = tm_jwt_verify(g->cfg.jwt_secret, strlen(g->cfg.jwt_secret), token,
					  tm_now_ms() / 1000, &c);
	if (rc != TM_JWT_OK) {
		*why = tm_jwt_rc_str(rc);
		return TM_E_UNAUTHENTICATED;
	}
	unsigned bit = role_bit(c.role);
	if (!bit || !tm_uuid_valid(c.sub)) {
		*why = "the token names no valid user or role";
		return TM_E_UNAUTHENTICATED;
	}
	if (c.jti[0] && gw_denylist_contains(g->identity->denylist, c.jti, tm_now_ms() / 1000)) {
		*why = "the token was revoked";
		return TM_E_UNAUTHENTICATED;
	}
	memcpy(r->caller_id, c.sub, strlen(c.sub) + 1);
	memcpy(r->caller_role, c.role, strlen(c.role) + 1);
	memcpy(r->token_id, c.jti, strlen(c.jti) + 1);
	if (!(r->route->roles & bit)) {
		*why = "your role may not call this route";
		return TM_E_FORBIDDEN;
	}
	return TM_OK;
}

/* The rate-limit key of an anonymous client: its IPv4 address, or the /64 of
 * its IPv6 address (one client can rotate through a whole /64). */
static void client_key(const char *ip, char *out, size_t len)
{
	struct in6_addr a6;
	char net[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		memset(&a6.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a6, net, sizeof(net));
		snprintf(out, len, "ip6:%s/64", net);
	} else {
		snprintf(out, len, "ip:%s", ip);
	}
}

int gw_rate_limit(struct gw *g, struct gw_request *r)
{
	const struct tm_rate_rule *rule = &g->cfg.rule_write;
	const char *cls = "write";
	char key[96];

	if (r->route->service == GW_LOCAL && r->route->roles == GW_PUBLIC)
		return 0; /* probes and scrapes are not throttled */
	if (r->route->flags & GW_RATE_AUTH) {
		rule = &g->cfg.rule_auth;
		cls = "auth";
	} else if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
		rule = &g->cfg.rule_read;
		cls = "read";
	}
	if (r->caller_id[0])
		snprintf(key, sizeof(key), "user:%s", r->caller_id);
	else
		client_key(r->client_ip, key, sizeof(key));
	return tm_ratelimit_take(g->ratelimit, cls, key, rule, tm_mono_ms());
}
