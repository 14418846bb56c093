/* test-match.c - unit tests for the matcher: terms, near, none, regex, fields, sources, reasons, story keys */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "match.h"
#include "util.h"
#include "when.h"

static char tmpdir[] = "/tmp/vigil-test-match-XXXXXX";

/* The rules of RULES.md, as a user writes them. */
static const char example_rules[] =
	"aliases:\n"
	"  deepseek: [DeepSeek, \"ديب سيك\", ديبسيك, 深度求索]\n"
	"  nvidia:   [Nvidia, NVDA, إنفيديا, انفيديا, 英伟达]\n"
	"  release:  [release, released, launch, launches, unveil, ships, إطلاق, يطلق, 发布, 推出, 上线]\n"
	"  delay:    [delay, delayed, postpone, تأخير, متأخرة, تأجيل, 推迟, 延迟]\n"
	"rules:\n"
	"  - name: R2 release\n"
	"    sources: [\"news-*\", hf-deepseek]\n"
	"    match:\n"
	"      all:\n"
	"        - \"@deepseek\"\n"
	"        - near: [R2, \"@release\"]\n"
	"          within: 8\n"
	"      none: [\"@delay\", rumor, rumour]\n"
	"    severity: high\n"
	"  - name: export license\n"
	"    match:\n"
	"      all:\n"
	"        - any: [\"export license*\", \"export licence*\", تراخيص التصدير, ترخيص تصدير, 出口许可]\n"
	"        - any: [\"@nvidia\", H20, AMD]\n"
	"  - name: BIS entity list\n"
	"    sources: [federal-register]\n"
	"    match: { field: title, any: [\"Entity List\"] }\n"
	"  - name: Ascend training trouble\n"
	"    match:\n"
	"      all:\n"
	"        - any: [Ascend, أسند, 昇腾]\n"
	"        - regex: '(?i)\\b(train(ing)?|تدريب|训练)\\b'\n"
	"  - name: NVDA drops 5 %\n"
	"    sources: [nvda]\n"
	"    when: change_pct <= -5\n"
	"    rearm: change_pct > -4\n"
	"    severity: critical\n";

