/* daemon.c - the life of one vigild: start, run, reload on SIGHUP, stop on SIGTERM, --once, --check */
#include "daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dispatch.h"
#include "http.h"
#include "item.h"
#include "log.h"
#include "match.h"
#include "notify-systemd.h"
#include "pidfile.h"
#include "outbox.h"
#include "plugin-host.h"
#include "plugin-loader.h"
#include "rules-watch.h"
#include "scheduler.h"
#include "state.h"
#include "util.h"

/* Instances built from one configuration, before they replace the running ones. */
struct instance_set {
	struct instance **sources;
	size_t n_sources;
	struct instance **sinks;
	size_t n_sinks;
	char **left_out;                 /* optional sources that could not be prepared */
	size_t n_left_out;
};

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void set_free(struct instance_set *s)
{
	for (size_t i = 0; i < s->n_sources; i++)
		if (s->sources[i])
			instance_free(s->sources[i]);
	for (size_t i = 0; i < s->n_sinks; i++)
		if (s->sinks[i])
			instance_free(s->sinks[i]);
	free(s->sources);
	free(s->sinks);
	names_free(s->left_out, s->n_left_out);
	memset(s, 0, sizeof *s);
}

static void append(struct instance ***list, size_t *n, struct instance *inst)
{
	*list = xrealloc(*list, (*n + 1) * sizeof **list);
	(*list)[(*n)++] = inst;
}

/*
 * Prepare an instance for every entry. A problem with an entry marked
 * `optional: true` is logged as a warning and the entry is left out;
 * any other problem goes to `diags` (and makes the configuration invalid).
 */
static void prepare_list(struct daemon *d, struct instance_config *ics, size_t n,
                         struct instance ***out, size_t *n_out, struct instance_set *set,
                         struct diags *diags)
{
	for (size_t i = 0; i < n; i++) {
		struct diags local = { 0 };
		struct instance *inst = instance_prepare(d, &ics[i], &local);
		if (inst) {
			append(out, n_out, inst);
		} else if (ics[i].optional) {
			for (size_t j = 0; j < local.n; j++)
				log_msg(VIGIL_LOG_WARNING, ics[i].name, "optional, left out: %s",
				        local.msgs[j]);
			if (ics[i].kind == INSTANCE_SOURCE) {
				set->left_out = xrealloc(set->left_out,
				                         (set->n_left_out + 1) * sizeof *set->left_out);
				set->left_out[set->n_left_out++] = xstrdup(ics[i].name);
			}
		} else {
			for (size_t j = 0; j < local.n; j++) {
				diags->msgs = xrealloc(diags->msgs, (diags->n + 1) * sizeof *diags->msgs);
				diags->msgs[diags->n++] = local.msgs[j];
				local.msgs[j] = NULL;
			}
		}
		diags_clear(&local);
	}
}

static void prepare_set(struct daemon *d, struct config *c, struct instance_set *set,
                        struct diags *diags)
{
	/* instance_prepare reads d->config (the base directory of paths). */
	struct config *running = d->config;
	d->config = c;
	prepare_list(d, c->sources, c->n_sources, &set->sources, &set->n_sources, set, diags);
	prepare_list(d, c->sinks, c->n_sinks, &set->sinks, &set->n_sinks, set, diags);
	d->config = running;
}

/* Create every instance not created yet. A non-optional failure fails all. */
static int create_set(struct instance_set *set)
{
	int err = 0;
	struct instance **lists[2] = { set->sinks, set->sources };
	size_t counts[2] = { set->n_sinks, set->n_sources };
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			struct instance *inst = lists[l][i];
			if (inst->created)
				continue;
			int r = instance_create(inst);
			if (r < 0 && inst->cfg->optional) {
				log_msg(VIGIL_LOG_WARNING, inst->name,
				        "optional: running without it until the next reload");
			} else if (r < 0) {
				err = r;
			}
		}
	}
	return err;
}

/* Load the rules of `c`, checking the sink and source names they use. */
static struct matcher *load_rules(const struct config *c, struct diags *diags)
{
	const char **sinks = xcalloc(c->n_sinks, sizeof *sinks);
	const char **sources = xcalloc(c->n_sources, sizeof *sources);
	for (size_t i = 0; i < c->n_sinks; i++)
		sinks[i] = c->sinks[i].name;
	for (size_t i = 0; i < c->n_sources; i++)
		sources[i] = c->sources[i].name;
	struct rules_context ctx = { sinks, c->n_sinks, sources, c->n_sources };
	struct matcher *m = matcher_load(c->rules_path, &ctx, diags);
	free(sinks);
	free(sources);
	return m;
}

