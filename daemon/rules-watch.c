/* rules-watch.c - notices edits under the rules path (inotify) and reports them, debounced */
#include "rules-watch.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct rules_watch {
	int fd;
	struct event *readable;
	struct event *settle;        /* debounce timer */
	int64_t debounce_ms;
	char *file;                  /* watching one file: its base name; else NULL */
	void (*cb)(void *);
	void *userdata;
};

static bool is_rules_name(const struct rules_watch *w, const char *name)
{
	if (w->file)
		return !strcmp(name, w->file);
	size_t n = strlen(name);
	return name[0] != '.' && ((n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	                          (n > 4 && !strcmp(name + n - 4, ".yml")));
}

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
	struct rules_watch *w = arg;
	(void)fd;
	(void)what;
	w->cb(w->userdata);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct rules_watch *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	(void)what;
	for (;;) {
		ssize_t len = read(fd, buf, sizeof buf);
		if (len <= 0)
			break;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->mask & IN_Q_OVERFLOW)
				relevant = true;
			else if (e->len && is_rules_name(w, e->name))
				relevant = true;
			p += sizeof *e + e->len;
		}
	}
	if (!relevant)
		return;
	/* Restart the quiet period on every burst. */
	struct timeval tv = { .tv_sec = (time_t)(w->debounce_ms / 1000),
	                      .tv_usec = (suseconds_t)(w->debounce_ms % 1000) * 1000 };
	evtimer_add(w->settle, &tv);
}

struct rules_watch *rules_watch_new(struct event_base *base, const char *path,
                                    int64_t debounce_ms, void (*cb)(void *), void *userdata)
{
	struct stat st;
	if (!path || stat(path, &st) < 0)
		return NULL;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_warn("cannot watch rules for changes (inotify: %s); reload with SIGHUP",
		         strerror(errno));
		return NULL;
	}
	struct rules_watch *w = xcalloc(1, sizeof *w);
	w->fd = fd;
	w->debounce_ms = debounce_ms;
	w->cb = cb;
	w->userdata = userdata;
	/* Editors replace a file by renaming a new one over it, which a watch on
	 * the file itself would lose: watch the directory, filter by name. */
	char *dir;
	if (S_ISDIR(st.st_mode)) {
		dir = xstrdup(path);
	} else {
		dir = path_dirname(path);
		const char *slash = strrchr(path, '/');
		w->file = xstrdup(slash ? slash + 1 : path);
	}
	uint32_t mask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
	                IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
	if (inotify_add_watch(fd, dir, mask) < 0) {
		log_warn("cannot watch %s for changes (%s); reload with SIGHUP", dir, strerror(errno));
		free(dir);
		rules_watch_free(w);
		return NULL;
	}
	free(dir);
	w->readable = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, w);
	w->settle = evtimer_new(base, on_settled, w);
	event_add(w->readable, NULL);
	return w;
}

void rules_watch_free(struct rules_watch *w)
{
	if (!w)
		return;
	if (w->readable)
		event_free(w->readable);
	if (w->settle)
		event_free(w->settle);
	close(w->fd);
	free(w->file);
	free(w);
}
