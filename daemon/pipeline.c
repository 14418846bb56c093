/* pipeline.c - from a finished poll to committed alerts: dedupe, baseline, match, outbox */
#include "pipeline.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "item.h"
#include "log.h"
#include "match.h"
#include "outbox.h"
#include "plugin-loader.h"
#include "rules.h"
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

/* The noise control of a rule: its own settings, else the configuration's
 * `defaults:`. NULL for a match without a rule: then every match is an alert
 * of its own. */
static const struct outbox_noise *rule_noise(const struct rule *r, const struct config_defaults *def,
                                             struct outbox_noise *out)
{
	if (!r)
		return NULL;
	*out = (struct outbox_noise){
		.cooldown_ms = r->cooldown_ms >= 0 ? r->cooldown_ms : def->cooldown_ms,
		.digest_ms = r->digest_ms ? r->digest_ms : def->digest_ms,
		.has_quiet = r->has_quiet || def->has_quiet,
		.quiet_start_min = r->has_quiet ? r->quiet_start_min : def->quiet_start_min,
		.quiet_end_min = r->has_quiet ? r->quiet_end_min : def->quiet_end_min,
		.max_per_hour = r->max_per_hour ? r->max_per_hour : (int)def->max_per_hour,
	};
	return out;
}

/* What the matches of a poll became. */
struct poll_counts {
	int alerts;                  /* new alerts, due now or held */
	int held;                    /* of those, held (quiet hours, digest, burst cap) */
	int merged;                  /* reports added to an earlier alert of their story */
};

/* Match one new item and submit its alerts to the outbox. 0 or -EIO. */
static int alert_item(struct instance *src, const struct vigil_item *item, int64_t now,
                      struct poll_counts *c)
{
	struct daemon *d = src->daemon;
	struct match *matches = NULL;
	size_t n = 0;
	int ret = 0;

	if (matcher_match(d->matcher, item, src->name, d->state, &matches, &n) < 0)
		return -EIO;
	if (!n)
		return 0;
	json_t *ij = item_to_json(item);
	char *item_json = json_dumps(ij, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ij);
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct match *m = &matches[i];
		const char **sinks;
		size_t n_sinks = alert_sinks(d, m, &sinks);
		struct outbox_alert a = {
			.rule = m->rule,
			.severity = m->severity,
			.source = src->name,
			.reason = m->reason,
			.story_key = m->story_key,
			.item_json = item_json,
			.created = now,
			.reason_json = m->reason_json,
			.link = item->link,
			.title = item->title,
			.item_id = item->id,
		};
		struct outbox_noise noise;
		const struct outbox_noise *np = rule_noise(m->r, &d->config->defaults, &noise);
		struct outbox_result res;
		if (outbox_submit(d->state, &a, np, sinks, n_sinks, now, &res) < 0) {
			ret = -EIO;
		} else if (res.outcome == OUTBOX_NEW || res.outcome == OUTBOX_HELD) {
			c->alerts++;
			c->held += res.outcome == OUTBOX_HELD;
			log_msg(VIGIL_LOG_DEBUG, src->name, "alert %lld: rule \"%s\" on \"%s\"%s",
			        (long long)res.alert_id, m->rule,
			        item->title ? item->title : "(untitled)",
			        res.outcome == OUTBOX_HELD ? " (held)" : "");
		} else {
			c->merged++;
		}
		if (!m->sinks)
			free(sinks);
	}
	free(item_json);
	matches_free(matches, n);
	return ret;
}

/*
 * The transaction of a finished poll. Items of a failed poll are processed
 * too: what a source managed to emit is real and must not be lost; only
 * the validators (which would hide the rest next time) and the baseline
 * wait for a successful poll.
 */
static int commit_poll(struct instance *src, bool ok, const char *error, int *n_new,
                       struct poll_counts *counts)
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
		if (alert_item(src, item, now, counts) < 0)
			goto fail;
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
	int n_new = 0;
	struct poll_counts counts = { 0 };

	src->polling = false;
	if (src->watchdog)
		evtimer_del(src->watchdog);
	char *why = ok ? NULL : xstrdup(message && *message ? message : strerror(-error));

	if (commit_poll(src, ok, why, &n_new, &counts) < 0) {
		/* Nothing was recorded: the items come again with the next poll. */
		free(why);
		why = xstrdup("could not record the poll in the state database");
		ok = false;
		counts = (struct poll_counts){ 0 };
		state_health_record(d->state, src->name, false, why, now_s());
	}

	int64_t ms = now_ms() - src->poll_started_ms;
	if (ok) {
		char noise[96] = "";
		if (counts.held || counts.merged)
			snprintf(noise, sizeof noise, " (%d held for later, %d merged into earlier "
			         "alerts of their story)", counts.held, counts.merged);
		log_msg(VIGIL_LOG_INFO, src->name, "poll ok in %lld ms: %zu items, %d new, %d alerts%s",
		        (long long)ms, src->n_batch, n_new, counts.alerts, noise);
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
	if (counts.alerts || counts.merged)
		dispatch_kick(d);
	daemon_poll_finished(d);
}
