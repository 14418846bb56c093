/* outbox.c - the durable alert outbox: alerts and their per-sink delivery status */
#include "outbox.h"
#include "state-sql.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "item.h"
#include "log.h"
#include "util.h"

/* The SQL below spells the statuses as numbers. */
_Static_assert(DELIVERY_PENDING == 0 && DELIVERY_INFLIGHT == 1 &&
               DELIVERY_DELIVERED == 2 && DELIVERY_FAILED == 3 && DELIVERY_DIGESTED == 4,
               "delivery_status values are stored in the database");

/* "msg_" and 32 hex digits */
#define IDEMPOTENCY_KEY_LEN 36

/* The columns delivery_from_row() reads, in its order. */
#define DELIVERY_COLUMNS \
	"d.alert_id, d.sink, d.status, d.attempts, d.next_attempt, d.last_error, " \
	"d.idempotency_key, a.rule, a.severity, a.source, a.reason, a.story_key, " \
	"a.item_json, a.created " \
	"FROM deliveries d JOIN alerts a ON a.id = d.alert_id "

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

static bool alert_valid(const struct outbox_alert *a, const char *const *sinks, size_t n_sinks)
{
	if (!a || !a->rule || !a->severity || !a->source || (n_sinks && !sinks))
		return false;
	for (size_t i = 0; i < n_sinks; i++)
		if (!sinks[i])
			return false;
	return true;
}

/* The row of an alert. held_until 0: not held. */
struct alert_row {
	const struct outbox_alert *a;
	int64_t created;
	int64_t held_until;
	const char *hold_kind;
	int n_members;
	const char *noise_json;
};

