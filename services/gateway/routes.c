/*
 * The route table: one row per route — method, path pattern, service, RPC
 * method, request/reply message, roles, flags. Everything the gateway does
 * for a route follows from its row; docs/api.md lists the same routes.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "taskmesh/v1/identity.pb-c.h"
#include "taskmesh/v1/matching.pb-c.h"
#include "taskmesh/v1/projects.pb-c.h"
#include "tm/util.h"

#define PB(m) &taskmesh__v1__##m##__descriptor

struct gw_route gw_routes[] = {
	/* operations (the gateway itself) */
	{"GET", "/healthz", GW_LOCAL, NULL, NULL, NULL, GW_PUBLIC, 0, gw_healthz, NULL},
	{"GET", "/readyz", GW_LOCAL, NULL, NULL, NULL, GW_PUBLIC, 0, gw_readyz, NULL},
	{"GET", "/readyz/{service}", GW_LOCAL, NULL, NULL, NULL, GW_PUBLIC, 0, gw_readyz_one, NULL},
	{"GET", "/metrics", GW_LOCAL, NULL, NULL, NULL, GW_PUBLIC, 0, gw_metrics, NULL},
	{"GET", "/api/v1/openapi.json", GW_LOCAL, NULL, NULL, NULL, GW_PUBLIC, 0, gw_openapi, NULL},

	/* identity (the gateway's own workers) */
	{"POST", "/api/v1/auth/register", GW_IDENTITY, "RegisterAccount", PB(register_request),
	 PB(auth_reply), GW_PUBLIC, GW_BODY | GW_IDEMPOTENCY_KEY | GW_RATE_AUTH, NULL, NULL},
	{"POST", "/api/v1/auth/login", GW_IDENTITY, "Login", PB(login_request), PB(auth_reply),
	 GW_PUBLIC, GW_BODY | GW_RATE_AUTH, NULL, NULL},
	{"POST", "/api/v1/auth/refresh", GW_IDENTITY, "Refresh", PB(refresh_request),
	 PB(auth_reply), GW_PUBLIC, GW_BODY | GW_RATE_AUTH, NULL, NULL},
	{"POST", "/api/v1/auth/logout", GW_IDENTITY, "Logout", PB(logout_request), PB(empty),
	 GW_ANY_ROLE, GW_BODY, NULL, NULL},
	{"GET", "/api/v1/auth/github/authorize", GW_IDENTITY, "GithubAuthorize",
	 PB(github_authorize_request), PB(github_authorize_reply), GW_PUBLIC, GW_RATE_AUTH, NULL,
	 NULL},
	{"POST", "/api/v1/auth/github/callback", GW_IDENTITY, "GithubCallback",
	 PB(github_callback_request), PB(auth_reply), GW_PUBLIC, GW_BODY | GW_RATE_AUTH, NULL,
	 NULL},
	{"GET", "/api/v1/me", GW_IDENTITY, "Me", PB(me_request), PB(user), GW_ANY_ROLE, 0, NULL,
	 NULL},

	/* projects (tm-projects) */
	{"POST", "/api/v1/projects", GW_PROJECTS, "CreateProject", PB(create_project_request),
	 PB(project), GW_CLIENT, GW_BODY | GW_IDEMPOTENCY_KEY, NULL, NULL},
	{"GET", "/api/v1/projects", GW_PROJECTS, "ListProjects", PB(list_projects_request),
	 PB(list_projects_reply), GW_ANY_ROLE, 0, NULL, NULL},
	{"GET", "/api/v1/projects/{id}", GW_PROJECTS, "GetProject", PB(get_project_request),
	 PB(project), GW_ANY_ROLE, 0, NULL, NULL},
	{"GET", "/api/v1/projects/{id}/tasks", GW_PROJECTS, "ListTasks", PB(list_tasks_request),
	 PB(list_tasks_reply), GW_ANY_ROLE, 0, NULL, NULL},
	{"POST", "/api/v1/projects/{id}/analyze", GW_PROJECTS, "AnalyzeProject",
	 PB(analyze_project_request), PB(project), GW_CLIENT, 0, NULL, NULL},
	{"GET", "/api/v1/projects/{id}/proposal", GW_PROJECTS, "GetProposal",
	 PB(get_proposal_request), PB(proposal), GW_CLIENT | GW_ADMIN, 0, NULL, NULL},
	{"POST", "/api/v1/projects/{id}/proposal/approve", GW_PROJECTS, "ApproveProposal",
	 PB(approve_proposal_request), PB(project), GW_CLIENT, GW_IDEMPOTENCY_KEY, NULL, NULL},
	{"GET", "/api/v1/projects/{id}/progress", GW_PROJECTS, "GetProgress",
	 PB(get_progress_request), PB(progress), GW_ANY_ROLE, 0, NULL, NULL},
	{"POST", "/api/v1/tasks/{id}/accept", GW_PROJECTS, "AcceptTask", PB(task_action_request),
	 PB(task), GW_DEVELOPER, 0, NULL, NULL},
	{"POST", "/api/v1/tasks/{id}/decline", GW_PROJECTS, "DeclineTask", PB(task_action_request),
	 PB(task), GW_DEVELOPER, 0, NULL, NULL},
	{"PATCH", "/api/v1/tasks/{id}", GW_PROJECTS, "UpdateTask", PB(update_task_request),
	 PB(task), GW_DEVELOPER, GW_BODY, NULL, NULL},
	{"GET", "/api/v1/projects/{id}/overview", GW_LOCAL, NULL, NULL, NULL, GW_ANY_ROLE, 0,
	 gw_overview, NULL},

	/* matching (tm-matching) */
	{"GET", "/api/v1/skills", GW_MATCHING, "SearchSkills", PB(search_skills_request),
	 PB(search_skills_reply), GW_PUBLIC, 0, NULL, NULL},
};

