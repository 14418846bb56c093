/* cmd-check.c - vigilctl check: validate a rules file or directory, or the whole configuration */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "daemon.h"
#include "match.h"
#include "util.h"

void cmd_check_usage(FILE *out)
{
	fprintf(out,
		"Usage: vigilctl check [-c CONFIG] [PATH]\n"
		"Validate watch rules; every problem is printed as FILE:LINE:COLUMN.\n"
		"\n"
		"With PATH (a rules file, or a directory of *.yaml merged in name order): those\n"
		"rules alone; sink and source names are checked only when -c names a configuration.\n"
		"Without PATH: the configuration and its rules, exactly what `vigild --check` checks\n"
		"(plugins and their options included).\n"
		"\n"
		"  -c, --config FILE   configuration file\n"
		"  -q, --quiet         print nothing when valid\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit status: 0 valid, 1 invalid, 2 wrong usage.\n");
}

/* PATH given: load it as the daemon would (syntax, names, aliases, regexes). */
static int check_rules_path(const char *config_opt, const char *path, bool quiet)
{
	struct diags d = { 0 };
	struct cli_rules r = { 0 };
	int code = CLI_EXIT_FAIL;

	/* A configuration only when one is named: its sink and source names. */
	if (!config_opt && !cli_global_config) {
		r.path = xstrdup(path);
	} else if (cli_rules_resolve(config_opt, path, &r, &d) < 0) {
		cli_print_diags(&d, r.config_path ? r.config_path : "vigilctl");
		goto out;
	}
	/* matcher_load = ruleset_load + compiling the terms and regexes: an
	 * invalid regex is found here, not at the first item. */
	struct matcher *m = matcher_load(r.path, cli_rules_ctx(&r), &d);
	if (!m || d.n) {
		cli_print_diags(&d, path);
	} else {
		size_t n = matcher_rule_count(m);
		if (!quiet)
			printf("%s: OK (%zu rule%s)\n", path, n, n == 1 ? "" : "s");
		code = CLI_EXIT_OK;
	}
	matcher_free(m);
out:
	diags_clear(&d);
	cli_rules_free(&r);
	return code;
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool quiet = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'q': quiet = true; break;
		case 'h': cmd_check_usage(stdout); return CLI_EXIT_OK;
		default: cmd_check_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "vigilctl check: one PATH at most ('%s' is extra)\n", argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	if (optind < argc)
		return check_rules_path(config, argv[optind], quiet);

	/* The very code of `vigild --check`: it prints "FILE: OK (...)" or the errors. */
	if (quiet && !freopen("/dev/null", "w", stdout))
		return CLI_EXIT_FAIL;
	return daemon_check(config ? config : cli_global_config) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
