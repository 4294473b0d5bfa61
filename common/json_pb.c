/*
 * JSON <-> protobuf transcoder driven by protobuf-c descriptors; see
 * tm/json_pb.h for the mapping.
 *
 * Input runs in four steps, each bounded:
 *   1. size check (max_bytes), before anything is allocated;
 *   2. a linear pre-scan of the raw text: nesting depth outside of strings,
 *      string escapes and raw control bytes, strict RFC 8259 number syntax;
 *   3. cJSON builds the tree, then one walk pairs the tree's number and string
 *      nodes with their tokens in the text (document order), so integers are
 *      read from their exact text (not from a rounded double) and strings
 *      holding an escaped U+0000 are known;
 *   4. the conversion into an arena-allocated message, with per-field limits
 *      and the JSON path of the first offending value.
 */
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "tm/json_pb.h"
#include "tm/util.h"

const struct tm_json_limits tm_json_default_limits = {
	.max_bytes = 1u << 20,
	.max_depth = 32,
	.max_array_items = 10000,
	.max_string_bytes = 1u << 20,
};

#define JP_PATH_MAX 256	      /* working JSON path; err->field receives a prefix of it */
#define JP_KEY_SHOWN_MAX 40   /* bytes of a map key or unknown name shown in a path */
#define JP_FIELDS_ON_STACK 64 /* per-message field state kept on the stack up to this */
#define JP_OUT_MAX_DEPTH 100  /* message nesting tm_pb_to_json follows */
#define JP_ENUM_NAME_MAX 256  /* bytes of a rendered enum name */
#define JP_B64_CHUNK 768      /* input bytes per EVP_EncodeBlock call (multiple of 3) */
#define JP_EXP_CLAMP 100000   /* |exponent| beyond this saturates */
#define JP_TWO_POW_53 9007199254740992ULL

/* Per-field state while one JSON object is converted. */
enum { FIELD_UNSEEN = 0, FIELD_NULL, FIELD_SET };

/* Outcomes of reading an integer from text. */
enum { INT_OK = 0, INT_SYNTAX, INT_FRACTION, INT_HUGE };

struct jp_ctx {
	const struct tm_json_limits *lim;
	struct tm_arena *arena;
	struct tm_json_error *err;
	const char *text;      /* NUL-terminated copy of the document */
	const cJSON *nul_node; /* first node whose key or string holds U+0000 */
	bool nul_in_key;       /* ... in its key (else in its string value) */
	bool failed;	       /* err is filled; the first error wins */
	enum tm_code code;
	size_t path_len;
	char path[JP_PATH_MAX];
};

/* An integer as read from JSON, before any range check. */
struct jint {
	uint64_t mag; /* magnitude */
	bool neg;     /* a '-' was present (also for -0) */
};

static int parse_value(struct jp_ctx *c, const ProtobufCFieldDescriptor *f, const cJSON *item,
		       void *dst);

/* ---- small helpers ----------------------------------------------------------- */

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_lower(int ch)
{
	return ch >= 'a' && ch <= 'z';
}

static bool is_upper(int ch)
{
	return ch >= 'A' && ch <= 'Z';
}

static char to_upper(char ch)
{
	return is_lower(ch) ? (char)(ch - 'a' + 'A') : ch;
}

static char to_lower(char ch)
{
	return is_upper(ch) ? (char)(ch - 'A' + 'a') : ch;
}

