/* rules.c - load watch rules from YAML files into the tree the matcher compiles (RULES.md) */
#include "rules.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util.h"
#include "yaml.h"

#define DEFAULT_WITHIN 8
#define MAX_WITHIN 1000
/* Aliases may nest, so expansion can multiply: cap what one alias and all of
 * them together may expand to. Rules share alias terms and add nothing. */
#define MAX_ALIAS_TERMS 10000
#define MAX_TOTAL_ALIAS_TERMS 1000000
/* Parentheses and `not`s in one expression. */
#define MAX_EXPR_DEPTH 64

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const top_keys[] = { "aliases", "rules" };
static const char *const rule_keys[] = {
	"name", "description", "sources", "match", "when", "rearm", "severity",
	"notify", "cooldown", "quiet", "digest", "max_per_hour",
};
/* What a mapping that is not (yet) a near: or regex: may have. */
static const char *const group_keys[] = {
	"all", "any", "none", "near", "regex", "field", "fields",
};
static const char *const near_keys[] = { "near", "within", "field", "fields" };
static const char *const regex_keys[] = { "regex", "raw", "field", "fields" };
/* Every key a condition mapping may have, whatever its kind. */
static const char *const cond_keys[] = {
	"all", "any", "none", "near", "within", "regex", "raw", "field", "fields",
};
static const char *const standard_fields[] = {
	"title", "summary", "content", "author", "categories", "link", "id", "lang", "feed_title",
};
static const char *const severity_names[] = { "low", "normal", "high", "critical" };

const char *severity_name(enum rule_severity s)
{
	if ((unsigned)s < N_OF(severity_names))
		return severity_names[s];
	return "normal";
}

/* ---- the loader ---- */

/* An error waiting to be reported: they go out sorted by position. */
struct pending {
	size_t file_idx;
	int line, column;
	size_t seq;
	char *text;
};

enum alias_state { ALIAS_NEW = 0, ALIAS_BUSY, ALIAS_DONE, ALIAS_BAD };

/* An alias definition while loading; defs[i] becomes rs->aliases[i]. */
struct alias_def {
	const struct ynode *key, *value;
	const char *file;            /* owned by the ruleset */
	size_t order;                /* definition order across files */
	enum alias_state state;
};

/* The source text of the file being read, to place columns inside scalars. */
struct source {
	const char *file;            /* as in ynode->file */
	char *text;
	size_t len;
	size_t *lines;               /* byte offset where each line starts */
	size_t n_lines;
	bool failed;
};

struct loader {
	struct ruleset *rs;
	const struct rules_context *ctx;
	struct diags *d;
	size_t errors;

	struct ydoc **docs;          /* parallel to rs->files; NULL where unreadable */

	struct pending *pending;
	size_t n_pending;

	struct alias_def *defs;      /* sorted by name, unique */
	size_t n_defs;
	size_t *stack;               /* aliases being expanded, for cycle messages */
	size_t n_stack;
	size_t alias_terms;          /* terms in every expanded alias */

	size_t *names;               /* rule-name hash: index + 1 into rs->rules */
	size_t n_names;              /* slots, a power of two */
	const struct ynode **name_nodes;  /* per rule: its `name:` value, for messages */

	struct source src;
};

static size_t file_index(const struct loader *l, const char *file)
{
	for (size_t i = 0; i < l->rs->n_files; i++)
		if (l->docs[i] && l->docs[i]->file == file)
			return i;
	for (size_t i = 0; i < l->rs->n_files; i++)
		if (file && !strcmp(l->rs->files[i], file))
			return i;
	return SIZE_MAX;
}

/* The ruleset's copy of a node's file name (nodes borrow theirs from the document). */
static const char *owned_file(const struct loader *l, const char *file)
{
	size_t i = file_index(l, file);
	return i == SIZE_MAX ? NULL : l->rs->files[i];
}

static void error_at(struct loader *l, const char *file, int line, int column,
                     const char *fmt, ...) VIGIL_PRINTF(5, 6);

static void error_at(struct loader *l, const char *file, int line, int column,
                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	l->pending = xrealloc(l->pending, (l->n_pending + 1) * sizeof *l->pending);
	l->pending[l->n_pending] = (struct pending){
		.file_idx = file_index(l, file),
		.line = line,
		.column = column,
		.seq = l->n_pending,
		.text = text ? text : xstrdup("out of memory"),
	};
	l->n_pending++;
	l->errors++;
}

#define node_error(l, n, ...) error_at((l), (n)->file, (n)->line, (n)->column, __VA_ARGS__)

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	if (x->file_idx != y->file_idx)
		return x->file_idx < y->file_idx ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Report every error in file order, then by line and column. */
static void flush_errors(struct loader *l)
{
	if (l->n_pending)
		qsort(l->pending, l->n_pending, sizeof *l->pending, pending_cmp);
	for (size_t i = 0; i < l->n_pending; i++) {
		struct pending *p = &l->pending[i];
		const char *file = p->file_idx < l->rs->n_files ? l->rs->files[p->file_idx] : NULL;
		diag_add(l->d, file, p->line, p->column, "%s", p->text);
		free(p->text);
	}
	free(l->pending);
	l->pending = NULL;
	l->n_pending = 0;
}

/* For messages; the buffer lives until the end of the enclosing block. */
#define DESCRIBE(n) ynode_describe((n), (char[80]){ 0 }, 80)

/* "a, b, c" (at most 12 names, then "..."). Caller frees. */
static char *join_names(const char *const *names, size_t n)
{
	size_t len = 8;
	size_t shown = n > 12 ? 12 : n;
	for (size_t i = 0; i < shown; i++)
		len += strlen(names[i]) + 2;
	char *out = xmalloc(len), *p = out;
	for (size_t i = 0; i < shown; i++)
		p += sprintf(p, "%s%s", i ? ", " : "", names[i]);
	if (shown < n)
		p += sprintf(p, ", ...");
	*p = '\0';
	return out;
}

/* Is b a with two neighbouring characters swapped ("nera", "near")? */
static bool one_swap(const char *a, const char *b)
{
	size_t n = strlen(a), i = 0;
	if (n != strlen(b))
		return false;
	while (i < n && a[i] == b[i])
		i++;
	return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] && !strcmp(a + i + 2, b + i + 2);
}

/* closest_match, plus swapped neighbours, which edit distance counts as two. */
static const char *suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *close = closest_match(word, candidates, n);
	for (size_t i = 0; !close && i < n; i++)
		if (candidates[i] && one_swap(word, candidates[i]))
			close = candidates[i];
	return close;
}

static void unknown_key(struct loader *l, const struct ynode *key, const char *where,
                        const char *const *valid, size_t n_valid)
{
	const char *close = suggest(key->value, valid, n_valid);
	if (close) {
		node_error(l, key, "unknown key `%s` %s; did you mean `%s`?", key->value, where, close);
		return;
	}
	char *list = join_names(valid, n_valid);
	node_error(l, key, "unknown key `%s` %s (valid keys: %s)", key->value, where, list);
	free(list);
}

static bool is_in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* ---- columns inside scalars ---- */

static void source_drop(struct source *s)
{
	free(s->text);
	free(s->lines);
	*s = (struct source){ 0 };
}

static const struct source *source_of(struct loader *l, const char *file)
{
	struct source *s = &l->src;
	if (s->file == file || (s->file && file && !strcmp(s->file, file)))
		return s->failed ? NULL : s;
	source_drop(s);
	s->file = file;
	s->failed = true;

	FILE *f = fopen(file, "rb");
	if (!f)
		return NULL;
	size_t cap = 0;
	for (;;) {
		if (s->len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			s->text = xrealloc(s->text, cap);
		}
		size_t got = fread(s->text + s->len, 1, cap - s->len - 1, f);
		s->len += got;
		if (got == 0)
			break;
	}
	bool err = ferror(f);
	fclose(f);
	if (err)
		return NULL;
	s->text[s->len] = '\0';

	size_t cap_lines = 64;
	s->lines = xmalloc(cap_lines * sizeof *s->lines);
	s->lines[s->n_lines++] = 0;
	for (size_t i = 0; i < s->len; i++) {
		if (s->text[i] != '\n')
			continue;
		if (s->n_lines == cap_lines) {
			cap_lines *= 2;
			s->lines = xrealloc(s->lines, cap_lines * sizeof *s->lines);
		}
		s->lines[s->n_lines++] = i + 1;
	}
	s->failed = false;
	return s;
}

