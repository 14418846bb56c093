/* dispatch.c - hands outbox alerts to sink instances and records their answers */
#include "dispatch.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alert-json.h"
#include "item.h"
#include "log.h"
#include "outbox.h"
#include "plugin-loader.h"
#include "state.h"
#include "util.h"

/* One attempt of one alert to one sink: the token a sink answers with. */
struct vigil_delivery {
	struct dispatcher *disp;
	struct instance *sink;
	struct outbox_delivery *row;
	struct owned_item *item;
	char *json;
	struct vigil_alert alert;
	struct event *timeout;
	bool expired;                /* the sink took too long; already rescheduled */
	struct vigil_delivery *next;
};

/* After a failed release of held alerts, try again this much later. */
#define RELEASE_RETRY_S 10

struct dispatcher {
	struct daemon *d;
	struct event *kick;          /* zero-delay: run a round */
	struct event *due;           /* the next pending delivery's time */
	struct vigil_delivery *live; /* handed out, not answered */
	bool paused;
};

int64_t delivery_retry_delay_s(uint32_t attempts, double r)
{
	/* 10 s, 20 s, 40 s, ... capped at one hour, +/-20 % jitter. */
	int shift = attempts > 1 ? (int)attempts - 1 : 0;
	if (shift > 20)
		shift = 20;
	double s = fmin(10.0 * (double)(1u << shift), 3600.0);
	return (int64_t)ceil(s * (0.8 + 0.4 * r));
}

static double random_unit(void)
{
	return (double)random_below(1u << 30) / (double)(1u << 30);
}

static void delivery_free(struct vigil_delivery *dl)
{
	struct vigil_delivery **p;
	for (p = &dl->disp->live; *p; p = &(*p)->next) {
		if (*p == dl) {
			*p = dl->next;
			break;
		}
	}
	if (dl->timeout)
		event_free(dl->timeout);
	outbox_delivery_free(dl->row);
	item_free(dl->item);
	free(dl->json);
	free(dl);
}

static bool is_live(struct dispatcher *disp, struct vigil_delivery *dl)
{
	for (struct vigil_delivery *p = disp->live; p; p = p->next)
		if (p == dl)
			return true;
	return false;
}

/* Reschedule or, past max_age, turn into a dead letter. */
static void reschedule(struct daemon *d, struct outbox_delivery *row, int64_t retry_after_s,
                       const char *why)
{
	int64_t now = now_s();
	int64_t delay = delivery_retry_delay_s(row->attempts, random_unit());
	if (retry_after_s > delay)
		delay = retry_after_s;
	int64_t max_age_s = d->config->defaults.max_age_ms / 1000;
	if (now + delay > row->created + max_age_s) {
		char *msg = xasprintf("dead letter: undelivered after %u attempts; last error: %s",
		                      row->attempts, why);
		log_msg(VIGIL_LOG_ERROR, row->sink, "alert %lld (%s): %s", (long long)row->alert_id,
		        row->rule, msg);
		outbox_mark_failed(d->state, row->alert_id, row->sink, msg, now);
		free(msg);
		return;
	}
	log_msg(VIGIL_LOG_WARNING, row->sink, "alert %lld: attempt %u failed (%s); retry in %llds",
	        (long long)row->alert_id, row->attempts, why, (long long)delay);
	outbox_mark_retry(d->state, row->alert_id, row->sink, now + delay, why);
}

static void on_delivery_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct vigil_delivery *dl = arg;
	(void)fd;
	(void)what;
	dl->expired = true;
	dl->sink->inflight--;
	reschedule(dl->disp->d, dl->row, 0, "the sink did not answer in time");
	dispatch_kick(dl->disp->d);
}

static void source_fields(const struct outbox_source *v, size_t n, struct alert_source **out)
{
	*out = n ? xcalloc(n, sizeof **out) : NULL;
	for (size_t i = 0; i < n; i++)
		(*out)[i] = (struct alert_source){ .source = v[i].source, .link = v[i].link,
		                                   .title = v[i].title, .item_id = v[i].item_id };
}

