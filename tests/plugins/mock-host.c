/* mock-host.c - a recording stand-in for the daemon, to test plugins without it */
#include "mock-host.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOCK_MAX_ROUNDS 100

struct mock_option {
	char *key;
	char *value;                 /* scalar text, or NULL for a list */
	char **list;
	size_t n_list;
	struct vigil_kv *map;        /* a MAP option, or NULL */
	size_t n_map;
};

struct mock_call {
	struct mock_request req;
	vigil_http_cb cb;
	void *userdata;
};

struct mock_timer {
	uint64_t deadline;
	uint64_t seq;
	void (*cb)(void *userdata);
	void *userdata;
	bool pending;
};

struct mock_post {
	void (*fn)(void *userdata);
	void *userdata;
};

struct mock_kv {
	char *key;
	char *value;
};

struct mock_host {
	struct vigil_host table;
	char *name;
	const struct vigil_plugin *plugin;
	bool polling;                /* between mock_host_poll() and poll_done() */
	bool poll_tracked;           /* polls are started through mock_host_poll() */
	unsigned n_retry_now;        /* host->retry_now() calls */

	struct mock_option *opts;
	size_t n_opts;
	struct mock_log *logs;
	size_t n_logs;
	struct vigil_item **items;
	size_t n_items;
	struct mock_poll_result *polls;
	size_t n_polls;
	struct mock_done **deliveries;
	size_t n_deliveries;
	struct mock_response *responses;
	size_t n_responses;
	struct mock_call **calls;
	size_t n_calls;
	struct mock_timer **timers;
	size_t n_timers;
	uint64_t timer_seq;
	struct mock_kv *kv;
	size_t n_kv;

	pthread_mutex_t post_lock;   /* guards posts and shut_down: post() is thread-safe */
	struct mock_post *posts;
	size_t n_posts;
	bool shut_down;

	size_t emit_limit;           /* 0: none */
	uint64_t now_ms;
	unsigned violations;
};

/* Tests stop at the first allocation failure: there is nothing to recover. */
static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "mock-host: out of memory\n");
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	return s ? strcpy(xrealloc(NULL, strlen(s) + 1), s) : NULL;
}

static char *xmemdup0(const char *s, size_t n)
{
	char *d = xrealloc(NULL, n + 1);
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Append one zeroed element to the array `arr` of `n` elements; evaluates to its address. */
#define append(arr, n) \
	((arr) = xrealloc((arr), ((n) + 1) * sizeof *(arr)), \
	 memset(&(arr)[n], 0, sizeof *(arr)), &(arr)[(n)++])

static void violation(struct mock_host *mh, const char *fmt, ...) VIGIL_PRINTF(2, 3);
static void violation(struct mock_host *mh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mock-host: %s: host contract violated: ", mh ? mh->name : "?");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (mh)
		mh->violations++;
}

/* The host handle is the mock itself; anything else is a plugin bug. */
static struct mock_host *from_inst(struct vigil_instance *inst, const char *fn)
{
	struct mock_host *mh = (struct mock_host *)(void *)inst;
	if (!mh || mh->table.inst != inst) {
		fprintf(stderr, "mock-host: %s called with a bad instance handle\n", fn);
		abort();
	}
	return mh;
}

/* ---- options ---- */

static const struct vigil_option *declared(struct mock_host *mh, const char *key)
{
	if (!mh->plugin)
		return NULL;
	for (size_t i = 0; i < mh->plugin->n_options; i++)
		if (!strcmp(mh->plugin->options[i].key, key))
			return &mh->plugin->options[i];
	return NULL;
}

/*
 * Find an option's value for a getter of option type `type` (0: any),
 * checking the plugin declared it with that type. Returns the text set by
 * the test, else the declared default, else NULL; *opt_out the set entry.
 */
static const char *option_text(struct mock_host *mh, const char *key, int type, int type2,
                               struct mock_option **opt_out)
{
	if (opt_out)
		*opt_out = NULL;
	const struct vigil_option *decl = declared(mh, key);
	if (mh->plugin && !decl)
		violation(mh, "option \"%s\" read but not declared by plugin %s", key,
		          mh->plugin->name);
	else if (decl && type && (int)decl->type != type && (int)decl->type != type2)
		violation(mh, "option \"%s\" (type %d) read with a getter for type %d", key,
		          (int)decl->type, type);

	for (size_t i = 0; i < mh->n_opts; i++) {
		if (!strcmp(mh->opts[i].key, key)) {
			if (opt_out)
				*opt_out = &mh->opts[i];
			return mh->opts[i].value;
		}
	}
	return decl ? decl->default_value : NULL;
}

static const char *mock_get_string(struct vigil_instance *inst, const char *key)
{
	struct mock_host *mh = from_inst(inst, __func__);
	return option_text(mh, key, VIGIL_OPT_STRING, VIGIL_OPT_PATH, NULL);
}

static int64_t mock_get_int(struct vigil_instance *inst, const char *key, int64_t fallback)
{
	struct mock_host *mh = from_inst(inst, __func__);
	const char *text = option_text(mh, key, VIGIL_OPT_INT, VIGIL_OPT_INT, NULL);
	if (!text)
		return fallback;
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *end) {
		violation(mh, "option \"%s\" = \"%s\" is not an integer", key, text);
		return fallback;
	}
	return v;
}

