/* export_speedscope.c — speedscope's JSON file format: a "sampled" profile
 * per trace whose samples are the distinct stacks (frame indices, root
 * first) and whose weights are their bytes (or calls), so speedscope's
 * "left heavy" and "sandwich" views read as a flame graph of the heap.
 *
 * Frames are shared by every profile of the file: a frame is a function and
 * where it is defined (file and first line from DWARF; the module for code
 * without debug information).  The frame table is written last, since it is
 * complete only after the last trace; JSON does not mind the order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "export_formats.h"
#include "json.h"

struct sframe {
	char *key; /* name \x1f file \x1f line */
	char *name, *file;
	unsigned line;
	size_t index;
	UT_hash_handle hh;
};

struct hl_speedscope {
	struct hl_json j;
	struct sframe *hash;
	struct sframe **v; /* by index */
	size_t n, cap;
};

static void sframe_free(struct sframe *e)
{
	free(e->key);
	free(e->name);
	free(e->file);
	free(e);
}

struct hl_speedscope *hl_speedscope_new(FILE *f)
{
	struct hl_speedscope *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	hl_json_init(&sp->j, f, 0); /* compact: the sample arrays can be long */
	hl_json_begin_object(&sp->j);
	hl_json_kv_string(&sp->j, "$schema", "https://www.speedscope.app/file-format-schema.json");
	hl_json_kv_string(&sp->j, "exporter", "heapline " HEAPLINE_VERSION);
	hl_json_kv_uint(&sp->j, "activeProfileIndex", 0);
	hl_json_key(&sp->j, "profiles");
	hl_json_begin_array(&sp->j);
	return sp;
}

/* The index of a frame in the shared table, added if new; -1 if out of memory. */
static long frame_index(struct hl_speedscope *sp, const struct hl_frame *fr,
			struct hl_symbolizer *sym)
{
	char name[4096], line[16] = "";
	const char *file = fr->function ? fr->file : NULL;
	struct hl_func_lines fl;
	struct sframe *e;
	char *key;

	hl_export_frame_name(fr, name, sizeof(name));
	if (fr->func) {
		hl_symbolizer_function_lines(sym, fr->func, &fl);
		file = fl.file;
		if (fl.first)
			snprintf(line, sizeof(line), "%u", fl.first);
	}
	if (!file && fr->function)
		file = fr->module; /* no debug information: where the code is */
	if (asprintf(&key, "%s\x1f%s\x1f%s", name, file ? file : "", line) < 0)
		return -1;
	HASH_FIND_STR(sp->hash, key, e);
	if (e) {
		free(key);
		return (long)e->index;
	}
	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 256;
		struct sframe **v = realloc(sp->v, cap * sizeof(*v));
		if (!v)
			goto nomem;
		sp->v = v;
		sp->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	e->key = key;
	e->name = strdup(name);
	e->file = file ? strdup(file) : NULL;
	e->line = line[0] ? (unsigned)atoi(line) : 0;
	e->index = sp->n;
	HASH_ADD_KEYPTR(hh, sp->hash, e->key, strlen(e->key), e);
	if (!e->hh.tbl || !e->name || (file && !e->file)) {
		if (e->hh.tbl)
			HASH_DEL(sp->hash, e);
		sframe_free(e);
		return -1;
	}
	sp->v[sp->n++] = e;
	return (long)e->index;
nomem:
	free(key);
	return -1;
}

int hl_speedscope_add(struct hl_speedscope *sp, const char *name, const struct hl_export_stacks *s,
		      struct hl_symbolizer *sym, enum hl_metric m)
{
	struct hl_json *j = &sp->j;
	long *idx = NULL, *by_id;
	size_t nidx = 0;

	/* every frame's index first, so that no profile is left half written */
	for (size_t i = 0; i < s->n; i++)
		nidx += s->v[i].nframes;
	idx = malloc((nidx ? nidx : 1) * sizeof(*idx));
	/* each distinct frame's index, looked up once */
	by_id = malloc((s->ndistinct ? s->ndistinct : 1) * sizeof(*by_id));
	if (!idx || !by_id)
		goto nomem;
	for (size_t i = 0; i < s->ndistinct; i++)
		by_id[i] = -1;
	nidx = 0;
	for (size_t i = 0; i < s->n; i++) {
		for (unsigned k = 0; k < s->v[i].nframes; k++) {
			const struct hl_export_frame *f = s->v[i].frames[k];

			if (by_id[f->id] < 0 && (by_id[f->id] = frame_index(sp, f->frame, sym)) < 0)
				goto nomem;
			idx[nidx++] = by_id[f->id];
		}
	}
	free(by_id);

	hl_json_begin_object(j);
	hl_json_kv_string(j, "type", "sampled");
	hl_json_kv_string(j, "name", name);
	hl_json_kv_string(j, "unit", hl_metric_is_bytes(m) ? "bytes" : "none");
	hl_json_kv_uint(j, "startValue", 0);
	hl_json_kv_uint(j, "endValue", s->total);
	hl_json_key(j, "samples");
	hl_json_begin_array(j);
	nidx = 0;
	for (size_t i = 0; i < s->n; i++) {
		hl_json_begin_array(j);
		for (unsigned k = 0; k < s->v[i].nframes; k++)
			hl_json_uint(j, (uint64_t)idx[nidx++]);
		hl_json_end_array(j);
	}
	hl_json_end_array(j);
	hl_json_key(j, "weights");
	hl_json_begin_array(j);
	for (size_t i = 0; i < s->n; i++)
		hl_json_uint(j, s->v[i].weight);
	hl_json_end_array(j);
	hl_json_end_object(j);
	free(idx);
	return 0;
nomem:
	free(by_id);
	free(idx);
	return -ENOMEM;
}

int hl_speedscope_finish(struct hl_speedscope *sp)
{
	struct hl_json *j = &sp->j;
	struct sframe *e, *tmp;
	int ret;

	hl_json_end_array(j); /* profiles */
	hl_json_key(j, "shared");
	hl_json_begin_object(j);
	hl_json_key(j, "frames");
	hl_json_begin_array(j);
	for (size_t i = 0; i < sp->n; i++) {
		hl_json_begin_object(j);
		hl_json_kv_string(j, "name", sp->v[i]->name);
		if (sp->v[i]->file)
			hl_json_kv_string(j, "file", sp->v[i]->file);
		if (sp->v[i]->line)
			hl_json_kv_uint(j, "line", sp->v[i]->line);
		hl_json_end_object(j);
	}
	hl_json_end_array(j);
	hl_json_end_object(j);
	hl_json_end_object(j);
	ret = hl_json_finish(j);
	HASH_ITER(hh, sp->hash, e, tmp)
	{
		HASH_DEL(sp->hash, e);
		sframe_free(e);
	}
	free(sp->v);
	free(sp);
	return ret;
}
