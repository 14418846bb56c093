/* test-http.c - the HTTP engine against the fixture server, on one event loop */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vigil/version.h>

#include "../fixture/fixture-server.h"
#include "http.h"
#include "log.h"
#include "state.h"
#include "util.h"

/* Everything one test needs: a loop, the server on it, a scratch directory. */
struct env {
	struct event_base *base;
	struct fixture_server *srv;
	uint16_t port;
	char dir[64];
	struct http_engine *engine;
	struct state *st;
	struct event *deadline;
	unsigned completed;          /* callbacks run so far */
	unsigned want;               /* stop the loop at this many */
	bool timed_out;
};

/* A copy of one response, taken inside the callback. */
struct result {
	struct env *env;
	const char *tag;             /* for ordering checks */
	char url[512];               /* the request URL */
	int calls;
	unsigned order;              /* 1-based completion order */
	int status;
	int error;
	char *error_text;
	bool not_modified;
	char *eff_url;
	char *content_type;
	char *body;
	size_t body_len;
	int64_t retry_after;
	char *etag;
	char *last_modified;
	char *location;              /* the Location header, if any reached us */
	char *content_encoding;
	size_t n_headers;
	/* What the callback does next (reentrancy tests). */
	struct http_call *cancel_other[2];
	struct result *start_other;
	struct http_call **start_other_call;
};

/* Set while http_engine_request runs: no callback may see it set. */
static bool inside_request;
/* The completion order across a test. */
static char order_log[64];

static const char hello[] = "hello, world\n";
static const char lorem[] =
	"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\n"
	"incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis\n"
	"nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n"
	"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\n";

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void result_clear(struct result *r)
{
	free(r->error_text);
	free(r->eff_url);
	free(r->content_type);
	free(r->body);
	free(r->etag);
	free(r->last_modified);
	free(r->location);
	free(r->content_encoding);
}

static struct http_call *start(struct env *env, const struct vigil_http_request *req,
                               const struct http_call_options *opt, struct result *r);

static void on_response(void *userdata, const struct vigil_http_response *resp)
{
	struct result *r = userdata;
	struct env *env = r->env;

	assert_false(inside_request);
	assert_int_equal(resp->size, sizeof *resp);
	r->calls++;
	r->order = ++env->completed;
	if (r->tag && strlen(order_log) + strlen(r->tag) < sizeof order_log)
		strcat(order_log, r->tag);
	r->status = resp->status;
	r->error = resp->error;
	r->error_text = dup_or_null(resp->error_text);
	r->not_modified = resp->not_modified;
	r->eff_url = dup_or_null(resp->url);
	r->content_type = dup_or_null(resp->content_type);
	assert_non_null(resp->body);
	assert_int_equal(resp->body[resp->body_len], '\0');
	r->body = xmalloc(resp->body_len + 1);
	memcpy(r->body, resp->body, resp->body_len + 1);
	r->body_len = resp->body_len;
	r->retry_after = resp->retry_after;
	r->etag = dup_or_null(resp->etag);
	r->last_modified = dup_or_null(resp->last_modified);
	r->n_headers = resp->n_headers;
	for (size_t i = 0; i < resp->n_headers; i++) {
		if (!strcasecmp(resp->headers[i].key, "Location"))
			r->location = dup_or_null(resp->headers[i].value);
		if (!strcasecmp(resp->headers[i].key, "Content-Encoding"))
			r->content_encoding = dup_or_null(resp->headers[i].value);
	}

	for (int i = 0; i < 2; i++)
		if (r->cancel_other[i])
			http_call_cancel(r->cancel_other[i]);
	if (r->start_other) {
		struct vigil_http_request req = { .size = sizeof req, .url = r->start_other->url };
		*r->start_other_call = start(env, &req, NULL, r->start_other);
		assert_non_null(*r->start_other_call);
	}
	if (env->want && env->completed >= env->want)
		event_base_loopbreak(env->base);
}

static struct http_call *start(struct env *env, const struct vigil_http_request *req,
                               const struct http_call_options *opt, struct result *r)
{
	const char *err = NULL;
	r->env = env;
	inside_request = true;
	struct http_call *call = http_engine_request(env->engine, req, opt, on_response, r, &err);
	inside_request = false;
	if (!call)
		print_message("refused: %s\n", err ? err : "(no text)");
	return call;
}

