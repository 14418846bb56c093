/* feed-encoding.c - a feed's bytes to valid UTF-8: BOM, HTTP charset, XML declaration, sniffing */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "feed-private.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD";   /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. Strict:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;
		if (c == 0xED && s[1] >= 0xA0)
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

/* Windows-1252's characters at 0x80-0x9F (0: none there). */
static const unsigned short cp1252_c1[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

unsigned feed_cp1252_c1(unsigned cp)
{
	if (cp >= 0x80 && cp <= 0x9F && cp1252_c1[cp - 0x80])
		return cp1252_c1[cp - 0x80];
	return cp;
}

/* ASCII is checked 32 bytes (SSE2) or 8 bytes at a time: most feeds are
 * mostly ASCII, and this runs over every byte of every document. */
size_t feed_utf8_clean_prefix(const char *text, size_t len, size_t *multi)
{
	const unsigned char *s = (const unsigned char *)text;
	const uint64_t high = 0x8080808080808080ull, space = 0x2020202020202020ull;
	size_t i = 0, m = 0;
	while (i < len) {
#ifdef __SSE2__
		/* 16 bytes none of which is >= 0x80 (the sign bit) or < 0x20 (a
		 * signed compare, exact once no sign bit is set) but for tab, line
		 * feed and carriage return */
		const __m128i sp = _mm_set1_epi8(0x20), tab = _mm_set1_epi8('\t'),
		              lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
		for (; i + 16 <= len; i += 16) {
			__m128i a = _mm_loadu_si128((const __m128i *)(s + i));
			__m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, tab),
			                                       _mm_cmpeq_epi8(a, lf)),
			                          _mm_cmpeq_epi8(a, cr));
			__m128i bad = _mm_or_si128(a, _mm_andnot_si128(ws, _mm_cmplt_epi8(a, sp)));
			if (_mm_movemask_epi8(bad))
				break;
		}
#endif
		/* 8 bytes none of which is >= 0x80 or < 0x20 (the "has less than"
		 * bit trick: only a byte below 0x20 borrows) */
		for (uint64_t w; i + 8 <= len; i += 8) {
			memcpy(&w, s + i, 8);
			if ((w & high) || ((w - space) & ~w & high))
				break;
		}
		for (size_t stop = i + 8; i < len && i < stop;) {
			unsigned char c = s[i];
			if (c < 0x80) {
				if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
					goto out;
				i++;
				continue;
			}
			size_t n = utf8_seq(s + i, len - i);
			if (n == 0 || (n == 3 && c == 0xEF && s[i + 1] == 0xBF && s[i + 2] >= 0xBE) ||
			    (n == 2 && c == 0xC2 && s[i + 1] < 0xA0 && feed_cp1252_c1(s[i + 1]) != s[i + 1]))
				goto out;
			m++;
			i += n;
		}
	}
out:
	*multi = m;
	return i;
}

