/*
 * The skill taxonomy: the real seed files (size, categories, edge types, both
 * edge directions, lookup, search, extraction from sentences) and small files
 * written to a temporary directory per test for everything the loader must
 * refuse, each error naming file:line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../support/seed.h"
#include "tm/taxonomy.h"
#include "tm/util.h"

#define ERR_BYTES 512
#define IDS_MAX 64
#define LONG_BRIEF_BYTES 20000
#define EXTRACT_RUNS 50
#define EXTRACT_BUDGET_US 20000 /* per 20,000-byte brief, sanitizers included */

static const char *const categories[] = {
	"language", "frontend", "backend",    "mobile",	  "database", "cloud",	   "devops",
	"data",	    "ml",	"testing",    "security", "design",   "practice",  "platform",
	"tool",	    "game",	"blockchain", "embedded", "api",      "ecommerce", "cms",
};

/* ---- fixtures ------------------------------------------------------------------------- */

static struct tm_taxonomy *seed; /* the real files, loaded once for the group */

static int group_setup(void **state)
{
	(void)state;
	seed = tm_test_seed_taxonomy();
	return seed ? 0 : -1;
}

static int group_teardown(void **state)
{
	tm_taxonomy_free(seed);
	return 0;
}

struct tmpdir {
	char path[64];
	char err[ERR_BYTES];
	struct tm_taxonomy *t; /* what load_small loaded, freed in teardown */
};

static int setup(void **state)
{
	struct tmpdir *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/tm-test-taxonomy-XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct tmpdir *d = *state;
	tm_taxonomy_free(d->t);
	int rc = nftw(d->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
	return rc;
}

static void write_file(const struct tmpdir *d, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
}

#define SKILLS_HEADER "name\tcategory\taliases\tdescription\n"
#define EDGES_HEADER "from\tto\ttype\tweight\n"

/* A small valid pair: three skills, one edge. Tests append lines to break it. */
#define BASE_SKILLS                                                          \
	SKILLS_HEADER "JavaScript\tlanguage\tjs\tThe language of the web.\n" \
		      "React\tfrontend\treact,reactjs\tUI library.\n"        \
		      "PostgreSQL\tdatabase\tpostgres\tRelational database.\n"
#define BASE_EDGES EDGES_HEADER "React\tJavaScript\trequires\t0.90\n"

/* Writes both files and loads them; returns what tm_taxonomy_load returned. */
static int load_small(struct tmpdir *d, const char *skills, const char *edges)
{
	write_file(d, "skills.tsv", skills);
	write_file(d, "skill_edges.tsv", edges);
	tm_taxonomy_free(d->t);
	d->t = NULL;
	d->err[0] = '\0';
	return tm_taxonomy_load(&d->t, d->path, d->err, sizeof(d->err));
}

/* Loading must fail with an error that names "<file>:<line>:" and says `what`. */
static void assert_refused(struct tmpdir *d, const char *skills, const char *edges,
			   const char *file, int line, const char *what)
{
	char where[64];
	assert_int_equal(load_small(d, skills, edges), -1);
	assert_null(d->t);
	snprintf(where, sizeof(where), "/%s:%d: ", file, line);
	if (!strstr(d->err, where) || !strstr(d->err, what))
		fail_msg("expected \"%s\" and \"%s\" in: %s", where, what, d->err);
	assert_null(strchr(d->err, '\n'));
}

static const char *name_of(const struct tm_taxonomy *t, const char *text)
{
	const struct tm_skill *s = tm_taxonomy_find(t, text);
	return s ? s->name : "(none)";
}

static int id_of(const struct tm_taxonomy *t, const char *name)
{
	const struct tm_skill *s = tm_taxonomy_find(t, name);
	assert_non_null(s);
	assert_string_equal(s->name, name);
	return s->id;
}

/* The names extract() finds in text, joined by ", " into out. */
static const char *extract_names(const struct tm_taxonomy *t, const char *text, char *out,
				 size_t cap)
{
	int ids[IDS_MAX];
	size_t n = tm_taxonomy_extract(t, text, ids, IDS_MAX), len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
				 tm_taxonomy_skill(t, ids[i])->name);
		assert_true(w > 0 && (size_t)w < cap - len);
		len += (size_t)w;
	}
	return out;
}

#define assert_extracts(text, expected)                                                           \
	do {                                                                                      \
		char got_[1024];                                                                  \
		assert_string_equal(extract_names(seed, (text), got_, sizeof(got_)), (expected)); \
	} while (0)

