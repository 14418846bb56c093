/* config.c - the main configuration file: daemon settings, sources, sinks, rules path */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vigil/version.h>

#include "log.h"
#include "rules.h"
#include "util.h"

/* meson generates vigil-build-config.h in the build root; a bare compiler
 * (a quick test build, a fuzzer) goes without it. */
#if defined(__has_include)
#if __has_include("vigil-build-config.h")
#include "vigil-build-config.h"
#endif
#endif
#ifndef VIGIL_SYSCONF_CONFIG
#define VIGIL_SYSCONF_CONFIG "/etc/vigil/vigil.yaml"
#endif

const char *const config_host_source_keys[] = {
	"name", "plugin", "optional",
	"interval", "alert_on_first_poll", "user_agent", "headers", "timeout", "max_body",
	"proxy",
	NULL,
};

const char *const config_host_sink_keys[] = {
	"name", "plugin", "optional",
	NULL,
};

static const char *const top_keys[] = {
	"state_dir", "plugin_dir", "log_level", "rules", "defaults", "sources", "sinks", NULL,
};

enum value_kind {
	V_DURATION,                  /* > 0 */
	V_DURATION0,                 /* >= 0 */
	V_STRING,                    /* also a header value: no line breaks */
	V_INT0,                      /* integer >= 0 */
	V_INT1,                      /* integer >= 1 */
	V_SIZE,                      /* bytes, > 0, with k/M/G suffixes */
	V_QUIET,                     /* "HH:MM-HH:MM", stored as start/end minutes */
};

static const struct default_key {
	const char *key;
	enum value_kind kind;
	size_t offset;
} default_keys[] = {
	{ "interval", V_DURATION, offsetof(struct config_defaults, interval_ms) },
	{ "user_agent", V_STRING, offsetof(struct config_defaults, user_agent) },
	{ "timeout", V_DURATION, offsetof(struct config_defaults, timeout_ms) },
	{ "connect_timeout", V_DURATION, offsetof(struct config_defaults, connect_timeout_ms) },
	{ "low_speed_bytes", V_INT0, offsetof(struct config_defaults, low_speed_bytes) },
	{ "low_speed_time", V_DURATION, offsetof(struct config_defaults, low_speed_time_ms) },
	{ "max_body", V_SIZE, offsetof(struct config_defaults, max_body) },
	{ "max_redirects", V_INT0, offsetof(struct config_defaults, max_redirects) },
	{ "per_host", V_INT1, offsetof(struct config_defaults, per_host) },
	{ "max_connections", V_INT1, offsetof(struct config_defaults, total) },
	{ "max_backoff", V_DURATION, offsetof(struct config_defaults, max_backoff_ms) },
	{ "startup_spread", V_DURATION0, offsetof(struct config_defaults, startup_spread_ms) },
	{ "shutdown_timeout", V_DURATION, offsetof(struct config_defaults, shutdown_timeout_ms) },
	{ "delivery_timeout", V_DURATION, offsetof(struct config_defaults, delivery_timeout_ms) },
	{ "max_age", V_DURATION, offsetof(struct config_defaults, max_age_ms) },
	/* Noise control of rules that do not set their own (docs/noise.md). */
	{ "cooldown", V_DURATION0, offsetof(struct config_defaults, cooldown_ms) },
	{ "digest", V_DURATION0, offsetof(struct config_defaults, digest_ms) },
	{ "max_per_hour", V_INT0, offsetof(struct config_defaults, max_per_hour) },
	{ "quiet", V_QUIET, offsetof(struct config_defaults, quiet_start_min) },
};
#define N_DEFAULT_KEYS (sizeof default_keys / sizeof default_keys[0])

#define SECOND INT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

static const struct config_defaults builtin_defaults = {
	.interval_ms = 15 * MINUTE,
	.user_agent = NULL,          /* set in config_load: it is malloc'd */
	.timeout_ms = 30 * SECOND,
	.connect_timeout_ms = 10 * SECOND,
	.low_speed_bytes = 10,
	.low_speed_time_ms = 30 * SECOND,
	.max_body = INT64_C(16) << 20,
	.max_redirects = 5,
	.per_host = 4,
	.total = 64,
	.max_backoff_ms = 6 * HOUR,
	.startup_spread_ms = 0,
	.shutdown_timeout_ms = 10 * SECOND,
	.delivery_timeout_ms = 60 * SECOND,
	.max_age_ms = 3 * DAY,
	.cooldown_ms = HOUR,
};

