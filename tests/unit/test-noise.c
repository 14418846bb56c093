/* test-noise.c - unit tests for story dedupe, cooldown, quiet hours, digests and the burst cap (daemon/outbox.c) */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "alert-json.h"
#include "item.h"
#include "log.h"
#include "outbox.h"
#include "state-fixture.h"
#include "state.h"
#include "util.h"

/* 2026-03-01T23:00:00Z, a Sunday night. */
#define NIGHT INT64_C(1772406000)
/* 2026-03-02T07:00:00Z */
#define MORNING (NIGHT + 8 * 3600)
/* 2026-03-01T12:00:00Z */
#define NOON (NIGHT - 11 * 3600)

struct fixture {
	char dir[256];
	char *path;
	struct state *st;
	/* What the tests submitted and what became of it. */
	size_t n_input;
	size_t outcomes[4];
};

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;
	int ret = state_fixture_close(f->dir, &f->path, &f->st);
	free(f);
	return ret;
}

/* Quiet hours are local time: every test runs in UTC, whatever one before it did. */
static int pin_utc(void **ctx)
{
	(void)ctx;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static int setup(void **ctx)
{
	pin_utc(ctx);
	struct fixture *f = xcalloc(1, sizeof *f);
	if (state_fixture_open("noise", f->dir, sizeof f->dir, &f->path, &f->st) < 0) {
		free(f);
		return -1;
	}
	*ctx = f;
	return 0;
}

static void reopen(struct fixture *f)
{
	state_close(f->st);
	f->st = NULL;
	char *error = NULL;
	if (state_open(f->path, &f->st, &error) < 0)
		fail_msg("reopen: %s", error);
}

static const char *const sinks[] = { "desktop", "team" };

/* Noise settings as a rule would have them. */
static const struct outbox_noise defaults = { .cooldown_ms = -1 };

/* Submit one report: rule, story, source and title, at `now`. */
static struct outbox_result submit(struct fixture *f, const char *rule, const char *story,
                                   const char *source, const char *title,
                                   const struct outbox_noise *noise, int64_t now)
{
	char *link = xasprintf("https://%s.example/%s", source, story);
	char *item_id = xasprintf("%s-%s", source, title);
	json_t *ij = json_pack("{s:s, s:s, s:s, s:s}", "id", item_id, "title", title,
	                       "link", link, "content", "long text");
	char *item_json = json_dumps(ij, JSON_COMPACT);
	json_decref(ij);
	struct outbox_alert a = {
		.rule = rule, .severity = "high", .source = source, .reason = "matched",
		.story_key = story, .item_json = item_json,
		.reason_json = "[{\"term\":\"R2\",\"field\":\"title\",\"start\":0,\"end\":2}]",
		.link = link, .title = title, .item_id = item_id,
	};
	struct outbox_result res;
	assert_int_equal(outbox_submit(f->st, &a, noise, sinks, 2, now, &res), 0);
	assert_true(res.alert_id > 0);
	f->n_input++;
	f->outcomes[res.outcome]++;
	free(item_json);
	free(item_id);
	free(link);
	return res;
}

static int64_t query_int(struct fixture *f, const char *sql)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(state_db(f->st), sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(state_db(f->st)));
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Claim everything due for `sink` at `now`; returns how many, ids in *ids (may be NULL). */
static size_t claim(struct fixture *f, const char *sink, int64_t now, int64_t *ids, size_t max)
{
	struct outbox_delivery **v;
	size_t n;
	assert_int_equal(outbox_claim(f->st, sink, now, 100, &v, &n), 0);
	for (size_t i = 0; i < n && ids && i < max; i++)
		ids[i] = v[i]->alert_id;
	outbox_deliveries_free(v, n);
	return n;
}

static int64_t suppressed_count(struct fixture *f, const char *rule, const char *kind)
{
	struct outbox_suppressed *v;
	size_t n;
	int64_t count = 0;
	assert_int_equal(outbox_suppressed_summary(f->st, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].rule, rule) && !strcmp(v[i].kind, kind))
			count = v[i].count;
	outbox_suppressed_free(v, n);
	return count;
}

