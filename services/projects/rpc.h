/* tm-projects' RPC handlers (one per method of ProjectsService). */
#ifndef TM_PROJECTS_RPC_H
#define TM_PROJECTS_RPC_H

#include "tm/rpc_server.h"

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

#endif
