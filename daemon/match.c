/* match.c - the rule engine: Vectorscan literals, PCRE2 JIT regexes, boolean and near evaluation */
#include "match.h"

#include <errno.h>
#include <fnmatch.h>
#include <hs.h>
#include <jansson.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "log.h"
#include "normalize.h"
#include "util.h"
#include "when.h"

/*
 * How an item is matched:
 *  1. Every field some rule looks at is cut into segments (one per text: a
 *     category each) and normalised (normalize_text_into, with a map back to
 *     the original offsets; the buffers are reused from item to item).
 *  2. Each segment is scanned for every distinct normalised literal of every
 *     rule (Vectorscan, block mode; the literals are split over a few
 *     databases, see build_database). Literals have a fixed length, so a
 *     hit's start is end - len: no start-of-match tracking in the automaton.
 *     Each hit is checked for word boundaries (normalize_on_boundaries:
 *     proclitics, CJK junctions, hyphens) as whole words and, if the literal
 *     is also used as a prefix term, as a prefix; for a term that starts
 *     with ال its stem is a literal too, found after لل (للتصدير). Hits that
 *     pass are kept, chained per literal.
 *  3. Only rules that can hold are evaluated: a rule is indexed under a set
 *     of its literals one of which must hit for it to hold (see trigger());
 *     rules that can hold without any literal (only none:, regex:, when:)
 *     are evaluated on every item.
 *  4. A rule's tree is evaluated lazily, cheap members first (terms, then
 *     near, then groups, then regexes), none: last. Regexes run only here,
 *     once per item and condition (cached).
 *  5. For a rule that holds (and whose when: fires), the reason is collected
 *     from the same hits and mapped back to the original text.
 */

enum {
	MAX_FIELDS = 64,             /* distinct field names over all rules: a bit mask */
	N_DEFAULT_FIELDS = 3,        /* title, summary, content: fields 0..2 */
	HIT_EXACT = 1,               /* on boundaries as whole words */
	HIT_PREFIX = 2,              /* on boundaries with the last word as a prefix */
	HIT_STEM_EXACT = 4,          /* the same, as the stem of an ال term after لل */
	HIT_STEM_PREFIX = 8,
	HIT_CAP = 1 << 18,           /* hits kept per item; more are dropped (logged) */
	REASON_PER_TERM = 3,         /* occurrences of one term listed per segment */
	REASON_TEXT_CAP = 12,        /* entries in the text of one reason */
	REASON_CAP = 48,             /* entries in its JSON */
	SLICE_MAX = 80,              /* bytes of original text quoted in a reason */
	SHARD_LITERALS = 6144,       /* literals in one Vectorscan database (build_database) */
};

#define NONE32 UINT32_MAX
#define REGEX_MATCH_LIMIT 200000
#define REGEX_DEPTH_LIMIT 10000
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (512 * 1024)

static const char *const default_fields[N_DEFAULT_FIELDS] = { "title", "summary", "content" };

/* A distinct normalised literal: one pattern of the database. */
struct pattern {
	char *text;                  /* normalised; owned */
	uint32_t len;
	bool plain;                  /* some term is this literal */
	bool has_prefix;             /* ... with a trailing '*' */
	bool stem;                   /* the stem of an ال term (normalize_term_stem) */
	bool stem_prefix;            /* ... of a prefix term */
	uint32_t uses;               /* terms that name it, over every rule */
	uint32_t *rules;             /* rules to evaluate when it hits */
	uint32_t n_rules, cap_rules;
};

/* One term of a condition: a literal, as whole words or as a prefix; for a
 * term that starts with the article ال also its stem, found after لل. */
struct cterm {
	uint32_t pat;
	uint32_t stem;               /* pattern of the stem, or NONE32 */
	bool prefix;
	const struct rule_term *src;
};

struct ctermset {
	struct cterm *t;
	size_t n;
};

/* A compiled rule_cond. `fields` is the effective scope (inheritance resolved). */
struct ccond {
	enum rule_cond_kind kind;
	uint64_t fields;
	int cost;                    /* 0 terms, 1 near, 2 group of those, 3 with a regex */
	const struct rule_cond *src;
	union {
		struct ctermset terms;
		struct {
			struct ctermset *m;
			size_t n;
			unsigned within;
		} near;
		struct {
			pcre2_code *code;
			uint32_t slot;       /* index of its per-item cache */
			bool raw;
		} regex;
		struct {
			struct ccond **all, **any, **none;
			size_t n_all, n_any, n_none;
		} group;
	};
};

struct crule {
	const struct rule *r;
	struct ccond *match;         /* NULL: only when: */
	bool always;                 /* can hold without a literal: evaluated on every item */
	bool warned;                 /* a regex error was logged */
};

/* One text of an item, normalised. */
struct segment {
	unsigned field;
	int index;                   /* categories: which one; else -1 */
	const char *orig;
	size_t orig_len;
	struct normtext nt;
	uint32_t *tokens;            /* start offsets of words (CJK: characters), lazily */
	size_t n_tokens, cap_tokens;
	bool tokens_done;
};

/* A hit of a pattern in a segment, on boundaries (ok says how). */
struct hit {
	uint32_t pat, seg, start, end;
	uint32_t next;               /* the pattern's next hit, or NONE32 */
	uint8_t ok;
};

struct rxcache {
	uint32_t gen;
	bool matched;
	uint32_t seg, start, end;    /* of the match; raw: original offsets */
};

/* One line of a reason; offsets in the segment's normalised text, unless a raw regex. */
struct rentry {
	const struct rule_term *term;
	const struct ccond *rx;
	uint32_t seg, start, end;
};

/* A near member's hit, as word positions. */
struct nearpos {
	uint32_t member, first, last, hit;
	const struct rule_term *term;
};

struct matcher {
	struct ruleset *rs;
	struct crule *rules;
	size_t n_rules;

	struct pattern *pats;
	size_t n_pats, cap_pats;
	uint32_t *slots;             /* open addressing over pats: index + 1, 0 free */
	size_t n_slots;

	const char *fields[MAX_FIELDS];  /* borrowed from the rules (or static) */
	size_t n_fields;
	uint64_t scan_fields;        /* every field a condition looks at */

	uint32_t *always;
	size_t n_always, cap_always;

	hs_database_t **dbs;         /* the literals, in shards; none when there are none */
	size_t n_dbs;
	hs_scratch_t *scratch;       /* fits every shard */

	pcre2_match_context *mctx;
	pcre2_jit_stack *jstack;
	pcre2_match_data *md;
	uint32_t n_regex;

	/* Per item. Arrays stamped with `gen` need no clearing between items. */
	uint32_t gen;
	uint32_t *pat_gen, *pat_head, *pat_tail;
	uint32_t *rule_gen;
	uint32_t *cands;
	size_t n_cands;
	struct rxcache *rx;
	struct segment *segs;        /* cap_segs of them hold buffers */
	size_t n_segs, cap_segs;
	uint32_t cur_seg;
	struct crule *cur_rule;
	struct hit *hits;
	size_t n_hits, cap_hits;
	bool overflow_logged;
	struct rentry *re;
	size_t n_re, cap_re;
	struct nearpos *np;
	size_t cap_np;
};

/* ------------------------------------------------------------------------ */
/* Compiling */

