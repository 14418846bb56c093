/* state.h - the SQLite state database: seen items, validators, health, key/value */
#ifndef VIGIL_DAEMON_STATE_H
#define VIGIL_DAEMON_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct state;
struct sqlite3;
struct sqlite3_stmt;

/*
 * Open (creating if needed) the database at `path`, in WAL mode with
 * synchronous=FULL, and migrate its schema to the current version. A
 * database from a newer vigil (higher schema version) is refused (-EPROTO).
 * The directory must exist. Returns 0 or -errno with *error (malloc'd,
 * naming the path) saying why.
 */
int state_open(const char *path, struct state **out, char **error);
void state_close(struct state *st);
struct sqlite3 *state_db(struct state *st);
int state_schema_version(struct state *st);

/*
 * Transactions (BEGIN IMMEDIATE, not nested). begin: 0, -EBUSY when one is
 * already open, or -EIO. commit: 0 when durable, -EIO (the transaction is then
 * rolled back), -EINVAL without one. rollback: no-op without one. Every other
 * function runs inside the open transaction, or commits on its own when none is.
 */
int state_begin(struct state *st);
int state_commit(struct state *st);
void state_rollback(struct state *st);
bool state_in_transaction(const struct state *st);

/*
 * For modules layered on the database (outbox.c): the prepared statement for
 * `sql` (one statement), prepared on first use and cached until state_close.
 * The cache is keyed by the address of `sql`, so pass a string literal. After
 * use, sqlite3_reset() and sqlite3_clear_bindings() it. NULL on error (logged).
 */
struct sqlite3_stmt *state_stmt(struct state *st, const char *sql);

/* Seen items. Returns 1 when (source, key) was new and is now recorded,
 * 0 when it had been seen, -EIO on error. seen_has is false on error (logged). */
int state_seen_mark(struct state *st, const char *source, const char *key, int64_t now);
bool state_seen_has(struct state *st, const char *source, const char *key);

/* The silent baseline: has a poll of this source ever completed? */
bool state_source_baselined(struct state *st, const char *source);
int state_source_set_baselined(struct state *st, const char *source, int64_t now);

/* HTTP validators per (source, URL): two sources on one URL never hide a
 * document from each other. get: 0 (either may be NULL, caller frees) or
 * -ENOENT (both set to NULL); etag or last_modified may be NULL when not
 * wanted. put replaces both. */
int state_validators_get(struct state *st, const char *source, const char *url, char **etag,
                         char **last_modified);
int state_validators_put(struct state *st, const char *source, const char *url,
                         const char *etag, const char *last_modified);

/* Source health. */
struct source_health {
	int64_t last_success;        /* 0 when never */
	int64_t last_error_at;       /* 0 when never */
	char *last_error;            /* malloc'd or NULL */
	int consecutive_failures;
};
int state_health_get(struct state *st, const char *source, struct source_health *out); /* -ENOENT */
/* ok: last_success = now, consecutive_failures = 0 (last_error is kept as
 * history). Failure: last_error_at = now, last_error = error, failures + 1. */
int state_health_record(struct state *st, const char *source, bool ok, const char *error,
                        int64_t now);
void source_health_clear(struct source_health *h);

/* Per-instance key/value. get: 0 and *value (caller frees) or -ENOENT.
 * put with value NULL deletes. */
int state_kv_get(struct state *st, const char *instance, const char *key, char **value);
int state_kv_put(struct state *st, const char *instance, const char *key, const char *value);

#endif
