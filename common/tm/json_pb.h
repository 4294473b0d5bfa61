/*
 * The generic JSON <-> protobuf transcoder, driven by protobuf-c descriptors.
 * It implements the proto3 JSON mapping with taskmesh's enum rule:
 *   - field names are lowerCamelCase (computed from the snake_case name); the
 *     original snake_case name is accepted on input too;
 *   - enums are the value name without the enum's UPPER_SNAKE type prefix, in
 *     lower case: PROJECT_STATUS_IN_PROGRESS <-> "in_progress" (API.md's
 *     contract); the zero value (*_UNSPECIFIED) is rendered as "" and refused
 *     on input;
 *   - int64/uint64/fixed64/sfixed64 are rendered as strings and accepted as
 *     strings or as JSON numbers that are exact integers of magnitude <= 2^53;
 *     32-bit integers are accepted as numbers or strings, exponent forms
 *     allowed, fractions refused, range checked;
 *   - float/double as numbers ("NaN", "Infinity", "-Infinity" as strings);
 *   - bool as true/false; bytes as standard or URL-safe base64 (output:
 *     standard with padding); strings must be valid UTF-8;
 *   - repeated fields are arrays, maps (protobuf-c's repeated *Entry
 *     messages) are objects, nested messages are objects;
 *   - members of a oneof are plain fields; at most one may be present;
 *   - null for a field means "absent";
 *   - unknown fields, duplicate fields and type mismatches are refused with
 *     the JSON path of the offending field.
 * Output emits every field with its value, defaults included, except unset
 * oneof members and unset message fields (omitted).
 */
#ifndef TM_JSON_PB_H
#define TM_JSON_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "tm/arena.h"
#include "tm/buf.h"
#include "tm/errors.h"

struct tm_json_limits {
	size_t max_bytes;	 /* whole document; over it: TM_E_PAYLOAD_TOO_LARGE */
	int max_depth;		 /* nesting of objects and arrays; over it: VALIDATION_FAILED */
	size_t max_array_items;	 /* per repeated field */
	size_t max_string_bytes; /* per string/bytes value (decoded) */
};

/* 1 MiB, depth 32, 10000 items, 1 MiB strings. */
extern const struct tm_json_limits tm_json_default_limits;

struct tm_json_error {
	char field[128];       /* JSON path, e.g. "skills[2].level"; "" for the document */
	char description[192]; /* e.g. "unknown field", "expected a string" */
};

/*
 * Parses `len` bytes of JSON into a new message of type `desc`, allocated in
 * `arena`. An empty body (len == 0) is the empty message. Returns TM_OK and
 * sets *out; or TM_E_VALIDATION_FAILED / TM_E_PAYLOAD_TOO_LARGE with `err`
 * filled (and *out NULL). `lim` NULL means the defaults. Limits are checked
 * before the document is parsed into a tree.
 */
enum tm_code tm_json_to_pb(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
			   const struct tm_json_limits *lim, struct tm_arena *arena,
			   ProtobufCMessage **out, struct tm_json_error *err);

/* Appends `msg` as a JSON object to `out`. Returns 0, or -1 if `out` failed. */
int tm_pb_to_json(const ProtobufCMessage *msg, struct tm_buf *out);

/* The JSON value of one enum number per the rule above (static storage is not
 * used: the result is written to buf, at most buflen bytes). */
void tm_json_enum_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t buflen);

/* The lowerCamelCase JSON name of a snake_case field name, into out. */
void tm_json_field_name(const char *snake, char *out, size_t outlen);

/* True when a repeated field is a protobuf map (rendered as a JSON object). */
bool tm_json_is_map_field(const ProtobufCFieldDescriptor *f);

#endif
