/* http.c - the HTTP engine: one curl multi handle driven by the libevent loop */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vigil/version.h>

#include "log.h"
#include "state.h"
#include "util.h"

/* Used where the limits leave a value at zero (or below). */
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY (16 * 1024 * 1024)
#define DEFAULT_MAX_REDIRECTS 5
#define DEFAULT_PER_HOST 2
#define DEFAULT_TOTAL 16
#define DEFAULT_USER_AGENT "vigil/" VIGIL_VERSION_STRING

/* Response headers of one hop; more than this is a broken or hostile server. */
#define MAX_HEADER_BYTES (256 * 1024)

enum call_state {
	CALL_QUEUED,                 /* in its host's wait queue */
	CALL_RUNNING,                /* added to the multi handle */
	CALL_DONE,                   /* its callback is running */
};

/* A scheme://host:port the per-host limit counts against. */
struct host {
	char *key;
	unsigned running;
	struct http_call *wait_head, *wait_tail;  /* FIFO, linked by call->next */
	struct host *prev, *next;                  /* engine->hosts */
};

/* One socket curl asked us to watch. */
struct sock {
	struct http_engine *engine;
	curl_socket_t fd;
	struct event *ev;
	struct sock *prev, *next;
};

struct header {
	char *key;
	char *value;
};

struct http_call {
	struct http_engine *engine;
	struct host *host;
	enum call_state state;
	struct http_call *prev, *next;   /* host wait queue, or engine->running */
	vigil_http_cb cb;
	void *userdata;

	CURL *easy;
	struct curl_slist *req_headers;
	char *url;
	char *log_url;               /* what the log shows: url, or without path when secret */
	bool secret_url;             /* VIGIL_HTTP_SECRET_URL */
	char *method;                /* for the log */
	char *body;                  /* POSTFIELDS is not copied by curl */
	bool conditional;
	char *validator_scope;       /* whose stored validators to send */
	bool is_file;
	bool has_inm, has_ims;       /* caller sent its own validators */
	int64_t timeout_ms;
	int64_t connect_timeout_ms;
	int64_t max_body;
	int64_t started_ms;

	/* The answer, of the latest hop. */
	char *rbody;
	size_t rlen, rcap;
	bool too_big;
	bool headers_too_big;
	struct header *rh;
	size_t n_rh, cap_rh, rh_bytes;
	char errbuf[CURL_ERROR_SIZE];
	char errtext[CURL_ERROR_SIZE + 160];
};

struct http_engine {
	struct event_base *base;
	struct state *st;
	CURLM *multi;
	struct event *timer;         /* curl's single timeout */
	struct event *kick;          /* starts queued calls from the loop */
	struct http_limits limits;   /* defaults filled in */
	char *user_agent;
	struct host *hosts_head, *hosts_tail;
	struct host *rr;             /* the host to consider first (round-robin) */
	struct sock *socks;
	struct http_call *running;   /* linked by prev/next */
	unsigned n_running, n_queued;
};

/* ---- hosts and queues ---- */

static struct host *host_get(struct http_engine *engine, const char *key)
{
	for (struct host *h = engine->hosts_head; h; h = h->next)
		if (!strcmp(h->key, key))
			return h;
	struct host *h = xcalloc(1, sizeof *h);
	h->key = xstrdup(key);
	h->prev = engine->hosts_tail;
	if (engine->hosts_tail)
		engine->hosts_tail->next = h;
	else
		engine->hosts_head = h;
	engine->hosts_tail = h;
	return h;
}

static void host_free(struct http_engine *engine, struct host *h)
{
	if (engine->rr == h)
		engine->rr = h->next;
	if (h->prev)
		h->prev->next = h->next;
	else
		engine->hosts_head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		engine->hosts_tail = h->prev;
	free(h->key);
	free(h);
}

/*
 * Hosts are freed only here, outside any walk over the list, so a callback
 * that cancels or queues calls never pulls a host from under a loop.
 */
static void hosts_sweep(struct http_engine *engine)
{
	struct host *h = engine->hosts_head;
	while (h) {
		struct host *next = h->next;
		if (!h->running && !h->wait_head)
			host_free(engine, h);
		h = next;
	}
}

static void queue_push(struct host *h, struct http_call *call)
{
	call->next = NULL;
	call->prev = h->wait_tail;
	if (h->wait_tail)
		h->wait_tail->next = call;
	else
		h->wait_head = call;
	h->wait_tail = call;
}

