/* feed-date.c - feed dates to Unix seconds, UTC: RFC 822 and its sloppy variants, RFC 3339, W3C-DTF */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "feed.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds, or VIGIL_TIME_NONE for an impossible date or time. `offset` is
 * the zone's offset east of UTC in seconds. */
static int64_t make_time(int year, int month, int day, int hour, int min, int sec, int offset)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (year < 1000 || year > 9999 || month < 1 || month > 12 || day < 1)
		return VIGIL_TIME_NONE;
	if (day > mdays[month - 1] + (month == 2 && is_leap(year)))
		return VIGIL_TIME_NONE;
	/* 60 is a leap second, carried into the next minute. */
	if (hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60)
		return VIGIL_TIME_NONE;
	return days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
}

/* Read exactly n digits. */
static bool digits(const char **pp, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*pp)[i]))
			return false;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*out = v;
	return true;
}

/* A numeric zone "+hh:mm", "+hhmm" or "+hh" at p; the offset in seconds. */
static bool numeric_zone(const char **pp, int *offset)
{
	const char *p = *pp;
	if (*p != '+' && *p != '-')
		return false;
	int sign = *p == '-' ? -1 : 1;
	int h, m = 0;
	p++;
	if (!digits(&p, 2, &h)) {
		/* "+8" as some write it */
		if (!isdigit((unsigned char)*p) || isdigit((unsigned char)p[1]))
			return false;
		h = *p++ - '0';
	} else if (*p == ':') {
		p++;
		if (!digits(&p, 2, &m))
			return false;
	} else if (isdigit((unsigned char)*p)) {
		if (!digits(&p, 2, &m))
			return false;
	}
	if (h > 23 || m > 59)
		return false;
	*offset = sign * (h * 3600 + m * 60);
	*pp = p;
	return true;
}

/*
 * Named zones feeds write, in minutes east of UTC. North American names are
 * RFC 822's; the others are the ones seen in the wild whose meaning is not
 * in doubt (IST, and CST outside RFC 822, are ambiguous and not accepted).
 */
static bool zone_name(const char *word, int *offset)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
		{ "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 }, { "wet", 0 },
		{ "est", -300 }, { "edt", -240 }, { "cst", -360 }, { "cdt", -300 },
		{ "mst", -420 }, { "mdt", -360 }, { "pst", -480 }, { "pdt", -420 },
		{ "akst", -540 }, { "akdt", -480 }, { "hst", -600 }, { "ast", -240 },
		{ "adt", -180 }, { "nst", -210 }, { "ndt", -150 },
		{ "bst", 60 }, { "west", 60 }, { "cet", 60 }, { "cest", 120 }, { "met", 60 },
		{ "mest", 120 }, { "eet", 120 }, { "eest", 180 }, { "msk", 180 },
		{ "jst", 540 }, { "kst", 540 }, { "hkt", 480 }, { "sgt", 480 }, { "awst", 480 },
		{ "acst", 570 }, { "acdt", 630 }, { "aest", 600 }, { "aedt", 660 },
		{ "nzst", 720 }, { "nzdt", 780 },
	};
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		if (!strcasecmp(word, zones[i].name)) {
			*offset = zones[i].minutes * 60;
			return true;
		}
	}
	return false;
}

static int month_name(const char *word)
{
	static const char *const names[12] = {
		"january", "february", "march", "april", "may", "june", "july", "august",
		"september", "october", "november", "december",
	};
	size_t n = strlen(word);
	if (n < 3)
		return 0;
	for (int i = 0; i < 12; i++) {
		/* "Jan", "January", "Sept" (the first letter first: this runs for every date) */
		if ((word[0] | 0x20) == names[i][0] && !strncasecmp(word, names[i], n) &&
		    (n == 3 || n == strlen(names[i]) || (i == 8 && n == 4)))
			return i + 1;
	}
	return 0;
}

