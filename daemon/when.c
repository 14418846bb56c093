/* when.c - numeric/string conditions over item fields, edge-triggered per key with state in SQLite */
#include "when.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "state.h"
#include "util.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Evaluation, in three-valued logic: a comparison without its field is
 * UNKNOWN, and only TRUE fires. So `x != 5`, `not (x == 5)` and the default
 * rearm (the condition FALSE) agree on an item without x: none holds.
 */

enum tri { T_FALSE = 0, T_TRUE = 1, T_UNKNOWN = 2 };

static enum tri tri_of(bool b)
{
	return b ? T_TRUE : T_FALSE;
}

static enum tri compare_numbers(enum when_op op, double a, double b)
{
	if (isnan(a) || isnan(b))
		return T_UNKNOWN;
	switch (op) {
	case WHEN_LT: return tri_of(a < b);
	case WHEN_LE: return tri_of(a <= b);
	case WHEN_GT: return tri_of(a > b);
	case WHEN_GE: return tri_of(a >= b);
	case WHEN_EQ: return tri_of(a == b);
	case WHEN_NE: return tri_of(a != b);
	default: return T_UNKNOWN;
	}
}

/* The whole of s as a finite number (surrounding spaces allowed). */
static bool text_number(const char *s, double *out)
{
	char *end;
	while (*s == ' ')
		s++;
	if (!*s || !(is_digit(*s) || *s == '-' || *s == '+' || *s == '.'))
		return false;
	double v = strtod(s, &end);
	while (*end == ' ')
		end++;
	if (*end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* One field value against the comparison's literal. */
static enum tri compare_value(const struct when_expr *e, bool is_number, double number,
                              const char *string)
{
	if (e->is_string) {
		if (is_number || !string)
			return T_UNKNOWN;
		int c = strcmp(string, e->string);
		return compare_numbers(e->op, (double)c, 0);
	}
	if (!is_number) {
		/* A number that arrived as text ("12.5") still compares as a number. */
		if (!string || !text_number(string, &number))
			return T_UNKNOWN;
	}
	return compare_numbers(e->op, number, e->number);
}

static const struct vigil_field *typed_field(const struct vigil_item *item, const char *name)
{
	for (size_t i = 0; i < item->n_fields; i++)
		if (item->fields[i].name && !strcmp(item->fields[i].name, name))
			return &item->fields[i];
	return NULL;
}

static const char *text_field(const struct vigil_item *item, const char *name)
{
	static const struct { const char *name; size_t off; } names[] = {
		{ "title", offsetof(struct vigil_item, title) },
		{ "summary", offsetof(struct vigil_item, summary) },
		{ "content", offsetof(struct vigil_item, content) },
		{ "author", offsetof(struct vigil_item, author) },
		{ "link", offsetof(struct vigil_item, link) },
		{ "lang", offsetof(struct vigil_item, lang) },
		{ "feed_title", offsetof(struct vigil_item, feed_title) },
		{ "id", offsetof(struct vigil_item, id) },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(names[i].name, name))
			return *(const char *const *)((const char *)item + names[i].off);
	return NULL;
}

/* Is there a time field `name`? */
static bool time_field(const struct vigil_item *item, const char *name, double *out)
{
	int64_t t;
	if (!strcmp(name, "published"))
		t = item->published;
	else if (!strcmp(name, "updated"))
		t = item->updated;
	else
		return false;
	if (t == VIGIL_TIME_NONE)
		return false;
	*out = (double)t;
	return true;
}

static enum tri eval_comparison(const struct when_expr *e, const struct vigil_item *item)
{
	if (!e->field)
		return T_UNKNOWN;
	const struct vigil_field *f = typed_field(item, e->field);
	if (f)
		return compare_value(e, f->type == VIGIL_FIELD_NUMBER, f->number,
		                     f->type == VIGIL_FIELD_STRING ? f->string : NULL);
	const char *s = text_field(item, e->field);
	if (s)
		return compare_value(e, false, 0, s);
	double t;
	if (time_field(item, e->field, &t))
		return compare_value(e, true, t, NULL);
	if (!strcmp(e->field, "categories") && item->n_categories) {
		/* Any category satisfies it; != means no category equals. */
		bool ne = e->op == WHEN_NE;
		enum tri all = T_TRUE, any = T_FALSE;
		for (size_t i = 0; i < item->n_categories; i++) {
			enum tri r = compare_value(e, false, 0, item->categories[i]);
			if (r == T_TRUE)
				any = T_TRUE;
			else if (r == T_UNKNOWN && any != T_TRUE)
				any = T_UNKNOWN;
			if (r != T_TRUE)
				all = r == T_UNKNOWN && all != T_FALSE ? T_UNKNOWN : T_FALSE;
		}
		return ne ? all : any;
	}
	return T_UNKNOWN;
}

static enum tri eval(const struct when_expr *e, const struct vigil_item *item)
{
	if (!e)
		return T_UNKNOWN;
	enum tri l, r;
	switch (e->op) {
	case WHEN_OR:
		l = eval(e->left, item);
		if (l == T_TRUE)
			return T_TRUE;
		r = eval(e->right, item);
		if (r == T_TRUE)
			return T_TRUE;
		return l == T_UNKNOWN || r == T_UNKNOWN ? T_UNKNOWN : T_FALSE;
	case WHEN_AND:
		l = eval(e->left, item);
		if (l == T_FALSE)
			return T_FALSE;
		r = eval(e->right, item);
		if (r == T_FALSE)
			return T_FALSE;
		return l == T_UNKNOWN || r == T_UNKNOWN ? T_UNKNOWN : T_TRUE;
	case WHEN_NOT:
		l = eval(e->left, item);
		return l == T_UNKNOWN ? T_UNKNOWN : tri_of(l == T_FALSE);
	default:
		return eval_comparison(e, item);
	}
}

bool when_eval(const struct when_expr *e, const struct vigil_item *item)
{
	return eval(e, item) == T_TRUE;
}

bool when_eval_false(const struct when_expr *e, const struct vigil_item *item)
{
	return eval(e, item) == T_FALSE;
}

/* Formatting. */

struct strbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_quoted(struct strbuf *b, const char *s)
{
	sb_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_add(b, "\\", 1);
		sb_add(b, s, 1);
	}
	sb_add(b, "\"", 1);
}

static void sb_number(struct strbuf *b, double v)
{
	char buf[40];
	snprintf(buf, sizeof buf, "%.15g", v);
	sb_str(b, buf);
}

static int precedence(const struct when_expr *e)
{
	switch (e->op) {
	case WHEN_OR: return 1;
	case WHEN_AND: return 2;
	case WHEN_NOT: return 3;
	default: return 4;
	}
}

static const char *op_text(enum when_op op)
{
	switch (op) {
	case WHEN_LT: return "<";
	case WHEN_LE: return "<=";
	case WHEN_GT: return ">";
	case WHEN_GE: return ">=";
	case WHEN_EQ: return "==";
	case WHEN_NE: return "!=";
	default: return "?";
	}
}

static void format(struct strbuf *b, const struct when_expr *e, int min_prec)
{
	if (!e) {
		sb_str(b, "?");
		return;
	}
	bool parens = precedence(e) < min_prec;
	if (parens)
		sb_str(b, "(");
	switch (e->op) {
	case WHEN_OR:
	case WHEN_AND:
		/* Left-associative: the right side needs parentheses at the same level. */
		format(b, e->left, precedence(e));
		sb_str(b, e->op == WHEN_OR ? " or " : " and ");
		format(b, e->right, precedence(e) + 1);
		break;
	case WHEN_NOT:
		sb_str(b, "not ");
		format(b, e->left, 3);
		break;
	default:
		sb_str(b, e->field ? e->field : "?");
		sb_str(b, " ");
		sb_str(b, op_text(e->op));
		sb_str(b, " ");
		if (e->is_string)
			sb_quoted(b, e->string ? e->string : "");
		else
			sb_number(b, e->number);
		break;
	}
	if (parens)
		sb_str(b, ")");
}

char *when_format(const struct when_expr *e)
{
	struct strbuf b = { 0 };
	format(&b, e, 0);
	return b.s;
}

/* "change_pct = -5.3, volume missing": the values the expression looked at. */
static void collect_fields(const struct when_expr *e, const char **names, size_t *n, size_t max)
{
	if (!e)
		return;
	if (e->op >= WHEN_LT) {
		for (size_t i = 0; i < *n; i++)
			if (!strcmp(names[i], e->field))
				return;
		if (*n < max)
			names[(*n)++] = e->field;
		return;
	}
	collect_fields(e->left, names, n, max);
	collect_fields(e->right, names, n, max);
}

static char *field_values(const struct when_expr *e, const struct vigil_item *item)
{
	const char *names[8];
	size_t n = 0;
	struct strbuf b = { 0 };
	collect_fields(e, names, &n, 8);
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_str(&b, ", ");
		sb_str(&b, names[i]);
		const struct vigil_field *f = typed_field(item, names[i]);
		const char *s = f ? (f->type == VIGIL_FIELD_STRING ? f->string : NULL)
		                  : text_field(item, names[i]);
		double t;
		if (f && f->type == VIGIL_FIELD_NUMBER) {
			sb_str(&b, " = ");
			sb_number(&b, f->number);
		} else if (s) {
			sb_str(&b, " = ");
			sb_quoted(&b, s);
		} else if (!f && time_field(item, names[i], &t)) {
			sb_str(&b, " = ");
			sb_number(&b, t);
		} else {
			sb_str(&b, " missing");
		}
	}
	if (!b.s)
		sb_str(&b, "");
	return b.s;
}