/* True when an edge from -> to of that type is among the edges of `id` (outgoing or incoming). */
static bool has_edge(const struct tm_skill_edge *e, size_t n, int from, int to,
		     enum tm_edge_type type)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].from == from && e[i].to == to && e[i].type == type)
			return true;
	return false;
}

/* ---- the seed files ------------------------------------------------------------------- */

static void test_seed_has_at_least_300_skills_and_600_edges(void **state)
{
	assert_true(tm_taxonomy_count(seed) >= 300);
	assert_true(tm_taxonomy_edge_count(seed) >= 600);
}

static void test_seed_skills_have_a_known_category_and_a_description(void **state)
{
	size_t per[TM_ARRAY_LEN(categories)] = {0};

	for (size_t i = 0; i < tm_taxonomy_count(seed); i++) {
		const struct tm_skill *s = tm_taxonomy_skill(seed, (int)i);
		assert_non_null(s);
		assert_int_equal(s->id, (int)i);
		assert_true(strlen(s->name) > 0 && strlen(s->description) > 0);
		size_t c = 0;
		while (c < TM_ARRAY_LEN(categories) && strcmp(s->category, categories[c]) != 0)
			c++;
		if (c == TM_ARRAY_LEN(categories))
			fail_msg("%s has category %s", s->name, s->category);
		per[c]++;
		assert_ptr_equal(tm_taxonomy_find(seed, s->name), s);
	}
	for (size_t c = 0; c < TM_ARRAY_LEN(categories); c++)
		if (per[c] == 0)
			fail_msg("no skill in category %s", categories[c]);
}

static void test_seed_every_alias_finds_its_own_skill(void **state)
{
	for (size_t i = 0; i < tm_taxonomy_count(seed); i++) {
		const char *const *aliases;
		size_t n = tm_taxonomy_aliases(seed, (int)i, &aliases);
		for (size_t a = 0; a < n; a++) {
			const struct tm_skill *s = tm_taxonomy_find(seed, aliases[a]);
			if (!s || s->id != (int)i)
				fail_msg("alias %s of %s finds %s", aliases[a],
					 tm_taxonomy_skill(seed, (int)i)->name,
					 s ? s->name : "nothing");
		}
	}
}

static void test_seed_edges_are_valid_and_seen_from_both_ends(void **state)
{
	size_t total = 0, per_type[4] = {0};

	for (size_t i = 0; i < tm_taxonomy_count(seed); i++) {
		const struct tm_skill_edge *out, *in;
		size_t n = tm_taxonomy_edges_from(seed, (int)i, &out);
		total += n;
		for (size_t k = 0; k < n; k++) {
			const struct tm_skill_edge *e = &out[k];
			assert_int_equal(e->from, (int)i);
			assert_int_not_equal(e->from, e->to);
			assert_true(e->type >= TM_EDGE_REQUIRES &&
				    e->type <= TM_EDGE_PREREQUISITE_OF);
			assert_true(e->weight >= 0.0999f && e->weight <= 1.0001f);
			assert_true(k == 0 || out[k - 1].weight >= e->weight);
			per_type[e->type]++;
			size_t m = tm_taxonomy_edges_to(seed, e->to, &in);
			assert_true(has_edge(in, m, e->from, e->to, e->type));
			assert_string_not_equal(tm_edge_type_name(e->type), "unknown");
		}
	}
	assert_int_equal(total, tm_taxonomy_edge_count(seed));
	for (int t = 0; t < 4; t++)
		assert_true(per_type[t] > 0);
}

static void test_seed_has_the_real_world_edges_both_ways(void **state)
{
	const struct tm_skill_edge *e;
	int react = id_of(seed, "React"), js = id_of(seed, "JavaScript");
	int redux = id_of(seed, "Redux"), lambda = id_of(seed, "AWS Lambda");
	int aws = id_of(seed, "AWS"), sql = id_of(seed, "SQL"), pg = id_of(seed, "PostgreSQL");

	size_t n = tm_taxonomy_edges_from(seed, react, &e);
	assert_true(has_edge(e, n, react, js, TM_EDGE_REQUIRES));
	n = tm_taxonomy_edges_to(seed, js, &e);
	assert_true(has_edge(e, n, react, js, TM_EDGE_REQUIRES));
	n = tm_taxonomy_edges_to(seed, react, &e);
	assert_true(has_edge(e, n, redux, react, TM_EDGE_SPECIALIZES));
	n = tm_taxonomy_edges_from(seed, lambda, &e);
	assert_true(has_edge(e, n, lambda, aws, TM_EDGE_SPECIALIZES));
	n = tm_taxonomy_edges_from(seed, sql, &e);
	assert_true(has_edge(e, n, sql, pg, TM_EDGE_PREREQUISITE_OF));
	n = tm_taxonomy_edges_from(seed, id_of(seed, "JavaScript"), &e);
	assert_true(has_edge(e, n, js, id_of(seed, "TypeScript"), TM_EDGE_PREREQUISITE_OF));
}

