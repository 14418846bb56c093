/* format.c - request bodies: vigil's alert JSON, Slack, Discord, ntfy, user templates */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "webhook-private.h"

/*
 * Limits of the receivers, in characters (counted as UTF-16 code units,
 * which is never fewer than what they count).
 * Slack: section and context text 3000; top-level text is shown in
 * notifications, kept to the same.
 * Discord: content 2000; embed title 256, description 4096, field name 256,
 * field value 1024, footer 2048, 25 fields, 6000 over the whole embed.
 * ntfy: messages over 4096 bytes become attachments; we stay below.
 */
#define SLACK_TEXT 3000
#define SLACK_TITLE 250
#define SLACK_LINK_MAX 1000
#define SLACK_REASON 1000
#define DISCORD_CONTENT 2000
#define DISCORD_TITLE 256
#define DISCORD_DESCRIPTION 4096
#define DISCORD_FIELD_NAME 256
#define DISCORD_FIELD_VALUE 1024
#define DISCORD_FOOTER 2048
#define DISCORD_EMBED_TOTAL 6000
#define NTFY_TITLE 250
#define NTFY_MESSAGE_BYTES 4000

enum wh_format wh_format_parse(const char *name)
{
	static const struct {
		const char *name;
		enum wh_format format;
	} formats[] = {
		{ "json", WH_FORMAT_JSON },
		{ "slack", WH_FORMAT_SLACK },
		{ "discord", WH_FORMAT_DISCORD },
		{ "ntfy", WH_FORMAT_NTFY },
		{ "template", WH_FORMAT_TEMPLATE },
	};
	for (size_t i = 0; name && i < sizeof formats / sizeof formats[0]; i++)
		if (!strcmp(name, formats[i].name))
			return formats[i].format;
	return 0;
}

/* ---- building JSON without losing track of allocation failures ---- */

struct builder {
	bool oom;
};

/* Takes `value` (NULL: out of memory). */
static void put(struct builder *b, json_t *obj, const char *key, json_t *value)
{
	if (!value || !obj || json_object_set_new(obj, key, value) < 0)
		b->oom = true;
}

static void append(struct builder *b, json_t *arr, json_t *value)
{
	if (!value || !arr || json_array_append_new(arr, value) < 0)
		b->oom = true;
}

/* A JSON string of s (valid UTF-8), or NULL after noting the failure. */
static json_t *str(struct builder *b, const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (!j)
		b->oom = true;
	return j;
}

/* Takes `s` (malloc'd or NULL: out of memory). */
static json_t *str_take(struct builder *b, char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	if (!j)
		b->oom = true;
	return j;
}

static json_t *truncated(struct builder *b, const char *s, size_t max_units)
{
	return str_take(b, wh_truncate(s ? s : "", max_units));
}

/* The whole object as compact JSON, or NULL. Takes `root`. */
static char *finish(struct builder *b, json_t *root, size_t *len)
{
	char *text = NULL;
	if (root && !b->oom)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text)
		*len = strlen(text);
	return text;
}

/* ---- shared pieces ---- */

static bool is_web_link(const char *url)
{
	return url && (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8));
}

static const char *upper_severity(const char *severity)
{
	if (!strcmp(severity, "low"))
		return "LOW";
	if (!strcmp(severity, "high"))
		return "HIGH";
	if (!strcmp(severity, "critical"))
		return "CRITICAL";
	return "NORMAL";
}

/* "title" or, without one, the item id, else the rule. */
static const char *headline(const struct wh_view *v)
{
	if (v->title && *v->title)
		return v->title;
	if (v->item_id && *v->item_id)
		return v->item_id;
	return v->rule;
}

/* s printf'd into a malloc'd string, or NULL. */
static char *textf(const char *fmt, ...) VIGIL_PRINTF(1, 2);
static char *textf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

/* ---- json: vigil's own alert JSON, as the log sink writes it ---- */

static char *body_json(const struct wh_view *v, size_t *len, const char **why)
{
	json_t *check = v->json ? json_loads(v->json, 0, NULL) : NULL;
	bool ok = json_is_object(check);
	json_decref(check);
	if (!ok) {
		*why = "the alert has no valid JSON text";
		return NULL;
	}
	char *body = strdup(v->json);
	if (body)
		*len = strlen(body);
	return body;
}

