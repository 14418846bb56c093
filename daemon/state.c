/* state.c - the SQLite state database: schema migrations, seen items, validators, health, key/value */
#include "state.h"
#include "state-sql.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

/*
 * Schema migrations: step i takes the schema from version i to i + 1. Each
 * runs in its own transaction together with the version bump, so a crash
 * mid-migration leaves the previous version intact. Append only: a released
 * step must never change, databases in the field have already run it.
 */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE seen ("
	"  source TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  PRIMARY KEY (source, key)"
	") WITHOUT ROWID;"
	"CREATE TABLE baselines ("
	"  source TEXT PRIMARY KEY NOT NULL,"
	"  at INTEGER NOT NULL"
	");"
	"CREATE TABLE validators ("
	"  source TEXT NOT NULL,"
	"  url TEXT NOT NULL,"
	"  etag TEXT,"
	"  last_modified TEXT,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (source, url)"
	");"
	"CREATE TABLE health ("
	"  source TEXT PRIMARY KEY NOT NULL,"
	"  last_success INTEGER NOT NULL DEFAULT 0,"
	"  last_error_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  consecutive_failures INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE kv ("
	"  instance TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (instance, key)"
	");"
	"CREATE TABLE alerts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  created INTEGER NOT NULL,"
	"  rule TEXT NOT NULL,"
	"  severity TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  reason TEXT,"
	"  story_key TEXT,"
	"  item_json TEXT"
	");"
	"CREATE TABLE deliveries ("
	"  alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
	"  sink TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt INTEGER NOT NULL,"
	"  last_error TEXT,"
	"  idempotency_key TEXT NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (alert_id, sink)"
	");"
	"CREATE INDEX deliveries_due ON deliveries (sink, status, next_attempt);",

	/*
	 * 2: edge state of when: rules; story dedupe and noise control
	 * (docs/noise.md). Alerts gain: the matcher's reason as JSON; a hold
	 * (held_until set while held, hold_kind quiet|digest|burst kept as
	 * history); the digest an alert went out in (digest_id) and, on a
	 * digest, its member count and the suppression counts it reports.
	 */
	"CREATE TABLE when_state ("
	"  rule TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  armed INTEGER NOT NULL,"
	"  last_value TEXT,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (rule, key)"
	") WITHOUT ROWID;"
	"ALTER TABLE alerts ADD COLUMN reason_json TEXT;"
	"ALTER TABLE alerts ADD COLUMN held_until INTEGER;"
	"ALTER TABLE alerts ADD COLUMN hold_kind TEXT;"
	"ALTER TABLE alerts ADD COLUMN digest_id INTEGER REFERENCES alerts(id);"
	"ALTER TABLE alerts ADD COLUMN n_members INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE alerts ADD COLUMN noise_json TEXT;"
	"CREATE INDEX alerts_story ON alerts (rule, story_key, created);"
	"CREATE INDEX alerts_rule_created ON alerts (rule, created);"
	"CREATE INDEX alerts_held ON alerts (held_until, rule) WHERE held_until IS NOT NULL;"
	"CREATE INDEX alerts_digest ON alerts (digest_id) WHERE digest_id IS NOT NULL;"
	"CREATE TABLE alert_sources ("
	"  alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
	"  source TEXT NOT NULL,"
	"  link TEXT,"
	"  title TEXT,"
	"  item_id TEXT,"
	"  added INTEGER NOT NULL"
	");"
	"CREATE INDEX alert_sources_alert ON alert_sources (alert_id);"
	"CREATE TABLE suppressed ("
	"  rule TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  last INTEGER NOT NULL,"
	"  reported INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (rule, kind)"
	");",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* Created before anything else; the CHECK keeps it to one row. */
static const char schema_version_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  version INTEGER NOT NULL"
	");"
	"INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0);";

struct cached_stmt {
	const char *sql;             /* the caller's string: the cache key */
	sqlite3_stmt *stmt;
};

struct state {
	sqlite3 *db;
	char *path;
	int version;
	bool in_tx;                  /* between state_begin and commit/rollback */
	struct cached_stmt *stmts;
	size_t n_stmts, cap_stmts;
};

/* Log the connection's last error; the -EIO to return. */

sqlite3_stmt *state_stmt(struct state *st, const char *sql)
{
	/* Few statements, found by pointer: a linear scan is cheaper than hashing. */
	for (size_t i = 0; i < st->n_stmts; i++)
		if (st->stmts[i].sql == sql)
			return st->stmts[i].stmt;

	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		log_msg(VIGIL_LOG_ERROR, "state", "preparing \"%s\": %s", sql, sqlite3_errmsg(st->db));
		return NULL;
	}
	if (st->n_stmts == st->cap_stmts) {
		st->cap_stmts = st->cap_stmts ? st->cap_stmts * 2 : 32;
		st->stmts = xrealloc(st->stmts, st->cap_stmts * sizeof *st->stmts);
	}
	st->stmts[st->n_stmts].sql = sql;
	st->stmts[st->n_stmts].stmt = stmt;
	st->n_stmts++;
	return stmt;
}

