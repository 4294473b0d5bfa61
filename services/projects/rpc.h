/* tm-projects' RPC methods: the method table (rpc.c) and one handler per
 * method of ProjectsService (rpc_project.c: projects and their analysis;
 * rpc_team.c: proposals, task work, progress). Handlers parse and authorize,
 * then call the store and announce what changed. */
#ifndef TM_PROJECTS_RPC_H
#define TM_PROJECTS_RPC_H

#include <stdbool.h>

#include "taskmesh/v1/projects.pb-c.h"
#include "tm/rpc_server.h"

extern const struct tm_rpc_method projects_methods[];
extern const size_t projects_nmethods;

/* The project by id with its analysis, if the caller may see it by the
 * membership rule (tm/members.h); NOT_FOUND otherwise, SERVICE_UNAVAILABLE or
 * INTERNAL when it cannot be read. One round trip. */
enum tm_code rpc_visible_project(struct tm_rpc_call *call, const char *id,
				 Taskmesh__V1__Project **p);
/* The same for the project's owner only (admins too when `admin_too`). */
enum tm_code rpc_owned_project(struct tm_rpc_call *call, const char *id, bool admin_too,
			       Taskmesh__V1__Project **p);

/* rpc_project.c */
enum tm_code rpc_create_project(struct tm_rpc_call *call, const ProtobufCMessage *in,
				ProtobufCMessage **out);
enum tm_code rpc_get_project(struct tm_rpc_call *call, const ProtobufCMessage *in,
			     ProtobufCMessage **out);
enum tm_code rpc_list_projects(struct tm_rpc_call *call, const ProtobufCMessage *in,
			       ProtobufCMessage **out);
enum tm_code rpc_list_tasks(struct tm_rpc_call *call, const ProtobufCMessage *in,
			    ProtobufCMessage **out);
enum tm_code rpc_analyze_project(struct tm_rpc_call *call, const ProtobufCMessage *in,
				 ProtobufCMessage **out);
enum tm_code rpc_project_overview(struct tm_rpc_call *call, const ProtobufCMessage *in,
				  ProtobufCMessage **out);

/* rpc_team.c */
enum tm_code rpc_get_proposal(struct tm_rpc_call *call, const ProtobufCMessage *in,
			      ProtobufCMessage **out);
enum tm_code rpc_approve_proposal(struct tm_rpc_call *call, const ProtobufCMessage *in,
				  ProtobufCMessage **out);
enum tm_code rpc_accept_task(struct tm_rpc_call *call, const ProtobufCMessage *in,
			     ProtobufCMessage **out);
enum tm_code rpc_decline_task(struct tm_rpc_call *call, const ProtobufCMessage *in,
			      ProtobufCMessage **out);
enum tm_code rpc_update_task(struct tm_rpc_call *call, const ProtobufCMessage *in,
			     ProtobufCMessage **out);
enum tm_code rpc_get_progress(struct tm_rpc_call *call, const ProtobufCMessage *in,
			      ProtobufCMessage **out);

#endif
