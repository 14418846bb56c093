/* webhook-private.h - the webhook sink's internal interfaces, shared by its source files */
#ifndef VIGIL_WEBHOOK_PRIVATE_H
#define VIGIL_WEBHOOK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vigil/plugin.h>

/* ---- text.c: UTF-8 and escaping ---- */

/* A copy of s with every invalid UTF-8 sequence replaced by U+FFFD. NULL in,
 * NULL out; NULL also when out of memory (then *oom is set, if given). */
char *wh_utf8_repair(const char *s, bool *oom);

/* Length of s in UTF-16 code units (Discord's and Slack's "characters"
 * counted conservatively: never fewer than code points). s is valid UTF-8. */
size_t wh_text_units(const char *s);

/*
 * A copy of s (valid UTF-8) of at most max_units UTF-16 code units; a
 * shortened text ends in "…". Cut at code point boundaries. NULL when out
 * of memory.
 */
char *wh_truncate(const char *s, size_t max_units);

/* s with &, < and > as &amp; &lt; &gt; (Slack's escaping). NULL on ENOMEM. */
char *wh_slack_escape(const char *s);

/* Replace every occurrence of each non-NULL string in secrets[0..n) that is
 * at least 4 bytes long by "[redacted]", in place within buf of size len. */
void wh_redact(char *buf, size_t len, const char *const *secrets, size_t n);

/* ---- sign.c: Standard Webhooks signatures ---- */

/*
 * The HMAC key of a secret: "whsec_" followed by base64 is the decoded
 * bytes; anything else is used as raw bytes. 0, or -EINVAL (bad base64 after
 * whsec_, or an empty key), -ENOMEM. *key is malloc'd.
 */
int wh_sign_key(const char *secret, size_t secret_len, unsigned char **key, size_t *key_len);

/* "v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">". Caller frees; NULL on error. */
char *wh_signature(const unsigned char *key, size_t key_len, const char *id, int64_t timestamp,
                   const char *body, size_t body_len);

/* ---- secret.c: secrets from files and systemd credentials ---- */

/*
 * Read a secret from `path`: at most 64 KiB, trailing CR/LF removed, not
 * empty. 0 and *out (malloc'd, NUL-terminated, *len bytes), or -errno after
 * logging why (naming `option` and the path, never the content).
 */
int wh_read_secret(const struct vigil_host *host, const char *option, const char *path,
                   char **out, size_t *len);

/* The path of credential `name` in $CREDENTIALS_DIRECTORY. 0 and *path
 * (malloc'd), or -errno after logging why. */
int wh_credential_path(const struct vigil_host *host, const char *option, const char *name,
                       char **path);

/* ---- the alert as text, for the formats ---- */

/* One story report from the alert JSON's "sources" member. */
struct wh_source {
	const char *source;
	const char *link;            /* or NULL */
	const char *title;           /* or NULL */
};

/*
 * What the formats and templates show of one alert: every string valid
 * UTF-8 (repaired), NULL when absent. Built per delivery by wh_view_init
 * from the borrowed alert and freed by wh_view_clear.
 */
struct wh_view {
	const struct vigil_alert *alert;
	char *rule, *severity, *source, *reason, *story_key;
	char *item_id, *title, *summary, *content, *author, *link, *lang, *feed_title;
	char *categories;            /* joined with ", ", or NULL */
	char *json;                  /* the alert JSON (repaired), or NULL */
	char created[32], published[32], updated[32];  /* RFC 3339 or "" */
	char id[24], attempt[16];
	char *idempotency_key;
	char **field_names, **field_values;   /* item fields as text */
	size_t n_fields;
	struct wh_source *sources;   /* from alert JSON "sources"; points into sources_json */
	size_t n_sources;
	void *sources_json;          /* json_t holding the strings above */
};

/* 0 or -ENOMEM. */
int wh_view_init(struct wh_view *v, const struct vigil_alert *alert);
void wh_view_clear(struct wh_view *v);

/* ---- format.c: request bodies ---- */

enum wh_format {
	WH_FORMAT_JSON = 1,
	WH_FORMAT_SLACK,
	WH_FORMAT_DISCORD,
	WH_FORMAT_NTFY,
	WH_FORMAT_TEMPLATE,
};

/* The format called `name`, or 0. */
enum wh_format wh_format_parse(const char *name);

struct wh_template;

/*
 * The body for `v` in `format`: malloc'd JSON text, *len bytes. NULL and
 * *why set when it cannot be made (a static reason; "out of memory" is
 * the only transient one, see *transient).
 */
char *wh_format_body(enum wh_format format, const struct wh_view *v, const char *topic,
                     const struct wh_template *tpl, size_t *len, const char **why,
                     bool *transient);

/* ---- template.c: user templates with {{field}} placeholders ---- */

/*
 * Read and parse the template at `path`. Unknown placeholders and unclosed
 * braces are errors naming path:line:column; so is a template that does
 * not render to JSON. 0 and *out, or -errno after logging why.
 */
int wh_template_load(const struct vigil_host *host, const char *path, struct wh_template **out);
void wh_template_free(struct wh_template *tpl);

/* The rendered text (malloc'd, *len bytes), or NULL when out of memory. */
char *wh_template_render(const struct wh_template *tpl, const struct wh_view *v, size_t *len);

/* ---- result.c: what an HTTP answer means for the delivery ---- */

/*
 * Map a response to a delivery result: 2xx OK; 408, 429, 5xx, timeouts,
 * connection and transfer errors RETRY (retry_after from Retry-After);
 * 3xx left after redirects, other 4xx, refused URLs and redirect errors
 * PERMANENT. message gets "HTTP 503 Service Unavailable from HOST: <start
 * of the answer>" or similar, naming `host_label`; every string in
 * secrets[0..n_secrets) (the URL, the signing secret) is redacted from it,
 * in the whole answer before it is cut short.
 */
enum vigil_delivery_result wh_classify(const struct vigil_http_response *r,
                                       const char *host_label,
                                       const char *const *secrets, size_t n_secrets,
                                       uint32_t *retry_after_s, char *message,
                                       size_t message_len);

#endif
