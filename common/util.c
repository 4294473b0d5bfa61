/* Ids, clocks, hashing and bounded parsing; see tm/util.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tm/util.h"

int tm_random_bytes(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int tm_uuid_v4(char out[TM_UUID_LEN + 1])
{
	unsigned char b[16];

	if (tm_random_bytes(b, sizeof(b)) != 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, TM_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return 0;
}

bool tm_uuid_valid(const char *s)
{
	if (!s || strlen(s) != TM_UUID_LEN)
		return false;
	for (int i = 0; i < TM_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

int64_t tm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tm_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tm_sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int tm_join_until(pthread_t t, int64_t deadline_ms)
{
	int64_t min_end = tm_mono_ms() + TM_JOIN_GRACE_MS;
	int64_t end = deadline_ms > min_end ? deadline_ms : min_end;

	/* pthread_timedjoin_np counts in CLOCK_REALTIME: short steps, so a clock
	 * step cannot stretch the wait */
	for (int64_t left; (left = end - tm_mono_ms()) > 0;) {
		struct timespec ts;
		int64_t step = left < 100 ? left : 100;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(step * 1000000);
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		int rc = pthread_timedjoin_np(t, NULL, &ts);
		if (rc == 0)
			return 0;
		if (rc != ETIMEDOUT)
			return -1;
	}
	return pthread_tryjoin_np(t, NULL) == 0 ? 0 : -1;
}

void tm_rfc3339(int64_t unix_ms, char out[32])
{
	time_t secs = (time_t)(unix_ms / 1000);
	int ms = (int)(unix_ms % 1000);
	struct tm tmv;

	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	char tmp[96];

	gmtime_r(&secs, &tmv);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tmv.tm_year + 1900,
		 tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec, ms);
	snprintf(out, 32, "%.31s", tmp); /* years beyond 9999 do not occur here */
}

/* Reads exactly n digits at *p into *out. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int tm_parse_rfc3339(const char *s, int64_t *unix_ms)
{
	int y, mo, d, h, mi, sec, frac_ms = 0, oh = 0, om = 0, sign = 0;
	const char *p = s;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int n = 0;
		p++;
		while (isdigit((unsigned char)*p)) {
			if (n < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0 || n > 9)
			return -1;
		for (; n < 3; n++)
			frac_ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec);
	t -= sign * (oh * 3600 + om * 60);
	*unix_ms = t * 1000 + frac_ms;
	return 0;
}

int tm_parse_int64(const char *s, int64_t *out)
{
	char *end;

	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

void tm_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

int64_t tm_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms)
{
	int64_t ceiling = base_ms;
	uint64_t r = 0;

	for (int i = 0; i < attempt && ceiling < cap_ms && ceiling <= INT64_MAX / 2; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	if (ceiling <= 0)
		return 0;
	if (tm_random_bytes(&r, sizeof(r)) != 0)
		return ceiling;
	return (int64_t)(r % ((uint64_t)ceiling + 1));
}

bool tm_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		int n;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= (size_t)n)
			return false;
		for (int k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += (size_t)n + 1;
	}
	return true;
}

size_t tm_utf8_len(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

int tm_base64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *s = in;
	size_t need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
	size_t o = 0;

	if (need + 1 > outlen)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = abc[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = abc[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

/* Value of a base64 digit; *alphabets gets bit 1 for '+' '/' (standard) and
 * bit 2 for '-' '_' (URL-safe). -1 for anything else. */
static int b64_value(unsigned char c, int *alphabets)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/') {
		*alphabets |= 1;
		return c == '+' ? 62 : 63;
	}
	if (c == '-' || c == '_') {
		*alphabets |= 2;
		return c == '-' ? 62 : 63;
	}
	return -1;
}

/* Decodes `len` digits (no padding) using only the alphabets in `allowed`. */
static int b64_decode_digits(const char *in, size_t len, void *out, size_t outlen, int allowed)
{
	unsigned char *d = out;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0, used = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i], &used);
		if (v < 0 || (used & ~allowed) || used == 3)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			d[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		return -1;
	return (int)o;
}

int tm_base64url_decode(const char *in, size_t len, void *out, size_t outlen)
{
	return b64_decode_digits(in, len, out, outlen, 2);
}

int tm_base64_decode(const char *in, size_t len, void *out, size_t outlen)
{
	size_t d = len;
	if (d > 0 && in[d - 1] == '=') { /* padding must complete the last group */
		if (len % 4 != 0)
			return -1;
		d--;
		if (d > 0 && in[d - 1] == '=')
			d--;
	}
	return b64_decode_digits(in, d, out, outlen, 3);
}