#define DEFAULT_USER_AGENT "vigil/" VIGIL_VERSION_STRING " (+https://github.com/vigil-monitor/vigil)"

static size_t count_keys(const char *const *keys)
{
	size_t n = 0;
	while (keys[n])
		n++;
	return n;
}

bool config_is_host_key(enum instance_kind kind, const char *key)
{
	const char *const *keys = kind == INSTANCE_SINK ? config_host_sink_keys
	                                                : config_host_source_keys;
	for (size_t i = 0; keys[i]; i++)
		if (!strcmp(keys[i], key))
			return true;
	return false;
}

/* ---- finding the file ---- */

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return home;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

/* The XDG base directory spec says to ignore relative values. */
static const char *xdg_dir(const char *var)
{
	const char *v = getenv(var);
	return v && v[0] == '/' ? v : NULL;
}

/*
 * Whether to take this candidate. Anything but "not there" counts as there,
 * so an unreadable file is reported by config_load instead of being passed
 * over for another one.
 */
static bool candidate_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

char *config_find(const char *explicit_path, struct diags *d)
{
	/* A file the user named is not a hint: never fall back from it. */
	if (explicit_path && *explicit_path) {
		if (candidate_exists(explicit_path))
			return xstrdup(explicit_path);
		diag_add(d, explicit_path, 0, 0, "no such configuration file");
		return NULL;
	}
	const char *env = getenv("VIGIL_CONFIG");
	if (env && *env) {
		if (candidate_exists(env))
			return xstrdup(env);
		diag_add(d, env, 0, 0, "no such configuration file (named by $VIGIL_CONFIG)");
		return NULL;
	}

	char *tried[2] = { NULL, NULL };
	const char *xdg = xdg_dir("XDG_CONFIG_HOME");
	const char *home = xdg ? NULL : home_dir();
	if (xdg)
		tried[0] = path_join(xdg, "vigil/vigil.yaml");
	else if (home)
		tried[0] = path_join(home, ".config/vigil/vigil.yaml");
	tried[1] = xstrdup(VIGIL_SYSCONF_CONFIG);

	for (size_t i = 0; i < 2; i++) {
		if (tried[i] && candidate_exists(tried[i])) {
			char *found = tried[i];
			tried[i] = NULL;
			free(tried[0]);
			free(tried[1]);
			return found;
		}
	}
	diag_add(d, NULL, 0, 0,
	         "no configuration file found; tried %s%s%s (use -c FILE or set $VIGIL_CONFIG)",
	         tried[0] ? tried[0] : "", tried[0] ? " and " : "", tried[1]);
	free(tried[0]);
	free(tried[1]);
	return NULL;
}

char *config_default_state_dir(void)
{
	/* systemd's StateDirectory= may list several, colon-separated. */
	const char *sd = getenv("STATE_DIRECTORY");
	if (sd && sd[0] == '/') {
		size_t n = strcspn(sd, ":");
		char *out = xmalloc(n + 1);
		memcpy(out, sd, n);
		out[n] = '\0';
		return out;
	}
	const char *xdg = xdg_dir("XDG_STATE_HOME");
	if (xdg)
		return path_join(xdg, "vigil");
	const char *home = home_dir();
	if (home)
		return path_join(home, ".local/state/vigil");
	return xstrdup("/var/lib/vigil");
}

/* ---- reading values ---- */

struct loader {
	struct config *c;
	struct diags *d;
	size_t errors;
};

static void node_error(struct loader *l, const struct ynode *n, const char *fmt, ...)
	VIGIL_PRINTF(3, 4);

static void node_error(struct loader *l, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(l->d, n->file, n->line, n->column, fmt, ap);
	va_end(ap);
	l->errors++;
}

/* For messages; the buffer lives until the end of the enclosing statement's block. */
#define DESCRIBE(n) ynode_describe((n), (char[80]){ 0 }, 80)

static bool has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int read_string(struct loader *l, const struct ynode *n, char **out)
{
	if (n->type != YNODE_SCALAR || ynode_is_null(n)) {
		node_error(l, n, "expected a string, got %s", DESCRIBE(n));
		return -1;
	}
	if (has_line_break(n->value)) {
		node_error(l, n, "expected a single line, got a line break");
		return -1;
	}
	free(*out);
	*out = xstrdup(n->value);
	return 0;
}

