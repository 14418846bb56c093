/* test-rules-schema.c - the rule JSON Schema: shipped files pass, broken ones fail, as in the loader */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "diag.h"
#include "rules.h"
#include "util.h"
#include "yaml.h"

/*
 * A small JSON Schema validator for the subset etc/vigil-rules.schema.json
 * uses, applied to our YAML node tree (so positions survive for messages).
 * YAML scalars are typed as YAML 1.2's core schema types them, like
 * yaml-language-server does. A keyword outside the subset fails the test:
 * the schema may not silently grow past what is checked here.
 */

static json_t *schema;

static const char *const known_keywords[] = {
	/* checked */
	"type", "enum", "properties", "required", "additionalProperties", "propertyNames",
	"items", "minItems", "minLength", "pattern", "minimum", "maximum", "anyOf", "oneOf",
	"not", "$ref",
	/* annotations */
	"$schema", "$id", "title", "description", "default", "definitions", "examples",
};

/* Where a check failed, for messages: "rules/0/match: ...". */
struct verdict {
	char why[512];
};

static bool fail_at(struct verdict *v, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail_at(struct verdict *v, const struct ynode *n, const char *fmt, ...)
{
	char text[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	snprintf(v->why, sizeof v->why, "%d:%d: %s", n ? n->line : 0, n ? n->column : 0, text);
	return false;
}

static bool yaml_is_bool(const struct ynode *n)
{
	static const char *const words[] = { "true", "True", "TRUE", "false", "False", "FALSE" };
	if (n->type != YNODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < 6; i++)
		if (!strcmp(n->value, words[i]))
			return true;
	return false;
}

static bool yaml_is_integer(const struct ynode *n)
{
	long long v;
	return ynode_int(n, &v) == 0;
}

static bool yaml_is_number(const struct ynode *n)
{
	double v;
	return ynode_number(n, &v) == 0;
}

/* The JSON type name of a node, as YAML 1.2 core would load it. */
static const char *yaml_type(const struct ynode *n)
{
	if (n->type == YNODE_SEQUENCE)
		return "array";
	if (n->type == YNODE_MAPPING)
		return "object";
	if (ynode_is_null(n))
		return "null";
	if (yaml_is_bool(n))
		return "boolean";
	if (yaml_is_integer(n))
		return "integer";
	if (yaml_is_number(n))
		return "number";
	return "string";
}

static bool type_matches(const char *want, const char *have)
{
	return !strcmp(want, have) || (!strcmp(want, "number") && !strcmp(have, "integer"));
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static bool pattern_matches(const char *pattern, const char *text)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                               PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
	if (!re)
		fail_msg("schema pattern %s does not compile (offset %zu)", pattern, (size_t)off);
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc >= 0;
}

static json_t *resolve_ref(const char *ref)
{
	const char *prefix = "#/definitions/";
	if (strncmp(ref, prefix, strlen(prefix)))
		fail_msg("only local #/definitions/ references are supported, got %s", ref);
	json_t *def = json_object_get(json_object_get(schema, "definitions"), ref + strlen(prefix));
	if (!def)
		fail_msg("dangling $ref %s", ref);
	return def;
}

/* Does a scalar equal a JSON enum value? (Strings and numbers are compared as text.) */
static bool enum_matches(const json_t *e, const struct ynode *n)
{
	if (n->type != YNODE_SCALAR)
		return false;
	if (json_is_string(e))
		return !strcmp(json_string_value(e), n->value);
	if (json_is_integer(e)) {
		long long v;
		return ynode_int(n, &v) == 0 && v == json_integer_value(e);
	}
	return false;
}

static bool validate(const json_t *s, const struct ynode *n, struct verdict *v);

static bool validate_object(const json_t *s, const struct ynode *n, struct verdict *v)
{
	const json_t *props = json_object_get(s, "properties");
	const json_t *addl = json_object_get(s, "additionalProperties");
	const json_t *names = json_object_get(s, "propertyNames");
	const json_t *req = json_object_get(s, "required");
	size_t i;
	json_t *r;

	json_array_foreach(req, i, r) {
		if (!ynode_get(n, json_string_value(r)))
			return fail_at(v, n, "missing required `%s`", json_string_value(r));
	}
	for (size_t k = 0; k < n->n; k++) {
		const struct ynode *key = n->entries[k].key, *val = n->entries[k].value;
		if (names && !validate(names, key, v))
			return false;
		const json_t *ps = props ? json_object_get(props, key->value) : NULL;
		if (ps) {
			if (!validate(ps, val, v))
				return false;
		} else if (json_is_false(addl)) {
			return fail_at(v, key, "additional property `%s` not allowed", key->value);
		} else if (json_is_object(addl)) {
			if (!validate(addl, val, v))
				return false;
		}
	}
	return true;
}

static bool validate(const json_t *s, const struct ynode *n, struct verdict *v)
{
	const char *key;
	json_t *val;
	const char *type = yaml_type(n);

	json_object_foreach((json_t *)s, key, val) {
		bool known = false;
		for (size_t i = 0; i < sizeof known_keywords / sizeof known_keywords[0]; i++)
			known = known || !strcmp(key, known_keywords[i]);
		if (!known)
			fail_msg("the schema uses `%s`, which this validator does not check", key);
	}

	const json_t *ref = json_object_get(s, "$ref");
	if (ref && !validate(resolve_ref(json_string_value(ref)), n, v))
		return false;

	const json_t *t = json_object_get(s, "type");
	if (t) {
		bool ok = false;
		if (json_is_string(t)) {
			ok = type_matches(json_string_value(t), type);
		} else {
			size_t i;
			json_t *e;
			json_array_foreach(t, i, e)
				ok = ok || type_matches(json_string_value(e), type);
		}
		if (!ok)
			return fail_at(v, n, "type %s not allowed", type);
	}
	const json_t *en = json_object_get(s, "enum");
	if (en) {
		bool ok = false;
		size_t i;
		json_t *e;
		json_array_foreach(en, i, e)
			ok = ok || enum_matches(e, n);
		if (!ok)
			return fail_at(v, n, "value not in enum");
	}
	if (!strcmp(type, "string")) {
		const json_t *ml = json_object_get(s, "minLength");
		if (ml && utf8_chars(n->value) < (size_t)json_integer_value(ml))
			return fail_at(v, n, "shorter than %lld", (long long)json_integer_value(ml));
		const json_t *pat = json_object_get(s, "pattern");
		if (pat && !pattern_matches(json_string_value(pat), n->value))
			return fail_at(v, n, "\"%s\" does not match %s", n->value,
			               json_string_value(pat));
	}
	if (!strcmp(type, "integer") || !strcmp(type, "number")) {
		double x;
		assert_int_equal(ynode_number(n, &x), 0);
		const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
		if (mn && x < json_number_value(mn))
			return fail_at(v, n, "below the minimum %g", json_number_value(mn));
		if (mx && x > json_number_value(mx))
			return fail_at(v, n, "above the maximum %g", json_number_value(mx));
	}
	if (n->type == YNODE_SEQUENCE) {
		const json_t *mi = json_object_get(s, "minItems");
		if (mi && n->n < (size_t)json_integer_value(mi))
			return fail_at(v, n, "fewer than %lld items", (long long)json_integer_value(mi));
		const json_t *items = json_object_get(s, "items");
		for (size_t i = 0; items && i < n->n; i++)
			if (!validate(items, n->items[i], v))
				return false;
	}
	if (n->type == YNODE_MAPPING && !validate_object(s, n, v))
		return false;

	const json_t *any = json_object_get(s, "anyOf");
	if (any) {
		/* On failure, report the branch that got furthest into the document. */
		size_t i, ok = 0;
		json_t *e;
		struct verdict best = { { 0 } };
		int best_line = -1, best_col = -1;
		json_array_foreach(any, i, e) {
			struct verdict b = { { 0 } };
			if (validate(e, n, &b)) {
				ok++;
				continue;
			}
			int line = 0, col = 0;
			sscanf(b.why, "%d:%d:", &line, &col);
			if (line > best_line || (line == best_line && col > best_col)) {
				best = b;
				best_line = line;
				best_col = col;
			}
		}
		if (!ok) {
			*v = best;
			return false;
		}
	}
	const json_t *one = json_object_get(s, "oneOf");
	if (one) {
		size_t i, ok = 0;
		json_t *e;
		struct verdict scratch;
		json_array_foreach(one, i, e)
			ok += validate(e, n, &scratch);
		if (ok != 1)
			return fail_at(v, n, "%zu oneOf branches match, not 1", ok);
	}
	const json_t *not = json_object_get(s, "not");
	if (not) {
		struct verdict scratch;
		if (validate(not, n, &scratch))
			return fail_at(v, n, "matches a `not` schema");
	}
	return true;
}

static const char *source_root(void)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	return root && *root ? root : ".";
}

static int setup(void **state)
{
	(void)state;
	char *path = xasprintf("%s/etc/vigil-rules.schema.json", source_root());
	json_error_t err;
	schema = json_load_file(path, 0, &err);
	if (!schema)
		fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
	free(path);
	return schema ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(schema);
	return 0;
}

/* Validate a YAML text; verdict in v. */
static bool check_text(const char *text, struct verdict *v)
{
	struct diags d = { 0 };
	struct ydoc *doc = ydoc_load_string("test.yaml", text, strlen(text), &d);
	if (!doc) {
		diags_print(&d, stderr);
		fail_msg("test document is not YAML");
	}
	diags_clear(&d);
	struct ynode empty = { .type = YNODE_SCALAR, .value = (char *)"", .plain = true };
	bool ok = validate(schema, doc->root ? doc->root : &empty, v);
	ydoc_free(doc);
	return ok;
}

/* Does the rule loader accept the text? (Written to a temporary file.) */
static bool loader_accepts(const char *text)
{
	char path[] = "/tmp/vigil-test-rules-schema-XXXXXX.yaml";
	int fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct diags d = { 0 };
	struct ruleset *rs = ruleset_load(path, NULL, &d);
	diags_clear(&d);
	unlink(path);
	ruleset_free(rs);
	return rs != NULL;
}

static void test_shipped_files_are_valid(void **state)
{
	(void)state;
	/* The demo (etc/demo/vigil.yaml) uses these same files. */
	static const char *const patterns[] = { "etc/rules.d/*.yaml" };
	size_t files = 0;
	for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
		char *pat = xasprintf("%s/%s", source_root(), patterns[p]);
		glob_t g;
		if (glob(pat, 0, NULL, &g) == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++) {
				struct diags d = { 0 };
				struct ydoc *doc = ydoc_load_file(g.gl_pathv[i], &d);
				if (!doc)
					diags_print(&d, stderr);
				assert_non_null(doc);
				struct verdict v = { { 0 } };
				if (!validate(schema, doc->root, &v))
					fail_msg("%s:%s", g.gl_pathv[i], v.why);
				ydoc_free(doc);
				/* And the loader agrees (no configuration: names unchecked). */
				struct ruleset *rs = ruleset_load(g.gl_pathv[i], NULL, &d);
				if (!rs)
					diags_print(&d, stderr);
				assert_non_null(rs);
				ruleset_free(rs);
				diags_clear(&d);
				files++;
			}
			globfree(&g);
		}
		free(pat);
	}
	assert_true(files >= 1);
}

