/* test-plugin-jsonl.c - the `jsonl` source via the mock host: mapping, dates, bad lines, HTTP */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock-host.h"

#define URL "https://feeds.example.org/items.jsonl"

static const struct vigil_plugin *plugin;
static const char *plugin_dir_arg;

struct fixture {
	struct mock_host *mh;
	void *state;
};

static int setup(void **ts)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->mh = mock_host_new("feed", (const struct vigil_kv[]){
		{ "url", URL },
		{ NULL, NULL },
	});
	*ts = f;
	return 0;
}

static int teardown(void **ts)
{
	struct fixture *f = *ts;
	if (f->state)
		plugin->methods->destroy(f->state);
	assert_int_equal(mock_host_violations(f->mh), 0);
	mock_host_free(f->mh);
	free(f);
	return 0;
}

static void create(struct fixture *f)
{
	assert_int_equal(mock_host_create(f->mh, plugin, &f->state), 0);
}

/* Serve `body` with status 200 at URL, poll once and run the loop. */
static const struct mock_poll_result *poll_body(struct fixture *f, const char *body)
{
	mock_host_add_response(f->mh, &(struct mock_response){
		.url = URL,
		.status = 200,
		.body = body,
		.content_type = "application/jsonl",
	});
	if (!f->state)
		create(f);
	size_t before = mock_host_n_polls_done(f->mh);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	/* The answer comes from the loop, never from inside poll(). */
	assert_int_equal(mock_host_n_polls_done(f->mh), before);
	mock_host_run(f->mh);
	assert_int_equal(mock_host_n_polls_done(f->mh), before + 1);
	return mock_host_poll_result(f->mh, before);
}

static void test_descriptor(void **ts)
{
	(void)ts;
	assert_string_equal(plugin->name, "jsonl");
	assert_int_equal(plugin->kind, VIGIL_PLUGIN_SOURCE);
	assert_non_null(plugin->methods->poll);
	assert_int_equal(plugin->n_options, 3);
	assert_string_equal(plugin->options[0].key, "url");
	assert_false(plugin->options[0].required);   /* url or path */
	assert_string_equal(plugin->options[1].key, "path");
	assert_int_equal(plugin->options[1].type, VIGIL_OPT_PATH);
	assert_string_equal(plugin->options[2].key, "max_items");
	assert_int_equal(plugin->options[2].type, VIGIL_OPT_INT);
	assert_string_equal(plugin->options[2].default_value, "0");
}

static void test_maps_every_field(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_body(f,
		"{\"id\":\"r2-1\",\"title\":\"DeepSeek R2 delayed\",\"summary\":\"Ascend training failed\","
		"\"content\":\"Long text\",\"author\":\"Reuters\",\"link\":\"https://example.org/r2\","
		"\"lang\":\"ar\",\"feed_title\":\"Tech\",\"categories\":[\"ai\",\"chips\",7,\"export\"],"
		"\"published\":\"2026-11-29T10:00:00Z\",\"updated\":1795946400,"
		"\"price\":172.5,\"volume\":1200000,\"symbol\":\"NVDA\",\"formType\":\"8-K\","
		"\"Document-Number\":\"2026-12345\",\"flag\":true,\"nested\":{\"a\":1},"
		"\"list\":[1,2],\"nothing\":null}\n");
	assert_int_equal(r->error, 0);
	assert_null(r->message);
	assert_int_equal(mock_host_n_items(f->mh), 1);

	const struct vigil_item *it = mock_host_item(f->mh, 0);
	assert_string_equal(it->id, "r2-1");
	assert_string_equal(it->title, "DeepSeek R2 delayed");
	assert_string_equal(it->summary, "Ascend training failed");
	assert_string_equal(it->content, "Long text");
	assert_string_equal(it->author, "Reuters");
	assert_string_equal(it->link, "https://example.org/r2");
	assert_string_equal(it->lang, "ar");
	assert_string_equal(it->feed_title, "Tech");
	assert_int_equal(it->n_categories, 3);
	assert_string_equal(it->categories[0], "ai");
	assert_string_equal(it->categories[1], "chips");
	assert_string_equal(it->categories[2], "export");
	assert_int_equal(it->published, 1795946400);
	assert_int_equal(it->updated, 1795946400);

	/* Strings and numbers become typed fields; names in lower_snake_case. */
	assert_int_equal(it->n_fields, 5);
	const struct vigil_field *fl = mock_item_field(it, "price");
	assert_non_null(fl);
	assert_int_equal(fl->type, VIGIL_FIELD_NUMBER);
	assert_true(fl->number == 172.5);
	fl = mock_item_field(it, "volume");
	assert_non_null(fl);
	assert_int_equal(fl->type, VIGIL_FIELD_NUMBER);
	assert_true(fl->number == 1200000);
	fl = mock_item_field(it, "symbol");
	assert_non_null(fl);
	assert_int_equal(fl->type, VIGIL_FIELD_STRING);
	assert_string_equal(fl->string, "NVDA");
	fl = mock_item_field(it, "form_type");
	assert_non_null(fl);
	assert_string_equal(fl->string, "8-K");
	fl = mock_item_field(it, "document_number");
	assert_non_null(fl);
	assert_string_equal(fl->string, "2026-12345");
	/* Booleans, objects, arrays and null are not fields. */
	assert_null(mock_item_field(it, "flag"));
	assert_null(mock_item_field(it, "nested"));
	assert_null(mock_item_field(it, "list"));
	assert_null(mock_item_field(it, "nothing"));
}