static bool is_hex(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* True if ch is one of the characters of set (never for NUL). */
static bool in_set(char ch, const char *set)
{
	return ch != '\0' && strchr(set, ch) != NULL;
}

/* strlen(s), but it stops looking after max + 1 bytes (so a result > max means "too long"). */
static size_t bounded_len(const char *s, size_t max)
{
	return strnlen(s, max < SIZE_MAX ? max + 1 : SIZE_MAX);
}

/* The largest n' <= n that does not split a UTF-8 sequence of s (s[n] readable). */
static size_t utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static const char *type_name(ProtobufCType t)
{
	static const char *const names[] = {
		[PROTOBUF_C_TYPE_INT32] = "int32",	 [PROTOBUF_C_TYPE_SINT32] = "sint32",
		[PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
		[PROTOBUF_C_TYPE_SINT64] = "sint64",	 [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
		[PROTOBUF_C_TYPE_UINT32] = "uint32",	 [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
		[PROTOBUF_C_TYPE_UINT64] = "uint64",	 [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
		[PROTOBUF_C_TYPE_FLOAT] = "float",	 [PROTOBUF_C_TYPE_DOUBLE] = "double",
		[PROTOBUF_C_TYPE_BOOL] = "bool",	 [PROTOBUF_C_TYPE_ENUM] = "enum",
		[PROTOBUF_C_TYPE_STRING] = "string",	 [PROTOBUF_C_TYPE_BYTES] = "bytes",
		[PROTOBUF_C_TYPE_MESSAGE] = "message",
	};
	if ((unsigned)t < TM_ARRAY_LEN(names) && names[t])
		return names[t];
	return "value";
}

/* Size of one element of a repeated field of type t in protobuf-c's layout. */
static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default: /* 32-bit integers and enums */
		return sizeof(int32_t);
	}
}

/* True if `key` is the lowerCamelCase JSON name of the snake_case `name`. */
static bool json_name_eq(const char *key, const char *name)
{
	bool up = false;

	for (; *name; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		char ch = up ? to_upper(*name) : *name;
		up = false;
		if (*key++ != ch)
			return false;
	}
	return *key == '\0';
}

/* True if `type` is protoc's map entry name for field `name` ("skill_levels" ->
 * "SkillLevelsEntry"). */
static bool map_entry_name_eq(const char *type, const char *name)
{
	bool up = true;

	for (; *name; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		char ch = up ? to_upper(*name) : *name;
		up = false;
		if (*type++ != ch)
			return false;
	}
	return strcmp(type, "Entry") == 0;
}

/* True if repeated field f is a map: a nested `<Field>Entry` with key=1, value=2. */
static bool is_map_field(const ProtobufCFieldDescriptor *f)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
		return false;
	const ProtobufCMessageDescriptor *d = f->descriptor;
	return d && d->n_fields == 2 && d->fields[0].id == 1 &&
	       strcmp(d->fields[0].name, "key") == 0 && d->fields[1].id == 2 &&
	       strcmp(d->fields[1].name, "value") == 0 &&
	       d->fields[0].label != PROTOBUF_C_LABEL_REPEATED &&
	       d->fields[1].label != PROTOBUF_C_LABEL_REPEATED &&
	       map_entry_name_eq(d->short_name, f->name);
}

/* ---- enum names -------------------------------------------------------------- */

/*
 * Length of the UPPER_SNAKE form of the enum type name plus "_" at the start of
 * value name `name` ("ProjectStatus", "PROJECT_STATUS_IN_PROGRESS" -> 15), or 0
 * if the value does not carry that prefix (then the whole name is used).
 */
static size_t enum_prefix_len(const char *type, const char *name)
{
	size_t j = 0;

	for (size_t i = 0; type[i]; i++) {
		char ch = type[i];
		if (i > 0 && is_upper(ch) &&
		    (is_lower(type[i - 1]) || is_digit(type[i - 1]) ||
		     (is_upper(type[i - 1]) && is_lower(type[i + 1])))) {
			if (name[j] != '_')
				return 0;
			j++;
		}
		if (name[j] != to_upper(ch))
			return 0;
		j++;
	}
	if (name[j] != '_' || name[j + 1] == '\0')
		return 0;
	return j + 1;
}

/* True if `s` is the JSON form of enum value name `name`. */
static bool enum_json_eq(const ProtobufCEnumDescriptor *d, const char *name, const char *s)
{
	name += enum_prefix_len(d->short_name, name);
	for (; *name; name++, s++)
		if (*s != to_lower(*name))
			return false;
	return *s == '\0';
}

void tm_json_enum_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t buflen)
{
	if (!buf || buflen == 0)
		return;
	buf[0] = '\0';
	if (value == 0 || !desc)
		return;
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	if (!v) { /* a number this build does not know: keep it visible */
		snprintf(buf, buflen, "%d", value);
		return;
	}
	const char *s = v->name + enum_prefix_len(desc->short_name, v->name);
	size_t i = 0;
	for (; s[i] && i + 1 < buflen; i++)
		buf[i] = to_lower(s[i]);
	buf[i] = '\0';
}

/* ---- errors and paths -------------------------------------------------------- */

/* Records the first error with the current path. Returns -1. */
__attribute__((format(printf, 3, 4))) static int jp_fail(struct jp_ctx *c, enum tm_code code,
							 const char *fmt, ...)
{
	struct tm_json_error *e = c->err;
	va_list ap;

	if (c->failed)
		return -1;
	c->failed = true;
	c->code = code;
	size_t n = c->path_len;
	if (n < sizeof(e->field)) {
		memcpy(e->field, c->path, n);
		e->field[n] = '\0';
	} else {
		n = utf8_cut(c->path, sizeof(e->field) - 4);
		memcpy(e->field, c->path, n);
		memcpy(e->field + n, "...", 4);
	}
	va_start(ap, fmt);
	vsnprintf(e->description, sizeof(e->description), fmt, ap);
	va_end(ap);
	return -1;
}

#define jp_invalid(c, ...) jp_fail((c), TM_E_VALIDATION_FAILED, __VA_ARGS__)

static int jp_no_memory(struct jp_ctx *c)
{
	return jp_fail(c, TM_E_PAYLOAD_TOO_LARGE, "message too large for the request's memory");
}

/* Appends n bytes of s to the path, cut at a UTF-8 boundary when full. */
static void path_put(struct jp_ctx *c, const char *s, size_t n)
{
	size_t room = sizeof(c->path) - 1 - c->path_len;

	if (n > room)
		n = utf8_cut(s, room);
	memcpy(c->path + c->path_len, s, n);
	c->path_len += n;
	c->path[c->path_len] = '\0';
}

/* Appends client-supplied text: at most JP_KEY_SHOWN_MAX bytes, control bytes as
 * '?', "?" for invalid UTF-8, so error bodies and logs stay clean. */
static void path_put_shown(struct jp_ctx *c, const char *s)
{
	size_t len = strlen(s);
	size_t n = len > JP_KEY_SHOWN_MAX ? utf8_cut(s, JP_KEY_SHOWN_MAX) : len;

	if (!tm_utf8_valid(s, n)) {
		path_put(c, "?", 1);
		return;
	}
	size_t run = 0; /* start of the current run of printable bytes */
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = i < n ? (unsigned char)s[i] : 0;
		if (i < n && ch >= 0x20 && ch != 0x7f)
			continue;
		path_put(c, s + run, i - run); /* whole sequences: cut only at boundaries */
		if (i < n)
			path_put(c, "?", 1);
		run = i + 1;
	}
	if (n < len)
		path_put(c, "...", 3);
}

/* Pushes ".name" (or "name" at the top) in its JSON spelling; returns the old length. */
static size_t path_push_field(struct jp_ctx *c, const char *name)
{
	size_t saved = c->path_len;
	bool up = false;

	if (saved > 0)
		path_put(c, ".", 1);
	for (; *name; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		char ch = up ? to_upper(*name) : *name;
		up = false;
		path_put(c, &ch, 1);
	}
	return saved;
}

/* Pushes a client-supplied object key that matched no field. */
static size_t path_push_unknown(struct jp_ctx *c, const char *key)
{
	size_t saved = c->path_len;

	if (saved > 0)
		path_put(c, ".", 1);
	path_put_shown(c, key);
	return saved;
}

static size_t path_push_index(struct jp_ctx *c, size_t i)
{
	size_t saved = c->path_len;
	char b[32];
	int n = snprintf(b, sizeof(b), "[%zu]", i);

	if (n > 0 && (size_t)n < sizeof(b))
		path_put(c, b, (size_t)n);
	return saved;
}

static size_t path_push_key(struct jp_ctx *c, const char *key)
{
	size_t saved = c->path_len;

	path_put(c, "[\"", 2);
	path_put_shown(c, key);
	path_put(c, "\"]", 2);
	return saved;
}

static void path_pop(struct jp_ctx *c, size_t saved)
{
	c->path_len = saved;
	c->path[saved] = '\0';
}

/* ---- pre-scan ------------------------------------------------------------------ */

