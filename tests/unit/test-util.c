/* test-util.c - unit tests for the shared helpers: durations, edit distance, paths, hashing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void test_duration_parse_good(void **state)
{
	(void)state;
	static const struct { const char *text; int64_t ms; } cases[] = {
		{ "90s", 90000 },
		{ "10m", 600000 },
		{ "6h", 21600000 },
		{ "1d", 86400000 },
		{ "1w", 604800000 },
		{ "1h30m", 5400000 },
		{ "1.5h", 5400000 },
		{ "250ms", 250 },
		{ "1m30s", 90000 },
		{ "2h5ms", 7200005 },
		{ "45", 45000 },
		{ "0", 0 },
		{ "0s", 0 },
		{ "0.5s", 500 },
		{ " 10m", 600000 },
		{ "10m ", 600000 },
		{ "1d12h", 129600000 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -1;
		int r = duration_parse(cases[i].text, &ms);
		if (r != 0 || ms != cases[i].ms)
			fail_msg("\"%s\": got %d, %lld; want %lld", cases[i].text, r, (long long)ms,
			         (long long)cases[i].ms);
	}
}

static void test_duration_parse_bad(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"", " ", "10x", "-5s", "m", "-5", "+5s", "+5", "10 m", "1h 30m", "s10", "1..5h", ".5h",
		"1.h", "0x10s", "1e3s", "1e3", "inf", "nan", "10M", "10mm", "10minutes",
		"99999999999999999999", "9999999999999999s", "10m\n", "1h-30m",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = 12345;
		int r = duration_parse(cases[i], &ms);
		if (r != -EINVAL)
			fail_msg("\"%s\" accepted as %lld ms", cases[i], (long long)ms);
		assert_int_equal(ms, 12345);     /* untouched on error */
	}
	int64_t ms;
	assert_int_equal(duration_parse(NULL, &ms), -EINVAL);
}

static void test_duration_format(void **state)
{
	(void)state;
	char buf[32];
	assert_string_equal(duration_format(0, buf, sizeof buf), "0s");
	assert_string_equal(duration_format(-5, buf, sizeof buf), "0s");
	assert_string_equal(duration_format(250, buf, sizeof buf), "250ms");
	assert_string_equal(duration_format(90000, buf, sizeof buf), "1m30s");
	assert_string_equal(duration_format(5400000, buf, sizeof buf), "1h30m");
	assert_string_equal(duration_format(86400000, buf, sizeof buf), "1d");
	assert_string_equal(duration_format(3 * 86400000LL + 1, buf, sizeof buf), "3d1ms");
	assert_string_equal(duration_format(90061001, buf, sizeof buf), "1d1h1m1s1ms");
	/* What it writes reads back as the same duration. */
	static const int64_t round[] = { 1, 999, 1000, 61000, 3599999, 86400000, 123456789012LL };
	for (size_t i = 0; i < sizeof round / sizeof round[0]; i++) {
		int64_t ms;
		assert_int_equal(duration_parse(duration_format(round[i], buf, sizeof buf), &ms), 0);
		assert_int_equal(ms, round[i]);
	}
	/* A short buffer is cut, never overrun. */
	char tiny[4];
	duration_format(90061001, tiny, sizeof tiny);
	assert_true(strlen(tiny) < sizeof tiny);
}

static void test_edit_distance(void **state)
{
	(void)state;
	assert_int_equal(edit_distance("", ""), 0);
	assert_int_equal(edit_distance("abc", "abc"), 0);
	assert_int_equal(edit_distance("", "abc"), 3);
	assert_int_equal(edit_distance("abc", ""), 3);
	assert_int_equal(edit_distance("kitten", "sitting"), 3);
	assert_int_equal(edit_distance("soruces", "sources"), 2);
	assert_int_equal(edit_distance("interval", "intervall"), 1);
	assert_int_equal(edit_distance("flaw", "lawn"), 2);
	char long_a[100], long_b[100];
	memset(long_a, 'a', 99);
	long_a[99] = '\0';
	memset(long_b, 'a', 99);
	long_b[99] = '\0';
	assert_int_equal(edit_distance(long_a, long_b), 255);   /* too long to bother */
}

static void test_closest_match(void **state)
{
	(void)state;
	static const char *const keys[] = {
		"state_dir", "plugin_dir", "log_level", "rules", "defaults", "sources", "sinks",
	};
	size_t n = sizeof keys / sizeof keys[0];
	assert_string_equal(closest_match("soruces", keys, n), "sources");
	assert_string_equal(closest_match("source", keys, n), "sources");
	assert_string_equal(closest_match("sink", keys, n), "sinks");
	assert_string_equal(closest_match("loglevel", keys, n), "log_level");
	assert_string_equal(closest_match("rules", keys, n), "rules");
	assert_null(closest_match("frobnicate", keys, n));
	assert_null(closest_match("xyz", keys, n));
	assert_null(closest_match("sources", keys, 0));
	static const char *const with_null[] = { NULL, "interval" };
	assert_string_equal(closest_match("intreval", with_null, 2), "interval");
}

static void test_paths(void **state)
{
	(void)state;
	char *p;
	p = path_join("/etc/vigil", "rules.d");
	assert_string_equal(p, "/etc/vigil/rules.d");
	free(p);
	p = path_join("/etc/vigil/", "rules.d");
	assert_string_equal(p, "/etc/vigil/rules.d");
	free(p);
	p = path_join("/etc/vigil", "/abs/path");
	assert_string_equal(p, "/abs/path");
	free(p);
	p = path_join(NULL, "rel");
	assert_string_equal(p, "rel");
	free(p);
	p = path_join("", "rel");
	assert_string_equal(p, "rel");
	free(p);
	p = path_join("/", "x");
	assert_string_equal(p, "/x");
	free(p);
	assert_null(path_join("/etc", NULL));

	static const struct { const char *in, *out; } dn[] = {
		{ "/etc/vigil/vigil.yaml", "/etc/vigil" },
		{ "vigil.yaml", "." },
		{ "/vigil.yaml", "/" },
		{ "a/b", "a" },
		{ "/", "/" },
		{ "", "." },
		{ "a/b/", "a" },
		{ "/a//b", "/a" },
		{ "//a", "/" },
	};
	for (size_t i = 0; i < sizeof dn / sizeof dn[0]; i++) {
		p = path_dirname(dn[i].in);
		if (strcmp(p, dn[i].out))
			fail_msg("dirname(\"%s\") = \"%s\", want \"%s\"", dn[i].in, p, dn[i].out);
		free(p);
	}
}

static void test_misc(void **state)
{
	(void)state;
	/* FNV-1a test vectors. */
	assert_true(fnv64(FNV64_SEED, "", 0) == UINT64_C(0xcbf29ce484222325));
	assert_true(fnv64(FNV64_SEED, "a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	assert_true(fnv64(fnv64(FNV64_SEED, "fo", 2), "obar", 4) ==
	            fnv64(FNV64_SEED, "foobar", 6));
	for (int i = 0; i < 1000; i++)
		assert_true(random_below(7) < 7);
	assert_int_equal(random_below(0), 0);
	char *s = xasprintf("%s-%d", "x", 42);
	assert_string_equal(s, "x-42");
	free(s);
	assert_null(xstrdup(NULL));
	assert_true(now_ms() / 1000 - now_s() <= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_parse_good),
		cmocka_unit_test(test_duration_parse_bad),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_edit_distance),
		cmocka_unit_test(test_closest_match),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_misc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
