/* html_moments.c — what was live when (html_data.h): the HTML report's
 * "click a moment on the chart" data.
 *
 * The timeline's slots (aggregate.h, up to 1024) are grouped into about
 * HL_HTML_MOMENTS moments of k slots each.  The chart shows, per slot, the
 * most heap live in it; a moment's snapshot is taken where its slots reach
 * their largest value, so the list a click shows adds up to what the chart
 * showed there:
 *   - the first event inside the moment whose live bytes equal that maximum
 *     (the replay is deterministic, so pass 1's maximum recurs exactly);
 *   - failing that, the state the moment began with: then the maximum was
 *     the heap carried over from before (a tick's sample, or no event).
 * The global peak is one of these: the first event reaching it.
 *
 * One more replay of the trace tracks the bytes and blocks live per site (a
 * site here is a stack's first frame in the program's own code: function,
 * file and line) and, at each snapshot, keeps the HL_HTML_MOMENT_SITES
 * largest and the sum of the rest.  Memory: a counter pair per site, and
 * moments x HL_HTML_MOMENT_SITES entries. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "html_data.h"

#define NO_SITE UINT32_MAX

struct site_key {
	const char *function, *file, *module; /* interned by the symbolizer */
	uint64_t line;
};

struct site {
	struct site_key key;
	uint32_t index;
	int64_t out; /* index in the written "sites", -1 until written */
	UT_hash_handle hh;
};

struct entry {
	uint32_t site;
	uint64_t bytes, blocks;
};

struct snapshot {
	bool taken, matched;
	uint64_t total, other_bytes, other_blocks;
	unsigned n;
	struct entry top[HL_HTML_MOMENT_SITES];
};

struct moments {
	/* sites */
	struct site *hash;
	struct site **sites;
	uint32_t nsites, cap;
	uint32_t *site_of; /* node id -> site */
	uint64_t nnodes;
	uint64_t *live_bytes, *live_blocks; /* per site, during the pass */
	uint64_t live_total;

	/* moments */
	uint64_t slot_ms, k; /* slot width; slots per moment */
	size_t nslots, nmoments;
	uint64_t *target; /* per moment: the most live heap in its slots */
	struct snapshot *snap;
	size_t cur; /* the moment of the last event */
	int error;
};

/* ---- sites ------------------------------------------------------------------ */

struct first_own {
	const struct hl_frame *first, *own;
};

static int find_own(void *ctx, const struct hl_frame *fr, bool own)
{
	struct first_own *f = ctx;

	if (!f->first)
		f->first = fr;
	if (own) {
		f->own = fr;
		return 1;
	}
	return fr->function && !strcmp(fr->function, "main") ? 1 : 0;
}

