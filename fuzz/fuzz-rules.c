/* fuzz-rules.c - libFuzzer harness: a rule file through the loader, the compiler and one match */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "diag.h"
#include "match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The loader reads files: give it one in memory (memfd), reused every run. */
static int rules_fd = -1;
static char rules_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rules_fd < 0) {
		rules_fd = memfd_create("rules.yaml", 0);
		if (rules_fd < 0)
			abort();
		snprintf(rules_path, sizeof rules_path, "/proc/self/fd/%d", rules_fd);
	}
	if (ftruncate(rules_fd, 0) < 0 || pwrite(rules_fd, data, size, 0) != (ssize_t)size)
		abort();

	struct diags d = { 0 };
	struct matcher *m = matcher_load(rules_path, NULL, &d);
	if (m) {
		static const char *const cats[] = { "AI", "chips" };
		struct vigil_field fields[] = {
			{ .name = "change_pct", .type = VIGIL_FIELD_NUMBER, .number = -6 },
			{ .name = "symbol", .type = VIGIL_FIELD_STRING, .string = "NVDA" },
		};
		struct vigil_item item = VIGIL_ITEM_INIT;
		item.id = "fuzz-1";
		item.title = "DeepSeek R2 release delayed: Nvidia H20 export licence, تراخيص التصدير";
		item.summary = "深度求索R2发布 Ｈ２０ إنفيديا والتصدير R2-D2 AR2 R21";
		item.link = "https://example.org/a?utm_source=x#f";
		item.categories = cats;
		item.n_categories = 2;
		item.fields = fields;
		item.n_fields = 2;
		struct match *out = NULL;
		size_t n = 0;
		matcher_match(m, &item, "news-ar", NULL, &out, &n);
		matches_free(out, n);
		matcher_free(m);
	}
	diags_clear(&d);
	return 0;
}
