/* options.c - a plugin instance's options, checked against the plugin's option table */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "yaml.h"

struct option_value {
	const struct vigil_option *opt;
	bool set;
	char *text;                  /* STRING; PATH (absolute); the scalar of INT, NUMBER,
	                                BOOL and DURATION, for get_string */
	int64_t i;                   /* INT; DURATION in ms */
	double num;                  /* NUMBER, INT */
	bool b;                      /* BOOL */
	char **list;                 /* STRING_LIST: n entries */
	struct vigil_kv *map;        /* MAP: n entries, owned strings */
	size_t n;
};

struct option_set {
	struct option_value *v;      /* one per entry of the plugin's table */
	size_t n;
	char *fingerprint;
};

/* What went wrong converting one value, and where. */
struct conv_error {
	const struct ynode *where;
	char *text;
};

static int conv_fail(struct conv_error *e, const struct ynode *where, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);

static int conv_fail(struct conv_error *e, const struct ynode *where, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&e->text, fmt, ap) < 0)
		e->text = NULL;
	va_end(ap);
	e->where = where;
	return -EINVAL;
}

#define DESCRIBE(n) ynode_describe((n), (char[80]){ 0 }, 80)

static void value_clear(struct option_value *v)
{
	free(v->text);
	for (size_t i = 0; v->list && i < v->n; i++)
		free(v->list[i]);
	free(v->list);
	for (size_t i = 0; v->map && i < v->n; i++) {
		free((char *)v->map[i].key);
		free((char *)v->map[i].value);
	}
	free(v->map);
	const struct vigil_option *opt = v->opt;
	*v = (struct option_value){ .opt = opt };
}

static bool is_string(const struct ynode *n)
{
	return n->type == YNODE_SCALAR && !ynode_is_null(n);
}

/*
 * Convert `n` to opt's type into `out` (cleared first). On failure, e says
 * why and where; out is left clear.
 */
static int convert(const struct vigil_option *opt, const struct ynode *n, const char *base_dir,
                   struct option_value *out, struct conv_error *e)
{
	long long ll;

	value_clear(out);
	switch (opt->type) {
	case VIGIL_OPT_STRING:
		if (n->type != YNODE_SCALAR)
			return conv_fail(e, n, "expected a string, got %s", DESCRIBE(n));
		out->text = xstrdup(n->value);
		break;
	case VIGIL_OPT_INT:
		if (ynode_int(n, &ll) < 0)
			return conv_fail(e, n, "expected a whole number, got %s%s", DESCRIBE(n),
			                 n->type == YNODE_SCALAR && !n->plain
			                 ? " (numbers are written without quotes)" : "");
		out->i = ll;
		out->num = (double)ll;
		out->text = xstrdup(n->value);
		break;
	case VIGIL_OPT_NUMBER:
		if (ynode_number(n, &out->num) < 0)
			return conv_fail(e, n, "expected a number, got %s%s", DESCRIBE(n),
			                 n->type == YNODE_SCALAR && !n->plain
			                 ? " (numbers are written without quotes)" : "");
		out->text = xstrdup(n->value);
		break;
	case VIGIL_OPT_BOOL:
		if (ynode_bool(n, &out->b) < 0)
			return conv_fail(e, n, "expected true or false, got %s", DESCRIBE(n));
		out->text = xstrdup(out->b ? "true" : "false");
		break;
	case VIGIL_OPT_DURATION:
		if (n->type != YNODE_SCALAR || duration_parse(n->value, &out->i) < 0)
			return conv_fail(e, n, "expected a duration like 90s, 10m, 6h or 1d, got %s",
			                 DESCRIBE(n));
		out->text = xstrdup(n->value);
		break;
	case VIGIL_OPT_STRING_LIST:
		if (n->type == YNODE_SCALAR) {
			out->list = xcalloc(1, sizeof *out->list);
			out->list[0] = xstrdup(n->value);
			out->n = 1;
			break;
		}
		if (n->type != YNODE_SEQUENCE)
			return conv_fail(e, n, "expected a list of strings, got %s", DESCRIBE(n));
		for (size_t i = 0; i < n->n; i++)
			if (!is_string(n->items[i]))
				return conv_fail(e, n->items[i], "expected a string in this list, got %s",
				                 DESCRIBE(n->items[i]));
		out->list = xcalloc(n->n, sizeof *out->list);
		for (size_t i = 0; i < n->n; i++)
			out->list[i] = xstrdup(n->items[i]->value);
		out->n = n->n;
		break;
	case VIGIL_OPT_MAP:
		if (n->type != YNODE_MAPPING)
			return conv_fail(e, n, "expected a mapping of names to strings, got %s",
			                 DESCRIBE(n));
		for (size_t i = 0; i < n->n; i++)
			if (n->entries[i].value->type != YNODE_SCALAR)
				return conv_fail(e, n->entries[i].value,
				                 "expected a string as the value of `%s`, got %s",
				                 n->entries[i].key->value, DESCRIBE(n->entries[i].value));
		out->map = xcalloc(n->n, sizeof *out->map);
		for (size_t i = 0; i < n->n; i++) {
			out->map[i].key = xstrdup(n->entries[i].key->value);
			out->map[i].value = xstrdup(n->entries[i].value->value);
		}
		out->n = n->n;
		break;
	case VIGIL_OPT_PATH:
		if (!is_string(n) || !n->value[0])
			return conv_fail(e, n, "expected a path, got %s", DESCRIBE(n));
		out->text = path_join(base_dir, n->value);
		break;
	default:
		return conv_fail(e, n, "option type %d is unknown to this vigil", (int)opt->type);
	}
	out->set = true;
	return 0;
}

