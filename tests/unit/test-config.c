/* test-config.c - unit tests for the main configuration: every field, paths, errors, search order */
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
#include <unistd.h>

#include <vigil/host.h>

#include "config.h"
#include "diag.h"
#include "util.h"

#if defined(__has_include)
#if __has_include("vigil-build-config.h")
#include "vigil-build-config.h"
#endif
#endif
#ifndef VIGIL_SYSCONF_CONFIG
#define VIGIL_SYSCONF_CONFIG "/etc/vigil/vigil.yaml"
#endif

static char tmpdir[] = "/tmp/vigil-test-config-XXXXXX";
static char *cfg_path;           /* tmpdir/vigil.yaml */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void mkdir_p(const char *path)
{
	char *copy = xstrdup(path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(copy, 0700);
		*p = '/';
	}
	mkdir(copy, 0700);
	free(copy);
}

static struct config *load_text(const char *text, struct diags *d)
{
	write_file(cfg_path, text);
	return config_load(cfg_path, d);
}

/* Loading `text` fails with exactly the messages given, each written as
 * "LINE:COL: error: ..." and prefixed with the file here. */
static void expect_errors(const char *text, size_t n, ...)
{
	struct diags d = { 0 };
	struct config *c = load_text(text, &d);
	if (d.n != n) {
		for (size_t i = 0; i < d.n; i++)
			print_message("got: %s\n", d.msgs[i]);
		fail_msg("expected %zu messages, got %zu", n, d.n);
	}
	assert_null(c);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		char *want = xasprintf("%s:%s", cfg_path, va_arg(ap, const char *));
		assert_string_equal(d.msgs[i], want);
		free(want);
	}
	va_end(ap);
	diags_clear(&d);
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
	if (!mkdtemp(tmpdir))
		return -1;
	cfg_path = xasprintf("%s/vigil.yaml", tmpdir);
	char *rules = xasprintf("%s/rules.d", tmpdir);
	mkdir(rules, 0700);
	free(rules);
	char *rules_file = xasprintf("%s/one.rules.yaml", tmpdir);
	write_file(rules_file, "rules: []\n");
	free(rules_file);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(cfg_path);
	return 0;
}

