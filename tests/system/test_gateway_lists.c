/*
 * The list contract (API.md, common/tm/list.h) on every list route of the
 * gateway's route table, present and future: each takes `limit` (1..100) and
 * a `cursor`, answers {items, nextCursor}, and following nextCursor visits
 * every item exactly once; a limit out of range or a cursor it did not make
 * is a 400 naming the field. The routes are taken from the table itself
 * (this test links the gateway's objects), so a new list route is walked
 * without anyone adding it here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../services/gateway/gateway.h"
#include "../support/http.h"
#include "../support/stack.h"
#include "tm/list.h"
#include "tm/util.h"

#define PROJECTS 3     /* the client's projects: the project list has pages to walk */
#define PAGE 2	       /* items per page while walking */
#define PAGES_MAX 1000 /* a walk longer than this is a loop */
#define ITEMS_MAX 2000 /* items a walk may collect */

static struct tm_test_stack stack;
static char client_id[TM_UUID_LEN + 1], admin_id[TM_UUID_LEN + 1], dev_id[TM_UUID_LEN + 1];
static char client_tok[1024], admin_tok[1024], dev_tok[1024];
static char project[TM_UUID_LEN + 1];

static cJSON *get(const char *path, const char *tok, long want)
{
	struct http_resp r;
	char u[2048];
	snprintf(u, sizeof(u), "%s%s", stack.gateway_url, path);
	assert_int_equal(http_get(u, tok, &r), 0);
	if (r.status != want)
		fail_msg("GET %s: expected %ld, got %ld: %.300s", path, want, r.status, r.body);
	cJSON *j = cJSON_ParseWithLength(r.body, r.len);
	http_resp_free(&r);
	assert_non_null(j);
	return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static int setup(void **state)
{
	struct http_resp r;
	char u[512], body[256];
	(void)state;
	if (tm_test_stack_start(&stack, false) != 0)
		return -1;
	tm_uuid_v4(client_id);
	tm_uuid_v4(admin_id);
	tm_uuid_v4(dev_id);
	http_mint_token(stack.jwt_secret, client_id, "client", client_tok, sizeof(client_tok));
	http_mint_token(stack.jwt_secret, admin_id, "admin", admin_tok, sizeof(admin_tok));
	http_mint_token(stack.jwt_secret, dev_id, "developer", dev_tok, sizeof(dev_tok));
	snprintf(u, sizeof(u), "%s/api/v1/projects", stack.gateway_url);
	for (int i = 0; i < PROJECTS; i++) {
		snprintf(body, sizeof(body),
			 "{\"title\":\"List walk %d\",\"description\":\"A shop with card payments, "
			 "an admin dashboard, search and e-mail receipts (%d).\"}",
			 i, i);
		if (http_post_json(u, client_tok, body, &r) != 0 || r.status != 202)
			return -1;
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		snprintf(project, sizeof(project), "%s", jstr(j, "id"));
		cJSON_Delete(j);
		http_resp_free(&r);
	}
	/* the last one analyzed: it has tasks to page through */
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/projects/%s", project);
	for (int i = 0; i < 400; i++) {
		cJSON *j = get(path, client_tok, 200);
		bool done = strcmp(jstr(j, "status"), "analyzed") == 0;
		cJSON_Delete(j);
		if (done)
			return 0;
		tm_sleep_ms(25);
	}
	return -1;
}

static int teardown(void **state)
{
	(void)state;
	return tm_test_stack_stop(&stack) == 0 ? 0 : -1;
}

/* The route's path with every {param} filled with the project's id. */
static void fill_path(const char *pattern, char *out, size_t outlen)
{
	size_t o = 0;
	for (const char *p = pattern; *p && o + 40 < outlen;) {
		if (*p == '{') {
			o += (size_t)snprintf(out + o, outlen - o, "%s", project);
			p = strchr(p, '}') ? strchr(p, '}') + 1 : p + 1;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

/* Who may call the route, for the walk. */
static const char *token_for(const struct gw_route *rt)
{
	if (rt->roles & GW_CLIENT)
		return client_tok;
	if (rt->roles & GW_ADMIN)
		return admin_tok;
	return rt->roles ? dev_tok : NULL;
}

/* An item's identity: its id, else its name. */
static const char *item_key(const cJSON *it)
{
	const char *k = jstr(it, "id");
	return k[0] ? k : jstr(it, "name");
}

/* Walks a list route page by page; returns the number of items seen (each once). */
static size_t walk(const char *path, const char *tok, int limit)
{
	static char seen[ITEMS_MAX][128];
	char cursor[TM_LIST_CURSOR_MAX * 2] = "", url[2048];
	size_t n = 0;

	for (int page = 0; page < PAGES_MAX; page++) {
		snprintf(url, sizeof(url), "%s?limit=%d%s%s", path, limit,
			 cursor[0] ? "&cursor=" : "", cursor);
		cJSON *j = get(url, tok, 200);
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items"), *it;
		const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "nextCursor");
		if (!cJSON_IsArray(items))
			fail_msg("%s: no items array", url);
		if (next && !cJSON_IsString(next))
			fail_msg("%s: nextCursor is not a string", url);
		if (cJSON_GetArraySize(items) > limit)
			fail_msg("%s: %d items on a page of %d", url, cJSON_GetArraySize(items),
				 limit);
		cJSON_ArrayForEach(it, items)
		{
			const char *k = item_key(it);
			assert_true(k[0] != '\0');
			for (size_t i = 0; i < n; i++)
				if (strcmp(seen[i], k) == 0)
					fail_msg("%s: %s shown twice", path, k);
			assert_true(n < ITEMS_MAX);
			snprintf(seen[n++], sizeof(seen[0]), "%s", k);
		}
		const char *c = next ? next->valuestring : "";
		if (!c[0]) {
			cJSON_Delete(j);
			return n;
		}
		if (cJSON_GetArraySize(items) != limit)
			fail_msg("%s: a page short of its limit has a next page", url);
		assert_true(strlen(c) < sizeof(cursor));
		snprintf(cursor, sizeof(cursor), "%s", c); /* base64url: no escaping needed */
		cJSON_Delete(j);
	}
	fail_msg("%s: more than %d pages", path, PAGES_MAX);
	return 0;
}

/* A 400 naming the field. */
static void refused(const char *path, const char *query, const char *tok, const char *field)
{
	char url[2048];
	snprintf(url, sizeof(url), "%s?%s", path, query);
	cJSON *j = get(url, tok, 400);
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	assert_string_equal(jstr(err, "code"), "VALIDATION_FAILED");
	const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(err, "details"), 0);
	if (strcmp(jstr(d, "field"), field) != 0)
		fail_msg("%s: the 400 names \"%s\", not %s", url, jstr(d, "field"), field);
	cJSON_Delete(j);
}

static void test_the_route_table_keeps_the_list_contract(void **state)
{
	char err[256];
	size_t lists = 0;
	(void)state;
	assert_int_equal(gw_routes_check(err, sizeof(err)), 0);
	for (size_t i = 0; i < gw_nroutes; i++)
		lists += gw_route_is_list(&gw_routes[i]);
	/* projects, tasks, skills at least; more as services are built */
	assert_true(lists >= 3);
}

static void test_every_list_route_pages_with_limit_and_cursor(void **state)
{
	(void)state;
	for (size_t i = 0; i < gw_nroutes; i++) {
		const struct gw_route *rt = &gw_routes[i];
		char path[512];
		if (!gw_route_is_list(rt))
			continue;
		fill_path(rt->pattern, path, sizeof(path));
		const char *tok = token_for(rt);
		size_t by_pages = walk(path, tok, PAGE);
		size_t by_one = walk(path, tok, 1);
		size_t whole = walk(path, tok, TM_LIST_LIMIT_MAX);
		print_message("%-40s %zu items\n", rt->pattern, whole);
		if (by_pages != whole || by_one != whole)
			fail_msg("%s: %zu items by pages of %d, %zu one by one, %zu in pages of %d",
				 path, by_pages, PAGE, by_one, whole, TM_LIST_LIMIT_MAX);
		assert_true(whole > 0); /* the fixture gave every list something to show */
		refused(path, "limit=0", tok, "limit");
		refused(path, "limit=101", tok, "limit");
		refused(path, "limit=-3", tok, "limit");
		refused(path, "limit=many", tok, "limit");
		refused(path, "cursor=bm90LWEtY3Vyc29y", tok, "cursor");
		refused(path, "limit=5&cursor=%25%25", tok, "cursor");
	}
}

static void test_the_project_list_holds_the_clients_projects(void **state)
{
	(void)state;
	assert_int_equal(walk("/api/v1/projects", client_tok, 1), PROJECTS);
	/* a developer who was offered nothing sees none */
	assert_int_equal(walk("/api/v1/projects", dev_tok, 5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_route_table_keeps_the_list_contract),
		cmocka_unit_test(test_every_list_route_pages_with_limit_and_cursor),
		cmocka_unit_test(test_the_project_list_holds_the_clients_projects),
	};
	return cmocka_run_group_tests_name("gateway_lists", tests, setup, teardown);
}
