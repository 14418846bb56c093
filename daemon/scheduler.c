/* scheduler.c - when each source polls: interval, jitter, start-up spread, backoff */
#include "scheduler.h"

#include <event2/event.h>
#include <errno.h>
#include <math.h>

#include "log.h"
#include "plugin-host.h"
#include "util.h"

int64_t schedule_next_delay_ms(int64_t interval_ms, int failures, int64_t max_backoff_ms,
                               int64_t retry_after_s, double r)
{
	double delay = (double)interval_ms;
	if (failures > 0) {
		double cap = (double)(max_backoff_ms > interval_ms ? max_backoff_ms : interval_ms);
		int shift = failures - 1 > 30 ? 30 : failures - 1;
		delay = fmin((double)interval_ms * (double)(1u << shift), cap);
	}
	/* +/-10 % so sources started together drift apart. */
	delay *= 0.9 + 0.2 * r;
	if (retry_after_s > 0 && delay < (double)retry_after_s * 1000)
		delay = (double)retry_after_s * 1000;
	return (int64_t)delay;
}

int64_t schedule_first_delay_ms(int64_t interval_ms, int64_t spread_ms, double r)
{
	int64_t window = interval_ms;
	if (spread_ms > 0 && spread_ms < window)
		window = spread_ms;
	return (int64_t)((double)window * r);
}

static double random_unit(void)
{
	return (double)random_below(1u << 30) / (double)(1u << 30);
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct instance *src = arg;
	(void)fd;
	(void)what;
	if (src->daemon->stopping)
		return;
	if (instance_poll(src) == -EBUSY)
		log_msg(VIGIL_LOG_WARNING, src->name, "previous poll still running; skipped this one");
}

static void arm(struct instance *src, int64_t delay_ms)
{
	if (!src->poll_timer)
		src->poll_timer = evtimer_new(src->daemon->base, on_poll_timer, src);
	struct timeval tv = { .tv_sec = (time_t)(delay_ms / 1000),
	                      .tv_usec = (suseconds_t)(delay_ms % 1000) * 1000 };
	evtimer_add(src->poll_timer, &tv);
}

void scheduler_add(struct instance *src)
{
	struct daemon *d = src->daemon;
	int64_t delay = d->once ? 0 : schedule_first_delay_ms(src->cfg->interval_ms,
	                                                      d->config->defaults.startup_spread_ms,
	                                                      random_unit());
	char buf[32];
	log_msg(VIGIL_LOG_DEBUG, src->name, "first poll in %s",
	        duration_format(delay, buf, sizeof buf));
	arm(src, delay);
}

void scheduler_start(struct daemon *d)
{
	for (size_t i = 0; i < d->n_sources; i++)
		if (d->sources[i]->created && !d->sources[i]->poll_timer)
			scheduler_add(d->sources[i]);
}

void scheduler_poll_finished(struct instance *src, bool ok)
{
	struct daemon *d = src->daemon;
	if (d->stopping || d->once)
		return;
	int64_t delay = schedule_next_delay_ms(src->cfg->interval_ms, ok ? 0 : src->consecutive_failures,
	                                       d->config->defaults.max_backoff_ms,
	                                       src->retry_after_s, random_unit());
	char buf[32];
	log_msg(VIGIL_LOG_DEBUG, src->name, "next poll in %s", duration_format(delay, buf, sizeof buf));
	arm(src, delay);
}

void scheduler_stop(struct daemon *d)
{
	for (size_t i = 0; i < d->n_sources; i++)
		if (d->sources[i]->poll_timer)
			evtimer_del(d->sources[i]->poll_timer);
}

int64_t scheduler_poll_deadline_ms(const struct instance *src)
{
	const struct config_defaults *def = &src->daemon->config->defaults;
	int64_t t = src->cfg->timeout_ms > 0 ? src->cfg->timeout_ms : def->timeout_ms;
	return 4 * t + 10000;
}