/* Length of the RFC 8259 number at s (n bytes), or 0 if there is none. A token
 * that cJSON would read further ("01", "1.2.3") is refused here too. */
static size_t number_len(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		return 0;
	}
	if (i < n && s[i] == '.') {
		if (++i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (is_digit(s[i]) || in_set(s[i], "+-.eE")))
		return 0;
	return i;
}

/* Length of the JSON string starting with the quote at s (n bytes), or 0 if it
 * is unterminated, holds a raw control byte or a bad escape. */
static size_t string_len(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"')
			return i + 1;
		if (ch < 0x20)
			return 0;
		if (ch != '\\')
			continue;
		if (++i >= n)
			return 0;
		if (s[i] == 'u') {
			if (n - i < 5 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) ||
			    !is_hex(s[i + 3]) || !is_hex(s[i + 4]))
				return 0;
			i += 4;
		} else if (!in_set(s[i], "\"\\/bfnrt")) {
			return 0;
		}
	}
	return 0;
}

/*
 * Checks the raw document before any tree exists: nesting depth outside of
 * strings, string and number token syntax, no stray control bytes. Stops at
 * the first problem, so a depth bomb costs max_depth steps. Returns 0 or -1.
 */
static int prescan(struct jp_ctx *c, const char *s, size_t len)
{
	int depth = 0;
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		size_t n = 1;

		if (ch == '"') {
			n = string_len(s + i, len - i);
		} else if (ch == '-' || is_digit(ch)) {
			n = number_len(s + i, len - i);
		} else if (ch == '{' || ch == '[') {
			if (++depth > c->lim->max_depth)
				return jp_invalid(c, "nesting depth exceeds the limit of %d",
						  c->lim->max_depth);
		} else if (ch == '}' || ch == ']') {
			if (--depth < 0)
				n = 0;
		} else if (ch < 0x20 && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			n = 0;
		}
		if (n == 0)
			return jp_invalid(c, "malformed JSON at byte %zu", i);
		i += n;
	}
	return 0;
}

/* ---- pairing tree nodes with text tokens ----------------------------------------- */

struct tok_cursor {
	const char *s;
	size_t len;
	size_t i;
};

struct token {
	size_t start;
	bool is_string;
	bool has_nul; /* a string holding the escape \u0000 */
};

/* Moves to the next string or number token of the pre-scanned text. Returns 0 or -1 at the end. */
static int next_token(struct tok_cursor *t, struct token *tok)
{
	while (t->i < t->len) {
		const char *p = t->s + t->i;
		size_t n;

		if (*p == '"') {
			n = string_len(p, t->len - t->i);
			tok->is_string = true;
			tok->has_nul = false;
			for (size_t k = 1; k + 5 < n; k++) {
				if (p[k] == '\\' && p[k + 1] == 'u' &&
				    memcmp(p + k + 2, "0000", 4) == 0)
					tok->has_nul = true;
				if (p[k] == '\\')
					k++;
			}
		} else if (*p == '-' || is_digit(*p)) {
			n = number_len(p, t->len - t->i);
			tok->is_string = false;
			tok->has_nul = false;
		} else {
			t->i++;
			continue;
		}
		if (n == 0)
			return -1;
		tok->start = t->i;
		t->i += n;
		return 0;
	}
	return -1;
}

/*
 * Walks the tree in document order next to the text: stores each number's text
 * offset in its (otherwise unused) valueint and notes the first key or string
 * holding U+0000. Depth is bounded by the pre-scan. Returns 0, or -1 if the
 * tree and the text disagree (never for text cJSON accepted).
 */
static int pair_tokens(struct jp_ctx *c, struct tok_cursor *t, cJSON *node, bool keyed)
{
	struct token tok;

	if (keyed) {
		if (next_token(t, &tok) != 0 || !tok.is_string)
			return -1;
		if (tok.has_nul && !c->nul_node) {
			c->nul_node = node;
			c->nul_in_key = true;
		}
	}
	if (cJSON_IsString(node) || cJSON_IsNumber(node)) {
		if (next_token(t, &tok) != 0 || tok.is_string != (bool)cJSON_IsString(node))
			return -1;
		if (!tok.is_string)
			node->valueint = (int)tok.start;
		else if (tok.has_nul && !c->nul_node)
			c->nul_node = node;
		return 0;
	}
	for (cJSON *ch = node->child; ch; ch = ch->next)
		if (pair_tokens(c, t, ch, cJSON_IsObject(node)) != 0)
			return -1;
	return 0;
}

/* ---- scalars ------------------------------------------------------------------- */

/* The string of a string node, or NULL (error recorded) if it holds U+0000. */
static const char *jstr(struct jp_ctx *c, const cJSON *item)
{
	if (item == c->nul_node && !c->nul_in_key) {
		jp_invalid(c, "string contains U+0000");
		return NULL;
	}
	return item->valuestring;
}

/* *m = *m * 10 + d. Returns 0, or -1 (m unchanged) on overflow. */
static int mul10_add(uint64_t *m, unsigned d)
{
	if (*m > (UINT64_MAX - d) / 10)
		return -1;
	*m = *m * 10 + d;
	return 0;
}

/* Strict decimal: optional '-', then digits only. */
static int read_decimal(const char *s, struct jint *v)
{
	v->neg = false;
	v->mag = 0;
	if (*s == '-') {
		v->neg = true;
		s++;
	}
	if (*s == '\0')
		return INT_SYNTAX;
	for (; *s; s++) {
		if (!is_digit(*s))
			return INT_SYNTAX;
		if (mul10_add(&v->mag, (unsigned)(*s - '0')) != 0)
			return INT_HUGE;
	}
	return INT_OK;
}

/* Digit k of the concatenated integer and fraction parts. */
static unsigned digit_at(const char *ip, size_t il, const char *fp, size_t k)
{
	return (unsigned)((k < il ? ip[k] : fp[k - il]) - '0');
}

/* Reads the exponent after 'e'/'E', saturated at +-JP_EXP_CLAMP. */
static long read_exponent(const char *p)
{
	bool neg = *p == '-';
	long e = 0;

	if (*p == '-' || *p == '+')
		p++;
	for (; is_digit(*p); p++)
		if (e < JP_EXP_CLAMP)
			e = e * 10 + (*p - '0');
	return neg ? -e : e;
}

