/* diff_table.c — sites and lines of two traces matched by name, and their
 * differences (diff_table.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "diff_table.h"

struct entry {
	char *key;
	struct hl_diff_row row;
	UT_hash_handle hh;
};

static const char *base_name(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;

	return b ? b + 1 : path ? path : "";
}

/* A frame as the match sees it: function, file name, line; for code
 * without symbols only its module's file name (its offset changes with
 * every build). */
static void key_frame(FILE *f, const struct hl_frame *fr)
{
	if (fr->function || fr->file)
		fprintf(f, "%s\x1f%s\x1f%u\x1e", fr->function ? fr->function : "",
			base_name(fr->file), fr->line);
	else
		fprintf(f, "[%s]\x1e", base_name(fr->module));
}

static char *key_of(const struct hl_site *s, enum hl_diff_by by)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned n = by == HL_DIFF_BY_LINE && s->nframes ? 1 : s->nframes;

	if (!f)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		key_frame(f, s->frames[i]);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int add_site(struct entry **hash, const struct hl_site *s, int side, enum hl_diff_by by)
{
	struct entry *e;
	char *key = key_of(s, by);

	if (!key)
		return -ENOMEM;
	HASH_FIND_STR(*hash, key, e);
	if (e) {
		free(key);
	} else {
		e = calloc(1, sizeof(*e));
		if (!e) {
			free(key);
			return -ENOMEM;
		}
		e->key = key;
		HASH_ADD_KEYPTR(hh, *hash, e->key, strlen(e->key), e);
		if (!e->hh.tbl) {
			free(key);
			free(e);
			return -ENOMEM;
		}
	}
	/* the newer trace names the row; the older only while it is alone */
	if (side == HL_DIFF_NEW || !e->row.present[HL_DIFF_NEW]) {
		e->row.frames = s->frames;
		e->row.nframes = by == HL_DIFF_BY_LINE && s->nframes ? 1 : s->nframes;
	}
	e->row.present[side] = true;
	e->row.v[side][HL_METRIC_ALLOCATED] += s->s.alloc_bytes;
	e->row.v[side][HL_METRIC_PEAK] += s->s.peak_bytes;
	e->row.v[side][HL_METRIC_LEAKED] += s->s.leaked_bytes;
	e->row.v[side][HL_METRIC_CALLS] += s->s.allocs;
	return 0;
}

static int add_sites(struct entry **hash, const struct hl_sites *sites, int side,
		     enum hl_diff_by by)
{
	size_t n = hl_sites_count(sites), got;
	const struct hl_site **v = malloc((n ? n : 1) * sizeof(*v));
	int ret = 0;

	if (!v)
		return -ENOMEM;
	/* every site allocated at least once, so "by calls" lists them all */
	got = hl_sites_top(sites, HL_SITE_CALLS, v, n);
	for (size_t i = 0; i < got && !ret; i++)
		ret = add_site(hash, v[i], side, by);
	free(v);
	return ret;
}

struct sorted {
	struct hl_diff_row row;
	const char *key;
};

static uint64_t abs_delta(const struct hl_diff_row *r, enum hl_metric m)
{
	int64_t d = hl_diff_delta(r, m);

	return d < 0 ? -(uint64_t)d : (uint64_t)d;
}

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
	const struct sorted *a = pa, *b = pb;
	enum hl_metric first = *(const enum hl_metric *)arg;
	static const enum hl_metric then[] = {HL_METRIC_ALLOCATED, HL_METRIC_PEAK, HL_METRIC_LEAKED,
					      HL_METRIC_CALLS};
	uint64_t x = abs_delta(&a->row, first), y = abs_delta(&b->row, first);

	if (x != y)
		return x > y ? -1 : 1;
	for (size_t i = 0; i < sizeof(then) / sizeof(then[0]); i++) {
		x = abs_delta(&a->row, then[i]);
		y = abs_delta(&b->row, then[i]);
		if (x != y)
			return x > y ? -1 : 1;
	}
	return strcmp(a->key, b->key);
}

int hl_diff_table_build(struct hl_diff_table *out, const struct hl_sites *old,
			const struct hl_sites *new_, enum hl_diff_by by, enum hl_metric sort)
{
	struct entry *hash = NULL, *e, *tmp;
	struct sorted *v = NULL;
	size_t n = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = add_sites(&hash, old, HL_DIFF_OLD, by);
	if (!ret)
		ret = add_sites(&hash, new_, HL_DIFF_NEW, by);
	if (!ret && HASH_COUNT(hash) && !(v = calloc(HASH_COUNT(hash), sizeof(*v))))
		ret = -ENOMEM;
	if (!ret) {
		HASH_ITER(hh, hash, e, tmp)
		{
			if (!memcmp(e->row.v[HL_DIFF_OLD], e->row.v[HL_DIFF_NEW],
				    sizeof(e->row.v[0])) &&
			    e->row.present[HL_DIFF_OLD] && e->row.present[HL_DIFF_NEW]) {
				out->unchanged++;
				continue;
			}
			v[n++] = (struct sorted){.row = e->row, .key = e->key};
		}
		qsort_r(v, n, sizeof(*v), cmp_rows, &sort);
		out->v = calloc(n ? n : 1, sizeof(*out->v));
		if (!out->v)
			ret = -ENOMEM;
		for (size_t i = 0; i < n && !ret; i++)
			out->v[i] = v[i].row;
		out->n = ret ? 0 : n;
	}
	free(v);
	HASH_ITER(hh, hash, e, tmp)
	{
		HASH_DEL(hash, e);
		free(e->key);
		free(e);
	}
	return ret;
}

void hl_diff_table_release(struct hl_diff_table *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}
