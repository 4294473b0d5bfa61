/*
 * Argon2id password storage: the encoded form, verify OK and MISMATCH, the
 * strict parser that refuses other types, versions, encodings, truncations and
 * absurd costs before libargon2 runs, needs_rehash and the upgrade of an old
 * cost, the length policy in code points, and the dummy verify. Hashes use
 * weak costs (t=1, m=1 MiB) except where the default is the subject.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <argon2.h>
#include <pthread.h>

#include "tm/password.h"
#include "tm/util.h"

#define PREFIX "$argon2id$v=19$"
#define DEFAULT_COSTS "m=19456,t=2,p=1"
#define DUMMY_THREADS 2

static const struct tm_argon2_params weak = {.t_cost = 1, .m_cost_kib = 1024, .parallelism = 1};
static const char pw[] = "correct horse battery staple";

static void hash_weak(const char *password, char out[TM_PASSWORD_ENCODED_MAX])
{
	assert_int_equal(tm_password_hash(password, strlen(password), &weak, out), TM_PASSWORD_OK);
}

static enum tm_password_rc verify(const char *encoded, const char *password)
{
	return tm_password_verify(encoded, password, strlen(password));
}

/* enc with its "m=..,t=..,p=.." part replaced by costs, into out. */
static void with_costs(const char *enc, const char *costs, char *out, size_t outlen)
{
	assert_memory_equal(enc, PREFIX, strlen(PREFIX));
	const char *rest = strchr(enc + strlen(PREFIX), '$');
	assert_non_null(rest);
	int n = snprintf(out, outlen, PREFIX "%s%s", costs, rest);
	assert_true(n > 0 && (size_t)n < outlen);
}

/* A well-formed string with the given costs (16-byte salt, 32-byte hash of
 * nothing in particular): enough for needs_rehash, which only parses. */
static void encoded_with(const char *costs, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, PREFIX "%s$%s$%s", costs, "c2FsdHNhbHRzYWx0c2FsdA",
			 "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g");
	assert_true(n > 0 && (size_t)n < outlen);
}

/* ---- encoded form ------------------------------------------------------------------ */

static void test_default_hash_is_argon2id_v19_with_16_byte_salt_and_32_byte_hash(void **state)
{
	char enc[TM_PASSWORD_ENCODED_MAX];
	unsigned char raw[64];

	assert_int_equal(tm_password_hash(pw, strlen(pw), &tm_password_default_params, enc),
			 TM_PASSWORD_OK);
	assert_memory_equal(enc, PREFIX DEFAULT_COSTS "$", strlen(PREFIX DEFAULT_COSTS "$"));
	const char *salt = enc + strlen(PREFIX DEFAULT_COSTS "$");
	const char *hash = strchr(salt, '$');
	assert_non_null(hash);
	hash++;
	assert_null(strchr(hash, '$'));
	assert_null(strchr(salt, '=')); /* no padding */
	assert_int_equal(tm_base64_decode(salt, (size_t)(hash - 1 - salt), raw, sizeof(raw)), 16);
	assert_int_equal(tm_base64_decode(hash, strlen(hash), raw, sizeof(raw)), 32);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_OK);
	assert_false(tm_password_needs_rehash(enc, &tm_password_default_params));
}

static void test_two_hashes_of_the_same_password_differ(void **state)
{
	char a[TM_PASSWORD_ENCODED_MAX], b[TM_PASSWORD_ENCODED_MAX];

	hash_weak(pw, a);
	hash_weak(pw, b);
	assert_string_not_equal(a, b);
	assert_memory_equal(a, PREFIX "m=1024,t=1,p=1$", strlen(PREFIX "m=1024,t=1,p=1$"));
	assert_int_equal(verify(a, pw), TM_PASSWORD_OK);
	assert_int_equal(verify(b, pw), TM_PASSWORD_OK);
}

/* ---- verify ------------------------------------------------------------------------ */

