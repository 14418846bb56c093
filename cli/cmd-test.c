/* cmd-test.c - vigilctl test: which rules fire on which items, and why; rules-as-code tests */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "feed.h"
#include "item.h"
#include "match.h"
#include "rules.h"
#include "util.h"
#include "when.h"
#include "yaml.h"

/* Integers outside RFC 3339's years are not Unix seconds (milliseconds, say). */
#define TIME_MIN (-62135596800LL)    /* 0001-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL      /* 9999-12-31T23:59:59Z */

/* One item read from an input, and what fired on it. */
struct tested_item {
	struct owned_item *it;
	char *where;                 /* "FILE:LINE" (or the expect file's position) */
	struct match *m;
	size_t n_m;
};

/* The items of one input (a file, or one inline item of an expect file). */
struct run {
	char *path;                  /* as opened; NULL: inline */
	char *source;                /* source name handed to the matcher, or NULL */
	struct tested_item *items;
	size_t n;
	bool unreadable;
};

/* What the command works with. */
struct tester {
	struct cli_rules rules;
	struct matcher *m;
	const struct ruleset *rs;    /* the matcher's rules (borrowed from it) */
	bool isolate;                /* each run starts with fresh when: edge state */
	const char *source;          /* --source */
	bool json, verbose;
	size_t n_items, n_fired_items, n_matches;
};

void cmd_test_usage(FILE *out)
{
	fprintf(out,
		"Usage: vigilctl test [-c CONFIG] [--rules PATH] [--json] [--expect FILE] [INPUT]...\n"
		"Load the watch rules, read each INPUT (JSON Lines: one item object per line; '-' is\n"
		"standard input) and print which rules fire on which item, and why.\n"
		"\n"
		"  -c, --config FILE   configuration whose rules (and sink/source names) to use\n"
		"  -r, --rules PATH    a rules file or directory instead of the configuration's\n"
		"      --source NAME   the source name the items come from (rules' sources: globs)\n"
		"  -j, --json          one JSON object per (item, rule): rule, severity, item.id,\n"
		"                      item.title, reason, reason_terms, story_key\n"
		"  -e, --expect FILE   run rules-as-code tests: a YAML list of {input: PATH | item: {...},\n"
		"                      rule: NAME, fires: true|false [, item: ID] [, source: NAME]}\n"
		"  -v, --verbose       also list items on which no rule fired, and passed expectations\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit status: 0 (also when nothing fires); 1 invalid rules or a failed expectation;\n"
		"2 wrong usage or an unreadable input (its file and line are printed).\n");
}

/* --- items -------------------------------------------------------------- */

/*
 * JSON keys as the jsonl source reads them: lower_snake_case ("feedTitle" is
 * feed_title). out holds at least 2 * strlen(key) + 1 bytes. False for a key
 * without a letter or digit.
 */
static bool snake_case(const char *key, char *out)
{
	bool useful = false;
	char *o = out;
	for (const char *k = key; *k; k++) {
		unsigned char c = (unsigned char)*k;
		if (c < 0x80 && isupper(c)) {
			if (k > key && (islower((unsigned char)k[-1]) || isdigit((unsigned char)k[-1])))
				*o++ = '_';
			*o++ = (char)tolower(c);
			useful = true;
		} else if (c < 0x80 && (islower(c) || isdigit(c))) {
			*o++ = (char)c;
			useful = true;
		} else {
			*o++ = '_';
		}
	}
	*o = '\0';
	return useful;
}

static bool is_text_key(const char *k)
{
	static const char *const keys[] = {
		"id", "title", "summary", "content", "author", "link", "lang", "feed_title",
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strcmp(k, keys[i]))
			return true;
	return false;
}

/* A JSON time (RFC 3339 text, or Unix seconds) as RFC 3339 text, or NULL. */
static json_t *time_json(const json_t *v)
{
	char buf[32];
	if (json_is_string(v))
		return json_string(json_string_value(v));
	if (!json_is_number(v))
		return NULL;
	double t = json_number_value(v);
	if (!isfinite(t) || t < (double)TIME_MIN || t > (double)TIME_MAX)
		return NULL;
	return json_string(time_format_rfc3339((int64_t)floor(t), buf, sizeof buf));
}

