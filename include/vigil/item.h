/* item.h - the item model: what a source emits and what rules and sinks see */
#ifndef VIGIL_ITEM_H
#define VIGIL_ITEM_H

#include <stddef.h>
#include <stdint.h>

/* A time that is not known (an absent or unparsable date). */
#define VIGIL_TIME_NONE INT64_MIN

enum vigil_field_type {
	VIGIL_FIELD_STRING = 1,
	VIGIL_FIELD_NUMBER = 2,
};

/* A typed extra field ("price", "form_type", "symbol", ...). */
struct vigil_field {
	const char *name;            /* borrowed; lower_snake_case */
	enum vigil_field_type type;
	const char *string;          /* borrowed; set when type is STRING */
	double number;               /* set when type is NUMBER */
};

/*
 * One item. Every pointer is borrowed for the duration of the call that
 * receives the struct: host->emit() deep-copies what it needs, and a sink
 * sees the item of an alert until it calls host->done().
 * Text is UTF-8. NULL means absent. Append new members at the end only.
 */
struct vigil_item {
	uint32_t size;               /* sizeof(struct vigil_item) the writer knows */
	const char *id;              /* guid or equivalent as the source gives it */
	const char *title;
	const char *summary;         /* plain text */
	const char *content;         /* plain text */
	const char *author;
	const char *link;            /* absolute URL */
	const char *lang;            /* BCP 47 tag when known */
	const char *feed_title;
	const char *const *categories;  /* borrowed array of n_categories strings */
	size_t n_categories;
	int64_t published;           /* Unix seconds, UTC, or VIGIL_TIME_NONE */
	int64_t updated;             /* Unix seconds, UTC, or VIGIL_TIME_NONE */
	const struct vigil_field *fields;  /* borrowed array of n_fields */
	size_t n_fields;
};

#define VIGIL_ITEM_INIT { .size = sizeof(struct vigil_item), \
	.published = VIGIL_TIME_NONE, .updated = VIGIL_TIME_NONE }

#endif
