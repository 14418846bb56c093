/* test-options.c - unit tests for plugin options: types, defaults, typos, required keys, fingerprints */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "options.h"
#include "util.h"
#include "yaml.h"

static const struct vigil_option fake_options[] = {
	{ "url", VIGIL_OPT_STRING, NULL, true, "where to fetch" },
	{ "max_items", VIGIL_OPT_INT, "50", false, "items per poll" },
	{ "threshold", VIGIL_OPT_NUMBER, "0.5", false, "a ratio" },
	{ "verbose", VIGIL_OPT_BOOL, "false", false, "say more" },
	{ "retry", VIGIL_OPT_DURATION, "5m", false, "wait before retrying" },
	{ "symbols", VIGIL_OPT_STRING_LIST, "[NVDA]", false, "tickers" },
	{ "params", VIGIL_OPT_MAP, NULL, false, "query parameters" },
	{ "token_file", VIGIL_OPT_PATH, NULL, false, "a secret" },
	{ "format", VIGIL_OPT_STRING, "slack", false, "message format" },
	{ "log_file", VIGIL_OPT_PATH, "fake.log", false, "relative default" },
	/* A host key the plugin wants to see too. */
	{ "interval", VIGIL_OPT_DURATION, NULL, false, "the source's interval" },
};

static const struct vigil_plugin fake = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "fake",
	.version = "1",
	.description = "a plugin with every option type",
	.kind = VIGIL_PLUGIN_SOURCE,
	.options = fake_options,
	.n_options = sizeof fake_options / sizeof fake_options[0],
};

/* Holds what an option set borrows from, for one test. */
struct fixture {
	struct ydoc *doc;
	struct instance_config ic;
	struct diags d;
	struct option_set *set;
};

/* Build an option set from one instance entry written as YAML. */
static struct option_set *build_kind(struct fixture *fx, const struct vigil_plugin *plugin,
                                     enum instance_kind kind, const char *yaml)
{
	struct diags yd = { 0 };
	fx->doc = ydoc_load_string("opts.yaml", yaml, strlen(yaml), &yd);
	if (!fx->doc) {
		diags_print(&yd, stderr);
		fail_msg("fixture YAML does not parse");
	}
	const struct ynode *root = fx->doc->root;
	fx->ic = (struct instance_config){
		.kind = kind,
		.name = (char *)"t",
		.plugin = (char *)plugin->name,
		.node = root,
		.file = root->file,
		.line = root->line,
		.column = root->column,
	};
	fx->set = option_set_build(plugin, &fx->ic, "/etc/vigil", &fx->d);
	return fx->set;
}

static struct option_set *build(struct fixture *fx, const char *yaml)
{
	return build_kind(fx, &fake, INSTANCE_SOURCE, yaml);
}

static void fixture_free(struct fixture *fx)
{
	option_set_free(fx->set);
	ydoc_free(fx->doc);
	diags_clear(&fx->d);
	memset(fx, 0, sizeof *fx);
}

/* Building `yaml` fails with exactly these messages. */
static void expect_errors(const char *yaml, size_t n, ...)
{
	struct fixture fx = { 0 };
	struct option_set *s = build(&fx, yaml);
	if (fx.d.n != n) {
		for (size_t i = 0; i < fx.d.n; i++)
			print_message("got: %s\n", fx.d.msgs[i]);
		fail_msg("expected %zu messages, got %zu", n, fx.d.n);
	}
	assert_null(s);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(fx.d.msgs[i], va_arg(ap, const char *));
	va_end(ap);
	fixture_free(&fx);
}

