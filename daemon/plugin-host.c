/* plugin-host.c - plugin instances and the host function table they are given */
#include "plugin-host.h"

#include <curl/curl.h>
#include <errno.h>
#include <strings.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "http.h"
#include "item.h"
#include "log.h"
#include "options.h"
#include "pipeline.h"
#include "plugin-loader.h"
#include "state.h"
#include "util.h"

/* The most items one poll may emit; a runaway source cannot eat the memory. */
#define MAX_ITEMS_PER_POLL 100000

struct vigil_timer {
	struct instance *inst;
	struct event *ev;
	void (*cb)(void *);
	void *userdata;
	struct vigil_timer *next;
};

struct vigil_http_call {
	struct instance *inst;
	struct http_call *call;
	vigil_http_cb cb;
	void *userdata;
	char *url;                   /* as requested: the key of its validators */
	bool conditional;
	struct vigil_http_call *next;
};

struct posted_work {
	struct instance *inst;
	void (*fn)(void *);
	void *userdata;
	struct posted_work *next;
};

/* ---- log and options ---------------------------------------------------- */

static void host_log(struct vigil_instance *vi, enum vigil_log_level level, const char *fmt, ...)
{
	struct instance *inst = (struct instance *)vi;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, inst->name, fmt, ap);
	va_end(ap);
}

static const char *host_get_string(struct vigil_instance *vi, const char *key)
{
	return option_get_string(((struct instance *)vi)->options, key);
}

static int64_t host_get_int(struct vigil_instance *vi, const char *key, int64_t fallback)
{
	return option_get_int(((struct instance *)vi)->options, key, fallback);
}

static double host_get_number(struct vigil_instance *vi, const char *key, double fallback)
{
	return option_get_number(((struct instance *)vi)->options, key, fallback);
}

static bool host_get_bool(struct vigil_instance *vi, const char *key, bool fallback)
{
	return option_get_bool(((struct instance *)vi)->options, key, fallback);
}

static int64_t host_get_duration_ms(struct vigil_instance *vi, const char *key, int64_t fallback)
{
	return option_get_duration_ms(((struct instance *)vi)->options, key, fallback);
}

static size_t host_get_list(struct vigil_instance *vi, const char *key, const char *const **out)
{
	return option_get_list(((struct instance *)vi)->options, key, out);
}

static size_t host_get_map(struct vigil_instance *vi, const char *key, const struct vigil_kv **out)
{
	return option_get_map(((struct instance *)vi)->options, key, out);
}

/* ---- timers ------------------------------------------------------------- */

