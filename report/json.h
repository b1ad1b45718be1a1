/* json.h — a small streaming JSON writer for the report printers: it places
 * commas, indents, and escapes strings (control characters, and bytes that
 * are not valid UTF-8, as \u00XX) so no printer has to.
 *
 *	struct hl_json j;
 *	hl_json_init(&j, stdout, 1);
 *	hl_json_begin_object(&j);
 *	hl_json_kv_uint(&j, "allocations", 12);
 *	hl_json_key(&j, "summary"); hl_json_begin_object(&j); ... hl_json_end_object(&j);
 *	hl_json_end_object(&j);
 *	hl_json_finish(&j);    // newline; -EIO if the stream failed
 */
#ifndef HL_JSON_H
#define HL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HL_JSON_MAX_DEPTH 64

struct hl_json {
	FILE *f;
	int pretty;    /* newlines and two-space indents */
	int depth;
	int after_key; /* a key was written: the next value is its value */
	unsigned char has_items[HL_JSON_MAX_DEPTH]; /* per level: need a comma */
};

void hl_json_init(struct hl_json *j, FILE *f, int pretty);
/* Ends the document with a newline.  0, or -EIO if any write failed. */
int hl_json_finish(struct hl_json *j);

void hl_json_begin_object(struct hl_json *j);
void hl_json_end_object(struct hl_json *j);
void hl_json_begin_array(struct hl_json *j);
void hl_json_end_array(struct hl_json *j);
void hl_json_key(struct hl_json *j, const char *key);

void hl_json_string(struct hl_json *j, const char *s);         /* NULL writes null */
void hl_json_string_len(struct hl_json *j, const char *s, size_t n);
void hl_json_uint(struct hl_json *j, uint64_t v);
void hl_json_int(struct hl_json *j, int64_t v);
void hl_json_double(struct hl_json *j, double v);               /* NaN/inf write null */
void hl_json_bool(struct hl_json *j, int v);
void hl_json_null(struct hl_json *j);

/* key + value in one call, for object members. */
void hl_json_kv_string(struct hl_json *j, const char *key, const char *s);
void hl_json_kv_uint(struct hl_json *j, const char *key, uint64_t v);
void hl_json_kv_int(struct hl_json *j, const char *key, int64_t v);
void hl_json_kv_double(struct hl_json *j, const char *key, double v);
void hl_json_kv_bool(struct hl_json *j, const char *key, int v);
void hl_json_kv_null(struct hl_json *j, const char *key);

/* Writes s as a JSON string literal (with quotes) to f; printers that build
 * JSON by hand use this for escaping. */
void hl_json_write_escaped(FILE *f, const char *s, size_t n);

#endif