/* Documents both the schema and the loader accept. */
static const char *const good_docs[] = {
	"",
	"rules: []\n",
	"aliases: { a: [x, \"y z*\"] }\nrules:\n  - name: r\n    match: \"@a\"\n",
	"rules:\n  - name: r\n    match: [a, b]\n",
	"rules:\n  - name: r\n    match: { field: title, any: [\"Entity List\"] }\n",
	"rules:\n  - name: r\n    match:\n      all:\n        - near: [R2, 发布]\n          within: 3\n"
	"        - regex: '(?i)\\bR2\\b'\n          raw: true\n          fields: [title, form_type]\n"
	"      none: [rumor]\n",
	"rules:\n  - name: r\n    when: change_pct <= -5\n    rearm: change_pct > -4\n"
	"    severity: critical\n    cooldown: 6h\n    digest: 90\n    quiet: \"22:00-07:00\"\n"
	"    max_per_hour: 3\n    notify: desktop\n    sources: [\"news-*\", nvda]\n",
	"rules:\n  - name: 2048\n    description: a number is a fine name\n    match: [2048, H20]\n",
};

/* Documents the schema refuses (and so does the loader). */
static const char *const bad_docs[] = {
	"rule: []\n",                                                     /* unknown top key */
	"aliases: [a, b]\n",                                              /* wrong type */
	"aliases: { \"@a\": [x] }\n",                                     /* @ in the name */
	"aliases: { a: [] }\n",                                           /* empty alias */
	"rules:\n  - match: [a]\n",                                       /* no name */
	"rules:\n  - name: r\n",                                          /* no match/when */
	"rules:\n  - name: r\n    match: [a]\n    sevrity: high\n",       /* unknown key */
	"rules:\n  - name: r\n    match: [a]\n    severity: urgent\n",    /* bad enum */
	"rules:\n  - name: r\n    match: [\"\"]\n",                       /* empty term */
	"rules:\n  - name: r\n    match: [\"*\"]\n",                      /* only a star */
	"rules:\n  - name: r\n    match: [\"ex*port\"]\n",                /* inner star */
	"rules:\n  - name: r\n    match: [\"R2 *\"]\n",                   /* loose star */
	"rules:\n  - name: r\n    match: { all: { any: [a] } }\n",        /* mapping for a list */
	"rules:\n  - name: r\n    match: { any: [] }\n",                  /* empty list */
	"rules:\n  - name: r\n    match: { nera: [a, b] }\n",             /* unknown cond key */
	"rules:\n  - name: r\n    match: [{ near: [a] }]\n",              /* near of one */
	"rules:\n  - name: r\n    match: [{ near: [a, b], within: 0 }]\n",/* within < 1 */
	"rules:\n  - name: r\n    match: [{ near: [a, {any: [b]}] }]\n",  /* group in near */
	"rules:\n  - name: r\n    match: { field: Title, any: [a] }\n",   /* field name */
	"rules:\n  - name: r\n    match: { field: title, fields: [title], any: [a] }\n",
	"rules:\n  - name: r\n    match: [{ regex: a, raw: maybe }]\n",   /* raw not a bool */
	"rules:\n  - name: r\n    match: [a]\n    cooldown: 6 hours\n",   /* duration */
	"rules:\n  - name: r\n    match: [a]\n    quiet: \"22:00-7\"\n",  /* quiet */
	"rules:\n  - name: r\n    match: [a]\n    quiet: \"25:00-07:00\"\n",
	"rules:\n  - name: r\n    match: [a]\n    max_per_hour: 0\n",     /* not positive */
	"rules:\n  - name: r\n    match: [a]\n    notify: []\n",          /* notify nobody */
	"rules:\n  - name: r\n    match: [a]\n    notify: { a: b }\n",    /* wrong type */
	"rules:\n  - name: r\n    when: \"\"\n",                          /* empty expression */
};

