/* tm-matching's event handlers. */
#ifndef TM_MATCHING_EVENTS_H
#define TM_MATCHING_EVENTS_H

#include "tm/service.h"

int on_project_created(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

#endif
