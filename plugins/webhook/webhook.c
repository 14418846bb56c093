/* webhook.c - the `webhook` sink: POST each alert, signed per Standard Webhooks, in one of five formats */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <vigil/plugin.h>

#include "webhook-private.h"

/* A receiver's answer is a status and a few words; more is never read. */
#define MAX_ANSWER_BODY (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 30000
/* Strings that must never reach a log line or a delivery message. */
#define MAX_REDACT 6

/* One request in flight: the delivery it answers. */
struct pending {
	struct webhook *s;
	struct vigil_delivery *delivery;
	struct vigil_http_call *call;
	int64_t alert_id;
	struct pending *prev, *next;
};

struct webhook {
	const struct vigil_host *host;
	enum wh_format format;
	const char *format_name;     /* borrowed from the host */
	char *url;                   /* owned; may carry a token: never logged */
	char *host_label;            /* "host[:port]" of url: what messages name */
	const char *topic;           /* ntfy; borrowed from the host */
	struct wh_template *tpl;
	char *secret;                /* signing secret as read (owned), or NULL */
	size_t secret_len;
	unsigned char *key;          /* HMAC key derived from it */
	size_t key_len;
	const struct vigil_kv *headers;  /* `headers` option, borrowed from the host */
	size_t n_headers;
	bool own_content_type;       /* headers sets Content-Type itself */
	uint32_t timeout_ms;
	char *url_tail;              /* url after "scheme://", for redaction (owned) */
	const char *redact[MAX_REDACT];
	size_t n_redact;
	struct pending *pending;
};

/* ---- configuration ---- */

/* The option naming where the URL comes from, for messages about it. */
struct url_source {
	const char *option;
	const char *where;           /* the path or credential name; NULL for `url` itself */
};

/* Read the one configured URL source into s->url. 0 or -errno (logged). */
static int load_url(struct webhook *s, struct url_source *src)
{
	const struct vigil_host *host = s->host;
	const char *url = host->get_string(host->inst, "url");
	const char *file = host->get_string(host->inst, "url_file");
	const char *cred = host->get_string(host->inst, "url_credential");
	int given = (url && *url) + (file && *file) + (cred && *cred);

	if (given != 1) {
		host->log(host->inst, VIGIL_LOG_ERROR, "%s: set exactly one of url, url_file "
		          "and url_credential (url_file or url_credential keep a token out of "
		          "the configuration)", given ? "more than one URL" : "no URL");
		return -EINVAL;
	}
	if (url && *url) {
		*src = (struct url_source){ "url", NULL };
		s->url = strdup(url);
		return s->url ? 0 : -ENOMEM;
	}
	size_t len;
	if (file && *file) {
		*src = (struct url_source){ "url_file", file };
		return wh_read_secret(host, "url_file", file, &s->url, &len);
	}
	*src = (struct url_source){ "url_credential", cred };
	char *path;
	int err = wh_credential_path(host, "url_credential", cred, &path);
	if (err < 0)
		return err;
	err = wh_read_secret(host, "url_credential", path, &s->url, &len);
	free(path);
	return err;
}

/*
 * Check s->url (http or https, a host, no spaces or control characters)
 * and derive what messages may show of it. Errors name the option, never
 * the URL.
 */
static int check_url(struct webhook *s, const struct url_source *src)
{
	const struct vigil_host *host = s->host;
	const char *u = s->url;
	size_t scheme_len = !strncasecmp(u, "https://", 8) ? 8 : !strncasecmp(u, "http://", 7) ? 7 : 0;
	const char *problem = NULL;

	if (!scheme_len)
		problem = "is not an http:// or https:// URL";
	for (const unsigned char *p = (const unsigned char *)u; !problem && *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			problem = "contains spaces or control characters";
	const char *auth = u + scheme_len;
	size_t auth_len = problem ? 0 : strcspn(auth, "/?#");
	/* user:password@ is a secret too: only what follows the last '@' is shown. */
	const char *at = auth_len ? memrchr(auth, '@', auth_len) : NULL;
	const char *name = at ? at + 1 : auth;
	size_t name_len = auth_len - (size_t)(name - auth);
	if (!problem && !name_len)
		problem = "has no host name";
	if (problem) {
		if (src->where)
			host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: the content %s", src->option,
			          src->where, problem);
		else
			host->log(host->inst, VIGIL_LOG_ERROR, "url %s", problem);
		return -EINVAL;
	}
	s->host_label = strndup(name, name_len);
	s->url_tail = strdup(auth);
	if (!s->host_label || !s->url_tail)
		return -ENOMEM;
	return 0;
}

