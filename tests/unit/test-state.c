/* test-state.c - unit tests for the SQLite state database (daemon/state.c) */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

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
	if (state_fixture_open("state", f->dir, sizeof f->dir, &f->path, &f->st) < 0) {
		free(f);
		return -1;
	}
	*ctx = f;
	return 0;
}

static void reopen(struct fixture *f)
{
	char *error = NULL;
	state_close(f->st);
	f->st = NULL;
	int ret = state_open(f->path, &f->st, &error);
	if (ret < 0)
		fail_msg("reopen: %s", error);
	assert_null(error);
}

/* Run SQL on the database file with a separate connection, as another program would. */
static void exec_direct(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static char *query_text(struct state *st, const char *sql)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	char *out = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return out;
}

static void test_open_creates_schema(void **ctx)
{
	struct fixture *f = *ctx;
	assert_true(state_schema_version(f->st) >= 1);

	static const char *const names[] = {
		"schema_version", "seen", "baselines", "validators", "health", "kv",
		"alerts", "deliveries", "deliveries_due",
	};
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st),
	                 "SELECT 1 FROM sqlite_master WHERE name = ?1", -1, &s, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		sqlite3_bind_text(s, 1, names[i], -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_ROW)
			fail_msg("no table or index %s", names[i]);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);

	char *version = query_text(f->st, "SELECT version FROM schema_version");
	char expect[16];
	snprintf(expect, sizeof expect, "%d", state_schema_version(f->st));
	assert_string_equal(version, expect);
	free(version);

	/* seen is WITHOUT ROWID: selecting rowid fails. */
	assert_int_not_equal(sqlite3_exec(state_db(f->st), "SELECT rowid FROM seen", NULL, NULL,
	                                  NULL), SQLITE_OK);
}

static void test_reopen_keeps_data(void **ctx)
{
	struct fixture *f = *ctx;
	int version = state_schema_version(f->st);
	assert_int_equal(state_seen_mark(f->st, "src", "item-1", 100), 1);
	assert_int_equal(state_kv_put(f->st, "inst", "cursor", "42"), 0);

	reopen(f);
	assert_int_equal(state_schema_version(f->st), version);
	assert_true(state_seen_has(f->st, "src", "item-1"));
	assert_int_equal(state_seen_mark(f->st, "src", "item-1", 200), 0);
	char *value;
	assert_int_equal(state_kv_get(f->st, "inst", "cursor", &value), 0);
	assert_string_equal(value, "42");
	free(value);

	char *rows = query_text(f->st, "SELECT COUNT(*) FROM schema_version");
	assert_string_equal(rows, "1");
	free(rows);
}

static void test_newer_schema_refused(void **ctx)
{
	struct fixture *f = *ctx;
	int known = state_schema_version(f->st);
	int newer = known + 100;
	state_close(f->st);
	f->st = NULL;

	char *sql = xasprintf("UPDATE schema_version SET version = %d", newer);
	exec_direct(f->path, sql);
	free(sql);

	static char sentinel;
	char *error = NULL;
	struct state *st = (struct state *)&sentinel;   /* state_open must reset it */
	assert_int_equal(state_open(f->path, &st, &error), -EPROTO);
	assert_null(st);
	assert_non_null(error);
	char want_newer[64], want_known[64];
	snprintf(want_newer, sizeof want_newer, "schema version %d,", newer);
	snprintf(want_known, sizeof want_known, "up to version %d", known);
	if (!strstr(error, want_newer) || !strstr(error, want_known) || !strstr(error, f->path))
		fail_msg("unexpected message: %s", error);
	free(error);

	/* Refusing must not have touched it. */
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &s,
	                                    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), newer);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void test_open_error_names_path(void **ctx)
{
	struct fixture *f = *ctx;
	struct state *st;
	char *error = NULL;

	/* The caller creates the directory; state_open does not. */
	char *missing = path_join(f->dir, "no-such-dir/state.db");
	assert_true(state_open(missing, &st, &error) < 0);
	assert_null(st);
	assert_non_null(error);
	if (!strstr(error, missing))
		fail_msg("path not in message: %s", error);
	free(error);
	free(missing);

	/* Not a database. */
	char *junk = path_join(f->dir, "junk.db");
	int fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char garbage[4096];
	memset(garbage, 'x', sizeof garbage);
	assert_int_equal(write(fd, garbage, sizeof garbage), (ssize_t)sizeof garbage);
	close(fd);
	error = NULL;
	assert_int_equal(state_open(junk, &st, &error), -EIO);
	assert_null(st);
	if (!error || !strstr(error, junk))
		fail_msg("path not in message: %s", error ? error : "(null)");
	free(error);
	free(junk);
}

