/*
 * GET /api/v1/openapi.json: the OpenAPI 3.1 document of exactly the routes in
 * the route table, generated from it and from the protobuf descriptors of the
 * request and reply messages at start, so it cannot drift from what is served
 * (OWASP API9). Schemas follow the transcoder's JSON mapping.
 */
#include <string.h>

#include <stdio.h>

#include "gateway.h"
#include "tm_version.h"
#include "tm/json_pb.h"
#include "tm/util.h"

#define OPENAPI_MAX_SCHEMAS 256 /* message types one document can describe */

struct doc {
	struct tm_buf b;
	const ProtobufCMessageDescriptor *seen[OPENAPI_MAX_SCHEMAS];
	int nseen;
};

static void put_str(struct tm_buf *b, const char *s)
{
	tm_buf_json_str(b, s, strlen(s));
}

/* Remembers a message type to describe under components; returns its name. */
static const char *want_schema(struct doc *d, const ProtobufCMessageDescriptor *m)
{
	for (int i = 0; i < d->nseen; i++)
		if (d->seen[i] == m)
			return m->short_name;
	if (d->nseen < OPENAPI_MAX_SCHEMAS)
		d->seen[d->nseen++] = m;
	else
		d->b.failed = true; /* a silent truncation would be a lie */
	return m->short_name;
}

static void put_ref(struct doc *d, const ProtobufCMessageDescriptor *m)
{
	tm_buf_puts(&d->b, "{\"$ref\":\"#/components/schemas/");
	tm_buf_puts(&d->b, want_schema(d, m));
	tm_buf_puts(&d->b, "\"}");
}

static void put_enum(struct doc *d, const ProtobufCEnumDescriptor *e)
{
	char name[128];
	tm_buf_puts(&d->b, "{\"type\":\"string\",\"enum\":[");
	for (unsigned i = 0, n = 0; i < e->n_values; i++) {
		if (e->values[i].value == 0)
			continue; /* the zero value is never valid on input */
		tm_json_enum_name(e, e->values[i].value, name, sizeof(name));
		tm_buf_puts(&d->b, n++ ? "," : "");
		put_str(&d->b, name);
	}
	tm_buf_puts(&d->b, "]}");
}

/* The schema of one value of a field (an element, for repeated fields). */
static void put_scalar(struct doc *d, const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		tm_buf_puts(&d->b, "{\"type\":\"string\",\"format\":\"int64\"}");
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		tm_buf_puts(&d->b, "{\"type\":\"number\"}");
		break;
	case PROTOBUF_C_TYPE_BOOL:
		tm_buf_puts(&d->b, "{\"type\":\"boolean\"}");
		break;
	case PROTOBUF_C_TYPE_STRING:
		tm_buf_puts(&d->b, "{\"type\":\"string\"}");
		break;
	case PROTOBUF_C_TYPE_BYTES:
		tm_buf_puts(&d->b, "{\"type\":\"string\",\"contentEncoding\":\"base64\"}");
		break;
	case PROTOBUF_C_TYPE_ENUM:
		put_enum(d, f->descriptor);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		put_ref(d, f->descriptor);
		break;
	default:
		tm_buf_puts(&d->b, "{\"type\":\"integer\",\"format\":\"int32\"}");
	}
}

static void put_field(struct doc *d, const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		put_scalar(d, f);
	} else if (tm_json_is_map_field(f)) {
		const ProtobufCMessageDescriptor *entry = f->descriptor;
		tm_buf_puts(&d->b, "{\"type\":\"object\",\"additionalProperties\":");
		put_scalar(d, &entry->fields[1]);
		tm_buf_putc(&d->b, '}');
	} else {
		tm_buf_puts(&d->b, "{\"type\":\"array\",\"items\":");
		put_scalar(d, f);
		tm_buf_putc(&d->b, '}');
	}
}

/* components/schemas/<Name>: an object with the message's fields. */
static void put_message(struct doc *d, const ProtobufCMessageDescriptor *m)
{
	char name[128];
	put_str(&d->b, m->short_name);
	tm_buf_puts(&d->b, ":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{");
	for (unsigned i = 0; i < m->n_fields; i++) {
		tm_json_field_name(m->fields[i].name, name, sizeof(name));
		tm_buf_puts(&d->b, i ? "," : "");
		put_str(&d->b, name);
		tm_buf_putc(&d->b, ':');
		put_field(d, &m->fields[i]);
	}
	tm_buf_puts(&d->b, "}}");
}

static void put_param(struct doc *d, const char *name, const char *in, bool required,
		      const ProtobufCFieldDescriptor *f)
{
	tm_buf_puts(&d->b, "{\"name\":");
	put_str(&d->b, name);
	tm_buf_printf(&d->b, ",\"in\":\"%s\",\"required\":%s,\"schema\":", in,
		      required ? "true" : "false");
	if (f)
		put_field(d, f);
	else
		tm_buf_puts(&d->b, "{\"type\":\"string\"}");
	tm_buf_putc(&d->b, '}');
}

/* Path parameters, then (routes without a body) the request's fields as query
 * parameters, then the Idempotency-Key header where the route takes one. */
