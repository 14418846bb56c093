/* worker.c - the notify thread: libnotify and the session bus on a GLib main loop of their own */
#include "worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>
#include <libnotify/notify.h>

#include "text.h"

/*
 * Why libnotify, and how its calls are bounded.
 *
 * libnotify is the library for showing notifications (actions, the
 * "closed" signal, spec-version quirks), but every call it makes is a
 * synchronous D-Bus call with GDBus's default timeout of 25 s, on a proxy
 * we cannot reach to shorten it. So:
 *  - connecting is ours, asynchronous (g_bus_get) and cancellable;
 *  - before each notification we ask for the server's capabilities
 *    ourselves, asynchronously and bounded by the `timeout` option:
 *    a missing or hung server is found here without blocking, and the
 *    answer says whether the body may hold markup and whether actions work
 *    (and who answered: see the watch below);
 *  - only then does libnotify run (GetServerInformation once per
 *    connection, then Notify). If the server hangs just then, the loop
 *    thread's timer for the delivery calls notify_cancel(), which shuts the
 *    bus socket down (shutdown(2), never close: GLib owns the fd): the
 *    blocked call fails at once, and the next notification connects anew.
 * Calling Notify through GDBus ourselves would bound it too, but would
 * leave libnotify with nothing to do; this keeps it on the normal path.
 *
 * libnotify keeps process-wide state (its proxy, bound to the main context
 * it was made in; the list of live notifications), so there is one notify
 * thread for all instances of the plugin, started by the first and stopped
 * by the last.
 *
 * Waiting for the server to come back. After an outage the dispatcher
 * retries with a backoff of up to an hour: too long for alerts raised while
 * nobody was logged in. So while a client waits (notify_watch()), the
 * notify thread watches, without polling the server:
 *  - without a connection, every WATCH_TICK_MS it looks for the bus (an
 *    environment variable and a stat) and, once there is one, connects;
 *  - on the connection, g_bus_watch_name_on_connection() says when the name
 *    org.freedesktop.Notifications has an owner (at once, or when a server
 *    starts or replaces another), and the owner is asked for its
 *    capabilities, bounded by the timeout like a notification's.
 * An answer, or any notification shown meanwhile, ends the watch with a
 * JOB_BACK report to every waiting client: its sink calls host->retry_now().
 * A server that answered GetCapabilities and then failed (hung in Notify,
 * say) proves nothing by answering again: it is "distrusted", and only
 * another owner of the name (or a notification shown) counts.
 */

#define NOTIFY_NAME "org.freedesktop.Notifications"
#define NOTIFY_PATH "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"

/* Notifications with an "Open" action are kept until closed, so that the
 * action can still run; at most this many (the oldest are let go). */
#define KEEP_MAX 32

/* At the end, how long to let GLib finish with a connection we shut down. */
#define DRAIN_US (2 * G_USEC_PER_SEC)

/* While a client waits for the server: how often to look for the bus while
 * there is no connection (or the connection closed). */
#define WATCH_TICK_MS 3000

enum job_state {
	JOB_QUEUED,                  /* in the worker's queue */
	JOB_RUNNING,                 /* the worker's current job */
	JOB_POSTED,                  /* answered; job_posted() is queued on the loop thread */
};

/* Guarded by worker.lock. */
struct job_private {
	enum job_state state;
	bool cancelled;              /* no answer wanted any more */
	bool timed_out;              /* cancelled by notify_cancel(): the server hung */
	struct notify_client *client;  /* NULL once unlinked */
	GCancellable *cancel;        /* aborts the job's asynchronous steps */
	struct notify_job *queue_next;
	struct notify_job *client_prev, *client_next;
};

struct job_block {
	struct notify_job job;       /* first: a job pointer is a block pointer */
	struct job_private priv;
};

struct notify_client {
	struct worker *w;
	const struct vigil_host *host;
	void (*on_result)(void *data, struct notify_job *job);
	void *data;
	uint64_t id;                 /* for actions that outlive the instance */
	bool waiting;                /* [lock] wants a JOB_BACK report (notify_watch()) */
	int watch_timeout_ms;        /* [lock] for asking a server that appears */
	struct notify_job *jobs;     /* [lock] every job of this client not yet freed */
	struct notify_client *next;  /* [lock] in worker.clients */
};

struct worker {
	GMutex lock;                 /* guards the fields marked [lock] and every job_private */
	GMainContext *ctx;
	GMainLoop *loop;
	GThread *thread;
	unsigned users;              /* [global_lock] */

	struct notify_client *clients;  /* [lock] */
	uint64_t last_client_id;     /* [lock] */
	struct notify_job *queue;    /* [lock] */
	struct notify_job **queue_tail;  /* [lock] */
	struct notify_job *current;  /* [lock] */
	int bus_fd;                  /* [lock] the bus socket while connected, else -1 */
	bool blocking;               /* [lock] the notify thread is inside libnotify */
	bool aborted;                /* [lock] the socket was shut down to end a call */
	bool stopping;               /* [lock] */