static void queue_remove(struct host *h, struct http_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		h->wait_head = call->next;
	if (call->next)
		call->next->prev = call->prev;
	else
		h->wait_tail = call->prev;
	call->prev = call->next = NULL;
}

static void running_add(struct http_engine *engine, struct http_call *call)
{
	call->prev = NULL;
	call->next = engine->running;
	if (engine->running)
		engine->running->prev = call;
	engine->running = call;
}

static void running_remove(struct http_engine *engine, struct http_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		engine->running = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
}

/* Let the loop start what the limits allow; never starts anything itself. */
static void engine_kick(struct http_engine *engine)
{
	event_active(engine->kick, EV_TIMEOUT, 0);
}

/* ---- the call's memory ---- */

static void response_headers_clear(struct http_call *call)
{
	for (size_t i = 0; i < call->n_rh; i++) {
		free(call->rh[i].key);
		free(call->rh[i].value);
	}
	call->n_rh = 0;
	call->rh_bytes = 0;
}

static void call_free(struct http_call *call)
{
	if (call->easy)
		curl_easy_cleanup(call->easy);
	curl_slist_free_all(call->req_headers);
	response_headers_clear(call);
	free(call->rh);
	free(call->rbody);
	free(call->body);
	free(call->method);
	free(call->url);
	free(call->log_url);
	free(call->validator_scope);
	free(call);
}

/* ---- curl callbacks (never call user code from these) ---- */

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call *call = arg;
	size_t n = size * nmemb;

	/*
	 * curl hands us decoded bytes (CURLOPT_ACCEPT_ENCODING), so this counts
	 * what a gzip body inflates to, not what travelled on the wire.
	 */
	if ((uint64_t)call->rlen + n > (uint64_t)call->max_body) {
		call->too_big = true;
		return 0;
	}
	if (call->rlen + n + 1 > call->rcap) {
		size_t cap = call->rcap ? call->rcap * 2 : 16384;
		if (cap < call->rlen + n + 1)
			cap = call->rlen + n + 1;
		if (cap > (size_t)call->max_body + 1)
			cap = (size_t)call->max_body + 1;
		call->rbody = xrealloc(call->rbody, cap);
		call->rcap = cap;
	}
	memcpy(call->rbody + call->rlen, data, n);
	call->rlen += n;
	call->rbody[call->rlen] = '\0';
	return n;
}

static void header_add(struct http_call *call, const char *key, size_t klen,
                       const char *value, size_t vlen)
{
	if (call->n_rh == call->cap_rh) {
		call->cap_rh = call->cap_rh ? call->cap_rh * 2 : 16;
		call->rh = xrealloc(call->rh, call->cap_rh * sizeof *call->rh);
	}
	call->rh[call->n_rh].key = strndup(key, klen);
	call->rh[call->n_rh].value = strndup(value, vlen);
	if (!call->rh[call->n_rh].key || !call->rh[call->n_rh].value) {
		free(call->rh[call->n_rh].key);
		free(call->rh[call->n_rh].value);
		return;
	}
	call->n_rh++;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call *call = arg;
	size_t n = size * nmemb;
	size_t len = n;

	call->rh_bytes += n;
	if (call->rh_bytes > MAX_HEADER_BYTES) {
		call->headers_too_big = true;
		return 0;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;

	/* A status line starts a hop: only the final hop's headers count. */
	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		response_headers_clear(call);
		call->rh_bytes = n;
		call->rlen = 0;
		return n;
	}
	if (!len)
		return n;

	/* Obsolete line folding continues the previous value. */
	if ((data[0] == ' ' || data[0] == '\t') && call->n_rh) {
		struct header *h = &call->rh[call->n_rh - 1];
		size_t i = 0;
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		char *v = xasprintf("%s %.*s", h->value, (int)(len - i), data + i);
		free(h->value);
		h->value = v;
		return n;
	}

	const char *colon = memchr(data, ':', len);
	if (!colon || colon == data)
		return n;
	size_t klen = colon - data;
	const char *v = colon + 1;
	const char *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	header_add(call, data, klen, v, end - v);
	return n;
}

/* ---- libevent <-> curl glue (the hiperfifo pattern) ---- */

