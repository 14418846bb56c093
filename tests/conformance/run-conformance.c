/* run-conformance.c - the rss plugin's feed parser against other parsers' test suites */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>

#include "feed.h"

/*
 * Usage: run-conformance [--report] [--verbose] [--strict-text]
 *                        feedparser|gofeed|rss-parser|jsonfeed|feedvalidator|sec
 *
 * The corpora are in $VIGIL_SHARED_DIR/conformance/, else in
 * $VIGIL_SOURCE_ROOT/../shared/conformance/ (see each SOURCE.md there). Prints
 * pass/total and one line per failure (file, check, expected, got); exits 1
 * below the corpus's bar, 77 when the corpus is absent.
 */

#define EXIT_SKIP 77

static const char *corpus_dir;
static bool report_mode;
static bool verbose;
static bool strict_text;             /* --strict-text: no HTML-to-text step in text_match */

/* --- small helpers ------------------------------------------------------ */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return s;
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0, got;
	char *buf = xmalloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

/* Collapse runs of white space to one space and trim. Caller frees. */
static char *norm_ws(const char *s)
{
	if (!s)
		return xstrdup("");
	char *out = xmalloc(strlen(s) + 1), *o = out;
	bool space = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* U+00A0 no-break space counts as white space here */
		if (p[0] == 0xc2 && p[1] == 0xa0) {
			space = true;
			p++;
			continue;
		}
		if (isspace(*p)) {
			space = true;
			continue;
		}
		if (space && o != out)
			*o++ = ' ';
		space = false;
		*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

static bool eq_ws(const char *a, const char *b)
{
	char *x = norm_ws(a), *y = norm_ws(b);
	bool r = !strcmp(x, y);
	free(x);
	free(y);
	return r;
}

/*
 * Equal but where the expected text has U+FFFD: there one non-ASCII character
 * of ours (a reader that decoded Latin-1 bytes as UTF-8 made the U+FFFD).
 */
static bool fffd_match(const char *expected, const char *ours)
{
	char *x = norm_ws(expected), *y = norm_ws(ours);
	const unsigned char *a = (const unsigned char *)x, *b = (const unsigned char *)y;
	bool r = false;
	while (*a && *b) {
		if (a[0] == 0xef && a[1] == 0xbf && a[2] == 0xbd) {
			if (*b < 0x80 && *b != ' ')
				goto out;
			a += 3;
			b++;
			while ((*b & 0xc0) == 0x80)
				b++;
			continue;
		}
		if (*a++ != *b++)
			goto out;
	}
	r = !*a && !*b;
out:
	free(x);
	free(y);
	return r;
}

/* Links: equal once trimmed; a relative expected one resolved against base first. */
static bool link_eq(const char *expected, const char *ours, const char *base)
{
	if (empty(expected))
		return empty(ours);
	if (!ours)
		return false;
	char *x = norm_ws(expected), *y = norm_ws(ours);
	bool r = !strcmp(x, y);
	size_t scheme = strspn(x, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	bool relative = !(scheme > 0 && x[scheme] == ':');
	if (!r && base && relative && strstr(base, "://")) {
		/* base is "scheme://host/dir/file": "/x" -> host + x, "x" -> dir + x */
		const char *host_end = strchr(strstr(base, "://") + 3, '/');
		int host_len = host_end ? (int)(host_end - base) : (int)strlen(base);
		const char *dir_end = strrchr(base, '/');
		int dir_len = host_end ? (int)(dir_end - base) + 1 : host_len;
		char *abs = x[0] == '/' ? xasprintf("%.*s%s", host_len, base, x) :
			xasprintf("%.*s%s%s", dir_len, base, host_end ? "" : "/", x);
		r = !strcmp(abs, y);
		free(abs);
	}
	free(x);
	free(y);
	return r;
}

/*
 * Does our text match the expected one? Our model keeps text as plain text
 * (and the original markup beside it), the other parsers often give markup:
 * equal as given, equal up to white space, or equal once the expected markup
 * is turned into text the same way.
 */
static bool text_match(const char *expected, const char *plain, const char *html)
{
	if (empty(expected))
		return empty(plain) && empty(html);
	if ((plain && !strcmp(expected, plain)) || (html && !strcmp(expected, html)))
		return true;
	if (eq_ws(expected, plain) || (html && eq_ws(expected, html)))
		return true;
	if (plain && strstr(expected, "\xef\xbf\xbd") && fffd_match(expected, plain))
		return true;
	if (strict_text)
		return false;
	char *t = feed_html_to_text(expected, strlen(expected));
	bool r = t && eq_ws(t, plain);
	free(t);
	return r;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)" or "YYYY-MM-DD" to Unix seconds. */
static bool parse_iso(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
		return false;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 3)
			return false;
		p += 1 + n;
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	int64_t t = timegm(&tm);
	if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return false;
		int64_t off = hh * 3600 + mm * 60;
		t -= *p == '+' ? off : -off;
	}
	*out = t;
	return true;
}

static const char *fmt_time(int64_t t, char *buf, size_t len)
{
	if (t == VIGIL_TIME_NONE)
		return "(none)";
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		return "(out of range)";
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static char *json_brief(const json_t *v)
{
	if (!v)
		return xstrdup("(absent)");
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	return s ? s : xstrdup("?");
}

static char *latin1_to_utf8(const char *s, size_t len)
{
	char *out = xmalloc(2 * len + 1), *o = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			*o++ = (char)c;
		} else {
			*o++ = (char)(0xc0 | (c >> 6));
			*o++ = (char)(0x80 | (c & 0x3f));
		}
	}
	*o = '\0';
	return out;
}

static json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, JSON_DECODE_ANY, &err);
	if (!j)
		fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
	return j;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* --- an owned copy of everything feed_parse reports -------------------- */

struct olink {
	char *href, *rel, *type, *title;
	int64_t length;
};

struct operson {
	char *name, *email, *uri;
};

struct ofield {
	char *name;
	enum vigil_field_type type;
	char *string;
	double number;
};

struct oentry {
	char *id, *title, *summary, *content, *author, *link, *lang, *feed_title;
	char **cats;
	size_t n_cats;
	int64_t published, updated;
	struct ofield *fields;
	size_t n_fields;
	char *title_html, *summary_html, *content_html, *content_type;
	bool permalink;
	struct olink *links, *encs;
	size_t n_links, n_encs;
	struct olink *fp_links;      /* feedparser's view: links, then enclosures (rel=enclosure) */
	size_t n_fp_links;
	struct operson *authors;
	size_t n_authors;
	char *comments, *source_title;
};

struct ohead {
	bool seen;
	enum feed_format format;
	char *title, *subtitle, *link, *id, *language, *generator, *icon;
	int64_t updated;
	struct operson *authors;
	size_t n_authors;
};

struct doc {
	int rc;
	struct feed_result res;
	struct ohead head;
	struct oentry *e;
	size_t n;
};

static struct olink *copy_links(const struct feed_link *l, size_t n)
{
	struct olink *o = xmalloc(n * sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		o[i].href = xstrdup(l[i].href);
		o[i].rel = xstrdup(l[i].rel);
		o[i].type = xstrdup(l[i].type);
		o[i].title = xstrdup(l[i].title);
		o[i].length = l[i].length;
	}
	return o;
}

static struct operson *copy_people(const struct feed_person *p, size_t n)
{
	struct operson *o = xmalloc(n * sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		o[i].name = xstrdup(p[i].name);
		o[i].email = xstrdup(p[i].email);
		o[i].uri = xstrdup(p[i].uri);
	}
	return o;
}

static void free_links(struct olink *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].href);
		free(l[i].rel);
		free(l[i].type);
		free(l[i].title);
	}
	free(l);
}

static void free_people(struct operson *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].email);
		free(p[i].uri);
	}
	free(p);
}

static void free_head(struct ohead *h)
{
	free(h->title);
	free(h->subtitle);
	free(h->link);
	free(h->id);
	free(h->language);
	free(h->generator);
	free(h->icon);
	free_people(h->authors, h->n_authors);
	memset(h, 0, sizeof(*h));
	h->updated = VIGIL_TIME_NONE;
}

static void copy_head(struct ohead *o, const struct feed_head *h)
{
	free_head(o);
	o->seen = true;
	o->format = h->format;
	o->title = xstrdup(h->title);
	o->subtitle = xstrdup(h->subtitle);
	o->link = xstrdup(h->link);
	o->id = xstrdup(h->id);
	o->language = xstrdup(h->language);
	o->generator = xstrdup(h->generator);
	o->icon = xstrdup(h->icon);
	o->updated = h->updated;
	o->authors = copy_people(h->authors, h->n_authors);
	o->n_authors = h->n_authors;
}

static int on_head(void *userdata, const struct feed_head *head)
{
	struct doc *d = userdata;
	if (head)
		copy_head(&d->head, head);
	return 0;
}

static int on_entry(void *userdata, const struct feed_head *head, const struct feed_entry *fe)
{
	struct doc *d = userdata;
	const struct vigil_item *it = &fe->item;

	if (head)
		copy_head(&d->head, head);
	d->e = xrealloc(d->e, (d->n + 1) * sizeof(*d->e));
	struct oentry *e = &d->e[d->n++];
	memset(e, 0, sizeof(*e));
	e->id = xstrdup(it->id);
	e->title = xstrdup(it->title);
	e->summary = xstrdup(it->summary);
	e->content = xstrdup(it->content);
	e->author = xstrdup(it->author);
	e->link = xstrdup(it->link);
	e->lang = xstrdup(it->lang);
	e->feed_title = xstrdup(it->feed_title);
	e->n_cats = it->n_categories;
	e->cats = xmalloc(it->n_categories * sizeof(char *));
	for (size_t i = 0; i < it->n_categories; i++)
		e->cats[i] = xstrdup(it->categories[i]);
	e->published = it->published;
	e->updated = it->updated;
	e->n_fields = it->n_fields;
	e->fields = xmalloc(it->n_fields * sizeof(*e->fields));
	for (size_t i = 0; i < it->n_fields; i++) {
		e->fields[i].name = xstrdup(it->fields[i].name);
		e->fields[i].type = it->fields[i].type;
		e->fields[i].string = it->fields[i].type == VIGIL_FIELD_STRING ?
			xstrdup(it->fields[i].string) : NULL;
		e->fields[i].number = it->fields[i].number;
	}
	e->title_html = xstrdup(fe->title_html);
	e->summary_html = xstrdup(fe->summary_html);
	e->content_html = xstrdup(fe->content_html);
	e->content_type = xstrdup(fe->content_type);
	e->permalink = fe->guid_is_permalink;
	e->links = copy_links(fe->links, fe->n_links);
	e->n_links = fe->n_links;
	e->encs = copy_links(fe->enclosures, fe->n_enclosures);
	e->n_encs = fe->n_enclosures;
	e->fp_links = copy_links(fe->links, fe->n_links);
	e->n_fp_links = fe->n_links;
	for (size_t i = 0; i < fe->n_enclosures; i++) {
		bool dup = false;
		for (size_t k = 0; k < fe->n_links; k++)
			dup |= fe->links[k].href && fe->enclosures[i].href &&
				!strcmp(fe->links[k].href, fe->enclosures[i].href);
		if (dup)
			continue;
		e->fp_links = xrealloc(e->fp_links, (e->n_fp_links + 1) * sizeof(*e->fp_links));
		struct olink *l = &e->fp_links[e->n_fp_links++];
		l->href = xstrdup(fe->enclosures[i].href);
		l->rel = xstrdup("enclosure");
		l->type = xstrdup(fe->enclosures[i].type);
		l->title = xstrdup(fe->enclosures[i].title);
		l->length = fe->enclosures[i].length;
	}
	e->authors = copy_people(fe->authors, fe->n_authors);
	e->n_authors = fe->n_authors;
	e->comments = xstrdup(fe->comments);
	e->source_title = xstrdup(fe->source_title);
	return 0;
}

