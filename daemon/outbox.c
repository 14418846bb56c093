/* outbox.c - the durable alert outbox: alerts and their per-sink delivery status */
#include "outbox.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "util.h"

/* The SQL below spells the statuses as numbers. */
_Static_assert(DELIVERY_PENDING == 0 && DELIVERY_INFLIGHT == 1 &&
               DELIVERY_DELIVERED == 2 && DELIVERY_FAILED == 3,
               "delivery_status values are stored in the database");

/* "msg_" and 32 hex digits */
#define IDEMPOTENCY_KEY_LEN 36

/* The columns delivery_from_row() reads, in its order. */
#define DELIVERY_COLUMNS \
	"d.alert_id, d.sink, d.status, d.attempts, d.next_attempt, d.last_error, " \
	"d.idempotency_key, a.rule, a.severity, a.source, a.reason, a.story_key, " \
	"a.item_json, a.created " \
	"FROM deliveries d JOIN alerts a ON a.id = d.alert_id "

static int db_error(struct state *st, const char *what)
{
	log_msg(VIGIL_LOG_ERROR, "state", "%s: %s", what, sqlite3_errmsg(state_db(st)));
	return -EIO;
}

static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int bind_error(struct state *st, sqlite3_stmt *s, const char *what)
{
	int ret = db_error(st, what);
	stmt_done(s);
	return ret;
}

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
	/* STATIC is safe: every statement is reset and cleared before we return. */
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

/* SQLite's LIMIT is signed; -1 means none. */
static int64_t sql_limit(size_t limit)
{
	return limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit;
}

/*
 * "msg_" and 128 random bits in hex, the shape of a Standard Webhooks message
 * id. Made once per (alert, sink) and stored: every attempt, also after a
 * restart, carries the same key, which is what lets a receiver drop duplicates.
 */
