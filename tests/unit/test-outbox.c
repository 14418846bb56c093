/* test-outbox.c - unit tests for the durable alert outbox (daemon/outbox.c) */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "outbox.h"
#include "state-fixture.h"
#include "state.h"
#include "util.h"

struct fixture {
	char dir[256];
	char *path;                  /* dir/state.db */
	struct state *st;
};

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;
	int ret = state_fixture_close(f->dir, &f->path, &f->st);
	free(f);
	return ret;
}

static int setup(void **ctx)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	if (state_fixture_open("outbox", f->dir, sizeof f->dir, &f->path, &f->st) < 0) {
		free(f);
		return -1;
	}
	*ctx = f;
	return 0;
}

static int64_t add(struct fixture *f, const char *rule, int64_t created,
                   const char *const *sinks, size_t n_sinks)
{
	struct outbox_alert a = {
		.rule = rule,
		.severity = "high",
		.source = "feed",
		.reason = "matched",
		.story_key = "story-1",
		.item_json = "{\"title\":\"x\"}",
		.created = created,
	};
	int64_t id = -1;
	assert_int_equal(outbox_add(f->st, &a, sinks, n_sinks, &id), 0);
	assert_true(id > 0);
	return id;
}

static const char *const one_sink[] = { "s1" };
static const char *const two_sinks[] = { "s1", "s2" };

/* Claim expecting exactly `n` deliveries with these alert ids, in order. */
static struct outbox_delivery **claim_expect(struct fixture *f, const char *sink, int64_t now,
                                             size_t limit, size_t n, const int64_t *ids)
{
	struct outbox_delivery **v = (struct outbox_delivery **)&v;
	size_t got = 99;
	assert_int_equal(outbox_claim(f->st, sink, now, limit, &v, &got), 0);
	assert_int_equal(got, n);
	if (n == 0)
		assert_null(v);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i]->alert_id, ids[i]);
		assert_string_equal(v[i]->sink, sink);
		assert_int_equal(v[i]->status, DELIVERY_INFLIGHT);
	}
	return v;
}

static bool key_well_formed(const char *key)
{
	if (!key || strlen(key) != 36 || strncmp(key, "msg_", 4) != 0)
		return false;
	for (const char *p = key + 4; *p; p++)
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	return true;
}

static void test_add(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t id = add(f, "r1", 100, two_sinks, 2);
	int64_t id2 = add(f, "r2", 100, one_sink, 1);
	assert_true(id2 > id);

	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 3);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_PENDING), 2);
	assert_int_equal(outbox_count(f->st, "s2", DELIVERY_PENDING), 1);

	struct outbox_delivery **v;
	size_t n;
	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 0, &v, &n), 0);
	assert_int_equal(n, 3);
	/* Newest alert first, then by sink. */
	assert_int_equal(v[0]->alert_id, id2);
	assert_int_equal(v[1]->alert_id, id);
	assert_string_equal(v[1]->sink, "s1");
	assert_int_equal(v[2]->alert_id, id);
	assert_string_equal(v[2]->sink, "s2");
	for (size_t i = 0; i < n; i++) {
		assert_true(key_well_formed(v[i]->idempotency_key));
		assert_int_equal(v[i]->status, DELIVERY_PENDING);
		assert_int_equal(v[i]->attempts, 0);
		assert_int_equal(v[i]->next_attempt, 100);   /* due when created */
		assert_null(v[i]->last_error);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(v[i]->idempotency_key, v[j]->idempotency_key);
	}
	/* The alert comes along with each delivery. */
	assert_string_equal(v[1]->rule, "r1");
	assert_string_equal(v[1]->severity, "high");
	assert_string_equal(v[1]->source, "feed");
	assert_string_equal(v[1]->reason, "matched");
	assert_string_equal(v[1]->story_key, "story-1");
	assert_string_equal(v[1]->item_json, "{\"title\":\"x\"}");
	assert_int_equal(v[1]->created, 100);

	/* Keys are stored, not regenerated: the same on every read and claim. */
	char *k1 = xstrdup(v[1]->idempotency_key), *k2 = xstrdup(v[2]->idempotency_key);
	outbox_deliveries_free(v, n);
	struct outbox_delivery **c = claim_expect(f, "s2", 100, 10, 1, &id);
	assert_string_equal(c[0]->idempotency_key, k2);
	outbox_deliveries_free(c, 1);
	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 0, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1]->idempotency_key, k1);
	outbox_deliveries_free(v, n);
	free(k1);
	free(k2);

	/* Optional fields may be NULL; created 0 means now. */
	struct outbox_alert bare = { .rule = "r3", .severity = "low", .source = "feed" };
	int64_t before = now_s(), id3;
	assert_int_equal(outbox_add(f->st, &bare, one_sink, 1, &id3), 0);
	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 1, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0]->alert_id, id3);
	assert_null(v[0]->reason);
	assert_null(v[0]->item_json);
	assert_true(v[0]->created >= before && v[0]->created <= now_s());
	outbox_deliveries_free(v, n);
}