static void test_one_changed_character_is_a_mismatch(void **state)
{
	char enc[TM_PASSWORD_ENCODED_MAX], other[sizeof(pw)];
	size_t at[] = {0, sizeof(pw) / 2, sizeof(pw) - 2};

	hash_weak(pw, enc);
	for (size_t i = 0; i < TM_ARRAY_LEN(at); i++) {
		memcpy(other, pw, sizeof(pw));
		other[at[i]] ^= 1;
		assert_int_equal(verify(enc, other), TM_PASSWORD_MISMATCH);
	}
}

static void test_empty_prefix_or_extended_password_is_a_mismatch(void **state)
{
	char enc[TM_PASSWORD_ENCODED_MAX], longer[sizeof(pw) + 1];

	hash_weak(pw, enc);
	assert_int_equal(tm_password_verify(enc, "", 0), TM_PASSWORD_MISMATCH);
	assert_int_equal(tm_password_verify(enc, NULL, 0), TM_PASSWORD_MISMATCH);
	assert_int_equal(tm_password_verify(enc, pw, strlen(pw) - 1), TM_PASSWORD_MISMATCH);
	snprintf(longer, sizeof(longer), "%sx", pw);
	assert_int_equal(verify(enc, longer), TM_PASSWORD_MISMATCH);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_OK);
}

static void test_password_with_a_nul_byte_is_hashed_by_its_length(void **state)
{
	static const char with_nul[] = "twelve chars\0and more";
	char enc[TM_PASSWORD_ENCODED_MAX];

	assert_int_equal(tm_password_hash(with_nul, sizeof(with_nul) - 1, &weak, enc),
			 TM_PASSWORD_OK);
	assert_int_equal(tm_password_verify(enc, with_nul, sizeof(with_nul) - 1), TM_PASSWORD_OK);
	assert_int_equal(verify(enc, "twelve chars"), TM_PASSWORD_MISMATCH);
}

static void test_password_over_the_byte_maximum_is_not_hashed_and_never_matches(void **state)
{
	char big[TM_PASSWORD_MAX_BYTES + 1], enc[TM_PASSWORD_ENCODED_MAX];

	memset(big, 'a', sizeof(big));
	assert_int_equal(tm_password_hash(big, sizeof(big), &weak, enc), TM_PASSWORD_ERROR);
	assert_string_equal(enc, "");
	assert_int_equal(tm_password_hash(big, TM_PASSWORD_MAX_BYTES, &weak, enc), TM_PASSWORD_OK);
	assert_int_equal(tm_password_verify(enc, big, TM_PASSWORD_MAX_BYTES), TM_PASSWORD_OK);
	assert_int_equal(tm_password_verify(enc, big, sizeof(big)), TM_PASSWORD_MISMATCH);
}

/* ---- malformed stored hashes --------------------------------------------------------- */

static void test_garbage_and_empty_strings_are_bad_hash(void **state)
{
	char huge[4096];
	static const char *const garbage[] = {
		"",
		"x",
		"$",
		"$argon2id",
		"$argon2id$",
		PREFIX,
		PREFIX "m=1024,t=1,p=1",
		PREFIX "m=1024,t=1,p=1$",
		PREFIX "m=1024,t=1,p=1$$",
		"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", /* bcrypt */
		"5f4dcc3b5aa765d61d327deb882cf99b",
		"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$\xff\xfe",
	};

	for (size_t i = 0; i < TM_ARRAY_LEN(garbage); i++)
		assert_int_equal(verify(garbage[i], pw), TM_PASSWORD_BAD_HASH);
	assert_int_equal(verify(NULL, pw), TM_PASSWORD_BAD_HASH);
	memset(huge, 'A', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	memcpy(huge, PREFIX "m=1024,t=1,p=1$", strlen(PREFIX "m=1024,t=1,p=1$"));
	assert_int_equal(verify(huge, pw), TM_PASSWORD_BAD_HASH);
}

static void test_argon2i_and_argon2d_hashes_are_bad_hash(void **state)
{
	unsigned char salt[16] = "0123456789abcdef";
	char enc[TM_PASSWORD_ENCODED_MAX];

	assert_int_equal(argon2i_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, sizeof(salt), 32,
					      enc, sizeof(enc)),
			 ARGON2_OK);
	assert_int_equal(argon2i_verify(enc, pw, strlen(pw)), ARGON2_OK); /* a genuine hash */
	assert_int_equal(verify(enc, pw), TM_PASSWORD_BAD_HASH);

	assert_int_equal(argon2d_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, sizeof(salt), 32,
					      enc, sizeof(enc)),
			 ARGON2_OK);
	assert_int_equal(argon2d_verify(enc, pw, strlen(pw)), ARGON2_OK);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_BAD_HASH);
}

