/* hl_live.c — the live-block set of leak-scan mode (HEAPLINE_LEAK_SCAN=1):
 * pointer -> requested size for every block allocated and not
 * yet released, updated by the writer thread for each ALLOC, FREE and
 * REALLOC_FAIL event in trace order, so that at the LEAK_SCAN event it is
 * exactly the set the trace's replay has at that record.  Also remembers the
 * 64 MiB windows that ever held a block (hl_leakscan.c finds glibc's thread
 * arenas with them).  Exports hl_live_* (hl_leak.h).
 *
 * Writer thread only (and the fork child's atfork handler, before a writer
 * exists).  Never calls malloc: the table comes from hl_arena.  Idle unless
 * hl_opt.leak_scan: the writer calls nothing here then. */
#include <string.h>

#include "hl_arena.h"
#include "hl_leak.h"

#define uthash_malloc(sz)    hl_arena_alloc(sz)
#define uthash_free(ptr, sz) hl_arena_free(ptr, sz)
#define HASH_NONFATAL_OOM    1
#include <uthash.h>

/* The live set is an open-addressing table of 16-byte slots (linear
 * probing at most half full, deletion by backward shift, so no tombstones
 * under malloc/free churn), not uthash: it is touched for every event on the
 * writer's path, and measured under `perf` uthash's chained entries cost
 * ~11% of a malloc-heavy program's CPU (a cache miss for the bucket, another
 * for the entry, an arena allocation per block, 128 bytes a block), this
 * table ~3% (one miss, prefetched: see "the pipeline"; no allocation; at
 * most 32 bytes a block).  The stack node is not kept: the trace's replay
 * knows it. */
struct slot {
	uint64_t ptr;  /* 0 = empty (malloc never returns NULL as a block) */
	uint64_t size; /* the scan needs no stack: the trace's replay has it */
};

struct table {
	struct slot *s;
	uint64_t mask; /* capacity - 1; capacity a power of two */
	uint64_t count;
	unsigned bits; /* log2(capacity) */
};

/* A thread's latest realloc-free: the block leaves the live set, but comes
 * back if the realloc fails (REALLOC_FAIL).  One per thread is enough: a
 * thread is inside one realloc at a time.  Rare: uthash. */
struct pending {
	uint32_t tid; /* the key */
	int valid;
	struct slot blk;
	UT_hash_handle hh;
};

#define WINDOW_SLOTS 1024 /* 64 GiB of address space in arenas: plenty */
#define MIN_CAP	     (1u << 16)

static struct table live;
static struct pending *pending;
static uint64_t windows[WINDOW_SLOTS]; /* window number + 1; 0 = empty slot */
static uint64_t last_window;
static int writer_noted; /* this process's writer told hl_threads its stack */

static void note_window(uint64_t ptr)
{
	uint64_t w = (ptr >> HL_LIVE_WINDOW_SHIFT) + 1;
	if (w == last_window)
		return;
	last_window = w;
	/* Open addressing; a full table just stops learning windows. */
	for (unsigned i = 0, h = (unsigned)(w * 0x9e3779b97f4a7c15ull >> 54); i < WINDOW_SLOTS;
	     i++, h = (h + 1) % WINDOW_SLOTS) {
		if (windows[h] == w)
			return;
		if (windows[h] == 0) {
			windows[h] = w;
			return;
		}
	}
}

static inline uint64_t home(const struct table *t, uint64_t ptr)
{
	/* heap pointers are 16-byte aligned and clustered: Fibonacci hashing */
	return (ptr >> 4) * 0x9e3779b97f4a7c15ull >> (64 - t->bits);
}

/* The slot holding ptr, or the empty slot where it would go. */
static inline struct slot *probe(const struct table *t, uint64_t ptr)
{
	uint64_t i = home(t, ptr);
	while (t->s[i].ptr && t->s[i].ptr != ptr)
		i = (i + 1) & t->mask;
	return &t->s[i];
}

static int grow(struct table *t)
{
	uint64_t cap = t->s ? (t->mask + 1) * 2 : MIN_CAP;
	struct table n = {hl_arena_alloc(cap * sizeof(struct slot)), cap - 1, t->count,
			  (unsigned)__builtin_ctzll(cap)};
	if (!n.s)
		return -1;
	/* Fault the fresh mapping in by writing: probing would first map the
	 * shared zero page for reading, and every first write after it costs a
	 * copy-on-write fault and a TLB shootdown across the program's threads
	 * (measured: a fifth of the writer's time on a perl run). */
	memset(n.s, 0, cap * sizeof(struct slot));
	if (t->s) {
		for (uint64_t i = 0; i <= t->mask; i++)
			if (t->s[i].ptr)
				*probe(&n, t->s[i].ptr) = t->s[i];
		hl_arena_free(t->s, (t->mask + 1) * sizeof(struct slot));
	}
	*t = n;
	return 0;
}

static void insert(uint64_t ptr, uint64_t size)
{
	/* at most half full, so probe runs stay short */
	if ((live.count + 1) * 2 > (live.s ? live.mask + 1 : 0) && grow(&live))
		return; /* out of memory: the block goes unclassified */
	struct slot *s = probe(&live, ptr);
	if (!s->ptr) /* else a release we never saw: the replay drops the old
			block too */
		live.count++;
	s->ptr = ptr;
	s->size = size;
}

