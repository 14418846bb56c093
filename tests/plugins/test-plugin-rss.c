/* test-plugin-rss.c - the `rss` source and its feed parser: formats, fields, dates, encodings, hostile input */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "feed.h"
#include "feed-private.h"
#include "mock-host.h"

#define URL "https://feeds.example.org/news/feed.xml"
#define SEC_DIR "/work/shared/conformance/regulatory/sec-edgar"

static const struct vigil_plugin *plugin;
static const char *plugin_dir_arg;

/* ---- the parser, directly ---- */

#define MAX_GOT 64
#define MAX_LIST 16

struct got_entry {
	char *id, *title, *title_html, *summary, *content, *author, *link, *lang, *feed_title;
	char *summary_html, *content_html, *content_type, *comments, *source_title;
	int64_t published, updated;
	bool permalink;
	char *categories[MAX_LIST];
	size_t n_categories;
	char *links[MAX_LIST];       /* "rel href" */
	size_t n_links;
	char *enclosures[MAX_LIST];  /* "href type length" */
	size_t n_enclosures;
	char *people[MAX_LIST];      /* "name|email|uri" */
	size_t n_people;
	char *fields[MAX_LIST];      /* "name=value" */
	size_t n_fields;
};

struct got {
	struct got_entry e[MAX_GOT];
	size_t n;
	int rc;
	struct feed_result res;
	char *head_title, *head_link, *head_language;
	int64_t head_updated;
	unsigned heads;
};

static char *sdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	va_start(ap, f);
	assert_true(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

static int got_head(void *userdata, const struct feed_head *h)
{
	struct got *g = userdata;
	g->heads++;
	free(g->head_title);
	free(g->head_link);
	free(g->head_language);
	g->head_title = sdup(h->title);
	g->head_link = sdup(h->link);
	g->head_language = sdup(h->language);
	g->head_updated = h->updated;
	return 0;
}

static int got_entry(void *userdata, const struct feed_head *h, const struct feed_entry *fe)
{
	struct got *g = userdata;
	const struct vigil_item *it = &fe->item;
	assert_non_null(h);
	if (g->n >= MAX_GOT)
		return 0;
	struct got_entry *e = &g->e[g->n++];
	e->id = sdup(it->id);
	e->title = sdup(it->title);
	e->title_html = sdup(fe->title_html);
	e->summary = sdup(it->summary);
	e->content = sdup(it->content);
	e->author = sdup(it->author);
	e->link = sdup(it->link);
	e->lang = sdup(it->lang);
	e->feed_title = sdup(it->feed_title);
	e->summary_html = sdup(fe->summary_html);
	e->content_html = sdup(fe->content_html);
	e->content_type = sdup(fe->content_type);
	e->comments = sdup(fe->comments);
	e->source_title = sdup(fe->source_title);
	e->published = it->published;
	e->updated = it->updated;
	e->permalink = fe->guid_is_permalink;
	for (size_t i = 0; i < it->n_categories && e->n_categories < MAX_LIST; i++)
		e->categories[e->n_categories++] = sdup(it->categories[i]);
	for (size_t i = 0; i < fe->n_links && e->n_links < MAX_LIST; i++)
		e->links[e->n_links++] = fmt("%s %s", fe->links[i].rel, fe->links[i].href);
	for (size_t i = 0; i < fe->n_enclosures && e->n_enclosures < MAX_LIST; i++)
		e->enclosures[e->n_enclosures++] = fmt("%s %s %lld", fe->enclosures[i].href,
		        fe->enclosures[i].type ? fe->enclosures[i].type : "-",
		        (long long)fe->enclosures[i].length);
	for (size_t i = 0; i < fe->n_authors && e->n_people < MAX_LIST; i++)
		e->people[e->n_people++] = fmt("%s|%s|%s",
		        fe->authors[i].name ? fe->authors[i].name : "",
		        fe->authors[i].email ? fe->authors[i].email : "",
		        fe->authors[i].uri ? fe->authors[i].uri : "");
	for (size_t i = 0; i < it->n_fields && e->n_fields < MAX_LIST; i++)
		if (it->fields[i].type == VIGIL_FIELD_STRING)
			e->fields[e->n_fields++] = fmt("%s=%s", it->fields[i].name,
			                                it->fields[i].string);
	return 0;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct got_entry *e = &g->e[i];
		char *strings[] = {
			e->id, e->title, e->title_html, e->summary, e->content, e->author, e->link,
			e->lang, e->feed_title, e->summary_html, e->content_html, e->content_type,
			e->comments, e->source_title,
		};
		for (size_t j = 0; j < sizeof strings / sizeof strings[0]; j++)
			free(strings[j]);
		for (size_t j = 0; j < e->n_categories; j++)
			free(e->categories[j]);
		for (size_t j = 0; j < e->n_links; j++)
			free(e->links[j]);
		for (size_t j = 0; j < e->n_enclosures; j++)
			free(e->enclosures[j]);
		for (size_t j = 0; j < e->n_people; j++)
			free(e->people[j]);
		for (size_t j = 0; j < e->n_fields; j++)
			free(e->fields[j]);
	}
	free(g->head_title);
	free(g->head_link);
	free(g->head_language);
	free(g);
}

static struct got *parse_n(const char *body, size_t len, const char *content_type,
                           const char *base, size_t max_items)
{
	struct got *g = calloc(1, sizeof *g);
	assert_non_null(g);
	struct feed_options opt = {
		.base_url = base, .content_type = content_type, .max_items = max_items,
	};
	struct feed_callbacks cb = { .head = got_head, .entry = got_entry };
	g->rc = feed_parse(body, len, &opt, &cb, g, &g->res);
	return g;
}

static struct got *parse(const char *body, const char *content_type)
{
	return parse_n(body, strlen(body), content_type, URL, 0);
}

static const char *field(const struct got_entry *e, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < e->n_fields; i++)
		if (!strncmp(e->fields[i], name, n) && e->fields[i][n] == '=')
			return e->fields[i] + n + 1;
	return NULL;
}

static bool has(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

/* Unix seconds of a UTC date, for readable expectations. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
	                 .tm_min = mi, .tm_sec = s };
	return (int64_t)timegm(&tm);
}

static void test_rss20(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"\n"
		"     xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n"
		"     xmlns:media=\"http://search.yahoo.com/mrss/\">\n"
		"<channel xml:base=\"https://www.example.org/tech/\">\n"
		" <title>Example &amp; Co.</title><link>https://www.example.org/</link>\n"
		" <language>ar</language>\n"
		" <lastBuildDate>Sat, 07 Sep 2002 09:42:31 GMT</lastBuildDate>\n"
		" <item>\n"
		"  <title>DeepSeek R2 &lt;b&gt;delayed&lt;/b&gt;</title>\n"
		"  <link>2025/08/r2.html</link>\n"
		"  <description><![CDATA[<p>Training on <b>Ascend</b> &amp; back to Nvidia.</p>"
		"<script>alert(1)</script><style>p{}</style><p>Second   paragraph</p>]]></description>\n"
		"  <content:encoded><![CDATA[<div>Full&nbsp;text &eacute;t&eacute;</div>]]></content:encoded>\n"
		"  <guid isPermaLink=\"false\">tag:example.org,2025:r2</guid>\n"
		"  <author>editor@example.org (Jane Editor)</author>\n"
		"  <dc:creator>Ali Hassan</dc:creator>\n"
		"  <category>AI</category><category domain=\"x\">Chips</category><category>AI</category>\n"
		"  <pubDate>Tue, 12 Aug 2025 08:30:00 +0300</pubDate>\n"
		"  <comments>/comments/r2</comments>\n"
		"  <enclosure url=\"audio/r2.mp3\" length=\"12345\" type=\"audio/mpeg\"/>\n"
		"  <media:content url=\"https://cdn.example.org/r2.jpg\" type=\"image/jpeg\" fileSize=\"99\"/>\n"
		"  <media:group><media:content url=\"https://cdn.example.org/r2.webm\" type=\"video/webm\"/>"
		"</media:group>\n"
		" </item>\n"
		"</channel></rss>\n", "application/rss+xml");
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_RSS20);
	assert_false(g->res.bozo);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->heads, 1);
	assert_string_equal(g->head_title, "Example & Co.");
	assert_string_equal(g->head_language, "ar");
	assert_true(g->head_updated == utc(2002, 9, 7, 9, 42, 31));
	struct got_entry *e = &g->e[0];
	assert_string_equal(e->title, "DeepSeek R2 delayed");
	assert_string_equal(e->title_html, "DeepSeek R2 <b>delayed</b>");
	assert_string_equal(e->link, "https://www.example.org/tech/2025/08/r2.html");
	assert_string_equal(e->summary, "Training on Ascend & back to Nvidia.\nSecond paragraph");
	assert_non_null(strstr(e->summary_html, "<script>"));
	assert_string_equal(field(e, "summary_html"), e->summary_html);
	assert_string_equal(e->content, "Full text été");
	assert_string_equal(e->content_type, "text/html");
	assert_string_equal(e->id, "tag:example.org,2025:r2");
	assert_false(e->permalink);
	assert_string_equal(e->author, "Jane Editor, Ali Hassan");
	assert_true(has(e->people, e->n_people, "Jane Editor|editor@example.org|"));
	assert_int_equal(e->n_categories, 2);
	assert_string_equal(e->categories[0], "AI");
	assert_string_equal(e->categories[1], "Chips");
	assert_true(e->published == utc(2025, 8, 12, 5, 30, 0));
	assert_true(e->updated == VIGIL_TIME_NONE);
	assert_string_equal(e->comments, "https://www.example.org/comments/r2");
	assert_string_equal(e->lang, "ar");
	assert_string_equal(e->feed_title, "Example & Co.");
	assert_int_equal(e->n_enclosures, 3);
	assert_string_equal(e->enclosures[0],
	                    "https://www.example.org/tech/audio/r2.mp3 audio/mpeg 12345");
	assert_string_equal(e->enclosures[1], "https://cdn.example.org/r2.jpg image/jpeg 99");
	assert_string_equal(e->enclosures[2], "https://cdn.example.org/r2.webm video/webm -1");
	assert_string_equal(field(e, "enclosure_url"), "https://www.example.org/tech/audio/r2.mp3");
	assert_string_equal(field(e, "enclosure_type"), "audio/mpeg");
	got_free(g);
}

static void test_guid_permalink(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<rss version=\"2.0\"><channel><title>t</title>"
		"<item><title>a</title><guid>https://example.org/a</guid></item>"
		"<item><title>b</title><guid isPermaLink=\"false\">https://example.org/b</guid></item>"
		"<item><title>c</title><guid>12345</guid></item>"
		"<item><title>d</title><guid isPermaLink=\"true\">https://example.org/d</guid>"
		"<link>https://example.org/d-link</link></item>"
		"</channel></rss>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 4);
	assert_true(g->e[0].permalink);
	assert_string_equal(g->e[0].link, "https://example.org/a");
	assert_false(g->e[1].permalink);
	assert_null(g->e[1].link);
	assert_string_equal(g->e[1].id, "https://example.org/b");
	/* isPermaLink defaults to true, but "12345" is no URL: no link rather than a wrong one */
	assert_true(g->e[2].permalink);
	assert_null(g->e[2].link);
	assert_string_equal(g->e[3].link, "https://example.org/d-link");
	got_free(g);
}