static void check_multi_info(struct http_engine *engine);

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_engine *engine = arg;
	int action = 0;
	int running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(engine->multi, fd, action, &running);
	check_multi_info(engine);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_engine *engine = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(engine->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(engine);
}

/* CURLMOPT_TIMERFUNCTION: curl wants one timeout; -1 deletes it. */
static int multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http_engine *engine = arg;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(engine->timer);
	} else {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		evtimer_add(engine->timer, &tv);
	}
	return 0;
}

static void sock_free(struct http_engine *engine, struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		engine->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch `fd` for what curl asks, or stop. */
static int multi_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http_engine *engine = arg;
	struct sock *s = sockp;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(engine, s);
		return 0;
	}

	short kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;

	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->engine = engine;
		s->fd = fd;
		s->ev = event_new(engine->base, fd, kind, sock_event_cb, engine);
		if (!s->ev) {
			free(s);
			return -1;
		}
		s->next = engine->socks;
		if (engine->socks)
			engine->socks->prev = s;
		engine->socks = s;
		curl_multi_assign(engine->multi, fd, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, engine->base, fd, kind, sock_event_cb, engine);
	}
	event_add(s->ev, NULL);
	return 0;
}

/* ---- finishing a call ---- */

static const char *find_header(const struct http_call *call, const char *name)
{
	for (size_t i = call->n_rh; i-- > 0;)
		if (!strcasecmp(call->rh[i].key, name))
			return call->rh[i].value;
	return NULL;
}

/* Retry-After: delta-seconds or an HTTP-date. Seconds from now, or -1. */
static int64_t parse_retry_after(const char *v)
{
	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || *end || n < 0)
			return -1;
		return n;
	}
	time_t t = curl_getdate(v, NULL);
	if (t == -1)
		return -1;
	int64_t delta = (int64_t)t - now_s();
	return delta < 0 ? 0 : delta;
}

/* Map a failed transfer to an engine error and specific text. */
static int map_error(struct http_call *call, CURLcode rc)
{
	const char *detail = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
	char *text = call->errtext;
	size_t len = sizeof call->errtext;
	long redirects = 0;

	curl_easy_getinfo(call->easy, CURLINFO_REDIRECT_COUNT, &redirects);

	if (call->too_big) {
		snprintf(text, len, "body larger than %" PRId64 " bytes", call->max_body);
		return VIGIL_HTTP_E_TOO_BIG;
	}
	if (call->headers_too_big) {
		snprintf(text, len, "response headers larger than %d bytes", MAX_HEADER_BYTES);
		return VIGIL_HTTP_E_OTHER;
	}

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT: {
		/*
		 * curl reports the total timeout, the connect timeout and the
		 * low-speed abort with the same code; tell them apart so the
		 * user knows which limit to look at.
		 */
		curl_off_t total_us = 0, connect_us = 0;
		curl_easy_getinfo(call->easy, CURLINFO_TOTAL_TIME_T, &total_us);
		curl_easy_getinfo(call->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
		int64_t limit = call->engine->limits.low_speed_bytes;
		if (strstr(detail, "too slow") && limit > 0)
			snprintf(text, len, "transfer too slow (below %" PRId64 " bytes/s for %"
			         PRId64 " ms)", limit, call->engine->limits.low_speed_time_ms);
		else if (total_us / 1000 + 50 < call->timeout_ms && connect_us == 0)
			snprintf(text, len, "connect timed out after %" PRId64 " ms",
			         call->connect_timeout_ms);
		else
			snprintf(text, len, "timed out after %" PRId64 " ms", call->timeout_ms);
		return VIGIL_HTTP_E_TIMEOUT;
	}
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		snprintf(text, len, "could not connect: %s", detail);
		return VIGIL_HTTP_E_CONNECT;
	case CURLE_TOO_MANY_REDIRECTS:
		snprintf(text, len, "too many redirects (more than %" PRId64 ")",
		         call->engine->limits.max_redirects);
		return VIGIL_HTTP_E_REDIRECT;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* The request's own scheme was checked before queueing. */
		if (redirects > 0) {
			char *target = NULL;
			curl_easy_getinfo(call->easy, CURLINFO_EFFECTIVE_URL, &target);
			char *shown = http_url_for_log(target ? target : "?", call->secret_url);
			snprintf(text, len, "redirect to a forbidden URL (%s; only http and "
			         "https are followed)", shown);
			free(shown);
			return VIGIL_HTTP_E_REDIRECT;
		}
		break;
	default:
		break;
	}
	snprintf(text, len, "%s", detail);
	return VIGIL_HTTP_E_OTHER;
}

