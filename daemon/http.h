/* http.h - the HTTP engine: one curl multi handle driven by the libevent loop */
#ifndef VIGIL_DAEMON_HTTP_H
#define VIGIL_DAEMON_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <vigil/http.h>

struct event_base;
struct state;
struct http_engine;
struct http_call;

struct http_limits {
	int64_t timeout_ms;          /* total per request */
	int64_t connect_timeout_ms;
	int64_t low_speed_bytes;     /* abort below this many bytes/s ... */
	int64_t low_speed_time_ms;   /* ... sustained this long */
	int64_t max_body;            /* bytes after decompression */
	int64_t max_redirects;
	int64_t per_host;            /* concurrent transfers per host */
	int64_t total;               /* concurrent transfers overall */
	const char *user_agent;      /* default User-Agent (copied) */
};

/* Per-call settings the host adds to a plugin's request. Borrowed for the call. */
struct http_call_options {
	const char *user_agent;      /* NULL: the engine's default */
	const struct vigil_kv *headers;  /* added before the request's own */
	size_t n_headers;
	const char *allow_file_url;  /* a file:// URL this call may fetch (the source's own), or NULL */
	const char *validator_scope; /* conditional requests use the validators stored
	                                for (scope, URL): the source's name; NULL: none */
	int64_t timeout_ms;          /* 0: request's or limits' value */
	int64_t max_body;            /* 0: request's or limits' value */
	const char *proxy;           /* proxy URL (http, https, socks5, socks5h) or NULL: none */
};

/*
 * `st` (may be NULL) supplies the stored validators for conditional requests
 * (looked up by options->validator_scope and the request URL);
 * the engine never writes them (the host does, when a poll succeeds).
 */
struct http_engine *http_engine_new(struct event_base *base, const struct http_limits *limits,
                                    struct state *st);
/* Cancel everything without callbacks and free. Call before freeing the base. */
void http_engine_free(struct http_engine *engine);

/*
 * Queue a request; started when the per-host and total limits allow, hosts
 * served round-robin. The callback runs once on the loop, never from inside
 * this call. NULL (and *error_text set to a static string) when the request
 * is refused outright: a malformed URL or a scheme other than http/https
 * (file:// only when equal to options->allow_file_url).
 */
struct http_call *http_engine_request(struct http_engine *engine,
                                      const struct vigil_http_request *req,
                                      const struct http_call_options *options,
                                      vigil_http_cb cb, void *userdata,
                                      const char **error_text);
/* `url` as log lines may show it: whole, or when `secret` (VIGIL_HTTP_SECRET_URL)
 * only "scheme://host[:port]/…". Caller frees. */
char *http_url_for_log(const char *url, bool secret);

/* Stop a call; its callback will not run. */
void http_call_cancel(struct http_call *call);

/* Transfers queued or running. */
unsigned http_engine_active(const struct http_engine *engine);

#endif