/*
 * The item JSON form (item_to_json's) from either that form or the jsonl
 * source's: the same keys in any case style, an integer id, Unix-second
 * dates, a single category string, and any other string or number key as a
 * field. Explicit `fields: {...}` win over top-level keys; first value wins.
 */
static json_t *item_form(json_t *in)
{
	json_t *out = json_object();
	json_t *fields = json_object();
	json_t *given = json_object_get(in, "fields");
	const char *key;
	json_t *v;

	if (json_is_object(given)) {
		json_object_foreach(given, key, v)
			if (json_is_string(v) || json_is_number(v))
				json_object_set(fields, key, v);
	}
	json_object_foreach(in, key, v) {
		if (!strcmp(key, "fields") && json_is_object(v))
			continue;
		char *name = xmalloc(2 * strlen(key) + 1);
		if (!snake_case(key, name)) {
			free(name);
			continue;
		}
		if (is_text_key(name)) {
			if (json_object_get(out, name)) {
				/* the first usable value wins */
			} else if (json_is_string(v)) {
				json_object_set(out, name, v);
			} else if (!strcmp(name, "id") && json_is_integer(v)) {
				char *text = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
				json_object_set_new(out, name, json_string(text));
				free(text);
			}
		} else if (!strcmp(name, "categories")) {
			if (!json_object_get(out, name) && (json_is_array(v) || json_is_string(v))) {
				json_t *cats = json_array();
				size_t i;
				json_t *c;
				if (json_is_string(v))
					json_array_append(cats, v);
				else
					json_array_foreach(v, i, c)
						if (json_is_string(c))
							json_array_append(cats, c);
				json_object_set_new(out, name, cats);
			}
		} else if (!strcmp(name, "published") || !strcmp(name, "updated")) {
			json_t *t = json_object_get(out, name) ? NULL : time_json(v);
			if (t)
				json_object_set_new(out, name, t);
		} else if ((json_is_string(v) || json_is_number(v)) && !json_object_get(fields, name)) {
			json_object_set(fields, name, v);
		}
		free(name);
	}
	if (json_object_size(fields))
		json_object_set_new(out, "fields", fields);
	else
		json_decref(fields);
	return out;
}

static void run_add_item(struct run *run, json_t *obj, char *where)
{
	json_t *form = item_form(obj);
	struct tested_item *t;
	run->items = xrealloc(run->items, (run->n + 1) * sizeof *run->items);
	t = &run->items[run->n++];
	memset(t, 0, sizeof *t);
	t->it = item_from_json(form);
	t->where = where;
	json_decref(form);
}

static void run_free(struct run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		item_free(run->items[i].it);
		free(run->items[i].where);
		matches_free(run->items[i].m, run->items[i].n_m);
	}
	free(run->items);
	free(run->path);
	free(run->source);
	memset(run, 0, sizeof *run);
}

/* A feed's entries become items of the run, named FILE#N. */
struct feed_run {
	struct run *run;
	const char *shown;
	size_t n;
};

static int on_feed_entry(void *userdata, const struct feed_head *head,
                         const struct feed_entry *entry)
{
	struct feed_run *fr = userdata;
	struct vigil_item item = entry->item;
	if (!item.feed_title && head)
		item.feed_title = head->title;
	json_t *obj = item_to_json(&item);
	run_add_item(fr->run, obj, xasprintf("%s#%zu", fr->shown, ++fr->n));
	json_decref(obj);
	return 0;
}

/* Is this document a feed (XML, or a JSON Feed) rather than JSON Lines? */
static bool looks_like_feed(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p < end && *p == '<')
		return true;
	/* A JSON Feed is one JSON object whose "version" names jsonfeed.org. */
	json_t *doc = json_loadb(p, (size_t)(end - p), 0, NULL);
	const char *version = json_string_value(json_object_get(doc, "version"));
	bool feed = version && strstr(version, "jsonfeed.org/version");
	json_decref(doc);
	return feed;
}