/* A rule file changed (inotify, debounced): swap in the new rules if all of
 * them are valid; otherwise keep the running ones and say why. */
static void on_rules_changed(void *arg)
{
	struct daemon *d = arg;
	struct diags diags = { 0 };
	if (d->stopping)
		return;
	struct matcher *m = load_rules(d->config, &diags);
	if (!m || diags.n) {
		diags_log(&diags);
		log_error("rules reload refused: %zu error%s above; the running rules stay in force",
		          diags.n, diags.n == 1 ? "" : "s");
		matcher_free(m);
	} else {
		matcher_free(d->matcher);
		d->matcher = m;
		log_info("rules reloaded from %s: %zu rules", d->config->rules_path,
		         matcher_rule_count(m));
	}
	diags_clear(&diags);
}

static void watch_rules(struct daemon *d)
{
	rules_watch_free(d->rules_watch);
	d->rules_watch = NULL;
	if (d->config->rules_path && !d->once)
		d->rules_watch = rules_watch_new(d->base, d->config->rules_path, 300,
		                                 on_rules_changed, d);
}

/* ---- stopping and --once ---------------------------------------------- */

static bool polls_running(const struct daemon *d)
{
	for (size_t i = 0; i < d->n_sources; i++)
		if (d->sources[i]->polling)
			return true;
	return false;
}

static void on_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;
	bool busy = polls_running(d) || dispatch_inflight(d) > 0;
	if (!busy || now_ms() >= d->stop_deadline_ms) {
		if (busy)
			log_warn("shutdown deadline reached: %u deliveries and %s still running are "
			         "left for the next start", dispatch_inflight(d),
			         polls_running(d) ? "some polls" : "no polls");
		event_base_loopexit(d->base, NULL);
		return;
	}
	struct timeval tv = { 0, 50000 };
	evtimer_add(d->stop_check, &tv);
}

static void begin_stop(struct daemon *d, const char *why)
{
	if (d->stopping) {
		log_warn("%s again: stopping now", why);
		event_base_loopbreak(d->base);
		return;
	}
	log_info("%s: finishing polls and deliveries in progress (up to %lld ms)", why,
	         (long long)d->config->defaults.shutdown_timeout_ms);
	notify_systemd("STOPPING=1");
	d->stopping = true;
	d->stop_deadline_ms = now_ms() + d->config->defaults.shutdown_timeout_ms;
	scheduler_stop(d);
	dispatch_pause(d);
	if (!d->stop_check)
		d->stop_check = evtimer_new(d->base, on_stop_check, d);
	on_stop_check(-1, 0, d);
}

/* --once: every source has polled; wait for deliveries due now, then exit. */
static void on_once_check(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	if (!polls_running(d) && dispatch_inflight(d) == 0 && !dispatch_due_now(d)) {
		d->exit_code = 0;
		for (size_t i = 0; i < d->n_sources; i++) {
			struct instance *s = d->sources[i];
			if (!s->created || !s->last_ok) {
				d->exit_code = 1;
				fprintf(stderr, "vigild: source %s failed: %s\n", s->name,
				        !s->created ? "it did not start" :
				        s->last_error ? s->last_error : "unknown error");
			}
		}
		for (size_t i = 0; i < d->n_left_out; i++) {
			d->exit_code = 1;
			fprintf(stderr, "vigild: source %s failed: it was left out (see the "
			        "warnings above)\n", d->left_out[i]);
		}
		event_base_loopexit(d->base, NULL);
		return;
	}
	if (now_ms() >= d->stop_deadline_ms) {
		log_warn("--once: gave up waiting for %u deliveries; they stay in the outbox",
		         dispatch_inflight(d));
		d->exit_code = 1;
		event_base_loopexit(d->base, NULL);
		return;
	}
	struct timeval tv = { 0, 20000 };
	evtimer_add(d->once_check, &tv);
}

void daemon_poll_finished(struct daemon *d)
{
	if (!d->once || d->stopping)
		return;
	for (size_t i = 0; i < d->n_sources; i++)
		if (d->sources[i]->created && (!d->sources[i]->polled || d->sources[i]->polling))
			return;
	if (!d->once_check) {
		d->once_check = evtimer_new(d->base, on_once_check, d);
		d->stop_deadline_ms = now_ms() + d->config->defaults.shutdown_timeout_ms;
		struct timeval tv = { 0, 0 };
		evtimer_add(d->once_check, &tv);
	}
}

