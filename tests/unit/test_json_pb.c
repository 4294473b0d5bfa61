/*
 * common/json_pb.c: the descriptor-driven JSON <-> protobuf transcoder.
 * Messages come from tests/proto/taskmesh/test/v1/alltypes.proto; explicit
 * presence (proto2 optional/required), which protoc-c 1.4 cannot generate for
 * proto3, uses the hand-built `Presence` descriptor below. Every refusal is
 * checked for its exact code, JSON path and description.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "taskmesh/test/v1/alltypes.pb-c.h"
#include "taskmesh/v1/projects.pb-c.h"
#include "tm/arena.h"
#include "tm/buf.h"
#include "tm/json_pb.h"
#include "tm/util.h"

#define ALL (&taskmesh__test__v1__all_types__descriptor)
#define BOMB_BYTES 100000      /* the depth bomb's size */
#define BOMB_MAX_MS 1000       /* it must be refused well within this, even under ASan */
#define SMALL_ARENA_BYTES 4096 /* for the arena-exhaustion test */

typedef Taskmesh__Test__V1__AllTypes AllTypes;

static struct tm_arena *A; /* one arena per test */

/* ---- a hand-built proto2-style message: optional scalars, required string, self reference ---- */

struct presence {
	ProtobufCMessage base;
	protobuf_c_boolean has_count;
	int32_t count; /* 1: optional int32 */
	char *name;    /* 2: required string */
	protobuf_c_boolean has_blob;
	ProtobufCBinaryData blob; /* 3: optional bytes */
	char *note;		  /* 4: optional string (presence by pointer) */
	struct presence *child;	  /* 5: optional Presence */
};

static const ProtobufCMessageDescriptor presence_desc;

static const ProtobufCFieldDescriptor presence_fields[] = {
	{"count", 1, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_INT32,
	 offsetof(struct presence, has_count), offsetof(struct presence, count), NULL, NULL, 0, 0,
	 NULL, NULL},
	{"name", 2, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_STRING, 0,
	 offsetof(struct presence, name), NULL, NULL, 0, 0, NULL, NULL},
	{"blob", 3, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_BYTES,
	 offsetof(struct presence, has_blob), offsetof(struct presence, blob), NULL, NULL, 0, 0,
	 NULL, NULL},
	{"note", 4, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_STRING, 0,
	 offsetof(struct presence, note), NULL, NULL, 0, 0, NULL, NULL},
	{"child", 5, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_MESSAGE, 0,
	 offsetof(struct presence, child), &presence_desc, NULL, 0, 0, NULL, NULL},
};
static const unsigned presence_by_name[] = {2, 4, 0, 1, 3}; /* blob child count name note */
static const ProtobufCIntRange presence_ranges[] = {{1, 0}, {0, 5}};

static void presence_init(ProtobufCMessage *m)
{
	memset(m, 0, sizeof(struct presence));
	m->descriptor = &presence_desc;
}

static const ProtobufCMessageDescriptor presence_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	"taskmesh.test.Presence",
	"Presence",
	"Presence",
	"taskmesh.test",
	sizeof(struct presence),
	TM_ARRAY_LEN(presence_fields),
	presence_fields,
	presence_by_name,
	1,
	presence_ranges,
	presence_init,
	NULL,
	NULL,
	NULL,
};

/* An enum whose type name starts with an acronym, and a value without the prefix. */
static const ProtobufCEnumValue http_values[] = {
	{"HTTP_STATUS_UNSPECIFIED", "HTTP_STATUS_UNSPECIFIED", 0},
	{"OTHER_NAME", "OTHER_NAME", 5},
	{"HTTP_STATUS_NOT_FOUND", "HTTP_STATUS_NOT_FOUND", 404},
};
static const ProtobufCEnumValueIndex http_by_name[] = {{"HTTP_STATUS_NOT_FOUND", 2},
						       {"HTTP_STATUS_UNSPECIFIED", 0},
						       {"OTHER_NAME", 1}};
static const ProtobufCIntRange http_ranges[] = {{0, 0}, {5, 1}, {404, 2}, {0, 3}};
static const ProtobufCEnumDescriptor http_desc = {
	PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
	"t.HTTPStatus",
	"HTTPStatus",
	"HTTPStatus",
	"t",
	3,
	http_values,
	3,
	http_by_name,
	3,
	http_ranges,
	NULL,
	NULL,
	NULL,
	NULL,
};

/* ---- helpers ------------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	A = tm_arena_new(0);
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tm_arena_free(A);
	A = NULL;
	return 0;
}

static enum tm_code decode(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
			   const struct tm_json_limits *lim, ProtobufCMessage **m,
			   struct tm_json_error *e)
{
	enum tm_code code = tm_json_to_pb(d, json, len, lim, A, m, e);
	if (code != TM_OK)
		print_message("refused: [%s] %s\n", e->field, e->description);
	return code;
}

/* Decodes json into d with the given limits; it must succeed and pass protobuf_c_message_check. */
static ProtobufCMessage *decode_ok_as(const ProtobufCMessageDescriptor *d, const char *json,
				      const struct tm_json_limits *lim)
{
	struct tm_json_error e;
	ProtobufCMessage *m = NULL;

	assert_int_equal(decode(d, json, strlen(json), lim, &m, &e), TM_OK);
	assert_non_null(m);
	assert_ptr_equal(m->descriptor, d);
	assert_string_equal(e.field, "");
	assert_string_equal(e.description, "");
	assert_true(protobuf_c_message_check(m));
	return m;
}

static AllTypes *decode_ok(const char *json)
{
	return (AllTypes *)decode_ok_as(ALL, json, NULL);
}

/* json (len bytes) must be refused with exactly this code, path and description. */
static void expect_refused_as(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
			      const struct tm_json_limits *lim, enum tm_code code,
			      const char *field, const char *desc)
{
	struct tm_json_error e;
	ProtobufCMessage *m = (ProtobufCMessage *)&e; /* must be reset to NULL */

	assert_int_equal(tm_json_to_pb(d, json, len, lim, A, &m, &e), code);
	assert_null(m);
	assert_string_equal(e.field, field);
	assert_string_equal(e.description, desc);
	assert_true(tm_utf8_valid(e.field, strlen(e.field)));
}

static void expect_refused(const char *json, const char *field, const char *desc)
{
	expect_refused_as(ALL, json, strlen(json), NULL, TM_E_VALIDATION_FAILED, field, desc);
}

/* Like expect_refused but only the start of the description is fixed (cJSON's byte offsets). */
static void expect_malformed(const char *json, size_t len)
{
	struct tm_json_error e;
	ProtobufCMessage *m = NULL;

	assert_int_equal(tm_json_to_pb(ALL, json, len, NULL, A, &m, &e), TM_E_VALIDATION_FAILED);
	assert_null(m);
	assert_string_equal(e.field, "");
	assert_memory_equal(e.description, "malformed JSON at byte ", 23);
}

/* The JSON text of m (caller frees). */
static char *render(const ProtobufCMessage *m)
{
	struct tm_buf b;

	tm_buf_init(&b);
	assert_int_equal(tm_pb_to_json(m, &b), 0);
	char *s = tm_buf_steal(&b, NULL);
	assert_non_null(s);
	return s;
}

static void assert_renders(const ProtobufCMessage *m, const char *want)
{
	char *got = render(m);
	assert_string_equal(got, want);
	free(got);
}

/* m -> wire -> message again (arena-allocated), checked. */
static ProtobufCMessage *repack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *wire = tm_arena_alloc(A, n + 1);
	ProtobufCAllocator al = tm_arena_pb_allocator(A);

	assert_non_null(wire);
	assert_int_equal(protobuf_c_message_pack(m, wire), n);
	ProtobufCMessage *back = protobuf_c_message_unpack(m->descriptor, &al, n, wire);
	assert_non_null(back);
	assert_true(protobuf_c_message_check(back));
	return back;
}

/* JSON -> message -> wire -> message -> JSON: the text comes back unchanged. */
static void assert_round_trip_as(const ProtobufCMessageDescriptor *d, const char *json)
{
	ProtobufCMessage *m = decode_ok_as(d, json, NULL);

	assert_renders(m, json);
	assert_renders(repack(m), json);
}

static void assert_round_trip(const char *json)
{
	assert_round_trip_as(ALL, json);
}

static AllTypes *all_types_new(void)
{
	AllTypes *m = tm_arena_alloc(A, sizeof(*m));
	assert_non_null(m);
	taskmesh__test__v1__all_types__init(m);
	return m;
}