static void put_parameters(struct doc *d, const struct gw_route *rt)
{
	char name[128];
	int n = 0;
	tm_buf_puts(&d->b, "\"parameters\":[");
	for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
		size_t l = strcspn(p + 1, "}");
		snprintf(name, sizeof(name), "%.*s", (int)l, p + 1);
		tm_buf_puts(&d->b, n++ ? "," : "");
		put_param(d, name, "path", true, NULL);
	}
	for (unsigned i = 0; rt->in && !(rt->flags & GW_BODY) && i < rt->in->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &rt->in->fields[i];
		char pat[140];
		tm_json_field_name(f->name, name, sizeof(name));
		snprintf(pat, sizeof(pat), "{%s}", f->name);
		if (strstr(rt->pattern, pat))
			continue; /* filled from the path */
		tm_buf_puts(&d->b, n++ ? "," : "");
		put_param(d, name, "query", false, f);
	}
	if (rt->flags & (GW_IDEMPOTENCY_KEY | GW_IDEMPOTENCY_REQUIRED)) {
		tm_buf_puts(&d->b, n++ ? "," : "");
		put_param(d, "Idempotency-Key", "header", rt->flags & GW_IDEMPOTENCY_REQUIRED,
			  NULL);
	}
	tm_buf_puts(&d->b, "]");
}

static void put_operation(struct doc *d, const struct gw_route *rt)
{
	const char *svc = rt->service == GW_LOCAL ? "operations" : gw_service_names[rt->service];
	tm_buf_puts(&d->b, "{\"operationId\":");
	tm_buf_printf(&d->b, "\"%s%s\"", rt->rpc ? rt->rpc : rt->method,
		      rt->rpc ? "" : rt->pattern);
	tm_buf_printf(&d->b, ",\"tags\":[\"%s\"],\"security\":%s,", svc,
		      rt->roles == GW_PUBLIC ? "[]" : "[{\"bearerAuth\":[]}]");
	put_parameters(d, rt);
	if (rt->flags & GW_BODY) {
		tm_buf_puts(&d->b, ",\"requestBody\":{\"required\":true,\"content\":"
				   "{\"application/json\":{\"schema\":");
		put_ref(d, rt->in);
		tm_buf_puts(&d->b, "}}}");
	}
	tm_buf_puts(&d->b, ",\"responses\":{\"2XX\":{\"description\":\"success\"");
	if (rt->out) {
		tm_buf_puts(&d->b, ",\"content\":{\"application/json\":{\"schema\":");
		put_ref(d, rt->out);
		tm_buf_puts(&d->b, "}}");
	}
	tm_buf_puts(&d->b, "},\"default\":{\"description\":\"an error\",\"content\":"
			   "{\"application/json\":{\"schema\":"
			   "{\"$ref\":\"#/components/schemas/ErrorReply\"}}}}}}");
}

static void put_paths(struct doc *d)
{
	int npaths = 0;
	tm_buf_puts(&d->b, "\"paths\":{");
	for (size_t i = 0; i < gw_nroutes; i++) {
		bool first = true;
		for (size_t k = 0; k < i && first; k++)
			first = strcmp(gw_routes[k].pattern, gw_routes[i].pattern) != 0;
		if (!first)
			continue; /* this path was written with its first route */
		tm_buf_puts(&d->b, npaths++ ? "," : "");
		put_str(&d->b, gw_routes[i].pattern);
		tm_buf_putc(&d->b, ':');
		tm_buf_putc(&d->b, '{');
		for (size_t k = i, nm = 0; k < gw_nroutes; k++) {
			if (strcmp(gw_routes[k].pattern, gw_routes[i].pattern) != 0)
				continue;
			char m[8];
			size_t ml = strlen(gw_routes[k].method);
			for (size_t c = 0; c < ml && c < sizeof(m) - 1; c++)
				m[c] = (char)(gw_routes[k].method[c] | 0x20); /* "GET" -> "get" */
			m[ml < sizeof(m) - 1 ? ml : sizeof(m) - 1] = '\0';
			tm_buf_printf(&d->b, "%s\"%s\":", nm++ ? "," : "", m);
			put_operation(d, &gw_routes[k]);
		}
		tm_buf_putc(&d->b, '}');
	}
	tm_buf_putc(&d->b, '}');
}

static const char error_schema[] =
	"\"ErrorReply\":{\"type\":\"object\",\"properties\":{\"error\":{\"type\":\"object\","
	"\"required\":[\"code\",\"message\",\"details\",\"requestId\",\"timestamp\"],"
	"\"properties\":{\"code\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"},"
	"\"details\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
	"{\"field\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"}}}},"
	"\"requestId\":{\"type\":\"string\"},\"timestamp\":{\"type\":\"string\","
	"\"format\":\"date-time\"}}}}}";

char *gw_openapi_build(size_t *len)
{
	struct doc d = {0};
	tm_buf_init(&d.b);
	tm_buf_printf(&d.b,
		      "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"taskmesh API\","
		      "\"version\":\"%s\"},",
		      TM_VERSION);
	put_paths(&d);
	tm_buf_puts(&d.b, ",\"components\":{\"securitySchemes\":{\"bearerAuth\":{\"type\":\"http\","
			  "\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\"}},\"schemas\":{");
	tm_buf_puts(&d.b, error_schema);
	for (int i = 0; i < d.nseen; i++) { /* grows while nested types are met */
		tm_buf_putc(&d.b, ',');
		put_message(&d, d.seen[i]);
	}
	tm_buf_puts(&d.b, "}}}");
	return tm_buf_steal(&d.b, len);
}

void gw_openapi(struct gw *g, struct gw_request *r)
{
	gw_reply_json(r, 200, g->openapi, g->openapi_len);
}
