/* test-plugin-webhook.c - the `webhook` sink through the mock host: bodies, escaping, signatures, results, secrets */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mock-host.h"

#define TOKEN "T0KEN-b4d5e6f7a8"
#define URL "https://hooks.example.org/services/" TOKEN
#define HOST_LABEL "hooks.example.org"
#define SECRET_B64 "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KEY "msg_0123456789abcdef0123456789abcdef"

/* Quotes, backslash, newline, a closing script tag, template braces, a
 * control character and bytes that are not UTF-8 (0xFF, 0xFE, a lone lead). */
#define HOSTILE "Quote \" back\\slash\nnew </script> {{rule}} & <b>\x01 bad:\xff\xfe end\xc3"
/* The same after UTF-8 repair: each bad sequence became U+FFFD. */
#define HOSTILE_FIXED "Quote \" back\\slash\nnew </script> {{rule}} & <b>\x01 bad:" \
                      "\xEF\xBF\xBD\xEF\xBF\xBD end\xEF\xBF\xBD"

static const struct vigil_plugin *plugin;
static const char *plugin_dir_arg;

struct fixture {
	char dir[64];
	struct mock_host *mh;
	void *state;
};

static int setup(void **ts)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/vigil-webhook-XXXXXX",
	         tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	f->mh = mock_host_new("hook", NULL);
	mock_host_set_plugin(f->mh, plugin);
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
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

/* Write dir/name with `text` (mode 0600); returns the path (static buffer per call site). */
static char *write_file(struct fixture *f, const char *name, const char *text, size_t len)
{
	char *path = malloc(160);
	assert_non_null(path);
	snprintf(path, 160, "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	fclose(fp);
	chmod(path, 0600);
	return path;
}

static void set_file_option(struct fixture *f, const char *key, const char *name,
                            const char *text)
{
	char *path = write_file(f, name, text, strlen(text));
	mock_host_set_option(f->mh, key, path);
	free(path);
}

static void make(struct fixture *f)
{
	assert_int_equal(mock_host_create(f->mh, plugin, &f->state), 0);
}

/* create() must fail with `err`, logging an error that contains `needle`. */
static void make_fails(struct fixture *f, int err, const char *needle)
{
	assert_int_equal(mock_host_create(f->mh, plugin, &f->state), err);
	f->state = NULL;
	const struct mock_log *l = mock_host_find_log(f->mh, VIGIL_LOG_ERROR, needle);
	if (!l) {
		for (size_t i = 0; i < mock_host_n_logs(f->mh); i++)
			fprintf(stderr, "log: %s\n", mock_host_log(f->mh, i)->text);
		fail_msg("no error log containing \"%s\"", needle);
	}
}

/* ---- alerts ---- */

struct test_alert {
	struct vigil_item item;
	struct vigil_alert alert;
	struct vigil_field fields[2];
	const char *cats[2];
};

static void alert_init(struct test_alert *t, const char *title)
{
	memset(t, 0, sizeof *t);
	t->item = (struct vigil_item)VIGIL_ITEM_INIT;
	t->item.id = "item-1";
	t->item.title = title;
	t->item.summary = "A summary of the story.";
	t->item.link = "https://news.example/a?x=1&y=2";
	t->item.published = 1767225600;
	t->cats[0] = "world";
	t->cats[1] = "tech";
	t->item.categories = t->cats;
	t->item.n_categories = 2;
	t->fields[0] = (struct vigil_field){ .name = "price", .type = VIGIL_FIELD_NUMBER,
	                                     .number = 42 };
	t->fields[1] = (struct vigil_field){ .name = "form_type", .type = VIGIL_FIELD_STRING,
	                                     .string = "8-K" };
	t->item.fields = t->fields;
	t->item.n_fields = 2;
	t->alert = (struct vigil_alert){
		.size = sizeof t->alert,
		.id = 7,
		.rule = "chip exports",
		.severity = "high",
		.source = "news",
		.reason = "title: \"export\" at 0..6",
		.story_key = "https://news.example/a",
		.created = 1767225660,
		.item = &t->item,
		.json = "{\"version\":1,\"id\":7,\"rule\":\"chip exports\",\"item\":{\"title\":\"x\"},"
		        "\"sources\":[{\"source\":\"news\",\"link\":\"https://news.example/a\"},"
		        "{\"source\":\"wire\",\"link\":\"https://wire.example/b\"}]}",
		.idempotency_key = KEY,
		.attempt = 1,
	};
}

/* Deliver; returns the new request (not yet answered). */
static const struct mock_request *deliver(struct fixture *f, const struct vigil_alert *alert,
                                          struct vigil_delivery **token)
{
	size_t before = mock_host_n_requests(f->mh);
	struct vigil_delivery *d = mock_host_delivery(f->mh);
	assert_int_equal(plugin->methods->deliver(f->state, alert, d), 0);
	if (token)
		*token = d;
	assert_int_equal(mock_host_n_requests(f->mh), before + 1);
	return mock_host_request(f->mh, before);
}

static const char *header(const struct mock_request *r, const char *name)
{
	const char *found = NULL;
	for (size_t i = 0; i < r->n_headers; i++) {
		if (!strcasecmp(r->headers[i].key, name)) {
			assert_null(found);  /* never twice */
			found = r->headers[i].value;
		}
	}
	return found;
}

static json_t *body_json(const struct mock_request *r)
{
	assert_non_null(r->body);
	json_error_t err;
	json_t *j = json_loadb(r->body, r->body_len, 0, &err);
	if (!j)
		fail_msg("body is not JSON (%s): %.*s", err.text, (int)r->body_len, r->body);
	return j;
}

static const char *jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	if (!s)
		fail_msg("no string member \"%s\"", key);
	return s;
}

