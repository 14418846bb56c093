/* parse.c - benchmark: the feed parser over the conformance corpora and a 10,000-item feed,
 * beside Python's feedparser (the usual tool) and libxml2's bare streaming reads (the floor) */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include "feed.h"

/*
 * Usage: bench-parse [--no-python] [--items N] [DIR...]
 *
 * DIR defaults to the conformance corpora ($VIGIL_SHARED_DIR/conformance,
 * else $VIGIL_SOURCE_ROOT/../shared/conformance, else ../shared/conformance).
 * The feeds there (*.xml, *.rss, *.atom, *.rdf and the JSON Feed inputs; not
 * the expectation files) are read into memory first; then, for each of two
 * sets (the corpora; one generated RSS 2.0 feed of N = 10,000 items), four
 * readers run over the same bytes:
 *   vigil      feed_parse with an entry callback that touches the item;
 *   libxml2    xmlReaderForMemory + xmlTextReaderRead to the end (JSON files:
 *              jansson's json_loadb) - what a parser on libxml2's streaming
 *              reader (as vigil's was until 2026-11-29) must pay;
 *   libxml2-sax libxml2's SAX2 push parser over the whole body with callbacks
 *              that do nothing (JSON: as above) - what any libxml2-based
 *              parser must pay, vigil's included: the floor of the target;
 *   feedparser Python's feedparser.parse(bytes) over the same files, timed
 *              inside one python3 process (startup excluded; /usr/bin/python3,
 *              where Debian's python3-feedparser is, or $PYTHON).
 * Items/s counts each reader's own entries (the floors: vigil's count); MB/s the
 * input bytes. The C readers repeat until 2 s have passed (at least 3 runs).
 */

#define MIN_SECONDS 2.0
#define MIN_REPS 3

struct input {
	char *path;
	char *data;
	size_t len;
	bool json;
};

struct set {
	const char *name;
	struct input *in;
	size_t n;
	size_t bytes;
};

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0, got;
	char *buf = xrealloc(NULL, cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void set_add(struct set *s, char *path, char *data, size_t len, bool json)
{
	s->in = xrealloc(s->in, (s->n + 1) * sizeof(*s->in));
	s->in[s->n++] = (struct input){ .path = path, .data = data, .len = len, .json = json };
	s->bytes += len;
}

/* Is this file a feed input (and not an expectation or golden output)? */
static int feed_kind(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!fnmatch("*.xml", base, 0) || !fnmatch("*.rss", base, 0) ||
	    !fnmatch("*.atom", base, 0) || !fnmatch("*.rdf", base, 0))
		return 1;
	if (fnmatch("*.json", base, 0) || fnmatch("*_expected.json", base, 0) == 0)
		return 0;
	/* JSON Feed inputs only */
	if (strstr(path, "/jsonfeed-spec/v1.") || strstr(path, "/feedparser/json/") ||
	    (strstr(path, "/gofeed/testdata/") && strstr(path, "/json/") && !strstr(path, "/invalid/")))
		return 2;
	return 0;
}

static int cmp_input(const void *a, const void *b)
{
	return strcmp(((const struct input *)a)->path, ((const struct input *)b)->path);
}

static void scan(struct set *s, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			exit(2);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			scan(s, p);
			free(p);
			continue;
		}
		int kind = feed_kind(p);
		size_t len;
		char *data = kind ? read_whole(p, &len) : NULL;
		if (data)
			set_add(s, p, data, len, kind == 2);
		else
			free(p);
	}
	closedir(d);
}

/* --- the generated feed ------------------------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const words[] = {
	"export", "licence", "regulator", "chip", "quarterly", "filing", "market", "model",
	"release", "security", "update", "council", "notice", "agency", "data", "centre",
	"&amp;", "growth", "revenue", "policy", "Beijing", "Washington", "Brussels", "AI",
};

static void words_into(char *buf, size_t cap, unsigned n)
{
	size_t len = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < n && len + 16 < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "",
		                        words[rnd(sizeof(words) / sizeof(words[0]))]);
}

static char *generate_rss(unsigned items, size_t *len)
{
	size_t cap = (size_t)items * 1024 + 4096, n = 0;
	char *buf = xrealloc(NULL, cap);
	char title[256], para[600];
	n += (size_t)snprintf(buf + n, cap - n,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
		"xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n<channel>\n"
		"<title>Generated benchmark feed</title>\n<link>https://bench.example/</link>\n"
		"<description>%u generated items</description>\n<language>en</language>\n", items);
	for (unsigned i = 0; i < items; i++) {
		words_into(title, sizeof(title), 8 + rnd(6));
		words_into(para, sizeof(para), 40 + rnd(30));
		unsigned day = 1 + i % 28, hh = i % 24, mm = i % 60;
		n += (size_t)snprintf(buf + n, cap - n,
			"<item>\n<title>%s %u</title>\n<link>https://bench.example/items/%u</link>\n"
			"<guid isPermaLink=\"false\">urn:bench:%u</guid>\n"
			"<pubDate>Tue, %02u Nov 2026 %02u:%02u:00 +0000</pubDate>\n"
			"<dc:creator>Reporter %u</dc:creator>\n<category>cat%u</category>\n"
			"<description>&lt;p&gt;%s&lt;/p&gt;</description>\n</item>\n",
			title, i, i, i, day, hh, mm, i % 50, i % 20, para);
		if (cap - n < 2048) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	n += (size_t)snprintf(buf + n, cap - n, "</channel>\n</rss>\n");
	*len = n;
	return buf;
}

/* --- the readers -------------------------------------------------------- */