static uint32_t site_of_frame(struct moments *m, const struct hl_frame *fr)
{
	struct site_key k;
	struct site *s;

	memset(&k, 0, sizeof(k));
	if (fr) {
		k.function = fr->function;
		k.file = fr->file;
		k.module = fr->module;
		k.line = fr->line;
	}
	HASH_FIND(hh, m->hash, &k, sizeof(k), s);
	if (s)
		return s->index;
	if (m->nsites == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 256;
		struct site **v = realloc(m->sites, cap * sizeof(*v));
		if (!v)
			return NO_SITE;
		m->sites = v;
		m->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NO_SITE;
	s->key = k;
	s->index = m->nsites;
	s->out = -1;
	HASH_ADD(hh, m->hash, key, sizeof(s->key), s);
	if (!s->hh.tbl) {
		free(s);
		return NO_SITE;
	}
	m->sites[m->nsites++] = s;
	return s->index;
}

static int map_sites(struct moments *m, const struct hl_replay *r, struct hl_stacks *st,
		     const struct hl_agg *a)
{
	m->nnodes = hl_replay_node_count(r);
	m->site_of = malloc((m->nnodes ? m->nnodes : 1) * sizeof(*m->site_of));
	if (!m->site_of)
		return -ENOMEM;
	memset(m->site_of, 0xff, m->nnodes * sizeof(*m->site_of)); /* NO_SITE */
	for (size_t i = 0; i < hl_agg_count(a); i++) {
		uint64_t node = hl_agg_node_id(a, i);
		struct first_own f = {0};
		int ret;

		if (!hl_agg_stats(a, i)->allocs || node >= m->nnodes)
			continue;
		ret = hl_stacks_walk(st, node, find_own, &f);
		if (ret < 0)
			return ret;
		m->site_of[node] = site_of_frame(m, f.own ? f.own : f.first);
		if (m->site_of[node] == NO_SITE)
			return -ENOMEM;
	}
	/* Blocks of a stack pass 1 did not see allocate: "unknown". */
	uint32_t unknown = site_of_frame(m, NULL);
	if (unknown == NO_SITE)
		return -ENOMEM;
	for (uint64_t n = 0; n < m->nnodes; n++)
		if (m->site_of[n] == NO_SITE)
			m->site_of[n] = unknown;
	m->live_bytes = calloc(m->nsites, sizeof(*m->live_bytes));
	m->live_blocks = calloc(m->nsites, sizeof(*m->live_blocks));
	return m->live_bytes && m->live_blocks ? 0 : -ENOMEM;
}

/* ---- moments ---------------------------------------------------------------- */

/* The slots the chart shows (view_chart.c's rule: a slot without events
 * holds what the one before ended with) and their maximum per moment. */
static int plan_moments(struct moments *m, const struct hl_agg *a, const struct hl_summary *s)
{
	const struct hl_timeline *tl = hl_agg_timeline(a);
	uint64_t end_ms = s->duration_ms > tl->end_ms ? s->duration_ms : tl->end_ms;
	uint64_t carry = 0;

	m->slot_ms = tl->slot_ms;
	m->nslots = end_ms / tl->slot_ms + 1;
	if (m->nslots > HL_TIMELINE_SLOTS)
		m->nslots = HL_TIMELINE_SLOTS;
	m->k = (m->nslots + HL_HTML_MOMENTS - 1) / HL_HTML_MOMENTS;
	m->nmoments = (m->nslots + m->k - 1) / m->k;
	m->target = calloc(m->nmoments, sizeof(*m->target));
	m->snap = calloc(m->nmoments, sizeof(*m->snap));
	if (!m->target || !m->snap)
		return -ENOMEM;
	for (size_t i = 0; i < m->nslots; i++) {
		const struct hl_timeline_slot *sl = &tl->slot[i];
		uint64_t live = sl->has_live ? sl->max_live : carry;

		if (sl->has_live)
			carry = sl->last_live;
		if (live > m->target[i / m->k])
			m->target[i / m->k] = live;
	}
	return 0;
}

/* Keeps the largest HL_HTML_MOMENT_SITES sites in a min-heap on bytes
 * (ties: the lower site index is larger), then sorts them largest first. */
static bool smaller(const struct entry *x, const struct entry *y)
{
	return x->bytes != y->bytes ? x->bytes < y->bytes : x->site > y->site;
}

static void sift_down(struct entry *h, unsigned n, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, least = i;

		if (l < n && smaller(&h[l], &h[least]))
			least = l;
		if (r < n && smaller(&h[r], &h[least]))
			least = r;
		if (least == i)
			return;
		struct entry t = h[i];
		h[i] = h[least];
		h[least] = t;
		i = least;
	}
}

static int cmp_entries(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;

	return smaller(a, b) ? 1 : smaller(b, a) ? -1 : 0;
}

static void take(struct moments *m, struct snapshot *sn)
{
	sn->taken = true;
	sn->total = m->live_total;
	sn->n = 0;
	sn->other_bytes = sn->other_blocks = 0;
	for (uint32_t i = 0; i < m->nsites; i++) {
		struct entry e = {i, m->live_bytes[i], m->live_blocks[i]};

		if (!e.bytes && !e.blocks)
			continue;
		if (sn->n < HL_HTML_MOMENT_SITES) {
			sn->top[sn->n++] = e;
			if (sn->n == HL_HTML_MOMENT_SITES) /* heapify once full */
				for (unsigned j = sn->n / 2; j-- > 0;)
					sift_down(sn->top, sn->n, j);
			continue;
		}
		if (!smaller(&sn->top[0], &e)) {
			sn->other_bytes += e.bytes;
			sn->other_blocks += e.blocks;
			continue;
		}
		sn->other_bytes += sn->top[0].bytes;
		sn->other_blocks += sn->top[0].blocks;
		sn->top[0] = e;
		sift_down(sn->top, sn->n, 0);
	}
	qsort(sn->top, sn->n, sizeof(sn->top[0]), cmp_entries);
}

/* Moments cur+1 .. upto begin with the state as it is now. */
static void begin_moments(struct moments *m, size_t upto)
{
	if (upto <= m->cur)
		return;
	take(m, &m->snap[m->cur + 1]);
	for (size_t i = m->cur + 2; i <= upto; i++)
		m->snap[i] = m->snap[m->cur + 1];
	m->cur = upto;
}

static void live_add(struct moments *m, uint64_t node, uint64_t size, int sign)
{
	uint32_t s = node < m->nnodes ? m->site_of[node] : m->site_of[0];

	if (sign > 0) {
		m->live_bytes[s] += size;
		m->live_blocks[s]++;
		m->live_total += size;
	} else {
		m->live_bytes[s] -= size;
		m->live_blocks[s]--;
		m->live_total -= size;
	}
}