/* UTF-16 code units of valid UTF-8, as Discord and Slack count (conservatively). */
static size_t units(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n += *p >= 0xF0 ? 2 : 1;
	return n;
}

/* ---- an independent Standard Webhooks signature ---- */

static char *expected_signature(const unsigned char *key, size_t key_len, const char *id,
                                const char *ts, const char *body, size_t body_len)
{
	size_t n = strlen(id) + strlen(ts) + 2 + body_len;
	char *msg = malloc(n + 1);
	assert_non_null(msg);
	int h = sprintf(msg, "%s.%s.", id, ts);
	memcpy(msg + h, body, body_len);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len;
	assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (unsigned char *)msg, n, mac,
	                     &mac_len));
	free(msg);
	char *out = malloc(8 + 4 * ((mac_len + 2) / 3) + 1);
	assert_non_null(out);
	strcpy(out, "v1,");
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	return out;
}

static void test_signature_reference_vector(void **ts)
{
	(void)ts;
	/* The example of the Standard Webhooks specification: checks our checker. */
	unsigned char key[64];
	int n = EVP_DecodeBlock(key, (const unsigned char *)SECRET_B64, (int)strlen(SECRET_B64));
	assert_int_equal(n, 24);
	const char *body = "{\"test\": 2432232314}";
	char *sig = expected_signature(key, 24, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	                               body, strlen(body));
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	free(sig);
}

/* ---- tests ---- */

static void test_descriptor(void **ts)
{
	(void)ts;
	static const char *const keys[] = {
		"url", "url_file", "url_credential", "format", "topic", "template", "secret_file",
		"secret_credential", "headers", "timeout",
	};
	assert_string_equal(plugin->name, "webhook");
	assert_int_equal(plugin->kind, VIGIL_PLUGIN_SINK);
	assert_non_null(plugin->methods->deliver);
	assert_int_equal(plugin->n_options, sizeof keys / sizeof keys[0]);
	for (size_t i = 0; i < plugin->n_options; i++) {
		assert_string_equal(plugin->options[i].key, keys[i]);
		assert_non_null(plugin->options[i].description);
		assert_true(strlen(plugin->options[i].description) > 20);
		assert_false(plugin->options[i].required);
	}
	assert_string_equal(plugin->options[3].default_value, "json");
	assert_int_equal(plugin->options[9].type, VIGIL_OPT_DURATION);
	assert_string_equal(plugin->options[9].default_value, "30s");
	assert_int_equal(plugin->options[8].type, VIGIL_OPT_MAP);
}

static void test_json_format_is_the_alert_json(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	make(f);
	struct test_alert t;
	alert_init(&t, "Title");
	time_t before = time(NULL);
	const struct mock_request *r = deliver(f, &t.alert, NULL);

	assert_string_equal(r->url, URL);
	assert_string_equal(r->method, "POST");
	assert_true(r->flags & VIGIL_HTTP_SECRET_URL);
	assert_int_equal(r->timeout_ms, 30000);
	assert_int_equal(r->body_len, strlen(t.alert.json));
	assert_memory_equal(r->body, t.alert.json, r->body_len);
	assert_string_equal(header(r, "Content-Type"), "application/json");
	assert_string_equal(header(r, "webhook-id"), KEY);
	long long stamp = atoll(header(r, "webhook-timestamp"));
	assert_true(stamp >= before && stamp <= time(NULL) + 1);
	assert_null(header(r, "webhook-signature"));   /* no secret: unsigned */
}

