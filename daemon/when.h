/* when.h - numeric/string conditions over item fields, edge-triggered per key with state in SQLite */
#ifndef VIGIL_DAEMON_WHEN_H
#define VIGIL_DAEMON_WHEN_H

#include <stdbool.h>
#include <vigil/item.h>
#include "rules.h"

struct state;

/* Expressions are parsed once, by rules.c (ruleset_load), into struct when_expr. */

/*
 * Evaluate an expression on an item. A comparison on a missing field (or a
 * number field against a string) is UNKNOWN, and so is anything built on an
 * unknown that its other side does not decide (SQL's three-valued logic):
 * `not (x > 5)` is not true for an item without x, just as `x <= 5` is not.
 * when_eval is true only for TRUE; never an error at run time.
 * Fields: the item's typed fields first, then title, summary, content,
 * author, link, lang, feed_title, id (strings), published, updated (Unix
 * seconds) and categories (any category).
 */
bool when_eval(const struct when_expr *e, const struct vigil_item *item);
/* The other side: is the expression FALSE (all it needed was present)? */
bool when_eval_false(const struct when_expr *e, const struct vigil_item *item);

/*
 * The edge trigger of a `when:` rule for one item (its `match:`, if any, has
 * already held). The key is the item's `symbol` field, else `source`. The
 * rule fires when its condition holds and the key is armed; it is then
 * disarmed until `rearm:` (default: NOT when, i.e. the condition is false
 * with its fields present) holds, which arms it without firing. A key never
 * seen before is armed: a condition already true at first sight fires.
 * Armed state lives in `st` (table when_state, keyed by rule NAME and key),
 * so a restart neither repeats nor loses a crossing; st NULL keeps it in
 * memory for the process (vigilctl test; when_memory_clear frees it).
 * Runs inside the caller's transaction when one is open.
 * A rule without `when:` always fires (no state). *fire set; *reason
 * (malloc'd, may stay NULL) says which values crossed. 0 or -EIO.
 */
int when_check(struct state *st, const struct rule *r, const struct vigil_item *item,
               const char *source, bool *fire, char **reason);

/* Forget the in-memory edge state (st NULL) of the process. */
void when_memory_clear(void);

/* Text of an expression ("change_pct <= -5"), for reasons and messages: minimal
 * parentheses, numbers with the suffix applied. Caller frees. */
char *when_format(const struct when_expr *e);

#endif
