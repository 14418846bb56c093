/* yaml.c - YAML documents as a tree of nodes that remember their file, line and column */
#include "yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* See the note at the top of yaml.h: this reaches libyaml's own header. */
#define VIGIL_YAML_WANT_LIBYAML
#include <yaml.h>

#include "util.h"

/* Collections nested deeper than this are refused: every consumer of the
 * tree recurses, and the input may be hostile (the parser is fuzzed). */
#define MAX_DEPTH 256
/* Nodes that aliases may add to a document, in total (billion laughs). */
#define MAX_ALIAS_NODES 10000
/* A configuration file is small; anything near this is a mistake. */
#define MAX_FILE_SIZE (64u << 20)

/* Size of a finished subtree, so an alias can be priced before it is copied. */
struct extent {
	size_t nodes;                /* nodes in the subtree, itself included */
	size_t height;               /* collection levels: 0 for a scalar */
};

struct anchor {
	char *name;
	struct ynode *node;          /* NULL while the anchored node is still open */
	struct extent ext;
	size_t chain;                /* index + 1 of the previous anchor in the bucket */
};

struct builder {
	yaml_parser_t parser;
	const char *text;            /* the input, to place reader errors */
	size_t len;
	struct ydoc *doc;
	struct diags *d;
	size_t errors;               /* messages added so far */
	bool fatal;                  /* stop reading: the tree is incomplete */
	size_t alias_nodes;

	/* Anchors may be redefined; an alias means the latest definition, so
	 * each bucket chains from the newest anchor to the oldest. */
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t *buckets;             /* index + 1 into anchors, 0: empty */
	size_t n_buckets;            /* a power of two */
};

static int clamp_int(size_t v)
{
	return v >= INT_MAX ? INT_MAX : (int)v;
}

static void error_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);

static void error_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(b->d, b->doc->file, clamp_int(mark->line + 1), clamp_int(mark->column + 1),
	          fmt, ap);
	va_end(ap);
	b->errors++;
}

static void fatal_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);

static void fatal_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(b->d, b->doc->file, clamp_int(mark->line + 1), clamp_int(mark->column + 1),
	          fmt, ap);
	va_end(ap);
	b->errors++;
	b->fatal = true;
}

/* libyaml's reader reports a byte offset rather than a mark. */
static yaml_mark_t mark_of_offset(const struct builder *b, size_t offset)
{
	yaml_mark_t m = { 0 };
	if (offset > b->len)
		offset = b->len;
	for (size_t i = 0; i < offset; i++) {
		if (b->text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)b->text[i] & 0xc0) != 0x80) {
			m.column++;     /* count characters, not UTF-8 continuation bytes */
		}
	}
	m.index = offset;
	return m;
}

static void parser_error(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	const char *problem = p->problem ? p->problem : "cannot parse";
	yaml_mark_t mark;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		diag_add(b->d, b->doc->file, 0, 0, "out of memory while reading YAML");
		b->errors++;
		break;
	case YAML_READER_ERROR:
		mark = mark_of_offset(b, p->problem_offset);
		if (p->problem_value != -1)
			error_at(b, &mark, "%s (byte 0x%02X at offset %zu)", problem,
			         (unsigned)p->problem_value & 0xffu, p->problem_offset);
		else
			error_at(b, &mark, "%s (at offset %zu)", problem, p->problem_offset);
		break;
	default:
		if (p->context)
			error_at(b, &p->problem_mark, "%s (%s at line %zu, column %zu)", problem,
			         p->context, p->context_mark.line + 1, p->context_mark.column + 1);
		else
			error_at(b, &p->problem_mark, "%s", problem);
		break;
	}
	b->fatal = true;
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev)) {
		parser_error(b);
		return -1;
	}
	return 0;
}

static struct ynode *node_new(struct builder *b, enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode *n = xcalloc(1, sizeof *n);
	n->type = type;
	n->file = b->doc->file;
	n->line = clamp_int(mark->line + 1);
	n->column = clamp_int(mark->column + 1);
	return n;
}

