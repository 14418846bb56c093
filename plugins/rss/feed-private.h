/* feed-private.h - helpers shared by the feed parser's files (not part of feed.h's interface) */
#ifndef VIGIL_RSS_FEED_PRIVATE_H
#define VIGIL_RSS_FEED_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "feed.h"

/* No single text field grows past this (bytes of UTF-8); the rest is cut off. */
#define FEED_MAX_FIELD (4u << 20)
/* A document larger than this is refused with -EMSGSIZE. */
#define FEED_MAX_DOCUMENT (64u << 20)
/* Links, enclosures, authors and categories kept per entry. */
#define FEED_MAX_LIST 64

/* A growing NUL-terminated string. A zeroed fbuf is empty; p stays NULL until
 * the first append. `full` is set once an append was cut at `limit`
 * (0: FEED_MAX_FIELD). Appends report -ENOMEM only. */
struct fbuf {
	char *p;
	size_t len;
	size_t cap;
	size_t limit;
	bool full;
};

int fbuf_add(struct fbuf *b, const char *s, size_t n);
int fbuf_adds(struct fbuf *b, const char *s);
int fbuf_addc(struct fbuf *b, char c);
/* Append s with &, <, > and " escaped. */
int fbuf_add_escaped(struct fbuf *b, const char *s, size_t n);
void fbuf_reset(struct fbuf *b);
/* The string, now owned by the caller (never NULL unless out of memory); b is reset. */
char *fbuf_steal(struct fbuf *b);

/*
 * The document's bytes as valid UTF-8 without a BOM, in *out (*out_len
 * bytes, not NUL-terminated). When the bytes needed no change, *out points
 * into body and *owned is NULL; else *out is *owned, malloc'd and
 * NUL-terminated, which the caller frees. Charset: BOM, then the HTTP charset in
 * content_type, then the XML declaration, then UTF-8; ISO-8859-1 and
 * US-ASCII labels are read as Windows-1252, GB2312/GBK as GB18030, Big5 as
 * Big5-HKSCS, Shift_JIS as CP932; a Latin-1 label on valid UTF-8 and an
 * UTF-8 (or absent) label on bytes that are nowhere UTF-8 are taken as
 * mislabelled. Invalid sequences become U+FFFD; NUL and other C0 controls
 * but tab, LF and CR are dropped. *repaired tells whether anything was
 * replaced or dropped. *charset (static) names what the bytes were read as.
 * Returns 0 or -ENOMEM.
 */
int feed_to_utf8(const char *body, size_t len, const char *content_type, const char **out,
                 size_t *out_len, char **owned, bool *repaired, const char **charset);

/* The character Windows-1252 has at a C1 code point (0x80-0x9F), else cp. */
unsigned feed_cp1252_c1(unsigned cp);

/* How many bytes at the start of s feed_utf8_repair() would copy as they
 * are: valid UTF-8 without C0 controls (but tab, LF, CR), U+FFFE, U+FFFF or
 * C1 controls that stand for Windows-1252 characters. *multi counts the
 * multi-byte sequences in them. */
size_t feed_utf8_clean_prefix(const char *s, size_t len, size_t *multi);

/* Repair UTF-8 as feed_to_utf8() does, appending to out (C1 controls become
 * the Windows-1252 characters they were meant to be). */
int feed_utf8_repair(const char *s, size_t len, struct fbuf *out, bool *repaired);

/* feed_html_to_text() without its fast paths: always through libxml2's
 * HTML parser and tree. What the fast paths are tested against (the fuzz
 * harness and tests/plugins/test-plugin-rss.c compare the two). */
char *feed_html_to_text_tree(const char *html, size_t len);

/* href resolved against base (either may be NULL); NULL when there is no
 * usable absolute URL, or for javascript:, vbscript: and data: URLs. */
char *feed_resolve_url(const char *href, const char *base);

/* Whether text looks like HTML source (a tag, a comment or an entity). */
bool feed_looks_like_html(const char *s);

/* A copy of s without leading and trailing white space, runs of white space
 * inside collapsed to one space (or one newline when the run has one). */
char *feed_collapse_space(const char *s);
/* A copy of s without leading and trailing white space. */
char *feed_trim(const char *s);

/* JSON Feed 1.0 / 1.1 from valid UTF-8 (feed-json.c). Same contract as feed_parse(). */
int feed_parse_json(const char *utf8, size_t len, const struct feed_options *opt,
                    const struct feed_callbacks *cb, void *userdata, struct feed_result *res);

/* Set res->error (printf-style). */
void feed_error(struct feed_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