/* Fill r->url with http://HOST:PORT/PATH. */
static const char *url_of(struct env *env, struct result *r, const char *host, const char *path)
{
	snprintf(r->url, sizeof r->url, "http://%s:%u%s", host, (unsigned)env->port, path);
	return r->url;
}

/* GET host/path with default options; the call must be accepted. */
static struct http_call *get(struct env *env, struct result *r, const char *host, const char *path)
{
	struct vigil_http_request req = { .size = sizeof req, .url = url_of(env, r, host, path) };
	struct http_call *call = start(env, &req, NULL, r);
	assert_non_null(call);
	return call;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *env = arg;
	(void)fd;
	(void)what;
	env->timed_out = true;
	event_base_loopbreak(env->base);
}

/* Run the loop until `want` callbacks in total have run; fail after ms. */
static void run_until(struct env *env, unsigned want, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	env->want = want;
	env->timed_out = false;
	if (env->completed < want) {
		evtimer_add(env->deadline, &tv);
		event_base_dispatch(env->base);
		evtimer_del(env->deadline);
	}
	env->want = 0;
	assert_false(env->timed_out);
	assert_int_equal(env->completed, want);
}

/* Run the loop for ms, whatever happens. */
static void run_for(struct env *env, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	env->want = 0;
	evtimer_add(env->deadline, &tv);
	event_base_dispatch(env->base);
	env->timed_out = false;
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void engine_with(struct env *env, const struct http_limits *limits)
{
	if (env->engine)
		http_engine_free(env->engine);
	env->engine = http_engine_new(env->base, limits, env->st);
	assert_non_null(env->engine);
}

static int setup(void **state)
{
	struct env *env = xcalloc(1, sizeof *env);

	strcpy(env->dir, "/tmp/vigil-test-http-XXXXXX");
	assert_non_null(mkdtemp(env->dir));
	write_file(env->dir, "hello.txt", hello, strlen(hello));
	write_file(env->dir, "lorem.txt", lorem, strlen(lorem));
	write_file(env->dir, "feed.json", "{\"items\":[]}\n", 13);

	env->base = event_base_new();
	assert_non_null(env->base);
	env->srv = fixture_server_start(env->base, env->dir, &env->port);
	assert_non_null(env->srv);
	assert_true(env->port > 0);
	env->deadline = evtimer_new(env->base, deadline_cb, env);

	char *db = path_join(env->dir, "state.db");
	char *error = NULL;
	assert_int_equal(state_open(db, &env->st, &error), 0);
	free(db);

	struct http_limits limits = { .max_redirects = 5 };
	engine_with(env, &limits);
	order_log[0] = '\0';
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;
	char cmd[128];

	http_engine_free(env->engine);
	fixture_server_free(env->srv);
	event_free(env->deadline);
	event_base_free(env->base);
	state_close(env->st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
	assert_int_equal(system(cmd), 0);
	free(env);
	return 0;
}

/* ---- tests ---- */

static void test_plain_200(void **state)
{
	struct env *env = *state;
	struct result r = { 0 };

	get(env, &r, "127.0.0.1", "/files/hello.txt");
	assert_int_equal(http_engine_active(env->engine), 1);
	run_until(env, 1, 5000);
	assert_int_equal(http_engine_active(env->engine), 0);

	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.error, 0);
	assert_null(r.error_text);
	assert_false(r.not_modified);
	assert_int_equal(r.body_len, strlen(hello));
	assert_string_equal(r.body, hello);
	assert_string_equal(r.content_type, "text/plain");
	assert_string_equal(r.eff_url, r.url);
	assert_non_null(r.etag);
	assert_non_null(r.last_modified);
	assert_int_equal(r.retry_after, -1);
	assert_true(r.n_headers >= 4);  /* ETag, Last-Modified, Content-Type, Content-Length, Date */

	/* The default User-Agent, and compressed answers offered. */
	assert_string_equal(fixture_server_last_header(env->srv, "/files/hello.txt", "User-Agent"),
	                    "vigil/" VIGIL_VERSION_STRING);
	const char *ae = fixture_server_last_header(env->srv, "/files/hello.txt", "Accept-Encoding");
	assert_non_null(ae);
	assert_non_null(strstr(ae, "gzip"));
	assert_null(fixture_server_last_header(env->srv, "/files/hello.txt", "If-None-Match"));

	struct result j = { 0 };
	get(env, &j, "127.0.0.1", "/files/feed.json");
	run_until(env, 2, 5000);
	assert_string_equal(j.content_type, "application/json");
	assert_string_equal(j.body, "{\"items\":[]}\n");
	result_clear(&r);
	result_clear(&j);
}

static void test_404_is_not_an_error(void **state)
{
	struct env *env = *state;
	struct result r = { 0 }, s = { 0 };

	get(env, &r, "127.0.0.1", "/files/missing.txt");
	get(env, &s, "127.0.0.1", "/status/500");
	run_until(env, 2, 5000);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.error, 0);
	assert_null(r.error_text);
	assert_string_equal(r.body, "not found\n");
	assert_int_equal(s.status, 500);
	assert_int_equal(s.error, 0);
	result_clear(&r);
	result_clear(&s);
}