/* `prefix` + n copies of `open` + `middle` + n copies of `close` (caller frees). */
static char *nest(const char *prefix, const char *open, const char *middle, const char *close,
		  int n)
{
	struct tm_buf b;

	tm_buf_init(&b);
	tm_buf_puts(&b, prefix);
	for (int i = 0; i < n; i++)
		tm_buf_puts(&b, open);
	tm_buf_puts(&b, middle);
	for (int i = 0; i < n; i++)
		tm_buf_puts(&b, close);
	char *s = tm_buf_steal(&b, NULL);
	assert_non_null(s);
	return s;
}

/* ---- round trips ----------------------------------------------------------------------- */

/* Every field of AllTypes set, in output form (field number order). */
static const char full_json[] =
	"{\"singleInt32\":-2147483648,\"singleSint32\":2147483647,\"singleSfixed32\":-42,"
	"\"singleUint32\":4294967295,\"singleFixed32\":7,"
	"\"singleInt64\":\"-9223372036854775808\",\"singleSint64\":\"9223372036854775807\","
	"\"singleSfixed64\":\"-1\",\"singleUint64\":\"18446744073709551615\","
	"\"singleFixed64\":\"12345678901234567890\","
	"\"singleFloat\":1.5,\"singleDouble\":0.1,\"singleBool\":true,"
	"\"singleString\":\"h\xc3\xa9llo \\\"q\\\" \\\\ \\n\\t\\u0001 \xe2\x98\x83 \xf0\x9d\x84\x9e\","
	"\"singleBytes\":\"AAEC/f7/\",\"singleEnum\":\"dark_red\","
	"\"singleNested\":{\"name\":\"n\",\"count\":\"3\",\"leaf\":{\"name\":\"l\",\"level\":2},"
	"\"items\":[{\"name\":\"a\",\"level\":1},{\"name\":\"b\",\"level\":0}]},"
	"\"repeatedInt32\":[1,-2],\"repeatedSint32\":[-3],\"repeatedSfixed32\":[4],"
	"\"repeatedUint32\":[5],\"repeatedFixed32\":[6],\"repeatedInt64\":[\"7\",\"-8\"],"
	"\"repeatedSint64\":[\"-9\"],\"repeatedSfixed64\":[\"10\"],\"repeatedUint64\":[\"11\"],"
	"\"repeatedFixed64\":[\"12\"],"
	"\"repeatedFloat\":[0.25,3.4028235e+38,\"NaN\",0.1],"
	"\"repeatedDouble\":[1e+300,\"-Infinity\",3,1.7976931348623157e+308,\"Infinity\"],"
	"\"repeatedBool\":[true,false],\"repeatedString\":[\"\",\"x\"],"
	"\"repeatedBytes\":[\"\",\"YQ==\",\"YWI=\"],\"repeatedEnum\":[\"green\",\"light_sky_blue\"],"
	"\"repeatedNested\":[{\"name\":\"\",\"count\":\"0\",\"items\":[]}],"
	"\"labels\":{\"a\":1,\"b\":-1},"
	"\"nestedByName\":{\"k\":{\"name\":\"v\",\"count\":\"1\",\"items\":[]}},"
	"\"namesById\":{\"-5\":\"neg\",\"9007199254740993\":\"big\"},"
	"\"flags\":{\"true\":\"yes\",\"false\":\"no\"},"
	"\"colorsByCode\":{\"4294967295\":\"green\"},"
	"\"choiceNested\":{\"name\":\"c\",\"count\":\"0\",\"items\":[]}}";

/* An empty AllTypes: every field with its default, no message fields, no oneof member. */
static const char empty_json[] =
	"{\"singleInt32\":0,\"singleSint32\":0,\"singleSfixed32\":0,\"singleUint32\":0,"
	"\"singleFixed32\":0,\"singleInt64\":\"0\",\"singleSint64\":\"0\",\"singleSfixed64\":\"0\","
	"\"singleUint64\":\"0\",\"singleFixed64\":\"0\",\"singleFloat\":0,\"singleDouble\":0,"
	"\"singleBool\":false,\"singleString\":\"\",\"singleBytes\":\"\",\"singleEnum\":\"\","
	"\"repeatedInt32\":[],\"repeatedSint32\":[],\"repeatedSfixed32\":[],\"repeatedUint32\":[],"
	"\"repeatedFixed32\":[],\"repeatedInt64\":[],\"repeatedSint64\":[],\"repeatedSfixed64\":[],"
	"\"repeatedUint64\":[],\"repeatedFixed64\":[],\"repeatedFloat\":[],\"repeatedDouble\":[],"
	"\"repeatedBool\":[],\"repeatedString\":[],\"repeatedBytes\":[],\"repeatedEnum\":[],"
	"\"repeatedNested\":[],\"labels\":{},\"nestedByName\":{},\"namesById\":{},\"flags\":{},"
	"\"colorsByCode\":{}}";

static void test_round_trip_of_every_field_type(void **state)
{
	(void)state;
	assert_round_trip(full_json);
}

static void test_decoded_values_are_exact(void **state)
{
	(void)state;
	AllTypes *m = decode_ok(full_json);
	static const uint8_t bytes[] = {0, 1, 2, 0xfd, 0xfe, 0xff};

	assert_int_equal(m->single_int32, INT32_MIN);
	assert_true(m->single_int64 == INT64_MIN);
	assert_true(m->single_sint64 == INT64_MAX);
	assert_true(m->single_uint64 == UINT64_MAX);
	assert_true(m->single_fixed64 == 12345678901234567890ULL);
	assert_true(m->single_double == 0.1);
	assert_true(m->single_float == 1.5f);
	assert_string_equal(m->single_string,
			    "h\xc3\xa9llo \"q\" \\ \n\t\x01 \xe2\x98\x83 \xf0\x9d\x84\x9e");
	assert_int_equal(m->single_bytes.len, sizeof(bytes));
	assert_memory_equal(m->single_bytes.data, bytes, sizeof(bytes));
	assert_int_equal(m->single_enum, TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_DARK_RED);
	assert_string_equal(m->single_nested->items[1]->name, "b");
	assert_true(m->repeated_float[1] == FLT_MAX);
	assert_true(isnan(m->repeated_float[2]));
	assert_true(m->repeated_double[3] == DBL_MAX);
	assert_true(isinf(m->repeated_double[1]) && m->repeated_double[1] < 0);
	assert_int_equal(m->n_names_by_id, 2);
	assert_true(m->names_by_id[1]->key == 9007199254740993LL);
	assert_true(m->flags[0]->key && !m->flags[1]->key);
	assert_true(m->colors_by_code[0]->key == UINT32_MAX);
	assert_int_equal(m->choice_case, TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_NESTED);
	assert_string_equal(m->choice_nested->name, "c");
}

static void test_empty_body_is_the_empty_message(void **state)
{
	(void)state;
	ProtobufCMessage *m = NULL;
	struct tm_json_error e;

	assert_int_equal(tm_json_to_pb(ALL, "", 0, NULL, A, &m, &e), TM_OK);
	assert_non_null(m);
	assert_null(((AllTypes *)m)->single_nested);
	assert_renders(m, empty_json);
	assert_renders(repack(m), empty_json);
	assert_renders(&decode_ok("{}")->base, empty_json);
}

/* The contract is asymmetric on purpose: the zero enum value renders as "" but
 * a client may not send it, so a default reply is not a valid request. */
static void test_zero_enum_output_is_not_accepted_as_input(void **state)
{
	(void)state;
	expect_refused(empty_json, "singleEnum", "the unspecified enum value is not allowed");
}

static void test_output_lists_defaults_and_omits_unset_messages_and_oneofs(void **state)
{
	(void)state;
	AllTypes *m = all_types_new();

	assert_renders(&m->base, empty_json);
}

static void test_each_oneof_member_round_trips_with_its_case(void **state)
{
	(void)state;
	static const struct {
		const char *member;
		int choice_case;
	} cases[] = {
		{"\"choiceText\":\"\"", TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_TEXT},
		{"\"choiceNumber\":\"0\"", TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_NUMBER},
		{"\"choiceNested\":{\"name\":\"\",\"count\":\"0\",\"items\":[]}",
		 TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_NESTED},
		{"\"choiceColor\":\"green\"", TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_COLOR},
		{"\"choiceBytes\":\"\"", TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_BYTES},
	};
	char json[256], tail[256];

	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++) {
		snprintf(json, sizeof(json), "{\"singleEnum\":\"green\",%s}", cases[i].member);
		AllTypes *m = decode_ok(json);
		assert_int_equal(m->choice_case, cases[i].choice_case);
		/* a member holding its default value must survive packing */
		AllTypes *back = (AllTypes *)repack(&m->base);
		assert_int_equal(back->choice_case, cases[i].choice_case);
		/* the oneof is the last field of the output */
		char *out = render(&back->base);
		int n = snprintf(tail, sizeof(tail), "\"colorsByCode\":{},%s}", cases[i].member);
		size_t len = strlen(out);
		assert_true(len > (size_t)n);
		assert_string_equal(out + len - (size_t)n, tail);
		assert_renders(&m->base, out);
		free(out);
	}
}

