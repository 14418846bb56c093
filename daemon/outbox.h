/* outbox.h - the durable alert outbox: alerts and their per-sink delivery status */
#ifndef VIGIL_DAEMON_OUTBOX_H
#define VIGIL_DAEMON_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include "state.h"

/* Stored in the database as these numbers: never renumber. */
enum delivery_status {
	DELIVERY_PENDING = 0,        /* waiting for next_attempt */
	DELIVERY_INFLIGHT = 1,       /* handed to the sink, no answer yet */
	DELIVERY_DELIVERED = 2,
	DELIVERY_FAILED = 3,         /* permanent failure or dead letter (too old) */
};

/* An alert as stored. Strings borrowed by outbox_add. */
struct outbox_alert {
	const char *rule;
	const char *severity;
	const char *source;
	const char *reason;
	const char *story_key;
	const char *item_json;       /* the item as JSON (alert-json.c) */
	int64_t created;
};

/*
 * Add an alert with one pending delivery per sink (due now). Meant to run
 * inside the caller's transaction so the alert and the seen mark of its item
 * commit together (without one it uses its own). *id (may be NULL) receives
 * the alert id. rule, severity and source are required (-EINVAL); created 0
 * means now. Each delivery gets its idempotency key here, once.
 */
int outbox_add(struct state *st, const struct outbox_alert *a,
               const char *const *sinks, size_t n_sinks, int64_t *id);

/* One delivery with its alert. Every string malloc'd; outbox_delivery_free. */
struct outbox_delivery {
	int64_t alert_id;
	char *sink;
	enum delivery_status status;
	uint32_t attempts;           /* attempts started so far */
	int64_t next_attempt;        /* Unix seconds */
	char *last_error;
	char *idempotency_key;       /* stable per (alert, sink) */
	char *rule, *severity, *source, *reason, *story_key, *item_json;
	int64_t created;
};
void outbox_delivery_free(struct outbox_delivery *d);   /* frees members and d */
/* Frees the n deliveries of a claim or list array, then the array. */
void outbox_deliveries_free(struct outbox_delivery **v, size_t n);

/* After a restart nothing is in flight: INFLIGHT becomes PENDING, due now. */
int outbox_recover(struct state *st, int64_t now);

/*
 * Claim up to `limit` PENDING deliveries for `sink` with next_attempt <= now,
 * oldest first: each becomes INFLIGHT with attempts + 1 (atomically; inside the
 * caller's transaction if one is open). *out is a malloc'd array of *n
 * pointers (free each, then the array; outbox_deliveries_free); NULL when *n is 0.
 */
int outbox_claim(struct state *st, const char *sink, int64_t now, size_t limit,
                 struct outbox_delivery ***out, size_t *n);

/* The mark functions return 0, -ENOENT when there is no such delivery, or -EIO. */
int outbox_mark_delivered(struct state *st, int64_t alert_id, const char *sink, int64_t now);
/* Back to PENDING, due at next_attempt. */
int outbox_mark_retry(struct state *st, int64_t alert_id, const char *sink,
                      int64_t next_attempt, const char *error);
int outbox_mark_failed(struct state *st, int64_t alert_id, const char *sink,
                       const char *error, int64_t now);

/* Earliest next_attempt among PENDING deliveries for `sink`: 0 and *when, or -ENOENT. */
int outbox_next_due(struct state *st, const char *sink, int64_t *when);

/* Number of deliveries in a status (sink NULL: every sink), or -EIO. */
int64_t outbox_count(struct state *st, const char *sink, enum delivery_status status);

/* List deliveries in a status, newest alert first, for --list-alerts; limit 0
 * means no limit. Like claim's out. */
int outbox_list(struct state *st, enum delivery_status status, size_t limit,
                struct outbox_delivery ***out, size_t *n);

#endif