static void doc_free(struct doc *d)
{
	for (size_t k = 0; k < d->n; k++) {
		struct oentry *e = &d->e[k];
		free(e->id);
		free(e->title);
		free(e->summary);
		free(e->content);
		free(e->author);
		free(e->link);
		free(e->lang);
		free(e->feed_title);
		for (size_t i = 0; i < e->n_cats; i++)
			free(e->cats[i]);
		free(e->cats);
		for (size_t i = 0; i < e->n_fields; i++) {
			free(e->fields[i].name);
			free(e->fields[i].string);
		}
		free(e->fields);
		free(e->title_html);
		free(e->summary_html);
		free(e->content_html);
		free(e->content_type);
		free_links(e->links, e->n_links);
		free_links(e->encs, e->n_encs);
		free_links(e->fp_links, e->n_fp_links);
		free_people(e->authors, e->n_authors);
		free(e->comments);
		free(e->source_title);
	}
	free(d->e);
	free_head(&d->head);
	memset(d, 0, sizeof(*d));
}

static void parse_doc(struct doc *d, const char *buf, size_t len, const char *base_url,
                      const char *content_type)
{
	const struct feed_callbacks cb = { .head = on_head, .entry = on_entry };
	struct feed_options opt = { .base_url = base_url, .content_type = content_type };

	memset(d, 0, sizeof(*d));
	d->head.updated = VIGIL_TIME_NONE;
	d->rc = feed_parse(buf, len, &opt, &cb, d, &d->res);
}

static bool parse_file(struct doc *d, const char *path, const char *base_url,
                       const char *content_type)
{
	size_t len;
	char *buf = read_whole(path, &len);
	if (!buf) {
		memset(d, 0, sizeof(*d));
		d->rc = -errno;
		snprintf(d->res.error, sizeof(d->res.error), "%s: %s", path, strerror(errno));
		return false;
	}
	parse_doc(d, buf, len, base_url, content_type);
	free(buf);
	return true;
}

static const char *field_string(const struct oentry *e, const char *name)
{
	for (size_t i = 0; i < e->n_fields; i++)
		if (!strcmp(e->fields[i].name, name) && e->fields[i].type == VIGIL_FIELD_STRING)
			return e->fields[i].string;
	return NULL;
}

/* --- tallies, failures and the report ----------------------------------- */

struct tally {
	const char *name;            /* a category ("title", "na:encoding", ...) */
	unsigned pass, fail, na;
	bool core;                   /* counted for the bar */
	char *reason;                /* for not applicable ones */
	char *example;               /* a failing file, for the report */
};

static struct tally *tallies;
static size_t n_tallies;
static unsigned n_fail_lines;