/* Keys are random: across many, every hex position takes several values. */
static void test_keys_random(void **ctx)
{
	struct fixture *f = *ctx;
	enum { N = 64 };
	char names[N][8];
	const char *sinks[N];
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "s%zu", i);
		sinks[i] = names[i];
	}
	add(f, "r", 100, sinks, N);

	struct outbox_delivery **v;
	size_t n;
	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 0, &v, &n), 0);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++) {
		assert_true(key_well_formed(v[i]->idempotency_key));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(v[i]->idempotency_key, v[j]->idempotency_key);
	}
	/* A position stuck at one digit over 64 random keys: odds 16^-63. */
	for (size_t pos = 4; pos < 36; pos++) {
		bool varies = false;
		for (size_t i = 1; i < n && !varies; i++)
			varies = v[i]->idempotency_key[pos] != v[0]->idempotency_key[pos];
		if (!varies)
			fail_msg("key position %zu never changes", pos);
	}
	outbox_deliveries_free(v, n);
}

static void test_add_invalid(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_alert a = { .rule = "r", .severity = "low", .source = NULL };
	int64_t id;
	assert_int_equal(outbox_add(f->st, &a, one_sink, 1, &id), -EINVAL);
	a.source = "feed";
	const char *const bad[] = { "s1", NULL };
	assert_int_equal(outbox_add(f->st, &a, bad, 2, &id), -EINVAL);
	/* The same sink twice is a constraint error, and nothing of it stays. */
	const char *const twice[] = { "s1", "s1" };
	assert_int_equal(outbox_add(f->st, &a, twice, 2, &id), -EIO);
	assert_false(state_in_transaction(f->st));
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 0);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st), "SELECT COUNT(*) FROM alerts", -1,
	                                    &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);

	/* Foreign keys are enforced: no delivery without its alert. */
	assert_int_not_equal(sqlite3_exec(state_db(f->st),
		"INSERT INTO deliveries (alert_id, sink, status, next_attempt, idempotency_key, "
		"updated) VALUES (999, 's1', 0, 0, 'k', 0)", NULL, NULL, NULL), SQLITE_OK);
}

static void test_add_in_caller_transaction(void **ctx)
{
	struct fixture *f = *ctx;

	/* Rolled back together with the seen mark. */
	assert_int_equal(state_begin(f->st), 0);
	assert_int_equal(state_seen_mark(f->st, "feed", "item", 100), 1);
	add(f, "r", 100, two_sinks, 2);
	assert_true(state_in_transaction(f->st));   /* add did not commit it */
	state_rollback(f->st);
	assert_false(state_seen_has(f->st, "feed", "item"));
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 0);

	/* Committed together. */
	assert_int_equal(state_begin(f->st), 0);
	assert_int_equal(state_seen_mark(f->st, "feed", "item", 100), 1);
	int64_t id = add(f, "r", 100, two_sinks, 2);
	assert_int_equal(state_commit(f->st), 0);
	assert_true(state_seen_has(f->st, "feed", "item"));
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 2);

	/* Claiming inside the caller's transaction joins it. */
	assert_int_equal(state_begin(f->st), 0);
	struct outbox_delivery **v = claim_expect(f, "s1", 100, 10, 1, &id);
	outbox_deliveries_free(v, 1);
	state_rollback(f->st);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_PENDING), 1);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_INFLIGHT), 0);
}

