/* Region allocator; see tm/arena.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm/arena.h"

#define ARENA_BLOCK_BYTES 8192		/* first block; later blocks double */
#define ARENA_DEFAULT_LIMIT (64u << 20) /* bytes per arena when none is given */
#define ARENA_ALIGN 16

struct block {
	struct block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char mem[];
};

struct tm_arena {
	struct block *head; /* current block (newest) */
	size_t total;	    /* bytes handed out, for the limit */
	size_t limit;
};

struct tm_arena *tm_arena_new(size_t limit_bytes)
{
	struct tm_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->limit = limit_bytes ? limit_bytes : ARENA_DEFAULT_LIMIT;
	return a;
}

void tm_arena_free(struct tm_arena *a)
{
	if (!a)
		return;
	for (struct block *b = a->head, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	free(a);
}

void tm_arena_reset(struct tm_arena *a)
{
	struct block *keep = NULL;

	for (struct block *b = a->head, *n; b; b = n) {
		n = b->next;
		if (!n) { /* the oldest, smallest block is kept */
			keep = b;
			break;
		}
		free(b);
	}
	if (keep) {
		keep->used = 0;
		keep->next = NULL;
	}
	a->head = keep;
	a->total = 0;
}

void *tm_arena_alloc(struct tm_arena *a, size_t size)
{
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need < size || need > a->limit - a->total)
		return NULL;
	struct block *b = a->head;
	if (!b || b->size - b->used < need) {
		size_t bsize = b ? b->size * 2 : ARENA_BLOCK_BYTES;
		if (bsize < need)
			bsize = need;
		struct block *nb = malloc(sizeof(*nb) + bsize);
		if (!nb)
			return NULL;
		nb->next = b;
		nb->size = bsize;
		nb->used = 0;
		a->head = b = nb;
	}
	void *p = b->mem + b->used;
	b->used += need;
	a->total += need;
	memset(p, 0, size);
	return p;
}

char *tm_arena_strndup(struct tm_arena *a, const char *s, size_t n)
{
	char *p = tm_arena_alloc(a, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

char *tm_arena_strdup(struct tm_arena *a, const char *s)
{
	return tm_arena_strndup(a, s, strlen(s));
}

char *tm_arena_printf(struct tm_arena *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *p = tm_arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static void *pb_alloc(void *ud, size_t size)
{
	return tm_arena_alloc(ud, size);
}

static void pb_free(void *ud, void *p)
{
	(void)ud;
	(void)p; /* freed with the arena */
}

ProtobufCAllocator tm_arena_pb_allocator(struct tm_arena *a)
{
	ProtobufCAllocator al = {.alloc = pb_alloc, .free = pb_free, .allocator_data = a};
	return al;
}

size_t tm_arena_used(const struct tm_arena *a)
{
	return a->total;
}