static struct tally *tally_get(const char *name, bool core)
{
	for (size_t i = 0; i < n_tallies; i++)
		if (!strcmp(tallies[i].name, name))
			return &tallies[i];
	tallies = xrealloc(tallies, (n_tallies + 1) * sizeof(*tallies));
	struct tally *t = &tallies[n_tallies++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->core = core;
	return t;
}

/* One check's outcome; a failure prints one line: file, check, expected, got. */
static void check(const char *category, bool core, const char *file, const char *what,
                  bool ok, const char *expected, const char *got)
{
	struct tally *t = tally_get(category, core);
	if (ok) {
		t->pass++;
		return;
	}
	t->fail++;
	if (!t->example)
		t->example = xasprintf("%s: %s", file, what);
	n_fail_lines++;
	if (!report_mode || verbose)
		printf("%s %s: %s: expected %s, got %s\n", core ? "FAIL" : "note", file, what,
		       expected ? expected : "(none)", got ? got : "(none)");
}

static void not_applicable(const char *category, const char *reason)
{
	struct tally *t = tally_get(category, false);
	t->na++;
	if (!t->reason)
		t->reason = xstrdup(reason);
}

static int cmp_tally(const void *a, const void *b)
{
	const struct tally *x = a, *y = b;
	if (x->core != y->core)
		return x->core ? -1 : 1;
	unsigned nx = x->pass + x->fail + x->na, ny = y->pass + y->fail + y->na;
	return nx < ny ? 1 : nx > ny ? -1 : strcmp(x->name, y->name);
}

/* Print the tallies; return the core (bar) pass and total. */
static void print_tallies(const char *corpus, unsigned *core_pass, unsigned *core_total)
{
	unsigned cp = 0, ct = 0, op = 0, ot = 0, na = 0;
	qsort(tallies, n_tallies, sizeof(*tallies), cmp_tally);
	for (size_t i = 0; i < n_tallies; i++) {
		struct tally *t = &tallies[i];
		if (t->core) {
			cp += t->pass;
			ct += t->pass + t->fail;
		} else {
			op += t->pass;
			ot += t->pass + t->fail;
		}
		na += t->na;
	}
	printf("%s: checks in the bar: %u/%u pass (%.1f %%); other modelled checks: %u/%u; "
	       "not applicable: %u\n", corpus, cp, ct, ct ? 100.0 * cp / ct : 100.0, op, ot, na);
	if (report_mode) {
		printf("\n| category | in bar | pass | fail | first failure |\n|---|---|---|---|---|\n");
		for (size_t i = 0; i < n_tallies; i++) {
			struct tally *t = &tallies[i];
			if (t->na)
				continue;
			printf("| %s | %s | %u | %u | %s |\n", t->name, t->core ? "yes" : "no",
			       t->pass, t->fail, t->example ? t->example : "");
		}
		/* the checks not applicable, grouped by reason */
		printf("\n| not applicable: reason | checks | paths |\n|---|---|---|\n");
		for (size_t i = 0; i < n_tallies; i++) {
			struct tally *t = &tallies[i];
			if (!t->na || !t->reason)
				continue;
			bool seen = false;
			for (size_t k = 0; k < i && !seen; k++)
				seen = tallies[k].reason && !strcmp(tallies[k].reason, t->reason);
			if (seen)
				continue;
			unsigned n = 0, shown = 0;
			for (size_t k = i; k < n_tallies; k++)
				if (tallies[k].reason && !strcmp(tallies[k].reason, t->reason))
					n += tallies[k].na;
			printf("| %s | %u | ", t->reason, n);
			for (size_t k = i; k < n_tallies; k++) {
				if (!tallies[k].reason || strcmp(tallies[k].reason, t->reason))
					continue;
				if (shown++ == 6) {
					printf(", ...");
					break;
				}
				printf("%s%s", shown > 1 ? ", " : "", tallies[k].name + 5);
			}
			printf(" |\n");
		}
		printf("\n");
	}
	*core_pass = cp;
	*core_total = ct;
}

/* --- feedparser --------------------------------------------------------- */

enum vkind {
	V_NA,                        /* we do not model it: reason in na */
	V_MISSING,                   /* absent (a missing entry, list index or key) */
	V_STR, V_TIME, V_BOOL, V_INT,
	V_LIST,                      /* a list of n elements */
	V_LINK, V_PERSON, V_ENC,
	V_HEAD, V_ENTRY, V_ROOT, V_SOURCE, V_CONTENT,
	V_DETAIL,                    /* a *_detail dict of a text */
};

enum lkind { L_ENTRIES, L_LINKS, L_ENCS, L_AUTHORS, L_TAGS, L_CONTENT };

struct val {
	enum vkind kind;
	const char *cat;             /* category of the check */
	bool core;
	const char *na;              /* reason, for V_NA */
	const char *s, *html;
	int64_t t;
	bool b;
	long long i;
	enum lkind list;
	size_t n;
	const struct oentry *e;
	const struct olink *l;
	const struct operson *p;
	const struct operson *people;
	const char *detail_of;       /* for V_DETAIL: "title", "summary", ... */
	bool in_feed;
	bool from_list;              /* V_MISSING: an index past the end of list `list` */
};

static const char *alias(const char *key, bool in_entry)
{
	static const char *const pairs[][2] = {
		{ "channel", "feed" }, { "items", "entries" }, { "guid", "id" },
		{ "date", "updated" }, { "date_parsed", "updated_parsed" },
		{ "modified", "updated" }, { "modified_parsed", "updated_parsed" },
		{ "issued", "published" }, { "issued_parsed", "published_parsed" },
		{ "copyright", "rights" }, { "copyright_detail", "rights_detail" },
		{ "tagline", "subtitle" }, { "tagline_detail", "subtitle_detail" },
		{ "url", "href" },
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (!strcmp(key, pairs[i][0]))
			return pairs[i][1];
	if (!strcmp(key, "description"))
		return in_entry ? "summary" : "subtitle";
	if (!strcmp(key, "description_detail"))
		return in_entry ? "summary_detail" : "subtitle_detail";
	return key;
}

static struct val na_val(const char *reason)
{
	return (struct val){ .kind = V_NA, .na = reason };
}

static struct val str_val(const char *cat, bool core, const char *s, const char *html)
{
	return (struct val){ .kind = V_STR, .cat = cat, .core = core, .s = s, .html = html };
}

static struct val time_val(const char *cat, int64_t t)
{
	return (struct val){ .kind = V_TIME, .cat = cat, .core = true, .t = t };
}

/* Our "author" string as feedparser would write it: "name (email)", or name, or email. */
static bool author_string_match(const char *expected, const struct operson *p, size_t n,
                                const char *item_author)
{
	if (item_author && text_match(expected, item_author, NULL))
		return true;
	if (!n)
		return empty(expected);
	const struct operson *a = &p[0];
	if (a->name && text_match(expected, a->name, NULL))
		return true;
	if (a->email && !strcmp(expected, a->email))
		return true;
	if (a->name && a->email) {
		char *s = xasprintf("%s (%s)", a->name, a->email);
		bool r = !strcmp(s, expected);
		free(s);
		return r;
	}
	return false;
}

static struct val step(const struct doc *d, struct val v, const json_t *comp)
{
	/* An index. */
	if (json_is_integer(comp)) {
		long long i = json_integer_value(comp);
		if (v.kind != V_LIST)
			return v.kind == V_NA ? v : na_val("index into something that is not a list here");
		if (i < 0)
			i += (long long)v.n;
		if (i < 0 || (size_t)i >= v.n)
			return (struct val){ .kind = V_MISSING, .cat = v.cat, .core = v.core,
			                     .list = v.list, .from_list = true };
		struct val r = { .cat = v.cat, .core = v.core, .in_feed = v.in_feed };
		switch (v.list) {
		case L_ENTRIES:
			r.kind = V_ENTRY;
			r.e = &d->e[i];
			break;
		case L_LINKS:
			r.kind = V_LINK;
			r.l = &v.e->fp_links[i];
			break;
		case L_ENCS:
			r.kind = V_ENC;
			r.l = &v.e->encs[i];
			break;
		case L_AUTHORS:
			r.kind = V_PERSON;
			r.p = &v.people[i];
			break;
		case L_TAGS:
			r = str_val("category", true, v.e->cats[i], NULL);
			r.kind = V_DETAIL;
			r.detail_of = "tag";
			break;
		case L_CONTENT:
			r.kind = V_CONTENT;
			r.e = v.e;
			break;
		}
		return r;
	}
	const char *key = json_string_value(comp);
	if (!key)
		return na_val("odd path component");

	switch (v.kind) {
	case V_ROOT:
		if (!strcmp(key, "bozo"))
			return (struct val){ .kind = V_BOOL, .cat = "bozo", .b = d->res.bozo };
		if (!strcmp(key, "feed") || !strcmp(key, "channel"))
			return (struct val){ .kind = V_HEAD };
		if (!strcmp(key, "entries") || !strcmp(key, "items"))
			return (struct val){ .kind = V_LIST, .list = L_ENTRIES, .n = d->n,
			                     .cat = "entry count", .core = true };
		if (!strcmp(key, "version"))
			return str_val("version (format)", false, feed_format_name(d->res.format), NULL);
		if (!strcmp(key, "encoding"))
			return na_val("the detected encoding is not reported (text comes out as UTF-8)");
		return na_val("HTTP response metadata (headers, etag, modified, status) is the fetcher's, not the parser's");
	case V_HEAD:
		key = alias(key, false);
		if (!strcmp(key, "title"))
			return str_val("title", true, d->head.title, NULL);
		if (!strcmp(key, "title_detail"))
			return (struct val){ .kind = V_DETAIL, .detail_of = "title", .in_feed = true,
			                     .s = d->head.title, .cat = "title", .core = true };
		if (!strcmp(key, "subtitle"))
			return str_val("feed subtitle", false, d->head.subtitle, NULL);
		if (!strcmp(key, "subtitle_detail"))
			return (struct val){ .kind = V_DETAIL, .detail_of = "subtitle", .in_feed = true,
			                     .s = d->head.subtitle, .cat = "feed subtitle" };
		if (!strcmp(key, "link"))
			return str_val("link", true, d->head.link, NULL);
		if (!strcmp(key, "id"))
			return str_val("id", true, d->head.id, NULL);
		if (!strcmp(key, "author"))
			return (struct val){ .kind = V_STR, .cat = "author", .core = true,
			                     .people = d->head.authors, .n = d->head.n_authors,
			                     .detail_of = "author" };
		if (!strcmp(key, "author_detail"))
			return d->head.n_authors ?
				(struct val){ .kind = V_PERSON, .p = &d->head.authors[0],
				              .cat = "author", .core = true } :
				(struct val){ .kind = V_MISSING, .cat = "author", .core = true };
		if (!strcmp(key, "authors"))
			return (struct val){ .kind = V_LIST, .list = L_AUTHORS, .people = d->head.authors,
			                     .n = d->head.n_authors, .cat = "author", .core = true };
		if (!strcmp(key, "updated_parsed"))
			return time_val("date", d->head.updated);
		if (!strcmp(key, "language"))
			return str_val("language", false, d->head.language, NULL);
		if (!strcmp(key, "generator"))
			return str_val("generator", false, d->head.generator, NULL);
		if (!strcmp(key, "icon"))
			return str_val("icon", false, d->head.icon, NULL);
		if (!strcmp(key, "updated") || !strcmp(key, "published"))
			return na_val("raw date text is not kept (the parsed instant is what we check)");
		if (!strcmp(key, "published_parsed"))
			return na_val("feed_head has no published date, only updated");
		if (!strcmp(key, "links"))
			return na_val("feed_head keeps one link (the alternate), not the list");
		return na_val("not in feed_head");
	case V_ENTRY: {
		const struct oentry *e = v.e;
		key = alias(key, true);
		if (!strcmp(key, "title"))
			return str_val("title", true, e->title, e->title_html);
		if (!strcmp(key, "title_detail"))
			return (struct val){ .kind = V_DETAIL, .detail_of = "title", .e = e,
			                     .s = e->title, .html = e->title_html, .cat = "title", .core = true };
		if (!strcmp(key, "link"))
			return str_val("link", true, e->link, NULL);
		if (!strcmp(key, "links"))
			return (struct val){ .kind = V_LIST, .list = L_LINKS, .e = e, .n = e->n_fp_links,
			                     .cat = "link", .core = true };
		if (!strcmp(key, "id"))
			return str_val("id", true, e->id, NULL);
		if (!strcmp(key, "guidislink"))
			return (struct val){ .kind = V_BOOL, .cat = "guidislink", .b = e->permalink && e->id };
		if (!strcmp(key, "author"))
			return (struct val){ .kind = V_STR, .cat = "author", .core = true,
			                     .people = e->authors, .n = e->n_authors, .s = e->author,
			                     .detail_of = "author" };
		if (!strcmp(key, "author_detail"))
			return e->n_authors ?
				(struct val){ .kind = V_PERSON, .p = &e->authors[0], .cat = "author", .core = true } :
				(struct val){ .kind = V_MISSING, .cat = "author", .core = true };
		if (!strcmp(key, "authors"))
			return (struct val){ .kind = V_LIST, .list = L_AUTHORS, .people = e->authors,
			                     .n = e->n_authors, .cat = "author", .core = true };
		if (!strcmp(key, "published_parsed"))
			return time_val("date", e->published);
		if (!strcmp(key, "updated_parsed"))
			return time_val("date", e->updated != VIGIL_TIME_NONE ? e->updated : e->published);
		/* feedparser's model: no summary but content -> summary is the content */
		bool no_sum = empty(e->summary) && empty(e->summary_html);
		const char *sum = no_sum ? e->content : e->summary;
		const char *sum_html = no_sum ? e->content_html : e->summary_html;
		if (!strcmp(key, "summary"))
			return str_val("summary", true, sum, sum_html);
		if (!strcmp(key, "summary_detail"))
			return (struct val){ .kind = V_DETAIL, .detail_of = "summary", .e = e,
			                     .s = sum, .html = sum_html, .cat = "summary", .core = true };
		if (!strcmp(key, "content"))
			return (struct val){ .kind = V_LIST, .list = L_CONTENT, .e = e,
			                     .n = (e->content || e->content_html) ? 1 : 0,
			                     .cat = "content", .core = true };
		if (!strcmp(key, "tags"))
			return (struct val){ .kind = V_LIST, .list = L_TAGS, .e = e, .n = e->n_cats,
			                     .cat = "category", .core = true };
		if (!strcmp(key, "category"))
			return e->n_cats ? str_val("category", true, e->cats[0], NULL) :
				(struct val){ .kind = V_MISSING, .cat = "category", .core = true };
		if (!strcmp(key, "enclosures"))
			return (struct val){ .kind = V_LIST, .list = L_ENCS, .e = e, .n = e->n_encs,
			                     .cat = "enclosure", .core = true };
		if (!strcmp(key, "comments"))
			return str_val("comments", false, e->comments, NULL);
		if (!strcmp(key, "source"))
			return (struct val){ .kind = V_SOURCE, .e = e };
		if (!strcmp(key, "language"))
			return str_val("language", false, e->lang, NULL);
		if (!strcmp(key, "updated") || !strcmp(key, "published") || !strcmp(key, "created") ||
		    !strcmp(key, "expired"))
			return na_val("raw date text is not kept (the parsed instant is what we check)");
		if (!strcmp(key, "created_parsed") || !strcmp(key, "expired_parsed"))
			return na_val("only published and updated dates are modelled");
		if (!strcmp(key, "contributors"))
			return na_val("contributors are not modelled (authors are)");
		if (!strncmp(key, "itunes_", 7) || !strncmp(key, "media_", 6) ||
		    !strncmp(key, "psc_", 4) || !strcmp(key, "where") || !strncmp(key, "wfw_", 4) ||
		    !strncmp(key, "thr_", 4) || !strcmp(key, "image"))
			return na_val("namespace extensions (iTunes, Media RSS, GeoRSS, psc, wfw, thr) are not modelled");
		return na_val("not in the item model");
	}
	case V_SOURCE:
		if (!strcmp(key, "title"))
			return str_val("source title", false, v.e->source_title, NULL);
		return na_val("of <source>, only the title is modelled");
	case V_CONTENT:
		if (!strcmp(key, "value"))
			return str_val("content", true, v.e->content, v.e->content_html);
		if (!strcmp(key, "type"))
			return str_val("content type", false, v.e->content_type, NULL);
		return na_val("per-text-construct xml:base / xml:lang / src are not modelled");
	case V_DETAIL:
		if (!strcmp(key, "value")) {
			struct val r = v;
			r.kind = V_STR;
			return r;
		}
		if (!strcmp(key, "term") && !strcmp(v.detail_of, "tag")) {
			struct val r = v;
			r.kind = V_STR;
			return r;
		}
		return na_val("per-text-construct type / xml:base / xml:lang and tag scheme/label are not modelled");
	case V_LINK:
	case V_ENC: {
		key = alias(key, true);
		const char *cat = v.kind == V_ENC ? "enclosure" : "link";
		if (!strcmp(key, "href"))
			return str_val(cat, true, v.l->href, NULL);
		if (!strcmp(key, "rel"))
			return str_val(cat, true, v.l->rel, NULL);
		if (!strcmp(key, "type"))
			return str_val(cat, true, v.l->type, NULL);
		if (!strcmp(key, "title"))
			return str_val(cat, true, v.l->title, NULL);
		if (!strcmp(key, "length"))
			return (struct val){ .kind = V_INT, .cat = cat, .core = true, .i = v.l->length };
		return na_val("link hreflang is not modelled");
	}
	case V_PERSON:
		key = alias(key, true);
		if (!strcmp(key, "name"))
			return str_val("author", true, v.p->name, NULL);
		if (!strcmp(key, "email"))
			return str_val("author", true, v.p->email, NULL);
		if (!strcmp(key, "href"))
			return str_val("author", true, v.p->uri, NULL);
		return na_val("not a person member");
	case V_MISSING:
		if (v.from_list) {
			/* Would this key be modelled? Ask an empty element of the list. */
			static const struct oentry e0;
			static const struct olink l0;
			static const struct operson p0;
			static const char *const cat0 = NULL;
			struct val w = { .cat = v.cat, .core = v.core };
			switch (v.list) {
			case L_ENTRIES: w.kind = V_ENTRY; w.e = &e0; break;
			case L_LINKS: w.kind = V_LINK; w.l = &l0; break;
			case L_ENCS: w.kind = V_ENC; w.l = &l0; break;
			case L_AUTHORS: w.kind = V_PERSON; w.p = &p0; break;
			case L_TAGS: w = str_val("category", true, cat0, NULL); w.kind = V_DETAIL;
				w.detail_of = "tag"; break;
			case L_CONTENT: w.kind = V_CONTENT; w.e = &e0; break;
			}
			struct val r = step(d, w, comp);
			if (r.kind == V_NA)
				return r;
			return (struct val){ .kind = V_MISSING, .cat = r.cat ? r.cat : v.cat,
			                     .core = r.cat ? r.core : v.core };
		}
		return v;
	case V_NA:
		return v;
	default:
		return na_val("path goes below a value");
	}
}

static struct val resolve(const struct doc *d, const json_t *path)
{
	struct val v = { .kind = V_ROOT };
	size_t i;
	json_t *comp;
	json_array_foreach(path, i, comp)
		v = step(d, v, comp);
	return v;
}

static char *val_str(const struct val *v)
{
	char buf[64];
	switch (v->kind) {
	case V_MISSING: return xstrdup("(absent)");
	case V_STR:
		if (v->detail_of && !strcmp(v->detail_of, "author") && !v->s)
			return xstrdup(v->n ? (v->people[0].name ? v->people[0].name : "(no name)") : "(none)");
		return v->s ? xasprintf("'%s'", v->s) : xstrdup("(none)");
	case V_TIME: return xstrdup(fmt_time(v->t, buf, sizeof(buf)));
	case V_BOOL: return xstrdup(v->b ? "true" : "false");
	case V_INT: return xasprintf("%lld", v->i);
	case V_LIST: return xasprintf("a list of %zu", v->n);
	case V_LINK:
	case V_ENC:
		return xasprintf("{href '%s', rel '%s', type '%s', length %lld}",
		                 v->l->href ? v->l->href : "", v->l->rel ? v->l->rel : "",
		                 v->l->type ? v->l->type : "", (long long)v->l->length);
	case V_PERSON:
		return xasprintf("{name '%s', email '%s', href '%s'}", v->p->name ? v->p->name : "",
		                 v->p->email ? v->p->email : "", v->p->uri ? v->p->uri : "");
	default: return xstrdup("(an object)");
	}
}

static bool truthy(const struct val *v)
{
	switch (v->kind) {
	case V_MISSING: return false;
	case V_STR:
		if (v->detail_of && !strcmp(v->detail_of, "author") && !v->s)
			return v->n > 0;
		return !empty(v->s) || !empty(v->html);
	case V_TIME: return v->t != VIGIL_TIME_NONE;
	case V_BOOL: return v->b;
	case V_INT: return v->i > 0;
	case V_LIST: return v->n > 0;
	default: return true;
	}
}

static bool time_equals_tuple(int64_t t, const json_t *a)
{
	if (!json_is_array(a) || json_array_size(a) < 6 || t == VIGIL_TIME_NONE)
		return false;
	struct tm tm = { 0 };
	tm.tm_year = (int)json_integer_value(json_array_get(a, 0)) - 1900;
	tm.tm_mon = (int)json_integer_value(json_array_get(a, 1)) - 1;
	tm.tm_mday = (int)json_integer_value(json_array_get(a, 2));
	tm.tm_hour = (int)json_integer_value(json_array_get(a, 3));
	tm.tm_min = (int)json_integer_value(json_array_get(a, 4));
	tm.tm_sec = (int)json_integer_value(json_array_get(a, 5));
	return (int64_t)timegm(&tm) == t;
}

static bool link_dict_match(const struct olink *l, const json_t *want, bool enclosure)
{
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)want, k, x) {
		const char *ours = NULL;
		if (!strcmp(k, "href") || !strcmp(k, "url"))
			ours = l->href;
		else if (!strcmp(k, "rel"))
			ours = l->rel;
		else if (!strcmp(k, "type"))
			ours = l->type;
		else if (!strcmp(k, "title"))
			ours = l->title;
		else if (!strcmp(k, "length")) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%lld", (long long)l->length);
			if (!json_is_string(x) || strcmp(json_string_value(x), buf))
				return false;
			continue;
		} else
			return false;      /* a member we do not model */
		if (!json_is_string(x) || !ours || strcmp(json_string_value(x), ours))
			return false;
	}
	/* and nothing we have that the dict lacks */
	if (!enclosure && l->title && !json_object_get(want, "title"))
		return false;
	if (l->length >= 0 && !json_object_get(want, "length"))
		return false;
	return true;
}

