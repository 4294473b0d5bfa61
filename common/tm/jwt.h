/*
 * JWT access tokens: HS256 only (RFC 7518 §3.2, OpenSSL HMAC), with the
 * algorithm pinned — the header must say {"alg":"HS256"} and anything else
 * (none, RS256, HS512...) is refused, never used to pick a key (RFC 8725 §3.1).
 * Signatures are compared in constant time.
 */
#ifndef TM_JWT_H
#define TM_JWT_H

#include <stddef.h>
#include <stdint.h>

#define TM_JWT_MAX_BYTES 4096	   /* longer tokens are refused before any parsing */
#define TM_JWT_SECRET_MIN_BYTES 32 /* HS256 needs a key of at least the hash size */
#define TM_JWT_LEEWAY_S 30	   /* clock skew tolerated on exp and nbf */

struct tm_jwt_claims {
	char sub[64];	       /* user id */
	char role[16];	       /* client | developer | admin */
	char jti[64];	       /* token id */
	int64_t iat, exp, nbf; /* seconds since the epoch; nbf 0 = absent */
};

enum tm_jwt_rc {
	TM_JWT_OK = 0,
	TM_JWT_MALFORMED, /* not three base64url segments of JSON objects, or claims missing */
	TM_JWT_TOO_LONG,
	TM_JWT_BAD_ALG, /* alg other than HS256, or a crit header */
	TM_JWT_BAD_SIGNATURE,
	TM_JWT_EXPIRED,
	TM_JWT_NOT_YET_VALID,
};

/* Signs the claims into out (NUL-terminated). Returns the length or -1. */
int tm_jwt_sign(const void *secret, size_t secret_len, const struct tm_jwt_claims *c, char *out,
		size_t outlen);

/* Verifies a token at time now_s and fills *c. */
enum tm_jwt_rc tm_jwt_verify(const void *secret, size_t secret_len, const char *token,
			     int64_t now_s, struct tm_jwt_claims *c);

const char *tm_jwt_rc_str(enum tm_jwt_rc rc);

#endif
