/* tm-matching's skill look-up: GET /skills?q= over the shared taxonomy. */
#ifndef TM_MATCHING_SKILLS_H
#define TM_MATCHING_SKILLS_H

#include "taskmesh/v1/matching.pb-c.h"
#include "tm/arena.h"
#include "tm/rpc_server.h"
#include "tm/taxonomy.h"

#define SKILLS_QUERY_MAX 200	/* bytes of q */
#define SKILLS_RELATIONS_MAX 10 /* relations listed per skill */

/* tm-matching's state. */
struct matching {
	const struct tm_taxonomy *taxonomy;
};

/* One page of the reply for q: `limit` skills (1..TM_LIST_LIMIT_MAX, checked)
 * from `offset` in the ranked list, with the cursor of the next page, in arena;
 * NULL when out of memory. */
Taskmesh__V1__SearchSkillsReply *skills_search(const struct tm_taxonomy *t, const char *q,
					       size_t offset, int limit, struct tm_arena *arena);

/* SearchSkills: checks q and limit (400 naming the field), then skills_search. */
enum tm_code rpc_search_skills(struct tm_rpc_call *call, const ProtobufCMessage *in,
			       ProtobufCMessage **out);

#endif