static const struct vigil_option *table(const struct vigil_plugin *p, size_t *n)
{
	*n = p->options ? p->n_options : 0;
	return p->options;
}

static const char *kind_word(enum instance_kind kind)
{
	return kind == INSTANCE_SINK ? "sink" : "source";
}

static const char *const *host_keys(enum instance_kind kind)
{
	return kind == INSTANCE_SINK ? config_host_sink_keys : config_host_source_keys;
}

static void unknown_option(const struct vigil_plugin *plugin, const struct instance_config *ic,
                           const struct ynode *key, struct diags *d)
{
	size_t n_opts, n_host = 0;
	const struct vigil_option *opts = table(plugin, &n_opts);
	const char *const *host = host_keys(ic->kind);
	while (host[n_host])
		n_host++;

	const char **cands = xcalloc(n_opts + n_host + 1, sizeof *cands);
	for (size_t i = 0; i < n_opts; i++)
		cands[i] = opts[i].key;
	for (size_t i = 0; i < n_host; i++)
		cands[n_opts + i] = host[i];
	const char *close = closest_match(key->value, cands, n_opts + n_host);
	if (close) {
		diag_add(d, key->file, key->line, key->column,
		         "unknown option `%s` for plugin `%s`; did you mean `%s`?",
		         key->value, plugin->name, close);
		free(cands);
		return;
	}

	/* No near miss: say what is accepted. */
	char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);
	if (!f) {
		free(cands);
		diag_add(d, key->file, key->line, key->column, "unknown option `%s` for plugin `%s`",
		         key->value, plugin->name);
		return;
	}
	size_t shown = 0;
	for (size_t i = 0; i < n_opts; i++)
		if (opts[i].key)
			fprintf(f, "%s%s", shown++ ? ", " : "", opts[i].key);
	if (!shown)
		fputs("none", f);
	fprintf(f, "; every %s also takes ", kind_word(ic->kind));
	for (size_t i = 0; i < n_host; i++)
		fprintf(f, "%s%s", i ? ", " : "", host[i]);
	fclose(f);
	diag_add(d, key->file, key->line, key->column,
	         "unknown option `%s` for plugin `%s` (it takes: %s)", key->value, plugin->name,
	         list);
	free(list);
	free(cands);
}

static struct option_value *find(const struct option_set *s, const char *key)
{
	if (!s || !key)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].opt->key && !strcmp(s->v[i].opt->key, key))
			return &s->v[i];
	return NULL;
}

/* ---- fingerprint ---- */

static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static int cmp_value_key(const void *pa, const void *pb)
{
	const struct option_value *const *a = pa, *const *b = pb;
	return strcmp((*a)->opt->key, (*b)->opt->key);
}