int feed_utf8_repair(const char *s, size_t len, struct fbuf *out, bool *repaired)
{
	size_t multi;
	size_t clean = feed_utf8_clean_prefix(s, len, &multi);
	if (clean == len)
		return fbuf_add(out, s, len);   /* the common case: nothing to repair */
	const unsigned char *p = (const unsigned char *)s + clean;
	const unsigned char *end = (const unsigned char *)s + len;
	const unsigned char *run = (const unsigned char *)s;   /* start of bytes copied as they are */

	while (p < end) {
		size_t n = utf8_seq(p, (size_t)(end - p));
		bool drop = false, replace = false;
		if (n == 0)
			replace = true;
		else if (n == 1 && *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			drop = true;            /* not allowed in XML 1.0, useless in text */
		else if (n == 3 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
			replace = true;         /* U+FFFE, U+FFFF: not characters */
		if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0 && feed_cp1252_c1(p[1]) != p[1]) {
			/* A C1 control is Windows-1252 text decoded as Latin-1: what was
			 * meant (as browsers and feedparser read it); not a repair. */
			unsigned cp = feed_cp1252_c1(p[1]);
			char u[3] = { (char)(0xE0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3F)),
			              (char)(0x80 | (cp & 0x3F)) };
			if (cp < 0x800) {
				u[0] = (char)(0xC0 | (cp >> 6));
				u[1] = (char)(0x80 | (cp & 0x3F));
			}
			if ((p > run && fbuf_add(out, (const char *)run, (size_t)(p - run)) < 0) ||
			    fbuf_add(out, u, cp < 0x800 ? 2 : 3) < 0)
				return -ENOMEM;
			p += 2;
			run = p;
			continue;
		}
		if (!drop && !replace) {
			p += n;
			continue;
		}
		if (p > run && fbuf_add(out, (const char *)run, (size_t)(p - run)) < 0)
			return -ENOMEM;
		if (replace && fbuf_add(out, REPLACEMENT, 3) < 0)
			return -ENOMEM;
		if (repaired)
			*repaired = true;
		p += n ? n : 1;
		run = p;
	}
	if (p > run && fbuf_add(out, (const char *)run, (size_t)(p - run)) < 0)
		return -ENOMEM;
	/* An empty result is still a string. */
	return fbuf_add(out, "", 0);
}

/* Count valid multi-byte sequences and invalid bytes. */
static void utf8_census(const unsigned char *p, size_t len, size_t *multi, size_t *invalid)
{
	*multi = *invalid = 0;
	const unsigned char *end = p + len;
	while (p < end) {
		size_t n = utf8_seq(p, (size_t)(end - p));
		if (n == 0) {
			(*invalid)++;
			p++;
		} else {
			if (n > 1)
				(*multi)++;
			p += n;
		}
	}
}

/*
 * A charset label as the name iconv should use, following what browsers do
 * with the labels feeds carry (the WHATWG Encoding Standard's mapping).
 * Returns "UTF-8", "UTF-16" (endianness still to be found), another iconv
 * name, or the label itself when it is not one of the known aliases.
 */
static const char *canonical_charset(const char *label)
{
	static const struct {
		const char *label;
		const char *name;
	} aliases[] = {
		{ "utf-8", "UTF-8" }, { "utf8", "UTF-8" }, { "unicode-1-1-utf-8", "UTF-8" },
		{ "utf-16", "UTF-16" }, { "utf16", "UTF-16" }, { "unicode", "UTF-16" },
		{ "ucs-2", "UTF-16" }, { "iso-10646-ucs-2", "UTF-16" },
		{ "utf-16le", "UTF-16LE" }, { "utf-16be", "UTF-16BE" },
		{ "iso-8859-1", "WINDOWS-1252" }, { "iso8859-1", "WINDOWS-1252" },
		{ "iso_8859-1", "WINDOWS-1252" }, { "latin1", "WINDOWS-1252" },
		{ "latin-1", "WINDOWS-1252" }, { "l1", "WINDOWS-1252" }, { "cp819", "WINDOWS-1252" },
		{ "ibm819", "WINDOWS-1252" }, { "us-ascii", "WINDOWS-1252" },
		{ "ascii", "WINDOWS-1252" }, { "ansi_x3.4-1968", "WINDOWS-1252" },
		{ "windows-1252", "WINDOWS-1252" }, { "cp1252", "WINDOWS-1252" },
		{ "x-cp1252", "WINDOWS-1252" },
		{ "iso-8859-9", "WINDOWS-1254" }, { "latin5", "WINDOWS-1254" },
		{ "iso-8859-11", "WINDOWS-874" }, { "tis-620", "WINDOWS-874" },
		{ "gb2312", "GB18030" }, { "gbk", "GB18030" }, { "x-gbk", "GB18030" },
		{ "cp936", "GB18030" }, { "euc-cn", "GB18030" }, { "csgb2312", "GB18030" },
		{ "chinese", "GB18030" }, { "gb_2312-80", "GB18030" }, { "gb18030", "GB18030" },
		{ "windows-936", "GB18030" },
		{ "big5", "BIG5-HKSCS" }, { "big5-hkscs", "BIG5-HKSCS" }, { "x-x-big5", "BIG5-HKSCS" },
		{ "cn-big5", "BIG5-HKSCS" }, { "csbig5", "BIG5-HKSCS" },
		{ "shift_jis", "CP932" }, { "shift-jis", "CP932" }, { "sjis", "CP932" },
		{ "x-sjis", "CP932" }, { "ms_kanji", "CP932" }, { "windows-31j", "CP932" },
		{ "cp932", "CP932" }, { "csshiftjis", "CP932" }, { "ms932", "CP932" },
		{ "euc-jp", "EUC-JP" }, { "iso-2022-jp", "ISO-2022-JP" },
		{ "euc-kr", "CP949" }, { "ks_c_5601-1987", "CP949" }, { "cp949", "CP949" },
		{ "windows-949", "CP949" },
		{ "koi8-r", "KOI8-R" }, { "koi8-u", "KOI8-U" },
		{ "windows-1250", "WINDOWS-1250" }, { "windows-1251", "WINDOWS-1251" },
		{ "windows-1253", "WINDOWS-1253" }, { "windows-1254", "WINDOWS-1254" },
		{ "windows-1255", "WINDOWS-1255" }, { "windows-1256", "WINDOWS-1256" },
		{ "windows-1257", "WINDOWS-1257" }, { "windows-1258", "WINDOWS-1258" },
		{ "cp1251", "WINDOWS-1251" }, { "cp1256", "WINDOWS-1256" },
	};
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (!strcasecmp(label, aliases[i].label))
			return aliases[i].name;
	return label;
}

