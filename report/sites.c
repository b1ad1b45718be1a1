/* sites.c — groups allocating stack nodes into sites (sites.h): walks each
 * node's symbolized stack once, keys the site by the frames it shows, and
 * sums the nodes' numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "sites.h"

/* What makes two frames the same on screen. */
struct frame_key {
	const char *function, *file, *module; /* interned by the symbolizer */
	uint64_t line;
	uint64_t offset; /* only for frames with neither name nor file */
};

struct site_entry {
	struct hl_site site;
	size_t order;
	struct frame_key *key;
	size_t keylen;
	UT_hash_handle hh;
};

struct hl_sites {
	struct site_entry *hash;
	struct site_entry **v;
	size_t n, cap;
};

#define STOP_AT_MAIN 1

/* The frames a site shows, collected by hl_stacks_walk_from_own: from the
 * innermost own frame, at most max, main the last. */
struct collect {
	const struct hl_frame **f;
	bool *own;
	size_t n, cap, max;
};

static int collect_frame(void *ctx, const struct hl_frame *fr, bool own)
{
	struct collect *c = ctx;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		const struct hl_frame **f = realloc(c->f, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		c->f = f;
		bool *o = realloc(c->own, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		c->own = o;
		c->cap = cap;
	}
	c->f[c->n] = fr;
	c->own[c->n++] = own;
	/* Frames below main are the C runtime's: not shown, as valgrind's
	 * --show-below-main=no. */
	return (fr->function && !strcmp(fr->function, "main")) || c->n == c->max ? STOP_AT_MAIN : 0;
}

static void key_of(struct frame_key *k, const struct hl_frame *fr)
{
	memset(k, 0, sizeof(*k));
	k->function = fr->function;
	k->file = fr->file;
	k->module = fr->module;
	k->line = fr->line;
	if (!fr->function && !fr->file)
		k->offset = fr->offset;
}

static int add_node(struct hl_sites *s, struct collect *c, const struct hl_node_stats *ns,
		    unsigned depth)
{
	size_t first = 0, n;
	struct site_entry *e;
	struct frame_key *key;

	while (first < c->n && !c->own[first])
		first++;
	if (first == c->n)
		first = 0; /* no own code at all: show where it happened */
	n = c->n - first;
	if (n > (size_t)depth + 1)
		n = (size_t)depth + 1;
	key = calloc(n ? n : 1, sizeof(*key));
	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		key_of(&key[i], c->f[first + i]);
	HASH_FIND(hh, s->hash, key, n * sizeof(*key), e);
	if (e) {
		free(key);
		hl_node_stats_add(&e->site.s, ns);
		e->site.stacks++;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct site_entry **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			goto nomem;
		s->v = v;
		s->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	e->site.frames = malloc((n ? n : 1) * sizeof(*e->site.frames));
	if (!e->site.frames) {
		free(e);
		goto nomem;
	}
	memcpy(e->site.frames, c->f + first, n * sizeof(*e->site.frames));
	e->site.nframes = n;
	e->site.own = n && c->own[first];
	e->site.s = *ns;
	e->site.stacks = 1;
	e->key = key;
	e->keylen = n * sizeof(*key);
	e->order = s->n;
	HASH_ADD_KEYPTR(hh, s->hash, e->key, e->keylen, e);
	if (!e->hh.tbl) {
		free(e->site.frames);
		free(e);
		goto nomem;
	}
	s->v[s->n++] = e;
	return 0;
nomem:
	free(key);
	return -ENOMEM;
}

int hl_sites_build(struct hl_sites **out, struct hl_stacks *st, const struct hl_agg *a,
		   unsigned depth)
{
	struct hl_sites *s = calloc(1, sizeof(*s));
	struct collect c = {.max = (size_t)depth + 1};
	int ret = 0;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < hl_agg_count(a) && !ret; i++) {
		const struct hl_node_stats *ns = hl_agg_stats(a, i);

		if (!ns->allocs) /* a stack that only freed is no allocation site */
			continue;
		c.n = 0;
		ret = hl_stacks_walk_from_own(st, hl_agg_node_id(a, i), collect_frame, &c);
		if (ret == STOP_AT_MAIN)
			ret = 0;
		if (!ret && c.n)
			ret = add_node(s, &c, ns, depth);
	}
	free(c.f);
	free(c.own);
	if (ret) {
		hl_sites_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void hl_sites_free(struct hl_sites *s)
{
	if (!s)
		return;
	HASH_CLEAR(hh, s->hash);
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i]->site.frames);
		free(s->v[i]->key);
		free(s->v[i]);
	}
	free(s->v);
	free(s);
}

size_t hl_sites_count(const struct hl_sites *s)
{
	return s->n;
}

static uint64_t key_value(const struct hl_site *site, enum hl_site_key k)
{
	switch (k) {
	case HL_SITE_BYTES:
		return site->s.alloc_bytes;
	case HL_SITE_CALLS:
		return site->s.allocs;
	case HL_SITE_PEAK:
		return site->s.peak_bytes;
	case HL_SITE_TEMPS:
		return site->s.temps;
	case HL_SITE_LEAKED:
		return site->s.leaked_bytes;
	}
	return 0;
}

static int cmp_sites(const void *pa, const void *pb, void *arg)
{
	const struct site_entry *a = *(struct site_entry *const *)pa;
	const struct site_entry *b = *(struct site_entry *const *)pb;
	enum hl_site_key k = *(enum hl_site_key *)arg;
	uint64_t x = key_value(&a->site, k), y = key_value(&b->site, k);

	if (x != y)
		return x > y ? -1 : 1;
	if (a->site.s.alloc_bytes != b->site.s.alloc_bytes)
		return a->site.s.alloc_bytes > b->site.s.alloc_bytes ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

size_t hl_sites_top(const struct hl_sites *s, enum hl_site_key k, const struct hl_site **out,
		    size_t n)
{
	struct site_entry **v;
	size_t m = 0;

	if (!s->n)
		return 0;
	v = malloc(s->n * sizeof(*v));
	if (!v)
		return 0;
	if (n < 64) {
		/* The first n of the order cmp_sites sorts by, without sorting
		 * every site (python: 20k sites, 6% of the report): each
		 * candidate is compared with the last kept one, and only one
		 * that beats it is inserted. */
		for (size_t i = 0; i < s->n; i++) {
			struct site_entry *e = s->v[i];
			size_t j;

			if (!key_value(&e->site, k) ||
			    (m == n && (!n || cmp_sites(&e, &v[m - 1], &k) > 0)))
				continue;
			j = m < n ? m++ : m - 1;
			for (; j > 0 && cmp_sites(&e, &v[j - 1], &k) < 0; j--)
				v[j] = v[j - 1];
			v[j] = e;
		}
	} else {
		for (size_t i = 0; i < s->n; i++)
			if (key_value(&s->v[i]->site, k))
				v[m++] = s->v[i];
		qsort_r(v, m, sizeof(*v), cmp_sites, &k);
		if (m > n)
			m = n;
	}
	for (size_t i = 0; i < m; i++)
		out[i] = &v[i]->site;
	free(v);
	return m;
}
