/*
 * HS256 JWTs: sign/verify round trip, exp/nbf with the leeway, forged and
 * re-keyed signatures, the pinned algorithm (none, RS256, HS512, crit), and
 * malformed tokens. Hand-made tokens are signed here with OpenSSL's HMAC, so
 * each check reaches the rule it is about instead of failing on the signature.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tm/jwt.h"
#include "tm/util.h"

#define TOKEN_BYTES 8192
#define NOW_S INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static const char secret[] = "0123456789abcdef0123456789abcdef-test-secret"; /* 44 bytes */
static const char other_secret[] = "another-secret-of-at-least-32-bytes-long!!";

static struct tm_jwt_claims base_claims(void)
{
	struct tm_jwt_claims c;
	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
	snprintf(c.role, sizeof(c.role), "client");
	snprintf(c.jti, sizeof(c.jti), "jti-0001");
	c.iat = NOW_S - 60;
	c.exp = NOW_S + 900;
	return c;
}

static int sign(const struct tm_jwt_claims *c, char *out)
{
	int n = tm_jwt_sign(secret, strlen(secret), c, out, TOKEN_BYTES);
	assert_true(n > 0);
	assert_int_equal(strlen(out), (size_t)n);
	return n;
}

static enum tm_jwt_rc verify_at(const char *token, int64_t now_s)
{
	struct tm_jwt_claims c;
	return tm_jwt_verify(secret, strlen(secret), token, now_s, &c);
}

static void b64(const void *data, size_t len, char *out, size_t outlen)
{
	assert_true(tm_base64url_encode(data, len, out, outlen) >= 0);
}

/* header_b64 "." payload_b64 "." HMAC-SHA256(key, the first two) */
static void make_token_raw(const char *h64, const char *p64, const char *key, char *out)
{
	unsigned char mac[32];
	unsigned int maclen = 0;
	char sig[64];

	int n = snprintf(out, TOKEN_BYTES, "%s.%s", h64, p64);
	assert_true(n > 0 && n < TOKEN_BYTES);
	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out,
			     (size_t)n, mac, &maclen));
	assert_int_equal(maclen, 32);
	b64(mac, sizeof(mac), sig, sizeof(sig));
	int m = snprintf(out + n, TOKEN_BYTES - (size_t)n, ".%s", sig);
	assert_true(m > 0 && n + m < TOKEN_BYTES);
}

static void make_token(const char *header_json, const char *payload_json, char *out)
{
	char h64[2048], p64[2048];
	b64(header_json, strlen(header_json), h64, sizeof(h64));
	b64(payload_json, strlen(payload_json), p64, sizeof(p64));
	make_token_raw(h64, p64, secret, out);
}

static const char good_payload[] =
	"{\"sub\":\"u1\",\"role\":\"developer\",\"jti\":\"j1\",\"iat\":1767225540,\"exp\":1767226500}";

/* ---- round trip ---------------------------------------------------------------------- */

static void test_signed_token_verifies_and_returns_the_claims(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims(), out;

	in.nbf = NOW_S - 5;
	sign(&in, tok);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &out), TM_JWT_OK);
	assert_string_equal(out.sub, in.sub);
	assert_string_equal(out.role, "client");
	assert_string_equal(out.jti, "jti-0001");
	assert_int_equal(out.iat, in.iat);
	assert_int_equal(out.exp, in.exp);
	assert_int_equal(out.nbf, in.nbf);
}

static void test_signed_token_is_three_segments_with_the_hs256_header(void **state)
{
	char tok[TOKEN_BYTES], raw[2048];
	struct tm_jwt_claims in = base_claims();

	sign(&in, tok);
	char *d1 = strchr(tok, '.');
	assert_non_null(d1);
	char *d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_int_equal(strlen(d2 + 1), 43); /* 32 bytes of MAC, unpadded */
	assert_null(strchr(tok, '='));

	int n = tm_base64url_decode(tok, (size_t)(d1 - tok), raw, sizeof(raw) - 1);
	assert_true(n > 0);
	raw[n] = '\0';
	assert_string_equal(raw, HS256_HEADER);

	n = tm_base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), raw, sizeof(raw) - 1);
	assert_true(n > 0);
	raw[n] = '\0';
	cJSON *p = cJSON_Parse(raw);
	assert_non_null(p);
	assert_string_equal(cJSON_GetObjectItem(p, "sub")->valuestring, in.sub);
	assert_string_equal(cJSON_GetObjectItem(p, "role")->valuestring, "client");
	assert_true(cJSON_GetObjectItem(p, "exp")->valuedouble == (double)in.exp);
	assert_null(cJSON_GetObjectItem(p, "nbf")); /* nbf 0 is left out */
	cJSON_Delete(p);
}

