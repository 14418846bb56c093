/* text.h - what a desktop notification of an alert says: summary, body, urgency, icon */
#ifndef VIGIL_NOTIFY_TEXT_H
#define VIGIL_NOTIFY_TEXT_H

#include <stdbool.h>
#include <vigil/alert.h>

/* Longest item summary shown in a body, in characters (then "…"). */
#define TEXT_MAX_EXCERPT 400
/* Longest notification summary (rule and title), in characters. */
#define TEXT_MAX_SUMMARY 200

/* The urgency levels of the notification specification (same values). */
enum text_urgency {
	TEXT_URGENCY_LOW = 0,
	TEXT_URGENCY_NORMAL = 1,
	TEXT_URGENCY_CRITICAL = 2,
};

/*
 * "low" → LOW, "normal" and "high" → NORMAL, "critical" → CRITICAL; anything
 * else → NORMAL. CRITICAL notifications stay until dismissed, so only
 * `critical` alerts get it; `high` is told apart by its icon.
 */
enum text_urgency text_urgency(const char *severity);

/* "dialog-warning" for high and critical alerts, else "dialog-information". Static. */
const char *text_default_icon(const char *severity);

/* "RULE: TITLE" on one line (the link when there is no title; the rule alone
 * when there is neither), at most TEXT_MAX_SUMMARY characters. Plain text.
 * Returns a malloc'd string or NULL (out of memory). */
char *text_summary(const struct vigil_alert *alert);

/* The item's summary with runs of white space made one space, at most
 * TEXT_MAX_EXCERPT characters; NULL when the item has none (or out of memory). */
char *text_excerpt(const struct vigil_alert *alert);

/* "SOURCE · TIME": the item's published time, else the alert's, in local
 * time ("2026-01-02 03:04"). Returns a malloc'd string or NULL. */
char *text_meta(const struct vigil_alert *alert);

/*
 * The body: excerpt, meta and link (each optional) on lines of their own.
 * With markup (the server advertises "body-markup"), &, < and > are escaped
 * so that the text shows as written. Thread-safe. Returns a malloc'd string
 * or NULL (out of memory).
 */
char *text_body(const char *excerpt, const char *meta, const char *link, bool markup);

#endif
