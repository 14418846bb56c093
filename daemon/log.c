/* log.c - leveled logging to stderr, with journald priority prefixes under systemd */
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum vigil_log_level threshold = VIGIL_LOG_INFO;
static bool journal;             /* stderr is the journal: "<N>" prefixes, no time */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(enum vigil_log_level level)
{
	threshold = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum vigil_log_level level)
{
	threshold = level;
}

enum vigil_log_level log_get_level(void)
{
	return threshold;
}

int log_level_parse(const char *text)
{
	if (!text)
		return -1;
	if (!strcmp(text, "error"))
		return VIGIL_LOG_ERROR;
	if (!strcmp(text, "warning") || !strcmp(text, "warn"))
		return VIGIL_LOG_WARNING;
	if (!strcmp(text, "info"))
		return VIGIL_LOG_INFO;
	if (!strcmp(text, "debug"))
		return VIGIL_LOG_DEBUG;
	return -1;
}

static const char *level_name(enum vigil_log_level level)
{
	switch (level) {
	case VIGIL_LOG_ERROR: return "error";
	case VIGIL_LOG_WARNING: return "warning";
	case VIGIL_LOG_INFO: return "info";
	default: return "debug";
	}
}

void log_vmsg(enum vigil_log_level level, const char *prefix, const char *fmt, va_list ap)
{
	if (level > threshold)
		return;
	char text[4096];
	vsnprintf(text, sizeof text, fmt, ap);
	/* One line per message: newlines inside become spaces. */
	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	pthread_mutex_lock(&lock);
	if (journal) {
		fprintf(stderr, "<%d>%s%s%s\n", (int)level, prefix ? prefix : "",
		        prefix ? ": " : "", text);
	} else {
		char stamp[32];
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld vigild %s: %s%s%s\n", stamp, ts.tv_nsec / 1000000,
		        level_name(level), prefix ? prefix : "", prefix ? ": " : "", text);
	}
	fflush(stderr);
	pthread_mutex_unlock(&lock);
}

void log_msg(enum vigil_log_level level, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, prefix, fmt, ap);
	va_end(ap);
}
