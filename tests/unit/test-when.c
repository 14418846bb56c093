/* test-when.c - unit tests for when: conditions and their edge trigger (daemon/when.c) */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "diag.h"
#include "log.h"
#include "rules.h"
#include "state-fixture.h"
#include "state.h"
#include "util.h"
#include "when.h"

/* ---- expressions built by hand ---- */

static struct when_expr *cmp_num(const char *field, enum when_op op, double v)
{
	struct when_expr *e = xcalloc(1, sizeof *e);
	e->op = op;
	e->field = xstrdup(field);
	e->number = v;
	return e;
}

static struct when_expr *cmp_str(const char *field, enum when_op op, const char *v)
{
	struct when_expr *e = xcalloc(1, sizeof *e);
	e->op = op;
	e->field = xstrdup(field);
	e->is_string = true;
	e->string = xstrdup(v);
	return e;
}

static struct when_expr *join(enum when_op op, struct when_expr *l, struct when_expr *r)
{
	struct when_expr *e = xcalloc(1, sizeof *e);
	e->op = op;
	e->left = l;
	e->right = r;
	return e;
}

static void expr_free(struct when_expr *e)
{
	if (!e)
		return;
	expr_free(e->left);
	expr_free(e->right);
	free(e->field);
	free(e->string);
	free(e);
}

/* ---- items ---- */

struct test_item {
	struct vigil_item item;
	struct vigil_field fields[8];
};

static void item_init(struct test_item *t)
{
	memset(t, 0, sizeof *t);
	t->item = (struct vigil_item)VIGIL_ITEM_INIT;
	t->item.fields = t->fields;
}

static void add_num(struct test_item *t, const char *name, double v)
{
	t->fields[t->item.n_fields++] = (struct vigil_field){
		.name = name, .type = VIGIL_FIELD_NUMBER, .number = v };
}

static void add_str(struct test_item *t, const char *name, const char *v)
{
	t->fields[t->item.n_fields++] = (struct vigil_field){
		.name = name, .type = VIGIL_FIELD_STRING, .string = v };
}

/* An item of symbol `symbol` (NULL: none) with change_pct (NAN: absent). */
static const struct vigil_item *quote(struct test_item *t, const char *symbol, double pct)
{
	item_init(t);
	if (symbol)
		add_str(t, "symbol", symbol);
	if (!isnan(pct))
		add_num(t, "change_pct", pct);
	return &t->item;
}

/* ---- evaluation ---- */