/*
 * Hand the finished call to its callback and free it. The call is already
 * off the multi handle and out of every list, so the callback may start or
 * cancel anything.
 */
static void call_complete(struct http_call *call, CURLcode rc)
{
	struct vigil_http_response resp = {
		.size = sizeof resp,
		.retry_after = -1,
	};
	struct vigil_kv *kv = NULL;
	long status = 0;
	char *effective = NULL;
	char *ctype = NULL;

	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(call->easy, CURLINFO_EFFECTIVE_URL, &effective);
	curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &ctype);

	if (rc == CURLE_OK && !call->too_big && !call->headers_too_big) {
		/* file:// has no status; a file that was read is a 200. */
		resp.status = call->is_file && !status ? 200 : (int)status;
		resp.not_modified = resp.status == 304;
		if (resp.status == 200) {
			resp.etag = find_header(call, "ETag");
			resp.last_modified = find_header(call, "Last-Modified");
		}
		if (resp.status == 429 || resp.status == 503)
			resp.retry_after = parse_retry_after(find_header(call, "Retry-After"));
	} else {
		resp.error = map_error(call, rc);
		resp.error_text = call->errtext;
	}
	resp.url = effective ? effective : call->url;
	resp.content_type = ctype;
	if (call->n_rh) {
		kv = xcalloc(call->n_rh, sizeof *kv);
		for (size_t i = 0; i < call->n_rh; i++) {
			kv[i].key = call->rh[i].key;
			kv[i].value = call->rh[i].value;
		}
	}
	resp.headers = kv;
	resp.n_headers = call->n_rh;
	/* A failed transfer's partial body is nothing a caller should parse. */
	if (call->rbody && !resp.error) {
		resp.body = call->rbody;
		resp.body_len = call->rlen;
	} else {
		resp.body = "";
		resp.body_len = 0;
	}

	if (resp.error)
		log_debug("http: %s %s failed after %" PRId64 " ms: %s", call->method,
		          call->log_url, now_ms() - call->started_ms, resp.error_text);
	else
		log_debug("http: %s %s -> %d, %zu bytes in %" PRId64 " ms", call->method,
		          call->log_url, resp.status, resp.body_len, now_ms() - call->started_ms);

	call->state = CALL_DONE;
	call->cb(call->userdata, &resp);
	free(kv);
	call_free(call);
}

/* Take `call` off the multi handle and its counters. */
static void call_detach(struct http_call *call)
{
	struct http_engine *engine = call->engine;

	curl_multi_remove_handle(engine->multi, call->easy);
	running_remove(engine, call);
	engine->n_running--;
	call->host->running--;
}

static void check_multi_info(struct http_engine *engine)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(engine->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with curl_multi_remove_handle: copy first. */
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct http_call *call = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
		if (!call)
			continue;
		call_detach(call);
		engine_kick(engine);
		/*
		 * A callback that cancels another finished call removes that
		 * call's message too (curl_multi_remove_handle drops pending
		 * messages of the handle), so the loop never sees it again.
		 */
		call_complete(call, rc);
	}
}

/* ---- starting ---- */

static void header_append(struct curl_slist **list, const char *key, const char *value)
{
	/* "Name;" is curl's way to send a header with an empty value. */
	char *line = value && *value ? xasprintf("%s: %s", key, value) : xasprintf("%s;", key);
	struct curl_slist *n = curl_slist_append(*list, line);
	free(line);
	if (!n) {
		log_error("http: out of memory");
		abort();
	}
	*list = n;
}

/* Add the stored validators; done at start so they are as fresh as possible. */
static void add_validators(struct http_call *call)
{
	struct state *st = call->engine->st;
	char *etag = NULL, *lm = NULL;

	if (!call->conditional || !st || !call->validator_scope)
		return;
	if (state_validators_get(st, call->validator_scope, call->url, &etag, &lm) < 0)
		return;
	if (etag && *etag && !call->has_inm)
		header_append(&call->req_headers, "If-None-Match", etag);
	if (lm && *lm && !call->has_ims)
		header_append(&call->req_headers, "If-Modified-Since", lm);
	log_debug("http: conditional %s (etag %s, last-modified %s)", call->log_url,
	          etag ? etag : "none", lm ? lm : "none");
	free(etag);
	free(lm);
}

