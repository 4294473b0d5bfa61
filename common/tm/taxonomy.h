/*
 * The skill taxonomy: canonical skills (name, category, aliases, description)
 * and a weighted graph between them, read once from two TSV files kept in the
 * repository (migrations/seed/skills.tsv and skill_edges.tsv). The projects,
 * matching and learning services share this one loader: canonical lookup of a
 * skill a user typed, search for GET /skills?q=, the graph for scoring and
 * prerequisites, and extraction of every skill a free-text brief mentions.
 *
 * Normalization. Names, aliases and text are cut into words the same way:
 * ASCII letters and digits (and any non-ASCII byte that is not a Unicode space,
 * dash or quote) make words; a trailing run of '+' or '#' belongs to the word
 * when nothing word-like follows it ("c++", "c#", "f#"); a '.' that starts a
 * word after a non-word byte belongs to it (".net"); '&' between two letters
 * or digits joins them ("r&d" stays one word) and a lone '&' is the word "and"
 * ("roles & permissions"). Every other byte separates words. A word's key is
 * its ASCII-lower-cased bytes and a name's key is its words joined by one
 * space, so "React.JS", " react-js ", "react_js" and "React JS" all have the
 * key "react js".
 *
 * In free text the separators fall in two kinds: soft ones (spaces, tabs,
 * '-', '_', '/', '\'', and a '.' followed by a word) join the words of a
 * multi-word name ("node.js", "CI/CD", "react-native"); hard ones (newlines,
 * ',', ';', ':', '!', '?', '+', brackets, quotes, dashes, a '.' that ends a
 * sentence...) never do, so "React. Native speakers" is React only.
 *
 * Case. find() and search() ignore case everywhere. extract() ignores case for
 * every lower-case alias and every canonical name except one made of a single
 * capitalised word ("Go", "Swift", "Rust"): such a name, and any alias written
 * with capitals ("Express", "ML"), is matched in free text only as written,
 * not inside a hyphenated or dotted compound ("USB-C", "Go-live"), and - for
 * capitalised words - not as the first word of a sentence or list item. The
 * rule that chooses aliases is the comment at the top of skills.tsv.
 *
 * Skill ids are 0..count-1 in file order: stable for one loaded taxonomy, not
 * across edits of the file, so store names, not ids.
 */
#ifndef TM_TAXONOMY_H
#define TM_TAXONOMY_H

#include <stddef.h>

#ifdef TM_DEFAULT_MIGRATIONS_DIR
#define TM_TAXONOMY_DEFAULT_DIR TM_DEFAULT_MIGRATIONS_DIR "/seed"
#endif

#define TM_TAXONOMY_MAX_SKILLS 5000
#define TM_TAXONOMY_MAX_EDGES 50000
#define TM_TAXONOMY_MAX_LINE 4096  /* bytes of one line, its newline included */
#define TM_TAXONOMY_MAX_ALIASES 32 /* aliases of one skill */
#define TM_TAXONOMY_MAX_WORDS 6	   /* words in one name or alias */
#define TM_TAXONOMY_MAX_KEY 96	   /* bytes of one normalized name or alias */

enum tm_edge_type {
	TM_EDGE_REQUIRES = 0,	 /* from needs to: React requires JavaScript */
	TM_EDGE_RELATED,	 /* peers, symmetric: Vue.js related React */
	TM_EDGE_SPECIALIZES,	 /* from is a kind or part of to: Redux specializes React */
	TM_EDGE_PREREQUISITE_OF, /* learn from before to: SQL prerequisite_of PostgreSQL */
};

struct tm_skill {
	int id;			 /* 0..count-1, file order */
	const char *name;	 /* canonical display name, "Node.js" */
	const char *category;	 /* one of the categories listed in skills.tsv */
	const char *description; /* one short sentence */
};

struct tm_skill_edge {
	int from, to;		/* skill ids */
	enum tm_edge_type type; /* see above */
	float weight;		/* 0.10 .. 1.00 */
};

struct tm_taxonomy; /* immutable after load; safe to share between threads */

/* Loads dir/skills.tsv and dir/skill_edges.tsv. Returns 0 with *out set, or -1
 * with *out NULL and a one-line reason in err that names file:line (unknown
 * skill in an edge, duplicate alias, bad weight, bad category or type, wrong
 * column count, line too long, ...). Bounded by the TM_TAXONOMY_MAX_* limits. */
int tm_taxonomy_load(struct tm_taxonomy **out, const char *dir, char *err, size_t errlen);
void tm_taxonomy_free(struct tm_taxonomy *t);

size_t tm_taxonomy_count(const struct tm_taxonomy *t);
size_t tm_taxonomy_edge_count(const struct tm_taxonomy *t);
/* The skill with that id, or NULL when out of range. */
const struct tm_skill *tm_taxonomy_skill(const struct tm_taxonomy *t, int id);
/* The aliases of a skill as written in the file; returns their count. */
size_t tm_taxonomy_aliases(const struct tm_taxonomy *t, int id, const char *const **out);
/* "requires", "related", "specializes", "prerequisite_of"; "unknown" otherwise. */
const char *tm_edge_type_name(enum tm_edge_type type);

/* Canonical lookup of a name or alias, any case, normalized as above
 * ("reactjs", "React.JS" -> React; "postgres" -> PostgreSQL); a trailing
 * plural 's' is tried off when the whole text is not known ("webhook" ->
 * Webhooks needs no alias, "REST API" vs "REST APIs" either way). NULL if
 * unknown. */
const struct tm_skill *tm_taxonomy_find(const struct tm_taxonomy *t, const char *text);

/* Search for GET /skills?q=: writes up to max skills, best first, and returns
 * the count. Ranks, on normalized keys: the key of the name or an alias equals
 * q, then the name starts with q, then an alias starts with q, then q is inside
 * the name or an alias; within a rank by name (case-insensitive), then id. An
 * empty q lists every skill by name. */
size_t tm_taxonomy_search(const struct tm_taxonomy *t, const char *q, const struct tm_skill **out,
			  size_t max);

/* Outgoing (from == id) or incoming (to == id) edges, heaviest first, then in
 * file order; *out points into the taxonomy. Returns the count (0 for a bad id). */
size_t tm_taxonomy_edges_from(const struct tm_taxonomy *t, int id,
			      const struct tm_skill_edge **out);
size_t tm_taxonomy_edges_to(const struct tm_taxonomy *t, int id, const struct tm_skill_edge **out);

/* Every skill mentioned in free text: at each word the longest known name or
 * alias of up to TM_TAXONOMY_MAX_WORDS words wins ("react native" over
 * "react") and its words are consumed; a trailing plural 's' on the last word
 * is tried off when nothing matched with it. Each skill once, in order of first
 * appearance. Writes up to max skill ids; returns the count. Linear in the text
 * (a hash probe per window of words); no allocation. */
size_t tm_taxonomy_extract(const struct tm_taxonomy *t, const char *text, int *ids, size_t max);

#endif