static int insert_alert(struct state *st, const struct alert_row *r, int64_t *id)
{
	sqlite3_stmt *s = state_stmt(st,
		"INSERT INTO alerts (created, rule, severity, source, reason, story_key, item_json, "
		"reason_json, held_until, hold_kind, n_members, noise_json) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
	if (!s)
		return -EIO;
	const struct outbox_alert *a = r->a;
	if (sqlite3_bind_int64(s, 1, r->created) || bind_text(s, 2, a->rule) ||
	    bind_text(s, 3, a->severity) || bind_text(s, 4, a->source) ||
	    bind_text(s, 5, a->reason) || bind_text(s, 6, a->story_key) ||
	    bind_text(s, 7, a->item_json) || bind_text(s, 8, a->reason_json) ||
	    (r->held_until ? sqlite3_bind_int64(s, 9, r->held_until) : sqlite3_bind_null(s, 9)) ||
	    bind_text(s, 10, r->hold_kind) || sqlite3_bind_int(s, 11, r->n_members) ||
	    bind_text(s, 12, r->noise_json) || sqlite3_step(s) != SQLITE_DONE)
		return bind_error(st, s, "adding an alert");
	stmt_done(s);
	*id = sqlite3_last_insert_rowid(state_db(st));
	return 0;
}

/* One pending delivery per sink, due at `due`, each with its idempotency key. */
static int insert_deliveries(struct state *st, int64_t alert_id, const char *const *sinks,
                             size_t n_sinks, int64_t due)
{
	sqlite3_stmt *s = state_stmt(st,
		"INSERT INTO deliveries (alert_id, sink, status, attempts, next_attempt, "
		"last_error, idempotency_key, updated) VALUES (?1, ?2, 0, 0, ?3, NULL, ?4, ?3)");
	if (!s)
		return -EIO;
	for (size_t i = 0; i < n_sinks; i++) {
		char key[IDEMPOTENCY_KEY_LEN + 1];
		int ret = make_idempotency_key(key);
		if (ret < 0) {
			log_msg(VIGIL_LOG_ERROR, "state", "getrandom: %s", strerror(-ret));
			return -EIO;
		}
		if (sqlite3_bind_int64(s, 1, alert_id) || bind_text(s, 2, sinks[i]) ||
		    sqlite3_bind_int64(s, 3, due) || bind_text(s, 4, key) ||
		    sqlite3_step(s) != SQLITE_DONE)
			return bind_error(st, s, "adding a delivery");
		stmt_done(s);
	}
	return 0;
}

/* The item of `a` as one source of alert `alert_id`. */
static int insert_source(struct state *st, int64_t alert_id, const struct outbox_alert *a,
                         int64_t added)
{
	sqlite3_stmt *s = state_stmt(st,
		"INSERT INTO alert_sources (alert_id, source, link, title, item_id, added) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, alert_id) || bind_text(s, 2, a->source) ||
	    bind_text(s, 3, a->link) || bind_text(s, 4, a->title) || bind_text(s, 5, a->item_id) ||
	    sqlite3_bind_int64(s, 6, added) || sqlite3_step(s) != SQLITE_DONE)
		return bind_error(st, s, "recording an alert's source");
	stmt_done(s);
	return 0;
}

int outbox_add(struct state *st, const struct outbox_alert *a,
               const char *const *sinks, size_t n_sinks, int64_t *id)
{
	if (!alert_valid(a, sinks, n_sinks))
		return -EINVAL;

	struct alert_row row = { .a = a, .created = a->created ? a->created : now_s() };
	int64_t alert_id = 0;
	bool own;
	int ret = start(st, &own);
	if (ret < 0)
		return ret;
	ret = insert_alert(st, &row, &alert_id);
	if (ret == 0)
		ret = insert_source(st, alert_id, a, row.created);
	if (ret == 0)
		ret = insert_deliveries(st, alert_id, sinks, n_sinks, row.created);
	if (ret == 0 && id)
		*id = alert_id;
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
		"AND a.held_until IS NULL "     /* a hold is lifted by outbox_release_due */
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

int outbox_retry_now(struct state *st, const char *sink, int64_t now, size_t *n)
{
	sqlite3_stmt *s = state_stmt(st, "UPDATE deliveries SET next_attempt = ?2 "
	                                 "WHERE sink = ?1 AND status = 0 AND attempts > 0 "
	                                 "AND next_attempt > ?2");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, sink) || sqlite3_bind_int64(s, 2, now))
		return bind_error(st, s, "making retries due");
	if (sqlite3_step(s) != SQLITE_DONE)
		return bind_error(st, s, "making retries due");
	stmt_done(s);
	if (n)
		*n = (size_t)sqlite3_changes(state_db(st));
	return 0;
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

/*
 * Noise control: story dedupe within a cooldown, holds (quiet hours, digest
 * periods, the burst cap) and their release as digests. docs/noise.md.
 */

/* Count one suppression or hold of `rule`. */
static int count_suppressed(struct state *st, const char *rule, const char *kind, int64_t now)
{
	sqlite3_stmt *s = state_stmt(st,
		"INSERT INTO suppressed (rule, kind, count, last) VALUES (?1, ?2, 1, ?3) "
		"ON CONFLICT (rule, kind) DO UPDATE SET count = count + 1, last = excluded.last");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, rule) || bind_text(s, 2, kind) || sqlite3_bind_int64(s, 3, now) ||
	    sqlite3_step(s) != SQLITE_DONE)
		return bind_error(st, s, "counting a suppressed alert");
	stmt_done(s);
	return 0;
}

/* The latest alert (not a digest) of `rule` for `story` created after
 * `since`: 0 with *id and *digest_id (0: none), -ENOENT, or -EIO. */
static int find_story(struct state *st, const char *rule, const char *story, int64_t since,
                      int64_t *id, int64_t *digest_id)
{
	sqlite3_stmt *s = state_stmt(st,
		"SELECT id, digest_id FROM alerts WHERE rule = ?1 AND story_key = ?2 "
		"AND created > ?3 AND n_members = 0 ORDER BY created DESC, id DESC LIMIT 1");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, rule) || bind_text(s, 2, story) || sqlite3_bind_int64(s, 3, since))
		return bind_error(st, s, "looking up a story");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW)
		return bind_error(st, s, "looking up a story");
	*id = sqlite3_column_int64(s, 0);
	*digest_id = sqlite3_column_int64(s, 1);    /* NULL reads as 0 */
	stmt_done(s);
	return 0;
}

/* Has a sink been handed alert `id` (in flight, delivered or failed)? 1, 0, -EIO. */
static int went_out(struct state *st, int64_t id)
{
	sqlite3_stmt *s = state_stmt(st, "SELECT EXISTS (SELECT 1 FROM deliveries "
	                                 "WHERE alert_id = ?1 AND status IN (1, 2, 3))");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, id) || sqlite3_step(s) != SQLITE_ROW)
		return bind_error(st, s, "checking an alert's deliveries");
	int out = sqlite3_column_int(s, 0) != 0;
	stmt_done(s);
	return out;
}