static void test_version_16_or_no_version_is_bad_hash(void **state)
{
	unsigned char salt[16] = "0123456789abcdef", raw[32];
	char enc[TM_PASSWORD_ENCODED_MAX], unversioned[TM_PASSWORD_ENCODED_MAX];

	assert_int_equal(argon2_hash(1, 1024, 1, pw, strlen(pw), salt, sizeof(salt), raw,
				     sizeof(raw), enc, sizeof(enc), Argon2_id, ARGON2_VERSION_10),
			 ARGON2_OK);
	assert_memory_equal(enc, "$argon2id$v=16$", strlen("$argon2id$v=16$"));
	assert_int_equal(argon2id_verify(enc, pw, strlen(pw)), ARGON2_OK); /* libargon2 would */
	assert_int_equal(verify(enc, pw), TM_PASSWORD_BAD_HASH);

	/* libargon2 reads a missing v= as version 16 */
	snprintf(unversioned, sizeof(unversioned), "$argon2id$%s", enc + strlen("$argon2id$v=16$"));
	assert_int_equal(argon2id_verify(unversioned, pw, strlen(pw)), ARGON2_OK);
	assert_int_equal(verify(unversioned, pw), TM_PASSWORD_BAD_HASH);
}

static void test_every_truncation_and_any_trailing_byte_is_bad_hash(void **state)
{
	char enc[TM_PASSWORD_ENCODED_MAX], cut[TM_PASSWORD_ENCODED_MAX + 1];
	static const char tails[] = "=$ xA\n";

	hash_weak(pw, enc);
	size_t len = strlen(enc);
	for (size_t n = 0; n < len; n++) {
		memcpy(cut, enc, n);
		cut[n] = '\0';
		assert_int_equal(verify(cut, pw), TM_PASSWORD_BAD_HASH);
		assert_false(tm_password_needs_rehash(cut, &tm_password_default_params));
	}
	for (size_t i = 0; i < strlen(tails); i++) {
		snprintf(cut, sizeof(cut), "%s%c", enc, tails[i]);
		assert_int_equal(verify(cut, pw), TM_PASSWORD_BAD_HASH);
	}
	assert_int_equal(verify(enc, pw), TM_PASSWORD_OK);
}

static void test_absurd_or_malformed_costs_are_bad_hash_before_hashing(void **state)
{
	/* libargon2 would try these (4 GiB for the first) or fail with its own
	 * error; BAD_HASH means our parser refused them before it ran */
	static const char *const costs[] = {
		"m=4194304,t=1,p=1",
		"m=1048577,t=1,p=1",
		"m=4294967295,t=1,p=1",
		"m=4294967296,t=1,p=1",
		"m=99999999999,t=1,p=1",
		"m=1024,t=65,p=1",
		"m=1024,t=4294967295,p=1",
		"m=1024,t=0,p=1",
		"m=1024,t=1,p=0",
		"m=1024,t=1,p=17",
		"m=7,t=1,p=1",
		"m=127,t=1,p=16",
		"m=01024,t=1,p=1",
		"m=+1024,t=1,p=1",
		"m=-1,t=1,p=1",
		"m= 1024,t=1,p=1",
		"m=,t=1,p=1",
		"t=1,m=1024,p=1",
		"m=1024,t=1",
		"m=1024,t=1,p=1,x=1",
		"M=1024,t=1,p=1",
		"m=1024;t=1;p=1",
	};
	char enc[TM_PASSWORD_ENCODED_MAX], bad[2 * TM_PASSWORD_ENCODED_MAX];

	hash_weak(pw, enc);
	for (size_t i = 0; i < TM_ARRAY_LEN(costs); i++) {
		with_costs(enc, costs[i], bad, sizeof(bad));
		assert_int_equal(verify(bad, pw), TM_PASSWORD_BAD_HASH);
		assert_false(tm_password_needs_rehash(bad, &tm_password_default_params));
	}
	with_costs(enc, "m=1024,t=1,p=1", bad, sizeof(bad));
	assert_int_equal(verify(bad, pw), TM_PASSWORD_OK); /* the helper itself is sound */
}