static void test_edges_of_a_bad_id_are_none(void **state)
{
	const struct tm_skill_edge *e = (const void *)1;
	assert_int_equal(tm_taxonomy_edges_from(seed, -1, &e), 0);
	assert_null(e);
	assert_int_equal(tm_taxonomy_edges_to(seed, (int)tm_taxonomy_count(seed), &e), 0);
	assert_null(tm_taxonomy_skill(seed, -1));
	assert_null(tm_taxonomy_skill(seed, (int)tm_taxonomy_count(seed)));
}

/* ---- find ----------------------------------------------------------------------------- */

static void test_find_takes_names_and_aliases_in_any_case_and_spacing(void **state)
{
	assert_string_equal(name_of(seed, "reactjs"), "React");
	assert_string_equal(name_of(seed, "React.JS"), "React");
	assert_string_equal(name_of(seed, "  react   js "), "React");
	assert_string_equal(name_of(seed, "REACT"), "React");
	assert_string_equal(name_of(seed, "postgres"), "PostgreSQL");
	assert_string_equal(name_of(seed, "PostgreSQL"), "PostgreSQL");
	assert_string_equal(name_of(seed, "node-js"), "Node.js");
	assert_string_equal(name_of(seed, "NodeJS"), "Node.js");
	assert_string_equal(name_of(seed, "react_native"), "React Native");
	assert_string_equal(name_of(seed, "k8s"), "Kubernetes");
	assert_string_equal(name_of(seed, "c#"), "C#");
	assert_string_equal(name_of(seed, "C++"), "C++");
	assert_string_equal(name_of(seed, "c"), "C");
	assert_string_equal(name_of(seed, ".NET"), ".NET");
	assert_string_equal(name_of(seed, "dotnet"), ".NET");
	assert_string_equal(name_of(seed, "asp.net"), "ASP.NET Core");
	assert_string_equal(name_of(seed, "golang"), "Go");
	assert_string_equal(name_of(seed, "go"), "Go");
	assert_string_equal(name_of(seed, "ci/cd"), "CI/CD");
	assert_string_equal(name_of(seed, "CI-CD"), "CI/CD");
	assert_string_equal(name_of(seed, "a/b testing"), "A/B testing");
	assert_string_equal(name_of(seed, "webhook"), "Webhooks");
	assert_string_equal(name_of(seed, "REST API"), "REST APIs");
	assert_string_equal(name_of(seed, "rest apis"), "REST APIs");
}

static void test_find_returns_null_for_unknown_or_empty_text(void **state)
{
	assert_null(tm_taxonomy_find(seed, ""));
	assert_null(tm_taxonomy_find(seed, "   ...  "));
	assert_null(tm_taxonomy_find(seed, "reaction"));
	assert_null(tm_taxonomy_find(seed, "react native js"));
	assert_null(tm_taxonomy_find(seed, "net"));
	char huge[600];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	assert_null(tm_taxonomy_find(seed, huge));
}

/* ---- search --------------------------------------------------------------------------- */

#define SEARCH_SKILLS                                                            \
	SKILLS_HEADER "React\tfrontend\treact,reactjs\tUI library.\n"            \
		      "Preact\tfrontend\tpreact\tSmall React.\n"                 \
		      "Material UI\tfrontend\tmui,react material\tComponents.\n" \
		      "React Native\tmobile\treactnative\tMobile apps.\n"        \
		      "React Query\tfrontend\ttanstack query\tData fetching.\n"  \
		      "Redux\tfrontend\tredux\tState container.\n"
#define SEARCH_EDGES EDGES_HEADER "Redux\tReact\tspecializes\t0.90\n"

static void assert_search(const struct tm_taxonomy *t, const char *q, size_t max,
			  const char *const *expected, size_t n)
{
	const struct tm_skill *out[16];
	assert_true(max <= TM_ARRAY_LEN(out));
	size_t got = tm_taxonomy_search(t, q, out, max);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(out[i]->name, expected[i]);
}