static int read_duration(struct loader *l, const struct ynode *n, bool allow_zero, int64_t *out)
{
	int64_t ms;
	if (n->type != YNODE_SCALAR || duration_parse(n->value, &ms) < 0) {
		node_error(l, n, "expected a duration like 90s, 10m, 6h or 1d, got %s", DESCRIBE(n));
		return -1;
	}
	if (!allow_zero && ms <= 0) {
		node_error(l, n, "expected a duration greater than zero, got %s", DESCRIBE(n));
		return -1;
	}
	*out = ms;
	return 0;
}

static int read_int(struct loader *l, const struct ynode *n, long long min, int64_t *out)
{
	long long v;
	if (ynode_int(n, &v) < 0) {
		bool quoted = n->type == YNODE_SCALAR && !n->plain;
		node_error(l, n, "expected a whole number, got %s%s", DESCRIBE(n),
		           quoted ? " (numbers are written without quotes)" : "");
		return -1;
	}
	if (v < min) {
		node_error(l, n, "expected a whole number of at least %lld, got %lld", min, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* Bytes: digits, optionally followed by k/K/KiB, M/MiB or G/GiB (powers of 1024). */
static int size_parse(const char *s, int64_t *out)
{
	static const struct { const char *suffix; int shift; } units[] = {
		{ "", 0 }, { "k", 10 }, { "K", 10 }, { "KiB", 10 },
		{ "M", 20 }, { "MiB", 20 }, { "G", 30 }, { "GiB", 30 },
	};
	int64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (*p - '0');
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].suffix))
			continue;
		if (v > (INT64_MAX >> units[i].shift))
			return -EINVAL;
		*out = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

static int read_size(struct loader *l, const struct ynode *n, int64_t *out)
{
	int64_t v;
	if (n->type != YNODE_SCALAR || size_parse(n->value, &v) < 0) {
		node_error(l, n, "expected a size in bytes like 1048576, 512k, 16M or 1G, got %s",
		           DESCRIBE(n));
		return -1;
	}
	if (v <= 0) {
		node_error(l, n, "expected a size greater than zero, got %s", DESCRIBE(n));
		return -1;
	}
	*out = v;
	return 0;
}

static int read_bool(struct loader *l, const struct ynode *n, bool *out)
{
	if (ynode_bool(n, out) < 0) {
		node_error(l, n, "expected true or false, got %s", DESCRIBE(n));
		return -1;
	}
	return 0;
}

/* A path relative to the configuration file's directory. */
static int read_path(struct loader *l, const struct ynode *n, char **out)
{
	if (n->type != YNODE_SCALAR || ynode_is_null(n) || !n->value[0]) {
		node_error(l, n, "expected a path, got %s", DESCRIBE(n));
		return -1;
	}
	free(*out);
	*out = path_join(l->c->dir, n->value);
	return 0;
}

/* A quiet range; `out` is &defaults.quiet_start_min (start, end follow). */
static int read_quiet(struct loader *l, const struct ynode *n, void *out)
{
	struct config_defaults *def = (struct config_defaults *)
		((char *)out - offsetof(struct config_defaults, quiet_start_min));
	int start, end;
	int err = n->type == YNODE_SCALAR ? quiet_range_parse(n->value, &start, &end) : -EINVAL;
	if (err < 0) {
		node_error(l, n, "expected a quiet range like \"22:00-07:00\" (local time; start "
		           "and end differ), got %s", DESCRIBE(n));
		return -1;
	}
	def->has_quiet = true;
	def->quiet_start_min = start;
	def->quiet_end_min = end;
	return 0;
}

static int read_value(struct loader *l, const struct ynode *n, enum value_kind kind, void *out)
{
	switch (kind) {
	case V_DURATION: return read_duration(l, n, false, out);
	case V_DURATION0: return read_duration(l, n, true, out);
	case V_STRING: return read_string(l, n, out);
	case V_INT0: return read_int(l, n, 0, out);
	case V_INT1: return read_int(l, n, 1, out);
	case V_SIZE: return read_size(l, n, out);
	case V_QUIET: return read_quiet(l, n, out);
	}
	return -1;
}

/* "unknown KEY `k` WHERE; did you mean `x`?" or the list of valid keys. */
static void unknown_key(struct loader *l, const struct ynode *key, const char *where,
                        const char *const *valid, size_t n_valid)
{
	const char *close = closest_match(key->value, valid, n_valid);
	if (close) {
		node_error(l, key, "unknown key `%s` %s; did you mean `%s`?", key->value, where, close);
		return;
	}
	size_t len = 1;
	for (size_t i = 0; i < n_valid; i++)
		len += strlen(valid[i]) + 2;
	char *list = xmalloc(len), *p = list;
	for (size_t i = 0; i < n_valid; i++)
		p += sprintf(p, "%s%s", i ? ", " : "", valid[i]);
	*p = '\0';
	node_error(l, key, "unknown key `%s` %s (valid keys: %s)", key->value, where, list);
	free(list);
}

/* ---- sections ---- */

static void load_defaults(struct loader *l, const struct ynode *map)
{
	const char *names[N_DEFAULT_KEYS];
	for (size_t i = 0; i < N_DEFAULT_KEYS; i++)
		names[i] = default_keys[i].key;

	if (ynode_is_null(map))
		return;
	if (map->type != YNODE_MAPPING) {
		node_error(l, map, "expected a mapping of settings (interval, timeout, ...), got %s",
		           DESCRIBE(map));
		return;
	}
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		const struct default_key *dk = NULL;
		for (size_t j = 0; j < N_DEFAULT_KEYS; j++)
			if (!strcmp(default_keys[j].key, k->value))
				dk = &default_keys[j];
		if (!dk) {
			unknown_key(l, k, "in defaults", names, N_DEFAULT_KEYS);
			continue;
		}
		if (ynode_is_null(v))
			continue;    /* `key:` alone: the built-in default */
		read_value(l, v, dk->kind, (char *)&l->c->defaults + dk->offset);
	}
}

