/* Replies for the loopback HTTP servers the tests run (the fakes of outside
 * APIs and throwaway servers), on libmicrohttpd. */
#ifndef TM_TEST_MHD_REPLY_H
#define TM_TEST_MHD_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

/* Queues a reply and releases it; r may be NULL (out of memory: the
 * connection is closed). */
enum MHD_Result mhd_send_reply(struct MHD_Connection *c, unsigned int status,
			       struct MHD_Response *r);

/* A reply holding a copy of body, with Content-Type content_type (none when
 * NULL); NULL when out of memory. */
struct MHD_Response *mhd_text(const char *body, const char *content_type);

/* Appends the line "key: value\n" to the NUL-terminated block buf of cap
 * bytes (for recording a request's headers); false, buf unchanged, when the
 * whole line does not fit. */
bool mhd_header_line(char *buf, size_t cap, const char *key, const char *value);

#endif
