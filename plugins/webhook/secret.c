/* secret.c - read secrets (URL tokens, signing keys) from files and systemd credentials */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webhook-private.h"

/* Secrets are short; anything bigger is the wrong file. */
#define MAX_SECRET (64 * 1024)

int wh_read_secret(const struct vigil_host *host, const char *option, const char *path,
                   char **out, size_t *len)
{
	int err;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: cannot read it: %s", option, path,
		          strerror(-err));
		return err;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: %s", option, path, strerror(-err));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: not a regular file", option, path);
		goto fail;
	}
	if (st.st_mode & S_IROTH)
		host->log(host->inst, VIGIL_LOG_WARNING, "%s %s is readable by every user; "
		          "`chmod o-r` it", option, path);

	buf = malloc(MAX_SECRET + 2);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, MAX_SECRET + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: %s", option, path,
			          strerror(-err));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MAX_SECRET) {
			err = -EFBIG;
			host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: larger than %d bytes; "
			          "expected one line", option, path, MAX_SECRET);
			goto fail;
		}
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!n) {
		err = -EINVAL;
		host->log(host->inst, VIGIL_LOG_ERROR, "%s %s: empty", option, path);
		goto fail;
	}
	buf[n] = '\0';
	close(fd);
	*out = buf;
	*len = n;
	return 0;

fail:
	if (buf) {
		explicit_bzero(buf, MAX_SECRET + 2);
		free(buf);
	}
	close(fd);
	return err;
}

int wh_credential_path(const struct vigil_host *host, const char *option, const char *name,
                       char **path)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		host->log(host->inst, VIGIL_LOG_ERROR, "%s: \"%s\" is not a credential name "
		          "(a file name without '/')", option, name);
		return -EINVAL;
	}
	if (!dir || !*dir) {
		host->log(host->inst, VIGIL_LOG_ERROR, "%s: $CREDENTIALS_DIRECTORY is not set "
		          "(give the unit LoadCredential=%s:/path/to/file, or use the *_file option)",
		          option, name);
		return -ENOENT;
	}
	if (asprintf(path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	return 0;
}
