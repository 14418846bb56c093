/* alert-json.h - vigil's JSON form of an alert (the log sink and webhooks send it) */
#ifndef VIGIL_DAEMON_ALERT_JSON_H
#define VIGIL_DAEMON_ALERT_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Version of the alert JSON schema, in the "version" member (docs/architecture.md).
 * Members only ever get added within a version; a receiver ignores what it
 * does not know. */
#define ALERT_JSON_VERSION 1

/* One report of an alert's story (story dedupe). Borrowed. */
struct alert_source {
	const char *source;
	const char *link;            /* may be NULL */
	const char *title;           /* may be NULL */
	const char *item_id;         /* may be NULL */
};

/* Everything borrowed for the call. */
struct alert_fields {
	int64_t id;
	const char *rule;
	const char *severity;
	const char *source;
	const char *reason;
	const char *story_key;
	int64_t created;
	const char *item_json;       /* the item object as stored in the outbox */
	/* Optional; zero / NULL leaves the member out. */
	const char *reason_json;     /* JSON array of matched terms -> "reason_terms" */
	const struct alert_source *sources;  /* -> "sources" when there are two or more */
	size_t n_sources;
	const struct alert_fields *digest;   /* a digest's members -> "digest" */
	size_t n_digest;
	const char *suppressed_json; /* a digest: {"kind": count} -> "suppressed" */
	const char *hold_kind;       /* a digest member: why it was held -> "held_for" */
};

/* One line of compact JSON (no newline). Caller frees. NULL if item_json (of
 * the alert or of a digest member) is not a JSON object. */
char *alert_json_render(const struct alert_fields *a);

#endif