static void test_full_config(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct config *c = load_text(
		"# every field\n"
		"state_dir: /var/lib/vigil-test\n"
		"plugin_dir: /opt/vigil/plugins\n"
		"rules: rules.d/\n"
		"log_level: debug\n"
		"defaults:\n"
		"  interval: 10m\n"
		"  user_agent: \"vigil/0.1 (+mailto:you@example.org)\"\n"
		"  timeout: 45s\n"
		"  connect_timeout: 5s\n"
		"  low_speed_bytes: 100\n"
		"  low_speed_time: 1m\n"
		"  max_body: 2M\n"
		"  max_redirects: 3\n"
		"  per_host: 2\n"
		"  max_connections: 32\n"
		"  max_backoff: 1h30m\n"
		"  startup_spread: 0\n"
		"  shutdown_timeout: 5s\n"
		"  delivery_timeout: 2m\n"
		"  max_age: 1w\n"
		"sources:\n"
		"  - name: news-ar\n"
		"    plugin: rss\n"
		"    url: https://example.org/tech/feed.xml\n"
		"    interval: 90s\n"
		"    alert_on_first_poll: yes\n"
		"    user_agent: custom/1.0\n"
		"    headers: {Accept-Language: ar, X-Token: \"abc def\"}\n"
		"    timeout: 20s\n"
		"    max_body: 512k\n"
		"    optional: true\n"
		"  - name: bis\n"
		"    plugin: fedreg\n"
		"    agencies: [industry-and-security-bureau]\n"
		"sinks:\n"
		"  - name: desktop\n"
		"    plugin: notify\n"
		"  - name: team.hook_1\n"
		"    plugin: webhook\n"
		"    url: https://hooks.example.org/T000\n"
		"    optional: off\n", &d);
	if (d.n)
		diags_print(&d, stderr);
	assert_int_equal(d.n, 0);
	assert_non_null(c);

	assert_string_equal(c->path, cfg_path);
	assert_string_equal(c->dir, tmpdir);
	assert_string_equal(c->state_dir, "/var/lib/vigil-test");
	assert_string_equal(c->plugin_dir, "/opt/vigil/plugins");
	char *rules = xasprintf("%s/rules.d/", tmpdir);
	assert_string_equal(c->rules_path, rules);
	free(rules);
	assert_int_equal(c->log_level, VIGIL_LOG_DEBUG);

	const struct config_defaults *df = &c->defaults;
	assert_int_equal(df->interval_ms, 600000);
	assert_string_equal(df->user_agent, "vigil/0.1 (+mailto:you@example.org)");
	assert_int_equal(df->timeout_ms, 45000);
	assert_int_equal(df->connect_timeout_ms, 5000);
	assert_int_equal(df->low_speed_bytes, 100);
	assert_int_equal(df->low_speed_time_ms, 60000);
	assert_int_equal(df->max_body, 2 << 20);
	assert_int_equal(df->max_redirects, 3);
	assert_int_equal(df->per_host, 2);
	assert_int_equal(df->total, 32);
	assert_int_equal(df->max_backoff_ms, 5400000);
	assert_int_equal(df->startup_spread_ms, 0);
	assert_int_equal(df->shutdown_timeout_ms, 5000);
	assert_int_equal(df->delivery_timeout_ms, 120000);
	assert_int_equal(df->max_age_ms, 7 * 86400000LL);

	assert_int_equal(c->n_sources, 2);
	const struct instance_config *s = &c->sources[0];
	assert_int_equal(s->kind, INSTANCE_SOURCE);
	assert_string_equal(s->name, "news-ar");
	assert_string_equal(s->plugin, "rss");
	assert_true(s->optional);
	assert_int_equal(s->interval_ms, 90000);
	assert_true(s->alert_on_first_poll);
	assert_string_equal(s->user_agent, "custom/1.0");
	assert_int_equal(s->n_headers, 2);
	assert_string_equal(s->headers[0].key, "Accept-Language");
	assert_string_equal(s->headers[0].value, "ar");
	assert_string_equal(s->headers[1].key, "X-Token");
	assert_string_equal(s->headers[1].value, "abc def");
	assert_int_equal(s->timeout_ms, 20000);
	assert_int_equal(s->max_body, 512 << 10);
	assert_string_equal(s->file, cfg_path);
	assert_int_equal(s->line, 23);
	assert_int_equal(s->column, 5);
	/* The plugin's own keys stay in the node for options.c. */
	assert_non_null(s->node);
	assert_string_equal(ynode_get(s->node, "url")->value, "https://example.org/tech/feed.xml");

	s = &c->sources[1];
	assert_string_equal(s->name, "bis");
	assert_false(s->optional);
	assert_false(s->alert_on_first_poll);
	assert_int_equal(s->interval_ms, 600000);    /* from defaults */
	assert_null(s->user_agent);
	assert_int_equal(s->n_headers, 0);
	assert_int_equal(s->timeout_ms, 0);
	assert_int_equal(s->max_body, 0);
	assert_int_equal(ynode_get(s->node, "agencies")->type, YNODE_SEQUENCE);

	assert_int_equal(c->n_sinks, 2);
	assert_int_equal(c->sinks[0].kind, INSTANCE_SINK);
	assert_string_equal(c->sinks[0].name, "desktop");
	assert_string_equal(c->sinks[0].plugin, "notify");
	assert_string_equal(c->sinks[1].name, "team.hook_1");
	assert_false(c->sinks[1].optional);
	assert_int_equal(c->sinks[1].line, 39);
	config_free(c);
}