/* Read a feed file through the rss plugin's parser. 0, or -1 (run->unreadable). */
static int run_read_feed(struct run *run, const char *text, size_t len, const char *shown,
                         struct diags *d)
{
	struct feed_run fr = { run, shown, 0 };
	struct feed_callbacks cb = { .entry = on_feed_entry };
	struct feed_options opt = { 0 };
	struct feed_result res;
	if (feed_parse(text, len, &opt, &cb, &fr, &res) < 0) {
		diag_add(d, shown, 0, 0, "not a feed vigil can read: %s", res.error);
		run->unreadable = true;
		return -1;
	}
	if (res.bozo)
		fprintf(stderr, "vigilctl test: %s: %s (the entries that could be read are used)\n",
		        shown, res.error);
	return 0;
}

static bool blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)p[i]))
			return false;
	return true;
}

/*
 * Read the items of a JSON Lines file ("-": standard input). Every line is
 * read; a bad one is reported as FILE:LINE:COLUMN and the others are kept.
 * `from`: the expect file's node naming the file, for a file that cannot be
 * opened. Returns 0, or -1 when the file or a line could not be read
 * (run->unreadable).
 */
static int run_read(struct run *run, const char *path, const char *shown,
                    const struct ynode *from, struct diags *d)
{
	size_t len;
	char *text = cli_read_file(!strcmp(path, "-") ? "/dev/stdin" : path, &len);
	if (!text) {
		if (from)
			diag_add(d, from->file, from->line, from->column, "cannot read %s: %s", shown,
			         strerror(errno));
		else
			diag_add(d, shown, 0, 0, "cannot read: %s", strerror(errno));
		run->unreadable = true;
		return -1;
	}
	const char *p = text, *end = text + len;
	if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	if (looks_like_feed(p, end)) {
		int r = run_read_feed(run, text, len, shown, d);
		free(text);
		return r;
	}
	int line_no = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line = p;
		size_t line_len = (size_t)((nl ? nl : end) - line);
		p = nl ? nl + 1 : end;
		line_no++;
		if (blank(line, line_len))
			continue;

		json_error_t jerr;
		json_t *obj = json_loadb(line, line_len, JSON_DECODE_ANY, &jerr);
		if (!obj) {
			diag_add(d, shown, line_no, jerr.column > 0 ? jerr.column : 1, "%s", jerr.text);
			run->unreadable = true;
			continue;
		}
		if (!json_is_object(obj)) {
			diag_add(d, shown, line_no, 1, "expected an item (a JSON object), got %s",
			         json_is_array(obj) ? "an array" : json_is_string(obj) ? "a string" :
			         json_is_number(obj) ? "a number" : "a JSON literal");
			run->unreadable = true;
			json_decref(obj);
			continue;
		}
		run_add_item(run, obj, xasprintf("%s:%d", shown, line_no));
		json_decref(obj);
	}
	free(text);
	return run->unreadable ? -1 : 0;
}

/* --- matching ------------------------------------------------------------ */

/*
 * Match the items of a run in order. `when:` rules are edge-triggered per
 * key, with the state in memory (st NULL): the inputs on the command line
 * are one stream, as the daemon would see them; each expectation's input
 * (t->isolate) starts afresh, so expectations do not depend on each other.
 */
static int run_match(struct tester *t, struct run *run)
{
	int err = 0;
	if (t->isolate)
		when_memory_clear();
	for (size_t i = 0; i < run->n; i++) {
		struct tested_item *ti = &run->items[i];
		int r = matcher_match(t->m, &ti->it->item, run->source, NULL, &ti->m, &ti->n_m);
		if (r < 0) {
			fprintf(stderr, "vigilctl test: %s: matching failed: %s\n", ti->where, strerror(-r));
			err = r;
		}
		t->n_items++;
		t->n_matches += ti->n_m;
		if (ti->n_m)
			t->n_fired_items++;
	}
	return err;
}

/* --- output -------------------------------------------------------------- */

/* Text on one line: control characters (a newline in a title) as spaces. */
static void put_line_text(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
}

/* How an item is named in messages: its id, else its link, else where it was. */
static const char *item_name(const struct tested_item *ti)
{
	const struct vigil_item *it = &ti->it->item;
	return it->id ? it->id : it->link ? it->link : ti->where;
}

/* `ID "TITLE"` */
static void put_item(FILE *out, const struct tested_item *ti)
{
	put_line_text(out, item_name(ti));
	if (ti->it->item.title) {
		fputs(" \"", out);
		put_line_text(out, ti->it->item.title);
		fputc('"', out);
	}
}

