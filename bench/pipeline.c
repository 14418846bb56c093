/* pipeline.c - benchmark: the per-item cost of a finished poll (copy, key, seen mark, match, outbox) */
#include <stdio.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "item.h"
#include "match.h"
#include "outbox.h"
#include "state.h"
#include "util.h"

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * What pipeline.c does for each item of a poll, inside one transaction per
 * poll of `batch` items: copy, key, seen mark; for new items match (one rule
 * that every item fires) and add an alert with one delivery.
 */
static double run(struct state *st, struct matcher *m, int n, int batch, int offset, int *alerts)
{
	const char *sinks[] = { "out" };
	char id[64], title[256], link[128];
	double t0 = seconds();
	for (int b = 0; b < n; b += batch) {
		state_begin(st);
		for (int i = b; i < b + batch && i < n; i++) {
			snprintf(id, sizeof id, "urn:bench:%d", i + offset);
			snprintf(title, sizeof title, "Item %d: DeepSeek R2 and Nvidia H20 export licences, "
			         "a title of typical length for a news feed", i + offset);
			snprintf(link, sizeof link, "https://example.org/news/%d", i + offset);
			struct vigil_item src = VIGIL_ITEM_INIT;
			src.id = id;
			src.title = title;
			src.link = link;
			src.summary = "A summary of about two hundred bytes, which is what feeds usually "
			              "carry: a sentence or two that says what happened, to whom, and why "
			              "the reader might care about it today.";
			src.published = 1795965139 + i;
			struct owned_item *it = item_copy(&src);
			char *key = item_key(&it->item);
			if (state_seen_mark(st, "bench", key, 1795965139) == 1) {
				struct match *ms = NULL;
				size_t nm = 0;
				matcher_match(m, &it->item, "bench", NULL, &ms, &nm);
				json_t *j = item_to_json(&it->item);
				char *ij = json_dumps(j, JSON_COMPACT);
				for (size_t k = 0; k < nm; k++) {
					struct outbox_alert a = {
						.rule = ms[k].rule, .severity = ms[k].severity,
						.source = "bench", .reason = ms[k].reason,
						.story_key = ms[k].story_key, .item_json = ij,
						.created = 1795965139, .reason_json = ms[k].reason_json,
						.link = it->item.link, .title = it->item.title,
						.item_id = it->item.id,
					};
					outbox_add(st, &a, sinks, 1, NULL);
					(*alerts)++;
				}
				free(ij);
				json_decref(j);
				matches_free(ms, nm);
			}
			free(key);
			item_free(it);
		}
		state_commit(st);
	}
	return seconds() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000;
	int batch = argc > 2 ? atoi(argv[2]) : 100;
	char dir[] = "/tmp/vigil-bench-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *path = xasprintf("%s/state.db", dir);
	struct state *st;
	char *err = NULL;
	if (state_open(path, &st, &err) < 0) {
		fprintf(stderr, "state_open: %s\n", err);
		return 1;
	}
	/* One rule that every generated item fires (each title names DeepSeek). */
	char *rules = xasprintf("%s/rules.yaml", dir);
	FILE *f = fopen(rules, "w");
	if (!f || fputs("rules:\n  - name: bench\n    cooldown: 0\n    match: [DeepSeek]\n", f) < 0)
		return 1;
	fclose(f);
	struct diags d = { 0 };
	struct matcher *m = matcher_load(rules, NULL, &d);
	if (!m) {
		diags_print(&d, stderr);
		return 1;
	}
	free(rules);

	int alerts = 0;
	double t_new = run(st, m, n, batch, 0, &alerts);
	int seen_alerts = 0;
	double t_seen = run(st, m, n, batch, 0, &seen_alerts);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("items per poll (one transaction): %d\n", batch);
	printf("new items:  %d in %.3f s = %.0f items/s (%d alerts committed, synchronous=FULL)\n",
	       n, t_new, n / t_new, alerts);
	printf("seen items: %d in %.3f s = %.0f items/s (%d alerts)\n", n, t_seen, n / t_seen,
	       seen_alerts);
	printf("peak RSS: %.1f MB\n", ru.ru_maxrss / 1024.0);

	matcher_free(m);
	state_close(st);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	free(path);
	return 0;
}
