/* HS256 JWTs; see tm/jwt.h. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tm/buf.h"
#include "tm/jwt.h"
#include "tm/util.h"

#define JWT_HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" /* {"alg":"HS256","typ":"JWT"} */
#define JWT_SEGMENT_MAX 2048				      /* decoded header or payload bytes */

static int hmac_sha256(const void *key, size_t keylen, const char *data, size_t len,
		       unsigned char mac[32])
{
	unsigned int maclen = 0;
	return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac,
		    &maclen) && maclen == 32 ?
		       0 :
		       -1;
}

int tm_jwt_sign(const void *secret, size_t secret_len, const struct tm_jwt_claims *c, char *out,
		size_t outlen)
{
	struct tm_buf payload, tok;
	unsigned char mac[32];
	char b64[JWT_SEGMENT_MAX * 2];
	int rc = -1;

	tm_buf_init(&payload);
	tm_buf_init(&tok);
	tm_buf_puts(&payload, "{\"sub\":");
	tm_buf_json_str(&payload, c->sub, strlen(c->sub));
	tm_buf_puts(&payload, ",\"role\":");
	tm_buf_json_str(&payload, c->role, strlen(c->role));
	tm_buf_puts(&payload, ",\"jti\":");
	tm_buf_json_str(&payload, c->jti, strlen(c->jti));
	tm_buf_printf(&payload, ",\"iat\":%lld,\"exp\":%lld", (long long)c->iat, (long long)c->exp);
	if (c->nbf)
		tm_buf_printf(&payload, ",\"nbf\":%lld", (long long)c->nbf);
	tm_buf_putc(&payload, '}');
	if (payload.failed || tm_base64url_encode(payload.data, payload.len, b64, sizeof(b64)) < 0)
		goto out;
	tm_buf_puts(&tok, JWT_HEADER_B64 ".");
	tm_buf_puts(&tok, b64);
	if (tok.failed || hmac_sha256(secret, secret_len, tok.data, tok.len, mac) != 0 ||
	    tm_base64url_encode(mac, sizeof(mac), b64, sizeof(b64)) < 0)
		goto out;
	tm_buf_putc(&tok, '.');
	tm_buf_puts(&tok, b64);
	if (!tok.failed && tok.len < outlen) {
		memcpy(out, tok.data, tok.len + 1);
		rc = (int)tok.len;
	}
out:
	tm_buf_free(&payload);
	tm_buf_free(&tok);
	return rc;
}

/* Decodes one base64url segment holding a JSON object. */
static cJSON *segment_json(const char *s, size_t len)
{
	char raw[JWT_SEGMENT_MAX + 1];
	int n = tm_base64url_decode(s, len, raw, JWT_SEGMENT_MAX);
	if (n <= 0)
		return NULL;
	raw[n] = '\0';
	cJSON *j = cJSON_ParseWithLength(raw, (size_t)n);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

static int copy_str(cJSON *obj, const char *name, char *out, size_t outlen, int required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!v)
		return required ? -1 : 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= outlen)
		return -1;
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

/* An integral NumericDate; absent -> 0 when optional. */
static int copy_time(cJSON *obj, const char *name, int64_t *out, int required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!v)
		return required ? -1 : 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* The pinned-algorithm rule: alg must be HS256, no crit extensions. */
static enum tm_jwt_rc check_header(const char *s, size_t len)
{
	cJSON *h = segment_json(s, len);
	if (!h)
		return TM_JWT_MALFORMED;
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	enum tm_jwt_rc rc = TM_JWT_OK;
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0 ||
	    cJSON_GetObjectItemCaseSensitive(h, "crit"))
		rc = TM_JWT_BAD_ALG;
	cJSON_Delete(h);
	return rc;
}

enum tm_jwt_rc tm_jwt_verify(const void *secret, size_t secret_len, const char *token,
			     int64_t now_s, struct tm_jwt_claims *c)
{
	size_t len = strnlen(token, TM_JWT_MAX_BYTES + 1);
	unsigned char mac[32], given[33];

	memset(c, 0, sizeof(*c));
	if (len > TM_JWT_MAX_BYTES)
		return TM_JWT_TOO_LONG;
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return TM_JWT_MALFORMED;
	enum tm_jwt_rc rc = check_header(token, (size_t)(d1 - token));
	if (rc != TM_JWT_OK)
		return rc;
	if (tm_base64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), given, sizeof(given)) != 32)
		return TM_JWT_BAD_SIGNATURE;
	if (hmac_sha256(secret, secret_len, token, (size_t)(d2 - token), mac) != 0 ||
	    CRYPTO_memcmp(mac, given, 32) != 0)
		return TM_JWT_BAD_SIGNATURE;
	cJSON *p = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!p)
		return TM_JWT_MALFORMED;
	rc = TM_JWT_OK;
	if (copy_str(p, "sub", c->sub, sizeof(c->sub), 1) ||
	    copy_str(p, "role", c->role, sizeof(c->role), 1) ||
	    copy_str(p, "jti", c->jti, sizeof(c->jti), 0) || copy_time(p, "exp", &c->exp, 1) ||
	    copy_time(p, "iat", &c->iat, 0) || copy_time(p, "nbf", &c->nbf, 0))
		rc = TM_JWT_MALFORMED;
	else if (now_s >= c->exp + TM_JWT_LEEWAY_S)
		rc = TM_JWT_EXPIRED;
	else if (c->nbf && now_s + TM_JWT_LEEWAY_S < c->nbf)
		rc = TM_JWT_NOT_YET_VALID;
	cJSON_Delete(p);
	return rc;
}

const char *tm_jwt_rc_str(enum tm_jwt_rc rc)
{
	static const char *const s[] = {"ok",
					"malformed token",
					"token too long",
					"algorithm not allowed",
					"bad signature",
					"token expired",
					"token not yet valid"};
	return (unsigned)rc < TM_ARRAY_LEN(s) ? s[rc] : "invalid token";
}
