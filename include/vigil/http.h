/* http.h - HTTP requests a plugin asks the host to make, and their answers */
#ifndef VIGIL_HTTP_H
#define VIGIL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A name/value pair; used for HTTP headers and string-map options. */
struct vigil_kv {
	const char *key;
	const char *value;
};

enum vigil_http_flags {
	/*
	 * Send the ETag / Last-Modified the host remembers for this URL and
	 * report 304 as not_modified. The host records the new validators only
	 * when the source's poll finishes successfully, so an item is never
	 * skipped because a poll died after the fetch.
	 */
	VIGIL_HTTP_CONDITIONAL = 1u << 0,
	/*
	 * The URL holds a secret (a token in its path or query, user:password):
	 * the host's log lines and error messages show it only as
	 * "scheme://host[:port]/…". Added within ABI 1.0; a host that predates
	 * it ignores the flag, so a plugin must not put the URL in its own
	 * messages either.
	 */
	VIGIL_HTTP_SECRET_URL = 1u << 1,
};

/*
 * A request. Borrowed for the duration of host->http_request(); the host
 * copies what it keeps. Zero means "the daemon's default" for every limit.
 * The host adds the instance's configured user_agent and headers.
 * file:// URLs are refused unless the URL is the instance's own `url` option.
 */
struct vigil_http_request {
	uint32_t size;               /* sizeof(struct vigil_http_request) */
	const char *url;
	const char *method;          /* NULL: GET, or POST when body is set */
	const struct vigil_kv *headers;  /* extra headers, n_headers of them */
	size_t n_headers;
	const char *body;            /* request body or NULL */
	size_t body_len;
	uint32_t flags;              /* enum vigil_http_flags */
	uint32_t timeout_ms;         /* total time */
	uint32_t connect_timeout_ms;
	uint64_t max_body;           /* bytes after decompression */
};

/* Error codes in vigil_http_response.error (0 when a status was received). */
enum vigil_http_error {
	VIGIL_HTTP_OK = 0,
	VIGIL_HTTP_E_TIMEOUT = -1,
	VIGIL_HTTP_E_CONNECT = -2,
	VIGIL_HTTP_E_TOO_BIG = -3,    /* body exceeded max_body */
	VIGIL_HTTP_E_REDIRECT = -4,   /* too many redirects or a forbidden target */
	VIGIL_HTTP_E_REFUSED = -5,    /* URL not allowed (scheme, file://) */
	VIGIL_HTTP_E_CANCELLED = -6,  /* never passed to a callback */
	VIGIL_HTTP_E_OTHER = -7,
};

/*
 * The answer. Borrowed for the duration of the callback only.
 * body is NUL-terminated (the NUL is not counted in body_len).
 */
struct vigil_http_response {
	uint32_t size;               /* sizeof(struct vigil_http_response) */
	int status;                  /* HTTP status, 0 when the transfer failed */
	int error;                   /* enum vigil_http_error */
	const char *error_text;      /* human text when error != 0, else NULL */
	bool not_modified;           /* 304 to a conditional request */
	const char *url;             /* effective URL after redirects */
	const char *content_type;    /* or NULL */
	const struct vigil_kv *headers;  /* response headers of the final hop */
	size_t n_headers;
	const char *body;
	size_t body_len;
	int64_t retry_after;         /* seconds from Retry-After (429/503), or -1 */
	const char *etag;            /* validators received, or NULL */
	const char *last_modified;
};

/* Called once per request on the loop thread, unless cancelled first. */
typedef void (*vigil_http_cb)(void *userdata, const struct vigil_http_response *response);

#endif