static void test_timeout_and_headers(void **ts)
{
	struct fixture *f = *ts;
	static const struct vigil_kv extra[] = {
		{ "Authorization", "Bearer abc" }, { "X-Team", "ops" },
		{ "Content-Type", "application/json; charset=utf-8" },
	};
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "timeout", "5s");
	mock_host_set_map(f->mh, "headers", extra, 3);
	make(f);
	struct test_alert t;
	alert_init(&t, "Title");
	const struct mock_request *r = deliver(f, &t.alert, NULL);
	assert_int_equal(r->timeout_ms, 5000);
	assert_string_equal(header(r, "Authorization"), "Bearer abc");
	assert_string_equal(header(r, "X-Team"), "ops");
	/* The user's Content-Type replaces ours rather than doubling it. */
	assert_string_equal(header(r, "Content-Type"), "application/json; charset=utf-8");
}

static void test_reserved_and_broken_headers_are_refused(void **ts)
{
	struct fixture *f = *ts;
	static const struct vigil_kv reserved[] = { { "Webhook-Signature", "v1,forged" } };
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_map(f->mh, "headers", reserved, 1);
	make_fails(f, -EINVAL, "Webhook-Signature is set by the webhook sink itself");

	static const struct vigil_kv split[] = { { "X-A", "one\r\nX-B: two" } };
	mock_host_set_map(f->mh, "headers", split, 1);
	make_fails(f, -EINVAL, "must be one line");
}

static void test_signature_matches_and_id_is_stable(void **ts)
{
	struct fixture *f = *ts;
	set_file_option(f, "url_file", "url", URL "\n");
	set_file_option(f, "secret_file", "secret", "whsec_" SECRET_B64 "\n");
	make(f);
	unsigned char key[64];
	assert_int_equal(EVP_DecodeBlock(key, (const unsigned char *)SECRET_B64,
	                                 (int)strlen(SECRET_B64)), 24);

	struct test_alert t;
	alert_init(&t, "Signed");
	for (uint32_t attempt = 1; attempt <= 2; attempt++) {
		t.alert.attempt = attempt;
		const struct mock_request *r = deliver(f, &t.alert, NULL);
		assert_string_equal(r->url, URL);
		assert_string_equal(header(r, "webhook-id"), KEY);
		char *want = expected_signature(key, 24, KEY, header(r, "webhook-timestamp"),
		                                r->body, r->body_len);
		assert_string_equal(header(r, "webhook-signature"), want);
		free(want);
	}
}

static void test_raw_secret_is_used_as_bytes(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	set_file_option(f, "secret_file", "secret", "plain-shared-secret\r\n");
	make(f);
	struct test_alert t;
	alert_init(&t, "Raw");
	const struct mock_request *r = deliver(f, &t.alert, NULL);
	const char *raw = "plain-shared-secret";
	char *want = expected_signature((const unsigned char *)raw, strlen(raw), KEY,
	                                header(r, "webhook-timestamp"), r->body, r->body_len);
	assert_string_equal(header(r, "webhook-signature"), want);
	free(want);
}

static void test_slack_shape(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "format", "slack");
	make(f);
	struct test_alert t;
	alert_init(&t, "Chips & <b>exports</b>");
	const struct mock_request *r = deliver(f, &t.alert, NULL);
	json_t *j = body_json(r);

	/* Incoming webhooks: "text" (notification fallback) plus Block Kit "blocks". */
	const char *text = jstr(j, "text");
	assert_non_null(strstr(text, "Chips &amp; &lt;b&gt;exports&lt;/b&gt;"));
	assert_non_null(strstr(text, "[HIGH]"));
	json_t *blocks = json_object_get(j, "blocks");
	assert_true(json_is_array(blocks));
	assert_true(json_array_size(blocks) >= 2);

	json_t *section = json_array_get(blocks, 0);
	assert_string_equal(jstr(section, "type"), "section");
	json_t *stext = json_object_get(section, "text");
	assert_string_equal(jstr(stext, "type"), "mrkdwn");
	assert_non_null(strstr(jstr(stext, "text"),
	                       "*<https://news.example/a?x=1&amp;y=2|Chips &amp; &lt;b&gt;exports"
	                       "&lt;/b&gt;>*\nA summary of the story."));
	assert_true(units(jstr(stext, "text")) <= 3000);

	json_t *context = json_array_get(blocks, 1);
	assert_string_equal(jstr(context, "type"), "context");
	json_t *elements = json_object_get(context, "elements");
	assert_true(json_array_size(elements) >= 3 && json_array_size(elements) <= 10);
	size_t i;
	json_t *el;
	bool saw_rule = false;
	json_array_foreach(elements, i, el) {
		assert_string_equal(jstr(el, "type"), "mrkdwn");
		if (strstr(jstr(el, "text"), "*Rule:* chip exports"))
			saw_rule = true;
	}
	assert_true(saw_rule);

	/* The story came from two sources: both are linked. */
	json_t *more = json_array_get(blocks, 2);
	assert_string_equal(jstr(more, "type"), "context");
	const char *also = jstr(json_array_get(json_object_get(more, "elements"), 0), "text");
	assert_non_null(strstr(also, "<https://wire.example/b|wire>"));
	json_decref(j);
}

