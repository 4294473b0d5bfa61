/* Small helpers every daemon uses: ids, clocks, hashing, bounded parsing. */
#ifndef TM_UTIL_H
#define TM_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_UUID_LEN 36 /* text form without the NUL */

/* A random (version 4) UUID in text form into out[37]. Returns 0 or -1. */
int tm_uuid_v4(char out[TM_UUID_LEN + 1]);
/* True if s is a UUID in canonical text form (any version, lower or upper case). */
bool tm_uuid_valid(const char *s);

int64_t tm_now_ms(void);  /* CLOCK_REALTIME, milliseconds since the epoch */
int64_t tm_mono_ms(void); /* CLOCK_MONOTONIC, milliseconds */
void tm_sleep_ms(int64_t ms);
/* Joins thread t if it ends by deadline_ms (tm_mono_ms), waiting at least
 * TM_JOIN_GRACE_MS so that a thread just told to stop can notice it. Returns 0,
 * or -1 when it still runs (then it is left running, not detached). */
int tm_join_until(pthread_t t, int64_t deadline_ms);
#define TM_JOIN_GRACE_MS 250
/* RFC 3339 UTC with milliseconds, "2026-11-29T08:19:54.123Z", into out[32]. */
void tm_rfc3339(int64_t unix_ms, char out[32]);
/* Parses an RFC 3339 date-time (offset or Z) into unix ms. Returns 0 or -1. */
int tm_parse_rfc3339(const char *s, int64_t *unix_ms);

/* Parses a whole decimal int64 (no spaces, no trailing bytes). Returns 0 or -1. */
int tm_parse_int64(const char *s, int64_t *out);

/* Hex SHA-256 of data into out[65]. */
void tm_sha256_hex(const void *data, size_t len, char out[65]);
/* `n` bytes from the CSPRNG. Returns 0 or -1. */
int tm_random_bytes(void *buf, size_t n);
/* Full jitter backoff: random in [0, min(cap, base * 2^attempt)] ms. */
int64_t tm_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);

/* True if s (len bytes) is valid UTF-8 (no overlongs, no surrogates). */
bool tm_utf8_valid(const char *s, size_t len);
/* Number of code points in valid UTF-8. */
size_t tm_utf8_len(const char *s, size_t len);

/* base64url without padding (RFC 4648 §5), as JWTs use it. Encode writes a
 * NUL-terminated string of at most outlen bytes and returns its length, or -1
 * if it does not fit. Decode accepts only the URL-safe alphabet without
 * padding; returns the decoded length, or -1 on bad input or no room. */
int tm_base64url_encode(const void *in, size_t len, char *out, size_t outlen);
int tm_base64url_decode(const char *in, size_t len, void *out, size_t outlen);
/* Decodes standard or URL-safe base64 (one alphabet per value), with or
 * without the '=' padding of the last group; trailing bits must be zero.
 * Returns the decoded length, or -1 on bad input or no room. */
int tm_base64_decode(const char *in, size_t len, void *out, size_t outlen);

#define TM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