static int cmp_kv(const void *pa, const void *pb)
{
	const struct vigil_kv *const *a = pa, *const *b = pb;
	int c = strcmp((*a)->key, (*b)->key);
	return c ? c : strcmp((*a)->value, (*b)->value);
}

/*
 * One line per set option, in key order: `key=value`, strings quoted,
 * durations in ms, map entries in key order (YAML mappings have none).
 * Whitespace, quoting style and key order in the file do not show.
 */
static char *make_fingerprint(const struct vigil_plugin *plugin, const struct option_set *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return xstrdup("");

	const struct option_value **sorted = xcalloc(s->n, sizeof *sorted);
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].set)
			sorted[n++] = &s->v[i];
	qsort(sorted, n, sizeof *sorted, cmp_value_key);

	fprintf(f, "plugin=");
	put_quoted(f, plugin->name ? plugin->name : "");
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		const struct option_value *v = sorted[i];
		fprintf(f, "%s=", v->opt->key);
		switch (v->opt->type) {
		case VIGIL_OPT_INT:
			fprintf(f, "%lld", (long long)v->i);
			break;
		case VIGIL_OPT_NUMBER:
			fprintf(f, "%.17g", v->num);
			break;
		case VIGIL_OPT_BOOL:
			fputs(v->b ? "true" : "false", f);
			break;
		case VIGIL_OPT_DURATION:
			fprintf(f, "%lldms", (long long)v->i);
			break;
		case VIGIL_OPT_STRING_LIST:
			fputc('[', f);
			for (size_t j = 0; j < v->n; j++) {
				if (j)
					fputc(',', f);
				put_quoted(f, v->list[j]);
			}
			fputc(']', f);
			break;
		case VIGIL_OPT_MAP: {
			const struct vigil_kv **kv = xcalloc(v->n, sizeof *kv);
			for (size_t j = 0; j < v->n; j++)
				kv[j] = &v->map[j];
			qsort(kv, v->n, sizeof *kv, cmp_kv);
			fputc('{', f);
			for (size_t j = 0; j < v->n; j++) {
				if (j)
					fputc(',', f);
				put_quoted(f, kv[j]->key);
				fputc(':', f);
				put_quoted(f, kv[j]->value);
			}
			fputc('}', f);
			free(kv);
			break;
		}
		default:             /* STRING, PATH */
			put_quoted(f, v->text);
			break;
		}
		fputc('\n', f);
	}
	free(sorted);
	fclose(f);
	return out;
}

/* ---- building ---- */

static void apply_defaults(const struct vigil_plugin *plugin, const struct instance_config *ic,
                           const char *base_dir, struct option_set *set, struct diags *d,
                           size_t *errors)
{
	for (size_t i = 0; i < set->n; i++) {
		struct option_value *v = &set->v[i];
		const struct vigil_option *opt = v->opt;
		if (!opt->key || !opt->default_value)
			continue;

		/* Checked even when the user set the option: a plugin bug should
		 * show on the first run, not on the first user who relies on it. */
		struct diags dd = { 0 };
		char *name = xasprintf("default of %s.%s", plugin->name, opt->key);
		struct ydoc *doc = ydoc_load_string(name, opt->default_value,
		                                    strlen(opt->default_value), &dd);
		struct option_value tmp = { .opt = opt };
		struct conv_error e = { 0 };
		if (!doc) {
			diag_add(d, ic->file, ic->line, ic->column,
			         "plugin `%s` bug: the default of option `%s` is not valid YAML: %s",
			         plugin->name, opt->key, dd.n ? dd.msgs[0] : "?");
			++*errors;
		} else if (doc->root && !ynode_is_null(doc->root) &&
		           convert(opt, doc->root, base_dir, &tmp, &e) < 0) {
			diag_add(d, ic->file, ic->line, ic->column,
			         "plugin `%s` bug: the default of option `%s` is invalid: %s",
			         plugin->name, opt->key, e.text ? e.text : "?");
			++*errors;
		} else if (!v->set && tmp.set) {
			*v = tmp;
			tmp = (struct option_value){ .opt = opt };
		}
		value_clear(&tmp);
		free(e.text);
		ydoc_free(doc);
		diags_clear(&dd);
		free(name);
	}
}