static void test_claim(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t a1 = add(f, "r", 100, two_sinks, 2);
	int64_t a2 = add(f, "r", 200, one_sink, 1);
	int64_t a3 = add(f, "r", 100, one_sink, 1);   /* same due time as a1, later id */
	int64_t a4 = add(f, "r", 1000, one_sink, 1);  /* not due yet at 500 */
	struct outbox_delivery **v;

	/* Limit, order (due time, then id), sink. */
	int64_t first[] = { a1, a3 };
	v = claim_expect(f, "s1", 500, 2, 2, first);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(v[i]->attempts, 1);
	outbox_deliveries_free(v, 2);

	/* The rest that is due; the claimed ones are not handed out again. */
	v = claim_expect(f, "s1", 500, 10, 1, &a2);
	outbox_deliveries_free(v, 1);
	v = claim_expect(f, "s1", 500, 10, 0, NULL);
	outbox_deliveries_free(v, 0);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_INFLIGHT), 3);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_PENDING), 1);

	/* Due time is inclusive. */
	v = claim_expect(f, "s1", 999, 10, 0, NULL);
	v = claim_expect(f, "s1", 1000, 10, 1, &a4);
	outbox_deliveries_free(v, 1);

	/* The other sink's delivery of a1 was untouched. */
	assert_int_equal(outbox_count(f->st, "s2", DELIVERY_PENDING), 1);
	v = claim_expect(f, "s2", 500, 0, 0, NULL);   /* limit 0: nothing */
	v = claim_expect(f, "s2", 500, 10, 1, &a1);
	assert_int_equal(v[0]->attempts, 1);
	outbox_deliveries_free(v, 1);
	v = claim_expect(f, "unknown", 5000, 10, 0, NULL);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_INFLIGHT), 5);
}

static void test_recover_after_crash(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t id = add(f, "r", 100, one_sink, 1);
	struct outbox_delivery **v = claim_expect(f, "s1", 100, 10, 1, &id);
	char *key = xstrdup(v[0]->idempotency_key);
	assert_int_equal(v[0]->attempts, 1);
	outbox_deliveries_free(v, 1);

	/* Crash: the sink never answered. */
	state_close(f->st);
	f->st = NULL;
	char *error = NULL;
	assert_int_equal(state_open(f->path, &f->st, &error), 0);

	/* Still in flight until recovered. */
	v = claim_expect(f, "s1", 5000, 10, 0, NULL);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_INFLIGHT), 1);
	assert_int_equal(outbox_recover(f->st, 2000), 0);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_INFLIGHT), 0);
	int64_t when;
	assert_int_equal(outbox_next_due(f->st, "s1", &when), 0);
	assert_int_equal(when, 2000);

	v = claim_expect(f, "s1", 2000, 10, 1, &id);
	assert_string_equal(v[0]->idempotency_key, key);
	assert_int_equal(v[0]->attempts, 2);
	outbox_deliveries_free(v, 1);
	free(key);

	/* Nothing in flight: recover is a no-op. */
	assert_int_equal(outbox_mark_delivered(f->st, id, "s1", 2001), 0);
	assert_int_equal(outbox_recover(f->st, 3000), 0);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_DELIVERED), 1);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 0);
}

static void test_retry(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t id = add(f, "r", 100, one_sink, 1);
	struct outbox_delivery **v = claim_expect(f, "s1", 100, 10, 1, &id);
	char *key = xstrdup(v[0]->idempotency_key);
	outbox_deliveries_free(v, 1);

	assert_int_equal(outbox_mark_retry(f->st, id, "s1", 900, "HTTP 503"), 0);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_PENDING), 1);
	int64_t when;
	assert_int_equal(outbox_next_due(f->st, "s1", &when), 0);
	assert_int_equal(when, 900);
	v = claim_expect(f, "s1", 899, 10, 0, NULL);
	v = claim_expect(f, "s1", 900, 10, 1, &id);
	assert_int_equal(v[0]->attempts, 2);
	assert_string_equal(v[0]->last_error, "HTTP 503");
	assert_string_equal(v[0]->idempotency_key, key);
	outbox_deliveries_free(v, 1);
	free(key);

	assert_int_equal(outbox_mark_retry(f->st, id + 1, "s1", 900, "x"), -ENOENT);
	assert_int_equal(outbox_mark_retry(f->st, id, "s2", 900, "x"), -ENOENT);
}