/* Run one cached statement that takes no parameters and returns no rows. */
static int run(struct state *st, const char *sql, const char *what)
{
	sqlite3_stmt *s = state_stmt(st, sql);
	if (!s)
		return -EIO;
	return stmt_exec(st, s, what);
}

/*
 * Opening and migrating. These report through *error instead of the log: the
 * caller decides how to present a state database it cannot use.
 */

static void set_error(struct state *st, char **error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set *error to "state database PATH: ...", unless an earlier step already did. */
static void set_error(struct state *st, char **error, const char *fmt, ...)
{
	va_list ap;
	char *what;

	if (*error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	*error = xasprintf("state database %s: %s", st->path, what ? what : "out of memory");
	free(what);
}

static int exec_sql(struct state *st, const char *sql, const char *doing, char **error)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		set_error(st, error, "%s: %s", doing, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* The first column of the first row of `sql`, copied ("" for NULL); NULL on error. */
static char *query_text(struct state *st, const char *sql, const char *doing, char **error)
{
	sqlite3_stmt *s;
	char *out = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		set_error(st, error, "%s: %s", doing, sqlite3_errmsg(st->db));
		return NULL;
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(s, 0);
		out = xstrdup(text ? text : "");
	} else {
		set_error(st, error, "%s: %s", doing, sqlite3_errmsg(st->db));
	}
	sqlite3_finalize(s);
	return out;
}

static int configure(struct state *st, char **error)
{
	sqlite3_busy_timeout(st->db, 5000);

	/* WAL lets readers (vigil --list-alerts) run while the daemon writes. */
	char *mode = query_text(st, "PRAGMA journal_mode = WAL", "setting WAL mode", error);
	if (!mode)
		return -EIO;
	if (strcasecmp(mode, "wal") != 0) {
		set_error(st, error, "cannot use WAL mode (journal_mode is \"%s\")", mode);
		free(mode);
		return -EIO;
	}
	free(mode);

	/*
	 * FULL: a commit survives power loss, not just a crash. The outbox relies
	 * on it: an alert must not vanish after its item was marked seen.
	 */
	if (exec_sql(st, "PRAGMA synchronous = FULL", "setting synchronous", error) < 0 ||
	    exec_sql(st, "PRAGMA foreign_keys = ON", "enabling foreign keys", error) < 0)
		return -EIO;
	return 0;
}

/*
 * One step per transaction. The version is read inside the write transaction
 * (BEGIN IMMEDIATE), so two processes opening the same new database cannot
 * both apply a step.
 */
static int migrate(struct state *st, char **error)
{
	int from = -1;
	for (;;) {
		if (exec_sql(st, "BEGIN IMMEDIATE", "starting a migration", error) < 0)
			return -EIO;
		if (exec_sql(st, schema_version_sql, "creating schema_version", error) < 0)
			goto rollback;
		char *text = query_text(st, "SELECT version FROM schema_version WHERE id = 1",
		                        "reading the schema version", error);
		if (!text)
			goto rollback;
		char *end;
		long version = strtol(text, &end, 10);
		bool valid = end != text && !*end && version >= 0 && version <= 1000000;
		if (!valid) {
			set_error(st, error, "invalid schema version \"%s\"", text);
			free(text);
			goto rollback;
		}
		free(text);
		if (from < 0)
			from = (int)version;

		if (version > SCHEMA_VERSION) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			*error = xasprintf("state database %s is from a newer vigil: it has schema "
			                   "version %ld, this vigil supports up to version %d",
			                   st->path, version, SCHEMA_VERSION);
			return -EPROTO;
		}
		if (version == SCHEMA_VERSION) {
			if (exec_sql(st, "COMMIT", "committing", error) < 0)
				goto rollback;
			st->version = SCHEMA_VERSION;
			break;
		}

		char doing[64];
		snprintf(doing, sizeof doing, "migrating to schema version %ld", version + 1);
		if (exec_sql(st, migrations[version], doing, error) < 0)
			goto rollback;
		char *bump = xasprintf("UPDATE schema_version SET version = %ld WHERE id = 1",
		                       version + 1);
		int ret = exec_sql(st, bump, doing, error);
		free(bump);
		if (ret < 0 || exec_sql(st, "COMMIT", doing, error) < 0)
			goto rollback;
	}
	if (from > 0 && from < st->version)
		log_msg(VIGIL_LOG_INFO, "state", "%s: upgraded schema from version %d to %d",
		        st->path, from, st->version);
	return 0;

rollback:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

int state_open(const char *path, struct state **out, char **error)
{
	struct state *st = xcalloc(1, sizeof *st);
	int ret;

	*out = NULL;
	*error = NULL;
	st->path = xstrdup(path);

	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		/* CANTOPEN says nothing about why; the OS error does. */
		int err = st->db ? sqlite3_system_errno(st->db) : 0;
		const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
		if (rc == SQLITE_CANTOPEN && err > 0)
			*error = xasprintf("cannot open state database %s: %s (%s)", path, msg,
			                   strerror(err));
		else
			*error = xasprintf("cannot open state database %s: %s", path, msg);
		ret = rc == SQLITE_CANTOPEN && err > 0 ? -err : -EIO;
		goto fail;
	}

	ret = configure(st, error);
	if (ret < 0)
		goto fail;
	ret = migrate(st, error);
	if (ret < 0)
		goto fail;

	*out = st;
	return 0;

fail:
	state_close(st);
	return ret;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	if (st->in_tx) {
		log_msg(VIGIL_LOG_WARNING, "state", "closing with a transaction open: rolled back");
		state_rollback(st);
	}
	for (size_t i = 0; i < st->n_stmts; i++)
		sqlite3_finalize(st->stmts[i].stmt);
	free(st->stmts);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_msg(VIGIL_LOG_ERROR, "state", "closing %s: %s", st->path, sqlite3_errmsg(st->db));
	free(st->path);
	free(st);
}

struct sqlite3 *state_db(struct state *st)
{
	return st->db;
}

int state_schema_version(struct state *st)
{
	return st->version;
}

int state_begin(struct state *st)
{
	/* Also refuse a transaction someone opened through state_db(). */
	if (st->in_tx || !sqlite3_get_autocommit(st->db))
		return -EBUSY;
	/* IMMEDIATE takes the write lock now, so no later statement in the
	 * transaction can fail with SQLITE_BUSY halfway through. */
	int ret = run(st, "BEGIN IMMEDIATE", "beginning a transaction");
	if (ret == 0)
		st->in_tx = true;
	return ret;
}

int state_commit(struct state *st)
{
	if (!st->in_tx) {
		log_msg(VIGIL_LOG_ERROR, "state", "commit without a transaction");
		return -EINVAL;
	}
	st->in_tx = false;
	/* Some errors (disk full, I/O) make SQLite roll back on its own. */
	if (sqlite3_get_autocommit(st->db)) {
		log_msg(VIGIL_LOG_ERROR, "state", "committing: the transaction was already "
		        "rolled back after an error");
		return -EIO;
	}
	int ret = run(st, "COMMIT", "committing");
	if (ret < 0 && !sqlite3_get_autocommit(st->db))
		run(st, "ROLLBACK", "rolling back after a failed commit");
	return ret;
}

void state_rollback(struct state *st)
{
	if (!st->in_tx)
		return;
	st->in_tx = false;
	if (!sqlite3_get_autocommit(st->db))
		run(st, "ROLLBACK", "rolling back");
}

bool state_in_transaction(const struct state *st)
{
	return st->in_tx;
}

int state_seen_mark(struct state *st, const char *source, const char *key, int64_t now)
{
	sqlite3_stmt *s = state_stmt(st, "INSERT OR IGNORE INTO seen (source, key, first_seen) "
	                                 "VALUES (?1, ?2, ?3)");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, source) || bind_text(s, 2, key) || sqlite3_bind_int64(s, 3, now))
		return bind_error(st, s, "marking an item seen");
	int ret = stmt_exec(st, s, "marking an item seen");
	if (ret < 0)
		return ret;
	/* An ignored insert changes nothing: the item was already there. */
	return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