static void test_pragmas(void **ctx)
{
	struct fixture *f = *ctx;
	char *mode = query_text(f->st, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	char *sync = query_text(f->st, "PRAGMA synchronous");
	assert_string_equal(sync, "2");    /* FULL */
	free(sync);
	char *fk = query_text(f->st, "PRAGMA foreign_keys");
	assert_string_equal(fk, "1");
	free(fk);
	char *busy = query_text(f->st, "PRAGMA busy_timeout");
	assert_string_equal(busy, "5000");
	free(busy);

	/* Still WAL after a reopen (it is persistent, but we also set it every time). */
	reopen(f);
	mode = query_text(f->st, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
}

static void test_seen(void **ctx)
{
	struct fixture *f = *ctx;
	assert_false(state_seen_has(f->st, "a", "k1"));
	assert_int_equal(state_seen_mark(f->st, "a", "k1", 10), 1);
	assert_true(state_seen_has(f->st, "a", "k1"));
	assert_int_equal(state_seen_mark(f->st, "a", "k1", 20), 0);
	assert_int_equal(state_seen_mark(f->st, "a", "k1", 30), 0);

	/* Per source. */
	assert_false(state_seen_has(f->st, "b", "k1"));
	assert_int_equal(state_seen_mark(f->st, "b", "k1", 40), 1);
	assert_int_equal(state_seen_mark(f->st, "a", "k2", 50), 1);

	/* The first sighting's time is kept. */
	char *first = query_text(f->st, "SELECT first_seen FROM seen WHERE source = 'a' AND key = 'k1'");
	assert_string_equal(first, "10");
	free(first);
}

static void test_baseline(void **ctx)
{
	struct fixture *f = *ctx;
	assert_false(state_source_baselined(f->st, "feed"));
	assert_int_equal(state_source_set_baselined(f->st, "feed", 1000), 0);
	assert_true(state_source_baselined(f->st, "feed"));
	assert_false(state_source_baselined(f->st, "other"));
	assert_int_equal(state_source_set_baselined(f->st, "feed", 2000), 0);
	assert_true(state_source_baselined(f->st, "feed"));
	char *at = query_text(f->st, "SELECT at FROM baselines WHERE source = 'feed'");
	assert_string_equal(at, "1000");
	free(at);
}

static void test_validators(void **ctx)
{
	struct fixture *f = *ctx;
	const char *url = "https://example.com/feed.xml";
	char *etag = (char *)"junk", *lm = (char *)"junk";

	assert_int_equal(state_validators_get(f->st, "feed", url, &etag, &lm), -ENOENT);
	assert_null(etag);
	assert_null(lm);

	assert_int_equal(state_validators_put(f->st, "feed", url, "\"abc\"", "Tue, 01 Oct 2024 10:00:00 GMT"), 0);
	assert_int_equal(state_validators_get(f->st, "feed", url, &etag, &lm), 0);
	assert_string_equal(etag, "\"abc\"");
	assert_string_equal(lm, "Tue, 01 Oct 2024 10:00:00 GMT");
	free(etag);
	free(lm);

	/* Overwrite replaces both; either may be NULL. */
	assert_int_equal(state_validators_put(f->st, "feed", url, "W/\"def\"", NULL), 0);
	assert_int_equal(state_validators_get(f->st, "feed", url, &etag, &lm), 0);
	assert_string_equal(etag, "W/\"def\"");
	assert_null(lm);
	free(etag);

	/* Only one wanted. */
	assert_int_equal(state_validators_get(f->st, "feed", url, NULL, &lm), 0);
	assert_null(lm);
	assert_int_equal(state_validators_get(f->st, "feed", "https://example.com/other", &etag, NULL),
	                 -ENOENT);
	assert_null(etag);

	/* Another source on the same URL has validators of its own. */
	assert_int_equal(state_validators_get(f->st, "other-feed", url, &etag, &lm), -ENOENT);
	assert_null(etag);
}

static void test_health(void **ctx)
{
	struct fixture *f = *ctx;
	struct source_health h;

	assert_int_equal(state_health_get(f->st, "src", &h), -ENOENT);
	assert_null(h.last_error);

	assert_int_equal(state_health_record(f->st, "src", true, NULL, 100), 0);
	assert_int_equal(state_health_get(f->st, "src", &h), 0);
	assert_int_equal(h.last_success, 100);
	assert_int_equal(h.last_error_at, 0);
	assert_null(h.last_error);
	assert_int_equal(h.consecutive_failures, 0);
	source_health_clear(&h);

	assert_int_equal(state_health_record(f->st, "src", false, "timeout", 200), 0);
	assert_int_equal(state_health_record(f->st, "src", false, "HTTP 503", 300), 0);
	assert_int_equal(state_health_get(f->st, "src", &h), 0);
	assert_int_equal(h.last_success, 100);
	assert_int_equal(h.last_error_at, 300);
	assert_string_equal(h.last_error, "HTTP 503");
	assert_int_equal(h.consecutive_failures, 2);
	source_health_clear(&h);
	assert_null(h.last_error);

	assert_int_equal(state_health_record(f->st, "src", true, NULL, 400), 0);
	assert_int_equal(state_health_get(f->st, "src", &h), 0);
	assert_int_equal(h.last_success, 400);
	assert_int_equal(h.consecutive_failures, 0);
	assert_int_equal(h.last_error_at, 300);
	assert_string_equal(h.last_error, "HTTP 503");
	source_health_clear(&h);

	/* A source whose first poll fails. */
	assert_int_equal(state_health_record(f->st, "new", false, "DNS", 500), 0);
	assert_int_equal(state_health_get(f->st, "new", &h), 0);
	assert_int_equal(h.last_success, 0);
	assert_int_equal(h.last_error_at, 500);
	assert_int_equal(h.consecutive_failures, 1);
	source_health_clear(&h);
}

static void test_kv(void **ctx)
{
	struct fixture *f = *ctx;
	char *value = (char *)"junk";

	assert_int_equal(state_kv_get(f->st, "i1", "k", &value), -ENOENT);
	assert_null(value);
	assert_int_equal(state_kv_put(f->st, "i1", "k", "v1"), 0);
	assert_int_equal(state_kv_put(f->st, "i2", "k", "other"), 0);
	assert_int_equal(state_kv_get(f->st, "i1", "k", &value), 0);
	assert_string_equal(value, "v1");
	free(value);

	assert_int_equal(state_kv_put(f->st, "i1", "k", "v2"), 0);
	assert_int_equal(state_kv_get(f->st, "i1", "k", &value), 0);
	assert_string_equal(value, "v2");
	free(value);

	/* NULL deletes, only for that instance; deleting again is fine. */
	assert_int_equal(state_kv_put(f->st, "i1", "k", NULL), 0);
	assert_int_equal(state_kv_get(f->st, "i1", "k", &value), -ENOENT);
	assert_int_equal(state_kv_put(f->st, "i1", "k", NULL), 0);
	assert_int_equal(state_kv_get(f->st, "i2", "k", &value), 0);
	assert_string_equal(value, "other");
	free(value);

	/* The empty string is a value, not a delete. */
	assert_int_equal(state_kv_put(f->st, "i1", "empty", ""), 0);
	assert_int_equal(state_kv_get(f->st, "i1", "empty", &value), 0);
	assert_string_equal(value, "");
	free(value);
}

static void test_transaction(void **ctx)
{
	struct fixture *f = *ctx;

	assert_false(state_in_transaction(f->st));
	assert_int_equal(state_begin(f->st), 0);
	assert_true(state_in_transaction(f->st));
	assert_int_equal(state_seen_mark(f->st, "src", "rolled-back", 1), 1);
	assert_true(state_seen_has(f->st, "src", "rolled-back"));
	state_rollback(f->st);
	assert_false(state_in_transaction(f->st));
	assert_false(state_seen_has(f->st, "src", "rolled-back"));

	assert_int_equal(state_begin(f->st), 0);
	assert_int_equal(state_seen_mark(f->st, "src", "committed", 1), 1);
	assert_int_equal(state_kv_put(f->st, "inst", "k", "v"), 0);
	assert_int_equal(state_commit(f->st), 0);
	assert_false(state_in_transaction(f->st));

	reopen(f);
	assert_true(state_seen_has(f->st, "src", "committed"));
	assert_false(state_seen_has(f->st, "src", "rolled-back"));

	/* Rollback without a transaction is harmless; commit is an error. */
	state_rollback(f->st);
	assert_int_equal(state_commit(f->st), -EINVAL);
}

static void test_nested_begin_refused(void **ctx)
{
	struct fixture *f = *ctx;
	assert_int_equal(state_begin(f->st), 0);
	assert_int_equal(state_begin(f->st), -EBUSY);
	/* The outer transaction is intact. */
	assert_true(state_in_transaction(f->st));
	assert_int_equal(state_seen_mark(f->st, "src", "k", 1), 1);
	assert_int_equal(state_commit(f->st), 0);
	assert_true(state_seen_has(f->st, "src", "k"));

	/* A transaction opened behind our back through state_db() counts too. */
	assert_int_equal(sqlite3_exec(state_db(f->st), "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(state_begin(f->st), -EBUSY);
	assert_int_equal(sqlite3_exec(state_db(f->st), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(state_begin(f->st), 0);
	state_rollback(f->st);
}

/* Schema 1 exactly as vigil created it before migration 2: a frozen fixture,
 * so the upgrade path is tested against what is in the field. */
static const char schema_v1[] =
	"CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  version INTEGER NOT NULL);"
	"INSERT INTO schema_version (id, version) VALUES (1, 1);"
	"CREATE TABLE seen (source TEXT NOT NULL, key TEXT NOT NULL, first_seen INTEGER NOT NULL,"
	"  PRIMARY KEY (source, key)) WITHOUT ROWID;"
	"CREATE TABLE baselines (source TEXT PRIMARY KEY NOT NULL, at INTEGER NOT NULL);"
	"CREATE TABLE validators (source TEXT NOT NULL, url TEXT NOT NULL, etag TEXT,"
	"  last_modified TEXT, updated INTEGER NOT NULL, PRIMARY KEY (source, url));"
	"CREATE TABLE health (source TEXT PRIMARY KEY NOT NULL,"
	"  last_success INTEGER NOT NULL DEFAULT 0, last_error_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT, consecutive_failures INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE kv (instance TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY (instance, key));"
	"CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, created INTEGER NOT NULL,"
	"  rule TEXT NOT NULL, severity TEXT NOT NULL, source TEXT NOT NULL, reason TEXT,"
	"  story_key TEXT, item_json TEXT);"
	"CREATE TABLE deliveries (alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
	"  sink TEXT NOT NULL, status INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt INTEGER NOT NULL, last_error TEXT, idempotency_key TEXT NOT NULL,"
	"  updated INTEGER NOT NULL, PRIMARY KEY (alert_id, sink));"
	"CREATE INDEX deliveries_due ON deliveries (sink, status, next_attempt);"
	"INSERT INTO seen VALUES ('feed', 'old-item', 5);"
	"INSERT INTO alerts (created, rule, severity, source, reason, story_key, item_json)"
	"  VALUES (7, 'r', 'high', 'feed', 'why', 'story', '{\"title\":\"old\"}');"
	"INSERT INTO deliveries VALUES (1, 's1', 0, 0, 7, NULL, 'msg_old', 7);";

static void test_schema_2_noise_tables(void **ctx)
{
	struct fixture *f = *ctx;
	assert_true(state_schema_version(f->st) >= 2);
	static const char *const names[] = {
		"when_state", "alert_sources", "suppressed", "alerts_story", "alerts_held",
		"alerts_digest", "alerts_rule_created", "alert_sources_alert",
	};
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(state_db(f->st),
	                 "SELECT 1 FROM sqlite_master WHERE name = ?1", -1, &s, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		sqlite3_bind_text(s, 1, names[i], -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_ROW)
			fail_msg("no table or index %s", names[i]);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	/* The new columns of alerts. */
	assert_int_equal(sqlite3_exec(state_db(f->st), "SELECT reason_json, held_until, hold_kind, "
	                              "digest_id, n_members, noise_json FROM alerts", NULL, NULL,
	                              NULL), SQLITE_OK);
	/* when_state is keyed by (rule, key). */
	assert_int_equal(sqlite3_exec(state_db(f->st), "INSERT INTO when_state VALUES "
	                              "('r', 'NVDA', 0, NULL, 1)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(state_db(f->st), "INSERT INTO when_state VALUES "
	                                  "('r', 'NVDA', 1, NULL, 2)", NULL, NULL, NULL), SQLITE_OK);
}

static void test_upgrade_from_version_1(void **ctx)
{
	struct fixture *f = *ctx;
	char *v1 = path_join(f->dir, "v1.db");
	exec_direct(v1, schema_v1);

	struct state *st;
	char *error = NULL;
	assert_int_equal(state_open(v1, &st, &error), 0);
	assert_null(error);
	int current = state_schema_version(f->st);    /* a new database's */
	assert_true(current >= 2);
	assert_int_equal(state_schema_version(st), current);
	/* Old data is intact; old alerts are neither held nor digests. */
	assert_true(state_seen_has(st, "feed", "old-item"));
	char *row = query_text(st, "SELECT rule || '|' || story_key || '|' || "
	                           "COALESCE(held_until, 'none') || '|' || n_members || '|' || "
	                           "COALESCE(digest_id, 'none') FROM alerts WHERE id = 1");
	assert_string_equal(row, "r|story|none|0|none");
	free(row);
	char *key = query_text(st, "SELECT idempotency_key FROM deliveries WHERE alert_id = 1");
	assert_string_equal(key, "msg_old");
	free(key);
	/* A new alert id continues after the old ones. */
	assert_int_equal(sqlite3_exec(state_db(st), "INSERT INTO alerts (created, rule, severity, "
	                              "source) VALUES (8, 'r', 'low', 'feed')", NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_last_insert_rowid(state_db(st)), 2);
	state_close(st);

	/* Opening again runs nothing more. */
	assert_int_equal(state_open(v1, &st, &error), 0);
	assert_int_equal(state_schema_version(st), current);
	char *version = query_text(st, "SELECT version FROM schema_version");
	assert_int_equal(atoi(version), current);
	free(version);
	state_close(st);
	free(v1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error_names_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_baseline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validators, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_begin_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_2_noise_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_version_1, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