static void print_text(const struct tester *t, const struct run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		const struct tested_item *ti = &run->items[i];
		if (!ti->n_m && !t->verbose)
			continue;
		put_item(stdout, ti);
		if (t->verbose)
			printf("  (%s)", ti->where);
		putchar('\n');
		if (!ti->n_m)
			printf("  (no rule fired)\n");
		for (size_t k = 0; k < ti->n_m; k++) {
			const struct match *m = &ti->m[k];
			printf("  -> ");
			put_line_text(stdout, m->rule);
			printf(" (%s): ", m->severity ? m->severity : "normal");
			put_line_text(stdout, m->reason ? m->reason : "");
			putchar('\n');
		}
	}
}

static json_t *json_text_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void print_json(const struct run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		const struct tested_item *ti = &run->items[i];
		const struct vigil_item *it = &ti->it->item;
		for (size_t k = 0; k < ti->n_m; k++) {
			const struct match *m = &ti->m[k];
			json_t *terms = m->reason_json ? json_loads(m->reason_json, JSON_DECODE_ANY, NULL) : NULL;
			if (!json_is_array(terms)) {
				json_decref(terms);
				terms = json_array();
			}
			json_t *item = json_object();
			json_object_set_new(item, "id", json_text_or_null(it->id));
			json_object_set_new(item, "title", json_text_or_null(it->title));
			if (it->link)
				json_object_set_new(item, "link", json_string(it->link));
			json_t *o = json_object();
			json_object_set_new(o, "rule", json_string(m->rule));
			json_object_set_new(o, "severity", json_text_or_null(m->severity));
			json_object_set_new(o, "item", item);
			json_object_set_new(o, "reason", json_text_or_null(m->reason));
			json_object_set_new(o, "reason_terms", terms);
			json_object_set_new(o, "story_key", json_text_or_null(m->story_key));
			if (run->source)
				json_object_set_new(o, "source", json_string(run->source));
			json_object_set_new(o, "input", json_string(ti->where));
			char *line = json_dumps(o, JSON_COMPACT);
			if (line)
				puts(line);
			free(line);
			json_decref(o);
		}
	}
}

/* --- expectations -------------------------------------------------------- */

struct expectation {
	const struct ynode *node;    /* the entry, for its position */
	const char *input;           /* as written (NULL: inline) */
	char *input_path;            /* relative to the expect file */
	const struct ynode *inline_item;
	const char *item_id;         /* restrict to the items with this id */
	const char *rule;
	bool fires;
	const char *source;          /* NULL: --source */
};

static const char *const expect_keys[] = { "input", "item", "rule", "fires", "source" };
#define N_EXPECT_KEYS (sizeof expect_keys / sizeof expect_keys[0])

/* A scalar's text for a field that must be a non-empty string. */
static const char *expect_text(const struct ynode *entry, const char *key, bool required,
                               struct diags *d)
{
	const struct ynode *v = ynode_get(entry, key);
	char buf[64];
	if (!v) {
		if (required)
			diag_add(d, entry->file, entry->line, entry->column,
			         "this expectation has no `%s:`", key);
		return NULL;
	}
	if (v->type != YNODE_SCALAR || ynode_is_null(v) || !*v->value) {
		diag_add(d, v->file, v->line, v->column, "`%s:` must be a non-empty text, not %s",
		         key, ynode_describe(v, buf, sizeof buf));
		return NULL;
	}
	return v->value;
}

