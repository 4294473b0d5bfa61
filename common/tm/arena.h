/*
 * A region allocator: many small allocations, one free. Every RPC call and
 * every HTTP request owns one; decoded protobuf messages, transcoded JSON and
 * handler replies live in it and die with it, so handlers never free fields.
 */
#ifndef TM_ARENA_H
#define TM_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct tm_arena;

/* Creates an arena; `limit_bytes` bounds its total size (0: 64 MiB). NULL on OOM. */
struct tm_arena *tm_arena_new(size_t limit_bytes);
void tm_arena_free(struct tm_arena *a);
/* Forgets every allocation but keeps the first block for reuse. */
void tm_arena_reset(struct tm_arena *a);
/* Zeroed, 16-byte aligned memory, or NULL when the limit is reached. */
void *tm_arena_alloc(struct tm_arena *a, size_t size);
char *tm_arena_strdup(struct tm_arena *a, const char *s);
char *tm_arena_strndup(struct tm_arena *a, const char *s, size_t n);
char *tm_arena_printf(struct tm_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A protobuf-c allocator whose free is a no-op; for protobuf_c_message_unpack. */
ProtobufCAllocator tm_arena_pb_allocator(struct tm_arena *a);
size_t tm_arena_used(const struct tm_arena *a);

#endif
