/* alert-json.c - vigil's JSON form of an alert (the log sink and webhooks send it) */
#include "alert-json.h"

#include <jansson.h>
#include <stdbool.h>

#include "item.h"

static void set_string(json_t *o, const char *key, const char *value)
{
	if (value)
		json_object_set_new(o, key, json_string(value));
}

/* The sources array ({source, link, title, id}), or NULL when fewer than two. */
static json_t *sources_json(const struct alert_source *v, size_t n)
{
	if (n < 2)
		return NULL;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_object();
		json_object_set_new(s, "source", json_string(v[i].source ? v[i].source : ""));
		set_string(s, "link", v[i].link);
		set_string(s, "title", v[i].title);
		set_string(s, "id", v[i].item_id);
		json_array_append_new(arr, s);
	}
	return arr;
}

/* A JSON value from text, or NULL when absent or not of the wanted kind. */
static json_t *parse_json(const char *text, bool want_array)
{
	if (!text)
		return NULL;
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	if (want_array ? json_is_array(v) : json_is_object(v))
		return v;
	json_decref(v);
	return NULL;
}

/* The object of one alert; `member`: inside a digest (no version, no
 * content: a digest of many long articles stays readable). */
static json_t *render(const struct alert_fields *a, bool member)
{
	json_t *item = json_loads(a->item_json ? a->item_json : "", 0, NULL);
	if (!json_is_object(item)) {
		json_decref(item);
		return NULL;
	}
	if (member)
		json_object_del(item, "content");
	char created[32];
	json_t *o = json_object();
	if (!member)
		json_object_set_new(o, "version", json_integer(ALERT_JSON_VERSION));
	json_object_set_new(o, "id", json_integer(a->id));
	json_object_set_new(o, "rule", json_string(a->rule ? a->rule : ""));
	json_object_set_new(o, "severity", json_string(a->severity ? a->severity : "normal"));
	json_object_set_new(o, "source", json_string(a->source ? a->source : ""));
	json_object_set_new(o, "created", json_string(time_format_rfc3339(a->created, created,
	                                                                 sizeof created)));
	set_string(o, "reason", a->reason);
	json_t *terms = parse_json(a->reason_json, true);
	if (terms)
		json_object_set_new(o, "reason_terms", terms);
	set_string(o, "story_key", a->story_key);
	if (member)
		set_string(o, "held_for", a->hold_kind);
	json_object_set_new(o, "item", item);
	json_t *sources = sources_json(a->sources, a->n_sources);
	if (sources)
		json_object_set_new(o, "sources", sources);
	if (a->n_digest && !member) {
		json_t *arr = json_array();
		for (size_t i = 0; i < a->n_digest; i++) {
			json_t *m = render(&a->digest[i], true);
			if (!m) {
				json_decref(arr);
				json_decref(o);
				return NULL;
			}
			json_array_append_new(arr, m);
		}
		json_object_set_new(o, "digest", arr);
		json_t *suppressed = parse_json(a->suppressed_json, false);
		if (suppressed)
			json_object_set_new(o, "suppressed", suppressed);
	}
	return o;
}

char *alert_json_render(const struct alert_fields *a)
{
	json_t *o = render(a, false);
	if (!o)
		return NULL;
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}
