/* dispatch.h - hands outbox alerts to sink instances and records their answers */
#ifndef VIGIL_DAEMON_DISPATCH_H
#define VIGIL_DAEMON_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <vigil/host.h>
#include "daemon.h"

/* Deliveries one sink instance may have in flight at once. */
#define DISPATCH_MAX_INFLIGHT 8

struct dispatcher *dispatcher_new(struct daemon *d);
void dispatcher_free(struct dispatcher *disp);

/* Look for due deliveries soon (not from inside this call). */
void dispatch_kick(struct daemon *d);
/* Stop handing out deliveries (shutdown). Answers are still recorded. */
void dispatch_pause(struct daemon *d);

/* The host->done() of sinks. */
void dispatch_done(struct instance *sink, struct vigil_delivery *delivery,
                   enum vigil_delivery_result result, uint32_t retry_after_s,
                   const char *message);

/* The host->retry_now() of sinks: its retries are due now. */
void dispatch_retry_now(struct instance *sink);

/* A sink instance is going away: its deliveries in flight go back to
 * pending (the outbox keeps them for the next instance or run). */
void dispatch_forget_sink(struct instance *sink);

/* Deliveries handed out and not answered (nor timed out). */
unsigned dispatch_inflight(const struct daemon *d);
/* Is a delivery due now (pending, next_attempt <= now) for a running sink? */
bool dispatch_due_now(struct daemon *d);

/* Delay before attempt `attempts` + 1 after a failure, with jitter r in [0,1). */
int64_t delivery_retry_delay_s(uint32_t attempts, double r);

#endif
