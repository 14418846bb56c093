/* alert-json.h - vigil's JSON form of an alert (the log sink and webhooks send it) */
#ifndef VIGIL_DAEMON_ALERT_JSON_H
#define VIGIL_DAEMON_ALERT_JSON_H

#include <stdint.h>

/* Version of the alert JSON schema, in the "version" member (docs/architecture.md). */
#define ALERT_JSON_VERSION 1

struct alert_fields {
	int64_t id;
	const char *rule;
	const char *severity;
	const char *source;
	const char *reason;
	const char *story_key;
	int64_t created;
	const char *item_json;       /* the item object as stored in the outbox */
};

/* One line of compact JSON (no newline). Caller frees. NULL if item_json is
 * not a JSON object. */
char *alert_json_render(const struct alert_fields *a);

#endif