/* The charset parameter of a Content-Type, into buf; false when absent. */
static bool http_charset(const char *content_type, char *buf, size_t size)
{
	if (!content_type)
		return false;
	const char *p = content_type;
	while ((p = strchr(p, ';'))) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "charset", 7))
			continue;
		p += 7;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		char quote = (*p == '"' || *p == '\'') ? *p++ : 0;
		size_t n = 0;
		while (p[n] && n + 1 < size && (quote ? p[n] != quote :
		       (p[n] != ';' && p[n] != ' ' && p[n] != '\t')))
			n++;
		if (n == 0)
			return false;
		memcpy(buf, p, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

/* The encoding of an ASCII-compatible XML declaration at the start of s. */
static bool xml_decl_charset(const char *s, size_t len, char *buf, size_t size)
{
	if (len < 6 || memcmp(s, "<?xml", 5))
		return false;
	size_t end = 5;
	while (end + 1 < len && end < 512 && !(s[end] == '?' && s[end + 1] == '>'))
		end++;
	for (size_t i = 5; i + 8 < end; i++) {
		if (memcmp(s + i, "encoding", 8))
			continue;
		size_t j = i + 8;
		while (j < end && isspace((unsigned char)s[j]))
			j++;
		if (j >= end || s[j] != '=')
			return false;
		j++;
		while (j < end && isspace((unsigned char)s[j]))
			j++;
		if (j >= end || (s[j] != '"' && s[j] != '\''))
			return false;
		char quote = s[j++];
		size_t n = 0;
		while (j + n < end && s[j + n] != quote && n + 1 < size)
			n++;
		if (n == 0)
			return false;
		memcpy(buf, s + j, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

/*
 * Descriptors kept for the next document: iconv_open() looks the converter
 * up on every call, and glibc unloads a converter's module soon after its
 * last descriptor is closed, to load it again for the next document. Only
 * charsets with no byte order mark to find (UTF-16 and UTF-32 remember the
 * one they found), whose shift state, if any, iconv(cd, NULL, ...) resets.
 * One in use is taken out of the cache; at most CD_CACHE are kept, for the
 * process.
 */
#define CD_CACHE 8
static pthread_mutex_t cd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char from[16];
	iconv_t cd;
} cd_cache[CD_CACHE];

static bool cd_cacheable(const char *from)
{
	static const char *const names[] = {
		"GB18030", "BIG5-HKSCS", "CP932", "EUC-JP", "CP949",
	};
	if (strlen(from) >= sizeof cd_cache[0].from)
		return false;
	if (!strncasecmp(from, "WINDOWS-", 8) || !strncasecmp(from, "ISO-8859-", 9) ||
	    !strncasecmp(from, "KOI8-", 5))
		return true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(from, names[i]))
			return true;
	return false;
}

static iconv_t cd_open(const char *from)
{
	if (cd_cacheable(from)) {
		iconv_t cd = (iconv_t)-1;
		pthread_mutex_lock(&cd_lock);
		for (size_t i = 0; i < CD_CACHE; i++) {
			if (cd_cache[i].from[0] && !strcmp(cd_cache[i].from, from)) {
				cd = cd_cache[i].cd;
				cd_cache[i].from[0] = '\0';
				break;
			}
		}
		pthread_mutex_unlock(&cd_lock);
		if (cd != (iconv_t)-1)
			return cd;
	}
	return iconv_open("UTF-8", from);
}

static void cd_close(iconv_t cd, const char *from)
{
	if (cd_cacheable(from)) {
		iconv(cd, NULL, NULL, NULL, NULL);
		pthread_mutex_lock(&cd_lock);
		for (size_t i = 0; i < CD_CACHE; i++) {
			if (!cd_cache[i].from[0]) {
				strcpy(cd_cache[i].from, from);
				cd_cache[i].cd = cd;
				cd = (iconv_t)-1;
				break;
			}
		}
		pthread_mutex_unlock(&cd_lock);
		if (cd == (iconv_t)-1)
			return;
	}
	iconv_close(cd);
}

/* Convert with iconv, U+FFFD for what cannot be converted. */
static int convert(const char *from, const char *in, size_t len, struct fbuf *out,
                   bool *repaired)
{
	iconv_t cd = cd_open(from);
	if (cd == (iconv_t)-1)
		return -EINVAL;

	size_t cap = len * 2 + 64;
	char *buf = malloc(cap);
	if (!buf) {
		cd_close(cd, from);
		return -ENOMEM;
	}
	char *inp = (char *)in;
	size_t inleft = len;
	size_t used = 0;
	int err = 0;
	while (inleft > 0) {
		char *outp = buf + used;
		size_t outleft = cap - used;
		size_t r = iconv(cd, &inp, &inleft, &outp, &outleft);
		used = (size_t)(outp - buf);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG || cap - used < 8) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
			continue;
		}
		/* EILSEQ or EINVAL (a sequence cut off at the end): skip a byte. */
		memcpy(buf + used, REPLACEMENT, 3);
		used += 3;
		inp++;
		inleft--;
		*repaired = true;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	cd_close(cd, from);
	if (!err)
		err = feed_utf8_repair(buf, used, out, repaired);
	free(buf);
	return err;
}

/* Which UTF-16 a BOM-less document is in, judging by where its zero bytes are
 * ("<\0?\0" or "\0<\0?"), or NULL. */
static const char *sniff_utf16(const unsigned char *s, size_t len)
{
	if (len >= 4 && s[0] == '<' && s[1] == 0 && s[2] != 0 && s[3] == 0)
		return "UTF-16LE";
	if (len >= 4 && s[0] == 0 && s[1] == '<' && s[2] == 0 && s[3] != 0)
		return "UTF-16BE";
	/* A JSON Feed in UTF-16: "{\0" / "\0{" */
	if (len >= 2 && s[0] == '{' && s[1] == 0)
		return "UTF-16LE";
	if (len >= 2 && s[0] == 0 && s[1] == '{')
		return "UTF-16BE";
	return NULL;
}

int feed_to_utf8(const char *body, size_t len, const char *content_type, const char **out,
                 size_t *out_len, char **owned, bool *repaired, const char **charset)
{
	const unsigned char *s = (const unsigned char *)body;
	struct fbuf b = { 0 };
	const char *name = NULL;
	char label[64];
	int err;

	b.limit = (size_t)FEED_MAX_DOCUMENT * 4;
	*repaired = false;
	*owned = NULL;

	/* 1. A byte order mark is the surest sign. */
	if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
		name = "UTF-8";
		body += 3;
		len -= 3;
	} else if (len >= 4 && !memcmp(s, "\xFF\xFE\0\0", 4)) {
		name = "UTF-32LE";
		body += 4;
		len -= 4;
	} else if (len >= 4 && !memcmp(s, "\0\0\xFE\xFF", 4)) {
		name = "UTF-32BE";
		body += 4;
		len -= 4;
	} else if (len >= 2 && s[0] == 0xFF && s[1] == 0xFE) {
		name = "UTF-16LE";
		body += 2;
		len -= 2;
	} else if (len >= 2 && s[0] == 0xFE && s[1] == 0xFF) {
		name = "UTF-16BE";
		body += 2;
		len -= 2;
	}
	s = (const unsigned char *)body;

	/* Zero bytes in the pattern of UTF-16 markup beat any label. */
	if (!name)
		name = sniff_utf16(s, len);

	/* 2. The HTTP charset (RFC 7303), 3. the XML declaration. */
	if (!name && (http_charset(content_type, label, sizeof label) ||
	              xml_decl_charset(body, len, label, sizeof label))) {
		name = canonical_charset(label);
		/* A UTF-16/32 label on bytes that are not: the label is stale (the
		 * document was converted and its declaration kept). */
		if (!strncmp(name, "UTF-16", 6) || !strncasecmp(name, "UTF-32", 6) ||
		    !strncasecmp(name, "UCS-4", 5))
			name = NULL;
	}

	/*
	 * Bytes that are valid UTF-8 and need no repair are the result as they
	 * are (no copy): with a UTF-8 label or none; with a Latin-1 label when
	 * they hold multi-byte sequences (the label is wrong, as below) or are
	 * plain ASCII (which Windows-1252 maps to itself).
	 */
	if (!name || !strcmp(name, "UTF-8") || !strcmp(name, "WINDOWS-1252")) {
		size_t multi;
		if (feed_utf8_clean_prefix(body, len, &multi) == len) {
			if (charset)
				*charset = name && multi == 0 ? name : "UTF-8";
			*out = body;
			*out_len = len;
			return 0;
		}
	}

	if (!name || !strcmp(name, "UTF-8")) {
		size_t multi, invalid;
		utf8_census(s, len, &multi, &invalid);
		/* Not a single valid multi-byte sequence but invalid bytes: a legacy
		 * 8-bit charset labelled (or defaulted to) UTF-8. Browsers' choice. */
		if (invalid > 0 && multi == 0)
			name = "WINDOWS-1252";
		else
			name = "UTF-8";
	} else if (!strcmp(name, "WINDOWS-1252")) {
		size_t multi, invalid;
		utf8_census(s, len, &multi, &invalid);
		/* Valid UTF-8 with multi-byte sequences is almost never Latin-1. */
		if (multi > 0 && invalid == 0)
			name = "UTF-8";
	}

	if (!strcmp(name, "UTF-8")) {
		err = feed_utf8_repair(body, len, &b, repaired);
	} else {
		err = convert(name, body, len, &b, repaired);
		if (err == -EINVAL) {
			/* A charset iconv does not know: read as UTF-8 and say so. */
			*repaired = true;
			name = "UTF-8 (unknown charset label)";
			err = feed_utf8_repair(body, len, &b, repaired);
		}
	}
	if (err < 0) {
		fbuf_reset(&b);
		return err;
	}
	*out_len = b.len;
	*owned = fbuf_steal(&b);
	if (!*owned)
		return -ENOMEM;
	*out = *owned;
	if (charset)
		*charset = name == label ? "the declared charset" : name;
	return 0;
}
