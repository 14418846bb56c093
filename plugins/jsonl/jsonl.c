/* jsonl.c - the `jsonl` source: items from a JSON Lines document fetched over HTTP or file:// */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <vigil/plugin.h>
#include <vigil/url.h>

/* Bad lines logged one by one per poll; the rest are only counted. */
#define JSONL_MAX_WARNINGS 5

/* The range of years RFC 3339 can write, as Unix seconds. Integers outside
 * it are not seconds (a millisecond timestamp, say) and read as unknown. */
#define JSONL_TIME_MIN (-62135596800LL)  /* 0001-01-01T00:00:00Z */
#define JSONL_TIME_MAX 253402300799LL    /* 9999-12-31T23:59:59Z */

struct jsonl_source {
	const struct vigil_host *host;
	char *url;                   /* owned: `url`, or `path` as a file:// URL */
	int64_t max_items;           /* 0: no limit */
	struct vigil_http_call *call;  /* the request in flight, or NULL */
};

/* What one poll has seen, for its final report. */
struct jsonl_tally {
	unsigned lines;              /* non-blank lines */
	unsigned bad;
	unsigned first_bad_line;
	char first_bad[256];         /* why first_bad_line is not a JSON object */
	unsigned emitted;
};

static int parse_2digits(const char *p)
{
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * Parse an RFC 3339 date-time ("2026-11-29T10:00:00Z", "...10:00:00.5+03:00")
 * to Unix seconds, UTC. Also accepted: a space or lower-case t/z, and an
 * offset without its colon (+0300). Fractions of a second are dropped.
 * Anything else, including a date without a time or an impossible date,
 * gives VIGIL_TIME_NONE: an unknown time is better than a wrong one.
 */
static int64_t parse_rfc3339(const char *s)
{
	int year = 0;
	for (int i = 0; i < 4; i++) {
		if (!isdigit((unsigned char)s[i]))
			return VIGIL_TIME_NONE;
		year = year * 10 + (s[i] - '0');
	}
	if (s[4] != '-' || s[7] != '-')
		return VIGIL_TIME_NONE;
	int month = parse_2digits(s + 5);
	int day = parse_2digits(s + 8);
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return VIGIL_TIME_NONE;
	int hour = parse_2digits(s + 11);
	if (hour < 0 || s[13] != ':')
		return VIGIL_TIME_NONE;
	int min = parse_2digits(s + 14);
	if (min < 0 || s[16] != ':')
		return VIGIL_TIME_NONE;
	int sec = parse_2digits(s + 17);
	if (sec < 0)
		return VIGIL_TIME_NONE;

	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (year < 1 || month < 1 || month > 12 || day < 1)
		return VIGIL_TIME_NONE;
	if (day > mdays[month - 1] + (month == 2 && is_leap(year)))
		return VIGIL_TIME_NONE;
	/* 60 is a leap second; timegm() carries it into the next minute. */
	if (hour > 23 || min > 59 || sec > 60)
		return VIGIL_TIME_NONE;

	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return VIGIL_TIME_NONE;
		while (isdigit((unsigned char)*p))
			p++;
	}

	int offset = 0;                /* seconds east of UTC */
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int oh = parse_2digits(p + 1);
		if (oh < 0)
			return VIGIL_TIME_NONE;
		p += 3;
		if (*p == ':')
			p++;
		int om = parse_2digits(p);
		if (oh > 23 || om < 0 || om > 59)
			return VIGIL_TIME_NONE;
		p += 2;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		/* No offset: local time of an unknown zone. */
		return VIGIL_TIME_NONE;
	}
	if (*p)
		return VIGIL_TIME_NONE;

	struct tm tm = {
		.tm_year = year - 1900,
		.tm_mon = month - 1,
		.tm_mday = day,
		.tm_hour = hour,
		.tm_min = min,
		.tm_sec = sec,
	};
	time_t t = timegm(&tm);
	return (int64_t)t - offset;
}

/* A JSON value as a time: an RFC 3339 string or Unix seconds. */
static int64_t json_time(const json_t *v)
{
	if (json_is_string(v))
		return parse_rfc3339(json_string_value(v));
	if (json_is_integer(v)) {
		json_int_t t = json_integer_value(v);
		if (t < JSONL_TIME_MIN || t > JSONL_TIME_MAX)
			return VIGIL_TIME_NONE;
		return (int64_t)t;
	}
	if (json_is_real(v)) {
		double t = json_real_value(v);
		if (!isfinite(t) || t < (double)JSONL_TIME_MIN || t > (double)JSONL_TIME_MAX)
			return VIGIL_TIME_NONE;
		/* Whole seconds, rounding down (floor() would need libm). */
		int64_t whole = (int64_t)t;
		return (double)whole > t ? whole - 1 : whole;
	}
	return VIGIL_TIME_NONE;
}