static void test_atom10(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<?xml version=\"1.0\"?>\n"
		"<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:base=\"https://atom.example.com/blog/\""
		" xml:lang=\"en\">\n"
		" <title type=\"html\">Blog &lt;i&gt;one&lt;/i&gt;</title>\n"
		" <link href=\"/\"/><link rel=\"self\" href=\"feed.atom\"/>\n"
		" <id>urn:uuid:feed</id><updated>2025-08-12T10:00:00Z</updated>\n"
		" <author><name>Feed Author</name><email>fa@example.com</email></author>\n"
		" <entry xml:base=\"posts/\">\n"
		"  <title type=\"text\">A &lt;b&gt; is not a tag</title>\n"
		"  <link rel=\"related\" href=\"https://other.example.com/x\"/>\n"
		"  <link rel=\"alternate\" type=\"application/pdf\" href=\"one.pdf\"/>\n"
		"  <link rel=\"alternate\" type=\"text/html\" href=\"one.html\"/>\n"
		"  <link rel=\"enclosure\" type=\"audio/ogg\" length=\"42\" href=\"one.ogg\"/>\n"
		"  <id>urn:uuid:1</id>\n"
		"  <published>2025-08-12T08:00:00+02:00</published>\n"
		"  <updated>2025-08-12T09:30:00.123-04:00</updated>\n"
		"  <author><name>Ann</name><uri>/ann</uri></author>\n"
		"  <author><name>Bob</name></author>\n"
		"  <category term=\"export-controls\" label=\"Export controls\"/>\n"
		"  <category label=\"Only a label\"/>\n"
		"  <summary type=\"html\">&lt;p&gt;H20 &amp;amp; licences&lt;/p&gt;</summary>\n"
		"  <content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">"
		"<p>Nvidia <em>files</em> an 8-K.</p><p>Second.</p></div></content>\n"
		" </entry>\n"
		" <entry>\n"
		"  <title>Two</title><link href=\"two\"/><id>urn:uuid:2</id>\n"
		"  <updated>2025-08-13T00:00:00Z</updated>\n"
		"  <content type=\"text\">plain   text\n\n  here</content>\n"
		" </entry>\n"
		" <entry>\n"
		"  <title>Three</title><id>urn:uuid:3</id><link rel=\"self\" href=\"3.atom\"/>\n"
		"  <content type=\"html\"><![CDATA[<b>bold</b> &amp; <i>it</i>]]></content>\n"
		" </entry>\n"
		" <entry><title>Four</title><id>urn:uuid:4</id>"
		"  <content type=\"text/xml\"><data><n>7</n></data></content>"
		"  <content src=\"https://example.org/x.bin\" type=\"application/octet-stream\"/>"
		" </entry>\n"
		"</feed>\n", "application/atom+xml");
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_ATOM10);
	assert_int_equal(g->n, 4);
	assert_string_equal(g->head_title, "Blog one");
	assert_string_equal(g->head_link, "https://atom.example.com/");
	assert_true(g->head_updated == utc(2025, 8, 12, 10, 0, 0));

	struct got_entry *e = &g->e[0];
	assert_string_equal(e->title, "A <b> is not a tag");
	assert_null(e->title_html);
	assert_string_equal(e->link, "https://atom.example.com/blog/posts/one.html");
	assert_int_equal(e->n_links, 4);
	assert_true(has(e->links, e->n_links, "related https://other.example.com/x"));
	assert_true(has(e->links, e->n_links, "enclosure https://atom.example.com/blog/posts/one.ogg"));
	assert_int_equal(e->n_enclosures, 1);
	assert_string_equal(e->enclosures[0], "https://atom.example.com/blog/posts/one.ogg audio/ogg 42");
	assert_string_equal(e->id, "urn:uuid:1");
	assert_false(e->permalink);
	assert_true(e->published == utc(2025, 8, 12, 6, 0, 0));
	assert_true(e->updated == utc(2025, 8, 12, 13, 30, 0));
	assert_string_equal(e->author, "Ann, Bob");
	assert_true(has(e->people, e->n_people, "Ann||https://atom.example.com/ann"));
	assert_int_equal(e->n_categories, 2);
	assert_string_equal(e->categories[0], "export-controls");
	assert_string_equal(e->categories[1], "Only a label");
	assert_string_equal(e->summary, "H20 & licences");
	assert_string_equal(e->summary_html, "<p>H20 &amp; licences</p>");
	assert_string_equal(e->content, "Nvidia files an 8-K.\nSecond.");
	assert_string_equal(e->content_type, "application/xhtml+xml");
	assert_non_null(strstr(e->content_html, "<em>files</em>"));
	assert_null(strstr(e->content_html, "<div"));
	assert_string_equal(e->lang, "en");

	e = &g->e[1];
	assert_string_equal(e->link, "https://atom.example.com/blog/two");
	assert_string_equal(e->content, "plain text\nhere");
	assert_string_equal(e->content_type, "text/plain");
	assert_null(e->content_html);
	/* Atom: an entry without authors has the feed's */
	assert_string_equal(e->author, "Feed Author");

	e = &g->e[2];
	assert_null(e->link);      /* rel=self is not the entry's page */
	assert_string_equal(e->content, "bold & it");
	assert_string_equal(e->content_html, "<b>bold</b> &amp; <i>it</i>");

	e = &g->e[3];
	assert_string_equal(e->content_type, "text/xml");
	assert_string_equal(e->content, "7");
	got_free(g);
}

/* A second title after one of markup without text: the second is taken,
 * and the first's markup freed (the fuzzer found it leaked). */
static void test_two_titles(void **ts)
{
	(void)ts;
	struct got *g = parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>"
	                      "<title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">"
	                      "<b></b></div></title><title>Second</title><id>x</id></entry></feed>",
	                      NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->e[0].title, "Second");
	got_free(g);
}

static void test_atom03(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\">"
		"<title>Old</title><link rel=\"alternate\" type=\"text/html\" href=\"http://old.example/\"/>"
		"<entry><title>E</title><link rel=\"alternate\" type=\"text/html\" href=\"http://old.example/e\"/>"
		"<id>tag:old,2004:e</id><issued>2004-01-05T15:17:52Z</issued>"
		"<modified>2004-01-06T15:17:52Z</modified>"
		"<content type=\"text/html\" mode=\"escaped\">&lt;p&gt;Escaped&lt;/p&gt;</content>"
		"</entry></feed>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_ATOM03);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->e[0].link, "http://old.example/e");
	assert_true(g->e[0].published == utc(2004, 1, 5, 15, 17, 52));
	assert_true(g->e[0].updated == utc(2004, 1, 6, 15, 17, 52));
	assert_string_equal(g->e[0].content, "Escaped");
	got_free(g);
}

static void test_rdf(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<?xml version=\"1.0\"?>\n"
		"<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"\n"
		"  xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
		" <channel rdf:about=\"http://rdf.example/\"><title>RDF news</title>"
		"<link>http://rdf.example/</link><description>d</description>"
		"<items><rdf:Seq><rdf:li resource=\"http://rdf.example/1\"/></rdf:Seq></items></channel>\n"
		" <item rdf:about=\"http://rdf.example/1\"><title>One</title><link>http://rdf.example/1</link>"
		"<description>First item</description><dc:date>2003-12-13T18:30:02+01:00</dc:date>"
		"<dc:creator>Mark</dc:creator><dc:subject>Tech</dc:subject></item>\n"
		"</rdf:RDF>\n", "application/rdf+xml");
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_RSS10);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->head_title, "RDF news");
	struct got_entry *e = &g->e[0];
	assert_string_equal(e->id, "http://rdf.example/1");
	assert_string_equal(e->title, "One");
	assert_string_equal(e->summary, "First item");
	assert_true(e->published == utc(2003, 12, 13, 17, 30, 2));
	assert_string_equal(e->author, "Mark");
	assert_string_equal(e->categories[0], "Tech");
	got_free(g);

	g = parse("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
	          " xmlns=\"http://my.netscape.com/rdf/simple/0.9/\"><channel><title>Old</title>"
	          "<link>http://n.example/</link></channel><item><title>I</title>"
	          "<link>http://n.example/i</link></item></rdf:RDF>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_RSS090);
	assert_string_equal(g->e[0].link, "http://n.example/i");
	got_free(g);

	g = parse("<rss version=\"0.91\"><channel><title>t</title><item><title>x</title>"
	          "</item></channel></rss>", NULL);
	assert_int_equal(g->res.format, FEED_RSS091);
	got_free(g);

	/* RSS 0.90 by its default namespace alone (feedparser's rss_version_090) */
	g = parse("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
	          " xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">\n</rdf:RDF>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_RSS090);
	assert_string_equal(feed_format_name(g->res.format), "rss090");
	got_free(g);
	/* ... not as a prefix, and not after the RSS 1.0 namespace */
	g = parse("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
	          " xmlns:old=\"http://my.netscape.com/rdf/simple/0.9/\"></rdf:RDF>", NULL);
	assert_int_equal(g->res.format, FEED_RSS10);
	got_free(g);
	g = parse("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
	          " xmlns:rss=\"http://purl.org/rss/1.0/\""
	          " xmlns=\"http://my.netscape.com/rdf/simple/0.9/\"></rdf:RDF>", NULL);
	assert_int_equal(g->res.format, FEED_RSS10);
	got_free(g);
}