static void test_values(void **state)
{
	(void)state;
	struct fixture fx = { 0 };
	struct option_set *s = build(&fx,
		"name: t\n"
		"plugin: fake\n"
		"url: https://example.org/feed\n"
		"max_items: -7\n"
		"threshold: 2.25\n"
		"verbose: yes\n"
		"retry: 1h30m\n"
		"symbols: [NVDA, AMD, \"TSM\"]\n"
		"params: {q: chips, lang: ar}\n"
		"token_file: secrets/token\n"
		"format: \"\"\n"
		"interval: 10m\n"
		"headers: {X-A: b}\n");
	if (fx.d.n)
		diags_print(&fx.d, stderr);
	assert_non_null(s);

	assert_string_equal(option_get_string(s, "url"), "https://example.org/feed");
	assert_int_equal(option_get_int(s, "max_items", 0), -7);
	assert_true(option_get_number(s, "threshold", 0) == 2.25);
	assert_true(option_get_number(s, "max_items", 0) == -7.0);   /* an integer is a number */
	assert_true(option_get_bool(s, "verbose", false));
	assert_int_equal(option_get_duration_ms(s, "retry", 0), 5400000);

	const char *const *list;
	assert_int_equal(option_get_list(s, "symbols", &list), 3);
	assert_string_equal(list[0], "NVDA");
	assert_string_equal(list[1], "AMD");
	assert_string_equal(list[2], "TSM");

	const struct vigil_kv *map;
	assert_int_equal(option_get_map(s, "params", &map), 2);
	assert_string_equal(map[0].key, "q");
	assert_string_equal(map[0].value, "chips");
	assert_string_equal(map[1].key, "lang");
	assert_string_equal(map[1].value, "ar");

	/* PATH is made absolute against the base directory. */
	assert_string_equal(option_get_string(s, "token_file"), "/etc/vigil/secrets/token");
	assert_string_equal(option_get_string(s, "format"), "");
	/* Scalars of other types read as their text. */
	assert_string_equal(option_get_string(s, "max_items"), "-7");
	assert_string_equal(option_get_string(s, "retry"), "1h30m");

	/* A host key the plugin declared is visible; the others are not. */
	assert_int_equal(option_get_duration_ms(s, "interval", 0), 600000);
	assert_null(option_get_string(s, "name"));
	assert_null(option_get_string(s, "plugin"));
	assert_int_equal(option_get_map(s, "headers", &map), 0);
	assert_null(map);
	fixture_free(&fx);
}

static void test_defaults(void **state)
{
	(void)state;
	struct fixture fx = { 0 };
	struct option_set *s = build(&fx, "url: x\nthreshold:\nsymbols: AMD\n");
	assert_int_equal(fx.d.n, 0);
	assert_non_null(s);
	assert_int_equal(option_get_int(s, "max_items", 0), 50);
	/* `threshold:` with nothing is "not set": the default applies. */
	assert_true(option_get_number(s, "threshold", 0) == 0.5);
	assert_false(option_get_bool(s, "verbose", true));
	assert_int_equal(option_get_duration_ms(s, "retry", 0), 300000);
	assert_string_equal(option_get_string(s, "format"), "slack");
	assert_string_equal(option_get_string(s, "log_file"), "/etc/vigil/fake.log");

	/* A single scalar is a list of one. */
	const char *const *list;
	assert_int_equal(option_get_list(s, "symbols", &list), 1);
	assert_string_equal(list[0], "AMD");

	/* Unset without a default: NULL or the caller's fallback. */
	assert_null(option_get_string(s, "token_file"));
	const struct vigil_kv *map = (const void *)1;
	assert_int_equal(option_get_map(s, "params", &map), 0);
	assert_null(map);
	assert_int_equal(option_get_duration_ms(s, "interval", 1234), 1234);

	/* Not in the table, or another type: the fallback. */
	assert_null(option_get_string(s, "nope"));
	assert_int_equal(option_get_int(s, "nope", 99), 99);
	assert_int_equal(option_get_int(s, "format", 99), 99);
	assert_true(option_get_bool(s, "max_items", true));
	assert_int_equal(option_get_duration_ms(s, "max_items", 5), 5);
	assert_true(option_get_number(s, "format", 1.5) == 1.5);
	assert_int_equal(option_get_list(s, "format", &list), 0);
	assert_null(option_get_string(NULL, "url"));
	fixture_free(&fx);
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_errors("url: x\nmax_itmes: 3\n", 1,
	              "opts.yaml:2:1: error: unknown option `max_itmes` for plugin `fake`; "
	              "did you mean `max_items`?");
	/* Host keys are candidates too. */
	expect_errors("url: x\nhedaers: {a: b}\nalert_on_frist_poll: true\n", 2,
	              "opts.yaml:2:1: error: unknown option `hedaers` for plugin `fake`; "
	              "did you mean `headers`?",
	              "opts.yaml:3:1: error: unknown option `alert_on_frist_poll` for plugin `fake`; "
	              "did you mean `alert_on_first_poll`?");
	expect_errors("url: x\ncompletely_else: 1\n", 1,
	              "opts.yaml:2:1: error: unknown option `completely_else` for plugin `fake` "
	              "(it takes: url, max_items, threshold, verbose, retry, symbols, params, "
	              "token_file, format, log_file, interval; every source also takes name, "
	              "plugin, optional, interval, alert_on_first_poll, user_agent, headers, "
	              "timeout, max_body, proxy)");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_errors("url: [a]\n"
	              "max_items: ten\n"
	              "threshold: \"0.5\"\n"
	              "verbose: maybe\n"
	              "retry: 10 minutes\n"
	              "symbols: [a, [b]]\n"
	              "params: {a: {b: c}}\n"
	              "token_file: ''\n"
	              "format: {a: b}\n", 9,
	              "opts.yaml:1:6: error: `url`: expected a string, got a list",
	              "opts.yaml:2:12: error: `max_items`: expected a whole number, got \"ten\"",
	              "opts.yaml:3:12: error: `threshold`: expected a number, got \"0.5\" "
	              "(numbers are written without quotes)",
	              "opts.yaml:4:10: error: `verbose`: expected true or false, got \"maybe\"",
	              "opts.yaml:5:8: error: `retry`: expected a duration like 90s, 10m, 6h or 1d, "
	              "got \"10 minutes\"",
	              "opts.yaml:6:14: error: `symbols`: expected a string in this list, got a list",
	              "opts.yaml:7:13: error: `params`: expected a string as the value of `a`, "
	              "got a mapping",
	              "opts.yaml:8:13: error: `token_file`: expected a path, got \"\"",
	              "opts.yaml:9:9: error: `format`: expected a string, got a mapping");
	expect_errors("url: x\nmax_items: 1.5\nsymbols: {a: b}\nparams: [a]\nverbose: \"yes\"\n", 4,
	              "opts.yaml:2:12: error: `max_items`: expected a whole number, got \"1.5\"",
	              "opts.yaml:3:10: error: `symbols`: expected a list of strings, got a mapping",
	              "opts.yaml:4:9: error: `params`: expected a mapping of names to strings, "
	              "got a list",
	              "opts.yaml:5:10: error: `verbose`: expected true or false, got \"yes\"");
}