const size_t gw_nroutes = TM_ARRAY_LEN(gw_routes);

/* A field of a message by name, of a type and label; NULL when there is none. */
static const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *d,
						const char *name, ProtobufCType type, bool repeated)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(d, name);
	if (!f || f->type != type || (f->label == PROTOBUF_C_LABEL_REPEATED) != repeated)
		return NULL;
	return f;
}

bool gw_route_is_list(const struct gw_route *rt)
{
	return rt->out && field_of(rt->out, "items", PROTOBUF_C_TYPE_MESSAGE, true) &&
	       field_of(rt->out, "next_cursor", PROTOBUF_C_TYPE_STRING, false);
}

int gw_routes_check(char *err, size_t errlen)
{
	for (size_t i = 0; i < gw_nroutes; i++) {
		const struct gw_route *rt = &gw_routes[i];
		if (!gw_route_is_list(rt))
			continue;
		if (strcmp(rt->method, "GET") != 0 ||
		    !field_of(rt->in, "limit", PROTOBUF_C_TYPE_INT32, false) ||
		    !field_of(rt->in, "cursor", PROTOBUF_C_TYPE_STRING, false)) {
			snprintf(err, errlen,
				 "route %s %s lists %s but %s has no int32 limit and string cursor "
				 "(the list contract)",
				 rt->method, rt->pattern, rt->out->name, rt->in->name);
			return -1;
		}
	}
	return 0;
}

/* Matches one path against a pattern; fills params on success. */
static bool match_path(const char *pattern, const char *path, struct gw_request *r)
{
	const char *p = pattern, *s = path;
	int n = 0;

	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pe = strchr(p, '/'), *se = strchr(s, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t sl = se ? (size_t)(se - s) : strlen(s);
		if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (sl == 0 || n == GW_MAX_PATH_PARAMS)
				return false;
			if (r) {
				r->params[n].name = p + 1;
				r->params[n].name_len = pl - 2;
				r->params[n].value = tm_arena_strndup(r->arena, s, sl);
				if (!r->params[n].value)
					return false;
			}
			n++;
		} else if (pl != sl || memcmp(p, s, pl) != 0) {
			return false;
		}
		p += pl;
		s += sl;
	}
	if (*p || *s)
		return false;
	if (r)
		r->nparams = n;
	return true;
}

const struct gw_route *gw_route_match(const char *method, const char *path, struct gw_request *r,
				      bool *path_matched, struct tm_buf *allow)
{
	*path_matched = false;
	for (size_t i = 0; i < gw_nroutes; i++) {
		if (!match_path(gw_routes[i].pattern, path, NULL))
			continue;
		*path_matched = true;
		if (strcmp(gw_routes[i].method, method) == 0)
			return match_path(gw_routes[i].pattern, path, r) ? &gw_routes[i] : NULL;
		if (allow) {
			tm_buf_puts(allow, allow->len ? ", " : "");
			tm_buf_puts(allow, gw_routes[i].method);
		}
	}
	return NULL;
}
