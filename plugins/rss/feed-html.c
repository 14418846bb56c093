/* feed-html.c - HTML to plain text for rules: simple markup read directly, the rest by libxml2's HTML parser */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "feed-private.h"

/* Elements whose content is never text a reader sees. (The content of
 * iframe, object and applet is the fallback a reader without them sees:
 * it is kept, as feedparser keeps it.) */
static bool is_hidden(const char *name)
{
	static const char *const hidden[] = {
		"script", "style", "head", "title", "template", "noscript", "svg", "math", "select",
		"textarea", "button",
	};
	/* (the names are lower case letters: c | 0x20 is their first letter
	 * only where c is that letter in either case) */
	for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
		if (hidden[i][0] == ((unsigned char)name[0] | 0x20) && !strcasecmp(name, hidden[i]))
			return true;
	return false;
}

/* Elements that end a line of text. */
static bool is_block(const char *name)
{
	static const char *const blocks[] = {
		"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
		"h6", "tr", "table", "thead", "tbody", "tfoot", "blockquote", "pre", "hr",
		"section", "article", "header", "footer", "aside", "nav", "figure", "figcaption",
		"address", "main", "details", "summary", "form", "fieldset", "caption", "center",
		"body", "html",
	};
	for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
		if (blocks[i][0] == ((unsigned char)name[0] | 0x20) && !strcasecmp(name, blocks[i]))
			return true;
	return false;
}

/* Collapsing writer: `pending` is the separator owed before the next word
 * (0, ' ' or '\n'). */
struct writer {
	struct fbuf out;
	char pending;
	int err;
};

static void put_break(struct writer *w, char sep)
{
	if (w->out.len == 0)
		return;                 /* nothing leads */
	if (sep == '\n' || w->pending != '\n')
		w->pending = sep;
}

/*
 * How many bytes at p are words separated by single spaces, not ending in
 * one: put_text_n() copies those as they are. 8 bytes at a time (this is
 * where the fast path spent most of its time): a word of bytes none of
 * which is below 0x20 or 0xC2 (the lead byte of U+00A0) and no two spaces
 * side by side.
 */
static size_t plain_run(const unsigned char *p, const unsigned char *end)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
	const unsigned char *q = p;
	bool prev_space = false;
#ifdef __SSE2__
	/* 16 at a time: no byte below 0x20 (unsigned: max(x, 0x20) == x), no
	 * 0xC2, no space right after a space */
	const __m128i sp20 = _mm_set1_epi8(0x20), c2v = _mm_set1_epi8((char)0xC2);
	while (end - q >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)q);
		__m128i ok = _mm_cmpeq_epi8(_mm_max_epu8(x, sp20), x);
		if (_mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(x, c2v), ok)) != 0xFFFF)
			break;
		unsigned spm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sp20));
		if ((spm & (spm >> 1)) || (prev_space && (spm & 1)))
			break;
		prev_space = (spm >> 15) != 0;
		q += 16;
	}
#endif
	/* (the lanes' order in the word is the bytes' on a little-endian host) */
	while (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && end - q >= 8) {
		uint64_t x;
		memcpy(&x, q, 8);
		/* bytes below 0x20 (exact: only those borrow) */
		if ((x - 0x20 * ones) & ~x & high)
			break;
		/* 0xC2 bytes, and spaces (exact masks: 0x80 in their lanes) */
		uint64_t c2 = x ^ (0xC2 * ones), sp = x ^ (0x20 * ones);
		uint64_t c2m = ~(((c2 & low7) + low7) | c2 | low7);
		uint64_t spm = ~(((sp & low7) + low7) | sp | low7);
		if (c2m || (spm & (spm >> 8)) || (prev_space && (spm & 0x80)))
			break;
		prev_space = (spm >> 63) != 0;
		q += 8;
	}
	/* the rest one at a time */
	for (; q < end; q++) {
		unsigned char c = *q;
		if (c < 0x20 || c == 0xC2 || (c == ' ' && prev_space))
			break;
		prev_space = c == ' ';
	}
	/* not ending in a space: the last one is the separator put_text_n owes */
	while (q > p && q[-1] == ' ')
		q--;
	return (size_t)(q - p);
}

