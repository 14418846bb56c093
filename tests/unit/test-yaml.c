/* test-yaml.c - unit tests for the YAML tree: positions, quoting, errors, aliases, limits */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "util.h"
#include "yaml.h"

static struct ydoc *load(const char *text, struct diags *d)
{
	return ydoc_load_string("t.yaml", text, strlen(text), d);
}

/* The single message in d; fails the test when there is not exactly one. */
static const char *only_msg(const struct diags *d)
{
	if (d->n != 1) {
		for (size_t i = 0; i < d->n; i++)
			print_message("message: %s\n", d->msgs[i]);
		fail_msg("expected 1 message, got %zu", d->n);
	}
	return d->msgs[0];
}

static void assert_pos(const struct ynode *n, int line, int column)
{
	assert_non_null(n);
	assert_int_equal(n->line, line);
	assert_int_equal(n->column, column);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_positions(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("name: vigil\n"
	                        "list:\n"
	                        "  - a\n"
	                        "  - \"b c\"\n"
	                        "map: {x: 1, 'y': two}\n"
	                        "text: |\n"
	                        "  line one\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	const struct ynode *root = doc->root;
	assert_int_equal(root->type, YNODE_MAPPING);
	assert_pos(root, 1, 1);
	assert_int_equal(root->n, 4);
	assert_string_equal(root->file, "t.yaml");

	assert_string_equal(root->entries[0].key->value, "name");
	assert_pos(root->entries[0].key, 1, 1);
	const struct ynode *name = ynode_get(root, "name");
	assert_int_equal(name->type, YNODE_SCALAR);
	assert_string_equal(name->value, "vigil");
	assert_pos(name, 1, 7);

	const struct ynode *list = ynode_get(root, "list");
	assert_int_equal(list->type, YNODE_SEQUENCE);
	assert_pos(list, 3, 3);
	assert_int_equal(list->n, 2);
	assert_string_equal(list->items[0]->value, "a");
	assert_pos(list->items[0], 3, 5);
	assert_string_equal(list->items[1]->value, "b c");
	assert_pos(list->items[1], 4, 5);

	const struct ynode *map = ynode_get(root, "map");
	assert_int_equal(map->type, YNODE_MAPPING);
	assert_pos(map, 5, 6);
	assert_int_equal(map->n, 2);
	assert_pos(map->entries[0].key, 5, 7);
	assert_pos(map->entries[0].value, 5, 10);
	assert_string_equal(map->entries[1].key->value, "y");
	assert_pos(map->entries[1].key, 5, 13);
	assert_string_equal(ynode_get(map, "y")->value, "two");
	assert_pos(ynode_get(map, "y"), 5, 18);

	const struct ynode *text = ynode_get(root, "text");
	assert_string_equal(text->value, "line one\n");
	assert_pos(text, 6, 7);
	assert_false(text->plain);

	assert_null(ynode_get(root, "missing"));
	assert_null(ynode_get(name, "x"));          /* not a mapping */
	assert_string_equal(ynode_kind(name), "a scalar");
	assert_string_equal(ynode_kind(list), "a list");
	assert_string_equal(ynode_kind(map), "a mapping");
	assert_string_equal(ynode_kind(NULL), "nothing");
	ydoc_free(doc);
}

static void test_quoted_and_plain(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("a: true\n"
	                        "b: \"true\"\n"
	                        "c:\n"
	                        "d: ''\n"
	                        "e: ~\n"
	                        "f: 42\n"
	                        "g: '42'\n"
	                        "h: -1.5e3\n"
	                        "i: off\n"
	                        "j: 0x10\n"
	                        "k: inf\n"
	                        "l: 99999999999999999999\n"
	                        "m: \"null\"\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	const struct ynode *r = doc->root;
	bool b = false;
	long long i = 0;
	double x = 0;

	assert_true(ynode_get(r, "a")->plain);
	assert_false(ynode_get(r, "b")->plain);
	assert_int_equal(ynode_bool(ynode_get(r, "a"), &b), 0);
	assert_true(b);
	/* Quoted text is a string, never a boolean or a number. */
	assert_int_not_equal(ynode_bool(ynode_get(r, "b"), &b), 0);
	assert_int_equal(ynode_bool(ynode_get(r, "i"), &b), 0);
	assert_false(b);

	assert_true(ynode_is_null(ynode_get(r, "c")));
	assert_false(ynode_is_null(ynode_get(r, "d")));
	assert_string_equal(ynode_get(r, "d")->value, "");
	assert_true(ynode_is_null(ynode_get(r, "e")));
	assert_false(ynode_is_null(ynode_get(r, "m")));

	assert_int_equal(ynode_int(ynode_get(r, "f"), &i), 0);
	assert_int_equal(i, 42);
	assert_int_not_equal(ynode_int(ynode_get(r, "g"), &i), 0);
	assert_int_not_equal(ynode_int(ynode_get(r, "h"), &i), 0);
	assert_int_not_equal(ynode_int(ynode_get(r, "j"), &i), 0);
	assert_int_not_equal(ynode_int(ynode_get(r, "l"), &i), 0);   /* overflow */
	assert_int_equal(ynode_number(ynode_get(r, "h"), &x), 0);
	assert_true(x == -1500.0);
	assert_int_equal(ynode_number(ynode_get(r, "f"), &x), 0);
	assert_true(x == 42.0);
	assert_int_not_equal(ynode_number(ynode_get(r, "k"), &x), 0);
	assert_int_not_equal(ynode_number(ynode_get(r, "g"), &x), 0);
	assert_int_not_equal(ynode_number(r, &x), 0);
	ydoc_free(doc);
}

static void test_number_ignores_locale(void **state)
{
	(void)state;
	/* Where the locale writes "1,5", YAML still means 1.5. */
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
		skip();
	struct diags d = { 0 };
	struct ydoc *doc = load("x: 1.5\n", &d);
	double x = 0;
	int r = ynode_number(ynode_get(doc->root, "x"), &x);
	setlocale(LC_NUMERIC, "C");
	assert_int_equal(r, 0);
	assert_true(x == 1.5);
	ydoc_free(doc);
}

static void test_duplicate_key(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("a: 1\n"
	                        "b:\n"
	                        "  x: 1\n"
	                        "  x: 2\n"
	                        "a: 3\n", &d);
	assert_null(doc);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.msgs[0], "t.yaml:4:3: error: duplicate key `x` (first at line 3, column 3)");
	assert_string_equal(d.msgs[1], "t.yaml:5:1: error: duplicate key `a` (first at line 1, column 1)");
	diags_clear(&d);
}

static void test_many_keys(void **state)
{
	(void)state;
	/* A big mapping: duplicate detection must not be quadratic, and a
	 * repeat at the very end is still found. */
	size_t n = 50000, cap = n * 16 + 64, len = 0;
	char *text = malloc(cap);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "k%zu: %zu\n", i, i);
	len += (size_t)snprintf(text + len, cap - len, "k7: again\n");
	struct diags d = { 0 };
	struct ydoc *doc = ydoc_load_string("big.yaml", text, len, &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d),
	                    "big.yaml:50001:1: error: duplicate key `k7` (first at line 8, column 1)");
	diags_clear(&d);
	free(text);
}

