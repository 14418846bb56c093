/* fuzz-feed.c - libFuzzer harness: documents through the rss plugin's feed parser, every callback */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE    /* memmem */
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "feed-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every byte of every string so ASan sees a dangling or unterminated one. */
static volatile size_t sink;

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

static void touch_links(const struct feed_link *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		touch(l[i].href);
		touch(l[i].rel);
		touch(l[i].type);
		touch(l[i].title);
		sink += (size_t)l[i].length;
	}
}

static void touch_people(const struct feed_person *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		touch(p[i].name);
		touch(p[i].email);
		touch(p[i].uri);
	}
}

static void touch_head(const struct feed_head *h)
{
	if (!h)
		return;
	touch(feed_format_name(h->format));
	touch(h->title);
	touch(h->subtitle);
	touch(h->link);
	touch(h->id);
	touch(h->language);
	sink += (size_t)h->updated;
	touch_people(h->authors, h->n_authors);
	touch(h->generator);
	touch(h->icon);
}

static int on_head(void *userdata, const struct feed_head *head)
{
	(void)userdata;
	touch_head(head);
	return 0;
}

static int on_entry(void *userdata, const struct feed_head *head, const struct feed_entry *e)
{
	const struct vigil_item *it = &e->item;
	unsigned *count = userdata;

	touch_head(head);
	touch(it->id);
	touch(it->title);
	touch(it->summary);
	touch(it->content);
	touch(it->author);
	touch(it->link);
	touch(it->lang);
	touch(it->feed_title);
	for (size_t i = 0; i < it->n_categories; i++)
		touch(it->categories[i]);
	sink += (size_t)it->published + (size_t)it->updated;
	for (size_t i = 0; i < it->n_fields; i++) {
		touch(it->fields[i].name);
		if (it->fields[i].type == VIGIL_FIELD_STRING)
			touch(it->fields[i].string);
	}
	touch(e->title_html);
	touch(e->summary_html);
	touch(e->content_html);
	touch(e->content_type);
	touch_links(e->links, e->n_links);
	touch_links(e->enclosures, e->n_enclosures);
	touch_people(e->authors, e->n_authors);
	touch(e->comments);
	touch(e->source_title);
	/* Stop early now and then, to exercise the abort path. */
	if (++*count == 1000)
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const content_types[] = {
		NULL, "application/rss+xml", "text/xml; charset=iso-8859-1",
		"application/atom+xml; charset=utf-16", "application/feed+json",
		"text/html; charset=windows-1252", "text/xml; charset=bogus-42",
	};
	static const char *const bases[] = {
		NULL, "http://example.com/feeds/feed.xml", "https://example.org/a/b/?q=1#f",
		"not a url", "file:///etc/passwd",
	};
	const struct feed_callbacks cb = { .head = on_head, .entry = on_entry };
	struct feed_options opt = { 0 };
	struct feed_result res;
	unsigned count = 0;

	/* The first byte picks the options only when it is not markup or JSON. */
	if (size > 1 && data[0] >= 0x80 && data[0] != 0xef && data[0] != 0xfe && data[0] != 0xff) {
		uint8_t b = data[0];
		opt.content_type = content_types[b % 7];
		opt.base_url = bases[(b >> 3) % 5];
		opt.max_items = (b & 0x40) ? 3 : 0;
		opt.max_depth = (b & 0x20) ? 16 : 0;
		data++;
		size--;
	}
	memset(&res, 0, sizeof(res));
	int r = feed_parse((const char *)data, size, &opt, &cb, &count, &res);
	if (r < 0)
		sink += strnlen(res.error, sizeof(res.error));
	(void)sink;

	/* The two helpers on a short prefix, as NUL-terminated text. */
	size_t n = size < 256 ? size : 256;
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, data, n);
		s[n] = '\0';
		sink += (size_t)feed_parse_date(s);
		/* The HTML-to-text fast paths must give what libxml2's tree gives
		 * (but for a byte order mark at the start of text without markup:
		 * libxml2 drops it, the shortcut for such text always kept it). */
		size_t hn = size < 4096 ? size : 4096;
		char *fast = feed_html_to_text((const char *)data, hn);
		char *tree = feed_html_to_text_tree((const char *)data, hn);
		bool plain = !memchr(data, '<', hn) && !memchr(data, '&', hn);
		if (((fast == NULL) != (tree == NULL) || (fast && strcmp(fast, tree))) &&
		    !(plain && memmem(data, hn, "\xEF\xBB\xBF", 3)))
			abort();
		free(fast);
		free(tree);
		free(s);
	}
	return 0;
}