static int parse_expectations(const struct ydoc *doc, const char *dir, struct expectation **out,
                              size_t *n_out, struct diags *d)
{
	const struct ynode *root = doc->root;
	size_t before = d->n;
	*out = NULL;
	*n_out = 0;
	if (!root)
		return 0;
	if (root->type != YNODE_SEQUENCE) {
		diag_add(d, root->file, root->line, root->column,
		         "expected a list of expectations ({input:, rule:, fires:}), got %s",
		         ynode_kind(root));
		return -1;
	}
	struct expectation *ex = xcalloc(root->n ? root->n : 1, sizeof *ex);
	for (size_t i = 0; i < root->n; i++) {
		const struct ynode *e = root->items[i];
		struct expectation *x = &ex[i];
		x->node = e;
		if (e->type != YNODE_MAPPING) {
			diag_add(d, e->file, e->line, e->column,
			         "expected an expectation {input:, rule:, fires:}, got %s", ynode_kind(e));
			continue;
		}
		for (size_t k = 0; k < e->n; k++) {
			const struct ynode *key = e->entries[k].key;
			bool known = false;
			for (size_t j = 0; j < N_EXPECT_KEYS; j++)
				known = known || !strcmp(key->value, expect_keys[j]);
			if (known)
				continue;
			const char *near = closest_match(key->value, expect_keys, N_EXPECT_KEYS);
			if (near)
				diag_add(d, key->file, key->line, key->column,
				         "unknown key \"%s\" (did you mean \"%s\"?)", key->value, near);
			else
				diag_add(d, key->file, key->line, key->column,
				         "unknown key \"%s\" (expected input, item, rule, fires, source)",
				         key->value);
		}
		x->rule = expect_text(e, "rule", true, d);
		x->source = ynode_get(e, "source") ? expect_text(e, "source", false, d) : NULL;

		const struct ynode *fires = ynode_get(e, "fires");
		char buf[64];
		if (!fires)
			diag_add(d, e->file, e->line, e->column,
			         "this expectation has no `fires: true` or `fires: false`");
		else if (ynode_bool(fires, &x->fires) < 0)
			diag_add(d, fires->file, fires->line, fires->column,
			         "`fires:` must be true or false, not %s",
			         ynode_describe(fires, buf, sizeof buf));

		const struct ynode *item = ynode_get(e, "item");
		if (item && item->type == YNODE_MAPPING)
			x->inline_item = item;
		else if (item)
			x->item_id = expect_text(e, "item", false, d);
		if (ynode_get(e, "input")) {
			x->input = expect_text(e, "input", false, d);
			if (x->input)
				x->input_path = strcmp(dir, ".") ? path_join(dir, x->input) :
				                xstrdup(x->input);
		}
		if (x->inline_item && x->input) {
			diag_add(d, item->file, item->line, item->column,
			         "an expectation takes `input: FILE` or an inline `item: {...}`, not both");
		} else if (!x->inline_item && !ynode_get(e, "input")) {
			diag_add(d, e->file, e->line, e->column, "this expectation has no `input: FILE` "
			         "(JSON Lines, relative to %s) and no inline `item: {title: ...}`",
			         doc->file);
		}
	}
	*out = ex;
	*n_out = root->n;
	return d->n > before ? -1 : 0;
}

/* A YAML node as JSON. Plain scalars that look like numbers become numbers
 * unless `as_text`; true/false become booleans, null null. */
static json_t *ynode_json(const struct ynode *n, bool as_text)
{
	switch (n->type) {
	case YNODE_SCALAR: {
		if (!n->plain || as_text)
			return json_string(n->value);
		if (ynode_is_null(n))
			return json_null();
		if (!strcmp(n->value, "true") || !strcmp(n->value, "false"))
			return json_boolean(n->value[0] == 't');
		long long i;
		double x;
		if (ynode_int(n, &i) == 0)
			return json_integer(i);
		if (ynode_number(n, &x) == 0)
			return json_real(x);
		return json_string(n->value);
	}
	case YNODE_SEQUENCE: {
		json_t *a = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(a, ynode_json(n->items[i], as_text));
		return a;
	}
	case YNODE_MAPPING: {
		json_t *o = json_object();
		for (size_t i = 0; i < n->n; i++)
			json_object_set_new(o, n->entries[i].key->value,
			                    ynode_json(n->entries[i].value, as_text));
		return o;
	}
	}
	return json_null();
}

/* An inline item: text keys stay text ("title: 2026" is a title). */
static json_t *inline_item_json(const struct ynode *map)
{
	json_t *o = json_object();
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->entries[i].key->value;
		const struct ynode *v = map->entries[i].value;
		bool text = is_text_key(k) || !strcmp(k, "categories");
		json_object_set_new(o, k, ynode_json(v, text));
	}
	return o;
}

/* Runs of input files, each read and matched once per source name. */
struct run_cache {
	struct run **runs;
	size_t n;
};

