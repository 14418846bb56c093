/* pipeline.c - from a finished poll to committed alerts: dedupe, baseline, match, outbox */
#include "pipeline.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "item.h"
#include "log.h"
#include "match.h"
#include "outbox.h"
#include "plugin-loader.h"
#include "scheduler.h"
#include "state.h"
#include "util.h"

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct instance *src = arg;
	(void)fd;
	(void)what;
	char buf[32];
	char *msg = xasprintf("poll did not finish within %s (plugin %s never reported)",
	                      duration_format(scheduler_poll_deadline_ms(src), buf, sizeof buf),
	                      src->plugin->name);
	pipeline_poll_done(src, -ETIMEDOUT, msg);
	free(msg);
}

void pipeline_poll_started(struct instance *src)
{
	if (!src->watchdog)
		src->watchdog = evtimer_new(src->daemon->base, on_watchdog, src);
	int64_t ms = scheduler_poll_deadline_ms(src);
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	evtimer_add(src->watchdog, &tv);
}

/* The sinks an alert goes to: the rule's list, or every configured sink. */
static size_t alert_sinks(struct daemon *d, const struct match *m, const char ***out)
{
	if (m->sinks) {
		*out = (const char **)m->sinks;
		return m->n_sinks;
	}
	const char **names = xcalloc(d->n_sinks, sizeof *names);
	for (size_t i = 0; i < d->n_sinks; i++)
		names[i] = d->sinks[i]->name;
	*out = names;
	return d->n_sinks;
}

/* Match one new item and put its alerts in the outbox. Returns alerts added or -EIO. */
static int alert_item(struct instance *src, const struct vigil_item *item, int64_t now)
{
	struct daemon *d = src->daemon;
	struct match *matches = NULL;
	size_t n = 0;
	int added = 0;

	if (matcher_match(d->matcher, item, src->name, &matches, &n) < 0)
		return -EIO;
	if (!n)
		return 0;
	json_t *ij = item_to_json(item);
	char *item_json = json_dumps(ij, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ij);
	for (size_t i = 0; i < n && added >= 0; i++) {
		const char **sinks;
		size_t n_sinks = alert_sinks(d, &matches[i], &sinks);
		struct outbox_alert a = {
			.rule = matches[i].rule,
			.severity = matches[i].severity,
			.source = src->name,
			.reason = matches[i].reason,
			.story_key = matches[i].story_key,
			.item_json = item_json,
			.created = now,
		};
		int64_t id;
		if (outbox_add(d->state, &a, sinks, n_sinks, &id) < 0)
			added = -EIO;
		else
			added++;
		if (!matches[i].sinks)
			free(sinks);
		log_msg(VIGIL_LOG_DEBUG, src->name, "alert %lld: rule \"%s\" on \"%s\"",
		        (long long)id, matches[i].rule, item->title ? item->title : "(untitled)");
	}
	free(item_json);
	matches_free(matches, n);
	return added;
}

/*
 * The transaction of a finished poll. Items of a failed poll are processed
 * too: what a source managed to emit is real and must not be lost; only
 * the validators (which would hide the rest next time) and the baseline
 * wait for a successful poll.
 */
static int commit_poll(struct instance *src, bool ok, const char *error, int *n_new, int *n_alerts)
{
	struct daemon *d = src->daemon;
	struct state *st = d->state;
	int64_t now = now_s();
	bool baseline = !src->cfg->alert_on_first_poll && !state_source_baselined(st, src->name);

	if (state_begin(st) < 0)
		return -EIO;
	for (size_t i = 0; i < src->n_batch; i++) {
		const struct vigil_item *item = &src->batch[i]->item;
		char *key = item_key(item);
		int r = state_seen_mark(st, src->name, key, now);
		free(key);
		if (r < 0)
			goto fail;
		if (r == 0)
			continue;
		(*n_new)++;
		if (baseline)
			continue;
		r = alert_item(src, item, now);
		if (r < 0)
			goto fail;
		*n_alerts += r;
	}
	if (ok) {
		for (size_t i = 0; i < src->n_validators; i++) {
			struct pending_validator *v = &src->validators[i];
			if (state_validators_put(st, src->name, v->url, v->etag, v->last_modified) < 0)
				goto fail;
		}
		if (!state_source_baselined(st, src->name) &&
		    state_source_set_baselined(st, src->name, now) < 0)
			goto fail;
	}
	if (state_health_record(st, src->name, ok, error, now) < 0)
		goto fail;
	if (state_commit(st) < 0)
		goto fail;
	if (baseline && ok)
		log_msg(VIGIL_LOG_INFO, src->name, "first poll: %d items recorded as the baseline "
		        "(no alerts; set alert_on_first_poll: true to alert on them)", *n_new);
	return 0;
fail:
	state_rollback(st);
	return -EIO;
}

void pipeline_poll_done(struct instance *src, int error, const char *message)
{
	struct daemon *d = src->daemon;
	bool ok = error == 0;
	int n_new = 0, n_alerts = 0;

	src->polling = false;
	if (src->watchdog)
		evtimer_del(src->watchdog);
	char *why = ok ? NULL : xstrdup(message && *message ? message : strerror(-error));

	if (commit_poll(src, ok, why, &n_new, &n_alerts) < 0) {
		/* Nothing was recorded: the items come again with the next poll. */
		free(why);
		why = xstrdup("could not record the poll in the state database");
		ok = false;
		n_alerts = 0;
		state_health_record(d->state, src->name, false, why, now_s());
	}

	int64_t ms = now_ms() - src->poll_started_ms;
	if (ok) {
		log_msg(VIGIL_LOG_INFO, src->name, "poll ok in %lld ms: %zu items, %d new, %d alerts",
		        (long long)ms, src->n_batch, n_new, n_alerts);
		src->consecutive_failures = 0;
	} else {
		src->consecutive_failures++;
		log_msg(VIGIL_LOG_WARNING, src->name, "poll failed (%d in a row): %s%s",
		        src->consecutive_failures, why,
		        n_new ? " (the items it did emit were recorded)" : "");
	}
	free(src->last_error);
	src->last_error = why;
	src->last_ok = ok;
	src->polled = true;

	scheduler_poll_finished(src, ok);
	/* The batch is done with; the poll's HTTP answers are too. */
	for (size_t i = 0; i < src->n_batch; i++)
		item_free(src->batch[i]);
	src->n_batch = 0;
	if (n_alerts)
		dispatch_kick(d);
	daemon_poll_finished(d);
}
