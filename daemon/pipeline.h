/* pipeline.h - from a finished poll to committed alerts: dedupe, baseline, match, outbox */
#ifndef VIGIL_DAEMON_PIPELINE_H
#define VIGIL_DAEMON_PIPELINE_H

#include "daemon.h"

/* A poll of `src` has started: arm its watchdog. */
void pipeline_poll_started(struct instance *src);

/*
 * A poll of `src` is over (error 0: success). In one transaction: mark the
 * emitted items seen, match the new ones (unless this is the source's silent
 * baseline), add their alerts to the outbox, store the poll's HTTP
 * validators (success only) and the source's health. Then schedule the next
 * poll and wake the dispatcher.
 */
void pipeline_poll_done(struct instance *src, int error, const char *message);

#endif