static void test_eval_numbers(void **ctx)
{
	(void)ctx;
	struct test_item t;
	item_init(&t);
	add_num(&t, "change_pct", -5);
	const struct vigil_item *it = &t.item;

	struct { enum when_op op; double v; bool want; } cases[] = {
		{ WHEN_LE, -5, true }, { WHEN_LT, -5, false }, { WHEN_LT, -4.9, true },
		{ WHEN_GE, -5, true }, { WHEN_GT, -5, false }, { WHEN_GT, -6, true },
		{ WHEN_EQ, -5, true }, { WHEN_EQ, 5, false }, { WHEN_NE, -5, false },
		{ WHEN_NE, 0, true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct when_expr *e = cmp_num("change_pct", cases[i].op, cases[i].v);
		if (when_eval(e, it) != cases[i].want)
			fail_msg("case %zu: change_pct -5 op %d %g should be %d", i, cases[i].op,
			         cases[i].v, cases[i].want);
		expr_free(e);
	}

	/* NaN compares as unknown, never true (not even !=). */
	item_init(&t);
	add_num(&t, "price", NAN);
	struct when_expr *ne = cmp_num("price", WHEN_NE, 1);
	assert_false(when_eval(ne, &t.item));
	assert_false(when_eval_false(ne, &t.item));
	expr_free(ne);
}

static void test_eval_missing_field_is_never_true(void **ctx)
{
	(void)ctx;
	struct test_item t;
	item_init(&t);
	add_num(&t, "price", 10);
	const struct vigil_item *it = &t.item;

	struct when_expr *lt = cmp_num("change_pct", WHEN_LT, 0);
	struct when_expr *ne = cmp_num("change_pct", WHEN_NE, 0);
	assert_false(when_eval(lt, it));
	assert_false(when_eval(ne, it));
	/* Unknown, not false: the default rearm (the condition false) does not hold. */
	assert_false(when_eval_false(lt, it));
	expr_free(lt);
	expr_free(ne);

	/* not (missing) stays unknown: `not x == 5` behaves like `x != 5`. */
	struct when_expr *n = join(WHEN_NOT, cmp_num("change_pct", WHEN_EQ, 5), NULL);
	assert_false(when_eval(n, it));
	assert_false(when_eval_false(n, it));
	expr_free(n);

	/* The known side decides where it can. */
	struct when_expr *o = join(WHEN_OR, cmp_num("change_pct", WHEN_LT, 0),
	                           cmp_num("price", WHEN_GT, 5));
	assert_true(when_eval(o, it));
	expr_free(o);
	struct when_expr *a = join(WHEN_AND, cmp_num("change_pct", WHEN_LT, 0),
	                           cmp_num("price", WHEN_GT, 50));
	assert_false(when_eval(a, it));
	assert_true(when_eval_false(a, it));   /* false whatever change_pct is */
	expr_free(a);
	a = join(WHEN_AND, cmp_num("change_pct", WHEN_LT, 0), cmp_num("price", WHEN_GT, 5));
	assert_false(when_eval(a, it));
	assert_false(when_eval_false(a, it));  /* unknown */
	expr_free(a);

	/* A NULL expression is not true either. */
	assert_false(when_eval(NULL, it));
}

static void test_eval_strings(void **ctx)
{
	(void)ctx;
	struct test_item t;
	item_init(&t);
	add_str(&t, "form_type", "8-K");
	add_str(&t, "price_text", " 12.5 ");
	add_str(&t, "date", "2026-03-02");
	add_num(&t, "volume", 100);
	const char *cats[] = { "chips", "export" };
	t.item.categories = cats;
	t.item.n_categories = 2;
	t.item.title = "DeepSeek R2";
	t.item.published = 1000;
	const struct vigil_item *it = &t.item;

	struct { struct when_expr *e; bool want; } cases[] = {
		{ cmp_str("form_type", WHEN_EQ, "8-K"), true },
		{ cmp_str("form_type", WHEN_EQ, "8-k"), false },   /* exact */
		{ cmp_str("form_type", WHEN_NE, "10-Q"), true },
		{ cmp_str("form_type", WHEN_NE, "8-K"), false },
		/* Byte order: ISO dates compare as dates. */
		{ cmp_str("date", WHEN_GT, "2026-03-01"), true },
		{ cmp_str("date", WHEN_LT, "2026-03-01"), false },
		/* A number field against a string is unknown, not an error. */
		{ cmp_str("volume", WHEN_EQ, "100"), false },
		{ cmp_str("volume", WHEN_NE, "100"), false },
		/* Text that is a number compares as one. */
		{ cmp_num("price_text", WHEN_GT, 12), true },
		{ cmp_num("price_text", WHEN_EQ, 12.5), true },
		{ cmp_num("form_type", WHEN_GT, 0), false },
		/* Item members by name. */
		{ cmp_str("title", WHEN_EQ, "DeepSeek R2"), true },
		{ cmp_str("author", WHEN_EQ, ""), false },     /* absent */
		{ cmp_num("published", WHEN_GE, 1000), true },
		{ cmp_num("updated", WHEN_GE, 0), false },     /* VIGIL_TIME_NONE */
		{ cmp_str("categories", WHEN_EQ, "export"), true },
		{ cmp_str("categories", WHEN_NE, "export"), false },
		{ cmp_str("categories", WHEN_NE, "politics"), true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (when_eval(cases[i].e, it) != cases[i].want) {
			char *text = when_format(cases[i].e);
			fail_msg("case %zu: %s should be %s", i, text, cases[i].want ? "true" : "false");
		}
		expr_free(cases[i].e);
	}
}

static void test_eval_and_or_not(void **ctx)
{
	(void)ctx;
	struct test_item t;
	item_init(&t);
	add_num(&t, "a", 1);
	add_num(&t, "b", 0);
	const struct vigil_item *it = &t.item;
	struct when_expr *a = cmp_num("a", WHEN_EQ, 1);      /* true */
	struct when_expr *b = cmp_num("b", WHEN_EQ, 1);      /* false */

	struct when_expr *e = join(WHEN_AND, a, b);
	assert_false(when_eval(e, it));
	assert_true(when_eval_false(e, it));
	e->op = WHEN_OR;
	assert_true(when_eval(e, it));
	struct when_expr *n = join(WHEN_NOT, e, NULL);        /* not (a or b) */
	assert_false(when_eval(n, it));
	assert_true(when_eval_false(n, it));
	struct when_expr *nn = join(WHEN_NOT, n, NULL);
	assert_true(when_eval(nn, it));
	expr_free(nn);
}

/* ---- parsed by rules.c, evaluated here ---- */

struct parsed {
	char dir[256];
	struct ruleset *rs;
};

/* Load rules from YAML text; every rule only has when:. */
static struct ruleset *load_rules(struct parsed *p, const char *yaml)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(p->dir, sizeof p->dir, "%s/vigil-test-when-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(p->dir));
	char *path = path_join(p->dir, "rules.yaml");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);
	struct diags d = { 0 };
	p->rs = ruleset_load(path, NULL, &d);
	if (!p->rs) {
		diags_print(&d, stderr);
		fail_msg("the test rules do not load");
	}
	diags_clear(&d);
	free(path);
	return p->rs;
}

static void parsed_free(struct parsed *p)
{
	ruleset_free(p->rs);
	nftw(p->dir, state_fixture_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const struct rule *rule_named(const struct ruleset *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->rules[i].name, name))
			return &rs->rules[i];
	fail_msg("no rule %s", name);
	return NULL;
}

static void test_parsed_suffixes_and_precedence(void **ctx)
{
	(void)ctx;
	struct parsed p;
	struct ruleset *rs = load_rules(&p,
		"rules:\n"
		"  - name: pct\n"
		"    when: change_pct <= -5%\n"
		"  - name: big\n"
		"    when: volume > 2.5M and price >= 1.5k\n"
		"  - name: or-and\n"
		"    when: a > 1 or b > 1 and c > 1\n"
		"  - name: parens\n"
		"    when: (a > 1 or b > 1) and c > 1\n"
		"  - name: not-binds-tight\n"
		"    when: not a > 1 and b > 1\n"
		"  - name: text\n"
		"    when: form_type == \"8-K\" or agency != 'BIS'\n");

	struct test_item t;
	item_init(&t);
	add_num(&t, "change_pct", -5);
	assert_true(when_eval(rule_named(rs, "pct")->when, &t.item));
	t.fields[0].number = -4.99;
	assert_false(when_eval(rule_named(rs, "pct")->when, &t.item));

	item_init(&t);
	add_num(&t, "volume", 2500001);
	add_num(&t, "price", 1500);
	assert_true(when_eval(rule_named(rs, "big")->when, &t.item));
	t.fields[0].number = 2500000;                   /* 2.5M exactly: not > */
	assert_false(when_eval(rule_named(rs, "big")->when, &t.item));
	t.fields[0].number = 3e6;
	t.fields[1].number = 1499;                      /* 1.5k is 1500 */
	assert_false(when_eval(rule_named(rs, "big")->when, &t.item));

	/* a true, b and c false: `and` binds tighter than `or`. */
	item_init(&t);
	add_num(&t, "a", 2);
	add_num(&t, "b", 0);
	add_num(&t, "c", 0);
	assert_true(when_eval(rule_named(rs, "or-and")->when, &t.item));
	assert_false(when_eval(rule_named(rs, "parens")->when, &t.item));
	/* (not a > 1) and b > 1: false; not (a > 1 and b > 1) would be true. */
	assert_false(when_eval(rule_named(rs, "not-binds-tight")->when, &t.item));
	t.fields[0].number = 0;
	t.fields[1].number = 2;
	assert_true(when_eval(rule_named(rs, "not-binds-tight")->when, &t.item));

	item_init(&t);
	add_str(&t, "form_type", "10-Q");
	add_str(&t, "agency", "BIS");
	assert_false(when_eval(rule_named(rs, "text")->when, &t.item));
	t.fields[0].string = "8-K";
	assert_true(when_eval(rule_named(rs, "text")->when, &t.item));

	/* when_format: suffixes applied, parentheses only where needed. */
	static const struct { const char *rule, *text; } formats[] = {
		{ "pct", "change_pct <= -5" },
		{ "big", "volume > 2500000 and price >= 1500" },
		{ "or-and", "a > 1 or b > 1 and c > 1" },
		{ "parens", "(a > 1 or b > 1) and c > 1" },
		{ "not-binds-tight", "not a > 1 and b > 1" },
		{ "text", "form_type == \"8-K\" or agency != \"BIS\"" },
	};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		char *text = when_format(rule_named(rs, formats[i].rule)->when);
		assert_string_equal(text, formats[i].text);
		free(text);
	}
	parsed_free(&p);
}

