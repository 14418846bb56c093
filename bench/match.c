/* match.c - benchmark: K generated rules over N generated items (EN/AR/ZH), against grep -F -i */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "match.h"
#include "rules.h"
#include "util.h"

/*
 * What is generated, deterministically (a fixed seed):
 *  - K entities, each with a made-up name in Latin letters, in Arabic
 *    letters and in Han characters (so no rule term is an ordinary word);
 *  - K rules over them, of the shapes watch rules have: a name in any of
 *    its scripts; a name and one of a few common words ("export", "إطلاق",
 *    "发布" - words many rules share and much text contains); near:; none:;
 *    a prefix; a title-only rule; a two-name phrase; a name with a regex;
 *  - N items of about 600 bytes (a title and a content), each mostly in one
 *    language (English 50 %, Arabic 30 %, Chinese 20 %) with Latin product
 *    names mixed in; 2 % carry the words one random rule needs to fire and
 *    3 % one entity's name, so a few percent of items fire a rule, and the
 *    common words make many rules candidates that then do not hold.
 * Items are made in batches outside the timed part, so the peak RSS is the
 * matcher's and not that of 60 MB of test text.
 *
 * Usage: bench-match [RULES [ITEMS]] (default 10000 100000). BENCH_KEEP=1
 * keeps the generated rules.yaml, terms.txt and text.txt for a look.
 */

#define BATCH 1000
#define ITEM_BYTES 600

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static size_t pick(size_t n)
{
	return (size_t)(rnd() % n);
}

