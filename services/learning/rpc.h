/* tm-learning's RPC handlers. */
#ifndef TM_LEARNING_RPC_H
#define TM_LEARNING_RPC_H

#include "tm/rpc_server.h"

enum tm_code rpc_project_overview(struct tm_rpc_call *call, const ProtobufCMessage *in,
				  ProtobufCMessage **out);

#endif
