/* rules.h - watch rules as loaded from YAML: the tree the matcher compiles (RULES.md) */
#ifndef VIGIL_DAEMON_RULES_H
#define VIGIL_DAEMON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "diag.h"

/*
 * Everything below is owned by the struct ruleset it hangs from and freed by
 * ruleset_free(). Positions (file, line, column) point at the YAML node the
 * thing came from, for messages; `file` strings are owned by the ruleset.
 */

/* One phrase as the user wrote it ("export license*", "R2", "تراخيص التصدير"). */
struct rule_term {
	char *text;                  /* without the trailing '*'; not normalised */
	bool prefix;                 /* trailing '*': the last word is a prefix */
	const char *alias;           /* name of the alias it came from (the one the rule
	                                named, for nested aliases), or NULL */
	const char *file;
	int line, column;
};

enum rule_cond_kind {
	RULE_TERMS = 1,              /* any of `terms` (one term, or an @alias expanded) */
	RULE_NEAR = 2,               /* every member within `within` words of each other */
	RULE_REGEX = 3,              /* PCRE2 pattern */
	RULE_GROUP = 4,              /* all: / any: / none: lists */
};

struct rule_alias;

/* A set of alternatives: a plain term is a set of one, "@alias" its terms. */
struct rule_termset {
	struct rule_term *terms;
	size_t n;
	/* "@alias": the alias, and `terms` is alias->terms (shared, not a copy:
	 * many rules naming one alias cost nothing). NULL: terms owned here. */
	const struct rule_alias *alias;
};

/* aliases: name -> terms, shared by every file of the ruleset. An alias may
 * use other aliases ("@name" among its terms) but not in a cycle; `terms`
 * is flattened, and each term's `alias` is this alias's name. */
struct rule_alias {
	char *name;                  /* without the '@' */
	struct rule_term *terms;     /* 1 or more */
	size_t n;
	const char *file;
	int line, column;            /* of the name */
};

struct rule_cond {
	enum rule_cond_kind kind;
	const char *file;
	int line, column;
	/* Fields this condition looks at (field:/fields:); NULL/0 means inherited
	 * from the enclosing group, and at the top "title", "summary", "content". */
	char **fields;
	size_t n_fields;
	union {
		struct rule_termset terms;            /* RULE_TERMS */
		struct {
			struct rule_termset *members; /* 2 or more */
			size_t n;
			unsigned within;          /* words (CJK: characters); default 8 */
		} near;                               /* RULE_NEAR */
		struct {
			char *pattern;
			bool raw;                 /* against the original text, not normalised */
		} regex;                              /* RULE_REGEX */
		struct {
			/* The group holds when every `all` member holds, at least one `any`
			 * member holds (if there are any), and no `none` member holds. A
			 * bare YAML list is a group with only `any`. */
			struct rule_cond **all, **any, **none;
			size_t n_all, n_any, n_none;
		} group;                              /* RULE_GROUP */
	};
};

/* when: / rearm: expressions. */
enum when_op {
	WHEN_OR = 1, WHEN_AND, WHEN_NOT,
	WHEN_LT, WHEN_LE, WHEN_GT, WHEN_GE, WHEN_EQ, WHEN_NE,
};

struct when_expr {
	enum when_op op;
	struct when_expr *left, *right;  /* OR/AND: both; NOT: left */
	/* Comparisons: field OP value. A missing field makes it false. */
	char *field;
	bool is_string;              /* value is a quoted string */
	double number;               /* with % (as is: 5% is 5) and k/M (x1e3/x1e6) applied */
	char *string;
	const char *file;
	int line, column;
};

enum rule_severity { SEVERITY_LOW = 0, SEVERITY_NORMAL, SEVERITY_HIGH, SEVERITY_CRITICAL };

struct rule {
	char *name;                  /* unique in the ruleset */
	char *description;
	const char *file;
	int line, column;
	char **sources;              /* globs (fnmatch) over source names; NULL: every source */
	size_t n_sources;
	struct rule_cond *match;     /* NULL: only `when`; else always a RULE_GROUP */
	struct when_expr *when;      /* NULL: only `match` */
	struct when_expr *rearm;     /* NULL: NOT when */
	enum rule_severity severity;
	char **notify;               /* sink names; NULL: every sink */
	size_t n_notify;
	int64_t cooldown_ms;         /* per story; < 0: not set (default 1 h); 0: none */
	int64_t digest_ms;           /* batch alerts this long; 0: one by one */
	bool has_quiet;
	int quiet_start_min, quiet_end_min;  /* minutes after local midnight, [start, end);
	                                        end < start wraps midnight; never equal */
	int max_per_hour;            /* 0: no cap */
};

struct ruleset {
	struct rule *rules;
	size_t n;
	char **files;                /* every file read, in order */
	size_t n_files;
	struct rule_alias *aliases;  /* sorted by name (strcmp) */
	size_t n_aliases;
};

/* Names the rules may refer to, checked at load ("unknown sink"). NULL lists
 * skip the check (vigilctl test without a configuration). */
struct rules_context {
	const char *const *sinks;
	size_t n_sinks;
	const char *const *sources;
	size_t n_sources;
};

/*
 * Load rules from a file, or a directory of *.yaml / *.yml (name order;
 * aliases are shared across the files). NULL path: an empty ruleset. On any
 * error: NULL, with every problem in d as file:line:column and a hint.
 */
struct ruleset *ruleset_load(const char *path, const struct rules_context *ctx, struct diags *d);
void ruleset_free(struct ruleset *rs);

const char *severity_name(enum rule_severity s);

/* Parse a quiet range "HH:MM-HH:MM" (local time, may wrap midnight; "24:00"
 * ends a day). 0, -EINVAL (not a range) or -ERANGE (empty: start == end). */
int quiet_range_parse(const char *text, int *start_min, int *end_min);

#endif