static void node_free(struct ynode *n)
{
	if (!n)
		return;
	switch (n->type) {
	case YNODE_SCALAR:
		free(n->value);
		break;
	case YNODE_SEQUENCE:
		for (size_t i = 0; i < n->n; i++)
			node_free(n->items[i]);
		free(n->items);
		break;
	case YNODE_MAPPING:
		for (size_t i = 0; i < n->n; i++) {
			node_free(n->entries[i].key);
			node_free(n->entries[i].value);
		}
		free(n->entries);
		break;
	}
	free(n);
}

/* Deep copy; the caller has checked the size against the alias budget. */
static struct ynode *node_copy(const struct ynode *src)
{
	struct ynode *n = xmalloc(sizeof *n);
	*n = *src;
	switch (src->type) {
	case YNODE_SCALAR:
		n->value = xstrdup(src->value);
		break;
	case YNODE_SEQUENCE:
		n->items = xcalloc(src->n, sizeof *n->items);
		for (size_t i = 0; i < src->n; i++)
			n->items[i] = node_copy(src->items[i]);
		break;
	case YNODE_MAPPING:
		n->entries = xcalloc(src->n, sizeof *n->entries);
		for (size_t i = 0; i < src->n; i++) {
			n->entries[i].key = node_copy(src->entries[i].key);
			n->entries[i].value = node_copy(src->entries[i].value);
		}
		break;
	}
	return n;
}

static size_t hash_name(const char *s)
{
	return (size_t)fnv64(FNV64_SEED, s, strlen(s));
}

static void anchors_rehash(struct builder *b)
{
	size_t nb = b->n_buckets ? b->n_buckets * 2 : 64;
	free(b->buckets);
	b->buckets = xcalloc(nb, sizeof *b->buckets);
	b->n_buckets = nb;
	/* Oldest first, so the newest definition of a name ends up in front. */
	for (size_t i = 0; i < b->n_anchors; i++) {
		size_t h = hash_name(b->anchors[i].name) & (nb - 1);
		b->anchors[i].chain = b->buckets[h];
		b->buckets[h] = i + 1;
	}
}

/* Define an anchor whose node is still open; returns its index. */
static size_t anchor_open(struct builder *b, const char *name)
{
	if (b->n_anchors == b->cap_anchors) {
		b->cap_anchors = b->cap_anchors ? b->cap_anchors * 2 : 16;
		b->anchors = xrealloc(b->anchors, b->cap_anchors * sizeof *b->anchors);
	}
	size_t i = b->n_anchors++;
	b->anchors[i] = (struct anchor){ .name = xstrdup(name) };
	if (b->n_anchors > b->n_buckets / 2) {
		anchors_rehash(b);
	} else {
		size_t h = hash_name(name) & (b->n_buckets - 1);
		b->anchors[i].chain = b->buckets[h];
		b->buckets[h] = i + 1;
	}
	return i;
}

static const struct anchor *anchor_find(const struct builder *b, const char *name)
{
	if (!b->n_buckets)
		return NULL;
	size_t i = b->buckets[hash_name(name) & (b->n_buckets - 1)];
	while (i) {
		const struct anchor *a = &b->anchors[i - 1];
		if (!strcmp(a->name, name))
			return a;
		i = a->chain;
	}
	return NULL;
}

struct keyref {
	const char *key;
	size_t index;
};

struct dup {
	size_t index, first;         /* entry indexes: the repeat and the original */
};

