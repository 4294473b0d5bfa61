/* Argon2id password storage; see tm/password.h. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <argon2.h>

#include "tm/password.h"
#include "tm/util.h"

#define ENCODED_PREFIX "$argon2id$v=19$" /* type and version: the only ones accepted */
#define SALT_MIN_BYTES TM_PASSWORD_SALT_BYTES
#define SALT_MAX_BYTES 64
#define COST_DIGITS_MAX 10		   /* decimal digits of a uint32_t */
#define ARGON2_M_PER_LANE_MIN_KIB 8	   /* libargon2 needs 8 KiB per lane */
#define B64_FIELD_MAX (SALT_MAX_BYTES * 2) /* room for one encoded field */

#define STR_(x) #x
#define STR(x) STR_(x)

const struct tm_argon2_params tm_password_default_params = {
	.t_cost = 2,
	.m_cost_kib = 19456,
	.parallelism = 1,
};

const char *tm_password_policy(const char *password, size_t len)
{
	static const char too_short[] =
		"must be at least " STR(TM_PASSWORD_MIN_CHARS) " characters";
	static const char too_long[] = "must be at most " STR(TM_PASSWORD_MAX_CHARS) " characters";

	if (len > TM_PASSWORD_MAX_BYTES) /* more than 128 code points whatever they are */
		return too_long;
	if (!password)
		return len ? "must be valid UTF-8" : too_short;
	if (!tm_utf8_valid(password, len))
		return "must be valid UTF-8";
	size_t chars = tm_utf8_len(password, len);
	if (chars < TM_PASSWORD_MIN_CHARS)
		return too_short;
	if (chars > TM_PASSWORD_MAX_CHARS)
		return too_long;
	return NULL;
}

/* True if the costs are ones we hash with or accept from a stored hash. */
static bool params_in_bounds(const struct tm_argon2_params *p)
{
	return p->t_cost >= 1 && p->t_cost <= TM_PASSWORD_T_MAX && p->parallelism >= 1 &&
	       p->parallelism <= TM_PASSWORD_P_MAX &&
	       p->m_cost_kib >= ARGON2_M_PER_LANE_MIN_KIB * p->parallelism &&
	       p->m_cost_kib <= TM_PASSWORD_M_MAX_KIB;
}

/* Reads "<name>=<decimal>" at *s (no sign, no leading zero, at most max) and
 * moves *s past it. Returns 0 or -1. */