static bool person_dict_match(const struct operson *p, const json_t *want)
{
	const char *k;
	json_t *x;
	const char *name = NULL, *email = NULL, *href = NULL;
	json_object_foreach((json_t *)want, k, x) {
		if (!strcmp(k, "name"))
			name = json_string_value(x);
		else if (!strcmp(k, "email"))
			email = json_string_value(x);
		else if (!strcmp(k, "href") || !strcmp(k, "url"))
			href = json_string_value(x);
		else
			return false;
	}
	return text_match(name, p->name, NULL) && text_match(email, p->email, NULL) &&
	       text_match(href, p->uri, NULL);
}

/* Does v equal the JSON literal want? */
static bool val_equals(const struct val *v, const json_t *want)
{
	switch (v->kind) {
	case V_MISSING:
		return json_is_null(want);
	case V_STR:
		if (json_is_null(want))
			return empty(v->s) && (!v->detail_of || strcmp(v->detail_of, "author") || !v->n);
		if (!json_is_string(want))
			return false;
		if (v->detail_of && !strcmp(v->detail_of, "author"))
			return author_string_match(json_string_value(want), v->people, v->n, v->s);
		return text_match(json_string_value(want), v->s, v->html);
	case V_TIME:
		if (json_is_null(want))
			return v->t == VIGIL_TIME_NONE;
		return time_equals_tuple(v->t, want);
	case V_BOOL:
		if (json_is_boolean(want))
			return v->b == json_is_true(want);
		if (json_is_integer(want))
			return v->b == (json_integer_value(want) != 0);
		return false;
	case V_INT:
		if (json_is_string(want)) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%lld", v->i);
			return !strcmp(buf, json_string_value(want));
		}
		if (json_is_integer(want))
			return json_integer_value(want) == v->i;
		return json_is_null(want) && v->i < 0;
	case V_LIST:
		return json_is_array(want) && json_array_size(want) == v->n && v->n == 0;
	case V_LINK:
	case V_ENC:
		return json_is_object(want) && link_dict_match(v->l, want, v->kind == V_ENC);
	case V_PERSON:
		return json_is_object(want) && person_dict_match(v->p, want);
	default:
		return false;
	}
}

static char *path_pattern(const json_t *path)
{
	/* entries[0].links[1].href -> entries[].links[].href, with aliases applied */
	char buf[512] = "";
	size_t i;
	json_t *c;
	bool in_entry = false;
	json_array_foreach(path, i, c) {
		if (json_is_integer(c)) {
			strncat(buf, "[]", sizeof(buf) - strlen(buf) - 1);
			continue;
		}
		const char *k = alias(json_string_value(c), in_entry);
		if (!strcmp(k, "entries"))
			in_entry = true;
		if (*buf)
			strncat(buf, ".", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, k, sizeof(buf) - strlen(buf) - 1);
	}
	return xstrdup(*buf ? buf : "<top>");
}

static void feedparser_assertion(const char *file, const struct doc *d, const json_t *a)
{
	const char *op = jstr(a, "op");
	const json_t *path = json_object_get(a, "path");
	const json_t *want = json_object_get(a, "value");
	const char *what = jstr(a, "path_str");
	char *pat = path_pattern(path);
	char *nacat = xasprintf("n/a: %s", pat);

	if (!strcmp(op, "no_crash")) {
		check("no crash", false, file, "parse without crashing", true, NULL, NULL);
		goto out;
	}
	if (!strcmp(op, "timedelta_seconds")) {
		not_applicable(nacat, "podcast chapter times (psc) are not modelled");
		goto out;
	}
	struct val v = resolve(d, path);
	if (!strcmp(op, "lacks_key")) {
		if (v.kind == V_ROOT) {
			not_applicable(nacat, "HTTP response metadata (headers, etag, modified, status) is the fetcher's, not the parser's");
			goto out;
		}
		json_t *p2 = json_copy((json_t *)path);
		json_array_append(p2, (json_t *)want);
		struct val w = resolve(d, p2);
		json_decref(p2);
		if (w.kind == V_NA) {
			not_applicable(nacat, w.na);
			goto out;
		}
		char *got = val_str(&w);
		char *whatk = xasprintf("'%s' not in %s", json_string_value(want), what);
		check(w.cat ? w.cat : "other", w.core, file, whatk, !truthy(&w), "(absent)", got);
		free(whatk);
		free(got);
		goto out;
	}
	if (v.kind == V_NA) {
		not_applicable(nacat, v.na);
		goto out;
	}
	if (v.kind == V_HEAD || v.kind == V_ENTRY || v.kind == V_ROOT || v.kind == V_SOURCE ||
	    v.kind == V_CONTENT || v.kind == V_DETAIL) {
		if (!strcmp(op, "truthy") || !strcmp(op, "falsy")) {
			check(v.cat ? v.cat : "structure", v.core, file, what,
			      !strcmp(op, "truthy"), op, "an object");
			goto out;
		}
		not_applicable(nacat, "whole-dict comparison of a structure we model only in part");
		goto out;
	}
	const char *cat = v.cat ? v.cat : "other";
	char *got = val_str(&v);
	char *exp = NULL;
	bool ok;
	if (!strcmp(op, "==") || !strcmp(op, "!=")) {
		exp = json_brief(want);
		ok = val_equals(&v, want);
		if (!strcmp(op, "!=")) {
			ok = !ok;
			char *t = xasprintf("not %s", exp);
			free(exp);
			exp = t;
		}
	} else if (!strcmp(op, "falsy") || !strcmp(op, "truthy")) {
		exp = xstrdup(op);
		ok = truthy(&v) == !strcmp(op, "truthy");
	} else if (!strcmp(op, "len")) {
		exp = xasprintf("length %lld", json_integer_value(want));
		long long n = v.kind == V_LIST ? (long long)v.n : v.kind == V_STR && v.s ?
			(long long)strlen(v.s) : -1;
		ok = n == json_integer_value(want);
	} else if (!strcmp(op, "==path")) {
		struct val w = resolve(d, want);
		exp = val_str(&w);
		if (w.kind == V_NA) {
			not_applicable(nacat, w.na);
			free(exp);
			free(got);
			goto out;
		}
		ok = !strcmp(exp, got);
	} else {
		not_applicable(nacat, "an operator this harness does not know");
		free(got);
		goto out;
	}
	check(cat, v.core, file, what, ok, exp, got);
	free(exp);
	free(got);
out:
	free(pat);
	free(nacat);
}