	/* The notify thread's own. */
	GDBusConnection *bus;
	GWeakRef dying_bus;          /* the last dropped connection, until finalized */
	bool libnotify_ready;        /* libnotify's proxy exists on `bus` */
	GQueue kept;                 /* NotifyNotification with an action, oldest first */
	char *server;                /* server_key() of who answered the job's GetCapabilities */

	/* The watch for the server's return (see the top of the file), the notify thread's own. */
	GSource *tick;               /* every WATCH_TICK_MS while a client waits; NULL: no watch */
	guint name_watch;            /* g_bus_watch_name_on_connection() on `bus`, or 0 */
	GCancellable *probe;         /* a connect or GetCapabilities of the watch under way */
	bool probe_again;            /* the name changed hands while `probe` was under way */
	char *distrusted;            /* server_key() of a server that answered, then failed */
};

/* One "Open" action: what to open, and whom to tell. */
struct action {
	struct worker *w;
	uint64_t client_id;
	char *link;
};

static GMutex global_lock;
static struct worker *the_worker;  /* [global_lock] */

static void schedule(struct worker *w);
static void run(struct worker *w, struct notify_job *job);
static void watch_name(struct worker *w);
static void unwatch_name(struct worker *w);
static void back(struct worker *w);

static char *xprintf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* ---- jobs ------------------------------------------------------------------ */

struct notify_job *notify_job_new(void)
{
	struct job_block *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->job.kind = JOB_SHOW;
	b->job.expire_ms = -1;
	b->job.priv = &b->priv;
	b->priv.cancel = g_cancellable_new();
	return &b->job;
}

void notify_job_free(struct notify_job *job)
{
	if (!job)
		return;
	free(job->summary);
	free(job->excerpt);
	free(job->meta);
	free(job->link);
	free(job->icon);
	free(job->app_name);
	free(job->message);
	g_object_unref(job->priv->cancel);
	free((struct job_block *)job);
}

/* [lock] */
static void client_link(struct notify_client *c, struct notify_job *job)
{
	struct job_private *p = job->priv;
	p->client = c;
	p->client_prev = NULL;
	p->client_next = c->jobs;
	if (c->jobs)
		c->jobs->priv->client_prev = job;
	c->jobs = job;
}

/* [lock] */
static void client_unlink(struct notify_job *job)
{
	struct job_private *p = job->priv;
	if (!p->client)
		return;
	if (p->client_prev)
		p->client_prev->priv->client_next = p->client_next;
	else
		p->client->jobs = p->client_next;
	if (p->client_next)
		p->client_next->priv->client_prev = p->client_prev;
	p->client = NULL;
	p->client_prev = p->client_next = NULL;
}

/* [lock] */
static struct notify_job *queue_pop(struct worker *w)
{
	struct notify_job *job = w->queue;
	if (!job)
		return NULL;
	w->queue = job->priv->queue_next;
	if (!w->queue)
		w->queue_tail = &w->queue;
	job->priv->queue_next = NULL;
	return job;
}

/* [lock] */
static void queue_remove(struct worker *w, struct notify_job *job)
{
	struct notify_job **pp = &w->queue;
	while (*pp && *pp != job)
		pp = &(*pp)->priv->queue_next;
	if (!*pp)
		return;
	*pp = job->priv->queue_next;
	if (w->queue_tail == &job->priv->queue_next)
		w->queue_tail = pp;
	job->priv->queue_next = NULL;
}

/* Loop thread: the answer has arrived. */
static void job_posted(void *data)
{
	struct notify_job *job = data;
	struct notify_client *c = job->priv->client;
	/* A posted job changes only on the loop thread: no lock to read it. */
	if (!job->priv->cancelled)
		c->on_result(c->data, job);
	struct worker *w = c->w;
	g_mutex_lock(&w->lock);
	client_unlink(job);
	g_mutex_unlock(&w->lock);
	notify_job_free(job);
}

/* Hand a job with its answer to the loop thread. [lock] */
static void post_locked(struct notify_job *job)
{
	struct notify_client *c = job->priv->client;
	job->priv->state = JOB_POSTED;
	/* -ESHUTDOWN: the instance is being destroyed; notify_client_free() frees the job. */
	(void)c->host->post(c->host->inst, job_posted, job);
}

/* Answer every queued job like this (the server is gone or hung: they would
 * only wait for the same failure). [lock] */
static void fail_queued_locked(struct worker *w, const char *why)
{
	struct notify_job *job;
	while ((job = queue_pop(w))) {
		job->outcome = JOB_UNAVAILABLE;
		job->message = why ? strdup(why) : NULL;
		post_locked(job);
	}
}

/* Tell the client `client_id` what came of an action; if it is gone (a reload
 * replaced it), any client; if there is none, nobody. */
static void report(struct worker *w, uint64_t client_id, enum job_outcome outcome, char *message)
{
	struct notify_job *job = notify_job_new();
	if (!job) {
		free(message);
		return;
	}
	job->kind = JOB_OPENED;
	job->outcome = outcome;
	job->message = message;
	g_mutex_lock(&w->lock);
	struct notify_client *c = w->clients;
	while (c && c->id != client_id)
		c = c->next;
	if (!c)
		c = w->clients;
	if (c) {
		client_link(c, job);
		post_locked(job);
	}
	g_mutex_unlock(&w->lock);
	if (!c)
		notify_job_free(job);
}