static void test_conditional_round_trip(void **state)
{
	struct env *env = *state;
	struct result a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	const char *path = "/files/hello.txt";
	struct vigil_http_request req = { .size = sizeof req, .flags = VIGIL_HTTP_CONDITIONAL };
	struct http_call_options feed = { .validator_scope = "feed" };
	struct http_call_options other = { .validator_scope = "other-feed" };

	/* Nothing stored yet: a plain 200 with validators. */
	req.url = url_of(env, &a, "127.0.0.1", path);
	assert_non_null(start(env, &req, NULL, &a));
	run_until(env, 1, 5000);
	assert_int_equal(a.status, 200);
	assert_false(a.not_modified);
	assert_non_null(a.etag);
	assert_non_null(a.last_modified);
	assert_null(fixture_server_last_header(env->srv, path, "If-None-Match"));

	/* The engine never writes validators; the host does. */
	char *etag = NULL, *lm = NULL;
	assert_int_equal(state_validators_get(env->st, "feed", a.url, &etag, &lm), -ENOENT);
	assert_int_equal(state_validators_put(env->st, "feed", a.url, a.etag, a.last_modified), 0);

	req.url = url_of(env, &b, "127.0.0.1", path);
	assert_non_null(start(env, &req, &feed, &b));
	run_until(env, 2, 5000);
	assert_int_equal(b.status, 304);
	assert_int_equal(b.error, 0);
	assert_true(b.not_modified);
	assert_int_equal(b.body_len, 0);
	assert_null(b.etag);  /* reported for a 200 only */
	assert_string_equal(fixture_server_last_header(env->srv, path, "If-None-Match"), a.etag);
	assert_string_equal(fixture_server_last_header(env->srv, path, "If-Modified-Since"),
	                    a.last_modified);
	assert_int_equal(fixture_server_hits(env->srv, path), 2);

	/* Another source fetching the same URL gets the document: validators
	 * are kept per (source, URL). */
	req.url = url_of(env, &d, "127.0.0.1", path);
	assert_non_null(start(env, &req, &other, &d));
	run_until(env, 3, 5000);
	assert_int_equal(d.status, 200);
	assert_null(fixture_server_last_header(env->srv, path, "If-None-Match"));

	/* Without the flag, stored validators are not sent. */
	req.flags = 0;
	req.url = url_of(env, &c, "127.0.0.1", path);
	assert_non_null(start(env, &req, &feed, &c));
	run_until(env, 4, 5000);
	assert_int_equal(c.status, 200);
	assert_false(c.not_modified);
	assert_null(fixture_server_last_header(env->srv, path, "If-None-Match"));
	result_clear(&a);
	result_clear(&b);
	result_clear(&c);
	result_clear(&d);
}

static void format_http_date(time_t t, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	/* URL-encoded spaces: the fixture copies the query value as the header. */
	strftime(buf, len, "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", &tm);
}