/* The key a `when:` rule keeps its edge state under. Caller frees. */
static char *edge_key(const struct vigil_item *item, const char *source)
{
	const struct vigil_field *f = typed_field(item, "symbol");
	if (f && f->type == VIGIL_FIELD_STRING && f->string && *f->string)
		return xstrdup(f->string);
	if (f && f->type == VIGIL_FIELD_NUMBER)
		return xasprintf("%.15g", f->number);
	return xstrdup(source ? source : "");
}

/* Edge state kept in memory when there is no database (vigilctl test). */
struct mem_edge {
	char *rule, *key, *last_value;
	bool armed;
};
static struct mem_edge *mem;
static size_t n_mem, cap_mem;

void when_memory_clear(void)
{
	for (size_t i = 0; i < n_mem; i++) {
		free(mem[i].rule);
		free(mem[i].key);
		free(mem[i].last_value);
	}
	free(mem);
	mem = NULL;
	n_mem = cap_mem = 0;
}

static struct mem_edge *mem_find(const char *rule, const char *key, bool create)
{
	for (size_t i = 0; i < n_mem; i++)
		if (!strcmp(mem[i].rule, rule) && !strcmp(mem[i].key, key))
			return &mem[i];
	if (!create)
		return NULL;
	if (n_mem == cap_mem) {
		cap_mem = cap_mem ? cap_mem * 2 : 16;
		mem = xrealloc(mem, cap_mem * sizeof *mem);
	}
	mem[n_mem] = (struct mem_edge){ .rule = xstrdup(rule), .key = xstrdup(key), .armed = true };
	return &mem[n_mem++];
}