static int load_secret(struct webhook *s)
{
	const struct vigil_host *host = s->host;
	const char *file = host->get_string(host->inst, "secret_file");
	const char *cred = host->get_string(host->inst, "secret_credential");
	int err;

	if (file && *file && cred && *cred) {
		host->log(host->inst, VIGIL_LOG_ERROR, "set at most one of secret_file and "
		          "secret_credential");
		return -EINVAL;
	}
	const char *option = "secret_file";
	if (file && *file) {
		err = wh_read_secret(host, option, file, &s->secret, &s->secret_len);
	} else if (cred && *cred) {
		char *path;
		option = "secret_credential";
		err = wh_credential_path(host, option, cred, &path);
		if (err < 0)
			return err;
		err = wh_read_secret(host, option, path, &s->secret, &s->secret_len);
		free(path);
	} else {
		return 0;                /* unsigned: webhook-id and webhook-timestamp only */
	}
	if (err < 0)
		return err;
	err = wh_sign_key(s->secret, s->secret_len, &s->key, &s->key_len);
	if (err == -EINVAL)
		host->log(host->inst, VIGIL_LOG_ERROR, "%s: a secret starting with whsec_ must "
		          "continue with the key in base64", option);
	return err;
}

static bool header_name_ok(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!strchr("!#$%&'*+-.^_`|~", *p) && !(*p >= '0' && *p <= '9') &&
		    !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
			return false;
	return true;
}

static int load_headers(struct webhook *s)
{
	const struct vigil_host *host = s->host;
	static const char *const reserved[] = {
		"webhook-id", "webhook-timestamp", "webhook-signature", "content-length", "host",
	};
	s->n_headers = host->get_map(host->inst, "headers", &s->headers);
	for (size_t i = 0; i < s->n_headers; i++) {
		const struct vigil_kv *h = &s->headers[i];
		if (!header_name_ok(h->key)) {
			host->log(host->inst, VIGIL_LOG_ERROR, "headers: \"%s\" is not a header name",
			          h->key ? h->key : "");
			return -EINVAL;
		}
		if (!h->value || strpbrk(h->value, "\r\n")) {
			host->log(host->inst, VIGIL_LOG_ERROR, "headers: the value of %s must be one "
			          "line", h->key);
			return -EINVAL;
		}
		for (size_t j = 0; j < sizeof reserved / sizeof reserved[0]; j++) {
			if (!strcasecmp(h->key, reserved[j])) {
				host->log(host->inst, VIGIL_LOG_ERROR, "headers: %s is set by the "
				          "webhook sink itself", h->key);
				return -EINVAL;
			}
		}
		if (!strcasecmp(h->key, "Content-Type"))
			s->own_content_type = true;
	}
	return 0;
}

static int load_format(struct webhook *s)
{
	const struct vigil_host *host = s->host;
	s->format_name = host->get_string(host->inst, "format");
	if (!s->format_name)
		s->format_name = "json";
	s->format = wh_format_parse(s->format_name);
	if (!s->format) {
		host->log(host->inst, VIGIL_LOG_ERROR, "format \"%s\" is not one of json, slack, "
		          "discord, ntfy, template", s->format_name);
		return -EINVAL;
	}
	s->topic = host->get_string(host->inst, "topic");
	if (s->format == WH_FORMAT_NTFY && (!s->topic || !*s->topic)) {
		host->log(host->inst, VIGIL_LOG_ERROR, "format ntfy needs `topic:` (the url is the "
		          "ntfy server's root, e.g. https://ntfy.sh/)");
		return -EINVAL;
	}
	if (s->format != WH_FORMAT_NTFY && s->topic && *s->topic)
		host->log(host->inst, VIGIL_LOG_WARNING, "topic is only used with format ntfy; "
		          "ignored");
	const char *tpl = host->get_string(host->inst, "template");
	if (s->format == WH_FORMAT_TEMPLATE) {
		if (!tpl || !*tpl) {
			host->log(host->inst, VIGIL_LOG_ERROR, "format template needs `template:` "
			          "(a file with {{field}} placeholders)");
			return -EINVAL;
		}
		return wh_template_load(host, tpl, &s->tpl);
	}
	if (tpl && *tpl)
		host->log(host->inst, VIGIL_LOG_WARNING, "template is only used with format "
		          "template; ignored");
	return 0;
}

static void add_redaction(struct webhook *s, const char *secret)
{
	if (secret && s->n_redact < MAX_REDACT)
		s->redact[s->n_redact++] = secret;
}

static void webhook_destroy(void *state);