/*
 * Reads the exact value of a JSON number token (already syntax-checked) as an
 * integer: INT_FRACTION if it is not integral, INT_HUGE beyond 64 bits.
 */
static int read_number_text(const char *p, struct jint *v)
{
	const char *ip, *fp = "";
	size_t il, fl = 0;
	long e = 0;

	v->neg = *p == '-';
	v->mag = 0;
	p += v->neg;
	for (ip = p; is_digit(*p); p++)
		;
	il = (size_t)(p - ip);
	if (*p == '.') {
		for (fp = ++p; is_digit(*p); p++)
			;
		fl = (size_t)(p - fp);
	}
	if (*p == 'e' || *p == 'E')
		e = read_exponent(p + 1);
	e -= (long)fl;
	size_t first = 0, last = il + fl;
	while (first < last && digit_at(ip, il, fp, first) == 0)
		first++;
	while (last > first && digit_at(ip, il, fp, last - 1) == 0) {
		last--;
		e++;
	}
	if (first == last)
		return INT_OK;
	if (e < 0)
		return INT_FRACTION;
	if ((long)(last - first) + e > 20)
		return INT_HUGE;
	for (size_t k = first; k < last; k++)
		if (mul10_add(&v->mag, digit_at(ip, il, fp, k)) != 0)
			return INT_HUGE;
	for (; e > 0; e--)
		if (mul10_add(&v->mag, 0) != 0)
			return INT_HUGE;
	return INT_OK;
}

/* Reads an integer field value: a JSON number that is an exact integer (within
 * 2^53 for 64-bit fields) or a decimal string. */
static int read_int(struct jp_ctx *c, ProtobufCType t, const cJSON *item, struct jint *v)
{
	bool wide = elem_size(t) == 8;
	int rc;

	if (cJSON_IsString(item)) {
		const char *s = jstr(c, item);
		if (!s)
			return -1;
		rc = read_decimal(s, v);
		if (rc == INT_SYNTAX)
			return jp_invalid(c, "expected an integer (decimal digits)");
	} else if (cJSON_IsNumber(item)) {
		rc = read_number_text(c->text + item->valueint, v);
		if (rc == INT_FRACTION)
			return jp_invalid(c, "expected an integer, got a fraction");
		if (rc == INT_OK && wide && v->mag > JP_TWO_POW_53)
			return jp_invalid(c, "integers beyond 2^53 must be sent as strings");
	} else {
		return jp_invalid(c, "expected an integer");
	}
	if (rc == INT_HUGE)
		return jp_invalid(c, "out of range for %s", type_name(t));
	return 0;
}

static bool fits_signed(const struct jint *v, uint64_t max)
{
	return v->neg ? v->mag <= max + 1 : v->mag <= max;
}

static int64_t to_signed(const struct jint *v)
{
	if (!v->neg)
		return (int64_t)v->mag;
	return v->mag == 0 ? 0 : -(int64_t)(v->mag - 1) - 1;
}

/* Range-checks v for integer type t and stores it at dst. */
static int store_int(struct jp_ctx *c, ProtobufCType t, const struct jint *v, void *dst)
{
	bool ok;

	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if ((ok = fits_signed(v, INT32_MAX)))
			*(int32_t *)dst = (int32_t)to_signed(v);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if ((ok = fits_signed(v, INT64_MAX)))
			*(int64_t *)dst = to_signed(v);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if ((ok = !v->neg && v->mag <= UINT32_MAX))
			*(uint32_t *)dst = (uint32_t)v->mag;
		break;
	default: /* uint64, fixed64 */
		if ((ok = !v->neg))
			*(uint64_t *)dst = v->mag;
		break;
	}
	return ok ? 0 : jp_invalid(c, "out of range for %s", type_name(t));
}