/* ---- the connection ----------------------------------------------------------- */

/* The socket under a bus connection, or -1 (then only GDBus's own 25 s bound a call). */
static int bus_socket_fd(GDBusConnection *bus)
{
	GIOStream *stream = g_dbus_connection_get_stream(bus);
	if (!G_IS_SOCKET_CONNECTION(stream))
		return -1;
	GSocket *sock = g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream));
	return sock ? g_socket_get_fd(sock) : -1;
}

/*
 * Where GLib will look for the session bus, or NULL with *why set when there
 * is none to look for. Without this, GLib would "autolaunch" a private bus
 * through dbus-launch when $DISPLAY is set: no notification server there.
 */
char *notify_session_bus_address(char **why)
{
	const char *addr = g_getenv("DBUS_SESSION_BUS_ADDRESS");
	if (addr && *addr)
		return strdup(addr);
	const char *runtime = g_getenv("XDG_RUNTIME_DIR");
	if (runtime && *runtime) {
		char *path = g_build_filename(runtime, "bus", NULL);
		bool there = g_file_test(path, G_FILE_TEST_EXISTS);
		char *found = there ? xprintf("unix:path=%s", path) : NULL;
		g_free(path);
		if (found)
			return found;
	}
	*why = xprintf("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and "
	               "$XDG_RUNTIME_DIR/bus does not exist (is the user logged in?)");
	return NULL;
}

/* Whether connecting to the session bus is worth a try: there is an address
 * and, for a plain unix:path= one, its socket file (a stat, not a connect). */
static bool bus_may_exist(void)
{
	char *why = NULL;
	char *addr = notify_session_bus_address(&why);
	free(why);
	if (!addr)
		return false;
	bool may = true;
	if (strncmp(addr, "unix:path=", strlen("unix:path=")) == 0) {
		const char *path = addr + strlen("unix:path=");
		if (!strpbrk(path, ",;%"))
			may = g_file_test(path, G_FILE_TEST_EXISTS);
	}
	free(addr);
	return may;
}

/* Who a server is across connections: the bus's GUID and its unique name. g_free it. */
static char *server_key(GDBusConnection *bus, const char *unique_name)
{
	return g_strdup_printf("%s %s", g_dbus_connection_get_guid(bus),
	                       unique_name ? unique_name : "");
}

static void on_kept_closed(NotifyNotification *n, gpointer data)
{
	struct worker *w = data;
	if (g_queue_remove(&w->kept, n)) {
		g_signal_handlers_disconnect_by_data(n, w);
		g_object_unref(n);
	}
}

/* Forget the connection and everything libnotify built on it. */
static void drop_connection(struct worker *w)
{
	NotifyNotification *n;
	unwatch_name(w);
	/* Before notify_uninit(): a notification disposed without libnotify's
	 * proxy makes libnotify connect again, synchronously. */
	while ((n = g_queue_pop_head(&w->kept))) {
		g_signal_handlers_disconnect_by_data(n, w);
		g_object_unref(n);
	}
	if (notify_is_initted())
		notify_uninit();
	w->libnotify_ready = false;

	g_mutex_lock(&w->lock);
	w->bus_fd = -1;
	w->aborted = false;
	g_mutex_unlock(&w->lock);
	if (w->bus) {
		g_weak_ref_set(&w->dying_bus, w->bus);
		g_clear_object(&w->bus);
	}
}

/* Whether a dropped connection still exists (GLib would hand it out again). */
static bool bus_dying(struct worker *w)
{
	GDBusConnection *bus = g_weak_ref_get(&w->dying_bus);
	if (!bus)
		return false;
	g_object_unref(bus);
	return true;
}

/*
 * Make `bus` (a reference, taken over) the connection, unless it is closed
 * already. A job and the watch may both have asked GLib for it; the second
 * gets the same shared connection. Returns whether `w->bus` is usable.
 */
static bool use_bus(struct worker *w, GDBusConnection *bus)
{
	/* GLib's shared session connection raises SIGTERM when the bus goes
	 * away (logout): not in a daemon that outlives sessions. */
	g_dbus_connection_set_exit_on_close(bus, FALSE);
	if (g_dbus_connection_is_closed(bus)) {
		g_object_unref(bus);
		return false;
	}
	if (w->bus == bus) {
		g_object_unref(bus);
		return true;
	}
	if (w->bus)
		drop_connection(w);
	w->bus = bus;
	int fd = bus_socket_fd(bus);
	g_mutex_lock(&w->lock);
	w->bus_fd = fd;
	g_mutex_unlock(&w->lock);
	if (!notify_is_initted())
		notify_init("vigil");
	watch_name(w);
	return true;
}

/* Ask the owner of the name for its capabilities, on `w->bus`. cb finishes
 * with capabilities_finish(); `data` is the worker. */