/* The alert JSON a sink would get for alert `id` (dispatch.c's rendering). */
static json_t *render(struct fixture *f, int64_t id)
{
	struct outbox_extras x;
	assert_int_equal(outbox_extras_get(f->st, id, &x), 0);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st),
		"SELECT rule, severity, source, reason, story_key, created, item_json FROM alerts "
		"WHERE id = ?1", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, id);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	struct alert_source src[16];
	struct alert_fields members[16];
	struct alert_source msrc[16][4];
	assert_true(x.n_sources <= 16 && x.n_members <= 16);
	for (size_t i = 0; i < x.n_sources; i++)
		src[i] = (struct alert_source){ x.sources[i].source, x.sources[i].link,
		                                x.sources[i].title, x.sources[i].item_id };
	for (size_t i = 0; i < x.n_members; i++) {
		struct outbox_member *m = &x.members[i];
		assert_true(m->n_sources <= 4);
		for (size_t j = 0; j < m->n_sources; j++)
			msrc[i][j] = (struct alert_source){ m->sources[j].source, m->sources[j].link,
			                                    m->sources[j].title, m->sources[j].item_id };
		members[i] = (struct alert_fields){
			.id = m->id, .severity = m->severity, .source = m->source, .reason = m->reason,
			.story_key = m->story_key, .created = m->created, .item_json = m->item_json,
			.reason_json = m->reason_json, .hold_kind = m->hold_kind,
			.sources = msrc[i], .n_sources = m->n_sources,
		};
	}
	struct alert_fields af = {
		.id = id,
		.rule = (const char *)sqlite3_column_text(s, 0),
		.severity = (const char *)sqlite3_column_text(s, 1),
		.source = (const char *)sqlite3_column_text(s, 2),
		.reason = (const char *)sqlite3_column_text(s, 3),
		.story_key = (const char *)sqlite3_column_text(s, 4),
		.created = sqlite3_column_int64(s, 5),
		.item_json = (const char *)sqlite3_column_text(s, 6),
		.reason_json = x.reason_json, .suppressed_json = x.noise_json,
		.sources = src, .n_sources = x.n_sources,
		.digest = members, .n_digest = x.n_members,
	};
	char *text = alert_json_render(&af);
	assert_non_null(text);
	sqlite3_finalize(s);
	outbox_extras_clear(&x);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	free(text);
	return j;
}

/* Every report is one row of alert_sources of a (non-digest) alert: nothing lost. */
static void assert_nothing_lost(struct fixture *f)
{
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alert_sources s JOIN alerts a "
	                              "ON a.id = s.alert_id WHERE a.n_members = 0"),
	                 (int64_t)f->n_input);
	size_t sum = 0;
	for (size_t i = 0; i < 4; i++)
		sum += f->outcomes[i];
	assert_int_equal(sum, f->n_input);
	/* alerts + held + merged (+ merged after delivery) == input */
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alerts WHERE n_members = 0"),
	                 (int64_t)(f->outcomes[OUTBOX_NEW] + f->outcomes[OUTBOX_HELD]));
	/* Every hold and every merge is counted. */
	assert_int_equal(query_int(f, "SELECT COALESCE(SUM(count), 0) FROM suppressed"),
	                 (int64_t)(f->outcomes[OUTBOX_HELD] + f->outcomes[OUTBOX_MERGED] +
	                           f->outcomes[OUTBOX_SUPPRESSED]));
}