static bool utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * The column of byte `off` of a scalar's value, found by walking the source
 * line beside the value: exact for plain and single-quoted scalars and for
 * double-quoted ones without escapes before `off`. Anything else (a block
 * scalar, a line break, an escape, a YAML alias) gives the node's column.
 */
static int value_column(struct loader *l, const struct ynode *n, size_t off)
{
	const struct source *s = source_of(l, n->file);
	if (!s || n->line < 1 || (size_t)n->line > s->n_lines)
		return n->column;
	const char *p = s->text + s->lines[n->line - 1];
	for (int c = 1; c < n->column; c++) {
		if (!*p || *p == '\n')
			return n->column;
		p++;
		while (utf8_cont((unsigned char)*p))
			p++;
	}
	char quote = 0;
	int col = n->column;
	if (!n->plain) {
		if (*p != '\'' && *p != '"')
			return n->column;
		quote = *p++;
		col++;
	}
	const char *v = n->value;
	for (size_t i = 0; i < off; i++) {
		if (!v[i] || !*p || *p == '\n' || *p == '\r')
			return n->column;
		if (quote == '\'' && v[i] == '\'') {
			if (p[0] != '\'' || p[1] != '\'')
				return n->column;
			p += 2;
			col += 2;
			continue;
		}
		if (quote == '"' && *p == '\\')
			return n->column;
		if (*p != v[i])
			return n->column;
		p++;
		if (!utf8_cont((unsigned char)v[i]))
			col++;
	}
	/* col counted the character at off-1 and any before; off itself starts next. */
	return col;
}

/* ---- scalars ---- */

static bool is_string(const struct ynode *n)
{
	return n && n->type == YNODE_SCALAR && !ynode_is_null(n);
}

static bool has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static bool valid_field_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '_')
			return false;
	return true;
}

/* A letter or digit of any script (bytes >= 0x80 count: the matcher decides). */
static bool has_word_char(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))
			return true;
	}
	return false;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int read_duration(struct loader *l, const struct ynode *n, int64_t *out)
{
	int64_t ms;
	if (n->type != YNODE_SCALAR || duration_parse(n->value, &ms) < 0) {
		node_error(l, n, "invalid duration %s: write a number and a unit (ms, s, m, h, d, w), "
		           "like 90s, 10m, 6h or 1h30m", DESCRIBE(n));
		return -1;
	}
	*out = ms;
	return 0;
}

/* "HH:MM": minutes after midnight, or -1. 24:00 only when allow_24. */
static int parse_clock(const char *s, size_t len, bool allow_24)
{
	size_t i = 0;
	int h = 0, m;
	while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9')
		h = h * 10 + (s[i++] - '0');
	if (i == 0 || i >= len || s[i] != ':' || len - i - 1 != 2)
		return -1;
	if (s[i + 1] < '0' || s[i + 1] > '9' || s[i + 2] < '0' || s[i + 2] > '9')
		return -1;
	m = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m || !allow_24)))
		return -1;
	return h * 60 + m;
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

int quiet_range_parse(const char *text, int *start_min, int *end_min)
{
	const char *dash = text ? strchr(text, '-') : NULL;
	int start = -1, end = -1;
	if (dash) {
		const char *a = text, *b = dash + 1;
		size_t la = (size_t)(dash - a), lb = strlen(b);
		trim(&a, &la);
		trim(&b, &lb);
		start = parse_clock(a, la, false);
		end = parse_clock(b, lb, true);
	}
	if (start < 0 || end < 0)
		return -EINVAL;
	if (end == 24 * 60)
		end = 0;
	if (start == end)
		return -ERANGE;
	*start_min = start;
	*end_min = end;
	return 0;
}

static void read_quiet(struct loader *l, struct rule *r, const struct ynode *n)
{
	int start, end;
	int err = n->type == YNODE_SCALAR ? quiet_range_parse(n->value, &start, &end) : -EINVAL;
	if (err == -ERANGE) {
		node_error(l, n, "invalid quiet range %s: it starts and ends at the same time "
		           "(leave `quiet:` out for none)", DESCRIBE(n));
		return;
	}
	if (err < 0) {
		node_error(l, n, "invalid quiet range %s: write HH:MM-HH:MM in local time, like "
		           "\"22:00-07:00\" (it may wrap past midnight)", DESCRIBE(n));
		return;
	}
	r->has_quiet = true;
	r->quiet_start_min = start;
	r->quiet_end_min = end;
}

/* ---- terms and aliases ---- */

static int alias_cmp_name(const void *key, const void *elem)
{
	const struct alias_def *def = elem;
	return strcmp(key, def->key->value);
}

static struct alias_def *find_alias(struct loader *l, const char *name)
{
	if (!l->n_defs)
		return NULL;
	return bsearch(name, l->defs, l->n_defs, sizeof *l->defs, alias_cmp_name);
}

/* A term as written: "export license*" -> "export license", prefix. */
static int parse_term(struct loader *l, const struct ynode *n, struct rule_term *out)
{
	if (!is_string(n)) {
		if (ynode_is_null(n))
			node_error(l, n, "empty term: a term needs at least one letter or digit");
		else
			node_error(l, n, "expected a term (a word or phrase), got %s", DESCRIBE(n));
		return -1;
	}
	const char *v = n->value;
	size_t len = strlen(v);
	bool prefix = len && v[len - 1] == '*';
	if (prefix)
		len--;
	const char *star = memchr(v, '*', len);
	if (star) {
		node_error(l, n, "misplaced `*` in term %s: a `*` may only end a term, "
		           "to make its last word a prefix (like \"licen*\")", DESCRIBE(n));
		return -1;
	}
	char *text = xmalloc(len + 1);
	memcpy(text, v, len);
	text[len] = '\0';
	if (!has_word_char(text)) {
		node_error(l, n, "empty term %s: a term needs at least one letter or digit",
		           DESCRIBE(n));
		free(text);
		return -1;
	}
	if (prefix && (len == 0 || v[len - 1] == ' ' || v[len - 1] == '\t')) {
		node_error(l, n, "misplaced `*` in term %s: write it right after a word, "
		           "like \"licen*\"", DESCRIBE(n));
		free(text);
		return -1;
	}
	*out = (struct rule_term){
		.text = text,
		.prefix = prefix,
		.file = owned_file(l, n->file),
		.line = n->line,
		.column = n->column,
	};
	return 0;
}

static bool is_alias_ref(const struct ynode *n)
{
	return is_string(n) && n->value[0] == '@';
}

static const char *const *alias_names(struct loader *l)
{
	const char **names = xcalloc(l->n_defs + 1, sizeof *names);
	for (size_t i = 0; i < l->n_defs; i++)
		names[i] = l->defs[i].key->value;
	return names;
}

static void unknown_alias(struct loader *l, const struct ynode *n)
{
	const char *name = n->value + 1;
	if (!*name) {
		node_error(l, n, "empty alias name after `@`: write `@name` for an alias "
		           "defined under `aliases:`");
		return;
	}
	const char *const *names = alias_names(l);
	const char *close = suggest(name, names, l->n_defs);
	if (close) {
		node_error(l, n, "unknown alias `@%s`; did you mean `@%s`?", name, close);
	} else if (l->n_defs) {
		char *list = join_names(names, l->n_defs);
		node_error(l, n, "unknown alias `@%s` (defined aliases: %s)", name, list);
		free(list);
	} else {
		node_error(l, n, "unknown alias `@%s`: no aliases are defined (add it under "
		           "`aliases:` in any rule file)", name);
	}
	free((void *)names);
}