static void test_search_ranks_exact_then_name_prefix_then_alias_prefix_then_substring(void **state)
{
	struct tmpdir *d = *state;
	static const char *const all[] = {"React", "React Native", "React Query", "Material UI",
					  "Preact"};
	static const char *const native[] = {"React Native"};

	assert_int_equal(load_small(d, SEARCH_SKILLS, SEARCH_EDGES), 0);
	assert_search(d->t, "react", 16, all, 5);
	assert_search(d->t, "  REACT ", 16, all, 5);
	assert_search(d->t, "react-native", 16, native, 1);
	assert_search(d->t, "reactn", 16, native, 1);
}

static void test_search_stops_at_max_and_is_stable(void **state)
{
	struct tmpdir *d = *state;
	static const char *const two[] = {"React", "React Native"};
	static const char *const none[] = {NULL};

	assert_int_equal(load_small(d, SEARCH_SKILLS, SEARCH_EDGES), 0);
	for (int i = 0; i < 3; i++)
		assert_search(d->t, "react", 2, two, 2);
	assert_search(d->t, "react", 0, none, 0);
	assert_search(d->t, "zzz", 16, none, 0);
}

static void test_search_with_an_empty_query_lists_every_skill_by_name(void **state)
{
	struct tmpdir *d = *state;
	static const char *const by_name[] = {"Material UI",  "Preact",	     "React",
					      "React Native", "React Query", "Redux"};

	assert_int_equal(load_small(d, SEARCH_SKILLS, SEARCH_EDGES), 0);
	assert_search(d->t, "", 16, by_name, 6);
}

static void test_search_on_the_seed_puts_the_exact_skill_first(void **state)
{
	const struct tm_skill *out[10];

	assert_true(tm_taxonomy_search(seed, "postgres", out, 10) >= 1);
	assert_string_equal(out[0]->name, "PostgreSQL");
	assert_true(tm_taxonomy_search(seed, "k8s", out, 10) >= 1);
	assert_string_equal(out[0]->name, "Kubernetes");
	size_t n = tm_taxonomy_search(seed, "java", out, 10);
	assert_true(n >= 2);
	assert_string_equal(out[0]->name, "Java");
	assert_string_equal(out[1]->name, "JavaScript");
}

/* ---- extract -------------------------------------------------------------------------- */

static void test_extract_prefers_the_longest_match(void **state)
{
	assert_extracts("We need a React Native app", "React Native");
	assert_extracts("react-native and later a react web app", "React Native, React");
	assert_extracts("Ruby on Rails backend", "Ruby on Rails, Backend development");
	assert_extracts("Amazon S3 and plain s3", "Amazon S3");
}

static void test_extract_handles_punctuation_and_symbol_names(void **state)
{
	assert_extracts("built with node.js, C# and C++ on .NET", "Node.js, C#, C++, .NET");
	assert_extracts("Node.JS-based API (Express)", "Node.js, Express.js");
	assert_extracts("(postgres), [redis]; \"docker\"!", "PostgreSQL, Redis, Docker");
	assert_extracts("ASP.NET Core or asp.net", "ASP.NET Core");
	assert_extracts("CI/CD on GitHub Actions", "CI/CD, GitHub Actions");
	assert_extracts("roles & permissions, not R&D", "Role-based access control");
	assert_extracts("\xe2\x80\x9cReact\xe2\x80\x9d \xe2\x80\x94 Vue", "React, Vue.js");
}

static void test_extract_does_not_match_inside_words(void **state)
{
	assert_extracts("a reaction that is scalable and reactive", "");
	assert_extracts("javascripting gopher pythonic rusty", "");
	assert_extracts("scala and Scala", "Scala");
}

static void test_extract_lists_each_skill_once_in_order_of_first_appearance(void **state)
{
	assert_extracts("Python and Django, then python again, Docker, then django",
			"Python, Django, Docker");
	assert_extracts("Docker first; React later; docker again", "Docker, React");
}

static void test_extract_matches_capitalised_word_names_only_as_written(void **state)
{
	assert_extracts("we want to go live soon", "");
	assert_extracts("Go live in May. The API is in Go.", "Go");
	assert_extracts("- Go backend", "Backend development");
	assert_extracts("a USB-C port and a Go-to-market plan", "");
	assert_extracts("swift delivery, rust proofing", "");
	assert_extracts("iOS in Swift, tools in Rust", "iOS, Swift, Rust");
	assert_extracts("the rest of the REST API", "REST APIs");
	assert_extracts("500 ml bottles and an ML model", "Machine learning");
	assert_extracts("Copyright (C) 2024; written in C", "C");
	assert_extracts("LoRA adapters", "");
	assert_extracts("sensors on LoRa", "Sensor integration, LoRaWAN");
}

