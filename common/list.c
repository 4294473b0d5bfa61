/* The list contract; see tm/list.h. */
#include <stdio.h>
#include <string.h>

#include "tm/list.h"

#define CURSOR_VERSION "1" /* a cursor's text is "1.<key>.<uuid>" before encoding */

char *tm_list_cursor(struct tm_arena *a, int64_t key, const char *id)
{
	char plain[80], enc[TM_LIST_CURSOR_MAX];
	int n = snprintf(plain, sizeof(plain), CURSOR_VERSION ".%lld%s%s", (long long)key,
			 id ? "." : "", id ? id : "");
	if (n < 0 || (size_t)n >= sizeof(plain) ||
	    tm_base64url_encode(plain, (size_t)n, enc, sizeof(enc)) < 0)
		return NULL;
	return tm_arena_strdup(a, enc);
}

int tm_list_cursor_parse(const char *cursor, int64_t *key, char id[TM_UUID_LEN + 1])
{
	char plain[96], num[24];
	size_t len = strlen(cursor);
	int n = len < TM_LIST_CURSOR_MAX ?
			tm_base64url_decode(cursor, len, plain, sizeof(plain) - 1) :
			-1;
	if (n < 0)
		return -1;
	plain[n] = '\0';
	if (strncmp(plain, CURSOR_VERSION ".", 2) != 0)
		return -1;
	const char *p = plain + 2;
	const char *dot = strchr(p, '.');
	size_t klen = dot ? (size_t)(dot - p) : strlen(p);
	if (klen == 0 || klen >= sizeof(num) || (dot && !tm_uuid_valid(dot + 1)))
		return -1;
	memcpy(num, p, klen);
	num[klen] = '\0';
	if (dot)
		memcpy(id, dot + 1, TM_UUID_LEN + 1);
	else
		id[0] = '\0';
	return tm_parse_int64(num, key);
}

enum tm_code tm_list_page(struct tm_rpc_call *call, int32_t limit, const char *cursor,
			  struct tm_page *page)
{
	memset(page, 0, sizeof(*page));
	page->limit = limit == 0 ? TM_LIST_LIMIT_DEFAULT : limit;
	if (limit < 0 || limit > TM_LIST_LIMIT_MAX)
		return tm_rpc_field_error(call, "limit", "must be between 1 and %d",
					  TM_LIST_LIMIT_MAX);
	if (cursor && cursor[0]) {
		if (tm_list_cursor_parse(cursor, &page->key, page->id) != 0)
			return tm_rpc_field_error(call, "cursor",
						  "is not a cursor this API returned");
		page->after = true;
	}
	return TM_OK;
}
