/* pidfile.h - vigild.pid in the runtime directory: one daemon at a time, and how vigilctl finds it */
#ifndef VIGIL_DAEMON_PIDFILE_H
#define VIGIL_DAEMON_PIDFILE_H

/* $RUNTIME_DIRECTORY/vigild.pid, else $XDG_RUNTIME_DIR/vigil/vigild.pid, else
 * NULL (no runtime directory: no pid file). Caller frees. */
char *pidfile_path(void);

/*
 * Create and lock the pid file (kept open and locked until pidfile_release).
 * 0; 0 also when there is no runtime directory; -EEXIST when another vigild
 * holds it (logged with its pid); other -errno logged as a warning and
 * ignored by the caller.
 */
int pidfile_acquire(void);
void pidfile_release(void);

#endif