static void test_missing_required(void **state)
{
	(void)state;
	expect_errors("\n  name: t\n  max_items: 3\n", 1,
	              "opts.yaml:2:3: error: source `t` is missing `url:`, which plugin `fake` requires");
	/* An empty required value is pointed at where it is. */
	expect_errors("name: t\nurl:\n", 1,
	              "opts.yaml:2:5: error: `url`: expected a value, got nothing");
}

static void test_outlives_document(void **state)
{
	(void)state;
	struct fixture fx = { 0 };
	struct option_set *s = build(&fx, "url: http://a\nsymbols: [x]\nparams: {k: v}\n");
	assert_non_null(s);
	ydoc_free(fx.doc);
	fx.doc = NULL;
	const char *const *list;
	const struct vigil_kv *map;
	assert_string_equal(option_get_string(s, "url"), "http://a");
	assert_int_equal(option_get_list(s, "symbols", &list), 1);
	assert_string_equal(list[0], "x");
	assert_int_equal(option_get_map(s, "params", &map), 1);
	assert_string_equal(map[0].value, "v");
	fixture_free(&fx);
}

static void test_path_absolute(void **state)
{
	(void)state;
	struct fixture fx = { 0 };
	struct option_set *s = build(&fx, "url: x\ntoken_file: /run/credentials/token\n");
	assert_non_null(s);
	assert_string_equal(option_get_string(s, "token_file"), "/run/credentials/token");
	fixture_free(&fx);
	s = build(&fx, "url: x\ntoken_file: ../token\n");
	assert_non_null(s);
	assert_string_equal(option_get_string(s, "token_file"), "/etc/vigil/../token");
	fixture_free(&fx);
}

static char *fingerprint_of(const char *yaml)
{
	struct fixture fx = { 0 };
	struct option_set *s = build(&fx, yaml);
	assert_non_null(s);
	char *out = xstrdup(option_set_fingerprint(s));
	fixture_free(&fx);
	return out;
}