static void expand_alias(struct loader *l, size_t idx);

/* A cycle found at `n`, a reference to the busy alias `idx`. */
static void alias_cycle(struct loader *l, const struct ynode *n, size_t idx)
{
	size_t from = 0;
	while (from < l->n_stack && l->stack[from] != idx)
		from++;
	size_t len = 1;
	for (size_t i = from; i < l->n_stack; i++)
		len += strlen(l->defs[l->stack[i]].key->value) + 4;
	len += strlen(l->defs[idx].key->value);
	char *chain = xmalloc(len), *p = chain;
	for (size_t i = from; i < l->n_stack; i++)
		p += sprintf(p, "%s -> ", l->defs[l->stack[i]].key->value);
	sprintf(p, "%s", l->defs[idx].key->value);
	node_error(l, n, "alias cycle: %s; an alias may use other aliases, but not itself",
	           chain);
	free(chain);
}

static void alias_append(struct loader *l, struct rule_alias *a, size_t *cap,
                         const struct rule_term *t)
{
	if (a->n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		a->terms = xrealloc(a->terms, *cap * sizeof *a->terms);
	}
	a->terms[a->n] = *t;
	a->terms[a->n].alias = a->name;
	a->n++;
	l->alias_terms++;
}

static void expand_alias(struct loader *l, size_t idx)
{
	struct alias_def *def = &l->defs[idx];
	struct rule_alias *a = &l->rs->aliases[idx];
	if (def->state != ALIAS_NEW)
		return;
	def->state = ALIAS_BUSY;
	l->stack = xrealloc(l->stack, (l->n_stack + 1) * sizeof *l->stack);
	l->stack[l->n_stack++] = idx;

	const struct ynode *v = def->value;
	const struct ynode *const *items = NULL;
	size_t n_items = 0;
	bool bad = false, big = false;
	size_t cap = 0;

	if (v->type == YNODE_SEQUENCE) {
		items = (const struct ynode *const *)v->items;
		n_items = v->n;
	} else if (is_string(v)) {
		items = (const struct ynode *const *)&def->value;
		n_items = 1;
	} else if (v->type == YNODE_MAPPING) {
		node_error(l, v, "expected a list of terms, got a mapping (write `%s: [term, ...]`)",
		           def->key->value);
		bad = true;
	}
	if (!bad && n_items == 0) {
		node_error(l, v->type == YNODE_SEQUENCE ? v : def->key,
		           "alias `%s` has no terms: give it a list like `%s: [term, ...]`",
		           def->key->value, def->key->value);
		bad = true;
	}
	for (size_t i = 0; i < n_items; i++) {
		const struct ynode *it = items[i];
		if (is_alias_ref(it)) {
			struct alias_def *other = find_alias(l, it->value + 1);
			if (!other) {
				unknown_alias(l, it);
				bad = true;
				continue;
			}
			size_t o = (size_t)(other - l->defs);
			if (other->state == ALIAS_BUSY) {
				alias_cycle(l, it, o);
				bad = true;
				continue;
			}
			expand_alias(l, o);
			if (other->state != ALIAS_DONE) {
				bad = true;      /* reported where it went wrong */
				continue;
			}
			const struct rule_alias *oa = &l->rs->aliases[o];
			for (size_t j = 0; j < oa->n && !big; j++) {
				if (a->n >= MAX_ALIAS_TERMS || l->alias_terms >= MAX_TOTAL_ALIAS_TERMS) {
					big = true;
					break;
				}
				struct rule_term t = oa->terms[j];
				t.text = xstrdup(t.text);
				alias_append(l, a, &cap, &t);
			}
			continue;
		}
		struct rule_term t;
		if (parse_term(l, it, &t) < 0) {
			bad = true;
			continue;
		}
		if (a->n >= MAX_ALIAS_TERMS || l->alias_terms >= MAX_TOTAL_ALIAS_TERMS) {
			free(t.text);
			big = true;
			continue;
		}
		alias_append(l, a, &cap, &t);
	}
	if (big) {
		if (a->n >= MAX_ALIAS_TERMS)
			node_error(l, def->key, "alias `%s` expands to more than %d terms",
			           def->key->value, MAX_ALIAS_TERMS);
		else
			node_error(l, def->key, "aliases expand to more than %d terms in all",
			           MAX_TOTAL_ALIAS_TERMS);
		bad = true;
	}
	l->n_stack--;
	def->state = bad ? ALIAS_BAD : ALIAS_DONE;
}

static bool valid_alias_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x80 && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* Pass 1: remember every alias definition of one document. */
static void collect_aliases(struct loader *l, const struct ynode *map, const char *file)
{
	if (ynode_is_null(map))
		return;
	if (map->type != YNODE_MAPPING) {
		node_error(l, map, "expected a mapping of alias names to lists of terms "
		           "(`name: [term, ...]`), got %s", DESCRIBE(map));
		return;
	}
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key;
		if (k->value[0] == '@' && valid_alias_name(k->value + 1)) {
			node_error(l, k, "alias names are defined without `@`: write `%s:` here and "
			           "`\"@%s\"` where you use it", k->value + 1, k->value + 1);
			continue;
		}
		if (!valid_alias_name(k->value)) {
			node_error(l, k, "invalid alias name %s: use letters, digits, '_', '-' and '.'",
			           DESCRIBE(k));
			continue;
		}
		l->defs = xrealloc(l->defs, (l->n_defs + 1) * sizeof *l->defs);
		l->defs[l->n_defs] = (struct alias_def){
			.key = k,
			.value = map->entries[i].value,
			.file = file,
			.order = l->n_defs,
		};
		l->n_defs++;
	}
}

static int def_cmp(const void *a, const void *b)
{
	const struct alias_def *x = a, *y = b;
	int c = strcmp(x->key->value, y->key->value);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Sort, refuse duplicates, expand every alias (aliases may be used before
 * they are defined, and from any file). */
static void prepare_aliases(struct loader *l)
{
	if (l->n_defs)
		qsort(l->defs, l->n_defs, sizeof *l->defs, def_cmp);
	size_t out = 0;
	for (size_t i = 0; i < l->n_defs; i++) {
		if (out && !strcmp(l->defs[out - 1].key->value, l->defs[i].key->value)) {
			const struct alias_def *first = &l->defs[out - 1];
			node_error(l, l->defs[i].key, "duplicate alias `%s` (first defined at %s:%d:%d)",
			           first->key->value, first->file, first->key->line,
			           first->key->column);
			continue;
		}
		l->defs[out++] = l->defs[i];
	}
	l->n_defs = out;

	struct ruleset *rs = l->rs;
	rs->aliases = xcalloc(l->n_defs ? l->n_defs : 1, sizeof *rs->aliases);
	rs->n_aliases = l->n_defs;
	for (size_t i = 0; i < l->n_defs; i++) {
		const struct ynode *k = l->defs[i].key;
		rs->aliases[i].name = xstrdup(k->value);
		rs->aliases[i].file = l->defs[i].file;
		rs->aliases[i].line = k->line;
		rs->aliases[i].column = k->column;
	}
	for (size_t i = 0; i < l->n_defs; i++)
		expand_alias(l, i);
}

/* A term or "@alias" as a set of alternatives. */
static int parse_termset(struct loader *l, const struct ynode *n, struct rule_termset *out)
{
	*out = (struct rule_termset){ 0 };
	if (is_alias_ref(n)) {
		struct alias_def *def = find_alias(l, n->value + 1);
		if (!def) {
			unknown_alias(l, n);
			return -1;
		}
		const struct rule_alias *a = &l->rs->aliases[def - l->defs];
		if (def->state != ALIAS_DONE)
			return -1;           /* reported at the alias */
		out->terms = a->terms;
		out->n = a->n;
		out->alias = a;
		return 0;
	}
	struct rule_term t;
	if (parse_term(l, n, &t) < 0)
		return -1;
	out->terms = xmalloc(sizeof *out->terms);
	out->terms[0] = t;
	out->n = 1;
	return 0;
}

static void termset_free(struct rule_termset *ts)
{
	if (ts->alias)
		return;
	for (size_t i = 0; i < ts->n; i++)
		free(ts->terms[i].text);
	free(ts->terms);
}

/* ---- regular expressions ---- */

static int check_regex(struct loader *l, const struct ynode *n)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)n->value, PCRE2_ZERO_TERMINATED,
	                               PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", err);
		error_at(l, n->file, n->line, value_column(l, n, off),
		         "invalid regex: %s (PCRE2, at offset %zu of the pattern)", (char *)msg,
		         (size_t)off);
		return -1;
	}
	uint32_t min = 1;
	pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &min);
	pcre2_code_free(re);
	if (min == 0) {
		node_error(l, n, "this regex can match an empty string, so it would fire on almost "
		           "any text; make it need at least one character");
		return -1;
	}
	return 0;
}