/* vigil's alert JSON of a delivery's alert, with its story's sources and, for
 * a digest, its members (x NULL: without them). Caller frees; NULL if corrupt. */
static char *render_alert(const struct outbox_delivery *row, const struct outbox_extras *x)
{
	struct alert_fields af = {
		.id = row->alert_id, .rule = row->rule, .severity = row->severity,
		.source = row->source, .reason = row->reason, .story_key = row->story_key,
		.created = row->created, .item_json = row->item_json,
	};
	struct alert_source *sources = NULL;
	struct alert_fields *members = NULL;
	struct alert_source **member_sources = NULL;
	size_t n_members = x ? x->n_members : 0;

	if (x) {
		af.reason_json = x->reason_json;
		af.suppressed_json = x->noise_json;
		source_fields(x->sources, x->n_sources, &sources);
		af.sources = sources;
		af.n_sources = x->n_sources;
	}
	if (n_members) {
		members = xcalloc(n_members, sizeof *members);
		member_sources = xcalloc(n_members, sizeof *member_sources);
		for (size_t i = 0; i < n_members; i++) {
			const struct outbox_member *m = &x->members[i];
			source_fields(m->sources, m->n_sources, &member_sources[i]);
			members[i] = (struct alert_fields){
				.id = m->id, .rule = row->rule, .severity = m->severity,
				.source = m->source, .reason = m->reason, .story_key = m->story_key,
				.created = m->created, .item_json = m->item_json,
				.reason_json = m->reason_json, .hold_kind = m->hold_kind,
				.sources = member_sources[i], .n_sources = m->n_sources,
			};
		}
		af.digest = members;
		af.n_digest = n_members;
	}
	char *json = alert_json_render(&af);
	for (size_t i = 0; i < n_members; i++)
		free(member_sources[i]);
	free(member_sources);
	free(members);
	free(sources);
	return json;
}

/* Hand one claimed delivery to its sink. */
static void start_delivery(struct dispatcher *disp, struct instance *sink,
                           struct outbox_delivery *row)
{
	struct daemon *d = disp->d;
	int64_t now = now_s();
	int64_t max_age_s = d->config->defaults.max_age_ms / 1000;

	if (now > row->created + max_age_s) {
		char *msg = xasprintf("dead letter: older than max_age after %u attempts; last error: %s",
		                      row->attempts - 1, row->last_error ? row->last_error : "none");
		log_msg(VIGIL_LOG_ERROR, sink->name, "alert %lld (%s): %s", (long long)row->alert_id,
		        row->rule, msg);
		outbox_mark_failed(d->state, row->alert_id, row->sink, msg, now);
		free(msg);
		outbox_delivery_free(row);
		return;
	}

	struct vigil_delivery *dl = xcalloc(1, sizeof *dl);
	dl->disp = disp;
	dl->sink = sink;
	dl->row = row;
	json_t *ij = json_loads(row->item_json ? row->item_json : "", 0, NULL);
	dl->item = item_from_json(ij);
	json_decref(ij);
	struct outbox_extras x;
	int r = outbox_extras_get(d->state, row->alert_id, &x);
	if (r == -EIO) {
		/* Rendering without the story's sources would lose them silently. */
		reschedule(d, row, 0, "could not read the alert's sources from the state database");
		outbox_delivery_free(row);
		item_free(dl->item);
		free(dl);
		return;
	}
	dl->json = render_alert(row, r == 0 ? &x : NULL);
	if (r == 0)
		outbox_extras_clear(&x);
	if (!dl->item || !dl->json) {
		/* A corrupt row can never be delivered; say so instead of looping. */
		outbox_mark_failed(d->state, row->alert_id, row->sink,
		                   "the stored alert is not valid JSON", now);
		outbox_delivery_free(row);
		item_free(dl->item);
		free(dl->json);
		free(dl);
		return;
	}
	dl->alert = (struct vigil_alert){
		.size = sizeof dl->alert,
		.id = row->alert_id,
		.rule = row->rule,
		.severity = row->severity,
		.source = row->source,
		.reason = row->reason,
		.story_key = row->story_key,
		.created = row->created,
		.item = &dl->item->item,
		.json = dl->json,
		.idempotency_key = row->idempotency_key,
		.attempt = row->attempts,
	};
	dl->next = disp->live;
	disp->live = dl;
	sink->inflight++;

