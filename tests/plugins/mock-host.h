/* mock-host.h - a recording stand-in for the daemon, to test plugins without it */
#ifndef VIGIL_TEST_MOCK_HOST_H
#define VIGIL_TEST_MOCK_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/plugin.h>

/*
 * One mock host serves one plugin instance. It hands out a real
 * `struct vigil_host` whose functions record what the plugin does: log
 * lines, emitted items (deep copies), poll_done and done results, HTTP
 * requests. Nothing asynchronous happens until the test calls
 * mock_host_run(): only then are canned HTTP responses delivered, timers
 * fired and posted functions run, as the daemon's loop would do later.
 *
 * Breaches of the host contract (done twice for one delivery, cancelling a
 * call whose callback already ran, reading an option the plugin did not
 * declare, ...) are counted as violations and printed to stderr; a test
 * asserts mock_host_violations() == 0.
 */
struct mock_host;

/*
 * A new host for an instance called `instance_name`. `options` is a table
 * of option values as YAML-ish text, ended by an entry with key NULL (or
 * NULL for none); it is copied.
 */
struct mock_host *mock_host_new(const char *instance_name, const struct vigil_kv *options);
/* Frees everything, including the recorded copies. Destroy the plugin instance first. */
void mock_host_free(struct mock_host *mh);

/* The table to pass to create(); valid until mock_host_free(). */
const struct vigil_host *mock_host_table(struct mock_host *mh);

/*
 * Know the plugin's option table: unset options then read as their
 * declared default (as the daemon does), and reading an undeclared option
 * or with a getter of the wrong type is a violation.
 */
void mock_host_set_plugin(struct mock_host *mh, const struct vigil_plugin *plugin);
/* Set (or replace) one option value; value NULL unsets it. */
void mock_host_set_option(struct mock_host *mh, const char *key, const char *value);
/* Set a STRING_LIST option (copied). */
void mock_host_set_list(struct mock_host *mh, const char *key, const char *const *items, size_t n);
/* Set a MAP option (copied): get_map() then returns these n pairs in order. */
void mock_host_set_map(struct mock_host *mh, const char *key, const struct vigil_kv *pairs,
                       size_t n);

/* Run plugin->methods->create() with this host; remembers the plugin as mock_host_set_plugin(). */
int mock_host_create(struct mock_host *mh, const struct vigil_plugin *plugin, void **state);

/*
 * Start a poll: plugin->methods->poll(state), with the mock checking from
 * then on that emit() happens only during a poll and poll_done() exactly
 * once per poll. Returns what poll() returned.
 */
int mock_host_poll(struct mock_host *mh, const struct vigil_plugin *plugin, void *state);

/*
 * Deliver everything pending: HTTP responses (in request order), timers (in
 * deadline order; the mock's clock jumps to each deadline) and posted
 * functions, again and again while callbacks queue more work, at most 100
 * rounds. Returns the number of callbacks run.
 */
unsigned mock_host_run(struct mock_host *mh);
/* The mock's clock, in milliseconds since mock_host_new(). */
uint64_t mock_host_now_ms(const struct mock_host *mh);

/* After this, post() answers -ESHUTDOWN, as while the daemon destroys the instance. */
void mock_host_shutdown(struct mock_host *mh);

/* Violations of the host contract seen so far. */
unsigned mock_host_violations(const struct mock_host *mh);

/* How often the plugin called host->retry_now(). */
unsigned mock_host_n_retry_now(const struct mock_host *mh);

/* Log lines, formatted, in order. */
struct mock_log {
	enum vigil_log_level level;
	char *text;
};
size_t mock_host_n_logs(const struct mock_host *mh);
const struct mock_log *mock_host_log(const struct mock_host *mh, size_t i);
/* The first log line at `level` or more severe containing `needle`, or NULL. */
const struct mock_log *mock_host_find_log(const struct mock_host *mh, enum vigil_log_level level,
                                          const char *needle);

/* From now on emit() refuses items past the first `n` with -ENOSPC, as the
 * daemon does past its per-poll cap. 0: no limit. */
void mock_host_set_emit_limit(struct mock_host *mh, size_t n);

/* Emitted items, deep copies owned by the mock. */
size_t mock_host_n_items(const struct mock_host *mh);
const struct vigil_item *mock_host_item(const struct mock_host *mh, size_t i);
/* A typed extra field of an item by name, or NULL. */
const struct vigil_field *mock_item_field(const struct vigil_item *item, const char *name);

/* poll_done() calls, in order. */
struct mock_poll_result {
	int error;
	char *message;               /* copy, or NULL */
};
size_t mock_host_n_polls_done(const struct mock_host *mh);
const struct mock_poll_result *mock_host_poll_result(const struct mock_host *mh, size_t i);

/*
 * Deliveries. mock_host_delivery() makes a token to pass to deliver();
 * mock_host_done_result() says how the plugin finished it.
 */
struct mock_done {
	bool done;                   /* host->done() was called for this token */
	enum vigil_delivery_result result;
	uint32_t retry_after_s;
	char *message;               /* copy, or NULL */
};
struct vigil_delivery *mock_host_delivery(struct mock_host *mh);
const struct mock_done *mock_host_done_result(const struct mock_host *mh,
                                              const struct vigil_delivery *delivery);

/*
 * A canned HTTP response, served for every request to `url` until replaced.
 * Copied. body_len 0 means strlen(body). not_modified is reported only to a
 * request with VIGIL_HTTP_CONDITIONAL (otherwise it is a plain 304), as
 * the daemon does. A request to a URL without a response fails with
 * VIGIL_HTTP_E_CONNECT.
 */
struct mock_response {
	const char *url;
	int status;
	const char *body;
	size_t body_len;
	const char *content_type;
	const struct vigil_kv *headers;
	size_t n_headers;
	bool not_modified;
	int error;                   /* enum vigil_http_error */
	const char *error_text;
	int64_t retry_after;         /* 0 is taken as "none" (-1 to the plugin) */
};
void mock_host_add_response(struct mock_host *mh, const struct mock_response *response);

/* Requests made, deep copies. */
struct mock_request {
	char *url;
	char *method;                /* or NULL */
	struct vigil_kv *headers;
	size_t n_headers;
	char *body;                  /* or NULL */
	size_t body_len;
	uint32_t flags;
	bool cancelled;
	bool answered;
	uint32_t timeout_ms;         /* as requested (0: the daemon's default) */
	uint64_t max_body;
};
size_t mock_host_n_requests(const struct mock_host *mh);
const struct mock_request *mock_host_request(const struct mock_host *mh, size_t i);

/* Timers added and not yet fired or cancelled. */
size_t mock_host_n_timers(const struct mock_host *mh);

/*
 * Load the plugin `name` (<dir>/<name>.so) where dir is $VIGIL_PLUGIN_DIR,
 * else `fallback_dir` (may be NULL). dlopen(RTLD_NOW | RTLD_LOCAL) like the
 * daemon; never unloaded. Returns the descriptor, or NULL after printing why.
 */
const struct vigil_plugin *mock_load_plugin(const char *name, const char *fallback_dir);

#endif
