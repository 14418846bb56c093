/* rss.c - the `rss` source: RSS, Atom, RDF and JSON Feed documents over HTTP or from a file */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>
#include <vigil/url.h>

#include "feed.h"

/* The largest credentials file read for auth_file. */
#define RSS_MAX_AUTH_FILE 4096

struct rss_source {
	const struct vigil_host *host;
	char *url;                   /* owned: `url`, or `path` as a file:// URL */
	int64_t max_items;           /* 0: no limit */
	char *authorization;         /* "Basic ..." from auth_file, or NULL; never logged */
	struct vigil_http_call *call;  /* the request in flight, or NULL */
};

/* One poll's parse: what the entry callback needs. */
struct rss_poll {
	struct rss_source *src;
	unsigned emitted;
	int emit_error;              /* host->emit()'s error that stopped the parse */
};

static int on_entry(void *userdata, const struct feed_head *head, const struct feed_entry *e)
{
	struct rss_poll *p = userdata;
	const struct vigil_host *host = p->src->host;
	int err = host->emit(host->inst, &e->item);
	if (err < 0) {
		p->emit_error = err;
		return err;
	}
	p->emitted++;
	(void)head;
	return 0;
}

static void http_failure(struct rss_source *src, const struct vigil_http_response *r)
{
	const struct vigil_host *host = src->host;
	char message[768];
	if (r->status == 403) {
		snprintf(message, sizeof message,
		         "HTTP 403 from %s: SEC EDGAR and some others refuse requests without a "
		         "contact User-Agent; set user_agent: \"name contact@example.org\"", src->url);
	} else if (r->status == 401) {
		snprintf(message, sizeof message, "HTTP 401 from %s: %s", src->url,
		         src->authorization ? "the credentials in auth_file were refused" :
		         "the feed needs credentials: set auth_file to a file holding user:password");
	} else if (r->retry_after >= 0 && (r->status == 429 || r->status == 503)) {
		snprintf(message, sizeof message, "HTTP %d from %s (retry after %lld s)", r->status,
		         src->url, (long long)r->retry_after);
	} else {
		snprintf(message, sizeof message, "HTTP %d from %s", r->status, src->url);
	}
	host->poll_done(host->inst, -EIO, message);
}

static void on_response(void *userdata, const struct vigil_http_response *r)
{
	struct rss_source *src = userdata;
	const struct vigil_host *host = src->host;
	char message[768];

	/* The engine frees the call once this returns; it must not be cancelled now. */
	src->call = NULL;

	if (r->error != VIGIL_HTTP_OK) {
		snprintf(message, sizeof message, "fetch failed: %s",
		         r->error_text ? r->error_text : "transfer error");
		host->poll_done(host->inst, r->error == VIGIL_HTTP_E_TOO_BIG ? -EMSGSIZE : -EIO,
		                message);
		return;
	}
	if (r->not_modified) {
		host->poll_done(host->inst, 0, NULL);
		return;
	}
	if (r->status != 200) {
		http_failure(src, r);
		return;
	}

	struct feed_options opt = {
		.base_url = r->url && *r->url ? r->url : src->url,
		.content_type = r->content_type,
		.max_items = (size_t)src->max_items,
	};
	struct feed_callbacks cb = { .entry = on_entry };
	struct rss_poll p = { .src = src };
	struct feed_result res;
	int err = feed_parse(r->body ? r->body : "", r->body ? r->body_len : 0, &opt, &cb, &p, &res);

	if (err < 0 && p.emit_error == -ENOSPC) {
		snprintf(message, sizeof message, "the daemon takes no more than %u items per poll; "
		         "set max_items to take only the first entries", p.emitted);
	} else if (err < 0 && p.emit_error) {
		snprintf(message, sizeof message, "cannot hand over entry %u: %s", p.emitted + 1,
		         strerror(-p.emit_error));
	} else if (err < 0 && res.html) {
		snprintf(message, sizeof message, "not a feed: the document is HTML (%s)",
		         r->content_type ? r->content_type : "no Content-Type");
	} else if (err < 0 && res.not_feed) {
		snprintf(message, sizeof message, "HTTP 200 but not a feed: %s", res.error);
	} else if (err < 0) {
		snprintf(message, sizeof message, "%s", res.error);
	} else {
		if (res.bozo)
			host->log(host->inst, VIGIL_LOG_INFO, "%s: %s", src->url, res.error);
		host->poll_done(host->inst, 0, NULL);
		return;
	}
	host->poll_done(host->inst, err, message);
}

