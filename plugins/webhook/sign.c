/* sign.c - Standard Webhooks signatures: HMAC-SHA256 over "{id}.{timestamp}.{body}", base64 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webhook-private.h"

#define SECRET_PREFIX "whsec_"

/* Standard base64 of `text` (padding optional). 0, -EINVAL or -ENOMEM. */
static int base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len)
{
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		bool pad_ok = c == '=' && i + 2 >= len;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || pad_ok))
			return -EINVAL;
	}
	if (len >= 2 && text[len - 2] == '=' && text[len - 1] != '=')
		return -EINVAL;
	/* EVP_DecodeBlock wants whole quartets: add the padding a sender left out. */
	size_t padded = (len + 3) / 4 * 4;
	if (padded - len == 3)
		return -EINVAL;          /* one stray character cannot encode a byte */
	char *in = malloc(padded + 1);
	unsigned char *buf = malloc(padded / 4 * 3 + 1);
	if (!in || !buf) {
		free(in);
		free(buf);
		return -ENOMEM;
	}
	memcpy(in, text, len);
	memset(in + len, '=', padded - len);
	in[padded] = '\0';
	int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)padded);
	size_t pads = 0;
	for (size_t i = padded; i > 0 && in[i - 1] == '=' && pads < 2; i--)
		pads++;
	free(in);
	if (n < 0 || (size_t)n < pads) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*out_len = (size_t)n - pads;
	return 0;
}

int wh_sign_key(const char *secret, size_t secret_len, unsigned char **key, size_t *key_len)
{
	size_t plen = strlen(SECRET_PREFIX);
	if (secret_len > plen && !strncmp(secret, SECRET_PREFIX, plen)) {
		int err = base64_decode(secret + plen, secret_len - plen, key, key_len);
		if (err == 0 && *key_len == 0) {
			free(*key);
			return -EINVAL;
		}
		return err;
	}
	if (secret_len == 0 || (secret_len == plen && !strncmp(secret, SECRET_PREFIX, plen)))
		return -EINVAL;
	*key = malloc(secret_len);
	if (!*key)
		return -ENOMEM;
	memcpy(*key, secret, secret_len);
	*key_len = secret_len;
	return 0;
}

char *wh_signature(const unsigned char *key, size_t key_len, const char *id, int64_t timestamp,
                   const char *body, size_t body_len)
{
	char head[160];
	int hlen = snprintf(head, sizeof head, "%s.%" PRId64 ".", id, timestamp);
	if (hlen < 0 || (size_t)hlen >= sizeof head)
		return NULL;
	unsigned char *msg = malloc((size_t)hlen + body_len + 1);
	if (!msg)
		return NULL;
	memcpy(msg, head, (size_t)hlen);
	if (body_len)
		memcpy(msg + hlen, body, body_len);

	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	const unsigned char *ok = HMAC(EVP_sha256(), key, (int)key_len, msg, (size_t)hlen + body_len,
	                               mac, &mac_len);
	free(msg);
	if (!ok)
		return NULL;

	/* "v1," + base64 of 32 bytes (44 characters) + NUL. */
	char *out = malloc(3 + 4 * ((mac_len + 2) / 3) + 1);
	if (!out)
		return NULL;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	return out;
}