/* Story dedupe: `a` is one more source of alert `id` (in digest `digest_id`, or 0). */
static int merge(struct state *st, const struct outbox_alert *a, int64_t id, int64_t digest_id,
                 int64_t cooldown_ms, int64_t now, struct outbox_result *res)
{
	int ret = insert_source(st, id, a, now);
	if (ret < 0)
		return ret;
	/* A member of a digest went out when its digest did. */
	int out = went_out(st, digest_id ? digest_id : id);
	if (out < 0)
		return out;
	ret = count_suppressed(st, a->rule, out ? "cooldown" : "story", now);
	if (ret < 0)
		return ret;
	res->outcome = out ? OUTBOX_SUPPRESSED : OUTBOX_MERGED;
	res->alert_id = id;

	char window[32];
	duration_format(cooldown_ms, window, sizeof window);
	const char *title = a->title ? a->title : a->link ? a->link : "(untitled)";
	if (out)
		log_msg(VIGIL_LOG_INFO, a->source, "rule \"%s\": \"%s\" is the story of alert %lld, "
		        "which already went out: added to its sources, not sent again (cooldown %s)",
		        a->rule, title, (long long)id, window);
	else
		log_msg(VIGIL_LOG_INFO, a->source, "rule \"%s\": \"%s\" is the story of alert %lld, "
		        "not sent yet: it goes out once, listing this source too", a->rule, title,
		        (long long)id);
	return 0;
}

bool outbox_quiet_at(int start_min, int end_min, int64_t t, int64_t *end_at)
{
	if (start_min < 0 || start_min >= 1440 || end_min < 0 || end_min >= 1440 ||
	    start_min == end_min)
		return false;
	/* glibc's localtime_r reads $TZ only once unless tzset() is called. */
	tzset();
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return false;
	int m = tm.tm_hour * 60 + tm.tm_min;
	bool in = start_min < end_min ? m >= start_min && m < end_min
	                              : m >= start_min || m < end_min;
	if (!in)
		return false;
	if (end_at) {
		struct tm e = tm;
		e.tm_hour = end_min / 60;
		e.tm_min = end_min % 60;
		e.tm_sec = 0;
		if (start_min > end_min && m >= start_min)
			e.tm_mday++;         /* the evening part: the window ends tomorrow */
		e.tm_isdst = -1;         /* the end may be on the other side of a DST change */
		time_t et = mktime(&e);
		*end_at = et != (time_t)-1 && et > tt ? (int64_t)et : t + 60;
	}
	return true;
}

/* The kinds as static strings (res->kind and the column). */
static const char *hold_kind_static(const char *kind)
{
	static const char *const kinds[] = { "quiet", "digest", "burst" };
	for (size_t i = 0; kind && i < 3; i++)
		if (!strcmp(kind, kinds[i]))
			return kinds[i];
	return "burst";
}

/* The hold of `rule` still open at `now`: 0 with its end and kind, -ENOENT, -EIO. */
static int open_batch(struct state *st, const char *rule, int64_t now, int64_t *until,
                      const char **kind)
{
	sqlite3_stmt *s = state_stmt(st,
		"SELECT held_until, hold_kind FROM alerts WHERE held_until > ?2 AND rule = ?1 "
		"ORDER BY held_until LIMIT 1");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, rule) || sqlite3_bind_int64(s, 2, now))
		return bind_error(st, s, "looking up held alerts");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW)
		return bind_error(st, s, "looking up held alerts");
	*until = sqlite3_column_int64(s, 0);
	*kind = hold_kind_static((const char *)sqlite3_column_text(s, 1));
	stmt_done(s);
	return 0;
}

/* Alerts of `rule` that went out on their own (or as a digest) in the hour
 * before `now`, and the creation time of the oldest. */
static int burst_count(struct state *st, const char *rule, int64_t now, int64_t *count,
                       int64_t *oldest)
{
	sqlite3_stmt *s = state_stmt(st,
		"SELECT COUNT(*), MIN(created) FROM alerts WHERE rule = ?1 AND created > ?2 "
		"AND held_until IS NULL AND digest_id IS NULL");
	if (!s)
		return -EIO;
	if (bind_text(s, 1, rule) || sqlite3_bind_int64(s, 2, now - 3600) ||
	    sqlite3_step(s) != SQLITE_ROW)
		return bind_error(st, s, "counting recent alerts");
	*count = sqlite3_column_int64(s, 0);
	*oldest = sqlite3_column_int64(s, 1);
	stmt_done(s);
	return 0;
}