static void test_story_from_two_sources_is_one_alert(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_result a = submit(f, "R2 release", "story-r2", "news-en", "DeepSeek ships R2",
	                                &defaults, NOON);
	assert_int_equal(a.outcome, OUTBOX_NEW);
	struct outbox_result b = submit(f, "R2 release", "story-r2", "news-ar", "ديب سيك تطلق R2",
	                                &defaults, NOON + 120);
	assert_int_equal(b.outcome, OUTBOX_MERGED);
	assert_int_equal(b.alert_id, a.alert_id);
	/* Another rule on the same story is independent. */
	struct outbox_result c = submit(f, "export license", "story-r2", "news-ar", "x",
	                                &defaults, NOON + 180);
	assert_int_equal(c.outcome, OUTBOX_NEW);
	assert_int_not_equal(c.alert_id, a.alert_id);
	/* Another story of the same rule too. */
	struct outbox_result d = submit(f, "R2 release", "story-other", "news-en", "y",
	                                &defaults, NOON + 200);
	assert_int_equal(d.outcome, OUTBOX_NEW);

	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alerts"), 3);
	int64_t ids[8];
	assert_int_equal(claim(f, "desktop", NOON + 300, ids, 8), 3);
	assert_int_equal(ids[0], a.alert_id);

	/* The one delivery carries both sources. */
	json_t *j = render(f, a.alert_id);
	json_t *sources = json_object_get(j, "sources");
	assert_int_equal(json_array_size(sources), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(sources, 0), "source")),
	                    "news-en");
	assert_string_equal(json_string_value(json_object_get(json_array_get(sources, 1), "source")),
	                    "news-ar");
	assert_string_equal(json_string_value(json_object_get(json_array_get(sources, 1), "link")),
	                    "https://news-ar.example/story-r2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(sources, 1), "title")),
	                    "ديب سيك تطلق R2");
	assert_int_equal(json_integer_value(json_object_get(j, "version")), ALERT_JSON_VERSION);
	json_t *terms = json_object_get(j, "reason_terms");
	assert_int_equal(json_array_size(terms), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(terms, 0), "term")),
	                    "R2");
	json_decref(j);
	/* A single-source alert has no "sources". */
	j = render(f, c.alert_id);
	assert_null(json_object_get(j, "sources"));
	json_decref(j);

	assert_int_equal(suppressed_count(f, "R2 release", "story"), 1);
	assert_int_equal(suppressed_count(f, "R2 release", "cooldown"), 0);
	assert_nothing_lost(f);
}

static void test_cooldown_after_delivery(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_result a = submit(f, "R", "s", "news-en", "first", &defaults, NOON);
	assert_int_equal(claim(f, "desktop", NOON, NULL, 0), 1);
	assert_int_equal(outbox_mark_delivered(f->st, a.alert_id, "desktop", NOON + 1), 0);

	/* Already out to one sink: the late report is counted, not sent again. */
	struct outbox_result b = submit(f, "R", "s", "news-ar", "second", &defaults, NOON + 600);
	assert_int_equal(b.outcome, OUTBOX_SUPPRESSED);
	assert_int_equal(b.alert_id, a.alert_id);
	assert_int_equal(suppressed_count(f, "R", "cooldown"), 1);
	/* Still listed with the alert. */
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alert_sources"), 2);

	/* Last second of the default hour: still the same story. */
	assert_int_equal(submit(f, "R", "s", "news-x", "third", &defaults, NOON + 3599).outcome,
	                 OUTBOX_SUPPRESSED);
	/* After the cooldown: a new alert. */
	struct outbox_result d = submit(f, "R", "s", "news-en", "fourth", &defaults, NOON + 3600);
	assert_int_equal(d.outcome, OUTBOX_NEW);
	assert_int_not_equal(d.alert_id, a.alert_id);
	/* Its window counts from the new alert. */
	assert_int_equal(submit(f, "R", "s", "news-ar", "fifth", &defaults, NOON + 4000).alert_id,
	                 d.alert_id);
	assert_int_equal(suppressed_count(f, "R", "cooldown"), 2);
	assert_int_equal(suppressed_count(f, "R", "story"), 1);

	/* A rule's own cooldown; 0 turns story dedupe off. */
	struct outbox_noise six_hours = { .cooldown_ms = 6 * 3600 * 1000 };
	submit(f, "six", "s", "a", "1", &six_hours, NOON);
	assert_int_equal(submit(f, "six", "s", "b", "2", &six_hours, NOON + 5 * 3600).outcome,
	                 OUTBOX_MERGED);
	assert_int_equal(submit(f, "six", "s", "c", "3", &six_hours, NOON + 6 * 3600).outcome,
	                 OUTBOX_NEW);
	struct outbox_noise none = { .cooldown_ms = 0 };
	assert_int_equal(submit(f, "none", "s", "a", "1", &none, NOON).outcome, OUTBOX_NEW);
	assert_int_equal(submit(f, "none", "s", "b", "2", &none, NOON + 1).outcome, OUTBOX_NEW);
	/* No noise control at all (a match without a rule). */
	assert_int_equal(submit(f, "bare", "s", "a", "1", NULL, NOON).outcome, OUTBOX_NEW);
	assert_int_equal(submit(f, "bare", "s", "a", "1", NULL, NOON).outcome, OUTBOX_NEW);
	assert_nothing_lost(f);
}

