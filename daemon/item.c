/* item.c - owned copies of items, their keys, and their JSON form */
#include "item.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Does the plugin's struct (of size `size`) contain `member`? Plugins built
 * against an older minor pass a shorter struct; newer members read as unset. */
#define HAS_MEMBER(size, type, member) \
	((size) >= offsetof(type, member) + sizeof(((type *)0)->member))

/*
 * Copy text, replacing every invalid UTF-8 sequence with U+FFFD so nothing
 * downstream (SQLite, JSON, sinks) ever sees broken text. Hand-written:
 * utf8proc (used by normalize.c) only reports invalid sequences, it has no
 * call that replaces them.
 */
static char *utf8_sanitized(const char *s)
{
	if (!s)
		return NULL;
	size_t len = strlen(s);
	char *out = xmalloc(len * 3 + 1);
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		size_t n = 0;
		unsigned cp = 0;
		if (c < 0x80) {
			out[o++] = (char)c;
			p++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		}
		size_t i;
		for (i = 1; n && i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		bool ok = n && i == n + 1 &&
			!(n == 2 && cp < 0x800) && !(n == 3 && (cp < 0x10000 || cp > 0x10ffff)) &&
			!(cp >= 0xd800 && cp <= 0xdfff);
		if (ok) {
			memcpy(out + o, p, n + 1);
			o += n + 1;
			p += n + 1;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	out[o] = '\0';
	return out;
}

struct owned_item *item_copy(const struct vigil_item *src)
{
	struct owned_item *it = xcalloc(1, sizeof *it);
	struct vigil_item *d = &it->item;
	size_t size = src->size;
	d->size = sizeof *d;
	d->published = VIGIL_TIME_NONE;
	d->updated = VIGIL_TIME_NONE;

#define COPY_TEXT(m) if (HAS_MEMBER(size, struct vigil_item, m)) d->m = utf8_sanitized(src->m)
	COPY_TEXT(id);
	COPY_TEXT(title);
	COPY_TEXT(summary);
	COPY_TEXT(content);
	COPY_TEXT(author);
	COPY_TEXT(link);
	COPY_TEXT(lang);
	COPY_TEXT(feed_title);
#undef COPY_TEXT
	if (HAS_MEMBER(size, struct vigil_item, n_categories) && src->categories) {
		char **cats = xcalloc(src->n_categories, sizeof *cats);
		size_t n = 0;
		for (size_t i = 0; i < src->n_categories; i++)
			if (src->categories[i])
				cats[n++] = utf8_sanitized(src->categories[i]);
		d->categories = (const char *const *)cats;
		d->n_categories = n;
	}
	if (HAS_MEMBER(size, struct vigil_item, updated)) {
		d->published = src->published;
		d->updated = src->updated;
	}
	if (HAS_MEMBER(size, struct vigil_item, n_fields) && src->fields) {
		struct vigil_field *f = xcalloc(src->n_fields, sizeof *f);
		size_t n = 0;
		for (size_t i = 0; i < src->n_fields; i++) {
			const struct vigil_field *s = &src->fields[i];
			if (!s->name || (s->type != VIGIL_FIELD_STRING && s->type != VIGIL_FIELD_NUMBER))
				continue;
			f[n].name = utf8_sanitized(s->name);
			f[n].type = s->type;
			if (s->type == VIGIL_FIELD_STRING)
				f[n].string = utf8_sanitized(s->string ? s->string : "");
			else
				f[n].number = s->number;
			n++;
		}
		d->fields = f;
		d->n_fields = n;
	}
	return it;
}

void item_free(struct owned_item *it)
{
	if (!it)
		return;
	struct vigil_item *d = &it->item;
	free((char *)d->id);
	free((char *)d->title);
	free((char *)d->summary);
	free((char *)d->content);
	free((char *)d->author);
	free((char *)d->link);
	free((char *)d->lang);
	free((char *)d->feed_title);
	for (size_t i = 0; i < d->n_categories; i++)
		free((char *)d->categories[i]);
	free((void *)d->categories);
	for (size_t i = 0; i < d->n_fields; i++) {
		free((char *)d->fields[i].name);
		free((char *)d->fields[i].string);
	}
	free((void *)d->fields);
	free(it);
}

static bool has_text(const char *s)
{
	if (!s)
		return false;
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return true;
	return false;
}

char *item_key(const struct vigil_item *item)
{
	if (has_text(item->id))
		return xstrdup(item->id);
	if (has_text(item->link))
		return xstrdup(item->link);
	uint64_t h = FNV64_SEED;
	const char *title = item->title ? item->title : "";
	h = fnv64(h, title, strlen(title) + 1);
	h = fnv64(h, &item->published, sizeof item->published);
	return xasprintf("h:%016llx", (unsigned long long)h);
}

const char *time_format_rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%s", "");
	return buf;
}

int time_parse_rfc3339(const char *text, int64_t *out)
{
	int y, mo, d, h, mi, s, n = 0;
	if (!text || sscanf(text, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6)
		return -EINVAL;
	const char *p = text + n;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	int offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
			return -EINVAL;
		offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -EINVAL;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	                 .tm_hour = h, .tm_min = mi, .tm_sec = s };
	*out = (int64_t)timegm(&tm) - offset;
	return 0;
}

static void set_text(json_t *obj, const char *key, const char *value)
{
	if (value)
		json_object_set_new(obj, key, json_string(value));
}

static void set_time(json_t *obj, const char *key, int64_t t)
{
	char buf[32];
	if (t != VIGIL_TIME_NONE)
		json_object_set_new(obj, key, json_string(time_format_rfc3339(t, buf, sizeof buf)));
}

json_t *item_to_json(const struct vigil_item *item)
{
	json_t *o = json_object();
	set_text(o, "id", item->id);
	set_text(o, "title", item->title);
	set_text(o, "link", item->link);
	set_time(o, "published", item->published);
	set_time(o, "updated", item->updated);
	set_text(o, "summary", item->summary);
	set_text(o, "content", item->content);
	set_text(o, "author", item->author);
	set_text(o, "lang", item->lang);
	set_text(o, "feed_title", item->feed_title);
	if (item->n_categories) {
		json_t *a = json_array();
		for (size_t i = 0; i < item->n_categories; i++)
			json_array_append_new(a, json_string(item->categories[i]));
		json_object_set_new(o, "categories", a);
	}
	if (item->n_fields) {
		json_t *f = json_object();
		for (size_t i = 0; i < item->n_fields; i++) {
			const struct vigil_field *fd = &item->fields[i];
			json_object_set_new(f, fd->name, fd->type == VIGIL_FIELD_NUMBER ?
			                    json_real(fd->number) : json_string(fd->string));
		}
		json_object_set_new(o, "fields", f);
	}
	return o;
}

static const char *get_text(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int64_t get_time(const json_t *o, const char *key)
{
	int64_t t;
	if (time_parse_rfc3339(get_text(o, key), &t) < 0)
		return VIGIL_TIME_NONE;
	return t;
}

struct owned_item *item_from_json(const json_t *o)
{
	if (!json_is_object(o))
		return NULL;
	struct vigil_item it = VIGIL_ITEM_INIT;
	it.id = get_text(o, "id");
	it.title = get_text(o, "title");
	it.link = get_text(o, "link");
	it.summary = get_text(o, "summary");
	it.content = get_text(o, "content");
	it.author = get_text(o, "author");
	it.lang = get_text(o, "lang");
	it.feed_title = get_text(o, "feed_title");
	it.published = get_time(o, "published");
	it.updated = get_time(o, "updated");

	const json_t *cats = json_object_get(o, "categories");
	size_t ncat = json_array_size(cats);
	const char **cat = xcalloc(ncat, sizeof *cat);
	for (size_t i = 0; i < ncat; i++)
		cat[i] = json_string_value(json_array_get(cats, i));
	it.categories = cat;
	it.n_categories = ncat;

	const json_t *fields = json_object_get(o, "fields");
	size_t nf = json_object_size(fields);
	struct vigil_field *f = xcalloc(nf, sizeof *f);
	const char *k;
	json_t *v;
	size_t n = 0;
	json_object_foreach((json_t *)fields, k, v) {
		f[n].name = k;
		if (json_is_number(v)) {
			f[n].type = VIGIL_FIELD_NUMBER;
			f[n].number = json_number_value(v);
		} else {
			f[n].type = VIGIL_FIELD_STRING;
			f[n].string = json_string_value(v);
		}
		n++;
	}
	it.fields = f;
	it.n_fields = n;

	struct owned_item *copy = item_copy(&it);
	free(cat);
	free(f);
	return copy;
}