static void test_json_feed(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"JF\","
		" \"home_page_url\": \"https://jf.example/\", \"language\": \"zh\","
		" \"authors\": [{\"name\": \"Feed Person\"}],"
		" \"items\": ["
		"  {\"id\": \"1\", \"url\": \"/posts/1\", \"title\": \" Hello \","
		"   \"content_html\": \"<p>Hi <b>there</b></p><script>x()</script>\","
		"   \"summary\": \"Short\", \"date_published\": \"2025-08-12T10:00:00+08:00\","
		"   \"date_modified\": \"2025-08-12T11:00:00Z\","
		"   \"authors\": [{\"name\": \"Wang\", \"url\": \"https://wang.example\"}],"
		"   \"tags\": [\"chips\", \"export\"],"
		"   \"attachments\": [{\"url\": \"a.mp3\", \"mime_type\": \"audio/mpeg\","
		"     \"size_in_bytes\": 100}]},"
		"  {\"id\": 2, \"content_text\": \"text only\"},"
		"  \"not an object\""
		" ]}", "application/feed+json");
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_JSON11);
	assert_int_equal(g->n, 2);
	assert_string_equal(g->head_title, "JF");
	struct got_entry *e = &g->e[0];
	assert_string_equal(e->id, "1");
	assert_string_equal(e->title, "Hello");
	assert_string_equal(e->link, "https://feeds.example.org/posts/1");
	assert_string_equal(e->content, "Hi there");
	assert_string_equal(e->content_html, "<p>Hi <b>there</b></p><script>x()</script>");
	assert_string_equal(e->summary, "Short");
	assert_true(e->published == utc(2025, 8, 12, 2, 0, 0));
	assert_true(e->updated == utc(2025, 8, 12, 11, 0, 0));
	assert_string_equal(e->author, "Wang");
	assert_int_equal(e->n_categories, 2);
	assert_string_equal(e->enclosures[0], "https://feeds.example.org/news/a.mp3 audio/mpeg 100");
	assert_string_equal(e->lang, "zh");
	e = &g->e[1];
	assert_string_equal(e->id, "2");
	assert_string_equal(e->content, "text only");
	assert_string_equal(e->author, "Feed Person");
	assert_true(g->res.bozo);     /* the string item */
	got_free(g);

	g = parse("{\"version\": \"https://jsonfeed.org/version/1\", \"title\": \"Old\","
	          " \"author\": {\"name\": \"One\"}, \"items\": [{\"id\": \"a\"}]}", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_JSON10);
	assert_string_equal(g->e[0].author, "One");
	got_free(g);

	g = parse("{\"hello\": \"world\"}", "application/json");
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.not_feed);
	got_free(g);
}

