/* match.c - the stand-in matcher: every item matches the rule "*" (the rules issue replaces it) */
#include "match.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "yaml.h"

struct matcher {
	size_t n_files;              /* rule files that were read */
};

static int is_yaml_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && ((n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	                          (n > 4 && !strcmp(name + n - 4, ".yml")));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Check one rule file is YAML; the stand-in reads nothing more from it. */
static void check_file(struct matcher *m, const char *path, struct diags *d)
{
	struct ydoc *doc = ydoc_load_file(path, d);
	if (doc) {
		m->n_files++;
		ydoc_free(doc);
	}
}

struct matcher *matcher_load(const char *rules_path, struct diags *d)
{
	struct matcher *m = xcalloc(1, sizeof *m);
	size_t before = d->n;
	struct stat st;

	if (!rules_path)
		return m;
	if (stat(rules_path, &st) < 0) {
		diag_add(d, rules_path, 0, 0, "cannot read rules: %s", strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		DIR *dir = opendir(rules_path);
		if (!dir) {
			diag_add(d, rules_path, 0, 0, "cannot open rules directory: %s", strerror(errno));
		} else {
			char **names = NULL;
			size_t n = 0;
			struct dirent *e;
			while ((e = readdir(dir))) {
				if (!is_yaml_name(e->d_name))
					continue;
				names = xrealloc(names, (n + 1) * sizeof *names);
				names[n++] = xstrdup(e->d_name);
			}
			closedir(dir);
			qsort(names, n, sizeof *names, name_cmp);
			for (size_t i = 0; i < n; i++) {
				char *path = path_join(rules_path, names[i]);
				check_file(m, path, d);
				free(path);
				free(names[i]);
			}
			free(names);
		}
	} else {
		check_file(m, rules_path, d);
	}
	if (d->n > before) {
		matcher_free(m);
		return NULL;
	}
	return m;
}

void matcher_free(struct matcher *m)
{
	free(m);
}

size_t matcher_rule_count(const struct matcher *m)
{
	(void)m;
	return 1;
}

int matcher_match(struct matcher *m, const struct vigil_item *item, const char *source,
                  struct match **out, size_t *n)
{
	(void)m;
	(void)source;
	*out = xrealloc(*out, (*n + 1) * sizeof **out);
	struct match *r = &(*out)[(*n)++];
	memset(r, 0, sizeof *r);
	r->rule = xstrdup("*");
	r->severity = xstrdup("normal");
	r->reason = xstrdup("stand-in matcher: every new item matches rule \"*\" until the rule engine lands");
	if (item->link && *item->link) {
		r->story_key = xstrdup(item->link);
	} else {
		const char *t = item->title ? item->title : "";
		r->story_key = xasprintf("t:%016llx",
		                         (unsigned long long)fnv64(FNV64_SEED, t, strlen(t)));
	}
	return 0;
}

void matches_free(struct match *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].rule);
		free(m[i].severity);
		free(m[i].reason);
		free(m[i].story_key);
		for (size_t j = 0; j < m[i].n_sinks; j++)
			free(m[i].sinks[j]);
		free(m[i].sinks);
	}
	free(m);
}