/* Removes ptr; copies its slot to *out if given.  0, or -1 if not live. */
static int erase(uint64_t ptr, struct slot *out)
{
	if (!live.s)
		return -1;
	struct slot *s = probe(&live, ptr);
	if (!s->ptr)
		return -1;
	if (out)
		*out = *s;
	/* Backward shift: pull later entries of the run into the hole when
	 * their home is not between the hole and them. */
	uint64_t hole = (uint64_t)(s - live.s), j = hole;
	for (;;) {
		j = (j + 1) & live.mask;
		if (!live.s[j].ptr)
			break;
		uint64_t h = home(&live, live.s[j].ptr);
		if (((j - h) & live.mask) >= ((j - hole) & live.mask)) {
			live.s[hole] = live.s[j];
			hole = j;
		}
	}
	live.s[hole].ptr = 0;
	live.count--;
	return 0;
}

static void do_alloc(uint64_t ptr, uint64_t size)
{
	note_window(ptr);
	insert(ptr, size);
}

static void do_free(uint32_t tid, uint64_t ptr, int is_realloc)
{
	struct slot old;
	if (erase(ptr, &old) || !is_realloc)
		return;
	struct pending *p;
	HASH_FIND(hh, pending, &tid, sizeof(tid), p);
	if (!p) {
		p = hl_arena_alloc(sizeof(*p));
		if (!p)
			return;
		p->tid = tid;
		HASH_ADD(hh, pending, tid, sizeof(p->tid), p);
		if (!p->hh.tbl) {
			hl_arena_free(p, sizeof(*p));
			return;
		}
	}
	p->blk = old; /* an older one's realloc succeeded long ago */
	p->valid = 1;
}

static void do_realloc_fail(uint32_t tid, uint64_t ptr)
{
	struct pending *p;
	HASH_FIND(hh, pending, &tid, sizeof(tid), p);
	if (!p || !p->valid || p->blk.ptr != ptr)
		return;
	p->valid = 0;
	if (live.s && probe(&live, ptr)->ptr)
		return; /* reallocated meanwhile: only a broken event order does this */
	insert(ptr, p->blk.size);
}

/* ---- the pipeline -----------------------------------------------------------
 *
 * Each event touches one random slot of a table far larger than the cache,
 * so the writer would stall ~100 ns per event on that miss.  Events are
 * applied QDEPTH events late instead, in order, with their slot prefetched
 * when they arrive: by the time one is applied its line is in the cache.
 * Everything that reads the table drains the queue first. */
#define QDEPTH 16

enum { OP_ALLOC, OP_FREE, OP_REALLOC_FREE, OP_REALLOC_FAIL };

static struct {
	uint8_t op;
	uint32_t tid;
	uint64_t ptr, size;
} queue[QDEPTH];
static unsigned qhead, qlen;

static void apply(unsigned i)
{
	switch (queue[i].op) {
	case OP_ALLOC:
		do_alloc(queue[i].ptr, queue[i].size);
		break;
	case OP_FREE:
	case OP_REALLOC_FREE:
		do_free(queue[i].tid, queue[i].ptr, queue[i].op == OP_REALLOC_FREE);
		break;
	default:
		do_realloc_fail(queue[i].tid, queue[i].ptr);
		break;
	}
}

static void drain_queue(void)
{
	while (qlen) {
		apply(qhead);
		qhead = (qhead + 1) % QDEPTH;
		qlen--;
	}
}

static void enqueue(uint8_t op, uint32_t tid, uint64_t ptr, uint64_t size)
{
	if (qlen == QDEPTH) {
		apply(qhead);
		qhead = (qhead + 1) % QDEPTH;
		qlen--;
	}
	unsigned i = (qhead + qlen++) % QDEPTH;
	queue[i].op = op;
	queue[i].tid = tid;
	queue[i].ptr = ptr;
	queue[i].size = size;
	if (live.s)
		__builtin_prefetch(&live.s[home(&live, ptr)], 1);
}

void hl_live_alloc(uint64_t ptr, uint64_t size, uint32_t node)
{
	(void)node;
	if (!writer_noted) {
		writer_noted = 1;
		hl_threads_note_writer();
	}
	enqueue(OP_ALLOC, 0, ptr, size);
}

void hl_live_free(uint32_t tid, uint64_t ptr, int is_realloc)
{
	enqueue(is_realloc ? OP_REALLOC_FREE : OP_FREE, tid, ptr, 0);
}

void hl_live_realloc_fail(uint32_t tid, uint64_t ptr)
{
	enqueue(OP_REALLOC_FAIL, tid, ptr, 0);
}

void hl_live_forget(void)
{
	/* The arena forgot its memory too (hl_arena_forget): just let go.
	 * Blocks inherited from the parent are not this trace's. */
	memset(&live, 0, sizeof(live));
	qhead = qlen = 0;
	pending = NULL;
	last_window = 0;
	writer_noted = 0; /* the child gets a writer of its own */
			  /* windows stay: the parent's arenas are still mapped here */
}

uint64_t hl_live_count(void)
{
	drain_queue();
	return live.count;
}

uint64_t hl_live_collect(struct hl_live_block *out, uint64_t cap)
{
	uint64_t n = 0;
	drain_queue();
	for (uint64_t i = 0; live.s && i <= live.mask; i++) {
		if (!live.s[i].ptr)
			continue;
		if (n < cap) {
			out[n].ptr = live.s[i].ptr;
			out[n].size = live.s[i].size;
		}
		n++;
	}
	return n;
}

void hl_live_foreach_window(void (*fn)(void *ctx, uint64_t base), void *ctx)
{
	drain_queue();
	for (unsigned i = 0; i < WINDOW_SLOTS; i++)
		if (windows[i])
			fn(ctx, (windows[i] - 1) << HL_LIVE_WINDOW_SHIFT);
}