/*
 * Field names in the item model are lower_snake_case; JSON keys often are
 * not ("formType", "Document-Number"). Write the key in that form to out
 * (size at least 2 * strlen(key) + 1): ASCII letters lower-cased with an
 * underscore at a lower-to-upper boundary, every other character an
 * underscore. Returns false for a key that has no letter or digit.
 */
static bool snake_case(const char *key, char *out)
{
	bool useful = false;
	char *o = out;
	for (const char *k = key; *k; k++) {
		unsigned char c = (unsigned char)*k;
		if (isupper(c) && c < 0x80) {
			if (k > key && (islower((unsigned char)k[-1]) || isdigit((unsigned char)k[-1])))
				*o++ = '_';
			*o++ = (char)tolower(c);
			useful = true;
		} else if ((islower(c) || isdigit(c)) && c < 0x80) {
			*o++ = (char)c;
			useful = true;
		} else {
			*o++ = '_';
		}
	}
	*o = '\0';
	return useful;
}

static const char *json_text(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Map one JSON object to an item and emit it. Strings stay owned by `obj`;
 * the arrays and names built here are freed before returning, which is
 * allowed because host->emit() copies. Returns 0 or -errno.
 */
static int emit_object(struct jsonl_source *src, json_t *obj)
{
	const struct vigil_host *host = src->host;
	struct vigil_item item = VIGIL_ITEM_INIT;
	size_t n_keys = json_object_size(obj);
	int err = -ENOMEM;

	struct vigil_field *fields = calloc(n_keys ? n_keys : 1, sizeof *fields);
	char **names = calloc(n_keys ? n_keys : 1, sizeof *names);
	const char **categories = NULL;
	char id_text[32];
	if (!fields || !names)
		goto out;

	const char *key;
	json_t *value;
	json_object_foreach(obj, key, value) {
		char *name = malloc(2 * strlen(key) + 1);
		if (!name)
			goto out;
		if (!snake_case(key, name)) {
			free(name);
			continue;
		}

		const char **text = NULL;
		if (!strcmp(name, "id"))
			text = &item.id;
		else if (!strcmp(name, "title"))
			text = &item.title;
		else if (!strcmp(name, "summary"))
			text = &item.summary;
		else if (!strcmp(name, "content"))
			text = &item.content;
		else if (!strcmp(name, "author"))
			text = &item.author;
		else if (!strcmp(name, "link"))
			text = &item.link;
		else if (!strcmp(name, "lang"))
			text = &item.lang;
		else if (!strcmp(name, "feed_title"))
			text = &item.feed_title;

		if (text) {
			/* The first usable value of a name wins; other types are ignored. */
			if (!*text)
				*text = json_text(value);
			/* Many APIs number their records: an integer id is its decimal text. */
			if (!*text && text == &item.id && json_is_integer(value)) {
				snprintf(id_text, sizeof id_text, "%" JSON_INTEGER_FORMAT,
				         json_integer_value(value));
				item.id = id_text;
			}
			free(name);
			continue;
		}
		if (!strcmp(name, "categories")) {
			if (!categories && json_is_array(value)) {
				categories = calloc(json_array_size(value) + 1, sizeof *categories);
				if (!categories) {
					free(name);
					goto out;
				}
				size_t i;
				json_t *c;
				json_array_foreach(value, i, c)
					if (json_is_string(c))
						categories[item.n_categories++] = json_string_value(c);
				item.categories = categories;
			} else if (!categories && json_is_string(value)) {
				categories = calloc(1, sizeof *categories);
				if (!categories) {
					free(name);
					goto out;
				}
				categories[0] = json_string_value(value);
				item.categories = categories;
				item.n_categories = 1;
			}
			free(name);
			continue;
		}
		if (!strcmp(name, "published") || !strcmp(name, "updated")) {
			int64_t *t = name[0] == 'p' ? &item.published : &item.updated;
			if (*t == VIGIL_TIME_NONE)
				*t = json_time(value);
			free(name);
			continue;
		}

		bool taken = false;
		for (size_t i = 0; i < item.n_fields; i++)
			taken = taken || !strcmp(fields[i].name, name);
		if (taken || !(json_is_string(value) || json_is_number(value))) {
			free(name);
			continue;
		}
		struct vigil_field *f = &fields[item.n_fields];
		names[item.n_fields++] = name;
		f->name = name;
		if (json_is_string(value)) {
			f->type = VIGIL_FIELD_STRING;
			f->string = json_string_value(value);
		} else {
			f->type = VIGIL_FIELD_NUMBER;
			f->number = json_number_value(value);
		}
	}
	item.fields = fields;

	err = host->emit(host->inst, &item);
out:
	if (names)
		for (size_t i = 0; i < item.n_fields; i++)
			free(names[i]);
	free(names);
	free(fields);
	free(categories);
	return err;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	default: return "an object";
	}
}