/* ---- reload ------------------------------------------------------------- */

static struct instance *find_by_name(struct instance **list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] && !strcmp(list[i]->name, name))
			return list[i];
	return NULL;
}

struct instance *daemon_find_sink(struct daemon *d, const char *name)
{
	return find_by_name(d->sinks, d->n_sinks, name);
}

/*
 * Keep a running instance whose plugin and options did not change (its
 * timers, connections and state go on); replace the others. An invalid new
 * configuration, or a new instance that fails to start, leaves everything
 * as it was.
 */
static void reload(struct daemon *d)
{
	struct diags diags = { 0 };
	struct instance_set next = { 0 };
	struct matcher *matcher = NULL;

	log_info("reloading %s", d->config_path);
	notify_systemd("RELOADING=1");
	struct config *c = config_load(d->config_path, &diags);
	if (c)
		matcher = load_rules(c, &diags);
	if (c && !diags.n)
		prepare_set(d, c, &next, &diags);
	if (diags.n) {
		diags_log(&diags);
		log_error("reload refused: the configuration above has %zu error%s; "
		          "the running configuration stays in force", diags.n, diags.n == 1 ? "" : "s");
		goto refuse;
	}

	/* Swap in running instances whose fingerprint is unchanged. */
	struct instance **lists[2][2] = { { next.sources, d->sources }, { next.sinks, d->sinks } };
	size_t counts[2][2] = { { next.n_sources, d->n_sources }, { next.n_sinks, d->n_sinks } };
	struct instance_config *ics[2] = { c->sources, c->sinks };
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < counts[l][0]; i++) {
			struct instance *fresh = lists[l][0][i];
			struct instance *old = find_by_name(lists[l][1], counts[l][1], fresh->name);
			if (old && old->created && !strcmp(old->fingerprint, fresh->fingerprint)) {
				/* Point the survivor at its entry in the new configuration. */
				for (size_t k = 0; k < (l ? c->n_sinks : c->n_sources); k++)
					if (!strcmp(ics[l][k].name, old->name))
						old->cfg = &ics[l][k];
				instance_free(fresh);
				lists[l][0][i] = old;
			}
		}
	}
	/* Create what is new; if something required fails, undo. */
	if (create_set(&next) < 0) {
		log_error("reload refused: an instance failed to start; "
		          "the running configuration stays in force");
		/* Survivors must not be freed with the rest: restore their entries. */
		for (int l = 0; l < 2; l++)
			for (size_t i = 0; i < counts[l][0]; i++) {
				struct instance *inst = lists[l][0][i];
				struct instance_config *oics = l ? d->config->sinks : d->config->sources;
				size_t on = l ? d->config->n_sinks : d->config->n_sources;
				if (find_by_name(lists[l][1], counts[l][1], inst->name) == inst) {
					for (size_t k = 0; k < on; k++)
						if (!strcmp(oics[k].name, inst->name))
							inst->cfg = &oics[k];
					lists[l][0][i] = NULL;
				}
			}
		goto refuse;
	}
	/* Stop the instances that are gone or replaced. */
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < counts[l][1]; i++) {
			struct instance *old = lists[l][1][i];
			if (find_by_name(lists[l][0], counts[l][0], old->name) != old)
				instance_free(old);
		}
	free(d->sources);
	free(d->sinks);
	d->sources = next.sources;
	d->n_sources = next.n_sources;
	d->sinks = next.sinks;
	d->n_sinks = next.n_sinks;
	names_free(d->left_out, d->n_left_out);
	d->left_out = next.left_out;
	d->n_left_out = next.n_left_out;
	next.left_out = NULL;
	next.n_left_out = 0;

	if (strcmp(c->state_dir, d->config->state_dir))
		log_warn("state_dir changed: takes effect at the next start");
	bool rules_moved = (c->rules_path == NULL) != (d->config->rules_path == NULL) ||
	                   (c->rules_path && strcmp(c->rules_path, d->config->rules_path));
	int level = c->log_level;
	config_free(d->config);
	d->config = c;
	if (level >= 0 && getenv("VIGIL_LOG_LEVEL") == NULL)
		log_set_level((enum vigil_log_level)level);
	matcher_free(d->matcher);
	d->matcher = matcher;
	if (rules_moved)
		watch_rules(d);
	scheduler_start(d);
	dispatch_kick(d);
	log_info("reloaded: %zu sources, %zu sinks, %zu rules", d->n_sources, d->n_sinks,
	         matcher_rule_count(matcher));
	notify_systemd("READY=1");
	return;