static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static volatile size_t sink;

static int on_entry(void *userdata, const struct feed_head *head, const struct feed_entry *e)
{
	size_t *items = userdata;
	(*items)++;
	sink += e->item.title ? (size_t)e->item.title[0] : 0;
	return 0;
}

static size_t run_vigil(const struct set *s)
{
	const struct feed_callbacks cb = { .entry = on_entry };
	const struct feed_options opt = { 0 };
	size_t items = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct feed_result res;
		feed_parse(s->in[i].data, s->in[i].len, &opt, &cb, &items, &res);
	}
	return items;
}

static size_t run_libxml2(const struct set *s)
{
	size_t nodes = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->in[i].json) {
			json_t *j = json_loadb(s->in[i].data, s->in[i].len, 0, NULL);
			nodes += j != NULL;
			json_decref(j);
			continue;
		}
		xmlTextReaderPtr r = xmlReaderForMemory(s->in[i].data, (int)s->in[i].len, NULL, NULL,
			XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
		if (!r)
			continue;
		while (xmlTextReaderRead(r) == 1)
			nodes++;
		xmlFreeTextReader(r);
	}
	return nodes;
}

/* SAX2 callbacks that take the events and do nothing with them. */
static void sax_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                      int n_ns, const xmlChar **ns, int n_attrs, int n_defaulted,
                      const xmlChar **attrs)
{
	(void)local, (void)prefix, (void)uri, (void)n_ns, (void)ns, (void)n_attrs;
	(void)n_defaulted, (void)attrs;
	(*(size_t *)ctx)++;
}

static void sax_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	(void)ctx, (void)local, (void)prefix, (void)uri;
}

static void sax_text(void *ctx, const xmlChar *text, int len)
{
	(void)ctx, (void)text, (void)len;
}

static size_t run_libxml2_sax(const struct set *s)
{
	xmlSAXHandler sax;
	memset(&sax, 0, sizeof sax);
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_text;
	sax.ignorableWhitespace = sax_text;
	sax.cdataBlock = sax_text;
	size_t nodes = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->in[i].json) {
			json_t *j = json_loadb(s->in[i].data, s->in[i].len, 0, NULL);
			nodes += j != NULL;
			json_decref(j);
			continue;
		}
		xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(&sax, &nodes, NULL, 0, NULL);
		if (!ctxt)
			continue;
		xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		xmlParseChunk(ctxt, s->in[i].data, (int)s->in[i].len, 1);
		xmlFreeParserCtxt(ctxt);
	}
	return nodes;
}

struct timing {
	double seconds;              /* per pass */
	size_t items;                /* per pass */
	bool ok;
};

static struct timing time_c(size_t (*fn)(const struct set *), const struct set *s)
{
	struct timing t = { .ok = true };
	unsigned reps = 0;
	double t0 = seconds(), el;
	do {
		t.items = fn(s);
		reps++;
		el = seconds() - t0;
	} while (el < MIN_SECONDS || reps < MIN_REPS);
	t.seconds = el / reps;
	return t;
}

/* feedparser in one python3 process over the files listed in listfile. */
static struct timing time_python(const char *listfile)
{
	static const char script[] =
		"import sys, time, json\n"
		"import feedparser\n"
		"paths = [l.rstrip('\\n') for l in open(sys.argv[1], encoding='utf-8')]\n"
		"data = [open(p, 'rb').read() for p in paths]\n"
		"t0 = time.perf_counter(); n = 0; failed = 0\n"
		"for d in data:\n"
		"    try:\n"
		"        n += len(feedparser.parse(d).entries)\n"
		"    except Exception:\n"
		"        failed += 1\n"
		"print(json.dumps({'seconds': time.perf_counter() - t0, 'items': n, 'failed': failed,"
		" 'version': feedparser.__version__}))\n";
	struct timing t = { 0 };
	char *cmd;
	/* Debian's python3-feedparser is for /usr/bin/python3; $PYTHON overrides */
	const char *py = getenv("PYTHON");
	if (!py || !*py)
		py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	if (asprintf(&cmd, "%s -c \"$BENCH_PY\" '%s'", py, listfile) < 0)
		return t;
	setenv("BENCH_PY", script, 1);
	FILE *p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return t;
	char line[512] = "";
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	int status = pclose(p);
	json_t *j = json_loads(line, 0, NULL);
	if (status == 0 && j) {
		t.seconds = json_real_value(json_object_get(j, "seconds"));
		t.items = (size_t)json_integer_value(json_object_get(j, "items"));
		t.ok = true;
		printf("(feedparser %s: %lld of the files raised an exception)\n",
		       json_string_value(json_object_get(j, "version")),
		       json_integer_value(json_object_get(j, "failed")));
	} else {
		fprintf(stderr, "bench-parse: feedparser run failed (apt-get install python3-feedparser)\n");
	}
	json_decref(j);
	return t;
}