static void test_retry_after(void **state)
{
	struct env *env = *state;
	struct result r[6] = { { 0 } };
	char path[160], date[96];

	get(env, &r[0], "127.0.0.1", "/status/429?retry_after=120");
	format_http_date(time(NULL) + 60, date, sizeof date);
	snprintf(path, sizeof path, "/status/503?retry_after=%s", date);
	get(env, &r[1], "127.0.0.1", path);
	format_http_date(time(NULL) - 3600, date, sizeof date);
	snprintf(path, sizeof path, "/status/429?retry_after=%s", date);
	get(env, &r[2], "127.0.0.1", path);
	get(env, &r[3], "127.0.0.1", "/status/429");
	get(env, &r[4], "127.0.0.1", "/status/500?retry_after=5");
	get(env, &r[5], "127.0.0.1", "/status/503?retry_after=soon");
	run_until(env, 6, 5000);

	assert_int_equal(r[0].status, 429);
	assert_int_equal(r[0].error, 0);
	assert_int_equal(r[0].retry_after, 120);
	assert_int_equal(r[1].status, 503);
	assert_in_range(r[1].retry_after, 55, 61);
	assert_int_equal(r[2].retry_after, 0);   /* a past date: retry now */
	assert_int_equal(r[3].retry_after, -1);  /* none given */
	assert_int_equal(r[4].retry_after, -1);  /* only 429 and 503 carry it */
	assert_int_equal(r[5].retry_after, -1);  /* unparsable */
	for (int i = 0; i < 6; i++)
		result_clear(&r[i]);
}

static void test_timeout(void **state)
{
	struct env *env = *state;
	struct result r = { 0 };
	struct vigil_http_request req = {
		.size = sizeof req,
		.url = url_of(env, &r, "127.0.0.1", "/delay/3000/hello.txt"),
		.timeout_ms = 300,
	};

	int64_t t0 = now_ms();
	assert_non_null(start(env, &req, NULL, &r));
	run_until(env, 1, 5000);
	int64_t took = now_ms() - t0;
	assert_int_equal(r.error, VIGIL_HTTP_E_TIMEOUT);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.error_text, "timed out after 300 ms");
	assert_in_range(took, 250, 2000);
	result_clear(&r);

	/* options->timeout_ms overrides the request's. */
	struct result o = { 0 };
	struct http_call_options opt = { .timeout_ms = 200 };
	req.url = url_of(env, &o, "127.0.0.1", "/delay/3000/hello.txt");
	assert_non_null(start(env, &req, &opt, &o));
	run_until(env, 2, 5000);
	assert_int_equal(o.error, VIGIL_HTTP_E_TIMEOUT);
	assert_string_equal(o.error_text, "timed out after 200 ms");
	result_clear(&o);
}

static void test_max_body(void **state)
{
	struct env *env = *state;
	struct result exact = { 0 }, over = { 0 }, big = { 0 };
	struct vigil_http_request req = { .size = sizeof req, .max_body = 1000 };

	req.url = url_of(env, &exact, "127.0.0.1", "/big/1000");
	assert_non_null(start(env, &req, NULL, &exact));
	req.url = url_of(env, &over, "127.0.0.1", "/big/1001");
	assert_non_null(start(env, &req, NULL, &over));
	run_until(env, 2, 5000);
	assert_int_equal(exact.error, 0);
	assert_int_equal(exact.status, 200);
	assert_int_equal(exact.body_len, 1000);
	assert_int_equal(over.error, VIGIL_HTTP_E_TOO_BIG);
	assert_int_equal(over.status, 0);
	assert_string_equal(over.error_text, "body larger than 1000 bytes");
	assert_int_equal(over.body_len, 0);  /* no partial body on errors */

	/* The limits' value applies when the request leaves it at zero. */
	struct http_limits limits = { .max_body = 1 << 20 };
	engine_with(env, &limits);
	get(env, &big, "127.0.0.1", "/big/50000000");
	run_until(env, 3, 10000);
	assert_int_equal(big.error, VIGIL_HTTP_E_TOO_BIG);
	assert_string_equal(big.error_text, "body larger than 1048576 bytes");
	result_clear(&exact);
	result_clear(&over);
	result_clear(&big);
}

static void test_gzip_bomb_is_cut(void **state)
{
	struct env *env = *state;
	struct result r = { 0 };
	struct http_limits limits = { .max_body = 1 << 20 };

	/* About 50 KB on the wire, 50 MB inflated: the limit counts the latter. */
	engine_with(env, &limits);
	get(env, &r, "127.0.0.1", "/gzip-bomb/50000000");
	run_until(env, 1, 10000);
	assert_int_equal(r.error, VIGIL_HTTP_E_TOO_BIG);
	assert_string_equal(r.error_text, "body larger than 1048576 bytes");
	result_clear(&r);
}