static int webhook_create(const struct vigil_host *host, void **state)
{
	struct webhook *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->host = host;
	struct url_source src;
	int64_t timeout = host->get_duration_ms(host->inst, "timeout", DEFAULT_TIMEOUT_MS);
	int err = load_format(s);
	if (!err)
		err = load_url(s, &src);
	if (!err)
		err = check_url(s, &src);
	if (!err)
		err = load_secret(s);
	if (!err)
		err = load_headers(s);
	if (!err && (timeout <= 0 || timeout > 600000)) {
		host->log(host->inst, VIGIL_LOG_ERROR, "timeout must be between 1ms and 10m");
		err = -EINVAL;
	}
	if (err) {
		if (err == -ENOMEM)
			host->log(host->inst, VIGIL_LOG_ERROR, "out of memory");
		webhook_destroy(s);
		return err;
	}
	s->timeout_ms = (uint32_t)timeout;
	/* The URL whole and without its scheme; the secret; an ntfy topic (a password). */
	add_redaction(s, s->url);
	add_redaction(s, s->url_tail);
	add_redaction(s, strpbrk(s->url_tail, "/?#"));
	add_redaction(s, s->secret);
	if (s->format == WH_FORMAT_NTFY)
		add_redaction(s, s->topic);
	host->log(host->inst, VIGIL_LOG_DEBUG, "posting %s to %s%s", s->format_name, s->host_label,
	          s->key ? ", signed" : "");
	*state = s;
	return 0;
}

static void webhook_destroy(void *state)
{
	struct webhook *s = state;
	if (!s)
		return;
	/* Abandoned deliveries stay in the daemon's outbox. */
	while (s->pending) {
		struct pending *p = s->pending;
		s->pending = p->next;
		s->host->http_cancel(s->host->inst, p->call);
		free(p);
	}
	wh_template_free(s->tpl);
	if (s->url) {
		explicit_bzero(s->url, strlen(s->url));
		free(s->url);
	}
	if (s->url_tail) {
		explicit_bzero(s->url_tail, strlen(s->url_tail));
		free(s->url_tail);
	}
	if (s->secret) {
		explicit_bzero(s->secret, s->secret_len);
		free(s->secret);
	}
	if (s->key) {
		explicit_bzero(s->key, s->key_len);
		free(s->key);
	}
	free(s->host_label);
	free(s);
}

/* ---- delivering ---- */