static void test_dates(void **ts)
{
	(void)ts;
	const int64_t t0 = utc(2003, 6, 10, 4, 0, 0);
	static const struct {
		const char *text;
		int y, mo, d, h, mi, s;
	} ok[] = {
		{ "Tue, 10 Jun 2003 04:00:00 GMT", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 04:00:00 +0000", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 00:00:00 -0400", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 00:00:00 EDT", 2003, 6, 10, 4, 0, 0 },
		{ "Mon, 09 Jun 2003 23:00:00 EST", 2003, 6, 10, 4, 0, 0 },
		{ "Mon, 09 Jun 2003 21:00:00 PDT", 2003, 6, 10, 4, 0, 0 },
		{ "Mon, 09 Jun 2003 20:00:00 PST", 2003, 6, 10, 4, 0, 0 },
		{ "Mon, 09 Jun 2003 22:00:00 CST", 2003, 6, 10, 4, 0, 0 },
		{ "Mon, 09 Jun 2003 22:00:00 MDT", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 03 04:00:00 GMT", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 04:00 GMT", 2003, 6, 10, 4, 0, 0 },
		{ "tue, 10 jun 2003 04:00:00 gmt", 2003, 6, 10, 4, 0, 0 },
		{ "Tue,  10  Jun  2003   04:00:00   GMT ", 2003, 6, 10, 4, 0, 0 },
		{ "Tue 10 Jun 2003 04:00:00 UT", 2003, 6, 10, 4, 0, 0 },
		{ "10 Jun 2003 04:00:00 Z", 2003, 6, 10, 4, 0, 0 },
		{ "Tuesday, 10 June 2003 04:00:00 GMT", 2003, 6, 10, 4, 0, 0 },
		{ "Wed, 10 Jun 2003 04:00:00 GMT", 2003, 6, 10, 4, 0, 0 },   /* wrong weekday */
		{ "Tue, 10 Jun 2003 12:00:00 +08:00", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 06:00:00 CEST", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 04:00:00", 2003, 6, 10, 4, 0, 0 },       /* no zone: UTC */
		{ "Tue, 10-Jun-2003 04:00:00 GMT", 2003, 6, 10, 4, 0, 0 },
		{ "Jun 10 2003 04:00:00 GMT", 2003, 6, 10, 4, 0, 0 },
		{ "Tue Jun 10 04:00:00 2003", 2003, 6, 10, 4, 0, 0 },        /* asctime */
		{ "Tue, 10 Jun 2003 04:00:00 GMT+0000", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 04:00:00 +0000 (UTC)", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Sept 2003 04:00:00 GMT", 2003, 9, 10, 4, 0, 0 },
		{ "Sun, 31 Dec 99 23:59:59 GMT", 1999, 12, 31, 23, 59, 59 },
		{ "Sat, 18 Apr 2021 12:54:19 EDT", 2021, 4, 18, 16, 54, 19 },
		{ "2003-06-10T04:00:00Z", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10T04:00:00.123456Z", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10T06:00:00+02:00", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10T00:00:00-0400", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10t04:00:00z", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10 04:00:00", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10T04:00Z", 2003, 6, 10, 4, 0, 0 },
		{ "2003-06-10", 2003, 6, 10, 0, 0, 0 },
		{ "2003-06", 2003, 6, 1, 0, 0, 0 },
		{ "2003", 2003, 1, 1, 0, 0, 0 },
		{ "20030610T040000Z", 2003, 6, 10, 4, 0, 0 },
		{ "2021-02-24T16:31:21-05:00", 2021, 2, 24, 21, 31, 21 },
		{ "2016-12-31T23:59:60Z", 2017, 1, 1, 0, 0, 0 },             /* leap second */
		{ "  2003-06-10T04:00:00Z\n", 2003, 6, 10, 4, 0, 0 },
		{ "Tue, 10 Jun 2003 4:00:00 am GMT", 2003, 6, 10, 4, 0, 0 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t want = utc(ok[i].y, ok[i].mo, ok[i].d, ok[i].h, ok[i].mi, ok[i].s);
		int64_t got = feed_parse_date(ok[i].text);
		if (got != want)
			fail_msg("\"%s\": got %lld, want %lld", ok[i].text, (long long)got,
			         (long long)want);
	}
	(void)t0;
	static const char *const bad[] = {
		"", "   ", "yesterday", "Tue, 32 Jun 2003 04:00:00 GMT", "Tue, 10 Foo 2003 04:00:00 GMT",
		"2003-02-29T00:00:00Z", "2003-13-01", "2003-06-10T25:00:00Z",
		"Tue, 10 Jun 2003 04:00:00 XYZ", "Tue, 10 Jun 2003 04:00:00 IST", "10/06/2003",
		"2003-06-10T04:00:00+25:00", "1234567890", "Tue, 10 Jun 2003 04:61:00 GMT",
		"now", "0000-00-00 00:00:00", "Tue, 10 Jun 2003 04:00:00 GMT trailing words",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (feed_parse_date(bad[i]) != VIGIL_TIME_NONE)
			fail_msg("\"%s\" should be unparsable, got %lld", bad[i],
			         (long long)feed_parse_date(bad[i]));
	assert_true(feed_parse_date(NULL) == VIGIL_TIME_NONE);
}

static void check_html(const char *html, const char *want)
{
	char *got = feed_html_to_text(html, strlen(html));
	assert_non_null(got);
	if (strcmp(got, want))
		fail_msg("html %s\n got  [%s]\n want [%s]", html, got, want);
	free(got);
}

static void test_html_to_text(void **ts)
{
	(void)ts;
	check_html("<p>Hello <b>world</b></p>", "Hello world");
	check_html("<script>var a = '<p>no</p>';</script><style>p { x: y }</style>Visible", "Visible");
	check_html("Tom &amp; Jerry &eacute;t&eacute; &#x4E2D;&#25991; &nbsp;x", "Tom & Jerry été 中文 x");
	check_html("  lots \n\t of   space  ", "lots of space");
	check_html("<p>one</p><p>two</p><ul><li>a</li><li>b</li></ul>three<br>four",
	           "one\ntwo\na\nb\nthree\nfour");
	check_html("<table><tr><td>a</td><td>b</td></tr></table>", "a b");
	check_html("unclosed <b>bold <i>and", "unclosed bold and");
	check_html("<html><head><title>T</title></head><body>B</body></html>", "B");
	check_html("", "");
	/* the fallback content of object and iframe is what a reader sees */
	check_html("safe<object classid=\"clsid:C932\"> description", "safe description");
	check_html("safe<iframe src=\"http://example.com/\"> <b>description</b></iframe>",
	           "safe description");
	/* Invalid UTF-8 and NUL never pass */
	char *t = feed_html_to_text("a\xff" "b\0c", 5);
	assert_string_equal(t, "a\xEF\xBF\xBD" "bc");
	free(t);
	/* &#128;-&#159; are the Windows-1252 characters (feedparser's demoronize) */
	check_html("don&#146;t &#x96; &#150;&#133; &#129;", "don\u2019t \u2013 \u2013\u2026 \xC2\x81");
	check_html("<p>isn&#x92;t</p>", "isn\u2019t");
}

/*
 * The fast paths of feed_html_to_text() (text without markup; simple markup
 * read without a tree) against libxml2's tree: the same text, whether the
 * fast path takes the input or gives up on it. The answers are libxml2's.
 */
static void test_html_fast_path(void **ts)
{
	(void)ts;
	static const struct {
		const char *html, *want;
	} cases[] = {
		{ "plain  text\n with\tspace\xC2\xA0" "and nbsp", "plain text with space and nbsp" },
		{ "<p>one <b>two</b></p><p>three</p>", "one two\nthree" },
		{ "lead text<div>block</div>tail", "lead text\nblock\ntail" },     /* implied <p> */
		{ "<p>a<p>b<div>c</div>d", "a\nb\nc\nd" },                        /* <p> closes <p> */
		{ "<ul><li>a<li>b</ul>after", "a\nb\nafter" },
		{ "<b>x<p>y</p>z</b>", "x\ny\nz" },                                 /* <p> closes <b> */
		{ "<table><tr><td>a</td><td>b<tr><th>c</table>", "a b\nc" },
		{ "a<br>b<br/>c<hr>d<img src=x.png alt='a > b'>e", "a\nb\nc\nde" },
		{ "<a href=\"http://x/?a=1&amp;b=2\" title=t>link</a> &amp; &lt;tag&gt; &eacute;", "link & <tag> \u00e9" },
		{ "R&D & co &#65;&#x42;&#X43; &nbsp;x", "R&D & co ABC x" },
		{ "<figure><img src=a><figcaption>Cap</figcaption></figure>more", "Cap\nmore" },
		{ "<span>a</span> <span>b</span>", "a b" },
		{ "<P CLASS=\"x\">Upper</P >", "Upper" },
		{ "<p>unclosed <i>to the end", "unclosed to the end" },
		/* what the fast path leaves to libxml2 */
		{ "<p>a</b>b</p>", "ab" },
		{ "x <script>no</script> y", "x y" },
		{ "a &bogus; b &amp c", "a &bogus; b &amp c" },
		{ "<!-- c -->text<![CDATA[x]]>", "text<![CDATA[x]]>" },     /* HTML has no CDATA */
		{ "1 < 2 and 3 > 2", "1 < 2 and 3 > 2" },
		{ "<td>cell</td><td>two", "cell two" },
		{ "\xEF\xBB\xBF<p>bom</p>", "bom" },     /* libxml2 drops a leading BOM */
	};
	/* (text without markup has always kept it: the one difference from the tree) */
	check_html("\xEF\xBB\xBF" "plain", "\xEF\xBB\xBF" "plain");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		check_html(cases[i].html, cases[i].want);
		char *tree = feed_html_to_text_tree(cases[i].html, strlen(cases[i].html));
		assert_non_null(tree);
		if (strcmp(tree, cases[i].want))
			fail_msg("libxml2's tree: html %s\n got  [%s]\n want [%s]", cases[i].html, tree,
			         cases[i].want);
		free(tree);
	}
}

/* A one-item RSS document in `charset`, the title given as raw bytes. */
static char *rss_bytes(const char *decl, const char *title, size_t *len)
{
	char *s = fmt("<?xml version=\"1.0\" encoding=\"%s\"?><rss version=\"2.0\"><channel>"
	              "<title>t</title><item><title>%s</title></item></channel></rss>", decl, title);
	*len = strlen(s);
	return s;
}

static void expect_title(const char *body, size_t len, const char *ct, const char *want)
{
	struct got *g = parse_n(body, len, ct, URL, 0);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 1);
	if (strcmp(g->e[0].title, want))
		fail_msg("title [%s], want [%s]", g->e[0].title, want);
	got_free(g);
}

static void test_encodings(void **ts)
{
	(void)ts;
	size_t len;
	char *b;
	/* Windows-1252 labelled ISO-8859-1: curly quotes, euro, e acute */
	b = rss_bytes("ISO-8859-1", "\x93" "Caf\xE9\x94 \x80" "5", &len);
	expect_title(b, len, NULL, "\u201cCaf\u00e9\u201d \u20ac5");
	expect_title(b, len, "text/xml; charset=iso-8859-1", "\u201cCaf\u00e9\u201d \u20ac5");
	free(b);
	/* GB2312 (read as GB18030): 深度求索 */
	b = rss_bytes("GB2312", "\xC9\xEE\xB6\xC8\xC7\xF3\xCB\xF7", &len);
	expect_title(b, len, NULL, "深度求索");
	/* the HTTP charset wins over the declaration */
	free(b);
	b = rss_bytes("UTF-8", "\xC9\xEE\xB6\xC8\xC7\xF3\xCB\xF7", &len);
	expect_title(b, len, "application/rss+xml; charset=\"gbk\"", "深度求索");
	free(b);
	/* Big5: 臺灣 */
	b = rss_bytes("Big5", "\xBB\x4F\xC6\x57", &len);
	expect_title(b, len, NULL, "臺灣");
	free(b);
	/* Shift_JIS: 日本 */
	b = rss_bytes("Shift_JIS", "\x93\xFA\x96\x7B", &len);
	expect_title(b, len, NULL, "日本");
	free(b);
	/* UTF-8 labelled Latin-1 */
	b = rss_bytes("ISO-8859-1", "Caf\xC3\xA9", &len);
	expect_title(b, len, NULL, "Café");
	free(b);
	/* invalid UTF-8: repaired, never passed on */
	b = rss_bytes("UTF-8", "ok \xC3\xA9 bad \xFF\xC3 end", &len);
	struct got *g = parse_n(b, len, NULL, URL, 0);
	assert_int_equal(g->rc, 0);
	assert_true(g->res.bozo);
	assert_string_equal(g->e[0].title, "ok é bad \uFFFD\uFFFD end");
	got_free(g);
	free(b);

	/* UTF-16 with a BOM, in both byte orders, declaration and all */
	const char *u8 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel>"
	                 "<title>t</title><item><title>\xC3\x9C\xE2\x9C\x93</title></item></channel></rss>";
	for (int be = 0; be < 2; be++) {
		/* Ü = U+00DC, ✓ = U+2713: write UTF-16 by hand */
		size_t n = strlen(u8);
		unsigned char *u16 = calloc(2 * n + 2, 1);
		size_t o = 0;
		u16[o++] = be ? 0xFE : 0xFF;
		u16[o++] = be ? 0xFF : 0xFE;
		for (size_t i = 0; i < n; i++) {
			unsigned cp = (unsigned char)u8[i];
			if (cp == 0xC3) {
				cp = 0xDC;
				i++;
			} else if (cp == 0xE2) {
				cp = 0x2713;
				i += 2;
			}
			u16[o++] = be ? (unsigned char)(cp >> 8) : (unsigned char)cp;
			u16[o++] = be ? (unsigned char)cp : (unsigned char)(cp >> 8);
		}
		expect_title((const char *)u16, o, NULL, "Ü✓");
		free(u16);
	}

	/* UTF-8 goes to libxml2 unannounced, pushed 64 KiB at a time: a
	 * character cut where one piece ends, at every offset around the
	 * first boundary (and around 512 and 1024 bytes, where libxml2's
	 * xmlReader cut it) */
	for (size_t pad = 440; pad < 65600; pad += pad < 1100 ? 3 : pad < 65300 ? 64200 : 1) {
		char *filler = malloc(pad + 1);
		memset(filler, 'x', pad);
		filler[pad] = '\0';
		static char title[65700];
		snprintf(title, sizeof title, "%s\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", filler);
		b = rss_bytes("UTF-8", title, &len);
		expect_title(b, len, NULL, title);
		free(b);
		free(filler);
	}
	/* Latin-1 twice over: the kept converter starts afresh */
	for (int i = 0; i < 3; i++) {
		b = rss_bytes("ISO-8859-1", i == 1 ? "Caf\xE9 \x80" : "na\xEFve", &len);
		expect_title(b, len, NULL, i == 1 ? "Café €" : "naïve");
		free(b);
	}
	/* shorter than the four bytes libxml2 would guess an encoding from:
	 * the error names the element */
	g = parse_n("<g", 2, NULL, URL, 0);
	assert_true(g->rc < 0);
	assert_non_null(strstr(g->res.error, "<g>"));
	got_free(g);
}

/* Every string an entry carries, for "must not appear" checks. */
static bool anywhere(const struct got *g, const char *needle)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct got_entry *e = &g->e[i];
		const char *strings[] = {
			e->id, e->title, e->summary, e->content, e->author, e->link, e->summary_html,
			e->content_html,
		};
		for (size_t j = 0; j < sizeof strings / sizeof strings[0]; j++)
			if (strings[j] && strstr(strings[j], needle))
				return true;
	}
	return g->head_title && strstr(g->head_title, needle);
}

static void test_billion_laughs(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		"]>\n<rss version=\"2.0\"><channel><title>t</title><item><title>&lol9;</title>"
		"</item></channel></rss>\n", NULL);
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.hostile);
	assert_int_equal(g->n, 0);
	assert_non_null(strstr(g->res.error, "refused"));
	got_free(g);
}

