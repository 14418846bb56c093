/* yaml.h - YAML documents as a tree of nodes that remember their file, line and column */

/*
 * This header has the same name as libyaml's, and daemon/ is on the include
 * path, so <yaml.h> finds this file first. yaml.c defines
 * VIGIL_YAML_WANT_LIBYAML and includes <yaml.h>; include_next then carries
 * on down the path to libyaml's own header.
 */
#if defined(VIGIL_YAML_WANT_LIBYAML) && !defined(VIGIL_YAML_HAVE_LIBYAML)
#define VIGIL_YAML_HAVE_LIBYAML
#include_next <yaml.h>
#endif

#ifndef VIGIL_DAEMON_YAML_H
#define VIGIL_DAEMON_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include "diag.h"

enum ynode_type {
	YNODE_SCALAR = 1,
	YNODE_SEQUENCE = 2,
	YNODE_MAPPING = 3,
};

struct ynode;

struct ymap_entry {
	struct ynode *key;           /* always a scalar */
	struct ynode *value;
};

struct ynode {
	enum ynode_type type;
	const char *file;            /* borrowed from the document */
	int line, column;            /* 1-based, where the node starts */
	char *value;                 /* SCALAR: the text, UTF-8 */
	bool plain;                  /* SCALAR: unquoted (so `null`, `true`, numbers apply) */
	struct ynode **items;        /* SEQUENCE: n items */
	struct ymap_entry *entries;  /* MAPPING: n entries, in document order */
	size_t n;
};

/* A parsed file. Owns the tree and the file name. */
struct ydoc {
	char *file;
	struct ynode *root;          /* NULL for an empty document */
};

/*
 * Parse the first document of a file (or of a string; `name` is used in
 * messages). Aliases are expanded, but at most 10,000 nodes may come from
 * aliases, and a recursive alias is an error. Duplicate mapping keys are
 * errors. On error: NULL, and diags holds file:line:column messages.
 */
struct ydoc *ydoc_load_file(const char *path, struct diags *d);
struct ydoc *ydoc_load_string(const char *name, const char *text, size_t len, struct diags *d);
void ydoc_free(struct ydoc *doc);

/* The value for `key` in a mapping, or NULL (also when node is not a mapping). */
struct ynode *ynode_get(const struct ynode *map, const char *key);
/* "a scalar", "a list", "a mapping" - for messages. */
const char *ynode_kind(const struct ynode *node);
/* A plain scalar `null`, `~` or empty. */
bool ynode_is_null(const struct ynode *node);
/*
 * How a value looks in a message: a scalar in double quotes (shortened to
 * fit `len`, control characters shown as '?'), "nothing" for a null, else
 * its kind. Returns buf or a static string; len >= 16.
 */
const char *ynode_describe(const struct ynode *node, char *buf, size_t len);

/* Typed reads of scalars; each returns 0 or -EINVAL and adds no message. */
int ynode_bool(const struct ynode *node, bool *out);    /* true/false/yes/no/on/off */
int ynode_int(const struct ynode *node, long long *out);
int ynode_number(const struct ynode *node, double *out);

#endif
