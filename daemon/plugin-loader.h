/* plugin-loader.h - finding, opening and checking plugin shared objects */
#ifndef VIGIL_DAEMON_PLUGIN_LOADER_H
#define VIGIL_DAEMON_PLUGIN_LOADER_H

#include <stdio.h>
#include <vigil/plugin.h>
#include "diag.h"

struct loaded_plugin {
	char *name;
	char *path;
	void *handle;                /* from dlopen */
	const struct vigil_plugin *desc;
};

struct plugin_loader;

/* `dirs`: a colon-separated list searched in order. Copied. */
struct plugin_loader *plugin_loader_new(const char *dirs);
/* dlclose()s every plugin not marked resident. Only once no instance runs. */
void plugin_loader_free(struct plugin_loader *l);
const char *plugin_loader_dirs(const struct plugin_loader *l);

/*
 * The plugin `name` (loaded once, then cached). On failure NULL, and a
 * message naming the file and the reason is added to d at file:line:column
 * (the `plugin:` key that asked for it).
 */
const struct loaded_plugin *plugin_loader_get(struct plugin_loader *l, const char *name,
                                              struct diags *d, const char *file,
                                              int line, int column);

/*
 * Check a descriptor against this host: same ABI major, minor not newer,
 * required methods present for its kind, sane option table. 0, or -EINVAL
 * with *why (malloc'd) naming both versions or the missing method.
 */
int plugin_check(const struct vigil_plugin *desc, char **why);

/* The plugin directories: $VIGIL_PLUGIN_DIR, else `configured`, else the
 * installed default. Caller frees. */
char *plugin_dirs_resolve(const char *configured);

/* Print a plugin's description and option table (from the plugin directories
 * of plugin_dirs_resolve(NULL)). Returns an exit code. */
int plugin_help_print(const char *name, FILE *out);

#endif