static void test_absent_fields_and_integer_id(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_body(f,
		"{\"id\":12345,\"title\":7,\"categories\":\"single\"}\n{}\n");
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 2);
	const struct vigil_item *it = mock_host_item(f->mh, 0);
	assert_string_equal(it->id, "12345");
	assert_null(it->title);         /* a number is not a title */
	assert_null(it->summary);
	assert_int_equal(it->n_categories, 1);
	assert_string_equal(it->categories[0], "single");
	assert_true(it->published == VIGIL_TIME_NONE);
	assert_true(it->updated == VIGIL_TIME_NONE);
	assert_int_equal(it->n_fields, 0);
	it = mock_host_item(f->mh, 1);
	assert_null(it->id);
	assert_int_equal(it->n_categories, 0);
}

struct date_case {
	const char *json;            /* the value of "published" */
	int64_t want;
};

static void test_dates(void **ts)
{
	struct fixture *f = *ts;
	static const struct date_case cases[] = {
		{ "\"2026-11-29T10:00:00Z\"", 1795946400 },
		{ "\"2026-11-29t10:00:00z\"", 1795946400 },
		{ "\"2026-11-29 10:00:00Z\"", 1795946400 },
		{ "\"2026-11-29T13:00:00+03:00\"", 1795946400 },
		{ "\"2026-11-29T04:30:00-05:30\"", 1795946400 },
		{ "\"2026-11-29T10:00:00.123456Z\"", 1795946400 },
		{ "\"2026-11-29T11:00:00.5+0100\"", 1795946400 },
		{ "\"2026-11-29T10:00:00-00:00\"", 1795946400 },
		{ "\"2024-02-29T00:00:00Z\"", 1709164800 },
		{ "\"1970-01-01T00:00:00Z\"", 0 },
		{ "\"1969-12-31T23:59:59Z\"", -1 },
		{ "1795946400", 1795946400 },
		{ "1795946400.9", 1795946400 },
		{ "0", 0 },
		/* Unknown, never wrong: */
		{ "\"2026-02-29T10:00:00Z\"", VIGIL_TIME_NONE },    /* not a leap year */
		{ "\"2026-11-31T10:00:00Z\"", VIGIL_TIME_NONE },
		{ "\"2026-13-01T10:00:00Z\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T24:00:00Z\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:60:00Z\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:00:00\"", VIGIL_TIME_NONE },     /* no zone */
		{ "\"2026-11-29\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:00Z\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:00:00+3:00\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:00:00+24:00\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:00:00Z junk\"", VIGIL_TIME_NONE },
		{ "\"2026-11-29T10:00:00.Z\"", VIGIL_TIME_NONE },
		{ "\"Sat, 29 Nov 2026 10:00:00 GMT\"", VIGIL_TIME_NONE },
		{ "\"yesterday\"", VIGIL_TIME_NONE },
		{ "\"\"", VIGIL_TIME_NONE },
		{ "\"1795946400\"", VIGIL_TIME_NONE },
		{ "1795946400000", VIGIL_TIME_NONE },                /* milliseconds */
		{ "true", VIGIL_TIME_NONE },
		{ "null", VIGIL_TIME_NONE },
	};
	size_t n = sizeof cases / sizeof cases[0];
	char body[8192] = "";
	for (size_t i = 0; i < n; i++) {
		char line[128];
		snprintf(line, sizeof line, "{\"id\":\"%zu\",\"published\":%s}\n", i, cases[i].json);
		strcat(body, line);
	}
	const struct mock_poll_result *r = poll_body(f, body);
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), n);
	for (size_t i = 0; i < n; i++) {
		const struct vigil_item *it = mock_host_item(f->mh, i);
		if (it->published != cases[i].want)
			fail_msg("published %s: got %lld, want %lld", cases[i].json,
			         (long long)it->published, (long long)cases[i].want);
	}
}

