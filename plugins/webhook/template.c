/* template.c - user body templates: JSON text with {{field}} placeholders, checked at create() */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "webhook-private.h"

/* A template is a small document; a bigger file is the wrong file. */
#define MAX_TEMPLATE (256 * 1024)
#define FIELDS_PREFIX "item.fields."

enum placeholder {
	P_ID, P_RULE, P_SEVERITY, P_SOURCE, P_REASON, P_STORY_KEY, P_CREATED, P_ATTEMPT,
	P_IDEMPOTENCY_KEY, P_JSON,
	P_ITEM_ID, P_ITEM_TITLE, P_ITEM_SUMMARY, P_ITEM_CONTENT, P_ITEM_AUTHOR, P_ITEM_LINK,
	P_ITEM_LANG, P_ITEM_FEED_TITLE, P_ITEM_PUBLISHED, P_ITEM_UPDATED, P_ITEM_CATEGORIES,
	P_ITEM_FIELD,                /* item.fields.NAME */
	P_TEXT,                      /* not a placeholder: literal text */
};

static const char *const names[] = {
	[P_ID] = "id", [P_RULE] = "rule", [P_SEVERITY] = "severity", [P_SOURCE] = "source",
	[P_REASON] = "reason", [P_STORY_KEY] = "story_key", [P_CREATED] = "created",
	[P_ATTEMPT] = "attempt", [P_IDEMPOTENCY_KEY] = "idempotency_key", [P_JSON] = "json",
	[P_ITEM_ID] = "item.id", [P_ITEM_TITLE] = "item.title", [P_ITEM_SUMMARY] = "item.summary",
	[P_ITEM_CONTENT] = "item.content", [P_ITEM_AUTHOR] = "item.author",
	[P_ITEM_LINK] = "item.link", [P_ITEM_LANG] = "item.lang",
	[P_ITEM_FEED_TITLE] = "item.feed_title", [P_ITEM_PUBLISHED] = "item.published",
	[P_ITEM_UPDATED] = "item.updated", [P_ITEM_CATEGORIES] = "item.categories",
};
#define N_NAMES (sizeof names / sizeof names[0])

struct segment {
	enum placeholder kind;
	char *text;                  /* P_TEXT: the literal; P_ITEM_FIELD: the field name */
	size_t len;
};

struct wh_template {
	struct segment *seg;
	size_t n;
};

void wh_template_free(struct wh_template *tpl)
{
	if (!tpl)
		return;
	for (size_t i = 0; i < tpl->n; i++)
		free(tpl->seg[i].text);
	free(tpl->seg);
	free(tpl);
}

static int add_segment(struct wh_template *tpl, enum placeholder kind, const char *text,
                       size_t len)
{
	struct segment *seg = realloc(tpl->seg, (tpl->n + 1) * sizeof *seg);
	if (!seg)
		return -ENOMEM;
	tpl->seg = seg;
	char *copy = text ? strndup(text, len) : NULL;
	if (text && !copy)
		return -ENOMEM;
	tpl->seg[tpl->n++] = (struct segment){ .kind = kind, .text = copy, .len = len };
	return 0;
}

/* The line and column (1-based, in characters) of byte `at` in `doc`. */
static void position(const char *doc, size_t at, int *line, int *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < at; i++) {
		if (doc[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if (((unsigned char)doc[i] & 0xC0) != 0x80) {
			(*column)++;
		}
	}
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* The placeholder called name[0..len), or -1. */
static int lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < N_NAMES; i++)
		if (names[i] && strlen(names[i]) == len && !strncmp(names[i], name, len))
			return (int)i;
	size_t plen = strlen(FIELDS_PREFIX);
	if (len > plen && !strncmp(name, FIELDS_PREFIX, plen))
		return P_ITEM_FIELD;
	return -1;
}

/*
 * Split doc into literal text and placeholders. 0, or -EINVAL after
 * logging path:line:column and what is wrong, or -ENOMEM.
 */
static int parse(const struct vigil_host *host, const char *path, const char *doc,
                 struct wh_template *tpl)
{
	size_t i = 0, text_start = 0, n = strlen(doc);
	int line, column;