/* ---- conditions ---- */

static void cond_free(struct rule_cond *c);

static void cond_list_free(struct rule_cond **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cond_free(v[i]);
	free(v);
}

static void cond_free(struct rule_cond *c)
{
	if (!c)
		return;
	strv_free(c->fields, c->n_fields);
	switch (c->kind) {
	case RULE_TERMS:
		termset_free(&c->terms);
		break;
	case RULE_NEAR:
		for (size_t i = 0; i < c->near.n; i++)
			termset_free(&c->near.members[i]);
		free(c->near.members);
		break;
	case RULE_REGEX:
		free(c->regex.pattern);
		break;
	case RULE_GROUP:
		cond_list_free(c->group.all, c->group.n_all);
		cond_list_free(c->group.any, c->group.n_any);
		cond_list_free(c->group.none, c->group.n_none);
		break;
	}
	free(c);
}

static struct rule_cond *cond_new(struct loader *l, enum rule_cond_kind kind,
                                  const struct ynode *n)
{
	struct rule_cond *c = xcalloc(1, sizeof *c);
	c->kind = kind;
	c->file = owned_file(l, n->file);
	c->line = n->line;
	c->column = n->column;
	return c;
}

static void read_fields(struct loader *l, struct rule_cond *c, const struct ynode *key,
                        const struct ynode *v, bool *seen)
{
	if (*seen) {
		node_error(l, key, "both `field:` and `fields:` given: use one "
		           "(`fields: [title, summary]` for several)");
		return;
	}
	*seen = true;
	const struct ynode *const *items;
	size_t n;
	if (v->type == YNODE_SEQUENCE) {
		items = (const struct ynode *const *)v->items;
		n = v->n;
	} else if (is_string(v)) {
		items = &v;
		n = 1;
	} else {
		node_error(l, v, "expected a field name like `title`, or a list of them, got %s",
		           DESCRIBE(v));
		return;
	}
	if (n == 0) {
		node_error(l, v, "empty list of fields: name at least one (title, summary, "
		           "content, ...) or leave `%s:` out", key->value);
		return;
	}
	c->fields = xcalloc(n, sizeof *c->fields);
	for (size_t i = 0; i < n; i++) {
		const struct ynode *f = items[i];
		if (!is_string(f)) {
			node_error(l, f, "expected a field name like `title`, got %s", DESCRIBE(f));
			continue;
		}
		if (!valid_field_name(f->value)) {
			const char *close = suggest(f->value, standard_fields, N_OF(standard_fields));
			if (close)
				node_error(l, f, "invalid field name %s; did you mean `%s`? (field names "
				           "are lower_snake_case)", DESCRIBE(f), close);
			else
				node_error(l, f, "invalid field name %s: field names are lower_snake_case, "
				           "like title, summary, content, author, categories or an item's "
				           "own field such as form_type", DESCRIBE(f));
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < c->n_fields; j++)
			dup = dup || !strcmp(c->fields[j], f->value);
		if (!dup)
			c->fields[c->n_fields++] = xstrdup(f->value);
	}
}

static struct rule_cond *parse_cond(struct loader *l, const struct ynode *n);

/* all: / any: / none: - a list of members (or one term). */
static void parse_members(struct loader *l, const struct ynode *key, const struct ynode *v,
                          struct rule_cond ***out, size_t *n_out)
{
	const struct ynode *const *items;
	size_t n;
	if (v->type == YNODE_SEQUENCE) {
		items = (const struct ynode *const *)v->items;
		n = v->n;
	} else if (is_string(v)) {
		items = &v;
		n = 1;
	} else if (v->type == YNODE_MAPPING) {
		node_error(l, v, "expected a list of terms, got a mapping (write each member of "
		           "`%s:` on its own `- ` line)", key->value);
		return;
	} else {
		node_error(l, v, "empty `%s:` list: give it at least one member or leave it out",
		           key->value);
		return;
	}
	if (n == 0) {
		node_error(l, v, "empty `%s:` list: give it at least one member or leave it out",
		           key->value);
		return;
	}
	struct rule_cond **arr = xcalloc(n, sizeof *arr);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct rule_cond *c = parse_cond(l, items[i]);
		if (c)
			arr[k++] = c;
	}
	*out = arr;
	*n_out = k;
}

static struct rule_cond *parse_near(struct loader *l, const struct ynode *map)
{
	struct rule_cond *c = cond_new(l, RULE_NEAR, map);
	bool seen_fields = false;
	c->near.within = DEFAULT_WITHIN;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		if (!strcmp(k->value, "near")) {
			if (v->type != YNODE_SEQUENCE) {
				node_error(l, v, "expected a list of terms, got %s (`near:` takes two or "
				           "more terms or @aliases)", DESCRIBE(v));
				continue;
			}
			if (v->n < 2) {
				node_error(l, v, "`near:` needs at least 2 members, got %zu", v->n);
				continue;
			}
			c->near.members = xcalloc(v->n, sizeof *c->near.members);
			for (size_t j = 0; j < v->n; j++) {
				const struct ynode *m = v->items[j];
				if (m->type != YNODE_SCALAR) {
					node_error(l, m, "expected a term or @alias in `near:`, got %s "
					           "(near: members cannot be groups)", DESCRIBE(m));
					continue;
				}
				if (parse_termset(l, m, &c->near.members[c->near.n]) == 0)
					c->near.n++;
			}
		} else if (!strcmp(k->value, "within")) {
			long long w;
			if (ynode_int(v, &w) < 0) {
				node_error(l, v, "expected a whole number of words for `within:`, got %s",
				           DESCRIBE(v));
			} else if (w < 1 || w > MAX_WITHIN) {
				node_error(l, v, "`within:` must be between 1 and %d words, got %lld",
				           MAX_WITHIN, w);
			} else {
				c->near.within = (unsigned)w;
			}
		} else if (!strcmp(k->value, "field") || !strcmp(k->value, "fields")) {
			read_fields(l, c, k, v, &seen_fields);
		} else if (is_in(k->value, cond_keys, N_OF(cond_keys))) {
			node_error(l, k, "`%s:` cannot be used in a `near:` condition (`near:` takes "
			           "`within:`, `field:` or `fields:`)", k->value);
		} else {
			unknown_key(l, k, "in a near: condition", near_keys, N_OF(near_keys));
		}
	}
	return c;
}

static struct rule_cond *parse_regex(struct loader *l, const struct ynode *map)
{
	struct rule_cond *c = cond_new(l, RULE_REGEX, map);
	bool seen_fields = false;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		if (!strcmp(k->value, "regex")) {
			if (!is_string(v)) {
				node_error(l, v, "expected a regular expression (PCRE2), got %s",
				           DESCRIBE(v));
				continue;
			}
			if (check_regex(l, v) == 0)
				c->regex.pattern = xstrdup(v->value);
		} else if (!strcmp(k->value, "raw")) {
			if (ynode_bool(v, &c->regex.raw) < 0)
				node_error(l, v, "expected true or false, got %s", DESCRIBE(v));
		} else if (!strcmp(k->value, "field") || !strcmp(k->value, "fields")) {
			read_fields(l, c, k, v, &seen_fields);
		} else if (is_in(k->value, cond_keys, N_OF(cond_keys))) {
			node_error(l, k, "`%s:` cannot be used in a `regex:` condition (`regex:` takes "
			           "`raw:`, `field:` or `fields:`)", k->value);
		} else {
			unknown_key(l, k, "in a regex: condition", regex_keys, N_OF(regex_keys));
		}
	}
	return c;
}