/* A float or double: a JSON number or "NaN", "Infinity", "-Infinity". */
static int read_double(struct jp_ctx *c, const cJSON *item, double *out)
{
	if (cJSON_IsNumber(item)) {
		if (!isfinite(item->valuedouble))
			return jp_invalid(c, "number out of range");
		*out = item->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(item))
		return jp_invalid(c, "expected a number");
	const char *s = jstr(c, item);
	if (!s)
		return -1;
	if (strcmp(s, "NaN") == 0)
		*out = NAN;
	else if (strcmp(s, "Infinity") == 0)
		*out = INFINITY;
	else if (strcmp(s, "-Infinity") == 0)
		*out = -INFINITY;
	else
		return jp_invalid(c, "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
	return 0;
}

static int parse_float(struct jp_ctx *c, ProtobufCType t, const cJSON *item, void *dst)
{
	double d = 0;

	if (read_double(c, item, &d) != 0)
		return -1;
	if (t == PROTOBUF_C_TYPE_DOUBLE) {
		*(double *)dst = d;
		return 0;
	}
	if (isfinite(d)) {
		/* FLT_MAX plus half an ulp: anything below rounds to a finite float */
		if (fabs(d) >= (double)FLT_MAX + ldexp(1.0, 103))
			return jp_invalid(c, "out of range for float");
		if (fabs(d) > FLT_MAX) /* rounds to +-FLT_MAX; keep the conversion defined */
			d = copysign((double)FLT_MAX, d);
	}
	*(float *)dst = (float)d;
	return 0;
}

/* Checks a decoded string value: no U+0000, within max_string_bytes, valid
 * UTF-8. Sets *len. Returns the string or NULL (error recorded). */
static const char *read_text(struct jp_ctx *c, const cJSON *item, size_t *len)
{
	if (!cJSON_IsString(item)) {
		jp_invalid(c, "expected a string");
		return NULL;
	}
	const char *s = jstr(c, item);
	if (!s)
		return NULL;
	size_t n = bounded_len(s, c->lim->max_string_bytes);
	if (n > c->lim->max_string_bytes) {
		jp_invalid(c, "string longer than %zu bytes", c->lim->max_string_bytes);
		return NULL;
	}
	if (!tm_utf8_valid(s, n)) {
		jp_invalid(c, "string is not valid UTF-8");
		return NULL;
	}
	*len = n;
	return s;
}

/* Copies a string into the arena; always a fresh copy, never protobuf-c's shared
 * empty string (a oneof member equal to its default would not be packed). */
static int parse_string(struct jp_ctx *c, const cJSON *item, char **dst)
{
	size_t n;
	const char *s = read_text(c, item, &n);

	if (!s)
		return -1;
	char *copy = tm_arena_strndup(c->arena, s, n);
	if (!copy)
		return jp_no_memory(c);
	*dst = copy;
	return 0;
}

/* Number of base64 digits in s (n bytes) once padding is removed; SIZE_MAX if
 * the padding is wrong. Padding, when present, must complete a 4-digit group. */
static size_t b64_digits(const char *s, size_t n)
{
	size_t d = n;

	if (d > 0 && s[d - 1] == '=') {
		d--;
		if (d > 0 && s[d - 1] == '=')
			d--;
		if (n % 4 != 0)
			return SIZE_MAX;
	}
	return d % 4 == 1 ? SIZE_MAX : d;
}

/* A bytes value: standard or URL-safe base64, padded or not. */
static int parse_bytes(struct jp_ctx *c, const cJSON *item, ProtobufCBinaryData *dst)
{
	if (!cJSON_IsString(item))
		return jp_invalid(c, "expected a base64 string");
	const char *s = jstr(c, item);
	if (!s)
		return -1;
	size_t max = c->lim->max_string_bytes;
	size_t text_max = max < SIZE_MAX / 2 ? max / 3 * 4 + 4 : SIZE_MAX - 1;
	size_t n = bounded_len(s, text_max);
	if (n > text_max)
		return jp_invalid(c, "bytes longer than %zu bytes", max);
	size_t d = b64_digits(s, n);
	if (d == SIZE_MAX)
		return jp_invalid(c, "invalid base64");
	size_t out_len = d * 3 / 4;
	if (out_len > max)
		return jp_invalid(c, "bytes longer than %zu bytes", max);
	uint8_t *data = NULL;
	if (out_len > 0 && !(data = tm_arena_alloc(c->arena, out_len)))
		return jp_no_memory(c);
	if (tm_base64_decode(s, n, data, out_len) != (int)out_len)
		return jp_invalid(c, "invalid base64");
	dst->len = out_len;
	dst->data = data;
	return 0;
}

/* An enum value: its JSON name or its full name; never the zero value, never a number. */
static int parse_enum(struct jp_ctx *c, const ProtobufCEnumDescriptor *d, const cJSON *item,
		      int *dst)
{
	if (!cJSON_IsString(item))
		return jp_invalid(c, "expected an enum name (a string)");
	const char *s = jstr(c, item);
	if (!s)
		return -1;
	bool zero = *s == '\0';

	for (unsigned i = 0; i < d->n_value_names && !zero; i++) {
		const char *name = d->values_by_name[i].name;
		if (strcmp(s, name) != 0 && !enum_json_eq(d, name, s))
			continue;
		int v = d->values[d->values_by_name[i].index].value;
		if (v == 0) {
			zero = true;
			break;
		}
		*dst = v;
		return 0;
	}
	if (zero)
		return jp_invalid(c, "the unspecified enum value is not allowed");
	return jp_invalid(c, "unknown enum value");
}

/* ---- messages, repeated fields, maps ------------------------------------------------ */

static int parse_message(struct jp_ctx *c, const ProtobufCMessageDescriptor *d, const cJSON *obj,
			 ProtobufCMessage **out);

static int parse_value(struct jp_ctx *c, const ProtobufCFieldDescriptor *f, const cJSON *item,
		       void *dst)
{
	struct jint v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return parse_float(c, f->type, item, dst);
	case PROTOBUF_C_TYPE_BOOL:
		if (!cJSON_IsBool(item))
			return jp_invalid(c, "expected a boolean");
		*(protobuf_c_boolean *)dst = cJSON_IsTrue(item) ? 1 : 0;
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return parse_enum(c, f->descriptor, item, dst);
	case PROTOBUF_C_TYPE_STRING:
		return parse_string(c, item, dst);
	case PROTOBUF_C_TYPE_BYTES:
		return parse_bytes(c, item, dst);
	case PROTOBUF_C_TYPE_MESSAGE:
		return parse_message(c, f->descriptor, item, dst);
	default:
		if (read_int(c, f->type, item, &v) != 0)
			return -1;
		return store_int(c, f->type, &v, dst);
	}
}

/* Number of children of a container node, counting at most limit + 1. */
static size_t count_children(const cJSON *node, size_t limit)
{
	size_t n = 0;

	for (const cJSON *ch = node->child; ch && n <= limit; ch = ch->next)
		n++;
	return n;
}

/* A JSON array into a repeated (non-map) field. */
static int parse_repeated(struct jp_ctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			  const cJSON *arr)
{
	size_t max = c->lim->max_array_items, esz = elem_size(f->type), i = 0;
	char *data = NULL;

	if (!cJSON_IsArray(arr))
		return jp_invalid(c, "expected an array");
	size_t n = count_children(arr, max);
	if (n > max)
		return jp_invalid(c, "more than %zu items", max);
	if (n > 0 && (n > SIZE_MAX / esz || !(data = tm_arena_alloc(c->arena, n * esz))))
		return jp_no_memory(c);
	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		size_t saved = path_push_index(c, i);
		if (cJSON_IsNull(it))
			return jp_invalid(c, "array items must not be null");
		if (parse_value(c, f, it, data + i * esz) != 0)
			return -1;
		path_pop(c, saved);
	}
	*(size_t *)((char *)m + f->quantifier_offset) = n;
	*(void **)((char *)m + f->offset) = data;
	return 0;
}

/* A map key (always a JSON string) into the entry's key field. */
static int parse_map_key(struct jp_ctx *c, const ProtobufCFieldDescriptor *kf, const char *key,
			 void *dst)
{
	struct jint v;

	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!(*(char **)dst = tm_arena_strdup(c->arena, key)))
			return jp_no_memory(c);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(key, "true") != 0 && strcmp(key, "false") != 0)
			return jp_invalid(c, "map key must be \"true\" or \"false\"");
		*(protobuf_c_boolean *)dst = key[0] == 't';
		return 0;
	default:
		if (elem_size(kf->type) != 4 && elem_size(kf->type) != 8)
			return jp_invalid(c, "unsupported map key type");
		int rc = read_decimal(key, &v);
		if (rc == INT_SYNTAX)
			return jp_invalid(c, "map key must be a decimal integer");
		if (rc == INT_HUGE)
			return jp_invalid(c, "out of range for %s", type_name(kf->type));
		return store_int(c, kf->type, &v, dst);
	}
}