static int make_idempotency_key(char out[IDEMPOTENCY_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	size_t got = 0;

	while (got < sizeof raw) {
		ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	memcpy(out, "msg_", 4);
	for (size_t i = 0; i < sizeof raw; i++) {
		out[4 + 2 * i] = hex[raw[i] >> 4];
		out[5 + 2 * i] = hex[raw[i] & 15];
	}
	out[IDEMPOTENCY_KEY_LEN] = '\0';
	return 0;
}

/*
 * Functions that write several rows run in a transaction: the caller's when
 * one is open (its commit or rollback then covers our rows too), otherwise
 * their own. *own says which, for finish().
 */
static int start(struct state *st, bool *own)
{
	*own = !state_in_transaction(st);
	return *own ? state_begin(st) : 0;
}

static int finish(struct state *st, bool own, int ret)
{
	if (!own)
		return ret;
	if (ret < 0) {
		state_rollback(st);
		return ret;
	}
	return state_commit(st);
}

int outbox_add(struct state *st, const struct outbox_alert *a,
               const char *const *sinks, size_t n_sinks, int64_t *id)
{
	if (!a || !a->rule || !a->severity || !a->source || (n_sinks && !sinks))
		return -EINVAL;
	for (size_t i = 0; i < n_sinks; i++)
		if (!sinks[i])
			return -EINVAL;

	sqlite3_stmt *ins_alert = state_stmt(st,
		"INSERT INTO alerts (created, rule, severity, source, reason, story_key, item_json) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	sqlite3_stmt *ins_delivery = state_stmt(st,
		"INSERT INTO deliveries (alert_id, sink, status, attempts, next_attempt, "
		"last_error, idempotency_key, updated) VALUES (?1, ?2, 0, 0, ?3, NULL, ?4, ?3)");
	if (!ins_alert || !ins_delivery)
		return -EIO;

	int64_t created = a->created ? a->created : now_s();
	int64_t alert_id = 0;
	bool own;
	int ret = start(st, &own);
	if (ret < 0)
		return ret;

	if (sqlite3_bind_int64(ins_alert, 1, created) || bind_text(ins_alert, 2, a->rule) ||
	    bind_text(ins_alert, 3, a->severity) || bind_text(ins_alert, 4, a->source) ||
	    bind_text(ins_alert, 5, a->reason) || bind_text(ins_alert, 6, a->story_key) ||
	    bind_text(ins_alert, 7, a->item_json)) {
		ret = bind_error(st, ins_alert, "adding an alert");
		goto out;
	}
	if (sqlite3_step(ins_alert) != SQLITE_DONE) {
		ret = bind_error(st, ins_alert, "adding an alert");
		goto out;
	}
	stmt_done(ins_alert);
	alert_id = sqlite3_last_insert_rowid(state_db(st));

	for (size_t i = 0; i < n_sinks; i++) {
		char key[IDEMPOTENCY_KEY_LEN + 1];
		ret = make_idempotency_key(key);
		if (ret < 0) {
			log_msg(VIGIL_LOG_ERROR, "state", "getrandom: %s", strerror(-ret));
			ret = -EIO;
			goto out;
		}
		if (sqlite3_bind_int64(ins_delivery, 1, alert_id) ||
		    bind_text(ins_delivery, 2, sinks[i]) ||
		    sqlite3_bind_int64(ins_delivery, 3, created) ||
		    bind_text(ins_delivery, 4, key) ||
		    sqlite3_step(ins_delivery) != SQLITE_DONE) {
			ret = bind_error(st, ins_delivery, "adding a delivery");
			goto out;
		}
		stmt_done(ins_delivery);
	}
	if (id)
		*id = alert_id;
	ret = 0;
out:
	return finish(st, own, ret);
}

void outbox_delivery_free(struct outbox_delivery *d)
{
	if (!d)
		return;
	free(d->sink);
	free(d->last_error);
	free(d->idempotency_key);
	free(d->rule);
	free(d->severity);
	free(d->source);
	free(d->reason);
	free(d->story_key);
	free(d->item_json);
	free(d);
}

void outbox_deliveries_free(struct outbox_delivery **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		outbox_delivery_free(v[i]);
	free(v);
}

static char *column_strdup(sqlite3_stmt *s, int i)
{
	return xstrdup((const char *)sqlite3_column_text(s, i));
}

static struct outbox_delivery *delivery_from_row(sqlite3_stmt *s)
{
	struct outbox_delivery *d = xcalloc(1, sizeof *d);
	d->alert_id = sqlite3_column_int64(s, 0);
	d->sink = column_strdup(s, 1);
	d->status = (enum delivery_status)sqlite3_column_int(s, 2);
	d->attempts = (uint32_t)sqlite3_column_int64(s, 3);
	d->next_attempt = sqlite3_column_int64(s, 4);
	d->last_error = column_strdup(s, 5);
	d->idempotency_key = column_strdup(s, 6);
	d->rule = column_strdup(s, 7);
	d->severity = column_strdup(s, 8);
	d->source = column_strdup(s, 9);
	d->reason = column_strdup(s, 10);
	d->story_key = column_strdup(s, 11);
	d->item_json = column_strdup(s, 12);
	d->created = sqlite3_column_int64(s, 13);
	return d;
}

/* Step a bound DELIVERY_COLUMNS query to the end, collecting its rows. */
static int collect(struct state *st, sqlite3_stmt *s, const char *what,
                   struct outbox_delivery ***out, size_t *n)
{
	struct outbox_delivery **v = NULL;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[len++] = delivery_from_row(s);
	}
	if (rc != SQLITE_DONE) {
		int ret = bind_error(st, s, what);
		outbox_deliveries_free(v, len);
		return ret;
	}
	stmt_done(s);
	*out = v;
	*n = len;
	return 0;
}

int outbox_recover(struct state *st, int64_t now)
{
	sqlite3_stmt *s = state_stmt(st, "UPDATE deliveries SET status = 0, next_attempt = ?1, "
	                                 "updated = ?1 WHERE status = 1");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, now) || sqlite3_step(s) != SQLITE_DONE)
		return bind_error(st, s, "recovering in-flight deliveries");
	stmt_done(s);
	int n = sqlite3_changes(state_db(st));
	if (n > 0)
		log_msg(VIGIL_LOG_INFO, "state", "%d deliveries were in flight at the last stop; "
		        "they will be retried", n);
	return 0;
}

int outbox_claim(struct state *st, const char *sink, int64_t now, size_t limit,
                 struct outbox_delivery ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!sink)
		return -EINVAL;
	if (limit == 0)
		return 0;

	sqlite3_stmt *sel = state_stmt(st, "SELECT " DELIVERY_COLUMNS
		"WHERE d.sink = ?1 AND d.status = 0 AND d.next_attempt <= ?2 "
		"ORDER BY d.next_attempt, d.alert_id LIMIT ?3");
	sqlite3_stmt *upd = state_stmt(st, "UPDATE deliveries SET status = 1, "
		"attempts = attempts + 1, updated = ?3 WHERE alert_id = ?1 AND sink = ?2");
	if (!sel || !upd)
		return -EIO;

	struct outbox_delivery **v = NULL;
	size_t len = 0;
	bool own;
	int ret = start(st, &own);
	if (ret < 0)
		return ret;

	if (bind_text(sel, 1, sink) || sqlite3_bind_int64(sel, 2, now) ||
	    sqlite3_bind_int64(sel, 3, sql_limit(limit))) {
		ret = bind_error(st, sel, "claiming deliveries");
		goto out;
	}
	/* Collect first: updating rows under a running SELECT on the same
	 * table is legal in SQLite, but which rows it then visits is not defined. */
	ret = collect(st, sel, "claiming deliveries", &v, &len);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < len; i++) {
		if (sqlite3_bind_int64(upd, 1, v[i]->alert_id) || bind_text(upd, 2, sink) ||
		    sqlite3_bind_int64(upd, 3, now) || sqlite3_step(upd) != SQLITE_DONE) {
			ret = bind_error(st, upd, "claiming deliveries");
			goto out;
		}
		stmt_done(upd);
		v[i]->status = DELIVERY_INFLIGHT;
		v[i]->attempts++;
	}