static double mock_get_number(struct vigil_instance *inst, const char *key, double fallback)
{
	struct mock_host *mh = from_inst(inst, __func__);
	const char *text = option_text(mh, key, VIGIL_OPT_NUMBER, VIGIL_OPT_INT, NULL);
	if (!text)
		return fallback;
	char *end;
	double v = strtod(text, &end);
	if (end == text || *end) {
		violation(mh, "option \"%s\" = \"%s\" is not a number", key, text);
		return fallback;
	}
	return v;
}

static bool mock_get_bool(struct vigil_instance *inst, const char *key, bool fallback)
{
	struct mock_host *mh = from_inst(inst, __func__);
	const char *text = option_text(mh, key, VIGIL_OPT_BOOL, VIGIL_OPT_BOOL, NULL);
	if (!text)
		return fallback;
	if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on"))
		return true;
	if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off"))
		return false;
	violation(mh, "option \"%s\" = \"%s\" is not a boolean", key, text);
	return fallback;
}

/* "90s", "10m", "1h30m", "250ms"; a bare number is seconds. -1 when malformed. */
static int64_t parse_duration(const char *text)
{
	char *end;
	long long whole = strtoll(text, &end, 10);
	if (end != text && !*end)
		return whole * 1000;
	int64_t total = 0;
	const char *p = text;
	while (*p) {
		long long v = strtoll(p, &end, 10);
		if (end == p || v < 0)
			return -1;
		p = end;
		int64_t unit;
		if (!strncmp(p, "ms", 2)) {
			unit = 1;
			p++;
		} else if (*p == 's') {
			unit = 1000;
		} else if (*p == 'm') {
			unit = 60000;
		} else if (*p == 'h') {
			unit = 3600000;
		} else if (*p == 'd') {
			unit = 86400000;
		} else {
			return -1;
		}
		p++;
		total += v * unit;
	}
	return total;
}

static int64_t mock_get_duration_ms(struct vigil_instance *inst, const char *key, int64_t fallback)
{
	struct mock_host *mh = from_inst(inst, __func__);
	const char *text = option_text(mh, key, VIGIL_OPT_DURATION, VIGIL_OPT_DURATION, NULL);
	if (!text)
		return fallback;
	int64_t ms = parse_duration(text);
	if (ms < 0) {
		violation(mh, "option \"%s\" = \"%s\" is not a duration", key, text);
		return fallback;
	}
	return ms;
}

static size_t mock_get_list(struct vigil_instance *inst, const char *key, const char *const **out)
{
	struct mock_host *mh = from_inst(inst, __func__);
	struct mock_option *opt;
	const char *text = option_text(mh, key, VIGIL_OPT_STRING_LIST, VIGIL_OPT_STRING_LIST,
	                               &opt);
	*out = NULL;
	if (opt && opt->list) {
		*out = (const char *const *)opt->list;
		return opt->n_list;
	}
	if (opt && text) {
		/* A single scalar is a list of one, as in the daemon. */
		*out = (const char *const *)&opt->value;
		return 1;
	}
	return 0;
}

static size_t mock_get_map(struct vigil_instance *inst, const char *key,
                           const struct vigil_kv **out)
{
	struct mock_host *mh = from_inst(inst, __func__);
	struct mock_option *opt;
	option_text(mh, key, VIGIL_OPT_MAP, VIGIL_OPT_MAP, &opt);
	*out = NULL;
	if (opt && opt->map) {
		*out = opt->map;
		return opt->n_map;
	}
	return 0;
}