/* Room in w->out for the output of n bytes of input (put_text_n). */
static bool writer_reserve(struct writer *w, size_t n)
{
	w->out.cap = n + 2;
	w->out.p = malloc(w->out.cap);
	if (!w->out.p)
		return false;
	w->out.p[0] = '\0';
	return true;
}

/*
 * put_text() for the fast path: n bytes (no NUL in them) written straight
 * into w->out, which fast_text() made large enough for all its output (it
 * is never longer than the input).
 */
static void put_text_n(struct writer *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + n;
	struct fbuf *b = &w->out;
	if (w->err || b->len + n + 2 > b->cap) {
		w->err = -1;
		return;
	}
	char *o = b->p + b->len;
	while (p < end) {
		unsigned char c = *p;
		if (!w->pending && o > b->p) {
			/* after a word: what needs no change is copied as it is */
			size_t run = plain_run(p, end);
			if (run) {
				memcpy(o, p, run);
				o += run;
				p += run;
				continue;
			}
		}
		/* White space, including U+00A0 (C2 A0), collapses (put_break). */
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
		    (c == 0xC2 && p + 1 < end && p[1] == 0xA0)) {
			if (o > b->p && w->pending != '\n')
				w->pending = ' ';
			p += c == 0xC2 ? 2 : 1;
			continue;
		}
		if (w->pending) {
			if (o > b->p)
				*o++ = w->pending;
			w->pending = 0;
		}
		*o++ = (char)c;
		p++;
	}
	*o = '\0';
	b->len = (size_t)(o - b->p);
}

static void put_text(struct writer *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p && !w->err) {
		/* White space, including U+00A0 (C2 A0), collapses. */
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') {
			put_break(w, ' ');
			p++;
			continue;
		}
		if (p[0] == 0xC2 && p[1] == 0xA0) {
			put_break(w, ' ');
			p += 2;
			continue;
		}
		const unsigned char *start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\f' &&
		       *p != '\v' && !(p[0] == 0xC2 && p[1] == 0xA0))
			p++;
		if (w->pending && w->out.len > 0 && fbuf_addc(&w->out, w->pending) < 0)
			w->err = -1;
		w->pending = 0;
		if (fbuf_add(&w->out, (const char *)start, (size_t)(p - start)) < 0)
			w->err = -1;
	}
}

/* Walk the tree without recursion (documents may nest deeply). */
static void walk(struct writer *w, xmlNode *root)
{
	xmlNode *n = root;
	while (n && !w->err) {
		bool descend = false;
		if (n->type == XML_ELEMENT_NODE) {
			const char *name = (const char *)n->name;
			if (!is_hidden(name)) {
				if (is_block(name))
					put_break(w, '\n');
				else if (!strcasecmp(name, "td") || !strcasecmp(name, "th"))
					put_break(w, ' ');
				descend = n->children != NULL;
			}
		} else if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content)
				put_text(w, (const char *)n->content);
		}
		if (descend) {
			n = n->children;
			continue;
		}
		/* Next sibling, or up until there is one; blocks end with a break. */
		while (n && n != root && !n->next) {
			n = n->parent;
			if (n && n->type == XML_ELEMENT_NODE && is_block((const char *)n->name))
				put_break(w, '\n');
		}
		if (!n || n == root)
			break;
		if (n->type == XML_ELEMENT_NODE && is_block((const char *)n->name))
			put_break(w, '\n');
		n = n->next;
	}
}


/* ---- the fast path: simple markup without a tree ---- */