out:
	ret = finish(st, own, ret);
	if (ret < 0) {
		outbox_deliveries_free(v, len);
		return ret;
	}
	*out = v;
	*n = len;
	return 0;
}

/* Run one UPDATE of a single delivery bound by the caller; -ENOENT when no row matched. */
static int update_one(struct state *st, sqlite3_stmt *s, const char *what)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return bind_error(st, s, what);
	stmt_done(s);
	return sqlite3_changes(state_db(st)) > 0 ? 0 : -ENOENT;
}

int outbox_mark_delivered(struct state *st, int64_t alert_id, const char *sink, int64_t now)
{
	sqlite3_stmt *s = state_stmt(st, "UPDATE deliveries SET status = 2, last_error = NULL, "
	                                 "updated = ?3 WHERE alert_id = ?1 AND sink = ?2");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, alert_id) || bind_text(s, 2, sink) ||
	    sqlite3_bind_int64(s, 3, now))
		return bind_error(st, s, "marking a delivery done");
	return update_one(st, s, "marking a delivery done");
}

int outbox_mark_retry(struct state *st, int64_t alert_id, const char *sink,
                      int64_t next_attempt, const char *error)
{
	sqlite3_stmt *s = state_stmt(st, "UPDATE deliveries SET status = 0, next_attempt = ?3, "
	                                 "last_error = ?4, updated = ?5 "
	                                 "WHERE alert_id = ?1 AND sink = ?2");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, alert_id) || bind_text(s, 2, sink) ||
	    sqlite3_bind_int64(s, 3, next_attempt) || bind_text(s, 4, error) ||
	    sqlite3_bind_int64(s, 5, now_s()))
		return bind_error(st, s, "rescheduling a delivery");
	return update_one(st, s, "rescheduling a delivery");
}

int outbox_mark_failed(struct state *st, int64_t alert_id, const char *sink,
                       const char *error, int64_t now)
{
	sqlite3_stmt *s = state_stmt(st, "UPDATE deliveries SET status = 3, last_error = ?3, "
	                                 "updated = ?4 WHERE alert_id = ?1 AND sink = ?2");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, alert_id) || bind_text(s, 2, sink) ||
	    bind_text(s, 3, error) || sqlite3_bind_int64(s, 4, now))
		return bind_error(st, s, "marking a delivery failed");
	return update_one(st, s, "marking a delivery failed");
}

int outbox_next_due(struct state *st, const char *sink, int64_t *when)
{
	sqlite3_stmt *s = state_stmt(st, "SELECT MIN(next_attempt) FROM deliveries "
	                                 "WHERE sink = ?1 AND status = 0");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, sink) || sqlite3_step(s) != SQLITE_ROW)
		return bind_error(st, s, "finding the next due delivery");
	/* An aggregate always returns a row: NULL when nothing is pending. */
	int ret = -ENOENT;
	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*when = sqlite3_column_int64(s, 0);
		ret = 0;
	}
	stmt_done(s);
	return ret;
}

int64_t outbox_count(struct state *st, const char *sink, enum delivery_status status)
{
	sqlite3_stmt *s;
	int rc;
	if (sink) {
		s = state_stmt(st, "SELECT COUNT(*) FROM deliveries WHERE sink = ?1 AND status = ?2");
		if (!s)
			return -EIO;
		rc = bind_text(s, 1, sink) || sqlite3_bind_int(s, 2, (int)status);
	} else {
		s = state_stmt(st, "SELECT COUNT(*) FROM deliveries WHERE status = ?1");
		if (!s)
			return -EIO;
		rc = sqlite3_bind_int(s, 1, (int)status);
	}
	if (rc || sqlite3_step(s) != SQLITE_ROW)
		return bind_error(st, s, "counting deliveries");
	int64_t count = sqlite3_column_int64(s, 0);
	stmt_done(s);
	return count;
}

int outbox_list(struct state *st, enum delivery_status status, size_t limit,
                struct outbox_delivery ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s = state_stmt(st, "SELECT " DELIVERY_COLUMNS
		"WHERE d.status = ?1 ORDER BY d.alert_id DESC, d.sink LIMIT ?2");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int(s, 1, (int)status) || sqlite3_bind_int64(s, 2, sql_limit(limit)))
		return bind_error(st, s, "listing deliveries");
	return collect(st, s, "listing deliveries", out, n);
}