	while (i < n) {
		if (doc[i] != '{' || doc[i + 1] != '{') {
			i++;
			continue;
		}
		size_t open = i;
		size_t p = i + 2;
		while (doc[p] == ' ' || doc[p] == '\t')
			p++;
		size_t name_start = p;
		while (is_name_char(doc[p]))
			p++;
		size_t name_len = p - name_start;
		while (doc[p] == ' ' || doc[p] == '\t')
			p++;
		if (doc[p] != '}' || doc[p + 1] != '}') {
			position(doc, open, &line, &column);
			host->log(host->inst, VIGIL_LOG_ERROR, "%s:%d:%d: `{{` without a closing `}}` "
			          "after a field name (write {{item.title}}; there is no other use "
			          "of `{{`)", path, line, column);
			return -EINVAL;
		}
		int kind = lookup(doc + name_start, name_len);
		if (kind < 0) {
			position(doc, open, &line, &column);
			host->log(host->inst, VIGIL_LOG_ERROR, "%s:%d:%d: unknown placeholder {{%.*s}} "
			          "(known: id, rule, severity, source, reason, story_key, created, "
			          "attempt, idempotency_key, json, item.id, item.title, item.summary, "
			          "item.content, item.author, item.link, item.lang, item.feed_title, "
			          "item.published, item.updated, item.categories, item.fields.NAME)",
			          path, line, column, (int)name_len, doc + name_start);
			return -EINVAL;
		}
		if (open > text_start && add_segment(tpl, P_TEXT, doc + text_start,
		                                     open - text_start) < 0)
			return -ENOMEM;
		size_t plen = strlen(FIELDS_PREFIX);
		if (kind == P_ITEM_FIELD
		    ? add_segment(tpl, P_ITEM_FIELD, doc + name_start + plen, name_len - plen) < 0
		    : add_segment(tpl, (enum placeholder)kind, NULL, 0) < 0)
			return -ENOMEM;
		i = p + 2;
		text_start = i;
	}
	if (n > text_start && add_segment(tpl, P_TEXT, doc + text_start, n - text_start) < 0)
		return -ENOMEM;
	return 0;
}

/* The value of placeholder seg for v ("" when absent). */
static const char *value_of(const struct segment *seg, const struct wh_view *v)
{
	const char *s = NULL;
	switch (seg->kind) {
	case P_ID: s = v->id; break;
	case P_RULE: s = v->rule; break;
	case P_SEVERITY: s = v->severity; break;
	case P_SOURCE: s = v->source; break;
	case P_REASON: s = v->reason; break;
	case P_STORY_KEY: s = v->story_key; break;
	case P_CREATED: s = v->created; break;
	case P_ATTEMPT: s = v->attempt; break;
	case P_IDEMPOTENCY_KEY: s = v->idempotency_key; break;
	case P_JSON: s = v->json; break;
	case P_ITEM_ID: s = v->item_id; break;
	case P_ITEM_TITLE: s = v->title; break;
	case P_ITEM_SUMMARY: s = v->summary; break;
	case P_ITEM_CONTENT: s = v->content; break;
	case P_ITEM_AUTHOR: s = v->author; break;
	case P_ITEM_LINK: s = v->link; break;
	case P_ITEM_LANG: s = v->lang; break;
	case P_ITEM_FEED_TITLE: s = v->feed_title; break;
	case P_ITEM_PUBLISHED: s = v->published; break;
	case P_ITEM_UPDATED: s = v->updated; break;
	case P_ITEM_CATEGORIES: s = v->categories; break;
	case P_ITEM_FIELD:
		for (size_t i = 0; i < v->n_fields; i++)
			if (!strcmp(v->field_names[i], seg->text))
				s = v->field_values[i];
		break;
	case P_TEXT: s = seg->text; break;
	}
	return s ? s : "";
}

