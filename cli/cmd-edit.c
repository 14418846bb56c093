/* cmd-edit.c - vigilctl edit: rules edited on a copy, validated, installed atomically, reloaded */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "match.h"
#include "pidfile.h"
#include "util.h"

/* Lines vigilctl puts at the top of an invalid copy; removed before validating. */
#define MARK "# vigilctl: "
/* What is removed: MARK without its space, so that an editor trimming
 * trailing white space does not leave the line in. */
#define MARK_PREFIX "# vigilctl:"
#define MARK_PREFIX_LEN (sizeof MARK_PREFIX - 1)

/* The pid file of the system service (RuntimeDirectory=vigil), tried by root. */
#define SYSTEM_PIDFILE "/run/vigil/vigild.pid"

/* Temporary files to remove if a signal ends us; unlink() is async-signal-safe. */
static char *volatile edit_tmp;
static char *volatile install_tmp;

/* The file being edited. */
struct target {
	char *shown;                 /* its path as the user knows it (rules dir + name) */
	char *name;                  /* its name in the rules directory */
	char *rules_dir;             /* the rules directory (validated with the others), or NULL */
	char *real;                  /* where it is written: `shown` with symlinks resolved */
	char *real_dir;              /* dirname(real): temporary copies go here (same filesystem) */
	bool exists;
	struct stat st;              /* of the existing file */
	char *created_dir;           /* a rules.d/ made for it: removed again if nothing is installed */
};

void cmd_edit_usage(FILE *out)
{
	fprintf(out,
		"Usage: vigilctl edit [-c CONFIG] [--rules PATH] [NAME]\n"
		"Edit the watch rules in $VISUAL, else $EDITOR, else vi, on a copy. When the editor\n"
		"exits the copy is validated with the other rule files; if it is invalid the editor\n"
		"opens again with the errors as comments at the top (as visudo does). A valid copy\n"
		"replaces the rules file atomically and a running vigild is told to reload (SIGHUP).\n"
		"\n"
		"With a rules directory, NAME is the file in it to edit (\".yaml\" is added when\n"
		"missing); default: its first *.yaml in name order, or a new rules.yaml.\n"
		"Saving the copy unchanged or empty installs nothing.\n"
		"\n"
		"  -c, --config FILE   configuration whose rules to edit\n"
		"  -r, --rules PATH    a rules file or directory instead of the configuration's\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit status: 0 installed; 1 nothing installed (invalid, unchanged, empty, the editor\n"
		"failed); 2 wrong usage.\n");
}