static void test_extract_does_not_join_words_across_a_sentence_or_line(void **state)
{
	assert_extracts("I like React. Native speakers help", "React");
	assert_extracts("React\nNative apps later", "React");
	assert_extracts("machine, learning", "");
	assert_extracts("machine learning", "Machine learning");
}

static void test_extract_reads_plurals_of_names(void **state)
{
	assert_extracts("send webhooks and call REST APIs", "Webhooks, REST APIs");
	assert_extracts("Webhooks first", "Webhooks");
	assert_extracts("two chatbots", "Chatbots");
}

static void test_extract_writes_at_most_max_ids(void **state)
{
	int ids[2];
	assert_int_equal(tm_taxonomy_extract(seed, "Python, Django, Docker, React", ids, 2), 2);
	assert_int_equal(ids[0], id_of(seed, "Python"));
	assert_int_equal(ids[1], id_of(seed, "Django"));
	assert_int_equal(tm_taxonomy_extract(seed, "Python", ids, 0), 0);
	assert_int_equal(tm_taxonomy_extract(seed, "", ids, 2), 0);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_extract_from_a_20000_byte_brief_is_fast(void **state)
{
	static const char para[] =
		"We need a mobile app for iPhone and Android built with React Native, a "
		"Node.js backend on AWS with PostgreSQL, payments with Stripe, push "
		"notifications, and an admin dashboard; later machine learning for "
		"recommendations. The team knows TypeScript, Docker and CI/CD. ";
	char *text = malloc(LONG_BRIEF_BYTES + 1);
	int ids[IDS_MAX];
	size_t len = 0, n = 0;

	assert_non_null(text);
	while (len + sizeof(para) - 1 <= LONG_BRIEF_BYTES) {
		memcpy(text + len, para, sizeof(para) - 1);
		len += sizeof(para) - 1;
	}
	text[len] = '\0';
	int64_t start = now_us();
	for (int i = 0; i < EXTRACT_RUNS; i++)
		n = tm_taxonomy_extract(seed, text, ids, IDS_MAX);
	int64_t per_run_us = (now_us() - start) / EXTRACT_RUNS;
	printf("extract: %zu bytes, %zu skills, %lld us per run\n", len, n, (long long)per_run_us);
	assert_true(n >= 15);
	assert_true(per_run_us < EXTRACT_BUDGET_US);
	free(text);
}

/* ---- small files that load ------------------------------------------------------------ */

static void test_comments_blank_lines_and_crlf_are_accepted(void **state)
{
	struct tmpdir *d = *state;
	const char *const *aliases;

	assert_int_equal(
		load_small(d,
			   "# the skills\r\n\r\n" SKILLS_HEADER "# languages\r\n"
			   "JavaScript\tlanguage\tjs, ecmascript \tThe language of the web.\r\n"
			   "\r\n"
			   "React\tfrontend\t\tUI library.\r\n",
			   "# edges\n" EDGES_HEADER "React\tJavaScript\trequires\t1.00\n"),
		0);
	assert_int_equal(tm_taxonomy_count(d->t), 2);
	assert_string_equal(tm_taxonomy_skill(d->t, 0)->name, "JavaScript");
	assert_string_equal(tm_taxonomy_skill(d->t, 1)->name, "React");
	assert_string_equal(tm_taxonomy_skill(d->t, 1)->description, "UI library.");
	assert_int_equal(tm_taxonomy_aliases(d->t, 0, &aliases), 2);
	assert_string_equal(aliases[0], "js");
	assert_string_equal(aliases[1], "ecmascript");
	assert_int_equal(tm_taxonomy_aliases(d->t, 1, &aliases), 0);
	assert_int_equal(tm_taxonomy_edge_count(d->t), 1);
}

static void test_edges_come_heaviest_first_then_in_file_order(void **state)
{
	struct tmpdir *d = *state;
	const struct tm_skill_edge *e;

	assert_int_equal(load_small(d, BASE_SKILLS,
				    EDGES_HEADER "React\tPostgreSQL\trelated\t0.30\n"
						 "React\tJavaScript\trequires\t0.90\n"
						 "PostgreSQL\tJavaScript\trelated\t0.30\n"
						 "React\tJavaScript\tprerequisite_of\t0.30\n"),
			 0);
	assert_int_equal(tm_taxonomy_edges_from(d->t, 1, &e), 3);
	assert_int_equal(e[0].to, 0);
	assert_int_equal(e[0].type, TM_EDGE_REQUIRES);
	assert_true(e[0].weight > 0.899f && e[0].weight < 0.901f);
	assert_int_equal(e[1].to, 2);
	assert_int_equal(e[1].type, TM_EDGE_RELATED);
	assert_int_equal(e[2].type, TM_EDGE_PREREQUISITE_OF);
	assert_int_equal(tm_taxonomy_edges_to(d->t, 0, &e), 3);
	assert_int_equal(e[0].from, 1);
	assert_int_equal(e[1].from, 2);
	assert_int_equal(tm_taxonomy_edges_from(d->t, 0, &e), 0);
}

static void test_edge_type_names_round_trip(void **state)
{
	assert_string_equal(tm_edge_type_name(TM_EDGE_REQUIRES), "requires");
	assert_string_equal(tm_edge_type_name(TM_EDGE_RELATED), "related");
	assert_string_equal(tm_edge_type_name(TM_EDGE_SPECIALIZES), "specializes");
	assert_string_equal(tm_edge_type_name(TM_EDGE_PREREQUISITE_OF), "prerequisite_of");
	assert_string_equal(tm_edge_type_name((enum tm_edge_type)9), "unknown");
}

static void test_lower_case_alias_makes_a_capitalised_name_match_in_any_case(void **state)
{
	struct tmpdir *d = *state;
	int ids[4];

	assert_int_equal(load_small(d,
				    SKILLS_HEADER "Go\tlanguage\tgolang\tGoogle's language.\n"
						  "React\tfrontend\treact\tUI library.\n",
				    EDGES_HEADER),
			 0);
	assert_int_equal(tm_taxonomy_extract(d->t, "go react", ids, 4), 1);
	assert_int_equal(ids[0], 1);
	assert_int_equal(tm_taxonomy_extract(d->t, "so Go and React", ids, 4), 2);
}

/* ---- small files the loader refuses --------------------------------------------------- */

static void test_edge_naming_an_unknown_skill_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS, BASE_EDGES "React\tVue.js\trelated\t0.60\n",
		       "skill_edges.tsv", 3, "unknown skill \"Vue.js\"");
}