/* ---- log ---- */

static void mock_log_fn(struct vigil_instance *inst, enum vigil_log_level level,
                        const char *fmt, ...) VIGIL_PRINTF(3, 4);
static void mock_log_fn(struct vigil_instance *inst, enum vigil_log_level level,
                        const char *fmt, ...)
{
	struct mock_host *mh = from_inst(inst, __func__);
	va_list ap;
	va_start(ap, fmt);
	char *text;
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	struct mock_log *l = append(mh->logs, mh->n_logs);
	l->level = level;
	l->text = text;
	if (getenv("MOCK_HOST_VERBOSE"))
		fprintf(stderr, "[%s] <%d> %s\n", mh->name, (int)level, text);
}

/* ---- timers, posts ---- */

static struct vigil_timer *mock_timer_add(struct vigil_instance *inst, uint64_t delay_ms,
                                          void (*cb)(void *userdata), void *userdata)
{
	struct mock_host *mh = from_inst(inst, __func__);
	if (!cb)
		violation(mh, "timer_add without a callback");
	struct mock_timer *t = xrealloc(NULL, sizeof *t);
	*t = (struct mock_timer){
		.deadline = mh->now_ms + delay_ms,
		.seq = mh->timer_seq++,
		.cb = cb,
		.userdata = userdata,
		.pending = cb != NULL,
	};
	*append(mh->timers, mh->n_timers) = t;
	return (struct vigil_timer *)(void *)t;
}

static void mock_timer_cancel(struct vigil_instance *inst, struct vigil_timer *timer)
{
	struct mock_host *mh = from_inst(inst, __func__);
	for (size_t i = 0; i < mh->n_timers; i++) {
		if ((struct vigil_timer *)(void *)mh->timers[i] != timer)
			continue;
		if (!mh->timers[i]->pending)
			violation(mh, "timer cancelled after it fired or was cancelled");
		mh->timers[i]->pending = false;
		return;
	}
	violation(mh, "timer_cancel of a timer this host never made");
}

static int mock_post(struct vigil_instance *inst, void (*fn)(void *userdata), void *userdata)
{
	struct mock_host *mh = from_inst(inst, __func__);
	int ret = 0;
	pthread_mutex_lock(&mh->post_lock);
	if (mh->shut_down) {
		ret = -ESHUTDOWN;
	} else {
		struct mock_post *p = append(mh->posts, mh->n_posts);
		p->fn = fn;
		p->userdata = userdata;
	}
	pthread_mutex_unlock(&mh->post_lock);
	return ret;
}

/* ---- HTTP ---- */

static struct vigil_http_call *mock_http_request(struct vigil_instance *inst,
                                                 const struct vigil_http_request *req,
                                                 vigil_http_cb cb, void *userdata)
{
	struct mock_host *mh = from_inst(inst, __func__);
	if (!req || req->size == 0 || !req->url || !cb) {
		violation(mh, "http_request with a malformed request or no callback");
		return NULL;
	}
	struct mock_call *c = xrealloc(NULL, sizeof *c);
	memset(c, 0, sizeof *c);
	c->req.url = xstrdup(req->url);
	c->req.method = xstrdup(req->method);
	c->req.flags = req->flags;
	c->req.timeout_ms = req->timeout_ms;
	c->req.max_body = req->max_body;
	if (req->body) {
		c->req.body = xmemdup0(req->body, req->body_len);
		c->req.body_len = req->body_len;
	}
	if (req->n_headers) {
		c->req.headers = xrealloc(NULL, req->n_headers * sizeof *c->req.headers);
		for (size_t i = 0; i < req->n_headers; i++) {
			c->req.headers[i].key = xstrdup(req->headers[i].key);
			c->req.headers[i].value = xstrdup(req->headers[i].value);
		}
		c->req.n_headers = req->n_headers;
	}
	c->cb = cb;
	c->userdata = userdata;
	*append(mh->calls, mh->n_calls) = c;
	return (struct vigil_http_call *)(void *)c;
}