	int64_t ms = d->config->defaults.delivery_timeout_ms;
	dl->timeout = evtimer_new(d->base, on_delivery_timeout, dl);
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	evtimer_add(dl->timeout, &tv);

	log_msg(VIGIL_LOG_DEBUG, sink->name, "delivering alert %lld (attempt %u)",
	        (long long)row->alert_id, row->attempts);
	r = sink->plugin->desc->methods->deliver(sink->state, &dl->alert, dl);
	if (r < 0 && is_live(disp, dl) && !dl->expired) {
		/* deliver() refused without calling done(): a retry, not a loss. */
		char *msg = xasprintf("deliver() failed: %s", strerror(-r));
		dispatch_done(sink, dl, VIGIL_DELIVERY_RETRY, 0, msg);
		free(msg);
	}
}

/* Arm the timer for the next due delivery or end of a hold; after a failed
 * release not sooner than RELEASE_RETRY_S (the due holds would fire at once). */
static void arm_due(struct dispatcher *disp, bool release_failed)
{
	struct daemon *d = disp->d;
	int64_t earliest = INT64_MAX;
	for (size_t i = 0; i < d->n_sinks; i++) {
		int64_t when;
		if (d->sinks[i]->created && outbox_next_due(d->state, d->sinks[i]->name, &when) == 0 &&
		    when < earliest)
			earliest = when;
	}
	/* Holds end on their own clock: a digest is due even for a sink
	 * that has nothing else pending. */
	int64_t when;
	if (outbox_next_release(d->state, &when) == 0 && when < earliest)
		earliest = when;
	if (release_failed && earliest < now_s() + RELEASE_RETRY_S)
		earliest = now_s() + RELEASE_RETRY_S;
	evtimer_del(disp->due);
	if (earliest == INT64_MAX)
		return;
	int64_t delay = earliest - now_s();
	struct timeval tv = { .tv_sec = delay > 0 ? (time_t)delay : 0, .tv_usec = 1000 };
	evtimer_add(disp->due, &tv);
}

static void run_round(evutil_socket_t fd, short what, void *arg)
{
	struct dispatcher *disp = arg;
	struct daemon *d = disp->d;
	(void)fd;
	(void)what;
	if (disp->paused)
		return;
	/* Holds that ended become deliveries first (a digest, or the alert itself). */
	bool release_failed = outbox_release_due(d->state, now_s(), NULL) < 0;
	if (release_failed)
		log_msg(VIGIL_LOG_ERROR, "outbox", "could not release held alerts; trying again "
		        "in %d s", RELEASE_RETRY_S);
	for (size_t i = 0; i < d->n_sinks; i++) {
		struct instance *sink = d->sinks[i];
		if (!sink->created)
			continue;
		while (sink->inflight < DISPATCH_MAX_INFLIGHT) {
			struct outbox_delivery **rows = NULL;
			size_t n = 0;
			if (outbox_claim(d->state, sink->name, now_s(),
			                 DISPATCH_MAX_INFLIGHT - sink->inflight, &rows, &n) < 0 || !n) {
				free(rows);
				break;
			}
			for (size_t j = 0; j < n; j++)
				start_delivery(disp, sink, rows[j]);
			free(rows);
		}
	}
	arm_due(disp, release_failed);
}

struct dispatcher *dispatcher_new(struct daemon *d)
{
	struct dispatcher *disp = xcalloc(1, sizeof *disp);
	disp->d = d;
	disp->kick = evtimer_new(d->base, run_round, disp);
	disp->due = evtimer_new(d->base, run_round, disp);
	return disp;
}

