/* normalize.c - text normalisation for matching (RULES.md), with offsets back to the original */
#include "normalize.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/*
 * Why not utf8proc_map(NFKC_Casefold): it loses the offsets, and the reason
 * an alert carries must point at the original text. So we walk the original
 * one code point at a time, let utf8proc_decompose_char do the compatibility
 * decomposition and case folding of that code point, filter its output
 * (marks, tatweel, Arabic folds, white space) by hand, and record for every
 * output byte where its code point began.
 *
 * Decomposing one code point at a time is exact here because we strip every
 * combining mark: NFKC's canonical reordering and composition only act on a
 * starter with the marks after it, and with the marks gone there is nothing
 * to reorder or compose. The exceptions are what we keep: the kana voicing
 * marks (か + ゙ -> が, also from half-width ｶﾞ) and Hangul conjoining jamo
 * (ᄀ + ᅡ -> 가, also from compatibility jamo ㄱㅏ). Those are composed with
 * the previous output code point as they arrive (compose_last).
 *
 * Speed: the matcher normalises every field of every item. ASCII goes
 * through a 128-byte table; U+0080..U+07FF (Latin, Greek, Cyrillic, Hebrew,
 * Arabic) through a table of finished UTF-8 results built once from the slow
 * path; Han and Hangul syllables are unchanged by the pipeline and copied.
 * Only the rest calls utf8proc per code point. Measured by test-normalize
 * (gcc -O2, one EPYC core, 600-byte fields): ASCII ~1450 MB/s; Arabic 104
 * MB/s without the table, ~580 with it; Chinese 161 MB/s without the Han
 * copy, ~400 with it.
 */

#define DECOMPOSE_OPTS (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)
#define EXPAND_MAX 32                /* longest expansion is 18 (U+FDFA) */

#define ALEF 0x0627
#define ALEF_WASLA 0x0671
#define ALEF_MAKSURA 0x0649
#define YEH 0x064A
#define TEH_MARBUTA 0x0629
#define HEH 0x0647
#define TATWEEL 0x0640
#define WAW 0x0648
#define FEH 0x0641
#define BEH 0x0628
#define KAF 0x0643
#define LAM 0x0644

/* ASCII: lower case, white space and control characters -> ' '. */
static unsigned char ascii_fold[128];
/* ASCII classes, for normalize_char_class. */
static unsigned char ascii_class[128];

/* U+0080..U+07FF: the finished UTF-8 bytes (a ' ' stands for white space),
 * or `slow` when the result does not fit or must compose. */
struct two_byte {
	uint8_t n;
	uint8_t slow;
	char b[14];
};
#define TABLE_FIRST 0x80
#define TABLE_END 0x800
static struct two_byte table[TABLE_END - TABLE_FIRST];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static bool is_mark(utf8proc_category_t c)
{
	return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

/* Kana voicing marks and Hangul vowel/final jamo: compose with what precedes. */
static bool is_composing(int32_t cp)
{
	return cp == 0x3099 || cp == 0x309A || (cp >= 0x1161 && cp <= 0x1175) ||
	       (cp >= 0x11A8 && cp <= 0x11C2);
}

static bool is_space_cp(int32_t cp)
{
	if (cp < 0x80)
		return ascii_fold[cp] == ' ';
	if (cp == 0x200B)            /* zero width space: a word separator (Thai, Khmer) */
		return true;
	utf8proc_category_t c = utf8proc_category(cp);
	return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL ||
	       c == UTF8PROC_CATEGORY_ZP || c == UTF8PROC_CATEGORY_CC;
}

/*
 * One original code point through the pipeline, without composition: the
 * output code points in dst (a ' ' for white space), how many, or -1 when
 * utf8proc fails. Marks and tatweel are dropped; the Arabic letters that
 * RULES.md lists are folded by hand because no Unicode normalisation does it.
 */
static int expand(int32_t cp, int32_t dst[EXPAND_MAX])
{
	if (is_space_cp(cp)) {
		dst[0] = ' ';
		return 1;
	}
	int32_t tmp[EXPAND_MAX];
	utf8proc_ssize_t n = utf8proc_decompose_char(cp, tmp, EXPAND_MAX, DECOMPOSE_OPTS, NULL);
	if (n < 0 || n > EXPAND_MAX)
		return -1;
	int k = 0;
	for (utf8proc_ssize_t j = 0; j < n; j++) {
		int32_t d = tmp[j];
		if (d < 0x80) {
			dst[k++] = ascii_fold[d];
			continue;
		}
		if (is_space_cp(d)) {
			dst[k++] = ' ';
			continue;
		}
		if (d == TATWEEL)
			continue;
		if (is_mark(utf8proc_category(d)) && d != 0x3099 && d != 0x309A)
			continue;
		if (d == ALEF_WASLA)
			d = ALEF;            /* أ إ آ reach here as ا + a hamza or madda mark */
		else if (d == ALEF_MAKSURA)
			d = YEH;
		else if (d == TEH_MARBUTA)
			d = HEH;
		dst[k++] = d;
	}
	return k;
}

static int encode(int32_t cp, char *buf)
{
	return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)buf);
}