static void test_external_entities(void **ts)
{
	(void)ts;
	static const char *const docs[] = {
		"<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
		"<rss version=\"2.0\"><channel><title>t</title><item><title>a &xxe; b</title>"
		"<description>&xxe;</description></item></channel></rss>",
		"<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
		"<rss version=\"2.0\"><channel><title>t</title><item><title>a</title></item>"
		"</channel></rss>",
		"<?xml version=\"1.0\"?><!DOCTYPE rss SYSTEM \"file:///etc/passwd\">"
		"<rss version=\"2.0\"><channel><title>t</title><item><title>a</title></item>"
		"</channel></rss>",
		"<?xml version=\"1.0\"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM \"http://127.0.0.1:1/x\">]>"
		"<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>&xxe;</title></entry></feed>",
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct got *g = parse(docs[i], NULL);
		assert_false(anywhere(g, "root:"));
		/* An entity that is used is refused; a DTD nobody loads is harmless. */
		if (i == 0 || i == 3) {
			assert_int_equal(g->rc, -EBADMSG);
			assert_true(g->res.hostile);
			assert_int_equal(g->n, 0);
		} else {
			assert_true(g->rc == 0 || g->rc == -EBADMSG);
		}
		got_free(g);
	}
}

static void test_deep_nesting(void **ts)
{
	(void)ts;
	const int depth = 10000;
	size_t cap = (size_t)depth * 12 + 256;
	char *doc = malloc(cap);
	size_t n = (size_t)sprintf(doc, "<rss version=\"2.0\"><channel><title>t</title><item>"
	                           "<title>a</title><description>");
	for (int i = 0; i < depth; i++)
		n += (size_t)sprintf(doc + n, "<d>");
	for (int i = 0; i < depth; i++)
		n += (size_t)sprintf(doc + n, "</d>");
	n += (size_t)sprintf(doc + n, "</description></item></channel></rss>");
	struct got *g = parse_n(doc, n, NULL, URL, 0);
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.hostile);
	assert_int_equal(g->n, 0);
	got_free(g);

	/* Our own limit is lower when asked */
	g = calloc(1, sizeof *g);
	struct feed_options opt = { .max_depth = 8 };
	struct feed_callbacks cb = { .head = got_head, .entry = got_entry };
	g->rc = feed_parse(doc, n, &opt, &cb, g, &g->res);
	assert_int_equal(g->rc, -EBADMSG);
	got_free(g);

	/* Escaped HTML nested 10,000 deep: bounded, no crash */
	n = (size_t)sprintf(doc, "<rss version=\"2.0\"><channel><title>t</title><item>"
	                    "<title>a</title><description>");
	for (int i = 0; i < depth; i++)
		n += (size_t)sprintf(doc + n, "&lt;b&gt;");
	n += (size_t)sprintf(doc + n, "x</description></item></channel></rss>");
	g = parse_n(doc, n, NULL, URL, 0);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 1);
	got_free(g);

	/* JSON nested 10,000 deep */
	n = (size_t)sprintf(doc, "{\"version\":\"https://jsonfeed.org/version/1.1\",\"x\":");
	for (int i = 0; i < depth; i++)
		doc[n++] = '[';
	for (int i = 0; i < depth; i++)
		doc[n++] = ']';
	doc[n++] = '}';
	g = parse_n(doc, n, NULL, URL, 0);
	assert_int_equal(g->rc, -EBADMSG);
	got_free(g);
	free(doc);
}

static void test_huge_item(void **ts)
{
	(void)ts;
	const size_t big = 50u << 20;
	const char *head = "<rss version=\"2.0\"><channel><title>t</title>"
	                   "<item><title>small</title></item><item><title>big</title><description>";
	const char *tail = "</description></item></channel></rss>";
	size_t n = strlen(head) + big + strlen(tail);
	char *doc = malloc(n + 1);
	memcpy(doc, head, strlen(head));
	memset(doc + strlen(head), 'x', big);
	memcpy(doc + strlen(head) + big, tail, strlen(tail) + 1);
	struct got *g = parse_n(doc, n, NULL, URL, 0);
	/* libxml2 refuses a 50 MB text node: an error, and nothing of the big item */
	assert_true(g->rc == -EMSGSIZE || g->rc == -EBADMSG);
	assert_true(g->n <= 1);
	got_free(g);

	/* 50 MB of many small elements inside one item: kept, but cut to a bound */
	char *p = doc + strlen(head);
	for (size_t i = 0; i + 8 <= big; i += 8)
		memcpy(p + i, "<p>x</p>", 8);
	memset(p + (big / 8) * 8, ' ', big - (big / 8) * 8);
	g = parse_n(doc, n, NULL, URL, 0);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 2);
	assert_non_null(g->e[1].summary);
	assert_true(strlen(g->e[1].summary_html) <= (4u << 20));
	got_free(g);
	free(doc);

	/* Past the document limit: -EMSGSIZE before any parsing */
	g = calloc(1, sizeof *g);
	g->rc = feed_parse("x", (size_t)65 << 20, NULL, NULL, NULL, &g->res);
	assert_int_equal(g->rc, -EMSGSIZE);
	got_free(g);
}

static void test_truncated_and_nul(void **ts)
{
	(void)ts;
	const char *full =
		"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>"
		"<item><title>one</title><link>https://e.example/1</link></item>"
		"<item><title>two</title><description>long text here</description></item>"
		"</channel></rss>";
	size_t len = strlen(full);
	/* Every prefix: an error or a bounded result, never a crash or a half entry */
	for (size_t cut = 0; cut < len; cut++) {
		struct got *g = parse_n(full, cut, NULL, URL, 0);
		assert_true(g->rc == 0 || g->rc == -EBADMSG);
		assert_true(g->n <= 2);
		if (g->rc == 0 && g->n > 0)
			assert_string_equal(g->e[0].title, "one");
		if (g->rc == 0 && cut < len - 20)
			assert_true(g->res.bozo);
		got_free(g);
	}
	/* NUL bytes, anywhere */
	const char nul[] = "<rss version=\"2.0\"><channel><title>t\0x</title><item><ti\0tle>o\0ne"
	                   "</title></item></channel></rss>";
	struct got *g = parse_n(nul, sizeof nul - 1, NULL, URL, 0);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->e[0].title, "one");
	assert_true(g->res.bozo);
	got_free(g);
	/* Binary garbage */
	char junk[4096];
	unsigned seed = 42;
	for (size_t i = 0; i < sizeof junk; i++) {
		seed = seed * 1103515245 + 12345;
		junk[i] = (char)(seed >> 16);
	}
	junk[0] = '<';
	g = parse_n(junk, sizeof junk, NULL, URL, 0);
	assert_true(g->rc == 0 || g->rc < 0);
	got_free(g);
}

static void test_not_feeds(void **ts)
{
	(void)ts;
	struct got *g = parse("<!DOCTYPE html>\n<html><head><title>Home</title></head><body>"
	                      "<p>Welcome</p></body></html>", "text/html");
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.html);
	assert_true(g->res.not_feed);
	got_free(g);
	g = parse("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", NULL);
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.not_feed);
	assert_false(g->res.html);
	assert_non_null(strstr(g->res.error, "svg"));
	got_free(g);
	g = parse("   ", NULL);
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.not_feed);
	got_free(g);
	g = parse("Just text", NULL);
	assert_int_equal(g->rc, -EBADMSG);
	assert_true(g->res.not_feed);
	got_free(g);
}

static void test_sloppy_xml(void **ts)
{
	(void)ts;
	/* Undeclared HTML entities and a bare ampersand, as feeds write them */
	struct got *g = parse("\n\n<rss version=\"2.0\"><channel><title>AT&T &mdash; news</title>"
	                      "<item><title>caf&eacute; &amp; more</title>"
	                      "<link>https://e.example/?a=1&b=2</link></item></channel></rss>", NULL);
	assert_int_equal(g->rc, 0);
	assert_true(g->res.bozo);
	assert_string_equal(g->head_title, "AT&T — news");
	assert_string_equal(g->e[0].title, "café & more");
	assert_string_equal(g->e[0].link, "https://e.example/?a=1&b=2");
	got_free(g);
	/* max_items stops early */
	g = parse_n("<rss><channel><title>t</title><item><title>1</title></item>"
	            "<item><title>2</title></item><item><title>3</title></item></channel></rss>",
	            strlen("<rss><channel><title>t</title><item><title>1</title></item>"
	                   "<item><title>2</title></item><item><title>3</title></item></channel></rss>"),
	            NULL, NULL, 2);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 2);
	got_free(g);
	/* javascript: links are dropped */
	g = parse("<rss version=\"2.0\"><channel><title>t</title><item><title>x</title>"
	          "<link>javascript:alert(1)</link></item></channel></rss>", NULL);
	assert_null(g->e[0].link);
	got_free(g);
}

/*
 * A feed with a mistake in the middle: every entry before it and after it
 * comes out (libxml2 recovers), and the error says where it was. 40 entries
 * of 100 bytes: the mistake is well past the first 512-byte piece and
 * entries stand on both sides of it in the same piece.
 */