static void test_gzip_small_is_decoded(void **state)
{
	struct env *env = *state;
	struct result r = { 0 }, z = { 0 };
	struct vigil_http_request req = { .size = sizeof req, .max_body = 1000 };

	get(env, &r, "127.0.0.1", "/gzip/lorem.txt");
	req.url = url_of(env, &z, "127.0.0.1", "/gzip-bomb/1000");
	assert_non_null(start(env, &req, NULL, &z));
	run_until(env, 2, 5000);

	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_encoding, "gzip");
	assert_int_equal(r.body_len, strlen(lorem));
	assert_string_equal(r.body, lorem);

	static const char zeros[1000];
	assert_int_equal(z.error, 0);
	assert_int_equal(z.body_len, 1000);
	assert_memory_equal(z.body, zeros, 1000);
	result_clear(&r);
	result_clear(&z);
}

static void test_redirect_chain(void **state)
{
	struct env *env = *state;
	struct result r = { 0 };
	char want[256];

	get(env, &r, "127.0.0.1", "/redirect/3/hello.txt");
	run_until(env, 1, 5000);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, hello);
	snprintf(want, sizeof want, "http://127.0.0.1:%u/files/hello.txt", (unsigned)env->port);
	assert_string_equal(r.eff_url, want);
	/* Headers are the final hop's: no Location from the 302s. */
	assert_null(r.location);
	assert_non_null(r.etag);
	assert_int_equal(fixture_server_hits(env->srv, "/redirect/0/hello.txt"), 1);
	result_clear(&r);
}

static void test_redirect_limit_and_loop(void **state)
{
	struct env *env = *state;
	struct result six = { 0 }, five = { 0 }, loop = { 0 };

	get(env, &five, "127.0.0.1", "/redirect/4/hello.txt");  /* 5 hops */
	get(env, &six, "127.0.0.1", "/redirect/5/hello.txt");   /* 6 hops */
	get(env, &loop, "127.0.0.1", "/loop");
	run_until(env, 3, 5000);
	assert_int_equal(five.error, 0);
	assert_int_equal(five.status, 200);
	assert_int_equal(six.error, VIGIL_HTTP_E_REDIRECT);
	assert_string_equal(six.error_text, "too many redirects (more than 5)");
	assert_int_equal(loop.error, VIGIL_HTTP_E_REDIRECT);
	assert_string_equal(loop.error_text, "too many redirects (more than 5)");
	assert_int_equal(fixture_server_hits(env->srv, "/loop"), 6);
	result_clear(&five);
	result_clear(&six);
	result_clear(&loop);
}

static void test_redirect_to_other_schemes_refused(void **state)
{
	struct env *env = *state;
	struct result f = { 0 }, ftp = { 0 }, own = { 0 };
	char *file_url = xasprintf("file://%s/hello.txt", env->dir);
	char path[256];

	snprintf(path, sizeof path, "/redirect-to?url=%s", file_url);
	get(env, &f, "127.0.0.1", path);
	get(env, &ftp, "127.0.0.1", "/redirect-to?url=ftp://127.0.0.1/x");
	/* Even the call's own allowed file:// URL is no redirect target. */
	struct http_call_options opt = { .allow_file_url = file_url };
	struct vigil_http_request req = { .size = sizeof req,
	                                  .url = url_of(env, &own, "127.0.0.1", path) };
	assert_non_null(start(env, &req, &opt, &own));
	run_until(env, 3, 5000);

	assert_int_equal(f.error, VIGIL_HTTP_E_REDIRECT);
	assert_non_null(strstr(f.error_text, "redirect"));
	assert_null(strstr(f.body, "hello"));
	assert_int_equal(ftp.error, VIGIL_HTTP_E_REDIRECT);
	assert_int_equal(own.error, VIGIL_HTTP_E_REDIRECT);
	assert_null(strstr(own.body, "hello"));
	free(file_url);
	result_clear(&f);
	result_clear(&ftp);
	result_clear(&own);
}

static void test_file_url(void **state)
{
	struct env *env = *state;
	struct result r = { 0 }, x = { 0 };
	char *file_url = xasprintf("file://%s/hello.txt", env->dir);
	char *other = xasprintf("file://%s/lorem.txt", env->dir);
	struct vigil_http_request req = { .size = sizeof req, .url = file_url };
	const char *err = NULL;

	/* Refused without permission, or with permission for another file. */
	assert_null(http_engine_request(env->engine, &req, NULL, on_response, &x, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "file://"));
	struct http_call_options opt = { .allow_file_url = other };
	err = NULL;
	assert_null(http_engine_request(env->engine, &req, &opt, on_response, &x, &err));
	assert_non_null(err);
	assert_int_equal(http_engine_active(env->engine), 0);

	/* Served when it is the call's own URL. */
	opt.allow_file_url = file_url;
	assert_non_null(start(env, &req, &opt, &r));
	run_until(env, 1, 5000);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, hello);
	assert_int_equal(x.calls, 0);
	free(file_url);
	free(other);
	result_clear(&r);
}