static void test_fingerprint(void **state)
{
	(void)state;
	char *a = fingerprint_of("url: x\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\n"
	                         "name: one\ninterval: 60s\n");
	/* Same values: other key order, quoting, spelling of the duration,
	 * map order, host keys not in the table. */
	char *b = fingerprint_of("params:\n  q: \"2\"\n  p: '1'\nsymbols:\n  - A\n  - B\n"
	                         "interval: 1m\nmax_items: 3\nurl: \"x\"\nname: other\n"
	                         "timeout: 5s\n");
	/* Defaults written out are the same as defaults left out. */
	char *c = fingerprint_of("url: x\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\n"
	                         "interval: 60s\nformat: slack\nverbose: off\n");
	assert_string_equal(a, b);
	assert_string_equal(a, c);

	/* Any changed value shows. */
	static const char *const changed[] = {
		"url: y\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\ninterval: 60s\n",
		"url: x\nmax_items: 4\nsymbols: [A, B]\nparams: {p: 1, q: 2}\ninterval: 60s\n",
		"url: x\nmax_items: 3\nsymbols: [B, A]\nparams: {p: 1, q: 2}\ninterval: 60s\n",
		"url: x\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 3}\ninterval: 60s\n",
		"url: x\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\ninterval: 61s\n",
		"url: x\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\n",
		"url: x\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\nverbose: on\n",
		"url: \"x\\n\"\nmax_items: 3\nsymbols: [A, B]\nparams: {p: 1, q: 2}\ninterval: 60s\n",
		"url: x\nmax_items: 3\nsymbols: [\"A,B\"]\nparams: {p: 1, q: 2}\ninterval: 60s\n",
	};
	for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
		char *x = fingerprint_of(changed[i]);
		if (!strcmp(a, x))
			fail_msg("fingerprint did not change for case %zu:\n%s", i, x);
		free(x);
	}
	free(c);
	free(b);
	free(a);
}

static const struct vigil_option buggy_options[] = {
	{ "count", VIGIL_OPT_INT, "many", false, "" },
	{ "list", VIGIL_OPT_STRING_LIST, "[unterminated", false, "" },
	{ "fine", VIGIL_OPT_BOOL, "true", false, "" },
};

static const struct vigil_plugin buggy = {
	.size = sizeof(struct vigil_plugin),
	.name = "buggy",
	.kind = VIGIL_PLUGIN_SINK,
	.options = buggy_options,
	.n_options = sizeof buggy_options / sizeof buggy_options[0],
};

static void test_bad_default(void **state)
{
	(void)state;
	struct fixture fx = { 0 };
	/* Reported even though the user set `count`: the table is wrong. */
	struct option_set *s = build_kind(&fx, &buggy, INSTANCE_SINK, "name: t\ncount: 3\n");
	assert_null(s);
	assert_int_equal(fx.d.n, 2);
	assert_string_equal(fx.d.msgs[0], "opts.yaml:1:1: error: plugin `buggy` bug: the default of "
	                    "option `count` is invalid: expected a whole number, got \"many\"");
	assert_non_null(strstr(fx.d.msgs[1], "opts.yaml:1:1: error: plugin `buggy` bug: the default "
	                       "of option `list` is not valid YAML: "));
	fixture_free(&fx);
}

static void test_sink_host_keys(void **state)
{
	(void)state;
	/* `interval` is a source key; on a sink it is the plugin's business. */
	struct fixture fx = { 0 };
	build_kind(&fx, &buggy, INSTANCE_SINK, "name: t\noptional: true\ninterval: 5m\n");
	assert_int_equal(fx.d.n, 3);
	assert_string_equal(fx.d.msgs[0], "opts.yaml:3:1: error: unknown option `interval` for plugin "
	                    "`buggy` (it takes: count, list, fine; every sink also takes name, "
	                    "plugin, optional)");
	fixture_free(&fx);
}

static const struct vigil_plugin bare = {
	.size = sizeof(struct vigil_plugin),
	.name = "bare",
	.kind = VIGIL_PLUGIN_SINK,
};

static void test_no_options(void **state)
{
	(void)state;
	struct fixture fx = { 0 };
	struct option_set *s = build_kind(&fx, &bare, INSTANCE_SINK, "name: t\nplugin: bare\n");
	assert_non_null(s);
	assert_null(option_get_string(s, "name"));
	assert_string_equal(option_set_fingerprint(s), "plugin=\"bare\"\n");
	fixture_free(&fx);
	build_kind(&fx, &bare, INSTANCE_SINK, "name: t\nurl: x\n");
	assert_int_equal(fx.d.n, 1);
	assert_string_equal(fx.d.msgs[0], "opts.yaml:2:1: error: unknown option `url` for plugin "
	                    "`bare` (it takes: none; every sink also takes name, plugin, optional)");
	fixture_free(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_outlives_document),
		cmocka_unit_test(test_path_absolute),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_bad_default),
		cmocka_unit_test(test_sink_host_keys),
		cmocka_unit_test(test_no_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