refuse:
	set_free(&next);
	matcher_free(matcher);
	config_free(c);
	diags_clear(&diags);
	notify_systemd("READY=1");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	(void)what;
	if (sig == SIGHUP) {
		if (!d->stopping)
			reload(d);
		return;
	}
	begin_stop(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- start and tear down -------------------------------------------------- */

static int make_dirs(const char *path)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	}
	int r = mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
	free(p);
	return r;
}

static int open_state(struct config *c, struct state **st)
{
	int r = make_dirs(c->state_dir);
	if (r < 0) {
		log_error("cannot create state directory %s: %s", c->state_dir, strerror(-r));
		return r;
	}
	char *path = path_join(c->state_dir, "state.db");
	char *err = NULL;
	r = state_open(path, st, &err);
	if (r < 0)
		log_error("cannot open state database %s: %s", path, err ? err : strerror(-r));
	free(err);
	free(path);
	return r;
}

static void teardown(struct daemon *d)
{
	for (size_t i = 0; i < d->n_sources; i++)
		instance_free(d->sources[i]);
	for (size_t i = 0; i < d->n_sinks; i++)
		instance_free(d->sinks[i]);
	free(d->sources);
	free(d->sinks);
	names_free(d->left_out, d->n_left_out);
	d->left_out = NULL;
	d->n_left_out = 0;
	d->sources = d->sinks = NULL;
	d->n_sources = d->n_sinks = 0;
	dispatcher_free(d->dispatcher);
	rules_watch_free(d->rules_watch);
	/* curl goes before the event base (hiperfifo's rule). */
	http_engine_free(d->http);
	matcher_free(d->matcher);
	struct event *evs[] = { d->sig_term, d->sig_int, d->sig_hup, d->stop_check, d->once_check };
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	if (d->base)
		post_fini(d);
	if (d->base)
		event_base_free(d->base);
	plugin_loader_free(d->loader);
	state_close(d->state);
	config_free(d->config);
	free(d->config_path);
	pidfile_release();
}

static struct http_limits limits_of(const struct config_defaults *def)
{
	return (struct http_limits){
		.timeout_ms = def->timeout_ms,
		.connect_timeout_ms = def->connect_timeout_ms,
		.low_speed_bytes = def->low_speed_bytes,
		.low_speed_time_ms = def->low_speed_time_ms,
		.max_body = def->max_body,
		.max_redirects = def->max_redirects,
		.per_host = def->per_host,
		.total = def->total,
		.user_agent = def->user_agent,
	};
}

static void apply_log_level(const struct config *c)
{
	const char *env = getenv("VIGIL_LOG_LEVEL");
	int level = env ? log_level_parse(env) : c->log_level;
	if (level >= 0)
		log_set_level((enum vigil_log_level)level);
}