/* Append n bytes to the growing buffer; false when out of memory. */
static bool grow(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 1024;
		while (c < *len + n + 1)
			c *= 2;
		char *b = realloc(*buf, c);
		if (!b)
			return false;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

char *wh_template_render(const struct wh_template *tpl, const struct wh_view *v, size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	bool ok = grow(&buf, &n, &cap, "", 0);

	for (size_t i = 0; ok && i < tpl->n; i++) {
		const struct segment *seg = &tpl->seg[i];
		if (seg->kind == P_TEXT) {
			ok = grow(&buf, &n, &cap, seg->text, seg->len);
			continue;
		}
		const char *value = value_of(seg, v);
		if (seg->kind == P_JSON) {
			/* The alert object itself, unescaped: a JSON value in its own right. */
			ok = grow(&buf, &n, &cap, *value ? value : "null", *value ? strlen(value) : 4);
			continue;
		}
		/* The value as the inside of a JSON string, escaped by jansson. */
		json_t *js = json_string(value);
		char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		json_decref(js);
		if (quoted && strlen(quoted) >= 2)
			ok = grow(&buf, &n, &cap, quoted + 1, strlen(quoted) - 2);
		else
			ok = false;
		free(quoted);
	}
	if (!ok) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Render with sample values: a template whose output is not JSON is refused now. */
static int check_renders(const struct vigil_host *host, const char *path,
                         const struct wh_template *tpl)
{
	static const char *const sample_fields[] = { "sample" };
	struct vigil_alert alert = { .size = sizeof alert, .created = 0, .attempt = 1 };
	struct wh_view v = {
		.alert = &alert, .rule = "sample", .severity = "normal", .source = "sample",
		.reason = "sample", .story_key = "sample", .json = "{\"version\":1}",
		.idempotency_key = "msg_sample", .item_id = "sample", .title = "sample",
		.summary = "sample", .content = "sample", .author = "sample", .link = "sample",
		.lang = "sample", .feed_title = "sample", .categories = "sample",
		.created = "1970-01-01T00:00:00Z", .published = "1970-01-01T00:00:00Z",
		.updated = "1970-01-01T00:00:00Z", .id = "1", .attempt = "1",
		.field_names = (char **)sample_fields, .field_values = (char **)sample_fields,
		.n_fields = 1,
	};
	size_t len;
	char *text = wh_template_render(tpl, &v, &len);
	if (!text)
		return -ENOMEM;
	json_error_t err;
	json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &err);
	free(text);
	if (!doc) {
		host->log(host->inst, VIGIL_LOG_ERROR, "%s: the template does not render to JSON "
		          "(%s); placeholders belong inside quoted strings, except {{json}}, {{id}} "
		          "and {{attempt}}", path, err.text);
		return -EINVAL;
	}
	json_decref(doc);
	return 0;
}

int wh_template_load(const struct vigil_host *host, const char *path, struct wh_template **out)
{
	FILE *f = fopen(path, "rbe");
	if (!f) {
		int err = -errno;
		host->log(host->inst, VIGIL_LOG_ERROR, "template %s: cannot read it: %s", path,
		          strerror(-err));
		return err;
	}
	char *doc = malloc(MAX_TEMPLATE + 1);
	size_t n = doc ? fread(doc, 1, MAX_TEMPLATE + 1, f) : 0;
	bool read_error = ferror(f);
	fclose(f);
	if (!doc)
		return -ENOMEM;
	int err = 0;
	if (read_error) {
		err = -EIO;
		host->log(host->inst, VIGIL_LOG_ERROR, "template %s: read error", path);
	} else if (n > MAX_TEMPLATE) {
		err = -EFBIG;
		host->log(host->inst, VIGIL_LOG_ERROR, "template %s: larger than %d bytes", path,
		          MAX_TEMPLATE);
	} else if (memchr(doc, '\0', n)) {
		err = -EINVAL;
		host->log(host->inst, VIGIL_LOG_ERROR, "template %s: contains a NUL byte", path);
	}
	if (err) {
		free(doc);
		return err;
	}
	doc[n] = '\0';

	struct wh_template *tpl = calloc(1, sizeof *tpl);
	if (!tpl) {
		free(doc);
		return -ENOMEM;
	}
	err = parse(host, path, doc, tpl);
	free(doc);
	if (!err)
		err = check_renders(host, path, tpl);
	if (err) {
		if (err == -ENOMEM)
			host->log(host->inst, VIGIL_LOG_ERROR, "template %s: out of memory", path);
		wh_template_free(tpl);
		return err;
	}
	*out = tpl;
	return 0;
}