/*
 * Should a new alert of `rule` at `now` be held, and until when? *until 0:
 * no. An open batch is joined (so held alerts keep their order and go out
 * as one digest); otherwise quiet hours, then the digest period, then the
 * burst cap decide. A hold that would end inside quiet hours lasts to their end.
 */
static int decide_hold(struct state *st, const char *rule, const struct outbox_noise *nz,
                       int64_t now, int64_t *until, const char **kind)
{
	int64_t reason_until = 0, quiet_end;
	const char *reason = NULL;
	int ret;

	*until = 0;
	*kind = NULL;
	if (nz->has_quiet && outbox_quiet_at(nz->quiet_start_min, nz->quiet_end_min, now,
	                                     &quiet_end)) {
		reason = "quiet";
		reason_until = quiet_end;
	} else if (nz->digest_ms > 0) {
		reason = "digest";
		reason_until = now + (nz->digest_ms + 999) / 1000;
	} else if (nz->max_per_hour > 0) {
		int64_t count, oldest;
		ret = burst_count(st, rule, now, &count, &oldest);
		if (ret < 0)
			return ret;
		if (count >= nz->max_per_hour) {
			reason = "burst";
			/* When the oldest leaves the hour, there is room again. */
			reason_until = oldest + 3600 > now ? oldest + 3600 : now + 1;
		}
	}

	int64_t batch_until;
	const char *batch_kind;
	ret = open_batch(st, rule, now, &batch_until, &batch_kind);
	if (ret == 0) {
		*until = batch_until;
		*kind = reason ? reason : batch_kind;
		return 0;
	}
	if (ret != -ENOENT)
		return ret;
	if (!reason)
		return 0;
	if (nz->has_quiet && outbox_quiet_at(nz->quiet_start_min, nz->quiet_end_min, reason_until,
	                                     &quiet_end))
		reason_until = quiet_end;
	*until = reason_until;
	*kind = reason;
	return 0;
}

static const char *hold_reason_text(const char *kind)
{
	if (!strcmp(kind, "quiet"))
		return "quiet hours";
	if (!strcmp(kind, "digest"))
		return "the digest period";
	return "the burst cap (max_per_hour)";
}

int outbox_submit(struct state *st, const struct outbox_alert *a, const struct outbox_noise *noise,
                  const char *const *sinks, size_t n_sinks, int64_t now,
                  struct outbox_result *res)
{
	if (!alert_valid(a, sinks, n_sinks) || !res)
		return -EINVAL;
	memset(res, 0, sizeof *res);
	if (!now)
		now = now_s();

	bool own;
	int ret = start(st, &own);
	if (ret < 0)
		return ret;

	int64_t cooldown_ms = !noise ? 0 : noise->cooldown_ms < 0 ? OUTBOX_COOLDOWN_DEFAULT_MS
	                                                          : noise->cooldown_ms;
	if (cooldown_ms > 0 && a->story_key && *a->story_key) {
		int64_t id, digest_id;
		ret = find_story(st, a->rule, a->story_key, now - (cooldown_ms + 999) / 1000, &id,
		                 &digest_id);
		if (ret == 0) {
			ret = merge(st, a, id, digest_id, cooldown_ms, now, res);
			goto out;
		}
		if (ret != -ENOENT)
			goto out;
	}

	int64_t until = 0;
	const char *kind = NULL;
	if (noise) {
		ret = decide_hold(st, a->rule, noise, now, &until, &kind);
		if (ret < 0)
			goto out;
	}
	struct alert_row row = { .a = a, .created = now, .held_until = until, .hold_kind = kind };
	int64_t id;
	ret = insert_alert(st, &row, &id);
	if (ret == 0)
		ret = insert_source(st, id, a, now);
	if (ret == 0)
		ret = insert_deliveries(st, id, sinks, n_sinks, until ? until : now);
	if (ret == 0 && until)
		ret = count_suppressed(st, a->rule, kind, now);
	if (ret < 0)
		goto out;
	res->outcome = until ? OUTBOX_HELD : OUTBOX_NEW;
	res->alert_id = id;
	res->held_until = until;
	res->kind = kind;
	if (until) {
		char when[32];
		log_msg(VIGIL_LOG_INFO, a->source, "rule \"%s\": alert %lld held for %s until %s; "
		        "it goes out then (several as one digest)", a->rule, (long long)id,
		        hold_reason_text(kind), time_format_rfc3339(until, when, sizeof when));
	}
out:
	ret = finish(st, own, ret);
	if (ret < 0)
		memset(res, 0, sizeof *res);
	return ret;
}

