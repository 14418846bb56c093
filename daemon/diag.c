/* diag.c - collected user-facing errors, each with file:line:column */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

void diag_add(struct diags *d, const char *file, int line, int column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, file, line, column, fmt, ap);
	va_end(ap);
}

void diag_vadd(struct diags *d, const char *file, int line, int column, const char *fmt,
               va_list ap)
{
	char *text = xvasprintf(fmt, ap);

	char *msg;
	if (line > 0 && column > 0)
		msg = xasprintf("%s:%d:%d: error: %s", file ? file : "?", line, column, text ? text : "?");
	else if (line > 0)
		msg = xasprintf("%s:%d: error: %s", file ? file : "?", line, text ? text : "?");
	else if (file)
		msg = xasprintf("%s: error: %s", file, text ? text : "?");
	else
		msg = xasprintf("error: %s", text ? text : "?");
	free(text);
	d->msgs = xrealloc(d->msgs, (d->n + 1) * sizeof *d->msgs);
	d->msgs[d->n++] = msg;
}

void diags_print(const struct diags *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(out, "%s\n", d->msgs[i]);
}

void diags_log(const struct diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		log_msg(VIGIL_LOG_ERROR, NULL, "%s", d->msgs[i]);
}

void diags_clear(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}