static int on_event(void *ctx, const struct hl_replay *r, const struct hl_event *ev)
{
	struct moments *m = ctx;
	uint64_t slot = ev->time_ms / m->slot_ms;
	size_t moment = slot >= m->nslots ? m->nmoments - 1 : slot / m->k;

	begin_moments(m, moment);
	switch (ev->kind) {
	case HL_EV_ALLOC:
	case HL_EV_REALLOC_UNDO: /* the block is live again */
		if (ev->known)
			live_add(m, ev->alloc_node, ev->size, +1);
		break;
	case HL_EV_FREE:
	case HL_EV_REPLACED:
		if (ev->known)
			live_add(m, ev->alloc_node, ev->size, -1);
		break;
	}
	if (m->live_total != ev->live_bytes) { /* the same trace replays the same way */
		m->error = 1;
		return 1;
	}
	struct snapshot *sn = &m->snap[m->cur];
	if (!sn->matched && ev->live_bytes == m->target[m->cur] && ev->kind != HL_EV_REPLACED) {
		take(m, sn);
		sn->matched = true;
	}
	return 0;
}

/* ---- output ----------------------------------------------------------------- */

static void write_json(struct hl_json *j, struct moments *m)
{
	uint32_t nout = 0;

	hl_json_begin_object(j);
	hl_json_kv_uint(j, "slot_ms", m->slot_ms);
	hl_json_kv_uint(j, "slots_per_moment", m->k);
	hl_json_kv_uint(j, "top_sites", HL_HTML_MOMENT_SITES);
	hl_json_key(j, "moments");
	hl_json_begin_array(j);
	for (size_t i = 0; i < m->nmoments; i++) {
		struct snapshot *sn = &m->snap[i];

		hl_json_begin_object(j);
		hl_json_kv_uint(j, "first_slot", i * m->k);
		hl_json_kv_uint(j, "time_ms", i * m->k * m->slot_ms);
		hl_json_kv_uint(j, "live_bytes", sn->total);
		hl_json_kv_bool(j, "at_max", sn->matched);
		hl_json_kv_uint(j, "other_bytes", sn->other_bytes);
		hl_json_kv_uint(j, "other_blocks", sn->other_blocks);
		hl_json_key(j, "top"); /* [site, bytes, blocks] */
		hl_json_begin_array(j);
		for (unsigned e = 0; e < sn->n; e++) {
			struct site *s = m->sites[sn->top[e].site];

			if (s->out < 0)
				s->out = nout++;
			hl_json_begin_array(j);
			hl_json_uint(j, (uint64_t)s->out);
			hl_json_uint(j, sn->top[e].bytes);
			hl_json_uint(j, sn->top[e].blocks);
			hl_json_end_array(j);
		}
		hl_json_end_array(j);
		hl_json_end_object(j);
	}
	hl_json_end_array(j);
	hl_json_key(j, "sites"); /* [function, file, line, module] */
	hl_json_begin_array(j);
	for (uint32_t o = 0; o < nout; o++) {
		for (uint32_t i = 0; i < m->nsites; i++) {
			const struct site *s = m->sites[i];

			if (s->out != (int64_t)o)
				continue;
			hl_json_begin_array(j);
			hl_json_string(j, s->key.function);
			hl_json_string(j, s->key.file);
			if (s->key.line)
				hl_json_uint(j, s->key.line);
			else
				hl_json_null(j);
			hl_json_string(j, s->key.module);
			hl_json_end_array(j);
			break;
		}
	}
	hl_json_end_array(j);
	hl_json_end_object(j);
}

static void moments_free(struct moments *m)
{
	struct site *s, *tmp;

	HASH_ITER(hh, m->hash, s, tmp)
	{
		HASH_DEL(m->hash, s);
		free(s);
	}
	free(m->sites);
	free(m->site_of);
	free(m->live_bytes);
	free(m->live_blocks);
	free(m->target);
	free(m->snap);
}

int hl_html_moments_json(struct hl_json *j, struct hl_trace *t, const struct hl_replay *r,
			 struct hl_stacks *st, const struct hl_agg *a, const struct hl_summary *s,
			 const struct hl_replay_hooks *extra, char *err, size_t errlen)
{
	struct moments m = {0};
	const struct hl_replay_hooks h = {.ctx = &m, .event = on_event};
	struct hl_replay *r2 = NULL;
	int ret = map_sites(&m, r, st, a);

	if (!ret)
		ret = plan_moments(&m, a, s);
	if (!ret) {
		r2 = hl_replay_new();
		if (!r2 || hl_replay_add_hooks(r2, &h) || (extra && hl_replay_add_hooks(r2, extra)))
			ret = -ENOMEM;
	}
	if (ret) {
		snprintf(err, errlen, "%s: moments: %s", hl_trace_path(t), strerror(-ret));
		goto out;
	}
	m.snap[0].taken = true; /* the run begins with nothing live */
	ret = hl_replay_run(r2, t, err, errlen);
	if (ret == -1)
		goto out;
	if (ret) {
		if (m.error)
			snprintf(err, errlen,
				 "%s: moments: the pass over the trace disagrees with the first",
				 hl_trace_path(t));
		else
			snprintf(err, errlen, "%s: moments: %s", hl_trace_path(t),
				 strerror(ret < 0 ? -ret : EIO));
		ret = -1;
		goto out;
	}
	begin_moments(&m, m.nmoments - 1); /* moments after the last event */
	write_json(j, &m);
out:
	hl_replay_free(r2);
	moments_free(&m);
	return ret ? -1 : 0;
}