/*
 * Most HTML in feeds is a few paragraphs, links and emphasis with entities.
 * For that, what libxml2's HTML parser and walk() make of it is known
 * without building a tree: the text, with a line break wherever a block
 * element starts or ends. fast_text() reads such markup directly and gives
 * up (returns false) at anything else: other elements, comments, CDATA,
 * end tags that do not close the innermost element, entities libxml2 would
 * not decode, "<" that is not a tag. The elements it knows, and what their
 * start tags implicitly close, are libxml2's (HTMLparser.c: htmlStartClose,
 * html40ElementTable); tests/plugins/test-plugin-rss.c compares the two
 * paths. (bench/parse: half the time of a feed of escaped-HTML
 * descriptions went to building and walking those trees.)
 */

enum {
	F_BLOCK = 1,                 /* is_block(): a line break at its start and end */
	F_EMPTY = 2,                 /* no content and no end tag (libxml2 ends it at once) */
	F_CELL = 4,                  /* td, th: a space at its start */
};

/* Elements the fast path reads; the closes[] of each are indexes here. */
enum ftag {
	FT_A, FT_ABBR, FT_ARTICLE, FT_ASIDE, FT_B, FT_BIG, FT_BLOCKQUOTE, FT_BR, FT_CITE, FT_CODE,
	FT_DIV, FT_EM, FT_FIGCAPTION, FT_FIGURE, FT_FONT, FT_FOOTER, FT_H1, FT_H2, FT_H3, FT_H4,
	FT_H5, FT_H6, FT_HEADER, FT_HR, FT_I, FT_IMG, FT_LI, FT_MAIN, FT_NAV, FT_OL, FT_P, FT_Q,
	FT_S, FT_SECTION, FT_SMALL, FT_SPAN, FT_STRIKE, FT_STRONG, FT_SUB, FT_SUP, FT_TABLE,
	FT_TBODY, FT_TD, FT_TFOOT, FT_TH, FT_THEAD, FT_TR, FT_TT, FT_U, FT_UL, FT_COUNT,
};

_Static_assert(FT_COUNT <= 64, "the closes[] masks are 64 bits");
#define BIT(t) (1ull << (t))
#define HEADINGS (BIT(FT_H1) | BIT(FT_H2) | BIT(FT_H3) | BIT(FT_H4) | BIT(FT_H5) | BIT(FT_H6))
/* libxml2's FONTSTYLE, which <p> closes */
#define FONTSTYLE (BIT(FT_TT) | BIT(FT_I) | BIT(FT_B) | BIT(FT_U) | BIT(FT_S) | \
                   BIT(FT_STRIKE) | BIT(FT_BIG) | BIT(FT_SMALL))
/* what <td> and <th> close */
#define CELL_CLOSES (BIT(FT_TH) | BIT(FT_TD) | BIT(FT_P) | BIT(FT_SPAN) | BIT(FT_FONT) | \
                     BIT(FT_A) | BIT(FT_B) | BIT(FT_I) | BIT(FT_U))