static struct run *cache_get(struct tester *t, struct run_cache *c, const struct expectation *x,
                             const char *source, struct diags *d)
{
	for (size_t i = 0; i < c->n; i++) {
		struct run *r = c->runs[i];
		if (!strcmp(r->path, x->input_path) &&
		    ((!r->source && !source) || (r->source && source && !strcmp(r->source, source))))
			return r;
	}
	struct run *r = xcalloc(1, sizeof *r);
	r->path = xstrdup(x->input_path);
	r->source = xstrdup(source);
	if (run_read(r, x->input_path, x->input_path, ynode_get(x->node, "input"), d) == 0 &&
	    run_match(t, r) < 0)
		r->unreadable = true;
	c->runs = xrealloc(c->runs, (c->n + 1) * sizeof *c->runs);
	c->runs[c->n++] = r;
	return r;
}

static const struct match *fired(const struct tested_item *ti, const char *rule)
{
	for (size_t k = 0; k < ti->n_m; k++)
		if (!strcmp(ti->m[k].rule, rule))
			return &ti->m[k];
	return NULL;
}

/* `item ID ("TITLE")`, or for an inline item without id `the item at POS ("TITLE")`. */
static char *describe_item(const struct tested_item *ti, bool is_inline)
{
	const struct vigil_item *it = &ti->it->item;
	char *who = it->id ? xasprintf("item %s", it->id) :
	            is_inline ? xasprintf("the item at %s", ti->where) :
	            xasprintf("item %s", item_name(ti));
	if (!it->title)
		return who;
	char *s = xasprintf("%s (\"%s\")", who, it->title);
	free(who);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return s;
}

static void put_rules_that_fired(const struct tested_item *ti)
{
	if (!ti->n_m) {
		printf("      no rule fired on it\n");
		return;
	}
	printf("      rules that fired on it:");
	for (size_t k = 0; k < ti->n_m; k++)
		printf("%s \"%s\"", k ? "," : "", ti->m[k].rule);
	putchar('\n');
}

static void put_why(const struct tested_item *ti, const struct match *m, bool name_item)
{
	printf("      why: ");
	if (name_item) {
		put_line_text(stdout, item_name(ti));
		printf(": ");
	}
	put_line_text(stdout, m->reason && *m->reason ? m->reason : "(no reason given)");
	putchar('\n');
}

/*
 * Check one expectation against its run. Prints a mismatch (or, verbose, the
 * pass) and returns true when it holds.
 */
static bool check_expectation(const struct tester *t, const struct expectation *x,
                              const struct run *run)
{
	const struct ynode *e = x->node;
	const char *pos_file = e->file;
	bool is_inline = x->inline_item != NULL;

	/* The items the expectation is about. */
	size_t n_sel = 0;
	const struct tested_item **sel = xcalloc(run->n ? run->n : 1, sizeof *sel);
	for (size_t i = 0; i < run->n; i++)
		if (!x->item_id || (run->items[i].it->item.id &&
		                    !strcmp(run->items[i].it->item.id, x->item_id)))
			sel[n_sel++] = &run->items[i];

	if (x->item_id && !n_sel) {
		printf("%s:%d:%d: no item with id \"%s\" in %s (%zu item%s)\n", pos_file, e->line,
		       e->column, x->item_id, is_inline ? "the inline item" : x->input, run->n,
		       run->n == 1 ? "" : "s");
		free(sel);
		return false;
	}
	size_t n_fired = 0;
	for (size_t i = 0; i < n_sel; i++)
		n_fired += fired(sel[i], x->rule) != NULL;
	bool ok = x->fires ? n_fired > 0 : n_fired == 0;

	if (ok) {
		if (t->verbose) {
			char *who = n_sel == 1 && (is_inline || x->item_id) ?
			            describe_item(sel[0], is_inline) : xstrdup(x->input);
			printf("%s:%d:%d: ok: \"%s\" %s on %s\n", pos_file, e->line, e->column, x->rule,
			       x->fires ? "fires" : "does not fire", who);
			free(who);
		}
		free(sel);
		return true;
	}

	printf("%s:%d:%d: expected \"%s\" %s ", pos_file, e->line, e->column, x->rule,
	       x->fires ? "to fire" : "not to fire");
	if (n_sel == 1 && (is_inline || x->item_id)) {
		char *who = describe_item(sel[0], is_inline);
		printf("on %s, it did%s\n", who, x->fires ? " not" : "");
		free(who);
	} else if (x->fires) {
		printf("on %s of %s, it fired on none of %s %zu\n",
		       x->item_id ? "the items with that id" : "an item", x->input,
		       x->item_id ? "those" : "its", n_sel);
	} else {
		printf("on %s, it fired on %zu of %zu item%s\n", x->input, n_fired, n_sel,
		       n_sel == 1 ? "" : "s");
	}
	printf("    - fires: %s\n    + fires: %s\n", x->fires ? "true" : "false",
	       x->fires ? "false" : "true");
	if (x->fires) {
		if (n_sel == 1)
			put_rules_that_fired(sel[0]);
	} else {
		for (size_t i = 0; i < n_sel; i++) {
			const struct match *m = fired(sel[i], x->rule);
			if (m)
				put_why(sel[i], m, n_sel > 1);
		}
	}
	free(sel);
	return false;
}

