/*
 * Password storage with Argon2id (RFC 9106, the reference implementation in
 * libargon2), at the first choice of the OWASP Password Storage Cheat Sheet:
 * m = 19 MiB, t = 2, p = 1, a 16-byte random salt and a 32-byte hash, kept in
 * the standard encoded form "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>".
 * Stored hashes are parsed strictly and their costs bounded before libargon2
 * sees them, so a tampered row cannot make a login allocate gigabytes.
 */
#ifndef TM_PASSWORD_H
#define TM_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_PASSWORD_MIN_CHARS 12 /* code points, not bytes */
#define TM_PASSWORD_MAX_CHARS 128
/* Longest password in bytes that hash and verify accept (128 code points of up
 * to 4 bytes); verify calls anything longer a mismatch without hashing it. */
#define TM_PASSWORD_MAX_BYTES (4 * TM_PASSWORD_MAX_CHARS)
#define TM_PASSWORD_ENCODED_MAX 160 /* bytes of an encoded hash, NUL included */
#define TM_PASSWORD_SALT_BYTES 16   /* salt made by tm_password_hash */
#define TM_PASSWORD_HASH_BYTES 32   /* hash length, the only one accepted */

/* Costs accepted from a stored hash (and for hashing): above these it is refused. */
#define TM_PASSWORD_M_MAX_KIB (1024 * 1024) /* 1 GiB */
#define TM_PASSWORD_T_MAX 64
#define TM_PASSWORD_P_MAX 16

struct tm_argon2_params {
	uint32_t t_cost;      /* passes over memory */
	uint32_t m_cost_kib;  /* memory, KiB; at least 8 * parallelism */
	uint32_t parallelism; /* lanes (and threads) */
};

extern const struct tm_argon2_params tm_password_default_params; /* t=2, m=19456, p=1 */

enum tm_password_rc {
	TM_PASSWORD_OK = 0,
	TM_PASSWORD_MISMATCH, /* well-formed hash, other password */
	TM_PASSWORD_BAD_HASH, /* not a well-formed $argon2id$v=19$ string within the bounds */
	TM_PASSWORD_ERROR,    /* bad arguments, no randomness, out of memory */
};

/* Checks a candidate password: valid UTF-8, 12..128 code points. Returns NULL,
 * or the reason for the API ("must be at least 12 characters"). */
const char *tm_password_policy(const char *password, size_t len);

/* Hashes with a fresh random 16-byte salt (tm_random_bytes) into out, in the
 * standard encoded form with a 32-byte hash. p must lie within the bounds
 * above and len within TM_PASSWORD_MAX_BYTES; the policy is the caller's.
 * On failure out is the empty string. */
enum tm_password_rc tm_password_hash(const char *password, size_t len,
				     const struct tm_argon2_params *p,
				     char out[TM_PASSWORD_ENCODED_MAX]);

/* Verifies a password against a stored hash in constant time (libargon2's
 * comparison). Anything but a well-formed "$argon2id$v=19$m=..,t=..,p=..$salt$hash"
 * (standard base64 without padding, salt 16..64 bytes, hash 32 bytes) with costs
 * within the bounds above is TM_PASSWORD_BAD_HASH, refused before hashing. */
enum tm_password_rc tm_password_verify(const char *encoded, const char *password, size_t len);

/* True when the stored hash is weaker than p in m or t, or its parallelism
 * differs, so the caller re-hashes at the next successful login. False for a
 * malformed string. */
bool tm_password_needs_rehash(const char *encoded, const struct tm_argon2_params *p);

/* Spends the time of one verify with the default parameters against a fixed
 * dummy hash (made once, lazily, under pthread_once), so a login for an
 * unknown email takes as long as a wrong password. */
void tm_password_dummy_verify(const char *password, size_t len);

#endif
