/* cmd-parse.c - vigilctl parse: the items the rss plugin makes of a feed file or URL */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <vigil/version.h>

#include "cli.h"
#include "feed.h"
#include "item.h"
#include "util.h"

#define FETCH_TIMEOUT_S 30L
#define FETCH_MAX_BYTES (16L * 1024 * 1024)
#define SUMMARY_CHARS 200

void cmd_parse_usage(FILE *out)
{
	fprintf(out,
		"Usage: vigilctl parse [--json] [--base URL] FILE|URL\n"
		"Parse a feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed) as the rss plugin does and print\n"
		"the items rules would see: for debugging a feed.\n"
		"\n"
		"FILE is read from disk (- for standard input); an http:// or https:// URL is\n"
		"fetched (30 s timeout, at most 16 MiB, redirects followed to http(s) only).\n"
		"\n"
		"      --json          one JSON object per item and line:\n"
		"                      {\"format\", \"feed_title\", \"item\"} (item as in alerts)\n"
		"      --base URL      resolve relative links against URL (default: the URL\n"
		"                      fetched, after redirects; none for a file)\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit status: 0 parsed, 1 not a feed or malformed beyond recovery,\n"
		"2 wrong usage or an unreadable input (a failed fetch).\n");
}

/* --- fetching ----------------------------------------------------------- */

struct body {
	char *data;
	size_t len, cap;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > (size_t)FETCH_MAX_BYTES) {
		b->too_big = true;
		return 0;            /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? 2 * b->cap : 65536;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * GET url. On success the body (NUL-terminated), its Content-Type (or NULL)
 * and the URL after redirects; -1 with the reason printed otherwise.
 */
static int fetch(const char *url, struct body *b, char **content_type, char **final_url)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	int r = -1;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "vigilctl parse: cannot initialise libcurl\n");
		return -1;
	}
	CURL *h = curl_easy_init();
	if (!h) {
		fprintf(stderr, "vigilctl parse: cannot initialise libcurl\n");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)FETCH_MAX_BYTES);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "vigilctl/" VIGIL_VERSION_STRING);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

	struct curl_slist *hdrs = curl_slist_append(NULL,
		"Accept: application/rss+xml, application/atom+xml, application/feed+json, "
		"application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (b->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		fprintf(stderr, "vigilctl parse: %s: larger than %ld MiB\n", url,
		        FETCH_MAX_BYTES / (1024 * 1024));
	} else if (rc != CURLE_OK) {
		fprintf(stderr, "vigilctl parse: %s: %s\n", url, *errbuf ? errbuf : curl_easy_strerror(rc));
	} else if (status < 200 || status > 299) {
		fprintf(stderr, "vigilctl parse: %s: HTTP status %ld\n", url, status);
	} else {
		char *ct = NULL, *eff = NULL;
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
		*content_type = ct ? xstrdup(ct) : NULL;
		*final_url = xstrdup(eff ? eff : url);
		if (!b->data)
			b->data = xstrdup("");
		r = 0;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
out:
	curl_global_cleanup();
	return r;
}

/* --- printing ----------------------------------------------------------- */

struct parse_ctx {
	bool json;
	unsigned count;
};