static const struct {
	const char *name;
	unsigned flags;
	uint64_t closes;             /* the open elements its start tag ends (htmlStartClose) */
} ftags[FT_COUNT] = {
	[FT_A] = { "a", 0, BIT(FT_A) },
	[FT_ABBR] = { "abbr", 0, 0 },
	[FT_ARTICLE] = { "article", F_BLOCK, 0 },       /* HTML5: unknown to libxml2 2.9 */
	[FT_ASIDE] = { "aside", F_BLOCK, 0 },
	[FT_B] = { "b", 0, 0 },
	[FT_BIG] = { "big", 0, 0 },
	[FT_BLOCKQUOTE] = { "blockquote", F_BLOCK, BIT(FT_P) },
	[FT_BR] = { "br", F_BLOCK | F_EMPTY, 0 },
	[FT_CITE] = { "cite", 0, 0 },
	[FT_CODE] = { "code", 0, 0 },
	[FT_DIV] = { "div", F_BLOCK, BIT(FT_P) },
	[FT_EM] = { "em", 0, 0 },
	[FT_FIGCAPTION] = { "figcaption", F_BLOCK, 0 },
	[FT_FIGURE] = { "figure", F_BLOCK, 0 },
	[FT_FONT] = { "font", 0, 0 },
	[FT_FOOTER] = { "footer", F_BLOCK, 0 },
	[FT_H1] = { "h1", F_BLOCK, BIT(FT_P) },
	[FT_H2] = { "h2", F_BLOCK, BIT(FT_P) },
	[FT_H3] = { "h3", F_BLOCK, BIT(FT_P) },
	[FT_H4] = { "h4", F_BLOCK, BIT(FT_P) },
	[FT_H5] = { "h5", F_BLOCK, BIT(FT_P) },
	[FT_H6] = { "h6", F_BLOCK, BIT(FT_P) },
	[FT_HEADER] = { "header", F_BLOCK, 0 },
	[FT_HR] = { "hr", F_BLOCK | F_EMPTY, BIT(FT_P) },
	[FT_I] = { "i", 0, 0 },
	[FT_IMG] = { "img", F_EMPTY, 0 },
	[FT_LI] = { "li", F_BLOCK, BIT(FT_P) | HEADINGS | BIT(FT_LI) },
	[FT_MAIN] = { "main", F_BLOCK, 0 },
	[FT_NAV] = { "nav", F_BLOCK, 0 },
	[FT_OL] = { "ol", F_BLOCK, BIT(FT_P) | BIT(FT_UL) },
	[FT_P] = { "p", F_BLOCK, BIT(FT_P) | HEADINGS | FONTSTYLE },
	[FT_Q] = { "q", 0, 0 },
	[FT_S] = { "s", 0, 0 },
	[FT_SECTION] = { "section", F_BLOCK, 0 },
	[FT_SMALL] = { "small", 0, 0 },
	[FT_SPAN] = { "span", 0, 0 },
	[FT_STRIKE] = { "strike", 0, 0 },
	[FT_STRONG] = { "strong", 0, 0 },
	[FT_SUB] = { "sub", 0, 0 },
	[FT_SUP] = { "sup", 0, 0 },
	[FT_TABLE] = { "table", F_BLOCK, BIT(FT_P) | HEADINGS | BIT(FT_A) },
	[FT_TBODY] = { "tbody", F_BLOCK, BIT(FT_TH) | BIT(FT_TD) | BIT(FT_TR) | BIT(FT_THEAD) |
	                                  BIT(FT_TFOOT) | BIT(FT_TBODY) | BIT(FT_P) },
	[FT_TD] = { "td", F_CELL, CELL_CLOSES },
	[FT_TFOOT] = { "tfoot", F_BLOCK, BIT(FT_TH) | BIT(FT_TD) | BIT(FT_TR) | BIT(FT_THEAD) |
	                                  BIT(FT_TBODY) | BIT(FT_P) },
	[FT_TH] = { "th", F_CELL, CELL_CLOSES },
	[FT_THEAD] = { "thead", F_BLOCK, 0 },
	[FT_TR] = { "tr", F_BLOCK, BIT(FT_TH) | BIT(FT_TD) | BIT(FT_TR) | BIT(FT_P) },
	[FT_TT] = { "tt", 0, 0 },
	[FT_U] = { "u", 0, 0 },
	[FT_UL] = { "ul", F_BLOCK, BIT(FT_P) | BIT(FT_OL) },
};

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Characters of libxml2's HTML names (htmlParseHTMLName, htmlParseName). */
static bool is_name_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
	       c >= 0x80;
}

/* The element a tag name of n bytes is, or -1 (not one the fast path knows). */
static int ftag_of(const char *name, size_t n)
{
	if (n > 10)
		return -1;              /* (the longest: "blockquote", "figcaption") */
	char lower[11];
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)(name[i] | 0x20);     /* letters and digits only */
	lower[n] = '\0';
	for (int t = 0; t < FT_COUNT; t++)
		if (ftags[t].name[0] == lower[0] && !strcmp(ftags[t].name, lower))
			return t;
	return -1;
}

