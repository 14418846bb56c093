/* plugin.h - the plugin descriptor: what a plugin exports and the host loads */
#ifndef VIGIL_PLUGIN_H
#define VIGIL_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/version.h>
#include <vigil/alert.h>
#include <vigil/host.h>

enum vigil_plugin_kind {
	VIGIL_PLUGIN_SOURCE = 1,
	VIGIL_PLUGIN_SINK = 2,
};

enum vigil_plugin_flags {
	/* Never unloaded, even at shutdown (libraries that own threads). */
	VIGIL_PLUGIN_RESIDENT = 1u << 0,
};

enum vigil_option_type {
	VIGIL_OPT_STRING = 1,
	VIGIL_OPT_INT = 2,           /* integer, 64-bit */
	VIGIL_OPT_BOOL = 3,
	VIGIL_OPT_DURATION = 4,      /* "90s", "10m", "6h", "1d", "1h30m"; read in ms */
	VIGIL_OPT_STRING_LIST = 5,   /* a YAML list of scalars (a single scalar is a list of one) */
	VIGIL_OPT_MAP = 6,           /* a YAML mapping of scalars to scalars */
	VIGIL_OPT_PATH = 7,          /* a file path, made absolute against the config file */
	VIGIL_OPT_NUMBER = 8,        /* a real number */
};

/* One accepted option. The host validates configuration against the table. */
struct vigil_option {
	const char *key;
	enum vigil_option_type type;
	const char *default_value;   /* as YAML text, or NULL for none */
	bool required;
	const char *description;     /* one line, for --help-plugin and docs */
};

struct vigil_delivery;           /* opaque token of one delivery attempt */

/*
 * What a plugin implements. The host calls every method on the loop thread.
 * Methods return 0 or a negative errno.
 */
struct vigil_plugin_methods {
	uint32_t size;               /* sizeof(struct vigil_plugin_methods) */

	/*
	 * Required. Make an instance. `host` stays valid until destroy() returns;
	 * options are read through host's getters. On failure, log the reason
	 * with host->log() and return a negative errno; *state is then ignored.
	 */
	int (*create)(const struct vigil_host *host, void **state);

	/* Required. Free everything create() and later calls made; cancel timers
	 * and requests. Pending deliveries are abandoned (the outbox keeps them). */
	void (*destroy)(void *state);

	/*
	 * Sources, required. Start one poll. The plugin emits items with
	 * host->emit() and finishes with host->poll_done() exactly once, now or
	 * later. The host never starts a poll while one is running.
	 */
	int (*poll)(void *state);

	/*
	 * Sinks, required. Start delivering `alert`; answer host->done(delivery,
	 * ...) exactly once, now or later. The alert is borrowed until then.
	 */
	int (*deliver)(void *state, const struct vigil_alert *alert,
	               struct vigil_delivery *delivery);
};

/* The descriptor a plugin's entry point returns. Static storage, never freed. */
struct vigil_plugin {
	uint32_t size;               /* sizeof(struct vigil_plugin) */
	uint16_t abi_major;          /* VIGIL_ABI_MAJOR the plugin was built against */
	uint16_t abi_minor;          /* VIGIL_ABI_MINOR the plugin was built against */
	const char *name;            /* as used in `plugin:`; [a-z0-9_-]+ */
	const char *version;         /* the plugin's own version */
	const char *description;     /* one line */
	enum vigil_plugin_kind kind;
	uint32_t flags;              /* enum vigil_plugin_flags */
	const struct vigil_option *options;  /* n_options entries */
	size_t n_options;
	const struct vigil_plugin_methods *methods;
};

/* The one symbol a plugin exports. */
#define VIGIL_PLUGIN_ENTRY_SYMBOL "vigil_plugin_entry"
typedef const struct vigil_plugin *(*vigil_plugin_entry_fn)(void);

/* Define the entry point of a plugin whose descriptor is `descriptor`. */
#define VIGIL_PLUGIN_DEFINE(descriptor) \
	VIGIL_EXPORT const struct vigil_plugin *vigil_plugin_entry(void); \
	VIGIL_EXPORT const struct vigil_plugin *vigil_plugin_entry(void) { return &(descriptor); }

#endif