/* HTTP token characters (RFC 9110), so a header name cannot smuggle syntax. */
static bool valid_header_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static void load_headers(struct loader *l, struct instance_config *ic, const struct ynode *map)
{
	if (ynode_is_null(map))
		return;
	if (map->type != YNODE_MAPPING) {
		node_error(l, map, "expected a mapping of header names to values, got %s",
		           DESCRIBE(map));
		return;
	}
	ic->headers = xcalloc(map->n, sizeof *ic->headers);
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->entries[i].key, *v = map->entries[i].value;
		if (!valid_header_name(k->value)) {
			node_error(l, k, "invalid HTTP header name %s", DESCRIBE(k));
			continue;
		}
		if (v->type != YNODE_SCALAR) {
			node_error(l, v, "expected the value of header `%s`, got %s", k->value,
			           DESCRIBE(v));
			continue;
		}
		if (has_line_break(v->value)) {
			node_error(l, v, "the value of header `%s` may not contain a line break",
			           k->value);
			continue;
		}
		ic->headers[ic->n_headers].key = xstrdup(k->value);
		ic->headers[ic->n_headers].value = xstrdup(v->value);
		ic->n_headers++;
	}
}

static bool valid_instance_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* As in plugin.h: a plugin name becomes part of a file name, so keep it tame. */
static bool valid_plugin_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '_' && *s != '-')
			return false;
	return true;
}

/* The `name:` node of an earlier instance called `name`, or NULL. */
static const struct ynode *find_name(const struct config *c, const char *name,
                                     const struct instance_config *self)
{
	const struct instance_config *lists[2] = { c->sources, c->sinks };
	size_t counts[2] = { c->n_sources, c->n_sinks };
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < counts[k]; i++) {
			const struct instance_config *o = &lists[k][i];
			if (o != self && o->name && !strcmp(o->name, name))
				return ynode_get(o->node, "name");
		}
	return NULL;
}

static const char *kind_word(enum instance_kind kind)
{
	return kind == INSTANCE_SINK ? "sink" : "source";
}

/* A proxy URL: http://, https://, socks5:// or socks5h://, with a host. */
static void read_proxy(struct loader *l, const struct ynode *v, char **out)
{
	static const char *const schemes[] = { "http://", "https://", "socks5://", "socks5h://" };
	if (read_string(l, v, out) < 0 || !*out)
		return;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (!strncasecmp(*out, schemes[i], strlen(schemes[i])) && (*out)[strlen(schemes[i])])
			return;
	node_error(l, v, "expected a proxy URL like \"http://proxy.example.org:3128\" "
	           "(http, https, socks5 or socks5h), got %s", DESCRIBE(v));
	free(*out);
	*out = NULL;
}