static int read_cost(const char **s, const char *name, uint32_t max, uint32_t *out)
{
	const char *q = *s;
	size_t name_len = strlen(name);
	uint64_t v = 0;
	size_t n = 0;

	if (strncmp(q, name, name_len) != 0 || q[name_len] != '=')
		return -1;
	q += name_len + 1;
	while (q[n] >= '0' && q[n] <= '9') {
		if (n == COST_DIGITS_MAX)
			return -1;
		v = v * 10 + (uint64_t)(q[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && q[0] == '0') || v > max)
		return -1;
	*out = (uint32_t)v;
	*s = q + n;
	return 0;
}

static bool is_b64_std(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Decodes the unpadded standard base64 field at *s, which must end at `end`,
 * into out and moves *s to that end. Returns the decoded length or -1. */
static int read_b64(const char **s, char end, unsigned char *out, size_t outlen)
{
	const char *q = *s;
	size_t n = 0;

	while (is_b64_std(q[n]))
		n++;
	if (q[n] != end)
		return -1;
	int got = tm_base64_decode(q, n, out, outlen);
	if (got < 0)
		return -1;
	*s = q + n;
	return got;
}

/* Parses a stored hash strictly: ENCODED_PREFIX "m=M,t=T,p=P$salt$hash" with
 * the costs within bounds, a 16..64-byte salt and a 32-byte hash, shorter than
 * TM_PASSWORD_ENCODED_MAX. Fills *cost. Returns 0 or -1. */
static int parse_encoded(const char *encoded, struct tm_argon2_params *cost)
{
	unsigned char salt[SALT_MAX_BYTES], hash[TM_PASSWORD_HASH_BYTES];
	struct tm_argon2_params c;
	const char *s = encoded;

	if (!s || strnlen(s, TM_PASSWORD_ENCODED_MAX) >= TM_PASSWORD_ENCODED_MAX)
		return -1;
	if (strncmp(s, ENCODED_PREFIX, strlen(ENCODED_PREFIX)) != 0)
		return -1;
	s += strlen(ENCODED_PREFIX);
	/* each test stops the chain before *s++ could step past the NUL */
	if (read_cost(&s, "m", TM_PASSWORD_M_MAX_KIB, &c.m_cost_kib) != 0 || *s++ != ',' ||
	    read_cost(&s, "t", TM_PASSWORD_T_MAX, &c.t_cost) != 0 || *s++ != ',' ||
	    read_cost(&s, "p", TM_PASSWORD_P_MAX, &c.parallelism) != 0 || *s++ != '$')
		return -1;
	if (!params_in_bounds(&c))
		return -1;
	int salt_len = read_b64(&s, '$', salt, sizeof(salt));
	if (salt_len < SALT_MIN_BYTES)
		return -1;
	s++;
	if (read_b64(&s, '\0', hash, sizeof(hash)) != TM_PASSWORD_HASH_BYTES)
		return -1;
	*cost = c;
	return 0;
}

enum tm_password_rc tm_password_hash(const char *password, size_t len,
				     const struct tm_argon2_params *p,
				     char out[TM_PASSWORD_ENCODED_MAX])
{
	unsigned char salt[TM_PASSWORD_SALT_BYTES];

	if (!out)
		return TM_PASSWORD_ERROR;
	out[0] = '\0';
	if (!p || !params_in_bounds(p) || (!password && len) || len > TM_PASSWORD_MAX_BYTES)
		return TM_PASSWORD_ERROR;
	if (tm_random_bytes(salt, sizeof(salt)) != 0)
		return TM_PASSWORD_ERROR;
	int rc = argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism, password, len,
				       salt, sizeof(salt), TM_PASSWORD_HASH_BYTES, out,
				       TM_PASSWORD_ENCODED_MAX);
	if (rc != ARGON2_OK) {
		out[0] = '\0';
		return TM_PASSWORD_ERROR;
	}
	return TM_PASSWORD_OK;
}

enum tm_password_rc tm_password_verify(const char *encoded, const char *password, size_t len)
{
	struct tm_argon2_params cost;

	if (parse_encoded(encoded, &cost) != 0)
		return TM_PASSWORD_BAD_HASH;
	if (!password && len)
		return TM_PASSWORD_ERROR;
	if (len > TM_PASSWORD_MAX_BYTES) /* tm_password_hash never stored one this long */
		return TM_PASSWORD_MISMATCH;
	/* argon2id_verify re-parses the string we just checked and compares the
	 * hashes in constant time */
	switch (argon2id_verify(encoded, password, len)) {
	case ARGON2_OK:
		return TM_PASSWORD_OK;
	case ARGON2_VERIFY_MISMATCH:
		return TM_PASSWORD_MISMATCH;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
	case ARGON2_THREAD_FAIL:
		return TM_PASSWORD_ERROR;
	default:
		return TM_PASSWORD_BAD_HASH;
	}
}

bool tm_password_needs_rehash(const char *encoded, const struct tm_argon2_params *p)
{
	struct tm_argon2_params cost;

	if (!p || parse_encoded(encoded, &cost) != 0)
		return false;
	return cost.m_cost_kib < p->m_cost_kib || cost.t_cost < p->t_cost ||
	       cost.parallelism != p->parallelism;
}

/* Standard base64 without padding (as in the encoded form) into out. */
static void b64_std(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	int n = tm_base64url_encode(in, len, out, outlen);

	assert(n >= 0);
	for (int i = 0; i < n; i++) {
		if (out[i] == '-')
			out[i] = '+';
		else if (out[i] == '_')
			out[i] = '/';
	}
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_encoded[TM_PASSWORD_ENCODED_MAX];

/* Makes the dummy hash: the default costs with random salt and hash bytes. A
 * verify against it does the full Argon2 work and then mismatches; the hash
 * bytes do not change that work, so making it needs no Argon2 run (and the
 * first unknown-email login costs one hash, not two). */
static void dummy_make(void)
{
	unsigned char raw[TM_PASSWORD_SALT_BYTES + TM_PASSWORD_HASH_BYTES];
	char salt64[B64_FIELD_MAX], hash64[B64_FIELD_MAX];
	const struct tm_argon2_params *p = &tm_password_default_params;

	if (tm_random_bytes(raw, sizeof(raw)) != 0)
		memset(raw, 0x5a, sizeof(raw)); /* still well-formed: only its cost matters */
	b64_std(raw, TM_PASSWORD_SALT_BYTES, salt64, sizeof(salt64));
	b64_std(raw + TM_PASSWORD_SALT_BYTES, TM_PASSWORD_HASH_BYTES, hash64, sizeof(hash64));
	int n = snprintf(dummy_encoded, sizeof(dummy_encoded),
			 ENCODED_PREFIX "m=%u,t=%u,p=%u$%s$%s", (unsigned)p->m_cost_kib,
			 (unsigned)p->t_cost, (unsigned)p->parallelism, salt64, hash64);
	assert(n > 0 && (size_t)n < sizeof(dummy_encoded));
	(void)n;
}

void tm_password_dummy_verify(const char *password, size_t len)
{
	pthread_once(&dummy_once, dummy_make);
	enum tm_password_rc rc = tm_password_verify(dummy_encoded, password, len);
	assert(rc != TM_PASSWORD_BAD_HASH);
	(void)rc;
}
