/* notify.c - the `notify` sink: alerts as desktop notifications (libnotify on a thread of its own) */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#include "text.h"
#include "worker.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MIN_TIMEOUT_MS 100
#define MAX_TIMEOUT_MS (10 * 60 * 1000)

struct notify_sink;

/* One delivery waiting for the notify thread. Loop thread only. */
struct pending {
	struct notify_sink *s;
	struct notify_job *job;      /* the worker's once submitted; only for notify_cancel() */
	struct vigil_delivery *delivery;
	struct vigil_timer *timer;   /* the answer is due by then; NULL once fired */
	struct pending *prev, *next;
};

struct notify_sink {
	const struct vigil_host *host;
	struct notify_client *client;
	const char *icon;            /* borrowed from the host; NULL: by severity */
	const char *app_name;        /* borrowed from the host */
	int timeout_ms;
	int expire_ms;               /* -1: the server's default */
	bool actions;
	/* Unavailability was logged and nothing has been shown since: say it
	 * once, not for every alert, and say so when it works again. Meanwhile
	 * the notify thread watches for the server (notify_watch()). */
	bool down;
	struct pending *pending;
};

static void pending_unlink(struct pending *p)
{
	struct notify_sink *s = p->s;
	if (p->prev)
		p->prev->next = p->next;
	else
		s->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void unavailable(struct notify_sink *s, const char *why)
{
	const struct vigil_host *host = s->host;
	if (s->down) {
		host->log(host->inst, VIGIL_LOG_DEBUG, "still no desktop notifications: %s", why);
		return;
	}
	s->down = true;
	host->log(host->inst, VIGIL_LOG_WARNING, "cannot show desktop notifications: %s; alerts "
	          "wait in the outbox and are shown once a notification server answers (this "
	          "is logged again only after notifications worked in between)", why);
	notify_watch(s->client, s->timeout_ms);
}

/* A notification was shown, or the notify thread saw a server answer (JOB_BACK). */
static void available(struct notify_sink *s)
{
	const struct vigil_host *host = s->host;
	if (!s->down)
		return;
	s->down = false;
	if (host->size < VIGIL_HOST_HAS(retry_now)) {
		/* An ABI 1.0 host: the alerts wait for their backoff. */
		host->log(host->inst, VIGIL_LOG_INFO, "desktop notifications work again");
		return;
	}
	host->log(host->inst, VIGIL_LOG_INFO, "desktop notifications work again; showing the "
	          "alerts that waited");
	host->retry_now(host->inst);
}

/* The timer ran out before the notify thread answered. */
static void on_timeout(void *data)
{
	struct pending *p = data;
	struct notify_sink *s = p->s;
	const struct vigil_host *host = s->host;
	char why[128];

	p->timer = NULL;
	notify_cancel(s->client, p->job);
	p->job = NULL;
	snprintf(why, sizeof why, "the notification server did not answer within %g s",
	         s->timeout_ms / 1000.0);
	unavailable(s, why);
	struct vigil_delivery *delivery = p->delivery;
	pending_unlink(p);
	free(p);
	host->done(host->inst, delivery, VIGIL_DELIVERY_RETRY, 0, why);
}

/* The notify thread's answer, on the loop thread (see notify_client_new()). */
static void on_result(void *data, struct notify_job *job)
{
	struct notify_sink *s = data;
	const struct vigil_host *host = s->host;

	if (job->kind == JOB_OPENED) {
		host->log(host->inst, job->outcome == JOB_OK ? VIGIL_LOG_INFO : VIGIL_LOG_WARNING,
		          "%s", job->message ? job->message : "the \"Open\" action ran");
		return;
	}
	if (job->kind == JOB_BACK) {
		available(s);
		return;
	}

	struct pending *p = job->loop_data;
	if (p->timer)
		host->timer_cancel(host->inst, p->timer);
	struct vigil_delivery *delivery = p->delivery;
	pending_unlink(p);
	free(p);

	const char *why = job->message ? job->message : "unknown error";
	switch (job->outcome) {
	case JOB_OK:
		available(s);
		host->done(host->inst, delivery, VIGIL_DELIVERY_OK, 0, NULL);
		break;
	case JOB_UNAVAILABLE:
		/*
		 * A retry after the dispatcher's backoff (10 s, 20 s, ... at most
		 * 1 h), or as soon as the notify thread sees a server answer
		 * (JOB_BACK: available() calls retry_now). retry_after_s could
		 * only make the wait longer.
		 */
		unavailable(s, why);
		host->done(host->inst, delivery, VIGIL_DELIVERY_RETRY, 0, why);
		break;
	case JOB_FAILED:
		/* The server refused this one; the dispatcher logs the attempt. */
		host->done(host->inst, delivery, VIGIL_DELIVERY_RETRY, 0, why);
		break;
	}
}

static int notify_create(const struct vigil_host *host, void **state)
{
	struct vigil_instance *inst = host->inst;
	struct notify_sink *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->host = host;
	s->icon = host->get_string(inst, "icon");
	if (s->icon && !*s->icon)
		s->icon = NULL;
	s->app_name = host->get_string(inst, "app_name");
	s->actions = host->get_bool(inst, "actions", true);
	int64_t timeout = host->get_duration_ms(inst, "timeout", DEFAULT_TIMEOUT_MS);
	int64_t expire = host->get_duration_ms(inst, "expire", -1);

	int err = -EINVAL;
	if (!s->app_name || !*s->app_name) {
		host->log(inst, VIGIL_LOG_ERROR, "app_name must not be empty");
		goto fail;
	}
	if (timeout < MIN_TIMEOUT_MS || timeout > MAX_TIMEOUT_MS) {
		host->log(inst, VIGIL_LOG_ERROR, "timeout must be between 100ms and 10m (got %lld ms)",
		          (long long)timeout);
		goto fail;
	}
	if (expire > INT_MAX) {
		host->log(inst, VIGIL_LOG_ERROR, "expire is too long (at most %d ms)", INT_MAX);
		goto fail;
	}
	s->timeout_ms = (int)timeout;
	s->expire_ms = expire < 0 ? -1 : (int)expire;

	/* For configurations that run both on desktops and on servers (the demo):
	 * with `optional: true` the daemon leaves the sink out instead. */
	if (host->get_bool(inst, "require_session_bus", false)) {
		char *why = NULL;
		char *addr = notify_session_bus_address(&why);
		free(addr);
		if (!addr) {
			host->log(inst, VIGIL_LOG_ERROR, "%s; require_session_bus is set",
			          why ? why : "no D-Bus session bus");
			free(why);
			err = -ENODEV;
			goto fail;
		}
	}

	/* Starts the notify thread; the session bus is looked for at the first alert. */
	err = notify_client_new(host, on_result, s, &s->client);
	if (err < 0) {
		host->log(inst, VIGIL_LOG_ERROR, "cannot start the notification thread: %s",
		          strerror(-err));
		goto fail;
	}
	*state = s;
	return 0;

fail:
	free(s);
	return err;
}

static void notify_destroy(void *state)
{
	struct notify_sink *s = state;
	if (!s)
		return;
	while (s->pending) {
		struct pending *p = s->pending;
		if (p->timer)
			s->host->timer_cancel(s->host->inst, p->timer);
		pending_unlink(p);
		free(p);
	}
	/* Drops this instance's jobs: nothing is answered after this. */
	notify_client_free(s->client);
	free(s);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Answers later, from the notify thread's result or the timer. */
static int notify_deliver(void *state, const struct vigil_alert *alert,
                          struct vigil_delivery *delivery)
{
	struct notify_sink *s = state;
	const struct vigil_host *host = s->host;
	const struct vigil_item *item = alert->item;
	struct pending *p = calloc(1, sizeof *p);
	struct notify_job *job = notify_job_new();
	if (!p || !job)
		goto nomem;

	job->summary = text_summary(alert);
	job->excerpt = text_excerpt(alert);
	job->meta = text_meta(alert);
	job->link = dup_or_null(item ? item->link : NULL);
	job->icon = strdup(s->icon ? s->icon : text_default_icon(alert->severity));
	job->app_name = strdup(s->app_name);
	job->urgency = text_urgency(alert->severity);
	/* Critical notifications stay until dismissed, whatever `expire` says. */
	job->expire_ms = job->urgency == TEXT_URGENCY_CRITICAL ? 0 : s->expire_ms;
	job->actions = s->actions;
	job->timeout_ms = s->timeout_ms;
	if (!job->summary || !job->meta || !job->icon || !job->app_name ||
	    (item && item->link && !job->link))
		goto nomem;

	p->s = s;
	p->job = job;
	p->delivery = delivery;
	job->loop_data = p;
	p->timer = host->timer_add(host->inst, (uint64_t)s->timeout_ms, on_timeout, p);
	if (!p->timer)
		goto nomem;
	p->next = s->pending;
	if (s->pending)
		s->pending->prev = p;
	s->pending = p;
	notify_submit(s->client, job);
	return 0;

nomem:
	notify_job_free(job);
	free(p);
	return -ENOMEM;
}

static const struct vigil_option notify_options[] = {
	{
		.key = "icon",
		.type = VIGIL_OPT_STRING,
		.description = "icon name from the icon theme, or an image file; default: "
		               "dialog-information, dialog-warning for high and critical alerts",
	},
	{
		.key = "timeout",
		.type = VIGIL_OPT_DURATION,
		.default_value = "10s",
		.description = "longest wait for the session bus and the notification server "
		               "(100ms to 10m); then the alert is retried later",
	},
	{
		.key = "expire",
		.type = VIGIL_OPT_DURATION,
		.description = "how long non-critical notifications stay on screen (0: until "
		               "dismissed); default: the server's; critical ones always stay",
	},
	{
		.key = "app_name",
		.type = VIGIL_OPT_STRING,
		.default_value = "vigil",
		.description = "application name the notification server shows and filters on",
	},
	{
		.key = "require_session_bus",
		.type = VIGIL_OPT_BOOL,
		.default_value = "false",
		.description = "refuse to start when there is no session bus at all (with "
		               "`optional: true`: left out on servers); default: start and "
		               "retry alerts until a session appears",
	},
	{
		.key = "actions",
		.type = VIGIL_OPT_BOOL,
		.default_value = "true",
		.description = "offer \"Open\" (also a click) to open the item's http(s) link in the "
		               "default browser, if the server supports actions; else the link is "
		               "a line of the body",
	},
};

static const struct vigil_plugin_methods notify_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = notify_create,
	.destroy = notify_destroy,
	.deliver = notify_deliver,
};

static const struct vigil_plugin notify_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "notify",
	.version = VIGIL_VERSION_STRING,
	.description = "show alerts as desktop notifications (freedesktop.org, through libnotify)",
	.kind = VIGIL_PLUGIN_SINK,
	/* GLib and libnotify cannot be unloaded (GObject types, GLib's own threads). */
	.flags = VIGIL_PLUGIN_RESIDENT,
	.options = notify_options,
	.n_options = sizeof notify_options / sizeof notify_options[0],
	.methods = &notify_methods,
};

VIGIL_PLUGIN_DEFINE(notify_plugin)
