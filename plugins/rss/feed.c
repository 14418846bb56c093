/* feed.c - the feed parser: RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 streamed through libxml2's SAX2 push parser */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE    /* memmem */
#endif
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <libxml/HTMLparser.h>
#include <libxml/entities.h>
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xmlerror.h>

#include "feed-private.h"

/* ---- small string helpers, shared through feed-private.h ---- */

int fbuf_add(struct fbuf *b, const char *s, size_t n)
{
	size_t limit = b->limit ? b->limit : FEED_MAX_FIELD;
	if (b->len + n > limit) {
		b->full = true;
		n = limit > b->len ? limit - b->len : 0;
		/* Never cut a UTF-8 sequence in two. */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int fbuf_adds(struct fbuf *b, const char *s)
{
	return fbuf_add(b, s, strlen(s));
}

int fbuf_addc(struct fbuf *b, char c)
{
	return fbuf_add(b, &c, 1);
}

int fbuf_add_escaped(struct fbuf *b, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *esc = NULL;
		switch (s[i]) {
		case '&': esc = "&amp;"; break;
		case '<': esc = "&lt;"; break;
		case '>': esc = "&gt;"; break;
		case '"': esc = "&quot;"; break;
		default: continue;
		}
		if (fbuf_add(b, s + run, i - run) < 0 || fbuf_adds(b, esc) < 0)
			return -ENOMEM;
		run = i + 1;
	}
	return fbuf_add(b, s + run, n - run);
}

void fbuf_reset(struct fbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->full = false;
}

char *fbuf_steal(struct fbuf *b)
{
	char *p = b->p ? b->p : strdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	b->full = false;
	return p;
}

void feed_error(struct feed_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *feed_trim(const char *s)
{
	if (!s)
		return NULL;
	while (is_space((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

char *feed_collapse_space(const char *s)
{
	if (!s)
		return NULL;
	size_t len = strlen(s);
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	char *o = out;
	char pending = 0;
	const char *end = s + len;
	for (const char *p = s; p < end; p++) {
#ifdef __SSE2__
		/* a run of bytes above 0x20 (none is white space) in one copy */
		if ((unsigned char)*p > 0x20) {
			const char *q = p;
			const __m128i sp = _mm_set1_epi8(0x21);
			for (; end - q >= 16; q += 16) {
				__m128i v = _mm_loadu_si128((const __m128i *)q);
				unsigned m = (unsigned)_mm_movemask_epi8(
					_mm_cmpeq_epi8(_mm_max_epu8(v, sp), v));
				if (m != 0xFFFF) {
					q += __builtin_ctz(~m);
					break;
				}
			}
			while (q < end && (unsigned char)*q > 0x20)
				q++;
			if (pending)
				*o++ = pending;
			pending = 0;
			memcpy(o, p, (size_t)(q - p));
			o += q - p;
			p = q - 1;
			continue;
		}
#endif
		if (is_space((unsigned char)*p)) {
			if (o > out && pending != '\n')
				pending = *p == '\n' ? '\n' : ' ';
			continue;
		}
		if (pending)
			*o++ = pending;
		pending = 0;
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

bool feed_looks_like_html(const char *s)
{
	for (const char *p = s; p && (p = strpbrk(p, "<&")); p++) {
		if (*p == '<') {
			if (isalpha((unsigned char)p[1]) || p[1] == '/' || p[1] == '!')
				return true;
			continue;
		}
		/* &name; or &#123; or &#x1F; */
		const char *q = p + 1;
		if (*q == '#') {
			q++;
			if (*q == 'x' || *q == 'X')
				q++;
			if (!isxdigit((unsigned char)*q))
				continue;
			while (isxdigit((unsigned char)*q))
				q++;
		} else {
			if (!isalpha((unsigned char)*q))
				continue;
			while (isalnum((unsigned char)*q))
				q++;
		}
		if (*q == ';')
			return true;
	}
	return false;
}

static bool has_scheme(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return false;
	const char *p = s + 1;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

char *feed_resolve_url(const char *href, const char *base)
{
	if (!href)
		return NULL;
	char *h = feed_trim(href);
	if (!h)
		return NULL;
	if (!*h || strlen(h) > 8192) {
		free(h);
		return NULL;
	}
	xmlChar *abs = NULL;
	if (base && *base && has_scheme(base))
		abs = xmlBuildURI((const xmlChar *)h, (const xmlChar *)base);
	if (!abs && has_scheme(h))
		abs = xmlStrdup((const xmlChar *)h);
	if (!abs && base && *base && has_scheme(base)) {
		/* Spaces and the like: escape, then try again. */
		xmlChar *esc = xmlURIEscapeStr((const xmlChar *)h,
		                               (const xmlChar *)":/?#[]@!$&'()*+,;=%~");
		if (esc)
			abs = xmlBuildURI(esc, (const xmlChar *)base);
		xmlFree(esc);
	}
	free(h);
	if (!abs)
		return NULL;
	char *out = NULL;
	if (has_scheme((const char *)abs) &&
	    strncasecmp((const char *)abs, "javascript:", 11) &&
	    strncasecmp((const char *)abs, "vbscript:", 9) &&
	    strncasecmp((const char *)abs, "data:", 5))
		out = strdup((const char *)abs);
	xmlFree(abs);
	return out;
}

/* ---- element names ---- */

enum ns {
	NS_OTHER = 0,
	NS_RSS,          /* no namespace, RSS 1.0, RSS 0.90, the RSS 2.0 namespaces */
	NS_ATOM,         /* Atom 1.0 or 0.3 */
	NS_RDF,
	NS_DC,
	NS_DCTERMS,
	NS_CONTENT,
	NS_MEDIA,
	NS_XHTML,
	NS_ITUNES,
};

#define NS_URI_ATOM10 "http://www.w3.org/2005/Atom"
#define NS_URI_ATOM03 "http://purl.org/atom/ns#"
#define NS_URI_RSS10 "http://purl.org/rss/1.0/"
#define NS_URI_RSS090 "http://my.netscape.com/rdf/simple/0.9/"
#define NS_URI_RSS11 "http://purl.org/net/rss1.1#"
#define NS_URI_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_URI_XHTML "http://www.w3.org/1999/xhtml"

/* The namespace a URI names; *hint remembers the last one found (a document
 * uses few, and this runs at every element). */
static enum ns ns_of(const char *uri, size_t *hint)
{
	static const struct {
		const char *uri;
		enum ns ns;
	} known[] = {
		{ NS_URI_ATOM10, NS_ATOM }, { NS_URI_ATOM03, NS_ATOM },
		/* Atom before 0.3 was named (feedparser reads these too) */
		{ "http://example.com/newformat#", NS_ATOM }, { "http://example.com/necho", NS_ATOM },
		{ "http://purl.org/echo/", NS_ATOM }, { "http://purl.org/pie/", NS_ATOM },
		{ "uri/of/echo/namespace#", NS_ATOM },
		{ NS_URI_RSS10, NS_RSS }, { NS_URI_RSS090, NS_RSS }, { NS_URI_RSS11, NS_RSS },
		{ "http://backend.userland.com/rss2", NS_RSS },
		{ "http://blogs.law.harvard.edu/tech/rss", NS_RSS },
		{ "http://backend.userland.com/rss", NS_RSS },
		{ NS_URI_RDF, NS_RDF },
		{ "http://purl.org/dc/elements/1.1/", NS_DC },
		{ "http://purl.org/dc/elements/1.0/", NS_DC },
		{ "http://purl.org/dc/terms/", NS_DCTERMS },
		{ "http://purl.org/rss/1.0/modules/content/", NS_CONTENT },
		{ "http://search.yahoo.com/mrss/", NS_MEDIA },
		{ "http://search.yahoo.com/mrss", NS_MEDIA },
		{ NS_URI_XHTML, NS_XHTML },
		{ "http://www.itunes.com/dtds/podcast-1.0.dtd", NS_ITUNES },
	};
	if (!uri || !*uri)
		return NS_RSS;
	if (*hint < sizeof known / sizeof known[0] && !strcmp(uri, known[*hint].uri))
		return known[*hint].ns;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (!strcmp(uri, known[i].uri)) {
			*hint = i;
			return known[i].ns;
		}
	}
	/* Apple's own feeds spell it .../DTDs/Podcast-1.0.dtd */
	if (!strcasecmp(uri, "http://www.itunes.com/dtds/podcast-1.0.dtd"))
		return NS_ITUNES;
	return NS_OTHER;
}

/* What an element is to the parser; indexed by depth. */
enum role {
	R_IGNORE = 0,
	R_ROOT_RSS,
	R_ROOT_RDF,
	R_HEAD,          /* RSS channel, Atom feed */
	R_ENTRY,         /* RSS item, Atom entry */
	R_PERSON,        /* Atom author */
	R_SOURCE,        /* Atom source */
	R_MEDIA_GROUP,
	R_ENTRY_EXT,     /* an iTunes category (they nest) */
	R_ITEMS,         /* RSS 1.1 <items rdf:parseType="Collection"> */
	R_IMAGE,         /* RSS channel image */
};

/* Where the text of a captured element goes. */
enum target {
	T_NONE = 0,
	T_HEAD_TITLE, T_HEAD_SUBTITLE, T_HEAD_LINK, T_HEAD_ID, T_HEAD_LANG, T_HEAD_UPDATED,
	T_HEAD_GENERATOR, T_HEAD_ICON, T_HEAD_AUTHOR,
	T_TITLE, T_SUMMARY, T_CONTENT, T_LINK, T_ID, T_PUBLISHED, T_UPDATED, T_CREATED,
	T_DCDATE, T_AUTHOR, T_CATEGORY, T_COMMENTS, T_SOURCE_TITLE, T_LANG,
	T_PERSON_NAME, T_PERSON_EMAIL, T_PERSON_URI,
	T_TAGS,          /* a comma-separated list of categories */
	T_MEDIA_TITLE, T_MEDIA_DESCRIPTION,
};

/* The child elements of XML content (SEC EDGAR puts its filing data there). */
#define FEED_MAX_XML_CHILDREN 32

struct capture {
	int depth;                   /* the captured element's depth; -1: none */
	enum target target;
	bool atom;                   /* an Atom text construct (type attribute rules) */
	struct fbuf text;            /* all text inside */
	struct fbuf markup;          /* the inner markup, serialised (see markup_lazy) */
	bool markup_lazy;            /* markup not built yet: it is text, escaped */
	bool has_text;               /* text was added (text may be empty) */
	bool spaced;                 /* XML content: a space in text at each child element */
	bool has_markup;             /* markup was added (it may be empty) */
	bool children;               /* element children seen */
	int div_depth;               /* xhtml: the wrapper div skipped, or -1 */
	char *type;                  /* type attribute */
	char *mode;                  /* Atom 0.3 mode attribute (escaped, xml, base64) */
	char *src;
	char *rel;                   /* a link's rel, when its URL is its text */
	char *base;                  /* base URI at the element */
	bool not_permalink;          /* guid isPermaLink="false" */
	bool rss_guid;
	int rss_text;                /* RSS <description>: 1, <summary>: 2 */
	int child_depth;             /* a direct child being recorded, or -1 */
	char *child_name;
	struct fbuf child_text;
};

/* One entry being read; every string owned. */
struct entry_builder {
	bool active;
	char *title, *title_html, *summary, *summary_html, *content, *content_html;
	char *content_type;
	char *id, *about, *comments, *source_title, *lang;
	char *media_title, *media_description;       /* fallbacks for title and summary */
	bool has_guid, guid_permalink;
	int summary_from;            /* the capture's rss_text that gave the summary */
	int64_t published, updated, created, dcdate;
	char *form_type;
	bool sec;
	size_t n_links, n_enclosures, n_authors, n_categories, n_xml;
	/* The lists: only their first n_* entries are ever read, so entry_clear()
	 * leaves the rest (8 kB) as it is. */
	struct feed_link links[FEED_MAX_LIST];
	struct feed_link enclosures[FEED_MAX_LIST];
	struct feed_person authors[FEED_MAX_LIST];
	char *categories[FEED_MAX_LIST];
	char *xml_names[FEED_MAX_XML_CHILDREN];
	char *xml_values[FEED_MAX_XML_CHILDREN];
};

struct head_builder {
	char *title, *subtitle, *link, *id, *language, *generator, *icon;
	int64_t updated;
	struct feed_person authors[FEED_MAX_LIST];
	size_t n_authors;
};

/* An element with xml:base or xml:lang, while it is open. */
struct scope {
	int depth;
	char *base;                  /* its xml:base, or NULL */
	char *lang;                  /* its xml:lang, or NULL */
};

struct xp {
	xmlParserCtxtPtr ctxt;       /* libxml2's SAX2 push parser */
	/* The element whose start tag is being read: what libxml2 gave the
	 * start callback (valid until the callback returns). attrs: n_attrs
	 * times (local name, prefix, URI, value, value end), the last
	 * n_defaulted of them defaults from the DTD. */
	struct {
		const char *local, *prefix, *uri;
		int depth;
		const xmlChar **ns;          /* n_ns times (prefix, URI) */
		int n_ns;
		const xmlChar **attrs;
		int n_attrs, n_defaulted;
	} el;
	size_t first;                /* bytes given to the parser when it was made */
	int open;                    /* elements open: the depth of the next start */
	int skip_depth;              /* skipping the subtree of the element at this depth; -1 */
	bool empty_open;             /* the last event started an empty element (<x/>) */
	bool at_start;               /* ... started an element (for prepass_needless) */
	size_t text_run;             /* bytes of the text being read (libxml2's node limit) */
	bool text_run_cdata;
	struct scope *scopes;
	size_t n_scopes, cap_scopes;
	const char *doc;             /* the bytes read, for the head pre-pass */
	size_t len;
	bool head_only;              /* the pre-pass: feed-level elements only */
	bool skip;                   /* skip the current element's subtree */
	bool prepassed;
	size_t n_starts;             /* elements read so far (start tags) */
	bool head_frozen;            /* the pre-pass filled the head; ignore it now */
	const struct feed_options *opt;
	const struct feed_callbacks *cb;
	void *userdata;
	struct feed_result *res;
	size_t max_depth;
	unsigned char *roles;        /* max_depth + 1 */
	size_t ns_hint;              /* for ns_of() */
	/* name_of() of element names libxml2 interned in the parser's
	 * dictionary: such a string lives as long as the parser, so its
	 * address stands for it. Direct-mapped by address. */
	struct {
		const char *s;
		unsigned char name;
	} names[64];                 /* 64: cached_name_of() takes 6 bits of a hash */

	enum feed_format format;
	bool root_seen;
	struct capture cap;
	struct entry_builder e;
	struct head_builder h;
	struct feed_head head;
	bool head_called;
	struct feed_person person;   /* the Atom person being read */
	int person_owner;            /* 1: head, 2: entry, 0: dropped */

	/* Why reading stops early. */
	bool stop;
	int rc;                      /* feed_parse's return value when stopping */
	/* libxml2's errors */
	unsigned n_errors;
	char first_error[256];
	bool hostile;
	bool too_big;

	/* base_uri() of a document without xml:base: the same for every element */
	bool base_checked, base_fixed;
	char *base;
};

static char *xstrdup(const xmlChar *s)
{
	return s ? strdup((const char *)s) : NULL;
}

/*
 * An attribute value as libxml2's tree would hold it. Not substituting
 * entities, libxml2 leaves "&#38;" for "&" and "&name;" for a declared
 * entity in the values it gives SAX2; its tree functions read both as an
 * xmlReader did (a declared entity as its text).
 */
static char *attr_value(struct xp *x, const xmlChar *v, const xmlChar *end)
{
	size_t n = (size_t)(end - v);
	xmlDocPtr doc = x->ctxt->myDoc;
	if (!memchr(v, '&', n) || !doc)
		return strndup((const char *)v, n);
	xmlNodePtr list = xmlStringLenGetNodeList(doc, v, (int)n);
	xmlChar *text = list ? xmlNodeListGetString(doc, list, 1) : NULL;
	xmlFreeNodeList(list);
	char *s = strdup(text ? (const char *)text : "");
	xmlFree(text);
	return s;
}

/* An attribute of the element being started, by local name and namespace
 * URI (NULL: an attribute without a prefix), malloc'd, or NULL. */
static char *attr_ns(struct xp *x, const char *name, const char *uri)
{
	const xmlChar **a = x->el.attrs;
	for (int i = 0; i < x->el.n_attrs; i++, a += 5) {
		if (strcmp((const char *)a[0], name))
			continue;
		if (uri ? a[2] && !strcmp((const char *)a[2], uri) : !a[1])
			return attr_value(x, a[3], a[4]);
	}
	return NULL;
}

static char *attr(struct xp *x, const char *name)
{
	return attr_ns(x, name, NULL);
}

/* Whether "xml:base" occurs in s (a search for ":b", 16 bytes at a time). */
static bool has_xml_base(const char *s, size_t len)
{
	size_t i = 3;
#ifdef __SSE2__
	const __m128i colon = _mm_set1_epi8(':'), b = _mm_set1_epi8('b');
	for (; i + 17 <= len; i += 16) {
		__m128i c = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), colon);
		__m128i n = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i + 1)), b);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(c, n));
		for (; m; m &= m - 1) {
			size_t j = i + (size_t)__builtin_ctz(m);
			if (j + 5 <= len && !memcmp(s + j - 3, "xml:base", 8))
				return true;
		}
	}
#endif
	for (; i + 5 <= len; i++)
		if (s[i] == ':' && !memcmp(s + i - 3, "xml:base", 8))
			return true;
	return false;
}

/*
 * The base URI of the element being read, as libxml2's xmlNodeGetBase()
 * makes it from the tree (and an xmlReader gave it): the element's and its
 * ancestors' xml:base, nearest first, each resolved against the next one up
 * until the result starts "http://", "ftp://" or "urn:", then against the
 * document's URL. Malloc'd, or NULL.
 */
static xmlChar *scoped_base(struct xp *x)
{
	xmlChar *base = NULL;
	for (size_t i = x->n_scopes; i-- > 0;) {
		const xmlChar *b = (const xmlChar *)x->scopes[i].base;
		if (!b)
			continue;
		if (base) {
			xmlChar *resolved = xmlBuildURI(base, b);
			xmlFree(base);
			if (!resolved)
				return NULL;
			base = resolved;
		} else {
			base = xmlStrdup(b);
		}
		if (base && (!xmlStrncmp(base, BAD_CAST "http://", 7) ||
		             !xmlStrncmp(base, BAD_CAST "ftp://", 6) ||
		             !xmlStrncmp(base, BAD_CAST "urn:", 4)))
			return base;
	}
	xmlDocPtr doc = x->ctxt->myDoc;
	if (doc && doc->URL) {
		if (!base)
			return xmlStrdup(doc->URL);
		xmlChar *resolved = xmlBuildURI(base, doc->URL);
		xmlFree(base);
		return resolved;
	}
	return base;
}

/* The xml:lang in scope, or NULL. */
static const char *scoped_lang(struct xp *x)
{
	for (size_t i = x->n_scopes; i-- > 0;)
		if (x->scopes[i].lang)
			return x->scopes[i].lang;
	return NULL;
}

static char *base_uri(struct xp *x)
{
	if (x->base_fixed)
		return x->base ? strdup(x->base) : NULL;
	xmlChar *b = scoped_base(x);
	char *s = xstrdup(b);
	xmlFree(b);
	if (!s && x->opt->base_url)
		s = strdup(x->opt->base_url);
	/* Without an xml:base attribute anywhere (libxml2 does not substitute
	 * entities here, so none can come from one), every element's base is
	 * the document's: libxml2 walks up the tree to find that each time. */
	if (!x->base_checked) {
		x->base_checked = true;
		if (!has_xml_base(x->doc, x->len)) {
			x->base = s ? strdup(s) : NULL;
			x->base_fixed = !s || x->base;
		}
	}
	return s;
}

static void stop(struct xp *x, int rc)
{
	if (!x->stop) {
		x->stop = true;
		x->rc = rc;
	}
}

static void oom(struct xp *x)
{
	feed_error(x->res, "out of memory");
	stop(x, -ENOMEM);
}

/* Set *slot to value when it is still empty; value is consumed. */
static void take(char **slot, char *value)
{
	if (value && *value && !*slot) {
		*slot = value;
		return;
	}
	free(value);
}

static void person_clear(struct feed_person *p)
{
	free((char *)p->name);
	free((char *)p->email);
	free((char *)p->uri);
	memset(p, 0, sizeof *p);
}

static void link_clear(struct feed_link *l)
{
	free((char *)l->href);
	free((char *)l->rel);
	free((char *)l->type);
	free((char *)l->title);
	memset(l, 0, sizeof *l);
}

static void entry_clear(struct entry_builder *e)
{
	char **strings[] = {
		&e->title, &e->title_html, &e->summary, &e->summary_html, &e->content,
		&e->content_html, &e->content_type, &e->id, &e->about, &e->comments,
		&e->source_title, &e->lang, &e->media_title, &e->media_description, &e->form_type,
	};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(*strings[i]);
	for (size_t i = 0; i < e->n_links; i++)
		link_clear(&e->links[i]);
	for (size_t i = 0; i < e->n_enclosures; i++)
		link_clear(&e->enclosures[i]);
	for (size_t i = 0; i < e->n_authors; i++)
		person_clear(&e->authors[i]);
	for (size_t i = 0; i < e->n_categories; i++)
		free(e->categories[i]);
	for (size_t i = 0; i < e->n_xml; i++) {
		free(e->xml_names[i]);
		free(e->xml_values[i]);
	}
	memset(e, 0, offsetof(struct entry_builder, links));
	e->published = e->updated = e->created = e->dcdate = VIGIL_TIME_NONE;
}

static void head_clear(struct head_builder *h)
{
	free(h->title);
	free(h->subtitle);
	free(h->link);
	free(h->id);
	free(h->language);
	free(h->generator);
	free(h->icon);
	for (size_t i = 0; i < h->n_authors; i++)
		person_clear(&h->authors[i]);
	memset(h, 0, sizeof *h);
	h->updated = VIGIL_TIME_NONE;
}

/* Empty b, keeping its memory for the next capture (one per element read). */
static void fbuf_clear(struct fbuf *b)
{
	b->len = 0;
	b->full = false;
	if (b->p)
		b->p[0] = '\0';
}

/* Reset c to no capture; its buffers keep their memory (this runs twice for
 * every element captured). */
static void capture_clear(struct capture *c)
{
	fbuf_clear(&c->text);
	fbuf_clear(&c->markup);
	fbuf_clear(&c->child_text);
	free(c->type);
	free(c->mode);
	free(c->src);
	free(c->rel);
	free(c->base);
	free(c->child_name);
	c->type = c->mode = c->src = c->rel = c->base = c->child_name = NULL;
	c->depth = -1;
	c->target = T_NONE;
	c->atom = false;
	c->markup_lazy = c->has_text = c->has_markup = c->children = c->spaced = false;
	c->div_depth = -1;
	c->not_permalink = c->rss_guid = false;
	c->rss_text = 0;
	c->child_depth = -1;
}

static void capture_free(struct capture *c)
{
	capture_clear(c);
	fbuf_reset(&c->text);
	fbuf_reset(&c->markup);
	fbuf_reset(&c->child_text);
}

/* Add a link to a list unless its href is there already; fields consumed. */
static void add_link(struct feed_link *list, size_t *n, char *href, char *rel, char *type,
                     char *title, int64_t length)
{
	bool dup = !href || *n >= FEED_MAX_LIST;
	for (size_t i = 0; !dup && i < *n; i++)
		dup = !strcmp(list[i].href, href) &&
		      !strcmp(list[i].rel, rel ? rel : "alternate");
	if (dup) {
		free(href);
		free(rel);
		free(type);
		free(title);
		return;
	}
	list[*n] = (struct feed_link){
		.href = href, .rel = rel ? rel : strdup("alternate"), .type = type,
		.title = title, .length = length,
	};
	(*n)++;
}

static int64_t parse_length(const char *s)
{
	if (!s)
		return -1;
	char *end;
	while (is_space((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	long long v = strtoll(s, &end, 10);
	return v < 0 ? -1 : (int64_t)v;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static void add_person(struct feed_person *list, size_t *n, struct feed_person *p)
{
	bool dup = (!p->name && !p->email && !p->uri) || *n >= FEED_MAX_LIST;
	for (size_t i = 0; !dup && i < *n; i++)
		dup = same_str(list[i].name, p->name) && same_str(list[i].email, p->email) &&
		      same_str(list[i].uri, p->uri);
	if (dup) {
		person_clear(p);
		return;
	}
	list[(*n)++] = *p;
	memset(p, 0, sizeof *p);
}

static bool is_email_local(unsigned char ch)
{
	return isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '+';
}

static bool is_email_host(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '.';
}

/*
 * An RSS author as written: "jo@example.org (Jo Smith)", "Jo Smith
 * (jo@example.org)", "Jo Smith <jo@example.org>", an address alone or a
 * name alone. As feedparser does: the address is found where it is, and
 * the name is what is left without it and the brackets around it.
 */
static void parse_rss_person(const char *text, struct feed_person *p)
{
	memset(p, 0, sizeof *p);
	char *t = feed_collapse_space(text);
	if (!t || !*t) {
		free(t);
		return;
	}
	char *at = NULL;
	for (char *q = strchr(t, '@'); q && !at; q = strchr(q + 1, '@')) {
		if (q > t && is_email_local((unsigned char)q[-1]) &&
		    is_email_host((unsigned char)q[1]))
			at = q;
	}
	if (at) {
		char *start = at, *end = at + 1;
		while (start > t && is_email_local((unsigned char)start[-1]))
			start--;
		while (is_email_host((unsigned char)*end))
			end++;
		while (end > at + 1 && end[-1] == '.')
			end--;
		if (!strncmp(end, "?subject=", 9))
			while (*end && !is_space((unsigned char)*end) && *end != ')' && *end != '>')
				end++;
		p->email = strndup(start, (size_t)(end - start));
		/* the rest, without the address and the brackets that held it */
		memmove(start, end, strlen(end) + 1);
		for (char *q; (q = strstr(t, "()")) || (q = strstr(t, "<>"));)
			memmove(q, q + 2, strlen(q + 2) + 1);
		char *name = feed_trim(t);
		if (name && name[0] == '(')
			memmove(name, name + 1, strlen(name));
		size_t n = name ? strlen(name) : 0;
		if (n && name[n - 1] == ')')
			name[n - 1] = '\0';
		p->name = feed_trim(name);
		free(name);
	} else {
		p->name = strdup(t);
	}
	if (p->name && !*p->name) {
		free((char *)p->name);
		p->name = NULL;
	}
	if (p->email && !*p->email) {
		free((char *)p->email);
		p->email = NULL;
	}
	free(t);
}

/* ---- text constructs ---- */

static bool str_ieq(const char *a, const char *b)
{
	return a && !strcasecmp(a, b);
}

static char *nonempty(char *s)
{
	if (s && !*s) {
		free(s);
		return NULL;
	}
	return s;
}

/* The value of one base64 digit, or -1. */
static int b64_digit(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/*
 * Base64 text (white space anywhere, padding optional) decoded, when it is
 * base64 and what it encodes is UTF-8 text (no NUL or other C0 control but
 * tab, LF and CR); NULL otherwise. Caller frees.
 */
static char *b64_text(const char *s)
{
	struct fbuf out = { 0 };
	unsigned acc = 0;
	int bits = 0;
	bool pad = false;
	size_t digits = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_space(*p))
			continue;
		if (*p == '=') {
			pad = true;
			continue;
		}
		int d = b64_digit(*p);
		if (d < 0 || pad)
			goto fail;
		digits++;
		acc = (acc << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			unsigned char byte = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
			if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') ||
			    byte == 0x7F)
				goto fail;
			if (fbuf_addc(&out, (char)byte) < 0)
				goto fail;
		}
	}
	if (digits == 0 || digits % 4 == 1 || out.full)
		goto fail;
	struct fbuf fixed = { 0 };
	bool repaired = false;
	if (feed_utf8_repair(out.p, out.len, &fixed, &repaired) < 0 || repaired) {
		fbuf_reset(&fixed);
		goto fail;
	}
	fbuf_reset(&fixed);
	return fbuf_steal(&out);
fail:
	fbuf_reset(&out);
	return NULL;
}

/* A media type whose Atom text is base64 (RFC 4287 3.1.1.3): not text, not XML. */
static bool is_base64_type(const char *type)
{
	size_t n = strlen(type);
	if (!strchr(type, '/'))
		return false;      /* "text", "html", "xhtml", or a made-up word */
	return strncasecmp(type, "text/", 5) && !(n > 4 && !strcasecmp(type + n - 4, "+xml")) &&
	       !(n > 4 && !strcasecmp(type + n - 4, "/xml"));
}

/* An XML media type that is not XHTML (text/xml, application/atom+xml, ...):
 * its plain text is the text of its elements, one apart from the next. */
static bool is_xml_type(const char *type)
{
	size_t n = strlen(type);
	return n > 4 && strchr(type, '/') && (!strcasecmp(type + n - 4, "/xml") ||
	       !strcasecmp(type + n - 4, "+xml")) && strcasecmp(type, "application/xhtml+xml");
}

/* Media types that are binary for certain: their undecodable text is not shown. */
static bool is_binary_type(const char *type)
{
	return !strncasecmp(type, "image/", 6) || !strncasecmp(type, "audio/", 6) ||
	       !strncasecmp(type, "video/", 6) || str_ieq(type, "application/octet-stream");
}

/*
 * Plain text, original HTML and MIME type of a captured text construct.
 * `is_html` says the element holds HTML when it has no Atom type (RSS
 * description, content:encoded); otherwise HTML is recognised by its look.
 * `title` keeps inner white space of plain text as it is.
 */
static int build_markup(struct capture *c);

static void text_construct(struct capture *c, bool is_html, bool title, char **plain,
                           char **html, const char **ctype)
{
	const char *text = c->text.p ? c->text.p : "";
	*plain = *html = NULL;
	*ctype = NULL;

	if (c->atom && c->src) {
		*ctype = c->type ? c->type : "";
		return;          /* out-of-line content */
	}
	const char *type = c->atom && c->type && *c->type ? c->type : NULL;
	const char *mode = c->atom ? c->mode : NULL;
	/* Atom 0.3 mode="base64", Atom 1.0 types that are neither text nor XML. */
	char *decoded = NULL;
	bool b64_mode = str_ieq(mode, "base64");
	if (c->atom && (b64_mode || (type && is_base64_type(type)))) {
		decoded = b64_text(text);
		if (decoded) {
			text = decoded;
		} else if (b64_mode || is_binary_type(type)) {
			*ctype = type ? type : "application/octet-stream";
			return;            /* binary: no text for rules */
		}
	}
	/* Atom 0.3: mode="escaped|xml" says what the type does not. */
	if (!type && str_ieq(mode, "escaped"))
		type = "html";
	else if (!type && str_ieq(mode, "xml"))
		type = "xhtml";

	if (c->atom && (!type || str_ieq(type, "text") || str_ieq(type, "text/plain"))) {
		*plain = title ? feed_trim(text) : feed_collapse_space(text);
		*ctype = "text/plain";
	} else if (c->atom && (str_ieq(type, "html") || str_ieq(type, "text/html"))) {
		*html = c->children && c->has_markup ? feed_trim(c->markup.p) : feed_trim(text);
		*ctype = "text/html";
	} else if (c->atom && (str_ieq(type, "xhtml") || str_ieq(type, "application/xhtml+xml"))) {
		if (build_markup(c) < 0)
			goto out;
		*html = feed_trim(c->has_markup && !decoded ? c->markup.p : text);
		*ctype = "application/xhtml+xml";
	} else if (c->atom) {
		*ctype = type;
		*plain = title ? feed_trim(text) : feed_collapse_space(text);
	} else if (c->children && c->has_markup) {
		*html = feed_trim(c->markup.p);      /* raw markup inside an RSS element */
		*ctype = "text/html";
	} else if (feed_looks_like_html(text)) {
		*html = feed_trim(text);
		*ctype = "text/html";
	} else {
		*plain = title ? feed_trim(text) : feed_collapse_space(text);
		*ctype = is_html ? "text/html" : "text/plain";
	}
	if (*html) {
		*html = nonempty(*html);
		if (*html) {
			*plain = feed_html_to_text(*html, strlen(*html));
			/* A title keeps its one line. */
			if (title && *plain)
				for (char *p = *plain; *p; p++)
					if (*p == '\n')
						*p = ' ';
		}
	}
out:
	*plain = nonempty(*plain);
	free(decoded);
}

/* ---- callbacks ---- */

static void fill_head(struct xp *x)
{
	struct head_builder *h = &x->h;
	x->head = (struct feed_head){
		.format = x->format,
		.title = h->title,
		.subtitle = h->subtitle,
		.link = h->link,
		.id = h->id,
		.language = h->language,
		.updated = h->updated,
		.authors = h->authors,
		.n_authors = h->n_authors,
		.generator = h->generator,
		.icon = h->icon,
	};
}

static void prepass(struct xp *x);
static bool prepass_needless(struct xp *x);

static void call_head(struct xp *x)
{
	if (x->head_called || x->stop || x->head_only)
		return;
	x->head_called = true;
	if (!x->h.title && !x->prepassed && x->doc) {
		x->prepassed = true;
		if (!prepass_needless(x)) {
			prepass(x);
			x->head_frozen = true;
		}
	}
	fill_head(x);
	if (x->cb && x->cb->head) {
		int r = x->cb->head(x->userdata, &x->head);
		if (r < 0)
			stop(x, r);
	}
}

static const char *xml_child(const struct entry_builder *e, const char *name)
{
	for (size_t i = 0; i < e->n_xml; i++)
		if (!strcmp(e->xml_names[i], name))
			return e->xml_values[i];
	return NULL;
}

/* The best link: alternate HTML, any alternate, then a guid that is a URL. */
static const char *choose_link(const struct entry_builder *e)
{
	for (size_t i = 0; i < e->n_links; i++)
		if (!strcmp(e->links[i].rel, "alternate") && e->links[i].type &&
		    (!strcasecmp(e->links[i].type, "text/html") ||
		     !strcasecmp(e->links[i].type, "application/xhtml+xml")))
			return e->links[i].href;
	for (size_t i = 0; i < e->n_links; i++)
		if (!strcmp(e->links[i].rel, "alternate"))
			return e->links[i].href;
	if (e->has_guid && e->guid_permalink && e->id &&
	    (!strncasecmp(e->id, "http://", 7) || !strncasecmp(e->id, "https://", 8)) &&
	    !strpbrk(e->id, " \t\r\n"))
		return e->id;
	return NULL;
}

#define MAX_FIELDS 16

static void add_field(struct vigil_field *f, size_t *n, const char *name, const char *value)
{
	if (value && *value && *n < MAX_FIELDS)
		f[(*n)++] = (struct vigil_field){ .name = name, .type = VIGIL_FIELD_STRING,
		                                  .string = value };
}

static void finish_entry(struct xp *x)
{
	struct entry_builder *e = &x->e;
	if (!e->active || x->stop)
		return;
	call_head(x);
	if (x->stop)
		return;

	struct feed_entry fe = { .item = VIGIL_ITEM_INIT };
	struct vigil_item *it = &fe.item;
	struct vigil_field fields[MAX_FIELDS];
	size_t n_fields = 0;
	char filed[11] = "";
	char accession[32] = "";
	struct fbuf authors = { 0 };

	/* RSS 1.0: rdf:about is the item's identity when there is no other. */
	if (!e->id && e->about) {
		e->id = e->about;
		e->about = NULL;
	}
	/* Media RSS title and description stand in for missing ones. */
	if (!e->title && !e->title_html && e->media_title) {
		e->title = e->media_title;
		e->media_title = NULL;
	}
	if (!e->summary && !e->summary_html && e->media_description) {
		e->summary = e->media_description;
		e->media_description = NULL;
	}

	const struct feed_person *people = e->authors;
	size_t n_people = e->n_authors;
	if (n_people == 0 && x->h.n_authors > 0 &&
	    (x->format == FEED_ATOM10 || x->format == FEED_ATOM03)) {
		people = x->h.authors;       /* Atom: the feed's authors are the entries' */
		n_people = x->h.n_authors;
	}
	for (size_t i = 0; i < n_people; i++) {
		const char *who = people[i].name ? people[i].name : people[i].email;
		if (!who)
			continue;
		if (authors.len && fbuf_adds(&authors, ", ") < 0)
			goto nomem;
		if (fbuf_adds(&authors, who) < 0)
			goto nomem;
	}

	it->id = e->id;
	it->title = e->title;
	it->summary = e->summary;
	it->content = e->content;
	it->author = authors.p;
	it->link = choose_link(e);
	it->lang = e->lang ? e->lang : x->h.language;
	it->feed_title = x->h.title;
	it->categories = (const char *const *)e->categories;
	it->n_categories = e->n_categories;
	it->published = e->published != VIGIL_TIME_NONE ? e->published :
	                e->dcdate != VIGIL_TIME_NONE ? e->dcdate : e->created;
	it->updated = e->updated;

	add_field(fields, &n_fields, "summary_html", e->summary_html);
	add_field(fields, &n_fields, "content_html", e->content_html);
	if (e->n_enclosures) {
		add_field(fields, &n_fields, "enclosure_url", e->enclosures[0].href);
		add_field(fields, &n_fields, "enclosure_type", e->enclosures[0].type);
	}
	add_field(fields, &n_fields, "comments", e->comments);

	/* SEC EDGAR: form type, accession number and filing date. */
	if (e->sec || (e->id && strstr(e->id, "sec.gov"))) {
		const char *form = e->form_type ? e->form_type : xml_child(e, "filing-type");
		add_field(fields, &n_fields, "form_type", form);
		const char *acc = xml_child(e, "accession-number");
		const char *k = e->id ? strstr(e->id, "accession-number=") : NULL;
		if (!acc && k) {
			k += strlen("accession-number=");
			size_t n = strspn(k, "0123456789-");
			if (n > 0 && n < sizeof accession) {
				memcpy(accession, k, n);
				accession[n] = '\0';
				acc = accession;
			}
		}
		add_field(fields, &n_fields, "accession_number", acc);
		const char *date = xml_child(e, "filing-date");
		const char *f = e->summary ? strstr(e->summary, "Filed:") : NULL;
		if (!date && f) {
			f += 6;
			while (*f == ' ')
				f++;
			if (strlen(f) >= 10 && isdigit((unsigned char)f[0]) && f[4] == '-' && f[7] == '-') {
				memcpy(filed, f, 10);
				date = filed;
			}
		}
		add_field(fields, &n_fields, "filing_date", date);
		add_field(fields, &n_fields, "form_name", xml_child(e, "form-name"));
		add_field(fields, &n_fields, "items_desc", xml_child(e, "items-desc"));
		add_field(fields, &n_fields, "file_number", xml_child(e, "file-number"));
	}
	it->fields = fields;
	it->n_fields = n_fields;

	fe.title_html = e->title_html;
	fe.summary_html = e->summary_html;
	fe.content_html = e->content_html;
	fe.content_type = e->content_type;
	fe.guid_is_permalink = e->has_guid && e->guid_permalink;
	fe.links = e->links;
	fe.n_links = e->n_links;
	fe.enclosures = e->enclosures;
	fe.n_enclosures = e->n_enclosures;
	fe.authors = people;
	fe.n_authors = n_people;
	fe.comments = e->comments;
	fe.source_title = e->source_title;

	fill_head(x);
	x->res->n_entries++;
	if (x->cb && x->cb->entry) {
		int r = x->cb->entry(x->userdata, &x->head, &fe);
		if (r < 0)
			stop(x, r);
	}
	fbuf_reset(&authors);
	entry_clear(e);
	if (!x->stop && x->opt->max_items && x->res->n_entries >= x->opt->max_items)
		stop(x, 0);
	return;
nomem:
	fbuf_reset(&authors);
	oom(x);
}

/* ---- captures ---- */

static void start_capture(struct xp *x, int depth, enum target target, bool atom_text)
{
	struct capture *c = &x->cap;
	capture_clear(c);
	c->markup_lazy = true;
	c->depth = depth;
	c->target = target;
	c->atom = atom_text;
	if (atom_text) {
		c->type = attr(x, "type");
		c->mode = attr(x, "mode");
		if (target == T_CONTENT)
			c->src = attr(x, "src");
		c->spaced = c->type && is_xml_type(c->type);
	}
	if (target == T_LINK || target == T_HEAD_LINK || target == T_HEAD_ICON ||
	    target == T_PERSON_URI || target == T_COMMENTS || target == T_ID ||
	    target == T_HEAD_ID)
		c->base = base_uri(x);
	if (target == T_LINK) {
		/* Atom 0.3 as some wrote it: <link rel type>URL</link> */
		c->rel = nonempty(attr(x, "rel"));
		c->type = nonempty(attr(x, "type"));
	}
}

static bool is_void_element(const char *name)
{
	static const char *const voids[] = {
		"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed",
		"param", "source", "track", "wbr",
	};
	for (size_t i = 0; i < sizeof voids / sizeof voids[0]; i++)
		if (!strcasecmp(name, voids[i]))
			return true;
	return false;
}

/*
 * Build the markup of a capture that has only had text so far: the text,
 * escaped. Most captured elements hold text alone and never need their
 * markup, so it is built only when a child element, a CDATA section or the
 * caller needs it. (Escaping is done per byte, so escaping the whole text
 * gives what escaping each piece did; lazy captures stay far below the
 * field limit, so no piece would have been cut.)
 */
static int build_markup(struct capture *c)
{
	if (!c->markup_lazy)
		return 0;
	c->markup_lazy = false;
	if (!c->has_text)
		return 0;
	c->has_markup = true;
	return fbuf_add_escaped(&c->markup, c->text.p, c->text.len);
}

/* An element inside a captured one: serialise its start tag. */
static void capture_child_start(struct xp *x, int depth, bool empty)
{
	struct capture *c = &x->cap;
	const char *local = x->el.local;
	if (!local)
		return;
	if (build_markup(c) < 0 || (c->spaced && fbuf_addc(&c->text, ' ') < 0)) {
		oom(x);
		return;
	}
	bool first = !c->children;
	c->children = true;
	if (depth == c->depth + 1 && first && !empty && c->atom &&
	    (str_ieq(c->type, "xhtml") || (!c->type && str_ieq(c->mode, "xml"))) &&
	    !strcmp(local, "div")) {
		c->div_depth = depth;          /* Atom's wrapper div is not content */
		return;
	}
	if (depth == c->depth + 1 && c->child_depth < 0) {
		c->child_depth = depth;
		free(c->child_name);
		c->child_name = strdup(local);
		fbuf_clear(&c->child_text);
	}
	c->has_markup = true;
	int err = fbuf_addc(&c->markup, '<') | fbuf_adds(&c->markup, local);
	/* The attributes written (not the namespace declarations, not the
	 * DTD's defaults): prefix:name="value". */
	const xmlChar **a = x->el.attrs;
	for (int i = 0; i < x->el.n_attrs - x->el.n_defaulted; i++, a += 5) {
		char *value = attr_value(x, a[3], a[4]);
		err |= fbuf_addc(&c->markup, ' ');
		if (a[1])
			err |= fbuf_adds(&c->markup, (const char *)a[1]) | fbuf_addc(&c->markup, ':');
		err |= fbuf_adds(&c->markup, (const char *)a[0]) | fbuf_adds(&c->markup, "=\"");
		if (value)
			err |= fbuf_add_escaped(&c->markup, value, strlen(value));
		else
			err |= -ENOMEM;
		err |= fbuf_addc(&c->markup, '"');
		free(value);
	}
	err |= fbuf_addc(&c->markup, '>');
	if (err)
		oom(x);
}

static void capture_child_end(struct xp *x, int depth, bool empty)
{
	struct capture *c = &x->cap;
	const char *local = x->el.local;
	if (c->spaced && fbuf_addc(&c->text, ' ') < 0)
		oom(x);
	if (depth == c->div_depth) {
		c->div_depth = -1;
		return;
	}
	if (local && !(empty && is_void_element(local))) {
		c->has_markup = true;
		if (fbuf_adds(&c->markup, "</") < 0 || fbuf_adds(&c->markup, local) < 0 ||
		    fbuf_addc(&c->markup, '>') < 0)
			oom(x);
	}
	if (depth == c->child_depth) {
		struct entry_builder *e = &x->e;
		if (e->active && c->target == T_CONTENT && e->n_xml < FEED_MAX_XML_CHILDREN &&
		    c->child_name) {
			char *v = feed_trim(c->child_text.p ? c->child_text.p : "");
			e->xml_names[e->n_xml] = c->child_name;
			e->xml_values[e->n_xml] = v ? v : strdup("");
			e->n_xml++;
			c->child_name = NULL;
		}
		c->child_depth = -1;
	}
}

static void capture_text(struct xp *x, const char *value, size_t n, bool cdata)
{
	struct capture *c = &x->cap;
	/* "&quot;" is the longest escape: a lazy markup could not have reached the limit */
	int err = 0;
	if (c->markup_lazy && (cdata || (c->text.len + n) * 6 >= FEED_MAX_FIELD))
		err |= build_markup(c);
	c->has_text = true;
	err |= fbuf_add(&c->text, value, n);
	if (!c->markup_lazy) {
		c->has_markup = true;
		err |= cdata ? fbuf_add(&c->markup, value, n) : fbuf_add_escaped(&c->markup, value, n);
	}
	if (c->child_depth >= 0)
		err |= fbuf_add(&c->child_text, value, n);
	if (err)
		oom(x);
}

static int64_t captured_date(struct capture *c)
{
	return feed_parse_date(c->text.p ? c->text.p : "");
}

static void set_date(int64_t *slot, int64_t t)
{
	if (*slot == VIGIL_TIME_NONE)
		*slot = t;
}

/* When an entry gives a date twice (issued and published, or two updated), the
 * last one read counts, as in feedparser. */
static void last_date(int64_t *slot, int64_t t)
{
	if (t != VIGIL_TIME_NONE)
		*slot = t;
}

static void add_category(struct entry_builder *e, char *term)
{
	term = nonempty(term);
	if (!term)
		return;
	for (size_t i = 0; i < e->n_categories; i++) {
		if (!strcmp(e->categories[i], term)) {
			free(term);
			return;
		}
	}
	if (e->n_categories >= FEED_MAX_LIST) {
		free(term);
		return;
	}
	e->categories[e->n_categories++] = term;
}

/*
 * An Atom id: an IRI, so a relative reference that is a path (which RFC
 * 4287 forbids, but some write: "/2004/entry/1") is resolved against
 * xml:base and the document's URL, as feedparser and gofeed do. Ids with a
 * scheme (urn:, tag:, http:) and bare tokens (Reddit's "t3_42tizy") stay
 * as written.
 */
static char *atom_id(struct capture *c, const char *text)
{
	char *id = nonempty(feed_trim(text));
	if (!id || has_scheme(id) || !strchr(id, '/') || strpbrk(id, " \t\r\n") || !c->base ||
	    !has_scheme(c->base))
		return id;
	char *abs = feed_resolve_url(id, c->base);
	if (!abs)
		return id;
	free(id);
	return abs;
}

/* The captured element ended: put its text where it belongs. */
static void finish_capture(struct xp *x)
{
	struct capture *c = &x->cap;
	struct entry_builder *e = &x->e;
	struct head_builder *h = &x->h;
	const char *text = c->text.p ? c->text.p : "";
	char *plain, *html;
	const char *ctype;

	switch (c->target) {
	case T_HEAD_TITLE:
		text_construct(c, false, true, &plain, &html, &ctype);
		free(html);
		take(&h->title, plain);
		break;
	case T_HEAD_SUBTITLE:
		text_construct(c, false, false, &plain, &html, &ctype);
		free(html);
		take(&h->subtitle, plain);
		break;
	case T_HEAD_LINK:
		take(&h->link, feed_resolve_url(text, c->base));
		break;
	case T_HEAD_ID:
		take(&h->id, atom_id(c, text));
		break;
	case T_HEAD_LANG:
		take(&h->language, feed_trim(text));
		break;
	case T_HEAD_UPDATED:
		set_date(&h->updated, captured_date(c));
		break;
	case T_HEAD_GENERATOR:
		take(&h->generator, feed_collapse_space(text));
		break;
	case T_HEAD_ICON:
		take(&h->icon, feed_resolve_url(text, c->base));
		break;
	case T_HEAD_AUTHOR: {
		struct feed_person p;
		parse_rss_person(text, &p);
		add_person(h->authors, &h->n_authors, &p);
		break;
	}
	case T_TITLE:
		text_construct(c, false, true, &plain, &html, &ctype);
		if (!e->title) {
			free(e->title_html);     /* an earlier title of markup without text */
			e->title = plain;
			e->title_html = html;
		} else {
			free(plain);
			free(html);
		}
		break;
	case T_SUMMARY:
		text_construct(c, true, false, &plain, &html, &ctype);
		if (!e->summary && !e->summary_html) {
			e->summary = plain;
			e->summary_html = html;
			e->summary_from = c->rss_text;
		} else if (!e->content && !e->content_html && !e->content_type &&
		           (plain || html) && c->rss_text && e->summary_from &&
		           e->summary_from != c->rss_text) {
			/* RSS with both <summary> and <description>: the second is the content */
			e->content = plain;
			e->content_html = html;
			e->content_type = strdup(ctype ? ctype : "text/plain");
		} else {
			free(plain);
			free(html);
		}
		break;
	case T_CONTENT:
		text_construct(c, true, false, &plain, &html, &ctype);
		if (!e->content && !e->content_html && !e->content_type) {
			e->content = plain;
			e->content_html = html;
			e->content_type = dup_or_null(ctype);
		} else {
			free(plain);
			free(html);
		}
		break;
	case T_LINK: {
		char *href = feed_resolve_url(text, c->base);
		if (!href)
			break;
		if (c->rel && !strcmp(c->rel, "enclosure"))
			add_link(e->enclosures, &e->n_enclosures, strdup(href), strdup(c->rel),
			         dup_or_null(c->type), NULL, -1);
		add_link(e->links, &e->n_links, href, c->rel, c->type, NULL, -1);
		c->rel = c->type = NULL;
		break;
	}
	case T_ID:
		if (!e->id) {
			e->id = c->rss_guid ? nonempty(feed_trim(text)) : atom_id(c, text);
			if (c->rss_guid && e->id) {
				e->has_guid = true;
				e->guid_permalink = !c->not_permalink;
			}
		}
		break;
	case T_PUBLISHED:
		last_date(&e->published, captured_date(c));
		break;
	case T_UPDATED:
		last_date(&e->updated, captured_date(c));
		break;
	case T_CREATED:
		set_date(&e->created, captured_date(c));
		break;
	case T_DCDATE:
		set_date(&e->dcdate, captured_date(c));
		break;
	case T_AUTHOR: {
		struct feed_person p;
		parse_rss_person(text, &p);
		add_person(e->authors, &e->n_authors, &p);
		break;
	}
	case T_CATEGORY:
		add_category(e, feed_collapse_space(text));
		break;
	case T_TAGS:
		for (const char *p = text; *p;) {
			size_t n = strcspn(p, ",");
			char *one = strndup(p, n);
			add_category(e, one ? feed_collapse_space(one) : NULL);
			free(one);
			p += n;
			if (*p)
				p++;
		}
		break;
	case T_MEDIA_TITLE:
		if (!e->media_title)
			e->media_title = nonempty(feed_collapse_space(text));
		break;
	case T_MEDIA_DESCRIPTION:
		if (!e->media_description)
			e->media_description = nonempty(feed_collapse_space(text));
		break;
	case T_COMMENTS:
		take(&e->comments, feed_resolve_url(text, c->base));
		break;
	case T_SOURCE_TITLE: {
		/* Atom's (RSS <source> is not atom): base64 when its type says so */
		char *decoded = NULL;
		if (c->atom && (str_ieq(c->mode, "base64") ||
		                (c->type && *c->type && is_base64_type(c->type))))
			decoded = b64_text(text);
		take(&e->source_title, feed_collapse_space(decoded ? decoded : text));
		free(decoded);
		break;
	}
	case T_LANG:
		take(&e->lang, feed_trim(text));
		break;
	case T_PERSON_NAME:
		take((char **)&x->person.name, feed_collapse_space(text));
		break;
	case T_PERSON_EMAIL:
		take((char **)&x->person.email, feed_trim(text));
		break;
	case T_PERSON_URI:
		take((char **)&x->person.uri, feed_resolve_url(text, c->base));
		break;
	case T_NONE:
		break;
	}
	capture_clear(c);
}

/* ---- elements ---- */

/* An Atom <link>, or an atom:link in RSS. */
static void atom_link(struct xp *x, bool in_head)
{
	char *href_raw = attr(x, "href");
	if (!href_raw)
		return;
	char *base = base_uri(x);
	char *href = feed_resolve_url(href_raw, base);
	free(href_raw);
	free(base);
	if (!href)
		return;
	char *rel = attr(x, "rel");
	if (rel && !*rel) {
		free(rel);
		rel = NULL;
	}
	/* Atom's IANA registry names may be written as full URIs. */
	if (rel && !strncmp(rel, "http://www.iana.org/assignments/relation/", 41)) {
		char *short_rel = strdup(rel + 41);
		free(rel);
		rel = short_rel;
	}
	if (in_head) {
		if (!rel || !strcmp(rel, "alternate"))
			take(&x->h.link, href);
		else
			free(href);
		free(rel);
		return;
	}
	struct entry_builder *e = &x->e;
	char *type = attr(x, "type");
	char *title = attr(x, "title");
	char *len = attr(x, "length");
	int64_t length = parse_length(len);
	free(len);
	if (rel && !strcmp(rel, "enclosure"))
		add_link(e->enclosures, &e->n_enclosures, strdup(href), strdup(rel),
		         dup_or_null(type), dup_or_null(title), length);
	add_link(e->links, &e->n_links, href, rel, type, title, length);
}

/* RSS <enclosure url type length> and media:content. */
static void enclosure(struct xp *x, const char *url_attr, const char *length_attr, bool in_links)
{
	char *raw = attr(x, url_attr);
	if (!raw)
		return;
	char *base = base_uri(x);
	char *href = feed_resolve_url(raw, base);
	free(raw);
	free(base);
	if (!href)
		return;
	char *type = attr(x, "type");
	char *len = attr(x, length_attr);
	int64_t length = parse_length(len);
	free(len);
	if (in_links)
		add_link(x->e.links, &x->e.n_links, strdup(href), strdup("enclosure"),
		         dup_or_null(type), NULL, length);
	add_link(x->e.enclosures, &x->e.n_enclosures, href, strdup("enclosure"), type, NULL,
	         length);
}

/* Atom <category term scheme label>. */
static void atom_category(struct xp *x)
{
	char *term = attr(x, "term");
	char *label = attr(x, "label");
	char *scheme = attr(x, "scheme");
	if (term && str_ieq(label, "form type")) {
		take(&x->e.form_type, strdup(term));
		x->e.sec = true;
	}
	if (scheme && strstr(scheme, "sec.gov"))
		x->e.sec = true;
	if (term && *term)
		add_category(&x->e, feed_collapse_space(term));
	else if (label)
		add_category(&x->e, feed_collapse_space(label));
	free(term);
	free(label);
	free(scheme);
}

static bool is_atom_format(const struct xp *x)
{
	return x->format == FEED_ATOM10 || x->format == FEED_ATOM03;
}

/*
 * RSS 1.0, or 0.90 when the root's namespace declarations say so before
 * naming RSS 1.0: the 0.90 namespace as the default one (as feedparser
 * tells them apart; a 0.90 document may have neither channel nor item).
 */
static enum feed_format rdf_version(struct xp *x)
{
	enum feed_format f = FEED_RSS10;
	for (int i = 0; i < x->el.n_ns; i++) {
		const char *prefix = (const char *)x->el.ns[2 * i];
		const char *uri = (const char *)x->el.ns[2 * i + 1];
		if (!uri)
			continue;
		if (!strcasecmp(uri, NS_URI_RSS10))
			break;
		if (!strcasecmp(uri, NS_URI_RSS090) && !prefix) {
			f = FEED_RSS090;     /* xmlns="...", not xmlns:p="..." */
			break;
		}
	}
	return f;
}

/* The root element: what the document is, and the role of the root. */
static enum role root_element(struct xp *x, enum ns ns, const char *name, const char *uri)
{
	x->root_seen = true;
	if (!strcasecmp(name, "html")) {
		x->res->html = true;
		x->res->not_feed = true;
		feed_error(x->res, "not a feed: the document is HTML");
		stop(x, -EBADMSG);
		return R_IGNORE;
	}
	if (ns == NS_RSS && !strcmp(name, "rss")) {
		char *v = attr(x, "version");
		x->format = FEED_RSS20;
		if (v && !strcmp(v, "0.90"))
			x->format = FEED_RSS090;
		else if (v && !strcmp(v, "0.91"))
			x->format = FEED_RSS091;
		else if (v && !strncmp(v, "0.9", 3))
			x->format = FEED_RSS092;
		free(v);
		return R_ROOT_RSS;
	}
	if (ns == NS_RDF && !strcmp(name, "RDF")) {
		x->format = rdf_version(x);   /* or 0.90 when its channel says so */
		return R_ROOT_RDF;
	}
	if ((ns == NS_ATOM || (ns == NS_RSS && (!uri || !*uri))) && !strcmp(name, "feed")) {
		char *v = attr(x, "version");
		x->format = (uri && !strcmp(uri, NS_URI_ATOM03)) || (v && !strcmp(v, "0.3")) ?
		            FEED_ATOM03 : FEED_ATOM10;
		free(v);
		return R_HEAD;
	}
	/* RSS 1.1: <Channel> is the root, its items in <items>. */
	if (ns == NS_RSS && uri && !strcmp(uri, NS_URI_RSS11) && !strcasecmp(name, "channel")) {
		x->format = FEED_RSS10;
		return R_HEAD;
	}
	/* An Atom entry document (RFC 4287 section 2): a feed of one entry. */
	if (ns == NS_ATOM && !strcmp(name, "entry")) {
		char *v = attr(x, "version");
		x->format = (uri && !strcmp(uri, NS_URI_ATOM03)) || (v && !strcmp(v, "0.3")) ?
		            FEED_ATOM03 : FEED_ATOM10;
		free(v);
		return R_ENTRY;
	}
	x->res->not_feed = true;
	feed_error(x->res, "not a feed: the root element is <%.64s>%s%.128s%s, not rss, RDF or feed",
	           name, uri && *uri ? " (" : "", uri ? uri : "", uri && *uri ? ")" : "");
	stop(x, -EBADMSG);
	return R_IGNORE;
}

/* The element names the parser acts on (their local names, in any case). */
enum name {
	N_OTHER = 0,
	N_AUTHOR, N_BODY, N_CATEGORY, N_CHANNEL, N_COMMENTS, N_CONTENT, N_CONTRIBUTOR,
	N_CREATED, N_CREATOR, N_DATE, N_DESCRIPTION, N_DIV, N_EMAIL, N_ENCLOSURE, N_ENCODED,
	N_ENTRY, N_FULLITEM, N_GENERATOR, N_GROUP, N_GUID, N_HOMEPAGE, N_ICON, N_ID, N_IMAGE,
	N_ISSUED, N_ITEM, N_ITEMS, N_KEYWORDS, N_LANGUAGE, N_LASTBUILDDATE, N_LINK, N_LOGO,
	N_MANAGINGEDITOR, N_MODIFIED, N_NAME, N_PUBDATE, N_PUBLISHED, N_SOURCE, N_SUBJECT,
	N_SUBTITLE, N_SUMMARY, N_TAGLINE, N_TAGS, N_TITLE, N_UPDATED, N_URI, N_URL,
};

/*
 * Which of those a name is (as strcasecmp matches), N_OTHER for the rest:
 * a switch on the first letter, then a comparison or two, instead of the
 * chains of comparisons each element went through (bench/parse: 4 %).
 */
static enum name name_of(const char *name)
{
#define IS(s) !strcasecmp(name, s)
	switch (name[0] | 0x20) {
	case 'a':
		return IS("author") ? N_AUTHOR : N_OTHER;
	case 'b':
		return IS("body") ? N_BODY : N_OTHER;
	case 'c':
		return IS("category") ? N_CATEGORY : IS("channel") ? N_CHANNEL :
		       IS("comments") ? N_COMMENTS : IS("content") ? N_CONTENT :
		       IS("contributor") ? N_CONTRIBUTOR : IS("created") ? N_CREATED :
		       IS("creator") ? N_CREATOR : N_OTHER;
	case 'd':
		return IS("date") ? N_DATE : IS("description") ? N_DESCRIPTION :
		       IS("div") ? N_DIV : N_OTHER;
	case 'e':
		return IS("email") ? N_EMAIL : IS("enclosure") ? N_ENCLOSURE :
		       IS("encoded") ? N_ENCODED : IS("entry") ? N_ENTRY : N_OTHER;
	case 'f':
		return IS("fullitem") ? N_FULLITEM : N_OTHER;
	case 'g':
		return IS("generator") ? N_GENERATOR : IS("group") ? N_GROUP :
		       IS("guid") ? N_GUID : N_OTHER;
	case 'h':
		return IS("homepage") ? N_HOMEPAGE : N_OTHER;
	case 'i':
		return IS("icon") ? N_ICON : IS("id") ? N_ID : IS("image") ? N_IMAGE :
		       IS("issued") ? N_ISSUED : IS("item") ? N_ITEM : IS("items") ? N_ITEMS :
		       N_OTHER;
	case 'k':
		return IS("keywords") ? N_KEYWORDS : N_OTHER;
	case 'l':
		return IS("language") ? N_LANGUAGE : IS("lastBuildDate") ? N_LASTBUILDDATE :
		       IS("link") ? N_LINK : IS("logo") ? N_LOGO : N_OTHER;
	case 'm':
		return IS("managingEditor") ? N_MANAGINGEDITOR : IS("modified") ? N_MODIFIED :
		       N_OTHER;
	case 'n':
		return IS("name") ? N_NAME : N_OTHER;
	case 'p':
		return IS("pubDate") ? N_PUBDATE : IS("published") ? N_PUBLISHED : N_OTHER;
	case 's':
		return IS("source") ? N_SOURCE : IS("subject") ? N_SUBJECT :
		       IS("subtitle") ? N_SUBTITLE : IS("summary") ? N_SUMMARY : N_OTHER;
	case 't':
		return IS("tagline") ? N_TAGLINE : IS("tags") ? N_TAGS : IS("title") ? N_TITLE :
		       N_OTHER;
	case 'u':
		return IS("updated") ? N_UPDATED : IS("uri") ? N_URI : IS("url") ? N_URL : N_OTHER;
	default:
		return N_OTHER;
	}
#undef IS
}

static enum role head_child(struct xp *x, int depth, enum ns ns, enum name name)
{
	if (ns == NS_RSS || ns == NS_ATOM) {
		if (name == N_ITEM || name == N_ENTRY) {
			call_head(x);
			return R_ENTRY;
		}
		if (x->head_frozen)
			return R_IGNORE;
		switch (name) {
		case N_TITLE:
			start_capture(x, depth, T_HEAD_TITLE, ns == NS_ATOM);
			break;
		case N_DESCRIPTION:
		case N_SUBTITLE:
		case N_TAGLINE:
			start_capture(x, depth, T_HEAD_SUBTITLE, ns == NS_ATOM);
			break;
		case N_LINK: {
			char *href = attr(x, "href");
			if (href) {
				free(href);
				atom_link(x, true);
			} else {
				start_capture(x, depth, T_HEAD_LINK, false);
			}
			break;
		}
		case N_ID:
			start_capture(x, depth, T_HEAD_ID, false);
			break;
		case N_LANGUAGE:
			start_capture(x, depth, T_HEAD_LANG, false);
			break;
		case N_UPDATED:
		case N_MODIFIED:
		case N_LASTBUILDDATE:
		case N_PUBDATE:
			start_capture(x, depth, T_HEAD_UPDATED, false);
			break;
		case N_GENERATOR:
			start_capture(x, depth, T_HEAD_GENERATOR, false);
			break;
		case N_ICON:
		case N_LOGO:
			start_capture(x, depth, T_HEAD_ICON, false);
			break;
		case N_AUTHOR:
			if (ns == NS_ATOM || is_atom_format(x)) {
				person_clear(&x->person);
				x->person_owner = 1;
				return R_PERSON;
			}
			start_capture(x, depth, T_HEAD_AUTHOR, false);
			break;
		case N_MANAGINGEDITOR:
			start_capture(x, depth, T_HEAD_AUTHOR, false);
			break;
		case N_IMAGE:
			return R_IMAGE;
		case N_ITEMS:
			if (x->roles[0] == R_HEAD && !is_atom_format(x))
				return R_ITEMS;
			break;
		default:
			break;
		}
		return R_IGNORE;
	}
	if (ns == NS_DC && !x->head_frozen) {
		if (name == N_LANGUAGE)
			start_capture(x, depth, T_HEAD_LANG, false);
		else if (name == N_DATE)
			start_capture(x, depth, T_HEAD_UPDATED, false);
		else if (name == N_CREATOR || name == N_AUTHOR)
			start_capture(x, depth, T_HEAD_AUTHOR, false);
		else if (name == N_TITLE)
			start_capture(x, depth, T_HEAD_TITLE, false);
	} else if (ns == NS_DCTERMS && !x->head_frozen) {
		if (name == N_MODIFIED)
			start_capture(x, depth, T_HEAD_UPDATED, false);
	} else if (ns == NS_ITUNES && !x->head_frozen) {
		if (name == N_AUTHOR)
			start_capture(x, depth, T_HEAD_AUTHOR, false);
	}
	return R_IGNORE;
}

/* A Media RSS element in an item or its media:group. */
static void media_child(struct xp *x, int depth, enum name name)
{
	if (name == N_CONTENT)
		enclosure(x, "url", "fileSize", false);
	else if (name == N_TITLE)
		start_capture(x, depth, T_MEDIA_TITLE, false);
	else if (name == N_DESCRIPTION)
		start_capture(x, depth, T_MEDIA_DESCRIPTION, false);
	else if (name == N_CATEGORY)
		start_capture(x, depth, T_CATEGORY, false);
}

static enum role entry_child(struct xp *x, int depth, enum ns ns, enum name name)
{
	bool atomish = ns == NS_ATOM || is_atom_format(x);

	if (ns == NS_RSS || ns == NS_ATOM) {
		switch (name) {
		case N_TITLE:
			start_capture(x, depth, T_TITLE, atomish);
			break;
		case N_LINK: {
			char *href = attr(x, "href");
			if (href) {
				free(href);
				atom_link(x, false);
			} else {
				start_capture(x, depth, T_LINK, false);
			}
			break;
		}
		case N_DESCRIPTION:
			start_capture(x, depth, T_SUMMARY, false);
			x->cap.rss_text = atomish ? 0 : 1;
			break;
		case N_SUMMARY:
			start_capture(x, depth, T_SUMMARY, true);
			x->cap.rss_text = atomish ? 0 : 2;
			break;
		case N_CONTENT:
			start_capture(x, depth, T_CONTENT, true);
			break;
		case N_BODY:
		case N_FULLITEM:
			/* the full text, as xhtml:body or escaped HTML (feedparser reads both) */
			if (!atomish)
				start_capture(x, depth, T_CONTENT, false);
			break;
		case N_TAGS:
			if (!atomish)
				start_capture(x, depth, T_TAGS, false);
			break;
		case N_GUID: {
			start_capture(x, depth, T_ID, false);
			char *p = attr(x, "isPermaLink");
			x->cap.rss_guid = true;
			x->cap.not_permalink = p && !strcasecmp(p, "false");
			free(p);
			break;
		}
		case N_ID:
			start_capture(x, depth, T_ID, false);
			break;
		case N_PUBDATE:
		case N_PUBLISHED:
		case N_ISSUED:
			start_capture(x, depth, T_PUBLISHED, false);
			break;
		case N_UPDATED:
		case N_MODIFIED:
			start_capture(x, depth, T_UPDATED, false);
			break;
		case N_CREATED:
			start_capture(x, depth, T_CREATED, false);
			break;
		case N_AUTHOR:
			if (atomish) {
				person_clear(&x->person);
				x->person_owner = 2;
				return R_PERSON;
			}
			start_capture(x, depth, T_AUTHOR, false);
			break;
		case N_CATEGORY: {
			char *term = attr(x, "term");
			if (term || atomish) {
				free(term);
				atom_category(x);
			} else {
				start_capture(x, depth, T_CATEGORY, false);
			}
			break;
		}
		case N_ENCLOSURE:
			enclosure(x, "url", "length", true);
			break;
		case N_COMMENTS:
			start_capture(x, depth, T_COMMENTS, false);
			break;
		case N_SOURCE:
			if (atomish)
				return R_SOURCE;
			start_capture(x, depth, T_SOURCE_TITLE, false);
			break;
		default:
			break;
		}
		return R_IGNORE;
	}
	switch (ns) {
	case NS_DC:
		if (name == N_CREATOR || name == N_AUTHOR || name == N_CONTRIBUTOR)
			start_capture(x, depth, T_AUTHOR, false);
		else if (name == N_DATE)
			start_capture(x, depth, T_DCDATE, false);
		else if (name == N_SUBJECT)
			start_capture(x, depth, T_CATEGORY, false);
		else if (name == N_DESCRIPTION)
			start_capture(x, depth, T_SUMMARY, false);
		else if (name == N_LANGUAGE)
			start_capture(x, depth, T_LANG, false);
		else if (name == N_TITLE)
			start_capture(x, depth, T_TITLE, false);
		break;
	case NS_DCTERMS:
		if (name == N_ISSUED)
			start_capture(x, depth, T_PUBLISHED, false);
		else if (name == N_CREATED)
			start_capture(x, depth, T_CREATED, false);
		else if (name == N_MODIFIED)
			start_capture(x, depth, T_UPDATED, false);
		break;
	case NS_CONTENT:
		if (name == N_ENCODED)
			start_capture(x, depth, T_CONTENT, false);
		break;
	case NS_XHTML:
		if (name == N_BODY || name == N_DIV) {
			start_capture(x, depth, T_CONTENT, true);
			free(x->cap.type);
			x->cap.type = strdup("xhtml");
			x->cap.children = true;
		}
		break;
	case NS_MEDIA:
		if (name == N_GROUP)
			return R_MEDIA_GROUP;
		media_child(x, depth, name);
		break;
	case NS_ITUNES:
		if (name == N_AUTHOR) {
			start_capture(x, depth, T_AUTHOR, false);
		} else if (name == N_SUMMARY) {
			start_capture(x, depth, T_SUMMARY, false);
		} else if (name == N_CATEGORY) {
			/* nested: <itunes:category text="Technology"><itunes:category text="Gadgets"> */
			char *t = attr(x, "text");
			add_category(&x->e, t ? feed_collapse_space(t) : NULL);
			free(t);
			return R_ENTRY_EXT;
		} else if (name == N_KEYWORDS) {
			start_capture(x, depth, T_TAGS, false);
		}
		break;
	case NS_RDF:
		break;
	default:
		break;
	}
	return R_IGNORE;
}

static enum name cached_name_of(struct xp *x, const char *local)
{
	/* (dictionary strings are packed side by side: hash all the address bits) */
	size_t i = (size_t)(((uint64_t)(uintptr_t)local * 0x9E3779B97F4A7C15ull) >> 58);
	if (x->names[i].s == local)
		return (enum name)x->names[i].name;
	enum name name = name_of(local);
	if (x->ctxt->dict && xmlDictOwns(x->ctxt->dict, (const xmlChar *)local) == 1) {
		x->names[i].s = local;
		x->names[i].name = (unsigned char)name;
	}
	return name;
}

static void on_start(struct xp *x, int depth, bool empty)
{
	if (x->cap.depth >= 0) {
		capture_child_start(x, depth, empty);
		return;
	}
	const char *local = x->el.local;
	const char *uri = x->el.uri;
	if (!local)
		return;
	enum ns ns = ns_of(uri, &x->ns_hint);
	enum role role = depth == 0 ? root_element(x, ns, local, uri) : R_IGNORE;
	if (x->stop)
		return;
	enum name name = cached_name_of(x, local);

	switch (depth == 0 ? R_IGNORE : (enum role)x->roles[depth - 1]) {
	case R_ROOT_RSS:
		if (ns == NS_RSS && name == N_CHANNEL)
			role = R_HEAD;
		else if (ns == NS_RSS && name == N_ITEM)
			role = R_ENTRY;          /* items outside the channel, as some write */
		break;
	case R_ROOT_RDF:
		if (ns == NS_RSS && (name == N_CHANNEL || name == N_ITEM)) {
			if (uri && !strcmp(uri, NS_URI_RSS090))
				x->format = FEED_RSS090;
			role = name == N_CHANNEL ? R_HEAD : R_ENTRY;
			if (role == R_ENTRY)
				call_head(x);
		} else if (ns == NS_RSS && name == N_IMAGE) {
			role = R_IMAGE;
		}
		break;
	case R_HEAD:
		role = head_child(x, depth, ns, name);
		break;
	case R_ENTRY:
		role = entry_child(x, depth, ns, name);
		break;
	case R_PERSON:
		if (ns == NS_ATOM || ns == NS_RSS) {
			if (name == N_NAME)
				start_capture(x, depth, T_PERSON_NAME, false);
			else if (name == N_EMAIL)
				start_capture(x, depth, T_PERSON_EMAIL, false);
			else if (name == N_URI || name == N_URL || name == N_HOMEPAGE)
				start_capture(x, depth, T_PERSON_URI, false);
		}
		break;
	case R_SOURCE:
		if ((ns == NS_ATOM || ns == NS_RSS) && name == N_TITLE)
			start_capture(x, depth, T_SOURCE_TITLE, true);
		break;
	case R_MEDIA_GROUP:
		if (ns == NS_MEDIA)
			media_child(x, depth, name);
		break;
	case R_ITEMS:
		if (ns == NS_RSS && name == N_ITEM) {
			call_head(x);
			role = R_ENTRY;
		}
		break;
	case R_ENTRY_EXT:
		if (ns == NS_ITUNES && name == N_CATEGORY) {
			char *t = attr(x, "text");
			add_category(&x->e, t ? feed_collapse_space(t) : NULL);
			free(t);
			role = R_ENTRY_EXT;
		}
		break;
	case R_IMAGE:
		if (ns == NS_RSS && name == N_URL)
			start_capture(x, depth, T_HEAD_ICON, false);
		break;
	case R_IGNORE:
		break;
	}
	if (role == R_ENTRY && x->head_only) {
		x->skip = true;
		role = R_IGNORE;
	} else if (role == R_ENTRY && !x->stop) {
		entry_clear(&x->e);
		x->e.active = true;
		const char *lang = scoped_lang(x);
		if (lang && *lang)
			x->e.lang = strdup(lang);
		x->e.about = attr_ns(x, "about", NS_URI_RDF);
	}
	if (role == R_HEAD) {
		const char *lang = scoped_lang(x);
		if (lang && *lang)
			take(&x->h.language, strdup(lang));
	}
	x->roles[depth] = (unsigned char)role;
}

static void on_end(struct xp *x, int depth, bool empty)
{
	if (x->cap.depth >= 0) {
		if (depth > x->cap.depth)
			capture_child_end(x, depth, empty);
		else
			finish_capture(x);
		return;
	}
	switch ((enum role)x->roles[depth]) {
	case R_ENTRY:
		finish_entry(x);
		break;
	case R_HEAD:
		call_head(x);
		break;
	case R_PERSON:
		if (x->person_owner == 1)
			add_person(x->h.authors, &x->h.n_authors, &x->person);
		else if (x->person_owner == 2 && x->e.active)
			add_person(x->e.authors, &x->e.n_authors, &x->person);
		else
			person_clear(&x->person);
		x->person_owner = 0;
		break;
	default:
		break;
	}
	x->roles[depth] = R_IGNORE;
}

/*
 * An entity reference the parser did not substitute (we never ask it to).
 * An external entity is an attack or a mistake: the document is refused.
 * A small internal one of plain text is read as its text.
 */
static void on_entity(struct xp *x, const xmlChar *name)
{
	xmlEntityPtr ent = x->ctxt->myDoc ? xmlGetDocEntity(x->ctxt->myDoc, name) : NULL;
	if (!ent)
		return;
	if (ent->etype == XML_EXTERNAL_GENERAL_PARSED_ENTITY ||
	    ent->etype == XML_EXTERNAL_GENERAL_UNPARSED_ENTITY) {
		x->hostile = true;
		feed_error(x->res, "refused: the document refers to the external entity &%.64s; "
		           "(%.128s); external entities are never loaded", (const char *)name,
		           ent->URI ? (const char *)ent->URI : "no URI");
		stop(x, -EBADMSG);
		return;
	}
	if (x->cap.depth >= 0 && ent->content && xmlStrlen(ent->content) <= 1024 &&
	    !xmlStrchr(ent->content, '&') && !xmlStrchr(ent->content, '<'))
		capture_text(x, (const char *)ent->content, (size_t)xmlStrlen(ent->content), false);
}

static _Thread_local struct xp *current_xp;

/* libxml2's errors, from the document's parser or one it made to check a
 * declared entity's text (either way of the document being read). */
static void on_xml_error(void *ctx, xmlErrorPtr error)
{
	(void)ctx;
	struct xp *x = current_xp;
	if (!x || !error || error->level < XML_ERR_ERROR)
		return;
	const char *msg = error->message ? error->message : "error";
	/* Told by the error's code, or by libxml2's own words where the code is
	 * its catch-all: most messages quote the document, which may say
	 * "huge" or "amplification" in an element's name or a URI. */
	bool internal = error->code == XML_ERR_INTERNAL_ERROR;
	if (error->code == XML_ERR_ENTITY_LOOP ||
	    (internal && !strncmp(msg, "Excessive depth", 15)) ||
	    strstr(msg, "amplification factor"))       /* libxml2 2.11 and later */
		x->hostile = true;
	if (error->code == XML_ERR_NO_MEMORY || (internal && strstr(msg, "Huge input lookup")))
		x->too_big = true;
	if (x->n_errors++ == 0 || x->hostile) {
		if (x->hostile && x->n_errors > 1 && strstr(x->first_error, "refused"))
			return;
		size_t n = strlen(msg);
		while (n > 0 && is_space((unsigned char)msg[n - 1]))
			n--;
		snprintf(x->first_error, sizeof x->first_error, "%s%.*s (line %d)",
		         x->hostile ? "refused: " : "", (int)(n > 200 ? 200 : n), msg, error->line);
	}
}

/* libxml2 prints some errors through its generic handler: keep them quiet. */
static void quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

/* ---- preparing the bytes ---- */

/* Whether [s, end) starts with prefix, ignoring ASCII case. */
static bool starts_ci(const char *s, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);
	return s < end && (size_t)(end - s) >= n && !strncasecmp(s, prefix, n);
}

/* Skip white space, comments, processing instructions and a DOCTYPE; return
 * where the first element starts (or the end). */
static const char *first_element(const char *s, const char *end)
{
	while (s < end) {
		while (s < end && is_space((unsigned char)*s))
			s++;
		if (end - s >= 4 && !memcmp(s, "<!--", 4)) {
			const char *c = memmem(s + 4, (size_t)(end - s - 4), "-->", 3);
			s = c ? c + 3 : end;
		} else if (end - s >= 2 && !memcmp(s, "<?", 2)) {
			const char *c = memmem(s + 2, (size_t)(end - s - 2), "?>", 2);
			s = c ? c + 2 : end;
		} else if (end - s >= 9 && !strncasecmp(s, "<!doctype", 9)) {
			return s;
		} else {
			return s;
		}
	}
	return s;
}

/* The first '&' or '<' at or after p, which is before end (there is one). */
static const char *find_amp_lt(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<');
	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);
		int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, amp),
		                                       _mm_cmpeq_epi8(v, lt)));
		if (m)
			return p + __builtin_ctz((unsigned)m);
	}