static void test_non_scalar_key(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("ok: 1\n? [a, b]\n: 1\n", &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:2:3: error: a mapping key must be a scalar, not a list");
	diags_clear(&d);
}

static void test_syntax_error(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("a: 1\nb: [1, 2\nc: 3\n", &d);
	assert_null(doc);
	const char *m = only_msg(&d);
	/* libyaml's own words, placed at the problem, with the context. */
	assert_string_equal(m, "t.yaml:3:2: error: did not find expected ',' or ']' "
	                       "(while parsing a flow sequence at line 2, column 4)");
	diags_clear(&d);

	doc = load("a: 1\n  b: 2\n", &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d),
	                    "t.yaml:2:4: error: mapping values are not allowed in this context");
	diags_clear(&d);

	doc = load("a: \"unterminated\n", &d);
	assert_null(doc);
	assert_non_null(strstr(only_msg(&d), "t.yaml:2:1: error: found unexpected end of stream"));
	diags_clear(&d);
}

static void test_bad_utf8(void **state)
{
	(void)state;
	struct diags d = { 0 };
	/* 0xE9 starts a three-byte sequence; the '!' after it cannot continue it. */
	struct ydoc *doc = load("a: 1\nb: caf\xe9!\n", &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d),
	                    "t.yaml:2:8: error: invalid trailing UTF-8 octet (byte 0x21 at offset 12)");
	diags_clear(&d);
}