/* One "key": value member of a map object into a new entry message. */
static int parse_map_entry(struct jp_ctx *c, const ProtobufCMessageDescriptor *ed,
			   const cJSON *item, ProtobufCMessage **out)
{
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	const char *key = item->string;

	if (item == c->nul_node && c->nul_in_key)
		return jp_invalid(c, "map key contains U+0000");
	if (bounded_len(key, c->lim->max_string_bytes) > c->lim->max_string_bytes)
		return jp_invalid(c, "map key longer than %zu bytes", c->lim->max_string_bytes);
	if (!tm_utf8_valid(key, strlen(key)))
		return jp_invalid(c, "map key is not valid UTF-8");
	path_push_key(c, key);
	ProtobufCMessage *e = tm_arena_alloc(c->arena, ed->sizeof_message);
	if (!e)
		return jp_no_memory(c);
	protobuf_c_message_init(ed, e);
	if (parse_map_key(c, kf, key, (char *)e + kf->offset) != 0)
		return -1;
	if (cJSON_IsNull(item))
		return jp_invalid(c, "map values must not be null");
	if (parse_value(c, vf, item, (char *)e + vf->offset) != 0)
		return -1;
	*out = e;
	return 0;
}

/* Orders map entries by key; arg is the key field. */
static int key_cmp(const void *pa, const void *pb, void *arg)
{
	const ProtobufCFieldDescriptor *kf = arg;
	const char *a = (const char *)*(ProtobufCMessage *const *)pa + kf->offset;
	const char *b = (const char *)*(ProtobufCMessage *const *)pb + kf->offset;

	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		return strcmp(*(char *const *)a, *(char *const *)b);
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return (*(const int32_t *)a > *(const int32_t *)b) -
		       (*(const int32_t *)a < *(const int32_t *)b);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return (*(const uint32_t *)a > *(const uint32_t *)b) -
		       (*(const uint32_t *)a < *(const uint32_t *)b);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return (*(const int64_t *)a > *(const int64_t *)b) -
		       (*(const int64_t *)a < *(const int64_t *)b);
	default:
		return (*(const uint64_t *)a > *(const uint64_t *)b) -
		       (*(const uint64_t *)a < *(const uint64_t *)b);
	}
}

/* Writes the JSON text of a map key (not quoted) into buf. */
static const char *key_text(const ProtobufCFieldDescriptor *kf, const void *p, char *buf, size_t n)
{
	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)p ? *(char *const *)p : "";
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p ? "true" : "false";
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(buf, n, "%" PRId32, *(const int32_t *)p);
		return buf;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(buf, n, "%" PRIu32, *(const uint32_t *)p);
		return buf;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, n, "%" PRId64, *(const int64_t *)p);
		return buf;
	default:
		snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p);
		return buf;
	}
}

/* Refuses two entries with the same key ("1" and "01" are the same int key). */
static int check_map_dups(struct jp_ctx *c, const ProtobufCMessageDescriptor *ed,
			  ProtobufCMessage **entries, size_t n)
{
	const ProtobufCFieldDescriptor *kf = &ed->fields[0];
	char buf[32];

	if (n < 2)
		return 0;
	ProtobufCMessage **sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return jp_no_memory(c);
	memcpy(sorted, entries, n * sizeof(*sorted));
	qsort_r(sorted, n, sizeof(*sorted), key_cmp, (void *)kf);
	int rc = 0;
	for (size_t i = 1; i < n && rc == 0; i++) {
		if (key_cmp(&sorted[i - 1], &sorted[i], (void *)kf) != 0)
			continue;
		path_push_key(c, key_text(kf, (char *)sorted[i] + kf->offset, buf, sizeof(buf)));
		rc = jp_invalid(c, "duplicate map key");
	}
	free(sorted);
	return rc;
}

/* A JSON object into a map field (protobuf-c's repeated entry messages). */
static int parse_map(struct jp_ctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		     const cJSON *obj)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t max = c->lim->max_array_items, i = 0;
	ProtobufCMessage **entries = NULL;

	if (!cJSON_IsObject(obj))
		return jp_invalid(c, "expected an object");
	size_t n = count_children(obj, max);
	if (n > max)
		return jp_invalid(c, "more than %zu entries", max);
	if (n > 0 && !(entries = tm_arena_alloc(c->arena, n * sizeof(*entries))))
		return jp_no_memory(c);
	for (const cJSON *it = obj->child; it; it = it->next, i++) {
		size_t saved = c->path_len;
		if (parse_map_entry(c, ed, it, &entries[i]) != 0)
			return -1;
		path_pop(c, saved);
	}
	if (check_map_dups(c, ed, entries, n) != 0)
		return -1;
	*(size_t *)((char *)m + f->quantifier_offset) = n;
	*(ProtobufCMessage ***)((char *)m + f->offset) = entries;
	return 0;
}

/* Sets field f of m from a non-null JSON value. */
static int set_field(struct jp_ctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		     const cJSON *item)
{
	void *member = (char *)m + f->offset;
	void *quantifier = (char *)m + f->quantifier_offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return is_map_field(f) ? parse_map(c, m, f, item) : parse_repeated(c, m, f, item);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *oneof_case = quantifier;
		if (*oneof_case != 0 && *oneof_case != f->id)
			return jp_invalid(c, "another member of the same oneof is already set");
		if (parse_value(c, f, item, member) != 0)
			return -1;
		*oneof_case = f->id;
		return 0;
	}
	if (parse_value(c, f, item, member) != 0)
		return -1;
	/* optional scalars and bytes carry a has_ flag; strings and messages a pointer */
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)quantifier = 1;
	return 0;
}