static void build_tables(void)
{
	for (int c = 0; c < 128; c++) {
		unsigned char f = (unsigned char)c;
		if (c >= 'A' && c <= 'Z')
			f = (unsigned char)(c + 32);
		else if (c < 0x20 || c == 0x7F)
			f = ' ';
		ascii_fold[c] = f;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			ascii_class[c] = CC_WORD;
		else
			ascii_class[c] = CC_SPACE;
	}
	for (int32_t cp = TABLE_FIRST; cp < TABLE_END; cp++) {
		struct two_byte *e = &table[cp - TABLE_FIRST];
		int32_t dst[EXPAND_MAX];
		int n = expand(cp, dst);
		size_t len = 0;
		for (int j = 0; j < n && !e->slow; j++) {
			char buf[4];
			int w = encode(dst[j], buf);
			if (is_composing(dst[j]) || len + (size_t)w > sizeof e->b) {
				e->slow = 1;
			} else {
				memcpy(e->b + len, buf, (size_t)w);
				len += (size_t)w;
			}
		}
		if (n < 0)
			e->slow = 1;
		e->n = (uint8_t)len;
	}
}

/* The output being built. */
struct out {
	char *s;
	uint32_t *map;
	size_t o, cap;
	bool space;                  /* the last byte written is a collapsed space */
	int32_t last_cp;             /* the last code point written by emit_cp ... */
	size_t last_pos;             /* ... at s[last_pos] ... */
	size_t last_end;             /* ... ending here: compose only if o == last_end */
};

static int grow(struct out *w, size_t need)
{
	size_t cap = w->cap * 2;
	if (cap < w->o + need + 1)
		cap = w->o + need + 1;
	char *s = realloc(w->s, cap);
	if (!s)
		return -ENOMEM;
	w->s = s;
	uint32_t *map = realloc(w->map, (cap + 1) * sizeof *map);
	if (!map)
		return -ENOMEM;
	w->map = map;
	w->cap = cap;
	return 0;
}

static inline int reserve(struct out *w, size_t need)
{
	return w->o + need < w->cap ? 0 : grow(w, need);
}

static inline void put_space(struct out *w, uint32_t at)
{
	if (w->space)
		return;
	w->s[w->o] = ' ';
	w->map[w->o++] = at;
	w->space = true;
}

/* Compose cp with the last code point written, if nothing came between. */
static bool compose_last(struct out *w, int32_t cp)
{
	if (!w->last_cp || w->last_end != w->o)
		return false;
	utf8proc_int32_t pair[2] = { w->last_cp, cp };
	if (utf8proc_normalize_utf32(pair, 2, UTF8PROC_COMPOSE | UTF8PROC_STABLE) != 1)
		return false;
	uint32_t at = w->map[w->last_pos];
	char buf[4];
	int n = encode(pair[0], buf);
	w->o = w->last_pos;          /* reserve() was done for the longer of the two */
	for (int k = 0; k < n; k++) {
		w->s[w->o] = buf[k];
		w->map[w->o++] = at;
	}
	w->last_cp = pair[0];
	w->last_end = w->o;
	return true;
}

/* Write one output code point (' ' for white space) produced by the original
 * character at `at`. Needs reserve(w, 4). */
static void emit_cp(struct out *w, int32_t cp, uint32_t at)
{
	if (cp == ' ') {
		put_space(w, at);
		return;
	}
	if (is_composing(cp) && compose_last(w, cp))
		return;
	char buf[4];
	int n = encode(cp, buf);
	w->last_pos = w->o;
	for (int k = 0; k < n; k++) {
		w->s[w->o] = buf[k];
		w->map[w->o++] = at;
	}
	w->last_cp = cp;
	w->last_end = w->o;
	w->space = false;
}