static void row(const char *set, const char *reader, const struct set *s, struct timing t)
{
	if (!t.ok) {
		printf("%-18s %-11s %6zu %8s %8.2f %9s %12s %9s\n", set, reader, s->n, "-",
		       s->bytes / 1e6, "-", "-", "-");
		return;
	}
	printf("%-18s %-11s %6zu %8zu %8.2f %9.4f %12.0f %9.1f\n", set, reader, s->n, t.items,
	       s->bytes / 1e6, t.seconds, t.items / t.seconds, s->bytes / 1e6 / t.seconds);
}

static int bench_set(const struct set *s, bool python)
{
	struct timing v = time_c(run_vigil, s);
	struct timing x = time_c(run_libxml2, s);
	struct timing sx = time_c(run_libxml2_sax, s);
	x.items = sx.items = v.items;   /* the floors' "items": the same documents' entries */
	struct timing py = { 0 };
	if (python) {
		char listfile[] = "/tmp/bench-parse-XXXXXX";
		int fd = mkstemp(listfile);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (f) {
			for (size_t i = 0; i < s->n; i++)
				fprintf(f, "%s\n", s->in[i].path);
			fclose(f);
			py = time_python(listfile);
			unlink(listfile);
		}
	}
	row(s->name, "vigil", s, v);
	row(s->name, "libxml2", s, x);
	row(s->name, "libxml2-sax", s, sx);
	if (python)
		row(s->name, "feedparser", s, py);
	double vs_py = py.ok ? (v.items / v.seconds) / (py.items / py.seconds) : 0;
	double vs_sax = sx.seconds / v.seconds;
	printf("%-18s vigil/feedparser items/s: ", s->name);
	if (py.ok)
		printf("%.0fx (target >= 100x)", vs_py);
	else
		printf("- (not run)");
	printf("   vigil/libxml2-sax MB/s: %.2f (target >= 0.50)\n", vs_sax);
	printf("%-18s vigil/libxml2 (reader) MB/s: %.2f", s->name, x.seconds / v.seconds);
	if (py.ok)           /* the time per pass 100x feedparser's items/s leaves */
		printf("   100x feedparser = %.4f s/pass, %.0f%% of it the SAX2 floor's",
		       py.seconds * v.items / py.items / 100,
		       100 * sx.seconds / (py.seconds * v.items / py.items / 100));
	printf("\n\n");
	return (py.ok && vs_py < 100) || vs_sax < 0.5;
}

int main(int argc, char **argv)
{
	bool python = true;
	unsigned n_items = 10000;
	struct set corpora = { .name = "corpora" }, gen = { .name = "generated" };
	int ndirs = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-python")) {
			python = false;
		} else if (!strcmp(argv[i], "--items") && i + 1 < argc) {
			n_items = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "Usage: bench-parse [--no-python] [--items N] [DIR...]\n");
			return 2;
		} else {
			scan(&corpora, argv[i]);
			ndirs++;
		}
	}
	if (!ndirs) {
		char *dir = NULL;
		const char *shared = getenv("VIGIL_SHARED_DIR"), *root = getenv("VIGIL_SOURCE_ROOT");
		if (shared && *shared) {
			if (asprintf(&dir, "%s/conformance", shared) < 0)
				return 2;
		} else if (asprintf(&dir, "%s/../shared/conformance", root && *root ? root : ".") < 0) {
			return 2;
		}
		scan(&corpora, dir);
		free(dir);
	}
	if (!corpora.n)
		fprintf(stderr, "bench-parse: no corpus found; the generated feed only\n");
	qsort(corpora.in, corpora.n, sizeof(*corpora.in), cmp_input);

	size_t len;
	char *g = generate_rss(n_items, &len);
	char path[] = "/tmp/bench-parse-gen-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, g, len) != (ssize_t)len) {
		perror(path);
		return 2;
	}
	close(fd);
	set_add(&gen, strdup(path), g, len, false);
	char name[64];
	snprintf(name, sizeof(name), "generated-%u", n_items);
	gen.name = name;

	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, silent);
	printf("%-18s %-11s %6s %8s %8s %9s %12s %9s\n", "set", "reader", "files", "items", "MB",
	       "s/pass", "items/s", "MB/s");
	int below = 0;
	if (corpora.n)
		below |= bench_set(&corpora, python);
	below |= bench_set(&gen, python);
	unlink(path);
	printf("%s\n", below ? "BELOW TARGET" : "targets met");
	for (size_t i = 0; i < corpora.n; i++) {
		free(corpora.in[i].path);
		free(corpora.in[i].data);
	}
	free(corpora.in);
	free(gen.in[0].path);
	free(gen.in[0].data);
	free(gen.in);
	xmlCleanupParser();
	return 0;
}