static char *base64(const unsigned char *in, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (!out)
		return NULL;
	char *o = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/*
 * The Authorization header for auth_file: the file's first line is
 * "user:password". Its content is never logged. Returns 0, or -errno after
 * logging why.
 */
static int read_auth_file(const struct vigil_host *host, const char *path, char **header)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int err = errno;
		host->log(host->inst, VIGIL_LOG_ERROR, "auth_file %s: %s", path, strerror(err));
		return -err;
	}
	char buf[RSS_MAX_AUTH_FILE + 1];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (n > RSS_MAX_AUTH_FILE) {
		host->log(host->inst, VIGIL_LOG_ERROR, "auth_file %s: larger than %d bytes", path,
		          RSS_MAX_AUTH_FILE);
		explicit_bzero(buf, sizeof buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!strchr(buf, ':') || buf[0] == ':') {
		host->log(host->inst, VIGIL_LOG_ERROR,
		          "auth_file %s: expected one line \"user:password\"", path);
		explicit_bzero(buf, sizeof buf);
		return -EINVAL;
	}
	char *b64 = base64((const unsigned char *)buf, strlen(buf));
	explicit_bzero(buf, sizeof buf);
	if (!b64)
		return -ENOMEM;
	size_t len = strlen("Basic ") + strlen(b64) + 1;
	*header = malloc(len);
	if (*header)
		snprintf(*header, len, "Basic %s", b64);
	explicit_bzero(b64, strlen(b64));
	free(b64);
	return *header ? 0 : -ENOMEM;
}

static void rss_destroy(void *state);

static int rss_create(const struct vigil_host *host, void **state)
{
	int64_t max_items = host->get_int(host->inst, "max_items", 0);
	if (max_items < 0) {
		host->log(host->inst, VIGIL_LOG_ERROR, "max_items is %lld; use 0 for no limit",
		          (long long)max_items);
		return -EINVAL;
	}

	struct rss_source *src = calloc(1, sizeof *src);
	if (!src)
		return -ENOMEM;
	src->host = host;
	src->max_items = max_items;
	int err = vigil_source_url(host, "the feed", &src->url);
	if (err < 0) {
		free(src);
		return err;
	}
	const char *auth_file = host->get_string(host->inst, "auth_file");
	if (auth_file && *auth_file) {
		err = read_auth_file(host, auth_file, &src->authorization);
		if (err < 0) {
			rss_destroy(src);
			return err;
		}
	}
	*state = src;
	return 0;
}

static void rss_destroy(void *state)
{
	struct rss_source *src = state;
	if (!src)
		return;
	if (src->call)
		src->host->http_cancel(src->host->inst, src->call);
	if (src->authorization) {
		explicit_bzero(src->authorization, strlen(src->authorization));
		free(src->authorization);
	}
	free(src->url);
	free(src);
}

/* Always finishes through host->poll_done(), later (or now when the host
 * refuses the request), and returns 0. */
static int rss_poll(void *state)
{
	struct rss_source *src = state;
	const struct vigil_host *host = src->host;

	if (src->call)
		return -EBUSY;
	struct vigil_kv headers[2] = {
		{ "Accept", "application/rss+xml, application/atom+xml, application/feed+json, "
		            "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, "
		            "application/json;q=0.5, */*;q=0.1" },
		{ "Authorization", src->authorization },
	};
	struct vigil_http_request req = {
		.size = sizeof req,
		.url = src->url,
		.headers = headers,
		.n_headers = src->authorization ? 2 : 1,
		.flags = VIGIL_HTTP_CONDITIONAL,
	};
	src->call = host->http_request(host->inst, &req, on_response, src);
	if (!src->call) {
		char message[512];
		snprintf(message, sizeof message, "cannot fetch %s: the request was refused (see the log)",
		         src->url);
		host->poll_done(host->inst, -EINVAL, message);
	}
	return 0;
}

static const struct vigil_option rss_options[] = {
	{
		.key = "url",
		.type = VIGIL_OPT_STRING,
		.description = "http(s):// or file:// URL of an RSS, Atom, RDF or JSON Feed "
		               "document (this or path)",
	},
	{
		.key = "path",
		.type = VIGIL_OPT_PATH,
		.description = "a local feed file, relative to the configuration file (this or url)",
	},
	{
		.key = "max_items",
		.type = VIGIL_OPT_INT,
		.default_value = "0",
		.description = "emit at most this many entries per poll, first entries first "
		               "(0: no limit)",
	},
	{
		.key = "auth_file",
		.type = VIGIL_OPT_PATH,
		.description = "a file holding \"user:password\" for HTTP basic authentication "
		               "(never logged)",
	},
};

static const struct vigil_plugin_methods rss_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = rss_create,
	.destroy = rss_destroy,
	.poll = rss_poll,
};

static const struct vigil_plugin rss_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "rss",
	.version = VIGIL_VERSION_STRING,
	.description = "entries of an RSS 0.9x/1.0/2.0, Atom 0.3/1.0 or JSON Feed document",
	.kind = VIGIL_PLUGIN_SOURCE,
	/*
	 * libxml2 (and the ICU it loads) keep process-wide state and are not
	 * made to be unloaded: with the notify plugin loaded too, unloading
	 * rss.so at shutdown left libxml2's allocations unreachable
	 * (LeakSanitizer, tests/integration/test_demo.py). Never unloaded.
	 */
	.flags = VIGIL_PLUGIN_RESIDENT,
	.options = rss_options,
	.n_options = sizeof rss_options / sizeof rss_options[0],
	.methods = &rss_methods,
};

VIGIL_PLUGIN_DEFINE(rss_plugin)