static void note_bad_line(struct jsonl_source *src, struct jsonl_tally *t, unsigned line_no,
                          const char *why)
{
	if (t->bad == 0) {
		t->first_bad_line = line_no;
		snprintf(t->first_bad, sizeof t->first_bad, "%s", why);
	}
	t->bad++;
	if (t->bad <= JSONL_MAX_WARNINGS)
		src->host->log(src->host->inst, VIGIL_LOG_WARNING, "%s line %u: %s", src->url,
		               line_no, why);
	else if (t->bad == JSONL_MAX_WARNINGS + 1)
		src->host->log(src->host->inst, VIGIL_LOG_WARNING,
		               "%s: more lines are not valid JSON; the poll's error counts them",
		               src->url);
}

static bool is_blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\f' && p[i] != '\v')
			return false;
	return true;
}

/*
 * Emit the items of a JSON Lines body. Every line is checked, even after
 * max_items, so that a damaged document is reported the same way whatever
 * the limit. Returns 0, or -errno when host->emit() failed (`message` says why).
 */
static int emit_lines(struct jsonl_source *src, const char *body, size_t len,
                      struct jsonl_tally *t, char *message, size_t message_size)
{
	unsigned line_no = 0;
	const char *p = body;
	const char *end = body + len;
	/* A byte order mark is not JSON; some Windows tools write one. */
	if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *line = p;
		size_t line_len = (size_t)(line_end - line);
		p = nl ? nl + 1 : end;
		line_no++;

		if (is_blank(line, line_len))
			continue;
		t->lines++;

		json_error_t jerr;
		json_t *obj = json_loadb(line, line_len, JSON_DECODE_ANY, &jerr);
		if (!obj) {
			note_bad_line(src, t, line_no, jerr.text);
			continue;
		}
		if (!json_is_object(obj)) {
			char why[64];
			snprintf(why, sizeof why, "expected a JSON object, got %s",
			         json_type_name(obj));
			note_bad_line(src, t, line_no, why);
			json_decref(obj);
			continue;
		}
		if (src->max_items > 0 && t->emitted >= (uint64_t)src->max_items) {
			json_decref(obj);
			continue;
		}
		int err = emit_object(src, obj);
		json_decref(obj);
		if (err == -ENOSPC) {
			snprintf(message, message_size,
			         "the daemon takes no more than %u items per poll; set max_items "
			         "to take only the first lines", t->emitted);
			return err;
		}
		if (err < 0) {
			snprintf(message, message_size, "cannot hand over the item on line %u: %s",
			         line_no, strerror(-err));
			return err;
		}
		t->emitted++;
	}
	return 0;
}