static void call_capabilities(struct worker *w, int timeout_ms, GCancellable *cancel,
                              GAsyncReadyCallback cb)
{
	/* A message rather than g_dbus_connection_call(): the reply tells who
	 * answered. */
	GDBusMessage *msg = g_dbus_message_new_method_call(NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE,
	                                                   "GetCapabilities");
	g_dbus_connection_send_message_with_reply(w->bus, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
	                                          timeout_ms, NULL, cancel, cb, w);
	g_object_unref(msg);
}

/* The capabilities (g_strfreev) and who answered (*server, a server_key(),
 * g_free), or NULL and *err. */
static char **capabilities_finish(GObject *source, GAsyncResult *res, char **server,
                                  GError **err)
{
	GDBusConnection *bus = G_DBUS_CONNECTION(source);
	GDBusMessage *reply = g_dbus_connection_send_message_with_reply_finish(bus, res, err);
	if (!reply)
		return NULL;
	char **caps = NULL;
	if (!g_dbus_message_to_gerror(reply, err)) {
		GVariant *body = g_dbus_message_get_body(reply);
		if (body && g_variant_is_of_type(body, G_VARIANT_TYPE("(as)"))) {
			g_variant_get(body, "(^as)", &caps);
			*server = server_key(bus, g_dbus_message_get_sender(reply));
		} else {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			            "GetCapabilities returned type '%s', not '(as)'",
			            body ? g_variant_get_type_string(body) : "()");
		}
	}
	g_object_unref(reply);
	return caps;
}

/* ---- the watch: is the server back? --------------------------------------------- */

/* The longest timeout of the waiting clients, 0 if none waits. [lock] */
static int watch_timeout_locked(struct worker *w)
{
	int timeout_ms = 0;
	for (struct notify_client *c = w->clients; c; c = c->next)
		if (c->waiting && c->watch_timeout_ms > timeout_ms)
			timeout_ms = c->watch_timeout_ms;
	return timeout_ms;
}

static void probe_done(struct worker *w);
static void probe(struct worker *w);

static void on_probe_answer(GObject *source, GAsyncResult *res, gpointer data)
{
	struct worker *w = data;
	GError *err = NULL;
	char *server = NULL;
	char **caps = capabilities_finish(source, res, &server, &err);
	g_clear_object(&w->probe);
	bool ok = caps && !(w->distrusted && strcmp(server, w->distrusted) == 0);
	g_strfreev(caps);
	g_free(server);
	g_clear_error(&err);      /* no answer: wait for the name to change hands */
	if (ok)
		back(w);
	probe_done(w);
}

/* Ask whoever owns the name now for its capabilities: an answer means it is back. */
static void probe(struct worker *w)
{
	if (w->probe) {
		w->probe_again = true;
		return;
	}
	g_mutex_lock(&w->lock);
	int timeout_ms = watch_timeout_locked(w);
	g_mutex_unlock(&w->lock);
	if (!w->tick || !w->bus || !timeout_ms)
		return;
	w->probe = g_cancellable_new();
	call_capabilities(w, timeout_ms, w->probe, on_probe_answer);
}

/* A probe is over: the next one if the name changed hands meanwhile; and
 * the thread may end now if it is stopping. */
static void probe_done(struct worker *w)
{
	if (w->probe_again) {
		w->probe_again = false;
		probe(w);
	}
	schedule(w);
}

/* The name has an owner: at once, or a server started or replaced another. */
static void on_name_appeared(GDBusConnection *bus, const gchar *name, const gchar *owner,
                             gpointer data)
{
	struct worker *w = data;
	if (bus != w->bus)
		return;
	char *server = server_key(bus, owner);
	bool distrusted = w->distrusted && strcmp(server, w->distrusted) == 0;
	g_free(server);
	if (!distrusted)
		probe(w);
}

/* While the watch runs: follow the name's owner on the connection. */
static void watch_name(struct worker *w)
{
	if (!w->tick || !w->bus || w->name_watch)
		return;
	w->name_watch = g_bus_watch_name_on_connection(w->bus, NOTIFY_NAME,
	                                               G_BUS_NAME_WATCHER_FLAGS_NONE,
	                                               on_name_appeared, NULL, w, NULL);
}

static void unwatch_name(struct worker *w)
{
	if (!w->name_watch)
		return;
	/* GLib calls no handler of it after this (same thread). */
	g_bus_unwatch_name(w->name_watch);
	w->name_watch = 0;
}

static void on_probe_bus(GObject *source, GAsyncResult *res, gpointer data)
{
	struct worker *w = data;
	GDBusConnection *bus = g_bus_get_finish(res, NULL);
	g_clear_object(&w->probe);
	/* Also when the watch ended meanwhile: the next notification uses it. */
	if (bus)
		use_bus(w, bus);       /* and watch_name() */
	probe_done(w);
}

static void watch_update(struct worker *w);

