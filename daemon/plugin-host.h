/* plugin-host.h - plugin instances and the host function table they are given */
#ifndef VIGIL_DAEMON_PLUGIN_HOST_H
#define VIGIL_DAEMON_PLUGIN_HOST_H

#include "daemon.h"

/*
 * Load the plugin of `ic`, check its kind matches the list it is in, and
 * validate the options against the plugin's table. Does not call create().
 * NULL with every problem in `diags`.
 */
struct instance *instance_prepare(struct daemon *d, struct instance_config *ic,
                                  struct diags *diags);

/* Call the plugin's create(). 0, or the plugin's negative errno (logged). */
int instance_create(struct instance *inst);

/* Call destroy() (if created), cancel the instance's timers and HTTP calls,
 * drop posted work and a poll in progress, and free everything. */
void instance_free(struct instance *inst);

/* Start a poll of a source. 0, or -errno (a failed start, already recorded
 * as a failed poll), -EBUSY when a poll is running. */
int instance_poll(struct instance *inst);

/* Set up host->post() for the daemon (needs evthread_use_pthreads()). */
int post_init(struct daemon *d);
void post_fini(struct daemon *d);

#endif
