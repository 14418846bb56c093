/* url.h - helpers for source plugins: `url`, or `path` as the file:// URL the host will fetch */
#ifndef VIGIL_URL_H
#define VIGIL_URL_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <vigil/host.h>

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

/*
 * The URL a source with `url` and `path` options fetches: `url`, or `path`
 * as a file:// URL. Exactly one must be set; otherwise the reason is logged
 * (`what` names the document: "the feed", "the JSON Lines document").
 * 0 and *out (malloc'd), -EINVAL or -ENOMEM.
 */
static inline int vigil_source_url(const struct vigil_host *host, const char *what, char **out)
{
	const char *url = host->get_string(host->inst, "url");
	const char *path = host->get_string(host->inst, "path");
	bool has_url = url && *url, has_path = path && *path;
	if (has_url == has_path) {
		if (has_url)
			host->log(host->inst, VIGIL_LOG_ERROR, "set either url or path, not both");
		else
			host->log(host->inst, VIGIL_LOG_ERROR,
			          "no url: set url to %s (or path to a local file)", what);
		return -EINVAL;
	}
	*out = has_url ? strdup(url) : vigil_file_url(path);
	return *out ? 0 : -ENOMEM;
}

#endif
