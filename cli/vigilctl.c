/* vigilctl.c - vigilctl's command line: dispatch to the commands, help, version, shared helpers */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vigil/version.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "util.h"

const char *cli_global_config;

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *out);
	const char *summary;
};

static const struct command commands[] = {
	{ "test", cmd_test, cmd_test_usage, "which rules fire on which items, and why; rules-as-code tests" },
	{ "check", cmd_check, cmd_check_usage, "validate rules (or the whole configuration, as vigild --check)" },
	{ "edit", cmd_edit, cmd_edit_usage, "edit the rules in $EDITOR, validate, install, reload the daemon" },
	{ "parse", cmd_parse, cmd_parse_usage, "the items the rss plugin makes of a feed file or URL" },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vigilctl [-c CONFIG] COMMAND [ARG]...\n"
		"The vigil watch-rule tool: test rules against items, check them, edit them safely.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"  help [COMMAND]  this help, or a command's\n"
		"\n"
		"  -c, --config FILE   configuration file (default: $VIGIL_CONFIG,\n"
		"                      $XDG_CONFIG_HOME/vigil/vigil.yaml, /etc/vigil/vigil.yaml)\n"
		"      --version       print the version\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit status: 0 success; 1 invalid rules, failed expectations, nothing installed;\n"
		"2 wrong usage or an unreadable input. See vigilctl(1).\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	const char *names[N_COMMANDS + 1];
	for (size_t i = 0; i < N_COMMANDS; i++)
		names[i] = commands[i].name;
	names[N_COMMANDS] = "help";
	const char *near = closest_match(name, names, N_COMMANDS + 1);
	fprintf(stderr, "vigilctl: unknown command '%s'", name);
	if (near)
		fprintf(stderr, " (did you mean '%s'?)", near);
	fprintf(stderr, "\nTry 'vigilctl --help'.\n");
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	enum { OPT_VERSION = 256 };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	log_init(VIGIL_LOG_WARNING);
	const char *level = getenv("VIGIL_LOG_LEVEL");
	if (level && log_level_parse(level) >= 0)
		log_set_level((enum vigil_log_level)log_level_parse(level));

	/* '+': stop at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': cli_global_config = optarg; break;
		case OPT_VERSION:
			printf("vigilctl %s (plugin ABI %d.%d)\n", VIGIL_VERSION_STRING,
			       VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
			return CLI_EXIT_OK;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default: usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (!strcmp(name, "help")) {
		if (optind + 1 >= argc) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		const struct command *cmd = find_command(argv[optind + 1]);
		if (!cmd)
			return unknown_command(argv[optind + 1]);
		cmd->usage(stdout);
		return CLI_EXIT_OK;
	}
	const struct command *cmd = find_command(name);
	if (!cmd)
		return unknown_command(name);
	/* The command parses its own options from its name on. */
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0;                  /* reset getopt (0: also re-reads GNU extensions) */
	return cmd->run(sub_argc, sub_argv);
}

/* --- shared helpers ----------------------------------------------------- */

int cli_rules_resolve(const char *config_opt, const char *rules_opt, struct cli_rules *r,
                      struct diags *d)
{
	if (!config_opt)
		config_opt = cli_global_config;
	/* --rules alone: the rules without a configuration (no name checks). */
	if (rules_opt && !config_opt) {
		r->path = xstrdup(rules_opt);
		return 0;
	}
	r->config_path = config_find(config_opt, d);
	if (!r->config_path)
		return -1;
	r->config = config_load(r->config_path, d);
	if (!r->config)
		return -1;
	r->path = xstrdup(rules_opt ? rules_opt : r->config->rules_path);

	const struct config *cf = r->config;
	const char **sinks = xcalloc(cf->n_sinks ? cf->n_sinks : 1, sizeof *sinks);
	const char **sources = xcalloc(cf->n_sources ? cf->n_sources : 1, sizeof *sources);
	for (size_t i = 0; i < cf->n_sinks; i++)
		sinks[i] = cf->sinks[i].name;
	for (size_t i = 0; i < cf->n_sources; i++)
		sources[i] = cf->sources[i].name;
	r->ctx.sinks = sinks;
	r->ctx.n_sinks = cf->n_sinks;
	r->ctx.sources = sources;
	r->ctx.n_sources = cf->n_sources;
	return 0;
}

const struct rules_context *cli_rules_ctx(const struct cli_rules *r)
{
	return r->config ? &r->ctx : NULL;
}

void cli_rules_free(struct cli_rules *r)
{
	free((void *)r->ctx.sinks);
	free((void *)r->ctx.sources);
	config_free(r->config);
	free(r->config_path);
	free(r->path);
	memset(r, 0, sizeof *r);
}

void cli_print_diags(const struct diags *d, const char *what)
{
	diags_print(d, stderr);
	fprintf(stderr, "%s: %zu error%s\n", what, d->n, d->n == 1 ? "" : "s");
}

bool cli_is_rules_file_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

char *cli_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (cap - n < 2) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int err = errno ? errno : EIO;
		fclose(f);
		free(buf);
		errno = err;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}