static void test_recovery(void **ts)
{
	(void)ts;
	static const char *const mistakes[] = {
		"<title>t20</titl>",              /* a mismatched end tag */
		"<title>t20</title></bogus>",      /* an end tag with no start */
		"<title>t20</title><x a=\"1\" a=\"2\"/>", /* an attribute twice */
		"<title>t20 <b</title>",           /* a start tag cut short: libxml2 stops */
	};
	for (size_t m = 0; m < sizeof mistakes / sizeof mistakes[0]; m++) {
		struct fbuf doc = { 0 };
		fbuf_adds(&doc, "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel>"
		                "<title>Feed</title>\n");
		for (int i = 0; i < 40; i++) {
			char item[160];
			if (i == 20)
				snprintf(item, sizeof item, "<item>%s<guid>g%d</guid>"
				         "<description>words words words</description></item>\n",
				         mistakes[m], i);
			else
				snprintf(item, sizeof item, "<item><title>t%d</title><guid>g%d</guid>"
				         "<description>words words words</description></item>\n", i, i);
			fbuf_adds(&doc, item);
		}
		fbuf_adds(&doc, "</channel></rss>\n");
		struct got *g = parse(doc.p, NULL);
		assert_int_equal(g->rc, 0);
		assert_true(g->res.bozo);
		assert_non_null(strstr(g->res.error, "(line 23)"));
		/* t0..t39 each once (t20, where the mistake is, may lose its
		 * title); where libxml2 cannot go on, every entry before it */
		bool stops = m == 3;
		if (stops)
			assert_int_equal(g->n, 21);
		else
			assert_in_range(g->n, 40, 41);
		int seen[40] = { 0 };
		for (size_t i = 0; i < g->n; i++) {
			int k = -1;
			if (g->e[i].title && sscanf(g->e[i].title, "t%d", &k) == 1 && k >= 0 && k < 40)
				seen[k]++;
		}
		for (int k = 0; k < (stops ? 20 : 40); k++)
			if (k != 20)
				assert_int_equal(seen[k], 1);
		assert_string_equal(g->head_title, "Feed");
		got_free(g);
		fbuf_reset(&doc);
	}
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Atom text constructs in base64: Atom 0.3 mode="base64", Atom 1.0 media types. */
static void test_base64_text(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\">"
		"<title mode=\"base64\">\n  RmVlZCA8Yj5UPC9iPg==\n</title>"
		"<entry><title mode=\"base64\">RXhhbXBsZSA8Yj5BdG9tPC9iPg==</title>"
		"<content type=\"text/html\" mode=\"base64\">"
		"PGRpdj48YSBocmVmPSIvcmVsYXRpdmUvdXJpIj5jbGljayBoZXJlPC9hPjwvZGl2Pg==</content>"
		"</entry></feed>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->head_title, "Feed <b>T</b>");
	assert_string_equal(g->e[0].title, "Example <b>Atom</b>");
	assert_string_equal(g->e[0].content, "click here");
	assert_non_null(strstr(g->e[0].content_html, "<a href="));
	got_free(g);

	g = parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>"
	          "<title type=\"application/octet-stream\">RXhhbXBsZQ==</title>"
	          "<summary type=\"application/x-custom\">test</summary>"
	          "<content type=\"image/png\">iVBORw0KGgo=</content>"
	          "</entry></feed>", NULL);
	assert_int_equal(g->rc, 0);
	assert_string_equal(g->e[0].title, "Example");
	assert_string_equal(g->e[0].summary, "test");     /* not base64 text: as written */
	assert_null(g->e[0].content);                      /* binary: no text */
	got_free(g);

	/* An Atom source title is a text construct too (feedparser's
	 * entry_source_title_base64); RSS <source> text stays as written */
	g = parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><source>"
	          "<title type=\"application/octet-stream\">\n  RXhhbXBsZSA8Yj5BdG9tPC9iPg==\n"
	          "</title></source></entry></feed>", NULL);
	assert_int_equal(g->rc, 0);
	assert_string_equal(g->e[0].source_title, "Example <b>Atom</b>");
	got_free(g);
	g = parse("<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><entry><source>"
	          "<title mode=\"base64\">U291cmNl</title></source></entry></feed>", NULL);
	assert_string_equal(g->e[0].source_title, "Source");
	got_free(g);
	g = parse("<rss version=\"2.0\"><channel><item><source url=\"http://s/\">U291cmNl"
	          "</source></item></channel></rss>", NULL);
	assert_string_equal(g->e[0].source_title, "U291cmNl");
	got_free(g);
}

/*
 * The feed's title after its entries: read by a pre-pass, which is skipped
 * when nothing but entries follows the first one (comments, CDATA and
 * attribute values that look like elements are not elements).
 */
static void test_head_prepass(void **ts)
{
	(void)ts;
	static const struct {
		const char *doc, *title;
		size_t n;
	} cases[] = {
		{ "<rss><channel><item><title>a</title></item><title>Late</title></channel></rss>",
		  "Late", 1 },
		{ "<rss><item><title>a</title></item><channel><title>After</title></channel></rss>",
		  "After", 1 },
		{ "<rss><channel><item><title>a</title></item><item><title>b</title></item>"
		  "</channel></rss>", NULL, 2 },
		{ "<rss><channel><item><title>a</title></item><!-- <title>no</title> -->"
		  "<item a='/>title>'><description><![CDATA[<title>no</title>]]></description>"
		  "</item><?pi <title>?></channel></rss>", NULL, 2 },
		{ "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>e</title></entry>"
		  "<title>Atom late</title></feed>", "Atom late", 1 },
		{ "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
		  " xmlns=\"http://purl.org/rss/1.0/\"><item><title>i</title></item>"
		  "<channel><title>RDF late</title></channel></rdf:RDF>", "RDF late", 1 },
		{ "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY t \"x\">]><rss><channel>"
		  "<item><title>&t;</title></item><title>DTD</title></channel></rss>", "DTD", 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct got *g = parse(cases[i].doc, NULL);
		assert_int_equal(g->rc, 0);
		assert_int_equal(g->n, cases[i].n);
		assert_int_equal(g->heads, 1);
		if (cases[i].title) {
			assert_string_equal(g->head_title, cases[i].title);
			assert_string_equal(g->e[0].feed_title, cases[i].title);
		} else {
			assert_null(g->head_title);
		}
		got_free(g);
	}
	/* The pre-pass skips entries: an entry's xml:base ends with it and
	 * does not reach the head's link after it. */
	struct got *g = parse("<rss><channel><item xml:base=\"http://other.example/x/\">"
	                      "<title>a</title></item><link>rel/home</link><title>T</title>"
	                      "</channel></rss>", NULL);
	assert_int_equal(g->rc, 0);
	assert_string_equal(g->head_title, "T");
	assert_string_equal(g->head_link, "https://feeds.example.org/news/rel/home");
	got_free(g);
}

/*
 * The same, on generated HTML: nested elements the fast path reads, some
 * left open or closed implicitly, with now and then something it leaves to
 * libxml2 (a comment, a script, an unknown entity). The fuzz harness
 * compares the two paths too.
 */
static void test_html_fast_path_generated(void **ts)
{
	(void)ts;
	static const char *const names[] = {
		"p", "b", "i", "a", "div", "ul", "ol", "li", "h1", "h3", "em", "strong", "span",
		"blockquote", "small", "u", "s", "tt", "big", "font", "code", "sub", "sup", "table",
		"tr", "td", "th", "tbody", "figure", "section",
	};
	static const char *const texts[] = {
		"word", " ", "\n", "two words", "&amp;", "&lt;b&gt;", "&nbsp;", "\xC3\xA9", "  x\t",
		"&#8217;", "&#150;", "& ", "<br>", "<hr>", "<img src=x>", "<br/>", "\xC2\xA0",
		"<p/>", "</p>", "<!-- c -->", "&bogus;", "<script>x</script>", "< ", "&#0;",
	};
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	size_t with_markup = 0;   /* inputs with markup (the generator works) */
	for (int it = 0; it < 20000; it++) {
		char html[2048];
		size_t len = 0;
		int open[32], depth = 0;
		unsigned n = 1 + (unsigned)(rng % 24);
		for (unsigned i = 0; i < n && len < sizeof html - 64; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			unsigned k = (unsigned)(rng % 10), pick = (unsigned)(rng >> 32);
			if (k < 4 && depth < 30) {
				int t = (int)(pick % (sizeof names / sizeof names[0]));
				len += (size_t)snprintf(html + len, sizeof html - len,
				                        pick & 0x100 ? "<%s>" : "<%s class=\"c\">", names[t]);
				open[depth++] = t;
			} else if (k < 7 && depth > 0) {
				depth--;
				if (pick & 0x300)       /* now and then left open */
					len += (size_t)snprintf(html + len, sizeof html - len, "</%s>",
					                        names[open[depth]]);
			} else {
				/* mostly text and references the fast path reads */
				size_t nt = sizeof texts / sizeof texts[0];
				size_t t = pick % 8 ? pick % (nt - 6) : pick % nt;
				len += (size_t)snprintf(html + len, sizeof html - len, "%s", texts[t]);
			}
		}
		char *a = feed_html_to_text(html, len);
		char *b = feed_html_to_text_tree(html, len);
		assert_non_null(a);
		assert_non_null(b);
		if (strcmp(a, b))
			fail_msg("html %.*s\n fast [%s]\n tree [%s]", (int)len, html, a, b);
		with_markup += strchr(html, '<') && !strstr(html, "<!") && !strstr(html, "<script");
		free(a);
		free(b);
	}
	assert_true(with_markup > 1000);
}

/* Atom content of an XML type: the text of its elements, one apart from the next. */
static void test_xml_content(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>t</title>"
		"<content type=\"text/xml\"><accession-number>0001-21-1</accession-number>"
		"<filing-date>2021-02-24</filing-date><filing-type>10-K</filing-type></content>"
		"<summary type=\"application/atom+xml\"><a>one<b>two</b></a>three</summary>"
		"</entry></feed>", NULL);
	assert_int_equal(g->rc, 0);
	assert_string_equal(g->e[0].content, "0001-21-1 2021-02-24 10-K");
	assert_string_equal(g->e[0].content_type, "text/xml");
	assert_string_equal(g->e[0].summary, "one two three");
	got_free(g);

	/* escaped HTML with Windows-1252 references (feedparser's demoronize-3) */
	g = parse("<rss version=\"2.0\"><channel><item><description>don&amp;#146;t"
	          "</description></item></channel></rss>", NULL);
	assert_string_equal(g->e[0].summary, "don\u2019t");
	assert_string_equal(g->e[0].summary_html, "don&#146;t");
	got_free(g);
}

/* RSS as feedparser reads it: body/fullitem, summary and description, tags,
 * iTunes and Media RSS fallbacks, authors written "name (email)". */