static void test_discord_shape_and_limits(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "format", "discord");
	make(f);

	/* A title and summary far over Discord's limits, with 4-byte characters. */
	size_t big = 12000;
	char *title = malloc(big + 1), *summary = malloc(big + 1);
	assert_non_null(title);
	assert_non_null(summary);
	for (size_t i = 0; i < big; i += 4)
		memcpy(title + i, "\xF0\x9F\x9A\xA8", 4);   /* U+1F6A8 */
	title[big] = '\0';
	memset(summary, 's', big);
	summary[big] = '\0';
	/* Long rule, source and reason too: the fields alone then pass 3000
	 * characters, so the description must give way to the 6000 total. */
	char *longtext = malloc(3001);
	assert_non_null(longtext);
	memset(longtext, 'r', 3000);
	longtext[3000] = '\0';
	struct test_alert t;
	alert_init(&t, title);
	t.item.summary = summary;
	t.alert.rule = longtext;
	t.alert.source = longtext;
	t.alert.reason = longtext;
	const struct mock_request *r = deliver(f, &t.alert, NULL);
	json_t *j = body_json(r);

	assert_true(units(jstr(j, "content")) <= 2000);
	json_t *mentions = json_object_get(j, "allowed_mentions");
	assert_int_equal(json_array_size(json_object_get(mentions, "parse")), 0);
	assert_true(json_is_array(json_object_get(mentions, "parse")));
	json_t *embeds = json_object_get(j, "embeds");
	assert_int_equal(json_array_size(embeds), 1);
	json_t *e = json_array_get(embeds, 0);
	size_t total = units(jstr(e, "title")) + units(jstr(e, "description"));
	assert_true(units(jstr(e, "title")) <= 256);
	assert_true(units(jstr(e, "description")) <= 4096);
	assert_string_equal(jstr(e, "url"), "https://news.example/a?x=1&y=2");
	assert_true(json_is_integer(json_object_get(e, "color")));
	assert_string_equal(jstr(e, "timestamp"), "2026-01-01T00:01:00Z");
	json_t *footer = json_object_get(e, "footer");
	total += units(jstr(footer, "text"));
	assert_true(units(jstr(footer, "text")) <= 2048);
	json_t *fields = json_object_get(e, "fields");
	assert_true(json_array_size(fields) >= 3 && json_array_size(fields) <= 25);
	size_t i;
	json_t *fl;
	json_array_foreach(fields, i, fl) {
		assert_true(units(jstr(fl, "name")) <= 256);
		assert_true(units(jstr(fl, "value")) <= 1024);
		assert_true(strlen(jstr(fl, "value")) > 0);
		assert_true(json_is_boolean(json_object_get(fl, "inline")));
		total += units(jstr(fl, "name")) + units(jstr(fl, "value"));
	}
	assert_true(total <= 6000);
	assert_true(total > 5900);   /* the description took what was left */
	assert_string_equal(jstr(json_array_get(fields, 0), "name"), "Rule");
	assert_int_equal(units(jstr(json_array_get(fields, 0), "value")), 1024);
	json_decref(j);
	free(title);
	free(summary);
	free(longtext);
}

static void test_ntfy_shape_and_priorities(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", "https://ntfy.example.org/");
	mock_host_set_option(f->mh, "format", "ntfy");
	mock_host_set_option(f->mh, "topic", "vigil-alerts");
	make(f);
	static const struct {
		const char *severity;
		int priority;
	} cases[] = { { "low", 2 }, { "normal", 3 }, { "high", 4 }, { "critical", 5 } };
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct test_alert t;
		alert_init(&t, "Export rules");
		t.alert.severity = cases[c].severity;
		const struct mock_request *r = deliver(f, &t.alert, NULL);
		/* JSON publishing goes to the server root, the topic in the body. */
		assert_string_equal(r->url, "https://ntfy.example.org/");
		json_t *j = body_json(r);
		assert_string_equal(jstr(j, "topic"), "vigil-alerts");
		assert_string_equal(jstr(j, "title"), "Export rules");
		assert_non_null(strstr(jstr(j, "message"), "A summary of the story."));
		assert_int_equal(json_integer_value(json_object_get(j, "priority")),
		                 cases[c].priority);
		json_t *tags = json_object_get(j, "tags");
		assert_true(json_is_array(tags) && json_array_size(tags) >= 1);
		size_t i;
		json_t *tag;
		json_array_foreach(tags, i, tag)
			assert_true(json_is_string(tag));
		assert_string_equal(jstr(j, "click"), "https://news.example/a?x=1&y=2");
		json_decref(j);
	}
}