static bool rule_exists(const struct ruleset *rs, const char *name, const char **near)
{
	const char **names = xcalloc(rs->n ? rs->n : 1, sizeof *names);
	bool found = false;
	for (size_t i = 0; i < rs->n; i++) {
		names[i] = rs->rules[i].name;
		found = found || !strcmp(rs->rules[i].name, name);
	}
	*near = found ? NULL : closest_match(name, names, rs->n);
	free(names);
	return found;
}

/* Returns the exit code of the expectations. */
static int run_expectations(struct tester *t, const char *expect_path)
{
	struct diags d = { 0 };
	struct expectation *ex = NULL;
	size_t n_ex = 0, failed = 0;
	struct run_cache cache = { 0 };
	int code = CLI_EXIT_USAGE;

	struct ydoc *doc = ydoc_load_file(expect_path, &d);
	char *dir = path_dirname(expect_path);
	if (!doc || parse_expectations(doc, dir, &ex, &n_ex, &d) < 0) {
		cli_print_diags(&d, expect_path);
		goto out;
	}
	/* Read every input first: an unreadable one stops the run (exit 2). */
	for (size_t i = 0; i < n_ex; i++) {
		if (!ex[i].input_path)
			continue;
		const char *source = ex[i].source ? ex[i].source : t->source;
		struct run *r = cache_get(t, &cache, &ex[i], source, &d);
		if (r->unreadable && !d.n)
			diag_add(&d, ex[i].node->file, ex[i].node->line, ex[i].node->column,
			         "cannot match the items of %s", ex[i].input);
	}
	if (d.n) {
		cli_print_diags(&d, expect_path);
		goto out;
	}

	for (size_t i = 0; i < n_ex; i++) {
		const struct expectation *x = &ex[i];
		const struct ynode *e = x->node;
		const char *near;
		if (!rule_exists(t->rs, x->rule, &near)) {
			printf("%s:%d:%d: no rule named \"%s\" in %s", e->file, e->line, e->column,
			       x->rule, t->rules.path);
			if (near)
				printf(" (did you mean \"%s\"?)", near);
			putchar('\n');
			failed++;
			continue;
		}
		bool ok;
		if (x->inline_item) {
			struct run r = { 0 };
			const char *source = x->source ? x->source : t->source;
			r.source = xstrdup(source);
			json_t *obj = inline_item_json(x->inline_item);
			run_add_item(&r, obj, xasprintf("%s:%d:%d", x->inline_item->file,
			                                x->inline_item->line, x->inline_item->column));
			json_decref(obj);
			if (run_match(t, &r) < 0) {
				run_free(&r);
				code = CLI_EXIT_FAIL;
				goto out;
			}
			ok = check_expectation(t, x, &r);
			run_free(&r);
		} else {
			const char *source = x->source ? x->source : t->source;
			ok = check_expectation(t, x, cache_get(t, &cache, x, source, &d));
		}
		failed += !ok;
	}
	printf("%zu expectation%s, %zu failed\n", n_ex, n_ex == 1 ? "" : "s", failed);
	code = failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
	for (size_t i = 0; i < cache.n; i++) {
		run_free(cache.runs[i]);
		free(cache.runs[i]);
	}
	free(cache.runs);
	for (size_t i = 0; i < n_ex; i++)
		free(ex[i].input_path);
	free(ex);
	free(dir);
	ydoc_free(doc);
	diags_clear(&d);
	return code;
}

/* --- the command --------------------------------------------------------- */