/* Releasing holds. */

struct held {
	int64_t id;
	char *severity, *source, *item_json, *hold_kind;
	int64_t created;
};

static void held_free(struct held *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].severity);
		free(v[i].source);
		free(v[i].item_json);
		free(v[i].hold_kind);
	}
	free(v);
}

/* Collect the text of column 0 of every row of a bound statement. */
static int collect_texts(struct state *st, sqlite3_stmt *s, const char *what, char ***out,
                         size_t *n)
{
	char **v = NULL;
	size_t len = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = xrealloc(v, (len + 1) * sizeof *v);
		v[len++] = column_strdup(s, 0);
	}
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < len; i++)
			free(v[i]);
		free(v);
		return bind_error(st, s, what);
	}
	stmt_done(s);
	*out = v;
	*n = len;
	return 0;
}

static void free_texts(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int severity_rank(const char *s)
{
	static const char *const names[] = { "low", "normal", "high", "critical" };
	for (int i = 0; i < 4; i++)
		if (s && !strcmp(s, names[i]))
			return i;
	return 1;
}

static const char *severity_of_rank(int r)
{
	static const char *const names[] = { "low", "normal", "high", "critical" };
	return names[r < 0 || r > 3 ? 1 : r];
}

/* Suppression counts of `rule` not yet reported in a digest, as a JSON object
 * (NULL when none); they count as reported from now on. */
static int take_unreported(struct state *st, const char *rule, char **json)
{
	sqlite3_stmt *sel = state_stmt(st, "SELECT kind, count - reported FROM suppressed "
	                                   "WHERE rule = ?1 AND count > reported ORDER BY kind");
	sqlite3_stmt *upd = state_stmt(st, "UPDATE suppressed SET reported = count WHERE rule = ?1");
	if (!sel || !upd)
		return -EIO;
	*json = NULL;
	if (bind_text(sel, 1, rule))
		return bind_error(st, sel, "reading suppression counts");
	json_t *o = json_object();
	int rc;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(sel, 0),
		                    json_integer(sqlite3_column_int64(sel, 1)));
	if (rc != SQLITE_DONE) {
		json_decref(o);
		return bind_error(st, sel, "reading suppression counts");
	}
	stmt_done(sel);
	if (json_object_size(o))
		*json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (bind_text(upd, 1, rule) || sqlite3_step(upd) != SQLITE_DONE) {
		free(*json);
		*json = NULL;
		return bind_error(st, upd, "marking suppression counts reported");
	}
	stmt_done(upd);
	return 0;
}

/* The digest's item: "N alerts: RULE", a summary with one line per member. */
static char *digest_item_json(const char *rule, const struct held *m, size_t n, int64_t now)
{
	enum { MAX_LINES = 100 };
	char *summary = xstrdup("");
	for (size_t i = 0; i < n && i <= MAX_LINES; i++) {
		char *line;
		if (i == MAX_LINES) {
			line = xasprintf("… and %zu more", n - i);
		} else {
			json_t *ij = json_loads(m[i].item_json ? m[i].item_json : "", 0, NULL);
			const char *title = json_string_value(json_object_get(ij, "title"));
			line = xasprintf("%s (%s)", title ? title : "(untitled)", m[i].source);
			json_decref(ij);
		}
		char *joined = xasprintf("%s%s%s", summary, i ? "\n" : "", line);
		free(summary);
		free(line);
		summary = joined;
	}
	char *title = xasprintf("%zu alerts: %s", n, rule);
	struct vigil_item it = VIGIL_ITEM_INIT;
	it.title = title;
	it.summary = summary;
	it.published = now;
	json_t *j = item_to_json(&it);
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	free(title);
	free(summary);
	return text;
}

/* "a" or "a, b, c": the distinct sources of the members, in order. */
static char *digest_source(const struct held *m, size_t n)
{
	char *out = xstrdup(m[0].source);
	for (size_t i = 1; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(m[i].source, m[j].source);
		if (seen)
			continue;
		char *more = xasprintf("%s, %s", out, m[i].source);
		free(out);
		out = more;
	}
	return out;
}