static struct rule_cond *parse_group(struct loader *l, const struct ynode *map)
{
	struct rule_cond *c = cond_new(l, RULE_GROUP, map);
	bool seen_fields = false, any_list = false;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		if (!strcmp(k->value, "all")) {
			parse_members(l, k, v, &c->group.all, &c->group.n_all);
			any_list = true;
		} else if (!strcmp(k->value, "any")) {
			parse_members(l, k, v, &c->group.any, &c->group.n_any);
			any_list = true;
		} else if (!strcmp(k->value, "none")) {
			parse_members(l, k, v, &c->group.none, &c->group.n_none);
			any_list = true;
		} else if (!strcmp(k->value, "field") || !strcmp(k->value, "fields")) {
			read_fields(l, c, k, v, &seen_fields);
		} else if (!strcmp(k->value, "within") || !strcmp(k->value, "raw")) {
			node_error(l, k, "`%s:` belongs with `%s:`, which this mapping does not have",
			           k->value, !strcmp(k->value, "raw") ? "regex" : "near");
		} else {
			/* "nera", "regx", "alll": any kind of condition may have been meant. */
			unknown_key(l, k, "in a condition", group_keys, N_OF(group_keys));
			any_list = true;     /* one message for this mapping is enough */
		}
	}
	if (!any_list)
		node_error(l, map, "this condition has none of `all:`, `any:`, `none:`, `near:` or "
		           "`regex:`");
	return c;
}

/* A member of a tree: a term or @alias, a bare list (any:), or a mapping. */
static struct rule_cond *parse_cond(struct loader *l, const struct ynode *n)
{
	if (n->type == YNODE_SCALAR) {
		struct rule_termset ts;
		if (parse_termset(l, n, &ts) < 0)
			return NULL;
		struct rule_cond *c = cond_new(l, RULE_TERMS, n);
		c->terms = ts;
		return c;
	}
	if (n->type == YNODE_SEQUENCE) {
		struct rule_cond *c = cond_new(l, RULE_GROUP, n);
		if (n->n == 0) {
			node_error(l, n, "empty list: give it at least one term");
			return c;
		}
		c->group.any = xcalloc(n->n, sizeof *c->group.any);
		for (size_t i = 0; i < n->n; i++) {
			struct rule_cond *m = parse_cond(l, n->items[i]);
			if (m)
				c->group.any[c->group.n_any++] = m;
		}
		return c;
	}
	bool near = ynode_get(n, "near") != NULL, regex = ynode_get(n, "regex") != NULL;
	if (near && regex) {
		node_error(l, n, "a condition is either `near:` or `regex:`, not both: make them two "
		           "members of an `all:` or `any:` list");
		return NULL;
	}
	if (near) {
		for (size_t i = 0; i < n->n; i++) {
			const char *k = n->entries[i].key->value;
			if (!strcmp(k, "all") || !strcmp(k, "any") || !strcmp(k, "none")) {
				node_error(l, n->entries[i].key, "`near:` and `%s:` in one mapping: make the "
				           "near: a member of the `%s:` list (`- near: [...]`)", k, k);
				return NULL;
			}
		}
		return parse_near(l, n);
	}
	if (regex) {
		for (size_t i = 0; i < n->n; i++) {
			const char *k = n->entries[i].key->value;
			if (!strcmp(k, "all") || !strcmp(k, "any") || !strcmp(k, "none")) {
				node_error(l, n->entries[i].key, "`regex:` and `%s:` in one mapping: make the "
				           "regex: a member of the `%s:` list (`- regex: ...`)", k, k);
				return NULL;
			}
		}
		return parse_regex(l, n);
	}
	return parse_group(l, n);
}

/* The top of `match:`: always a group, so the matcher starts from one. */
static struct rule_cond *parse_match(struct loader *l, const struct ynode *n)
{
	if (ynode_is_null(n)) {
		node_error(l, n, "`match:` is empty: give it terms, like `match: [DeepSeek, R2]`, "
		           "or leave it out");
		return NULL;
	}
	struct rule_cond *c = parse_cond(l, n);
	if (!c || c->kind == RULE_GROUP)
		return c;
	struct rule_cond *g = cond_new(l, RULE_GROUP, n);
	g->group.any = xmalloc(sizeof *g->group.any);
	g->group.any[0] = c;
	g->group.n_any = 1;
	return g;
}

/* ---- when: / rearm: expressions ---- */

enum tok {
	T_END = 0, T_LPAREN, T_RPAREN, T_CMP, T_AND, T_OR, T_NOT,
	T_FIELD, T_NUMBER, T_STRING,
};

struct expr_parser {
	struct loader *l;
	const struct ynode *node;
	const char *key;             /* "when" or "rearm" */
	const char *s;
	size_t pos;
	bool failed;
	int depth;
	/* The current token. */
	enum tok tok;
	size_t start, end;
	enum when_op op;
	double number;
	char *string;                /* T_STRING, T_FIELD: owned until taken */
};

static void expr_error(struct expr_parser *p, size_t off, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);

static void expr_error(struct expr_parser *p, size_t off, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	va_list ap;
	char *text;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	error_at(p->l, p->node->file, p->node->line, value_column(p->l, p->node, off),
	         "invalid `%s:` expression: %s", p->key, text ? text : "out of memory");
	free(text);
}

/* The current token as it appears, for messages. */
static const char *tok_text(const struct expr_parser *p, char *buf, size_t len)
{
	if (p->tok == T_END)
		return "the end of the expression";
	size_t n = p->end - p->start;
	if (n > len - 8)
		n = len - 8;
	snprintf(buf, len, "`%.*s`", (int)n, p->s + p->start);
	return buf;
}
#define TOK(p) tok_text((p), (char[64]){ 0 }, 64)

/* The character at s (whole, for UTF-8), for "unexpected X". */
static int char_len(const char *s)
{
	unsigned char c = (unsigned char)*s;
	int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	for (int i = 1; i < n; i++)
		if (!utf8_cont((unsigned char)s[i]))
			return i;
	return n;
}

static bool is_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static void lex_number(struct expr_parser *p)
{
	const char *s = p->s;
	size_t i = p->pos;
	bool neg = false;
	if (s[i] == '-' || s[i] == '+')
		neg = s[i++] == '-';
	double mant = 0;
	int frac = 0, digits = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++, digits++)
		mant = mant * 10 + (s[i] - '0');
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++, digits++, frac++)
			mant = mant * 10 + (s[i] - '0');
	}
	if (!digits) {
		expr_error(p, p->pos, "expected a number after `%c`", s[p->pos]);
		return;
	}
	double v = mant;
	for (int k = 0; k < frac; k++)
		v /= 10;
	if (s[i] == '%') {
		i++;
	} else if (s[i] == 'k' || s[i] == 'K') {
		v *= 1e3;
		i++;
	} else if (s[i] == 'M') {
		v *= 1e6;
		i++;
	}
	if (is_ident_char(s[i]) || s[i] == '.') {
		expr_error(p, i, "unexpected `%.*s` after a number (a number may end in %%, k or M)",
		           char_len(s + i), s + i);
		return;
	}
	p->tok = T_NUMBER;
	p->number = neg ? -v : v;
	p->end = i;
}