static char *write_rules(const char *text)
{
	char *path = xasprintf("%s/rules.yaml", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load YAML rules through the real parser; NULL with messages in d. */
static struct matcher *load_rules(const char *text, struct diags *d)
{
	char *path = write_rules(text);
	struct matcher *m = matcher_load(path, NULL, d);
	unlink(path);
	free(path);
	return m;
}

/*
 * One case: the rule "t" (its `match:` in YAML flow style, plus more YAML
 * lines of the rule in `extra`) or, with `example`, the rules of RULES.md;
 * an item; whether `rule` (default "t") fires.
 */
struct mcase {
	const char *name;
	const char *match;
	const char *extra;
	bool example;
	const char *title, *summary, *content, *author, *link;
	const char *cats;            /* categories, '|' between them */
	const char *sfield, *svalue; /* one string field */
	const char *nfield;          /* one number field */
	double nvalue;
	const char *source;          /* default "news-test"; "-" for NULL */
	const char *rule;
	bool fire;
};

static const struct mcase cases[] = {
	/* --- word boundaries: R2 and its near-misses --- */
	{ "R2 on its own", .match = "[R2]", .title = "DeepSeek R2 ships", .fire = true },
	{ "R2 is not R21", .match = "[R2]", .title = "DeepSeek R21 benchmark", .fire = false },
	{ "R2 is not AR2", .match = "[R2]", .title = "The AR2 protocol update", .fire = false },
	{ "R2 is not R2-D2", .match = "[R2]", .title = "R2-D2 toy recall", .fire = false },
	{ "R2 is not r2d2", .match = "[R2]", .title = "r2d2 toy recall", .fire = false },
	{ "R2 is not R2.5", .match = "[R2]", .title = "R2.5 arrives", .fire = false },
	{ "R2 before a full stop", .match = "[R2]", .content = "They finally launched R2.", .fire = true },
	{ "R2 in parentheses", .match = "[R2]", .content = "the new model (R2) is out", .fire = true },
	{ "R2 after DeepSeek-", .match = "[R2]", .title = "DeepSeek-R2 is here", .fire = true },
	{ "R2 with a possessive", .match = "[R2]", .title = "R2's benchmarks", .fire = true },
	{ "AMD is not AMDs", .match = "[AMD]", .title = "AMDs everywhere", .fire = false },
	{ "AMD's", .match = "[AMD]", .title = "AMD's new chip", .fire = true },
	{ "case folded", .match = "[nvidia]", .title = "NVIDIA earnings beat", .fire = true },
	{ "no plural without *", .match = "[Nvidia]", .title = "Two Nvidias", .fire = false },
	/* --- prefix terms --- */
	{ "prefix: licensed", .match = "[\"licens*\"]", .title = "Licensed exports", .fire = true },
	{ "prefix: phrase", .match = "[\"export license*\"]", .content = "new export licenses granted", .fire = true },
	{ "no prefix: phrase", .match = "[\"export license\"]", .content = "new export licenses granted", .fire = false },
	{ "prefix starts a word", .match = "[\"licens*\"]", .title = "relicensed code", .fire = false },
	{ "prefix matches the word itself", .match = "[\"licens*\"]", .title = "a licens", .fire = true },
	/* --- phrases and normalisation --- */
	{ "phrase across a line break", .match = "[\"export license\"]", .content = "export\n   license", .fire = true },
	{ "phrase with a word between", .match = "[\"export license\"]", .content = "export of license", .fire = false },
	{ "accent in the text", .match = "[Huawei]", .title = "Huawéi chips", .fire = true },
	{ "accent in the term", .match = "[café]", .title = "CAFE opens", .fire = true },
	{ "full-width text", .match = "[H20]", .title = "Ｈ２０ shipments resume", .fire = true },
	{ "full-width term", .match = "[Ｈ２０]", .title = "H20 ban", .fire = true },
	{ "ligature", .match = "[file]", .title = "the ﬁle", .fire = true },
	{ "H20 is not H200", .match = "[H20]", .title = "H200 shipments", .fire = false },
	/* --- all / any / none --- */
	{ "all: both", .match = "{all: [DeepSeek, R2]}", .title = "DeepSeek R2", .fire = true },
	{ "all: one missing", .match = "{all: [DeepSeek, R2]}", .title = "DeepSeek V3", .fire = false },
	{ "all: across fields", .match = "{all: [DeepSeek, R2]}", .title = "DeepSeek", .content = "R2 soon", .fire = true },
	{ "any: one", .match = "{any: [R2, V4]}", .title = "V4 ships", .fire = true },
	{ "bare list is any", .match = "[R2, V4]", .title = "nothing here", .fire = false },
	{ "none vetoes", .match = "{any: [R2], none: [rumor]}", .title = "R2 rumor mill", .fire = false },
	{ "none absent", .match = "{any: [R2], none: [rumor]}", .title = "R2 confirmed", .fire = true },
	{ "none alone holds", .match = "{none: [sports]}", .title = "Chip news", .fire = true },
	{ "none alone vetoes", .match = "{none: [sports]}", .title = "sports chips", .fire = false },
	{ "nested all of any", .match = "{all: [{any: [Nvidia, AMD]}, {any: [H20, MI308]}]}",
	  .title = "AMD MI308 export", .fire = true },
	{ "nested all of any, one missing", .match = "{all: [{any: [Nvidia, AMD]}, {any: [H20, MI308]}]}",
	  .title = "AMD MI300 export", .fire = false },
	{ "nested none inside all", .match = "{all: [R2, {any: [ships], none: [not]}]}",
	  .title = "R2 ships not", .fire = false },
	{ "veto by a prefix term", .match = "{any: [R2], none: [\"rumo*\"]}", .title = "R2 rumoured", .fire = false },
	/* --- near --- */
	{ "near just inside", .match = "[{near: [R2, release], within: 3}]",
	  .title = "R2 will finally release", .fire = true },
	{ "near just outside", .match = "[{near: [R2, release], within: 3}]",
	  .title = "R2 will not finally release", .fire = false },
	{ "near in reverse order", .match = "[{near: [R2, release], within: 4}]",
	  .title = "release of the new R2", .fire = true },
	{ "near default 8, inside", .match = "[{near: [R2, release]}]",
	  .title = "R2 a b c d e f g release", .fire = true },
	{ "near default 8, outside", .match = "[{near: [R2, release]}]",
	  .title = "R2 a b c d e f g h release", .fire = false },
	{ "near not across fields", .match = "[{near: [R2, release]}]",
	  .title = "R2", .content = "release", .fire = false },
	{ "near from the end of a phrase", .match = "[{near: [\"export license\", Nvidia], within: 2}]",
	  .content = "an export license for Nvidia", .fire = true },
	{ "near to the start of a phrase", .match = "[{near: [\"export license\", Nvidia], within: 2}]",
	  .content = "Nvidia seeks an export license", .fire = false },
	{ "near: punctuation is not a word", .match = "[{near: [R2, release], within: 1}]",
	  .title = "R2, release!", .fire = true },
	{ "near with three members", .match = "[{near: [DeepSeek, R2, release], within: 2}]",
	  .title = "DeepSeek R2 release", .fire = true },
	{ "near with three members, one far", .match = "[{near: [DeepSeek, R2, release], within: 2}]",
	  .title = "DeepSeek said on Monday that R2 release", .fire = false },
	{ "near: best pair among many", .match = "[{near: [R2, release], within: 1}]",
	  .content = "R2 is big. Later on, much later, R2 release.", .fire = true },
	{ "near: CJK characters inside", .match = "[{near: [英伟达, 芯片], within: 4}]",
	  .title = "英伟达发布新芯片", .fire = true },
	{ "near: CJK characters outside", .match = "[{near: [英伟达, 芯片], within: 3}]",
	  .title = "英伟达发布新芯片", .fire = false },
	{ "near: 深度求索R2发布", .match = "[{near: [R2, 发布], within: 1}]",
	  .title = "深度求索R2发布", .fire = true },
	{ "near: Arabic", .match = "[{near: [\"ديب سيك\", R2], within: 3}]",
	  .title = "أطلقت ديب سيك نموذج R2", .fire = true },
	{ "near: prefix member", .match = "[{near: [Nvidia, \"licen*\"], within: 3}]",
	  .content = "Nvidia gets licenses", .fire = true },
	/* --- Arabic --- */
	{ "إنفيديا matches انفيديا", .match = "[إنفيديا]", .title = "أرباح انفيديا", .fire = true },
	{ "انفيديا matches إنفيديا", .match = "[انفيديا]", .title = "أرباح إنفيديا", .fire = true },
	{ "harakat removed", .match = "[انفيديا]", .title = "إِنْفِيدْيَا تُعْلِن", .fire = true },
	{ "tatweel removed", .match = "[انفيديا]", .title = "شركة انفيـــديا", .fire = true },
	{ "proclitic و", .match = "[انفيديا]", .title = "هواوي وانفيديا", .fire = true },
	{ "والتصدير", .match = "[التصدير]", .content = "قيود الاستيراد والتصدير", .fire = true },
	{ "بالتصدير", .match = "[التصدير]", .content = "تسمح بالتصدير", .fire = true },
	{ "للتصدير (ل + ال)", .match = "[التصدير]", .content = "رخصة للتصدير", .fire = true },
	{ "وللتصدير", .match = "[التصدير]", .content = "للاستيراد وللتصدير", .fire = true },
	{ "التصدير is not bare تصدير", .match = "[التصدير]", .content = "رخصة تصدير", .fire = false },
	{ "تصدير in التصدير", .match = "[تصدير]", .content = "منح تراخيص التصدير", .fire = true },
	{ "ت is no proclitic", .match = "[صدير]", .content = "رخصة تصدير", .fire = false },
	{ "no Arabic suffix without *", .match = "[تصدير]", .content = "تصديرات الصين", .fire = false },
	{ "Arabic prefix term", .match = "[\"تصدير*\"]", .content = "تصديرات الصين", .fire = true },
	{ "ة folds to ه", .match = "[الصينية]", .content = "الحكومة الصينيه", .fire = true },
	{ "ى folds to ي", .match = "[مستوى]", .content = "على مستوي عال", .fire = true },
	{ "Arabic phrase", .match = "[تراخيص التصدير]", .content = "مقابل منح تراخيص التصدير.", .fire = true },
	{ "Latin inside Arabic", .match = "[H20]", .content = "شرائح H20 في الصين", .fire = true },
	{ "Latin glued to Arabic", .match = "[H20]", .content = "شرائح الH20 في الصين", .fire = true },
	{ "ديب سيك is not ديبسيك", .match = "[ديب سيك]", .title = "ديبسيك تطلق", .fire = false },
	/* --- Chinese --- */
	{ "CJK substring", .match = "[发布]", .title = "深度求索正式发布R2", .fire = true },
	{ "CJK term in a longer run", .match = "[英伟达]", .title = "英伟达公司财报", .fire = true },
	{ "出口许可 in 出口许可证", .match = "[出口许可]", .content = "美国批准出口许可证", .fire = true },
	{ "深度求索R2发布: R2", .match = "[R2]", .title = "深度求索R2发布", .fire = true },
	{ "深度求索R21发布: not R2", .match = "[R2]", .title = "深度求索R21发布", .fire = false },
	{ "full-width R2 in Chinese", .match = "[R2]", .title = "深度求索Ｒ２发布", .fire = true },
	{ "Chinese none vetoes", .match = "{all: [R2, 发布], none: [推迟]}", .title = "R2发布推迟", .fire = false },
	{ "昇腾", .match = "[昇腾]", .content = "华为昇腾910B", .fire = true },
	{ "CJK absent", .match = "[英伟达]", .title = "华为昇腾", .fire = false },
	/* --- regex --- */
	{ "regex on normalised text ignores case", .match = "[{regex: 'nvidia'}]", .title = "NVIDIA", .fire = true },
	{ "raw regex keeps case", .match = "[{regex: 'nvidia', raw: true}]", .title = "NVIDIA", .fire = false },
	{ "raw regex matches as written", .match = "[{regex: 'NVIDIA', raw: true}]", .title = "NVIDIA", .fire = true },
	{ "regex sees folded Arabic", .match = "[{regex: 'انفيديا'}]", .title = "إنفيديا", .fire = true },
	{ "raw regex sees the hamza", .match = "[{regex: 'انفيديا', raw: true}]", .title = "إنفيديا", .fire = false },
	{ "regex sees full-width folded", .match = "[{regex: 'h\\d+'}]", .title = "Ｈ２０", .fire = true },
	{ "regex word boundary inside", .match = "[{regex: '\\btrain(ing)?\\b'}]", .title = "retraining", .fire = false },
	{ "regex word boundary", .match = "[{regex: '\\btrain(ing)?\\b'}]", .title = "training runs", .fire = true },
	{ "regex \\b beside CJK letters", .match = "[{regex: '\\b训练\\b'}]", .title = "在昇腾芯片上的训练屡次失败", .fire = true },
	{ "regex \\b at a CJK-Latin junction", .match = "[{regex: '\\br2\\b'}]", .title = "深度求索R2发布", .fire = true },
	{ "regex \\b still a boundary in Latin", .match = "[{regex: '\\br2\\b'}]", .title = "AR2 chip", .fire = false },
	{ "regex \\b in a class is a backspace", .match = "[{regex: 'a[\\b]c'}]", .title = "abc", .fire = false },
	{ "regex \\b quoted is literal", .match = "[{regex: '\\Q\\b\\E'}]", .title = "a\\b", .fire = true },
	{ "pathological regex is no match", .match = "[{regex: '(a+)+$'}]",
	  .content = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", .fire = false },
	{ "regex scoped to title", .match = "[{regex: 'nvidia', field: title}]", .content = "nvidia", .fire = false },
	{ "regex and term", .match = "{all: [Ascend, {regex: 'train'}]}", .content = "Ascend training", .fire = true },
	{ "regex and term, term missing", .match = "{all: [Ascend, {regex: 'train'}]}", .content = "GPU training", .fire = false },
	/* --- fields --- */
	{ "field: title, only in content", .match = "{field: title, any: [R2]}", .content = "R2", .fire = false },
	{ "field: title", .match = "{field: title, any: [R2]}", .title = "R2", .fire = true },
	{ "fields: [summary]", .match = "{fields: [summary], any: [R2]}", .summary = "about R2", .fire = true },
	{ "author is not a default field", .match = "[Reuters]", .author = "Reuters", .fire = false },
	{ "field: author", .match = "{field: author, any: [Reuters]}", .author = "Reuters staff", .fire = true },
	{ "field: categories", .match = "{field: categories, any: [semiconductors]}",
	  .cats = "AI|Semiconductors", .fire = true },
	{ "near not across categories", .match = "{field: categories, any: [{near: [chips, export], within: 5}]}",
	  .cats = "chips|export", .fire = false },
	{ "string extra field", .match = "{field: agency, any: [industry and security]}",
	  .sfield = "agency", .svalue = "Industry and Security Bureau", .fire = true },
	{ "field: link", .match = "{field: link, any: [nvidia]}",
	  .link = "https://example.com/news/nvidia-h20", .fire = true },
	{ "fields inherited", .match = "{field: title, all: [R2, {any: [release]}]}",
	  .title = "R2", .content = "release", .fire = false },
	{ "fields overridden", .match = "{field: title, all: [R2, {field: content, any: [release]}]}",
	  .title = "R2", .content = "release", .fire = true },
	/* --- sources --- */
	{ "source glob", .match = "[R2]", .extra = "    sources: [\"news-*\"]\n",
	  .title = "R2", .source = "news-ar", .fire = true },
	{ "source glob, other source", .match = "[R2]", .extra = "    sources: [\"news-*\"]\n",
	  .title = "R2", .source = "blog", .fire = false },
	{ "source by name", .match = "[R2]", .extra = "    sources: [hf-deepseek]\n",
	  .title = "R2", .source = "hf-deepseek", .fire = true },
	{ "source bracket glob", .match = "[R2]", .extra = "    sources: [\"news-[ab]?\"]\n",
	  .title = "R2", .source = "news-b1", .fire = true },
	{ "no source, rule with sources", .match = "[R2]", .extra = "    sources: [\"*\"]\n",
	  .title = "R2", .source = "-", .fire = false },
	/* --- when --- */
	{ "when: crosses", .extra = "    when: change_pct <= -5\n",
	  .nfield = "change_pct", .nvalue = -6, .fire = true },
	{ "when: does not hold", .extra = "    when: change_pct <= -5\n",
	  .nfield = "change_pct", .nvalue = -3, .fire = false },
	{ "when: missing field", .extra = "    when: change_pct <= -5\n", .title = "x", .fire = false },
	{ "match and when", .match = "[NVDA]", .extra = "    when: change_pct <= -5\n",
	  .title = "NVDA slides", .nfield = "change_pct", .nvalue = -6, .fire = true },
	{ "match and when, no match", .match = "[NVDA]", .extra = "    when: change_pct <= -5\n",
	  .title = "AMD slides", .nfield = "change_pct", .nvalue = -6, .fire = false },
	/* --- the rules of RULES.md --- */
	{ "example: R2 release", .example = true, .rule = "R2 release", .source = "news-en",
	  .title = "DeepSeek released R2 today", .fire = true },
	{ "example: R2 release, other source", .example = true, .rule = "R2 release", .source = "blog",
	  .title = "DeepSeek released R2 today", .fire = false },
	{ "example: R2 release delayed", .example = true, .rule = "R2 release", .source = "news-en",
	  .title = "DeepSeek R2 release delayed", .fire = false },
	{ "example: R2 release rumour", .example = true, .rule = "R2 release", .source = "news-en",
	  .title = "DeepSeek R2 release: a rumour", .fire = false },
	{ "example: 深度求索R2发布", .example = true, .rule = "R2 release", .source = "news-zh",
	  .title = "深度求索R2发布", .fire = true },
	{ "example: 深度求索R2发布推迟", .example = true, .rule = "R2 release", .source = "news-zh",
	  .title = "深度求索R2发布推迟", .fire = false },
	{ "example: Arabic R2 release", .example = true, .rule = "R2 release", .source = "news-ar",
	  .title = "ديب سيك: إطلاق نموذج R2", .fire = true },
	{ "example: R21 is not R2", .example = true, .rule = "R2 release", .source = "news-en",
	  .title = "DeepSeek released R21 today", .fire = false },
	{ "example: export licenses", .example = true, .rule = "export license",
	  .title = "Commerce grants Nvidia export licenses for H20", .fire = true },
	{ "example: export licence, no vendor", .example = true, .rule = "export license",
	  .title = "New export licences for drones", .fire = false },
	{ "example: Arabic export licence", .example = true, .rule = "export license",
	  .content = "منح تراخيص التصدير لشرائح إنفيديا", .fire = true },
	{ "example: Chinese export licence", .example = true, .rule = "export license",
	  .content = "英伟达获得出口许可", .fire = true },
	{ "example: Entity List", .example = true, .rule = "BIS entity list", .source = "federal-register",
	  .title = "Additions to the Entity List", .fire = true },
	{ "example: Entity List in content", .example = true, .rule = "BIS entity list",
	  .source = "federal-register", .title = "Rule", .content = "the Entity List", .fire = false },
	{ "example: Ascend training", .example = true, .rule = "Ascend training trouble",
	  .title = "Huawei Ascend training runs fail", .fire = true },
	{ "example: Ascend inference", .example = true, .rule = "Ascend training trouble",
	  .title = "Huawei Ascend inference", .fire = false },
	{ "example: 昇腾 训练", .example = true, .rule = "Ascend training trouble",
	  .title = "昇腾 训练 失败", .fire = true },
	{ "example: NVDA drop", .example = true, .rule = "NVDA drops 5 %", .source = "nvda",
	  .nfield = "change_pct", .nvalue = -5.5, .fire = true },
};

/* Fill `it` from a case; arrays live in the caller. */
static void case_item(const struct mcase *c, struct vigil_item *it, char *catbuf, const char **cats,
                      struct vigil_field *fields)
{
	*it = (struct vigil_item)VIGIL_ITEM_INIT;
	it->title = c->title;
	it->summary = c->summary;
	it->content = c->content;
	it->author = c->author;
	it->link = c->link;
	if (c->cats) {
		snprintf(catbuf, 256, "%s", c->cats);
		char *save = NULL;
		for (char *t = strtok_r(catbuf, "|", &save); t && it->n_categories < 8;
		     t = strtok_r(NULL, "|", &save))
			cats[it->n_categories++] = t;
		it->categories = cats;
	}
	size_t nf = 0;
	if (c->sfield)
		fields[nf++] = (struct vigil_field){ .name = c->sfield, .type = VIGIL_FIELD_STRING,
		                                     .string = c->svalue };
	if (c->nfield)
		fields[nf++] = (struct vigil_field){ .name = c->nfield, .type = VIGIL_FIELD_NUMBER,
		                                     .number = c->nvalue };
	it->fields = fields;
	it->n_fields = nf;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_cases(void **state)
{
	(void)state;
	size_t failed = 0, n_cases = sizeof cases / sizeof cases[0];

	assert_true(n_cases >= 80);
	for (size_t i = 0; i < n_cases; i++) {
		const struct mcase *c = &cases[i];
		char *yaml = c->example ? xstrdup(example_rules)
		             : xasprintf("rules:\n  - name: t\n%s%s%s%s", c->match ? "    match: " : "",
		                         c->match ? c->match : "", c->match ? "\n" : "",
		                         c->extra ? c->extra : "");
		struct diags d = { 0 };
		when_memory_clear();
		struct matcher *m = load_rules(yaml, &d);
		if (!m) {
			print_error("case %zu \"%s\": rules do not load:\n%s\n", i, c->name, yaml);
			diags_print(&d, stderr);
			diags_clear(&d);
			free(yaml);
			failed++;
			continue;
		}
		struct vigil_item it;
		char catbuf[256];
		const char *cats[8];
		struct vigil_field fields[2];
		case_item(c, &it, catbuf, cats, fields);
		const char *source = !c->source ? "news-test" : strcmp(c->source, "-") ? c->source : NULL;
		struct match *ms = NULL;
		size_t n = 0;
		double t0 = seconds();
		int r = matcher_match(m, &it, source, NULL, &ms, &n);
		double dt = seconds() - t0;
		const char *want = c->rule ? c->rule : "t";
		bool fired = false;
		for (size_t j = 0; j < n; j++)
			fired = fired || !strcmp(ms[j].rule, want);
		if (r != 0 || fired != c->fire || dt > 1.0) {
			print_error("case %zu \"%s\": rule \"%s\" %s, want %s (r=%d, %.3f s)\n", i, c->name,
			            want, fired ? "fired" : "did not fire", c->fire ? "fire" : "no fire",
			            r, dt);
			for (size_t j = 0; j < n; j++)
				print_error("  fired %s: %s\n", ms[j].rule, ms[j].reason);
			failed++;
		}
		matches_free(ms, n);
		matcher_free(m);
		free(yaml);
	}
	when_memory_clear();
	print_message("%zu match cases, %zu failed\n", n_cases, failed);
	assert_int_equal(failed, 0);
}

/* ---- the seed article ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = xmalloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *seed_article_path(void)
{
	const char *shared = getenv("VIGIL_SHARED_DIR");
	if (shared)
		return xasprintf("%s/seed/article.ar.txt", shared);
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	return xasprintf("%s/../shared/seed/article.ar.txt", root ? root : "..");
}

static void test_seed_article(void **state)
{
	(void)state;
	char *path = seed_article_path();
	size_t len;
	char *text = read_file(path, &len);
	if (!text)
		print_message("seed article %s not found: case skipped\n", path);
	free(path);
	if (!text)
		skip();

	/* The first line is the title, the rest the content. */
	char *nl = strchr(text, '\n');
	assert_non_null(nl);
	*nl = '\0';
	struct vigil_item it = VIGIL_ITEM_INIT;
	it.title = text;
	it.content = nl + 1;
	it.link = "https://example.org/tech/deepseek-r2-delay?utm_source=rss#comments";

	struct diags d = { 0 };
	struct matcher *m = load_rules(example_rules, &d);
	diags_print(&d, stderr);
	assert_non_null(m);
	assert_int_equal(matcher_rule_count(m), 5);
	struct match *ms = NULL;
	size_t n = 0;
	assert_int_equal(matcher_match(m, &it, "news-ar", NULL, &ms, &n), 0);
	bool export = false, release = false;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ms[i].rule, "export license")) {
			export = true;
			/* The reason names the Arabic phrase at its place in the original. */
			const char *phrase = "تراخيص التصدير";
			char *at = strstr(it.content, phrase);
			assert_non_null(at);
			char *want = xasprintf("\"start\":%zu,\"end\":%zu", (size_t)(at - it.content),
			                       (size_t)(at - it.content) + strlen(phrase));
			if (!strstr(ms[i].reason_json, want))
				fail_msg("reason %s lacks %s", ms[i].reason_json, want);
			free(want);
			assert_string_equal(ms[i].story_key, "https://example.org/tech/deepseek-r2-delay");
			assert_null(ms[i].sinks);
			assert_ptr_not_equal(ms[i].r, NULL);
		}
		release = release || !strcmp(ms[i].rule, "R2 release");
	}
	assert_true(export);
	/* It reports a delay, not a release. */
	assert_false(release);
	matches_free(ms, n);
	matcher_free(m);

	/* Without its none: the same rule would fire: the veto is what holds it back. */
	char *no_veto = xstrdup(example_rules);
	char *none = strstr(no_veto, "      none: [\"@delay\", rumor, rumour]\n");
	assert_non_null(none);
	memmove(none, none + strlen("      none: [\"@delay\", rumor, rumour]\n"),
	        strlen(none + strlen("      none: [\"@delay\", rumor, rumour]\n")) + 1);
	m = load_rules(no_veto, &d);
	assert_non_null(m);
	ms = NULL;
	n = 0;
	assert_int_equal(matcher_match(m, &it, "news-ar", NULL, &ms, &n), 0);
	release = false;
	for (size_t i = 0; i < n; i++)
		release = release || !strcmp(ms[i].rule, "R2 release");
	assert_true(release);
	matches_free(ms, n);
	matcher_free(m);
	free(no_veto);
	free(text);
}