/* Index of the field whose JSON or original name is key, or -1. */
static int find_field(const ProtobufCMessageDescriptor *d, const char *key)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (json_name_eq(key, d->fields[i].name) || strcmp(key, d->fields[i].name) == 0)
			return (int)i;
	return -1;
}

/* One member of a JSON object into message m; state tracks fields already seen. */
static int fill_member(struct jp_ctx *c, ProtobufCMessage *m, const cJSON *item, uint8_t *state)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	size_t saved = c->path_len;
	int rc = 0;

	if (item == c->nul_node && c->nul_in_key) {
		path_push_unknown(c, item->string);
		return jp_invalid(c, "field name contains U+0000");
	}
	int idx = find_field(d, item->string);
	if (idx < 0) {
		path_push_unknown(c, item->string);
		return jp_invalid(c, "unknown field");
	}
	const ProtobufCFieldDescriptor *f = &d->fields[idx];
	path_push_field(c, f->name);
	if (state[idx] != FIELD_UNSEEN)
		return jp_invalid(c, "duplicate field");
	state[idx] = cJSON_IsNull(item) ? FIELD_NULL : FIELD_SET;
	if (state[idx] == FIELD_SET)
		rc = set_field(c, m, f, item);
	if (rc == 0)
		path_pop(c, saved);
	return rc;
}

/* Refuses a proto2 required field that the object left out (or set to null). */
static int check_required(struct jp_ctx *c, const ProtobufCMessageDescriptor *d,
			  const uint8_t *state)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && state[i] != FIELD_SET) {
			path_push_field(c, d->fields[i].name);
			return jp_invalid(c, "required field missing");
		}
	}
	return 0;
}

/* All members of a JSON object into message m. */
static int fill_message(struct jp_ctx *c, ProtobufCMessage *m, const cJSON *obj)
{
	unsigned n = m->descriptor->n_fields;
	uint8_t small[JP_FIELDS_ON_STACK] = {0};
	uint8_t *state = small;
	int rc = 0;

	if (n > JP_FIELDS_ON_STACK && !(state = calloc(n, 1)))
		return jp_no_memory(c);
	for (const cJSON *it = obj->child; it && rc == 0; it = it->next)
		rc = fill_member(c, m, it, state);
	if (rc == 0)
		rc = check_required(c, m->descriptor, state);
	if (state != small)
		free(state);
	return rc;
}

/* A new arena message of type d from a JSON object. Recursion depth is bounded
 * by the pre-scan's max_depth (and cJSON's own nesting limit). */
static int parse_message(struct jp_ctx *c, const ProtobufCMessageDescriptor *d, const cJSON *obj,
			 ProtobufCMessage **out)
{
	if (!cJSON_IsObject(obj))
		return jp_invalid(c, "expected an object");
	ProtobufCMessage *m = tm_arena_alloc(c->arena, d->sizeof_message);
	if (!m)
		return jp_no_memory(c);
	protobuf_c_message_init(d, m);
	if (fill_message(c, m, obj) != 0)
		return -1;
	*out = m;
	return 0;
}