static void lex_string(struct expr_parser *p)
{
	const char *s = p->s;
	char q = s[p->pos];
	size_t i = p->pos + 1;
	char *out = xmalloc(strlen(s + i) + 1);
	size_t o = 0;
	for (; s[i] && s[i] != q; i++) {
		if (s[i] == '\\' && s[i + 1])
			i++;
		out[o++] = s[i];
	}
	if (!s[i]) {
		free(out);
		expr_error(p, p->pos, "unterminated string: the closing %c is missing", q);
		return;
	}
	out[o] = '\0';
	p->tok = T_STRING;
	p->string = out;
	p->end = i + 1;
}

static void lex_word(struct expr_parser *p)
{
	const char *s = p->s;
	size_t i = p->pos;
	while (is_ident_char(s[i]))
		i++;
	size_t n = i - p->pos;
	p->end = i;
	static const struct { const char *word; enum tok tok; } kw[] = {
		{ "and", T_AND }, { "or", T_OR }, { "not", T_NOT },
	};
	for (size_t k = 0; k < N_OF(kw); k++) {
		if (n == strlen(kw[k].word) && !strncasecmp(s + p->pos, kw[k].word, n)) {
			p->tok = kw[k].tok;
			return;
		}
	}
	char *word = xmalloc(n + 1);
	memcpy(word, s + p->pos, n);
	word[n] = '\0';
	if (!valid_field_name(word)) {
		char *lower = xstrdup(word);
		for (char *c = lower; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		if (valid_field_name(lower))
			expr_error(p, p->pos, "invalid field name `%s`; did you mean `%s`? (field names "
			           "are lower_snake_case)", word, lower);
		else
			expr_error(p, p->pos, "invalid field name `%s`: field names are "
			           "lower_snake_case, like change_pct", word);
		free(lower);
		free(word);
		return;
	}
	p->tok = T_FIELD;
	p->string = word;
}

/* Read the next token into p->tok (T_END with p->failed set on an error). */
static void lex(struct expr_parser *p)
{
	const char *s = p->s;
	free(p->string);
	p->string = NULL;
	p->tok = T_END;
	if (p->failed)
		return;
	while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
		p->pos++;
	p->start = p->end = p->pos;
	char c = s[p->pos], c1 = c ? s[p->pos + 1] : '\0';
	if (!c)
		return;

	static const struct { const char *text; enum when_op op; } ops[] = {
		{ "<=", WHEN_LE }, { ">=", WHEN_GE }, { "==", WHEN_EQ }, { "!=", WHEN_NE },
		{ "<", WHEN_LT }, { ">", WHEN_GT },
	};
	for (size_t k = 0; k < N_OF(ops); k++) {
		size_t n = strlen(ops[k].text);
		if (!strncmp(s + p->pos, ops[k].text, n)) {
			p->tok = T_CMP;
			p->op = ops[k].op;
			p->end = p->pos + n;
			goto done;
		}
	}
	if (c == '(' || c == ')') {
		p->tok = c == '(' ? T_LPAREN : T_RPAREN;
		p->end = p->pos + 1;
	} else if (c == '=' && (c1 == '<' || c1 == '>')) {
		expr_error(p, p->pos, "write `%c=`, not `=%c`", c1, c1);
	} else if (c == '=') {
		expr_error(p, p->pos, "use `==` to compare, not `=`");
	} else if (c == '!') {
		expr_error(p, p->pos, "use `not` instead of `!`");
	} else if (c == '&') {
		expr_error(p, p->pos, "use `and` instead of `%s`", c1 == '&' ? "&&" : "&");
	} else if (c == '|') {
		expr_error(p, p->pos, "use `or` instead of `%s`", c1 == '|' ? "||" : "|");
	} else if ((c >= '0' && c <= '9') || c == '.' ||
	           ((c == '-' || c == '+') && ((c1 >= '0' && c1 <= '9') || c1 == '.'))) {
		lex_number(p);
	} else if (c == '-' || c == '+') {
		expr_error(p, p->pos, "expected a number right after `%c`", c);
	} else if (c == '"' || c == '\'') {
		lex_string(p);
	} else if (is_ident_char(c)) {
		lex_word(p);
	} else {
		expr_error(p, p->pos, "unexpected `%.*s`", char_len(s + p->pos), s + p->pos);
	}
done:
	if (p->failed)
		p->tok = T_END;
	p->pos = p->end > p->pos ? p->end : p->pos;
}

static struct when_expr *expr_new(struct expr_parser *p, enum when_op op, size_t off)
{
	struct when_expr *e = xcalloc(1, sizeof *e);
	e->op = op;
	e->file = owned_file(p->l, p->node->file);
	e->line = p->node->line;
	e->column = value_column(p->l, p->node, off);
	return e;
}

static void when_free(struct when_expr *e)
{
	if (!e)
		return;
	when_free(e->left);
	when_free(e->right);
	free(e->field);
	free(e->string);
	free(e);
}

static struct when_expr *parse_or(struct expr_parser *p);

/* One side of a comparison: a field, a number or a string. */
struct operand {
	enum tok tok;
	size_t start, end;
	char *text;                  /* field or string, owned */
	double number;
};

static bool take_operand(struct expr_parser *p, struct operand *o)
{
	if (p->tok != T_FIELD && p->tok != T_NUMBER && p->tok != T_STRING)
		return false;
	o->tok = p->tok;
	o->start = p->start;
	o->end = p->end;
	o->number = p->number;
	o->text = p->string;
	p->string = NULL;
	lex(p);
	return true;
}

static enum when_op flip(enum when_op op)
{
	switch (op) {
	case WHEN_LT: return WHEN_GT;
	case WHEN_LE: return WHEN_GE;
	case WHEN_GT: return WHEN_LT;
	case WHEN_GE: return WHEN_LE;
	default: return op;
	}
}

static struct when_expr *parse_comparison(struct expr_parser *p)
{
	struct operand a = { 0 }, b = { 0 };
	struct when_expr *e = NULL;
	if (!take_operand(p, &a)) {
		expr_error(p, p->start, "expected a field name, a number, a quoted string, `not` or "
		           "`(`, got %s", TOK(p));
		return NULL;
	}
	if (p->tok != T_CMP) {
		const char *what = a.tok == T_FIELD ? "the field" : "the value";
		expr_error(p, p->start, "expected a comparison (<, <=, >, >=, ==, !=) after %s "
		           "`%.*s`, got %s", what, (int)(a.end - a.start), p->s + a.start, TOK(p));
		goto out;
	}
	enum when_op op = p->op;
	size_t op_start = p->start;
	lex(p);
	if (!take_operand(p, &b)) {
		expr_error(p, p->start, "expected a field name, a number or a quoted string after "
		           "`%.*s`, got %s", (int)(op == WHEN_LT || op == WHEN_GT ? 1 : 2),
		           p->s + op_start, TOK(p));
		goto out;
	}
	if (a.tok == T_FIELD && b.tok == T_FIELD) {
		expr_error(p, b.start, "compare the field `%s` with a number or a quoted string, "
		           "not with another field (`%s`)", a.text, b.text);
		goto out;
	}
	if (a.tok != T_FIELD && b.tok != T_FIELD) {
		expr_error(p, a.start, "a comparison needs a field name on one side, like "
		           "`change_pct <= -5`");
		goto out;
	}
	struct operand *field = &a, *value = &b;
	if (b.tok == T_FIELD) {
		field = &b;
		value = &a;
		op = flip(op);
	}
	if (value->tok == T_STRING && op != WHEN_EQ && op != WHEN_NE) {
		expr_error(p, value->start, "a quoted string can only be compared with == or !=");
		goto out;
	}
	e = expr_new(p, op, a.start);
	e->field = field->text;
	field->text = NULL;
	if (value->tok == T_STRING) {
		e->is_string = true;
		e->string = value->text;
		value->text = NULL;
	} else {
		e->number = value->number;
	}
out:
	free(a.text);
	free(b.text);
	return e;
}

static struct when_expr *parse_not(struct expr_parser *p)
{
	if (p->tok == T_NOT || p->tok == T_LPAREN) {
		if (++p->depth > MAX_EXPR_DEPTH) {
			expr_error(p, p->start, "expression nested more than %d levels deep",
			           MAX_EXPR_DEPTH);
			return NULL;
		}
	}
	if (p->tok == T_NOT) {
		size_t start = p->start;
		lex(p);
		struct when_expr *inner = parse_not(p);
		p->depth--;
		if (!inner)
			return NULL;
		struct when_expr *e = expr_new(p, WHEN_NOT, start);
		e->left = inner;
		return e;
	}
	if (p->tok == T_LPAREN) {
		size_t open = p->start;
		lex(p);
		struct when_expr *e = parse_or(p);
		p->depth--;
		if (!e)
			return NULL;
		if (p->tok != T_RPAREN) {
			expr_error(p, p->start, "expected `)` to close the `(` at column %d, got %s",
			           value_column(p->l, p->node, open), TOK(p));
			when_free(e);
			return NULL;
		}
		lex(p);
		return e;
	}
	return parse_comparison(p);
}

static struct when_expr *parse_binary(struct expr_parser *p, enum tok tok, enum when_op op,
                                      struct when_expr *(*next)(struct expr_parser *))
{
	size_t start = p->start;
	struct when_expr *left = next(p);
	while (left && p->tok == tok) {
		lex(p);
		struct when_expr *right = next(p);
		if (!right) {
			when_free(left);
			return NULL;
		}
		struct when_expr *e = expr_new(p, op, start);
		e->left = left;
		e->right = right;
		left = e;
	}
	return left;
}

static struct when_expr *parse_and(struct expr_parser *p)
{
	return parse_binary(p, T_AND, WHEN_AND, parse_not);
}

static struct when_expr *parse_or(struct expr_parser *p)
{
	return parse_binary(p, T_OR, WHEN_OR, parse_and);
}

static struct when_expr *parse_when(struct loader *l, const char *key, const struct ynode *n)
{
	if (!is_string(n)) {
		node_error(l, n, "expected an expression like `change_pct <= -5` for `%s:`, got %s",
		           key, DESCRIBE(n));
		return NULL;
	}
	struct expr_parser p = { .l = l, .node = n, .key = key, .s = n->value };
	lex(&p);
	if (p.tok == T_END && !p.failed) {
		expr_error(&p, 0, "the expression is empty");
		return NULL;
	}
	struct when_expr *e = parse_or(&p);
	if (e && p.tok != T_END) {
		if (p.tok == T_RPAREN)
			expr_error(&p, p.start, "unexpected `)`: there is no `(` to close");
		else
			expr_error(&p, p.start, "expected `and`, `or` or the end of the expression, "
			           "got %s", TOK(&p));
	}
	free(p.string);
	if (p.failed) {
		when_free(e);
		return NULL;
	}
	return e;
}

/* ---- rules ---- */

static uint64_t name_hash(const char *s)
{
	return fnv64(FNV64_SEED, s, strlen(s));
}

/* The index of an earlier rule called `name`, or SIZE_MAX; else remembers `idx`. */
static size_t name_add(struct loader *l, const char *name, size_t idx)
{
	size_t mask = l->n_names - 1;
	for (size_t h = (size_t)name_hash(name) & mask;; h = (h + 1) & mask) {
		size_t at = l->names[h];
		if (!at) {
			l->names[h] = idx + 1;
			return SIZE_MAX;
		}
		if (!strcmp(l->rs->rules[at - 1].name, name))
			return at - 1;
	}
}

static void names_reserve(struct loader *l, size_t n_rules)
{
	size_t want = 16;
	while (want < n_rules * 2)
		want *= 2;
	if (want <= l->n_names)
		return;
	free(l->names);
	l->names = xcalloc(want, sizeof *l->names);
	l->n_names = want;
	for (size_t i = 0; i < l->rs->n; i++)
		if (l->rs->rules[i].name)
			name_add(l, l->rs->rules[i].name, i);
}

/* sources: / notify: - one name or a list; checked against `known` when not NULL. */
static void read_names(struct loader *l, const struct ynode *v, const char *what,
                       bool globs, const char *const *known, size_t n_known,
                       char ***out, size_t *n_out)
{
	const struct ynode *const *items;
	size_t n;
	if (v->type == YNODE_SEQUENCE) {
		items = (const struct ynode *const *)v->items;
		n = v->n;
	} else if (is_string(v)) {
		items = &v;
		n = 1;
	} else {
		node_error(l, v, "expected a list of %s names%s, got %s", what,
		           globs ? " or globs" : "", DESCRIBE(v));
		return;
	}
	if (n == 0) {
		node_error(l, v, "empty list of %ss: it would %s; leave the key out for every %s",
		           what, globs ? "match no source" : "send alerts nowhere", what);
		return;
	}
	char **names = xcalloc(n, sizeof *names);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ynode *it = items[i];
		if (!is_string(it) || has_line_break(it->value) || !it->value[0]) {
			node_error(l, it, "expected a %s name, got %s", what, DESCRIBE(it));
			continue;
		}
		const char *name = it->value;
		bool pattern = globs && strpbrk(name, "*?[");
		if (known && !pattern && !is_in(name, known, n_known)) {
			const char *close = suggest(name, known, n_known);
			if (close) {
				node_error(l, it, "unknown %s `%s`; did you mean `%s`?", what, name, close);
			} else if (n_known) {
				char *list = join_names(known, n_known);
				node_error(l, it, "unknown %s `%s` (configured %ss: %s)", what, name, what,
				           list);
				free(list);
			} else {
				node_error(l, it, "unknown %s `%s`: no %ss are configured", what, name,
				           what);
			}
		}
		names[k++] = xstrdup(name);
	}
	*out = names;
	*n_out = k;
}

