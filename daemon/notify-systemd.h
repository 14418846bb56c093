/* notify-systemd.h - sd_notify() without libsystemd: READY, RELOADING, STOPPING, STATUS */
#ifndef VIGIL_DAEMON_NOTIFY_SYSTEMD_H
#define VIGIL_DAEMON_NOTIFY_SYSTEMD_H

/* Send `state` ("READY=1", "STATUS=...") to $NOTIFY_SOCKET if set. 0 or -errno;
 * 0 also when not under systemd. */
int notify_systemd(const char *state);

#endif
