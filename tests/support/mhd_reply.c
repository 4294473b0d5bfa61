#include "mhd_reply.h"

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