static void timer_unlink(struct vigil_timer *t)
{
	for (struct vigil_timer **p = &t->inst->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	event_free(t->ev);
	free(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct vigil_timer *t = arg;
	void (*cb)(void *) = t->cb;
	void *userdata = t->userdata;
	(void)fd;
	(void)what;
	timer_unlink(t);
	cb(userdata);
}

static struct vigil_timer *host_timer_add(struct vigil_instance *vi, uint64_t delay_ms,
                                          void (*cb)(void *), void *userdata)
{
	struct instance *inst = (struct instance *)vi;
	if (!cb)
		return NULL;
	struct vigil_timer *t = xcalloc(1, sizeof *t);
	t->inst = inst;
	t->cb = cb;
	t->userdata = userdata;
	t->ev = evtimer_new(inst->daemon->base, on_timer, t);
	struct timeval tv = { .tv_sec = (time_t)(delay_ms / 1000),
	                      .tv_usec = (suseconds_t)(delay_ms % 1000) * 1000 };
	evtimer_add(t->ev, &tv);
	t->next = inst->timers;
	inst->timers = t;
	return t;
}

static void host_timer_cancel(struct vigil_instance *vi, struct vigil_timer *t)
{
	(void)vi;
	if (t)
		timer_unlink(t);
}

/* ---- HTTP --------------------------------------------------------------- */

static void call_unlink(struct vigil_http_call *c)
{
	for (struct vigil_http_call **p = &c->inst->calls; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c->url);
	free(c);
}

/* Remember validators of a conditional fetch; stored if the poll succeeds. */
static void keep_validators(struct instance *inst, const char *url,
                            const struct vigil_http_response *r)
{
	if (!r->etag && !r->last_modified)
		return;
	for (size_t i = 0; i < inst->n_validators; i++) {
		if (!strcmp(inst->validators[i].url, url)) {
			free(inst->validators[i].etag);
			free(inst->validators[i].last_modified);
			inst->validators[i].etag = xstrdup(r->etag);
			inst->validators[i].last_modified = xstrdup(r->last_modified);
			return;
		}
	}
	inst->validators = xrealloc(inst->validators,
	                            (inst->n_validators + 1) * sizeof *inst->validators);
	inst->validators[inst->n_validators++] = (struct pending_validator){
		xstrdup(url), xstrdup(r->etag), xstrdup(r->last_modified) };
}

static void on_http_done(void *arg, const struct vigil_http_response *r)
{
	struct vigil_http_call *c = arg;
	struct instance *inst = c->inst;
	if (r->retry_after > inst->retry_after_s)
		inst->retry_after_s = r->retry_after;
	if (c->conditional && inst->polling && r->status == 200 && !r->error)
		keep_validators(inst, c->url, r);
	vigil_http_cb cb = c->cb;
	void *userdata = c->userdata;
	call_unlink(c);
	cb(userdata, r);
}

/*
 * Is `url` the file:// form of the source's `path` option (the local-file
 * twin of `url`)? Compared decoded, so the plugin may encode as it likes.
 * On yes, *copy is a copy of url to allow.
 */
static bool is_own_path(struct instance *inst, const char *url, char **copy)
{
	const char *path = option_get_string(inst->options, "path");
	if (!path || strncasecmp(url, "file:", 5))
		return false;
	CURLU *u = curl_url();
	char *decoded = NULL;
	bool same = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	            curl_url_get(u, CURLUPART_PATH, &decoded, CURLU_URLDECODE) == CURLUE_OK &&
	            !strcmp(decoded, path);
	curl_free(decoded);
	curl_url_cleanup(u);
	if (same)
		*copy = xstrdup(url);
	return same;
}

static struct vigil_http_call *host_http_request(struct vigil_instance *vi,
                                                 const struct vigil_http_request *req,
                                                 vigil_http_cb cb, void *userdata)
{
	struct instance *inst = (struct instance *)vi;
	struct daemon *d = inst->daemon;
	if (!req || !req->url || !cb) {
		log_msg(VIGIL_LOG_ERROR, inst->name, "HTTP request without URL or callback");
		return NULL;
	}
	struct http_call_options opt = {
		.user_agent = inst->cfg->user_agent ? inst->cfg->user_agent
		                                    : d->config->defaults.user_agent,
		.headers = inst->cfg->headers,
		.n_headers = inst->cfg->n_headers,
		.timeout_ms = inst->cfg->timeout_ms,
		.max_body = inst->cfg->max_body,
		.validator_scope = inst->name,
		.proxy = inst->cfg->proxy,
	};
	/* file:// only for a source's own configured URL, never a redirect target
	 * or anything a document names. */
	char *own_file = NULL;
	if (inst->cfg->kind == INSTANCE_SOURCE) {
		opt.allow_file_url = option_get_string(inst->options, "url");
		if (is_own_path(inst, req->url, &own_file))
			opt.allow_file_url = own_file;
	}

	struct vigil_http_call *c = xcalloc(1, sizeof *c);
	c->inst = inst;
	c->cb = cb;
	c->userdata = userdata;
	c->url = xstrdup(req->url);
	c->conditional = req->flags & VIGIL_HTTP_CONDITIONAL;
	const char *why = NULL;
	c->call = http_engine_request(d->http, req, &opt, on_http_done, c, &why);
	free(own_file);
	if (!c->call) {
		char *shown = http_url_for_log(req->url, req->flags & VIGIL_HTTP_SECRET_URL);
		log_msg(VIGIL_LOG_ERROR, inst->name, "request to %s refused: %s", shown,
		        why ? why : "invalid request");
		free(shown);
		free(c->url);
		free(c);
		return NULL;
	}
	c->next = inst->calls;
	inst->calls = c;
	return c;
}

static void host_http_cancel(struct vigil_instance *vi, struct vigil_http_call *c)
{
	(void)vi;
	if (!c)
		return;
	http_call_cancel(c->call);
	call_unlink(c);
}

/* ---- sources and sinks --------------------------------------------------- */

static int host_emit(struct vigil_instance *vi, const struct vigil_item *item)
{
	struct instance *inst = (struct instance *)vi;
	if (!item || item->size < offsetof(struct vigil_item, link) + sizeof item->link)
		return -EINVAL;
	if (!inst->polling) {
		log_msg(VIGIL_LOG_WARNING, inst->name, "item emitted outside a poll was dropped "
		        "(a plugin bug: emit only between poll() and poll_done())");
		return -EINVAL;
	}
	if (inst->n_batch >= MAX_ITEMS_PER_POLL)
		return -ENOSPC;
	if (inst->n_batch % 64 == 0)
		inst->batch = xrealloc(inst->batch, (inst->n_batch + 64) * sizeof *inst->batch);
	inst->batch[inst->n_batch++] = item_copy(item);
	return 0;
}

static void host_poll_done(struct vigil_instance *vi, int error, const char *message)
{
	struct instance *inst = (struct instance *)vi;
	if (!inst->polling) {
		log_msg(VIGIL_LOG_WARNING, inst->name, "poll_done() without a poll (ignored)");
		return;
	}
	pipeline_poll_done(inst, error, message);
}

static void host_done(struct vigil_instance *vi, struct vigil_delivery *delivery,
                      enum vigil_delivery_result result, uint32_t retry_after_s,
                      const char *message)
{
	dispatch_done((struct instance *)vi, delivery, result, retry_after_s, message);
}

static void host_retry_now(struct vigil_instance *vi)
{
	dispatch_retry_now((struct instance *)vi);
}

/* ---- post: the one thread-safe call --------------------------------------- */

static int host_post(struct vigil_instance *vi, void (*fn)(void *), void *userdata)
{
	struct instance *inst = (struct instance *)vi;
	struct daemon *d = inst->daemon;
	if (!fn)
		return -EINVAL;
	struct posted_work *w = xcalloc(1, sizeof *w);
	w->inst = inst;
	w->fn = fn;
	w->userdata = userdata;
	pthread_mutex_lock(&d->post_lock);
	if (inst->closing) {
		pthread_mutex_unlock(&d->post_lock);
		free(w);
		return -ESHUTDOWN;
	}
	*d->posted_tail = w;
	d->posted_tail = &w->next;
	pthread_mutex_unlock(&d->post_lock);
	/* Thread-safe with evthread_use_pthreads(): wakes the loop. */
	event_active(d->post_event, EV_READ, 0);
	return 0;
}

static void on_posted(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	(void)fd;
	(void)what;
	for (;;) {
		pthread_mutex_lock(&d->post_lock);
		struct posted_work *w = d->posted;
		if (w) {
			d->posted = w->next;
			if (!d->posted)
				d->posted_tail = &d->posted;
		}
		pthread_mutex_unlock(&d->post_lock);
		if (!w)
			break;
		w->fn(w->userdata);
		free(w);
	}
}

int post_init(struct daemon *d)
{
	pthread_mutex_init(&d->post_lock, NULL);
	d->posted = NULL;
	d->posted_tail = &d->posted;
	d->post_event = event_new(d->base, -1, 0, on_posted, d);
	return d->post_event ? 0 : -ENOMEM;
}

void post_fini(struct daemon *d)
{
	if (d->post_event)
		event_free(d->post_event);
	d->post_event = NULL;
	while (d->posted) {
		struct posted_work *w = d->posted;
		d->posted = w->next;
		free(w);
	}
	d->posted_tail = &d->posted;
	pthread_mutex_destroy(&d->post_lock);
}

/* Drop work posted for an instance that is going away. */
static void drop_posted(struct instance *inst)
{
	struct daemon *d = inst->daemon;
	pthread_mutex_lock(&d->post_lock);
	inst->closing = true;
	struct posted_work **p = &d->posted;
	d->posted_tail = &d->posted;
	while (*p) {
		if ((*p)->inst == inst) {
			struct posted_work *dead = *p;
			*p = dead->next;
			free(dead);
		} else {
			d->posted_tail = &(*p)->next;
			p = &(*p)->next;
		}
	}
	pthread_mutex_unlock(&d->post_lock);
}

/* ---- state ----------------------------------------------------------------- */

static int host_state_get(struct vigil_instance *vi, const char *key, char **value)
{
	struct instance *inst = (struct instance *)vi;
	if (!key || !value)
		return -EINVAL;
	return state_kv_get(inst->daemon->state, inst->name, key, value);
}

static int host_state_put(struct vigil_instance *vi, const char *key, const char *value)
{
	struct instance *inst = (struct instance *)vi;
	if (!key)
		return -EINVAL;
	return state_kv_put(inst->daemon->state, inst->name, key, value);
}

/* ---- instances ------------------------------------------------------------- */

static char *make_fingerprint(const struct instance *inst)
{
	const struct instance_config *ic = inst->cfg;
	size_t len = 0;
	char *headers = NULL;
	FILE *f = open_memstream(&headers, &len);
	for (size_t i = 0; i < ic->n_headers; i++)
		fprintf(f, "%s=%s;", ic->headers[i].key, ic->headers[i].value);
	fclose(f);
	char *fp = xasprintf("%s|%s|opt=%d|int=%lld|first=%d|ua=%s|hdr=%s|to=%lld|max=%lld|"
	                     "proxy=%s|%s",
	                     ic->name, ic->plugin, ic->optional, (long long)ic->interval_ms,
	                     ic->alert_on_first_poll, ic->user_agent ? ic->user_agent : "",
	                     headers, (long long)ic->timeout_ms, (long long)ic->max_body,
	                     ic->proxy ? ic->proxy : "", option_set_fingerprint(inst->options));
	free(headers);
	return fp;
}

struct instance *instance_prepare(struct daemon *d, struct instance_config *ic,
                                  struct diags *diags)
{
	const struct ynode *plugin_node = ynode_get(ic->node, "plugin");
	int line = plugin_node ? plugin_node->line : ic->line;
	int col = plugin_node ? plugin_node->column : ic->column;
	const struct loaded_plugin *p = plugin_loader_get(d->loader, ic->plugin, diags,
	                                                  ic->file, line, col);
	if (!p)
		return NULL;
	enum vigil_plugin_kind want = ic->kind == INSTANCE_SOURCE ? VIGIL_PLUGIN_SOURCE
	                                                          : VIGIL_PLUGIN_SINK;
	if (p->desc->kind != want) {
		diag_add(diags, ic->file, line, col, "plugin \"%s\" is a %s, but \"%s\" is listed under %s",
		         ic->plugin, p->desc->kind == VIGIL_PLUGIN_SOURCE ? "source" : "sink",
		         ic->name, ic->kind == INSTANCE_SOURCE ? "sources:" : "sinks:");
		return NULL;
	}
	struct option_set *opts = option_set_build(p->desc, ic, d->config->dir, diags);
	if (!opts)
		return NULL;

	struct instance *inst = xcalloc(1, sizeof *inst);
	inst->daemon = d;
	inst->cfg = ic;
	inst->name = xstrdup(ic->name);
	inst->plugin = p;
	inst->options = opts;
	inst->fingerprint = make_fingerprint(inst);
	inst->retry_after_s = -1;
	inst->last_ok = true;

	struct vigil_host *h = &inst->host;
	h->size = sizeof *h;
	h->abi_major = VIGIL_ABI_MAJOR;
	h->abi_minor = VIGIL_ABI_MINOR;
	h->inst = (struct vigil_instance *)inst;
	h->instance_name = inst->name;
	h->log = host_log;
	h->get_string = host_get_string;
	h->get_int = host_get_int;
	h->get_number = host_get_number;
	h->get_bool = host_get_bool;
	h->get_duration_ms = host_get_duration_ms;
	h->get_list = host_get_list;
	h->get_map = host_get_map;
	h->timer_add = host_timer_add;
	h->timer_cancel = host_timer_cancel;
	h->http_request = host_http_request;
	h->http_cancel = host_http_cancel;
	h->emit = host_emit;
	h->poll_done = host_poll_done;
	h->done = host_done;
	h->post = host_post;
	h->state_get = host_state_get;
	h->state_put = host_state_put;
	h->retry_now = host_retry_now;
	return inst;
}

int instance_create(struct instance *inst)
{
	void *state = NULL;
	int r = inst->plugin->desc->methods->create(&inst->host, &state);
	if (r < 0) {
		log_msg(VIGIL_LOG_ERROR, inst->name, "plugin %s failed to start: %s",
		        inst->plugin->name, strerror(-r));
		return r;
	}
	inst->state = state;
	inst->created = true;
	log_msg(VIGIL_LOG_DEBUG, inst->name, "started (plugin %s %s)", inst->plugin->name,
	        inst->plugin->desc->version ? inst->plugin->desc->version : "");
	return 0;
}

static void drop_batch(struct instance *inst)
{
	for (size_t i = 0; i < inst->n_batch; i++)
		item_free(inst->batch[i]);
	free(inst->batch);
	inst->batch = NULL;
	inst->n_batch = 0;
	for (size_t i = 0; i < inst->n_validators; i++) {
		free(inst->validators[i].url);
		free(inst->validators[i].etag);
		free(inst->validators[i].last_modified);
	}
	free(inst->validators);
	inst->validators = NULL;
	inst->n_validators = 0;
}

static void instance_reset_poll(struct instance *inst)
{
	drop_batch(inst);
	inst->retry_after_s = -1;
}

void instance_free(struct instance *inst)
{
	if (!inst)
		return;
	drop_posted(inst);
	if (inst->created)
		inst->plugin->desc->methods->destroy(inst->state);
	inst->created = false;
	/* Whatever the plugin left behind. */
	while (inst->calls) {
		http_call_cancel(inst->calls->call);
		call_unlink(inst->calls);
	}
	while (inst->timers)
		timer_unlink(inst->timers);
	if (inst->cfg->kind == INSTANCE_SINK)
		dispatch_forget_sink(inst);
	if (inst->poll_timer)
		event_free(inst->poll_timer);
	if (inst->watchdog)
		event_free(inst->watchdog);
	drop_batch(inst);
	option_set_free(inst->options);
	free(inst->fingerprint);
	free(inst->last_error);
	free(inst->name);
	free(inst);
}

int instance_poll(struct instance *inst)
{
	if (inst->polling)
		return -EBUSY;
	instance_reset_poll(inst);
	inst->polling = true;
	inst->poll_started_ms = now_ms();
	pipeline_poll_started(inst);
	int r = inst->plugin->desc->methods->poll(inst->state);
	if (r < 0 && inst->polling) {
		char *msg = xasprintf("poll could not start: %s", strerror(-r));
		pipeline_poll_done(inst, r, msg);
		free(msg);
	}
	return r;
}
