/* state-fixture.h - a state database in a fresh temporary directory, for unit tests */
#ifndef VIGIL_TEST_STATE_FIXTURE_H
#define VIGIL_TEST_STATE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "state.h"
#include "util.h"

static int state_fixture_remove_entry(const char *path, const struct stat *sb, int type,
                                      struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Close the database and remove the directory. 0, or nftw's failure. */
static inline int state_fixture_close(char *dir, char **path, struct state **st)
{
	state_close(*st);
	*st = NULL;
	int ret = dir[0] ? nftw(dir, state_fixture_remove_entry, 8, FTW_DEPTH | FTW_PHYS) : 0;
	free(*path);
	*path = NULL;
	return ret;
}

/* mkdtemp a directory named after `name` in $TMPDIR (else /tmp), open
 * dir/state.db in it. 0, or -1 with everything undone. `dir` holds >= 256. */
static inline int state_fixture_open(const char *name, char *dir, size_t dir_len, char **path,
                                     struct state **st)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, dir_len, "%s/vigil-test-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return -1;
	}
	*path = path_join(dir, "state.db");
	char *error = NULL;
	if (state_open(*path, st, &error) < 0) {
		fprintf(stderr, "state_open: %s\n", error);
		free(error);
		state_fixture_close(dir, path, st);
		return -1;
	}
	return 0;
}

#endif