/* Turn the due held alerts of one rule into one digest alert. */
static int make_digest(struct state *st, const char *rule, struct held *m, size_t n,
                       int64_t now, int64_t *digest_id)
{
	sqlite3_stmt *sinks_q = state_stmt(st,
		"SELECT DISTINCT d.sink FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
		"WHERE a.rule = ?1 AND a.held_until IS NOT NULL AND a.held_until <= ?2 "
		"AND d.status = 0 ORDER BY d.sink");
	sqlite3_stmt *member = state_stmt(st,
		"UPDATE alerts SET digest_id = ?2, held_until = NULL WHERE id = ?1");
	sqlite3_stmt *member_dl = state_stmt(st,
		"UPDATE deliveries SET status = 4, updated = ?2 WHERE alert_id = ?1 AND status = 0");
	if (!sinks_q || !member || !member_dl)
		return -EIO;

	char **sinks = NULL;
	size_t n_sinks = 0;
	if (bind_text(sinks_q, 1, rule) || sqlite3_bind_int64(sinks_q, 2, now))
		return bind_error(st, sinks_q, "finding a digest's sinks");
	int ret = collect_texts(st, sinks_q, "finding a digest's sinks", &sinks, &n_sinks);
	if (ret < 0)
		return ret;

	int rank = 0;
	const char *kinds[3];
	size_t n_kinds = 0;
	for (size_t i = 0; i < n; i++) {
		int r = severity_rank(m[i].severity);
		if (r > rank)
			rank = r;
		const char *k = hold_kind_static(m[i].hold_kind);
		bool seen = false;
		for (size_t j = 0; j < n_kinds; j++)
			seen |= kinds[j] == k;
		if (!seen)
			kinds[n_kinds++] = k;
	}
	char first[32], last[32];
	char *reason = xasprintf("%zu alerts of \"%s\" held for %s%s%s, sent together "
	                         "(from %s to %s)", n, rule, hold_reason_text(kinds[0]),
	                         n_kinds > 1 ? " and " : "",
	                         n_kinds > 1 ? hold_reason_text(kinds[1]) : "",
	                         time_format_rfc3339(m[0].created, first, sizeof first),
	                         time_format_rfc3339(m[n - 1].created, last, sizeof last));
	char *item_json = digest_item_json(rule, m, n, now);
	char *source = digest_source(m, n);
	char *noise_json = NULL;
	ret = take_unreported(st, rule, &noise_json);
	if (ret < 0)
		goto out;

	struct outbox_alert a = {
		.rule = rule, .severity = severity_of_rank(rank), .source = source,
		.reason = reason, .item_json = item_json,
	};
	struct alert_row row = {
		.a = &a, .created = now, .n_members = (int)n, .noise_json = noise_json,
	};
	ret = insert_alert(st, &row, digest_id);
	if (ret == 0)
		ret = insert_deliveries(st, *digest_id, (const char *const *)sinks, n_sinks, now);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (sqlite3_bind_int64(member, 1, m[i].id) ||
		    sqlite3_bind_int64(member, 2, *digest_id) ||
		    sqlite3_step(member) != SQLITE_DONE) {
			ret = bind_error(st, member, "linking an alert to its digest");
			break;
		}
		stmt_done(member);
		if (sqlite3_bind_int64(member_dl, 1, m[i].id) ||
		    sqlite3_bind_int64(member_dl, 2, now) ||
		    sqlite3_step(member_dl) != SQLITE_DONE) {
			ret = bind_error(st, member_dl, "linking an alert to its digest");
			break;
		}
		stmt_done(member_dl);
	}
	if (ret == 0)
		log_msg(VIGIL_LOG_INFO, "outbox", "rule \"%s\": %zu held alerts released as digest "
		        "alert %lld", rule, n, (long long)*digest_id);
out:
	free(noise_json);
	free(source);
	free(item_json);
	free(reason);
	free_texts(sinks, n_sinks);
	return ret;
}