static void test_snake_case_names_are_accepted(void **state)
{
	(void)state;
	AllTypes *m = decode_ok("{\"single_int32\":5,\"single_nested\":{\"leaf\":{\"level\":2}},"
				"\"names_by_id\":{\"1\":\"a\"},\"choice_text\":\"t\"}");

	assert_int_equal(m->single_int32, 5);
	assert_int_equal(m->single_nested->leaf->level, 2);
	assert_int_equal(m->n_names_by_id, 1);
	assert_string_equal(m->choice_text, "t");
}

static void test_null_field_is_absent(void **state)
{
	(void)state;
	AllTypes *m =
		decode_ok("{\"singleInt32\":null,\"singleNested\":null,\"repeatedInt32\":null,"
			  "\"labels\":null,\"singleEnum\":null,\"choiceText\":null,"
			  "\"choiceNumber\":\"4\"}");

	assert_int_equal(m->single_int32, 0);
	assert_null(m->single_nested);
	assert_int_equal(m->n_repeated_int32, 0);
	assert_int_equal(m->n_labels, 0);
	assert_int_equal(m->choice_case, TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_NUMBER);
	assert_true(m->choice_number == 4);
}

/* ---- integers ------------------------------------------------------------------------- */

static void test_int64_rendered_as_string(void **state)
{
	(void)state;
	AllTypes *m = all_types_new();
	int64_t r[] = {INT64_MIN, 0, 1};
	char *s;

	m->single_int64 = 9007199254740993LL;
	m->single_uint64 = UINT64_MAX;
	m->single_fixed64 = 1;
	m->n_repeated_sint64 = 3;
	m->repeated_sint64 = r;
	s = render(&m->base);
	assert_non_null(strstr(s, "\"singleInt64\":\"9007199254740993\","));
	assert_non_null(strstr(s, "\"singleUint64\":\"18446744073709551615\","));
	assert_non_null(strstr(s, "\"singleFixed64\":\"1\","));
	assert_non_null(strstr(s, "\"repeatedSint64\":[\"-9223372036854775808\",\"0\",\"1\"],"));
	free(s);
}

static void test_int64_accepts_numbers_up_to_2_pow_53(void **state)
{
	(void)state;
	AllTypes *m =
		decode_ok("{\"singleInt64\":9007199254740992,\"singleSint64\":-9007199254740992,"
			  "\"singleUint64\":1e15,\"repeatedFixed64\":[0,12],"
			  "\"repeatedSfixed64\":[-1.0, 2E+1]}");

	assert_true(m->single_int64 == 9007199254740992LL);
	assert_true(m->single_sint64 == -9007199254740992LL);
	assert_true(m->single_uint64 == 1000000000000000ULL);
	assert_true(m->repeated_fixed64[1] == 12);
	assert_true(m->repeated_sfixed64[0] == -1 && m->repeated_sfixed64[1] == 20);
}

static void test_int64_number_above_2_pow_53_is_refused(void **state)
{
	(void)state;
	const char *msg = "integers beyond 2^53 must be sent as strings";

	/* 2^53 + 1 parses to the double 2^53: the check must use the text */
	expect_refused("{\"singleInt64\":9007199254740993}", "singleInt64", msg);
	expect_refused("{\"singleSint64\":-9007199254740993}", "singleSint64", msg);
	expect_refused("{\"singleUint64\":1e16}", "singleUint64", msg);
	expect_refused("{\"repeatedFixed64\":[1,18446744073709551615]}", "repeatedFixed64[1]", msg);
	/* as strings the same values are fine */
	AllTypes *m = decode_ok("{\"singleInt64\":\"9007199254740993\"}");
	assert_true(m->single_int64 == 9007199254740993LL);
}

static void test_int64_strings_are_strict_and_range_checked(void **state)
{
	(void)state;
	static const char *const bad_syntax[] = {"+1", " 1",  "1 ",  "1.0", "0x10",
						 "",   "1e3", "--1", "-",   "1_000"};
	char json[128];

	AllTypes *m =
		decode_ok("{\"singleInt64\":\"9223372036854775807\","
			  "\"singleSint64\":\"-9223372036854775808\",\"singleSfixed64\":\"007\","
			  "\"singleUint64\":\"18446744073709551615\",\"singleFixed64\":\"0\"}");
	assert_true(m->single_int64 == INT64_MAX);
	assert_true(m->single_sint64 == INT64_MIN);
	assert_true(m->single_sfixed64 == 7);
	assert_true(m->single_uint64 == UINT64_MAX);

	for (size_t i = 0; i < TM_ARRAY_LEN(bad_syntax); i++) {
		snprintf(json, sizeof(json), "{\"singleInt64\":\"%s\"}", bad_syntax[i]);
		expect_refused(json, "singleInt64", "expected an integer (decimal digits)");
	}
	expect_refused("{\"singleInt64\":\"9223372036854775808\"}", "singleInt64",
		       "out of range for int64");
	expect_refused("{\"singleSint64\":\"-9223372036854775809\"}", "singleSint64",
		       "out of range for sint64");
	expect_refused("{\"singleSfixed64\":\"99999999999999999999999\"}", "singleSfixed64",
		       "out of range for sfixed64");
	expect_refused("{\"singleUint64\":\"18446744073709551616\"}", "singleUint64",
		       "out of range for uint64");
	expect_refused("{\"singleUint64\":\"-1\"}", "singleUint64", "out of range for uint64");
	expect_refused("{\"singleFixed64\":\"-0\"}", "singleFixed64", "out of range for fixed64");
}

static void test_int32_ranges_are_checked_for_each_width(void **state)
{
	(void)state;
	static const struct {
		const char *field, *type;
		const char *max, *over, *min, *under;
	} widths[] = {
		{"singleInt32", "int32", "2147483647", "2147483648", "-2147483648", "-2147483649"},
		{"singleSint32", "sint32", "2147483647", "2147483648", "-2147483648",
		 "-2147483649"},
		{"singleSfixed32", "sfixed32", "2147483647", "2147483648", "-2147483648",
		 "-2147483649"},
		{"singleUint32", "uint32", "4294967295", "4294967296", "0", "-1"},
		{"singleFixed32", "fixed32", "4294967295", "4294967296", "0", "-1"},
	};
	char json[128], msg[64];

	for (size_t i = 0; i < TM_ARRAY_LEN(widths); i++) {
		snprintf(msg, sizeof(msg), "out of range for %s", widths[i].type);
		const char *ok[] = {widths[i].max, widths[i].min};
		const char *bad[] = {widths[i].over, widths[i].under};
		for (int k = 0; k < 2; k++) {
			/* as a number and as a string */
			snprintf(json, sizeof(json), "{\"%s\":%s}", widths[i].field, ok[k]);
			decode_ok(json);
			snprintf(json, sizeof(json), "{\"%s\":\"%s\"}", widths[i].field, ok[k]);
			decode_ok(json);
			snprintf(json, sizeof(json), "{\"%s\":%s}", widths[i].field, bad[k]);
			expect_refused(json, widths[i].field, msg);
			snprintf(json, sizeof(json), "{\"%s\":\"%s\"}", widths[i].field, bad[k]);
			expect_refused(json, widths[i].field, msg);
		}
	}
	AllTypes *m = decode_ok("{\"singleInt32\":-2147483648,\"singleUint32\":4294967295}");
	assert_int_equal(m->single_int32, INT32_MIN);
	assert_true(m->single_uint32 == UINT32_MAX);
	expect_refused("{\"repeatedUint32\":[1,4294967296]}", "repeatedUint32[1]",
		       "out of range for uint32");
	expect_refused("{\"singleInt32\":1e400}", "singleInt32", "out of range for int32");
}

static void test_int32_accepts_integral_exponents_and_strings(void **state)
{
	(void)state;
	AllTypes *m = decode_ok("{\"repeatedInt32\":[1e3,2.5e1,1.0,100e-2,-0,0.0,21474836.47e2,"
				"-2147483648e0,\"1000\",\"-7\",0e999999999999],"
				"\"repeatedUint32\":[4.294967295E9]}");
	static const int32_t want[] = {1000, 25, 1, 1, 0, 0, 2147483647, INT32_MIN, 1000, -7, 0};

	assert_int_equal(m->n_repeated_int32, TM_ARRAY_LEN(want));
	assert_memory_equal(m->repeated_int32, want, sizeof(want));
	assert_true(m->repeated_uint32[0] == UINT32_MAX);
}