static void test_builtin_defaults(void **state)
{
	(void)state;
	struct diags d = { 0 };
	setenv("STATE_DIRECTORY", "/run/state/vigil:/other", 1);
	struct config *c = load_text("sources:\n  - {name: a, plugin: rss}\n", &d);
	unsetenv("STATE_DIRECTORY");
	assert_int_equal(d.n, 0);
	assert_non_null(c);
	const struct config_defaults *df = &c->defaults;
	assert_int_equal(df->interval_ms, 15 * 60000);
	assert_string_equal(df->user_agent, "vigil/" VIGIL_VERSION_STRING
	                    " (+https://github.com/vigil-monitor/vigil)");
	assert_int_equal(df->timeout_ms, 30000);
	assert_int_equal(df->connect_timeout_ms, 10000);
	assert_int_equal(df->low_speed_bytes, 10);
	assert_int_equal(df->low_speed_time_ms, 30000);
	assert_int_equal(df->max_body, 16 << 20);
	assert_int_equal(df->max_redirects, 5);
	assert_int_equal(df->per_host, 4);
	assert_int_equal(df->total, 64);
	assert_int_equal(df->max_backoff_ms, 6 * 3600000LL);
	assert_int_equal(df->startup_spread_ms, 0);
	assert_int_equal(df->shutdown_timeout_ms, 10000);
	assert_int_equal(df->delivery_timeout_ms, 60000);
	assert_int_equal(df->max_age_ms, 3 * 86400000LL);
	assert_int_equal(c->log_level, -1);
	/* No rules: key: the rules.d/ directory beside the file (the fixture has one). */
	char *beside = xasprintf("%s/rules.d", tmpdir);
	assert_string_equal(c->rules_path, beside);
	free(beside);
	assert_null(c->plugin_dir);
	assert_string_equal(c->state_dir, "/run/state/vigil");
	assert_int_equal(c->sources[0].interval_ms, 15 * 60000);
	assert_int_equal(c->n_sinks, 0);
	config_free(c);

	/* An empty file is a valid (if idle) configuration. */
	c = load_text("", &d);
	assert_non_null(c);
	assert_int_equal(c->n_sources, 0);
	config_free(c);
	c = load_text("sources:\nsinks: ~\n", &d);
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	config_free(c);

	/* `key:` alone leaves a setting at its default. */
	c = load_text("log_level:\ndefaults:\n  timeout:\nsources:\n"
	              "  - {name: a, plugin: rss, interval: , optional: ~}\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(c);
	assert_int_equal(c->log_level, -1);
	assert_int_equal(c->defaults.timeout_ms, 30000);
	assert_int_equal(c->sources[0].interval_ms, 15 * 60000);
	assert_false(c->sources[0].optional);
	config_free(c);
}

static void test_default_state_dir(void **state)
{
	(void)state;
	char *saved_home = xstrdup(getenv("HOME"));
	unsetenv("STATE_DIRECTORY");
	setenv("XDG_STATE_HOME", "/x/state", 1);
	char *s = config_default_state_dir();
	assert_string_equal(s, "/x/state/vigil");
	free(s);
	setenv("XDG_STATE_HOME", "relative/ignored", 1);
	setenv("HOME", "/home/someone", 1);
	s = config_default_state_dir();
	assert_string_equal(s, "/home/someone/.local/state/vigil");
	free(s);
	unsetenv("XDG_STATE_HOME");
	s = config_default_state_dir();
	assert_string_equal(s, "/home/someone/.local/state/vigil");
	free(s);
	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	free(saved_home);
}

static void test_relative_paths(void **state)
{
	(void)state;
	struct diags d = { 0 };
	char *sub = xasprintf("%s/etc/vigil", tmpdir);
	mkdir_p(sub);
	char *rules_dir = xasprintf("%s/rules.d", sub);
	mkdir(rules_dir, 0700);
	char *path = xasprintf("%s/vigil.yaml", sub);
	write_file(path, "state_dir: state\nplugin_dir: ../plugins\nrules: rules.d\n");

	/* Loaded through a relative path, from the parent directory. */
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(tmpdir), 0);
	struct config *c = config_load("etc/vigil/vigil.yaml", &d);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(d.n, 0);
	assert_non_null(c);
	assert_string_equal(c->path, path);
	assert_string_equal(c->dir, sub);
	char *want = xasprintf("%s/state", sub);
	assert_string_equal(c->state_dir, want);
	free(want);
	want = xasprintf("%s/../plugins", sub);
	assert_string_equal(c->plugin_dir, want);
	free(want);
	assert_string_equal(c->rules_path, rules_dir);
	config_free(c);

	/* A rules file works as well as a directory. */
	write_file(path, "rules: ../../one.rules.yaml\n");
	c = config_load(path, &d);
	assert_int_equal(d.n, 0);
	assert_non_null(c);
	want = xasprintf("%s/../../one.rules.yaml", sub);
	assert_string_equal(c->rules_path, want);
	free(want);
	config_free(c);

	free(cwd);
	free(path);
	free(rules_dir);
	free(sub);
}