static const char *header_get(const json_t *headers, const char *name)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)headers, k, v)
		if (!strcasecmp(k, name))
			return json_string_value(v);
	return NULL;
}

static int run_feedparser(void)
{
	char *path = xasprintf("%s/feedparser/expectations.json", corpus_dir);
	json_t *root = load_json(path);
	free(path);
	if (!root)
		return EXIT_SKIP;
	json_t *tests = json_object_get(root, "tests");
	const char *file;
	json_t *t;
	unsigned n_files = 0, n_files_pass = 0;
	char *loc_abs = NULL;

	json_object_foreach(tests, file, t) {
		const char *mode = jstr(t, "input_mode");
		const json_t *headers = json_object_get(t, "http_headers");
		const char *base = NULL, *ctype = NULL;
		if (mode && !strcmp(mode, "http")) {
			base = jstr(t, "document_url");
			ctype = header_get(headers, "Content-type");
			if (!ctype)
				ctype = jstr(t, "http_content_type");
			const char *loc = header_get(headers, "Content-Location");
			if (loc && !strncmp(loc, "http", 4)) {
				base = loc;
			} else if (loc && loc[0] == '/' && base && strstr(base, "://")) {
				/* relative to the document's URL (only host-relative ones occur) */
				const char *host_end = strchr(strstr(base, "://") + 3, '/');
				int n = host_end ? (int)(host_end - base) : (int)strlen(base);
				free(loc_abs);
				loc_abs = xasprintf("%.*s%s", n, base, loc);
				base = loc_abs;
			}
		}
		if (strstr(file, "/cdf/") || strstr(file, "/cdf_")) {
			size_t k;
			json_t *a;
			json_array_foreach(json_object_get(t, "assertions"), k, a)
				not_applicable("n/a: CDF documents",
				               "Microsoft CDF (Channel Definition Format) is not a feed format we read");
			free(loc_abs);
			loc_abs = NULL;
			n_files++;
			continue;
		}
		char *fpath = xasprintf("%s/feedparser/%s", corpus_dir, file);
		struct doc d;
		parse_file(&d, fpath, base, ctype);
		free(loc_abs);
		loc_abs = NULL;
		free(fpath);
		unsigned before = n_fail_lines;
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(t, "assertions"), i, a)
			feedparser_assertion(file, &d, a);
		n_files++;
		if (n_fail_lines == before)
			n_files_pass++;
		doc_free(&d);
	}
	json_decref(root);

	unsigned cp, ct;
	print_tallies("feedparser", &cp, &ct);
	printf("feedparser: %u/%u documents without a failed check\n", n_files_pass, n_files);
	return ct && (double)cp / ct >= 0.95 ? 0 : 1;
}

/* --- gofeed ------------------------------------------------------------- */

/* Is this XML document well-formed, namespaces included (libxml2, no recovery)? */
static bool xml_well_formed(const char *buf, size_t len)
{
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return true;
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
		XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	bool ok = doc && ctxt->wellFormed && ctxt->nsWellFormed;
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return ok;
}

/*
 * Where gofeed and vigil differ on purpose (see docs/conformance.md): such a
 * check counts as "deliberate difference", not as a pass.
 */
static const struct {
	const char *file;            /* fnmatch pattern on the label */
	const char *what;            /* prefix of the check */
	const char *reason;
} gofeed_differences[] = {
	{ "gofeed/parser/atom/entry_id_xml_base.xml", "items[0].id",
	  "atom:id is not resolved against xml:base (RFC 4287 4.2.6: an IRI, compared as a string)" },
	{ "*_item_links*.xml", "items[0].link",
	  "of several <link> elements in an RSS item the first is the link (gofeed keeps the last)" },
};

static const char *gofeed_difference(const char *label, const char *what)
{
	for (size_t i = 0; i < sizeof(gofeed_differences) / sizeof(gofeed_differences[0]); i++)
		if (!fnmatch(gofeed_differences[i].file, label, 0) &&
		    !strncmp(what, gofeed_differences[i].what, strlen(gofeed_differences[i].what)))
			return gofeed_differences[i].reason;
	return NULL;
}

/* The first link as gofeed picks it for an Atom entry: rel=alternate (or none), else the first. */
static const char *atom_expected_link(const json_t *links)
{
	size_t i;
	json_t *l;
	json_array_foreach(links, i, l) {
		const char *rel = jstr(l, "rel");
		if (!rel || !strcmp(rel, "alternate"))
			return jstr(l, "href");
	}
	return jstr(json_array_get(links, 0), "href");
}

static bool has_link(const struct oentry *e, const char *href)
{
	if (e->link && !strcmp(e->link, href))
		return true;
	for (size_t i = 0; i < e->n_links; i++)
		if (e->links[i].href && !strcmp(e->links[i].href, href))
			return true;
	for (size_t i = 0; i < e->n_encs; i++)
		if (e->encs[i].href && !strcmp(e->encs[i].href, href))
			return true;
	return false;
}

static void check_text(const char *cat, const char *file, const char *what, const char *want,
                       const char *plain, const char *html)
{
	char *exp = want ? xasprintf("'%s'", want) : xstrdup("(none)");
	char *got = plain ? xasprintf("'%s'", plain) : xstrdup("(none)");
	check(cat, true, file, what, text_match(want, plain, html), exp, got);
	free(exp);
	free(got);
}

/* An expected RFC 3339 instant (or none) against ours. */
static void check_date(const char *file, const char *what, const char *want, int64_t got_t)
{
	char b1[64], b2[64];
	int64_t t;
	if (!want)
		return;              /* nothing (parsable) expected: not a check */
	if (!parse_iso(want, &t)) {
		check("date", true, file, what, false, want, "(unparsable expectation)");
		return;
	}
	check("date", true, file, what, t == got_t, fmt_time(t, b1, sizeof(b1)),
	      fmt_time(got_t, b2, sizeof(b2)));
}

static void check_count(const char *file, size_t want, size_t got)
{
	char b1[32], b2[32];
	snprintf(b1, sizeof(b1), "%zu", want);
	snprintf(b2, sizeof(b2), "%zu", got);
	check("item count", true, file, "item count", want == got, b1, b2);
}

static void check_parsed(const char *file, const struct doc *d)
{
	check("parses", true, file, "feed_parse", d->rc == 0, "0",
	      d->rc == 0 ? "0" : d->res.error);
}

enum gofeed_schema { GF_ATOM, GF_RSS, GF_JSON, GF_UNIVERSAL };

static void gofeed_compare(const char *file, enum gofeed_schema schema, const struct doc *d,
                           const json_t *x, const char *raw)
{
	char what[128];
	check_parsed(file, d);
	if (d->rc != 0)
		return;
	check_text("title", file, "feed title", jstr(x, "title"), d->head.title, NULL);

	const json_t *items = json_object_get(x, schema == GF_ATOM ? "entries" : "items");
	check_count(file, json_array_size(items), d->n);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		if (i >= d->n)
			break;
		const struct oentry *e = &d->e[i];
		snprintf(what, sizeof(what), "items[%zu].title", i);
		check_text("title", file, what, jstr(it, "title"), e->title, e->title_html);

		const char *want_id = NULL, *want_link = NULL, *want_pub = NULL, *want_upd = NULL;
		const char *guid_value = NULL;
		bool link_fallback_ok = false;
		switch (schema) {
		case GF_ATOM:
			want_id = jstr(it, "id");
			want_link = atom_expected_link(json_object_get(it, "links"));
			want_pub = jstr(it, "publishedParsed");
			want_upd = jstr(it, "updatedParsed");
			break;
		case GF_RSS:
			guid_value = jstr(json_object_get(it, "guid"), "value");
			want_id = guid_value;
			want_link = jstr(it, "link");
			want_pub = jstr(it, "pubDateParsed");
			link_fallback_ok = true;
			break;
		case GF_JSON:
			want_id = jstr(it, "id");
			want_link = jstr(it, "url");
			want_pub = jstr(it, "date_published");
			want_upd = jstr(it, "date_modified");
			break;
		case GF_UNIVERSAL:
			want_id = jstr(it, "guid");
			guid_value = want_id;
			want_link = jstr(it, "link");
			want_pub = jstr(it, "publishedParsed");
			want_upd = jstr(it, "updatedParsed");
			link_fallback_ok = true;
			break;
		}
		snprintf(what, sizeof(what), "items[%zu].id", i);
		if (empty(want_id) && e->id && strstr(file, "rdf")) {
			/* RSS 1.0: gofeed has no id for an item; ours is its rdf:about */
			char *attr = xasprintf("rdf:about=\"%s\"", e->id);
			check("id", true, file, what, raw && strstr(raw, attr), "the item's rdf:about", e->id);
			free(attr);
		} else if (gofeed_difference(file, what) && !text_match(want_id, e->id, NULL)) {
			check("deliberate difference", false, file, what, false, want_id, e->id);
		} else {
			check_text("id", file, what, want_id, e->id, NULL);
		}

		snprintf(what, sizeof(what), "items[%zu].link", i);
		bool link_ok;
		if (empty(want_link))
			/* no link: ours may be the guid (RSS: a permalink guid is the link) */
			link_ok = empty(e->link) ||
				(link_fallback_ok && guid_value && !strcmp(e->link, guid_value));
		else
			link_ok = (e->link && !strcmp(e->link, want_link)) ||
				(schema == GF_ATOM && has_link(e, want_link));
		if (!link_ok && gofeed_difference(file, what))
			check("deliberate difference", false, file, what, false, want_link, e->link);
		else
			check("link", true, file, what, link_ok, want_link ? want_link : "(none)",
			      e->link ? e->link : "(none)");
		if (schema == GF_ATOM) {
			size_t k;
			json_t *l;
			json_array_foreach(json_object_get(it, "links"), k, l) {
				const char *href = jstr(l, "href");
				if (!href)
					continue;
				snprintf(what, sizeof(what), "items[%zu].links[%zu].href", i, k);
				check("link", true, file, what, has_link(e, href), href, "not among the links");
			}
		}
		int64_t pub = e->published, upd = e->updated, t;
		if (schema == GF_RSS && pub == VIGIL_TIME_NONE)
			pub = upd;
		if (schema == GF_UNIVERSAL) {
			/* gofeed's translator fills published and updated from whichever
			 * date the source has; ours keeps each in its own slot */
			if (want_pub && parse_iso(want_pub, &t) && upd == t && pub != t)
				pub = t;
			if (want_upd && parse_iso(want_upd, &t) && pub == t && upd != t)
				upd = t;
		}
		snprintf(what, sizeof(what), "items[%zu].published", i);
		check_date(file, what, want_pub, pub);
		snprintf(what, sizeof(what), "items[%zu].updated", i);
		check_date(file, what, want_upd, upd);
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file names in dir, sorted. */
static char **list_dir(const char *dir, size_t *n)
{
	DIR *dh = opendir(dir);
	char **names = NULL;
	*n = 0;
	if (!dh)
		return NULL;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (*n + 1) * sizeof(char *));
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dh);
	qsort(names, *n, sizeof(char *), cmp_str);
	return names;
}