static void test_format_nesting(void **ctx)
{
	(void)ctx;
	/* a or (b or c): the right side of a left-associative operator keeps its parentheses. */
	struct when_expr *e = join(WHEN_OR, cmp_num("a", WHEN_GT, 1),
	                           join(WHEN_OR, cmp_num("b", WHEN_GT, 1), cmp_num("c", WHEN_GT, 1)));
	char *text = when_format(e);
	assert_string_equal(text, "a > 1 or (b > 1 or c > 1)");
	free(text);
	expr_free(e);

	e = join(WHEN_NOT, join(WHEN_AND, cmp_num("x", WHEN_LE, 0.5), cmp_str("s", WHEN_EQ, "a\"b")),
	         NULL);
	text = when_format(e);
	assert_string_equal(text, "not (x <= 0.5 and s == \"a\\\"b\")");
	free(text);
	expr_free(e);
}

/* ---- the edge trigger ---- */

struct fixture {
	char dir[256];
	char *path;
	struct state *st;
	struct rule rule;
};

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;
	int ret = state_fixture_close(f->dir, &f->path, &f->st);
	expr_free(f->rule.when);
	expr_free(f->rule.rearm);
	free(f);
	when_memory_clear();
	return ret;
}

static int setup(void **ctx)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	if (state_fixture_open("when", f->dir, sizeof f->dir, &f->path, &f->st) < 0) {
		free(f);
		return -1;
	}
	*ctx = f;
	/* NVDA drops 5 %: when change_pct <= -5 (rearm: the default). */
	f->rule.name = (char *)"NVDA drops 5 %";
	f->rule.when = cmp_num("change_pct", WHEN_LE, -5);
	return 0;
}