static void test_good_documents(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof good_docs / sizeof good_docs[0]; i++) {
		struct verdict v = { { 0 } };
		if (!check_text(good_docs[i], &v))
			fail_msg("good document %zu refused by the schema: %s", i, v.why);
		if (!loader_accepts(good_docs[i]))
			fail_msg("good document %zu refused by the loader", i);
	}
}

static void test_bad_documents(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
		struct verdict v = { { 0 } };
		if (check_text(bad_docs[i], &v))
			fail_msg("bad document %zu accepted by the schema:\n%s", i, bad_docs[i]);
		if (loader_accepts(bad_docs[i]))
			fail_msg("bad document %zu accepted by the loader:\n%s", i, bad_docs[i]);
	}
}

/* The validator itself: a keyword it does not know fails rather than passes. */
static void test_validator_checks_types(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = ydoc_load_string("t.yaml", "[1, x, true, ~, 2.5]\n", 20, &d);
	assert_non_null(doc);
	assert_string_equal(yaml_type(doc->root->items[0]), "integer");
	assert_string_equal(yaml_type(doc->root->items[1]), "string");
	assert_string_equal(yaml_type(doc->root->items[2]), "boolean");
	assert_string_equal(yaml_type(doc->root->items[3]), "null");
	assert_string_equal(yaml_type(doc->root->items[4]), "number");
	ydoc_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validator_checks_types),
		cmocka_unit_test(test_shipped_files_are_valid),
		cmocka_unit_test(test_good_documents),
		cmocka_unit_test(test_bad_documents),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
