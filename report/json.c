/* json.c — the streaming JSON writer of json.h: separators, indentation and
 * string escaping for every --format json printer.  Strings from a trace
 * (argv, paths, symbol names) are arbitrary bytes; valid UTF-8 is copied,
 * anything else is escaped byte by byte as \u00XX so the output is always
 * valid JSON. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void hl_json_init(struct hl_json *j, FILE *f, int pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
}

int hl_json_finish(struct hl_json *j)
{
	fputc('\n', j->f);
	return ferror(j->f) ? -EIO : 0;
}

static void indent(struct hl_json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Everything before a value or key: the comma and the newline. */
static void before_item(struct hl_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0 && j->depth <= HL_JSON_MAX_DEPTH) {
		if (j->has_items[j->depth - 1])
			fputc(',', j->f);
		j->has_items[j->depth - 1] = 1;
	}
	if (j->depth > 0)
		indent(j);
}

static void open_level(struct hl_json *j, char c)
{
	before_item(j);
	fputc(c, j->f);
	j->depth++;
	if (j->depth <= HL_JSON_MAX_DEPTH)
		j->has_items[j->depth - 1] = 0;
}

static void close_level(struct hl_json *j, char c)
{
	int had = j->depth <= HL_JSON_MAX_DEPTH && j->depth > 0 && j->has_items[j->depth - 1];
	if (j->depth > 0)
		j->depth--;
	if (had)
		indent(j);
	fputc(c, j->f);
}

void hl_json_begin_object(struct hl_json *j)
{
	open_level(j, '{');
}

void hl_json_end_object(struct hl_json *j)
{
	close_level(j, '}');
}

void hl_json_begin_array(struct hl_json *j)
{
	open_level(j, '[');
}

void hl_json_end_array(struct hl_json *j)
{
	close_level(j, ']');
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0.  Rejects
 * overlong forms, surrogates and code points past U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void hl_json_write_escaped(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	fputc('"', f);
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		switch (c) {
		case '"':  fputs("\\\"", f); i++; continue;
		case '\\': fputs("\\\\", f); i++; continue;
		case '\n': fputs("\\n", f); i++; continue;
		case '\r': fputs("\\r", f); i++; continue;
		case '\t': fputs("\\t", f); i++; continue;
		case '\b': fputs("\\b", f); i++; continue;
		case '\f': fputs("\\f", f); i++; continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		len = utf8_len(s + i, n - i);
		if (!len) {
			/* Not UTF-8: keep the byte's value visible and the
			 * document valid, as Latin-1 would read it. */
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		fwrite(s + i, 1, len, f);
		i += len;
	}
	fputc('"', f);
}

void hl_json_key(struct hl_json *j, const char *key)
{
	before_item(j);
	hl_json_write_escaped(j->f, key, strlen(key));
	fputs(j->pretty ? ": " : ":", j->f);
	j->after_key = 1;
}

void hl_json_string_len(struct hl_json *j, const char *s, size_t n)
{
	before_item(j);
	hl_json_write_escaped(j->f, s, n);
}

void hl_json_string(struct hl_json *j, const char *s)
{
	if (!s) {
		hl_json_null(j);
		return;
	}
	hl_json_string_len(j, s, strlen(s));
}

void hl_json_uint(struct hl_json *j, uint64_t v)
{
	before_item(j);
	fprintf(j->f, "%" PRIu64, v);
}

void hl_json_int(struct hl_json *j, int64_t v)
{
	before_item(j);
	fprintf(j->f, "%" PRId64, v);
}

void hl_json_double(struct hl_json *j, double v)
{
	if (!isfinite(v)) {
		hl_json_null(j);
		return;
	}
	char buf[40];
	/* The shortest of %.15g/%.17g that reads back as v: 0.1, not
	 * 0.10000000000000001. */
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	before_item(j);
	fputs(buf, j->f);
}

void hl_json_bool(struct hl_json *j, int v)
{
	before_item(j);
	fputs(v ? "true" : "false", j->f);
}

void hl_json_null(struct hl_json *j)
{
	before_item(j);
	fputs("null", j->f);
}

void hl_json_kv_string(struct hl_json *j, const char *key, const char *s)
{
	hl_json_key(j, key);
	hl_json_string(j, s);
}

void hl_json_kv_uint(struct hl_json *j, const char *key, uint64_t v)
{
	hl_json_key(j, key);
	hl_json_uint(j, v);
}

void hl_json_kv_int(struct hl_json *j, const char *key, int64_t v)
{
	hl_json_key(j, key);
	hl_json_int(j, v);
}

void hl_json_kv_double(struct hl_json *j, const char *key, double v)
{
	hl_json_key(j, key);
	hl_json_double(j, v);
}

void hl_json_kv_bool(struct hl_json *j, const char *key, int v)
{
	hl_json_key(j, key);
	hl_json_bool(j, v);
}

void hl_json_kv_null(struct hl_json *j, const char *key)
{
	hl_json_key(j, key);
	hl_json_null(j);
}