static bool weekday_name(const char *word)
{
	static const char *const names[7] = {
		"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
	};
	size_t n = strlen(word);
	if (n < 3)
		return false;
	for (int i = 0; i < 7; i++)
		if ((word[0] | 0x20) == names[i][0] && !strncasecmp(word, names[i], n) &&
		    (n == 3 || n == strlen(names[i]) ||
		     (n == 4 && (i == 1 || i == 3))))   /* "Tues", "Thur" */
			return true;
	return false;
}

/*
 * RFC 3339 and W3C-DTF: YYYY, YYYY-MM, YYYY-MM-DD, then (T or space)
 * hh:mm[:ss[.frac]] and a zone (Z, +hh:mm, +hhmm, +hh, " UTC"); the basic
 * form 20040105T151752Z too. A date without a time is midnight UTC; a time
 * without a zone is taken as UTC.
 */
static int64_t parse_iso(const char *p)
{
	int year, month = 1, day = 1, hour = 0, min = 0, sec = 0, offset = 0;
	bool basic = false;

	if (!digits(&p, 4, &year))
		return VIGIL_TIME_NONE;
	if (*p == '-') {
		p++;
		if (!digits(&p, 2, &month))
			return VIGIL_TIME_NONE;
		if (*p == '-') {
			p++;
			if (!digits(&p, 2, &day))
				return VIGIL_TIME_NONE;
		}
	} else if (isdigit((unsigned char)*p)) {
		if (!digits(&p, 2, &month) || !digits(&p, 2, &day))
			return VIGIL_TIME_NONE;
		basic = true;
	}
	if (*p == 'T' || *p == 't' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
		p++;
		while (*p == ' ')
			p++;
		if (!digits(&p, 2, &hour))
			return VIGIL_TIME_NONE;
		if (*p == ':')
			p++;
		else if (!basic)
			return VIGIL_TIME_NONE;
		if (!digits(&p, 2, &min))
			return VIGIL_TIME_NONE;
		if (*p == ':' || (basic && isdigit((unsigned char)*p))) {
			if (*p == ':')
				p++;
			if (!digits(&p, 2, &sec))
				return VIGIL_TIME_NONE;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return VIGIL_TIME_NONE;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		while (*p == ' ')
			p++;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			if (!numeric_zone(&p, &offset))
				return VIGIL_TIME_NONE;
		} else if (isalpha((unsigned char)*p)) {
			char word[8];
			size_t n = 0;
			while (isalpha((unsigned char)p[n]) && n + 1 < sizeof word)
				n++;
			memcpy(word, p, n);
			word[n] = '\0';
			if (!zone_name(word, &offset))
				return VIGIL_TIME_NONE;
			p += n;
			if (*p == '+' || *p == '-') {   /* "GMT+02:00" */
				if (!numeric_zone(&p, &offset))
					return VIGIL_TIME_NONE;
			}
		}
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return VIGIL_TIME_NONE;
	return make_time(year, month, day, hour, min, sec, offset);
}

/*
 * RFC 822 / RFC 2822 as feeds write it: an optional (possibly wrong or
 * full) weekday, day and month in either order, any case, 2-, 3- or 4-digit
 * years (00-49: 20xx, 50-99: 19xx, 3 digits: +1900), hh:mm with optional
 * seconds, numeric or named zones, "GMT+hhmm", comments, and separators of
 * spaces, commas, dashes, dots and slashes. asctime() ("Sun Jan  4 16:29:06
 * 2004") is a special case of it. No zone: UTC. An unknown word: unparsable.
 */
static int64_t parse_rfc822(const char *p)
{
	int day = -1, month = 0, year = -1, year_digits = 0;
	int hour = -1, min = 0, sec = 0, offset = 0;
	bool zone = false, pm = false, am = false;

	while (*p) {
		unsigned char c = (unsigned char)*p;
		if (isspace(c) || c == ',' || c == '.' || c == '/' ||
		    (c == '-' && (hour < 0 || !isdigit((unsigned char)p[1])))) {
			p++;
			continue;
		}
		if (c == '(') {                       /* a comment, e.g. "(PDT)" */
			const char *close = strchr(p, ')');
			if (!close)
				break;
			p = close + 1;
			continue;
		}
		if (isalpha(c)) {
			char word[16];
			size_t n = 0;
			while (isalpha((unsigned char)p[n]) && n + 1 < sizeof word)
				n++;
			if (isalpha((unsigned char)p[n]))
				return VIGIL_TIME_NONE;
			memcpy(word, p, n);
			word[n] = '\0';
			p += n;
			int m;
			if (!month && (m = month_name(word))) {
				month = m;
			} else if (weekday_name(word)) {
				/* ignored: feeds get it wrong */
			} else if (!strcasecmp(word, "am") && hour >= 0) {
				am = true;
			} else if (!strcasecmp(word, "pm") && hour >= 0) {
				pm = true;
			} else if (!zone && hour >= 0 && zone_name(word, &offset)) {
				zone = true;
				if (*p == '+' || *p == '-') {
					int extra;
					if (!numeric_zone(&p, &extra))
						return VIGIL_TIME_NONE;
					offset += extra;
				}
			} else {
				return VIGIL_TIME_NONE;
			}
			continue;
		}
		if ((c == '+' || c == '-') && hour >= 0 && !zone) {
			if (!numeric_zone(&p, &offset))
				return VIGIL_TIME_NONE;
			zone = true;
			continue;
		}
		if (isdigit(c)) {
			int v = 0, n = 0;
			while (isdigit((unsigned char)p[n]) && n < 9) {
				v = v * 10 + (p[n] - '0');
				n++;
			}
			if (isdigit((unsigned char)p[n]))
				return VIGIL_TIME_NONE;
			if (p[n] == ':' && hour < 0) {    /* hh:mm[:ss[.frac]] */
				if (n > 2)
					return VIGIL_TIME_NONE;
				hour = v;
				p += n + 1;
				if (!digits(&p, 2, &min))
					return VIGIL_TIME_NONE;
				if (*p == ':') {
					p++;
					if (!digits(&p, 2, &sec))
						return VIGIL_TIME_NONE;
					if (*p == '.' && isdigit((unsigned char)p[1])) {
						p++;
						while (isdigit((unsigned char)*p))
							p++;
					}
				}
				continue;
			}
			p += n;
			if (n == 4 && year < 0) {
				year = v;
				year_digits = 4;
			} else if (n <= 2 && day < 0 && v >= 1 && v <= 31 && (month || year < 0)) {
				day = v;
			} else if (year < 0 && day >= 0 && (n == 2 || n == 3)) {
				year = v;
				year_digits = n;
			} else {
				return VIGIL_TIME_NONE;
			}
			continue;
		}
		return VIGIL_TIME_NONE;
	}

	if (day < 0 || !month || year < 0)
		return VIGIL_TIME_NONE;
	if (year_digits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (year_digits == 3)
		year += 1900;
	if (hour < 0)
		hour = 0;
	if (pm || am) {
		if (hour < 1 || hour > 12)
			return VIGIL_TIME_NONE;
		hour = hour % 12 + (pm ? 12 : 0);
	}
	return make_time(year, month, day, hour, min, sec, offset);
}

int64_t feed_parse_date(const char *text)
{
	if (!text)
		return VIGIL_TIME_NONE;
	while (isspace((unsigned char)*text))
		text++;
	size_t n = strlen(text);
	if (n == 0 || n > 128)
		return VIGIL_TIME_NONE;
	char buf[132];
	memcpy(buf, text, n + 1);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';

	/* A leading four-digit year: ISO 8601 style. */
	if (n >= 4 && isdigit((unsigned char)buf[0]) && isdigit((unsigned char)buf[1]) &&
	    isdigit((unsigned char)buf[2]) && isdigit((unsigned char)buf[3]) &&
	    (buf[4] == '-' || buf[4] == '\0' || isdigit((unsigned char)buf[4]))) {
		int64_t t = parse_iso(buf);
		if (t != VIGIL_TIME_NONE)
			return t;
	}
	return parse_rfc822(buf);
}
