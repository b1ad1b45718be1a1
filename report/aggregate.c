/* aggregate.c — stage 4 of the report pipeline: per-stack-node sums of the
 * replay's events, temporaries, the size histogram, memory over time, leaks
 * and the peak snapshot.  Exports what aggregate.h lists.
 *
 * Per-node sums live in one dense array indexed through a node -> slot map
 * (four bytes per node of the trace), so the event hook costs two array
 * lookups and no allocation.  Temporaries follow heaptrack: an allocation
 * is temporary when the next event of its thread frees it, with no other
 * allocation of that thread in between.
 *
 * The peak snapshot (what each stack held when the heap was at its
 * largest) comes from the same pass: each node keeps the bytes and blocks
 * of its live allocations, and the values they had at the latest new peak
 * are kept lazily, by epoch: a new peak bumps the epoch, and a node copies
 * its live values aside the first time they change after that.  Copying
 * every node at every new peak would cost O(nodes) per event of a growing
 * heap; this costs O(1).  Only when the replay dropped a block without an
 * event (a realloc's undo meeting a live block: broken traces only) do the
 * books not balance, and the snapshot comes from a second pass as before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "aggregate.h"

/* The allocation a thread made last, while its next event may free it. */
struct thread_last {
	uint64_t tid; /* the key */
	int valid;
	uint64_t ptr, node;
	UT_hash_handle hh;
};

/* One node with activity: its sums, and its live blocks for the peak. */
struct agg_node {
	struct hl_node_stats st;	  /* what hl_agg_stats shows */
	uint64_t live_bytes, live_blocks; /* its allocations live now */
	/* Its live values at the latest peak if snap_epoch is the current
	 * epoch; otherwise they have not changed since, and are live_*. */
	uint64_t snap_bytes, snap_blocks, snap_epoch;
};

struct hl_agg {
	uint32_t *slot_of; /* node id -> 1 + index into nodes, 0 = none */
	uint64_t slot_cap;
	struct agg_node *nodes;
	uint64_t *node_ids;
	size_t n, cap;

	struct thread_last *threads; /* uthash head */
	struct thread_last *cur;

	uint64_t temps, temp_bytes;
	struct hl_hist_bucket hist[HL_HIST_BUCKETS];
	struct hl_timeline tl;
	/* The slot of the time events came at last: events between two TIME
	 * records share it.  Slots merge only in timeline_live, which
	 * refreshes it. */
	struct hl_timeline_slot *tl_slot;
	uint64_t tl_slot_ms;

	uint64_t nevents;    /* events seen by pass 1 */
	uint64_t peak_live;  /* the largest live_bytes after an event */
	uint64_t peak_index; /* the event that first reached it */
	uint64_t peak_ms;
	int have_peak;

	uint64_t epoch;	      /* new peaks so far */
	uint64_t live_blocks; /* what the nodes' live_blocks add up to */
	int unbalanced;	      /* a block left that no node had */
	uint64_t end_blocks;  /* hl_agg_finish: the replay's live blocks */
	int snapshot_ok;      /* hl_agg_finish found the books balanced */
};

struct hl_agg *hl_agg_new(void)
{
	struct hl_agg *a = calloc(1, sizeof(*a));

	if (a)
		a->tl.slot_ms = 1;
	return a;
}

void hl_agg_free(struct hl_agg *a)
{
	struct thread_last *t, *tmp;

	if (!a)
		return;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		HASH_DEL(a->threads, t);
		free(t);
	}
	free(a->slot_of);
	free(a->nodes);
	free(a->node_ids);
	free(a);
}

/* ---- per-node sums ----------------------------------------------------------- */

void hl_node_stats_add(struct hl_node_stats *to, const struct hl_node_stats *s)
{
	to->allocs += s->allocs;
	to->alloc_bytes += s->alloc_bytes;
	to->frees += s->frees;
	to->free_bytes += s->free_bytes;
	if (s->max_live > to->max_live)
		to->max_live = s->max_live;
	to->temps += s->temps;
	to->temp_bytes += s->temp_bytes;
	to->leaked_bytes += s->leaked_bytes;
	to->leaked_blocks += s->leaked_blocks;
	to->peak_bytes += s->peak_bytes;
	to->peak_blocks += s->peak_blocks;
}

