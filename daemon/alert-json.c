/* alert-json.c - vigil's JSON form of an alert (the log sink and webhooks send it) */
#include "alert-json.h"

#include <jansson.h>

#include "item.h"

char *alert_json_render(const struct alert_fields *a)
{
	json_t *item = json_loads(a->item_json ? a->item_json : "", 0, NULL);
	if (!json_is_object(item)) {
		json_decref(item);
		return NULL;
	}
	char created[32];
	json_t *o = json_object();
	json_object_set_new(o, "version", json_integer(ALERT_JSON_VERSION));
	json_object_set_new(o, "id", json_integer(a->id));
	json_object_set_new(o, "rule", json_string(a->rule ? a->rule : ""));
	json_object_set_new(o, "severity", json_string(a->severity ? a->severity : "normal"));
	json_object_set_new(o, "source", json_string(a->source ? a->source : ""));
	json_object_set_new(o, "created", json_string(time_format_rfc3339(a->created, created,
	                                                                 sizeof created)));
	if (a->reason)
		json_object_set_new(o, "reason", json_string(a->reason));
	if (a->story_key)
		json_object_set_new(o, "story_key", json_string(a->story_key));
	json_object_set_new(o, "item", item);
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}