static void test_quiet_hours_hold_and_release_one_digest(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_noise quiet = { .cooldown_ms = 12 * 3600 * 1000, .has_quiet = true,
	                              .quiet_start_min = 22 * 60, .quiet_end_min = 7 * 60 };
	struct outbox_result r[4];
	r[0] = submit(f, "R", "s1", "news-en", "one", &quiet, NIGHT);
	r[1] = submit(f, "R", "s2", "news-ar", "two", &quiet, NIGHT + 600);
	r[2] = submit(f, "R", "s3", "news-en", "three", &quiet, NIGHT + 1200);
	r[3] = submit(f, "R", "s4", "news-zh", "four", &quiet, MORNING - 3600);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(r[i].outcome, OUTBOX_HELD);
		assert_int_equal(r[i].held_until, MORNING);
		assert_string_equal(r[i].kind, "quiet");
	}
	/* The same story during the hold joins its held alert. */
	assert_int_equal(submit(f, "R", "s1", "news-ar", "one again", &quiet, NIGHT + 60).outcome,
	                 OUTBOX_MERGED);
	/* One alone in another rule. */
	struct outbox_result lone = submit(f, "L", "s9", "news-en", "lone", &quiet, NIGHT);
	assert_int_equal(lone.outcome, OUTBOX_HELD);
	assert_int_equal(outbox_held_count(f->st), 5);
	assert_int_equal(suppressed_count(f, "R", "quiet"), 4);

	int64_t when;
	assert_int_equal(outbox_next_release(f->st, &when), 0);
	assert_int_equal(when, MORNING);

	/* Nothing goes out before the end of the window, however it is asked. */
	size_t released = 99;
	assert_int_equal(claim(f, "desktop", MORNING - 1, NULL, 0), 0);
	assert_int_equal(outbox_release_due(f->st, MORNING - 1, &released), 0);
	assert_int_equal(released, 0);
	assert_int_equal(claim(f, "desktop", MORNING + 100000, NULL, 0), 0);   /* still held */

	/* The end of the window: one digest for R, the lone alert as itself. */
	assert_int_equal(outbox_release_due(f->st, MORNING, &released), 0);
	assert_int_equal(released, 5);
	assert_int_equal(outbox_held_count(f->st), 0);
	assert_int_equal(outbox_next_release(f->st, &when), -ENOENT);
	int64_t ids[8];
	assert_int_equal(claim(f, "desktop", MORNING, ids, 8), 2);
	int64_t digest = ids[0] == lone.alert_id ? ids[1] : ids[0];
	assert_true(ids[0] == lone.alert_id || ids[1] == lone.alert_id);
	assert_int_equal(claim(f, "team", MORNING, NULL, 0), 2);
	/* The members are not delivered on their own. */
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_DIGESTED), 8);
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alerts WHERE digest_id IS NOT NULL"), 4);

	json_t *j = render(f, digest);
	assert_string_equal(json_string_value(json_object_get(j, "rule")), "R");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "item"), "title")),
	                    "4 alerts: R");
	const char *summary = json_string_value(json_object_get(json_object_get(j, "item"),
	                                                        "summary"));
	assert_string_equal(summary, "one (news-en)\ntwo (news-ar)\nthree (news-en)\n"
	                    "four (news-zh)");
	json_t *members = json_object_get(j, "digest");
	assert_int_equal(json_array_size(members), 4);
	json_t *first = json_array_get(members, 0);
	assert_int_equal(json_integer_value(json_object_get(first, "id")), r[0].alert_id);
	assert_string_equal(json_string_value(json_object_get(first, "held_for")), "quiet");
	assert_int_equal(json_array_size(json_object_get(first, "sources")), 2);
	assert_null(json_object_get(json_object_get(first, "item"), "content"));
	assert_null(json_object_get(first, "version"));
	json_t *sup = json_object_get(j, "suppressed");
	assert_int_equal(json_integer_value(json_object_get(sup, "quiet")), 4);
	assert_int_equal(json_integer_value(json_object_get(sup, "story")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "source")),
	                    "news-en, news-ar, news-zh");
	json_decref(j);

	/* After the window: straight through again. */
	assert_int_equal(submit(f, "R", "s5", "news-en", "five", &quiet, MORNING).outcome,
	                 OUTBOX_NEW);
	/* A report of a story whose digest went out counts as suppressed. */
	assert_int_equal(submit(f, "R", "s2", "news-zh", "two again", &quiet, MORNING + 1).outcome,
	                 OUTBOX_SUPPRESSED);
	assert_nothing_lost(f);
}