static void read_severity(struct loader *l, struct rule *r, const struct ynode *v)
{
	for (size_t i = 0; v->type == YNODE_SCALAR && i < N_OF(severity_names); i++) {
		if (!strcmp(v->value, severity_names[i])) {
			r->severity = (enum rule_severity)i;
			return;
		}
	}
	const char *close = v->type == YNODE_SCALAR
	                    ? suggest(v->value, severity_names, N_OF(severity_names))
	                    : NULL;
	if (close)
		node_error(l, v, "unknown severity %s; did you mean `%s`?", DESCRIBE(v), close);
	else
		node_error(l, v, "expected a severity (low, normal, high or critical), got %s",
		           DESCRIBE(v));
}

static void read_rule_key(struct loader *l, struct rule *r, const struct ynode *k,
                          const struct ynode *v)
{
	const struct rules_context *ctx = l->ctx;
	const char *key = k->value;

	if (!strcmp(key, "description")) {
		if (v->type != YNODE_SCALAR)
			node_error(l, v, "expected a description (text), got %s", DESCRIBE(v));
		else if (!ynode_is_null(v))
			r->description = xstrdup(v->value);
	} else if (!strcmp(key, "sources")) {
		read_names(l, v, "source", true, ctx ? ctx->sources : NULL,
		           ctx ? ctx->n_sources : 0, &r->sources, &r->n_sources);
	} else if (!strcmp(key, "notify")) {
		read_names(l, v, "sink", false, ctx ? ctx->sinks : NULL, ctx ? ctx->n_sinks : 0,
		           &r->notify, &r->n_notify);
	} else if (!strcmp(key, "match")) {
		r->match = parse_match(l, v);
	} else if (!strcmp(key, "when")) {
		r->when = parse_when(l, "when", v);
	} else if (!strcmp(key, "rearm")) {
		r->rearm = parse_when(l, "rearm", v);
	} else if (!strcmp(key, "severity")) {
		read_severity(l, r, v);
	} else if (!strcmp(key, "cooldown")) {
		read_duration(l, v, &r->cooldown_ms);
	} else if (!strcmp(key, "digest")) {
		read_duration(l, v, &r->digest_ms);
	} else if (!strcmp(key, "quiet")) {
		read_quiet(l, r, v);
	} else if (!strcmp(key, "max_per_hour")) {
		long long m;
		if (ynode_int(v, &m) < 0)
			node_error(l, v, "expected a whole number of alerts per hour, got %s",
			           DESCRIBE(v));
		else if (m < 1 || m > INT_MAX)
			node_error(l, v, "`max_per_hour:` must be at least 1, got %lld (leave it out "
			           "for no cap)", m);
		else
			r->max_per_hour = (int)m;
	} else if (is_in(key, cond_keys, N_OF(cond_keys))) {
		node_error(l, k, "`%s:` belongs inside `match:` (`match: { %s: ... }`)", key, key);
	} else {
		unknown_key(l, k, "in a rule", rule_keys, N_OF(rule_keys));
	}
}

