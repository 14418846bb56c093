/* config.h - the main configuration file: daemon settings, sources, sinks, rules path */
#ifndef VIGIL_DAEMON_CONFIG_H
#define VIGIL_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <vigil/http.h>
#include "diag.h"
#include "yaml.h"

enum instance_kind { INSTANCE_SOURCE = 1, INSTANCE_SINK = 2 };

/* One entry of `sources:` or `sinks:`. Strings owned by the config. */
struct instance_config {
	enum instance_kind kind;
	char *name;
	char *plugin;
	bool optional;               /* a failing instance is logged, not fatal */
	const struct ynode *node;    /* the entry's mapping (in config->doc) */
	const char *file;            /* for messages */
	int line, column;

	/* Sources only (host-level keys, see config.c host_source_keys). */
	int64_t interval_ms;         /* defaults.interval_ms when the entry has none */
	bool alert_on_first_poll;
	char *user_agent;            /* NULL: defaults.user_agent */
	struct vigil_kv *headers;    /* extra request headers, owned */
	size_t n_headers;
	int64_t timeout_ms;          /* per request, 0: default */
	int64_t max_body;            /* bytes, 0: default */
	char *proxy;                 /* proxy URL for this source's requests, or NULL */
};

struct config_defaults {
	int64_t interval_ms;         /* 15m */
	char *user_agent;            /* "vigil/VERSION (+https://...)" */
	int64_t timeout_ms;          /* 30s total per request */
	int64_t connect_timeout_ms;  /* 10s */
	int64_t low_speed_bytes;     /* 10 bytes/s ... */
	int64_t low_speed_time_ms;   /* ... for 30s aborts */
	int64_t max_body;            /* 16 MiB */
	int64_t max_redirects;       /* 5 */
	int64_t per_host;            /* 4 concurrent requests per host */
	int64_t total;               /* 64 concurrent requests */
	int64_t max_backoff_ms;      /* 6h */
	int64_t startup_spread_ms;   /* first polls spread over min(interval, this); 0: interval */
	int64_t shutdown_timeout_ms; /* 10s to finish transfers and deliveries */
	int64_t delivery_timeout_ms; /* 60s: a sink that never answers gets a retry */
	int64_t max_age_ms;          /* 3d: then an undelivered alert is a dead letter */
	/* Noise control for rules that do not set their own. */
	int64_t cooldown_ms;         /* story window; 1h */
	int64_t digest_ms;           /* 0: alerts one by one */
	int64_t max_per_hour;        /* 0: no cap */
	bool has_quiet;              /* quiet: "HH:MM-HH:MM" */
	int quiet_start_min, quiet_end_min;
};

struct config {
	char *path;                  /* absolute path of the file */
	char *dir;                   /* its directory */
	char *state_dir;             /* absolute; see config_default_state_dir */
	char *plugin_dir;            /* absolute or NULL: the loader's default */
	int log_level;               /* VIGIL_LOG_*; -1: not set in the file */
	char *rules_path;            /* absolute; without rules:, rules.d/ beside the file if it exists, else NULL */
	struct config_defaults defaults;
	struct instance_config *sources;
	size_t n_sources;
	struct instance_config *sinks;
	size_t n_sinks;
	struct ydoc *doc;            /* owned; instance nodes point into it */
};

/*
 * Find the configuration file: `explicit_path`, else $VIGIL_CONFIG, else
 * $XDG_CONFIG_HOME/vigil/vigil.yaml (or ~/.config/...), else
 * /etc/vigil/vigil.yaml (VIGIL_SYSCONF_CONFIG). Returns a malloc'd path or
 * NULL with a message in d listing what was tried. A file named explicitly
 * or by $VIGIL_CONFIG that does not exist is an error, never a reason to
 * look further.
 */
char *config_find(const char *explicit_path, struct diags *d);

/*
 * Load and check a configuration (syntax, types, durations, duplicate names,
 * unknown keys at the top level and in `defaults:`; the rules path exists).
 * Plugin-specific options are checked later, against the plugin's table
 * (options.c). NULL on error with every problem in d.
 */
struct config *config_load(const char *path, struct diags *d);
void config_free(struct config *c);

/* Keys every source / sink entry accepts besides its plugin's options. */
extern const char *const config_host_source_keys[];
extern const char *const config_host_sink_keys[];
bool config_is_host_key(enum instance_kind kind, const char *key);

/* $STATE_DIRECTORY, else $XDG_STATE_HOME/vigil, else ~/.local/state/vigil. */
char *config_default_state_dir(void);

#endif