static void test_quiet_window_local_time(void **ctx)
{
	(void)ctx;
	int64_t end;
	/* UTC: 23:00 is inside 22:00-07:00, noon is not; the window ends tomorrow 07:00. */
	assert_true(outbox_quiet_at(22 * 60, 7 * 60, NIGHT, &end));
	assert_int_equal(end, MORNING);
	assert_true(outbox_quiet_at(22 * 60, 7 * 60, MORNING - 1, &end));
	assert_int_equal(end, MORNING);
	assert_false(outbox_quiet_at(22 * 60, 7 * 60, MORNING, NULL));
	assert_false(outbox_quiet_at(22 * 60, 7 * 60, NOON, NULL));
	/* Not wrapping. */
	assert_true(outbox_quiet_at(9 * 60, 17 * 60, NOON, &end));
	assert_int_equal(end, NOON + 5 * 3600);
	assert_false(outbox_quiet_at(9 * 60, 17 * 60, NIGHT, NULL));
	/* Empty window. */
	assert_false(outbox_quiet_at(600, 600, NOON, NULL));

	/* $TZ is local time: 13:30 UTC is 22:30 in Tokyo (UTC+9, no DST). */
	setenv("TZ", "JST-9", 1);
	assert_true(outbox_quiet_at(22 * 60, 7 * 60, NOON + 5400, &end));
	assert_int_equal(end, NOON + 5400 + 8 * 3600 + 1800);   /* 07:00 JST = 22:00 UTC */
	assert_false(outbox_quiet_at(22 * 60, 7 * 60, NIGHT + 3600, NULL)); /* 09:00 JST */
	setenv("TZ", "UTC", 1);
	assert_false(outbox_quiet_at(22 * 60, 7 * 60, NOON + 5400, NULL));
}

