/* test-abi.c - the loader accepts good plugins and refuses each kind of bad one, saying why */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>

#include "plugin-loader.h"

static const char *abi_dir(void)
{
	const char *dir = getenv("VIGIL_TEST_ABI_DIR");
	return dir ? dir : "tests/abi";
}

/* Load `name`; return the one message (or NULL when it loaded). */
static char *load(const char *name, const struct loaded_plugin **out)
{
	struct plugin_loader *l = plugin_loader_new(abi_dir());
	struct diags d = { 0 };
	const struct loaded_plugin *p = plugin_loader_get(l, name, &d, "vigil.yaml", 7, 13);
	char *msg = d.n ? strdup(d.msgs[0]) : NULL;
	if (p)
		assert_int_equal(d.n, 0);
	else
		assert_int_equal(d.n, 1);
	if (out)
		*out = p;
	diags_clear(&d);
	plugin_loader_free(l);
	return msg;
}

static void good_plugin_loads(void **unused)
{
	(void)unused;
	struct plugin_loader *l = plugin_loader_new(abi_dir());
	struct diags d = { 0 };
	const struct loaded_plugin *p = plugin_loader_get(l, "fixture-good", &d, "x", 1, 1);
	assert_non_null(p);
	assert_string_equal(p->desc->name, "fixture-good");
	assert_int_equal(p->desc->kind, VIGIL_PLUGIN_SOURCE);
	assert_true(p->desc->n_options >= 2);
	/* Cached: the same object the second time. */
	assert_ptr_equal(plugin_loader_get(l, "fixture-good", &d, "x", 1, 1), p);
	assert_int_equal(d.n, 0);
	plugin_loader_free(l);
}

static void wrong_major_refused(void **unused)
{
	(void)unused;
	char *msg = load("fixture-wrong-major", NULL);
	assert_non_null(msg);
	char host[32], plugin[32];
	snprintf(host, sizeof host, "%d.%d", VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
	snprintf(plugin, sizeof plugin, "%d.%d", VIGIL_ABI_MAJOR + 1, VIGIL_ABI_MINOR);
	assert_non_null(strstr(msg, "vigil.yaml:7:13: error:"));
	assert_non_null(strstr(msg, "fixture-wrong-major.so"));
	assert_non_null(strstr(msg, host));
	assert_non_null(strstr(msg, plugin));
	assert_non_null(strstr(msg, "major"));
	free(msg);
}

static void newer_minor_refused(void **unused)
{
	(void)unused;
	char *msg = load("fixture-newer-minor", NULL);
	assert_non_null(msg);
	char host[32], plugin[32];
	snprintf(host, sizeof host, "%d.%d", VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
	snprintf(plugin, sizeof plugin, "%d.%d", VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR + 1);
	assert_non_null(strstr(msg, "fixture-newer-minor.so"));
	assert_non_null(strstr(msg, host));
	assert_non_null(strstr(msg, plugin));
	assert_non_null(strstr(msg, "newer"));
	free(msg);
}

static void missing_method_refused(void **unused)
{
	(void)unused;
	char *msg = load("fixture-missing-method", NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "fixture-missing-method.so"));
	assert_non_null(strstr(msg, "sink plugin without the required method 'deliver'"));
	free(msg);
}

static void no_entry_point_refused(void **unused)
{
	(void)unused;
	char *msg = load("fixture-no-entry", NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "not a vigil plugin"));
	assert_non_null(strstr(msg, "vigil_plugin_entry"));
	free(msg);
}

static void missing_file_named(void **unused)
{
	(void)unused;
	char *msg = load("no-such-plugin", NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "no-such-plugin.so not found in"));
	assert_non_null(strstr(msg, abi_dir()));
	free(msg);
}

static void path_traversal_refused(void **unused)
{
	(void)unused;
	char *msg = load("../abi/fixture-good", NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "may only contain"));
	free(msg);
}

static void search_path_order(void **unused)
{
	(void)unused;
	/* A directory list: the first dir that has the file wins; missing dirs are skipped. */
	char *dirs = NULL;
	assert_true(asprintf(&dirs, "/nonexistent/vigil:%s", abi_dir()) > 0);
	struct plugin_loader *l = plugin_loader_new(dirs);
	struct diags d = { 0 };
	const struct loaded_plugin *p = plugin_loader_get(l, "fixture-good", &d, "x", 1, 1);
	assert_non_null(p);
	assert_non_null(strstr(p->path, abi_dir()));
	plugin_loader_free(l);
	free(dirs);
}

static void check_rejects_bad_descriptors(void **unused)
{
	(void)unused;
	static const struct vigil_plugin_methods methods = {
		.size = sizeof methods,
	};
	struct vigil_plugin desc = {
		.size = sizeof desc, .abi_major = VIGIL_ABI_MAJOR, .abi_minor = VIGIL_ABI_MINOR,
		.name = "x", .kind = VIGIL_PLUGIN_SOURCE, .methods = &methods,
	};
	char *why = NULL;
	assert_int_equal(plugin_check(&desc, &why), -EINVAL);
	assert_non_null(strstr(why, "'create'"));
	free(why);
	why = NULL;
	desc.size = 8;
	assert_int_equal(plugin_check(&desc, &why), -EINVAL);
	assert_non_null(strstr(why, "too small"));
	free(why);
	why = NULL;
	assert_int_equal(plugin_check(NULL, &why), -EINVAL);
	free(why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_plugin_loads),
		cmocka_unit_test(wrong_major_refused),
		cmocka_unit_test(newer_minor_refused),
		cmocka_unit_test(missing_method_refused),
		cmocka_unit_test(no_entry_point_refused),
		cmocka_unit_test(missing_file_named),
		cmocka_unit_test(path_traversal_refused),
		cmocka_unit_test(search_path_order),
		cmocka_unit_test(check_rejects_bad_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
