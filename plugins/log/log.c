/* log.c - the `log` sink: append every alert as one JSON line to a file or stdout */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vigil/plugin.h>

struct log_sink {
	const struct vigil_host *host;
	const char *path;            /* borrowed from the host; NULL: standard output */
	int fd;
	bool do_fsync;
	/*
	 * A write that stopped part-way through a line left a fragment without
	 * its newline; the next write starts with one so that the fragment
	 * stays on a line of its own and the next alert is whole.
	 */
	bool torn;
	dev_t dev;                   /* identity of the file fd refers to */
	ino_t ino;
};

static const char *target_name(const struct log_sink *s)
{
	return s->path ? s->path : "standard output";
}

/* Open s->path for appending. Returns the fd or -errno. */
static int open_target(struct log_sink *s, dev_t *dev, ino_t *ino)
{
	int fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return fd;
}

/*
 * logrotate (without copytruncate) renames the file and expects the writer
 * to start a new one: when the path no longer names the file we hold open,
 * open it again. Returns 0 or -errno; on error the old fd is kept.
 */
static int reopen_if_rotated(struct log_sink *s)
{
	struct stat st;
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		return 0;

	dev_t dev;
	ino_t ino;
	int fd = open_target(s, &dev, &ino);
	if (fd < 0)
		return fd;
	close(s->fd);
	s->fd = fd;
	s->dev = dev;
	s->ino = ino;
	s->torn = false;
	s->host->log(s->host->inst, VIGIL_LOG_INFO, "%s was replaced (rotated?); reopened it",
	             s->path);
	return 0;
}

/*
 * Write the whole line. One writev() normally does it in a single system
 * call, which with O_APPEND places the line atomically at the end of the
 * file, so concurrent writers and line readers never see a torn line.
 * Only a short write (disk full mid-line, signal) makes us loop.
 * Returns 0 or -errno.
 */
static int write_line(struct log_sink *s, const char *json, size_t len)
{
	static const char newline = '\n';
	size_t lead = s->torn ? 1 : 0;
	struct iovec iov[3];
	int n = 0;
	if (lead)
		iov[n++] = (struct iovec){ .iov_base = (void *)&newline, .iov_len = 1 };
	iov[n++] = (struct iovec){ .iov_base = (void *)json, .iov_len = len };
	iov[n++] = (struct iovec){ .iov_base = (void *)&newline, .iov_len = 1 };

	struct iovec *v = iov;
	size_t written = 0;
	while (n > 0) {
		ssize_t w = writev(s->fd, v, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			/* The file now ends inside our line only if some of it went out. */
			if (written > 0)
				s->torn = written > lead;
			return err;
		}
		written += (size_t)w;
		size_t left = (size_t)w;
		while (n > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	s->torn = false;
	return 0;
}

static int log_create(const struct vigil_host *host, void **state)
{
	struct log_sink *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->host = host;
	s->path = host->get_string(host->inst, "path");
	s->do_fsync = host->get_bool(host->inst, "fsync", false);
	s->fd = STDOUT_FILENO;

	if (s->path) {
		int fd = open_target(s, &s->dev, &s->ino);
		if (fd < 0) {
			host->log(host->inst, VIGIL_LOG_ERROR, "cannot open %s for appending: %s",
			          s->path, strerror(-fd));
			free(s);
			return fd;
		}
		s->fd = fd;
	}
	*state = s;
	return 0;
}

static void log_destroy(void *state)
{
	struct log_sink *s = state;
	if (!s)
		return;
	if (s->path && s->fd >= 0)
		close(s->fd);
	free(s);
}

/* Reports through host->done() before returning; never keeps the alert. */
static int log_deliver(void *state, const struct vigil_alert *alert,
                       struct vigil_delivery *delivery)
{
	struct log_sink *s = state;
	const struct vigil_host *host = s->host;
	char message[512];

	if (!alert->json) {
		host->done(host->inst, delivery, VIGIL_DELIVERY_PERMANENT, 0,
		           "the alert has no JSON text");
		return 0;
	}

	if (s->path) {
		int err = reopen_if_rotated(s);
		if (err < 0) {
			snprintf(message, sizeof message, "cannot reopen %s: %s", s->path,
			         strerror(-err));
			host->done(host->inst, delivery, VIGIL_DELIVERY_RETRY, 0, message);
			return 0;
		}
	}

	int err = write_line(s, alert->json, strlen(alert->json));
	if (err < 0) {
		snprintf(message, sizeof message, "cannot write to %s: %s", target_name(s),
		         strerror(-err));
		host->done(host->inst, delivery, VIGIL_DELIVERY_RETRY, 0, message);
		return 0;
	}

	/*
	 * A pipe or terminal cannot be synced (EINVAL); the line is already
	 * with the reader. A real sync failure means the line may be lost in a
	 * crash, so ask for a retry: a repeated line carries the same
	 * idempotency key, a lost one is gone.
	 */
	if (s->do_fsync && fsync(s->fd) < 0 && errno != EINVAL && errno != EROFS) {
		snprintf(message, sizeof message, "cannot sync %s: %s", target_name(s),
		         strerror(errno));
		host->done(host->inst, delivery, VIGIL_DELIVERY_RETRY, 0, message);
		return 0;
	}

	host->done(host->inst, delivery, VIGIL_DELIVERY_OK, 0, NULL);
	return 0;
}

static const struct vigil_option log_options[] = {
	{
		.key = "path",
		.type = VIGIL_OPT_PATH,
		.description = "file to append alerts to, one JSON object per line "
		               "(created 0640, reopened after rotation); default: standard output",
	},
	{
		.key = "fsync",
		.type = VIGIL_OPT_BOOL,
		.default_value = "false",
		.description = "fsync after every alert so a crash cannot lose a delivered line "
		               "(slower; default false)",
	},
};

static const struct vigil_plugin_methods log_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = log_create,
	.destroy = log_destroy,
	.deliver = log_deliver,
};

static const struct vigil_plugin log_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "log",
	.version = VIGIL_VERSION_STRING,
	.description = "append alerts as JSON Lines to a file or standard output",
	.kind = VIGIL_PLUGIN_SINK,
	.options = log_options,
	.n_options = sizeof log_options / sizeof log_options[0],
	.methods = &log_methods,
};

VIGIL_PLUGIN_DEFINE(log_plugin)
