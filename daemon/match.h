/* match.h - the matcher: which rules fire on an item, and why */
#ifndef VIGIL_DAEMON_MATCH_H
#define VIGIL_DAEMON_MATCH_H

#include <stddef.h>
#include <vigil/item.h>
#include "diag.h"
#include "rules.h"

struct state;

/* One rule that fired. Every member owned (but `r`); matches_free. */
struct match {
	char *rule;
	char *severity;              /* low | normal | high | critical */
	char *reason;                /* human text: `title: "R2" at 12..14, "发布" (@release)
	                                at 20..26; content: "H20" at 3..12 as "Ｈ２０"` */
	char *reason_json;           /* JSON array: one {"term","field","start","end","text"}
	                                per hit ("alias" when the term came from an @alias,
	                                "index" for the n-th category, "regex" instead of
	                                "term" for regex: entries), offsets in bytes of the
	                                ORIGINAL field; plus {"when": expr, "text": reason}
	                                for a when: rule. Never NULL. */
	char *story_key;             /* story_key_for(item) */
	char **sinks;                /* sink names to notify; NULL: every sink */
	size_t n_sinks;
	const struct rule *r;        /* the rule (noise-control settings); borrowed from
	                                the matcher, valid until matcher_free */
};

struct matcher;

/*
 * Compile a rule set: every distinct normalised literal of every rule goes
 * into one Vectorscan database, every regex: is compiled and JIT-compiled by
 * PCRE2. Takes ownership of rs (also on error). NULL, with messages in d
 * (file:line:column), when a term normalises to nothing, a regex is invalid
 * or cannot be JIT-compiled, or the database cannot be built.
 */
struct matcher *matcher_new(struct ruleset *rs, struct diags *d);

/* ruleset_load(rules_path, ctx, d) and matcher_new(). NULL path: no rules. */
struct matcher *matcher_load(const char *rules_path, const struct rules_context *ctx,
                             struct diags *d);
void matcher_free(struct matcher *m);
size_t matcher_rule_count(const struct matcher *m);

/*
 * Append the matches of `item` (from source instance `source`, which the
 * rules' `sources:` globs are matched against; NULL fits only rules without
 * `sources:`) to *out (a realloc'd array of *n), at most one per rule, in rule
 * order. `st` is handed to when_check() for rules with `when:` (NULL keeps
 * the edge-trigger state in memory), only when the rule's match: holds.
 * Terms match the normalised text of title, summary and content unless
 * field:/fields: say otherwise (categories: each one a text of its own).
 * near: holds when one hit of each member lies in the same text with every
 * two at most `within` words apart, counting from the last word of one to
 * the first of the other ("R2 release": 1; in CJK each character is a
 * word). regex: entries match the normalised text (so case does not matter:
 * they run caseless) unless `raw: true`, under a match limit: a pattern that
 * hits it counts as no match and is logged once per rule.
 * 0; -ENOMEM or -EIO (when state failed), and then nothing is appended.
 * Not thread-safe: the matcher holds the scratch space of one scan.
 */
int matcher_match(struct matcher *m, const struct vigil_item *item, const char *source,
                  struct state *st, struct match **out, size_t *n);
void matches_free(struct match *m, size_t n);

/*
 * The story key that makes five reports of one event one story: the link
 * canonicalised (scheme and host lower case, default port, fragment and
 * tracking parameters such as utm_*, fbclid, gclid, mc_cid removed), else
 * "t:" and a hash of the normalised title (else summary, else content).
 * Caller frees; never NULL.
 */
char *story_key_for(const struct vigil_item *item);

/* The canonical form of a link as story_key_for() uses it. Caller frees. */
char *link_canonical(const char *link);

#endif
