/* view.c - one alert as repaired UTF-8 text for the formats and templates */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "webhook-private.h"

static void format_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	buf[0] = '\0';
	if (t == VIGIL_TIME_NONE || !gmtime_r(&tt, &tm))
		return;
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A number field as text: integers without a fraction, others to 15 digits. */
static char *number_text(double d)
{
	char *s = NULL;
	int r;
	/* No libm: the range test also rejects NaN and the infinities. */
	if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d)
		r = asprintf(&s, "%" PRId64, (int64_t)d);
	else
		r = asprintf(&s, "%.15g", d);
	return r < 0 ? NULL : s;
}

static char *join_categories(const struct vigil_item *item, bool *oom)
{
	if (!item->categories || !item->n_categories)
		return NULL;
	size_t n = 1;
	for (size_t i = 0; i < item->n_categories; i++)
		n += (item->categories[i] ? strlen(item->categories[i]) : 0) + 2;
	char *joined = malloc(n);
	if (!joined) {
		*oom = true;
		return NULL;
	}
	joined[0] = '\0';
	for (size_t i = 0; i < item->n_categories; i++) {
		if (!item->categories[i])
			continue;
		if (joined[0])
			strcat(joined, ", ");
		strcat(joined, item->categories[i]);
	}
	char *fixed = wh_utf8_repair(joined, oom);
	free(joined);
	return fixed;
}

/* The story's reports from the alert JSON, when it has two or more. */
static void read_sources(struct wh_view *v)
{
	if (!v->json)
		return;
	json_t *root = json_loads(v->json, 0, NULL);
	json_t *arr = json_object_get(root, "sources");
	size_t n = json_array_size(arr);
	if (n < 2 || !(v->sources = calloc(n, sizeof *v->sources))) {
		json_decref(root);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		const char *name = json_string_value(json_object_get(s, "source"));
		if (!name)
			continue;
		v->sources[v->n_sources++] = (struct wh_source){
			.source = name,
			.link = json_string_value(json_object_get(s, "link")),
			.title = json_string_value(json_object_get(s, "title")),
		};
	}
	v->sources_json = root;
}

int wh_view_init(struct wh_view *v, const struct vigil_alert *alert)
{
	const struct vigil_item *item = alert->item;
	static const struct vigil_item none = VIGIL_ITEM_INIT;
	bool oom = false;

	memset(v, 0, sizeof *v);
	if (!item)
		item = &none;
	v->alert = alert;
	v->rule = wh_utf8_repair(alert->rule ? alert->rule : "", &oom);
	v->severity = wh_utf8_repair(alert->severity ? alert->severity : "normal", &oom);
	v->source = wh_utf8_repair(alert->source ? alert->source : "", &oom);
	v->reason = wh_utf8_repair(alert->reason, &oom);
	v->story_key = wh_utf8_repair(alert->story_key, &oom);
	v->json = wh_utf8_repair(alert->json, &oom);
	v->idempotency_key = wh_utf8_repair(alert->idempotency_key, &oom);
	v->item_id = wh_utf8_repair(item->id, &oom);
	v->title = wh_utf8_repair(item->title, &oom);
	v->summary = wh_utf8_repair(item->summary, &oom);
	v->content = wh_utf8_repair(item->content, &oom);
	v->author = wh_utf8_repair(item->author, &oom);
	v->link = wh_utf8_repair(item->link, &oom);
	v->lang = wh_utf8_repair(item->lang, &oom);
	v->feed_title = wh_utf8_repair(item->feed_title, &oom);
	v->categories = join_categories(item, &oom);
	format_time(alert->created, v->created, sizeof v->created);
	format_time(item->published, v->published, sizeof v->published);
	format_time(item->updated, v->updated, sizeof v->updated);
	snprintf(v->id, sizeof v->id, "%" PRId64, alert->id);
	snprintf(v->attempt, sizeof v->attempt, "%" PRIu32, alert->attempt);

	if (item->fields && item->n_fields) {
		v->field_names = calloc(item->n_fields, sizeof *v->field_names);
		v->field_values = calloc(item->n_fields, sizeof *v->field_values);
		if (!v->field_names || !v->field_values)
			oom = true;
		for (size_t i = 0; !oom && i < item->n_fields; i++) {
			const struct vigil_field *f = &item->fields[i];
			if (!f->name)
				continue;
			char *value = f->type == VIGIL_FIELD_NUMBER ? number_text(f->number)
			            : wh_utf8_repair(f->string ? f->string : "", &oom);
			char *name = wh_utf8_repair(f->name, &oom);
			if (!value || !name) {
				free(value);
				free(name);
				oom = true;
				break;
			}
			v->field_names[v->n_fields] = name;
			v->field_values[v->n_fields] = value;
			v->n_fields++;
		}
	}
	if (oom) {
		wh_view_clear(v);
		return -ENOMEM;
	}
	read_sources(v);
	return 0;
}

void wh_view_clear(struct wh_view *v)
{
	free(v->rule);
	free(v->severity);
	free(v->source);
	free(v->reason);
	free(v->story_key);
	free(v->json);
	free(v->idempotency_key);
	free(v->item_id);
	free(v->title);
	free(v->summary);
	free(v->content);
	free(v->author);
	free(v->link);
	free(v->lang);
	free(v->feed_title);
	free(v->categories);
	for (size_t i = 0; i < v->n_fields; i++) {
		free(v->field_names[i]);
		free(v->field_values[i]);
	}
	free(v->field_names);
	free(v->field_values);
	free(v->sources);
	json_decref(v->sources_json);
	memset(v, 0, sizeof *v);
}