/* Without --source, rules limited to sources (`sources:`) cannot fire: say so. */
static void note_source_rules(const struct ruleset *rs)
{
	size_t n = 0;
	for (size_t i = 0; i < rs->n; i++)
		n += rs->rules[i].n_sources > 0;
	if (!n)
		return;
	fprintf(stderr, "vigilctl test: note: %zu rule%s only for some sources (", n,
	        n == 1 ? " is" : "s are");
	size_t shown = 0;
	for (size_t i = 0; i < rs->n && shown < 3; i++) {
		if (!rs->rules[i].n_sources)
			continue;
		fprintf(stderr, "%s\"%s\"", shown ? ", " : "", rs->rules[i].name);
		shown++;
	}
	fprintf(stderr, "%s); %s fire only with --source NAME (or source: in an expectation)\n",
	        n > shown ? ", ..." : "", n == 1 ? "it can" : "they can");
}

int cmd_test(int argc, char **argv)
{
	enum { OPT_SOURCE = 256 };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'r' },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "json", no_argument, NULL, 'j' },
		{ "expect", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tester t = { 0 };
	const char *config = NULL, *rules = NULL, *expect = NULL;
	struct diags d = { 0 };
	int code = CLI_EXIT_FAIL, c;

	while ((c = getopt_long(argc, argv, "c:r:je:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'r': rules = optarg; break;
		case OPT_SOURCE: t.source = optarg; break;
		case 'j': t.json = true; break;
		case 'e': expect = optarg; break;
		case 'v': t.verbose = true; break;
		case 'h': cmd_test_usage(stdout); return CLI_EXIT_OK;
		default: cmd_test_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc && !expect) {
		fprintf(stderr, "vigilctl test: give at least one INPUT (or --expect FILE)\n");
		cmd_test_usage(stderr);
		return CLI_EXIT_USAGE;
	}

	if (cli_rules_resolve(config, rules, &t.rules, &d) < 0) {
		cli_print_diags(&d, t.rules.config_path ? t.rules.config_path : "vigilctl test");
		goto out;
	}
	if (!t.rules.path) {
		fprintf(stderr, "vigilctl test: %s names no rules (no `rules:`, and no rules.d/ "
		        "beside it); give --rules PATH\n", t.rules.config_path);
		goto out;
	}
	/* matcher_load in two steps, to keep a look at the rules (the matcher
	 * owns them): their names for expectations, their sources: lists. */
	struct ruleset *rs = ruleset_load(t.rules.path, cli_rules_ctx(&t.rules), &d);
	t.rs = rs;
	t.m = rs ? matcher_new(rs, &d) : NULL;       /* takes rs, also on error */
	if (!t.m || d.n) {
		cli_print_diags(&d, t.rules.path);
		goto out;
	}
	if (!t.source)
		note_source_rules(t.rs);

	code = CLI_EXIT_OK;
	for (int i = optind; i < argc; i++) {
		struct run run = { 0 };
		run.source = xstrdup(t.source);
		if (run_read(&run, argv[i], argv[i], NULL, &d) < 0)
			code = CLI_EXIT_USAGE;
		/* The good lines of a damaged file are still matched. */
		if (run_match(&t, &run) < 0 && code == CLI_EXIT_OK)
			code = CLI_EXIT_FAIL;
		if (t.json)
			print_json(&run);
		else
			print_text(&t, &run);
		run_free(&run);
	}
	fflush(stdout);
	if (d.n) {
		diags_print(&d, stderr);
		diags_clear(&d);
	}
	if (optind < argc && !t.json)
		fprintf(stderr, "%zu item%s, %zu with a rule that fired (%zu match%s); %zu rule%s\n",
		        t.n_items, t.n_items == 1 ? "" : "s", t.n_fired_items, t.n_matches,
		        t.n_matches == 1 ? "" : "es", matcher_rule_count(t.m),
		        matcher_rule_count(t.m) == 1 ? "" : "s");
	if (expect) {
		t.isolate = true;
		int ecode = run_expectations(&t, expect);
		if (code == CLI_EXIT_OK || ecode == CLI_EXIT_USAGE)
			code = ecode;
	}
out:
	fflush(stdout);
	diags_clear(&d);
	if (t.m)
		matcher_free(t.m);
	when_memory_clear();
	cli_rules_free(&t.rules);
	return code;
}
