/* The skill taxonomy: loader, lookup, search, graph and extraction; see tm/taxonomy.h. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tm/arena.h"
#include "tm/taxonomy.h"
#include "tm/util.h"

#define SKILLS_FILE "skills.tsv"
#define EDGES_FILE "skill_edges.tsv"
#define SKILLS_HEADER "name\tcategory\taliases\tdescription"
#define EDGES_HEADER "from\tto\ttype\tweight"
#define COLUMNS 4	    /* in both files */
#define ARENA_LIMIT_BYTES 0 /* the arena's default, 64 MiB: far above 5000 lines of 4 KiB */
#define PATH_BYTES 4096

static const char *const categories[] = {
	"language", "frontend", "backend",    "mobile",	  "database", "cloud",	   "devops",
	"data",	    "ml",	"testing",    "security", "design",   "practice",  "platform",
	"tool",	    "game",	"blockchain", "embedded", "api",      "ecommerce", "cms",
};

static const char *const edge_types[] = {
	[TM_EDGE_REQUIRES] = "requires",
	[TM_EDGE_RELATED] = "related",
	[TM_EDGE_SPECIALIZES] = "specializes",
	[TM_EDGE_PREREQUISITE_OF] = "prerequisite_of",
};

/* One name or alias in the lookup table. */
struct form {
	uint64_t hash;	   /* FNV-1a of key */
	const char *key;   /* normalized; NULL marks an empty slot */
	const char *exact; /* free text must spell the word exactly so, or NULL: any case */
	int skill;	   /* id */
	bool is_name;	   /* the canonical name (else an alias) */
	bool capword;	   /* exact is a capitalised word: not at a sentence start */
};

struct skill_rec {
	struct tm_skill pub;  /* first: tm_taxonomy_skill returns &rec->pub */
	const char **aliases; /* as written */
	const char **keys;    /* keys[0] the name's, keys[1 + i] alias i's */
	size_t nalias;	      /* aliases */
	int line;	      /* in skills.tsv */
};

/* An edge while loading: the public one, the line it came from, and its
 * identity for duplicates (related is symmetric: kfrom < kto). */
struct edge_rec {
	struct tm_skill_edge e;
	int line;
	int kfrom, kto;
};

struct tm_taxonomy {
	struct tm_arena *arena;	  /* every string and per-skill array */
	struct skill_rec *skills; /* malloc'd, nskills */
	size_t nskills;
	struct tm_skill_edge *by_from; /* malloc'd, nedges, grouped by from */
	struct tm_skill_edge *by_to;   /* malloc'd, nedges, grouped by to */
	size_t nedges;
	size_t *from_start, *to_start; /* malloc'd, nskills + 1 offsets into the above */
	struct form *table;	       /* malloc'd, open addressing, table_mask + 1 slots */
	size_t table_mask;
	int *alpha;	  /* malloc'd, skill ids by name */
	size_t max_words; /* most words in any name or alias */
};

/* ---- words ------------------------------------------------------------------------------ */

enum sep { SEP_NONE, SEP_SOFT, SEP_HARD };

struct word {
	size_t start, end; /* byte offsets in the text */
	bool hard_before;  /* a hard separator (or the text start) comes before it */
};

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static unsigned char lower(unsigned char c)
{
	return is_upper(c) ? (unsigned char)(c - 'A' + 'a') : c;
}

/* What the byte at s[i] is: a word byte (SEP_NONE) or a separator; *w is how
 * many bytes that is. Unicode spaces, hyphens and the right single quote are
 * soft; other general punctuation (quotes, dashes, bullets, ellipsis) is hard;
 * any other non-ASCII byte is part of a word. */
static enum sep classify(const char *s, size_t i, size_t len, size_t *w)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char c = u[i];

	*w = 1;
	if (is_alnum(c))
		return SEP_NONE;
	if (c >= 0x80) {
		if (c == 0xc2 && i + 1 < len && u[i + 1] == 0xa0) {
			*w = 2; /* no-break space */
			return SEP_SOFT;
		}
		if (c == 0xe2 && i + 2 < len && (u[i + 1] == 0x80 || u[i + 1] == 0x81)) {
			unsigned cp = 0x2000u + ((u[i + 1] & 0x01u) << 6) + (u[i + 2] & 0x3fu);
			*w = 3;
			if (cp <= 0x200b || cp == 0x2010 || cp == 0x2011 || cp == 0x2019)
				return SEP_SOFT;
			return SEP_HARD;
		}
		return SEP_NONE;
	}
	switch (c) {
	case ' ':
	case '\t':
	case '-':
	case '_':
	case '/':
	case '\'':
		return SEP_SOFT;
	case '.':
		return i + 1 < len && is_alnum(u[i + 1]) ? SEP_SOFT : SEP_HARD;
	default:
		return SEP_HARD;
	}
}