#endif
	while (p < end && *p != '&' && *p != '<')
		p++;
	return p;
}

/*
 * Rewrite the document for the XML parser, when needed: the encoding in the
 * XML declaration says UTF-8 (the bytes are UTF-8 by now); HTML's named
 * entities (&nbsp; &eacute; ...), which feeds use without declaring them,
 * become character references; a bare & becomes &amp;. CDATA sections,
 * comments and the DOCTYPE are copied as they are. Returns 0 and sets *out
 * (malloc'd) or leaves it NULL when nothing changed; *fixed when the
 * document needed a fix to be well-formed.
 */
static int prepare_xml(const char *s, size_t len, char **out, size_t *out_len, bool *fixed)
{
	struct fbuf b = { .limit = (size_t)FEED_MAX_DOCUMENT * 8 };
	const char *end = s + len;
	const char *run = s;
	const char *p = s;
	bool changed = false;
	bool subset = false;         /* a DOCTYPE with an internal subset (it may declare entities) */
	*out = NULL;

	/* The XML declaration's encoding. */
	if (s && len > 5 && !memcmp(s, "<?xml", 5)) {
		const char *close = memmem(s, len < 1024 ? len : 1024, "?>", 2);
		const char *enc = close ? memmem(s, (size_t)(close - s), "encoding", 8) : NULL;
		if (enc) {
			const char *q = enc + 8;
			while (q < close && (is_space((unsigned char)*q) || *q == '='))
				q++;
			if (q < close && (*q == '"' || *q == '\'')) {
				const char *vend = memchr(q + 1, *q, (size_t)(close - q - 1));
				if (vend && (vend - q - 1 != 5 || strncasecmp(q + 1, "UTF-8", 5))) {
					if (fbuf_add(&b, s, (size_t)(q + 1 - s)) < 0 ||
					    fbuf_adds(&b, "UTF-8") < 0)
						goto nomem;
					run = p = vend;
					changed = true;
				}
			}
		}
	}

	/* The next '&' or '<' at or after p, to the last '&': after it there is
	 * nothing to do. */
	const char *last_amp = len ? memrchr(s, '&', len) : NULL;
	while (last_amp && p <= last_amp) {
		const char *c = find_amp_lt(p, end);
		if (*c == '<') {
			const char *lt = c;
			/* Skip what must not be touched. */
			const char *skip_end = NULL;
			size_t rest = (size_t)(end - lt);
			if (rest >= 9 && !memcmp(lt, "<![CDATA[", 9)) {
				skip_end = memmem(lt + 9, rest - 9, "]]>", 3);
				skip_end = skip_end ? skip_end + 3 : end;
			} else if (rest >= 4 && !memcmp(lt, "<!--", 4)) {
				skip_end = memmem(lt + 4, rest - 4, "-->", 3);
				skip_end = skip_end ? skip_end + 3 : end;
			} else if (rest >= 9 && !memcmp(lt, "<!DOCTYPE", 9)) {
				/* to the '>' that closes it, past an internal subset */
				int bracket = 0;
				const char *q = lt + 9;
				char quote = 0;
				for (; q < end; q++) {
					if (quote) {
						if (*q == quote)
							quote = 0;
					} else if (*q == '"' || *q == '\'') {
						quote = *q;
					} else if (*q == '[') {
						bracket++;
					} else if (*q == ']') {
						bracket--;
					} else if (*q == '>' && bracket <= 0) {
						break;
					}
				}
				skip_end = q < end ? q + 1 : end;
				subset |= memchr(lt, '[', (size_t)(skip_end - lt)) != NULL;
			} else if (rest >= 2 && lt[1] == '?') {
				skip_end = memmem(lt + 2, rest - 2, "?>", 2);
				skip_end = skip_end ? skip_end + 2 : end;
			}
			p = skip_end ? skip_end : lt + 1;
			continue;
		}
		/* An entity or character reference? */
		const char *amp = c;
		const char *q = amp + 1;
		const char *name = q;
		/* XML's own (escaped HTML is full of them): nothing to do */
		size_t rest = (size_t)(end - q);
		if (rest >= 3 && (q[0] == 'l' || q[0] == 'g') && q[1] == 't' && q[2] == ';') {
			p = q + 3;
			continue;
		}
		if ((rest >= 4 && !memcmp(q, "amp;", 4))) {
			p = q + 4;
			continue;
		}
		if (rest >= 5 && (!memcmp(q, "quot;", 5) || !memcmp(q, "apos;", 5))) {
			p = q + 5;
			continue;
		}
		if (q < end && *q == '#') {
			q++;
			bool hex = q < end && (*q == 'x' || *q == 'X');
			if (hex)
				q++;
			const char *digits = q;
			while (q < end && (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)))
				q++;
			if (q > digits && q < end && *q == ';') {
				unsigned long cp = strtoul(digits, NULL, hex ? 16 : 10);
				if (q - digits <= 6 && feed_cp1252_c1((unsigned)cp) != cp) {
					/* &#146; means Windows-1252's U+2019, as in HTML */
					char ref[16];
					snprintf(ref, sizeof ref, "&#%u;", feed_cp1252_c1((unsigned)cp));
					if (fbuf_add(&b, run, (size_t)(amp - run)) < 0 ||
					    fbuf_adds(&b, ref) < 0)
						goto nomem;
					run = p = q + 1;
					changed = true;
					continue;
				}
				if (amp[2] == 'X') {
					/* &#X41; is HTML's, XML wants a lower-case x */
					if (fbuf_add(&b, run, (size_t)(amp - run)) < 0 ||
					    fbuf_adds(&b, "&#x") < 0)
						goto nomem;
					run = amp + 3;
					changed = true;
					*fixed = true;
				}
				p = q + 1;
				continue;
			}
		} else {
			while (q < end && q - name < 32 &&
			       (isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.'))
				q++;
			if (q > name && q < end && *q == ';') {
				size_t n = (size_t)(q - name);
				char nm[33];
				memcpy(nm, name, n);
				nm[n] = '\0';
				if (!strcmp(nm, "amp") || !strcmp(nm, "lt") || !strcmp(nm, "gt") ||
				    !strcmp(nm, "quot") || !strcmp(nm, "apos")) {
					p = q + 1;
					continue;
				}
				const htmlEntityDesc *ent = htmlEntityLookup((const xmlChar *)nm);
				if (!ent && subset) {
					p = q + 1;     /* declared in the DTD, or undefined: the parser says */
					continue;
				}
				if (!ent) {
					/* undefined, with no DTD to declare it: the text as written */
					if (fbuf_add(&b, run, (size_t)(amp - run)) < 0 ||
					    fbuf_adds(&b, "&amp;") < 0)
						goto nomem;
					run = p = amp + 1;
					changed = true;
					*fixed = true;
					continue;
				}
				char ref[16];
				snprintf(ref, sizeof ref, "&#%u;", ent->value);
				if (fbuf_add(&b, run, (size_t)(amp - run)) < 0 || fbuf_adds(&b, ref) < 0)
					goto nomem;
				run = p = q + 1;
				changed = true;
				*fixed = true;
				continue;
			}
		}
		/* A bare ampersand. */
		if (fbuf_add(&b, run, (size_t)(amp - run)) < 0 || fbuf_adds(&b, "&amp;") < 0)
			goto nomem;
		run = p = amp + 1;
		changed = true;
		*fixed = true;
	}
	if (!changed) {
		fbuf_reset(&b);
		return 0;
	}
	if (fbuf_add(&b, run, (size_t)(end - run)) < 0)
		goto nomem;
	if (b.full) {
		fbuf_reset(&b);
		return -EMSGSIZE;
	}
	*out_len = b.len;
	*out = fbuf_steal(&b);
	return *out ? 0 : -ENOMEM;
nomem:
	fbuf_reset(&b);
	return -ENOMEM;
}

/* ---- the parse ---- */

/*
 * The parser whose callbacks run on this thread. libxml2 gives SAX2
 * callbacks the parser context (the user data is left to be the context):
 * a context that is not x's own is one libxml2 made to check a declared
 * entity's text, whose events are not the document's. The head pre-pass
 * runs a parser inside another's callback, so current_xp (above) is saved
 * and restored.
 */

/* After a refusal (a hostile or too big document), a callback's stop or
 * max_items, libxml2 is told to read no more. */
static void after_event(struct xp *x)
{
	if (!x->stop && (x->hostile || x->too_big))
		stop(x, 0);
	if (x->stop)
		xmlStopParser(x->ctxt);
}

/* x, when ctx is its parser and it has not stopped. */
static struct xp *xp_of(void *ctx)
{
	struct xp *x = current_xp;
	if (!x || x->ctxt != ctx)
		return NULL;
	after_event(x);              /* an error since the last event may have refused it */
	return x->stop ? NULL : x;
}

/* Every node is refused at max_depth, a text as deep as an element. */
static bool too_deep(struct xp *x, int depth)
{
	if ((size_t)depth < x->max_depth)
		return false;
	x->hostile = true;
	feed_error(x->res, "refused: elements nested more than %zu deep", x->max_depth);
	stop(x, -EBADMSG);
	xmlStopParser(x->ctxt);
	return true;
}

static int push_scope(struct xp *x, int depth)
{
	char *base = NULL, *lang = NULL;
	const xmlChar **a = x->el.attrs;
	for (int i = 0; i < x->el.n_attrs; i++, a += 5) {
		if (!a[1] || strcmp((const char *)a[1], "xml"))
			continue;
		char **slot = !strcmp((const char *)a[0], "base") ? &base :
		              !strcmp((const char *)a[0], "lang") ? &lang : NULL;
		if (slot && !*slot && !(*slot = attr_value(x, a[3], a[4])))
			goto nomem;
	}
	if (!base && !lang)
		return 0;
	if (x->n_scopes == x->cap_scopes) {
		size_t cap = x->cap_scopes ? 2 * x->cap_scopes : 8;
		struct scope *p = realloc(x->scopes, cap * sizeof *p);
		if (!p)
			goto nomem;
		x->scopes = p;
		x->cap_scopes = cap;
	}
	x->scopes[x->n_scopes++] = (struct scope){ .depth = depth, .base = base, .lang = lang };
	return 0;
nomem:
	free(base);
	free(lang);
	oom(x);
	return -ENOMEM;
}

static void pop_scope(struct xp *x, int depth)
{
	if (x->n_scopes && x->scopes[x->n_scopes - 1].depth == depth) {
		struct scope *s = &x->scopes[--x->n_scopes];
		free(s->base);
		free(s->lang);
	}
}

/* An element whose prefix names no namespace is, in libxml2's tree, an
 * element named "prefix:local" in no namespace: so it is here. */
static void undeclared_prefix(struct xp *x, const xmlChar **local, const xmlChar **prefix,
                              const xmlChar *uri)
{
	if (!*prefix || uri)
		return;
	const xmlChar *qname = xmlDictQLookup(x->ctxt->dict, *prefix, *local);
	if (qname) {
		*local = qname;
		*prefix = NULL;
	}
}

static void sax_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                      int n_ns, const xmlChar **ns, int n_attrs, int n_defaulted,
                      const xmlChar **attrs)
{
	struct xp *x = xp_of(ctx);
	if (!x)
		return;
	int depth = x->open++;
	x->text_run = 0;
	x->empty_open = x->at_start = false;
	if (x->skip_depth >= 0 || too_deep(x, depth))
		return;
	/* libxml2 calls this with the input at the end of the start tag:
	 * "/>" there is an empty element (as libxml2's xmlTextReader tells
	 * it; the push parser has the whole tag before it reads it). */
	const xmlChar *cur = x->ctxt->input ? x->ctxt->input->cur : NULL;
	bool empty = cur && cur[0] == '/' && cur[1] == '>';
	undeclared_prefix(x, &local, &prefix, uri);
	x->el.local = (const char *)local;
	x->el.prefix = (const char *)prefix;
	x->el.uri = (const char *)uri;
	x->el.depth = depth;
	x->el.ns = ns;
	x->el.n_ns = n_ns;
	x->el.attrs = attrs;
	x->el.n_attrs = n_attrs;
	x->el.n_defaulted = n_defaulted;
	if (push_scope(x, depth) == 0) {
		x->n_starts++;
		x->at_start = true;
		on_start(x, depth, empty);
		/* A skipped element's subtree and end are not read; an empty
		 * one has no subtree, and its end is read as any other. */
		if (x->skip && !empty)
			x->skip_depth = depth;
		x->skip = false;
		x->empty_open = empty;
	}
	x->el.ns = x->el.attrs = NULL;
	x->el.n_ns = x->el.n_attrs = x->el.n_defaulted = 0;
	after_event(x);
}