static void test_fraction_is_refused(void **state)
{
	(void)state;
	const char *msg = "expected an integer, got a fraction";

	expect_refused("{\"singleInt32\":1.5}", "singleInt32", msg);
	expect_refused("{\"singleInt32\":1e-1}", "singleInt32", msg);
	expect_refused("{\"singleUint32\":0.0000001}", "singleUint32", msg);
	expect_refused("{\"singleInt32\":2147483647.5}", "singleInt32", msg);
	/* 2^52 + 0.5 is a whole number once parsed as a double; the text says otherwise */
	expect_refused("{\"singleInt64\":4503599627370496.5}", "singleInt64", msg);
	expect_refused("{\"singleInt32\":1.0000000000000001}", "singleInt32", msg);
	expect_refused("{\"repeatedSint32\":[1,2,3.25]}", "repeatedSint32[2]", msg);
	expect_refused("{\"singleInt32\":1e-999999999999}", "singleInt32", msg);
}

/* ---- other scalars ------------------------------------------------------------------- */

static void test_float_special_values_in_and_out(void **state)
{
	(void)state;
	AllTypes *m = decode_ok("{\"singleFloat\":\"-Infinity\",\"singleDouble\":\"NaN\","
				"\"repeatedDouble\":[\"Infinity\",-1e-300]}");

	assert_true(isinf(m->single_float) && m->single_float < 0);
	assert_true(isnan(m->single_double));
	assert_true(isinf(m->repeated_double[0]) && m->repeated_double[0] > 0);
	char *s = render(&m->base);
	assert_non_null(strstr(s, "\"singleFloat\":\"-Infinity\",\"singleDouble\":\"NaN\","));
	assert_non_null(strstr(s, "\"repeatedDouble\":[\"Infinity\",-1e-300],"));
	free(s);
	expect_refused("{\"singleFloat\":\"nan\"}", "singleFloat",
		       "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
	expect_refused("{\"singleDouble\":\"1.5\"}", "singleDouble",
		       "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
	expect_refused("{\"singleFloat\":3.5e38}", "singleFloat", "out of range for float");
	expect_refused("{\"singleFloat\":-3.5e38}", "singleFloat", "out of range for float");
	expect_refused("{\"singleDouble\":1e999}", "singleDouble", "number out of range");
	expect_refused("{\"repeatedDouble\":[-1e999]}", "repeatedDouble[0]", "number out of range");
}

static void test_doubles_and_floats_print_shortest_round_trip_form(void **state)
{
	(void)state;
	static const struct {
		double v;
		const char *text;
	} doubles[] = {
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{3.0, "3"},
		{-0.0, "-0"},
		{1e21, "1e+21"},
		{123456789012345678.0, "1.2345678901234568e+17"},
		{5e-324, "4.94065645841247e-324"},
		{DBL_MAX, "1.7976931348623157e+308"},
	};
	static const struct {
		float v;
		const char *text;
	} floats[] = {
		{0.1f, "0.1"},
		{1.0f / 3, "0.33333334"},
		{16777216.0f, "16777216"},
		{FLT_MAX, "3.4028235e+38"},
		{FLT_MIN, "1.1754944e-38"},
	};
	char want[160];

	for (size_t i = 0; i < TM_ARRAY_LEN(doubles); i++) {
		AllTypes *m = all_types_new();
		m->single_enum = TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_GREEN; /* decodable */
		m->single_double = doubles[i].v;
		char *s = render(&m->base);
		snprintf(want, sizeof(want), "\"singleDouble\":%s,", doubles[i].text);
		assert_non_null(strstr(s, want));
		AllTypes *back = decode_ok(s);
		assert_memory_equal(&back->single_double, &doubles[i].v, sizeof(double));
		free(s);
	}
	for (size_t i = 0; i < TM_ARRAY_LEN(floats); i++) {
		AllTypes *m = all_types_new();
		m->single_enum = TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_GREEN;
		m->single_float = floats[i].v;
		char *s = render(&m->base);
		snprintf(want, sizeof(want), "\"singleFloat\":%s,", floats[i].text);
		assert_non_null(strstr(s, want));
		AllTypes *back = decode_ok(s);
		assert_memory_equal(&back->single_float, &floats[i].v, sizeof(float));
		free(s);
	}
}

static void test_bool_accepts_only_true_and_false(void **state)
{
	(void)state;
	AllTypes *m = decode_ok("{\"singleBool\":true,\"repeatedBool\":[false,true]}");

	assert_true(m->single_bool);
	assert_false(m->repeated_bool[0]);
	expect_refused("{\"singleBool\":1}", "singleBool", "expected a boolean");
	expect_refused("{\"singleBool\":\"true\"}", "singleBool", "expected a boolean");
	expect_refused("{\"repeatedBool\":[true,0]}", "repeatedBool[1]", "expected a boolean");
}

static void test_bytes_accept_standard_and_url_safe_base64(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *data;
	} ok[] = {
		{"AAEC/f7/", "\x00\x01\x02\xfd\xfe\xff"},
		{"AAEC_f7_", "\x00\x01\x02\xfd\xfe\xff"},
		{"YQ==", "a"},
		{"YQ", "a"},
		{"YWI=", "ab"},
		{"YWI", "ab"},
		{"YWJj", "abc"},
		{"-_-_", "\xfb\xff\xbf"},
		{"+/+/", "\xfb\xff\xbf"},
		{"", ""},
	};
	char json[128];

	for (size_t i = 0; i < TM_ARRAY_LEN(ok); i++) {
		snprintf(json, sizeof(json), "{\"singleBytes\":\"%s\"}", ok[i].text);
		AllTypes *m = decode_ok(json);
		size_t n = ok[i].text[0] == 'A' ? 6 : strlen(ok[i].data);
		assert_int_equal(m->single_bytes.len, n);
		if (n > 0)
			assert_memory_equal(m->single_bytes.data, ok[i].data, n);
	}
	/* output is always standard alphabet with padding */
	AllTypes *m =
		decode_ok("{\"singleBytes\":\"AAEC_f7_\",\"repeatedBytes\":[\"YQ\",\"YWI\"]}");
	char *s = render(&m->base);
	assert_non_null(strstr(s, "\"singleBytes\":\"AAEC/f7/\","));
	assert_non_null(strstr(s, "\"repeatedBytes\":[\"YQ==\",\"YWI=\"],"));
	free(s);
}

static void test_invalid_base64_is_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"YQ=",	    /* padding that does not complete a group */
		"Y",	    /* one digit cannot encode a byte */
		"Y===",	    /* too much padding */
		"YQ==YQ==", /* padding in the middle */
		"A+_B",	    /* two alphabets mixed */
		"YR==",	    /* non-zero trailing bits */
		"@@@@",	    /* not base64 at all */
		"YQ== ",    /* trailing space */
		"Y Q=",	    /* inner space */
	};
	char json[128];

	for (size_t i = 0; i < TM_ARRAY_LEN(bad); i++) {
		snprintf(json, sizeof(json), "{\"singleBytes\":\"%s\"}", bad[i]);
		expect_refused(json, "singleBytes", "invalid base64");
	}
	expect_refused("{\"repeatedBytes\":[\"YQ==\",\"!\"]}", "repeatedBytes[1]",
		       "invalid base64");
	expect_refused("{\"choiceBytes\":\"YQ=\"}", "choiceBytes", "invalid base64");
	expect_refused("{\"singleBytes\":1}", "singleBytes", "expected a base64 string");
}

static void test_strings_decode_escapes(void **state)
{
	(void)state;
	AllTypes *m = decode_ok("{\"singleString\":\"\\u00e9\\ud834\\udd1e\\/\\b\\f\\\\u0000\"}");

	/* the escaped backslash makes "\u0000" plain text, not a NUL */
	assert_string_equal(m->single_string, "\xc3\xa9\xf0\x9d\x84\x9e/\b\f\\u0000");
}