/* One of the source-only host keys; others are left alone. */
static void load_source_key(struct loader *l, struct instance_config *ic, const char *k,
                            const struct ynode *v)
{
	if (!strcmp(k, "interval"))
		read_duration(l, v, false, &ic->interval_ms);
	else if (!strcmp(k, "alert_on_first_poll"))
		read_bool(l, v, &ic->alert_on_first_poll);
	else if (!strcmp(k, "user_agent"))
		read_string(l, v, &ic->user_agent);
	else if (!strcmp(k, "headers"))
		load_headers(l, ic, v);
	else if (!strcmp(k, "timeout"))
		read_duration(l, v, false, &ic->timeout_ms);
	else if (!strcmp(k, "max_body"))
		read_size(l, v, &ic->max_body);
	else if (!strcmp(k, "proxy"))
		read_proxy(l, v, &ic->proxy);
}

static void load_instance(struct loader *l, struct instance_config *ic, const struct ynode *map)
{
	const char *what = kind_word(ic->kind);

	ic->node = map;
	ic->file = map->file;
	ic->line = map->line;
	ic->column = map->column;

	const struct ynode *name = ynode_get(map, "name");
	if (!name || ynode_is_null(name)) {
		node_error(l, map, "this %s has no `name:`", what);
	} else if (name->type != YNODE_SCALAR || !valid_instance_name(name->value)) {
		node_error(l, name, "expected a name of letters, digits, '_', '.' and '-', got %s",
		           DESCRIBE(name));
	} else {
		const struct ynode *first = find_name(l->c, name->value, ic);
		if (first)
			node_error(l, name, "duplicate instance name `%s` (first at line %d, column %d)",
			           name->value, first->line, first->column);
		ic->name = xstrdup(name->value);
	}

	const struct ynode *plugin = ynode_get(map, "plugin");
	if (!plugin || ynode_is_null(plugin)) {
		if (ic->name)
			node_error(l, map, "%s `%s` has no `plugin:`", what, ic->name);
		else
			node_error(l, map, "this %s has no `plugin:`", what);
	} else if (plugin->type != YNODE_SCALAR || !valid_plugin_name(plugin->value)) {
		node_error(l, plugin, "expected a plugin name of lowercase letters, digits, '_' "
		           "and '-', got %s", DESCRIBE(plugin));
	} else {
		ic->plugin = xstrdup(plugin->value);
	}

	/* Everything else here is either a host key or the plugin's own; the
	 * plugin's are checked against its table later (options.c). `key:`
	 * with nothing after it leaves the setting at its default. */
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->entries[i].key->value;
		const struct ynode *v = map->entries[i].value;
		if (ynode_is_null(v))
			continue;
		if (!strcmp(k, "optional"))
			read_bool(l, v, &ic->optional);
		else if (ic->kind == INSTANCE_SOURCE)
			load_source_key(l, ic, k, v);
	}
}

static void load_instances(struct loader *l, enum instance_kind kind, const struct ynode *list)
{
	struct instance_config **arr = kind == INSTANCE_SINK ? &l->c->sinks : &l->c->sources;
	size_t *n = kind == INSTANCE_SINK ? &l->c->n_sinks : &l->c->n_sources;

	if (ynode_is_null(list))
		return;
	if (list->type != YNODE_SEQUENCE) {
		node_error(l, list, "expected a list of %ss (each `- name: ...`), got %s",
		           kind_word(kind), DESCRIBE(list));
		return;
	}
	/* Allocated up front: find_name() walks the array while it fills. */
	*arr = xcalloc(list->n, sizeof **arr);
	for (size_t i = 0; i < list->n; i++) {
		const struct ynode *item = list->items[i];
		if (item->type != YNODE_MAPPING) {
			node_error(l, item, "expected a %s (a mapping with `name:` and `plugin:`), got %s",
			           kind_word(kind), DESCRIBE(item));
			continue;
		}
		struct instance_config *ic = &(*arr)[(*n)++];
		ic->kind = kind;
		load_instance(l, ic, item);
	}
}