static int keyref_cmp(const void *pa, const void *pb)
{
	const struct keyref *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

static int dup_cmp(const void *pa, const void *pb)
{
	const struct dup *a = pa, *b = pb;
	return a->index < b->index ? -1 : a->index > b->index;
}

/*
 * Report every key that repeats an earlier one, in document order. Sorting
 * keeps this O(n log n): a hostile document may hold a huge mapping.
 */
static void check_duplicates(struct builder *b, const struct ynode *map)
{
	if (map->n < 2)
		return;
	struct keyref *refs = xcalloc(map->n, sizeof *refs);
	struct dup *dups = xcalloc(map->n, sizeof *dups);
	size_t n = 0, n_dups = 0;

	for (size_t i = 0; i < map->n; i++) {
		if (map->entries[i].key->type != YNODE_SCALAR)
			continue;
		refs[n].key = map->entries[i].key->value;
		refs[n].index = i;
		n++;
	}
	qsort(refs, n, sizeof *refs, keyref_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(refs[i].key, refs[first].key)) {
			first = i;
			continue;
		}
		dups[n_dups].index = refs[i].index;
		dups[n_dups].first = refs[first].index;
		n_dups++;
	}
	qsort(dups, n_dups, sizeof *dups, dup_cmp);
	for (size_t i = 0; i < n_dups; i++) {
		const struct ynode *k = map->entries[dups[i].index].key;
		const struct ynode *f = map->entries[dups[i].first].key;
		yaml_mark_t mark = { .line = (size_t)k->line - 1, .column = (size_t)k->column - 1 };
		error_at(b, &mark, "duplicate key `%s` (first at line %d, column %d)",
		         k->value, f->line, f->column);
	}
	free(dups);
	free(refs);
}

static const char *kind_of_event(const yaml_event_t *ev)
{
	return ev->type == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping";
}

static struct ynode *build_node(struct builder *b, const yaml_event_t *ev, size_t depth,
                                struct extent *ext);

/* Build the children of an open collection until its end event. */
static int build_children(struct builder *b, struct ynode *node, size_t depth, struct extent *ext)
{
	yaml_event_type_t end = node->type == YNODE_SEQUENCE ? YAML_SEQUENCE_END_EVENT
	                                                     : YAML_MAPPING_END_EVENT;
	size_t cap = 0;
	struct ynode *key = NULL;
	yaml_event_t ev;

	for (;;) {
		if (next_event(b, &ev))
			goto fail;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			break;
		}
		struct extent child_ext;
		struct ynode *child = build_node(b, &ev, depth, &child_ext);
		yaml_event_delete(&ev);
		if (!child)
			goto fail;
		ext->nodes += child_ext.nodes;
		if (child_ext.height + 1 > ext->height)
			ext->height = child_ext.height + 1;

		if (node->type == YNODE_SEQUENCE || key) {
			if (node->n == cap) {
				cap = cap ? cap * 2 : 4;
				if (node->type == YNODE_SEQUENCE)
					node->items = xrealloc(node->items, cap * sizeof *node->items);
				else
					node->entries = xrealloc(node->entries, cap * sizeof *node->entries);
			}
			if (node->type == YNODE_SEQUENCE) {
				node->items[node->n++] = child;
			} else {
				node->entries[node->n].key = key;
				node->entries[node->n].value = child;
				node->n++;
				key = NULL;
			}
			continue;
		}
		if (child->type != YNODE_SCALAR) {
			yaml_mark_t mark = { .line = (size_t)child->line - 1,
			                     .column = (size_t)child->column - 1 };
			error_at(b, &mark, "a mapping key must be a scalar, not %s", ynode_kind(child));
		}
		key = child;
	}
	if (node->type == YNODE_MAPPING)
		check_duplicates(b, node);
	return 0;
fail:
	node_free(key);
	return -1;
}

/*
 * Build the node that `ev` starts (the caller deletes ev). `depth` counts
 * the collections around it. NULL after a fatal error (already reported).
 */
static struct ynode *build_node(struct builder *b, const yaml_event_t *ev, size_t depth,
                                struct extent *ext)
{
	struct ynode *node;
	const char *anchor_name = NULL;
	size_t anchor = 0;