static void sax_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	struct xp *x = xp_of(ctx);
	if (!x)
		return;
	int depth = --x->open;
	bool empty = x->empty_open;
	x->empty_open = false;
	x->text_run = 0;
	if (x->skip_depth >= 0) {
		if (depth == x->skip_depth) {
			x->skip_depth = -1;
			pop_scope(x, depth);     /* the skipped element's own */
		}
		return;
	}
	x->at_start = x->at_start && empty;
	undeclared_prefix(x, &local, &prefix, uri);
	x->el.local = (const char *)local;
	x->el.prefix = (const char *)prefix;
	x->el.depth = depth;
	on_end(x, depth, empty);
	pop_scope(x, depth);
	x->at_start = false;
	after_event(x);
}

static void text_event(struct xp *x, const xmlChar *text, int len, bool cdata)
{
	x->empty_open = x->at_start = false;
	if (x->skip_depth >= 0 || too_deep(x, x->open))
		return;
	/* libxml2's tree refuses a text node (adjacent text, or adjacent CDATA
	 * sections) longer than this without XML_PARSE_HUGE; so does this. */
	if (x->text_run_cdata != cdata)
		x->text_run = 0;
	x->text_run_cdata = cdata;
	x->text_run += (size_t)len;
	if (x->text_run > XML_MAX_TEXT_LENGTH) {
		x->too_big = true;
		if (x->n_errors++ == 0)
			snprintf(x->first_error, sizeof x->first_error,
			         "a text of more than %d bytes (line %d)", XML_MAX_TEXT_LENGTH,
			         xmlSAX2GetLineNumber(x->ctxt));
		after_event(x);
		return;
	}
	if (x->cap.depth >= 0)
		capture_text(x, (const char *)text, (size_t)len, cdata);
	after_event(x);
}