static void test_invalid_utf8_is_refused(void **state)
{
	(void)state;
	const char *msg = "string is not valid UTF-8";

	expect_refused("{\"singleString\":\"a\xff\"}", "singleString", msg);
	expect_refused("{\"singleString\":\"\xc0\xaf\"}", "singleString", msg);	    /* overlong */
	expect_refused("{\"singleString\":\"\xed\xa0\x80\"}", "singleString", msg); /* surrogate */
	expect_refused("{\"singleString\":\"\xe2\x98\"}", "singleString", msg);	    /* truncated */
	expect_refused("{\"repeatedString\":[\"ok\",\"\xf5\x80\x80\x80\"]}", "repeatedString[1]",
		       msg);
	expect_refused("{\"nestedByName\":{\"k\":{\"name\":\"\x80\"}}}", "nestedByName[\"k\"].name",
		       msg);
	expect_refused("{\"labels\":{\"\xff\":1}}", "labels", "map key is not valid UTF-8");
	/* an unknown name is shown as "?" when it is not UTF-8 */
	expect_refused("{\"\xff\":1}", "?", "unknown field");
	/* a lone surrogate escape is malformed JSON for cJSON */
	const char *lone = "{\"singleString\":\"\\ud800\"}";
	expect_malformed(lone, strlen(lone));
}

static void test_nul_in_string_is_refused(void **state)
{
	(void)state;
	const char *msg = "string contains U+0000";

	expect_refused("{\"singleString\":\"a\\u0000b\"}", "singleString", msg);
	expect_refused("{\"repeatedString\":[\"ok\",\"\\u0000\"]}", "repeatedString[1]", msg);
	expect_refused("{\"singleInt32\":\"1\\u0000\"}", "singleInt32", msg);
	expect_refused("{\"singleEnum\":\"green\\u0000x\"}", "singleEnum", msg);
	expect_refused("{\"singleBytes\":\"YQ==\\u0000\"}", "singleBytes", msg);
	expect_refused("{\"singleDouble\":\"NaN\\u0000\"}", "singleDouble", msg);
	expect_refused("{\"singleInt32\\u0000x\":1}", "singleInt32", "field name contains U+0000");
	expect_refused("{\"labels\":{\"a\\u0000\":1}}", "labels", "map key contains U+0000");
	expect_refused("{\"singleString\":null,\"choiceText\":\"\\u0000\"}", "choiceText", msg);
}

/* ---- enums ----------------------------------------------------------------------------- */

static void test_enum_name_helper_strips_the_type_prefix(void **state)
{
	(void)state;
	const ProtobufCEnumDescriptor *ps = &taskmesh__v1__project_status__descriptor;
	const ProtobufCEnumDescriptor *tc = &taskmesh__test__v1__test_color__descriptor;
	char b[64];

	tm_json_enum_name(ps, TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_IN_PROGRESS, b,
			  sizeof(b));
	assert_string_equal(b, "in_progress");
	tm_json_enum_name(ps, TASKMESH__V1__PROJECT_STATUS__PROJECT_STATUS_ANALYSIS_FAILED, b,
			  sizeof(b));
	assert_string_equal(b, "analysis_failed");
	tm_json_enum_name(ps, 0, b, sizeof(b));
	assert_string_equal(b, "");
	tm_json_enum_name(tc, 3, b, sizeof(b));
	assert_string_equal(b, "light_sky_blue");
	tm_json_enum_name(tc, 99, b, sizeof(b)); /* unknown numbers stay visible */
	assert_string_equal(b, "99");
	tm_json_enum_name(tc, 1, b, 5); /* truncated, always terminated */
	assert_string_equal(b, "dark");
	b[0] = 'x';
	tm_json_enum_name(tc, 1, b, 1);
	assert_string_equal(b, "");
	tm_json_enum_name(&http_desc, 404, b, sizeof(b)); /* acronym: HTTPStatus -> HTTP_STATUS_ */
	assert_string_equal(b, "not_found");
	tm_json_enum_name(&http_desc, 5, b, sizeof(b)); /* no prefix: the whole name */
	assert_string_equal(b, "other_name");
}

static void test_enum_input_accepts_json_and_full_names_only(void **state)
{
	(void)state;
	AllTypes *m = decode_ok("{\"singleEnum\":\"dark_red\","
				"\"repeatedEnum\":[\"TEST_COLOR_LIGHT_SKY_BLUE\",\"green\"],"
				"\"colorsByCode\":{\"1\":\"dark_red\"}}");
	const char *zero = "the unspecified enum value is not allowed";
	const char *unknown = "unknown enum value";

	assert_int_equal(m->single_enum, TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_DARK_RED);
	assert_int_equal(m->repeated_enum[0],
			 TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_LIGHT_SKY_BLUE);
	assert_int_equal(m->colors_by_code[0]->value,
			 TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_DARK_RED);
	expect_refused("{\"singleEnum\":\"\"}", "singleEnum", zero);
	expect_refused("{\"singleEnum\":\"unspecified\"}", "singleEnum", zero);
	expect_refused("{\"singleEnum\":\"TEST_COLOR_UNSPECIFIED\"}", "singleEnum", zero);
	expect_refused("{\"repeatedEnum\":[\"green\",\"\"]}", "repeatedEnum[1]", zero);
	expect_refused("{\"singleEnum\":\"purple\"}", "singleEnum", unknown);
	expect_refused("{\"singleEnum\":\"DARK_RED\"}", "singleEnum", unknown);
	expect_refused("{\"singleEnum\":\"Dark_Red\"}", "singleEnum", unknown);
	expect_refused("{\"singleEnum\":\"dark_red \"}", "singleEnum", unknown);
	expect_refused("{\"singleEnum\":1}", "singleEnum", "expected an enum name (a string)");
	expect_refused("{\"singleEnum\":0}", "singleEnum", "expected an enum name (a string)");
	expect_refused("{\"colorsByCode\":{\"1\":2}}", "colorsByCode[\"1\"]",
		       "expected an enum name (a string)");
	expect_refused("{\"choiceColor\":\"\"}", "choiceColor", zero);
}

/* ---- maps ------------------------------------------------------------------------------ */

static void test_map_keys_are_typed_and_rendered_as_strings(void **state)
{
	(void)state;
	AllTypes *m =
		decode_ok("{\"namesById\":{\"-9223372036854775808\":\"min\",\"007\":\"seven\"},"
			  "\"flags\":{\"false\":\"f\"},\"colorsByCode\":{\"0\":\"green\"}}");

	assert_true(m->names_by_id[0]->key == INT64_MIN);
	assert_true(m->names_by_id[1]->key == 7);
	char *s = render(&m->base);
	assert_non_null(strstr(s,
			       "\"namesById\":{\"-9223372036854775808\":\"min\",\"7\":\"seven\"},"
			       "\"flags\":{\"false\":\"f\"},\"colorsByCode\":{\"0\":\"green\"}}"));
	free(s);
	expect_refused("{\"namesById\":{\"x\":\"a\"}}", "namesById[\"x\"]",
		       "map key must be a decimal integer");
	expect_refused("{\"namesById\":{\"1.0\":\"a\"}}", "namesById[\"1.0\"]",
		       "map key must be a decimal integer");
	expect_refused("{\"namesById\":{\"9223372036854775808\":\"a\"}}",
		       "namesById[\"9223372036854775808\"]", "out of range for int64");
	expect_refused("{\"colorsByCode\":{\"-1\":\"green\"}}", "colorsByCode[\"-1\"]",
		       "out of range for uint32");
	expect_refused("{\"colorsByCode\":{\"4294967296\":\"green\"}}",
		       "colorsByCode[\"4294967296\"]", "out of range for uint32");
	expect_refused("{\"flags\":{\"yes\":\"a\"}}", "flags[\"yes\"]",
		       "map key must be \"true\" or \"false\"");
	expect_refused("{\"labels\":{\"a\":null}}", "labels[\"a\"]", "map values must not be null");
	expect_refused("{\"nestedByName\":{\"a\":[]}}", "nestedByName[\"a\"]",
		       "expected an object");
}

static void test_duplicate_map_key_is_refused(void **state)
{
	(void)state;
	const char *msg = "duplicate map key";

	expect_refused("{\"labels\":{\"k\":1,\"j\":2,\"k\":3}}", "labels[\"k\"]", msg);
	expect_refused("{\"namesById\":{\"1\":\"a\",\"01\":\"b\"}}", "namesById[\"1\"]", msg);
	expect_refused("{\"flags\":{\"true\":\"a\",\"false\":\"b\",\"true\":\"c\"}}",
		       "flags[\"true\"]", msg);
	expect_refused("{\"colorsByCode\":{\"5\":\"green\",\"05\":\"green\"}}",
		       "colorsByCode[\"5\"]", msg);
	/* many distinct keys are fine */
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_puts(&b, "{\"labels\":{");
	for (int i = 0; i < 1000; i++)
		tm_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", (i * 7919) % 1000, i);
	tm_buf_puts(&b, "}}");
	assert_false(b.failed);
	AllTypes *m = decode_ok(b.data);
	assert_int_equal(m->n_labels, 1000);
	assert_string_equal(m->labels[1]->key, "k919");
	tm_buf_free(&b);
}