static void test_digest_period(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_noise hourly = { .cooldown_ms = -1, .digest_ms = 3600 * 1000 };
	struct outbox_result a = submit(f, "D", "s1", "a", "one", &hourly, NOON);
	assert_int_equal(a.outcome, OUTBOX_HELD);
	assert_int_equal(a.held_until, NOON + 3600);
	assert_string_equal(a.kind, "digest");
	assert_int_equal(submit(f, "D", "s2", "a", "two", &hourly, NOON + 600).held_until,
	                 NOON + 3600);
	assert_int_equal(submit(f, "D", "s3", "b", "three", &hourly, NOON + 3000).held_until,
	                 NOON + 3600);
	assert_int_equal(claim(f, "desktop", NOON + 3599, NULL, 0), 0);

	size_t released;
	assert_int_equal(outbox_release_due(f->st, NOON + 3600, &released), 0);
	assert_int_equal(released, 3);
	int64_t ids[4];
	assert_int_equal(claim(f, "desktop", NOON + 3600, ids, 4), 1);
	json_t *j = render(f, ids[0]);
	assert_int_equal(json_array_size(json_object_get(j, "digest")), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "item"), "title")),
	                    "3 alerts: D");
	json_decref(j);

	/* The next one opens the next batch. */
	struct outbox_result n = submit(f, "D", "s4", "a", "four", &hourly, NOON + 3700);
	assert_int_equal(n.outcome, OUTBOX_HELD);
	assert_int_equal(n.held_until, NOON + 7300);
	assert_int_equal(suppressed_count(f, "D", "digest"), 4);

	/* A hold that would end in quiet hours lasts until they end. */
	struct outbox_noise both = hourly;
	both.has_quiet = true;
	both.quiet_start_min = 22 * 60 + 30;
	both.quiet_end_min = 7 * 60;
	struct outbox_result q = submit(f, "Q", "s", "a", "late", &both, NIGHT - 3600 + 60);
	assert_string_equal(q.kind, "digest");
	assert_int_equal(q.held_until, MORNING);
	assert_nothing_lost(f);
}

static void test_burst_cap(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_noise capped = { .cooldown_ms = -1, .max_per_hour = 2 };
	struct outbox_result r[6];
	char story[16];
	for (int i = 0; i < 6; i++) {
		snprintf(story, sizeof story, "s%d", i);
		r[i] = submit(f, "B", story, "feed", story, &capped, NOON + i * 60);
	}
	assert_int_equal(r[0].outcome, OUTBOX_NEW);
	assert_int_equal(r[1].outcome, OUTBOX_NEW);
	for (int i = 2; i < 6; i++) {
		assert_int_equal(r[i].outcome, OUTBOX_HELD);
		assert_string_equal(r[i].kind, "burst");
		/* Until the first of the hour leaves it. */
		assert_int_equal(r[i].held_until, NOON + 3600);
	}
	assert_int_equal(suppressed_count(f, "B", "burst"), 4);
	assert_int_equal(claim(f, "desktop", NOON + 3599, NULL, 0), 2);

	/* The rest, never dropped: one digest when the hour has room again. */
	size_t released;
	assert_int_equal(outbox_release_due(f->st, NOON + 3600, &released), 0);
	assert_int_equal(released, 4);
	int64_t ids[4];
	assert_int_equal(claim(f, "desktop", NOON + 3600, ids, 4), 1);
	json_t *j = render(f, ids[0]);
	json_t *members = json_object_get(j, "digest");
	assert_int_equal(json_array_size(members), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(members, i), "id")),
		                 r[i + 2].alert_id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "suppressed"),
	                                                    "burst")), 4);
	json_decref(j);

	/* The digest counts against the hour: r[1] and it fill the cap. */
	assert_int_equal(submit(f, "B", "s7", "feed", "s7", &capped, NOON + 3601).outcome,
	                 OUTBOX_HELD);
	/* Another rule is not capped by B's alerts. */
	assert_int_equal(submit(f, "other", "s7", "feed", "s7", &capped, NOON + 3601).outcome,
	                 OUTBOX_NEW);
	assert_nothing_lost(f);
}

