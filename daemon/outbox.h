/* outbox.h - the durable alert outbox: alerts and their per-sink delivery status */
#ifndef VIGIL_DAEMON_OUTBOX_H
#define VIGIL_DAEMON_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "state.h"

/* Stored in the database as these numbers: never renumber. */
enum delivery_status {
	DELIVERY_PENDING = 0,        /* waiting for next_attempt */
	DELIVERY_INFLIGHT = 1,       /* handed to the sink, no answer yet */
	DELIVERY_DELIVERED = 2,
	DELIVERY_FAILED = 3,         /* permanent failure or dead letter (too old) */
	DELIVERY_DIGESTED = 4,       /* not sent on its own: went out inside a digest alert
	                                (alerts.digest_id); never claimed */
};

/* An alert as stored. Strings borrowed by outbox_add / outbox_submit. */
struct outbox_alert {
	const char *rule;
	const char *severity;
	const char *source;
	const char *reason;
	const char *story_key;
	const char *item_json;       /* the item as JSON (alert-json.c) */
	int64_t created;
	/* Added with schema 2; all may be NULL. */
	const char *reason_json;     /* the matcher's JSON array of matched terms */
	const char *link;            /* the item's, for the alert's list of sources */
	const char *title;
	const char *item_id;
};

/*
 * Add an alert with one pending delivery per sink (due now), and its item as
 * the first entry of its sources (alert_sources); no noise control (that is
 * outbox_submit). Meant to run inside the caller's transaction so the alert
 * and the seen mark of its item commit together (without one it uses its
 * own). *id (may be NULL) receives the alert id. rule, severity and source
 * are required (-EINVAL); created 0 means now. Each delivery gets its
 * idempotency key here, once.
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

/* Retries of `sink` (PENDING after a failed attempt) become due at `now`;
 * *n (may be NULL) says how many. 0 or -EIO. */
int outbox_retry_now(struct state *st, const char *sink, int64_t now, size_t *n);

/* Earliest next_attempt among PENDING deliveries for `sink`: 0 and *when, or -ENOENT. */
int outbox_next_due(struct state *st, const char *sink, int64_t *when);

/* Number of deliveries in a status (sink NULL: every sink), or -EIO. */
int64_t outbox_count(struct state *st, const char *sink, enum delivery_status status);

/* List deliveries in a status, newest alert first, for --list-alerts; limit 0
 * means no limit. Like claim's out. */
int outbox_list(struct state *st, enum delivery_status status, size_t limit,
                struct outbox_delivery ***out, size_t *n);

/*
 * Noise control (RULES.md "Noise control"; docs/noise.md says how it works).
 */

/* The story window when a rule sets no cooldown. */
#define OUTBOX_COOLDOWN_DEFAULT_MS INT64_C(3600000)

/* One rule's settings. */
struct outbox_noise {
	int64_t cooldown_ms;         /* story window; < 0: the default (1 h); 0: none */
	int64_t digest_ms;           /* > 0: batch this long, then one digest */
	bool has_quiet;
	int quiet_start_min, quiet_end_min;  /* local minutes after midnight; may wrap */
	int max_per_hour;            /* > 0: cap per rolling hour, the rest is held */
};

enum outbox_outcome {
	OUTBOX_NEW = 0,              /* a new alert, due now */
	OUTBOX_HELD = 1,             /* a new alert, held (quiet hours, digest, burst cap) */
	OUTBOX_MERGED = 2,           /* the story of an earlier alert within its cooldown that has
	                                not gone out yet: added to its sources, delivered with it */
	OUTBOX_SUPPRESSED = 3,       /* the same, but the earlier alert already went out: added to
	                                its sources and counted (kind "cooldown"), not sent again */
};

struct outbox_result {
	enum outbox_outcome outcome;
	int64_t alert_id;            /* the new alert, or the earlier one merged into */
	int64_t held_until;          /* OUTBOX_HELD: when the hold ends (Unix seconds) */
	const char *kind;            /* OUTBOX_HELD: "quiet", "digest" or "burst"; static */
};

/*
 * Submit one rule's alert for an item with noise control, at time `now`
 * (Unix seconds; 0: the clock; a->created is ignored):
 *  1. story dedupe: an alert of the same rule and story_key created within
 *     the cooldown takes this item as one more source (MERGED / SUPPRESSED);
 *  2. otherwise a new alert, held (its deliveries pending, due when the hold
 *     ends) if the rule has an open batch, or `now` is in its quiet hours, or
 *     it has a digest period, or it reached max_per_hour; else due now.
 * noise NULL: no noise control at all (a match without a rule). Every
 * suppression and hold is counted (table suppressed) and logged at info.
 * Runs in the caller's transaction when one is open. 0, -EINVAL or -EIO.
 */
int outbox_submit(struct state *st, const struct outbox_alert *a, const struct outbox_noise *noise,
                  const char *const *sinks, size_t n_sinks, int64_t now,
                  struct outbox_result *res);

/*
 * Release holds that ended at or before `now`: per rule, a single held alert
 * is delivered as itself; two or more become ONE digest alert (a new alert
 * whose item is "N alerts: RULE" with a summary listing them, due now, to
 * every sink any member was for); the members get digest_id and their
 * deliveries DELIVERY_DIGESTED. *released (may be NULL): alerts released.
 * Caller's transaction or its own. 0 or -EIO.
 */
int outbox_release_due(struct state *st, int64_t now, size_t *released);
/* When the earliest hold ends: 0 and *when, or -ENOENT when nothing is held. */
int outbox_next_release(struct state *st, int64_t *when);
/* Alerts held now, or -EIO. */
int64_t outbox_held_count(struct state *st);

/*
 * Is local time `t` inside the quiet window [start, end) (minutes after local
 * midnight, wrapping past midnight when start > end; start == end: never)?
 * If so and `end_at` is not NULL, *end_at is when the window ends. Uses
 * localtime_r after tzset(), so $TZ is honoured.
 */
bool outbox_quiet_at(int start_min, int end_min, int64_t t, int64_t *end_at);

/* Suppression counters (for status). Strings malloc'd; outbox_suppressed_free. */
struct outbox_suppressed {
	char *rule;
	char *kind;                  /* cooldown | story | quiet | digest | burst */
	int64_t count;
	int64_t last;                /* Unix seconds of the latest one */
};
int outbox_suppressed_summary(struct state *st, struct outbox_suppressed **out, size_t *n);
void outbox_suppressed_free(struct outbox_suppressed *v, size_t n);

/* What a delivery renders beyond the alert row: everything malloc'd. */
struct outbox_source {
	char *source, *link, *title, *item_id;
	int64_t added;
};
struct outbox_member {
	int64_t id;
	char *severity, *source, *reason, *reason_json, *story_key, *item_json, *hold_kind;
	int64_t created;
	struct outbox_source *sources;
	size_t n_sources;
};
struct outbox_extras {
	char *reason_json;
	char *noise_json;            /* a digest: {"kind": count} suppressed since the last one */
	struct outbox_source *sources;   /* the alert's item first, then merged ones */
	size_t n_sources;
	struct outbox_member *members;   /* a digest's, oldest first */
	size_t n_members;
};
/* 0 (zeroed and filled; free with outbox_extras_clear), -ENOENT or -EIO. */
int outbox_extras_get(struct state *st, int64_t alert_id, struct outbox_extras *out);
void outbox_extras_clear(struct outbox_extras *x);

#endif
