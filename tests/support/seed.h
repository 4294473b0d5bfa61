/* Test support: the reference data of migrations/seed. */
#ifndef TM_TEST_SEED_H
#define TM_TEST_SEED_H

#include "tm/taxonomy.h"

/* The repository's skill taxonomy (<source>/migrations/seed), for the caller
 * to free; NULL after printing why. */
struct tm_taxonomy *tm_test_seed_taxonomy(void);

#endif