static bool is_word_at(const char *s, size_t i, size_t len)
{
	size_t w;
	return i < len && classify(s, i, len, &w) == SEP_NONE;
}

/* The next word at or after *pos, which it advances. False at the end. */
static bool next_word(const char *s, size_t len, size_t *pos, struct word *out)
{
	size_t i = *pos, w;
	bool hard = false;

	while (i < len) {
		enum sep k = classify(s, i, len, &w);
		if (k == SEP_NONE || s[i] == '&')
			break;
		/* ".net": a dot that starts a word after a non-word byte */
		if (s[i] == '.' && (i == 0 || !is_word_at(s, i - 1, len)) && i + 1 < len &&
		    is_alnum((unsigned char)s[i + 1]))
			break;
		if (k == SEP_HARD)
			hard = true;
		i += w;
	}
	if (i >= len)
		return false;
	out->start = i;
	out->hard_before = hard || *pos == 0;
	if (s[i] == '&') {
		/* a lone '&' is the word "and": "roles & permissions" */
		out->end = i + 1;
		*pos = i + 1;
		return true;
	}
	if (s[i] == '.')
		i++;
	for (;;) {
		while (i < len && classify(s, i, len, &w) == SEP_NONE)
			i += w;
		/* "r&d", "at&t" */
		if (i + 1 < len && s[i] == '&' && is_alnum((unsigned char)s[i + 1]) &&
		    i > out->start && is_alnum((unsigned char)s[i - 1])) {
			i++;
			continue;
		}
		break;
	}
	size_t j = i;
	while (j < len && (s[j] == '+' || s[j] == '#'))
		j++;
	if (j > i && !is_word_at(s, j, len))
		i = j; /* "c++", "c#" */
	out->end = i;
	*pos = i;
	return true;
}

/* Appends the lower-cased word (a lone '&' as "and") to key at *klen, with a
 * space before it unless first. Returns -1 when it does not fit in cap - 1 bytes. */
static int key_append(char *key, size_t cap, size_t *klen, const char *s, const struct word *wd)
{
	const char *src = s + wd->start;
	size_t n = wd->end - wd->start;
	if (n == 1 && src[0] == '&') {
		src = "and";
		n = 3;
	}
	size_t need = (*klen ? 1 : 0) + n;
	if (*klen + need + 1 > cap)
		return -1;
	if (*klen)
		key[(*klen)++] = ' ';
	for (size_t i = 0; i < n; i++)
		key[(*klen)++] = (char)lower((unsigned char)src[i]);
	key[*klen] = '\0';
	return 0;
}

/* The key of s (len bytes) into key[cap]. Returns its length, or -1 if it is
 * longer than cap - 1 or has more than max_words words. *words and *hard_inside
 * (a hard separator between two words) are set when not NULL. */