static void sax_characters(void *ctx, const xmlChar *text, int len)
{
	struct xp *x = xp_of(ctx);
	if (x)
		text_event(x, text, len, false);
}

static void sax_cdata(void *ctx, const xmlChar *text, int len)
{
	struct xp *x = xp_of(ctx);
	if (x)
		text_event(x, text, len, true);
}

static void sax_reference(void *ctx, const xmlChar *name)
{
	struct xp *x = xp_of(ctx);
	if (!x)
		return;
	x->empty_open = x->at_start = false;
	x->text_run = 0;
	if (x->skip_depth >= 0 || too_deep(x, x->open) || !name)
		return;
	on_entity(x, name);
	after_event(x);
}

/* libxml2's SAX2 push parser over doc; the caller checks x->ctxt. */
static struct xp *xp_new(const char *doc, size_t len, const struct feed_options *opt,
                         const struct feed_callbacks *cb, void *userdata,
                         struct feed_result *res, bool head_only)
{
	struct xp *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->doc = doc;
	x->len = len;
	x->opt = opt;
	x->cb = cb;
	x->userdata = userdata;
	x->res = res;
	x->head_only = head_only;
	x->max_depth = opt->max_depth ? opt->max_depth : 256;
	x->roles = calloc(x->max_depth + 1, 1);
	x->skip_depth = -1;
	capture_clear(&x->cap);
	entry_clear(&x->e);
	head_clear(&x->h);
	if (!x->roles) {
		free(x);
		return NULL;
	}
	/*
	 * libxml2's SAX2 handlers, which build a tree, for the document and
	 * its DTD (entity declarations are looked up there); this file's for
	 * elements, text and entity references, so no tree of the content is
	 * ever built. Comments and processing instructions are not read.
	 */
	xmlSAXHandler sax;
	xmlSAXVersion(&sax, 2);
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_characters;
	sax.ignorableWhitespace = sax_characters;
	sax.cdataBlock = sax_cdata;
	sax.reference = sax_reference;
	sax.comment = NULL;
	sax.processingInstruction = NULL;
	sax.serror = on_xml_error;
	/*
	 * No network, no entity substitution, no DTD loading, no
	 * XML_PARSE_HUGE: libxml2's limits on entity expansion, depth and
	 * text size stay on. RECOVER reads on past what is not well-formed
	 * (a mismatched end tag, a stray character) as far as libxml2 can.
	 */
	int options = XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOERROR |
	              XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC;
	/*
	 * The bytes are UTF-8 by now. Told so, libxml2 copies them through a
	 * UTF-8-to-UTF-8 converter; told nothing, it reads them where they are,
	 * guessing the encoding from the first four bytes only (IGNORE_ENC: not
	 * from the declaration, which prepare_xml() has made say UTF-8 anyway).
	 * doc starts with '<', so the guess is UTF-8 unless the second byte is
	 * a zero ("<\0\0\0" UCS-4, "<\0?\0" UTF-16): then it is told. So is a
	 * document shorter than four bytes. The first four bytes go to the
	 * parser when it is made (where it guesses), the rest in one push.
	 */
	bool tell = len < 4 || doc[1] == '\0';
	x->first = len < 4 ? 0 : 4;
	struct xp *saved = current_xp;
	current_xp = x;
	x->ctxt = xmlCreatePushParserCtxt(&sax, NULL, doc, (int)x->first, opt->base_url);
	if (x->ctxt) {
		x->ctxt->_private = x;
		xmlCtxtUseOptions(x->ctxt, options);
		xmlCharEncodingHandlerPtr utf8 = tell ? xmlFindCharEncodingHandler("UTF-8") : NULL;
		if (utf8)
			xmlSwitchToEncoding(x->ctxt, utf8);
	}
	current_xp = saved;
	return x;
}