/* ---- slack: text plus Block Kit (section, context) ---- */

/* "<url|label>" with Slack's escaping; a URL that is no web link, or too
 * long for a block, gives the label alone. Caller frees. */
static char *slack_link(const char *url, const char *label)
{
	char *esc_label = wh_slack_escape(label);
	if (!esc_label)
		return NULL;
	if (!is_web_link(url) || strlen(url) > SLACK_LINK_MAX)
		return esc_label;
	/* '|' and '>' would end the URL part; spaces cannot be in it. */
	size_t n = 0;
	for (const char *p = url; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>' || *p == '|' || *p == ' ') ? 3 : 1;
	char *esc_url = malloc(n + 1), *o = esc_url;
	if (!esc_url) {
		free(esc_label);
		return NULL;
	}
	for (const char *p = url; *p; p++) {
		if (*p == '&') {
			memcpy(o, "&amp;", 5);
			o += 5;
		} else if (*p == '<' || *p == '>' || *p == '|' || *p == ' ') {
			o += sprintf(o, "%%%02X", (unsigned char)*p);
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	char *out = textf("<%s|%s>", esc_url, esc_label);
	free(esc_url);
	free(esc_label);
	return out;
}

/* Escape then limit: an entity is never cut, since the limit applies to
 * the raw text before escaping grows it (at most 5x for '&'). */
static char *slack_text(const char *raw, size_t max_units)
{
	char *cut = wh_truncate(raw ? raw : "", max_units);
	if (!cut)
		return NULL;
	char *esc = wh_slack_escape(cut);
	free(cut);
	if (esc && wh_text_units(esc) > max_units) {
		/* Many '&<>': shorten the raw text until the escaped form fits. */
		size_t units = max_units / 5;
		free(esc);
		cut = wh_truncate(raw, units);
		esc = cut ? wh_slack_escape(cut) : NULL;
		free(cut);
	}
	return esc;
}

static json_t *slack_mrkdwn(struct builder *b, char *text)
{
	json_t *o = json_object();
	put(b, o, "type", str(b, "mrkdwn"));
	put(b, o, "text", str_take(b, text));
	return o;
}

static char *body_slack(const struct wh_view *v, size_t *len)
{
	struct builder b = { 0 };
	json_t *root = json_object();
	const char *sev = upper_severity(v->severity);

	/* Notifications and clients without blocks show `text`. */
	char *plain = textf("[%s] %s: %s", sev, v->rule, headline(v));
	put(&b, root, "text", str_take(&b, plain ? slack_text(plain, SLACK_TEXT) : NULL));
	free(plain);

	json_t *blocks = json_array();
	put(&b, root, "blocks", blocks);

	/* Section: the linked headline in bold, then the summary. */
	char *title = wh_truncate(headline(v), SLACK_TITLE);
	char *link = title ? slack_link(v->link, title) : NULL;
	free(title);
	char *summary = NULL;
	size_t used = link ? wh_text_units(link) + 8 : SLACK_TEXT;
	if (link && v->summary && *v->summary && used < SLACK_TEXT)
		summary = slack_text(v->summary, SLACK_TEXT - used);
	char *section_text = link ? textf("*%s*%s%s", link, summary ? "\n" : "",
	                                 summary ? summary : "") : NULL;
	free(link);
	free(summary);
	json_t *section = json_object();
	put(&b, section, "type", str(&b, "section"));
	put(&b, section, "text", slack_mrkdwn(&b, section_text));
	append(&b, blocks, section);

	/* Context: severity, rule, source, time, why. */
	json_t *context = json_object();
	json_t *elements = json_array();
	put(&b, context, "type", str(&b, "context"));
	put(&b, context, "elements", elements);
	char *rule = slack_text(v->rule, SLACK_TITLE);
	char *source = slack_text(v->source, SLACK_TITLE);
	append(&b, elements, slack_mrkdwn(&b, textf("*Severity:* %s", sev)));
	append(&b, elements, slack_mrkdwn(&b, rule ? textf("*Rule:* %s", rule) : NULL));
	append(&b, elements, slack_mrkdwn(&b, source ? textf("*Source:* %s", source) : NULL));
	free(rule);
	free(source);
	if (v->created[0])
		/* Slack shows the date in the reader's time zone; the fallback is UTC. */
		append(&b, elements, slack_mrkdwn(&b, textf("<!date^%lld^{date_short_pretty} {time}|%s>",
		                                            (long long)v->alert->created,
		                                            v->created)));
	if (v->reason && *v->reason) {
		char *why = slack_text(v->reason, SLACK_REASON);
		append(&b, elements, slack_mrkdwn(&b, why ? textf("*Why:* %s", why) : NULL));
		free(why);
	}
	append(&b, blocks, context);

	/* The story's other reports, when it came from several sources. */
	if (v->n_sources > 1) {
		char *line = strdup("*Also reported by:*");
		for (size_t i = 0; line && i < v->n_sources; i++) {
			char *one = slack_link(v->sources[i].link, v->sources[i].source);
			char *next = one ? textf("%s%s %s", line, i ? "," : "", one) : NULL;
			free(one);
			if (next && wh_text_units(next) > SLACK_TEXT) {
				free(next);
				break;
			}
			free(line);
			line = next;
		}
		json_t *more = json_object();
		json_t *els = json_array();
		put(&b, more, "type", str(&b, "context"));
		put(&b, more, "elements", els);
		append(&b, els, slack_mrkdwn(&b, line));
		append(&b, blocks, more);
	}
	return finish(&b, root, len);
}

/* ---- discord: content plus one embed ---- */

static int discord_color(const char *severity)
{
	if (!strcmp(severity, "low"))
		return 0x95A5A6;
	if (!strcmp(severity, "high"))
		return 0xE67E22;
	if (!strcmp(severity, "critical"))
		return 0xE74C3C;
	return 0x3498DB;
}

/* Add a field when value is not empty (Discord refuses empty ones); counts
 * what it adds to *total. Takes `value`. */
static void discord_field(struct builder *b, json_t *fields, const char *name, char *value,
                          bool inline_, size_t *total)
{
	if (!value) {
		b->oom = true;
		return;
	}
	if (!*value) {
		free(value);
		return;
	}
	char *v = wh_truncate(value, DISCORD_FIELD_VALUE);
	free(value);
	if (!v) {
		b->oom = true;
		return;
	}
	*total += wh_text_units(name) + wh_text_units(v);
	json_t *f = json_object();
	put(b, f, "name", str(b, name));
	put(b, f, "value", str_take(b, v));
	put(b, f, "inline", json_boolean(inline_));
	append(b, fields, f);
}

static char *body_discord(const struct wh_view *v, size_t *len)
{
	struct builder b = { 0 };
	json_t *root = json_object();
	const char *sev = upper_severity(v->severity);
	size_t total = 0;            /* characters in the embed, for the 6000 limit */

	char *content = textf("**[%s]** %s: %s", sev, v->rule, headline(v));
	put(&b, root, "content", str_take(&b, content ? wh_truncate(content, DISCORD_CONTENT)
	                                              : NULL));
	free(content);

	json_t *embed = json_object();
	char *title = wh_truncate(headline(v), DISCORD_TITLE);
	if (title)
		total += wh_text_units(title);
	put(&b, embed, "title", str_take(&b, title));
	if (is_web_link(v->link))
		put(&b, embed, "url", str(&b, v->link));
	put(&b, embed, "color", json_integer(discord_color(v->severity)));
	if (v->created[0])
		put(&b, embed, "timestamp", str(&b, v->created));

	json_t *fields = json_array();
	discord_field(&b, fields, "Rule", strdup(v->rule), true, &total);
	discord_field(&b, fields, "Severity", strdup(v->severity), true, &total);
	discord_field(&b, fields, "Source", strdup(v->source), true, &total);
	discord_field(&b, fields, "Why", strdup(v->reason ? v->reason : ""), false, &total);
	if (v->n_sources > 1) {
		/* Markdown links; brackets in names would break them, so they go. */
		char *list = strdup("");
		for (size_t i = 0; list && i < v->n_sources; i++) {
			const struct wh_source *s = &v->sources[i];
			char *next = is_web_link(s->link) && !strpbrk(s->source, "[]") &&
			             !strpbrk(s->link, "()")
			           ? textf("%s%s[%s](%s)", list, i ? ", " : "", s->source, s->link)
			           : textf("%s%s%s", list, i ? ", " : "", s->source);
			free(list);
			list = next;
		}
		discord_field(&b, fields, "Also reported by", list, false, &total);
	}
	put(&b, embed, "fields", fields);

	char *footer_text = textf("vigil \xC2\xB7 alert %s", v->id);
	if (footer_text)
		total += wh_text_units(footer_text);
	json_t *footer = json_object();
	put(&b, footer, "text", str_take(&b, footer_text));
	put(&b, embed, "footer", footer);

	/* The description gets what the 6000 characters of an embed leave. */
	if (v->summary && *v->summary && total < DISCORD_EMBED_TOTAL) {
		size_t room = DISCORD_EMBED_TOTAL - total;
		put(&b, embed, "description",
		    truncated(&b, v->summary, room < DISCORD_DESCRIPTION ? room : DISCORD_DESCRIPTION));
	}

	json_t *embeds = json_array();
	append(&b, embeds, embed);
	put(&b, root, "embeds", embeds);

	/* Feed text must never ping @everyone or anyone else. */
	json_t *mentions = json_object();
	put(&b, mentions, "parse", json_array());
	put(&b, root, "allowed_mentions", mentions);
	return finish(&b, root, len);
}

/* ---- ntfy: JSON publishing to the server's root URL ---- */

static int ntfy_priority(const char *severity)
{
	if (!strcmp(severity, "low"))
		return 2;
	if (!strcmp(severity, "high"))
		return 4;
	if (!strcmp(severity, "critical"))
		return 5;
	return 3;
}

/* A copy of s cut to at most max bytes at a character boundary. */
static char *cut_bytes(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

static char *body_ntfy(const struct wh_view *v, const char *topic, size_t *len)
{
	struct builder b = { 0 };
	json_t *root = json_object();

	put(&b, root, "topic", str(&b, topic));
	put(&b, root, "title", truncated(&b, headline(v), NTFY_TITLE));
	const char *text = v->summary && *v->summary ? v->summary : headline(v);
	char *message = textf("%s\n\n%s \xC2\xB7 %s%s%s", text, v->rule, v->source,
	                      v->reason && *v->reason ? "\n" : "", v->reason ? v->reason : "");
	put(&b, root, "message", str_take(&b, message ? cut_bytes(message, NTFY_MESSAGE_BYTES)
	                                              : NULL));
	free(message);
	put(&b, root, "priority", json_integer(ntfy_priority(v->severity)));
	json_t *tags = json_array();
	/* Tags that are emoji short codes show as emoji in the ntfy apps. */
	if (!strcmp(v->severity, "critical"))
		append(&b, tags, str(&b, "rotating_light"));
	else if (!strcmp(v->severity, "high"))
		append(&b, tags, str(&b, "warning"));
	append(&b, tags, str(&b, "vigil"));
	append(&b, tags, str(&b, v->severity));
	put(&b, root, "tags", tags);
	if (is_web_link(v->link))
		put(&b, root, "click", str(&b, v->link));
	return finish(&b, root, len);
}

/* ---- template ---- */

static char *body_template(const struct wh_view *v, const struct wh_template *tpl, size_t *len,
                           const char **why, bool *transient)
{
	char *body = wh_template_render(tpl, v, len);
	if (!body) {
		*why = "out of memory";
		*transient = true;
		return NULL;
	}
	json_error_t err;
	json_t *check = json_loadb(body, *len, JSON_DECODE_ANY, &err);
	if (!check) {
		free(body);
		*why = "the template rendered text that is not JSON";
		return NULL;
	}
	json_decref(check);
	return body;
}

char *wh_format_body(enum wh_format format, const struct wh_view *v, const char *topic,
                     const struct wh_template *tpl, size_t *len, const char **why,
                     bool *transient)
{
	char *body = NULL;
	*why = NULL;
	*transient = false;
	switch (format) {
	case WH_FORMAT_JSON:
		body = body_json(v, len, why);
		break;
	case WH_FORMAT_SLACK:
		body = body_slack(v, len);
		break;
	case WH_FORMAT_DISCORD:
		body = body_discord(v, len);
		break;
	case WH_FORMAT_NTFY:
		body = body_ntfy(v, topic ? topic : "", len);
		break;
	case WH_FORMAT_TEMPLATE:
		return body_template(v, tpl, len, why, transient);
	}
	if (!body && !*why) {
		*why = "out of memory";
		*transient = true;
	}
	return body;
}
