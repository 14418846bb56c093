/* test-rules.c - the rule loader: the RULES.md example, every error verbatim, directories, limits */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "rules.h"
#include "util.h"

static char tmpdir[] = "/tmp/vigil-test-rules-XXXXXX";

/* RULES.md's example file, verbatim. */
static const char example[] =
	"# /etc/vigil/rules.d/china-chips.yaml\n"
	"aliases:                      # named term lists, reusable as @name in any rule file\n"
	"  deepseek: [DeepSeek, \"ديب سيك\", ديبسيك, 深度求索]\n"
	"  nvidia:   [Nvidia, NVDA, إنفيديا, انفيديا, 英伟达]\n"
	"  release:  [release, released, launch, launches, unveil, ships, إطلاق, يطلق, 发布, 推出, 上线]\n"
	"  delay:    [delay, delayed, postpone, تأخير, متأخرة, تأجيل, 推迟, 延迟]\n"
	"\n"
	"rules:\n"
	"  - name: R2 release\n"
	"    description: DeepSeek ships its R2 model\n"
	"    sources: [\"news-*\", hf-deepseek]   # globs over source names; default: every source\n"
	"    match:\n"
	"      all:\n"
	"        - \"@deepseek\"\n"
	"        - near: [R2, \"@release\"]       # both within 8 words (CJK: 8 characters) of each other\n"
	"          within: 8\n"
	"      none: [\"@delay\", rumor, rumour]\n"
	"    severity: high                     # low | normal | high | critical  (default normal)\n"
	"    notify: [desktop, team]            # sink instance names; default: every sink\n"
	"    cooldown: 6h                       # at most one alert per story per 6 h for this rule\n"
	"\n"
	"  - name: export license\n"
	"    match:\n"
	"      all:\n"
	"        - any: [\"export license*\", \"export licence*\", تراخيص التصدير, ترخيص تصدير, 出口许可]\n"
	"        - any: [\"@nvidia\", H20, AMD]\n"
	"\n"
	"  - name: BIS entity list\n"
	"    sources: [federal-register]\n"
	"    match: { field: title, any: [\"Entity List\"] }\n"
	"\n"
	"  - name: Ascend training trouble\n"
	"    match:\n"
	"      all:\n"
	"        - any: [Ascend, أسند, 昇腾]\n"
	"        - regex: '(?i)\\b(train(ing)?|تدريب|训练)\\b'\n"
	"\n"
	"  - name: NVDA drops 5 %\n"
	"    sources: [nvda]\n"
	"    when: change_pct <= -5             # numeric condition over item fields\n"
	"    rearm: change_pct > -4             # fire again only after this held (default: not when)\n"
	"    severity: critical\n";

