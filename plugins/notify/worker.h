/* worker.h - the notify thread: libnotify and the session bus on a GLib main loop of their own */
#ifndef VIGIL_NOTIFY_WORKER_H
#define VIGIL_NOTIFY_WORKER_H

#include <stdbool.h>
#include <vigil/host.h>

enum job_kind {
	JOB_SHOW = 1,                /* show a notification; answered once */
	JOB_OPENED = 2,              /* a report: the user chose "Open" (message says what came of it) */
	JOB_BACK = 3,                /* a report: notifications work again (see notify_watch()) */
};

enum job_outcome {
	JOB_OK = 0,                  /* shown, or the link opened */
	JOB_UNAVAILABLE = 1,         /* no session bus, no notification server, or it did not answer */
	JOB_FAILED = 2,              /* the server refused this one notification, or opening failed */
};

/*
 * One notification on its way to the notify thread and back. The loop thread
 * fills the request, hands the job over with notify_submit() and must not
 * touch it afterwards, except in on_result (see notify_client_new()).
 * Every string is malloc'd and freed with the job.
 */
struct notify_job {
	enum job_kind kind;

	/* The request (JOB_SHOW). */
	char *summary;               /* plain text */
	char *excerpt;               /* body parts, each may be NULL; escaped by the */
	char *meta;                  /* notify thread if the server reads markup */
	char *link;                  /* the item's link: the "Open" action, or a body line */
	char *icon;                  /* icon name or path */
	char *app_name;
	int urgency;                 /* enum text_urgency */
	int expire_ms;               /* display time: -1 the server's default, 0 never */
	bool actions;                /* offer "Open" if the server has actions */
	int timeout_ms;              /* longest wait for one D-Bus call */

	/* The answer, set by the notify thread. */
	enum job_outcome outcome;
	char *message;               /* why it failed; for JOB_OPENED what happened */

	void *loop_data;             /* the loop thread's own, untouched by the worker */

	struct job_private *priv;    /* worker.c's bookkeeping */
};

struct notify_client;            /* one sink instance's handle on the notify thread */

/*
 * Where the session bus would be looked for ($DBUS_SESSION_BUS_ADDRESS, else
 * $XDG_RUNTIME_DIR/bus when it exists), malloc'd; or NULL with *why set
 * (malloc'd) when there is none. Any thread; it does not connect.
 */
char *notify_session_bus_address(char **why);

/*
 * Register a sink instance. The first one starts the notify thread (it does
 * not connect to the bus yet). on_result(data, job) runs on the loop thread,
 * through host->post(), once for every job that was not cancelled, and for
 * reports (JOB_OPENED, JOB_BACK); the job is freed when it returns.
 * Loop thread. Returns 0 or -errno.
 */
int notify_client_new(const struct vigil_host *host,
                      void (*on_result)(void *data, struct notify_job *job), void *data,
                      struct notify_client **out);

/*
 * Unregister: every job of this client is dropped and on_result never runs
 * again; a call in progress for it is aborted. The last client stops the
 * notify thread and waits for it. Loop thread.
 */
void notify_client_free(struct notify_client *c);

/* A zeroed job of kind JOB_SHOW, or NULL (out of memory). Free it with
 * notify_job_free() only if it was never submitted. */
struct notify_job *notify_job_new(void);
void notify_job_free(struct notify_job *job);

/* Queue the job for the notify thread. Ownership passes to the worker. Loop thread. */
void notify_submit(struct notify_client *c, struct notify_job *job);

/*
 * The client cannot show notifications (no session bus, no server, a server
 * that did not answer): until they work again, the notify thread watches for
 * a bus and a notification server (see the top of worker.c), asking a new
 * one for its capabilities with `timeout_ms`. When one answers, or a
 * notification of any client is shown, the client gets one JOB_BACK report
 * and the watch ends. Call it again after the next outage. Loop thread.
 */
void notify_watch(struct notify_client *c, int timeout_ms);

/*
 * The loop gave up waiting (timeout): on_result will not run for `job`, and
 * if it is the one being shown its D-Bus call is aborted, so that the
 * connection is made anew for the next one. Loop thread.
 */
void notify_cancel(struct notify_client *c, struct notify_job *job);

#endif
