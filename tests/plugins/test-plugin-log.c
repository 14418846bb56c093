/* test-plugin-log.c - the `log` sink through the mock host: lines, appends, rotation, errors */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mock-host.h"

static const struct vigil_plugin *plugin;
static const char *plugin_dir_arg;

/* Per test: a scratch directory and a path inside it. */
struct fixture {
	char dir[64];
	char path[128];
	struct mock_host *mh;
	void *state;
};

static int setup(void **ts)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/vigil-log-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/alerts.jsonl", f->dir);
	*ts = f;
	return 0;
}

static int teardown(void **ts)
{
	struct fixture *f = *ts;
	if (f->state)
		plugin->methods->destroy(f->state);
	if (f->mh) {
		assert_int_equal(mock_host_violations(f->mh), 0);
		mock_host_free(f->mh);
	}
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* Make an instance with path = `path` (NULL: no path option). */
static void make(struct fixture *f, const char *path, const char *fsync_opt)
{
	f->mh = mock_host_new("out", NULL);
	if (path)
		mock_host_set_option(f->mh, "path", path);
	if (fsync_opt)
		mock_host_set_option(f->mh, "fsync", fsync_opt);
	assert_int_equal(mock_host_create(f->mh, plugin, &f->state), 0);
}

/* Deliver one alert whose JSON is `json`; returns how the sink finished it. */
static const struct mock_done *deliver(struct fixture *f, const char *json)
{
	struct vigil_item item = VIGIL_ITEM_INIT;
	item.id = "x";
	struct vigil_alert alert = {
		.size = sizeof alert,
		.id = 1,
		.rule = "r",
		.severity = "normal",
		.source = "s",
		.item = &item,
		.json = json,
		.idempotency_key = "k",
		.attempt = 1,
	};
	struct vigil_delivery *d = mock_host_delivery(f->mh);
	assert_int_equal(plugin->methods->deliver(f->state, &alert, d), 0);
	mock_host_run(f->mh);
	const struct mock_done *r = mock_host_done_result(f->mh, d);
	assert_non_null(r);
	assert_true(r->done);
	return r;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_descriptor(void **ts)
{
	(void)ts;
	assert_string_equal(plugin->name, "log");
	assert_int_equal(plugin->kind, VIGIL_PLUGIN_SINK);
	assert_non_null(plugin->methods->create);
	assert_non_null(plugin->methods->destroy);
	assert_non_null(plugin->methods->deliver);
	assert_int_equal(plugin->n_options, 2);
	assert_string_equal(plugin->options[0].key, "path");
	assert_int_equal(plugin->options[0].type, VIGIL_OPT_PATH);
	assert_false(plugin->options[0].required);
	assert_string_equal(plugin->options[1].key, "fsync");
	assert_int_equal(plugin->options[1].type, VIGIL_OPT_BOOL);
	assert_string_equal(plugin->options[1].default_value, "false");
}

static void test_writes_json_and_newline(void **ts)
{
	struct fixture *f = *ts;
	mode_t old = umask(022);
	make(f, f->path, NULL);
	umask(old);
	const char *json = "{\"rule\":\"r2\",\"title\":\"DeepSeek R2 \xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\"}";
	const struct mock_done *r = deliver(f, json);
	assert_int_equal(r->result, VIGIL_DELIVERY_OK);
	assert_null(r->message);

	char want[256];
	snprintf(want, sizeof want, "%s\n", json);
	assert_string_equal(slurp(f->path), want);

	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

static void test_appends(void **ts)
{
	struct fixture *f = *ts;
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("{\"old\":true}\n", fp);
	fclose(fp);

	make(f, f->path, "true");
	assert_int_equal(deliver(f, "{\"n\":1}")->result, VIGIL_DELIVERY_OK);
	assert_int_equal(deliver(f, "{\"n\":2}")->result, VIGIL_DELIVERY_OK);
	assert_string_equal(slurp(f->path), "{\"old\":true}\n{\"n\":1}\n{\"n\":2}\n");

	/* A second instance on the same file appends too, never overwrites. */
	struct mock_host *mh2 = mock_host_new("out2", NULL);
	mock_host_set_option(mh2, "path", f->path);
	void *state2;
	assert_int_equal(mock_host_create(mh2, plugin, &state2), 0);
	struct vigil_alert alert = { .size = sizeof alert, .json = "{\"n\":3}" };
	struct vigil_delivery *d = mock_host_delivery(mh2);
	assert_int_equal(plugin->methods->deliver(state2, &alert, d), 0);
	assert_int_equal(mock_host_done_result(mh2, d)->result, VIGIL_DELIVERY_OK);
	plugin->methods->destroy(state2);
	assert_int_equal(mock_host_violations(mh2), 0);
	mock_host_free(mh2);

	assert_int_equal(deliver(f, "{\"n\":4}")->result, VIGIL_DELIVERY_OK);
	assert_string_equal(slurp(f->path),
	                    "{\"old\":true}\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
}

static void test_stdout_without_path(void **ts)
{
	struct fixture *f = *ts;
	/* Point fd 1 at a file for the duration of the delivery. */
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	close(fd);

	make(f, NULL, NULL);
	const struct mock_done *r = deliver(f, "{\"to\":\"stdout\"}");
	plugin->methods->destroy(f->state);
	f->state = NULL;

	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	/* destroy() must not have closed the real standard output. */
	assert_true(fcntl(STDOUT_FILENO, F_GETFD) >= 0);

	assert_int_equal(r->result, VIGIL_DELIVERY_OK);
	assert_string_equal(slurp(f->path), "{\"to\":\"stdout\"}\n");
}

static void test_short_write_keeps_next_line_whole(void **ts)
{
	struct fixture *f = *ts;
	/* A full non-blocking pipe on stdout takes part of a long line, then EAGAIN. */
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(p[1], STDOUT_FILENO) >= 0);

	static char big[20000];
	memset(big, 'x', sizeof big - 1);
	memcpy(big, "{\"pad\":\"", 8);
	memcpy(big + sizeof big - 3, "\"}", 2);
	make(f, NULL, NULL);
	const struct mock_done *r1 = deliver(f, big);
	static char got[32768];
	ssize_t n1 = read(p[0], got, sizeof got);
	const struct mock_done *r2 = deliver(f, "{\"n\":2}");
	ssize_t n2 = read(p[0], got, sizeof got);

	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	close(p[0]);
	close(p[1]);

	assert_int_equal(r1->result, VIGIL_DELIVERY_RETRY);
	assert_true(n1 > 0 && (size_t)n1 < strlen(big));
	/* The fragment gets its own line end; the next alert is a whole line. */
	assert_int_equal(r2->result, VIGIL_DELIVERY_OK);
	assert_int_equal(n2, 9);
	assert_memory_equal(got, "\n{\"n\":2}\n", 9);
}

static void test_full_disk_retries(void **ts)
{
	struct fixture *f = *ts;
	/* Writes to /dev/full fail with ENOSPC, as on a full disk (and as root). */
	make(f, "/dev/full", NULL);
	const struct mock_done *r = deliver(f, "{\"n\":1}");
	assert_int_equal(r->result, VIGIL_DELIVERY_RETRY);
	assert_non_null(r->message);
	assert_non_null(strstr(r->message, strerror(ENOSPC)));
	assert_non_null(strstr(r->message, "/dev/full"));

	/* Each attempt is reported; nothing is swallowed. */
	r = deliver(f, "{\"n\":1}");
	assert_int_equal(r->result, VIGIL_DELIVERY_RETRY);
}

static void test_reopens_after_rotation(void **ts)
{
	struct fixture *f = *ts;
	make(f, f->path, NULL);
	assert_int_equal(deliver(f, "{\"n\":1}")->result, VIGIL_DELIVERY_OK);

	char rotated[160];
	snprintf(rotated, sizeof rotated, "%s.1", f->path);
	assert_int_equal(rename(f->path, rotated), 0);

	assert_int_equal(deliver(f, "{\"n\":2}")->result, VIGIL_DELIVERY_OK);
	assert_string_equal(slurp(rotated), "{\"n\":1}\n");
	assert_string_equal(slurp(f->path), "{\"n\":2}\n");
	assert_non_null(mock_host_find_log(f->mh, VIGIL_LOG_INFO, "reopened"));

	/* Rotated by copy: a different file appeared under the same name. */
	assert_int_equal(unlink(f->path), 0);
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(deliver(f, "{\"n\":3}")->result, VIGIL_DELIVERY_OK);
	assert_string_equal(slurp(f->path), "{\"n\":3}\n");
}

static void test_create_fails_with_reason(void **ts)
{
	struct fixture *f = *ts;
	char path[200];
	snprintf(path, sizeof path, "%s/no/such/dir/alerts.jsonl", f->dir);
	f->mh = mock_host_new("out", NULL);
	mock_host_set_option(f->mh, "path", path);
	assert_int_equal(mock_host_create(f->mh, plugin, &f->state), -ENOENT);
	f->state = NULL;
	const struct mock_log *l = mock_host_find_log(f->mh, VIGIL_LOG_ERROR, path);
	assert_non_null(l);
	assert_non_null(strstr(l->text, strerror(ENOENT)));
}

static void test_alert_without_json_is_permanent(void **ts)
{
	struct fixture *f = *ts;
	make(f, f->path, NULL);
	const struct mock_done *r = deliver(f, NULL);
	assert_int_equal(r->result, VIGIL_DELIVERY_PERMANENT);
	assert_string_equal(slurp(f->path), "");
}

static int group_setup(void **ts)
{
	(void)ts;
	plugin = mock_load_plugin("log", plugin_dir_arg);
	return plugin ? 0 : -1;
}

int main(int argc, char **argv)
{
	plugin_dir_arg = argc > 1 ? argv[1] : NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test_setup_teardown(test_writes_json_and_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdout_without_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_write_keeps_next_line_whole, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopens_after_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_fails_with_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alert_without_json_is_permanent, setup,
		                                teardown),
	};
	return cmocka_run_group_tests_name("plugin-log", tests, group_setup, NULL);
}