static void test_retry_now(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t retried = add(f, "r", 100, two_sinks, 2);
	int64_t fresh = add(f, "r", 500, one_sink, 1);     /* never attempted, due at 500 */
	int64_t held = add(f, "r", 100, one_sink, 1);
	struct outbox_delivery **v = claim_expect(f, "s1", 100, 10, 2,
	                                          (int64_t[]){ retried, held });
	outbox_deliveries_free(v, 2);
	v = claim_expect(f, "s2", 100, 10, 1, &retried);
	outbox_deliveries_free(v, 1);
	assert_int_equal(outbox_mark_retry(f->st, retried, "s1", 3700, "no server"), 0);
	assert_int_equal(outbox_mark_retry(f->st, retried, "s2", 3700, "no server"), 0);
	assert_int_equal(outbox_mark_retry(f->st, held, "s1", 3700, "no server"), 0);
	assert_int_equal(sqlite3_exec(state_db(f->st), "UPDATE alerts SET held_until = 99999 "
	                              "WHERE id = 3", NULL, NULL, NULL), SQLITE_OK);

	/* s1's two retries are due at 200; its fresh alert keeps its time, s2 its backoff. */
	size_t n = 99;
	assert_int_equal(outbox_retry_now(f->st, "s1", 200, &n), 0);
	assert_int_equal(n, 2);
	int64_t when;
	assert_int_equal(outbox_next_due(f->st, "s1", &when), 0);
	assert_int_equal(when, 200);
	assert_int_equal(outbox_next_due(f->st, "s2", &when), 0);
	assert_int_equal(when, 3700);
	/* The held one stays held: only the retried one is claimed at 200. */
	v = claim_expect(f, "s1", 200, 10, 1, &retried);
	assert_int_equal(v[0]->attempts, 2);
	outbox_deliveries_free(v, 1);
	v = claim_expect(f, "s1", 499, 10, 0, NULL);
	v = claim_expect(f, "s1", 500, 10, 1, &fresh);
	outbox_deliveries_free(v, 1);
	assert_int_equal(outbox_retry_now(f->st, "s1", 600, &n), 0);
	assert_int_equal(n, 0);        /* the held one is due already, and still not claimed */
	v = claim_expect(f, "s1", 600, 10, 0, NULL);
	assert_int_equal(outbox_retry_now(f->st, "nobody", 600, NULL), 0);
}

static void test_done_excluded(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t a1 = add(f, "r", 100, one_sink, 1);
	int64_t a2 = add(f, "r", 100, one_sink, 1);
	int64_t a3 = add(f, "r", 100, one_sink, 1);
	int64_t all[] = { a1, a2, a3 };
	struct outbox_delivery **v = claim_expect(f, "s1", 100, 10, 3, all);
	outbox_deliveries_free(v, 3);

	assert_int_equal(outbox_mark_retry(f->st, a1, "s1", 150, "timeout"), 0);
	assert_int_equal(outbox_mark_delivered(f->st, a1, "s1", 160), 0);
	assert_int_equal(outbox_mark_failed(f->st, a2, "s1", "HTTP 400", 170), 0);
	assert_int_equal(outbox_mark_retry(f->st, a3, "s1", 180, "timeout"), 0);
	assert_int_equal(outbox_mark_delivered(f->st, 9999, "s1", 160), -ENOENT);
	assert_int_equal(outbox_mark_failed(f->st, 9999, "s1", "x", 160), -ENOENT);

	/* Only the retried one comes back, however late it is. */
	v = claim_expect(f, "s1", 100000, 10, 1, &a3);
	outbox_deliveries_free(v, 1);
	v = claim_expect(f, "s1", 100000, 10, 0, NULL);
	int64_t when;
	assert_int_equal(outbox_next_due(f->st, "s1", &when), -ENOENT);

	/* Delivered clears the error of an earlier attempt; failed keeps its own. */
	size_t n;
	assert_int_equal(outbox_list(f->st, DELIVERY_DELIVERED, 0, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0]->alert_id, a1);
	assert_null(v[0]->last_error);
	outbox_deliveries_free(v, n);
	assert_int_equal(outbox_list(f->st, DELIVERY_FAILED, 0, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0]->alert_id, a2);
	assert_int_equal(v[0]->status, DELIVERY_FAILED);
	assert_string_equal(v[0]->last_error, "HTTP 400");
	outbox_deliveries_free(v, n);
}

static void test_next_due(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t when = -1;
	assert_int_equal(outbox_next_due(f->st, "s1", &when), -ENOENT);
	assert_int_equal(when, -1);

	int64_t a1 = add(f, "r", 300, one_sink, 1);
	add(f, "r", 500, one_sink, 1);
	const char *const other[] = { "s2" };
	add(f, "r", 50, other, 1);

	assert_int_equal(outbox_next_due(f->st, "s1", &when), 0);
	assert_int_equal(when, 300);
	assert_int_equal(outbox_next_due(f->st, "s2", &when), 0);
	assert_int_equal(when, 50);

	/* In-flight deliveries are not due. */
	struct outbox_delivery **v = claim_expect(f, "s1", 300, 10, 1, &a1);
	outbox_deliveries_free(v, 1);
	assert_int_equal(outbox_next_due(f->st, "s1", &when), 0);
	assert_int_equal(when, 500);
}