/* ---- structure errors ------------------------------------------------------------------- */

static void test_unknown_field_is_refused_with_path(void **state)
{
	(void)state;
	char json[512], want[64];

	expect_refused("{\"bogus\":1}", "bogus", "unknown field");
	expect_refused("{\"singleNested\":{\"leaf\":{\"nmae\":\"x\"}}}", "singleNested.leaf.nmae",
		       "unknown field");
	expect_refused("{\"SingleInt32\":1}", "SingleInt32", "unknown field");
	expect_refused("{\"singleint32\":1}", "singleint32", "unknown field");
	expect_refused("{\"bogus\":null}", "bogus", "unknown field");
	expect_refused("{\"a\\nb\":1}", "a?b", "unknown field");
	/* long names are cut (at a UTF-8 boundary) so paths stay short and valid */
	snprintf(json, sizeof(json), "{\"%0200d\":1}", 0);
	snprintf(want, sizeof(want), "%040d...", 0);
	expect_refused(json, want, "unknown field");
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_puts(&b, "{\"x");
	for (int i = 0; i < 100; i++)
		tm_buf_puts(&b, "\xc3\xa9");
	tm_buf_puts(&b, "\":1}");
	assert_false(b.failed);
	struct tm_buf w;
	tm_buf_init(&w);
	tm_buf_puts(&w, "x");
	for (int i = 0; i < 19; i++) /* 1 + 19 * 2 = 39 bytes; the next é would pass 40 */
		tm_buf_puts(&w, "\xc3\xa9");
	tm_buf_puts(&w, "...");
	expect_refused(b.data, w.data, "unknown field");
	tm_buf_free(&b);
	tm_buf_free(&w);
}

static void test_error_paths_are_exact(void **state)
{
	(void)state;
	expect_refused("{\"singleNested\":{\"items\":[{\"name\":\"a\"},{\"name\":5}]}}",
		       "singleNested.items[1].name", "expected a string");
	expect_refused("{\"labels\":{\"k\":\"x\"}}", "labels[\"k\"]",
		       "expected an integer (decimal digits)");
	expect_refused("{\"nestedByName\":{\"a\":{\"leaf\":{\"level\":1.5}}}}",
		       "nestedByName[\"a\"].leaf.level", "expected an integer, got a fraction");
	expect_refused("{\"repeatedNested\":[{},{\"items\":[{},{},{\"bogus\":1}]}]}",
		       "repeatedNested[1].items[2].bogus", "unknown field");
	/* a path uses the JSON name even when the client used the proto name */
	expect_refused("{\"single_nested\":{\"count\":true}}", "singleNested.count",
		       "expected an integer");
	expect_refused("{\"choiceNested\":{\"leaf\":{\"name\":[]}}}", "choiceNested.leaf.name",
		       "expected a string");
}

static void test_wrong_json_types_are_refused_for_each_kind(void **state)
{
	(void)state;
	static const struct {
		const char *json, *field, *desc;
	} cases[] = {
		{"{\"singleInt32\":true}", "singleInt32", "expected an integer"},
		{"{\"singleSint32\":[]}", "singleSint32", "expected an integer"},
		{"{\"singleUint32\":{}}", "singleUint32", "expected an integer"},
		{"{\"singleInt64\":false}", "singleInt64", "expected an integer"},
		{"{\"singleUint64\":{}}", "singleUint64", "expected an integer"},
		{"{\"singleFixed64\":[\"1\"]}", "singleFixed64", "expected an integer"},
		{"{\"singleFloat\":true}", "singleFloat", "expected a number"},
		{"{\"singleDouble\":[]}", "singleDouble", "expected a number"},
		{"{\"singleBool\":\"false\"}", "singleBool", "expected a boolean"},
		{"{\"singleString\":1}", "singleString", "expected a string"},
		{"{\"singleString\":{}}", "singleString", "expected a string"},
		{"{\"singleString\":false}", "singleString", "expected a string"},
		{"{\"singleBytes\":[]}", "singleBytes", "expected a base64 string"},
		{"{\"singleEnum\":true}", "singleEnum", "expected an enum name (a string)"},
		{"{\"singleNested\":\"x\"}", "singleNested", "expected an object"},
		{"{\"singleNested\":[]}", "singleNested", "expected an object"},
		{"{\"repeatedInt32\":1}", "repeatedInt32", "expected an array"},
		{"{\"repeatedString\":{}}", "repeatedString", "expected an array"},
		{"{\"repeatedNested\":\"x\"}", "repeatedNested", "expected an array"},
		{"{\"repeatedInt32\":[\"a\"]}", "repeatedInt32[0]",
		 "expected an integer (decimal digits)"},
		{"{\"repeatedNested\":[1]}", "repeatedNested[0]", "expected an object"},
		{"{\"repeatedInt32\":[null]}", "repeatedInt32[0]", "array items must not be null"},
		{"{\"repeatedInt32\":[[1]]}", "repeatedInt32[0]", "expected an integer"},
		{"{\"labels\":[]}", "labels", "expected an object"},
		{"{\"labels\":\"x\"}", "labels", "expected an object"},
		{"{\"choiceNested\":1}", "choiceNested", "expected an object"},
		{"{\"choiceNumber\":true}", "choiceNumber", "expected an integer"},
	};

	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++)
		expect_refused(cases[i].json, cases[i].field, cases[i].desc);
}

static void test_duplicate_field_is_refused(void **state)
{
	(void)state;
	const char *msg = "duplicate field";

	expect_refused("{\"singleInt32\":1,\"singleInt32\":2}", "singleInt32", msg);
	expect_refused("{\"singleInt32\":1,\"single_int32\":2}", "singleInt32", msg);
	expect_refused("{\"single_int32\":null,\"singleInt32\":2}", "singleInt32", msg);
	expect_refused("{\"singleNested\":{\"name\":\"a\",\"name\":\"b\"}}", "singleNested.name",
		       msg);
	expect_refused("{\"repeatedInt32\":[],\"repeated_int32\":[1]}", "repeatedInt32", msg);
	expect_refused("{\"choiceText\":\"a\",\"choice_text\":\"b\"}", "choiceText", msg);
}

static void test_two_oneof_members_are_refused(void **state)
{
	(void)state;
	const char *msg = "another member of the same oneof is already set";

	expect_refused("{\"choiceText\":\"a\",\"choiceNumber\":\"1\"}", "choiceNumber", msg);
	expect_refused("{\"choiceNested\":{},\"choiceBytes\":\"\"}", "choiceBytes", msg);
	expect_refused("{\"choiceColor\":\"green\",\"singleInt32\":1,\"choice_text\":\"\"}",
		       "choiceText", msg);
	/* null members are absent and do not count */
	AllTypes *m =
		decode_ok("{\"choiceText\":null,\"choiceColor\":\"green\",\"choiceNumber\":null}");
	assert_int_equal(m->choice_case, TASKMESH__TEST__V1__ALL_TYPES__CHOICE_CHOICE_COLOR);
}

static void test_top_level_must_be_an_object(void **state)
{
	(void)state;
	static const char *const docs[] = {"[]", "\"x\"", "1", "null", "true", " [ {} ] "};

	for (size_t i = 0; i < TM_ARRAY_LEN(docs); i++)
		expect_refused(docs[i], "", "expected a JSON object");
}

static void test_trailing_garbage_is_refused(void **state)
{
	(void)state;
	expect_refused("{} x", "", "malformed JSON at byte 3");
	expect_refused("{}{}", "", "malformed JSON at byte 2");
	expect_refused("{}]", "", "malformed JSON at byte 2");
	expect_refused_as(ALL, "{}\0x", 4, NULL, TM_E_VALIDATION_FAILED, "",
			  "malformed JSON at byte 2");
	/* trailing whitespace is fine; only `len` bytes are read */
	decode_ok("{} \r\n\t");
	ProtobufCMessage *m = NULL;
	struct tm_json_error e;
	assert_int_equal(tm_json_to_pb(ALL, "{}GARBAGE", 2, NULL, A, &m, &e), TM_OK);
}