static void xp_free(struct xp *x)
{
	if (!x)
		return;
	if (x->ctxt) {
		if (x->ctxt->myDoc)
			xmlFreeDoc(x->ctxt->myDoc);
		x->ctxt->myDoc = NULL;
		xmlFreeParserCtxt(x->ctxt);
	}
	while (x->n_scopes)
		pop_scope(x, x->scopes[x->n_scopes - 1].depth);
	free(x->scopes);
	capture_free(&x->cap);
	entry_clear(&x->e);
	person_clear(&x->person);
	head_clear(&x->h);
	free(x->roles);
	free(x->base);
	free(x);
}

/*
 * Read the document: 0, or -1 where libxml2 found it not well-formed.
 * It is pushed a piece at a time: given more than 10 MB at once, libxml2
 * 2.9's push parser refuses to look that far ahead ("Huge input lookup").
 */
static int xp_parse(struct xp *x)
{
	const size_t piece = 65536;
	struct xp *saved = current_xp;
	current_xp = x;
	const char *p = x->doc + x->first, *end = x->doc + x->len;
	do {
		size_t n = (size_t)(end - p) < piece ? (size_t)(end - p) : piece;
		xmlParseChunk(x->ctxt, p, (int)n, p + n == end);
		p += n;
	} while (p < end && !x->stop && x->ctxt->instate != XML_PARSER_EOF);
	current_xp = saved;
	return x->ctxt->wellFormed ? 0 : -1;
}

