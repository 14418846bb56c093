/* diag.h - collected user-facing errors, each with file:line:column */
#ifndef VIGIL_DAEMON_DIAG_H
#define VIGIL_DAEMON_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <vigil/version.h>

/* A list of messages formatted "FILE:LINE:COLUMN: error: TEXT". */
struct diags {
	char **msgs;
	size_t n;
};

/* Add one error. line/column are 1-based; 0 leaves them out. */
void diag_add(struct diags *d, const char *file, int line, int column,
              const char *fmt, ...) VIGIL_PRINTF(5, 6);
void diag_vadd(struct diags *d, const char *file, int line, int column,
               const char *fmt, va_list ap) VIGIL_PRINTF(5, 0);
void diags_print(const struct diags *d, FILE *out);
/* Log every message at error level. */
void diags_log(const struct diags *d);
void diags_clear(struct diags *d);

#endif