static void test_bad_duration(void **state)
{
	(void)state;
	expect_errors("defaults:\n  interval: 10 minutes\n", 1,
	              "2:13: error: expected a duration like 90s, 10m, 6h or 1d, got \"10 minutes\"");
	expect_errors("sources:\n  - name: a\n    plugin: rss\n    interval: [10m]\n", 1,
	              "4:15: error: expected a duration like 90s, 10m, 6h or 1d, got a list");
	expect_errors("defaults: {timeout: 0s}\n", 1,
	              "1:21: error: expected a duration greater than zero, got \"0s\"");
}

static void test_noise_defaults(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct config *c = load_text("defaults: {quiet: \"22:00-07:00\", digest: 1h, "
	                             "max_per_hour: 20, cooldown: 0}\n", &d);
	assert_int_equal(d.n, 0);
	assert_true(c->defaults.has_quiet);
	assert_int_equal(c->defaults.quiet_start_min, 22 * 60);
	assert_int_equal(c->defaults.quiet_end_min, 7 * 60);
	assert_int_equal(c->defaults.digest_ms, 3600000);
	assert_int_equal(c->defaults.max_per_hour, 20);
	assert_int_equal(c->defaults.cooldown_ms, 0);
	config_free(c);
	c = load_text("log_level: info\n", &d);
	assert_int_equal(c->defaults.cooldown_ms, 3600000);   /* the built-in story window */
	assert_false(c->defaults.has_quiet);
	config_free(c);
	expect_errors("defaults:\n  quiet: 22-07\n", 1,
	              "2:10: error: expected a quiet range like \"22:00-07:00\" (local time; "
	              "start and end differ), got \"22-07\"");
	expect_errors("defaults:\n  quiet: \"08:00-08:00\"\n", 1,
	              "2:10: error: expected a quiet range like \"22:00-07:00\" (local time; "
	              "start and end differ), got \"08:00-08:00\"");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_errors("soruces:\n  - {name: a, plugin: rss}\n", 1,
	              "1:1: error: unknown key `soruces` at the top level; did you mean `sources`?");
	expect_errors("log_level: info\nfrobnicate: 1\n", 1,
	              "2:1: error: unknown key `frobnicate` at the top level (valid keys: state_dir, "
	              "plugin_dir, log_level, rules, defaults, sources, sinks)");
	expect_errors("defaults:\n  intervall: 5m\n  max_connection: 3\n", 2,
	              "2:3: error: unknown key `intervall` in defaults; did you mean `interval`?",
	              "3:3: error: unknown key `max_connection` in defaults; did you mean "
	              "`max_connections`?");
}

static void test_duplicate_names(void **state)
{
	(void)state;
	expect_errors("sources:\n"
	              "  - name: news\n"
	              "    plugin: rss\n"
	              "sinks:\n"
	              "  - name: out\n"
	              "    plugin: log\n"
	              "  - name: news\n"
	              "    plugin: log\n", 1,
	              "7:11: error: duplicate instance name `news` (first at line 2, column 11)");
	/* A YAML duplicate key is caught earlier, with both positions too. */
	expect_errors("sources:\n  - name: a\n    plugin: rss\n    name: b\n", 1,
	              "4:5: error: duplicate key `name` (first at line 2, column 5)");
}