/* Release the due holds of one rule. */
static int release_rule(struct state *st, const char *rule, int64_t now, size_t *released)
{
	sqlite3_stmt *s = state_stmt(st,
		"SELECT id, severity, source, item_json, created, hold_kind FROM alerts "
		"WHERE held_until <= ?2 AND rule = ?1 ORDER BY created, id");
	sqlite3_stmt *unhold = state_stmt(st, "UPDATE alerts SET held_until = NULL WHERE id = ?1");
	if (!s || !unhold)
		return -EIO;
	if (bind_text(s, 1, rule) || sqlite3_bind_int64(s, 2, now))
		return bind_error(st, s, "reading held alerts");

	struct held *m = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		m = xrealloc(m, (n + 1) * sizeof *m);
		m[n] = (struct held){
			.id = sqlite3_column_int64(s, 0),
			.severity = column_strdup(s, 1),
			.source = column_strdup(s, 2),
			.item_json = column_strdup(s, 3),
			.created = sqlite3_column_int64(s, 4),
			.hold_kind = column_strdup(s, 5),
		};
		n++;
	}
	int ret = 0;
	if (rc != SQLITE_DONE) {
		ret = bind_error(st, s, "reading held alerts");
		goto out;
	}
	stmt_done(s);
	if (n == 1) {
		/* Alone: it goes out as itself (its deliveries are already due). */
		if (sqlite3_bind_int64(unhold, 1, m[0].id) || sqlite3_step(unhold) != SQLITE_DONE) {
			ret = bind_error(st, unhold, "releasing a held alert");
			goto out;
		}
		stmt_done(unhold);
		log_msg(VIGIL_LOG_INFO, "outbox", "rule \"%s\": held alert %lld released", rule,
		        (long long)m[0].id);
	} else if (n > 1) {
		int64_t digest_id;
		ret = make_digest(st, rule, m, n, now, &digest_id);
	}
	if (ret == 0)
		*released += n;
out:
	held_free(m, n);
	return ret;
}

int outbox_release_due(struct state *st, int64_t now, size_t *released)
{
	size_t count = 0;
	if (released)
		*released = 0;
	sqlite3_stmt *s = state_stmt(st, "SELECT DISTINCT rule FROM alerts "
	                                 "WHERE held_until IS NOT NULL AND held_until <= ?1 "
	                                 "ORDER BY rule");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, now))
		return bind_error(st, s, "finding due holds");
	char **rules;
	size_t n_rules;
	int ret = collect_texts(st, s, "finding due holds", &rules, &n_rules);
	if (ret < 0 || n_rules == 0)
		return ret;

	bool own;
	ret = start(st, &own);
	for (size_t i = 0; ret == 0 && i < n_rules; i++)
		ret = release_rule(st, rules[i], now, &count);
	ret = finish(st, own, ret);
	free_texts(rules, n_rules);
	if (ret == 0 && released)
		*released = count;
	return ret;
}

/* The integer of a one-row aggregate: 0 and *out, -ENOENT for NULL, -EIO. */
static int aggregate(struct state *st, sqlite3_stmt *s, const char *what, int64_t *out)
{
	if (sqlite3_step(s) != SQLITE_ROW)
		return bind_error(st, s, what);
	int ret = -ENOENT;
	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*out = sqlite3_column_int64(s, 0);
		ret = 0;
	}
	stmt_done(s);
	return ret;
}

int outbox_next_release(struct state *st, int64_t *when)
{
	sqlite3_stmt *s = state_stmt(st, "SELECT MIN(held_until) FROM alerts "
	                                 "WHERE held_until IS NOT NULL");
	if (!s)
		return -EIO;
	return aggregate(st, s, "finding the next release", when);
}

int64_t outbox_held_count(struct state *st)
{
	sqlite3_stmt *s = state_stmt(st, "SELECT COUNT(*) FROM alerts WHERE held_until IS NOT NULL");
	if (!s)
		return -EIO;
	int64_t n = 0;
	int ret = aggregate(st, s, "counting held alerts", &n);
	return ret == -EIO ? -EIO : n;
}

int outbox_suppressed_summary(struct state *st, struct outbox_suppressed **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s = state_stmt(st, "SELECT rule, kind, count, last FROM suppressed "
	                                 "ORDER BY rule, kind");
	if (!s)
		return -EIO;
	struct outbox_suppressed *v = NULL;
	size_t len = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = xrealloc(v, (len + 1) * sizeof *v);
		v[len++] = (struct outbox_suppressed){
			.rule = column_strdup(s, 0),
			.kind = column_strdup(s, 1),
			.count = sqlite3_column_int64(s, 2),
			.last = sqlite3_column_int64(s, 3),
		};
	}
	if (rc != SQLITE_DONE) {
		outbox_suppressed_free(v, len);
		return bind_error(st, s, "reading suppression counts");
	}
	stmt_done(s);
	*out = v;
	*n = len;
	return 0;
}

