/* feed-html.c - HTML to plain text for rules: libxml2's HTML parser, scripts dropped, space collapsed */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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
	for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
		if (!strcasecmp(name, hidden[i]))
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
		if (!strcasecmp(name, blocks[i]))
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

char *feed_html_to_text(const char *html, size_t len)
{
	struct fbuf clean = { 0 };
	struct writer w = { 0 };

	if (!html)
		return NULL;
	/* Only valid UTF-8 reaches the HTML parser; NULs would end it early. */
	clean.limit = len + 16 > FEED_MAX_FIELD ? len + 16 : FEED_MAX_FIELD;
	if (len > FEED_MAX_DOCUMENT || feed_utf8_repair(html, len, &clean, NULL) < 0) {
		fbuf_reset(&clean);
		return NULL;
	}
	w.out.limit = FEED_MAX_FIELD;
	if (clean.len > 0 && !memchr(clean.p, '<', clean.len) && !memchr(clean.p, '&', clean.len)) {
		/* No markup and no references (most titles, many summaries): the
		 * HTML parser would hand back this very text, so skip building a
		 * tree for it (bench/parse: a sixth of the parse time went there). */
		put_text(&w, clean.p);
	} else if (clean.len > 0) {
		htmlDocPtr doc = htmlReadMemory(clean.p, (int)clean.len, NULL, "UTF-8",
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
	if (w.err) {
		fbuf_reset(&w.out);
		return NULL;
	}
	return fbuf_steal(&w.out);
}