/* ---- reasons ---- */

/* The reason_json entries of the one match of rule "t". */
static json_t *reason_of(const char *match, const struct vigil_item *it, char **text)
{
	char *yaml = xasprintf("rules:\n  - name: t\n    match: %s\n", match);
	struct diags d = { 0 };
	struct matcher *m = load_rules(yaml, &d);
	diags_print(&d, stderr);
	assert_non_null(m);
	struct match *ms = NULL;
	size_t n = 0;
	assert_int_equal(matcher_match(m, it, "news", NULL, &ms, &n), 0);
	assert_int_equal(n, 1);
	json_error_t err;
	json_t *j = json_loads(ms[0].reason_json, 0, &err);
	if (!j)
		fail_msg("reason_json is not JSON: %s (%s)", ms[0].reason_json, err.text);
	assert_true(json_is_array(j));
	if (text)
		*text = xstrdup(ms[0].reason);
	matches_free(ms, n);
	matcher_free(m);
	free(yaml);
	return j;
}

/* Check entry i: field, original offsets, original text. */
static void expect_entry(json_t *arr, size_t i, const char *field, const char *orig, const char *slice)
{
	json_t *e = json_array_get(arr, i);
	assert_non_null(e);
	const char *at = strstr(orig, slice);
	assert_non_null(at);
	assert_string_equal(json_string_value(json_object_get(e, "field")), field);
	assert_int_equal(json_integer_value(json_object_get(e, "start")), at - orig);
	assert_int_equal(json_integer_value(json_object_get(e, "end")), at - orig + (long)strlen(slice));
	assert_string_equal(json_string_value(json_object_get(e, "text")), slice);
}