static uint32_t pattern_intern(struct matcher *m, char *norm)
{
	size_t len = strlen(norm);
	uint64_t h = fnv64(FNV64_SEED, norm, len);

	if (m->n_pats * 2 >= m->n_slots) {
		size_t n = m->n_slots ? m->n_slots * 2 : 1024;
		uint32_t *slots = xcalloc(n, sizeof *slots);
		for (size_t i = 0; i < m->n_pats; i++) {
			uint64_t hh = fnv64(FNV64_SEED, m->pats[i].text, m->pats[i].len);
			size_t j = hh & (n - 1);
			while (slots[j])
				j = (j + 1) & (n - 1);
			slots[j] = (uint32_t)i + 1;
		}
		free(m->slots);
		m->slots = slots;
		m->n_slots = n;
	}
	size_t j = h & (m->n_slots - 1);
	while (m->slots[j]) {
		struct pattern *p = &m->pats[m->slots[j] - 1];
		if (p->len == len && !memcmp(p->text, norm, len)) {
			free(norm);
			return m->slots[j] - 1;
		}
		j = (j + 1) & (m->n_slots - 1);
	}
	if (m->n_pats == m->cap_pats) {
		m->cap_pats = m->cap_pats ? m->cap_pats * 2 : 256;
		m->pats = xrealloc(m->pats, m->cap_pats * sizeof *m->pats);
	}
	struct pattern *p = &m->pats[m->n_pats];
	memset(p, 0, sizeof *p);
	p->text = norm;
	p->len = (uint32_t)len;
	m->slots[j] = (uint32_t)m->n_pats + 1;
	return (uint32_t)m->n_pats++;
}

/* Index `rule` under pattern `pat`: a hit makes the rule a candidate. */
static void pattern_add_rule(struct pattern *p, uint32_t rule)
{
	if (p->n_rules && p->rules[p->n_rules - 1] == rule)
		return;
	if (p->n_rules == p->cap_rules) {
		p->cap_rules = p->cap_rules ? p->cap_rules * 2 : 2;
		p->rules = xrealloc(p->rules, p->cap_rules * sizeof *p->rules);
	}
	p->rules[p->n_rules++] = rule;
}

static int field_id(struct matcher *m, const char *name)
{
	for (size_t i = 0; i < m->n_fields; i++)
		if (!strcmp(m->fields[i], name))
			return (int)i;
	if (m->n_fields == MAX_FIELDS)
		return -1;
	m->fields[m->n_fields] = name;
	return (int)m->n_fields++;
}

static uint64_t cond_fields(struct matcher *m, const struct rule_cond *c, uint64_t inherited,
                            struct diags *d)
{
	if (!c->n_fields)
		return inherited;
	uint64_t mask = 0;
	for (size_t i = 0; i < c->n_fields; i++) {
		int id = field_id(m, c->fields[i]);
		if (id < 0) {
			diag_add(d, c->file, c->line, c->column,
			         "more than %d distinct field names across the rules", MAX_FIELDS);
			return inherited;
		}
		mask |= UINT64_C(1) << id;
	}
	return mask;
}

static void compile_termset(struct matcher *m, const struct rule_termset *in,
                            struct ctermset *out, struct diags *d)
{
	out->t = xcalloc(in->n ? in->n : 1, sizeof *out->t);
	out->n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const struct rule_term *t = &in->terms[i];
		char *norm = t->text ? normalize_term(t->text) : NULL;
		if (!norm || !*norm) {
			free(norm);
			diag_add(d, t->file, t->line, t->column,
			         "term \"%s\"%s%s%s is empty after normalisation (only spaces, marks "
			         "or tatweel?)", t->text ? t->text : "",
			         t->alias ? " (from @" : "", t->alias ? t->alias : "", t->alias ? ")" : "");
			continue;
		}
		const char *stem = normalize_term_stem(norm);
		char *stem_copy = stem ? xstrdup(stem) : NULL;
		uint32_t pat = pattern_intern(m, norm);
		struct pattern *p = &m->pats[pat];
		p->plain = true;
		p->uses++;
		if (t->prefix)
			p->has_prefix = true;
		uint32_t sp = NONE32;
		if (stem_copy) {
			sp = pattern_intern(m, stem_copy);
			p = &m->pats[sp];
			p->stem = true;
			p->uses++;
			if (t->prefix)
				p->stem_prefix = true;
		}
		out->t[out->n++] = (struct cterm){ .pat = pat, .stem = sp, .prefix = t->prefix, .src = t };
	}
}

static int cost_cmp(const void *a, const void *b)
{
	const struct ccond *x = *(const struct ccond *const *)a, *y = *(const struct ccond *const *)b;
	return x->cost - y->cost;
}

/*
 * CJK text has no word boundaries (docs/rules.md): a term in Han, kana or
 * Hangul matches as a substring and a CJK-Latin junction is a boundary. With
 * PCRE2_UCP those letters are \w, so `\b训练\b` would never match inside
 * 在昇腾上的训练失败 and `\bR2\b` not inside 深度求索R2发布. PCRE2 has no
 * option for this, so every `\b` outside a character class and outside
 * \Q...\E becomes "a word boundary, or beside a CJK letter". Returns a
 * malloc'd pattern.
 */
#define CJK_CLASS "[\\p{Han}\\p{Hiragana}\\p{Katakana}\\p{Hangul}]"
#define CJK_AWARE_B "(?:\\b|(?<=" CJK_CLASS ")|(?=" CJK_CLASS "))"

static char *cjk_aware_boundaries(const char *pat)
{
	/* Each two-byte \b grows to sizeof CJK_AWARE_B - 1 bytes at most. */
	char *buf = xmalloc(strlen(pat) / 2 * (sizeof CJK_AWARE_B - 1) + 2);
	char *out = buf;
	bool in_class = false, quoted = false;
	for (const char *p = pat; *p; p++) {
		if (quoted) {
			if (p[0] == '\\' && p[1] == 'E') {
				quoted = false;
				out = mempcpy(out, p, 2);
				p++;
			} else {
				out = mempcpy(out, p, 1);
			}
			continue;
		}
		if (p[0] == '\\' && p[1]) {
			if (p[1] == 'Q') {
				quoted = true;
			} else if (p[1] == 'b' && !in_class) {
				out = mempcpy(out, CJK_AWARE_B, sizeof CJK_AWARE_B - 1);
				p++;
				continue;
			}
			out = mempcpy(out, p, 2);
			p++;
			continue;
		}
		if (!in_class && p[0] == '[') {
			in_class = true;
			out = mempcpy(out, p, 1);
			/* A ] first in a class (also after ^) is a literal. */
			if (p[1] == '^') {
				out = mempcpy(out, ++p, 1);
			}
			if (p[1] == ']')
				out = mempcpy(out, ++p, 1);
			continue;
		}
		if (in_class && p[0] == '[' && p[1] == ':') {
			/* POSIX class [:alpha:] inside a class */
			const char *end = strstr(p + 2, ":]");
			if (end) {
				out = mempcpy(out, p, (size_t)(end + 2 - p));
				p = end + 1;
				continue;
			}
		}
		if (in_class && p[0] == ']')
			in_class = false;
		out = mempcpy(out, p, 1);
	}
	*out = '\0';
	return buf;
}

static void compile_regex(struct matcher *m, const struct rule_cond *c, struct ccond *cc,
                          struct diags *d)
{
	int err;
	PCRE2_SIZE off;
	/* The normalised text is case-folded: a pattern with capitals would
	 * silently never match it, so it runs caseless there. */
	uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
	                (c->regex.raw ? 0 : PCRE2_CASELESS);
	const char *pat = c->regex.pattern ? c->regex.pattern : "";

	cc->regex.raw = c->regex.raw;
	cc->regex.slot = m->n_regex++;
	char *rewritten = cjk_aware_boundaries(pat);
	cc->regex.code = pcre2_compile((PCRE2_SPTR)rewritten, PCRE2_ZERO_TERMINATED, opts, &err,
	                               &off, NULL);
	free(rewritten);
	if (!cc->regex.code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof msg);
		diag_add(d, c->file, c->line, c->column, "invalid regex '%s': %s at offset %zu",
		         pat, (const char *)msg, (size_t)off);
		return;
	}
	/* Valgrind cannot see into JIT code and reports its reads ahead as
	 * uninitialised: the valgrind test setup sets VIGIL_NO_JIT (like
	 * VIGIL_NO_DLCLOSE) and the interpreter runs, under the same limits. */
	if (getenv("VIGIL_NO_JIT"))
		return;
	/*
	 * Without JIT the interpreter runs the same pattern under the same
	 * limits, only slower. JIT needs writable+executable memory, which
	 * systemd's MemoryDenyWriteExecute=yes (our system unit) forbids: say so
	 * once and go on.
	 */
	err = pcre2_jit_compile(cc->regex.code, PCRE2_JIT_COMPLETE);
	if (err) {
		static bool warned;
		if (!warned) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(err, msg, sizeof msg);
			log_msg(VIGIL_LOG_INFO, "rules", "regular expressions run without JIT (%s)",
			        (const char *)msg);
			warned = true;
		}
	}
}