static void free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void gofeed_dir(const char *sub, enum gofeed_schema schema, const char *in_ext,
                       const char *out_suffix, unsigned *n_docs)
{
	char *dir = xasprintf("%s/gofeed/testdata/%s", corpus_dir, sub);
	size_t n;
	char **names = list_dir(dir, &n);
	for (size_t i = 0; i < n; i++) {
		if (!ends_with(names[i], in_ext) || ends_with(names[i], out_suffix))
			continue;
		char *stem = xstrdup(names[i]);
		stem[strlen(stem) - strlen(in_ext)] = '\0';
		char *in = xasprintf("%s/%s", dir, names[i]);
		char *out = xasprintf("%s/%s%s", dir, stem, out_suffix);
		char *label = xasprintf("gofeed/%s/%s", sub, names[i]);
		struct stat st;
		size_t len;
		char *raw;
		if (stat(out, &st) == 0 && (raw = read_whole(in, &len))) {
			json_t *x = load_json(out);
			struct doc d;
			parse_doc(&d, raw, len, NULL, NULL);
			if (x && d.rc != 0 && schema != GF_JSON && strcmp(in_ext, ".json") &&
			    !xml_well_formed(raw, len))
				/* gofeed reads some broken XML; a file that is not XML is no feed */
				check("not-well-formed input", false, label, "feed_parse", false,
				      "0 (gofeed recovers)", d.res.error);
			else if (x)
				gofeed_compare(label, schema, &d, x, raw);
			free(raw);
			(*n_docs)++;
			doc_free(&d);
			json_decref(x);
		}
		free(stem);
		free(in);
		free(out);
		free(label);
	}
	free_list(names, n);
	free(dir);
}

static int run_gofeed(void)
{
	char *path = xasprintf("%s/gofeed/universal_expectations.json", corpus_dir);
	json_t *ux = load_json(path);
	free(path);
	if (!ux)
		return EXIT_SKIP;
	unsigned n_docs = 0;
	gofeed_dir("parser/atom", GF_ATOM, ".xml", ".json", &n_docs);
	gofeed_dir("parser/rss", GF_RSS, ".xml", ".json", &n_docs);
	gofeed_dir("parser/json", GF_JSON, ".json", "_expected.json", &n_docs);
	gofeed_dir("translator/atom", GF_UNIVERSAL, ".xml", ".json", &n_docs);
	gofeed_dir("translator/rss", GF_UNIVERSAL, ".xml", ".json", &n_docs);
	gofeed_dir("translator/json", GF_UNIVERSAL, ".json", "_expected.json", &n_docs);
	gofeed_dir("extensions/dublincore", GF_UNIVERSAL, ".xml", ".json", &n_docs);
	gofeed_dir("extensions/itunes", GF_UNIVERSAL, ".xml", ".json", &n_docs);
	gofeed_dir("extensions/media", GF_UNIVERSAL, ".xml", ".json", &n_docs);

	/* invalid JSON must be an error */
	{
		struct doc d;
		char *in = xasprintf("%s/gofeed/testdata/parser/json/invalid/invalid.json", corpus_dir);
		parse_file(&d, in, NULL, NULL);
		check("rejects non-feeds", true, "gofeed/parser/json/invalid/invalid.json", "an error",
		      d.rc < 0, "< 0", d.rc < 0 ? "< 0" : "0");
		doc_free(&d);
		free(in);
		n_docs++;
	}
	/* the universal parser's detection cases */
	const char *file;
	json_t *c;
	json_object_foreach(json_object_get(ux, "cases"), file, c) {
		char *in = xasprintf("%s/gofeed/testdata/parser/universal/%s", corpus_dir, file);
		char *label = xasprintf("gofeed/parser/universal/%s", file);
		struct doc d;
		parse_file(&d, in, NULL, NULL);
		n_docs++;
		if (json_is_true(json_object_get(c, "expect_error"))) {
			check("rejects non-feeds", true, label, "an error", d.rc < 0, "< 0",
			      d.rc < 0 ? "< 0" : "0 (accepted)");
		} else {
			check_parsed(label, &d);
			const char *type = jstr(c, "feedType");
			const char *ours = feed_format_name(d.res.format);
			bool ok = type && !strncmp(ours, type, strlen(type));
			check("format", true, label, "feed type", ok, type, ours);
			check_text("title", label, "feed title", jstr(c, "title"), d.head.title, NULL);
		}
		doc_free(&d);
		free(in);
		free(label);
	}
	json_decref(ux);
	unsigned cp, ct;
	print_tallies("gofeed", &cp, &ct);
	printf("gofeed: %u documents\n", n_docs);
	return cp == ct ? 0 : 1;
}

/* --- rss-parser --------------------------------------------------------- */

static const char *rssp_item_link(const json_t *it)
{
	return jstr(it, "link");
}

#define RSSP_BASE "http://rss-parser.invalid/feed"

static void rssp_compare(const char *file, const struct doc *d, const json_t *feed)
{
	char what[128];
	check_text("title", file, "feed title", jstr(feed, "title"), d->head.title, NULL);
	const char *flink = jstr(feed, "link");
	if (flink)
		check("link", true, file, "feed link", link_eq(flink, d->head.link, RSSP_BASE),
		      flink, d->head.link);
	const json_t *items = json_object_get(feed, "items");
	check_count(file, json_array_size(items), d->n);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		if (i >= d->n)
			break;
		const struct oentry *e = &d->e[i];
		snprintf(what, sizeof(what), "items[%zu].title", i);
		check_text("title", file, what, jstr(it, "title"), e->title, e->title_html);
		const char *link = rssp_item_link(it);
		snprintf(what, sizeof(what), "items[%zu].link", i);
		const char *guid = jstr(it, "guid") ? jstr(it, "guid") : jstr(it, "id");
		if (link)
			check("link", true, file, what, link_eq(link, e->link, RSSP_BASE), link, e->link);
		else
			check("link", true, file, what, empty(e->link) || link_eq(guid, e->link, RSSP_BASE),
			      "(none)", e->link);
		snprintf(what, sizeof(what), "items[%zu].guid", i);
		const char *about = jstr(it, "rdf:about");
		if (json_is_string(json_object_get(it, "guid")) || json_is_string(json_object_get(it, "id")))
			/* a relative id (reddit's "t3_42tizy") may come out resolved against the base */
			check("id", true, file, what, text_match(guid, e->id, NULL) ||
			      link_eq(guid, e->id, RSSP_BASE), guid, e->id);
		else if (about)
			/* RSS 1.0: the item's rdf:about is its identifier */
			check_text("id", file, what, about, e->id, NULL);
		else if (json_object_get(it, "guid"))
			/* guid with attributes: {"_": value, "$": {...}} */
			check_text("id", file, what, jstr(json_object_get(it, "guid"), "_"), e->id, NULL);
		else
			check("id", true, file, what, empty(e->id), "(none)", e->id);
		snprintf(what, sizeof(what), "items[%zu].isoDate", i);
		check_date(file, what, jstr(it, "isoDate"),
		           e->published != VIGIL_TIME_NONE ? e->published : e->updated);
		const json_t *enc = json_object_get(it, "enclosure");
		if (enc) {
			snprintf(what, sizeof(what), "items[%zu].enclosure.url", i);
			const char *url = jstr(enc, "url");
			check("enclosure", true, file, what, e->n_encs && url && e->encs[0].href &&
			      !strcmp(url, e->encs[0].href), url, e->n_encs ? e->encs[0].href : "(none)");
			const char *type = jstr(enc, "type");
			if (type && e->n_encs) {
				snprintf(what, sizeof(what), "items[%zu].enclosure.type", i);
				check("enclosure", true, file, what, e->encs[0].type &&
				      !strcmp(type, e->encs[0].type), type, e->encs[0].type);
			}
			const char *len = jstr(enc, "length");
			if (len && e->n_encs) {
				char buf[32];
				snprintf(buf, sizeof(buf), "%lld", (long long)e->encs[0].length);
				snprintf(what, sizeof(what), "items[%zu].enclosure.length", i);
				/* an empty or non-numeric length attribute is "absent" to us */
				bool num = *len && strspn(len, "0123456789") == strlen(len);
				check("enclosure", true, file, what, num ? !strcmp(buf, len) :
				      e->encs[0].length < 0, len, buf);
			}
		}
	}
}