static void test_nothing_lost_in_a_mixed_run(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_noise settings[] = {
		{ .cooldown_ms = -1 },
		{ .cooldown_ms = 600 * 1000, .max_per_hour = 3 },
		{ .cooldown_ms = 0, .has_quiet = true, .quiet_start_min = 12 * 60,
		  .quiet_end_min = 13 * 60 },
		{ .cooldown_ms = -1, .digest_ms = 1800 * 1000 },
	};
	const char *rules[] = { "plain", "capped", "quiet", "digest" };
	const char *sources[] = { "news-en", "news-ar", "news-zh" };
	char story[16], title[32];
	int64_t t = NOON - 1800;
	for (int i = 0; i < 240; i++) {
		size_t k = (size_t)i % 4;
		snprintf(story, sizeof story, "s%d", (i * 7) % 11);
		snprintf(title, sizeof title, "item %d", i);
		t += 30;
		submit(f, rules[k], story, sources[i % 3], title, &settings[k], t);
		if (i % 10 == 0) {
			assert_int_equal(outbox_release_due(f->st, t, NULL), 0);
			claim(f, "desktop", t, NULL, 0);
			if (i % 20 == 0)
				reopen(f);       /* restarts lose nothing either */
		}
	}
	assert_true(f->outcomes[OUTBOX_NEW] > 0 && f->outcomes[OUTBOX_HELD] > 0 &&
	            f->outcomes[OUTBOX_MERGED] > 0 && f->outcomes[OUTBOX_SUPPRESSED] > 0);
	assert_nothing_lost(f);

	/* Once every hold has ended, every alert has a way out: its own delivery
	 * or its digest's. */
	assert_int_equal(outbox_release_due(f->st, t + 86400, NULL), 0);
	assert_int_equal(outbox_held_count(f->st), 0);
	assert_int_equal(query_int(f,
		"SELECT COUNT(*) FROM alerts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d "
		"WHERE d.alert_id = COALESCE(a.digest_id, a.id) AND d.status IN (0, 1, 2))"), 0);
	assert_nothing_lost(f);
}

static void test_in_callers_transaction(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_noise quiet = { .cooldown_ms = -1, .has_quiet = true,
	                              .quiet_start_min = 22 * 60, .quiet_end_min = 7 * 60 };
	assert_int_equal(state_begin(f->st), 0);
	assert_int_equal(state_seen_mark(f->st, "feed", "item", NIGHT), 1);
	submit(f, "R", "s", "feed", "t", &quiet, NIGHT);
	assert_true(state_in_transaction(f->st));
	state_rollback(f->st);
	/* Rolled back with the seen mark: alert, source row, counter. */
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alerts"), 0);
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM alert_sources"), 0);
	assert_int_equal(query_int(f, "SELECT COUNT(*) FROM suppressed"), 0);

	/* Holds survive a restart and are released after it. */
	submit(f, "R", "s", "feed", "t", &quiet, NIGHT);
	submit(f, "R", "s2", "feed", "t2", &quiet, NIGHT);
	reopen(f);
	assert_int_equal(outbox_held_count(f->st), 2);
	assert_int_equal(outbox_recover(f->st, MORNING), 0);
	assert_int_equal(claim(f, "desktop", MORNING, NULL, 0), 0);
	assert_int_equal(outbox_release_due(f->st, MORNING, NULL), 0);
	assert_int_equal(claim(f, "desktop", MORNING, NULL, 0), 1);

	/* Invalid input. */
	struct outbox_alert bad = { .rule = "R", .severity = "low" };
	struct outbox_result res;
	assert_int_equal(outbox_submit(f->st, &bad, &quiet, sinks, 2, NIGHT, &res), -EINVAL);
}

int main(void)
{
	log_init(VIGIL_LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_story_from_two_sources_is_one_alert, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_cooldown_after_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_hours_hold_and_release_one_digest, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_quiet_window_local_time, pin_utc, pin_utc),
		cmocka_unit_test_setup_teardown(test_digest_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_lost_in_a_mixed_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_callers_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