static struct ccond *compile_cond(struct matcher *m, const struct rule_cond *c,
                                  uint64_t inherited, struct diags *d)
{
	struct ccond *cc = xcalloc(1, sizeof *cc);
	cc->kind = c->kind;
	cc->src = c;
	cc->fields = cond_fields(m, c, inherited, d);

	switch (c->kind) {
	case RULE_TERMS:
		compile_termset(m, &c->terms, &cc->terms, d);
		m->scan_fields |= cc->fields;
		break;
	case RULE_NEAR:
		cc->cost = 1;
		cc->near.within = c->near.within;
		cc->near.n = c->near.n;
		cc->near.m = xcalloc(c->near.n ? c->near.n : 1, sizeof *cc->near.m);
		for (size_t i = 0; i < c->near.n; i++)
			compile_termset(m, &c->near.members[i], &cc->near.m[i], d);
		m->scan_fields |= cc->fields;
		break;
	case RULE_REGEX:
		cc->cost = 3;
		compile_regex(m, c, cc, d);
		m->scan_fields |= cc->fields;
		break;
	case RULE_GROUP: {
		cc->cost = 2;
		struct {
			struct rule_cond **in;
			size_t n;
			struct ccond ***out;
			size_t *n_out;
		} lists[] = {
			{ c->group.all, c->group.n_all, &cc->group.all, &cc->group.n_all },
			{ c->group.any, c->group.n_any, &cc->group.any, &cc->group.n_any },
			{ c->group.none, c->group.n_none, &cc->group.none, &cc->group.n_none },
		};
		for (size_t l = 0; l < 3; l++) {
			*lists[l].out = xcalloc(lists[l].n ? lists[l].n : 1, sizeof **lists[l].out);
			*lists[l].n_out = lists[l].n;
			for (size_t i = 0; i < lists[l].n; i++) {
				struct ccond *child = compile_cond(m, lists[l].in[i], cc->fields, d);
				(*lists[l].out)[i] = child;
				if (child->cost == 3)
					cc->cost = 3;
			}
			/* Cheap members first: the result is the same, the work is not. */
			qsort(*lists[l].out, lists[l].n, sizeof **lists[l].out, cost_cmp);
		}
		break;
	}
	}
	return cc;
}

/*
 * The inverted index. A rule is a candidate for evaluation when one of its
 * trigger literals hits: a set of literals one of which must hit for the
 * rule to hold. Any such set is correct; a small set of rare literals makes
 * fewer rules candidates. So from every all: list the one member with the
 * lightest set is taken (near: one member, any: all members), where a
 * literal weighs what the rules use it (a word that many rules name, like
 * "release", is likely common in text too) plus a penalty for being short.
 * A tree that can hold without any literal (only none:, regex:) has no set:
 * its rule is evaluated on every item.
 */
#define NO_TRIGGER UINT64_MAX

static uint64_t pattern_weight(const struct matcher *m, uint32_t pat)
{
	if (pat == NONE32)
		return 0;
	uint32_t len = m->pats[pat].len;
	return (uint64_t)m->pats[pat].uses + (len <= 2 ? 64 : len <= 4 ? 8 : 0);
}

static uint64_t termset_weight(const struct matcher *m, const struct ctermset *ts)
{
	if (!ts->n)
		return NO_TRIGGER;
	uint64_t w = 0;
	for (size_t i = 0; i < ts->n; i++)
		w += pattern_weight(m, ts->t[i].pat) + pattern_weight(m, ts->t[i].stem);
	return w;
}

static uint64_t add_weights(uint64_t a, uint64_t b)
{
	return a == NO_TRIGGER || b == NO_TRIGGER ? NO_TRIGGER : a + b;
}

/* Weight of the lightest trigger set of c; with `rule` < NONE32, also index
 * the rule under that set's literals. */
static uint64_t trigger(struct matcher *m, const struct ccond *c, uint32_t rule)
{
	switch (c->kind) {
	case RULE_TERMS:
		if (rule != NONE32) {
			for (size_t i = 0; i < c->terms.n; i++) {
				pattern_add_rule(&m->pats[c->terms.t[i].pat], rule);
				if (c->terms.t[i].stem != NONE32)
					pattern_add_rule(&m->pats[c->terms.t[i].stem], rule);
			}
		}
		return termset_weight(m, &c->terms);
	case RULE_NEAR: {
		size_t best = 0;
		uint64_t bw = NO_TRIGGER;
		for (size_t i = 0; i < c->near.n; i++) {
			uint64_t w = termset_weight(m, &c->near.m[i]);
			if (w < bw) {
				bw = w;
				best = i;
			}
		}
		if (rule != NONE32 && bw != NO_TRIGGER) {
			struct ccond one = { .kind = RULE_TERMS, .terms = c->near.m[best] };
			trigger(m, &one, rule);
		}
		return bw;
	}
	case RULE_REGEX:
		return NO_TRIGGER;
	case RULE_GROUP: {
		const struct ccond *best = NULL;
		uint64_t bw = NO_TRIGGER, any = c->group.n_any ? 0 : NO_TRIGGER;
		for (size_t i = 0; i < c->group.n_all; i++) {
			uint64_t w = trigger(m, c->group.all[i], NONE32);
			if (w < bw) {
				bw = w;
				best = c->group.all[i];
			}
		}
		for (size_t i = 0; i < c->group.n_any; i++)
			any = add_weights(any, trigger(m, c->group.any[i], NONE32));
		if (any < bw) {
			bw = any;
			best = NULL;
		}
		if (rule != NONE32 && bw != NO_TRIGGER) {
			if (best)
				trigger(m, best, rule);
			else
				for (size_t i = 0; i < c->group.n_any; i++)
					trigger(m, c->group.any[i], rule);
		}
		return bw;
	}
	}
	return NO_TRIGGER;
}

static void ccond_free(struct ccond *c)
{
	if (!c)
		return;
	switch (c->kind) {
	case RULE_TERMS:
		free(c->terms.t);
		break;
	case RULE_NEAR:
		for (size_t i = 0; i < c->near.n; i++)
			free(c->near.m[i].t);
		free(c->near.m);
		break;
	case RULE_REGEX:
		pcre2_code_free(c->regex.code);
		break;
	case RULE_GROUP:
		for (size_t i = 0; i < c->group.n_all; i++)
			ccond_free(c->group.all[i]);
		for (size_t i = 0; i < c->group.n_any; i++)
			ccond_free(c->group.any[i]);
		for (size_t i = 0; i < c->group.n_none; i++)
			ccond_free(c->group.none[i]);
		free(c->group.all);
		free(c->group.any);
		free(c->group.none);
		break;
	}
	free(c);
}

/* The first term of a pattern, for messages about the database. */
static const struct rule_term *pattern_term(const struct ccond *c, uint32_t pat)
{
	const struct rule_term *t = NULL;
	switch (c->kind) {
	case RULE_TERMS:
		for (size_t i = 0; i < c->terms.n; i++)
			if (c->terms.t[i].pat == pat || c->terms.t[i].stem == pat)
				return c->terms.t[i].src;
		break;
	case RULE_NEAR:
		for (size_t i = 0; i < c->near.n; i++)
			for (size_t j = 0; j < c->near.m[i].n; j++)
				if (c->near.m[i].t[j].pat == pat || c->near.m[i].t[j].stem == pat)
					return c->near.m[i].t[j].src;
		break;
	case RULE_REGEX:
		break;
	case RULE_GROUP:
		for (size_t i = 0; !t && i < c->group.n_all; i++)
			t = pattern_term(c->group.all[i], pat);
		for (size_t i = 0; !t && i < c->group.n_any; i++)
			t = pattern_term(c->group.any[i], pat);
		for (size_t i = 0; !t && i < c->group.n_none; i++)
			t = pattern_term(c->group.none[i], pat);
		break;
	}
	return t;
}