static void test_blank_lines_and_crlf(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_body(f,
		"\xEF\xBB\xBF{\"id\":\"a\"}\r\n\r\n   \n\t\n{\"id\":\"b\"}\r\n\n{\"id\":\"c\"}");
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 3);
	assert_string_equal(mock_host_item(f->mh, 0)->id, "a");
	assert_string_equal(mock_host_item(f->mh, 1)->id, "b");
	assert_string_equal(mock_host_item(f->mh, 2)->id, "c");
}

static void test_empty_body_is_fine(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_body(f, "");
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 0);
	r = poll_body(f, "\n\n  \n");
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 0);
}

static void test_bad_lines(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_body(f,
		"{\"id\":\"a\"}\n"
		"\n"
		"{\"id\":\"b\",}\n"         /* line 3: trailing comma */
		"{\"id\":\"c\"}\n"
		"[1,2]\n"                   /* line 5: not an object */
		"{\"id\":\"d\"}\n");
	assert_int_equal(r->error, -EBADMSG);
	assert_non_null(r->message);
	if (!strstr(r->message, "2 of 5 lines are not valid JSON (first: line 3: "))
		fail_msg("message: %s", r->message);
	/* The good lines still count. */
	assert_int_equal(mock_host_n_items(f->mh), 3);
	assert_string_equal(mock_host_item(f->mh, 0)->id, "a");
	assert_string_equal(mock_host_item(f->mh, 1)->id, "c");
	assert_string_equal(mock_host_item(f->mh, 2)->id, "d");
	/* Each bad line is named in a warning. */
	const struct mock_log *l = mock_host_find_log(f->mh, VIGIL_LOG_WARNING, "line 3:");
	assert_non_null(l);
	assert_int_equal(l->level, VIGIL_LOG_WARNING);
	l = mock_host_find_log(f->mh, VIGIL_LOG_WARNING, "line 5:");
	assert_non_null(l);
	assert_non_null(strstr(l->text, "expected a JSON object, got an array"));
}

static void test_nothing_valid_is_an_error(void **ts)
{
	struct fixture *f = *ts;
	mock_host_add_response(f->mh, &(struct mock_response){
		.url = URL,
		.status = 200,
		.body = "<!DOCTYPE html>\n<html><body>Please enable JavaScript</body></html>\n",
		.content_type = "text/html",
	});
	create(f);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	mock_host_run(f->mh);
	assert_int_equal(mock_host_n_polls_done(f->mh), 1);
	const struct mock_poll_result *r = mock_host_poll_result(f->mh, 0);
	assert_int_equal(r->error, -EBADMSG);
	if (!strstr(r->message, "2 of 2 lines are not valid JSON (first: line 1: ") ||
	    !strstr(r->message, "text/html"))
		fail_msg("message: %s", r->message);
	assert_int_equal(mock_host_n_items(f->mh), 0);
}