static bool is_url(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

/* The first `max` characters of UTF-8 text, with "..." when cut; on one line. Caller frees. */
static char *first_chars(const char *s, size_t max)
{
	size_t n = strlen(s), chars = 0, i = 0;
	while (i < n && chars < max) {
		i++;
		while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		chars++;
	}
	char *out = xmalloc(i + 4);
	memcpy(out, s, i);
	strcpy(out + i, i < n ? "..." : "");
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return out;
}

static void print_line(const char *label, const char *value)
{
	if (value)
		printf("  %-11s %s\n", label, value);
}

static void print_time(const char *label, int64_t t)
{
	char buf[64];
	if (t != VIGIL_TIME_NONE)
		print_line(label, time_format_rfc3339(t, buf, sizeof(buf)));
}

static void print_text(const struct feed_head *head, const struct vigil_item *it, unsigned n)
{
	printf("item %u\n", n);
	print_line("id:", it->id);
	print_line("title:", it->title);
	print_line("link:", it->link);
	print_time("published:", it->published);
	print_time("updated:", it->updated);
	print_line("author:", it->author);
	print_line("lang:", it->lang);
	if (it->n_categories) {
		printf("  %-11s", "categories:");
		for (size_t i = 0; i < it->n_categories; i++)
			printf("%s %s", i ? "," : "", it->categories[i]);
		printf("\n");
	}
	for (size_t i = 0; i < it->n_fields; i++) {
		const struct vigil_field *f = &it->fields[i];
		if (f->type == VIGIL_FIELD_STRING) {
			char *s = first_chars(f->string ? f->string : "", SUMMARY_CHARS);
			printf("  %s: %s\n", f->name, s);
			free(s);
		}
		else
			printf("  %s: %g\n", f->name, f->number);
	}
	if (it->summary) {
		char *s = first_chars(it->summary, SUMMARY_CHARS);
		print_line("summary:", s);
		free(s);
	} else if (it->content) {
		char *s = first_chars(it->content, SUMMARY_CHARS);
		print_line("content:", s);
		free(s);
	}
	(void)head;
	printf("\n");
}

static int on_head(void *userdata, const struct feed_head *head)
{
	struct parse_ctx *ctx = userdata;
	if (!head)
		return 0;
	if (!ctx->json) {
		char buf[64];
		printf("feed (%s)\n", feed_format_name(head->format));
		print_line("title:", head->title);
		print_line("link:", head->link);
		print_line("id:", head->id);
		print_line("language:", head->language);
		if (head->updated != VIGIL_TIME_NONE)
			print_line("updated:", time_format_rfc3339(head->updated, buf, sizeof(buf)));
		printf("\n");
	}
	return 0;
}

static int on_entry(void *userdata, const struct feed_head *head, const struct feed_entry *e)
{
	struct parse_ctx *ctx = userdata;

	/* What rules see: the item as the host copies it (UTF-8 repaired), with
	 * the feed's title when the entry does not carry one. */
	struct vigil_item it = e->item;
	if (!it.feed_title && head)
		it.feed_title = head->title;
	struct owned_item *own = item_copy(&it);
	ctx->count++;
	if (ctx->json) {
		json_t *o = json_object();
		json_object_set_new(o, "format", json_string(feed_format_name(head ? head->format :
		                                                              FEED_UNKNOWN)));
		json_object_set_new(o, "feed_title", own->item.feed_title ?
		                    json_string(own->item.feed_title) : json_null());
		json_object_set_new(o, "item", item_to_json(&own->item));
		char *s = json_dumps(o, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		print_text(head, &own->item, ctx->count);
	}
	item_free(own);
	return ferror(stdout) ? -EIO : 0;
}

int cmd_parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "base", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct parse_ctx ctx = { 0 };
	const char *base = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': ctx.json = true; break;
		case 'b': base = optarg; break;
		case 'h': cmd_parse_usage(stdout); return CLI_EXIT_OK;
		default: cmd_parse_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cmd_parse_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *src = argv[optind];
	struct body b = { 0 };
	char *content_type = NULL, *final_url = NULL;
	size_t len = 0;

	if (is_url(src)) {
		if (fetch(src, &b, &content_type, &final_url) < 0) {
			free(b.data);
			return CLI_EXIT_USAGE;
		}
		len = b.len;
	} else {
		b.data = !strcmp(src, "-") ? cli_read_file("/dev/stdin", &len) :
			cli_read_file(src, &len);
		if (!b.data) {
			fprintf(stderr, "vigilctl parse: %s: %s\n", src, strerror(errno));
			return CLI_EXIT_USAGE;
		}
	}

	const struct feed_callbacks cb = { .head = on_head, .entry = on_entry };
	struct feed_options opt = {
		.base_url = base ? base : final_url,
		.content_type = content_type,
	};
	struct feed_result res = { 0 };
	int r = feed_parse(b.data, len, &opt, &cb, &ctx, &res);
	int code = CLI_EXIT_OK;
	fflush(stdout);
	if (r < 0) {
		fprintf(stderr, "vigilctl parse: %s: %s\n", src, *res.error ? res.error : strerror(-r));
		code = CLI_EXIT_FAIL;
	} else {
		if (res.bozo)
			fprintf(stderr, "vigilctl parse: %s: warning: not well-formed; %zu item%s recovered%s%s\n",
			        src, res.n_entries, res.n_entries == 1 ? "" : "s",
			        *res.error ? ": " : "", res.error);
		if (!ctx.json)
			printf("%s: %s, %u item%s\n", src, feed_format_name(res.format), ctx.count,
			       ctx.count == 1 ? "" : "s");
	}
	free(b.data);
	free(content_type);
	free(final_url);
	return code;
}