static int normalize(const char *s, size_t len, char *key, size_t cap, size_t max_words,
		     size_t *words, bool *hard_inside)
{
	size_t pos = 0, klen = 0, n = 0;
	struct word wd;

	key[0] = '\0';
	if (hard_inside)
		*hard_inside = false;
	while (next_word(s, len, &pos, &wd)) {
		if (++n > max_words || key_append(key, cap, &klen, s, &wd) != 0)
			return -1;
		if (n > 1 && wd.hard_before && hard_inside)
			*hard_inside = true;
	}
	if (words)
		*words = n;
	return (int)klen;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* The slot holding key (n bytes), or NULL. */
static const struct form *lookup(const struct tm_taxonomy *t, const char *key, size_t n)
{
	uint64_t h = fnv1a(key, n);
	for (size_t i = (size_t)h & t->table_mask;; i = (i + 1) & t->table_mask) {
		const struct form *f = &t->table[i];
		if (!f->key)
			return NULL;
		if (f->hash == h && strncmp(f->key, key, n) == 0 && f->key[n] == '\0')
			return f;
	}
}

/* The key without a trailing plural 's' on its last word ("webhooks", "rest
 * apis"), when that word has 4+ bytes and does not end in "ss"; NULL if not
 * applicable or unknown. */
static const struct form *lookup_singular(const struct tm_taxonomy *t, const char *key, size_t n)
{
	if (n < 4 || key[n - 1] != 's' || key[n - 2] == 's')
		return NULL;
	const char *sp = memrchr(key, ' ', n);
	size_t last = sp ? n - (size_t)(sp - key) - 1 : n;
	return last >= 4 ? lookup(t, key, n - 1) : NULL;
}

/* ---- loading ---------------------------------------------------------------------------- */

struct loader {
	struct tm_taxonomy *t;
	const char *path; /* the file being read, for messages */
	char path_buf[PATH_BYTES];
	FILE *f;
	int line; /* of the line in buf */
	char buf[TM_TAXONOMY_MAX_LINE + 1];
	size_t len; /* of the line in buf, without its newline */
	char *err;
	size_t errlen;
};

static int fail(struct loader *L, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "path:line: reason" (or "path: reason" for line 0) into the error
 * buffer. Returns -1. */
static int fail(struct loader *L, int line, const char *fmt, ...)
{
	if (!L->err || L->errlen == 0)
		return -1;
	int n = line > 0 ? snprintf(L->err, L->errlen, "%s:%d: ", L->path, line) :
			   snprintf(L->err, L->errlen, "%s: ", L->path);
	if (n >= 0 && (size_t)n < L->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Reads the next line into L->buf without its "\n" or "\r\n". Returns 1, 0 at
 * the end of the file, or -1 (too long, NUL byte, invalid UTF-8, read error). */
static int read_line(struct loader *L)
{
	int c;
	L->len = 0;
	L->line++;
	while ((c = getc(L->f)) != EOF && c != '\n') {
		if (L->len >= TM_TAXONOMY_MAX_LINE - 1)
			return fail(L, L->line, "line longer than %d bytes", TM_TAXONOMY_MAX_LINE);
		if (c == '\0')
			return fail(L, L->line, "NUL byte in the line");
		L->buf[L->len++] = (char)c;
	}
	if (ferror(L->f))
		return fail(L, L->line, "read error: %s", strerror(errno));
	if (c == EOF && L->len == 0)
		return 0;
	if (L->len && L->buf[L->len - 1] == '\r')
		L->len--;
	L->buf[L->len] = '\0';
	if (!tm_utf8_valid(L->buf, L->len))
		return fail(L, L->line, "not valid UTF-8");
	return 1;
}

/* The next line that is neither blank nor a '#' comment: 1, 0 at the end, -1. */
static int next_data_line(struct loader *L)
{
	int rc;
	while ((rc = read_line(L)) == 1) {
		size_t i = 0;
		while (i < L->len && (L->buf[i] == ' ' || L->buf[i] == '\t'))
			i++;
		if (i < L->len && L->buf[i] != '#')
			return 1;
	}
	return rc;
}

/* Trims spaces off both ends of s in place. */
static char *trim(char *s)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

/* Splits L->buf at tabs into COLUMNS trimmed fields; any other count, or a
 * control character, is an error naming `names`. */
static int split_columns(struct loader *L, char *col[COLUMNS], const char *names)
{
	size_t n = 1;
	for (size_t i = 0; i < L->len; i++) {
		if (L->buf[i] == '\t')
			n++;
		else if ((unsigned char)L->buf[i] < 0x20 || L->buf[i] == 0x7f)
			return fail(L, L->line, "control character in the line");
	}
	if (n != COLUMNS)
		return fail(L, L->line, "expected %d tab-separated columns (%s), found %zu",
			    COLUMNS, names, n);
	char *p = L->buf;
	for (size_t i = 0; i < COLUMNS; i++) {
		char *tab = strchr(p, '\t');
		if (tab)
			*tab = '\0';
		col[i] = trim(p);
		p = tab ? tab + 1 : p + strlen(p);
	}
	return 0;
}

static int open_file(struct loader *L, const char *dir, const char *file, const char *header,
		     const char *names)
{
	int n = snprintf(L->path_buf, sizeof(L->path_buf), "%s/%s", dir, file);
	L->path = file;
	L->line = 0;
	if (n < 0 || (size_t)n >= sizeof(L->path_buf))
		return fail(L, 0, "directory path too long");
	L->path = L->path_buf;
	L->f = fopen(L->path, "rb");
	if (!L->f)
		return fail(L, 0, "cannot open: %s", strerror(errno));
	int rc = next_data_line(L);
	if (rc < 0)
		return -1;
	if (rc == 0 || strcmp(L->buf, header) != 0)
		return fail(L, L->line, "expected the header line (%s, tab-separated)", names);
	return 0;
}

static void close_file(struct loader *L)
{
	if (L->f)
		fclose(L->f);
	L->f = NULL;
}

static const char *category_of(const char *s)
{
	for (size_t i = 0; i < TM_ARRAY_LEN(categories); i++)
		if (strcmp(s, categories[i]) == 0)
			return categories[i];
	return NULL;
}

/* A single word, one capital letter, then only lower-case letters: "Go", "Swift". */
static bool is_capword(const char *s)
{
	if (!is_upper((unsigned char)s[0]))
		return false;
	for (size_t i = 1; s[i]; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

static bool has_upper(const char *s)
{
	for (; *s; s++)
		if (is_upper((unsigned char)*s))
			return true;
	return false;
}

static bool all_alnum(const char *s)
{
	for (; *s; s++)
		if (!is_alnum((unsigned char)*s))
			return false;
	return true;
}

/* The arena copy of the key of s, checked against the limits; what names the
 * form in messages ("name", "alias"). NULL after fail(). */
static const char *form_key(struct loader *L, const char *s, const char *what)
{
	char key[TM_TAXONOMY_MAX_KEY + 1];
	size_t words;
	bool hard;
	int n = normalize(s, strlen(s), key, sizeof(key), TM_TAXONOMY_MAX_WORDS, &words, &hard);

	if (n < 0) {
		fail(L, L->line, "%s \"%s\" is longer than %d words or %d bytes", what, s,
		     TM_TAXONOMY_MAX_WORDS, TM_TAXONOMY_MAX_KEY);
		return NULL;
	}
	if (n == 0) {
		fail(L, L->line, "%s \"%s\" has no letters or digits", what, s);
		return NULL;
	}
	if (hard) {
		fail(L, L->line,
		     "%s \"%s\" has punctuation that free text never joins words across", what, s);
		return NULL;
	}
	if (words > L->t->max_words)
		L->t->max_words = words;
	const char *copy = tm_arena_strndup(L->t->arena, key, (size_t)n);
	if (!copy)
		fail(L, L->line, "out of memory");
	return copy;
}

/* Splits the aliases column (comma-separated) into rec. */
static int parse_aliases(struct loader *L, struct skill_rec *rec, char *aliases)
{
	const char *list[TM_TAXONOMY_MAX_ALIASES];
	size_t n = 0;

	/* an empty column is no aliases; otherwise every item must be non-empty */
	for (char *p = *aliases ? aliases : NULL; p;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		char *a = trim(p);
		if (!*a)
			return fail(L, L->line, "empty alias in \"%s\"", rec->pub.name);
		if (n == TM_TAXONOMY_MAX_ALIASES)
			return fail(L, L->line, "more than %d aliases", TM_TAXONOMY_MAX_ALIASES);
		list[n++] = a;
		p = comma ? comma + 1 : NULL;
	}
	rec->nalias = n;
	rec->aliases = tm_arena_alloc(L->t->arena, (n + 1) * sizeof(char *));
	rec->keys = tm_arena_alloc(L->t->arena, (n + 1) * sizeof(char *));
	if (!rec->aliases || !rec->keys)
		return fail(L, L->line, "out of memory");
	if (!(rec->keys[0] = form_key(L, rec->pub.name, "name")))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (has_upper(list[i]) && !all_alnum(list[i]))
			return fail(L, L->line,
				    "alias \"%s\" has capitals but is not one word of letters and "
				    "digits (such an alias is matched as written; write others in "
				    "lower case)",
				    list[i]);
		if (!(rec->aliases[i] = tm_arena_strdup(L->t->arena, list[i])))
			return fail(L, L->line, "out of memory");
		if (!(rec->keys[1 + i] = form_key(L, list[i], "alias")))
			return -1;
	}
	return 0;
}

static int parse_skill(struct loader *L, struct skill_rec *rec, int id)
{
	char *col[COLUMNS];
	if (split_columns(L, col, "name, category, aliases, description") != 0)
		return -1;
	if (!*col[0])
		return fail(L, L->line, "empty name");
	const char *cat = category_of(col[1]);
	if (!cat)
		return fail(L, L->line, "unknown category \"%s\" (see the list at the top of %s)",
			    col[1], SKILLS_FILE);
	if (!*col[3])
		return fail(L, L->line, "empty description of \"%s\"", col[0]);
	rec->pub.id = id;
	rec->pub.category = cat;
	rec->line = L->line;
	rec->pub.name = tm_arena_strdup(L->t->arena, col[0]);
	rec->pub.description = tm_arena_strdup(L->t->arena, col[3]);
	if (!rec->pub.name || !rec->pub.description)
		return fail(L, L->line, "out of memory");
	return parse_aliases(L, rec, col[2]);
}

static const char *form_kind(const struct form *f)
{
	return f->is_name ? "name" : "alias";
}

/* Adds one form to the table; a key already there is an error, except a
 * lower-case alias equal to the key of its own capitalised-word name, which
 * makes that name match in any case. */
static int add_form(struct loader *L, const struct skill_rec *rec, const char *raw, const char *key,
		    bool is_name)
{
	struct tm_taxonomy *t = L->t;
	uint64_t h = fnv1a(key, strlen(key));
	bool exact = is_name ? is_capword(raw) : has_upper(raw);
	size_t i = (size_t)h & t->table_mask;

	for (; t->table[i].key; i = (i + 1) & t->table_mask) {
		struct form *f = &t->table[i];
		if (f->hash != h || strcmp(f->key, key) != 0)
			continue;
		const struct skill_rec *o = &t->skills[f->skill];
		if (o == rec && f->is_name && f->exact && !exact) {
			f->exact = NULL;
			f->capword = false;
			return 0;
		}
		if (o == rec)
			return fail(
				L, rec->line,
				"alias \"%s\" of \"%s\" repeats its %s (both are \"%s\" once normalized)",
				raw, rec->pub.name, form_kind(f), key);
		if (is_name)
			return fail(L, rec->line,
				    "name \"%s\" is already the %s of \"%s\" (line %d)", raw,
				    form_kind(f), o->pub.name, o->line);
		return fail(L, rec->line,
			    "alias \"%s\" of \"%s\" is already the %s of \"%s\" (line %d)", raw,
			    rec->pub.name, form_kind(f), o->pub.name, o->line);
	}
	struct form *f = &t->table[i];
	f->hash = h;
	f->key = key;
	f->skill = rec->pub.id;
	f->is_name = is_name;
	f->exact = exact ? raw : NULL;
	f->capword = exact && is_capword(raw);
	return 0;
}

/* The lookup table of every name and alias; collisions are errors. */
static int build_forms(struct loader *L)
{
	struct tm_taxonomy *t = L->t;
	size_t nforms = 0, slots = 16;

	for (size_t i = 0; i < t->nskills; i++)
		nforms += 1 + t->skills[i].nalias;
	while (slots < nforms * 2)
		slots *= 2;
	t->table = calloc(slots, sizeof(*t->table));
	if (!t->table)
		return fail(L, L->line, "out of memory");
	t->table_mask = slots - 1;
	for (size_t i = 0; i < t->nskills; i++) {
		const struct skill_rec *rec = &t->skills[i];
		if (add_form(L, rec, rec->pub.name, rec->keys[0], true) != 0)
			return -1;
		for (size_t a = 0; a < rec->nalias; a++)
			if (add_form(L, rec, rec->aliases[a], rec->keys[1 + a], false) != 0)
				return -1;
	}
	return 0;
}

static int load_skills(struct loader *L, const char *dir)
{
	struct tm_taxonomy *t = L->t;
	size_t cap = 0;
	int rc = -1;

	if (open_file(L, dir, SKILLS_FILE, SKILLS_HEADER, "name, category, aliases, description") !=
	    0)
		goto out_close;
	while ((rc = next_data_line(L)) == 1) {
		if (t->nskills == TM_TAXONOMY_MAX_SKILLS) {
			rc = fail(L, L->line, "more than %d skills", TM_TAXONOMY_MAX_SKILLS);
			goto out_close;
		}
		if (t->nskills == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct skill_rec *p = realloc(t->skills, ncap * sizeof(*p));
			if (!p) {
				rc = fail(L, L->line, "out of memory");
				goto out_close;
			}
			t->skills = p;
			cap = ncap;
		}
		struct skill_rec *rec = &t->skills[t->nskills];
		memset(rec, 0, sizeof(*rec));
		if ((rc = parse_skill(L, rec, (int)t->nskills)) != 0)
			goto out_close;
		t->nskills++;
	}
	if (rc < 0)
		goto out_close;
	if (t->nskills == 0)
		rc = fail(L, L->line, "no skills");
	else
		rc = build_forms(L);
out_close:
	close_file(L);
	return rc;
}

/* The id of the skill whose canonical name is exactly s, or -1 after fail()
 * (with a hint when s is another spelling of a known skill). */
static int resolve_name(struct loader *L, const char *s, const char *column)
{
	char key[TM_TAXONOMY_MAX_KEY + 1];
	int n = normalize(s, strlen(s), key, sizeof(key), TM_TAXONOMY_MAX_WORDS, NULL, NULL);
	const struct form *f = n > 0 ? lookup(L->t, key, (size_t)n) : NULL;

	if (f && strcmp(L->t->skills[f->skill].pub.name, s) == 0)
		return f->skill;
	if (f)
		return fail(L, L->line,
			    "unknown skill \"%s\" in %s (edges use canonical names: \"%s\")", s,
			    column, L->t->skills[f->skill].pub.name);
	return fail(L, L->line, "unknown skill \"%s\" in %s (not a name in %s)", s, column,
		    SKILLS_FILE);
}

/* "0.10" .. "1.00": one digit, a dot, two digits. Returns hundredths or -1. */
static int parse_weight(const char *s)
{
	if (strlen(s) != 4 || s[1] != '.')
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (i != 1 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int v = (s[0] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	return v >= 10 && v <= 100 ? v : -1;
}

static int parse_edge(struct loader *L, struct edge_rec *er)
{
	char *col[COLUMNS];
	int type = -1;

	if (split_columns(L, col, "from, to, type, weight") != 0)
		return -1;
	int from = resolve_name(L, col[0], "from");
	if (from < 0)
		return -1;
	int to = resolve_name(L, col[1], "to");
	if (to < 0)
		return -1;
	if (from == to)
		return fail(L, L->line, "self edge on \"%s\"", col[0]);
	for (size_t i = 0; i < TM_ARRAY_LEN(edge_types); i++)
		if (strcmp(col[2], edge_types[i]) == 0)
			type = (int)i;
	if (type < 0)
		return fail(
			L, L->line,
			"unknown edge type \"%s\" (requires, related, specializes, prerequisite_of)",
			col[2]);
	int w = parse_weight(col[3]);
	if (w < 0)
		return fail(L, L->line, "bad weight \"%s\" (0.10 to 1.00 with two decimals)",
			    col[3]);
	er->kfrom = from;
	er->kto = to;
	if (type == TM_EDGE_RELATED && from > to) {
		er->kfrom = to;
		er->kto = from;
	}
	er->e.from = from;
	er->e.to = to;
	er->e.type = (enum tm_edge_type)type;
	er->e.weight = (float)w / 100.0f;
	er->line = L->line;
	return 0;
}

static int cmp_edge_key(const void *a, const void *b)
{
	const struct edge_rec *x = a, *y = b;
	if (x->kfrom != y->kfrom)
		return x->kfrom < y->kfrom ? -1 : 1;
	if (x->kto != y->kto)
		return x->kto < y->kto ? -1 : 1;
	if (x->e.type != y->e.type)
		return x->e.type < y->e.type ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* The first line (in file order) that repeats an earlier (from, to, type). */
static int check_duplicates(struct loader *L, struct edge_rec *er, size_t n)
{
	int worst = 0;
	size_t at = 0;

	if (n > 1)
		qsort(er, n, sizeof(*er), cmp_edge_key);
	for (size_t i = 1; i < n; i++) {
		const struct edge_rec *a = &er[i - 1], *b = &er[i];
		if (a->kfrom == b->kfrom && a->kto == b->kto && a->e.type == b->e.type &&
		    (worst == 0 || b->line < worst)) {
			worst = b->line;
			at = i;
		}
	}
	if (worst == 0)
		return 0;
	const struct edge_rec *d = &er[at];
	return fail(L, d->line, "duplicate edge \"%s\" %s \"%s\" (first on line %d)",
		    L->t->skills[d->e.from].pub.name, edge_types[d->e.type],
		    L->t->skills[d->e.to].pub.name, er[at - 1].line);
}

static int cmp_by_from(const void *a, const void *b)
{
	const struct edge_rec *x = a, *y = b;
	if (x->e.from != y->e.from)
		return x->e.from < y->e.from ? -1 : 1;
	if (x->e.weight != y->e.weight)
		return x->e.weight > y->e.weight ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int cmp_by_to(const void *a, const void *b)
{
	const struct edge_rec *x = a, *y = b;
	if (x->e.to != y->e.to)
		return x->e.to < y->e.to ? -1 : 1;
	if (x->e.weight != y->e.weight)
		return x->e.weight > y->e.weight ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorts er by cmp into *out and fills the nskills + 1 offsets of each id
 * (picked by `to`) into *start. Returns 0 or -1 on OOM. */
static int index_edges(struct tm_taxonomy *t, struct edge_rec *er,
		       int (*cmp)(const void *, const void *), bool by_to,
		       struct tm_skill_edge **out, size_t **start)
{
	*out = malloc((t->nedges ? t->nedges : 1) * sizeof(**out));
	*start = calloc(t->nskills + 1, sizeof(**start));
	if (!*out || !*start)
		return -1;
	if (t->nedges > 1)
		qsort(er, t->nedges, sizeof(*er), cmp);
	for (size_t i = 0; i < t->nedges; i++) {
		(*out)[i] = er[i].e;
		(*start)[(by_to ? er[i].e.to : er[i].e.from) + 1]++;
	}
	for (size_t i = 0; i < t->nskills; i++)
		(*start)[i + 1] += (*start)[i];
	return 0;
}

static int load_edges(struct loader *L, const char *dir)
{
	struct tm_taxonomy *t = L->t;
	struct edge_rec *er = NULL;
	size_t cap = 0;
	int rc = -1;

	if (open_file(L, dir, EDGES_FILE, EDGES_HEADER, "from, to, type, weight") != 0)
		goto out_free;
	while ((rc = next_data_line(L)) == 1) {
		if (t->nedges == TM_TAXONOMY_MAX_EDGES) {
			rc = fail(L, L->line, "more than %d edges", TM_TAXONOMY_MAX_EDGES);
			goto out_free;
		}
		if (t->nedges == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct edge_rec *p = realloc(er, ncap * sizeof(*p));
			if (!p) {
				rc = fail(L, L->line, "out of memory");
				goto out_free;
			}
			er = p;
			cap = ncap;
		}
		if ((rc = parse_edge(L, &er[t->nedges])) != 0)
			goto out_free;
		t->nedges++;
	}
	if (rc < 0 || (rc = check_duplicates(L, er, t->nedges)) != 0)
		goto out_free;
	if (index_edges(t, er, cmp_by_from, false, &t->by_from, &t->from_start) != 0 ||
	    index_edges(t, er, cmp_by_to, true, &t->by_to, &t->to_start) != 0)
		rc = fail(L, L->line, "out of memory");
out_free:
	free(er);
	close_file(L);
	return rc;
}

static int cmp_alpha(const void *a, const void *b, void *ud)
{
	const struct tm_taxonomy *t = ud;
	int x = *(const int *)a, y = *(const int *)b;
	int c = strcasecmp(t->skills[x].pub.name, t->skills[y].pub.name);
	if (c)
		return c;
	return x < y ? -1 : x > y;
}

int tm_taxonomy_load(struct tm_taxonomy **out, const char *dir, char *err, size_t errlen)
{
	struct loader *L = calloc(1, sizeof(*L));
	struct tm_taxonomy *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!L || !t || !(t->arena = tm_arena_new(ARENA_LIMIT_BYTES))) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", dir);
		goto out_fail;
	}
	L->t = t;
	L->err = err;
	L->errlen = errlen;
	if (load_skills(L, dir) != 0 || load_edges(L, dir) != 0)
		goto out_fail;
	t->alpha = malloc(t->nskills * sizeof(*t->alpha));
	if (!t->alpha) {
		fail(L, 0, "out of memory");
		goto out_fail;
	}
	for (size_t i = 0; i < t->nskills; i++)
		t->alpha[i] = (int)i;
	qsort_r(t->alpha, t->nskills, sizeof(*t->alpha), cmp_alpha, t);
	free(L);
	*out = t;
	return 0;
out_fail:
	free(L);
	tm_taxonomy_free(t);
	return -1;
}

void tm_taxonomy_free(struct tm_taxonomy *t)
{
	if (!t)
		return;
	free(t->alpha);
	free(t->table);
	free(t->by_from);
	free(t->by_to);
	free(t->from_start);
	free(t->to_start);
	free(t->skills);
	tm_arena_free(t->arena);
	free(t);
}

/* ---- queries ---------------------------------------------------------------------------- */

size_t tm_taxonomy_count(const struct tm_taxonomy *t)
{
	return t->nskills;
}

size_t tm_taxonomy_edge_count(const struct tm_taxonomy *t)
{
	return t->nedges;
}

static bool valid_id(const struct tm_taxonomy *t, int id)
{
	return id >= 0 && (size_t)id < t->nskills;
}

const struct tm_skill *tm_taxonomy_skill(const struct tm_taxonomy *t, int id)
{
	return valid_id(t, id) ? &t->skills[id].pub : NULL;
}

size_t tm_taxonomy_aliases(const struct tm_taxonomy *t, int id, const char *const **out)
{
	if (!valid_id(t, id)) {
		*out = NULL;
		return 0;
	}
	*out = t->skills[id].aliases;
	return t->skills[id].nalias;
}

const char *tm_edge_type_name(enum tm_edge_type type)
{
	if ((int)type < 0 || (size_t)type >= TM_ARRAY_LEN(edge_types))
		return "unknown";
	return edge_types[type];
}

const struct tm_skill *tm_taxonomy_find(const struct tm_taxonomy *t, const char *text)
{
	char key[TM_TAXONOMY_MAX_KEY + 1];
	int n = normalize(text, strlen(text), key, sizeof(key), TM_TAXONOMY_MAX_WORDS, NULL, NULL);
	if (n <= 0)
		return NULL;
	const struct form *f = lookup(t, key, (size_t)n);
	if (!f)
		f = lookup_singular(t, key, (size_t)n);
	return f ? &t->skills[f->skill].pub : NULL;
}

static bool has_prefix(const char *s, const char *p, size_t plen)
{
	return strncmp(s, p, plen) == 0;
}

/* 0 key equal, 1 name prefix, 2 alias prefix, 3 substring, 4 no match. */
static int search_rank(const struct skill_rec *rec, const char *q, size_t qlen)
{
	int best = 4;
	for (size_t k = 0; k <= rec->nalias && best > 0; k++) {
		const char *key = rec->keys[k];
		int r = 4;
		if (strcmp(key, q) == 0)
			r = 0;
		else if (has_prefix(key, q, qlen))
			r = k == 0 ? 1 : 2;
		else if (strstr(key, q))
			r = 3;
		if (r < best)
			best = r;
	}
	return best;
}

size_t tm_taxonomy_search(const struct tm_taxonomy *t, const char *q, const struct tm_skill **out,
			  size_t max)
{
	char key[TM_TAXONOMY_MAX_KEY + 1];
	unsigned char rank[TM_TAXONOMY_MAX_SKILLS];
	size_t n = 0;

	int qlen = normalize(q, strlen(q), key, sizeof(key), TM_TAXONOMY_MAX_WORDS, NULL, NULL);
	if (qlen < 0 || max == 0)
		return 0;
	assert(t->nskills <= TM_TAXONOMY_MAX_SKILLS);
	for (size_t i = 0; i < t->nskills; i++)
		rank[i] = (unsigned char)search_rank(&t->skills[i], key, (size_t)qlen);
	for (unsigned char r = 0; r < 4 && n < max; r++)
		for (size_t i = 0; i < t->nskills && n < max; i++)
			if (rank[t->alpha[i]] == r)
				out[n++] = &t->skills[t->alpha[i]].pub;
	return n;
}

size_t tm_taxonomy_edges_from(const struct tm_taxonomy *t, int id, const struct tm_skill_edge **out)
{
	if (!valid_id(t, id)) {
		*out = NULL;
		return 0;
	}
	*out = t->by_from + t->from_start[id];
	return t->from_start[id + 1] - t->from_start[id];
}

size_t tm_taxonomy_edges_to(const struct tm_taxonomy *t, int id, const struct tm_skill_edge **out)
{
	if (!valid_id(t, id)) {
		*out = NULL;
		return 0;
	}
	*out = t->by_to + t->to_start[id];
	return t->to_start[id + 1] - t->to_start[id];
}

/* ---- extraction ------------------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* True when the word at `start` begins a sentence, a line or a list item:
 * only blanks and a bullet ("-", "*", ">", "•") stand between it and the text
 * start, a newline or a '.', '!' or '?'. */
static bool at_sentence_start(const char *s, size_t start)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = start;

	while (i > 0 && is_blank(s[i - 1]))
		i--;
	if (i > 0 && (s[i - 1] == '-' || s[i - 1] == '*' || s[i - 1] == '>')) {
		i--;
	} else if (i >= 3 && u[i - 3] == 0xe2 && u[i - 2] == 0x80 && u[i - 1] == 0xa2) {
		i -= 3;
	}
	while (i > 0 && is_blank(s[i - 1]))
		i--;
	if (i == 0)
		return true;
	char c = s[i - 1];
	return c == '.' || c == '!' || c == '?' || c == '\n' || c == '\r';
}

/* True when the word is glued by '-' or '.' to a word before or after it
 * ("USB-C", "Go-live", "e.Go"). */
static bool in_compound(const char *s, size_t len, const struct word *w)
{
	if (w->start >= 2 && (s[w->start - 1] == '-' || s[w->start - 1] == '.') &&
	    is_word_at(s, w->start - 2, len))
		return true;
	return w->end + 1 < len && (s[w->end] == '-' || s[w->end] == '.') &&
	       is_word_at(s, w->end + 1, len);
}

/* Whether a form found for these nw words may count in free text. */
static bool accept(const struct form *f, const char *s, size_t len, const struct word *w, size_t nw)
{
	if (!f->exact)
		return true;
	size_t n = w[0].end - w[0].start;
	if (nw != 1 || n != strlen(f->exact) || memcmp(s + w[0].start, f->exact, n) != 0)
		return false;
	if (in_compound(s, len, &w[0]))
		return false;
	/* "(C)" is a copyright sign, not the language */
	if (n == 1 && w[0].start > 0 && s[w[0].start - 1] == '(' && w[0].end < len &&
	    s[w[0].end] == ')')
		return false;
	return !(f->capword && at_sentence_start(s, w[0].start));
}

/* The longest name or alias starting at w[0], over at most nw words that no
 * hard separator splits. Returns how many words it covers (0: none) and its
 * skill in *skill. */
static size_t match_at(const struct tm_taxonomy *t, const char *s, size_t len, const struct word *w,
		       size_t nw, int *skill)
{
	char key[TM_TAXONOMY_MAX_KEY + 1];
	size_t klen = 0, ends[TM_TAXONOMY_MAX_WORDS], n = 0;

	assert(nw <= TM_TAXONOMY_MAX_WORDS);
	for (; n < nw; n++) {
		if (n > 0 && w[n].hard_before)
			break;
		if (key_append(key, sizeof(key), &klen, s, &w[n]) != 0)
			break;
		ends[n] = klen;
	}
	for (; n > 0; n--) {
		const struct form *f = lookup(t, key, ends[n - 1]);
		if (!f || !accept(f, s, len, w, n))
			f = lookup_singular(t, key, ends[n - 1]);
		if (f && accept(f, s, len, w, n)) {
			*skill = f->skill;
			return n;
		}
	}
	return 0;
}

size_t tm_taxonomy_extract(const struct tm_taxonomy *t, const char *text, int *ids, size_t max)
{
	struct word w[TM_TAXONOMY_MAX_WORDS];
	size_t len = strlen(text), pos = 0, nw = 0, count = 0;

	assert(t->max_words >= 1 && t->max_words <= TM_TAXONOMY_MAX_WORDS);
	while (count < max) {
		while (nw < t->max_words && next_word(text, len, &pos, &w[nw]))
			nw++;
		if (nw == 0)
			break;
		int skill = -1;
		size_t used = match_at(t, text, len, w, nw, &skill);
		if (used == 0) {
			used = 1;
		} else {
			size_t i = 0;
			while (i < count && ids[i] != skill)
				i++;
			if (i == count)
				ids[count++] = skill;
		}
		memmove(w, w + used, (nw - used) * sizeof(*w));
		nw -= used;
	}
	return count;
}
