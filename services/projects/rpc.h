/* tm-projects' RPC handlers (one per method of ProjectsService). */
#ifndef TM_PROJECTS_RPC_H
#define TM_PROJECTS_RPC_H

#include <stdbool.h>

#include "taskmesh/v1/projects.pb-c.h"
#include "tm/rpc_server.h"

/* Who may see a project: its client, admins, and its developers. */
bool rpc_may_see(struct tm_rpc_call *call, const Taskmesh__V1__Project *p);

enum tm_code rpc_create_project(struct tm_rpc_call *call, const ProtobufCMessage *in,
				ProtobufCMessage **out);
enum tm_code rpc_get_project(struct tm_rpc_call *call, const ProtobufCMessage *in,
			     ProtobufCMessage **out);
enum tm_code rpc_list_projects(struct tm_rpc_call *call, const ProtobufCMessage *in,
			       ProtobufCMessage **out);

enum tm_code rpc_project_overview(struct tm_rpc_call *call, const ProtobufCMessage *in,
				  ProtobufCMessage **out);

enum tm_code rpc_list_tasks(struct tm_rpc_call *call, const ProtobufCMessage *in,
			    ProtobufCMessage **out);
enum tm_code rpc_analyze_project(struct tm_rpc_call *call, const ProtobufCMessage *in,
				 ProtobufCMessage **out);

/* team.c */
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
