/* util.c - small helpers shared by daemon modules: durations, time, hashing, names */
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int duration_parse(const char *text, int64_t *ms)
{
	if (!text)
		return -EINVAL;
	const char *p = text, *end;
	while (*p == ' ')
		p++;
	end = p + strlen(p);
	while (end > p && end[-1] == ' ')
		end--;
	if (p == end)
		return -EINVAL;

	/* A bare integer is seconds. */
	const char *q = p;
	while (q < end && is_digit(*q))
		q++;
	if (q == end) {
		int64_t whole = 0;
		for (q = p; q < end; q++) {
			if (whole > (INT64_MAX / 1000 - (*q - '0')) / 10)
				return -EINVAL;
			whole = whole * 10 + (*q - '0');
		}
		*ms = whole * 1000;
		return 0;
	}

	/*
	 * <digits>[.<digits>]<unit>, repeated. Scanned by hand: strtod would
	 * also take signs, exponents, hex and "inf", and follows the locale's
	 * decimal point.
	 */
	double total = 0;
	while (p < end) {
		if (!is_digit(*p))
			return -EINVAL;
		double v = 0, scale = 1;
		for (; p < end && is_digit(*p); p++)
			v = v * 10 + (*p - '0');
		if (p < end && *p == '.') {
			const char *frac = ++p;
			for (; p < end && is_digit(*p); p++) {
				v = v * 10 + (*p - '0');
				scale *= 10;
			}
			if (p == frac)
				return -EINVAL;
		}
		double unit;
		if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
			unit = 1;
			p += 2;
		} else if (p < end && *p == 's') {
			unit = 1000;
			p++;
		} else if (p < end && *p == 'm') {
			unit = 60e3;
			p++;
		} else if (p < end && *p == 'h') {
			unit = 3600e3;
			p++;
		} else if (p < end && *p == 'd') {
			unit = 86400e3;
			p++;
		} else if (p < end && *p == 'w') {
			unit = 7 * 86400e3;
			p++;
		} else {
			return -EINVAL;
		}
		total += v / scale * unit;
	}
	if (!(total <= 9e15))
		return -EINVAL;
	*ms = (int64_t)llround(total);
	return 0;
}

const char *duration_format(int64_t ms, char *buf, size_t len)
{
	static const struct { const char *name; int64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
	};
	size_t used = 0;
	if (ms <= 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0] && ms > 0; i++) {
		if (ms >= units[i].ms) {
			int w = snprintf(buf + used, len - used, "%lld%s",
			                 (long long)(ms / units[i].ms), units[i].name);
			if (w < 0 || (size_t)w >= len - used)
				break;
			used += (size_t)w;
			ms %= units[i].ms;
		}
	}
	return buf;
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

uint64_t fnv64(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = seed;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 255;
	unsigned row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > 255 ? 255 : row[lb];
}

const char *closest_match(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	unsigned best_d = 255;
	size_t wl = strlen(word);
	/* Allow about one edit per three characters, at least one, at most three. */
	unsigned limit = (unsigned)(wl / 3);
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	for (size_t i = 0; i < n; i++) {
		if (!candidates[i])
			continue;
		unsigned d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

/* splitmix64: fine for jitter, seeded from the kernel once per process. */
uint64_t random_below(uint64_t n)
{
	static uint64_t s;
	static int seeded;
	if (!seeded) {
		if (getrandom(&s, sizeof s, 0) != sizeof s)
			s = (uint64_t)now_ms() ^ (uint64_t)getpid();
		seeded = 1;
	}
	if (n == 0)
		return 0;
	uint64_t z = (s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return z % n;
}

char *path_join(const char *dir, const char *path)
{
	if (!path)
		return NULL;
	if (path[0] == '/' || !dir || !*dir)
		return xstrdup(path);
	size_t dl = strlen(dir);
	return xasprintf("%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", path);
}

char *path_dirname(const char *path)
{
	size_t n = strlen(path);
	/* As dirname(3): trailing slashes end no component ("a/b/" is in "a"),
	 * and the slashes before the last component go too. */
	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	if (n == 0)
		return xstrdup(".");
	while (n > 1 && path[n - 1] == '/')
		n--;
	char *out = xmalloc(n + 1);
	memcpy(out, path, n);
	out[n] = '\0';
	return out;
}

static void out_of_memory(void)
{
	fputs("vigil: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		out_of_memory();
	return d;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = xvasprintf(fmt, ap);
	va_end(ap);
	return out;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *out;
	if (vasprintf(&out, fmt, ap) < 0)
		out_of_memory();
	return out;
}