static void test_edge_naming_an_alias_is_refused_with_the_canonical_name(void **state)
{
	assert_refused(*state, BASE_SKILLS, EDGES_HEADER "reactjs\tJavaScript\trequires\t0.90\n",
		       "skill_edges.tsv", 2, "\"React\"");
}

static void test_duplicate_alias_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "Preact\tfrontend\treactjs\tSmall React.\n", BASE_EDGES,
		       "skills.tsv", 5, "already the alias of \"React\"");
}

static void test_alias_equal_to_another_skills_name_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "Supabase\tplatform\tsupa,postgresql\tBaaS.\n",
		       BASE_EDGES, "skills.tsv", 5, "already the name of \"PostgreSQL\"");
}

static void test_name_equal_to_another_name_ignoring_case_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "react\tfrontend\t\tAgain.\n", BASE_EDGES, "skills.tsv",
		       5, "already the name of \"React\"");
}

static void test_alias_repeating_the_same_key_is_refused(void **state)
{
	assert_refused(*state,
		       SKILLS_HEADER "Vue.js\tfrontend\tvuejs,vue.js\tFramework.\n"
				     "JavaScript\tlanguage\t\tJS.\n",
		       EDGES_HEADER, "skills.tsv", 2, "repeats its name");
	assert_refused(*state, SKILLS_HEADER "React\tfrontend\treact.js,react js\tUI.\n",
		       EDGES_HEADER, "skills.tsv", 2, "repeats its alias");
}

static void test_alias_with_capitals_must_be_one_word_of_letters_and_digits(void **state)
{
	assert_refused(*state, SKILLS_HEADER "Spring Boot\tbackend\tSpring Framework\tJava.\n",
		       EDGES_HEADER, "skills.tsv", 2, "not one word");
	assert_refused(*state, SKILLS_HEADER "Node.js\tbackend\tNode.JS\tRuntime.\n", EDGES_HEADER,
		       "skills.tsv", 2, "not one word");
}

static void test_empty_alias_in_the_list_is_refused(void **state)
{
	assert_refused(*state, SKILLS_HEADER "React\tfrontend\treactjs,,rjs\tUI.\n", EDGES_HEADER,
		       "skills.tsv", 2, "empty alias");
	assert_refused(*state, SKILLS_HEADER "React\tfrontend\treactjs,\tUI.\n", EDGES_HEADER,
		       "skills.tsv", 2, "empty alias");
}