static void parse_rule(struct loader *l, const struct ynode *map)
{
	struct ruleset *rs = l->rs;
	if (map->type != YNODE_MAPPING) {
		node_error(l, map, "expected a rule (a mapping with `name:` and `match:` or `when:`), "
		           "got %s", DESCRIBE(map));
		return;
	}
	struct rule *r = &rs->rules[rs->n++];
	r->file = owned_file(l, map->file);
	r->line = map->line;
	r->column = map->column;
	r->severity = SEVERITY_NORMAL;
	r->cooldown_ms = -1;            /* not set: the default story window (docs/noise.md) */

	const struct ynode *name = ynode_get(map, "name");
	if (!name || ynode_is_null(name)) {
		node_error(l, name ? name : map, "this rule has no `name:` (every rule needs a "
		           "unique name)");
	} else if (name->type != YNODE_SCALAR || has_line_break(name->value) ||
	           !has_word_char(name->value)) {
		node_error(l, name, "expected a rule name (one line of text), got %s",
		           DESCRIBE(name));
	} else {
		r->name = xstrdup(name->value);
		size_t first = name_add(l, r->name, rs->n - 1);
		if (first != SIZE_MAX) {
			const struct ynode *fn = l->name_nodes[first];
			node_error(l, name, "duplicate rule name \"%s\" (also at %s:%d:%d); rule names "
			           "must be unique across all rule files", r->name,
			           rs->rules[first].file, fn->line, fn->column);
		}
		l->name_nodes[rs->n - 1] = name;
	}

	const struct ynode *when = NULL, *rearm = NULL, *match = NULL;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		if (!strcmp(k->value, "name"))
			continue;
		if (!strcmp(k->value, "when"))
			when = k;
		else if (!strcmp(k->value, "rearm"))
			rearm = k;
		else if (!strcmp(k->value, "match"))
			match = k;
		read_rule_key(l, r, k, v);
	}
	if (!match && !when) {
		if (r->name)
			node_error(l, map, "rule \"%s\" needs `match:` or `when:` (or both)", r->name);
		else
			node_error(l, map, "this rule needs `match:` or `when:` (or both)");
	}
	if (rearm && !when)
		node_error(l, rearm, "`rearm:` without `when:`: it says when a `when:` rule may fire "
		           "again");
}

static void parse_rules(struct loader *l, const struct ynode *list)
{
	if (!list || ynode_is_null(list))
		return;
	if (list->type != YNODE_SEQUENCE) {
		node_error(l, list, "expected a list of rules (each `- name: ...`), got %s",
		           DESCRIBE(list));
		return;
	}
	struct ruleset *rs = l->rs;
	rs->rules = xrealloc(rs->rules, (rs->n + list->n + 1) * sizeof *rs->rules);
	memset(rs->rules + rs->n, 0, (list->n + 1) * sizeof *rs->rules);
	l->name_nodes = xrealloc(l->name_nodes, (rs->n + list->n + 1) * sizeof *l->name_nodes);
	names_reserve(l, rs->n + list->n);
	for (size_t i = 0; i < list->n; i++)
		parse_rule(l, list->items[i]);
}

/* ---- files ---- */

static bool rule_file_name(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;        /* hidden, editor files */
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(struct ruleset *rs, char *path)
{
	rs->files = xrealloc(rs->files, (rs->n_files + 1) * sizeof *rs->files);
	rs->files[rs->n_files++] = path;
}

/* The files to read, in order, into rs->files. */
static int list_files(struct ruleset *rs, const char *path, struct diags *d)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		diag_add(d, path, 0, 0, "cannot read rules: %s", strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		add_file(rs, xstrdup(path));
		return 0;
	}
	DIR *dir = opendir(path);
	if (!dir) {
		diag_add(d, path, 0, 0, "cannot read the rules directory: %s", strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (!rule_file_name(de->d_name))
			continue;
		char *full = path_join(path, de->d_name);
		if (stat(full, &st) == 0 && !S_ISREG(st.st_mode)) {
			free(full);      /* a directory called x.yaml; a broken link is reported */
			continue;
		}
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = full;
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof *names, str_cmp);
	for (size_t i = 0; i < n; i++)
		add_file(rs, names[i]);
	free(names);
	return 0;
}

struct ruleset *ruleset_load(const char *path, const struct rules_context *ctx, struct diags *d)
{
	struct ruleset *rs = xcalloc(1, sizeof *rs);
	if (!path)
		return rs;
	if (list_files(rs, path, d) < 0) {
		ruleset_free(rs);
		return NULL;
	}

	struct loader l = { .rs = rs, .ctx = ctx, .d = d };
	l.docs = xcalloc(rs->n_files + 1, sizeof *l.docs);
	bool yaml_failed = false;
	for (size_t i = 0; i < rs->n_files; i++) {
		l.docs[i] = ydoc_load_file(rs->files[i], d);
		if (!l.docs[i])
			yaml_failed = true;
	}

	/* Pass 1: the top level and every alias, from every file. */
	for (size_t i = 0; i < rs->n_files; i++) {
		const struct ynode *root = l.docs[i] ? l.docs[i]->root : NULL;
		if (!root || ynode_is_null(root))
			continue;
		if (root->type != YNODE_MAPPING) {
			node_error(&l, root, "expected a mapping with `aliases:` and `rules:` at the top "
			           "level, got %s%s", DESCRIBE(root),
			           root->type == YNODE_SEQUENCE ? " (put the rules under `rules:`)" : "");
			continue;
		}
		for (size_t j = 0; j < root->n; j++) {
			const struct ynode *k = root->entries[j].key;
			if (!strcmp(k->value, "aliases"))
				collect_aliases(&l, root->entries[j].value, rs->files[i]);
			else if (strcmp(k->value, "rules"))
				unknown_key(&l, k, "at the top level", top_keys, N_OF(top_keys));
		}
	}
	prepare_aliases(&l);

	/* Pass 2: the rules. */
	for (size_t i = 0; i < rs->n_files; i++) {
		const struct ynode *root = l.docs[i] ? l.docs[i]->root : NULL;
		if (root && root->type == YNODE_MAPPING)
			parse_rules(&l, ynode_get(root, "rules"));
	}

	bool failed = yaml_failed || l.errors;
	flush_errors(&l);
	for (size_t i = 0; i < rs->n_files; i++)
		ydoc_free(l.docs[i]);
	free(l.docs);
	free(l.defs);
	free(l.stack);
	free(l.names);
	free(l.name_nodes);
	source_drop(&l.src);
	if (failed) {
		ruleset_free(rs);
		return NULL;
	}
	return rs;
}

void ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++) {
		struct rule *r = &rs->rules[i];
		free(r->name);
		free(r->description);
		strv_free(r->sources, r->n_sources);
		strv_free(r->notify, r->n_notify);
		cond_free(r->match);
		when_free(r->when);
		when_free(r->rearm);
	}
	free(rs->rules);
	for (size_t i = 0; i < rs->n_aliases; i++) {
		struct rule_alias *a = &rs->aliases[i];
		for (size_t j = 0; j < a->n; j++)
			free(a->terms[j].text);
		free(a->terms);
		free(a->name);
	}
	free(rs->aliases);
	strv_free(rs->files, rs->n_files);
	free(rs);
}
