#include "skills.h"
#include "tm/list.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tm/util.h"

/* An edge as seen from the skill listed. */
struct relation {
	int other;
	enum tm_edge_type type;
	float weight;
	int order; /* outgoing first, each in file order: the tie-break */
};

static int by_weight(const void *a, const void *b)
{
	const struct relation *x = a, *y = b;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->order - y->order;
}

/* The skill's outgoing edges and the `related` edges pointing at it (related
 * is symmetric but kept once in the file), heaviest first, at most
 * SKILLS_RELATIONS_MAX. Returns the count. */
static size_t relations_of(const struct tm_taxonomy *t, int id,
			   struct relation out[SKILLS_RELATIONS_MAX])
{
	struct relation all[256];
	const struct tm_skill_edge *e = NULL;
	size_t n = 0;
	size_t ne = tm_taxonomy_edges_from(t, id, &e);
	for (size_t i = 0; i < ne && n < TM_ARRAY_LEN(all); i++, n++)
		all[n] = (struct relation){e[i].to, e[i].type, e[i].weight, (int)n};
	ne = tm_taxonomy_edges_to(t, id, &e);
	for (size_t i = 0; i < ne && n < TM_ARRAY_LEN(all); i++)
		if (e[i].type == TM_EDGE_RELATED) {
			all[n] = (struct relation){e[i].from, e[i].type, e[i].weight, (int)n};
			n++;
		}
	qsort(all, n, sizeof(all[0]), by_weight);
	if (n > SKILLS_RELATIONS_MAX)
		n = SKILLS_RELATIONS_MAX;
	memcpy(out, all, n * sizeof(all[0]));
	return n;
}

/* One skill with its aliases and heaviest relations. */
static Taskmesh__V1__Skill *skill_of(const struct tm_taxonomy *t, const struct tm_skill *s,
				     struct tm_arena *a)
{
	Taskmesh__V1__Skill *k = tm_arena_alloc(a, sizeof(*k));
	const char *const *aliases = NULL;
	struct relation rel[SKILLS_RELATIONS_MAX];
	size_t na = tm_taxonomy_aliases(t, s->id, &aliases);
	size_t nr = relations_of(t, s->id, rel);

	if (!k)
		return NULL;
	taskmesh__v1__skill__init(k);
	/* the taxonomy outlives every call: its strings are not copied */
	k->name = (char *)s->name;
	k->category = (char *)s->category;
	k->description = (char *)s->description;
	k->n_aliases = na;
	k->aliases = (char **)aliases;
	k->relations = tm_arena_alloc(a, (nr + 1) * sizeof(*k->relations));
	if (!k->relations)
		return NULL;
	for (size_t i = 0; i < nr; i++) {
		Taskmesh__V1__SkillRelation *r = tm_arena_alloc(a, sizeof(*r));
		const struct tm_skill *other = tm_taxonomy_skill(t, rel[i].other);
		if (!r || !other)
			return NULL;
		taskmesh__v1__skill_relation__init(r);
		r->skill = (char *)other->name;
		r->type = (char *)tm_edge_type_name(rel[i].type);
		/* the file's two decimals, not the float's binary expansion (0.699999988) */
		r->weight = round((double)rel[i].weight * 100.0) / 100.0;
		k->relations[k->n_relations++] = r;
	}
	return k;
}

Taskmesh__V1__SearchSkillsReply *skills_search(const struct tm_taxonomy *t, const char *q,
					       size_t offset, int limit, struct tm_arena *arena)
{
	Taskmesh__V1__SearchSkillsReply *rep = tm_arena_alloc(arena, sizeof(*rep));
	size_t total = tm_taxonomy_count(t);
	size_t want = offset < total ? offset + (size_t)limit + 1 : 0; /* one more: a next page? */
	const struct tm_skill **found = tm_arena_alloc(arena, (want + 1) * sizeof(*found));

	if (!rep || !found)
		return NULL;
	taskmesh__v1__search_skills_reply__init(rep);
	size_t n = want ? tm_taxonomy_search(t, q, found, want) : 0;
	const struct tm_skill *exact = q[0] ? tm_taxonomy_find(t, q) : NULL;
	if (exact)
		rep->normalized = (char *)exact->name;
	size_t end = n > offset + (size_t)limit ? offset + (size_t)limit : n;
	rep->items = tm_arena_alloc(arena, (end > offset ? end - offset : 0) * sizeof(*rep->items) +
						   sizeof(*rep->items));
	if (!rep->items)
		return NULL;
	for (size_t i = offset; i < end; i++)
		if (!(rep->items[rep->n_items++] = skill_of(t, found[i], arena)))
			return NULL;
	if (n > end && !(rep->next_cursor = tm_list_cursor(arena, (int64_t)end, NULL)))
		return NULL;
	return rep;
}

enum tm_code rpc_search_skills(struct tm_rpc_call *call, const ProtobufCMessage *in_msg,
			       ProtobufCMessage **out)
{
	const Taskmesh__V1__SearchSkillsRequest *in =
		(const Taskmesh__V1__SearchSkillsRequest *)in_msg;
	const struct matching *m = call->service;
	struct tm_page page;

	if (strlen(in->q) > SKILLS_QUERY_MAX)
		return tm_rpc_field_error(call, "q", "at most %d bytes", SKILLS_QUERY_MAX);
	enum tm_code code = tm_list_page(call, in->limit, in->cursor, &page);
	if (code != TM_OK)
		return code;
	/* the cursor is the offset into the ranked list: one made for another q only
	 * shifts the page, and one past the end gives an empty page */
	if (page.after && (page.key < 0 || page.id[0]))
		return tm_rpc_field_error(call, "cursor", "is not a cursor this API returned");
	Taskmesh__V1__SearchSkillsReply *rep = skills_search(
		m->taxonomy, in->q, page.after ? (size_t)page.key : 0, page.limit, call->arena);
	if (!rep)
		return tm_rpc_fail(call, TM_E_INTERNAL, "out of memory");
	*out = &rep->base;
	return TM_OK;
}