/* Every WATCH_TICK_MS while the watch runs: without a connection, look for the bus. */
static gboolean on_tick(gpointer data)
{
	struct worker *w = data;
	watch_update(w);
	if (!w->tick)
		return G_SOURCE_REMOVE;
	g_mutex_lock(&w->lock);
	bool busy = w->current || w->queue;
	g_mutex_unlock(&w->lock);
	/* A notification under way finds out for itself. */
	if (busy || w->probe)
		return G_SOURCE_CONTINUE;
	if (w->bus && g_dbus_connection_is_closed(w->bus))
		drop_connection(w);
	if (w->bus) {
		watch_name(w);
		return G_SOURCE_CONTINUE;
	}
	if (bus_dying(w) || !bus_may_exist())
		return G_SOURCE_CONTINUE;
	w->probe = g_cancellable_new();
	g_bus_get(G_BUS_TYPE_SESSION, w->probe, on_probe_bus, w);
	return G_SOURCE_CONTINUE;
}

/* Start the watch when a client waits, end it when none does (or at the end). */
static void watch_update(struct worker *w)
{
	g_mutex_lock(&w->lock);
	bool want = !w->stopping && watch_timeout_locked(w) > 0;
	g_mutex_unlock(&w->lock);
	if (want && !w->tick) {
		w->tick = g_timeout_source_new(WATCH_TICK_MS);
		g_source_set_callback(w->tick, on_tick, w, NULL);
		g_source_attach(w->tick, w->ctx);
		watch_name(w);
	} else if (!want && w->tick) {
		g_source_destroy(w->tick);
		g_clear_pointer(&w->tick, g_source_unref);
		unwatch_name(w);
		w->probe_again = false;
		if (w->probe)
			g_cancellable_cancel(w->probe);  /* its callback clears it */
	}
}

/* Notifications work again: every waiting client gets a JOB_BACK report
 * (its sink retries what waited), and the watch ends. */
static void back(struct worker *w)
{
	g_clear_pointer(&w->distrusted, g_free);
	g_mutex_lock(&w->lock);
	for (struct notify_client *c = w->clients; c; c = c->next) {
		if (!c->waiting)
			continue;
		struct notify_job *job = notify_job_new();
		if (!job)
			continue;          /* it keeps waiting: the next answer tells it */
		job->kind = JOB_BACK;
		c->waiting = false;
		client_link(c, job);
		post_locked(job);
	}
	g_mutex_unlock(&w->lock);
	watch_update(w);
}

/* ---- one notification ------------------------------------------------------------ */

/* The current job is over: answer it (unless nobody waits) and go on. `message` is owned. */
static void finish(struct worker *w, enum job_outcome outcome, char *message, int timeout_ms)
{
	g_mutex_lock(&w->lock);
	struct notify_job *job = w->current;
	struct job_private *p = job->priv;
	w->current = NULL;
	bool aborted = w->aborted;
	bool cancelled = p->cancelled;   /* once posted, the job is the loop thread's */
	bool hung = p->timed_out && outcome != JOB_OK;
	char *why = NULL;
	if (hung)
		why = xprintf("the notification server did not answer within %g s",
		              timeout_ms / 1000.0);
	else if (!cancelled && outcome == JOB_UNAVAILABLE && message)
		why = strdup(message);
	if (cancelled) {
		client_unlink(job);
		free(message);
	} else {
		job->outcome = outcome;
		job->message = message;
		post_locked(job);
	}
	if (why)
		fail_queued_locked(w, why);
	g_mutex_unlock(&w->lock);

	free(why);
	if (cancelled)
		notify_job_free(job);
	if (outcome == JOB_OK) {
		back(w);
	} else if ((hung || outcome == JOB_UNAVAILABLE) && w->server) {
		/* It answered GetCapabilities, then failed: its answer to the
		 * watch would prove nothing. */
		g_free(w->distrusted);
		w->distrusted = g_steal_pointer(&w->server);
	}
	if (aborted)
		drop_connection(w);   /* we shut its socket down: start afresh */
	schedule(w);
}

static bool is_no_server(const GError *err)
{
	return err->domain == G_DBUS_ERROR &&
	       (err->code == G_DBUS_ERROR_SERVICE_UNKNOWN ||
	        err->code == G_DBUS_ERROR_NAME_HAS_NO_OWNER ||
	        (err->code >= G_DBUS_ERROR_SPAWN_EXEC_FAILED &&
	         err->code <= G_DBUS_ERROR_SPAWN_NO_MEMORY));
}