static void test_rss_extensions(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\""
		" xmlns:itunes=\"http://www.itunes.com/DTDs/Podcast-1.0.dtd\""
		" xmlns:media=\"http://search.yahoo.com/mrss\"><channel><TiTlE>T</TiTlE>"
		"<item><body>safe<applet code=\"x\"></applet> description</body></item>"
		"<item><fullitem>&lt;p&gt;Full&lt;/p&gt;</fullitem>"
		"<summary>S</summary><description>D</description>"
		"<tags>tag one, tag two</tags><category>c</category>"
		"<itunes:category text=\"Technology\"><itunes:category text=\"Gadgets\"/>"
		"</itunes:category><media:category>m</media:category>"
		"<dc:creator>Example editor (me@example.com)</dc:creator>"
		"<dc:creator>Second Author</dc:creator>"
		"<enclosure url=\"http://example.com/a.mp3\" length=\"10\" type=\"audio/mpeg\"/>"
		"<link>http://example.com/a.mp3</link></item>"
		"<item><media:title>bar</media:title><itunes:author>Mark</itunes:author></item>"
		"</channel></rss>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 3);
	assert_string_equal(g->e[0].feed_title, "T");
	assert_string_equal(g->e[0].content, "safe description");
	/* the first of summary/description is the summary, the second the content */
	assert_string_equal(g->e[1].summary, "S");
	assert_string_equal(g->e[1].content, "Full");
	assert_int_equal(g->e[1].n_categories, 6);
	assert_string_equal(g->e[1].categories[0], "tag one");
	assert_string_equal(g->e[1].categories[1], "tag two");
	assert_true(has(g->e[1].categories, g->e[1].n_categories, "Gadgets"));
	assert_true(has(g->e[1].categories, g->e[1].n_categories, "m"));
	assert_int_equal(g->e[1].n_people, 2);
	assert_string_equal(g->e[1].people[0], "Example editor|me@example.com|");
	assert_string_equal(g->e[1].people[1], "Second Author||");
	/* the enclosure is a link too; the alternate link still wins */
	assert_string_equal(g->e[1].links[0], "enclosure http://example.com/a.mp3");
	assert_string_equal(g->e[1].link, "http://example.com/a.mp3");
	assert_int_equal(g->e[1].n_enclosures, 1);
	assert_string_equal(g->e[2].title, "bar");
	assert_string_equal(g->e[2].author, "Mark");
	got_free(g);

	g = parse("<rss version=\"2.0\"><channel><item><summary>S</summary>"
	          "<description>D</description></item></channel></rss>", NULL);
	assert_string_equal(g->e[0].summary, "S");
	assert_string_equal(g->e[0].content, "D");
	got_free(g);

	/* description and dc:description do not make one of them the content */
	g = parse("<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\""
	          " xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel><item>"
	          "<description>D</description><dc:description>D</dc:description>"
	          "<content:encoded>&lt;p&gt;C&lt;/p&gt;</content:encoded></item></channel></rss>",
	          NULL);
	assert_string_equal(g->e[0].summary, "D");
	assert_string_equal(g->e[0].content, "C");
	got_free(g);
}

/* Atom entry documents, RSS 1.1, Atom's old namespaces, person homepage, ids. */
static void test_other_roots(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<entry xmlns=\"http://www.w3.org/2005/Atom\"><title>One</title>"
		"<id>/2004/entry/1</id><updated>2010-12-01T10:14:55Z</updated>"
		"<updated>2003-12-31T10:14:55Z</updated></entry>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_ATOM10);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->e[0].title, "One");
	/* a relative path id is resolved; the last of two dates counts */
	assert_string_equal(g->e[0].id, "https://feeds.example.org/2004/entry/1");
	assert_true(g->e[0].updated == utc(2003, 12, 31, 10, 14, 55));
	got_free(g);

	g = parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>t3_42tizy</id>"
	          "</entry></feed>", NULL);
	assert_string_equal(g->e[0].id, "t3_42tizy");     /* a token, not a path */
	got_free(g);

	g = parse("<Channel xmlns=\"http://purl.org/net/rss1.1#\""
	          " xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" rdf:about=\"http://x/\">"
	          "<title>XML.com</title><link>http://xml.com/pub</link>"
	          "<items rdf:parseType=\"Collection\"><item rdf:about=\"http://x/1\"><title>I</title>"
	          "<link>http://x/1</link></item></items></Channel>", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->e[0].title, "I");
	assert_string_equal(g->e[0].feed_title, "XML.com");
	got_free(g);

	g = parse("<feed version=\"0.3\" xmlns=\"http://purl.org/pie/\"><title>Pie</title>"
	          "<entry><title>E</title><author><name>A</name><homepage>http://a.example/"
	          "</homepage></author><link rel=\"enclosure\" type=\"text/html\">http://x/e</link>"
	          "<link rel=\"alternate\" type=\"text/html\">http://x/a</link></entry></feed>", NULL);
	assert_int_equal(g->rc, 0);
	assert_string_equal(g->e[0].feed_title, "Pie");
	assert_string_equal(g->e[0].people[0], "A||http://a.example/");
	assert_string_equal(g->e[0].link, "http://x/a");
	assert_int_equal(g->e[0].n_enclosures, 1);
	got_free(g);
}

/* What sloppy documents mean: an XHTML DOCTYPE before a feed, undefined
 * entities, &#X41;, Windows-1252 in C1 controls, a truncated head, JSON Feed
 * versions written as numbers. */
static void test_sloppy_more(void **ts)
{
	(void)ts;
	struct got *g = parse(
		"<?xml version=\"1.0\" encoding=\"utf-8\"?><!DOCTYPE html PUBLIC "
		"\"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://site.invalid/\">\n"
		"<rss><channel><title>found &doesnotexist; &#X41;</title>"
		"<item><title>don\xc2\x92t &#146;</title></item></channel></rss>", NULL);
	assert_int_equal(g->rc, 0);
	assert_false(g->res.html);
	assert_string_equal(g->head_title, "found &doesnotexist; A");
	assert_string_equal(g->e[0].title, "don\xe2\x80\x99t \xe2\x80\x99");
	got_free(g);

	g = parse("<feed xmlns=\"http://www.w3.org/2005/Atom\">"
	          "<link rel=\"alternate\" href=\"http://domain/?a=1&amp;b=2\" />\n</feed", NULL);
	assert_int_equal(g->rc, 0);
	assert_true(g->res.bozo);
	assert_string_equal(g->head_link, "http://domain/?a=1&b=2");
	got_free(g);

	/* an HTML page is still one */
	g = parse("<!DOCTYPE html><html><body><p>hi</p></body></html>", NULL);
	assert_true(g->rc < 0);
	assert_true(g->res.html);
	got_free(g);

	g = parse("{\"version\": \"1.1\", \"title\": \"J\", \"items\": [{\"id\": \"1\","
	          " \"content_text\": \"x\"}]}", NULL);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_JSON11);
	assert_int_equal(g->n, 1);
	got_free(g);
}

static void test_sec_edgar(void **ts)
{
	(void)ts;
	size_t len;
	char *doc = read_file(SEC_DIR "/getcompany_CIK-AAPL_all_count40.atom.xml", &len);
	if (!doc)
		skip();
	struct got *g = parse_n(doc, len, "application/atom+xml",
	                        "https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK=AAPL"
	                        "&owner=exclude&type=&dateb=&start=0&count=40&output=atom", 0);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->res.format, FEED_ATOM10);
	assert_int_equal(g->n, 40);
	/* The title comes after the entries in EDGAR's documents, yet every item has it */
	assert_string_equal(g->head_title, "Apple Inc.  (0000320193)");
	struct got_entry *e = &g->e[0];
	assert_string_equal(e->feed_title, "Apple Inc.  (0000320193)");
	assert_string_equal(e->title, "8-K  - Current report");
	assert_string_equal(e->id, "urn:tag:sec.gov,2008:accession-number=0001193125-21-054710");
	assert_string_equal(e->link, "https://www.sec.gov/Archives/edgar/data/320193/"
	                    "000119312521054710/0001193125-21-054710-index.htm");
	assert_true(e->updated == utc(2021, 2, 24, 21, 31, 21));
	assert_string_equal(field(e, "form_type"), "8-K");
	assert_string_equal(field(e, "accession_number"), "0001193125-21-054710");
	assert_string_equal(field(e, "filing_date"), "2021-02-24");
	assert_string_equal(e->categories[0], "8-K");
	assert_string_equal(e->content_type, "text/xml");
	got_free(g);
	free(doc);

	doc = read_file(SEC_DIR "/getcurrent_latest_filings.atom.xml", &len);
	if (!doc)
		return;
	g = parse_n(doc, len, "application/atom+xml",
	            "https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent", 0);
	assert_int_equal(g->rc, 0);
	assert_int_equal(g->n, 40);
	assert_string_equal(g->head_link, "https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent");
	e = &g->e[0];
	assert_string_equal(field(e, "form_type"), "3/A");
	assert_string_equal(field(e, "accession_number"), "0001209191-21-027150");
	assert_string_equal(field(e, "filing_date"), "2021-04-16");
	assert_true(e->updated == utc(2021, 4, 17, 1, 53, 26));
	got_free(g);
	free(doc);
}

/* ---- the plugin through the mock host ---- */

struct fixture {
	struct mock_host *mh;
	void *state;
};

static int setup(void **ts)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->mh = mock_host_new("news", (const struct vigil_kv[]){
		{ "url", URL },
		{ NULL, NULL },
	});
	*ts = f;
	return 0;
}

static int teardown(void **ts)
{
	struct fixture *f = *ts;
	if (f->state)
		plugin->methods->destroy(f->state);
	assert_int_equal(mock_host_violations(f->mh), 0);
	mock_host_free(f->mh);
	free(f);
	return 0;
}

static const struct mock_poll_result *poll_with(struct fixture *f,
                                                const struct mock_response *resp)
{
	struct mock_response r = *resp;
	if (!r.url)
		r.url = URL;
	mock_host_add_response(f->mh, &r);
	if (!f->state)
		assert_int_equal(mock_host_create(f->mh, plugin, &f->state), 0);
	size_t before = mock_host_n_polls_done(f->mh);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	assert_int_equal(mock_host_n_polls_done(f->mh), before);
	mock_host_run(f->mh);
	assert_int_equal(mock_host_n_polls_done(f->mh), before + 1);
	return mock_host_poll_result(f->mh, before);
}

