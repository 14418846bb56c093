/* match.h - the matcher interface: which rules fire on an item, and why */
#ifndef VIGIL_DAEMON_MATCH_H
#define VIGIL_DAEMON_MATCH_H

#include <stddef.h>
#include <vigil/item.h>
#include "diag.h"

/* One rule that fired. Every member owned; matches_free. */
struct match {
	char *rule;
	char *severity;              /* low | normal | high | critical */
	char *reason;                /* human text */
	char *story_key;
	char **sinks;                /* sink names to notify; NULL: every sink */
	size_t n_sinks;
};

struct matcher;

/*
 * Load the rules at `rules_path` (a file, a directory of *.yaml, or NULL).
 * THE STAND-IN: until the rule engine exists, every item matches one rule
 * named "*"; the rule files are only checked to be readable YAML. NULL with
 * messages in d on error.
 */
struct matcher *matcher_load(const char *rules_path, struct diags *d);
void matcher_free(struct matcher *m);
/* How many rules are loaded (the stand-in reports 1). */
size_t matcher_rule_count(const struct matcher *m);

/* Append the matches of `item` (from source instance `source`) to *out
 * (a realloc'd array of *n). 0 or -errno. */
int matcher_match(struct matcher *m, const struct vigil_item *item, const char *source,
                  struct match **out, size_t *n);
void matches_free(struct match *m, size_t n);

#endif
