/* host.h - the services the daemon hands to every plugin instance */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/version.h>
#include <vigil/item.h>
#include <vigil/http.h>

enum vigil_log_level {
	VIGIL_LOG_ERROR = 3,         /* syslog priorities, so journald understands them */
	VIGIL_LOG_WARNING = 4,
	VIGIL_LOG_INFO = 6,
	VIGIL_LOG_DEBUG = 7,
};

enum vigil_delivery_result {
	VIGIL_DELIVERY_OK = 0,        /* delivered; the alert leaves the outbox for this sink */
	VIGIL_DELIVERY_RETRY = 1,     /* try again later (after retry_after_s if > 0) */
	VIGIL_DELIVERY_PERMANENT = 2, /* will never succeed; kept as a failed delivery */
};

struct vigil_instance;           /* opaque: the host's handle of one instance */
struct vigil_timer;              /* opaque */
struct vigil_http_call;          /* opaque */
struct vigil_delivery;           /* opaque, see plugin.h */

/*
 * The host table. One per instance, valid from create() until destroy()
 * returns. Every function takes the instance handle `inst` and must be called
 * on the loop thread, except post(). Append new members at the end only; a
 * plugin checks `size` before using a member newer than VIGIL_ABI_MINOR 0.
 */
struct vigil_host {
	uint32_t size;               /* sizeof(struct vigil_host) the host provides */
	uint16_t abi_major;
	uint16_t abi_minor;
	struct vigil_instance *inst; /* pass to every call below */
	const char *instance_name;   /* borrowed, valid for the instance's life */

	/* Log a line prefixed with the instance name. */
	void (*log)(struct vigil_instance *inst, enum vigil_log_level level,
	            const char *fmt, ...) VIGIL_PRINTF(3, 4);

	/*
	 * Configuration getters for options declared in the plugin's table (the
	 * host has validated types). Unset options fall back to their default.
	 * Strings are borrowed for the instance's life; PATH options are absolute.
	 * get_string returns NULL when unset without default; the numeric getters
	 * return `fallback`. Lists and maps return their length and set *out to a
	 * borrowed array.
	 */
	const char *(*get_string)(struct vigil_instance *inst, const char *key);
	int64_t (*get_int)(struct vigil_instance *inst, const char *key, int64_t fallback);
	double (*get_number)(struct vigil_instance *inst, const char *key, double fallback);
	bool (*get_bool)(struct vigil_instance *inst, const char *key, bool fallback);
	int64_t (*get_duration_ms)(struct vigil_instance *inst, const char *key, int64_t fallback);
	size_t (*get_list)(struct vigil_instance *inst, const char *key, const char *const **out);
	size_t (*get_map)(struct vigil_instance *inst, const char *key, const struct vigil_kv **out);

	/* One-shot timer; the callback runs on the loop thread. Cancelling a
	 * timer that already fired is not allowed. */
	struct vigil_timer *(*timer_add)(struct vigil_instance *inst, uint64_t delay_ms,
	                                 void (*cb)(void *userdata), void *userdata);
	void (*timer_cancel)(struct vigil_instance *inst, struct vigil_timer *timer);

	/*
	 * Start an HTTP request through the daemon's engine (limits, redirects,
	 * conditional GET, concurrency). The callback runs once, later, never
	 * from inside this call. Returns NULL on a request the host refuses
	 * outright (and logs why). Cancelling stops the callback.
	 */
	struct vigil_http_call *(*http_request)(struct vigil_instance *inst,
	                                        const struct vigil_http_request *req,
	                                        vigil_http_cb cb, void *userdata);
	void (*http_cancel)(struct vigil_instance *inst, struct vigil_http_call *call);

	/* Sources: hand over one item; the host deep-copies it. 0 or -errno. */
	int (*emit)(struct vigil_instance *inst, const struct vigil_item *item);

	/*
	 * Sources: the poll started by poll() is over. error 0 means success;
	 * otherwise a negative errno and `message` says what went wrong in words
	 * a user can act on (borrowed for the call).
	 */
	void (*poll_done)(struct vigil_instance *inst, int error, const char *message);

	/* Sinks: the delivery is finished; see enum vigil_delivery_result.
	 * message (borrowed) explains a failure. */
	void (*done)(struct vigil_instance *inst, struct vigil_delivery *delivery,
	             enum vigil_delivery_result result, uint32_t retry_after_s,
	             const char *message);

	/*
	 * The one thread-safe call: run fn(userdata) on the loop thread soon.
	 * For plugins that own a thread. Returns 0, or -ESHUTDOWN once the
	 * instance is being destroyed (fn will not run).
	 */
	int (*post)(struct vigil_instance *inst, void (*fn)(void *userdata), void *userdata);

	/* Small per-instance key/value state in the daemon's database.
	 * state_get: 0 and *value (malloc'd, caller frees) or -ENOENT. */
	int (*state_get)(struct vigil_instance *inst, const char *key, char **value);
	/* state_put: value NULL deletes. Committed when this returns 0. */
	int (*state_put)(struct vigil_instance *inst, const char *key, const char *value);

	/* ---- ABI 1.1 ---- */

	/*
	 * Sinks: what made deliveries fail is gone (a desktop session appeared, a
	 * receiver came back): every delivery of this sink waiting for a retry
	 * is due now instead of at the end of its backoff. Alerts held for quiet
	 * hours or digests stay held. Check `size` before calling:
	 *   if (host->size >= VIGIL_HOST_HAS(retry_now)) host->retry_now(host->inst);
	 */
	void (*retry_now)(struct vigil_instance *inst);
};

/* The `size` a host table must have for `member` to be there. */
#define VIGIL_HOST_HAS(member) \
	(offsetof(struct vigil_host, member) + sizeof(((struct vigil_host *)0)->member))

#endif