/* Literals in byte order: Hyperscan compiles a sorted set about twice as fast. */
static int pat_text_cmp(const void *a, const void *b, void *arg)
{
	const struct matcher *m = arg;
	const struct pattern *x = &m->pats[*(const unsigned *)a];
	const struct pattern *y = &m->pats[*(const unsigned *)b];
	int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/*
 * The literals go into several databases of at most SHARD_LITERALS each.
 * Hyperscan's compile time and memory grow faster than the number of
 * literals (26,000 literals of bench/match.c: 0.74 s and 63 MB at the peak
 * in one database; in four: 0.26 s and 26 MB), while a scan costs little
 * more per database (0.43 us per 600-byte item with one, 0.62 us with
 * four). See docs/performance.md.
 */
static int build_database(struct matcher *m, struct diags *d)
{
	if (!m->n_pats)
		return 0;
	const char **exprs = xcalloc(m->n_pats, sizeof *exprs);
	size_t *lens = xcalloc(m->n_pats, sizeof *lens);
	unsigned *ids = xcalloc(m->n_pats, sizeof *ids);
	unsigned *flags = xcalloc(m->n_pats, sizeof *flags);
	int r = 0;

	for (size_t i = 0; i < m->n_pats; i++)
		ids[i] = (unsigned)i;
	qsort_r(ids, m->n_pats, sizeof *ids, pat_text_cmp, m);
	for (size_t i = 0; i < m->n_pats; i++) {
		exprs[i] = m->pats[ids[i]].text;
		lens[i] = m->pats[ids[i]].len;
	}
	size_t n_dbs = (m->n_pats + SHARD_LITERALS - 1) / SHARD_LITERALS;
	size_t per = (m->n_pats + n_dbs - 1) / n_dbs;
	m->dbs = xcalloc(n_dbs, sizeof *m->dbs);
	for (size_t s = 0; s < n_dbs && !r; s++) {
		size_t from = s * per, n = m->n_pats - from < per ? m->n_pats - from : per;
		hs_compile_error_t *cerr = NULL;
		hs_error_t e = hs_compile_lit_multi(exprs + from, flags + from, ids + from, lens + from,
		                                    (unsigned)n, HS_MODE_BLOCK, NULL, &m->dbs[s], &cerr);
		if (e != HS_SUCCESS) {
			const struct rule_term *t = NULL;
			if (cerr && cerr->expression >= 0 && (size_t)cerr->expression < n) {
				uint32_t pat = ids[from + (size_t)cerr->expression];
				for (size_t i = 0; !t && i < m->n_rules; i++)
					if (m->rules[i].match)
						t = pattern_term(m->rules[i].match, pat);
			}
			if (t)
				diag_add(d, t->file, t->line, t->column, "term \"%s\": %s", t->text,
				         cerr ? cerr->message : "cannot compile");
			else
				diag_add(d, m->rs->n_files ? m->rs->files[0] : NULL, 0, 0,
				         "cannot build the term database: %s", cerr ? cerr->message : "error");
			hs_free_compile_error(cerr);
			m->dbs[s] = NULL;
			r = -EINVAL;
			break;
		}
		m->n_dbs = s + 1;
		if (hs_alloc_scratch(m->dbs[s], &m->scratch) != HS_SUCCESS) {
			diag_add(d, NULL, 0, 0, "cannot allocate the term database's scratch space");
			r = -ENOMEM;
		}
	}
	free(exprs);
	free(lens);
	free(ids);
	free(flags);
	return r;
}

struct matcher *matcher_new(struct ruleset *rs, struct diags *d)
{
	struct matcher *m = xcalloc(1, sizeof *m);
	size_t before = d->n;

	m->rs = rs;
	for (size_t i = 0; i < N_DEFAULT_FIELDS; i++)
		m->fields[m->n_fields++] = default_fields[i];
	m->n_rules = rs ? rs->n : 0;
	m->rules = xcalloc(m->n_rules ? m->n_rules : 1, sizeof *m->rules);

	const uint64_t defaults = (UINT64_C(1) << N_DEFAULT_FIELDS) - 1;
	for (size_t i = 0; i < m->n_rules; i++) {
		struct crule *cr = &m->rules[i];
		cr->r = &rs->rules[i];
		if (cr->r->match)
			cr->match = compile_cond(m, cr->r->match, defaults, d);
	}
	/* Every literal is known (with its uses): index each rule. */
	for (size_t i = 0; i < m->n_rules; i++) {
		struct crule *cr = &m->rules[i];
		cr->always = !cr->match || trigger(m, cr->match, (uint32_t)i) == NO_TRIGGER;
		if (cr->always) {
			if (m->n_always == m->cap_always) {
				m->cap_always = m->cap_always ? m->cap_always * 2 : 16;
				m->always = xrealloc(m->always, m->cap_always * sizeof *m->always);
			}
			m->always[m->n_always++] = (uint32_t)i;
		}
	}
	if (d->n == before)
		build_database(m, d);

	if (d->n == before && m->n_regex) {
		m->mctx = pcre2_match_context_create(NULL);
		m->jstack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
		m->md = pcre2_match_data_create(1, NULL);
		if (!m->mctx || !m->jstack || !m->md) {
			diag_add(d, NULL, 0, 0, "cannot allocate the regex match context");
		} else {
			pcre2_set_match_limit(m->mctx, REGEX_MATCH_LIMIT);
			pcre2_set_depth_limit(m->mctx, REGEX_DEPTH_LIMIT);
			pcre2_jit_stack_assign(m->mctx, NULL, m->jstack);
		}
	}
	if (d->n > before) {
		matcher_free(m);
		return NULL;
	}

#ifdef __GLIBC__
	/* The compile leaves tens of MB free in the heap; a daemon that loaded
	 * 10,000 rules should not keep them. */
	malloc_trim(0);
#endif
	m->pat_gen = xcalloc(m->n_pats + 1, sizeof *m->pat_gen);
	m->pat_head = xcalloc(m->n_pats + 1, sizeof *m->pat_head);
	m->pat_tail = xcalloc(m->n_pats + 1, sizeof *m->pat_tail);
	m->rule_gen = xcalloc(m->n_rules + 1, sizeof *m->rule_gen);
	m->cands = xcalloc(m->n_rules + 1, sizeof *m->cands);
	m->rx = xcalloc(m->n_regex + 1, sizeof *m->rx);
	free(m->slots);                  /* only needed while interning */
	m->slots = NULL;
	m->n_slots = 0;
	return m;
}

struct matcher *matcher_load(const char *rules_path, const struct rules_context *ctx,
                             struct diags *d)
{
	struct ruleset *rs = ruleset_load(rules_path, ctx, d);
	if (!rs)
		return NULL;
	return matcher_new(rs, d);
}

void matcher_free(struct matcher *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_rules; i++)
		ccond_free(m->rules[i].match);
	free(m->rules);
	for (size_t i = 0; i < m->n_pats; i++) {
		free(m->pats[i].text);
		free(m->pats[i].rules);
	}
	free(m->pats);
	free(m->slots);
	free(m->always);
	hs_free_scratch(m->scratch);
	for (size_t i = 0; i < m->n_dbs; i++)
		hs_free_database(m->dbs[i]);
	free(m->dbs);
	pcre2_match_data_free(m->md);
	pcre2_jit_stack_free(m->jstack);
	pcre2_match_context_free(m->mctx);
	free(m->pat_gen);
	free(m->pat_head);
	free(m->pat_tail);
	free(m->rule_gen);
	free(m->cands);
	free(m->rx);
	for (size_t i = 0; i < m->cap_segs; i++) {
		normtext_free(&m->segs[i].nt);
		free(m->segs[i].tokens);
	}
	free(m->segs);
	free(m->hits);
	free(m->re);
	free(m->np);
	ruleset_free(m->rs);
	free(m);
}

