/* daemon.h - the daemon object: what one running vigild owns, and its life cycle */
#ifndef VIGIL_DAEMON_DAEMON_H
#define VIGIL_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <vigil/plugin.h>

#include "config.h"
#include "diag.h"

struct event_base;
struct event;
struct state;
struct http_engine;
struct plugin_loader;
struct loaded_plugin;
struct option_set;
struct matcher;
struct owned_item;
struct dispatcher;
struct rules_watch;

/* A validator pair seen during a poll, stored when the poll succeeds. */
struct pending_validator {
	char *url, *etag, *last_modified;
};

/* One configured source or sink, running a plugin. Owned by struct daemon. */
struct instance {
	struct daemon *daemon;
	struct instance_config *cfg;     /* into daemon->config; re-pointed on reload */
	char *name;                      /* owned copy of cfg->name */
	const struct loaded_plugin *plugin;
	struct option_set *options;      /* owned */
	char *fingerprint;               /* plugin + options + host keys; reload compares it */
	struct vigil_host host;          /* handed to the plugin */
	void *state;                     /* the plugin's */
	bool created;
	bool closing;                    /* destroy() in progress: post() refuses */

	struct vigil_timer *timers;      /* live timers, to cancel on destroy */
	struct vigil_http_call *calls;   /* live HTTP calls, to cancel on destroy */

	/* Sources: the poll in progress and the schedule. */
	bool polling;
	int64_t poll_started_ms;
	struct owned_item **batch;       /* emitted during this poll */
	size_t n_batch;
	struct pending_validator *validators;
	size_t n_validators;
	int64_t retry_after_s;           /* largest Retry-After seen this poll, or -1 */
	struct event *poll_timer;        /* next poll */
	struct event *watchdog;          /* a poll that never finishes */
	int consecutive_failures;
	bool last_ok;                    /* last finished poll succeeded (for --once) */
	bool polled;                     /* a poll has finished since start */
	char *last_error;

	/* Sinks. */
	unsigned inflight;               /* deliveries handed over, not done */
};

struct daemon {
	struct event_base *base;
	char *config_path;
	struct config *config;
	struct state *state;
	struct http_engine *http;
	struct plugin_loader *loader;
	struct matcher *matcher;
	struct dispatcher *dispatcher;
	struct rules_watch *rules_watch; /* inotify on the rules path, or NULL */

	struct instance **sources;
	size_t n_sources;
	struct instance **sinks;
	size_t n_sinks;
	char **left_out;                 /* optional sources left out (failed to prepare) */
	size_t n_left_out;

	bool once;                       /* --once: one round, deliver, exit */
	bool stopping;
	int64_t stop_deadline_ms;
	int exit_code;

	struct event *sig_term, *sig_int, *sig_hup;
	struct event *stop_check;        /* polls shutdown progress */
	struct event *once_check;

	/* host->post(): work handed in from other threads. */
	pthread_mutex_t post_lock;
	struct posted_work *posted;      /* singly linked, FIFO */
	struct posted_work **posted_tail;
	struct event *post_event;
};

/*
 * Check a configuration file and its rules: everything a start would check
 * except creating instances (config syntax, plugins load, plugin options).
 * Prints each problem to stderr. Returns 0 when valid.
 */
int daemon_check(const char *config_path);

/* Run the daemon until stopped. `once`: one round then exit. Returns the
 * process exit code. */
int daemon_run(const char *config_path, bool once);

/* List alerts of the outbox (--list-alerts); failed_only for dead letters. */
int daemon_list_alerts(const char *config_path, bool failed_only);

/* Internal, for the modules of the daemon. */
/* A poll finished (for --once: when all have, deliver and exit). */
void daemon_poll_finished(struct daemon *d);
struct instance *daemon_find_sink(struct daemon *d, const char *name);

#endif