	*ext = (struct extent){ .nodes = 1, .height = 0 };
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;
		node = node_new(b, YNODE_SCALAR, &ev->start_mark);
		node->value = xmalloc(len + 1);
		memcpy(node->value, v, len);
		node->value[len] = '\0';
		node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		/* A C string would silently end at the NUL: refuse it instead. */
		if (memchr(v, '\0', len))
			error_at(b, &ev->start_mark, "a value may not contain a NUL character");
		if (ev->data.scalar.anchor) {
			anchor = anchor_open(b, (const char *)ev->data.scalar.anchor);
			b->anchors[anchor].node = node;
			b->anchors[anchor].ext = *ext;
		}
		return node;
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		const struct anchor *a = anchor_find(b, name);
		if (!a) {
			fatal_at(b, &ev->start_mark, "undefined alias `*%s`", name);
			return NULL;
		}
		if (!a->node) {
			fatal_at(b, &ev->start_mark,
			         "alias `*%s` is inside the node it refers to (recursive alias)", name);
			return NULL;
		}
		if (a->ext.nodes > MAX_ALIAS_NODES - b->alias_nodes) {
			fatal_at(b, &ev->start_mark,
			         "alias expansion exceeds %d nodes (billion laughs?)", MAX_ALIAS_NODES);
			return NULL;
		}
		if (depth + a->ext.height > MAX_DEPTH) {
			fatal_at(b, &ev->start_mark,
			         "alias `*%s` nests deeper than %d levels", name, MAX_DEPTH);
			return NULL;
		}
		b->alias_nodes += a->ext.nodes;
		node = node_copy(a->node);
		/* The copy's root is where the alias is; its insides stay where
		 * they were written. */
		node->line = clamp_int(ev->start_mark.line + 1);
		node->column = clamp_int(ev->start_mark.column + 1);
		*ext = a->ext;
		return node;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (depth + 1 > MAX_DEPTH) {
			fatal_at(b, &ev->start_mark, "%s nested deeper than %d levels",
			         kind_of_event(ev), MAX_DEPTH);
			return NULL;
		}
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			node = node_new(b, YNODE_SEQUENCE, &ev->start_mark);
			anchor_name = (const char *)ev->data.sequence_start.anchor;
		} else {
			node = node_new(b, YNODE_MAPPING, &ev->start_mark);
			anchor_name = (const char *)ev->data.mapping_start.anchor;
		}
		if (anchor_name)
			anchor = anchor_open(b, anchor_name);
		if (build_children(b, node, depth + 1, ext)) {
			node_free(node);
			return NULL;
		}
		ext->height = ext->height ? ext->height : 1;
		if (anchor_name) {
			b->anchors[anchor].node = node;
			b->anchors[anchor].ext = *ext;
		}
		return node;
	default:
		/* libyaml never sends other events in a node position. */
		fatal_at(b, &ev->start_mark, "unexpected YAML event %d", (int)ev->type);
		return NULL;
	}
}

/* Read the stream up to the end of its first document. */
static void build_document(struct builder *b)
{
	yaml_event_t ev;
	bool in_document = false;

	for (;;) {
		if (next_event(b, &ev))
			return;
		yaml_event_type_t type = ev.type;
		if (type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			return;
		}
		if (type == YAML_DOCUMENT_END_EVENT) {
			/* Later documents are not read at all, errors included. */
			yaml_event_delete(&ev);
			return;
		}
		if (type == YAML_STREAM_START_EVENT || type == YAML_DOCUMENT_START_EVENT) {
			in_document = type == YAML_DOCUMENT_START_EVENT;
			yaml_event_delete(&ev);
			continue;
		}
		if (!in_document || b->doc->root) {
			fatal_at(b, &ev.start_mark, "unexpected YAML event %d", (int)type);
			yaml_event_delete(&ev);
			return;
		}
		struct extent ext;
		b->doc->root = build_node(b, &ev, 0, &ext);
		yaml_event_delete(&ev);
		if (b->fatal)
			return;
	}
}

struct ydoc *ydoc_load_string(const char *name, const char *text, size_t len, struct diags *d)
{
	struct builder b = { .text = text, .len = len, .d = d };
	struct ydoc *doc = xcalloc(1, sizeof *doc);
	doc->file = xstrdup(name ? name : "<string>");
	b.doc = doc;