size_t matcher_rule_count(const struct matcher *m)
{
	return m ? m->n_rules : 0;
}

/* ------------------------------------------------------------------------ */
/* Scanning */

/* Segments keep their buffers (normalised text, map, word starts) from item
 * to item: normalize_text_into reuses them, so a steady stream of items of
 * similar size allocates nothing. */
static void add_segment(struct matcher *m, unsigned field, int index, const char *text)
{
	if (!text || !*text)
		return;
	if (m->n_segs == m->cap_segs) {
		size_t cap = m->cap_segs ? m->cap_segs * 2 : 8;
		m->segs = xrealloc(m->segs, cap * sizeof *m->segs);
		memset(m->segs + m->cap_segs, 0, (cap - m->cap_segs) * sizeof *m->segs);
		m->cap_segs = cap;
	}
	struct segment *s = &m->segs[m->n_segs++];
	s->field = field;
	s->index = index;
	s->orig = text;
	s->orig_len = strlen(text);
	s->n_tokens = 0;
	s->tokens_done = false;
}

/* The texts of field `f` of the item, as segments. */
static void field_segments(struct matcher *m, unsigned f, const struct vigil_item *item,
                           const char *source)
{
	static const struct {
		const char *name;
		size_t offset;
	} direct[] = {
		{ "title", offsetof(struct vigil_item, title) },
		{ "summary", offsetof(struct vigil_item, summary) },
		{ "content", offsetof(struct vigil_item, content) },
		{ "author", offsetof(struct vigil_item, author) },
		{ "link", offsetof(struct vigil_item, link) },
		{ "id", offsetof(struct vigil_item, id) },
		{ "lang", offsetof(struct vigil_item, lang) },
		{ "feed_title", offsetof(struct vigil_item, feed_title) },
	};
	const char *name = m->fields[f];

	for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++) {
		if (!strcmp(name, direct[i].name)) {
			/* Members past what the writer's struct covers are absent. */
			if (direct[i].offset + sizeof(const char *) <= item->size)
				add_segment(m, f, -1, *(const char *const *)((const char *)item + direct[i].offset));
			return;
		}
	}
	if (!strcmp(name, "categories")) {
		for (size_t i = 0; i < item->n_categories; i++)
			add_segment(m, f, (int)i, item->categories[i]);
		return;
	}
	if (!strcmp(name, "source")) {
		add_segment(m, f, -1, source);
		return;
	}
	for (size_t i = 0; i < item->n_fields; i++)
		if (item->fields[i].type == VIGIL_FIELD_STRING && item->fields[i].name &&
		    !strcmp(item->fields[i].name, name))
			add_segment(m, f, -1, item->fields[i].string);
}

static void push_candidate(struct matcher *m, uint32_t rule)
{
	if (m->rule_gen[rule] == m->gen)
		return;
	m->rule_gen[rule] = m->gen;
	m->cands[m->n_cands++] = rule;
}