static bool unchanged(int32_t cp)
{
	/* Unified Han ideographs and precomposed Hangul syllables: no case, no
	 * compatibility mapping, no marks, and NFKC keeps them as they are. */
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
	       (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x20000 && cp <= 0x2A6DF);
}

static int run(struct out *w, const unsigned char *in, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* ASCII: at most one output byte per input byte. */
		while (i < len && in[i] < 0x80) {
			if (w->o + 1 >= w->cap && grow(w, len - i))
				return -ENOMEM;
			unsigned char f = ascii_fold[in[i]];
			if (f == ' ') {
				put_space(w, (uint32_t)i);
			} else {
				w->s[w->o] = (char)f;
				w->map[w->o++] = (uint32_t)i;
				w->space = false;
			}
			i++;
		}
		if (i >= len)
			break;

		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate(in + i, (utf8proc_ssize_t)(len - i), &cp);
		if (n <= 0) {
			cp = 0xFFFD;         /* one replacement per bad byte */
			n = 1;
		}
		uint32_t at = (uint32_t)i;
		i += (size_t)n;

		if (cp < TABLE_END) {
			const struct two_byte *e = &table[cp - TABLE_FIRST];
			if (!e->slow) {
				if (reserve(w, e->n))
					return -ENOMEM;
				for (unsigned k = 0; k < e->n; k++) {
					if (e->b[k] == ' ') {
						put_space(w, at);
					} else {
						w->s[w->o] = e->b[k];
						w->map[w->o++] = at;
						w->space = false;
					}
				}
				continue;
			}
		} else if (unchanged(cp)) {
			if (reserve(w, 4))
				return -ENOMEM;
			w->last_pos = w->o;
			memcpy(w->s + w->o, in + at, (size_t)n);
			for (utf8proc_ssize_t k = 0; k < n; k++)
				w->map[w->o++] = at;
			w->last_cp = cp;
			w->last_end = w->o;
			w->space = false;
			continue;
		}

		int32_t dst[EXPAND_MAX];
		int k = expand(cp, dst);
		if (k < 0) {
			dst[0] = 0xFFFD;
			k = 1;
		}
		if (reserve(w, 4 * (size_t)k))
			return -ENOMEM;
		for (int j = 0; j < k; j++)
			emit_cp(w, dst[j], at);
	}
	return 0;
}

int normalize_text_into(struct normtext *t, const char *in, size_t len)
{
	pthread_once(&tables_once, build_tables);
	if (len >= UINT32_MAX)
		return -EOVERFLOW;
	struct out w = { .s = t->text, .map = t->map, .cap = t->cap };
	if (!w.s || !w.map)
		w.cap = 0;
	if (w.cap < len + 16 && grow(&w, len + len / 8 + 16) < 0)
		goto fail;
	if (run(&w, (const unsigned char *)in, len) < 0)
		goto fail;
	w.s[w.o] = '\0';
	w.map[w.o] = (uint32_t)len;
	t->text = w.s;
	t->map = w.map;
	t->cap = w.cap;
	t->len = w.o;
	return 0;
fail:
	/* grow() may have moved one buffer and not the other: keep what is
	 * current, valid but empty. */
	t->text = w.s;
	t->map = w.map;
	t->cap = w.s && w.map ? w.cap : 0;
	t->len = 0;
	if (t->text && t->cap)
		t->text[0] = '\0';
	if (t->map && t->cap)
		t->map[0] = 0;
	return -ENOMEM;
}

int normalize_text(const char *in, size_t len, struct normtext *out)
{
	*out = (struct normtext){ 0 };
	return normalize_text_into(out, in, len);
}

void normtext_free(struct normtext *t)
{
	if (!t)
		return;
	free(t->text);
	free(t->map);
	*t = (struct normtext){ 0 };
}

void normtext_span(const struct normtext *t, size_t start, size_t end, size_t *ostart,
                   size_t *oend)
{
	*ostart = t->map[start];
	if (end == start) {
		*oend = *ostart;
		return;
	}
	/* Past the rest of the last character's expansion, if the hit ends
	 * inside it (map[len] is the original length, so this stops). */
	uint32_t last = t->map[end - 1];
	while (end < t->len && t->map[end] == last)
		end++;
	*oend = t->map[end];
}