static void reopen(struct fixture *f)
{
	state_close(f->st);
	f->st = NULL;
	char *error = NULL;
	if (state_open(f->path, &f->st, &error) < 0)
		fail_msg("reopen: %s", error);
}

/* One item through the trigger: did it fire? */
static bool check_in(struct state *st, const struct rule *r, const char *symbol, double pct,
                     const char *source)
{
	struct test_item t;
	bool fire = true;
	char *reason = (char *)"junk";
	assert_int_equal(when_check(st, r, quote(&t, symbol, pct), source, &fire, &reason), 0);
	if (fire)
		assert_non_null(reason);
	else
		assert_null(reason);
	free(reason);
	return fire;
}

static bool check(struct fixture *f, const char *symbol, double pct)
{
	return check_in(f->st, &f->rule, symbol, pct, "nvda");
}

static void test_edge_fires_once_then_rearms(void **ctx)
{
	struct fixture *f = *ctx;
	assert_false(check(f, "NVDA", -3));
	assert_true(check(f, "NVDA", -5.5));      /* the crossing */
	assert_false(check(f, "NVDA", -6));       /* still true: no repeat */
	assert_false(check(f, "NVDA", -5));
	assert_false(check(f, "NVDA", -4.5));     /* false again: re-armed (default rearm) */
	assert_true(check(f, "NVDA", -5.1));      /* crosses again */
	assert_false(check(f, "NVDA", -7));
}

static void test_edge_explicit_rearm(void **ctx)
{
	struct fixture *f = *ctx;
	f->rule.rearm = cmp_num("change_pct", WHEN_GT, -4);
	assert_true(check(f, "NVDA", -6));
	assert_false(check(f, "NVDA", -4.5));     /* not > -4: still disarmed */
	assert_false(check(f, "NVDA", -5.5));
	assert_false(check(f, "NVDA", -3.9));     /* rearms, does not fire */
	assert_false(check(f, "NVDA", -4.5));
	assert_true(check(f, "NVDA", -5));
}

static void test_edge_missing_value_does_not_rearm(void **ctx)
{
	struct fixture *f = *ctx;
	assert_true(check(f, "NVDA", -6));
	assert_false(check(f, "NVDA", NAN));      /* a quote without change_pct */
	assert_false(check(f, "NVDA", -6.5));     /* so this is no new crossing */
}

static void test_edge_first_sight_fires(void **ctx)
{
	struct fixture *f = *ctx;
	/* A key never seen with the condition already true: news. */
	assert_true(check(f, "AMD", -8));
	assert_false(check(f, "AMD", -9));
}

static void test_edge_state_survives_restart(void **ctx)
{
	struct fixture *f = *ctx;
	assert_true(check(f, "NVDA", -6));
	reopen(f);
	assert_false(check(f, "NVDA", -7));       /* not repeated after the restart */
	assert_false(check(f, "NVDA", -2));       /* re-armed ... */
	reopen(f);
	assert_true(check(f, "NVDA", -5.5));      /* ... and that is not lost either */

	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st),
		"SELECT armed, last_value FROM when_state WHERE rule = ?1 AND key = 'NVDA'", -1, &s,
		NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, f->rule.name, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	assert_string_equal((const char *)sqlite3_column_text(s, 1), "change_pct = -5.5");
	sqlite3_finalize(s);
}