static void test_descriptor(void **ts)
{
	(void)ts;
	assert_string_equal(plugin->name, "rss");
	assert_int_equal(plugin->kind, VIGIL_PLUGIN_SOURCE);
	/* proxy, like user_agent and headers, is the host's (a source key of every plugin). */
	assert_int_equal(plugin->n_options, 4);
	static const char *const keys[] = { "url", "path", "max_items", "auth_file" };
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(plugin->options[i].key, keys[i]);
}

static const char FEED[] =
	"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>"
	"<item><title>R2 ships</title><link>/r2</link><guid>g1</guid>"
	"<description>&lt;p&gt;DeepSeek &lt;b&gt;R2&lt;/b&gt;&lt;/p&gt;</description>"
	"<pubDate>Tue, 12 Aug 2025 08:30:00 GMT</pubDate><category>AI</category></item>"
	"<item><title>H20 licences</title><guid>g2</guid></item>"
	"<item><title>Third</title><guid>g3</guid></item>"
	"</channel></rss>";

static void test_plugin_emits(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_with(f, &(struct mock_response){
		.url = URL, .status = 200, .body = FEED, .content_type = "application/rss+xml",
	});
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 3);
	const struct vigil_item *it = mock_host_item(f->mh, 0);
	assert_string_equal(it->title, "R2 ships");
	assert_string_equal(it->link, "https://feeds.example.org/r2");
	assert_string_equal(it->summary, "DeepSeek R2");
	assert_string_equal(it->feed_title, "Wire");
	assert_string_equal(it->id, "g1");
	assert_int_equal(it->n_categories, 1);
	assert_true(it->published == utc(2025, 8, 12, 8, 30, 0));
	const struct vigil_field *html = mock_item_field(it, "summary_html");
	assert_non_null(html);
	assert_string_equal(html->string, "<p>DeepSeek <b>R2</b></p>");

	const struct mock_request *req = mock_host_request(f->mh, 0);
	assert_true(req->flags & VIGIL_HTTP_CONDITIONAL);
	for (size_t i = 0; i < req->n_headers; i++)
		assert_string_not_equal(req->headers[i].key, "Authorization");
}

static void test_plugin_max_items_and_cap(void **ts)
{
	struct fixture *f = *ts;
	mock_host_set_option(f->mh, "max_items", "2");
	const struct mock_poll_result *r = poll_with(f, &(struct mock_response){
		.status = 200, .body = FEED,
	});
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), 2);

	mock_host_set_emit_limit(f->mh, 1);
	mock_host_set_option(f->mh, "max_items", "0");
	plugin->methods->destroy(f->state);
	f->state = NULL;
	r = poll_with(f, &(struct mock_response){ .status = 200, .body = FEED });
	assert_int_equal(r->error, -ENOSPC);
	assert_non_null(strstr(r->message, "max_items"));
}

static void test_plugin_http_messages(void **ts)
{
	struct fixture *f = *ts;
	const struct mock_poll_result *r = poll_with(f, &(struct mock_response){
		.status = 403, .body = "Forbidden",
	});
	assert_int_equal(r->error, -EIO);
	assert_string_equal(r->message, "HTTP 403 from " URL ": SEC EDGAR and some others refuse "
	                    "requests without a contact User-Agent; set user_agent: "
	                    "\"name contact@example.org\"");

	r = poll_with(f, &(struct mock_response){
		.status = 200, .body = "<!doctype html><html><body>Moved</body></html>",
		.content_type = "text/html; charset=utf-8",
	});
	assert_int_equal(r->error, -EBADMSG);
	assert_string_equal(r->message, "not a feed: the document is HTML (text/html; charset=utf-8)");

	r = poll_with(f, &(struct mock_response){
		.status = 200, .body = "{\"ok\": true}", .content_type = "application/json",
	});
	assert_int_equal(r->error, -EBADMSG);
	assert_non_null(strstr(r->message, "HTTP 200 but not a feed"));

	r = poll_with(f, &(struct mock_response){ .status = 200, .body = "" });
	assert_int_equal(r->error, -EBADMSG);
	assert_non_null(strstr(r->message, "HTTP 200 but not a feed"));

	r = poll_with(f, &(struct mock_response){
		.status = 200,
		.body = "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		        "<rss version=\"2.0\"><channel><title>t</title><item><title>&x;</title></item>"
		        "</channel></rss>",
	});
	assert_int_equal(r->error, -EBADMSG);
	assert_non_null(strstr(r->message, "external entit"));

	size_t items = mock_host_n_items(f->mh);
	r = poll_with(f, &(struct mock_response){ .status = 304, .not_modified = true });
	assert_int_equal(r->error, 0);
	assert_int_equal(mock_host_n_items(f->mh), items);

	r = poll_with(f, &(struct mock_response){
		.status = 0, .error = VIGIL_HTTP_E_TIMEOUT, .error_text = "timed out",
	});
	assert_int_equal(r->error, -EIO);
	assert_non_null(strstr(r->message, "timed out"));
}

static void test_plugin_auth_file(void **ts)
{
	struct fixture *f = *ts;
	char path[] = "/tmp/test-rss-auth-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "alice:s3cret\n", 13), 13);
	close(fd);
	mock_host_set_option(f->mh, "auth_file", path);
	const struct mock_poll_result *r = poll_with(f, &(struct mock_response){
		.status = 200, .body = FEED,
	});
	assert_int_equal(r->error, 0);
	const struct mock_request *req = mock_host_request(f->mh, 0);
	bool found = false;
	for (size_t i = 0; i < req->n_headers; i++) {
		if (!strcmp(req->headers[i].key, "Authorization")) {
			assert_string_equal(req->headers[i].value, "Basic YWxpY2U6czNjcmV0");
			found = true;
		}
	}
	assert_true(found);
	for (size_t i = 0; i < mock_host_n_logs(f->mh); i++)
		assert_null(strstr(mock_host_log(f->mh, i)->text, "s3cret"));
	unlink(path);

	/* a missing or malformed file fails create, saying which file */
	struct mock_host *mh = mock_host_new("x", (const struct vigil_kv[]){
		{ "url", URL }, { "auth_file", "/nonexistent/auth" }, { NULL, NULL } });
	void *state = NULL;
	assert_true(mock_host_create(mh, plugin, &state) < 0);
	assert_non_null(mock_host_find_log(mh, VIGIL_LOG_ERROR, "/nonexistent/auth"));
	mock_host_free(mh);
}

static void test_plugin_bad_options(void **ts)
{
	(void)ts;
	void *state = NULL;
	struct mock_host *mh = mock_host_new("x", (const struct vigil_kv[]){ { NULL, NULL } });
	assert_int_equal(mock_host_create(mh, plugin, &state), -EINVAL);
	mock_host_free(mh);

	mh = mock_host_new("x", (const struct vigil_kv[]){
		{ "url", URL }, { "max_items", "-1" }, { NULL, NULL } });
	assert_int_equal(mock_host_create(mh, plugin, &state), -EINVAL);
	mock_host_free(mh);
}

static void test_plugin_path(void **ts)
{
	(void)ts;
	struct mock_host *mh = mock_host_new("x", (const struct vigil_kv[]){
		{ "path", "/srv/feeds/my feed.xml" }, { NULL, NULL } });
	void *state = NULL;
	assert_int_equal(mock_host_create(mh, plugin, &state), 0);
	mock_host_add_response(mh, &(struct mock_response){
		.url = "file:///srv/feeds/my%20feed.xml", .status = 200, .body = FEED });
	assert_int_equal(mock_host_poll(mh, plugin, state), 0);
	mock_host_run(mh);
	assert_int_equal(mock_host_poll_result(mh, 0)->error, 0);
	assert_int_equal(mock_host_n_items(mh), 3);
	plugin->methods->destroy(state);
	assert_int_equal(mock_host_violations(mh), 0);
	mock_host_free(mh);
}

static void test_plugin_destroy_cancels(void **ts)
{
	struct fixture *f = *ts;
	mock_host_add_response(f->mh, &(struct mock_response){ .url = URL, .status = 200,
	                                                        .body = FEED });
	assert_int_equal(mock_host_create(f->mh, plugin, &f->state), 0);
	assert_int_equal(mock_host_poll(f->mh, plugin, f->state), 0);
	plugin->methods->destroy(f->state);
	f->state = NULL;
	assert_true(mock_host_request(f->mh, 0)->cancelled);
}

static int group_setup(void **ts)
{
	(void)ts;
	plugin = mock_load_plugin("rss", plugin_dir_arg);
	return plugin ? 0 : -1;
}

int main(int argc, char **argv)
{
	plugin_dir_arg = argc > 1 ? argv[1] : NULL;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rss20),
		cmocka_unit_test(test_guid_permalink),
		cmocka_unit_test(test_atom10),
		cmocka_unit_test(test_two_titles),
		cmocka_unit_test(test_atom03),
		cmocka_unit_test(test_rdf),
		cmocka_unit_test(test_json_feed),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_html_to_text),
		cmocka_unit_test(test_html_fast_path),
		cmocka_unit_test(test_html_fast_path_generated),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_external_entities),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_huge_item),
		cmocka_unit_test(test_truncated_and_nul),
		cmocka_unit_test(test_not_feeds),
		cmocka_unit_test(test_sloppy_xml),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_base64_text),
		cmocka_unit_test(test_xml_content),
		cmocka_unit_test(test_head_prepass),
		cmocka_unit_test(test_rss_extensions),
		cmocka_unit_test(test_other_roots),
		cmocka_unit_test(test_sloppy_more),
		cmocka_unit_test(test_sec_edgar),
		cmocka_unit_test(test_descriptor),
		T(test_plugin_emits),
		T(test_plugin_max_items_and_cap),
		T(test_plugin_http_messages),
		T(test_plugin_auth_file),
		cmocka_unit_test(test_plugin_bad_options),
		cmocka_unit_test(test_plugin_path),
		T(test_plugin_destroy_cancels),
	};
#undef T
	return cmocka_run_group_tests_name("plugin-rss", tests, group_setup, NULL);
}
