/* result.c - what a receiver's HTTP answer means for the delivery: ok, retry or permanent */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook-private.h"

/* A longer Retry-After is taken as this: past it, max_age decides anyway. */
#define MAX_RETRY_AFTER_S (7 * 24 * 3600)
/* How much of a receiver's answer goes into the message. */
#define SNIPPET_BYTES 120

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

/*
 * The start of the answer's body on one line, for the message: receivers
 * say why they refused ("invalid_token", {"message": "Unknown Webhook"}).
 * Secrets are redacted from the whole body first (an echo of the URL must
 * not show even in part); control characters become spaces; the cut keeps
 * whole characters.
 */
static void snippet(const struct vigil_http_response *r, const char *const *secrets,
                    size_t n_secrets, char *out, size_t len)
{
	out[0] = '\0';
	if (!r->body || !r->body_len)
		return;
	size_t size = r->body_len + 1;
	/* Room for every secret to grow into "[redacted]". */
	size += size / 4 * 10 + 16;
	char *text = malloc(size);
	if (!text)
		return;
	for (size_t i = 0; i < r->body_len; i++) {
		unsigned char c = (unsigned char)r->body[i];
		text[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	text[r->body_len] = '\0';
	wh_redact(text, size, secrets, n_secrets);
	size_t total = strlen(text);
	size_t n = total < SNIPPET_BYTES ? total : SNIPPET_BYTES;
	while (n < total && n && ((unsigned char)text[n] & 0xC0) == 0x80)
		n--;
	bool cut = n < total;
	while (n && text[n - 1] == ' ')
		n--;
	text[n] = '\0';
	size_t start = 0;
	while (text[start] == ' ')
		start++;
	if (text[start]) {
		char *fixed = wh_utf8_repair(text + start, NULL);
		snprintf(out, len, ": %s%s", fixed ? fixed : "", cut ? "\xE2\x80\xA6" : "");
		free(fixed);
	}
	free(text);
}

static enum vigil_delivery_result classify(const struct vigil_http_response *r,
                                           const char *host_label,
                                           const char *const *secrets, size_t n_secrets,
                                           uint32_t *retry_after_s, char *message,
                                           size_t message_len)
{
	if (r->error) {
		const char *what = r->error_text ? r->error_text : "transfer failed";
		switch (r->error) {
		case VIGIL_HTTP_E_TIMEOUT:
			snprintf(message, message_len, "no answer from %s: %s", host_label, what);
			return VIGIL_DELIVERY_RETRY;
		case VIGIL_HTTP_E_CONNECT:
			snprintf(message, message_len, "cannot reach %s: %s", host_label, what);
			return VIGIL_DELIVERY_RETRY;
		case VIGIL_HTTP_E_REDIRECT:
		case VIGIL_HTTP_E_REFUSED:
			/* The configuration has to change; retrying cannot help. */
			snprintf(message, message_len, "request to %s refused: %s", host_label, what);
			return VIGIL_DELIVERY_PERMANENT;
		default:
			/* Resets, TLS trouble, an answer too big to read: maybe next time. */
			snprintf(message, message_len, "request to %s failed: %s", host_label, what);
			return VIGIL_DELIVERY_RETRY;
		}
	}

	int status = r->status;
	const char *phrase = reason_phrase(status);
	char body[SNIPPET_BYTES + 32];
	snippet(r, secrets, n_secrets, body, sizeof body);

	if (status >= 200 && status < 300)
		return VIGIL_DELIVERY_OK;
	if (status >= 300 && status < 400) {
		snprintf(message, message_len, "HTTP %d%s%s from %s after following redirects "
		         "(a webhook URL should answer 2xx itself)%s", status, *phrase ? " " : "",
		         phrase, host_label, body);
		return VIGIL_DELIVERY_PERMANENT;
	}
	bool retry = status == 408 || status == 429 || (status >= 500 && status < 600);
	if (retry && r->retry_after >= 0)
		*retry_after_s = r->retry_after > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S
		                                                    : (uint32_t)r->retry_after;
	snprintf(message, message_len, "HTTP %d%s%s from %s%s", status, *phrase ? " " : "", phrase,
	         host_label, body);
	return retry ? VIGIL_DELIVERY_RETRY : VIGIL_DELIVERY_PERMANENT;
}

enum vigil_delivery_result wh_classify(const struct vigil_http_response *r,
                                       const char *host_label,
                                       const char *const *secrets, size_t n_secrets,
                                       uint32_t *retry_after_s, char *message,
                                       size_t message_len)
{
	*retry_after_s = 0;
	message[0] = '\0';
	enum vigil_delivery_result result = classify(r, host_label, secrets, n_secrets,
	                                             retry_after_s, message, message_len);
	/* The engine's words may name the URL too (curl quotes hosts, some servers
	 * echo requests). */
	wh_redact(message, message_len, secrets, n_secrets);
	return result;
}