static void test_costs_at_the_accepted_limits_verify(void **state)
{
	const struct tm_argon2_params edge = {.t_cost = TM_PASSWORD_T_MAX,
					      .m_cost_kib = 8 * TM_PASSWORD_P_MAX,
					      .parallelism = TM_PASSWORD_P_MAX};
	char enc[TM_PASSWORD_ENCODED_MAX];

	assert_int_equal(tm_password_hash(pw, strlen(pw), &edge, enc), TM_PASSWORD_OK);
	assert_memory_equal(enc, PREFIX "m=128,t=64,p=16$", strlen(PREFIX "m=128,t=64,p=16$"));
	assert_int_equal(verify(enc, pw), TM_PASSWORD_OK);
	assert_int_equal(verify(enc, "wrong password!"), TM_PASSWORD_MISMATCH);
}

static void test_other_salt_hash_lengths_and_encodings_are_bad_hash(void **state)
{
	unsigned char salt[32] = "0123456789abcdef0123456789abcdef";
	char enc[TM_PASSWORD_ENCODED_MAX], bad[TM_PASSWORD_ENCODED_MAX + 8];

	/* 8-byte salt and 16- or 64-byte hashes: valid for libargon2, not for us */
	assert_int_equal(argon2id_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, 8, 32, enc,
					       sizeof(enc)),
			 ARGON2_OK);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_BAD_HASH);
	assert_int_equal(argon2id_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, 16, 16, enc,
					       sizeof(enc)),
			 ARGON2_OK);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_BAD_HASH);
	assert_int_equal(argon2id_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, 16, 64, enc,
					       sizeof(enc)),
			 ARGON2_OK);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_BAD_HASH);

	/* a longer salt is fine */
	assert_int_equal(argon2id_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, 32, 32, enc,
					       sizeof(enc)),
			 ARGON2_OK);
	assert_int_equal(verify(enc, pw), TM_PASSWORD_OK);

	/* upper-case type, URL-safe alphabet, padding */
	hash_weak(pw, enc);
	snprintf(bad, sizeof(bad), "$ARGON2ID%s", enc + strlen("$argon2id"));
	assert_int_equal(verify(bad, pw), TM_PASSWORD_BAD_HASH);
	snprintf(bad, sizeof(bad), "%s", enc);
	bad[strlen(bad) - 5] = '-';
	assert_int_equal(verify(bad, pw), TM_PASSWORD_BAD_HASH);
	bad[strlen(bad) - 5] = '_';
	assert_int_equal(verify(bad, pw), TM_PASSWORD_BAD_HASH);
	snprintf(bad, sizeof(bad), "%s=", enc);
	assert_int_equal(verify(bad, pw), TM_PASSWORD_BAD_HASH);
}

static void test_hash_refuses_costs_outside_the_bounds(void **state)
{
	const struct tm_argon2_params bad[] = {
		{.t_cost = 0, .m_cost_kib = 1024, .parallelism = 1},
		{.t_cost = TM_PASSWORD_T_MAX + 1, .m_cost_kib = 1024, .parallelism = 1},
		{.t_cost = 1, .m_cost_kib = 7, .parallelism = 1},
		{.t_cost = 1, .m_cost_kib = TM_PASSWORD_M_MAX_KIB + 1, .parallelism = 1},
		{.t_cost = 1, .m_cost_kib = 1024, .parallelism = 0},
		{.t_cost = 1, .m_cost_kib = 1024, .parallelism = TM_PASSWORD_P_MAX + 1},
		{.t_cost = 1, .m_cost_kib = 8 * 4 - 1, .parallelism = 4},
	};
	char enc[TM_PASSWORD_ENCODED_MAX];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		memset(enc, 'x', sizeof(enc));
		assert_int_equal(tm_password_hash(pw, strlen(pw), &bad[i], enc), TM_PASSWORD_ERROR);
		assert_string_equal(enc, "");
	}
	assert_int_equal(tm_password_hash(pw, strlen(pw), NULL, enc), TM_PASSWORD_ERROR);
	assert_int_equal(tm_password_hash(NULL, 3, &weak, enc), TM_PASSWORD_ERROR);
	assert_int_equal(tm_password_verify(enc, NULL, 3), TM_PASSWORD_BAD_HASH); /* enc is "" */
}

