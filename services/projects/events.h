/* tm-projects' event handlers: what it consumes, and from where. */
#ifndef TM_PROJECTS_EVENTS_H
#define TM_PROJECTS_EVENTS_H

#include "tm/service.h"

extern const char *const projects_topics[];
extern const size_t projects_ntopics;
extern const struct tm_event_handler projects_handlers[];
extern const size_t projects_nhandlers;

/* Matching proposed a team (tm.matching.v1). */
int on_team_proposed(struct tm_event_ctx *ctx, const ProtobufCMessage *body);
/* Matching's fresh candidates for a task no one is left to take: offered to the best. */
int on_task_candidates(struct tm_event_ctx *ctx, const ProtobufCMessage *body);

#endif
