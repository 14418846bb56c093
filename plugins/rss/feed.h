/* feed.h - the rss plugin's feed parser: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF and JSON Feed into items */
#ifndef VIGIL_RSS_FEED_H
#define VIGIL_RSS_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/item.h>

/*
 * This parser is used by plugins/rss/rss.c (through the host), by vigilctl
 * parse, by the conformance suite and by the fuzz harness: it depends only on
 * libc, libxml2 and jansson, never on the daemon.
 */

enum feed_format {
	FEED_UNKNOWN = 0,
	FEED_RSS090, FEED_RSS091, FEED_RSS092, FEED_RSS20,   /* RSS 0.9x / 2.0 */
	FEED_RSS10,                                          /* RSS 1.0 (RDF) */
	FEED_ATOM03, FEED_ATOM10,
	FEED_JSON10, FEED_JSON11,
};
const char *feed_format_name(enum feed_format f);       /* "rss20", "atom10", "json11", ... */

/* A link of an entry or the feed (Atom may give several). */
struct feed_link {
	const char *href;            /* absolute (resolved against xml:base and the feed URL) */
	const char *rel;             /* "alternate" when absent */
	const char *type;
	const char *title;
	int64_t length;              /* -1 when absent */
};

/* A person construct (author / contributor / dc:creator). */
struct feed_person {
	const char *name;
	const char *email;
	const char *uri;
};

/*
 * Everything the parser knows about one entry. Borrowed for the callback only.
 * `item` is the vigil item model the rest of vigil sees (title/summary/content
 * as plain text, link chosen per the rules in feed.c, id = guid/id or NULL,
 * author = names joined with ", ", categories, published/updated in UTC,
 * extra fields such as `summary_html`, `content_html`, `enclosure_url`,
 * `enclosure_type`, `form_type`, `accession_number`, `filing_date`), and the
 * rest is detail for conformance tests and for sinks that want it.
 */
struct feed_entry {
	struct vigil_item item;
	const char *title_html;      /* the title as given when it was (X)HTML, else NULL */
	const char *summary_html;    /* original (X)HTML of the summary, or NULL */
	const char *content_html;    /* original (X)HTML of the content, or NULL */
	const char *content_type;    /* "text/html", "text/plain", "application/xhtml+xml", ... */
	bool guid_is_permalink;      /* RSS guid isPermaLink (default true when a guid exists) */
	const struct feed_link *links;
	size_t n_links;
	const struct feed_link *enclosures;   /* RSS enclosure, Atom rel=enclosure, media:content */
	size_t n_enclosures;
	const struct feed_person *authors;
	size_t n_authors;
	const char *comments;        /* RSS comments URL */
	const char *source_title;    /* RSS <source> / Atom <source><title> */
};

/* Feed-level data, known once the head of the document is read. Borrowed. */
struct feed_head {
	enum feed_format format;
	const char *title;
	const char *subtitle;        /* description / subtitle / tagline */
	const char *link;            /* the feed's alternate link, absolute */
	const char *id;
	const char *language;
	int64_t updated;             /* VIGIL_TIME_NONE when absent */
	const struct feed_person *authors;
	size_t n_authors;
	const char *generator;
	const char *icon;
};

struct feed_options {
	const char *base_url;        /* the document's URL: links are resolved against it */
	const char *content_type;    /* HTTP Content-Type (its charset wins over the XML declaration,
	                                as RFC 7303 says), or NULL */
	size_t max_items;            /* 0: no limit */
	size_t max_depth;            /* 0: 256; deeper nesting is an error */
};

/*
 * Callbacks, in document order. `head` is called once before the first
 * entry (with what is known by then) and may be NULL; returning < 0 from a
 * callback stops the parse (feed_parse then returns that value).
 */
struct feed_callbacks {
	int (*head)(void *userdata, const struct feed_head *head);
	int (*entry)(void *userdata, const struct feed_head *head, const struct feed_entry *entry);
};

struct feed_result {
	enum feed_format format;
	size_t n_entries;            /* entries handed to the callback */
	bool bozo;                   /* the document was not well-formed but entries were recovered */
	char error[512];             /* set when feed_parse returns < 0: why, for the user;
	                                also when bozo: what was wrong */
	/* Why the document was refused (appended; all false on success). */
	bool not_feed;               /* not a feed at all: HTML, other XML, other JSON, empty */
	bool html;                   /* ... an HTML page (not_feed is set too) */
	bool hostile;                /* refused for safety: external entity, entity expansion,
	                                nesting deeper than max_depth */
};

/*
 * Parse a whole document (XML feeds stream through libxml2's SAX2 push parser
 * with no network, no entity substitution, no DTD loading, and libxml2's own
 * limits on entity expansion, reading on past what it can recover from; JSON
 * Feed through jansson). Encodings: BOM, HTTP charset,
 * XML declaration, and the usual mislabelled ones; invalid UTF-8 is repaired
 * (U+FFFD). Returns 0, or -EBADMSG (not a feed, malformed beyond recovery,
 * hostile: entity expansion, depth), -EMSGSIZE, or a callback's value, with
 * res->error saying why.
 */
int feed_parse(const char *body, size_t len, const struct feed_options *opt,
               const struct feed_callbacks *cb, void *userdata, struct feed_result *res);

/* Dates: RFC 822 and its sloppy variants, RFC 3339 / W3C-DTF. VIGIL_TIME_NONE if unparsable. */
int64_t feed_parse_date(const char *text);

/* HTML to plain text, as libxml2's HTML parser reads it (simple markup is read
 * without its tree, to the same text): scripts and styles dropped, entities
 * decoded (&#128;-&#159; as Windows-1252), white space collapsed. Caller frees. */
char *feed_html_to_text(const char *html, size_t len);

#endif