static void start_call(struct http_call *call)
{
	struct http_engine *engine = call->engine;
	struct host *h = call->host;

	queue_remove(h, call);
	engine->n_queued--;
	add_validators(call);
	curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->req_headers);
	call->started_ms = now_ms();

	CURLMcode mc = curl_multi_add_handle(engine->multi, call->easy);
	if (mc != CURLM_OK) {
		/* Unheard of in practice; report it like any failed transfer. */
		snprintf(call->errbuf, sizeof call->errbuf, "could not start transfer: %s",
		         curl_multi_strerror(mc));
		call->state = CALL_DONE;
		engine_kick(engine);
		call_complete(call, CURLE_FAILED_INIT);
		return;
	}
	call->state = CALL_RUNNING;
	running_add(engine, call);
	engine->n_running++;
	h->running++;
	log_debug("http: start %s %s (%s: %u running; %u running, %u queued overall)",
	          call->method, call->log_url, h->key, h->running, engine->n_running,
	          engine->n_queued);
}

/* The first host from the round-robin cursor with a call waiting and room. */
static struct http_call *next_queued(struct http_engine *engine)
{
	struct host *first = engine->rr ? engine->rr : engine->hosts_head;
	struct host *h = first;

	while (h) {
		struct host *next = h->next ? h->next : engine->hosts_head;
		if (h->wait_head && h->running < (uint64_t)engine->limits.per_host) {
			engine->rr = next;
			return h->wait_head;
		}
		h = next;
		if (h == first)
			break;
	}
	return NULL;
}

/*
 * Start queued calls while the limits allow. Each pick re-reads the lists,
 * since a call that fails to start runs its callback, which may queue or
 * cancel others.
 */
static void start_queued(struct http_engine *engine)
{
	while (engine->n_running < (uint64_t)engine->limits.total) {
		struct http_call *call = next_queued(engine);
		if (!call)
			break;
		start_call(call);
	}
	hosts_sweep(engine);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_queued(arg);
}

/* ---- public ---- */

struct http_engine *http_engine_new(struct event_base *base, const struct http_limits *limits,
                                    struct state *st)
{
	struct http_engine *engine = xcalloc(1, sizeof *engine);
	struct http_limits *l = &engine->limits;

	if (limits)
		*l = *limits;
	/* Zero means the built-in default, except that 0 redirects means none. */
	if (l->timeout_ms <= 0)
		l->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (l->connect_timeout_ms <= 0)
		l->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (l->max_body <= 0)
		l->max_body = DEFAULT_MAX_BODY;
	if (l->max_redirects < 0)
		l->max_redirects = DEFAULT_MAX_REDIRECTS;
	if (l->per_host <= 0)
		l->per_host = DEFAULT_PER_HOST;
	if (l->total <= 0)
		l->total = DEFAULT_TOTAL;
	if (l->low_speed_bytes <= 0 || l->low_speed_time_ms <= 0)
		l->low_speed_bytes = l->low_speed_time_ms = 0;
	engine->user_agent = xstrdup(l->user_agent ? l->user_agent : DEFAULT_USER_AGENT);
	l->user_agent = engine->user_agent;

	engine->base = base;
	engine->st = st;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("http: curl_global_init failed");
		free(engine->user_agent);
		free(engine);
		return NULL;
	}
	engine->multi = curl_multi_init();
	engine->timer = evtimer_new(base, timer_event_cb, engine);
	engine->kick = event_new(base, -1, 0, kick_cb, engine);
	if (!engine->multi || !engine->timer || !engine->kick) {
		log_error("http: cannot create the curl multi handle or its events");
		http_engine_free(engine);
		return NULL;
	}
	curl_multi_setopt(engine->multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb);
	curl_multi_setopt(engine->multi, CURLMOPT_SOCKETDATA, engine);
	curl_multi_setopt(engine->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	curl_multi_setopt(engine->multi, CURLMOPT_TIMERDATA, engine);
	log_debug("http: engine up (%s; per host %" PRId64 ", total %" PRId64 ")",
	          curl_version(), l->per_host, l->total);
	return engine;
}

