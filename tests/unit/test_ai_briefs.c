/*
 * How well the local analyzer (tm_ai_local_analyze: the taxonomy and its
 * extractor) finds the skills of real
 * client briefs: every tests/data/briefs/NN_name.txt against the skills a
 * reviewer wrote down in expected.tsv. Prints micro-averaged precision and
 * recall with each file's misses and extra finds, and fails below 0.80. This
 * is the skill part of the local analyzer's quality; project_type and
 * features are checked here only for being well-formed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/seed.h"
#include "../support/stack.h"
#include "tm/ai.h"
#include "tm/taxonomy.h"
#include "tm/util.h"

#define MIN_BRIEFS 32
#define MAX_BRIEFS 200
#define MAX_SKILLS_PER_BRIEF 64
#define BRIEF_BYTES_MAX (64 * 1024) /* a brief longer than this is a mistake in the data */
#define ROW_BYTES 4096
#define MIN_PRECISION 0.80
#define MIN_RECALL 0.80

static const char *const project_types[] = {
	"web_app",   "mobile_app", "api",  "data_pipeline", "ml",
	"ecommerce", "devops",	   "game", "marketplace",   "other",
};

static const char *const features[] = {
	"auth",
	"payments",
	"admin_dashboard",
	"search",
	"chat",
	"notifications",
	"file_upload",
	"maps",
	"analytics",
	"realtime",
	"api",
	"mobile_ui",
	"ci_cd",
	"ml_model",
	"data_ingest",
	"reporting",
	"multi_language",
	"i18n",
	"offline",
	"subscriptions",
	"reviews",
	"booking",
	"inventory",
};

struct row {
	char file[128];
	char skills[ROW_BYTES]; /* comma-separated canonical names */
	char project_type[32];
	char features[512]; /* comma-separated */
	int line;	    /* in expected.tsv */
};

struct fixture {
	struct tm_taxonomy *tax;
	char dir[PATH_MAX]; /* tests/data/briefs */
	struct row *rows;
	size_t nrows;
};