static int on_hit(unsigned int id, unsigned long long from, unsigned long long to,
                  unsigned int flags, void *ctx)
{
	struct matcher *m = ctx;
	const struct pattern *p = &m->pats[id];
	struct segment *s = &m->segs[m->cur_seg];
	size_t end = (size_t)to, start = end - p->len;
	uint8_t ok = 0;
	(void)from;
	(void)flags;

	if (p->plain) {
		if (normalize_on_boundaries(&s->nt, start, end, false))
			ok = HIT_EXACT | HIT_PREFIX;
		else if (p->has_prefix && normalize_on_boundaries(&s->nt, start, end, true))
			ok = HIT_PREFIX;
	}
	if (p->stem) {
		if (normalize_on_boundaries_stem(&s->nt, start, end, false))
			ok |= HIT_STEM_EXACT | HIT_STEM_PREFIX;
		else if (p->stem_prefix && normalize_on_boundaries_stem(&s->nt, start, end, true))
			ok |= HIT_STEM_PREFIX;
	}
	if (!ok)
		return 0;
	if (m->n_hits >= HIT_CAP) {
		if (!m->overflow_logged)
			log_warn("matcher: more than %d term hits in one item; the rest are ignored",
			         HIT_CAP);
		m->overflow_logged = true;
		return 0;
	}
	if (m->n_hits == m->cap_hits) {
		m->cap_hits = m->cap_hits ? m->cap_hits * 2 : 256;
		m->hits = xrealloc(m->hits, m->cap_hits * sizeof *m->hits);
	}
	uint32_t h = (uint32_t)m->n_hits++;
	m->hits[h] = (struct hit){ .pat = id, .seg = m->cur_seg, .start = (uint32_t)start,
	                           .end = (uint32_t)end, .next = NONE32, .ok = ok };
	if (m->pat_gen[id] != m->gen) {
		m->pat_gen[id] = m->gen;
		m->pat_head[id] = h;
		for (uint32_t i = 0; i < p->n_rules; i++)
			push_candidate(m, p->rules[i]);
	} else {
		m->hits[m->pat_tail[id]].next = h;
	}
	m->pat_tail[id] = h;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluating */

static bool in_scope(const struct matcher *m, uint64_t fields, uint32_t seg)
{
	return (fields >> m->segs[seg].field) & 1;
}

/* First hit of pattern `pat` in this item, or NONE32. */
static uint32_t first_hit(const struct matcher *m, uint32_t pat)
{
	return m->pat_gen[pat] == m->gen ? m->pat_head[pat] : NONE32;
}

/* The pattern of variant v (0: the term, 1: its stem) of a term, or NONE32. */
static uint32_t term_pat(const struct cterm *t, int v)
{
	return v ? t->stem : t->pat;
}

static bool hit_fits(const struct matcher *m, const struct cterm *t, int v, uint32_t h,
                     uint64_t fields)
{
	uint8_t need = v ? (t->prefix ? HIT_STEM_PREFIX : HIT_STEM_EXACT)
	                 : (t->prefix ? HIT_PREFIX : HIT_EXACT);
	return (m->hits[h].ok & need) && in_scope(m, fields, m->hits[h].seg);
}

/* Every hit h of term t, variant v (the term itself, then its stem). */
#define FOR_TERM_HITS(m, t, v, h) \
	for (int v = 0; v < 2; v++) \
		for (uint32_t h = term_pat(t, v) == NONE32 ? NONE32 : first_hit(m, term_pat(t, v)); \
		     h != NONE32; h = (m)->hits[h].next)

static bool eval_termset(const struct matcher *m, const struct ctermset *ts, uint64_t fields)
{
	for (size_t i = 0; i < ts->n; i++)
		FOR_TERM_HITS(m, &ts->t[i], v, h)
			if (hit_fits(m, &ts->t[i], v, h, fields))
				return true;
	return false;
}

static uint32_t utf8_next(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c = u[*i];
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (*i + n > len)
		n = len - *i;
	if (n == 2)
		c = ((c & 0x1f) << 6) | (u[*i + 1] & 0x3f);
	else if (n == 3)
		c = ((c & 0x0f) << 12) | ((u[*i + 1] & 0x3f) << 6) | (u[*i + 2] & 0x3f);
	else if (n == 4)
		c = ((c & 0x07) << 18) | ((u[*i + 1] & 0x3f) << 12) | ((u[*i + 2] & 0x3f) << 6) |
		    (u[*i + 3] & 0x3f);
	*i += n;
	return c;
}

/*
 * Word positions for near:. A word is a run of letters and digits between
 * spaces or punctuation; in Han, kana and Hangul every character counts as
 * one word, since those scripts have no spaces to count by.
 */
static void segment_tokens(struct segment *s)
{
	if (s->tokens_done)
		return;
	s->tokens_done = true;
	size_t i = 0;
	enum char_class prev = CC_SPACE;
	while (i < s->nt.len) {
		size_t at = i;
		enum char_class cc = normalize_char_class(utf8_next(s->nt.text, s->nt.len, &i));
		bool starts = cc != CC_SPACE &&
		              (cc == CC_CJK || prev == CC_SPACE || prev == CC_CJK);
		if (starts) {
			if (s->n_tokens == s->cap_tokens) {
				s->cap_tokens = s->cap_tokens ? s->cap_tokens * 2 : 64;
				s->tokens = xrealloc(s->tokens, s->cap_tokens * sizeof *s->tokens);
			}
			s->tokens[s->n_tokens++] = (uint32_t)at;
		}
		prev = cc;
	}
}

/* Index of the word that contains byte `off`. */
static uint32_t token_at(const struct segment *s, uint32_t off)
{
	size_t lo = 0, hi = s->n_tokens;        /* first token start > off */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->tokens[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? (uint32_t)(lo - 1) : 0;
}

static void add_entry(struct matcher *m, const struct rule_term *t, const struct ccond *rx,
                      uint32_t seg, uint32_t start, uint32_t end)
{
	if (m->n_re == m->cap_re) {
		m->cap_re = m->cap_re ? m->cap_re * 2 : 16;
		m->re = xrealloc(m->re, m->cap_re * sizeof *m->re);
	}
	m->re[m->n_re++] = (struct rentry){ .term = t, .rx = rx, .seg = seg, .start = start, .end = end };
}

/* A hit of `member` that ends at or after word lo and starts at or before
 * word hi: its index in m->np, or n. */
static size_t near_pick(const struct matcher *m, size_t n, uint32_t member, uint64_t lo,
                        uint64_t hi)
{
	for (size_t k = 0; k < n; k++)
		if (m->np[k].member == member && m->np[k].last >= lo && m->np[k].first <= hi)
			return k;
	return n;
}

/*
 * near: holds in a segment when one hit per member can be chosen so that
 * every two are within `within` words: the distance of two hits is the
 * number of words from the last word of the earlier to the first word of
 * the later (adjacent words: 1; overlapping: 0). Equivalently, for the
 * smallest "last word" L of the chosen hits, every chosen hit ends at or
 * after L and starts at or before L + within; so trying each hit's last word
 * as L decides it. With `collect`, the chosen hits go into the reason.
 */
static bool eval_near(struct matcher *m, const struct ccond *c, bool collect)
{
	for (uint32_t s = 0; s < m->n_segs; s++) {
		if (!in_scope(m, c->fields, s))
			continue;
		/* Cheap test first: every member has a hit in this segment. */
		size_t n = 0;
		bool all = true;
		for (size_t i = 0; all && i < c->near.n; i++) {
			bool found = false;
			const struct ctermset *ts = &c->near.m[i];
			for (size_t j = 0; j < ts->n; j++)
				FOR_TERM_HITS(m, &ts->t[j], v, h)
					if (m->hits[h].seg == s && hit_fits(m, &ts->t[j], v, h, c->fields)) {
						found = true;
						n++;
					}
			all = found;
		}
		if (!all)
			continue;

		struct segment *seg = &m->segs[s];
		segment_tokens(seg);
		if (n > m->cap_np) {
			m->cap_np = n * 2;
			m->np = xrealloc(m->np, m->cap_np * sizeof *m->np);
		}
		n = 0;
		for (size_t i = 0; i < c->near.n; i++) {
			const struct ctermset *ts = &c->near.m[i];
			for (size_t j = 0; j < ts->n; j++)
				FOR_TERM_HITS(m, &ts->t[j], v, h)
					if (m->hits[h].seg == s && hit_fits(m, &ts->t[j], v, h, c->fields))
						m->np[n++] = (struct nearpos){
							.member = (uint32_t)i, .hit = h, .term = ts->t[j].src,
							.first = token_at(seg, m->hits[h].start),
							.last = token_at(seg, m->hits[h].end - 1) };
		}
		for (size_t a = 0; a < n; a++) {
			uint64_t lo = m->np[a].last, hi = lo + c->near.within;
			size_t member = 0;
			for (; member < c->near.n; member++)
				if (near_pick(m, n, (uint32_t)member, lo, hi) == n)
					break;
			if (member < c->near.n)
				continue;
			for (member = 0; collect && member < c->near.n; member++) {
				const struct nearpos *p = &m->np[near_pick(m, n, (uint32_t)member, lo, hi)];
				const struct hit *h = &m->hits[p->hit];
				add_entry(m, p->term, NULL, s, h->start, h->end);
			}
			return true;
		}
	}
	return false;
}

static bool eval_regex(struct matcher *m, const struct ccond *c)
{
	struct rxcache *rc = &m->rx[c->regex.slot];
	if (rc->gen == m->gen)
		return rc->matched;
	rc->gen = m->gen;
	rc->matched = false;
	for (uint32_t s = 0; s < m->n_segs; s++) {
		if (!in_scope(m, c->fields, s))
			continue;
		const struct segment *seg = &m->segs[s];
		const char *subject = c->regex.raw ? seg->orig : seg->nt.text;
		size_t len = c->regex.raw ? seg->orig_len : seg->nt.len;
		int r = pcre2_match(c->regex.code, (PCRE2_SPTR)subject, len, 0, 0, m->md, m->mctx);
		if (r >= 0) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
			rc->matched = true;
			rc->seg = s;
			rc->start = (uint32_t)ov[0];
			rc->end = (uint32_t)(ov[1] > ov[0] ? ov[1] : ov[0]);
			break;
		}
		if (r != PCRE2_ERROR_NOMATCH && !m->cur_rule->warned) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(r, msg, sizeof msg);
			log_warn("rule \"%s\" (%s:%d): regex '%s' counts as no match: %s",
			         m->cur_rule->r->name, c->src->file ? c->src->file : "?", c->src->line,
			         c->src->regex.pattern, (const char *)msg);
			m->cur_rule->warned = true;
		}
	}
	return rc->matched;
}

static bool eval(struct matcher *m, const struct ccond *c)
{
	switch (c->kind) {
	case RULE_TERMS:
		return eval_termset(m, &c->terms, c->fields);
	case RULE_NEAR:
		return eval_near(m, c, false);
	case RULE_REGEX:
		return eval_regex(m, c);
	case RULE_GROUP:
		for (size_t i = 0; i < c->group.n_all; i++)
			if (!eval(m, c->group.all[i]))
				return false;
		if (c->group.n_any) {
			size_t i = 0;
			while (i < c->group.n_any && !eval(m, c->group.any[i]))
				i++;
			if (i == c->group.n_any)
				return false;
		}
		for (size_t i = 0; i < c->group.n_none; i++)
			if (eval(m, c->group.none[i]))
				return false;
		return true;
	}
	return false;
}

