/* scheduler.h - when each source polls: interval, jitter, start-up spread, backoff */
#ifndef VIGIL_DAEMON_SCHEDULER_H
#define VIGIL_DAEMON_SCHEDULER_H

#include <stdint.h>
#include "daemon.h"

/*
 * Delay after a finished poll: the interval with +/-10 % jitter; after the
 * n-th failure in a row, interval * 2^(n-1), capped at max(max_backoff,
 * interval), and never sooner than a server's Retry-After. `r` is a random
 * number in [0, 1) (passed in so tests are exact).
 */
int64_t schedule_next_delay_ms(int64_t interval_ms, int failures, int64_t max_backoff_ms,
                               int64_t retry_after_s, double r);
/* Delay of a source's first poll: spread over min(interval, spread). */
int64_t schedule_first_delay_ms(int64_t interval_ms, int64_t spread_ms, double r);

/* Schedule the first poll of every source that has none (--once: now). */
void scheduler_start(struct daemon *d);
/* Schedule the first poll of one (new) source. */
void scheduler_add(struct instance *src);
/* A poll finished: schedule the next one (not when stopping or --once). */
void scheduler_poll_finished(struct instance *src, bool ok);
/* Stop every timer (shutdown). Polls in progress go on. */
void scheduler_stop(struct daemon *d);
/* How long a poll may take before the watchdog calls it failed. */
int64_t scheduler_poll_deadline_ms(const struct instance *src);

#endif