/*
 * Whether the document starts, after its first `n` start tags, no element
 * but at a depth below `depth` or at that depth named `qname` (NULL: no
 * element at all). Depth: the number of elements open around it. A scan of
 * the bytes that knows comments, CDATA sections, processing instructions, a
 * DOCTYPE without an internal subset and quoted attribute values; false
 * when unsure (anything else). An end tag closes the innermost element,
 * whatever its name, as libxml2's recovery reads a mismatched one; where a
 * malformed document still fools this, what is lost is a head field written
 * after the entries, never an entry.
 */
static bool rest_is(const char *s, size_t len, size_t n, int depth, const char *qname)
{
	const char *p = s, *end = s + len;
	size_t starts = 0;
	int d = 0;
	while (p < end && (p = memchr(p, '<', (size_t)(end - p)))) {
		size_t rest = (size_t)(end - p);
		const char *close = NULL;
		if (rest >= 4 && !memcmp(p, "<!--", 4)) {
			close = memmem(p + 4, rest - 4, "-->", 3);
			p = close ? close + 3 : NULL;
		} else if (rest >= 9 && !memcmp(p, "<![CDATA[", 9)) {
			close = memmem(p + 9, rest - 9, "]]>", 3);
			p = close ? close + 3 : NULL;
		} else if (rest >= 2 && p[1] == '?') {
			close = memmem(p + 2, rest - 2, "?>", 2);
			p = close ? close + 2 : NULL;
		} else if (rest >= 9 && !memcmp(p, "<!DOCTYPE", 9)) {
			const char *q = p + 9;
			char quote = 0;
			for (; q < end && (quote || *q != '>'); q++) {
				if (quote && *q == quote)
					quote = 0;
				else if (!quote && (*q == '"' || *q == '\''))
					quote = *q;
				else if (!quote && *q == '[')
					return false;     /* an internal subset */
			}
			p = q < end ? q + 1 : NULL;
		} else if (rest >= 2 && p[1] == '/') {
			close = memchr(p, '>', rest);
			p = close ? close + 1 : NULL;
			if (--d < 0)
				return false;
		} else if (rest >= 2 && p[1] != '!') {
			const char *name = p + 1, *q = name;
			while (q < end && !is_space((unsigned char)*q) && *q != '/' && *q != '>')
				q++;
			size_t name_len = (size_t)(q - name);
			char quote = 0;
			for (; q < end && (quote || *q != '>'); q++) {
				if (quote && *q == quote)
					quote = 0;
				else if (!quote && (*q == '"' || *q == '\''))
					quote = *q;
			}
			if (q >= end || name_len == 0)
				return false;
			bool empty = q[-1] == '/';
			if (++starts > n && !(qname && (d > depth || (d == depth &&
			    strlen(qname) == name_len && !memcmp(name, qname, name_len)))))
				return false;
			if (!empty)
				d++;
			p = q + 1;
		} else {
			return false;
		}
		if (!p)
			return false;
	}
	return true;
}

