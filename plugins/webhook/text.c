/* text.c - UTF-8 repair, length limits counted in characters, Slack escaping, redaction */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook-private.h"

static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */
static const char ellipsis[] = "\xE2\x80\xA6";      /* U+2026 */

/*
 * Length of the well-formed UTF-8 sequence at s (1-4), or 0 when s starts
 * an ill-formed one; then *bad is the length of its maximal subpart (the
 * bytes to replace by one U+FFFD, as Unicode recommends).
 */
static size_t sequence_length(const unsigned char *s, size_t *bad)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */

	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;           /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F;           /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;           /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	for (size_t i = 1; i < need; i++) {
		unsigned char b = s[i];  /* the NUL terminator fails every range */
		unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
		if (b < l || b > h) {
			*bad = i;
			return 0;
		}
	}
	return need;
}

char *wh_utf8_repair(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	/* Each bad byte becomes at most three: room for the worst case. */
	char *out = malloc(n * 3 + 1);
	if (!out) {
		if (oom)
			*oom = true;
		return NULL;
	}
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	while (*p) {
		size_t bad;
		size_t len = sequence_length(p, &bad);
		if (len) {
			memcpy(out + o, p, len);
			o += len;
			p += len;
		} else {
			memcpy(out + o, replacement, 3);
			o += 3;
			p += bad;
		}
	}
	out[o] = '\0';
	return out;
}

/* UTF-16 code units of the (valid) sequence starting with lead byte c. */
static size_t units_of(unsigned char c)
{
	return c >= 0xF0 ? 2 : 1;
}

static int is_lead(unsigned char c)
{
	return (c & 0xC0) != 0x80;
}

size_t wh_text_units(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (is_lead(*p))
			n += units_of(*p);
	return n;
}

char *wh_truncate(const char *s, size_t max_units)
{
	if (wh_text_units(s) <= max_units)
		return strdup(s);
	if (max_units == 0)
		return strdup("");
	/* Keep max_units - 1 units and add the ellipsis (one unit). */
	size_t budget = max_units - 1, used = 0, cut = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; p[i]; i++) {
		if (!is_lead(p[i]))
			continue;
		if (used + units_of(p[i]) > budget)
			break;
		used += units_of(p[i]);
		/* The sequence ends where the next lead byte (or the end) is. */
		size_t j = i + 1;
		while (p[j] && !is_lead(p[j]))
			j++;
		cut = j;
	}
	char *out = malloc(cut + sizeof ellipsis);
	if (!out)
		return NULL;
	memcpy(out, s, cut);
	memcpy(out + cut, ellipsis, sizeof ellipsis);
	return out;
}

char *wh_slack_escape(const char *s)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	char *o = out;
	for (const char *p = s; *p; p++) {
		const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
		if (rep) {
			size_t l = strlen(rep);
			memcpy(o, rep, l);
			o += l;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Replace each occurrence of `secret` in buf (size len) by "[redacted]". */
static void redact_one(char *buf, size_t len, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t slen = strlen(secret);
	char *out = malloc(len);
	if (!out) {
		/* No room to rewrite: drop the text rather than risk showing a secret. */
		if (strstr(buf, secret))
			snprintf(buf, len, "%s", mark);
		return;
	}
	size_t o = 0;
	const char *p = buf;
	while (*p && o + 1 < len) {
		if (!strncmp(p, secret, slen)) {
			for (size_t i = 0; mark[i] && o + 1 < len; i++)
				out[o++] = mark[i];
			p += slen;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	memcpy(buf, out, o + 1);
	free(out);
}

void wh_redact(char *buf, size_t len, const char *const *secrets, size_t n)
{
	if (!buf || !len)
		return;
	for (size_t i = 0; i < n; i++)
		if (secrets[i] && strlen(secrets[i]) >= 4 && strstr(buf, secrets[i]))
			redact_one(buf, len, secrets[i]);
}