static void test_edge_rolled_back_crossing_fires_again(void **ctx)
{
	struct fixture *f = *ctx;
	/* The poll's transaction failed: its crossing was never recorded, so the
	 * retried poll fires it (nothing lost); a committed one does not repeat. */
	assert_int_equal(state_begin(f->st), 0);
	assert_true(check(f, "NVDA", -6));
	state_rollback(f->st);
	assert_int_equal(state_begin(f->st), 0);
	assert_true(check(f, "NVDA", -6));
	assert_int_equal(state_commit(f->st), 0);
	reopen(f);
	assert_false(check(f, "NVDA", -6));
}

static void test_edge_keys_independent(void **ctx)
{
	struct fixture *f = *ctx;
	assert_true(check(f, "NVDA", -6));
	assert_false(check(f, "AMD", -2));
	assert_true(check(f, "AMD", -6));         /* AMD crosses on its own */
	assert_false(check(f, "NVDA", -7));
	assert_false(check(f, "AMD", -1));        /* AMD re-arms; NVDA does not */
	assert_false(check(f, "NVDA", -8));
	assert_true(check(f, "AMD", -5));

	/* Without a symbol, the source is the key. */
	assert_true(check_in(f->st, &f->rule, NULL, -6, "feed-a"));
	assert_true(check_in(f->st, &f->rule, NULL, -6, "feed-b"));
	assert_false(check_in(f->st, &f->rule, NULL, -6, "feed-a"));

	/* Another rule has its own state for the same key. */
	struct rule other = { .name = (char *)"other", .when = f->rule.when };
	assert_true(check_in(f->st, &other, "NVDA", -9, "nvda"));
}

static void test_edge_reason(void **ctx)
{
	struct fixture *f = *ctx;
	struct test_item t;
	bool fire;
	char *reason;
	assert_int_equal(when_check(f->st, &f->rule, quote(&t, "NVDA", -3.25), "nvda", &fire,
	                            &reason), 0);
	assert_false(fire);
	assert_int_equal(when_check(f->st, &f->rule, quote(&t, "NVDA", -5.5), "nvda", &fire,
	                            &reason), 0);
	assert_true(fire);
	assert_string_equal(reason, "change_pct <= -5 became true for NVDA: change_pct = -5.5 "
	                    "(before: change_pct = -3.25)");
	free(reason);
	/* reason may be NULL when not wanted. */
	assert_int_equal(when_check(f->st, &f->rule, quote(&t, "AMD", -9), "amd", &fire, NULL), 0);
	assert_true(fire);
}

static void test_edge_in_memory(void **ctx)
{
	struct fixture *f = *ctx;
	assert_true(check_in(NULL, &f->rule, "NVDA", -6, "nvda"));
	assert_false(check_in(NULL, &f->rule, "NVDA", -6, "nvda"));
	assert_false(check_in(NULL, &f->rule, "NVDA", 0, "nvda"));
	assert_true(check_in(NULL, &f->rule, "NVDA", -6, "nvda"));
	/* Nothing went to the database. */
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st), "SELECT COUNT(*) FROM when_state", -1,
	                                    &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	when_memory_clear();
	assert_true(check_in(NULL, &f->rule, "NVDA", -6, "nvda"));   /* forgotten */
}

static void test_rule_without_when_always_fires(void **ctx)
{
	struct fixture *f = *ctx;
	struct rule r = { .name = (char *)"plain" };
	struct test_item t;
	for (int i = 0; i < 2; i++) {
		bool fire = false;
		char *reason = (char *)"junk";
		assert_int_equal(when_check(f->st, &r, quote(&t, "NVDA", 0), "nvda", &fire, &reason),
		                 0);
		assert_true(fire);
		assert_null(reason);              /* nothing crossed: the matcher says why */
	}
}

int main(void)
{
	log_init(VIGIL_LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_numbers),
		cmocka_unit_test(test_eval_missing_field_is_never_true),
		cmocka_unit_test(test_eval_strings),
		cmocka_unit_test(test_eval_and_or_not),
		cmocka_unit_test(test_parsed_suffixes_and_precedence),
		cmocka_unit_test(test_format_nesting),
		cmocka_unit_test_setup_teardown(test_edge_fires_once_then_rearms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_explicit_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_missing_value_does_not_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_first_sight_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_state_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_rolled_back_crossing_fires_again, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_edge_keys_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_without_when_always_fires, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