/* ---- needs_rehash and upgrades ------------------------------------------------------- */

static void test_weaker_costs_need_a_rehash_and_equal_or_stronger_do_not(void **state)
{
	static const struct {
		const char *costs;
		bool needs;
	} cases[] = {
		{"m=4096,t=1,p=1", true},   {"m=19456,t=1,p=1", true},
		{"m=19455,t=2,p=1", true},  {"m=65536,t=1,p=1", true},
		{"m=4096,t=9,p=1", true},   {"m=19456,t=2,p=2", true},
		{DEFAULT_COSTS, false},	    {"m=19456,t=3,p=1", false},
		{"m=65536,t=2,p=1", false}, {"m=1048576,t=64,p=1", false},
	};
	char enc[TM_PASSWORD_ENCODED_MAX];

	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++) {
		encoded_with(cases[i].costs, enc, sizeof(enc));
		assert_int_equal(tm_password_needs_rehash(enc, &tm_password_default_params),
				 cases[i].needs);
	}
	assert_false(tm_password_needs_rehash("garbage", &tm_password_default_params));
	assert_false(tm_password_needs_rehash(NULL, &tm_password_default_params));
	encoded_with("m=4096,t=1,p=1", enc, sizeof(enc));
	assert_false(tm_password_needs_rehash(enc, NULL));
}

static void test_old_cost_is_upgraded_at_a_successful_login(void **state)
{
	const struct tm_argon2_params old = {.t_cost = 1, .m_cost_kib = 4096, .parallelism = 1};
	char stored[TM_PASSWORD_ENCODED_MAX], upgraded[TM_PASSWORD_ENCODED_MAX];

	assert_int_equal(tm_password_hash(pw, strlen(pw), &old, stored), TM_PASSWORD_OK);
	assert_int_equal(verify(stored, pw), TM_PASSWORD_OK);
	assert_true(tm_password_needs_rehash(stored, &tm_password_default_params));

	assert_int_equal(tm_password_hash(pw, strlen(pw), &tm_password_default_params, upgraded),
			 TM_PASSWORD_OK);
	assert_int_equal(verify(upgraded, pw), TM_PASSWORD_OK);
	assert_int_equal(verify(upgraded, "correct horse battery stapler"), TM_PASSWORD_MISMATCH);
	assert_false(tm_password_needs_rehash(upgraded, &tm_password_default_params));
	assert_memory_equal(upgraded, PREFIX DEFAULT_COSTS "$", strlen(PREFIX DEFAULT_COSTS "$"));
}

/* ---- policy -------------------------------------------------------------------------- */

/* n copies of the UTF-8 sequence unit into out. Returns the byte length. */
static size_t repeat(const char *unit, size_t n, char *out, size_t outlen)
{
	size_t u = strlen(unit);
	assert_true(n * u < outlen);
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * u, unit, u);
	out[n * u] = '\0';
	return n * u;
}

static void test_policy_counts_12_to_128_code_points(void **state)
{
	char buf[1024];
	size_t len;

	len = repeat("a", 11, buf, sizeof(buf));
	assert_string_equal(tm_password_policy(buf, len), "must be at least 12 characters");
	len = repeat("a", 12, buf, sizeof(buf));
	assert_null(tm_password_policy(buf, len));
	len = repeat("a", 128, buf, sizeof(buf));
	assert_null(tm_password_policy(buf, len));
	len = repeat("a", 129, buf, sizeof(buf));
	assert_string_equal(tm_password_policy(buf, len), "must be at most 128 characters");
	assert_string_equal(tm_password_policy("", 0), "must be at least 12 characters");
	assert_string_equal(tm_password_policy(NULL, 0), "must be at least 12 characters");
}