static void test_ntfy_needs_a_topic(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", "https://ntfy.example.org/");
	mock_host_set_option(f->mh, "format", "ntfy");
	make_fails(f, -EINVAL, "needs `topic:`");
}

static void test_unknown_format(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "format", "teams");
	make_fails(f, -EINVAL, "format \"teams\" is not one of json, slack, discord, ntfy, "
	           "template");
}

static void test_template_renders_escaped_values(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "format", "template");
	set_file_option(f, "template", "t.json",
	                "{\"text\": \"{{rule}}: {{ item.title }}\",\n"
	                " \"link\": \"{{item.link}}\", \"why\": \"{{reason}}\",\n"
	                " \"id\": {{id}}, \"sev\": \"{{severity}}\", \"price\": \"{{item.fields.price}}\",\n"
	                " \"form\": \"{{item.fields.form_type}}\", \"none\": \"{{item.fields.nope}}\",\n"
	                " \"cats\": \"{{item.categories}}\", \"at\": \"{{item.published}}\",\n"
	                " \"alert\": {{json}}}\n");
	make(f);
	struct test_alert t;
	alert_init(&t, HOSTILE);
	const struct mock_request *r = deliver(f, &t.alert, NULL);
	json_t *j = body_json(r);
	char want[256];
	snprintf(want, sizeof want, "chip exports: %s", HOSTILE_FIXED);
	assert_string_equal(jstr(j, "text"), want);
	assert_string_equal(jstr(j, "link"), "https://news.example/a?x=1&y=2");
	assert_string_equal(jstr(j, "why"), "title: \"export\" at 0..6");
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
	assert_string_equal(jstr(j, "sev"), "high");
	assert_string_equal(jstr(j, "price"), "42");
	assert_string_equal(jstr(j, "form"), "8-K");
	assert_string_equal(jstr(j, "none"), "");
	assert_string_equal(jstr(j, "cats"), "world, tech");
	assert_string_equal(jstr(j, "at"), "2026-01-01T00:00:00Z");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "alert"), "id")), 7);
	json_decref(j);
}

static void test_template_errors_name_the_position(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "format", "template");
	char *path = write_file(f, "bad.json", "{\"a\": \"{{rule}}\",\n  \"b\": \"x {{item.titel}}\"}",
	                        strlen("{\"a\": \"{{rule}}\",\n  \"b\": \"x {{item.titel}}\"}"));
	mock_host_set_option(f->mh, "template", path);
	char needle[200];
	snprintf(needle, sizeof needle, "%s:2:11: unknown placeholder {{item.titel}}", path);
	make_fails(f, -EINVAL, needle);
	free(path);

	path = write_file(f, "open.json", "{\"a\": \"{{rule\"}", strlen("{\"a\": \"{{rule\"}"));
	mock_host_set_option(f->mh, "template", path);
	snprintf(needle, sizeof needle, "%s:1:8: `{{` without a closing `}}`", path);
	make_fails(f, -EINVAL, needle);
	free(path);

	/* A placeholder outside quotes does not give JSON. */
	path = write_file(f, "bare.json", "{\"a\": {{item.title}}}", strlen("{\"a\": {{item.title}}}"));
	mock_host_set_option(f->mh, "template", path);
	make_fails(f, -EINVAL, "the template does not render to JSON");
	free(path);

	mock_host_set_option(f->mh, "template", "/nonexistent/t.json");
	make_fails(f, -ENOENT, "template /nonexistent/t.json: cannot read it");
}

