/* Bearer-token authentication and the route's role check. */
#include <string.h>
#include <strings.h>

#include "gateway.h"
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
	memcpy(r->caller_id, c.sub, strlen(c.sub) + 1);
	memcpy(r->caller_role, c.role, strlen(c.role) + 1);
	if (!(r->route->roles & bit)) {
		*why = "your role may not call this route";
		return TM_E_FORBIDDEN;
	}
	return TM_OK;
}
