#include "mhd_reply.h"

#include <stdio.h>
#include <string.h>

enum MHD_Result mhd_send_reply(struct MHD_Connection *c, unsigned int status,
			       struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

struct MHD_Response *mhd_text(const char *body, const char *content_type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);

	if (r && content_type)
		MHD_add_response_header(r, "Content-Type", content_type);
	return r;
}

bool mhd_header_line(char *buf, size_t cap, const char *key, const char *value)
{
	size_t used = strlen(buf);
	int n = snprintf(buf + used, cap - used, "%s: %s\n", key, value ? value : "");

	if (n < 0 || (size_t)n >= cap - used) {
		buf[used] = '\0'; /* whole lines only */
		return false;
	}
	return true;
}