/* Every format: hostile item text gives valid JSON that carries it intact. */
static void test_hostile_text_in_every_format(void **ts)
{
	struct fixture *f = *ts;
	static const char *const formats[] = { "json", "slack", "discord", "ntfy", "template" };
	char *tpl = write_file(f, "t.json", "{\"title\": \"{{item.title}}\"}",
	                       strlen("{\"title\": \"{{item.title}}\"}"));
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct mock_host *mh = mock_host_new("hook", NULL);
		void *state = NULL;
		mock_host_set_option(mh, "url", URL);
		mock_host_set_option(mh, "format", formats[i]);
		mock_host_set_option(mh, "topic", !strcmp(formats[i], "ntfy") ? "t" : NULL);
		mock_host_set_option(mh, "template", !strcmp(formats[i], "template") ? tpl : NULL);
		assert_int_equal(mock_host_create(mh, plugin, &state), 0);

		struct test_alert t;
		alert_init(&t, HOSTILE);
		t.item.summary = HOSTILE;
		/* The alert JSON with invalid bytes inside a string, as a buggy host might. */
		t.alert.json = "{\"version\":1,\"item\":{\"title\":\"" "bad:\xff\xfe end\xc3" "\"}}";
		struct vigil_delivery *d = mock_host_delivery(mh);
		assert_int_equal(plugin->methods->deliver(state, &t.alert, d), 0);
		const struct mock_request *r = mock_host_request(mh, 0);
		json_t *j = body_json(r);
		const char *got;
		if (!strcmp(formats[i], "json")) {
			got = jstr(json_object_get(j, "item"), "title");
			assert_string_equal(got, "bad:\xEF\xBF\xBD\xEF\xBF\xBD end\xEF\xBF\xBD");
		} else if (!strcmp(formats[i], "slack")) {
			got = jstr(json_object_get(json_array_get(json_object_get(j, "blocks"), 0),
			                           "text"), "text");
			assert_non_null(strstr(got, "Quote \" back\\slash\nnew &lt;/script&gt; "
			                            "{{rule}} &amp; &lt;b&gt;\x01 bad:"
			                            "\xEF\xBF\xBD\xEF\xBF\xBD end\xEF\xBF\xBD"));
		} else if (!strcmp(formats[i], "discord")) {
			got = jstr(json_array_get(json_object_get(j, "embeds"), 0), "title");
			assert_string_equal(got, HOSTILE_FIXED);
		} else {
			got = jstr(j, "title");
			assert_string_equal(got, HOSTILE_FIXED);
		}
		json_decref(j);
		plugin->methods->destroy(state);
		assert_int_equal(mock_host_violations(mh), 0);
		mock_host_free(mh);
	}
	free(tpl);
}

/* ---- answers ---- */

struct answer_case {
	int status;
	int error;
	int64_t retry_after;
	enum vigil_delivery_result want;
	uint32_t want_retry_after;
	const char *want_text;
};

static void test_status_to_result(void **ts)
{
	struct fixture *f = *ts;
	static const struct answer_case cases[] = {
		{ 200, 0, 0, VIGIL_DELIVERY_OK, 0, NULL },
		{ 201, 0, 0, VIGIL_DELIVERY_OK, 0, NULL },
		{ 204, 0, 0, VIGIL_DELIVERY_OK, 0, NULL },
		{ 500, 0, 0, VIGIL_DELIVERY_RETRY, 0, "HTTP 500 Internal Server Error from "
		                                      HOST_LABEL },
		{ 502, 0, 0, VIGIL_DELIVERY_RETRY, 0, "HTTP 502 Bad Gateway" },
		{ 503, 0, 30, VIGIL_DELIVERY_RETRY, 30, "HTTP 503 Service Unavailable" },
		{ 408, 0, 0, VIGIL_DELIVERY_RETRY, 0, "HTTP 408 Request Timeout" },
		{ 429, 0, 7, VIGIL_DELIVERY_RETRY, 7, "HTTP 429 Too Many Requests" },
		{ 0, VIGIL_HTTP_E_TIMEOUT, 0, VIGIL_DELIVERY_RETRY, 0, "no answer from " HOST_LABEL },
		{ 0, VIGIL_HTTP_E_CONNECT, 0, VIGIL_DELIVERY_RETRY, 0, "cannot reach " HOST_LABEL },
		{ 400, 0, 0, VIGIL_DELIVERY_PERMANENT, 0, "HTTP 400 Bad Request" },
		{ 401, 0, 0, VIGIL_DELIVERY_PERMANENT, 0, "HTTP 401 Unauthorized" },
		{ 404, 0, 0, VIGIL_DELIVERY_PERMANENT, 0, "HTTP 404 Not Found" },
		{ 410, 0, 0, VIGIL_DELIVERY_PERMANENT, 0, "HTTP 410 Gone" },
		{ 301, 0, 0, VIGIL_DELIVERY_PERMANENT, 0, "HTTP 301 Moved Permanently from "
		                                          HOST_LABEL " after following redirects" },
		{ 0, VIGIL_HTTP_E_REDIRECT, 0, VIGIL_DELIVERY_PERMANENT, 0, "refused" },
	};
	mock_host_set_option(f->mh, "url", URL);
	make(f);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct answer_case *c = &cases[i];
		char body[128];
		snprintf(body, sizeof body, "status %d says\nno", c->status);
		mock_host_add_response(f->mh, &(struct mock_response){
			.url = URL, .status = c->status, .error = c->error, .body = body,
			.error_text = c->error ? "the engine's words" : NULL,
			.retry_after = c->retry_after,
		});
		struct test_alert t;
		alert_init(&t, "Answer");
		struct vigil_delivery *d;
		deliver(f, &t.alert, &d);
		assert_null(mock_host_done_result(f->mh, d)->done ? "answered early" : NULL);
		mock_host_run(f->mh);
		const struct mock_done *res = mock_host_done_result(f->mh, d);
		assert_true(res->done);
		if (res->result != c->want)
			fail_msg("status %d error %d: result %d, want %d (%s)", c->status, c->error,
			         (int)res->result, (int)c->want, res->message ? res->message : "");
		assert_int_equal(res->retry_after_s, c->want_retry_after);
		if (c->want_text) {
			assert_non_null(res->message);
			if (!strstr(res->message, c->want_text))
				fail_msg("message \"%s\" lacks \"%s\"", res->message, c->want_text);
			assert_null(strstr(res->message, TOKEN));
			assert_null(strchr(res->message, '\n'));
			if (!c->error) {
				/* The receiver's own words, on one line. */
				char said[64];
				snprintf(said, sizeof said, "status %d says no", c->status);
				assert_non_null(strstr(res->message, said));
			}
		} else {
			assert_null(res->message);
		}
	}
}