static void test_refused_at_request_time(void **state)
{
	struct env *env = *state;
	struct result r = { 0 };
	static const char *const bad[] = {
		"ftp://127.0.0.1/x", "gopher://127.0.0.1/", "127.0.0.1/files/hello.txt",
		"http://", "not a url", "",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct vigil_http_request req = { .size = sizeof req, .url = bad[i] };
		const char *err = NULL;
		assert_null(http_engine_request(env->engine, &req, NULL, on_response, &r, &err));
		assert_non_null(err);
	}

	/* A header that would smuggle a second one. */
	struct vigil_kv hdr = { "X-Evil", "a\r\nHost: elsewhere" };
	struct vigil_http_request req = { .size = sizeof req, .headers = &hdr, .n_headers = 1,
	                                  .url = url_of(env, &r, "127.0.0.1", "/echo") };
	const char *err = NULL;
	assert_null(http_engine_request(env->engine, &req, NULL, on_response, &r, &err));
	assert_non_null(err);

	const char *scheme_err = NULL;
	struct vigil_http_request ftp = { .size = sizeof ftp, .url = "ftp://127.0.0.1/x" };
	http_engine_request(env->engine, &ftp, NULL, on_response, &r, &scheme_err);
	assert_non_null(strstr(scheme_err, "scheme"));

	/* Nothing was queued; no callback ever comes. */
	assert_int_equal(http_engine_active(env->engine), 0);
	run_for(env, 100);
	assert_int_equal(r.calls, 0);
}

static void test_connect_refused(void **state)
{
	struct env *env = *state;
	struct result r = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;

	/* A port that was free a moment ago and has nobody listening. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(r.url, sizeof r.url, "http://127.0.0.1:%u/", (unsigned)ntohs(sin.sin_port));
	struct vigil_http_request req = { .size = sizeof req, .url = r.url };
	assert_non_null(start(env, &req, NULL, &r));
	run_until(env, 1, 5000);
	assert_int_equal(r.error, VIGIL_HTTP_E_CONNECT);
	assert_int_equal(r.status, 0);
	assert_non_null(r.error_text);
	result_clear(&r);
}

static void test_per_host_limit(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .per_host = 2, .total = 10 };
	struct result r[6] = { { 0 } };

	engine_with(env, &limits);
	for (int i = 0; i < 6; i++)
		get(env, &r[i], "127.0.0.1", "/delay/150/hello.txt");
	assert_int_equal(http_engine_active(env->engine), 6);
	run_until(env, 6, 10000);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(r[i].status, 200);
		result_clear(&r[i]);
	}
	assert_int_equal(fixture_server_max_in_flight(env->srv, "127.0.0.1"), 2);
	assert_int_equal(http_engine_active(env->engine), 0);
}

static void test_total_limit(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .per_host = 10, .total = 3 };
	struct result r[8] = { { 0 } };

	engine_with(env, &limits);
	for (int i = 0; i < 8; i++)
		get(env, &r[i], i % 2 ? "localhost" : "127.0.0.1", "/delay/150/hello.txt");
	run_until(env, 8, 10000);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(r[i].status, 200);
		result_clear(&r[i]);
	}
	assert_int_equal(fixture_server_max_in_flight(env->srv, NULL), 3);
	assert_true(fixture_server_max_in_flight(env->srv, "localhost") >= 1);
}

static void test_round_robin(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .per_host = 4, .total = 1 };
	struct result r[8] = { { 0 } };

	/* One busy host queued first must not make the other wait for all of it. */
	engine_with(env, &limits);
	for (int i = 0; i < 4; i++) {
		r[i].tag = "A";
		get(env, &r[i], "127.0.0.1", "/files/hello.txt");
	}
	for (int i = 4; i < 8; i++) {
		r[i].tag = "B";
		get(env, &r[i], "localhost", "/files/hello.txt");
	}
	run_until(env, 8, 10000);
	assert_string_equal(order_log, "ABABABAB");
	assert_int_equal(fixture_server_max_in_flight(env->srv, NULL), 1);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(r[i].status, 200);
		result_clear(&r[i]);
	}
}

