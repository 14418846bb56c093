/* options.h - a plugin instance's options, checked against the plugin's option table */
#ifndef VIGIL_DAEMON_OPTIONS_H
#define VIGIL_DAEMON_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <vigil/plugin.h>
#include "config.h"
#include "diag.h"

/* The validated, typed values of one instance's options (defaults applied). */
struct option_set;

/*
 * Check ic's entry against the plugin's table: every key is a host key
 * (config_is_host_key) or in the table, with "did you mean ...?" for typos;
 * each value has the declared type; required keys are present; defaults
 * (YAML text) parse. PATH values are made absolute against `base_dir`.
 * A key with an empty value (`key:`) counts as not set. A default that does
 * not parse is reported as a bug in the plugin. Host keys are validated by
 * config.c; one the plugin also declares is read with the plugin's type.
 * Every problem is added to d with file:line:column. Returns NULL on error.
 * The set copies the values: ic and its document may go afterwards (it
 * points into the plugin's table, which is static).
 */
struct option_set *option_set_build(const struct vigil_plugin *plugin,
                                    const struct instance_config *ic,
                                    const char *base_dir, struct diags *d);
void option_set_free(struct option_set *set);

/* Getters behind the host table (see host.h for their contracts). A key not
 * in the plugin's table reads as unset, and so does a getter of another type
 * (except: get_number reads INT options, and get_string reads the text of
 * any scalar option). Returned memory lives with the set. */
const char *option_get_string(const struct option_set *s, const char *key);
int64_t option_get_int(const struct option_set *s, const char *key, int64_t fallback);
double option_get_number(const struct option_set *s, const char *key, double fallback);
bool option_get_bool(const struct option_set *s, const char *key, bool fallback);
int64_t option_get_duration_ms(const struct option_set *s, const char *key, int64_t fallback);
size_t option_get_list(const struct option_set *s, const char *key, const char *const **out);
size_t option_get_map(const struct option_set *s, const char *key, const struct vigil_kv **out);

/* A canonical text of the plugin name and every set value (defaults
 * included, keys sorted, values typed), to tell whether a reload changed an
 * instance's options. Host keys show only when the plugin declares them. */
const char *option_set_fingerprint(const struct option_set *s);

#endif