static int run_rss_parser(void)
{
	char *path = xasprintf("%s/rss-parser/cases.json", corpus_dir);
	json_t *cases = load_json(path);
	free(path);
	if (!cases)
		return EXIT_SKIP;

	/* 1. every input parses (but `unrecognized`, which is not a feed) */
	size_t n;
	char *dir = xasprintf("%s/rss-parser/input", corpus_dir);
	char **names = list_dir(dir, &n);
	unsigned parsed = 0, inputs = 0;
	for (size_t i = 0; i < n; i++) {
		char *in = xasprintf("%s/%s", dir, names[i]);
		char *label = xasprintf("rss-parser/input/%s", names[i]);
		struct doc d;
		const char *ctype = strncmp(names[i], "encoding.", 9) ? NULL :
			"text/xml; charset=latin1";
		parse_file(&d, in, NULL, ctype);
		inputs++;
		if (!strncmp(names[i], "unrecognized.", 13)) {
			check("rejects non-feeds", true, label, "an error", d.rc < 0, "< 0", "0");
		} else {
			check("parses", true, label, "feed_parse", d.rc == 0 && d.n > 0,
			      "0 and entries", d.rc == 0 ? "no entries" : d.res.error);
			if (d.rc == 0 && d.n > 0)
				parsed++;
		}
		doc_free(&d);
		free(in);
		free(label);
	}
	free_list(names, n);
	free(dir);

	/* 2. the portable core of the golden outputs */
	const char *name;
	json_t *c;
	json_object_foreach(json_object_get(cases, "golden_cases"), name, c) {
		char *in = xasprintf("%s/rss-parser/%s", corpus_dir, jstr(c, "input"));
		char *out = xasprintf("%s/rss-parser/%s", corpus_dir, jstr(c, "expected"));
		char *label = xasprintf("rss-parser/%s", jstr(c, "input"));
		bool latin1 = !strcmp(name, "encoding");
		size_t olen;
		char *obuf = read_whole(out, &olen);
		json_t *x = NULL;
		if (obuf) {
			char *u = latin1 ? latin1_to_utf8(obuf, olen) : obuf;
			json_error_t err;
			x = json_loads(u, 0, &err);
			if (!x)
				fprintf(stderr, "%s:%d: %s\n", out, err.line, err.text);
			if (u != obuf)
				free(u);
			free(obuf);
		}
		struct doc d;
		parse_file(&d, in, RSSP_BASE, latin1 ? "text/xml; charset=latin1" : NULL);
		if (x && d.rc == 0)
			rssp_compare(label, &d, json_object_get(x, "feed"));
		doc_free(&d);
		json_decref(x);
		free(in);
		free(out);
		free(label);
	}
	json_decref(cases);
	unsigned cp, ct;
	print_tallies("rss-parser", &cp, &ct);
	printf("rss-parser: %u/%u real-world feeds parse (plus `unrecognized`, not a feed)\n",
	       parsed, inputs - 1);
	return cp == ct ? 0 : 1;
}

/* --- JSON Feed spec examples -------------------------------------------- */

static int run_jsonfeed(void)
{
	char *path = xasprintf("%s/jsonfeed-spec/expected.json", corpus_dir);
	json_t *root = load_json(path);
	free(path);
	if (!root)
		return EXIT_SKIP;
	const char *file;
	json_t *x;
	char what[128], b1[64];
	json_object_foreach(json_object_get(root, "files"), file, x) {
		char *in = xasprintf("%s/jsonfeed-spec/%s", corpus_dir, file);
		char *label = xasprintf("jsonfeed-spec/%s", file);
		struct doc d;
		parse_file(&d, in, NULL, "application/feed+json");
		check_parsed(label, &d);
		const char *ver = jstr(x, "version");
		const char *want_fmt = ver && strstr(ver, "1.1") ? "json11" : "json10";
		check("format", true, label, "version", !strcmp(want_fmt, feed_format_name(d.res.format)),
		      want_fmt, feed_format_name(d.res.format));
		check_text("title", label, "feed title", jstr(x, "title"), d.head.title, NULL);
		const char *home = jstr(x, "home_page_url");
		check("link", true, label, "home_page_url", d.head.link && home && !strcmp(home, d.head.link),
		      home, d.head.link);
		not_applicable("n/a: feed_url", "feed_head has no feed (self) URL");
		size_t k;
		json_t *nm;
		json_array_foreach(json_object_get(x, "feed_author_names"), k, nm) {
			snprintf(what, sizeof(what), "feed author %zu", k);
			const char *got = k < d.head.n_authors ? d.head.authors[k].name : NULL;
			check_text("author", label, what, json_string_value(nm), got, NULL);
		}
		check("author", true, label, "feed author count",
		      json_array_size(json_object_get(x, "feed_author_names")) == d.head.n_authors,
		      "as listed", "other");
		const json_t *items = json_object_get(x, "items");
		check_count(label, json_array_size(items), d.n);
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) {
			if (i >= d.n)
				break;
			const struct oentry *e = &d.e[i];
			snprintf(what, sizeof(what), "items[%zu].id", i);
			check_text("id", label, what, jstr(it, "id"), e->id, NULL);
			snprintf(what, sizeof(what), "items[%zu].url", i);
			const char *url = jstr(it, "url");
			check("link", true, label, what, url ? e->link && !strcmp(url, e->link) : !e->link,
			      url, e->link);
			snprintf(what, sizeof(what), "items[%zu].title", i);
			check_text("title", label, what, jstr(it, "title"), e->title, NULL);
			snprintf(what, sizeof(what), "items[%zu].content_html present", i);
			bool want_html = json_is_true(json_object_get(it, "has_content_html"));
			check("content", true, label, what, want_html == (e->content_html != NULL),
			      want_html ? "yes" : "no", e->content_html ? "yes" : "no");
			snprintf(what, sizeof(what), "items[%zu].content text", i);
			bool want_text = json_is_true(json_object_get(it, "has_content_text")) || want_html;
			check("content", true, label, what, want_text == !empty(e->content),
			      want_text ? "text" : "none", e->content ? "text" : "none");
			snprintf(what, sizeof(what), "items[%zu].summary", i);
			check_text("summary", label, what, jstr(it, "summary"), e->summary, e->summary_html);
			snprintf(what, sizeof(what), "items[%zu].date_published", i);
			const char *dp = jstr(it, "date_published_utc");
			if (dp)
				check_date(label, what, dp, e->published);
			else
				check("date", true, label, what, e->published == VIGIL_TIME_NONE, "(none)",
				      fmt_time(e->published, b1, sizeof(b1)));
			const json_t *atts = json_object_get(it, "attachments");
			snprintf(what, sizeof(what), "items[%zu].attachments count", i);
			char c1[32], c2[32];
			snprintf(c1, sizeof(c1), "%zu", json_array_size(atts));
			snprintf(c2, sizeof(c2), "%zu", e->n_encs);
			check("enclosure", true, label, what, json_array_size(atts) == e->n_encs, c1, c2);
			json_t *at;
			json_array_foreach(atts, k, at) {
				if (k >= e->n_encs)
					break;
				snprintf(what, sizeof(what), "items[%zu].attachments[%zu]", i, k);
				const char *u = jstr(at, "url"), *mt = jstr(at, "mime_type");
				long long sz = json_is_integer(json_object_get(at, "size_in_bytes")) ?
					json_integer_value(json_object_get(at, "size_in_bytes")) : -1;
				bool ok = u && e->encs[k].href && !strcmp(u, e->encs[k].href) &&
					mt && e->encs[k].type && !strcmp(mt, e->encs[k].type) &&
					sz == e->encs[k].length;
				char *got = xasprintf("%s %s %lld", e->encs[k].href, e->encs[k].type,
				                      (long long)e->encs[k].length);
				char *exp = xasprintf("%s %s %lld", u, mt, sz);
				check("enclosure", true, label, what, ok, exp, got);
				free(got);
				free(exp);
				if (json_object_get(at, "duration_in_seconds"))
					not_applicable("n/a: attachment duration", "attachment durations are not modelled");
			}
			json_array_foreach(json_object_get(it, "effective_author_names"), k, nm) {
				snprintf(what, sizeof(what), "items[%zu].author %zu", i, k);
				const char *got = k < e->n_authors ? e->authors[k].name : NULL;
				bool ok = text_match(json_string_value(nm), got, NULL) ||
					(e->author && strstr(e->author, json_string_value(nm)));
				check("author", true, label, what, ok, json_string_value(nm), got ? got : e->author);
			}
		}
		doc_free(&d);
		free(in);
		free(label);
	}
	json_decref(root);
	unsigned cp, ct;
	print_tallies("jsonfeed", &cp, &ct);
	return cp == ct ? 0 : 1;
}

/* --- feedvalidator ------------------------------------------------------ */

/*
 * Each document in a child process (a crash or a hang is then a finding, not
 * the end of the run): it reports rc, bozo and the entry count through a pipe.
 */