static void test_cancel(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .per_host = 1, .total = 10 };
	struct result running = { 0 }, queued = { 0 }, later = { 0 }, other = { 0 };

	engine_with(env, &limits);
	get(env, &running, "127.0.0.1", "/delay/300/hello.txt");
	struct http_call *q = get(env, &queued, "127.0.0.1", "/delay/301/hello.txt");
	get(env, &later, "127.0.0.1", "/files/lorem.txt");
	struct http_call *o = get(env, &other, "localhost", "/delay/302/hello.txt");
	assert_int_equal(http_engine_active(env->engine), 4);

	/* Queued, never started: it must never reach the server. */
	http_call_cancel(q);
	assert_int_equal(http_engine_active(env->engine), 3);

	/* Running: wait until the server has it, then cancel. */
	for (int i = 0; i < 50 && !fixture_server_hits(env->srv, "/delay/302/hello.txt"); i++)
		run_for(env, 10);
	assert_int_equal(fixture_server_hits(env->srv, "/delay/302/hello.txt"), 1);
	http_call_cancel(o);
	assert_int_equal(http_engine_active(env->engine), 2);

	run_until(env, 2, 5000);
	run_for(env, 400);  /* the server answers the cancelled call meanwhile */
	assert_int_equal(running.status, 200);
	assert_int_equal(later.status, 200);
	assert_string_equal(later.body, lorem);
	assert_int_equal(queued.calls, 0);
	assert_int_equal(other.calls, 0);
	assert_int_equal(fixture_server_hits(env->srv, "/delay/301/hello.txt"), 0);
	assert_int_equal(http_engine_active(env->engine), 0);
	result_clear(&running);
	result_clear(&later);
}

static void test_reentrant_callbacks(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .per_host = 2, .total = 10 };
	struct result first = { 0 }, slow = { 0 }, queued = { 0 }, fresh = { 0 }, tail = { 0 };
	struct http_call *fresh_call = NULL;

	engine_with(env, &limits);
	/* first and slow run; queued and tail wait for a slot. */
	get(env, &first, "127.0.0.1", "/files/hello.txt");
	struct http_call *s = get(env, &slow, "127.0.0.1", "/delay/500/hello.txt");
	struct http_call *q = get(env, &queued, "127.0.0.1", "/files/feed.json");
	get(env, &tail, "127.0.0.1", "/files/lorem.txt");

	/*
	 * first's callback cancels a running call and a queued one, and starts
	 * a new request: all from inside the engine's completion loop.
	 */
	first.cancel_other[0] = s;
	first.cancel_other[1] = q;
	first.start_other = &fresh;
	first.start_other_call = &fresh_call;
	url_of(env, &fresh, "localhost", "/files/hello.txt");
	run_until(env, 3, 5000);
	run_for(env, 600);
	assert_non_null(fresh_call);
	assert_int_equal(first.status, 200);
	assert_int_equal(fresh.status, 200);
	assert_int_equal(fixture_server_hits(env->srv, "/delay/500/hello.txt"), 1);
	assert_int_equal(fixture_server_hits(env->srv, "/files/feed.json"), 0);
	assert_int_equal(tail.status, 200);
	assert_int_equal(slow.calls, 0);
	assert_int_equal(queued.calls, 0);
	assert_int_equal(env->completed, 3);
	assert_int_equal(http_engine_active(env->engine), 0);
	result_clear(&first);
	result_clear(&fresh);
	result_clear(&tail);
}