/* Not from inside one of the engine's callbacks: the engine is still on the stack there. */
void http_engine_free(struct http_engine *engine)
{
	if (!engine)
		return;

	for (struct host *h = engine->hosts_head; h; h = h->next) {
		while (h->wait_head) {
			struct http_call *call = h->wait_head;
			queue_remove(h, call);
			call_free(call);
		}
	}
	while (engine->running) {
		struct http_call *call = engine->running;
		call_detach(call);
		call_free(call);
	}
	engine->n_queued = 0;
	while (engine->hosts_head)
		host_free(engine, engine->hosts_head);

	/* curl may still call the socket and timer functions while it closes pooled connections. */
	if (engine->multi)
		curl_multi_cleanup(engine->multi);
	while (engine->socks)
		sock_free(engine, engine->socks);
	if (engine->timer)
		event_free(engine->timer);
	if (engine->kick)
		event_free(engine->kick);
	curl_global_cleanup();
	free(engine->user_agent);
	free(engine);
}

/* Check a header name and value for what would break the request framing. */
static bool header_ok(const struct vigil_kv *kv)
{
	if (!kv->key || !*kv->key || strpbrk(kv->key, ":\r\n \t"))
		return false;
	return !kv->value || !strpbrk(kv->value, "\r\n");
}

static bool method_ok(const char *m)
{
	if (!*m)
		return false;
	for (; *m; m++)
		if (!isalpha((unsigned char)*m) && *m != '-' && *m != '_')
			return false;
	return true;
}

char *http_url_for_log(const char *url, bool secret)
{
	if (!secret)
		return xstrdup(url);
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	char *shown;
	if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_HOST, &host, 0);
		curl_url_get(u, CURLUPART_PORT, &port, 0);
		shown = xasprintf("%s://%s%s%s/\xE2\x80\xA6", scheme, host ? host : "",
		                  port ? ":" : "", port ? port : "");
	} else {
		shown = xstrdup("(a URL that is kept secret)");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return shown;
}

/*
 * Parse `url` and build its host key ("scheme://host:port"). Returns the
 * scheme (malloc'd) or NULL when the URL is malformed.
 */
static char *url_host_key(const char *url, char **key)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;

	*key = NULL;
	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return NULL;
	}
	/* file:// has neither host nor port. */
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	*key = xasprintf("%s://%s:%s", scheme, host ? host : "", port ? port : "");
	for (char *p = *key; *p; p++)
		*p = tolower((unsigned char)*p);
	char *ret = xstrdup(scheme);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

static bool has_header(const struct vigil_kv *kv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(kv[i].key, name))
			return true;
	return false;
}