static void on_response(void *userdata, const struct vigil_http_response *r)
{
	struct jsonl_source *src = userdata;
	const struct vigil_host *host = src->host;
	char message[512];

	/* The engine frees the call once this returns; it must not be cancelled now. */
	src->call = NULL;

	if (r->error != VIGIL_HTTP_OK) {
		if (r->error_text)
			snprintf(message, sizeof message, "fetch failed: %s", r->error_text);
		else
			snprintf(message, sizeof message, "fetch failed: error %d", r->error);
		host->poll_done(host->inst, -EIO, message);
		return;
	}
	if (r->not_modified) {
		host->poll_done(host->inst, 0, NULL);
		return;
	}
	if (r->status != 200) {
		int n = snprintf(message, sizeof message, "HTTP %d from %s", r->status, src->url);
		size_t used = n < 0 ? 0 : (size_t)n < sizeof message ? (size_t)n : sizeof message - 1;
		if (r->status == 403)
			snprintf(message + used, sizeof message - used,
			         " (some servers refuse clients that do not say who they are: set "
			         "user_agent to something with a contact, like "
			         "\"vigil/" VIGIL_VERSION_STRING " (+mailto:you@example.org)\")");
		else if (r->retry_after >= 0 && (r->status == 429 || r->status == 503))
			snprintf(message + used, sizeof message - used, " (retry after %lld s)",
			         (long long)r->retry_after);
		host->poll_done(host->inst, -EIO, message);
		return;
	}

	struct jsonl_tally t = { 0 };
	int err = emit_lines(src, r->body ? r->body : "", r->body ? r->body_len : 0, &t, message,
	                     sizeof message);
	if (err < 0) {
		host->poll_done(host->inst, err, message);
		return;
	}
	if (t.bad == 0) {
		host->poll_done(host->inst, 0, NULL);
		return;
	}
	int n = snprintf(message, sizeof message,
	                 "%u of %u lines are not valid JSON (first: line %u: %s)",
	                 t.bad, t.lines, t.first_bad_line, t.first_bad);
	/* "HTTP 200 but not data": an HTML page where JSON Lines should be. */
	if (t.bad == t.lines && n >= 0 && (size_t)n < sizeof message)
		snprintf(message + n, sizeof message - (size_t)n,
		         "; the document%s%s%s is not JSON Lines",
		         r->content_type ? " (" : "", r->content_type ? r->content_type : "",
		         r->content_type ? ")" : "");
	host->poll_done(host->inst, -EBADMSG, message);
}

static int jsonl_create(const struct vigil_host *host, void **state)
{
	int64_t max_items = host->get_int(host->inst, "max_items", 0);
	if (max_items < 0) {
		host->log(host->inst, VIGIL_LOG_ERROR, "max_items is %lld; use 0 for no limit",
		          (long long)max_items);
		return -EINVAL;
	}

	struct jsonl_source *src = calloc(1, sizeof *src);
	if (!src)
		return -ENOMEM;
	src->host = host;
	int err = vigil_source_url(host, "the JSON Lines document", &src->url);
	if (err < 0) {
		free(src);
		return err;
	}
	src->max_items = max_items;
	*state = src;
	return 0;
}

static void jsonl_destroy(void *state)
{
	struct jsonl_source *src = state;
	if (!src)
		return;
	if (src->call)
		src->host->http_cancel(src->host->inst, src->call);
	free(src->url);
	free(src);
}

/* Always finishes through host->poll_done(), later (or now when the host
 * refuses the request), and returns 0. */
static int jsonl_poll(void *state)
{
	struct jsonl_source *src = state;
	const struct vigil_host *host = src->host;

	if (src->call)
		return -EBUSY;
	struct vigil_http_request req = {
		.size = sizeof req,
		.url = src->url,
		.flags = VIGIL_HTTP_CONDITIONAL,
	};
	src->call = host->http_request(host->inst, &req, on_response, src);
	if (!src->call) {
		char message[512];
		snprintf(message, sizeof message, "cannot fetch %s: the request was refused (see the log)",
		         src->url);
		host->poll_done(host->inst, -EINVAL, message);
	}
	return 0;
}

static const struct vigil_option jsonl_options[] = {
	{
		.key = "url",
		.type = VIGIL_OPT_STRING,
		.description = "http(s):// or file:// URL of a JSON Lines document, "
		               "one item object per line (this or path)",
	},
	{
		.key = "path",
		.type = VIGIL_OPT_PATH,
		.description = "a local JSON Lines file, relative to the configuration file "
		               "(this or url)",
	},
	{
		.key = "max_items",
		.type = VIGIL_OPT_INT,
		.default_value = "0",
		.description = "emit at most this many items per poll, first lines first "
		               "(0: no limit)",
	},
};

static const struct vigil_plugin_methods jsonl_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = jsonl_create,
	.destroy = jsonl_destroy,
	.poll = jsonl_poll,
};

static const struct vigil_plugin jsonl_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "jsonl",
	.version = VIGIL_VERSION_STRING,
	.description = "items from a JSON Lines document (one JSON object per line)",
	.kind = VIGIL_PLUGIN_SOURCE,
	.options = jsonl_options,
	.n_options = sizeof jsonl_options / sizeof jsonl_options[0],
	.methods = &jsonl_methods,
};

VIGIL_PLUGIN_DEFINE(jsonl_plugin)