static void test_many_bad_lines_log_a_few(void **ts)
{
	struct fixture *f = *ts;
	char body[4096] = "";
	for (int i = 0; i < 50; i++)
		strcat(body, "nope\n");
	strcat(body, "{\"id\":\"ok\"}\n");
	const struct mock_poll_result *r = poll_body(f, body);
	assert_int_equal(r->error, -EBADMSG);
	if (!strstr(r->message, "50 of 51 lines are not valid JSON (first: line 1: "))
		fail_msg("message: %s", r->message);
	assert_int_equal(mock_host_n_items(f->mh), 1);
	assert_true(mock_host_n_logs(f->mh) <= 10);
}

static void test_max_items(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "max_items", "2");
	const struct mock_poll_result *r = poll_body(f,
		"{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\":\"3\"}\n{\"id\":\"4\"}\n");
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 2);
	assert_string_equal(mock_host_item(f->mh, 0)->id, "1");
	assert_string_equal(mock_host_item(f->mh, 1)->id, "2");
}

static void test_host_cap_is_reported(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_emit_limit(f->mh, 2);
	const struct mock_poll_result *r = poll_body(f,
		"{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\":\"3\"}\n");
	assert_int_equal(r->error, -ENOSPC);
	assert_non_null(strstr(r->message, "max_items"));
	assert_int_equal(mock_host_n_items(f->mh), 2);
}

static void test_request_is_conditional_get(void **ts)
{
	struct fixture *f = *ts;
	poll_body(f, "{\"id\":\"1\"}\n");
	assert_int_equal(mock_host_n_requests(f->mh), 1);
	const struct mock_request *q = mock_host_request(f->mh, 0);
	assert_string_equal(q->url, URL);
	assert_true(q->method == NULL || !strcmp(q->method, "GET"));
	assert_null(q->body);
	assert_true(q->flags & VIGIL_HTTP_CONDITIONAL);
}

static void test_not_modified(void **ts)
{
	struct fixture *f = *ts;
	mock_host_add_response(f->mh, &(struct mock_response){ .url = URL, .not_modified = true });
	create(f);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	mock_host_run(f->mh);
	assert_int_equal(mock_host_n_polls_done(f->mh), 1);
	assert_int_equal(mock_host_poll_result(f->mh, 0)->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 0);
}

static const struct mock_poll_result *poll_response(struct fixture *f,
                                                    const struct mock_response *resp)
{
	mock_host_add_response(f->mh, resp);
	if (!f->state)
		create(f);
	size_t before = mock_host_n_polls_done(f->mh);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	mock_host_run(f->mh);
	assert_int_equal(mock_host_n_polls_done(f->mh), before + 1);
	return mock_host_poll_result(f->mh, before);
}

static void test_http_errors(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_response(f, &(struct mock_response){
		.url = URL, .status = 500, .body = "{\"id\":\"not this\"}\n" });
	assert_int_equal(r->error, -EIO);
	assert_string_equal(r->message, "HTTP 500 from " URL);

	r = poll_response(f, &(struct mock_response){ .url = URL, .status = 403 });
	assert_int_equal(r->error, -EIO);
	assert_non_null(strstr(r->message, "HTTP 403 from " URL));
	assert_non_null(strstr(r->message, "user_agent"));

	r = poll_response(f, &(struct mock_response){
		.url = URL, .status = 429, .retry_after = 120 });
	assert_int_equal(r->error, -EIO);
	assert_non_null(strstr(r->message, "HTTP 429 from " URL " (retry after 120 s)"));

	r = poll_response(f, &(struct mock_response){
		.url = URL, .error = VIGIL_HTTP_E_CONNECT,
		.error_text = "Failed to connect to feeds.example.org port 443: Connection refused" });
	assert_int_equal(r->error, -EIO);
	assert_string_equal(r->message, "fetch failed: Failed to connect to feeds.example.org "
	                    "port 443: Connection refused");

	assert_int_equal(mock_host_n_items(f->mh), 0);
}