int daemon_run(const char *config_path, bool once)
{
	struct daemon d = { .once = once, .exit_code = 0 };
	struct diags diags = { 0 };
	struct instance_set set = { 0 };

	d.config_path = config_find(config_path, &diags);
	if (d.config_path)
		d.config = config_load(d.config_path, &diags);
	if (!d.config)
		goto invalid;
	apply_log_level(d.config);

	evthread_use_pthreads();
	d.base = event_base_new();
	if (!d.base || post_init(&d) < 0) {
		log_error("cannot create the event loop");
		goto fail;
	}
	if (!once && pidfile_acquire() == -EEXIST)
		goto fail;
	if (open_state(d.config, &d.state) < 0)
		goto fail;
	outbox_recover(d.state, now_s());
	struct http_limits limits = limits_of(&d.config->defaults);
	d.http = http_engine_new(d.base, &limits, d.state);
	char *dirs = plugin_dirs_resolve(d.config->plugin_dir);
	d.loader = plugin_loader_new(dirs);
	free(dirs);
	d.matcher = load_rules(d.config, &diags);
	if (!d.matcher)
		goto invalid;
	prepare_set(&d, d.config, &set, &diags);
	if (diags.n)
		goto invalid;
	d.sources = set.sources;
	d.n_sources = set.n_sources;
	d.sinks = set.sinks;
	d.n_sinks = set.n_sinks;
	d.left_out = set.left_out;
	d.n_left_out = set.n_left_out;
	memset(&set, 0, sizeof set);
	d.dispatcher = dispatcher_new(&d);

	struct instance_set running = { .sources = d.sources, .n_sources = d.n_sources,
	                                .sinks = d.sinks, .n_sinks = d.n_sinks };
	if (create_set(&running) < 0) {
		log_error("not starting: a required source or sink failed to start "
		          "(mark it `optional: true` to run without it)");
		goto fail;
	}

	signal(SIGPIPE, SIG_IGN);
	d.sig_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.sig_hup = evsignal_new(d.base, SIGHUP, on_signal, &d);
	event_add(d.sig_term, NULL);
	event_add(d.sig_int, NULL);
	event_add(d.sig_hup, NULL);

	log_info("vigild %s started: %zu sources, %zu sinks, %zu rules, state %s", VIGIL_VERSION_STRING,
	         d.n_sources, d.n_sinks, matcher_rule_count(d.matcher), d.config->state_dir);
	watch_rules(&d);
	scheduler_start(&d);
	dispatch_kick(&d);
	if (once)
		daemon_poll_finished(&d);    /* no sources at all: straight to delivery */
	notify_systemd("READY=1");

	event_base_dispatch(d.base);

	int code = d.exit_code;
	teardown(&d);
	log_info("stopped");
	return code;

invalid:
	diags_print(&diags, stderr);
	diags_clear(&diags);
fail:
	set_free(&set);
	teardown(&d);
	return 1;
}

int daemon_check(const char *config_path)
{
	struct daemon d = { 0 };
	struct diags diags = { 0 };
	struct instance_set set = { 0 };
	int code = 1;

	d.config_path = config_find(config_path, &diags);
	if (d.config_path)
		d.config = config_load(d.config_path, &diags);
	if (d.config) {
		char *dirs = plugin_dirs_resolve(d.config->plugin_dir);
		d.loader = plugin_loader_new(dirs);
		free(dirs);
		d.matcher = load_rules(d.config, &diags);
		prepare_set(&d, d.config, &set, &diags);
	}
	if (diags.n) {
		diags_print(&diags, stderr);
		fprintf(stderr, "%s: %zu error%s\n", d.config_path ? d.config_path : "vigild",
		        diags.n, diags.n == 1 ? "" : "s");
	} else {
		printf("%s: OK (%zu sources, %zu sinks, %zu rules)\n", d.config_path,
		       set.n_sources, set.n_sinks, d.matcher ? matcher_rule_count(d.matcher) : 0);
		code = 0;
	}
	diags_clear(&diags);
	set_free(&set);
	matcher_free(d.matcher);
	plugin_loader_free(d.loader);
	config_free(d.config);
	free(d.config_path);
	return code;
}

int daemon_list_alerts(const char *config_path, bool failed_only)
{
	struct diags diags = { 0 };
	struct state *st = NULL;
	char *path = config_find(config_path, &diags);
	struct config *c = path ? config_load(path, &diags) : NULL;
	int code = 1;
	if (!c) {
		diags_print(&diags, stderr);
		goto out;
	}
	if (open_state(c, &st) < 0)
		goto out;
	enum delivery_status statuses[] = { DELIVERY_FAILED, DELIVERY_PENDING, DELIVERY_INFLIGHT };
	size_t n_status = failed_only ? 1 : 3;
	static const char *names[] = { "pending", "in flight", "delivered", "failed" };
	for (size_t s = 0; s < n_status; s++) {
		struct outbox_delivery **rows = NULL;
		size_t n = 0;
		if (outbox_list(st, statuses[s], 1000, &rows, &n) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct outbox_delivery *r = rows[i];
			char when[32];
			json_t *ij = json_loads(r->item_json ? r->item_json : "", 0, NULL);
			const char *title = json_string_value(json_object_get(ij, "title"));
			printf("%lld\t%s\t%s\t%s\tattempts=%u\t%s\t%s\t%s\n", (long long)r->alert_id,
			       time_format_rfc3339(r->created, when, sizeof when), r->sink,
			       names[r->status], r->attempts, r->rule, title ? title : "",
			       r->last_error ? r->last_error : "");
			json_decref(ij);
			outbox_delivery_free(r);
		}
		free(rows);
	}
	code = 0;
out:
	diags_clear(&diags);
	state_close(st);
	config_free(c);
	free(path);
	return code;
}
