/* test-item.c - item copies (UTF-8 repair, old struct sizes), keys, item and alert JSON */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "alert-json.h"
#include "item.h"

static void copy_is_deep_and_repairs_utf8(void **unused)
{
	(void)unused;
	char title[] = "bad \xff byte, cut \xe2\x82 and fine \xe2\x82\xac";
	const char *cats[] = { "ai", NULL, "chips" };
	struct vigil_field fields[] = {
		{ .name = "price", .type = VIGIL_FIELD_NUMBER, .number = 172.5 },
		{ .name = "symbol", .type = VIGIL_FIELD_STRING, .string = "NVDA" },
		{ .name = NULL, .type = VIGIL_FIELD_STRING, .string = "dropped" },
	};
	struct vigil_item src = VIGIL_ITEM_INIT;
	src.id = "a";
	src.title = title;
	src.categories = cats;
	src.n_categories = 3;
	src.fields = fields;
	src.n_fields = 3;
	src.published = 1000;
	struct owned_item *it = item_copy(&src);
	title[0] = 'X';                     /* the copy does not share memory */
	assert_string_equal(it->item.title,
	                    "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd\xef\xbf\xbd and fine \xe2\x82\xac");
	assert_int_equal(it->item.n_categories, 2);
	assert_string_equal(it->item.categories[1], "chips");
	assert_int_equal(it->item.n_fields, 2);
	assert_string_equal(it->item.fields[1].string, "NVDA");
	assert_int_equal(it->item.published, 1000);
	assert_int_equal(it->item.updated, VIGIL_TIME_NONE);
	item_free(it);
}

static void copy_honours_an_older_struct_size(void **unused)
{
	(void)unused;
	/* A plugin built when the struct ended at `link` passes a shorter size:
	 * members past it are not read (they may be garbage). */
	struct vigil_item src = VIGIL_ITEM_INIT;
	src.size = offsetof(struct vigil_item, link) + sizeof src.link;
	src.id = "old";
	src.link = "https://example.org/";
	src.lang = (const char *)0x1;      /* would crash if read */
	src.fields = (const struct vigil_field *)0x1;
	src.n_fields = 99;
	struct owned_item *it = item_copy(&src);
	assert_string_equal(it->item.link, "https://example.org/");
	assert_null(it->item.lang);
	assert_int_equal(it->item.n_fields, 0);
	assert_int_equal(it->item.published, VIGIL_TIME_NONE);
	item_free(it);
}

static void key_order(void **unused)
{
	(void)unused;
	struct vigil_item a = VIGIL_ITEM_INIT;
	a.id = "guid-1";
	a.link = "https://example.org/1";
	a.title = "T";
	char *k = item_key(&a);
	assert_string_equal(k, "guid-1");
	free(k);
	a.id = "  ";                        /* blank guid: use the link */
	k = item_key(&a);
	assert_string_equal(k, "https://example.org/1");
	free(k);
	a.link = NULL;
	char *k1 = item_key(&a);
	assert_true(!strncmp(k1, "h:", 2));
	a.published = 5;                    /* same title, other date: other key */
	char *k2 = item_key(&a);
	assert_string_not_equal(k1, k2);
	a.published = VIGIL_TIME_NONE;
	char *k3 = item_key(&a);
	assert_string_equal(k1, k3);
	free(k1);
	free(k2);
	free(k3);
}

static void rfc3339(void **unused)
{
	(void)unused;
	int64_t t;
	assert_int_equal(time_parse_rfc3339("2026-11-29T15:12:19Z", &t), 0);
	assert_int_equal(t, 1795965139);
	assert_int_equal(time_parse_rfc3339("2026-11-29T17:12:19.123+02:00", &t), 0);
	assert_int_equal(t, 1795965139);
	assert_int_equal(time_parse_rfc3339("2026-11-29T10:12:19-05:00", &t), 0);
	assert_int_equal(t, 1795965139);
	assert_int_equal(time_parse_rfc3339("2026-11-29", &t), -EINVAL);
	assert_int_equal(time_parse_rfc3339("2026-13-29T00:00:00Z", &t), -EINVAL);
	assert_int_equal(time_parse_rfc3339("2026-11-29T00:00:00", &t), -EINVAL);
	assert_int_equal(time_parse_rfc3339(NULL, &t), -EINVAL);
	char buf[32];
	assert_string_equal(time_format_rfc3339(1795965139, buf, sizeof buf), "2026-11-29T15:12:19Z");
}

static void json_round_trip(void **unused)
{
	(void)unused;
	const char *cats[] = { "ai" };
	struct vigil_field fields[] = {
		{ .name = "change_pct", .type = VIGIL_FIELD_NUMBER, .number = -5.5 },
		{ .name = "form_type", .type = VIGIL_FIELD_STRING, .string = "8-K" },
	};
	struct vigil_item src = VIGIL_ITEM_INIT;
	src.id = "x";
	src.title = "quote \" newline \n </script>";
	src.link = "https://example.org/x";
	src.categories = cats;
	src.n_categories = 1;
	src.fields = fields;
	src.n_fields = 2;
	src.published = 1795965139;
	json_t *j = item_to_json(&src);
	assert_null(json_object_get(j, "summary"));        /* absent stays absent */
	struct owned_item *back = item_from_json(j);
	assert_string_equal(back->item.title, src.title);
	assert_int_equal(back->item.published, src.published);
	assert_int_equal(back->item.updated, VIGIL_TIME_NONE);
	assert_int_equal(back->item.n_fields, 2);
	assert_int_equal(back->item.fields[0].type, VIGIL_FIELD_NUMBER);
	assert_true(back->item.fields[0].number == -5.5);
	assert_string_equal(back->item.fields[1].string, "8-K");
	item_free(back);

	char *item_json = json_dumps(j, JSON_COMPACT);
	struct alert_fields af = { .id = 42, .rule = "R2 release", .severity = "high",
	                           .source = "news", .reason = "why", .story_key = "k",
	                           .created = 1795965139, .item_json = item_json };
	char *alert = alert_json_render(&af);
	assert_non_null(alert);
	assert_null(strchr(alert, '\n'));                   /* one line, always */
	json_t *a = json_loads(alert, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(a, "version")), ALERT_JSON_VERSION);
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 42);
	assert_string_equal(json_string_value(json_object_get(a, "rule")), "R2 release");
	assert_string_equal(json_string_value(json_object_get(a, "created")), "2026-11-29T15:12:19Z");
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "item"), "title")),
	                    src.title);
	json_decref(a);
	free(alert);
	af.item_json = "not json";
	assert_null(alert_json_render(&af));
	free(item_json);
	json_decref(j);
	assert_null(item_from_json(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(copy_is_deep_and_repairs_utf8),
		cmocka_unit_test(copy_honours_an_older_struct_size),
		cmocka_unit_test(key_order),
		cmocka_unit_test(rfc3339),
		cmocka_unit_test(json_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