/* node_of's first sight of a node: grows the map, gives it a slot. */
static __attribute__((noinline)) struct agg_node *node_new(struct hl_agg *a, uint64_t node)
{
	if (node >= a->slot_cap) {
		uint64_t cap = a->slot_cap ? a->slot_cap : 4096;
		while (cap <= node)
			cap *= 2;
		uint32_t *s = realloc(a->slot_of, cap * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + a->slot_cap, 0, (cap - a->slot_cap) * sizeof(*s));
		a->slot_of = s;
		a->slot_cap = cap;
	}
	if (a->slot_of[node])
		return &a->nodes[a->slot_of[node] - 1];
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 1024;
		if (cap > UINT32_MAX - 1)
			return NULL;
		struct agg_node *st = realloc(a->nodes, cap * sizeof(*st));
		if (!st)
			return NULL;
		a->nodes = st;
		uint64_t *ids = realloc(a->node_ids, cap * sizeof(*ids));
		if (!ids)
			return NULL;
		a->node_ids = ids;
		a->cap = cap;
	}
	memset(&a->nodes[a->n], 0, sizeof(a->nodes[0]));
	a->node_ids[a->n] = node;
	a->slot_of[node] = (uint32_t)++a->n;
	return &a->nodes[a->n - 1];
}

/* The node's entry, made on first sight (NULL: out of memory). */
static inline struct agg_node *node_of(struct hl_agg *a, uint64_t node)
{
	uint32_t i;

	if (node < a->slot_cap && (i = a->slot_of[node]))
		return &a->nodes[i - 1];
	return node_new(a, node);
}

/* The node's entry if it has one. */
static inline struct agg_node *node_find(const struct hl_agg *a, uint64_t node)
{
	uint32_t i;

	if (node < a->slot_cap && (i = a->slot_of[node]))
		return &a->nodes[i - 1];
	return NULL;
}

static inline struct hl_node_stats *stats_of(struct hl_agg *a, uint64_t node)
{
	struct agg_node *n = node_of(a, node);

	return n ? &n->st : NULL;
}

/* A block of n's becomes live (sign 1) or stops being live (sign -1). */
static inline void live_change(struct hl_agg *a, struct agg_node *n, uint64_t size, int sign)
{
	if (n->snap_epoch != a->epoch) {
		/* first change since the latest peak: keep the peak's values */
		n->snap_bytes = n->live_bytes;
		n->snap_blocks = n->live_blocks;
		n->snap_epoch = a->epoch;
	}
	if (sign > 0) {
		n->live_bytes += size;
		n->live_blocks++;
		a->live_blocks++;
	} else {
		n->live_bytes -= size;
		n->live_blocks--;
		a->live_blocks--;
	}
}

/* A block of node's stops being live.  A node without an entry never
 * allocated, as far as we saw: the books cannot balance. */
static inline void live_drop(struct hl_agg *a, uint64_t node, uint64_t size)
{
	struct agg_node *n = node_find(a, node);

	if (n)
		live_change(a, n, size, -1);
	else
		a->unbalanced = 1;
}

/* thread_of's lookup when the thread changed. */
static __attribute__((noinline)) struct thread_last *thread_find(struct hl_agg *a, uint64_t tid)
{
	struct thread_last *t;

	HASH_FIND(hh, a->threads, &tid, sizeof(tid), t);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->tid = tid;
		HASH_ADD(hh, a->threads, tid, sizeof(t->tid), t);
		if (!t->hh.tbl) {
			free(t);
			return NULL;
		}
	}
	return a->cur = t;
}

static inline struct thread_last *thread_of(struct hl_agg *a, uint64_t tid)
{
	struct thread_last *t = a->cur;

	return t && t->tid == tid ? t : thread_find(a, tid);
}

/* ---- memory over time ---------------------------------------------------------- */

static void slot_merge(struct hl_timeline_slot *out, const struct hl_timeline_slot *x,
		       const struct hl_timeline_slot *y)
{
	struct hl_timeline_slot m = *x;

	if (y->has_live) {
		if (!m.has_live || y->max_live > m.max_live)
			m.max_live = y->max_live;
		m.last_live = y->last_live;
		m.has_live = 1;
	}
	if (y->has_rss) {
		if (!m.has_rss || y->max_rss_kib > m.max_rss_kib)
			m.max_rss_kib = y->max_rss_kib;
		m.has_rss = 1;
	}
	*out = m;
}

static struct hl_timeline_slot *timeline_at(struct hl_timeline *tl, uint64_t ms)
{
	while (ms / tl->slot_ms >= HL_TIMELINE_SLOTS) {
		for (unsigned i = 0; i < HL_TIMELINE_SLOTS / 2; i++)
			slot_merge(&tl->slot[i], &tl->slot[2 * i], &tl->slot[2 * i + 1]);
		memset(&tl->slot[HL_TIMELINE_SLOTS / 2], 0,
		       HL_TIMELINE_SLOTS / 2 * sizeof(tl->slot[0]));
		tl->slot_ms *= 2;
	}
	if (ms > tl->end_ms)
		tl->end_ms = ms;
	return &tl->slot[ms / tl->slot_ms];
}

