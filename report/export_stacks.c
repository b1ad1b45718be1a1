/* export_stacks.c — weighted, symbolized, merged and sorted stacks for the
 * flame-graph exports (export_stacks.h), and the --metric names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "export_stacks.h"

/* ---- the metric --------------------------------------------------------------- */

static const char *const metric_names[] = {
    [HL_METRIC_ALLOCATED] = "allocated",
    [HL_METRIC_PEAK] = "peak",
    [HL_METRIC_LEAKED] = "leaked",
    [HL_METRIC_CALLS] = "calls",
};

int hl_metric_parse(const char *s, enum hl_metric *out)
{
	for (unsigned i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++) {
		if (!strcmp(s, metric_names[i])) {
			*out = (enum hl_metric)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *hl_metric_name(enum hl_metric m)
{
	return m <= HL_METRIC_CALLS ? metric_names[m] : "?";
}

int hl_metric_is_bytes(enum hl_metric m)
{
	return m != HL_METRIC_CALLS;
}

uint64_t hl_metric_of(const struct hl_node_stats *s, enum hl_metric m)
{
	switch (m) {
	case HL_METRIC_ALLOCATED:
		return s->alloc_bytes;
	case HL_METRIC_PEAK:
		return s->peak_bytes;
	case HL_METRIC_LEAKED:
		return s->leaked_bytes;
	case HL_METRIC_CALLS:
		return s->allocs;
	}
	return 0;
}

/* ---- frame names ------------------------------------------------------------- */

const char *hl_export_frame_name(const struct hl_frame *f, char *buf, size_t len)
{
	const char *base;

	if (f->function) {
		snprintf(buf, len, "%s", f->function);
	} else if (f->module) {
		base = strrchr(f->module, '/');
		snprintf(buf, len, "[%s]", base ? base + 1 : f->module);
	} else {
		snprintf(buf, len, "[unknown]");
	}
	for (char *p = buf; *p; p++) {
		if (*p == ';')
			*p = ':';
		else if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	return buf;
}

/* ---- collecting ------------------------------------------------------------------ */

/* What makes two frames one in the exports (strings interned by the
 * symbolizer, so pointers compare). */
struct frame_id {
	const char *function, *file, *module;
};

struct entry {
	struct hl_export_stack stack;
	struct frame_id *key;
	size_t keylen;
	UT_hash_handle hh;
};

struct collect {
	const struct hl_frame **f;
	size_t n, cap;
};

#define STOP_AT_MAIN 1

static int collect_frame(void *ctx, const struct hl_frame *fr, bool own)
{
	struct collect *c = ctx;

	/* the C runtime that called a main no longer on the stack */
	if (c->n && hl_frame_below_main(fr))
		return STOP_AT_MAIN;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		const struct hl_frame **f = realloc(c->f, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		c->f = f;
		c->cap = cap;
	}
	c->f[c->n++] = fr;
	/* below main is the C runtime: not shown, as in the site views */
	return fr->function && !strcmp(fr->function, "main") ? STOP_AT_MAIN : 0;
}

static void id_of(struct frame_id *id, const struct hl_frame *f)
{
	memset(id, 0, sizeof(*id));
	id->function = f->function;
	id->module = f->module;
	if (f->function)
		id->file = f->file;
}

/* Distinct frames, by the symbolizer's frame (shared by every stack through
 * them), each named once: a deep C++ program's folded text would be
 * hundreds of megabytes, its names a few. */
struct export_frame {
	struct hl_export_frame pub;
	UT_hash_handle hh;
	char name[];
};

static const struct hl_export_frame *frame_of(struct hl_export_stacks *out,
					      const struct hl_frame *f)
{
	char buf[4096];
	struct export_frame *e;
	size_t len;

	HASH_FIND_PTR(out->by_frame, &f, e);
	if (e)
		return &e->pub;
	len = strlen(hl_export_frame_name(f, buf, sizeof(buf)));
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->name, buf, len + 1);
	e->pub = (struct hl_export_frame){f, e->name, (unsigned)out->ndistinct};
	HASH_ADD_PTR(out->by_frame, pub.frame, e);
	if (!e->hh.tbl) {
		free(e);
		return NULL;
	}
	out->ndistinct++;
	return &e->pub;
}

/* An empty stack (node 0) still needs a frame to be drawn at all. */
static const struct hl_frame unknown_frame = {.module_id = HL_SYM_NO_MODULE};

static int add_stack(struct hl_export_stacks *out, struct entry **hash, struct collect *c,
		     uint64_t weight)
{
	const struct hl_export_frame **frames;
	struct frame_id *key;
	struct entry *e;
	size_t n = c->n;

	if (!n) {
		c->f[0] = &unknown_frame; /* cap >= 64 after the first walk */
		n = 1;
	}
	key = calloc(n, sizeof(*key));
	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) /* outermost first */
		id_of(&key[i], c->f[n - 1 - i]);
	HASH_FIND(hh, *hash, key, n * sizeof(*key), e);
	if (e) {
		free(key);
		e->stack.weight += weight;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	frames = malloc(n * sizeof(*frames));
	if (!e || !frames)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (!(frames[i] = frame_of(out, c->f[n - 1 - i])))
			goto nomem;
	e->stack.frames = frames;
	e->stack.nframes = (unsigned)n;
	e->stack.weight = weight;
	e->key = key;
	e->keylen = n * sizeof(*key);
	HASH_ADD_KEYPTR(hh, *hash, e->key, e->keylen, e);
	if (!e->hh.tbl)
		goto nomem;
	return 0;
nomem:
	free(frames);
	free(e);
	free(key);
	return -ENOMEM;
}

int hl_export_stack_cmp_text(const struct hl_export_stack *a, const struct hl_export_stack *b)
{
	unsigned n = a->nframes < b->nframes ? a->nframes : b->nframes;

	for (unsigned i = 0; i < n; i++) {
		const char *p = a->frames[i]->name, *q = b->frames[i]->name;

		if (p == q) /* the same name: no need to read it */
			continue;
		while (*p && *p == *q)
			p++, q++;
		if (*p || *q) {
			/* After a name comes ';' (more frames) or the end; names
			 * hold no ';', so the texts differ right here. */
			int c = *p ? (unsigned char)*p : i + 1 < a->nframes ? ';' : 0;
			int d = *q ? (unsigned char)*q : i + 1 < b->nframes ? ';' : 0;
			return c - d;
		}
	}
	/* One text goes on (with ';') where the other ends. */
	return (a->nframes > b->nframes) - (a->nframes < b->nframes);
}

static int strcmp_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* By folded text; stacks that read the same differ in a frame's file or
 * module, compared as strings so the order does not depend on addresses. */
static int cmp_stacks(const void *pa, const void *pb)
{
	const struct hl_export_stack *a = pa, *b = pb;
	int c = hl_export_stack_cmp_text(a, b);

	if (c)
		return c;
	for (unsigned i = 0; i < a->nframes && i < b->nframes; i++) {
		const struct hl_frame *x = a->frames[i]->frame, *y = b->frames[i]->frame;

		if ((c = strcmp_null(x->file, y->file)) || (c = strcmp_null(x->module, y->module)))
			return c;
	}
	return (a->nframes > b->nframes) - (a->nframes < b->nframes);
}

int hl_export_stacks_build(struct hl_export_stacks *out, struct hl_stacks *st,
			   const struct hl_agg *a, enum hl_metric m)
{
	struct entry *hash = NULL, *e, *tmp;
	struct collect c = {0};
	size_t n = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	c.f = malloc(64 * sizeof(*c.f));
	if (!c.f)
		return -ENOMEM;
	c.cap = 64;
	for (size_t i = 0; i < hl_agg_count(a) && !ret; i++) {
		uint64_t w = hl_metric_of(hl_agg_stats(a, i), m);

		if (!w)
			continue;
		c.n = 0;
		ret = hl_stacks_walk(st, hl_agg_node_id(a, i), collect_frame, &c);
		if (ret == STOP_AT_MAIN)
			ret = 0;
		if (!ret)
			ret = add_stack(out, &hash, &c, w);
		out->total += w;
	}
	free(c.f);

	if (!ret && HASH_COUNT(hash)) {
		out->v = calloc(HASH_COUNT(hash), sizeof(*out->v));
		if (!out->v)
			ret = -ENOMEM;
	}
	HASH_ITER(hh, hash, e, tmp)
	{
		HASH_DEL(hash, e);
		if (!ret)
			out->v[n++] = e->stack;
		else
			free(e->stack.frames);
		free(e->key);
		free(e);
	}
	out->n = n;
	if (ret) {
		hl_export_stacks_release(out);
		return ret;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_stacks);
	return 0;
}

void hl_export_stacks_release(struct hl_export_stacks *s)
{
	struct export_frame *e, *tmp;

	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].frames);
	free(s->v);
	HASH_ITER(hh, s->by_frame, e, tmp)
	{
		HASH_DEL(s->by_frame, e);
		free(e);
	}
	memset(s, 0, sizeof(*s));
}
