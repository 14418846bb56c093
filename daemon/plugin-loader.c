/* plugin-loader.c - finding, opening and checking plugin shared objects */
#include "plugin-loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vigil-build-config.h"

struct plugin_loader {
	char *dirs;
	struct loaded_plugin **plugins;
	size_t n;
};

struct plugin_loader *plugin_loader_new(const char *dirs)
{
	struct plugin_loader *l = xcalloc(1, sizeof *l);
	l->dirs = xstrdup(dirs ? dirs : "");
	return l;
}

void plugin_loader_free(struct plugin_loader *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct loaded_plugin *p = l->plugins[i];
		/* Resident plugins own threads or libraries that cannot be unloaded. */
		if (!(p->desc->flags & VIGIL_PLUGIN_RESIDENT) && !getenv("VIGIL_NO_DLCLOSE"))
			dlclose(p->handle);
		free(p->name);
		free(p->path);
		free(p);
	}
	free(l->plugins);
	free(l->dirs);
	free(l);
}

const char *plugin_loader_dirs(const struct plugin_loader *l)
{
	return l->dirs;
}

char *plugin_dirs_resolve(const char *configured)
{
	const char *env = getenv("VIGIL_PLUGIN_DIR");
	if (env && *env)
		return xstrdup(env);
	if (configured && *configured)
		return xstrdup(configured);
	return xstrdup(VIGIL_PLUGIN_DIR_DEFAULT);
}

int plugin_check(const struct vigil_plugin *desc, char **why)
{
	if (!desc) {
		*why = xstrdup("the entry point returned no descriptor");
		return -EINVAL;
	}
	if (desc->size < offsetof(struct vigil_plugin, methods) + sizeof desc->methods) {
		*why = xasprintf("its descriptor is too small (%u bytes)", desc->size);
		return -EINVAL;
	}
	if (desc->abi_major != VIGIL_ABI_MAJOR) {
		*why = xasprintf("it was built for plugin ABI %u.%u, and this vigild speaks %u.%u "
		                 "(the major versions must match; rebuild the plugin)",
		                 desc->abi_major, desc->abi_minor, VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
		return -EINVAL;
	}
	if (desc->abi_minor > VIGIL_ABI_MINOR) {
		*why = xasprintf("it was built for plugin ABI %u.%u, newer than this vigild's %u.%u "
		                 "(upgrade vigil or rebuild the plugin)",
		                 desc->abi_major, desc->abi_minor, VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
		return -EINVAL;
	}
	if (!desc->name || !*desc->name) {
		*why = xstrdup("its descriptor has no name");
		return -EINVAL;
	}
	if (desc->kind != VIGIL_PLUGIN_SOURCE && desc->kind != VIGIL_PLUGIN_SINK) {
		*why = xasprintf("its kind %d is neither source nor sink", (int)desc->kind);
		return -EINVAL;
	}
	const struct vigil_plugin_methods *m = desc->methods;
	const char *missing = NULL;
	if (!m || m->size < offsetof(struct vigil_plugin_methods, deliver) + sizeof m->deliver)
		missing = "methods table";
	else if (!m->create)
		missing = "create";
	else if (!m->destroy)
		missing = "destroy";
	else if (desc->kind == VIGIL_PLUGIN_SOURCE && !m->poll)
		missing = "poll";
	else if (desc->kind == VIGIL_PLUGIN_SINK && !m->deliver)
		missing = "deliver";
	if (missing) {
		*why = xasprintf("it is a %s plugin without the required method '%s'",
		                 desc->kind == VIGIL_PLUGIN_SOURCE ? "source" : "sink", missing);
		return -EINVAL;
	}
	for (size_t i = 0; i < desc->n_options; i++) {
		if (!desc->options || !desc->options[i].key) {
			*why = xasprintf("its option table entry %zu has no key", i);
			return -EINVAL;
		}
	}
	return 0;
}

static bool valid_plugin_name(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

/* The first <dir>/<name>.so that exists, or NULL. */
static char *find_file(const struct plugin_loader *l, const char *name)
{
	char *dirs = xstrdup(l->dirs);
	char *save = NULL, *found = NULL;
	for (char *dir = strtok_r(dirs, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char *path = xasprintf("%s/%s.so", dir, name);
		if (access(path, F_OK) == 0)
			found = path;
		else
			free(path);
	}
	free(dirs);
	return found;
}

/* The plugin in the directories whose name is closest to `name`, or NULL. Caller frees. */
static char *closest_plugin(const struct plugin_loader *l, const char *name)
{
	char *dirs = xstrdup(l->dirs);
	char **names = NULL;
	size_t n = 0;
	char *save = NULL;
	for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		DIR *dp = opendir(dir);
		struct dirent *e;
		while (dp && (e = readdir(dp))) {
			size_t len = strlen(e->d_name);
			if (len <= 3 || strcmp(e->d_name + len - 3, ".so"))
				continue;
			names = xrealloc(names, (n + 1) * sizeof *names);
			names[n] = xstrdup(e->d_name);
			names[n++][len - 3] = '\0';
		}
		if (dp)
			closedir(dp);
	}
	const char *best = closest_match(name, (const char *const *)names, n);
	char *out = xstrdup(best);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dirs);
	return out;
}

const struct loaded_plugin *plugin_loader_get(struct plugin_loader *l, const char *name,
                                              struct diags *d, const char *file,
                                              int line, int column)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->plugins[i]->name, name))
			return l->plugins[i];

	if (!valid_plugin_name(name)) {
		diag_add(d, file, line, column,
		         "plugin name \"%s\" may only contain a-z, 0-9, '-' and '_'", name);
		return NULL;
	}
	char *path = find_file(l, name);
	if (!path) {
		char *guess = closest_plugin(l, name);
		diag_add(d, file, line, column, "no plugin \"%s\": %s.so not found in %s%s%s%s",
		         name, name, l->dirs, guess ? " (did you mean \"" : "", guess ? guess : "",
		         guess ? "\"?)" : "");
		free(guess);
		return NULL;
	}
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		diag_add(d, file, line, column, "plugin %s cannot be loaded: %s", path, dlerror());
		free(path);
		return NULL;
	}
	vigil_plugin_entry_fn entry;
	*(void **)&entry = dlsym(handle, VIGIL_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		diag_add(d, file, line, column, "plugin %s is not a vigil plugin: it exports no %s()",
		         path, VIGIL_PLUGIN_ENTRY_SYMBOL);
		dlclose(handle);
		free(path);
		return NULL;
	}
	const struct vigil_plugin *desc = entry();
	char *why = NULL;
	if (plugin_check(desc, &why) < 0) {
		diag_add(d, file, line, column, "plugin %s refused: %s", path, why);
		free(why);
		dlclose(handle);
		free(path);
		return NULL;
	}
	if (strcmp(desc->name, name)) {
		diag_add(d, file, line, column, "plugin %s calls itself \"%s\", not \"%s\"",
		         path, desc->name, name);
		dlclose(handle);
		free(path);
		return NULL;
	}
	struct loaded_plugin *p = xcalloc(1, sizeof *p);
	p->name = xstrdup(name);
	p->path = path;
	p->handle = handle;
	p->desc = desc;
	l->plugins = xrealloc(l->plugins, (l->n + 1) * sizeof *l->plugins);
	l->plugins[l->n++] = p;
	log_debug("loaded plugin %s %s (ABI %u.%u) from %s", desc->name,
	          desc->version ? desc->version : "?", desc->abi_major, desc->abi_minor, path);
	return p;
}