static void test_user_agent_and_headers(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .user_agent = "limits-agent/1" };
	struct result a = { 0 }, b = { 0 };

	engine_with(env, &limits);
	get(env, &a, "127.0.0.1", "/files/hello.txt");
	run_until(env, 1, 5000);
	assert_string_equal(fixture_server_last_header(env->srv, "/files/hello.txt", "User-Agent"),
	                    "limits-agent/1");

	struct vigil_kv opt_headers[] = { { "X-Opt", "one" }, { "X-Empty", "" } };
	struct vigil_kv req_headers[] = { { "X-Req", "two" } };
	struct http_call_options opt = { .user_agent = "opt-agent/2", .headers = opt_headers,
	                                 .n_headers = 2 };
	struct vigil_http_request req = { .size = sizeof req, .headers = req_headers, .n_headers = 1,
	                                  .url = url_of(env, &b, "127.0.0.1", "/echo") };
	assert_non_null(start(env, &req, &opt, &b));
	run_until(env, 2, 5000);
	assert_string_equal(fixture_server_last_header(env->srv, "/echo", "User-Agent"), "opt-agent/2");
	assert_string_equal(fixture_server_last_header(env->srv, "/echo", "X-Opt"), "one");
	assert_string_equal(fixture_server_last_header(env->srv, "/echo", "X-Req"), "two");
	assert_string_equal(fixture_server_last_header(env->srv, "/echo", "X-Empty"), "");
	/* The host's headers come first, then the plugin's own. */
	char *opt_at = strstr(b.body, "\"X-Opt\"");
	char *req_at = strstr(b.body, "\"X-Req\"");
	assert_non_null(opt_at);
	assert_non_null(req_at);
	assert_true(opt_at < req_at);
	assert_non_null(strstr(b.body, "\"method\":\"GET\""));
	result_clear(&a);
	result_clear(&b);
}

static void test_post_body(void **state)
{
	struct env *env = *state;
	struct result p = { 0 }, put = { 0 };
	static const char body[] = "{\"text\": \"hello \\\"world\\\"\"}";
	struct vigil_kv ct = { "Content-Type", "application/json" };
	struct vigil_http_request req = { .size = sizeof req, .body = body, .body_len = strlen(body),
	                                  .headers = &ct, .n_headers = 1 };

	req.url = url_of(env, &p, "127.0.0.1", "/echo");
	assert_non_null(start(env, &req, NULL, &p));
	run_until(env, 1, 5000);
	assert_int_equal(p.status, 200);
	assert_string_equal(p.content_type, "application/json");
	assert_non_null(strstr(p.body, "\"method\":\"POST\""));
	assert_string_equal(fixture_server_last_body(env->srv, "/echo"), body);
	assert_string_equal(fixture_server_last_header(env->srv, "/echo", "Content-Type"),
	                    "application/json");
	assert_null(fixture_server_last_header(env->srv, "/echo", "Expect"));

	req.method = "PUT";
	req.url = url_of(env, &put, "127.0.0.1", "/echo");
	assert_non_null(start(env, &req, NULL, &put));
	run_until(env, 2, 5000);
	assert_non_null(strstr(put.body, "\"method\":\"PUT\""));
	assert_string_equal(fixture_server_last_body(env->srv, "/echo"), body);
	result_clear(&p);
	result_clear(&put);
}

static void test_low_speed_abort(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .low_speed_bytes = 1000, .low_speed_time_ms = 1000 };
	struct result r = { 0 };

	/* 10 bytes/s for 100 s; the abort must come after about one second. */
	engine_with(env, &limits);
	int64_t t0 = now_ms();
	get(env, &r, "127.0.0.1", "/slow/10/1000");
	run_until(env, 1, 8000);
	int64_t took = now_ms() - t0;
	assert_int_equal(r.error, VIGIL_HTTP_E_TIMEOUT);
	assert_non_null(strstr(r.error_text, "too slow"));
	assert_in_range(took, 900, 4000);
	result_clear(&r);
}

static void test_free_with_calls_outstanding(void **state)
{
	struct env *env = *state;
	struct http_limits limits = { .per_host = 1 };
	struct result r[3] = { { 0 } };

	engine_with(env, &limits);
	for (int i = 0; i < 3; i++)
		get(env, &r[i], "127.0.0.1", "/delay/300/hello.txt");
	for (int i = 0; i < 50 && !fixture_server_hits(env->srv, "/delay/300/hello.txt"); i++)
		run_for(env, 10);
	/* One running, two queued: all dropped without callbacks. */
	http_engine_free(env->engine);
	env->engine = NULL;
	run_for(env, 400);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 0);
}

int main(void)
{
	log_init(getenv("VIGIL_TEST_DEBUG") ? VIGIL_LOG_DEBUG : VIGIL_LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_404_is_not_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conditional_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_bomb_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_small_is_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_limit_and_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_to_other_schemes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_at_request_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_host_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrant_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_agent_and_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_speed_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_calls_outstanding, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