static void test_malformed_json_is_refused(void **state)
{
	(void)state;
	static const char *const docs[] = {
		"{",
		"{\"a\"",
		"{\"singleInt32\":}",
		"{\"singleInt32\":1,}",
		"{'a':1}",
		"{\"repeatedInt32\":[1,]}",
		"{\"singleInt32\":.5}",
		"{\"singleDouble\":NaN}",
		"{\"singleInt32\":1 2}",
		" ",
		"{\"singleString\":\"a}",
		"{\"singleBool\":tru}",
	};

	for (size_t i = 0; i < TM_ARRAY_LEN(docs); i++)
		expect_malformed(docs[i], strlen(docs[i]));
	/* found by the pre-scan, so the byte is exact */
	expect_refused("{\"singleInt32\":01}", "", "malformed JSON at byte 15");
	expect_refused("{\"singleInt32\":1.}", "", "malformed JSON at byte 15");
	expect_refused("{\"singleInt32\":-}", "", "malformed JSON at byte 15");
	expect_refused("{\"singleInt32\":1e}", "", "malformed JSON at byte 15");
	expect_refused("{\"singleInt32\":1.2.3}", "", "malformed JSON at byte 15");
	expect_refused("{\"singleString\":\"a\x01\"}", "", "malformed JSON at byte 16");
	expect_refused("{\"singleString\":\"\\q\"}", "", "malformed JSON at byte 16");
	expect_refused("{\"singleString\":\"\\u12G4\"}", "", "malformed JSON at byte 16");
	expect_refused("{\x01}", "", "malformed JSON at byte 1");
	static const char escaped_nul[] = "{\"singleString\":\"\\\0\"}"; /* backslash, NUL byte */
	expect_refused_as(ALL, escaped_nul, sizeof(escaped_nul) - 1, NULL, TM_E_VALIDATION_FAILED,
			  "", "malformed JSON at byte 16");
}

/* ---- limits ---------------------------------------------------------------------------- */

static void test_depth_limit_is_exact(void **state)
{
	(void)state;
	struct tm_json_limits lim = tm_json_default_limits;
	/* object, map, map value, array, array item: depth 5 */
	const char *doc = "{\"nestedByName\":{\"k\":{\"items\":[{}]}}}";

	lim.max_depth = 5;
	decode_ok_as(ALL, doc, &lim);
	lim.max_depth = 4;
	expect_refused_as(ALL, doc, strlen(doc), &lim, TM_E_VALIDATION_FAILED, "",
			  "nesting depth exceeds the limit of 4");
	/* brackets inside strings do not count */
	lim.max_depth = 1;
	decode_ok_as(ALL, "{\"singleString\":\"[[[{{{\\\"[[\"}", &lim);

	/* the default limit, 32 levels of objects */
	char *ok = nest("", "{\"name\":\"x\",\"child\":", "{\"name\":\"x\"}", "}", 31);
	ProtobufCMessage *m = decode_ok_as(&presence_desc, ok, NULL);
	assert_renders(m, ok);
	free(ok);
	char *deep = nest("", "{\"name\":\"x\",\"child\":", "{\"name\":\"x\"}", "}", 32);
	expect_refused_as(&presence_desc, deep, strlen(deep), NULL, TM_E_VALIDATION_FAILED, "",
			  "nesting depth exceeds the limit of 32");
	free(deep);
}

static void test_depth_bomb_is_refused_quickly(void **state)
{
	(void)state;
	char *bomb = malloc(BOMB_BYTES);
	assert_non_null(bomb);
	memset(bomb, '[', BOMB_BYTES);

	int64_t t0 = tm_mono_ms();
	expect_refused_as(ALL, bomb, BOMB_BYTES, NULL, TM_E_VALIDATION_FAILED, "",
			  "nesting depth exceeds the limit of 32");
	bomb[0] = '{';
	expect_refused_as(ALL, bomb, BOMB_BYTES, NULL, TM_E_VALIDATION_FAILED, "",
			  "nesting depth exceeds the limit of 32");
	char *objs = nest("", "{\"child\":", "", "", BOMB_BYTES / 9);
	expect_refused_as(&presence_desc, objs, strlen(objs), NULL, TM_E_VALIDATION_FAILED, "",
			  "nesting depth exceeds the limit of 32");
	assert_true(tm_mono_ms() - t0 < BOMB_MAX_MS);
	free(objs);
	free(bomb);

	/* a limit above cJSON's own nesting limit (1000) is still safe: cJSON refuses */
	struct tm_json_limits lim = tm_json_default_limits;
	lim.max_depth = 5000;
	char *deep = nest("", "{\"name\":\"x\",\"child\":", "{\"name\":\"x\"}", "}", 2000);
	struct tm_json_error e;
	ProtobufCMessage *m = NULL;
	assert_int_equal(tm_json_to_pb(&presence_desc, deep, strlen(deep), &lim, A, &m, &e),
			 TM_E_VALIDATION_FAILED);
	assert_null(m);
	assert_memory_equal(e.description, "malformed JSON at byte ", 23);
	free(deep);
}

static void test_body_over_max_bytes_is_payload_too_large(void **state)
{
	(void)state;
	struct tm_json_limits lim = tm_json_default_limits;
	const char *doc = "{\"labels\":{}}   "; /* 16 bytes */

	lim.max_bytes = 16;
	decode_ok_as(ALL, doc, &lim);
	lim.max_bytes = 15;
	expect_refused_as(ALL, doc, 16, &lim, TM_E_PAYLOAD_TOO_LARGE, "",
			  "body larger than 15 bytes");
	/* checked before anything is read: even garbage gets 413 */
	expect_refused_as(ALL, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10",
			  16, &lim, TM_E_PAYLOAD_TOO_LARGE, "", "body larger than 15 bytes");
	/* the default is 1 MiB */
	size_t big = (1u << 20) + 1;
	char *body = malloc(big);
	assert_non_null(body);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	expect_refused_as(ALL, body, big, NULL, TM_E_PAYLOAD_TOO_LARGE, "",
			  "body larger than 1048576 bytes");
	body[big - 2] = '}';
	ProtobufCMessage *m = NULL;
	struct tm_json_error e;
	assert_int_equal(tm_json_to_pb(ALL, body, big - 1, NULL, A, &m, &e), TM_OK);
	free(body);
}

static void test_too_many_array_items_is_refused(void **state)
{
	(void)state;
	struct tm_json_limits lim = tm_json_default_limits;

	lim.max_array_items = 3;
	decode_ok_as(ALL, "{\"repeatedInt32\":[1,2,3],\"labels\":{\"a\":1,\"b\":2,\"c\":3}}", &lim);
	const char *arr = "{\"repeatedInt32\":[1,2,3,4]}";
	expect_refused_as(ALL, arr, strlen(arr), &lim, TM_E_VALIDATION_FAILED, "repeatedInt32",
			  "more than 3 items");
	const char *nested = "{\"singleNested\":{\"items\":[{},{},{},{}]}}";
	expect_refused_as(ALL, nested, strlen(nested), &lim, TM_E_VALIDATION_FAILED,
			  "singleNested.items", "more than 3 items");
	const char *map = "{\"labels\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}}";
	expect_refused_as(ALL, map, strlen(map), &lim, TM_E_VALIDATION_FAILED, "labels",
			  "more than 3 entries");
}

static void test_string_too_long_is_refused(void **state)
{
	(void)state;
	struct tm_json_limits lim = tm_json_default_limits;

	lim.max_string_bytes = 4;
	/* the limit is on decoded bytes: two escaped é are 4 bytes */
	AllTypes *m = (AllTypes *)decode_ok_as(
		ALL,
		"{\"singleString\":\"abcd\",\"repeatedString\":[\"\\u00e9\\u00e9\"],"
		"\"singleBytes\":\"YWJjZA==\",\"labels\":{\"abcd\":1}}",
		&lim);
	assert_string_equal(m->repeated_string[0], "\xc3\xa9\xc3\xa9");
	assert_int_equal(m->single_bytes.len, 4);
	static const struct {
		const char *json, *field, *desc;
	} cases[] = {
		{"{\"singleString\":\"abcde\"}", "singleString", "string longer than 4 bytes"},
		{"{\"repeatedString\":[\"\\u00e9\\u00e9a\"]}", "repeatedString[0]",
		 "string longer than 4 bytes"},
		{"{\"singleBytes\":\"YWJjZGU=\"}", "singleBytes", "bytes longer than 4 bytes"},
		{"{\"singleBytes\":\"YWJjZGVmZ2hpamtsbW5vcA==\"}", "singleBytes",
		 "bytes longer than 4 bytes"},
		{"{\"labels\":{\"abcde\":1}}", "labels", "map key longer than 4 bytes"},
	};
	for (size_t i = 0; i < TM_ARRAY_LEN(cases); i++)
		expect_refused_as(ALL, cases[i].json, strlen(cases[i].json), &lim,
				  TM_E_VALIDATION_FAILED, cases[i].field, cases[i].desc);
}