static void test_reason_offsets(void **state)
{
	(void)state;
	struct vigil_item it = VIGIL_ITEM_INIT;
	char *text;

	/* Full-width text: offsets of the original bytes, not the folded ones. */
	it.title = "Ｈ２０ export licences";
	it.content = "Nothing about  R2 here, only R2.";
	json_t *j = reason_of("{all: [H20, R2]}", &it, &text);
	assert_int_equal(json_array_size(j), 3);
	expect_entry(j, 0, "title", it.title, "Ｈ２０");
	expect_entry(j, 1, "content", it.content, "R2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "term")), "H20");
	if (!strstr(text, "title: \"H20\" at 0..9 as \"Ｈ２０\"; content: \"R2\" at 15..17, \"R2\" at 29..31"))
		fail_msg("reason text: %s", text);
	free(text);
	json_decref(j);

	/* Arabic with harakat and a proclitic: the hit is the term's part. */
	it = (struct vigil_item)VIGIL_ITEM_INIT;
	it.title = "قيود والتَّصْدِير";
	j = reason_of("[التصدير]", &it, NULL);
	assert_int_equal(json_array_size(j), 1);
	expect_entry(j, 0, "title", it.title, "التَّصْدِير");
	json_decref(j);

	/* A prefix term: the text is the whole word's start as written. */
	it = (struct vigil_item)VIGIL_ITEM_INIT;
	it.summary = "The EXPORT LICENSES were granted";
	j = reason_of("[\"export license*\"]", &it, &text);
	expect_entry(j, 0, "summary", it.summary, "EXPORT LICENSE");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "term")),
	                    "export license*");
	if (!strstr(text, "summary: \"export license*\" at 4..18 as \"EXPORT LICENSE\""))
		fail_msg("reason text: %s", text);
	free(text);
	json_decref(j);

	/* Categories say which one. */
	static const char *const cats[] = { "AI", "Chips" };
	it = (struct vigil_item)VIGIL_ITEM_INIT;
	it.categories = cats;
	it.n_categories = 2;
	j = reason_of("{field: categories, any: [chips]}", &it, &text);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "index")), 1);
	if (!strstr(text, "categories[1]: \"chips\" at 0..5 as \"Chips\""))
		fail_msg("reason text: %s", text);
	free(text);
	json_decref(j);

	/* near: the pair that holds; regex: its match; none: nothing. */
	it = (struct vigil_item)VIGIL_ITEM_INIT;
	it.title = "R2 now. Much later the R2 release";
	it.content = "training";
	j = reason_of("{all: [{near: [R2, release], within: 1}, {regex: 'train'}], none: [delay]}", &it, NULL);
	assert_int_equal(json_array_size(j), 3);
	const char *pair = strstr(it.title, "R2 release");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "start")),
	                 pair - it.title);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "text")), "R2");
	expect_entry(j, 1, "title", it.title, "release");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 2), "regex")), "train");
	json_decref(j);

	/* Alias terms name their alias. */
	char *yaml = xstrdup("aliases:\n  nv: [Nvidia, 英伟达]\nrules:\n  - name: t\n    match: [\"@nv\"]\n");
	struct diags d = { 0 };
	struct matcher *m = load_rules(yaml, &d);
	assert_non_null(m);
	it = (struct vigil_item)VIGIL_ITEM_INIT;
	it.title = "关于英伟达";
	struct match *ms = NULL;
	size_t n = 0;
	assert_int_equal(matcher_match(m, &it, NULL, NULL, &ms, &n), 0);
	assert_int_equal(n, 1);
	if (!strstr(ms[0].reason, "title: \"英伟达\" (@nv) at 6..15"))
		fail_msg("reason text: %s", ms[0].reason);
	if (!strstr(ms[0].reason_json, "\"alias\":\"nv\""))
		fail_msg("reason json: %s", ms[0].reason_json);
	matches_free(ms, n);
	matcher_free(m);
	free(yaml);
}