static const char *option_type_name(enum vigil_option_type t)
{
	switch (t) {
	case VIGIL_OPT_STRING: return "string";
	case VIGIL_OPT_INT: return "integer";
	case VIGIL_OPT_BOOL: return "boolean";
	case VIGIL_OPT_DURATION: return "duration";
	case VIGIL_OPT_STRING_LIST: return "list of strings";
	case VIGIL_OPT_MAP: return "mapping";
	case VIGIL_OPT_PATH: return "path";
	case VIGIL_OPT_NUMBER: return "number";
	}
	return "?";
}

int plugin_help_print(const char *name, FILE *out)
{
	char *dirs = plugin_dirs_resolve(NULL);
	struct plugin_loader *l = plugin_loader_new(dirs);
	struct diags d = { 0 };
	const struct loaded_plugin *p = plugin_loader_get(l, name, &d, NULL, 0, 0);
	int code = 0;
	if (!p) {
		diags_print(&d, stderr);
		code = 1;
	} else {
		const struct vigil_plugin *desc = p->desc;
		fprintf(out, "%s %s (%s plugin, ABI %u.%u): %s\n%s\n\noptions:\n", desc->name,
		        desc->version ? desc->version : "", desc->kind == VIGIL_PLUGIN_SOURCE ?
		        "source" : "sink", desc->abi_major, desc->abi_minor,
		        desc->description ? desc->description : "", p->path);
		for (size_t i = 0; i < desc->n_options; i++) {
			const struct vigil_option *o = &desc->options[i];
			fprintf(out, "  %-16s %s%s%s%s\n      %s\n", o->key, option_type_name(o->type),
			        o->required ? ", required" : "", o->default_value ? ", default " : "",
			        o->default_value ? o->default_value : "",
			        o->description ? o->description : "");
		}
		if (!desc->n_options)
			fprintf(out, "  (none)\n");
	}
	diags_clear(&d);
	plugin_loader_free(l);
	free(dirs);
	return code;
}
