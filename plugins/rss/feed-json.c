/* feed-json.c - JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) into feed entries */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "feed-private.h"

static const char *jstr(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* JSON Feed 1.1 "authors", or 1.0's single "author". Fills up to max people;
 * strings borrowed from the JSON, uri resolved (owned, in uris[]). */
static size_t people(const json_t *obj, struct feed_person *out, char **uris, size_t max,
                     const char *base)
{
	size_t n = 0;
	const json_t *list = json_object_get(obj, "authors");
	const json_t *one = json_object_get(obj, "author");
	size_t count = json_is_array(list) ? json_array_size(list) : json_is_object(one) ? 1 : 0;
	for (size_t i = 0; i < count && n < max; i++) {
		const json_t *a = json_is_array(list) ? json_array_get(list, i) : one;
		if (!json_is_object(a))
			continue;
		const char *name = jstr(a, "name");
		char *uri = feed_resolve_url(jstr(a, "url"), base);
		if (!name && !uri)
			continue;
		uris[n] = uri;
		out[n] = (struct feed_person){ .name = name, .uri = uri };
		n++;
	}
	return n;
}

static void free_all(char **p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i]);
}

/* One item; 0, or a callback's negative value. */
static int json_item(const json_t *item, const struct feed_options *opt, const char *base,
                     const struct feed_head *head, const struct feed_callbacks *cb,
                     void *userdata, struct feed_result *res)
{
	struct feed_entry fe = { .item = VIGIL_ITEM_INIT };
	struct vigil_item *it = &fe.item;
	struct feed_person authors[FEED_MAX_LIST];
	char *author_uris[FEED_MAX_LIST];
	struct feed_link links[2];
	struct feed_link enclosures[FEED_MAX_LIST];
	char *owned[8 + 2 * FEED_MAX_LIST];
	size_t n_owned = 0, n_links = 0, n_enclosures = 0;
	const char *categories[FEED_MAX_LIST];
	struct vigil_field fields[4];
	size_t n_fields = 0;
	char id_text[64];
	struct fbuf names = { 0 };
	int rc = 0;

	/* id: a string, or a number as some write it */
	const json_t *id = json_object_get(item, "id");
	if (json_is_string(id) && json_string_length(id) > 0) {
		it->id = json_string_value(id);
	} else if (json_is_integer(id)) {
		snprintf(id_text, sizeof id_text, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
		it->id = id_text;
	} else if (json_is_real(id)) {
		snprintf(id_text, sizeof id_text, "%.17g", json_real_value(id));
		it->id = id_text;
	}

	char *title = feed_trim(jstr(item, "title"));
	owned[n_owned++] = title;
	it->title = title && *title ? title : NULL;

	char *url = feed_resolve_url(jstr(item, "url"), base);
	if (url) {
		links[n_links++] = (struct feed_link){ .href = url, .rel = "alternate", .length = -1 };
		owned[n_owned++] = url;
		it->link = url;
	}
	char *external = feed_resolve_url(jstr(item, "external_url"), base);
	if (external) {
		links[n_links++] = (struct feed_link){ .href = external, .rel = "related",
		                                       .length = -1 };
		owned[n_owned++] = external;
	}
	fe.links = links;
	fe.n_links = n_links;

	const char *html = jstr(item, "content_html");
	const char *text = jstr(item, "content_text");
	if (text) {
		char *t = feed_collapse_space(text);
		owned[n_owned++] = t;
		it->content = t;
		fe.content_type = "text/plain";
	} else if (html) {
		char *t = feed_html_to_text(html, strlen(html));
		owned[n_owned++] = t;
		it->content = t && *t ? t : NULL;
	}
	if (html) {
		fe.content_html = html;
		fe.content_type = "text/html";
		fields[n_fields++] = (struct vigil_field){ .name = "content_html",
		                                           .type = VIGIL_FIELD_STRING, .string = html };
	}
	char *summary = feed_collapse_space(jstr(item, "summary"));
	owned[n_owned++] = summary;
	it->summary = summary && *summary ? summary : NULL;

	it->published = feed_parse_date(jstr(item, "date_published"));
	it->updated = feed_parse_date(jstr(item, "date_modified"));
	it->lang = jstr(item, "language");
	if (!it->lang && head)
		it->lang = head->language;
	it->feed_title = head ? head->title : NULL;

	size_t n_authors = people(item, authors, author_uris, FEED_MAX_LIST, base);
	fe.authors = authors;
	fe.n_authors = n_authors;
	if (n_authors == 0 && head && head->n_authors) {
		fe.authors = head->authors;      /* the feed's authors are the items' */
		fe.n_authors = head->n_authors;
	}
	for (size_t i = 0; i < fe.n_authors; i++) {
		const char *who = fe.authors[i].name ? fe.authors[i].name : fe.authors[i].uri;
		if (!who)
			continue;
		if ((names.len && fbuf_adds(&names, ", ") < 0) || fbuf_adds(&names, who) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	it->author = names.p;

	const json_t *tags = json_object_get(item, "tags");
	size_t n_categories = 0;
	for (size_t i = 0; json_is_array(tags) && i < json_array_size(tags) &&
	     n_categories < FEED_MAX_LIST; i++) {
		const json_t *t = json_array_get(tags, i);
		if (json_is_string(t) && json_string_length(t) > 0)
			categories[n_categories++] = json_string_value(t);
	}
	it->categories = categories;
	it->n_categories = n_categories;

	const json_t *att = json_object_get(item, "attachments");
	for (size_t i = 0; json_is_array(att) && i < json_array_size(att) &&
	     n_enclosures < FEED_MAX_LIST; i++) {
		const json_t *a = json_array_get(att, i);
		if (!json_is_object(a))
			continue;
		char *href = feed_resolve_url(jstr(a, "url"), base);
		if (!href)
			continue;
		owned[n_owned++] = href;
		const json_t *size = json_object_get(a, "size_in_bytes");
		enclosures[n_enclosures++] = (struct feed_link){
			.href = href, .rel = "enclosure", .type = jstr(a, "mime_type"),
			.title = jstr(a, "title"),
			.length = json_is_integer(size) && json_integer_value(size) >= 0 ?
			          (int64_t)json_integer_value(size) : -1,
		};
	}
	fe.enclosures = enclosures;
	fe.n_enclosures = n_enclosures;
	if (n_enclosures) {
		fields[n_fields++] = (struct vigil_field){ .name = "enclosure_url",
		        .type = VIGIL_FIELD_STRING, .string = enclosures[0].href };
		if (enclosures[0].type)
			fields[n_fields++] = (struct vigil_field){ .name = "enclosure_type",
			        .type = VIGIL_FIELD_STRING, .string = enclosures[0].type };
	}
	it->fields = fields;
	it->n_fields = n_fields;

	res->n_entries++;
	if (cb && cb->entry)
		rc = cb->entry(userdata, head, &fe);
out:
	fbuf_reset(&names);
	free_all(owned, n_owned);
	free_all(author_uris, n_authors);
	(void)opt;
	return rc;
}

int feed_parse_json(const char *utf8, size_t len, const struct feed_options *opt,
                    const struct feed_callbacks *cb, void *userdata, struct feed_result *res)
{
	json_error_t jerr;
	json_t *root = json_loadb(utf8, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		res->not_feed = true;
		feed_error(res, "not a feed: not valid JSON: %s (line %d)", jerr.text, jerr.line);
		return -EBADMSG;
	}
	int rc = 0;
	const char *version = json_is_object(root) ? jstr(root, "version") : NULL;
	/* The spec's URL; some write the bare number ("1.0", "1.1"), as gofeed accepts. */
	bool bare = version && (!strcmp(version, "1") || !strcmp(version, "1.0") ||
	                        !strcmp(version, "1.1"));
	if (!version || (!bare && strncmp(version, "https://jsonfeed.org/version/", 29) &&
	                 strncmp(version, "http://jsonfeed.org/version/", 28))) {
		res->not_feed = true;
		feed_error(res, "not a feed: JSON, but not a JSON Feed (no \"version\": "
		           "\"https://jsonfeed.org/version/1.1\")");
		json_decref(root);
		return -EBADMSG;
	}
	const char *v = bare ? version : strrchr(version, '/') + 1;
	res->format = !strcmp(v, "1") || !strcmp(v, "1.0") ? FEED_JSON10 : FEED_JSON11;

	/* Links resolve against the document's URL, else the feed_url it names. */
	const char *base = opt->base_url;
	const char *feed_url = jstr(root, "feed_url");
	if (!base || !*base)
		base = feed_url;

	struct feed_person authors[FEED_MAX_LIST];
	char *author_uris[FEED_MAX_LIST];
	size_t n_authors = people(root, authors, author_uris, FEED_MAX_LIST, base);
	char *title = feed_trim(jstr(root, "title"));
	char *subtitle = feed_collapse_space(jstr(root, "description"));
	char *link = feed_resolve_url(jstr(root, "home_page_url"), base);
	char *icon = feed_resolve_url(jstr(root, "icon") ? jstr(root, "icon") :
	                              jstr(root, "favicon"), base);
	struct feed_head head = {
		.format = res->format,
		.title = title && *title ? title : NULL,
		.subtitle = subtitle && *subtitle ? subtitle : NULL,
		.link = link,
		.id = feed_url,
		.language = jstr(root, "language"),
		.updated = VIGIL_TIME_NONE,
		.authors = authors,
		.n_authors = n_authors,
		.icon = icon,
	};
	if (cb && cb->head)
		rc = cb->head(userdata, &head);

	const json_t *items = json_object_get(root, "items");
	if (rc >= 0 && !json_is_array(items)) {
		res->bozo = true;
		feed_error(res, "a JSON Feed without an \"items\" array");
	}
	for (size_t i = 0; rc >= 0 && json_is_array(items) && i < json_array_size(items); i++) {
		const json_t *item = json_array_get(items, i);
		if (!json_is_object(item)) {
			res->bozo = true;
			feed_error(res, "item %zu is not an object", i);
			continue;
		}
		rc = json_item(item, opt, base, &head, cb, userdata, res);
		if (rc >= 0 && opt->max_items && res->n_entries >= opt->max_items)
			break;
	}
	if (rc < 0 && !res->error[0])
		feed_error(res, "stopped");
	free(title);
	free(subtitle);
	free(link);
	free(icon);
	free_all(author_uris, n_authors);
	json_decref(root);
	return rc < 0 ? rc : 0;
}