struct http_call *http_engine_request(struct http_engine *engine,
                                      const struct vigil_http_request *request,
                                      const struct http_call_options *options,
                                      vigil_http_cb cb, void *userdata,
                                      const char **error_text)
{
	static const struct http_call_options no_options;
	struct vigil_http_request req = { 0 };
	const char *dummy;

	if (!error_text)
		error_text = &dummy;
	*error_text = NULL;
	if (!engine || !request || !cb) {
		*error_text = "invalid request";
		return NULL;
	}
	/* Older plugins pass a shorter struct; what they lack stays zero. */
	if (request->size < offsetof(struct vigil_http_request, url) + sizeof request->url) {
		*error_text = "request size not set";
		return NULL;
	}
	memcpy(&req, request, request->size < sizeof req ? request->size : sizeof req);
	if (!options)
		options = &no_options;
	if (!req.url || !*req.url) {
		*error_text = "no URL";
		return NULL;
	}

	char *key;
	char *scheme = url_host_key(req.url, &key);
	if (!scheme) {
		*error_text = "malformed URL";
		return NULL;
	}
	bool is_file = !strcmp(scheme, "file");
	bool allowed = !strcmp(scheme, "http") || !strcmp(scheme, "https") ||
	               (is_file && options->allow_file_url &&
	                !strcmp(req.url, options->allow_file_url));
	free(scheme);
	if (!allowed) {
		*error_text = is_file ? "file:// URL not allowed (only the source's own url)"
		                      : "URL scheme not allowed (only http and https)";
		free(key);
		return NULL;
	}

	const char *method = req.method ? req.method : req.body ? "POST" : "GET";
	if (!method_ok(method)) {
		*error_text = "invalid HTTP method";
		free(key);
		return NULL;
	}
	for (size_t i = 0; i < options->n_headers; i++) {
		if (!header_ok(&options->headers[i])) {
			*error_text = "invalid header name or value (line break or bad name)";
			free(key);
			return NULL;
		}
	}
	for (size_t i = 0; i < req.n_headers; i++) {
		if (!header_ok(&req.headers[i])) {
			*error_text = "invalid header name or value (line break or bad name)";
			free(key);
			return NULL;
		}
	}

	struct http_call *call = xcalloc(1, sizeof *call);
	call->engine = engine;
	call->cb = cb;
	call->userdata = userdata;
	call->url = xstrdup(req.url);
	call->secret_url = req.flags & VIGIL_HTTP_SECRET_URL;
	call->log_url = http_url_for_log(req.url, call->secret_url);
	call->method = xstrdup(method);
	call->is_file = is_file;
	call->conditional = req.flags & VIGIL_HTTP_CONDITIONAL;
	call->validator_scope = options && options->validator_scope ?
	                        strdup(options->validator_scope) : NULL;
	call->has_inm = has_header(options->headers, options->n_headers, "If-None-Match") ||
	                has_header(req.headers, req.n_headers, "If-None-Match");
	call->has_ims = has_header(options->headers, options->n_headers, "If-Modified-Since") ||
	                has_header(req.headers, req.n_headers, "If-Modified-Since");
	call->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms
	                 : req.timeout_ms ? req.timeout_ms : engine->limits.timeout_ms;
	call->connect_timeout_ms = req.connect_timeout_ms ? req.connect_timeout_ms
	                                                  : engine->limits.connect_timeout_ms;
	call->max_body = options->max_body > 0 ? options->max_body
	               : req.max_body ? (int64_t)req.max_body : engine->limits.max_body;
	if (call->max_body <= 0 || (uint64_t)call->max_body >= SIZE_MAX / 2)
		call->max_body = engine->limits.max_body;

	CURL *e = curl_easy_init();
	if (!e) {
		*error_text = "cannot create a curl handle";
		free(key);
		call_free(call);
		return NULL;
	}
	call->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, call->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, is_file ? "http,https,file" : "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)engine->limits.max_redirects);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)call->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)call->connect_timeout_ms);
	if (engine->limits.low_speed_bytes > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)engine->limits.low_speed_bytes);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
		                 (long)((engine->limits.low_speed_time_ms + 999) / 1000));
	}
	/* "" offers every encoding curl can decode; write_cb sees the result. */
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT,
	                 options->user_agent ? options->user_agent : engine->user_agent);
	/* No proxy unless the source names one: $http_proxy and friends are not
	 * read, so a daemon's behaviour does not depend on its environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, options->proxy && !call->is_file ? options->proxy : "");

	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (req.body || !strcmp(method, "POST")) {
		call->body = xmalloc(req.body_len + 1);
		if (req.body_len)
			memcpy(call->body, req.body, req.body_len);
		call->body[req.body_len] = '\0';
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
		if (strcmp(method, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		/* Expect: 100-continue would stall small bodies on servers that ignore it. */
		struct curl_slist *n = curl_slist_append(call->req_headers, "Expect:");
		if (n)
			call->req_headers = n;
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	for (size_t i = 0; i < options->n_headers; i++)
		header_append(&call->req_headers, options->headers[i].key,
		              options->headers[i].value);
	for (size_t i = 0; i < req.n_headers; i++)
		header_append(&call->req_headers, req.headers[i].key, req.headers[i].value);

	call->host = host_get(engine, key);
	free(key);
	call->state = CALL_QUEUED;
	queue_push(call->host, call);
	engine->n_queued++;
	engine_kick(engine);
	log_debug("http: queued %s %s (%s)", method, call->log_url, call->host->key);
	return call;
}

void http_call_cancel(struct http_call *call)
{
	if (!call)
		return;
	struct http_engine *engine = call->engine;

	switch (call->state) {
	case CALL_QUEUED:
		queue_remove(call->host, call);
		engine->n_queued--;
		break;
	case CALL_RUNNING:
		call_detach(call);
		break;
	case CALL_DONE:
		/* Inside its own callback: freed when that returns. */
		return;
	}
	log_debug("http: cancelled %s %s", call->method, call->log_url);
	call_free(call);
	/* A freed slot, and an empty host to sweep. */
	engine_kick(engine);
}

unsigned http_engine_active(const struct http_engine *engine)
{
	return engine ? engine->n_running + engine->n_queued : 0;
}
