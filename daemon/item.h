/* item.h - owned copies of items, their keys, and their JSON form */
#ifndef VIGIL_DAEMON_ITEM_H
#define VIGIL_DAEMON_ITEM_H

#include <jansson.h>
#include <vigil/item.h>

/* A deep copy of a struct vigil_item; every pointer inside is owned. */
struct owned_item {
	struct vigil_item item;
};

/* Copy an item from a plugin. Reads only the members `src->size` covers;
 * invalid UTF-8 in text is replaced by U+FFFD. Never NULL. */
struct owned_item *item_copy(const struct vigil_item *src);
void item_free(struct owned_item *it);

/*
 * The key that identifies an item within its source: the id (guid), else the
 * link, else "h:" and a hash of title and published date. Caller frees.
 */
char *item_key(const struct vigil_item *item);

/* The item as a JSON object (absent members left out, times as RFC 3339). */
json_t *item_to_json(const struct vigil_item *item);
/* Back from item_to_json's form. NULL when `json` is not an object. */
struct owned_item *item_from_json(const json_t *json);

/* RFC 3339 UTC text of a Unix time ("2026-11-29T15:12:19Z"); buf >= 32. */
const char *time_format_rfc3339(int64_t t, char *buf, size_t len);
/* Parse RFC 3339 (with Z or an offset) to Unix seconds; -EINVAL if not. */
int time_parse_rfc3339(const char *text, int64_t *out);

#endif