struct option_set *option_set_build(const struct vigil_plugin *plugin,
                                    const struct instance_config *ic,
                                    const char *base_dir, struct diags *d)
{
	size_t n_opts, errors = 0;
	const struct vigil_option *opts = table(plugin, &n_opts);
	const struct ynode *map = ic->node;
	struct option_set *set = xcalloc(1, sizeof *set);

	set->n = n_opts;
	set->v = xcalloc(n_opts, sizeof *set->v);
	for (size_t i = 0; i < n_opts; i++)
		set->v[i].opt = &opts[i];

	for (size_t i = 0; map && map->type == YNODE_MAPPING && i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *val = map->entries[i].value;
		struct option_value *v = find(set, k->value);
		if (!v) {
			if (!config_is_host_key(ic->kind, k->value)) {
				unknown_option(plugin, ic, k, d);
				errors++;
			}
			continue;
		}
		/* `key:` with nothing after it means "not set", unless that is
		 * not allowed: then point at the empty value. */
		if (ynode_is_null(val) && !v->opt->required)
			continue;
		struct conv_error e = { 0 };
		if (ynode_is_null(val))
			conv_fail(&e, val, "expected a value, got nothing");
		else
			convert(v->opt, val, base_dir, v, &e);
		if (e.text || e.where) {
			diag_add(d, e.where->file, e.where->line, e.where->column, "`%s`: %s",
			         k->value, e.text ? e.text : "invalid value");
			free(e.text);
			errors++;
		}
	}

	apply_defaults(plugin, ic, base_dir, set, d, &errors);

	for (size_t i = 0; i < set->n; i++) {
		const struct vigil_option *opt = set->v[i].opt;
		if (!opt->key || !opt->required || set->v[i].set)
			continue;
		/* A null value was reported where it is. */
		if (map && ynode_get(map, opt->key))
			continue;
		diag_add(d, ic->file, ic->line, ic->column,
		         "%s `%s` is missing `%s:`, which plugin `%s` requires",
		         kind_word(ic->kind), ic->name ? ic->name : "?", opt->key, plugin->name);
		errors++;
	}

	if (errors) {
		option_set_free(set);
		return NULL;
	}
	set->fingerprint = make_fingerprint(plugin, set);
	return set;
}

void option_set_free(struct option_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		value_clear(&set->v[i]);
	free(set->v);
	free(set->fingerprint);
	free(set);
}

/* ---- getters ---- */

const char *option_get_string(const struct option_set *s, const char *key)
{
	const struct option_value *v = find(s, key);
	return v && v->set ? v->text : NULL;
}

int64_t option_get_int(const struct option_set *s, const char *key, int64_t fallback)
{
	const struct option_value *v = find(s, key);
	return v && v->set && v->opt->type == VIGIL_OPT_INT ? v->i : fallback;
}

double option_get_number(const struct option_set *s, const char *key, double fallback)
{
	const struct option_value *v = find(s, key);
	if (!v || !v->set)
		return fallback;
	if (v->opt->type == VIGIL_OPT_NUMBER || v->opt->type == VIGIL_OPT_INT)
		return v->num;
	return fallback;
}

bool option_get_bool(const struct option_set *s, const char *key, bool fallback)
{
	const struct option_value *v = find(s, key);
	return v && v->set && v->opt->type == VIGIL_OPT_BOOL ? v->b : fallback;
}

int64_t option_get_duration_ms(const struct option_set *s, const char *key, int64_t fallback)
{
	const struct option_value *v = find(s, key);
	return v && v->set && v->opt->type == VIGIL_OPT_DURATION ? v->i : fallback;
}

size_t option_get_list(const struct option_set *s, const char *key, const char *const **out)
{
	const struct option_value *v = find(s, key);
	if (!v || !v->set || v->opt->type != VIGIL_OPT_STRING_LIST) {
		*out = NULL;
		return 0;
	}
	*out = (const char *const *)v->list;
	return v->n;
}

size_t option_get_map(const struct option_set *s, const char *key, const struct vigil_kv **out)
{
	const struct option_value *v = find(s, key);
	if (!v || !v->set || v->opt->type != VIGIL_OPT_MAP) {
		*out = NULL;
		return 0;
	}
	*out = v->map;
	return v->n;
}

const char *option_set_fingerprint(const struct option_set *s)
{
	return s && s->fingerprint ? s->fingerprint : "";
}
