#include "seed.h"

#include <limits.h>
#include <stdio.h>

#include "stack.h"

struct tm_taxonomy *tm_test_seed_taxonomy(void)
{
	char dir[PATH_MAX], err[512];
	struct tm_taxonomy *t = NULL;

	snprintf(dir, sizeof(dir), "%s/migrations/seed", tm_test_source_dir());
	if (tm_taxonomy_load(&t, dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "loading the seed taxonomy: %s\n", err);
		return NULL;
	}
	return t;
}