/*
 * The pre-pass below can find nothing the main pass has not read or will
 * not read without it: where the parser is (an entry's start tag, the end
 * of the head element, the end of the document), no element follows but
 * more entries and what they hold (and then nothing after the head's end or
 * the document's end). Most documents without a title are of that kind
 * (the conformance corpora: a tenth of the parse time went to pre-passes).
 */
static bool prepass_needless(struct xp *x)
{
	if (x->at_start) {
		char qname[256];
		int n = x->el.prefix ? snprintf(qname, sizeof qname, "%s:%s", x->el.prefix, x->el.local)
		                     : snprintf(qname, sizeof qname, "%s", x->el.local);
		return n > 0 && (size_t)n < sizeof qname &&
		       rest_is(x->doc, x->len, x->n_starts, x->el.depth, qname);
	}
	return rest_is(x->doc, x->len, x->n_starts, 0, NULL);
}

/*
 * The feed's title is not known at its first entry (SEC EDGAR writes it
 * after the entries): read the feed-level elements of the whole document
 * first, skipping entries, and take what they say.
 */
static void prepass(struct xp *x)
{
	struct feed_result scratch;
	memset(&scratch, 0, sizeof scratch);
	struct xp *y = xp_new(x->doc, x->len, x->opt, NULL, NULL, &scratch, true);
	if (!y || !y->ctxt) {
		xp_free(y);
		return;
	}
	xp_parse(y);
	struct head_builder *h = &x->h, *g = &y->h;
	take(&h->title, g->title);
	take(&h->subtitle, g->subtitle);
	take(&h->link, g->link);
	take(&h->id, g->id);
	take(&h->language, g->language);
	take(&h->generator, g->generator);
	take(&h->icon, g->icon);
	g->title = g->subtitle = g->link = g->id = g->language = g->generator = g->icon = NULL;
	if (h->updated == VIGIL_TIME_NONE)
		h->updated = g->updated;
	if (h->n_authors == 0) {
		memcpy(h->authors, g->authors, sizeof h->authors);
		h->n_authors = g->n_authors;
		g->n_authors = 0;
	}
	xp_free(y);
}