static void test_missing_name_plugin(void **state)
{
	(void)state;
	expect_errors("sources:\n"
	              "  - plugin: rss\n"
	              "  - name: b\n"
	              "  - url: x\n"
	              "sinks:\n"
	              "  - name:\n"
	              "    plugin: log\n", 5,
	              "2:5: error: this source has no `name:`",
	              "3:5: error: source `b` has no `plugin:`",
	              "4:5: error: this source has no `name:`",
	              "4:5: error: this source has no `plugin:`",
	              "6:5: error: this sink has no `name:`");
	expect_errors("sources:\n  - name: has space\n    plugin: ../evil\n", 2,
	              "2:11: error: expected a name of letters, digits, '_', '.' and '-', "
	              "got \"has space\"",
	              "3:13: error: expected a plugin name of lowercase letters, digits, '_' and "
	              "'-', got \"../evil\"");
	expect_errors("sources:\n  - just-a-name\n", 1,
	              "2:5: error: expected a source (a mapping with `name:` and `plugin:`), "
	              "got \"just-a-name\"");
	expect_errors("sinks:\n  name: x\n", 1,
	              "2:3: error: expected a list of sinks (each `- name: ...`), got a mapping");
}

static void test_rules_missing(void **state)
{
	(void)state;
	char *want = xasprintf("3:8: error: rules path %s/no-such-rules.d: No such file or directory",
	                       tmpdir);
	expect_errors("log_level: info\n\nrules: no-such-rules.d\n", 1, want);
	free(want);
	expect_errors("rules: [a, b]\n", 1, "1:8: error: expected a path, got a list");
}

static void test_bad_log_level(void **state)
{
	(void)state;
	expect_errors("log_level: loud\n", 1,
	              "1:12: error: expected a log level (error, warning, info or debug), got \"loud\"");
}

static void test_value_errors(void **state)
{
	(void)state;
	/* Every problem is reported, not just the first. */
	expect_errors("defaults:\n"
	              "  max_body: lots\n"
	              "  per_host: 0\n"
	              "  max_redirects: \"5\"\n"
	              "  low_speed_bytes: 1.5\n"
	              "  user_agent: [a]\n"
	              "sources:\n"
	              "  - name: a\n"
	              "    plugin: rss\n"
	              "    alert_on_first_poll: maybe\n"
	              "    headers: {\"Bad Name\": x, X-Ok: \"a\\r\\nInjected: 1\", X-List: [1]}\n"
	              "    max_body: 99999999999G\n"
	              "    optional: 1\n", 11,
	              "2:13: error: expected a size in bytes like 1048576, 512k, 16M or 1G, got \"lots\"",
	              "3:13: error: expected a whole number of at least 1, got 0",
	              "4:18: error: expected a whole number, got \"5\" (numbers are written without "
	              "quotes)",
	              "5:20: error: expected a whole number, got \"1.5\"",
	              "6:15: error: expected a string, got a list",
	              "10:26: error: expected true or false, got \"maybe\"",
	              "11:15: error: invalid HTTP header name \"Bad Name\"",
	              "11:36: error: the value of header `X-Ok` may not contain a line break",
	              "11:64: error: expected the value of header `X-List`, got a list",
	              "12:15: error: expected a size in bytes like 1048576, 512k, 16M or 1G, "
	              "got \"99999999999G\"",
	              "13:15: error: expected true or false, got \"1\"");
}

static void test_value_errors_count(void **state)
{
	(void)state;
	/* (kept apart so a miscount above names the culprit) */
	struct diags d = { 0 };
	struct config *c = load_text("defaults: [1]\nsources: {}\nlog_level: [x]\n", &d);
	assert_null(c);
	assert_int_equal(d.n, 3);
	diags_clear(&d);
	c = load_text("- a\n- b\n", &d);
	assert_null(c);
	char *want = xasprintf("%s:1:1: error: expected a mapping of settings (sources:, sinks:, ...) "
	                       "at the top level, got a list", cfg_path);
	assert_string_equal(d.msgs[0], want);
	free(want);
	diags_clear(&d);
	c = load_text("a: [\n", &d);
	assert_null(c);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msgs[0], cfg_path));
	diags_clear(&d);
}

