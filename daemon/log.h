/* log.h - leveled logging to stderr, with journald priority prefixes under systemd */
#ifndef VIGIL_DAEMON_LOG_H
#define VIGIL_DAEMON_LOG_H

#include <stdarg.h>
#include <vigil/host.h>

/* Read JOURNAL_STREAM once; set the threshold (a VIGIL_LOG_* level). */
void log_init(enum vigil_log_level threshold);
void log_set_level(enum vigil_log_level threshold);
enum vigil_log_level log_get_level(void);
/* Parse "error", "warning"/"warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *text);

/* One line; `prefix` (an instance name) may be NULL. Thread-safe. */
void log_msg(enum vigil_log_level level, const char *prefix, const char *fmt, ...) VIGIL_PRINTF(3, 4);
void log_vmsg(enum vigil_log_level level, const char *prefix, const char *fmt, va_list ap) VIGIL_PRINTF(3, 0);

#define log_error(...) log_msg(VIGIL_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(VIGIL_LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_msg(VIGIL_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(VIGIL_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