static void mock_http_cancel(struct vigil_instance *inst, struct vigil_http_call *call)
{
	struct mock_host *mh = from_inst(inst, __func__);
	for (size_t i = 0; i < mh->n_calls; i++) {
		struct mock_call *c = mh->calls[i];
		if ((struct vigil_http_call *)(void *)c != call)
			continue;
		if (c->req.answered)
			violation(mh, "http_cancel of a call whose callback already ran "
			          "(the daemon has freed it)");
		else if (c->req.cancelled)
			violation(mh, "http_cancel of a call cancelled before");
		c->req.cancelled = true;
		return;
	}
	violation(mh, "http_cancel of a call this host never made");
}

static const struct mock_response *find_response(struct mock_host *mh, const char *url)
{
	for (size_t i = mh->n_responses; i-- > 0;)
		if (!strcmp(mh->responses[i].url, url))
			return &mh->responses[i];
	return NULL;
}

static void answer(struct mock_host *mh, struct mock_call *c)
{
	const struct mock_response *canned = find_response(mh, c->req.url);
	struct vigil_http_response r = {
		.size = sizeof r,
		.url = c->req.url,
		.retry_after = -1,
		.body = "",
	};
	if (!canned) {
		r.error = VIGIL_HTTP_E_CONNECT;
		r.error_text = "mock: no response registered for this URL";
	} else if (canned->not_modified) {
		r.status = 304;
		r.not_modified = (c->req.flags & VIGIL_HTTP_CONDITIONAL) != 0;
	} else {
		r.status = canned->status;
		r.error = canned->error;
		r.error_text = canned->error_text;
		r.content_type = canned->content_type;
		r.headers = canned->headers;
		r.n_headers = canned->n_headers;
		r.body = canned->body;
		r.body_len = canned->body_len;
		if (canned->retry_after)
			r.retry_after = canned->retry_after;
	}
	c->req.answered = true;
	c->cb(c->userdata, &r);
}

/* ---- sources and sinks ---- */