static void test_count(void **ctx)
{
	struct fixture *f = *ctx;
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 0);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_PENDING), 0);

	int64_t a1 = add(f, "r", 100, two_sinks, 2);
	add(f, "r", 100, two_sinks, 2);
	add(f, "r", 100, one_sink, 1);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 5);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_PENDING), 3);
	assert_int_equal(outbox_count(f->st, "s2", DELIVERY_PENDING), 2);

	assert_int_equal(outbox_mark_failed(f->st, a1, "s2", "gone", 200), 0);
	assert_int_equal(outbox_mark_delivered(f->st, a1, "s1", 200), 0);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_PENDING), 3);
	assert_int_equal(outbox_count(f->st, "s2", DELIVERY_FAILED), 1);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_FAILED), 0);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_DELIVERED), 1);
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_INFLIGHT), 0);
}

static void test_list(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_delivery **v = (struct outbox_delivery **)&v;
	size_t n = 99;
	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 10, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	int64_t ids[5];
	for (size_t i = 0; i < 5; i++)
		ids[i] = add(f, "r", 100 + (int64_t)i, one_sink, 1);
	assert_int_equal(outbox_mark_failed(f->st, ids[2], "s1", "x", 200), 0);

	/* Newest first, filtered by status, limited. */
	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 3, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0]->alert_id, ids[4]);
	assert_int_equal(v[1]->alert_id, ids[3]);
	assert_int_equal(v[2]->alert_id, ids[1]);
	outbox_deliveries_free(v, n);

	assert_int_equal(outbox_list(f->st, DELIVERY_PENDING, 0, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[3]->alert_id, ids[0]);
	outbox_deliveries_free(v, n);

	assert_int_equal(outbox_list(f->st, DELIVERY_FAILED, 0, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0]->alert_id, ids[2]);
	outbox_deliveries_free(v, n);

	/* Listing claims nothing. */
	assert_int_equal(outbox_count(f->st, NULL, DELIVERY_INFLIGHT), 0);
}

static int64_t count_rows(struct fixture *f, const char *sql)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void test_add_records_its_source(void **ctx)
{
	struct fixture *f = *ctx;
	struct outbox_alert a = {
		.rule = "r", .severity = "low", .source = "feed", .item_json = "{}",
		.link = "https://example.org/a", .title = "A", .item_id = "guid-a",
		.reason_json = "[]", .created = 100,
	};
	int64_t id;
	assert_int_equal(outbox_add(f->st, &a, one_sink, 1, &id), 0);
	struct outbox_extras x;
	assert_int_equal(outbox_extras_get(f->st, id, &x), 0);
	assert_int_equal(x.n_sources, 1);
	assert_string_equal(x.sources[0].source, "feed");
	assert_string_equal(x.sources[0].link, "https://example.org/a");
	assert_string_equal(x.sources[0].title, "A");
	assert_string_equal(x.sources[0].item_id, "guid-a");
	assert_int_equal(x.sources[0].added, 100);
	assert_string_equal(x.reason_json, "[]");
	assert_null(x.noise_json);
	assert_int_equal(x.n_members, 0);
	outbox_extras_clear(&x);
	assert_int_equal(outbox_extras_get(f->st, id + 1, &x), -ENOENT);

	/* outbox_add never merges: that is outbox_submit's noise control. */
	assert_int_equal(outbox_add(f->st, &a, one_sink, 1, NULL), 0);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM alerts"), 2);
}

static void test_held_and_digested_are_not_claimed(void **ctx)
{
	struct fixture *f = *ctx;
	int64_t id = add(f, "r", 100, one_sink, 1);
	int64_t held = add(f, "r", 100, one_sink, 1);
	int64_t member = add(f, "r", 100, one_sink, 1);
	assert_int_equal(sqlite3_exec(state_db(f->st),
		"UPDATE alerts SET held_until = 99999 WHERE id = 2;"
		"UPDATE deliveries SET status = 4 WHERE alert_id = 3", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(held, 2);
	assert_int_equal(member, 3);
	struct outbox_delivery **v = claim_expect(f, "s1", 100000, 10, 1, &id);
	outbox_deliveries_free(v, 1);
	assert_int_equal(outbox_count(f->st, "s1", DELIVERY_DIGESTED), 1);
	int64_t when;
	assert_int_equal(outbox_next_release(f->st, &when), 0);
	assert_int_equal(when, 99999);
	assert_int_equal(outbox_held_count(f->st), 1);
	/* Released (alone: as itself), it is claimed like any other. */
	size_t released;
	assert_int_equal(outbox_release_due(f->st, 99999, &released), 0);
	assert_int_equal(released, 1);
	v = claim_expect(f, "s1", 100000, 10, 1, &held);
	outbox_deliveries_free(v, 1);
	assert_int_equal(outbox_next_release(f->st, &when), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_in_caller_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_excluded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_records_its_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_and_digested_are_not_claimed, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
