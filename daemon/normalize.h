/* normalize.h - text normalisation for matching (RULES.md), with offsets back to the original */
#ifndef VIGIL_DAEMON_NORMALIZE_H
#define VIGIL_DAEMON_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Normalised text: Unicode NFKC, case folding, combining marks removed
 * (Latin accents, Arabic harakat; all of Mn, Mc, Me except the kana voicing
 * marks U+3099/U+309A, which stay composed: ガ is not カ), tatweel removed,
 * Arabic letter folding (أ إ آ ٱ -> ا, ى -> ي, ة -> ه), full-width -> ASCII
 * (NFKC does most), default-ignorable characters (soft hyphen, ZWJ, ZWNJ,
 * BOM) removed, runs of white space, control characters and U+200B -> one
 * space (a run at either end of a text is kept as one space, so that offsets
 * stay exact; normalize_term trims). Invalid UTF-8 becomes U+FFFD, one per
 * bad byte; the output is always valid UTF-8 without NUL bytes.
 * Thread-safe; no global state beyond tables built once.
 */
struct normtext {
	char *text;                  /* normalised UTF-8, NUL-terminated, owned */
	size_t len;                  /* bytes, without the NUL */
	uint32_t *map;               /* len + 1 entries: map[i] is the byte offset in the
	                                original of the character that produced normalised
	                                byte i; map[len] is the original length. Never
	                                decreasing. */
	size_t cap;                  /* internal: bytes allocated for text (see
	                                normalize_text_into) */
};

/* Normalise `len` bytes of `in` (NULL only with len 0) into *out, which need
 * not be initialised. 0, -ENOMEM, or -EOVERFLOW for len >= 4 GiB. out is
 * always safe to free (normtext_free), also after an error. */
int normalize_text(const char *in, size_t len, struct normtext *out);
/* The same, reusing t's buffers (no allocation once they are large enough):
 * for a loop over many fields. t must be zeroed ({0}) or hold a result of
 * normalize_text(_into). Same returns. */
int normalize_text_into(struct normtext *t, const char *in, size_t len);
void normtext_free(struct normtext *t);

/*
 * The original bytes [*ostart, *oend) behind the normalised bytes
 * [start, end) (start <= end <= t->len): from the start of the character
 * that produced byte `start` to where the original text of the next
 * produced character begins. So marks, tatweel and ignorables dropped
 * inside or right after the hit are included, the white space after it is
 * not, and a hit that ends inside one character's expansion (ﬁ -> fi) covers
 * that whole character.
 */
void normtext_span(const struct normtext *t, size_t start, size_t end, size_t *ostart,
                   size_t *oend);

/* Normalise a rule term (same pipeline; no map), trimmed. The caller strips
 * a trailing '*' (prefix) first. Caller frees. NULL if empty after
 * normalisation (or out of memory). */
char *normalize_term(const char *term);

/* Character classes that decide word boundaries. */
enum char_class {
	CC_SPACE = 0,                /* white space, punctuation, symbols: a boundary */
	CC_WORD = 1,                 /* letters, marks and digits of spaced scripts (Latin, Cyrillic, Greek, ...) */
	CC_ARABIC = 2,               /* Arabic letters and digits (a spaced script with proclitics) */
	CC_CJK = 3,                  /* Han, Hiragana, Katakana, Hangul: no word boundaries */
};
enum char_class normalize_char_class(uint32_t cp);

/*
 * Is the hit text[start, end) (a normalised term found in normalised text)
 * on word boundaries as RULES.md defines them?
 * - Before: start of text, a CC_SPACE character, a change of class (CJK and
 *   non-CJK, but also Latin and Arabic: "الH20"), or the term starts with a
 *   CJK or CC_SPACE character; for an Arabic term, also the attached
 *   proclitics between the word start and the hit: (و|ف)? (ب|ك|ل)? (ال)?, or
 *   (و|ف)? لل (ل + ال contracted) — و، ف، ب، ال، وال، بال، فال، كال، لل،
 *   ولل، وب، فب، ...
 * - After: end of text, a CC_SPACE character, a change of class, the term
 *   ends with a CJK or CC_SPACE character, or `prefix` (the term's last word
 *   is a prefix: "licens*" in "licensed").
 * Two exceptions join words across punctuation, to keep model and part
 * numbers whole: a hyphen (U+002D, U+2010, U+2011) between two CC_WORD
 * characters joins them when the parts on both sides contain a digit
 * ("R2-D2", "A100-80GB"; but "DeepSeek-R2", "H20-based", "US-China",
 * "COVID-19" are boundaries, so R2, H20, China, COVID match there); and a
 * '.' or ',' between two ASCII digits joins them ("R2.5", "1,000").
 * So "R2" is on boundaries in "R2 ships", "(R2)", "R2.", "R2's",
 * "DeepSeek-R2" and "深度求索R2发布", but not in "R21", "AR2", "R2-D2",
 * "r2d2" or "R2.5".
 */
bool normalize_on_boundaries(const struct normtext *t, size_t start, size_t end, bool prefix);

/*
 * The Arabic article contracts after the preposition ل: ل + التصدير is
 * written للتصدير, so a term that starts with ال never appears literally
 * there. For such a term the matcher also searches its stem and checks those
 * hits with normalize_on_boundaries_stem.
 *
 * normalize_term_stem: for a normalised term that starts with ال followed by
 * at least two Arabic letters, the stem (a pointer into nterm, past the
 * article: "التصدير" -> "تصدير"); else NULL.
 *
 * normalize_on_boundaries_stem: is the stem hit text[start, end) preceded,
 * within its word, by exactly (و|ف)? لل — or (و|ف)? ل when the stem itself
 * starts with ل (ل + الليل is لليل) — and followed by a boundary as in
 * normalize_on_boundaries? A stem alone ("تصدير") or after other proclitics
 * ("والتصدير" holds the full term anyway) is not a hit of the stem. For the
 * reason text, report the hit as found (the stem's span).
 */
const char *normalize_term_stem(const char *nterm);
bool normalize_on_boundaries_stem(const struct normtext *t, size_t start, size_t end,
                                  bool prefix);

#endif