/* Parses the pre-scanned document into a tree and converts it. */
static int convert_document(struct jp_ctx *c, const ProtobufCMessageDescriptor *desc,
			    const char *json, size_t len, ProtobufCMessage **out)
{
	const char *end = NULL;
	cJSON *root = NULL;
	int rc = -1;
	char *copy = malloc(len + 1);

	if (!copy)
		return jp_no_memory(c);
	memcpy(copy, json, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
	if (!root || end != copy + len) {
		size_t at = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : 0;
		jp_invalid(c, "malformed JSON at byte %zu", at);
		goto out_free;
	}
	if (!cJSON_IsObject(root)) {
		jp_invalid(c, "expected a JSON object");
		goto out_free;
	}
	struct tok_cursor t = {.s = copy, .len = len, .i = 0};
	c->text = copy;
	if (pair_tokens(c, &t, root, false) != 0) {
		jp_invalid(c, "malformed JSON");
		goto out_free;
	}
	rc = parse_message(c, desc, root, out);
	if (rc == 0 && c->nul_node) /* every key and string is visited; belt and braces */
		rc = jp_invalid(c, "string contains U+0000");
out_free:
	cJSON_Delete(root);
	free(copy);
	return rc;
}

enum tm_code tm_json_to_pb(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
			   const struct tm_json_limits *lim, struct tm_arena *arena,
			   ProtobufCMessage **out, struct tm_json_error *err)
{
	struct tm_json_error scratch;
	struct jp_ctx c = {.lim = lim ? lim : &tm_json_default_limits, .arena = arena};
	ProtobufCMessage *m = NULL;

	c.err = err ? err : &scratch;
	memset(c.err, 0, sizeof(*c.err));
	*out = NULL;
	if (!json)
		len = 0;
	if (len > c.lim->max_bytes || len > INT_MAX) {
		jp_fail(&c, TM_E_PAYLOAD_TOO_LARGE, "body larger than %zu bytes", c.lim->max_bytes);
		return c.code;
	}
	if (len == 0) {
		if (!(m = tm_arena_alloc(arena, desc->sizeof_message))) {
			jp_no_memory(&c);
			return c.code;
		}
		protobuf_c_message_init(desc, m);
	} else if (prescan(&c, json, len) != 0 || convert_document(&c, desc, json, len, &m) != 0) {
		return c.code;
	}
	*out = m;
	return TM_OK;
}

/* ---- output -------------------------------------------------------------------- */

static void emit_message(struct tm_buf *out, const ProtobufCMessage *m, int depth);

/* A string as JSON; invalid UTF-8 (never produced by tm_json_to_pb, but possible
 * from other producers) has each bad byte replaced by U+FFFD. */
static void emit_string(struct tm_buf *out, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (tm_utf8_valid(s ? s : "", n)) {
		tm_buf_json_str(out, s ? s : "", n);
		return;
	}
	char *fixed = malloc(n * 3 + 1);
	size_t o = 0;
	if (!fixed) {
		out->failed = true;
		return;
	}
	for (size_t i = 0; i < n;) {
		unsigned char ch = (unsigned char)s[i];
		size_t k = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
		if (k <= n - i && tm_utf8_valid(s + i, k)) {
			memcpy(fixed + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	tm_buf_json_str(out, fixed, o);
	free(fixed);
}

/* A double in the shortest of %.15g..%.17g that reads back exactly. */
static void emit_double(struct tm_buf *out, double v)
{
	char b[40];

	if (isnan(v) || isinf(v)) {
		tm_buf_puts(out, isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(b, sizeof(b), "%.*g", prec, v);
		if (strtod(b, NULL) == v)
			break;
	}
	tm_buf_puts(out, b);
}

/* A float in the shortest of %.6g..%.9g that reads back exactly. */
static void emit_float(struct tm_buf *out, float v)
{
	char b[40];

	if (isnan(v) || isinf(v)) {
		emit_double(out, (double)v);
		return;
	}
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(b, sizeof(b), "%.*g", prec, (double)v);
		if (strtof(b, NULL) == v)
			break;
	}
	tm_buf_puts(out, b);
}

/* Bytes as standard base64 with padding. */
static void emit_bytes(struct tm_buf *out, const ProtobufCBinaryData *bd)
{
	unsigned char enc[JP_B64_CHUNK / 3 * 4 + 1];

	tm_buf_putc(out, '"');
	for (size_t i = 0; bd->data && i < bd->len; i += JP_B64_CHUNK) {
		size_t n = bd->len - i < JP_B64_CHUNK ? bd->len - i : JP_B64_CHUNK;
		int k = EVP_EncodeBlock(enc, bd->data + i, (int)n);
		if (k < 0) {
			out->failed = true;
			return;
		}
		tm_buf_append(out, enc, (size_t)k);
	}
	tm_buf_putc(out, '"');
}

static void emit_enum(struct tm_buf *out, const ProtobufCEnumDescriptor *d, int v)
{
	char name[JP_ENUM_NAME_MAX];

	tm_json_enum_name(d, v, name, sizeof(name));
	tm_buf_json_str(out, name, strlen(name));
}

/* One value of field f stored at p (a member or an element of a repeated field). */
static void emit_value(struct tm_buf *out, const ProtobufCFieldDescriptor *f, const void *p,
		       int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		tm_buf_printf(out, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		tm_buf_printf(out, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		tm_buf_printf(out, "\"%" PRId64 "\"", *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		tm_buf_printf(out, "\"%" PRIu64 "\"", *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		emit_float(out, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		emit_double(out, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		tm_buf_puts(out, *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM:
		emit_enum(out, f->descriptor, *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		emit_string(out, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		emit_bytes(out, p);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(ProtobufCMessage *const *)p)
			emit_message(out, *(ProtobufCMessage *const *)p, depth + 1);
		else
			tm_buf_puts(out, "{}");
		break;
	}
}

/* A map field as an object with string keys. */
static void emit_map(struct tm_buf *out, const ProtobufCFieldDescriptor *f, size_t n,
		     ProtobufCMessage *const *entries, int depth)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	bool first = true;
	char buf[32];

	tm_buf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		const char *e = (const char *)entries[i];
		if (!e)
			continue;
		if (!first)
			tm_buf_putc(out, ',');
		first = false;
		emit_string(out, key_text(kf, e + kf->offset, buf, sizeof(buf)));
		tm_buf_putc(out, ':');
		emit_value(out, vf, e + vf->offset, depth);
	}
	tm_buf_putc(out, '}');
}

/* A repeated field as an array, or a map as an object. */
static void emit_repeated(struct tm_buf *out, const ProtobufCMessage *m,
			  const ProtobufCFieldDescriptor *f, int depth)
{
	size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
	const char *data = *(char *const *)((const char *)m + f->offset);
	size_t esz = elem_size(f->type);

	if (!data)
		n = 0;
	if (is_map_field(f)) {
		emit_map(out, f, n, (ProtobufCMessage *const *)data, depth);
		return;
	}
	tm_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			tm_buf_putc(out, ',');
		emit_value(out, f, data + i * esz, depth);
	}
	tm_buf_putc(out, ']');
}

/* False for fields left out of the output: unset oneof members, NULL messages,
 * unset explicit-presence (optional) fields. */
static bool field_is_emitted(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	bool pointer = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return true;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
		return false;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(ProtobufCMessage *const *)(base + f->offset) != NULL;
	if (f->label != PROTOBUF_C_LABEL_OPTIONAL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return true;
	if (pointer)
		return *(char *const *)(base + f->offset) != NULL;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

/* The lowerCamelCase name of a field, quoted. */
static void emit_name(struct tm_buf *out, const char *name)
{
	bool up = false;

	tm_buf_putc(out, '"');
	for (; *name; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		tm_buf_putc(out, up ? to_upper(*name) : *name);
		up = false;
	}
	tm_buf_putc(out, '"');
}

/* A message as an object, fields in descriptor (field number) order. Messages
 * nested deeper than JP_OUT_MAX_DEPTH (or cyclic) fail the buffer. */
static void emit_message(struct tm_buf *out, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;

	if (depth > JP_OUT_MAX_DEPTH) {
		out->failed = true;
		return;
	}
	tm_buf_putc(out, '{');
	for (unsigned i = 0; i < d->n_fields && !out->failed; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!field_is_emitted(m, f))
			continue;
		if (!first)
			tm_buf_putc(out, ',');
		first = false;
		emit_name(out, f->name);
		tm_buf_putc(out, ':');
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			emit_repeated(out, m, f, depth);
		else
			emit_value(out, f, (const char *)m + f->offset, depth);
	}
	tm_buf_putc(out, '}');
}

int tm_pb_to_json(const ProtobufCMessage *msg, struct tm_buf *out)
{
	if (!msg || !msg->descriptor) {
		out->failed = true;
		return -1;
	}
	emit_message(out, msg, 0);
	return out->failed ? -1 : 0;
}

void tm_json_field_name(const char *snake, char *out, size_t outlen)
{
	size_t o = 0;
	bool up = false;

	for (; *snake && o + 1 < outlen; snake++) {
		if (*snake == '_') {
			up = true;
			continue;
		}
		out[o++] = up ? to_upper(*snake) : *snake;
		up = false;
	}
	if (outlen)
		out[o] = '\0';
}

bool tm_json_is_map_field(const ProtobufCFieldDescriptor *f)
{
	return is_map_field(f);
}