static char *path_in(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

/* Write tmpdir/name (directories made as needed); returns the path (caller frees). */
static char *write_file(const char *name, const char *text)
{
	char *path = path_in(name);
	for (char *p = path + strlen(tmpdir) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void print_diags(const struct diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_message("got: %s\n", d->msgs[i]);
}

/*
 * Loading `name` (a file or directory under tmpdir) fails with exactly the
 * messages given; each is written "FILE:LINE:COL: error: ..." with FILE
 * relative to tmpdir.
 */
static void expect_errors_ctx(const char *name, const struct rules_context *ctx, size_t n, ...)
{
	struct diags d = { 0 };
	char *path = path_in(name);
	struct ruleset *rs = ruleset_load(path, ctx, &d);
	free(path);
	if (d.n != n) {
		print_diags(&d);
		fail_msg("expected %zu messages, got %zu", n, d.n);
	}
	assert_null(rs);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		char *want = xasprintf("%s/%s", tmpdir, va_arg(ap, const char *));
		if (strcmp(d.msgs[i], want))
			print_diags(&d);
		assert_string_equal(d.msgs[i], want);
		free(want);
	}
	va_end(ap);
	diags_clear(&d);
}

#define expect_errors(name, ...) expect_errors_ctx((name), NULL, __VA_ARGS__)

/* Write `text` to name and expect exactly one message. */
static void expect_error_text(const char *name, const char *text, const char *msg)
{
	free(write_file(name, text));
	expect_errors(name, 1, msg);
}

static struct ruleset *load_ok(const char *name, const struct rules_context *ctx)
{
	struct diags d = { 0 };
	char *path = path_in(name);
	struct ruleset *rs = ruleset_load(path, ctx, &d);
	free(path);
	if (!rs || d.n) {
		print_diags(&d);
		fail_msg("%s did not load", name);
	}
	diags_clear(&d);
	return rs;
}

static struct ruleset *load_text_ok(const char *name, const char *text)
{
	free(write_file(name, text));
	return load_ok(name, NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- the example ---- */

static void assert_terms(const struct rule_termset *ts, const char *alias, size_t n, ...)
{
	if (alias) {
		assert_non_null(ts->alias);
		assert_string_equal(ts->alias->name, alias);
	} else {
		assert_null(ts->alias);
	}
	assert_int_equal(ts->n, n);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(ts->terms[i].text, va_arg(ap, const char *));
		if (alias)
			assert_string_equal(ts->terms[i].alias, alias);
		else
			assert_null(ts->terms[i].alias);
	}
	va_end(ap);
}

static const struct rule_cond *terms_cond(const struct rule_cond *c)
{
	assert_non_null(c);
	assert_int_equal(c->kind, RULE_TERMS);
	return c;
}

static void test_example(void **state)
{
	(void)state;
	static const char *const sinks[] = { "desktop", "team", "log" };
	static const char *const sources[] = { "news-en", "hf-deepseek", "federal-register", "nvda" };
	struct rules_context ctx = { sinks, 3, sources, 4 };

	char *path = write_file("example/china-chips.yaml", example);
	struct ruleset *rs = load_ok("example", &ctx);
	assert_int_equal(rs->n_files, 1);
	assert_string_equal(rs->files[0], path);
	assert_int_equal(rs->n, 5);

	/* aliases, sorted by name */
	assert_int_equal(rs->n_aliases, 4);
	assert_string_equal(rs->aliases[0].name, "deepseek");
	assert_string_equal(rs->aliases[1].name, "delay");
	assert_string_equal(rs->aliases[2].name, "nvidia");
	assert_string_equal(rs->aliases[3].name, "release");
	assert_int_equal(rs->aliases[0].line, 3);
	assert_int_equal(rs->aliases[0].column, 3);

	/* R2 release */
	const struct rule *r = &rs->rules[0];
	assert_string_equal(r->name, "R2 release");
	assert_string_equal(r->description, "DeepSeek ships its R2 model");
	assert_string_equal(r->file, path);
	assert_int_equal(r->line, 9);
	assert_int_equal(r->column, 5);
	assert_int_equal(r->n_sources, 2);
	assert_string_equal(r->sources[0], "news-*");
	assert_string_equal(r->sources[1], "hf-deepseek");
	assert_int_equal(r->severity, SEVERITY_HIGH);
	assert_string_equal(severity_name(r->severity), "high");
	assert_int_equal(r->n_notify, 2);
	assert_string_equal(r->notify[0], "desktop");
	assert_string_equal(r->notify[1], "team");
	assert_int_equal(r->cooldown_ms, 6 * 3600 * 1000);
	assert_int_equal(r->digest_ms, 0);
	assert_false(r->has_quiet);
	assert_int_equal(r->max_per_hour, 0);
	assert_null(r->when);
	assert_null(r->rearm);

	const struct rule_cond *m = r->match;
	assert_non_null(m);
	assert_int_equal(m->kind, RULE_GROUP);
	assert_int_equal(m->n_fields, 0);
	assert_int_equal(m->group.n_all, 2);
	assert_int_equal(m->group.n_any, 0);
	assert_int_equal(m->group.n_none, 3);
	const struct rule_cond *c = terms_cond(m->group.all[0]);
	assert_terms(&c->terms, "deepseek", 4, "DeepSeek", "ديب سيك", "ديبسيك", "深度求索");
	assert_int_equal(c->line, 14);
	assert_int_equal(c->column, 11);
	assert_int_equal(c->terms.terms[1].line, 3);    /* where the term is written */
	assert_int_equal(c->terms.terms[1].column, 24);

	c = m->group.all[1];
	assert_int_equal(c->kind, RULE_NEAR);
	assert_int_equal(c->near.within, 8);
	assert_int_equal(c->near.n, 2);
	assert_terms(&c->near.members[0], NULL, 1, "R2");
	assert_terms(&c->near.members[1], "release", 11, "release", "released", "launch",
	             "launches", "unveil", "ships", "إطلاق", "يطلق", "发布", "推出", "上线");
	assert_false(c->near.members[1].terms[0].prefix);

	assert_terms(&terms_cond(m->group.none[0])->terms, "delay", 8, "delay", "delayed",
	             "postpone", "تأخير", "متأخرة", "تأجيل", "推迟", "延迟");
	assert_terms(&terms_cond(m->group.none[1])->terms, NULL, 1, "rumor");
	assert_terms(&terms_cond(m->group.none[2])->terms, NULL, 1, "rumour");

	/* export license */
	r = &rs->rules[1];
	assert_string_equal(r->name, "export license");
	assert_null(r->description);
	assert_null(r->sources);
	assert_null(r->notify);
	assert_int_equal(r->severity, SEVERITY_NORMAL);
	assert_int_equal(r->cooldown_ms, -1);      /* not set: the default story window */
	m = r->match;
	assert_int_equal(m->kind, RULE_GROUP);
	assert_int_equal(m->group.n_all, 2);
	c = m->group.all[0];
	assert_int_equal(c->kind, RULE_GROUP);
	assert_int_equal(c->group.n_any, 5);
	const struct rule_termset *ts = &terms_cond(c->group.any[0])->terms;
	assert_terms(ts, NULL, 1, "export license");
	assert_true(ts->terms[0].prefix);
	assert_int_equal(ts->terms[0].line, 25);
	assert_int_equal(ts->terms[0].column, 17);
	assert_true(terms_cond(c->group.any[1])->terms.terms[0].prefix);
	assert_terms(&terms_cond(c->group.any[2])->terms, NULL, 1, "تراخيص التصدير");
	assert_false(c->group.any[2]->terms.terms[0].prefix);
	assert_terms(&terms_cond(c->group.any[4])->terms, NULL, 1, "出口许可");
	c = m->group.all[1];
	assert_int_equal(c->group.n_any, 3);
	assert_terms(&terms_cond(c->group.any[0])->terms, "nvidia", 5, "Nvidia", "NVDA", "إنفيديا",
	             "انفيديا", "英伟达");
	assert_terms(&terms_cond(c->group.any[1])->terms, NULL, 1, "H20");

	/* BIS entity list: a scoped group */
	r = &rs->rules[2];
	assert_int_equal(r->n_sources, 1);
	assert_string_equal(r->sources[0], "federal-register");
	m = r->match;
	assert_int_equal(m->kind, RULE_GROUP);
	assert_int_equal(m->n_fields, 1);
	assert_string_equal(m->fields[0], "title");
	assert_int_equal(m->group.n_any, 1);
	assert_terms(&terms_cond(m->group.any[0])->terms, NULL, 1, "Entity List");

	/* Ascend training trouble: a regex */
	r = &rs->rules[3];
	m = r->match;
	assert_int_equal(m->group.n_all, 2);
	assert_int_equal(m->group.all[0]->group.n_any, 3);
	c = m->group.all[1];
	assert_int_equal(c->kind, RULE_REGEX);
	assert_string_equal(c->regex.pattern, "(?i)\\b(train(ing)?|تدريب|训练)\\b");
	assert_false(c->regex.raw);

	/* NVDA drops 5 %: when / rearm */
	r = &rs->rules[4];
	assert_string_equal(r->name, "NVDA drops 5 %");
	assert_null(r->match);
	assert_int_equal(r->severity, SEVERITY_CRITICAL);
	assert_non_null(r->when);
	assert_int_equal(r->when->op, WHEN_LE);
	assert_string_equal(r->when->field, "change_pct");
	assert_false(r->when->is_string);
	assert_true(r->when->number == -5);
	assert_int_equal(r->when->line, 40);
	assert_int_equal(r->when->column, 11);
	assert_non_null(r->rearm);
	assert_int_equal(r->rearm->op, WHEN_GT);
	assert_string_equal(r->rearm->field, "change_pct");
	assert_true(r->rearm->number == -4);

	ruleset_free(rs);
	free(path);
}

/* ---- expressions, quiet hours, terms ---- */

static void test_when_expressions(void **state)
{
	(void)state;
	struct ruleset *rs = load_text_ok("when.yaml",
		"rules:\n"
		"  - name: w\n"
		"    when: price > 1.5k or volume >= 2M and not symbol == \"NVDA\"\n"
		"    rearm: '5% < change_pct and (form_type != \"8-K\" or x == 0.25)'\n");
	const struct when_expr *e = rs->rules[0].when;
	/* or binds looser than and; not binds tighter */
	assert_int_equal(e->op, WHEN_OR);
	assert_int_equal(e->left->op, WHEN_GT);
	assert_string_equal(e->left->field, "price");
	assert_true(e->left->number == 1500);
	assert_int_equal(e->right->op, WHEN_AND);
	assert_int_equal(e->right->left->op, WHEN_GE);
	assert_true(e->right->left->number == 2e6);
	assert_int_equal(e->right->right->op, WHEN_NOT);
	const struct when_expr *eq = e->right->right->left;
	assert_int_equal(eq->op, WHEN_EQ);
	assert_string_equal(eq->field, "symbol");
	assert_true(eq->is_string);
	assert_string_equal(eq->string, "NVDA");
	assert_int_equal(eq->column, 48);

	e = rs->rules[0].rearm;
	assert_int_equal(e->op, WHEN_AND);
	/* 5% < change_pct is change_pct > 5 */
	assert_int_equal(e->left->op, WHEN_GT);
	assert_string_equal(e->left->field, "change_pct");
	assert_true(e->left->number == 5);
	assert_int_equal(e->right->op, WHEN_OR);
	assert_int_equal(e->right->left->op, WHEN_NE);
	assert_string_equal(e->right->left->string, "8-K");
	assert_true(e->right->right->number == 0.25);
	ruleset_free(rs);
}

static void test_noise_settings(void **state)
{
	(void)state;
	struct ruleset *rs = load_text_ok("noise.yaml",
		"rules:\n"
		"  - name: a\n"
		"    match: x\n"
		"    quiet: \"22:00-07:00\"\n"
		"    digest: 1h30m\n"
		"    max_per_hour: 12\n"
		"    cooldown: 90\n"
		"    sources: news-*\n"
		"    notify: team\n"
		"  - name: b\n"
		"    match: x\n"
		"    quiet: 7:30 - 24:00\n");
	const struct rule *r = &rs->rules[0];
	assert_true(r->has_quiet);
	assert_int_equal(r->quiet_start_min, 22 * 60);
	assert_int_equal(r->quiet_end_min, 7 * 60);
	assert_int_equal(r->digest_ms, 90 * 60 * 1000);
	assert_int_equal(r->max_per_hour, 12);
	assert_int_equal(r->cooldown_ms, 90 * 1000);
	assert_int_equal(r->n_sources, 1);
	assert_string_equal(r->sources[0], "news-*");
	assert_int_equal(r->n_notify, 1);
	/* a scalar match is one term, wrapped in a group */
	assert_int_equal(r->match->kind, RULE_GROUP);
	assert_terms(&terms_cond(r->match->group.any[0])->terms, NULL, 1, "x");
	r = &rs->rules[1];
	assert_int_equal(r->quiet_start_min, 7 * 60 + 30);
	assert_int_equal(r->quiet_end_min, 0);
	ruleset_free(rs);
}

static void test_nested_aliases_and_fields(void **state)
{
	(void)state;
	struct ruleset *rs = load_text_ok("nested.yaml",
		"aliases:\n"
		"  chips: [\"@nvidia\", AMD]\n"
		"  nvidia: [Nvidia, 英伟达]\n"
		"rules:\n"
		"  - name: n\n"
		"    match:\n"
		"      fields: [title, form_type]\n"
		"      any:\n"
		"        - \"@chips\"\n"
		"        - [a, b]\n"
		"        - { near: [\"@nvidia\", \"H2*\"], within: 3, field: summary }\n"
		"        - { regex: 'it''s', raw: yes }\n");
	assert_int_equal(rs->n_aliases, 2);
	/* flattened, and each term names the alias it was reached through */
	struct rule_termset chips = { rs->aliases[0].terms, rs->aliases[0].n, &rs->aliases[0] };
	assert_terms(&chips, "chips", 3, "Nvidia", "英伟达", "AMD");
	struct rule_termset nvidia = { rs->aliases[1].terms, rs->aliases[1].n, &rs->aliases[1] };
	assert_terms(&nvidia, "nvidia", 2, "Nvidia", "英伟达");
	const struct rule_cond *m = rs->rules[0].match;
	assert_int_equal(m->n_fields, 2);
	assert_string_equal(m->fields[1], "form_type");
	assert_int_equal(m->group.n_any, 4);
	assert_terms(&terms_cond(m->group.any[0])->terms, "chips", 3, "Nvidia", "英伟达", "AMD");
	const struct rule_cond *c = m->group.any[1];
	assert_int_equal(c->kind, RULE_GROUP);
	assert_int_equal(c->group.n_any, 2);
	c = m->group.any[2];
	assert_int_equal(c->kind, RULE_NEAR);
	assert_int_equal(c->near.within, 3);
	assert_int_equal(c->n_fields, 1);
	assert_string_equal(c->fields[0], "summary");
	assert_terms(&c->near.members[1], NULL, 1, "H2");
	assert_true(c->near.members[1].terms[0].prefix);
	c = m->group.any[3];
	assert_int_equal(c->kind, RULE_REGEX);
	assert_string_equal(c->regex.pattern, "it's");
	assert_true(c->regex.raw);
	ruleset_free(rs);
}

static void test_empty(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct ruleset *rs = ruleset_load(NULL, NULL, &d);
	assert_non_null(rs);
	assert_int_equal(rs->n, 0);
	ruleset_free(rs);

	rs = load_text_ok("empty.yaml", "");
	assert_int_equal(rs->n, 0);
	assert_int_equal(rs->n_files, 1);
	ruleset_free(rs);
	rs = load_text_ok("comments.yaml", "# nothing yet\nrules:\n");
	assert_int_equal(rs->n, 0);
	ruleset_free(rs);

	char *dir = path_in("emptydir");
	assert_int_equal(mkdir(dir, 0700), 0);
	free(dir);
	rs = load_ok("emptydir", NULL);
	assert_int_equal(rs->n, 0);
	assert_int_equal(rs->n_files, 0);
	ruleset_free(rs);

	expect_errors("missing.yaml", 1,
		"missing.yaml: error: cannot read rules: No such file or directory");
}

/* ---- directories ---- */

static void test_directory_order(void **state)
{
	(void)state;
	/* Name order (bytes): "10-..." before "2-..."; .yml counts; others do not.
	 * Aliases are shared: 10-a uses one defined in 2-b. */
	free(write_file("order/2-b.yaml", "aliases:\n  x: [ex]\nrules:\n  - name: b\n    match: y\n"));
	free(write_file("order/10-a.yaml", "rules:\n  - name: a\n    match: \"@x\"\n"));
	free(write_file("order/3-c.yml", "rules:\n  - name: c\n    match: z\n"));
	free(write_file("order/notes.txt", "not: [rules\n"));
	free(write_file("order/.hidden.yaml", "not: [rules\n"));
	free(write_file("order/backup.yaml~", "not: [rules\n"));
	struct ruleset *rs = load_ok("order", NULL);
	assert_int_equal(rs->n, 3);
	assert_string_equal(rs->rules[0].name, "a");
	assert_string_equal(rs->rules[1].name, "b");
	assert_string_equal(rs->rules[2].name, "c");
	assert_int_equal(rs->n_files, 3);
	char *want = path_in("order/10-a.yaml");
	assert_string_equal(rs->files[0], want);
	assert_string_equal(rs->rules[0].file, want);
	free(want);
	assert_terms(&terms_cond(rs->rules[0].match->group.any[0])->terms, "x", 1, "ex");
	ruleset_free(rs);
}

static void test_duplicate_rule_name_across_files(void **state)
{
	(void)state;
	free(write_file("dup/a.yaml", "rules:\n  - name: R2 release\n    match: R2\n"));
	free(write_file("dup/b.yaml", "rules:\n  - name: other\n    match: x\n"
	                              "  - name: R2 release\n    match: R2\n"));
	char *first = path_in("dup/a.yaml");
	char *msg = xasprintf("dup/b.yaml:4:11: error: duplicate rule name \"R2 release\" (also at "
	                      "%s:2:11); rule names must be unique across all rule files", first);
	expect_errors("dup", 1, msg);
	free(msg);
	free(first);
}

/* ---- errors ---- */

static void test_unknown_key(void **state)
{
	(void)state;
	free(write_file("key.yaml",
		"rulez: []\n"
		"rules:\n"
		"  - name: a\n"
		"    match: x\n"
		"    sevrity: high\n"
		"    colldown: 1h\n"
		"    any: [x]\n"
		"  - name: b\n"
		"    match: { any: [x], nera: [a, b] }\n"
		"  - name: c\n"
		"    match: [{ near: [a, b], withn: 3 }]\n"
		"  - name: d\n"
		"    match: x\n"
		"    zzz: 1\n"));
	expect_errors("key.yaml", 7,
		"key.yaml:1:1: error: unknown key `rulez` at the top level; did you mean `rules`?",
		"key.yaml:5:5: error: unknown key `sevrity` in a rule; did you mean `severity`?",
		"key.yaml:6:5: error: unknown key `colldown` in a rule; did you mean `cooldown`?",
		"key.yaml:7:5: error: `any:` belongs inside `match:` (`match: { any: ... }`)",
		"key.yaml:9:24: error: unknown key `nera` in a condition; did you mean `near`?",
		"key.yaml:11:29: error: unknown key `withn` in a near: condition; did you mean `within`?",
		"key.yaml:14:5: error: unknown key `zzz` in a rule (valid keys: name, description, "
		"sources, match, when, rearm, severity, notify, cooldown, quiet, digest, max_per_hour)");
}

static void test_wrong_type(void **state)
{
	(void)state;
	free(write_file("type.yaml",
		"aliases:\n"
		"  a: { x: y }\n"
		"rules:\n"
		"  - name: r\n"
		"    match:\n"
		"      all:\n"
		"        any: [x]\n"
		"    notify: { team: yes }\n"
		"    max_per_hour: \"5\"\n"
		"    severity: [high]\n"
		"  - just a string\n"));
	expect_errors("type.yaml", 6,
		"type.yaml:2:6: error: expected a list of terms, got a mapping (write `a: [term, ...]`)",
		"type.yaml:7:9: error: expected a list of terms, got a mapping (write each member of "
		"`all:` on its own `- ` line)",
		"type.yaml:8:13: error: expected a list of sink names, got a mapping",
		"type.yaml:9:19: error: expected a whole number of alerts per hour, got \"5\"",
		"type.yaml:10:15: error: expected a severity (low, normal, high or critical), got a list",
		"type.yaml:11:5: error: expected a rule (a mapping with `name:` and `match:` or "
		"`when:`), got \"just a string\"");
}

static void test_empty_terms(void **state)
{
	(void)state;
	free(write_file("terms.yaml",
		"rules:\n"
		"  - name: r\n"
		"    match: [\"\", \"*\", \"  \", ~, ok, \"ex*port\", \"R2 *\", \"...\"]\n"));
	expect_errors("terms.yaml", 7,
		"terms.yaml:3:13: error: empty term \"\": a term needs at least one letter or digit",
		"terms.yaml:3:17: error: empty term \"*\": a term needs at least one letter or digit",
		"terms.yaml:3:22: error: empty term \"  \": a term needs at least one letter or digit",
		"terms.yaml:3:28: error: empty term: a term needs at least one letter or digit",
		"terms.yaml:3:35: error: misplaced `*` in term \"ex*port\": a `*` may only end a term, "
		"to make its last word a prefix (like \"licen*\")",
		"terms.yaml:3:46: error: misplaced `*` in term \"R2 *\": write it right after a word, "
		"like \"licen*\"",
		"terms.yaml:3:54: error: empty term \"...\": a term needs at least one letter or digit");
}

static void test_unknown_alias(void **state)
{
	(void)state;
	free(write_file("alias.yaml",
		"aliases:\n"
		"  deepseek: [DeepSeek]\n"
		"  loop1: [\"@loop2\"]\n"
		"  loop2: [x, \"@loop1\"]\n"
		"  \"@bad\": [x]\n"
		"rules:\n"
		"  - name: r\n"
		"    match:\n"
		"      all: [\"@deepsek\", \"@zzz\", \"@\"]\n"
		"      none: [{ near: [\"@nvidia\", x] }]\n"));
	expect_errors("alias.yaml", 6,
		"alias.yaml:4:14: error: alias cycle: loop1 -> loop2 -> loop1; an alias may use other "
		"aliases, but not itself",
		"alias.yaml:5:3: error: alias names are defined without `@`: write `bad:` here and "
		"`\"@bad\"` where you use it",
		"alias.yaml:9:13: error: unknown alias `@deepsek`; did you mean `@deepseek`?",
		"alias.yaml:9:25: error: unknown alias `@zzz` (defined aliases: deepseek, loop1, loop2)",
		"alias.yaml:9:33: error: empty alias name after `@`: write `@name` for an alias defined "
		"under `aliases:`",
		"alias.yaml:10:23: error: unknown alias `@nvidia` (defined aliases: deepseek, loop1, "
		"loop2)");
}

static void test_unknown_alias_none_defined(void **state)
{
	(void)state;
	expect_error_text("noalias.yaml", "rules:\n  - name: r\n    match: \"@x\"\n",
		"noalias.yaml:3:12: error: unknown alias `@x`: no aliases are defined (add it under "
		"`aliases:` in any rule file)");
}

static void test_alias_duplicate_across_files(void **state)
{
	(void)state;
	free(write_file("dupalias/a.yaml", "aliases:\n  x: [one]\n"));
	free(write_file("dupalias/b.yaml", "aliases:\n  y: [two]\n  x: [three]\n"));
	char *first = path_in("dupalias/a.yaml");
	char *msg = xasprintf("dupalias/b.yaml:3:3: error: duplicate alias `x` (first defined at "
	                      "%s:2:3)", first);
	expect_errors("dupalias", 1, msg);
	free(msg);
	free(first);
}

static void test_unknown_sink_and_source(void **state)
{
	(void)state;
	static const char *const sinks[] = { "desktop", "team" };
	static const char *const sources[] = { "nvda", "federal-register" };
	struct rules_context ctx = { sinks, 2, sources, 2 };
	free(write_file("names.yaml",
		"rules:\n"
		"  - name: r\n"
		"    match: x\n"
		"    notify: [desktop, teams, pager]\n"
		"    sources: [\"news-*\", \"feed-[ab]\", nvdia, federal-register]\n"));
	expect_errors_ctx("names.yaml", &ctx, 3,
		"names.yaml:4:23: error: unknown sink `teams`; did you mean `team`?",
		"names.yaml:4:30: error: unknown sink `pager` (configured sinks: desktop, team)",
		"names.yaml:5:38: error: unknown source `nvdia`; did you mean `nvda`?");

	/* Without lists (vigilctl test, no configuration), names are not checked. */
	struct ruleset *rs = load_ok("names.yaml", NULL);
	ruleset_free(rs);
	struct rules_context none = { NULL, 0, NULL, 0 };
	rs = load_ok("names.yaml", &none);
	ruleset_free(rs);

	/* An empty list is a configuration without sinks. */
	struct rules_context no_sinks = { sinks, 0, NULL, 0 };
	expect_errors_ctx("names.yaml", &no_sinks, 3,
		"names.yaml:4:14: error: unknown sink `desktop`: no sinks are configured",
		"names.yaml:4:23: error: unknown sink `teams`: no sinks are configured",
		"names.yaml:4:30: error: unknown sink `pager`: no sinks are configured");
}

static void test_invalid_regex(void **state)
{
	(void)state;
	free(write_file("regex.yaml",
		"rules:\n"
		"  - name: r\n"
		"    match:\n"
		"      all:\n"
		"        - regex: '(?i)\\b(train(ing)?|تدريب'\n"
		"        - regex: \"abc[\"\n"
		"        - regex: 'it''s (x'\n"
		"        - regex: a|\n"
		"        - regex: x\n"
		"          raw: maybe\n"));
	expect_errors("regex.yaml", 5,
		"regex.yaml:5:43: error: invalid regex: missing closing parenthesis (PCRE2, at offset "
		"29 of the pattern)",
		"regex.yaml:6:23: error: invalid regex: missing terminating ] for character class "
		"(PCRE2, at offset 4 of the pattern)",
		"regex.yaml:7:27: error: invalid regex: missing closing parenthesis (PCRE2, at offset "
		"7 of the pattern)",
		"regex.yaml:8:18: error: this regex can match an empty string, so it would fire on "
		"almost any text; make it need at least one character",
		"regex.yaml:10:16: error: expected true or false, got \"maybe\"");
}

static void test_invalid_duration(void **state)
{
	(void)state;
	expect_error_text("dur.yaml",
		"rules:\n  - name: r\n    match: x\n    cooldown: 6 hours\n",
		"dur.yaml:4:15: error: invalid duration \"6 hours\": write a number and a unit (ms, s, "
		"m, h, d, w), like 90s, 10m, 6h or 1h30m");
	expect_error_text("dur.yaml",
		"rules:\n  - name: r\n    match: x\n    digest: -1h\n",
		"dur.yaml:4:13: error: invalid duration \"-1h\": write a number and a unit (ms, s, "
		"m, h, d, w), like 90s, 10m, 6h or 1h30m");
}

static void test_invalid_when(void **state)
{
	(void)state;
	free(write_file("when-bad.yaml",
		"rules:\n"
		"  - name: a\n"
		"    when: change_pct <= -5 and (price > 10k or symbol == \"NVDA\"\n"
		"  - name: b\n"
		"    when: change_pct => 3\n"
		"  - name: c\n"
		"    when: Price > 5\n"
		"  - name: d\n"
		"    when: x > 5 && y < 3\n"
		"  - name: e\n"
		"    when: 'symbol < \"x\"'\n"
		"  - name: f\n"
		"    when: x y\n"
		"  - name: g\n"
		"    when: x > 5x\n"
		"    rearm: \"x > 'a\"\n"
		"  - name: h\n"
		"    when: a == b\n"
		"  - name: i\n"
		"    when: x > 5)\n"
		"  - name: j\n"
		"    rearm: x > 1\n"
		"    match: x\n"));
	expect_errors("when-bad.yaml", 11,
		"when-bad.yaml:3:64: error: invalid `when:` expression: expected `)` to close the `(` "
		"at column 32, got the end of the expression",
		"when-bad.yaml:5:22: error: invalid `when:` expression: write `>=`, not `=>`",
		"when-bad.yaml:7:11: error: invalid `when:` expression: invalid field name `Price`; did "
		"you mean `price`? (field names are lower_snake_case)",
		"when-bad.yaml:9:17: error: invalid `when:` expression: use `and` instead of `&&`",
		"when-bad.yaml:11:21: error: invalid `when:` expression: a quoted string can only be "
		"compared with == or !=",
		"when-bad.yaml:13:13: error: invalid `when:` expression: expected a comparison (<, <=, "
		">, >=, ==, !=) after the field `x`, got `y`",
		"when-bad.yaml:15:16: error: invalid `when:` expression: unexpected `x` after a number "
		"(a number may end in %, k or M)",
		"when-bad.yaml:16:17: error: invalid `rearm:` expression: unterminated string: the "
		"closing ' is missing",
		"when-bad.yaml:18:16: error: invalid `when:` expression: compare the field `a` with a "
		"number or a quoted string, not with another field (`b`)",
		"when-bad.yaml:20:16: error: invalid `when:` expression: unexpected `)`: there is no "
		"`(` to close",
		"when-bad.yaml:22:5: error: `rearm:` without `when:`: it says when a `when:` rule may "
		"fire again");
}

static void test_invalid_quiet(void **state)
{
	(void)state;
	free(write_file("quiet.yaml",
		"rules:\n"
		"  - name: r\n"
		"    match: x\n"
		"    quiet: \"22:00-7\"\n"
		"  - name: s\n"
		"    match: x\n"
		"    quiet: 25:00-07:00\n"
		"  - name: t\n"
		"    match: x\n"
		"    quiet: 22:00-22:00\n"));
	expect_errors("quiet.yaml", 3,
		"quiet.yaml:4:12: error: invalid quiet range \"22:00-7\": write HH:MM-HH:MM in local "
		"time, like \"22:00-07:00\" (it may wrap past midnight)",
		"quiet.yaml:7:12: error: invalid quiet range \"25:00-07:00\": write HH:MM-HH:MM in local "
		"time, like \"22:00-07:00\" (it may wrap past midnight)",
		"quiet.yaml:10:12: error: invalid quiet range \"22:00-22:00\": it starts and ends at the "
		"same time (leave `quiet:` out for none)");
}

static void test_structure_errors(void **state)
{
	(void)state;
	free(write_file("struct.yaml",
		"rules:\n"
		"  - description: no name\n"
		"  - name: r\n"
		"    match: { any: [] }\n"
		"  - name: s\n"
		"    match: [{ near: [R2] }, { near: [a, b], within: 0 }, { near: [a, [b]] }]\n"
		"  - name: t\n"
		"    match: { field: Title, fields: [x], any: [a] }\n"
		"  - name: u\n"
		"    match: { near: [a, b], regex: x }\n"
		"    notify: []\n"
		"    max_per_hour: 0\n"));
	expect_errors("struct.yaml", 11,
		"struct.yaml:2:5: error: this rule has no `name:` (every rule needs a unique name)",
		"struct.yaml:2:5: error: this rule needs `match:` or `when:` (or both)",
		"struct.yaml:4:19: error: empty `any:` list: give it at least one member or leave it out",
		"struct.yaml:6:21: error: `near:` needs at least 2 members, got 1",
		"struct.yaml:6:53: error: `within:` must be between 1 and 1000 words, got 0",
		"struct.yaml:6:70: error: expected a term or @alias in `near:`, got a list (near: "
		"members cannot be groups)",
		"struct.yaml:8:21: error: invalid field name \"Title\"; did you mean `title`? (field "
		"names are lower_snake_case)",
		"struct.yaml:8:28: error: both `field:` and `fields:` given: use one (`fields: [title, "
		"summary]` for several)",
		"struct.yaml:10:12: error: a condition is either `near:` or `regex:`, not both: make "
		"them two members of an `all:` or `any:` list",
		"struct.yaml:11:13: error: empty list of sinks: it would send alerts nowhere; leave the "
		"key out for every sink",
		"struct.yaml:12:19: error: `max_per_hour:` must be at least 1, got 0 (leave it out for "
		"no cap)");
}

/* Errors from several files come out in file order, then line order. */
static void test_multiple_errors_collected(void **state)
{
	(void)state;
	free(write_file("multi/b.yaml",
		"rules:\n"
		"  - name: b\n"
		"    match: \"@nope\"\n"
		"    severity: hihg\n"));
	free(write_file("multi/a.yaml",
		"aliases:\n"
		"  empty: []\n"
		"rules:\n"
		"  - name: a\n"
		"    match: [x]\n"
		"    cooldown: soon\n"
		"    when: x >\n"));
	free(write_file("multi/c.yaml", "rules: [\n"));
	expect_errors("multi", 6,
		"multi/c.yaml:2:1: error: did not find expected node content (while parsing a flow "
		"node at line 2, column 1)",
		"multi/a.yaml:2:10: error: alias `empty` has no terms: give it a list like "
		"`empty: [term, ...]`",
		"multi/a.yaml:6:15: error: invalid duration \"soon\": write a number and a unit (ms, s, "
		"m, h, d, w), like 90s, 10m, 6h or 1h30m",
		"multi/a.yaml:7:14: error: invalid `when:` expression: expected a field name, a number "
		"or a quoted string after `>`, got the end of the expression",
		"multi/b.yaml:3:12: error: unknown alias `@nope` (defined aliases: empty)",
		"multi/b.yaml:4:15: error: unknown severity \"hihg\"; did you mean `high`?");
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_alias_bomb(void **state)
{
	(void)state;
	/* Billion laughs through YAML anchors: 9^9 terms if expanded. */
	char *text = xstrdup("aliases:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (char c = 'b'; c <= 'i'; c++) {
		char *more = xasprintf("%s  %c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
		                       text, c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1,
		                       c - 1, c - 1);
		free(text);
		text = more;
	}
	char *more = xasprintf("%srules:\n  - name: r\n    match: \"@i\"\n", text);
	free(text);
	free(write_file("bomb.yaml", more));
	free(more);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_errors("bomb.yaml", 1,
		"bomb.yaml:6:10: error: alias expansion exceeds 10000 nodes (billion laughs?)");
	assert_true(seconds_since(&t0) < 1.0);

	/* The same shape through our own @aliases is capped too, and as quickly. */
	text = xstrdup("aliases:\n  a: [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (char c = 'b'; c <= 'i'; c++) {
		more = xasprintf("%s  %c: [\"@%c\", \"@%c\", \"@%c\", \"@%c\", \"@%c\", \"@%c\", \"@%c\", "
		                 "\"@%c\", \"@%c\", \"@%c\"]\n", text, c, c - 1, c - 1, c - 1, c - 1,
		                 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
		free(text);
		text = more;
	}
	free(write_file("bomb2.yaml", text));
	free(text);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_errors("bomb2.yaml", 1,
		"bomb2.yaml:6:3: error: alias `e` expands to more than 10000 terms");
	assert_true(seconds_since(&t0) < 1.0);
}

/* 10,000 rules sharing aliases load quickly. */
static void test_many_rules(void **state)
{
	(void)state;
	char *path = path_in("many.yaml");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("aliases:\n  chips: [Nvidia, AMD, H20, 英伟达, إنفيديا]\nrules:\n", f);
	for (int i = 0; i < 10000; i++)
		fprintf(f, "  - name: rule %d\n    match: { all: [\"@chips\", { near: [R%d, "
		        "\"launch*\"] }] }\n    when: price > %d\n", i, i, i);
	assert_int_equal(fclose(f), 0);
	free(path);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct ruleset *rs = load_ok("many.yaml", NULL);
	double took = seconds_since(&t0);
	assert_int_equal(rs->n, 10000);
	assert_ptr_equal(rs->rules[9999].match->group.all[0]->terms.terms, rs->aliases[0].terms);
	ruleset_free(rs);
	print_message("10,000 rules in %.3f s\n", took);
	assert_true(took < 10.0);   /* generous: sanitizers, valgrind, slow CI */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_when_expressions),
		cmocka_unit_test(test_noise_settings),
		cmocka_unit_test(test_nested_aliases_and_fields),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_directory_order),
		cmocka_unit_test(test_duplicate_rule_name_across_files),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_empty_terms),
		cmocka_unit_test(test_unknown_alias),
		cmocka_unit_test(test_unknown_alias_none_defined),
		cmocka_unit_test(test_alias_duplicate_across_files),
		cmocka_unit_test(test_unknown_sink_and_source),
		cmocka_unit_test(test_invalid_regex),
		cmocka_unit_test(test_invalid_duration),
		cmocka_unit_test(test_invalid_when),
		cmocka_unit_test(test_invalid_quiet),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_multiple_errors_collected),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_many_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