/* The hits that made a holding condition hold (none: contributes nothing). */
static void collect(struct matcher *m, const struct ccond *c)
{
	switch (c->kind) {
	case RULE_TERMS:
		for (size_t i = 0; i < c->terms.n; i++) {
			const struct cterm *t = &c->terms.t[i];
			unsigned per_seg = 0;
			uint32_t last_seg = NONE32;
			FOR_TERM_HITS(m, t, v, h) {
				if (!hit_fits(m, t, v, h, c->fields))
					continue;
				if (m->hits[h].seg != last_seg) {
					last_seg = m->hits[h].seg;
					per_seg = 0;
				}
				if (per_seg++ < REASON_PER_TERM)
					add_entry(m, t->src, NULL, m->hits[h].seg, m->hits[h].start,
					          m->hits[h].end);
			}
		}
		break;
	case RULE_NEAR:
		eval_near(m, c, true);
		break;
	case RULE_REGEX: {
		const struct rxcache *rc = &m->rx[c->regex.slot];
		if (rc->gen == m->gen && rc->matched)
			add_entry(m, NULL, c, rc->seg, rc->start, rc->end);
		break;
	}
	case RULE_GROUP:
		for (size_t i = 0; i < c->group.n_all; i++)
			collect(m, c->group.all[i]);
		for (size_t i = 0; i < c->group.n_any; i++)
			if (eval(m, c->group.any[i]))
				collect(m, c->group.any[i]);
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Reasons */

static int rentry_cmp(const void *a, const void *b)
{
	const struct rentry *x = a, *y = b;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	uintptr_t px = x->term ? (uintptr_t)x->term : (uintptr_t)x->rx;
	uintptr_t py = y->term ? (uintptr_t)y->term : (uintptr_t)y->rx;
	return px < py ? -1 : px > py;
}

/* Original byte range of the entry's text. */
static void entry_range(const struct matcher *m, const struct rentry *e, size_t *os, size_t *oe)
{
	const struct segment *s = &m->segs[e->seg];
	if (e->rx && e->rx->regex.raw) {
		*os = e->start;
		*oe = e->end;
		return;
	}
	normtext_span(&s->nt, e->start, e->end, os, oe);
	if (*oe > s->orig_len)
		*oe = s->orig_len;
	if (*os > *oe)
		*os = *oe;
}

/* Append `s` (len bytes, shortened at a character boundary) quoted, with
 * control characters and quotes made harmless for one line of text. */
static void append_quoted(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	size_t need = *len + n + 8;
	if (need > *cap) {
		*cap = need * 2;
		*buf = xrealloc(*buf, *cap);
	}
	char *o = *buf + *len;
	*o++ = '"';
	size_t take = n;
	if (take > SLICE_MAX) {
		take = SLICE_MAX;
		while (take && ((unsigned char)s[take] & 0xc0) == 0x80)
			take--;
	}
	for (size_t i = 0; i < take; i++) {
		unsigned char c = (unsigned char)s[i];
		*o++ = (c < 0x20 || c == 0x7f) ? ' ' : c == '"' ? '\'' : (char)c;
	}
	if (take < n) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	*o = '\0';
	*len = (size_t)(o - *buf);
}

static void append_str(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

static void segment_label(const struct matcher *m, const struct segment *s, char *buf, size_t len)
{
	if (s->index >= 0)
		snprintf(buf, len, "%s[%d]", m->fields[s->field], s->index);
	else
		snprintf(buf, len, "%s", m->fields[s->field]);
}

static json_t *json_text(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	return j ? j : json_string("");
}

/* Build reason and reason_json from m->re (sorted here). */
static void build_reason(struct matcher *m, const char *when_expr, const char *when_reason,
                         char **text, char **jtext)
{
	size_t len = 0, cap = 128;
	char *buf = xmalloc(cap);
	json_t *arr = json_array();
	buf[0] = '\0';

	if (m->n_re)
		qsort(m->re, m->n_re, sizeof *m->re, rentry_cmp);
	/* Duplicates (one term named twice in a rule) out. */
	size_t n = 0;
	for (size_t i = 0; i < m->n_re; i++)
		if (!n || rentry_cmp(&m->re[i], &m->re[n - 1]))
			m->re[n++] = m->re[i];
	m->n_re = n;
	if (m->n_re > REASON_CAP)
		m->n_re = REASON_CAP;

	uint32_t last_seg = NONE32;
	for (size_t i = 0; i < m->n_re; i++) {
		const struct rentry *e = &m->re[i];
		const struct segment *s = &m->segs[e->seg];
		size_t os, oe;
		entry_range(m, e, &os, &oe);
		char *term = e->term ? xasprintf("%s%s", e->term->text, e->term->prefix ? "*" : "")
		                     : NULL;

		if (i < REASON_TEXT_CAP) {
			char label[96], num[64];
			segment_label(m, s, label, sizeof label);
			if (e->seg != last_seg) {
				if (last_seg != NONE32)
					append_str(&buf, &len, &cap, "; ");
				append_str(&buf, &len, &cap, label);
				append_str(&buf, &len, &cap, ": ");
				last_seg = e->seg;
			} else {
				append_str(&buf, &len, &cap, ", ");
			}
			if (term) {
				append_quoted(&buf, &len, &cap, term, strlen(term));
				if (e->term->alias) {
					append_str(&buf, &len, &cap, " (@");
					append_str(&buf, &len, &cap, e->term->alias);
					append_str(&buf, &len, &cap, ")");
				}
			} else {
				append_str(&buf, &len, &cap, "/");
				append_str(&buf, &len, &cap, e->rx->src->regex.pattern);
				append_str(&buf, &len, &cap, e->rx->regex.raw ? "/ (raw)" : "/");
			}
			snprintf(num, sizeof num, " at %zu..%zu", os, oe);
			append_str(&buf, &len, &cap, num);
			/* Show the original when it is not the term as written. */
			const char *tt = e->term ? e->term->text : NULL;
			if (!tt || strlen(tt) != oe - os || memcmp(tt, s->orig + os, oe - os)) {
				append_str(&buf, &len, &cap, " as ");
				append_quoted(&buf, &len, &cap, s->orig + os, oe - os);
			}
		} else if (i == REASON_TEXT_CAP) {
			char more[48];
			snprintf(more, sizeof more, " (and %zu more)", n - i);
			append_str(&buf, &len, &cap, more);
		}

		json_t *o = json_object();
		if (term) {
			json_object_set_new(o, "term", json_string(term));
			if (e->term->alias)
				json_object_set_new(o, "alias", json_string(e->term->alias));
		} else {
			json_object_set_new(o, "regex", json_string(e->rx->src->regex.pattern));
			if (e->rx->regex.raw)
				json_object_set_new(o, "raw", json_true());
		}
		json_object_set_new(o, "field", json_string(m->fields[s->field]));
		if (s->index >= 0)
			json_object_set_new(o, "index", json_integer(s->index));
		json_object_set_new(o, "start", json_integer((json_int_t)os));
		json_object_set_new(o, "end", json_integer((json_int_t)oe));
		json_object_set_new(o, "text", json_text(s->orig + os, oe - os));
		json_array_append_new(arr, o);
		free(term);
	}
	if (when_expr) {
		if (len)
			append_str(&buf, &len, &cap, "; ");
		append_str(&buf, &len, &cap, "when: ");
		append_str(&buf, &len, &cap, when_reason ? when_reason : when_expr);
		json_t *o = json_object();
		json_object_set_new(o, "when", json_string(when_expr));
		json_object_set_new(o, "text", json_string(when_reason ? when_reason : when_expr));
		json_array_append_new(arr, o);
	}
	*text = buf;
	*jtext = json_dumps(arr, JSON_COMPACT);
	if (!*jtext)
		*jtext = xstrdup("[]");
	json_decref(arr);
}

/* ------------------------------------------------------------------------ */
/* Matching */

static bool source_ok(const struct rule *r, const char *source)
{
	if (!r->n_sources)
		return true;
	if (!source)
		return false;
	for (size_t i = 0; i < r->n_sources; i++)
		if (!fnmatch(r->sources[i], source, 0))
			return true;
	return false;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void next_generation(struct matcher *m)
{
	if (++m->gen == 0) {
		/* Wrapped after 4 billion items: forget every stamp once. */
		memset(m->pat_gen, 0, (m->n_pats + 1) * sizeof *m->pat_gen);
		memset(m->rule_gen, 0, (m->n_rules + 1) * sizeof *m->rule_gen);
		memset(m->rx, 0, (m->n_regex + 1) * sizeof *m->rx);
		m->gen = 1;
	}
	m->n_cands = 0;
	m->n_hits = 0;
	m->n_segs = 0;
}

static void end_item(struct matcher *m)
{
	/* Items are borrowed: forget them, keep the buffers. */
	for (size_t i = 0; i < m->n_segs; i++)
		m->segs[i].orig = NULL;
	m->n_segs = 0;
}

static void free_one(struct match *x)
{
	free(x->rule);
	free(x->severity);
	free(x->reason);
	free(x->reason_json);
	free(x->story_key);
	for (size_t j = 0; j < x->n_sinks; j++)
		free(x->sinks[j]);
	free(x->sinks);
}

int matcher_match(struct matcher *m, const struct vigil_item *item, const char *source,
                  struct state *st, struct match **out, size_t *n)
{
	size_t n0 = *n;
	char *story = NULL;
	int err = 0;

	next_generation(m);
	for (unsigned f = 0; f < m->n_fields; f++)
		if ((m->scan_fields >> f) & 1)
			field_segments(m, f, item, source);
	for (uint32_t s = 0; s < m->n_segs; s++) {
		struct segment *seg = &m->segs[s];
		if (normalize_text_into(&seg->nt, seg->orig, seg->orig_len) < 0) {
			err = -ENOMEM;
			goto fail;
		}
		if (!seg->nt.len)
			continue;
		m->cur_seg = s;
		for (size_t i = 0; i < m->n_dbs; i++) {
			if (hs_scan(m->dbs[i], seg->nt.text, (unsigned)seg->nt.len, 0, m->scratch, on_hit,
			            m) != HS_SUCCESS) {
				err = -ENOMEM;
				goto fail;
			}
		}
	}
	for (size_t i = 0; i < m->n_always; i++)
		push_candidate(m, m->always[i]);
	qsort(m->cands, m->n_cands, sizeof *m->cands, u32_cmp);

	for (size_t c = 0; c < m->n_cands; c++) {
		struct crule *cr = &m->rules[m->cands[c]];
		const struct rule *r = cr->r;
		if (!r->match && !r->when)
			continue;
		if (!source_ok(r, source))
			continue;
		m->cur_rule = cr;
		if (cr->match && !eval(m, cr->match))
			continue;
		char *wreason = NULL, *wexpr = NULL;
		if (r->when) {
			bool fire = false;
			if (when_check(st, r, item, source, &fire, &wreason) < 0) {
				free(wreason);
				err = -EIO;
				goto fail;
			}
			if (!fire) {
				free(wreason);
				continue;
			}
			wexpr = when_format(r->when);
		}
		m->n_re = 0;
		if (cr->match)
			collect(m, cr->match);
		if (!story)
			story = story_key_for(item);

		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		struct match *x = &(*out)[(*n)++];
		memset(x, 0, sizeof *x);
		x->rule = xstrdup(r->name);
		x->severity = xstrdup(severity_name(r->severity));
		build_reason(m, wexpr, wreason, &x->reason, &x->reason_json);
		x->story_key = xstrdup(story);
		if (r->notify) {
			x->sinks = xcalloc(r->n_notify ? r->n_notify : 1, sizeof *x->sinks);
			for (size_t j = 0; j < r->n_notify; j++)
				x->sinks[j] = xstrdup(r->notify[j]);
			x->n_sinks = r->n_notify;
		}
		x->r = r;
		free(wreason);
		free(wexpr);
	}
	free(story);
	end_item(m);
	return 0;

fail:
	for (size_t i = n0; i < *n; i++)
		free_one(&(*out)[i]);
	*n = n0;
	free(story);
	end_item(m);
	return err;
}

void matches_free(struct match *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free_one(&m[i]);
	free(m);
}

/* ------------------------------------------------------------------------ */
/* Story keys */

/* Query parameters that say who sent the reader, not what the page is. */
static bool tracking_param(const char *name, size_t len)
{
	static const char *const names[] = {
		"fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
		"twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
		"_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok",
		"oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid", "vero_conv", "vero_id",
		"wickedid", "ncid", "cmpid", "ocid", "ref_src", "ref_url", "spm", "_openstat",
	};
	if (len >= 4 && !strncasecmp(name, "utm_", 4))
		return true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == len && !strncasecmp(name, names[i], len))
			return true;
	return false;
}

static bool is_scheme_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

char *link_canonical(const char *link)
{
	const char *p = link, *end;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;

	size_t cap = (size_t)(end - p) + 2, len = 0;
	char *o = xmalloc(cap);

	/* scheme */
	const char *q = p;
	while (q < end && is_scheme_char(*q, q == p))
		q++;
	const char *scheme = NULL;
	size_t scheme_len = 0;
	if (q > p && q < end && *q == ':') {
		scheme = o;
		for (; p < q; p++)
			o[len++] = lower(*p);
		scheme_len = len;
		o[len++] = ':';
		p++;
	}

	/* authority: [userinfo@]host[:port] */
	bool authority = false;
	if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
		authority = true;
		o[len++] = '/';
		o[len++] = '/';
		p += 2;
		const char *ae = p;
		while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
			ae++;
		const char *at = NULL;
		for (const char *r = p; r < ae; r++)
			if (*r == '@')
				at = r;
		if (at) {
			memcpy(o + len, p, (size_t)(at - p) + 1);
			len += (size_t)(at - p) + 1;
			p = at + 1;
		}
		const char *port = NULL;
		const char *hp = p;
		if (hp < ae && *hp == '[') {                /* IPv6 literal */
			while (hp < ae && *hp != ']')
				hp++;
			if (hp < ae)
				hp++;
		} else {
			while (hp < ae && *hp != ':')
				hp++;
		}
		if (hp < ae && *hp == ':')
			port = hp + 1;
		for (; p < hp; p++)
			o[len++] = lower(*p);
		if (port) {
			size_t pl = (size_t)(ae - port);
			bool dflt = !pl;
			if (scheme && pl) {
				static const struct {
					const char *scheme, *port;
				} defaults[] = {
					{ "http", "80" }, { "https", "443" }, { "ws", "80" },
					{ "wss", "443" }, { "ftp", "21" },
				};
				for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
					if (strlen(defaults[i].scheme) == scheme_len &&
					    !memcmp(scheme, defaults[i].scheme, scheme_len) &&
					    strlen(defaults[i].port) == pl && !memcmp(port, defaults[i].port, pl))
						dflt = true;
			}
			if (!dflt) {
				o[len++] = ':';
				memcpy(o + len, port, pl);
				len += pl;
			}
		}
		p = ae;
	}

	/* path */
	const char *pe = p;
	while (pe < end && *pe != '?' && *pe != '#')
		pe++;
	if (authority && pe == p) {
		if (len + 1 >= cap) {
			cap += 2;
			o = xrealloc(o, cap);
		}
		o[len++] = '/';
	}
	memcpy(o + len, p, (size_t)(pe - p));
	len += (size_t)(pe - p);
	p = pe;

	/* query, without tracking parameters */
	if (p < end && *p == '?') {
		p++;
		const char *qe = p;
		while (qe < end && *qe != '#')
			qe++;
		bool first = true;
		while (p < qe) {
			const char *amp = p;
			while (amp < qe && *amp != '&')
				amp++;
			const char *eq = p;
			while (eq < amp && *eq != '=')
				eq++;
			if (amp > p && !tracking_param(p, (size_t)(eq - p))) {
				if (len + (size_t)(amp - p) + 2 > cap) {
					cap = len + (size_t)(amp - p) + 2 + cap;
					o = xrealloc(o, cap);
				}
				o[len++] = first ? '?' : '&';
				memcpy(o + len, p, (size_t)(amp - p));
				len += (size_t)(amp - p);
				first = false;
			}
			p = amp < qe ? amp + 1 : qe;
		}
	}
	/* The fragment is dropped: it names a place in the page, not another story. */
	o[len] = '\0';
	return o;
}

char *story_key_for(const struct vigil_item *item)
{
	if (item->link) {
		char *k = link_canonical(item->link);
		if (*k)
			return k;
		free(k);
	}
	const char *texts[] = { item->title, item->summary, item->content };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		if (!texts[i] || !*texts[i])
			continue;
		struct normtext nt;
		char *k = NULL;
		if (normalize_text(texts[i], strlen(texts[i]), &nt) == 0 && nt.len)
			k = xasprintf("t:%016llx",
			              (unsigned long long)fnv64(FNV64_SEED, nt.text, nt.len));
		normtext_free(&nt);
		if (k)
			return k;
	}
	const char *id = item->id ? item->id : "";
	return xasprintf("t:%016llx", (unsigned long long)fnv64(FNV64_SEED, id, strlen(id)));
}