/* Copies field i (tab-separated) of line into out[cap]; -1 if missing or too long. */
static int field(const char *line, int i, char *out, size_t cap)
{
	const char *p = line;
	for (; i > 0; i--) {
		p = strchr(p, '\t');
		if (!p)
			return -1;
		p++;
	}
	size_t n = strcspn(p, "\t\r\n");
	if (n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int load_rows(struct fixture *f)
{
	char path[PATH_MAX], line[ROW_BYTES * 2];
	int lineno = 0;

	int n = snprintf(path, sizeof(path), "%s/expected.tsv", f->dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	FILE *fp = fopen(path, "r");
	if (!fp) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	f->rows = calloc(MAX_BRIEFS, sizeof(*f->rows));
	if (!f->rows) {
		fclose(fp);
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		if (++lineno == 1 || line[0] == '#' || line[0] == '\n')
			continue;
		if (f->nrows == MAX_BRIEFS)
			break;
		struct row *r = &f->rows[f->nrows++];
		r->line = lineno;
		if (field(line, 0, r->file, sizeof(r->file)) != 0 ||
		    field(line, 1, r->skills, sizeof(r->skills)) != 0 ||
		    field(line, 2, r->project_type, sizeof(r->project_type)) != 0 ||
		    field(line, 3, r->features, sizeof(r->features)) != 0) {
			fprintf(stderr, "expected.tsv:%d: expected 4 tab-separated columns\n",
				lineno);
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/tests/data/briefs", tm_test_source_dir());
	if (!(f->tax = tm_test_seed_taxonomy())) {
		free(f);
		return -1;
	}
	if (load_rows(f) != 0) {
		tm_taxonomy_free(f->tax);
		free(f->rows);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tm_taxonomy_free(f->tax);
	free(f->rows);
	free(f);
	return 0;
}

/* The brief's text (malloc'd, NUL-terminated); fails the test if unreadable. */
static char *read_brief(const struct fixture *f, const char *file)
{
	char path[PATH_MAX];
	int len = snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	assert_true(len > 0 && (size_t)len < sizeof(path));
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s", path);
	char *text = malloc(BRIEF_BYTES_MAX + 1);
	assert_non_null(text);
	size_t n = fread(text, 1, BRIEF_BYTES_MAX + 1, fp);
	fclose(fp);
	assert_true(n > 0 && n <= BRIEF_BYTES_MAX);
	text[n] = '\0';
	return text;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Splits a comma-separated list in place into at most max items; returns the count. */
static size_t split(char *s, char **items, size_t max)
{
	size_t n = 0;
	for (char *p = s; *p && n < max;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		items[n++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

/* True for "NN_name.txt". */
static bool is_brief_name(const char *s)
{
	size_t n = strlen(s);
	return n > 7 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == '_' &&
	       strcmp(s + n - 4, ".txt") == 0;
}

/* ---- the data ------------------------------------------------------------------------- */

static void test_every_brief_file_has_exactly_one_expected_row(void **state)
{
	struct fixture *f = *state;
	size_t files = 0;
	DIR *d = opendir(f->dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!is_brief_name(e->d_name))
			continue;
		files++;
		size_t seen = 0;
		for (size_t i = 0; i < f->nrows; i++)
			seen += strcmp(f->rows[i].file, e->d_name) == 0;
		if (seen != 1)
			fail_msg("%s has %zu rows in expected.tsv", e->d_name, seen);
	}
	closedir(d);
	assert_true(files >= MIN_BRIEFS);
	assert_int_equal(files, f->nrows);
}

static void test_expected_rows_use_known_labels_and_canonical_names(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->nrows; i++) {
		struct row r = f->rows[i];
		char *items[MAX_SKILLS_PER_BRIEF];
		size_t n;

		if (!is_brief_name(r.file))
			fail_msg("expected.tsv:%d: bad file name \"%s\"", r.line, r.file);
		if (!in_list(r.project_type, project_types, TM_ARRAY_LEN(project_types)))
			fail_msg("expected.tsv:%d: unknown project_type \"%s\"", r.line,
				 r.project_type);
		n = split(r.features, items, MAX_SKILLS_PER_BRIEF);
		for (size_t k = 0; k < n; k++)
			if (!in_list(items[k], features, TM_ARRAY_LEN(features)))
				fail_msg("expected.tsv:%d: unknown feature \"%s\"", r.line,
					 items[k]);
		n = split(r.skills, items, MAX_SKILLS_PER_BRIEF);
		assert_true(n > 0);
		for (size_t k = 0; k < n; k++) {
			const struct tm_skill *s = tm_taxonomy_find(f->tax, items[k]);
			if (!s || strcmp(s->name, items[k]) != 0)
				fail_msg("expected.tsv:%d: \"%s\" is not a canonical skill name",
					 r.line, items[k]);
		}
	}
}

/* ---- the score ------------------------------------------------------------------------ */

/* Project type and features: reported for the record, not a pass mark. */
static size_t type_hits, feat_tp, feat_fp, feat_fn;

static void score_labels(const struct row *r, const struct tm_ai_analysis *an)
{
	char feats[ROW_BYTES], *items[64];
	size_t n;
	if (strcmp(r->project_type, an->project_type) == 0)
		type_hits++;
	else
		printf("    %s: type %s, expected %s\n", r->file, an->project_type,
		       r->project_type);
	snprintf(feats, sizeof(feats), "%s", r->features);
	n = split(feats, items, 64);
	for (size_t i = 0; i < n; i++) {
		bool hit = false;
		for (size_t k = 0; k < an->nfeatures && !hit; k++)
			hit = strcmp(items[i], an->features[k]) == 0;
		hit ? feat_tp++ : feat_fn++;
	}
	for (size_t k = 0; k < an->nfeatures; k++) {
		bool expected = false;
		for (size_t i = 0; i < n && !expected; i++)
			expected = strcmp(items[i], an->features[k]) == 0;
		feat_fp += !expected;
	}
}

/* Scores one brief: adds to *tp, *fp, *fn and prints what was missed or extra. */
static void score_brief(const struct fixture *f, const struct row *r, size_t *tp, size_t *fp,
			size_t *fn)
{
	char skills[ROW_BYTES], *items[MAX_SKILLS_PER_BRIEF];
	int expected[MAX_SKILLS_PER_BRIEF], found[MAX_SKILLS_PER_BRIEF];
	bool matched[MAX_SKILLS_PER_BRIEF] = {false};
	char *text = read_brief(f, r->file);
	struct tm_arena *a = tm_arena_new(0);
	struct tm_ai_analysis *an = NULL;
	char err[256];
	size_t nfound = 0;

	/* the local analyzer, as tm-projects runs it (title empty: the brief is the text) */
	assert_non_null(a);
	if (tm_ai_local_analyze(f->tax, "", text, a, &an, err, sizeof(err)) != 0)
		fail_msg("%s: the local analyzer failed: %s", r->file, err);
	for (size_t i = 0; i < an->nskills && nfound < MAX_SKILLS_PER_BRIEF; i++)
		found[nfound++] = tm_taxonomy_find(f->tax, an->required_skills[i])->id;
	score_labels(r, an);

	snprintf(skills, sizeof(skills), "%s", r->skills);
	size_t nexp = split(skills, items, MAX_SKILLS_PER_BRIEF);
	for (size_t i = 0; i < nexp; i++)
		expected[i] = tm_taxonomy_find(f->tax, items[i])->id;
	for (size_t i = 0; i < nexp; i++) {
		bool hit = false;
		for (size_t k = 0; k < nfound && !hit; k++)
			if (found[k] == expected[i]) {
				hit = true;
				matched[k] = true;
			}
		if (hit) {
			(*tp)++;
		} else {
			(*fn)++;
			printf("    %s: missed %s\n", r->file, items[i]);
		}
	}
	for (size_t k = 0; k < nfound; k++) {
		if (!matched[k]) {
			(*fp)++;
			printf("    %s: extra  %s\n", r->file,
			       tm_taxonomy_skill(f->tax, found[k])->name);
		}
	}
	tm_arena_free(a);
	free(text);
}

static void test_extraction_precision_and_recall_are_at_least_0_8(void **state)
{
	struct fixture *f = *state;
	size_t tp = 0, fp = 0, fn = 0;

	for (size_t i = 0; i < f->nrows; i++)
		score_brief(f, &f->rows[i], &tp, &fp, &fn);
	double precision = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
	double recall = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
	printf("briefs: %zu, expected skills: %zu, found: %zu, correct: %zu\n", f->nrows, tp + fn,
	       tp + fp, tp);
	printf("precision %.3f, recall %.3f (micro-averaged; minimum %.2f each)\n", precision,
	       recall, MIN_PRECISION);
	printf("project type: %zu of %zu right; features: precision %.3f, recall %.3f "
	       "(reported, not required)\n",
	       type_hits, f->nrows,
	       feat_tp + feat_fp ? (double)feat_tp / (double)(feat_tp + feat_fp) : 0.0,
	       feat_tp + feat_fn ? (double)feat_tp / (double)(feat_tp + feat_fn) : 0.0);
	assert_true(precision >= MIN_PRECISION);
	assert_true(recall >= MIN_RECALL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_brief_file_has_exactly_one_expected_row),
		cmocka_unit_test(test_expected_rows_use_known_labels_and_canonical_names),
		cmocka_unit_test(test_extraction_precision_and_recall_are_at_least_0_8),
	};
	return cmocka_run_group_tests_name("ai: local analyzer on the labelled briefs", tests,
					   setup, teardown);
}
