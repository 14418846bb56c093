/* util.h - small helpers shared by daemon modules: durations, time, hashing, names */
#ifndef VIGIL_DAEMON_UTIL_H
#define VIGIL_DAEMON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parse a duration: one or more <number><unit> with unit ms, s, m, h, d, w
 * ("90s", "10m", "1h30m", "1.5h"); a bare integer is seconds.
 * Returns 0 and *ms, or -EINVAL.
 */
int duration_parse(const char *text, int64_t *ms);
/* Format ms as the shortest readable duration ("1h30m"). buf >= 32 bytes. */
const char *duration_format(int64_t ms, char *buf, size_t len);

/* Wall clock, Unix seconds / milliseconds. */
int64_t now_s(void);
int64_t now_ms(void);

/* 64-bit FNV-1a over bytes, chained through `seed` (start with FNV64_SEED). */
#define FNV64_SEED UINT64_C(0xcbf29ce484222325)
uint64_t fnv64(uint64_t seed, const void *data, size_t len);

/* Levenshtein distance, for "did you mean"; capped at 255. */
unsigned edit_distance(const char *a, const char *b);
/* Closest candidate within a sensible distance, or NULL. */
const char *closest_match(const char *word, const char *const *candidates, size_t n);

/* Random integer in [0, n), from a per-process seeded generator. */
uint64_t random_below(uint64_t n);

/* Join dir and path (path unchanged if absolute). Caller frees. */
char *path_join(const char *dir, const char *path);
/* Directory part of path (caller frees); "." when none. */
char *path_dirname(const char *path);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);   /* NULL stays NULL */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