static void test_hand_made_token_with_the_same_secret_verifies(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims c;

	make_token(HS256_HEADER, good_payload, tok);
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &c), TM_JWT_OK);
	assert_string_equal(c.sub, "u1");
	assert_string_equal(c.role, "developer");
	assert_int_equal(c.nbf, 0);
}

static void test_claims_with_quotes_and_backslashes_round_trip(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims(), out;

	snprintf(in.sub, sizeof(in.sub), "a\"b\\c\nd");
	sign(&in, tok);
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &out), TM_JWT_OK);
	assert_string_equal(out.sub, "a\"b\\c\nd");
}

static void test_sign_refuses_a_too_small_output_buffer(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();
	int n = sign(&in, tok);

	memset(tok, 'X', sizeof(tok));
	assert_int_equal(tm_jwt_sign(secret, strlen(secret), &in, tok, (size_t)n), -1);
	assert_int_equal(tm_jwt_sign(secret, strlen(secret), &in, tok, (size_t)n + 1), n);
	assert_int_equal(tok[n], '\0');
}

/* ---- exp and nbf ------------------------------------------------------------------------ */

static void test_expired_beyond_the_leeway_is_expired(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();

	in.exp = NOW_S - TM_JWT_LEEWAY_S;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_EXPIRED);
	in.exp = NOW_S - 3600;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_EXPIRED);
}

static void test_expired_within_the_leeway_is_still_ok(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();

	in.exp = NOW_S - TM_JWT_LEEWAY_S + 1;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_OK);
	in.exp = NOW_S;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_OK);
	/* the same token later */
	assert_int_equal(verify_at(tok, NOW_S + TM_JWT_LEEWAY_S - 1), TM_JWT_OK);
	assert_int_equal(verify_at(tok, NOW_S + TM_JWT_LEEWAY_S), TM_JWT_EXPIRED);
}

static void test_nbf_in_the_future_is_not_yet_valid(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();

	in.nbf = NOW_S + TM_JWT_LEEWAY_S + 1;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_NOT_YET_VALID);
	in.nbf = NOW_S + 600;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_NOT_YET_VALID);
}

static void test_nbf_within_the_leeway_is_ok(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();

	in.nbf = NOW_S + TM_JWT_LEEWAY_S;
	sign(&in, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_OK);
}

/* ---- signatures ------------------------------------------------------------------------ */

static void test_one_flipped_signature_character_is_a_bad_signature(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();
	int n = sign(&in, tok);
	const char *sig = strrchr(tok, '.') + 1;
	size_t first = (size_t)(sig - tok);

	/* every position but the last (whose low bits are padding) */
	for (size_t i = first; i < (size_t)n - 1; i++) {
		char saved = tok[i];
		tok[i] = saved == 'A' ? 'B' : 'A';
		assert_int_equal(verify_at(tok, NOW_S), TM_JWT_BAD_SIGNATURE);
		tok[i] = saved;
	}
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_OK);
}

static void test_one_flipped_payload_character_is_a_bad_signature(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims();

	sign(&in, tok);
	char *p = strchr(tok, '.') + 5;
	*p = *p == 'x' ? 'y' : 'x';
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_BAD_SIGNATURE);
}

static void test_token_signed_with_another_secret_is_a_bad_signature(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims in = base_claims(), out;

	assert_true(tm_jwt_sign(other_secret, strlen(other_secret), &in, tok, sizeof(tok)) > 0);
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &out),
			 TM_JWT_BAD_SIGNATURE);
	assert_int_equal(tm_jwt_verify(other_secret, strlen(other_secret), tok, NOW_S, &out),
			 TM_JWT_OK);
	/* a key that is a prefix of the right one is still another key */
	assert_int_equal(tm_jwt_verify(secret, strlen(secret) - 1, tok, NOW_S, &out),
			 TM_JWT_BAD_SIGNATURE);
}

