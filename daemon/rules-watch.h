/* rules-watch.h - notices edits under the rules path (inotify) and reports them, debounced */
#ifndef VIGIL_DAEMON_RULES_WATCH_H
#define VIGIL_DAEMON_RULES_WATCH_H

#include <stdint.h>

struct event_base;
struct rules_watch;

/*
 * Watch `path` (a rules file or directory): a change to a *.yaml / *.yml file
 * in it (written, created, renamed in or out, deleted) calls cb(userdata)
 * once the changes have been quiet for `debounce_ms` — an editor's
 * write-rename-chmod burst is one reload. NULL (logged) when inotify is not
 * available; the daemon then reloads on SIGHUP only.
 */
struct rules_watch *rules_watch_new(struct event_base *base, const char *path,
                                    int64_t debounce_ms, void (*cb)(void *), void *userdata);
void rules_watch_free(struct rules_watch *w);

#endif