static void test_secrets_never_logged(void **ts)
{
	struct fixture *f = *ts;
	const char *secret = "whsec_" SECRET_B64;
	set_file_option(f, "url_file", "url", URL "\n");
	set_file_option(f, "secret_file", "secret", secret);
	make(f);
	/* A receiver that echoes the URL and the secret back in its error. */
	char echo[512];
	snprintf(echo, sizeof echo, "no such hook %s (path /services/%s) secret %s", URL, TOKEN,
	         secret);
	static const int statuses[] = { 404, 503 };
	for (size_t i = 0; i < 2; i++) {
		mock_host_add_response(f->mh, &(struct mock_response){
			.url = URL, .status = statuses[i], .body = echo });
		struct test_alert t;
		alert_init(&t, "Secret");
		struct vigil_delivery *d;
		deliver(f, &t.alert, &d);
		mock_host_run(f->mh);
		const struct mock_done *res = mock_host_done_result(f->mh, d);
		assert_true(res->done);
		assert_non_null(res->message);
		assert_non_null(strstr(res->message, HOST_LABEL));
		assert_null(strstr(res->message, TOKEN));
		/* Not even the start of it: the secret straddles the cut of the snippet. */
		assert_null(strstr(res->message, "MfKQ9r"));
		assert_non_null(strstr(res->message, "[redacted]"));
	}
	mock_host_add_response(f->mh, &(struct mock_response){
		.url = URL, .error = VIGIL_HTTP_E_CONNECT, .error_text = "cannot connect to " URL });
	struct test_alert t;
	alert_init(&t, "Secret");
	struct vigil_delivery *d;
	deliver(f, &t.alert, &d);
	mock_host_run(f->mh);
	assert_null(strstr(mock_host_done_result(f->mh, d)->message, TOKEN));

	for (size_t i = 0; i < mock_host_n_logs(f->mh); i++) {
		const char *text = mock_host_log(f->mh, i)->text;
		assert_null(strstr(text, TOKEN));
		assert_null(strstr(text, SECRET_B64));
	}
}

static void test_userinfo_is_never_shown(void **ts)
{
	struct fixture *f = *ts;
	const char *url = "https://alice:pa55w0rd@hooks.example.org:8443/in";
	mock_host_set_option(f->mh, "url", url);
	make(f);
	mock_host_add_response(f->mh, &(struct mock_response){ .url = url, .status = 500 });
	struct test_alert t;
	alert_init(&t, "Userinfo");
	struct vigil_delivery *d;
	deliver(f, &t.alert, &d);
	mock_host_run(f->mh);
	const struct mock_done *res = mock_host_done_result(f->mh, d);
	assert_string_equal(res->message, "HTTP 500 Internal Server Error from "
	                    "hooks.example.org:8443");
	for (size_t i = 0; i < mock_host_n_logs(f->mh); i++)
		assert_null(strstr(mock_host_log(f->mh, i)->text, "pa55w0rd"));
}