static void test_sizes(void **state)
{
	(void)state;
	static const struct { const char *text; long long bytes; } ok[] = {
		{ "1048576", 1048576 }, { "1k", 1024 }, { "1K", 1024 }, { "3KiB", 3072 },
		{ "16M", 16 << 20 }, { "2MiB", 2 << 20 }, { "1G", 1LL << 30 }, { "4GiB", 4LL << 30 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct diags d = { 0 };
		char *text = xasprintf("defaults:\n  max_body: %s\n", ok[i].text);
		struct config *c = load_text(text, &d);
		assert_non_null(c);
		assert_int_equal(c->defaults.max_body, ok[i].bytes);
		config_free(c);
		free(text);
	}
	static const char *const bad[] = { "0", "1T", "1.5M", "-1", "M", "1 M", "1kb", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct diags d = { 0 };
		char *text = xasprintf("defaults:\n  max_body: \"%s\"\n", bad[i]);
		struct config *c = load_text(text, &d);
		assert_null(c);
		assert_int_equal(d.n, 1);
		diags_clear(&d);
		free(text);
	}
}

static void test_proxy(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct config *c = load_text("sources:\n  - {name: a, plugin: rss, proxy: "
	                             "\"http://proxy.example.org:3128\"}\n", &d);
	assert_int_equal(d.n, 0);
	assert_string_equal(c->sources[0].proxy, "http://proxy.example.org:3128");
	config_free(c);
	expect_errors("sources:\n  - {name: a, plugin: rss, proxy: ftp://p}\n", 1,
	              "2:35: error: expected a proxy URL like \"http://proxy.example.org:3128\" "
	              "(http, https, socks5 or socks5h), got \"ftp://p\"");
}

static void test_host_keys(void **state)
{
	(void)state;
	assert_true(config_is_host_key(INSTANCE_SOURCE, "name"));
	assert_true(config_is_host_key(INSTANCE_SOURCE, "interval"));
	assert_true(config_is_host_key(INSTANCE_SOURCE, "headers"));
	assert_false(config_is_host_key(INSTANCE_SOURCE, "url"));
	assert_true(config_is_host_key(INSTANCE_SINK, "optional"));
	assert_false(config_is_host_key(INSTANCE_SINK, "interval"));
	size_t n = 0;
	while (config_host_source_keys[n])
		n++;
	assert_int_equal(n, 10);
	assert_true(config_is_host_key(INSTANCE_SOURCE, "proxy"));
	n = 0;
	while (config_host_sink_keys[n])
		n++;
	assert_int_equal(n, 3);
}

/* Source-only keys on a sink are left for the plugin's table (and are
 * refused there unless the plugin takes them). */
static void test_sink_ignores_source_keys(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct config *c = load_text("sinks:\n  - {name: s, plugin: log, interval: nonsense}\n", &d);
	assert_int_equal(d.n, 0);
	assert_non_null(c);
	config_free(c);
}

static void save_env(const char *name, char **out)
{
	*out = xstrdup(getenv(name));
}

static void restore_env(const char *name, char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
	free(value);
}

static void test_find_order(void **state)
{
	(void)state;
	char *s_vc, *s_xdg, *s_home;
	save_env("VIGIL_CONFIG", &s_vc);
	save_env("XDG_CONFIG_HOME", &s_xdg);
	save_env("HOME", &s_home);

	char *xdg = xasprintf("%s/xdg", tmpdir);
	char *xdg_dir = xasprintf("%s/vigil", xdg);
	char *xdg_file = xasprintf("%s/vigil.yaml", xdg_dir);
	char *home = xasprintf("%s/home", tmpdir);
	char *home_dir = xasprintf("%s/.config/vigil", home);
	char *home_file = xasprintf("%s/vigil.yaml", home_dir);
	char *env_file = xasprintf("%s/env.yaml", tmpdir);
	mkdir_p(xdg_dir);
	mkdir_p(home_dir);
	write_file(xdg_file, "");
	write_file(home_file, "");
	write_file(env_file, "");

	struct diags d = { 0 };
	setenv("VIGIL_CONFIG", env_file, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	setenv("HOME", home, 1);

	/* 1. the explicit path wins, even when it does not exist. */
	char *p = config_find(cfg_path, &d);
	assert_string_equal(p, cfg_path);
	free(p);
	char *nowhere = xasprintf("%s/nowhere.yaml", tmpdir);
	assert_null(config_find(nowhere, &d));
	assert_int_equal(d.n, 1);
	char *want = xasprintf("%s: error: no such configuration file", nowhere);
	assert_string_equal(d.msgs[0], want);
	free(want);
	diags_clear(&d);

	/* 2. $VIGIL_CONFIG */
	p = config_find(NULL, &d);
	assert_string_equal(p, env_file);
	free(p);
	setenv("VIGIL_CONFIG", nowhere, 1);
	assert_null(config_find(NULL, &d));
	want = xasprintf("%s: error: no such configuration file (named by $VIGIL_CONFIG)", nowhere);
	assert_string_equal(d.msgs[0], want);
	free(want);
	diags_clear(&d);

	/* 3. $XDG_CONFIG_HOME/vigil/vigil.yaml (an empty $VIGIL_CONFIG is unset) */
	setenv("VIGIL_CONFIG", "", 1);
	p = config_find("", &d);
	assert_string_equal(p, xdg_file);
	free(p);
	unsetenv("VIGIL_CONFIG");

	/* ... and ~/.config only when $XDG_CONFIG_HOME is unset (or relative). */
	unlink(xdg_file);
	p = config_find(NULL, &d);
	if (p) {   /* only when this machine has a system-wide config */
		assert_string_equal(p, VIGIL_SYSCONF_CONFIG);
		free(p);
	} else {
		want = xasprintf("error: no configuration file found; tried %s and %s "
		                 "(use -c FILE or set $VIGIL_CONFIG)", xdg_file, VIGIL_SYSCONF_CONFIG);
		assert_string_equal(d.msgs[0], want);
		free(want);
		diags_clear(&d);
	}
	unsetenv("XDG_CONFIG_HOME");
	p = config_find(NULL, &d);
	assert_string_equal(p, home_file);
	free(p);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	p = config_find(NULL, &d);
	assert_string_equal(p, home_file);
	free(p);

	/* 4. the system file, last. */
	unlink(home_file);
	p = config_find(NULL, &d);
	if (p) {
		assert_string_equal(p, VIGIL_SYSCONF_CONFIG);
		free(p);
	} else {
		want = xasprintf("error: no configuration file found; tried %s and %s "
		                 "(use -c FILE or set $VIGIL_CONFIG)", home_file, VIGIL_SYSCONF_CONFIG);
		assert_string_equal(d.msgs[0], want);
		free(want);
		diags_clear(&d);
	}
	assert_int_equal(d.n, 0);

	unlink(env_file);
	restore_env("VIGIL_CONFIG", s_vc);
	restore_env("XDG_CONFIG_HOME", s_xdg);
	restore_env("HOME", s_home);
	free(nowhere);
	free(env_file);
	free(home_file);
	free(home_dir);
	free(home);
	free(xdg_file);
	free(xdg_dir);
	free(xdg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_builtin_defaults),
		cmocka_unit_test(test_default_state_dir),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_noise_defaults),
		cmocka_unit_test(test_proxy),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_missing_name_plugin),
		cmocka_unit_test(test_rules_missing),
		cmocka_unit_test(test_bad_log_level),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_value_errors_count),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_host_keys),
		cmocka_unit_test(test_sink_ignores_source_keys),
		cmocka_unit_test(test_find_order),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