static int parse_xml(const char *doc, size_t len, const struct feed_options *opt,
                     const struct feed_callbacks *cb, void *userdata, struct feed_result *res)
{
	if (len > INT32_MAX)
		return -EMSGSIZE;
	xmlGenericErrorFunc saved_generic = xmlGenericError;
	void *saved_generic_ctx = xmlGenericErrorContext;
	xmlSetGenericErrorFunc(NULL, quiet);

	struct xp *x = xp_new(doc, len, opt, cb, userdata, res, false);
	int ret = -1;
	if (x && x->ctxt)
		ret = xp_parse(x);
	xmlSetGenericErrorFunc(saved_generic_ctx, saved_generic);

	int rc = 0;
	if (!x || !x->ctxt) {
		feed_error(res, "out of memory");
		xp_free(x);
		return -ENOMEM;
	}
	res->format = x->format;
	if (x->hostile) {
		if (!res->error[0])
			snprintf(res->error, sizeof res->error, "%s", x->first_error);
		res->hostile = true;
		rc = -EBADMSG;
	} else if (x->too_big) {
		feed_error(res, "too big: %s", x->first_error);
		rc = -EMSGSIZE;
	} else if (x->stop && x->rc < 0) {
		rc = x->rc;          /* a callback's value, not a feed, out of memory */
	} else if (x->stop) {
		rc = 0;              /* max_items reached */
	} else if (!x->root_seen) {
		res->not_feed = true;
		feed_error(res, "not a feed: %s", x->n_errors ? x->first_error :
		           "the document has no root element");
		rc = -EBADMSG;
	} else if (x->n_errors || ret < 0) {
		if (res->n_entries > 0 || x->h.title || x->h.link || x->h.id || x->h.subtitle) {
			res->bozo = true;
			feed_error(res, "not well-formed, %zu entries recovered: %s", res->n_entries,
			           x->n_errors ? x->first_error : "read error");
		} else {
			feed_error(res, "not well-formed XML: %s", x->n_errors ? x->first_error :
			           "read error");
			rc = -EBADMSG;
		}
	}
	if (rc == 0 && !x->stop)
		call_head(x);
	if (rc == 0 && x->stop && x->rc < 0)
		rc = x->rc;
	xp_free(x);
	return rc;
}

const char *feed_format_name(enum feed_format f)
{
	switch (f) {
	case FEED_RSS090: return "rss090";
	case FEED_RSS091: return "rss091";
	case FEED_RSS092: return "rss092";
	case FEED_RSS20: return "rss20";
	case FEED_RSS10: return "rss10";
	case FEED_ATOM03: return "atom03";
	case FEED_ATOM10: return "atom10";
	case FEED_JSON10: return "json10";
	case FEED_JSON11: return "json11";
	case FEED_UNKNOWN: break;
	}
	return "unknown";
}

int feed_parse(const char *body, size_t len, const struct feed_options *opt,
               const struct feed_callbacks *cb, void *userdata, struct feed_result *res)
{
	static const struct feed_options no_options;
	const char *utf8 = NULL;
	char *owned = NULL, *prepared = NULL;
	size_t utf8_len = 0, prepared_len = 0;
	bool repaired = false, fixed = false;
	const char *charset = NULL;
	int rc;

	memset(res, 0, sizeof *res);
	if (!opt)
		opt = &no_options;
	if (!body)
		len = 0;
	if (len > FEED_MAX_DOCUMENT) {
		feed_error(res, "the document is %zu MB; feeds larger than %u MB are refused",
		           len >> 20, FEED_MAX_DOCUMENT >> 20);
		return -EMSGSIZE;
	}
	rc = feed_to_utf8(body ? body : "", len, opt->content_type, &utf8, &utf8_len, &owned,
	                  &repaired, &charset);
	if (rc < 0) {
		feed_error(res, "out of memory");
		return rc;
	}

	const char *start = utf8;
	const char *end = utf8 + utf8_len;
	while (start < end && is_space((unsigned char)*start))
		start++;
	if (start == end) {
		res->not_feed = true;
		feed_error(res, "not a feed: the document is empty");
		rc = -EBADMSG;
		goto out;
	}
	if (*start == '{') {
		rc = feed_parse_json(start, (size_t)(end - start), opt, cb, userdata, res);
		goto out;
	}
	const char *el = first_element(start, end);
	if (starts_ci(el, end, "<!doctype html")) {
		/* An XHTML DOCTYPE some feeds carry: HTML only when no feed follows. */
		const char *gt = memchr(el, '>', (size_t)(end - el));
		const char *next = gt ? first_element(gt + 1, end) : end;
		static const char *const roots[] = { "<rss", "<feed", "<rdf:", "<RDF", "<channel",
		                                     "<entry" };
		bool feed = false;
		for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
			feed |= (size_t)(end - next) > strlen(roots[i]) &&
			        !strncmp(next, roots[i], strlen(roots[i]));
		if (feed)
			el = next;
	}
	if (starts_ci(el, end, "<!doctype html") || starts_ci(el, end, "<html")) {
		res->html = true;
		res->not_feed = true;
		res->format = FEED_UNKNOWN;
		feed_error(res, "not a feed: the document is HTML");
		rc = -EBADMSG;
		goto out;
	}
	if (*start != '<') {
		res->not_feed = true;
		char head[25] = "";
		size_t n = (size_t)(end - start) < 24 ? (size_t)(end - start) : 24;
		memcpy(head, start, n);
		head[n] = '\0';
		feed_error(res, "not a feed: the document is neither XML nor JSON (it starts "
		           "with \"%s\")", head);
		for (char *p = res->error; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		rc = -EBADMSG;
		goto out;
	}
	rc = prepare_xml(start, (size_t)(end - start), &prepared, &prepared_len, &fixed);
	if (rc < 0) {
		feed_error(res, rc == -EMSGSIZE ? "the document is too large" : "out of memory");
		goto out;
	}
	if (prepared)
		rc = parse_xml(prepared, prepared_len, opt, cb, userdata, res);
	else
		rc = parse_xml(start, (size_t)(end - start), opt, cb, userdata, res);
	if (rc == 0 && fixed && !res->bozo) {
		res->bozo = true;
		feed_error(res, "not well-formed: undeclared HTML entities or a bare '&' "
		           "(read as meant)");
	}
out:
	if (rc == 0 && repaired && !res->bozo) {
		res->bozo = true;
		feed_error(res, "bytes that are not %s were replaced", charset ? charset : "UTF-8");
	}
	free(prepared);
	free(owned);
	return rc;
}