static void test_nul_in_scalar(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("a: \"x\\0y\"\n", &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:1:4: error: a value may not contain a NUL character");
	diags_clear(&d);
}

static void test_alias_expands(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("base: &b {x: 1, y: [a, b]}\n"
	                        "name: &n hello\n"
	                        "use: *b\n"
	                        "again: *n\n"
	                        "base2: &b [redefined]\n"
	                        "use2: *b\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	const struct ynode *base = ynode_get(doc->root, "base");
	const struct ynode *use = ynode_get(doc->root, "use");
	assert_int_equal(use->type, YNODE_MAPPING);
	assert_ptr_not_equal(use, base);            /* a copy: freeing is simple */
	assert_string_equal(ynode_get(use, "x")->value, "1");
	assert_int_equal(ynode_get(use, "y")->n, 2);
	assert_string_equal(ynode_get(use, "y")->items[1]->value, "b");
	assert_pos(use, 3, 6);                      /* the copy sits where the alias is */
	assert_string_equal(ynode_get(doc->root, "again")->value, "hello");
	/* The latest definition of an anchor wins. */
	const struct ynode *use2 = ynode_get(doc->root, "use2");
	assert_int_equal(use2->type, YNODE_SEQUENCE);
	assert_string_equal(use2->items[0]->value, "redefined");
	ydoc_free(doc);
}

static void test_undefined_alias(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("a: 1\nb: *nope\n", &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:2:4: error: undefined alias `*nope`");
	diags_clear(&d);
}

static void test_billion_laughs(void **state)
{
	(void)state;
	const char *text =
		"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	struct diags d = { 0 };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct ydoc *doc = load(text, &d);
	double took = seconds_since(&t0);
	assert_null(doc);
	/* `b`, `c` and `d` copy 90 + 819 + 7380 nodes; the first `*d` (7381
	 * more) is over the budget. */
	assert_string_equal(only_msg(&d), "t.yaml:5:8: error: alias expansion exceeds 10000 nodes "
	                                  "(billion laughs?)");
	assert_true(took < 1.0);
	diags_clear(&d);

	/* Just under the budget is fine: 1 + 100 aliases of a 99-node list. */
	size_t cap = 8192, len = 0;
	char *ok = malloc(cap);
	len += (size_t)snprintf(ok + len, cap - len, "a: &a [");
	for (int i = 0; i < 98; i++)
		len += (size_t)snprintf(ok + len, cap - len, "%sx", i ? "," : "");
	len += (size_t)snprintf(ok + len, cap - len, "]\nb: [");
	for (int i = 0; i < 101; i++)
		len += (size_t)snprintf(ok + len, cap - len, "%s*a", i ? "," : "");
	len += (size_t)snprintf(ok + len, cap - len, "]\n");
	doc = ydoc_load_string("ok.yaml", ok, len, &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	assert_int_equal(ynode_get(doc->root, "b")->n, 101);
	ydoc_free(doc);
	/* One more alias of it is one too many. */
	ok[len - 2] = '\0';
	len -= 2;
	len += (size_t)snprintf(ok + len, cap - len, ",*a]\n");
	doc = ydoc_load_string("ok.yaml", ok, len, &d);
	assert_null(doc);
	assert_non_null(strstr(only_msg(&d), "alias expansion exceeds 10000 nodes"));
	diags_clear(&d);
	free(ok);
}

static void test_recursive_alias(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct ydoc *doc = load("a: &x\n  b: [1, *x]\n", &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:2:10: error: alias `*x` is inside the node it "
	                                  "refers to (recursive alias)");
	assert_true(seconds_since(&t0) < 1.0);
	diags_clear(&d);
}

static char *nested(size_t levels, const char *inner)
{
	size_t len = levels * 2 + strlen(inner) + 1;
	char *s = malloc(len);
	memset(s, '[', levels);
	strcpy(s + levels, inner);
	memset(s + levels + strlen(inner), ']', levels);
	s[len - 1] = '\0';
	return s;
}

static void test_depth_limit(void **state)
{
	(void)state;
	struct diags d = { 0 };
	char *s = nested(256, "x");
	struct ydoc *doc = load(s, &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	const struct ynode *n = doc->root;
	for (int i = 1; i < 256; i++)
		n = n->items[0];
	assert_int_equal(n->type, YNODE_SEQUENCE);
	assert_string_equal(n->items[0]->value, "x");
	ydoc_free(doc);
	free(s);

	s = nested(257, "x");
	doc = load(s, &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:1:257: error: a list nested deeper than 256 levels");
	diags_clear(&d);
	free(s);

	/* Far deeper input stops at the limit too, quickly. */
	s = nested(1000000, "");
	doc = load(s, &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:1:257: error: a list nested deeper than 256 levels");
	diags_clear(&d);
	free(s);

	/* An alias may not smuggle a deep node deeper. */
	char *deep = nested(200, "x");
	char *use = nested(60, "*a");
	char *text = xasprintf("a: &a %s\nb: %s\n", deep, use);
	doc = load(text, &d);
	assert_null(doc);
	assert_string_equal(only_msg(&d), "t.yaml:2:64: error: alias `*a` nests deeper than 256 levels");
	diags_clear(&d);
	free(text);
	free(use);
	free(deep);
}

static void test_empty_and_multi(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ydoc *doc = load("", &d);
	assert_non_null(doc);
	assert_null(doc->root);
	assert_int_equal(d.n, 0);
	ydoc_free(doc);

	doc = load("# nothing but a comment\n\n", &d);
	assert_non_null(doc);
	assert_null(doc->root);
	ydoc_free(doc);

	doc = ydoc_load_string("null.yaml", NULL, 0, &d);
	assert_non_null(doc);
	assert_null(doc->root);
	ydoc_free(doc);

	/* Only the first document is read; a broken second one says nothing. */
	doc = load("a: 1\n---\nb: [\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	assert_string_equal(ynode_get(doc->root, "a")->value, "1");
	assert_null(ynode_get(doc->root, "b"));
	ydoc_free(doc);

	/* Tags are ignored; only the quoting counts. */
	doc = load("--- !!map\na: !!str 5\nb: !custom \"6\"\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(doc);
	assert_string_equal(ynode_get(doc->root, "a")->value, "5");
	assert_true(ynode_get(doc->root, "a")->plain);
	assert_false(ynode_get(doc->root, "b")->plain);
	ydoc_free(doc);
}

static void test_load_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/vigil-test-yaml-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/f.yaml", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x:\n  - 1\n", f);
	fclose(f);

	struct diags d = { 0 };
	struct ydoc *doc = ydoc_load_file(path, &d);
	assert_non_null(doc);
	assert_string_equal(doc->file, path);
	assert_string_equal(doc->root->entries[0].value->file, path);
	assert_pos(ynode_get(doc->root, "x")->items[0], 2, 5);
	ydoc_free(doc);

	char *missing = xasprintf("%s/none.yaml", dir);
	assert_null(ydoc_load_file(missing, &d));
	char *want = xasprintf("%s: error: cannot open: No such file or directory", missing);
	assert_string_equal(only_msg(&d), want);
	diags_clear(&d);
	assert_null(ydoc_load_file(dir, &d));
	assert_non_null(strstr(only_msg(&d), "is a directory"));
	diags_clear(&d);

	unlink(path);
	rmdir(dir);
	free(want);
	free(missing);
	free(path);
}

/* Mutate a document at random many times: no crash, no leak, an answer each time. */
static void test_never_crashes(void **state)
{
	(void)state;
	static const char seed[] =
		"a: &a {x: [1, 2, \"three\"], y: 'q'}\n"
		"b: *a\n"
		"c: |\n  block\n"
		"d: [*a, *a, {k: v}]\n"
		"? e\n: f\n";
	static const char alphabet[] = "[]{}:,-?&*!|>'\"#\n \t%@`a1\\";
	char buf[sizeof seed + 16];
	srand(12345);
	for (int round = 0; round < 20000; round++) {
		size_t len = sizeof seed - 1;
		memcpy(buf, seed, len);
		int edits = 1 + rand() % 4;
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)rand() % len;
			if (rand() % 8 == 0)
				buf[at] = (char)(rand() % 256);
			else
				buf[at] = alphabet[rand() % (sizeof alphabet - 1)];
		}
		struct diags d = { 0 };
		struct ydoc *doc = ydoc_load_string("fuzz.yaml", buf, len, &d);
		assert_true(doc != NULL || d.n > 0);
		if (!doc)
			assert_non_null(strstr(d.msgs[0], "fuzz.yaml"));
		ydoc_free(doc);
		diags_clear(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_quoted_and_plain),
		cmocka_unit_test(test_number_ignores_locale),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_non_scalar_key),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_nul_in_scalar),
		cmocka_unit_test(test_alias_expands),
		cmocka_unit_test(test_undefined_alias),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_recursive_alias),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_empty_and_multi),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_never_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