/* Step a query; true when it returns a row. Errors are logged and count as false. */
static bool has_row(struct state *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_error(st, what);
	stmt_done(s);
	return rc == SQLITE_ROW;
}

bool state_seen_has(struct state *st, const char *source, const char *key)
{
	sqlite3_stmt *s = state_stmt(st, "SELECT 1 FROM seen WHERE source = ?1 AND key = ?2");
	if (!s)
		return false;
	if (bind_text(s, 1, source) || bind_text(s, 2, key)) {
		bind_error(st, s, "looking up a seen item");
		return false;
	}
	return has_row(st, s, "looking up a seen item");
}

bool state_source_baselined(struct state *st, const char *source)
{
	sqlite3_stmt *s = state_stmt(st, "SELECT 1 FROM baselines WHERE source = ?1");
	if (!s)
		return false;
	if (bind_text(s, 1, source)) {
		bind_error(st, s, "looking up a baseline");
		return false;
	}
	return has_row(st, s, "looking up a baseline");
}

int state_source_set_baselined(struct state *st, const char *source, int64_t now)
{
	/* The first completed poll is the baseline: later calls keep its time. */
	sqlite3_stmt *s = state_stmt(st, "INSERT OR IGNORE INTO baselines (source, at) "
	                                 "VALUES (?1, ?2)");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, source) || sqlite3_bind_int64(s, 2, now))
		return bind_error(st, s, "recording a baseline");
	return stmt_exec(st, s, "recording a baseline");
}

