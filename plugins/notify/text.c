/* text.c - what a desktop notification of an alert says: summary, body, urgency, icon */
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char ELLIPSIS[] = "\xe2\x80\xa6";     /* … */
static const char MIDDLE_DOT[] = " \xc2\xb7 ";      /* " · " */

/* A growing string; on allocation failure `failed` is set and it stops growing. */
struct buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The string, or NULL after a failure (everything freed). */
static char *buf_finish(struct buf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		buf_add(b, "", 0);
	return b->failed ? NULL : b->s;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Append `s` with every run of white space as one space, without leading or
 * trailing space, cut after `max` characters (UTF-8 code points) with "…".
 */
static void buf_squeezed(struct buf *b, const char *s, size_t max)
{
	size_t chars = 0;
	bool pending_space = false;
	const unsigned char *p = (const unsigned char *)s;
	while (*p && is_space(*p))
		p++;
	while (*p) {
		if (is_space(*p)) {
			pending_space = true;
			p++;
			continue;
		}
		size_t n = 1;
		while (p[n] && (p[n] & 0xC0) == 0x80)
			n++;
		if (chars + (pending_space ? 1 : 0) + 1 > max) {
			buf_str(b, ELLIPSIS);
			return;
		}
		if (pending_space) {
			buf_add(b, " ", 1);
			chars++;
			pending_space = false;
		}
		buf_add(b, (const char *)p, n);
		chars++;
		p += n;
	}
}

/* Append `s` with &, < and > as entities. */
static void buf_escaped(struct buf *b, const char *s)
{
	const char *run = s;
	for (const char *p = s; *p; p++) {
		const char *entity = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
		if (!entity)
			continue;
		buf_add(b, run, (size_t)(p - run));
		buf_str(b, entity);
		run = p + 1;
	}
	buf_str(b, run);
}

static bool has_text(const char *s)
{
	if (!s)
		return false;
	for (; *s; s++)
		if (!is_space((unsigned char)*s))
			return true;
	return false;
}

enum text_urgency text_urgency(const char *severity)
{
	if (severity && strcmp(severity, "low") == 0)
		return TEXT_URGENCY_LOW;
	if (severity && strcmp(severity, "critical") == 0)
		return TEXT_URGENCY_CRITICAL;
	return TEXT_URGENCY_NORMAL;
}

const char *text_default_icon(const char *severity)
{
	if (severity && (strcmp(severity, "high") == 0 || strcmp(severity, "critical") == 0))
		return "dialog-warning";
	return "dialog-information";
}

char *text_summary(const struct vigil_alert *alert)
{
	const struct vigil_item *item = alert->item;
	const char *what = NULL;
	if (item && has_text(item->title))
		what = item->title;
	else if (item && has_text(item->link))
		what = item->link;

	struct buf b = { 0 };
	struct buf line = { 0 };
	buf_str(&line, has_text(alert->rule) ? alert->rule : "alert");
	if (what) {
		buf_str(&line, ": ");
		buf_str(&line, what);
	}
	char *whole = buf_finish(&line);
	if (!whole)
		return NULL;
	buf_squeezed(&b, whole, TEXT_MAX_SUMMARY);
	free(whole);
	return buf_finish(&b);
}

char *text_excerpt(const struct vigil_alert *alert)
{
	const struct vigil_item *item = alert->item;
	if (!item || !has_text(item->summary))
		return NULL;
	struct buf b = { 0 };
	buf_squeezed(&b, item->summary, TEXT_MAX_EXCERPT);
	return buf_finish(&b);
}

char *text_meta(const struct vigil_alert *alert)
{
	int64_t when = alert->created;
	if (alert->item && alert->item->published != VIGIL_TIME_NONE)
		when = alert->item->published;

	char stamp[64] = "";
	time_t t = (time_t)when;
	struct tm tm;
	if ((int64_t)t == when && localtime_r(&t, &tm))
		strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M", &tm);

	struct buf b = { 0 };
	if (has_text(alert->source))
		buf_str(&b, alert->source);
	if (*stamp) {
		if (b.len)
			buf_str(&b, MIDDLE_DOT);
		buf_str(&b, stamp);
	}
	return buf_finish(&b);
}

char *text_body(const char *excerpt, const char *meta, const char *link, bool markup)
{
	const char *parts[] = { excerpt, meta, link };
	struct buf b = { 0 };
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (!has_text(parts[i]))
			continue;
		if (b.len)
			buf_add(&b, "\n", 1);
		if (markup)
			buf_escaped(&b, parts[i]);
		else
			buf_str(&b, parts[i]);
	}
	return buf_finish(&b);
}
