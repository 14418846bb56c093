/* cli.h - vigilctl: its commands and what they share (where the rules are, exit codes) */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "diag.h"
#include "rules.h"

/* Exit codes of every command: 0 success; 1 the rules are invalid, an
 * expectation failed, nothing installed; 2 usage or an unreadable input. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* -c CONFIG given before the command ("vigilctl -c FILE test ..."), or NULL. */
extern const char *cli_global_config;

/*
 * Where a command's rules come from. With --rules PATH, that path (and a
 * configuration only when -c names one: its sink and source names are then
 * checked); otherwise the configuration's rules_path (-c, or config_find's
 * search order), whose names are checked.
 */
struct cli_rules {
	char *config_path;           /* NULL: no configuration used */
	struct config *config;       /* loaded when config_path is set */
	char *path;                  /* rules file or directory; NULL: the configuration names none */
	struct rules_context ctx;    /* the name lists are owned, the names borrowed from config */
};

/* Fill r (zeroed by the caller). 0, or -1 with the problems in d. */
int cli_rules_resolve(const char *config_opt, const char *rules_opt, struct cli_rules *r,
                      struct diags *d);
/* The context for ruleset_load/matcher_load: NULL when no configuration is used. */
const struct rules_context *cli_rules_ctx(const struct cli_rules *r);
void cli_rules_free(struct cli_rules *r);

/* Print d to stderr followed by "WHAT: N error(s)". */
void cli_print_diags(const struct diags *d, const char *what);

/* Is `name` a rules file name (*.yaml or *.yml)? */
bool cli_is_rules_file_name(const char *name);

/* Read a whole file (NUL-terminated; *len without the NUL). NULL with errno set. */
char *cli_read_file(const char *path, size_t *len);

/* The commands: argv[0] is the command's name; they return the exit code. */
int cmd_test(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_parse(int argc, char **argv);
void cmd_test_usage(FILE *out);
void cmd_check_usage(FILE *out);
void cmd_edit_usage(FILE *out);
void cmd_parse_usage(FILE *out);

#endif