static void on_fatal_signal(int sig)
{
	if (edit_tmp)
		unlink(edit_tmp);
	if (install_tmp)
		unlink(install_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

static void forget_tmp(char *volatile *slot, bool remove)
{
	char *p = *slot;
	*slot = NULL;
	if (p && remove)
		unlink(p);
	free(p);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replace the contents of `path` (the editing copy, which the editor may have
 * replaced by another inode; the name is what counts). */
static int rewrite_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int err = write_all(fd, text, len);
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/* --- which file --------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rule files of a directory as the loader sees them (not hidden, *.yaml or
 * *.yml, not a directory; a broken link is kept, the loader reports it),
 * sorted by name. */
static char **rule_files(const char *dir, size_t *n)
{
	DIR *dh = opendir(dir);
	char **names = NULL;
	*n = 0;
	if (!dh)
		return NULL;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.' || !cli_is_rules_file_name(de->d_name))
			continue;
		char *p = path_join(dir, de->d_name);
		struct stat st;
		bool skip = stat(p, &st) == 0 && !S_ISREG(st.st_mode);
		free(p);
		if (skip)
			continue;
		names = xrealloc(names, (*n + 1) * sizeof *names);
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dh);
	if (*n)
		qsort(names, *n, sizeof *names, name_cmp);
	return names;
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void target_free(struct target *t)
{
	free(t->shown);
	free(t->name);
	free(t->rules_dir);
	free(t->real);
	free(t->real_dir);
	free(t->created_dir);
}

static char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return xstrdup(slash ? slash + 1 : path);
}

/* Decide what to edit. 0, or -1 after a message. */
static int target_resolve(const struct cli_rules *r, const char *name, struct target *t)
{
	struct stat st;
	if (!r->path) {
		/* No rules yet: rules.d/ beside the configuration, which the
		 * configuration then finds by itself (config_load's default). */
		t->rules_dir = path_join(r->config->dir, "rules.d");
		if (mkdir(t->rules_dir, 0755) == 0) {
			t->created_dir = xstrdup(t->rules_dir);
		} else if (errno != EEXIST) {
			fprintf(stderr, "vigilctl edit: %s names no rules, and %s cannot be created: %s\n",
			        r->config_path, t->rules_dir, strerror(errno));
			return -1;
		}
	} else if (stat(r->path, &st) < 0) {
		fprintf(stderr, "vigilctl edit: %s: %s\n", r->path, strerror(errno));
		return -1;
	} else if (S_ISDIR(st.st_mode)) {
		t->rules_dir = xstrdup(r->path);
	} else if (name) {
		fprintf(stderr, "vigilctl edit: the rules are one file (%s); NAME is for a rules "
		        "directory\n", r->path);
		return -1;
	} else {
		t->shown = xstrdup(r->path);
		t->name = base_name(r->path);
	}

	if (t->rules_dir) {
		if (name) {
			if (!*name || strchr(name, '/') || name[0] == '.') {
				fprintf(stderr, "vigilctl edit: '%s' is not a file name in %s\n", name,
				        t->rules_dir);
				return -1;
			}
			t->name = cli_is_rules_file_name(name) ? xstrdup(name) : xasprintf("%s.yaml", name);
		} else {
			size_t n;
			char **names = rule_files(t->rules_dir, &n);
			t->name = xstrdup(n ? names[0] : "rules.yaml");
			names_free(names, n);
		}
		t->shown = path_join(t->rules_dir, t->name);
	}

	/* A symlinked rules file stays a symlink: write where it points. */
	char *real = realpath(t->shown, NULL);
	if (real) {
		t->real = real;
	} else if (errno == ENOENT && lstat(t->shown, &st) < 0) {
		t->real = xstrdup(t->shown);
	} else {
		fprintf(stderr, "vigilctl edit: %s: %s\n", t->shown, strerror(errno));
		return -1;
	}
	t->real_dir = path_dirname(t->real);
	if (stat(t->real, &t->st) == 0) {
		if (!S_ISREG(t->st.st_mode)) {
			fprintf(stderr, "vigilctl edit: %s is not a regular file\n", t->shown);
			return -1;
		}
		t->exists = true;
	}
	return 0;
}

/* --- validation --------------------------------------------------------- */

/* s with every "VIEW/NAME" replaced by the real file's path. Caller frees. */
static char *unview(const char *s, const char *view, const struct target *t)
{
	size_t vl = strlen(view), cap = strlen(s) + 1, o = 0;
	char *out = xmalloc(cap);
	while (*s) {
		if (strncmp(s, view, vl) || s[vl] != '/') {
			out[o++] = *s++;
			continue;
		}
		const char *name = s + vl + 1;
		size_t nl = strcspn(name, ":) \"'");
		char *fname = xmalloc(nl + 1);
		memcpy(fname, name, nl);
		fname[nl] = '\0';
		char *real = !strcmp(fname, t->name) ? xstrdup(t->shown) :
		             t->rules_dir ? path_join(t->rules_dir, fname) : xstrdup(fname);
		size_t rl = strlen(real);
		cap += rl + 1;
		out = xrealloc(out, cap);
		memcpy(out + o, real, rl);
		o += rl;
		s = name + nl;
		free(fname);
		free(real);
	}
	out[o] = '\0';
	return out;
}

/* A loader message about the temporary view, worded for the user: real file
 * names, and the target's lines counted as the user sees them, below the
 * `shift` comment lines vigilctl puts on top. */
static char *rewrite_message(const char *msg, const char *view, const struct target *t,
                             int shift)
{
	char *text = unview(msg, view, t);
	size_t sl = strlen(t->shown);
	char *end;
	long line;
	if (strncmp(text, t->shown, sl) || text[sl] != ':' ||
	    (line = strtol(text + sl + 1, &end, 10)) <= 0 || *end != ':')
		return text;
	char *out = xasprintf("%s:%ld%s", t->shown, line + shift, end);
	free(text);
	return out;
}

static int copy_file(const char *from, const char *to)
{
	size_t len;
	char *text = cli_read_file(from, &len);
	if (!text)
		return -errno;
	int err = rewrite_file(to, text, len);
	free(text);
	return err;
}

/*
 * Validate `text` as the target together with the other rule files of its
 * directory: a temporary directory `view` holds copies of the others and the
 * text under the target's name, and is loaded as the daemon loads rules.
 * Messages go to d as the loader words them (under *view; see
 * rewrite_message). Returns 0 when valid (*n_rules set), -1 otherwise.
 */
static int validate(const struct target *t, const struct rules_context *ctx, const char *text,
                    size_t len, struct diags *d, size_t *n_rules, char **view_out)
{
	const char *tmp = getenv("TMPDIR");
	char *view = xasprintf("%s/vigilctl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	char **names = NULL;
	size_t n_names = 0;
	int rc = -1;

	*view_out = view;
	if (!mkdtemp(view)) {
		diag_add(d, NULL, 0, 0, "cannot make a temporary directory %s: %s", view,
		         strerror(errno));
		return -1;
	}
	if (t->rules_dir)
		names = rule_files(t->rules_dir, &n_names);
	for (size_t i = 0; i < n_names; i++) {
		if (!strcmp(names[i], t->name))
			continue;
		char *from = path_join(t->rules_dir, names[i]);
		char *to = path_join(view, names[i]);
		int err = copy_file(from, to);
		if (err < 0)
			diag_add(d, from, 0, 0, "cannot read: %s", strerror(-err));
		free(from);
		free(to);
	}
	char *mine = path_join(view, t->name);
	int err = rewrite_file(mine, text, len);
	if (err < 0)
		diag_add(d, NULL, 0, 0, "cannot write %s: %s", mine, strerror(-err));

	if (!d->n) {
		struct matcher *m = matcher_load(t->rules_dir ? view : mine, ctx, d);
		if (m && !d->n) {
			*n_rules = matcher_rule_count(m);
			rc = 0;
		}
		if (m)
			matcher_free(m);
		if (rc < 0 && !d->n)
			diag_add(d, t->shown, 0, 0, "the rules could not be loaded");
	}

	unlink(mine);
	free(mine);
	for (size_t i = 0; i < n_names; i++) {
		char *p = path_join(view, names[i]);
		unlink(p);
		free(p);
	}
	rmdir(view);
	names_free(names, n_names);
	return rc;
}

/* --- the edit loop ------------------------------------------------------ */

/* The text without vigilctl's comment lines. */
static char *strip_marks(const char *text, size_t *len)
{
	size_t n = strlen(text), o = 0;
	char *out = xmalloc(n + 1);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (strncmp(p, MARK_PREFIX, MARK_PREFIX_LEN)) {
			memcpy(out + o, p, l);
			o += l;
		}
		p += l;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

static bool is_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

/* The copy the editor opens again: the errors as comments, then the text. */
static char *with_errors(const char *text, const struct diags *d)
{
	size_t cap = strlen(text) + 256, o = 0;
	char *out = xmalloc(cap);
	char *head[2] = {
		xasprintf("%sNOT installed: fix the errors below and save; save it unchanged or\n",
		          MARK),
		xasprintf("%sempty to give up. These lines go away on saving; line numbers count them.\n",
		          MARK),
	};
	for (size_t i = 0; i < 2 + d->n; i++) {
		char *line = i < 2 ? head[i] : xasprintf("%s%s\n", MARK, d->msgs[i - 2]);
		/* One message, one comment line: a newline inside would end the comment. */
		for (char *p = line; p[0] && p[1]; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		size_t l = strlen(line);
		if (o + l + 1 > cap) {
			cap = (o + l + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + o, line, l);
		o += l;
		free(line);
	}
	size_t tl = strlen(text);
	if (o + tl + 1 > cap)
		out = xrealloc(out, o + tl + 1);
	memcpy(out + o, text, tl + 1);
	return out;
}

static const char *editor_command(void)
{
	const char *e = getenv("VISUAL");
	if (!e || !*e)
		e = getenv("EDITOR");
	return e && *e ? e : "vi";
}

/* Run the editor on path through /bin/sh, so that it may carry arguments.
 * 0 when it exited with status 0, else -1 after a message. */
static int run_editor(const char *editor, const char *path)
{
	char *cmd = xasprintf("%s \"$1\"", editor);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vigilctl edit: cannot start the editor: %s\n", strerror(errno));
		free(cmd);
		return -1;
	}
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
		fprintf(stderr, "vigilctl edit: cannot run /bin/sh: %s\n", strerror(errno));
		_exit(127);
	}
	/* ^C and ^\ are the editor's while it runs (as system() does). */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	int status;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	free(cmd);
	if (w < 0) {
		fprintf(stderr, "vigilctl edit: waiting for the editor: %s\n", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		fprintf(stderr, "vigilctl edit: the editor (%s) exited with status %d\n", editor,
		        WEXITSTATUS(status));
	else
		fprintf(stderr, "vigilctl edit: the editor (%s) was killed by signal %d\n", editor,
		        WTERMSIG(status));
	return -1;
}

/* A temporary file beside the target: hidden and not *.yaml, so neither the
 * rules loader nor the daemon's watcher takes it for a rules file. */
static char *make_tmp(const struct target *t, int *fd)
{
	char *base = base_name(t->real);
	char *p = xasprintf("%s/.%s.vigilctl-XXXXXX", t->real_dir, base);
	free(base);
	*fd = mkostemp(p, O_CLOEXEC);
	if (*fd < 0) {
		fprintf(stderr, "vigilctl edit: cannot create a file in %s: %s\n", t->real_dir,
		        strerror(errno));
		free(p);
		return NULL;
	}
	return p;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = fsync(fd) < 0 && errno != EINVAL ? -errno : 0;
	close(fd);
	return err;
}

/*
 * Install `text` as the target: a new file beside it (same owner and mode),
 * fsync, rename over the target, fsync the directory. Readers see the old
 * file or the new one, never a part. 0, or -1 after a message.
 */
static int install(const struct target *t, const char *text, size_t len)
{
	int fd;
	char *p = make_tmp(t, &fd);
	if (!p)
		return -1;
	install_tmp = p;
	mode_t mode;
	if (t->exists) {
		mode = t->st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
	}
	int err = write_all(fd, text, len);
	if (!err && fchmod(fd, mode) < 0)
		err = -errno;
	/* Keep the owner (root editing a file owned by another user); may fail
	 * harmlessly when it is ours already. */
	if (!err && t->exists && (t->st.st_uid != geteuid() || t->st.st_gid != getegid()) &&
	    fchown(fd, t->st.st_uid, t->st.st_gid) < 0 && errno != EPERM)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(p, t->real) < 0)
		err = -errno;
	if (err) {
		fprintf(stderr, "vigilctl edit: cannot install %s: %s\n", t->shown, strerror(-err));
		forget_tmp(&install_tmp, true);
		return -1;
	}
	forget_tmp(&install_tmp, false);
	err = fsync_dir(t->real_dir);
	if (err < 0)
		fprintf(stderr, "vigilctl edit: warning: fsync %s: %s\n", t->real_dir, strerror(-err));
	return 0;
}

/* --- telling the daemon ------------------------------------------------- */

/*
 * pid of the vigild holding `path` (it keeps its pid file flock()ed while it
 * runs), 0 when no daemon holds it, -errno when there is no such file.
 */
static long daemon_pid(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[32];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	if (!held || pid <= 1 || (*end && *end != '\n'))
		return 0;
	return pid;
}

static void tell_daemon(void)
{
	char *paths[2] = { pidfile_path(), NULL };
	if (geteuid() == 0 && (!paths[0] || strcmp(paths[0], SYSTEM_PIDFILE)))
		paths[1] = xstrdup(SYSTEM_PIDFILE);
	bool told = false;

	for (size_t i = 0; i < 2 && !told; i++) {
		if (!paths[i])
			continue;
		long pid = daemon_pid(paths[i]);
		if (pid == -ENOENT)
			printf("no %s; ", paths[i]);
		else if (pid < 0)
			printf("cannot read %s (%s); ", paths[i], strerror((int)-pid));
		else if (pid == 0)
			printf("no vigild holds %s (not running); ", paths[i]);
		else if (kill((pid_t)pid, SIGHUP) == 0)
			told = true;
		else
			printf("cannot signal vigild (pid %ld): %s; ", pid, strerror(errno));
		if (told)
			printf("told vigild (pid %ld) to reload\n", pid);
	}
	if (!told) {
		if (!paths[0] && !paths[1])
			printf("no runtime directory ($RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR) to find "
			       "vigild's pid file in; ");
		printf("a running vigild reloads by itself when it sees the rules change\n");
	}
	free(paths[0]);
	free(paths[1]);
}

/* --- the command -------------------------------------------------------- */

int cmd_edit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *rules = NULL;
	struct cli_rules r = { 0 };
	struct target t = { 0 };
	struct diags d = { 0 };
	char *original = NULL, *shown = NULL, *edited = NULL;
	size_t original_len = 0;
	int code = CLI_EXIT_FAIL, c;
	bool installed = false;

	while ((c = getopt_long(argc, argv, "c:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'r': rules = optarg; break;
		case 'h': cmd_edit_usage(stdout); return CLI_EXIT_OK;
		default: cmd_edit_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "vigilctl edit: one NAME at most ('%s' is extra)\n", argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	if (cli_rules_resolve(config, rules, &r, &d) < 0) {
		cli_print_diags(&d, r.config_path ? r.config_path : "vigilctl edit");
		goto out;
	}
	if (target_resolve(&r, optind < argc ? argv[optind] : NULL, &t) < 0)
		goto out;

	if (t.exists) {
		original = cli_read_file(t.real, &original_len);
		if (!original) {
			fprintf(stderr, "vigilctl edit: cannot read %s: %s\n", t.shown, strerror(errno));
			goto out;
		}
	} else {
		original = xasprintf(
			"# %s - vigil watch rules%s. See vigil-rules(5).\n"
			"# Saved unchanged or empty, nothing is installed. For example:\n"
			"#\n"
			"# rules:\n"
			"#   - name: R2 release\n"
			"#     match:\n"
			"#       all: [DeepSeek, R2]\n",
			t.name, t.rules_dir ? ", merged with the other *.yaml here in name order" : "");
		original_len = strlen(original);
	}

	catch_signals();
	int fd;
	edit_tmp = make_tmp(&t, &fd);
	if (!edit_tmp)
		goto out;
	int err = write_all(fd, original, original_len);
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err) {
		fprintf(stderr, "vigilctl edit: cannot write %s: %s\n", edit_tmp, strerror(-err));
		goto out;
	}

	const char *editor = editor_command();
	bool had_errors = false;
	size_t n_rules = 0;
	shown = xstrdup(original);      /* the rules as last shown (without comments) */
	for (;;) {
		if (run_editor(editor, edit_tmp) < 0) {
			printf("%s: nothing installed\n", t.shown);
			goto out;
		}
		size_t len;
		char *text = cli_read_file(edit_tmp, &len);
		if (!text) {
			fprintf(stderr, "vigilctl edit: cannot read the edited copy %s: %s\n", edit_tmp,
			        strerror(errno));
			goto out;
		}
		if (strlen(text) != len) {
			fprintf(stderr, "vigilctl edit: the edited copy has a NUL byte; nothing installed\n");
			free(text);
			goto out;
		}
		free(edited);
		edited = strip_marks(text, &len);
		free(text);
		if (is_blank(edited)) {
			printf("%s: the copy was saved empty; no changes installed\n", t.shown);
			goto out;
		}
		if (!strcmp(edited, shown)) {
			printf("%s: %s; no changes installed\n", t.shown,
			       had_errors ? "the invalid copy was saved unchanged" : "unchanged");
			goto out;
		}
		diags_clear(&d);
		char *view;
		int ok = validate(&t, cli_rules_ctx(&r), edited, len, &d, &n_rules, &view);
		if (ok == 0) {
			free(view);
			break;
		}
		/* Name the real files, and count the target's lines as the user will see
		 * them: below the comments (two, and one per message). */
		for (size_t i = 0; i < d.n; i++) {
			char *msg = rewrite_message(d.msgs[i], view, &t, (int)(2 + d.n));
			free(d.msgs[i]);
			d.msgs[i] = msg;
		}
		free(view);
		char *again = with_errors(edited, &d);
		diags_print(&d, stderr);
		fprintf(stderr, "vigilctl edit: %s: %zu error%s; opening the editor again\n", t.shown,
		        d.n, d.n == 1 ? "" : "s");
		err = rewrite_file(edit_tmp, again, strlen(again));
		free(again);
		if (err < 0) {
			fprintf(stderr, "vigilctl edit: cannot write %s: %s\n", edit_tmp, strerror(-err));
			goto out;
		}
		had_errors = true;
		free(shown);
		shown = xstrdup(edited);
	}

	/* Someone else changed the file meanwhile: keep both, install nothing. */
	size_t now_len = 0;
	char *now = t.exists ? cli_read_file(t.real, &now_len) : NULL;
	struct stat st;
	bool changed = t.exists ? !now || now_len != original_len || memcmp(now, original, now_len)
	                        : stat(t.real, &st) == 0;
	free(now);
	if (changed) {
		if (rewrite_file(edit_tmp, edited, strlen(edited)) == 0) {
			fprintf(stderr, "vigilctl edit: %s changed while you were editing; nothing "
			        "installed; your version is in %s\n", t.shown, edit_tmp);
			forget_tmp(&edit_tmp, false);
		} else {
			fprintf(stderr, "vigilctl edit: %s changed while you were editing; nothing "
			        "installed\n", t.shown);
		}
		goto out;
	}
	if (install(&t, edited, strlen(edited)) < 0)
		goto out;
	installed = true;
	code = CLI_EXIT_OK;
	printf("%s: installed (%zu rule%s%s%s)\n", t.shown, n_rules, n_rules == 1 ? "" : "s",
	       t.created_dir ? "; created " : "", t.created_dir ? t.created_dir : "");
	fflush(stdout);
	tell_daemon();
out:
	fflush(stdout);
	forget_tmp(&edit_tmp, true);
	if (t.created_dir && !installed)
		rmdir(t.created_dir);
	free(original);
	free(shown);
	free(edited);
	diags_clear(&d);
	target_free(&t);
	cli_rules_free(&r);
	return code;
}
