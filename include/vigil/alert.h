/* alert.h - an alert as a sink receives it */
#ifndef VIGIL_ALERT_H
#define VIGIL_ALERT_H

#include <stdint.h>
#include <vigil/item.h>

/*
 * One alert handed to a sink's deliver(). The whole struct and everything it
 * points to is owned by the host and stays valid until the sink calls
 * host->done() for the delivery; a sink that needs it longer copies it.
 * Append new members at the end only.
 */
struct vigil_alert {
	uint32_t size;               /* sizeof(struct vigil_alert) */
	int64_t id;                  /* outbox id, unique in this state database */
	const char *rule;            /* rule name */
	const char *severity;        /* "low", "normal", "high" or "critical" */
	const char *source;          /* source instance name */
	const char *reason;          /* human text: why the rule fired */
	const char *story_key;       /* same event from several sources: same key */
	int64_t created;             /* Unix seconds, UTC */
	const struct vigil_item *item;
	const char *json;            /* the alert in vigil's JSON format (one line) */
	const char *idempotency_key; /* the same on every attempt of this alert to this sink */
	uint32_t attempt;            /* 1 on the first attempt */
};

#endif