static void test_policy_counts_code_points_not_bytes(void **state)
{
	char buf[1024];
	size_t len;

	len = repeat("\xc3\xa9", 12, buf, sizeof(buf)); /* 12 'é', 24 bytes */
	assert_null(tm_password_policy(buf, len));
	len = repeat("\xc3\xa9", 11, buf, sizeof(buf)); /* 22 bytes, still too short */
	assert_string_equal(tm_password_policy(buf, len), "must be at least 12 characters");
	len = repeat("\xf0\x9f\x94\x91", 128, buf, sizeof(buf)); /* 128 keys, 512 bytes */
	assert_int_equal(len, TM_PASSWORD_MAX_BYTES);
	assert_null(tm_password_policy(buf, len));
	len = repeat("\xf0\x9f\x94\x91", 129, buf, sizeof(buf));
	assert_string_equal(tm_password_policy(buf, len), "must be at most 128 characters");
	len = repeat("\xe2\x82\xac", 128, buf, sizeof(buf)); /* 128 euro signs */
	assert_null(tm_password_policy(buf, len));
}

static void test_policy_refuses_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"valid prefix \xff then",	  /* never a UTF-8 byte */
		"overlong slash \xc0\xaf here",	  /* overlong */
		"lone continuation \x80 byte",	  /* no lead byte */
		"surrogate \xed\xa0\x80 in here", /* UTF-16 surrogate */
		"beyond unicode \xf4\x90\x80\x80", "cut at the very end \xe2\x82",
	};

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++)
		assert_string_equal(tm_password_policy(bad[i], strlen(bad[i])),
				    "must be valid UTF-8");
}

/* ---- dummy verify -------------------------------------------------------------------- */

static void *dummy_thread(void *arg)
{
	tm_password_dummy_verify(pw, strlen(pw));
	return arg;
}

static void test_dummy_verify_runs_for_any_input_and_from_several_threads(void **state)
{
	pthread_t th[DUMMY_THREADS];
	char big[TM_PASSWORD_MAX_BYTES + 1];

	for (size_t i = 0; i < DUMMY_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, dummy_thread, NULL), 0);
	for (size_t i = 0; i < DUMMY_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	tm_password_dummy_verify(NULL, 0);
	memset(big, 'b', sizeof(big));
	tm_password_dummy_verify(big, sizeof(big));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_default_hash_is_argon2id_v19_with_16_byte_salt_and_32_byte_hash),
		cmocka_unit_test(test_two_hashes_of_the_same_password_differ),
		cmocka_unit_test(test_one_changed_character_is_a_mismatch),
		cmocka_unit_test(test_empty_prefix_or_extended_password_is_a_mismatch),
		cmocka_unit_test(test_password_with_a_nul_byte_is_hashed_by_its_length),
		cmocka_unit_test(
			test_password_over_the_byte_maximum_is_not_hashed_and_never_matches),
		cmocka_unit_test(test_garbage_and_empty_strings_are_bad_hash),
		cmocka_unit_test(test_argon2i_and_argon2d_hashes_are_bad_hash),
		cmocka_unit_test(test_version_16_or_no_version_is_bad_hash),
		cmocka_unit_test(test_every_truncation_and_any_trailing_byte_is_bad_hash),
		cmocka_unit_test(test_absurd_or_malformed_costs_are_bad_hash_before_hashing),
		cmocka_unit_test(test_costs_at_the_accepted_limits_verify),
		cmocka_unit_test(test_other_salt_hash_lengths_and_encodings_are_bad_hash),
		cmocka_unit_test(test_hash_refuses_costs_outside_the_bounds),
		cmocka_unit_test(test_weaker_costs_need_a_rehash_and_equal_or_stronger_do_not),
		cmocka_unit_test(test_old_cost_is_upgraded_at_a_successful_login),
		cmocka_unit_test(test_policy_counts_12_to_128_code_points),
		cmocka_unit_test(test_policy_counts_code_points_not_bytes),
		cmocka_unit_test(test_policy_refuses_invalid_utf8),
		cmocka_unit_test(test_dummy_verify_runs_for_any_input_and_from_several_threads),
	};
	return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
