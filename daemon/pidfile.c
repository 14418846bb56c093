/* pidfile.c - vigild.pid in the runtime directory: one daemon at a time, and how vigilctl finds it */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int held_fd = -1;
static char *held_path;

char *pidfile_path(void)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");    /* systemd RuntimeDirectory= */
	if (rt && *rt) {
		/* It may list several directories separated by ':'; use the first. */
		char *first = xstrdup(rt);
		char *colon = strchr(first, ':');
		if (colon)
			*colon = '\0';
		char *p = path_join(first, "vigild.pid");
		free(first);
		return p;
	}
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg == '/')
		return xasprintf("%s/vigil/vigild.pid", xdg);
	return NULL;
}

int pidfile_acquire(void)
{
	char *path = pidfile_path();
	if (!path)
		return 0;
	char *dir = path_dirname(path);
	mkdir(dir, 0700);
	free(dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = -errno;
		log_warn("cannot create pid file %s: %s", path, strerror(errno));
		free(path);
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = read(fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_error("another vigild (pid %s) is running with %s; stop it first",
		          *buf ? buf : "?", path);
		close(fd);
		free(path);
		return -EEXIST;
	}
	char text[32];
	int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len)
		log_warn("cannot write pid file %s: %s", path, strerror(errno));
	held_fd = fd;
	held_path = path;
	return 0;
}

void pidfile_release(void)
{
	if (held_fd < 0)
		return;
	unlink(held_path);
	close(held_fd);
	held_fd = -1;
	free(held_path);
	held_path = NULL;
}