static void test_bad_weight_is_refused(void **state)
{
	static const char *const bad[] = {"1.5",   "1.50", "0.05", "0.5", "1.01",
					  "-0.50", "0,50", "abc",  ""};
	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		char edges[256];
		snprintf(edges, sizeof(edges), BASE_EDGES "PostgreSQL\tJavaScript\trelated\t%s\n",
			 bad[i]);
		assert_refused(*state, BASE_SKILLS, edges, "skill_edges.tsv", 3, "bad weight");
	}
}

static void test_self_edge_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS, BASE_EDGES "React\tReact\trelated\t0.50\n",
		       "skill_edges.tsv", 3, "self edge");
}

static void test_duplicate_edge_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS,
		       BASE_EDGES "React\tPostgreSQL\trelated\t0.30\n"
				  "React\tJavaScript\trequires\t0.50\n",
		       "skill_edges.tsv", 4, "duplicate edge");
}

static void test_related_edge_listed_both_ways_is_a_duplicate(void **state)
{
	assert_refused(*state, BASE_SKILLS,
		       BASE_EDGES "React\tPostgreSQL\trelated\t0.30\n"
				  "PostgreSQL\tReact\trelated\t0.40\n",
		       "skill_edges.tsv", 4, "duplicate edge");
}

static void test_unknown_edge_type_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS, BASE_EDGES "React\tPostgreSQL\tdepends_on\t0.30\n",
		       "skill_edges.tsv", 3, "unknown edge type \"depends_on\"");
}

static void test_unknown_category_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "Vue.js\tfront-end\tvue\tFramework.\n", BASE_EDGES,
		       "skills.tsv", 5, "unknown category \"front-end\"");
}

static void test_line_of_5000_bytes_is_refused(void **state)
{
	char *skills = malloc(6000);
	assert_non_null(skills);
	int n = snprintf(skills, 6000, BASE_SKILLS "Vue.js\tfrontend\tvue\t");
	memset(skills + n, 'x', 5000);
	strcpy(skills + n + 5000, "\n");
	assert_refused(*state, skills, BASE_EDGES, "skills.tsv", 5, "longer than 4096 bytes");
	free(skills);
}

static void test_missing_header_is_refused(void **state)
{
	assert_refused(*state, "# no header\nReact\tfrontend\treact\tUI.\n", BASE_EDGES,
		       "skills.tsv", 2, "header");
	assert_refused(*state, BASE_SKILLS, "React\tJavaScript\trequires\t0.90\n",
		       "skill_edges.tsv", 1, "header");
	assert_refused(*state, "", BASE_EDGES, "skills.tsv", 1, "header");
}

static void test_wrong_column_count_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "Vue.js\tfrontend\tvue\n", BASE_EDGES, "skills.tsv", 5,
		       "expected 4 tab-separated columns");
	assert_refused(*state, BASE_SKILLS "Vue.js\tfrontend\tvue\tFramework.\textra\n", BASE_EDGES,
		       "skills.tsv", 5, "found 5");
	assert_refused(*state, BASE_SKILLS, BASE_EDGES "React\tJavaScript\trequires\n",
		       "skill_edges.tsv", 3, "found 3");
}

static void test_empty_name_or_description_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "\tfrontend\tvue\tFramework.\n", BASE_EDGES,
		       "skills.tsv", 5, "empty name");
	assert_refused(*state, BASE_SKILLS "Vue.js\tfrontend\tvue\t \n", BASE_EDGES, "skills.tsv",
		       5, "empty description");
}

static void test_invalid_utf8_is_refused(void **state)
{
	assert_refused(*state, BASE_SKILLS "Vue.js\tfrontend\tvue\tFrame\xc3\x28work.\n",
		       BASE_EDGES, "skills.tsv", 5, "UTF-8");
}

static void test_line_numbers_count_comments_and_blank_lines(void **state)
{
	assert_refused(*state, BASE_SKILLS "# a comment\n\n# another\nVue.js\tfrontendz\tvue\tF.\n",
		       BASE_EDGES, "skills.tsv", 8, "unknown category");
}

static void test_missing_files_are_refused(void **state)
{
	struct tmpdir *d = *state;
	struct tm_taxonomy *t = (void *)1;

	assert_int_equal(tm_taxonomy_load(&t, d->path, d->err, sizeof(d->err)), -1);
	assert_null(t);
	assert_non_null(strstr(d->err, "skills.tsv: cannot open"));
	write_file(d, "skills.tsv", BASE_SKILLS);
	assert_int_equal(tm_taxonomy_load(&t, d->path, d->err, sizeof(d->err)), -1);
	assert_non_null(strstr(d->err, "skill_edges.tsv: cannot open"));
}

