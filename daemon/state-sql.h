/* state-sql.h - small helpers for the modules that run SQL on the state database */
#ifndef VIGIL_DAEMON_STATE_SQL_H
#define VIGIL_DAEMON_STATE_SQL_H

#include <errno.h>
#include <sqlite3.h>

#include "log.h"
#include "state.h"
#include "util.h"

/* Log SQLite's message for `what`; -EIO. */
static inline int db_error(struct state *st, const char *what)
{
	log_msg(VIGIL_LOG_ERROR, "state", "%s: %s", what, sqlite3_errmsg(state_db(st)));
	return -EIO;
}

/* Ready a cached statement for its next use. */
static inline void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Step a statement that returns no rows, then ready it again. 0 or -EIO. */
static inline int stmt_exec(struct state *st, sqlite3_stmt *s, const char *what)
{
	int ret = 0;
	if (sqlite3_step(s) != SQLITE_DONE)
		ret = db_error(st, what);
	stmt_done(s);
	return ret;
}

/* A failed sqlite3_bind_*: only too-big values or out of memory. */
static inline int bind_error(struct state *st, sqlite3_stmt *s, const char *what)
{
	int ret = db_error(st, what);
	stmt_done(s);
	return ret;
}

static inline int bind_text(sqlite3_stmt *s, int i, const char *text)
{
	/* STATIC is safe: every statement is reset and cleared before we return. */
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static inline char *column_strdup(sqlite3_stmt *s, int i)
{
	return xstrdup((const char *)sqlite3_column_text(s, i));
}

#endif