char *normalize_term(const char *term)
{
	if (!term)
		return NULL;
	struct normtext t;
	if (normalize_text(term, strlen(term), &t) < 0) {
		normtext_free(&t);
		return NULL;
	}
	size_t a = 0, b = t.len;
	while (a < b && t.text[a] == ' ')
		a++;
	while (b > a && t.text[b - 1] == ' ')
		b--;
	char *r = NULL;
	if (b > a) {
		r = malloc(b - a + 1);
		if (r) {
			memcpy(r, t.text + a, b - a);
			r[b - a] = '\0';
		}
	}
	normtext_free(&t);
	return r;
}

/* ---- word boundaries ---- */

static bool in_cjk(uint32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
	       (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2EBEF) ||
	       (cp >= 0x30000 && cp <= 0x3134F) || (cp >= 0xF900 && cp <= 0xFAFF) ||
	       (cp >= 0x2F800 && cp <= 0x2FA1F) || (cp >= 0x3005 && cp <= 0x3007) ||
	       (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF) ||
	       (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0xFF66 && cp <= 0xFF9F) ||
	       (cp >= 0x1B000 && cp <= 0x1B16F) ||
	       (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
	       (cp >= 0x3130 && cp <= 0x318F);
}

static bool in_arabic(uint32_t cp)
{
	return (cp >= 0x0600 && cp <= 0x06FF) || (cp >= 0x0750 && cp <= 0x077F) ||
	       (cp >= 0x08A0 && cp <= 0x08FF) || (cp >= 0xFB50 && cp <= 0xFDFF) ||
	       (cp >= 0xFE70 && cp <= 0xFEFF);
}

enum char_class normalize_char_class(uint32_t cp)
{
	pthread_once(&tables_once, build_tables);
	if (cp < 0x80)
		return (enum char_class)ascii_class[cp];
	if (cp > 0x10FFFF)
		return CC_SPACE;
	/* Letters, marks and digits (and letter-like numbers) make words; the
	 * script ranges only decide which kind. Punctuation inside the Arabic
	 * and CJK blocks (، ؟ ・) is still a boundary. */
	switch (utf8proc_category((utf8proc_int32_t)cp)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
	case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		break;
	default:
		return CC_SPACE;
	}
	if (in_cjk(cp))
		return CC_CJK;
	if (in_arabic(cp))
		return CC_ARABIC;
	return CC_WORD;
}

/* Decoders for normalised text, which is valid UTF-8 by construction. */
static uint32_t decode_at(const char *s, size_t pos, size_t *next)
{
	const unsigned char *p = (const unsigned char *)s + pos;
	uint32_t c = p[0];
	size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (n > 1) {
		c &= 0x3Fu >> (n - 1);
		for (size_t k = 1; k < n; k++)
			c = c << 6 | (p[k] & 0x3Fu);
	}
	if (next)
		*next = pos + n;
	return c;
}

static uint32_t decode_before(const char *s, size_t pos, size_t *prev)
{
	size_t p = pos - 1;
	while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80)
		p--;
	if (prev)
		*prev = p;
	return decode_at(s, p, NULL);
}

static bool is_digit_cp(uint32_t cp)
{
	if (cp < 0x80)
		return cp >= '0' && cp <= '9';
	return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_ND;
}

static bool is_hyphen(uint32_t cp)
{
	return cp == '-' || cp == 0x2010 || cp == 0x2011;
}

/* Does the run of CC_WORD characters ending at `pos` (backward) or
 * starting at `pos` (forward) hold a digit? Looks at 64 characters at most:
 * a part number is short. */
static bool part_has_digit(const struct normtext *t, size_t pos, bool forward)
{
	for (int k = 0; k < 64; k++) {
		uint32_t c;
		if (forward) {
			if (pos >= t->len)
				return false;
			c = decode_at(t->text, pos, &pos);
		} else {
			if (pos == 0)
				return false;
			c = decode_before(t->text, pos, &pos);
		}
		if (normalize_char_class(c) != CC_WORD)
			return false;
		if (is_digit_cp(c))
			return true;
	}
	return false;
}

/*
 * Does the punctuation character `p`, at text[ppos, pend), join the words on
 * either side into one (see normalize.h)?
 */