static bool chance(double p)
{
	return (double)(rnd() >> 11) / (double)(1ull << 53) < p;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Filler: ordinary words, none of which is a rule term (the common ones aside). */
static const char *const en_words[] = {
	"the", "a", "of", "and", "to", "in", "is", "that", "for", "on", "with", "as", "by",
	"at", "from", "its", "was", "has", "have", "been", "will", "would", "could", "said",
	"company", "market", "government", "report", "week", "year", "new", "after", "before",
	"according", "officials", "people", "familiar", "matter", "sources", "analysts",
	"investors", "shares", "rose", "fell", "percent", "quarter", "revenue", "growth",
	"data", "center", "centers", "demand", "supply", "chain", "industry", "global",
	"China", "United", "States", "Washington", "Beijing", "Commerce", "Department",
	"technology", "artificial", "intelligence", "training", "inference", "hardware",
	"software", "cluster", "performance", "regulators", "statement", "Monday", "Tuesday",
	"Wednesday", "Thursday", "Friday", "plans", "expected", "weeks", "months", "earlier",
	"later", "also", "while", "but", "not", "more", "than", "about", "into", "over",
	"under", "between", "during", "since", "amid", "concerns", "security", "rules",
};
static const char *const ar_words[] = {
	"في", "من", "على", "إلى", "عن", "أن", "التي", "الذي", "هذا", "هذه", "قال", "وقال",
	"الشركة", "الحكومة", "السوق", "تقرير", "تقارير", "الأسبوع", "العام", "الجديد",
	"بعد", "قبل", "وفقا", "مصادر", "المحللين", "المستثمرين", "الأسهم", "ارتفعت",
	"انخفضت", "بالمئة", "الربع", "الإيرادات", "النمو", "البيانات", "مراكز", "الطلب",
	"الإمدادات", "الصناعة", "العالمية", "الصين", "الولايات", "المتحدة", "واشنطن",
	"بكين", "التجارة", "وزارة", "التقنية", "الذكاء", "الاصطناعي", "التدريب",
	"الاستدلال", "العتاد", "البرمجيات", "الأداء", "المنظمون", "بيان", "الاثنين",
	"الثلاثاء", "خطط", "المتوقع", "أسابيع", "أشهر", "أيضا", "بينما", "لكن", "ليس",
	"أكثر", "حول", "خلال", "منذ", "وسط", "مخاوف", "الأمن", "القواعد", "شركة", "عتاد",
};
/* Two-character words from characters that no rule name uses. */
static const char *const zh_words[] = {
	"公司", "市场", "政府", "报告", "本周", "今年", "新的", "之后", "之前", "根据",
	"官员", "消息", "人士", "分析", "投资", "股价", "上涨", "下跌", "季度", "收入",
	"增长", "数据", "中心", "需求", "供应", "行业", "全球", "中国", "美国", "华盛",
	"北京", "商务", "部门", "技术", "人工", "智能", "训练", "推理", "硬件", "软件",
	"集群", "性能", "监管", "声明", "周一", "周二", "计划", "预计", "几周", "几个",
	"月份", "此前", "随后", "同时", "但是", "不是", "更多", "关于", "期间", "以来",
	"担忧", "安全", "规则", "表示", "认为", "方面", "进行", "已经", "目前", "可能",
};
static const char *const latin_mix[] = {
	"Nvidia", "AMD", "H20", "H800", "Huawei", "Ascend", "CANN", "Intel", "TSMC", "Windows",
};
/* Common words: in filler text and in many rules. */
static const char *const common_en[] = { "export", "launch", "chip", "model", "release", "ban", "license", "deal" };
static const char *const common_ar[] = { "تصدير", "إطلاق", "شرائح", "نموذج", "صفقة", "حظر" };
static const char *const common_zh[] = { "发布", "芯片", "出口", "模型", "禁令", "交易" };

/* Name material, disjoint from the filler. */
static const char *const en_syl[] = {
	"ka", "lo", "mir", "zen", "tro", "vex", "qui", "dar", "nol", "bri", "sto", "fen",
	"gal", "hup", "jor", "lim", "mus", "nex", "pra", "rul", "syn", "tav", "ulm", "vor",
	"wix", "yel", "zor", "cra", "dho", "eph", "kip", "oss",
};
static const char *const ar_cons[] = {
	"ك", "ل", "م", "ر", "ز", "ن", "ت", "س", "ف", "ج", "د", "ب", "ق", "ش", "ط", "غ",
};
static const char *const ar_vow[] = { "ا", "و", "ي", "" };
static const char *const zh_name_chars[] = {
	"卡", "洛", "米", "尔", "泽", "恩", "特", "罗", "维", "克", "斯", "奎", "达", "诺",
	"布", "里", "托", "芬", "加", "赫", "乔", "林", "穆", "奈", "普", "拉", "鲁", "辛",
	"塔", "乌", "沃", "威", "叶", "佐", "蒂", "奥", "索", "弗", "格", "霍",
};

struct entity {
	char en[32], ar[64], zh[32];
};

enum shape {
	SHAPE_ANY, SHAPE_ALL_COMMON, SHAPE_NEAR, SHAPE_NONE, SHAPE_PREFIX, SHAPE_TITLE,
	SHAPE_PHRASE, SHAPE_REGEX,
};

struct brule {
	enum shape shape;
	size_t e, e2;                /* entities */
	int script;                  /* 0 en, 1 ar, 2 zh: the script of near/phrase/prefix */
	const char *common, *common2;  /* all: / near: partners */
};

static struct entity *ents;
static struct brule *brules;
static size_t K, N;

static void make_entities(void)
{
	ents = xcalloc(K, sizeof *ents);
	for (size_t i = 0; i < K; i++) {
		struct entity *e = &ents[i];
		/* Unique by construction: i in base 32 syllables (3 of them: 32768). */
		size_t v = i;
		int len = 0;
		for (int s = 0; s < 3; s++, v /= N_OF(en_syl))
			len += snprintf(e->en + len, sizeof e->en - (size_t)len, "%s", en_syl[v % N_OF(en_syl)]);
		if (K > 32768) {
			snprintf(e->en + len, sizeof e->en - (size_t)len, "%zu", i / 32768);
		}
		e->en[0] = (char)(e->en[0] - 'a' + 'A');
		v = i;
		len = 0;
		for (int s = 0; s < 4; s++, v /= N_OF(ar_cons) * 2) {
			size_t c = v % (N_OF(ar_cons) * 2);
			len += snprintf(e->ar + len, sizeof e->ar - (size_t)len, "%s%s", ar_cons[c / 2],
			                ar_vow[(c % 2) ? 0 : 1 + (i + (size_t)s) % 2]);
		}
		v = i;
		len = 0;
		for (int s = 0; s < 3; s++, v /= N_OF(zh_name_chars))
			len += snprintf(e->zh + len, sizeof e->zh - (size_t)len, "%s",
			                zh_name_chars[v % N_OF(zh_name_chars)]);
		if (i >= 40 * 40 * 40)
			snprintf(e->zh + len, sizeof e->zh - (size_t)len, "%s", zh_name_chars[pick(N_OF(zh_name_chars))]);
	}
	/* Shuffle, so that rule i's entity does not follow from i. */
	for (size_t i = K - 1; i > 0; i--) {
		size_t j = pick(i + 1);
		struct entity t = ents[i];
		ents[i] = ents[j];
		ents[j] = t;
	}
}

static const char *ent_name(const struct entity *e, int script)
{
	return script == 0 ? e->en : script == 1 ? e->ar : e->zh;
}

static const char *common_word(int script)
{
	return script == 0 ? common_en[pick(N_OF(common_en))]
	     : script == 1 ? common_ar[pick(N_OF(common_ar))]
	                   : common_zh[pick(N_OF(common_zh))];
}

/* Every literal of the rules, for grep: collected, then written once each. */
static char **lits;
static size_t n_lits, cap_lits;

static void lit(const char *s)
{
	if (n_lits == cap_lits) {
		cap_lits = cap_lits ? cap_lits * 2 : 1024;
		lits = xrealloc(lits, cap_lits * sizeof *lits);
	}
	lits[n_lits++] = xstrdup(s);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct literals, one a line; returns how many. */
static size_t write_literals(FILE *terms)
{
	size_t n = 0;
	qsort(lits, n_lits, sizeof *lits, str_cmp);
	for (size_t i = 0; i < n_lits; i++) {
		if (!i || strcmp(lits[i], lits[i - 1])) {
			fprintf(terms, "%s\n", lits[i]);
			n++;
		}
	}
	for (size_t i = 0; i < n_lits; i++)
		free(lits[i]);
	free(lits);
	return n;
}

/* Rules as YAML, and every literal as written (lit()). */
static void make_rules(FILE *yaml)
{
	brules = xcalloc(K, sizeof *brules);
	fprintf(yaml, "rules:\n");
	for (size_t i = 0; i < K; i++) {
		struct brule *r = &brules[i];
		size_t roll = pick(100);
		r->shape = roll < 40 ? SHAPE_ANY : roll < 65 ? SHAPE_ALL_COMMON : roll < 75 ? SHAPE_NEAR
		         : roll < 85 ? SHAPE_NONE : roll < 90 ? SHAPE_PREFIX : roll < 95 ? SHAPE_TITLE
		         : roll < 99 ? SHAPE_PHRASE : SHAPE_REGEX;
		r->e = i;
		r->e2 = pick(K);
		r->script = (int)pick(3);
		r->common = common_word(r->script);
		r->common2 = common_word((r->script + 1) % 3);
		const struct entity *e = &ents[r->e], *e2 = &ents[r->e2];
		fprintf(yaml, "  - name: rule %zu\n    match: ", i);
		switch (r->shape) {
		case SHAPE_ANY:
			fprintf(yaml, "[%s, %s, %s]\n", e->en, e->ar, e->zh);
			break;
		case SHAPE_ALL_COMMON:
			fprintf(yaml, "{all: [[%s, %s, %s], [%s, %s]]}\n", e->en, e->ar, e->zh, r->common,
			        r->common2);
			break;
		case SHAPE_NEAR:
			fprintf(yaml, "[{near: [%s, %s], within: %zu}]\n", ent_name(e, r->script), r->common,
			        4 + pick(5));
			break;
		case SHAPE_NONE:
			fprintf(yaml, "{any: [%s, %s, %s], none: [%s]}\n", e->en, e->ar, e->zh,
			        ent_name(e2, r->script));
			break;
		case SHAPE_PREFIX:
			fprintf(yaml, "[\"%s*\"]\n", ent_name(e, r->script));
			break;
		case SHAPE_TITLE:
			fprintf(yaml, "{field: title, any: [%s, %s, %s]}\n", e->en, e->ar, e->zh);
			break;
		case SHAPE_PHRASE:
			fprintf(yaml, "[\"%s %s\"]\n", e->en, e2->en);
			break;
		case SHAPE_REGEX:
			fprintf(yaml, "{all: [%s, {regex: '\\b(q[1-4]|quarter)\\b'}]}\n", ent_name(e, r->script));
			break;
		}
		/* The same literals for grep (a prefix term without its '*'). */
		char tmp[160];
		switch (r->shape) {
		case SHAPE_NEAR:
			lit(ent_name(e, r->script));
			lit(r->common);
			break;
		case SHAPE_PREFIX:
		case SHAPE_REGEX:
			lit(ent_name(e, r->script));
			break;
		case SHAPE_PHRASE:
			snprintf(tmp, sizeof tmp, "%s %s", e->en, e2->en);
			lit(tmp);
			break;
		case SHAPE_NONE:
			lit(ent_name(e2, r->script));
			/* fall through */
		default:
			lit(e->en);
			lit(e->ar);
			lit(e->zh);
			if (r->shape == SHAPE_ALL_COMMON) {
				lit(r->common);
				lit(r->common2);
			}
		}
	}
}

/* Text buffer of one item field. */
struct buf {
	char s[2048];
	size_t n;
};

static void put(struct buf *b, const char *w)
{
	size_t l = strlen(w);
	if (b->n + l + 2 >= sizeof b->s)
		return;
	if (b->n)
		b->s[b->n++] = ' ';
	memcpy(b->s + b->n, w, l + 1);
	b->n += l;
}

static const char *filler(int lang)
{
	if (chance(0.02))
		return common_word(lang);
	if (chance(0.03))
		return latin_mix[pick(N_OF(latin_mix))];
	return lang == 0 ? en_words[pick(N_OF(en_words))]
	     : lang == 1 ? ar_words[pick(N_OF(ar_words))]
	                 : zh_words[pick(N_OF(zh_words))];
}

/* Chinese runs words together; the other two space them. */
static void put_filler(struct buf *b, int lang, size_t until)
{
	while (b->n < until) {
		if (lang == 2) {
			char run[64] = "";
			int words = 2 + (int)pick(4);
			for (int i = 0; i < words; i++)
				strncat(run, filler(2), sizeof run - strlen(run) - 1);
			put(b, run);
		} else {
			put(b, filler(lang));
		}
	}
}

/* The words rule r needs to fire, in the item's language where it has a choice. */
static void put_firing(struct buf *title, struct buf *content, const struct brule *r, int lang)
{
	const struct entity *e = &ents[r->e], *e2 = &ents[r->e2];
	char tmp[160];
	switch (r->shape) {
	case SHAPE_ANY:
	case SHAPE_NONE:
		put(content, ent_name(e, lang));
		break;
	case SHAPE_ALL_COMMON:
		put(content, ent_name(e, lang));
		put(content, r->common);
		break;
	case SHAPE_NEAR:
		snprintf(tmp, sizeof tmp, "%s %s", ent_name(e, r->script), r->common);
		put(content, tmp);
		break;
	case SHAPE_PREFIX:
		snprintf(tmp, sizeof tmp, "%s%s", ent_name(e, r->script), r->script == 2 ? "" : "s");
		put(content, tmp);
		break;
	case SHAPE_TITLE:
		put(title, ent_name(e, lang));
		break;
	case SHAPE_PHRASE:
		snprintf(tmp, sizeof tmp, "%s %s", e->en, e2->en);
		put(content, tmp);
		break;
	case SHAPE_REGEX:
		put(content, ent_name(e, r->script));
		put(content, "Q3");
		break;
	}
}

struct bitem {
	struct buf title, content;
};

static void make_item(struct bitem *it)
{
	size_t roll = pick(10);
	int lang = roll < 5 ? 0 : roll < 8 ? 1 : 2;
	it->title.n = it->content.n = 0;
	it->title.s[0] = it->content.s[0] = '\0';
	put_filler(&it->title, lang, 50);
	if (chance(0.02))
		put_firing(&it->title, &it->content, &brules[pick(K)], lang);
	else if (chance(0.03))
		put(&it->content, ent_name(&ents[pick(K)], lang));
	put_filler(&it->content, lang, ITEM_BYTES - it->title.n - 20);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

/* Run `grep -F -i -c -f terms text` in a UTF-8 locale; seconds, count. */
static double run_grep(const char *terms, const char *text, long *count)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	char *argv[] = { "grep", "-F", "-i", "-c", "-f", (char *)terms, (char *)text, NULL };
	char *envp[] = { "LC_ALL=C.UTF-8", "PATH=/usr/bin:/bin", NULL };
	pid_t pid;
	double t0 = now();
	int r = posix_spawnp(&pid, "grep", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r) {
		close(fds[0]);
		return -1;
	}
	char out[64] = "";
	ssize_t got = read(fds[0], out, sizeof out - 1);
	int status;
	waitpid(pid, &status, 0);
	double dt = now() - t0;
	close(fds[0]);
	*count = got > 0 ? strtol(out, NULL, 10) : -1;
	return dt;
}

int main(int argc, char **argv)
{
	K = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	N = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	if (!K || !N) {
		fprintf(stderr, "usage: %s [RULES [ITEMS]]\n", argv[0]);
		return 2;
	}
	char dir[] = "/tmp/vigil-bench-match-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char *rules_path = xasprintf("%s/rules.yaml", dir);
	char *terms_path = xasprintf("%s/terms.txt", dir);
	char *text_path = xasprintf("%s/text.txt", dir);

	make_entities();
	FILE *yaml = fopen(rules_path, "w"), *terms = fopen(terms_path, "w");
	if (!yaml || !terms) {
		perror("fopen");
		return 1;
	}
	make_rules(yaml);
	size_t n_terms = write_literals(terms);
	fclose(yaml);
	fclose(terms);

	struct diags d = { 0 };
	double t0 = now();
	struct ruleset *rs = ruleset_load(rules_path, NULL, &d);
	double t1 = now();
	double rss_parse = peak_rss_mb();
	struct matcher *m = rs ? matcher_new(rs, &d) : NULL;
	double t2 = now();
	if (!m) {
		diags_print(&d, stderr);
		return 1;
	}
	printf("rules: %zu (YAML parse %.3f s, compile %.3f s, load total %.3f s)\n", K, t1 - t0,
	       t2 - t1, t2 - t0);
	printf("peak RSS after YAML parse: %.1f MB, after compile: %.1f MB\n", rss_parse,
	       peak_rss_mb());

	FILE *text = fopen(text_path, "w");
	if (!text) {
		perror("fopen");
		return 1;
	}
	struct bitem *batch = xcalloc(BATCH, sizeof *batch);
	double busy = 0;
	size_t bytes = 0, fired_items = 0, alerts = 0;
	for (size_t done = 0; done < N; done += BATCH) {
		size_t nb = N - done < BATCH ? N - done : BATCH;
		for (size_t i = 0; i < nb; i++) {
			make_item(&batch[i]);
			bytes += batch[i].title.n + batch[i].content.n;
			fprintf(text, "%s %s\n", batch[i].title.s, batch[i].content.s);
		}
		double b0 = now();
		for (size_t i = 0; i < nb; i++) {
			struct vigil_item it = VIGIL_ITEM_INIT;
			it.title = batch[i].title.s;
			it.content = batch[i].content.s;
			it.link = NULL;
			struct match *ms = NULL;
			size_t n = 0;
			if (matcher_match(m, &it, "news-bench", NULL, &ms, &n) < 0) {
				fprintf(stderr, "matcher_match failed\n");
				return 1;
			}
			fired_items += n > 0;
			alerts += n;
			matches_free(ms, n);
		}
		busy += now() - b0;
	}
	fclose(text);
	free(batch);

	printf("items: %zu, %.1f MB of text, %zu fire (%.2f %%), %zu alerts\n", N,
	       (double)bytes / 1e6, fired_items, 100.0 * (double)fired_items / (double)N, alerts);
	printf("normalise + match + evaluate: %.3f s = %.0f items/s, %.1f MB/s\n", busy,
	       (double)N / busy, (double)bytes / 1e6 / busy);
	printf("peak RSS: %.1f MB\n", peak_rss_mb());

	long count = -1;
	double g = run_grep(terms_path, text_path, &count);
	if (g < 0)
		printf("grep: could not run\n");
	else
		printf("grep -F -i -c -f (the %zu distinct literals, same text, LC_ALL=C.UTF-8): "
		       "%.3f s = %.1f MB/s, %ld lines hit; vigil is %.2fx grep's speed\n",
		       n_terms, g, (double)bytes / 1e6 / g, count, g / busy);

	if (getenv("BENCH_KEEP")) {
		printf("kept: %s\n", dir);
	} else {
		unlink(rules_path);
		unlink(terms_path);
		unlink(text_path);
		rmdir(dir);
	}
	free(rules_path);
	free(terms_path);
	free(text_path);
	matcher_free(m);
	free(ents);
	free(brules);
	return 0;
}