static inline void timeline_live(struct hl_agg *a, uint64_t ms, uint64_t live)
{
	struct hl_timeline_slot *s = a->tl_slot;

	if (!s || ms != a->tl_slot_ms) {
		s = a->tl_slot = timeline_at(&a->tl, ms);
		a->tl_slot_ms = ms;
	}

	if (!s->has_live || live > s->max_live)
		s->max_live = live;
	s->last_live = live;
	s->has_live = 1;
}

/* ---- hooks ----------------------------------------------------------------- */

unsigned hl_hist_bucket_of(uint64_t size)
{
	return size ? 64 - __builtin_clzll(size) : 0;
}

void hl_hist_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
	if (b == 0) {
		*lo = *hi = 0;
		return;
	}
	*lo = 1ull << (b - 1);
	*hi = b == 64 ? UINT64_MAX : (1ull << b) - 1;
}

static inline int add_event(struct hl_agg *a, const struct hl_event *ev)
{
	struct agg_node *n;
	struct hl_node_stats *s;
	struct thread_last *t;

	if (ev->kind == HL_EV_REPLACED) {
		/* The old block is gone; the ALLOC that follows does the rest. */
		live_drop(a, ev->alloc_node, ev->size);
		return 0;
	}
	n = node_of(a, ev->node);
	t = thread_of(a, ev->thread);
	if (!n || !t)
		goto nomem;
	s = &n->st;
	switch (ev->kind) {
	case HL_EV_ALLOC:
		live_change(a, n, ev->size, 1);
		s->allocs++;
		s->alloc_bytes += ev->size;
		a->hist[hl_hist_bucket_of(ev->size)].calls++;
		a->hist[hl_hist_bucket_of(ev->size)].bytes += ev->size;
		t->valid = 1;
		t->ptr = ev->ptr;
		t->node = ev->node;
		break;
	case HL_EV_FREE:
		s->frees++;
		if (ev->known) {
			struct agg_node *an = node_find(a, ev->alloc_node);

			s->free_bytes += ev->size;
			if (an)
				live_change(a, an, ev->size, -1);
			else
				a->unbalanced = 1;
			if (t->valid && t->ptr == ev->ptr && t->node == ev->alloc_node) {
				if (!an) { /* cannot be: t->node allocated */
					if (!(an = node_of(a, ev->alloc_node)))
						goto nomem;
					s = &node_find(a, ev->node)->st; /* may have moved */
				}
				an->st.temps++;
				an->st.temp_bytes += ev->size;
				a->temps++;
				a->temp_bytes += ev->size;
			}
		}
		t->valid = 0;
		break;
	case HL_EV_REALLOC_UNDO:
		/* The realloc's free did not happen after all. */
		if (s->frees)
			s->frees--;
		if (ev->known && s->free_bytes >= ev->size)
			s->free_bytes -= ev->size;
		if (ev->known) {
			struct agg_node *an = node_find(a, ev->alloc_node);
			if (an)
				live_change(a, an, ev->size, 1);
			else
				a->unbalanced = 1;
		}
		t->valid = 0;
		break;
	case HL_EV_REPLACED:
		break; /* handled above */
	}
	if (ev->live_bytes > s->max_live)
		s->max_live = ev->live_bytes;
	if (ev->live_bytes > a->peak_live) {
		a->peak_live = ev->live_bytes;
		a->peak_index = a->nevents;
		a->peak_ms = ev->time_ms;
		a->epoch++; /* every node's live values are now the peak's */
	}
	a->nevents++;
	timeline_live(a, ev->time_ms, ev->live_bytes);
	return 0;
nomem:
	return -ENOMEM; /* stops the replay */
}

