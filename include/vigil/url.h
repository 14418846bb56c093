/* url.h - helpers for plugins: a source's `path` option as the file:// URL the host will fetch */
#ifndef VIGIL_URL_H
#define VIGIL_URL_H

#include <stdlib.h>
#include <string.h>

/*
 * `path` (absolute, as a PATH option gives it) as a file:// URL: bytes other
 * than unreserved ones and '/' are percent-encoded. The host decodes the URL
 * again to check it is the source's own `path`. malloc'd (free it), or NULL.
 * Inline so that plugins need no library beyond libc.
 */
static inline char *vigil_file_url(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(path);
	char *url = (char *)malloc(7 + 3 * len + 1);
	if (!url)
		return NULL;
	char *o = url + 7;
	memcpy(url, "file://", 7);
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return url;
}

#endif