static void test_more_than_5000_skills_is_refused(void **state)
{
	size_t cap = (size_t)(TM_TAXONOMY_MAX_SKILLS + 1) * 48 + 64, len = 0;
	char *skills = malloc(cap);

	assert_non_null(skills);
	len += (size_t)snprintf(skills, cap, SKILLS_HEADER);
	for (int i = 0; i <= TM_TAXONOMY_MAX_SKILLS; i++)
		len += (size_t)snprintf(skills + len, cap - len, "Skill %d\ttool\t\tNumber %d.\n",
					i, i);
	assert_true(len < cap);
	assert_refused(*state, skills, EDGES_HEADER, "skills.tsv", TM_TAXONOMY_MAX_SKILLS + 2,
		       "more than 5000 skills");
	free(skills);
}

#define SMALL(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_has_at_least_300_skills_and_600_edges),
		cmocka_unit_test(test_seed_skills_have_a_known_category_and_a_description),
		cmocka_unit_test(test_seed_every_alias_finds_its_own_skill),
		cmocka_unit_test(test_seed_edges_are_valid_and_seen_from_both_ends),
		cmocka_unit_test(test_seed_has_the_real_world_edges_both_ways),
		cmocka_unit_test(test_edges_of_a_bad_id_are_none),
		cmocka_unit_test(test_find_takes_names_and_aliases_in_any_case_and_spacing),
		cmocka_unit_test(test_find_returns_null_for_unknown_or_empty_text),
		SMALL(test_search_ranks_exact_then_name_prefix_then_alias_prefix_then_substring),
		SMALL(test_search_stops_at_max_and_is_stable),
		SMALL(test_search_with_an_empty_query_lists_every_skill_by_name),
		cmocka_unit_test(test_search_on_the_seed_puts_the_exact_skill_first),
		cmocka_unit_test(test_extract_prefers_the_longest_match),
		cmocka_unit_test(test_extract_handles_punctuation_and_symbol_names),
		cmocka_unit_test(test_extract_does_not_match_inside_words),
		cmocka_unit_test(test_extract_lists_each_skill_once_in_order_of_first_appearance),
		cmocka_unit_test(test_extract_matches_capitalised_word_names_only_as_written),
		cmocka_unit_test(test_extract_does_not_join_words_across_a_sentence_or_line),
		cmocka_unit_test(test_extract_reads_plurals_of_names),
		cmocka_unit_test(test_extract_writes_at_most_max_ids),
		cmocka_unit_test(test_extract_from_a_20000_byte_brief_is_fast),
		SMALL(test_comments_blank_lines_and_crlf_are_accepted),
		SMALL(test_edges_come_heaviest_first_then_in_file_order),
		cmocka_unit_test(test_edge_type_names_round_trip),
		SMALL(test_lower_case_alias_makes_a_capitalised_name_match_in_any_case),
		SMALL(test_edge_naming_an_unknown_skill_is_refused),
		SMALL(test_edge_naming_an_alias_is_refused_with_the_canonical_name),
		SMALL(test_duplicate_alias_is_refused),
		SMALL(test_alias_equal_to_another_skills_name_is_refused),
		SMALL(test_name_equal_to_another_name_ignoring_case_is_refused),
		SMALL(test_alias_repeating_the_same_key_is_refused),
		SMALL(test_alias_with_capitals_must_be_one_word_of_letters_and_digits),
		SMALL(test_empty_alias_in_the_list_is_refused),
		SMALL(test_bad_weight_is_refused),
		SMALL(test_self_edge_is_refused),
		SMALL(test_duplicate_edge_is_refused),
		SMALL(test_related_edge_listed_both_ways_is_a_duplicate),
		SMALL(test_unknown_edge_type_is_refused),
		SMALL(test_unknown_category_is_refused),
		SMALL(test_line_of_5000_bytes_is_refused),
		SMALL(test_missing_header_is_refused),
		SMALL(test_wrong_column_count_is_refused),
		SMALL(test_empty_name_or_description_is_refused),
		SMALL(test_invalid_utf8_is_refused),
		SMALL(test_line_numbers_count_comments_and_blank_lines),
		SMALL(test_missing_files_are_refused),
		SMALL(test_more_than_5000_skills_is_refused),
	};
	return cmocka_run_group_tests_name("taxonomy", tests, group_setup, group_teardown);
}