void dispatcher_free(struct dispatcher *disp)
{
	if (!disp)
		return;
	while (disp->live)
		delivery_free(disp->live);
	event_free(disp->kick);
	event_free(disp->due);
	free(disp);
}

void dispatch_kick(struct daemon *d)
{
	struct dispatcher *disp = d->dispatcher;
	if (!disp || disp->paused)
		return;
	struct timeval zero = { 0, 0 };
	evtimer_add(disp->kick, &zero);
}

void dispatch_pause(struct daemon *d)
{
	struct dispatcher *disp = d->dispatcher;
	disp->paused = true;
	evtimer_del(disp->kick);
	evtimer_del(disp->due);
}

void dispatch_done(struct instance *sink, struct vigil_delivery *dl,
                   enum vigil_delivery_result result, uint32_t retry_after_s,
                   const char *message)
{
	struct daemon *d = sink->daemon;
	struct dispatcher *disp = d->dispatcher;
	if (!dl || !is_live(disp, dl) || dl->sink != sink) {
		log_msg(VIGIL_LOG_WARNING, sink->name, "done() for an unknown delivery (ignored)");
		return;
	}
	if (dl->expired) {
		/* Already rescheduled on timeout; a late success still counts. */
		if (result == VIGIL_DELIVERY_OK)
			outbox_mark_delivered(d->state, dl->row->alert_id, dl->row->sink, now_s());
		delivery_free(dl);
		return;
	}
	sink->inflight--;
	struct outbox_delivery *row = dl->row;
	const char *why = message && *message ? message : "no reason given";
	switch (result) {
	case VIGIL_DELIVERY_OK:
		outbox_mark_delivered(d->state, row->alert_id, row->sink, now_s());
		log_msg(VIGIL_LOG_DEBUG, sink->name, "alert %lld delivered", (long long)row->alert_id);
		break;
	case VIGIL_DELIVERY_PERMANENT:
		log_msg(VIGIL_LOG_ERROR, sink->name, "alert %lld (%s) failed for good: %s",
		        (long long)row->alert_id, row->rule, why);
		outbox_mark_failed(d->state, row->alert_id, row->sink, why, now_s());
		break;
	default:
		reschedule(d, row, retry_after_s, why);
		break;
	}
	delivery_free(dl);
	dispatch_kick(d);
}

void dispatch_retry_now(struct instance *sink)
{
	struct daemon *d = sink->daemon;
	size_t n = 0;
	if (outbox_retry_now(d->state, sink->name, now_s(), &n) < 0)
		return;                  /* logged by the state layer; the backoff still runs */
	if (n)
		log_msg(VIGIL_LOG_INFO, sink->name, "%zu %s waiting for a retry: trying now", n,
		        n == 1 ? "alert" : "alerts");
	dispatch_kick(d);
}

void dispatch_forget_sink(struct instance *sink)
{
	struct daemon *d = sink->daemon;
	struct dispatcher *disp = d->dispatcher;
	if (!disp)
		return;
	struct vigil_delivery *dl = disp->live;
	while (dl) {
		struct vigil_delivery *next = dl->next;
		if (dl->sink == sink) {
			if (!dl->expired)
				outbox_mark_retry(d->state, dl->row->alert_id, dl->row->sink, now_s(),
				                  "interrupted: the sink stopped before answering");
			delivery_free(dl);
		}
		dl = next;
	}
	sink->inflight = 0;
}

unsigned dispatch_inflight(const struct daemon *d)
{
	unsigned n = 0;
	for (size_t i = 0; i < d->n_sinks; i++)
		n += d->sinks[i]->inflight;
	return n;
}

bool dispatch_due_now(struct daemon *d)
{
	int64_t now = now_s();
	for (size_t i = 0; i < d->n_sinks; i++) {
		int64_t when;
		if (d->sinks[i]->created && outbox_next_due(d->state, d->sinks[i]->name, &when) == 0 &&
		    when <= now)
			return true;
	}
	return false;
}
