/* main.c - vigild's command line */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "daemon.h"
#include "log.h"
#include "plugin-loader.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vigild [OPTION]...\n"
		"Watch news feeds and other sources, match items against watch rules, deliver alerts.\n"
		"\n"
		"  -c, --config FILE   configuration file (default: $VIGIL_CONFIG,\n"
		"                      $XDG_CONFIG_HOME/vigil/vigil.yaml, /etc/vigil/vigil.yaml)\n"
		"      --check         validate the configuration and rules, then exit 0 or 1\n"
		"      --once          poll every source once, deliver, exit (1 if a source failed)\n"
		"      --list-alerts   list undelivered and failed alerts of the outbox\n"
		"      --failed        with --list-alerts: only failed ones (dead letters)\n"
		"      --plugin-help NAME  describe a plugin and its options\n"
		"  -v, --verbose       log at debug level\n"
		"  -q, --quiet         log errors and warnings only\n"
		"      --version       print the version\n"
		"  -h, --help          this help\n"
		"\n"
		"Signals: SIGHUP reloads configuration and rules; SIGTERM/SIGINT stop gracefully.\n"
		"Environment: VIGIL_PLUGIN_DIR (colon-separated plugin directories), VIGIL_LOG_LEVEL.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_ONCE, OPT_LIST, OPT_FAILED, OPT_VERSION, OPT_PLUGIN_HELP };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "list-alerts", no_argument, NULL, OPT_LIST },
		{ "failed", no_argument, NULL, OPT_FAILED },
		{ "plugin-help", required_argument, NULL, OPT_PLUGIN_HELP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *plugin_help = NULL;
	bool check = false, once = false, list = false, failed = false;
	int c;

	log_init(VIGIL_LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case OPT_CHECK: check = true; break;
		case OPT_ONCE: once = true; break;
		case OPT_LIST: list = true; break;
		case OPT_FAILED: failed = true; break;
		case OPT_PLUGIN_HELP: plugin_help = optarg; break;
		case 'v': setenv("VIGIL_LOG_LEVEL", "debug", 1); break;
		case 'q': setenv("VIGIL_LOG_LEVEL", "warning", 1); break;
		case OPT_VERSION:
			printf("vigild %s (plugin ABI %d.%d)\n", VIGIL_VERSION_STRING,
			       VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vigild: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	const char *level = getenv("VIGIL_LOG_LEVEL");
	if (level && log_level_parse(level) >= 0)
		log_set_level((enum vigil_log_level)log_level_parse(level));

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "vigild: cannot initialise libcurl\n");
		return 1;
	}
	int code;
	if (plugin_help)
		code = plugin_help_print(plugin_help, stdout);
	else if (check)
		code = daemon_check(config);
	else if (list)
		code = daemon_list_alerts(config, failed);
	else
		code = daemon_run(config, once);
	curl_global_cleanup();
	return code;
}