void outbox_suppressed_free(struct outbox_suppressed *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].rule);
		free(v[i].kind);
	}
	free(v);
}

static void sources_free(struct outbox_source *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].source);
		free(v[i].link);
		free(v[i].title);
		free(v[i].item_id);
	}
	free(v);
}

static int get_sources(struct state *st, int64_t alert_id, struct outbox_source **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s = state_stmt(st, "SELECT source, link, title, item_id, added "
	                                 "FROM alert_sources WHERE alert_id = ?1 ORDER BY rowid");
	if (!s)
		return -EIO;
	if (sqlite3_bind_int64(s, 1, alert_id))
		return bind_error(st, s, "reading an alert's sources");
	struct outbox_source *v = NULL;
	size_t len = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = xrealloc(v, (len + 1) * sizeof *v);
		v[len++] = (struct outbox_source){
			.source = column_strdup(s, 0),
			.link = column_strdup(s, 1),
			.title = column_strdup(s, 2),
			.item_id = column_strdup(s, 3),
			.added = sqlite3_column_int64(s, 4),
		};
	}
	if (rc != SQLITE_DONE) {
		sources_free(v, len);
		return bind_error(st, s, "reading an alert's sources");
	}
	stmt_done(s);
	*out = v;
	*n = len;
	return 0;
}

void outbox_extras_clear(struct outbox_extras *x)
{
	free(x->reason_json);
	free(x->noise_json);
	sources_free(x->sources, x->n_sources);
	for (size_t i = 0; i < x->n_members; i++) {
		struct outbox_member *m = &x->members[i];
		free(m->severity);
		free(m->source);
		free(m->reason);
		free(m->reason_json);
		free(m->story_key);
		free(m->item_json);
		free(m->hold_kind);
		sources_free(m->sources, m->n_sources);
	}
	free(x->members);
	memset(x, 0, sizeof *x);
}

int outbox_extras_get(struct state *st, int64_t alert_id, struct outbox_extras *x)
{
	memset(x, 0, sizeof *x);
	sqlite3_stmt *a = state_stmt(st, "SELECT reason_json, noise_json, n_members FROM alerts "
	                                 "WHERE id = ?1");
	sqlite3_stmt *m = state_stmt(st,
		"SELECT id, severity, source, reason, reason_json, story_key, item_json, hold_kind, "
		"created FROM alerts WHERE digest_id = ?1 ORDER BY created, id");
	if (!a || !m)
		return -EIO;
	if (sqlite3_bind_int64(a, 1, alert_id))
		return bind_error(st, a, "reading an alert");
	int rc = sqlite3_step(a);
	if (rc == SQLITE_DONE) {
		stmt_done(a);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW)
		return bind_error(st, a, "reading an alert");
	x->reason_json = column_strdup(a, 0);
	x->noise_json = column_strdup(a, 1);
	bool digest = sqlite3_column_int(a, 2) > 0;
	stmt_done(a);

	int ret = get_sources(st, alert_id, &x->sources, &x->n_sources);
	if (ret < 0 || !digest)
		goto out;
	if (sqlite3_bind_int64(m, 1, alert_id)) {
		ret = bind_error(st, m, "reading a digest");
		goto out;
	}
	while ((rc = sqlite3_step(m)) == SQLITE_ROW) {
		x->members = xrealloc(x->members, (x->n_members + 1) * sizeof *x->members);
		x->members[x->n_members++] = (struct outbox_member){
			.id = sqlite3_column_int64(m, 0),
			.severity = column_strdup(m, 1),
			.source = column_strdup(m, 2),
			.reason = column_strdup(m, 3),
			.reason_json = column_strdup(m, 4),
			.story_key = column_strdup(m, 5),
			.item_json = column_strdup(m, 6),
			.hold_kind = column_strdup(m, 7),
			.created = sqlite3_column_int64(m, 8),
		};
	}
	if (rc != SQLITE_DONE) {
		ret = bind_error(st, m, "reading a digest");
		goto out;
	}
	stmt_done(m);
	for (size_t i = 0; ret == 0 && i < x->n_members; i++)
		ret = get_sources(st, x->members[i].id, &x->members[i].sources,
		                  &x->members[i].n_sources);
out:
	if (ret < 0)
		outbox_extras_clear(x);
	return ret;
}