static void test_bad_url_in_file_is_not_echoed(void **ts)
{
	struct fixture *f = *ts;
	set_file_option(f, "url_file", "url", "ftp://files.example.org/" TOKEN "\n");
	make_fails(f, -EINVAL, "the content is not an http:// or https:// URL");
	for (size_t i = 0; i < mock_host_n_logs(f->mh); i++)
		assert_null(strstr(mock_host_log(f->mh, i)->text, TOKEN));
}

static void test_url_sources(void **ts)
{
	struct fixture *f = *ts;
	make_fails(f, -EINVAL, "no URL: set exactly one of url, url_file and url_credential");

	mock_host_set_option(f->mh, "url", URL);
	set_file_option(f, "url_file", "url", URL);
	make_fails(f, -EINVAL, "more than one URL");

	mock_host_set_option(f->mh, "url", NULL);
	mock_host_set_option(f->mh, "url_file", NULL);
	mock_host_set_option(f->mh, "url_credential", "hook-url");
	unsetenv("CREDENTIALS_DIRECTORY");
	make_fails(f, -ENOENT, "$CREDENTIALS_DIRECTORY is not set");

	/* systemd's LoadCredential=: a file of that name in $CREDENTIALS_DIRECTORY. */
	char *path = write_file(f, "hook-url", URL "\n", strlen(URL) + 1);
	free(path);
	setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
	mock_host_set_option(f->mh, "url_credential", "../hook-url");
	make_fails(f, -EINVAL, "not a credential name");
	mock_host_set_option(f->mh, "url_credential", "hook-url");
	path = write_file(f, "signing", "whsec_" SECRET_B64, strlen("whsec_" SECRET_B64));
	free(path);
	mock_host_set_option(f->mh, "secret_credential", "signing");
	make(f);
	struct test_alert t;
	alert_init(&t, "Credential");
	const struct mock_request *r = deliver(f, &t.alert, NULL);
	assert_string_equal(r->url, URL);
	assert_non_null(header(r, "webhook-signature"));
}

static void test_secret_errors(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	mock_host_set_option(f->mh, "secret_file", "/nonexistent/secret");
	make_fails(f, -ENOENT, "secret_file /nonexistent/secret: cannot read it");

	set_file_option(f, "secret_file", "bad", "whsec_not*base64\n");
	make_fails(f, -EINVAL, "whsec_ must continue with the key in base64");

	set_file_option(f, "secret_file", "empty", "\n");
	make_fails(f, -EINVAL, "empty");

	char *path = write_file(f, "unreadable", "x", 1);
	chmod(path, 0);
	mock_host_set_option(f->mh, "secret_file", path);
	if (geteuid() != 0)          /* root reads anything */
		make_fails(f, -EACCES, "cannot read it");
	free(path);

	mock_host_set_option(f->mh, "secret_file", NULL);
	mock_host_set_option(f->mh, "secret_credential", "x");
	set_file_option(f, "secret_file", "ok", "k3y");
	make_fails(f, -EINVAL, "at most one of secret_file and secret_credential");
}

static void test_destroy_cancels_requests_in_flight(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "url", URL);
	make(f);
	struct test_alert t;
	alert_init(&t, "Cancelled");
	struct vigil_delivery *d;
	const struct mock_request *r = deliver(f, &t.alert, &d);
	plugin->methods->destroy(f->state);
	f->state = NULL;
	assert_true(r->cancelled);
	assert_false(mock_host_done_result(f->mh, d)->done);   /* the outbox keeps it */
}

static int group_setup(void **ts)
{
	(void)ts;
	plugin = mock_load_plugin("webhook", plugin_dir_arg);
	return plugin ? 0 : -1;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	plugin_dir_arg = argc > 1 ? argv[1] : NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_reference_vector),
		cmocka_unit_test(test_descriptor),
		T(test_json_format_is_the_alert_json),
		T(test_timeout_and_headers),
		T(test_reserved_and_broken_headers_are_refused),
		T(test_signature_matches_and_id_is_stable),
		T(test_raw_secret_is_used_as_bytes),
		T(test_slack_shape),
		T(test_discord_shape_and_limits),
		T(test_ntfy_shape_and_priorities),
		T(test_ntfy_needs_a_topic),
		T(test_unknown_format),
		T(test_template_renders_escaped_values),
		T(test_template_errors_name_the_position),
		T(test_hostile_text_in_every_format),
		T(test_status_to_result),
		T(test_secrets_never_logged),
		T(test_userinfo_is_never_shown),
		T(test_bad_url_in_file_is_not_echoed),
		T(test_url_sources),
		T(test_secret_errors),
		T(test_destroy_cancels_requests_in_flight),
	};
	return cmocka_run_group_tests_name("plugin-webhook", tests, group_setup, NULL);
}