static void load_rules(struct loader *l, const struct ynode *n)
{
	struct stat st;
	if (ynode_is_null(n))
		return;
	if (read_path(l, n, &l->c->rules_path))
		return;
	if (stat(l->c->rules_path, &st) < 0)
		node_error(l, n, "rules path %s: %s", l->c->rules_path, strerror(errno));
	else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		node_error(l, n, "rules path %s is neither a file nor a directory", l->c->rules_path);
}

static char *absolute_path(const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return xstrdup(path);
	char *out = path_join(cwd, path);
	free(cwd);
	return out;
}

struct config *config_load(const char *path, struct diags *d)
{
	struct config *c = xcalloc(1, sizeof *c);
	struct loader l = { .c = c, .d = d };

	c->path = absolute_path(path);
	c->dir = path_dirname(c->path);
	c->log_level = -1;
	c->defaults = builtin_defaults;
	c->defaults.user_agent = xstrdup(DEFAULT_USER_AGENT);

	c->doc = ydoc_load_file(c->path, d);
	if (!c->doc)
		goto fail;

	const struct ynode *root = c->doc->root;
	if (root && !ynode_is_null(root) && root->type != YNODE_MAPPING) {
		node_error(&l, root, "expected a mapping of settings (sources:, sinks:, ...) at the "
		           "top level, got %s", DESCRIBE(root));
		goto fail;
	}
	for (size_t i = 0; root && i < root->n && root->type == YNODE_MAPPING; i++) {
		const struct ynode *k = root->entries[i].key, *v = root->entries[i].value;
		if (!strcmp(k->value, "state_dir")) {
			if (!ynode_is_null(v))
				read_path(&l, v, &c->state_dir);
		} else if (!strcmp(k->value, "plugin_dir")) {
			if (!ynode_is_null(v))
				read_path(&l, v, &c->plugin_dir);
		} else if (!strcmp(k->value, "log_level")) {
			if (ynode_is_null(v))
				continue;
			int level = v->type == YNODE_SCALAR ? log_level_parse(v->value) : -1;
			if (level < 0)
				node_error(&l, v, "expected a log level (error, warning, info or debug), "
				           "got %s", DESCRIBE(v));
			else
				c->log_level = level;
		} else if (!strcmp(k->value, "rules")) {
			load_rules(&l, v);
		} else if (!strcmp(k->value, "defaults")) {
			load_defaults(&l, v);
		} else if (!strcmp(k->value, "sources")) {
			load_instances(&l, INSTANCE_SOURCE, v);
		} else if (!strcmp(k->value, "sinks")) {
			load_instances(&l, INSTANCE_SINK, v);
		} else {
			unknown_key(&l, k, "at the top level", top_keys, count_keys(top_keys));
		}
	}
	if (l.errors)
		goto fail;

	if (!c->state_dir)
		c->state_dir = config_default_state_dir();
	/* Without `rules:`, the rules.d/ directory beside the file, if there is one. */
	if (!c->rules_path) {
		struct stat st;
		char *beside = path_join(c->dir, "rules.d");
		if (stat(beside, &st) == 0 && S_ISDIR(st.st_mode))
			c->rules_path = beside;
		else
			free(beside);
	}
	/* Sources without their own interval follow `defaults:`, wherever in
	 * the file that was written. */
	for (size_t i = 0; i < c->n_sources; i++)
		if (!c->sources[i].interval_ms)
			c->sources[i].interval_ms = c->defaults.interval_ms;
	return c;
fail:
	config_free(c);
	return NULL;
}

static void instance_free(struct instance_config *ic)
{
	free(ic->name);
	free(ic->plugin);
	free(ic->user_agent);
	free(ic->proxy);
	for (size_t i = 0; i < ic->n_headers; i++) {
		free((char *)ic->headers[i].key);
		free((char *)ic->headers[i].value);
	}
	free(ic->headers);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_sources; i++)
		instance_free(&c->sources[i]);
	for (size_t i = 0; i < c->n_sinks; i++)
		instance_free(&c->sinks[i]);
	free(c->sources);
	free(c->sinks);
	free(c->defaults.user_agent);
	free(c->path);
	free(c->dir);
	free(c->state_dir);
	free(c->plugin_dir);
	free(c->rules_path);
	ydoc_free(c->doc);
	free(c);
}