int state_validators_get(struct state *st, const char *source, const char *url, char **etag,
                         char **last_modified)
{
	if (etag)
		*etag = NULL;
	if (last_modified)
		*last_modified = NULL;
	sqlite3_stmt *s = state_stmt(st, "SELECT etag, last_modified FROM validators "
	                                 "WHERE source = ?1 AND url = ?2");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, source) || bind_text(s, 2, url))
		return bind_error(st, s, "reading validators");
	int ret;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (etag)
			*etag = column_strdup(s, 0);
		if (last_modified)
			*last_modified = column_strdup(s, 1);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = -ENOENT;
	} else {
		ret = db_error(st, "reading validators");
	}
	stmt_done(s);
	return ret;
}

int state_validators_put(struct state *st, const char *source, const char *url,
                         const char *etag, const char *last_modified)
{
	sqlite3_stmt *s = state_stmt(st,
		"INSERT INTO validators (source, url, etag, last_modified, updated) "
		"VALUES (?1, ?2, ?3, ?4, ?5) "
		"ON CONFLICT (source, url) DO UPDATE SET etag = excluded.etag, "
		"last_modified = excluded.last_modified, updated = excluded.updated");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, source) || bind_text(s, 2, url) || bind_text(s, 3, etag) ||
	    bind_text(s, 4, last_modified) || sqlite3_bind_int64(s, 5, now_s()))
		return bind_error(st, s, "storing validators");
	return stmt_exec(st, s, "storing validators");
}

int state_health_get(struct state *st, const char *source, struct source_health *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s = state_stmt(st,
		"SELECT last_success, last_error_at, last_error, consecutive_failures "
		"FROM health WHERE source = ?1");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, source))
		return bind_error(st, s, "reading source health");
	int ret;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->last_success = sqlite3_column_int64(s, 0);
		out->last_error_at = sqlite3_column_int64(s, 1);
		out->last_error = column_strdup(s, 2);
		out->consecutive_failures = sqlite3_column_int(s, 3);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = -ENOENT;
	} else {
		ret = db_error(st, "reading source health");
	}
	stmt_done(s);
	return ret;
}

int state_health_record(struct state *st, const char *source, bool ok, const char *error,
                        int64_t now)
{
	sqlite3_stmt *s;
	if (ok)
		s = state_stmt(st,
			"INSERT INTO health (source, last_success, consecutive_failures) "
			"VALUES (?1, ?2, 0) ON CONFLICT (source) DO UPDATE SET "
			"last_success = excluded.last_success, consecutive_failures = 0");
	else
		s = state_stmt(st,
			"INSERT INTO health (source, last_error_at, last_error, consecutive_failures) "
			"VALUES (?1, ?2, ?3, 1) ON CONFLICT (source) DO UPDATE SET "
			"last_error_at = excluded.last_error_at, last_error = excluded.last_error, "
			"consecutive_failures = consecutive_failures + 1");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, source) || sqlite3_bind_int64(s, 2, now) ||
	    (!ok && bind_text(s, 3, error)))
		return bind_error(st, s, "recording source health");
	return stmt_exec(st, s, "recording source health");
}

void source_health_clear(struct source_health *h)
{
	free(h->last_error);
	h->last_error = NULL;
}

int state_kv_get(struct state *st, const char *instance, const char *key, char **value)
{
	*value = NULL;
	sqlite3_stmt *s = state_stmt(st, "SELECT value FROM kv WHERE instance = ?1 AND key = ?2");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, instance) || bind_text(s, 2, key))
		return bind_error(st, s, "reading instance state");
	int ret;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*value = column_strdup(s, 0);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = -ENOENT;
	} else {
		ret = db_error(st, "reading instance state");
	}
	stmt_done(s);
	return ret;
}

int state_kv_put(struct state *st, const char *instance, const char *key, const char *value)
{
	sqlite3_stmt *s;
	if (value)
		s = state_stmt(st, "INSERT INTO kv (instance, key, value) VALUES (?1, ?2, ?3) "
		                   "ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value");
	else
		s = state_stmt(st, "DELETE FROM kv WHERE instance = ?1 AND key = ?2");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, instance) || bind_text(s, 2, key) || (value && bind_text(s, 3, value)))
		return bind_error(st, s, "storing instance state");
	return stmt_exec(st, s, "storing instance state");
}