struct fv_outcome {
	int rc;
	int bozo;
	size_t n;
	int status;                  /* the child's wait status */
	double seconds;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fv_run(const char *path, const char *base, struct fv_outcome *o)
{
	int fd[2];
	memset(o, 0, sizeof(*o));
	o->rc = INT_MIN;
	if (pipe(fd) < 0)
		return;
	double t0 = now();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		alarm(10);
		struct doc d;
		parse_file(&d, path, base, NULL);
		struct fv_outcome r = { .rc = d.rc, .bozo = d.res.bozo, .n = d.n };
		if (write(fd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(3);
		_exit(0);
	}
	close(fd[1]);
	if (pid > 0) {
		struct fv_outcome r;
		if (read(fd[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
			o->rc = r.rc;
			o->bozo = r.bozo;
			o->n = r.n;
		}
		waitpid(pid, &o->status, 0);
	} else {
		o->status = -1;
	}
	close(fd[0]);
	o->seconds = now() - t0;
}

static int run_feedvalidator(void)
{
	char *path = xasprintf("%s/feedvalidator/expectations.json", corpus_dir);
	json_t *root = load_json(path);
	free(path);
	if (!root)
		return EXIT_SKIP;
	const char *file;
	json_t *t;
	unsigned valid = 0, valid_ok = 0, valid_bozo = 0, sax = 0, sax_flagged = 0, all = 0;
	double slowest = 0;
	char *slowest_file = xstrdup("");
	json_object_foreach(json_object_get(root, "tests"), file, t) {
		char *in = xasprintf("%s/feedvalidator/%s", corpus_dir, file);
		char *base = xasprintf("http://www.feedvalidator.org/%s", file);
		char *label = xasprintf("feedvalidator/%s", file);
		struct fv_outcome o;
		fv_run(in, base, &o);
		all++;
		if (o.seconds > slowest) {
			slowest = o.seconds;
			free(slowest_file);
			slowest_file = xstrdup(file);
		}
		bool died = !WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0;
		char got[128];
		if (died)
			snprintf(got, sizeof(got), WIFSIGNALED(o.status) ? "killed by signal %d%s" :
			         "exit status %d%s", WIFSIGNALED(o.status) ? WTERMSIG(o.status) :
			         WEXITSTATUS(o.status), WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGALRM ?
			         " (hang: over 10 s)" : "");
		check("no crash or hang", true, label, "parse", !died, "a return", got);
		if (json_is_true(json_object_get(t, "expect_valid"))) {
			valid++;
			snprintf(got, sizeof(got), "rc %d", o.rc);
			check("valid documents parse", true, label, "valid feed parses", !died && o.rc == 0,
			      "rc 0", got);
			if (!died && o.rc == 0) {
				valid_ok++;
				if (o.bozo) {
					valid_bozo++;
					check("valid documents not flagged bozo", false, label, "bozo", false,
					      "false", "true");
				} else {
					check("valid documents not flagged bozo", false, label, "bozo", true,
					      NULL, NULL);
				}
			}
		}
		if (json_is_true(json_object_get(t, "expect_sax_error"))) {
			sax++;
			bool flagged = !died && (o.rc < 0 || o.bozo);
			sax_flagged += flagged;
			check("not-well-formed documents flagged", false, label, "error or bozo", flagged,
			      "rc < 0 or bozo", "accepted as well-formed");
		}
		free(in);
		free(base);
		free(label);
	}
	unsigned cp, ct;
	print_tallies("feedvalidator", &cp, &ct);
	printf("feedvalidator: %u documents, none crashed or hung: %s; valid ones parsed: %u/%u "
	       "(%u flagged bozo); not-well-formed flagged: %u/%u; slowest %.3f s (%s)\n",
	       all, tally_get("no crash or hang", true)->fail ? "NO" : "yes", valid_ok, valid,
	       valid_bozo, sax_flagged, sax, slowest, slowest_file);
	free(slowest_file);
	json_decref(root);
	return cp == ct ? 0 : 1;
}

/* --- SEC EDGAR ---------------------------------------------------------- */

/*
 * The filing dates, read from the raw document independently of the parser:
 * per <entry>, <filing-date>X</filing-date>, else "Filed:&lt;/b&gt; X" in the summary.
 */
static char **sec_filing_dates(const char *buf, size_t *n)
{
	char **out = NULL;
	*n = 0;
	for (const char *p = strstr(buf, "<entry>"); p; p = strstr(p + 1, "<entry>")) {
		const char *end = strstr(p, "</entry>");
		if (!end)
			break;
		char date[11] = "";
		const char *f = strstr(p, "<filing-date>");
		if (f && f < end) {
			memcpy(date, f + 13, 10);
		} else if ((f = strstr(p, "Filed:&lt;/b&gt; ")) && f < end) {
			memcpy(date, f + 17, 10);
		}
		date[10] = '\0';
		out = xrealloc(out, (*n + 1) * sizeof(char *));
		out[(*n)++] = *date ? xstrdup(date) : NULL;
	}
	return out;
}

static int run_sec(void)
{
	char *path = xasprintf("%s/regulatory/expectations.json", corpus_dir);
	json_t *root = load_json(path);
	free(path);
	if (!root)
		return EXIT_SKIP;
	const char *file;
	json_t *fx;
	char what[160], b1[64];
	json_object_foreach(json_object_get(root, "files"), file, fx) {
		if (strncmp(file, "sec-edgar/", 10)) {
			not_applicable("n/a: federal-register", "a JSON search API response, not a feed (a plugin of its own)");
			continue;
		}
		const json_t *x = json_object_get(fx, "derived");
		char *in = xasprintf("%s/regulatory/%s", corpus_dir, file);
		char *label = xasprintf("regulatory/%s", file);
		size_t len;
		char *buf = read_whole(in, &len);
		if (!buf) {
			check("parses", true, label, "read", false, "readable", strerror(errno));
			continue;
		}
		struct doc d;
		parse_doc(&d, buf, len, "https://www.sec.gov/cgi-bin/browse-edgar", "application/atom+xml");
		size_t n_dates;
		char **dates = sec_filing_dates(buf, &n_dates);
		free(buf);
		check_parsed(label, &d);
		check("format", true, label, "format", d.res.format == FEED_ATOM10, "atom10",
		      feed_format_name(d.res.format));
		/* feed-level data: not in the bar (EDGAR puts it after the entries) */
		check("feed head", false, label, "feed title", text_match(jstr(x, "feed_title"),
		      d.head.title, NULL), jstr(x, "feed_title"), d.head.title);
		check("feed head", false, label, "feed id", text_match(jstr(x, "feed_id"), d.head.id, NULL),
		      jstr(x, "feed_id"), d.head.id);
		int64_t fu;
		if (parse_iso(jstr(x, "feed_updated_utc"), &fu))
			check("feed head", false, label, "feed updated", fu == d.head.updated,
			      jstr(x, "feed_updated_utc"), fmt_time(d.head.updated, b1, sizeof(b1)));
		const json_t *entries = json_object_get(x, "entries");
		check_count(label, (size_t)json_integer_value(json_object_get(x, "entry_count")), d.n);
		size_t i;
		json_t *it;
		json_array_foreach(entries, i, it) {
			if (i >= d.n)
				break;
			const struct oentry *e = &d.e[i];
			snprintf(what, sizeof(what), "entries[%zu].id", i);
			check_text("id", label, what, jstr(it, "id"), e->id, NULL);
			snprintf(what, sizeof(what), "entries[%zu].title", i);
			check_text("title", label, what, jstr(it, "title"), e->title, e->title_html);
			snprintf(what, sizeof(what), "entries[%zu].link", i);
			const char *link = jstr(it, "link");
			check("link", true, label, what, e->link && link && !strcmp(e->link, link), link, e->link);
			snprintf(what, sizeof(what), "entries[%zu].updated", i);
			check_date(label, what, jstr(it, "updated_utc"), e->updated);

			const char *term = jstr(it, "category_term");
			snprintf(what, sizeof(what), "entries[%zu].fields.form_type", i);
			const char *ft = field_string(e, "form_type");
			check("form_type field", true, label, what, term && ft && !strcmp(term, ft), term, ft);
			bool in_cats = false;
			for (size_t k = 0; k < e->n_cats; k++)
				in_cats |= term && !strcmp(e->cats[k], term);
			snprintf(what, sizeof(what), "entries[%zu].categories", i);
			check("category", true, label, what, in_cats, term, e->n_cats ? e->cats[0] : NULL);

			const char *id = jstr(it, "id"), *acc = id ? strstr(id, "accession-number=") : NULL;
			acc = acc ? acc + 17 : NULL;
			const char *cacc = jstr(it, "content_accession_number");
			if (cacc && acc && strcmp(cacc, acc))
				acc = NULL;  /* the expectation disagrees with itself */
			snprintf(what, sizeof(what), "entries[%zu].fields.accession_number", i);
			const char *an = field_string(e, "accession_number");
			check("accession_number field", true, label, what, acc && an && !strcmp(acc, an), acc, an);

			snprintf(what, sizeof(what), "entries[%zu].fields.filing_date", i);
			const char *want_fd = i < n_dates ? dates[i] : NULL;
			const char *fd = field_string(e, "filing_date");
			check("filing_date field", true, label, what,
			      want_fd && fd && !strncmp(fd, want_fd, 10), want_fd, fd);
		}
		for (size_t k = 0; k < n_dates; k++)
			free(dates[k]);
		free(dates);
		doc_free(&d);
		free(in);
		free(label);
	}
	json_decref(root);
	unsigned cp, ct;
	print_tallies("sec", &cp, &ct);
	return cp == ct ? 0 : 1;
}

/* --- main --------------------------------------------------------------- */

static const char *find_corpora(void)
{
	static char path[PATH_MAX];
	const char *shared = getenv("VIGIL_SHARED_DIR");
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	struct stat st;
	if (shared && *shared)
		snprintf(path, sizeof(path), "%s/conformance", shared);
	else if (root && *root)
		snprintf(path, sizeof(path), "%s/../shared/conformance", root);
	else
		return NULL;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: run-conformance [--report] [--verbose] [--strict-text] CORPUS\n"
		"CORPUS: feedparser, gofeed, rss-parser, jsonfeed, feedvalidator or sec.\n"
		"The corpora are in $VIGIL_SHARED_DIR/conformance (else\n"
		"$VIGIL_SOURCE_ROOT/../shared/conformance). --report prints a table per\n"
		"category (with the reasons for what is not applicable) instead of each failure.\n"
		"--strict-text: compare texts as given and up to white space only, without\n"
		"turning expected markup into text first (to see how much that step carries).\n"
		"Exit: 0 at or above the corpus's bar, 1 below it, 77 when the corpus is absent.\n");
}

int main(int argc, char **argv)
{
	const char *mode = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--report"))
			report_mode = true;
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--strict-text"))
			strict_text = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!mode)
			mode = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!mode) {
		usage(stderr);
		return 2;
	}
	static const struct {
		const char *name, *dir;
		int (*run)(void);
	} modes[] = {
		{ "feedparser", "feedparser", run_feedparser },
		{ "gofeed", "gofeed", run_gofeed },
		{ "rss-parser", "rss-parser", run_rss_parser },
		{ "jsonfeed", "jsonfeed-spec", run_jsonfeed },
		{ "feedvalidator", "feedvalidator", run_feedvalidator },
		{ "sec", "regulatory", run_sec },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(mode, modes[i].name))
			continue;
		corpus_dir = find_corpora();
		struct stat st;
		char *sub = corpus_dir ? xasprintf("%s/%s", corpus_dir, modes[i].dir) : NULL;
		bool found = sub && stat(sub, &st) == 0;
		free(sub);
		if (!found) {
			printf("%s: corpus not found (set VIGIL_SHARED_DIR or VIGIL_SOURCE_ROOT): skipped\n",
			       mode);
			return EXIT_SKIP;
		}
		double t0 = now();
		int r = modes[i].run();
		printf("%s: %.1f s, %s\n", mode, now() - t0, r == 0 ? "PASS" : r == EXIT_SKIP ?
		       "SKIP" : "below the bar");
		return r;
	}
	fprintf(stderr, "run-conformance: unknown corpus '%s'\n", mode);
	usage(stderr);
	return 2;
}