	if (!yaml_parser_initialize(&b.parser)) {
		diag_add(d, doc->file, 0, 0, "out of memory while reading YAML");
		ydoc_free(doc);
		return NULL;
	}
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)(text ? text : ""),
	                             text ? len : 0);
	build_document(&b);
	yaml_parser_delete(&b.parser);

	for (size_t i = 0; i < b.n_anchors; i++)
		free(b.anchors[i].name);
	free(b.anchors);
	free(b.buckets);

	if (b.errors || b.fatal) {
		ydoc_free(doc);
		return NULL;
	}
	return doc;
}

struct ydoc *ydoc_load_file(const char *path, struct diags *d)
{
	struct ydoc *doc = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		diag_add(d, path, 0, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		diag_add(d, path, 0, 0, "is a directory, not a YAML file");
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_FILE_SIZE) {
				diag_add(d, path, 0, 0, "larger than %u MiB; not a configuration file?",
				         MAX_FILE_SIZE >> 20);
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			diag_add(d, path, 0, 0, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	doc = ydoc_load_string(path, buf ? buf : "", len, d);
out:
	free(buf);
	close(fd);
	return doc;
}

void ydoc_free(struct ydoc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->file);
	free(doc);
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != YNODE_MAPPING || !key)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key;
		if (k->type == YNODE_SCALAR && !strcmp(k->value, key))
			return map->entries[i].value;
	}
	return NULL;
}

const char *ynode_kind(const struct ynode *node)
{
	if (!node)
		return "nothing";
	switch (node->type) {
	case YNODE_SCALAR: return "a scalar";
	case YNODE_SEQUENCE: return "a list";
	case YNODE_MAPPING: return "a mapping";
	}
	return "an unknown node";
}

bool ynode_is_null(const struct ynode *node)
{
	if (!node || node->type != YNODE_SCALAR || !node->plain)
		return false;
	const char *v = node->value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *ynode_describe(const struct ynode *n, char *buf, size_t len)
{
	if (!n || ynode_is_null(n))
		return "nothing";
	if (n->type != YNODE_SCALAR)
		return ynode_kind(n);
	/* Room for the quotes, "..." and the NUL. */
	size_t room = len - 6, vlen = strlen(n->value), o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < vlen && i < room; i++) {
		unsigned char ch = (unsigned char)n->value[i];
		buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (vlen > room) {
		/* Do not leave half a UTF-8 sequence before the dots. */
		while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
			o--;
		if (o > 1 && (unsigned char)buf[o - 1] >= 0xc0)
			o--;
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

int ynode_bool(const struct ynode *node, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	if (!node || node->type != YNODE_SCALAR || !node->plain)
		return -EINVAL;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (!strcasecmp(node->value, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(node->value, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Optional sign, then digits only: strtoll alone would take spaces and "0x". */
static bool looks_decimal(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int ynode_int(const struct ynode *node, long long *out)
{
	if (!node || node->type != YNODE_SCALAR || !node->plain || !looks_decimal(node->value))
		return -EINVAL;
	errno = 0;
	char *end;
	long long v = strtoll(node->value, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* [sign] digits [. digits] [e [sign] digits], with digits on at least one
 * side of the point; no inf, nan or hex floats, which strtod would take. */
static bool looks_real(const char *s)
{
	bool digits = false;
	if (*s == '-' || *s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits = true;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits = true;
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* "1.5" means the same whatever locale a plugin or library may have set. */
static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void c_numeric_init(void)
{
	c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int ynode_number(const struct ynode *node, double *out)
{
	if (!node || node->type != YNODE_SCALAR || !node->plain || !looks_real(node->value))
		return -EINVAL;
	pthread_once(&c_numeric_once, c_numeric_init);
	errno = 0;
	char *end;
	double v = c_numeric ? strtod_l(node->value, &end, c_numeric) : strtod(node->value, &end);
	if (errno == ERANGE && (v > 1.0 || v < -1.0))
		return -EINVAL;     /* overflow; underflow to ~0 is fine */
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}