static void test_file_url(void **ts)
{
	struct fixture *f = *ts;
	/* The daemon fetches the source's own file:// URL and reports it as a 200. */
	mock_host_set_option(f->mh, "url", "file:///srv/feed.jsonl");
	create(f);
	const struct mock_poll_result *r = poll_response(f, &(struct mock_response){
		.url = "file:///srv/feed.jsonl", .status = 200, .body = "{\"id\":\"f\"}\n" });
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 1);
	assert_string_equal(mock_host_request(f->mh, 0)->url, "file:///srv/feed.jsonl");
}

static void test_path_becomes_file_url(void **ts)
{
	(void)ts;
	struct mock_host *mh = mock_host_new("local", (const struct vigil_kv[]){
		{ "path", "/srv/my feeds/ä.jsonl" },
		{ NULL, NULL },
	});
	void *state = NULL;
	assert_int_equal(mock_host_create(mh, plugin, &state), 0);
	mock_host_add_response(mh, &(struct mock_response){
		.url = "file:///srv/my%20feeds/%C3%A4.jsonl", .status = 200, .body = "{\"id\":\"p\"}\n" });
	assert_int_equal(mock_host_poll(mh, plugin, state), 0);
	mock_host_run(mh);
	assert_string_equal(mock_host_request(mh, 0)->url, "file:///srv/my%20feeds/%C3%A4.jsonl");
	assert_int_equal(mock_host_n_items(mh), 1);
	plugin->methods->destroy(state);
	assert_int_equal(mock_host_violations(mh), 0);
	mock_host_free(mh);
}

static void test_url_xor_path(void **ts)
{
	(void)ts;
	struct mock_host *both = mock_host_new("both", (const struct vigil_kv[]){
		{ "url", URL }, { "path", "/srv/feed.jsonl" }, { NULL, NULL },
	});
	struct mock_host *none = mock_host_new("none", (const struct vigil_kv[]){ { NULL, NULL } });
	void *state = NULL;
	assert_int_equal(mock_host_create(both, plugin, &state), -EINVAL);
	assert_int_equal(mock_host_create(none, plugin, &state), -EINVAL);
	mock_host_free(both);
	mock_host_free(none);
}

static void test_destroy_cancels_request(void **ts)
{
	struct fixture *f = *ts;
	mock_host_add_response(f->mh, &(struct mock_response){
		.url = URL, .status = 200, .body = "{\"id\":\"late\"}\n" });
	create(f);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	plugin->methods->destroy(f->state);
	f->state = NULL;
	assert_true(mock_host_request(f->mh, 0)->cancelled);
	mock_host_run(f->mh);
	assert_int_equal(mock_host_n_items(f->mh), 0);
	assert_int_equal(mock_host_n_polls_done(f->mh), 0);
}

static void test_polls_again(void **ts)
{
	struct fixture *f = *ts;
	poll_body(f, "{\"id\":\"1\"}\n");
	const struct mock_poll_result *r = poll_body(f, "{\"id\":\"2\"}\n");
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_requests(f->mh), 2);
	assert_int_equal(mock_host_n_items(f->mh), 2);
	/* destroy after a finished poll must not cancel the spent call (the mock checks). */
}

static int group_setup(void **ts)
{
	(void)ts;
	plugin = mock_load_plugin("jsonl", plugin_dir_arg);
	return plugin ? 0 : -1;
}

int main(int argc, char **argv)
{
	plugin_dir_arg = argc > 1 ? argv[1] : NULL;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor),
		T(test_maps_every_field),
		T(test_absent_fields_and_integer_id),
		T(test_dates),
		T(test_blank_lines_and_crlf),
		T(test_empty_body_is_fine),
		T(test_bad_lines),
		T(test_nothing_valid_is_an_error),
		T(test_many_bad_lines_log_a_few),
		T(test_max_items),
		T(test_host_cap_is_reported),
		T(test_request_is_conditional_get),
		T(test_not_modified),
		T(test_http_errors),
		T(test_file_url),
		cmocka_unit_test(test_path_becomes_file_url),
		cmocka_unit_test(test_url_xor_path),
		T(test_destroy_cancels_request),
		T(test_polls_again),
	};
#undef T
	return cmocka_run_group_tests_name("plugin-jsonl", tests, group_setup, NULL);
}