static int on_events(void *ctx, const struct hl_replay *r, const struct hl_event *ev, size_t n)
{
	struct hl_agg *a = ctx;

	for (size_t i = 0; i < n; i++) {
		int ret = add_event(a, &ev[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int on_tick(void *ctx, const struct hl_replay *r, uint64_t ms, uint64_t rss_kib,
		   uint64_t live_bytes)
{
	struct hl_agg *a = ctx;
	struct hl_timeline_slot *s;

	timeline_live(a, ms, live_bytes);
	s = a->tl_slot; /* ms's */
	if (!s->has_rss || rss_kib > s->max_rss_kib)
		s->max_rss_kib = rss_kib;
	s->has_rss = 1;
	return 0;
}

int hl_agg_attach(struct hl_agg *a, struct hl_replay *r)
{
	const struct hl_replay_hooks h = {.ctx = a, .tick = on_tick, .events = on_events};

	return hl_replay_add_hooks(r, &h);
}

/* ---- after the replay ---------------------------------------------------------- */

static int add_leak(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct hl_agg *a = ctx;
	struct hl_node_stats *s = stats_of(a, node);

	if (!s)
		return -ENOMEM;
	s->leaked_bytes += size;
	s->leaked_blocks++;
	a->end_blocks++;
	return 0;
}

int hl_agg_finish(struct hl_agg *a, const struct hl_replay *r)
{
	a->end_blocks = 0;
	int ret = hl_replay_foreach_live_unordered(r, add_leak, a);
	/* Every block the replay made live or dropped went through an event
	 * (the count of what is left agrees), so the epochs saw the peak. */
	a->snapshot_ok = !ret && !a->unbalanced && a->end_blocks == a->live_blocks;
	return ret;
}

/* The peak's blocks per node from the first pass's epochs. */
static void peak_from_epochs(struct hl_agg *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct agg_node *n = &a->nodes[i];
		int kept = n->snap_epoch == a->epoch;

		n->st.peak_bytes += kept ? n->snap_bytes : n->live_bytes;
		n->st.peak_blocks += kept ? n->snap_blocks : n->live_blocks;
	}
}

struct peak_pass {
	struct hl_agg *a;
	uint64_t index;
	int done, mismatch;
};

static int add_peak(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct hl_node_stats *s = stats_of(ctx, node);

	if (!s)
		return -ENOMEM;
	s->peak_bytes += size;
	s->peak_blocks++;
	return 0;
}

#define PEAK_STOP 1 /* positive: the replay stops, hl_replay_run returns it */

static int peak_event(void *ctx, const struct hl_replay *r, const struct hl_event *ev)
{
	struct peak_pass *p = ctx;

	if (ev->kind == HL_EV_REPLACED) /* pass 1 did not count these */
		return 0;
	if (p->index++ != p->a->peak_index)
		return 0;
	/* The same trace replays the same way; anything else is a bug. */
	if (ev->live_bytes != p->a->peak_live) {
		p->mismatch = 1;
		return PEAK_STOP;
	}
	int ret = hl_replay_foreach_live_unordered(r, add_peak, p->a);
	if (ret)
		return ret;
	p->done = 1;
	return PEAK_STOP;
}

int hl_agg_peak_pass(struct hl_agg *a, struct hl_trace *t, const struct hl_replay_hooks *extra,
		     char *err, size_t errlen)
{
	struct peak_pass p = {.a = a};
	const struct hl_replay_hooks h = {.ctx = &p, .event = peak_event};
	struct hl_replay *r;
	int ret;

	if (a->have_peak || a->peak_live == 0) {
		a->have_peak = 1; /* nothing was ever live: all zeros */
		return 0;
	}
	if (a->snapshot_ok) { /* no second pass needed */
		peak_from_epochs(a);
		a->have_peak = 1;
		return 0;
	}
	r = hl_replay_new();
	if (r)
		hl_replay_unordered(r);
	if (!r || hl_replay_add_hooks(r, &h) || (extra && hl_replay_add_hooks(r, extra))) {
		hl_replay_free(r);
		snprintf(err, errlen, "%s: out of memory", hl_trace_path(t));
		return -1;
	}
	ret = hl_replay_run(r, t, err, errlen);
	hl_replay_free(r);
	if (ret == -1)
		return -1;
	if (ret == PEAK_STOP && p.done) {
		a->have_peak = 1;
		return 0;
	}
	if (ret < 0)
		snprintf(err, errlen, "%s: peak snapshot: %s", hl_trace_path(t), strerror(-ret));
	else
		snprintf(err, errlen, "%s: peak snapshot: the second pass over the trace %s",
			 hl_trace_path(t),
			 p.mismatch ? "disagrees with the first" : "ended before the peak");
	return -1;
}

int hl_agg_has_peak(const struct hl_agg *a)
{
	return a->have_peak;
}

/* ---- results ----------------------------------------------------------------- */

size_t hl_agg_count(const struct hl_agg *a)
{
	return a->n;
}

uint64_t hl_agg_node_id(const struct hl_agg *a, size_t i)
{
	return a->node_ids[i];
}

const struct hl_node_stats *hl_agg_stats(const struct hl_agg *a, size_t i)
{
	return &a->nodes[i].st;
}

const struct hl_node_stats *hl_agg_node(const struct hl_agg *a, uint64_t node)
{
	if (node >= a->slot_cap || !a->slot_of[node])
		return NULL;
	return &a->nodes[a->slot_of[node] - 1].st;
}

uint64_t hl_agg_temporaries(const struct hl_agg *a, uint64_t *bytes)
{
	if (bytes)
		*bytes = a->temp_bytes;
	return a->temps;
}

const struct hl_hist_bucket *hl_agg_histogram(const struct hl_agg *a)
{
	return a->hist;
}

const struct hl_timeline *hl_agg_timeline(const struct hl_agg *a)
{
	return &a->tl;
}

uint64_t hl_agg_peak(const struct hl_agg *a, uint64_t *time_ms)
{
	if (time_ms)
		*time_ms = a->peak_ms;
	return a->peak_live;
}