static void test_arena_exhaustion_is_payload_too_large(void **state)
{
	(void)state;
	struct tm_arena *small = tm_arena_new(SMALL_ARENA_BYTES);
	struct tm_buf b;
	struct tm_json_error e;
	ProtobufCMessage *m = NULL;

	assert_non_null(small);
	tm_buf_init(&b);
	tm_buf_puts(&b, "{\"repeatedString\":[");
	for (int i = 0; i < 200; i++)
		tm_buf_printf(&b, "%s\"%040d\"", i ? "," : "", i);
	tm_buf_puts(&b, "]}");
	assert_false(b.failed);
	assert_int_equal(tm_json_to_pb(ALL, b.data, b.len, NULL, small, &m, &e),
			 TM_E_PAYLOAD_TOO_LARGE);
	assert_null(m);
	assert_string_equal(e.description, "message too large for the request's memory");
	tm_buf_free(&b);
	tm_arena_free(small);
}

/* ---- explicit presence (proto2 labels) ----------------------------------------------------- */

static void test_optional_fields_keep_presence_and_required_fields_are_enforced(void **state)
{
	(void)state;
	struct presence *p =
		(struct presence *)decode_ok_as(&presence_desc, "{\"name\":\"x\"}", NULL);

	assert_false(p->has_count);
	assert_false(p->has_blob);
	assert_null(p->note);
	assert_null(p->child);
	assert_renders(&p->base, "{\"name\":\"x\"}");

	p = (struct presence *)decode_ok_as(
		&presence_desc, "{\"count\":0,\"name\":\"x\",\"blob\":\"\",\"note\":\"\"}", NULL);
	assert_true(p->has_count);
	assert_true(p->has_blob);
	assert_non_null(p->note);
	assert_round_trip_as(&presence_desc,
			     "{\"count\":0,\"name\":\"x\",\"blob\":\"\",\"note\":\"\"}");
	assert_round_trip_as(
		&presence_desc,
		"{\"count\":-3,\"name\":\"\",\"child\":{\"name\":\"c\",\"blob\":\"YQ==\"}}");

	expect_refused_as(&presence_desc, "{}", 2, NULL, TM_E_VALIDATION_FAILED, "name",
			  "required field missing");
	expect_refused_as(&presence_desc, "{\"name\":null}", 13, NULL, TM_E_VALIDATION_FAILED,
			  "name", "required field missing");
	const char *inner = "{\"name\":\"a\",\"child\":{\"count\":1}}";
	expect_refused_as(&presence_desc, inner, strlen(inner), NULL, TM_E_VALIDATION_FAILED,
			  "child.name", "required field missing");
}

static void test_output_of_a_cyclic_message_fails_instead_of_recursing(void **state)
{
	(void)state;
	struct presence p;
	struct tm_buf b;

	presence_init(&p.base);
	p.name = "loop";
	p.child = &p;
	tm_buf_init(&b);
	assert_int_equal(tm_pb_to_json(&p.base, &b), -1);
	assert_true(b.failed);
	tm_buf_free(&b);
}

/* ---- output ------------------------------------------------------------------------------ */

static void test_output_escapes_strings_into_valid_json(void **state)
{
	(void)state;
	AllTypes *m = all_types_new();
	char *rs[] = {"\x1f", "</script>"};

	m->single_enum = TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_GREEN;
	m->single_string = "q\"b\\s\n\r\t\x01\x7f/\xc3\xa9\xe2\x80\xa8";
	m->n_repeated_string = 2;
	m->repeated_string = rs;
	char *s = render(&m->base);
	assert_non_null(strstr(
		s,
		"\"singleString\":\"q\\\"b\\\\s\\n\\r\\t\\u0001\\u007f/\xc3\xa9\xe2\x80\xa8\","));
	assert_non_null(strstr(s, "\"repeatedString\":[\"\\u001f\",\"</script>\"],"));
	cJSON *tree = cJSON_Parse(s);
	assert_non_null(tree);
	cJSON_Delete(tree);
	AllTypes *back = decode_ok(s);
	assert_string_equal(back->single_string, m->single_string);
	free(s);
}

static void test_output_repairs_invalid_utf8(void **state)
{
	(void)state;
	AllTypes *m = all_types_new();
	Taskmesh__Test__V1__AllTypes__LabelsEntry e =
		TASKMESH__TEST__V1__ALL_TYPES__LABELS_ENTRY__INIT;
	Taskmesh__Test__V1__AllTypes__LabelsEntry *entries[] = {&e};

	m->single_enum = TASKMESH__TEST__V1__TEST_COLOR__TEST_COLOR_GREEN;
	m->single_string = "a\xff"
			   "b\xc3";
	e.key = "\xed\xa0\x80k";
	e.value = 1;
	m->n_labels = 1;
	m->labels = entries;
	char *s = render(&m->base);
	assert_non_null(strstr(s, "\"singleString\":\"a\xef\xbf\xbd"
				  "b\xef\xbf\xbd\","));
	assert_non_null(strstr(s, "\"labels\":{\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdk\":1}"));
	assert_true(tm_utf8_valid(s, strlen(s)));
	decode_ok(s);
	free(s);
}

static void test_unknown_enum_number_renders_as_its_digits(void **state)
{
	(void)state;
	AllTypes *m = all_types_new();

	m->single_enum = (Taskmesh__Test__V1__TestColor)42;
	char *s = render(&m->base);
	assert_non_null(strstr(s, "\"singleEnum\":\"42\","));
	free(s);
}

static void test_null_error_pointer_and_limits_are_allowed(void **state)
{
	(void)state;
	ProtobufCMessage *m = NULL;

	assert_int_equal(tm_json_to_pb(ALL, "{\"bogus\":1}", 11, NULL, A, &m, NULL),
			 TM_E_VALIDATION_FAILED);
	assert_null(m);
	assert_int_equal(tm_json_to_pb(ALL, "{\"singleInt32\":1}", 17, NULL, A, &m, NULL), TM_OK);
	assert_int_equal(((AllTypes *)m)->single_int32, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip_of_every_field_type),
		T(test_decoded_values_are_exact),
		T(test_empty_body_is_the_empty_message),
		T(test_output_lists_defaults_and_omits_unset_messages_and_oneofs),
		T(test_zero_enum_output_is_not_accepted_as_input),
		T(test_each_oneof_member_round_trips_with_its_case),
		T(test_snake_case_names_are_accepted),
		T(test_null_field_is_absent),
		T(test_int64_rendered_as_string),
		T(test_int64_accepts_numbers_up_to_2_pow_53),
		T(test_int64_number_above_2_pow_53_is_refused),
		T(test_int64_strings_are_strict_and_range_checked),
		T(test_int32_ranges_are_checked_for_each_width),
		T(test_int32_accepts_integral_exponents_and_strings),
		T(test_fraction_is_refused),
		T(test_float_special_values_in_and_out),
		T(test_doubles_and_floats_print_shortest_round_trip_form),
		T(test_bool_accepts_only_true_and_false),
		T(test_bytes_accept_standard_and_url_safe_base64),
		T(test_invalid_base64_is_refused),
		T(test_strings_decode_escapes),
		T(test_invalid_utf8_is_refused),
		T(test_nul_in_string_is_refused),
		T(test_enum_name_helper_strips_the_type_prefix),
		T(test_enum_input_accepts_json_and_full_names_only),
		T(test_map_keys_are_typed_and_rendered_as_strings),
		T(test_duplicate_map_key_is_refused),
		T(test_unknown_field_is_refused_with_path),
		T(test_error_paths_are_exact),
		T(test_wrong_json_types_are_refused_for_each_kind),
		T(test_duplicate_field_is_refused),
		T(test_two_oneof_members_are_refused),
		T(test_top_level_must_be_an_object),
		T(test_trailing_garbage_is_refused),
		T(test_malformed_json_is_refused),
		T(test_depth_limit_is_exact),
		T(test_depth_bomb_is_refused_quickly),
		T(test_body_over_max_bytes_is_payload_too_large),
		T(test_too_many_array_items_is_refused),
		T(test_string_too_long_is_refused),
		T(test_arena_exhaustion_is_payload_too_large),
		T(test_optional_fields_keep_presence_and_required_fields_are_enforced),
		T(test_output_of_a_cyclic_message_fails_instead_of_recursing),
		T(test_output_escapes_strings_into_valid_json),
		T(test_output_repairs_invalid_utf8),
		T(test_unknown_enum_number_renders_as_its_digits),
		T(test_null_error_pointer_and_limits_are_allowed),
	};

	return cmocka_run_group_tests_name("json_pb", tests, NULL, NULL);
}