static bool is_timeout(const GError *err)
{
	return g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	       g_error_matches(err, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
	       g_error_matches(err, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT) ||
	       g_error_matches(err, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY);
}

static bool is_disconnected(const GError *err)
{
	return g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
	       g_error_matches(err, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
	       g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
	       g_error_matches(err, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED);
}

/*
 * Finish the current job after the D-Bus call `what` failed: `otherwise` is
 * the outcome of an error that says nothing about the bus or the server.
 * Frees err.
 */
static void fail(struct worker *w, const char *what, GError *err, enum job_outcome otherwise,
                 int timeout_ms)
{
	enum job_outcome outcome = JOB_UNAVAILABLE;
	char *msg;
	g_dbus_error_strip_remote_error(err);
	if (is_no_server(err))
		msg = xprintf("no notification server on the session bus (%s)", err->message);
	else if (is_timeout(err))
		msg = xprintf("the notification server did not answer within %g s",
		              timeout_ms / 1000.0);
	else if (is_disconnected(err))
		msg = xprintf("lost the session bus connection (%s)", err->message);
	else {
		outcome = otherwise;
		msg = xprintf("%s: %s", what, err->message);
	}
	g_error_free(err);
	finish(w, outcome, msg, timeout_ms);
}

static bool is_web_link(const char *link)
{
	return link && (g_ascii_strncasecmp(link, "https://", 8) == 0 ||
	                g_ascii_strncasecmp(link, "http://", 7) == 0);
}

/* The "Open" action, on the notify thread. */
static void on_open(NotifyNotification *n, char *action_name, gpointer data)
{
	struct action *a = data;
	GError *err = NULL;
	char *msg;
	bool ok = g_app_info_launch_default_for_uri(a->link, NULL, &err);
	if (ok)
		msg = xprintf("opened %s", a->link);
	else
		msg = xprintf("cannot open %s: %s", a->link, err ? err->message : "unknown error");
	g_clear_error(&err);
	report(a->w, a->client_id, ok ? JOB_OK : JOB_FAILED, msg);
}

static void action_free(gpointer data)
{
	struct action *a = data;
	free(a->link);
	free(a);
}

/* Keep a notification with an action until the server closes it. */
static void keep(struct worker *w, NotifyNotification *n)
{
	g_signal_connect(n, "closed", G_CALLBACK(on_kept_closed), w);
	g_queue_push_tail(&w->kept, n);
	while (g_queue_get_length(&w->kept) > KEEP_MAX) {
		NotifyNotification *old = g_queue_pop_head(&w->kept);
		g_signal_handlers_disconnect_by_data(old, w);
		g_object_unref(old);
	}
}

/* Show the current job through libnotify; blocking, see the top of the file. */
static void show(struct worker *w, struct notify_job *job, bool markup, bool actions)
{
	bool with_action = actions && job->actions && is_web_link(job->link);
	struct action *a = NULL;
	char *body = text_body(job->excerpt, job->meta, with_action ? NULL : job->link, markup);
	if (with_action) {
		a = calloc(1, sizeof *a);
		if (a && !(a->link = strdup(job->link))) {
			free(a);
			a = NULL;
		}
	}
	if (!body || (with_action && !a)) {
		free(body);
		if (a)
			action_free(a);
		finish(w, JOB_FAILED, xprintf("out of memory"), job->timeout_ms);
		return;
	}

	g_mutex_lock(&w->lock);
	bool cancelled = job->priv->cancelled;
	w->blocking = !cancelled;
	if (a)
		a->client_id = job->priv->client ? job->priv->client->id : 0;
	g_mutex_unlock(&w->lock);
	if (cancelled) {
		free(body);
		if (a)
			action_free(a);
		finish(w, JOB_FAILED, NULL, job->timeout_ms);
		return;
	}

	GError *err = NULL;
	NotifyNotification *n = NULL;
	/* The first call on a connection makes libnotify's proxy. */
	bool ok = w->libnotify_ready || notify_get_server_info(NULL, NULL, NULL, NULL);
	if (ok) {
		w->libnotify_ready = true;
		n = notify_notification_new(job->summary, body, job->icon);
		notify_notification_set_app_name(n, job->app_name);
		notify_notification_set_urgency(n, (NotifyUrgency)job->urgency);
		notify_notification_set_timeout(n, job->expire_ms);
		if (a) {
			a->w = w;
			/* "default": a click on the notification opens it, too. */
			notify_notification_add_action(n, "default", "Open", on_open, a, action_free);
			a = NULL;
		}
		ok = notify_notification_show(n, &err);
	}
	g_mutex_lock(&w->lock);
	w->blocking = false;
	g_mutex_unlock(&w->lock);
	free(body);
	if (a)
		action_free(a);

	if (!ok) {
		if (n)
			g_object_unref(n);
		if (err)
			fail(w, "Notify", err, JOB_FAILED, job->timeout_ms);
		else
			finish(w, JOB_UNAVAILABLE,
			       xprintf("the notification server did not answer GetServerInformation"),
			       job->timeout_ms);
		return;
	}
	if (with_action)
		keep(w, n);
	else
		g_object_unref(n);
	finish(w, JOB_OK, NULL, job->timeout_ms);
}

static void on_capabilities(GObject *source, GAsyncResult *res, gpointer data)
{
	struct worker *w = data;
	struct notify_job *job = w->current;
	GError *err = NULL;
	char *server = NULL;
	char **caps = capabilities_finish(source, res, &server, &err);
	if (!caps) {
		/* Whoever owns the name is no notification server we can use. */
		fail(w, "GetCapabilities", err, JOB_UNAVAILABLE, job->timeout_ms);
		return;
	}
	g_free(w->server);
	w->server = server;
	bool markup = false, actions = false;
	for (size_t i = 0; caps[i]; i++) {
		if (strcmp(caps[i], "body-markup") == 0)
			markup = true;
		else if (strcmp(caps[i], "actions") == 0)
			actions = true;
	}
	g_strfreev(caps);
	show(w, job, markup, actions);
}

/* Ask the server what it can do; this is also how we learn that there is one. */
static void ask_capabilities(struct worker *w, struct notify_job *job)
{
	call_capabilities(w, job->timeout_ms, job->priv->cancel, on_capabilities);
}

static void on_bus(GObject *source, GAsyncResult *res, gpointer data)
{
	struct worker *w = data;
	struct notify_job *job = w->current;
	GError *err = NULL;
	GDBusConnection *bus = g_bus_get_finish(res, &err);
	if (!bus) {
		char *none = NULL;
		char *addr = notify_session_bus_address(&none);
		char *msg = xprintf("no D-Bus session bus at %s: %s", addr ? addr : "(none)",
		                    err->message);
		free(addr);
		free(none);
		g_error_free(err);
		finish(w, JOB_UNAVAILABLE, msg, job->timeout_ms);
		return;
	}
	if (!use_bus(w, bus)) {
		finish(w, JOB_UNAVAILABLE, xprintf("the session bus connection closed at once"),
		       job->timeout_ms);
		return;
	}
	ask_capabilities(w, job);
}

static gboolean on_run_again(gpointer data)
{
	struct worker *w = data;
	run(w, w->current);
	return G_SOURCE_REMOVE;
}

/* Start the current job: connect first if need be. */
static void run(struct worker *w, struct notify_job *job)
{
	g_clear_pointer(&w->server, g_free);
	if (w->bus && g_dbus_connection_is_closed(w->bus))
		drop_connection(w);
	if (w->bus) {
		ask_capabilities(w, job);
		return;
	}
	if (bus_dying(w)) {
		/*
		 * GLib hands out its shared connection until that is finalized,
		 * closed or not; a dropped one goes once its "closed" signal has
		 * run here. Wait for that (the loop's timer bounds the wait).
		 */
		g_mutex_lock(&w->lock);
		bool cancelled = job->priv->cancelled;
		g_mutex_unlock(&w->lock);
		if (cancelled) {
			finish(w, JOB_FAILED, NULL, job->timeout_ms);
			return;
		}
		GSource *src = g_timeout_source_new(20);
		g_source_set_callback(src, on_run_again, w, NULL);
		g_source_attach(src, w->ctx);
		g_source_unref(src);
		return;
	}
	char *why = NULL;
	char *addr = notify_session_bus_address(&why);
	if (!addr) {
		finish(w, JOB_UNAVAILABLE, why, job->timeout_ms);
		return;
	}
	free(addr);
	g_bus_get(G_BUS_TYPE_SESSION, job->priv->cancel, on_bus, w);
}

static void start_next(struct worker *w)
{
	g_mutex_lock(&w->lock);
	if (w->current) {
		g_mutex_unlock(&w->lock);
		return;
	}
	struct notify_job *job = queue_pop(w);
	if (job) {
		job->priv->state = JOB_RUNNING;
		w->current = job;
	}
	/* A probe of the watch holds a callback on this context: wait for it. */
	bool quit = !job && w->stopping && !w->probe;
	g_mutex_unlock(&w->lock);
	if (job)
		run(w, job);
	else if (quit)
		g_main_loop_quit(w->loop);
}

static gboolean on_schedule(gpointer data)
{
	struct worker *w = data;
	watch_update(w);
	start_next(w);
	return G_SOURCE_REMOVE;
}

/* Have the notify thread look at its queue. Any thread. */
static void schedule(struct worker *w)
{
	GSource *src = g_idle_source_new();
	g_source_set_callback(src, on_schedule, w, NULL);
	g_source_attach(src, w->ctx);
	g_source_unref(src);
}

/* ---- the thread --------------------------------------------------------------------- */

static gboolean on_drain_tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

static gpointer worker_main(gpointer data)
{
	struct worker *w = data;
	g_main_context_push_thread_default(w->ctx);
	g_main_loop_run(w->loop);
	watch_update(w);           /* stopping: ends the watch */
	drop_connection(w);
	/*
	 * A connection whose socket we shut down is finalized only after GLib
	 * has delivered its "closed" signal here, and it holds a reference to
	 * this context: let that happen, for a while at most.
	 */
	GSource *tick = g_timeout_source_new(50);
	g_source_set_callback(tick, on_drain_tick, NULL, NULL);
	g_source_attach(tick, w->ctx);
	gint64 deadline = g_get_monotonic_time() + DRAIN_US;
	while (bus_dying(w) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(w->ctx, TRUE);
	while (g_main_context_iteration(w->ctx, FALSE))
		;
	g_source_destroy(tick);
	g_source_unref(tick);
	g_main_context_pop_thread_default(w->ctx);
	return NULL;
}

static void worker_free(struct worker *w)
{
	g_free(w->server);
	g_free(w->distrusted);
	g_main_loop_unref(w->loop);
	g_main_context_unref(w->ctx);
	g_weak_ref_clear(&w->dying_bus);
	g_mutex_clear(&w->lock);
	free(w);
}

static int worker_start(struct worker **out)
{
	struct worker *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	g_mutex_init(&w->lock);
	w->ctx = g_main_context_new();
	w->loop = g_main_loop_new(w->ctx, FALSE);
	w->queue_tail = &w->queue;
	w->bus_fd = -1;
	g_weak_ref_init(&w->dying_bus, NULL);
	g_queue_init(&w->kept);
	GError *err = NULL;
	w->thread = g_thread_try_new("vigil-notify", worker_main, w, &err);
	if (!w->thread) {
		g_error_free(err);
		worker_free(w);
		return -EAGAIN;
	}
	*out = w;
	return 0;
}

/* The last user is gone: end the thread and wait for it. */
static void worker_stop(struct worker *w)
{
	g_mutex_lock(&w->lock);
	w->stopping = true;
	/* A libnotify call may be blocked (ours, or libnotify's own when the
	 * server changes hands): end it now rather than in 25 s. */
	if (w->blocking && w->bus_fd >= 0) {
		shutdown(w->bus_fd, SHUT_RDWR);
		w->aborted = true;
	}
	g_mutex_unlock(&w->lock);
	schedule(w);
	g_thread_join(w->thread);
	worker_free(w);
}

/* ---- the loop thread's side ------------------------------------------------------------ */

int notify_client_new(const struct vigil_host *host,
                      void (*on_result)(void *data, struct notify_job *job), void *data,
                      struct notify_client **out)
{
	struct notify_client *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->host = host;
	c->on_result = on_result;
	c->data = data;

	g_mutex_lock(&global_lock);
	if (!the_worker) {
		int r = worker_start(&the_worker);
		if (r < 0) {
			g_mutex_unlock(&global_lock);
			free(c);
			return r;
		}
	}
	struct worker *w = the_worker;
	w->users++;
	g_mutex_unlock(&global_lock);

	c->w = w;
	g_mutex_lock(&w->lock);
	c->id = ++w->last_client_id;
	c->next = w->clients;
	w->clients = c;
	g_mutex_unlock(&w->lock);
	*out = c;
	return 0;
}

void notify_client_free(struct notify_client *c)
{
	if (!c)
		return;
	struct worker *w = c->w;
	struct notify_job *dropped = NULL;
	GCancellable *abort_running = NULL;

	g_mutex_lock(&w->lock);
	while (c->jobs) {
		struct notify_job *job = c->jobs;
		struct job_private *p = job->priv;
		client_unlink(job);
		p->cancelled = true;
		if (p->state == JOB_RUNNING) {
			/* The worker frees it when its step ends. */
			abort_running = g_object_ref(p->cancel);
			continue;
		}
		/* Queued, or posted: the host dropped posted work before destroy(). */
		if (p->state == JOB_QUEUED)
			queue_remove(w, job);
		p->queue_next = dropped;
		dropped = job;
	}
	for (struct notify_client **pp = &w->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	g_mutex_unlock(&w->lock);

	if (abort_running) {
		g_cancellable_cancel(abort_running);
		g_object_unref(abort_running);
	}
	while (dropped) {
		struct notify_job *next = dropped->priv->queue_next;
		notify_job_free(dropped);
		dropped = next;
	}
	free(c);

	g_mutex_lock(&global_lock);
	bool last = --w->users == 0;
	if (last)
		the_worker = NULL;
	g_mutex_unlock(&global_lock);
	if (last)
		worker_stop(w);
}

void notify_submit(struct notify_client *c, struct notify_job *job)
{
	struct worker *w = c->w;
	g_mutex_lock(&w->lock);
	job->priv->state = JOB_QUEUED;
	client_link(c, job);
	*w->queue_tail = job;
	w->queue_tail = &job->priv->queue_next;
	g_mutex_unlock(&w->lock);
	schedule(w);
}

void notify_watch(struct notify_client *c, int timeout_ms)
{
	struct worker *w = c->w;
	g_mutex_lock(&w->lock);
	c->waiting = true;
	c->watch_timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	g_mutex_unlock(&w->lock);
	schedule(w);
}

void notify_cancel(struct notify_client *c, struct notify_job *job)
{
	struct worker *w = c->w;
	struct job_private *p = job->priv;
	GCancellable *abort_running = NULL;
	bool free_now = false;

	g_mutex_lock(&w->lock);
	p->cancelled = true;
	switch (p->state) {
	case JOB_QUEUED:
		queue_remove(w, job);
		client_unlink(job);
		free_now = true;
		break;
	case JOB_RUNNING:
		p->timed_out = true;
		abort_running = g_object_ref(p->cancel);
		if (w->blocking && w->bus_fd >= 0 && !w->aborted) {
			shutdown(w->bus_fd, SHUT_RDWR);
			w->aborted = true;
		}
		break;
	case JOB_POSTED:
		break;               /* job_posted() frees it without an answer */
	}
	g_mutex_unlock(&w->lock);

	if (abort_running) {
		g_cancellable_cancel(abort_running);
		g_object_unref(abort_running);
	}
	if (free_now)
		notify_job_free(job);
}