static void test_one_match_per_rule(void **state)
{
	(void)state;
	struct diags d = { 0 };
	struct matcher *m = load_rules(
		"rules:\n"
		"  - name: a\n    match: [Nvidia, H20]\n    severity: high\n    notify: [desktop]\n"
		"  - name: b\n    match: {none: [sports]}\n"
		"  - name: c\n    match: [AMD]\n", &d);
	diags_print(&d, stderr);
	assert_non_null(m);
	assert_int_equal(matcher_rule_count(m), 3);
	struct vigil_item it = VIGIL_ITEM_INIT;
	it.title = "Nvidia H20 Nvidia H20";
	it.content = "Nvidia again and again: Nvidia";
	struct match *ms = NULL;
	size_t n = 0;
	assert_int_equal(matcher_match(m, &it, "src", NULL, &ms, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ms[0].rule, "a");
	assert_string_equal(ms[0].severity, "high");
	assert_int_equal(ms[0].n_sinks, 1);
	assert_string_equal(ms[0].sinks[0], "desktop");
	assert_string_equal(ms[1].rule, "b");
	assert_string_equal(ms[1].severity, "normal");
	assert_string_equal(ms[1].reason_json, "[]");
	/* Appends to what is there. */
	assert_int_equal(matcher_match(m, &it, "src", NULL, &ms, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(ms[2].rule, "a");
	/* The next item starts afresh. */
	it.title = "AMD";
	it.content = NULL;
	assert_int_equal(matcher_match(m, &it, "src", NULL, &ms, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(ms[4].rule, "b");
	assert_string_equal(ms[5].rule, "c");
	matches_free(ms, n);
	matcher_free(m);
}

static void test_when_edge(void **state)
{
	(void)state;
	struct diags d = { 0 };
	when_memory_clear();
	struct matcher *m = load_rules("rules:\n  - name: drop\n    when: change_pct <= -5\n", &d);
	assert_non_null(m);
	struct vigil_field f[2] = {
		{ .name = "symbol", .type = VIGIL_FIELD_STRING, .string = "NVDA" },
		{ .name = "change_pct", .type = VIGIL_FIELD_NUMBER, .number = -6 },
	};
	struct vigil_item it = VIGIL_ITEM_INIT;
	it.fields = f;
	it.n_fields = 2;
	struct match *ms = NULL;
	size_t n = 0;
	static const struct { double v; size_t total; } steps[] = {
		{ -6, 1 }, { -7, 1 }, { -2, 1 }, { -5, 2 },
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		f[1].number = steps[i].v;
		assert_int_equal(matcher_match(m, &it, "nvda", NULL, &ms, &n), 0);
		assert_int_equal(n, steps[i].total);
	}
	if (!strstr(ms[0].reason, "when: "))
		fail_msg("reason: %s", ms[0].reason);
	if (!strstr(ms[0].reason_json, "\"when\":\"change_pct <= -5\""))
		fail_msg("reason json: %s", ms[0].reason_json);
	matches_free(ms, n);
	matcher_free(m);
	when_memory_clear();
}

static void test_load_errors(void **state)
{
	(void)state;
	struct diags d = { 0 };
	/* Tatweel only: nothing is left to match. */
	struct matcher *m = load_rules("rules:\n  - name: t\n    match: [ok, \"ـــ\"]\n", &d);
	assert_null(m);
	assert_true(d.n >= 1);
	if (!strstr(d.msgs[0], "rules.yaml:3:") || !strstr(d.msgs[0], "empty after normalisation"))
		fail_msg("message: %s", d.msgs[0]);
	diags_clear(&d);

	m = load_rules("rules:\n  - name: t\n    match: [{regex: '(unclosed'}]\n", &d);
	assert_null(m);
	assert_true(d.n >= 1);
	diags_clear(&d);

	/* No rules at all: a matcher that matches nothing. */
	m = matcher_load(NULL, NULL, &d);
	assert_non_null(m);
	assert_int_equal(matcher_rule_count(m), 0);
	struct vigil_item it = VIGIL_ITEM_INIT;
	it.title = "anything";
	struct match *ms = NULL;
	size_t n = 0;
	assert_int_equal(matcher_match(m, &it, "x", NULL, &ms, &n), 0);
	assert_int_equal(n, 0);
	matcher_free(m);

	/* Only regexes: no literal database, still matches. */
	m = load_rules("rules:\n  - name: t\n    match: [{regex: 'h\\d+'}]\n", &d);
	assert_non_null(m);
	it.title = "H20";
	assert_int_equal(matcher_match(m, &it, "x", NULL, &ms, &n), 0);
	assert_int_equal(n, 1);
	matches_free(ms, n);
	matcher_free(m);
}

/* More literals than one Vectorscan database takes: every shard is scanned. */
static void test_many_literals(void **state)
{
	(void)state;
	enum { N_RULES = 14000 };
	size_t cap = N_RULES * 48 + 64, len = 0;
	char *yaml = xmalloc(cap);
	len += (size_t)snprintf(yaml + len, cap - len, "rules:\n");
	for (int i = 0; i < N_RULES; i++)
		len += (size_t)snprintf(yaml + len, cap - len, "  - name: r%d\n    match: [zq%05d]\n", i, i);
	struct diags d = { 0 };
	struct matcher *m = load_rules(yaml, &d);
	diags_print(&d, stderr);
	assert_non_null(m);
	assert_int_equal(matcher_rule_count(m), N_RULES);
	static const int probes[] = { 0, 1, 4095, 6143, 6144, 7000, 12287, 12288, 13999 };
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		char title[64], want[16];
		snprintf(title, sizeof title, "see zq%05d and zq%05dx", probes[i], (probes[i] + 1) % N_RULES);
		snprintf(want, sizeof want, "r%d", probes[i]);
		struct vigil_item it = VIGIL_ITEM_INIT;
		it.title = title;
		struct match *ms = NULL;
		size_t n = 0;
		assert_int_equal(matcher_match(m, &it, NULL, NULL, &ms, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(ms[0].rule, want);
		matches_free(ms, n);
	}
	matcher_free(m);
	free(yaml);
}

/* ---- story keys ---- */

static void test_story_keys(void **state)
{
	(void)state;
	static const struct { const char *link, *key; } links[] = {
		{ "HTTP://Example.COM:80/a?utm_source=x&b=1#frag", "http://example.com/a?b=1" },
		{ "https://Example.com:443/A/B?C=D", "https://example.com/A/B?C=D" },
		{ "https://example.com:8443/x", "https://example.com:8443/x" },
		{ "http://example.com:443/x", "http://example.com:443/x" },
		{ "https://example.com", "https://example.com/" },
		{ "https://example.com?b=2", "https://example.com/?b=2" },
		{ "https://example.com/a?fbclid=abc", "https://example.com/a" },
		{ "https://example.com/a?gclid=1&id=7&mc_cid=2&mc_eid=3", "https://example.com/a?id=7" },
		{ "https://example.com/a?utm_medium=rss&utm_campaign=c&UTM_Content=z", "https://example.com/a" },
		{ "https://example.com/a?id=1&&msclkid=9&x", "https://example.com/a?id=1&x" },
		{ "https://example.com/a?p=utm_source", "https://example.com/a?p=utm_source" },
		{ "https://example.com/a#section-2", "https://example.com/a" },
		{ "  https://example.com/a  ", "https://example.com/a" },
		{ "https://User@Example.com:443/a", "https://User@example.com/a" },
		{ "http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x" },
		{ "https://example.com:/x", "https://example.com/x" },
		{ "urn:uuid:ABC", "urn:uuid:ABC" },
		{ "https://example.com/Path?igshid=1&_ga=2&yclid=3#x", "https://example.com/Path" },
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		struct vigil_item it = VIGIL_ITEM_INIT;
		it.link = links[i].link;
		it.title = "ignored";
		char *k = story_key_for(&it);
		if (strcmp(k, links[i].key))
			fail_msg("\"%s\" -> \"%s\", want \"%s\"", links[i].link, k, links[i].key);
		free(k);
	}

	/* Without a link: the normalised title, so case, harakat, width and
	 * spacing do not split a story. */
	static const char *const same[][2] = {
		{ "NVIDIA  H20 export", "nvidia h20 EXPORT" },
		{ "إِنْفِيدْيَا", "انفيديا" },
		{ "Ｈ２０ ban", "H20 ban" },
	};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		struct vigil_item a = VIGIL_ITEM_INIT, b = VIGIL_ITEM_INIT;
		a.title = same[i][0];
		b.title = same[i][1];
		char *ka = story_key_for(&a), *kb = story_key_for(&b);
		assert_string_equal(ka, kb);
		assert_true(!strncmp(ka, "t:", 2));
		free(ka);
		free(kb);
	}
	struct vigil_item a = VIGIL_ITEM_INIT, b = VIGIL_ITEM_INIT;
	a.title = "H20 ban";
	b.title = "H20 deal";
	char *ka = story_key_for(&a), *kb = story_key_for(&b);
	assert_string_not_equal(ka, kb);
	free(ka);
	free(kb);
	/* An empty link counts as none. */
	a.link = "";
	b.link = NULL;
	b.title = "H20 ban";
	ka = story_key_for(&a);
	kb = story_key_for(&b);
	assert_string_equal(ka, kb);
	free(ka);
	free(kb);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_seed_article),
		cmocka_unit_test(test_reason_offsets),
		cmocka_unit_test(test_one_match_per_rule),
		cmocka_unit_test(test_when_edge),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_many_literals),
		cmocka_unit_test(test_story_keys),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
