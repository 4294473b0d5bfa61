/*
 * tm-matching's skill look-up (services/matching/skills.c) over the real
 * taxonomy of migrations/seed: what GET /skills answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "../support/seed.h"
#include "../../services/matching/skills.h"
#include "tm/list.h"
#include "tm/util.h"

static struct tm_taxonomy *tax;
static struct tm_arena *arena;

static int setup(void **state)
{
	(void)state;
	tax = tm_test_seed_taxonomy();
	return tax ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tm_taxonomy_free(tax);
	return 0;
}

static int arena_setup(void **state)
{
	(void)state;
	arena = tm_arena_new(1 << 20);
	return arena ? 0 : -1;
}

static int arena_teardown(void **state)
{
	(void)state;
	tm_arena_free(arena);
	return 0;
}

static void test_an_alias_is_normalized_to_its_skill(void **state)
{
	(void)state;
	const char *asked[] = {"reactjs", "React.JS", " react ", "REACT"};
	for (size_t i = 0; i < TM_ARRAY_LEN(asked); i++) {
		Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, asked[i], 0, 5, arena);
		assert_non_null(r);
		assert_string_equal(r->normalized, "React");
		assert_true(r->n_items >= 1);
		assert_string_equal(r->items[0]->name, "React"); /* the exact match first */
	}
}

static void test_a_skill_carries_aliases_and_its_heaviest_relations(void **state)
{
	(void)state;
	Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, "react", 0, 1, arena);
	assert_int_equal(r->n_items, 1);
	const Taskmesh__V1__Skill *s = r->items[0];
	assert_string_equal(s->category, "frontend");
	assert_true(strlen(s->description) > 0);
	bool reactjs = false;
	for (size_t i = 0; i < s->n_aliases; i++)
		reactjs = reactjs || strcmp(s->aliases[i], "reactjs") == 0;
	assert_true(reactjs);
	assert_true(s->n_relations >= 1 && s->n_relations <= SKILLS_RELATIONS_MAX);
	/* React requires JavaScript at 0.90, its heaviest edge */
	assert_string_equal(s->relations[0]->skill, "JavaScript");
	assert_string_equal(s->relations[0]->type, "requires");
	assert_float_equal(s->relations[0]->weight, 0.90, 1e-6);
	for (size_t i = 1; i < s->n_relations; i++)
		assert_true(s->relations[i - 1]->weight >= s->relations[i]->weight);
}

static void test_related_is_symmetric_and_relations_are_capped(void **state)
{
	(void)state;
	bool capped = false, symmetric = false;
	for (size_t id = 0; id < tm_taxonomy_count(tax); id++) {
		const struct tm_skill_edge *out, *in;
		const struct tm_skill *s = tm_taxonomy_skill(tax, (int)id);
		size_t nout = tm_taxonomy_edges_from(tax, (int)id, &out);
		size_t nin = tm_taxonomy_edges_to(tax, (int)id, &in), nrel = 0;
		for (size_t i = 0; i < nin; i++)
			nrel += in[i].type == TM_EDGE_RELATED;
		Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, s->name, 0, 1, arena);
		assert_string_equal(r->items[0]->name, s->name);
		size_t want = nout + nrel < SKILLS_RELATIONS_MAX ? nout + nrel :
								   SKILLS_RELATIONS_MAX;
		assert_int_equal(r->items[0]->n_relations, want);
		capped = capped || nout + nrel > SKILLS_RELATIONS_MAX;
		/* a skill only pointed at by `related` edges still lists them */
		if (nout == 0 && nrel > 0) {
			assert_string_equal(r->items[0]->relations[0]->type, "related");
			symmetric = true;
		}
	}
	assert_true(capped);
	assert_true(symmetric);
}

static void test_a_prefix_finds_several_and_the_limit_holds(void **state)
{
	(void)state;
	Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, "react", 0, 3, arena);
	assert_int_equal(r->n_items, 3);
	assert_string_equal(r->items[0]->name, "React");
	for (size_t i = 1; i < r->n_items; i++) /* "React Native", "React Query", ... */
		assert_non_null(strstr(r->items[i]->name, "React"));
}

static void test_nothing_matches_an_unknown_word(void **state)
{
	(void)state;
	Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, "qwxzv", 0, 20, arena);
	assert_int_equal(r->n_items, 0);
	assert_string_equal(r->normalized, "");
}

static void test_an_empty_query_lists_skills_by_name(void **state)
{
	(void)state;
	Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, "", 0, TM_LIST_LIMIT_MAX, arena);
	assert_int_equal(r->n_items, TM_LIST_LIMIT_MAX);
	assert_string_equal(r->normalized, "");
	for (size_t i = 1; i < r->n_items; i++)
		assert_true(strcasecmp(r->items[i - 1]->name, r->items[i]->name) <= 0);
}

/* Following nextCursor from the first page visits every skill once, in order. */
static void test_pages_cover_every_skill_once(void **state)
{
	size_t seen = 0, offset = 0;
	const char *last = "";
	(void)state;
	for (int page = 0; page < 100; page++) {
		Taskmesh__V1__SearchSkillsReply *r = skills_search(tax, "", offset, 64, arena);
		assert_non_null(r);
		for (size_t i = 0; i < r->n_items; i++) {
			assert_true(strcasecmp(last, r->items[i]->name) <= 0);
			last = r->items[i]->name;
		}
		seen += r->n_items;
		if (!r->next_cursor[0])
			break;
		int64_t key = 0;
		char id[TM_UUID_LEN + 1];
		assert_int_equal(tm_list_cursor_parse(r->next_cursor, &key, id), 0);
		assert_true((size_t)key == offset + r->n_items);
		offset = (size_t)key;
	}
	assert_int_equal(seen, tm_taxonomy_count(tax));
	/* past the end: an empty last page */
	Taskmesh__V1__SearchSkillsReply *r =
		skills_search(tax, "", tm_taxonomy_count(tax) + 5, 10, arena);
	assert_int_equal(r->n_items, 0);
	assert_string_equal(r->next_cursor, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_an_alias_is_normalized_to_its_skill,
						arena_setup, arena_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_skill_carries_aliases_and_its_heaviest_relations, arena_setup,
			arena_teardown),
		cmocka_unit_test_setup_teardown(test_related_is_symmetric_and_relations_are_capped,
						arena_setup, arena_teardown),
		cmocka_unit_test_setup_teardown(test_a_prefix_finds_several_and_the_limit_holds,
						arena_setup, arena_teardown),
		cmocka_unit_test_setup_teardown(test_nothing_matches_an_unknown_word, arena_setup,
						arena_teardown),
		cmocka_unit_test_setup_teardown(test_an_empty_query_lists_skills_by_name,
						arena_setup, arena_teardown),
		cmocka_unit_test_setup_teardown(test_pages_cover_every_skill_once, arena_setup,
						arena_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