static void test_empty_or_cut_or_extended_signature_is_a_bad_signature(void **state)
{
	char tok[TOKEN_BYTES], work[TOKEN_BYTES + 16];
	struct tm_jwt_claims in = base_claims();
	int n = sign(&in, tok);
	size_t body = (size_t)(strrchr(tok, '.') - tok) + 1;

	snprintf(work, sizeof(work), "%.*s", (int)body, tok); /* "h.p." */
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_BAD_SIGNATURE);
	snprintf(work, sizeof(work), "%.*s", n - 1, tok);
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_BAD_SIGNATURE);
	snprintf(work, sizeof(work), "%.*s", n - 4, tok);
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_BAD_SIGNATURE);
	snprintf(work, sizeof(work), "%sAAAA", tok);
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_BAD_SIGNATURE);
	snprintf(work, sizeof(work), "%s=", tok);
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_BAD_SIGNATURE);
}

/* ---- the pinned algorithm ------------------------------------------------------------------ */

static void test_alg_none_with_an_empty_signature_is_bad_alg(void **state)
{
	char h64[256], p64[512], tok[TOKEN_BYTES];
	static const char none[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	struct tm_jwt_claims c;

	b64(none, strlen(none), h64, sizeof(h64));
	assert_string_equal(h64, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0");
	b64(good_payload, strlen(good_payload), p64, sizeof(p64));
	snprintf(tok, sizeof(tok), "%s.%s.", h64, p64);
	enum tm_jwt_rc rc = tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &c);
	assert_int_not_equal(rc, TM_JWT_OK);
	assert_int_equal(rc, TM_JWT_BAD_ALG);
	assert_string_equal(c.sub, ""); /* nothing leaks out of a refused token */
}

static void test_alg_none_with_a_valid_mac_is_still_bad_alg(void **state)
{
	char tok[TOKEN_BYTES];
	make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_BAD_ALG);
}

static void test_other_algorithms_are_bad_alg(void **state)
{
	static const char *const headers[] = {
		"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS384\"}",
		"{\"alg\":\"ES256\"}",
		"{\"alg\":\"hs256\"}",
		"{\"alg\":\"HS256 \"}",
		"{\"alg\":\"NONE\"}",
		"{\"alg\":\"\"}",
		"{\"alg\":256}",
		"{\"alg\":null}",
		"{\"alg\":[\"HS256\"]}",
		"{\"typ\":\"JWT\"}",
		"{}",
	};
	char tok[TOKEN_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(headers); i++) {
		make_token(headers[i], good_payload, tok);
		assert_int_equal(verify_at(tok, NOW_S), TM_JWT_BAD_ALG);
	}
}

static void test_crit_header_is_bad_alg(void **state)
{
	char tok[TOKEN_BYTES];

	make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_BAD_ALG);
	make_token("{\"alg\":\"HS256\",\"crit\":[]}", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_BAD_ALG);
}

static void test_hs256_header_without_typ_or_with_extra_fields_verifies(void **state)
{
	char tok[TOKEN_BYTES];

	make_token("{\"alg\":\"HS256\"}", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_OK);
	make_token("{\"typ\":\"JWT\",\"kid\":\"k1\",\"alg\":\"HS256\"}", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_OK);
}

/* ---- malformed tokens ------------------------------------------------------------------------ */

static void test_wrong_number_of_segments_is_malformed(void **state)
{
	char tok[TOKEN_BYTES], work[TOKEN_BYTES + 16];
	struct tm_jwt_claims in = base_claims();

	sign(&in, tok);
	*strrchr(tok, '.') = '\0';
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED); /* two segments */
	sign(&in, tok);
	snprintf(work, sizeof(work), "%s.AAAA", tok);
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_MALFORMED); /* four segments */
	snprintf(work, sizeof(work), "%s.", tok);
	assert_int_equal(verify_at(work, NOW_S), TM_JWT_MALFORMED); /* four, last empty */
	*strchr(tok, '.') = '\0';
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED); /* one segment */
	assert_int_equal(verify_at("", NOW_S), TM_JWT_MALFORMED);
	assert_int_equal(verify_at(".", NOW_S), TM_JWT_MALFORMED);
	assert_int_equal(verify_at("..", NOW_S), TM_JWT_MALFORMED);
	assert_int_equal(verify_at("...", NOW_S), TM_JWT_MALFORMED);
}