/* libxml2's IS_CHAR. */
static bool is_xml_char(unsigned long c)
{
	return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
	       (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static size_t utf8_put(unsigned long c, char *u)
{
	if (c < 0x80) {
		u[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		u[0] = (char)(0xC0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		u[0] = (char)(0xE0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		u[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	u[0] = (char)(0xF0 | (c >> 18));
	u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	u[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

#define FAST_MAX_DEPTH 64

/*
 * A reference at s (s[0] == '&'): its text into u (*un bytes) and its
 * length; 0 when the fast path cannot say what libxml2 makes of it.
 */
static size_t fast_reference(const char *s, const char *end, char *u, size_t *un)
{
	const char *p = s + 1;
	if (p < end && *p == '#') {
		bool hex = p + 1 < end && (p[1] == 'x' || p[1] == 'X');
		p += hex ? 2 : 1;
		const char *digits = p;
		unsigned long v = 0;
		while (p < end && p - digits < 8 &&
		       (hex ? isxdigit((unsigned char)*p) : is_digit((unsigned char)*p))) {
			unsigned d = is_digit((unsigned char)*p) ? (unsigned)(*p - '0') :
			             (unsigned)((*p | 0x20) - 'a' + 10);
			v = v * (hex ? 16 : 10) + d;
			p++;
		}
		if (p == digits || p >= end || *p != ';' || p - digits > (hex ? 6 : 7) ||
		    !is_xml_char(v))
			return 0;
		*un = utf8_put(v, u);
		return (size_t)(p + 1 - s);
	}
	if (p >= end || !(is_alpha((unsigned char)*p) || *p == '_' || *p == ':')) {
		/* no name: libxml2 keeps the '&' (only ASCII here: a letter may follow) */
		if (p < end && ((unsigned char)*p >= 0x80 || *p == '#'))
			return 0;
		u[0] = '&';
		*un = 1;
		return 1;
	}
	const char *name = p;
	while (p < end && is_name_char((unsigned char)*p))
		p++;
	size_t n = (size_t)(p - name);
	if (p < end && *p == ';') {
		char nm[33];
		if (n >= sizeof nm)
			return 0;
		memcpy(nm, name, n);
		nm[n] = '\0';
		const htmlEntityDesc *ent = htmlEntityLookup((const xmlChar *)nm);
		if (!ent || ent->value == 0 || !is_xml_char(ent->value))
			return 0;       /* "&name" with the ';' left as text: not worth it */
		*un = utf8_put(ent->value, u);
		return (size_t)(p + 1 - s);
	}
	return 0;                    /* "&name" without ';': libxml2 keeps it, rarely seen */
}

/* A start or end tag at s (s[0] == '<'): its element (*tag) and length, 0
 * when the fast path cannot read it. *close: an end tag; *self: "/>". */
static size_t fast_tag(const char *s, const char *end, int *tag, bool *close, bool *self)
{
	const char *p = s + 1;
	*close = p < end && *p == '/';
	*self = false;
	if (*close)
		p++;
	const char *name = p;
	while (p < end && (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p)))
		p++;
	if (p == name || !is_alpha((unsigned char)*name) || (p < end && is_name_char((unsigned char)*p)))
		return 0;
	*tag = ftag_of(name, (size_t)(p - name));
	if (*tag < 0)
		return 0;
	if (*close) {
		while (p < end && is_blank((unsigned char)*p))
			p++;
		return p < end && *p == '>' ? (size_t)(p + 1 - s) : 0;
	}
	for (;;) {
		/* p is after the name or a value: blanks, then '>', "/>" or an attribute */
		const char *blanks = p;
		while (p < end && is_blank((unsigned char)*p))
			p++;
		if (p >= end)
			return 0;
		if (*p == '>')
			return (size_t)(p + 1 - s);
		if (*p == '/' && p + 1 < end && p[1] == '>') {
			*self = true;
			return (size_t)(p + 2 - s);
		}
		if (p == blanks || !(is_alpha((unsigned char)*p) || *p == '_' || *p == ':'))
			return 0;
		while (p < end && is_name_char((unsigned char)*p) && (unsigned char)*p < 0x80)
			p++;
		const char *after = p;
		while (p < end && is_blank((unsigned char)*p))
			p++;
		if (p >= end)
			return 0;
		if (*p != '=') {
			p = after;           /* an attribute without a value */
			continue;
		}
		p++;
		while (p < end && is_blank((unsigned char)*p))
			p++;
		if (p >= end)
			return 0;
		if (*p == '"' || *p == '\'') {
			const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
			if (!q)
				return 0;
			p = q + 1;
		} else {
			const char *v = p;
			while (p < end && !is_blank((unsigned char)*p) && *p != '>' && *p != '<' &&
			       *p != '"' && *p != '\'' && *p != '&')
				p++;
			if (p == v || (p < end && (*p == '<' || *p == '"' || *p == '\'' || *p == '&')))
				return 0;
		}
	}
}

/* The first '<' or '&' in [p, end), or end; 8 bytes at a time. */
static const char *find_markup(const char *p, const char *end)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	while (end - p >= 8) {
		uint64_t x, lt, amp;
		memcpy(&x, p, 8);
		lt = x ^ ('<' * ones);
		amp = x ^ ('&' * ones);
		/* a zero byte in either (may flag bytes above a true one: found below) */
		if (((lt - ones) & ~lt & high) || ((amp - ones) & ~amp & high))
			break;
		p += 8;
	}
	while (p < end && *p != '<' && *p != '&')
		p++;
	return p;
}

static void fast_start(struct writer *w, int tag)
{
	if (ftags[tag].flags & F_BLOCK)
		put_break(w, '\n');
	else if (ftags[tag].flags & F_CELL)
		put_break(w, ' ');
}

static void fast_end(struct writer *w, int tag)
{
	if (ftags[tag].flags & F_BLOCK)
		put_break(w, '\n');
}

/* The text of simple HTML (valid UTF-8, no NUL) into w, as walk() would
 * give it; false, with w untouched, when the markup is not simple. */
static bool fast_text(struct writer *w, const char *s, size_t len)
{
	struct writer out = { .out.limit = w->out.limit };
	/* libxml2 drops a byte order mark at the start (it is text elsewhere) */
	if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		return false;
	if (len >= FEED_MAX_FIELD || !writer_reserve(&out, len))
		return false;            /* (so that nothing is cut at the limit) */
	unsigned char stack[FAST_MAX_DEPTH];
	size_t depth = 0;
	bool started = false;        /* libxml2 has an element open (html, at least) */
	const char *p = s, *end = s + len;

	while (p < end && !out.err) {
		if (*p != '<' && *p != '&') {
			const char *q = find_markup(p, end);
			if (!started) {
				/* text before any element: libxml2 implies <p> unless it is blank */
				bool blank = true;
				for (const char *b = p; b < q && blank; b++)
					blank = is_blank((unsigned char)*b);
				if (!blank) {
					started = true;
					stack[depth++] = FT_P;
					fast_start(&out, FT_P);
				}
			}
			put_text_n(&out, p, (size_t)(q - p));
			p = q;
			continue;
		}
		if (*p == '&') {
			char u[4];
			size_t un = 0;
			size_t n = fast_reference(p, end, u, &un);
			if (n == 0)
				goto slow;
			if (!started) {
				started = true;
				stack[depth++] = FT_P;
				fast_start(&out, FT_P);
			}
			put_text_n(&out, u, un);
			p += n;
			continue;
		}
		int tag;
		bool close, self;
		size_t n = fast_tag(p, end, &tag, &close, &self);
		if (n == 0)
			goto slow;
		p += n;
		if (close) {
			if (depth == 0 || stack[depth - 1] != tag)
				goto slow;
			depth--;
			fast_end(&out, tag);
			continue;
		}
		started = true;
		/* what its start tag closes, innermost first */
		while (depth > 0 && (ftags[tag].closes & BIT(stack[depth - 1])))
			fast_end(&out, stack[--depth]);
		fast_start(&out, tag);
		if (self || (ftags[tag].flags & F_EMPTY)) {
			fast_end(&out, tag);
			continue;
		}
		if (depth == FAST_MAX_DEPTH)
			goto slow;
		stack[depth++] = (unsigned char)tag;
	}
	if (out.err)
		goto slow;
	fbuf_reset(&w->out);
	*w = out;
	return true;
slow:
	fbuf_reset(&out.out);
	return false;
}

/*
 * &#128; to &#159; mean the Windows-1252 characters there, as browsers and
 * feedparser read them ("&#146;" is U+2019). The input had its C1 controls
 * mapped so already (feed_utf8_repair), so those in the text came from such
 * references: map them the same way.
 */
static int c1_as_cp1252(struct fbuf *out)
{
	const char *p = out->p;
	bool any = false;
	while (p && !any && (p = memchr(p, 0xC2, out->len - (size_t)(p - out->p)))) {
		unsigned char next = (unsigned char)p[1];
		any = next >= 0x80 && next <= 0x9F && feed_cp1252_c1(next) != next;
		p++;
	}
	if (!any)
		return 0;
	struct fbuf mapped = { .limit = FEED_MAX_FIELD };
	if (feed_utf8_repair(out->p, out->len, &mapped, NULL) < 0) {
		fbuf_reset(&mapped);
		return -1;
	}
	fbuf_reset(out);
	*out = mapped;
	return 0;
}

/* feed_html_to_text(), with the fast paths or without (through libxml2's tree). */
static char *html_to_text(const char *html, size_t len, bool fast)
{
	struct fbuf clean = { 0 };
	struct writer w = { 0 };
	size_t multi;

	if (!html || len > FEED_MAX_DOCUMENT)
		return NULL;
	/* Only valid UTF-8 reaches the HTML parser; NULs would end it early.
	 * Text that needs no repair (nearly all) is read where it is. */
	if (len >= FEED_MAX_FIELD || feed_utf8_clean_prefix(html, len, &multi) != len) {
		clean.limit = len + 16 > FEED_MAX_FIELD ? len + 16 : FEED_MAX_FIELD;
		if (feed_utf8_repair(html, len, &clean, NULL) < 0) {
			fbuf_reset(&clean);
			return NULL;
		}
		html = clean.p;
		len = clean.len;
	}
	w.out.limit = FEED_MAX_FIELD;
	if (fast && len > 0 && !memchr(html, '<', len) && !memchr(html, '&', len)) {
		/* No markup and no references (most titles, many summaries): the
		 * HTML parser would hand back this very text, so skip building a
		 * tree for it (bench/parse: a sixth of the parse time went there). */
		if (len >= FEED_MAX_FIELD)
			put_text(&w, html);      /* clean.p, NUL-terminated (see above) */
		else if (writer_reserve(&w, len))
			put_text_n(&w, html, len);
		else
			w.err = -1;
	} else if (len > 0 && !(fast && fast_text(&w, html, len))) {
		htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
		                                HTML_PARSE_NONET | HTML_PARSE_NOERROR |
		                                HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER |
		                                HTML_PARSE_COMPACT);
		if (doc) {
			xmlNode *root = xmlDocGetRootElement(doc);
			if (root)
				walk(&w, root);
			xmlFreeDoc(doc);
		}
	}
	fbuf_reset(&clean);
	if (!w.err)
		w.err = c1_as_cp1252(&w.out);
	if (w.err) {
		fbuf_reset(&w.out);
		return NULL;
	}
	return fbuf_steal(&w.out);
}

char *feed_html_to_text(const char *html, size_t len)
{
	return html_to_text(html, len, true);
}

char *feed_html_to_text_tree(const char *html, size_t len)
{
	return html_to_text(html, len, false);
}