static void pending_unlink(struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->s->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void on_response(void *userdata, const struct vigil_http_response *r)
{
	struct pending *p = userdata;
	struct webhook *s = p->s;
	const struct vigil_host *host = s->host;
	char message[512];
	uint32_t retry_after = 0;

	pending_unlink(p);
	enum vigil_delivery_result result = wh_classify(r, s->host_label, s->redact, s->n_redact,
	                                                &retry_after, message, sizeof message);
	if (result == VIGIL_DELIVERY_OK)
		host->log(host->inst, VIGIL_LOG_DEBUG, "alert %" PRId64 " accepted by %s (HTTP %d)",
		          p->alert_id, s->host_label, r->status);
	host->done(host->inst, p->delivery, result, retry_after,
	           result == VIGIL_DELIVERY_OK ? NULL : message);
	free(p);
}

static int webhook_deliver(void *state, const struct vigil_alert *alert,
                           struct vigil_delivery *delivery)
{
	struct webhook *s = state;
	const struct vigil_host *host = s->host;
	struct wh_view view;
	char message[256];

	if (wh_view_init(&view, alert) < 0)
		return -ENOMEM;          /* the daemon retries */
	size_t body_len = 0;
	const char *why;
	bool transient;
	char *body = wh_format_body(s->format, &view, s->topic, s->tpl, &body_len, &why,
	                            &transient);
	wh_view_clear(&view);
	if (!body) {
		if (transient)
			return -ENOMEM;
		snprintf(message, sizeof message, "cannot make the %s body: %s", s->format_name, why);
		host->done(host->inst, delivery, VIGIL_DELIVERY_PERMANENT, 0, message);
		return 0;
	}

	/* The same webhook-id on every attempt lets the receiver drop repeats. */
	char id[64];
	if (alert->idempotency_key && *alert->idempotency_key &&
	    !strpbrk(alert->idempotency_key, "\r\n"))
		snprintf(id, sizeof id, "%s", alert->idempotency_key);
	else
		snprintf(id, sizeof id, "msg_vigil_%" PRId64, alert->id);
	int64_t now = (int64_t)time(NULL);
	char timestamp[24];
	snprintf(timestamp, sizeof timestamp, "%" PRId64, now);
	char *signature = NULL;
	if (s->key) {
		signature = wh_signature(s->key, s->key_len, id, now, body, body_len);
		if (!signature) {
			free(body);
			return -ENOMEM;
		}
	}

	struct vigil_kv *headers = calloc(s->n_headers + 4, sizeof *headers);
	struct pending *p = calloc(1, sizeof *p);
	if (!headers || !p) {
		free(headers);
		free(p);
		free(body);
		free(signature);
		return -ENOMEM;
	}
	size_t n = 0;
	if (!s->own_content_type)
		headers[n++] = (struct vigil_kv){ "Content-Type", "application/json" };
	for (size_t i = 0; i < s->n_headers; i++)
		headers[n++] = s->headers[i];
	headers[n++] = (struct vigil_kv){ "webhook-id", id };
	headers[n++] = (struct vigil_kv){ "webhook-timestamp", timestamp };
	if (signature)
		headers[n++] = (struct vigil_kv){ "webhook-signature", signature };

	struct vigil_http_request req = {
		.size = sizeof req,
		.url = s->url,
		.method = "POST",
		.headers = headers,
		.n_headers = n,
		.body = body,
		.body_len = body_len,
		/* Webhook URLs carry tokens (Slack, Discord, ntfy topics): always. */
		.flags = VIGIL_HTTP_SECRET_URL,
		.timeout_ms = s->timeout_ms,
		.max_body = MAX_ANSWER_BODY,
	};
	p->s = s;
	p->delivery = delivery;
	p->alert_id = alert->id;
	host->log(host->inst, VIGIL_LOG_DEBUG, "alert %" PRId64 " attempt %" PRIu32 ": POST %zu "
	          "bytes of %s to %s", alert->id, alert->attempt, body_len, s->format_name,
	          s->host_label);
	p->call = host->http_request(host->inst, &req, on_response, p);
	free(headers);
	free(body);
	free(signature);
	if (!p->call) {
		free(p);
		snprintf(message, sizeof message, "the daemon refused the request to %s (see its "
		         "log)", s->host_label);
		host->done(host->inst, delivery, VIGIL_DELIVERY_PERMANENT, 0, message);
		return 0;
	}
	p->next = s->pending;
	if (s->pending)
		s->pending->prev = p;
	s->pending = p;
	return 0;
}

static const struct vigil_option webhook_options[] = {
	{
		.key = "url",
		.type = VIGIL_OPT_STRING,
		.description = "the receiver's http(s) URL; one of url, url_file, url_credential "
		               "(prefer those two when the URL holds a token)",
	},
	{
		.key = "url_file",
		.type = VIGIL_OPT_PATH,
		.description = "a file holding the URL (trailing newline ignored)",
	},
	{
		.key = "url_credential",
		.type = VIGIL_OPT_STRING,
		.description = "a systemd credential holding the URL: the file of this name in "
		               "$CREDENTIALS_DIRECTORY (LoadCredential=)",
	},
	{
		.key = "format",
		.type = VIGIL_OPT_STRING,
		.default_value = "json",
		.description = "body format: json (vigil's alert JSON, docs/webhook.md), slack, "
		               "discord, ntfy or template",
	},
	{
		.key = "topic",
		.type = VIGIL_OPT_STRING,
		.description = "format ntfy: the topic to publish to (url is the server root)",
	},
	{
		.key = "template",
		.type = VIGIL_OPT_PATH,
		.description = "format template: a JSON file with {{rule}}, {{item.title}}, ... "
		               "placeholders, read at start",
	},
	{
		.key = "secret_file",
		.type = VIGIL_OPT_PATH,
		.description = "a file holding the Standard Webhooks signing secret (whsec_<base64> "
		               "or raw bytes); unset: unsigned",
	},
	{
		.key = "secret_credential",
		.type = VIGIL_OPT_STRING,
		.description = "a systemd credential holding the signing secret (instead of "
		               "secret_file)",
	},
	{
		.key = "headers",
		.type = VIGIL_OPT_MAP,
		.description = "extra request headers (a mapping); Content-Type defaults to "
		               "application/json",
	},
	{
		.key = "timeout",
		.type = VIGIL_OPT_DURATION,
		.default_value = "30s",
		.description = "total time of one request; keep it below defaults.delivery_timeout",
	},
};

static const struct vigil_plugin_methods webhook_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = webhook_create,
	.destroy = webhook_destroy,
	.deliver = webhook_deliver,
};

static const struct vigil_plugin webhook_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "webhook",
	.version = VIGIL_VERSION_STRING,
	.description = "POST alerts to a URL (vigil JSON, Slack, Discord, ntfy or a template), "
	               "signed per Standard Webhooks",
	.kind = VIGIL_PLUGIN_SINK,
	.options = webhook_options,
	.n_options = sizeof webhook_options / sizeof webhook_options[0],
	.methods = &webhook_methods,
};

VIGIL_PLUGIN_DEFINE(webhook_plugin)