static void test_header_that_is_not_a_json_object_is_malformed(void **state)
{
	char tok[TOKEN_BYTES], p64[512];

	make_token("not json", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token("[\"HS256\"]", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token("\"HS256\"", good_payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	b64(good_payload, strlen(good_payload), p64, sizeof(p64));
	make_token_raw("eyJhbGciOiJIUzI1NiJ9!", p64, secret, tok); /* not base64url */
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
}

static void test_payload_that_is_not_base64url_is_malformed(void **state)
{
	char h64[256], tok[TOKEN_BYTES];

	b64(HS256_HEADER, strlen(HS256_HEADER), h64, sizeof(h64));
	make_token_raw(h64, "eyJzdWIiOi$$$", secret, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token_raw(h64, "eyJzdWIiOiJ1MSJ9==", secret, tok); /* padded */
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token_raw(h64, "e", secret, tok); /* length 1 mod 4 */
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token_raw(h64, "", secret, tok); /* empty */
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
}

static void test_payload_that_is_not_json_is_malformed(void **state)
{
	char tok[TOKEN_BYTES];

	make_token(HS256_HEADER, "sub=u1;exp=1767226500", tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token(HS256_HEADER, "{\"sub\":\"u1\",", tok); /* cut */
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
}

static void test_payload_that_is_a_json_array_or_scalar_is_malformed(void **state)
{
	char tok[TOKEN_BYTES];

	make_token(HS256_HEADER, "[{\"sub\":\"u1\",\"role\":\"client\",\"exp\":1767226500}]", tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token(HS256_HEADER, "42", tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	make_token(HS256_HEADER, "null", tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
}

static void test_missing_or_mistyped_claims_are_malformed(void **state)
{
	static const char *const payloads[] = {
		"{\"role\":\"client\",\"exp\":1767226500}",		       /* sub missing */
		"{\"sub\":\"u1\",\"exp\":1767226500}",			       /* role missing */
		"{\"sub\":\"u1\",\"role\":\"client\"}",			       /* exp missing */
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":\"1767226500\"}", /* exp a string */
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":1767226500.5}", /* exp not integral */
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":-1}",
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":1e13}",
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":null}",
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":true}",
		"{\"sub\":42,\"role\":\"client\",\"exp\":1767226500}", /* sub not a string */
		"{\"sub\":null,\"role\":\"client\",\"exp\":1767226500}",
		"{\"sub\":\"u1\",\"role\":[\"client\"],\"exp\":1767226500}",
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":1767226500,\"nbf\":\"0\"}",
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":1767226500,\"iat\":1.5}",
		"{\"sub\":\"u1\",\"role\":\"client\",\"exp\":1767226500,\"jti\":7}",
		"{\"sub\":\"u1\",\"role\":\"superadministrator\",\"exp\":1767226500}", /* role > 15 */
		"{}",
	};
	char tok[TOKEN_BYTES];

	for (size_t i = 0; i < TM_ARRAY_LEN(payloads); i++) {
		make_token(HS256_HEADER, payloads[i], tok);
		assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
	}
}

static void test_sub_of_63_bytes_fits_and_64_is_malformed(void **state)
{
	char payload[256], tok[TOKEN_BYTES], sub[65];
	struct tm_jwt_claims c;

	memset(sub, 's', 64);
	sub[63] = '\0';
	snprintf(payload, sizeof(payload),
		 "{\"sub\":\"%s\",\"role\":\"client\",\"exp\":1767226500}", sub);
	make_token(HS256_HEADER, payload, tok);
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &c), TM_JWT_OK);
	assert_string_equal(c.sub, sub);
	sub[63] = 's';
	sub[64] = '\0';
	snprintf(payload, sizeof(payload),
		 "{\"sub\":\"%s\",\"role\":\"client\",\"exp\":1767226500}", sub);
	make_token(HS256_HEADER, payload, tok);
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_MALFORMED);
}

static void test_optional_claims_may_be_absent(void **state)
{
	char tok[TOKEN_BYTES];
	struct tm_jwt_claims c;

	make_token(HS256_HEADER, "{\"sub\":\"u1\",\"role\":\"admin\",\"exp\":1767226500}", tok);
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &c), TM_JWT_OK);
	assert_string_equal(c.jti, "");
	assert_int_equal(c.iat, 0);
	assert_int_equal(c.nbf, 0);
}

/* ---- length ---------------------------------------------------------------------------------- */

static void test_token_one_byte_over_the_maximum_is_too_long(void **state)
{
	char *tok = malloc(TM_JWT_MAX_BYTES + 2);
	struct tm_jwt_claims c;

	assert_non_null(tok);
	memset(tok, 'a', TM_JWT_MAX_BYTES + 1);
	tok[TM_JWT_MAX_BYTES + 1] = '\0';
	tok[10] = '.';
	tok[20] = '.';
	assert_int_equal(tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &c), TM_JWT_TOO_LONG);
	/* exactly the maximum is parsed (and fails for what it is) */
	tok[TM_JWT_MAX_BYTES] = '\0';
	enum tm_jwt_rc rc = tm_jwt_verify(secret, strlen(secret), tok, NOW_S, &c);
	assert_int_not_equal(rc, TM_JWT_TOO_LONG);
	assert_int_not_equal(rc, TM_JWT_OK);
	free(tok);
}

static void test_valid_token_padded_past_the_maximum_is_too_long(void **state)
{
	char *tok = malloc(TOKEN_BYTES);
	struct tm_jwt_claims in = base_claims();

	assert_non_null(tok);
	int n = sign(&in, tok);
	memset(tok + n, 'A', (size_t)(TM_JWT_MAX_BYTES + 1 - n));
	tok[TM_JWT_MAX_BYTES + 1] = '\0';
	assert_int_equal(verify_at(tok, NOW_S), TM_JWT_TOO_LONG);
	free(tok);
}

static void test_rc_strings_are_distinct_and_out_of_range_is_invalid(void **state)
{
	for (int a = TM_JWT_OK; a <= TM_JWT_NOT_YET_VALID; a++) {
		assert_true(strlen(tm_jwt_rc_str((enum tm_jwt_rc)a)) > 0);
		for (int b = a + 1; b <= TM_JWT_NOT_YET_VALID; b++)
			assert_string_not_equal(tm_jwt_rc_str((enum tm_jwt_rc)a),
						tm_jwt_rc_str((enum tm_jwt_rc)b));
	}
	assert_string_equal(tm_jwt_rc_str(TM_JWT_EXPIRED), "token expired");
	assert_string_equal(tm_jwt_rc_str((enum tm_jwt_rc)99), "invalid token");
	assert_string_equal(tm_jwt_rc_str((enum tm_jwt_rc) - 1), "invalid token");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_token_verifies_and_returns_the_claims),
		cmocka_unit_test(test_signed_token_is_three_segments_with_the_hs256_header),
		cmocka_unit_test(test_hand_made_token_with_the_same_secret_verifies),
		cmocka_unit_test(test_claims_with_quotes_and_backslashes_round_trip),
		cmocka_unit_test(test_sign_refuses_a_too_small_output_buffer),
		cmocka_unit_test(test_expired_beyond_the_leeway_is_expired),
		cmocka_unit_test(test_expired_within_the_leeway_is_still_ok),
		cmocka_unit_test(test_nbf_in_the_future_is_not_yet_valid),
		cmocka_unit_test(test_nbf_within_the_leeway_is_ok),
		cmocka_unit_test(test_one_flipped_signature_character_is_a_bad_signature),
		cmocka_unit_test(test_one_flipped_payload_character_is_a_bad_signature),
		cmocka_unit_test(test_token_signed_with_another_secret_is_a_bad_signature),
		cmocka_unit_test(test_empty_or_cut_or_extended_signature_is_a_bad_signature),
		cmocka_unit_test(test_alg_none_with_an_empty_signature_is_bad_alg),
		cmocka_unit_test(test_alg_none_with_a_valid_mac_is_still_bad_alg),
		cmocka_unit_test(test_other_algorithms_are_bad_alg),
		cmocka_unit_test(test_crit_header_is_bad_alg),
		cmocka_unit_test(test_hs256_header_without_typ_or_with_extra_fields_verifies),
		cmocka_unit_test(test_wrong_number_of_segments_is_malformed),
		cmocka_unit_test(test_header_that_is_not_a_json_object_is_malformed),
		cmocka_unit_test(test_payload_that_is_not_base64url_is_malformed),
		cmocka_unit_test(test_payload_that_is_not_json_is_malformed),
		cmocka_unit_test(test_payload_that_is_a_json_array_or_scalar_is_malformed),
		cmocka_unit_test(test_missing_or_mistyped_claims_are_malformed),
		cmocka_unit_test(test_sub_of_63_bytes_fits_and_64_is_malformed),
		cmocka_unit_test(test_optional_claims_may_be_absent),
		cmocka_unit_test(test_token_one_byte_over_the_maximum_is_too_long),
		cmocka_unit_test(test_valid_token_padded_past_the_maximum_is_too_long),
		cmocka_unit_test(test_rc_strings_are_distinct_and_out_of_range_is_invalid),
	};
	return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