static bool joins(const struct normtext *t, uint32_t p, size_t ppos, size_t pend)
{
	if (ppos == 0 || pend >= t->len)
		return false;
	uint32_t l = decode_before(t->text, ppos, NULL);
	uint32_t r = decode_at(t->text, pend, NULL);
	if (is_hyphen(p))
		return normalize_char_class(l) == CC_WORD && normalize_char_class(r) == CC_WORD &&
		       part_has_digit(t, ppos, false) && part_has_digit(t, pend, true);
	if (p == '.' || p == ',')
		return l >= '0' && l <= '9' && r >= '0' && r <= '9';
	return false;
}

/* The proclitics before an Arabic hit, p[0..n) in text order (see
 * normalize.h). `stem`: the hit is the stem of an ال term, starting with
 * `first`. */
static bool proclitics_ok(const uint32_t *p, size_t n, bool stem, uint32_t first)
{
	size_t i = 0;
	if (i < n && (p[i] == WAW || p[i] == FEH))
		i++;
	size_t rest = n - i;
	bool lam_lam = rest == 2 && p[i] == LAM && p[i + 1] == LAM;
	if (stem)
		return lam_lam || (first == LAM && rest == 1 && p[i] == LAM);
	if (rest == 0 || lam_lam)
		return true;
	if (p[i] == BEH || p[i] == KAF || p[i] == LAM)
		i++;
	rest = n - i;
	return rest == 0 || (rest == 2 && p[i] == ALEF && p[i + 1] == LAM);
}

static bool before_ok(const struct normtext *t, size_t start, bool stem)
{
	uint32_t first = decode_at(t->text, start, NULL);
	enum char_class cf = normalize_char_class(first);
	if (stem && cf != CC_ARABIC)
		return false;
	if (!stem) {
		if (start == 0 || cf == CC_SPACE || cf == CC_CJK)
			return true;
	} else if (start == 0) {
		return false;
	}
	size_t ppos;
	uint32_t prev = decode_before(t->text, start, &ppos);
	enum char_class cp = normalize_char_class(prev);
	if (!stem) {
		if (cp == CC_SPACE)
			return !joins(t, prev, ppos, start);
		if (cp != cf || cp == CC_CJK)
			return true;
		if (cf != CC_ARABIC)
			return false;
	} else if (cp != CC_ARABIC) {
		return false;
	}

	/* Arabic letters before the hit in the same word: proclitics? At most
	 * four (و ب ا ل). */
	uint32_t p[5];
	size_t n = 0, pos = start;
	while (pos > 0 && n < 5) {
		size_t q;
		uint32_t c = decode_before(t->text, pos, &q);
		if (normalize_char_class(c) != CC_ARABIC)
			break;
		p[n++] = c;
		pos = q;
	}
	if (n == 5)
		return false;
	for (size_t k = 0; k < n / 2; k++) {
		uint32_t x = p[k];
		p[k] = p[n - 1 - k];
		p[n - 1 - k] = x;
	}
	return proclitics_ok(p, n, stem, first);
}

static bool after_ok(const struct normtext *t, size_t end, bool prefix)
{
	if (prefix || end >= t->len)
		return true;
	uint32_t last = decode_before(t->text, end, NULL);
	enum char_class cl = normalize_char_class(last);
	if (cl == CC_SPACE || cl == CC_CJK)
		return true;
	size_t npos;
	uint32_t next = decode_at(t->text, end, &npos);
	enum char_class cn = normalize_char_class(next);
	if (cn == CC_SPACE)
		return !joins(t, next, end, npos);
	return cn != cl;
}

bool normalize_on_boundaries(const struct normtext *t, size_t start, size_t end, bool prefix)
{
	if (!t || start >= end || end > t->len)
		return false;
	return before_ok(t, start, false) && after_ok(t, end, prefix);
}

bool normalize_on_boundaries_stem(const struct normtext *t, size_t start, size_t end,
                                  bool prefix)
{
	if (!t || start >= end || end > t->len)
		return false;
	return before_ok(t, start, true) && after_ok(t, end, prefix);
}

const char *normalize_term_stem(const char *nterm)
{
	/* "ال" in UTF-8, then at least two Arabic letters. */
	if (!nterm || strncmp(nterm, "\xd8\xa7\xd9\x84", 4) != 0)
		return NULL;
	const char *stem = nterm + 4;
	size_t pos = 0, len = strlen(stem);
	for (int k = 0; k < 2; k++) {
		if (pos >= len)
			return NULL;
		uint32_t c = decode_at(stem, pos, &pos);
		if (normalize_char_class(c) != CC_ARABIC)
			return NULL;
	}
	return stem;
}