static int db_error(struct state *st, sqlite3_stmt *s, const char *what)
{
	log_msg(VIGIL_LOG_ERROR, "state", "%s: %s", what, sqlite3_errmsg(state_db(st)));
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return -EIO;
}

/* Load the edge state: *armed true and *last NULL for a key never seen. */
static int edge_load(struct state *st, const char *rule, const char *key, bool *armed,
                     char **last)
{
	*armed = true;
	*last = NULL;
	if (!st) {
		struct mem_edge *m = mem_find(rule, key, false);
		if (m) {
			*armed = m->armed;
			*last = xstrdup(m->last_value);
		}
		return 0;
	}
	sqlite3_stmt *s = state_stmt(st, "SELECT armed, last_value FROM when_state "
	                                 "WHERE rule = ?1 AND key = ?2");
	if (!s)
		return -EIO;
	if (sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC))
		return db_error(st, s, "reading when: state");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*armed = sqlite3_column_int(s, 0) != 0;
		*last = xstrdup((const char *)sqlite3_column_text(s, 1));
	} else if (rc != SQLITE_DONE) {
		return db_error(st, s, "reading when: state");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return 0;
}

static int edge_store(struct state *st, const char *rule, const char *key, bool armed,
                      const char *value)
{
	if (!st) {
		struct mem_edge *m = mem_find(rule, key, true);
		m->armed = armed;
		free(m->last_value);
		m->last_value = xstrdup(value);
		return 0;
	}
	sqlite3_stmt *s = state_stmt(st,
		"INSERT INTO when_state (rule, key, armed, last_value, updated) "
		"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (rule, key) DO UPDATE SET "
		"armed = excluded.armed, last_value = excluded.last_value, updated = excluded.updated");
	if (!s)
		return -EIO;
	if (sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int(s, 3, armed) ||
	    sqlite3_bind_text(s, 4, value, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(s, 5, now_s()) || sqlite3_step(s) != SQLITE_DONE)
		return db_error(st, s, "storing when: state");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return 0;
}

int when_check(struct state *st, const struct rule *r, const struct vigil_item *item,
               const char *source, bool *fire, char **reason)
{
	*fire = false;
	if (reason)
		*reason = NULL;
	if (!r->when) {
		*fire = true;
		return 0;
	}

	char *key = edge_key(item, source);
	bool armed;
	char *last;
	int ret = edge_load(st, r->name, key, &armed, &last);
	if (ret < 0) {
		free(key);
		return ret;
	}

	bool now_armed = armed;
	if (armed && when_eval(r->when, item)) {
		*fire = true;
		now_armed = false;
	} else if (!armed) {
		/* Rearming never fires in the same breath: that takes the next item. */
		bool rearm = r->rearm ? when_eval(r->rearm, item) : when_eval_false(r->when, item);
		if (rearm) {
			now_armed = true;
			log_msg(VIGIL_LOG_DEBUG, source, "rule \"%s\" re-armed for %s", r->name, key);
		}
	}

	char *values = field_values(r->when, item);
	ret = edge_store(st, r->name, key, now_armed, values);
	if (ret == 0 && *fire && reason) {
		char *cond = when_format(r->when);
		if (last)
			*reason = xasprintf("%s became true for %s: %s (before: %s)", cond, key, values,
			                    last);
		else
			*reason = xasprintf("%s is true for %s: %s (first value seen)", cond, key,
			                    values);
		free(cond);
	}
	if (ret < 0)
		*fire = false;
	free(values);
	free(last);
	free(key);
	return ret;
}