static bool is_snake_case(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int mock_emit(struct vigil_instance *inst, const struct vigil_item *item)
{
	struct mock_host *mh = from_inst(inst, __func__);
	if (!item || item->size == 0) {
		violation(mh, "emit of a NULL item or one without size");
		return -EINVAL;
	}
	if (mh->poll_tracked && !mh->polling)
		violation(mh, "emit outside a poll");
	if (mh->emit_limit && mh->n_items >= mh->emit_limit)
		return -ENOSPC;
	if (item->n_categories && !item->categories)
		violation(mh, "emit: n_categories %zu but no categories", item->n_categories);
	if (item->n_fields && !item->fields)
		violation(mh, "emit: n_fields %zu but no fields", item->n_fields);

	/* Copy what the plugin's struct has and keep the defaults for the rest. */
	struct vigil_item in = VIGIL_ITEM_INIT;
	memcpy(&in, item, item->size < sizeof in ? item->size : sizeof in);

	struct vigil_item *out = xrealloc(NULL, sizeof *out);
	*out = in;
	out->size = sizeof *out;
	out->id = xstrdup(in.id);
	out->title = xstrdup(in.title);
	out->summary = xstrdup(in.summary);
	out->content = xstrdup(in.content);
	out->author = xstrdup(in.author);
	out->link = xstrdup(in.link);
	out->lang = xstrdup(in.lang);
	out->feed_title = xstrdup(in.feed_title);

	char **cats = NULL;
	if (in.categories && in.n_categories) {
		cats = xrealloc(NULL, in.n_categories * sizeof *cats);
		for (size_t i = 0; i < in.n_categories; i++) {
			if (!in.categories[i])
				violation(mh, "emit: category %zu is NULL", i);
			cats[i] = xstrdup(in.categories[i] ? in.categories[i] : "");
		}
	}
	out->categories = (const char *const *)cats;
	out->n_categories = cats ? in.n_categories : 0;

	struct vigil_field *fields = NULL;
	if (in.fields && in.n_fields) {
		fields = xrealloc(NULL, in.n_fields * sizeof *fields);
		for (size_t i = 0; i < in.n_fields; i++) {
			const struct vigil_field *f = &in.fields[i];
			if (!is_snake_case(f->name))
				violation(mh, "emit: field name \"%s\" is not lower_snake_case",
				          f->name ? f->name : "(null)");
			for (size_t j = 0; j < i; j++)
				if (f->name && in.fields[j].name && !strcmp(f->name, in.fields[j].name))
					violation(mh, "emit: field \"%s\" given twice", f->name);
			if (f->type != VIGIL_FIELD_STRING && f->type != VIGIL_FIELD_NUMBER)
				violation(mh, "emit: field \"%s\" has type %d", f->name, (int)f->type);
			if (f->type == VIGIL_FIELD_STRING && !f->string)
				violation(mh, "emit: string field \"%s\" is NULL", f->name);
			fields[i] = *f;
			fields[i].name = xstrdup(f->name ? f->name : "");
			fields[i].string = xstrdup(f->string);
		}
	}
	out->fields = fields;
	out->n_fields = fields ? in.n_fields : 0;

	*append(mh->items, mh->n_items) = out;
	return 0;
}

static void mock_poll_done(struct vigil_instance *inst, int error, const char *message)
{
	struct mock_host *mh = from_inst(inst, __func__);
	if (mh->poll_tracked && !mh->polling)
		violation(mh, "poll_done without a poll running (called twice?)");
	if (error > 0)
		violation(mh, "poll_done with a positive error %d (want -errno)", error);
	mh->polling = false;
	struct mock_poll_result *p = append(mh->polls, mh->n_polls);
	p->error = error;
	p->message = xstrdup(message);
}

static void mock_done(struct vigil_instance *inst, struct vigil_delivery *delivery,
                      enum vigil_delivery_result result, uint32_t retry_after_s,
                      const char *message)
{
	struct mock_host *mh = from_inst(inst, __func__);
	for (size_t i = 0; i < mh->n_deliveries; i++) {
		struct mock_done *d = mh->deliveries[i];
		if ((struct vigil_delivery *)(void *)d != delivery)
			continue;
		if (d->done) {
			violation(mh, "done called twice for one delivery");
			free(d->message);
		}
		d->done = true;
		d->result = result;
		d->retry_after_s = retry_after_s;
		d->message = xstrdup(message);
		return;
	}
	violation(mh, "done for a delivery this host never started");
}

/* ---- state ---- */

static int mock_state_get(struct vigil_instance *inst, const char *key, char **value)
{
	struct mock_host *mh = from_inst(inst, __func__);
	for (size_t i = 0; i < mh->n_kv; i++) {
		if (!strcmp(mh->kv[i].key, key)) {
			*value = xstrdup(mh->kv[i].value);
			return 0;
		}
	}
	return -ENOENT;
}

static int mock_state_put(struct vigil_instance *inst, const char *key, const char *value)
{
	struct mock_host *mh = from_inst(inst, __func__);
	for (size_t i = 0; i < mh->n_kv; i++) {
		if (strcmp(mh->kv[i].key, key))
			continue;
		free(mh->kv[i].value);
		if (value) {
			mh->kv[i].value = xstrdup(value);
		} else {
			free(mh->kv[i].key);
			mh->kv[i] = mh->kv[--mh->n_kv];
		}
		return 0;
	}
	if (value) {
		struct mock_kv *kv = append(mh->kv, mh->n_kv);
		kv->key = xstrdup(key);
		kv->value = xstrdup(value);
	}
	return 0;
}

static void mock_retry_now(struct vigil_instance *inst)
{
	struct mock_host *mh = from_inst(inst, __func__);
	mh->n_retry_now++;
}

unsigned mock_host_n_retry_now(const struct mock_host *mh)
{
	return mh->n_retry_now;
}

/* ---- the mock itself ---- */

struct mock_host *mock_host_new(const char *instance_name, const struct vigil_kv *options)
{
	struct mock_host *mh = xrealloc(NULL, sizeof *mh);
	memset(mh, 0, sizeof *mh);
	mh->name = xstrdup(instance_name ? instance_name : "test");
	pthread_mutex_init(&mh->post_lock, NULL);
	mh->table = (struct vigil_host){
		.size = sizeof(struct vigil_host),
		.abi_major = VIGIL_ABI_MAJOR,
		.abi_minor = VIGIL_ABI_MINOR,
		.inst = (struct vigil_instance *)(void *)mh,
		.instance_name = mh->name,
		.log = mock_log_fn,
		.get_string = mock_get_string,
		.get_int = mock_get_int,
		.get_number = mock_get_number,
		.get_bool = mock_get_bool,
		.get_duration_ms = mock_get_duration_ms,
		.get_list = mock_get_list,
		.get_map = mock_get_map,
		.timer_add = mock_timer_add,
		.timer_cancel = mock_timer_cancel,
		.http_request = mock_http_request,
		.http_cancel = mock_http_cancel,
		.emit = mock_emit,
		.poll_done = mock_poll_done,
		.done = mock_done,
		.post = mock_post,
		.state_get = mock_state_get,
		.state_put = mock_state_put,
		.retry_now = mock_retry_now,
	};
	for (const struct vigil_kv *o = options; o && o->key; o++)
		mock_host_set_option(mh, o->key, o->value);
	return mh;
}

static void free_item(struct vigil_item *it)
{
	free((char *)it->id);
	free((char *)it->title);
	free((char *)it->summary);
	free((char *)it->content);
	free((char *)it->author);
	free((char *)it->link);
	free((char *)it->lang);
	free((char *)it->feed_title);
	for (size_t i = 0; i < it->n_categories; i++)
		free((char *)it->categories[i]);
	free((void *)it->categories);
	for (size_t i = 0; i < it->n_fields; i++) {
		free((char *)it->fields[i].name);
		free((char *)it->fields[i].string);
	}
	free((void *)it->fields);
	free(it);
}

static void free_option(struct mock_option *o)
{
	free(o->key);
	free(o->value);
	for (size_t i = 0; i < o->n_list; i++)
		free(o->list[i]);
	free(o->list);
	for (size_t i = 0; i < o->n_map; i++) {
		free((char *)o->map[i].key);
		free((char *)o->map[i].value);
	}
	free(o->map);
}

void mock_host_free(struct mock_host *mh)
{
	if (!mh)
		return;
	for (size_t i = 0; i < mh->n_opts; i++)
		free_option(&mh->opts[i]);
	free(mh->opts);
	for (size_t i = 0; i < mh->n_logs; i++)
		free(mh->logs[i].text);
	free(mh->logs);
	for (size_t i = 0; i < mh->n_items; i++)
		free_item(mh->items[i]);
	free(mh->items);
	for (size_t i = 0; i < mh->n_polls; i++)
		free(mh->polls[i].message);
	free(mh->polls);
	for (size_t i = 0; i < mh->n_deliveries; i++) {
		free(mh->deliveries[i]->message);
		free(mh->deliveries[i]);
	}
	free(mh->deliveries);
	for (size_t i = 0; i < mh->n_responses; i++) {
		struct mock_response *r = &mh->responses[i];
		free((char *)r->url);
		free((char *)r->body);
		free((char *)r->content_type);
		free((char *)r->error_text);
		for (size_t j = 0; j < r->n_headers; j++) {
			free((char *)r->headers[j].key);
			free((char *)r->headers[j].value);
		}
		free((void *)r->headers);
	}
	free(mh->responses);
	for (size_t i = 0; i < mh->n_calls; i++) {
		struct mock_request *q = &mh->calls[i]->req;
		free(q->url);
		free(q->method);
		free(q->body);
		for (size_t j = 0; j < q->n_headers; j++) {
			free((char *)q->headers[j].key);
			free((char *)q->headers[j].value);
		}
		free(q->headers);
		free(mh->calls[i]);
	}
	free(mh->calls);
	for (size_t i = 0; i < mh->n_timers; i++)
		free(mh->timers[i]);
	free(mh->timers);
	for (size_t i = 0; i < mh->n_kv; i++) {
		free(mh->kv[i].key);
		free(mh->kv[i].value);
	}
	free(mh->kv);
	free(mh->posts);
	pthread_mutex_destroy(&mh->post_lock);
	free(mh->name);
	free(mh);
}

const struct vigil_host *mock_host_table(struct mock_host *mh)
{
	return &mh->table;
}

void mock_host_set_plugin(struct mock_host *mh, const struct vigil_plugin *plugin)
{
	mh->plugin = plugin;
}

static struct mock_option *option_slot(struct mock_host *mh, const char *key)
{
	for (size_t i = 0; i < mh->n_opts; i++) {
		if (!strcmp(mh->opts[i].key, key)) {
			free_option(&mh->opts[i]);
			memset(&mh->opts[i], 0, sizeof mh->opts[i]);
			mh->opts[i].key = xstrdup(key);
			return &mh->opts[i];
		}
	}
	struct mock_option *o = append(mh->opts, mh->n_opts);
	o->key = xstrdup(key);
	return o;
}

void mock_host_set_option(struct mock_host *mh, const char *key, const char *value)
{
	if (!value) {
		for (size_t i = 0; i < mh->n_opts; i++) {
			if (!strcmp(mh->opts[i].key, key)) {
				free_option(&mh->opts[i]);
				mh->opts[i] = mh->opts[--mh->n_opts];
				return;
			}
		}
		return;
	}
	option_slot(mh, key)->value = xstrdup(value);
}

void mock_host_set_list(struct mock_host *mh, const char *key, const char *const *items, size_t n)
{
	struct mock_option *o = option_slot(mh, key);
	o->list = xrealloc(NULL, n * sizeof *o->list);
	for (size_t i = 0; i < n; i++)
		o->list[i] = xstrdup(items[i]);
	o->n_list = n;
}

void mock_host_set_map(struct mock_host *mh, const char *key, const struct vigil_kv *pairs,
                       size_t n)
{
	struct mock_option *o = option_slot(mh, key);
	o->map = xrealloc(NULL, n * sizeof *o->map);
	for (size_t i = 0; i < n; i++) {
		o->map[i].key = xstrdup(pairs[i].key);
		o->map[i].value = xstrdup(pairs[i].value);
	}
	o->n_map = n;
}

int mock_host_create(struct mock_host *mh, const struct vigil_plugin *plugin, void **state)
{
	mh->plugin = plugin;
	*state = NULL;
	return plugin->methods->create(&mh->table, state);
}

int mock_host_poll(struct mock_host *mh, const struct vigil_plugin *plugin, void *state)
{
	if (mh->polling)
		violation(mh, "test bug: a poll started while one is running");
	mh->poll_tracked = true;
	mh->polling = true;
	size_t before = mh->n_polls;
	int ret = plugin->methods->poll(state);
	/* A poll that failed to start and did not report is over too. */
	if (ret < 0 && mh->n_polls == before)
		mh->polling = false;
	return ret;
}

static int timer_order(const void *a, const void *b)
{
	const struct mock_timer *x = *(const struct mock_timer *const *)a;
	const struct mock_timer *y = *(const struct mock_timer *const *)b;
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

unsigned mock_host_run(struct mock_host *mh)
{
	unsigned ran = 0;
	for (int round = 0; round < MOCK_MAX_ROUNDS; round++) {
		unsigned before = ran;

		/* Calls may be added while answering; the array may move. */
		size_t n_calls = mh->n_calls;
		for (size_t i = 0; i < n_calls; i++) {
			struct mock_call *c = mh->calls[i];
			if (c->req.answered || c->req.cancelled)
				continue;
			answer(mh, c);
			ran++;
		}

		pthread_mutex_lock(&mh->post_lock);
		struct mock_post *posts = mh->posts;
		size_t n_posts = mh->n_posts;
		mh->posts = NULL;
		mh->n_posts = 0;
		pthread_mutex_unlock(&mh->post_lock);
		for (size_t i = 0; i < n_posts; i++) {
			posts[i].fn(posts[i].userdata);
			ran++;
		}
		free(posts);

		size_t n_due = 0;
		struct mock_timer **due = xrealloc(NULL, mh->n_timers * sizeof *due);
		for (size_t i = 0; i < mh->n_timers; i++)
			if (mh->timers[i]->pending)
				due[n_due++] = mh->timers[i];
		qsort(due, n_due, sizeof *due, timer_order);
		for (size_t i = 0; i < n_due; i++) {
			/* An earlier timer's callback may have cancelled this one. */
			if (!due[i]->pending)
				continue;
			if (due[i]->deadline > mh->now_ms)
				mh->now_ms = due[i]->deadline;
			due[i]->pending = false;
			due[i]->cb(due[i]->userdata);
			ran++;
		}
		free(due);

		if (ran == before)
			return ran;
	}
	fprintf(stderr, "mock-host: %s: still busy after %d rounds; stopping\n", mh->name,
	        MOCK_MAX_ROUNDS);
	return ran;
}

uint64_t mock_host_now_ms(const struct mock_host *mh)
{
	return mh->now_ms;
}

void mock_host_shutdown(struct mock_host *mh)
{
	pthread_mutex_lock(&mh->post_lock);
	mh->shut_down = true;
	pthread_mutex_unlock(&mh->post_lock);
}

unsigned mock_host_violations(const struct mock_host *mh)
{
	return mh->violations;
}

size_t mock_host_n_logs(const struct mock_host *mh)
{
	return mh->n_logs;
}

const struct mock_log *mock_host_log(const struct mock_host *mh, size_t i)
{
	return i < mh->n_logs ? &mh->logs[i] : NULL;
}

const struct mock_log *mock_host_find_log(const struct mock_host *mh, enum vigil_log_level level,
                                          const char *needle)
{
	for (size_t i = 0; i < mh->n_logs; i++)
		if (mh->logs[i].level <= level && strstr(mh->logs[i].text, needle))
			return &mh->logs[i];
	return NULL;
}

void mock_host_set_emit_limit(struct mock_host *mh, size_t n)
{
	mh->emit_limit = n;
}

size_t mock_host_n_items(const struct mock_host *mh)
{
	return mh->n_items;
}

const struct vigil_item *mock_host_item(const struct mock_host *mh, size_t i)
{
	return i < mh->n_items ? mh->items[i] : NULL;
}

const struct vigil_field *mock_item_field(const struct vigil_item *item, const char *name)
{
	for (size_t i = 0; i < item->n_fields; i++)
		if (!strcmp(item->fields[i].name, name))
			return &item->fields[i];
	return NULL;
}

size_t mock_host_n_polls_done(const struct mock_host *mh)
{
	return mh->n_polls;
}

const struct mock_poll_result *mock_host_poll_result(const struct mock_host *mh, size_t i)
{
	return i < mh->n_polls ? &mh->polls[i] : NULL;
}

struct vigil_delivery *mock_host_delivery(struct mock_host *mh)
{
	struct mock_done *d = xrealloc(NULL, sizeof *d);
	memset(d, 0, sizeof *d);
	*append(mh->deliveries, mh->n_deliveries) = d;
	return (struct vigil_delivery *)(void *)d;
}

const struct mock_done *mock_host_done_result(const struct mock_host *mh,
                                              const struct vigil_delivery *delivery)
{
	for (size_t i = 0; i < mh->n_deliveries; i++)
		if ((const struct vigil_delivery *)(const void *)mh->deliveries[i] == delivery)
			return mh->deliveries[i];
	return NULL;
}

void mock_host_add_response(struct mock_host *mh, const struct mock_response *response)
{
	struct mock_response *r = append(mh->responses, mh->n_responses);
	*r = *response;
	r->url = xstrdup(response->url);
	size_t len = response->body_len;
	if (!len && response->body)
		len = strlen(response->body);
	r->body = xmemdup0(response->body ? response->body : "", len);
	r->body_len = len;
	r->content_type = xstrdup(response->content_type);
	r->error_text = xstrdup(response->error_text);
	if (response->n_headers) {
		struct vigil_kv *h = xrealloc(NULL, response->n_headers * sizeof *h);
		for (size_t i = 0; i < response->n_headers; i++) {
			h[i].key = xstrdup(response->headers[i].key);
			h[i].value = xstrdup(response->headers[i].value);
		}
		r->headers = h;
	}
}

size_t mock_host_n_requests(const struct mock_host *mh)
{
	return mh->n_calls;
}

const struct mock_request *mock_host_request(const struct mock_host *mh, size_t i)
{
	return i < mh->n_calls ? &mh->calls[i]->req : NULL;
}

size_t mock_host_n_timers(const struct mock_host *mh)
{
	size_t n = 0;
	for (size_t i = 0; i < mh->n_timers; i++)
		n += mh->timers[i]->pending;
	return n;
}

const struct vigil_plugin *mock_load_plugin(const char *name, const char *fallback_dir)
{
	const char *dir = getenv("VIGIL_PLUGIN_DIR");
	if (!dir || !*dir)
		dir = fallback_dir;
	if (!dir) {
		fprintf(stderr, "set VIGIL_PLUGIN_DIR or pass the plugin directory as argument\n");
		return NULL;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s.so", dir, name);
	/* Never closed: a plugin is not unloaded while anything may use it. */
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
		return NULL;
	}
	vigil_plugin_entry_fn entry;
	*(void **)&entry = dlsym(handle, VIGIL_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		fprintf(stderr, "%s has no %s\n", path, VIGIL_PLUGIN_ENTRY_SYMBOL);
		return NULL;
	}
	const struct vigil_plugin *p = entry();
	if (!p || p->abi_major != VIGIL_ABI_MAJOR || p->abi_minor > VIGIL_ABI_MINOR ||
	    !p->methods || strcmp(p->name, name)) {
		fprintf(stderr, "%s: not a usable vigil plugin named %s\n", path, name);
		return NULL;
	}
	return p;
}
